//! Import: verify a bundle, build every component in a staging directory on
//! the target's file system, then swap each component into place atomically.
//!
//! The guarantees (bundle-spec/SPEC.md, "Import"):
//! - nothing is created before the signatures satisfy the trust policy and
//!   the manifest passed its checks; a refused bundle leaves no trace;
//! - payload bytes stream once from the bundle into staging (the databases
//!   are unpacked as they pass, the VEX archive is stored, then extracted
//!   from the stored, already verified copy); the staging area is removed
//!   on any failure, leaving the cache exactly as it was;
//! - each component (`db/`, `java-db/`, `policy/`, each
//!   `vex/repositories/<name>/`, each `<vex-dir>/<name>/`) is fsynced, then
//!   exchanged with the live one by `renameat2(RENAME_EXCHANGE)`, so a
//!   concurrent Trivy sees the old tree or the new one, never a mix;
//!   components the bundle does not carry are not touched;
//! - one import at a time per cache (an advisory lock on `.airlock.lock`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::artifact::oci::ImageManifest;
use crate::artifact::vex::{self, ArchiveFormat, VexError};
use crate::artifact::{self, ArtifactError, LayerContents};
use crate::bundle::reader::{
    self, BundleError, PayloadReader, PayloadVisitor, ReadError, Verified,
};
use crate::manifest::{ArtifactKind, Manifest, Payload};
use crate::policy::{SignerReport, TrustPolicy};
use crate::target::{trivy_cache, vex_repo};
use crate::unpack::{Limits, Sink};

/// Prefix of staging directories (leftovers of a crash are removed by the
/// next import).
pub const STAGING_PREFIX: &str = ".airlock-staging-";
/// The lock file in the cache directory.
pub const LOCK_FILE: &str = ".airlock.lock";

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
}

/// Why an import was refused or failed. The cache is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A database Trivy 0.76 would not read (checked before anything is written).
    #[error("{0}\nhint: this bundle was made for another Trivy version; nothing was written")]
    Schema(ArtifactError),
    /// A layer's content was refused.
    #[error("{kind}: {source}")]
    Artifact {
        /// Which artifact.
        kind: ArtifactKind,
        /// Why.
        #[source]
        source: ArtifactError,
    },
    /// A VEX repository's content was refused.
    #[error("VEX repository {name:?}: {source}")]
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
    /// Another import holds the lock.
    #[error("another airlock import is running on {} (lock held on {})\nhint: wait for it to finish, then run this import again", cache.display(), lock.display())]
    Locked {
        /// The cache.
        cache: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// File system trouble.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn ioe<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ImportError + 'a {
    move |source| ImportError::Io {
        what,
        path: path.to_path_buf(),
        source,
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
    /// The URL to put in repository.yaml.
    pub repository_url: String,
    /// Packages in its index.
    pub packages: u64,
}

/// What import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// SHA-256 of the signed manifest.
    pub manifest_sha256: String,
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
    /// repository.yaml content for the VEX repositories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_yaml: Option<String>,
}

/// Writes the files of an archive under a staging root. Entry paths were
/// checked by `unpack`; the root is a fresh directory airlock created, with
/// no links in it, so joining them cannot escape.
struct DirSink {
    root: PathBuf,
}

impl Sink for DirSink {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        fs::create_dir_all(self.root.join(path))
    }

    fn file(&mut self, path: &str, _size: u64, data: &mut dyn Read) -> io::Result<()> {
        let p = self.root.join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        write_new(&p, data)
    }
}

fn write_new(p: &Path, data: &mut dyn Read) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(p)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    io::copy(data, &mut w)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// Holds the cache's advisory lock until dropped.
struct CacheLock {
    _file: File,
}

fn lock(cache: &Path) -> Result<CacheLock, ImportError> {
    let path = cache.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .open(&path)
        .map_err(ioe("cannot open the lock file", &path))?;
    // SAFETY: flock on a valid open descriptor has no memory effects.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(ImportError::Locked {
                cache: cache.to_path_buf(),
                lock: path,
            });
        }
        return Err(ioe("cannot lock", &path)(err));
    }
    Ok(CacheLock { _file: file })
}

/// Removes staging directories a crashed import left behind.
fn remove_leftovers(dir: &Path) -> Result<(), ImportError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let p = e.path();
            fs::remove_dir_all(&p)
                .map_err(ioe("cannot remove the leftover staging directory", &p))?;
        }
    }
    Ok(())
}

fn staging(dir: &Path) -> Result<tempfile::TempDir, ImportError> {
    tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(dir)
        .map_err(ioe("cannot create a staging directory in", dir))
}

struct Installer<'a> {
    opts: &'a ImportOptions,
    lock: Option<CacheLock>,
    cache_stage: Option<tempfile::TempDir>,
    vex_stage: Option<tempfile::TempDir>,
    manifest: Option<Manifest>,
    layers: BTreeMap<ArtifactKind, LayerContents>,
    oci_manifests: BTreeMap<String, Vec<u8>>,
    vex_manifests: BTreeMap<String, Vec<u8>>,
    vex_archives: BTreeMap<String, PathBuf>,
}

impl Installer<'_> {
    fn cache_stage(&self) -> &Path {
        self.cache_stage
            .as_ref()
            .expect("staging exists after start")
            .path()
    }

    /// Where a VEX repository's archive is stored while staging: in the
    /// static directory's staging area if there is one (it ends up there),
    /// else in the cache's.
    fn archive_path(&self, name: &str, format: &str) -> PathBuf {
        match &self.vex_stage {
            Some(s) => s.path().join(name).join(vex_repo::archive_file(format)),
            None => self
                .cache_stage()
                .join("vex-archives")
                .join(format!("{name}.{format}")),
        }
    }
}

impl PayloadVisitor for Installer<'_> {
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
        let cache = &self.opts.cache_dir;
        fs::create_dir_all(cache).map_err(ioe("cannot create the cache directory", cache))?;
        self.lock = Some(lock(cache)?);
        remove_leftovers(cache)?;
        self.cache_stage = Some(staging(cache)?);
        if let Some(dir) = &self.opts.vex_dir {
            if !m.vex.is_empty() {
                fs::create_dir_all(dir).map_err(ioe("cannot create the VEX directory", dir))?;
                remove_leftovers(dir)?;
                let stage = staging(dir)?;
                for v in &m.vex {
                    let p = stage.path().join(&v.name);
                    fs::create_dir_all(&p).map_err(ioe("cannot create", &p))?;
                }
                self.vex_stage = Some(stage);
            }
        }
        if !m.vex.is_empty() && self.vex_stage.is_none() {
            let p = self.cache_stage().join("vex-archives");
            fs::create_dir_all(&p).map_err(ioe("cannot create", &p))?;
        }
        self.manifest = Some(m.clone());
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
            let root = self
                .cache_stage()
                .join(trivy_cache::component(kind))
                .join(trivy_cache::layer_dir(kind));
            fs::create_dir_all(&root).map_err(ioe("cannot create", &root))?;
            let limits = Limits::declared(a.unpacked.size, a.unpacked.files);
            let contents = artifact::scan_layer(kind, data, limits, &mut DirSink { root })
                .map_err(|source| ImportError::Artifact { kind, source })?;
            self.layers.insert(kind, contents);
            return Ok(());
        }
        if let Some(a) = m
            .artifacts
            .iter()
            .find(|a| Manifest::blob_path(&a.manifest_digest) == payload.path)
        {
            let mut bytes = Vec::new();
            data.take(1 << 20).read_to_end(&mut bytes).map_err(|e| {
                ImportError::Inconsistent(format!(
                    "cannot read the OCI manifest of {}: {e}",
                    a.kind
                ))
            })?;
            self.oci_manifests.insert(a.manifest_digest.clone(), bytes);
            return Ok(());
        }
        if let Some(v) = m.vex.iter().find(|v| v.manifest_path == payload.path) {
            let mut bytes = Vec::new();
            data.take(vex::MAX_MANIFEST)
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    ImportError::Inconsistent(format!(
                        "cannot read vex-repository.json of {:?}: {e}",
                        v.name
                    ))
                })?;
            self.vex_manifests.insert(v.name.clone(), bytes);
            return Ok(());
        }
        if let Some(v) = m.vex.iter().find(|v| v.archive_path == payload.path) {
            let path = self.archive_path(&v.name, &v.archive_format);
            write_new(&path, data).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidData {
                    ImportError::Inconsistent(e.to_string())
                } else {
                    ioe("cannot write", &path)(e)
                }
            })?;
            self.vex_archives.insert(v.name.clone(), path);
        }
        Ok(())
    }
}

/// Verifies `bundle` against `policy` and installs it. See the module docs.
///
/// # Errors
/// Any refusal leaves the cache and the VEX directory as they were (only a
/// lock file and, for a new cache, the empty directory may remain).
pub fn import<R: Read>(
    bundle: R,
    policy: &TrustPolicy,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut inst = Installer {
        opts,
        lock: None,
        cache_stage: None,
        vex_stage: None,
        manifest: None,
        layers: BTreeMap::new(),
        oci_manifests: BTreeMap::new(),
        vex_manifests: BTreeMap::new(),
        vex_archives: BTreeMap::new(),
    };
    let verified = match reader::read(bundle, policy, &mut inst) {
        Ok(v) => v,
        Err(ReadError::Bundle(e)) => return Err(ImportError::Bundle(e)),
        Err(ReadError::Visitor(e)) => return Err(e),
    };
    finish(inst, verified)
}

fn check_layer(
    a: &crate::manifest::Artifact,
    got: Option<&LayerContents>,
) -> Result<(), ImportError> {
    let c = got.ok_or_else(|| {
        ImportError::Inconsistent(format!("the layer of {} was never read", a.kind))
    })?;
    if c.unpacked != a.unpacked {
        return Err(ImportError::Inconsistent(format!(
            "{} unpacks to {} files / {} bytes, the manifest says {} / {}",
            a.kind, c.unpacked.files, c.unpacked.size, a.unpacked.files, a.unpacked.size
        )));
    }
    if let Some(db) = &a.database {
        let (Some(file), Some(meta)) = (&c.db_file, &c.metadata) else {
            return Err(ImportError::Inconsistent(format!(
                "{} has no database file",
                a.kind
            )));
        };
        if file.sha256.hex() != db.sha256 || file.size != db.size {
            return Err(ImportError::Inconsistent(format!(
                "{} database file has sha256 {} ({} bytes), the manifest says {} ({} bytes)",
                a.kind, file.sha256, file.size, db.sha256, db.size
            )));
        }
        if meta.version != db.schema_version
            || meta.updated_at != db.updated_at
            || meta.next_update != db.next_update
        {
            return Err(ImportError::Inconsistent(format!(
                "{} metadata.json (Version {}, UpdatedAt {}) differs from the manifest (Version {}, UpdatedAt {})",
                a.kind, meta.version, meta.updated_at, db.schema_version, db.updated_at
            )));
        }
    }
    Ok(())
}

fn check_oci_manifest(
    a: &crate::manifest::Artifact,
    bytes: Option<&Vec<u8>>,
) -> Result<(), ImportError> {
    let bytes = bytes.ok_or_else(|| {
        ImportError::Inconsistent(format!("the OCI manifest of {} was never read", a.kind))
    })?;
    let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        ImportError::Inconsistent(format!("the OCI manifest of {} is not valid: {e}", a.kind))
    })?;
    let ok = m.layers.len() == 1
        && m.layers[0].digest == a.layer.digest
        && m.layers[0].media_type == a.layer.media_type
        && m.layers[0].size == a.layer.size
        && m.layers[0].annotations.get(artifact::oci::TITLE) == Some(&a.layer.title);
    if !ok {
        return Err(ImportError::Inconsistent(format!(
            "the OCI manifest of {} does not describe exactly its one layer {}",
            a.kind, a.layer.digest
        )));
    }
    Ok(())
}

fn fsync_tree(root: &Path) -> Result<(), ImportError> {
    for e in walkdir::WalkDir::new(root).contents_first(true) {
        let e = e.map_err(|e| ImportError::Io {
            what: "cannot walk",
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        if e.file_type().is_dir() {
            let d = File::open(e.path()).map_err(ioe("cannot open", e.path()))?;
            d.sync_all().map_err(ioe("cannot flush", e.path()))?;
        }
    }
    Ok(())
}

/// Exchanges `staged` with `live` atomically; `staged` then holds the old
/// tree (removed with the staging directory). Returns whether `live` existed.
fn swap_in(staged: &Path, live: &Path) -> Result<bool, ImportError> {
    let parent = live.parent().expect("components have a parent");
    fs::create_dir_all(parent).map_err(ioe("cannot create", parent))?;
    let existed = fs::symlink_metadata(live).is_ok();
    if existed {
        exchange(staged, live).map_err(ioe("cannot swap in", live))?;
    } else {
        fs::rename(staged, live).map_err(ioe("cannot move into place", live))?;
    }
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(ioe("cannot flush", parent))?;
    Ok(existed)
}

fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them as given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn finish(inst: Installer<'_>, verified: Verified) -> Result<ImportReport, ImportError> {
    let opts = inst.opts;
    let m = &verified.manifest;
    let stage = inst.cache_stage().to_path_buf();

    for a in &m.artifacts {
        check_layer(a, inst.layers.get(&a.kind))?;
        check_oci_manifest(a, inst.oci_manifests.get(&a.manifest_digest))?;
        let comp = stage.join(trivy_cache::component(a.kind));
        let meta_path = comp.join("metadata.json");
        let bytes = match (
            &a.database,
            &a.checks,
            inst.layers.get(&a.kind).and_then(|l| l.metadata.as_ref()),
        ) {
            (Some(_), _, Some(meta)) => trivy_cache::db_metadata(meta, opts.now),
            (None, Some(c), _) => {
                trivy_cache::policy_metadata(&a.manifest_digest, c.major_version, opts.now)
            }
            _ => {
                return Err(ImportError::Inconsistent(format!(
                    "{} lacks its metadata",
                    a.kind
                )))
            }
        };
        // The layer's own metadata.json is replaced by the one Trivy keeps.
        if meta_path.exists() {
            fs::remove_file(&meta_path).map_err(ioe("cannot replace", &meta_path))?;
        }
        write_new(&meta_path, &mut bytes.as_slice()).map_err(ioe("cannot write", &meta_path))?;
    }

    let base_url = match (&opts.vex_url, &opts.vex_dir) {
        (Some(u), _) => Some(u.trim_end_matches('/').to_string()),
        (None, Some(d)) => Some(vex_repo::file_url(&absolute(d)?)),
        (None, None) => None,
    };
    let mut vex_urls = Vec::new();
    for v in &m.vex {
        let archive = inst.vex_archives.get(&v.name).ok_or_else(|| {
            ImportError::Inconsistent(format!("VEX archive of {:?} was never read", v.name))
        })?;
        let original = inst.vex_manifests.get(&v.name).ok_or_else(|| {
            ImportError::Inconsistent(format!(
                "vex-repository.json of {:?} was never read",
                v.name
            ))
        })?;
        let parsed = vex::parse_manifest(original).map_err(|source| ImportError::Vex {
            name: v.name.clone(),
            source,
        })?;
        if parsed.subdir != v.subdir {
            return Err(ImportError::Inconsistent(format!(
                "VEX repository {:?}: location folder {:?} differs from the manifest's {:?}",
                v.name, parsed.subdir, v.subdir
            )));
        }
        let format = ArchiveFormat::from_name(&v.archive_format).ok_or_else(|| {
            ImportError::Inconsistent(format!("unknown archive format {:?}", v.archive_format))
        })?;
        let repo_dir = stage.join(trivy_cache::VEX_REPOSITORIES).join(&v.name);
        let tree = repo_dir.join(vex::SPEC_VERSION);
        fs::create_dir_all(&tree).map_err(ioe("cannot create", &tree))?;
        let file = File::open(archive).map_err(ioe("cannot open", archive))?;
        let contents = vex::scan_archive(
            format,
            io::BufReader::new(file),
            &v.subdir,
            Limits::declared(v.unpacked.size, v.unpacked.files),
            &mut DirSink { root: tree },
        )
        .map_err(|source| ImportError::Vex {
            name: v.name.clone(),
            source,
        })?;
        if contents.unpacked != v.unpacked || contents.packages != v.packages {
            return Err(ImportError::Inconsistent(format!(
                "VEX repository {:?} holds {} files / {} packages, the manifest says {} / {}",
                v.name, contents.unpacked.files, contents.packages, v.unpacked.files, v.packages
            )));
        }
        let (manifest_bytes, location, repo_url) = match &base_url {
            Some(base) => {
                let loc = vex_repo::location(base, &v.name, &v.archive_format, &v.subdir);
                let rewritten =
                    vex::rewrite_location(original, &loc).map_err(|source| ImportError::Vex {
                        name: v.name.clone(),
                        source,
                    })?;
                (rewritten, loc, vex_repo::repository_url(base, &v.name))
            }
            None => (original.clone(), v.original_location.clone(), String::new()),
        };
        for (name, bytes) in [
            ("vex-repository.json", manifest_bytes.clone()),
            (
                "cache.json",
                trivy_cache::vex_cache_json(opts.now, &location),
            ),
        ] {
            let p = repo_dir.join(name);
            write_new(&p, &mut bytes.as_slice()).map_err(ioe("cannot write", &p))?;
        }
        if let Some(vs) = &inst.vex_stage {
            let wk = vs.path().join(&v.name).join(".well-known");
            fs::create_dir_all(&wk).map_err(ioe("cannot create", &wk))?;
            let p = wk.join("vex-repository.json");
            write_new(&p, &mut manifest_bytes.as_slice()).map_err(ioe("cannot write", &p))?;
        }
        vex_urls.push((v.name.clone(), repo_url, contents.packages));
    }

    // Everything is staged and checked: flush, then swap component by component.
    fsync_tree(&stage)?;
    if let Some(vs) = &inst.vex_stage {
        fsync_tree(vs.path())?;
    }
    let mut components = Vec::new();
    for a in &m.artifacts {
        let name = trivy_cache::component(a.kind);
        let live = opts.cache_dir.join(name);
        let replaced = swap_in(&stage.join(name), &live)?;
        components.push(InstalledComponent {
            kind: a.kind,
            path: live,
            replaced,
            schema_version: a.database.as_ref().map(|d| d.schema_version),
            updated_at: a.database.as_ref().map(|d| d.updated_at.clone()),
            next_update: a.database.as_ref().map(|d| d.next_update.clone()),
            manifest_digest: a.manifest_digest.clone(),
        });
    }
    let mut vex_report = Vec::new();
    for (name, repo_url, packages) in vex_urls {
        let rel = Path::new(trivy_cache::VEX_REPOSITORIES).join(&name);
        let live = opts.cache_dir.join(&rel);
        let replaced = swap_in(&stage.join(&rel), &live)?;
        let static_dir = match (&inst.vex_stage, &opts.vex_dir) {
            (Some(vs), Some(dir)) => {
                let live_static = dir.join(&name);
                swap_in(&vs.path().join(&name), &live_static)?;
                Some(live_static)
            }
            _ => None,
        };
        let repository_url = if repo_url.is_empty() {
            m.vex
                .iter()
                .find(|v| v.name == name)
                .map(|v| vex::split_location(&v.original_location).0)
                .unwrap_or_default()
        } else {
            repo_url
        };
        vex_report.push(InstalledVex {
            name,
            cache_path: live,
            replaced,
            static_dir,
            repository_url,
            packages,
        });
    }
    drop(inst);

    let cache_abs = absolute(&opts.cache_dir)?;
    let repository_yaml = if vex_report.is_empty() {
        None
    } else {
        Some(trivy_cache::repository_yaml(
            &vex_report
                .iter()
                .map(|v| (v.name.clone(), v.repository_url.clone()))
                .collect::<Vec<_>>(),
        ))
    };
    Ok(ImportReport {
        manifest_sha256: verified.manifest_sha256.hex(),
        created: m.created.clone(),
        labels: m.labels.clone(),
        signers: verified.signers.clone(),
        cache_dir: cache_abs.clone(),
        trivy_flags: trivy_cache::trivy_flags(&cache_abs, !vex_report.is_empty()),
        components,
        vex: vex_report,
        repository_yaml,
    })
}

fn absolute(p: &Path) -> Result<PathBuf, ImportError> {
    std::path::absolute(p).map_err(ioe("cannot resolve", p))
}

/// Verifies every signature and every byte of a bundle, writing nothing.
pub fn verify<R: Read>(bundle: R, policy: &TrustPolicy) -> Result<Verified, ImportError> {
    let mut checker = Checker { manifest: None };
    match reader::read(bundle, policy, &mut checker) {
        Ok(v) => Ok(v),
        Err(ReadError::Bundle(e)) => Err(ImportError::Bundle(e)),
        Err(ReadError::Visitor(e)) => Err(e),
    }
}

/// Checks each layer's content the way import would, without writing.
struct Checker {
    manifest: Option<Manifest>,
}

impl PayloadVisitor for Checker {
    type Error = ImportError;

    fn start(&mut self, bundle: &Verified) -> Result<(), ImportError> {
        self.manifest = Some(bundle.manifest.clone());
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
            let limits = Limits::declared(a.unpacked.size, a.unpacked.files);
            let contents = artifact::scan_layer(a.kind, data, limits, &mut crate::unpack::Discard)
                .map_err(|source| ImportError::Artifact {
                    kind: a.kind,
                    source,
                })?;
            check_layer(a, Some(&contents))?;
        }
        Ok(())
    }
}
