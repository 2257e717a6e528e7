//! The trust policy: which keys may vouch for a bundle, how many must, and
//! how fresh a bundle and its databases must be.
//!
//! Fails closed: an empty key list is an error, a signature by a trusted key
//! that does not verify is a refusal (the manifest was altered), and a bundle
//! without `threshold` valid signatures by distinct trusted keys (and the
//! per-role minimums) is refused. Signatures by keys the policy does not
//! know, or has revoked, are reported but never counted.
//!
//! A key is its 32 public key bytes, everywhere here: a minisign key id is
//! only a label the key's holder chose (a signature names its key by id, and
//! one key may be listed under several ids or names). So one key listed
//! twice counts once (towards the threshold, the loader's count of distinct
//! keys, and the role minimums), revoking a key by any of its ids revokes it
//! under all of them, and a policy that gives one key two roles, or two
//! different keys one id, is refused when it is loaded.
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
    #[error("no trusted public keys were given")]
    NoTrustedKeys,
    /// The bundle carries no signatures at all.
    #[error("the bundle carries no signatures; airlock accepts only signed bundles")]
    Unsigned,
    /// A signature by a trusted key does not match the manifest.
    #[error("signature by trusted key {key_id} does not verify: the manifest was altered after signing, or the signature damaged")]
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
    #[error(
        "no signature by a trusted key: the bundle is signed by {}, this host trusts {}{}",
        list(signed_by),
        list(trusted),
        revocations(revoked)
    )]
    NotTrusted {
        /// Who signed.
        signed_by: Vec<KeyId>,
        /// Who is trusted.
        trusted: Vec<KeyId>,
        /// The signatures by keys the policy lists but revoked, judged.
        revoked: Vec<SignerReport>,
    },
    /// Fewer valid signatures by distinct trusted keys than the threshold.
    #[error(
        "{counted} of the {threshold} required approvals: {}",
        describe(signers)
    )]
    BelowThreshold {
        /// Signatures counted.
        counted: usize,
        /// Signatures needed.
        threshold: usize,
        /// Every signature, as judged.
        signers: Vec<SignerReport>,
    },
    /// A role has fewer signatures than its minimum.
    #[error(
        "the policy needs {need} approval(s) by role {role:?}, the bundle has {have}: {}",
        describe(signers)
    )]
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
        /// What to do, when airlock knows.
        hint: Option<&'static str>,
    },
}

impl crate::error::Classify for PolicyError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // Without a usable policy nothing can be proven either.
            PolicyError::NoTrustedKeys
            | PolicyError::Unsigned
            | PolicyError::Invalid { .. }
            | PolicyError::Duplicate(_)
            | PolicyError::NotTrusted { .. }
            | PolicyError::BelowThreshold { .. }
            | PolicyError::RoleMinimum { .. }
            | PolicyError::BadPolicy { .. } => NotProven,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            PolicyError::NoTrustedKeys => Some(Hint::Flag(FlagHint::TrustKeys)),
            PolicyError::NotTrusted { revoked, .. } if revoked.is_empty() => Some(Hint::Flag(FlagHint::SignerKey)),
            PolicyError::NotTrusted { .. } => Hint::text("a revoked key's signature never counts, under any of its key ids: get the bundle re-signed by a key the policy trusts"),
            PolicyError::BelowThreshold { .. } => Some(Hint::Flag(FlagHint::SignAgain)),
            PolicyError::RoleMinimum { .. } => Hint::text("get the bundle approved with `airlock sign` by a key with that role"),
            PolicyError::BadPolicy { hint, .. } => hint.and_then(Hint::text),
            PolicyError::Invalid { source, .. } => source.hint(),
            PolicyError::Unsigned | PolicyError::Duplicate(_) => None,
        }
    }
}

fn list(ids: &[KeyId]) -> String {
    if ids.is_empty() {
        return "nobody".to_string();
    }
    let v: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    format!("key {}", v.join(", key "))
}

fn revocations(revoked: &[SignerReport]) -> String {
    revoked
        .iter()
        .map(|s| format!("\n{} {}", s.who(), s.status()))
        .collect()
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
    /// Whether the policy revoked the key (its public key, under any id).
    pub revoked: bool,
    /// The `revoked` entry that revoked it (`key ID` or `public key`),
    /// when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_as: Option<String>,
    /// The other listings of the same public key in the policy (`name (key
    /// ID)`): one key, counted once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_listed_as: Vec<String>,
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
    /// "key ID (name, role)", and the key's other listings, if any.
    pub fn who(&self) -> String {
        let who = match (&self.name, &self.role) {
            (Some(n), Some(r)) => format!("key {} ({n}, {r})", self.key_id),
            (Some(n), None) => format!("key {} ({n})", self.key_id),
            _ => format!("key {}", self.key_id),
        };
        if self.also_listed_as.is_empty() {
            return who;
        }
        format!(
            "{who} [the same public key is also listed as {}]",
            self.also_listed_as.join(", ")
        )
    }

    /// How it was judged, in words.
    pub fn status(&self) -> String {
        match (self.revoked, self.trusted, self.verified, self.counted) {
            (true, ..) => match &self.revoked_as {
                Some(r) if *r != format!("key {}", self.key_id) => {
                    format!("revoked by the policy (its public key is revoked as {r}), not counted")
                }
                _ => "revoked by the policy, not counted".into(),
            },
            (_, false, ..) => "not trusted here, not counted".into(),
            (_, true, false, _) => "INVALID".into(),
            (_, true, true, true) => "valid, counted".into(),
            (_, true, true, false) => {
                "valid, same key as another signature, not counted again".into()
            }
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
    /// Revoked public keys, each with the `revoked` entries that named it.
    revoked: BTreeMap<[u8; 32], Vec<String>>,
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

/// Checks that the listed keys name each key unambiguously: one key id is
/// one public key, and one public key has one role.
/// A refusal is its reason and what to do about it.
fn check_listing(keys: &[TrustedKey]) -> Result<(), (String, &'static str)> {
    let label = |k: &TrustedKey| match &k.name {
        Some(n) => format!("{n:?} (key {})", k.key.key_id()),
        None => format!("key {}", k.key.key_id()),
    };
    let with_role = |k: &TrustedKey| {
        let role = match &k.role {
            Some(r) => format!("role {r:?}"),
            None => "no role".to_string(),
        };
        match &k.name {
            Some(n) => format!("{n:?} (key {}, {role})", k.key.key_id()),
            None => format!("key {} ({role})", k.key.key_id()),
        }
    };
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[..i] {
            let same_key = a.key.bytes() == b.key.bytes();
            if a.key.key_id() == b.key.key_id() && !same_key {
                return Err((
                    format!(
                        "{} and {} are two different public keys with the same key id: a signature names its key only by id, so it could not be told which one signed",
                        label(b),
                        label(a)
                    ),
                    "list only one of them (a key id is chosen by the key's holder; make a new key pair for the other)",
                ));
            }
            if same_key && a.role != b.role {
                return Err((
                    format!(
                        "{} and {} are the same public key with different roles: its signatures could count for either",
                        with_role(b),
                        with_role(a)
                    ),
                    "list the key once, with the one role it has",
                ));
            }
        }
    }
    Ok(())
}

/// Whether `text` is 16 hex digits (a key id as minisign shows it).
fn looks_like_key_id(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl TrustPolicy {
    /// Trust any of `keys` (threshold 1, no age limits). The same key given
    /// twice is one key; two different keys with one key id are refused.
    pub fn any_of(keys: Vec<PublicKey>) -> Result<Self, PolicyError> {
        if keys.is_empty() {
            return Err(PolicyError::NoTrustedKeys);
        }
        let keys: Vec<TrustedKey> = keys
            .into_iter()
            .map(|key| TrustedKey {
                name: None,
                role: None,
                key,
            })
            .collect();
        check_listing(&keys).map_err(|(reason, hint)| PolicyError::BadPolicy {
            path: "(the keys given)".into(),
            reason,
            hint: Some(hint),
        })?;
        Ok(TrustPolicy {
            keys,
            threshold: 1,
            role_minimums: BTreeMap::new(),
            revoked: BTreeMap::new(),
            max_age: None,
            max_db_age: None,
            downgrade: Downgrade::WithFlag,
        })
    }

    /// Reads a policy file. Key `file`s are relative to the policy's
    /// directory.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let bad = |reason: String, hint| PolicyError::BadPolicy {
            path: path.display().to_string(),
            reason,
            hint,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string(), None))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| match e {
            PolicyError::BadPolicy { reason, hint, .. } => bad(reason, hint),
            e => e,
        })
    }

    /// Parses a policy (see `examples/trust.toml`).
    ///
    /// A `revoked` entry is a key id of a listed key (every listing of that
    /// key's public key is then revoked, whatever its id or name), or a
    /// public key itself (its base64 line), which revokes that key whether
    /// or not it is listed. A key id that no listed key has is refused: it
    /// cannot be resolved to a key, and the key may be listed under another
    /// id.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, PolicyError> {
        let bad = |reason: String| PolicyError::BadPolicy {
            path: "(text)".into(),
            reason,
            hint: None,
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
        check_listing(&keys).map_err(|(reason, hint)| PolicyError::BadPolicy {
            path: "(text)".into(),
            reason,
            hint: Some(hint),
        })?;
        let mut revoked: BTreeMap<[u8; 32], Vec<String>> = BTreeMap::new();
        for r in &f.revoked {
            let r = r.trim();
            if looks_like_key_id(r) {
                let matching: BTreeSet<[u8; 32]> = keys
                    .iter()
                    .filter(|k| k.key.key_id().to_string().eq_ignore_ascii_case(r))
                    .map(|k| k.key.bytes())
                    .collect();
                if matching.is_empty() {
                    return Err(PolicyError::BadPolicy {
                        path: "(text)".into(),
                        reason: format!("revoked {r:?} is the key id of no key listed here, so it cannot be told which key it revokes (the same key may be listed under another id)"),
                        hint: Some("revoke the key by its public key instead: the base64 line of its .pub file, e.g. revoked = [\"RWQ...\"]"),
                    });
                }
                let id = r.to_ascii_uppercase();
                for bytes in matching {
                    revoked.entry(bytes).or_default().push(format!("key {id}"));
                }
            } else {
                let key = PublicKey::from_text(r).map_err(|e| {
                    bad(format!(
                        "revoked {r:?} is neither the key id of a listed key (16 hex digits) nor a public key (the base64 line of a .pub file): {e}"
                    ))
                })?;
                revoked
                    .entry(key.bytes())
                    .or_default()
                    .push("public key".to_string());
            }
        }
        let distinct: BTreeSet<[u8; 32]> = keys
            .iter()
            .map(|k| k.key.bytes())
            .filter(|b| !revoked.contains_key(b))
            .collect();
        if distinct.is_empty() {
            return Err(PolicyError::NoTrustedKeys);
        }
        if f.threshold == 0 || f.threshold > distinct.len() {
            return Err(bad(format!(
                "threshold {} cannot be met by the {} distinct keys that are not revoked (a public key listed under several names or ids is one key)",
                f.threshold,
                distinct.len()
            )));
        }
        for (role, need) in &f.roles {
            let have: BTreeSet<[u8; 32]> = keys
                .iter()
                .filter(|k| k.role.as_deref() == Some(role))
                .map(|k| k.key.bytes())
                .filter(|b| !revoked.contains_key(b))
                .collect();
            if *need > have.len() {
                return Err(bad(format!(
                    "role {role:?} needs {need} approvals but only {} distinct keys that are not revoked have it",
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

    /// The trusted keys (revoked ones included; see [`TrustPolicy::is_key_revoked`]).
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().map(|k| &k.key)
    }

    /// The listing of the key with id `id` (the loader made ids unique).
    fn listed(&self, id: KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key.key_id() == id)
    }

    /// Whether the policy revoked `key` (by its public key bytes).
    pub fn is_key_revoked(&self, key: &PublicKey) -> bool {
        self.revoked.contains_key(&key.bytes())
    }

    /// Whether the key listed with id `id` is revoked (under this id or any
    /// other: revocation follows the public key).
    pub fn is_revoked(&self, id: KeyId) -> bool {
        self.listed(id).is_some_and(|k| self.is_key_revoked(&k.key))
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
        self.listed(id)
            .map(|k| (k.name.clone(), k.role.clone()))
            .unwrap_or_default()
    }

    /// The other listings of `k`'s public key, as `name (key ID)`.
    fn other_listings(&self, k: &TrustedKey) -> Vec<String> {
        self.keys
            .iter()
            .filter(|o| {
                o.key.bytes() == k.key.bytes()
                    && (o.key.key_id() != k.key.key_id() || o.name != k.name)
            })
            .map(|o| match &o.name {
                Some(n) => format!("{n} (key {})", o.key.key_id()),
                None => format!("key {}", o.key.key_id()),
            })
            .collect()
    }

    /// The `revoked` entry that revoked `k`, preferring one that names its
    /// own id.
    fn revoked_as(&self, k: &TrustedKey) -> Option<String> {
        let entries = self.revoked.get(&k.key.bytes())?;
        let own = format!("key {}", k.key.key_id());
        Some(
            entries
                .iter()
                .find(|e| **e == own)
                .unwrap_or(&entries[0])
                .clone(),
        )
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
            let listed = self.listed(id);
            let revoked_as = listed.and_then(|k| self.revoked_as(k));
            let revoked = revoked_as.is_some();
            let (mut verified, mut counted) = (false, false);
            if let (Some(k), false) = (listed, revoked) {
                k.key
                    .verify(sig, message)
                    .map_err(|source| PolicyError::Invalid { key_id: id, source })?;
                verified = true;
                // The same key listed under two names or ids counts once
                // (and has one role: the loader refused two).
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
                revoked_as,
                also_listed_as: listed.map(|k| self.other_listings(k)).unwrap_or_default(),
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
                trusted: self.keys.iter().fold(Vec::new(), |mut ids, k| {
                    if !self.is_key_revoked(&k.key) && !ids.contains(&k.key.key_id()) {
                        ids.push(k.key.key_id());
                    }
                    ids
                }),
                revoked: reports.into_iter().filter(|r| r.revoked).collect(),
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
                ("alice-again", "builder", &a),
                ("bob", "approver", &b),
            ],
            "threshold = 2",
        );
        let err = p.evaluate(m, &[sign(&a, m)]).unwrap_err();
        assert!(
            matches!(err, PolicyError::BelowThreshold { counted: 1, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("[the same public key is also listed as alice-again (key "),
            "{err}"
        );
    }

    /// The same secret key under another key id (the id is only a label
    /// the key's holder picks).
    fn relabelled(k: &SecretKey, id: &[u8; 8]) -> SecretKey {
        let text = k.to_text();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raw = b64.decode(&lines[1]).unwrap();
        raw[54..62].copy_from_slice(id);
        // The checksum covers the id: let the parser accept a zeroed one.
        raw[126..158].fill(0);
        lines[1] = b64.encode(&raw);
        SecretKey::from_text(&lines.join("\n")).unwrap()
    }

    fn listing(entries: &[(&str, Option<&str>, &PublicKey)], extra: &str) -> String {
        let mut text = extra.to_string();
        for (name, role, k) in entries {
            text.push_str(&format!("\n[[key]]\nname = {name:?}\n"));
            if let Some(r) = role {
                text.push_str(&format!("role = {r:?}\n"));
            }
            text.push_str(&format!("public_key = {:?}\n", k.to_base64()));
        }
        text
    }

    fn load(text: &str) -> Result<TrustPolicy, PolicyError> {
        TrustPolicy::from_toml(text, Path::new("."))
    }

    #[test]
    fn revocation_follows_the_public_key_not_the_key_id() {
        let [a, b] = ["a", "b"].map(|n| SecretKey::generate(n).unwrap());
        let a2 = relabelled(&a, b"second!!");
        assert_eq!(a.public_key().bytes(), a2.public_key().bytes());
        assert_ne!(a.key_id(), a2.key_id());
        let (pa, pa2, pb) = (a.public_key(), a2.public_key(), b.public_key());
        let m = b"manifest";
        let keys = [
            ("alice", Some("builder"), &pa),
            ("alice-2", Some("builder"), &pa2),
            ("bob", Some("approver"), &pb),
        ];
        // Revoking the first id revokes the key under the second id too.
        let p = load(&listing(&keys, &format!("revoked = [\"{}\"]", a.key_id()))).unwrap();
        assert!(p.is_revoked(a.key_id()) && p.is_revoked(a2.key_id()));
        assert!(p.is_key_revoked(&pa2) && !p.is_key_revoked(&pb));
        for signer in [&a, &a2] {
            let err = p.evaluate(m, &[sign(signer, m)]).unwrap_err();
            let PolicyError::NotTrusted { revoked, .. } = &err else {
                panic!("{err}")
            };
            assert!(revoked[0].revoked && !revoked[0].counted && !revoked[0].trusted);
            assert_eq!(revoked[0].revoked_as, Some(format!("key {}", a.key_id())));
            let text = err.to_string();
            assert!(text.contains("revoked by the policy"), "{text}");
            if signer.key_id() == a2.key_id() {
                assert!(
                    text.contains(&format!(
                        "(its public key is revoked as key {}), not counted",
                        a.key_id()
                    )),
                    "{text}"
                );
            }
        }
        // Bob still counts.
        let ok = p.evaluate(m, &[sign(&a2, m), sign(&b, m)]).unwrap();
        assert_eq!(ok.iter().filter(|r| r.counted).count(), 1);
        // The loader counts distinct keys that are not revoked: only bob.
        let err = load(&listing(
            &keys,
            &format!("threshold = 2\nrevoked = [\"{}\"]", a2.key_id()),
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("threshold 2 cannot be met by the 1 distinct keys"),
            "{err}"
        );
        // Without revocation, alice under two ids is still one key: a
        // threshold of 3 cannot be met by 3 listings of 2 keys...
        let err = load(&listing(&keys, "threshold = 3")).unwrap_err();
        assert!(err.to_string().contains("by the 2 distinct keys"), "{err}");
        // ... nor a role minimum of 2 builders by one key under two ids.
        let err = load(&listing(&keys, "[roles]\nbuilder = 2")).unwrap_err();
        assert!(
            err.to_string().contains(
                "role \"builder\" needs 2 approvals but only 1 distinct keys that are not revoked have it"
            ),
            "{err}"
        );
        // ... and both signatures count once, for the threshold and the role.
        let p = load(&listing(&keys, "threshold = 2\n[roles]\nbuilder = 1")).unwrap();
        let err = p.evaluate(m, &[sign(&a, m), sign(&a2, m)]).unwrap_err();
        let PolicyError::BelowThreshold {
            counted: 1,
            signers,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert!(signers[0].counted && !signers[1].counted);
        assert_eq!(
            signers[0].also_listed_as,
            [format!("alice-2 (key {})", a2.key_id())]
        );
        p.evaluate(m, &[sign(&a, m), sign(&a2, m), sign(&b, m)])
            .unwrap();
    }

    #[test]
    fn revoked_may_name_the_public_key_itself() {
        let [a, b, c] = ["a", "b", "c"].map(|n| SecretKey::generate(n).unwrap());
        let a2 = relabelled(&a, b"second!!");
        let (pa2, pb) = (a2.public_key(), b.public_key());
        let m = b"m";
        let keys = [("alice-2", None, &pa2), ("bob", None, &pb)];
        // The public key as listed under its first id revokes it under any id.
        let text = listing(
            &keys,
            &format!("revoked = [\"{}\"]", a.public_key().to_base64()),
        );
        let p = load(&text).unwrap();
        let err = p.evaluate(m, &[sign(&a2, m)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("revoked by the policy (its public key is revoked as public key)"),
            "{err}"
        );
        // A key that is not listed may be revoked by its public key.
        load(&listing(
            &keys,
            &format!("revoked = [\"{}\"]", c.public_key().to_base64()),
        ))
        .unwrap();
        // A key id that no listed key has cannot be resolved to a key.
        let err = load(&listing(&keys, &format!("revoked = [\"{}\"]", a.key_id()))).unwrap_err();
        let text = err.to_string();
        // The advice is apart from the message.
        let hint = match crate::error::Classify::hint(&err) {
            Some(crate::error::Hint::Text(h)) => h,
            h => panic!("{h:?}"),
        };
        assert!(
            text.contains("is the key id of no key listed here")
                && hint.contains("revoke the key by its public key instead"),
            "{text}"
        );
        for junk in ["bob", "0123", "+123456789ABCDEF"] {
            let err = load(&listing(&keys, &format!("revoked = [{junk:?}]"))).unwrap_err();
            assert!(
                err.to_string()
                    .contains("is neither the key id of a listed key"),
                "{junk}: {err}"
            );
        }
        // Lower-case ids are the same ids.
        load(&listing(
            &keys,
            &format!("revoked = [\"{}\"]", b.key_id().to_string().to_lowercase()),
        ))
        .unwrap();
    }

    #[test]
    fn ambiguous_listings_are_refused() {
        let [a, b] = ["a", "b"].map(|n| SecretKey::generate(n).unwrap());
        let a2 = relabelled(&a, b"second!!");
        let (pa, pa2, pb) = (a.public_key(), a2.public_key(), b.public_key());
        // One key, two roles (same id or not).
        for other in [&pa, &pa2] {
            let err = load(&listing(
                &[
                    ("alice", Some("builder"), &pa),
                    ("officer", Some("security-officer"), other),
                    ("bob", None, &pb),
                ],
                "",
            ))
            .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("are the same public key with different roles")
                    && text.contains("role \"builder\"")
                    && text.contains("role \"security-officer\""),
                "{text}"
            );
        }
        let err = load(&listing(
            &[("alice", Some("builder"), &pa), ("alice-2", None, &pa2)],
            "",
        ))
        .unwrap_err();
        assert!(err.to_string().contains(", no role)"), "{err}");
        // Two keys, one id.
        let b_as_a = relabelled(&b, &a.key_id().0).public_key();
        let err = load(&listing(
            &[("alice", None, &pa), ("bob", None, &b_as_a)],
            "",
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("are two different public keys with the same key id"),
            "{err}"
        );
        let err = TrustPolicy::any_of(vec![pa.clone(), b_as_a]).unwrap_err();
        assert!(
            err.to_string()
                .contains("are two different public keys with the same key id"),
            "{err}"
        );
        // The same key file twice is one key.
        TrustPolicy::any_of(vec![pa.clone(), pa]).unwrap();
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
