//! The audit log and receipts.
//!
//! Every import, accepted or refused, appends one JSON object on one line to
//! an append-only log (default `<cache>/airlock-audit.jsonl`). Each line's
//! `prev` field is the SHA-256 of the previous line's bytes including its
//! newline (64 zeros for the first line), so editing, removing or reordering
//! any earlier line breaks the chain, and [`check`] (`airlock audit`) or a
//! short shell pipeline (README) finds where. A receipt is the same record
//! plus the line's place in the log, written to a file of its own and
//! optionally signed (minisign format) so it can be checked anywhere.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::error::PathIo;
use crate::install::component::ComponentId;
use crate::policy::SignerReport;

mod receipt;
pub use receipt::{read_receipt, signature_path, write_receipt, Receipt, ReceiptReport};

/// The log's file name in the cache directory.
pub const AUDIT_FILE: &str = "airlock-audit.jsonl";
/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The decision an audit line records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Accepted.
    Accepted,
    /// Accepted past a downgrade refusal (`allow_downgrade`).
    Forced,
    /// Refused (the default: a record says so unless it says otherwise).
    #[default]
    Refused,
    /// Not an import: `airlock rollback` put the previous generation back
    /// (the record's `rollback` says from what to what).
    #[serde(rename = "rolled-back")]
    RolledBack,
}

/// A bundle as the state knows it: its manifest, series and sequence
/// (`null` where the state does not know them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BundleRecord {
    /// SHA-256 of its manifest.
    pub manifest_sha256: Option<String>,
    /// Its series.
    pub series: Option<String>,
    /// Its sequence in the series.
    pub sequence: Option<u64>,
}

/// A component's version: the digest of its content and, for a
/// database, its UpdatedAt (`null` where unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComponentVersion {
    /// The content digest (an artifact's layer, a VEX archive).
    pub content: Option<String>,
    /// UpdatedAt (databases).
    pub updated_at: Option<String>,
}

/// One component a rollback put back: its version before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionChange {
    /// The component (`db`, `java-db`, `policy`, `vex/repositories/<name>`).
    pub component: String,
    /// What was installed before the rollback.
    pub from: ComponentVersion,
    /// What is installed after it.
    pub to: ComponentVersion,
}

/// What a rollback changed, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RollbackRecord {
    /// The bundle last imported before the rollback.
    pub from: BundleRecord,
    /// The bundle whose import made the generation put back.
    pub to: BundleRecord,
    /// Each component put back.
    pub components: Vec<VersionChange>,
}

/// One thing an import installed or pushed, as recorded (the field names
/// are the log's format: `airlock audit` and readers of old logs rely on
/// them; `component`, the [`ComponentId`], is new in this version and
/// absent from older records).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum InstalledRecord {
    /// A cache component (`db`, `java-db`, `policy`).
    Component {
        /// Which component (`db`, `java-db`, `policy`).
        component: ComponentId,
        /// Where it went.
        #[serde(serialize_with = "path_text")]
        path: PathBuf,
        /// Its OCI manifest digest.
        manifest_digest: String,
        /// UpdatedAt (databases; `null` for the checks bundle).
        updated_at: Option<String>,
        /// Whether it replaced an older one.
        replaced: bool,
    },
    /// A VEX repository in the cache.
    Vex {
        /// Which component (`vex/repositories/<name>`).
        component: ComponentId,
        /// Where it went.
        #[serde(serialize_with = "path_text")]
        path: PathBuf,
        /// Its name.
        vex: String,
        /// Whether it replaced an older one.
        replaced: bool,
    },
    /// An artifact pushed into a registry.
    Pushed {
        /// `host/repository:tag`.
        pushed: String,
        /// Its manifest digest.
        manifest_digest: String,
    },
}

/// A path as the log's other paths are written (`bundle`, `cache_dir`):
/// its text, a byte that is not UTF-8 as U+FFFD. serde's own refuses such a
/// path, which made `import` into a non-UTF-8 cache panic after installing.
fn path_text<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// One import, as recorded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEntry {
    /// When (RFC 3339, UTC).
    pub time: String,
    /// `accepted`, `forced` (accepted past a downgrade refusal) or `refused`.
    pub decision: Verdict,
    /// Why it was refused (the whole error chain), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The bundle as named on the command line (empty, and absent, for a
    /// rollback).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bundle: String,
    /// The cache directory.
    pub cache_dir: String,
    /// SHA-256 of the bundle's manifest, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// The bundle's creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Its series and sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// See `series`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// How each signature was judged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<SignerReport>,
    /// The bundle's labels (`status` shows them beside each component the
    /// import installed; absent from older records and when there are none).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// An accepted import that changed nothing: everything the bundle
    /// carries was installed already (same content, compared on disk);
    /// nothing was swapped, and the state only remembers its series and
    /// sequence (issue 15).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_installed: bool,
    /// The manifest imported under the bundle's series and sequence, of the
    /// same content, when it is another (no equivocation, issue 15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_content_as: Option<String>,
    /// What the state called installed but the disk did not hold as the
    /// bundle signs it: the import reinstalled it (issue 15).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
    /// The downgrades that were forced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    /// Each component installed: path, OCI manifest digest, UpdatedAt, and
    /// whether it replaced an older one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub installed: Vec<InstalledRecord>,
    /// What went wrong after the swaps of an accepted import (the state
    /// file, the previous generation): the import stands, but this host's
    /// downgrade protection or rollback may be lost, and the record says so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A rollback: from which bundle to which, each component's version
    /// before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    /// The host name, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The user (uid and name), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Where a record went in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Logged {
    /// The log file.
    pub log: PathBuf,
    /// The line's number (1-based).
    pub line: u64,
    /// SHA-256 of the line (with its newline): the next line's `prev`.
    pub sha256: String,
    /// The line's `prev`.
    pub prev: String,
}

/// A break in the chain.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A line is not what the chain says.
    #[error("{}: line {line}: {reason}", crate::text::path(log))]
    Broken {
        /// The log.
        log: PathBuf,
        /// 1-based.
        line: u64,
        /// Why.
        reason: String,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] PathIo),
}

impl crate::error::Classify for AuditError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            AuditError::Broken { .. } => Damaged,
            AuditError::Io(_) => HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            AuditError::Broken { .. } => crate::error::Hint::text(
                "the log was edited, truncated or reordered at or before this line",
            ),
            AuditError::Io(_) => None,
        }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The user and host running this process, for the record: the user's
/// name from the passwd database (`/etc/passwd`, which `sudo` and services
/// do not change as they do `USER`) with the uid, `root (uid 0)`; else the
/// `USER` variable's name marked as such; else the uid alone.
pub fn who() -> (Option<String>, Option<String>) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let uid = rustix::process::getuid().as_raw();
    let from_passwd = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| passwd_name(&text, uid));
    let user = Some(match from_passwd {
        Some(n) => format!("{n} (uid {uid})"),
        None => match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
            Ok(n) => format!("{} (uid {uid}, name from $USER)", crate::text::escape(&n)),
            Err(_) => format!("uid {uid}"),
        },
    });
    (host, user)
}

/// The name of `uid` in passwd-format `text` (the first entry that has it).
fn passwd_name(text: &str, uid: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty() && !name.starts_with('#'))
            .then(|| crate::text::escape(name).into_owned())
    })
}

/// Appends `entry` to the log at `log` (created if absent), chained to its
/// last line, under an exclusive lock on the log, and flushes it.
pub fn append(log: &Path, entry: &AuditEntry) -> Result<Logged, AuditError> {
    append_waiting(log, entry, None)
}

/// [`append`], waiting at most `wait` (if given) for another process's
/// lock on the log: for a record that must not hold up the end of the
/// process (an interruption's).
pub fn append_waiting(
    log: &Path,
    entry: &AuditEntry,
    wait: Option<std::time::Duration>,
) -> Result<Logged, AuditError> {
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o644)
        .custom_flags(crate::fsio::open_flags::NOFOLLOW)
        .open(log)
        .map_err(PathIo::at("cannot open the audit log", log))?;
    lock_log(&f, wait).map_err(PathIo::at("cannot lock the audit log", log))?;
    let mut text = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut text))
        .map_err(PathIo::at("cannot read the audit log", log))?;
    if !text.is_empty() && !text.ends_with(b"\n") {
        // A torn last line stays visible to `check`, as a line of its own.
        f.write_all(b"\n")
            .map_err(PathIo::at("cannot write the audit log", log))?;
        text.push(b'\n');
    }
    let lines = text.split_inclusive(|&b| b == b'\n');
    let (count, prev) = lines.fold((0u64, GENESIS.to_string()), |(n, _), l| {
        (n + 1, sha256_hex(l))
    });
    let mut value = serde_json::to_value(entry).expect("an audit entry serializes");
    value["prev"] = serde_json::Value::String(prev.clone());
    let mut line = value.to_string();
    line.push('\n');
    f.write_all(line.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(PathIo::at("cannot write the audit log", log))?;
    Ok(Logged {
        log: log.to_path_buf(),
        line: count + 1,
        sha256: sha256_hex(line.as_bytes()),
        prev,
    })
}

/// Takes the log's lock, waiting for it at most `wait` (if given), and
/// with no limit otherwise until a signal is being handled: the record is
/// written in a section the signal handler waits for, and whoever can read
/// the log can hold its lock as long as they like (see
/// [`crate::cleanup::interrupt::stopping`]).
fn lock_log(f: &File, wait: Option<std::time::Duration>) -> io::Result<()> {
    let start = std::time::Instant::now();
    while !crate::fsio::lock::try_lock_exclusive(f)? {
        if wait.is_some_and(|w| start.elapsed() >= w) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another process held the lock",
            ));
        }
        if wait.is_none() && crate::cleanup::interrupt::stopping() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "a signal ended the wait for another process's lock on it",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// What [`check`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// The log.
    pub log: PathBuf,
    /// Lines checked.
    pub lines: u64,
    /// SHA-256 of the last line (what the next line's `prev` will be).
    pub head: String,
    /// Decisions by kind: `accepted` counts the imports that changed
    /// something, `already_installed` the accepted no-ops (issue 15).
    pub accepted: u64,
    /// Accepted imports that changed nothing (`"already_installed": true`).
    pub already_installed: u64,
    /// See `accepted`.
    pub forced: u64,
    /// See `accepted`.
    pub refused: u64,
    /// Rollbacks.
    pub rolled_back: u64,
}

/// Checks the whole chain.
pub fn check(log: &Path) -> Result<Chain, AuditError> {
    let mut text = Vec::new();
    File::open(log)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(PathIo::at("cannot read the audit log", log))?;
    let mut chain = Chain {
        log: log.to_path_buf(),
        lines: 0,
        head: GENESIS.to_string(),
        accepted: 0,
        already_installed: 0,
        forced: 0,
        refused: 0,
        rolled_back: 0,
    };
    for raw in text.split_inclusive(|&b| b == b'\n') {
        chain.lines += 1;
        let broken = |reason: String| AuditError::Broken {
            log: log.to_path_buf(),
            line: chain.lines,
            reason,
        };
        if !raw.ends_with(b"\n") {
            return Err(broken("the line is incomplete (no newline)".into()));
        }
        let v: serde_json::Value =
            serde_json::from_slice(raw).map_err(|e| broken(format!("not a JSON object: {e}")))?;
        let prev = v["prev"].as_str().unwrap_or_default();
        if prev != chain.head {
            return Err(broken(format!(
                "prev is {prev:?}, but the line before hashes to {}",
                chain.head
            )));
        }
        match v["decision"].as_str() {
            Some("accepted") if v["already_installed"] == true => chain.already_installed += 1,
            Some("accepted") => chain.accepted += 1,
            Some("forced") => chain.forced += 1,
            Some("refused") => chain.refused += 1,
            Some("rolled-back") => chain.rolled_back += 1,
            other => return Err(broken(format!("unknown decision {other:?}"))),
        }
        chain.head = sha256_hex(raw);
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_named_from_the_passwd_database() {
        let text = "# comment\nroot:x:0:0:root:/root:/bin/sh\nop:x:1000:1000::/home/op:/bin/sh\n";
        assert_eq!(passwd_name(text, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(text, 1000).as_deref(), Some("op"));
        assert_eq!(passwd_name(text, 7), None);
        let (_, user) = who();
        let uid = rustix::process::getuid().as_raw();
        let expected = passwd_name(&std::fs::read_to_string("/etc/passwd").unwrap(), uid);
        if let Some(name) = expected {
            assert_eq!(user, Some(format!("{name} (uid {uid})")));
        }
    }

    #[test]
    fn the_chain_links_lines_and_finds_edits() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(AUDIT_FILE);
        let verdicts = [Verdict::Accepted, Verdict::Refused, Verdict::Forced];
        for (i, d) in verdicts.into_iter().enumerate() {
            let e = AuditEntry {
                time: format!("2026-01-0{}T00:00:00Z", i + 1),
                decision: d,
                bundle: "b.airlock".into(),
                ..Default::default()
            };
            let logged = append(&log, &e).unwrap();
            assert_eq!(logged.line, i as u64 + 1);
        }
        let chain = check(&log).unwrap();
        assert_eq!(
            (chain.lines, chain.accepted, chain.refused, chain.forced),
            (3, 1, 1, 1)
        );
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::write(&log, text.replacen("refused", "accepted", 1)).unwrap();
        let err = check(&log).unwrap_err().to_string();
        assert!(err.contains("line 3: prev is"), "{err}");
    }

    #[test]
    fn installed_records_keep_the_log_format() {
        let records = [
            InstalledRecord::Component {
                component: ComponentId::Artifact(crate::manifest::ArtifactKind::Checks),
                path: "/c/policy".into(),
                manifest_digest: "sha256:aa".into(),
                updated_at: None,
                replaced: true,
            },
            InstalledRecord::Vex {
                component: ComponentId::VexRepository("default".into()),
                path: "/c/vex/repositories/default".into(),
                vex: "default".into(),
                replaced: false,
            },
            InstalledRecord::Pushed {
                pushed: "r.example/db:2".into(),
                manifest_digest: "sha256:bb".into(),
            },
        ];
        // As the log was written before these records were typed, with the
        // component's id first.
        let expected = serde_json::json!([
            {"component": "policy", "path": "/c/policy", "manifest_digest": "sha256:aa", "updated_at": null, "replaced": true},
            {"component": "vex/repositories/default", "path": "/c/vex/repositories/default", "vex": "default", "replaced": false},
            {"pushed": "r.example/db:2", "manifest_digest": "sha256:bb"},
        ]);
        assert_eq!(serde_json::to_value(records).unwrap(), expected);
        let e = AuditEntry {
            decision: Verdict::Forced,
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(e).unwrap()["decision"], "forced");
    }

    #[test]
    fn a_receipt_report_reads_what_the_receipt_says() {
        let receipt = serde_json::json!({
            "decision": "accepted",
            "bundle": "b.airlock",
            "audit": {"line": 3, "sha256": "ab"},
        });
        let r = ReceiptReport::new(Vec::new(), receipt.clone());
        assert_eq!((r.field("decision"), r.field("time")), ("accepted", "-"));
        assert_eq!(r.audit_line(), Some((3, "-", "ab")));
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["ok"], true);
        assert_eq!(json["receipt"], receipt);
        assert_eq!(json["signers"], serde_json::json!([]));
        let unlogged = ReceiptReport::new(Vec::new(), serde_json::json!({"audit": null}));
        assert_eq!(unlogged.audit_line(), None);
    }
}
