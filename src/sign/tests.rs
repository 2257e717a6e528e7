//! Countersigning's unit tests: the copy, its refusals, and judged approvals.

use super::*;
use crate::testing::{self, Keep};

/// Other tests of this process spawn programs, and a child holds every
/// descriptor it inherited until it execs, the bundle's lock with it: on a
/// loaded machine a bundle closed a moment ago can look busy. These wait for
/// that (5 s at most), never for anything else.
fn until_free(
    mut f: impl FnMut() -> Result<SignReport, SignError>,
) -> Result<SignReport, SignError> {
    for _ in 0..50 {
        match f() {
            Err(SignError::Busy(_)) => std::thread::sleep(std::time::Duration::from_millis(100)),
            done => return done,
        }
    }
    f()
}

fn sign(
    given: &Path,
    policy: &TrustPolicy,
    key: &SecretKey,
    comment: &str,
) -> Result<SignReport, SignError> {
    until_free(|| super::sign(given, policy, key, comment))
}

fn sign_with(
    given: &Path,
    policy: &TrustPolicy,
    key: &SecretKey,
    options: &SignOptions<'_>,
) -> Result<SignReport, SignError> {
    until_free(|| super::sign_with(given, policy, key, options))
}

fn trust(keys: &[&SecretKey]) -> TrustPolicy {
    TrustPolicy::any_of(keys.iter().map(|k| k.public_key()).collect()).expect("a policy")
}

#[test]
fn a_countersignature_is_added_and_the_manifest_is_unchanged() {
    let (_dir, path) = testing::temp_dir();
    let exporter = testing::key("exporter");
    let approver = testing::key("approver");
    let exported = testing::exported(&path, std::slice::from_ref(&exporter));
    let report =
        sign(&exported.output, &trust(&[&exporter]), &approver, "alice").expect("countersigns");
    assert_eq!(report.manifest_sha256, exported.manifest_sha256);
    assert_eq!(report.key_id, approver.key_id().to_string());
    let mut both = vec![exporter.key_id().to_string(), approver.key_id().to_string()];
    both.sort();
    assert_eq!(report.signed_by, both);
    assert!(
        report
            .trusted_comment
            .ends_with("\tfile:manifest.toml\tapproval\tsigner:alice"),
        "{}",
        report.trusted_comment
    );
    // The new signature alone satisfies a host that trusts the approver,
    // and the payloads are the exported ones.
    let bytes = std::fs::read(&exported.output).expect("reads");
    let mut kept = Keep::default();
    let verified = reader::read(&bytes[..], &trust(&[&approver]), &mut kept)
        .expect("verifies under the approver's key");
    assert_eq!(verified.manifest_sha256.hex(), exported.manifest_sha256);
    assert_eq!(verified.signatures.len(), 2);
    let (_, original) = testing::contents(&exported.output, &exporter);
    assert_eq!(kept.payloads, original);
    // The key's own comment names the signer when none is given.
    let third = testing::key("carol");
    let report = sign(&exported.output, &trust(&[&exporter]), &third, "").expect("signs");
    assert!(report.trusted_comment.ends_with("\tsigner:carol"));
    assert_eq!(report.signed_by.len(), 3);
}

#[test]
fn a_key_that_signed_already_or_an_untrusted_bundle_is_refused_and_nothing_changes() {
    let (_dir, path) = testing::temp_dir();
    let exporter = testing::key("exporter");
    let stranger = testing::key("stranger");
    let exported = testing::exported(&path, std::slice::from_ref(&exporter));
    let before = std::fs::read(&exported.output).expect("reads");
    type Case<'a> = (&'a str, TrustPolicy, &'a SecretKey, fn(&SignError) -> bool);
    let cases: [Case<'_>; 2] = [
        ("the exporter again", trust(&[&exporter]), &exporter, |e| {
            matches!(e, SignError::AlreadySigned(_))
        }),
        (
            "a bundle nobody trusted signed",
            trust(&[&stranger]),
            &stranger,
            |e| matches!(e, SignError::Bundle(BundleError::Policy(_))),
        ),
    ];
    for (what, policy, key, expected) in cases {
        let err = sign(&exported.output, &policy, key, "").expect_err(what);
        assert!(expected(&err), "{what}: {err:?}");
        assert_eq!(
            std::fs::read(&exported.output).expect("reads"),
            before,
            "{what}"
        );
    }
    let err = sign(&exported.output, &trust(&[&exporter]), &exporter, "").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("key {} has already signed this bundle", exporter.key_id())
    );
    // No temporary file is left beside the bundle.
    let left: Vec<_> = std::fs::read_dir(&path)
        .expect("lists")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".airlock-sign-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn named(keys: &[(&str, &SecretKey)], extra: &str) -> TrustPolicy {
    let mut text = extra.to_string();
    for (name, k) in keys {
        text.push_str(&format!(
            "\n[[key]]\nname = {name:?}\npublic_key = {:?}\n",
            k.public_key().to_base64()
        ));
    }
    TrustPolicy::from_toml(&text, Path::new(".")).expect("a policy")
}

#[test]
fn a_judged_approval_that_would_not_count_is_refused_unless_forced() {
    let (_dir, path) = testing::temp_dir();
    let alice = testing::key("alice");
    let bob = testing::key("bob");
    let mallory = testing::key("mallory");
    let exported = testing::exported(&path, std::slice::from_ref(&alice));
    let policy = named(&[("alice", &alice), ("bob", &bob)], "threshold = 2");
    let before = std::fs::read(&exported.output).expect("reads");
    let judged = |force| SignOptions {
        comment: "",
        judge: true,
        force,
        progress: &crate::progress::NoProgress,
    };
    let err = sign_with(&exported.output, &policy, &mallory, &judged(false)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "key {} is not listed in the trust policy: its approval would never count",
            mallory.key_id()
        )
    );
    assert_eq!(std::fs::read(&exported.output).expect("reads"), before);
    // The same key under another id, after it signed: not counted again.
    let relabelled = {
        let text = alice.to_text();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raw = b64.decode(&lines[1]).expect("base64");
        raw[54..62].copy_from_slice(b"second!!");
        raw[126..158].fill(0);
        lines[1] = b64.encode(&raw);
        SecretKey::from_text(&lines.join("\n")).expect("a key")
    };
    let both = named(
        &[("alice", &alice), ("alice-2", &relabelled), ("bob", &bob)],
        "threshold = 2",
    );
    let err = sign_with(&exported.output, &both, &relabelled, &judged(false)).unwrap_err();
    assert!(
        matches!(
            err,
            SignError::NotCounted {
                why: Uncounted::SameKeySigned,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&exported.output).expect("reads"), before);
    // Forced: signed, reported as forced and not counted.
    let report = sign_with(&exported.output, &policy, &mallory, &judged(true)).expect("signs");
    assert!(report.forced);
    let approvals = report.approvals.expect("judged");
    assert_eq!((approvals.counted, approvals.satisfied), (1, false));
    // bob counts, and satisfies the policy.
    let report = sign_with(&exported.output, &policy, &bob, &judged(false)).expect("signs");
    assert!(!report.forced);
    assert_eq!(report.signer, format!("bob (key {})", bob.key_id()));
    assert!(report.approvals.expect("judged").satisfied);
}
