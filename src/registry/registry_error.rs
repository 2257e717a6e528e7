//! Why a registry request failed.

use std::path::PathBuf;
use std::time::Duration;

use crate::redact;

use super::{deadline, hosts, HostPort};

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
    /// A Docker credential helper ran over a limit (see `cred_helper`):
    /// it was stopped. Its output is never quoted (it may hold a secret).
    #[error("the credential helper {helper} for {host} {reason}")]
    CredentialHelper {
        /// `docker-credential-<name>`
        helper: String,
        /// The registry, `host[:port]`.
        host: String,
        /// Which limit.
        reason: String,
    },
    /// TLS set-up failed (a CA file that cannot be read).
    #[error("cannot use the CA certificate {}: {reason}", crate::text::path(path))]
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
            | RegistryError::CredentialHelper { .. }
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
            | RegistryError::CredentialHelper { .. }
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

    pub(super) fn transient(&self) -> bool {
        match self {
            // 500 and 501 say the server failed at this request, not that
            // it is busy: asking again gives the same answer.
            RegistryError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            RegistryError::Transfer { .. } | RegistryError::Unreachable { .. } => true,
            _ => false,
        }
    }
}
