//! One key named twice on one command (issue 12). A bundle signed twice by
//! one key id is refused by every reader (its signature entries must be
//! unique), and a trust policy counts a key once however many signatures it
//! made: a second signature by one key adds no approval. So the keys that
//! sign one bundle are distinct, and one key given twice is refused, not
//! quietly used once: the user meant two signers, or named one twice by
//! mistake, and either way should know.
//!
//! [`unlock_each`] refuses it as early as it can be known: the same file
//! under one name or two, or two files with the same key bytes (a copy),
//! before any passphrase is asked or scrypt run (seconds and 1 GiB each);
//! the same key stored twice in other forms (re-encrypted, or without the
//! checksum `minisign -G -W` leaves out) once both are open.
//! [`first_repeated`] is the same rule for keys already open.

use std::path::{Path, PathBuf};

use super::{KeyFileError, KeyId, PassphraseSource, SecretKey, SecretKeyFile};
use crate::progress::Progress;

/// Reads the secret key files at `paths` (each told by its kind and held
/// to its permissions, all before any passphrase), refuses one key given
/// twice ([`KeyFileError::SameKey`], [`KeyFileError::SameKeyId`]), and
/// unlocks each key once, in order, reporting each derivation's wait to
/// `progress`.
pub fn unlock_each(
    paths: &[PathBuf],
    passphrase: &mut PassphraseSource<'_>,
    progress: &dyn Progress,
) -> Result<Vec<SecretKey>, KeyFileError> {
    let files = paths
        .iter()
        .map(|p| SecretKeyFile::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, file) in files.iter().enumerate() {
        if let Some(first) = files[..i].iter().find(|f| f.same_key_data(file)) {
            return Err(same_key(first.path(), file.path()));
        }
    }
    let mut keys: Vec<(PathBuf, SecretKey)> = Vec::with_capacity(files.len());
    for file in files {
        let path = file.path().to_path_buf();
        let key = file.unlock_reporting(passphrase, progress)?;
        if let Some((first, k)) = keys.iter().find(|(_, k)| one_key(k, &key)) {
            return Err(if k.public_key().bytes() == key.public_key().bytes() {
                same_key(first, &path)
            } else {
                KeyFileError::SameKeyId {
                    first: first.clone(),
                    again: path,
                    key_id: key.key_id(),
                }
            });
        }
        keys.push((path, key));
    }
    Ok(keys.into_iter().map(|(_, k)| k).collect())
}

/// The key id of the first key in `keys` that repeats an earlier one (the
/// same public key, or the same key id), if any.
pub fn first_repeated(keys: &[SecretKey]) -> Option<KeyId> {
    keys.iter()
        .enumerate()
        .find(|(i, k)| keys[..*i].iter().any(|e| one_key(e, k)))
        .map(|(_, k)| k.key_id())
}

/// Whether two keys would sign as one: the same key, or the same key id
/// (the bundle's signature entry is named by it).
fn one_key(a: &SecretKey, b: &SecretKey) -> bool {
    a.key_id() == b.key_id() || a.public_key().bytes() == b.public_key().bytes()
}

fn same_key(first: &Path, again: &Path) -> KeyFileError {
    KeyFileError::SameKey {
        first: first.to_path_buf(),
        again: again.to_path_buf(),
    }
}

/// What a refusal of one key given twice says.
pub(super) fn same_key_words(first: &Path, again: &Path) -> String {
    if first == again {
        format!(
            "the secret key {} is given twice; each key signs a bundle once",
            crate::text::path(first)
        )
    } else {
        format!(
            "{} and {} hold the same secret key; each key signs a bundle once",
            crate::text::path(first),
            crate::text::path(again)
        )
    }
}

/// The hint for one key given twice.
pub(crate) const GIVE_EACH_ONCE: &str = "give each signer's key once: a second signature by one key adds no approval (a trust policy counts each key once), and every reader refuses a bundle signed twice by one key";

#[cfg(test)]
#[path = "distinct_tests.rs"]
mod tests;
