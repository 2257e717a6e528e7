//! The container of SPEC.md section 2, read from the SPEC alone: one zstd
//! frame (R1, R2, R21, R22) holding a ustar stream (R3, R20).

use super::{fail, Verdict};
use zstd::zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

/// The decoded frame: every byte the decoder produced, and what stopped it.
pub struct Frame {
    pub out: Vec<u8>,
    /// Set when decoding stopped early (damage, truncation): reported only
    /// when a reader needs a byte beyond `out` (R2 "as it is reached").
    pub stop: Option<String>,
    /// The checksum failure, if the frame ended with a wrong checksum (R21).
    pub checksum_error: Option<String>,
    /// Bytes of the file after the end of the frame (R22).
    pub after: usize,
    pub after_kind: &'static str,
}

/// R1 and the header part of R2, then decode as far as the frame goes.
pub fn open(file: &[u8]) -> Result<Frame, Verdict> {
    if file.len() < 4 || file[..4] != [0x28, 0xB5, 0x2F, 0xFD] {
        return Err(fail(4, "R1: not a bundle (no zstd frame magic)"));
    }
    // Frame header descriptor: Dictionary_ID_flag (bits 0-1).
    if let Some(fhd) = file.get(4) {
        let did_flag = fhd & 3;
        if did_flag != 0 {
            let n = [0usize, 1, 2, 4][did_flag as usize];
            let single_segment = fhd & 0x20 != 0;
            let start = if single_segment { 5 } else { 6 };
            let id = file
                .get(start..start + n)
                .map(|b| b.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64));
            if id != Some(0) {
                return Err(fail(4, "R2: the frame names a dictionary ID"));
            }
        }
    }
    let mut dctx = DCtx::create();
    dctx.set_parameter(DParameter::WindowLogMax(27))
        .map_err(|_| fail(4, "R2: decoder setup"))?;
    let mut out: Vec<u8> = Vec::new();
    let mut input = InBuffer::around(file);
    let mut stop = None;
    let mut checksum_error = None;
    let mut chunk = vec![0u8; 1 << 17];
    loop {
        let before_in = input.pos();
        let mut ob = OutBuffer::around(&mut chunk[..]);
        let r = dctx.decompress_stream(&mut ob, &mut input);
        let produced = ob.pos();
        out.extend_from_slice(&chunk[..produced]);
        match r {
            Ok(0) => break,
            Ok(_) => {
                if input.pos() == file.len() && produced == 0 && before_in == input.pos() {
                    stop = Some("R2: truncated (the file ends inside the zstd frame)".into());
                    break;
                }
            }
            Err(code) => {
                let name = zstd::zstd_safe::get_error_name(code);
                if name.to_ascii_lowercase().contains("checksum") {
                    checksum_error = Some(format!("R21: frame checksum mismatch ({name})"));
                } else {
                    stop = Some(format!("R2: damaged zstd frame ({name})"));
                }
                break;
            }
        }
    }
    let mut end = input.pos();
    if checksum_error.is_some() {
        // The decoder withholds the last block when the checksum fails; the
        // content is still read (R17-R20 come before R21 in the table), from
        // the same frame with its checksum flag and field removed.
        let len = zstd::zstd_safe::find_frame_compressed_size(file)
            .map_err(|_| fail(4, "R2: damaged zstd frame"))?;
        let mut copy = file[..len - 4].to_vec();
        copy[4] &= !0x04;
        out = zstd::stream::decode_all(&copy[..]).map_err(|_| fail(4, "R2: damaged frame"))?;
        end = len;
    }
    let after = if stop.is_none() && checksum_error.is_none() {
        file.len() - end
    } else {
        0
    };
    let rest = &file[end..];
    let after_kind = if rest.len() >= 4 && rest[..4] == [0x28, 0xB5, 0x2F, 0xFD] {
        "a second frame"
    } else if rest.len() >= 4 && (rest[0] & 0xF0) == 0x50 && rest[1..4] == [0x2A, 0x4D, 0x18] {
        "a skippable frame"
    } else if rest.iter().all(|&b| b == 0) {
        "zero bytes"
    } else {
        "other bytes"
    };
    Ok(Frame {
        out,
        stop,
        checksum_error,
        after,
        after_kind,
    })
}

/// One parsed ustar header.
pub struct Header {
    pub path: String,
    pub typeflag: u8,
    pub size: u64,
}

/// A cursor over the decoded tar stream.
pub struct Tar<'a> {
    pub frame: &'a Frame,
    pub pos: usize,
}

impl<'a> Tar<'a> {
    /// `n` bytes at the cursor, or the reason they are not there.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Verdict> {
        let out = &self.frame.out;
        if self.pos + n > out.len() {
            return Err(match &self.frame.stop {
                Some(why) => fail(4, why),
                None if self.frame.after > 0 => fail(
                    4,
                    &format!(
                        "R22: the zstd frame ends before the archive; {} bytes follow it ({})",
                        self.frame.after, self.frame.after_kind
                    ),
                ),
                None => fail(4, "truncated (the archive ends inside an entry)"),
            });
        }
        let s = &out[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next block without consuming it; None at the end of the data.
    pub fn peek_block(&self) -> Option<&'a [u8]> {
        self.frame.out.get(self.pos..self.pos + 512)
    }

    /// Reads the next header (R3). `Ok(None)` is a zero block or the end of
    /// the decoded data with a clean frame (the caller decides what it means).
    pub fn next_header(&mut self) -> Result<Option<Header>, Verdict> {
        match self.peek_block() {
            None => {
                if self.frame.stop.is_some() {
                    self.take(512)?;
                }
                return Ok(None);
            }
            Some(b) if b.iter().all(|&x| x == 0) => return Ok(None),
            Some(_) => {}
        }
        let b = self.take(512)?;
        parse_header(b).map(Some)
    }

    /// Reads an entry's data and skips its padding.
    pub fn data(&mut self, size: u64) -> Result<&'a [u8], Verdict> {
        let n = usize::try_from(size).map_err(|_| fail(4, "entry too large"))?;
        let d = self.take(n)?;
        let pad = (512 - n % 512) % 512;
        self.take(pad)?;
        Ok(d)
    }
}

fn parse_header(b: &[u8]) -> Result<Header, Verdict> {
    let stored =
        parse_octal(&b[148..156]).ok_or_else(|| fail(4, "R3: bad header checksum field"))?;
    let sum: u64 = b
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if (148..156).contains(&i) {
                32
            } else {
                x as u64
            }
        })
        .sum();
    if sum != stored {
        return Err(fail(4, "R3: header checksum mismatch"));
    }
    if b[257..265] != *b"ustar\x0000" {
        return Err(fail(4, "R3: not the plain ustar magic and version"));
    }
    let size = if b[124] == 0x80 {
        b[125..136].iter().fold(0u64, |a, &x| (a << 8) | x as u64)
    } else {
        parse_octal(&b[124..136]).ok_or_else(|| fail(4, "R3: bad size field"))?
    };
    let name = cstr(&b[0..100]);
    let prefix = cstr(&b[345..500]);
    let joined = if prefix.is_empty() {
        name
    } else {
        [prefix.as_slice(), b"/", name.as_slice()].concat()
    };
    Ok(Header {
        path: String::from_utf8_lossy(&joined).into_owned(),
        typeflag: b[156],
        size,
    })
}

fn cstr(f: &[u8]) -> Vec<u8> {
    f.iter().take_while(|&&x| x != 0).copied().collect()
}

/// Octal digits, optionally led by spaces and ended by NUL or space.
fn parse_octal(f: &[u8]) -> Option<u64> {
    let s: Vec<u8> = f.iter().copied().skip_while(|&x| x == b' ').collect();
    let digits: Vec<u8> = s
        .iter()
        .copied()
        .take_while(|x| (b'0'..=b'7').contains(x))
        .collect();
    if digits.is_empty() || s[digits.len()..].iter().any(|&x| x != 0 && x != b' ') {
        return None;
    }
    digits.iter().try_fold(0u64, |a, &d| {
        a.checked_mul(8)?.checked_add((d - b'0') as u64)
    })
}
