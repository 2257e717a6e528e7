//! Judging a verified bundle against this host's history before anything
//! is written (issue 15): freshness, "already installed", equivocation
//! and downgrades, by content.

use std::collections::BTreeMap;

use crate::bundle::reader::Verified;
use crate::policy::TrustPolicy;

use super::seen::{self, Seen};
use super::{guard, on_disk, ImportError, ImportOptions};

/// What judging a bundle against this host's history found.
#[derive(Debug, Default)]
pub(super) struct Judged {
    /// The downgrades forced (`allow_downgrade`).
    pub(super) forced: Vec<String>,
    /// Everything the bundle carries is installed already (issue 15).
    pub(super) already_installed: bool,
    /// What was compared on disk to find it installed (issue 15).
    pub(super) compared: Vec<String>,
    /// What the recorded state called installed but the disk does not
    /// hold: the import reinstalls it (`db/trivy.db differs from the
    /// bundle`).
    pub(super) repairs: Vec<String>,
    /// The manifest imported here under the bundle's series and sequence,
    /// of the same content, when it is not this bundle's.
    pub(super) same_content_as: Option<String>,
    /// Found installed on disk though the state recorded none of its
    /// components: the state learns them ([`guard::unrecorded`]).
    pub(super) learnt: bool,
}

/// Freshness, equivocation and downgrades of `bundle` against the cache's
/// and the static VEX directory's recorded state, and what their disks
/// hold (compared only when `disk`). Content decides: a bundle whose
/// content is installed is "already installed", whenever it was made; one
/// that reuses a sequence its series had for other content is an
/// equivocation, which no flag overrides.
pub(super) fn judge(
    bundle: &Verified,
    policy: &TrustPolicy,
    opts: &ImportOptions,
    states: (&guard::State, &guard::State),
    disk: bool,
) -> Result<Judged, ImportError> {
    let (state, vex_state) = states;
    let m = &bundle.manifest;
    let now = guard::effective_now(guard::effective_now(opts.now, state), vex_state);
    guard::check_age(m, policy, now)?;
    let sha = bundle.manifest_sha256.hex();
    let vex_dir = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty());
    let equivocation = |installed: &str, at: String| ImportError::Equivocation {
        series: m.series.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        sequence: m.sequence.unwrap_or_default(),
        at,
        installed: installed.to_string(),
        bundle: sha.clone(),
    };
    let vex_at =
        |dir: &std::path::PathBuf| format!("into the static VEX directory {}", dir.display());
    let here = seen::judge(m, &sha, state);
    if let Seen::Other(installed) = &here {
        return Err(equivocation(installed, "on this host".into()));
    }
    let there = vex_dir.map(|dir| (dir, seen::judge(m, &sha, vex_state)));
    if let Some((dir, Seen::Other(installed))) = &there {
        return Err(equivocation(installed, vex_at(dir)));
    }
    let same_sequence = matches!(here, Seen::Same(_))
        && there
            .as_ref()
            .is_none_or(|(_, s)| matches!(s, Seen::Same(_)));
    let live = guard::installed(&opts.cache_dir);
    let unknown = guard::unrecorded(m, state, same_sequence) && vex_dir.is_none();
    let recorded = guard::already_installed(
        m,
        &sha,
        state,
        &opts.cache_dir,
        &live,
        (same_sequence, unknown),
    ) && vex_dir.is_none_or(|_| guard::vex_dir_holds(m, vex_state));
    let mut judged = Judged::default();
    if recorded {
        let found = match disk {
            true => on_disk::compare(m, &opts.cache_dir, vex_dir.map(|d| d.as_path())),
            // Judged again under the locks, with the disk compared.
            false => {
                return Ok(Judged {
                    already_installed: true,
                    ..Judged::default()
                })
            }
        };
        match on_disk_verdict(found, unknown, &here) {
            Ok(installed) => return Ok(installed),
            Err(repairs) => judged.repairs = repairs,
        }
    }
    // A number no longer recorded in `seen` (an older state): the series
    // record alone.
    if here == Seen::Unknown {
        if let Some(installed) = guard::equivocation(m, &sha, state) {
            return Err(equivocation(installed, "on this host".into()));
        }
    }
    let mut found = guard::downgrades(m, state, &live);
    if let Some(dir) = vex_dir {
        if there.as_ref().is_some_and(|(_, s)| *s == Seen::Unknown) {
            if let Some(installed) = guard::equivocation(m, &sha, vex_state) {
                return Err(equivocation(installed, vex_at(dir)));
            }
        }
        found.extend(
            guard::downgrades(m, vex_state, &BTreeMap::new())
                .into_iter()
                .map(|r| format!("in the static VEX directory {}: {r}", dir.display())),
        );
    }
    judged.forced = guard::check_downgrades(found, policy, opts.allow_downgrade)?;
    Ok(judged)
}

/// What the disk says of a bundle the state calls installed: installed
/// (what was compared), or what differs, to repair (nothing to repair when
/// the state recorded none of it, `unknown`: then it is a plain import).
fn on_disk_verdict(
    found: on_disk::Compared,
    unknown: bool,
    here: &Seen,
) -> Result<Judged, Vec<String>> {
    // Nothing compared proves nothing the state does not record.
    if found.differs.is_empty() && !(unknown && found.checked.is_empty()) {
        return Ok(Judged {
            already_installed: true,
            learnt: unknown,
            compared: found.checked,
            same_content_as: match here {
                Seen::Same(other) => other.clone(),
                _ => None,
            },
            ..Judged::default()
        });
    }
    Err(if unknown { Vec::new() } else { found.differs })
}
