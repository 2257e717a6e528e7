//! `verify`, `inspect`, `audit` and `verify-receipt`: reading without writing.

use std::io::{self, BufReader, Write};

use super::failure::{Context as _, Result};

use airlock::bundle::parts::{self, PartSet};
use airlock::bundle::report::VerifyReport;
use airlock::install::audit::{self};
use airlock::media::Input;
use airlock::policy::TrustPolicy;
use airlock::progress::NoProgress;

use super::args::{AuditArgs, InspectArgs, VerifyArgs, VerifyReceiptArgs};
use super::bar::Reporter;

use super::*;

/// `verify --parts-only`: the index signature, then each part (or only the
/// one named) against the index.
pub(super) fn verify_parts(a: &VerifyArgs, policy: &TrustPolicy) -> Result<()> {
    let Some(index) = parts::locate(&a.bundle)? else {
        usage!(
            "{} is not a split bundle; --parts-only checks the parts of one",
            super::show::path_line(&a.bundle)
        );
    };
    let set = PartSet::open(&index, Some(policy))?;
    let count = set.index.parts.len();
    let (report, first_error) = set.check_parts(&file_name(&a.bundle));
    if a.json {
        print_json(&report)?;
    } else {
        let mut out = show::Sanitize(io::stdout().lock());
        writeln!(
            out,
            "part index {}: signature valid, {}, bundle sha256 {}",
            super::show::path_line(&report.index),
            airlock::text::count(count as u64, "part", "parts"),
            report.bundle_sha256
        )?;
        for p in &report.parts {
            writeln!(
                out,
                "  part {}/{count} {}: {}",
                p.number,
                p.name,
                if p.ok { "ok" } else { "FAILED" }
            )?;
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

pub(super) fn verify(a: VerifyArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    if a.parts_only {
        return verify_parts(&a, &policy);
    }
    let input = Input::open(&a.bundle, Some(&policy))?;
    let progress = Reporter::new(a.json, a.quiet);
    airlock::progress::Progress::begin(&progress, "verify", input.len());
    let verified = input.read_with(&progress, |r| airlock::install::verify(r, &policy))?;
    airlock::progress::Progress::end(&progress);
    let report = VerifyReport::new(&a.bundle, &verified);
    stale::print(&report.warnings, a.quiet || a.json);
    if a.json {
        print_json(&report)
    } else {
        Ok(show::verified(
            &mut show::Sanitize(io::stdout().lock()),
            &a.bundle,
            &verified,
        )?)
    }
}

pub(super) fn inspect(a: InspectArgs) -> Result<()> {
    let policy = if a.key.is_empty() && a.trust.is_none() {
        None
    } else {
        Some(load_policy(&a.key, &a.trust)?)
    };
    let input = Input::open(&a.bundle, policy.as_ref())?;
    let len = input.len();
    let header = input.read_with(&NoProgress, |r| {
        airlock::bundle::reader::read_header(BufReader::new(r))
            .map_err(airlock::install::ImportError::Bundle)
    })?;
    // With keys, the library judges the signatures before it reads the
    // manifest; without, inspect shows it marked as unverified (it never
    // acts on it). Below the threshold is shown (that is what `sign` is
    // for), not refused.
    let report = airlock::bundle::report::inspect(&a.bundle, len, &header, policy.as_ref())?;
    stale::print(&report.warnings, a.json);
    if a.json {
        print_json(&report)
    } else {
        Ok(show::inspect(
            &mut show::Sanitize(io::stdout().lock()),
            &report,
        )?)
    }
}

pub(super) fn audit_check(a: AuditArgs) -> Result<()> {
    let log = match (&a.log, &a.cache_dir) {
        (Some(l), _) => l.clone(),
        (None, Some(d)) => d.join(audit::AUDIT_FILE),
        // Trivy's cache, where import logs by default.
        (None, None) => cache_dir::from_env().join(audit::AUDIT_FILE),
    };
    let chain = audit::check(&log)?;
    if a.json {
        return print_json(&chain);
    }
    // No-ops and rollbacks are named only when the log has them.
    let mut more = String::new();
    if chain.already_installed > 0 {
        more.push_str(&format!(", {} already installed", chain.already_installed));
    }
    if chain.rolled_back > 0 {
        more.push_str(&format!(", {} rolled back", chain.rolled_back));
    }
    writeln!(
        io::stdout(),
        "{}: {}, chain intact ({} accepted, {} forced, {} refused{more}); head sha256 {}",
        super::show::path_line(&chain.log),
        airlock::text::count(chain.lines as u64, "line", "lines"),
        chain.accepted,
        chain.forced,
        chain.refused,
        chain.head
    )?;
    Ok(())
}

pub(super) fn verify_receipt(a: VerifyReceiptArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let (bytes, sig) = audit::read_receipt(&a.receipt)?;
    let signers = policy
        .any_trusted()
        .evaluate(&bytes, std::slice::from_ref(&sig))
        .with_context(|| {
            format!(
                "the receipt {} is not proven",
                super::show::path_line(&a.receipt)
            )
        })?;
    let receipt: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a receipt", super::show::path_line(&a.receipt)))?;
    let report = audit::ReceiptReport::new(signers, receipt);
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "OK: receipt {} signed by {}",
        super::show::path_line(&a.receipt),
        report
            .signers
            .iter()
            .map(|s| s.who())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "  {} {} at {} into {}",
        report.field("decision"),
        report.field("bundle"),
        report.field("time"),
        report.field("cache_dir")
    )?;
    writeln!(out, "  manifest sha256 {}", report.field("manifest_sha256"))?;
    if let Some((line, log, sha256)) = report.audit_line() {
        writeln!(out, "  audit log {log} line {line}, sha256 {sha256}")?;
    }
    Ok(())
}
