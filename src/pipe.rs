//! Bounded pipes of large owned buffers between two threads (issue 12).
//!
//! One stream's work often splits in two: a payload is hashed (SHA-256) while
//! the same bytes are inflated and written. On two cores the two halves can
//! run side by side if the bytes cross to a second thread cheaply: here they
//! cross in buffers of [`CHUNK`] bytes through a bounded channel, and each
//! buffer comes back through a second channel to be filled again. At most
//! [`DEPTH`] buffers exist per pipe, whatever passes, so memory stays flat
//! (`DEPTH × CHUNK` = 4 MiB) and a slow side makes the other one wait
//! instead of queueing.
//!
//! - [`PipeWriter`]: the bytes written to it go to a consumer function on
//!   its own thread ("write behind"); [`PipeWriter::finish`] hands back the
//!   consumer's state (a hasher, say) once it has seen every byte.
//! - [`read_ahead`]: a producer thread reads a source into buffers and the
//!   [`PipeReader`] it returns yields them; a read error of the source
//!   arrives unchanged (the same `io::Error`, kind and inner error, so its
//!   classification downstream is the one it would have had without the
//!   pipe), at the place in the stream where it happened.
//! - [`feed`] and [`Transform`]: a stage of a stream (the bundle's zstd
//!   decoder) on a worker thread, fed from a source that stays on this one.
//!
//! Neither end outlives the other: dropping a [`PipeReader`] ends its
//! producer at its next buffer, and dropping a [`PipeWriter`] (or calling
//! `finish`) waits for its consumer to finish.

use std::io::{self, Read, Write};
use std::mem;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::{self, JoinHandle, Scope, ScopedJoinHandle};

mod file;
mod transform;
pub use file::{copy_to_file, CopyError};
pub use transform::{feed, Feed, Feeder, Transform};

/// Bytes per buffer.
pub const CHUNK: usize = 1 << 20;
/// Buffers per pipe at most (in the channel, in use, or being recycled).
pub const DEPTH: usize = 4;

/// The buffers of one pipe: the ones in use, and the way the spent ones come
/// back. Allocates lazily, at most [`DEPTH`] in all.
struct Pool {
    spent: Receiver<Vec<u8>>,
    made: usize,
    /// Bytes per buffer ([`CHUNK`] but in a [`Transform`]).
    size: usize,
}

impl Pool {
    /// A buffer to fill from its start, [`CHUNK`] bytes long (its bytes are
    /// the last ones it carried, or zeros): a spent one, a new one while
    /// fewer than [`DEPTH`] exist, or else the next one to come back
    /// (`None`: the other side is gone and will return none).
    fn take(&mut self) -> Option<Vec<u8>> {
        let mut buf = match self.spent.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty) if self.made < DEPTH => {
                self.made += 1;
                Vec::with_capacity(self.size)
            }
            Err(_) => self.spent.recv().ok()?,
        };
        // Zeros only where it was not filled last time.
        buf.resize(self.size, 0);
        Some(buf)
    }
}

fn pool() -> (SyncSender<Vec<u8>>, Pool) {
    pool_of(CHUNK)
}

fn pool_of(size: usize) -> (SyncSender<Vec<u8>>, Pool) {
    // Never full: no more than DEPTH buffers exist.
    let (tx, rx) = mpsc::sync_channel(DEPTH);
    let pool = Pool {
        spent: rx,
        made: 0,
        size,
    };
    (tx, pool)
}

fn consumer_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the pipe's consumer thread ended",
    )
}

/// Hands the bytes written to it to a consumer on its own thread, in
/// [`CHUNK`]-byte buffers. Call [`finish`](Self::finish) to get the
/// consumer's state back.
pub struct PipeWriter<S: Send + 'static> {
    /// [`CHUNK`] bytes long; `current[..filled]` is what was written.
    current: Vec<u8>,
    filled: usize,
    full: Option<SyncSender<Vec<u8>>>,
    pool: Pool,
    worker: Option<JoinHandle<S>>,
}

impl<S: Send + 'static> PipeWriter<S> {
    /// Starts a thread that calls `consume(&mut state, bytes)` for each
    /// buffer written, in order.
    ///
    /// # Errors
    /// The thread could not be started (the caller may then do the work
    /// itself).
    pub fn spawn(name: &str, state: S, consume: fn(&mut S, &[u8])) -> io::Result<Self> {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let (spent_tx, mut pool) = pool();
        let worker = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut state = state;
                for buf in full_rx {
                    consume(&mut state, &buf);
                    // The writer may be gone already (finishing).
                    let _ = spent_tx.send(buf);
                }
                state
            })?;
        let current = pool.take().unwrap_or_else(|| vec![0; CHUNK]);
        Ok(PipeWriter {
            current,
            filled: 0,
            full: Some(full_tx),
            pool,
            worker: Some(worker),
        })
    }

    fn send_current(&mut self) -> io::Result<()> {
        let next = self.pool.take().ok_or_else(consumer_gone)?;
        let mut full = mem::replace(&mut self.current, next);
        full.truncate(mem::take(&mut self.filled));
        let tx = self.full.as_ref().ok_or_else(consumer_gone)?;
        tx.send(full).map_err(|_| consumer_gone())
    }

    /// Reads once from `r` straight into the pipe's buffer (no copy, and
    /// reads as large as the buffer's room, unlike `io::copy` into
    /// [`Write`]): the bytes read, 0 at the end of `r`. `r`'s errors are
    /// returned unchanged.
    ///
    /// # Errors
    /// `r`'s, or `BrokenPipe` if the consumer thread ended early.
    pub fn read_from(&mut self, r: &mut dyn Read) -> io::Result<usize> {
        let n = r.read(&mut self.current[self.filled..])?;
        self.filled += n;
        if self.filled == CHUNK {
            self.send_current()?;
        }
        Ok(n)
    }

    /// Whether the consumer thread has ended (it panicked: it ends only
    /// when the writer is finished or dropped otherwise).
    pub fn consumer_ended(&self) -> bool {
        self.worker.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Sends what is left, waits for the consumer to see it all, and
    /// returns its state.
    ///
    /// # Errors
    /// `BrokenPipe` if the consumer thread ended early. A panic of the
    /// consumer is resumed here.
    pub fn finish(mut self) -> io::Result<S> {
        let sent = match self.filled {
            0 => Ok(()),
            _ => self.send_current(),
        };
        drop(self.full.take());
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(state)) => sent.map(|()| state),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(consumer_gone()),
        }
    }
}

impl<S: Send + 'static> Write for PipeWriter<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.filled);
        self.current[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == CHUNK {
            self.send_current()?;
        }
        Ok(n)
    }

    /// Buffers stay until full: the consumer sees everything at `finish`.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Send + 'static> Drop for PipeWriter<S> {
    /// Ends the consumer (what it had not seen is lost) and waits for it, so
    /// no thread outlives its writer.
    fn drop(&mut self) {
        drop(self.full.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// One message from a producer: a filled buffer, or the source's error.
enum Filled {
    Data(Vec<u8>),
    Failed(io::Error),
}

/// The reading end of [`read_ahead`].
pub struct PipeReader<'scope, R> {
    filled: Option<Receiver<Filled>>,
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    failed: Option<(io::ErrorKind, String)>,
    producer: ScopedJoinHandle<'scope, R>,
}

/// Reads `source` on a thread of `scope`, [`CHUNK`] bytes ahead at most
/// [`DEPTH`] times over, and returns the reading end.
///
/// # Errors
/// The thread could not be started (then `source` is lost: start it first
/// where that matters).
pub fn read_ahead<'scope, R: Read + Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    source: R,
) -> io::Result<PipeReader<'scope, R>> {
    let (filled_tx, filled_rx) = mpsc::sync_channel::<Filled>(DEPTH);
    let (spent_tx, pool) = pool();
    let producer = thread::Builder::new()
        .name("airlock-read".into())
        .spawn_scoped(scope, move || produce(source, pool, filled_tx))?;
    Ok(PipeReader {
        filled: Some(filled_rx),
        spent: spent_tx,
        current: Vec::new(),
        pos: 0,
        failed: None,
        producer,
    })
}

/// The producer's loop: fill a buffer, send it; stop at the end of the
/// source, at its first error (sent on), or when the reader is gone.
fn produce<R: Read>(mut source: R, mut pool: Pool, filled: SyncSender<Filled>) -> R {
    loop {
        let Some(mut buf) = pool.take() else {
            return source;
        };
        let (ended, error) = fill(&mut source, &mut buf);
        if !buf.is_empty() && filled.send(Filled::Data(buf)).is_err() {
            return source;
        }
        if let Some(e) = error {
            let _ = filled.send(Filled::Failed(e));
            return source;
        }
        if ended {
            return source;
        }
    }
}

/// Reads into `buf` up to [`CHUNK`] bytes: whether the source ended, and
/// the error that stopped it (after the bytes read before it).
fn fill<R: Read>(source: &mut R, buf: &mut Vec<u8>) -> (bool, Option<io::Error>) {
    fill_to(source, buf, CHUNK)
}

/// [`fill`] up to `size` bytes.
fn fill_to<R: Read>(source: &mut R, buf: &mut Vec<u8>, size: usize) -> (bool, Option<io::Error>) {
    buf.resize(size, 0);
    let mut len = 0;
    let outcome = loop {
        if len == size {
            break (false, None);
        }
        match source.read(&mut buf[len..]) {
            Ok(0) => break (true, None),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break (true, Some(e)),
        }
    };
    buf.truncate(len);
    outcome
}

impl<R> PipeReader<'_, R> {
    /// Stops the producer and returns the source (bytes read ahead and not
    /// yet read from the pipe are lost).
    pub fn into_inner(self) -> R {
        let PipeReader {
            filled,
            spent,
            producer,
            ..
        } = self;
        // The producer's next send fails, and so does its wait for a spent
        // buffer (when all are out): it returns either way.
        drop(filled);
        drop(spent);
        match producer.join() {
            Ok(source) => source,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<R> Read for PipeReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        while self.pos == self.current.len() {
            let spent = mem::take(&mut self.current);
            if spent.capacity() > 0 {
                // The producer may be done and gone.
                let _ = self.spent.try_send(spent);
            }
            self.pos = 0;
            let Some(rx) = &self.filled else {
                return Ok(0);
            };
            match rx.recv() {
                Ok(Filled::Data(buf)) => self.current = buf,
                Ok(Filled::Failed(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(_) => {
                    self.filled = None;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
