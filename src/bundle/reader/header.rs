//! The start of a bundle: the stream opened, the manifest and signature
//! entries read (nothing verified yet).

use std::io::{self, BufRead, BufReader, Read};

use crate::keys::{KeyError, Signature};

use super::{BundleError, Header};
use crate::bundle::{
    MANIFEST_PATH, MAX_MANIFEST, MAX_SIGNATURE, MAX_SIGNATURES, SIGNATURE_DIR, WINDOW_LOG_MAX,
    ZSTD_MAGIC,
};

/// An error of the file under the bundle (as opposed to its content), marked
/// so it survives the zstd and tar layers and is reported as such.
#[derive(Debug)]
pub(super) struct SourceError(io::Error);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceError {}

/// Marks the errors of the underlying reader.
pub(super) struct SourceReader<R>(R);

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), SourceError(e)))
    }
}

pub(super) fn map_io(region: impl Into<String>, e: io::Error) -> BundleError {
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

/// Counts the bytes read through it (the decompressed tar stream), so the
/// reader knows where the end-of-archive marker starts and ends.
pub(super) struct Counted<R> {
    pub(super) inner: R,
    pub(super) count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

pub(super) type Stream<R> = zstd::stream::read::Decoder<'static, BufReader<SourceReader<R>>>;

/// The bundle's raw bytes, buffered, once the file proved to start with a
/// zstd frame's magic number.
pub(super) type Raw<R> = BufReader<SourceReader<R>>;

pub(super) fn open_stream<R: Read>(r: R) -> Result<Stream<R>, BundleError> {
    decoder(open_raw(r)?)
}

/// Checks the magic number (reading at most 64 KiB).
pub(super) fn open_raw<R: Read>(r: R) -> Result<Raw<R>, BundleError> {
    let mut buffered = BufReader::with_capacity(1 << 16, SourceReader(r));
    let head = buffered
        .fill_buf()
        .map_err(|e| map_io("start of file", e))?;
    if head.len() < 4 || head[..4] != ZSTD_MAGIC {
        return Err(BundleError::NotZstd);
    }
    Ok(buffered)
}

/// The single-frame zstd decoder, with the window bounded, over `raw`.
pub(super) fn decoder<B: BufRead>(
    raw: B,
) -> Result<zstd::stream::read::Decoder<'static, B>, BundleError> {
    let mut dec = zstd::stream::read::Decoder::with_buffer(raw)
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
pub(super) fn raw_entries<R: Read>(
    ar: &mut tar::Archive<R>,
) -> Result<tar::Entries<'_, R>, BundleError> {
    Ok(ar
        .entries()
        .map_err(|e| map_io("start of archive", e))?
        .raw(true))
}

/// One step of the entry iteration, with the path already read.
pub(super) fn next_entry<'a, R: Read>(
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

/// Whether an entry's header is a plain ustar one: magic `ustar\0` and
/// version `00` (not GNU's `ustar  \0`, not the pre-POSIX empty magic).
pub(super) fn is_ustar(header: &tar::Header) -> bool {
    header.as_bytes()[257..265] == *b"ustar\x0000"
}

/// Whether an entry is a regular file of type `0` exactly (the old type
/// NUL, which tar also reads as a regular file, is not one a bundle uses).
pub(super) fn is_regular(header: &tar::Header) -> bool {
    header.as_bytes()[156] == b'0'
}

/// Refuses an entry whose header is not a plain ustar one, or whose size or
/// checksum field is not in the form SPEC.md section 2 and R3 give (tar-rs
/// reads more: a `+` sign, any leading whitespace, a base-256 size of which
/// it keeps the last 8 bytes; a reader following the SPEC would frame such
/// an archive differently).
pub(super) fn check_ustar(header: &tar::Header, path: &str) -> Result<(), BundleError> {
    if !is_ustar(header) {
        return Err(BundleError::NotUstar {
            path: path.to_string(),
        });
    }
    let raw = header.as_bytes();
    let bad = |field| BundleError::BadHeaderField {
        path: path.to_string(),
        field,
    };
    if !size_field_ok(&raw[124..136]) {
        return Err(bad("size"));
    }
    if !octal_field_ok(&raw[148..156]) {
        return Err(bad("checksum"));
    }
    Ok(())
}

/// An octal field: optional leading spaces, at least one octal digit, then
/// at least one NUL or space and nothing else (R3).
fn octal_field_ok(field: &[u8]) -> bool {
    let spaces = field.iter().take_while(|&&b| b == b' ').count();
    let rest = &field[spaces..];
    let digits = rest
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    let tail = &rest[digits..];
    digits > 0 && !tail.is_empty() && tail.iter().all(|&b| b == 0 || b == b' ')
}

/// The size field: octal, or base-256 (first byte `0x80`) of a value that
/// fits 64 bits (bytes 1-3 zero), as SPEC.md section 2 says.
fn size_field_ok(field: &[u8]) -> bool {
    match field.first() {
        Some(0x80) => field[1..4].iter().all(|&b| b == 0),
        Some(b) if b & 0x80 != 0 => false,
        _ => octal_field_ok(field),
    }
}

pub(super) fn read_small<R: Read>(
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

pub(super) fn read_manifest_entry<R: Read>(
    entries: &mut tar::Entries<'_, R>,
) -> Result<Vec<u8>, BundleError> {
    let Some((mut entry, path)) = next_entry(entries, "manifest")? else {
        return Err(BundleError::Truncated {
            region: "before the manifest".into(),
        });
    };
    if path != MANIFEST_PATH {
        return Err(BundleError::ManifestNotFirst { found: path });
    }
    if !is_regular(entry.header()) {
        return Err(BundleError::ManifestNotAFile {
            typeflag: entry.header().as_bytes()[156],
        });
    }
    check_ustar(entry.header(), &path)?;
    if entry.size() > MAX_MANIFEST {
        return Err(BundleError::ManifestTooLarge { size: entry.size() });
    }
    read_small(&mut entry, "manifest")
}

pub(super) fn parse_signature_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: &str,
) -> Result<Signature, BundleError> {
    let bad = |reason: String| BundleError::BadSignatureEntry {
        entry: path.to_string(),
        reason,
    };
    check_ustar(entry.header(), path)?;
    if !is_regular(entry.header()) {
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
    if sig.to_text() != text {
        return Err(bad(
            "not in minisign's exact form (four lines, each ending in one LF, no other whitespace, padded base64)"
                .into(),
        ));
    }
    if path != crate::bundle::signature_path(sig.key_id()) {
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
pub(super) type Pending<'a, R> = Option<(tar::Entry<'a, R>, String)>;

/// Reads the manifest bytes and the signature entries (in name order, at
/// most [`MAX_SIGNATURES`]); returns the first entry after them.
pub(super) fn read_start<'a, R: Read>(
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
