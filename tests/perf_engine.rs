//! The pipelined verify and import (issue 12): the whole-file database
//! checks run on a second thread as soon as a layer's bytes are verified,
//! while the rest of the bundle is read. What the user sees is what the
//! checks at the end gave: a damaged database is refused with the same
//! message and exit code and the cache left as it was; a bundle altered
//! after a damaged database is refused for the alteration (the stream's
//! verdict comes first, as before), and no database copy is left behind.

use std::path::Path;
use std::process::{Command, Stdio};

use airlock::manifest::ArtifactKind;

use crate::corpus::exported_base;
use crate::hostile_databases::hostile_databases;
use crate::support::*;

fn airlock_in(tmp: &Path, args: &[&str]) -> std::process::Output {
    Command::new(airlock_bin())
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

/// The tar's last entry (the last payload) and its data's offset.
fn last_entry(tar: &[u8]) -> (String, usize, u64) {
    let mut ar = ::tar::Archive::new(tar);
    let mut last = None;
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        last = Some((name, e.raw_file_position() as usize, e.size()));
    }
    last.expect("entries")
}

#[test]
fn a_bundle_altered_after_a_damaged_database_is_refused_for_the_alteration() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let cache = t.join("cache");
    import_ok(&good, &public, &cache, &[]);
    let before = tree_hash(&cache);
    let tmp = t.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // The ones refused by the whole-file check (the others are refused by
    // their first bytes, as the layer streams past).
    let whole_file = hostile_databases()
        .into_iter()
        .filter(|h| h.name.contains("bucket") || h.name.contains("b-tree"));
    let mut seen = 0;
    for h in whole_file {
        seen += 1;
        let (bundle, _) = base.with_db(h.kind, &h.db);
        let damaged = t.join("damaged.airlock");
        write(&damaged, &bundle);
        // The control: the damaged database alone is refused for itself.
        let v = airlock_in(&tmp, &["verify", s(&damaged), "--key", s(&public)]);
        let stderr = String::from_utf8_lossy(&v.stderr);
        assert_eq!(v.status.code(), Some(4), "{}: {stderr}", h.name);
        assert!(stderr.contains(h.needle), "{}: {stderr}", h.name);

        // The last payload (after every layer: blobs sort first) altered.
        let mut tar = bundle_tar(&damaged);
        let (name, at, size) = last_entry(&tar);
        assert!(!name.starts_with("oci/blobs/") && size > 0, "{name}");
        tar[at] ^= 0x20;
        let altered = t.join("altered.airlock");
        write_bundle_tar(&altered, &tar);
        let expected = format!("payload {name} is damaged or was altered: sha256 ");
        for (what, args) in [
            ("verify", vec!["verify", s(&altered), "--key", s(&public)]),
            (
                "import",
                vec![
                    "import",
                    s(&altered),
                    "--key",
                    s(&public),
                    "--cache-dir",
                    s(&cache),
                ],
            ),
        ] {
            let out = airlock_in(&tmp, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(4), "{what} {}: {stderr}", h.name);
            assert!(stderr.contains(&expected), "{what} {}: {stderr}", h.name);
            assert!(!stderr.contains(h.needle), "{what} {}: {stderr}", h.name);
        }
        assert_eq!(tree_hash(&cache), before, "{}: the cache changed", h.name);
        assert_no_leftovers(&cache, airlock::install::STAGING_PREFIX);
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{}: left in TMPDIR: {left:?}", h.name);
    }
    assert_eq!(seen, 3, "the whole-file cases of hostile_databases()");
}

#[test]
fn a_damaged_java_db_is_refused_by_import_with_the_cache_unchanged_and_then_a_good_one_installs() {
    let t = TestDir::new();
    let (base, public, good) = exported_base(&t);
    let cache = t.join("cache");
    import_ok(&good, &public, &cache, &[]);
    let before = tree_hash(&cache);
    let h = hostile_databases()
        .into_iter()
        .find(|h| h.kind == ArtifactKind::JavaDb && h.needle.contains("quick_check"))
        .expect("the damaged-page Java DB");
    let (bundle, _) = base.with_db(h.kind, &h.db);
    let damaged = t.join("damaged.airlock");
    write(&damaged, &bundle);
    let stderr = import_fails(&damaged, &public, &cache, 4);
    assert!(stderr.contains(h.needle), "{stderr}");
    assert_eq!(tree_hash(&cache), before);
    assert_no_leftovers(&cache, airlock::install::STAGING_PREFIX);
    // The same cache takes a good bundle at once (nothing held, no lock).
    let (fixed, _) = base.with_db(h.kind, &crate::support::fixtures::java_db_bytes());
    let fixed_path = t.join("fixed.airlock");
    write(&fixed_path, &fixed);
    import_ok(&fixed_path, &public, &cache, &[]);
    assert_eq!(
        std::fs::read(cache.join("java-db/trivy-java.db")).unwrap(),
        crate::support::fixtures::java_db_bytes()
    );
}
