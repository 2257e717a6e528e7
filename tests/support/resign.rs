//! Bundles made again from an extracted one, with a manifest the test
//! edited and signed again by a trusted key: hostile content under a VALID
//! signature, which every check past the signature must still refuse.

use std::path::Path;
use std::process::Command;

use airlock::bundle::writer::BundleWriter;
use airlock::keys::SecretKey;
use airlock::manifest::Payload;

use super::{run_ok, tool};

/// Extracts `bundle` into `dir` with GNU tar (a bundle is a zstd tar).
pub fn extract_bundle(bundle: &Path, dir: &Path) {
    run_ok(
        Command::new(tool("tar"))
            .arg("--zstd")
            .arg("-xf")
            .arg(bundle)
            .arg("-C")
            .arg(dir),
    );
}

/// The `[[payload]]` table of a manifest text, read without the manifest's
/// other rules (the text may break them on purpose).
pub fn manifest_payloads(text: &str) -> Vec<Payload> {
    #[derive(serde::Deserialize)]
    struct P {
        payload: Vec<Payload>,
    }
    toml::from_str::<P>(text).unwrap().payload
}

/// Writes to `out` a bundle of `manifest`, signed by the secret key at
/// `key`, and of the payloads it lists, read from the extracted bundle in
/// `dir`.
pub fn resign(dir: &Path, manifest: &str, key: &Path, out: &Path) {
    let payloads = manifest_payloads(manifest);
    let sig = SecretKey::from_file(key)
        .unwrap()
        .sign(manifest.as_bytes(), "u", "timestamp:1\tfile:manifest.toml")
        .unwrap();
    let mut w = BundleWriter::new(
        std::fs::File::create(out).unwrap(),
        manifest.as_bytes(),
        &[sig],
        payloads.clone(),
        1,
    )
    .unwrap();
    for p in &payloads {
        let path = dir.join(p.path.as_str());
        w.append(&p.path, &mut std::fs::File::open(&path).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
}
