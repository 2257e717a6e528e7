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
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::artifact::vex::{self, VexError};
use crate::artifact::{self, ArtifactError, LayerContents};
use crate::bundle::reader::{
    self, BundleError, PayloadReader, PayloadVisitor, ReadError, Verified,
};
use crate::error::PathIo;
use crate::layout::{trivy_cache, vex_repo};
use crate::manifest::{ArtifactKind, Manifest, Payload};
use crate::policy::{SignerReport, TrustPolicy};
use crate::unpack::Discard;

pub mod audit;
pub mod guard;
pub mod push;
pub mod stage;

pub use stage::{StageError, LOCK_FILE, STAGING_PREFIX};

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
    #[error("the VEX directory {} and the cache {} overlap; the static VEX repository must live outside the Trivy cache (and the cache outside it)", vex_dir.display(), cache_dir.display())]
    Overlap {
        /// The VEX directory.
        vex_dir: PathBuf,
        /// The cache.
        cache_dir: PathBuf,
    },
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
    /// The host's state file is damaged.
    #[error("the import state {} is damaged ({reason})", path.display())]
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
    #[error("{} holds no previous generation to roll back to (an import keeps the trees it replaced in {})", .0.display(), stage::PREVIOUS_DIR)]
    NoPreviousGeneration(PathBuf),
    /// File-system trouble (locking, staging, writing, swapping).
    #[error(transparent)]
    Stage(#[from] StageError),
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
            // Whatever made the database unreadable to this Trivy, the
            // bundle is what does not fit.
            ImportError::Schema(_) | ImportError::Inconsistent(_) => Damaged,
            ImportError::NoPreviousGeneration(_) | ImportError::State { .. } => HostFailure,
            ImportError::Stale(_)
            | ImportError::Downgrade { .. }
            | ImportError::FromTheFuture(_) => Downgrade,
            ImportError::Overlap { .. } => Usage,
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
            ImportError::Schema(_) => Hint::text("this bundle was made for another Trivy version; nothing was written"),
            ImportError::Stale(_) => Hint::text("get a fresher bundle from the connected side; nothing was written"),
            ImportError::FromTheFuture(_) => Hint::text("recording it would make every genuinely newer bundle look like a downgrade here; check this host's clock and the exporting host's; nothing was written"),
            ImportError::Downgrade { never: true, .. } => Hint::text("the trust policy never allows downgrades (downgrade = \"never\"); nothing was written"),
            ImportError::Downgrade { never: false, .. } => Some(Hint::Flag(FlagHint::AllowDowngrade)),
            ImportError::State { .. } => Hint::text("it records the sequences accepted here; restore it from a backup, or remove it to start over (losing rollback protection until the next import)"),
            ImportError::Inconsistent(_) | ImportError::Overlap { .. } | ImportError::NoPreviousGeneration(_) => None,
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
    /// Flags for `trivy` to use this cache offline.
    pub trivy_flags: Vec<String>,
    /// Things the user should know that did not stop the import.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// repository.yaml content for the VEX repositories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_yaml: Option<String>,
}

/// Where checked content goes: a staging area (import), or nowhere (verify).
enum Mode<'a> {
    /// Import into these directories.
    Install(&'a ImportOptions),
    /// Check only; write nothing that outlives the process.
    Check,
}

/// A stored VEX archive: zip needs random access, so archives are kept in a
/// file (in staging for import, an unlinked temporary file for verify) and
/// extracted once their digest has been verified.
struct StoredArchive {
    file: File,
}

/// Collects what a bundle's payloads yield, checks it against the signed
/// manifest, and (in install mode) stages it.
struct Collector<'a> {
    mode: Mode<'a>,
    policy: &'a TrustPolicy,
    /// Downgrades accepted with `allow_downgrade`.
    forced: Vec<String>,
    /// The host state read under the lock (install mode).
    state: Option<guard::State>,
    /// The static VEX directory's state, read under its lock (install mode
    /// with a VEX directory and VEX repositories in the bundle).
    vex_state: Option<guard::State>,
    lock: Option<stage::Lock>,
    vex_lock: Option<stage::Lock>,
    cache_stage: Option<tempfile::TempDir>,
    vex_stage: Option<tempfile::TempDir>,
    /// The staging areas' registrations for removal on a signal, dropped
    /// before the swaps: from then on a half-done swap is recovered by the
    /// next import, never removed.
    staging_guards: Vec<crate::cleanup::Guard>,
    manifest: Option<Manifest>,
    layers: BTreeMap<ArtifactKind, LayerContents>,
    oci_manifests: BTreeMap<String, Vec<u8>>,
    /// The OCI layout's small documents (index.json, oci-layout, OCI
    /// manifests, configs), by payload path.
    layout: BTreeMap<String, Vec<u8>>,
    vex_manifests: BTreeMap<String, Vec<u8>>,
    vex_archives: BTreeMap<String, StoredArchive>,
    /// Verify mode: database copies for the whole-file check.
    db_spools: BTreeMap<ArtifactKind, artifact::DbCopy>,
}

impl<'a> Collector<'a> {
    fn new(mode: Mode<'a>, policy: &'a TrustPolicy) -> Self {
        Collector {
            mode,
            policy,
            forced: Vec::new(),
            state: None,
            vex_state: None,
            lock: None,
            vex_lock: None,
            cache_stage: None,
            vex_stage: None,
            staging_guards: Vec::new(),
            manifest: None,
            layers: BTreeMap::new(),
            oci_manifests: BTreeMap::new(),
            layout: BTreeMap::new(),
            vex_manifests: BTreeMap::new(),
            vex_archives: BTreeMap::new(),
            db_spools: BTreeMap::new(),
        }
    }

    /// The cache staging directory (install mode only).
    fn cache_stage(&self) -> Option<&Path> {
        self.cache_stage.as_ref().map(|s| s.path())
    }

    /// Creates the file a VEX archive is stored in.
    fn archive_file(&self, name: &str, format: &str) -> Result<File, ImportError> {
        let path = match (&self.vex_stage, self.cache_stage()) {
            // It ends up in the static directory: store it there directly.
            (Some(s), _) => s.path().join(name).join(vex_repo::archive_file(format)),
            (None, Some(stage)) => stage.join("vex-archives").join(format!("{name}.{format}")),
            (None, None) => {
                return tempfile::tempfile().map_err(|e| {
                    PathIo::new("cannot create a temporary file in", std::env::temp_dir(), e).into()
                })
            }
        };
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| PathIo::new("cannot create", &path, e).into())
    }
}

fn read_document(data: &mut dyn Read, max: u64, what: String) -> Result<Vec<u8>, ImportError> {
    let mut bytes = Vec::new();
    data.take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| ImportError::Inconsistent(format!("cannot read {what}: {e}")))?;
    Ok(bytes)
}

impl PayloadVisitor for Collector<'_> {
    type Error = ImportError;

    fn start(&mut self, bundle: &Verified) -> Result<(), ImportError> {
        let m = &bundle.manifest;
        // Pre-flight: refuse what Trivy 0.76 could not read, before writing.
        for a in &m.artifacts {
            if let Some(db) = &a.database {
                artifact::check_schema(a.kind, db.schema_version).map_err(ImportError::Schema)?;
            }
            if let Some(c) = &a.checks {
                if c.major_version != artifact::CHECKS_MAJOR {
                    return Err(ImportError::Inconsistent(format!(
                        "checks bundle major version {} is not {}",
                        c.major_version,
                        artifact::CHECKS_MAJOR
                    )));
                }
            }
        }
        self.manifest = Some(m.clone());
        let clock = match self.mode {
            Mode::Install(opts) => opts.now,
            Mode::Check => OffsetDateTime::now_utc(),
        };
        if let Some(why) = m.time_from_the_future(clock) {
            return Err(ImportError::FromTheFuture(why));
        }
        let Mode::Install(opts) = self.mode else {
            return guard::check_age(m, self.policy, clock);
        };
        let cache = &opts.cache_dir;
        // The static VEX directory keeps its own history: a fleet downloads
        // from it whatever cache the import used (issue 11).
        let vex_dir = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty());
        // Freshness and downgrades, judged before anything is created (and
        // again under the locks, against the state a concurrent import may
        // have just written).
        let judge =
            |state: &guard::State, vex_state: &guard::State| -> Result<Vec<String>, ImportError> {
                let now = guard::effective_now(guard::effective_now(opts.now, state), vex_state);
                guard::check_age(m, self.policy, now)?;
                let sha = bundle.manifest_sha256.hex();
                let mut found = guard::downgrades(m, &sha, state, &guard::installed(cache));
                if let Some(dir) = vex_dir {
                    found.extend(
                        guard::downgrades(m, &sha, vex_state, &BTreeMap::new())
                            .into_iter()
                            .map(|r| format!("in the static VEX directory {}: {r}", dir.display())),
                    );
                }
                guard::check_downgrades(found, self.policy, opts.allow_downgrade)
            };
        let load_if_dir = |d: &Path| -> Result<guard::State, ImportError> {
            if d.is_dir() {
                guard::load(d)
            } else {
                Ok(guard::State::default())
            }
        };
        let vex_state_now = match vex_dir {
            Some(dir) => load_if_dir(dir)?,
            None => guard::State::default(),
        };
        judge(&load_if_dir(cache)?, &vex_state_now)?;
        fs::create_dir_all(cache)
            .map_err(PathIo::at("cannot create the cache directory", cache))?;
        self.lock = Some(stage::lock(cache)?);
        crate::fault::point("cache locked");
        if let Some(dir) = vex_dir {
            fs::create_dir_all(dir).map_err(PathIo::at("cannot create the VEX directory", dir))?;
            // Several caches may share one static VEX directory: lock it too.
            self.vex_lock = Some(stage::lock(dir)?);
            crate::fault::point("vex directory locked");
        }
        let state = guard::load(cache)?;
        let vex_state = match vex_dir {
            Some(dir) => guard::load(dir)?,
            None => guard::State::default(),
        };
        self.forced = judge(&state, &vex_state)?;
        self.state = Some(state);
        self.vex_state = vex_dir.map(|_| vex_state);
        stage::remove_leftovers(cache)?;
        crate::fault::point("leftovers removed");
        if let Some(dir) = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty()) {
            fs::create_dir_all(dir).map_err(PathIo::at("cannot create the VEX directory", dir))?;
        }
        let (cache_needs, vex_needs) = space_needed(m, opts.vex_dir.is_some());
        let mut needs = vec![(cache.as_path(), cache_needs)];
        if let Some(dir) = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty()) {
            needs.push((dir.as_path(), vex_needs));
        }
        stage::check_space(&needs)?;
        let stage = stage::staging(cache)?;
        // Removed by a signal handler (the CLI's) until the swaps begin.
        self.staging_guards
            .push(crate::cleanup::register(stage.path(), true));
        crate::fault::point("staging created");
        if !m.vex.is_empty() {
            let p = stage.path().join("vex-archives");
            fs::create_dir_all(&p).map_err(PathIo::at("cannot create", &p))?;
        }
        self.cache_stage = Some(stage);
        if let Some(dir) = vex_dir {
            stage::remove_leftovers(dir)?;
            let stage = stage::staging(dir)?;
            self.staging_guards
                .push(crate::cleanup::register(stage.path(), true));
            crate::fault::point("vex staging created");
            for v in &m.vex {
                let p = stage.path().join(&v.name);
                fs::create_dir_all(&p).map_err(PathIo::at("cannot create", &p))?;
            }
            self.vex_stage = Some(stage);
        }
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), ImportError> {
        let m = self.manifest.as_ref().expect("start ran");
        if let Some(a) = m
            .artifacts
            .iter()
            .find(|a| Manifest::blob_path(&a.layer.digest) == payload.path)
        {
            let kind = a.kind;
            let limits = a.unpacked.limits();
            let contents = match self.cache_stage() {
                Some(stage) => {
                    let root = stage
                        .join(trivy_cache::component(kind))
                        .join(trivy_cache::layer_dir(kind));
                    fs::create_dir_all(&root).map_err(PathIo::at("cannot create", &root))?;
                    artifact::scan_layer(kind, data, limits, &mut stage::DirSink { root })
                }
                None => {
                    let mut spool = artifact::SpoolSink::new(kind);
                    let scanned = artifact::scan_layer(kind, data, limits, &mut spool);
                    if let Some(copy) = spool.into_copy() {
                        self.db_spools.insert(kind, copy);
                    }
                    scanned
                }
            }
            .map_err(|source| ImportError::Artifact { kind, source })?;
            self.layers.insert(kind, contents);
        } else if let Some(a) = m
            .artifacts
            .iter()
            .find(|a| Manifest::blob_path(&a.manifest_digest) == payload.path)
        {
            let bytes = read_document(data, 1 << 20, format!("the OCI manifest of {}", a.kind))?;
            self.oci_manifests
                .insert(a.manifest_digest.oci(), bytes.clone());
            self.layout.insert(payload.path.to_string(), bytes);
        } else if payload.path.starts_with("oci/") && payload.size <= 1 << 20 {
            // The layout's own files and config blobs, checked in `check`.
            let bytes = read_document(data, 1 << 20, payload.path.to_string())?;
            self.layout.insert(payload.path.to_string(), bytes);
        } else if let Some(v) = m.vex.iter().find(|v| v.manifest_path == payload.path) {
            let bytes = read_document(
                data,
                vex::MAX_MANIFEST,
                format!("vex-repository.json of {:?}", v.name),
            )?;
            self.vex_manifests.insert(v.name.to_string(), bytes);
        } else if let Some(v) = m.vex.iter().find(|v| v.archive_path == payload.path) {
            let name = v.name.to_string();
            let file = self.archive_file(&name, v.archive_format.name())?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            io::copy(data, &mut w).map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => ImportError::Inconsistent(e.to_string()),
                _ => PathIo::new("cannot store the VEX archive of", Path::new(&name), e).into(),
            })?;
            let file = w.into_inner().map_err(|e| {
                PathIo::new(
                    "cannot store the VEX archive of",
                    Path::new(&name),
                    e.into_error(),
                )
            })?;
            file.sync_all().map_err(PathIo::at(
                "cannot flush the VEX archive of",
                Path::new(&name),
            ))?;
            self.vex_archives.insert(name, StoredArchive { file });
        }
        crate::fault::point("payload read");
        Ok(())
    }
}

impl Collector<'_> {
    /// The database file of `kind` to check: the staged one (install
    /// mode), else the verify-mode copy.
    fn database_copy(&mut self, kind: ArtifactKind) -> Option<artifact::DbCopy> {
        let name = artifact::info(kind).db_file?;
        let Some(stage) = self.cache_stage() else {
            return self.db_spools.remove(&kind);
        };
        let path = stage
            .join(trivy_cache::component(kind))
            .join(trivy_cache::layer_dir(kind))
            .join(name);
        Some(artifact::DbCopy::Staged(path))
    }
}

/// What a checked VEX repository yields.
struct CheckedVex {
    name: String,
    packages: u64,
}

impl Collector<'_> {
    /// Checks everything collected against the signed manifest (after the
    /// reader proved every byte); in install mode extracts the VEX trees into
    /// staging on the way.
    fn check(&mut self, m: &Manifest) -> Result<Vec<CheckedVex>, ImportError> {
        for a in &m.artifacts {
            let layer = self.layers.get(&a.kind).ok_or_else(|| {
                ImportError::Inconsistent(format!("the layer of {} was never read", a.kind))
            })?;
            let oci = self
                .oci_manifests
                .get(&a.manifest_digest.oci())
                .ok_or_else(|| {
                    ImportError::Inconsistent(format!(
                        "the OCI manifest of {} was never read",
                        a.kind
                    ))
                })?;
            let judged = artifact::check_layer(a, layer)
                .and_then(|()| artifact::check_image_manifest(a, oci));
            judged.map_err(|source| ImportError::Artifact {
                kind: a.kind,
                source,
            })?;
            // Now that every byte is verified: can Trivy open it? (issue 11)
            if let Some(copy) = self.database_copy(a.kind) {
                artifact::check_database(a.kind, copy)
                    .map_err(PathIo::at("cannot check", Path::new(a.kind.name())))?
                    .map_err(|source| ImportError::Artifact {
                        kind: a.kind,
                        source,
                    })?;
            }
        }
        artifact::check_layout(m, &self.layout).map_err(ImportError::Inconsistent)?;
        let mut out = Vec::new();
        for v in &m.vex {
            let missing = |what: &str| {
                ImportError::Inconsistent(format!(
                    "{what} of VEX repository {:?} was never read",
                    v.name
                ))
            };
            let original = self
                .vex_manifests
                .get(v.name.as_str())
                .ok_or_else(|| missing("vex-repository.json"))?;
            let parsed = vex::parse_manifest(original).map_err(|source| ImportError::Vex {
                name: v.name.to_string(),
                source,
            })?;
            if parsed.subdir != v.subdir {
                return Err(ImportError::Inconsistent(format!(
                    "VEX repository {:?}: location folder {:?} differs from the manifest's {:?}",
                    v.name, parsed.subdir, v.subdir
                )));
            }
            let format = v.archive_format;
            let archive = self
                .vex_archives
                .get_mut(v.name.as_str())
                .ok_or_else(|| missing("the archive"))?;
            let limits = v.unpacked.limits();
            let reader = io::BufReader::new(&mut archive.file);
            let scanned = match self.cache_stage.as_ref() {
                Some(stage) => {
                    let tree = stage
                        .path()
                        .join(trivy_cache::VEX_REPOSITORIES)
                        .join(&v.name)
                        .join(vex::SPEC_VERSION);
                    fs::create_dir_all(&tree).map_err(PathIo::at("cannot create", &tree))?;
                    vex::scan_archive(
                        format,
                        reader,
                        &v.subdir,
                        limits,
                        &mut stage::DirSink { root: tree },
                    )
                }
                None => vex::scan_archive(format, reader, &v.subdir, limits, &mut Discard),
            }
            .map_err(|source| ImportError::Vex {
                name: v.name.to_string(),
                source,
            })?;
            if !v.unpacked.admits(&scanned.unpacked) || scanned.packages != v.packages {
                return Err(ImportError::Inconsistent(format!(
                    "VEX repository {:?} holds {} and {} packages; the manifest says {} and {}",
                    v.name, scanned.unpacked, scanned.packages, v.unpacked, v.packages
                )));
            }
            out.push(CheckedVex {
                name: v.name.to_string(),
                packages: scanned.packages,
            });
        }
        Ok(out)
    }
}

/// What an import needs on the cache's and the VEX directory's file
/// systems: bytes for the content the manifest signs plus a block per entry
/// and per directory for rounding, plus the stored VEX archives; inodes for
/// every file and directory (a 1.1 manifest, which does not sign `dirs`,
/// counts its legacy bound), plus a few for what airlock writes itself.
/// (The previous generation is freed only after the swap, so it is not
/// counted as free.)
fn space_needed(m: &Manifest, separate_vex_dir: bool) -> (stage::Need, stage::Need) {
    const PER_ENTRY: u64 = 4096;
    let tree = |u: &crate::manifest::Unpacked| stage::Need {
        bytes: u.size.saturating_add(
            u.entries
                .saturating_add(u.max_dirs())
                .saturating_mul(PER_ENTRY),
        ),
        inodes: u.files.saturating_add(u.max_dirs()),
    };
    // Component directories, metadata files, staging: a few each.
    let extra = |blocks: u64, inodes: u64| stage::Need {
        bytes: blocks * PER_ENTRY,
        inodes,
    };
    let mut cache = extra(0, 16);
    for a in &m.artifacts {
        cache = cache.and(tree(&a.unpacked)).and(extra(2, 4));
    }
    let mut vex_dir = stage::Need::default();
    for v in &m.vex {
        cache = cache.and(tree(&v.unpacked)).and(extra(3, 6));
        let size = m.payload(&v.archive_path).map(|p| p.size).unwrap_or(0);
        let archive = extra(2, 4).and(stage::Need {
            bytes: size,
            inodes: 0,
        });
        if separate_vex_dir {
            vex_dir = vex_dir.and(archive);
        } else {
            cache = cache.and(archive);
        }
    }
    (cache, vex_dir)
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
    install(collector, opts, &verified, checked)
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

/// Writes Trivy's metadata into the staged components, flushes them, and
/// swaps them in.
fn install(
    mut collector: Collector<'_>,
    opts: &ImportOptions,
    verified: &Verified,
    checked: Vec<CheckedVex>,
) -> Result<ImportReport, ImportError> {
    let m = &verified.manifest;
    let stage = collector
        .cache_stage()
        .expect("install mode has a staging area")
        .to_path_buf();

    for a in &m.artifacts {
        let meta_path = stage
            .join(trivy_cache::component(a.kind))
            .join("metadata.json");
        let published = collector
            .layers
            .get(&a.kind)
            .and_then(|l| l.metadata.as_ref());
        let bytes = match (&a.checks, published) {
            (None, Some(meta)) => trivy_cache::db_metadata(meta, opts.now),
            (Some(c), _) => {
                trivy_cache::policy_metadata(&a.manifest_digest.oci(), c.major_version, opts.now)
            }
            (None, None) => {
                return Err(ImportError::Inconsistent(format!(
                    "{} lacks its metadata",
                    a.kind
                )))
            }
        };
        // The layer's own metadata.json gives way to the one Trivy keeps.
        if meta_path.exists() {
            fs::remove_file(&meta_path).map_err(PathIo::at("cannot replace", &meta_path))?;
        }
        stage::write_file(&meta_path, &bytes)?;
        crate::fault::point("metadata written");
    }

    let base_url = match (&opts.vex_url, &opts.vex_dir) {
        (Some(u), _) => Some(u.trim_end_matches('/').to_string()),
        (None, Some(d)) => Some(vex_repo::file_url(&absolute(d)?)),
        (None, None) => None,
    };
    let mut repo_urls = BTreeMap::new();
    for v in &m.vex {
        let original = &collector.vex_manifests[v.name.as_str()];
        let repo_dir = stage.join(trivy_cache::VEX_REPOSITORIES).join(&v.name);
        let (manifest_bytes, location, repo_url) = match &base_url {
            Some(base) => {
                let loc = vex_repo::location(base, &v.name, v.archive_format.name(), &v.subdir);
                let rewritten =
                    vex::rewrite_location(original, &loc).map_err(|source| ImportError::Vex {
                        name: v.name.to_string(),
                        source,
                    })?;
                (
                    rewritten,
                    loc,
                    Some(vex_repo::repository_url(base, &v.name)),
                )
            }
            None => (original.clone(), v.original_location.clone(), None),
        };
        stage::write_file(&repo_dir.join("vex-repository.json"), &manifest_bytes)?;
        stage::write_file(
            &repo_dir.join("cache.json"),
            &trivy_cache::vex_cache_json(opts.now, &location),
        )?;
        if let Some(vs) = &collector.vex_stage {
            let wk = vs.path().join(&v.name).join(".well-known");
            fs::create_dir_all(&wk).map_err(PathIo::at("cannot create", &wk))?;
            stage::write_file(&wk.join("vex-repository.json"), &manifest_bytes)?;
        }
        repo_urls.insert(v.name.to_string(), repo_url);
        crate::fault::point("vex metadata written");
    }

    // Everything is staged and checked: flush, plan every swap (opening
    // every parent, so foreseeable failures come before any change), then
    // swap all components in, or none.
    stage::fsync_tree(&stage)?;
    if let Some(vs) = &collector.vex_stage {
        stage::fsync_tree(vs.path())?;
    }
    crate::fault::point("staging flushed");
    let mut swaps = stage::Swapper::default();
    for a in &m.artifacts {
        let name = trivy_cache::component(a.kind);
        swaps.plan(stage.join(name), &opts.cache_dir, Path::new(name))?;
    }
    for c in &checked {
        let rel = Path::new(trivy_cache::VEX_REPOSITORIES).join(&c.name);
        swaps.plan(stage.join(&rel), &opts.cache_dir, &rel)?;
        if let (Some(vs), Some(dir)) = (&collector.vex_stage, &opts.vex_dir) {
            swaps.plan(vs.path().join(&c.name), dir, Path::new(&c.name))?;
        }
    }
    // The older generation steps aside first (under a staging name, so a
    // crash leaves no previous generation rather than a wrong one); it comes
    // back if the swaps fail.
    let previous = opts.cache_dir.join(stage::PREVIOUS_DIR);
    let aside = opts.cache_dir.join(format!(
        "{}previous-{}",
        stage::STAGING_PREFIX,
        std::process::id()
    ));
    let moved_aside = fs::symlink_metadata(&previous).is_ok();
    if moved_aside {
        fs::rename(&previous, &aside).map_err(PathIo::at(
            "cannot set aside the older generation",
            &previous,
        ))?;
        crate::fault::point("older generation set aside");
    }
    collector.staging_guards.clear();
    let olds = match swaps.run() {
        Ok(olds) => olds,
        Err(e) => {
            if moved_aside {
                let _ = fs::rename(&aside, &previous);
            }
            return Err(e.into());
        }
    };
    crate::fault::point("swaps done");
    if moved_aside {
        let _ = fs::remove_dir_all(&aside);
        crate::fault::point("older generation removed");
    }
    // The import is done; failing to keep the old trees only costs the
    // rollback, and failing to record the state weakens the next import's
    // downgrade check: both are said as such.
    let mut warnings = Vec::new();
    let state = guard::advance(
        collector.state.clone().unwrap_or_default(),
        m,
        &verified.manifest_sha256.hex(),
        opts.now,
        !collector.forced.is_empty(),
    );
    if let Err(e) = guard::save(&opts.cache_dir, &state) {
        warnings.push(format!(
            "the import is complete, but its record in {} could not be written, so the next import cannot check for a downgrade against it: {e}",
            guard::STATE_FILE
        ));
    }
    if let (Some(vex_state), Some(dir)) = (collector.vex_state.clone(), &opts.vex_dir) {
        let vex_state = guard::advance_vex_dir(
            vex_state,
            m,
            &verified.manifest_sha256.hex(),
            opts.now,
            !collector.forced.is_empty(),
        );
        if let Err(e) = guard::save(dir, &vex_state) {
            warnings.push(format!(
                "the import is complete, but its record in {} could not be written, so the next import into this VEX directory cannot check for a downgrade against it: {e}",
                dir.join(guard::STATE_FILE).display()
            ));
        }
    }
    crate::fault::point("state saved");
    let with_vex_dir = opts.vex_dir.is_some();
    if let Err(e) = keep_previous(&opts.cache_dir, &m.artifacts, &checked, with_vex_dir, &olds) {
        warnings.push(format!(
            "the import is complete, but the replaced components could not be kept, so `airlock rollback` is not available: {e}"
        ));
    }
    let mut replaced = olds.iter().map(Option::is_some);
    let mut components = Vec::new();
    for a in &m.artifacts {
        components.push(InstalledComponent {
            kind: a.kind,
            path: opts.cache_dir.join(trivy_cache::component(a.kind)),
            replaced: replaced.next().unwrap_or(false),
            schema_version: a.database.as_ref().map(|d| d.schema_version),
            updated_at: a.database.as_ref().map(|d| d.updated_at.to_string()),
            next_update: a.database.as_ref().map(|d| d.next_update.to_string()),
            manifest_digest: a.manifest_digest.oci(),
        });
    }
    let mut vex_report = Vec::new();
    for c in checked {
        let in_cache = replaced.next().unwrap_or(false);
        let static_dir = match (&collector.vex_stage, &opts.vex_dir) {
            (Some(_), Some(dir)) => {
                replaced.next();
                Some(dir.join(&c.name))
            }
            _ => None,
        };
        vex_report.push(InstalledVex {
            repository_url: repo_urls.remove(&c.name).flatten(),
            cache_path: opts
                .cache_dir
                .join(trivy_cache::VEX_REPOSITORIES)
                .join(&c.name),
            name: c.name,
            replaced: in_cache,
            static_dir,
            packages: c.packages,
        });
    }
    // Removes the staging areas (now holding the previous generation) and
    // releases the lock.
    let collector_forced = std::mem::take(&mut collector.forced);
    crate::fault::point("before clean-up");
    drop(collector);
    crate::fault::point("cleaned up");

    let cache_abs = absolute(&opts.cache_dir)?;
    let repository_yaml = (!vex_report.is_empty()).then(|| {
        trivy_cache::repository_yaml(
            &vex_report
                .iter()
                .map(|v| (v.name.clone(), v.repository_url.clone()))
                .collect::<Vec<_>>(),
        )
    });
    Ok(ImportReport {
        manifest_sha256: verified.manifest_sha256.hex(),
        series: m.series.as_ref().map(|s| s.to_string()),
        sequence: m.sequence,
        forced: collector_forced,
        created: m.created.to_string(),
        labels: m.labels.clone(),
        signers: verified.signers.clone(),
        cache_dir: cache_abs.clone(),
        trivy_flags: trivy_cache::trivy_flags(&cache_abs, !vex_report.is_empty()),
        components,
        vex: vex_report,
        repository_yaml,
        warnings,
    })
}

/// The cache-relative paths of the components an import swaps, in plan order
/// (`None` for the static VEX directory's, which keeps no generation).
fn planned_components(
    artifacts: &[crate::manifest::Artifact],
    checked: &[CheckedVex],
    with_vex_dir: bool,
) -> Vec<Option<PathBuf>> {
    let mut out: Vec<Option<PathBuf>> = artifacts
        .iter()
        .map(|a| Some(PathBuf::from(trivy_cache::component(a.kind))))
        .collect();
    for c in checked {
        out.push(Some(Path::new(trivy_cache::VEX_REPOSITORIES).join(&c.name)));
        if with_vex_dir {
            out.push(None);
        }
    }
    out
}

/// Keeps what this import replaced in the cache as the previous generation,
/// for `airlock rollback`. The generation is assembled under a staging name
/// and renamed to [`stage::PREVIOUS_DIR`] only when complete, so rollback
/// never finds a partial one.
fn keep_previous(
    cache: &Path,
    artifacts: &[crate::manifest::Artifact],
    checked: &[CheckedVex],
    with_vex_dir: bool,
    olds: &[Option<PathBuf>],
) -> Result<(), ImportError> {
    let building = tempfile::Builder::new()
        .prefix(&format!("{}generation-", stage::STAGING_PREFIX))
        .tempdir_in(cache)
        .map_err(PathIo::at("cannot create a directory in", cache))?;
    let mut kept = 0;
    for (rel, old) in planned_components(artifacts, checked, with_vex_dir)
        .iter()
        .zip(olds)
    {
        if let (Some(rel), Some(old)) = (rel, old) {
            let dst = building.path().join(rel);
            let parent = dst.parent().expect("a component has a parent");
            fs::create_dir_all(parent).map_err(PathIo::at("cannot create", parent))?;
            fs::rename(old, &dst)
                .map_err(PathIo::at("cannot keep the previous generation in", &dst))?;
            crate::fault::point("component kept");
            kept += 1;
        }
    }
    if kept == 0 {
        return Ok(());
    }
    stage::fsync_tree(building.path())?;
    crate::fault::point("generation flushed");
    let path = building.keep();
    let previous = cache.join(stage::PREVIOUS_DIR);
    if let Err(e) = fs::rename(&path, &previous) {
        let _ = fs::remove_dir_all(&path);
        return Err(PathIo::new("cannot keep the previous generation in", &previous, e).into());
    }
    crate::fault::point("generation kept");
    File::open(cache)
        .and_then(|d| d.sync_all())
        .map_err(PathIo::at("cannot flush", cache))?;
    Ok(())
}

/// Whether `p` is a directory itself, not a link to one.
fn real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The components put back (cache-relative paths).
    pub restored: Vec<PathBuf>,
}

/// Puts back the trees the last import replaced (kept in
/// [`stage::PREVIOUS_DIR`]), each swapped atomically, all or none. The
/// trees swapped out become the previous generation in turn, so a second
/// rollback undoes the first. Components the last import added (absent
/// before it) are left in place.
pub fn rollback(cache_dir: &Path) -> Result<RollbackReport, ImportError> {
    if !cache_dir.is_dir() {
        return Err(ImportError::NoPreviousGeneration(cache_dir.to_path_buf()));
    }
    let _lock = stage::lock(cache_dir)?;
    let previous = cache_dir.join(stage::PREVIOUS_DIR);
    let mut rels = Vec::new();
    // Only real directories: never swap a link into the cache.
    for kind in ArtifactKind::ALL {
        let rel = PathBuf::from(trivy_cache::component(kind));
        if real_dir(&previous) && real_dir(&previous.join(&rel)) {
            rels.push(rel);
        }
    }
    let repos = previous.join(trivy_cache::VEX_REPOSITORIES);
    let entries = fs::read_dir(&repos)
        .ok()
        .filter(|_| real_dir(&previous) && real_dir(&previous.join("vex")) && real_dir(&repos));
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
    if rels.is_empty() {
        return Err(ImportError::NoPreviousGeneration(cache_dir.to_path_buf()));
    }
    let mut swaps = stage::Swapper::default();
    for rel in &rels {
        swaps.plan(previous.join(rel), cache_dir, rel)?;
    }
    swaps.run()?;
    Ok(RollbackReport {
        cache_dir: absolute(cache_dir)?,
        restored: rels,
    })
}

/// One component of a cache, as `status` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// Cache-relative path (`db`, `vex/repositories/default`...).
    pub path: PathBuf,
    /// Bytes of its files.
    pub bytes: u64,
    /// For the databases: Version, UpdatedAt, NextUpdate, DownloadedAt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<crate::artifact::DbMetadata>,
    /// Bytes of the previous generation of it kept for `rollback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_bytes: Option<u64>,
}

/// What a cache holds, and what `rollback` would cost to keep.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStatus {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The components present.
    pub components: Vec<ComponentStatus>,
    /// Total bytes of the previous generation (disk that rollback costs).
    pub previous_bytes: u64,
}

/// Bytes of the regular files under `root`, which must be a real directory:
/// links are never followed (nor is another file system entered).
fn tree_bytes(root: &Path) -> u64 {
    if !real_dir(root) {
        return 0;
    }
    walkdir::WalkDir::new(root)
        .follow_root_links(false)
        .same_file_system(true)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .fold(0u64, |t, m| t.saturating_add(m.len()))
}

/// Reports the components of a Trivy cache airlock manages (read only).
pub fn status(cache_dir: &Path) -> Result<CacheStatus, ImportError> {
    if !cache_dir.is_dir() {
        return Err(PathIo::new(
            "cannot read",
            cache_dir,
            io::Error::from(io::ErrorKind::NotFound),
        )
        .into());
    }
    let previous = cache_dir.join(stage::PREVIOUS_DIR);
    let mut rels: Vec<PathBuf> = ArtifactKind::ALL
        .iter()
        .map(|k| PathBuf::from(trivy_cache::component(*k)))
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for base in [cache_dir, previous.as_path()] {
        let repos = base.join(trivy_cache::VEX_REPOSITORIES);
        if !(real_dir(base) && real_dir(&base.join("vex")) && real_dir(&repos)) {
            continue;
        }
        if let Ok(entries) = fs::read_dir(&repos) {
            names.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name()),
            );
        }
    }
    rels.extend(
        names
            .into_iter()
            .map(|n| Path::new(trivy_cache::VEX_REPOSITORIES).join(n)),
    );
    let mut components = Vec::new();
    for rel in rels {
        let live = cache_dir.join(&rel);
        let kept = previous.join(&rel);
        if !real_dir(&live) && !real_dir(&kept) {
            continue;
        }
        let meta_path = live.join("metadata.json");
        let metadata = fs::symlink_metadata(&meta_path)
            .ok()
            .filter(|m| m.is_file() && m.len() <= crate::artifact::db::MAX_METADATA)
            .and_then(|_| fs::read(&meta_path).ok())
            .and_then(|b| crate::artifact::DbMetadata::parse(&b).ok());
        components.push(ComponentStatus {
            bytes: tree_bytes(&live),
            metadata: if rel.starts_with("policy") {
                None
            } else {
                metadata
            },
            previous_bytes: real_dir(&kept).then(|| tree_bytes(&kept)),
            path: rel,
        });
    }
    Ok(CacheStatus {
        cache_dir: absolute(cache_dir)?,
        previous_bytes: tree_bytes(&previous),
        components,
    })
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
