//! A small, blocking client for the OCI distribution API: what airlock needs
//! to push artifacts into a registry (check a blob, upload a blob from a
//! stream, put a manifest), with the registry's own authentication.
//!
//! - Scheme: https, or plain http for a host named by `--plain-http`
//!   ([`Options::plain_http`]). A registry on a loopback address may fall
//!   back from https to plain http (as with Trivy), but only when the https
//!   attempt met a server that does not speak TLS at all: never after a
//!   refused certificate, never when `--ca-cert` was given, and never with
//!   credentials (issue 17, item 4).
//! - TLS: see [`tls`]; certificates are verified for every host except those
//!   named by `--insecure-skip-verify` ([`Options::skip_verify`]).
//! - Authentication: credentials are sent only in answer to a 401 challenge
//!   (the `/v2/` ping's, or a later request's), only to the registry they
//!   belong to ([`auth::resolve`]), and to a bearer challenge's token realm
//!   only as [`hosts::realm_may_receive_credentials`] allows (issue 17,
//!   item 3). Credentials never travel over plain http to a registry the
//!   operator did not name with `--plain-http`.
//! - Redirects: an https registry is never followed to plain http (its
//!   agents are https-only; an upload Location on plain http is refused
//!   unless that host is `--plain-http`). GET and HEAD follow redirects (a
//!   registry may serve a blob from its storage) without the Authorization
//!   header; a request with a body (POST, PUT, PATCH) and every request to a
//!   token service that carries credentials follow none.
//! - Time limits ([`deadline`]): an idle timeout on every read and an
//!   overall deadline from the bytes actually received; a limit that trips
//!   is final for this registry (never retried).
//! - Transient failures (connection refused or reset, 429, 502, 503, 504)
//!   of requests without a streamed body are retried with back-off, within
//!   a budget of [`deadline::RETRY_BUDGET`] retries per registry; a
//!   `Retry-After` (seconds or an HTTP date) is honoured up to
//!   [`deadline::NetLimits::max_retry_after`], and a longer one ends the
//!   attempt at once. A streamed upload is not retried (the next run finds
//!   what already arrived and skips it). A blob of the wrong size or digest
//!   is refused at once, never fetched again.
//! - Every request says `User-Agent: airlock/<version>`.
//! - Success is only what the distribution spec defines for each request
//!   (POST upload 202 with a Location, PUT upload and PUT manifest 201, HEAD
//!   and GET 200): any other status is an error, and a request that sends a
//!   body never follows a redirect, since a registry that answers one has
//!   not stored what was sent (and following a 301/302/303 would turn it
//!   into a GET that succeeds elsewhere).
//!
//! Files by job: this one holds the options, the error, the client and its
//! `/v2/` ping; `agents.rs` the HTTP agents and proxies; `token.rs` the
//! challenge and the credentials or token answering it; `call.rs` one
//! request from start to answer (retries, statuses); `blobs.rs` and
//! `manifests.rs` the distribution API itself.

pub mod auth;
pub mod deadline;
pub mod framing;
pub mod hosts;
pub mod limits;
pub mod tls;

mod agents;
mod blobs;
mod call;
mod manifests;
mod token;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::redact;

use agents::{agent, is_https};
use call::{backoff, check_status, requested_url, short_body};
use token::{parse_challenge, Challenge};

pub use agents::http_agent;
pub use auth::Credentials;
pub use hosts::{HostList, HostPort};

/// How to reach registries (and VEX servers).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra CA certificates (PEM files) to trust. When given, no registry
    /// falls back from https to plain http.
    pub ca_certs: Vec<PathBuf>,
    /// Credentials given explicitly (`--username`/`--password-stdin`); like
    /// Trivy's `TRIVY_USERNAME`/`TRIVY_PASSWORD`/`TRIVY_REGISTRY_TOKEN`, they
    /// belong to [`Options::credentials_host`] alone (see [`auth::resolve`]).
    pub credentials: Option<Credentials>,
    /// Time limits for every transfer.
    pub limits: deadline::NetLimits,
    /// The registry (`host[:port]`) the explicit credentials and Trivy's
    /// variables belong to; `None`: to none (only the Docker config's
    /// per-registry credentials are used).
    pub credentials_host: Option<String>,
    /// Registries and VEX hosts spoken to over plain http (`--plain-http`),
    /// credentials included.
    pub plain_http: HostList,
    /// Hosts whose certificates are accepted unverified
    /// (`--insecure-skip-verify`); by name, on any port.
    pub skip_verify: HostList,
    /// Token realms that may receive credentials although they are on
    /// another domain than the registry (`--allow-token-realm`).
    pub token_realms: HostList,
    /// The deprecated `--insecure`, for the hosts this run names itself:
    /// certificates accepted unverified, and plain http (credentials
    /// included) when the https attempt meets a plain-http server.
    pub legacy_insecure: HostList,
}

impl Options {
    /// Whether `host` (`host[:port]`) was named for plain http, by
    /// `--plain-http` or the deprecated `--insecure`.
    pub fn plain_http_named(&self, host: &str) -> bool {
        self.plain_http.matches(host) || self.legacy_insecure.matches(host)
    }

    /// The options with `host` as the owner of the explicit credentials.
    pub fn for_credentials_host(&self, host: &str) -> Options {
        Options {
            credentials_host: Some(host.to_string()),
            ..self.clone()
        }
    }
}

/// `airlock/<version>`, the User-Agent of every request.
pub const USER_AGENT: &str = concat!("airlock/", env!("CARGO_PKG_VERSION"));

/// Why a registry request failed.
///
/// URLs here may come from the registry itself (a token realm, an upload
/// location with its `_state`) and the reasons quote the HTTP client's text,
/// which quotes URLs: every message shows them through [`redact`], whoever
/// builds the error.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached at all.
    #[error("cannot reach the registry {host}: {}", redact::text(reason))]
    Unreachable {
        /// host[:port]
        host: String,
        /// Why (the last attempt's error).
        reason: String,
        /// What to do about it.
        hint: crate::error::Hint,
    },
    /// Credentials were asked for where airlock does not send them: over
    /// plain http to a registry not named by `--plain-http`.
    #[error("refusing to send the credentials for {host} over plain http ({base})")]
    PlainHttpCredentials {
        /// `host[:port]`
        host: String,
        /// The base URL in use.
        base: String,
    },
    /// A bearer challenge named a token realm that may not receive the
    /// registry's credentials.
    #[error("refusing to send the credentials for {registry} to the token service {realm_host} ({}): {}", redact::url(realm), reason.reason())]
    TokenRealm {
        /// The registry, `host[:port]`.
        registry: String,
        /// The realm's `host[:port]`.
        realm_host: String,
        /// The realm URL.
        realm: String,
        /// Why.
        reason: hosts::RealmRefusal,
    },
    /// A token service answered a request for a token with another status
    /// than 200 (a redirect, which is not followed).
    #[error("{method} {url}: the token service answered {status}{}, where a token (200) was expected; a request carrying credentials follows no redirect", location.as_ref().map(|l| format!(" (to {l})")).unwrap_or_default())]
    TokenAnswer {
        /// The method.
        method: &'static str,
        /// The realm (redacted).
        url: String,
        /// The status code.
        status: u16,
        /// Where a redirect pointed (redacted), if it did.
        location: Option<String>,
    },
    /// An https registry sent the client to plain http (an upload Location,
    /// a redirect).
    #[error("{method} {}: the registry {host} sent the client to plain http{}; an https registry is never followed to plain http", redact::url(url), location.as_ref().map(|l| format!(" ({})", redact::url(l))).unwrap_or_default())]
    Downgrade {
        /// The method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// `host[:port]`
        host: String,
        /// Where the registry pointed, when known (ureq does not say where
        /// a refused redirect led).
        location: Option<String>,
    },
    /// The registry answered with an error.
    #[error("{method} {}: the registry answered {status}{}", redact::url(url), if body.is_empty() { String::new() } else { format!(": {}", redact::text(body)) })]
    Status {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The registry answered a status the distribution spec does not define
    /// as success for this request (a redirect, or another 2xx/3xx).
    #[error("{method} {url}: the registry answered {status}{}, where the distribution spec expects {expected}", location.as_ref().map(|l| format!(" (to {l})")).unwrap_or_default())]
    Unexpected {
        /// The method.
        method: &'static str,
        /// The URL (credentials and query values other than the digest left out).
        url: String,
        /// The status code.
        status: u16,
        /// Where a redirect pointed (redacted as the URL), if it did.
        location: Option<String>,
        /// What the spec defines as success here.
        expected: String,
    },
    /// The registry wants credentials that were not given or were refused.
    #[error("the registry {host} refused the credentials ({how}) for {scope}")]
    Unauthorized {
        /// host[:port]
        host: String,
        /// What was presented.
        how: &'static str,
        /// The scope asked for.
        scope: String,
    },
    /// A transfer broke off.
    #[error("{method} {}: {}", redact::url(url), redact::text(reason))]
    Transfer {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A time limit tripped (see [`deadline`]): the server stalled or sent
    /// too slowly. Not retried.
    #[error("{method} {}: {reason}", redact::url(url))]
    Stalled {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// Which limit, and what had arrived.
        reason: String,
    },
    /// The server asked to be retried later than airlock waits.
    #[error("{method} {}: the registry answered {status} asking to retry after {}, longer than the {} airlock waits", redact::url(url), deadline::secs(*wait), deadline::secs(*cap))]
    RetryLater {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// 429 or 503.
        status: u16,
        /// What it asked for.
        wait: Duration,
        /// The most airlock waits.
        cap: Duration,
    },
    /// A blob of another size than its descriptor says. Not retried.
    #[error("the registry {host} served {what} of {found}, its descriptor says {expected} bytes")]
    WrongSize {
        /// host[:port]
        host: String,
        /// What.
        what: String,
        /// "N bytes", or "more than N bytes".
        found: String,
        /// The descriptor's size.
        expected: u64,
    },
    /// The registry stored other content than was sent.
    #[error("the registry {host} gave {what} with digest {found}, expected {expected}")]
    DigestMismatch {
        /// host[:port]
        host: String,
        /// What.
        what: String,
        /// What the registry reported.
        found: String,
        /// What was sent.
        expected: String,
    },
    /// A repository, tag or digest that breaks the OCI grammar (checked
    /// before any URL is built from it).
    #[error("refusing to address the registry {host} with an invalid name")]
    InvalidName {
        /// host[:port]
        host: String,
        /// The rule broken.
        #[source]
        source: crate::oci_name::NameError,
    },
    /// TLS set-up failed (a CA file that cannot be read).
    #[error("cannot use the CA certificate {}: {reason}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl crate::error::Classify for RegistryError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // A registry that refuses, fails or misbehaves is the
            // environment's trouble, not the bundle's.
            RegistryError::Unreachable { .. }
            | RegistryError::PlainHttpCredentials { .. }
            | RegistryError::TokenRealm { .. }
            | RegistryError::TokenAnswer { .. }
            | RegistryError::Downgrade { .. }
            | RegistryError::Status { .. }
            | RegistryError::Unexpected { .. }
            | RegistryError::Unauthorized { .. }
            | RegistryError::Transfer { .. }
            | RegistryError::Stalled { .. }
            | RegistryError::RetryLater { .. }
            | RegistryError::WrongSize { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::InvalidName { .. }
            | RegistryError::Tls { .. } => HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            RegistryError::Unreachable { hint, .. } => Some(hint.clone()),
            RegistryError::PlainHttpCredentials { host, .. } => {
                Some(Hint::Flag(FlagHint::PlainHttp {
                    host: host.clone(),
                    serves: "speaks only plain http",
                }))
            }
            RegistryError::Downgrade { location, .. } => Some(Hint::Flag(FlagHint::PlainHttp {
                host: downgrade_host(location),
                serves: "speaks only plain http",
            })),
            RegistryError::TokenRealm {
                registry,
                realm_host,
                ..
            } => Some(Hint::Flag(FlagHint::AllowTokenRealm {
                registry: registry.clone(),
                realm_host: realm_host.clone(),
            })),
            RegistryError::Unauthorized { host, .. } => {
                Some(Hint::Flag(FlagHint::Credentials { host: host.clone() }))
            }
            RegistryError::Stalled { .. } => Some(Hint::Flag(FlagHint::NetworkLimits)),
            RegistryError::InvalidName { source, .. } => source.hint(),
            RegistryError::TokenAnswer { .. }
            | RegistryError::Status { .. }
            | RegistryError::Unexpected { .. }
            | RegistryError::Transfer { .. }
            | RegistryError::RetryLater { .. }
            | RegistryError::WrongSize { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::Tls { .. } => None,
        }
    }
}

/// The host a downgrade pointed to, for the hint.
fn downgrade_host(location: &Option<String>) -> String {
    location
        .as_deref()
        .and_then(HostPort::of_url)
        .map_or_else(|| "HOST".to_string(), |h| h.to_string())
}

impl RegistryError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        self.transient()
    }

    fn transient(&self) -> bool {
        match self {
            // 500 and 501 say the server failed at this request, not that
            // it is busy: asking again gives the same answer.
            RegistryError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            RegistryError::Transfer { .. } | RegistryError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

/// Whether `host` (host[:port]) names this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The longest a request without a large body may take in all.
const SMALL_REQUEST: Duration = Duration::from_secs(120);

/// The longest an UPLOAD of `size` bytes (airlock's own, of known size)
/// may take in all: 5 minutes plus 4 seconds per MiB (a floor of 256
/// KiB/s). Downloads are bounded by [`deadline`] instead, from the bytes
/// that actually arrive.
fn blob_time(size: u64) -> Duration {
    Duration::from_secs(300 + (size >> 20).saturating_mul(4))
}

/// One registry, after the `/v2/` ping.
pub struct Client {
    host: String,
    base: String,
    /// For GET and HEAD: follows redirects (https-only for an https base).
    agent: ureq::Agent,
    /// For requests with a body (POST, PUT, PATCH) and requests to a token
    /// service carrying credentials: follows none.
    strict: ureq::Agent,
    credentials: Credentials,
    /// Whether credentials may be sent to this registry at all: over https,
    /// or over plain http to a host named by `--plain-http`.
    credentials_allowed: bool,
    /// The `/v2/` ping's challenge, or a later 401's.
    challenge: RefCell<Challenge>,
    tokens: RefCell<BTreeMap<String, Zeroizing<String>>>,
    limits: deadline::NetLimits,
    /// Retries left for this registry (all requests together).
    retries: Cell<u32>,
    /// The options, without the explicit credentials (the realm rules, the
    /// hosts named for plain http).
    opts: Options,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

/// A URL fit for a message: without user information, and without query
/// values other than `digest` (an upload location may carry a signed token
/// or upload state).
pub fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_string(),
    };
    let Some(query) = query else {
        return head;
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some(("digest", v)) => format!("digest={v}"),
            Some((k, _)) => format!("{k}=..."),
            None => p.to_string(),
        })
        .collect();
    format!("{head}?{}", params.join("&"))
}

/// What one `/v2/` ping found.
enum Ping {
    /// A registry answered: how it wants to be authenticated.
    Answered(Challenge),
    /// Worth another try (refused connection, timeout, 429, 5xx).
    Transient(String),
    /// Over https, the server answered with something that is not TLS.
    NotTls(String),
    /// Not worth another try (a refused certificate; over plain http, a
    /// server that is not a registry), with a hint.
    Fatal(String, crate::error::Hint),
}

/// Pings `<base>/v2/` (no credentials: they go only where challenged).
// ureq's own error, passed back from the request thread as it is.
#[allow(clippy::result_large_err)]
fn ping(agent: &ureq::Agent, base: &str, limits: &deadline::NetLimits) -> Ping {
    let https = base.starts_with("https://");
    // No overall ureq timeout: it would replace the idle timeout (the
    // agent's read timeout) on every read; each read waits at most the idle
    // timeout, and the head at most the deadline's base.
    let req = agent.get(&format!("{base}/v2/"));
    let answer = match deadline::head_within(limits, move || req.call()) {
        Ok(a) => a,
        Err(e) => {
            return Ping::Fatal(
                format!("{base}/v2/: {}", e.describe(limits)),
                crate::error::Hint::Flag(crate::error::FlagHint::DeadlineBase),
            )
        }
    };
    match answer {
        Ok(_) => Ping::Answered(Challenge::None),
        Err(ureq::Error::Status(401, r)) => Ping::Answered(
            r.header("WWW-Authenticate")
                .map(parse_challenge)
                .unwrap_or(Challenge::Basic),
        ),
        Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
            Ping::Transient(format!("{base}/v2/ answered {code}"))
        }
        // Over https, some registries do not serve /v2/ itself: go on.
        Err(ureq::Error::Status(_, _)) if https => Ping::Answered(Challenge::None),
        // Over http, anything else is not a registry (a TLS server answers
        // plain http with 400).
        Err(ureq::Error::Status(code, _)) => Ping::Fatal(
            format!("{base}/v2/ answered {code}"),
            crate::error::Hint::Text("check the address: this is not a plain-http registry".into()),
        ),
        Err(ureq::Error::Transport(t)) => match tls::classify(&t) {
            Some(tls::TlsFailure::NotTls) => Ping::NotTls(format!("{base}: {t}")),
            Some(tls::TlsFailure::Refused) => Ping::Fatal(
                format!("{base}: {t}"),
                crate::error::Hint::Flag(crate::error::FlagHint::PrivateCa),
            ),
            // A stall is no transient failure: asking again would cost
            // another idle period per attempt (issue 17, item 2).
            None if deadline::transport_timed_out(&t) => Ping::Fatal(
                format!("{base}: {t}"),
                crate::error::Hint::Flag(crate::error::FlagHint::IdleTimeout),
            ),
            None => Ping::Transient(format!("{base}: {t}")),
        },
    }
}

impl Client {
    /// Connects to `host` (`host[:port]`): pings `/v2/` and learns how to log
    /// in. Over plain http for a host named by `--plain-http`; else over
    /// https, falling back to plain http only for a loopback host (or one
    /// named by the deprecated `--insecure`), only when no `--ca-cert` was
    /// given, and only when the https attempt met a server that does not
    /// speak TLS (never after a refused certificate).
    pub fn connect(host: &str, opts: &Options) -> Result<Client, RegistryError> {
        let named_plain = opts.plain_http.matches(host);
        let may_fall_back =
            opts.ca_certs.is_empty() && (is_loopback(host) || opts.legacy_insecure.matches(host));
        let https = format!("https://{host}");
        let http = format!("http://{host}");
        let https_agent = agent(opts, 5, true, host)?;
        let http_agent = agent(opts, 5, false, host)?;
        let mut last = String::new();
        let mut hint =
            crate::error::Hint::Text("check the address and that the registry runs".into());
        let mut found = None;
        for attempt in 0..3 {
            let (base, agent) = if named_plain {
                (&http, &http_agent)
            } else {
                (&https, &https_agent)
            };
            match ping(agent, base, &opts.limits) {
                Ping::Answered(c) => found = Some((base.clone(), c)),
                Ping::Transient(why) => last = why,
                Ping::Fatal(why, h) => {
                    last = why;
                    hint = h;
                    break;
                }
                Ping::NotTls(why) if may_fall_back => {
                    match ping(&http_agent, &http, &opts.limits) {
                        Ping::Answered(c) => found = Some((http.clone(), c)),
                        Ping::Transient(_) => last = why,
                        // Not a registry over http either: the https error
                        // says more.
                        Ping::NotTls(..) | Ping::Fatal(..) => {
                            last = why;
                            break;
                        }
                    }
                }
                Ping::NotTls(why) => {
                    last = why;
                    hint = crate::error::Hint::Flag(crate::error::FlagHint::NotTls {
                        host: host.to_string(),
                        ca_cert: !opts.ca_certs.is_empty() && is_loopback(host),
                    });
                    break;
                }
            }
            if found.is_some() {
                break;
            }
            if attempt < 2 {
                backoff(attempt);
            }
        }
        let Some((base, challenge)) = found else {
            return Err(RegistryError::Unreachable {
                host: host.to_string(),
                reason: last,
                hint,
            });
        };
        let https_base = base.starts_with("https://");
        Ok(Client {
            host: host.to_string(),
            agent: if https_base { https_agent } else { http_agent },
            strict: agent(opts, 0, https_base, host)?,
            credentials: auth::resolve(host, opts),
            credentials_allowed: https_base || opts.plain_http_named(host),
            base,
            challenge: RefCell::new(challenge),
            tokens: RefCell::new(BTreeMap::new()),
            limits: opts.limits,
            retries: Cell::new(deadline::RETRY_BUDGET),
            opts: Options {
                credentials: None,
                ..opts.clone()
            },
        })
    }

    /// The base URL (scheme and host).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The host[:port].
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `<base>/v2/<repo>/<what>/<reference>`, from parts that passed the OCI
    /// grammar only (`what` is `blobs` or `manifests`; blobs take a digest,
    /// manifests a tag or a digest), so no name can leave the repository or
    /// `/v2/` or inject a query.
    fn url(&self, repo: &str, what: &str, reference: &str) -> Result<String, RegistryError> {
        let invalid = |source| RegistryError::InvalidName {
            host: self.host.clone(),
            source,
        };
        crate::oci_name::check_repository(repo).map_err(invalid)?;
        match what {
            "blobs" => crate::oci_name::check_digest(reference),
            _ => crate::oci_name::check_tag_or_digest(reference),
        }
        .map_err(invalid)?;
        Ok(format!("{}/v2/{repo}/{what}/{reference}", self.base))
    }

    fn scope(repo: &str) -> String {
        format!("repository:{repo}:pull,push")
    }

    /// The time limits in force.
    pub fn limits(&self) -> deadline::NetLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::agents::no_proxy_matches;
    use super::call::{follows_redirects, retry_after, spec_success};
    use super::*;

    #[test]
    fn no_proxy_entries() {
        for (entry, host, hit) in [
            ("*", "anything.example", true),
            ("example.com", "example.com", true),
            (".example.com", "reg.example.com", true),
            ("example.com", "reg.example.com", true),
            ("example.com", "badexample.com", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1:5000", "127.0.0.1", true),
            ("127.0.0.0/8", "127.0.0.1", true),
            ("10.0.0.0/8", "127.0.0.1", false),
            ("::1", "::1", true),
            ("[::1]", "::1", true),
            ("[::1]:5000", "::1", true),
            ("::1/128", "::1", true),
            ("fd00::/8", "fd12::1", true),
            ("0.1", "10.0.0.1", false),
            ("", "example.com", false),
        ] {
            assert_eq!(no_proxy_matches(entry, host), hit, "{entry:?} {host:?}");
        }
    }

    #[test]
    fn success_is_what_the_spec_defines() {
        assert_eq!(spec_success("GET"), &[200]);
        assert_eq!(spec_success("HEAD"), &[200]);
        assert_eq!(spec_success("PUT"), &[201]);
        assert_eq!(spec_success("POST"), &[202]);
        for m in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(!follows_redirects(m), "{m}");
        }
        assert!(follows_redirects("GET") && follows_redirects("HEAD"));
    }

    #[test]
    fn urls_in_messages_carry_no_credentials_or_tokens() {
        assert_eq!(
            redact("https://user:secret@registry.example:5000/v2/a/blobs/uploads/u1?_state=abc&digest=sha256%3A00"),
            "https://registry.example:5000/v2/a/blobs/uploads/u1?_state=...&digest=sha256%3A00"
        );
        assert_eq!(
            redact("https://s3.example/bucket/x?X-Amz-Signature=deadbeef"),
            "https://s3.example/bucket/x?X-Amz-Signature=..."
        );
        assert_eq!(
            redact("/v2/elsewhere/manifests/2"),
            "/v2/elsewhere/manifests/2"
        );
        assert_eq!(redact("http://h/v2/"), "http://h/v2/");
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(retry_after("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
        let text = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = retry_after(&text).unwrap();
        assert!(
            d > Duration::from_secs(7000) && d <= Duration::from_secs(7200),
            "{d:?}"
        );
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("-5"), None);
    }

    #[test]
    fn challenges_and_loopback() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
        );
        let Challenge::Bearer { realm, service } = c else {
            panic!("{c:?}")
        };
        assert_eq!(realm, "https://auth.example/token");
        assert_eq!(service.as_deref(), Some("registry.example"));
        assert!(matches!(
            parse_challenge("Basic realm=\"x\""),
            Challenge::Basic
        ));
        for h in ["127.0.0.1:5000", "localhost", "[::1]:5000", "127.8.9.10"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["registry.local:5000", "10.0.0.1", "example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
