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

pub mod auth;
pub mod deadline;
pub mod framing;
pub mod hosts;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::redact;

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

/// An HTTP(S) agent with the same TLS, proxy and timeout settings, for
/// plain downloads such as VEX repositories, to be used for `url`: when it
/// is https, the agent is https-only, so no redirect leads it to plain http.
/// It follows redirects without the Authorization header (the credentials a
/// URL carries reach its own origin only).
pub fn http_agent(opts: &Options, url: &str) -> Result<ureq::Agent, RegistryError> {
    let host = HostPort::of_url(url)
        .map(|h| h.to_string())
        .unwrap_or_default();
    agent(opts, 5, is_https(url), &host)
}

/// The proxy for requests to `host` over https (`https`) or plain http, from
/// the environment as curl reads it: `https_proxy`/`HTTPS_PROXY`, or
/// `http_proxy` (lowercase only, as curl: the uppercase one can be set by
/// a CGI request's `Proxy:` header), else `all_proxy`/`ALL_PROXY`; none when
/// `no_proxy`/`NO_PROXY` names the host (`*`, a name or a parent domain,
/// with or without a leading dot, an address; ports ignored). ureq's own
/// reading of the environment ignores `NO_PROXY`, which sent an internal
/// registry's credentials to the corporate proxy (found in review).
fn proxy_for(host: &str, https: bool) -> Result<Option<ureq::Proxy>, RegistryError> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let name = HostPort::parse(host).map(|h| h.name).unwrap_or_default();
    if name.is_empty() {
        return Ok(None);
    }
    let no_proxy = var(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
    if no_proxy
        .split(',')
        .any(|e| no_proxy_matches(e.trim(), &name))
    {
        return Ok(None);
    }
    let chosen = if https {
        var(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
    } else {
        var(&["http_proxy", "all_proxy", "ALL_PROXY"])
    };
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    // A proxy the client cannot use fails the request, rather than going
    // around the proxy the operator set.
    ureq::Proxy::new(&chosen)
        .map(Some)
        .map_err(|e| RegistryError::Unreachable {
            host: host.to_string(),
            reason: format!(
                "the proxy {} from the environment cannot be used: {e}",
                redact(&chosen)
            ),
            hint: crate::error::Hint::Text(
                "set http_proxy/https_proxy to an http:// or socks proxy URL, or name the host in NO_PROXY".into(),
            ),
        })
}

/// Whether one `NO_PROXY` entry names `host` (a DNS name, lowercase, or an
/// IP address): `*`; an address, bracketed or not, with or without a
/// port; a CIDR block; a DNS name or a parent domain (with or without a
/// leading dot; a suffix never matches an address).
fn no_proxy_matches(entry: &str, host: &str) -> bool {
    use std::net::IpAddr;
    if entry == "*" {
        return true;
    }
    // The port, when there is one, is not compared.
    let entry = if let Some(rest) = entry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if entry.matches(':').count() == 1 {
        entry.split(':').next().unwrap_or(entry)
    } else {
        entry
    };
    let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) = (net.parse::<IpAddr>(), bits.parse::<u32>(), ip) else {
            return false;
        };
        return match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        };
    }
    if let Ok(e) = entry.parse::<IpAddr>() {
        return ip == Some(e);
    }
    let e = entry.trim_start_matches('.').to_ascii_lowercase();
    ip.is_none() && !e.is_empty() && (host == e || host.ends_with(&format!(".{e}")))
}

/// Whether `url` is https.
fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// An agent that follows at most `redirects - 1` redirects (0: none; a 3xx
/// is then returned as it came), never forwarding the Authorization header
/// on a redirect; `https_only`: it refuses plain http, a redirect's too.
fn agent(
    opts: &Options,
    redirects: u32,
    https_only: bool,
    host: &str,
) -> Result<ureq::Agent, RegistryError> {
    let mut skip = opts.skip_verify.clone();
    for h in opts.legacy_insecure.iter() {
        skip.push(h.clone());
    }
    let config = tls::client_config(&opts.ca_certs, &skip)?;
    let mut builder = ureq::AgentBuilder::new();
    if let Some(p) = proxy_for(host, https_only)? {
        builder = builder.proxy(p);
    }
    Ok(builder
        // rustls, with each connection's non-content bytes bounded (ureq's
        // chunked decoder keeps a chunk-size line whole): framing.rs.
        .tls_connector(Arc::new(framing::GuardedTls::new(config, opts.limits)))
        .timeout_connect(opts.limits.connect())
        // The idle timeout: every read (status line, headers, body) waits
        // at most this long for a byte.
        .timeout_read(opts.limits.idle)
        .timeout_write(opts.limits.idle)
        .user_agent(USER_AGENT)
        .redirects(redirects)
        .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
        .https_only(https_only)
        // The proxy is chosen above, NO_PROXY included.
        .try_proxy_from_env(false)
        .build())
}

/// How the registry wants to be authenticated (from the `/v2/` ping).
#[derive(Debug, Clone)]
enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

fn parse_challenge(header: &str) -> Challenge {
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, v)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        let (value, tail) = if let Some(v) = v.strip_prefix('"') {
            match v.split_once('"') {
                Some((val, tail)) => (val.to_string(), tail),
                None => (v.to_string(), ""),
            }
        } else {
            match v.split_once(',') {
                Some((val, tail)) => (val.trim().to_string(), tail),
                None => (v.trim().to_string(), ""),
            }
        };
        params.insert(k, value);
        s = tail.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    match params.remove("realm") {
        Some(realm) => Challenge::Bearer {
            realm,
            service: params.remove("service"),
        },
        None => Challenge::None,
    }
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

fn short_body(r: ureq::Response) -> String {
    // An error body over plain http in transfer encoding is not read at
    // all: ureq's chunked decoder is unbounded there (framing.rs).
    if framing::unguarded_chunked(&r) {
        return String::new();
    }
    let mut body = String::new();
    let _ = r.into_reader().take(512).read_to_string(&mut body);
    body.trim().replace(['\n', '\r'], " ")
}

/// The statuses the distribution spec defines as success for a request
/// with `method` when nothing more specific is asked: 200 for GET and HEAD
/// (a HEAD's 404 is an answer, handled by the caller), 201 for PUT, 202 for
/// POST and DELETE.
fn spec_success(method: &str) -> &'static [u16] {
    match method {
        "PUT" => &[201],
        "POST" | "DELETE" => &[202],
        "PATCH" => &[202],
        _ => &[200],
    }
}

/// Whether a request may follow redirects: only one without a body, whose
/// method a redirect keeps (ureq turns a POST or PUT answered 301/302/303
/// into a GET, and returns 307/308 to a request with a body as they came).
fn follows_redirects(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// The URL a request goes to, as ureq will parse it (so it compares with
/// [`ureq::Response::get_url`]); the raw text if it does not parse (ureq
/// then fails the request itself).
fn requested_url(req: &ureq::Request) -> String {
    req.request_url()
        .map(|u| u.as_url().as_str().to_string())
        .unwrap_or_else(|_| req.url().to_string())
}

/// Refuses a response whose status is not in `expect`, and one to a request
/// with a body that came from another URL than `asked` (a redirect).
fn check_status(
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

/// A `Retry-After` value: delay-seconds, or an HTTP date (IMF-fixdate, as
/// RFC 9110 requires senders to write it); `None` if it is neither.
fn retry_after(value: &str) -> Option<Duration> {
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

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(500 << attempt.min(4)));
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

    /// Refuses to use the credentials where they may not go: over plain
    /// http to a registry the operator did not name with `--plain-http` (a
    /// loopback registry reached by falling back from https).
    fn may_send_credentials(&self) -> Result<(), RegistryError> {
        if self.credentials_allowed {
            return Ok(());
        }
        Err(RegistryError::PlainHttpCredentials {
            host: self.host.clone(),
            base: self.base.clone(),
        })
    }

    /// The Authorization header for `scope`, fetching a token if needed:
    /// nothing until the registry has challenged (credentials are never
    /// sent preemptively).
    fn authorization(&self, scope: &str) -> Result<Option<Zeroizing<String>>, RegistryError> {
        let challenge = self.challenge.borrow().clone();
        match challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => match self.credentials.basic_header() {
                Some(h) => {
                    self.may_send_credentials()?;
                    Ok(Some(h))
                }
                None => Err(RegistryError::Unauthorized {
                    host: self.host.clone(),
                    how: auth::describe(&self.credentials),
                    scope: scope.to_string(),
                }),
            },
            Challenge::Bearer { realm, service } => {
                if let Credentials::Token(t) = &self.credentials {
                    self.may_send_credentials()?;
                    return Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))));
                }
                if let Some(t) = self.tokens.borrow().get(scope) {
                    return Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope)?;
                let header = Zeroizing::new(format!("Bearer {}", token.as_str()));
                self.tokens.borrow_mut().insert(scope.to_string(), token);
                Ok(Some(header))
            }
        }
    }

    /// A token for `scope` from the token service at `realm`: anonymously,
    /// or with the credentials when the realm may receive them
    /// ([`hosts::realm_may_receive_credentials`]). A request carrying
    /// credentials follows no redirect (a 30x would turn a POST carrying a
    /// refresh token into a GET elsewhere, or hand the exchange to another
    /// origin); its answer must be 200.
    // ureq's own error, passed back from the request thread as it is.
    #[allow(clippy::result_large_err)]
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Zeroizing<String>, RegistryError> {
        let anonymous = matches!(self.credentials, Credentials::None);
        if !anonymous {
            self.may_send_credentials()?;
            let plain =
                !self.base.starts_with("https://") && self.opts.plain_http_named(&self.host);
            hosts::realm_may_receive_credentials(&self.host, realm, plain, &self.opts.token_realms)
                .map_err(|reason| RegistryError::TokenRealm {
                    registry: self.host.clone(),
                    realm_host: HostPort::of_url(realm)
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| redact(realm)),
                    realm: realm.to_string(),
                    reason,
                })?;
        }
        let (method, result) = match &self.credentials {
            // An identity token is a refresh token: exchange it.
            Credentials::IdentityToken(t) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", "airlock"),
                    ("scope", scope),
                    ("refresh_token", t.as_str()),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let req = self.strict.post(realm).timeout(SMALL_REQUEST);
                ("POST", req.send_form(&form))
            }
            creds => {
                let agent = if anonymous { &self.agent } else { &self.strict };
                let mut req = agent
                    .get(realm)
                    .timeout(SMALL_REQUEST)
                    .query("scope", scope);
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                if let Some(h) = creds.basic_header() {
                    req = req.set("Authorization", &h);
                }
                // On a helper thread: an anonymous request follows
                // redirects, and the HTTP client panics on some.
                match deadline::head_within(&self.limits, move || req.call()) {
                    Ok(r) => ("GET", r),
                    Err(e) => {
                        return Err(RegistryError::Transfer {
                            method: "GET",
                            url: redact(realm),
                            reason: e.describe(&self.limits),
                        })
                    }
                }
            }
        };
        let resp = result.map_err(|e| match e {
            ureq::Error::Status(401 | 403, _) => RegistryError::Unauthorized {
                host: self.host.clone(),
                how: auth::describe(&self.credentials),
                scope: scope.to_string(),
            },
            ureq::Error::Status(status, r) => RegistryError::Status {
                method,
                url: redact(realm),
                status,
                body: short_body(r),
            },
            ureq::Error::Transport(t) => RegistryError::Transfer {
                method,
                url: redact(realm),
                reason: t.to_string(),
            },
        })?;
        if let Err(reason) = framing::refuse_chunked_plain_http(resp.get_url(), &resp) {
            return Err(RegistryError::Transfer {
                method,
                url: redact(realm),
                reason,
            });
        }
        if resp.status() != 200 {
            return Err(RegistryError::TokenAnswer {
                method,
                url: redact(realm),
                status: resp.status(),
                location: resp.header("Location").map(redact),
            });
        }
        let v: serde_json::Value = serde_json::from_reader(resp.into_reader().take(1 << 20))
            .map_err(|e| RegistryError::Transfer {
                method,
                url: redact(realm),
                reason: format!("the token answer is not JSON: {e}"),
            })?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| RegistryError::Transfer {
                method,
                url: redact(realm),
                reason: "the token answer holds no token".into(),
            })?;
        Ok(Zeroizing::new(token.to_string()))
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

    /// Sends a request without a streamed body, retrying transient failures.
    fn call(
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
    fn call_with(
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
    fn call_expecting(
        &self,
        method: &'static str,
        url: &str,
        repo: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        limit: Option<Duration>,
        expect: &[u16],
    ) -> Result<ureq::Response, RegistryError> {
        let scope = Self::scope(repo);
        let mut attempt = 0;
        let mut renewed = false;
        let mut pause: Option<Duration> = None;
        let mut challenged = false;
        let agent = if follows_redirects(method) {
            &self.agent
        } else {
            &self.strict
        };
        loop {
            let mut req = agent.request(method, url);
            if let Some(t) = limit {
                req = req.timeout(t);
            }
            let authorization = self.authorization(&scope)?;
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
            let body = body.map(<[u8]>::to_vec);
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
            let err = match result {
                Ok(r) => {
                    if let Err(reason) = framing::refuse_chunked_plain_http(r.get_url(), &r) {
                        return Err(RegistryError::Transfer {
                            method,
                            url: redact(url),
                            reason,
                        });
                    }
                    return check_status(method, &asked, r, expect);
                }
                // A bearer token may have expired during a long upload: get
                // a fresh one, once.
                Err(ureq::Error::Status(401, _))
                    if !renewed && self.tokens.borrow_mut().remove(&scope).is_some() =>
                {
                    renewed = true;
                    continue;
                }
                // A registry whose /v2/ did not challenge may challenge
                // here: learn how, once, and answer it.
                // (Only the registry's own 401: one from a redirect target
                // on another origin is no challenge of the registry's.)
                Err(ureq::Error::Status(401, r))
                    if !sent_credentials
                        && !challenged
                        && r.get_url().starts_with(&format!("{}/", self.base)) =>
                {
                    match r.header("WWW-Authenticate").map(parse_challenge) {
                        Some(c @ (Challenge::Basic | Challenge::Bearer { .. })) => {
                            challenged = true;
                            *self.challenge.borrow_mut() = c;
                            continue;
                        }
                        _ => RegistryError::Unauthorized {
                            host: self.host.clone(),
                            how: auth::describe(&self.credentials),
                            scope: scope.clone(),
                        },
                    }
                }
                Err(ureq::Error::Status(401 | 403, _)) => RegistryError::Unauthorized {
                    host: self.host.clone(),
                    how: auth::describe(&self.credentials),
                    scope: scope.clone(),
                },
                Err(ureq::Error::Status(status, r)) => {
                    let wait = match status {
                        429 | 503 => r.header("Retry-After").and_then(retry_after),
                        _ => None,
                    };
                    if let Some(wait) = wait.filter(|w| *w > self.limits.max_retry_after) {
                        return Err(RegistryError::RetryLater {
                            method,
                            url: redact(url),
                            status,
                            wait,
                            cap: self.limits.max_retry_after,
                        });
                    }
                    pause = wait;
                    RegistryError::Status {
                        method,
                        url: redact(url),
                        status,
                        body: short_body(r),
                    }
                }
                Err(ureq::Error::Transport(t)) if deadline::transport_timed_out(&t) => {
                    return Err(RegistryError::Stalled {
                        method,
                        url: redact(url),
                        reason: format!("no answer in time ({}): {t}", self.limits.describe()),
                    })
                }
                // An https registry redirected to plain http (the agent is
                // https-only): refused, not retried.
                Err(ureq::Error::Transport(t))
                    if t.kind() == ureq::ErrorKind::InsecureRequestHttpsOnly =>
                {
                    RegistryError::Downgrade {
                        method,
                        url: url.to_string(),
                        host: self.host.clone(),
                        location: None,
                    }
                }
                Err(ureq::Error::Transport(t)) => RegistryError::Transfer {
                    method,
                    url: redact(url),
                    reason: t.to_string(),
                },
            };
            if attempt >= 3 || !err.transient() || !self.take_retry() {
                return Err(err);
            }
            match pause.take() {
                Some(wait) => std::thread::sleep(wait),
                None => backoff(attempt),
            }
            attempt += 1;
        }
    }

    /// Takes one retry from this registry's budget; false when spent.
    pub fn take_retry(&self) -> bool {
        let left = self.retries.get();
        self.retries.set(left.saturating_sub(1));
        left > 0
    }

    /// The time limits in force.
    pub fn limits(&self) -> deadline::NetLimits {
        self.limits
    }

    /// Whether `repo` holds the blob `digest`.
    pub fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(repo, "blobs", digest)?;
        match self.call("HEAD", &url, repo, &[], None) {
            Ok(_) => Ok(true),
            Err(RegistryError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `repo` says it holds the blob `digest` of `size` bytes: `HEAD`
    /// answered 200 (present) or 404 (absent); a `Content-Length` or
    /// `Docker-Content-Digest` it gives must be `size` and `digest` (an
    /// honest registry never reports another size for a digest). Only the
    /// registry's word: [`Client::get_blob`] proves it.
    pub fn blob_present(&self, repo: &str, digest: &str, size: u64) -> Result<bool, RegistryError> {
        let url = self.url(repo, "blobs", digest)?;
        let resp = match self.call("HEAD", &url, repo, &[], None) {
            Ok(r) => r,
            Err(RegistryError::Status { status: 404, .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Some(found) = resp.header("Docker-Content-Digest") {
            if found != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host.clone(),
                    what: format!("HEAD {}", redact(&url)),
                    found: found.to_string(),
                    expected: digest.to_string(),
                });
            }
        }
        if let Some(len) = resp.header("Content-Length") {
            if len.trim().parse::<u64>().ok() != Some(size) {
                return Err(RegistryError::Transfer {
                    method: "HEAD",
                    url: redact(&url),
                    reason: format!(
                        "the registry says the blob is {:?} bytes, it is {size}",
                        crate::text::escape(len)
                    ),
                });
            }
        }
        Ok(true)
    }

    /// Uploads `size` bytes from `body` as blob `digest` of `repo`, in one
    /// streamed request (`POST` answered 202 with a Location, then a
    /// monolithic `PUT ...?digest=` answered 201, never redirected); the
    /// registry checks the digest, and the one it reports must match.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<(), RegistryError> {
        // Checks repo and digest before anything is sent.
        self.url(repo, "blobs", digest)?;
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self.call_expecting(
            "POST",
            &start,
            repo,
            &[("Content-Length", "0")],
            Some(b""),
            Some(SMALL_REQUEST),
            &[202],
        )?;
        let location = resp
            .header("Location")
            .ok_or_else(|| RegistryError::Transfer {
                method: "POST",
                url: start.clone(),
                reason: "the registry answered 202 without an upload Location".into(),
            })?;
        let mut url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            return Err(RegistryError::Transfer {
                method: "POST",
                url: start.clone(),
                reason: format!(
                    "the upload Location {:?} is neither an absolute URL nor a path",
                    crate::text::escape(&redact(location))
                ),
            });
        };
        // An https registry does not send the blob to plain http, unless
        // the operator named that host.
        let plain_strict;
        let put_agent = if is_https(&self.base) && !is_https(&url) {
            let named = HostPort::of_url(&url).is_some_and(|h| {
                self.opts.plain_http.matches_host(&h) || self.opts.legacy_insecure.matches_host(&h)
            });
            if !named {
                return Err(RegistryError::Downgrade {
                    method: "POST",
                    url: start.clone(),
                    host: self.host.clone(),
                    location: Some(url),
                });
            }
            let location_host = HostPort::of_url(&url)
                .map(|h| h.to_string())
                .unwrap_or_default();
            plain_strict = agent(&self.opts, 0, false, &location_host)?;
            &plain_strict
        } else {
            &self.strict
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("digest=");
        url.push_str(&digest.replace(':', "%3A"));
        let mut req = put_agent
            .put(&url)
            .timeout(blob_time(size))
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &size.to_string());
        // Credentials only to this registry, never to another origin.
        let same_origin = url.starts_with(&format!("{}/", self.base));
        if let (Some(a), true) = (self.authorization(&Self::scope(repo))?, same_origin) {
            req = req.set("Authorization", &a);
        }
        let asked = requested_url(&req);
        let resp = req.send(body).map_err(|e| match e {
            ureq::Error::Status(status, r) => RegistryError::Status {
                method: "PUT",
                url: redact(&url),
                status,
                body: short_body(r),
            },
            ureq::Error::Transport(t) => RegistryError::Transfer {
                method: "PUT",
                url: redact(&url),
                reason: t.to_string(),
            },
        })?;
        let resp = check_status("PUT", &asked, resp, &[201])?;
        if let Some(found) = resp.header("Docker-Content-Digest") {
            if found != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host.clone(),
                    what: format!("a blob of {repo}"),
                    found: found.to_string(),
                    expected: digest.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Puts `bytes` as the manifest `reference` (a tag, or `digest` itself)
    /// of `repo`: answered 201, never redirected; checks the digest the
    /// registry reports against `digest`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(), RegistryError> {
        let url = self.url(repo, "manifests", reference)?;
        let resp = self.call_expecting(
            "PUT",
            &url,
            repo,
            &[("Content-Type", media_type)],
            Some(bytes),
            Some(SMALL_REQUEST),
            &[201],
        )?;
        if let Some(found) = resp.header("Docker-Content-Digest") {
            if found != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host.clone(),
                    what: format!("the manifest {repo}:{reference}"),
                    found: found.to_string(),
                    expected: digest.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The manifest `repo:reference` as served, and its digest (computed
    /// here, and compared with what the registry says it is).
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let url = self.url(repo, "manifests", reference)?;
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        // No overall timeout (see get_blob): the idle timeout bounds each
        // read, the DeadlineReader the body.
        let resp = self.call_with("GET", &url, repo, &[("Accept", accept)], None, None)?;
        let claimed = resp.header("Docker-Content-Digest").map(String::from);
        let mut bytes = Vec::new();
        deadline::DeadlineReader::new(resp.into_reader(), self.limits)
            .take((4 << 20) + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error("GET", &url, e))?;
        if bytes.len() > 4 << 20 {
            return Err(RegistryError::Transfer {
                method: "GET",
                url,
                reason: "the manifest is larger than 4 MiB".into(),
            });
        }
        let digest = format!("sha256:{}", crate::digest::Sha256Digest::of(&bytes).hex());
        if let Some(c) = claimed.filter(|c| c.starts_with("sha256:") && *c != digest) {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: format!("the manifest {repo}:{reference}"),
                found: digest,
                expected: c,
            });
        }
        Ok((bytes, digest))
    }

    /// Streams blob `digest` of `repo` into `out`, checking its size and
    /// SHA-256 as the bytes arrive.
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<(), RegistryError> {
        let url = self.url(repo, "blobs", digest)?;
        // No overall timeout for the request: ureq's would replace the idle
        // timeout on every read (headers and body) by the time left until
        // it. The agent's read timeout is the idle timeout; the body's
        // deadline comes from what arrives (DeadlineReader), never from
        // `size`.
        let resp = self.call_with("GET", &url, repo, &[], None, None)?;
        let mut reader = crate::digest::HashingReader::new(
            deadline::DeadlineReader::new(resp.into_reader(), self.limits)
                .take(size.saturating_add(1)),
        );
        let copied =
            std::io::copy(&mut reader, out).map_err(|e| self.read_error("GET", &url, e))?;
        let (found, ..) = reader.finish();
        // Not transient: the same registry would serve the same bytes.
        if copied != size {
            return Err(RegistryError::WrongSize {
                host: self.host.clone(),
                what: format!("the blob {digest} of {repo}"),
                found: if copied > size {
                    format!("more than {size} bytes")
                } else {
                    format!("{copied} bytes")
                },
                expected: size,
            });
        }
        let found = found.oci();
        if found != digest {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: format!("the blob {digest} of {repo}"),
                found,
                expected: digest.to_string(),
            });
        }
        Ok(())
    }

    /// The error for a body read that failed: a tripped time limit is
    /// [`RegistryError::Stalled`] (final), anything else a transfer error
    /// (a reset connection: transient).
    fn read_error(&self, method: &'static str, url: &str, e: std::io::Error) -> RegistryError {
        match deadline::stalled_reason(&e) {
            Some(reason) => RegistryError::Stalled {
                method,
                url: redact(url),
                reason,
            },
            None => RegistryError::Transfer {
                method,
                url: redact(url),
                reason: e.to_string(),
            },
        }
    }

    /// The digest of the manifest `repo:reference`, or `None` if absent.
    pub fn manifest_digest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(repo, "manifests", reference)?;
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        match self.call("HEAD", &url, repo, &[("Accept", accept)], None) {
            Ok(r) => Ok(r.header("Docker-Content-Digest").map(String::from)),
            Err(RegistryError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
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
