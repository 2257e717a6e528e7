//! `status`'s freshness check (issue 14): each component's age and the
//! bundle it came from, and the exit code a monitoring check reads: 0 when
//! every component is within its limit (or no limit was given), 9
//! ([`ExitClass::Stale`]) when one is older, of unknown age, or missing,
//! with one `airlock: stale: …` line each on stderr.

use std::io::{self, Write};
use std::path::Path;

use airlock::error::ExitClass;
use airlock::install::cache_age::{self, CacheAge, ComponentAge, Limits};
use airlock::install::provenance::Provenance;
use airlock::policy::{human_duration, parse_duration};
use airlock::text::escape;

use super::args::StatusArgs;
use super::failure::{Failure, Result};

/// The version of `status --json`'s layout (README.md, "status --json"):
/// raised when a field changes meaning or goes; new fields do not raise it.
pub(super) const SCHEMA_VERSION: u32 = 1;

/// The names `--skip` accepts besides `vex:NAME`.
const COMPONENTS: [&str; 3] = ["trivy-db", "java-db", "checks"];

/// The limits of the command line, checked.
pub(super) fn limits(a: &StatusArgs) -> Result<Limits> {
    let duration = |flag: &str, v: &Option<String>| -> Result<Option<u64>> {
        let Some(text) = v else { return Ok(None) };
        match parse_duration(text).filter(|d| *d > 0) {
            Some(d) => Ok(Some(d)),
            None => Err(Failure::usage(format!(
                "{flag} {:?} is not a duration (a number and s, m, h, d or w: 7d, 36h)",
                escape(text)
            ))),
        }
    };
    for s in &a.skip {
        let vex = s.strip_prefix("vex:").is_some_and(|n| !n.is_empty());
        if !vex && !COMPONENTS.contains(&s.as_str()) {
            return Err(Failure::usage(format!(
                "--skip {:?} names no component (trivy-db, java-db, checks, vex:NAME)",
                escape(s)
            )));
        }
    }
    Ok(Limits {
        max_age: duration("--max-age", &a.max_age)?,
        max_db_age: duration("--max-db-age", &a.max_db_age)?,
        skip: a.skip.clone(),
    })
}

/// The ages of `cache` (absolute) by the clock.
pub(super) fn ages(cache: &Path, a: &StatusArgs, limits: &Limits) -> CacheAge {
    let log = match &a.audit_log {
        Some(l) => l.clone(),
        None => cache.join(airlock::install::audit::AUDIT_FILE),
    };
    cache_age::cache_age(cache, &log, limits, time::OffsetDateTime::now_utc())
}

/// Exit 0 when fresh; else one `airlock: stale:` line per component on
/// stderr (none with `--json`, whose report says it) and exit 9.
pub(super) fn verdict(ages: &CacheAge, json: bool) -> Result<()> {
    let stale = ages.stale();
    if stale.is_empty() {
        return Ok(());
    }
    if !json {
        let mut err = io::stderr().lock();
        for line in &stale {
            let _ = writeln!(err, "airlock: stale: {}", escape(line));
        }
    }
    let what = airlock::text::count(stale.len() as u64, "component", "components");
    Err(Failure::said(
        ExitClass::Stale,
        format!("{what} stale or missing"),
    ))
}

/// The freshness lines of the text report.
pub(super) fn show(out: &mut dyn Write, ages: &CacheAge, limits: &Limits) -> io::Result<()> {
    let limit = |l: Option<u64>| l.map(human_duration).unwrap_or_else(|| "none".into());
    writeln!(
        out,
        "freshness at {} (--max-age {}, --max-db-age {}):",
        ages.checked_at,
        limit(limits.max_age),
        limit(limits.max_db_age.or(limits.max_age))
    )?;
    for c in &ages.components {
        writeln!(out, "  {:<12} {}", c.name, facts(c))?;
        if let Some(b) = &c.bundle {
            writeln!(out, "  {:<12} from {}", "", origin(b))?;
        }
        for u in &c.unknown {
            writeln!(out, "  {:<12} unknown: {u}", "")?;
        }
    }
    Ok(())
}

/// A component's state in one line.
fn facts(c: &ComponentAge) -> String {
    if !c.present {
        return "missing".into();
    }
    let mut words = Vec::new();
    if let Some(s) = c.schema {
        words.push(format!("schema {s}"));
    }
    match (&c.age, c.age_from, &c.age_since) {
        (Some(age), Some(from), Some(since)) => words.push(format!("{age} old ({from} {since})")),
        _ => words.push("age unknown".into()),
    }
    if let Some(n) = &c.next_update {
        words.push(format!("NextUpdate {n}"));
    }
    match (&c.stale, c.skipped) {
        (Some(_), _) => words.push("STALE".into()),
        (None, true) => words.push("(not checked: --skip)".into()),
        (None, false) if c.limit_seconds.is_some() => words.push("ok".into()),
        (None, false) => {}
    }
    words.join("  ")
}

/// The bundle and import behind a component, in one line.
fn origin(b: &Provenance) -> String {
    let mut words = vec![match &b.manifest_sha256 {
        Some(sha) => format!("bundle manifest sha256 {sha}"),
        None => "a bundle".into(),
    }];
    if let (Some(series), Some(n)) = (&b.series, b.sequence) {
        words.push(format!("series {series:?} sequence {n}"));
    }
    if let Some(c) = &b.created {
        words.push(format!("created {c}"));
    }
    words.push(format!("imported {} ({})", b.imported_at, b.decision));
    let signers: Vec<String> = b
        .signers
        .iter()
        .map(|s| match &s.name {
            Some(n) => format!("{n} ({})", s.key_id),
            None => s.key_id.clone(),
        })
        .collect();
    if !signers.is_empty() {
        words.push(format!("signed by {}", signers.join(", ")));
    }
    if !b.labels.is_empty() {
        let labels: Vec<String> = b.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        words.push(format!("labels {}", labels.join(" ")));
    }
    words.join(", ")
}
