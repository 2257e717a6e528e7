//! [`Transform`]: a stage on a worker thread fed from this one yields what
//! it would yield here, errors from either side arrive unchanged and in
//! place, and the input the stage did not read comes back in order.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::super::{feed, Feed, Transform, CHUNK, DEPTH};
use super::STAGE_CHUNK;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 977) as u8).collect()
}

/// A stage that changes every byte (so output is not mistaken for input)
/// and reads in short, uneven steps.
struct Flip {
    feed: Feed,
    step: usize,
}

impl Read for Flip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = (self.step * 7919 + 13) % 70_001;
        let n = buf.len().min(self.step.max(1));
        let n = self.feed.read(&mut buf[..n])?;
        buf[..n].iter_mut().for_each(|b| *b ^= 0x5a);
        Ok(n)
    }
}

fn flip(data: &[u8]) -> Vec<u8> {
    data.iter().map(|b| b ^ 0x5a).collect()
}

fn flipped<R: Read>(source: R) -> Transform<R, Flip> {
    let (feeder, feed) = feed(source);
    match feeder.spawn("test-stage", Flip { feed, step: 1 }) {
        Ok(t) => t,
        Err((e, _)) => panic!("{e}"),
    }
}

#[test]
fn a_transform_yields_the_stage_output_of_every_byte_in_order() {
    let data = pattern(5 * CHUNK + 12_345);
    let mut t = flipped(&data[..]);
    let mut got = Vec::new();
    t.read_to_end(&mut got).unwrap();
    assert_eq!(got, flip(&data));
    assert_eq!(t.read(&mut [0u8; 4]).unwrap(), 0);
    let (stage, rest) = t.finish();
    assert!(rest.is_empty());
    let mut feed = stage.feed;
    assert_eq!(feed.read(&mut [0u8; 1]).unwrap(), 0);
}

/// The error a source marks its own failures with (as the bundle reader's
/// `SourceError` does).
#[derive(Debug)]
struct Marked;

impl std::fmt::Display for Marked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk read failed")
    }
}

impl std::error::Error for Marked {}

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
fn a_source_error_reaches_the_stage_and_the_reader_unchanged_after_its_bytes() {
    let data = pattern(2 * CHUNK + 100);
    let mut t = flipped(FailsAfter {
        data: data.clone(),
        pos: 0,
    });
    let mut got = vec![0u8; data.len()];
    t.read_exact(&mut got).unwrap();
    assert_eq!(got, flip(&data));
    let e = t.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    // The same error object: its inner error is still the source's mark.
    assert!(e.get_ref().is_some_and(|i| i.is::<Marked>()), "{e:?}");
    let again = t.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(
        (again.kind(), again.to_string()),
        (io::ErrorKind::PermissionDenied, "disk read failed".into())
    );
}

/// A stage that fails with its own error after `good` bytes.
struct StageFails {
    feed: Feed,
    left: usize,
}

impl Read for StageFails {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, Marked));
        }
        let n = buf.len().min(self.left);
        let n = self.feed.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn a_stage_error_arrives_unchanged_after_the_bytes_it_produced() {
    let data = pattern(3 * CHUNK);
    let good = CHUNK + 777;
    let (feeder, feed) = feed(&data[..]);
    let Ok(mut t) = feeder.spawn("test-stage", StageFails { feed, left: good }) else {
        panic!("no thread");
    };
    let mut got = vec![0u8; good];
    t.read_exact(&mut got).unwrap();
    assert_eq!(got, data[..good]);
    let e = t.read(&mut [0u8; 1]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.get_ref().is_some_and(|i| i.is::<Marked>()), "{e:?}");
}

/// A stage that ends after `len` bytes of its input (as a zstd frame ends
/// before the file does).
struct Prefix {
    feed: Feed,
    left: usize,
}

impl Read for Prefix {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left);
        let n = self.feed.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn the_input_the_stage_left_comes_back_in_order_then_the_source() {
    for len in [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 5] {
        let data = pattern(4 * CHUNK + 999);
        let (feeder, feed) = feed(&data[..]);
        let Ok(mut t) = feeder.spawn("test-stage", Prefix { feed, left: len }) else {
            panic!("no thread");
        };
        let mut got = Vec::new();
        t.read_to_end(&mut got).unwrap();
        assert_eq!(got, data[..len], "{len}");
        let (stage, source) = t.finish();
        let mut rest = Vec::new();
        BufReader::new(stage.feed)
            .chain(source)
            .read_to_end(&mut rest)
            .unwrap();
        assert_eq!(rest, data[len..], "{len}");
    }
}

/// Endless input, counted as it is read.
struct Endless(Arc<AtomicU64>);

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::SeqCst);
        buf.fill(7);
        Ok(buf.len())
    }
}

#[test]
fn a_transform_reads_ahead_a_bounded_amount_and_dropping_it_ends_the_worker() {
    let count = Arc::new(AtomicU64::new(0));
    let mut t = flipped(Endless(count.clone()));
    let mut one = [0u8; 1];
    t.read_exact(&mut one).unwrap();
    assert_eq!(one, [7 ^ 0x5a]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    // This thread reads the source only in `read`: as far as the buffers
    // in flight allow, never more.
    let read = count.load(Ordering::SeqCst);
    assert!(read <= (DEPTH * STAGE_CHUNK) as u64, "{read}");
    // Dropping joins the worker (the test would hang otherwise).
    drop(t);
    let read_at_drop = count.load(Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(count.load(Ordering::SeqCst), read_at_drop);
}

#[test]
fn the_rest_after_a_stage_is_a_bufread_of_the_remaining_bytes() {
    // What the bundle reader does after the zstd frame: fill_buf then count.
    let data = pattern(CHUNK + 10);
    let (feeder, feed) = feed(&data[..]);
    let Ok(mut t) = feeder.spawn("test-stage", Prefix { feed, left: 10 }) else {
        panic!("no thread");
    };
    io::copy(&mut t, &mut io::sink()).unwrap();
    let (stage, source) = t.finish();
    let mut rest = BufReader::new(stage.feed).chain(source);
    assert_eq!(rest.fill_buf().unwrap()[0], data[10]);
}
