//! Delta bundles end to end (issue 13), with the real Trivy 0.76: a full
//! bundle of the base fixture databases, then a delta bundle of their next
//! versions (REBUILT from scratch: pages moved, ids shifted, see
//! `support/delta_fixtures.rs`), imported in that order. Trivy must report
//! next's IDs and the installed files must be next's, byte for byte; a
//! wrong base, a corrupt delta under a valid signature and a kill at any
//! crash point must leave the cache as it was (or, for a kill, old or new,
//! never mixed). (The manifest rules, inspect and hostile `[[delta]]`
//! fields are in `delta_format.rs`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
#[cfg(feature = "fault-injection")]
use std::process::Command;

use airlock::digest::Sha256Digest;

use crate::support::delta_fixtures::*;
use crate::support::fixtures::*;
use crate::support::resign::*;
use crate::support::trivy::*;
use crate::support::*;

const BASE_CREATED: &str = "2026-11-24T12:00:00Z";
const DELTA_CREATED: &str = "2026-11-25T12:00:00Z";
const TRIVY_DELTA: &str = "delta/trivy-db/trivy.db.delta";

/// A key, a full bundle of the base databases, a delta bundle of next
/// against it, and an empty cache.
struct Setup {
    t: TestDir,
    key: PathBuf,
    public: PathBuf,
    base: PathBuf,
    delta: PathBuf,
    next_full: PathBuf,
    cache: PathBuf,
    xdg: PathBuf,
}

fn export_dbs(out: &Path, key: &Path, inputs: &(PathBuf, PathBuf), created: &str, extra: &[&str]) {
    let mut args = vec![
        "export",
        "-o",
        s(out),
        "--sign-key",
        s(key),
        "--trivy-db",
        s(&inputs.0),
        "--java-db",
        s(&inputs.1),
        "--created",
        created,
    ];
    args.extend_from_slice(extra);
    airlock_ok(&args);
}

fn setup() -> Setup {
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "builder");
    let base_in = write_db_inputs(&t.join("base-in"), Version::Base);
    let next_in = write_db_inputs(&t.join("next-in"), Version::Next);
    let base = t.join("base.airlock");
    export_dbs(&base, &key, &base_in, BASE_CREATED, &[]);
    let delta = t.join("delta.airlock");
    export_dbs(&delta, &key, &next_in, DELTA_CREATED, &["--base", s(&base)]);
    let next_full = t.join("next-full.airlock");
    export_dbs(&next_full, &key, &next_in, DELTA_CREATED, &[]);
    Setup {
        cache: t.join("cache"),
        xdg: t.join("xdg"),
        key,
        public,
        base,
        delta,
        next_full,
        t,
    }
}

impl Setup {
    fn import(&self, bundle: &Path) -> String {
        import_ok(bundle, &self.public, &self.cache, &[])
    }

    /// Trivy's IDs for the fixture rootfs with `cache`.
    fn trivy_ids(&self, cache: &Path) -> Vec<String> {
        let rootfs = self.t.join("rootfs");
        if !rootfs.exists() {
            write_alpine_rootfs(&rootfs);
        }
        rootfs_vuln_ids(cache, &self.xdg, &rootfs, &[])
    }
}

/// Asserts `cache` holds next's databases byte for byte, with next's
/// UpdatedAt.
fn assert_next_installed(cache: &Path) {
    assert!(
        std::fs::read(cache.join("db/trivy.db")).unwrap() == trivy_db_version(Version::Next),
        "db/trivy.db is not next's"
    );
    assert!(
        std::fs::read(cache.join("java-db/trivy-java.db")).unwrap()
            == java_db_bytes_version(Version::Next),
        "java-db/trivy-java.db is not next's"
    );
    for m in ["db/metadata.json", "java-db/metadata.json"] {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cache.join(m)).unwrap()).unwrap();
        assert_eq!(v["UpdatedAt"], NEXT_UPDATED_AT, "{m}");
    }
}

/// Every file of `dir` (the audit log aside: refusals are audited) and
/// the audit log's length.
fn cache_state(dir: &Path) -> (BTreeMap<String, String>, u64) {
    let mut files = tree_hash(dir);
    files.remove("airlock-audit.jsonl");
    let audit = std::fs::metadata(dir.join("airlock-audit.jsonl")).map_or(0, |m| m.len());
    (files, audit)
}

/// Asserts `dir` is as `before` said, the audit log only added to.
fn assert_unchanged(dir: &Path, before: &(BTreeMap<String, String>, u64), what: &str) {
    let after = cache_state(dir);
    assert_eq!(after.0, before.0, "{what}: the cache changed");
    assert!(after.1 >= before.1, "{what}: the audit log shrank");
    assert_no_leftovers(dir, ".airlock-staging");
}

#[test]
fn the_fixture_versions_differ_in_trivys_findings_and_in_their_pages() {
    // Control: base and next give different IDs, so the delta tests below
    // cannot pass with base's files; next is a rebuild, not an append.
    let st = setup();
    st.import(&st.base);
    assert_eq!(st.trivy_ids(&st.cache), expected_ids(Version::Base));
    let other = st.t.join("next-cache");
    import_ok(&st.next_full, &st.public, &other, &[]);
    assert_eq!(st.trivy_ids(&other), expected_ids(Version::Next));
    let (b, n) = (
        trivy_db_version(Version::Base),
        trivy_db_version(Version::Next),
    );
    let same_pages = b
        .chunks(4096)
        .zip(n.chunks(4096))
        .filter(|(x, y)| x == y)
        .count();
    assert!(
        same_pages * 4 < b.len() / 4096,
        "{same_pages} of {} pages in place (first differing {:?}; next has {}): not a rebuild",
        b.len() / 4096,
        b.chunks(4096).zip(n.chunks(4096)).position(|(x, y)| x != y),
        n.len() / 4096
    );
}

#[test]
fn a_delta_after_a_full_import_gives_trivy_the_next_databases_byte_for_byte() {
    let st = setup();
    st.import(&st.base);
    let out = st.import(&st.delta);
    assert!(out.contains("trivy-db"), "{out}");
    assert_next_installed(&st.cache);
    assert_eq!(st.trivy_ids(&st.cache), expected_ids(Version::Next));
    // Both databases travelled as deltas, smaller than the full bundle.
    let v: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["inspect", s(&st.delta), "--json"])).unwrap();
    let kinds: Vec<&str> = v["manifest"]["delta"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["trivy-db", "java-db"]);
    let (d, f) = (file_len(&st.delta), file_len(&st.next_full));
    assert!(d < f, "delta bundle {d} bytes, full {f}");
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

#[test]
fn a_delta_onto_another_database_is_refused_naming_both_and_the_cache_is_unchanged() {
    let st = setup();
    // The host has the standard fixture databases, not the delta's base.
    let other_in = write_db_inputs_standard(&st.t.join("other-in"));
    let other = st.t.join("other.airlock");
    export_dbs(&other, &st.key, &other_in, BASE_CREATED, &[]);
    st.import(&other);
    let before = cache_state(&st.cache);
    let err = import_fails(&st.delta, &st.public, &st.cache, 6);
    let need = Sha256Digest::of(&trivy_db_version(Version::Base)).hex();
    let has = Sha256Digest::of(&trivy_db(2)).hex();
    assert!(
        err.contains(&format!(
            "this delta needs trivy-db sha256:{need} (UpdatedAt {BASE_UPDATED_AT}); this host has sha256:{has} (UpdatedAt {UPDATED_AT}); import a full bundle"
        )),
        "{err}"
    );
    assert_unchanged(&st.cache, &before, "wrong base");
}

fn write_db_inputs_standard(dir: &Path) -> (PathBuf, PathBuf) {
    let (db, java) = (dir.join("db.tar.gz"), dir.join("javadb.tar.gz"));
    write(&db, &trivy_db_tar_gz(2, UPDATED_AT, NEXT_UPDATE));
    write(&java, &java_db_tar_gz(UPDATED_AT, NEXT_UPDATE));
    (db, java)
}

/// The delta bundle with the payload at `path` replaced by `edit(bytes)`,
/// its manifest entry (size, sha256) updated and signed again with the
/// trusted key: every signature and payload digest checks out.
fn resigned(st: &Setup, name: &str, path: &str, edit: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let x = tempfile::tempdir().unwrap();
    extract_bundle(&st.delta, x.path());
    let file = x.path().join(path);
    let old = std::fs::read(&file).unwrap();
    let mut new = old.clone();
    edit(&mut new);
    std::fs::write(&file, &new).unwrap();
    let text = std::fs::read_to_string(x.path().join("airlock/manifest.toml")).unwrap();
    let (old_hex, new_hex) = (Sha256Digest::of(&old).hex(), Sha256Digest::of(&new).hex());
    let at = text
        .find(&format!("[[payload]]\npath = \"{path}\""))
        .expect("the payload entry");
    let (head, tail) = text.split_at(at);
    let end = tail.find("\n\n").unwrap_or(tail.len());
    let entry = tail[..end]
        .replacen(
            &format!("size = {}\n", old.len()),
            &format!("size = {}\n", new.len()),
            1,
        )
        .replacen(&old_hex, &new_hex, 1);
    assert!(
        entry.contains(&new_hex) && entry.contains(&format!("size = {}", new.len())),
        "{entry}"
    );
    let text = format!("{head}{entry}{}", &tail[end..]);
    let out = st.t.join(name);
    resign(x.path(), &text, &st.key, &out);
    // The control: it verifies.
    airlock_ok(&["verify", s(&out), "--key", s(&st.public)]);
    out
}

/// Offset of the first zstd frame's bytes in a delta (header 32 bytes,
/// then a 32-byte record).
const FIRST_FRAME: usize = 64;

#[test]
fn a_corrupt_delta_under_a_valid_signature_is_refused_and_the_cache_is_unchanged() {
    let st = setup();
    st.import(&st.base);
    let before = cache_state(&st.cache);
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            // A byte of a frame's compressed data: zstd's checksum or the
            // result's digest refuses it.
            "flipped",
            Box::new(|d: &mut Vec<u8>| {
                let at = d.len() - 40;
                d[at] ^= 0x20;
            }),
            "trivy-db delta does not apply: delta frame 1: zstd:",
        ),
        (
            "truncated",
            Box::new(|d: &mut Vec<u8>| d.truncate(d.len() - 10)),
            "trivy-db delta does not apply: the delta ends early: inside a frame",
        ),
        (
            // A frame header asking for a 4 GiB window (descriptor 22 << 3).
            "huge-window",
            Box::new(|d: &mut Vec<u8>| {
                d[FIRST_FRAME + 4] &= !0x20; // not single-segment
                d.insert(FIRST_FRAME + 5, 22 << 3);
                d.pop();
            }),
            "trivy-db delta does not apply: delta frame 1: its zstd frame asks for a window of 2^32 bytes; at most 2^31 is accepted",
        ),
        (
            // The header claims a longer result than the signed size.
            "longer",
            Box::new(|d: &mut Vec<u8>| {
                let n = u64::from_le_bytes(d[16..24].try_into().unwrap()) + 1;
                d[16..24].copy_from_slice(&n.to_le_bytes());
            }),
            "trivy-db delta does not apply: the delta rebuilds",
        ),
        (
            "trailing",
            Box::new(|d: &mut Vec<u8>| d.extend_from_slice(b"more")),
            "trivy-db delta does not apply: the delta has bytes after its last frame",
        ),
    ];
    for (name, edit, needle) in cases {
        let bundle = resigned(&st, &format!("{name}.airlock"), TRIVY_DELTA, edit);
        let err = import_fails(&bundle, &st.public, &st.cache, 4);
        assert!(err.contains(needle), "{name}: {err}");
        assert_unchanged(&st.cache, &before, name);
    }
    // The delta itself still applies: the refusals came from the edits.
    st.import(&st.delta);
    assert_next_installed(&st.cache);
}

#[test]
fn a_delta_decoding_to_other_bytes_is_refused_by_the_result_digest() {
    // A frame without its checksum against a reference one byte shorter:
    // zstd decodes it without complaint into other bytes (every match lands
    // one byte off); the result's SHA-256 refuses it.
    let st = setup();
    st.import(&st.base);
    let before = cache_state(&st.cache);
    let bundle = resigned(&st, "shifted.airlock", TRIVY_DELTA, |d| {
        let field = |d: &[u8], at: usize| u64::from_le_bytes(d[at..at + 8].try_into().unwrap());
        let (ref_len, frame_len) = (field(d, 40), field(d, 56));
        assert_eq!(FIRST_FRAME as u64 + frame_len, d.len() as u64, "one frame");
        d[40..48].copy_from_slice(&(ref_len - 1).to_le_bytes());
        d[56..64].copy_from_slice(&(frame_len - 4).to_le_bytes());
        d[FIRST_FRAME + 4] &= !0x04; // no checksum
        d.truncate(d.len() - 4);
    });
    let err = import_fails(&bundle, &st.public, &st.cache, 4);
    assert!(
        err.contains("trivy-db rebuilt from the delta has sha256"),
        "{err}"
    );
    assert_unchanged(&st.cache, &before, "shifted reference");
}

#[test]
fn export_from_a_cache_that_received_a_delta_carries_the_next_databases() {
    let st = setup();
    st.import(&st.base);
    st.import(&st.delta);
    let snap = st.t.join("snapshot.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&snap),
        "--sign-key",
        s(&st.key),
        "--from-cache",
        s(&st.cache),
        "--created",
        "2026-11-26T12:00:00Z",
    ]);
    let restored = st.t.join("restored");
    import_ok(&snap, &st.public, &restored, &[]);
    assert_next_installed(&restored);
    assert_eq!(st.trivy_ids(&restored), expected_ids(Version::Next));
}

#[test]
fn push_after_a_delta_import_serves_trivy_the_next_databases() {
    let st = setup();
    st.import(&st.base);
    let reg = crate::support::registry::Registry::plain(&st.t.join("registry"));
    let target = format!("{}/aquasec", reg.host());
    let out = import_ok(&st.delta, &st.public, &st.cache, &["--push", &target]);
    assert!(out.contains(&format!("{target}/trivy-db:2")), "{out}");
    assert_next_installed(&st.cache);
    let fleet = st.t.join("fleet-cache");
    for (flag, what, repo) in [
        ("--download-db-only", "--db-repository", "trivy-db:2"),
        (
            "--download-java-db-only",
            "--java-db-repository",
            "trivy-java-db:1",
        ),
    ] {
        let o = trivy(
            &fleet,
            &st.xdg,
            &["image", flag, what, &format!("{target}/{repo}")],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(std::fs::read(fleet.join("db/trivy.db")).unwrap() == trivy_db_version(Version::Next));
    assert!(
        std::fs::read(fleet.join("java-db/trivy-java.db")).unwrap()
            == java_db_bytes_version(Version::Next)
    );
    assert_eq!(st.trivy_ids(&fleet), expected_ids(Version::Next));
}

#[cfg(feature = "fault-injection")]
#[test]
fn killed_at_any_point_of_a_delta_import_leaves_the_old_or_the_new_databases() {
    use std::os::unix::process::ExitStatusExt as _;
    let st = setup();
    st.import(&st.base);
    let snapshot = st.t.join("snapshot");
    run_ok(Command::new("cp").arg("-a").arg(&st.cache).arg(&snapshot));
    let import = |extra: &[(&str, String)]| {
        let mut cmd = Command::new(airlock_bin());
        cmd.args([
            "import",
            s(&st.delta),
            "--key",
            s(&st.public),
            "--cache-dir",
            s(&st.cache),
        ])
        .env_remove("AIRLOCK_FAULT_KILL")
        .env_remove("AIRLOCK_FAULT_TRACE");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let trace = st.t.join("trace");
    let out = import(&[("AIRLOCK_FAULT_TRACE", s(&trace).to_string())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let points: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(
        points.iter().any(|p| p.ends_with(" delta applied")),
        "{points:?}"
    );
    let versions = |file: &str| -> [Vec<u8>; 2] {
        match file {
            "db/trivy.db" => [
                trivy_db_version(Version::Base),
                trivy_db_version(Version::Next),
            ],
            _ => [
                java_db_bytes_version(Version::Base),
                java_db_bytes_version(Version::Next),
            ],
        }
    };
    let db_versions = versions("db/trivy.db");
    let java_versions = versions("java-db/trivy-java.db");
    for (i, point) in points.iter().enumerate() {
        std::fs::remove_dir_all(&st.cache).unwrap();
        run_ok(Command::new("cp").arg("-a").arg(&snapshot).arg(&st.cache));
        let out = import(&[("AIRLOCK_FAULT_KILL", (i + 1).to_string())]);
        assert_eq!(out.status.signal(), Some(9), "point {point}: not killed");
        // Each database: entirely base's or entirely next's, with its own
        // metadata.json.
        for (file, meta, vs) in [
            ("db/trivy.db", "db/metadata.json", &db_versions),
            (
                "java-db/trivy-java.db",
                "java-db/metadata.json",
                &java_versions,
            ),
        ] {
            let bytes = std::fs::read(st.cache.join(file)).unwrap();
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(st.cache.join(meta)).unwrap()).unwrap();
            let which = if bytes == vs[0] {
                BASE_UPDATED_AT
            } else if bytes == vs[1] {
                NEXT_UPDATED_AT
            } else {
                panic!("point {point}: {file} is neither base nor next");
            };
            assert_eq!(
                m["UpdatedAt"], which,
                "point {point}: {meta} does not match {file}"
            );
        }
        // The next run finishes the transfer.
        let out = import(&[]);
        assert!(
            out.status.success(),
            "point {point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_next_installed(&st.cache);
    }
}
