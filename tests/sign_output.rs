//! `sign` never writes a bundle a reader refuses, and says the limits it
//! keeps (review of issue 15: findings 1 and 9 of tests/review_approvals.rs).

use std::path::PathBuf;

use airlock::keys::{PublicKey, SecretKey};
use airlock::policy::TrustPolicy;

use crate::support::*;

/// alice exports a checks bundle; bob has a key pair; alice and bob are a
/// two-key policy.
fn setup() -> (TestDir, PathBuf, PathBuf) {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    for name in ["alice", "bob"] {
        keygen(t.path(), name);
    }
    let bundle = t.join("b.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&t.join("alice.key")),
        "--checks",
        s(&inputs.checks),
        "--created",
        CREATED,
    ]);
    let policy = t.join("trust.toml");
    write(
        &policy,
        b"threshold = 2\n\n[[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n\n[[key]]\nname = \"bob\"\nfile = \"bob.pub\"\n",
    );
    (t, bundle, policy)
}

fn names_in(t: &TestDir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_bundle_with_the_most_signatures_a_reader_accepts_is_not_signed_again() {
    let (t, bundle, policy) = setup();
    let alice = PublicKey::from_file(&t.join("alice.pub")).unwrap();
    let any_alice = TrustPolicy::any_of(vec![alice]).unwrap();
    for i in 0..63 {
        let k = SecretKey::generate(&format!("stranger {i}")).unwrap();
        airlock::sign::sign(&bundle, &any_alice, &k, "").unwrap();
    }
    let before = std::fs::read(&bundle).unwrap();
    let files = names_in(&t);
    let stderr = airlock_fails(
        &[
            "sign",
            s(&bundle),
            "--sign-key",
            s(&t.join("bob.key")),
            "--trust",
            s(&policy),
        ],
        2,
    );
    assert_eq!(
        stderr,
        "airlock: error: the bundle carries 64 signatures already, as many as a reader accepts: one more would make every reader refuse it; nothing was changed\n"
    );
    assert_eq!(std::fs::read(&bundle).unwrap(), before);
    assert_eq!(names_in(&t), files, "a temporary file was left");
    // The library refuses the same way, whatever the policy.
    let k = SecretKey::generate("one more").unwrap();
    let e = airlock::sign::sign(&bundle, &any_alice, &k, "").unwrap_err();
    assert!(matches!(e, airlock::sign::SignError::Full), "{e}");
}

#[test]
fn a_signer_comment_is_refused_with_the_room_it_has_before_the_key_is_read() {
    let (t, bundle, policy) = setup();
    let before = std::fs::read(&bundle).unwrap();
    // "timestamp:NNNNNNNNNN\tfile:manifest.toml\tapproval\tsigner:" takes 56
    // of the 1024 bytes.
    let room = 1024 - 56;
    let long = "x".repeat(room + 1);
    // A key file that does not exist: the comment is refused first.
    let stderr = airlock_fails(
        &[
            "sign",
            s(&bundle),
            "--sign-key",
            s(&t.join("nobody.key")),
            "--trust",
            s(&policy),
            "--comment",
            &long,
        ],
        2,
    );
    assert_eq!(
        stderr,
        format!("airlock: error: the signer comment is {} bytes; an approval's trusted comment has room for at most {room}; nothing was changed\n", room + 1)
    );
    assert_eq!(std::fs::read(&bundle).unwrap(), before);
    // As long as there is room: signed, and verified.
    let fits = "x".repeat(room);
    airlock_ok(&[
        "sign",
        s(&bundle),
        "--sign-key",
        s(&t.join("bob.key")),
        "--trust",
        s(&policy),
        "--comment",
        &fits,
        "-q",
    ]);
    airlock_ok(&["verify", s(&bundle), "--trust", s(&policy)]);
}
