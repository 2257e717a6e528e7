//! The pipes through readers and writers that move short, uneven runs of
//! bytes, as tar-rs and the inflater do.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::*;
use crate::digest::{Hasher, Sha256Digest, BACKGROUND_MIN};

/// Deterministic bytes that do not repeat with the chunk size.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 977) as u8).collect()
}

/// Yields its bytes in short reads of uneven length (1 to 70 000 bytes).
struct Uneven<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Uneven<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = (self.step * 7919 + 13) % 70_001;
        let n = self.data.len().min(buf.len()).min(self.step.max(1));
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Reads `r` to its end in uneven reads.
fn read_unevenly(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    let mut step = 1usize;
    loop {
        step = (step * 613 + 7) % 70_000 + 1;
        match r.read(&mut buf[..step])? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn a_pipe_writer_gives_its_consumer_every_byte_in_order() {
    let data = pattern(3 * CHUNK + 12_345);
    let mut w = PipeWriter::spawn("test", Vec::new(), |seen: &mut Vec<u8>, b| {
        seen.extend_from_slice(b)
    })
    .unwrap();
    io::copy(
        &mut Uneven {
            data: &data,
            step: 1,
        },
        &mut w,
    )
    .unwrap();
    assert_eq!(w.finish().unwrap(), data);
}

#[test]
fn a_pipe_writer_reuses_at_most_depth_buffers() {
    let mut w = PipeWriter::spawn("test", HashSet::new(), |bufs: &mut HashSet<usize>, b| {
        bufs.insert(b.as_ptr() as usize);
    })
    .unwrap();
    let block = pattern(100_000);
    for _ in 0..(40 * CHUNK / block.len()) {
        w.write_all(&block).unwrap();
    }
    let bufs = w.finish().unwrap();
    assert!(
        bufs.len() <= DEPTH && bufs.len() >= 2,
        "{} buffers",
        bufs.len()
    );
}

#[test]
fn a_consumer_panic_surfaces_at_finish() {
    let mut w = PipeWriter::spawn("test", 0u8, |_, _| panic!("consumer failed")).unwrap();
    // The first full buffer reaches the consumer, which panics: later writes
    // fail, and finish resumes the panic rather than returning a value.
    let _ = w.write_all(&pattern(3 * CHUNK));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.finish()));
    let panic = caught.expect_err("finish must not return");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"consumer failed"));
}

#[test]
fn a_background_hasher_agrees_with_one_on_this_thread() {
    for len in [0, 1, CHUNK - 1, BACKGROUND_MIN as usize + CHUNK + 3] {
        let data = pattern(len);
        let mut h = Hasher::for_len(len as u64);
        for piece in data.chunks(65_537) {
            h.update(piece);
        }
        assert_eq!(h.finish(), Sha256Digest::of(&data), "{len} bytes");
    }
}

#[test]
fn read_ahead_yields_the_source_unchanged() {
    let data = pattern(5 * CHUNK + 777);
    std::thread::scope(|s| {
        let mut r = read_ahead(
            s,
            Uneven {
                data: &data,
                step: 3,
            },
        )
        .unwrap();
        assert_eq!(read_unevenly(&mut r).unwrap(), data);
        // At the end, it stays at the end.
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
        assert!(r.into_inner().data.is_empty());
    });
}

/// The error a source marks its own failures with (as the bundle reader's
/// `SourceError` does), to see it arrive unchanged.
#[derive(Debug)]
struct Marked;

impl std::fmt::Display for Marked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk read failed")
    }
}

impl std::error::Error for Marked {}

/// `good` bytes, then an error.
struct FailsAfter {
    data: Vec<u8>,
    pos: usize,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, Marked));
        }
        let n = buf.len().min(self.data.len() - self.pos).min(4096);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_source_error_arrives_unchanged_after_the_bytes_before_it() {
    let data = pattern(2 * CHUNK + 100);
    std::thread::scope(|s| {
        let source = FailsAfter {
            data: data.clone(),
            pos: 0,
        };
        let mut r = read_ahead(s, source).unwrap();
        let mut got = vec![0u8; data.len()];
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, data);
        let e = r.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(e.get_ref().is_some_and(|i| i.is::<Marked>()), "{e:?}");
        assert_eq!(e.to_string(), "disk read failed");
        // Read again, it fails again (the same kind and text), never EOF.
        let again = r.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(
            (again.kind(), again.to_string()),
            (io::ErrorKind::PermissionDenied, "disk read failed".into())
        );
    });
}

/// Endless bytes, counted as they are read.
struct Endless(Arc<AtomicU64>);

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::SeqCst);
        buf.fill(7);
        Ok(buf.len())
    }
}

#[test]
fn dropping_the_reader_ends_the_producer_with_memory_bounded() {
    let count = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        let mut r = read_ahead(s, Endless(count.clone())).unwrap();
        let mut one = [0u8; 1];
        r.read_exact(&mut one).unwrap();
        // Give the producer time to run as far ahead as it may.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let ahead = count.load(Ordering::SeqCst);
        assert!(ahead <= (DEPTH * CHUNK) as u64, "read {ahead} bytes ahead");
        drop(r);
        // The scope joins the producer: the test ends only if it stopped.
    });
    assert!(count.load(Ordering::SeqCst) <= ((DEPTH + 1) * CHUNK) as u64);
}

#[test]
fn into_inner_stops_a_producer_that_is_ahead() {
    let count = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        let mut r = read_ahead(s, Endless(count.clone())).unwrap();
        r.read_exact(&mut [0u8; 10]).unwrap();
        // Let it get as far ahead as it may: every buffer out, waiting for
        // one to come back.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let Endless(c) = r.into_inner();
        assert!(Arc::ptr_eq(&c, &count));
    });
}

#[test]
fn read_from_fills_the_buffers_straight_from_a_reader() {
    let data = pattern(2 * CHUNK + 4321);
    let mut w = PipeWriter::spawn("test", Vec::new(), |seen: &mut Vec<u8>, b| {
        seen.extend_from_slice(b)
    })
    .unwrap();
    let mut src = Uneven {
        data: &data,
        step: 5,
    };
    // Mixed with writes: the order holds.
    w.write_all(b"head").unwrap();
    while w.read_from(&mut src).unwrap() > 0 {}
    w.write_all(b"tail").unwrap();
    let seen = w.finish().unwrap();
    assert_eq!(&seen[..4], b"head");
    assert_eq!(&seen[4..seen.len() - 4], &data[..]);
    assert_eq!(&seen[seen.len() - 4..], b"tail");
    // A reader's error comes back unchanged.
    let mut w = PipeWriter::spawn("test", (), |_, _| {}).unwrap();
    let mut failing = FailsAfter {
        data: pattern(10),
        pos: 10,
    };
    let e = w.read_from(&mut failing).unwrap_err();
    assert!(e.get_ref().is_some_and(|i| i.is::<Marked>()), "{e:?}");
    w.finish().unwrap();
}
