//! Text from untrusted places (the store, the log, a share) on its way to a terminal or
//! a report: escaped, so a value cannot move the cursor, clear the screen, retitle the
//! window or smuggle Markdown into a transcript an auditor files.

use std::borrow::Cow;

/// Returns `s` with every control character (C0, DEL, C1 — ESC among them) written as
/// a visible `\u{…}` escape, so it prints on one line and cannot drive a terminal.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Returns `s` cleaned ([`clean`]) and made literal in Markdown: the characters
/// Markdown and HTML give a meaning to are escaped, so a value shows as written and
/// cannot add a link, an image, a table cell or markup.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '!' | '|'
            | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` in a Markdown code span: cleaned, and without backticks (which would end it).
pub fn code(s: &str) -> String {
    format!("`{}`", clean(s).replace('`', "'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_cannot_reach_a_terminal() {
        assert_eq!(clean("alice"), "alice");
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(clean("x\ny\r\u{9b}"), "x\\u{a}y\\u{d}\\u{9b}");
    }

    #[test]
    fn markdown_is_literal() {
        assert_eq!(
            md("[x](http://e) | *b*"),
            "\\[x\\]\\(http://e\\) \\| \\*b\\*"
        );
        assert_eq!(md("<img src=x>"), "&lt;img src=x&gt;");
        assert_eq!(code("a`b"), "`a'b`");
    }
}
