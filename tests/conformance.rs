//! The conformance suite (bundle-spec/conformance/): small bundles, each
//! testing one rule of SPEC.md's reader checks (section 5), with the verdict
//! and exit code any implementation must give. Generated here from the
//! committed good vector (bundle-spec/vectors/good.airlock) and the vector
//! key, so it is deterministic; normal runs check that the committed files
//! are exactly what this generator makes and that `airlock verify` judges
//! every case as `cases.toml` says. Regenerate with:
//!
//! ```text
//! AIRLOCK_REGENERATE=1 cargo test --features fault-injection --test tests conformance
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use airlock::keys::{KeyId, SecretKey};

use crate::support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The vector key (seed 32 bytes of 0x07: test use only).
fn trusted_key() -> SecretKey {
    SecretKey::from_seed([7u8; 32], KeyId(*b"airlock1"), "airlock test vector key").unwrap()
}

/// A key the suite's bundles are not to be trusted by (seed 32 bytes of 0x09).
fn untrusted_key() -> SecretKey {
    SecretKey::from_seed([9u8; 32], KeyId(*b"stranger"), "not trusted").unwrap()
}

/// `created` of the vector, as Unix seconds: every header's mtime.
const MTIME: u64 = 1_767_225_600;
const TRUSTED_COMMENT: &str = "timestamp:1767225600\tfile:manifest.toml";

/// One tar entry as the generator writes it.
#[derive(Clone)]
struct Entry {
    name: String,
    data: Vec<u8>,
    /// The typeflag byte (`b'0'` for a bundle's entries).
    typeflag: u8,
    /// Magic and version (bytes 257..265).
    magic: [u8; 8],
}

const USTAR: [u8; 8] = *b"ustar\x0000";
const GNU: [u8; 8] = *b"ustar  \x00";

impl Entry {
    fn file(name: &str, data: Vec<u8>) -> Entry {
        Entry {
            name: name.to_string(),
            data,
            typeflag: b'0',
            magic: USTAR,
        }
    }
}

/// The tar stream: each entry with the header fields airlock's writer sets,
/// then `end` zero bytes (1024: the end-of-archive marker).
fn tar(entries: &[Entry], end: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = ::tar::Header::new_ustar();
        h.set_path(&e.name).unwrap();
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_entry_type(::tar::EntryType::Regular);
        let bytes = h.as_mut_bytes();
        bytes[156] = e.typeflag;
        bytes[257..265].copy_from_slice(&e.magic);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + end, 0);
    out
}

/// One zstd frame at level 3, with or without the frame checksum.
fn zst(tar: &[u8], checksum: bool) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(checksum).unwrap();
    std::io::Write::write_all(&mut enc, tar).unwrap();
    enc.finish().unwrap()
}

/// The good vector taken apart: its manifest text and its payloads.
struct Base {
    manifest: String,
    payloads: Vec<Entry>,
}

impl Base {
    fn load() -> Base {
        Base::load_vector("good.airlock")
    }

    /// The payloads and manifest of the vector `name`.
    fn load_vector(name: &str) -> Base {
        let tar = bundle_tar(&root().join("bundle-spec/vectors").join(name));
        let mut ar = ::tar::Archive::new(tar.as_slice());
        let mut manifest = String::new();
        let mut payloads = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_str().unwrap().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if name == "airlock/manifest.toml" {
                manifest = String::from_utf8(data).unwrap();
            } else if !name.starts_with("airlock/") {
                payloads.push(Entry::file(&name, data));
            }
        }
        Base { manifest, payloads }
    }

    /// The entries of a bundle of `manifest` signed by `keys`, carrying the
    /// payloads `manifest` lists (read from its text: it may be invalid).
    fn entries(&self, manifest: &str, keys: &[SecretKey]) -> Vec<Entry> {
        let mut out = vec![Entry::file(
            "airlock/manifest.toml",
            manifest.as_bytes().to_vec(),
        )];
        out.extend(signature_entries(manifest.as_bytes(), keys));
        out.extend(self.listed(manifest));
        out
    }

    /// The payload entries `manifest` lists, in its order.
    fn listed(&self, manifest: &str) -> Vec<Entry> {
        // The payload list (last in the manifest): a `[[delta]]` names
        // its payloads with `path =` too.
        let list = manifest
            .find("[[payload]]")
            .map_or(manifest, |at| &manifest[at..]);
        let paths: Vec<String> = list
            .lines()
            .filter_map(|l| l.strip_prefix("path = \""))
            .map(|p| p.trim_end_matches('"').to_string())
            .collect();
        paths
            .iter()
            .filter_map(|p| self.payloads.iter().find(|e| &e.name == p).cloned())
            .collect()
    }

    /// A bundle as airlock writes one, of `manifest` signed by the trusted key.
    fn bundle(&self, manifest: &str) -> Vec<u8> {
        zst(&tar(&self.entries(manifest, &[trusted_key()]), 1024), true)
    }

    /// The good bundle's entries, for the container cases to edit.
    fn good_entries(&self) -> Vec<Entry> {
        self.entries(&self.manifest, &[trusted_key()])
    }

    /// The manifest with `from` replaced by `to` (exactly once).
    fn edited(&self, from: &str, to: &str) -> String {
        assert_eq!(self.manifest.matches(from).count(), 1, "{from}");
        self.manifest.replacen(from, to, 1)
    }
}

fn signature_entries(manifest: &[u8], keys: &[SecretKey]) -> Vec<Entry> {
    let mut sigs: Vec<Entry> = keys
        .iter()
        .map(|k| {
            let sig = k.sign(manifest, "signature", TRUSTED_COMMENT).unwrap();
            Entry::file(
                &airlock::bundle::signature_path(sig.key_id()),
                sig.to_text().into_bytes(),
            )
        })
        .collect();
    sigs.sort_by(|a, b| a.name.cmp(&b.name));
    sigs
}

/// The manifest's TOML split into blocks, each starting at a `[[...]]` line
/// (the first block is the top-level keys and `[labels]`).
fn blocks(manifest: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in manifest.split_inclusive('\n') {
        if line.starts_with("[[") {
            out.push(String::new());
        }
        out.last_mut().unwrap().push_str(line);
    }
    out
}

/// One case: its file name, the rule it tests, the expected verdict.
struct Case {
    file: String,
    rule: &'static str,
    exit: i32,
    what: &'static str,
    bytes: Vec<u8>,
    /// The format version the case needs, when later than 1.2.
    since: Option<&'static str>,
}

fn case(file: &str, rule: &'static str, exit: i32, what: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        file: format!("{file}.airlock"),
        rule,
        exit,
        what,
        bytes,
        since: None,
    }
}

mod cases;
mod delta_cases;
mod time_cases;
mod vex_cases;

/// Writes the suite into `dir`: keys, cases, index.
fn generate(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("cases"));
    write(
        &dir.join("keys/trusted.pub"),
        trusted_key()
            .public_key()
            .to_text("airlock conformance: trusted")
            .as_bytes(),
    );
    write(
        &dir.join("keys/untrusted.pub"),
        untrusted_key()
            .public_key()
            .to_text("airlock conformance: not trusted")
            .as_bytes(),
    );
    let base = Base::load();
    let mut index = String::from(
        "# The conformance cases: run `verify <file> --key keys/trusted.pub` on each.\n\
         # verdict: accept (exit 0) or refuse (exit = the class of SPEC.md section 5).\n\
         # rule: the number of the reader check it tests (SPEC.md section 5).\n",
    );
    let delta = Base::load_vector("delta.airlock");
    for c in cases::all(&base)
        .into_iter()
        .chain(delta_cases::delta_cases(&delta))
    {
        write(&dir.join("cases").join(&c.file), &c.bytes);
        let verdict = if c.exit == 0 { "accept" } else { "refuse" };
        write!(
            index,
            "\n[[case]]\nfile = \"cases/{}\"\nverdict = \"{verdict}\"\nexit = {}\nrule = \"{}\"\ntests = {:?}\n",
            c.file, c.exit, c.rule, c.what
        )
        .unwrap();
        if let Some(v) = c.since {
            writeln!(index, "since = {v:?}").unwrap();
        }
    }
    write(&dir.join("cases.toml"), index.as_bytes());
}

#[test]
fn committed_suite_matches_the_generator() {
    let suite = root().join("bundle-spec/conformance");
    if std::env::var_os("AIRLOCK_REGENERATE").is_some() {
        generate(&suite);
    }
    let t = TestDir::new();
    generate(&t.join("suite"));
    let fresh = tree_hash(&t.join("suite"));
    let committed: BTreeMap<_, _> = tree_hash(&suite)
        .into_iter()
        .filter(|(k, _)| !k.ends_with(".md"))
        .collect();
    assert_eq!(
        fresh, committed,
        "bundle-spec/conformance drifted: regenerate (see tests/conformance.rs)"
    );
}

#[derive(serde::Deserialize)]
struct Index {
    case: Vec<IndexCase>,
}

#[derive(serde::Deserialize)]
struct IndexCase {
    file: String,
    verdict: String,
    exit: i32,
    rule: String,
}

#[test]
fn airlock_verify_judges_every_case_as_the_index_says() {
    let suite = root().join("bundle-spec/conformance");
    let text = std::fs::read_to_string(suite.join("cases.toml")).unwrap();
    let index: Index = toml::from_str(&text).unwrap();
    assert!(index.case.len() >= 30, "{}", index.case.len());
    let key = suite.join("keys/trusted.pub");
    let mut wrong = Vec::new();
    for c in &index.case {
        assert_eq!(c.verdict == "accept", c.exit == 0, "{}", c.file);
        let out = airlock(&["verify", s(&suite.join(&c.file)), "--key", s(&key)]);
        if out.status.code() != Some(c.exit) {
            wrong.push(format!(
                "{} (rule {}): exit {:?}, expected {}: {}",
                c.file,
                c.rule,
                out.status.code(),
                c.exit,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_reader_check_of_the_spec_has_a_case() {
    let spec = std::fs::read_to_string(root().join("bundle-spec/SPEC.md")).unwrap();
    let text = std::fs::read_to_string(root().join("bundle-spec/conformance/cases.toml")).unwrap();
    let index: Index = toml::from_str(&text).unwrap();
    // The numbered reader checks: lines "| R<n> |" of section 5's table.
    let rules: Vec<&str> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("| R")?.split_once(' ').map(|(n, _)| n))
        .collect();
    assert!(rules.len() >= 15, "{rules:?}");
    for r in rules {
        let rule = format!("R{r}");
        assert!(
            index.case.iter().any(|c| c.rule == rule),
            "no conformance case tests {rule}"
        );
    }
}
