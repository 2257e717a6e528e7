//! Two-core streaming for export (issue 12): [`HashAhead`] reads and hashes
//! a file on a second thread while the caller inflates and checks what it
//! hands over; [`write_behind`] hashes and writes a stream's output on a
//! second thread while the caller produces it (tar and zstd).
//!
//! Both move bytes in chunks of [`CHUNK`] through channels of [`DEPTH`]
//! chunks, so memory stays flat (a few MiB) whatever the size. The bytes,
//! their order and their digest are exactly those of a serial read or
//! write: only the thread that does the work changes, so bundles stay
//! byte-identical.

use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

use crate::digest::{HashingWriter, Sha256Digest};

/// Bytes per chunk handed between threads.
pub const CHUNK: usize = 256 << 10;
/// Chunks in flight between the two threads.
pub const DEPTH: usize = 4;

/// What the reading thread sends: a chunk, or the error that ended it.
type Chunk = io::Result<Vec<u8>>;

/// A file read ahead and hashed on a second thread; the caller reads the
/// same bytes, in order, through [`Read`]. [`HashAhead::finish`] reads what
/// the caller left (as a serial hash of the whole input would) and returns
/// the digest and size of everything. Dropped early, the thread stops at
/// its next chunk.
pub struct HashAhead {
    chunks: Option<Receiver<Chunk>>,
    spare: SyncSender<Vec<u8>>,
    worker: Option<JoinHandle<(Sha256Digest, u64)>>,
    current: Vec<u8>,
    pos: usize,
    /// The error that ended the input, once the caller has seen it.
    failed: Option<io::ErrorKind>,
}

impl HashAhead {
    /// Starts reading `input` on a new thread.
    pub fn new<R: Read + Send + 'static>(input: R) -> Self {
        let (tx, chunks) = sync_channel(DEPTH);
        // Spent buffers go back to the reader (one more than can be in
        // flight, so the reader never blocks on returning them).
        let (spare, spent) = sync_channel(DEPTH + 2);
        let worker = std::thread::spawn(move || read_ahead(input, &tx, &spent));
        HashAhead {
            chunks: Some(chunks),
            spare,
            worker: Some(worker),
            current: Vec::new(),
            pos: 0,
            failed: None,
        }
    }

    /// Reads what is left, then returns the SHA-256 and the byte count of
    /// the whole input.
    ///
    /// # Errors
    /// The error that ended the input, if any.
    pub fn finish(mut self) -> io::Result<(Sha256Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        self.chunks = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(done)) => Ok(done),
            _ => Err(io::Error::other("the reading thread ended abnormally")),
        }
    }

    /// The next chunk; `false` at the end of the input.
    fn next_chunk(&mut self) -> io::Result<bool> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(kind, "the input failed earlier"));
        }
        let Some(chunks) = &self.chunks else {
            return Ok(false);
        };
        match chunks.recv() {
            Ok(Ok(chunk)) => {
                let spent = std::mem::replace(&mut self.current, chunk);
                // The reader may have stopped; then the buffer just goes.
                let _ = self.spare.try_send(spent);
                self.pos = 0;
                Ok(true)
            }
            Ok(Err(e)) => {
                self.failed = Some(e.kind());
                Err(e)
            }
            // The reader hung up: the end of the input.
            Err(_) => {
                self.chunks = None;
                Ok(false)
            }
        }
    }
}

impl Read for HashAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for HashAhead {
    fn drop(&mut self) {
        // Hang up first, so a reader blocked on a full channel wakes and
        // stops, then wait for it: no thread outlives its input's owner.
        self.chunks = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The reading thread: whole chunks (short only at the end), each hashed
/// before it is sent; stops at the end, at an error, or when the caller
/// hangs up.
fn read_ahead<R: Read>(
    mut input: R,
    tx: &SyncSender<Chunk>,
    spent: &Receiver<Vec<u8>>,
) -> (Sha256Digest, u64) {
    let mut hasher = Sha256::new();
    let mut count = 0u64;
    loop {
        let mut buf = spent.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut n = 0;
        let mut error = None;
        while n < CHUNK {
            match input.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        buf.truncate(n);
        hasher.update(&buf);
        count += n as u64;
        let end = n < CHUNK || error.is_some();
        if n > 0 && tx.send(Ok(buf)).is_err() {
            break;
        }
        if let Some(e) = error {
            let _ = tx.send(Err(e));
        }
        if end {
            break;
        }
    }
    (Sha256Digest(hasher.finalize().into()), count)
}

/// Runs `produce` with a writer whose bytes are hashed and written to `out`
/// on a second thread, in order. Returns what `produce` returned, then,
/// once every byte is written and `out` flushed, its digest, its size and
/// `out`.
///
/// When writing to `out` fails, the write of `produce` that finds it out
/// fails with that very error (a full disk reads as one, not as a broken
/// channel); `produce`'s own failure is returned as it is.
pub fn write_behind<W, T>(
    out: W,
    produce: impl FnOnce(&mut dyn Write) -> T,
) -> (T, io::Result<(Sha256Digest, u64, W)>)
where
    W: Write + Send,
{
    let (tx, chunks) = sync_channel::<Vec<u8>>(DEPTH);
    let (spare, spent) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let error = Arc::new(Mutex::new(None));
    std::thread::scope(|s| {
        let worker = {
            let error = Arc::clone(&error);
            s.spawn(move || {
                let mut out = HashingWriter::new(out);
                for chunk in chunks {
                    if let Err(e) = out.write_all(&chunk) {
                        *error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        return None;
                    }
                    let _ = spare.try_send(chunk);
                }
                match out.flush() {
                    Ok(()) => Some(out.finish()),
                    Err(e) => {
                        *error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        None
                    }
                }
            })
        };
        let mut writer = ChannelWriter {
            tx: Some(tx),
            spent,
            buf: Vec::with_capacity(CHUNK),
            error: Arc::clone(&error),
        };
        let produced = produce(&mut writer);
        let flushed = writer.send_buffer();
        writer.tx = None;
        let written = worker.join();
        let taken = error.lock().unwrap_or_else(PoisonError::into_inner).take();
        let result = match (written, taken, flushed) {
            (Ok(Some(done)), None, Ok(())) => Ok(done),
            // The error went to `produce`'s write, which returned it.
            (Ok(None), None, Ok(())) => Err(io::Error::other("the output failed earlier")),
            (_, Some(e), _) => Err(e),
            (Ok(_), None, Err(e)) => Err(e),
            (Err(_), None, _) => Err(io::Error::other("the writing thread ended abnormally")),
        };
        (produced, result)
    })
}

/// The producing side of [`write_behind`]: fills a chunk, sends it.
struct ChannelWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    spent: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl ChannelWriter {
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut next = self.spent.try_recv().unwrap_or_default();
        next.clear();
        next.reserve(CHUNK);
        let full = std::mem::replace(&mut self.buf, next);
        let sent = self.tx.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writing thread stopped: its error, the first time.
            _ => Err(self
                .error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| io::Error::other("the output failed earlier"))),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_buffer()?;
        }
        Ok(n)
    }

    /// Hands over what is buffered (the writing thread writes it when it
    /// gets to it; [`write_behind`] waits for every byte before returning).
    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

#[cfg(test)]
mod tests;
