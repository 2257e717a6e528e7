//! The production bounds of `apply` (issue 13, hostile deltas under a
//! valid signature): a minimum chunk (no CPU amplification from tiny
//! frames), a maximum reference (the reference is read into the heap),
//! references that never move back (each base byte is read at most once),
//! and a base that shrinks while it is read (no SIGBUS: positioned reads,
//! no memory maps). These use the public `apply` and `encode`, whose
//! bounds are the specification's.

use std::fs::File;
use std::io::{Cursor, Read};

use super::header::{FrameRecord, Header};
use super::*;
use crate::error::{Classify, ExitClass};

const MIB: u64 = 1 << 20;

/// A delta header (shared with `review2_tests`).
pub(super) fn header(base_len: u64, new_len: u64, chunk_len: u64) -> Vec<u8> {
    let mut d = Vec::new();
    Header {
        base_len,
        new_len,
        chunk_len,
    }
    .write(&mut d)
    .unwrap();
    d
}

/// Appends a frame record for `frame` (a plain zstd frame).
pub(super) fn push_frame(
    d: &mut Vec<u8>,
    ref_offset: u64,
    ref_len: u64,
    out_len: u64,
    frame: &[u8],
) {
    FrameRecord {
        ref_offset,
        ref_len,
        out_len,
        frame_len: frame.len() as u64,
    }
    .write(d)
    .unwrap();
    d.extend_from_slice(frame);
}

fn base_file(dir: &tempfile::TempDir, len: u64) -> File {
    let path = dir.path().join("base");
    let f = File::create(&path).unwrap();
    // Sparse: a large base costs no disk.
    f.set_len(len).unwrap();
    File::open(&path).unwrap()
}

fn apply_err(base: &File, delta: &[u8], expect_len: u64) -> DeltaError {
    let mut out = Vec::new();
    match apply(base, &mut Cursor::new(delta), &mut out, expect_len) {
        Ok(s) => panic!("the delta was applied ({} frames)", s.frames),
        Err(e) => {
            assert!(
                out.is_empty(),
                "{} bytes written before the refusal",
                out.len()
            );
            e
        }
    }
}

#[test]
fn a_chunk_shorter_than_the_minimum_is_refused_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_file(&dir, 1000);
    // 3 MiB in 10-byte chunks would be 314573 frames: refused before any
    // frame is read (the delta holds only its header).
    let e = apply_err(&base, &header(1000, 3 * MIB, 10), 3 * MIB);
    assert_eq!(
        e.to_string(),
        "delta frame 0: chunk length 10 is not in 1048576..=16777216 (only a delta of one chunk may have a shorter one)"
    );
    assert_eq!(e.class(), ExitClass::Damaged);
    let e = apply_err(&base, &header(1000, 3 * MIB, MIB - 1), 3 * MIB);
    assert_eq!(
        e.to_string(),
        "delta frame 0: chunk length 1048575 is not in 1048576..=16777216 (only a delta of one chunk may have a shorter one)"
    );
}

#[test]
fn a_result_of_one_chunk_may_use_a_short_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_file(&dir, 1000);
    let frame = zstd::bulk::compress(&[1u8; 10], 1).unwrap();
    for chunk_len in [10, MIB, 16 * MIB] {
        let mut d = header(1000, 10, chunk_len);
        push_frame(&mut d, 0, 1000, 10, &frame);
        let mut out = Vec::new();
        let s = apply(&base, &mut Cursor::new(&d), &mut out, 10).unwrap();
        assert_eq!((out, s.frames), (vec![1u8; 10], 1), "chunk {chunk_len}");
    }
    // The minimum itself, with a shorter last chunk.
    let mut d = header(1000, MIB + 10, MIB);
    push_frame(
        &mut d,
        0,
        1000,
        MIB,
        &zstd::bulk::compress(&[2u8; MIB as usize], 1).unwrap(),
    );
    push_frame(&mut d, 0, 1000, 10, &frame);
    let mut out = Vec::new();
    let s = apply(&base, &mut Cursor::new(&d), &mut out, MIB + 10).unwrap();
    assert_eq!((out.len() as u64, s.frames), (MIB + 10, 2));
}

#[test]
fn a_reference_longer_than_the_maximum_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_file(&dir, 1 << 31);
    let frame = zstd::bulk::compress(&[1u8; 10], 1).unwrap();
    for (ref_len, want) in [
        (
            1 << 31,
            "delta frame 1: a reference of 2147483648 bytes exceeds the maximum of 67108864",
        ),
        (
            64 * MIB + 1,
            "delta frame 1: a reference of 67108865 bytes exceeds the maximum of 67108864",
        ),
    ] {
        let mut d = header(1 << 31, 10, 10);
        push_frame(&mut d, 0, ref_len, 10, &frame);
        assert_eq!(apply_err(&base, &d, 10).to_string(), want);
    }
}

#[test]
fn a_reference_that_moves_back_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_file(&dir, 4000);
    let one = zstd::bulk::compress(&[3u8; MIB as usize], 1).unwrap();
    for (second, want) in [
        ((999, 1000), "delta frame 2: reference 999+1000 starts before frame 1's (1000+1000); references never move back"),
        ((1000, 999), "delta frame 2: reference 1000+999 ends before frame 1's (1000+1000); references never move back"),
    ] {
        let mut d = header(4000, 2 * MIB, MIB);
        push_frame(&mut d, 1000, 1000, MIB, &one);
        push_frame(&mut d, second.0, second.1, MIB, &one);
        let mut out = Vec::new();
        let e = apply(&base, &mut Cursor::new(&d), &mut out, 2 * MIB).unwrap_err();
        assert_eq!(e.to_string(), want);
        assert_eq!(out.len() as u64, MIB, "frame 1 only");
    }
}

/// Reads a delta and truncates the base once `at` bytes have been read.
struct TruncatingAt<'a> {
    inner: Cursor<&'a [u8]>,
    at: u64,
    base: &'a std::path::Path,
}

impl Read for TruncatingAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.inner.position() >= self.at && self.at > 0 {
            // As `trivy --download-db-only` does: O_TRUNC on the same file.
            File::create(self.base).unwrap();
            self.at = 0;
        }
        let room = if self.at > 0 {
            (self.at - self.inner.position()) as usize
        } else {
            buf.len()
        };
        let n = room.min(buf.len());
        self.inner.read(&mut buf[..n])
    }
}

#[test]
fn a_base_truncated_while_a_delta_applies_is_a_read_error_not_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let (base_path, new_path) = (dir.path().join("base"), dir.path().join("new"));
    let base: Vec<u8> = (0..4 * MIB).map(|i| (i * 7 % 251) as u8).collect();
    let mut new = base.clone();
    new.rotate_left(1000);
    std::fs::write(&base_path, &base).unwrap();
    std::fs::write(&new_path, &new).unwrap();
    // 1 MiB chunks against 1 MiB windows: each frame reads more base.
    let opts = EncodeOptions {
        chunk_len: MIB,
        max_ref: MIB,
        ..EncodeOptions::default()
    };
    let mut delta = Vec::new();
    let s = encode(&base_path, &new_path, &mut delta, &opts).unwrap();
    assert_eq!(s.frames, 4);
    let first_frame = u64::from_le_bytes(delta[56..64].try_into().unwrap());
    let base_file = File::open(&base_path).unwrap();
    let mut r = TruncatingAt {
        inner: Cursor::new(&delta),
        at: 64 + first_frame + 1,
        base: &base_path,
    };
    let mut out = Vec::new();
    let e = apply(&base_file, &mut r, &mut out, new.len() as u64).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot read the base: it ended before byte 2097152, though it was 4194304 bytes when the delta began (was it rewritten while in use?)"
    );
    assert_eq!(e.class(), ExitClass::HostFailure);
    assert_eq!(out.len() as u64, MIB, "frame 1 only");
}

#[test]
fn encode_never_writes_a_chunk_or_reference_apply_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (base_path, new_path) = (dir.path().join("base"), dir.path().join("new"));
    let base: Vec<u8> = (0..3 * MIB + 5).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(&base_path, &base).unwrap();
    std::fs::write(&new_path, &base[7..]).unwrap();
    let opts = EncodeOptions {
        chunk_len: 10,
        max_ref: 1 << 40,
        ..EncodeOptions::default()
    };
    let mut delta = Vec::new();
    let s = encode(&base_path, &new_path, &mut delta, &opts).unwrap();
    assert_eq!(s.frames, 3, "1 MiB chunks, not 10 bytes");
    assert_eq!(u64::from_le_bytes(delta[24..32].try_into().unwrap()), MIB);
    let mut out = Vec::new();
    let a = apply(
        &File::open(&base_path).unwrap(),
        &mut Cursor::new(&delta),
        &mut out,
        s.new_len,
    )
    .unwrap();
    assert!(out == base[7..]);
    assert_eq!(a.sha256, s.new_sha256);
}
