//! review2: hostile deltas under a valid signature, against the window
//! reuse and the record bounds.

use std::fs::File;
use std::io::Cursor;

use super::bounds_tests::{header, push_frame};
use super::*;

const MIB: u64 = 1 << 20;

fn zeros_frame(len: u64) -> Vec<u8> {
    let mut c = zstd::zstd_safe::CCtx::create();
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))
        .unwrap();
    let mut buf = Vec::with_capacity(zstd::zstd_safe::compress_bound(len as usize));
    c.compress2(&mut buf, &vec![0u8; len as usize]).unwrap();
    buf
}

fn sparse_base(dir: &tempfile::TempDir, len: u64) -> File {
    let path = dir.path().join("base");
    let f = File::create(&path).unwrap();
    f.set_len(len).unwrap();
    File::open(&path).unwrap()
}

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// A delta of `new_mib` MiB in chunks of `chunk` whose i-th reference is
/// `(i * step, ref_len)`.
fn crafted(base_len: u64, new_len: u64, chunk: u64, step: u64, ref_len: u64) -> Vec<u8> {
    let mut d = header(base_len, new_len, chunk);
    let frame = zeros_frame(chunk);
    let mut i = 0;
    while i * chunk < new_len {
        push_frame(&mut d, i * step, ref_len, chunk, &frame);
        i += 1;
    }
    d
}

fn timed(base: &File, delta: &[u8], new_len: u64) -> f64 {
    let t = cpu_secs();
    let s = apply(base, &mut Cursor::new(delta), &mut std::io::sink(), new_len).unwrap();
    assert_eq!(s.len, new_len);
    cpu_secs() - t
}

#[test]
#[ignore = "a measurement: cargo test --lib delta::review2_tests -- --ignored --nocapture"]
fn window_slide_cost() {
    let dir = tempfile::tempdir().unwrap();
    let new_len: u64 = std::env::var("R2_NEW_MIB").map_or(1024, |v| v.parse().unwrap()) * MIB;
    let base_len = 128 * MIB;
    let base = sparse_base(&dir, base_len);
    let cases = [
        (
            "genuine-like: 16 MiB chunks, 64 MiB refs moving 16 MiB/1024 MiB",
            16 * MIB,
            64 * MIB / (new_len / (16 * MIB)),
            64 * MIB,
        ),
        ("1 MiB chunks, no reference", MIB, 0, 0),
        ("1 MiB chunks, 64 MiB refs fixed", MIB, 0, 64 * MIB),
        ("1 MiB chunks, 64 MiB refs moving 1 byte", MIB, 1, 64 * MIB),
    ];
    for (what, chunk, step, ref_len) in cases {
        let d = crafted(base_len, new_len, chunk, step, ref_len);
        let cpu = timed(&base, &d, new_len);
        println!(
            "{what}: delta {} bytes, {} MiB out, {cpu:.2} s CPU",
            d.len(),
            new_len >> 20
        );
    }
}

/// The bytes `Window` moved inside its buffer: a reference that moves
/// forward by a byte a frame must not move 64 MiB a frame (64 bytes of
/// memmove per byte of result, where a genuine delta moves 3).
#[test]
fn a_window_moving_a_byte_a_frame_moves_little_and_stays_exact() {
    use std::os::unix::fs::FileExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base");
    let bytes: Vec<u8> = (0..3 * MIB).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let file = File::open(&path).unwrap();
    let mut w = window::Window::default();
    let len = MIB;
    // 2000 frames each a byte further, then jumps, empty ones, one at the
    // base's very end.
    let mut refs: Vec<(u64, u64)> = (0..2000).map(|i| (i, len)).collect();
    refs.extend([
        (2000, len + 5),
        (2000 + len + 5, 0),
        (2000 + len + 5, 7),
        (2 * MIB, MIB),
        (3 * MIB, 0),
    ]);
    for (off, l) in refs {
        let got = w.load(&file, off, l).unwrap();
        assert!(
            got == &bytes[off as usize..(off + l) as usize],
            "window {off}+{l}"
        );
    }
    // Genuine: the base read once, each byte moved at most a few times.
    assert!(
        w.moved() <= 4 * 3 * MIB,
        "{} bytes moved for a 3 MiB base",
        w.moved()
    );
    let mut one = [0u8; 1];
    file.read_exact_at(&mut one, 0).unwrap();
}

/// Random walks of windows (forward, creeping, jumping, back, empty, at
/// the end): each load returns exactly the base's bytes.
#[test]
fn random_windows_return_the_base_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base");
    let n = 200_003u64;
    let bytes: Vec<u8> = (0..n).map(|i| (i * 131 % 257) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let file = File::open(&path).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _ in 0..20 {
        let mut w = window::Window::default();
        let (mut off, mut len) = (0u64, next(5000));
        for _ in 0..300 {
            match next(6) {
                0 => off += next(3),
                1 => off += next(len + 1),
                2 => len = next(20_000),
                3 => off = next(n),
                4 => len = 0,
                _ => len += next(100),
            }
            off = off.min(n);
            len = len.min(n - off);
            let got = w.load(&file, off, len).unwrap();
            assert!(
                got == &bytes[off as usize..(off + len) as usize],
                "{off}+{len}"
            );
        }
    }
}

/// SPEC 1.3: a reader MUST refuse a `chunk_len` of 0 or above 16 MiB,
/// whatever `new_len` is (airlock's writer never writes one).
#[test]
fn a_chunk_length_of_zero_or_too_large_is_refused_even_for_an_empty_result() {
    let dir = tempfile::tempdir().unwrap();
    let base = sparse_base(&dir, 10);
    for chunk in [0, MAX_CHUNK + 1, u64::MAX] {
        let d = header(10, 0, chunk);
        let e = apply(&base, &mut Cursor::new(&d), &mut Vec::new(), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("delta frame 0: chunk length {chunk} is not in 1048576..=16777216 (only a delta of one chunk may have a shorter one)")
        );
    }
    // An empty result with a chunk in bounds is a delta of no frame.
    let d = header(10, 0, MIB);
    let s = apply(&base, &mut Cursor::new(&d), &mut Vec::new(), 0).unwrap();
    assert_eq!((s.len, s.frames), (0, 0));
}

/// Records at the edges: a reference ending exactly at the base's end, an
/// empty one there, and offsets whose sum overflows u64.
#[test]
fn references_at_the_edges_of_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let base = sparse_base(&dir, 100);
    let frame = zeros_frame(10);
    for (off, len, ok) in [
        (0, 100, true),
        (100, 0, true),
        (90, 10, true),
        (91, 10, false),
        (101, 0, false),
        (1, u64::MAX, false),
        (u64::MAX, 1, false),
        (u64::MAX, 0, false),
    ] {
        let mut d = header(100, 10, 10);
        push_frame(&mut d, off, len, 10, &frame);
        let mut out = Vec::new();
        let r = apply(&base, &mut Cursor::new(&d), &mut out, 10);
        match (r, ok) {
            (Ok(s), true) => assert_eq!((s.len, out), (10, vec![0u8; 10])),
            (Err(e), false) => {
                assert_eq!(
                    e.to_string(),
                    format!("delta frame 1: reference {off}+{len} lies outside the 100-byte base")
                );
                assert!(out.is_empty());
            }
            (r, _) => panic!("{off}+{len}: {:?}", r.map(|s| s.len)),
        }
    }
}

/// A frame record stating fewer bytes than the chunk (the last excepted)
/// is refused: else 1-byte frames would undo the minimum chunk.
#[test]
fn a_frame_shorter_than_its_chunk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = sparse_base(&dir, 100);
    let mut d = header(100, 2 * MIB, MIB);
    push_frame(&mut d, 0, 0, 1, &zeros_frame(1));
    let e = apply(&base, &mut Cursor::new(&d), &mut Vec::new(), 2 * MIB).unwrap_err();
    assert_eq!(
        e.to_string(),
        "delta frame 1: rebuilds 1 bytes; expected 1048576"
    );
}

/// The reference buffer stays within 1.25 references however the
/// references creep, and is not grown a byte a frame.
#[test]
fn the_window_buffer_stays_within_a_quarter_more_than_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base");
    std::fs::write(&path, vec![7u8; 3 * MIB as usize]).unwrap();
    let file = File::open(&path).unwrap();
    let mut w = window::Window::default();
    let mut caps = std::collections::BTreeSet::new();
    for i in 0..3000 {
        w.load(&file, i * 97, MIB).unwrap();
        assert!(w.capacity() <= (MIB + MIB / 4) as usize, "{}", w.capacity());
        caps.insert(w.capacity());
    }
    assert_eq!(caps.len(), 1, "grown {} times", caps.len());
}
