//! Judging a verified bundle against this host's history before anything
//! is written (issue 15): freshness, "already installed", equivocation
//! and downgrades, by content.

use std::collections::BTreeMap;

use crate::bundle::reader::Verified;
use crate::policy::TrustPolicy;

use super::{guard, ImportError, ImportOptions};

/// What judging a bundle against this host's history found.
#[derive(Debug, Default)]
pub(super) struct Judged {
    /// The downgrades forced (`allow_downgrade`).
    pub(super) forced: Vec<String>,
    /// Everything the bundle carries is installed already (issue 15).
    pub(super) already_installed: bool,
}

/// Freshness, equivocation and downgrades of `bundle` against the cache's
/// and the static VEX directory's recorded state. Content decides: a
/// bundle whose content is installed is "already installed", whenever it
/// was made; one that reuses its series' sequence for other content is an
/// equivocation, which no flag overrides.
pub(super) fn judge(
    bundle: &Verified,
    policy: &TrustPolicy,
    opts: &ImportOptions,
    state: &guard::State,
    vex_state: &guard::State,
) -> Result<Judged, ImportError> {
    let m = &bundle.manifest;
    let now = guard::effective_now(guard::effective_now(opts.now, state), vex_state);
    guard::check_age(m, policy, now)?;
    let sha = bundle.manifest_sha256.hex();
    let live = guard::installed(&opts.cache_dir);
    let vex_dir = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty());
    let already = guard::already_installed(m, &sha, state, &opts.cache_dir, &live)
        && vex_dir.map_or(true, |_| guard::vex_dir_holds(m, vex_state));
    if already {
        return Ok(Judged {
            forced: Vec::new(),
            already_installed: true,
        });
    }
    let equivocation = |state: &guard::State, at: String| match guard::equivocation(m, &sha, state)
    {
        Some(installed) => Err(ImportError::Equivocation {
            series: m.series.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            sequence: m.sequence.unwrap_or_default(),
            at,
            installed: installed.to_string(),
            bundle: sha.clone(),
        }),
        None => Ok(()),
    };
    equivocation(state, "on this host".into())?;
    let mut found = guard::downgrades(m, state, &live);
    if let Some(dir) = vex_dir {
        equivocation(
            vex_state,
            format!("into the static VEX directory {}", dir.display()),
        )?;
        found.extend(
            guard::downgrades(m, vex_state, &BTreeMap::new())
                .into_iter()
                .map(|r| format!("in the static VEX directory {}: {r}", dir.display())),
        );
    }
    let forced = guard::check_downgrades(found, policy, opts.allow_downgrade)?;
    Ok(Judged {
        forced,
        already_installed: false,
    })
}
