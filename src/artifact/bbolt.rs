//! Whether Trivy can open and read a `trivy.db` (a bbolt file), checked
//! before it replaces a working one (security issue 11: a signed database of
//! random bytes, or a truncated one from a broken upstream build, would
//! otherwise be swapped in and fail every scan until `rollback`).
//!
//! What is checked mirrors what bbolt (v1.4/v1.5, `db.go`, `tx.go`,
//! `cursor.go`, `internal/common/{meta,page}.go`) does when Trivy opens the
//! file read-only and looks a bucket up:
//! - the page size comes from meta page 0 if it validates, else from the
//!   first valid meta found at 1 KiB, 2 KiB, 4 KiB... (bbolt's
//!   `getPageSize`); the file must hold two pages;
//! - meta page 0 and the meta page at offset `page size` are validated
//!   (magic `0xED0CDAED`, version 2, FNV-1a-64 of the 56 bytes before the
//!   checksum); the database opens if at least ONE is valid, and bbolt reads
//!   through the valid one with the higher txid (`DB.meta()`), so that one
//!   is the one judged below. The meta page's header flag is not checked:
//!   bbolt does not check it and the checksum does not cover it;
//! - the chosen meta's high-water mark must lie inside the file and its root
//!   and freelist pages below the mark (bbolt's own writer never makes a
//!   meta otherwise; a truncated file fails here);
//! - every bucket's B+tree is walked, the root bucket's and every bucket
//!   below it, inline ones included (a broken page in any of them makes
//!   Trivy fail or panic when a scan reaches it): every page below the mark
//!   and inside the file, its header naming its own id (bbolt's
//!   `FastCheck`), a branch (0x01) or leaf (0x02) page, its elements and
//!   their keys and values inside the page, keys in ascending order within
//!   each tree (bbolt finds keys by binary search), each page reached once
//!   in the whole file (a cycle or a page shared by two trees is refused),
//!   trees and bucket nesting at most [`MAX_DEPTH`] levels;
//! - the top-level buckets Trivy cannot do without exist
//!   ([`REQUIRED_BUCKETS`]).
//!
//! Everything is read with positioned reads of at most one page's element
//! array (1 MiB) or one key (32 KiB) at a time: memory stays bounded
//! whatever the file claims. [`check_head`] runs the meta-page checks on the
//! first [`HEAD_LEN`] bytes as they stream past (verify, and before anything
//! is written); [`check_file`] runs everything on a file.
//!
//! Deliberately not required (bbolt does not need them to open or read):
//! the file length being a multiple of the page size (pages past the
//! high-water mark are never read), the freelist's content (read-only
//! opens do not load it), and what the values hold (JSON Trivy parses per
//! finding).

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

/// bbolt's magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt reads.
pub const VERSION: u32 = 2;
/// The smallest page size accepted (bbolt uses the OS page size: 4 KiB on
/// the machines trivy-db is built on).
pub const MIN_PAGE_SIZE: u32 = 512;
/// The largest page size accepted (the largest OS page size in use).
pub const MAX_PAGE_SIZE: u32 = 64 << 10;
/// How many leading bytes [`check_head`] needs: two pages of the largest
/// page size.
pub const HEAD_LEN: usize = 2 * MAX_PAGE_SIZE as usize;
/// Top-level buckets Trivy cannot scan without. trivy-db's
/// `GetVulnerability` calls `Get` on `tx.Bucket("vulnerability")` without a
/// nil check, so a database without it makes Trivy panic on the first
/// finding. (`data-source` is read through a nil check and its absence only
/// leaves findings without a data source, so it is not required; neither
/// is any OS or ecosystem bucket: a database without them is useless but
/// opens and scans.)
pub const REQUIRED_BUCKETS: &[&str] = &["vulnerability"];
/// The deepest root-bucket tree accepted (a real one has 1-3 levels).
pub const MAX_DEPTH: usize = 64;
/// bbolt's `MaxKeySize`: it refuses to store a longer key.
pub const MAX_KEY_SIZE: u32 = 32768;

const PAGE_HEADER: u64 = 16;
const ELEMENT: u64 = 16;
const META_LEN: usize = 64;
const META_SUMMED: usize = 56;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const BUCKET_LEAF: u32 = 0x01;
const BUCKET_HEADER: u64 = 16;
const NO_FREELIST: u64 = u64::MAX;
/// bbolt's fallback page size when neither meta gives one (the OS page size).
const OS_PAGE_SIZE: u32 = 4096;
/// What bbolt reads at offset 0 to find the page size.
const FIRST_META_READ: u64 = 4096;

/// Why a meta page is not valid (bbolt's `Meta.Validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFault {
    /// The file ends before the meta.
    Unreadable {
        /// Where the meta would be.
        offset: u64,
    },
    /// Not bbolt's magic.
    Magic(u32),
    /// Another format version.
    Version(u32),
    /// The checksum does not match the meta bytes.
    Checksum {
        /// The stored checksum.
        stored: u64,
        /// FNV-1a-64 of the meta bytes.
        computed: u64,
    },
}

impl fmt::Display for MetaFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaFault::Unreadable { offset } => {
                write!(f, "lies past the end of the file (offset {offset})")
            }
            MetaFault::Magic(m) => write!(f, "has magic 0x{m:08x}, expected 0x{MAGIC:08x}"),
            MetaFault::Version(v) => write!(f, "has version {v}, expected {VERSION}"),
            MetaFault::Checksum { stored, computed } => write!(
                f,
                "has checksum 0x{stored:016x}, but its bytes sum to 0x{computed:016x}"
            ),
        }
    }
}

/// What is wrong with one page of the root bucket's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageFault {
    /// Past the high-water mark or the end of the file.
    Outside {
        /// Pages it spans (1 + overflow).
        pages: u64,
        /// The high-water mark.
        high_water: u64,
        /// Whole pages in the file.
        file_pages: u64,
    },
    /// The header names another page (bbolt panics: `FastCheck`).
    Id(u64),
    /// Neither a branch nor a leaf page.
    Flags(u16),
    /// More elements than the page holds.
    Count {
        /// The element count.
        count: u16,
        /// Bytes of the page.
        span: u64,
    },
    /// A branch page without elements.
    EmptyBranch,
    /// An element's key or value lies outside the page.
    Element(u16),
    /// A key longer than bbolt stores.
    KeySize {
        /// The element.
        index: u16,
        /// Its key size.
        size: u32,
    },
    /// Keys out of order: a lookup by binary search would miss buckets.
    Order(u16),
    /// Reached a second time: the tree has a cycle or a shared page.
    Cycle,
    /// Deeper than [`MAX_DEPTH`].
    Depth,
}

impl fmt::Display for PageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageFault::Outside { pages, high_water, file_pages } => write!(
                f,
                "its {pages} page(s) do not lie below the high-water mark {high_water} inside the file's {file_pages} pages"
            ),
            PageFault::Id(id) => write!(f, "its header says it is page {id}"),
            PageFault::Flags(fl) => write!(f, "it is neither a branch nor a leaf page (flags 0x{fl:02x})"),
            PageFault::Count { count, span } => {
                write!(f, "its {count} elements do not fit in its {span} bytes")
            }
            PageFault::EmptyBranch => write!(f, "it is a branch page without elements"),
            PageFault::Element(i) => write!(f, "element {i} points outside the page"),
            PageFault::KeySize { index, size } => write!(
                f,
                "element {index} has a {size}-byte key, longer than bbolt's {MAX_KEY_SIZE}"
            ),
            PageFault::Order(i) => write!(f, "key {i} is not above the key before it"),
            PageFault::Cycle => write!(f, "it is reached twice (the tree has a cycle)"),
            PageFault::Depth => write!(f, "it is more than {MAX_DEPTH} levels deep"),
        }
    }
}

/// Why a file is not a bbolt database Trivy can read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BboltError {
    /// An empty file.
    #[error("the file is empty")]
    Empty,
    /// Neither meta page validates.
    #[error("meta page 0 {meta0}; meta page 1 (offset {offset}) {meta1}")]
    NoValidMeta {
        /// Page 0.
        meta0: MetaFault,
        /// Page 1.
        meta1: MetaFault,
        /// Where page 1 was looked for.
        offset: u64,
    },
    /// A page size airlock does not accept.
    #[error("its page size is {0}, not a power of two from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}")]
    PageSize(u32),
    /// Shorter than two pages (bbolt: "file size too small").
    #[error("the file is {len} bytes, less than two {page_size}-byte pages")]
    TooSmall {
        /// The file's length.
        len: u64,
        /// The page size.
        page_size: u32,
    },
    /// The high-water mark lies past the end of the file.
    #[error("meta page {meta} says the file has {high_water} pages of {page_size} bytes ({} bytes), but it is {len} bytes: it is truncated", high_water.saturating_mul(u64::from(*page_size)))]
    Truncated {
        /// Which meta page.
        meta: u8,
        /// Its high-water mark.
        high_water: u64,
        /// The page size.
        page_size: u32,
        /// The file's length.
        len: u64,
    },
    /// The root or freelist page lies outside the pages in use.
    #[error("meta page {meta} puts the {what} at page {pgid}, not below its high-water mark {high_water}")]
    MetaPointer {
        /// Which meta page.
        meta: u8,
        /// "root bucket" or "freelist".
        what: &'static str,
        /// The page it names.
        pgid: u64,
        /// The high-water mark.
        high_water: u64,
    },
    /// A page of the root bucket's tree is broken.
    #[error("page {pgid} of the root bucket: {fault}")]
    Page {
        /// The page.
        pgid: u64,
        /// What is wrong.
        fault: PageFault,
    },
    /// A bucket whose header or tree is broken.
    #[error("bucket {name:?} is broken: {reason}")]
    Bucket {
        /// The bucket.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Top-level buckets Trivy needs are missing.
    #[error("it has no top-level bucket {} (Trivy needs it to report any finding); it has {found} top-level buckets", missing.join(", "))]
    MissingBuckets {
        /// The missing buckets.
        missing: Vec<&'static str>,
        /// How many top-level buckets it has.
        found: u64,
    },
    /// Reading the file failed (the host's fault, not the file's).
    #[error("cannot read it")]
    Io(#[source] io::Error),
}

impl crate::error::Classify for BboltError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            BboltError::Io(_) => HostFailure,
            BboltError::Empty
            | BboltError::NoValidMeta { .. }
            | BboltError::PageSize(_)
            | BboltError::TooSmall { .. }
            | BboltError::Truncated { .. }
            | BboltError::MetaPointer { .. }
            | BboltError::Page { .. }
            | BboltError::Bucket { .. }
            | BboltError::MissingBuckets { .. } => Damaged,
        }
    }
}

impl BboltError {
    /// Whether the failure is the host's (reading the file) rather than the
    /// database's.
    pub fn is_host_failure(&self) -> bool {
        matches!(self, BboltError::Io(_))
    }
}

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

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
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

/// Positioned reads from the file being checked, or from the part of it
/// seen so far.
trait ReadAt {
    /// The file's length.
    fn len(&self) -> u64;
    /// Fills `buf` from `offset`; `Ok(false)` when those bytes are not
    /// available (past the end, or past what a stream has shown).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<bool>;
}

struct Head<'a> {
    bytes: &'a [u8],
    len: u64,
}

impl ReadAt for Head<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
        let end = offset.checked_add(buf.len() as u64);
        match end {
            Some(end) if end <= self.bytes.len() as u64 && end <= self.len => {
                buf.copy_from_slice(&self.bytes[offset as usize..end as usize]);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

struct FileAt<'a> {
    file: &'a File,
    len: u64,
}

impl ReadAt for FileAt<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
        match offset.checked_add(buf.len() as u64) {
            Some(end) if end <= self.len => {
                self.file.read_exact_at(buf, offset)?;
                Ok(true)
            }
            _ => Ok(false),
        }
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
fn open(src: &dyn ReadAt) -> Result<Opened, BboltError> {
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

/// Checks what can be checked from the first bytes of a `len`-byte file as
/// it streams past: the meta pages, the page size, the high-water mark
/// against `len`. `head` is the first `min(len, HEAD_LEN)` bytes (or fewer
/// if the stream ended early, which then fails here).
///
/// # Errors
/// Any [`BboltError`] but `Page`, `Bucket`,
/// `MissingBuckets` and `Io`.
pub fn check_head(head: &[u8], len: u64) -> Result<Opened, BboltError> {
    open(&Head { bytes: head, len })
}

/// What the walk of the root bucket found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// How the file opens.
    pub opened: Opened,
    /// Top-level buckets.
    pub buckets: u64,
    /// Pages of all the buckets' trees.
    pub pages: u64,
}

/// Runs every check on a whole file: [`check_head`]'s, the walk of the root
/// bucket's tree, and the required top-level buckets.
///
/// # Errors
/// Any [`BboltError`]; `Io` when reading the file fails.
pub fn check_file(file: &File) -> Result<Summary, BboltError> {
    let len = file.metadata().map_err(BboltError::Io)?.len();
    let src = FileAt { file, len };
    let opened = open(&src)?;
    walk(&src, opened)
}

/// A page read for the walk: its flags and element array.
struct PageRead {
    flags: u16,
    count: u16,
    /// File offset of the page.
    at: u64,
    /// Bytes it spans (with overflow pages).
    span: u64,
    elements: Vec<u8>,
}

fn read_page(src: &dyn ReadAt, o: &Opened, pgid: u64) -> Result<PageRead, BboltError> {
    let ps = u64::from(o.page_size);
    let fault = |fault| BboltError::Page { pgid, fault };
    let file_pages = o.len / ps;
    let outside = |pages| {
        fault(PageFault::Outside {
            pages,
            high_water: o.meta.high_water,
            file_pages,
        })
    };
    if pgid >= o.meta.high_water {
        return Err(outside(1));
    }
    let at = pgid * ps; // below the mark, so inside the file: no overflow
    let mut header = [0u8; PAGE_HEADER as usize];
    if !src.read_at(at, &mut header).map_err(BboltError::Io)? {
        return Err(outside(1));
    }
    let id = u64_at(&header, 0);
    let flags = u16_at(&header, 8);
    let count = u16_at(&header, 10);
    let overflow = u32_at(&header, 12);
    let pages = u64::from(overflow) + 1;
    if pgid + pages > o.meta.high_water {
        return Err(outside(pages));
    }
    if id != pgid {
        return Err(fault(PageFault::Id(id)));
    }
    if flags != BRANCH_PAGE && flags != LEAF_PAGE {
        return Err(fault(PageFault::Flags(flags)));
    }
    let span = pages * ps;
    let array = u64::from(count) * ELEMENT;
    if PAGE_HEADER + array > span {
        return Err(fault(PageFault::Count { count, span }));
    }
    let mut elements = vec![0u8; array as usize];
    if !src
        .read_at(at + PAGE_HEADER, &mut elements)
        .map_err(BboltError::Io)?
    {
        return Err(outside(pages));
    }
    Ok(PageRead {
        flags,
        count,
        at,
        span,
        elements,
    })
}

/// Where element `i`'s key starts and ends, checked against the page.
fn key_range(
    page: &PageRead,
    i: u16,
    pos: u32,
    ksize: u32,
    vsize: u32,
) -> Result<(u64, u64), PageFault> {
    let elem = PAGE_HEADER + u64::from(i) * ELEMENT;
    let start = elem + u64::from(pos);
    let end = start + u64::from(ksize) + u64::from(vsize);
    if end > page.span {
        return Err(PageFault::Element(i));
    }
    if ksize > MAX_KEY_SIZE {
        return Err(PageFault::KeySize {
            index: i,
            size: ksize,
        });
    }
    Ok((page.at + start, page.at + start + u64::from(ksize)))
}

/// Which pages a walk has reached: one bit per page below the high-water
/// mark (a 500 MB trivy.db has about 120,000 pages: 15 KiB).
struct PageSet(Vec<u64>);

impl PageSet {
    fn new(high_water: u64) -> PageSet {
        PageSet(vec![
            0;
            usize::try_from(high_water.div_ceil(64)).unwrap_or(0)
        ])
    }

    /// Marks `pgid`..`pgid + pages`; false if any was marked already.
    fn insert(&mut self, pgid: u64, pages: u64) -> bool {
        for p in pgid..pgid.saturating_add(pages) {
            let (word, bit) = ((p / 64) as usize, p % 64);
            let Some(w) = self.0.get_mut(word) else {
                return false;
            };
            if *w & (1 << bit) != 0 {
                return false;
            }
            *w |= 1 << bit;
        }
        true
    }
}

/// Where a bucket's tree starts.
#[derive(Debug, Clone, Copy)]
enum BucketRoot {
    /// A page of the file.
    Page(u64),
    /// A leaf page stored inside the bucket's value (bbolt's inline
    /// buckets), at this file offset, `len` bytes.
    Inline { at: u64, len: u64 },
}

/// A bucket found in a leaf: its name (path from the top) and where its
/// value lies.
struct FoundBucket {
    path: String,
    value_at: u64,
    vsize: u32,
    top_level: Option<&'static str>,
}

/// Walks every bucket's tree, the root bucket's first: every page of every
/// bucket is read once (a page reached twice, by a cycle or by two trees,
/// is refused), its header, elements and keys checked, keys ascending
/// within each tree. A broken page anywhere would make Trivy fail (or
/// panic) when a scan reaches it, whichever bucket holds it.
fn walk(src: &dyn ReadAt, o: Opened) -> Result<Summary, BboltError> {
    let mut seen = PageSet::new(o.meta.high_water);
    let mut pages = 0u64;
    let mut buckets = 0u64;
    let mut found: Vec<&'static str> = Vec::new();
    let mut queue: Vec<(BucketRoot, String, usize)> = Vec::new();
    let mut discovered = Vec::new();
    walk_tree(
        src,
        &o,
        BucketRoot::Page(o.meta.root),
        None,
        &mut seen,
        &mut pages,
        &mut discovered,
    )?;
    for b in discovered.drain(..) {
        buckets += 1;
        let root = bucket_root(src, &o, &b)?;
        if let Some(name) = b.top_level {
            found.push(name);
        }
        queue.push((root, b.path, 1));
    }
    while let Some((root, path, nesting)) = queue.pop() {
        if nesting > MAX_DEPTH {
            return Err(BboltError::Bucket {
                name: path,
                reason: format!("buckets nest more than {MAX_DEPTH} levels"),
            });
        }
        walk_tree(
            src,
            &o,
            root,
            Some(&path),
            &mut seen,
            &mut pages,
            &mut discovered,
        )?;
        for b in discovered.drain(..) {
            let root = bucket_root(src, &o, &b)?;
            queue.push((root, b.path, nesting + 1));
        }
    }
    let missing: Vec<&'static str> = REQUIRED_BUCKETS
        .iter()
        .copied()
        .filter(|r| !found.contains(r))
        .collect();
    if !missing.is_empty() {
        return Err(BboltError::MissingBuckets {
            missing,
            found: buckets,
        });
    }
    Ok(Summary {
        opened: o,
        buckets,
        pages,
    })
}

/// A page of an inline bucket, read from the bucket's value.
fn read_inline(src: &dyn ReadAt, at: u64, len: u64) -> Result<PageRead, PageFault> {
    let mut header = [0u8; PAGE_HEADER as usize];
    let readable = len >= PAGE_HEADER && src.read_at(at, &mut header).unwrap_or(false);
    if !readable {
        return Err(PageFault::Element(0));
    }
    let (flags, count) = (u16_at(&header, 8), u16_at(&header, 10));
    if flags != LEAF_PAGE {
        return Err(PageFault::Flags(flags));
    }
    let array = u64::from(count) * ELEMENT;
    if PAGE_HEADER + array > len {
        return Err(PageFault::Count { count, span: len });
    }
    let mut elements = vec![0u8; array as usize];
    if !src
        .read_at(at + PAGE_HEADER, &mut elements)
        .unwrap_or(false)
    {
        return Err(PageFault::Element(0));
    }
    Ok(PageRead {
        flags,
        count,
        at,
        span: len,
        elements,
    })
}

/// Walks one bucket's tree in key order; the buckets its leaves hold are
/// added to `found` (to be walked next). `path` is `None` for the root
/// bucket, whose faults are reported by page; a fault in any other bucket
/// names the bucket.
fn walk_tree(
    src: &dyn ReadAt,
    o: &Opened,
    root: BucketRoot,
    path: Option<&str>,
    seen: &mut PageSet,
    pages: &mut u64,
    found: &mut Vec<FoundBucket>,
) -> Result<(), BboltError> {
    let in_bucket = |pgid: u64, e: BboltError| match (path, e) {
        (Some(name), BboltError::Page { fault, .. }) => BboltError::Bucket {
            name: name.to_string(),
            reason: format!("its page {pgid}: {fault}"),
        },
        (_, e) => e,
    };
    let longest_required = REQUIRED_BUCKETS.iter().map(|b| b.len()).max().unwrap_or(0);
    let mut last_key: Option<Vec<u8>> = None;
    let mut stack = match root {
        BucketRoot::Page(p) => vec![(p, 0usize)],
        BucketRoot::Inline { .. } => Vec::new(),
    };
    let mut inline = match root {
        BucketRoot::Inline { at, len } => Some((at, len)),
        BucketRoot::Page(_) => None,
    };
    loop {
        let (pgid, page) = if let Some((at, len)) = inline.take() {
            let page = read_inline(src, at, len).map_err(|fault| BboltError::Bucket {
                name: path.unwrap_or("the root bucket").to_string(),
                reason: format!("its inline page: {fault}"),
            })?;
            (0, page)
        } else if let Some((pgid, depth)) = stack.pop() {
            let fault = |fault| in_bucket(pgid, BboltError::Page { pgid, fault });
            if depth > MAX_DEPTH {
                return Err(fault(PageFault::Depth));
            }
            let page = read_page(src, o, pgid).map_err(|e| in_bucket(pgid, e))?;
            if !seen.insert(pgid, page.span / u64::from(o.page_size)) {
                return Err(fault(PageFault::Cycle));
            }
            *pages += 1;
            if page.flags == BRANCH_PAGE {
                let e = &page.elements;
                if page.count == 0 {
                    return Err(fault(PageFault::EmptyBranch));
                }
                let mut children = Vec::with_capacity(page.count as usize);
                for i in 0..page.count {
                    let b = i as usize * ELEMENT as usize;
                    let (pos, ksize, child) = (u32_at(e, b), u32_at(e, b + 4), u64_at(e, b + 8));
                    key_range(&page, i, pos, ksize, 0).map_err(fault)?;
                    children.push(child);
                }
                // Popped in key order.
                stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
                continue;
            }
            (pgid, page)
        } else {
            return Ok(());
        };
        let fault = |fault| in_bucket(pgid, BboltError::Page { pgid, fault });
        let e = &page.elements;
        for i in 0..page.count {
            let b = i as usize * ELEMENT as usize;
            let (flags, pos, ksize, vsize) = (
                u32_at(e, b),
                u32_at(e, b + 4),
                u32_at(e, b + 8),
                u32_at(e, b + 12),
            );
            let (kstart, kend) = key_range(&page, i, pos, ksize, vsize).map_err(fault)?;
            let mut key = vec![0u8; (kend - kstart) as usize];
            if !src.read_at(kstart, &mut key).map_err(BboltError::Io)? {
                return Err(fault(PageFault::Element(i)));
            }
            if last_key.as_ref().is_some_and(|last| key <= *last) {
                return Err(fault(PageFault::Order(i)));
            }
            if flags & BUCKET_LEAF != 0 {
                let top_level = match path {
                    None if key.len() <= longest_required => REQUIRED_BUCKETS
                        .iter()
                        .copied()
                        .find(|r| r.as_bytes() == key.as_slice()),
                    _ => None,
                };
                let name = crate::text::escape(&String::from_utf8_lossy(&key)).into_owned();
                found.push(FoundBucket {
                    path: match path {
                        Some(p) => format!("{p}/{name}"),
                        None => name,
                    },
                    value_at: kend,
                    vsize,
                    top_level,
                });
            }
            last_key = Some(key);
        }
    }
}

/// Reads a bucket's header (bbolt's `openBucket`): 16 bytes {root pgid,
/// sequence}; an inline bucket (root 0) carries its leaf page right after.
fn bucket_root(src: &dyn ReadAt, o: &Opened, b: &FoundBucket) -> Result<BucketRoot, BboltError> {
    let broken = |reason: String| BboltError::Bucket {
        name: b.path.clone(),
        reason,
    };
    if u64::from(b.vsize) < BUCKET_HEADER {
        return Err(broken(format!(
            "its value is {} bytes, shorter than a bucket header",
            b.vsize
        )));
    }
    let mut header = [0u8; BUCKET_HEADER as usize];
    if !src
        .read_at(b.value_at, &mut header)
        .map_err(BboltError::Io)?
    {
        return Err(broken("its header lies past the end of the file".into()));
    }
    match u64_at(&header, 0) {
        0 => Ok(BucketRoot::Inline {
            at: b.value_at + BUCKET_HEADER,
            len: u64::from(b.vsize) - BUCKET_HEADER,
        }),
        root if root < o.meta.high_water => Ok(BucketRoot::Page(root)),
        root => Err(broken(format!(
            "its root page {root} is not below the high-water mark {}",
            o.meta.high_water
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: usize = 4096;

    /// A bbolt file built like the test fixture (tests/support/fixtures.rs):
    /// metas at 0 and 1, an empty freelist at 2, the root bucket's leaf at 3,
    /// then one leaf page per top-level bucket.
    fn bbolt(names: &[&str]) -> Vec<u8> {
        let mut names: Vec<&str> = names.to_vec();
        names.sort();
        let n = names.len() as u64;
        let high_water = 4 + n;
        let mut file = vec![0u8; high_water as usize * PS];
        // freelist
        file[2 * PS..2 * PS + 8].copy_from_slice(&2u64.to_le_bytes());
        file[2 * PS + 8..2 * PS + 10].copy_from_slice(&0x10u16.to_le_bytes());
        // root leaf
        let root = 3 * PS;
        file[root..root + 8].copy_from_slice(&3u64.to_le_bytes());
        file[root + 8..root + 10].copy_from_slice(&LEAF_PAGE.to_le_bytes());
        file[root + 10..root + 12].copy_from_slice(&(n as u16).to_le_bytes());
        let mut data = 16 + names.len() * 16;
        for (i, name) in names.iter().enumerate() {
            let e = root + 16 + i * 16;
            let child = 4 + i as u64;
            let mut value = child.to_le_bytes().to_vec();
            value.extend_from_slice(&0u64.to_le_bytes());
            file[e..e + 4].copy_from_slice(&BUCKET_LEAF.to_le_bytes());
            file[e + 4..e + 8].copy_from_slice(&((root + data - e) as u32).to_le_bytes());
            file[e + 8..e + 12].copy_from_slice(&(name.len() as u32).to_le_bytes());
            file[e + 12..e + 16].copy_from_slice(&16u32.to_le_bytes());
            let d = root + data;
            file[d..d + name.len()].copy_from_slice(name.as_bytes());
            file[d + name.len()..d + name.len() + 16].copy_from_slice(&value);
            data += name.len() + 16;
            let c = child as usize * PS;
            file[c..c + 8].copy_from_slice(&child.to_le_bytes());
            file[c + 8..c + 10].copy_from_slice(&LEAF_PAGE.to_le_bytes());
        }
        for (pgid, txid) in [(0usize, 0u64), (1, 1)] {
            write_meta(&mut file, pgid, 3, high_water, txid);
        }
        file
    }

    fn write_meta(file: &mut [u8], pgid: usize, root: u64, high_water: u64, txid: u64) {
        let p = pgid * PS;
        file[p..p + 8].copy_from_slice(&(pgid as u64).to_le_bytes());
        file[p + 8..p + 10].copy_from_slice(&0x04u16.to_le_bytes());
        let mut m = Vec::new();
        m.extend_from_slice(&MAGIC.to_le_bytes());
        m.extend_from_slice(&VERSION.to_le_bytes());
        m.extend_from_slice(&(PS as u32).to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.extend_from_slice(&root.to_le_bytes());
        m.extend_from_slice(&0u64.to_le_bytes());
        m.extend_from_slice(&2u64.to_le_bytes());
        m.extend_from_slice(&high_water.to_le_bytes());
        m.extend_from_slice(&txid.to_le_bytes());
        let sum = fnv1a64(&m);
        m.extend_from_slice(&sum.to_le_bytes());
        file[p + 16..p + 16 + 64].copy_from_slice(&m);
    }

    fn check(bytes: &[u8]) -> Result<Summary, BboltError> {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        let whole = check_file(&f);
        // The stream check agrees with the file check on the metas.
        let head = check_head(&bytes[..bytes.len().min(HEAD_LEN)], bytes.len() as u64);
        if let Ok(s) = &whole {
            assert_eq!(head.unwrap(), s.opened);
        }
        whole
    }

    const TRIVY: &[&str] = &["alpine 3.18", "data-source", "vulnerability"];

    #[test]
    fn a_well_formed_file_passes() {
        let s = check(&bbolt(TRIVY)).unwrap();
        assert_eq!(s.buckets, 3);
        assert_eq!((s.opened.meta_page, s.opened.meta.txid), (1, 1));
        assert_eq!(s.opened.page_size, 4096);
    }

    #[test]
    fn one_corrupt_meta_still_opens_through_the_other_as_bbolt_does() {
        for (bad, used) in [(0usize, 1u8), (1, 0)] {
            let mut f = bbolt(TRIVY);
            f[bad * PS + 16 + 20] ^= 0xff; // inside the root pgid: checksum fails
            let s = check(&f).unwrap();
            assert_eq!(s.opened.meta_page, used);
        }
    }

    #[test]
    fn both_metas_corrupt_is_refused_naming_both() {
        let mut f = bbolt(TRIVY);
        f[16 + 20] ^= 0xff;
        f[PS + 16 + 20] ^= 0xff;
        let e = check(&f).unwrap_err();
        assert!(matches!(e, BboltError::NoValidMeta { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with("meta page 0 has checksum 0x"), "{msg}");
        assert!(
            msg.contains("meta page 1 (offset 4096) has checksum"),
            "{msg}"
        );
    }

    #[test]
    fn random_bytes_are_refused_by_magic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let e = check(&noise).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("meta page 0 has magic 0x"), "{msg}");
        assert!(msg.contains("expected 0xed0cdaed"), "{msg}");
        assert!(matches!(check(&[]).unwrap_err(), BboltError::Empty));
    }

    #[test]
    fn the_higher_txid_wins_and_is_the_one_judged() {
        // Meta 1 (txid 1) claims a high-water mark past the end; meta 0 is fine.
        let mut f = bbolt(TRIVY);
        write_meta(&mut f, 1, 3, 1000, 1);
        let e = check(&f).unwrap_err();
        assert!(
            matches!(
                e,
                BboltError::Truncated {
                    meta: 1,
                    high_water: 1000,
                    ..
                }
            ),
            "{e}"
        );
        // With txid 0 on meta 1, meta 0 (txid 0, a tie) is used and all is well.
        write_meta(&mut f, 1, 3, 1000, 0);
        assert_eq!(check(&f).unwrap().opened.meta_page, 0);
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let f = bbolt(TRIVY);
        let e = check(&f[..f.len() / 2]).unwrap_err();
        assert!(matches!(e, BboltError::Truncated { .. }), "{e}");
        assert!(e.to_string().contains("it is truncated"), "{e}");
        let e = check(&f[..PS + 100]).unwrap_err();
        assert!(matches!(e, BboltError::TooSmall { .. }), "{e}");
    }

    #[test]
    fn a_missing_vulnerability_bucket_is_refused() {
        let e = check(&bbolt(&["alpine 3.18", "data-source"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it has no top-level bucket vulnerability (Trivy needs it to report any finding); it has 2 top-level buckets"
        );
        // A database with no OS or ecosystem bucket is useless but valid.
        check(&bbolt(&["vulnerability"])).unwrap();
    }

    #[test]
    fn a_cycle_in_the_tree_terminates_with_an_error() {
        // Turn the root leaf (page 3) into a branch whose one child is page 3.
        let mut f = bbolt(TRIVY);
        let root = 3 * PS;
        f[root + 8..root + 10].copy_from_slice(&BRANCH_PAGE.to_le_bytes());
        f[root + 10..root + 12].copy_from_slice(&1u16.to_le_bytes());
        f[root + 16..root + 20].copy_from_slice(&16u32.to_le_bytes()); // key after the element
        f[root + 20..root + 24].copy_from_slice(&1u32.to_le_bytes()); // 1-byte key
        f[root + 24..root + 32].copy_from_slice(&3u64.to_le_bytes()); // child: itself
        f[root + 32] = b'a';
        let e = check(&f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "page 3 of the root bucket: it is reached twice (the tree has a cycle)"
        );
    }

    #[test]
    fn a_huge_claimed_page_count_is_refused_without_allocating() {
        // High-water mark 2^60 pages: refused before any page is read.
        let mut f = bbolt(TRIVY);
        write_meta(&mut f, 0, 3, 1 << 60, 5);
        let e = check(&f).unwrap_err();
        assert!(matches!(e, BboltError::Truncated { meta: 0, .. }), "{e}");
        // A page claiming 2^32-1 overflow pages and 65535 elements.
        let mut f = bbolt(TRIVY);
        let root = 3 * PS;
        f[root + 10..root + 12].copy_from_slice(&u16::MAX.to_le_bytes());
        let e = check(&f).unwrap_err();
        assert!(
            matches!(
                e,
                BboltError::Page {
                    pgid: 3,
                    fault: PageFault::Count { .. }
                }
            ),
            "{e}"
        );
        f[root + 12..root + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = check(&f).unwrap_err();
        assert!(
            matches!(
                e,
                BboltError::Page {
                    pgid: 3,
                    fault: PageFault::Outside { .. }
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn pages_that_are_not_what_the_tree_says_are_refused() {
        // The root page's header names another page.
        let mut f = bbolt(TRIVY);
        f[3 * PS..3 * PS + 8].copy_from_slice(&9u64.to_le_bytes());
        assert!(matches!(
            check(&f).unwrap_err(),
            BboltError::Page {
                fault: PageFault::Id(9),
                ..
            }
        ));
        // The root is the freelist page.
        let mut f = bbolt(TRIVY);
        write_meta(&mut f, 1, 2, 7, 1);
        assert!(matches!(
            check(&f).unwrap_err(),
            BboltError::Page {
                fault: PageFault::Flags(0x10),
                ..
            }
        ));
        // The vulnerability bucket's root page is zeroed.
        let mut f = bbolt(TRIVY);
        let last = f.len() - PS;
        f[last..].fill(0);
        let e = check(&f).unwrap_err();
        assert!(
            matches!(&e, BboltError::Bucket { name, .. } if name == "vulnerability"),
            "{e}"
        );
        // An element pointing past its page.
        let mut f = bbolt(TRIVY);
        let e0 = 3 * PS + 16;
        f[e0 + 4..e0 + 8].copy_from_slice(&(PS as u32).to_le_bytes());
        assert!(matches!(
            check(&f).unwrap_err(),
            BboltError::Page {
                fault: PageFault::Element(0),
                ..
            }
        ));
        // Keys out of order.
        let mut f = bbolt(TRIVY);
        let first_key = 3 * PS + 16 + 3 * 16;
        f[first_key] = b'z';
        assert!(matches!(
            check(&f).unwrap_err(),
            BboltError::Page {
                fault: PageFault::Order(1),
                ..
            }
        ));
    }

    #[test]
    fn a_broken_page_in_any_bucket_is_refused_not_only_in_the_root() {
        // Trivy panics on these when a scan reaches the bucket ("invalid
        // page type", "slice bounds out of range"): pages 4.. are the
        // buckets' own leaves (alpine 3.18 first).
        let mut f = bbolt(TRIVY);
        f[4 * PS + 8..4 * PS + 10].copy_from_slice(&0x10u16.to_le_bytes());
        let e = check(&f).unwrap_err();
        assert!(
            matches!(&e, BboltError::Bucket { name, reason } if name == "alpine 3.18" && reason.contains("neither a branch nor a leaf")),
            "{e}"
        );
        let mut f = bbolt(TRIVY);
        f[4 * PS + 10..4 * PS + 12].copy_from_slice(&u16::MAX.to_le_bytes());
        let e = check(&f).unwrap_err();
        assert!(
            e.to_string().contains(
                "bucket \"alpine 3.18\" is broken: its page 4: its 65535 elements do not fit"
            ),
            "{e}"
        );
        // Two buckets sharing one page.
        let mut f = bbolt(TRIVY);
        let root = 3 * PS;
        let data = 16 + 3 * 16 + "alpine 3.18".len();
        f[root + data..root + data + 8].copy_from_slice(&5u64.to_le_bytes());
        let e = check(&f).unwrap_err();
        assert!(e.to_string().contains("reached twice"), "{e}");
        // Every bucket's pages are counted: root leaf plus three buckets.
        assert_eq!(check(&bbolt(TRIVY)).unwrap().pages, 4);
    }

    #[test]
    fn page_sizes_outside_the_bounds_are_refused() {
        let mut f = bbolt(TRIVY);
        for pgid in [0, 1] {
            let p = pgid * PS + 16;
            f[p + 8..p + 12].copy_from_slice(&3000u32.to_le_bytes());
            let sum = fnv1a64(&f[p..p + 56]);
            f[p + 56..p + 64].copy_from_slice(&sum.to_le_bytes());
        }
        let e = check(&f).unwrap_err();
        assert!(matches!(e, BboltError::PageSize(3000)), "{e}");
    }
}
