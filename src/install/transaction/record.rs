//! What an import writes down: its audit entry filled from what was done,
//! appended to the log, and its receipt.

use std::error::Error as StdError;

use super::super::audit::{self, AuditEntry, InstalledRecord, Verdict};
use super::super::ImportReport;
use super::{interrupted, Decision, Done, ImportRequest, Records, WrittenReceipt};

/// What an accepted (or forced) import records: the bundle, and each
/// component installed and artifact pushed.
pub(super) fn fill(entry: &mut AuditEntry, done: &Done, decision: &Decision) {
    let v = &done.verified;
    entry.manifest_sha256 = Some(v.manifest_sha256.clone());
    entry.created = Some(v.created.clone());
    entry.series = v.series.clone();
    entry.sequence = v.sequence;
    entry.signers = v.signers.clone();
    entry.labels = v.labels.clone();
    if let Decision::Forced { overridden } = decision {
        entry.forced = overridden.clone();
    }
    entry.already_installed = *decision == Decision::AlreadyInstalled;
    if let Some(r) = &done.import {
        entry.same_content_as = r.same_content_as.clone();
        entry.repaired = r.repaired.clone();
    }
    if let Some(r) = done.import.as_ref().filter(|r| !r.already_installed) {
        entry.installed = installed(r);
        entry.warnings = r
            .warnings
            .iter()
            .map(|w| crate::redact::text(w).into_owned())
            .collect();
    }
    if let Some(p) = &done.push {
        entry
            .installed
            .extend(p.artifacts.iter().map(|x| InstalledRecord::Pushed {
                pushed: x.reference.clone(),
                manifest_digest: x.manifest_digest.clone(),
            }));
    }
    if let Some(e) = &done.push_error {
        let reason = format!(
            "the cache import is complete, but the push failed: {}",
            chain(e)
        );
        entry.reason = Some(crate::redact::text(&reason).into_owned());
    }
}

/// Each component of `r`, as the audit log records it.
pub fn installed(r: &ImportReport) -> Vec<InstalledRecord> {
    let components = r.components.iter().map(|c| InstalledRecord::Component {
        component: c.id.clone(),
        path: c.path.clone(),
        manifest_digest: c.manifest_digest.clone(),
        updated_at: c.updated_at.clone(),
        replaced: c.replaced,
    });
    let vex = r.vex.iter().map(|v| InstalledRecord::Vex {
        component: v.id.clone(),
        path: v.cache_path.clone(),
        vex: v.name.clone(),
        replaced: v.replaced,
    });
    components.chain(vex).collect()
}

/// Appends `entry` to the request's audit log and writes its receipt.
pub(super) fn record(request: &ImportRequest, entry: AuditEntry) -> Records {
    let mut records = Records::default();
    let refused = entry.decision == Verdict::Refused;
    if let Some(log) = request.audit_log(refused) {
        match audit::append(&log, &entry) {
            Ok(l) => records.audit = Some(l),
            Err(e) => {
                // A signal ended the wait for the log: the handler says it.
                if crate::cleanup::interrupt::stopping() {
                    interrupted::unrecorded(&entry, &e);
                }
                records.audit_error = Some(e)
            }
        }
    }
    // No receipt for an import the log could not record: the receipt would
    // say "accepted" with no place in the log, while the import fails.
    let unrecorded = records.audit_error.is_some() && !refused;
    if let Some(receipt) = request.receipt.as_ref().filter(|_| !unrecorded) {
        let r = audit::Receipt {
            format: "airlock-receipt",
            generator: request.generator.clone(),
            entry,
            audit: records.audit.clone(),
        };
        match audit::write_receipt(&receipt.path, &r, receipt.key.as_ref()) {
            Ok(signature) => {
                records.receipt = Some(WrittenReceipt {
                    path: receipt.path.clone(),
                    signature,
                })
            }
            Err(e) => records.receipt_error = Some(e),
        }
    }
    records
}

/// An error and its causes, joined by `: ` (as `{:#}` shows them).
pub(super) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts.join(": ")
}
