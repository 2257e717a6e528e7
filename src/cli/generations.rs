//! `rollback` and `status` of a cache directory.

use std::io::{self, Write};

use airlock::install::audit;

use super::failure::{Failure, Result};

use super::args::{CacheArgs, StatusArgs};

use super::*;

pub(super) fn rollback(a: CacheArgs) -> Result<()> {
    let mut report = airlock::install::rollback(&cache_dir::or_default(&a.cache_dir))?;
    if let Some(e) = report.audit_error.take() {
        return Err(Failure::from(e)
            .context("the rollback is complete, but it could not be recorded in the audit log"));
    }
    for w in &report.warnings {
        eprintln!("airlock: warning: {}", airlock::text::escape(w));
    }
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(out, "rolled back in {}:", shown(&report.cache_dir))?;
    for c in &report.record.components {
        writeln!(
            out,
            "  {}: {} -> {}",
            c.component,
            version(&c.from),
            version(&c.to)
        )?;
    }
    writeln!(
        out,
        "from {} to {}",
        bundle(&report.record.from),
        bundle(&report.record.to)
    )?;
    if let Some(l) = &report.audit {
        writeln!(
            out,
            "recorded in {} (line {}, sha256 {})",
            shown(&l.log),
            l.line,
            l.sha256
        )?;
    }
    writeln!(
        out,
        "what was swapped out is kept: `airlock rollback` again undoes this"
    )?;
    Ok(())
}

/// A component's version in words: UpdatedAt for a database, else its
/// content digest.
fn version(v: &audit::ComponentVersion) -> String {
    match (&v.updated_at, &v.content) {
        (Some(t), _) => format!("UpdatedAt {t}"),
        (None, Some(d)) => d.clone(),
        (None, None) => "unknown".into(),
    }
}

/// A bundle in words: its manifest, series and sequence, as far as known.
fn bundle(b: &audit::BundleRecord) -> String {
    let Some(sha) = &b.manifest_sha256 else {
        return "an unrecorded bundle".into();
    };
    match (&b.series, b.sequence) {
        (Some(s), Some(n)) => format!("manifest sha256 {sha} (series {s:?} sequence {n})"),
        _ => format!("manifest sha256 {sha}"),
    }
}

/// The staleness warnings of the databases a cache holds, by the clock.
fn stale_databases(st: &airlock::install::CacheStatus) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc();
    st.components
        .iter()
        .filter_map(|c| {
            let m = c.metadata.as_ref()?;
            // The cache's trees by the names the bundles use.
            let what = match c.path.to_str() {
                Some("db") => "trivy-db".to_string(),
                _ => super::show::path_line(&c.path),
            };
            airlock::freshness::stale(&what, &m.updated_at, &m.next_update, now)
        })
        .collect()
}

pub(super) fn status(a: StatusArgs) -> Result<()> {
    let dir = cache_dir::or_default(&a.cache_dir);
    let limits = status::limits(&a)?;
    let st = airlock::install::status(&dir)?;
    let ages = status::ages(&st.cache_dir, &a, &limits);
    // A limit given replaces the built-in staleness warnings: the check
    // says what is wrong by its own limits.
    let warnings = match limits.max_age.or(limits.max_db_age) {
        Some(_) => Vec::new(),
        None => stale_databases(&st),
    };
    stale::print(&warnings, a.json);
    let activity = airlock::install::activity(&dir);
    if a.json {
        print_json(&stale::WithWarnings {
            report: &StatusJson {
                schema_version: status::SCHEMA_VERSION,
                status: &st,
                activity: &activity,
                freshness: &ages,
            },
            warnings: &warnings,
        })?;
        return status::verdict(&ages, true);
    }
    let size = airlock::text::bytes;
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(out, "{}:", shown(&st.cache_dir))?;
    for c in &st.components {
        write!(out, "  {:<28} {:>10}", shown(&c.path), size(c.bytes))?;
        if let Some(m) = &c.metadata {
            write!(
                out,
                "  schema {}  UpdatedAt {}  NextUpdate {}  DownloadedAt {}",
                m.version, m.updated_at, m.next_update, m.downloaded_at
            )?;
        }
        if let Some(p) = c.previous_bytes {
            write!(out, "  (previous generation kept: {})", size(p))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "previous generation (for `airlock rollback`): {}",
        size(st.previous_bytes)
    )?;
    // Before the activity lines, which end the report (scripts read them
    // last).
    status::show(&mut out, &ages, &limits)?;
    show_activity(&mut out, &activity)?;
    drop(out);
    status::verdict(&ages, false)
}

/// `status --json`: the cache, then what runs on it or was left there,
/// then each component's age and origin (README.md, "status --json").
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    schema_version: u32,
    #[serde(flatten)]
    status: &'a airlock::install::CacheStatus,
    #[serde(flatten)]
    activity: &'a airlock::install::Activity,
    freshness: &'a airlock::install::cache_age::CacheAge,
}

/// A path on one line: control characters (a newline in a file name
/// would print a line of its own) escaped.
fn shown(path: &std::path::Path) -> String {
    show::path_line(path)
}

/// An import or rollback in progress, and leftovers: path, size, who holds
/// them, and what removes them.
fn show_activity(out: &mut dyn Write, a: &airlock::install::Activity) -> io::Result<()> {
    if let Some(pid) = a.rollback_in_progress {
        writeln!(
            out,
            "rollback in progress: process {pid} holds the cache lock"
        )?;
    }
    if let Some(pid) = a.import_in_progress {
        match a.holder_known {
            true => writeln!(
                out,
                "import in progress: process {pid} holds the cache lock"
            )?,
            false => writeln!(
                out,
                "an import or rollback is in progress: process {pid} holds the cache lock"
            )?,
        }
    }
    for l in &a.leftovers {
        let what = if l.dir { "folder" } else { "file" };
        let size = bar::human(l.bytes);
        let path = shown(&l.path);
        if let Some(pid) = l.held_by {
            writeln!(
                out,
                "in use: {path} ({what}, {size}), held by live process {pid}"
            )?;
            continue;
        }
        use airlock::install::LeftoverKind;
        match airlock::install::leftover_kind(&l.path) {
            LeftoverKind::Staging => writeln!(
                out,
                "leftover: {path} ({what}, {size}) of an interrupted run; no live process holds it, the next run of its kind removes it"
            )?,
            LeftoverKind::SetAside => writeln!(
                out,
                "set aside: {path} ({what}, {size}), the previous generation of an interrupted import; no live process holds it, the next import puts it back for `airlock rollback`"
            )?,
            LeftoverKind::Other => writeln!(
                out,
                "leftover: {path} ({what}, {size}) of an interrupted run; no live process holds it, the next import into this cache or run of its kind writing here removes it"
            )?,
        }
    }
    Ok(())
}
