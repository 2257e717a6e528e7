//! A delta's base rewritten in place by another program during an import
//! (issue 13: `trivy --download-db-only` truncates trivy.db with O_TRUNC
//! and writes it again). The base is read with positioned reads, never
//! memory-mapped: the import fails as an I/O failure (exit 1), naming the
//! file and what happened, never dies of SIGBUS, and installs nothing.
//! Needs the `fault-injection` feature (to pause the import between the
//! base's digest check and the delta's application).

#[cfg(not(feature = "fault-injection"))]
#[test]
fn delta_base_rewritten_during_an_import_needs_fault_injection() {
    assert!(
        std::env::var_os("CI").is_none(),
        "built without `--features fault-injection`: the delta base race test did not run"
    );
    eprintln!("NOT RUN: the delta base race test needs `cargo test --features fault-injection`");
}

#[cfg(feature = "fault-injection")]
mod with_faults {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::support::delta_fixtures::*;
    use crate::support::*;

    fn export(
        out: &Path,
        key: &Path,
        inputs: &(std::path::PathBuf, std::path::PathBuf),
        extra: &[&str],
    ) {
        let mut args = vec!["export", "-o", s(out), "--sign-key", s(key)];
        args.extend(["--trivy-db", s(&inputs.0), "--java-db", s(&inputs.1)]);
        args.extend(["--created", "2026-11-25T12:00:00Z"]);
        args.extend_from_slice(extra);
        airlock_ok(&args);
    }

    /// Every file of the cache but the audit log (refusals are audited).
    fn state(cache: &Path) -> BTreeMap<String, String> {
        let mut files = tree_hash(cache);
        files.remove("airlock-audit.jsonl");
        files
    }

    #[test]
    fn delta_base_truncated_after_its_check_fails_the_import_as_io_and_installs_nothing() {
        let t = TestDir::new();
        let (key, public) = keygen(t.path(), "builder");
        let base_in = write_db_inputs(&t.join("base-in"), Version::Base);
        let next_in = write_db_inputs(&t.join("next-in"), Version::Next);
        let (base, delta) = (t.join("base.airlock"), t.join("delta.airlock"));
        export(&base, &key, &base_in, &[]);
        export(&delta, &key, &next_in, &["--base", s(&base)]);
        let cache = t.join("cache");
        import_ok(&base, &public, &cache, &[]);
        let live = cache.join("db/trivy.db");
        let len = std::fs::metadata(&live).unwrap().len();

        let pause = t.join("paused");
        let mut child = Command::new(airlock_bin())
            .args([
                "import",
                s(&delta),
                "--key",
                s(&public),
                "--cache-dir",
                s(&cache),
            ])
            .env("AIRLOCK_FAULT_PAUSE", "all")
            .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
            .env_remove("AIRLOCK_FAULT_KILL")
            .env_remove("AIRLOCK_FAULT_TRACE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (start, mut before) = (Instant::now(), None);
        loop {
            if let Ok(text) = std::fs::read_to_string(&pause) {
                if text.trim().ends_with(" delta bases checked") {
                    // As `trivy --download-db-only` does: the same file,
                    // truncated, then written again (here: half of it).
                    let old = std::fs::read(&live).unwrap();
                    std::fs::write(&live, &old[..old.len() / 2]).unwrap();
                    before = Some(state(&cache));
                }
                if !text.is_empty() {
                    std::fs::remove_file(&pause).unwrap();
                    continue;
                }
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "import hung");
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{:?}: {err}", out.status);
        let want = format!(
            "cannot read the base database {}: it is {} bytes now, {len} when its digest was checked: another program rewrote it during the import (trivy --download-db-only?); nothing was installed, run the import again",
            live.display(),
            len / 2
        );
        assert!(err.contains(&want), "{err}");
        assert_eq!(
            state(&cache),
            before.expect("the import never reached 'delta bases checked'"),
            "the import changed the cache"
        );
        assert_no_leftovers(&cache, ".airlock-staging");
    }
}
