//! Split bundles: a bundle cut into parts of at most a given size (FAT32
//! sticks, DVDs, Blu-ray discs), described by a signed part index.
//!
//! For a bundle `B` the parts are `B.001`, `B.002`, ... (each a plain byte
//! range of `B`, so `cat B.0* > B` joins them), `B.parts` is the index (TOML:
//! the whole bundle's size and SHA-256, its manifest's SHA-256, and each
//! part's name, size and SHA-256), and `B.parts.minisig` is a minisign
//! signature of the index. Every part can thus be checked on its own, in any
//! order, before anything is joined ([`PartSet::check_part`]), and
//! [`PartsReader`] reads the parts as one stream without writing a joined
//! copy, checking each part's digest the moment its last byte is read.
//! Nothing here ever modifies or deletes a part.
//!
//! Nothing may follow the bundle: a part longer than the index says is
//! refused, as is a file named as the part after the last one, and the
//! joined stream goes through the bundle reader, which refuses any byte
//! after the bundle's zstd frame (so an index signed over a bundle with
//! bytes appended does not help).
//!
//! The index signature only names the parts; whether the bundle is trusted
//! is still decided by the signatures inside it.

mod check;
mod part_error;
mod part_index;
mod part_writer;
mod set;

pub use check::{PartCheck, PartsCheck};
pub use part_error::PartError;
pub use part_index::{existing_parts, is_part_name, parse_size, part_name, PRESETS};
pub use part_writer::{sums_path, write_sha256sums, PartWriter, PartsReport, WrittenParts};
pub use set::{locate, PartSet, PartsReader};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The index's file name suffix (`B.parts`).
pub const INDEX_SUFFIX: &str = ".parts";
/// The index signature's suffix (`B.parts.minisig`).
pub const SIGNATURE_SUFFIX: &str = ".parts.minisig";
/// `format` in the index.
pub const INDEX_FORMAT: &str = "airlock-parts";
/// `format_version` in the index.
pub const INDEX_VERSION: &str = "1.0";
/// The largest index accepted.
pub const MAX_INDEX: u64 = 1 << 20;
/// The most parts a set may have.
pub const MAX_PARTS: usize = 9999;
/// The smallest part size accepted.
pub const MIN_PART_SIZE: u64 = 64 << 10;

/// The signed description of a split bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartIndex {
    /// Always [`INDEX_FORMAT`].
    pub format: String,
    /// [`INDEX_VERSION`].
    pub format_version: String,
    /// The file name of the whole bundle (parts are `<bundle>.NNN`).
    pub bundle: String,
    /// The whole bundle's size.
    pub size: u64,
    /// The whole bundle's SHA-256.
    pub sha256: String,
    /// SHA-256 of the signed manifest inside the bundle.
    pub manifest_sha256: String,
    /// The parts, in order.
    #[serde(rename = "part")]
    pub parts: Vec<PartEntry>,
}

/// One part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartEntry {
    /// Its file name, `<bundle>.NNN`.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
}

/// `B.parts` for the bundle `B`.
pub fn index_path(bundle: &Path) -> PathBuf {
    with_suffix(bundle, INDEX_SUFFIX)
}

/// `B.parts.minisig` for `B.parts`.
pub fn signature_path(index_path: &Path) -> PathBuf {
    with_suffix(index_path, ".minisig")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::keys::SecretKey;
    use crate::policy::TrustPolicy;

    #[test]
    fn sizes_and_presets() {
        assert_eq!(parse_size("700M").unwrap(), 700 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4GB").unwrap(), 4_000_000_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("fat32").unwrap(), 4_294_967_295);
        assert_eq!(parse_size("DVD").unwrap(), 4_700_000_000);
        assert_eq!(parse_size("bd25").unwrap(), 25_000_000_000);
        for bad in ["", "M", "12X", "1K", "99999999999999999999G", "-5M"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writer_cuts_at_the_size_and_reader_joins() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = PartWriter::new(dir.path(), 100_000);
        for chunk in data.chunks(33_333) {
            w.write_all(chunk).unwrap();
        }
        let written = w.finish().unwrap();
        assert_eq!(written.size, 300_000);
        let key = SecretKey::generate("t").unwrap();
        let bundle = dir.path().join("b.airlock");
        let report = written
            .persist(&bundle, &"0".repeat(64), &key, 0, false)
            .unwrap();
        let sizes: Vec<u64> = report.index_content.parts.iter().map(|p| p.size).collect();
        assert_eq!(sizes, [100_000, 100_000, 100_000]);
        let policy = TrustPolicy::any_of(vec![key.public_key()]).unwrap();
        let set = PartSet::open(&report.index, Some(&policy)).unwrap();
        set.check_present().unwrap();
        let mut joined = Vec::new();
        set.reader().read_to_end(&mut joined).unwrap();
        assert_eq!(joined, data);
        assert_eq!(
            locate(&dir.path().join("b.airlock.002")).unwrap(),
            Some(report.index.clone())
        );
        assert_eq!(locate(&bundle).unwrap(), Some(report.index));
    }
}
