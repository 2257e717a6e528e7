//! `--debug`: one record per HTTP request to a registry, token service or
//! VEX server (method, URL, status, bytes announced, time), handed to a
//! sink the caller chose (the CLI writes it on stderr); the library prints
//! nothing itself.
//!
//! # Security
//!
//! A record is built from what the request was sent to and what came back,
//! never from its headers: the Authorization header (a password in HTTP
//! basic, a bearer token) and the body (a token service's form, a token
//! service's answer) are not read. The URL goes through
//! [`crate::redact::url`]: user info and every query value (an upload's
//! `_state`, a presigned URL's signature) are left out, and control
//! characters are escaped, so a record is one line.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request as `--debug` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`.
    pub method: String,
    /// The URL asked for, redacted.
    pub url: String,
    /// The URL that answered when a redirect was followed, redacted.
    pub final_url: Option<String>,
    /// The answer: the status, or why there was none.
    pub outcome: Result<u16, String>,
    /// The body's size as announced (`Content-Length`); `None` when the
    /// answer did not say (chunked) or there was none.
    pub bytes: Option<u64>,
    /// From sending to the answer's headers.
    pub elapsed: Duration,
}

impl std::fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        if let Some(u) = &self.final_url {
            write!(f, " (redirected to {u})")?;
        }
        match &self.outcome {
            Ok(status) => write!(f, " -> {status}")?,
            Err(why) => write!(f, " -> failed: {why}")?,
        }
        match self.bytes {
            Some(n) => write!(f, ", {n} bytes")?,
            None => f.write_str(", size not announced")?,
        }
        write!(f, ", {:.3}s", self.elapsed.as_secs_f64())
    }
}

/// Where records go.
#[derive(Clone)]
pub struct RequestLog(Arc<dyn Fn(&RequestRecord) + Send + Sync>);

impl RequestLog {
    /// Records go to `sink`.
    pub fn new(sink: impl Fn(&RequestRecord) + Send + Sync + 'static) -> Self {
        RequestLog(Arc::new(sink))
    }

    /// The ureq middleware that records each request of an agent. It sees
    /// a request once, redirects included (ureq follows them inside).
    // ureq's own error, passed on as it is.
    #[allow(clippy::result_large_err)]
    pub(super) fn middleware(&self) -> impl ureq::Middleware {
        let sink = self.0.clone();
        move |req: ureq::Request, next: ureq::MiddlewareNext<'_>| {
            let method = req.method().to_string();
            let url = line(req.url());
            let start = Instant::now();
            let result = next.handle(req);
            let elapsed = start.elapsed();
            let record = match &result {
                Ok(r) => {
                    let answered = line(r.get_url());
                    RequestRecord {
                        method,
                        final_url: (answered != url).then_some(answered),
                        url,
                        outcome: Ok(r.status()),
                        bytes: r
                            .header("content-length")
                            .and_then(|v| v.trim().parse().ok()),
                        elapsed,
                    }
                }
                Err(e) => RequestRecord {
                    method,
                    url,
                    final_url: None,
                    outcome: Err(line(&e.to_string())),
                    bytes: None,
                    elapsed,
                },
            };
            sink(&record);
            result
        }
    }
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestLog")
    }
}

/// `s` with every URL in it redacted and control characters escaped.
fn line(s: &str) -> String {
    crate::text::escape(&crate::redact::text(s)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_without_userinfo_or_query_values() {
        let r = RequestRecord {
            method: "GET".into(),
            url: line("https://user:pw@reg.example/v2/x/blobs/up?_state=SECRET&digest=d\n"),
            final_url: None,
            outcome: Ok(200),
            bytes: Some(12),
            elapsed: Duration::from_millis(1500),
        };
        let text = r.to_string();
        assert_eq!(
            text,
            "GET https://***@reg.example/v2/x/blobs/up?_state=***&digest=***\\u{a} -> 200, 12 bytes, 1.500s"
        );
    }
}
