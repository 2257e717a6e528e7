//! Issue 15, items 1 and 8, through the real binary: an approval the trust
//! policy would not count is refused before anything is written (and,
//! for an unencrypted key, before anything else is done with the key), `--force` adds it with a warning; `sign` says
//! who has signed and what the policy still needs; the "too few approvals"
//! advice is a command that works as printed; a key file of the wrong kind
//! is named as such; policy mistakes exit 7 with line and column.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock::keys::PublicKey;

use crate::support::*;

fn key_id(public: &Path) -> String {
    PublicKey::from_file(public).unwrap().key_id().to_string()
}

/// alice (builder) exports; bob (approver) and carol (security-officer)
/// may approve; 2 approvals with at least one security officer. mallory
/// is in no policy.
struct Team {
    t: TestDir,
    bundle: PathBuf,
    policy: PathBuf,
}

impl Team {
    fn new(extra: &str) -> Self {
        let t = TestDir::new();
        let inputs = write_inputs(t.path());
        for name in ["alice", "bob", "carol", "mallory"] {
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
        let text = format!(
            "threshold = 2\n{extra}\n[roles]\nsecurity-officer = 1\n\n\
             [[key]]\nname = \"alice\"\nrole = \"builder\"\nfile = \"alice.pub\"\n\n\
             [[key]]\nname = \"bob\"\nrole = \"approver\"\nfile = \"bob.pub\"\n\n\
             [[key]]\nname = \"carol\"\nrole = \"security-officer\"\nfile = \"carol.pub\"\n"
        );
        write(&policy, text.as_bytes());
        Team { t, bundle, policy }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.t.join(&format!("{name}.key"))
    }

    fn id(&self, name: &str) -> String {
        key_id(&self.t.join(&format!("{name}.pub")))
    }

    fn sign(&self, name: &str, extra: &[&str]) -> std::process::Output {
        let key = self.key(name);
        let mut args = vec![
            "sign",
            s(&self.bundle),
            "--sign-key",
            s(&key),
            "--trust",
            s(&self.policy),
        ];
        args.extend_from_slice(extra);
        airlock(&args)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const FORCE_HINT: &str = "hint: sign with a key the policy counts (one of the [[key]] entries in the policy file that is not revoked), or pass --force to add this signature anyway: it is shown, never counted";

#[test]
fn an_approval_the_policy_would_not_count_is_refused_and_changes_nothing() {
    let team = Team::new("");
    let before = std::fs::read(&team.bundle).unwrap();
    let out = team.sign("mallory", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "airlock: error: key {} is not listed in the trust policy: its approval would never count\n{FORCE_HINT}\n",
            team.id("mallory")
        )
    );
    assert_eq!(text(&out.stdout), "");
    assert_eq!(std::fs::read(&team.bundle).unwrap(), before);
    assert_no_leftovers(team.t.path(), ".airlock-");

    // A revoked key: named, and refused the same way.
    let revoked = Team::new(&format!("revoked = [\"{}\"]", "REPLACED"));
    let bob = revoked.id("bob");
    let text_now = std::fs::read_to_string(&revoked.policy).unwrap();
    write(
        &revoked.policy,
        text_now.replace("REPLACED", &bob).as_bytes(),
    );
    let before = std::fs::read(&revoked.bundle).unwrap();
    let out = revoked.sign("bob", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).lines().next().unwrap(),
        format!(
            "airlock: error: bob (key {bob}) is revoked by the trust policy (as key {bob}): its approval would never count"
        )
    );
    assert_eq!(std::fs::read(&revoked.bundle).unwrap(), before);
}

#[test]
fn an_encrypted_key_that_would_not_count_is_refused_after_its_unlock() {
    let team = Team::new("");
    // An encrypted key pair; the .pub beside it is only its holder's word,
    // so the refusal waits for the unlock (review finding 4).
    let prefix = team.t.join("eve");
    let made = Command::new(airlock_bin())
        .args(["keygen", "--out", s(&prefix), "--comment", "eve"])
        .env("AIRLOCK_PASSPHRASE", "correct horse")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let before = std::fs::read(&team.bundle).unwrap();
    // No passphrase and no terminal: the unlock fails (exit 1); nothing is
    // refused on the word of the .pub file.
    let out = team.sign("eve", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("encrypted with a passphrase"),
        "{}",
        text(&out.stderr)
    );
    // Unlocked: refused with the key's own id, and nothing written.
    let out = Command::new(airlock_bin())
        .args([
            "sign",
            s(&team.bundle),
            "--sign-key",
            s(&team.key("eve")),
            "--trust",
            s(&team.policy),
        ])
        .env("AIRLOCK_PASSPHRASE", "correct horse")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).lines().next().unwrap(),
        format!(
            "airlock: error: key {} is not listed in the trust policy: its approval would never count",
            team.id("eve")
        )
    );
    assert_eq!(std::fs::read(&team.bundle).unwrap(), before);
    let mut left: Vec<_> = std::fs::read_dir(team.t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial"))
        .collect();
    left.sort();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn force_adds_an_approval_that_does_not_count_and_says_so() {
    let team = Team::new("");
    let mallory = team.id("mallory");
    // -q: stderr holds the warning alone (no progress lines).
    let out = team.sign("mallory", &["--force", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!("airlock: warning: key {mallory} is not listed in the trust policy: its approval would never count; signed anyway (--force): the signature is shown, never counted\n")
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| l
            == format!("signatures now: alice (builder), key {mallory} [not in the policy, not counted] — policy not yet satisfied: 1 of 2 approvals; still needs: 1 more security-officer")),
        "{stdout}"
    );
    // It is on the bundle, and it does not count.
    airlock_fails(&["verify", s(&team.bundle), "--trust", s(&team.policy)], 3);
    airlock_ok(&[
        "verify",
        s(&team.bundle),
        "--key",
        s(&team.t.join("mallory.pub")),
    ]);
}

#[test]
fn sign_says_who_has_signed_and_what_the_policy_still_needs() {
    let team = Team::new("");
    let out = team.sign("bob", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "signed {} with bob (key {})",
            std::fs::canonicalize(&team.bundle).unwrap().display(),
            team.id("bob")
        )
    );
    assert_eq!(
        lines[3],
        "signatures now: alice (builder), bob (approver) — policy not yet satisfied: 2 of 2 approvals; still needs: 1 more security-officer"
    );
    // The same in JSON.
    let out = team.sign("carol", &["--json", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signer"], format!("carol (key {})", team.id("carol")));
    assert_eq!(v["forced"], false);
    assert_eq!(v["approvals"]["satisfied"], true);
    assert_eq!(v["approvals"]["counted"], 3);
    assert_eq!(v["approvals"]["threshold"], 2);
    assert_eq!(v["approvals"]["still_needs"], serde_json::json!([]));
    let names: Vec<&str> = v["approvals"]["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    for name in ["alice", "bob", "carol"] {
        assert!(names.contains(&name), "{names:?}");
    }
    airlock_ok(&["verify", s(&team.bundle), "--trust", s(&team.policy)]);
}

#[test]
fn sign_json_says_what_is_still_needed() {
    let team = Team::new("");
    let out = team.sign("bob", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["approvals"]["satisfied"], false);
    assert_eq!(
        v["approvals"]["still_needs"],
        serde_json::json!([{"role": "security-officer", "more": 1}])
    );
    // Its progress went to stderr as JSON lines, ending with the pass.
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("{\"event\":\"end\",\"phase\":\"sign\"")),
        "{stderr}"
    );
}

/// The `hint:` line of `stderr` that suggests `airlock sign`, run as
/// printed with KEY replaced by `key`.
fn run_suggested(stderr: &str, key: &Path) -> String {
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("hint: ") && l.contains(": airlock sign "))
        .unwrap_or_else(|| panic!("no sign advice in:\n{stderr}"));
    let command = hint.split_once(": airlock ").unwrap().1;
    let args: Vec<&str> = command
        .split(' ')
        .map(|w| if w == "KEY" { s(key) } else { w })
        .collect();
    airlock_ok(&args)
}

#[test]
fn the_advice_for_too_few_approvals_works_as_printed() {
    let team = Team::new("");
    let verify = ["verify", s(&team.bundle), "--trust", s(&team.policy)];
    // alice alone: one more approval, by anyone the policy trusts.
    let stderr = airlock_fails(&verify, 3);
    assert!(
        stderr.lines().any(|l| l
            == format!(
                "hint: get the bundle approved by another key the policy trusts: airlock sign {} --sign-key KEY --trust {}",
                s(&team.bundle),
                s(&team.policy)
            )),
        "{stderr}"
    );
    run_suggested(&stderr, &team.key("bob"));
    // alice and bob: a security officer is still missing.
    let stderr = airlock_fails(&verify, 3);
    assert!(
        stderr.lines().any(|l| l
            == format!(
                "hint: get the bundle approved by a key with role \"security-officer\": airlock sign {} --sign-key KEY --trust {}",
                s(&team.bundle),
                s(&team.policy)
            )),
        "{stderr}"
    );
    run_suggested(&stderr, &team.key("carol"));
    airlock_ok(&verify);
}

#[test]
fn a_key_file_of_the_wrong_kind_is_named_with_what_to_give_instead() {
    let team = Team::new("");
    let (bob_key, bob_pub) = (team.key("bob"), team.t.join("bob.pub"));
    // The public key (mode 0644) as the signing key: no chmod advice.
    let before = std::fs::read(&team.bundle).unwrap();
    let out = airlock(&[
        "sign",
        s(&team.bundle),
        "--sign-key",
        s(&bob_pub),
        "--trust",
        s(&team.policy),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "airlock: error: {pub_} is a minisign public key, not a secret key\n\
             hint: signing needs the secret half of the key pair: the .key file written with this .pub ({key} beside it); a public key only checks signatures\n",
            pub_ = s(&bob_pub),
            key = s(&bob_key)
        )
    );
    assert_eq!(std::fs::read(&team.bundle).unwrap(), before);
    // The secret key as a trusted key: named, its content never shown.
    let out = airlock(&["verify", s(&team.bundle), "--key", s(&bob_key)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "airlock: error: {key} is a minisign secret key, not a public key\n\
             hint: give the public half of the key pair: the .pub file written with this .key ({pub_} beside it); a secret key belongs only with the person who signs\n",
            pub_ = s(&bob_pub),
            key = s(&bob_key)
        )
    );
    let secret_line = std::fs::read_to_string(&bob_key).unwrap();
    let secret_line = secret_line.lines().nth(1).unwrap();
    assert!(!text(&out.stderr).contains(&secret_line[20..40]));
    assert!(!text(&out.stdout).contains(&secret_line[20..40]));
}

#[test]
fn policy_mistakes_exit_7_naming_the_file_line_and_column() {
    let team = Team::new("");
    let dir = team.t.path();
    let keys = |second: &str| {
        format!(
            "threshold = 1\n\n[[key]]\nname = \"alice\"\nfile = \"alice.pub\"\n\n[[key]]\n{second}\n"
        )
    };
    let cases: Vec<(&str, String, String)> = vec![
        (
            "syntax.toml",
            "threshold = 2\nfoo = \n".into(),
            "2:7: invalid string; expected `\"`, `'`".into(),
        ),
        (
            "type.toml",
            "threshold = \"two\"\n".into(),
            "1:13: invalid type: string \"two\", expected usize".into(),
        ),
        (
            "duplicate.toml",
            keys("name = \"alice\"\nfile = \"bob.pub\""),
            "8:8: the name \"alice\" is given to two keys (first on line 4): a name must say which key signed".into(),
        ),
        (
            "missing.toml",
            keys("name = \"bob\"\nfile = \"gone.pub\""),
            format!(
                "9:8: key \"bob\": cannot read key file {}: No such file or directory (os error 2)",
                s(&dir.join("gone.pub"))
            ),
        ),
        (
            "secret.toml",
            keys("name = \"bob\"\nfile = \"bob.key\""),
            format!(
                "9:8: key \"bob\": {} is a minisign secret key, not a public key",
                s(&dir.join("bob.key"))
            ),
        ),
    ];
    for (name, policy, expected) in cases {
        let path = dir.join(name);
        write(&path, policy.as_bytes());
        let stderr = airlock_fails(&["verify", s(&team.bundle), "--trust", s(&path)], 7);
        assert_eq!(
            stderr.lines().next().unwrap(),
            format!("airlock: error: trust policy {}:{expected}", s(&path)),
            "{name}"
        );
    }
    // A policy file that is not there: 7 too, not 3 or 1.
    let gone = dir.join("no-such-policy.toml");
    let stderr = airlock_fails(&["verify", s(&team.bundle), "--trust", s(&gone)], 7);
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!(
            "airlock: error: trust policy {}: cannot read it: No such file or directory (os error 2)",
            s(&gone)
        )
    );
    // import and sign refuse it the same way, and write nothing.
    let cache = dir.join("cache");
    let dup = dir.join("duplicate.toml");
    airlock_fails(
        &[
            "import",
            s(&team.bundle),
            "--trust",
            s(&dup),
            "--cache-dir",
            s(&cache),
        ],
        7,
    );
    assert!(!cache.exists());
    let before = std::fs::read(&team.bundle).unwrap();
    airlock_fails(
        &[
            "sign",
            s(&team.bundle),
            "--sign-key",
            s(&team.key("bob")),
            "--trust",
            s(&dup),
        ],
        7,
    );
    assert_eq!(std::fs::read(&team.bundle).unwrap(), before);
}
