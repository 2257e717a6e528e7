//! The bundle file: a zstd-compressed tar whose first entry is the manifest,
//! then the signatures over it, then the payloads in manifest order. The
//! file is exactly one zstd frame: [`writer`] writes one, and [`reader`]
//! refuses any byte after it (nothing unsigned rides along).
//!
//! That order is what lets [`reader`] check the signatures before it reads a
//! single payload byte, and check every payload as it streams past, holding
//! nothing in memory but one buffer. `bundle-spec/SPEC.md` is the normative
//! description; this module implements it.

pub mod parts;
pub mod reader;
pub mod report;
pub mod signing;
pub mod writer;

use crate::keys::KeyId;

/// Path of the manifest entry (always the first entry).
pub const MANIFEST_PATH: &str = "airlock/manifest.toml";
/// Folder of the signature entries (right after the manifest).
pub const SIGNATURE_DIR: &str = "airlock/signatures/";
/// Largest manifest accepted (1 MiB).
pub const MAX_MANIFEST: u64 = 1 << 20;
/// Largest signature file accepted.
pub const MAX_SIGNATURE: u64 = 4096;
/// Most signatures a bundle may carry.
pub const MAX_SIGNATURES: usize = 64;
/// zstd window limit for readers (128 MiB; writers use far less).
pub const WINDOW_LOG_MAX: u32 = 27;
/// The zstd frame magic number.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Path of the signature entry for `key_id`.
pub fn signature_path(key_id: KeyId) -> String {
    format!("{SIGNATURE_DIR}{key_id}.minisig")
}
