//! Where a bundle's approvals stand against a [`TrustPolicy`], and whether
//! a key's approval would count at all: what `sign` checks before it signs
//! (issue 15: an approval that does not count must not pass for one) and
//! reports after ("2 of 2", or what is still needed).

use std::fmt;

use super::{PolicyError, SignerReport, TrustPolicy};
use crate::keys::{KeyId, PublicKey, Signature};

/// Whether a key's approval would count under a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Listed and not revoked: it counts (once per public key).
    Counts,
    /// No listed key has its key id: shown, never counted.
    NotListed,
    /// Listed, and revoked (under this id or another of the same key).
    Revoked {
        /// The `revoked` entry that revoked it.
        revoked_as: String,
    },
    /// A listed key has its key id but is another key: the signature would
    /// not verify under the listed key, and the bundle would be refused.
    IdTaken {
        /// The listing with that id (`name (key ID)`).
        listed_as: String,
    },
}

/// More approvals a policy needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Need {
    /// By a key with this role; `None`: by any key the policy counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// How many more.
    pub more: usize,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.role, self.more) {
            (Some(r), 1) => write!(f, "1 more {r}"),
            (Some(r), n) => write!(f, "{n} more with role {r}"),
            (None, 1) => f.write_str("1 more approval"),
            (None, n) => write!(f, "{n} more approvals"),
        }
    }
}

/// Where a bundle's approvals stand.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Approvals {
    /// Every signature, as judged.
    pub signers: Vec<SignerReport>,
    /// Distinct keys counted.
    pub counted: usize,
    /// The policy's threshold.
    pub threshold: usize,
    /// Whether the threshold and every role minimum are met.
    pub satisfied: bool,
    /// What is missing: role minimums first, then approvals by anyone.
    pub still_needs: Vec<Need>,
}

impl TrustPolicy {
    /// Whether `key`'s approval would count here (see [`Standing`]).
    pub fn standing(&self, key: &PublicKey) -> Standing {
        let Some(listed) = self.listed(key.key_id()) else {
            return Standing::NotListed;
        };
        if listed.key.bytes() != key.bytes() {
            return Standing::IdTaken {
                listed_as: self.label(key.key_id()),
            };
        }
        match self.revoked_as(listed) {
            Some(revoked_as) => Standing::Revoked { revoked_as },
            None => Standing::Counts,
        }
    }

    /// `name (key ID)` when the policy names the key with id `id`, else
    /// `key ID`.
    pub fn label(&self, id: KeyId) -> String {
        match self.listed(id).and_then(|k| k.name.as_deref()) {
            Some(name) => format!("{name} (key {id})"),
            None => format!("key {id}"),
        }
    }

    /// Where `signatures` over `message` stand: each judged as
    /// [`TrustPolicy::evaluate`] does (a trusted key's must verify), and
    /// what the policy still needs, without refusing for what is missing.
    pub fn approvals(
        &self,
        message: &[u8],
        signatures: &[Signature],
    ) -> Result<Approvals, PolicyError> {
        let (signers, tally) = self.judge_all(message, signatures)?;
        let counted = tally.keys.len();
        let mut still_needs: Vec<Need> = self
            .role_minimums
            .iter()
            .filter_map(|(role, need)| {
                let have = tally.by_role.get(role).copied().unwrap_or(0);
                (have < *need).then(|| Need {
                    role: Some(role.clone()),
                    more: need - have,
                })
            })
            .collect();
        let by_role: usize = still_needs.iter().map(|n| n.more).sum();
        let short = self.threshold.saturating_sub(counted);
        if short > by_role {
            still_needs.push(Need {
                role: None,
                more: short - by_role,
            });
        }
        Ok(Approvals {
            signers,
            counted,
            threshold: self.threshold,
            satisfied: still_needs.is_empty(),
            still_needs,
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::keys::SecretKey;

    use crate::policy::tests::policy;

    #[test]
    fn approvals_say_what_is_still_needed() {
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| SecretKey::generate(n).unwrap());
        let p = policy(
            &[
                ("alice", "builder", &a),
                ("bob", "approver", &b),
                ("carol", "security-officer", &c),
                ("dave", "approver", &d),
            ],
            "threshold = 3\n[roles]\nsecurity-officer = 1",
        );
        let m = b"m";
        let sig = |k: &SecretKey| k.sign(m, "u", "timestamp:1").unwrap();
        let needs = |sigs: &[Signature]| {
            let a = p.approvals(m, sigs).unwrap();
            let words: Vec<String> = a.still_needs.iter().map(|n| n.to_string()).collect();
            (a.counted, a.satisfied, words.join(", "))
        };
        assert_eq!(
            needs(&[sig(&a)]),
            (1, false, "1 more security-officer, 1 more approval".into())
        );
        assert_eq!(
            needs(&[sig(&a), sig(&b)]),
            (2, false, "1 more security-officer".into())
        );
        assert_eq!(
            needs(&[sig(&a), sig(&b), sig(&d)]),
            (3, false, "1 more security-officer".into())
        );
        assert_eq!(
            needs(&[sig(&a), sig(&c)]),
            (2, false, "1 more approval".into())
        );
        assert_eq!(
            needs(&[sig(&a), sig(&b), sig(&c)]),
            (3, true, String::new())
        );
        let stranger = SecretKey::generate("s").unwrap();
        assert_eq!(
            needs(&[sig(&stranger)]),
            (0, false, "1 more security-officer, 2 more approvals".into())
        );
    }

    #[test]
    fn a_keys_standing_and_label() {
        let [a, b, stranger] = ["a", "b", "s"].map(|n| SecretKey::generate(n).unwrap());
        let p = policy(
            &[("alice", "builder", &a), ("bob", "approver", &b)],
            &format!("revoked = [\"{}\"]", b.key_id()),
        );
        assert_eq!(p.standing(&a.public_key()), Standing::Counts);
        assert_eq!(
            p.standing(&b.public_key()),
            Standing::Revoked {
                revoked_as: format!("key {}", b.key_id())
            }
        );
        assert_eq!(p.standing(&stranger.public_key()), Standing::NotListed);
        let impostor = SecretKey::from_seed([9; 32], a.key_id(), "x").unwrap();
        assert_eq!(
            p.standing(&impostor.public_key()),
            Standing::IdTaken {
                listed_as: format!("alice (key {})", a.key_id())
            }
        );
        assert_eq!(p.label(a.key_id()), format!("alice (key {})", a.key_id()));
        assert_eq!(
            p.label(stranger.key_id()),
            format!("key {}", stranger.key_id())
        );
    }
}
