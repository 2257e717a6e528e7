//! Tiny but valid Trivy data for tests: a hand-written bbolt trivy.db, a SQLite
//! trivy-java.db, a checks bundle with one sentinel check, a VEX repository
//! archive, and the inputs (an Alpine rootfs with a jar, a Dockerfile) that make
//! each of them show up in Trivy's output.
//!
//! Every function returns the same bytes on every call: fixed mtimes, fixed
//! owners and modes, entries in sorted order, gzip headers without a timestamp.
//! See bundle-spec/FIXTURES-NOTES.md for what was verified with Trivy 0.76.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::Path;

/// zlib 1.2.13-r0 in Alpine 3.18 is affected by both; both are fixed in 1.3.1-r0.
pub const ZLIB_CVES: [&str; 2] = ["CVE-2099-1001", "CVE-2099-1002"];
/// The OpenVEX statement in the VEX archive marks this one `not_affected` for `pkg:apk/alpine/zlib`.
pub const VEX_SUPPRESSED_CVE: &str = "CVE-2099-1002";
/// Affects the jar from [`jar_bytes`], which Trivy can identify only through the Java DB (its SHA-1).
pub const JAR_CVE: &str = "CVE-2099-2001";
/// The ID Trivy reports for the sentinel check of [`checks_bundle_tar_gz`]. No upstream check uses it.
pub const SENTINEL_CHECK_ID: &str = "AIRLOCK-FIXTURE-0001";
/// Rego package of the sentinel check (Trivy reports it as `Namespace`).
pub const SENTINEL_CHECK_NAMESPACE: &str = "builtin.dockerfile.AIRLOCKFIXTURE0001";
/// Top directory inside the VEX archives (like VEX Hub's GitHub archive `vexhub-main/`).
pub const VEX_TOP_DIR: &str = "vexhub-main";

/// The package the vulnerability DB and the rootfs agree on.
pub const ALPINE_BUCKET: &str = "alpine 3.18";
pub const ZLIB_INSTALLED: &str = "1.2.13-r0";
pub const ZLIB_FIXED: &str = "1.3.1-r0";

/// Maven coordinates the Java DB gives the jar (by SHA-1 only).
pub const JAR_GROUP_ID: &str = "io.airlock.fixture";
pub const JAR_ARTIFACT_ID: &str = "sentinel-lib";
pub const JAR_VERSION: &str = "1.2.3";
pub const MAVEN_BUCKET: &str = "maven::GitHub Security Advisory Maven";
/// Where [`write_alpine_rootfs`] puts the jar. The name carries no version, so
/// Trivy's file-name heuristic cannot identify it either.
pub const JAR_PATH_IN_ROOTFS: &str = "opt/app/app.jar";

/// mtime of every archive entry (2024-01-01T00:00:00Z).
pub const FIXED_MTIME: u64 = 1_704_067_200;
/// UpdatedAt / NextUpdate a test can use when it has no reason to pick others.
pub const UPDATED_AT: &str = "2024-01-01T00:00:00Z";
pub const NEXT_UPDATE: &str = "2024-01-02T00:00:00Z";
/// `DownloadedAt` in published archives (Go's zero time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Rego source of the sentinel check. It fires on a Dockerfile that has a
/// `LABEL airlock.fixture=...` instruction, and uses no library, so it works with
/// Trivy's embedded libraries disabled (as they are when the cache bundle loads).
pub const SENTINEL_REGO: &str = r#"# METADATA
# title: airlock fixture sentinel
# description: Fires on a Dockerfile labelled airlock.fixture. It exists only in airlock's test checks bundle.
# scope: package
# schemas:
# - input: schema["dockerfile"]
# custom:
#   id: AIRLOCK-FIXTURE-0001
#   long_id: airlock-fixture-sentinel
#   severity: HIGH
#   recommended_action: Nothing; this is a test fixture.
#   input:
#     selector:
#     - type: dockerfile
package builtin.dockerfile.AIRLOCKFIXTURE0001

import rego.v1

deny contains res if {
	some stage in input.Stages
	some cmd in stage.Commands
	cmd.Cmd == "label"
	contains(concat(" ", cmd.Value), "airlock.fixture")
	res := result.new("airlock fixture sentinel label found", cmd)
}
"#;
/// Path of the sentinel check inside the bundle (layout of trivy-checks' v2 bundle).
pub const SENTINEL_REGO_PATH: &str = "policies/docker/policies/airlock_fixture_sentinel.rego";

// ---------------------------------------------------------------------------
// bbolt
// ---------------------------------------------------------------------------

/// A bbolt bucket: keys map to a value or to a nested bucket.
#[derive(Clone, Debug, Default)]
pub struct Bucket(pub BTreeMap<Vec<u8>, Node>);

#[derive(Clone, Debug)]
pub enum Node {
    Value(Vec<u8>),
    Bucket(Bucket),
}

impl Bucket {
    pub fn new() -> Self {
        Self::default()
    }
    /// Nested bucket `name`, created if missing.
    pub fn bucket(&mut self, name: &str) -> &mut Bucket {
        let node = self
            .0
            .entry(name.as_bytes().to_vec())
            .or_insert_with(|| Node::Bucket(Bucket::new()));
        match node {
            Node::Bucket(b) => b,
            Node::Value(_) => panic!("{name:?} is a value, not a bucket"),
        }
    }
    pub fn put(&mut self, key: &str, value: impl Into<Vec<u8>>) -> &mut Self {
        self.0
            .insert(key.as_bytes().to_vec(), Node::Value(value.into()));
        self
    }
}

const PAGE_SIZE: usize = 4096;
const PAGE_HEADER: usize = 16;
const LEAF_ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const FLAG_LEAF: u16 = 0x02;
const FLAG_META: u16 = 0x04;
const FLAG_FREELIST: u16 = 0x10;
const ELEMENT_BUCKET: u32 = 0x01;
const BOLT_MAGIC: u32 = 0xED0C_DAED;
const BOLT_VERSION: u32 = 2;

fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn leaf_len(b: &Bucket) -> usize {
    PAGE_HEADER
        + b.0
            .iter()
            .map(|(k, n)| {
                LEAF_ELEMENT
                    + k.len()
                    + match n {
                        Node::Value(v) => v.len(),
                        Node::Bucket(_) => BUCKET_HEADER,
                    }
            })
            .sum::<usize>()
}

/// Lays out `b` (and, depth first, its sub-buckets) from page `*next` on;
/// returns the bucket's root page id.
fn write_bucket_pages(b: &Bucket, pages: &mut Vec<u8>, next: &mut u64) -> u64 {
    let len = leaf_len(b);
    let npages = len.div_ceil(PAGE_SIZE).max(1);
    let pgid = *next;
    *next += npages as u64;

    let mut children = BTreeMap::new();
    for (k, n) in &b.0 {
        if let Node::Bucket(child) = n {
            children.insert(k.clone(), write_bucket_pages(child, pages, next));
        }
    }

    let mut page = vec![0u8; npages * PAGE_SIZE];
    page[0..8].copy_from_slice(&pgid.to_le_bytes());
    page[8..10].copy_from_slice(&FLAG_LEAF.to_le_bytes());
    page[10..12].copy_from_slice(&(b.0.len() as u16).to_le_bytes());
    page[12..16].copy_from_slice(&((npages - 1) as u32).to_le_bytes());
    let mut data = PAGE_HEADER + b.0.len() * LEAF_ELEMENT;
    for (i, (k, n)) in b.0.iter().enumerate() {
        let (flags, value) = match n {
            Node::Value(v) => (0u32, v.clone()),
            Node::Bucket(_) => {
                let mut v = children[k].to_le_bytes().to_vec(); // root pgid
                v.extend_from_slice(&0u64.to_le_bytes()); // sequence
                (ELEMENT_BUCKET, v)
            }
        };
        let e = PAGE_HEADER + i * LEAF_ELEMENT;
        page[e..e + 4].copy_from_slice(&flags.to_le_bytes());
        page[e + 4..e + 8].copy_from_slice(&((data - e) as u32).to_le_bytes());
        page[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
        page[e + 12..e + 16].copy_from_slice(&(value.len() as u32).to_le_bytes());
        page[data..data + k.len()].copy_from_slice(k);
        data += k.len();
        page[data..data + value.len()].copy_from_slice(&value);
        data += value.len();
    }

    let off = pgid as usize * PAGE_SIZE;
    if pages.len() < off + page.len() {
        pages.resize(off + page.len(), 0);
    }
    pages[off..off + page.len()].copy_from_slice(&page);
    pgid
}

/// Serialises `root` (the top-level buckets; values at the root are not allowed
/// by bbolt) as a bbolt file: two meta pages, an empty freelist, one leaf page
/// (plus overflow pages if needed) per bucket.
pub fn bbolt_bytes(root: &Bucket) -> Vec<u8> {
    assert!(
        root.0.values().all(|n| matches!(n, Node::Bucket(_))),
        "bbolt's root may hold buckets only"
    );
    let mut file = vec![0u8; 3 * PAGE_SIZE];
    let mut next = 3u64;
    let root_pgid = write_bucket_pages(root, &mut file, &mut next);
    let high_water = next;
    file.resize(high_water as usize * PAGE_SIZE, 0);

    // page 2: empty freelist
    let fl = 2 * PAGE_SIZE;
    file[fl..fl + 8].copy_from_slice(&2u64.to_le_bytes());
    file[fl + 8..fl + 10].copy_from_slice(&FLAG_FREELIST.to_le_bytes());

    for (pgid, txid) in [(0u64, 0u64), (1, 1)] {
        let p = pgid as usize * PAGE_SIZE;
        file[p..p + 8].copy_from_slice(&pgid.to_le_bytes());
        file[p + 8..p + 10].copy_from_slice(&FLAG_META.to_le_bytes());
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(&BOLT_MAGIC.to_le_bytes());
        m.extend_from_slice(&BOLT_VERSION.to_le_bytes());
        m.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes()); // flags
        m.extend_from_slice(&root_pgid.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes()); // root sequence
        m.extend_from_slice(&2u64.to_le_bytes()); // freelist pgid
        m.extend_from_slice(&high_water.to_le_bytes());
        m.extend_from_slice(&txid.to_le_bytes());
        let sum = fnv1a64(&m);
        m.extend_from_slice(&sum.to_le_bytes());
        file[p + PAGE_HEADER..p + PAGE_HEADER + m.len()].copy_from_slice(&m);
    }
    file
}

// ---------------------------------------------------------------------------
// trivy.db
// ---------------------------------------------------------------------------

/// The bucket tree of the fixture trivy.db.
pub fn trivy_db_buckets() -> Bucket {
    let mut root = Bucket::new();
    {
        let zlib = root.bucket(ALPINE_BUCKET).bucket("zlib");
        for cve in ZLIB_CVES {
            zlib.put(cve, format!(r#"{{"FixedVersion":"{ZLIB_FIXED}"}}"#));
        }
    }
    root.bucket(MAVEN_BUCKET)
        .bucket(&format!("{JAR_GROUP_ID}:{JAR_ARTIFACT_ID}"))
        .put(
            JAR_CVE,
            r#"{"PatchedVersions":["1.2.4"],"VulnerableVersions":["< 1.2.4"]}"#,
        );
    root.bucket("data-source")
        .put(
            ALPINE_BUCKET,
            r#"{"ID":"alpine","Name":"Alpine Secdb","URL":"https://secdb.alpinelinux.org/"}"#,
        )
        .put(
            MAVEN_BUCKET,
            r#"{"ID":"ghsa","Name":"GitHub Security Advisory Maven","URL":"https://github.com/advisories?query=type%3Areviewed+ecosystem%3Amaven"}"#,
        );
    let vulns = root.bucket("vulnerability");
    for (cve, sev, vendor) in [
        (ZLIB_CVES[0], "HIGH", r#""alpine":3"#),
        (ZLIB_CVES[1], "MEDIUM", r#""alpine":2"#),
        (JAR_CVE, "CRITICAL", r#""ghsa":4"#),
    ] {
        vulns.put(
            cve,
            format!(
                r#"{{"Title":"airlock fixture {cve}","Description":"Synthetic vulnerability for airlock's tests.","Severity":"{sev}","VendorSeverity":{{{vendor}}}}}"#
            ),
        );
    }
    root
}

/// bbolt bytes of trivy.db. The schema version lives only in metadata.json, so
/// the argument is unused; it is kept for symmetry with [`trivy_db_tar_gz`].
pub fn trivy_db(_schema_version: u32) -> Vec<u8> {
    bbolt_bytes(&trivy_db_buckets())
}

/// The fixture trivy.db as the first pages of a `total`-byte bbolt file
/// (`total` a multiple of 4096, at least the fixture's size): both metas
/// claim every page of it, so whatever fills the rest (pages no bucket
/// points to) makes a valid bbolt file that Trivy opens, of any size.
pub fn trivy_db_head_for(total: u64) -> Vec<u8> {
    let mut file = trivy_db(2);
    assert!(total.is_multiple_of(PAGE_SIZE as u64) && total >= file.len() as u64);
    for pgid in [0usize, 1] {
        let m = pgid * PAGE_SIZE + PAGE_HEADER;
        file[m + 40..m + 48].copy_from_slice(&(total / PAGE_SIZE as u64).to_le_bytes());
        let sum = fnv1a64(&file[m..m + 56]);
        file[m + 56..m + 64].copy_from_slice(&sum.to_le_bytes());
    }
    file
}

/// metadata.json as in the published archives (`DownloadedAt` zero).
pub fn db_metadata_json(version: u32, updated_at: &str, next_update: &str) -> String {
    metadata_json(version, updated_at, next_update, ZERO_TIME)
}

/// metadata.json with an explicit `DownloadedAt` (what Trivy writes after a download).
pub fn metadata_json(
    version: u32,
    updated_at: &str,
    next_update: &str,
    downloaded_at: &str,
) -> String {
    format!(
        r#"{{"Version":{version},"NextUpdate":"{next_update}","UpdatedAt":"{updated_at}","DownloadedAt":"{downloaded_at}"}}"#
    )
}

/// db.tar.gz as published: trivy.db and metadata.json at the archive root.
pub fn trivy_db_tar_gz(version: u32, updated_at: &str, next_update: &str) -> Vec<u8> {
    tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(version, updated_at, next_update).into_bytes(),
        ),
        ("trivy.db", trivy_db(version)),
    ])
}

// ---------------------------------------------------------------------------
// trivy-java.db
// ---------------------------------------------------------------------------

pub fn jar_sha1() -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(jar_bytes()).into()
}

/// Writes trivy-java.db (SQLite, schema of trivy-java-db) at `path`, listing the
/// fixture jar's SHA-1 as JAR_GROUP_ID:JAR_ARTIFACT_ID:JAR_VERSION.
pub fn java_db(path: &Path) {
    write_java_db(path, true);
}

/// The same Java DB without the jar's SHA-1 (the artifact row stays): with it,
/// Trivy can no longer identify the jar, so JAR_CVE disappears.
pub fn java_db_without_jar(path: &Path) {
    write_java_db(path, false);
}

fn write_java_db(path: &Path, list_jar: bool) {
    if path.exists() {
        std::fs::remove_file(path).unwrap();
    }
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
    conn.execute(
        "INSERT INTO artifacts(id, group_id, artifact_id) VALUES (1, ?1, ?2)",
        rusqlite::params![JAR_GROUP_ID, JAR_ARTIFACT_ID],
    )
    .unwrap();
    if list_jar {
        conn.execute(
            "INSERT INTO indices(artifact_id, version, sha1, archive_type) VALUES (1, ?1, ?2, 'jar')",
            rusqlite::params![JAR_VERSION, &jar_sha1()[..]],
        )
        .unwrap();
    }
    conn.close().unwrap();
}

/// Deterministic incompressible bytes (xorshift64).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// javadb.tar.gz whose trivy-java.db also holds a table `padding` with
/// `padding` bytes of noise (Trivy never reads it): a bundle of several MiB.
pub fn java_db_tar_gz_padded(updated_at: &str, next_update: &str, padding: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trivy-java.db");
    java_db(&p);
    let conn = rusqlite::Connection::open(&p).unwrap();
    conn.execute_batch("CREATE TABLE padding(data BLOB);")
        .unwrap();
    conn.execute(
        "INSERT INTO padding(data) VALUES (?1)",
        rusqlite::params![noise(padding, 0x5eed)],
    )
    .unwrap();
    conn.close().unwrap();
    tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(1, updated_at, next_update).into_bytes(),
        ),
        ("trivy-java.db", std::fs::read(&p).unwrap()),
    ])
}

/// The bytes of trivy-java.db.
pub fn java_db_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trivy-java.db");
    java_db(&p);
    std::fs::read(p).unwrap()
}

/// javadb.tar.gz as published: trivy-java.db and metadata.json (Version 1).
pub fn java_db_tar_gz(updated_at: &str, next_update: &str) -> Vec<u8> {
    tar_gz(&[
        (
            "metadata.json",
            db_metadata_json(1, updated_at, next_update).into_bytes(),
        ),
        ("trivy-java.db", java_db_bytes()),
    ])
}

// ---------------------------------------------------------------------------
// checks bundle
// ---------------------------------------------------------------------------

/// The files of the checks bundle (path in the archive, content).
pub fn checks_bundle_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![(SENTINEL_REGO_PATH, SENTINEL_REGO.as_bytes().to_vec())]
}

/// bundle.tar.gz shaped like trivy-checks' v2 bundle (`policies/<kind>/policies/*.rego`,
/// no directory entries, no .manifest) with the single sentinel check.
pub fn checks_bundle_tar_gz() -> Vec<u8> {
    let files = checks_bundle_files();
    let entries: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (*p, d.clone())).collect();
    tar_gz(&entries)
}

/// A checks bundle like [`checks_bundle_tar_gz`] with other content (the
/// sentinel check with a comment appended): the same kind of input, another
/// version of it.
pub fn checks_bundle_tar_gz_other() -> Vec<u8> {
    let rego = format!("{SENTINEL_REGO}\n# another version\n");
    tar_gz(&[(SENTINEL_REGO_PATH, rego.into_bytes())])
}

// ---------------------------------------------------------------------------
// VEX repository
// ---------------------------------------------------------------------------

pub const VEX_DOC_PATH: &str = "pkg/apk/alpine/zlib/zlib.openvex.json";

/// index.json of the repository (archive root after VEX_TOP_DIR).
pub fn vex_index_json() -> String {
    format!(
        r#"{{"updated_at":"{UPDATED_AT}","packages":[{{"id":"pkg:apk/alpine/zlib","location":"{VEX_DOC_PATH}","format":"openvex"}}]}}"#
    )
}

/// The OpenVEX document: VEX_SUPPRESSED_CVE is not_affected for pkg:apk/alpine/zlib.
pub fn vex_openvex_json() -> String {
    format!(
        r#"{{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://airlock.invalid/vex/zlib-{VEX_SUPPRESSED_CVE}",
  "author": "airlock fixtures",
  "timestamp": "{UPDATED_AT}",
  "version": 1,
  "statements": [
    {{
      "vulnerability": {{"name": "{VEX_SUPPRESSED_CVE}"}},
      "products": [{{"@id": "pkg:apk/alpine/zlib"}}],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path"
    }}
  ]
}}
"#
    )
}

/// Files of the repository relative to VEX_TOP_DIR (these end up in
/// `<cache>/vex/repositories/<name>/0.1/`).
pub fn vex_repo_files() -> Vec<(String, Vec<u8>)> {
    vec![
        ("index.json".to_string(), vex_index_json().into_bytes()),
        (VEX_DOC_PATH.to_string(), vex_openvex_json().into_bytes()),
    ]
}

fn vex_archive_entries() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = vex_repo_files()
        .into_iter()
        .map(|(p, d)| (format!("{VEX_TOP_DIR}/{p}"), d))
        .collect();
    v.sort();
    v
}

/// Directories of the archive entries, parents first (a GitHub archive lists them).
fn parent_dirs(paths: &[String]) -> Vec<String> {
    let mut dirs = std::collections::BTreeSet::new();
    for p in paths {
        let mut cur = String::new();
        let parts: Vec<&str> = p.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            cur.push_str(part);
            cur.push('/');
            dirs.insert(cur.clone());
        }
    }
    dirs.into_iter().collect()
}

/// zip with VEX_TOP_DIR/ (directory entries included), index.json and the OpenVEX document.
pub fn vex_archive_zip() -> Vec<u8> {
    vex_archive_zip_compressed(zip::CompressionMethod::Deflated)
}

/// [`vex_archive_zip`] with its files compressed by `method`: the same
/// repository in other archive bytes (another content digest).
pub fn vex_archive_zip_compressed(method: zip::CompressionMethod) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let entries = vex_archive_entries();
    let names: Vec<String> = entries.iter().map(|(p, _)| p.clone()).collect();
    let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let dir_opts = SimpleFileOptions::default()
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755);
    let file_opts = SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    // Directories first, then files, all sorted: deterministic and extractable in order.
    for d in parent_dirs(&names) {
        zw.add_directory(d, dir_opts).unwrap();
    }
    for (p, d) in entries {
        zw.start_file(p, file_opts).unwrap();
        zw.write_all(&d).unwrap();
    }
    zw.finish().unwrap().into_inner()
}

/// The same content as [`vex_archive_zip`], as a tar.gz.
pub fn vex_archive_tar_gz() -> Vec<u8> {
    let entries = vex_archive_entries();
    let names: Vec<String> = entries.iter().map(|(p, _)| p.clone()).collect();
    let mut tb = tar::Builder::new(Vec::new());
    for d in parent_dirs(&names) {
        let mut h = tar_header(0, 0o755, tar::EntryType::Directory);
        tb.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    for (p, d) in &entries {
        let mut h = tar_header(d.len() as u64, 0o644, tar::EntryType::Regular);
        tb.append_data(&mut h, p, d.as_slice()).unwrap();
    }
    gzip(&tb.into_inner().unwrap())
}

/// vex-repository.json whose single 0.1 location is `<archive_url>//VEX_TOP_DIR`
/// (update_interval 24h, like VEX Hub).
pub fn vex_repository_json(archive_url: &str) -> String {
    vex_repository_json_with_interval(archive_url, "24h")
}

/// As [`vex_repository_json`] with another `update_interval` (a Go duration, e.g. "8760h").
pub fn vex_repository_json_with_interval(archive_url: &str, update_interval: &str) -> String {
    format!(
        r#"{{"name":"airlock fixture VEX repository","description":"VEX statements for airlock's tests","versions":[{{"spec_version":"0.1","locations":[{{"url":"{archive_url}//{VEX_TOP_DIR}"}}],"update_interval":"{update_interval}"}}]}}"#
    )
}

/// `$XDG_DATA_HOME/.trivy/vex/repository.yaml` with one enabled repository.
pub fn vex_repository_yaml(name: &str, url: &str) -> String {
    format!(
        "repositories:\n  - name: {name}\n    url: {url}\n    enabled: true\n    username: \"\"\n    password: \"\"\n    token: \"\"\n"
    )
}

// ---------------------------------------------------------------------------
// scan inputs
// ---------------------------------------------------------------------------

pub const JAR_MANIFEST: &str = "Manifest-Version: 1.0\r\nCreated-By: airlock-fixtures\r\n\r\n";

/// A deterministic jar: a MANIFEST.MF without any coordinates and one text file.
pub fn jar_bytes() -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zw.start_file("META-INF/MANIFEST.MF", opts).unwrap();
    zw.write_all(JAR_MANIFEST.as_bytes()).unwrap();
    zw.start_file("airlock/fixture.txt", opts).unwrap();
    zw.write_all(b"airlock fixture jar: identified only by its SHA-1 in the Java DB\n")
        .unwrap();
    zw.finish().unwrap().into_inner()
}

pub const ALPINE_RELEASE: &str = "3.18.4\n";
pub const ALPINE_OS_RELEASE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n";
pub const APK_INSTALLED: &str = "C:Q1airlockfixturezlibchecksum0000=\nP:zlib\nV:1.2.13-r0\nA:x86_64\nS:53000\nI:110592\nT:A compression/decompression Library\nU:https://zlib.net/\nL:Zlib\no:zlib\nm:Natanael Copa <ncopa@alpinelinux.org>\nt:1700000000\nc:0000000000000000000000000000000000000000\nF:lib\nR:libz.so.1.2.13\n\n";

/// A fake Alpine 3.18 rootfs: zlib 1.2.13-r0 in the apk database and the
/// fixture jar at JAR_PATH_IN_ROOTFS.
pub fn write_alpine_rootfs(dir: &Path) {
    write_file(&dir.join("etc/alpine-release"), ALPINE_RELEASE.as_bytes());
    write_file(&dir.join("etc/os-release"), ALPINE_OS_RELEASE.as_bytes());
    write_file(&dir.join("lib/apk/db/installed"), APK_INSTALLED.as_bytes());
    write_file(&dir.join(JAR_PATH_IN_ROOTFS), &jar_bytes());
}

/// A Dockerfile the sentinel check fires on. It also has no USER, so Trivy's
/// embedded checks (used when the cached bundle does not load) report DS-0002.
pub const DOCKERFILE: &str = "FROM alpine:3.18\nLABEL airlock.fixture=sentinel\nRUN echo hello\n";

pub fn write_config_project(dir: &Path) {
    write_file(&dir.join("Dockerfile"), DOCKERFILE.as_bytes());
}

// ---------------------------------------------------------------------------
// archive helpers
// ---------------------------------------------------------------------------

fn tar_header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(FIXED_MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// gzip with a zero mtime in the header (deterministic).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// tar.gz of regular files (mode 0644, uid/gid 0, FIXED_MTIME), sorted by path.
pub fn tar_gz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut sorted: Vec<&(&str, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut tb = tar::Builder::new(Vec::new());
    for (p, d) in sorted {
        let mut h = tar_header(d.len() as u64, 0o644, tar::EntryType::Regular);
        tb.append_data(&mut h, p, d.as_slice()).unwrap();
    }
    gzip(&tb.into_inner().unwrap())
}

/// Unpacks a tar.gz into `dir` (test helper for laying out caches by hand).
pub fn untar_gz(data: &[u8], dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(data));
    ar.unpack(dir).unwrap();
}

fn write_file(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, data).unwrap();
}

// ---------------------------------------------------------------------------
// time helpers (no chrono)
// ---------------------------------------------------------------------------

/// RFC 3339 UTC timestamp ("2024-01-01T00:00:00Z") for seconds since the epoch.
pub fn rfc3339_utc(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Now, offset by `delta_secs`, as RFC 3339 UTC.
pub fn rfc3339_from_now(delta_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    rfc3339_utc(now + delta_secs)
}

// ---------------------------------------------------------------------------
// a Trivy cache laid out by hand (what airlock's import must produce)
// ---------------------------------------------------------------------------

/// Which parts [`write_cache_by_hand`] lays out.
#[derive(Clone, Copy, Debug)]
pub struct CacheParts {
    pub db: bool,
    pub java_db: bool,
    pub checks: bool,
    pub vex: bool,
}

impl CacheParts {
    pub const ALL: CacheParts = CacheParts {
        db: true,
        java_db: true,
        checks: true,
        vex: true,
    };
}

/// Placeholder manifest digest for policy/metadata.json (any string works with
/// `--skip-check-update` or a fresh `DownloadedAt`).
pub const CHECKS_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// VEX repository name used by [`write_cache_by_hand`].
pub const VEX_REPO_NAME: &str = "default";

/// policy/metadata.json as Trivy >= 0.69 writes it.
pub fn checks_metadata_json(digest: &str, downloaded_at: &str) -> String {
    format!(r#"{{"Digest":"{digest}","DownloadedAt":"{downloaded_at}","MajorVersion":2}}"#)
}

/// cache.json of a VEX repository.
pub fn vex_cache_json(updated_at: &str, location_url: &str, etag: &str) -> String {
    format!(r#"{{"UpdatedAt":"{updated_at}","ETags":{{"{location_url}":"{etag}"}}}}"#)
}

/// Lays out `cache` (the --cache-dir) and `xdg` (XDG_DATA_HOME) the way Trivy
/// leaves them after downloading everything: DownloadedAt = now, NextUpdate a
/// day ahead, checks metadata fresh, VEX repository `default` pointing at
/// `vex_repo_url` with a recent cache.json.
pub fn write_cache_by_hand(cache: &Path, xdg: &Path, parts: CacheParts, vex_repo_url: &str) {
    let now = rfc3339_from_now(0);
    let next = rfc3339_from_now(86_400);
    if parts.db {
        let dir = cache.join("db");
        untar_gz(&trivy_db_tar_gz(2, &now, &next), &dir);
        write_file(
            &dir.join("metadata.json"),
            metadata_json(2, &now, &next, &now).as_bytes(),
        );
    }
    if parts.java_db {
        let dir = cache.join("java-db");
        untar_gz(&java_db_tar_gz(&now, &next), &dir);
        write_file(
            &dir.join("metadata.json"),
            metadata_json(1, &now, &next, &now).as_bytes(),
        );
    }
    if parts.checks {
        untar_gz(&checks_bundle_tar_gz(), &cache.join("policy/content"));
        write_file(
            &cache.join("policy/metadata.json"),
            checks_metadata_json(CHECKS_DIGEST, &now).as_bytes(),
        );
    }
    if parts.vex {
        let repo = cache.join("vex/repositories").join(VEX_REPO_NAME);
        for (p, d) in vex_repo_files() {
            write_file(&repo.join("0.1").join(p), &d);
        }
        let archive = format!("{vex_repo_url}/archive.zip");
        write_file(
            &repo.join("vex-repository.json"),
            vex_repository_json(&archive).as_bytes(),
        );
        let loc = format!("{archive}//{VEX_TOP_DIR}");
        write_file(
            &repo.join("cache.json"),
            vex_cache_json(&now, &loc, "").as_bytes(),
        );
        write_file(
            &xdg.join(".trivy/vex/repository.yaml"),
            vex_repository_yaml(VEX_REPO_NAME, vex_repo_url).as_bytes(),
        );
    }
}
