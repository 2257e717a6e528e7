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

mod meta;
#[cfg(test)]
mod tests;
mod tree;

use meta::open;
pub use meta::{fnv1a64, Meta, Opened};
use tree::walk;

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

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
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
