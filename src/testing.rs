//! Shared parts for the library's unit tests (compiled only for tests):
//! a tiny, valid VEX repository built in code, an export of it, a bundle
//! written straight with [`crate::bundle::writer`], and a visitor that
//! keeps what it is given. Real parts, no mocks: the bundle bytes are what
//! the binary would write.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::bundle::reader::{PayloadReader, PayloadVisitor, Verified};
use crate::bundle::writer::BundleWriter;
use crate::export::{self, ExportPlan, ExportReport, SourceSpec};
use crate::keys::{SecretKey, Signature};
use crate::manifest::Payload;
use crate::progress::NoProgress;

/// A key for tests (no passphrase, comment `comment`).
pub(crate) fn key(comment: &str) -> SecretKey {
    SecretKey::generate(comment).expect("a test key")
}

/// A VEX repository in `dir` (its vex-repository.json and a tar.gz whose
/// `vex/` folder holds index.json), as a source named `name`.
pub(crate) fn vex_source(dir: &Path, name: &str) -> SourceSpec {
    let manifest = dir.join(format!("{name}-vex-repository.json"));
    std::fs::write(
        &manifest,
        br#"{"name":"Example","versions":[{"spec_version":"0.1",
            "locations":[{"url":"https://example.com/vex.tar.gz//vex"}],"update_interval":"24h"}]}"#,
    )
    .expect("writes the VEX manifest");
    let archive = dir.join(format!("{name}-vex.tar.gz"));
    let file = std::fs::File::create(&archive).expect("creates the archive");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    let index = br#"{"updated_at":"2026-01-01T00:00:00Z","packages":[]}"#;
    let mut header = tar::Header::new_gnu();
    header.set_size(index.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "vex/index.json", &index[..])
        .expect("adds index.json");
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut f| f.flush())
        .expect("finishes the archive");
    SourceSpec::Vex {
        name: name.into(),
        manifest,
        archive,
    }
}

/// A plan exporting one VEX repository from `dir` to `dir/out.airlock`.
pub(crate) fn vex_plan(dir: &Path) -> ExportPlan {
    ExportPlan {
        sources: vec![vex_source(dir, "default")],
        labels: Default::default(),
        created: time::OffsetDateTime::now_utc(),
        output: dir.join("out.airlock"),
        force: false,
        split: None,
        sequence: None,
        network: Default::default(),
    }
}

/// Exports one VEX repository from `dir`, signed by `keys`.
pub(crate) fn exported(dir: &Path, keys: &[SecretKey]) -> ExportReport {
    export::export(&vex_plan(dir), keys, "airlock tests", &NoProgress).expect("exports")
}

/// The manifest bytes and every payload (entry and bytes) of a bundle that
/// verifies under `key`.
pub(crate) fn contents(bundle: &Path, key: &SecretKey) -> (Vec<u8>, Vec<(Payload, Vec<u8>)>) {
    let policy = crate::policy::TrustPolicy::any_of(vec![key.public_key()]).expect("a policy");
    let mut kept = Keep::default();
    let file = std::fs::File::open(bundle).expect("opens the bundle");
    let verified = crate::bundle::reader::read(file, &policy, &mut kept)
        .unwrap_or_else(|e| panic!("the bundle verifies: {e:?}"));
    (verified.manifest_bytes, kept.payloads)
}

/// A bundle written with the bundle writer: `manifest` as given, the
/// `signatures`, and the payloads listed as `listed` with the bytes of
/// `bytes` (normally the same; a test may make them differ).
pub(crate) fn write_bundle(
    manifest: &[u8],
    signatures: &[Signature],
    listed: &[Payload],
    bytes: &[Vec<u8>],
) -> Vec<u8> {
    let mut w = BundleWriter::new(Vec::new(), manifest, signatures, listed.to_vec(), 0)
        .expect("starts the bundle");
    for (p, b) in listed.iter().zip(bytes) {
        w.append(&p.path, &mut &b[..]).expect("appends a payload");
    }
    w.finish().expect("finishes the bundle")
}

/// A visitor that keeps every payload it is given, reading in short,
/// uneven reads (as the style asks of every `Read` consumer's tests).
#[derive(Default)]
pub(crate) struct Keep {
    /// Whether `start` ran.
    pub started: bool,
    /// The payloads, in the order given.
    pub payloads: Vec<(Payload, Vec<u8>)>,
}

impl PayloadVisitor for Keep {
    type Error = std::io::Error;

    fn start(&mut self, _: &Verified) -> Result<(), Self::Error> {
        self.started = true;
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), Self::Error> {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 7];
        let mut step = 1;
        loop {
            let n = data.read(&mut buf[..step])?;
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
            step = step % buf.len() + 1;
        }
        self.payloads.push((payload.clone(), bytes));
        Ok(())
    }
}

/// A fresh temporary directory.
pub(crate) fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().to_path_buf();
    (dir, path)
}
