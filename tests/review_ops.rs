//! Outside review of issue 15's items 2, 6, 7, 9, 10 (signals, leftovers,
//! status, progress, guidance). Each `#[ignore = "finding: …"]` test fails
//! on the reviewed tip and passes once its finding is fixed.

use std::path::Path;
use std::process::{Command, Stdio};
#[cfg(feature = "fault-injection")]
use std::time::{Duration, Instant};

#[cfg(feature = "fault-injection")]
use crate::support::paused::Paused;
use crate::support::*;

/// What a POSIX shell makes of `word` (one word, as printed): its bytes.
fn shell_word(word: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s {word}"))
        .output()
        .unwrap();
    out.stdout
}

/// The printed scan command holds the cache path on one line, with no
/// control character, and a shell reading it gets the path back.
#[test]
fn scan_commands_stay_one_line_and_run_as_printed_whatever_the_cache_path() {
    use airlock::layout::scan::{scan_commands, Installed};
    let installed = Installed {
        db: true,
        ..Installed::default()
    };
    for cache in [
        "/tmp/a\nhint: run rm -rf ~",
        "/tmp/a\u{1b}[2Jb",
        "/tmp/tab\there",
    ] {
        let c = scan_commands(Path::new(cache), &installed);
        let line = &c[0].command;
        assert!(
            !line.chars().any(airlock::text::is_unsafe),
            "{cache:?}: the command has a raw control character (shown escaped by the CLI's Sanitize or kept as a line break): {line:?}"
        );
        // The CLI prints the command through Sanitize, which keeps '\n' and
        // '\t' raw and escapes the rest: what is pasted must still give the
        // path back.
        let quoted = line
            .split(" --cache-dir ")
            .nth(1)
            .unwrap()
            .split(" --skip-db-update")
            .next()
            .unwrap();
        assert_eq!(shell_word(quoted), cache.as_bytes(), "{line:?}");
    }
}

/// A cache path that is not UTF-8 is printed lossily: the command names
/// another folder.
#[test]
fn scan_commands_name_the_cache_even_when_its_path_is_not_utf8() {
    use airlock::layout::scan::{scan_commands, Installed};
    use std::os::unix::ffi::OsStrExt as _;
    let cache = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9"));
    let installed = Installed {
        db: true,
        ..Installed::default()
    };
    let c = scan_commands(cache, &installed);
    assert!(
        !c[0].command.contains('\u{fffd}'),
        "the command names /tmp/caf\u{fffd}, not the cache: {}",
        c[0].command
    );
}

/// The `mkdir -p` the missing-folder hint prints is a shell command: the
/// folder must be quoted, or the command splits on spaces and runs `$(...)`.
#[test]
fn the_mkdir_hint_runs_as_printed_and_cannot_inject() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let dir = t.join("usb stick/$(touch PWNED)");
    let out = dir.join("x.airlock");
    // split checks its output folder before the key is read.
    let r = airlock(&[
        "split",
        s(&e.bundle),
        "--split",
        "64K",
        "-o",
        s(&out),
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
    ]);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr).into_owned();
    let hint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: create it first ("))
        .unwrap_or_else(|| panic!("{stderr}"));
    let cmd = hint.split(") or write elsewhere").next().unwrap();
    let work = t.join("paste");
    std::fs::create_dir_all(&work).unwrap();
    let ran = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        !work.join("PWNED").exists(),
        "pasting `{cmd}` ran the path's $(...)"
    );
    assert!(dir.is_dir(), "`{cmd}` did not create {}", dir.display());
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A signal after the older generation was set aside but before the first
/// swap: the handler records "refused … before anything was installed" and
/// exits, leaving the previous generation (what `airlock rollback` goes back
/// to) under a staging name that the next import deletes.
#[cfg(feature = "fault-injection")]
#[test]
fn a_signal_after_the_older_generation_is_set_aside_puts_it_back() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    // Three bundles (the same bundle twice changes nothing the second time,
    // "already installed"): two imports keep a previous generation, the
    // third sets it aside.
    let first = t.join("first.airlock");
    let mut args = export_all_args(&e.inputs, &e.key, &first);
    let at = args.iter().position(|a| *a == CREATED).expect("--created");
    args[at] = "2026-11-23T12:00:00Z";
    airlock_ok(&args);
    import_ok(&first, &e.public, &cache, &[]);
    import_ok(&export_earlier(&t, &e), &e.public, &cache, &[]);
    assert!(
        cache.join(".airlock-previous").exists(),
        "two imports keep a previous generation: {:?}",
        names(&cache)
    );
    let before = tree_hash(&cache);
    let args = [
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--cache-dir",
        s(&cache),
    ];
    let mut run = Paused::start(&t, "import", &args);
    run.to("older generation set aside");
    run.signal("INT");
    let status = run.finish();
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let leftovers: Vec<String> = names(&cache)
        .into_iter()
        .filter(|n| n.starts_with(".airlock-staging-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new(), "{stderr}");
    assert!(
        cache.join(".airlock-previous").exists(),
        "the previous generation is gone: {:?}",
        names(&cache)
    );
    assert_eq!(tree_hash(&cache), before, "{stderr}");
}

/// `status` decides "held by a live process" by the inode number alone in
/// `/proc/locks`, ignoring its device: a dead run's leftover is reported as
/// in use whenever any process holds a lock on a file of another file system
/// with the same inode number (two tmpfs mounts make it certain).
#[test]
fn status_does_not_call_a_dead_leftover_held_because_of_another_file_systems_lock() {
    let t = TestDir::new();
    let script = r#"
D=$1; B=$2
mkdir -p "$D/a" "$D/b"
mount -t tmpfs a "$D/a" && mount -t tmpfs b "$D/b" || exit 90
mkdir "$D/a/cache"
echo x > "$D/a/cache/.airlock-sign-dead.partial"
I=$(stat -c %i "$D/a/cache/.airlock-sign-dead.partial")
F=
for i in 1 2 3 4 5 6 7 8; do
  touch "$D/b/f$i"
  if [ "$(stat -c %i "$D/b/f$i")" = "$I" ]; then F="$D/b/f$i"; break; fi
done
[ -n "$F" ] || exit 91
(exec 9<"$F"; flock 9; exec sleep 30) </dev/null >/dev/null 2>&1 &
P=$!
for i in $(seq 50); do grep -q " $P .*:$I " /proc/locks && break; sleep 0.1; done
"$B" status --cache-dir "$D/a/cache"
R=$?
kill $P
exit $R
"#;
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(t.path())
        .arg(airlock_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("leftover: ") && !stdout.contains("held by live process"),
        "a dead run's file, locked by nobody, is shown as in use:\n{stdout}"
    );
}

/// Whoever can read the audit log (mode 0644) can `flock` it. An import then
/// blocks at its record with no limit, inside the section a signal waits
/// for: SIGTERM (a service manager's stop) no longer ends it, ever.
#[cfg(feature = "fault-injection")]
#[test]
fn sigterm_ends_an_import_waiting_for_the_audit_logs_lock() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    // An earlier bundle first: the same bundle twice changes nothing.
    import_ok(&export_earlier(&t, &e), &e.public, &cache, &[]);
    let log = cache.join(AUDIT_LOG);
    // One process takes the lock and keeps it (killing it releases it).
    let mut holder = Command::new("sh")
        .args([
            "-c",
            "exec 9<\"$1\"; flock --shared 9; exec sleep 120",
            "sh",
        ])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The holder has its lock before the import starts.
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap());
    let start = Instant::now();
    while !std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains(&format!(":{ino} ")))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "flock never locked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let args = [
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--cache-dir",
        s(&cache),
    ];
    let mut run = Paused::start(&t, "import", &args);
    // Past the swaps: the import now waits for the log.
    run.to("swaps done");
    let _ = std::fs::remove_file(&run.pause);
    // Let every later point pass, then signal.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let _ = std::fs::remove_file(&run.pause);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(run.child.try_wait().unwrap().is_none(), "{}", run.stderr());
    run.signal("TERM");
    let signalled = Instant::now();
    let mut ended = None;
    while signalled.elapsed() < Duration::from_secs(20) {
        let _ = std::fs::remove_file(&run.pause);
        if let Some(s) = run.child.try_wait().unwrap() {
            ended = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = run.stderr();
    let _ = run.child.kill();
    let _ = run.child.wait();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        ended.is_some(),
        "20 s after SIGTERM the import still waits (for a lock another process holds):\n{stderr}"
    );
    // Its swaps are done: the missing record is said, not passed over.
    assert_eq!(ended.unwrap().code(), Some(143), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with(
            "airlock: the import ended (accepted) but is not in the audit log: cannot lock the audit log "
        ) && l.ends_with(": a signal ended the wait for another process's lock on it")),
        "{stderr}"
    );
}

/// The sweep knows airlock's leftovers by their name's prefix alone: a
/// folder the user made and named `.airlock-export-…` is deleted with
/// everything in it by the next export, split or join writing beside it.
/// airlock's own names are `<prefix>` + 6 random characters (+ suffix).
#[test]
fn split_leaves_a_users_folder_that_only_looks_like_a_leftover() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let out_dir = t.join("usb");
    let mine = out_dir.join(".airlock-export-settings-backup");
    write(&mine.join("notes.txt"), b"my own notes");
    write(
        &out_dir.join(".airlock-bundle-old-2024.partial"),
        b"kept on purpose",
    );
    airlock_ok(&[
        "split",
        s(&e.bundle),
        "--split",
        "64K",
        "-o",
        s(&out_dir.join("b.airlock")),
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
    ]);
    assert!(
        mine.join("notes.txt").is_file(),
        "the user's folder was swept: {:?}",
        names(&out_dir)
    );
    assert!(out_dir.join(".airlock-bundle-old-2024.partial").is_file());
}

/// `text::bytes` rounds 1023.95 KiB and up to "1024.0 KiB".
#[test]
fn sizes_just_under_a_unit_do_not_show_as_1024() {
    assert_eq!(airlock::text::bytes((1 << 20) - 1), "1.0 MiB");
    assert_eq!(airlock::text::bytes((1 << 30) - 1), "1.0 GiB");
}

/// `sign` writes its copy beside the real file a link names (sign.rs
/// `open_locked`, and `sweep_beside`), but the cheap check before the key
/// looks at the link's folder: a link in a read-only folder to a bundle in
/// a writable one is refused ("cannot write in the output folder") although
/// sign would succeed; the other way round the check passes and the key is
/// unlocked for nothing.
#[test]
fn signs_cheap_check_looks_where_sign_writes() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (approver, _) = keygen(t.path(), "approver");
    let script = r#"
D=$1; B=$2; BUNDLE=$3; KEY=$4; PUB=$5
mkdir -p "$D/links"
mount -t tmpfs links "$D/links" || exit 90
ln -s "$BUNDLE" "$D/links/b.airlock"
mount -o remount,ro "$D/links" || exit 91
"$B" sign "$D/links/b.airlock" --sign-key "$KEY" --key "$PUB"
"#;
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(t.path())
        .arg(airlock_bin())
        .arg(&e.bundle)
        .arg(&approver)
        .arg(&e.public)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "sign through a link in a read-only folder, to a bundle in a writable one:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `import --push` without a cache (`--audit-log` given), interrupted after
/// the manifests were put: the registry's tags now serve the bundle, yet
/// the record says `refused` ("nothing was installed, which is what
/// `refused` means to every reader of the log", interrupted.rs) and lists
/// nothing pushed.
#[cfg(feature = "fault-injection")]
#[test]
fn a_push_interrupted_after_its_manifests_went_up_is_not_recorded_as_refused() {
    use crate::support::registry::Registry;
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let reg = Registry::plain(&t.join("registry"));
    let target = format!("{}/aquasec", reg.host());
    let log = t.join("audit.jsonl");
    let args = [
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--push",
        &target,
        "--audit-log",
        s(&log),
    ];
    let mut run = Paused::start(&t, "push", &args);
    run.to("manifests pushed");
    run.signal("INT");
    let status = run.finish();
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(130), "{stderr}");
    // The registry serves the bundle's manifests under its tags now.
    let served = reg.raw_manifest("aquasec/trivy-db:2");
    assert!(!served.is_empty(), "{stderr}");
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(
        last["decision"] != "refused"
            || last["installed"].as_array().is_some_and(|a| !a.is_empty()),
        "the log says nothing went in, while the registry serves it:\n{last:#}"
    );
}

/// `AIRLOCK_PROGRESS_INTERVAL=1e30` is a finite, non-negative number, which
/// `interval()` accepts and hands to `Duration::from_secs_f64`: it panics.
#[test]
fn a_huge_progress_interval_does_not_panic() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let out = Command::new(airlock_bin())
        .args(["verify", s(&e.bundle), "--key", s(&e.public)])
        .env("AIRLOCK_PROGRESS_INTERVAL", "1e30")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A stale part of an earlier split (`b.airlock.002`) in the output folder:
/// the cheap checks look only at `.001`, the index and the sums, so `split`
/// says "split it into 1 part … carry every file above" and exits 0, and the
/// set it leaves is refused by verify and import (exit 4, "nothing may
/// follow the last part").
#[test]
fn split_does_not_report_success_for_a_set_that_verify_refuses() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let out_dir = t.join("usb");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("b.airlock");
    // As many parts as the bundle needs, plus one more from an older split.
    let size = std::fs::metadata(&e.bundle).unwrap().len();
    let parts = size.div_ceil(64 << 10) as usize;
    write(
        &out_dir.join(format!("b.airlock.{:03}", parts + 1)),
        b"stale",
    );
    let r = airlock(&[
        "split",
        s(&e.bundle),
        "--split",
        "64K",
        "-o",
        s(&out),
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
    ]);
    if r.status.success() {
        let v = airlock(&[
            "verify",
            s(&out_dir.join("b.airlock.001")),
            "--key",
            s(&e.public),
        ]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "split succeeded but its set is refused:\n{}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
}

/// Issue 15 item 10 ("1 parts") lives on in PartError::Extra.
#[test]
fn the_extra_part_message_counts_in_words() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let out_dir = t.join("usb");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("b.airlock");
    airlock_ok(&[
        "split",
        s(&e.bundle),
        "--split",
        "64M",
        "-o",
        s(&out),
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
    ]);
    write(&out_dir.join("b.airlock.002"), b"stale");
    let v = airlock(&[
        "verify",
        s(&out_dir.join("b.airlock.001")),
        "--key",
        s(&e.public),
    ]);
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(err.contains("nothing may follow the last part"), "{err}");
    assert!(!err.contains(" 1 parts"), "{err}");
}

/// `status` printed a leftover's path through `Sanitize`, which keeps line
/// breaks: a cache folder with a newline in its path printed a line of the
/// attacker's choosing (here a forged "import in progress"). (Leftover
/// names themselves are now only airlock's own alphabet.)
#[test]
fn status_prints_each_leftover_on_one_line() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("c\nimport in progress: process 1 holds the cache lock\nx");
    import_ok(&e.bundle, &e.public, &cache, &[]);
    write(&cache.join(".airlock-sign-dead12.partial"), b"x");
    let out = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    assert!(
        !out.lines().any(|l| l.starts_with("import in progress")),
        "a path printed a status line:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("leftover: ")
            && l.contains("c\\u{a}import in progress")
            && l.contains(".airlock-sign-dead12.partial")),
        "the leftover is listed, escaped, on one line:\n{out}"
    );
}

/// Ctrl-C on `airlock import … 2>&1 | tee log` signals tee too; once tee is
/// gone, the handler's `eprintln!` fails (EPIPE) and panics on the handler
/// thread: the process never exits, its work threads wait at their
/// checkpoints, and it keeps the cache lock (every later import is refused
/// as "locked") until someone kills it.
#[cfg(feature = "fault-injection")]
#[test]
fn a_signal_with_stderr_a_closed_pipe_still_ends_the_process() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    // An earlier bundle first: the same bundle twice changes nothing.
    import_ok(&export_earlier(&t, &e), &e.public, &cache, &[]);
    let pause = t.join("pipe.pause");
    let mut child = Command::new(airlock_bin())
        .args([
            "import",
            s(&e.bundle),
            "--key",
            s(&e.public),
            "--cache-dir",
            s(&cache),
        ])
        .env("AIRLOCK_FAULT_PAUSE", "all")
        .env("AIRLOCK_FAULT_PAUSE_FILE", &pause)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader (tee) is gone.
    drop(child.stderr.take());
    let start = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "ended early");
        assert!(start.elapsed() < Duration::from_secs(60), "never staged");
        if let Ok(text) = std::fs::read_to_string(&pause) {
            if text.ends_with('\n') {
                if text.trim_end().ends_with(" file staged") {
                    break;
                }
                std::fs::remove_file(&pause).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let signalled = Instant::now();
    let mut status = None;
    while signalled.elapsed() < Duration::from_secs(15) {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        // After a moment, let the work past its pause too: nothing ends it.
        if signalled.elapsed() > Duration::from_secs(2) {
            let _ = std::fs::remove_file(&pause);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let still_running = status.is_none();
    // Meanwhile the cache stays locked for every other import.
    let locked = still_running && {
        let r = airlock(&[
            "import",
            s(&e.bundle),
            "--key",
            s(&e.public),
            "--cache-dir",
            s(&cache),
        ]);
        !r.status.success()
    };
    // Let it go (it waits at a checkpoint or its pause), then make sure.
    let _ = std::fs::remove_file(&pause);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !still_running,
        "15 s after SIGINT the import still runs (its handler thread died on a failed write to stderr); another import refused: {locked}"
    );
    assert_eq!(status.unwrap().code(), Some(130));
}

/// A cache with a vulnerability DB and no Java DB: the printed `rootfs`
/// command carries `--skip-java-db-update`, and the real Trivy ends it with
/// FATAL "'--skip-java-db-update' cannot be specified on the first run" on
/// any root file system holding a jar (the shipped example rootfs does).
/// `installed.java_db` is read but never used by `argv`.
#[test]
fn the_printed_rootfs_command_works_on_a_cache_without_a_java_db() {
    use crate::support::fixtures::*;
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "builder");
    let db = t.join("db.tar.gz");
    write(&db, &trivy_db_tar_gz(2, UPDATED_AT, NEXT_UPDATE));
    let b = t.join("db.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&b),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&db),
    ]);
    let cache = t.join("cache");
    let out = import_ok(&b, &public, &cache, &[]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("  trivy rootfs "))
        .unwrap_or_else(|| panic!("{out}"));
    // "replace / . or IMAGE with what to scan": the shipped example rootfs.
    let rootfs = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/rootfs");
    let line = format!(
        "trivy rootfs {} {}",
        line.strip_suffix(" /").unwrap(),
        airlock::layout::scan::shell_quote(s(&rootfs))
    );
    let trivy = crate::support::trivy::trivy_bin();
    let path = format!(
        "{}:{}",
        trivy.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = Command::new("sh")
        .args(["-c", &line])
        .env("PATH", path)
        .env("HOME", t.join("home"))
        .env("XDG_DATA_HOME", t.join("xdg"))
        .env("TRIVY_SCANNERS", "vuln")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// `join` passes no size to the cheap checks (`needed: None`): on a file
/// system too small for the bundle it reads and writes until ENOSPC instead
/// of refusing up front as export, split and sign do.
#[test]
fn join_refuses_up_front_when_the_bundle_cannot_fit() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let parts = t.join("parts");
    std::fs::create_dir(&parts).unwrap();
    airlock_ok(&[
        "split",
        s(&e.bundle),
        "--split",
        "64K",
        "-o",
        s(&parts.join("b.airlock")),
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
    ]);
    let size = std::fs::metadata(&e.bundle).unwrap().len();
    let script = r#"
D=$1; B=$2; PART=$3; PUB=$4; KB=$5
mkdir -p "$D/small"
mount -t tmpfs -o size=${KB}k small "$D/small" || exit 90
"$B" join "$PART" -o "$D/small/b.airlock" --key "$PUB"
"#;
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(t.path())
        .arg(airlock_bin())
        .arg(parts.join("b.airlock.001"))
        .arg(&e.public)
        .arg(((size / 1024) / 2).max(4).to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(90), "{err}");
    assert!(
        err.contains("not enough free space"),
        "exit {:?}:\n{err}",
        out.status.code()
    );
}
