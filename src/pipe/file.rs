//! Copying a stream into a file with the writes on a second thread: the
//! thread that produces the bytes (inflating a layer) does not also wait
//! for the kernel to take them into the page cache (issue 12: at verify,
//! writing the spooled Java DB was a sixth of the reading thread's time).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use super::PipeWriter;

/// Where [`copy_to_file`] failed.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source (its error, unchanged).
    Read(io::Error),
    /// Writing the file (its error, unchanged).
    Write(io::Error),
}

impl CopyError {
    /// The error, whichever side it came from.
    pub fn into_io(self) -> io::Error {
        match self {
            CopyError::Read(e) | CopyError::Write(e) => e,
        }
    }
}

/// The writing end: its file, and the first write error (after which it
/// writes nothing more).
struct Behind {
    file: File,
    failed: Option<io::Error>,
}

fn write_chunk(b: &mut Behind, bytes: &[u8]) {
    if b.failed.is_none() {
        if let Err(e) = b.file.write_all(bytes) {
            b.failed = Some(e);
        }
    }
}

/// Copies `data` to its end into `file` (at its current offset), the
/// writes on a second thread through a [`PipeWriter`] (or on this one if
/// no thread can be started). A write error is returned as it came, before
/// a read error that came after it was queued; it ends the copy at the
/// latest when `data` does. Nothing is flushed to disk.
///
/// # Errors
/// [`CopyError::Read`] with `data`'s error, [`CopyError::Write`] with the
/// file's.
pub fn copy_to_file(file: &File, data: &mut dyn Read) -> Result<(), CopyError> {
    let behind = Behind {
        file: file.try_clone().map_err(CopyError::Write)?,
        failed: None,
    };
    let Ok(mut w) = PipeWriter::spawn("airlock-write", behind, write_chunk) else {
        return copy_here(file, data);
    };
    // Reads straight into the pipe's buffers, as large as they have room
    // for (through `Write`, `io::copy` would read 8 KiB at a time).
    let copied = loop {
        match w.read_from(data) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The consumer thread's end is the writing side's failure.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe && w.consumer_ended() => {
                break Err(CopyError::Write(e))
            }
            Err(e) => break Err(CopyError::Read(e)),
        }
    };
    let written = w.finish().map_err(CopyError::Write)?;
    if let Some(e) = written.failed {
        return Err(CopyError::Write(e));
    }
    copied
}

/// [`copy_to_file`] on this thread.
fn copy_here(file: &File, data: &mut dyn Read) -> Result<(), CopyError> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
    w.flush().map_err(CopyError::Write)
}
