//! `verify`, `inspect`, `audit` and `verify-receipt`: reading without writing.

use std::io::{self, BufReader, Write};

use super::failure::{Context as _, Result};

use airlock::bundle::parts::{self, PartSet};
use airlock::install::audit::{self};
use airlock::manifest::Manifest;
use airlock::media::Input;
use airlock::policy::{PolicyError, TrustPolicy};
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
            a.bundle.display()
        );
    };
    let set = PartSet::open(&index, Some(policy))?;
    let count = set.index.parts.len();
    let numbers: Vec<usize> = match set.number_of(&file_name(&a.bundle)) {
        Some(n) => vec![n],
        None => (1..=count).collect(),
    };
    let mut results = Vec::new();
    let mut first_error = None;
    for n in numbers {
        let e = &set.index.parts[n - 1];
        let r = set.check_part(n);
        results.push(serde_json::json!({
            "number": n,
            "name": e.name,
            "size": e.size,
            "sha256": e.sha256,
            "ok": r.is_ok(),
            "error": r.as_ref().err().map(|e| e.to_string()),
        }));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    if a.json {
        print_json(&serde_json::json!({
            "ok": first_error.is_none(),
            "index": set.index_path,
            "bundle_sha256": set.index.sha256,
            "manifest_sha256": set.index.manifest_sha256,
            "parts": results,
        }))?;
    } else {
        let mut out = show::Sanitize(io::stdout().lock());
        writeln!(
            out,
            "part index {}: signature valid, {count} parts, bundle sha256 {}",
            set.index_path.display(),
            set.index.sha256
        )?;
        for r in &results {
            writeln!(
                out,
                "  part {}/{count} {}: {}",
                r["number"],
                r["name"].as_str().unwrap_or_default(),
                if r["ok"] == true { "ok" } else { "FAILED" }
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
    if a.json {
        print_json(&serde_json::json!({
            "ok": true,
            "bundle": a.bundle,
            "manifest_sha256": verified.manifest_sha256.hex(),
            "signers": verified.signers,
            "manifest": verified.manifest,
        }))
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
    // With keys, judge the signatures before reading the manifest; without,
    // show it marked as unverified (inspect never acts on it).
    // Below the threshold is shown (that is what `sign` is for), not refused.
    let (signers, unmet) = match &policy {
        None => (None, None),
        Some(policy) => match policy.evaluate(&header.manifest_bytes, &header.signatures) {
            Ok(r) => (Some(r), None),
            Err(e @ (PolicyError::BelowThreshold { .. } | PolicyError::RoleMinimum { .. })) => {
                let why = e.to_string();
                let (PolicyError::BelowThreshold { signers, .. }
                | PolicyError::RoleMinimum { signers, .. }) = e
                else {
                    unreachable!("matched above")
                };
                (Some(signers), Some(why))
            }
            Err(e) => return Err(e.into()),
        },
    };
    let manifest = Manifest::parse(&header.manifest_bytes)?;
    let sha = airlock::digest::Sha256Digest::of(&header.manifest_bytes).hex();
    if a.json {
        let sigs: Vec<_> = header
            .signatures
            .iter()
            .map(|s| {
                let judged = signers
                    .as_ref()
                    .and_then(|v| v.iter().find(|r| r.key_id == s.key_id().to_string()));
                serde_json::json!({
                    "key_id": s.key_id().to_string(),
                    "trusted_comment": s.trusted_comment(),
                    "untrusted_comment": s.untrusted_comment(),
                    "timestamp": airlock::policy::timestamp(s.trusted_comment()),
                    "checked": judged.is_some(),
                    "name": judged.and_then(|j| j.name.clone()),
                    "role": judged.and_then(|j| j.role.clone()),
                    "trusted": judged.map(|j| j.trusted),
                    "revoked": judged.map(|j| j.revoked),
                    "verified": judged.map(|j| j.verified),
                    "counted": judged.map(|j| j.counted),
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "bundle": a.bundle,
            "size": len,
            "manifest_sha256": sha,
            "signatures_checked": signers.is_some(),
            "policy_satisfied": signers.as_ref().map(|_| unmet.is_none()),
            "policy_unmet": unmet,
            "signatures": sigs,
            "manifest": manifest,
        }))
    } else {
        Ok(show::inspect(
            &mut show::Sanitize(io::stdout().lock()),
            &a.bundle,
            len,
            &sha,
            &manifest,
            &header.signatures,
            signers.as_deref().map(|j| (j, unmet.as_deref())),
        )?)
    }
}

pub(super) fn audit_check(a: AuditArgs) -> Result<()> {
    let log = match (&a.log, &a.cache_dir) {
        (Some(l), _) => l.clone(),
        (None, Some(d)) => d.join(audit::AUDIT_FILE),
        (None, None) => usage!("give --cache-dir DIR or --log FILE"),
    };
    let chain = audit::check(&log)?;
    if a.json {
        return print_json(&chain);
    }
    writeln!(
        io::stdout(),
        "{}: {} lines, chain intact ({} accepted, {} forced, {} refused); head sha256 {}",
        chain.log.display(),
        chain.lines,
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
        .with_context(|| format!("the receipt {} is not proven", a.receipt.display()))?;
    let receipt: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a receipt", a.receipt.display()))?;
    if a.json {
        return print_json(
            &serde_json::json!({"ok": true, "signers": signers, "receipt": receipt}),
        );
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "OK: receipt {} signed by {}",
        a.receipt.display(),
        signers
            .iter()
            .map(|s| s.who())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    let field = |k: &str| receipt[k].as_str().unwrap_or("-").to_string();
    writeln!(
        out,
        "  {} {} at {} into {}",
        field("decision"),
        field("bundle"),
        field("time"),
        field("cache_dir")
    )?;
    writeln!(out, "  manifest sha256 {}", field("manifest_sha256"))?;
    if let Some(n) = receipt["audit"]["line"].as_u64() {
        writeln!(
            out,
            "  audit log {} line {n}, sha256 {}",
            receipt["audit"]["log"].as_str().unwrap_or("-"),
            receipt["audit"]["sha256"].as_str().unwrap_or("-")
        )?;
    }
    Ok(())
}
