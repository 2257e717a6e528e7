//! Staleness warnings (issue 15) as every command says them: one
//! `airlock: warning: …` line each on stderr (left out with `--quiet`), or,
//! with `--json`, a `warnings` list beside the report only (stderr then
//! carries JSON progress events, one object a line). The library judges
//! ([`airlock::freshness`]); this only prints.

use serde::Serialize;

/// A report with the staleness warnings beside its own fields.
#[derive(Serialize)]
pub(super) struct WithWarnings<'a, T: Serialize> {
    /// The report.
    #[serde(flatten)]
    pub report: &'a T,
    /// The warnings, if any.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
}

/// Prints each warning on its own line on stderr, unless `quiet` (or
/// `--json`, whose report carries them).
pub(super) fn print(warnings: &[String], quiet: bool) {
    if quiet {
        return;
    }
    for w in warnings {
        eprintln!("airlock: warning: {}", airlock::text::escape(w));
    }
}
