//! How old a bundle's content is (issue 15): the one judgement of a trust
//! policy's age limits and the clock skew, which `verify`, `import` and
//! `inspect --trust` all call so that they cannot disagree; and the
//! staleness warnings every command gives without a policy.
//!
//! Without a policy, a database is called stale when its `UpdatedAt` is
//! more than [`STALE_AFTER`] (7 days) old, or its `NextUpdate` passed more
//! than [`OVERDUE_AFTER`] (1 day) ago: Trivy's databases are rebuilt every
//! few hours, so either means that newer data exists. A warning stops
//! nothing; a policy's `max_age` / `max_db_age` refuse.

use time::OffsetDateTime;

use crate::manifest::Manifest;
use crate::policy::{human_duration, TrustPolicy};
use crate::timestamp::parse_time;

/// A database whose UpdatedAt is older than this is stale (seconds).
pub const STALE_AFTER: u64 = 7 * 86_400;
/// A database whose NextUpdate passed longer ago than this is stale
/// (seconds).
pub const OVERDUE_AFTER: u64 = 86_400;

/// Why a bundle is refused for its age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgeRefusal {
    /// A time in it lies ahead of the clock by more than the skew allowed.
    FromTheFuture(String),
    /// Older than the policy's `max_age` or `max_db_age`.
    Stale(String),
}

impl std::fmt::Display for AgeRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgeRefusal::FromTheFuture(why) | AgeRefusal::Stale(why) => f.write_str(why),
        }
    }
}

fn age(now: OffsetDateTime, then: OffsetDateTime) -> u64 {
    (now - then).whole_seconds().max(0) as u64
}

/// Judges `m` at `now` against the clock skew allowed and the policy's age
/// limits, in that order: the one judgement of `verify`, `import` (with
/// `now` the later of the clock and the newest time the host has seen) and
/// `inspect --trust`.
pub fn judge(m: &Manifest, policy: &TrustPolicy, now: OffsetDateTime) -> Result<(), AgeRefusal> {
    if let Some(why) = m.time_from_the_future(now) {
        return Err(AgeRefusal::FromTheFuture(why));
    }
    policy_limits(m, policy, now).map_err(AgeRefusal::Stale)
}

/// The policy's `max_age` and `max_db_age` at `now`: the first exceeded.
pub fn policy_limits(
    m: &Manifest,
    policy: &TrustPolicy,
    now: OffsetDateTime,
) -> Result<(), String> {
    if let Some(max) = policy.max_age {
        let a = age(now, m.created.at());
        if a > max {
            return Err(format!(
                "the bundle was created {} ago ({}), the policy's max_age is {}",
                human_duration(a),
                m.created,
                human_duration(max)
            ));
        }
    }
    if let Some(max) = policy.max_db_age {
        for (kind, db) in m.databases() {
            let age = age(now, db.updated_at.at());
            if age > max {
                return Err(format!(
                    "the {} in this bundle is {} old (UpdatedAt {}), the policy's max_db_age is {}",
                    kind,
                    human_duration(age),
                    db.updated_at,
                    human_duration(max)
                ));
            }
        }
    }
    Ok(())
}

/// The staleness warning for the database `what` (`trivy-db`, `java-db`)
/// with these times at `now`, if it is stale (see the module docs). Times
/// that do not parse give no warning (they are refused elsewhere).
pub fn stale(
    what: &str,
    updated_at: &str,
    next_update: &str,
    now: OffsetDateTime,
) -> Option<String> {
    let updated = parse_time(updated_at).ok()?;
    let old = age(now, updated);
    let late = parse_time(next_update).ok().map(|n| age(now, n));
    let (u, n) = (
        crate::text::escape(updated_at),
        crate::text::escape(next_update),
    );
    match (old > STALE_AFTER, late.filter(|l| *l > OVERDUE_AFTER)) {
        (true, Some(l)) => Some(format!(
            "the {what} is {} old (UpdatedAt {u}) and its NextUpdate {n} passed {} ago",
            human_duration(old),
            human_duration(l)
        )),
        (true, None) => Some(format!(
            "the {what} is {} old (UpdatedAt {u})",
            human_duration(old)
        )),
        (false, Some(l)) => Some(format!(
            "the {what}'s NextUpdate {n} passed {} ago (UpdatedAt {u})",
            human_duration(l)
        )),
        (false, None) => None,
    }
}

/// The staleness warnings for the databases a bundle carries, at `now`.
pub fn warnings(m: &Manifest, now: OffsetDateTime) -> Vec<String> {
    m.databases()
        .filter_map(|(kind, db)| {
            stale(
                &kind.to_string(),
                db.updated_at.as_str(),
                db.next_update.as_str(),
                now,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> OffsetDateTime {
        parse_time(t).unwrap()
    }

    #[test]
    fn a_database_is_stale_by_its_age_or_its_overdue_next_update() {
        let now = at("2026-12-01T00:00:00Z");
        let table = [
            // Fresh: a day old, NextUpdate tomorrow.
            ("2026-11-30T00:00:00Z", "2026-12-02T00:00:00Z", None),
            // Exactly at both limits: not yet.
            ("2026-11-24T00:00:00Z", "2026-11-30T00:00:00Z", None),
            (
                "2026-11-23T23:00:00Z",
                "2026-12-02T00:00:00Z",
                Some("the trivy-db is 7d 1h old (UpdatedAt 2026-11-23T23:00:00Z)"),
            ),
            (
                "2026-11-28T00:00:00Z",
                "2026-11-29T00:00:00Z",
                Some("the trivy-db's NextUpdate 2026-11-29T00:00:00Z passed 2d 0h ago (UpdatedAt 2026-11-28T00:00:00Z)"),
            ),
            (
                "2024-01-01T00:00:00Z",
                "2024-01-02T00:00:00Z",
                Some("the trivy-db is 1065d 0h old (UpdatedAt 2024-01-01T00:00:00Z) and its NextUpdate 2024-01-02T00:00:00Z passed 1064d 0h ago"),
            ),
            ("not a time", "2024-01-02T00:00:00Z", None),
        ];
        for (updated, next, want) in table {
            assert_eq!(
                stale("trivy-db", updated, next, now).as_deref(),
                want,
                "{updated} {next}"
            );
        }
    }
}
