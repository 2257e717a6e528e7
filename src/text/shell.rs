//! Words of the shell commands airlock prints as advice (`mkdir -p DIR`,
//! `trivy rootfs --cache-dir DIR ...`, `chmod 600 KEY`): each is quoted so
//! that pasting the line into a POSIX shell (dash, bash, zsh, ksh) gives the
//! command exactly these bytes back, on one line, with nothing expanded.
//!
//! - A word of only `A-Z a-z 0-9 _ - . / = : , + @ %` (not starting with `=`,
//!   which zsh expands) is printed as it is.
//! - Any other word of visible text goes in single quotes (`'` as `'\''`).
//! - A word holding a control character, an invisible one ([`super::is_unsafe`])
//!   or bytes that are not UTF-8 is printed as `"$(printf '...')"` with those
//!   bytes as octal escapes (`\012`): one line of plain ASCII that every
//!   POSIX shell turns back into the bytes. `$'...'` would be shorter, but
//!   dash (Debian's `sh`) before 0.5.13 leaves it as it is.
//! - A word ending in a line break cannot be printed so (a command
//!   substitution drops trailing line breaks): [`shell_word`] gives `None`
//!   and the caller prints no command.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

/// `word` as one shell word that gives its bytes back, or `None` when no
/// one-line form does (it ends with a line break).
pub fn shell_word(word: &OsStr) -> Option<String> {
    let b = word.as_bytes();
    let plain = |c: u8| c.is_ascii_alphanumeric() || b"_-./=:,+@%".contains(&c);
    if !b.is_empty() && b[0] != b'=' && b.iter().all(|&c| plain(c)) {
        return word.to_str().map(str::to_string);
    }
    if let Some(s) = word.to_str() {
        if !s.chars().any(super::is_unsafe) {
            return Some(format!("'{}'", s.replace('\'', r"'\''")));
        }
    }
    if b.last() == Some(&b'\n') {
        return None;
    }
    Some(format!("\"$(printf '{}')\"", printf_format(b)))
}

/// [`shell_word`] of a `&str`.
pub fn shell_str(word: &str) -> Option<String> {
    shell_word(OsStr::new(word))
}

/// [`shell_word`] of a path given as an operand: one starting with `-`
/// gets `./` in front, so no command takes it for an option.
pub fn shell_path(path: &Path) -> Option<String> {
    if path.as_os_str().as_bytes().first() == Some(&b'-') {
        return shell_word(PathBuf::from(".").join(path).as_os_str());
    }
    shell_word(path.as_os_str())
}

/// `b` as a `printf` format inside single quotes: printable ASCII and
/// visible UTF-8 as they are (`%` as `%%`, `\` as `\\`, `'` as `'\''`),
/// every other byte as a three-digit octal escape.
fn printf_format(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '%' => out.push_str("%%"),
                '\\' => out.push_str(r"\\"),
                '\'' => out.push_str(r"'\''"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                c if !c.is_ascii() && !super::is_unsafe(c) => out.push(c),
                c => {
                    let mut buf = [0; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\{byte:03o}");
                    }
                }
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\{byte:03o}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of `word`: its bytes.
    fn sh(word: &str) -> Vec<u8> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {word}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{word}");
        out.stdout
    }

    #[test]
    fn plain_words_stay_and_others_are_quoted() {
        assert_eq!(shell_str("/var/cache/trivy").unwrap(), "/var/cache/trivy");
        assert_eq!(shell_str("a=b").unwrap(), "a=b");
        assert_eq!(shell_str("=ls").unwrap(), "'=ls'");
        assert_eq!(shell_str("").unwrap(), "''");
        assert_eq!(shell_str("it's $HOME").unwrap(), r"'it'\''s $HOME'");
        assert_eq!(shell_str("/a\tb").unwrap(), r#""$(printf '/a\011b')""#);
        assert_eq!(shell_str("/a\n"), None);
        assert_eq!(
            shell_path(Path::new("-rf x")).unwrap(),
            "'./-rf x'",
            "a leading - is no option"
        );
    }

    #[test]
    fn every_word_gives_its_bytes_back_on_one_line() {
        let words: [&[u8]; 9] = [
            b"/tmp/usb stick/$(touch PWNED)",
            b"/tmp/a\nhint: run rm -rf ~",
            b"/tmp/a\x1b[2Jb",
            b"/tmp/caf\xe9/x",
            b"50% \\n 'q' \"d\" `b` \xe2\x80\xae \xc3\xa9",
            b"~user",
            b"*?[a]",
            b"\x7f\x01",
            b"=cmd",
        ];
        for w in words {
            let q = shell_word(OsStr::from_bytes(w)).unwrap();
            assert!(
                !q.chars().any(crate::text::is_unsafe),
                "{q:?} is not one visible line"
            );
            assert_eq!(sh(&q), w, "{q}");
        }
    }
}
