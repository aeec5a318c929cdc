//! A minimal, valid PDF 1.4 document: one page of Helvetica text per report.

use std::fmt::Write as _;

/// Renders `lines` on one A4 page; `title` goes into the document information dictionary.
///
/// Characters outside printable ASCII cannot be shown with the standard Helvetica font and are
/// replaced by `?` on the page; the title keeps them (it is written as UTF-16BE).
pub(crate) fn render(title: &str, lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT\n/F1 11 Tf\n14 TL\n56 780 Td\n");
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            content.push_str("/F1 16 Tf\n");
        } else if i == 1 {
            content.push_str("/F1 11 Tf\n");
        }
        let _ = writeln!(content, "({}) Tj T*", escape_text(line));
    }
    content.push_str("ET\n");

    let mut title_hex = String::from("FEFF");
    for unit in title.encode_utf16() {
        let _ = write!(title_hex, "{unit:04X}");
    }

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        format!("<< /Title <{title_hex}> /Producer (procurize-sim) >>"),
    ];

    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

fn escape_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the cross-reference table the way a reader does: every offset points at its object.
    #[test]
    fn xref_offsets_point_at_their_objects() {
        let pdf = render("会計ポータル", &["Title (1)".into(), "back\\slash".into()]);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-1.4\n"));
        assert!(text.ends_with("%%EOF\n"));
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .expect("startxref");
        assert!(pdf[start..].starts_with(b"xref\n0 7\n"));
        let table = std::str::from_utf8(&pdf[start..]).expect("the table is ASCII");
        let entries: Vec<&str> = table.lines().skip(3).take(6).collect();
        for (i, entry) in entries.iter().enumerate() {
            let offset: usize = entry[..10].parse().expect("offset");
            let expected = format!("{} 0 obj", i + 1);
            assert!(
                pdf[offset..].starts_with(expected.as_bytes()),
                "object {}",
                i + 1
            );
        }
        assert!(text.contains("(Title \\(1\\)) Tj"));
        assert!(text.contains("(back\\\\slash) Tj"));
        assert!(text.contains("/Title <FEFF4F1A8A08...".replace("...", "").as_str()));
    }

    #[test]
    fn stream_length_is_exact() {
        let pdf = render("t", &["a".into()]);
        let text = String::from_utf8_lossy(&pdf);
        let length: usize = text
            .split("/Length ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("length");
        let stream_start = text.find("stream\n").expect("stream") + "stream\n".len();
        let stream_end = text.find("endstream").expect("endstream");
        assert_eq!(stream_end - stream_start, length);
    }
}
