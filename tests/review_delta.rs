//! An outside review of delta bundles (format 1.3, issue 13): hostile
//! bytes under a VALID signature (the delta's own container re-signed with
//! the trusted key), and a host whose base is not a plain file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use airlock::digest::Sha256Digest;

use crate::support::fixtures::*;
use crate::support::resign::*;
use crate::support::*;

const NEXT_UPDATED_AT: &str = "2026-11-21T06:13:44Z";
const NEXT_NEXT_UPDATE: &str = "2026-11-22T06:13:44Z";
const DELTA_PAYLOAD: &str = "delta/trivy-db/trivy.db.delta";

/// A base bundle (every fixture input) and a delta bundle against it whose
/// trivy-db is the next build.
struct Fixture {
    t: TestDir,
    e: Exported,
    delta: PathBuf,
    cache: PathBuf,
}

fn next_trivy_db() -> Vec<u8> {
    let mut root = trivy_db_buckets();
    root.bucket("vulnerability").put(
        "CVE-2099-0001",
        r#"{"Title":"airlock fixture next","Severity":"LOW"}"#,
    );
    root.bucket("data-source").put("extra", r#"{"ID":"extra"}"#);
    bbolt_bytes(&root)
}

impl Fixture {
    fn new() -> Self {
        let t = TestDir::new();
        let e = export_fixtures(&t);
        let next_db = next_trivy_db();
        let next_layer = t.join("next-db.tar.gz");
        write(
            &next_layer,
            &tar_gz(&[
                (
                    "metadata.json",
                    db_metadata_json(2, NEXT_UPDATED_AT, NEXT_NEXT_UPDATE).into_bytes(),
                ),
                ("trivy.db", next_db),
            ]),
        );
        let delta = t.join("delta.airlock");
        let mut args = export_all_args(&e.inputs, &e.key, &delta);
        let at = args.iter().position(|a| *a == s(&e.inputs.db)).unwrap();
        args[at] = s(&next_layer);
        let created = args.iter().position(|a| *a == CREATED).unwrap();
        args[created] = "2026-11-26T12:00:00Z";
        args.extend(["--base", s(&e.bundle)]);
        airlock_ok(&args);
        let cache = t.join("cache");
        Fixture { t, e, delta, cache }
    }

    fn import_base(&self) {
        import_ok(&self.e.bundle, &self.e.public, &self.cache, &[]);
    }

    /// The delta bundle with its delta payload rewritten by `edit` (the
    /// payload table updated to match) and its manifest text edited by
    /// `text`, all signed again by the trusted key.
    fn resigned(
        &self,
        name: &str,
        edit: impl Fn(Vec<u8>) -> Vec<u8>,
        text: impl Fn(String) -> String,
    ) -> PathBuf {
        let x = tempfile::tempdir().unwrap();
        extract_bundle(&self.delta, x.path());
        let delta_path = x.path().join(DELTA_PAYLOAD);
        let old = std::fs::read(&delta_path).unwrap();
        let new = edit(old.clone());
        std::fs::write(&delta_path, &new).unwrap();
        let mut manifest = std::fs::read_to_string(x.path().join("airlock/manifest.toml")).unwrap();
        let (old_line, new_line) = (
            format!(
                "size = {}\nsha256 = \"{}\"",
                old.len(),
                Sha256Digest::of(&old).hex()
            ),
            format!(
                "size = {}\nsha256 = \"{}\"",
                new.len(),
                Sha256Digest::of(&new).hex()
            ),
        );
        assert!(manifest.contains(&old_line), "{manifest}");
        manifest = text(manifest.replacen(&old_line, &new_line, 1));
        let out = self.t.join(name);
        resign(x.path(), &manifest, &self.e.key, &out);
        out
    }
}

/// Runs airlock, killing it after `limit` (a hang is a failure, not a
/// test that never ends).
fn airlock_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(airlock_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "airlock {args:?} still ran after {limit:?} (killed); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn import_args<'a>(f: &'a Fixture, bundle: &'a Path) -> Vec<&'a str> {
    vec![
        "import",
        s(bundle),
        "--key",
        s(&f.e.public),
        "--cache-dir",
        s(&f.cache),
    ]
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    run_ok(Command::new("mkfifo").arg(path));
}

/// A FIFO where the base database (or its metadata.json) should be: the
/// import must not wait for a writer that never comes; it refuses, exit 6,
/// naming what is there, and writes nothing.
#[test]
fn a_fifo_in_place_of_the_base_is_refused_without_waiting() {
    let f = Fixture::new();
    f.import_base();
    let db = f.cache.join("db/trivy.db");
    let base = Sha256Digest::of(&trivy_db(2)).hex();
    mkfifo(&db);
    let before = tree_hash(&f.cache.join("db"));
    let out = airlock_within(&import_args(&f, &f.delta), Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains(&format!(
            "this delta needs trivy-db sha256:{base} (UpdatedAt {UPDATED_AT}); this host has {} that is not a regular file; import a full bundle",
            db.display()
        )),
        "{err}"
    );
    assert_eq!(tree_hash(&f.cache.join("db")), before);
    // Another database, with a FIFO for its metadata.json: the refusal
    // names the UpdatedAt as unknown rather than waiting to read it.
    std::fs::remove_file(&db).unwrap();
    std::fs::write(&db, b"not the base").unwrap();
    mkfifo(&f.cache.join("db/metadata.json"));
    let other = Sha256Digest::of(b"not the base").hex();
    let out = airlock_within(&import_args(&f, &f.delta), Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains(&format!(
            "this host has sha256:{other} (UpdatedAt unknown); import a full bundle"
        )),
        "{err}"
    );
}

/// A symbolic link where the base database should be: refused as the
/// host's state (exit 6, naming it), not followed, nothing written.
#[test]
fn a_symlinked_base_is_refused_as_the_hosts_state() {
    let f = Fixture::new();
    f.import_base();
    let db = f.cache.join("db/trivy.db");
    let elsewhere = f.t.join("elsewhere.db");
    std::fs::rename(&db, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &db).unwrap();
    let before = tree_hash(&f.cache.join("db"));
    let out = airlock_within(&import_args(&f, &f.delta), Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.contains(&format!(
            "this host has {} that is not a regular file; import a full bundle",
            db.display()
        )),
        "{err}"
    );
    assert_eq!(tree_hash(&f.cache.join("db")), before);
    assert_eq!(std::fs::read(&elsewhere).unwrap(), trivy_db(2));
}

/// Overwrites the delta container's header field at `at` (8 bytes LE).
fn set_u64(mut d: Vec<u8>, at: usize, v: u64) -> Vec<u8> {
    d[at..at + 8].copy_from_slice(&v.to_le_bytes());
    d
}

/// A signed delta whose header states chunks larger than the bound the
/// reader's heap is sized by (16 MiB, what export writes): refused before a
/// frame is read, whatever the rest says. (A reader that accepted 256 MiB
/// chunks held about 512 MiB of heap for one frame: its output buffer and
/// its compressed frame.)
#[test]
fn a_chunk_above_the_heap_bound_is_refused() {
    let f = Fixture::new();
    f.import_base();
    let before = tree_hash(&f.cache.join("db"));
    let bundle = f.resigned(
        "big-chunk.airlock",
        |d| set_u64(d, 24, (16 << 20) + 1),
        |t| t,
    );
    let out = airlock_within(&import_args(&f, &bundle), Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("trivy-db delta does not apply: delta frame 0: chunk length 16777217 is not in 1048576..=16777216 (only a delta of one chunk may have a shorter one)"),
        "{err}"
    );
    assert_eq!(tree_hash(&f.cache.join("db")), before);
    assert_no_leftovers(&f.cache, ".airlock-staging-");
}
