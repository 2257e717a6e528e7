//! RFC 1951 inflate and RFC 1952 gzip, written here because the crates this
//! reader may use have none (SPEC.md section 6 needs them for R23's totals).

struct Bits<'a> {
    d: &'a [u8],
    pos: usize,
    bit: u32,
    nbits: u32,
}

impl Bits<'_> {
    fn need(&mut self, n: u32) -> Option<u32> {
        while self.nbits < n {
            let b = *self.d.get(self.pos)? as u32;
            self.pos += 1;
            self.bit |= b << self.nbits;
            self.nbits += 8;
        }
        let v = self.bit & ((1u32 << n) - 1);
        self.bit = if n == 32 { 0 } else { self.bit >> n };
        self.nbits -= n;
        Some(v)
    }
    fn align(&mut self) {
        self.bit = 0;
        self.nbits = 0;
    }
}

struct Huff {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huff {
    fn new(lengths: &[u8]) -> Option<Huff> {
        let mut counts = [0u16; 16];
        for &l in lengths {
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        let mut offs = [0u16; 16];
        for i in 1..16 {
            offs[i] = offs[i - 1] + counts[i - 1];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Some(Huff { counts, symbols })
    }
    fn decode(&self, b: &mut Bits) -> Option<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.need(1)? as i32;
            let count = self.counts[len] as i32;
            if code - count < first {
                return self.symbols.get((index + code - first) as usize).copied();
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        None
    }
}

const LBASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEXT: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DBASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DEXT: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Raw deflate; returns the output and the input bytes consumed. `limit`
/// bounds the output (a bomb stops there).
pub fn inflate(d: &[u8], limit: usize) -> Option<(Vec<u8>, usize)> {
    let mut b = Bits {
        d,
        pos: 0,
        bit: 0,
        nbits: 0,
    };
    let mut out: Vec<u8> = Vec::new();
    loop {
        let last = b.need(1)?;
        match b.need(2)? {
            0 => {
                b.align();
                let h = d.get(b.pos..b.pos + 4)?;
                let len = u16::from_le_bytes([h[0], h[1]]);
                if len != !u16::from_le_bytes([h[2], h[3]]) {
                    return None;
                }
                b.pos += 4;
                out.extend_from_slice(d.get(b.pos..b.pos + len as usize)?);
                b.pos += len as usize;
            }
            t @ (1 | 2) => {
                let (lit, dist) = if t == 1 {
                    let mut l = [8u8; 288];
                    l[144..256].fill(9);
                    l[256..280].fill(7);
                    (Huff::new(&l)?, Huff::new(&[5u8; 30])?)
                } else {
                    let hlit = b.need(5)? as usize + 257;
                    let hdist = b.need(5)? as usize + 1;
                    let hclen = b.need(4)? as usize + 4;
                    const ORD: [usize; 19] = [
                        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                    ];
                    let mut cl = [0u8; 19];
                    for &o in ORD.iter().take(hclen) {
                        cl[o] = b.need(3)? as u8;
                    }
                    let ch = Huff::new(&cl)?;
                    let mut lens = Vec::with_capacity(hlit + hdist);
                    while lens.len() < hlit + hdist {
                        let s = ch.decode(&mut b)?;
                        let (v, n) = match s {
                            0..=15 => (s as u8, 1),
                            16 => (*lens.last()?, 3 + b.need(2)?),
                            17 => (0, 3 + b.need(3)?),
                            _ => (0, 11 + b.need(7)?),
                        };
                        lens.extend(std::iter::repeat_n(v, n as usize));
                    }
                    if lens.len() != hlit + hdist {
                        return None;
                    }
                    (Huff::new(&lens[..hlit])?, Huff::new(&lens[hlit..])?)
                };
                loop {
                    let s = lit.decode(&mut b)? as usize;
                    if s < 256 {
                        out.push(s as u8);
                    } else if s == 256 {
                        break;
                    } else {
                        let i = s - 257;
                        let len = *LBASE.get(i)? as usize + b.need(*LEXT.get(i)? as u32)? as usize;
                        let ds = dist.decode(&mut b)? as usize;
                        let dd = *DBASE.get(ds)? as usize + b.need(*DEXT.get(ds)? as u32)? as usize;
                        if dd > out.len() {
                            return None;
                        }
                        let start = out.len() - dd;
                        for k in 0..len {
                            out.push(out[start + k]);
                        }
                    }
                    if out.len() > limit {
                        return None;
                    }
                }
            }
            _ => return None,
        }
        if out.len() > limit {
            return None;
        }
        if last == 1 {
            return Some((out, b.pos));
        }
    }
}

pub fn crc32(d: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in d {
        c ^= x as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// One gzip member (RFC 1952), CRC and length checked.
pub fn gunzip(d: &[u8], limit: usize) -> Option<Vec<u8>> {
    if d.len() < 18 || d[0] != 0x1f || d[1] != 0x8b || d[2] != 8 {
        return None;
    }
    let flg = d[3];
    let mut p = 10;
    if flg & 4 != 0 {
        let xlen = u16::from_le_bytes([*d.get(p)?, *d.get(p + 1)?]) as usize;
        p += 2 + xlen;
    }
    for bit in [8u8, 16] {
        if flg & bit != 0 {
            p += d.get(p..)?.iter().position(|&x| x == 0)? + 1;
        }
    }
    if flg & 2 != 0 {
        p += 2;
    }
    let (out, used) = inflate(d.get(p..)?, limit)?;
    let t = d.get(p + used..p + used + 8)?;
    let crc = u32::from_le_bytes(t[..4].try_into().ok()?);
    let isize = u32::from_le_bytes(t[4..].try_into().ok()?);
    (crc == crc32(&out) && isize == out.len() as u32).then_some(out)
}
