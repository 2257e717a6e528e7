//! The zstd decoder runs on its own thread (issue 12): what the reader
//! reports is the same as when it decoded on the calling thread. A read
//! error of the file, wherever it happens, is the source's error unchanged
//! (so it stays a host failure, never "damaged"); the bytes after the zstd
//! frame (held partly by the decoder's thread, partly still in the file)
//! are counted exactly; a frame that ends before the archive does is still
//! told apart from a truncated file.

use std::io::{self, Read};

use super::*;
use crate::policy::TrustPolicy;
use crate::testing::{self, Keep};

/// A real export's bundle and the policy that trusts it.
fn bundle() -> (Vec<u8>, TrustPolicy) {
    let (_dir, path) = testing::temp_dir();
    let key = testing::key("pipelined");
    let report = testing::exported(&path, std::slice::from_ref(&key));
    let bytes = std::fs::read(&report.output).expect("the bundle");
    let policy = TrustPolicy::any_of(vec![key.public_key()]).expect("a policy");
    (bytes, policy)
}

/// The error a failing disk gives, marked to see it arrive unchanged.
#[derive(Debug)]
struct Disk;

impl std::fmt::Display for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("input/output error on the medium")
    }
}

impl std::error::Error for Disk {}

/// Yields `data` in short, uneven reads, failing after `fail_at` bytes.
struct Medium<'a> {
    data: &'a [u8],
    pos: usize,
    fail_at: usize,
    step: usize,
}

impl Read for Medium<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.fail_at {
            return Err(io::Error::other(Disk));
        }
        self.step = (self.step * 7919 + 13) % 200_003;
        let end = self.data.len().min(self.fail_at);
        let n = buf.len().min(end - self.pos).min(self.step.max(1));
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn medium(data: &[u8], fail_at: usize) -> Medium<'_> {
    Medium {
        data,
        pos: 0,
        fail_at,
        step: 1,
    }
}

#[test]
fn a_whole_bundle_read_unevenly_verifies() {
    let (bytes, policy) = bundle();
    let mut kept = Keep::default();
    read(medium(&bytes, usize::MAX), &policy, &mut kept).expect("verifies");
    assert!(!kept.payloads.is_empty());
}

#[test]
fn a_read_error_anywhere_in_the_file_is_the_source_error_unchanged() {
    let (bytes, policy) = bundle();
    let len = bytes.len();
    for fail_at in [0, 100, len / 3, len / 2, len - 1] {
        let err = read(medium(&bytes, fail_at), &policy, &mut Keep::default()).unwrap_err();
        let ReadError::Bundle(BundleError::Read { source }) = err else {
            panic!("failing at {fail_at} of {len}: {err:?}");
        };
        assert!(
            source.get_ref().is_some_and(|e| e.is::<Disk>()),
            "failing at {fail_at}: {source:?}"
        );
        assert_eq!(source.to_string(), "input/output error on the medium");
    }
}

fn trailing(bytes: &[u8], policy: &TrustPolicy) -> (u64, bool, TrailingKind) {
    match read(medium(bytes, usize::MAX), policy, &mut Keep::default()) {
        Err(ReadError::Bundle(BundleError::TrailingBytes { count, more, kind })) => {
            (count, more, kind)
        }
        other => panic!("{:?}", other.map(|v| v.manifest_sha256)),
    }
}

#[test]
fn the_bytes_after_the_frame_are_counted_exactly_however_far_the_decoder_read() {
    let (bytes, policy) = bundle();
    // Shorter than one buffer, longer than several, past the count's cap.
    for extra in [1usize, 5000, 3 << 20, (TRAILING_COUNT_MAX as usize) + 4096] {
        let mut with = bytes.clone();
        with.extend(std::iter::repeat_n(0u8, extra));
        let (count, more, kind) = trailing(&with, &policy);
        assert_eq!(kind, TrailingKind::Zeros, "{extra}");
        let capped = (extra as u64).min(TRAILING_COUNT_MAX + 1);
        assert_eq!((count, more), (capped, extra as u64 > capped), "{extra}");
    }
    let mut with = bytes.clone();
    with.extend(zstd::stream::encode_all(&b"more"[..], 3).unwrap());
    assert_eq!(trailing(&with, &policy).2, TrailingKind::ZstdFrame);
}

#[test]
fn a_bundle_cut_into_two_frames_is_told_apart_from_a_truncated_one() {
    let (bytes, policy) = bundle();
    let tar = zstd::stream::decode_all(&bytes[..]).unwrap();
    // Cut in the middle of the largest payload's data.
    let mut largest = (0u64, 0u64);
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let e = e.unwrap();
        if e.size() > largest.1 {
            largest = (e.raw_file_position(), e.size());
        }
    }
    let half = (largest.0 + largest.1 / 2) as usize;
    let first = zstd::stream::encode_all(&tar[..half], 3).unwrap();
    let second = zstd::stream::encode_all(&tar[half..], 3).unwrap();
    let mut two = first.clone();
    two.extend_from_slice(&second);
    let (count, more, kind) = trailing(&two, &policy);
    assert_eq!(
        (count, more, kind),
        (second.len() as u64, false, TrailingKind::ZstdFrame)
    );
    // The first frame alone: truncated.
    match read(medium(&first, usize::MAX), &policy, &mut Keep::default()) {
        Err(ReadError::Bundle(BundleError::Truncated { .. })) => {}
        other => panic!("{:?}", other.map(|v| v.manifest_sha256)),
    }
}
