use std::io::{self, Read, Write};

use super::*;

/// Deterministic bytes that do not repeat within a chunk.
fn data(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Returns short reads of varying length (1 to 7919 bytes), then an error
/// of `fail` (if any) after `fail_at` bytes.
struct ShortReads {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    fail: Option<(usize, io::ErrorKind)>,
}

impl Read for ShortReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((at, kind)) = self.fail {
            if self.pos >= at {
                return Err(io::Error::new(kind, "the medium failed"));
            }
        }
        self.step = (self.step * 31 + 7) % 7919 + 1;
        let n = buf.len().min(self.step).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn short(data: Vec<u8>) -> ShortReads {
    ShortReads {
        data,
        pos: 0,
        step: 1,
        fail: None,
    }
}

#[test]
fn hash_ahead_hands_over_every_byte_in_order_and_hashes_the_whole_input() {
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK * DEPTH + 17] {
        let bytes = data(len);
        let mut ahead = HashAhead::new(short(bytes.clone()));
        // The caller reads only half (a gzip member followed by trailing
        // bytes): finish hashes the rest too.
        let mut got = vec![0u8; len / 2];
        ahead.read_exact(&mut got).unwrap();
        assert_eq!(got, bytes[..len / 2]);
        let (digest, size) = ahead.finish().unwrap();
        assert_eq!((digest, size), (Sha256Digest::of(&bytes), len as u64));
    }
}

#[test]
fn hash_ahead_reads_through_to_the_same_bytes_as_the_input() {
    let bytes = data(5 * CHUNK + 3);
    let mut ahead = HashAhead::new(short(bytes.clone()));
    let mut got = Vec::new();
    ahead.read_to_end(&mut got).unwrap();
    assert_eq!(got, bytes);
    assert_eq!(ahead.finish().unwrap().1, bytes.len() as u64);
}

#[test]
fn hash_ahead_passes_on_the_inputs_error_and_keeps_failing() {
    let bytes = data(3 * CHUNK);
    let mut input = short(bytes.clone());
    input.fail = Some((CHUNK + 5, io::ErrorKind::PermissionDenied));
    let mut ahead = HashAhead::new(input);
    let mut got = Vec::new();
    let e = ahead.read_to_end(&mut got).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (io::ErrorKind::PermissionDenied, "the medium failed".into())
    );
    // Every byte read before the failure, none after.
    assert!(got.len() >= CHUNK + 5 && got.len() < CHUNK + 5 + 7920);
    assert_eq!(got, bytes[..got.len()]);
    assert_eq!(
        ahead.finish().unwrap_err().kind(),
        io::ErrorKind::PermissionDenied
    );
}

#[test]
fn hash_ahead_dropped_early_stops_its_thread() {
    // Far more than the channel holds: the thread blocks until the drop.
    let mut ahead = HashAhead::new(io::repeat(7).take(1 << 30));
    let mut one = [0u8; 1];
    ahead.read_exact(&mut one).unwrap();
    drop(ahead);
}

#[test]
fn write_behind_writes_the_same_bytes_and_hashes_them() {
    let bytes = data(4 * CHUNK + 11);
    let (produced, written) = write_behind(Vec::new(), |w| {
        // Writes of every size, a flush in the middle.
        let mut pos = 0;
        let mut step = 1;
        while pos < bytes.len() {
            step = (step * 31 + 7) % 70_001 + 1;
            let n = step.min(bytes.len() - pos);
            w.write_all(&bytes[pos..pos + n])?;
            if pos == 0 {
                w.flush()?;
            }
            pos += n;
        }
        Ok::<_, io::Error>("produced")
    });
    assert_eq!(produced.unwrap(), "produced");
    let (digest, size, out) = written.unwrap();
    assert_eq!(out, bytes);
    assert_eq!(
        (digest, size),
        (Sha256Digest::of(&bytes), bytes.len() as u64)
    );
}

/// A writer that fails as a full disk does after `room` bytes.
struct Full {
    room: usize,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.room {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no room left"));
        }
        self.room -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_behind_fails_the_producers_write_with_the_outputs_own_error() {
    let (produced, written) = write_behind(Full { room: CHUNK }, |w| {
        for _ in 0..64 {
            w.write_all(&[1u8; 4096 * 16])?;
        }
        Ok::<_, io::Error>(())
    });
    let e = produced.unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (io::ErrorKind::StorageFull, "no room left".into())
    );
    assert!(written.is_err());
}

#[test]
fn write_behind_reports_a_failure_of_the_last_bytes() {
    // Fewer bytes than a chunk: they reach the output only at the end.
    let (produced, written) = write_behind(Full { room: 10 }, |w| w.write_all(&[0u8; 100]));
    produced.unwrap();
    let e = written.err().expect("the output failed");
    assert_eq!(e.to_string(), "no room left");
}
