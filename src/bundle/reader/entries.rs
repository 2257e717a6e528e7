//! The archive's entries after the header: the trust decision, then each
//! payload checked as it passes to the visitor.

use std::io::{self, Read};

use crate::digest::{Hasher, Sha256Digest};
use crate::manifest::{Manifest, Payload};
use crate::policy::TrustPolicy;

use super::header::{
    check_ustar, is_regular, map_io, next_entry, raw_entries, read_start, Pending,
};
use super::{BundleError, Header, PayloadVisitor, ReadError, Verified};

/// A payload's bytes, checked as they pass: at most the declared size, and
/// the SHA-256 compared when the last byte is read (a mismatch is an
/// `InvalidData` error instead of the end of the data).
pub struct PayloadReader<'a> {
    inner: &'a mut dyn Read,
    path: String,
    expected: Sha256Digest,
    size: u64,
    count: u64,
    hasher: Hasher,
    done: bool,
    failure: Option<BundleError>,
}

impl PayloadReader<'_> {
    fn fail(&mut self, e: BundleError) -> io::Error {
        let err = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        self.failure = Some(e);
        err
    }

    fn check_end(&mut self) -> io::Result<()> {
        self.done = true;
        if self.count != self.size {
            let e = BundleError::Truncated {
                region: format!("payload {}", self.path),
            };
            return Err(self.fail(e));
        }
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != self.expected {
            let e = BundleError::DigestMismatch {
                path: self.path.clone(),
                expected: self.expected.hex(),
                actual,
            };
            return Err(self.fail(e));
        }
        Ok(())
    }

    /// The number of bytes read so far.
    pub fn position(&self) -> u64 {
        self.count
    }
}

impl Read for PayloadReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failure {
            return Err(io::Error::new(io::ErrorKind::InvalidData, f.to_string()));
        }
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let be = map_io(format!("payload {}", self.path), e);
                return Err(self.fail(be));
            }
        };
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if n == 0 || self.count >= self.size {
            self.check_end()?;
        }
        Ok(n)
    }
}

/// The entries of the archive: steps 2 to 5 of the module docs, up to the
/// end-of-archive marker.
pub(super) fn read_entries<R: Read, V: PayloadVisitor>(
    ar: &mut tar::Archive<R>,
    policy: &TrustPolicy,
    visitor: &mut V,
) -> Result<Verified, ReadError<V::Error>> {
    let mut entries = raw_entries(ar)?;
    let (verified, mut pending) = verify_start(&mut entries, policy)?;
    visitor.start(&verified).map_err(ReadError::Visitor)?;
    for payload in &verified.manifest.payloads {
        let region = format!("payload {}", payload.path);
        let next = match pending.take() {
            Some(p) => Some(p),
            None => next_entry(&mut entries, &region)?,
        };
        let mut entry = expect_payload(next, payload, &verified.manifest)?;
        visit_payload(&mut entry, payload, &region, visitor)?;
    }
    match pending.take() {
        Some((_, path)) => return Err(BundleError::TrailingEntry(path).into()),
        None => {
            if let Some((_, path)) = next_entry(&mut entries, "end of archive")? {
                return Err(BundleError::TrailingEntry(path).into());
            }
        }
    }
    Ok(verified)
}

/// Steps 2 and 3: the manifest and signature entries, the trust decision
/// over the raw manifest bytes, and only then the manifest parsed. Returns
/// the verified start and the first entry after the signatures.
pub(super) fn verify_start<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    policy: &TrustPolicy,
) -> Result<(Verified, Pending<'a, R>), BundleError> {
    let (
        Header {
            manifest_bytes,
            signatures,
        },
        pending,
    ) = read_start(entries)?;
    if pending.is_none() {
        // A manifest always lists payloads: an archive that ends here was
        // cut short (rather than "unsigned", which it may also look like).
        return Err(BundleError::Truncated {
            region: "the archive ends after the signatures".into(),
        });
    }
    // The trust decision, over the raw bytes, before any parsing.
    let signers = policy.evaluate(&manifest_bytes, &signatures)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let verified = Verified {
        manifest_sha256: Sha256Digest::of(&manifest_bytes),
        manifest,
        signers,
        manifest_bytes,
        signatures,
    };
    Ok((verified, pending))
}

/// Step 4, before a payload's bytes: `next` must be the regular file the
/// manifest lists next (`payload`), with its exact size.
pub(super) fn expect_payload<'a, R: Read>(
    next: Pending<'a, R>,
    payload: &Payload,
    manifest: &Manifest,
) -> Result<tar::Entry<'a, R>, BundleError> {
    let Some((entry, path)) = next else {
        return Err(BundleError::Truncated {
            region: format!("the archive ends before payload {}", payload.path),
        });
    };
    if path != payload.path {
        let listed = manifest.payload(&path).is_some();
        if listed && path.as_str() < payload.path.as_str() {
            // Payloads come in sorted order: this one came already.
            return Err(BundleError::DuplicateEntry(path));
        }
        return Err(if listed {
            BundleError::MissingPayload {
                path: payload.path.to_string(),
            }
        } else {
            BundleError::UnlistedEntry {
                found: path,
                expected: payload.path.to_string(),
            }
        });
    }
    if !is_regular(entry.header()) {
        return Err(BundleError::NotAFile { path });
    }
    check_ustar(entry.header(), &path)?;
    if entry.size() != payload.size {
        return Err(BundleError::SizeMismatch {
            path,
            found: entry.size(),
            expected: payload.size,
        });
    }
    Ok(entry)
}

/// Step 4, the bytes: the visitor reads the payload through a
/// [`PayloadReader`]; what it leaves is drained and checked too.
pub(super) fn visit_payload<V: PayloadVisitor>(
    entry: &mut dyn Read,
    payload: &Payload,
    region: &str,
    visitor: &mut V,
) -> Result<(), ReadError<V::Error>> {
    let mut pr = PayloadReader {
        inner: entry,
        path: payload.path.to_string(),
        expected: payload.sha256,
        size: payload.size,
        count: 0,
        // A layer is hashed on a second thread while this one inflates it.
        hasher: Hasher::for_len(payload.size),
        done: false,
        failure: None,
    };
    let visited = visitor.payload(payload, &mut pr);
    if let Err(e) = visited {
        // A consumer that choked on the bytes may have been fed
        // altered ones: name the digest mismatch if that is the cause.
        if pr.failure.is_none() {
            let _ = io::copy(&mut pr, &mut io::sink());
        }
        if let Some(f) = pr.failure.take() {
            return Err(f.into());
        }
        return Err(ReadError::Visitor(e));
    }
    // Drain and check what the visitor did not read.
    let drained = io::copy(&mut pr, &mut io::sink());
    if let Some(f) = pr.failure.take() {
        return Err(f.into());
    }
    drained.map_err(|e| map_io(region, e))?;
    debug_assert!(pr.done, "a drained payload has been checked");
    Ok(())
}
