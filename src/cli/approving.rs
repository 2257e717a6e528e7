//! `keygen` and `sign`: making keys and countersigning bundles.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::failure::{Context as _, Failure, Result};

use airlock::bundle::parts::{self};
use airlock::fsio::{AtomicFile, CommitError, Replace};
use airlock::keys::{SecretKey, SecretKeyFile};
use airlock::policy::SignerReport;
use airlock::sign::{SignOptions, SignReport};

use super::args::{KeygenArgs, SignArgs};
use super::bar::Reporter;

use super::*;

pub(super) fn keygen(a: KeygenArgs) -> Result<()> {
    let key = SecretKey::generate(&a.comment)?;
    let sk_path = with_suffix(&a.out, ".key");
    let pk_path = with_suffix(&a.out, ".pub");
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            // Today's exit code for it: 1, as for any file airlock will not
            // overwrite on its own.
            return Err(
                Failure::host(format!("{} already exists", super::show::path_line(p)))
                    .with_hint("choose another --out prefix; airlock never overwrites a key"),
            );
        }
    }
    let pass = if a.unencrypted {
        None
    } else {
        Some(passphrase::new_passphrase(a.passphrase_file.as_deref())?)
    };
    // The derivation's wait is a phase, as an unlock's is (issue 12).
    let progress = Reporter::new(false, false);
    let sk_text =
        key.to_text_reporting(pass.as_ref().map(|p| p.as_slice()), &sk_path, &progress)?;
    let pk_comment = if a.comment.is_empty() {
        format!("minisign public key {}", key.key_id())
    } else {
        format!("minisign public key {} ({})", key.key_id(), a.comment)
    };
    write_new(&sk_path, sk_text.as_bytes(), 0o600)?;
    if let Err(e) = write_new(
        &pk_path,
        key.public_key().to_text(&pk_comment).as_bytes(),
        0o644,
    ) {
        let _ = std::fs::remove_file(&sk_path);
        return Err(e);
    }
    println!("key id:     {}", key.key_id());
    println!(
        "secret key: {} (mode 0600, {})",
        super::show::path_line(&sk_path),
        if a.unencrypted {
            "unencrypted: keep it offline"
        } else {
            "encrypted with the passphrase (scrypt, as minisign)"
        }
    );
    println!("public key: {}", super::show::path_line(&pk_path));
    Ok(())
}

pub(super) fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Writes `path`, which must not exist, whole or not at all (a key half
/// written by a crash would be worse than none).
pub(super) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = AtomicFile::create(path, ".airlock-key-", ".partial", mode)
        .with_context(|| format!("cannot create {}", super::show::path_line(path)))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", super::show::path_line(path)))?;
    match f.commit(Replace::Never) {
        Ok(()) => Ok(()),
        Err(CommitError::Exists(e)) => {
            Err(e).with_context(|| format!("cannot create {}", super::show::path_line(path)))
        }
        Err(e) => Err(e.into_io())
            .with_context(|| format!("cannot write {}", super::show::path_line(path))),
    }
}

pub(super) fn sign(a: SignArgs) -> Result<()> {
    if parts::locate(&a.bundle).ok().flatten().is_some() {
        return Err(Failure::usage(format!(
            "{} is part of a split bundle; sign works on a whole bundle",
            super::show::path_line(&a.bundle)
        ))
        .with_hint("`airlock join` the parts, sign the bundle, then `airlock split` it again"));
    }
    let policy = trust_policy(&a.trust)?;
    // The signed copy is written beside the bundle (the file a link names):
    // that folder and its room are checked before the key is read or
    // unlocked (issue 15).
    if let Ok(real) = airlock::sign::signed_file(&a.bundle) {
        if let Ok(m) = std::fs::metadata(&real) {
            airlock::fsio::preflight::check_outputs(&[real], true, Some(m.len()))?;
        }
    }
    // A policy file says who approves; --key only who may vouch for the
    // bundle as it is.
    let judge = a.trust.trust.is_some();
    // The signer comment fits and the bundle has room for a signature,
    // before the key is read.
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    airlock::sign::check_signer(&a.comment, now)?;
    airlock::sign::check_room(&a.bundle)?;
    // The key file's kind and permissions, then whether its approval would
    // count, before the passphrase and its scrypt run when the key is not
    // encrypted (its public half is the key's own). An encrypted key's
    // .pub beside it is only its holder's word, never a reason to refuse:
    // the check after the unlock, with the key itself, decides.
    let file = SecretKeyFile::read(&a.sign_key)?;
    if judge && !file.is_encrypted() {
        if let Some(public) = file.public_key() {
            airlock::sign::check_approver(&policy, &public, a.force)?;
        }
    }
    let progress = Reporter::new(a.json, a.quiet);
    let key = file.unlock_reporting(
        &mut |p| passphrase::for_key(p, a.passphrase_file.as_deref()),
        &progress,
    )?;
    let options = SignOptions {
        comment: &a.comment,
        judge,
        force: a.force,
        progress: &progress,
    };
    let report = airlock::sign::sign_with(&a.bundle, &policy, &key, &options)?;
    if report.forced {
        let why = airlock::sign::check_approver(&policy, &key.public_key(), false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| {
                format!(
                    "{} has signed this bundle already under another key id",
                    report.signer
                )
            });
        // Names come from the policy (held to one line at load); escaped
        // all the same: this line is written to the terminal directly.
        let why = airlock::text::escape(&why);
        eprintln!("airlock: warning: {why}; signed anyway (--force): the signature is shown, never counted");
    }
    if a.json {
        return print_json(&report);
    }
    // Each line escaped whole: a name, a comment or the bundle's path
    // cannot print a line of its own (a forged "policy satisfied").
    let lines = [
        format!(
            "signed {} with {}",
            super::show::path_line(&report.bundle),
            report.signer
        ),
        format!("manifest sha256 {} (unchanged)", report.manifest_sha256),
        format!("trusted comment: {}", report.trusted_comment),
        signatures_now(&report),
    ];
    let mut out = io::stdout().lock();
    for line in lines {
        writeln!(out, "{}", airlock::text::escape(&line))?;
    }
    Ok(())
}

/// "signatures now: alice (builder), bob (security-officer) — policy
/// satisfied: 2 of 2", or what the policy still needs; with --key alone,
/// the key ids and that no policy said who approves.
fn signatures_now(report: &SignReport) -> String {
    let Some(a) = &report.approvals else {
        return format!(
            "signatures now: key {} (no trust policy given: --trust POLICY says whether this approval counts)",
            report.signed_by.join(", key ")
        );
    };
    // Those counted first, then the rest; each group in the bundle's order.
    let (counted, rest): (Vec<&SignerReport>, Vec<&SignerReport>) =
        a.signers.iter().partition(|r| r.counted);
    let who: Vec<String> = counted.into_iter().chain(rest).map(signer_words).collect();
    let tally = if a.counted <= a.threshold {
        format!("{} of {} approvals", a.counted, a.threshold)
    } else {
        format!("{} approvals ({} needed)", a.counted, a.threshold)
    };
    let needs: Vec<String> = a.still_needs.iter().map(|n| n.to_string()).collect();
    // The policy's age limits refuse the bundle whatever its approvals:
    // never "satisfied" when verify would refuse it.
    let standing = match (a.satisfied, &report.policy_refuses) {
        (true, None) => format!("policy satisfied: {tally}"),
        (true, Some(why)) => format!("{tally}, but the policy refuses the bundle: {why}"),
        (false, None) => format!(
            "policy not yet satisfied: {tally}; still needs: {}",
            needs.join(", ")
        ),
        (false, Some(why)) => format!(
            "policy not yet satisfied: {tally}; still needs: {}; and the policy refuses the bundle: {why}",
            needs.join(", ")
        ),
    };
    format!("signatures now: {} — {standing}", who.join(", "))
}

/// One signer: `alice (builder)` when the policy names it and counts it,
/// else its key id and why it does not count.
fn signer_words(r: &SignerReport) -> String {
    let name = match (&r.name, &r.role) {
        (Some(n), Some(role)) => format!("{n} ({role})"),
        (Some(n), None) => n.clone(),
        _ => format!("key {}", r.key_id),
    };
    if r.counted {
        return name;
    }
    let why = if r.revoked {
        "revoked, not counted"
    } else if !r.trusted {
        "not in the policy, not counted"
    } else {
        "same key as another signature, not counted again"
    };
    match r.name {
        Some(_) => format!("{name} [key {}: {why}]", r.key_id),
        None => format!("{name} [{why}]"),
    }
}
