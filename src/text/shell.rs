//! Words of the shell commands airlock prints as advice (`mkdir -p DIR`,
//! `trivy rootfs --cache-dir DIR ...`, `chmod 600 KEY`, `airlock sign ...`):
//! the one quoting helper, so that pasting the line into a POSIX shell (dash,
//! bash, zsh, ksh) gives the command exactly these bytes back, on one line,
//! with nothing expanded.
//!
//! - A word of only `A-Z a-z 0-9 _ - . / = : , + @ %` (not starting with `=`,
//!   which zsh expands to a command's path) is printed as it is.
//! - Any other word of visible text goes in single quotes (`'` as `'\''`).
//! - A word holding a control character, an invisible one ([`super::is_unsafe`])
//!   or bytes that are not UTF-8 is printed as `"$(printf '...')"` with those
//!   bytes as octal escapes (`\012`): one line of plain ASCII that every
//!   POSIX shell turns back into the bytes. `$'...'` would be shorter, but
//!   dash (Debian's `sh`) before 0.5.13 leaves it as it is.
//! - A word ending in a line break has no such form (a command substitution
//!   drops trailing line breaks): [`shell_word_posix`] gives `None` (the
//!   caller prints no command), [`shell_word`] the `$'...'` form (bash, zsh,
//!   ksh, POSIX.1-2024 shells; not dash 0.5.12).
//! - A path (not a word) that starts with `-` gets `./` in front, so no
//!   command reads it as an option.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

/// `path` as one shell word, for advice that prints a command (see the
/// module's rules); one ending in a line break in `$'...'`, which dash
/// 0.5.12 does not read: where that matters, use [`shell_word_posix`].
pub fn shell_word(path: &Path) -> String {
    let bytes = operand(path);
    quote(&bytes).unwrap_or_else(|| ansi_c(&bytes))
}

/// `path` as one shell word every POSIX shell gives back, or `None` when
/// there is none (the path ends with a line break).
pub fn shell_word_posix(path: &Path) -> Option<String> {
    quote(&operand(path))
}

/// `word` (an argument, not a path: no `./`) as one shell word.
pub fn shell_str(word: &str) -> String {
    quote(word.as_bytes()).unwrap_or_else(|| ansi_c(word.as_bytes()))
}

/// The bytes of `path`, with `./` in front when it starts with `-`.
fn operand(path: &Path) -> Vec<u8> {
    let b = path.as_os_str().as_bytes();
    if b.first() == Some(&b'-') {
        [b"./", b].concat()
    } else {
        b.to_vec()
    }
}

fn quote(b: &[u8]) -> Option<String> {
    let plain = |c: u8| c.is_ascii_alphanumeric() || b"_-./=:,+@%".contains(&c);
    if !b.is_empty() && b[0] != b'=' && b.iter().all(|&c| plain(c)) {
        return std::str::from_utf8(b).ok().map(str::to_string);
    }
    if let Ok(s) = std::str::from_utf8(b) {
        if !s.chars().any(super::is_unsafe) {
            return Some(format!("'{}'", s.replace('\'', r"'\''")));
        }
    }
    if b.last() == Some(&b'\n') {
        return None;
    }
    Some(format!("\"$(printf '{}')\"", printf_format(b)))
}

/// `b` in ANSI-C quotes, every byte but plain ASCII as `\ooo`.
fn ansi_c(b: &[u8]) -> String {
    let mut out = String::from("$'");
    for &c in b {
        if c.is_ascii_graphic() && c != b'\'' && c != b'\\' || c == b' ' {
            out.push(char::from(c));
        } else {
            let _ = write!(out, "\\{c:03o}");
        }
    }
    out.push('\'');
    out
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

    /// What `shell` makes of `word`: its bytes.
    fn sh(shell: &str, word: &str) -> Vec<u8> {
        let out = Command::new(shell)
            .arg("-c")
            .arg(format!("printf %s {word}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{word}");
        out.stdout
    }

    #[test]
    fn plain_words_stay_and_others_are_quoted() {
        assert_eq!(shell_str("/var/cache/trivy"), "/var/cache/trivy");
        assert_eq!(shell_str("a=b"), "a=b");
        assert_eq!(shell_str("=ls"), "'=ls'");
        assert_eq!(shell_str("--skip-db-update"), "--skip-db-update");
        assert_eq!(shell_str(""), "''");
        assert_eq!(shell_str("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(shell_str("/a\tb"), r#""$(printf '/a\011b')""#);
        assert_eq!(shell_word_posix(Path::new("/a\n")), None);
        assert_eq!(shell_word(Path::new("/a b\n")), r"$'/a b\012'");
        assert_eq!(shell_word(Path::new("-rf x")), "'./-rf x'");
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
            let q = shell_word_posix(Path::new(std::ffi::OsStr::from_bytes(w))).unwrap();
            assert!(
                !q.chars().any(crate::text::is_unsafe),
                "{q:?} is not one visible line"
            );
            assert_eq!(sh("sh", &q), w, "{q}");
        }
        let q = shell_word(Path::new(std::ffi::OsStr::from_bytes(b"/a '\\\xe9\n")));
        assert_eq!(sh("bash", &q), b"/a '\\\xe9\n", "{q}");
    }
}
