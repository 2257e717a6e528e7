//! The command line: parse, turn arguments into library plans, call the
//! library, print its reports (text, or JSON with `--json`).

/// Returns a usage error (exit code 2) from the enclosing function.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(UsageError(format!($($arg)*)).into())
    };
}

mod approving;
pub mod args;
mod bar;
mod cache_dir;
mod checking;
mod conventions;
mod exporting;
pub mod failure;
mod generations;
mod hint;
mod importing;
mod network;
pub(crate) mod passphrase;
mod profile;
pub mod show;
mod splitting;
mod stale;
mod status;
mod trivyconf;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use failure::Result;

use airlock::keys::PublicKey;
use airlock::policy::TrustPolicy;

use args::{Cli, Command};

/// A command line that cannot work as given (exit code 2, like clap's own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

const GENERATOR: &str = concat!("airlock ", env!("CARGO_PKG_VERSION"));

/// Whether the command asked for JSON (errors are then reported as JSON too).
pub fn wants_json(cli: &Cli) -> bool {
    match &cli.command {
        Command::Export(a) => a.json,
        Command::Verify(a) => a.json,
        Command::Inspect(a) => a.json,
        Command::Import(a) => a.json,
        Command::Sign(a) => a.json,
        Command::Rollback(a) => a.json,
        Command::Status(a) => a.json,
        Command::Split(a) => a.json,
        Command::Join(a) => a.json,
        Command::Audit(a) => a.json,
        Command::VerifyReceipt(a) => a.json,
        Command::Keygen(_) | Command::Completion(_) | Command::Man(_) | Command::TrivyConfig(_) => {
            false
        }
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    hint::remember_policy(&cli.command);
    match cli.command {
        Command::Keygen(a) => approving::keygen(a),
        Command::Export(a) => exporting::export(a),
        Command::Verify(a) => checking::verify(a),
        Command::Inspect(a) => checking::inspect(a),
        Command::Import(a) => importing::import(a),
        Command::Sign(a) => {
            for swept in airlock::sign::sweep_leftovers(&a.bundle) {
                let line = format!("airlock: {}\n", airlock::text::escape(&swept.to_string()));
                let _ = io::stderr().lock().write_all(line.as_bytes());
            }
            approving::sign(a)
        }
        Command::Rollback(a) => generations::rollback(a),
        Command::Status(a) => generations::status(a),
        Command::Split(a) => splitting::split(a),
        Command::Join(a) => splitting::join(a),
        Command::Audit(a) => checking::audit_check(a),
        Command::VerifyReceipt(a) => checking::verify_receipt(a),
        Command::Completion(a) => conventions::completion(a),
        Command::Man(a) => conventions::man(a),
        Command::TrivyConfig(a) => trivyconf::trivy_config(a),
    }
}

/// Prints `value` as JSON on stdout. The last line of defence for secrets
/// in URLs: whatever a report holds, no userinfo or query value of a URL
/// leaves the process (see `airlock::redact`).
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut text = airlock::redact::text(&text).into_owned();
    text.push('\n');
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// The policy of `--key`/`--trust`.
fn trust_policy(t: &args::TrustArgs) -> Result<TrustPolicy> {
    load_policy(&t.key, &t.trust)
}

/// The trust policy: a policy file (`--trust`), or any one of `--key`.
fn load_policy(keys: &[PathBuf], trust: &Option<PathBuf>) -> Result<TrustPolicy> {
    if let Some(path) = trust {
        return Ok(TrustPolicy::from_file(path)?);
    }
    let keys = keys
        .iter()
        .map(|p| PublicKey::from_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TrustPolicy::any_of(keys)?)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
