//! Collecting a bundle's payloads: the [`PayloadVisitor`] that checks the
//! manifest before anything is written, judges freshness and downgrades,
//! takes the locks, creates the staging areas, streams each payload into
//! them (or nowhere, when only verifying), and finally checks everything
//! collected against the signed manifest.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use time::OffsetDateTime;

use crate::artifact::vex;
use crate::artifact::{self, LayerContents};
use crate::bundle::reader::{PayloadReader, PayloadVisitor, Verified};
use crate::freshness::AgeRefusal;
use crate::layout::{trivy_cache, vex_repo};
use crate::manifest::{ArtifactKind, Manifest, Payload};
use crate::policy::TrustPolicy;

use super::{guard, stage, ImportError, ImportOptions};

mod check;
use crate::error::PathIo;
pub(super) use check::CheckedVex;

/// Where checked content goes: a staging area (import), or nowhere (verify).
pub(super) enum Mode<'a> {
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
pub(super) struct Collector<'a> {
    mode: Mode<'a>,
    policy: &'a TrustPolicy,
    /// What judging the bundle against this host's history found
    /// (install mode): downgrades forced, already installed, repairs.
    pub(super) judged: super::judge::Judged,
    /// The host state read under the lock (install mode).
    pub(super) state: Option<guard::State>,
    /// The static VEX directory's state, read under its lock (install mode
    /// with a VEX directory and VEX repositories in the bundle).
    pub(super) vex_state: Option<guard::State>,
    lock: Option<stage::Lock>,
    vex_lock: Option<stage::Lock>,
    cache_stage: Option<tempfile::TempDir>,
    pub(super) vex_stage: Option<tempfile::TempDir>,
    /// The staging areas' registrations for removal on a signal, dropped
    /// before the swaps: from then on a half-done swap is recovered by the
    /// next import, never removed.
    pub(super) staging_guards: Vec<crate::cleanup::Guard>,
    manifest: Option<Manifest>,
    pub(super) layers: BTreeMap<ArtifactKind, LayerContents>,
    oci_manifests: BTreeMap<String, Vec<u8>>,
    /// The OCI layout's small documents (index.json, oci-layout, OCI
    /// manifests, configs), by payload path.
    layout: BTreeMap<String, Vec<u8>>,
    pub(super) vex_manifests: BTreeMap<String, Vec<u8>>,
    vex_archives: BTreeMap<String, StoredArchive>,
    /// The whole-file database checks, started as each layer's bytes were
    /// verified, waited for in [`Collector::check`] (issue 12).
    db_checks: BTreeMap<ArtifactKind, artifact::DbCheck>,
    /// The metadata.json each delta carries (format 1.3).
    delta_metadata: BTreeMap<ArtifactKind, Vec<u8>>,
    /// The installed files the deltas apply to, open since their digests
    /// were checked (or, an import killed between its swaps, that already
    /// are the result: staged from the live file, not applied).
    delta_bases: super::delta::Bases,
}

impl<'a> Collector<'a> {
    pub(super) fn new(mode: Mode<'a>, policy: &'a TrustPolicy) -> Self {
        Collector {
            mode,
            policy,
            judged: super::judge::Judged::default(),
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
            db_checks: BTreeMap::new(),
            delta_metadata: BTreeMap::new(),
            delta_bases: Default::default(),
        }
    }

    /// The cache staging directory (install mode only).
    pub(super) fn cache_stage(&self) -> Option<&Path> {
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
        preflight(m)?;
        self.manifest = Some(m.clone());
        let clock = match self.mode {
            Mode::Install(opts) => opts.now,
            Mode::Check => OffsetDateTime::now_utc(),
        };
        let Mode::Install(opts) = self.mode else {
            // The judgement `inspect --trust` makes too.
            return crate::freshness::judge(m, self.policy, clock).map_err(|e| match e {
                AgeRefusal::FromTheFuture(why) => ImportError::FromTheFuture(why),
                AgeRefusal::Stale(why) => ImportError::Stale(why),
            });
        };
        if let Some(why) = m.time_from_the_future(clock) {
            return Err(ImportError::FromTheFuture(why));
        }
        self.lock_and_judge(bundle, opts)?;
        if self.judged.already_installed {
            // Nothing will be swapped: the payloads are checked as verify
            // checks them, and nothing is staged; what an interrupted
            // import left is still removed.
            stage::remove_leftovers(&opts.cache_dir)?;
            if let Some(dir) = opts.vex_dir.as_ref().filter(|d| d.is_dir()) {
                stage::remove_leftovers(dir)?;
            }
            return Ok(());
        }
        // A delta applies only to its base: refused before staging.
        if !m.deltas.is_empty() {
            // Only here: other imports keep their crash points' numbers.
            self.delta_bases = super::delta::check_bases(m, &opts.cache_dir)?;
            crate::fault::point("delta bases checked");
        }
        self.create_staging(m, opts)
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
            let (kind, limits) = (a.kind, a.unpacked.limits());
            self.layer(kind, limits, data)?;
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
        } else if let Some(d) = m.deltas.iter().find(|d| d.path == payload.path) {
            // Stored for the apply once every byte is proven; verify only
            // hashes it (the base is on the importing host).
            if let Some(stage) = self.cache_stage() {
                super::delta::store(stage, d, data)?;
            }
        } else if let Some(d) = m.deltas.iter().find(|d| d.metadata_path == payload.path) {
            let bytes = read_document(
                data,
                crate::manifest::MAX_DELTA_METADATA,
                format!("the metadata.json of the {} delta", d.kind),
            )?;
            self.delta_metadata.insert(d.kind, bytes);
        } else if let Some(v) = m.vex.iter().find(|v| v.manifest_path == payload.path) {
            let bytes = read_document(
                data,
                vex::MAX_MANIFEST,
                format!("vex-repository.json of {:?}", v.name),
            )?;
            self.vex_manifests.insert(v.name.to_string(), bytes);
        } else if let Some(v) = m.vex.iter().find(|v| v.archive_path == payload.path) {
            let (name, format) = (v.name.to_string(), v.archive_format.name());
            self.store_vex_archive(name, format, data)?;
        }
        crate::fault::point("payload read");
        Ok(())
    }
}

impl Collector<'_> {
    /// A layer: scanned into staging (import) or a spool (verify); its
    /// database's whole-file check starts once every byte is verified.
    fn layer(
        &mut self,
        kind: ArtifactKind,
        limits: crate::unpack::Limits,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), ImportError> {
        let (scanned, copy) = match self.cache_stage() {
            Some(stage) => {
                let root = stage
                    .join(trivy_cache::component(kind))
                    .join(trivy_cache::layer_dir(kind));
                fs::create_dir_all(&root).map_err(PathIo::at("cannot create", &root))?;
                let copy = artifact::info(kind)
                    .db_file
                    .map(|name| artifact::DbCopy::Staged(root.join(name)));
                let sink = &mut stage::DirSink { root };
                (artifact::scan_layer(kind, &mut *data, limits, sink), copy)
            }
            None => {
                let mut spool = artifact::SpoolSink::new(kind);
                let scanned = artifact::scan_layer(kind, &mut *data, limits, &mut spool);
                (scanned, spool.into_copy())
            }
        };
        let contents = scanned.map_err(|source| ImportError::Artifact { kind, source })?;
        self.layers.insert(kind, contents);
        if let Some(copy) = copy {
            // Every byte of the layer is read and its digest compared
            // (an error here is the reader's, which it reports itself)
            // before the database is opened: then it is checked on a
            // second thread while the rest of the bundle is read.
            io::copy(data, &mut io::sink())
                .map_err(|e| ImportError::Inconsistent(e.to_string()))?;
            self.db_checks
                .insert(kind, artifact::DbCheck::start(kind, copy));
        }
        Ok(())
    }

    /// A VEX archive, stored whole (in staging) for `check`.
    fn store_vex_archive(
        &mut self,
        name: String,
        format: &str,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), ImportError> {
        let file = self.archive_file(&name, format)?;
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
        Ok(())
    }
}

impl<'a> Collector<'a> {
    /// Judges freshness and downgrades before anything is created, then
    /// takes the locks and judges again under them, against the state a
    /// concurrent import may have just written.
    fn lock_and_judge(
        &mut self,
        bundle: &Verified,
        opts: &'a ImportOptions,
    ) -> Result<(), ImportError> {
        let m = &bundle.manifest;
        let cache = &opts.cache_dir;
        // The static VEX directory keeps its own history: a fleet downloads
        // from it whatever cache the import used (issue 11).
        let vex_dir = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty());
        let policy = self.policy;
        let judge = |state: &guard::State, vex_state: &guard::State, disk: bool| {
            super::judge::judge(bundle, policy, opts, (state, vex_state), disk)
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
        // Refusals first, before anything is created; the disk is compared
        // once, under the locks.
        judge(&load_if_dir(cache)?, &vex_state_now, false)?;
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
        self.judged = judge(&state, &vex_state, true)?;
        self.state = Some(state);
        self.vex_state = vex_dir.map(|_| vex_state);
        Ok(())
    }

    /// Removes what an interrupted import left, checks the space needed and
    /// creates the staging areas (registered for removal on a signal).
    fn create_staging(&mut self, m: &Manifest, opts: &ImportOptions) -> Result<(), ImportError> {
        let cache = &opts.cache_dir;
        let vex_dir = opts.vex_dir.as_ref().filter(|_| !m.vex.is_empty());
        stage::remove_leftovers(cache)?;
        // Other commands' leftovers of dead runs (`sign` writing beside a
        // bundle kept here...): `status` says the next import removes them.
        crate::cleanup::sweep(cache);
        crate::fault::point("leftovers removed");
        if let Some(dir) = vex_dir {
            fs::create_dir_all(dir).map_err(PathIo::at("cannot create the VEX directory", dir))?;
        }
        let (cache_needs, vex_needs) = space_needed(m, opts.vex_dir.is_some());
        let mut needs = vec![(cache.as_path(), cache_needs)];
        if let Some(dir) = vex_dir {
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
}

/// Pre-flight: refuses what Trivy 0.76 could not read, before writing.
fn preflight(m: &Manifest) -> Result<(), ImportError> {
    for d in &m.deltas {
        artifact::check_schema(d.kind, d.database.schema_version).map_err(ImportError::Schema)?;
    }
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
    Ok(())
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
    for d in &m.deltas {
        // The rebuilt file, and the stored delta until it is applied.
        let stored = m.payload(&d.path).map_or(0, |p| p.size);
        cache = cache
            .and(stage::Need {
                bytes: d.database.size.saturating_add(stored),
                inodes: 2,
            })
            .and(extra(2, 4));
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
