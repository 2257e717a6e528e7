//! Freshness and rollback protection: what the trust policy and this host's
//! history say about a verified bundle, before anything is written.
//!
//! The host keeps its history in `<cache>/.airlock-state.json` (per bundle
//! series: the last sequence accepted and its manifest digest; and the newest
//! time seen); a static VEX directory (`--vex-dir`) keeps the same record of
//! the repositories it publishes in its own `.airlock-state.json`, since a
//! fleet downloads from it whichever cache an import used. Ages are judged
//! against the later of the clock and that newest time, so setting the
//! clock back does not make an old bundle fresh.
//! A database is also compared with the one installed now (its live
//! `metadata.json`), whatever bundle put it there.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::artifact::db::DbMetadata;
use crate::fsio::Replace;
use crate::layout::trivy_cache;
use crate::manifest::{ArtifactKind, Manifest};
use crate::policy::{Downgrade, TrustPolicy};
use crate::timestamp::{format_time, parse_time};

use super::stage::{StageError, STAGING_PREFIX};
use super::ImportError;
use crate::error::PathIo;

/// The state file in the cache directory.
pub const STATE_FILE: &str = ".airlock-state.json";
/// The state as it was before the import that made the previous
/// generation, kept beside it for `rollback` (issue 15).
pub const PREVIOUS_STATE_FILE: &str = ".airlock-state.previous.json";

/// What this host remembers of earlier imports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Per series, the last bundle accepted.
    #[serde(default)]
    pub series: BTreeMap<String, SeriesState>,
    /// The newest time seen (clock at import, bundle creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_seen: Option<String>,
    /// The UpdatedAt of each database as last installed (by kind).
    #[serde(default)]
    pub databases: BTreeMap<String, String>,
    /// The manifest SHA-256 of the last bundle accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_manifest_sha256: Option<String>,
    /// Per component (`db`, `java-db`, `policy`, `vex/repositories/<name>`):
    /// the creation time of the bundle that installed it.
    #[serde(default)]
    pub components: BTreeMap<String, String>,
    /// Per component key: the digest of the content installed (an
    /// artifact's layer, a VEX repository's archive), so that a bundle with
    /// the same content is judged "already installed", whenever it was
    /// made (issue 15). Absent from states written before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contents: BTreeMap<String, String>,
    /// Per series, every sequence accepted here and what it was
    /// ([`super::seen`]): append-only knowledge, which neither a rollback
    /// nor a forced import erases (issue 15). Absent from states written
    /// before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, BTreeMap<u64, super::seen::SeenBundle>>,
}

/// The cache components a bundle would replace, by their state key, each
/// with the digest of its content: an artifact's layer, a VEX repository's
/// archive (its manifest's `sha256` of the archive payload).
pub fn contents(m: &Manifest) -> Vec<(String, String)> {
    let artifacts = m.artifacts.iter().map(|a| {
        (
            trivy_cache::component(a.kind).to_string(),
            a.layer.digest.oci(),
        )
    });
    // A database carried as a delta: the digest of the resulting file.
    let deltas = m.deltas.iter().map(|d| {
        (
            trivy_cache::component(d.kind).to_string(),
            d.database.sha256.oci(),
        )
    });
    let vex = m.vex.iter().map(|v| {
        let archive = m
            .payloads
            .iter()
            .find(|p| p.path == v.archive_path)
            .map(|p| p.sha256.oci())
            .unwrap_or_default();
        (
            format!("{}/{}", trivy_cache::VEX_REPOSITORIES, v.name),
            archive,
        )
    });
    artifacts.chain(deltas).chain(vex).collect()
}

/// The last accepted bundle of a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesState {
    /// Its sequence number.
    pub sequence: u64,
    /// Its manifest's SHA-256.
    pub manifest_sha256: String,
    /// When it was imported.
    pub imported_at: String,
    /// Whether the import was forced past a downgrade refusal.
    #[serde(default)]
    pub forced: bool,
}

/// The largest state file read (a real one is a few KiB).
const MAX_STATE: u64 = 1 << 20;

/// Reads the state (empty if there is none). The file must be a regular
/// file (opened without following a link or blocking on a FIFO), at most
/// [`MAX_STATE`] bytes, and every time in it must parse: a state that
/// cannot be read exactly is damaged, never quietly treated as empty,
/// which would switch the downgrade checks off.
pub fn load(dir: &Path) -> Result<State, ImportError> {
    load_path(&dir.join(STATE_FILE))
}

/// [`load`] of a state file at `path` (the state kept with the previous
/// generation, [`PREVIOUS_STATE_FILE`]).
pub(crate) fn load_path(path: &Path) -> Result<State, ImportError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = path.to_path_buf();
    let damaged = |reason: String| ImportError::State {
        path: path.clone(),
        reason,
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::fsio::open_flags::NOFOLLOW | crate::fsio::open_flags::NONBLOCK)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) if crate::fsio::is_symlink_refusal(&e) => {
            return Err(damaged("it is a symbolic link".into()))
        }
        Err(e) => return Err(StageError::from(PathIo::new("cannot read", &path, e)).into()),
    };
    let meta = file.metadata().map_err(PathIo::at("cannot read", &path))?;
    if !meta.is_file() {
        return Err(damaged("it is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE + 1)
        .read_to_end(&mut bytes)
        .map_err(PathIo::at("cannot read", &path))?;
    parse_state(&bytes).map_err(damaged)
}

/// Writes the state atomically (a staging-named temporary file, renamed).
pub(crate) fn save(cache: &Path, state: &State) -> Result<(), StageError> {
    save_path(&cache.join(STATE_FILE), state)
}

/// [`save`] to a state file at `path`.
pub(crate) fn save_path(path: &Path, state: &State) -> Result<(), StageError> {
    let path = path.to_path_buf();
    let mut text = serde_json::to_vec_pretty(state).expect("the state serializes");
    text.push(b'\n');
    // Nothing in it is secret, and a static VEX directory's web server
    // may serve it.
    let prefix = format!("{STAGING_PREFIX}state-");
    crate::fsio::atomic::write(&path, &prefix, &text, 0o644, Replace::Overwrite)
        .map_err(|e| PathIo::new("cannot write", &path, e.into_io()).into())
}

/// The databases installed now: kind → UpdatedAt.
pub fn installed(cache: &Path) -> BTreeMap<ArtifactKind, String> {
    let mut out = BTreeMap::new();
    for kind in [ArtifactKind::TrivyDb, ArtifactKind::JavaDb] {
        let p = cache
            .join(trivy_cache::component(kind))
            .join("metadata.json");
        let meta = fs::symlink_metadata(&p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| fs::read(&p).ok())
            .and_then(|b| DbMetadata::parse(&b).ok());
        if let Some(m) = meta {
            out.insert(kind, m.updated_at);
        }
    }
    out
}

/// "Now" for age checks: the later of the clock and the newest time seen.
pub fn effective_now(now: OffsetDateTime, state: &State) -> OffsetDateTime {
    state
        .newest_seen
        .as_deref()
        .and_then(|t| parse_time(t).ok())
        .map_or(now, |seen| seen.max(now))
}

/// Refuses a bundle or database older than the policy allows
/// ([`crate::freshness::policy_limits`], the judgement `verify` and
/// `inspect` share).
pub fn check_age(
    m: &Manifest,
    policy: &TrustPolicy,
    now: OffsetDateTime,
) -> Result<(), ImportError> {
    crate::freshness::policy_limits(m, policy, now).map_err(ImportError::Stale)
}

/// The downgrades this bundle would make: a lower sequence in its series,
/// a database older than the installed one, a component installed here by
/// a bundle created later than this one (which catches an old checks bundle
/// or VEX repository replayed outside any series). A component whose
/// content is the one installed is never a downgrade, whenever its bundle
/// was made; a reused sequence is not a downgrade either but an
/// equivocation ([`equivocation`]).
pub fn downgrades(
    m: &Manifest,
    state: &State,
    installed: &BTreeMap<ArtifactKind, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(series), Some(seq)) = (&m.series, m.sequence) {
        let series = series.as_str();
        if let Some(last) = state.series.get(series).filter(|l| seq < l.sequence) {
            out.push(format!(
                "series {series:?} is at sequence {} on this host; this bundle is sequence {seq}",
                last.sequence
            ));
        }
    }
    let older_databases = older_databases(m, state, installed);
    let created = m.created.at();
    for (key, digest) in contents(m) {
        let Some(by) = state.components.get(&key) else {
            continue;
        };
        // Content decides: the same content is no downgrade, and an older
        // database is said once, by its UpdatedAt.
        let same = state.contents.get(&key) == Some(&digest);
        let said = older_databases.iter().any(|(k, _)| *k == key);
        if !same && !said && parse_time(by).is_ok_and(|by| created < by) {
            out.push(format!(
                "{key} was installed here from a bundle created {by}; this bundle was created {}",
                m.created
            ));
        }
    }
    out.extend(older_databases.into_iter().map(|(_, reason)| reason));
    out
}

/// The databases of `m` older than the installed ones (the live
/// metadata.json, else what this host last installed): component key and
/// reason.
fn older_databases(
    m: &Manifest,
    state: &State,
    installed: &BTreeMap<ArtifactKind, String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (kind, db) in m.databases() {
        let current = installed
            .get(&kind)
            .or_else(|| state.databases.get(&kind.to_string()));
        let Some(current) = current else {
            continue;
        };
        if parse_time(current).is_ok_and(|old| db.updated_at.at() < old) {
            out.push((
                trivy_cache::component(kind).to_string(),
                format!(
                    "the {kind} in this bundle (UpdatedAt {}) is older than the installed one (UpdatedAt {current})",
                    db.updated_at
                ),
            ));
        }
    }
    out
}

/// One series and sequence, two contents: the manifest recorded for the
/// bundle's series and sequence, when it is not this bundle's.
pub fn equivocation<'s>(m: &Manifest, manifest_sha256: &str, state: &'s State) -> Option<&'s str> {
    let (series, seq) = (m.series.as_ref()?, m.sequence?);
    let last = state.series.get(series.as_str())?;
    (last.sequence == seq && last.manifest_sha256 != manifest_sha256)
        .then_some(last.manifest_sha256.as_str())
}

/// Whether importing this bundle would change nothing: everything it
/// carries is what is installed now (each component's content digest is
/// the one recorded for it in `state`, its tree is in `dir`, each
/// database's live UpdatedAt, `installed`, is the bundle's), and it is the
/// bundle last imported, or one no newer than it (not a higher sequence,
/// not created after the bundle that installed any of its components). A
/// newer bundle with the same content is imported, so that the state
/// follows it; a lower sequence stays a downgrade (the builder's signed
/// order); an older creation time with the same content is no downgrade.
/// A bundle of the same content under a sequence of its series this host
/// has seen (`same_sequence`, [`super::seen`]), not above the series' last,
/// is judged alike whenever it was made. When the state records none of
/// its components (`unknown`: an older airlock's rollback kept no state with
/// the generation) and the sequence is one this host saw, the disk alone
/// decides (the caller compares it), whatever the series' last sequence.
pub fn already_installed(
    m: &Manifest,
    manifest_sha256: &str,
    state: &State,
    dir: &Path,
    installed: &BTreeMap<ArtifactKind, String>,
    (same_sequence, unknown): (bool, bool),
) -> bool {
    let contents = contents(m);
    let same_content = contents.iter().all(|(key, digest)| {
        (unknown || state.contents.get(key) == Some(digest))
            && super::generation::real_dir(&dir.join(key))
    });
    let same_databases = m.databases().all(|(kind, db)| {
        installed
            .get(&kind)
            .and_then(|t| parse_time(t).ok())
            .is_some_and(|t| t == db.updated_at.at())
    });
    let last = m
        .series
        .as_ref()
        .and_then(|series| state.series.get(series.as_str()));
    let sequence = |ord: std::cmp::Ordering| matches!((last, m.sequence), (Some(l), Some(seq)) if seq.cmp(&l.sequence) == ord);
    let created_later = contents.iter().any(|(key, _)| {
        let by = state.components.get(key).and_then(|t| parse_time(t).ok());
        by.is_some_and(|by| m.created.at() > by)
    });
    let same_bundle = state.last_manifest_sha256.as_deref() == Some(manifest_sha256);
    let not_newer = !sequence(std::cmp::Ordering::Greater) && (!created_later || same_sequence);
    !contents.is_empty()
        && same_content
        && same_databases
        && (!sequence(std::cmp::Ordering::Less) || unknown)
        && (same_bundle || not_newer || unknown)
}

/// Whether the state records none of the components `m` carries, for a
/// bundle whose series and sequence this host saw as this content
/// (`same_sequence`): what is installed is then learnt from the disk.
pub fn unrecorded(m: &Manifest, state: &State, same_sequence: bool) -> bool {
    same_sequence
        && contents(m)
            .iter()
            .all(|(key, _)| !state.contents.contains_key(key))
}

/// Whether a static VEX directory's state records this bundle's VEX
/// repositories with the same content.
pub fn vex_dir_holds(m: &Manifest, vex_state: &State) -> bool {
    let prefix = format!("{}/", trivy_cache::VEX_REPOSITORIES);
    contents(m)
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .all(|(key, digest)| vex_state.contents.get(key) == Some(digest))
}

/// Refuses downgrades unless forced (and the policy allows forcing).
/// Returns what was forced.
pub fn check_downgrades(
    found: Vec<String>,
    policy: &TrustPolicy,
    allow: bool,
) -> Result<Vec<String>, ImportError> {
    if found.is_empty() {
        return Ok(found);
    }
    if allow && policy.downgrade == Downgrade::WithFlag {
        return Ok(found);
    }
    Err(ImportError::Downgrade {
        reasons: found,
        never: policy.downgrade == Downgrade::Never,
    })
}

/// The static VEX directory's state after accepting `m` at `now`: its
/// series and the VEX repositories it publishes (it holds no databases or
/// other cache components, so it records none).
pub fn advance_vex_dir(
    state: State,
    m: &Manifest,
    manifest_sha256: &str,
    now: OffsetDateTime,
    forced: bool,
) -> State {
    let mut next = advance(state, m, manifest_sha256, now, forced);
    let prefix = format!("{}/", trivy_cache::VEX_REPOSITORIES);
    next.components.retain(|k, _| k.starts_with(&prefix));
    next.contents.retain(|k, _| k.starts_with(&prefix));
    next.databases.clear();
    next
}

/// The state after accepting `m` at `now`.
pub fn advance(
    mut state: State,
    m: &Manifest,
    manifest_sha256: &str,
    now: OffsetDateTime,
    forced: bool,
) -> State {
    let mut newest = effective_now(now, &state);
    // A builder's clock may run ahead: never believe more than a day
    // beyond this host's own clock.
    newest = newest.max(m.created.at().min(now + time::Duration::days(1)));
    state.newest_seen = Some(format_time(newest));
    super::seen::record(&mut state, m, manifest_sha256);
    state.last_manifest_sha256 = Some(manifest_sha256.to_string());
    for (key, digest) in contents(m) {
        state.components.insert(key.clone(), m.created.to_string());
        state.contents.insert(key, digest);
    }
    for (kind, db) in m.databases() {
        state
            .databases
            .insert(kind.to_string(), db.updated_at.to_string());
    }
    if let (Some(series), Some(seq)) = (&m.series, m.sequence) {
        state.series.insert(
            series.to_string(),
            SeriesState {
                sequence: seq,
                manifest_sha256: manifest_sha256.to_string(),
                imported_at: format_time(now),
                forced,
            },
        );
    }
    state
}

/// The largest state record read, from a file or a registry.
pub const STATE_LIMIT: u64 = MAX_STATE;

/// Parses a state record held elsewhere than in a directory (the registry
/// state of a push prefix): at most [`STATE_LIMIT`] bytes, JSON as
/// [`State`], every time in it RFC 3339. The error says why it is damaged;
/// it is never quietly treated as empty.
pub fn parse_state(bytes: &[u8]) -> Result<State, String> {
    if bytes.len() as u64 > MAX_STATE {
        return Err(format!("it is larger than {MAX_STATE} bytes"));
    }
    // An object only: serde would also read `[]` as a state with every
    // field at its default, which is an empty state.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("it is not a JSON object".into());
    }
    let state: State = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let times = state
        .newest_seen
        .iter()
        .chain(state.databases.values())
        .chain(state.components.values())
        .chain(state.series.values().map(|s| &s.imported_at));
    for t in times {
        if parse_time(t).is_err() {
            return Err(format!(
                "{:?} is not an RFC 3339 time",
                crate::text::escape(t)
            ));
        }
    }
    Ok(state)
}

/// A push prefix's registry state after pushing `m` at `now`: its series
/// and the components a push publishes (`db`, `java-db`, `policy` and their
/// databases' UpdatedAt), not the VEX repositories, which are not pushed.
pub fn advance_registry(
    state: State,
    m: &Manifest,
    manifest_sha256: &str,
    now: OffsetDateTime,
    forced: bool,
) -> State {
    let mut next = advance(state, m, manifest_sha256, now, forced);
    let pushed = [
        ArtifactKind::TrivyDb,
        ArtifactKind::JavaDb,
        ArtifactKind::Checks,
    ];
    next.components
        .retain(|k, _| pushed.iter().any(|kind| trivy_cache::component(*kind) == k));
    next.contents
        .retain(|k, _| pushed.iter().any(|kind| trivy_cache::component(*kind) == k));
    let kinds: Vec<String> = pushed.iter().map(|k| k.to_string()).collect();
    next.databases.retain(|k, _| kinds.contains(k));
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_state_that_cannot_be_read_exactly_is_damaged() {
        assert_eq!(parse_state(b"{}"), Ok(State::default()));
        assert!(parse_state(b"not json").is_err());
        assert_eq!(parse_state(b"[]").unwrap_err(), "it is not a JSON object");
        let bad_time = br#"{"components": {"db": "yesterday"}}"#;
        assert!(parse_state(bad_time)
            .unwrap_err()
            .contains("\"yesterday\" is not an RFC 3339 time"));
        let big = vec![b' '; (MAX_STATE + 1) as usize];
        assert!(parse_state(&big).unwrap_err().contains("larger than"));
    }
}
