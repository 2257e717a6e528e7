//! The archive walkers that run on inner layers (tar.gz) and VEX archives
//! (zip), under limits like the ones a manifest declares: any bytes must give
//! totals within the limits or an error, never a panic or a runaway.
#![no_main]

use airlock::unpack::{self, Discard, Limits};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_bytes: 1 << 20,
    max_entries: 64,
    max_data: 1 << 20,
};

fuzz_target!(|data: &[u8]| {
    let mut keep = |p: &str, _| Some(p.to_string());
    if let Ok(t) = unpack::tar_gz("fuzz.tar.gz", data, LIMITS, &mut keep, &mut Discard) {
        assert!(t.bytes <= LIMITS.max_bytes && t.entries <= LIMITS.max_entries);
    }
    let cursor = std::io::Cursor::new(data);
    if let Ok(t) = unpack::zip("fuzz.zip", cursor, LIMITS, &mut keep, &mut Discard) {
        assert!(t.bytes <= LIMITS.max_bytes && t.entries <= LIMITS.max_entries);
    }
});
