//! The trust policy's unit tests: policies loaded from TOML, then judging
//! signatures against them.

use std::path::Path;

use super::*;
use crate::keys::{SecretKey, Signature};

fn sign(k: &SecretKey, msg: &[u8]) -> Signature {
    k.sign(msg, "u", "timestamp:1").unwrap()
}

/// A policy of `keys` (name, role, key) after the `extra` lines (also
/// the approvals' tests).
pub(super) fn policy(keys: &[(&str, &str, &SecretKey)], extra: &str) -> TrustPolicy {
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
