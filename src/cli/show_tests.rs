//! Unit tests of what `inspect` prints: every string from a manifest on one line, control characters escaped.

use super::*;

#[test]
fn manifest_strings_print_on_their_own_line_whatever_they_hold() {
    // A manifest that skipped validation (as if a reader forgot it):
    // every string still prints escaped, one line each. (The typed
    // fields, names, paths, digests and times, hold their grammar even
    // so: only free text can carry a newline.)
    let m: Manifest = toml::from_str(
        r#"
format = "airlock-bundle"
format_version = "1.1"
created = "2026-01-01T00:00:00Z"
generator = "g"
[[vex]]
name = "default"
source = "s\u202e"
title = "t\n  key ABC: valid, counted"
manifest_path = "vex/default/vex-repository.json"
archive_path = "vex/default/archive.zip"
archive_format = "zip"
subdir = ""
spec_version = "0.1"
original_location = "o"
updated_at = ""
packages = 1
[vex.unpacked]
size = 1
files = 1
entries = 1
data = 1
[[payload]]
path = "vex/default/archive.zip"
size = 1
sha256 = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
"#,
    )
    .unwrap();
    let mut out = Vec::new();
    contents(&mut out, &m).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("(t\\u{a}  key ABC: valid, counted)"), "{out}");
    assert!(out.contains("from s\\u{202e}"), "{out}");
}

#[test]
fn control_characters_are_escaped() {
    let mut out = Sanitize(Vec::new());
    out.write_all("a\x1b[2Jb\tc\n\u{9b}d é \u{202e}x\u{2066}".as_bytes())
        .unwrap();
    assert_eq!(
        String::from_utf8(out.0).unwrap(),
        "a\\u{1b}[2Jb\tc\n\\u{9b}d é \\u{202e}x\\u{2066}"
    );
}
