//! The audit record of an interrupted import (issue 15).
//!
//! A signal that ends an import is recorded when that can be done safely:
//!
//! - before the point of no return (the first swap), by a hook the signal
//!   handler runs after removing the staging areas: decision `refused`
//!   (nothing was installed, which is what `refused` means to every reader
//!   of the log, older `airlock audit` included), reason `interrupted by
//!   SIGINT before anything was installed`;
//! - from the first swap to the record, the signal waits (a held section,
//!   [`crate::cleanup::interrupt`]): the swaps end and the import is
//!   recorded as it ended, then the process exits;
//! - during a push, by a hook that records the import as done (if the cache
//!   import was), its reason saying the push was interrupted; once the
//!   push's manifests are going up, as accepted (or forced) with the
//!   artifacts pushed listed: the registry may serve them, and `refused`
//!   would say nothing changed.
//!
//! The handler waits for any audit line being written (a critical section)
//! before it writes its own, and waits at most [`LOCK_WAIT`] for another
//! process's lock on the log: the record may be missing, never torn.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::cleanup::interrupt::{self, Hook};
use crate::install::audit::{self, AuditEntry, InstalledRecord};
use crate::layout::oci_repos::PushedArtifact;

use super::{decide, fill, Decision, Done, ImportRequest};

/// How long the handler waits for another process's lock on the log.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Registers the record `entry(signal)` for a signal.
fn hook_for(
    request: &ImportRequest,
    entry: impl FnOnce(&str) -> AuditEntry + Send + 'static,
) -> Option<Hook> {
    let log = request.audit_log(true)?;
    Some(interrupt::on_interrupt(move |signal| {
        let entry = entry(signal);
        match audit::append_waiting(&log, &entry, Some(LOCK_WAIT)) {
            Ok(l) => Some(format!(
                "the interruption is recorded in {} (line {})",
                l.log.display(),
                l.line
            )),
            Err(e) => Some(format!("the interruption could not be recorded: {e}")),
        }
    }))
}

/// Until the first swap: nothing installed.
pub(super) fn before_install(request: &ImportRequest) -> Option<Hook> {
    let mut entry = request.entry();
    hook_for(request, move |signal| {
        entry.reason = Some(format!(
            "interrupted by {signal} before anything was installed"
        ));
        entry
    })
}

/// What a push has put in the registry (or was putting when a signal came):
/// its artifacts and the registry downgrades it forced; `None` until its
/// first manifest goes up.
#[derive(Clone, Default)]
pub(super) struct Published(Arc<Mutex<Option<WentUp>>>);

/// The artifacts a push put (or was putting), and the downgrades it forced.
type WentUp = (Vec<PushedArtifact>, Vec<String>);

impl Published {
    /// The push's manifests are going up: `artifacts`, forcing `forced`.
    pub(super) fn went_up(&self, artifacts: &[PushedArtifact], forced: &[String]) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((artifacts.to_vec(), forced.to_vec()));
    }
}

/// During a push after the cache import (`done` says what was done):
/// replaces `hook` (a signal waits for the change: one hook at a time),
/// and ends the held section the import's swaps began. The push fills the
/// returned [`Published`] before it puts its first manifest: from then on
/// an interruption is recorded with what went up, never as "refused".
pub(super) fn pushing(request: &ImportRequest, done: &Done, hook: &mut Option<Hook>) -> Published {
    let mut entry = request.entry();
    let import_forced = done
        .import
        .as_ref()
        .map_or(Vec::new(), |r| r.forced.clone());
    let cache_done = done.import.is_some();
    let mut filled = entry.clone();
    fill(&mut filled, done, &decide(&import_forced, &[]));
    if cache_done {
        entry = filled.clone();
        entry.decision = decide(&import_forced, &[]).verdict();
    }
    let published = Published::default();
    let seen = published.clone();
    let _section = interrupt::critical();
    *hook = None;
    *hook = hook_for(request, move |signal| {
        let went_up = seen.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some((artifacts, push_forced)) = went_up else {
            entry.reason = Some(match cache_done {
                true => {
                    format!("interrupted by {signal} during the push; the cache import is complete")
                }
                false => {
                    format!("interrupted by {signal} during the push, before any manifest was put")
                }
            });
            return entry;
        };
        let decision = decide(&import_forced, &push_forced);
        let mut entry = filled;
        entry.decision = decision.verdict();
        if let Decision::Forced { overridden } = &decision {
            entry.forced = overridden.clone();
        }
        entry
            .installed
            .extend(artifacts.iter().map(|x| InstalledRecord::Pushed {
                pushed: x.reference.clone(),
                manifest_digest: x.manifest_digest.clone(),
            }));
        let cache = if cache_done {
            "the cache import is complete; "
        } else {
            ""
        };
        entry.reason = Some(format!(
            "interrupted by {signal} during the push, once its manifests were going up: {cache}the registry may serve the artifacts listed, but its airlock state does not record this push"
        ));
        entry
    });
    interrupt::resume();
    published
}

/// Writes the import's own record (`write`) instead of `hook`'s, whole
/// (a signal waits for it, then finds no hook), then lets a signal end the
/// process.
pub(super) fn instead<T>(hook: Option<Hook>, write: impl FnOnce() -> T) -> T {
    let written = {
        let _section = interrupt::critical();
        drop(hook);
        write()
    };
    interrupt::resume();
    written
}

/// The import's own record (`entry`) failed because a signal ended its
/// wait for the log: the handler says so as it exits (the import itself
/// returns no more).
pub(super) fn unrecorded(entry: &AuditEntry, e: &audit::AuditError) {
    let decision = serde_json::to_value(entry.decision).unwrap_or_default();
    interrupt::say(format!(
        "the import ended ({}) but is not in the audit log: {}",
        decision.as_str().unwrap_or("?"),
        crate::error::chain_text(e)
    ));
}
