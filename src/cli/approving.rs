//! `keygen` and `sign`: making keys and countersigning bundles.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::failure::{Context as _, Failure, Result};

use airlock::bundle::parts::{self};
use airlock::fsio::{AtomicFile, CommitError, Replace};
use airlock::keys::SecretKey;

use super::args::{KeygenArgs, SignArgs};

use super::*;

pub(super) fn keygen(a: KeygenArgs) -> Result<()> {
    let key = SecretKey::generate(&a.comment)?;
    let sk_path = with_suffix(&a.out, ".key");
    let pk_path = with_suffix(&a.out, ".pub");
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            // Today's exit code for it: 1, as for any file airlock will not
            // overwrite on its own.
            return Err(Failure::host(format!("{} already exists", p.display()))
                .with_hint("choose another --out prefix; airlock never overwrites a key"));
        }
    }
    let pass = if a.unencrypted {
        None
    } else {
        Some(passphrase::new_passphrase(a.passphrase_file.as_deref())?)
    };
    let sk_text = key.to_text_with(pass.as_ref().map(|p| p.as_slice()))?;
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
        sk_path.display(),
        if a.unencrypted {
            "unencrypted: keep it offline"
        } else {
            "encrypted with the passphrase (scrypt, as minisign)"
        }
    );
    println!("public key: {}", pk_path.display());
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
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    match f.commit(Replace::Never) {
        Ok(()) => Ok(()),
        Err(CommitError::Exists(e)) => {
            Err(e).with_context(|| format!("cannot create {}", path.display()))
        }
        Err(e) => Err(e.into_io()).with_context(|| format!("cannot write {}", path.display())),
    }
}

pub(super) fn sign(a: SignArgs) -> Result<()> {
    if parts::locate(&a.bundle).ok().flatten().is_some() {
        return Err(Failure::usage(format!(
            "{} is part of a split bundle; sign works on a whole bundle",
            a.bundle.display()
        ))
        .with_hint("`airlock join` the parts, sign the bundle, then `airlock split` it again"));
    }
    let policy = trust_policy(&a.trust)?;
    // The signed copy is written beside the bundle: its folder and room are
    // checked before the key is unlocked (issue 15).
    if let Ok(m) = std::fs::metadata(&a.bundle) {
        let bundle = std::slice::from_ref(&a.bundle);
        airlock::fsio::preflight::check_outputs(bundle, true, Some(m.len()))?;
    }
    let key = passphrase::load_secret(&a.sign_key, a.passphrase_file.as_deref())?;
    let report = airlock::sign::sign(&a.bundle, &policy, &key, &a.comment)?;
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "signed {} with key {}",
        report.bundle.display(),
        report.key_id
    )?;
    writeln!(
        out,
        "manifest sha256 {} (unchanged)",
        report.manifest_sha256
    )?;
    writeln!(out, "trusted comment: {}", report.trusted_comment)?;
    writeln!(
        out,
        "signatures now: key {}",
        report.signed_by.join(", key ")
    )?;
    Ok(())
}
