//! A stage of a stream on a second thread, fed by this one (issue 12).
//!
//! The bundle's zstd decoding is CPU work of its own; the bytes it decodes
//! are parsed, hashed and inflated on the calling thread. [`read_ahead`]
//! would move the decoder to a producer thread only if the source could go
//! with it, but a bundle's source is `&mut dyn Read` (it reports progress
//! through a `!Sync` display, or names a part set's failing part). Here the
//! source stays on this thread: [`Transform`] reads it in [`STAGE_CHUNK`]-byte
//! buffers and sends them to a worker thread, where a [`Feed`] yields them
//! to the stage (the decoder, built over the feed on this thread), whose
//! output comes back in buffers too. This thread reads the source only when
//! it needs output and has a free buffer, so neither side waits for the
//! other while the other has work queued, and at most [`DEPTH`] buffers
//! exist on each side: memory stays flat (`2 × DEPTH × STAGE_CHUNK`) whatever the
//! stage's ratio of output to input.
//!
//! Errors travel as they came: a read error of the source reaches the stage
//! (through the feed) at its place in the stream; an error of the stage
//! comes out of [`Transform`]'s `read` as the same `io::Error`, after the
//! bytes the stage produced before it.
//!
//! [`read_ahead`]: super::read_ahead

use std::io::{self, Read};
use std::mem;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::{self, JoinHandle};

use super::{fill_to, pool_of, Filled, Pool, DEPTH};

/// Bytes per buffer, each way: the decoder's thread needs only to stay a
/// little ahead, so its buffers are smaller than the pipes' (2 MiB in
/// flight in all).
pub const STAGE_CHUNK: usize = 256 << 10;

/// What the worker sends back: output, the stage's error or end, or an
/// input buffer the feed is done with.
enum Back {
    Data(Vec<u8>),
    Failed(io::Error),
    End,
    Spent(Vec<u8>),
}

/// Messages that can be in flight from the worker at once: every output
/// and input buffer, and one end or error. The channel holds them all, so
/// the worker never waits on it.
const BACK_CAPACITY: usize = 2 * DEPTH + 1;

/// The stage's input on the worker thread: the buffers [`Transform`] sends.
/// After [`Transform::finish`] it yields what had been sent and not yet
/// read, then ends.
pub struct Feed {
    input: Receiver<Filled>,
    back: SyncSender<Back>,
    current: Vec<u8>,
    pos: usize,
    failed: Option<(io::ErrorKind, String)>,
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        while self.pos == self.current.len() {
            let spent = mem::take(&mut self.current);
            if spent.capacity() > 0 {
                // Never full (BACK_CAPACITY); gone once the reader is.
                let _ = self.back.send(Back::Spent(spent));
            }
            self.pos = 0;
            match self.input.recv() {
                Ok(Filled::Data(buf)) => self.current = buf,
                Ok(Filled::Failed(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The first half of a [`Transform`]: the source, and the feed a stage is
/// built over before [`Feeder::spawn`] starts it.
pub struct Feeder<R> {
    source: R,
    input: Option<SyncSender<Filled>>,
    back: Receiver<Back>,
    /// The worker's sender (the feed holds another).
    worker_back: Option<SyncSender<Back>>,
}

/// Splits `source` into a [`Feeder`] and the [`Feed`] that will yield its
/// bytes on the worker thread. Nothing is read until the [`Transform`] is.
pub fn feed<R: Read>(source: R) -> (Feeder<R>, Feed) {
    // DEPTH buffers and the source's error.
    let (input_tx, input_rx) = mpsc::sync_channel(DEPTH + 1);
    let (back_tx, back_rx) = mpsc::sync_channel(BACK_CAPACITY);
    let feed = Feed {
        input: input_rx,
        back: back_tx.clone(),
        current: Vec::new(),
        pos: 0,
        failed: None,
    };
    let feeder = Feeder {
        source,
        input: Some(input_tx),
        back: back_rx,
        worker_back: Some(back_tx),
    };
    (feeder, feed)
}

impl<R: Read> Feeder<R> {
    /// Starts `stage` (built over this feeder's [`Feed`]) on its own thread.
    ///
    /// # Errors
    /// The thread could not be started: the error, and the source (nothing
    /// has been read from it) to do the work on this thread instead.
    pub fn spawn<D: Read + Send + 'static>(
        mut self,
        name: &str,
        stage: D,
    ) -> Result<Transform<R, D>, (io::Error, R)> {
        let (spent_tx, out_pool) = pool_of(STAGE_CHUNK);
        let Some(back) = self.worker_back.take() else {
            return Err((
                io::Error::other("the feeder was spawned twice"),
                self.source,
            ));
        };
        let spawned = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || work(stage, back, out_pool));
        let Feeder {
            source,
            input,
            back: from_worker,
            ..
        } = self;
        match spawned {
            Ok(worker) => Ok(Transform {
                source: Some(source),
                input,
                back: from_worker,
                in_free: Vec::new(),
                in_made: 0,
                out_spent: Some(spent_tx),
                current: Vec::new(),
                pos: 0,
                ended: false,
                failed: None,
                worker: Some(worker),
            }),
            Err(e) => Err((e, source)),
        }
    }
}

/// The worker's loop: fill an output buffer from the stage, send it; stop
/// at the stage's end or first error (sent on), or when the reader is gone.
fn work<D: Read>(mut stage: D, back: SyncSender<Back>, mut pool: Pool) -> D {
    loop {
        let Some(mut buf) = pool.take() else {
            return stage;
        };
        let (ended, error) = fill_to(&mut stage, &mut buf, STAGE_CHUNK);
        if !buf.is_empty() && back.send(Back::Data(buf)).is_err() {
            return stage;
        }
        if let Some(e) = error {
            let _ = back.send(Back::Failed(e));
            return stage;
        }
        if ended {
            let _ = back.send(Back::End);
            return stage;
        }
    }
}

/// The reading end: the stage's output, while this thread feeds it the
/// source. Call [`finish`](Self::finish) to get the stage and the source
/// back.
pub struct Transform<R, D> {
    /// `None` once [`finish`](Self::finish) took it.
    source: Option<R>,
    /// Where the source's buffers go; `None` once it ended.
    input: Option<SyncSender<Filled>>,
    back: Receiver<Back>,
    /// Input buffers back from the feed, and how many were made.
    in_free: Vec<Vec<u8>>,
    in_made: usize,
    /// Where output buffers go back to the worker.
    out_spent: Option<SyncSender<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
    failed: Option<(io::ErrorKind, String)>,
    worker: Option<JoinHandle<D>>,
}

impl<R: Read, D> Transform<R, D> {
    /// Whether this thread can read more of the source for the feed now.
    fn can_feed(&self) -> bool {
        self.input.is_some() && (!self.in_free.is_empty() || self.in_made < DEPTH)
    }

    /// Reads one buffer of the source and sends it to the feed, with the
    /// source's error or end after it.
    fn feed_one(&mut self) {
        let mut buf = self.in_free.pop().unwrap_or_else(|| {
            self.in_made += 1;
            Vec::with_capacity(STAGE_CHUNK)
        });
        let (Some(source), Some(tx)) = (self.source.as_mut(), self.input.as_ref()) else {
            return;
        };
        let (ended, error) = fill_to(source, &mut buf, STAGE_CHUNK);
        // Never full: DEPTH buffers and one error at most.
        if !buf.is_empty() {
            let _ = tx.send(Filled::Data(buf));
        }
        if let Some(e) = error {
            let _ = tx.send(Filled::Failed(e));
        }
        if ended {
            self.input = None;
        }
    }

    /// Takes one message from the worker (waiting if `wait`): whether one
    /// came; output becomes `current`.
    fn take_back(&mut self, wait: bool) -> io::Result<bool> {
        let msg = match wait {
            true => self.back.recv().map_err(|_| TryRecvError::Disconnected),
            false => self.back.try_recv(),
        };
        match msg {
            Ok(Back::Data(buf)) => self.current = buf,
            Ok(Back::Spent(buf)) => self.in_free.push(buf),
            Ok(Back::End) => self.ended = true,
            // Only a panic ends the worker without a word: `finish` (or
            // drop) resumes it.
            Err(TryRecvError::Disconnected) => {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the pipe's worker thread ended",
                ))
            }
            Ok(Back::Failed(e)) => {
                self.failed = Some((e.kind(), e.to_string()));
                return Err(e);
            }
            Err(TryRecvError::Empty) => return Ok(false),
        }
        Ok(true)
    }

    /// Returns the stage and the source, once `read` has returned 0 (the
    /// stage ended). What the feed was sent and the stage did not read is
    /// still in the feed, in order: the stage's input goes on there, then
    /// in the source. (Called earlier, the stage's input ends here and it
    /// may read some of what the feed holds.)
    ///
    /// # Panics
    /// A panic of the worker is resumed here.
    pub fn finish(mut self) -> (D, R) {
        let stage = self.stop();
        let source = self.source.take();
        match (stage, source) {
            (Some(stage), Some(source)) => (stage, source),
            _ => unreachable!("finish takes self: the worker and source are there"),
        }
    }

    /// Ends the feed and the worker's wait for output buffers, and joins it.
    fn stop(&mut self) -> Option<D> {
        self.input = None;
        self.out_spent = None;
        self.current = Vec::new();
        // What is still queued (the worker never waits to send).
        while self.back.try_recv().is_ok() {}
        match self.worker.take()?.join() {
            Ok(stage) => Some(stage),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<R: Read, D> Read for Transform<R, D> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        while self.pos == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            let spent = mem::take(&mut self.current);
            if let (true, Some(tx)) = (spent.capacity() > 0, &self.out_spent) {
                // The worker may be done and gone.
                let _ = tx.try_send(spent);
            }
            self.pos = 0;
            if self.take_back(false)? {
                continue;
            }
            if self.can_feed() {
                self.feed_one();
                continue;
            }
            // Nothing to feed: the worker has input, or the source ended.
            self.take_back(true)?;
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R, D> Drop for Transform<R, D> {
    /// Ends the worker and waits for it: no thread outlives its reader.
    fn drop(&mut self) {
        self.input = None;
        self.out_spent = None;
        while self.back.try_recv().is_ok() {}
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
#[path = "transform_tests.rs"]
mod tests;
