//! Judging a bundle's signatures against a [`TrustPolicy`]: each signature
//! on its own (a trusted key's must verify; one public key counts once),
//! then the tally against the threshold and the role minimums.

use std::collections::{BTreeMap, BTreeSet};

use super::{timestamp, PolicyError, SignerReport, TrustPolicy, TrustedKey};
use crate::keys::Signature;

/// The signatures counted so far: their distinct public keys, and how many
/// of them each role has.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) keys: BTreeSet<[u8; 32]>,
    pub(super) by_role: BTreeMap<String, usize>,
}

impl TrustPolicy {
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
    pub(super) fn revoked_as(&self, k: &TrustedKey) -> Option<String> {
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
        let (reports, tally) = self.judge_all(message, signatures)?;
        self.verdict(signatures, reports, &tally)
    }

    /// Judges each of `signatures` over `message` (a trusted key's must
    /// verify; one key signs once) and tallies those that count, without a
    /// verdict.
    pub(super) fn judge_all(
        &self,
        message: &[u8],
        signatures: &[Signature],
    ) -> Result<(Vec<SignerReport>, Tally), PolicyError> {
        if signatures.is_empty() {
            return Err(PolicyError::Unsigned);
        }
        let mut reports = Vec::with_capacity(signatures.len());
        let mut seen = BTreeSet::new();
        let mut tally = Tally::default();
        for sig in signatures {
            let id = sig.key_id();
            if !seen.insert(id) {
                return Err(PolicyError::Duplicate(id));
            }
            reports.push(self.judge(sig, message, &mut tally)?);
        }
        Ok((reports, tally))
    }

    /// Judges one signature: one by a trusted key must verify, and counts
    /// unless its public key was counted already.
    fn judge(
        &self,
        sig: &Signature,
        message: &[u8],
        tally: &mut Tally,
    ) -> Result<SignerReport, PolicyError> {
        let id = sig.key_id();
        let listed = self.listed(id);
        let revoked_as = listed.and_then(|k| self.revoked_as(k));
        let revoked = revoked_as.is_some();
        let (mut verified, mut counted) = (false, false);
        if let (Some(k), false) = (listed, revoked) {
            k.key
                .verify(sig, message)
                .map_err(|source| PolicyError::Invalid {
                    key_id: id,
                    name: k.name.clone(),
                    source,
                })?;
            verified = true;
            // The same key listed under two names or ids counts once
            // (and has one role: the loader refused two).
            counted = tally.keys.insert(k.key.bytes());
            if counted {
                if let Some(r) = &k.role {
                    *tally.by_role.entry(r.clone()).or_default() += 1;
                }
            }
        }
        Ok(SignerReport {
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
        })
    }

    /// Whether the counted signatures satisfy the policy: some trusted key,
    /// the threshold, then each role minimum.
    fn verdict(
        &self,
        signatures: &[Signature],
        reports: Vec<SignerReport>,
        tally: &Tally,
    ) -> Result<Vec<SignerReport>, PolicyError> {
        let counted = tally.keys.len();
        if counted == 0 {
            return Err(PolicyError::NotTrusted {
                signed_by: signatures.iter().map(|s| s.key_id()).collect(),
                trusted: self.keys.iter().fold(Vec::new(), |mut labels, k| {
                    let label = self.label(k.key.key_id());
                    if !self.is_key_revoked(&k.key) && !labels.contains(&label) {
                        labels.push(label);
                    }
                    labels
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
            let have = tally.by_role.get(role).copied().unwrap_or(0);
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
