//! Time limits for everything airlock reads from the network (issue 17):
//! registries, token services and VEX servers.
//!
//! Two limits hold for every response body, read through a
//! [`DeadlineReader`]:
//!
//! - the idle timeout: no byte for [`NetLimits::idle`] ends the transfer
//!   (the HTTP client's read timeout, so it also bounds each wait for the
//!   status line and headers);
//! - the overall deadline, from the bytes actually received: after `t`
//!   seconds at least `(t - base) * min_rate` bytes must have arrived. A
//!   server that trickles (one byte every few seconds, or steadily below the
//!   floor rate) is cut off after about `base` seconds plus the time an
//!   honest transfer of what it sent would take at the floor rate, whatever
//!   size a manifest or a `Content-Length` claims.
//!
//! What a server says about itself (a descriptor's size, a `Content-Length`)
//! never lengthens a deadline.
//!
//! Downloads set no overall timeout in the HTTP client: ureq 2 would use
//! the time left until it as the read timeout of every read, replacing the
//! idle timeout. The status line and headers are therefore bounded by the
//! idle timeout per read and ureq's header limits (100 fields of at most
//! 100 KiB), not by the overall deadline: a server that trickles its
//! headers a byte at a time, just inside the idle timeout, is the one case
//! these limits do not cut short.
//!
//! A limit that trips is not a transient failure: the same server is not
//! asked again, and export moves on to the next reference.

use std::io::{self, Read};
use std::time::{Duration, Instant};

pub use super::limits::{
    bytes, parse_rate, parse_seconds, secs, LimitError, NetLimits, DEFAULT_BASE, DEFAULT_IDLE,
    DEFAULT_MAX_RETRY_AFTER, DEFAULT_MIN_RATE, ENV_BASE, ENV_IDLE, ENV_MAX_RETRY_AFTER,
    ENV_MIN_RATE, RETRY_BUDGET,
};

/// Why [`head_within`] has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The response head did not arrive within the deadline's base.
    Late,
    /// The HTTP client gave up by panicking (ureq 2 does, following a
    /// redirect to a URL without a host such as `file:///etc/passwd`):
    /// contained here, so one hostile server cannot end the whole run.
    Panicked(String),
}

impl crate::error::Classify for HeadError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            HeadError::Late | HeadError::Panicked(_) => HostFailure,
        }
    }
}

/// The name of [`head_within`]'s threads (the binary's panic hook stays
/// silent for them: their panics are reported as errors).
pub const REQUEST_THREAD: &str = "airlock-request";

/// Runs `request` (a ureq call, which returns once the status line and
/// headers have arrived) on a helper thread and waits at most `limits.base`
/// for it: the idle timeout alone would let a server that sends its
/// headers a byte at a time, just inside it, hold a request for days
/// (ureq 2's overall timeout would replace the idle timeout on every body
/// read, so it cannot be used for downloads). A request that is late is
/// left to end on its idle timeout; one that panics is reported as such.
pub fn head_within<T: Send + 'static>(
    limits: &NetLimits,
    request: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HeadError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(REQUEST_THREAD.into())
        .spawn(move || {
            let answer =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(request)).map_err(|p| {
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "the HTTP client failed".into())
                });
            let _ = tx.send(answer);
        });
    if let Err(e) = spawned {
        return Err(HeadError::Panicked(format!(
            "cannot start a request thread: {e}"
        )));
    }
    match rx.recv_timeout(limits.base) {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(why)) => Err(HeadError::Panicked(why)),
        Err(_) => Err(HeadError::Late),
    }
}

impl HeadError {
    /// For messages.
    pub fn describe(&self, limits: &NetLimits) -> String {
        match self {
            HeadError::Late => format!("no response within {}", secs(limits.base)),
            HeadError::Panicked(why) => format!(
                "the HTTP client could not follow the server's answer ({})",
                crate::text::escape(why)
            ),
        }
    }
}

/// Whether `e` (from a read or a request) is a timeout: the socket's read
/// timeout reports `TimedOut`, or `WouldBlock` on some platforms.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Whether a transport error of the HTTP client is a timeout (connect,
/// idle, or the request's overall limit).
pub fn transport_timed_out(t: &ureq::Transport) -> bool {
    let mut source = std::error::Error::source(t);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if is_timeout(io) {
                return true;
            }
        }
        source = s.source();
    }
    t.to_string().contains("timed out")
}

/// The message a [`DeadlineReader`] fails with ([`io::ErrorKind::TimedOut`],
/// recognised by [`stalled_reason`]).
#[derive(Debug)]
struct Stalled(String);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stalled {}

/// The reason, when `e` came from a tripped limit of a [`DeadlineReader`]
/// (a stalled or too slow server, not a transient failure).
pub fn stalled_reason(e: &io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Stalled>())
        .map(|s| s.0.clone())
}

/// Reads a response body under the idle timeout and the overall deadline
/// (see the module docs).
pub struct DeadlineReader<R> {
    inner: R,
    limits: NetLimits,
    start: Instant,
    last: Instant,
    received: u64,
}

impl<R: Read> DeadlineReader<R> {
    /// Starts the clock now (call it as the response's headers arrive; the
    /// request's own timeout bounds the time before).
    pub fn new(inner: R, limits: NetLimits) -> Self {
        let now = Instant::now();
        DeadlineReader {
            inner,
            limits,
            start: now,
            last: now,
            received: 0,
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn stalled(&self, why: String) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, Stalled(why))
    }
}

impl<R: Read> Read for DeadlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if super::framing::is_refusal(&e) => return Err(e),
            Err(e) if is_timeout(&e) || self.last.elapsed() >= self.limits.idle => {
                return Err(self.stalled(format!(
                    "the server sent nothing for {} (the idle timeout) after {} bytes",
                    secs(self.limits.idle),
                    self.received
                )))
            }
            Err(e) => return Err(e),
        };
        self.received = self.received.saturating_add(n as u64);
        super::framing::delivered(n as u64);
        let elapsed = self.start.elapsed();
        if n > 0 {
            self.last = Instant::now();
        }
        if elapsed > self.limits.allowance(self.received) {
            return Err(self.stalled(format!(
                "too slow: {} bytes in {}, below the floor of {}/s after the first {}",
                self.received,
                secs(Duration::from_secs(elapsed.as_secs())),
                bytes(self.limits.min_rate),
                secs(self.limits.base)
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        assert_eq!(parse_rate("r", "256K").unwrap(), 256 << 10);
        assert_eq!(parse_rate("r", "1M").unwrap(), 1 << 20);
        assert_eq!(parse_rate("r", "1MiB/s").unwrap(), 1 << 20);
        assert_eq!(parse_rate("r", "1000").unwrap(), 1000);
        for bad in ["0", "", "-1", "1G", "x"] {
            assert!(parse_rate("r", bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_seconds("s", "1.5").unwrap(),
            Duration::from_millis(1500)
        );
        for bad in ["0", "-1", "nan", "inf", "86401", ""] {
            assert!(parse_seconds("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_deadline_grows_with_what_arrived_only() {
        let l = NetLimits {
            base: Duration::from_secs(2),
            min_rate: 1000,
            ..NetLimits::default()
        };
        assert_eq!(l.allowance(0), Duration::from_secs(2));
        assert_eq!(l.allowance(1500), Duration::from_millis(3500));
        assert!(NetLimits::default().allowance(u64::MAX) > Duration::from_secs(1 << 40));
    }

    /// A reader that yields one byte per read after a pause.
    struct Slow(Duration);

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = 0;
            Ok(1)
        }
    }

    #[test]
    fn a_trickle_is_cut_off_by_the_floor() {
        let l = NetLimits {
            base: Duration::from_millis(200),
            min_rate: 1000,
            ..NetLimits::default()
        };
        let start = Instant::now();
        let mut r = DeadlineReader::new(Slow(Duration::from_millis(20)), l);
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2));
        let why = stalled_reason(&e).unwrap();
        assert!(why.contains("too slow"), "{why}");
        // Honest data at the floor and more passes.
        let mut r = DeadlineReader::new(io::repeat(0).take(1 << 20), l);
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 1 << 20);
    }
}
