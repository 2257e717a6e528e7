//! The secret key file: `"Ed" || kdf_alg[2] || "B2" || salt[32] || opslimit[8]
//! || memlimit[8] || key_id[8] || sk[64] || checksum[32]`, unencrypted or
//! encrypted with scrypt from a passphrase as minisign does; reading it from
//! disk (refused when others may read it) and signing with it.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use zeroize::Zeroizing;

use super::{
    check_comment, comment_and_data, decode_exact, malformed, read_key_text, recognize, KeyError,
    KeyFileError, KeyId, KeyKind, PublicKey, Signature, ALG_LEGACY, UNTRUSTED_PREFIX,
};

const KDF_NONE: &[u8; 2] = &[0, 0];
const KDF_SCRYPT: &[u8; 2] = b"Sc";
const CHK_BLAKE2: &[u8; 2] = b"B2";
const SECRET_KEY_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;

/// Asked for the passphrase of an encrypted key file (`None`: there is none).
pub type PassphraseSource<'a> =
    dyn FnMut(&Path) -> Result<Option<Zeroizing<Vec<u8>>>, KeyFileError> + 'a;

/// A secret signing key. The key bytes are zeroed when it is dropped.
pub struct SecretKey {
    key_id: KeyId,
    key: SigningKey,
    comment: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, <redacted>)", self.key_id)
    }
}

impl SecretKey {
    /// A new random key pair.
    pub fn generate(comment: &str) -> Result<Self, KeyError> {
        check_comment(comment)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(KeyError::Random)?;
        let mut id = [0u8; 8];
        getrandom::getrandom(&mut id).map_err(KeyError::Random)?;
        Ok(SecretKey {
            key_id: KeyId(id),
            key: SigningKey::from_bytes(&seed),
            comment: comment.to_string(),
        })
    }

    /// A key from a fixed seed and id (test vectors only).
    pub fn from_seed(seed: [u8; 32], key_id: KeyId, comment: &str) -> Result<Self, KeyError> {
        check_comment(comment)?;
        let seed = Zeroizing::new(seed);
        Ok(SecretKey {
            key_id,
            key: SigningKey::from_bytes(&seed),
            comment: comment.to_string(),
        })
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The comment stored with the key (it becomes part of each signature's
    /// trusted comment).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Whether a secret key file's text is encrypted with a passphrase.
    pub fn is_encrypted(text: &str) -> bool {
        comment_and_data(text, "secret key")
            .ok()
            .and_then(|(_, data, _)| B64.decode(data).ok().map(Zeroizing::new))
            .is_some_and(|raw| raw.get(2..4) == Some(KDF_SCRYPT))
    }

    /// Parses an unencrypted minisign secret key file.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        Self::from_text_with(text, None)
    }

    /// Parses a minisign secret key file, decrypting it with `passphrase`
    /// when it is encrypted (scrypt, as minisign does).
    pub fn from_text_with(text: &str, passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        const WHAT: &str = "secret key";
        let (comment, data, _) = comment_and_data(text, WHAT)?;
        let mut raw: Zeroizing<[u8; SECRET_KEY_LEN]> = Zeroizing::new(decode_exact(data, WHAT)?);
        if &raw[0..2] != ALG_LEGACY {
            return Err(malformed(
                WHAT,
                "unsupported signature algorithm (expected Ed25519)",
            ));
        }
        let encrypted = &raw[2..4] == KDF_SCRYPT;
        if encrypted {
            let passphrase = passphrase.ok_or(KeyError::EncryptedSecretKey)?;
            let salt: [u8; 32] = raw[6..38].try_into().expect("32 bytes");
            let ops = u64::from_le_bytes(raw[38..46].try_into().expect("8 bytes"));
            let mem = u64::from_le_bytes(raw[46..54].try_into().expect("8 bytes"));
            let stream = kdf_stream(passphrase, &salt, ops, mem)?;
            for (b, k) in raw[54..].iter_mut().zip(stream.iter()) {
                *b ^= k;
            }
        } else if &raw[2..4] != KDF_NONE {
            return Err(malformed(WHAT, "unknown key derivation function"));
        }
        if &raw[4..6] != CHK_BLAKE2 {
            return Err(malformed(WHAT, "unknown checksum function"));
        }
        let key_id = KeyId(raw[54..62].try_into().expect("8 bytes"));
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(raw[62..94].try_into().expect("32 bytes"));
        let embedded_pk = &raw[94..126];
        let chk = &raw[126..158];
        // `minisign -G -W` leaves the checksum zeroed; when one is present it
        // must hold (for an encrypted key, a mismatch means a wrong passphrase).
        if (encrypted || chk.iter().any(|&b| b != 0))
            && chk != secret_key_checksum(&key_id, &raw[62..126])
        {
            return Err(if encrypted {
                KeyError::WrongPassphrase
            } else {
                KeyError::DamagedSecretKey
            });
        }
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes() != embedded_pk {
            return Err(KeyError::DamagedSecretKey);
        }
        let comment = comment.to_string();
        Ok(SecretKey {
            key_id,
            key,
            comment,
        })
    }

    /// Reads a secret key file. Like ssh, refuses a file that group or
    /// others may read: a secret key that leaked is no proof of anything.
    pub fn from_file(path: &Path) -> Result<Self, KeyFileError> {
        Self::from_file_with(path, &mut |_| Ok(None))
    }

    /// [`SecretKey::from_file`] for a key that may be encrypted: when it is,
    /// `passphrase(path)` is asked for the passphrase (`None`: there is none).
    pub fn from_file_with(
        path: &Path,
        passphrase: &mut PassphraseSource<'_>,
    ) -> Result<Self, KeyFileError> {
        SecretKeyFile::read(path)?.unlock(passphrase)
    }

    /// The secret key file, unencrypted, laid out as `minisign -G -W` writes it
    /// (but with the checksum filled in).
    pub fn to_text(&self) -> Zeroizing<String> {
        self.to_text_with(None).expect("no derivation, no failure")
    }

    /// The secret key file, encrypted with `passphrase` as `minisign -G`
    /// does (scrypt with minisign's parameters: 1 GiB, a few seconds), or
    /// unencrypted without one.
    pub fn to_text_with(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let mut raw = Zeroizing::new(Vec::with_capacity(SECRET_KEY_LEN));
        raw.extend_from_slice(ALG_LEGACY);
        raw.extend_from_slice(if passphrase.is_some() {
            KDF_SCRYPT
        } else {
            KDF_NONE
        });
        raw.extend_from_slice(CHK_BLAKE2);
        let mut salt = [0u8; 32];
        if passphrase.is_some() {
            getrandom::getrandom(&mut salt).map_err(KeyError::Random)?;
            raw.extend_from_slice(&salt);
            raw.extend_from_slice(&OPSLIMIT_SENSITIVE.to_le_bytes());
            raw.extend_from_slice(&MEMLIMIT_SENSITIVE.to_le_bytes());
        } else {
            raw.extend_from_slice(&[0u8; 32 + 8 + 8]);
        }
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        let chk = secret_key_checksum(&self.key_id, &raw[62..126]);
        raw.extend_from_slice(&chk);
        if let Some(p) = passphrase {
            let stream = kdf_stream(p, &salt, OPSLIMIT_SENSITIVE, MEMLIMIT_SENSITIVE)?;
            for (b, k) in raw[54..].iter_mut().zip(stream.iter()) {
                *b ^= k;
            }
        }
        Ok(Zeroizing::new(format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n",
            self.comment,
            B64.encode(raw.as_slice())
        )))
    }

    /// [`SecretKey::to_text_with`] that tells `progress` what the wait is
    /// when there is a passphrase: a phase `encrypting PATH (scrypt key
    /// derivation: 1.0 GiB of memory, a few seconds)` while the key is
    /// derived, `path` being where the key will be written, ended when it
    /// is done (issue 12). Without one it reports nothing.
    pub fn to_text_reporting(
        &self,
        passphrase: Option<&[u8]>,
        path: &Path,
        progress: &dyn crate::progress::Progress,
    ) -> Result<Zeroizing<String>, KeyError> {
        let Some(cost) = passphrase.and(UnlockCost::new(pick_params(
            OPSLIMIT_SENSITIVE,
            MEMLIMIT_SENSITIVE,
        ))) else {
            return self.to_text_with(passphrase);
        };
        progress.begin(&format!("encrypting {} ({cost})", path.display()), 0);
        let text = self.to_text_with(passphrase);
        progress.end();
        text
    }

    /// Signs `message` (legacy, non-prehashed "Ed" signature so that signify
    /// can check it too) with the given comments.
    pub fn sign(
        &self,
        message: &[u8],
        untrusted_comment: &str,
        trusted_comment: &str,
    ) -> Result<Signature, KeyError> {
        check_comment(untrusted_comment)?;
        check_comment(trusted_comment)?;
        let sig = self.key.sign(message).to_bytes();
        let mut signed = Vec::with_capacity(64 + trusted_comment.len());
        signed.extend_from_slice(&sig);
        signed.extend_from_slice(trusted_comment.as_bytes());
        let global_sig = self.key.sign(&signed).to_bytes();
        Ok(Signature {
            key_id: self.key_id,
            prehashed: false,
            sig,
            untrusted_comment: untrusted_comment.to_string(),
            trusted_comment: trusted_comment.to_string(),
            global_sig,
        })
    }
}

/// A secret key file read and recognized, not yet unlocked: what can be
/// checked before the passphrase and its scrypt run (seconds and 1 GiB),
/// in this order: that the file is a secret key at all (a public key or a
/// signature is refused as such, not for its permissions), then that group
/// and others cannot read it.
pub struct SecretKeyFile {
    path: PathBuf,
    text: Zeroizing<String>,
}

impl fmt::Debug for SecretKeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKeyFile({}, <redacted>)", self.path.display())
    }
}

impl SecretKeyFile {
    /// Reads the file at `path` and checks its kind, then its permissions.
    pub fn read(path: &Path) -> Result<Self, KeyFileError> {
        use std::os::unix::fs::PermissionsExt as _;
        let text = read_key_text(path, KeyKind::SecretKey)?;
        if recognize(&text) == KeyKind::SecretKey {
            let meta = std::fs::metadata(path)
                .map_err(crate::error::PathIo::at("cannot read key file", path))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        Ok(SecretKeyFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a passphrase is needed to unlock it.
    pub fn is_encrypted(&self) -> bool {
        SecretKey::is_encrypted(&self.text)
    }

    /// The public half, when it can be known without the passphrase: the
    /// key's own when it is not encrypted; for an encrypted key (whose key
    /// id and public half are encrypted with the rest), the public key file
    /// beside it (`bob.pub` for `bob.key`), if there is one. That file is
    /// only the key's holder's word (it may be stale): never refuse on it;
    /// whoever relies on it checks the unlocked key's own public half.
    pub fn public_key(&self) -> Option<PublicKey> {
        if !self.is_encrypted() {
            return SecretKey::from_text(&self.text)
                .ok()
                .map(|k| k.public_key());
        }
        let beside = super::kind::other_half(&self.path, KeyKind::PublicKey)?;
        PublicKey::from_file(&beside).ok()
    }

    /// Unlocks the key, asking `passphrase(path)` for the passphrase when
    /// it is encrypted.
    pub fn unlock(self, passphrase: &mut PassphraseSource<'_>) -> Result<SecretKey, KeyFileError> {
        self.unlock_reporting(passphrase, &crate::progress::NoProgress)
    }

    /// [`SecretKeyFile::unlock`] that tells `progress` what the wait is
    /// before the key derivation starts (after the passphrase is given): a
    /// phase `unlocking PATH (scrypt key derivation: 1.0 GiB of memory, a
    /// few seconds)`, ended when the key is open (issue 12). A key in
    /// clear opens at once and reports nothing.
    pub fn unlock_reporting(
        self,
        passphrase: &mut PassphraseSource<'_>,
        progress: &dyn crate::progress::Progress,
    ) -> Result<SecretKey, KeyFileError> {
        let pass = if self.is_encrypted() {
            passphrase(&self.path)?
        } else {
            None
        };
        let cost = pass.as_ref().and(self.unlock_cost());
        if let Some(cost) = &cost {
            progress.begin(&format!("unlocking {} ({cost})", self.path.display()), 0);
        }
        let key = SecretKey::from_text_with(&self.text, pass.as_ref().map(|p| p.as_slice()));
        if cost.is_some() {
            progress.end();
        }
        key.map_err(|source| KeyFileError::Key {
            path: self.path.clone(),
            source,
        })
    }

    /// Whether `other` holds the same key bytes (encrypted alike, or both
    /// in clear): the same key, known without unlocking either. Comments
    /// are not compared.
    pub(super) fn same_key_data(&self, other: &SecretKeyFile) -> bool {
        let data = |f: &SecretKeyFile| {
            comment_and_data(&f.text, "secret key")
                .ok()
                .and_then(|(_, d, _)| B64.decode(d).ok().map(Zeroizing::new))
        };
        matches!((data(self), data(other)), (Some(a), Some(b)) if a == b)
    }

    /// What unlocking the key costs, read from its scrypt parameters (which
    /// are not encrypted); `None` for a key in clear or one whose
    /// parameters airlock refuses (unlocking it fails at once).
    pub fn unlock_cost(&self) -> Option<UnlockCost> {
        let (_, data, _) = comment_and_data(&self.text, "secret key").ok()?;
        let raw: Zeroizing<[u8; SECRET_KEY_LEN]> =
            Zeroizing::new(decode_exact(data, "secret key").ok()?);
        if &raw[2..4] != KDF_SCRYPT {
            return None;
        }
        let ops = u64::from_le_bytes(raw[38..46].try_into().ok()?);
        let mem = u64::from_le_bytes(raw[46..54].try_into().ok()?);
        UnlockCost::new(pick_params(ops, mem))
    }
}

/// What unlocking an encrypted key costs: scrypt's working memory (128 x r
/// x N bytes; 1 GiB with minisign's parameters) and, with minisign's
/// parameters, about 2 s of one core (measured on a 2-core Xeon; the
/// process's peak memory is the same 1 GiB more than without the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlockCost {
    /// Bytes scrypt holds while it runs.
    pub memory: u64,
}

impl UnlockCost {
    /// The cost of scrypt with (log2 N, r, p); `None` for parameters
    /// airlock refuses.
    fn new(params: (u8, u32, u32)) -> Option<Self> {
        let memory = scrypt_memory(params)?;
        (memory <= MEMLIMIT_MAX).then_some(UnlockCost { memory })
    }
}

impl fmt::Display for UnlockCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scrypt key derivation: {} of memory, a few seconds",
            crate::text::bytes(self.memory)
        )
    }
}

/// scrypt's memory for (log2 N, r, p): 128 x r x N bytes; `None` if it
/// overflows.
fn scrypt_memory((log_n, r, _): (u8, u32, u32)) -> Option<u64> {
    128u64
        .checked_mul(u64::from(r))?
        .checked_mul(1u64.checked_shl(u32::from(log_n))?)
}

/// libsodium's `crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE`, which
/// minisign uses.
const OPSLIMIT_SENSITIVE: u64 = 33_554_432;
/// libsodium's `..._MEMLIMIT_SENSITIVE` (1 GiB).
const MEMLIMIT_SENSITIVE: u64 = 1_073_741_824;
/// The most memory a key file may ask scrypt for.
const MEMLIMIT_MAX: u64 = 4 << 30;

/// scrypt's N, r, p from libsodium's opslimit and memlimit, exactly as
/// libsodium picks them (so keys interoperate with minisign).
fn pick_params(opslimit: u64, memlimit: u64) -> (u8, u32, u32) {
    let ops = opslimit.max(32_768);
    let r: u64 = 8;
    let n_log2 = |max_n: u64| {
        let mut l = 1u8;
        while l < 63 && (1u64 << l) <= max_n / 2 {
            l += 1;
        }
        l
    };
    if ops < memlimit / 32 {
        (n_log2(ops / (r * 4)), r as u32, 1)
    } else {
        let l = n_log2(memlimit / (r * 128));
        let max_rp = ((ops / 4) / (1u64 << l)).min(0x3fff_ffff);
        (l, r as u32, ((max_rp / r) as u32).max(1))
    }
}

/// The 104-byte key stream that encrypts `key_id || sk || checksum`.
fn kdf_stream(
    passphrase: &[u8],
    salt: &[u8; 32],
    opslimit: u64,
    memlimit: u64,
) -> Result<Zeroizing<[u8; 104]>, KeyError> {
    let (log_n, r, p) = pick_params(opslimit, memlimit);
    let bad = KeyError::KdfParameters { opslimit, memlimit };
    let memory = scrypt_memory((log_n, r, p)).unwrap_or(u64::MAX);
    if memory > MEMLIMIT_MAX || p > 64 {
        return Err(bad);
    }
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|_| bad)?;
    let mut out = Zeroizing::new([0u8; 104]);
    scrypt::scrypt(passphrase, salt, &params, out.as_mut())
        .map_err(|_| KeyError::KdfParameters { opslimit, memlimit })?;
    Ok(out)
}

fn secret_key_checksum(key_id: &KeyId, sk: &[u8]) -> [u8; 32] {
    use blake2::digest::{Update, VariableOutput};
    let mut h = blake2::Blake2bVar::new(32).expect("32 is a valid BLAKE2b output size");
    h.update(ALG_LEGACY);
    h.update(&key_id.0);
    h.update(sk);
    let mut out = [0u8; 32];
    h.finalize_variable(&mut out)
        .expect("output buffer has the requested size");
    out
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{MINISIGN_KEY, MINISIGN_PUB};
    use super::*;

    #[test]
    fn minisign_secret_key_loads_and_signs() {
        let sk = SecretKey::from_text(MINISIGN_KEY).unwrap();
        let pk = PublicKey::from_text(MINISIGN_PUB).unwrap();
        assert_eq!(sk.public_key(), pk);
        let sig = sk.sign(b"msg", "u", "timestamp:1\tfile:x").unwrap();
        pk.verify(&sig, b"msg").unwrap();
        // Round trip through our own text form (with the checksum filled in).
        let again = SecretKey::from_text(&sk.to_text()).unwrap();
        assert_eq!(again.public_key(), pk);
    }

    #[test]
    fn damaged_secret_key_is_refused() {
        let sk = SecretKey::generate("c").unwrap();
        let text = sk.to_text();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut raw = B64.decode(&lines[1]).unwrap();
        raw[100] ^= 1; // inside the embedded public key
        lines[1] = B64.encode(&raw);
        let err = SecretKey::from_text(&lines.join("\n")).unwrap_err();
        assert!(matches!(err, KeyError::DamagedSecretKey), "{err}");
    }

    #[test]
    fn encrypted_secret_key_is_refused_clearly() {
        let mut raw = B64.decode(MINISIGN_KEY.lines().nth(1).unwrap()).unwrap();
        raw[2..4].copy_from_slice(b"Sc");
        let text = format!("untrusted comment: x\n{}\n", B64.encode(raw));
        assert!(matches!(
            SecretKey::from_text(&text),
            Err(KeyError::EncryptedSecretKey)
        ));
    }
}

#[cfg(test)]
mod kdf_tests {
    use super::*;

    #[test]
    fn scrypt_parameters_are_libsodiums() {
        // minisign's default (OPSLIMIT/MEMLIMIT_SENSITIVE): N = 2^20, r = 8, p = 1.
        assert_eq!(
            pick_params(OPSLIMIT_SENSITIVE, MEMLIMIT_SENSITIVE),
            (20, 8, 1)
        );
        // libsodium's INTERACTIVE pair (524288, 16 MiB): N = 2^14, r = 8, p = 1.
        assert_eq!(pick_params(524_288, 16_777_216), (14, 8, 1));
        // A key file asking for 64 GiB is refused before any allocation.
        let err = kdf_stream(b"x", &[0; 32], 1 << 40, 64 << 30).unwrap_err();
        assert!(matches!(err, KeyError::KdfParameters { .. }));
    }
}
