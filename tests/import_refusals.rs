//! Bundles that `verify` and `import` must refuse, with the right exit code
//! and message, leaving a populated cache and VEX directory byte for byte as
//! they were (and, when the refusal comes at the signature stage, creating
//! nothing at all).
//!
//! Every bad bundle is derived from a good one made by the real CLI; the
//! crafting helpers are themselves checked by
//! `crafted_bundles_are_accepted_when_nothing_is_wrong`, so a refusal here is
//! caused by the one defect each test introduces.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use airlock::bundle::writer::BundleWriter;
use airlock::keys::{PublicKey, SecretKey, Signature};
use airlock::manifest::{Manifest, Payload};

use crate::support::fixtures::FIXED_MTIME;
use crate::support::*;

/// The manifest entry, first in every bundle.
const MANIFEST_ENTRY: &str = "airlock/manifest.toml";
/// The VEX archive payload of the fixture bundle.
const VEX_ARCHIVE: &str = "vex/default/archive.zip";
/// The OCI image index payload.
const OCI_INDEX: &str = "oci/index.json";

type Tree = BTreeMap<String, String>;

/// A good bundle, the key that signed it, and a cache + VEX directory
/// populated by importing it.
pub(crate) struct Setup {
    pub(crate) t: TestDir,
    pub(crate) key: PathBuf,
    pub(crate) public: PathBuf,
    pub(crate) good: PathBuf,
    pub(crate) cache: PathBuf,
    pub(crate) vex_dir: PathBuf,
    pub(crate) cache_before: Tree,
    pub(crate) vex_before: Tree,
}

impl Setup {
    pub(crate) fn new() -> Self {
        let t = TestDir::new();
        let inputs = write_inputs(t.path());
        let (key, public) = keygen(t.path(), "builder");
        let good = t.join("good.airlock");
        export_all(&inputs, &key, &good);
        let cache = t.join("cache");
        let vex_dir = t.join("vex-static");
        airlock_ok(&[
            "import",
            s(&good),
            "--key",
            s(&public),
            "--cache-dir",
            s(&cache),
            "--vex-dir",
            s(&vex_dir),
        ]);
        let cache_before = tree_hash(&cache);
        let vex_before = tree_hash(&vex_dir);
        // The trees compared below really hold an installed cache.
        for p in [
            "db/trivy.db",
            "java-db/trivy-java.db",
            "policy/metadata.json",
            "vex/repositories/default/0.1/index.json",
        ] {
            assert!(
                cache_before.get(p).is_some_and(|v| v.starts_with("file ")),
                "the good import did not install {p}: {cache_before:?}"
            );
        }
        assert!(
            vex_before
                .get("default/.well-known/vex-repository.json")
                .is_some_and(|v| v.starts_with("file ")),
            "the good import did not write the static VEX directory: {vex_before:?}"
        );
        Setup {
            t,
            key,
            public,
            good,
            cache,
            vex_dir,
            cache_before,
            vex_before,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.t.join(name)
    }

    /// The good bundle's tar entries, in order.
    fn entries(&self) -> Vec<(String, Vec<u8>)> {
        tar_entries(&bundle_tar(&self.good))
    }

    /// The good bundle's raw manifest bytes.
    fn manifest_bytes(&self) -> Vec<u8> {
        let entries = self.entries();
        assert_eq!(entries[0].0, MANIFEST_ENTRY);
        entries[0].1.clone()
    }

    pub(crate) fn manifest(&self) -> Manifest {
        Manifest::parse(&self.manifest_bytes()).expect("the good manifest parses")
    }

    /// The good bundle with its manifest text edited by `edit` and signed
    /// again by the trusted key (payloads as they were), written to `name`.
    pub(crate) fn resigned(&self, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let original = String::from_utf8(self.manifest_bytes()).unwrap();
        let edited = edit(original.clone());
        let sig = self.sign(edited.as_bytes());
        let bundle = self.path(name);
        write_library_bundle(
            &bundle,
            edited.as_bytes(),
            &[sig],
            Manifest::parse(original.as_bytes()).unwrap().payloads,
            &self.entries(),
        );
        bundle
    }

    /// A signature over `manifest` by the trusted test key, made by the library.
    fn sign(&self, manifest: &[u8]) -> Signature {
        SecretKey::from_file(&self.key)
            .expect("read the test key")
            .sign(manifest, "u", "timestamp:1\tfile:manifest.toml")
            .expect("sign")
    }

    fn key_id(&self) -> String {
        PublicKey::from_file(&self.public)
            .expect("read the public key")
            .key_id()
            .to_string()
    }

    /// Runs `verify` and `import` (into the populated cache and VEX
    /// directory) on `bundle`; asserts the exit code, that stderr holds every
    /// one of `needles`, and that neither directory changed. Returns the
    /// import's stderr.
    pub(crate) fn refused(&self, bundle: &Path, code: i32, needles: &[&str]) -> String {
        let verify = airlock_fails(&["verify", s(bundle), "--key", s(&self.public)], code);
        assert_mentions(&verify, needles);
        let import = airlock_fails(
            &[
                "import",
                s(bundle),
                "--key",
                s(&self.public),
                "--cache-dir",
                s(&self.cache),
                "--vex-dir",
                s(&self.vex_dir),
            ],
            code,
        );
        assert_mentions(&import, needles);
        assert_eq!(
            tree_hash(&self.cache),
            self.cache_before,
            "a refused import changed the cache (stderr: {import})"
        );
        assert_eq!(
            tree_hash(&self.vex_dir),
            self.vex_before,
            "a refused import changed the VEX directory (stderr: {import})"
        );
        import
    }

    /// Imports `bundle` into a cache and VEX directory that do not exist,
    /// asserts the refusal, and that neither was created.
    pub(crate) fn refused_creating_nothing(
        &self,
        bundle: &Path,
        code: i32,
        needles: &[&str],
        tag: &str,
    ) {
        let cache = self.path(&format!("fresh-cache-{tag}"));
        let vex_dir = self.path(&format!("fresh-vex-{tag}"));
        assert!(!cache.exists() && !vex_dir.exists());
        let stderr = airlock_fails(
            &[
                "import",
                s(bundle),
                "--key",
                s(&self.public),
                "--cache-dir",
                s(&cache),
                "--vex-dir",
                s(&vex_dir),
            ],
            code,
        );
        assert_mentions(&stderr, needles);
        assert!(
            !cache.exists(),
            "a refused import created the cache directory {}",
            cache.display()
        );
        assert!(
            !vex_dir.exists(),
            "a refused import created the VEX directory {}",
            vex_dir.display()
        );
    }
}

fn assert_mentions(stderr: &str, needles: &[&str]) {
    for n in needles {
        assert!(stderr.contains(n), "expected {n:?} in stderr:\n{stderr}");
    }
}

/// Every entry of a tar (path, data), in order.
pub(crate) fn tar_entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut ar = ::tar::Archive::new(tar);
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_str().unwrap().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect()
}

/// Writes `entries` as a bundle, with the header fields airlock's writer
/// uses, but without any of its checks (order, listing, signatures).
pub(crate) fn write_raw_bundle(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut b = ::tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = ::tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(FIXED_MTIME);
        h.set_entry_type(::tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    write_bundle_tar(path, &b.into_inner().unwrap());
}

/// Writes a bundle with the library's writer: `manifest` and `signatures`,
/// then `payloads` taken from `entries` by path.
fn write_library_bundle(
    path: &Path,
    manifest: &[u8],
    signatures: &[Signature],
    payloads: Vec<Payload>,
    entries: &[(String, Vec<u8>)],
) {
    let data: BTreeMap<&str, &[u8]> = entries
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let out = std::fs::File::create(path).unwrap();
    let mut w = BundleWriter::new(out, manifest, signatures, payloads.clone(), FIXED_MTIME)
        .expect("start the bundle");
    for p in &payloads {
        let mut bytes = *data
            .get(p.path.as_str())
            .unwrap_or_else(|| panic!("no entry {}", p.path));
        w.append(&p.path, &mut bytes).expect("append a payload");
    }
    w.finish().expect("finish the bundle");
}

/// The good tar with one byte flipped in the data of `entry`; returns the
/// modified bundle's path.
fn flip_in_entry(setup: &Setup, entry: &str, name: &str) -> PathBuf {
    let mut tar = bundle_tar(&setup.good);
    let (offset, size) = tar_entry_offset(&tar, entry);
    assert!(size > 0, "{entry} is empty");
    let at = offset + size as usize / 2;
    let before = tar[at];
    tar[at] ^= 0x01;
    assert_ne!(tar[at], before);
    let out = setup.path(name);
    write_bundle_tar(&out, &tar);
    out
}

#[test]
fn crafted_bundles_are_accepted_when_nothing_is_wrong() {
    // The helpers the refusal tests build on produce accepted bundles when
    // they change nothing, so each refusal below is caused by its one defect.
    let setup = Setup::new();
    let entries = setup.entries();
    assert_eq!(entries[0].0, MANIFEST_ENTRY);
    assert!(entries[1].0.starts_with("airlock/signatures/"));
    let manifest = setup.manifest();
    let paths: Vec<&str> = entries[2..].iter().map(|(p, _)| p.as_str()).collect();
    let listed: Vec<&str> = manifest.payloads.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, listed);

    // The decompress/recompress round trip.
    let tar = bundle_tar(&setup.good);
    let recompressed = setup.path("recompressed.airlock");
    write_bundle_tar(&recompressed, &tar);
    airlock_ok(&["verify", s(&recompressed), "--key", s(&setup.public)]);

    // The raw tar writer.
    let raw = setup.path("raw.airlock");
    write_raw_bundle(&raw, &entries);
    airlock_ok(&["verify", s(&raw), "--key", s(&setup.public)]);

    // The library writer with a library signature over the untouched
    // manifest; it also imports.
    let bytes = setup.manifest_bytes();
    let resigned = setup.path("resigned.airlock");
    write_library_bundle(
        &resigned,
        &bytes,
        &[setup.sign(&bytes)],
        manifest.payloads.clone(),
        &entries,
    );
    airlock_ok(&["verify", s(&resigned), "--key", s(&setup.public)]);
    let cache = setup.path("control-cache");
    import_ok(&resigned, &setup.public, &cache, &[]);
    assert!(cache.join("db/trivy.db").is_file());

    // And a re-serialised manifest (what the tests that edit the payload
    // list sign) is accepted as well.
    let reserialised = setup.path("reserialised.airlock");
    write_raw_bundle(
        &reserialised,
        &resigned_entries(&setup, &manifest, &entries),
    );
    airlock_ok(&["verify", s(&reserialised), "--key", s(&setup.public)]);
}

#[test]
fn bundle_signed_by_another_key_is_refused_naming_both_keys() {
    let setup = Setup::new();
    let (intruder_key, intruder_pub) = keygen(setup.t.path(), "intruder");
    let intruder_id = PublicKey::from_file(&intruder_pub)
        .unwrap()
        .key_id()
        .to_string();
    let trusted_id = setup.key_id();
    assert_ne!(intruder_id, trusted_id);
    let inputs = write_inputs(&setup.path("intruder-inputs"));
    let bundle = setup.path("intruder.airlock");
    export_all(&inputs, &intruder_key, &bundle);
    // The bundle itself is fine: its own key accepts it.
    airlock_ok(&["verify", s(&bundle), "--key", s(&intruder_pub)]);

    let signed_by = format!("signed by key {intruder_id}");
    let trusts = format!("trusts key {trusted_id}");
    let needles = ["no signature by a trusted key", &signed_by, &trusts];
    setup.refused(&bundle, 3, &needles);
    setup.refused_creating_nothing(&bundle, 3, &needles, "wrong-key");
}

#[test]
fn unsigned_bundle_is_refused() {
    let setup = Setup::new();
    let manifest = setup.manifest();
    let bundle = setup.path("unsigned.airlock");
    write_library_bundle(
        &bundle,
        &setup.manifest_bytes(),
        &[],
        manifest.payloads,
        &setup.entries(),
    );
    // Really no signature entry: the manifest is followed by the payloads.
    let entries = tar_entries(&bundle_tar(&bundle));
    assert_eq!(entries[0].0, MANIFEST_ENTRY);
    assert!(entries
        .iter()
        .all(|(p, _)| !p.starts_with("airlock/signatures/")));

    let needles = ["the bundle carries no signatures"];
    setup.refused(&bundle, 3, &needles);
    setup.refused_creating_nothing(&bundle, 3, &needles, "unsigned");
}

#[test]
fn flipped_byte_in_any_payload_is_refused_naming_the_payload() {
    let setup = Setup::new();
    let manifest = setup.manifest();
    let db = manifest
        .artifacts
        .iter()
        .find(|a| a.kind == airlock::manifest::ArtifactKind::TrivyDb)
        .expect("the bundle carries trivy-db");
    let db_layer = Manifest::blob_path(&db.layer.digest);
    for (i, payload) in [db_layer.as_str(), VEX_ARCHIVE, OCI_INDEX]
        .into_iter()
        .enumerate()
    {
        assert!(manifest.payload(payload).is_some(), "{payload} is listed");
        let bundle = flip_in_entry(&setup, payload, &format!("flipped-{i}.airlock"));
        let expected = format!("payload {payload} is damaged or was altered");
        let stderr = setup.refused(&bundle, 4, &[&expected]);
        assert!(
            stderr.contains("the signed manifest says"),
            "the message should give both digests:\n{stderr}"
        );
    }
}

#[test]
fn flipped_byte_in_the_manifest_breaks_the_signature() {
    let setup = Setup::new();
    let bundle = flip_in_entry(&setup, MANIFEST_ENTRY, "manifest-flipped.airlock");
    let trusted = format!("signature by trusted key {}", setup.key_id());
    let needles = [
        trusted.as_str(),
        "does not verify: the manifest was altered after signing",
    ];
    setup.refused(&bundle, 3, &needles);
    setup.refused_creating_nothing(&bundle, 3, &needles, "manifest-flipped");
}

#[test]
fn flipped_byte_in_the_compressed_file_is_refused() {
    let setup = Setup::new();
    let mut bytes = std::fs::read(&setup.good).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let bundle = setup.path("compressed-flipped.airlock");
    write(&bundle, &bytes);
    // Whether zstd notices or a payload digest does, it is damage.
    setup.refused(&bundle, 4, &["damaged"]);
}

#[test]
fn truncated_bundle_is_refused() {
    let setup = Setup::new();
    let bytes = std::fs::read(&setup.good).unwrap();
    for (name, cut) in [("half", bytes.len() / 2), ("tail", bytes.len() - 10)] {
        let bundle = setup.path(&format!("truncated-{name}.airlock"));
        write(&bundle, &bytes[..cut]);
        let stderr = setup.refused(&bundle, 4, &[]);
        assert!(
            stderr.contains("the bundle is truncated") || stderr.contains("damaged"),
            "cut at {cut} of {}: {stderr}",
            bytes.len()
        );
    }
}

#[test]
fn unknown_format_major_is_refused_after_its_signature_is_checked() {
    let setup = Setup::new();
    let bundle = setup.resigned("format-2.airlock", |m| {
        assert!(m.contains("format_version = \"1.2\""));
        m.replace("format_version = \"1.2\"", "format_version = \"2.0\"")
    });
    let needles = ["bundle format version 2.0 is not supported"];
    setup.refused(&bundle, 4, &needles);
    setup.refused_creating_nothing(&bundle, 4, &needles, "format-2");
}

#[test]
fn file_that_is_not_zstd_is_refused() {
    let setup = Setup::new();
    // Pseudo-random bytes (a fixed xorshift sequence), a plain tar (the
    // bundle decompressed) and an empty file.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let plain_tar = bundle_tar(&setup.good);
    for (name, data) in [
        ("random", random),
        ("plain-tar", plain_tar),
        ("empty", Vec::new()),
    ] {
        let bundle = setup.path(&format!("{name}.airlock"));
        write(&bundle, &data);
        let needles = ["does not start with a zstd frame"];
        setup.refused(&bundle, 4, &needles);
        setup.refused_creating_nothing(&bundle, 4, &needles, name);
    }
}

#[test]
fn payload_not_listed_or_listed_but_missing_is_refused() {
    let setup = Setup::new();
    let entries = setup.entries();
    let manifest = setup.manifest();

    // A blob smuggled in among the payloads (the signed manifest is intact).
    let smuggled = b"{\"not\":\"listed\"}".to_vec();
    let smuggled_path =
        Manifest::blob_path(&airlock::digest::Sha256Digest::of(&smuggled)).to_string();
    let mut with_extra = entries.clone();
    let at = with_extra
        .iter()
        .position(|(p, _)| p == VEX_ARCHIVE)
        .unwrap();
    with_extra.insert(at, (smuggled_path.clone(), smuggled.clone()));
    let bundle = setup.path("smuggled.airlock");
    write_raw_bundle(&bundle, &with_extra);
    let found = format!("entry {smuggled_path:?} is not listed in the manifest");
    let expected_next = format!("(expected {VEX_ARCHIVE:?} next)");
    setup.refused(&bundle, 4, &[&found, &expected_next]);

    // The same blob after the last payload.
    let mut trailing = entries.clone();
    trailing.push((smuggled_path.clone(), smuggled));
    let bundle = setup.path("trailing.airlock");
    write_raw_bundle(&bundle, &trailing);
    let follows = format!("entry {smuggled_path:?} follows the last listed payload");
    setup.refused(&bundle, 4, &[&follows]);

    // A listed payload dropped from the middle, and the last one dropped.
    let last = manifest.payloads.last().unwrap().path.clone();
    for (name, gone) in [("no-index", OCI_INDEX), ("no-last", last.as_str())] {
        let without: Vec<_> = entries.iter().filter(|(p, _)| p != gone).cloned().collect();
        assert_eq!(without.len(), entries.len() - 1);
        let bundle = setup.path(&format!("{name}.airlock"));
        write_raw_bundle(&bundle, &without);
        // Dropped from the middle: another entry stands where it should be.
        // Dropped at the end: the archive ends before it.
        let missing = if name == "no-last" {
            format!("the archive ends before payload {gone}")
        } else {
            format!("payload {gone} is listed in the manifest but missing from the bundle")
        };
        setup.refused(&bundle, 4, &[&missing]);
    }

    // A re-signed manifest that lists one more payload than the bundle has.
    let phantom = "vex/default/zz-phantom.json";
    let mut m = manifest.clone();
    m.payloads.push(Payload {
        path: phantom.parse().unwrap(),
        size: 2,
        sha256: airlock::digest::Sha256Digest::of(b"{}"),
    });
    let bundle = setup.path("phantom.airlock");
    write_raw_bundle(&bundle, &resigned_entries(&setup, &m, &entries));
    // (Refused by the manifest's own rules now, before the reader would
    // find the archive ending before it: no vex/ payload outside a
    // repository. "the archive ends before payload" is the no-last case.)
    let missing = format!("payload {phantom} belongs to no VEX repository");
    setup.refused(&bundle, 4, &[&missing]);

    // A re-signed manifest that no longer lists a payload the bundle carries.
    let dropped = "oci/oci-layout";
    let mut m = manifest.clone();
    m.payloads.retain(|p| p.path != dropped);
    assert_eq!(m.payloads.len(), manifest.payloads.len() - 1);
    let bundle = setup.path("unlisted.airlock");
    write_raw_bundle(&bundle, &resigned_entries(&setup, &m, &entries));
    let found = format!("entry {dropped:?} is not listed in the manifest");
    setup.refused(&bundle, 4, &[&found]);
}

/// `entries` with the manifest replaced by `m`, signed by the test key.
fn resigned_entries(
    setup: &Setup,
    m: &Manifest,
    entries: &[(String, Vec<u8>)],
) -> Vec<(String, Vec<u8>)> {
    let text = m.to_toml().unwrap().into_bytes();
    let sig = setup.sign(&text);
    let mut out = vec![
        (MANIFEST_ENTRY.to_string(), text),
        (
            airlock::bundle::signature_path(sig.key_id()),
            sig.to_text().into_bytes(),
        ),
    ];
    out.extend(entries[2..].iter().cloned());
    out
}

/// The good bundle with the payload at `path` replaced by `data`, listed with
/// its new size and digest in a manifest signed by the trusted key: the
/// signatures all check out, so only the content checks can refuse it.
pub(crate) fn signed_with_payload(setup: &Setup, path: &str, data: Vec<u8>, name: &str) -> PathBuf {
    let mut m = setup.manifest();
    let digest = airlock::digest::Sha256Digest(sha2::Sha256::digest(&data).into());
    let p = m
        .payloads
        .iter_mut()
        .find(|p| p.path == path)
        .expect("listed payload");
    p.size = data.len() as u64;
    p.sha256 = digest;
    let mut entries = setup.entries();
    entries
        .iter_mut()
        .find(|(p, _)| p == path)
        .expect("payload entry")
        .1 = data;
    let out = setup.path(name);
    write_raw_bundle(&out, &resigned_entries(setup, &m, &entries));
    out
}

use sha2::Digest as _;

#[test]
fn signed_vex_archive_without_its_index_is_refused_by_verify_and_import() {
    let setup = Setup::new();
    // index.json at the archive root, but the signed manifest says //vexhub-main.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("index.json", opts).unwrap();
    std::io::Write::write_all(&mut zip, br#"{"packages":[]}"#).unwrap();
    let data = zip.finish().unwrap().into_inner();
    let bundle = signed_with_payload(&setup, VEX_ARCHIVE, data, "no-index.airlock");
    setup.refused(
        &bundle,
        4,
        &["the VEX archive has no vexhub-main/index.json"],
    );
}

#[test]
fn signed_layer_with_a_symlink_is_refused_by_verify_and_import() {
    let setup = Setup::new();
    let m = setup.manifest();
    let layer = m
        .artifacts
        .iter()
        .find(|a| a.kind == airlock::manifest::ArtifactKind::TrivyDb)
        .unwrap()
        .layer
        .digest;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = ::tar::Builder::new(gz);
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(::tar::EntryType::Symlink);
    h.set_size(0);
    h.set_path("trivy.db").unwrap();
    h.set_link_name("/etc/passwd").unwrap();
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    let data = b.into_inner().unwrap().finish().unwrap();
    // Blobs are content-addressed: list the new layer under its own digest,
    // in payload order, and point the artifact at it.
    let digest = airlock::digest::Sha256Digest(sha2::Sha256::digest(&data).into());
    let new_path = Manifest::blob_path(&digest);
    let mut m = m;
    let a = m
        .artifacts
        .iter_mut()
        .find(|a| a.kind == airlock::manifest::ArtifactKind::TrivyDb)
        .unwrap();
    a.layer.digest = digest;
    a.layer.size = data.len() as u64;
    let old_path = Manifest::blob_path(&layer);
    m.payloads.retain(|p| p.path != old_path);
    m.payloads.push(Payload {
        path: new_path.clone(),
        size: data.len() as u64,
        sha256: digest,
    });
    m.payloads.sort_by(|a, b| a.path.cmp(&b.path));
    let mut by_path: BTreeMap<String, Vec<u8>> = setup.entries().into_iter().skip(2).collect();
    by_path.remove(old_path.as_str());
    by_path.insert(new_path.to_string(), data);
    let mut entries = setup.entries()[..2].to_vec();
    entries.extend(
        m.payloads
            .iter()
            .map(|p| (p.path.to_string(), by_path[p.path.as_str()].clone())),
    );
    let bundle = setup.path("symlink.airlock");
    write_raw_bundle(&bundle, &resigned_entries(&setup, &m, &entries));
    setup.refused(&bundle, 4, &["entry \"trivy.db\" is a symbolic link"]);
}

#[test]
fn damaged_signature_entry_counts_as_unproven() {
    let setup = Setup::new();
    let mut entries = setup.entries();
    let sig = &mut entries[1].1;
    let text = String::from_utf8(sig.clone()).unwrap();
    let line = text.lines().nth(1).unwrap().to_string();
    *sig = text
        .replacen(&line, &format!("!{}", &line[1..]), 1)
        .into_bytes();
    let bundle = setup.path("bad-sig.airlock");
    write_raw_bundle(&bundle, &entries);
    setup.refused(
        &bundle,
        3,
        &["signature entry", "is invalid", "invalid base64"],
    );
}

/// Peak resident memory (KiB) of `airlock args`, measured by GNU time.
fn peak_rss_kib(args: &[&str]) -> (Option<i32>, u64, String) {
    let t = TestDir::new();
    let report = t.join("time.txt");
    let out = std::process::Command::new(tool("time"))
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(airlock_bin())
        .args(args)
        .output()
        .unwrap();
    let kib = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    (
        out.status.code(),
        kib,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_huge_long_name_header_is_refused_without_reading_it_into_memory() {
    let setup = Setup::new();
    // Before the manifest: a GNU long-name entry of 256 MiB (tar-rs would
    // read it into memory whole before airlock saw the next entry).
    let mut b = ::tar::Builder::new(Vec::new());
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(::tar::EntryType::GNULongName);
    h.set_size(256 << 20);
    h.set_path("././@LongLink").unwrap();
    h.set_cksum();
    b.append(&h, std::io::repeat(b'a').take(256 << 20)).unwrap();
    for (name, data) in setup.entries() {
        let mut h = ::tar::Header::new_ustar();
        h.set_path(&name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    let bundle = setup.path("longname.airlock");
    write_bundle_tar(&bundle, &b.into_inner().unwrap());
    let (code, kib, stderr) = peak_rss_kib(&["verify", s(&bundle), "--key", s(&setup.public)]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("the first entry is \"@LongLink\""),
        "{stderr}"
    );
    assert!(
        kib < 64 * 1024,
        "verify used {kib} KiB for a 256 MiB long name"
    );
    setup.refused(&bundle, 4, &["expected \"airlock/manifest.toml\""]);
}

/// Which bytes of a bundle's tar are covered by the signature: every
/// payload's data, the manifest, and the signatures but for their first
/// line (minisign's "untrusted comment", by design not signed). Header
/// blocks (mtime, mode, owner...) and the zero padding after each entry's
/// data are not covered; airlock ignores them.
fn covered_ranges(tar: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ar = ::tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().unwrap().raw(true) {
        let e = e.unwrap();
        let mut start = e.raw_file_position() as usize;
        let end = start + e.size() as usize;
        if e.path_bytes().starts_with(b"airlock/signatures/") {
            start += tar[start..end].iter().position(|&b| b == b'\n').unwrap() + 1;
        }
        out.push(start..end);
    }
    out
}

#[test]
fn no_single_byte_change_goes_unnoticed() {
    // Every byte of the decompressed bundle (a small one, all artifacts),
    // flipped in turn: verify never panics, and accepts the result only when
    // the byte lies outside everything the signature covers.
    let t = TestDir::new();
    let Exported { public, bundle, .. } = export_fixtures(&t);
    let tar = bundle_tar(&bundle);
    let covered = covered_ranges(&tar);
    let policy =
        airlock::policy::TrustPolicy::any_of(vec![PublicKey::from_file(&public).unwrap()]).unwrap();
    let (mut refused, mut accepted_outside) = (0, 0);
    // Every 5th offset keeps the debug-build run to seconds while still
    // hitting every entry, header and padding block many times.
    let offsets: Vec<usize> = (0..tar.len()).step_by(5).collect();
    for &at in &offsets {
        let mut bad = tar.clone();
        bad[at] ^= 0x20;
        let z = zstd::stream::encode_all(&bad[..], 1).unwrap();
        match airlock::install::verify(&z[..], &policy) {
            Err(_) => refused += 1,
            Ok(_) => {
                assert!(
                    !covered.iter().any(|r| r.contains(&at)),
                    "a flipped byte at offset {at}, inside signed content, was accepted"
                );
                accepted_outside += 1;
            }
        }
    }
    eprintln!(
        "{} offsets tried: {refused} refused, {accepted_outside} accepted (header fields airlock ignores, padding)",
        offsets.len()
    );
    let covered_tried = offsets
        .iter()
        .filter(|&&at| covered.iter().any(|r| r.contains(&at)))
        .count();
    assert!(
        refused >= covered_tried,
        "every covered byte must be refused"
    );
    assert!(
        accepted_outside > 0 && refused > 1000,
        "the test exercised both kinds of offsets"
    );
}

#[test]
fn a_signed_trivy_db_of_schema_3_is_refused_before_anything_is_written() {
    let setup = Setup::new();
    // The first database entry is trivy-db's.
    let bundle = setup.resigned("schema-3.airlock", |m| {
        let edited = m.replacen("schema_version = 2", "schema_version = 3", 1);
        assert_ne!(edited, m);
        edited
    });
    let needles = [
        "trivy-db has schema Version 3",
        "accepts only Version 2",
        "nothing was written",
    ];
    setup.refused(&bundle, 4, &needles);
    // With the real Trivy named, the message says which version reads what.
    let trivy = crate::support::trivy::trivy_bin();
    let err = airlock_fails(
        &[
            "import",
            s(&bundle),
            "--key",
            s(&setup.public),
            "--cache-dir",
            s(&setup.cache),
            "--trivy-bin",
            s(&trivy),
        ],
        4,
    );
    assert!(
        err.contains("version 0.76.0) reads trivy-db schema 2")
            && err.contains("trivy-db has schema Version 3"),
        "{err}"
    );
    assert_eq!(tree_hash(&setup.cache), setup.cache_before);
}
