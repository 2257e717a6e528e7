//! Command-line definitions (clap). Only parsing lives here; `run` turns
//! these into library calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[path = "network_args.rs"]
mod network_args;
pub use network_args::{NetworkLimitArgs, RegistryArgs, VexAuthArgs};

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
    #[command(after_help = "Example:\n  airlock keygen --out builder")]
    Keygen(KeygenArgs),
    /// Collect Trivy data into one signed bundle (connected side)
    #[command(
        after_help = "Example:\n  airlock export -o trivy-{date}.airlock --sign-key builder.key --db-repository mirror.gcr.io/aquasec/trivy-db:2 --java-db-repository mirror.gcr.io/aquasec/trivy-java-db:1"
    )]
    Export(ExportArgs),
    /// Check every signature and every byte of a bundle; write nothing
    #[command(
        after_help = "Example:\n  airlock verify trivy-2026-12-01.airlock --key builder.pub"
    )]
    Verify(VerifyArgs),
    /// Show what a bundle holds (reads only its start)
    #[command(
        after_help = "Example:\n  airlock inspect trivy-2026-12-01.airlock --key builder.pub"
    )]
    Inspect(InspectArgs),
    /// Verify a bundle, then install it into a Trivy cache (air-gapped side)
    #[command(
        after_help = "Example:\n  airlock import trivy-2026-12-01.airlock --trust trust.toml --cache-dir /var/cache/trivy"
    )]
    Import(ImportArgs),
    /// Add an approval signature to a bundle (its content and earlier signatures stay as they are)
    #[command(
        after_help = "Example:\n  airlock sign trivy-2026-12-01.airlock --sign-key approver.key --trust trust.toml"
    )]
    Sign(SignArgs),
    /// Put back what the last import replaced in a Trivy cache
    #[command(after_help = "Example:\n  airlock rollback --cache-dir /var/cache/trivy")]
    Rollback(CacheArgs),
    /// Show what a Trivy cache holds, how old each component is and where it came from; with --max-age or --max-db-age, exit 9 when one is older or missing
    #[command(
        after_help = "Exit codes: 0 fresh (or no limit given), 9 a component older than its limit or missing (one `airlock: stale:` line each on stderr), 1 the cache cannot be read, 2 usage.\n\nExample (a daily monitoring check):\n  airlock status --cache-dir /var/cache/trivy --max-db-age 7d --skip java-db"
    )]
    Status(StatusArgs),
    /// Cut a bundle into verified parts for removable media (FAT32, DVD, Blu-ray)
    #[command(
        after_help = "Example:\n  airlock split trivy-2026-12-01.airlock --split fat32 --sign-key builder.key --key builder.pub"
    )]
    Split(SplitArgs),
    /// Verify every part of a split bundle and join them into one bundle file
    #[command(
        after_help = "Example:\n  airlock join /media/usb/trivy-2026-12-01.airlock.001 -o trivy-2026-12-01.airlock --key builder.pub"
    )]
    Join(JoinArgs),
    /// Check the hash chain of an import audit log
    #[command(after_help = "Example:\n  airlock audit --cache-dir /var/cache/trivy")]
    Audit(AuditArgs),
    /// Check an import receipt's signature and show it
    #[command(after_help = "Example:\n  airlock verify-receipt receipt.json --key host.pub")]
    VerifyReceipt(VerifyReceiptArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell) on stdout
    #[command(
        after_help = "Example:\n  source <(airlock completion bash)\n  airlock completion zsh > \"${fpath[1]}/_airlock\""
    )]
    Completion(CompletionArgs),
    /// Write man pages (airlock.1 and one per subcommand) into a directory
    #[command(after_help = "Example:\n  airlock man --out /usr/local/share/man/man1")]
    Man(ManArgs),
    /// Write Trivy's configuration file (trivy.yaml) that scans with a cache offline
    TrivyConfig(TrivyConfigArgs),
}

/// `airlock trivy-config`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  airlock trivy-config --cache-dir /var/cache/trivy -o /etc/trivy/trivy.yaml\n  trivy --config /etc/trivy/trivy.yaml rootfs /"
)]
pub struct TrivyConfigArgs {
    /// Trivy's cache directory (what it holds decides the skip flags) [default: TRIVY_CACHE_DIR, else $XDG_CACHE_HOME/trivy, else ~/.cache/trivy]
    #[arg(long = "cache-dir", value_name = "DIR", env = "AIRLOCK_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Write the file here (it must not exist) instead of stdout
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Let Trivy update the vulnerability DB from this internal repository instead of skipping updates (repeatable, in order)
    #[arg(long = "db-repository", value_name = "REF")]
    pub db_repository: Vec<String>,
    /// Let Trivy update the Java DB from this internal repository instead of skipping updates (repeatable, in order)
    #[arg(long = "java-db-repository", value_name = "REF")]
    pub java_db_repository: Vec<String>,
    /// Let Trivy update the checks bundle from this internal repository instead of skipping updates
    #[arg(long = "checks-bundle-repository", value_name = "REF")]
    pub checks_bundle_repository: Option<String>,
}

// Issue 14 (status, Trivy's defaults, completions, man pages): kept in one
// block to merge cleanly.

/// `airlock status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Trivy's cache directory [default: TRIVY_CACHE_DIR, else $XDG_CACHE_HOME/trivy, else ~/.cache/trivy]
    #[arg(long = "cache-dir", value_name = "DIR", env = "AIRLOCK_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Fail (exit 9) when any component is older than DURATION (e.g. 7d, 36h, 2w) or missing
    #[arg(long = "max-age", value_name = "DURATION")]
    pub max_age: Option<String>,
    /// The same for the databases (trivy-db, java-db) by their UpdatedAt, instead of --max-age
    #[arg(long = "max-db-age", value_name = "DURATION")]
    pub max_db_age: Option<String>,
    /// Leave a component out of the check: trivy-db, java-db, checks or vex:NAME (repeatable)
    #[arg(long = "skip", value_name = "COMPONENT")]
    pub skip: Vec<String>,
    /// The audit log that says which bundle each component came from [default: DIR/airlock-audit.jsonl]
    #[arg(long = "audit-log", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Print a JSON report on stdout (README.md, "status --json")
    #[arg(long)]
    pub json: bool,
}

/// `airlock completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `airlock man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write airlock.1, airlock-export.1, ... into (created if missing)
    #[arg(long = "out", value_name = "DIR")]
    pub out: PathBuf,
}

// End of the issue 14 block.

/// `airlock audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The cache directory whose airlock-audit.jsonl to check [default: AIRLOCK_CACHE_DIR, else Trivy's: TRIVY_CACHE_DIR, else $XDG_CACHE_HOME/trivy, else ~/.cache/trivy]
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

/// Who is trusted: `--key` files (any one suffices) or a `--trust` policy,
/// one of the two (an argument group, so that a usage error names both).
#[derive(Debug, Args)]
#[group(id = "trusted", required = true, multiple = false)]
pub struct TrustArgs {
    /// A trusted public key (repeatable; any one valid signature suffices)
    #[arg(long = "key", value_name = "PUB", env = "AIRLOCK_KEY")]
    pub key: Vec<PathBuf>,
    /// A trust policy file (keys, roles, threshold, revocations, age limits; see examples/trust.toml) instead of --key
    #[arg(long = "trust", value_name = "POLICY", env = "AIRLOCK_TRUST")]
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
        env = "AIRLOCK_SIGN_KEY",
        required_unless_present = "profile"
    )]
    pub sign_key: Vec<PathBuf>,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(
        long = "passphrase-file",
        value_name = "FILE",
        env = "AIRLOCK_PASSPHRASE_FILE"
    )]
    pub passphrase_file: Option<PathBuf>,
    /// The vulnerability DB: a db.tar.gz as published, or registry references tried in order (repeatable)
    #[arg(
        long = "trivy-db",
        visible_alias = "db-repository",
        value_name = "FILE|REF"
    )]
    pub trivy_db: Vec<String>,
    /// The Java DB: a javadb.tar.gz as published, or registry references tried in order (repeatable)
    #[arg(
        long = "java-db",
        visible_alias = "java-db-repository",
        value_name = "FILE|REF"
    )]
    pub java_db: Vec<String>,
    /// The checks bundle: a bundle.tar.gz as published, or registry references tried in order (repeatable)
    #[arg(
        long = "checks",
        visible_alias = "checks-bundle-repository",
        value_name = "FILE|REF"
    )]
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
    #[command(flatten)]
    pub base: Box<BaseArgs>,
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

/// `export --base` (delta bundles).
#[derive(Debug, Args)]
pub struct BaseArgs {
    /// Carry trivy-db and java-db as deltas against this earlier FULL bundle (the one the importing side last imported); verified first
    #[arg(long = "base", value_name = "BUNDLE")]
    pub base: Option<PathBuf>,
    /// Public key the --base bundle must be signed by (repeatable) [default: the --sign-key's own public key]
    #[arg(long = "base-key", value_name = "PUBKEY", requires = "base")]
    pub base_key: Vec<PathBuf>,
    /// A trust policy the --base bundle must satisfy, instead of --base-key
    #[arg(
        long = "base-trust",
        value_name = "POLICY",
        requires = "base",
        conflicts_with = "base_key"
    )]
    pub base_trust: Option<PathBuf>,
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
    #[arg(long = "sign-key", value_name = "KEY", env = "AIRLOCK_SIGN_KEY")]
    pub sign_key: PathBuf,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(
        long = "passphrase-file",
        value_name = "FILE",
        env = "AIRLOCK_PASSPHRASE_FILE"
    )]
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
    #[arg(long = "sign-key", value_name = "KEY", env = "AIRLOCK_SIGN_KEY")]
    pub sign_key: PathBuf,
    /// Read the secret key's passphrase from the first line of FILE [default: AIRLOCK_PASSPHRASE, or ask on the terminal]
    #[arg(
        long = "passphrase-file",
        value_name = "FILE",
        env = "AIRLOCK_PASSPHRASE_FILE"
    )]
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

/// `airlock rollback`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Trivy's cache directory [default: TRIVY_CACHE_DIR, else $XDG_CACHE_HOME/trivy, else ~/.cache/trivy]
    #[arg(long = "cache-dir", value_name = "DIR", env = "AIRLOCK_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
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
    /// Trivy's cache directory (what scans pass as --cache-dir) [default, unless --push alone: TRIVY_CACHE_DIR, else $XDG_CACHE_HOME/trivy, else ~/.cache/trivy]
    #[arg(long = "cache-dir", value_name = "DIR", env = "AIRLOCK_CACHE_DIR")]
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
    #[arg(
        long = "passphrase-file",
        value_name = "FILE",
        env = "AIRLOCK_PASSPHRASE_FILE"
    )]
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
