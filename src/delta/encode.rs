//! Writing a delta: `new` cut into chunks, each one zstd frame compressed
//! against a reference prefix read from the base (positioned reads into
//! buffers reused across frames, see [`super::window`]).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use zstd::zstd_safe::{CCtx, CParameter};

use super::header::{FrameRecord, Header};
use super::window::{usize_len, Window};
use super::{DeltaError, Limits, DEFAULT_CHUNK, DEFAULT_REF, MAX_CHUNK, MAX_WINDOW_LOG};
use crate::digest::{Hasher, Sha256Digest};
use crate::error::PathIo;

/// How [`encode`] works.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// The zstd level (3 is zstd's default: fast, and the reference does
    /// most of the work).
    pub level: i32,
    /// The length of each chunk of the new file (one frame each), from
    /// [`super::MIN_CHUNK`] to [`MAX_CHUNK`] (a value outside is brought
    /// inside): the heap of encode and apply grows with it.
    pub chunk_len: u64,
    /// The largest reference a frame may use. A base up to
    /// `max_ref - chunk_len` bytes is referred to whole; a larger one
    /// through a window of this size around the chunk's relative position.
    /// At most [`super::MAX_REF`] (a larger value is lowered to it).
    pub max_ref: u64,
    /// zstd's hash and chain table logs (0: zstd's choice for the level).
    /// The match finder indexes at most the last `8 << log` bytes of the
    /// reference; long-distance matching sees all of it, but only matches
    /// of `ldm_min_match` bytes or more.
    pub hash_log: u32,
    /// Long-distance matching's shortest match; 0: each frame is
    /// compressed twice, with zstd's 64 and with 16, and the smaller kept.
    /// 64 suits files whose records move whole (bbolt pages: a 1 % change
    /// gives a delta of about 2 %); 16 suits files whose short records
    /// change an id each (SQLite rowids that shift: 62 % with 64, 24 % with
    /// 16, on scripts/bench-delta.sh's 256 MiB Java DB).
    pub ldm_min_match: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            level: 3,
            chunk_len: DEFAULT_CHUNK,
            max_ref: DEFAULT_REF,
            hash_log: 0,
            ldm_min_match: 0,
        }
    }
}

/// What [`encode`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeSummary {
    /// The base's length and SHA-256 (for the manifest).
    pub base_len: u64,
    /// The base's SHA-256.
    pub base_sha256: Sha256Digest,
    /// The new file's length.
    pub new_len: u64,
    /// The new file's SHA-256 (the result apply must produce).
    pub new_sha256: Sha256Digest,
    /// Bytes of delta written.
    pub delta_len: u64,
    /// Frames written.
    pub frames: u64,
}

/// Writes to `out` a delta that rebuilds `new` from `base`.
///
/// Both files are read chunk by chunk (see [`super`] on memory) and hashed
/// on the way. Deterministic: the same files and options give the same
/// bytes. Never writes a chunk or a reference [`super::apply`] refuses.
///
/// # Errors
///
/// A file that cannot be opened or read (or that shrinks while it is
/// read); an output that cannot be written; zstd refusing its parameters.
pub fn encode(
    base: &Path,
    new: &Path,
    out: &mut dyn Write,
    opts: &EncodeOptions,
) -> Result<EncodeSummary, DeltaError> {
    encode_within(base, new, out, opts, &Limits::SPEC)
}

/// [`encode`] within `limits` (the codec's tests lower them).
pub(crate) fn encode_within(
    base: &Path,
    new: &Path,
    out: &mut dyn Write,
    opts: &EncodeOptions,
    limits: &Limits,
) -> Result<EncodeSummary, DeltaError> {
    let chunk_len = opts.chunk_len.clamp(limits.min_chunk.max(1), MAX_CHUNK);
    let max_ref = opts
        .max_ref
        .min(limits.max_ref)
        .min((1u64 << MAX_WINDOW_LOG) - chunk_len);
    let (base_file, base_len) = open_file(base)?;
    let (new_file, new_len) = open_file(new)?;
    let base_sha256 = hash_file(&base_file, base)?;
    let mut new_hash = Hasher::for_len(new_len);
    let mut out = CountingWriter { inner: out, n: 0 };
    Header {
        base_len,
        new_len,
        chunk_len,
    }
    .write(&mut out)
    .map_err(DeltaError::Write)?;
    let (mut buf, mut other, mut chunk) = (Vec::new(), Vec::new(), Vec::new());
    let mut window = Window::default();
    let mut frames = 0;
    let mut offset = 0u64;
    while offset < new_len {
        let out_len = chunk_len.min(new_len - offset);
        let (ref_offset, ref_len) = reference(base_len, new_len, offset, out_len, max_ref);
        chunk.resize(usize_len(out_len)?, 0);
        new_file
            .read_exact_at(&mut chunk, offset)
            .map_err(PathIo::at("cannot read", new))?;
        let prefix = window
            .load(&base_file, ref_offset, ref_len)
            .map_err(PathIo::at("cannot read", base))?;
        new_hash.update(&chunk);
        frames += 1;
        if opts.ldm_min_match == 0 {
            compress(opts, 64, prefix, &chunk, &mut buf, frames)?;
            compress(opts, 16, prefix, &chunk, &mut other, frames)?;
            if other.len() < buf.len() {
                std::mem::swap(&mut buf, &mut other);
            }
        } else {
            let ldm = opts.ldm_min_match;
            compress(opts, ldm, prefix, &chunk, &mut buf, frames)?;
        }
        FrameRecord {
            ref_offset,
            ref_len,
            out_len,
            frame_len: buf.len() as u64,
        }
        .write(&mut out)
        .map_err(DeltaError::Write)?;
        out.write_all(&buf).map_err(DeltaError::Write)?;
        offset += out_len;
    }
    Ok(EncodeSummary {
        base_len,
        base_sha256,
        new_len,
        new_sha256: new_hash.finish(),
        delta_len: out.n,
        frames,
    })
}

/// The reference of the chunk at `offset`: the whole base while it fits
/// `max_ref`, else a `max_ref` window centred on the chunk's relative
/// position in the base (databases rebuilt from scratch keep their order
/// roughly, so changed data lies near where it was).
fn reference(base_len: u64, new_len: u64, offset: u64, out_len: u64, max_ref: u64) -> (u64, u64) {
    if base_len <= max_ref {
        return (0, base_len);
    }
    let mid = offset + out_len / 2;
    let centre = (u128::from(mid) * u128::from(base_len) / u128::from(new_len.max(1))) as u64;
    let start = centre.saturating_sub(max_ref / 2).min(base_len - max_ref);
    (start, max_ref)
}

/// Compresses `chunk` against `prefix` into `buf` as one frame.
fn compress(
    opts: &EncodeOptions,
    ldm_min_match: u32,
    prefix: &[u8],
    chunk: &[u8],
    buf: &mut Vec<u8>,
    frame: u64,
) -> Result<(), DeltaError> {
    let zerr = |code: usize| DeltaError::Zstd {
        frame,
        what: zstd::zstd_safe::get_error_name(code),
    };
    // A context per frame: its tables are freed with the frame.
    let mut cctx = CCtx::try_create().ok_or(DeltaError::Zstd {
        frame,
        what: "cannot allocate a compression context",
    })?;
    // The window covers the reference and the chunk, so a match anywhere
    // in the reference is reachable from the chunk's last byte.
    let span = (prefix.len() + chunk.len()).max(1) as u64;
    let window_log = (64 - (span - 1).leading_zeros()).clamp(10, MAX_WINDOW_LOG);
    for p in [
        CParameter::CompressionLevel(opts.level),
        CParameter::WindowLog(window_log),
        CParameter::EnableLongDistanceMatching(true),
        CParameter::ContentSizeFlag(true),
        CParameter::ChecksumFlag(true),
        CParameter::DictIdFlag(false),
    ] {
        cctx.set_parameter(p).map_err(zerr)?;
    }
    if opts.hash_log != 0 {
        cctx.set_parameter(CParameter::HashLog(opts.hash_log))
            .map_err(zerr)?;
        cctx.set_parameter(CParameter::ChainLog(opts.hash_log))
            .map_err(zerr)?;
    }
    if ldm_min_match != 0 {
        cctx.set_parameter(CParameter::LdmMinMatch(ldm_min_match))
            .map_err(zerr)?;
    }
    if !prefix.is_empty() {
        cctx.ref_prefix(prefix).map_err(zerr)?;
    }
    buf.clear();
    buf.reserve(zstd::zstd_safe::compress_bound(chunk.len()));
    cctx.compress2(buf, chunk).map_err(zerr)?;
    Ok(())
}

fn open_file(path: &Path) -> Result<(File, u64), DeltaError> {
    let file = File::open(path).map_err(PathIo::at("cannot open", path))?;
    let len = file
        .metadata()
        .map_err(PathIo::at("cannot read the size of", path))?
        .len();
    usize_len(len)?;
    Ok((file, len))
}

fn hash_file(mut file: &File, path: &Path) -> Result<Sha256Digest, DeltaError> {
    let mut h = Hasher::for_len(file.metadata().map_or(0, |m| m.len()));
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(PathIo::at("cannot read", path))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
