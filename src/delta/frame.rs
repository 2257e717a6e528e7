//! The zstd frame header (RFC 8878, section 3.1.1.1), read before a frame
//! is decoded: zstd's one-shot decoder does not apply its window limit, so
//! airlock applies its own, and checks the frame's stated content size.

use super::{DeltaError, MAX_WINDOW_LOG};

const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// What a frame header states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// The window the frame asks for, in bytes.
    pub window: u64,
    /// The content size, if the frame states it.
    pub content_size: Option<u64>,
    /// The dictionary id, if any.
    pub dict_id: u32,
}

/// Parses the header at the start of `frame` (frame `n` of the delta).
pub(crate) fn parse(frame: &[u8], n: u64) -> Result<FrameHeader, DeltaError> {
    let bad = |what: String| DeltaError::Bounds { frame: n, what };
    let short = || bad("its zstd frame header is cut short".into());
    let magic = frame.get(..4).ok_or_else(short)?;
    let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
    if magic != ZSTD_MAGIC {
        return Err(bad(format!("not a zstd frame (magic {magic:#010x})")));
    }
    let fhd = *frame.get(4).ok_or_else(short)?;
    let fcs_flag = fhd >> 6;
    let single_segment = fhd & 0x20 != 0;
    if fhd & 0x08 != 0 {
        return Err(bad("its zstd frame header sets a reserved bit".into()));
    }
    let mut at = 5;
    let mut window = None;
    if !single_segment {
        let wd = *frame.get(at).ok_or_else(short)?;
        at += 1;
        let log = 10 + u32::from(wd >> 3);
        if log > MAX_WINDOW_LOG {
            return Err(bad(format!(
                "its zstd frame asks for a window of 2^{log} bytes; at most 2^{MAX_WINDOW_LOG} is accepted"
            )));
        }
        let base = 1u64 << log;
        window = Some(base + (base / 8) * u64::from(wd & 7));
    }
    let did_len = [0, 1, 2, 4][usize::from(fhd & 3)];
    let did = frame.get(at..at + did_len).ok_or_else(short)?;
    let dict_id = did.iter().rev().fold(0u32, |a, &b| (a << 8) | u32::from(b));
    at += did_len;
    let fcs_len = match (fcs_flag, single_segment) {
        (0, false) => 0,
        (0, true) => 1,
        (1, _) => 2,
        (2, _) => 4,
        _ => 8,
    };
    let fcs = frame.get(at..at + fcs_len).ok_or_else(short)?;
    let mut content_size = None;
    if fcs_len > 0 {
        let v = fcs.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        content_size = Some(if fcs_len == 2 { v + 256 } else { v });
    }
    let window = match window {
        Some(w) => w,
        // A single-segment frame's window is its content size.
        None => content_size.unwrap_or(0),
    };
    if window > 1u64 << MAX_WINDOW_LOG {
        return Err(bad(format!(
            "its zstd frame asks for a window of {window} bytes; at most 2^{MAX_WINDOW_LOG} is accepted"
        )));
    }
    Ok(FrameHeader {
        window,
        content_size,
        dict_id,
    })
}
