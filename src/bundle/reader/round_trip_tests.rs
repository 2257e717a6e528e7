//! Unit tests of the reader against bundles written by the writer: what
//! verifies is read and visited in order; a flipped byte and an unknown
//! signer are refused before anything is visited as valid.

use super::*;
use crate::manifest::Payload;
use crate::policy::TrustPolicy;
use crate::testing::{self, Keep};

/// A valid manifest and its payloads (taken from a real export),
/// and the key that signs them here.
struct Parts {
    _dir: tempfile::TempDir,
    key: crate::keys::SecretKey,
    manifest: Vec<u8>,
    listed: Vec<Payload>,
    bytes: Vec<Vec<u8>>,
}

fn parts() -> Parts {
    let (dir, path) = testing::temp_dir();
    let key = testing::key("reader");
    let report = testing::exported(&path, std::slice::from_ref(&key));
    let (manifest, payloads) = testing::contents(&report.output, &key);
    let (listed, bytes) = payloads.into_iter().unzip();
    Parts {
        _dir: dir,
        key,
        manifest,
        listed,
        bytes,
    }
}

fn policy(key: &crate::keys::SecretKey) -> TrustPolicy {
    TrustPolicy::any_of(vec![key.public_key()]).expect("a policy")
}

fn sign(key: &crate::keys::SecretKey, manifest: &[u8]) -> crate::keys::Signature {
    key.sign(manifest, "untrusted", "timestamp:1\tfile:manifest.toml")
        .expect("signs")
}

#[test]
fn a_bundle_from_the_writer_is_read_verified_and_visited_in_order() {
    let p = parts();
    let bundle = testing::write_bundle(
        &p.manifest,
        &[sign(&p.key, &p.manifest)],
        &p.listed,
        &p.bytes,
    );
    let mut kept = Keep::default();
    let verified = read(&bundle[..], &policy(&p.key), &mut kept).expect("verifies");
    assert_eq!(verified.manifest_bytes, p.manifest);
    assert_eq!(verified.manifest_sha256, Sha256Digest::of(&p.manifest));
    assert_eq!(verified.manifest.payloads, p.listed);
    assert_eq!(verified.signers.len(), 1);
    assert_eq!(verified.signers[0].key_id, p.key.key_id().to_string());
    assert!(verified.signers[0].trusted);
    assert!(kept.started);
    let visited: Vec<_> = kept.payloads.into_iter().unzip::<_, _, Vec<_>, Vec<_>>().1;
    assert_eq!(visited, p.bytes);
    // read_header stops after the signatures.
    let header = read_header(&bundle[..]).expect("a header");
    assert_eq!(header.manifest_bytes, p.manifest);
    assert_eq!(header.signatures.len(), 1);
}

#[test]
fn a_flipped_byte_in_a_payload_the_manifest_or_the_frame_is_refused() {
    let p = parts();
    let sig = sign(&p.key, &p.manifest);
    let good = testing::write_bundle(&p.manifest, std::slice::from_ref(&sig), &p.listed, &p.bytes);
    // In a payload's bytes, inside the tar (the writer itself
    // refuses bytes that differ from the manifest).
    let mut tar = zstd::stream::decode_all(&good[..]).expect("decompresses");
    let json = &p.bytes[0];
    let at = tar
        .windows(json.len())
        .position(|w| w == &json[..])
        .expect("the payload is in the tar");
    tar[at + json.len() / 2] ^= 1;
    let bundle = zstd::stream::encode_all(&tar[..], 3).expect("compresses");
    let err = read(&bundle[..], &policy(&p.key), &mut Keep::default()).unwrap_err();
    assert!(
        matches!(err, ReadError::Bundle(BundleError::DigestMismatch { .. })),
        "{err:?}"
    );
    // In the manifest (the signature covers the original).
    let mut manifest = p.manifest.clone();
    let at = manifest.len() / 2;
    manifest[at] ^= 1;
    let bundle = testing::write_bundle(&manifest, std::slice::from_ref(&sig), &p.listed, &p.bytes);
    let mut kept = Keep::default();
    let err = read(&bundle[..], &policy(&p.key), &mut kept).unwrap_err();
    assert!(
        matches!(err, ReadError::Bundle(BundleError::Policy(_))),
        "{err:?}"
    );
    assert!(
        !kept.started,
        "nothing is visited before the signatures hold"
    );
    // In the compressed file: the magic, the middle, the checksum.
    // (Not the frame header's unused bit 4: zstd decoders ignore
    // it, and the decoded bytes, all that is verified, are the same.)
    for at in [0, 3, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let r = read(&bad[..], &policy(&p.key), &mut Keep::default());
        assert!(matches!(r, Err(ReadError::Bundle(_))), "byte {at}: {r:?}");
    }
}

#[test]
fn a_bundle_signed_by_an_unknown_key_is_refused_before_any_payload() {
    let p = parts();
    let stranger = testing::key("stranger");
    let bundle = testing::write_bundle(
        &p.manifest,
        &[sign(&stranger, &p.manifest)],
        &p.listed,
        &p.bytes,
    );
    let mut kept = Keep::default();
    let err = read(&bundle[..], &policy(&p.key), &mut kept).unwrap_err();
    assert!(
        matches!(err, ReadError::Bundle(BundleError::Policy(_))),
        "{err:?}"
    );
    assert!(!kept.started);
    // The same bundle verifies for a host that trusts the stranger.
    read(&bundle[..], &policy(&stranger), &mut Keep::default()).expect("verifies");
}
