//! The trust policy: which keys may vouch for a bundle, how many must, and
//! how fresh a bundle and its databases must be.
//!
//! Fails closed: an empty key list is an error, a signature by a trusted key
//! that does not verify is a refusal (the manifest was altered), and a bundle
//! without `threshold` valid signatures by distinct trusted keys (and the
//! per-role minimums) is refused. Signatures by keys the policy does not
//! know, or has revoked, are reported but never counted; one key listed
//! twice counts once.
//!
//! A policy comes from `--key` files (any one of them suffices) or from a
//! policy file (`--trust`, TOML; see `examples/trust.toml` and
//! [`TrustPolicy::from_toml`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::keys::{KeyError, KeyId, PublicKey, Signature};

/// Why a bundle's signatures do not satisfy the policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// No trusted keys were given.
    #[error("no trusted public keys were given\nhint: pass --key FILE.pub with the public key of whoever signed the bundle, or --trust POLICY.toml")]
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
    /// No valid signature by a trusted key at all.
    #[error("no signature by a trusted key: the bundle is signed by {}, this host trusts {}\nhint: pass --key with the public key of the bundle's signer, or get the bundle re-signed by a trusted key", list(signed_by), list(trusted))]
    NotTrusted {
        /// Who signed.
        signed_by: Vec<KeyId>,
        /// Who is trusted.
        trusted: Vec<KeyId>,
    },
    /// Fewer valid signatures by distinct trusted keys than the threshold.
    #[error("{counted} of the {threshold} required approvals: {}\nhint: get the bundle approved with `airlock sign BUNDLE --sign-key KEY` by another key the policy trusts", describe(signers))]
    BelowThreshold {
        /// Signatures counted.
        counted: usize,
        /// Signatures needed.
        threshold: usize,
        /// Every signature, as judged.
        signers: Vec<SignerReport>,
    },
    /// A role has fewer signatures than its minimum.
    #[error("the policy needs {need} approval(s) by role {role:?}, the bundle has {have}: {}\nhint: get the bundle approved with `airlock sign` by a key with that role", describe(signers))]
    RoleMinimum {
        /// The role.
        role: String,
        /// Its minimum.
        need: usize,
        /// Counted signatures by it.
        have: usize,
        /// Every signature, as judged.
        signers: Vec<SignerReport>,
    },
    /// The policy file is unusable.
    #[error("trust policy {path}: {reason}")]
    BadPolicy {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

fn list(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "nobody".to_string();
    }
    let v: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    format!("key {}", v.join(", key "))
}

fn describe(signers: &[SignerReport]) -> String {
    if signers.is_empty() {
        return "no signatures".into();
    }
    signers
        .iter()
        .map(|s| format!("{} {}", s.who(), s.status()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How one signature was judged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignerReport {
    /// The signing key's id (minisign form).
    pub key_id: String,
    /// The key's name in the policy, if it is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key's role in the policy, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Whether the key is trusted here (listed and not revoked).
    pub trusted: bool,
    /// Whether the policy revoked the key.
    pub revoked: bool,
    /// Whether the signature verified (only checked for trusted keys).
    pub verified: bool,
    /// Whether it counted towards the threshold.
    pub counted: bool,
    /// The signed comment (who, when).
    pub trusted_comment: String,
    /// The signing time from the trusted comment (`timestamp:`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

impl SignerReport {
    /// "key ID (name, role)".
    pub fn who(&self) -> String {
        match (&self.name, &self.role) {
            (Some(n), Some(r)) => format!("key {} ({n}, {r})", self.key_id),
            (Some(n), None) => format!("key {} ({n})", self.key_id),
            _ => format!("key {}", self.key_id),
        }
    }

    /// How it was judged, in words.
    pub fn status(&self) -> &'static str {
        match (self.revoked, self.trusted, self.verified, self.counted) {
            (true, ..) => "revoked by the policy, not counted",
            (_, false, ..) => "not trusted here, not counted",
            (_, true, false, _) => "INVALID",
            (_, true, true, true) => "valid, counted",
            (_, true, true, false) => "valid, same key as another signature, not counted again",
        }
    }
}

/// What to do about a bundle older than what is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downgrade {
    /// Refuse unless the import is forced (`--allow-downgrade`).
    WithFlag,
    /// Refuse, even when forced.
    Never,
}

/// One trusted key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// Its name (for messages and reports).
    pub name: Option<String>,
    /// Its role, for per-role minimums.
    pub role: Option<String>,
    /// The key.
    pub key: PublicKey,
}

/// The trust policy.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    keys: Vec<TrustedKey>,
    threshold: usize,
    role_minimums: BTreeMap<String, usize>,
    revoked: BTreeSet<KeyId>,
    /// The oldest a bundle may be (seconds since its `created`).
    pub max_age: Option<u64>,
    /// The oldest a database may be (seconds since its `UpdatedAt`).
    pub max_db_age: Option<u64>,
    /// Whether downgrades may be forced.
    pub downgrade: Downgrade,
}

/// The policy file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default = "one")]
    threshold: usize,
    #[serde(default)]
    roles: BTreeMap<String, usize>,
    #[serde(default)]
    revoked: Vec<String>,
    max_age: Option<String>,
    max_db_age: Option<String>,
    #[serde(default = "with_flag")]
    downgrade: String,
    #[serde(default, rename = "key")]
    keys: Vec<KeyEntry>,
}

fn one() -> usize {
    1
}

fn with_flag() -> String {
    "with-flag".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    role: Option<String>,
    /// The base64 line of a minisign public key.
    public_key: Option<String>,
    /// Or a public key file, relative to the policy file.
    file: Option<String>,
}

/// Parses a duration: a number and a unit (`s`, `m`, `h`, `d`, `w`).
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    let unit = t.chars().last()?;
    let n: u64 = t[..t.len() - unit.len_utf8()].trim().parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Seconds as a short human duration ("3d 4h").
pub fn human_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

impl TrustPolicy {
    /// Trust any of `keys` (threshold 1, no age limits).
    pub fn any_of(keys: Vec<PublicKey>) -> Result<Self, PolicyError> {
        if keys.is_empty() {
            return Err(PolicyError::NoTrustedKeys);
        }
        Ok(TrustPolicy {
            keys: keys
                .into_iter()
                .map(|key| TrustedKey {
                    name: None,
                    role: None,
                    key,
                })
                .collect(),
            threshold: 1,
            role_minimums: BTreeMap::new(),
            revoked: BTreeSet::new(),
            max_age: None,
            max_db_age: None,
            downgrade: Downgrade::WithFlag,
        })
    }

    /// Reads a policy file. Key `file`s are relative to the policy's
    /// directory.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let bad = |reason: String| PolicyError::BadPolicy {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| match e {
            PolicyError::BadPolicy { reason, .. } => bad(reason),
            e => e,
        })
    }

    /// Parses a policy (see `examples/trust.toml`).
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, PolicyError> {
        let bad = |reason: String| PolicyError::BadPolicy {
            path: "(text)".into(),
            reason,
        };
        let f: PolicyFile = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let mut keys = Vec::new();
        for k in &f.keys {
            let key = match (&k.public_key, &k.file) {
                (Some(b64), None) => {
                    PublicKey::from_text(&format!("untrusted comment: {}\n{b64}\n", k.name))
                        .map_err(|e| bad(format!("key {:?}: {e}", k.name)))?
                }
                (None, Some(file)) => PublicKey::from_file(&base.join(file))
                    .map_err(|e| bad(format!("key {:?}: {e}", k.name)))?,
                _ => {
                    return Err(bad(format!(
                        "key {:?} needs exactly one of public_key or file",
                        k.name
                    )))
                }
            };
            keys.push(TrustedKey {
                name: Some(k.name.clone()),
                role: k.role.clone(),
                key,
            });
        }
        let mut revoked = BTreeSet::new();
        for r in &f.revoked {
            let id = keys
                .iter()
                .map(|k| k.key.key_id())
                .find(|id| id.to_string().eq_ignore_ascii_case(r))
                .or_else(|| KeyId::from_hex(r))
                .ok_or_else(|| bad(format!("revoked {r:?} is not a key id (16 hex digits)")))?;
            revoked.insert(id);
        }
        let distinct: BTreeSet<KeyId> = keys
            .iter()
            .map(|k| k.key.key_id())
            .filter(|id| !revoked.contains(id))
            .collect();
        if distinct.is_empty() {
            return Err(PolicyError::NoTrustedKeys);
        }
        if f.threshold == 0 || f.threshold > distinct.len() {
            return Err(bad(format!(
                "threshold {} cannot be met by the {} distinct keys that are not revoked",
                f.threshold,
                distinct.len()
            )));
        }
        for (role, need) in &f.roles {
            let have: BTreeSet<KeyId> = keys
                .iter()
                .filter(|k| k.role.as_deref() == Some(role))
                .map(|k| k.key.key_id())
                .filter(|id| !revoked.contains(id))
                .collect();
            if *need > have.len() {
                return Err(bad(format!(
                    "role {role:?} needs {need} approvals but only {} keys have it",
                    have.len()
                )));
            }
        }
        let age = |what: &str, v: &Option<String>| -> Result<Option<u64>, PolicyError> {
            v.as_deref()
                .map(|s| {
                    parse_duration(s).ok_or_else(|| {
                        bad(format!(
                            "{what} {s:?} is not a duration such as 36h, 7d or 2w"
                        ))
                    })
                })
                .transpose()
        };
        let downgrade = match f.downgrade.as_str() {
            "with-flag" => Downgrade::WithFlag,
            "never" => Downgrade::Never,
            other => {
                return Err(bad(format!(
                    "downgrade {other:?} must be \"with-flag\" or \"never\""
                )))
            }
        };
        Ok(TrustPolicy {
            keys,
            threshold: f.threshold,
            role_minimums: f.roles.clone(),
            revoked,
            max_age: age("max_age", &f.max_age)?,
            max_db_age: age("max_db_age", &f.max_db_age)?,
            downgrade,
        })
    }

    /// The trusted keys (revoked ones included; see [`TrustPolicy::is_revoked`]).
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().map(|k| &k.key)
    }

    /// Whether the policy revoked `id`.
    pub fn is_revoked(&self, id: KeyId) -> bool {
        self.revoked.contains(&id)
    }

    /// How many approvals are needed.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The same keys with threshold 1 and no role minimums: what an
    /// existing signature must satisfy before another is added (`sign`), and
    /// what a part index signature must satisfy.
    pub fn any_trusted(&self) -> TrustPolicy {
        TrustPolicy {
            threshold: 1,
            role_minimums: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// The policy's name and role for `id`, if listed.
    pub fn describe_key(&self, id: KeyId) -> (Option<String>, Option<String>) {
        self.keys
            .iter()
            .find(|k| k.key.key_id() == id)
            .map(|k| (k.name.clone(), k.role.clone()))
            .unwrap_or_default()
    }

    /// Judges `signatures` over `message`: every signature by a trusted key
    /// must verify, and enough distinct trusted keys must have signed.
    pub fn evaluate(
        &self,
        message: &[u8],
        signatures: &[Signature],
    ) -> Result<Vec<SignerReport>, PolicyError> {
        if signatures.is_empty() {
            return Err(PolicyError::Unsigned);
        }
        let mut reports = Vec::with_capacity(signatures.len());
        let mut seen = BTreeSet::new();
        let mut counted_keys: BTreeSet<[u8; 32]> = BTreeSet::new();
        let mut by_role: BTreeMap<String, usize> = BTreeMap::new();
        for sig in signatures {
            let id = sig.key_id();
            if !seen.insert(id) {
                return Err(PolicyError::Duplicate(id));
            }
            let listed = self.keys.iter().find(|k| k.key.key_id() == id);
            let revoked = self.revoked.contains(&id);
            let (mut verified, mut counted) = (false, false);
            if let (Some(k), false) = (listed, revoked) {
                k.key
                    .verify(sig, message)
                    .map_err(|source| PolicyError::Invalid { key_id: id, source })?;
                verified = true;
                // The same key listed under two names counts once.
                counted = counted_keys.insert(k.key.bytes());
                if counted {
                    if let Some(r) = &k.role {
                        *by_role.entry(r.clone()).or_default() += 1;
                    }
                }
            }
            reports.push(SignerReport {
                key_id: id.to_string(),
                name: listed.and_then(|k| k.name.clone()),
                role: listed.and_then(|k| k.role.clone()),
                trusted: listed.is_some() && !revoked,
                revoked,
                verified,
                counted,
                trusted_comment: sig.trusted_comment().to_string(),
                timestamp: timestamp(sig.trusted_comment()),
            });
        }
        let counted = counted_keys.len();
        if counted == 0 {
            return Err(PolicyError::NotTrusted {
                signed_by: signatures.iter().map(|s| s.key_id()).collect(),
                trusted: self
                    .keys
                    .iter()
                    .map(|k| k.key.key_id())
                    .filter(|id| !self.revoked.contains(id))
                    .collect(),
            });
        }
        if counted < self.threshold {
            return Err(PolicyError::BelowThreshold {
                counted,
                threshold: self.threshold,
                signers: reports,
            });
        }
        for (role, need) in &self.role_minimums {
            let have = by_role.get(role).copied().unwrap_or(0);
            if have < *need {
                return Err(PolicyError::RoleMinimum {
                    role: role.clone(),
                    need: *need,
                    have,
                    signers: reports,
                });
            }
        }
        Ok(reports)
    }
}

/// The `timestamp:N` field of a trusted comment.
pub fn timestamp(trusted_comment: &str) -> Option<u64> {
    trusted_comment
        .split('\t')
        .find_map(|f| f.strip_prefix("timestamp:"))
        .and_then(|t| t.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn sign(k: &SecretKey, msg: &[u8]) -> Signature {
        k.sign(msg, "u", "timestamp:1").unwrap()
    }

    fn policy(keys: &[(&str, &str, &SecretKey)], extra: &str) -> TrustPolicy {
        let mut text = extra.to_string();
        for (name, role, k) in keys {
            text.push_str(&format!(
                "\n[[key]]\nname = {name:?}\nrole = {role:?}\npublic_key = {:?}\n",
                k.public_key().to_base64()
            ));
        }
        TrustPolicy::from_toml(&text, Path::new(".")).unwrap()
    }

    #[test]
    fn two_of_three() {
        let [a, b, c, stranger] = ["a", "b", "c", "s"].map(|n| SecretKey::generate(n).unwrap());
        let p = policy(
            &[
                ("alice", "builder", &a),
                ("bob", "approver", &b),
                ("carol", "approver", &c),
            ],
            "threshold = 2",
        );
        let m = b"manifest";
        let err = p.evaluate(m, &[sign(&a, m)]).unwrap_err();
        assert!(matches!(
            err,
            PolicyError::BelowThreshold {
                counted: 1,
                threshold: 2,
                ..
            }
        ));
        assert!(
            err.to_string().starts_with("1 of the 2 required approvals"),
            "{err}"
        );
        let ok = p.evaluate(m, &[sign(&a, m), sign(&b, m)]).unwrap();
        assert_eq!(ok.iter().filter(|r| r.counted).count(), 2);
        assert_eq!(ok[0].name.as_deref(), Some("alice"));
        // An unknown key is reported, not counted.
        let err = p
            .evaluate(m, &[sign(&a, m), sign(&stranger, m)])
            .unwrap_err();
        assert!(
            matches!(err, PolicyError::BelowThreshold { counted: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn revoked_keys_and_keys_listed_twice() {
        let [a, b, c] = ["a", "b", "c"].map(|n| SecretKey::generate(n).unwrap());
        let p = policy(
            &[
                ("alice", "builder", &a),
                ("bob", "approver", &b),
                ("carol", "approver", &c),
            ],
            &format!("threshold = 2\nrevoked = [\"{}\"]", b.key_id()),
        );
        let m = b"manifest";
        let err = p.evaluate(m, &[sign(&a, m), sign(&b, m)]).unwrap_err();
        let PolicyError::BelowThreshold { signers, .. } = &err else {
            panic!("{err}")
        };
        assert!(signers[1].revoked && !signers[1].counted);
        assert!(err.to_string().contains("revoked by the policy"), "{err}");
        p.evaluate(m, &[sign(&a, m), sign(&c, m)]).unwrap();

        // One key under two names counts once.
        let p = policy(
            &[
                ("alice", "builder", &a),
                ("alice-again", "approver", &a),
                ("bob", "approver", &b),
            ],
            "threshold = 2",
        );
        let err = p.evaluate(m, &[sign(&a, m)]).unwrap_err();
        assert!(
            matches!(err, PolicyError::BelowThreshold { counted: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn role_minimums_and_bad_policies() {
        let [a, b, c] = ["a", "b", "c"].map(|n| SecretKey::generate(n).unwrap());
        let p = policy(
            &[
                ("alice", "builder", &a),
                ("bob", "approver", &b),
                ("carol", "security-officer", &c),
            ],
            "threshold = 2\n[roles]\nsecurity-officer = 1",
        );
        let m = b"m";
        let err = p.evaluate(m, &[sign(&a, m), sign(&b, m)]).unwrap_err();
        assert!(
            err.to_string().contains("role \"security-officer\""),
            "{err}"
        );
        p.evaluate(m, &[sign(&a, m), sign(&c, m)]).unwrap();
        for bad in [
            "threshold = 0",
            "threshold = 4",
            "max_age = \"soon\"",
            "downgrade = \"sometimes\"",
            "unknown = 1",
        ] {
            let mut text = bad.to_string();
            text.push_str(&format!(
                "\n[[key]]\nname = \"a\"\npublic_key = {:?}\n",
                a.public_key().to_base64()
            ));
            assert!(
                TrustPolicy::from_toml(&text, Path::new(".")).is_err(),
                "{bad}"
            );
        }
        assert_eq!(parse_duration("36h"), Some(36 * 3600));
        assert_eq!(parse_duration("2w"), Some(14 * 86400));
        assert_eq!(human_duration(3 * 86400 + 4 * 3600 + 5), "3d 4h");
    }
}
