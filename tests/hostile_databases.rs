//! Signed-but-hostile databases (security issue 11, "a database Trivy cannot
//! open replaces one it can"): validly signed bundles whose only fault is
//! the content of trivy.db or trivy-java.db. `verify` refuses each,
//! `import` refuses each with the bundle-content exit code and leaves a
//! working cache byte for byte as it was (and Trivy still scans with it),
//! and `export` refuses to bundle each. Also shown with the real Trivy:
//! the bucket rule refuses what breaks Trivy and nothing it works with.

use std::path::Path;
use std::process::{Command, Stdio};

use airlock::manifest::ArtifactKind;

use crate::corpus::exported_base;
use crate::support::fixtures::*;
use crate::support::trivy::*;
use crate::support::*;

/// One hostile database.
pub(crate) struct HostileDb {
    pub name: &'static str,
    pub kind: ArtifactKind,
    pub db: Vec<u8>,
    /// What every refusal of it says.
    pub needle: &'static str,
}

/// A fixture trivy-java.db with one b-tree page garbled (the header and
/// the schema page intact): page 3 is the `indices` table's root.
fn java_db_with_a_damaged_page() -> Vec<u8> {
    let mut db = java_db_bytes();
    let page = 4096;
    assert!(db.len() >= 4 * page, "{} bytes", db.len());
    db[2 * page..3 * page].fill(0xA5);
    db
}

/// The hostile databases of issue 11.
pub(crate) fn hostile_databases() -> Vec<HostileDb> {
    let good = trivy_db(2);
    let mut both_metas = good.clone();
    for meta in [0, 4096] {
        // A byte of the root pgid: the meta no longer matches its checksum.
        both_metas[meta + 16 + 16] ^= 0x5a;
    }
    // The leaf page of a bucket below the top level (the one that lists
    // zlib's vulnerabilities) flagged as a freelist page: Trivy panics
    // ("invalid page type") when a scan reaches it.
    let mut nested = good.clone();
    let zlib_leaf = (3..nested.len() / 4096)
        .rev()
        .find(|p| {
            let page = &nested[p * 4096..(p + 1) * 4096];
            page[8] == 0x02 && page.windows(13).any(|w| w == b"CVE-2099-1001")
        })
        .expect("a leaf page listing CVE-2099-1001");
    nested[zlib_leaf * 4096 + 8] = 0x10;
    let mut no_vulnerability = trivy_db_buckets();
    no_vulnerability.0.remove(b"vulnerability".as_slice());
    vec![
        HostileDb {
            name: "trivy.db of random bytes",
            kind: ArtifactKind::TrivyDb,
            db: noise(good.len(), 11),
            needle: "trivy.db is not a bbolt database Trivy can read: meta page 0 has magic 0x",
        },
        HostileDb {
            name: "trivy.db truncated to its first half",
            kind: ArtifactKind::TrivyDb,
            db: good[..good.len() / 2].to_vec(),
            needle: "trivy.db is not a bbolt database Trivy can read: meta page 1 says the file has 10 pages of 4096 bytes (40960 bytes), but it is 20480 bytes: it is truncated",
        },
        HostileDb {
            name: "trivy.db with both meta checksums wrong",
            kind: ArtifactKind::TrivyDb,
            db: both_metas,
            needle: "trivy.db is not a bbolt database Trivy can read: meta page 0 has checksum 0x",
        },
        HostileDb {
            name: "trivy.db without the vulnerability bucket",
            kind: ArtifactKind::TrivyDb,
            db: bbolt_bytes(&no_vulnerability),
            needle: "trivy.db is not a bbolt database Trivy can read: it has no top-level bucket vulnerability",
        },
        HostileDb {
            name: "trivy.db with a broken page in a nested bucket",
            kind: ArtifactKind::TrivyDb,
            db: nested,
            needle: "it is neither a branch nor a leaf page (flags 0x10)",
        },
        HostileDb {
            name: "trivy-java.db of random bytes",
            kind: ArtifactKind::JavaDb,
            db: noise(java_db_bytes().len(), 12),
            needle: "trivy-java.db is not a SQLite database Trivy can read: it does not start with \"SQLite format 3\\0\"",
        },
        HostileDb {
            name: "trivy-java.db with a damaged b-tree page",
            kind: ArtifactKind::JavaDb,
            db: java_db_with_a_damaged_page(),
            needle: "trivy-java.db is not a SQLite database Trivy can read: SQLite fails on it (quick_check): database disk image is malformed",
        },
    ]
}

/// Runs airlock with `TMPDIR` set to `tmp` (to see what it leaves there).
fn airlock_in(tmp: &Path, args: &[&str]) -> std::process::Output {
    Command::new(airlock_bin())
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

fn assert_refused(out: &std::process::Output, code: i32, needle: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{what}: expected {needle:?} in\n{stderr}"
    );
    assert!(
        stderr.contains("hint: the database file itself is broken"),
        "{what}: {stderr}"
    );
}

#[test]
fn signed_databases_trivy_cannot_read_are_refused_by_verify_import_and_export() {
    let t = TestDir::new();
    let (base, public, good_path) = exported_base(&t);
    // The harness: the same surgery with the good databases is accepted.
    let (control, _) = base.with_db(ArtifactKind::TrivyDb, &trivy_db(2));
    write(&t.join("control.airlock"), &control);
    let (control, _) = base.with_db(ArtifactKind::JavaDb, &java_db_bytes());
    write(&t.join("control-java.airlock"), &control);
    for c in ["control.airlock", "control-java.airlock"] {
        airlock_ok(&["verify", s(&t.join(c)), "--key", s(&public)]);
    }

    // A working cache, from a good import.
    let cache = t.join("cache");
    import_ok(&good_path, &public, &cache, &[]);
    let before = tree_hash(&cache);
    assert!(before.contains_key("db/trivy.db") && before.contains_key("java-db/trivy-java.db"));
    let tmp = t.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let (key, _) = keygen(t.path(), "exporter");

    for (i, h) in hostile_databases().iter().enumerate() {
        let (bundle, layer) = base.with_db(h.kind, &h.db);
        let path = t.join(&format!("hostile-{i}.airlock"));
        write(&path, &bundle);

        let v = airlock_in(&tmp, &["verify", s(&path), "--key", s(&public)]);
        assert_refused(&v, 4, h.needle, &format!("verify {}", h.name));

        let im = airlock_in(
            &tmp,
            &[
                "import",
                s(&path),
                "--key",
                s(&public),
                "--cache-dir",
                s(&cache),
            ],
        );
        assert_refused(&im, 4, h.needle, &format!("import {}", h.name));
        assert_eq!(tree_hash(&cache), before, "{}: the cache changed", h.name);
        assert_no_leftovers(&cache, airlock::install::STAGING_PREFIX);

        let input = t.join(&format!("inputs/hostile-{i}.tar.gz"));
        write(&input, &layer);
        let out = t.join(&format!("out-{i}/b.airlock"));
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let flag = match h.kind {
            ArtifactKind::TrivyDb => "--trivy-db",
            _ => "--java-db",
        };
        let ex = airlock_in(
            &tmp,
            &[
                "export",
                "-o",
                s(&out),
                "--sign-key",
                s(&key),
                flag,
                s(&input),
            ],
        );
        assert_refused(&ex, 5, h.needle, &format!("export {}", h.name));
        let left: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().collect();
        assert!(left.is_empty(), "{}: export left {left:?}", h.name);
        // No copy of a database is left in TMPDIR by verify or export.
        let spooled: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(
            spooled.is_empty(),
            "{}: left in TMPDIR: {spooled:?}",
            h.name
        );
        eprintln!(
            "refused by verify (4), import (4, cache unchanged), export (5): {}: {}",
            h.name,
            String::from_utf8_lossy(&im.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
    }

    // Trivy still scans with the cache every refusal left in place.
    let rootfs = t.join("rootfs");
    write_alpine_rootfs(&rootfs);
    let mut expected = vec![ZLIB_CVES[0], ZLIB_CVES[1], JAR_CVE];
    expected.sort();
    assert_eq!(
        rootfs_vuln_ids(&cache, &t.join("xdg"), &rootfs, &[]),
        expected
    );
}

/// Lays out a cache with the fixture databases, trivy.db replaced by `db`.
fn cache_with_trivy_db(t: &TestDir, name: &str, db: &[u8]) -> std::path::PathBuf {
    let cache = t.join(name);
    let xdg = t.join(&format!("{name}-xdg"));
    write_cache_by_hand(
        &cache,
        &xdg,
        CacheParts {
            db: true,
            java_db: true,
            checks: false,
            vex: false,
        },
        "file:///nowhere",
    );
    write(&cache.join("db/trivy.db"), db);
    cache
}

#[test]
fn the_bucket_rule_refuses_what_breaks_trivy_and_nothing_it_works_with() {
    let t = TestDir::new();
    let rootfs = t.join("rootfs");
    write_alpine_rootfs(&rootfs);
    let scan = |cache: &Path| {
        let mut args = vec!["rootfs", "-f", "json", "--scanners", "vuln"];
        args.extend_from_slice(SKIP_UPDATES);
        args.push(s(&rootfs));
        trivy(cache, &t.join("xdg"), &args)
    };
    let check = |db: &[u8]| {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, db).unwrap();
        airlock::artifact::bbolt::check_file(&f)
    };

    // Without `vulnerability`: refused, and Trivy does fail on its first finding.
    let mut buckets = trivy_db_buckets();
    buckets.0.remove(b"vulnerability".as_slice());
    let db = bbolt_bytes(&buckets);
    assert!(check(&db).is_err());
    let out = scan(&cache_with_trivy_db(&t, "no-vulnerability", &db));
    assert!(
        !out.status.success(),
        "Trivy scanned without the vulnerability bucket:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Without `data-source`, or without any OS or ecosystem bucket: accepted,
    // and Trivy scans (finding what the buckets left allow).
    let mut buckets = trivy_db_buckets();
    buckets.0.remove(b"data-source".as_slice());
    let db = bbolt_bytes(&buckets);
    check(&db).unwrap();
    let cache = cache_with_trivy_db(&t, "no-data-source", &db);
    let mut expected = vec![ZLIB_CVES[0], ZLIB_CVES[1], JAR_CVE];
    expected.sort();
    assert_eq!(
        rootfs_vuln_ids(&cache, &t.join("xdg"), &rootfs, &[]),
        expected
    );

    let mut only = Bucket::new();
    only.bucket("vulnerability").put(ZLIB_CVES[0], "{}");
    let db = bbolt_bytes(&only);
    check(&db).unwrap();
    let cache = cache_with_trivy_db(&t, "empty", &db);
    assert_eq!(
        rootfs_vuln_ids(&cache, &t.join("xdg"), &rootfs, &[]),
        Vec::<String>::new()
    );
}

#[test]
fn the_fixture_databases_pass_every_check() {
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, &trivy_db(2)).unwrap();
    let s = airlock::artifact::bbolt::check_file(&f).unwrap();
    assert_eq!(s.buckets, 4);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trivy-java.db");
    java_db(&p);
    airlock::artifact::sqlite::check_file(&p, || ()).unwrap();
}

#[test]
fn a_java_db_layer_with_a_sqlite_journal_beside_the_database_is_refused() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let needle = "javadb.tar.gz: \"trivy-java.db-journal\" is a SQLite journal or WAL file";
    let layer = tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(1, UPDATED_AT, NEXT_UPDATE).into_bytes(),
        ),
        ("trivy-java.db", java_db_bytes()),
        ("trivy-java.db-journal", noise(4096, 13)),
    ]);
    // Within the signed entry count (2), so the journal itself is refused.
    let signed = tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(1, UPDATED_AT, NEXT_UPDATE).into_bytes(),
        ),
        ("trivy-java.db-journal", noise(4096, 13)),
    ]);
    let bundle = t.join("journal.airlock");
    write(&bundle, &base.with_layer(ArtifactKind::JavaDb, signed));
    let err = airlock_fails(&["verify", s(&bundle), "--key", s(&public)], 4);
    assert!(err.contains(needle), "{err}");
    let cache = t.join("cache");
    import_ok(&good, &public, &cache, &[]);
    let before = tree_hash(&cache);
    let err = import_fails(&bundle, &public, &cache, 4);
    assert!(err.contains(needle), "{err}");
    assert_eq!(tree_hash(&cache), before);
    let input = t.join("javadb.tar.gz");
    write(&input, &layer);
    let (key, _) = keygen(t.path(), "exporter");
    let out = t.join("b.airlock");
    let err = airlock_fails(
        &[
            "export",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
            "--java-db",
            s(&input),
        ],
        5,
    );
    assert!(err.contains(needle), "{err}");
    assert!(!out.exists());
}
