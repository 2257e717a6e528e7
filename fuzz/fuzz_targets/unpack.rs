//! The archive walkers that run on inner layers (tar.gz) and VEX archives
//! (zip), under limits like the ones a manifest declares: any bytes must give
//! totals within the limits or an error, never a panic or a runaway.
//!
//! The zip central directory walker (`unpack::zipdir`) gets the bytes twice:
//! as they are, and as the body of an archive whose end record is made here
//! (entry count and directory offset from the first four bytes), so the
//! fuzzer reaches the central directory records and local headers without
//! first having to find a valid end record.
#![no_main]

use airlock::unpack::{self, zipdir, Discard, Limits};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_bytes: 1 << 20,
    max_entries: 64,
    max_data: 1 << 20,
    max_dirs: 256,
};

/// `body` followed by an end of central directory record counting
/// `entries`, whose directory starts at `cd_offset` and runs to the record.
fn with_end_record(body: &[u8], entries: u16, cd_offset: usize) -> Vec<u8> {
    let cd_offset = cd_offset.min(body.len());
    let mut out = body.to_vec();
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&((body.len() - cd_offset) as u32).to_le_bytes());
    out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out
}

fn zip(data: &[u8]) {
    let mut keep = |p: &str, _| Some(p.to_string());
    let scanned = zipdir::scan("fuzz.zip", &mut std::io::Cursor::new(data), LIMITS.max_entries);
    if let Ok(d) = &scanned {
        assert!(d.len() as u64 <= LIMITS.max_entries);
    }
    let cursor = std::io::Cursor::new(data);
    if let Ok(t) = unpack::zip("fuzz.zip", cursor, LIMITS, &mut keep, &mut Discard) {
        assert!(t.bytes <= LIMITS.max_bytes && t.entries <= LIMITS.max_entries);
        assert!(t.dirs <= LIMITS.max_dirs);
        // What the walker accepted, the central directory check accepted,
        // entry for entry.
        let d = scanned.expect("the walker accepted what the directory check refused");
        assert_eq!(d.len() as u64, t.entries);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut keep = |p: &str, _| Some(p.to_string());
    if let Ok(t) = unpack::tar_gz("fuzz.tar.gz", data, LIMITS, &mut keep, &mut Discard) {
        assert!(t.bytes <= LIMITS.max_bytes && t.entries <= LIMITS.max_entries);
        assert!(t.dirs <= LIMITS.max_dirs);
    }
    zip(data);
    if let [a, b, c, d, body @ ..] = data {
        let entries = u16::from_le_bytes([*a, *b]);
        let cd_offset = usize::from(u16::from_le_bytes([*c, *d]));
        zip(&with_end_record(body, entries, cd_offset));
    }
});
