//! Interrupted work leaves nothing behind, is recorded, and shows; long work
//! says how far it is (issue 15, items 2 and 9).
//!
//! Signals land at named crash points (the `fault-injection` feature's
//! pauses: the process waits at the point until the test lets it go), so
//! no test races a sleep. Progress lines are tested with
//! `AIRLOCK_PROGRESS_INTERVAL=0` (a line per 1 % of the work) or the default
//! 10 s (work this small prints none).

#![cfg(feature = "fault-injection")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::fixtures::{java_db_tar_gz_padded, NEXT_UPDATE, UPDATED_AT};
use crate::support::paused::Paused;
use crate::support::*;

/// Every name in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The temporary files and folders in `dir`: import's staging, and the
/// other commands' work folders and partial files.
fn temporaries(dir: &Path) -> Vec<String> {
    const KINDS: [&str; 6] = [
        ".airlock-staging-",
        ".airlock-export-",
        ".airlock-bundle-",
        ".airlock-part-",
        ".airlock-sign-",
        ".airlock-sums-",
    ];
    listing(dir)
        .into_iter()
        .filter(|n| KINDS.iter().any(|k| n.starts_with(k)))
        .collect()
}

/// The audit log's lines, parsed.
fn audit_lines(cache: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(cache.join(AUDIT_LOG))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A bundle of one Java DB padded with `padding` incompressible bytes,
/// exported into `dir/big.airlock`; returns (bundle, secret key, public key).
fn big_bundle(t: &TestDir, padding: usize) -> (PathBuf, PathBuf, PathBuf) {
    let (key, public) = keygen(t.path(), "builder");
    let db = t.join("inputs/javadb.tar.gz");
    write(
        &db,
        &java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, padding),
    );
    let bundle = t.join("big.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--java-db",
        s(&db),
        "--created",
        CREATED,
    ]);
    (bundle, key, public)
}

#[test]
fn sign_interrupted_at_each_step_leaves_the_bundle_and_no_copy() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (second, _) = keygen(t.path(), "second");
    let before = listing(t.path());
    let bytes = std::fs::read(&e.bundle).unwrap();
    for (at, sig, code) in [
        ("sign: temporary file created", "TERM", 143),
        ("sign: payload copied", "INT", 130),
        ("sign: copy flushed", "TERM", 143),
    ] {
        let args = [
            "sign",
            s(&e.bundle),
            "--sign-key",
            s(&second),
            "--key",
            s(&e.public),
        ];
        let mut run = Paused::start(&t, "sign", &args);
        run.to(at);
        assert_eq!(temporaries(t.path()).len(), 1, "{at}");
        run.signal(sig);
        let status = run.ended();
        assert_eq!(status.code(), Some(code), "{at}: {}", run.stderr());
        assert_eq!(temporaries(t.path()), Vec::<String>::new(), "{at}");
        let mut now = listing(t.path());
        now.retain(|n| !n.starts_with("sign."));
        assert_eq!(now, before, "{at}");
        assert!(
            std::fs::read(&e.bundle).unwrap() == bytes,
            "{at}: bundle changed"
        );
    }
}

/// SIGKILL cannot be caught: the copy stays; the next `sign` beside it
/// removes it and says so, while a live `sign`'s copy (of another bundle in
/// the same folder) is left alone.
#[test]
fn a_killed_signs_copy_is_removed_by_the_next_sign_but_a_live_ones_is_not() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let other = t.join("other.airlock");
    std::fs::copy(&e.bundle, &other).unwrap();
    let (second, _) = keygen(t.path(), "second");
    let sign_args = |b: &Path| -> Vec<String> {
        [
            "sign",
            s(b),
            "--sign-key",
            s(&second),
            "--key",
            s(&e.public),
        ]
        .map(String::from)
        .to_vec()
    };
    let live_args = sign_args(&other);
    let live_args: Vec<&str> = live_args.iter().map(String::as_str).collect();
    let mut live = Paused::start(&t, "live", &live_args);
    live.to("sign: payload copied");
    let live_copy = temporaries(t.path());
    assert_eq!(live_copy.len(), 1);

    let dead_args = sign_args(&e.bundle);
    let dead_args: Vec<&str> = dead_args.iter().map(String::as_str).collect();
    let mut dead = Paused::start(&t, "dead", &dead_args);
    dead.to("sign: payload copied");
    dead.signal("KILL");
    let _ = dead.ended();
    let mut left = temporaries(t.path());
    left.retain(|n| !live_copy.contains(n));
    assert_eq!(left.len(), 1, "SIGKILL leaves the copy");
    let dead_copy = t.path().join(&left[0]);
    let dead_bytes = std::fs::metadata(&dead_copy).unwrap().len();

    let out = Command::new(airlock_bin())
        .args(&dead_args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().next(),
        Some(
            format!(
                "airlock: removed {}, the temporary file of an interrupted airlock run ({dead_bytes} bytes freed)",
                dead_copy.display()
            )
            .as_str()
        ),
        "{stderr}"
    );
    assert_eq!(temporaries(t.path()), live_copy);
    live.signal("INT");
    assert_eq!(live.ended().code(), Some(130));
    assert_eq!(temporaries(t.path()), Vec::<String>::new());
}

#[test]
fn split_interrupted_by_sigint_or_sigterm_leaves_no_part() {
    let t = TestDir::new();
    let (bundle, key, public) = big_bundle(&t, 300 << 10);
    let out_dir = t.join("parts");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("b.airlock");
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let args = [
            "split",
            s(&bundle),
            "--split",
            "64K",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
            "--key",
            s(&public),
        ];
        let mut run = Paused::start(&t, "split", &args);
        run.to("part written");
        // The first part written, under its temporary name.
        assert_eq!(temporaries(&out_dir).len(), 1, "{:?}", listing(&out_dir));
        run.signal(sig);
        assert_eq!(run.ended().code(), Some(code), "{}", run.stderr());
        assert_eq!(listing(&out_dir), Vec::<String>::new(), "{sig}");
    }
}

#[test]
fn import_interrupted_before_the_swaps_is_recorded_and_changes_nothing_else() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    import_ok(&export_earlier(&t, &e), &e.public, &cache, &[]);
    let before = tree_hash(&cache);
    for (at, sig, name, code) in [
        ("payload read", "INT", "SIGINT", 130),
        ("file staged", "TERM", "SIGTERM", 143),
        ("staging flushed", "INT", "SIGINT", 130),
    ] {
        let lines = audit_lines(&cache).len();
        let args = [
            "import",
            s(&e.bundle),
            "--key",
            s(&e.public),
            "--cache-dir",
            s(&cache),
        ];
        let mut run = Paused::start(&t, "import", &args);
        run.to(at);
        run.signal(sig);
        let status = run.ended();
        let stderr = run.stderr();
        assert_eq!(status.code(), Some(code), "{at}: {stderr}");
        assert_eq!(temporaries(&cache), Vec::<String>::new(), "{at}");
        assert_eq!(tree_hash(&cache), before, "{at}");
        let log = audit_lines(&cache);
        assert_eq!(log.len(), lines + 1, "{at}");
        let last = &log[lines];
        assert_eq!(last["decision"], "refused", "{at}");
        assert_eq!(
            last["reason"],
            format!("interrupted by {name} before anything was installed"),
            "{at}"
        );
        assert_eq!(last["bundle"], s(&e.bundle));
        assert!(
            stderr.contains(&format!(
                "airlock: the interruption is recorded in {} (line {})\n",
                cache.join(AUDIT_LOG).display(),
                lines + 1
            )),
            "{stderr}"
        );
    }
    // The chain holds, and the next import runs clean.
    let out = airlock_ok(&["audit", "--cache-dir", s(&cache)]);
    assert!(
        out.contains("chain intact (1 accepted, 0 forced, 3 refused)"),
        "{out}"
    );
    import_ok(&e.bundle, &e.public, &cache, &[]);
    assert_eq!(temporaries(&cache), Vec::<String>::new());
}

/// From the first swap the signal waits: the import ends, is recorded as
/// accepted, and only then does the process exit with 128 + the signal.
#[test]
fn a_signal_during_the_swaps_waits_for_the_import_and_its_record() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    let reference = t.join("reference");
    import_ok(&e.bundle, &e.public, &reference, &[]);
    let args = [
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--cache-dir",
        s(&cache),
    ];
    let mut run = Paused::start(&t, "import", &args);
    run.to("before swap");
    run.signal("TERM");
    run.wait_for_line("airlock: SIGTERM received; finishing a step that must not be cut short");
    let status = run.finish();
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(143), "{stderr}");
    let log = audit_lines(&cache);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["decision"], "accepted", "{stderr}");
    assert_eq!(temporaries(&cache), Vec::<String>::new());
    let installed = |dir: &Path| {
        let mut h = tree_hash(dir);
        // metadata.json and cache.json record when each was installed.
        h.retain(|k, _| {
            !k.starts_with(".airlock")
                && !k.ends_with("metadata.json")
                && !k.ends_with("cache.json")
        });
        h
    };
    assert_eq!(installed(&cache), installed(&reference));
}

#[test]
fn status_shows_leftovers_and_an_import_in_progress() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    import_ok(&export_earlier(&t, &e), &e.public, &cache, &[]);
    let dead = cache.join(".airlock-staging-dead1");
    write(&dead.join("db/trivy.db"), &[0u8; 3000]);
    let out = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        lines.last().copied(),
        Some(
            format!(
                "leftover: {} (folder, 2.9 KiB) of an interrupted run; no live process holds it, the next run of its kind removes it",
                dead.display()
            )
            .as_str()
        ),
        "{out}"
    );
    assert!(!out.contains("import in progress"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["status", "--cache-dir", s(&cache), "--json"])).unwrap();
    assert_eq!(
        json["leftovers"],
        serde_json::json!([{"path": s(&dead), "dir": true, "bytes": 3000}])
    );

    // A live import, paused with its staging area made.
    let args = [
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--cache-dir",
        s(&cache),
    ];
    let mut run = Paused::start(&t, "import", &args);
    run.to("staging created");
    let pid = run.child.id();
    let staging = temporaries(&cache);
    assert_eq!(staging.len(), 1, "the dead one was removed under the lock");
    let out = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    assert!(
        out.contains(&format!(
            "\nimport in progress: process {pid} holds the cache lock\nin use: {} (folder, 0 B), held by live process {pid}\n",
            cache.join(&staging[0]).display()
        )),
        "{out}"
    );
    run.signal("INT");
    assert_eq!(run.ended().code(), Some(130));
    let out = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    assert!(
        !out.contains("import in progress") && !out.contains("leftover"),
        "{out}"
    );
}

/// `verify` with stderr not a terminal: plain lines for large enough work,
/// none for small work or with `--quiet`.
#[test]
fn plain_progress_lines_without_a_terminal() {
    let t = TestDir::new();
    let (bundle, _, public) = big_bundle(&t, 4 << 20);
    let verify = |b: &Path, interval: Option<&str>, quiet: bool| {
        let mut cmd = Command::new(airlock_bin());
        cmd.args(["verify", s(b), "--key", s(&public)]);
        if quiet {
            cmd.arg("--quiet");
        }
        match interval {
            Some(i) => cmd.env("AIRLOCK_PROGRESS_INTERVAL", i),
            None => cmd.env_remove("AIRLOCK_PROGRESS_INTERVAL"),
        };
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success());
        // The fixture's database is stale: its warning is no progress line.
        String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("airlock: warning: "))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let stderr = verify(&bundle, Some("0"), false);
    let lines: Vec<&str> = stderr.lines().collect();
    let size = std::fs::metadata(&bundle).unwrap().len();
    let total = format!(" of {:.1} MiB (", size as f64 / 1048576.0);
    assert!(lines.len() >= 10, "{stderr}");
    for l in &lines[..lines.len() - 1] {
        assert!(
            l.starts_with("airlock: verify: ") && l.contains(&total) && l.ends_with(" %)"),
            "{l}\n{stderr}"
        );
    }
    assert!(lines[lines.len() - 1].starts_with(&format!(
        "airlock: verify: done, {:.1} MiB in ",
        size as f64 / 1048576.0
    )));
    assert_eq!(verify(&bundle, Some("0"), true), "");
    // The default interval: this work is far shorter.
    assert_eq!(verify(&bundle, None, false), "");
}

/// Export's first pass (each input checked and hashed) reports its bytes.
#[test]
fn exports_first_pass_reports_progress() {
    let t = TestDir::new();
    let (key, _) = keygen(t.path(), "builder");
    let db = t.join("inputs/javadb.tar.gz");
    write(
        &db,
        &java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 2 << 20),
    );
    let out = Command::new(airlock_bin())
        .args([
            "export",
            "-o",
            s(&t.join("b.airlock")),
            "--sign-key",
            s(&key),
        ])
        .args(["--java-db", s(&db), "--created", CREATED])
        .env("AIRLOCK_PROGRESS_INTERVAL", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let size = std::fs::metadata(&db).unwrap().len() as f64 / 1048576.0;
    let check = format!(" of {size:.1} MiB (");
    let first = stderr
        .lines()
        .position(|l| l.starts_with("airlock: check java-db: ") && l.contains(&check));
    let write = stderr
        .lines()
        .position(|l| l.starts_with("airlock: export: "));
    assert!(
        first.is_some() && write.is_some() && first < write,
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("airlock: check java-db: done, ")),
        "{stderr}"
    );
    assert!(!stderr.contains(" 0 B of 0 B"), "{stderr}");
}

/// `sign` (through the same plumbing) prints plain lines too.
#[test]
fn sign_prints_plain_progress_lines_without_a_terminal() {
    let t = TestDir::new();
    let (bundle, _, public) = big_bundle(&t, 2 << 20);
    let (second, _) = keygen(t.path(), "second");
    let out = Command::new(airlock_bin())
        .args([
            "sign",
            s(&bundle),
            "--sign-key",
            s(&second),
            "--key",
            s(&public),
        ])
        .arg("--force")
        .env("AIRLOCK_PROGRESS_INTERVAL", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let size = std::fs::metadata(&bundle).unwrap().len() as f64 / 1048576.0;
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("airlock: sign: ") && l.ends_with(" %)")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("airlock: sign: done, ")),
        "{stderr}"
    );
    assert!(size > 1.0);
}
