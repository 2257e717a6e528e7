//! Interrupted runs leave nothing behind (issue 17, item 8): a signal during
//! a hostile download or while the bundle is written removes the work folder
//! and the temporary output and exits with 128 + the signal; what a SIGKILL
//! leaves is removed by the next export into the same directory, and a live
//! run's work folder is never touched.
//!
//! The downloads come from the hostile server (tests/support/hostile.rs): a
//! VEX repository whose archive is served fast up to some size and then
//! stalls (its Content-Length promises more), so the export sits
//! mid-download with those bytes in its work folder.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::fixtures::vex_repository_json;
use crate::support::hostile::Hostile;
use crate::support::*;

/// Bytes served before the archive stalls.
const SERVED: u64 = 8 << 20;

/// How long an interrupted run may take to clean up and exit.
const BOUND: Duration = Duration::from_secs(10);

/// A VEX server whose archive sends `SERVED` bytes of a promised 1 GiB (the
/// most airlock accepts for a VEX archive), then stalls.
fn stalling_vex_server(dir: &Path) -> Hostile {
    // The manifest names the archive by the server's own port, which is only
    // known once it runs: serve the manifest from a file written after.
    let manifest = dir.join("served-vex-repository.json");
    write(&manifest, b"{}");
    let server = Hostile::start(
        dir,
        json!({
            "routes": [
                {"path": "/\\.well-known/vex-repository\\.json", "body_file": s(&manifest)},
                {"path": "/vex\\.zip", "body_zeros": SERVED, "content_length": 1u64 << 30},
            ]
        }),
    );
    write(
        &manifest,
        vex_repository_json(&format!("{}/vex.zip", server.url())).as_bytes(),
    );
    server
}

/// `airlock export` of the server's VEX repository into `out`, running,
/// its stderr going to `<out>.stderr`.
fn spawn_export(server: &Hostile, key: &Path, out: &Path) -> Child {
    let stderr = std::fs::File::create(stderr_path(out)).unwrap();
    Command::new(airlock_bin())
        .args(["export", "-o", s(out), "--sign-key", s(key), "--vex-repo"])
        .arg(server.url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start airlock export")
}

fn stderr_path(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".stderr");
    PathBuf::from(p)
}

/// The names in `dir` starting with `.airlock-`.
fn airlock_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".airlock-"))
        .collect();
    v.sort();
    v
}

/// File lengths under `p`.
fn size_of(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Waits until `dir` holds an `.airlock-export-*` folder not in `except`
/// with the `SERVED` bytes in it, less what airlock still buffers (1 MiB
/// at most): the export is mid-download. Returns the folder.
fn wait_mid_download(dir: &Path, except: &[PathBuf], child: &mut Child) -> PathBuf {
    let start = Instant::now();
    loop {
        for name in airlock_entries(dir) {
            let p = dir.join(&name);
            if name.starts_with(".airlock-export-")
                && !except.contains(&p)
                && size_of(&p) >= SERVED - (1 << 20)
            {
                return p;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the export ended before it was mid-download: {status:?}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no work folder with about {SERVED} bytes appeared in {}: {:?}",
            dir.display(),
            airlock_entries(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(child: &Child, signal: &str) {
    run_ok(Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]));
}

/// Waits for `child` to end, at most `BOUND`; returns how it ended and how
/// long it took.
fn wait_bounded(child: &mut Child) -> (ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, start.elapsed());
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            panic!("airlock did not exit within {BOUND:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A signal mid-download: the work folder and everything else airlock made
/// are removed, the exit code is 128 + the signal, and the message says
/// what was removed.
fn interrupt_mid_download(signal: &str, name: &str, code: i32) {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "builder");
    let server = stalling_vex_server(&t.join("server"));
    let dir = t.join("out");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("b.airlock");
    let mut child = spawn_export(&server, &key, &out);
    let work = wait_mid_download(&dir, &[], &mut child);
    let bytes = size_of(&work);
    kill(&child, signal);
    let (status, took) = wait_bounded(&mut child);
    let stderr = std::fs::read_to_string(stderr_path(&out)).unwrap();
    assert_eq!(status.code(), Some(code), "{signal}: {status:?}\n{stderr}");
    let prefix = format!("airlock: interrupted by {name}; removed 1 temporary file or folder (");
    let removed: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.strip_suffix(" bytes)"))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{stderr}"))
        .parse()
        .unwrap();
    // At least what was there when the signal was sent (a last write may
    // have landed since).
    assert!(removed >= bytes, "{removed} < {bytes}");
    assert_eq!(airlock_entries(&dir), Vec::<String>::new(), "{signal}");
    assert!(!out.exists());
    eprintln!("{signal}: {bytes} bytes in the work folder removed; exited {code} in {took:?}");
}

#[test]
fn sigint_mid_download_removes_the_work_folder_and_exits_130() {
    interrupt_mid_download("INT", "SIGINT", 130);
}

#[test]
fn sigterm_and_sighup_mid_download_remove_the_work_folder_and_exit_143_and_129() {
    interrupt_mid_download("TERM", "SIGTERM", 143);
    interrupt_mid_download("HUP", "SIGHUP", 129);
}

/// A signal that was ignored when airlock started (`nohup`) stays ignored:
/// the export goes on, and its work folder with it.
#[test]
fn an_ignored_sighup_stays_ignored() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "builder");
    let server = stalling_vex_server(&t.join("server"));
    let dir = t.join("out");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("b.airlock");
    let mut child = Command::new(tool("nohup"))
        .arg(airlock_bin())
        .args(["export", "-o", s(&out), "--sign-key", s(&key), "--vex-repo"])
        .arg(server.url())
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let work = wait_mid_download(&dir, &[], &mut child);
    kill(&child, "HUP");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(child.try_wait().unwrap(), None, "SIGHUP ended a nohup run");
    assert!(work.is_dir());
    kill(&child, "INT");
    let (status, _) = wait_bounded(&mut child);
    assert_eq!(status.code(), Some(130));
    assert!(!work.exists());
}

/// SIGKILL cannot be caught: the work folder stays. The next export into
/// the same directory removes it, and says so, while the work folder of an
/// export running beside it (stalled mid-download) is left alone.
#[test]
fn a_killed_runs_work_folder_is_removed_by_the_next_export_but_a_live_ones_is_not() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "builder");
    let inputs = write_inputs(t.path());
    let server = stalling_vex_server(&t.join("server"));
    let dir = t.join("out");
    std::fs::create_dir(&dir).unwrap();

    // A live run, stalled mid-download.
    let live_out = dir.join("live.airlock");
    let mut live = spawn_export(&server, &key, &live_out);
    let live_work = wait_mid_download(&dir, &[], &mut live);

    // A run killed mid-download (started after the live one, whose own
    // sweep would otherwise remove it first).
    let mut dead = spawn_export(&server, &key, &dir.join("dead.airlock"));
    let dead_work = wait_mid_download(&dir, std::slice::from_ref(&live_work), &mut dead);
    kill(&dead, "KILL");
    let (status, _) = wait_bounded(&mut dead);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(dead_work.is_dir(), "SIGKILL cannot be caught");
    let dead_bytes = size_of(&dead_work);
    let live_bytes = size_of(&live_work);

    // The next export into the directory.
    let next = dir.join("next.airlock");
    let out = Command::new(airlock_bin())
        .args([
            "export",
            "-o",
            s(&next),
            "--sign-key",
            s(&key),
            "--vex-manifest",
            s(&inputs.vex_manifest),
            "--vex-archive",
            s(&inputs.vex_archive),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "airlock: removed {}, the work folder of an interrupted airlock run ({dead_bytes} bytes freed)\n",
            dead_work.display()
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("airlock: removed ").count(), 1, "{stderr}");
    assert!(!dead_work.exists());
    assert!(next.is_file());
    // The live run's folder is untouched, and the run goes on.
    assert!(live_work.is_dir());
    assert_eq!(size_of(&live_work), live_bytes);
    assert_eq!(live.try_wait().unwrap(), None);
    assert_eq!(
        airlock_entries(&dir),
        vec![live_work
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()]
    );

    // Once interrupted, it removes its own.
    kill(&live, "INT");
    let (status, _) = wait_bounded(&mut live);
    assert_eq!(status.code(), Some(130));
    assert_eq!(airlock_entries(&dir), Vec::<String>::new());
    assert!(!live_out.exists());
}

#[cfg(feature = "fault-injection")]
mod with_faults {
    use super::*;

    /// Starts an export of the fixture inputs into `out` (more `extra`
    /// flags), paused at the crash point named `at` (the first of them):
    /// `export: payload written` comes after each payload is written into
    /// the temporary bundle, `export: bundle written` after the last byte,
    /// before the bundle or its parts get their names.
    fn paused_export(
        t: &TestDir,
        inputs: &Inputs,
        key: &Path,
        out: &Path,
        extra: &[&str],
        at: &str,
    ) -> Child {
        let pause = t.join("pause");
        let mut args = export_all_args(inputs, key, out);
        args.extend_from_slice(extra);
        let mut child = Command::new(airlock_bin())
            .args(&args)
            .env("AIRLOCK_FAULT_PAUSE", "all")
            .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr_path(out)).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the export ended before {at:?}: {status:?}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never paused at {at:?}"
            );
            // `N NAME`, written in one call (a partial read is retried).
            if let Ok(text) = std::fs::read_to_string(&pause) {
                if text.ends_with('\n') {
                    if text.trim_end().split_once(' ').map(|(_, name)| name) == Some(at) {
                        return child;
                    }
                    std::fs::remove_file(&pause).unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The signal arrives while the bundle (or its parts) is being written:
    /// no partial output, no temporary file, exit 130.
    #[test]
    fn sigint_while_the_bundle_is_written_leaves_no_partial_output() {
        for (extra, at, temporary) in [
            (&[][..], "export: payload written", ".airlock-bundle-"),
            (
                &["--split", "1M"][..],
                "export: bundle written",
                ".airlock-part-",
            ),
        ] {
            let t = TestDir::new();
            let inputs = write_inputs(t.path());
            let (key, _) = keygen(t.path(), "builder");
            let dir = t.join("out");
            std::fs::create_dir(&dir).unwrap();
            let out = dir.join("b.airlock");
            let mut child = paused_export(&t, &inputs, &key, &out, extra, at);
            let left = airlock_entries(&dir);
            // The work folder and the temporary bundle (or one part: the
            // fixtures fit in one).
            let mut kinds: Vec<&str> = left
                .iter()
                .map(|n| {
                    if n.starts_with(temporary) {
                        "temporary"
                    } else if n.starts_with(".airlock-export-") {
                        "work"
                    } else {
                        n
                    }
                })
                .collect();
            kinds.sort();
            assert_eq!(kinds, ["temporary", "work"], "{left:?}");
            kill(&child, "INT");
            let (status, _) = wait_bounded(&mut child);
            let stderr = std::fs::read_to_string(stderr_path(&out)).unwrap();
            assert_eq!(status.code(), Some(130), "{stderr}");
            assert!(
                stderr.contains(
                    "airlock: interrupted by SIGINT; removed 2 temporary files and folders ("
                ),
                "{stderr}"
            );
            assert_eq!(airlock_entries(&dir), Vec::<String>::new(), "{extra:?}");
            let names: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["b.airlock.stderr"], "{extra:?}");
        }
    }

    /// Killed while the bundle is written: the temporary bundle and the work
    /// folder stay, and the next export into the directory removes both.
    #[test]
    fn a_temporary_bundle_left_by_sigkill_is_removed_by_the_next_export() {
        let t = TestDir::new();
        let inputs = write_inputs(t.path());
        let (key, _) = keygen(t.path(), "builder");
        let dir = t.join("out");
        std::fs::create_dir(&dir).unwrap();
        let out = dir.join("b.airlock");
        let mut child = paused_export(&t, &inputs, &key, &out, &[], "export: payload written");
        kill(&child, "KILL");
        let (status, _) = wait_bounded(&mut child);
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        let left = airlock_entries(&dir);
        assert_eq!(left.len(), 2, "{left:?}");
        let sizes: Vec<u64> = left.iter().map(|n| size_of(&dir.join(n))).collect();

        let stderr = String::from_utf8_lossy(
            &Command::new(airlock_bin())
                .args(export_all_args(&inputs, &key, &out))
                .stdin(Stdio::null())
                .output()
                .unwrap()
                .stderr,
        )
        .into_owned();
        assert!(out.is_file(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "airlock: removed {}, the temporary file of an interrupted airlock run ({} bytes freed)\n",
                dir.join(&left[0]).display(),
                sizes[0]
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "airlock: removed {}, the work folder of an interrupted airlock run ({} bytes freed)\n",
                dir.join(&left[1]).display(),
                sizes[1]
            )),
            "{stderr}"
        );
        assert_eq!(airlock_entries(&dir), Vec::<String>::new());
    }

    /// `sign` interrupted after its temporary copy was made: the copy is
    /// removed and the bundle is unchanged.
    #[test]
    fn sigint_during_sign_removes_the_temporary_copy_and_keeps_the_bundle() {
        let t = TestDir::new();
        let e = export_fixtures(&t);
        let (second, _) = keygen(t.path(), "second");
        let before = tree_hash(t.path());
        let pause = t.join("pause");
        let mut child = Command::new(airlock_bin())
            .args(["sign", s(&e.bundle), "--sign-key", s(&second), "--key"])
            .arg(&e.public)
            .env("AIRLOCK_FAULT_PAUSE", "1")
            .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !pause.exists() {
            assert!(child.try_wait().unwrap().is_none(), "sign ended early");
            assert!(start.elapsed() < Duration::from_secs(60), "never paused");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            std::fs::read_to_string(&pause).unwrap(),
            "1 sign: temporary file created\n"
        );
        assert_eq!(airlock_entries(t.path()).len(), 1);
        kill(&child, "INT");
        let (status, _) = wait_bounded(&mut child);
        assert_eq!(status.code(), Some(130));
        std::fs::remove_file(&pause).unwrap();
        assert_eq!(airlock_entries(t.path()), Vec::<String>::new());
        assert_eq!(tree_hash(t.path()), before);
    }

    #[test]
    fn sigint_during_an_import_removes_its_staging_and_keeps_the_cache() {
        let t = TestDir::new();
        let e = export_fixtures(&t);
        let cache = t.join("cache");
        // The same content made a day earlier first: the bundle is then
        // newer and staged in full (the same bundle again would change
        // nothing: "already installed", issue 15).
        let earlier = t.join("earlier.airlock");
        let mut args = export_all_args(&e.inputs, &e.key, &earlier);
        let at = args.iter().position(|a| *a == CREATED).unwrap();
        args[at] = "2026-11-24T12:00:00Z";
        airlock_ok(&args);
        import_ok(&earlier, &e.public, &cache, &[]);
        let before = tree_hash(&cache);
        let pause = t.join("pause");
        let mut child = Command::new(airlock_bin())
            .args(["import", s(&e.bundle), "--key", s(&e.public), "--cache-dir"])
            .arg(&cache)
            .env("AIRLOCK_FAULT_PAUSE", "all")
            .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        // Step through the crash points to the last one before the swaps,
        // with the whole new generation staged.
        loop {
            assert!(child.try_wait().unwrap().is_none(), "import ended early");
            assert!(start.elapsed() < Duration::from_secs(60), "never paused");
            match std::fs::read_to_string(&pause) {
                Ok(at) if at.ends_with(" staging flushed\n") => break,
                Ok(_) => std::fs::remove_file(&pause).unwrap(),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        assert!(
            std::fs::read_dir(&cache).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".airlock-staging-")),
            "the staging area exists while paused"
        );
        kill(&child, "INT");
        let (status, _) = wait_bounded(&mut child);
        assert_eq!(status.code(), Some(130));
        std::fs::remove_file(&pause).unwrap();
        assert_no_leftovers(&cache, ".airlock-staging-");
        // The lock file stays, as after any import; the rest is as before.
        assert_eq!(tree_hash(&cache), before);
    }
}
