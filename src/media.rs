//! Bundles on removable media: one bundle file or a split part set, read as
//! one stream ([`Input`]); cutting a verified bundle into parts ([`split`])
//! and joining verified parts back into a bundle ([`join`]).
//!
//! A corrupt part is reported by its file name and expected digest rather
//! than by whatever the bundle reader met first: when reading fails, the
//! rest of the part being read is hashed to see whether it is the cause.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::bundle::parts::{self, PartError, PartSet, PartWriter, PartsReport};
use crate::bundle::reader::Verified;
use crate::digest::HashingWriter;
use crate::error::PathIo;
use crate::fsio::{AtomicFile, CommitError, Replace};
use crate::keys::SecretKey;
use crate::policy::TrustPolicy;
use crate::progress::{Progress, ProgressReader};

/// Why reading or writing media failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A part, the part index or its signature.
    #[error(transparent)]
    Part(#[from] PartError),
    /// File system trouble (not the bundle's fault).
    #[error(transparent)]
    Io(#[from] PathIo),
}

impl crate::error::Classify for MediaError {
    fn class(&self) -> crate::error::ExitClass {
        match self {
            MediaError::Part(e) => e.class(),
            MediaError::Io(_) => crate::error::ExitClass::HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            MediaError::Part(e) => e.hint(),
            MediaError::Io(_) => None,
        }
    }
}

/// A file-system failure at `path`, as a [`MediaError`] (which a caller's
/// error converts from).
fn ioe<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> MediaError + 'a {
    move |e| MediaError::Io(PathIo::new(what, path, e))
}

/// A bundle to read: one file, or a part set.
#[derive(Debug)]
pub enum Input {
    /// A whole bundle file.
    File {
        /// Its path.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A split bundle.
    Parts(PartSet),
}

impl Input {
    /// Opens `path`: a bundle file, or any file of a part set (a part, the
    /// index, or the bundle's name when only its parts exist). For a part
    /// set, the index signature is checked against `policy` (when given)
    /// and every part must be present with its size.
    pub fn open(path: &Path, policy: Option<&TrustPolicy>) -> Result<Input, MediaError> {
        match parts::locate(path)? {
            Some(index) => {
                let set = PartSet::open(&index, policy)?;
                set.check_present()?;
                Ok(Input::Parts(set))
            }
            None => {
                let len = std::fs::metadata(path)
                    .map_err(ioe("cannot open bundle", path))?
                    .len();
                Ok(Input::File {
                    path: path.to_path_buf(),
                    len,
                })
            }
        }
    }

    /// The bundle's size.
    pub fn len(&self) -> u64 {
        match self {
            Input::File { len, .. } => *len,
            Input::Parts(set) => set.index.size,
        }
    }

    /// Whether the bundle is empty (never, for a valid one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` over the bundle's bytes, reporting progress (and, for parts,
    /// which part is being read, as a note). A failure inside a corrupt part
    /// is reported as that part's failure.
    pub fn read_with<T, E: From<MediaError>>(
        &self,
        progress: &dyn Progress,
        f: impl FnOnce(&mut dyn Read) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            Input::File { path, .. } => {
                let file = File::open(path).map_err(ioe("cannot open bundle", path))?;
                let mut r = ProgressReader::new(BufReader::with_capacity(1 << 20, file), progress);
                f(&mut r)
            }
            Input::Parts(set) => {
                let count = set.index.parts.len();
                let mut reader = set
                    .reader()
                    .on_part(move |n, name| progress.note(&format!("part {n}/{count} {name}")));
                let result = {
                    let mut r = ProgressReader::new(&mut reader, progress);
                    f(&mut r)
                };
                match result {
                    Ok(v) => match reader.take_failure() {
                        Some(e) => Err(MediaError::Part(e).into()),
                        None => Ok(v),
                    },
                    Err(e) => Err(match reader.explain() {
                        Some(part) => MediaError::Part(part).into(),
                        None => e,
                    }),
                }
            }
        }
    }

    /// The path that names this input (the bundle file, or the part index).
    pub fn path(&self) -> &Path {
        match self {
            Input::File { path, .. } => path,
            Input::Parts(set) => &set.index_path,
        }
    }
}

/// Copies everything read through it into `out`.
struct Tee<'a, R> {
    inner: R,
    out: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// A full verification of a bundle read from a stream (the caller's: media
/// knows how bundles are carried, not how their content is checked).
pub trait Verifier {
    /// What verification fails with.
    type Error: From<MediaError>;
    /// Verifies every signature and every byte of the bundle `r` yields.
    fn verify(&self, r: &mut dyn Read) -> Result<Verified, Self::Error>;
}

/// Verifies `input` with `verifier` while copying its bytes into `out`, to
/// the last byte. Nothing written to `out` may be used unless this succeeds.
fn verify_copy<V: Verifier>(
    input: &Input,
    verifier: &V,
    progress: &dyn Progress,
    out: &mut dyn Write,
) -> Result<Verified, V::Error> {
    input.read_with(progress, |r| {
        let mut tee = Tee { inner: r, out };
        let verified = verifier.verify(&mut tee)?;
        // Whatever the reader left (nothing, for a well-formed bundle).
        io::copy(&mut tee, &mut io::sink())
            .map_err(|e| MediaError::from(PathIo::new("cannot read", input.path(), e)))?;
        Ok(verified)
    })
}

/// What [`split`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitReport {
    /// The bundle that was split (unchanged).
    pub bundle: PathBuf,
    /// SHA-256 of its manifest.
    pub manifest_sha256: String,
    /// The parts and their index.
    pub parts: PartsReport,
}

/// Verifies `input` (with `verifier`) and cuts it into parts of at most `part_size` bytes
/// named after `output` (`<output>.001`, ..., `<output>.parts` signed by
/// `key`), in one pass. The bundle itself is left as it is.
pub fn split<V: Verifier>(
    input: &Input,
    verifier: &V,
    output: &Path,
    part_size: u64,
    key: &SecretKey,
    force: bool,
    progress: &dyn Progress,
) -> Result<SplitReport, V::Error> {
    let dir = parent_dir(output);
    for s in crate::cleanup::sweep(&dir) {
        progress.note(&s.to_string());
    }
    let mut out = HashingWriter::new(PartWriter::new(&dir, part_size));
    progress.begin("split", input.len());
    let verified = verify_copy(input, verifier, progress, &mut out)?;
    progress.end();
    let (_, _, writer) = out.finish();
    let written = writer
        .finish()
        .map_err(ioe("cannot write the parts of", output))?;
    let signed_at = verified.manifest.created.at().unix_timestamp().max(0) as u64;
    let manifest_sha256 = verified.manifest_sha256.hex();
    let report = written
        .persist(output, &manifest_sha256, key, signed_at, force)
        .map_err(MediaError::from)?;
    Ok(SplitReport {
        bundle: input.path().to_path_buf(),
        manifest_sha256,
        parts: report,
    })
}

/// What [`join`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JoinReport {
    /// The joined bundle.
    pub output: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// SHA-256 of its manifest.
    pub manifest_sha256: String,
}

/// Verifies every part and the bundle they make (with `verifier`), writing the bundle to
/// `output` (atomically: it appears only when complete and verified). The
/// parts are left as they are.
pub fn join<V: Verifier>(
    input: &Input,
    verifier: &V,
    output: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<JoinReport, V::Error> {
    if !force && output.exists() {
        return Err(MediaError::from(PartError::Exists(output.to_path_buf())).into());
    }
    let dir = parent_dir(output);
    for s in crate::cleanup::sweep(&dir) {
        progress.note(&s.to_string());
    }
    let mut tmp = AtomicFile::create(output, ".airlock-bundle-", ".partial", 0o644)
        .map_err(ioe("cannot create a temporary file in", &dir))?;
    progress.begin("join", input.len());
    let (verified, size, sha256) = {
        let mut out = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut()));
        let verified = verify_copy(input, verifier, progress, &mut out)?;
        let (digest, size, mut buffered) = out.finish();
        buffered.flush().map_err(ioe("cannot write", output))?;
        (verified, size, digest.hex())
    };
    progress.end();
    tmp.sync().map_err(ioe("cannot write", output))?;
    tmp.commit(Replace::when(force)).map_err(|e| match e {
        CommitError::Exists(_) => MediaError::from(PartError::Exists(output.to_path_buf())),
        e => PathIo::new("cannot move the bundle to", output, e.into_io()).into(),
    })?;
    Ok(JoinReport {
        output: output.to_path_buf(),
        size,
        sha256,
        manifest_sha256: verified.manifest_sha256.hex(),
    })
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
