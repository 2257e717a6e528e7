//! How old each component of a Trivy cache is, and whether it is within
//! the limits a monitoring check gives (issue 14, `status --max-age`).
//!
//! With `--skip-db-update` Trivy never says that its data is old; this is
//! where the host finds out. Each component's age is the age of its
//! content, by the best time the cache holds:
//!
//! | component | age from |
//! |---|---|
//! | trivy-db, java-db | `UpdatedAt` of its `metadata.json` (when upstream built it) |
//! | checks | the creation of the bundle that brought it (airlock's state), else `DownloadedAt` of `policy/metadata.json` (Trivy's download) |
//! | a VEX repository | `updated_at` of its `0.1/index.json`, else `UpdatedAt` of its `cache.json` |
//!
//! Read only, and it works on a cache Trivy wrote itself: what only
//! airlock's records know (the bundle, its signers, the import) is then
//! reported as unknown, with the reason.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::artifact::DbMetadata;
use crate::layout::trivy_cache;
use crate::manifest::ArtifactKind;
use crate::policy::human_duration;
use crate::timestamp::{format_time, parse_time};

use super::generation::real_dir;
use super::provenance::{self, History, Provenance};

/// The largest metadata or index file read.
const MAX_JSON: u64 = 64 << 20;

/// The limits of a check (seconds); a component named in `skip` is
/// reported but not judged.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// The oldest any component may be.
    pub max_age: Option<u64>,
    /// The oldest a database may be (instead of `max_age` for them).
    pub max_db_age: Option<u64>,
    /// Components left out of the check (`java-db`, `vex:default`...).
    pub skip: Vec<String>,
}

/// One component's age and origin.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentAge {
    /// `trivy-db`, `java-db`, `checks` or `vex:<name>`.
    pub name: String,
    /// Its directory, relative to the cache.
    pub path: String,
    /// Whether the cache holds it.
    pub present: bool,
    /// Its schema: `Version` of a database, `MajorVersion` of checks.
    pub schema: Option<u64>,
    /// A database's `UpdatedAt`, a VEX index's `updated_at`.
    pub updated_at: Option<String>,
    /// A database's `NextUpdate`.
    pub next_update: Option<String>,
    /// When Trivy (or an import) put it there, as its metadata says.
    pub downloaded_at: Option<String>,
    /// Its age in seconds (see the module docs for the time it is from).
    pub age_seconds: Option<u64>,
    /// Its age in words ("10d 0h").
    pub age: Option<String>,
    /// What the age was measured from (`UpdatedAt`, `bundle created`,
    /// `DownloadedAt`, `index updated_at`, `cache.json UpdatedAt`).
    pub age_from: Option<&'static str>,
    /// That time (RFC 3339).
    pub age_since: Option<String>,
    /// The limit it was judged by (seconds), if any.
    pub limit_seconds: Option<u64>,
    /// Why it fails the check (one line), if it does.
    pub stale: Option<String>,
    /// Whether the check left it out.
    pub skipped: bool,
    /// The bundle it came from, as the audit log recorded its import.
    pub bundle: Option<Provenance>,
    /// What cannot be known of it here, and why.
    pub unknown: Vec<String>,
}

/// A cache's components, their ages and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct CacheAge {
    /// When it was judged (RFC 3339).
    pub checked_at: String,
    /// Whether every judged component is present and within its limit
    /// (true when no limit was given).
    pub fresh: bool,
    /// trivy-db, java-db, checks, then each VEX repository by name.
    pub components: Vec<ComponentAge>,
    /// The log the provenance was read from.
    pub audit_log: PathBuf,
}

impl CacheAge {
    /// The stale components' lines, in order.
    pub fn stale(&self) -> Vec<&str> {
        let lines = self.components.iter().filter_map(|c| c.stale.as_deref());
        lines.collect()
    }
}

/// Judges `cache_dir` (absolute) at `now` against `limits`; the bundles'
/// provenance comes from `audit_log`.
pub fn cache_age(
    cache_dir: &Path,
    audit_log: &Path,
    limits: &Limits,
    now: OffsetDateTime,
) -> CacheAge {
    let history = provenance::read(audit_log, cache_dir);
    let state = super::guard::load(cache_dir).ok();
    let created = |key: &str| state.as_ref().and_then(|s| s.components.get(key).cloned());
    let mut components: Vec<ComponentAge> = [ArtifactKind::TrivyDb, ArtifactKind::JavaDb]
        .into_iter()
        .map(|k| database(cache_dir, k, now))
        .collect();
    components.push(checks(cache_dir, created("policy"), now));
    let mut names = std::collections::BTreeSet::new();
    if let Ok(entries) = fs::read_dir(cache_dir.join(trivy_cache::VEX_REPOSITORIES)) {
        let dirs = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()));
        names.extend(dirs.map(|e| e.file_name().to_string_lossy().into_owned()));
    }
    // A repository the last import installed is expected, present or not.
    if let Some(s) = &state {
        let prefix = format!("{}/", trivy_cache::VEX_REPOSITORIES);
        names.extend(
            s.components
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)),
        );
    }
    components.extend(names.iter().map(|n| vex(cache_dir, n, now)));
    for c in &mut components {
        origin(c, &history);
        judge(c, limits);
    }
    CacheAge {
        checked_at: format_time(now),
        fresh: components.iter().all(|c| c.stale.is_none()),
        components,
        audit_log: audit_log.to_path_buf(),
    }
}

fn blank(name: String, path: String, present: bool) -> ComponentAge {
    ComponentAge {
        name,
        path,
        present,
        schema: None,
        updated_at: None,
        next_update: None,
        downloaded_at: None,
        age_seconds: None,
        age: None,
        age_from: None,
        age_since: None,
        limit_seconds: None,
        stale: None,
        skipped: false,
        bundle: None,
        unknown: Vec::new(),
    }
}

/// A regular file's bytes (never through a link, nothing waited for), at
/// most [`MAX_JSON`]; `None` when it cannot be read so.
fn small_file(path: &Path) -> Option<Vec<u8>> {
    let meta = fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        return None;
    }
    crate::fsio::bounded::read_regular(path, MAX_JSON).ok()
}

/// Sets the age of `c` from `time` (RFC 3339) as measured from `from`.
fn aged(c: &mut ComponentAge, time: &str, from: &'static str, now: OffsetDateTime) {
    if let Ok(t) = parse_time(time) {
        let secs = (now - t).whole_seconds().max(0) as u64;
        c.age_seconds = Some(secs);
        c.age = Some(human_duration(secs));
        c.age_from = Some(from);
        c.age_since = Some(time.to_string());
    }
}

fn database(cache: &Path, kind: ArtifactKind, now: OffsetDateTime) -> ComponentAge {
    let rel = trivy_cache::component(kind);
    let dir = cache.join(rel);
    let mut c = blank(kind.to_string(), rel.to_string(), real_dir(&dir));
    if !c.present {
        return c;
    }
    let meta = small_file(&dir.join("metadata.json")).and_then(|b| DbMetadata::parse(&b).ok());
    let Some(m) = meta else {
        c.unknown
            .push(format!("its age: no readable {rel}/metadata.json"));
        return c;
    };
    aged(&mut c, &m.updated_at, "UpdatedAt", now);
    c.schema = Some(m.version);
    c.updated_at = Some(m.updated_at);
    c.next_update = Some(m.next_update);
    c.downloaded_at = Some(m.downloaded_at);
    c
}

/// `policy/metadata.json` as Trivy 0.69+ writes it.
#[derive(Deserialize)]
struct ChecksMetadata {
    #[serde(rename = "DownloadedAt")]
    downloaded_at: Option<String>,
    #[serde(rename = "MajorVersion")]
    major_version: Option<u64>,
}

fn checks(cache: &Path, created: Option<String>, now: OffsetDateTime) -> ComponentAge {
    let rel = trivy_cache::component(ArtifactKind::Checks);
    let dir = cache.join(rel);
    let mut c = blank(
        "checks".into(),
        rel.to_string(),
        real_dir(&dir.join("content")),
    );
    if !c.present {
        return c;
    }
    let meta = small_file(&dir.join("metadata.json"))
        .and_then(|b| serde_json::from_slice::<ChecksMetadata>(&b).ok());
    if let Some(m) = meta {
        c.schema = m.major_version;
        c.downloaded_at = m.downloaded_at;
    }
    match (created, c.downloaded_at.clone()) {
        (Some(t), _) => aged(&mut c, &t, "bundle created", now),
        (None, Some(t)) => {
            aged(&mut c, &t, "DownloadedAt", now);
            c.unknown.push(
                "when the checks were built: Trivy records only when it downloaded them".into(),
            );
        }
        (None, None) => c
            .unknown
            .push(format!("its age: no readable {rel}/metadata.json")),
    }
    c
}

#[derive(Deserialize)]
struct VexIndex {
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct VexCache {
    #[serde(rename = "UpdatedAt")]
    updated_at: Option<String>,
}

fn vex(cache: &Path, name: &str, now: OffsetDateTime) -> ComponentAge {
    let rel = format!("{}/{name}", trivy_cache::VEX_REPOSITORIES);
    let dir = cache.join(&rel);
    let mut c = blank(format!("vex:{name}"), rel.clone(), real_dir(&dir));
    if !c.present {
        return c;
    }
    let index = small_file(&dir.join("0.1").join("index.json"))
        .and_then(|b| serde_json::from_slice::<VexIndex>(&b).ok())
        .and_then(|i| i.updated_at);
    let downloaded = small_file(&dir.join("cache.json"))
        .and_then(|b| serde_json::from_slice::<VexCache>(&b).ok())
        .and_then(|i| i.updated_at);
    c.downloaded_at = downloaded.clone();
    match (index, downloaded) {
        (Some(t), _) => {
            aged(&mut c, &t, "index updated_at", now);
            c.updated_at = Some(t);
        }
        (None, Some(t)) => aged(&mut c, &t, "cache.json UpdatedAt", now),
        (None, None) => c.unknown.push(format!(
            "its age: no readable {rel}/0.1/index.json or cache.json"
        )),
    }
    c
}

/// The bundle `c` came from, or why it is unknown.
fn origin(c: &mut ComponentAge, history: &History) {
    if !c.present {
        return;
    }
    c.bundle = history.current.get(&c.path).cloned();
    if c.bundle.is_some() {
        return;
    }
    c.unknown.push(match (&history.log_error, history.log_found) {
        (Some(why), _) => format!("the bundle it came from: the audit log cannot be read ({why})"),
        (None, true) => "the bundle it came from: no import of it is recorded in the audit log (Trivy or another tool wrote it)".into(),
        (None, false) => "the bundle it came from: no audit log (Trivy or another tool wrote this cache)".into(),
    });
}

/// Sets `stale` when a limit applies to `c` and it is missing, of unknown
/// age, or older than the limit.
fn judge(c: &mut ComponentAge, limits: &Limits) {
    let db = matches!(c.name.as_str(), "trivy-db" | "java-db");
    let limit = match db {
        true => limits.max_db_age.or(limits.max_age),
        false => limits.max_age,
    };
    c.skipped = limits.skip.contains(&c.name);
    let Some(limit) = limit.filter(|_| !c.skipped) else {
        return;
    };
    c.limit_seconds = Some(limit);
    let max = human_duration(limit);
    let name = &c.name;
    c.stale = match (c.present, c.age_seconds) {
        (false, _) => Some(format!("{name} is missing (no {} in the cache)", c.path)),
        (true, None) => Some(format!(
            "{name} is of unknown age (no readable metadata), the limit is {max}"
        )),
        (true, Some(a)) if a > limit => {
            let from = c.age_from.unwrap_or_default();
            let since = c.age_since.as_deref().unwrap_or_default();
            Some(format!(
                "{name} is {} old ({from} {since}), the limit is {max}",
                human_duration(a)
            ))
        }
        (true, Some(_)) => None,
    };
}
