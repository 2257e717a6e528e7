//! `rollback` as a first-class operation (issue 15): the previous
//! generation is swapped back, the import state becomes what is installed
//! after it (the state kept with the generation, [`guard::PREVIOUS_STATE_FILE`]),
//! and the audit log records who rolled back from which bundle to which,
//! with each component's version before and after.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::layout::trivy_cache;
use crate::manifest::ArtifactKind;

use super::audit::{
    self, AuditEntry, AuditError, BundleRecord, ComponentVersion, Logged, RollbackRecord, Verdict,
    VersionChange,
};
use super::generation::real_dir;
use super::guard::{self, State};
use super::{absolute, stage, ImportError};

/// What `rollback` did.
#[derive(Debug, Serialize)]
pub struct RollbackReport {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The components put back (cache-relative paths).
    pub restored: Vec<PathBuf>,
    /// From which bundle to which, and each component's versions.
    #[serde(flatten)]
    pub record: RollbackRecord,
    /// Where the record went in the audit log, if it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<Logged>,
    /// Writing the audit log failed (the rollback stands).
    #[serde(skip)]
    pub audit_error: Option<AuditError>,
    /// What went wrong after the swaps (the state could not be written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Puts back the trees the last import replaced (kept in
/// [`stage::PREVIOUS_DIR`]), each swapped atomically, all or none. The
/// trees swapped out become the previous generation in turn, so a second
/// rollback undoes the first. Components the last import added (absent
/// before it) are left in place. The state and the audit log
/// (`<cache>/airlock-audit.jsonl`) record it, dated by the clock.
pub fn rollback(cache_dir: &Path) -> Result<RollbackReport, ImportError> {
    rollback_at(cache_dir, OffsetDateTime::now_utc())
}

/// [`rollback`], recorded as done at `now`.
pub fn rollback_at(cache_dir: &Path, now: OffsetDateTime) -> Result<RollbackReport, ImportError> {
    if !cache_dir.is_dir() {
        return Err(ImportError::NoPreviousGeneration(cache_dir.to_path_buf()));
    }
    let _lock = stage::lock(cache_dir)?;
    let previous = cache_dir.join(stage::PREVIOUS_DIR);
    let rels = kept_components(&previous);
    if rels.is_empty() {
        return Err(ImportError::NoPreviousGeneration(cache_dir.to_path_buf()));
    }
    let current = guard::load(cache_dir)?;
    let kept_state_path = cache_dir.join(guard::PREVIOUS_STATE_FILE);
    let kept_state = match fs::symlink_metadata(&kept_state_path) {
        Ok(m) if m.is_file() => Some(guard::load_path(&kept_state_path)?),
        _ => None,
    };
    let before = versions(cache_dir, &current, &rels);
    let mut swaps = stage::Swapper::default();
    for rel in &rels {
        swaps.plan((), previous.join(rel), cache_dir, rel)?;
    }
    swaps.run()?;
    crate::fault::point("rolled back");
    let keys: Vec<String> = rels.iter().map(|r| r.display().to_string()).collect();
    let next = state_after(&current, kept_state.as_ref(), &keys, cache_dir);
    let mut warnings = Vec::new();
    // The generation now holds what was swapped out: its state goes with it.
    let saved =
        guard::save_path(&kept_state_path, &current).and_then(|()| guard::save(cache_dir, &next));
    if let Err(e) = saved {
        warnings.push(format!(
            "the rollback is complete, but its record in {} could not be written, so the next import is judged against the state from before it: {e}",
            guard::STATE_FILE
        ));
    }
    let after = versions(cache_dir, &next, &rels);
    let record = RollbackRecord {
        from: bundle_of(&current),
        to: bundle_of(&next),
        components: keys
            .iter()
            .map(|k| VersionChange {
                component: k.clone(),
                from: before.get(k).cloned().unwrap_or_default(),
                to: after.get(k).cloned().unwrap_or_default(),
            })
            .collect(),
    };
    // An absolute path: a relative one means nothing in the log later.
    let cache_abs = absolute(cache_dir)?;
    let (audit, audit_error) = match record_in_log(&cache_abs, now, &record, &warnings) {
        Ok(l) => (Some(l), None),
        Err(e) => (None, Some(e)),
    };
    Ok(RollbackReport {
        cache_dir: cache_abs,
        restored: rels,
        record,
        audit,
        audit_error,
        warnings,
    })
}

/// The components kept in the previous generation: real directories only
/// (never swap a link into the cache), artifacts first, then VEX
/// repositories by name.
fn kept_components(previous: &Path) -> Vec<PathBuf> {
    let mut rels = Vec::new();
    if !real_dir(previous) {
        return rels;
    }
    for kind in ArtifactKind::ALL {
        let rel = PathBuf::from(trivy_cache::component(kind));
        if real_dir(&previous.join(&rel)) {
            rels.push(rel);
        }
    }
    let repos = previous.join(trivy_cache::VEX_REPOSITORIES);
    let entries = fs::read_dir(&repos)
        .ok()
        .filter(|_| real_dir(&previous.join("vex")) && real_dir(&repos));
    if let Some(entries) = entries {
        let mut names: Vec<_> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            rels.push(Path::new(trivy_cache::VEX_REPOSITORIES).join(n));
        }
    }
    rels
}

/// The state after putting back the components `keys`: theirs as the state
/// kept with the generation says (the state before the import that replaced
/// them), every other component's as it was; the series as they were
/// before that import; the newest time seen never goes back. Without a
/// kept state (a generation made by an older airlock), the restored
/// components' contents are unknown, and their databases are read from
/// the live metadata.
fn state_after(current: &State, kept: Option<&State>, keys: &[String], cache: &Path) -> State {
    let mut next = current.clone();
    let live = guard::installed(cache);
    for key in keys {
        match kept.and_then(|k| k.components.get(key)) {
            Some(t) => next.components.insert(key.clone(), t.clone()),
            None => next.components.remove(key),
        };
        match kept.and_then(|k| k.contents.get(key)) {
            Some(d) => next.contents.insert(key.clone(), d.clone()),
            None => next.contents.remove(key),
        };
        let kind = ArtifactKind::ALL
            .into_iter()
            .find(|k| trivy_cache::component(*k) == key);
        if let Some(kind) = kind {
            match live.get(&kind) {
                Some(t) => next.databases.insert(kind.to_string(), t.clone()),
                None => next.databases.remove(&kind.to_string()),
            };
        }
    }
    if let Some(kept) = kept {
        next.series.extend(kept.series.clone());
        next.last_manifest_sha256 = kept.last_manifest_sha256.clone();
    } else {
        next.last_manifest_sha256 = None;
    }
    next
}

/// Each component's version in `state` (its content digest) and, for a
/// database, in the live cache (its UpdatedAt).
fn versions(cache: &Path, state: &State, rels: &[PathBuf]) -> BTreeMap<String, ComponentVersion> {
    let live = guard::installed(cache);
    rels.iter()
        .map(|rel| {
            let key = rel.display().to_string();
            let kind = ArtifactKind::ALL
                .into_iter()
                .find(|k| Path::new(trivy_cache::component(*k)) == rel);
            let version = ComponentVersion {
                content: state.contents.get(&key).cloned(),
                updated_at: kind.and_then(|k| live.get(&k).cloned()),
            };
            (key, version)
        })
        .collect()
}

/// The bundle a state says was imported last: its manifest and the series
/// that recorded it.
fn bundle_of(state: &State) -> BundleRecord {
    let sha = state.last_manifest_sha256.clone();
    let series = state
        .series
        .iter()
        .find(|(_, s)| Some(&s.manifest_sha256) == sha.as_ref());
    BundleRecord {
        manifest_sha256: sha.clone(),
        series: series.map(|(name, _)| name.clone()),
        sequence: series.map(|(_, s)| s.sequence),
    }
}

/// Appends the rollback's record to the cache's audit log.
fn record_in_log(
    cache: &Path,
    now: OffsetDateTime,
    record: &RollbackRecord,
    warnings: &[String],
) -> Result<Logged, AuditError> {
    let (host, user) = audit::who();
    let entry = AuditEntry {
        time: crate::timestamp::format_time(now),
        decision: Verdict::RolledBack,
        cache_dir: cache.display().to_string(),
        manifest_sha256: record.to.manifest_sha256.clone(),
        series: record.to.series.clone(),
        sequence: record.to.sequence,
        rollback: Some(record.clone()),
        warnings: warnings.to_vec(),
        host,
        user,
        ..Default::default()
    };
    audit::append(&cache.join(audit::AUDIT_FILE), &entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::guard::SeriesState;

    fn series(sequence: u64, sha: &str) -> SeriesState {
        SeriesState {
            sequence,
            manifest_sha256: sha.into(),
            imported_at: "2026-11-24T00:00:00Z".into(),
            forced: false,
        }
    }

    fn seen(manifest: &str) -> crate::install::seen::SeenBundle {
        crate::install::seen::SeenBundle {
            manifest_sha256: manifest.into(),
            contents: None,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_state_after_a_rollback_is_the_kept_one_for_what_came_back() {
        let dir = tempfile::tempdir().unwrap();
        let current = State {
            series: [("weekly".to_string(), series(2, "b"))].into(),
            newest_seen: Some("2026-11-30T00:00:00Z".into()),
            databases: map(&[("trivy-db", "2026-11-24T00:00:00Z")]),
            last_manifest_sha256: Some("b".into()),
            components: map(&[
                ("db", "2026-11-24T00:00:00Z"),
                ("policy", "2026-11-24T00:00:00Z"),
            ]),
            contents: map(&[("db", "sha256:bb"), ("policy", "sha256:pp")]),
            seen: [(
                "weekly".to_string(),
                [(1, seen("a")), (2, seen("b"))].into(),
            )]
            .into(),
        };
        let kept = State {
            series: [("weekly".to_string(), series(1, "a"))].into(),
            newest_seen: Some("2026-11-23T00:00:00Z".into()),
            databases: map(&[("trivy-db", "2026-11-23T00:00:00Z")]),
            last_manifest_sha256: Some("a".into()),
            components: map(&[("db", "2026-11-23T00:00:00Z")]),
            contents: map(&[("db", "sha256:aa")]),
            seen: [("weekly".to_string(), [(1, seen("a"))].into())].into(),
        };
        let next = state_after(&current, Some(&kept), &["db".to_string()], dir.path());
        assert_eq!(next.series["weekly"], series(1, "a"));
        assert_eq!(
            next.seen, current.seen,
            "what each sequence was is never forgotten"
        );
        assert_eq!(next.last_manifest_sha256.as_deref(), Some("a"));
        assert_eq!(
            next.newest_seen.as_deref(),
            Some("2026-11-30T00:00:00Z"),
            "never back"
        );
        assert_eq!(
            next.contents,
            map(&[("db", "sha256:aa"), ("policy", "sha256:pp")])
        );
        assert_eq!(
            next.components,
            map(&[
                ("db", "2026-11-23T00:00:00Z"),
                ("policy", "2026-11-24T00:00:00Z")
            ])
        );
        // No live metadata.json in this cache: the database is not known.
        assert!(next.databases.is_empty(), "{:?}", next.databases);
        // Without a kept state, what came back is unknown, never guessed.
        let next = state_after(&current, None, &["db".to_string()], dir.path());
        assert_eq!(next.contents, map(&[("policy", "sha256:pp")]));
        assert_eq!(next.series["weekly"], series(2, "b"));
        assert_eq!(next.last_manifest_sha256, None);
    }
}
