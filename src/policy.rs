//! The trust policy: which keys may vouch for a bundle, and how many must.
//!
//! Fails closed: an empty key list is an error, a signature by a trusted key
//! that does not verify is a refusal (the manifest was altered), and a bundle
//! with no valid signature by a trusted key is refused. Signatures by keys
//! the policy does not know are reported but never counted.

use crate::keys::{KeyError, KeyId, PublicKey, Signature};

/// Why a bundle's signatures do not satisfy the policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// No trusted keys were given.
    #[error("no trusted public keys were given\nhint: pass --key FILE.pub with the public key of whoever signed the bundle")]
    NoTrustedKeys,
    /// The bundle carries no signatures at all.
    #[error("the bundle carries no signatures; airlock accepts only signed bundles")]
    Unsigned,
    /// A signature by a trusted key does not match the manifest.
    #[error("signature by trusted key {key_id} does not verify: the manifest was altered after signing, or the signature damaged\ncause: {source}")]
    Invalid {
        /// The key.
        key_id: KeyId,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// Two signatures by one key.
    #[error("the bundle carries two signatures by key {0}; each key may sign once")]
    Duplicate(KeyId),
    /// Not enough valid signatures by trusted keys.
    #[error("no signature by a trusted key: the bundle is signed by {}, this host trusts {}\nhint: pass --key with the public key of the bundle's signer, or get the bundle re-signed by a trusted key", list(signed_by), list(trusted))]
    NotTrusted {
        /// Who signed.
        signed_by: Vec<KeyId>,
        /// Who is trusted.
        trusted: Vec<KeyId>,
    },
}

fn list(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "nobody".to_string();
    }
    let v: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    format!("key {}", v.join(", key "))
}

/// How one signature was judged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignerReport {
    /// The signing key's id (minisign form).
    pub key_id: String,
    /// Whether the key is trusted here.
    pub trusted: bool,
    /// Whether the signature verified (only checked for trusted keys).
    pub verified: bool,
    /// The signed comment (who, when).
    pub trusted_comment: String,
}

/// A set of trusted keys, any one of which suffices.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    keys: Vec<PublicKey>,
}

impl TrustPolicy {
    /// Trust any of `keys`.
    pub fn any_of(keys: Vec<PublicKey>) -> Result<Self, PolicyError> {
        if keys.is_empty() {
            return Err(PolicyError::NoTrustedKeys);
        }
        Ok(TrustPolicy { keys })
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Judges `signatures` over `message`.
    pub fn evaluate(
        &self,
        message: &[u8],
        signatures: &[Signature],
    ) -> Result<Vec<SignerReport>, PolicyError> {
        if signatures.is_empty() {
            return Err(PolicyError::Unsigned);
        }
        let mut reports = Vec::with_capacity(signatures.len());
        let mut seen = std::collections::BTreeSet::new();
        let mut valid = 0usize;
        for sig in signatures {
            if !seen.insert(sig.key_id()) {
                return Err(PolicyError::Duplicate(sig.key_id()));
            }
            let key = self.keys.iter().find(|k| k.key_id() == sig.key_id());
            let verified = match key {
                Some(k) => {
                    k.verify(sig, message)
                        .map_err(|source| PolicyError::Invalid {
                            key_id: sig.key_id(),
                            source,
                        })?;
                    valid += 1;
                    true
                }
                None => false,
            };
            reports.push(SignerReport {
                key_id: sig.key_id().to_string(),
                trusted: key.is_some(),
                verified,
                trusted_comment: sig.trusted_comment().to_string(),
            });
        }
        if valid == 0 {
            return Err(PolicyError::NotTrusted {
                signed_by: signatures.iter().map(|s| s.key_id()).collect(),
                trusted: self.keys.iter().map(|k| k.key_id()).collect(),
            });
        }
        Ok(reports)
    }
}
