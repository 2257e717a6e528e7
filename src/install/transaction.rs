//! The import as a transaction the library owns (issue 18): verify the
//! bundle, judge it, stage, swap, keep the previous generation (all in
//! [`super::import`]), push it when asked, then write the audit entry and
//! the receipt, and return a typed [`ImportOutcome`]. A program calling
//! [`Import::run`] gets the same record `airlock import` writes.
//!
//! ```no_run
//! use airlock::install::{Decision, Import, ImportRequest};
//! use airlock::media::Input;
//! use airlock::policy::TrustPolicy;
//! use airlock::progress::NoProgress;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = TrustPolicy::from_file("trust.toml".as_ref())?;
//! let bundle = Input::open("monthly.airlock".as_ref(), Some(&policy))?;
//! let request = ImportRequest {
//!     bundle_name: "monthly.airlock".into(),
//!     cache_dir: Some("/var/cache/trivy".into()),
//!     vex_dir: None,
//!     vex_url: None,
//!     now: time::OffsetDateTime::now_utc(),
//!     allow_downgrade: false,
//!     audit_log: None, // <cache>/airlock-audit.jsonl
//!     receipt: None,
//!     generator: "my-importer 1.0".into(),
//! };
//! let outcome = Import::new(&bundle, &policy, request).run(&NoProgress);
//! if !outcome.is_complete() {
//!     // Refused, or accepted with a push, log, receipt or state failure:
//!     // the outcome's fields say which.
//!     return Err(format!("{:?}: {:?}", outcome.decision, outcome.records).into());
//! }
//! println!("{:?}, logged at {:?}", outcome.decision, outcome.records.audit);
//! # Ok(())
//! # }
//! ```

use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::keys::SecretKey;
use crate::layout::oci_repos::{PushReport, PushTarget};
use crate::media::Input;
use crate::policy::{SignerReport, TrustPolicy};
use crate::progress::{NoProgress, Progress};
use crate::registry::Client;

use super::audit::{self, AuditEntry, AuditError, Logged, Verdict};
use super::{push, ImportError, ImportOptions, ImportReport};

mod interrupted;
mod record;

pub use record::installed;
use record::{chain, fill, record};

/// A receipt to write: the record, signed with `key` when given.
pub struct ReceiptRequest {
    /// Where.
    pub path: PathBuf,
    /// The key to sign it with (minisign format), if any.
    pub key: Option<SecretKey>,
}

/// What to import and how to record it.
pub struct ImportRequest {
    /// The bundle as the caller names it (recorded as such).
    pub bundle_name: String,
    /// Where to install; `None` verifies only (and pushes, when asked).
    pub cache_dir: Option<PathBuf>,
    /// Where to write a static VEX repository directory, if anywhere.
    pub vex_dir: Option<PathBuf>,
    /// The URL under which `vex_dir` will be served.
    pub vex_url: Option<String>,
    /// The import time.
    pub now: OffsetDateTime,
    /// Accept a downgrade, recorded as forced, if the policy allows it.
    pub allow_downgrade: bool,
    /// The audit log (default `<cache>/airlock-audit.jsonl`); written when
    /// its directory exists (a refusal never creates a cache directory).
    pub audit_log: Option<PathBuf>,
    /// The receipt, if one is wanted.
    pub receipt: Option<ReceiptRequest>,
    /// The program recorded in the receipt.
    pub generator: String,
}

impl ImportRequest {
    /// The audit log this request writes. A refusal never creates a
    /// directory, so its record goes only where the log's directory exists;
    /// an accepted import is always recorded, or its failure to be recorded
    /// is reported (an explicit log in a missing directory is an error, not
    /// a silence).
    fn audit_log(&self, refused: bool) -> Option<PathBuf> {
        match (&self.audit_log, &self.cache_dir) {
            (Some(log), _) if !refused => Some(log.clone()),
            (Some(log), _) => Some(log.clone()).filter(|l| parent(l).is_dir()),
            (None, Some(cache)) => {
                Some(cache.join(audit::AUDIT_FILE)).filter(|l| parent(l).is_dir())
            }
            (None, None) => None,
        }
    }

    /// The record of this request, before its decision is known.
    fn entry(&self) -> AuditEntry {
        let (host, user) = audit::who();
        AuditEntry {
            time: crate::timestamp::format_time(self.now),
            // Absolute paths: a relative one means nothing in the log later
            // (issue 15). A path that cannot be resolved is kept as given.
            bundle: abs(Path::new(&self.bundle_name)),
            cache_dir: self.cache_dir.as_deref().map(abs).unwrap_or_default(),
            host,
            user,
            ..Default::default()
        }
    }

    /// Records a refusal that came before the bundle could be read (a bad
    /// flag, an unreadable trust policy, an unreachable registry).
    pub fn record_refusal(&self, reason: &str) -> Records {
        let mut entry = self.entry();
        entry.reason = Some(crate::redact::text(reason).into_owned());
        record(self, entry)
    }
}

/// `p` made absolute (without resolving links), as text.
fn abs(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// The decision, with its reasons as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
pub enum Decision {
    /// Accepted as it is.
    Accepted,
    /// Accepted as a no-op: everything the bundle carries was installed
    /// already (same content); nothing was swapped (issue 15).
    AlreadyInstalled,
    /// Accepted past these downgrade refusals (`allow_downgrade`).
    Forced {
        /// The refusals overridden.
        overridden: Vec<String>,
    },
    /// Refused: nothing was written (or the push failed, for a push alone).
    /// A swap that failed and could not be put back is refused too; its
    /// reason then names the components that are new.
    Refused {
        /// The whole error chain, redacted.
        reason: String,
    },
}

impl Decision {
    /// The word the audit log records.
    pub fn verdict(&self) -> Verdict {
        match self {
            Decision::Accepted => Verdict::Accepted,
            Decision::AlreadyInstalled => Verdict::Accepted,
            Decision::Forced { .. } => Verdict::Forced,
            Decision::Refused { .. } => Verdict::Refused,
        }
    }
}

/// What verifying the bundle proved (always, when it was accepted).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: String,
    /// When the bundle was made.
    pub created: String,
    /// Its series, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Its sequence in the series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// How each signature was judged.
    pub signers: Vec<SignerReport>,
    /// Its labels, for the audit record (not in the import's report, which
    /// prints the manifest's own).
    #[serde(skip)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Staleness warnings of the bundle's databases at the import time
    /// ([`crate::freshness::warnings`]), whatever the targets: said by the
    /// command, not recorded (issue 15).
    #[serde(skip)]
    pub stale: Vec<String>,
}

/// Where the record went.
#[derive(Debug, Default)]
pub struct Records {
    /// The audit log line, if the log was written.
    pub audit: Option<Logged>,
    /// The receipt and its signature, if written.
    pub receipt: Option<WrittenReceipt>,
    /// Writing the audit log failed.
    pub audit_error: Option<AuditError>,
    /// Writing the receipt failed.
    pub receipt_error: Option<AuditError>,
}

/// A receipt written.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenReceipt {
    /// The receipt.
    pub path: PathBuf,
    /// Its minisign signature, if signed.
    pub signature: Option<PathBuf>,
}

/// What the transaction did.
#[derive(Debug)]
pub struct ImportOutcome {
    /// Accepted, forced or refused, with the reasons.
    pub decision: Decision,
    /// What verification proved (absent for a refusal).
    pub verified: Option<Verification>,
    /// The cache import, when there was a cache.
    pub import: Option<ImportReport>,
    /// The push, when asked for and done.
    pub push: Option<PushReport>,
    /// Why it was refused (the error itself, for the caller's exit status).
    pub refusal: Option<ImportError>,
    /// The push failed after the cache import was complete (recorded as a
    /// reason of an accepted import).
    pub push_error: Option<ImportError>,
    /// The record, as written.
    pub entry: AuditEntry,
    /// Where it was written.
    pub records: Records,
}

impl ImportOutcome {
    /// Whether everything asked for was done and recorded: not refused, no
    /// push failure, the audit entry and the receipt written where asked
    /// for, and no warning after the swaps. An accepted import can still
    /// be incomplete (its push failed, or its log could not be written):
    /// a caller reporting success should ask this, not the decision alone.
    pub fn is_complete(&self) -> bool {
        self.refusal.is_none()
            && self.push_error.is_none()
            && self.records.audit_error.is_none()
            && self.records.receipt_error.is_none()
            && self.import.as_ref().is_none_or(|r| r.warnings.is_empty())
    }
}

/// Where to push, once imported (or verified).
pub struct PushTo<'a> {
    /// The registry client.
    pub client: &'a Client,
    /// Where in it.
    pub target: &'a PushTarget,
}

/// One import: `Import::new(&bundle, &policy, request).run(&progress)`.
pub struct Import<'a> {
    source: &'a Input,
    policy: &'a TrustPolicy,
    request: ImportRequest,
    push: Option<PushTo<'a>>,
}

/// What the steps before the record yield.
struct Done {
    verified: Verification,
    import: Option<ImportReport>,
    push: Option<PushReport>,
    push_error: Option<ImportError>,
}

impl<'a> Import<'a> {
    /// An import of `source` judged by `policy`, as `request` says.
    pub fn new(source: &'a Input, policy: &'a TrustPolicy, request: ImportRequest) -> Self {
        Import {
            source,
            policy,
            request,
            push: None,
        }
    }

    /// Also pushes the bundle's artifacts into a registry (judged against
    /// the registry's own history before the cache is touched).
    pub fn push_to(mut self, push: PushTo<'a>) -> Self {
        self.push = Some(push);
        self
    }

    /// Runs the transaction and records it (see the module docs; an
    /// interruption by a signal is recorded too, see [`interrupted`]).
    pub fn run(self, progress: &dyn Progress) -> ImportOutcome {
        let mut hook = interrupted::before_install(&self.request);
        let result = self.steps(progress, &mut hook);
        let mut entry = self.request.entry();
        let (decision, done, refusal) = match result {
            Ok(done) => {
                let import_forced = done.import.as_ref().map(|r| &r.forced[..]);
                let push_forced = done.push.as_ref().map(|p| &p.forced[..]);
                let unchanged = done.import.as_ref().is_some_and(|r| r.already_installed);
                let decision = match decide(
                    import_forced.unwrap_or_default(),
                    push_forced.unwrap_or_default(),
                ) {
                    Decision::Accepted if unchanged => Decision::AlreadyInstalled,
                    d => d,
                };
                (decision, Some(done), None)
            }
            Err(e) => {
                let reason = crate::redact::text(&chain(&e)).into_owned();
                (Decision::Refused { reason }, None, Some(e))
            }
        };
        entry.decision = decision.verdict();
        if let Decision::Refused { reason } = &decision {
            entry.reason = Some(reason.clone());
        }
        if let Some(done) = &done {
            fill(&mut entry, done, &decision);
        }
        let records = interrupted::instead(hook, || record(&self.request, entry.clone()));
        let (verified, import, push, push_error) = match done {
            Some(d) => (Some(d.verified), d.import, d.push, d.push_error),
            None => (None, None, None, None),
        };
        ImportOutcome {
            decision,
            verified,
            import,
            push,
            refusal,
            push_error,
            entry,
            records,
        }
    }

    /// Pre-checks the push, imports (or verifies), then pushes (`hook`
    /// then records an interruption as a push's).
    fn steps(
        &self,
        progress: &dyn Progress,
        hook: &mut Option<crate::cleanup::interrupt::Hook>,
    ) -> Result<Done, ImportError> {
        let r = &self.request;
        if let (None, Some(vex_dir)) = (&r.cache_dir, &r.vex_dir) {
            return Err(ImportError::VexDirWithoutCache(vex_dir.clone()));
        }
        let push_opts = push::PushOptions {
            now: r.now,
            allow_downgrade: r.allow_downgrade,
        };
        if let Some(p) = &self.push {
            // The registry's own history judges the bundle (by its signed
            // header) before any cache is written; the push judges again.
            let header = self.source.read_with(&NoProgress, |r| {
                crate::bundle::reader::read_header(BufReader::new(r)).map_err(ImportError::Bundle)
            });
            if let Ok(header) = header {
                push::precheck(&header, p.client, p.target, self.policy, &push_opts)?;
            }
        }
        let (verified, import) = self.import_or_verify(progress)?;
        let mut done = Done {
            verified,
            import,
            push: None,
            push_error: None,
        };
        if let Some(p) = &self.push {
            let published = interrupted::pushing(&self.request, &done, hook);
            let on_publish = |a: &[_], forced: &[String]| published.went_up(a, forced);
            progress.begin("push", self.source.len());
            let sha = done.verified.manifest_sha256.clone();
            let result = self.source.read_with(progress, |r| {
                let on_blob = |b: &crate::layout::oci_repos::PushedBlob| {
                    let what = if b.skipped { "already there" } else { "sent" };
                    progress.note(&format!("{} {what}", b.digest));
                };
                push::push(
                    r,
                    self.policy,
                    &sha,
                    p.client,
                    p.target,
                    push_opts,
                    push::PushEvents {
                        on_blob: &on_blob,
                        on_publish: &on_publish,
                        cache_dir: self.request.cache_dir.as_deref(),
                    },
                )
            });
            progress.end();
            match result {
                Ok(report) => done.push = Some(report),
                Err(e) if done.import.is_some() => done.push_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Imports into the cache, when there is one, else verifies only.
    fn import_or_verify(
        &self,
        progress: &dyn Progress,
    ) -> Result<(Verification, Option<ImportReport>), ImportError> {
        let r = &self.request;
        let Some(cache_dir) = &r.cache_dir else {
            progress.begin("verify", self.source.len());
            let v = self
                .source
                .read_with(progress, |b| super::verify(b, self.policy))?;
            progress.end();
            let verified = Verification {
                manifest_sha256: v.manifest_sha256.hex(),
                created: v.manifest.created.to_string(),
                series: v.manifest.series.as_ref().map(|s| s.to_string()),
                sequence: v.manifest.sequence,
                signers: v.signers.clone(),
                labels: v.manifest.labels.clone(),
                stale: crate::freshness::warnings(&v.manifest, r.now),
            };
            return Ok((verified, None));
        };
        let opts = ImportOptions {
            cache_dir: cache_dir.clone(),
            vex_dir: r.vex_dir.clone(),
            vex_url: r.vex_url.clone(),
            now: r.now,
            allow_downgrade: r.allow_downgrade,
        };
        progress.begin("import", self.source.len());
        let report = self
            .source
            .read_with(progress, |b| super::import(b, self.policy, &opts))?;
        progress.end();
        let verified = Verification {
            manifest_sha256: report.manifest_sha256.clone(),
            created: report.created.clone(),
            series: report.series.clone(),
            sequence: report.sequence,
            signers: report.signers.clone(),
            labels: report.labels.clone(),
            stale: report.stale.clone(),
        };
        Ok((verified, Some(report)))
    }
}

/// Accepted, or forced past the downgrades the import and the push overrode.
fn decide(import_forced: &[String], push_forced: &[String]) -> Decision {
    let overridden: Vec<String> = import_forced.iter().chain(push_forced).cloned().collect();
    if overridden.is_empty() {
        Decision::Accepted
    } else {
        Decision::Forced { overridden }
    }
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_decision_gathers_what_the_import_and_the_push_overrode() {
        assert_eq!(decide(&[], &[]), Decision::Accepted);
        let d = decide(&strings(&["db older"]), &strings(&["registry at 5"]));
        assert_eq!(
            d,
            Decision::Forced {
                overridden: strings(&["db older", "registry at 5"])
            }
        );
        assert_eq!(d.verdict(), Verdict::Forced);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["decision"], "forced");
        assert_eq!(json["overridden"][1], "registry at 5");
    }

    #[test]
    fn a_forced_entry_records_the_overridden_reasons_and_a_push_failure() {
        let done = Done {
            verified: Verification {
                manifest_sha256: "ab".repeat(32),
                created: "2026-11-25T12:00:00Z".into(),
                series: Some("monthly".into()),
                sequence: Some(4),
                signers: Vec::new(),
                labels: Default::default(),
                stale: Vec::new(),
            },
            import: None,
            push: None,
            push_error: Some(ImportError::Inconsistent("registry gone".into())),
        };
        let decision = decide(&strings(&["db older"]), &[]);
        let mut entry = AuditEntry::default();
        fill(&mut entry, &done, &decision);
        assert_eq!(entry.forced, ["db older"]);
        assert_eq!(entry.sequence, Some(4));
        assert_eq!(
            entry.reason.as_deref(),
            Some("the cache import is complete, but the push failed: the bundle contradicts its own manifest: registry gone")
        );
    }

    #[test]
    fn a_reason_is_the_whole_error_chain() {
        let io = std::io::Error::other("disk on fire");
        let wrapped = AuditError::Io(crate::error::PathIo::new("cannot write", "/c/log", io));
        assert_eq!(chain(&wrapped), "cannot write /c/log: disk on fire");
    }
}
