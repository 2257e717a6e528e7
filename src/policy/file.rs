//! Reading a trust policy file (TOML; see `examples/trust.toml`): its keys,
//! its revocations resolved to public keys, and the checks that the policy
//! can be met at all, each a step of [`TrustPolicy::from_toml`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::{check_listing, parse_duration, Downgrade, PolicyError, TrustPolicy, TrustedKey};
use crate::keys::PublicKey;

/// Revoked public keys, each with the `revoked` entries that named it.
type Revoked = BTreeMap<[u8; 32], Vec<String>>;

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

/// Whether `text` is 16 hex digits (a key id as minisign shows it).
fn looks_like_key_id(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl TrustPolicy {
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
        let f: PolicyFile = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let keys = read_keys(&f.keys, base)?;
        check_listing(&keys).map_err(|(reason, hint)| PolicyError::BadPolicy {
            path: "(text)".into(),
            reason,
            hint: Some(hint),
        })?;
        let revoked = resolve_revoked(&f.revoked, &keys)?;
        check_satisfiable(&f, &keys, &revoked)?;
        let downgrade = parse_downgrade(&f.downgrade)?;
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
}

/// A refusal of the policy text ([`TrustPolicy::from_file`] names the file).
fn bad(reason: String) -> PolicyError {
    PolicyError::BadPolicy {
        path: "(text)".into(),
        reason,
        hint: None,
    }
}

/// The `[[key]]` entries as trusted keys (key `file`s relative to `base`).
fn read_keys(entries: &[KeyEntry], base: &Path) -> Result<Vec<TrustedKey>, PolicyError> {
    let mut keys = Vec::new();
    for k in entries {
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
    Ok(keys)
}

/// The `revoked` entries resolved to the public keys they revoke.
fn resolve_revoked(entries: &[String], keys: &[TrustedKey]) -> Result<Revoked, PolicyError> {
    let mut revoked = Revoked::new();
    for r in entries {
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
    Ok(revoked)
}

/// Checks that the distinct keys not revoked can meet the threshold and
/// every role minimum.
fn check_satisfiable(
    f: &PolicyFile,
    keys: &[TrustedKey],
    revoked: &Revoked,
) -> Result<(), PolicyError> {
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
    Ok(())
}

/// An age limit (`max_age`, `max_db_age`) in seconds, if set.
fn age(what: &str, v: &Option<String>) -> Result<Option<u64>, PolicyError> {
    v.as_deref()
        .map(|s| {
            parse_duration(s).ok_or_else(|| {
                bad(format!(
                    "{what} {s:?} is not a duration such as 36h, 7d or 2w"
                ))
            })
        })
        .transpose()
}

/// The `downgrade` setting.
fn parse_downgrade(text: &str) -> Result<Downgrade, PolicyError> {
    match text {
        "with-flag" => Ok(Downgrade::WithFlag),
        "never" => Ok(Downgrade::Never),
        other => Err(bad(format!(
            "downgrade {other:?} must be \"with-flag\" or \"never\""
        ))),
    }
}
