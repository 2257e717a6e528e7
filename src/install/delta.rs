//! Importing a database carried as a delta (format 1.3, issue 13).
//!
//! Before anything is written outside the lock file: the installed
//! database must be the delta's base, byte for byte (its SHA-256 and size),
//! else the import is refused naming both ([`check_bases`]). Once every
//! byte of the bundle is proven, the stored delta is applied against the
//! live file into staging, writing exactly the signed result size; the
//! result's SHA-256 and size are compared with the signed manifest, then
//! the staged `metadata.json` with the signed database table; the caller
//! then runs the same whole-file database check as for any import and
//! swaps the component like any other. The live file is only read (by
//! positioned reads, a window at a time, never mapped nor loaded whole), so
//! a crash at any point leaves the old tree or the new one, and another
//! program rewriting it meanwhile fails the import as an I/O failure.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::artifact::{ArtifactError, DbFile, DbMetadata, LayerContents};
use crate::digest::Sha256Digest;
use crate::error::PathIo;
use crate::layout::trivy_cache;
use crate::manifest::{ArtifactKind, Delta, Manifest, Unpacked};
use std::collections::{BTreeMap, BTreeSet};

use super::ImportError;

/// The file a delta was stored in during the bundle's read, in staging.
pub(super) fn stored_path(stage: &Path, d: &Delta) -> PathBuf {
    stage.join(format!(".delta-{}", d.kind.name()))
}

/// The live database file a delta applies to.
fn live_path(cache: &Path, d: &Delta) -> PathBuf {
    cache
        .join(trivy_cache::component(d.kind))
        .join(d.database.file.as_str())
}

/// The live database's `UpdatedAt`, for the message: from its
/// metadata.json (a regular file, read without waiting on a FIFO or a
/// device, at most 64 KiB), `unknown` when that cannot be read.
fn live_updated_at(cache: &Path, d: &Delta) -> String {
    let path = cache
        .join(trivy_cache::component(d.kind))
        .join("metadata.json");
    crate::fsio::bounded::read_regular(&path, 64 << 10)
        .ok()
        .and_then(|b| DbMetadata::parse(&b).ok())
        .map(|m| crate::text::escape(&m.updated_at).into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// What is at a live database's path.
enum Live {
    /// Nothing.
    None,
    /// Something that is not a regular file: a symbolic link (never
    /// followed), a FIFO (never waited on), a directory, a device.
    NotRegular,
    /// A regular file, open, with its SHA-256 and length.
    File(File, Sha256Digest, u64),
}

/// Opens and hashes the regular file at `path`, streaming; never follows
/// a link nor waits on a FIFO or a device.
fn file_digest(path: &Path) -> io::Result<Live> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(crate::fsio::open_flags::NOFOLLOW | crate::fsio::open_flags::NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Live::None),
        Err(e) if crate::fsio::is_symlink_refusal(&e) => return Ok(Live::NotRegular),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(Live::NotRegular);
    }
    let mut hasher = crate::digest::Hasher::for_len(file.metadata()?.len());
    let mut r = BufReader::with_capacity(1 << 20, &file);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => {
                hasher.update(&buf[..got]);
                n += got as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    drop(r);
    Ok(Live::File(file, hasher.finish(), n))
}

/// The installed databases the deltas apply to, as [`check_bases`] proved
/// them: each file kept open, so that the delta is applied to the very
/// file whose digest was checked (whatever is renamed over its path since).
#[derive(Default)]
pub(super) struct Bases {
    /// The open base (or installed result) of each delta's kind.
    files: BTreeMap<ArtifactKind, File>,
    /// The kinds whose installed file is already the delta's result.
    done: BTreeSet<ArtifactKind>,
}

/// Refuses the import unless each delta's base is the database installed
/// in `cache` (SHA-256 and size), a regular file. Run under the lock,
/// before staging. Also accepts an installed file that is already the
/// delta's result: an import of this bundle that was killed between its
/// swaps (issue 13), which the next import completes by staging the
/// installed file again.
pub(super) fn check_bases(m: &Manifest, cache: &Path) -> Result<Bases, ImportError> {
    let mut bases = Bases::default();
    for d in &m.deltas {
        let path = live_path(cache, d);
        let found = file_digest(&path).map_err(PathIo::at("cannot read", &path))?;
        let has = match found {
            Live::File(file, digest, size) if digest == d.base.sha256 && size == d.base.size => {
                bases.files.insert(d.kind, file);
                continue;
            }
            Live::File(file, digest, size)
                if digest == d.database.sha256 && size == d.database.size =>
            {
                bases.files.insert(d.kind, file);
                bases.done.insert(d.kind);
                continue;
            }
            Live::File(_, digest, _) => format!(
                "this host has {} (UpdatedAt {})",
                digest.oci(),
                live_updated_at(cache, d)
            ),
            Live::NotRegular => format!(
                "this host has {} that is not a regular file",
                crate::text::escape(&path.display().to_string())
            ),
            Live::None => "this host has none".to_string(),
        };
        return Err(ImportError::DeltaBase(format!(
            "this delta needs {} {} (UpdatedAt {}); {has}; import a full bundle",
            d.kind,
            d.base.sha256.oci(),
            d.base.updated_at
        )));
    }
    Ok(bases)
}

/// Stores a delta payload in staging as it streams past (the reader
/// hashes it; it is applied only after the whole bundle is proven).
pub(super) fn store(stage: &Path, d: &Delta, data: &mut dyn Read) -> Result<(), ImportError> {
    let path = stored_path(stage, d);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(PathIo::at("cannot create", &path))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    io::copy(data, &mut w).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => ImportError::Inconsistent(e.to_string()),
        _ => PathIo::new("cannot store the delta in", &path, e).into(),
    })?;
    w.flush().map_err(PathIo::at("cannot write", &path))?;
    crate::fault::point("delta stored");
    Ok(())
}

/// The delta's metadata.json, parsed and held to the signed database table
/// (Version, UpdatedAt, NextUpdate byte for byte), as for a layer's.
pub(super) fn check_metadata(
    d: &Delta,
    bytes: Option<&Vec<u8>>,
) -> Result<DbMetadata, ImportError> {
    let k = d.kind;
    let refuse = |m: String| ImportError::Artifact {
        kind: k,
        source: ArtifactError::Contradiction(m),
    };
    let bytes = bytes.ok_or_else(|| refuse(format!("{k} delta lacks its metadata.json")))?;
    let meta = DbMetadata::parse(bytes).map_err(|e| {
        refuse(format!(
            "{k} delta metadata.json: {}",
            crate::error::chain_text(&e)
        ))
    })?;
    let db = &d.database;
    if meta.version != db.schema_version
        || meta.updated_at != db.updated_at.as_str()
        || meta.next_update != db.next_update.as_str()
    {
        return Err(refuse(format!(
            "{k} delta metadata.json (Version {}, UpdatedAt {}, NextUpdate {}) differs from the manifest (Version {}, UpdatedAt {}, NextUpdate {})",
            meta.version,
            crate::text::escape(&meta.updated_at),
            crate::text::escape(&meta.next_update),
            db.schema_version,
            db.updated_at,
            db.next_update
        )));
    }
    Ok(meta)
}

/// Copies `from` into `to`, returning the SHA-256 and length of what was
/// copied.
fn copy_hashing(mut from: &File, to: &mut dyn Write) -> io::Result<(Sha256Digest, u64)> {
    let mut hasher = crate::digest::Hasher::for_len(from.metadata()?.len());
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok((hasher.finish(), n)),
            Ok(got) => {
                hasher.update(&buf[..got]);
                to.write_all(&buf[..got])?;
                n += got as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Why a delta did not apply: the host's (a base that changed since its
/// digest was checked, a read or a write that failed: an I/O failure) or
/// the delta's (refused: it contradicts its manifest).
fn apply_error(
    e: crate::delta::DeltaError,
    d: &Delta,
    base: &File,
    (base_path, out_path, stored): (&Path, &Path, &Path),
) -> ImportError {
    use crate::delta::DeltaError;
    let what = "cannot read the base database";
    if let Ok(now) = base.metadata().map(|m| m.len()) {
        if now != d.base.size {
            let why = format!(
                "it is {now} bytes now, {} when its digest was checked: another program rewrote it during the import (trivy --download-db-only?); nothing was installed, run the import again",
                d.base.size
            );
            return PathIo::new(what, base_path, io::Error::other(why)).into();
        }
    }
    match e {
        DeltaError::Base(why) => PathIo::new(what, base_path, io::Error::other(why)).into(),
        DeltaError::Write(io) => PathIo::new("cannot write", out_path, io).into(),
        DeltaError::Read(io) => PathIo::new("cannot read", stored, io).into(),
        // Rewritten in place at its length: the bundle is not to blame.
        _ if content_changed(base, &d.base.sha256) => rewritten(base_path),
        e => ImportError::Artifact {
            kind: d.kind,
            source: ArtifactError::Contradiction(format!(
                "{} delta does not apply: {}",
                d.kind,
                crate::error::chain_text(&e)
            )),
        },
    }
}

/// Whether the open base no longer has the digest it had when checked
/// (read again by positioned reads; only when the delta did not apply).
fn content_changed(base: &File, digest: &Sha256Digest) -> bool {
    use std::os::unix::fs::FileExt as _;
    let mut hasher = crate::digest::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        match base.read_at(&mut buf, at) {
            Ok(0) => return hasher.finish() != *digest,
            Ok(got) => {
                hasher.update(&buf[..got]);
                at += got as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// The import's failure when the base changed in place since its digest
/// was checked: the host's (exit 1), not the bundle's.
fn rewritten(base_path: &Path) -> ImportError {
    let why = "its content changed since its digest was checked: another program rewrote it during the import (trivy --download-db-only?); nothing was installed, run the import again";
    PathIo::new(
        "cannot read the base database",
        base_path,
        io::Error::other(why),
    )
    .into()
}

/// A writer that passes a crash point once, after the first MiB, so a
/// test can kill an import in the middle of applying a delta.
struct Midway<W> {
    inner: W,
    written: u64,
    passed: bool,
}

impl<W: Write> Write for Midway<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if !self.passed && self.written >= 1 << 20 {
            self.passed = true;
            crate::fault::point("delta applying");
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Applies the stored delta against the live database into the staged
/// component (`<stage>/<component>/<file>`), checks the result against the
/// signed manifest, and returns what the layer scan would have: the file's
/// digest and size and the delta's metadata.json.
pub(super) fn apply_staged(
    d: &Delta,
    cache: &Path,
    stage: &Path,
    metadata: Option<&Vec<u8>>,
    bases: &Bases,
) -> Result<LayerContents, ImportError> {
    let k = d.kind;
    let refuse = |m: String| ImportError::Artifact {
        kind: k,
        source: ArtifactError::Contradiction(m),
    };
    let meta = check_metadata(d, metadata)?;
    let db = &d.database;
    let base_path = live_path(cache, d);
    // The file check_bases hashed, still open: not whatever the path
    // names now.
    let base = bases.files.get(&k).ok_or_else(|| {
        ImportError::Inconsistent(format!("the base of the {k} delta was never checked"))
    })?;
    let result_installed = bases.done.contains(&k);
    let (out_path, out) = create_staged(stage, d)?;
    let stored = stored_path(stage, d);
    let delta = File::open(&stored).map_err(PathIo::at("cannot open", &stored))?;
    let mut w = Midway {
        inner: BufWriter::with_capacity(1 << 20, out),
        written: 0,
        passed: false,
    };
    let summary = if result_installed {
        // The result is live already (an import killed between its
        // swaps): staged again as it is, its digest checked below.
        restage(base, &base_path, &mut w)?
    } else {
        crate::delta::apply(
            base,
            &mut BufReader::with_capacity(1 << 20, delta),
            &mut w,
            db.size,
        )
        .map_err(|e| apply_error(e, d, base, (&base_path, &out_path, &stored)))?
    };
    w.flush().map_err(PathIo::at("cannot write", &out_path))?;
    drop(w);
    fs::remove_file(&stored).map_err(PathIo::at("cannot remove", &stored))?;
    crate::fault::point("delta applied");
    if summary.sha256 != db.sha256 || summary.len != db.size {
        // The base (or the installed result) changed in place since it
        // was checked: the host's failure, not the bundle's.
        let checked = if result_installed {
            &db.sha256
        } else {
            &d.base.sha256
        };
        if content_changed(base, checked) {
            return Err(rewritten(&base_path));
        }
        return Err(refuse(format!(
            "{k} rebuilt from the delta has sha256 {} ({} bytes), the manifest says {} ({} bytes)",
            summary.sha256, summary.len, db.sha256, db.size
        )));
    }
    Ok(LayerContents {
        unpacked: Unpacked {
            size: db.size,
            files: 1,
            entries: 1,
            data: db.size,
            dirs: Some(0),
        },
        db_file: Some(DbFile {
            size: summary.len,
            sha256: summary.sha256,
        }),
        metadata: Some(meta),
    })
}

/// The installed result copied as it is (an import killed between its
/// swaps), hashed on the way.
fn restage(
    base: &File,
    base_path: &Path,
    w: &mut dyn Write,
) -> Result<crate::delta::ApplySummary, ImportError> {
    let mut base = base;
    let (sha256, len) = base
        .seek(SeekFrom::Start(0))
        .and_then(|_| copy_hashing(base, w))
        .map_err(PathIo::at("cannot copy", base_path))?;
    Ok(crate::delta::ApplySummary {
        len,
        sha256,
        frames: 0,
    })
}

/// Creates the staged result, `<stage>/<component>/<file>`, which must not
/// exist yet.
fn create_staged(stage: &Path, d: &Delta) -> Result<(PathBuf, File), ImportError> {
    let dir = stage.join(trivy_cache::component(d.kind));
    fs::create_dir_all(&dir).map_err(PathIo::at("cannot create", &dir))?;
    let out_path = dir.join(d.database.file.as_str());
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&out_path)
        .map_err(PathIo::at("cannot create", &out_path))?;
    Ok((out_path, out))
}
