//! Interruptions and leftovers beyond tests/review_ops.rs's findings: a
//! crash with the previous generation set aside, other commands' leftovers
//! in a cache, a rollback in progress as `status` shows them.
#![cfg(feature = "fault-injection")]

use std::path::{Path, PathBuf};

use crate::support::paused::Paused;
use crate::support::*;

fn import_args<'a>(bundle: &'a Path, public: &'a Path, cache: &'a Path) -> Vec<&'a str> {
    vec![
        "import",
        s(bundle),
        "--key",
        s(public),
        "--cache-dir",
        s(cache),
    ]
}

/// A cache with a previous generation: two different bundles imported
/// (`first.airlock`, a day before `earlier.airlock`), `b.airlock` newer.
fn cache_with_previous(t: &TestDir, e: &Exported) -> PathBuf {
    let first = t.join("first.airlock");
    let mut args = export_all_args(&e.inputs, &e.key, &first);
    let at = args.iter().position(|a| *a == CREATED).expect("--created");
    args[at] = "2026-11-23T12:00:00Z";
    airlock_ok(&args);
    let cache = t.join("cache");
    import_ok(&first, &e.public, &cache, &[]);
    import_ok(&export_earlier(t, e), &e.public, &cache, &[]);
    assert!(cache.join(".airlock-previous").is_dir());
    cache
}

/// A crash (SIGKILL) right after the previous generation was set aside:
/// `status` says it is set aside and that the next import puts it back,
/// and it does; another command's dead leftover in the cache is said to be
/// removed by the next import, and it is.
#[test]
fn a_crash_with_the_previous_generation_set_aside_is_undone_by_the_next_import() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = cache_with_previous(&t, &e);
    let previous = tree_hash(&cache.join(".airlock-previous"));
    let args = import_args(&e.bundle, &e.public, &cache);
    let mut run = Paused::start(&t, "crash", &args);
    run.to("older generation set aside");
    let pid = run.child.id();
    run.kill();
    let aside = cache.join(format!(".airlock-staging-previous-{pid}"));
    assert!(aside.is_dir() && !cache.join(".airlock-previous").exists());
    // A dead `sign`'s temporary file beside a bundle kept in the cache.
    let dead_sign = cache.join(".airlock-sign-dead1.partial");
    write(&dead_sign, &[0u8; 10]);
    let out = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    let bytes = airlock::text::bytes(walk_bytes(&aside));
    let expected = [
        format!(
            "leftover: {} (file, 10 B) of an interrupted run; no live process holds it, the next import into this cache or run of its kind writing here removes it",
            dead_sign.display()
        ),
        format!(
            "set aside: {} (folder, {bytes}), the previous generation of an interrupted import; no live process holds it, the next import puts it back for `airlock rollback`",
            aside.display()
        ),
    ];
    for line in &expected {
        assert!(out.lines().any(|l| l == line), "{line}\n{out}");
    }

    let mut next = Paused::start(&t, "next", &args);
    next.to("leftovers removed");
    assert_eq!(tree_hash(&cache.join(".airlock-previous")), previous);
    assert!(!aside.exists() && !dead_sign.exists());
    assert_eq!(next.finish().code(), Some(0));
}

/// File lengths under `dir`, as `status` counts them.
fn walk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk_bytes(&e.path())
            } else if t.is_file() {
                e.metadata().unwrap().len()
            } else {
                0
            }
        })
        .sum()
}

/// `airlock rollback` takes the cache lock too: `status` names it as a
/// rollback, not an import.
#[test]
fn status_tells_a_rollback_in_progress_from_an_import() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = cache_with_previous(&t, &e);
    let mut run = Paused::start(&t, "rollback", &["rollback", "--cache-dir", s(&cache)]);
    run.to("rolled back");
    let pid = run.child.id();
    let out = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    assert!(
        out.contains(&format!(
            "\nrollback in progress: process {pid} holds the cache lock\n"
        )),
        "{out}"
    );
    assert!(!out.contains("import in progress"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["status", "--cache-dir", s(&cache), "--json"])).unwrap();
    assert_eq!(json["rollback_in_progress"], pid, "{json:#}");
    assert!(json.get("import_in_progress").is_none(), "{json:#}");
    assert_eq!(run.finish().code(), Some(0));
}
