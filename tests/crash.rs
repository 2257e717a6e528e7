//! Crash safety, concurrency and a disk that fills up mid-import, driven by
//! the crash points of `src/fault.rs` (the `fault-injection` feature, which
//! the test command turns on).
//!
//! Two generations of every component are used: A (the fixtures) and B
//! (newer databases, a checks bundle with another digest, the VEX archive
//! as tar.gz instead of zip), so the state of each component after a crash
//! can be named: entirely the old generation, entirely the new one, or
//! neither (a failure).

#[cfg(not(feature = "fault-injection"))]
#[test]
fn crash_tests_need_the_fault_injection_feature() {
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "built without `--features fault-injection`: the crash, concurrency and disk-full tests did not run (scripts/test.sh enables it)"
    );
    eprintln!("NOT RUN: the crash tests need `cargo test --features fault-injection`");
}

#[cfg(feature = "fault-injection")]
mod with_faults {
    use std::collections::BTreeMap;
    use std::io::Read as _;
    use std::os::unix::process::ExitStatusExt as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use sha2::{Digest as _, Sha256};

    use crate::support::fixtures::*;
    use crate::support::trivy::*;
    use crate::support::*;

    const UPDATED_AT_B: &str = "2024-02-01T00:00:00Z";
    const NEXT_UPDATE_B: &str = "2024-02-02T00:00:00Z";

    /// The components a full import writes: in the cache, and the static
    /// VEX directory's (prefixed `vex-dir:`).
    const COMPONENTS: [&str; 5] = [
        "db",
        "java-db",
        "policy",
        "vex/repositories/default",
        "vex-dir:default",
    ];

    /// Generation B of every input.
    fn write_inputs_b(dir: &Path) -> Inputs {
        let d = dir.join("inputs-b");
        let inputs = Inputs {
            db: d.join("db.tar.gz"),
            java_db: d.join("javadb.tar.gz"),
            checks: d.join("bundle.tar.gz"),
            vex_manifest: d.join("vex-repository.json"),
            vex_archive: d.join("main.tar.gz"),
        };
        write(&inputs.db, &trivy_db_tar_gz(2, UPDATED_AT_B, NEXT_UPDATE_B));
        write(
            &inputs.java_db,
            &java_db_tar_gz(UPDATED_AT_B, NEXT_UPDATE_B),
        );
        // The same checks in a gzip stream with another header time: another
        // layer, so another digest in the cache's metadata.json.
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&checks_bundle_tar_gz()[..])
            .read_to_end(&mut tar)
            .unwrap();
        let mut gz = flate2::GzBuilder::new()
            .mtime(1)
            .write(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        write(&inputs.checks, &gz.finish().unwrap());
        write(
            &inputs.vex_manifest,
            vex_repository_json(
                "https://github.com/aquasecurity/vexhub/archive/refs/heads/main.tar.gz",
            )
            .as_bytes(),
        );
        write(&inputs.vex_archive, &vex_archive_tar_gz());
        inputs
    }

    /// The two bundles, the trust key, a cache, a VEX directory and a rootfs.
    struct Setup {
        t: TestDir,
        a: PathBuf,
        /// A's content in a bundle made a day earlier.
        a_earlier: PathBuf,
        b: PathBuf,
        public: PathBuf,
        cache: PathBuf,
        vex_dir: PathBuf,
        rootfs: PathBuf,
        xdg: PathBuf,
    }

    fn setup() -> Setup {
        let t = TestDir::new();
        let ex = export_fixtures(&t);
        let b = t.join("b2.airlock");
        export_all(&write_inputs_b(t.path()), &ex.key, &b);
        let a_earlier = t.join("a-earlier.airlock");
        let mut args = export_all_args(&ex.inputs, &ex.key, &a_earlier);
        let at = args.iter().position(|a| *a == CREATED).unwrap();
        args[at] = "2026-11-24T12:00:00Z";
        airlock_ok(&args);
        let rootfs = t.join("rootfs");
        write_alpine_rootfs(&rootfs);
        let xdg = t.join("xdg");
        std::fs::create_dir_all(&xdg).unwrap();
        Setup {
            a: ex.bundle,
            a_earlier,
            b,
            public: ex.public,
            cache: t.join("cache"),
            vex_dir: t.join("vex-repo"),
            rootfs,
            xdg,
            t,
        }
    }

    impl Setup {
        fn import_cmd(&self, bundle: &Path) -> Command {
            let mut cmd = Command::new(airlock_bin());
            cmd.args(["import", s(bundle), "--key", s(&self.public)])
                .args(["--cache-dir", s(&self.cache), "--vex-dir", s(&self.vex_dir)])
                .env_remove("AIRLOCK_FAULT_KILL")
                .env_remove("AIRLOCK_FAULT_PAUSE")
                .env_remove("AIRLOCK_FAULT_TRACE");
            cmd
        }

        fn import_ok(&self, bundle: &Path) {
            let out = self.import_cmd(bundle).output().unwrap();
            assert!(
                out.status.success(),
                "import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        /// The crash points a full import of `bundle` passes, in order.
        fn trace(&self, bundle: &Path) -> Vec<String> {
            let trace = self.t.join("trace");
            let _ = std::fs::remove_file(&trace);
            let out = self
                .import_cmd(bundle)
                .env("AIRLOCK_FAULT_TRACE", &trace)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            std::fs::read_to_string(&trace)
                .unwrap()
                .lines()
                .map(|l| l.split_once(' ').unwrap().1.to_string())
                .collect()
        }

        fn component_path(&self, c: &str) -> PathBuf {
            match c.strip_prefix("vex-dir:") {
                Some(rest) => self.vex_dir.join(rest),
                None => self.cache.join(c),
            }
        }

        /// Every component's fingerprint (see [`fingerprint`]).
        fn fingerprints(&self) -> BTreeMap<&'static str, Fingerprint> {
            COMPONENTS
                .iter()
                .map(|c| (*c, fingerprint(&self.component_path(c))))
                .collect()
        }

        /// Copies the cache and the VEX directory aside.
        fn snapshot(&self, name: &str) -> PathBuf {
            let dst = self.t.join(name);
            std::fs::create_dir_all(&dst).unwrap();
            for d in [&self.cache, &self.vex_dir] {
                run_ok(Command::new("cp").arg("-a").arg(d).arg(&dst));
            }
            dst
        }

        /// Puts a snapshot back in place of the cache and the VEX directory.
        fn restore(&self, snapshot: &Path) {
            for d in [&self.cache, &self.vex_dir] {
                if d.exists() {
                    std::fs::remove_dir_all(d).unwrap();
                }
                let name = d.file_name().unwrap();
                run_ok(
                    Command::new("cp")
                        .arg("-a")
                        .arg(snapshot.join(name))
                        .arg(d.parent().unwrap()),
                );
            }
        }

        /// What Trivy reports with the cache (VEX applied): the fixture CVEs
        /// but the suppressed one, whichever generation each component is.
        fn assert_trivy_scans(&self, when: &str) {
            let mut want = vec![ZLIB_CVES[0].to_string(), JAR_CVE.to_string()];
            want.sort();
            assert_eq!(
                rootfs_vuln_ids(&self.cache, &self.xdg, &self.rootfs, &["--vex", "repo"]),
                want,
                "Trivy's findings {when}"
            );
        }

        fn assert_no_leftovers(&self) {
            assert_no_leftovers(&self.cache, ".airlock-staging-");
            assert_no_leftovers(&self.vex_dir, ".airlock-staging-");
        }
    }

    /// A component tree, file by file, with the times an import stamps
    /// (`DownloadedAt` in metadata.json, `UpdatedAt` in a VEX cache.json)
    /// left out, so two imports of one bundle give equal fingerprints.
    type Fingerprint = BTreeMap<String, String>;

    fn fingerprint(root: &Path) -> Fingerprint {
        let mut out = tree_hash(root);
        for (rel, v) in out.iter_mut() {
            let name = rel.rsplit('/').next().unwrap();
            let stamped = match name {
                "metadata.json" => "DownloadedAt",
                "cache.json" => "UpdatedAt",
                _ => continue,
            };
            let mut json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(root.join(rel)).unwrap()).unwrap();
            json.as_object_mut().unwrap().remove(stamped);
            *v = format!("json {:x}", Sha256::digest(json.to_string()));
        }
        out
    }

    /// Waits for `child` up to a minute.
    fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "import hung");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn an_import_killed_at_any_point_leaves_each_component_old_or_new() {
        let st = setup();
        // The old generation is A, imported after the same content made a
        // day earlier so that it has a previous generation too (A imported
        // twice would change nothing the second time: "already installed",
        // issue 15): every step of the import of B, rotating generations
        // included, is run.
        st.import_ok(&st.a_earlier);
        st.import_ok(&st.a);
        assert!(st.cache.join(".airlock-previous").is_dir());
        let old = st.fingerprints();
        let pristine = st.snapshot("pristine");
        let points = st.trace(&st.b);
        let new = st.fingerprints();
        for c in COMPONENTS {
            assert_ne!(old[c], new[c], "{c}: the generations must differ");
            assert!(!new[c].is_empty(), "{c} is missing after the import");
        }
        assert!(points.len() >= 20, "only {} crash points", points.len());

        let mut table = Vec::new();
        for (i, point) in points.iter().enumerate() {
            let n = i + 1;
            st.restore(&pristine);
            let out = st
                .import_cmd(&st.b)
                .env("AIRLOCK_FAULT_KILL", n.to_string())
                .output()
                .unwrap();
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGKILL),
                "point {n} ({point}) was not reached: {out:?}"
            );
            let now = st.fingerprints();
            let state: Vec<&str> = COMPONENTS
                .iter()
                .map(|c| match &now[c] {
                    f if *f == old[c] => "old",
                    f if *f == new[c] => "new",
                    f => {
                        panic!("killed at point {n} ({point}): {c} is neither generation:\n{f:#?}")
                    }
                })
                .collect();
            st.assert_trivy_scans(&format!("after a kill at point {n} ({point})"));
            // The next import cleans up after the crash and succeeds.
            st.import_ok(&st.b);
            st.assert_no_leftovers();
            assert_eq!(
                st.fingerprints(),
                new,
                "re-import after point {n} ({point})"
            );
            table.push(format!("{n:>3}  {point:<28} {}", state.join(" ")));
        }
        eprintln!(
            "killed at {} points; components: {}\n{}",
            points.len(),
            COMPONENTS.join(" "),
            table.join("\n")
        );
        // A kill before the swaps leaves everything old; after, everything new.
        assert!(table[0].ends_with("old old old old old"), "{}", table[0]);
        assert!(
            table.last().unwrap().ends_with("new new new new new"),
            "{}",
            table.last().unwrap()
        );
    }

    /// Runs an import of `bundle` that pauses at `points`; at each pause,
    /// calls `at(n, name)`, then lets the import go on. Returns its output.
    fn paused_import(
        st: &Setup,
        bundle: &Path,
        points: &str,
        mut at: impl FnMut(u64, &str),
    ) -> Output {
        let pause = st.t.join("paused");
        let mut child = st
            .import_cmd(bundle)
            .env("AIRLOCK_FAULT_PAUSE", points)
            .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&pause) {
                if let Some((n, name)) = text.trim().split_once(' ') {
                    at(n.parse().unwrap(), name);
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
        wait(&mut child);
        child.wait_with_output().unwrap()
    }

    #[test]
    fn scans_and_a_second_import_during_an_import_see_a_whole_cache() {
        let st = setup();
        st.import_ok(&st.a);
        let old = st.fingerprints();
        let mut paused_at = Vec::new();
        let out = paused_import(&st, &st.b, "all", |n, name| {
            paused_at.push(format!("{n} {name}"));
            // A second import at any step is refused at once, naming the lock.
            if n == 1 || name == "before swap" {
                let out = st.import_cmd(&st.b).output().unwrap();
                assert_eq!(out.status.code(), Some(1), "{out:?}");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.contains("another airlock import is running on")
                        && err.contains(".airlock.lock"),
                    "{err}"
                );
            }
            // From the first swap on, Trivy scans at every step and finds
            // whole databases (the old or the new), never a partial one.
            if paused_at.iter().any(|p| p.ends_with("before swap")) {
                st.assert_trivy_scans(&format!("while the import is paused at {n} ({name})"));
            }
        });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(paused_at.len() >= 20, "{paused_at:?}");
        let new = st.fingerprints();
        for c in COMPONENTS {
            assert_ne!(old[c], new[c], "{c} was not replaced");
        }
        st.assert_no_leftovers();
        eprintln!(
            "scanned at {} of {} steps",
            paused_at
                .iter()
                .skip_while(|p| !p.ends_with("before swap"))
                .count(),
            paused_at.len()
        );
    }

    #[test]
    fn a_disk_that_fills_up_during_an_import_fails_it_cleanly() {
        let t = TestDir::new();
        let Some(fs) = SmallFs::mount(t.join("small"), "4m") else {
            return;
        };
        let mut st = setup();
        st.cache = fs.path.join("cache");
        st.vex_dir = fs.path.join("vex-repo");
        st.import_ok(&st.a);
        let before = (tree_hash(&st.cache), tree_hash(&st.vex_dir));
        // After the free-space check passed (the staging area exists), fill
        // the disk to its last byte.
        let filler = fs.path.join("filler");
        // The fourth crash point: cache locked, VEX directory locked,
        // leftovers removed, staging created.
        let out = paused_import(&st, &st.b, "4", |_, name| {
            assert_eq!(name, "staging created");
            let status = Command::new("dd")
                .args(["if=/dev/zero", "bs=64k", &format!("of={}", s(&filler))])
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(!status.success(), "dd should have filled the disk");
        });
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No space left on device"), "{err}");
        assert_eq!(
            (tree_hash(&st.cache), tree_hash(&st.vex_dir)),
            before,
            "the old cache must be intact, with no staging left"
        );
        std::fs::remove_file(&filler).unwrap();
        st.import_ok(&st.b);
        st.assert_trivy_scans("after the disk was freed and the import re-run");
        drop(fs);
    }
}
