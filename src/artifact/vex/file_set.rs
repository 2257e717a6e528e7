//! The set of file paths an archive holds, as index.json is checked
//! against it.

use std::hash::{BuildHasher as _, RandomState};

/// The paths of the files under the archive's folder, kept as 128-bit
/// hashes (16 bytes a file, whatever the length of its path) so that
/// index.json's locations can be looked up after the walk.
///
/// # Security
///
/// Two different paths with the same hash would let index.json name a
/// document the archive lacks (a consistency check, not a trust decision:
/// the archive's bytes are proven by the signed manifest either way). The
/// hashes are SipHash under a key drawn at random for each process
/// ([`RandomState`]), two of them per path, so no archive can be built to
/// collide: the chance of any accidental collision among a million files
/// and ten million locations is about 2^-84.
pub(super) struct FileSet {
    key: RandomState,
    hashes: Vec<u128>,
}

impl FileSet {
    pub(super) fn new() -> Self {
        FileSet {
            key: RandomState::new(),
            hashes: Vec::new(),
        }
    }

    fn hash(&self, path: &str) -> u128 {
        let hi = self.key.hash_one((0u8, path));
        let lo = self.key.hash_one((1u8, path));
        (u128::from(hi) << 64) | u128::from(lo)
    }

    pub(super) fn insert(&mut self, path: &str) {
        let h = self.hash(path);
        self.hashes.push(h);
    }

    /// Ends the inserts (the walker refuses duplicate names, so there are
    /// none to remove).
    pub(super) fn seal(&mut self) {
        self.hashes.sort_unstable();
    }

    pub(super) fn contains(&self, path: &str) -> bool {
        self.hashes.binary_search(&self.hash(path)).is_ok()
    }
}
