//! The bundle writer's CRC-32 re-check (issue 12): the same bytes as a
//! payload appended with its SHA-256 re-hashed, and a payload whose bytes
//! or length differ from the CRC-32 and size it was planned with refused.

use super::*;
use crate::keys::SecretKey;

fn payload(data: &[u8]) -> Payload {
    Payload {
        path: "vex/a/archive.zip".parse().unwrap(),
        size: data.len() as u64,
        sha256: Sha256Digest::of(data),
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut r = Crc32Reader::new(data);
    io::copy(&mut r, &mut io::sink()).unwrap();
    let (crc, n) = r.finish();
    assert_eq!(n, data.len() as u64);
    crc
}

/// A bundle of one payload planned as `planned`, its bytes read from `read`.
fn write(planned: &[u8], read: &[u8], crc: Option<u32>) -> Result<Vec<u8>, WriteError> {
    thread_local! {
        static KEY: SecretKey = SecretKey::generate("t").unwrap();
    }
    let sig = KEY.with(|k| k.sign(b"manifest", "u", "t").unwrap());
    let mut w = BundleWriter::new(Vec::new(), b"manifest", &[sig], vec![payload(planned)], 0)?;
    w.append_known("vex/a/archive.zip", &mut &read[..], crc)?;
    w.finish()
}

/// Incompressible bytes over several zstd blocks and pipe buffers.
fn data() -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..(5 << 20) + 77)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn the_crc32_re_check_writes_the_bytes_the_sha256_re_check_writes() {
    let data = data();
    let by_sha = write(&data, &data, None).unwrap();
    let by_crc = write(&data, &data, Some(crc32(&data))).unwrap();
    // Signatures are deterministic (Ed25519): the whole bundle is equal.
    assert!(by_crc.len() > 5 << 20);
    assert!(by_crc == by_sha, "the bundles differ");
}

#[test]
fn bytes_that_differ_from_the_planned_crc32_are_refused_as_changed() {
    let data = data();
    let crc = crc32(&data);
    let mut flipped = data.clone();
    flipped[3 << 20] ^= 0x80;
    let longer = [&data[..], b"x"].concat();
    let shorter = &data[..data.len() - 1];
    let n = data.len();
    let sha = Sha256Digest::of(&data).hex();
    for (read, read_len) in [(&flipped[..], n), (&longer[..], n + 1), (shorter, n - 1)] {
        let e = write(&data, read, Some(crc)).expect_err("refused");
        assert!(matches!(e, WriteError::Differs { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("vex/a/archive.zip changed while the bundle was being written (expected {n} bytes with sha256 {sha}, read {read_len} bytes that differ from them)")
        );
    }
}
