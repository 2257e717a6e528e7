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
use std::collections::BTreeMap;

use crate::keys::{KeyError, KeyId, PublicKey};

mod approvals;
mod evaluate;
mod file;

pub use approvals::{Approvals, Need, Standing};
pub use file::{MAX_NAME, MAX_POLICY_FILE};
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod tests;

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
    #[error("signature by trusted key {key_id}{} does not verify: the manifest was altered after signing, or the signature damaged", name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Invalid {
        /// The key.
        key_id: KeyId,
        /// Its name in the policy, if it has one.
        name: Option<String>,
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
        trusted.join(", "),
        revocations(revoked)
    )]
    NotTrusted {
        /// Who signed.
        signed_by: Vec<KeyId>,
        /// Who is trusted: `name (key ID)`, or `key ID` for a key
        /// without a name.
        trusted: Vec<String>,
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
    #[error("trust policy {path}{}: {reason}", position(*at))]
    BadPolicy {
        /// The file.
        path: String,
        /// Where in it (line, column; from 1), when known.
        at: Option<(usize, usize)>,
        /// Why.
        reason: String,
        /// What to do, when airlock knows.
        hint: Option<String>,
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
            | PolicyError::RoleMinimum { .. } => NotProven,
            // Fix the policy, not the bundle (issue 15).
            PolicyError::BadPolicy { .. } => BadPolicy,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            PolicyError::NoTrustedKeys => Some(Hint::Flag(FlagHint::TrustKeys)),
            PolicyError::NotTrusted { revoked, .. } if revoked.is_empty() => Some(Hint::Flag(FlagHint::SignerKey)),
            PolicyError::NotTrusted { .. } => Hint::text("a revoked key's signature never counts, under any of its key ids: get the bundle re-signed by a key the policy trusts"),
            PolicyError::BelowThreshold { .. } => Some(Hint::Flag(FlagHint::SignAgain { role: None })),
            PolicyError::RoleMinimum { role, .. } => Some(Hint::Flag(FlagHint::SignAgain { role: Some(role.clone()) })),
            PolicyError::BadPolicy { hint, .. } => hint.clone().and_then(Hint::text),
            PolicyError::Invalid { source, .. } => source.hint(),
            PolicyError::Unsigned | PolicyError::Duplicate(_) => None,
        }
    }
}

/// `:LINE:COLUMN`, or nothing.
fn position(at: Option<(usize, usize)>) -> String {
    at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default()
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
/// A refusal is the index of the listing refused, its reason and what to
/// do about it.
fn check_listing(keys: &[TrustedKey]) -> Result<(), (usize, String, &'static str)> {
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
                    i,
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
                    i,
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
        check_listing(&keys).map_err(|(_, reason, hint)| PolicyError::BadPolicy {
            path: "(the keys given)".into(),
            at: None,
            reason,
            hint: Some(hint.into()),
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
}

/// The `timestamp:N` field of a trusted comment.
pub fn timestamp(trusted_comment: &str) -> Option<u64> {
    trusted_comment
        .split('\t')
        .find_map(|f| f.strip_prefix("timestamp:"))
        .and_then(|t| t.parse().ok())
}
