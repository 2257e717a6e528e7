//! One registry, after the `/v2/` ping: connecting (https, the plain http
//! fall-back, the ping) and the URLs shown in messages.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use zeroize::Zeroizing;

use super::agents::agent;
use super::call::backoff;
use super::token::{parse_challenge, Challenge};
use super::{auth, deadline, tls, Credentials, Options, RegistryError};

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
pub(super) const SMALL_REQUEST: Duration = Duration::from_secs(120);

/// The longest an UPLOAD of `size` bytes (airlock's own, of known size)
/// may take in all: 5 minutes plus 4 seconds per MiB (a floor of 256
/// KiB/s). Downloads are bounded by [`deadline`] instead, from the bytes
/// that actually arrive.
pub(super) fn blob_time(size: u64) -> Duration {
    Duration::from_secs(300 + (size >> 20).saturating_mul(4))
}

/// One registry, after the `/v2/` ping.
pub struct Client {
    pub(super) host: String,
    pub(super) base: String,
    /// For GET and HEAD: follows redirects (https-only for an https base).
    pub(super) agent: ureq::Agent,
    /// For requests with a body (POST, PUT, PATCH) and requests to a token
    /// service carrying credentials: follows none.
    pub(super) strict: ureq::Agent,
    pub(super) credentials: Credentials,
    /// Whether credentials may be sent to this registry at all: over https,
    /// or over plain http to a host named by `--plain-http`.
    pub(super) credentials_allowed: bool,
    /// The `/v2/` ping's challenge, or a later 401's.
    pub(super) challenge: RefCell<Challenge>,
    pub(super) tokens: RefCell<BTreeMap<String, Zeroizing<String>>>,
    pub(super) limits: deadline::NetLimits,
    /// Retries left for this registry (all requests together).
    pub(super) retries: Cell<u32>,
    /// The options, without the explicit credentials (the realm rules, the
    /// hosts named for plain http).
    pub(super) opts: Options,
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
            credentials: auth::resolve(host, opts)?,
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
    pub(super) fn url(
        &self,
        repo: &str,
        what: &str,
        reference: &str,
    ) -> Result<String, RegistryError> {
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

    /// The token scope for `repo`: `pull` only unless this client is to
    /// write ([`Options::push`]), so an export asks a token service for
    /// no more than it needs (a read-only robot account is enough).
    pub(super) fn scope(&self, repo: &str) -> String {
        if self.opts.push {
            format!("repository:{repo}:pull,push")
        } else {
            format!("repository:{repo}:pull")
        }
    }

    /// The time limits in force.
    pub fn limits(&self) -> deadline::NetLimits {
        self.limits
    }
}
