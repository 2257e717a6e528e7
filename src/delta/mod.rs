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
//! Each frame's reference is read from the base with positioned reads
//! into one heap buffer reused across frames (no memory maps: a base
//! truncated by another process while it is read gives a read error, not
//! a SIGBUS). References never move back, so the part of the previous
//! window that the next one keeps is kept, not read again: every byte of
//! the base is read at most once per apply, and moved inside the buffer
//! at most four times (the bytes before the window are dropped only once
//! they are a quarter of it: a reference creeping forward a byte a frame
//! does not move 64 MiB a frame). The heap holds the reference's buffer
//! (at most 1.25 [`MAX_REF`], 80 MiB, when references creep forward by
//! less than a quarter of their length), one chunk's output and its
//! compressed frame (two compressed candidates when encoding), plus zstd's
//! tables: at the defaults (16 MiB chunks, 64 MiB references) about
//! 100 MiB (116 MiB at most) whatever the database's size. A reference is the whole base when it fits
//! [`EncodeOptions::max_ref`], else a window of it around the chunk's
//! relative position (databases rebuilt from scratch keep their order, so
//! what changed lies near where it was; data that moved further is
//! carried as new bytes, still correct, only larger).
//!
//! # Security
//!
//! Every field of a delta is hostile, even under a valid signature:
//! [`apply`] checks the header against the base file and the expected
//! length, bounds every chunk (at least [`MIN_CHUNK`] bytes unless the
//! result is one chunk, at most [`MAX_CHUNK`], a frame no larger than
//! zstd's bound for it, a reference inside the base, at most [`MAX_REF`]
//! bytes long and never moving back), all before any work, refuses
//! a frame whose header asks for a window over 2 GiB, decodes each frame
//! into a buffer of exactly its stated size (a frame that decodes to more
//! fails inside zstd, before anything is written), and refuses trailing
//! bytes.

mod apply;
mod encode;
mod error;
mod frame;
mod header;
mod window;

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod measure_tests;
#[cfg(test)]
mod review2_tests;

pub use apply::{apply, ApplySummary};
pub use encode::{encode, EncodeOptions, EncodeSummary};
pub use error::DeltaError;

#[cfg(test)]
pub(crate) use apply::apply_within;
#[cfg(test)]
pub(crate) use encode::encode_within;

/// The magic at the start of every delta.
pub const MAGIC: [u8; 8] = *b"AIRDLT01";

/// The largest chunk [`apply`] accepts: 16 MiB, what [`encode`] writes.
/// [`apply`] holds one chunk's output and its compressed frame (at most
/// zstd's bound of it) in the heap, so this bounds the importer's heap
/// (about 33 MiB) whatever a signed delta's header says.
pub const MAX_CHUNK: u64 = 16 << 20;

/// The shortest chunk [`apply`] accepts, unless the whole result is one
/// chunk: 1 MiB. Each frame has a fixed cost (a record, a reference to
/// set up, a decoder reset, tens of microseconds); with 1-byte chunks a
/// signed delta of S bytes could hold S/40 frames and burn minutes of CPU
/// where a genuine one takes a second. At 1 MiB the fixed cost is under
/// 1 % of a frame's decoding and hashing, and the number of frames is at
/// most the signed result length / 1 MiB, plus one. [`encode`] writes
/// 16 MiB chunks and never fewer than this.
pub const MIN_CHUNK: u64 = 1 << 20;

/// The longest reference [`apply`] accepts: 64 MiB, [`DEFAULT_REF`]. The
/// reference is read into the heap before a frame is decoded, so this
/// bounds the importer's heap whatever a signed record says; [`encode`]
/// never uses a longer one.
pub const MAX_REF: u64 = 64 << 20;

/// The largest window a frame may ask for: zstd's maximum, 2 GiB.
pub const MAX_WINDOW_LOG: u32 = 31;

/// The chunk length [`encode`] uses unless told otherwise: 16 MiB.
pub const DEFAULT_CHUNK: u64 = 16 << 20;

/// The reference window [`encode`] uses unless told otherwise: 64 MiB (the
/// chunk and 24 MiB either side, at the chunk's relative position in the
/// base). Measured on 256 MiB rebuilt databases, a whole-base reference
/// gave deltas no smaller (1.92 % against 1.91 % for bbolt pages) for 3.7
/// times the resident memory when encoding.
pub const DEFAULT_REF: u64 = MAX_REF;

/// The bounds [`apply`] enforces and [`encode`] keeps to. Only the codec's
/// own tests lower them (to exercise many frames on small inputs); the
/// public functions always use [`Limits::SPEC`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The shortest chunk, unless the result is one chunk.
    pub min_chunk: u64,
    /// The longest reference.
    pub max_ref: u64,
}

impl Limits {
    /// The specification's bounds (SPEC 1.3, "delta payload").
    pub const SPEC: Limits = Limits {
        min_chunk: MIN_CHUNK,
        max_ref: MAX_REF,
    };
}
