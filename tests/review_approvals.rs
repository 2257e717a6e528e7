//! Outside review of issue 15 items 1 and 8 (`sign --trust` refuses an
//! approval the policy would not count, reports who signed and what is
//! still needed; key kinds; policy errors). Each test here reproduces a
//! finding and is ignored until it is fixed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock::keys::{PublicKey, SecretKey};
use airlock::policy::TrustPolicy;

use crate::support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn key_id(public: &Path) -> String {
    PublicKey::from_file(public).unwrap().key_id().to_string()
}

/// alice exports a checks bundle; bob and mallory have key pairs.
struct Setup {
    t: TestDir,
    bundle: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let t = TestDir::new();
        let inputs = write_inputs(t.path());
        for name in ["alice", "bob", "mallory"] {
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
        Setup { t, bundle }
    }

    fn policy(&self, name: &str, body: &str) -> PathBuf {
        let p = self.t.join(name);
        write(&p, body.as_bytes());
        p
    }
}

/// A two-key policy (threshold 2): alice and bob.
const ALICE_AND_BOB: &str = "threshold = 2\n\n\
    [[key]]\nname = \"alice\"\nrole = \"builder\"\nfile = \"alice.pub\"\n\n\
    [[key]]\nname = \"bob\"\nrole = \"approver\"\nfile = \"bob.pub\"\n";

/// A bundle that already carries 64 signatures (the reader's limit,
/// `MAX_SIGNATURES`) is still readable; `sign` adds a 65th, reports
/// success and "policy satisfied", and replaces the bundle with one that
/// no reader accepts: the approval does not count, and the bundle is lost.
#[test]
fn signing_past_the_signature_limit_is_refused_not_reported_as_satisfied() {
    let setup = Setup::new();
    let policy = setup.policy("trust.toml", ALICE_AND_BOB);
    // 63 signatures by keys the policy does not know (anyone with the
    // bundle can add them; `verify` shows them, never counts them).
    let alice = PublicKey::from_file(&setup.t.join("alice.pub")).unwrap();
    let any_alice = TrustPolicy::any_of(vec![alice]).unwrap();
    for i in 0..63 {
        let k = SecretKey::generate(&format!("stranger {i}")).unwrap();
        // (Busy waited out: another test's child may hold the lock a moment.)
        crate::sign_output::sign_in_process(&setup.bundle, &any_alice, &k);
    }
    // 64 signatures: the bundle is readable, one approval short.
    airlock_fails(&["verify", s(&setup.bundle), "--trust", s(&policy)], 3);
    let before = std::fs::read(&setup.bundle).unwrap();
    let out = airlock(&[
        "sign",
        s(&setup.bundle),
        "--sign-key",
        s(&setup.t.join("bob.key")),
        "--trust",
        s(&policy),
        "-q",
    ]);
    let stdout = text(&out.stdout);
    if out.status.success() {
        // What bob was told must hold: the policy is satisfied.
        assert!(stdout.contains("policy satisfied"), "{stdout}");
        airlock_ok(&["verify", s(&setup.bundle), "--trust", s(&policy)]);
    } else {
        // Or refused, and nothing written.
        assert_eq!(std::fs::read(&setup.bundle).unwrap(), before);
    }
}

/// A `revoked` entry holding a secret key's base64 line by mistake (the
/// `.key` file instead of the `.pub` one) is quoted whole in the error:
/// an unencrypted secret key printed to stderr (and to stdout with
/// `--json`). `public_key = "<secret line>"` is caught and not repeated;
/// `revoked` and type errors are not.
#[test]
fn a_secret_key_line_in_revoked_is_never_printed() {
    let setup = Setup::new();
    let secret = std::fs::read_to_string(setup.t.join("bob.key")).unwrap();
    let line = secret.lines().nth(1).unwrap().to_string();
    let keys = "\n[[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n";
    for (name, head) in [
        ("in-list.toml", format!("revoked = [{line:?}]\n")),
        ("as-string.toml", format!("revoked = {line:?}\n")),
    ] {
        let policy = setup.policy(name, &format!("{head}{keys}"));
        let out = airlock(&["verify", s(&setup.bundle), "--trust", s(&policy), "--json"]);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
        // Any 40 characters of the secret half (after the fixed header).
        let secret_part = &line[80..120];
        for (stream, bytes) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
            assert!(
                !text(bytes).contains(secret_part),
                "{name}: the secret key is printed on {stream}:\n{}",
                text(bytes)
            );
        }
    }
}

/// A name in the policy was printed by `sign` with its newlines kept
/// (show::Sanitize keeps line breaks): a name could print a line of its
/// own, such as a forged "signatures now: ... policy satisfied". Names are
/// now held to one line of visible text when the policy is read, so the
/// policy is refused (exit 7, line and column) before anything is signed.
/// (Assertions changed with the fix: the reviewer's policy no longer
/// loads; escaping of everything else sign prints is tested in
/// tests/sign_output.rs.)
#[test]
fn sign_prints_each_policy_name_on_one_line() {
    let setup = Setup::new();
    let forged = "signatures now: alice, bob — policy satisfied: 5 of 2 approvals";
    let policy = setup.policy(
        "trust.toml",
        &format!(
            "threshold = 3\n\n\
             [[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n\n\
             [[key]]\nname = \"bob\\n{forged}\"\nfile = \"bob.pub\"\n\n\
             [[key]]\nname = \"mallory\"\nfile = \"mallory.pub\"\n"
        ),
    );
    let before = std::fs::read(&setup.bundle).unwrap();
    let out = airlock(&[
        "sign",
        s(&setup.bundle),
        "--sign-key",
        s(&setup.t.join("bob.key")),
        "--trust",
        s(&policy),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    // The name is shown escaped (and cut to 64 characters).
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "airlock: error: trust policy {}:8:8: name \"bob\\u{{a}}signatures now: alice, bob — policy satisfied: 5 of 2 approv…\" holds \\u{{a}}",
            policy.display()
        )),
        "{first}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with(forged)),
        "a policy name printed a line of its own:\n{stderr}"
    );
    assert_eq!(std::fs::read(&setup.bundle).unwrap(), before);
}

/// The `--force` warning was written with `eprintln!`, not through the
/// sanitizing writer the rest of the output uses: a policy name's escape
/// sequences reached the terminal raw (here: clear the screen) and its
/// newlines printed lines of their own on stderr. Such a name is now
/// refused when the policy is read (exit 7), and the warning is escaped
/// all the same. (Assertions changed with the fix: the policy no longer
/// loads, so nothing is signed.)
#[test]
fn the_force_warning_escapes_policy_names() {
    let setup = Setup::new();
    let bob = key_id(&setup.t.join("bob.pub"));
    let policy = setup.policy(
        "trust.toml",
        &format!(
            "revoked = [\"{bob}\"]\n\n\
             [[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n\n\
             [[key]]\nname = \"bob\\u001b[2J\\nairlock: note: bob's approval counts\"\nfile = \"bob.pub\"\n"
        ),
    );
    let out = airlock(&[
        "sign",
        s(&setup.bundle),
        "--sign-key",
        s(&setup.t.join("bob.key")),
        "--trust",
        s(&policy),
        "--force",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "a raw escape sequence on stderr: {stderr:?}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("airlock: note:")),
        "{stderr:?}"
    );
    assert!(
        stderr.starts_with(&format!(
            "airlock: error: trust policy {}:8:8: name \"bob\\u{{1b}}[2J\\u{{a}}airlock: note: bob's approval counts\" holds \\u{{1b}}",
            policy.display()
        )),
        "{stderr}"
    );
}

/// `sign` says "policy satisfied" for a bundle that `verify` and `import`
/// with the same policy refuse (exit 6): the policy's `max_age` (and
/// `max_db_age`) are part of the policy, and sign ignores them.
#[test]
fn sign_does_not_call_a_policy_satisfied_that_verify_refuses() {
    let setup = Setup::new();
    // CREATED is days in the past: older than max_age.
    let policy = setup.policy("trust.toml", &format!("max_age = \"1d\"\n{ALICE_AND_BOB}"));
    let out = airlock(&[
        "sign",
        s(&setup.bundle),
        "--sign-key",
        s(&setup.t.join("bob.key")),
        "--trust",
        s(&policy),
        "-q",
    ]);
    let stdout = text(&out.stdout);
    let verify = airlock(&["verify", s(&setup.bundle), "--trust", s(&policy)]);
    assert_eq!(verify.status.code(), Some(6), "{}", text(&verify.stderr));
    assert!(
        !stdout.contains("policy satisfied"),
        "sign said the policy is satisfied; verify with the same policy refused:\n{stdout}\n{}",
        text(&verify.stderr)
    );
}

/// For an encrypted key, `sign` judges the approver by the `.pub` file
/// beside the `.key` before the unlock; the code says that file is "only
/// the key's holder's word", but a stale one is trusted for a refusal: the
/// error names a key that is not the one signing ("key X is not listed")
/// and refuses an approval that counts.
#[test]
fn a_stale_pub_beside_an_encrypted_key_does_not_refuse_a_counting_approval() {
    let setup = Setup::new();
    let dir = setup.t.join("dave");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("dave");
    let made = Command::new(airlock_bin())
        .args(["keygen", "--out", s(&prefix), "--comment", "dave"])
        .env("AIRLOCK_PASSPHRASE", "correct horse")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    // The policy lists dave's real public key; the file beside his key is
    // an old one (here: mallory's).
    std::fs::copy(dir.join("dave.pub"), setup.t.join("dave-real.pub")).unwrap();
    std::fs::copy(setup.t.join("mallory.pub"), dir.join("dave.pub")).unwrap();
    let policy = setup.policy(
        "trust.toml",
        "threshold = 2\n\n\
         [[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n\n\
         [[key]]\nname = \"dave\"\nfile = \"dave-real.pub\"\n",
    );
    let out = Command::new(airlock_bin())
        .args([
            "sign",
            s(&setup.bundle),
            "--sign-key",
            s(&dir.join("dave.key")),
            "--trust",
            s(&policy),
            "-q",
        ])
        .env("AIRLOCK_PASSPHRASE", "correct horse")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mallory = key_id(&setup.t.join("mallory.pub"));
    assert!(
        !text(&out.stderr).contains(&mallory),
        "the refusal names a key that is not the signing key:\n{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    airlock_ok(&["verify", s(&setup.bundle), "--trust", s(&policy)]);
}

/// The refusal's advice said "`airlock inspect BUNDLE --trust POLICY`
/// lists them" (the keys the policy counts); inspect lists only the
/// signatures the bundle carries, not the policy's keys. The advice now
/// names where the counting keys are: the policy file's [[key]] entries.
/// (Assertions changed with the fix: the reviewer's test ran the old
/// advice; this one checks that no command is promised and the words say
/// where the keys are.)
#[test]
fn the_force_hint_points_at_a_command_that_lists_the_counting_keys() {
    let setup = Setup::new();
    let policy = setup.policy("trust.toml", ALICE_AND_BOB);
    let out = airlock(&[
        "sign",
        s(&setup.bundle),
        "--sign-key",
        s(&setup.t.join("mallory.key")),
        "--trust",
        s(&policy),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("hint: sign with a key the policy counts"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(!hint.contains("airlock inspect"), "{hint}");
    assert!(
        hint.contains("(one of the [[key]] entries in the policy file that is not revoked)"),
        "{hint}"
    );
}

/// A policy saved with a byte order mark (Windows editors do) reports
/// columns on line 1 one too far: the mark is invisible in the editor but
/// counted as a character.
#[test]
fn a_byte_order_mark_does_not_shift_the_column() {
    let k = SecretKey::generate("a").unwrap().public_key().to_base64();
    let body = format!("max_age = \"soon\"\n\n[[key]]\nname = \"a\"\npublic_key = {k:?}\n");
    let plain = TrustPolicy::from_toml(&body, Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(plain.starts_with("trust policy (text):1:11:"), "{plain}");
    let with_bom = TrustPolicy::from_toml(&format!("\u{feff}{body}"), Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        with_bom.starts_with("trust policy (text):1:11:"),
        "{with_bom}"
    );
}

/// Key files are read with a 4 KiB bound; the policy file is read whole
/// (`read_to_string`), whatever its size: `--trust /dev/zero` or a huge
/// file given by mistake is read into memory before anything is said.
#[test]
fn a_huge_policy_file_is_refused_without_reading_it_whole() {
    let setup = Setup::new();
    let mut body = String::from(ALICE_AND_BOB);
    let comment = format!("# {}\n", "x".repeat(1021));
    while body.len() < 32 << 20 {
        body.push_str(&comment);
    }
    let policy = setup.policy("huge.toml", &body);
    airlock_fails(&["verify", s(&setup.bundle), "--trust", s(&policy)], 7);
}

/// `sign --comment` with 1000 bytes is refused as "comment must be a
/// single line of at most 1024 bytes" (the limit is on the whole trusted
/// comment, which adds about 60 bytes), after the bundle was opened and a
/// temporary file created, with exit 1 (a host failure) for what is a
/// mistake in the command line.
#[test]
fn a_long_comment_is_refused_with_the_limit_it_breaks() {
    let setup = Setup::new();
    let policy = setup.policy("trust.toml", ALICE_AND_BOB);
    let comment = "x".repeat(1000);
    let out = airlock(&[
        "sign",
        s(&setup.bundle),
        "--sign-key",
        s(&setup.t.join("bob.key")),
        "--trust",
        s(&policy),
        "--comment",
        &comment,
        "-q",
    ]);
    let stderr = text(&out.stderr);
    if out.status.success() {
        return;
    }
    assert!(
        !stderr.contains("at most 1024 bytes"),
        "a 1000-byte comment refused as over 1024 bytes:\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

/// Holds: for every policy over four keys (roles a, b or none; threshold 1
/// to 4; role minimums 0 to 2) and every set of signers, `sign`'s view
/// (`approvals`: satisfied, and the approvals still needed) agrees with
/// the evaluator `verify` uses, and doing what "still needs" says
/// satisfies the policy.
#[test]
fn still_needs_agrees_with_the_evaluator() {
    let keys: Vec<SecretKey> = (0..4)
        .map(|i| SecretKey::generate(&format!("k{i}")).unwrap())
        .collect();
    let m = b"manifest";
    let sigs: Vec<_> = keys
        .iter()
        .map(|k| k.sign(m, "u", "timestamp:1").unwrap())
        .collect();
    let roles = [Some("a"), Some("b"), None];
    let mut checked = 0;
    // A sample of the 81 role assignments (every fifth), to keep it quick.
    for assign in (0..81usize).step_by(5) {
        let role_of: Vec<Option<&str>> = (0..4)
            .map(|i| roles[assign / 3usize.pow(i as u32) % 3])
            .collect();
        for threshold in 1..=4 {
            for (min_a, min_b) in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (2, 1), (2, 2)] {
                let mut text = format!("threshold = {threshold}\n[roles]\n");
                if min_a > 0 {
                    text.push_str(&format!("a = {min_a}\n"));
                }
                if min_b > 0 {
                    text.push_str(&format!("b = {min_b}\n"));
                }
                for (i, k) in keys.iter().enumerate() {
                    text.push_str(&format!(
                        "\n[[key]]\nname = \"k{i}\"\npublic_key = {:?}\n",
                        k.public_key().to_base64()
                    ));
                    if let Some(r) = role_of[i] {
                        text.push_str(&format!("role = {r:?}\n"));
                    }
                }
                let Ok(policy) = TrustPolicy::from_toml(&text, Path::new(".")) else {
                    continue;
                };
                for subset in 1..16usize {
                    let chosen: Vec<_> = (0..4)
                        .filter(|i| subset >> i & 1 == 1)
                        .map(|i| sigs[i].clone())
                        .collect();
                    let a = policy.approvals(m, &chosen).unwrap();
                    let ok = policy.evaluate(m, &chosen).is_ok();
                    assert_eq!(a.satisfied, ok, "{text}\nsigners {subset:04b}");
                    assert_eq!(a.satisfied, a.still_needs.is_empty());
                    // Add what is still needed, from the keys that have not signed.
                    let mut more = chosen.clone();
                    let mut left: Vec<usize> = (0..4).filter(|i| subset >> i & 1 == 0).collect();
                    for need in &a.still_needs {
                        for _ in 0..need.more {
                            let pick = left
                                .iter()
                                .position(|&i| {
                                    need.role.is_none() || role_of[i] == need.role.as_deref()
                                })
                                .expect("still needs asks for a key that cannot exist");
                            more.push(sigs[left.remove(pick)].clone());
                        }
                    }
                    assert!(
                        policy.evaluate(m, &more).is_ok(),
                        "{text}\n{subset:04b}: {:?}",
                        a.still_needs
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 200, "{checked}");
}

/// The permissions advice for a secret key file prints a command
/// (`chmod 600 PATH`) with the path unquoted, unlike the `airlock sign`
/// advice (hint.rs quotes it): a key under "my keys/" gets a command that
/// does not run as typed, and a file name with `$(...)` or `;` in it would
/// run more than chmod when pasted.
#[test]
fn the_chmod_advice_runs_as_printed() {
    let setup = Setup::new();
    let policy = setup.policy("trust.toml", ALICE_AND_BOB);
    let dir = setup.t.join("my keys");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("bob.key");
    std::fs::copy(setup.t.join("bob.key"), &key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let stderr = airlock_fails(
        &[
            "sign",
            s(&setup.bundle),
            "--sign-key",
            s(&key),
            "--trust",
            s(&policy),
        ],
        1,
    );
    let hint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: run `"))
        .unwrap_or_else(|| panic!("no chmod advice:\n{stderr}"));
    let command = hint.strip_suffix('`').unwrap();
    let ran = Command::new("sh")
        .args(["-c", command])
        .current_dir(setup.t.path())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "`{command}` as printed: {}",
        text(&ran.stderr)
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "`{command}` did not fix the key");
}
