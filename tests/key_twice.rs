//! Issue 12: one key named twice on one command. A bundle signed twice by
//! one key is refused by every reader ("the bundle carries two signatures
//! by key ...; each key may sign once") and a trust policy counts a key
//! once anyway, so `export` refuses it (exit 2) before any key is unlocked:
//! no passphrase asked, no scrypt run (seconds and 1 GiB), nothing written.
//! The same file under two names and two files holding the same key are
//! one key.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

const PASSPHRASE: &str = "correct horse";

/// Runs `airlock export --json` signing with `keys`, the passphrase in the
/// environment; returns (exit code, stderr).
fn export_with(t: &TestDir, inputs: &Inputs, keys: &[&Path]) -> (Option<i32>, String) {
    let out = t.join("b.airlock");
    let mut args = vec![
        "export".to_string(),
        "-o".into(),
        s(&out).into(),
        "--trivy-db".into(),
        s(&inputs.db).into(),
        "--json".into(),
    ];
    for k in keys {
        args.push("--sign-key".into());
        args.push(s(k).into());
    }
    let run = Command::new(airlock_bin())
        .args(&args)
        .env("AIRLOCK_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

/// The stderr lines that are not JSON progress events.
fn message(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .collect()
}

const HINT: &str = "hint: give each signer's key once: a second signature by one key adds no approval (a trust policy counts each key once), and every reader refuses a bundle signed twice by one key";

#[test]
fn an_encrypted_key_given_twice_is_refused_before_it_is_unlocked() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let prefix = t.join("builder");
    let made = Command::new(airlock_bin())
        .args(["keygen", "--out", s(&prefix), "--comment", "builder"])
        .env("AIRLOCK_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let key = t.join("builder.key");
    let (code, stderr) = export_with(&t, &inputs, &[&key, &key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        message(&stderr),
        [
            format!(
                "airlock: error: the secret key {} is given twice; each key signs a bundle once",
                key.display()
            )
            .as_str(),
            HINT
        ],
        "{stderr}"
    );
    // Refused before the passphrase and its scrypt: no phase began.
    assert!(!stderr.contains("\"begin\""), "{stderr}");
    assert!(!t.join("b.airlock").exists());
}

#[test]
fn two_files_holding_one_key_are_refused_as_one_key() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    let (other, _) = keygen(t.path(), "other");
    // A copy (same bytes, another name) ...
    let copy = t.join("copy.key");
    std::fs::copy(&key, &copy).unwrap();
    // ... and the same key as `minisign -G -W` writes it: no checksum, so
    // not the same bytes; found once the key (in clear) is opened.
    let text = std::fs::read_to_string(&key).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(&lines[1]).unwrap();
    raw[126..158].fill(0);
    lines[1] = b64.encode(&raw);
    let unchecked = t.join("unchecked.key");
    write(&unchecked, format!("{}\n", lines.join("\n")).as_bytes());
    use std::os::unix::fs::PermissionsExt as _;
    for p in [&copy, &unchecked] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for again in [&copy, &unchecked] {
        let (code, stderr) = export_with(&t, &inputs, &[&key, &other, again]);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(
            message(&stderr),
            [
                format!(
                    "airlock: error: {} and {} hold the same secret key; each key signs a bundle once",
                    key.display(),
                    again.display()
                )
                .as_str(),
                HINT
            ],
            "{stderr}"
        );
        assert!(!t.join("b.airlock").exists());
    }
    // Two different keys still sign one bundle.
    let (code, stderr) = export_with(&t, &inputs, &[&key, &other]);
    assert_eq!(code, Some(0), "{stderr}");
}
