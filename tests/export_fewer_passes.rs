//! Issue 12, export in fewer passes: the layer files are checked two at a
//! time (one progress phase for both, the first refusal in the sources'
//! order reported), and the second pass re-checks each layer against the
//! CRC-32 its first pass took instead of hashing it again, so a layer that
//! changes between the passes (same size, other bytes; or one byte more)
//! is still refused and nothing is left at the output.

use std::process::{Command, Stdio};

use crate::support::fixtures::*;
use crate::support::*;

/// A trivy-db and a (padded, so hashed on a second thread) java-db layer.
fn two_layers(t: &TestDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let trivy = t.join("db.tar.gz");
    std::fs::write(&trivy, trivy_db_tar_gz(2, UPDATED_AT, NEXT_UPDATE)).unwrap();
    let java = t.join("javadb.tar.gz");
    std::fs::write(
        &java,
        java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 5 << 20),
    )
    .unwrap();
    (trivy, java)
}

#[test]
fn two_layers_are_checked_as_one_phase_and_give_the_bundle_of_one_at_a_time() {
    let t = TestDir::new();
    let (trivy, java) = two_layers(&t);
    let (key, _) = keygen(t.path(), "builder");
    let out = t.join("b.airlock");
    let run = Command::new(airlock_bin())
        .args(["export", "-o", s(&out), "--sign-key", s(&key)])
        .args(["--trivy-db", s(&trivy), "--java-db", s(&java)])
        .args(["--created", CREATED])
        .env("AIRLOCK_PROGRESS_INTERVAL", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(run.status.success(), "{stderr}");
    let total = (std::fs::metadata(&trivy).unwrap().len() + std::fs::metadata(&java).unwrap().len())
        as f64
        / 1048576.0;
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("airlock: check trivy-db, java-db: ")
                && l.contains(&format!(" of {total:.1} MiB ("))),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("airlock: check trivy-db, java-db: done, ")),
        "{stderr}"
    );
    // The same bytes as each layer exported alone would carry: the bundle
    // verifies and carries both layers' digests.
    let report: serde_json::Value = serde_json::from_str(&airlock_ok(&[
        "export",
        "-o",
        s(&t.join("again.airlock")),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&trivy),
        "--java-db",
        s(&java),
        "--created",
        CREATED,
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(t.join("again.airlock")).unwrap()
    );
    let kinds: Vec<&str> = report["manifest"]["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["trivy-db", "java-db"]);
}

#[test]
fn of_two_bad_layers_the_first_source_is_the_one_refused() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "builder");
    let trivy = t.join("db.tar.gz");
    std::fs::write(&trivy, b"not a gzip file").unwrap();
    // The larger one, checked first (on the other thread than trivy-db).
    let java = t.join("javadb.tar.gz");
    std::fs::write(&java, noise(2 << 20, 5)).unwrap();
    for _ in 0..3 {
        let stderr = airlock_fails(
            &[
                "export",
                "-o",
                s(&t.join("b.airlock")),
                "--sign-key",
                s(&key),
                "--trivy-db",
                s(&trivy),
                "--java-db",
                s(&java),
                "--created",
                CREATED,
            ],
            5,
        );
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("airlock: error: ")
                && first.contains("db.tar.gz")
                && !first.contains("javadb"),
            "{stderr}"
        );
    }
}

#[cfg(feature = "fault-injection")]
mod with_faults {
    use super::*;
    use crate::support::paused::Paused;

    /// Pauses an export of the two layers between its passes, lets
    /// `change` alter the java-db layer, and returns the export's stderr.
    fn changed_between_passes(change: impl FnOnce(&mut Vec<u8>)) -> (TestDir, String) {
        let t = TestDir::new();
        let (trivy, java) = two_layers(&t);
        let (key, _) = keygen(t.path(), "builder");
        let out = t.join("b.airlock");
        let mut run = Paused::start(
            &t,
            "export",
            &[
                "export",
                "-o",
                s(&out),
                "--sign-key",
                s(&key),
                "--trivy-db",
                s(&trivy),
                "--java-db",
                s(&java),
                "--created",
                CREATED,
            ],
        );
        run.to("export: inputs checked");
        let mut bytes = std::fs::read(&java).unwrap();
        change(&mut bytes);
        std::fs::write(&java, &bytes).unwrap();
        let status = run.finish();
        let stderr = run.stderr();
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(!out.exists(), "a bundle was left: {stderr}");
        (t, stderr)
    }

    #[test]
    fn a_layer_with_other_bytes_of_the_same_size_is_refused_by_the_re_check() {
        let mut size = 0;
        let (_t, stderr) = changed_between_passes(|b| {
            let mid = b.len() / 2;
            b[mid] ^= 0x01;
            size = b.len();
        });
        assert!(
            stderr.contains(&format!(
                " changed while the bundle was being written (expected {size} bytes with sha256 "
            )) && stderr.contains(&format!(", read {size} bytes that differ from them)")),
            "{stderr}"
        );
        assert!(
            stderr.contains("make sure nothing updates the source"),
            "{stderr}"
        );
    }

    #[test]
    fn a_layer_one_byte_longer_is_refused_by_the_re_check() {
        let mut size = 0;
        let (_t, stderr) = changed_between_passes(|b| {
            size = b.len();
            b.push(0);
        });
        assert!(
            stderr.contains(&format!("(expected {size} bytes with sha256 "))
                && stderr.contains(&format!(", read {} bytes that differ from them)", size + 1)),
            "{stderr}"
        );
    }
}
