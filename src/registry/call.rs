//! One registry request from start to answer: credentials for its scope,
//! the head within the time limits, the challenge or expired token answered
//! once, transient failures retried within the budget, and success only as
//! the distribution spec defines it.

use std::time::Duration;

use super::framing::short_body;
use super::token::{parse_challenge, Challenge};
use super::{auth, deadline, framing, redact, Client, RegistryError, SMALL_REQUEST};

/// The statuses the distribution spec defines as success for a request
/// with `method` when nothing more specific is asked: 200 for GET and HEAD
/// (a HEAD's 404 is an answer, handled by the caller), 201 for PUT, 202 for
/// POST and DELETE.
pub(super) fn spec_success(method: &str) -> &'static [u16] {
    match method {
        "PUT" => &[201],
        "POST" | "DELETE" => &[202],
        "PATCH" => &[202],
        _ => &[200],
    }
}

/// One registry request, as [`Client::call_expecting`] is asked for it.
pub(super) struct Call<'a> {
    method: &'static str,
    url: &'a str,
    /// The token scope of the repository.
    scope: String,
    headers: &'a [(&'a str, &'a str)],
    body: Option<&'a [u8]>,
    limit: Option<Duration>,
    /// The statuses that are success.
    expect: &'a [u16],
}

/// One request sent: the URL asked, whether credentials went with it, and
/// the answer's head.
pub(super) struct Sent {
    asked: String,
    sent_credentials: bool,
    result: Result<ureq::Response, ureq::Error>,
}

/// The authentication steps a call takes at most once each.
#[derive(Default)]
pub(super) struct AuthRetries {
    /// A fresh bearer token was fetched after a 401.
    renewed: bool,
    /// The registry's challenge was learnt from a 401.
    challenged: bool,
}

/// What one attempt of a call came to.
pub(super) enum Attempt {
    /// The answer, or a refusal that is final.
    Done(Result<ureq::Response, RegistryError>),
    /// Ask again at once (a fresh token, or an answer to a challenge).
    Again,
    /// A failure, retried (after the registry's Retry-After, if it gave
    /// one) when it is transient and the budget allows.
    Failed(RegistryError, Option<Duration>),
}

/// Whether a request may follow redirects: only one without a body, whose
/// method a redirect keeps (ureq turns a POST or PUT answered 301/302/303
/// into a GET, and returns 307/308 to a request with a body as they came).
pub(super) fn follows_redirects(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// The URL a request goes to, as ureq will parse it (so it compares with
/// [`ureq::Response::get_url`]); the raw text if it does not parse (ureq
/// then fails the request itself).
pub(super) fn requested_url(req: &ureq::Request) -> String {
    req.request_url()
        .map(|u| u.as_url().as_str().to_string())
        .unwrap_or_else(|_| req.url().to_string())
}

/// Refuses a response whose status is not in `expect`, and one to a request
/// with a body that came from another URL than `asked` (a redirect).
pub(super) fn check_status(
    method: &'static str,
    asked: &str,
    resp: ureq::Response,
    expect: &[u16],
) -> Result<ureq::Response, RegistryError> {
    let status = resp.status();
    let moved = !follows_redirects(method) && resp.get_url() != asked;
    if expect.contains(&status) && !moved {
        return Ok(resp);
    }
    let location = resp
        .header("Location")
        .map(redact)
        .or_else(|| moved.then(|| redact(resp.get_url())));
    Err(RegistryError::Unexpected {
        method,
        url: redact(asked),
        status,
        location,
        expected: expect
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
    })
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (IMF-fixdate, as
/// RFC 9110 requires senders to write it); `None` if it is neither.
pub(super) fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let now = time::OffsetDateTime::now_utc();
    Some(Duration::from_secs(
        (when - now).whole_seconds().max(0) as u64
    ))
}

/// Waits before retry `attempt` (0, 1, ...) when the server gave no
/// `Retry-After`: 0.5 s doubling up to 8 s, each wait drawn at random between
/// half and one and a half times that, so that many hosts retrying a
/// registry that stumbled do not all come back at the same instant.
pub(super) fn backoff(attempt: u32) {
    std::thread::sleep(backoff_delay(attempt, random_u64()));
}

/// The wait before retry `attempt` for the random draw `draw`.
fn backoff_delay(attempt: u32, draw: u64) -> Duration {
    let base = 500u64 << attempt.min(4);
    Duration::from_millis(base / 2 + draw % (base + 1))
}

/// A random number from the standard library's per-process random hash
/// keys (no extra crate; a back-off needs spread, not secrecy).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl Client {
    /// Sends a request without a streamed body, retrying transient failures.
    pub(super) fn call(
        &self,
        method: &'static str,
        url: &str,
        repo: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<ureq::Response, RegistryError> {
        let limit = (method != "GET").then_some(SMALL_REQUEST);
        self.call_with(method, url, repo, headers, body, limit)
    }

    /// [`Client::call`] with an overall time limit for the whole exchange;
    /// success is what the distribution spec defines for `method` (see
    /// [`spec_success`]).
    pub(super) fn call_with(
        &self,
        method: &'static str,
        url: &str,
        repo: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        limit: Option<Duration>,
    ) -> Result<ureq::Response, RegistryError> {
        self.call_expecting(
            method,
            url,
            repo,
            headers,
            body,
            limit,
            spec_success(method),
        )
    }

    /// [`Client::call_with`], where only the statuses in `expect` are
    /// success: any other, a redirect that was not followed, or (for a
    /// request with a body) an answer from another URL than the one asked,
    /// is [`RegistryError::Unexpected`].
    #[allow(clippy::too_many_arguments, clippy::result_large_err)]
    pub(super) fn call_expecting(
        &self,
        method: &'static str,
        url: &str,
        repo: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        limit: Option<Duration>,
        expect: &[u16],
    ) -> Result<ureq::Response, RegistryError> {
        let call = Call {
            method,
            url,
            scope: self.scope(repo),
            headers,
            body,
            limit,
            expect,
        };
        let mut attempt = 0;
        let mut auth = AuthRetries::default();
        loop {
            let sent = self.send_once(&call)?;
            let (err, pause) = match self.judge(&call, sent, &mut auth) {
                Attempt::Done(r) => return r,
                Attempt::Again => continue,
                Attempt::Failed(err, pause) => (err, pause),
            };
            if attempt >= 3 || !err.transient() || !self.take_retry() {
                return Err(err);
            }
            match pause {
                Some(wait) => std::thread::sleep(wait),
                None => backoff(attempt),
            }
            attempt += 1;
        }
    }

    /// Sends `call` once (with the credentials in force for its scope) and
    /// waits for the head of the answer within the limits.
    #[allow(clippy::result_large_err)]
    pub(super) fn send_once(&self, call: &Call<'_>) -> Result<Sent, RegistryError> {
        let Call {
            method,
            url,
            headers,
            limit,
            ..
        } = *call;
        let agent = if follows_redirects(method) {
            &self.agent
        } else {
            &self.strict
        };
        let mut req = agent.request(method, url);
        if let Some(t) = limit {
            req = req.timeout(t);
        }
        let authorization = self.authorization(&call.scope)?;
        let sent_credentials = authorization.is_some();
        if let Some(a) = authorization {
            req = req.set("Authorization", &a);
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let asked = requested_url(&req);
        // On a helper thread: the head within the deadline's base (a
        // download's body then runs under the deadline reader), and a
        // panic of the HTTP client contained.
        let body = call.body.map(<[u8]>::to_vec);
        let result = match deadline::head_within(&self.limits, move || match body {
            Some(b) => req.send_bytes(&b),
            None => req.call(),
        }) {
            Ok(r) => r,
            Err(e) => {
                return Err(RegistryError::Stalled {
                    method,
                    url: redact(url),
                    reason: e.describe(&self.limits),
                })
            }
        };
        Ok(Sent {
            asked,
            sent_credentials,
            result,
        })
    }

    /// What one answer comes to: the response (its status as expected), a
    /// final refusal, a request to ask again at once (a fresh token, or an
    /// answer to the registry's challenge), or a failure that may be
    /// retried.
    pub(super) fn judge(&self, call: &Call<'_>, sent: Sent, auth: &mut AuthRetries) -> Attempt {
        let Call {
            method,
            url,
            expect,
            ..
        } = *call;
        match sent.result {
            Ok(r) => {
                if let Err(reason) = framing::refuse_chunked_plain_http(r.get_url(), &r) {
                    return Attempt::Done(Err(RegistryError::Transfer {
                        method,
                        url: redact(url),
                        reason,
                    }));
                }
                Attempt::Done(check_status(method, &sent.asked, r, expect))
            }
            Err(ureq::Error::Status(status, r)) => {
                self.status_failure(call, status, r, sent.sent_credentials, auth)
            }
            Err(ureq::Error::Transport(t)) => self.transport_failure(call, t),
        }
    }

    /// An answer with an error status: a fresh token or the registry's
    /// challenge (each once), a refusal of the credentials, or a failure
    /// retried after the registry's Retry-After (refused when longer than
    /// airlock waits).
    pub(super) fn status_failure(
        &self,
        call: &Call<'_>,
        status: u16,
        r: ureq::Response,
        sent_credentials: bool,
        auth: &mut AuthRetries,
    ) -> Attempt {
        let Call { method, url, .. } = *call;
        let scope = &call.scope;
        // A bearer token may have expired during a long upload: get a fresh
        // one, once.
        if status == 401 && !auth.renewed && self.tokens.borrow_mut().remove(scope).is_some() {
            auth.renewed = true;
            return Attempt::Again;
        }
        // A registry whose /v2/ did not challenge may challenge here: learn
        // how, once, and answer it. (Only the registry's own 401: one from a
        // redirect target on another origin is no challenge of the
        // registry's.)
        if status == 401
            && !sent_credentials
            && !auth.challenged
            && r.get_url().starts_with(&format!("{}/", self.base))
        {
            if let Some(c @ (Challenge::Basic | Challenge::Bearer { .. })) =
                r.header("WWW-Authenticate").map(parse_challenge)
            {
                auth.challenged = true;
                *self.challenge.borrow_mut() = c;
                return Attempt::Again;
            }
        }
        if matches!(status, 401 | 403) {
            let err = RegistryError::Unauthorized {
                host: self.host.clone(),
                how: auth::describe(&self.credentials),
                scope: scope.clone(),
            };
            return Attempt::Failed(err, None);
        }
        let wait = match status {
            429 | 503 => r.header("Retry-After").and_then(retry_after),
            _ => None,
        };
        if let Some(wait) = wait.filter(|w| *w > self.limits.max_retry_after) {
            return Attempt::Done(Err(RegistryError::RetryLater {
                method,
                url: redact(url),
                status,
                wait,
                cap: self.limits.max_retry_after,
            }));
        }
        let err = RegistryError::Status {
            method,
            url: redact(url),
            status,
            body: self.mask_secrets(&short_body(r)),
        };
        Attempt::Failed(err, wait)
    }

    /// A request that got no answer: out of time (final), an https
    /// registry redirecting to plain http (refused), or a transfer failure.
    pub(super) fn transport_failure(&self, call: &Call<'_>, t: ureq::Transport) -> Attempt {
        let Call { method, url, .. } = *call;
        if deadline::transport_timed_out(&t) {
            return Attempt::Done(Err(RegistryError::Stalled {
                method,
                url: redact(url),
                reason: format!("no answer in time ({}): {t}", self.limits.describe()),
            }));
        }
        // An https registry redirected to plain http (the agent is
        // https-only): refused, not retried.
        let err = if t.kind() == ureq::ErrorKind::InsecureRequestHttpsOnly {
            RegistryError::Downgrade {
                method,
                url: url.to_string(),
                host: self.host.clone(),
                location: None,
            }
        } else {
            RegistryError::Transfer {
                method,
                url: redact(url),
                reason: t.to_string(),
            }
        };
        Attempt::Failed(err, None)
    }

    /// Takes one retry from this registry's budget; false when spent.
    pub fn take_retry(&self) -> bool {
        let left = self.retries.get();
        self.retries.set(left.saturating_sub(1));
        left > 0
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn a_backoff_is_spread_between_half_and_one_and_a_half_times_its_base() {
        for (attempt, base) in [(0u32, 500u64), (1, 1000), (3, 4000), (4, 8000), (9, 8000)] {
            assert_eq!(backoff_delay(attempt, 0), Duration::from_millis(base / 2));
            assert_eq!(
                backoff_delay(attempt, base),
                Duration::from_millis(base * 3 / 2)
            );
            assert_eq!(
                backoff_delay(attempt, base + 1),
                Duration::from_millis(base / 2)
            );
        }
        // Draws differ from call to call, so waits do too.
        let waits: std::collections::HashSet<_> =
            (0..64).map(|_| backoff_delay(2, random_u64())).collect();
        assert!(waits.len() > 8, "{waits:?}");
    }
}
