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
