//! How to reach registries (and VEX servers).

use std::path::PathBuf;

use super::{deadline, Credentials, HostList, HostPort, RequestLog};

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
    /// The credentials for one VEX server (`--vex-username`,
    /// `--vex-token-file`, `AIRLOCK_VEX_*`), and the origin they belong to.
    pub vex_credentials: Option<VexCredentials>,
    /// Where each request is recorded (`--debug`); `None`: nowhere.
    pub request_log: Option<RequestLog>,
}

/// Credentials for a VEX server: sent with the requests to their origin
/// (scheme, host and port) and nowhere else (see
/// [`crate::source::vexhub`]).
#[derive(Debug, Clone)]
pub struct VexCredentials {
    /// Whether the origin is https.
    pub https: bool,
    /// Its host and port (`None`: the scheme's default).
    pub host: HostPort,
    /// A user name and password, or a bearer token.
    pub credentials: Credentials,
}

impl VexCredentials {
    /// The credentials for `url` when it is on their origin.
    pub fn for_url(&self, url: &str) -> Option<&Credentials> {
        let https = super::agents::is_https(url);
        (https == self.https && HostPort::of_url(url).as_ref() == Some(&self.host))
            .then_some(&self.credentials)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vex_credentials_go_to_their_origin_only() {
        let c = VexCredentials {
            https: true,
            host: HostPort::of_url("https://VEX.example/repo").unwrap(),
            credentials: Credentials::Token(zeroize::Zeroizing::new("t".into())),
        };
        for (url, sent) in [
            (
                "https://vex.example/repo/.well-known/vex-repository.json",
                true,
            ),
            ("https://vex.example:443/a.zip", true),
            ("HTTPS://Vex.Example/a.zip", true),
            ("http://vex.example/a.zip", false),
            ("https://vex.example:8443/a.zip", false),
            ("https://vex.example.evil/a.zip", false),
            ("https://evil.example\\@vex.example/a.zip", false),
            ("https://evil.example/vex.example", false),
            ("file:///vex.example/a.zip", false),
        ] {
            assert_eq!(c.for_url(url).is_some(), sent, "{url}");
        }
    }
}
