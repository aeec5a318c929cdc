//! Small text helpers several crates share.

/// Escapes text for HTML and XML content and attribute values: `&`, `<`, `>`, `"` and `'`.
/// Control characters that XML 1.0 forbids even when escaped become spaces.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_forbidden_control_characters_are_escaped() {
        assert_eq!(
            escape_markup("<a href=\"x\">&'\u{1}\n"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39; \n"
        );
        assert_eq!(escape_markup("会計ポータル"), "会計ポータル");
    }
}
