//! Text shown to people. Names from the file system may hold control characters (a
//! newline, a terminal escape sequence) that would forge a log line, split a table
//! cell or repaint a terminal; they are shown escaped instead.

use std::borrow::Cow;
use std::path::Path;

/// `text` with every control character escaped as Rust writes it (`\n`, `\u{1b}`).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// A path for a message: lossy UTF-8, control characters escaped.
pub fn printable_path(path: &Path) -> String {
    printable(&path.to_string_lossy()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("plain näme.parquet"), "plain näme.parquet");
        assert_eq!(
            printable("a\nERROR forged\r\t\u{1b}[31m\u{7f}\u{9b}.csv"),
            "a\\nERROR forged\\r\\t\\u{1b}[31m\\u{7f}\\u{9b}.csv"
        );
        assert!(matches!(printable("x"), Cow::Borrowed(_)));
    }
}
