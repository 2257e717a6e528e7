//! Writing a stream into parts, then the parts, their index and its
//! signature at their names.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::cleanup::TempFile;
use crate::error::PathIo;
use crate::fsio::atomic::{self, AtomicFile, CommitError, Replace};
use crate::keys::SecretKey;

use super::{
    index_path, part_name, signature_path, PartEntry, PartError, PartIndex, INDEX_FORMAT,
    INDEX_SUFFIX, INDEX_VERSION,
};

/// Writes a stream into parts of at most `part_size` bytes, as temporary
/// files in `dir`, hashing each part and the whole.
pub struct PartWriter {
    dir: PathBuf,
    part_size: u64,
    current: Option<(io::BufWriter<TempFile>, Sha256, u64)>,
    done: Vec<(TempFile, u64, String)>,
    whole: Sha256,
    size: u64,
}

/// The parts written, not yet at their names.
pub struct WrittenParts {
    parts: Vec<(TempFile, u64, String)>,
    /// The whole stream's size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
}

impl PartWriter {
    /// Parts of at most `part_size` bytes, created in `dir`.
    pub fn new(dir: &Path, part_size: u64) -> Self {
        PartWriter {
            dir: dir.to_path_buf(),
            part_size,
            current: None,
            done: Vec::new(),
            whole: Sha256::new(),
            size: 0,
        }
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some((w, h, n)) = self.current.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.as_file().sync_all()?;
            self.done.push((f, n, format!("{:x}", h.finalize())));
        }
        Ok(())
    }

    /// Flushes the last part and returns them all.
    pub fn finish(mut self) -> io::Result<WrittenParts> {
        self.close_current()?;
        Ok(WrittenParts {
            parts: self.done,
            size: self.size,
            sha256: format!("{:x}", self.whole.finalize()),
        })
    }
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.as_ref().is_some_and(|c| c.2 == self.part_size) {
            self.close_current()?;
            crate::fault::point("part written");
        }
        if self.current.is_none() {
            let f = crate::cleanup::temp_file(&self.dir, ".airlock-part-", ".partial")?;
            self.current = Some((io::BufWriter::with_capacity(1 << 20, f), Sha256::new(), 0));
        }
        let (w, h, n) = self.current.as_mut().expect("a part is open");
        let room = (self.part_size - *n).min(buf.len() as u64) as usize;
        let k = w.write(&buf[..room])?;
        h.update(&buf[..k]);
        self.whole.update(&buf[..k]);
        *n += k as u64;
        self.size += k as u64;
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((w, ..)) => w.flush(),
            None => Ok(()),
        }
    }
}

/// What [`WrittenParts::persist`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PartsReport {
    /// The index file.
    pub index: PathBuf,
    /// Its signature.
    pub signature: PathBuf,
    /// The index.
    #[serde(flatten)]
    pub index_content: PartIndex,
}

impl WrittenParts {
    /// Gives the parts their names beside `bundle` (`<bundle>.NNN`), then
    /// writes the index and its signature by `key` (made at `signed_at`, so
    /// the same bundle split the same way gives the same files). Refuses if
    /// any of those files exists, unless `force`.
    pub fn persist(
        self,
        bundle: &Path,
        manifest_sha256: &str,
        key: &SecretKey,
        signed_at: u64,
        force: bool,
    ) -> Result<PartsReport, PartError> {
        let name = bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| PartError::BadSize(format!("{} has no file name", bundle.display())))?;
        let index = self.index(&name, manifest_sha256);
        index.validate().map_err(|reason| PartError::BadIndex {
            path: bundle.to_path_buf(),
            reason,
        })?;
        let index_path = index_path(bundle);
        let sig_path = signature_path(&index_path);
        let targets: Vec<PathBuf> = index
            .parts
            .iter()
            .map(|p| bundle.with_file_name(&p.name))
            .chain([index_path.clone(), sig_path.clone()])
            .collect();
        clear_targets(bundle, &targets, force)?;
        let text = index.to_toml();
        let sig = crate::bundle::signing::sign_manifest(
            key,
            text.as_bytes(),
            crate::bundle::signing::Statement::PartIndex {
                signed_at,
                file: &format!("{name}{INDEX_SUFFIX}"),
            },
            "",
        )?;
        for ((f, ..), target) in self.parts.into_iter().zip(&targets) {
            persist(f, target, force)?;
        }
        for (bytes, target) in [
            (text.into_bytes(), &index_path),
            (sig.to_text().into_bytes(), &sig_path),
        ] {
            write_small(target, ".airlock-part-", &bytes, force)?;
        }
        Ok(PartsReport {
            index: index_path,
            signature: sig_path,
            index_content: index,
        })
    }

    /// The index of these parts, named after the bundle file `name`.
    fn index(&self, name: &str, manifest_sha256: &str) -> PartIndex {
        PartIndex {
            format: INDEX_FORMAT.into(),
            format_version: INDEX_VERSION.into(),
            bundle: name.to_string(),
            size: self.size,
            sha256: self.sha256.clone(),
            manifest_sha256: manifest_sha256.into(),
            parts: self
                .parts
                .iter()
                .enumerate()
                .map(|(i, (_, size, sha256))| PartEntry {
                    name: part_name(name, i + 1),
                    size: *size,
                    sha256: sha256.clone(),
                })
                .collect(),
        }
    }
}

/// Refuses an existing target, or any other file named as a part of this
/// bundle ([`super::existing_parts`]: an earlier, longer split's), unless
/// `force`; with `force`, removes those others (they would follow the new
/// set's last part: refused by verify, appended by `cat B.0*`).
fn clear_targets(bundle: &Path, targets: &[PathBuf], force: bool) -> Result<(), PartError> {
    let others: Vec<PathBuf> = super::existing_parts(bundle)
        .into_iter()
        .filter(|p| !targets.iter().any(|t| t.file_name() == p.file_name()))
        .collect();
    if !force {
        let exists = |t: &&PathBuf| t.symlink_metadata().is_ok();
        if let Some(t) = targets.iter().find(exists).or(others.first()) {
            return Err(PartError::Exists(t.clone()));
        }
        return Ok(());
    }
    for stale in others {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(PathIo::new("cannot remove the earlier part", &stale, e).into()),
        }
    }
    Ok(())
}

fn persist(f: TempFile, target: &Path, force: bool) -> Result<(), PartError> {
    f.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(PathIo::at("cannot set permissions on", target))?;
    atomic::commit_temp(f, target, Replace::when(force)).map_err(|e| commit_error(e, target))
}

fn commit_error(e: CommitError, target: &Path) -> PartError {
    match e {
        CommitError::Exists(_) => PartError::Exists(target.to_path_buf()),
        CommitError::Rename(e) => PathIo::new("cannot move into place", target, e).into(),
        e => PathIo::new("cannot write", target, e.into_io()).into(),
    }
}

/// Writes a small file (the index, its signature, `SHA256SUMS`) to `target`
/// through a temporary file beside it (mode 0644).
fn write_small(target: &Path, prefix: &str, bytes: &[u8], force: bool) -> Result<(), PartError> {
    let mut f = AtomicFile::create(target, prefix, ".partial", 0o644).map_err(PathIo::at(
        "cannot create a temporary file in",
        &atomic::parent_dir(target),
    ))?;
    f.write_all(bytes)
        .map_err(PathIo::at("cannot write", target))?;
    f.commit(Replace::when(force))
        .map_err(|e| commit_error(e, target))
}

/// Where `--sha256sums` writes the checksums of `bundle` (or of its parts):
/// `<bundle file name>.sha256sums` beside it. Named per bundle, so the sums
/// of two bundles on one stick do not clash (issue 15; a fixed `SHA256SUMS`
/// did). `sha256sum -c b.airlock.sha256sums` checks them; nothing in airlock
/// reads the file, so the old name needs no reader.
pub fn sums_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256sums");
    bundle.with_file_name(name)
}

/// Writes the sums file `path` (the format `sha256sum -c` reads) for
/// `files` (names in its folder), hashing each; refuses to replace an
/// existing one unless `force`.
pub fn write_sha256sums(path: &Path, files: &[String], force: bool) -> Result<PathBuf, PartError> {
    let path = path.to_path_buf();
    let dir = atomic::parent_dir(&path);
    if !force && path.exists() {
        return Err(PartError::Exists(path));
    }
    let mut text = String::new();
    for name in files {
        let p = dir.join(name);
        let f = File::open(&p).map_err(PathIo::at("cannot open", &p))?;
        let mut h = crate::digest::HashingReader::new(BufReader::with_capacity(1 << 20, f));
        io::copy(&mut h, &mut io::sink()).map_err(PathIo::at("cannot read", &p))?;
        text.push_str(&format!("{}  {name}\n", h.finish().0.hex()));
    }
    write_small(&path, ".airlock-sums-", text.as_bytes(), force)?;
    Ok(path)
}
