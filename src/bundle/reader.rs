//! Reading and verifying a bundle in one streaming pass.
//!
//! The order of checks is the security argument (bundle-spec/SPEC.md,
//! "Verification"):
//! 1. the file must start with a zstd frame;
//! 2. the first tar entry must be `airlock/manifest.toml`, at most 1 MiB;
//!    then come the signature entries (at most 64, 4 KiB each);
//! 3. the signatures are judged by the [`TrustPolicy`] over the raw manifest
//!    bytes, and only then are those bytes parsed as TOML;
//! 4. only then does the visitor see anything ([`PayloadVisitor::start`]), and
//!    each payload must be the next one the manifest lists, with its exact
//!    size; its SHA-256 is compared the moment its last byte is read, so a
//!    consumer that reads to the end never sees unverified bytes as valid;
//! 5. after the last payload the tar must end, only zero padding may follow,
//!    and the zstd frame must end cleanly (its checksum verified);
//! 6. the file must end with that frame: a bundle is exactly one zstd frame,
//!    and any byte after it (a skippable frame, a second frame, zeros,
//!    anything) is refused, so nothing can ride along unsigned inside a
//!    bundle that verifies.
//!
//! The zstd decoder is put in single-frame mode: by default it would decode
//! further frames as if they were part of the stream and skip skippable
//! frames silently.
//!
//! Before step 3 nothing but tar headers and at most ~1.3 MiB of data is read.

use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest as _, Sha256};

use crate::digest::Sha256Digest;
use crate::keys::{KeyError, Signature};
use crate::manifest::{Manifest, ManifestError, Payload};
use crate::policy::{PolicyError, SignerReport, TrustPolicy};

use super::{
    MANIFEST_PATH, MAX_MANIFEST, MAX_SIGNATURE, MAX_SIGNATURES, SIGNATURE_DIR, WINDOW_LOG_MAX,
    ZSTD_MAGIC,
};

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the bundle file itself failed (not the bundle's fault).
    #[error("cannot read the bundle file")]
    Read {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not zstd-compressed.
    #[error("not an airlock bundle: the file does not start with a zstd frame")]
    NotZstd,
    /// The data ended early.
    #[error("the bundle is truncated ({region})")]
    Truncated {
        /// Where it ended.
        region: String,
    },
    /// zstd or tar framing is broken.
    #[error("the bundle is damaged ({region})")]
    Corrupt {
        /// Where.
        region: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The first entry is not the manifest.
    #[error(
        "not a valid airlock bundle: the first entry is {found:?}, expected {MANIFEST_PATH:?}"
    )]
    ManifestNotFirst {
        /// What came first.
        found: String,
    },
    /// The manifest is larger than the limit.
    #[error("the manifest is {size} bytes, more than the {MAX_MANIFEST}-byte limit")]
    ManifestTooLarge {
        /// Its size.
        size: u64,
    },
    /// A signature entry that is too large, misnamed or not parseable.
    #[error("signature entry {entry:?} is invalid: {reason}")]
    BadSignatureEntry {
        /// The entry.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Too many signatures.
    #[error("the bundle carries more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// The signatures do not satisfy the trust policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The (signed) manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An entry that is not the next payload.
    #[error("entry {found:?} is not listed in the manifest (expected {expected:?} next)")]
    UnlistedEntry {
        /// The entry found.
        found: String,
        /// The payload expected.
        expected: String,
    },
    /// A listed payload that is not in the bundle.
    #[error("payload {path} is listed in the manifest but missing from the bundle")]
    MissingPayload {
        /// The payload.
        path: String,
    },
    /// A payload whose tar entry is not a regular file.
    #[error("payload {path} is not a regular file")]
    NotAFile {
        /// The payload.
        path: String,
    },
    /// A payload of the wrong size.
    #[error("payload {path} is {found} bytes, the manifest says {expected}")]
    SizeMismatch {
        /// The payload.
        path: String,
        /// Its size.
        found: u64,
        /// Declared.
        expected: u64,
    },
    /// A payload whose content does not match its digest.
    #[error("payload {path} is damaged or was altered: sha256 {actual}, the signed manifest says {expected}")]
    DigestMismatch {
        /// The payload.
        path: String,
        /// Declared.
        expected: String,
        /// Computed.
        actual: Sha256Digest,
    },
    /// An entry that appears twice.
    #[error("entry {0:?} appears more than once in the bundle")]
    DuplicateEntry(String),
    /// Entries after the last payload.
    #[error("entry {0:?} follows the last listed payload")]
    TrailingEntry(String),
    /// Non-zero data after the end of the tar archive.
    #[error("unexpected data after the end of the archive")]
    TrailingData,
    /// Bytes in the file after the end of the bundle's zstd frame.
    #[error("{} the end of the bundle's zstd stream{}: a bundle ends with its one zstd frame, and nothing may travel after it unsigned", count_bytes(*.count, *.more), kind.describe())]
    TrailingBytes {
        /// How many bytes were counted (at most [`TRAILING_COUNT_MAX`]).
        count: u64,
        /// Whether there may be more than were counted.
        more: bool,
        /// What the first bytes look like.
        kind: TrailingKind,
    },
}

impl crate::error::Classify for BundleError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            BundleError::Read { .. } => HostFailure,
            // Any problem with the signatures themselves.
            BundleError::Policy(e) => e.class(),
            BundleError::BadSignatureEntry { .. } | BundleError::TooManySignatures => NotProven,
            BundleError::Manifest(e) => e.class(),
            BundleError::NotZstd
            | BundleError::Truncated { .. }
            | BundleError::Corrupt { .. }
            | BundleError::ManifestNotFirst { .. }
            | BundleError::ManifestTooLarge { .. }
            | BundleError::UnlistedEntry { .. }
            | BundleError::MissingPayload { .. }
            | BundleError::NotAFile { .. }
            | BundleError::SizeMismatch { .. }
            | BundleError::DigestMismatch { .. }
            | BundleError::DuplicateEntry(_)
            | BundleError::TrailingEntry(_)
            | BundleError::TrailingData
            | BundleError::TrailingBytes { .. } => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            BundleError::Truncated { .. } => Hint::text("copy the bundle again from the original media and compare its size"),
            BundleError::TrailingBytes { .. } => Hint::text("this is not a bundle as airlock writes it; get a fresh copy from the exporting side"),
            BundleError::Policy(e) => e.hint(),
            BundleError::Manifest(e) => e.hint(),
            BundleError::Read { .. }
            | BundleError::NotZstd
            | BundleError::Corrupt { .. }
            | BundleError::ManifestNotFirst { .. }
            | BundleError::ManifestTooLarge { .. }
            | BundleError::BadSignatureEntry { .. }
            | BundleError::TooManySignatures
            | BundleError::UnlistedEntry { .. }
            | BundleError::MissingPayload { .. }
            | BundleError::NotAFile { .. }
            | BundleError::SizeMismatch { .. }
            | BundleError::DigestMismatch { .. }
            | BundleError::DuplicateEntry(_)
            | BundleError::TrailingEntry(_)
            | BundleError::TrailingData => None,
        }
    }
}

/// How many bytes after the end of the zstd frame are counted for the
/// message (the rest is not read).
pub const TRAILING_COUNT_MAX: u64 = 1 << 20;

fn count_bytes(count: u64, more: bool) -> String {
    match (count, more) {
        (_, true) => format!("at least {count} bytes follow"),
        (1, false) => "1 byte follows".into(),
        (n, false) => format!("{n} bytes follow"),
    }
}

/// What follows the end of a bundle's zstd frame, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailingKind {
    /// A zstd skippable frame (magic `0x184D2A50`..`0x184D2A5F`).
    SkippableFrame,
    /// Another zstd frame.
    ZstdFrame,
    /// Zero bytes only (as far as they were counted).
    Zeros,
    /// Anything else.
    Other,
}

impl TrailingKind {
    fn of(head: &[u8], all_zero: bool) -> TrailingKind {
        if head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18] {
            TrailingKind::SkippableFrame
        } else if head.starts_with(&ZSTD_MAGIC) {
            TrailingKind::ZstdFrame
        } else if all_zero {
            TrailingKind::Zeros
        } else {
            TrailingKind::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            TrailingKind::SkippableFrame => " (a zstd skippable frame)",
            TrailingKind::ZstdFrame => " (a second zstd frame)",
            TrailingKind::Zeros => " (zero bytes)",
            TrailingKind::Other => "",
        }
    }
}

/// The error of [`read`]: the bundle's fault, or the visitor's.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The visitor failed.
    #[error(transparent)]
    Visitor(E),
}

impl<E: crate::error::Classify> crate::error::Classify for ReadError<E> {
    fn class(&self) -> crate::error::ExitClass {
        match self {
            ReadError::Bundle(e) => e.class(),
            ReadError::Visitor(e) => e.class(),
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            ReadError::Bundle(e) => e.hint(),
            ReadError::Visitor(e) => e.hint(),
        }
    }
}

/// A bundle whose manifest signature satisfied the policy.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// SHA-256 of the manifest bytes (identifies the bundle's content).
    pub manifest_sha256: Sha256Digest,
    /// How each signature was judged.
    pub signers: Vec<SignerReport>,
    /// The exact manifest bytes the signatures cover.
    pub manifest_bytes: Vec<u8>,
    /// The signatures, in bundle order.
    pub signatures: Vec<Signature>,
}

/// Receives a verified bundle's payloads.
pub trait PayloadVisitor {
    /// The visitor's own error.
    type Error;
    /// Called once, after the signatures were checked and before any
    /// payload byte is read.
    fn start(&mut self, bundle: &Verified) -> Result<(), Self::Error>;
    /// Called for each payload in order. Bytes not read are drained and
    /// hashed afterwards.
    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), Self::Error>;
}

/// A visitor that only lets the reader check every byte.
pub struct CheckOnly;

impl PayloadVisitor for CheckOnly {
    type Error = std::convert::Infallible;
    fn start(&mut self, _: &Verified) -> Result<(), Self::Error> {
        Ok(())
    }
    fn payload(&mut self, _: &Payload, _: &mut PayloadReader<'_>) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The unverified start of a bundle: manifest bytes and signatures.
#[derive(Debug, Clone)]
pub struct Header {
    /// The raw manifest bytes (unparsed).
    pub manifest_bytes: Vec<u8>,
    /// The signatures, in bundle order.
    pub signatures: Vec<Signature>,
}

/// An error of the file under the bundle (as opposed to its content), marked
/// so it survives the zstd and tar layers and is reported as such.
#[derive(Debug)]
struct SourceError(io::Error);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceError {}

/// Marks the errors of the underlying reader.
struct SourceReader<R>(R);

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), SourceError(e)))
    }
}

fn map_io(region: impl Into<String>, e: io::Error) -> BundleError {
    if e.get_ref().is_some_and(|i| i.is::<SourceError>()) {
        let inner = e.into_inner().expect("checked above");
        let source = match inner.downcast::<SourceError>() {
            Ok(s) => s.0,
            Err(other) => io::Error::other(other),
        };
        return BundleError::Read { source };
    }
    let region = region.into();
    // tar-rs reports an archive cut inside padding as an "other" error.
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("unexpected EOF") {
        BundleError::Truncated { region }
    } else {
        BundleError::Corrupt { region, source: e }
    }
}

type Stream<R> = zstd::stream::read::Decoder<'static, BufReader<SourceReader<R>>>;

fn open_stream<R: Read>(r: R) -> Result<Stream<R>, BundleError> {
    let mut buffered = BufReader::with_capacity(1 << 16, SourceReader(r));
    let head = buffered
        .fill_buf()
        .map_err(|e| map_io("start of file", e))?;
    if head.len() < 4 || head[..4] != ZSTD_MAGIC {
        return Err(BundleError::NotZstd);
    }
    let mut dec = zstd::stream::read::Decoder::with_buffer(buffered)
        .map_err(|e| map_io("start of file", e))?
        .single_frame();
    dec.window_log_max(WINDOW_LOG_MAX)
        .map_err(|e| map_io("start of file", e))?;
    Ok(dec)
}

/// The archive's entries exactly as stored. A bundle's names all fit a
/// ustar header, so GNU long-name and PAX extension entries are never
/// needed; raw iteration keeps tar-rs from reading them into memory (it would,
/// whatever their size, before any signature is checked) and they are then
/// refused like any other unexpected entry.
fn raw_entries<R: Read>(ar: &mut tar::Archive<R>) -> Result<tar::Entries<'_, R>, BundleError> {
    Ok(ar
        .entries()
        .map_err(|e| map_io("start of archive", e))?
        .raw(true))
}

/// One step of the entry iteration, with the path already read.
fn next_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    region: &str,
) -> Result<Option<(tar::Entry<'a, R>, String)>, BundleError> {
    match entries.next() {
        None => Ok(None),
        Some(Err(e)) => Err(map_io(region, e)),
        Some(Ok(entry)) => {
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            Ok(Some((entry, path)))
        }
    }
}

fn read_small<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    region: &str,
) -> Result<Vec<u8>, BundleError> {
    let mut buf = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut buf).map_err(|e| map_io(region, e))?;
    if buf.len() as u64 != entry.size() {
        return Err(BundleError::Truncated {
            region: region.to_string(),
        });
    }
    Ok(buf)
}

fn read_manifest_entry<R: Read>(entries: &mut tar::Entries<'_, R>) -> Result<Vec<u8>, BundleError> {
    let Some((mut entry, path)) = next_entry(entries, "manifest")? else {
        return Err(BundleError::Truncated {
            region: "before the manifest".into(),
        });
    };
    if path != MANIFEST_PATH || entry.header().entry_type() != tar::EntryType::Regular {
        return Err(BundleError::ManifestNotFirst { found: path });
    }
    if entry.size() > MAX_MANIFEST {
        return Err(BundleError::ManifestTooLarge { size: entry.size() });
    }
    read_small(&mut entry, "manifest")
}

fn parse_signature_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: &str,
) -> Result<Signature, BundleError> {
    let bad = |reason: String| BundleError::BadSignatureEntry {
        entry: path.to_string(),
        reason,
    };
    if entry.header().entry_type() != tar::EntryType::Regular {
        return Err(bad("not a regular file".into()));
    }
    if entry.size() > MAX_SIGNATURE {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_SIGNATURE}-byte limit",
            entry.size()
        )));
    }
    let bytes = read_small(entry, "signatures")?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
    let sig = Signature::from_text(&text).map_err(|e: KeyError| bad(e.to_string()))?;
    if path != super::signature_path(sig.key_id()) {
        return Err(bad(format!(
            "the signature is by key {}, but the entry is named for another key",
            sig.key_id()
        )));
    }
    Ok(sig)
}

/// Reads only the start of a bundle (manifest and signatures), for
/// `inspect`. Nothing is verified or parsed, and the rest of the file (its
/// payloads, its end) is not read: that is [`read`]'s work.
pub fn read_header<R: Read>(r: R) -> Result<Header, BundleError> {
    let dec = open_stream(r)?;
    let mut ar = tar::Archive::new(dec);
    let mut entries = raw_entries(&mut ar)?;
    let (header, _) = read_start(&mut entries)?;
    Ok(header)
}

/// The first entry after the signatures (already read from the archive).
type Pending<'a, R> = Option<(tar::Entry<'a, R>, String)>;

/// Reads the manifest bytes and the signature entries (in name order, at
/// most [`MAX_SIGNATURES`]); returns the first entry after them.
fn read_start<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
) -> Result<(Header, Pending<'a, R>), BundleError> {
    let manifest_bytes = read_manifest_entry(entries)?;
    let mut signatures = Vec::new();
    let mut last: Option<String> = None;
    while let Some((mut entry, path)) = next_entry(entries, "signatures")? {
        if !path.starts_with(SIGNATURE_DIR) {
            let header = Header {
                manifest_bytes,
                signatures,
            };
            return Ok((header, Some((entry, path))));
        }
        if signatures.len() == MAX_SIGNATURES {
            return Err(BundleError::TooManySignatures);
        }
        if last.as_deref().is_some_and(|l| l >= path.as_str()) {
            return Err(BundleError::BadSignatureEntry {
                entry: path,
                reason: "signature entries must be unique and sorted by name".into(),
            });
        }
        signatures.push(parse_signature_entry(&mut entry, &path)?);
        last = Some(path);
    }
    Ok((
        Header {
            manifest_bytes,
            signatures,
        },
        None,
    ))
}

/// A payload's bytes, checked as they pass: at most the declared size, and
/// the SHA-256 compared when the last byte is read (a mismatch is an
/// `InvalidData` error instead of the end of the data).
pub struct PayloadReader<'a> {
    inner: &'a mut dyn Read,
    path: String,
    expected: Sha256Digest,
    size: u64,
    count: u64,
    hasher: Sha256,
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
        let actual = Sha256Digest(self.hasher.finalize_reset().into());
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

/// Reads, verifies and visits a whole bundle. See the module docs for the
/// order of checks.
///
/// # Errors
/// [`ReadError::Bundle`] for anything wrong with the bundle (the visitor may
/// have been given bytes that later proved bad: it must only commit them
/// after this returns `Ok`), [`ReadError::Visitor`] for the visitor's own
/// failures.
pub fn read<R: Read, V: PayloadVisitor>(
    r: R,
    policy: &TrustPolicy,
    visitor: &mut V,
) -> Result<Verified, ReadError<V::Error>> {
    let dec = open_stream(r)?;
    let mut ar = tar::Archive::new(dec);
    let verified = match read_entries(&mut ar, policy, visitor) {
        Ok(v) => v,
        Err(ReadError::Bundle(BundleError::Truncated { region })) => {
            // An archive cut short by the end of the zstd frame, with more
            // bytes after it (a bundle written as several frames, or one
            // with a frame appended): say that rather than "truncated".
            let mut dec = ar.into_inner();
            if matches!(dec.read(&mut [0u8; 1]), Ok(0)) {
                check_end_of_file(dec.finish())?;
            }
            return Err(BundleError::Truncated { region }.into());
        }
        Err(e) => return Err(e),
    };
    // Only zero padding may follow the end-of-archive blocks; reading to the
    // end of the frame makes zstd check its frame checksum.
    let mut dec = ar.into_inner();
    let mut buf = [0u8; 8192];
    let mut trailing = 0u64;
    loop {
        let n = dec
            .read(&mut buf)
            .map_err(|e| map_io("end of archive", e))?;
        if n == 0 {
            break;
        }
        trailing += n as u64;
        if buf[..n].iter().any(|&b| b != 0) || trailing > (1 << 20) {
            return Err(BundleError::TrailingData.into());
        }
    }
    // The frame has ended: so must the file.
    check_end_of_file(dec.finish())?;
    Ok(verified)
}

/// Refuses any byte left in the file after the zstd frame, counting at most
/// [`TRAILING_COUNT_MAX`] of them for the message.
fn check_end_of_file<R: BufRead>(mut raw: R) -> Result<(), BundleError> {
    let head = match raw.fill_buf() {
        Ok([]) => return Ok(()),
        Ok(head) => head[..head.len().min(4)].to_vec(),
        Err(e) => return Err(map_io("end of file", e)),
    };
    let mut count = 0u64;
    let mut all_zero = true;
    let mut more = true;
    while count <= TRAILING_COUNT_MAX {
        let chunk = match raw.fill_buf() {
            Ok(c) => c,
            // The refusal is certain; the count is a lower bound.
            Err(_) => break,
        };
        if chunk.is_empty() {
            more = false;
            break;
        }
        let n = chunk.len().min((TRAILING_COUNT_MAX + 1 - count) as usize);
        all_zero &= chunk[..n].iter().all(|&b| b == 0);
        count += n as u64;
        raw.consume(n);
    }
    Err(BundleError::TrailingBytes {
        count,
        more,
        kind: TrailingKind::of(&head, all_zero),
    })
}

/// The entries of the archive: steps 2 to 5 of the module docs, up to the
/// end-of-archive marker.
fn read_entries<R: Read, V: PayloadVisitor>(
    ar: &mut tar::Archive<Stream<R>>,
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
fn verify_start<'a, R: Read>(
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
fn expect_payload<'a, R: Read>(
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
    if entry.header().entry_type() != tar::EntryType::Regular {
        return Err(BundleError::NotAFile { path });
    }
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
fn visit_payload<V: PayloadVisitor>(
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
        hasher: Sha256::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(bytes: &[u8]) -> Result<(), BundleError> {
        check_end_of_file(io::Cursor::new(bytes))
    }

    fn trailing(bytes: &[u8]) -> (u64, bool, TrailingKind, String) {
        match end_of(bytes).unwrap_err() {
            e @ BundleError::TrailingBytes { count, more, kind } => {
                (count, more, kind, e.to_string())
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn nothing_may_follow_the_frame() {
        end_of(b"").unwrap();
        let (count, more, kind, msg) = trailing(&[0]);
        assert_eq!((count, more, kind), (1, false, TrailingKind::Zeros));
        assert!(
            msg.starts_with("1 byte follows the end of the bundle's zstd stream (zero bytes)"),
            "{msg}"
        );
        let mut skippable = vec![0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0];
        skippable.extend_from_slice(b"data");
        let (count, more, kind, msg) = trailing(&skippable);
        assert_eq!(
            (count, more, kind),
            (12, false, TrailingKind::SkippableFrame)
        );
        assert!(
            msg.contains(
                "12 bytes follow the end of the bundle's zstd stream (a zstd skippable frame)"
            ),
            "{msg}"
        );
        let second = zstd::stream::encode_all(&b"hello"[..], 3).unwrap();
        assert_eq!(trailing(&second).2, TrailingKind::ZstdFrame);
        assert_eq!(trailing(b"garbage").2, TrailingKind::Other);
        // Counting stops at the cap.
        let big = vec![0u8; (TRAILING_COUNT_MAX + 4096) as usize];
        let (count, more, _, msg) = trailing(&big);
        assert!(more && count == TRAILING_COUNT_MAX + 1, "{count}");
        assert!(msg.starts_with("at least 1048577 bytes follow"), "{msg}");
    }
}

#[cfg(test)]
mod round_trip_tests;
