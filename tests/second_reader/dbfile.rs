//! SPEC.md section 7 "Database files": the first stage (bbolt meta pages;
//! the SQLite header) and bbolt's second stage (the root bucket's B+tree and
//! the `vulnerability` bucket). SQLite's second stage (quick_check) is not
//! implemented: SECOND-READER.md.

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
        let mut w = Walk {
            f,
            ps: m.page_size as usize,
            hwm: m.hwm,
            seen: std::collections::BTreeSet::new(),
            vulnerability: None,
        };
        w.page(m.root, 0, true)?;
        let v = w
            .vulnerability
            .take()
            .ok_or_else(|| r23("no `vulnerability` bucket"))?;
        if v.len() < 16 {
            return Err(r23("`vulnerability` bucket header shorter than 16 bytes"));
        }
        let root = u64le(&v, 0);
        if root == 0 {
            let inline = &v[16..];
            if inline.len() < 16 || u16::from_le_bytes([inline[8], inline[9]]) & 0x02 == 0 {
                return Err(r23("`vulnerability` inline page is not a leaf"));
            }
        } else {
            let p = w.header(root)?;
            if p.flags & 0x03 == 0 {
                return Err(r23("`vulnerability` root is not a branch or leaf page"));
            }
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

struct PageHeader {
    flags: u16,
    count: usize,
    start: usize,
    len: usize,
}

struct Walk<'a> {
    f: &'a [u8],
    ps: usize,
    hwm: u64,
    seen: std::collections::BTreeSet<u64>,
    vulnerability: Option<Vec<u8>>,
}

impl Walk<'_> {
    /// A page's header, with its overflow pages below the mark, naming itself.
    fn header(&self, id: u64) -> Result<PageHeader, Verdict> {
        if id >= self.hwm {
            return Err(r23("bbolt page at or above the high-water mark"));
        }
        let start = (id as usize)
            .checked_mul(self.ps)
            .ok_or_else(|| r23("page offset"))?;
        let h = self
            .f
            .get(start..start + 16)
            .ok_or_else(|| r23("bbolt page outside the file"))?;
        let overflow = u32le(h, 12);
        if id + overflow >= self.hwm {
            return Err(r23("bbolt overflow pages at or above the mark"));
        }
        if u64le(h, 0) != id {
            return Err(r23("bbolt page does not name its own id"));
        }
        let len = (overflow as usize + 1) * self.ps;
        if self.f.len() < start + len {
            return Err(r23("bbolt page outside the file"));
        }
        Ok(PageHeader {
            flags: u16::from_le_bytes([h[8], h[9]]),
            count: u16::from_le_bytes([h[10], h[11]]) as usize,
            start,
            len,
        })
    }

    fn page(&mut self, id: u64, depth: usize, root_bucket: bool) -> Result<(), Verdict> {
        if depth >= 64 {
            return Err(r23("bbolt tree deeper than 64 levels"));
        }
        if !self.seen.insert(id) || self.seen.len() > 65_536 {
            return Err(r23("bbolt page reached twice, or more than 65,536 pages"));
        }
        let h = self.header(id)?;
        let page = &self.f[h.start..h.start + h.len];
        let branch = match h.flags {
            0x01 if h.count >= 1 => true,
            0x02 => false,
            _ => return Err(r23("bbolt page neither a branch nor a leaf")),
        };
        if 16 + h.count * 16 > page.len() {
            return Err(r23("bbolt elements do not fit the page"));
        }
        let mut last: Option<&[u8]> = None;
        for i in 0..h.count {
            let e = 16 + i * 16;
            let (key_at, ksize, vsize) = if branch {
                (e + u32le(page, e) as usize, u32le(page, e + 4) as usize, 0)
            } else {
                let pos = e + u32le(page, e + 4) as usize;
                (
                    pos,
                    u32le(page, e + 8) as usize,
                    u32le(page, e + 12) as usize,
                )
            };
            if ksize > 32_768 || key_at + ksize + vsize > page.len() {
                return Err(r23("bbolt key or value outside its page"));
            }
            let key = &page[key_at..key_at + ksize];
            if branch {
                self.page(u64le(page, e + 8), depth + 1, root_bucket)?;
            } else {
                if last.is_some_and(|l| l >= key) {
                    return Err(r23("bbolt leaf keys do not ascend"));
                }
                last = Some(key);
                let is_bucket = u32le(page, e) & 0x01 != 0;
                if root_bucket && is_bucket && key == b"vulnerability" {
                    let value = &page[key_at + ksize..key_at + ksize + vsize];
                    self.vulnerability = Some(value.to_vec());
                }
            }
        }
        Ok(())
    }
}
