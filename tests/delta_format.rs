//! Delta bundles (format 1.3, issue 13): the manifest a delta export
//! writes, what `inspect` says, what a 1.2 reader does with it, the
//! refusals of import (wrong base, hostile fields under a VALID signature),
//! and `--push` after a delta import. (The codec's own refusals, Trivy end
//! to end and the crash cases are in `delta_bundles.rs`.)

use std::path::PathBuf;
use std::process::Command;

use airlock::manifest::Manifest;

use crate::support::fixtures::*;
use crate::support::resign::*;
use crate::support::*;

const NEXT_UPDATED_AT: &str = "2026-11-21T06:13:44Z";
const NEXT_NEXT_UPDATE: &str = "2026-11-22T06:13:44Z";

/// The fixture trivy.db with one more vulnerability and one changed: a
/// different file, as upstream's next build is.
fn next_trivy_db() -> Vec<u8> {
    let mut root = trivy_db_buckets();
    root.bucket("vulnerability").put(
        "CVE-2099-0001",
        r#"{"Title":"airlock fixture next","Severity":"LOW"}"#,
    );
    root.bucket("data-source").put("extra", r#"{"ID":"extra"}"#);
    bbolt_bytes(&root)
}

/// A base bundle (every fixture input), and a delta bundle against it
/// whose trivy-db is the next build (java-db, checks and VEX unchanged).
struct Deltas {
    t: TestDir,
    e: Exported,
    delta: PathBuf,
    next_db: Vec<u8>,
    cache: PathBuf,
}

impl Deltas {
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
                ("trivy.db", next_db.clone()),
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
        Deltas {
            t,
            e,
            delta,
            next_db,
            cache,
        }
    }

    /// Imports the base bundle into the cache.
    fn import_base(&self) {
        import_ok(&self.e.bundle, &self.e.public, &self.cache, &[]);
    }

    /// The delta bundle's manifest text.
    fn manifest_text(&self) -> String {
        let x = tempfile::tempdir().unwrap();
        extract_bundle(&self.delta, x.path());
        std::fs::read_to_string(x.path().join("airlock/manifest.toml")).unwrap()
    }

    /// The delta bundle with its manifest edited and signed again by the
    /// trusted key: every signature checks out.
    fn resigned(&self, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let x = tempfile::tempdir().unwrap();
        extract_bundle(&self.delta, x.path());
        let text = edit(std::fs::read_to_string(x.path().join("airlock/manifest.toml")).unwrap());
        let out = self.t.join(name);
        resign(x.path(), &text, &self.e.key, &out);
        out
    }
}

#[test]
fn a_delta_export_writes_1_3_with_the_base_and_keeps_unchanged_databases_whole() {
    let d = Deltas::new();
    let text = d.manifest_text();
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert_eq!(m.format_version, "1.3");
    assert_eq!(m.deltas.len(), 1, "{text}");
    let delta = &m.deltas[0];
    assert_eq!(delta.kind.name(), "trivy-db");
    assert_eq!(delta.path.as_str(), "delta/trivy-db/trivy.db.delta");
    assert_eq!(
        delta.base.sha256,
        airlock::digest::Sha256Digest::of(&trivy_db(2))
    );
    assert_eq!(delta.base.size, trivy_db(2).len() as u64);
    assert_eq!(delta.base.updated_at.as_str(), UPDATED_AT);
    assert_eq!(
        delta.database.sha256,
        airlock::digest::Sha256Digest::of(&d.next_db)
    );
    assert_eq!(delta.database.size, d.next_db.len() as u64);
    assert_eq!(delta.database.updated_at.as_str(), NEXT_UPDATED_AT);
    // The Java DB did not change: carried whole, like checks and VEX.
    let kinds: Vec<&str> = m.artifacts.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, ["java-db", "checks"]);
    assert_eq!(m.vex.len(), 1);
    // The full bundle is still 1.2.
    let x = tempfile::tempdir().unwrap();
    extract_bundle(&d.e.bundle, x.path());
    let full = std::fs::read_to_string(x.path().join("airlock/manifest.toml")).unwrap();
    assert!(full.contains("format_version = \"1.2\""), "{full}");
    assert!(!full.contains("[[delta]]"));
}

#[test]
fn inspect_says_a_bundle_is_a_delta_and_names_its_base() {
    let d = Deltas::new();
    let base_hex = airlock::digest::Sha256Digest::of(&trivy_db(2)).hex();
    let text = airlock_ok(&["inspect", s(&d.delta), "--key", s(&d.e.public)]);
    assert!(
        text.contains("delta bundle: imports only where each base below is the installed database"),
        "{text}"
    );
    assert!(text.contains("trivy-db  delta ("), "{text}");
    assert!(
        text.contains(&format!("against base sha256 {base_hex}")),
        "{text}"
    );
    assert!(text.contains(&format!("UpdatedAt {UPDATED_AT})")), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["inspect", s(&d.delta), "--json"])).unwrap();
    assert_eq!(json["delta"], true);
    assert_eq!(json["bases"][0]["kind"], "trivy-db");
    assert_eq!(json["bases"][0]["sha256"], format!("sha256:{base_hex}"));
    assert_eq!(json["bases"][0]["updated_at"], UPDATED_AT);
    // A full bundle says neither.
    let json: serde_json::Value =
        serde_json::from_str(&airlock_ok(&["inspect", s(&d.e.bundle), "--json"])).unwrap();
    assert!(
        json.get("delta").is_none() && json.get("bases").is_none(),
        "{json}"
    );
}

/// A 1.2 airlock (e.g. a release build of commit a451d64), named by
/// `AIRLOCK_1_2`. In CI the 1.2 refusal is proven by the second reader's
/// conformance cases (`refuse-*-delta-*`, refused at R13); this test checks
/// the real 1.2 binary's exact words, and runs only when asked:
/// `AIRLOCK_1_2=path/to/airlock cargo test --test tests a_1_2_reader -- --ignored`.
fn airlock_1_2() -> PathBuf {
    let p =
        PathBuf::from(std::env::var_os("AIRLOCK_1_2").expect("AIRLOCK_1_2 names a 1.2 airlock"));
    assert!(p.is_file(), "AIRLOCK_1_2={} is not a file", p.display());
    p
}

#[test]
#[ignore = "needs a 1.2 airlock binary in AIRLOCK_1_2 (building one takes minutes)"]
fn a_1_2_reader_refuses_a_delta_bundle_before_writing_anything() {
    let old = airlock_1_2();
    let d = Deltas::new();
    let expected = "airlock: error: manifest field is invalid: payload.path payload \"delta/trivy-db/metadata.json\" is outside oci/ and vex/";
    for args in [
        vec!["verify", s(&d.delta), "--key", s(&d.e.public)],
        vec!["inspect", s(&d.delta)],
        vec![
            "import",
            s(&d.delta),
            "--key",
            s(&d.e.public),
            "--cache-dir",
            s(&d.cache),
        ],
    ] {
        let out = Command::new(&old).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!d.cache.exists(), "the 1.2 reader wrote the cache");
}

#[test]
fn a_delta_imports_onto_its_base_and_rolls_back() {
    let d = Deltas::new();
    d.import_base();
    let java_before = std::fs::read(d.cache.join("java-db/trivy-java.db")).unwrap();
    let out = import_ok(&d.delta, &d.e.public, &d.cache, &[]);
    assert!(out.contains("trivy-db"), "{out}");
    assert_eq!(
        std::fs::read(d.cache.join("db/trivy.db")).unwrap(),
        d.next_db
    );
    let meta = std::fs::read_to_string(d.cache.join("db/metadata.json")).unwrap();
    assert!(
        meta.contains(&format!("\"UpdatedAt\":\"{NEXT_UPDATED_AT}\"")),
        "{meta}"
    );
    assert_eq!(
        std::fs::read(d.cache.join("java-db/trivy-java.db")).unwrap(),
        java_before
    );
    assert_no_leftovers(&d.cache, ".airlock-staging-");
    airlock_ok(&["rollback", "--cache-dir", s(&d.cache)]);
    assert_eq!(
        std::fs::read(d.cache.join("db/trivy.db")).unwrap(),
        trivy_db(2)
    );
    // The same delta again applies again (its base is back).
    import_ok(&d.delta, &d.e.public, &d.cache, &[]);
    assert_eq!(
        std::fs::read(d.cache.join("db/trivy.db")).unwrap(),
        d.next_db
    );
    // An audit line for each import, the chain intact.
    airlock_ok(&["audit", "--cache-dir", s(&d.cache)]);
}

#[test]
fn a_delta_without_its_base_is_refused_naming_both_and_writes_nothing() {
    let d = Deltas::new();
    let base = airlock::digest::Sha256Digest::of(&trivy_db(2)).hex();
    // No database at all.
    let err = import_fails(&d.delta, &d.e.public, &d.cache, 6);
    assert!(
        err.contains(&format!(
            "this delta needs trivy-db sha256:{base} (UpdatedAt {UPDATED_AT}); this host has none; import a full bundle"
        )),
        "{err}"
    );
    assert!(!d.cache.join("db").exists());
    // Another database: named with its own UpdatedAt.
    d.import_base();
    std::fs::write(d.cache.join("db/trivy.db"), b"not the base").unwrap();
    let before = tree_hash(&d.cache);
    let other = airlock::digest::Sha256Digest::of(b"not the base").hex();
    let err = import_fails(&d.delta, &d.e.public, &d.cache, 6);
    assert!(
        err.contains(&format!(
            "this delta needs trivy-db sha256:{base} (UpdatedAt {UPDATED_AT}); this host has sha256:{other} (UpdatedAt {UPDATED_AT}); import a full bundle"
        )),
        "{err}"
    );
    let mut after = tree_hash(&d.cache);
    after.remove("airlock-audit.jsonl");
    let mut before = before;
    before.remove("airlock-audit.jsonl");
    assert_eq!(before, after, "the cache changed");
}

/// Hostile `[[delta]]` fields under a VALID signature, each refused with
/// its exit code and message, the cache unchanged.
#[test]
fn signed_hostile_delta_fields_are_refused_and_leave_the_cache_as_it_was() {
    let d = Deltas::new();
    d.import_base();
    let m = Manifest::parse(d.manifest_text().as_bytes()).unwrap();
    let size = m.deltas[0].database.size;
    let base_hex = m.deltas[0].base.sha256.hex();
    let result_hex = m.deltas[0].database.sha256.hex();
    let base_size = m.deltas[0].base.size;
    let size_line = format!("size = {size}\nsha256 = \"{result_hex}\"");
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(&str, Edit, i32, String)> = vec![
        (
            "result-size-lies",
            Box::new({
                let (a, b) = (
                    size_line.clone(),
                    format!("size = {}\nsha256 = \"{result_hex}\"", size + 4096),
                );
                move |t: String| t.replacen(&a, &b, 1)
            }),
            4,
            format!(
                "the delta rebuilds {size} bytes; the manifest says {}",
                size + 4096
            ),
        ),
        (
            "result-size-enormous",
            Box::new({
                let (a, b) = (
                    size_line.clone(),
                    format!("size = {}\nsha256 = \"{result_hex}\"", 1u64 << 40),
                );
                move |t: String| t.replacen(&a, &b, 1)
            }),
            4,
            "is larger than 274877906944 (the most any bundle may declare)".into(),
        ),
        (
            "base-matches-nothing",
            Box::new({
                let b = base_hex.clone();
                move |t: String| t.replacen(&b, &"0".repeat(64), 1)
            }),
            6,
            format!("this delta needs trivy-db sha256:{}", "0".repeat(64)),
        ),
        (
            "delta-for-checks",
            Box::new(|t: String| {
                t.replacen(
                    "kind = \"trivy-db\"\nrepository = \"trivy-db\"",
                    "kind = \"checks\"\nrepository = \"trivy-checks\"",
                    1,
                )
            }),
            4,
            "a delta is defined only for trivy-db and java-db, not checks".into(),
        ),
        (
            "two-deltas-one-kind",
            Box::new(|t: String| {
                let start = t.find("[[delta]]").unwrap();
                let end = t[start..].find("[[payload]]").unwrap() + start;
                let block = t[start..end].to_string();
                format!("{}{block}{block}{}", &t[..start], &t[end..])
            }),
            4,
            "delta trivy-db is listed twice or out of order".into(),
        ),
        (
            "base-is-result",
            Box::new({
                let (a, b) = (
                    format!("sha256 = \"{base_hex}\"\nsize = {base_size}"),
                    format!("sha256 = \"{result_hex}\"\nsize = {base_size}"),
                );
                move |t: String| {
                    assert!(t.contains(&a), "{t}");
                    t.replacen(&a, &b, 1)
                }
            }),
            4,
            "the base and the result are the same file".into(),
        ),
        (
            "delta-as-1-2",
            Box::new(|t: String| {
                t.replacen("format_version = \"1.3\"", "format_version = \"1.2\"", 1)
            }),
            4,
            "the manifest carries deltas but declares format 1.2; deltas are format 1.3".into(),
        ),
        (
            "delta-also-whole",
            Box::new(|t: String| {
                t.replacen(
                    "kind = \"trivy-db\"\nrepository = \"trivy-db\"\ntag = \"2\"",
                    "kind = \"java-db\"\nrepository = \"trivy-java-db\"\ntag = \"1\"",
                    1,
                )
            }),
            4,
            "java-db is carried both whole and as a delta".into(),
        ),
    ];
    let before = tree_hash(&d.cache.join("db"));
    for (name, edit, code, needle) in cases {
        let bundle = d.resigned(&format!("{name}.airlock"), edit);
        let err = import_fails(&bundle, &d.e.public, &d.cache, code);
        assert!(err.contains(&needle), "{name}: {err}");
        assert_eq!(
            tree_hash(&d.cache.join("db")),
            before,
            "{name}: the cache changed"
        );
        assert_no_leftovers(&d.cache, ".airlock-staging-");
    }
}

#[test]
fn export_base_must_be_proven_by_the_base_keys() {
    let d = Deltas::new();
    let (_, other_pub) = keygen(d.t.path(), "other");
    let out = d.t.join("again.airlock");
    let mut args = export_all_args(&d.e.inputs, &d.e.key, &out);
    args.extend(["--base", s(&d.e.bundle), "--base-key", s(&other_pub)]);
    let err = airlock_fails(&args, 3);
    assert!(err.contains("the base bundle"), "{err}");
    assert!(err.contains("no signature by a trusted key"), "{err}");
    assert!(!out.exists());
}

#[test]
fn push_after_a_delta_import_rebuilds_the_layer_and_names_upstreams_digest() {
    let d = Deltas::new();
    d.import_base();
    let reg = crate::support::registry::Registry::plain(&d.t.join("registry"));
    let target = format!("{}/mirror", reg.host());
    let m = Manifest::parse(d.manifest_text().as_bytes()).unwrap();
    let upstream = m.deltas[0].upstream_layer_digest.unwrap().oci();
    let out = import_ok(&d.delta, &d.e.public, &d.cache, &["--push", &target]);
    assert!(
        out.contains(&format!(
            "differs from upstream's {upstream} (same database file, another gzip)"
        )),
        "{out}"
    );
    // What the registry serves is the cache's database, whole.
    let served: serde_json::Value =
        serde_json::from_slice(&reg.raw_manifest("mirror/trivy-db:2")).unwrap();
    let layer = served["layers"][0]["digest"].as_str().unwrap().to_string();
    assert_ne!(layer, upstream);
    assert!(out.contains(&format!("layer {layer} differs")), "{out}");
    // Without a cache there is nothing to rebuild from: refused.
    let reg2 = crate::support::registry::Registry::plain(&d.t.join("registry2"));
    let err = airlock_fails(
        &[
            "import",
            s(&d.delta),
            "--key",
            s(&d.e.public),
            "--push",
            &format!("{}/m", reg2.host()),
        ],
        2,
    );
    assert!(
        err.contains("cannot push the trivy-db of this delta bundle"),
        "{err}"
    );
}

#[test]
fn a_delta_only_bundle_exports_and_imports() {
    let d = Deltas::new();
    d.import_base();
    let next_layer = d.t.join("next-db.tar.gz");
    let only = d.t.join("only.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&only),
        "--sign-key",
        s(&d.e.key),
        "--trivy-db",
        s(&next_layer),
        "--created",
        "2026-11-26T12:00:00Z",
        "--base",
        s(&d.e.bundle),
    ]);
    let x = tempfile::tempdir().unwrap();
    extract_bundle(&only, x.path());
    let text = std::fs::read_to_string(x.path().join("airlock/manifest.toml")).unwrap();
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert!(m.artifacts.is_empty() && m.vex.is_empty(), "{text}");
    assert_eq!(m.deltas.len(), 1);
    assert!(!text.contains("oci/"), "{text}");
    import_ok(&only, &d.e.public, &d.cache, &[]);
    assert_eq!(
        std::fs::read(d.cache.join("db/trivy.db")).unwrap(),
        d.next_db
    );
    // The same bundle again changes nothing (already installed), and
    // does not ask for the base (the host has the result now).
    let before = tree_hash(&d.cache.join("db"));
    let again = import_ok(&only, &d.e.public, &d.cache, &[]);
    assert!(again.contains("already installed"), "{again}");
    assert_eq!(tree_hash(&d.cache.join("db")), before);
}

#[test]
fn a_cache_that_received_a_delta_exports_from_cache_as_before() {
    let d = Deltas::new();
    d.import_base();
    import_ok(&d.delta, &d.e.public, &d.cache, &[]);
    let out = d.t.join("from-cache.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&out),
        "--sign-key",
        s(&d.e.key),
        "--from-cache",
        s(&d.cache),
    ]);
    let verified = airlock_ok(&["verify", s(&out), "--key", s(&d.e.public), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&verified).unwrap();
    let db = v["manifest"]["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "trivy-db")
        .unwrap()["database"]
        .clone();
    assert_eq!(
        db["sha256"],
        airlock::digest::Sha256Digest::of(&d.next_db).hex()
    );
    assert_eq!(db["updated_at"], NEXT_UPDATED_AT);
    let fresh = d.t.join("fresh");
    import_ok(&out, &d.e.public, &fresh, &[]);
    assert_eq!(std::fs::read(fresh.join("db/trivy.db")).unwrap(), d.next_db);
}
