//! How to reach registries (and VEX servers).

use std::path::PathBuf;

use super::{deadline, Credentials, HostList, RequestLog};

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
    /// Whether the client is to write (`import --push`): token scopes then
    /// ask for `pull,push`; else for `pull` only.
    pub push: bool,
    /// Where each request is recorded (`--debug`); `None`: nowhere.
    pub request_log: Option<RequestLog>,
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
