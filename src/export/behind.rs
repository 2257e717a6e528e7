//! The bundle file written behind the compressor (issue 12): its SHA-256
//! and its writes run on a second thread ([`crate::pipe::PipeWriter`])
//! while this one reads, hashes and compresses the payloads. The bytes and
//! their order are those of a serial write.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::digest::{HashingWriter, Sha256Digest};
use crate::pipe::PipeWriter;

/// The writing thread's state: the file, and the first error writing it
/// (after which nothing more is written).
type Output = (HashingWriter<BufWriter<File>>, Option<io::Error>);

fn consume(out: &mut Output, bytes: &[u8]) {
    if out.1.is_none() {
        if let Err(e) = out.0.write_all(bytes) {
            out.1 = Some(e);
        }
    }
}

/// Runs `produce` with a writer whose bytes go to `file` on a second
/// thread (on this one if no thread can be started); returns `produce`'s
/// result, then the file's digest and size once every byte is written and
/// flushed, or the first error writing it.
pub(super) fn write_behind<T>(
    file: &File,
    produce: impl FnOnce(&mut dyn Write) -> T,
) -> (T, io::Result<(Sha256Digest, u64)>) {
    let pipe = file.try_clone().and_then(|own| {
        let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, own));
        PipeWriter::spawn("airlock-write", (out, None), consume)
    });
    let Ok(mut pipe) = pipe else {
        // No second thread: the same bytes, written here.
        let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let produced = produce(&mut out);
        let (digest, size, mut buffered) = out.finish();
        return (produced, buffered.flush().map(|()| (digest, size)));
    };
    let produced = produce(&mut pipe);
    let written = pipe.finish().and_then(|(out, error)| match error {
        Some(e) => Err(e),
        None => {
            let (digest, size, mut buffered) = out.finish();
            buffered.flush()?;
            Ok((digest, size))
        }
    });
    (produced, written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_gets_every_byte_in_order_with_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let file = File::create(&path).unwrap();
        // Several pipe buffers, written in uneven pieces.
        let bytes: Vec<u8> = (0..(3 << 20) + 12_345u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let (produced, written) = write_behind(&file, |w| {
            for piece in bytes.chunks(70_001) {
                w.write_all(piece)?;
            }
            Ok::<_, io::Error>("produced")
        });
        assert_eq!(produced.unwrap(), "produced");
        let (digest, size) = written.unwrap();
        assert_eq!(
            (digest, size),
            (Sha256Digest::of(&bytes), bytes.len() as u64)
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_full_disk_is_reported_as_itself() {
        // Every write to /dev/full fails with ENOSPC.
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let (produced, written) = write_behind(&full, |w| w.write_all(&vec![7u8; 3 << 20]));
        produced.unwrap();
        let e = written.expect_err("the write fails");
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    }
}
