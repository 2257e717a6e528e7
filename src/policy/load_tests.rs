//! Loading a policy: names and roles held to one line, every message with
//! long base64 hidden, the file's size bounded (review of issue 15).

use std::path::Path;

use crate::error::{Classify as _, ExitClass};
use crate::keys::SecretKey;
use crate::policy::{TrustPolicy, MAX_NAME, MAX_POLICY_FILE};
use crate::redact::LONG_BASE64_WORDS;

fn refused(text: &str) -> String {
    let err = TrustPolicy::from_toml(text, Path::new(".")).unwrap_err();
    assert_eq!(err.class(), ExitClass::BadPolicy, "{err}");
    err.to_string()
}

fn key_line() -> String {
    SecretKey::generate("a").unwrap().public_key().to_base64()
}

#[test]
fn names_and_roles_are_one_line_of_visible_text() {
    let k = key_line();
    // `name` and `role` as TOML basic strings (escapes written by hand).
    let entry = |name: &str, role: &str| {
        format!("[[key]]\nname = \"{name}\"\nrole = \"{role}\"\npublic_key = {k:?}\n")
    };
    let long = "ab-".repeat(MAX_NAME / 3 + 1);
    let cases = [
        (
            entry("bob\\npolicy satisfied", "r"),
            "trust policy (text):2:8: name \"bob\\u{a}policy satisfied\" holds \\u{a}",
        ),
        (
            entry("bob", "x\\u001b[2J"),
            "trust policy (text):3:8: role \"x\\u{1b}[2J\" holds \\u{1b}",
        ),
        (
            entry("bob\\u202e", "r"),
            "trust policy (text):2:8: name \"bob\\u{202e}\" holds \\u{202e}",
        ),
        (
            entry("  ", "r"),
            "trust policy (text):2:8: name \"  \" is empty",
        ),
        (entry(&long, "r"), "trust policy (text):2:8: name \"ab-ab-"),
        (
            format!("[roles]\n\"a\\tb\" = 1\n{}", entry("bob", "r")),
            "trust policy (text):2:10: role \"a\\u{9}b\" holds \\u{9}",
        ),
    ];
    for (text, expected) in cases {
        let message = refused(&text);
        assert!(message.starts_with(expected), "{message}\n{text}");
        assert!(
            !message.contains(['\n', '\u{1b}', '\u{202e}']),
            "{message:?}"
        );
    }
    // A long name is shown cut short.
    let message = refused(&entry(&"ab-".repeat(1000), "r"));
    assert!(
        message.starts_with(&format!(
            "trust policy (text):2:8: name \"{}a…\" longer than 128 bytes",
            "ab-".repeat(21)
        )),
        "{message}"
    );
    // At the bound: accepted.
    TrustPolicy::from_toml(&entry(&"n".repeat(MAX_NAME), "r"), Path::new(".")).unwrap();
}

#[test]
fn no_refusal_repeats_a_secret_key_line() {
    let secret = SecretKey::generate("s").unwrap().to_text();
    let line = secret.lines().nth(1).unwrap();
    let k = key_line();
    let key = format!("\n[[key]]\nname = \"a\"\npublic_key = {k:?}\n");
    for text in [
        format!("revoked = [{line:?}]\n{key}"),
        format!("revoked = {line:?}\n{key}"),
        format!("threshold = {line:?}\n{key}"),
        format!("max_age = {line:?}\n{key}"),
        format!("downgrade = {line:?}\n{key}"),
        format!("[[key]]\nname = {line:?}\npublic_key = {k:?}\n"),
        format!("[[key]]\nname = \"a\"\nrole = {line:?}\npublic_key = {k:?}\n"),
        format!("[[key]]\nname = \"a\"\nfile = {line:?}\n"),
    ] {
        let message = refused(&text);
        assert!(!message.contains(&line[60..100]), "{message}");
        assert!(message.contains(LONG_BASE64_WORDS), "{message}");
    }
}

#[test]
fn a_policy_file_over_the_bound_is_refused() {
    let dir = std::env::temp_dir().join(format!("airlock-policy-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let k = key_line();
    let body = format!("[[key]]\nname = \"a\"\npublic_key = {k:?}\n");
    let path = dir.join("trust.toml");
    let mut text = body.clone();
    text.push_str(&"#".repeat(MAX_POLICY_FILE as usize - body.len() - 1));
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    TrustPolicy::from_file(&path).unwrap();
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    let err = TrustPolicy::from_file(&path).unwrap_err();
    assert_eq!(err.class(), ExitClass::BadPolicy);
    assert_eq!(
        err.to_string(),
        format!(
            "trust policy {}: it is larger than 1.0 MiB (a trust policy lists a few keys): is it the right file?",
            path.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
