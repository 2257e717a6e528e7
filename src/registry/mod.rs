//! A small, blocking client for the OCI distribution API: what airlock needs
//! to push artifacts into a registry (check a blob, upload a blob from a
//! stream, put a manifest), with the registry's own authentication.
//!
//! - Scheme: https; a registry on a loopback address, or any registry with
//!   `insecure`, is tried over plain http when https fails (as Trivy does).
//! - TLS: rustls with the Mozilla roots, the system bundle
//!   (`SSL_CERT_FILE`, else `/etc/ssl/certs/ca-certificates.crt`) and any
//!   `--ca-cert` files; `insecure` also accepts any certificate.
//! - Authentication: the `/v2/` ping's challenge decides: HTTP basic, or a
//!   bearer token from the challenge's realm for the repository's scope
//!   (credentials from [`auth`]).
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
//!   body (POST, PUT, PATCH) never follows a redirect, since a registry that
//!   answers one has not stored what was sent (and following a 301/302/303
//!   would turn it into a GET that succeeds elsewhere). GET and HEAD follow
//!   redirects (a registry may serve a blob from its storage).

pub mod auth;
pub mod deadline;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::redact;

pub use auth::Credentials;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Allow plain http and any certificate.
    pub insecure: bool,
    /// Extra CA certificates (PEM files) to trust.
    pub ca_certs: Vec<PathBuf>,
    /// Credentials given explicitly (else found by [`auth::resolve`]).
    pub credentials: Option<Credentials>,
    /// Time limits for every transfer.
    pub limits: deadline::NetLimits,
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
    #[error("cannot reach the registry {host}: {}\nhint: check the address and that the registry runs; a registry with a self-signed certificate needs --ca-cert FILE (or --insecure), a plain-http one not on this host needs --insecure", redact::text(reason))]
    Unreachable {
        /// host[:port]
        host: String,
        /// Why (the last attempt's error).
        reason: String,
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
    #[error("the registry {host} refused the credentials ({how}) for {scope}\nhint: give --username and --password-stdin, set TRIVY_USERNAME/TRIVY_PASSWORD, or log in with `docker login {host}`")]
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
    #[error("{method} {}: {reason}\nhint: a server that stalls is given up on; the limits are set by --network-idle-timeout, --network-deadline-base and --network-min-rate", redact::url(url))]
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
    #[error("refusing to address the registry {host} with an invalid name: {source}")]
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

/// Accepts any server certificate (`--insecure` only).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn add_pem_file(
    roots: &mut rustls::RootCertStore,
    path: &std::path::Path,
    required: bool,
) -> Result<(), RegistryError> {
    let tls = |reason: String| RegistryError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(_) if !required => return Ok(()),
        Err(e) => return Err(tls(e.to_string())),
    };
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
        let cert = cert.map_err(|e| tls(e.to_string()))?;
        if roots.add(cert).is_ok() {
            added += 1;
        }
    }
    if required && added == 0 {
        return Err(tls("no PEM certificate in it".into()));
    }
    Ok(())
}

/// An HTTP(S) agent with the same TLS, proxy and timeout settings (for
/// plain downloads such as VEX repositories).
pub fn http_agent(opts: &Options) -> Result<ureq::Agent, RegistryError> {
    agent(opts, 5)
}

/// An agent that follows at most `redirects - 1` redirects (0: none; a 3xx
/// is then returned as it came).
fn agent(opts: &Options, redirects: u32) -> Result<ureq::Agent, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let config = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let system = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
        add_pem_file(&mut roots, &system, false)?;
        for ca in &opts.ca_certs {
            add_pem_file(&mut roots, ca, true)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .timeout_connect(opts.limits.connect())
        // The idle timeout: every read (status line, headers, body) waits
        // at most this long for a byte.
        .timeout_read(opts.limits.idle)
        .timeout_write(opts.limits.idle)
        .user_agent(USER_AGENT)
        .redirects(redirects)
        // HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY, as curl reads them.
        .try_proxy_from_env(true)
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
    /// For GET and HEAD: follows redirects.
    agent: ureq::Agent,
    /// For requests with a body (POST, PUT, PATCH): follows none.
    strict: ureq::Agent,
    credentials: Credentials,
    challenge: Challenge,
    tokens: RefCell<BTreeMap<String, Zeroizing<String>>>,
    limits: deadline::NetLimits,
    /// Retries left for this registry (all requests together).
    retries: Cell<u32>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

fn short_body(r: ureq::Response) -> String {
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

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(500 << attempt.min(4)));
}

impl Client {
    /// Connects to `host` (host[:port]): pings `/v2/` over https (falling
    /// back to http for loopback or `insecure`) and learns how to log in.
    pub fn connect(host: &str, opts: &Options) -> Result<Client, RegistryError> {
        let strict = agent(opts, 0)?;
        let agent = agent(opts, 5)?;
        let credentials = auth::resolve(host, opts.credentials.clone());
        let mut schemes = vec!["https"];
        if opts.insecure || is_loopback(host) {
            schemes.push("http");
        }
        let mut last = String::new();
        // A scheme whose /v2/ stalled past the idle timeout is not asked
        // again (a stall is no transient failure: three more idle periods
        // per reference is what issue 17 item 2 was about).
        let mut stalled: Vec<&str> = Vec::new();
        for attempt in 0..3 {
            for scheme in &schemes {
                if stalled.contains(scheme) {
                    continue;
                }
                let base = format!("{scheme}://{host}");
                // No overall timeout: in ureq it replaces the idle timeout
                // (the agent's read timeout) on every read, so a stalled
                // /v2/ would cost all of it; each read waits at most idle.
                let challenge = match agent.get(&format!("{base}/v2/")).call() {
                    Ok(_) => Challenge::None,
                    Err(ureq::Error::Status(401, r)) => r
                        .header("WWW-Authenticate")
                        .map(parse_challenge)
                        .unwrap_or(Challenge::Basic),
                    Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
                        last = format!("{base}/v2/ answered {code}");
                        continue;
                    }
                    // Over https, some registries do not serve /v2/ itself:
                    // go on. Over http, anything else is not a registry (a
                    // TLS server answers plain http with 400): keep the https
                    // error, which says why.
                    Err(ureq::Error::Status(_, _)) if *scheme == "https" => Challenge::None,
                    Err(ureq::Error::Status(_, _)) => continue,
                    Err(ureq::Error::Transport(t)) => {
                        if deadline::transport_timed_out(&t) {
                            stalled.push(scheme);
                        }
                        if *scheme == "https" || last.is_empty() {
                            last = format!("{base}: {t}");
                        }
                        continue;
                    }
                };
                return Ok(Client {
                    host: host.to_string(),
                    base,
                    agent,
                    strict,
                    credentials,
                    challenge,
                    tokens: RefCell::new(BTreeMap::new()),
                    limits: opts.limits,
                    retries: Cell::new(deadline::RETRY_BUDGET),
                });
            }
            if stalled.len() == schemes.len() {
                break;
            }
            if attempt < 2 {
                backoff(attempt);
            }
        }
        Err(RegistryError::Unreachable {
            host: host.to_string(),
            reason: last,
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

    /// The Authorization header for `scope`, fetching a token if needed.
    fn authorization(&self, scope: &str) -> Result<Option<Zeroizing<String>>, RegistryError> {
        match &self.challenge {
            Challenge::None => Ok(self.credentials.basic_header()),
            Challenge::Basic => match self.credentials.basic_header() {
                Some(h) => Ok(Some(h)),
                None => Err(RegistryError::Unauthorized {
                    host: self.host.clone(),
                    how: auth::describe(&self.credentials),
                    scope: scope.to_string(),
                }),
            },
            Challenge::Bearer { realm, service } => {
                if let Credentials::Token(t) = &self.credentials {
                    return Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))));
                }
                if let Some(t) = self.tokens.borrow().get(scope) {
                    return Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))));
                }
                // Credentials go to the token service only over https (or
                // where plain http was accepted for the registry itself).
                let safe_realm = realm.starts_with("https://") || self.base.starts_with("http://");
                let result = match (&self.credentials, safe_realm) {
                    // An identity token is a refresh token: exchange it.
                    (Credentials::IdentityToken(t), true) => {
                        let mut form = vec![
                            ("grant_type", "refresh_token"),
                            ("client_id", "airlock"),
                            ("scope", scope),
                            ("refresh_token", t.as_str()),
                        ];
                        if let Some(s) = service {
                            form.push(("service", s));
                        }
                        self.agent
                            .post(realm)
                            .timeout(SMALL_REQUEST)
                            .send_form(&form)
                    }
                    _ => {
                        let mut req = self
                            .agent
                            .get(realm)
                            .timeout(SMALL_REQUEST)
                            .query("scope", scope);
                        if let Some(s) = service {
                            req = req.query("service", s);
                        }
                        if let (Some(h), true) = (self.credentials.basic_header(), safe_realm) {
                            req = req.set("Authorization", &h);
                        }
                        req.call()
                    }
                };
                let resp = result.map_err(|e| match e {
                    ureq::Error::Status(401 | 403, _) => RegistryError::Unauthorized {
                        host: self.host.clone(),
                        how: auth::describe(&self.credentials),
                        scope: scope.to_string(),
                    },
                    ureq::Error::Status(status, r) => RegistryError::Status {
                        method: "GET",
                        url: realm.clone(),
                        status,
                        body: short_body(r),
                    },
                    ureq::Error::Transport(t) => RegistryError::Transfer {
                        method: "GET",
                        url: realm.clone(),
                        reason: t.to_string(),
                    },
                })?;
                let v: serde_json::Value =
                    serde_json::from_reader(resp.into_reader().take(1 << 20)).map_err(|e| {
                        RegistryError::Transfer {
                            method: "GET",
                            url: realm.clone(),
                            reason: format!("the token answer is not JSON: {e}"),
                        }
                    })?;
                let token = v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .ok_or_else(|| RegistryError::Transfer {
                        method: "GET",
                        url: realm.clone(),
                        reason: "the token answer holds no token".into(),
                    })?
                    .to_string();
                self.tokens
                    .borrow_mut()
                    .insert(scope.to_string(), Zeroizing::new(token.clone()));
                Ok(Some(Zeroizing::new(format!("Bearer {token}"))))
            }
        }
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
    #[allow(clippy::too_many_arguments)]
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
            if let Some(a) = self.authorization(&scope)? {
                req = req.set("Authorization", &a);
            }
            for (k, v) in headers {
                req = req.set(k, v);
            }
            let asked = requested_url(&req);
            let result = match body {
                Some(b) => req.send_bytes(b),
                None => req.call(),
            };
            let err = match result {
                Ok(r) => return check_status(method, &asked, r, expect),
                // A bearer token may have expired during a long upload: get
                // a fresh one, once.
                Err(ureq::Error::Status(401, _))
                    if !renewed && self.tokens.borrow_mut().remove(&scope).is_some() =>
                {
                    renewed = true;
                    continue;
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
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("digest=");
        url.push_str(&digest.replace(':', "%3A"));
        let mut req = self
            .strict
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
