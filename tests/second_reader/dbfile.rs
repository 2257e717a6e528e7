//! SPEC.md section 7 "Database files", first stage (the leading bytes):
//! bbolt meta pages and the SQLite header. The second stage (the bbolt
//! B+tree walk, SQLite's quick_check) is not implemented: SECOND-READER.md.

use super::{fail, Verdict};

fn r23(why: &str) -> Verdict {
    fail(4, &format!("R23: database file: {why}"))
}

fn u32le(d: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap()) as u64
}
fn u64le(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap())
}

fn fnv1a64(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The meta at `off` (page header 16 bytes, then magic, version, page size,
/// flags, root {pgid, sequence}, freelist, pgid, txid, checksum): bbolt's
/// layout, which the SPEC does not spell out.
struct Meta {
    page_size: u64,
    root: u64,
    freelist: u64,
    hwm: u64,
    txid: u64,
}

fn meta(d: &[u8], off: usize) -> Option<Meta> {
    let m = d.get(off + 16..off + 16 + 64)?;
    let ok = u32le(m, 0) == 0xED0C_DAED && u32le(m, 4) == 2 && u64le(m, 56) == fnv1a64(&m[..56]);
    ok.then(|| Meta {
        page_size: u32le(m, 8),
        root: u64le(m, 16),
        freelist: u64le(m, 32),
        hwm: u64le(m, 40),
        txid: u64le(m, 48),
    })
}

pub fn judge(kind: &str, f: &[u8]) -> Result<(), Verdict> {
    if kind == "trivy-db" {
        let m0 = meta(f, 0);
        let ps = match &m0 {
            Some(m) => m.page_size,
            None => (0..7)
                .map(|i| 1024usize << i)
                .find_map(|o| meta(f, o).map(|m| m.page_size))
                .ok_or_else(|| r23("no valid bbolt meta page"))?,
        };
        let m1 = usize::try_from(ps).ok().and_then(|p| meta(f, p));
        let m = match (m0, m1) {
            (Some(a), Some(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Err(r23("neither bbolt meta page is valid")),
        };
        let f_len = f.len() as u64;
        let ok = m.page_size.is_power_of_two()
            && (512..=65536).contains(&m.page_size)
            && f_len >= 2 * m.page_size
            && f_len >= m.hwm.saturating_mul(m.page_size)
            && m.root < m.hwm
            && (m.freelist == u64::MAX || m.freelist < m.hwm);
        if !ok {
            return Err(r23("bbolt meta page out of bounds"));
        }
    } else {
        let h = f
            .get(..100)
            .ok_or_else(|| r23("SQLite file shorter than 100 bytes"))?;
        if &h[..16] != b"SQLite format 3\0" {
            return Err(r23("not SQLite format 3"));
        }
        let raw = u16::from_be_bytes([h[16], h[17]]) as u64;
        let ps = if raw == 1 { 65536 } else { raw };
        let pages = u32::from_be_bytes(h[28..32].try_into().unwrap()) as u64;
        let ok = ps.is_power_of_two()
            && (512..=65536).contains(&ps)
            && h[19] <= 2
            && h[21..24] == [64, 32, 32]
            && ps - h[20] as u64 >= 480;
        if !ok {
            return Err(r23("SQLite header out of bounds"));
        }
        if pages != 0 && h[24..28] == h[92..96] && (f.len() as u64) < pages * ps {
            return Err(r23("SQLite file shorter than its page count"));
        }
    }
    Ok(())
}
