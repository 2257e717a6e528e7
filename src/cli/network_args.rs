//! The network flags (clap): how to reach registries and VEX servers, VEX
//! server credentials, and download time limits. `network.rs` turns them
//! into the library's requests.

use std::path::PathBuf;

use clap::Args;

/// How to reach registries (and VEX servers).
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Registry user name (with --password-stdin) [default: TRIVY_USERNAME, or the Docker config]
    #[arg(long = "username", value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from stdin
    #[arg(long = "password-stdin", requires = "username")]
    pub password_stdin: bool,
    /// Trust this CA certificate (PEM) for registries and VEX servers (repeatable); no registry then falls back to plain http
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Speak plain http to this registry or VEX host, credentials included (repeatable; HOST or HOST:PORT; without a port, every port)
    #[arg(long = "plain-http", value_name = "HOST")]
    pub plain_http: Vec<String>,
    /// Accept any TLS certificate from this host, on any port (repeatable; a certificate names a host, not a port); every other host is verified (the alias is the name oras, zarf and hauler use)
    #[arg(
        long = "insecure-skip-verify",
        visible_alias = "insecure-skip-tls-verify",
        value_name = "HOST"
    )]
    pub insecure_skip_verify: Vec<String>,
    /// Let this host's token service receive registry credentials although it is on another domain than the registry (repeatable)
    #[arg(long = "allow-token-realm", value_name = "HOST")]
    pub allow_token_realm: Vec<String>,
    /// Deprecated (use --plain-http / --insecure-skip-verify): for the registries and VEX servers this run names itself only, accept any certificate, and plain http when the server does not speak TLS
    #[arg(long)]
    pub insecure: bool,
    /// Log each registry, token service and VEX request on stderr: method, URL (user info and query values left out), status, bytes, time; never a credential or token
    #[arg(long = "debug", short = 'v')]
    pub debug: bool,
}

/// Credentials for a VEX server (the first `--vex-repo`'s origin only).
#[derive(Debug, Args)]
pub struct VexAuthArgs {
    /// VEX server user name (HTTP basic; the password from --vex-password-stdin or --vex-password-file) [default: AIRLOCK_VEX_USERNAME]
    #[arg(long = "vex-username", value_name = "USER")]
    pub vex_username: Option<String>,
    /// Read the VEX server password from stdin [default: AIRLOCK_VEX_PASSWORD]
    #[arg(long = "vex-password-stdin", conflicts_with_all = ["vex_password_file", "password_stdin"])]
    pub vex_password_stdin: bool,
    /// Read the VEX server password from FILE (its first line)
    #[arg(long = "vex-password-file", value_name = "FILE")]
    pub vex_password_file: Option<PathBuf>,
    /// Read a bearer token for the VEX server from FILE (its first line) [default: AIRLOCK_VEX_TOKEN]
    #[arg(long = "vex-token-file", value_name = "FILE", conflicts_with_all = ["vex_username", "vex_password_stdin", "vex_password_file"])]
    pub vex_token_file: Option<PathBuf>,
}

/// Time limits for downloads from registries, token services and VEX
/// servers (issue 17; see src/registry/deadline.rs). Kept apart from
/// [`RegistryArgs`], which also serves `import --push`.
#[derive(Debug, Args)]
pub struct NetworkLimitArgs {
    /// Give up on a server that sends nothing for SECS (then try the next reference) [default: AIRLOCK_NETWORK_IDLE_TIMEOUT, or 60]
    #[arg(long = "network-idle-timeout", value_name = "SECS")]
    pub idle_timeout: Option<String>,
    /// Overall deadline of a download: SECS plus the time what arrived takes at --network-min-rate [default: AIRLOCK_NETWORK_DEADLINE_BASE, or 120]
    #[arg(long = "network-deadline-base", value_name = "SECS")]
    pub deadline_base: Option<String>,
    /// Floor rate of a download after --network-deadline-base, bytes per second (e.g. 256K, 1M) [default: AIRLOCK_NETWORK_MIN_RATE, or 256K]
    #[arg(long = "network-min-rate", value_name = "RATE")]
    pub min_rate: Option<String>,
    /// The longest Retry-After (429/503) waited for; a server asking for more is given up on at once [default: AIRLOCK_NETWORK_MAX_RETRY_AFTER, or 60]
    #[arg(long = "network-max-retry-after", value_name = "SECS")]
    pub max_retry_after: Option<String>,
}
