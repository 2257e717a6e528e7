//! A part set on disk: finding its index, opening and checking it, and
//! reading its parts as one stream.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::PathIo;
use crate::keys::Signature;
use crate::policy::{SignerReport, TrustPolicy};

use super::part_index::read_capped;
use super::{
    part_name, signature_path, with_suffix, PartError, PartIndex, INDEX_SUFFIX, MAX_INDEX,
};

/// If `path` names a split bundle (its index, one of its parts, or the
/// bundle's own name when only the parts exist), the path of its index.
/// `Ok(None)`: a plain bundle file.
pub fn locate(path: &Path) -> Result<Option<PathBuf>, PartError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(INDEX_SUFFIX) {
        return Ok(Some(path.to_path_buf()));
    }
    if let Some((stem, number)) = name.rsplit_once('.') {
        if number.len() >= 3 && number.bytes().all(|b| b.is_ascii_digit()) {
            let index = path.with_file_name(format!("{stem}{INDEX_SUFFIX}"));
            if index.exists() {
                return Ok(Some(index));
            }
            if !path.with_file_name(stem).exists() {
                return Err(PartError::IndexMissing {
                    part: path.to_path_buf(),
                    index,
                });
            }
        }
    }
    if !path.exists() {
        let index = with_suffix(path, INDEX_SUFFIX);
        if index.exists() {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// A part set on disk: its index (read, and checked against a policy or
/// not) and the directory holding the parts.
#[derive(Debug)]
pub struct PartSet {
    /// The index file.
    pub index_path: PathBuf,
    /// The directory of the parts.
    pub dir: PathBuf,
    /// The index.
    pub index: PartIndex,
    /// How the index signature was judged (`None`: not checked).
    pub signers: Option<Vec<SignerReport>>,
}

impl PartSet {
    /// Reads the index at `index_path`; with a policy, checks its signature
    /// before parsing it.
    pub fn open(index_path: &Path, policy: Option<&TrustPolicy>) -> Result<PartSet, PartError> {
        let bytes = read_capped(index_path, MAX_INDEX)?;
        let signers = match policy {
            Some(policy) => {
                let sig_path = signature_path(index_path);
                let text = read_capped(&sig_path, 4096).map_err(|e| match e {
                    PartError::Io(PathIo { source, .. }) => PartError::BadSignature {
                        path: sig_path.clone(),
                        reason: source.to_string(),
                    },
                    e => e,
                })?;
                let sig = std::str::from_utf8(&text)
                    .map_err(|_| "not UTF-8".to_string())
                    .and_then(|t| Signature::from_text(t).map_err(|e| e.to_string()))
                    .map_err(|reason| PartError::BadSignature {
                        path: sig_path.clone(),
                        reason,
                    })?;
                // One signature names the parts; the threshold applies to
                // the bundle's own signatures.
                Some(
                    policy
                        .any_trusted()
                        .evaluate(&bytes, &[sig])
                        .map_err(|source| PartError::NotProven {
                            path: index_path.to_path_buf(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        let bad = |reason: String| PartError::BadIndex {
            path: index_path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
        let index: PartIndex = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        index.validate().map_err(bad)?;
        let dir = index_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(PartSet {
            index_path: index_path.to_path_buf(),
            dir,
            index,
            signers,
        })
    }

    /// The path of part `number` (1-based).
    pub fn part_path(&self, number: usize) -> PathBuf {
        self.dir.join(&self.index.parts[number - 1].name)
    }

    /// Checks that every part is present with exactly its size (a part
    /// with bytes appended is refused as too long), and that no part follows
    /// the last one (cheap: no reading).
    /// Every missing part is named at once; otherwise the first problem.
    pub fn check_present(&self) -> Result<(), PartError> {
        let count = self.index.parts.len();
        let mut missing = Vec::new();
        let mut first = None;
        for n in 1..=count {
            match self.check_size(n) {
                Ok(()) => {}
                Err(e @ PartError::Missing { .. }) => missing.push(e),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if missing.len() > 1 {
            let missing = missing
                .into_iter()
                .filter_map(|e| match e {
                    PartError::Missing { number, path, .. } => Some((number, path)),
                    _ => None,
                })
                .collect();
            return Err(PartError::MissingSeveral { count, missing });
        }
        if let Some(e) = missing.pop().or(first) {
            return Err(e);
        }
        let next = self.dir.join(part_name(&self.index.bundle, count + 1));
        if std::fs::symlink_metadata(&next).is_ok() {
            return Err(PartError::Extra { path: next, count });
        }
        Ok(())
    }

    fn check_size(&self, number: usize) -> Result<(), PartError> {
        let e = &self.index.parts[number - 1];
        let path = self.part_path(number);
        let count = self.index.parts.len();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() == e.size => Ok(()),
            Ok(m) if m.is_file() => Err(PartError::Size {
                number,
                count,
                path,
                found: m.len(),
                expected: e.size,
            }),
            Ok(_) => Err(PartError::BadIndex {
                path: self.index_path.clone(),
                reason: format!("{} is not a regular file", path.display()),
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(PartError::Missing {
                number,
                count,
                path,
                size: e.size,
                sha256: e.sha256.clone(),
            }),
            Err(err) => Err(PathIo::new("cannot examine", &path, err).into()),
        }
    }

    /// Checks one part on its own: size, then every byte against the index.
    pub fn check_part(&self, number: usize) -> Result<(), PartError> {
        self.check_size(number)?;
        let path = self.part_path(number);
        let f = File::open(&path).map_err(PathIo::at("cannot open", &path))?;
        let mut h = crate::digest::HashingReader::new(BufReader::with_capacity(1 << 20, f));
        io::copy(&mut h, &mut io::sink()).map_err(PathIo::at("cannot read", &path))?;
        let (digest, ..) = h.finish();
        self.compare(number, &digest.hex())
    }

    /// The part number a file name has in this set, if any.
    pub fn number_of(&self, file_name: &str) -> Option<usize> {
        self.index
            .parts
            .iter()
            .position(|p| p.name == file_name)
            .map(|i| i + 1)
    }

    fn compare(&self, number: usize, found: &str) -> Result<(), PartError> {
        let e = &self.index.parts[number - 1];
        if e.sha256 == found {
            return Ok(());
        }
        Err(PartError::Digest {
            number,
            count: self.index.parts.len(),
            path: self.part_path(number),
            found: found.to_string(),
            expected: e.sha256.clone(),
            holds: self
                .index
                .parts
                .iter()
                .position(|p| p.sha256 == found)
                .map(|i| i + 1),
        })
    }

    /// A reader over all the parts in order (after [`check_present`]).
    ///
    /// [`check_present`]: PartSet::check_present
    pub fn reader(&self) -> PartsReader<'_> {
        PartsReader {
            set: self,
            number: 0,
            file: None,
            left: 0,
            hasher: Sha256::new(),
            whole: Sha256::new(),
            failure: None,
            done: false,
            on_part: None,
        }
    }
}

/// Called with (part number, file name) when a part starts being read.
type PartCallback<'a> = Box<dyn FnMut(usize, &str) + 'a>;

/// Reads a part set as one stream. Each part's SHA-256 is compared when its
/// last byte has been read, before that byte is returned; a mismatch is an
/// error of kind `InvalidData` and is kept ([`PartsReader::failure`]).
pub struct PartsReader<'a> {
    set: &'a PartSet,
    /// The part being read (1-based; 0 before the first).
    number: usize,
    file: Option<BufReader<File>>,
    left: u64,
    hasher: Sha256,
    whole: Sha256,
    failure: Option<PartError>,
    done: bool,
    on_part: Option<PartCallback<'a>>,
}

impl<'a> PartsReader<'a> {
    /// Calls `f(number, file name)` when a part starts being read.
    pub fn on_part(mut self, f: impl FnMut(usize, &str) + 'a) -> Self {
        self.on_part = Some(Box::new(f));
        self
    }

    /// The part being read (1-based), if any.
    pub fn current(&self) -> Option<usize> {
        (self.number > 0 && !self.done).then_some(self.number)
    }

    /// Takes the part failure met while reading, if any.
    pub fn take_failure(&mut self) -> Option<PartError> {
        self.failure.take()
    }

    /// After a failure elsewhere (the bundle reader refused what it read):
    /// reads the rest of the current part and returns its mismatch, if that
    /// part is corrupt, so the error can name the part.
    pub fn explain(&mut self) -> Option<PartError> {
        if let Some(f) = self.failure.take() {
            return Some(f);
        }
        let number = self.current()?;
        let mut buf = vec![0u8; 1 << 16];
        while self.number == number && !self.done {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.failure.take()
    }

    fn fail(&mut self, e: PartError) -> io::Error {
        let err = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        self.failure = Some(e);
        err
    }

    /// Opens the next part, or ends the stream.
    fn next_part(&mut self) -> io::Result<bool> {
        let count = self.set.index.parts.len();
        if self.number == count {
            self.done = true;
            self.file = None;
            let found = format!("{:x}", std::mem::take(&mut self.whole).finalize());
            if found != self.set.index.sha256 {
                let e = PartError::Whole {
                    found,
                    expected: self.set.index.sha256.clone(),
                };
                return Err(self.fail(e));
            }
            return Ok(false);
        }
        self.number += 1;
        let n = self.number;
        if let Err(e) = self.set.check_size(n) {
            return Err(self.fail(e));
        }
        let path = self.set.part_path(n);
        let f = File::open(&path)?;
        self.file = Some(BufReader::with_capacity(1 << 20, f));
        self.left = self.set.index.parts[n - 1].size;
        self.hasher = Sha256::new();
        let name = self.set.index.parts[n - 1].name.clone();
        if let Some(cb) = self.on_part.as_mut() {
            cb(n, &name);
        }
        Ok(true)
    }
}

impl Read for PartsReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failure.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a part failed its check",
            ));
        }
        if buf.is_empty() || self.done {
            return Ok(0);
        }
        while self.left == 0 {
            if !self.next_part()? {
                return Ok(0);
            }
        }
        let file = self.file.as_mut().expect("a part is open");
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            // The file shrank after its size was checked.
            let e = PartError::Size {
                number: self.number,
                count: self.set.index.parts.len(),
                path: self.set.part_path(self.number),
                found: self.set.index.parts[self.number - 1].size - self.left,
                expected: self.set.index.parts[self.number - 1].size,
            };
            return Err(self.fail(e));
        }
        self.hasher.update(&buf[..n]);
        self.whole.update(&buf[..n]);
        self.left -= n as u64;
        if self.left == 0 {
            let found = format!("{:x}", std::mem::take(&mut self.hasher).finalize());
            if let Err(e) = self.set.compare(self.number, &found) {
                return Err(self.fail(e));
            }
        }
        Ok(n)
    }
}
