//! A delta's base rewritten in place by another program during an import
//! (issue 13: `trivy --download-db-only` truncates trivy.db with O_TRUNC and
//! writes it again; another program may write its pages where they are, at
//! the same length). The base is read with positioned reads, never
//! memory-mapped: the import fails as the host's I/O failure (exit 1),
//! naming the file and what happened, never dies of SIGBUS, never blames the
//! signed bundle (a zstd checksum or a digest that does not match), and
//! installs nothing. Needs the `fault-injection` feature (to pause the
//! import between the base's digest check and the delta's application).

#[cfg(not(feature = "fault-injection"))]
#[test]
fn delta_base_rewritten_during_an_import_needs_fault_injection() {
    assert!(
        std::env::var_os("CI").is_none(),
        "built without `--features fault-injection`: the delta base race tests did not run"
    );
    eprintln!("NOT RUN: the delta base race tests need `cargo test --features fault-injection`");
}

#[cfg(feature = "fault-injection")]
mod with_faults {
    use std::collections::BTreeMap;
    use std::os::unix::fs::FileExt as _;
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

    fn state(cache: &Path) -> BTreeMap<String, String> {
        let mut files = tree_hash(cache);
        files.remove("airlock-audit.jsonl");
        files
    }

    /// Imports `delta` paused at each crash point; at `point`, `edit`
    /// changes the live trivy.db. Returns the exit code, stderr, and the
    /// cache's state right after the edit.
    fn import_editing_at(
        delta: &Path,
        public: &Path,
        cache: &Path,
        point: &str,
        edit: &dyn Fn(&Path),
    ) -> (Option<i32>, String, BTreeMap<String, String>) {
        let pause = cache.with_file_name("paused");
        let mut child = Command::new(airlock_bin())
            .args([
                "import",
                s(delta),
                "--key",
                s(public),
                "--cache-dir",
                s(cache),
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
                if text.trim().ends_with(point) {
                    edit(&cache.join("db/trivy.db"));
                    before = Some(state(cache));
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
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let before = before.unwrap_or_else(|| panic!("the import never reached {point:?}: {err}"));
        (out.status.code(), err, before)
    }

    /// Every byte of the file inverted where it is: same inode, same length.
    fn invert_in_place(live: &Path) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(live)
            .unwrap();
        let mut b = std::fs::read(live).unwrap();
        b.iter_mut().for_each(|x| *x = !*x);
        f.write_all_at(&b, 0).unwrap();
    }

    /// A base bundle imported into `<t>/cache`, and a delta bundle against
    /// it: the test directory, the public key, the delta.
    fn setup() -> (TestDir, std::path::PathBuf, std::path::PathBuf) {
        let t = TestDir::new();
        let (key, public) = keygen(t.path(), "builder");
        let base_in = write_db_inputs(&t.join("base-in"), Version::Base);
        let next_in = write_db_inputs(&t.join("next-in"), Version::Next);
        let (base, delta) = (t.join("base.airlock"), t.join("delta.airlock"));
        export(&base, &key, &base_in, &[]);
        export(&delta, &key, &next_in, &["--base", s(&base)]);
        import_ok(&base, &public, &t.join("cache"), &[]);
        (t, public, delta)
    }

    #[test]
    fn delta_base_rewritten_in_place_at_its_length_fails_the_import_as_io() {
        let (t, public, delta) = setup();
        let cache = t.join("cache");
        let live = cache.join("db/trivy.db");
        let (code, err, before) = import_editing_at(
            &delta,
            &public,
            &cache,
            " delta bases checked",
            &invert_in_place,
        );
        assert_eq!(code, Some(1), "{err}");
        let want = format!(
            "cannot read the base database {}: its content changed since its digest was checked: another program rewrote it during the import (trivy --download-db-only?); nothing was installed, run the import again",
            live.display()
        );
        assert_eq!(
            err.lines().next(),
            Some(&*format!("airlock: error: {want}")),
            "{err}"
        );
        assert_eq!(state(&cache), before, "the import changed the cache");
        assert_no_leftovers(&cache, ".airlock-staging");
    }

    /// The first half of the file, written over it (O_TRUNC, as Trivy does).
    fn truncate_to_half(live: &Path) {
        let old = std::fs::read(live).unwrap();
        std::fs::write(live, &old[..old.len() / 2]).unwrap();
    }

    #[test]
    fn delta_base_truncated_after_its_check_fails_the_import_as_io_and_installs_nothing() {
        let (t, public, delta) = setup();
        let cache = t.join("cache");
        let live = cache.join("db/trivy.db");
        let len = std::fs::metadata(&live).unwrap().len();
        let (code, err, before) = import_editing_at(
            &delta,
            &public,
            &cache,
            " delta bases checked",
            &truncate_to_half,
        );
        assert_eq!(code, Some(1), "{err}");
        let want = format!(
            "cannot read the base database {}: it is {} bytes now, {len} when its digest was checked: another program rewrote it during the import (trivy --download-db-only?); nothing was installed, run the import again",
            live.display(),
            len / 2
        );
        assert!(err.contains(&want), "{err}");
        assert_eq!(state(&cache), before, "the import changed the cache");
        assert_no_leftovers(&cache, ".airlock-staging");
    }
}
