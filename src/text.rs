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

mod shell;
pub use shell::{shell_str, shell_word, shell_word_posix};

/// Whether `c` must never be shown raw: every character of the Unicode
/// general categories Cc (controls: newlines, tabs, escapes, C1), Cf
/// (format: bidirectional overrides and isolates, zero-width characters,
/// the soft hyphen, tag characters), Zl and Zp (line and paragraph
/// separators), Co (private use), Cs (surrogates) and Cn (unassigned, whose
/// rendering nobody can predict), and the Hangul fillers, letters that
/// render as nothing.
pub fn is_unsafe(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory as _};
    matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::PrivateUse
            | G::Surrogate
            | G::Unassigned
    ) || matches!(c, '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}')
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

impl crate::error::Classify for LineError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // A string checked before use; callers that know its origin
            // wrap it in their own error.
            LineError::TooLong { .. } | LineError::Unsafe(_) => BadInput,
        }
    }
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

/// A path on one line: escaped as [`escape`] does, and a byte that is not
/// UTF-8 shown as `\x..` (not as U+FFFD, which would hide which path it
/// was). Every path airlock prints or puts in an error goes through here.
pub fn path(p: impl AsRef<std::path::Path>) -> String {
    let p = p.as_ref();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = p.as_os_str().as_bytes();
        if std::str::from_utf8(bytes).is_err() {
            return bytes_line(bytes);
        }
    }
    escape(&p.to_string_lossy()).into_owned()
}

/// `bytes` that are not all UTF-8 on one line: the UTF-8 parts as
/// [`escape`] writes them (`\` doubled, as something is escaped), each
/// other byte as `\x..`.
#[cfg(unix)]
fn bytes_line(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if is_unsafe(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_path_is_one_line_with_bytes_that_are_not_utf8_as_hex() {
        use std::os::unix::ffi::OsStrExt;
        let p = |b: &[u8]| path(std::path::Path::new(std::ffi::OsStr::from_bytes(b)));
        assert_eq!(p(b"/tmp/a b"), "/tmp/a b");
        assert_eq!(p(b"/tmp/a\nb"), "/tmp/a\\u{a}b");
        assert_eq!(p(b"/tmp/c\xffd"), "/tmp/c\\xffd");
        assert_eq!(p(b"/t\\x\xfe\n\xe2\x80\xa8"), "/t\\\\x\\xfe\\u{a}\\u{2028}");
    }

    #[test]
    fn lines() {
        check_line("airlock 0.1.0 é ü 漢字 — «x» €", 64).unwrap();
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
            "\u{ad}",
            "\u{180e}",
            "\u{e0041}",
            "\u{fff9}",
            "\u{3164}",
            "\u{e000}",
            "\u{10ffff}",
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

/// `n` bytes for a person: `512 B`, `1.5 KiB`, `3.2 MiB`, `4.0 GiB` (powers
/// of 1024, one decimal), so a small size never shows as `0.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    // 1023.95 KiB and up would round to "1024.0 KiB": show the next unit.
    while v >= 1023.95 && u < UNITS.len() - 1 && (u > 0 || v >= 1024.0) {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `n` followed by `one` or, for any other count, `many` (`1 part`,
/// `2 parts`, `0 packages`).
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn sizes_and_counts_read_as_a_person_would_write_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(bytes((1 << 20) - 52), "1023.9 KiB");
        assert_eq!(bytes(u64::MAX), "16777216.0 TiB");
        assert_eq!(count(1u64, "part", "parts"), "1 part");
        assert_eq!(count(0u64, "part", "parts"), "0 parts");
        assert_eq!(count(2u64, "package", "packages"), "2 packages");
    }

    #[test]
    fn shell_words_run_as_printed() {
        use std::path::Path;
        for (path, word) in [
            ("/tmp/k/bob.key", "/tmp/k/bob.key"),
            ("my keys/bob.key", "'my keys/bob.key'"),
            ("it's.key", "'it'\\''s.key'"),
            ("$(rm -rf x);.key", "'$(rm -rf x);.key'"),
            ("=ls", "'=ls'"),
            ("a=b", "a=b"),
            ("-rf", "./-rf"),
            ("", "''"),
        ] {
            assert_eq!(shell_word(Path::new(path)), word, "{path}");
        }
    }
}
