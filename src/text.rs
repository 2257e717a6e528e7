//! Untrusted text on its way to a reader: what one line of a manifest may
//! hold, and how anything else is made harmless before it is printed.
//!
//! A manifest string with a newline could print a line of its own ("policy:
//! satisfied") above the real verdict, and a terminal escape or a Unicode
//! bidirectional override could rewrite what the operator sees (issue 11).
//! So every manifest string is held to [`check_line`] in validation, even
//! when signed, and every report escapes with [`escape`] or the output
//! filter in the CLI, whatever the source of the text.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must never be shown raw: C0 and C1 controls (newlines and
/// tabs included), DEL, and the invisible characters that reorder or hide
/// text (bidirectional embeddings, overrides and isolates, the Arabic
/// letter mark, zero-width characters, the word joiner and invisible
/// operators, line and paragraph separators, the byte-order mark).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Why a string is not one plain line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// Longer than allowed.
    TooLong {
        /// The bound, in bytes.
        max: usize,
    },
    /// Holds a character [`is_unsafe`] refuses.
    Unsafe(char),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong { max } => write!(f, "longer than {max} bytes"),
            LineError::Unsafe(c) => write!(
                f,
                "holds {} (one line of visible text is allowed)",
                c.escape_unicode()
            ),
        }
    }
}

/// Checks that `s` is one line of at most `max` bytes without a character
/// [`is_unsafe`] refuses.
pub fn check_line(s: &str, max: usize) -> Result<(), LineError> {
    if s.len() > max {
        return Err(LineError::TooLong { max });
    }
    match s.chars().find(|&c| is_unsafe(c)) {
        Some(c) => Err(LineError::Unsafe(c)),
        None => Ok(()),
    }
}

/// `s` with every character [`is_unsafe`] refuses written as `\u{..}`
/// (and `\` itself doubled when anything was escaped, so the escaped form
/// cannot be forged), ready to print on one line.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        check_line("airlock 0.1.0 é ü 漢字", 64).unwrap();
        assert_eq!(check_line("a\nb", 64), Err(LineError::Unsafe('\n')));
        for bad in [
            "\r",
            "\t",
            "\u{1b}[2J",
            "\u{85}",
            "\u{202e}",
            "\u{2066}",
            "\u{200b}",
            "\u{2028}",
            "\u{feff}",
        ] {
            assert!(check_line(bad, 64).is_err(), "{bad:?}");
        }
        assert_eq!(check_line("abc", 2), Err(LineError::TooLong { max: 2 }));
    }

    #[test]
    fn escapes() {
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
        assert_eq!(
            escape("x\npolicy:   satisfied\u{202e}\\"),
            "x\\u{a}policy:   satisfied\\u{202e}\\\\"
        );
    }
}
