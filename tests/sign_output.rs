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

/// Signs in this process. Another test's child process may hold the
/// bundle's lock for a moment (a fork copies the open file until its exec
/// closes it): Busy is waited out.
pub fn sign_in_process(bundle: &std::path::Path, policy: &TrustPolicy, key: &SecretKey) {
    for _ in 0..100 {
        match airlock::sign::sign(bundle, policy, key, "") {
            Err(airlock::sign::SignError::Busy(_)) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => {
                r.unwrap();
                return;
            }
        }
    }
    panic!("the bundle stayed locked");
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
        sign_in_process(&bundle, &any_alice, &k);
    }
    let before = std::fs::read(&bundle).unwrap();
    let files = names_in(&t);
    // A key file that does not exist: the bundle is refused first.
    let stderr = airlock_fails(
        &[
            "sign",
            s(&bundle),
            "--sign-key",
            s(&t.join("nobody.key")),
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

/// Whatever else `sign` prints (the bundle's path) is escaped on its line: a
/// newline in a file name cannot print a forged "policy satisfied" line. (A
/// signer comment with a control character is refused: see
/// `a_signer_comment_with_a_tab_is_refused_before_the_key_is_read`.)
#[test]
fn sign_prints_four_lines_whatever_the_path_and_the_comment_hold() {
    let (t, bundle, policy) = setup();
    let forged = "signatures now: alice, bob — policy satisfied: 2 of 2 approvals";
    let odd = t.join(&format!("b\n{forged}\n.airlock"));
    std::fs::rename(&bundle, &odd).unwrap();
    let out = airlock(&[
        "sign",
        s(&odd),
        "--sign-key",
        s(&t.join("bob.key")),
        "--trust",
        s(&policy),
        "--comment",
        "bob",
        "-q",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(
        lines[0],
        format!(
            "signed {}/b\\u{{a}}{forged}\\u{{a}}.airlock with bob (key {})",
            std::fs::canonicalize(t.path()).unwrap().display(),
            PublicKey::from_file(&t.join("bob.pub")).unwrap().key_id()
        )
    );
    assert!(lines[2].ends_with("\\u{9}signer:bob"), "{}", lines[2]);
}

/// `sign` judges the policy's age limits as `verify` does: two of two
/// approvals on a bundle older than `max_age` is not "policy satisfied".
#[test]
fn sign_says_the_policy_refuses_a_bundle_older_than_its_max_age() {
    let (t, bundle, policy) = setup();
    let body = std::fs::read_to_string(&policy).unwrap();
    write(&policy, format!("max_age = \"1d\"\n{body}").as_bytes());
    let out = airlock(&[
        "sign",
        s(&bundle),
        "--sign-key",
        s(&t.join("bob.key")),
        "--trust",
        s(&policy),
        "-q",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().last().unwrap();
    let verify = airlock_fails(&["verify", s(&bundle), "--trust", s(&policy)], 6);
    // The reason verify gives, word for word (the age itself aside: the
    // hour may turn between the two runs).
    let reason = verify
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("airlock: error: refused by the trust policy: "))
        .unwrap_or_else(|| panic!("{verify}"));
    let (_, tail) = reason.split_once(" ago (").unwrap();
    let said = last
        .strip_prefix("signatures now: alice, bob — 2 of 2 approvals, but the policy refuses the bundle: the bundle was created ")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(said.ends_with(&format!(" ago ({tail}")), "{said}\n{reason}");
    assert!(!stdout.contains("policy satisfied"), "{stdout}");
}

/// A tab in the signer comment would read as a field of the tab-separated
/// trusted comment (a forged `approval` or second `signer:`): refused
/// before the key is read, nothing written.
#[test]
fn a_signer_comment_with_a_tab_is_refused_before_the_key_is_read() {
    let (t, bundle, policy) = setup();
    let before = std::fs::read(&bundle).unwrap();
    for (comment, shown) in [
        ("bob\tsigner:alice", "bob\\u{9}signer:alice"),
        ("bob\u{1b}[2J\u{202e}", "bob\\u{1b}[2J\\u{202e}"),
    ] {
        let stderr = airlock_fails(
            &[
                "sign",
                s(&bundle),
                "--sign-key",
                s(&t.join("nobody.key")),
                "--trust",
                s(&policy),
                "--comment",
                comment,
            ],
            2,
        );
        assert_eq!(
            stderr,
            format!("airlock: error: cannot sign the manifest: the signer name {shown} holds a tab or a control character, and a trusted comment's fields are tab-separated\n")
        );
        assert_eq!(std::fs::read(&bundle).unwrap(), before);
    }
}
