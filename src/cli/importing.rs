//! `import`: the flags into an [`ImportRequest`], the library's transaction
//! run, and its outcome rendered (text or JSON). The audit entry and the
//! receipt are the library's (`airlock::install::transaction`).

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::failure::{Failure, Result};
use time::OffsetDateTime;

use airlock::install::audit::Logged;
use airlock::install::transaction::{Records, WrittenReceipt};
use airlock::install::ImportError;
use airlock::install::{
    Import, ImportOutcome, ImportReport, ImportRequest, PushTo, ReceiptRequest,
};
use airlock::layout::oci_repos::{PushReport, PushTarget};
use airlock::media::Input;
use airlock::policy::{SignerReport, TrustPolicy};
use airlock::registry::Client;

use super::args::ImportArgs;
use super::bar::Reporter;

use super::network::push_target;
use super::*;

pub(super) fn import(mut a: ImportArgs) -> Result<()> {
    // Without --cache-dir (or AIRLOCK_CACHE_DIR), Trivy's own default;
    // `--push` alone installs into no cache.
    if a.cache_dir.is_none() && a.push.is_none() {
        a.cache_dir = Some(cache_dir::trivy_default());
    }
    let progress = Reporter::new(a.json, a.quiet);
    let receipt_key = a
        .receipt_key
        .as_ref()
        .map(|p| passphrase::load_secret(p, a.passphrase_file.as_deref(), &progress))
        .transpose()?;
    let request = ImportRequest {
        bundle_name: a.bundle.display().to_string(),
        cache_dir: a.cache_dir.clone(),
        vex_dir: a.vex_dir.clone(),
        vex_url: a.vex_url.clone(),
        now: OffsetDateTime::now_utc(),
        allow_downgrade: a.allow_downgrade,
        audit_log: a.audit_log.clone(),
        receipt: a.receipt.clone().map(|path| ReceiptRequest {
            path,
            key: receipt_key,
        }),
        generator: GENERATOR.into(),
    };
    // A refusal before the bundle is read is recorded too.
    let (policy, input, push) = match prepare(&a) {
        Ok(prepared) => prepared,
        Err(e) => {
            let reason: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            warn_unrecorded(&request.record_refusal(&reason.join(": ")));
            return Err(e);
        }
    };
    let mut transaction = Import::new(&input, &policy, request);
    if let Some((client, target)) = &push {
        transaction = transaction.push_to(PushTo { client, target });
    }
    let mut outcome = transaction.run(&progress);
    if let Some(e) = outcome.refusal.take() {
        warn_unrecorded(&outcome.records);
        return Err(refused(e, a.trivy_bin.as_deref()));
    }
    if let Some(e) = outcome.records.audit_error.take() {
        return Err(Failure::from(e)
            .context("the import is complete, but it could not be recorded in the audit log"));
    }
    if let Some(e) = outcome.records.receipt_error.take() {
        return Err(Failure::from(e)
            .context("the import is complete, but its receipt could not be written"));
    }
    if let Some(v) = &outcome.verified {
        stale::print(&v.stale, a.quiet || a.json);
    }
    render(&outcome, a.json)?;
    match outcome.push_error.take() {
        Some(e) => Err(Failure::from(e).context(
            "the cache import is complete, but the push failed; nothing is reported as pushed",
        )),
        None => Ok(()),
    }
}

/// What the flags name: the trust policy, the bundle, the registry.
type Prepared = (TrustPolicy, Input, Option<(Client, PushTarget)>);

fn prepare(a: &ImportArgs) -> Result<Prepared> {
    if let Some(u) = &a.vex_url {
        if let Some(c) = u.chars().find(|&c| c == ' ' || airlock::text::is_unsafe(c)) {
            return Err(Failure::usage(format!(
                "--vex-url {:?} holds {}, which no URL holds raw (percent-encode it)",
                airlock::redact::url(u),
                c.escape_unicode()
            )));
        }
        let shown = airlock::redact::url(u);
        if shown.contains("***@") {
            return Err(Failure::usage(format!(
                "--vex-url {shown:?} carries credentials, which would be written into the published vex-repository.json and every cache that reads it"
            ))
            .with_hint("give the URL without them; Trivy takes credentials for a VEX repository from the username and password of its entry in repository.yaml"));
        }
    }
    let policy = trust_policy(&a.trust)?;
    let input = Input::open(&a.bundle, Some(&policy))?;
    // Reach the registry first: no point importing for a push that cannot be.
    let push = push_target(a)?;
    Ok((policy, input, push))
}

/// A refusal that could not be recorded is said, but does not hide the
/// refusal itself.
fn warn_unrecorded(records: &Records) {
    if let Some(e) = &records.audit_error {
        eprintln!("airlock: warning: this refusal could not be recorded in the audit log: {e}");
    }
    if let Some(e) = &records.receipt_error {
        eprintln!("airlock: warning: the receipt of this refusal could not be written: {e}");
    }
}

/// What verifying alone proved (no cache).
#[derive(Serialize)]
struct VerifiedOnly<'a> {
    manifest_sha256: &'a str,
    created: &'a str,
    signers: &'a [SignerReport],
    /// Staleness warnings, as an import's report says them.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stale: &'a [String],
}

/// The cache import's report, or what verifying proved.
#[derive(Serialize)]
#[serde(untagged)]
enum Done<'a> {
    Imported(&'a ImportReport),
    Verified(VerifiedOnly<'a>),
}

/// `import --json`.
#[derive(Serialize)]
struct ImportJson<'a> {
    #[serde(flatten)]
    done: Done<'a>,
    push: Option<&'a PushReport>,
    audit: Option<&'a Logged>,
    receipt: Option<&'a WrittenReceipt>,
}

/// Prints what an accepted import did.
fn render(o: &ImportOutcome, json: bool) -> Result<()> {
    let v = o
        .verified
        .as_ref()
        .ok_or_else(|| Failure::host("an accepted import proved nothing"))?;
    if json {
        let done = match &o.import {
            Some(r) => Done::Imported(r),
            None => Done::Verified(VerifiedOnly {
                manifest_sha256: &v.manifest_sha256,
                created: &v.created,
                signers: &v.signers,
                stale: &v.stale,
            }),
        };
        return print_json(&ImportJson {
            done,
            push: o.push.as_ref(),
            audit: o.records.audit.as_ref(),
            receipt: o.records.receipt.as_ref(),
        });
    }
    let mut out = show::Sanitize(io::stdout().lock());
    match &o.import {
        Some(r) if r.already_installed => already_installed(&mut out, &o.entry.bundle, r)?,
        Some(r) => {
            for what in &r.repaired {
                writeln!(out, "{what}: reinstalling")?;
            }
            show::imported(&mut out, r)?
        }
        None => writeln!(
            out,
            "verified bundle (manifest sha256 {}, created {})",
            v.manifest_sha256, v.created
        )?,
    }
    if let Some(p) = &o.push {
        show::pushed(&mut out, p)?;
    }
    if let Some(l) = &o.records.audit {
        writeln!(
            out,
            "recorded in {} (line {}, sha256 {})",
            show::path_line(&l.log),
            l.line,
            l.sha256
        )?;
    }
    if let Some(r) = &o.records.receipt {
        match &r.signature {
            Some(sig) => writeln!(
                out,
                "receipt: {} (signed: {})",
                show::path_line(&r.path),
                show::path_line(sig)
            )?,
            None => writeln!(out, "receipt: {} (unsigned)", show::path_line(&r.path))?,
        }
    }
    Ok(())
}

/// Says that an import changed nothing: its content was installed already.
fn already_installed(w: &mut dyn Write, bundle: &str, r: &ImportReport) -> io::Result<()> {
    let series = match (&r.series, r.sequence) {
        (Some(s), Some(n)) => format!(", series {s:?} sequence {n}"),
        _ => String::new(),
    };
    writeln!(
        w,
        "already installed: {} (manifest sha256 {}{series}): {} holds its content; nothing was changed",
        airlock::text::escape(bundle),
        r.manifest_sha256,
        show::path_line(&r.cache_dir)
    )?;
    if !r.compared.is_empty() {
        writeln!(
            w,
            "compared with the bundle's signed digests and totals: {}",
            r.compared.join(", ")
        )?;
    }
    if let Some(other) = &r.same_content_as {
        writeln!(
            w,
            "its manifest differs from manifest sha256 {other}, imported here under the same series and sequence, but its content is the same: no equivocation"
        )?;
    }
    Ok(())
}

/// A refusal as the command says it: a push failure says that nothing is
/// reported as pushed (a refusal by the registry state, a downgrade, is
/// said as it is), a database schema refusal names the Trivy installed.
fn refused(e: ImportError, trivy_bin: Option<&Path>) -> Failure {
    if matches!(e, ImportError::Push(_)) {
        Failure::from(e).context("the push failed; nothing is reported as pushed")
    } else {
        name_trivy(e, trivy_bin)
    }
}

/// For a database schema refusal, says which Trivy is installed and what it
/// reads (from `--trivy-bin`, or `trivy` on PATH, if either runs).
pub(super) fn name_trivy(e: ImportError, bin: Option<&Path>) -> Failure {
    if let ImportError::Overlap { vex_dir, cache_dir } = &e {
        // The library's directories are these flags.
        let message = format!(
            "--vex-dir {} and --cache-dir {} overlap; the static VEX repository must live outside the Trivy cache (and the cache outside it)",
            super::show::path_line(vex_dir),
            super::show::path_line(cache_dir)
        );
        return Failure::reworded(&e, message);
    }
    if !matches!(e, ImportError::Schema(_)) {
        return e.into();
    }
    let bin = bin.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("trivy"))
                .find(|p| p.is_file())
        })
    });
    let version = bin.as_ref().and_then(|b| {
        let out = std::process::Command::new(b)
            .arg("--version")
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Version: ").map(|v| v.trim().to_string()))
    });
    match (bin, version) {
        (Some(bin), Some(v)) => Failure::from(e).context(format!(
            "the Trivy on this host ({}, version {v}) reads trivy-db schema 2, java-db schema 1 and checks bundles of major version 2",
            super::show::path_line(&bin)
        )),
        _ => e.into(),
    }
}
