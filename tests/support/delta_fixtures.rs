//! Base and next versions of the fixture databases, for delta bundles
//! (issue 13). Next is REBUILT from scratch, as upstream rebuilds its
//! databases: buckets and rows are added, removed and changed, so pages
//! move and ids shift, and the real Trivy reports other IDs with next
//! than with base:
//!
//! - trivy.db: next drops `CVE-2099-1001` from zlib and adds
//!   [`NEXT_ZLIB_CVE`]; filler packages (which the rootfs does not have)
//!   are added before zlib, so every page after them moves;
//! - trivy-java.db: base does not list the fixture jar's SHA-1, next does
//!   (so [`JAR_CVE`] appears); filler artifacts are added before the jar's,
//!   so its artifact id and every row after it shift.
//!
//! Every function returns the same bytes on every call.
#![allow(dead_code)]

use std::path::Path;

use super::fixtures::*;

/// The zlib CVE next adds.
pub const NEXT_ZLIB_CVE: &str = "CVE-2099-1003";
/// UpdatedAt and NextUpdate of base.
pub const BASE_UPDATED_AT: &str = "2024-01-01T00:00:00Z";
pub const BASE_NEXT_UPDATE: &str = "2024-01-02T00:00:00Z";
/// UpdatedAt and NextUpdate of next (a day later).
pub const NEXT_UPDATED_AT: &str = "2024-01-02T00:00:00Z";
pub const NEXT_NEXT_UPDATE: &str = "2024-01-03T00:00:00Z";

/// Which version of a fixture database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Base,
    Next,
}

/// The IDs Trivy reports for the fixture rootfs (sorted), with no VEX.
pub fn expected_ids(v: Version) -> Vec<String> {
    let mut ids: Vec<&str> = match v {
        Version::Base => vec![ZLIB_CVES[0], ZLIB_CVES[1]],
        Version::Next => vec![ZLIB_CVES[1], NEXT_ZLIB_CVE, JAR_CVE],
    };
    ids.sort();
    ids.into_iter().map(String::from).collect()
}

/// A few hundred bytes of advisory-like JSON for filler entry `i`.
fn advisory(i: u32, rev: u32) -> String {
    let words = [
        "overflow",
        "in",
        "the",
        "parser",
        "allows",
        "remote",
        "attackers",
        "denial",
    ];
    let title: Vec<&str> = (0..12)
        .map(|k| words[((i * 7 + k * 3 + rev) % 8) as usize])
        .collect();
    format!(
        r#"{{"FixedVersion":"{}.{}.{}-r{}","Title":"{}","References":["https://example.invalid/{i:x}/{rev}"]}}"#,
        i % 9,
        i % 31,
        i % 41,
        rev,
        title.join(" ")
    )
}

/// The trivy.db bucket tree of `v`.
pub fn trivy_buckets(v: Version) -> Bucket {
    let mut root = trivy_db_buckets();
    let next = v == Version::Next;
    // Filler packages sort before "zlib"; next has more of them (added
    // among the old ones) and changes every 25th.
    let count = if next { 260 } else { 240 };
    for i in 0..count {
        // Base lacks every 13th name; its content follows the name.
        let n = if next { i } else { i + i / 12 };
        let rev = u32::from(next && i % 25 == 0);
        let pkg = root.bucket(ALPINE_BUCKET).bucket(&format!("filler-{n:04}"));
        for k in 0..6 {
            pkg.put(
                &format!("CVE-2098-{:05}", n * 10 + k),
                advisory(n * 10 + k, rev),
            );
        }
    }
    if next {
        let zlib = root.bucket(ALPINE_BUCKET).bucket("zlib");
        zlib.0.remove(ZLIB_CVES[0].as_bytes());
        zlib.put(
            NEXT_ZLIB_CVE,
            format!(r#"{{"FixedVersion":"{ZLIB_FIXED}"}}"#),
        );
        let vulns = root.bucket("vulnerability");
        vulns.0.remove(ZLIB_CVES[0].as_bytes());
        vulns.put(
            NEXT_ZLIB_CVE,
            r#"{"Title":"airlock fixture CVE-2099-1003","Description":"Synthetic vulnerability for airlock's delta tests.","Severity":"HIGH","VendorSeverity":{"alpine":3}}"#,
        );
    }
    root
}

/// trivy.db of `v` (bbolt bytes).
pub fn trivy_db_version(v: Version) -> Vec<u8> {
    bbolt_bytes(&trivy_buckets(v))
}

fn times(v: Version) -> (&'static str, &'static str) {
    match v {
        Version::Base => (BASE_UPDATED_AT, BASE_NEXT_UPDATE),
        Version::Next => (NEXT_UPDATED_AT, NEXT_NEXT_UPDATE),
    }
}

/// db.tar.gz of `v`, as published.
pub fn trivy_db_tar_gz_version(v: Version) -> Vec<u8> {
    let (updated, next_update) = times(v);
    tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(2, updated, next_update).into_bytes(),
        ),
        ("trivy.db", trivy_db_version(v)),
    ])
}

/// Writes trivy-java.db of `v` at `path`: filler artifacts (more in next,
/// inserted before the jar's, so ids shift), each with a few versions,
/// and the fixture jar's artifact, whose SHA-1 only next lists.
pub fn java_db_version(path: &Path, v: Version) {
    if path.exists() {
        std::fs::remove_file(path).unwrap();
    }
    let next = v == Version::Next;
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
         CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,
           foreign key (artifact_id) references artifacts(id));
         CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
         CREATE INDEX indices_artifact_idx ON indices(artifact_id);
         CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    let mut id = 0i64;
    let fillers = if next { 330 } else { 300 };
    for i in 0..fillers {
        // Next's fillers: the old ones and one new one after every tenth.
        let n = if next { i - i / 11 } else { i };
        let added = next && i % 11 == 10;
        id += 1;
        let group = format!(
            "org.filler{}",
            if added {
                format!("{n}b")
            } else {
                n.to_string()
            }
        );
        tx.execute(
            "INSERT INTO artifacts(id, group_id, artifact_id) VALUES (?1, ?2, 'lib')",
            rusqlite::params![id, group],
        )
        .unwrap();
        let versions = if next && i % 17 == 0 { 6 } else { 5 };
        for k in 0..versions {
            let sha1 = noise(20, fnv(&[&group, &k.to_string()]));
            tx.execute(
                "INSERT INTO indices(artifact_id, version, sha1, archive_type) VALUES (?1, ?2, ?3, 'jar')",
                rusqlite::params![id, format!("1.{k}.0"), &sha1[..]],
            )
            .unwrap();
        }
    }
    id += 1;
    tx.execute(
        "INSERT INTO artifacts(id, group_id, artifact_id) VALUES (?1, ?2, ?3)",
        rusqlite::params![id, JAR_GROUP_ID, JAR_ARTIFACT_ID],
    )
    .unwrap();
    if next {
        tx.execute(
            "INSERT INTO indices(artifact_id, version, sha1, archive_type) VALUES (?1, ?2, ?3, 'jar')",
            rusqlite::params![id, JAR_VERSION, &jar_sha1()[..]],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    conn.close().unwrap();
}

fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The bytes of trivy-java.db of `v`.
pub fn java_db_bytes_version(v: Version) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trivy-java.db");
    java_db_version(&p, v);
    std::fs::read(p).unwrap()
}

/// javadb.tar.gz of `v`, as published.
pub fn java_db_tar_gz_version(v: Version) -> Vec<u8> {
    let (updated, next_update) = times(v);
    tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(1, updated, next_update).into_bytes(),
        ),
        ("trivy-java.db", java_db_bytes_version(v)),
    ])
}

/// Writes `dir/db.tar.gz` and `dir/javadb.tar.gz` of `v`; returns their paths.
pub fn write_db_inputs(dir: &Path, v: Version) -> (std::path::PathBuf, std::path::PathBuf) {
    let (db, java) = (dir.join("db.tar.gz"), dir.join("javadb.tar.gz"));
    super::write(&db, &trivy_db_tar_gz_version(v));
    super::write(&java, &java_db_tar_gz_version(v));
    (db, java)
}
