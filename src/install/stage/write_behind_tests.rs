//! A large staged file is written on a second thread: the same bytes land,
//! and a read or write failure comes back as the same `io::Error`.

use std::fs::{self, File};
use std::io::{self, Read};

use super::{copy_behind, DirSink, WRITE_BEHIND_MIN};
use crate::unpack::Sink;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 1021) as u8).collect()
}

/// Its bytes in uneven reads, then (if `fail`) an error of its own.
struct Source {
    data: Vec<u8>,
    pos: usize,
    fail: bool,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() {
            return match self.fail {
                true => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "payload altered",
                )),
                false => Ok(0),
            };
        }
        let step = 1 + (self.pos * 2_654_435_761) % 100_000;
        let n = buf.len().min(step).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_large_file_is_staged_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = DirSink {
        root: dir.path().to_path_buf(),
    };
    let bytes = data(WRITE_BEHIND_MIN as usize + 3 * 1_000_003);
    let mut src = Source {
        data: bytes.clone(),
        pos: 0,
        fail: false,
    };
    sink.file("db/trivy-java.db", bytes.len() as u64, &mut src)
        .unwrap();
    assert_eq!(
        fs::read(dir.path().join("db/trivy-java.db")).unwrap(),
        bytes
    );
}

#[test]
fn a_read_failure_comes_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let f = File::create(dir.path().join("f")).unwrap();
    let mut src = Source {
        data: data(5 << 20),
        pos: 0,
        fail: true,
    };
    let e = copy_behind(f, &mut src).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (io::ErrorKind::InvalidData, "payload altered".to_string())
    );
}

#[test]
fn a_write_failure_comes_back_as_the_system_said_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"").unwrap();
    // Open for reading only: every write fails with EBADF.
    let f = File::open(&path).unwrap();
    let expected = io::Error::from_raw_os_error(rustix::io::Errno::BADF.raw_os_error());
    for fail in [false, true] {
        let mut src = Source {
            data: data(5 << 20),
            pos: 0,
            fail,
        };
        let e = copy_behind(f.try_clone().unwrap(), &mut src).unwrap_err();
        assert_eq!(e.raw_os_error(), expected.raw_os_error(), "{e}");
        assert_eq!(e.to_string(), expected.to_string());
    }
}
