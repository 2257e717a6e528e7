//! What `verify` and `inspect` say about a bundle, as typed reports the
//! command line prints as text or JSON.
//!
//! Inspecting judges the signatures (when given a policy) here, not in the
//! command line: each signature in the bundle is shown with how the policy
//! judged its key, and a policy that is not met (too few approvals, a role
//! short) is shown, not refused — that is what `sign` is for. Any other
//! policy failure (an altered manifest, an unusable policy) is refused.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::digest::Sha256Digest;
use crate::keys::Signature;
use crate::manifest::Manifest;
use crate::policy::{PolicyError, SignerReport, TrustPolicy};

use super::reader::{BundleError, Header, Verified};

/// A bundle that verified, as `verify --json` prints it.
#[derive(Debug, Serialize)]
pub struct VerifyReport<'a> {
    /// Always true: a bundle that did not verify has no report.
    pub ok: bool,
    /// The bundle file as given.
    pub bundle: &'a Path,
    /// SHA-256 of the manifest bytes.
    pub manifest_sha256: String,
    /// How each signature was judged.
    pub signers: &'a [SignerReport],
    /// The manifest.
    pub manifest: &'a Manifest,
    /// Staleness warnings ([`crate::freshness::warnings`]): they stop
    /// nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl<'a> VerifyReport<'a> {
    /// The report of `verified`, read from `bundle`, with its staleness
    /// judged by the clock.
    pub fn new(bundle: &'a Path, verified: &'a Verified) -> Self {
        VerifyReport {
            ok: true,
            bundle,
            manifest_sha256: verified.manifest_sha256.hex(),
            signers: &verified.signers,
            manifest: &verified.manifest,
            warnings: crate::freshness::warnings(&verified.manifest, OffsetDateTime::now_utc()),
        }
    }
}

/// One signature of an inspected bundle, and how the policy judged its key
/// (the judgement fields are `null` when no policy was given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureView {
    /// The signing key's id (minisign form).
    pub key_id: String,
    /// The signed comment.
    pub trusted_comment: String,
    /// The unsigned comment.
    pub untrusted_comment: String,
    /// The signing time from the trusted comment, if any.
    pub timestamp: Option<u64>,
    /// Whether the signature was judged against a policy.
    pub checked: bool,
    /// The key's name in the policy.
    pub name: Option<String>,
    /// The key's role in the policy.
    pub role: Option<String>,
    /// Whether the key is trusted (listed and not revoked).
    pub trusted: Option<bool>,
    /// Whether the policy revoked the key.
    pub revoked: Option<bool>,
    /// Whether the signature verified.
    pub verified: Option<bool>,
    /// Whether it counted towards the threshold.
    pub counted: Option<bool>,
}

impl SignatureView {
    /// `signature` as `judged` (the signer report for its key, if any).
    fn new(signature: &Signature, judged: Option<&SignerReport>) -> Self {
        SignatureView {
            key_id: signature.key_id().to_string(),
            trusted_comment: signature.trusted_comment().to_string(),
            untrusted_comment: signature.untrusted_comment().to_string(),
            timestamp: crate::policy::timestamp(signature.trusted_comment()),
            checked: judged.is_some(),
            name: judged.and_then(|j| j.name.clone()),
            role: judged.and_then(|j| j.role.clone()),
            trusted: judged.map(|j| j.trusted),
            revoked: judged.map(|j| j.revoked),
            verified: judged.map(|j| j.verified),
            counted: judged.map(|j| j.counted),
        }
    }
}

/// An inspected bundle: its manifest (unverified without a policy) and its
/// signatures, judged when a policy was given.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The bundle file as given.
    pub bundle: PathBuf,
    /// Its size.
    pub size: u64,
    /// SHA-256 of the manifest bytes.
    pub manifest_sha256: String,
    /// Whether the signatures were judged against a policy.
    pub signatures_checked: bool,
    /// Whether the policy is met (`None`: not checked).
    pub policy_satisfied: Option<bool>,
    /// Why the policy is not met, when checked and not met: too few
    /// approvals, a role short, or an age limit or the clock skew exceeded
    /// (judged as `verify` judges them, [`crate::freshness::judge`]).
    pub policy_unmet: Option<String>,
    /// Every signature in bundle order.
    pub signatures: Vec<SignatureView>,
    /// The manifest.
    pub manifest: Manifest,
    /// The policy's judgement of each signature, in its order (`None`: not
    /// checked).
    #[serde(skip)]
    pub signers: Option<Vec<SignerReport>>,
    /// Staleness warnings ([`crate::freshness::warnings`]), policy or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether the bundle carries a database as a delta (format 1.3);
    /// absent for a full bundle.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub delta: bool,
    /// The bases its deltas need installed, by kind (absent for a full
    /// bundle).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<DeltaBaseView>,
}

/// A base a delta bundle needs (`inspect --json`).
#[derive(Debug, Serialize)]
pub struct DeltaBaseView {
    /// `trivy-db` or `java-db`.
    pub kind: String,
    /// `sha256:<hex>` of the uncompressed database file.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// Its UpdatedAt.
    pub updated_at: String,
}

/// Inspects the bundle `bundle` (`size` bytes) from its `header`: with a
/// `policy`, judges its signatures first (a policy that is not met is
/// reported; any other policy failure refused), then parses the manifest.
pub fn inspect(
    bundle: &Path,
    size: u64,
    header: &Header,
    policy: Option<&TrustPolicy>,
) -> Result<InspectReport, BundleError> {
    inspect_at(bundle, size, header, policy, OffsetDateTime::now_utc())
}

/// [`inspect`], with ages judged at `now`.
pub fn inspect_at(
    bundle: &Path,
    size: u64,
    header: &Header,
    policy: Option<&TrustPolicy>,
    now: OffsetDateTime,
) -> Result<InspectReport, BundleError> {
    let (signers, unmet) = match policy {
        None => (None, None),
        Some(policy) => judge(policy, header)?,
    };
    let manifest = Manifest::parse(&header.manifest_bytes)?;
    // The age limits and the clock skew, as verify judges them.
    let unmet = match (unmet, policy) {
        (None, Some(policy)) => crate::freshness::judge(&manifest, policy, now)
            .err()
            .map(|e| e.to_string()),
        (unmet, _) => unmet,
    };
    let signatures = header
        .signatures
        .iter()
        .map(|s| {
            let id = s.key_id().to_string();
            let judged = signers
                .as_ref()
                .and_then(|v: &Vec<SignerReport>| v.iter().find(|r| r.key_id == id));
            SignatureView::new(s, judged)
        })
        .collect();
    Ok(InspectReport {
        bundle: bundle.to_path_buf(),
        size,
        manifest_sha256: Sha256Digest::of(&header.manifest_bytes).hex(),
        signatures_checked: signers.is_some(),
        policy_satisfied: signers.as_ref().map(|_| unmet.is_none()),
        policy_unmet: unmet,
        signatures,
        warnings: crate::freshness::warnings(&manifest, now),
        delta: !manifest.deltas.is_empty(),
        bases: manifest
            .deltas
            .iter()
            .map(|d| DeltaBaseView {
                kind: d.kind.to_string(),
                sha256: d.base.sha256.oci(),
                size: d.base.size,
                updated_at: d.base.updated_at.to_string(),
            })
            .collect(),
        manifest,
        signers,
    })
}

/// The policy's judgement of the header's signatures, and why the policy is
/// not met (too few approvals, a role short), if it is not.
type Judged = (Option<Vec<SignerReport>>, Option<String>);

fn judge(policy: &TrustPolicy, header: &Header) -> Result<Judged, PolicyError> {
    let e = match policy.evaluate(&header.manifest_bytes, &header.signatures) {
        Ok(signers) => return Ok((Some(signers), None)),
        Err(e) => e,
    };
    let why = e.to_string();
    match e {
        PolicyError::BelowThreshold { signers, .. } | PolicyError::RoleMinimum { signers, .. } => {
            Ok((Some(signers), Some(why)))
        }
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;
    use crate::keys::SecretKey;
    use crate::testing::{exported, key, temp_dir};

    fn header(bundle: &Path) -> Header {
        let f = std::fs::File::open(bundle).expect("opens the bundle");
        super::super::reader::read_header(BufReader::new(f)).expect("reads the header")
    }

    /// A policy listing `keys` (name, key), with `extra` lines first.
    fn policy(keys: &[(&str, &SecretKey)], extra: &str) -> TrustPolicy {
        let mut text = extra.to_string();
        for (name, k) in keys {
            text.push_str(&format!(
                "\n[[key]]\nname = {name:?}\nrole = \"approver\"\npublic_key = {:?}\n",
                k.public_key().to_base64()
            ));
        }
        TrustPolicy::from_toml(&text, Path::new(".")).expect("a valid policy")
    }

    fn view<'a>(r: &'a InspectReport, k: &SecretKey) -> &'a SignatureView {
        let id = k.key_id().to_string();
        r.signatures
            .iter()
            .find(|s| s.key_id == id)
            .expect("the key's signature is shown")
    }

    #[test]
    fn judges_trusted_unknown_and_revoked_keys() {
        let (_t, dir) = temp_dir();
        let keys = ["alice", "stranger", "mallory"].map(key);
        let bundle = exported(&dir, &keys).output;
        let [alice, stranger, mallory] = &keys;
        let p = policy(
            &[("alice", alice), ("mallory", mallory)],
            &format!("revoked = [\"{}\"]", mallory.key_id()),
        );
        let r = inspect(&bundle, 7, &header(&bundle), Some(&p)).expect("inspects");
        assert!(r.signatures_checked);
        assert_eq!(r.policy_satisfied, Some(true));
        assert_eq!(r.policy_unmet, None);
        assert_eq!(r.size, 7);
        assert_eq!(r.signatures.len(), 3);
        let a = view(&r, alice);
        assert!(a.checked);
        assert_eq!(a.name.as_deref(), Some("alice"));
        assert_eq!(a.role.as_deref(), Some("approver"));
        assert_eq!(
            (a.trusted, a.revoked, a.verified, a.counted),
            (Some(true), Some(false), Some(true), Some(true))
        );
        let s = view(&r, stranger);
        assert!(s.checked);
        assert_eq!(s.name, None);
        assert_eq!(
            (s.trusted, s.revoked, s.counted),
            (Some(false), Some(false), Some(false))
        );
        let m = view(&r, mallory);
        assert_eq!(
            (m.trusted, m.revoked, m.counted),
            (Some(false), Some(true), Some(false))
        );
        assert_eq!(r.signers.as_ref().map(Vec::len), Some(3));
    }

    #[test]
    fn a_policy_not_met_is_shown_not_refused() {
        let (_t, dir) = temp_dir();
        let [alice, bob] = ["alice", "bob"].map(key);
        let bundle = exported(&dir, std::slice::from_ref(&alice)).output;
        let p = policy(&[("alice", &alice), ("bob", &bob)], "threshold = 2");
        let r = inspect(&bundle, 1, &header(&bundle), Some(&p)).expect("inspects");
        assert!(r.signatures_checked);
        assert_eq!(r.policy_satisfied, Some(false));
        let why = r.policy_unmet.as_deref().expect("says why");
        assert!(why.starts_with("1 of the 2 required approvals"), "{why}");
        assert_eq!(view(&r, &alice).counted, Some(true));
    }

    #[test]
    fn without_a_policy_nothing_is_judged() {
        let (_t, dir) = temp_dir();
        let alice = key("alice");
        let bundle = exported(&dir, std::slice::from_ref(&alice)).output;
        let r = inspect(&bundle, 1, &header(&bundle), None).expect("inspects");
        assert!(!r.signatures_checked);
        assert_eq!(
            (r.policy_satisfied, r.policy_unmet.as_deref()),
            (None, None)
        );
        assert!(r.signers.is_none());
        let a = view(&r, &alice);
        assert!(!a.checked);
        assert_eq!(
            (a.name.as_deref(), a.trusted, a.counted),
            (None, None, None)
        );
        let json = serde_json::to_value(a).expect("serializes");
        assert!(
            json["trusted"].is_null() && json["name"].is_null(),
            "{json}"
        );
    }

    #[test]
    fn a_policy_that_trusts_no_signer_is_refused() {
        let (_t, dir) = temp_dir();
        let [alice, bob] = ["alice", "bob"].map(key);
        let bundle = exported(&dir, std::slice::from_ref(&alice)).output;
        let p = policy(&[("bob", &bob)], "");
        let err = inspect(&bundle, 1, &header(&bundle), Some(&p)).unwrap_err();
        assert!(
            matches!(err, BundleError::Policy(PolicyError::NotTrusted { .. })),
            "{err}"
        );
    }
}
