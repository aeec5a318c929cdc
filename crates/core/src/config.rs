//! Strict TOML configuration files: an unknown key or a bad value is an error naming the file,
//! the line and the key.

use serde::de::DeserializeOwned;

/// A configuration file's error, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigFileError {
    /// The file.
    pub file: String,
    /// The line, 1-based.
    pub line: usize,
    /// The column, 1-based.
    pub column: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

/// Parses `text` (the contents of `origin`) as `T`. Unknown keys are errors when `T` denies
/// them (`#[serde(deny_unknown_fields)]`); every error says where, and which key.
pub fn parse_toml<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigFileError> {
    toml::from_str(text).map_err(|e| {
        let (mut line, mut column) = e
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        let message = e.message().trim();
        // Some errors (in tagged tables) point at the table; find the unknown key's own line.
        if let Some(key) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(key, _)| key)
            && let Some(found) = text.lines().enumerate().skip(line - 1).find_map(|(n, l)| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
                    .then_some(n + 1)
            })
        {
            (line, column) = (found, 1);
        }
        let message = match key_at(text, line) {
            Some(key)
                if !message.contains(&format!("`{}`", key.rsplit('.').next().unwrap_or(&key))) =>
            {
                format!("`{key}`: {message}")
            }
            _ => message.to_owned(),
        };
        ConfigFileError {
            file: origin.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// The line (1-based) of the `index`-th `[[table]]` header, for errors found after parsing.
pub fn table_line(text: &str, table: &str, index: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&format!("[[{table}]]")))
        .nth(index)
        .map_or(1, |(n, _)| n + 1)
}

/// The key assigned on `line` (1-based), qualified by the table it is in: `waiver.expires`.
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?;
    let (key, _) = here.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = lines[..line - 1].iter().rev().find_map(|l| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
    });
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_owned(),
    })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
