//! Issue 12: an encrypted key's scrypt derivation is part of the user's
//! wait. Each command unlocks each key once, and its progress says what the
//! wait is before it starts: a phase `unlocking KEY (scrypt key derivation:
//! 1.0 GiB of memory, a few seconds)`, begun after the passphrase is given
//! and ended when the key is open (JSON progress events with `--json`).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

const PASSPHRASE: &str = "correct horse";

/// An encrypted key pair made by the default keygen.
fn encrypted_key(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let out = Command::new(airlock_bin())
        .args(["keygen", "--out", s(&dir.join(name)), "--comment", name])
        .env("AIRLOCK_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// Runs airlock with the passphrase in the environment; returns the JSON
/// progress phases begun, in order.
fn phases(args: &[&str]) -> Vec<String> {
    let out = Command::new(airlock_bin())
        .args(args)
        .env("AIRLOCK_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "begin")
        .map(|e| e["phase"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn unlocking(key: &Path) -> String {
    format!(
        "unlocking {} (scrypt key derivation: 1.0 GiB of memory, a few seconds)",
        key.display()
    )
}

#[test]
fn export_split_and_import_with_a_receipt_key_unlock_each_encrypted_key_once_and_say_so_first() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = encrypted_key(t.path(), "builder");
    let bundle = t.join("b.airlock");
    // A split export signs the manifest and the part index with one unlock.
    let export = phases(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--split",
        "1M",
        "--json",
    ]);
    assert_eq!(export.first(), Some(&unlocking(&key)), "{export:?}");
    assert_eq!(
        export
            .iter()
            .filter(|p| p.starts_with("unlocking "))
            .count(),
        1,
        "{export:?}"
    );
    // An air-gapped import that signs its receipt pays the same wait.
    let (auditor, _) = encrypted_key(t.path(), "auditor");
    let receipt = t.join("receipt.json");
    let import = phases(&[
        "import",
        s(&bundle.with_file_name("b.airlock.001")),
        "--key",
        s(&public),
        "--cache-dir",
        s(&t.join("cache")),
        "--receipt",
        s(&receipt),
        "--receipt-key",
        s(&auditor),
        "--json",
    ]);
    assert_eq!(import.first(), Some(&unlocking(&auditor)), "{import:?}");
    assert_eq!(
        import
            .iter()
            .filter(|p| p.starts_with("unlocking "))
            .count(),
        1,
        "{import:?}"
    );
    assert!(receipt.exists());
}

#[test]
fn a_key_in_clear_opens_without_an_unlocking_phase() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    let export = phases(&[
        "export",
        "-o",
        s(&t.join("b.airlock")),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
        "--json",
    ]);
    assert!(!export.is_empty());
    assert!(
        export.iter().all(|p| !p.starts_with("unlocking ")),
        "{export:?}"
    );
}
