//! What people see: tables, colour, progress and sizes.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use procurize_core::{Report, SecurityRating};
use unicode_width::UnicodeWidthStr;

/// The colour of a rating, A green to E red.
fn rating_style(rating: SecurityRating) -> Style {
    let color = match rating {
        SecurityRating::A => AnsiColor::Green,
        SecurityRating::B => AnsiColor::BrightGreen,
        SecurityRating::C => AnsiColor::Yellow,
        SecurityRating::D => AnsiColor::BrightRed,
        SecurityRating::E => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(color.into()));
    if rating >= SecurityRating::D {
        style.bold()
    } else {
        style
    }
}

/// Writes reports as an aligned table. Colour codes are written as-is; the caller's stream
/// strips them when colour is off.
pub(crate) fn report_table(out: &mut dyn Write, reports: &[Report]) -> io::Result<()> {
    if reports.is_empty() {
        return writeln!(out, "No reports match.");
    }
    let header = [
        "PROJECT", "VERSION", "REPORT", "EDITION", "RATING", "VULNS", "UPLOADED", "ID",
    ];
    let rows: Vec<[String; 8]> = reports
        .iter()
        .map(|r| {
            [
                r.project_name.clone(),
                r.project_version.to_string(),
                r.report_type.clone(),
                r.report_version.to_string(),
                r.security_rating.to_string(),
                r.vulnerabilities_count.to_string(),
                r.upload_date.to_string(),
                r.id.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(UnicodeWidthStr::width);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let bold = Style::new().bold();
    let cells: Vec<String> = header
        .iter()
        .zip(widths)
        .map(|(h, w)| pad(h, w, false))
        .collect();
    writeln!(out, "{bold}{}{bold:#}", cells.join("  ").trim_end())?;
    for (row, report) in rows.iter().zip(reports) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let numeric = i == 5;
            let padded = pad(cell, w, numeric);
            if i == 4 {
                let style = rating_style(report.security_rating);
                line.push_str(&format!("{style}{padded}{style:#}"));
            } else {
                line.push_str(&padded);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    let count = reports.len();
    writeln!(out, "{count} report{}", if count == 1 { "" } else { "s" })
}

fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text.width()));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

/// `1.5 KiB`, `12.0 MiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A one-line progress display on standard error, shown only when it is a terminal.
pub(crate) struct ProgressLine {
    enabled: bool,
    started: Instant,
    last_drawn: Option<Instant>,
}

impl ProgressLine {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled: enabled && io::stderr().is_terminal(),
            started: Instant::now(),
            last_drawn: None,
        }
    }

    pub(crate) fn update(&mut self, received: u64, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last_drawn
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last_drawn = Some(now);
        let elapsed = now.duration_since(self.started).as_secs_f64().max(0.001);
        let rate = human_bytes((received as f64 / elapsed) as u64);
        let line = match total {
            Some(total) if total > 0 => format!(
                "{} / {} ({:.0}%)  {rate}/s",
                human_bytes(received),
                human_bytes(total),
                received as f64 * 100.0 / total as f64
            ),
            _ => format!("{}  {rate}/s", human_bytes(received)),
        };
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    pub(crate) fn finish(&mut self) {
        if self.enabled && self.last_drawn.is_some() {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1024 * 1024 * 1024), "1.0 GiB");
    }

    #[test]
    fn wide_characters_are_padded_by_display_width() {
        assert_eq!(pad("会計", 6, false), "会計  ");
        assert_eq!(pad("7", 3, true), "  7");
    }
}
