//! Command-line definitions (clap). Only parsing lives here; `run` turns
//! these into library calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Carry Trivy's vulnerability DB, Java DB, checks bundle and VEX
/// repositories across an air gap in one signed bundle.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a signing key pair (minisign format)
    Keygen(KeygenArgs),
    /// Collect Trivy data into one signed bundle (connected side)
    Export(ExportArgs),
    /// Check every signature and every byte of a bundle; write nothing
    Verify(VerifyArgs),
    /// Show what a bundle holds (reads only its start)
    Inspect(InspectArgs),
    /// Verify a bundle, then install it into a Trivy cache (air-gapped side)
    Import(ImportArgs),
    /// Add an approval signature to a bundle (its content and earlier signatures stay as they are)
    Sign(SignArgs),
    /// Put back what the last import replaced in a Trivy cache
    Rollback(CacheArgs),
    /// Show what a Trivy cache holds and what the kept previous generation costs
    Status(CacheArgs),
    /// Cut a bundle into verified parts for removable media (FAT32, DVD, Blu-ray)
    Split(SplitArgs),
    /// Verify every part of a split bundle and join them into one bundle file
    Join(JoinArgs),
    /// Check the hash chain of an import audit log
    Audit(AuditArgs),
    /// Check an import receipt's signature and show it
    VerifyReceipt(VerifyReceiptArgs),
}

/// `airlock audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The cache directory whose airlock-audit.jsonl to check
    #[arg(long = "cache-dir", value_name = "DIR", conflicts_with = "log")]
    pub cache_dir: Option<PathBuf>,
    /// The log file to check
    #[arg(long = "log", value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

/// `airlock verify-receipt`.
#[derive(Debug, Args)]
pub struct VerifyReceiptArgs {
    /// The receipt (its signature is RECEIPT.minisig)
    #[arg(value_name = "RECEIPT")]
    pub receipt: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

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

/// Who is trusted: `--key` files (any one suffices) or a `--trust` policy.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// A trusted public key (repeatable; any one valid signature suffices)
    #[arg(
        long = "key",
        value_name = "PUB",
        required_unless_present = "trust",
        conflicts_with = "trust"
    )]
    pub key: Vec<PathBuf>,
    /// A trust policy file (keys, roles, threshold, revocations, age limits; see examples/trust.toml) instead of --key
    #[arg(long = "trust", value_name = "POLICY")]
    pub trust: Option<PathBuf>,
}

/// `airlock keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write PREFIX.key (secret, mode 0600) and PREFIX.pub
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
    /// A one-line comment stored with the key; signatures repeat it as `signer:` in their trusted comment
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub comment: String,
    /// Store the secret key in clear (default: encrypted with a passphrase, as minisign does)
    #[arg(long)]
    pub unencrypted: bool,
    /// Read the new key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask twice on the terminal]
    #[arg(
        long = "passphrase-file",
        value_name = "FILE",
        conflicts_with = "unencrypted"
    )]
    pub passphrase_file: Option<PathBuf>,
}

/// `airlock export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// An export profile (TOML; see examples/export.toml): sources, output, keys, labels; flags override it
    #[arg(long = "profile", value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The bundle file to write ({date} and {datetime} are replaced by the UTC date/time)
    #[arg(
        short = 'o',
        long = "output",
        value_name = "BUNDLE",
        required_unless_present = "profile"
    )]
    pub output: Option<PathBuf>,
    /// Secret key to sign with (repeatable)
    #[arg(
        long = "sign-key",
        value_name = "KEY",
        required_unless_present = "profile"
    )]
    pub sign_key: Vec<PathBuf>,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The vulnerability DB: a db.tar.gz as published, or registry references tried in order (repeatable)
    #[arg(long = "trivy-db", value_name = "FILE|REF")]
    pub trivy_db: Vec<String>,
    /// The Java DB: a javadb.tar.gz as published, or registry references tried in order (repeatable)
    #[arg(long = "java-db", value_name = "FILE|REF")]
    pub java_db: Vec<String>,
    /// The checks bundle: a bundle.tar.gz as published, or registry references tried in order (repeatable)
    #[arg(long = "checks", value_name = "FILE|REF")]
    pub checks: Vec<String>,
    /// A VEX repository to download, [NAME=]URL (repeatable; the first is named "default" unless named)
    #[arg(long = "vex-repo", value_name = "[NAME=]URL")]
    pub vex_repo: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub vex_auth: Box<VexAuthArgs>,
    #[command(flatten)]
    pub network_limits: Box<NetworkLimitArgs>,
    /// The checks bundle's version (e.g. 2.1.0), recorded as its OCI version annotation
    #[arg(long = "checks-version", value_name = "VERSION")]
    pub checks_version: Option<String>,
    /// A VEX repository's vex-repository.json (repeatable; pairs with --vex-archive in order)
    #[arg(long = "vex-manifest", value_name = "FILE")]
    pub vex_manifest: Vec<PathBuf>,
    /// The zip or tar.gz archive its location names (repeatable)
    #[arg(long = "vex-archive", value_name = "FILE")]
    pub vex_archive: Vec<PathBuf>,
    /// The repository's name in Trivy's repository.yaml (repeatable, in order; default "default" for a single repository)
    #[arg(long = "vex-name", value_name = "NAME")]
    pub vex_name: Vec<String>,
    /// Take db/, java-db/, policy/ and vex/repositories/* from an existing Trivy cache
    #[arg(long = "from-cache", value_name = "DIR")]
    pub from_cache: Option<PathBuf>,
    /// A label for the manifest, e.g. ticket=CHG-1234 (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The bundle's creation time (RFC 3339); the same inputs, keys and time give the same bytes [default: now]
    #[arg(long = "created", value_name = "RFC3339")]
    pub created: Option<String>,
    /// The bundle's place in its series (rollback protection: importers refuse a lower one)
    #[arg(long = "sequence", value_name = "N", conflicts_with = "sequence_file")]
    pub sequence: Option<u64>,
    /// Take the sequence from FILE (last used + 1, or 1) and record it there after the export
    #[arg(long = "sequence-file", value_name = "FILE")]
    pub sequence_file: Option<PathBuf>,
    /// The series the sequence counts in [default: "default", or the sequence file's]
    #[arg(long = "series", value_name = "NAME")]
    pub series: Option<String>,
    /// Write parts of at most SIZE (700M, 4G, 4GB, or fat32, cd, dvd, dvd-dl, bd25, bd50) named BUNDLE.001, ... with a signed index BUNDLE.parts, instead of one file
    #[arg(long = "split", value_name = "SIZE")]
    pub split: Option<String>,
    /// Also write BUNDLE.sha256sums beside the output (for `sha256sum -c`)
    #[arg(long)]
    pub sha256sums: bool,
    /// Replace BUNDLE (or its parts, removing any other BUNDLE.NNN of an earlier set) if it exists
    #[arg(long)]
    pub force: bool,
    /// Print a JSON report on stdout (and progress events as JSON lines on stderr)
    #[arg(long)]
    pub json: bool,
    /// No progress display
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `airlock split`.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The bundle to split (left as it is)
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// The largest part: bytes with a unit (700M, 4G, 4GB) or fat32, cd, dvd, dvd-dl, bd25, bd50
    #[arg(long = "split", value_name = "SIZE")]
    pub split: String,
    /// Name the parts after this path [default: BUNDLE]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Secret key to sign the part index with
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Also write BUNDLE.sha256sums beside the parts (for `sha256sum -c`)
    #[arg(long)]
    pub sha256sums: bool,
    /// Replace existing parts (any other BUNDLE.NNN of an earlier set is removed)
    #[arg(long)]
    pub force: bool,
    /// Print a JSON report on stdout (and progress events as JSON lines on stderr)
    #[arg(long)]
    pub json: bool,
    /// No progress display
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `airlock join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Any part of the set, or its .parts index
    #[arg(value_name = "PART")]
    pub parts: PathBuf,
    /// The bundle file to write
    #[arg(short = 'o', long = "output", value_name = "BUNDLE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Replace BUNDLE if it exists
    #[arg(long)]
    pub force: bool,
    /// Print a JSON report on stdout (and progress events as JSON lines on stderr)
    #[arg(long)]
    pub json: bool,
    /// No progress display
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `airlock verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle (or any part of a split bundle)
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// For a split bundle: check the part index and the parts against it (only the part named, when BUNDLE is a part), without reading the bundle inside
    #[arg(long = "parts-only")]
    pub parts_only: bool,
    /// Print a JSON report on stdout (and progress events as JSON lines on stderr)
    #[arg(long)]
    pub json: bool,
    /// No progress display
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `airlock inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle (or any part of a split bundle)
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Check the signatures against these public keys (repeatable)
    #[arg(long = "key", value_name = "PUB", conflicts_with = "trust")]
    pub key: Vec<PathBuf>,
    /// A trust policy file (keys, roles, threshold, revocations, age limits; see examples/trust.toml) instead of --key
    #[arg(long = "trust", value_name = "POLICY")]
    pub trust: Option<std::path::PathBuf>,
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// `airlock sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The bundle (rewritten in place, atomically)
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// The approver's secret key
    #[arg(long = "sign-key", value_name = "KEY")]
    pub sign_key: PathBuf,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Who approves, for the trusted comment (default: the key's own comment)
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub comment: String,
    /// Sign even if the --trust policy would not count this key's approval (unlisted or revoked); the signature is shown, never counted
    #[arg(long)]
    pub force: bool,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
    /// No progress display
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `airlock rollback` and `airlock status`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Trivy's cache directory
    #[arg(long = "cache-dir", value_name = "DIR")]
    pub cache_dir: PathBuf,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
}

/// `airlock import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bundle (or any part of a split bundle)
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Trivy's cache directory (what scans pass as --cache-dir)
    #[arg(
        long = "cache-dir",
        value_name = "DIR",
        required_unless_present = "push"
    )]
    pub cache_dir: Option<PathBuf>,
    /// Also push the databases and checks into this registry, as PREFIX/trivy-db:2, PREFIX/trivy-java-db:1, PREFIX/trivy-checks:2 (after the bundle is verified)
    #[arg(long = "push", value_name = "REGISTRY[/PREFIX]")]
    pub push: Option<String>,
    /// Push an artifact under another tag, e.g. trivy-db=2-2026-11 (repeatable)
    #[arg(long = "tag", value_name = "ARTIFACT=TAG", requires = "push")]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Also write a static VEX repository directory here (with --cache-dir)
    #[arg(long = "vex-dir", value_name = "DIR", requires = "cache_dir")]
    pub vex_dir: Option<PathBuf>,
    /// The Trivy that will use the cache, to name its version when a database schema is refused [default: trivy on PATH]
    #[arg(long = "trivy-bin", value_name = "PATH")]
    pub trivy_bin: Option<PathBuf>,
    /// Accept an older bundle (lower sequence) or database than the installed one, recorded as forced (unless the trust policy says downgrade = "never")
    #[arg(long = "allow-downgrade")]
    pub allow_downgrade: bool,
    /// Append this import (accepted or refused) to this log [default: DIR/airlock-audit.jsonl]
    #[arg(long = "audit-log", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Write a receipt of this import (JSON) to FILE
    #[arg(long = "receipt", value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Sign the receipt with this secret key (FILE.minisig, minisign format)
    #[arg(long = "receipt-key", value_name = "KEY", requires = "receipt")]
    pub receipt_key: Option<PathBuf>,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(long = "passphrase-file", value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The URL --vex-dir will be served at [default: its file:// URL]
    #[arg(long = "vex-url", value_name = "URL", requires = "vex_dir")]
    pub vex_url: Option<String>,
    /// Print a JSON report on stdout (and progress events as JSON lines on stderr)
    #[arg(long)]
    pub json: bool,
    /// No progress display
    #[arg(long, short = 'q')]
    pub quiet: bool,
}
