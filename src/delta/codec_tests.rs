//! The codec against its contract: round trips, a wrong base, damaged and
//! hostile deltas, empty files. These run within [`TESTS`], the SPEC's
//! bounds with chunks of any length, so small inputs have many frames (the
//! SPEC's own bounds are tested in `bounds_tests.rs`).

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use super::header::{FrameRecord, Header, HEADER_LEN, RECORD_LEN};
use super::*;
use crate::digest::Sha256Digest;

/// Bytes that compress poorly (so a delta that ignored its base would be
/// large) from a seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `base` rebuilt: a few edits, an insertion that moves everything after
/// it, a block moved from the end to the front.
fn next_of(base: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(base.len() + 8192);
    let tail = &base[base.len() - 4096..];
    next.extend_from_slice(tail);
    next.extend_from_slice(&base[..base.len() / 3]);
    next.extend_from_slice(&noise(1000, 99));
    next.extend_from_slice(&base[base.len() / 3..base.len() - 4096]);
    for i in (0..next.len()).step_by(50_000) {
        next[i] ^= 0x5A;
    }
    next
}

struct Files {
    _dir: tempfile::TempDir,
    base: PathBuf,
    new: PathBuf,
}

fn files(base: &[u8], new: &[u8]) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let (b, n) = (dir.path().join("base"), dir.path().join("new"));
    std::fs::write(&b, base).unwrap();
    std::fs::write(&n, new).unwrap();
    Files {
        _dir: dir,
        base: b,
        new: n,
    }
}

/// The SPEC's bounds but a minimum chunk of 1 byte.
const TESTS: Limits = Limits {
    min_chunk: 1,
    max_ref: MAX_REF,
};

fn small_chunks() -> EncodeOptions {
    EncodeOptions {
        chunk_len: 256 << 10,
        ..EncodeOptions::default()
    }
}

fn delta_of(f: &Files, opts: &EncodeOptions) -> (Vec<u8>, EncodeSummary) {
    let mut out = Vec::new();
    let s = encode_within(&f.base, &f.new, &mut out, opts, &TESTS).unwrap();
    assert_eq!(s.delta_len, out.len() as u64);
    (out, s)
}

fn apply_to(
    base: &Path,
    delta: &[u8],
    expect_len: u64,
) -> Result<(Vec<u8>, ApplySummary), DeltaError> {
    let mut out = Vec::new();
    let s = apply_within(
        &File::open(base).unwrap(),
        &mut Cursor::new(delta),
        &mut out,
        expect_len,
        &TESTS,
    )?;
    Ok((out, s))
}

fn message(r: Result<(Vec<u8>, ApplySummary), DeltaError>) -> String {
    match r {
        Ok(_) => panic!("the delta was applied"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_delta_rebuilds_the_new_file_exactly_and_is_small() {
    let base = noise(1 << 20, 1);
    let new = next_of(&base);
    let f = files(&base, &new);
    for opts in [EncodeOptions::default(), small_chunks()] {
        let (delta, s) = delta_of(&f, &opts);
        assert_eq!(s.new_sha256, Sha256Digest::of(&new));
        assert_eq!(s.base_sha256, Sha256Digest::of(&base));
        assert!(
            delta.len() < new.len() / 20,
            "{} bytes of delta",
            delta.len()
        );
        let (out, a) = apply_to(&f.base, &delta, new.len() as u64).unwrap();
        assert!(out == new);
        assert_eq!(a.sha256, s.new_sha256);
        assert_eq!((a.len, a.frames), (new.len() as u64, s.frames));
    }
}

#[test]
fn encoding_is_deterministic() {
    let base = noise(300_000, 2);
    let f = files(&base, &next_of(&base));
    assert_eq!(
        delta_of(&f, &small_chunks()).0,
        delta_of(&f, &small_chunks()).0
    );
}

#[test]
fn a_windowed_reference_still_rebuilds_the_file() {
    // A base larger than `max_ref`: each frame refers to a window of it.
    let base = noise(1 << 20, 3);
    let new = next_of(&base);
    let f = files(&base, &new);
    let opts = EncodeOptions {
        chunk_len: 128 << 10,
        max_ref: 512 << 10,
        ..EncodeOptions::default()
    };
    let (delta, _) = delta_of(&f, &opts);
    assert!(
        delta.len() < new.len() / 4,
        "{} bytes of delta",
        delta.len()
    );
    assert!(apply_to(&f.base, &delta, new.len() as u64).unwrap().0 == new);
}

#[test]
fn a_wrong_base_of_the_same_length_gives_another_digest() {
    let base = noise(200_000, 4);
    let new = next_of(&base);
    let f = files(&base, &new);
    let (delta, s) = delta_of(&f, &small_chunks());
    let other = files(&noise(200_000, 5), &new);
    // zstd may decode garbage without complaint; the digest tells.
    match apply_to(&other.base, &delta, new.len() as u64) {
        Ok((_, a)) => assert_ne!(a.sha256, s.new_sha256),
        Err(e) => assert!(e.to_string().contains("zstd"), "{e}"),
    }
}

#[test]
fn a_base_of_another_length_is_refused_before_decoding() {
    let base = noise(200_000, 6);
    let new = next_of(&base);
    let f = files(&base, &new);
    let (delta, _) = delta_of(&f, &small_chunks());
    let other = files(&base[1..], &new);
    assert_eq!(
        message(apply_to(&other.base, &delta, new.len() as u64)),
        "the delta's base is 200000 bytes; this base is 199999 bytes"
    );
}

#[test]
fn another_signed_length_is_refused() {
    let base = noise(100_000, 7);
    let new = next_of(&base);
    let f = files(&base, &new);
    let (delta, _) = delta_of(&f, &small_chunks());
    assert_eq!(
        message(apply_to(&f.base, &delta, 5)),
        format!(
            "the delta rebuilds {} bytes; the manifest says 5",
            new.len()
        )
    );
}

#[test]
fn every_truncation_is_an_error() {
    let base = noise(100_000, 8);
    let new = next_of(&base);
    let f = files(&base, &new);
    let (delta, _) = delta_of(
        &f,
        &EncodeOptions {
            chunk_len: 40_000,
            ..EncodeOptions::default()
        },
    );
    for cut in (0..delta.len()).step_by(97).chain([delta.len() - 1]) {
        let r = apply_to(&f.base, &delta[..cut], new.len() as u64);
        assert!(
            r.is_err(),
            "a delta cut at {cut} of {} was applied",
            delta.len()
        );
    }
    assert_eq!(
        message(apply_to(
            &f.base,
            &delta[..HEADER_LEN + 3],
            new.len() as u64
        )),
        "the delta ends early: in a frame record"
    );
}

#[test]
fn corrupt_bytes_are_an_error_or_another_digest() {
    let base = noise(100_000, 9);
    let new = next_of(&base);
    let f = files(&base, &new);
    // Chunks shorter than the file: every header field counts.
    let opts = EncodeOptions {
        chunk_len: 40_000,
        ..EncodeOptions::default()
    };
    let (delta, s) = delta_of(&f, &opts);
    for at in (0..delta.len()).step_by(13) {
        let mut bad = delta.clone();
        bad[at] ^= 0x41;
        if let Ok((_, a)) = apply_to(&f.base, &bad, new.len() as u64) {
            assert_ne!(a.sha256, s.new_sha256, "a flip at {at} went unnoticed");
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let base = noise(50_000, 10);
    let f = files(&base, &next_of(&base));
    let (mut delta, s) = delta_of(&f, &small_chunks());
    delta.push(0);
    assert_eq!(
        message(apply_to(&f.base, &delta, s.new_len)),
        "the delta has bytes after its last frame"
    );
}

/// A delta of one frame whose record says `out_len` and whose frame is a
/// plain zstd frame of `content`.
fn one_frame_delta(base_len: u64, out_len: u64, frame: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    Header {
        base_len,
        new_len: out_len,
        chunk_len: DEFAULT_CHUNK,
    }
    .write(&mut d)
    .unwrap();
    FrameRecord {
        ref_offset: 0,
        ref_len: 0,
        out_len,
        frame_len: frame.len() as u64,
    }
    .write(&mut d)
    .unwrap();
    d.extend_from_slice(frame);
    d
}

/// A zstd frame of `content` that does not state its size.
fn frame_without_size(content: &[u8]) -> Vec<u8> {
    let mut e = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    e.include_contentsize(false).unwrap();
    std::io::Write::write_all(&mut e, content).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_frame_that_decodes_to_more_than_stated_writes_nothing() {
    let f = files(b"", b"");
    // The frame states 1000 bytes; its record, and the signed length, 10.
    let frame = zstd::bulk::compress(&[7u8; 1000], 1).unwrap();
    let delta = one_frame_delta(0, 10, &frame);
    let mut out = Vec::new();
    let r = apply(
        &File::open(&f.base).unwrap(),
        &mut Cursor::new(&delta),
        &mut out,
        10,
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        "delta frame 1: its zstd frame states 1000 content bytes; the record says 10"
    );
    assert!(out.is_empty());
    // A frame that does not state its size: zstd stops at the buffer's end.
    let delta = one_frame_delta(0, 10, &frame_without_size(&[7u8; 1000]));
    let r = apply(
        &File::open(&f.base).unwrap(),
        &mut Cursor::new(&delta),
        &mut out,
        10,
    );
    assert_eq!(
        r.unwrap_err().to_string(),
        "delta frame 1: its zstd frame states no content bytes; the record says 10"
    );
    assert!(out.is_empty());
}

#[test]
fn a_frame_asking_for_a_huge_window_is_refused() {
    let f = files(b"", b"");
    // A frame header: magic, descriptor (no single segment, 8-byte size),
    // window descriptor 2^(10+22) = 4 GiB, content size 10.
    let mut frame = 0xFD2F_B528u32.to_le_bytes().to_vec();
    frame.push(0xC0);
    frame.push(22 << 3);
    frame.extend_from_slice(&10u64.to_le_bytes());
    frame.extend_from_slice(&[0; 8]);
    let delta = one_frame_delta(0, 10, &frame);
    assert_eq!(
        message(apply_to(&f.base, &delta, 10)),
        "delta frame 1: its zstd frame asks for a window of 2^32 bytes; at most 2^31 is accepted"
    );
}

#[test]
fn hostile_records_are_bounded_before_use() {
    let base = noise(1000, 11);
    let f = files(&base, &base);
    let frame = zstd::bulk::compress(&[1u8; 10], 1).unwrap();
    let record = |ref_offset, ref_len, out_len, frame_len| {
        let mut d = Vec::new();
        Header {
            base_len: 1000,
            new_len: 10,
            chunk_len: 10,
        }
        .write(&mut d)
        .unwrap();
        FrameRecord {
            ref_offset,
            ref_len,
            out_len,
            frame_len,
        }
        .write(&mut d)
        .unwrap();
        d.extend_from_slice(&frame);
        d
    };
    let cases = [
        (record(999, 2, 10, frame.len() as u64), "delta frame 1: reference 999+2 lies outside the 1000-byte base"),
        (record(u64::MAX, 2, 10, frame.len() as u64), "delta frame 1: reference 18446744073709551615+2 lies outside the 1000-byte base"),
        (record(0, 0, 11, frame.len() as u64), "delta frame 1: rebuilds 11 bytes; expected 10"),
        (record(0, 0, 10, u64::MAX), "delta frame 1: 18446744073709551615 compressed bytes for 10 bytes exceed zstd's bound 105"),
    ];
    for (delta, want) in cases {
        assert_eq!(message(apply_to(&f.base, &delta, 10)), want);
    }
    let mut huge_chunk = Vec::new();
    Header {
        base_len: 1000,
        new_len: 1 << 40,
        chunk_len: 1 << 40,
    }
    .write(&mut huge_chunk)
    .unwrap();
    assert_eq!(
        message(apply_to(&f.base, &huge_chunk, 1 << 40)),
        format!("delta frame 0: chunk length 1099511627776 is not in 1..={MAX_CHUNK} (only a delta of one chunk may have a shorter one)")
    );
    let mut magic = vec![0u8; HEADER_LEN + RECORD_LEN];
    magic[..4].copy_from_slice(b"PK\x03\x04");
    assert_eq!(
        message(apply_to(&f.base, &magic, 10)),
        "not an airlock delta (magic 504b030400000000)"
    );
}

#[test]
fn empty_files_round_trip() {
    let some = noise(5000, 12);
    for (base, new) in [
        (&b""[..], &b""[..]),
        (&b""[..], &some[..]),
        (&some[..], &b""[..]),
    ] {
        let f = files(base, new);
        let (delta, s) = delta_of(&f, &EncodeOptions::default());
        assert_eq!(s.new_sha256, Sha256Digest::of(new));
        let (out, a) = apply_to(&f.base, &delta, new.len() as u64).unwrap();
        assert!(out == new);
        assert_eq!(a.sha256, Sha256Digest::of(new));
    }
}
