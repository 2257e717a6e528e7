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
//! - during a push after the cache import, by a hook that records the
//!   import as done, its reason saying the push was interrupted.
//!
//! The handler waits for any audit line being written (a critical section)
//! before it writes its own, and waits at most [`LOCK_WAIT`] for another
//! process's lock on the log: the record may be missing, never torn.

use std::time::Duration;

use crate::cleanup::interrupt::{self, Hook};
use crate::install::audit::{self, AuditEntry};

use super::{decide, fill, Done, ImportRequest};

/// How long the handler waits for another process's lock on the log.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Registers the record of `entry` with `reason(signal)` for a signal.
fn hook_for(
    request: &ImportRequest,
    entry: AuditEntry,
    reason: impl FnOnce(&str) -> String + Send + 'static,
) -> Option<Hook> {
    let log = request.audit_log(true)?;
    Some(interrupt::on_interrupt(move |signal| {
        let mut entry = entry;
        entry.reason = Some(reason(signal));
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
    hook_for(request, request.entry(), |signal| {
        format!("interrupted by {signal} before anything was installed")
    })
}

/// During a push after the cache import (`done` says what was done):
/// replaces `hook` (a signal waits for the change: one hook at a time),
/// and ends the held section the import's swaps began.
pub(super) fn pushing(request: &ImportRequest, done: &Done, hook: &mut Option<Hook>) {
    let mut entry = request.entry();
    let forced = done.import.as_ref().map_or(&[][..], |r| &r.forced[..]);
    let decision = decide(forced, &[]);
    let cache_done = done.import.is_some();
    if cache_done {
        entry.decision = decision.verdict();
        fill(&mut entry, done, &decision);
    }
    let _section = interrupt::critical();
    *hook = None;
    *hook = hook_for(request, entry, move |signal| match cache_done {
        true => format!("interrupted by {signal} during the push; the cache import is complete"),
        false => format!("interrupted by {signal} during the push"),
    });
    interrupt::resume();
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
