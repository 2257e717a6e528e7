//! Fixes of the review of issue 15's guidance (tests/review_ops.rs findings
//! 5, 6, 7, 10-14, 16): the classes behind them, beyond each finding's case.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Runs `sh -c line` in `dir`.
fn sh_in(dir: &Path, line: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// An earlier, longer split left parts with a gap (`.N+2` but no `.N+1`):
/// `split` refuses before the key is read (exit 2, naming the part), and
/// with --force replaces the whole set: the new one verifies, the stale
/// part is gone (a `cat b.airlock.0*` would have appended it).
#[test]
fn split_refuses_beside_any_earlier_part_and_force_replaces_the_set() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let out_dir = t.join("usb");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("b.airlock");
    let size = std::fs::metadata(&e.bundle).unwrap().len();
    let parts = size.div_ceil(64 << 10) as usize;
    let stale = out_dir.join(format!("b.airlock.{:03}", parts + 2));
    write(&stale, b"stale");
    let args = |force: bool| {
        let mut v = vec![
            "split".to_string(),
            s(&e.bundle).to_string(),
            "--split".into(),
            "64K".into(),
            "-o".into(),
            s(&out).to_string(),
            "--sign-key".into(),
            "/nonexistent/key".into(),
            "--key".into(),
            s(&e.public).to_string(),
        ];
        if force {
            v.push("--force".into());
            v[7] = s(&e.key).to_string();
        }
        v
    };
    let a = args(false);
    let r = airlock(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        format!(
            "airlock: error: {} already exists\nhint: choose another output, or pass --force to replace it\n",
            stale.display()
        )
    );
    assert_eq!(r.status.code(), Some(2));
    let a = args(true);
    airlock_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stale.exists(), "the stale part is still there");
    airlock_ok(&[
        "verify",
        s(&out_dir.join("b.airlock.001")),
        "--key",
        s(&e.public),
    ]);
}

/// `export --split` has the same cheap check (exit 2 before any work).
#[test]
fn export_split_refuses_beside_an_earlier_sets_part() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    let out_dir = t.join("usb");
    let stale = out_dir.join("b.airlock.007");
    write(&stale, b"stale");
    let r = airlock(&[
        "export",
        "-o",
        s(&out_dir.join("b.airlock")),
        "--split",
        "1M",
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&inputs.db),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&r.stderr).lines().next().unwrap(),
        format!("airlock: error: {} already exists", stale.display())
    );
}

/// A key file readable by others, in a folder whose name a shell would
/// split and expand: the printed `chmod 600` runs as printed.
#[test]
fn the_chmod_hint_runs_as_printed() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let dir = t.join("my keys $(touch PWNED)");
    std::fs::create_dir(&dir).unwrap();
    let key = dir.join("k.key");
    std::fs::copy(&e.key, &key).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = airlock(&[
        "sign",
        s(&e.bundle),
        "--sign-key",
        s(&key),
        "--key",
        s(&e.public),
    ]);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr).into_owned();
    let cmd = stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: run `"))
        .and_then(|l| l.strip_suffix('`'))
        .unwrap_or_else(|| panic!("{stderr}"));
    let work = t.join("paste");
    std::fs::create_dir(&work).unwrap();
    let ran = sh_in(&work, cmd);
    assert!(ran.status.success(), "{cmd}: {ran:?}");
    assert!(!work.join("PWNED").exists(), "pasting `{cmd}` ran $(...)");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{cmd}");
}

/// A cache path ending with a line break cannot be named by a one-line
/// command: the import says so instead of printing a broken command.
#[test]
fn no_scan_command_is_printed_for_a_cache_path_ending_in_a_line_break() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache\n");
    let out = import_ok(&e.bundle, &e.public, &cache, &[]);
    assert!(
        out.contains("\n  (none printed: the cache path ends with a line break, which no one-line shell command can name; --json lists each command's argv)\n"),
        "{out}"
    );
    assert!(!out.contains("  trivy "), "{out}");
}

/// A cache path that is not UTF-8: the printed commands name it exactly
/// (pasted into `sh`, the rootfs command's `--cache-dir` is the cache).
#[test]
fn scan_commands_name_a_non_utf8_cache_exactly() {
    use std::os::unix::ffi::OsStrExt as _;
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9 cache"));
    let out = airlock_ok_os(&[
        "import".as_ref(),
        e.bundle.as_os_str(),
        "--key".as_ref(),
        e.public.as_os_str(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
    ]);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("  trivy rootfs --cache-dir "))
        .unwrap_or_else(|| panic!("{out}"));
    let word = line.split(" --skip-db-update").next().unwrap();
    let printed = sh_in(t.path(), &format!("printf %s {word}"));
    assert_eq!(printed.stdout, cache.as_os_str().as_bytes(), "{line}");
}

/// `airlock ARGS` (any bytes), which must succeed; returns stdout.
fn airlock_ok_os(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(airlock_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
