//! The delta's header and per-frame records (see the module docs for the
//! layout), read with every figure checked before it is used.

use std::io::{self, Read, Write};

use super::{DeltaError, Limits, MAGIC, MAX_CHUNK};

/// The delta's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub base_len: u64,
    pub new_len: u64,
    pub chunk_len: u64,
}

/// One frame's record, before its zstd bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameRecord {
    pub ref_offset: u64,
    pub ref_len: u64,
    pub out_len: u64,
    pub frame_len: u64,
}

pub(crate) const HEADER_LEN: usize = 32;
pub(crate) const RECORD_LEN: usize = 32;

impl Header {
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..16].copy_from_slice(&self.base_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.new_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.chunk_len.to_le_bytes());
        out.write_all(&b)
    }

    /// Reads the header and bounds its chunk length; the caller checks it
    /// against the base and the signed length.
    pub fn read(r: &mut dyn Read, limits: &Limits) -> Result<Header, DeltaError> {
        let mut b = [0u8; HEADER_LEN];
        read_exact(r, &mut b, "in its header")?;
        if b[..8] != MAGIC {
            let hex: String = b[..8].iter().map(|x| format!("{x:02x}")).collect();
            return Err(DeltaError::Magic(hex));
        }
        let h = Header {
            base_len: u64_at(&b, 8),
            new_len: u64_at(&b, 16),
            chunk_len: u64_at(&b, 24),
        };
        // Short chunks only when there is one: the number of frames (and
        // their fixed costs) is bounded by the signed length.
        let one_chunk = h.chunk_len >= h.new_len;
        let short = h.chunk_len < limits.min_chunk && !one_chunk;
        // Whatever `new_len` is (SPEC: a `chunk_len` of 0 or above 16 MiB
        // is refused; an empty result is one chunk).
        if h.chunk_len == 0 || h.chunk_len > MAX_CHUNK || short {
            return Err(DeltaError::Bounds {
                frame: 0,
                what: format!(
                    "chunk length {} is not in {}..={MAX_CHUNK} (only a delta of one chunk may have a shorter one)",
                    h.chunk_len, limits.min_chunk
                ),
            });
        }
        Ok(h)
    }
}

impl FrameRecord {
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut b = [0u8; RECORD_LEN];
        b[..8].copy_from_slice(&self.ref_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.ref_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.out_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.frame_len.to_le_bytes());
        out.write_all(&b)
    }

    /// Reads frame `n`'s record and bounds it: `remaining` bytes of the
    /// result are still to come, the base has `base_len` bytes, chunks are
    /// `chunk_len` long, the previous frame's record was `prev` (its
    /// reference: references never move back).
    pub fn read(
        r: &mut dyn Read,
        n: u64,
        (h, limits): (&Header, &Limits),
        remaining: u64,
        prev: Option<&FrameRecord>,
    ) -> Result<FrameRecord, DeltaError> {
        let mut b = [0u8; RECORD_LEN];
        read_exact(r, &mut b, "in a frame record")?;
        let f = FrameRecord {
            ref_offset: u64_at(&b, 0),
            ref_len: u64_at(&b, 8),
            out_len: u64_at(&b, 16),
            frame_len: u64_at(&b, 24),
        };
        let bad = |what: String| Err(DeltaError::Bounds { frame: n, what });
        let want = remaining.min(h.chunk_len);
        if f.out_len != want {
            return bad(format!("rebuilds {} bytes; expected {want}", f.out_len));
        }
        if f.ref_offset > h.base_len || f.ref_len > h.base_len - f.ref_offset {
            return bad(format!(
                "reference {}+{} lies outside the {}-byte base",
                f.ref_offset, f.ref_len, h.base_len
            ));
        }
        if f.ref_len > limits.max_ref {
            return bad(format!(
                "a reference of {} bytes exceeds the maximum of {}",
                f.ref_len, limits.max_ref
            ));
        }
        if let Some(p) = prev {
            let moved = if f.ref_offset < p.ref_offset {
                Some("starts")
            } else if f.ref_offset + f.ref_len < p.ref_offset + p.ref_len {
                Some("ends")
            } else {
                None
            };
            if let Some(moved) = moved {
                return bad(format!(
                    "reference {}+{} {moved} before frame {}'s ({}+{}); references never move back",
                    f.ref_offset,
                    f.ref_len,
                    n - 1,
                    p.ref_offset,
                    p.ref_len
                ));
            }
        }
        // zstd's bound on a frame of `out_len` bytes, plus its header.
        let bound = zstd::zstd_safe::compress_bound(f.out_len as usize) as u64 + 32;
        if f.frame_len > bound {
            return bad(format!(
                "{} compressed bytes for {} bytes exceed zstd's bound {bound}",
                f.frame_len, f.out_len
            ));
        }
        Ok(f)
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// `read_exact` with an early end told apart from a failing reader.
pub(crate) fn read_exact(
    r: &mut dyn Read,
    buf: &mut [u8],
    where_: &'static str,
) -> Result<(), DeltaError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => DeltaError::Truncated(where_),
        _ => DeltaError::Read(e),
    })
}
