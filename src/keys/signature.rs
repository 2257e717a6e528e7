//! The signature (`.minisig`): `alg[2] || key_id[8] || sig[64]`, then the
//! trusted comment and the global signature over `sig || trusted_comment`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::{
    comment_and_data, decode_exact, malformed, KeyError, KeyId, ALG_LEGACY, MAX_COMMENT,
    UNTRUSTED_PREFIX,
};

const TRUSTED_PREFIX: &str = "trusted comment: ";
const ALG_PREHASHED: &[u8; 2] = b"ED";

/// A minisign signature with its comments.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    pub(super) key_id: KeyId,
    pub(super) prehashed: bool,
    pub(super) sig: [u8; 64],
    pub(super) untrusted_comment: String,
    pub(super) trusted_comment: String,
    pub(super) global_sig: [u8; 64],
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}, {:?})", self.key_id, self.trusted_comment)
    }
}

impl Signature {
    /// The id of the key that made it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted (signed) comment.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// The untrusted comment.
    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// Whether the message was pre-hashed with BLAKE2b-512 ("ED").
    pub fn is_prehashed(&self) -> bool {
        self.prehashed
    }

    /// Parses a `.minisig` file.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "signature";
        let (untrusted, data, mut rest) = comment_and_data(text, WHAT)?;
        let raw: [u8; 74] = decode_exact(data, WHAT)?;
        let prehashed = match &raw[..2] {
            a if a == ALG_LEGACY => false,
            a if a == ALG_PREHASHED => true,
            _ => return Err(malformed(WHAT, "unsupported signature algorithm")),
        };
        let key_id = KeyId(raw[2..10].try_into().expect("8 bytes"));
        let sig: [u8; 64] = raw[10..].try_into().expect("64 bytes");
        let trusted = rest
            .next()
            .and_then(|l| l.strip_prefix(TRUSTED_PREFIX))
            .ok_or_else(|| {
                malformed(
                    WHAT,
                    format!("the third line must start with {TRUSTED_PREFIX:?}"),
                )
            })?;
        let global_line = rest
            .next()
            .ok_or_else(|| malformed(WHAT, "the global signature line is missing"))?;
        let global_sig: [u8; 64] = decode_exact(global_line.trim(), WHAT)?;
        if rest.any(|l| !l.trim().is_empty()) {
            return Err(malformed(
                WHAT,
                "unexpected lines after the global signature",
            ));
        }
        if untrusted.len() > MAX_COMMENT || trusted.len() > MAX_COMMENT {
            return Err(malformed(WHAT, "comment too long"));
        }
        Ok(Signature {
            key_id,
            prehashed,
            sig,
            untrusted_comment: untrusted.to_string(),
            trusted_comment: trusted.strip_suffix('\r').unwrap_or(trusted).to_string(),
            global_sig,
        })
    }

    /// The `.minisig` file text.
    pub fn to_text(&self) -> String {
        let mut raw = Vec::with_capacity(74);
        raw.extend_from_slice(if self.prehashed {
            ALG_PREHASHED
        } else {
            ALG_LEGACY
        });
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.sig);
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            B64.encode(raw),
            self.trusted_comment,
            B64.encode(self.global_sig)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{MINISIGN_PUB, SIG_LEGACY, SIG_PREHASHED};
    use super::super::PublicKey;
    use super::*;

    #[test]
    fn minisign_vectors_verify() {
        let pk = PublicKey::from_text(MINISIGN_PUB).unwrap();
        assert_eq!(pk.key_id().to_string(), "28474E173E2D034E");
        for text in [SIG_PREHASHED, SIG_LEGACY] {
            let sig = Signature::from_text(text).unwrap();
            pk.verify(&sig, b"hello\n").unwrap();
            assert!(matches!(
                pk.verify(&sig, b"hello!\n"),
                Err(KeyError::BadSignature(_))
            ));
            assert_eq!(Signature::from_text(&sig.to_text()).unwrap(), sig);
        }
    }

    #[test]
    fn altered_trusted_comment_is_detected() {
        let pk = PublicKey::from_text(MINISIGN_PUB).unwrap();
        let text = SIG_LEGACY.replace("timestamp:1795644362", "timestamp:1795644363");
        let sig = Signature::from_text(&text).unwrap();
        assert!(matches!(
            pk.verify(&sig, b"hello\n"),
            Err(KeyError::BadCommentSignature(_))
        ));
    }
}
