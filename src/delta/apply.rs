//! Applying a delta: each frame decoded in one shot against its reference
//! (read from the base into a reused buffer), into a buffer of exactly its
//! stated size. Each frame has its own decompression context: zstd-safe
//! ties a context's lifetime to its reference prefix, which lives in a
//! buffer the next frame overwrites, and reusing one would need `unsafe`
//! or a copy of the reference; at chunks of 1 MiB or more (MIN_CHUNK) a
//! context costs under 1 % of a frame.

use std::fs::File;
use std::io::{Read, Write};

use zstd::zstd_safe::{DCtx, DParameter};

use super::header::{read_exact, FrameRecord, Header};
use super::window::{usize_len, Window};
use super::{frame, DeltaError, Limits, MAX_WINDOW_LOG};
use crate::digest::{Hasher, Sha256Digest};

/// What [`apply`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySummary {
    /// Bytes written: always the `expect_len` given.
    pub len: u64,
    /// The SHA-256 of the bytes written. The caller compares it with the
    /// signed manifest's before it uses the result.
    pub sha256: Sha256Digest,
    /// Frames decoded.
    pub frames: u64,
}

/// Rebuilds into `out` the file `delta` was made for, from `base`.
///
/// Writes exactly `expect_len` bytes (the signed length) or fails: a
/// header or frame that states another length fails before its bytes are
/// written, and a frame that decodes to more than it states fails inside
/// zstd, whose output buffer is exactly the stated size. Reads the delta
/// to its end: bytes after the last frame are an error.
///
/// # Errors
///
/// [`DeltaError`]: a base of another length than the delta's, a damaged
/// or hostile delta (each refusal names the frame and the figures), an
/// output that cannot be written.
///
/// # Security
///
/// The base is the installed database, whose SHA-256 the caller checked
/// against the manifest's base digest; the result's SHA-256 returned here
/// must equal the manifest's result digest. A wrong base that passes both
/// would need a SHA-256 collision. The bounds (SPEC 1.3) are checked on
/// each header and record before any work: at most the signed length /
/// 1 MiB, plus one, frames; references of at most 64 MiB that never move
/// back, so the base is read at most once. A base that shrinks while it is
/// read (another program rewriting it in place) is a read error
/// ([`DeltaError::Base`]); one rewritten at its length gives a zstd
/// checksum or a result digest that does not match, which the caller
/// tells apart by hashing the base again.
pub fn apply(
    base: &File,
    delta: &mut dyn Read,
    out: &mut dyn Write,
    expect_len: u64,
) -> Result<ApplySummary, DeltaError> {
    apply_within(base, delta, out, expect_len, &Limits::SPEC)
}

/// [`apply`] within `limits` (the codec's tests lower them).
pub(crate) fn apply_within(
    base: &File,
    delta: &mut dyn Read,
    out: &mut dyn Write,
    expect_len: u64,
    limits: &Limits,
) -> Result<ApplySummary, DeltaError> {
    let base_len = base
        .metadata()
        .map_err(|e| DeltaError::Base(e.to_string()))?
        .len();
    let h = Header::read(delta, limits)?;
    if h.base_len != base_len {
        return Err(DeltaError::BaseLength {
            expected: h.base_len,
            actual: base_len,
        });
    }
    if h.new_len != expect_len {
        return Err(DeltaError::ResultLength {
            expected: expect_len,
            actual: h.new_len,
        });
    }
    let mut hash = Hasher::for_len(expect_len);
    let (mut compressed, mut output) = (Vec::new(), Vec::new());
    let (mut written, mut frames) = (0u64, 0u64);
    let mut window = Window::default();
    let mut prev = None;
    while written < expect_len {
        frames += 1;
        let rec = FrameRecord::read(
            delta,
            frames,
            (&h, limits),
            expect_len - written,
            prev.as_ref(),
        )?;
        read_frame(delta, &rec, &mut compressed)?;
        check_frame(&compressed, &rec, frames)?;
        let prefix = window
            .load(base, rec.ref_offset, rec.ref_len)
            .map_err(|e| base_error(e, rec.ref_offset + rec.ref_len, base_len))?;
        decode(prefix, &compressed, &mut output, &rec, frames)?;
        out.write_all(&output).map_err(DeltaError::Write)?;
        hash.update(&output);
        written += rec.out_len;
        prev = Some(rec);
    }
    let mut one = [0u8; 1];
    match delta.read(&mut one) {
        Ok(0) => {}
        Ok(_) => return Err(DeltaError::Trailing),
        Err(e) => return Err(DeltaError::Read(e)),
    }
    Ok(ApplySummary {
        len: written,
        sha256: hash.finish(),
        frames,
    })
}

/// Reads the frame's bytes (their length bounded by `FrameRecord::read`).
fn read_frame(
    delta: &mut dyn Read,
    rec: &FrameRecord,
    buf: &mut Vec<u8>,
) -> Result<(), DeltaError> {
    buf.clear();
    buf.resize(usize_len(rec.frame_len)?, 0);
    read_exact(delta, buf, "inside a frame")
}

/// The frame's header against its record: the window, the content size,
/// no dictionary, and exactly one frame.
fn check_frame(bytes: &[u8], rec: &FrameRecord, n: u64) -> Result<(), DeltaError> {
    let fh = frame::parse(bytes, n)?;
    let bad = |what: String| Err(DeltaError::Bounds { frame: n, what });
    if fh.content_size != Some(rec.out_len) {
        let stated = fh.content_size.map_or("no".to_string(), |c| c.to_string());
        return bad(format!(
            "its zstd frame states {stated} content bytes; the record says {}",
            rec.out_len
        ));
    }
    if fh.dict_id != 0 {
        return bad(format!("its zstd frame names dictionary {}", fh.dict_id));
    }
    match zstd::zstd_safe::find_frame_compressed_size(bytes) {
        Ok(len) if len as u64 == rec.frame_len => Ok(()),
        Ok(len) => bad(format!(
            "its zstd frame is {len} bytes; the record says {}",
            rec.frame_len
        )),
        Err(code) => Err(zstd_err(n, code)),
    }
}

/// A reference that cannot be read: a base that ended early changed since
/// the delta began (it was `base_len` bytes then).
fn base_error(e: std::io::Error, end: u64, base_len: u64) -> DeltaError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        DeltaError::Base(format!(
            "it ended before byte {end}, though it was {base_len} bytes when the delta began (was it rewritten while in use?)"
        ))
    } else {
        DeltaError::Base(e.to_string())
    }
}

fn decode(
    prefix: &[u8],
    compressed: &[u8],
    output: &mut Vec<u8>,
    rec: &FrameRecord,
    n: u64,
) -> Result<(), DeltaError> {
    let mut dctx = DCtx::try_create().ok_or(DeltaError::Zstd {
        frame: n,
        what: "cannot allocate a decompression context",
    })?;
    // One-shot decoding does not use the window limit (it allocates no
    // window); set it anyway, and check each frame's header (frame::parse).
    dctx.set_parameter(DParameter::WindowLogMax(MAX_WINDOW_LOG))
        .map_err(|c| zstd_err(n, c))?;
    if !prefix.is_empty() {
        dctx.ref_prefix(prefix).map_err(|c| zstd_err(n, c))?;
    }
    // A buffer of exactly the stated size: zstd fails (dstSize_tooSmall)
    // rather than write past it.
    output.clear();
    output.resize(usize_len(rec.out_len)?, 0);
    let got = dctx
        .decompress(&mut output[..], compressed)
        .map_err(|c| zstd_err(n, c))?;
    if got as u64 != rec.out_len {
        return Err(DeltaError::Bounds {
            frame: n,
            what: format!("decodes to {got} bytes; the record says {}", rec.out_len),
        });
    }
    Ok(())
}

fn zstd_err(frame: u64, code: usize) -> DeltaError {
    DeltaError::Zstd {
        frame,
        what: zstd::zstd_safe::get_error_name(code),
    }
}
