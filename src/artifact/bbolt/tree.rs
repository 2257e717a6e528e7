//! The walk of every bucket's tree: pages read and checked, each reached
//! once, keys ascending, nested buckets found and walked in turn.

use super::{
    u16_at, u32_at, u64_at, BboltError, Opened, PageFault, ReadAt, Summary, BRANCH_PAGE,
    BUCKET_HEADER, BUCKET_LEAF, ELEMENT, LEAF_PAGE, MAX_DEPTH, MAX_KEY_SIZE, PAGE_HEADER,
    REQUIRED_BUCKETS,
};

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
pub(super) fn walk(src: &dyn ReadAt, o: Opened) -> Result<Summary, BboltError> {
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
            let fault = |fault: PageFault| in_bucket(pgid, BboltError::Page { pgid, fault });
            if depth > MAX_DEPTH {
                return Err(fault(PageFault::Depth));
            }
            let page = read_page(src, o, pgid).map_err(|e| in_bucket(pgid, e))?;
            if !seen.insert(pgid, page.span / u64::from(o.page_size)) {
                return Err(fault(PageFault::Cycle));
            }
            *pages += 1;
            if page.flags == BRANCH_PAGE {
                let children = branch_children(&page, &fault)?;
                // Popped in key order.
                stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
                continue;
            }
            (pgid, page)
        } else {
            return Ok(());
        };
        let fault = |fault: PageFault| in_bucket(pgid, BboltError::Page { pgid, fault });
        leaf_elements(src, &page, path, &mut last_key, found, &fault)?;
    }
}

/// The children of a branch page, in key order, each element's key checked
/// against the page.
fn branch_children(
    page: &PageRead,
    fault: &dyn Fn(PageFault) -> BboltError,
) -> Result<Vec<u64>, BboltError> {
    let e = &page.elements;
    if page.count == 0 {
        return Err(fault(PageFault::EmptyBranch));
    }
    let mut children = Vec::with_capacity(page.count as usize);
    for i in 0..page.count {
        let b = i as usize * ELEMENT as usize;
        let (pos, ksize, child) = (u32_at(e, b), u32_at(e, b + 4), u64_at(e, b + 8));
        key_range(page, i, pos, ksize, 0).map_err(fault)?;
        children.push(child);
    }
    Ok(children)
}

/// Checks a leaf page's elements: each key inside the page, read, and
/// greater than the one before (`last_key`, across the tree's leaves); the
/// buckets the leaf holds are added to `found`.
fn leaf_elements(
    src: &dyn ReadAt,
    page: &PageRead,
    path: Option<&str>,
    last_key: &mut Option<Vec<u8>>,
    found: &mut Vec<FoundBucket>,
    fault: &dyn Fn(PageFault) -> BboltError,
) -> Result<(), BboltError> {
    let longest_required = REQUIRED_BUCKETS.iter().map(|b| b.len()).max().unwrap_or(0);
    let e = &page.elements;
    for i in 0..page.count {
        let b = i as usize * ELEMENT as usize;
        let (flags, pos, ksize, vsize) = (
            u32_at(e, b),
            u32_at(e, b + 4),
            u32_at(e, b + 8),
            u32_at(e, b + 12),
        );
        let (kstart, kend) = key_range(page, i, pos, ksize, vsize).map_err(fault)?;
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
        *last_key = Some(key);
    }
    Ok(())
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
