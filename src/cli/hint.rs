//! The words of the library's advice: a [`Hint`] in text is printed as it
//! is; a [`FlagHint`] names this command line's flags, so it is worded
//! here, where the flags are defined.

use std::path::PathBuf;
use std::sync::OnceLock;

use airlock::error::{FlagHint, Hint};

use super::args::Command;

/// The bundle and the policy file of this run, for advice that prints a
/// command to run next (set once, by [`remember_policy`]).
static POLICY_RUN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();

/// Remembers the whole bundle and the policy file a command judges it by
/// (verify, inspect, import with `--trust`), so that advice to get it
/// approved can name both. A part of a split bundle is not remembered:
/// `sign` needs the whole bundle.
pub fn remember_policy(command: &Command) {
    let (bundle, policy) = match command {
        Command::Verify(a) => (&a.bundle, a.trust.trust.as_ref()),
        Command::Import(a) => (&a.bundle, a.trust.trust.as_ref()),
        Command::Inspect(a) => (&a.bundle, a.trust.as_ref()),
        _ => return,
    };
    let Some(policy) = policy else { return };
    if airlock::bundle::parts::locate(bundle)
        .ok()
        .flatten()
        .is_none()
    {
        let _ = POLICY_RUN.set((bundle.clone(), policy.clone()));
    }
}

/// A host (or any word) as it must be typed in a shell.
fn word(w: &str) -> String {
    airlock::layout::scan::shell_quote(w)
}

/// The command that adds an approval, with this run's bundle and policy
/// when known (issue 15: the advice must work as typed, KEY aside).
fn sign_again(role: Option<&str>) -> String {
    let (bundle, policy) = match POLICY_RUN.get() {
        Some((b, p)) => (airlock::text::shell_word(b), airlock::text::shell_word(p)),
        None => ("BUNDLE".to_string(), "POLICY".to_string()),
    };
    let by = match role {
        Some(r) => format!("a key with role {r:?}"),
        None => "another key the policy trusts".to_string(),
    };
    format!(
        "get the bundle approved by {by}: airlock sign {bundle} --sign-key KEY --trust {policy}"
    )
}

/// Where VEX credentials go instead of a `--vex-repo` URL.
pub const VEX_CREDENTIALS_NOT_IN_URL: &str = "give the URL without them, and the credentials with --vex-username and --vex-password-stdin or --vex-password-file, or --vex-token-file (or AIRLOCK_VEX_USERNAME/AIRLOCK_VEX_PASSWORD, AIRLOCK_VEX_TOKEN)";

/// The lines of `hint` (without the `hint: ` prefix), in order, each once.
pub fn lines(hint: &Hint) -> Vec<String> {
    let mut out = Vec::new();
    push(hint, &mut out);
    out
}

fn push(hint: &Hint, out: &mut Vec<String>) {
    match hint {
        Hint::Text(t) => add(out, t.clone()),
        Hint::Flag(f) => add(out, render_flag(f)),
        Hint::Several(hints) => hints.iter().for_each(|h| push(h, out)),
    }
}

fn add(out: &mut Vec<String>, line: String) {
    if !out.contains(&line) {
        out.push(line);
    }
}

/// Advice naming the command line's flags, in words.
pub fn render_flag(hint: &FlagHint) -> String {
    match hint {
        FlagHint::ReplaceOutput => "choose another output, or pass --force to replace it".into(),
        FlagHint::ReplaceBundle => "choose another -o path, or pass --force to replace it".into(),
        FlagHint::Passphrase => "airlock asks for it on a terminal; otherwise give --passphrase-file FILE or set AIRLOCK_PASSPHRASE".into(),
        FlagHint::NameSources => "give at least one of --trivy-db, --java-db, --checks, --vex-manifest/--vex-archive or --from-cache".into(),
        FlagHint::CreatedSkew { skew } => format!("a bundle may be dated at most {skew} ahead of this host's clock; check the clock, or leave --created out to use it"),
        FlagHint::AllowDowngrade => "if this is intended (say, to back out a bad database), import again with --allow-downgrade, which the audit log records as forced; nothing was written".into(),
        FlagHint::PlainHttp { host, serves } => format!("if {host} really {serves}, name it: --plain-http {}", word(host)),
        FlagHint::NotTls { host, ca_cert: false } => format!("{host} does not speak TLS; if it really is a plain-http registry, name it: --plain-http {}", word(host)),
        FlagHint::NotTls { host, ca_cert: true } => format!("{host} does not speak TLS, and with --ca-cert given no registry falls back to plain http; if it really is a plain-http registry, name it: --plain-http {}", word(host)),
        FlagHint::PrivateCa => "a registry whose certificate comes from a private CA needs --ca-cert FILE; to accept any certificate from this host alone: --insecure-skip-verify HOST".into(),
        FlagHint::DeadlineBase => "the registry did not answer in time (--network-deadline-base), or sent the client where it cannot go".into(),
        FlagHint::IdleTimeout => "the registry sent nothing within the idle timeout (--network-idle-timeout)".into(),
        FlagHint::AllowTokenRealm { registry, realm_host } => format!("if {realm_host} really is the token service of {registry}, allow it: --allow-token-realm {}", word(realm_host)),
        FlagHint::Credentials { host } => format!("give --username and --password-stdin, set TRIVY_USERNAME/TRIVY_PASSWORD, or log in with `docker login {}`", word(host)),
        FlagHint::VexCredentials { host } => format!("if {host} wants credentials, give --vex-username with --vex-password-stdin or --vex-password-file, or --vex-token-file (or AIRLOCK_VEX_USERNAME/AIRLOCK_VEX_PASSWORD, AIRLOCK_VEX_TOKEN); they go to the first --vex-repo's server only"),
        FlagHint::NetworkLimits => "a server that stalls is given up on; the limits are set by --network-idle-timeout, --network-deadline-base and --network-min-rate".into(),
        FlagHint::TrustKeys => "pass --key FILE.pub with the public key of whoever signed the bundle, or --trust POLICY.toml".into(),
        FlagHint::SignerKey => "pass --key with the public key of the bundle's signer, or get the bundle re-signed by a trusted key".into(),
        FlagHint::SignAgain { role } => sign_again(role.as_deref()),
        FlagHint::ForceApproval => "sign with a key the policy counts (one of the [[key]] entries in the policy file that is not revoked), or pass --force to add this signature anyway: it is shown, never counted".into(),
        FlagHint::FromCache => "point --from-cache at the directory Trivy's --cache-dir names (default ~/.cache/trivy)".into(),
        FlagHint::GiveFiles { kind } => format!("on a host without internet access, give the files (--{kind} FILE) or an internal registry"),
    }
}
