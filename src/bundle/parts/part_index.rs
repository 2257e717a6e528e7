//! The part index: part sizes, part names, reading and checking the index.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::PathIo;

use super::{PartError, PartIndex, INDEX_FORMAT, INDEX_VERSION, MAX_PARTS, MIN_PART_SIZE};

/// Parses a part size: bytes, with a unit (`K`, `M`, `G`, `T` and `KiB`...
/// are powers of 1024; `KB`, `MB`, `GB`, `TB` powers of 1000), or a preset
/// for common media (see [`PRESETS`]).
pub fn parse_size(text: &str) -> Result<u64, PartError> {
    let t = text.trim();
    if let Some((_, size, _)) = PRESETS.iter().find(|(n, ..)| n.eq_ignore_ascii_case(t)) {
        return Ok(*size);
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let bad = || {
        PartError::BadSize(format!(
            "{text:?} is not a size: give bytes with an optional unit (700M, 4G, 4GB, 1MiB) or one of {}",
            PRESETS.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ")
        ))
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        "T" | "TIB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let size = n.checked_mul(mult).ok_or_else(bad)?;
    if size < MIN_PART_SIZE {
        return Err(PartError::BadSize(format!(
            "{text:?} is smaller than the smallest part size, {MIN_PART_SIZE} bytes"
        )));
    }
    Ok(size)
}

/// Part-size presets: name, bytes, what it is for.
pub const PRESETS: &[(&str, u64, &str)] = &[
    (
        "fat32",
        (4 << 30) - 1,
        "the largest file FAT32 can hold (4 GiB - 1 byte)",
    ),
    ("cd", 700 << 20, "a 700 MB CD-R (700 MiB)"),
    ("dvd", 4_700_000_000, "a single-layer DVD±R (4.7 GB)"),
    ("dvd-dl", 8_500_000_000, "a dual-layer DVD±R (8.5 GB)"),
    (
        "bd25",
        25_000_000_000,
        "a single-layer Blu-ray disc (25 GB)",
    ),
    ("bd50", 50_000_000_000, "a dual-layer Blu-ray disc (50 GB)"),
];

/// The name of part `number` (1-based) of `bundle`.
pub fn part_name(bundle: &str, number: usize) -> String {
    format!("{bundle}.{number:03}")
}

/// Whether `file` is named as a part of `bundle`: the bundle's name, a dot
/// and three or more digits (what [`part_name`] writes, and what
/// `cat BUNDLE.0*` would pick up).
pub fn is_part_name(bundle: &str, file: &str) -> bool {
    file.strip_prefix(bundle)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Every file beside `bundle` named as one of its parts ([`is_part_name`]),
/// whatever its number: a new set must not be written beside any it does
/// not replace (verify refuses a part after the last; `cat` appends it).
/// Sorted; a folder that cannot be listed gives none (the writer finds out).
pub fn existing_parts(bundle: &Path) -> Vec<PathBuf> {
    let (Some(name), dir) = (
        bundle.file_name().and_then(|n| n.to_str()),
        crate::fsio::atomic::parent_dir(bundle),
    ) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|f| is_part_name(name, f))
        })
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort();
    found
}

pub(super) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, PartError> {
    let f = File::open(path).map_err(PathIo::at("cannot open", path))?;
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(PathIo::at("cannot read", path))?;
    if bytes.len() as u64 > max {
        return Err(PartError::BadIndex {
            path: path.to_path_buf(),
            reason: format!("larger than {max} bytes"),
        });
    }
    Ok(bytes)
}

impl PartIndex {
    /// Checks the index's own consistency (names, sizes, digests).
    pub fn validate(&self) -> Result<(), String> {
        if self.format != INDEX_FORMAT {
            return Err(format!("format is {:?}, not {INDEX_FORMAT:?}", self.format));
        }
        if self.format_version.split('.').next() != INDEX_VERSION.split('.').next() {
            return Err(format!(
                "format_version {:?} is not one this airlock reads ({INDEX_VERSION})",
                self.format_version
            ));
        }
        crate::manifest::check_plain_name(&self.bundle).map_err(|e| format!("bundle name: {e}"))?;
        if self.parts.is_empty() || self.parts.len() > MAX_PARTS {
            return Err(format!(
                "{} parts (1 to {MAX_PARTS} allowed)",
                self.parts.len()
            ));
        }
        for d in std::iter::once(&self.sha256)
            .chain(std::iter::once(&self.manifest_sha256))
            .chain(self.parts.iter().map(|p| &p.sha256))
        {
            if d.len() != 64 || !d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(format!("{d:?} is not a sha256 (64 lowercase hex digits)"));
            }
        }
        let mut total = 0u64;
        for (i, p) in self.parts.iter().enumerate() {
            let want = part_name(&self.bundle, i + 1);
            if p.name != want {
                return Err(format!(
                    "part {} is named {:?}, not {want:?}",
                    i + 1,
                    p.name
                ));
            }
            if p.size == 0 {
                return Err(format!("part {} is empty", i + 1));
            }
            total = total
                .checked_add(p.size)
                .ok_or_else(|| "part sizes overflow".to_string())?;
        }
        if total != self.size {
            return Err(format!(
                "the parts add up to {total} bytes, the bundle is {}",
                self.size
            ));
        }
        Ok(())
    }

    /// The index as written (TOML).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the part index serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_are_the_bundle_a_dot_and_three_or_more_digits() {
        for yes in [
            "b.airlock.001",
            "b.airlock.000",
            "b.airlock.1000",
            "b.airlock.0012",
        ] {
            assert!(is_part_name("b.airlock", yes), "{yes}");
        }
        for no in [
            "b.airlock",
            "b.airlock.01",
            "b.airlock.001x",
            "b.airlock.parts",
            "b.airlock.parts.minisig",
            "xb.airlock.001",
            "b.airlock.sha256sums",
        ] {
            assert!(!is_part_name("b.airlock", no), "{no}");
        }
        let t = tempfile::tempdir().unwrap();
        for f in [
            "b.airlock.002",
            "b.airlock.009",
            "b.airlock.parts",
            "c.airlock.001",
        ] {
            std::fs::write(t.path().join(f), b"").unwrap();
        }
        assert_eq!(
            existing_parts(&t.path().join("b.airlock")),
            [
                t.path().join("b.airlock.002"),
                t.path().join("b.airlock.009")
            ]
        );
    }
}
