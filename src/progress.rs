//! Progress reporting, without printing: the library calls a [`Progress`],
//! the command line decides what to show (a bar on a terminal, nothing
//! otherwise).

use std::io::{self, Read};

/// Receives progress of long work.
pub trait Progress {
    /// A new phase of `total` bytes begins (0: the total is not known;
    /// the bytes done are still counted). Phases do not nest: `begin`
    /// ends the one before.
    fn begin(&self, label: &str, total: u64);
    /// `n` more bytes are done.
    fn advance(&self, n: u64);
    /// The phase is over.
    fn end(&self);
    /// Where the work is now (e.g. which part of a split bundle is read).
    fn note(&self, _what: &str) {}
}

/// Shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// Reports every byte read through it.
pub struct ProgressReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> ProgressReader<'a, R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        ProgressReader { inner, progress }
    }
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
