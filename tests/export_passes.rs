//! Issue 12: export checks and hashes each input in one pass on two cores
//! and writes the bundle with its digest and writes on a second thread.
//! Neither may change a byte: a layer long enough to be hashed on a second
//! thread gives the same bundle from the single-file path (written behind)
//! as from the parts path (`--split`, written here), and the digests
//! reported and signed are the bytes' own.

use sha2::{Digest as _, Sha256};

use crate::support::fixtures::*;
use crate::support::*;

/// The parts `<out>.001`, `<out>.002`, ... of a split export, in order.
fn parts_of(out: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for i in 1.. {
        let part = out.with_file_name(format!(
            "{}.{i:03}",
            out.file_name().unwrap().to_string_lossy()
        ));
        match std::fs::read(&part) {
            Ok(bytes) => all.extend(bytes),
            Err(_) => break,
        }
    }
    all
}

#[test]
fn a_long_layer_gives_the_same_bundle_whole_and_split_signed_with_its_own_digest() {
    let t = TestDir::new();
    // Incompressible padding: about 6 MiB of layer, over the length that is
    // hashed on a second thread and over the pipes' depth of buffers.
    let layer = java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 6 << 20);
    assert!(layer.len() as u64 > airlock::digest::BACKGROUND_MIN.max(5 << 20));
    let input = t.join("javadb.tar.gz");
    std::fs::write(&input, &layer).unwrap();
    let (key, _) = keygen(t.path(), "builder");
    let export = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "export",
            "-o",
            s(out),
            "--sign-key",
            s(&key),
            "--java-db",
            s(&input),
            "--created",
            "2026-11-25T00:00:00Z",
            "--json",
        ];
        args.extend_from_slice(extra);
        airlock_ok(&args)
    };
    let whole = t.join("whole.airlock");
    let report: serde_json::Value = serde_json::from_str(&export(&whole, &[])).unwrap();
    let split = t.join("split.airlock");
    export(&split, &["--split", "1M"]);
    let bytes = std::fs::read(&whole).unwrap();
    assert!(bytes.len() > 6 << 20);
    assert_eq!(parts_of(&split), bytes, "split and whole bundles differ");
    // The digests export reports are those of the bytes themselves.
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    assert_eq!(report["sha256"], hex(&bytes).as_str());
    let layer_digest = &report["manifest"]["artifact"][0]["layer"]["digest"];
    assert_eq!(*layer_digest, format!("sha256:{}", hex(&layer)).as_str());
}
