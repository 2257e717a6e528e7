//! Import: verify a bundle, build every component in a staging directory on
//! the target's file system, then swap the components into place.
//!
//! The guarantees (bundle-spec/SPEC.md, "Import"):
//! - nothing is created before the signatures satisfy the trust policy and
//!   the manifest passed its checks; a refused bundle leaves no trace;
//! - payload bytes stream once from the bundle into staging (the databases
//!   are unpacked as they pass, the VEX archive is stored, then extracted
//!   from the stored, already verified copy); everything is checked against
//!   the signed manifest before anything live is touched, and the staging
//!   area is removed on any failure, leaving the target exactly as it was;
//! - each component (`db/`, `java-db/`, `policy/`, each
//!   `vex/repositories/<name>/`, each `<vex-dir>/<name>/`) is fsynced, then
//!   exchanged with the live one atomically ([`stage::Swapper`]), all or
//!   none, never through a link inside the target; a concurrent Trivy sees
//!   the old tree or the new one, never a mix; components the bundle does
//!   not carry are not touched;
//! - one import at a time per cache and per VEX directory (an advisory lock
//!   on `.airlock.lock` in each).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::artifact::vex::VexError;
use crate::artifact::ArtifactError;
use crate::bundle::reader::{self, BundleError, ReadError, Verified};
use crate::error::PathIo;
use crate::manifest::ArtifactKind;
use crate::media::MediaError;
use crate::policy::{SignerReport, TrustPolicy};

pub mod audit;
pub mod cache_age;
mod collect;
mod commit;
mod component;
mod delta;
mod generation;
pub mod guard;
mod judge;
mod on_disk;
pub mod provenance;
pub mod push;
mod push_delta;
mod push_error;
mod registry_state;
mod rollback;
pub mod seen;
pub mod stage;
mod status;
mod swap;
pub mod transaction;

use collect::{Collector, Mode};
pub use component::ComponentId;
pub use rollback::{rollback, rollback_at, RollbackReport};
pub use stage::{StageError, LOCK_FILE, STAGING_PREFIX};
pub use status::{
    activity, leftover_kind, status, Activity, CacheStatus, ComponentStatus, LeftoverKind,
};
pub use transaction::{
    Decision, Import, ImportOutcome, ImportRequest, PushTo, ReceiptRequest, Verification,
};

/// Where and how to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Trivy's cache directory.
    pub cache_dir: PathBuf,
    /// Where to write a static VEX repository directory, if anywhere.
    pub vex_dir: Option<PathBuf>,
    /// The URL under which `vex_dir` will be served (default: its file:// URL).
    pub vex_url: Option<String>,
    /// The import time (written as DownloadedAt / UpdatedAt).
    pub now: OffsetDateTime,
    /// Accept a downgrade (a lower sequence, an older database), recording
    /// it as forced, if the trust policy allows that.
    pub allow_downgrade: bool,
}

/// Why an import (or verify) was refused or failed. Before the swaps the
/// target is unchanged; see [`StageError`] for failures during them.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A database Trivy 0.76 would not read (checked before anything is written).
    #[error("{0}")]
    Schema(ArtifactError),
    /// A delta's base is not the database installed here (issue 13): the
    /// message names both.
    #[error("{0}")]
    DeltaBase(String),
    /// A layer's content was refused.
    #[error("{kind}")]
    Artifact {
        /// Which artifact.
        kind: ArtifactKind,
        /// Why.
        #[source]
        source: ArtifactError,
    },
    /// A VEX repository's content was refused.
    #[error("VEX repository {name:?}")]
    Vex {
        /// Which repository.
        name: String,
        /// Why.
        #[source]
        source: VexError,
    },
    /// Signed facts disagree with the content.
    #[error("the bundle contradicts its own manifest: {0}")]
    Inconsistent(String),
    /// The VEX directory and the cache overlap.
    #[error("the VEX directory {} and the cache {} overlap; the static VEX repository must live outside the Trivy cache (and the cache outside it)", crate::text::path(vex_dir), crate::text::path(cache_dir))]
    Overlap {
        /// The VEX directory.
        vex_dir: PathBuf,
        /// The cache.
        cache_dir: PathBuf,
    },
    /// A static VEX directory was asked for without a cache: it is built
    /// from what the cache import installs.
    #[error("a static VEX directory ({}) is written only by an import into a cache, and no cache was given", crate::text::path(.0))]
    VexDirWithoutCache(PathBuf),
    /// Older than the trust policy allows.
    #[error("refused by the trust policy: {0}")]
    Stale(String),
    /// A time in the bundle lies ahead of this host's clock.
    #[error("refused: {0}")]
    FromTheFuture(String),
    /// The bundle would replace something newer.
    #[error("refused: this would be a downgrade: {}", reasons.join("; "))]
    Downgrade {
        /// What would be downgraded.
        reasons: Vec<String>,
        /// The policy forbids forcing.
        never: bool,
    },
    /// One series and sequence, two contents: the builder said two things
    /// under one number. Never forced: it is no downgrade (issue 15).
    #[error("refused: equivocation: series {series:?} sequence {sequence} was imported {at} as manifest sha256 {installed}; this bundle, also sequence {sequence}, is manifest sha256 {bundle}")]
    Equivocation {
        /// The series.
        series: String,
        /// The sequence both bundles carry.
        sequence: u64,
        /// Where the other was imported ("on this host", "into the registry state …").
        at: String,
        /// The manifest SHA-256 recorded there.
        installed: String,
        /// This bundle's manifest SHA-256.
        bundle: String,
    },
    /// The host's state file is damaged.
    #[error("the import state {} is damaged ({reason})", crate::text::path(path))]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Pushing into a registry failed (the cache, if any, is complete).
    #[error(transparent)]
    Push(push::PushError),
    /// `rollback` found nothing to put back.
    #[error("{} holds no previous generation to roll back to (an import keeps the trees it replaced in {})", crate::text::path(.0), stage::PREVIOUS_DIR)]
    NoPreviousGeneration(PathBuf),
    /// File-system trouble (locking, staging, writing, swapping).
    #[error(transparent)]
    Stage(#[from] StageError),
    /// Reading the bundle from its medium (a file, a split part set) failed.
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl crate::error::Classify for ImportError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            ImportError::Bundle(e) => e.class(),
            ImportError::Artifact { source, .. } => source.class(),
            ImportError::Vex { source, .. } => source.class(),
            ImportError::Push(e) => e.class(),
            ImportError::Stage(e) => e.class(),
            ImportError::Media(e) => e.class(),
            // Whatever made the database unreadable to this Trivy, the
            // bundle is what does not fit.
            ImportError::Schema(_) | ImportError::Inconsistent(_) => Damaged,
            ImportError::NoPreviousGeneration(_) | ImportError::State { .. } => HostFailure,
            // A proven bundle that does not fit what is installed: refused
            // by the host's state, like a downgrade.
            ImportError::Stale(_)
            | ImportError::DeltaBase(_)
            | ImportError::Downgrade { .. }
            | ImportError::FromTheFuture(_) => Downgrade,
            ImportError::Equivocation { .. } => Equivocation,
            ImportError::Overlap { .. } | ImportError::VexDirWithoutCache(_) => Usage,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            ImportError::Bundle(e) => e.hint(),
            ImportError::Artifact { source, .. } => source.hint(),
            ImportError::Vex { source, .. } => source.hint(),
            ImportError::Push(e) => e.hint(),
            ImportError::Stage(e) => e.hint(),
            ImportError::Media(e) => e.hint(),
            ImportError::Schema(_) => Hint::text("this bundle was made for another Trivy version; nothing was written"),
            ImportError::DeltaBase(_) => Hint::text("a delta applies only to the database it was made against; import a full bundle (export without --base), or a delta made against the bundle this host last imported; nothing was written"),
            ImportError::Stale(_) => Hint::text("get a fresher bundle from the connected side; nothing was written"),
            ImportError::FromTheFuture(_) => Hint::text("recording it would make every genuinely newer bundle look like a downgrade here; check this host's clock and the exporting host's; nothing was written"),
            ImportError::Downgrade { never: true, .. } => Hint::text("the trust policy never allows downgrades (downgrade = \"never\"); nothing was written"),
            ImportError::Downgrade { never: false, .. } => Some(Hint::Flag(FlagHint::AllowDowngrade)),
            ImportError::Equivocation { .. } => Hint::text("one builder issued two different bundles under one sequence: it is compromised or confused; contact the builder and compare the two manifest sha256 above; no flag overrides this; nothing was written"),
            ImportError::State { .. } => Hint::text("it records the sequences accepted here; restore it from a backup, or remove it to start over (losing rollback protection until the next import)"),
            ImportError::Inconsistent(_)
            | ImportError::Overlap { .. }
            | ImportError::VexDirWithoutCache(_)
            | ImportError::NoPreviousGeneration(_) => None,
        }
    }
}

impl From<PathIo> for ImportError {
    fn from(e: PathIo) -> Self {
        ImportError::Stage(StageError::Io(e))
    }
}

/// One installed cache component.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledComponent {
    /// Its identity from plan through swap to this report.
    pub id: ComponentId,
    /// Which artifact.
    pub kind: ArtifactKind,
    /// Where it went.
    pub path: PathBuf,
    /// Whether an older one was replaced.
    pub replaced: bool,
    /// Schema version (databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u64>,
    /// UpdatedAt (databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// NextUpdate (databases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_update: Option<String>,
    /// The OCI manifest digest.
    pub manifest_digest: String,
}

/// One installed VEX repository.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledVex {
    /// Its identity (the cache's tree) from plan through swap to this report.
    pub id: ComponentId,
    /// Its name in Trivy's configuration.
    pub name: String,
    /// Where it went in the cache.
    pub cache_path: PathBuf,
    /// Whether an older one was replaced there.
    pub replaced: bool,
    /// The static repository directory, if written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_dir: Option<PathBuf>,
    /// The URL to put in repository.yaml: the static directory's, when one
    /// was written (without one the URL is unknown, and unused with
    /// `--skip-vex-repo-update`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    /// Packages in its index.
    pub packages: u64,
}

/// What import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: String,
    /// The bundle's series, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Its sequence in the series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Downgrades accepted because the import was forced (`allow_downgrade`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    /// When the bundle was made.
    pub created: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// How each signature was judged.
    pub signers: Vec<SignerReport>,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Installed components.
    pub components: Vec<InstalledComponent>,
    /// Installed VEX repositories.
    pub vex: Vec<InstalledVex>,
    /// Flags for `trivy` to use this cache offline (as the cache holds it
    /// after the import).
    pub trivy_flags: Vec<String>,
    /// Staleness warnings ([`crate::freshness::warnings`], at the import
    /// time): they stop nothing, and unlike `warnings` they do not make the
    /// import incomplete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
    /// Everything the bundle carries was installed already (same content,
    /// compared on disk): it was verified in full, and nothing was staged
    /// or swapped; the state only remembers its series and sequence
    /// (issue 15).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_installed: bool,
    /// What was compared on disk with the bundle's signed digests to find
    /// it installed (`db/trivy.db (SHA-256)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compared: Vec<String>,
    /// The manifest imported here under the bundle's series and sequence,
    /// of the same content, when it is not this bundle's (its label or
    /// creation time differs): no equivocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_content_as: Option<String>,
    /// What the recorded state called installed but the disk did not hold
    /// as the bundle signs it (`db/trivy.db differs from the bundle`): the
    /// import reinstalled it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
    /// The scan commands that fit the cache after the import, per target.
    pub scan_commands: Vec<crate::layout::scan::ScanCommand>,
    /// Things the user should know that did not stop the import.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// repository.yaml content for the VEX repositories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_yaml: Option<String>,
}

/// Verifies `bundle` against `policy` and installs it. See the module docs.
///
/// # Errors
/// Any refusal leaves the cache and the VEX directory as they were (only a
/// lock file and, for a new cache or VEX directory, the empty directory may
/// remain).
pub fn import<R: Read>(
    bundle: R,
    policy: &TrustPolicy,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    check_no_overlap(opts)?;
    let mut collector = Collector::new(Mode::Install(opts), policy);
    let verified = read_all(bundle, policy, &mut collector)?;
    let checked = collector.check(&verified.manifest)?;
    crate::fault::point("bundle checked");
    if collector.judged.already_installed {
        return commit::unchanged(collector, opts, &verified, checked);
    }
    commit::commit(collector, opts, &verified, checked)
}

/// Verifies every signature and every byte of a bundle, and checks its
/// content exactly as import would, writing nothing (a VEX archive is held
/// in an unlinked temporary file while it is checked).
pub fn verify<R: Read>(bundle: R, policy: &TrustPolicy) -> Result<Verified, ImportError> {
    let mut collector = Collector::new(Mode::Check, policy);
    let verified = read_all(bundle, policy, &mut collector)?;
    collector.check(&verified.manifest)?;
    Ok(verified)
}

/// The full verification ([`verify`]) for `media::split` and `media::join`.
pub struct VerifyContent<'a>(pub &'a TrustPolicy);

impl crate::media::Verifier for VerifyContent<'_> {
    type Error = ImportError;

    fn verify(&self, r: &mut dyn Read) -> Result<Verified, ImportError> {
        verify(r, self.0)
    }
}

fn read_all<R: Read>(
    bundle: R,
    policy: &TrustPolicy,
    collector: &mut Collector<'_>,
) -> Result<Verified, ImportError> {
    match reader::read(bundle, policy, collector) {
        Ok(v) => Ok(v),
        Err(ReadError::Bundle(e)) => Err(ImportError::Bundle(e)),
        Err(ReadError::Visitor(e)) => Err(e),
    }
}

/// Refuses a VEX directory inside the cache, or the cache inside it: each
/// import would replace part of the other.
fn check_no_overlap(opts: &ImportOptions) -> Result<(), ImportError> {
    let Some(vex_dir) = &opts.vex_dir else {
        return Ok(());
    };
    // Resolve what exists (links included), then compare whole components.
    let resolve = |p: &Path| -> Result<PathBuf, ImportError> {
        let abs = absolute(p)?;
        let mut existing = abs.as_path();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => break,
            }
        }
        let mut out = existing
            .canonicalize()
            .unwrap_or_else(|_| existing.to_path_buf());
        out.extend(rest.iter().rev());
        Ok(out)
    };
    let (v, c) = (resolve(vex_dir)?, resolve(&opts.cache_dir)?);
    if v.starts_with(&c) || c.starts_with(&v) {
        return Err(ImportError::Overlap {
            vex_dir: vex_dir.clone(),
            cache_dir: opts.cache_dir.clone(),
        });
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, ImportError> {
    std::path::absolute(p).map_err(|e| PathIo::new("cannot resolve", p, e).into())
}
