//! Meta pages: decoding, validating, and choosing the one bbolt opens
//! through; the page size.

use std::io;

use super::{
    u32_at, u64_at, BboltError, MetaFault, ReadAt, FIRST_META_READ, MAGIC, MAX_PAGE_SIZE, META_LEN,
    META_SUMMED, MIN_PAGE_SIZE, NO_FREELIST, OS_PAGE_SIZE, PAGE_HEADER, VERSION,
};

/// A decoded meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Magic number.
    pub magic: u32,
    /// Format version.
    pub version: u32,
    /// Page size.
    pub page_size: u32,
    /// Flags.
    pub flags: u32,
    /// Root bucket's root page.
    pub root: u64,
    /// Root bucket's sequence.
    pub root_sequence: u64,
    /// Freelist page.
    pub freelist: u64,
    /// High-water mark: pages in use.
    pub high_water: u64,
    /// Transaction id.
    pub txid: u64,
    /// Stored checksum.
    pub checksum: u64,
}

/// FNV-1a, 64 bits (Go's `hash/fnv.New64a`).
pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Meta {
    /// Decodes the 64 meta bytes (after the page header).
    pub fn parse(b: &[u8; META_LEN]) -> Meta {
        Meta {
            magic: u32_at(b, 0),
            version: u32_at(b, 4),
            page_size: u32_at(b, 8),
            flags: u32_at(b, 12),
            root: u64_at(b, 16),
            root_sequence: u64_at(b, 24),
            freelist: u64_at(b, 32),
            high_water: u64_at(b, 40),
            txid: u64_at(b, 48),
            checksum: u64_at(b, 56),
        }
    }

    /// bbolt's `Meta.Validate`: magic, then version, then checksum.
    fn validate(&self, bytes: &[u8; META_LEN]) -> Result<(), MetaFault> {
        if self.magic != MAGIC {
            return Err(MetaFault::Magic(self.magic));
        }
        if self.version != VERSION {
            return Err(MetaFault::Version(self.version));
        }
        let computed = fnv1a64(&bytes[..META_SUMMED]);
        if computed != self.checksum {
            return Err(MetaFault::Checksum {
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }
}

/// The meta page bbolt reads through, and the facts the walk needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The page size bbolt uses.
    pub page_size: u32,
    /// Which meta page is in use (0 or 1).
    pub meta_page: u8,
    /// That meta.
    pub meta: Meta,
    /// The file's length.
    pub len: u64,
}

/// Reads and validates the meta at `offset`.
fn meta_at(src: &dyn ReadAt, offset: u64) -> io::Result<Result<Meta, MetaFault>> {
    let mut bytes = [0u8; META_LEN];
    let Some(at) = offset.checked_add(PAGE_HEADER) else {
        return Ok(Err(MetaFault::Unreadable { offset }));
    };
    if !src.read_at(at, &mut bytes)? {
        return Ok(Err(MetaFault::Unreadable { offset }));
    }
    let m = Meta::parse(&bytes);
    Ok(m.validate(&bytes).map(|()| m))
}

/// bbolt's `getPageSize`: meta page 0 if it validates (and bbolt could read
/// 4 KiB there), else the first valid meta at 1 KiB << i (i = 0..=14) that
/// starts more than 1 KiB before the end, else the OS page size.
fn page_size(src: &dyn ReadAt) -> io::Result<u32> {
    let len = src.len();
    if len >= FIRST_META_READ {
        if let Ok(m) = meta_at(src, 0)? {
            return Ok(m.page_size);
        }
    }
    for i in 0..=14u32 {
        let pos = 1024u64 << i;
        if pos >= len.saturating_sub(1024) {
            break;
        }
        if let Ok(m) = meta_at(src, pos)? {
            return Ok(m.page_size);
        }
    }
    Ok(OS_PAGE_SIZE)
}

/// Opens the file as bbolt would (read-only), and checks the chosen meta.
pub(super) fn open(src: &dyn ReadAt) -> Result<Opened, BboltError> {
    let len = src.len();
    if len == 0 {
        return Err(BboltError::Empty);
    }
    let page_size = page_size(src).map_err(BboltError::Io)?;
    let offset = u64::from(page_size);
    // bbolt's mmap() validates both metas (at 0 and at `page size`) and
    // fails only if neither is valid; check that before judging the size.
    let meta0 = meta_at(src, 0).map_err(BboltError::Io)?;
    let meta1 = meta_at(src, offset).map_err(BboltError::Io)?;
    let (meta_page, meta) = match (meta0, meta1) {
        (Err(meta0), Err(meta1)) => {
            return Err(BboltError::NoValidMeta {
                meta0,
                meta1,
                offset,
            })
        }
        (Ok(m0), Err(_)) => (0, m0),
        (Err(_), Ok(m1)) => (1, m1),
        // DB.meta(): the higher txid (meta 0 on a tie).
        (Ok(m0), Ok(m1)) => {
            if m1.txid > m0.txid {
                (1, m1)
            } else {
                (0, m0)
            }
        }
    };
    if !page_size.is_power_of_two() || !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(BboltError::PageSize(page_size));
    }
    if len < 2 * u64::from(page_size) {
        return Err(BboltError::TooSmall { len, page_size });
    }
    let file_pages = len / u64::from(page_size);
    if meta.high_water > file_pages {
        return Err(BboltError::Truncated {
            meta: meta_page,
            high_water: meta.high_water,
            page_size,
            len,
        });
    }
    if meta.root >= meta.high_water {
        return Err(BboltError::MetaPointer {
            meta: meta_page,
            what: "root bucket",
            pgid: meta.root,
            high_water: meta.high_water,
        });
    }
    if meta.freelist != NO_FREELIST && meta.freelist >= meta.high_water {
        return Err(BboltError::MetaPointer {
            meta: meta_page,
            what: "freelist",
            pgid: meta.freelist,
            high_water: meta.high_water,
        });
    }
    Ok(Opened {
        page_size,
        meta_page,
        meta,
        len,
    })
}
