//! Delta codec (issue 13): a database file carried as a zstd patch-from
//! delta against the version the other side already has.
//!
//! [`encode`] writes a delta of `new` against `base`; [`apply`] rebuilds
//! `new` from `base` and the delta, writing exactly the length the signed
//! manifest states and returning the SHA-256 of what it wrote (the caller
//! compares it with the manifest before it installs anything).
//!
//! # Format (little-endian, SPEC 1.3 "delta payload")
//!
//! ```text
//! header   "AIRDLT01" | base_len u64 | new_len u64 | chunk_len u64
//! frame*   ref_offset u64 | ref_len u64 | out_len u64 | frame_len u64 | zstd frame
//! ```
//!
//! `new` is cut into chunks of `chunk_len` bytes (the last may be shorter);
//! each is one independent zstd frame compressed against the reference
//! prefix `base[ref_offset .. ref_offset + ref_len]`. The frames follow in
//! order, their `out_len`s sum to `new_len`, and nothing follows the last.
//! Each frame states its content size (equal to `out_len`), carries a
//! content checksum and no dictionary id.
//!
//! # Memory
//!
//! The base (and, when encoding, the new file) is memory-mapped, so the
//! reference costs page cache, not heap, and is never loaded twice. One
//! chunk is in memory at a time (its compressed frame and its output), so
//! the heap stays near `2 * chunk_len` plus zstd's tables whatever the
//! database's size. zstd's window is at most 2 GiB (window log 31): while
//! `base_len + chunk_len` fits, every frame refers to the whole base (data
//! that moved anywhere is still found); beyond it, each frame refers to a
//! window of the base around the same relative position.
//!
//! # Security
//!
//! Every field of a delta is hostile, even under a valid signature:
//! [`apply`] checks the header against the base file and the expected
//! length, bounds every chunk (at most [`MAX_CHUNK`] bytes, a frame no
//! larger than zstd's bound for it, a reference inside the base), refuses
//! a frame whose header asks for a window over 2 GiB, decodes each frame
//! into a buffer of exactly its stated size (a frame that decodes to more
//! fails inside zstd, before anything is written), and refuses trailing
//! bytes.

mod apply;
mod encode;
mod error;
mod frame;
mod header;
mod map;

#[cfg(test)]
mod codec_tests;

pub use apply::{apply, ApplySummary};
pub use encode::{encode, EncodeOptions, EncodeSummary};
pub use error::DeltaError;

/// The magic at the start of every delta.
pub const MAGIC: [u8; 8] = *b"AIRDLT01";

/// The largest chunk [`apply`] accepts (it allocates this much for one
/// chunk's output): 256 MiB.
pub const MAX_CHUNK: u64 = 256 << 20;

/// The largest window a frame may ask for: zstd's maximum, 2 GiB.
pub const MAX_WINDOW_LOG: u32 = 31;

/// The chunk length [`encode`] uses unless told otherwise: 64 MiB.
pub const DEFAULT_CHUNK: u64 = 64 << 20;
