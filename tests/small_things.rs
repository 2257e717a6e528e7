//! Issue 15, item 10: small things that erode trust. Every missing part
//! named at once; counts and sizes written as a person would; series and
//! sequence in the human reports; the audit log's absolute paths and user
//! name; the smallest part size documented.

use std::path::Path;
use std::process::Command;

use crate::support::fixtures::*;
use crate::support::*;

/// A bundle of the fixture inputs with a 300 KiB Java DB, split into 64 KiB
/// parts in `media/`; returns (exported, media dir, part count).
fn split_small(t: &TestDir) -> (Exported, std::path::PathBuf, usize) {
    let inputs = write_inputs(t.path());
    write(
        &inputs.java_db,
        &java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 300 << 10),
    );
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    export_all(&inputs, &key, &bundle);
    let media = t.join("media");
    std::fs::create_dir(&media).unwrap();
    let out = airlock_ok(&[
        "split",
        s(&bundle),
        "--split",
        "64K",
        "-o",
        s(&media.join("b.airlock")),
        "--sign-key",
        s(&key),
        "--key",
        s(&public),
    ]);
    let count = std::fs::read_dir(&media).unwrap().count() - 2;
    assert!(count >= 5, "{count} parts");
    assert!(
        out.starts_with(&format!(
            "verified {} and split it into {count} parts (the bundle itself is unchanged):\n",
            bundle.display()
        )),
        "{out}"
    );
    (
        Exported {
            inputs,
            key,
            public,
            bundle,
        },
        media,
        count,
    )
}

#[test]
fn every_missing_part_is_named_at_once() {
    let t = TestDir::new();
    let (e, media, count) = split_small(&t);
    for n in [2, 4] {
        std::fs::remove_file(media.join(format!("b.airlock.{n:03}"))).unwrap();
    }
    let err = airlock_fails(
        &[
            "verify",
            s(&media.join("b.airlock.001")),
            "--key",
            s(&e.public),
        ],
        4,
    );
    let p = |n: usize| {
        media
            .join(format!("b.airlock.{n:03}"))
            .display()
            .to_string()
    };
    assert_eq!(
        err,
        format!(
            "airlock: error: parts 2 and 4 of {count} are missing: {}, {}\nhint: copy them from the original media into the same directory; nothing was imported\n",
            p(2),
            p(4)
        )
    );
    // Three: a list.
    std::fs::remove_file(media.join("b.airlock.005")).unwrap();
    let err = airlock_fails(
        &[
            "verify",
            s(&media.join("b.airlock.001")),
            "--key",
            s(&e.public),
        ],
        4,
    );
    assert!(
        err.starts_with(&format!(
            "airlock: error: parts 2, 4 and 5 of {count} are missing: {}, {}, {}\n",
            p(2),
            p(4),
            p(5)
        )),
        "{err}"
    );
}

#[test]
fn one_part_and_one_package_are_singular_and_small_sizes_are_bytes() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let out = airlock_ok(&[
        "split",
        s(&e.bundle),
        "--split",
        "fat32",
        "-o",
        s(&t.join("one.airlock")),
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
    ]);
    assert!(
        out.contains(" and split it into 1 part (the bundle"),
        "{out}"
    );
    let out = airlock_ok(&["inspect", s(&e.bundle)]);
    assert!(out.contains(", 1 package, updated_at "), "{out}");
    // A payload under 1 KiB shows in bytes, never "0.0 MiB".
    assert!(out.contains(" db.tar.gz (938 B) layer "), "{out}");
    assert!(!out.contains(" 0.0 "), "{out}");
    let cache = t.join("cache");
    let out = import_ok(&e.bundle, &e.public, &cache, &[]);
    assert!(
        out.contains("/vex/repositories/default (new): 1 package\n"),
        "{out}"
    );
    let status = airlock_ok(&["status", "--cache-dir", s(&cache)]);
    assert!(!status.contains("0.0 MiB"), "{status}");
}

#[test]
fn series_and_sequence_show_in_every_human_report() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("s.airlock");
    let mut args = export_all_args(&inputs, &key, &bundle);
    args.extend(["--series", "monthly", "--sequence", "7"]);
    let out = airlock_ok(&args);
    assert!(out.contains("\nseries monthly, sequence 7\n"), "{out}");
    let out = airlock_ok(&["inspect", s(&bundle)]);
    assert!(out.contains("\nseries:   monthly, sequence 7\n"), "{out}");
    let out = airlock_ok(&["verify", s(&bundle), "--key", s(&public)]);
    assert!(out.contains("\nseries monthly, sequence 7\n"), "{out}");
    let out = import_ok(&bundle, &public, &t.join("cache"), &[]);
    assert!(out.contains("\nseries monthly, sequence 7\n"), "{out}");
}

#[test]
fn the_audit_log_records_absolute_paths_and_the_user_name() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    // Relative names, as an operator types them; no USER or LOGNAME (as
    // under sudo -i, cron or a service), so the name comes from passwd.
    let out = Command::new(airlock_bin())
        .args([
            "import",
            "b.airlock",
            "--key",
            "builder.pub",
            "--cache-dir",
            "cache",
        ])
        .current_dir(t.path())
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = std::fs::read_to_string(t.join("cache").join(AUDIT_LOG)).unwrap();
    let entry: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let root = t.path().canonicalize().unwrap();
    let under = |p: &str| {
        // The temp dir may be reached through a link (/tmp): compare resolved.
        let p = Path::new(p);
        assert!(p.is_absolute(), "{p:?}");
        p.canonicalize().unwrap().starts_with(&root)
    };
    assert!(under(entry["bundle"].as_str().unwrap()), "{entry}");
    assert_eq!(
        Path::new(entry["bundle"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        e.bundle.canonicalize().unwrap()
    );
    assert!(under(entry["cache_dir"].as_str().unwrap()), "{entry}");
    for c in entry["installed"].as_array().unwrap() {
        assert!(Path::new(c["path"].as_str().unwrap()).is_absolute(), "{c}");
    }
    // The user by name from the passwd database, with the uid.
    let uid = run_ok(Command::new("id").arg("-u"));
    let name = run_ok(Command::new("id").arg("-un"));
    assert_eq!(
        entry["user"],
        format!("{} (uid {})", name.trim(), uid.trim()),
        "{entry}"
    );
    // The chain still checks, the old entries with it.
    let out = airlock_ok(&["audit", "--cache-dir", s(&t.join("cache"))]);
    assert!(!out.is_empty());
}

#[test]
fn the_smallest_part_size_is_documented_and_enforced() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains("at least 64 KiB (`64K`, 65536\nbytes; smaller is refused)"),
        "README"
    );
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let err = airlock_fails(
        &[
            "split",
            s(&e.bundle),
            "--split",
            "63K",
            "-o",
            s(&t.join("x.airlock")),
            "--sign-key",
            s(&e.key),
            "--key",
            s(&e.public),
        ],
        2,
    );
    assert!(
        err.starts_with(
            "airlock: error: --split \"63K\" is smaller than the smallest part size, 65536 bytes\n"
        ),
        "{err}"
    );
}
