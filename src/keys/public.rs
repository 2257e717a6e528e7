//! The public key: `"Ed" || key_id[8] || pk[32]`, base64 under an untrusted
//! comment line (or the bare base64 line `minisign -P` takes).

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use blake2::{Blake2b512, Digest as _};
use ed25519_dalek::VerifyingKey;

use super::{
    comment_and_data, decode_exact, malformed, read_key_text, KeyError, KeyFileError, KeyId,
    KeyKind, Signature, ALG_LEGACY, UNTRUSTED_PREFIX,
};

/// A trusted public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub(super) key_id: KeyId,
    pub(super) key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id)
    }
}

impl PublicKey {
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key bytes.
    pub fn bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Parses a public key file (comment line + base64 line), or a bare
    /// base64 line as `minisign -P` takes it.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "public key";
        let data = if text.trim_start().starts_with(UNTRUSTED_PREFIX) {
            comment_and_data(text.trim_start(), WHAT)?.1
        } else {
            text.trim()
        };
        let raw: [u8; 42] = decode_exact(data, WHAT)?;
        if &raw[..2] != ALG_LEGACY {
            return Err(malformed(
                WHAT,
                "unsupported signature algorithm (expected Ed25519)",
            ));
        }
        let key_id = KeyId(raw[2..10].try_into().expect("8 bytes"));
        let pk: [u8; 32] = raw[10..].try_into().expect("32 bytes");
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| malformed(WHAT, "not a valid Ed25519 point"))?;
        Ok(PublicKey { key_id, key })
    }

    /// Reads a public key file. A secret key or a signature given instead
    /// is refused as such ([`KeyFileError::WrongKind`]), its content unsaid.
    pub fn from_file(path: &Path) -> Result<Self, KeyFileError> {
        let text = read_key_text(path, KeyKind::PublicKey)?;
        PublicKey::from_text(&text).map_err(|source| KeyFileError::Key {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The base64 line alone.
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(ALG_LEGACY);
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        B64.encode(raw)
    }

    /// The public key file, as minisign writes it.
    pub fn to_text(&self, comment: &str) -> String {
        format!("{UNTRUSTED_PREFIX}{comment}\n{}\n", self.to_base64())
    }

    /// Checks `sig` over `message` with this key, including its trusted comment.
    pub fn verify(&self, sig: &Signature, message: &[u8]) -> Result<(), KeyError> {
        if sig.key_id != self.key_id {
            return Err(KeyError::KeyIdMismatch {
                found: sig.key_id,
                expected: self.key_id,
            });
        }
        // Fuzz builds only (`cargo fuzz` sets `--cfg fuzzing`): a signature by
        // the right key id passes without its Ed25519 check, so the fuzzer
        // can reach the parsers that run after verification.
        if cfg!(fuzzing) {
            return Ok(());
        }
        let signature = ed25519_dalek::Signature::from_bytes(&sig.sig);
        let ok = if sig.prehashed {
            let h = Blake2b512::digest(message);
            self.key.verify_strict(&h, &signature)
        } else {
            self.key.verify_strict(message, &signature)
        };
        ok.map_err(|_| KeyError::BadSignature(self.key_id))?;
        let global = ed25519_dalek::Signature::from_bytes(&sig.global_sig);
        let mut signed = Vec::with_capacity(64 + sig.trusted_comment.len());
        signed.extend_from_slice(&sig.sig);
        signed.extend_from_slice(sig.trusted_comment.as_bytes());
        self.key
            .verify_strict(&signed, &global)
            .map_err(|_| KeyError::BadCommentSignature(self.key_id))
    }
}
