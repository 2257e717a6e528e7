//! Bounds on what a server may send that is not body: ureq 2's chunked
//! decoder keeps a chunk-size line in memory however long it grows, and
//! reads a chunk extension byte by byte without returning, so a server that
//! sends an endless chunk-size line could exhaust memory, and one that
//! trickles an extension could hold a download past every deadline (found
//! in review, issue 17). Neither is visible above the decoder.
//!
//! [`GuardedTls`] wraps every https connection's decrypted stream in a
//! [`FramingGuard`]: after each request is written, the response's bytes
//! that did not reach airlock as body (status line, headers, chunk framing)
//! may be at most [`MAX_FRAMING`], and the exchange must keep to the same
//! deadline the body has (the deadline's base plus the floor rate on what
//! was delivered). Body bytes are counted where they are delivered,
//! by [`super::deadline::DeadlineReader`] ([`delivered`]). Over plain http
//! ureq offers no such hook, so a plain-http response must not be chunked
//! ([`refuse_chunked_plain_http`]): a static file server or a registry sends
//! `Content-Length`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::limits::NetLimits;

/// The most response bytes allowed that are not delivered body: headers
/// (ureq itself stops at 100 of 100 KiB), chunk framing, a small document
/// read without a [`super::deadline::DeadlineReader`] (manifests, tokens:
/// at most 4 MiB).
pub const MAX_FRAMING: u64 = 16 << 20;

/// Body bytes delivered to airlock by every download so far (transfers run
/// one at a time, so a connection sees the ones delivered from it).
static DELIVERED: AtomicU64 = AtomicU64::new(0);

/// A [`FramingGuard`] refusal, recognised by [`is_refusal`] (so a reader
/// above does not mistake it for an idle server).
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

fn refusal(why: String) -> io::Error {
    io::Error::other(Refusal(why))
}

/// Whether `e` is a [`FramingGuard`] refusal.
pub fn is_refusal(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<Refusal>())
}

/// Counts `n` body bytes as delivered (the deadline reader calls it).
pub fn delivered(n: u64) {
    DELIVERED.fetch_add(n, Ordering::Relaxed);
}

/// A connection's decrypted stream, bounded as the module docs say.
#[derive(Debug)]
pub struct FramingGuard<S> {
    inner: S,
    limits: NetLimits,
    /// Since the last request was written: when, bytes read, and the
    /// delivered count then.
    since: Instant,
    read: u64,
    delivered_then: u64,
}

impl<S> FramingGuard<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, limits: NetLimits) -> Self {
        FramingGuard {
            inner,
            limits,
            since: Instant::now(),
            read: 0,
            delivered_then: DELIVERED.load(Ordering::Relaxed),
        }
    }
}

impl<S: Read> Read for FramingGuard<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let delivered = DELIVERED
            .load(Ordering::Relaxed)
            .saturating_sub(self.delivered_then);
        let framing = self.read.saturating_sub(delivered);
        if framing > MAX_FRAMING {
            return Err(refusal(format!(
                "the server sent {framing} bytes that are not content (headers or chunk framing), more than the {MAX_FRAMING} accepted"
            )));
        }
        if self.since.elapsed() > self.limits.allowance(delivered) {
            return Err(refusal(format!(
                "no progress: {} bytes of content in {} s, below the deadline",
                delivered,
                self.since.elapsed().as_secs()
            )));
        }
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        Ok(n)
    }
}

impl<S: Write> Write for FramingGuard<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A new request on this connection: its response is counted anew.
        self.since = Instant::now();
        self.read = 0;
        self.delivered_then = DELIVERED.load(Ordering::Relaxed);
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: ureq::ReadWrite> ureq::ReadWrite for FramingGuard<S> {
    fn socket(&self) -> Option<&TcpStream> {
        self.inner.socket()
    }
}

/// rustls, as ureq uses it, with every connection's decrypted stream in a
/// [`FramingGuard`].
pub struct GuardedTls {
    config: Arc<rustls::ClientConfig>,
    limits: NetLimits,
}

impl GuardedTls {
    /// TLS by `config`, guarded by `limits`.
    pub fn new(config: rustls::ClientConfig, limits: NetLimits) -> Self {
        GuardedTls {
            config: Arc::new(config),
            limits,
        }
    }
}

impl ureq::TlsConnector for GuardedTls {
    fn connect(
        &self,
        dns_name: &str,
        io: Box<dyn ureq::ReadWrite>,
    ) -> Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        let stream = self.config.connect(dns_name, io)?;
        Ok(Box::new(FramingGuard::new(stream, self.limits)))
    }
}

/// Whether `response` came over plain http with a `Transfer-Encoding` (of
/// any value: ureq 2 decodes every one as chunked), which no
/// [`FramingGuard`] can sit under.
pub fn unguarded_chunked(response: &ureq::Response) -> bool {
    let plain = response
        .get_url()
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    plain
        && response
            .header("Transfer-Encoding")
            .is_some_and(|v| !v.trim().is_empty())
}

/// Refuses a response over plain http that ureq would decode as chunked
/// (see [`unguarded_chunked`]). `_url` is kept for the callers' messages.
pub fn refuse_chunked_plain_http(_url: &str, response: &ureq::Response) -> Result<(), String> {
    if unguarded_chunked(response) {
        return Err(
            "a plain-http server must send Content-Length: a response with a Transfer-Encoding (read as chunked) is accepted over https only (its framing is bounded there)".into(),
        );
    }
    Ok(())
}

/// The first 512 bytes of an error answer's body, on one line (what a
/// registry says about its refusal, quoted in messages).
pub(super) fn short_body(r: ureq::Response) -> String {
    // An error body over plain http in transfer encoding is not read at
    // all: ureq's chunked decoder is unbounded there (framing.rs).
    if unguarded_chunked(&r) {
        return String::new();
    }
    let mut body = String::new();
    let _ = r.into_reader().take(512).read_to_string(&mut body);
    body.trim().replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_content_are_bounded() {
        // An endless chunk-size line: read, never delivered.
        let endless = io::repeat(b'0');
        let mut g = FramingGuard::new(endless, NetLimits::default());
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let e = loop {
            match g.read(&mut buf) {
                Ok(n) => total += n as u64,
                Err(e) => break e,
            }
        };
        assert!(total <= MAX_FRAMING + (1 << 20), "{total}");
        assert!(e.to_string().contains("that are not content"), "{e}");
        // Delivered content does not count.
        let mut g = FramingGuard::new(io::repeat(b'x').take(64 << 20), NetLimits::default());
        let mut n = 0u64;
        loop {
            let k = g.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            delivered(k as u64);
            n += k as u64;
        }
        assert_eq!(n, 64 << 20);
    }
}
