//! Issue 15, item 7: cheap checks of where a command writes come before the
//! key is unlocked and before anything is written; the checksums file is
//! named per bundle.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::*;

/// An encrypted key made by the default keygen (passphrase from the
/// environment variable).
fn encrypted_key(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let out = Command::new(airlock_bin())
        .args(["keygen", "--out", s(&dir.join("enc")), "--comment", "enc"])
        .env("AIRLOCK_PASSPHRASE", "correct horse")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (dir.join("enc.key"), dir.join("enc.pub"))
}

/// Runs airlock without any passphrase (no variable, no terminal).
fn without_passphrase(args: &[&str], code: i32) -> String {
    let out = Command::new(airlock_bin())
        .args(args)
        .env_remove("AIRLOCK_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    stderr
}

#[test]
fn export_into_a_missing_folder_fails_before_the_key_is_unlocked() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = encrypted_key(t.path());
    let out = t.join("transfers/x.airlock");
    let err = without_passphrase(
        &[
            "export",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
            "--trivy-db",
            s(&inputs.db),
        ],
        2,
    );
    let dir = t.join("transfers");
    assert_eq!(
        err,
        format!(
            "airlock: error: the output folder {d} does not exist\nhint: create it first (mkdir -p {d}) or write elsewhere; nothing was read or written\n",
            d = dir.display()
        )
    );
    // The control: with the folder, the same run reaches the key.
    std::fs::create_dir(&dir).unwrap();
    let err = without_passphrase(
        &[
            "export",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
            "--trivy-db",
            s(&inputs.db),
        ],
        1,
    );
    assert!(
        err.starts_with(&format!(
            "airlock: error: {}: the secret key is encrypted with a passphrase\n",
            key.display()
        )),
        "{err}"
    );
    assert_no_leftovers(&dir, "");
}

#[test]
fn export_with_sums_that_exist_fails_before_the_key_is_unlocked() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = encrypted_key(t.path());
    let out = t.join("x.airlock");
    let sums = t.join("x.airlock.sha256sums");
    write(&sums, b"kept\n");
    let err = without_passphrase(
        &[
            "export",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
            "--trivy-db",
            s(&inputs.db),
            "--sha256sums",
        ],
        2,
    );
    assert_eq!(
        err,
        format!(
            "airlock: error: {} already exists\nhint: choose another -o path, or pass --force to replace it\n",
            sums.display()
        )
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read(&sums).unwrap(), b"kept\n");
}

#[test]
fn split_into_a_missing_folder_fails_before_the_key_is_unlocked() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (enc, _) = encrypted_key(t.path());
    let err = without_passphrase(
        &[
            "split",
            s(&e.bundle),
            "--split",
            "64K",
            "-o",
            s(&t.join("stick/b.airlock")),
            "--sign-key",
            s(&enc),
            "--key",
            s(&e.public),
            "--sha256sums",
        ],
        2,
    );
    let d = t.join("stick");
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "airlock: error: the output folder {} does not exist",
            d.display()
        )
    );
}

#[test]
fn two_bundles_split_onto_one_stick_keep_their_own_checksums() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let second = t.join("second.airlock");
    let mut args = export_all_args(&e.inputs, &e.key, &second);
    args.extend(["--label", "n=2"]);
    airlock_ok(&args);
    let stick = t.join("stick");
    std::fs::create_dir(&stick).unwrap();
    for b in [&e.bundle, &second] {
        let name = b.file_name().unwrap().to_str().unwrap();
        let out = airlock_ok(&[
            "split",
            s(b),
            "--split",
            "64K",
            "-o",
            s(&stick.join(name)),
            "--sign-key",
            s(&e.key),
            "--key",
            s(&e.public),
            "--sha256sums",
        ]);
        let sums = stick.join(format!("{name}.sha256sums"));
        assert!(
            out.contains(&format!(
                "checksums in {} (check media with `sha256sum -c`)",
                sums.display()
            )),
            "{out}"
        );
    }
    assert!(!stick.join("SHA256SUMS").exists());
    for name in ["b.airlock.sha256sums", "second.airlock.sha256sums"] {
        let ok = run_ok(
            Command::new("sha256sum")
                .args(["-c", name])
                .current_dir(&stick),
        );
        let prefix = name.trim_end_matches(".sha256sums");
        assert!(
            ok.lines()
                .all(|l| l.starts_with(prefix) && l.ends_with(": OK")),
            "{ok}"
        );
        assert!(ok.contains(&format!("{prefix}.parts: OK")), "{ok}");
    }
    // Splitting the first again without --force stops before any part.
    let before = tree_hash(&stick);
    let err = airlock_fails(
        &[
            "split",
            s(&e.bundle),
            "--split",
            "128K",
            "-o",
            s(&stick.join("b.airlock")),
            "--sign-key",
            s(&e.key),
            "--key",
            s(&e.public),
            "--sha256sums",
        ],
        2,
    );
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "airlock: error: {} already exists",
            stick.join("b.airlock.001").display()
        )
    );
    assert_eq!(tree_hash(&stick), before);
    // A sums file in the way stops the split before any part is written.
    let stick2 = t.join("stick2");
    let sums = stick2.join("b.airlock.sha256sums");
    write(&sums, b"kept\n");
    let err = airlock_fails(
        &[
            "split",
            s(&e.bundle),
            "--split",
            "64K",
            "-o",
            s(&stick2.join("b.airlock")),
            "--sign-key",
            s(&e.key),
            "--key",
            s(&e.public),
            "--sha256sums",
        ],
        2,
    );
    assert_eq!(
        err.lines().next().unwrap(),
        format!("airlock: error: {} already exists", sums.display())
    );
    assert_eq!(
        std::fs::read_dir(&stick2).unwrap().count(),
        1,
        "only the sums file"
    );
}
