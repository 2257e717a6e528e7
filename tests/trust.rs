//! Procurement-approved transfers: k-of-n approvals under the shipped
//! trust policy, revocation, downgrade and freshness refusals, the audit
//! chain and signed receipts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fixtures::*;
use crate::support::*;

fn manifest_bytes(bundle: &Path) -> Vec<u8> {
    let tar = bundle_tar(bundle);
    let (o, l) = tar_entry_offset(&tar, "airlock/manifest.toml");
    tar[o..o + l as usize].to_vec()
}

/// alice (builder), bob (approver), carol (security-officer), and
/// examples/trust.toml beside their public keys.
struct People {
    t: TestDir,
    inputs: Inputs,
    alice: PathBuf,
    bob: PathBuf,
    carol: PathBuf,
    trust: PathBuf,
}

fn people() -> People {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (alice, _) = keygen(t.path(), "alice");
    let (bob, _) = keygen(t.path(), "bob");
    let (carol, _) = keygen(t.path(), "carol");
    // The shipped policy, without its age limits (the fixture databases are
    // from 2024; the age rules are tested on their own below).
    let trust = t.join("trust.toml");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trust.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let relaxed = text
        .replace("max_age = \"45d\"\n", "")
        .replace("max_db_age = \"14d\"\n", "");
    assert_ne!(relaxed, text, "the example sets age limits");
    write(&trust, relaxed.as_bytes());
    People {
        t,
        inputs,
        alice,
        bob,
        carol,
        trust,
    }
}

/// The shipped policy with `edit` applied to its text.
fn policy_variant(p: &People, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let path = p.t.join(name);
    write(
        &path,
        edit(std::fs::read_to_string(&p.trust).unwrap()).as_bytes(),
    );
    path
}

fn key_id(public: &Path) -> String {
    let text = std::fs::read_to_string(public).unwrap();
    // "untrusted comment: minisign public key <ID> (...)"
    text.split_whitespace().nth(5).unwrap().to_string()
}

fn export(p: &People, out: &Path, key: &Path, extra: &[&str]) {
    let mut args = vec![
        "export",
        "-o",
        s(out),
        "--sign-key",
        s(key),
        "--trivy-db",
        s(&p.inputs.db),
        "--java-db",
        s(&p.inputs.java_db),
        "--created",
        CREATED,
    ];
    args.extend_from_slice(extra);
    airlock_ok(&args);
}

fn sign(bundle: &Path, key: &Path, trust: &Path) -> String {
    airlock_ok(&["sign", s(bundle), "--sign-key", s(key), "--trust", s(trust)])
}

fn import(bundle: &Path, trust: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(airlock_bin());
    cmd.args([
        "import",
        s(bundle),
        "--trust",
        s(trust),
        "--cache-dir",
        s(cache),
    ])
    .args(extra);
    cmd.output().unwrap()
}

fn refused(out: &std::process::Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in:\n{err}");
    }
}

/// The decisions recorded in a cache's audit log, in order.
fn decisions(cache: &Path) -> Vec<String> {
    std::fs::read_to_string(cache.join(AUDIT_LOG))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["decision"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn two_of_three_with_a_security_officer_under_the_shipped_policy() {
    let p = people();
    let bundle = p.t.join("monthly.airlock");
    export(&p, &bundle, &p.alice, &[]);
    let signed = manifest_bytes(&bundle);
    let cache = p.t.join("cache");

    // The builder alone: one approval of two.
    refused(
        &import(&bundle, &p.trust, &cache, &[]),
        3,
        &[
            "1 of the 2 required approvals",
            "(alice, builder) valid, counted",
        ],
    );
    assert!(!cache.exists(), "a refusal creates nothing");
    // alice + bob: two approvals, but no security officer.
    let out = sign(&bundle, &p.bob, &p.trust);
    assert!(out.contains("signatures now"), "{out}");
    refused(
        &import(&bundle, &p.trust, &cache, &[]),
        3,
        &["needs 1 approval(s) by role \"security-officer\", the bundle has 0"],
    );
    // inspect shows who signed and that the policy is not met yet.
    let shown = airlock_ok(&["inspect", s(&bundle), "--trust", s(&p.trust)]);
    assert!(
        shown.contains("(bob, approver): valid, counted, signed "),
        "{shown}"
    );
    assert!(shown.contains("policy:   NOT satisfied"), "{shown}");
    // + carol: accepted. The signed manifest never changed.
    sign(&bundle, &p.carol, &p.trust);
    assert!(manifest_bytes(&bundle) == signed);
    let out = import(&bundle, &p.trust, &cache, &[]);
    assert!(out.status.success(), "{out:?}");
    let shown = airlock_ok(&["inspect", s(&bundle), "--trust", s(&p.trust), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["policy_satisfied"], true);
    // Split for media by one of them: the part index needs one trusted
    // signature; the bundle inside still needs its two approvals.
    let media = p.t.join("media");
    std::fs::create_dir_all(&media).unwrap();
    airlock_ok(&[
        "split",
        s(&bundle),
        "--split",
        "64K",
        "-o",
        s(&media.join("monthly.airlock")),
        "--sign-key",
        s(&p.carol),
        "--trust",
        s(&p.trust),
    ]);
    let out = import(
        &media.join("monthly.airlock.001"),
        &p.trust,
        &p.t.join("cache-from-parts"),
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let mut names: Vec<&str> = v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["key_id"].as_str().unwrap().len() == 16 && s["timestamp"].is_u64()));
}

#[test]
fn revoked_unknown_and_twice_listed_keys_do_not_count() {
    let p = people();
    let (stranger, _) = keygen(p.t.path(), "stranger");
    let bundle = p.t.join("b.airlock");
    export(&p, &bundle, &p.alice, &[]);
    let no_roles = |t: String| t.replace("\nsecurity-officer = 1\n", "\n");
    // bob revoked: alice + bob is one approval.
    let bob_id = key_id(&p.t.join("bob.pub"));
    let revoked = policy_variant(&p, "revoked.toml", |t| {
        no_roles(t).replace("revoked = []", &format!("revoked = [\"{bob_id}\"]"))
    });
    let all = policy_variant(&p, "all.toml", no_roles);
    sign(&bundle, &p.bob, &all);
    // A stranger's approval is listed, never counted (sign adds it only
    // when forced: issue 15).
    airlock_ok(&[
        "sign",
        s(&bundle),
        "--sign-key",
        s(&stranger),
        "--trust",
        s(&all),
        "--force",
    ]);
    let cache = p.t.join("cache");
    refused(
        &import(&bundle, &revoked, &cache, &[]),
        3,
        &[
            "1 of the 2 required approvals",
            "(bob, approver) revoked by the policy, not counted",
            "not trusted here, not counted",
        ],
    );
    // alice listed twice (as herself and as "alice-again") still counts once.
    let twice = policy_variant(&p, "twice.toml", |t| {
        no_roles(t).replace(
            "[[key]]\nname = \"bob\"\nrole = \"approver\"\nfile = \"bob.pub\"",
            "[[key]]\nname = \"alice-again\"\nrole = \"builder\"\nfile = \"alice.pub\"",
        )
    });
    let single = p.t.join("single.airlock");
    export(&p, &single, &p.alice, &[]);
    refused(
        &import(&single, &twice, &cache, &[]),
        3,
        &["1 of the 2 required approvals"],
    );
    // Without the revocation, the same bundle is accepted.
    let out = import(&bundle, &all, &cache, &[]);
    assert!(out.status.success(), "{out:?}");
}

/// Driven by the crash points of `src/fault.rs`: compiled only with
/// `--features fault-injection` (tests/crash.rs fails a CI run without it).
#[cfg(feature = "fault-injection")]
#[test]
fn a_sign_killed_at_any_step_leaves_the_bundle_as_it_was() {
    let p = people();
    let bundle = p.t.join("b.airlock");
    export(&p, &bundle, &p.alice, &[]);
    let original = std::fs::read(&bundle).unwrap();
    let trace = p.t.join("trace");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(airlock_bin());
        cmd.args([
            "sign",
            s(&bundle),
            "--sign-key",
            s(&p.bob),
            "--trust",
            s(&p.trust),
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // The steps of one sign, from a run on a copy.
    let copy = p.t.join("copy.airlock");
    std::fs::copy(&bundle, &copy).unwrap();
    let out = Command::new(airlock_bin())
        .args([
            "sign",
            s(&copy),
            "--sign-key",
            s(&p.bob),
            "--trust",
            s(&p.trust),
        ])
        .env("AIRLOCK_FAULT_TRACE", &trace)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let points: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("sign: "))
        .map(String::from)
        .collect();
    assert!(points.len() >= 4, "{points:?}");
    let replaced_at = points
        .iter()
        .position(|l| l.ends_with("sign: replaced"))
        .unwrap();
    for line in &points[..replaced_at] {
        let n = line.split(' ').next().unwrap();
        let out = run(&[("AIRLOCK_FAULT_KILL", n)]);
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{line}: {out:?}");
        assert!(
            std::fs::read(&bundle).unwrap() == original,
            "killed at {line}: the bundle changed"
        );
    }
    // Killed after the rename, the bundle is the complete new one.
    let out = run(&[(
        "AIRLOCK_FAULT_KILL",
        points[replaced_at].split(' ').next().unwrap(),
    )]);
    assert!(!out.status.success());
    airlock_ok(&["verify", s(&bundle), "--key", s(&p.t.join("bob.pub"))]);
}

#[test]
fn downgrades_are_refused_unless_forced_and_recorded() {
    let p = people();
    let all = policy_variant(&p, "all.toml", |t| {
        t.replace("threshold = 2", "threshold = 1")
            .replace("\nsecurity-officer = 1\n", "\n")
    });
    let b5 = p.t.join("b5.airlock");
    let b4 = p.t.join("b4.airlock");
    export(
        &p,
        &b5,
        &p.alice,
        &["--sequence", "5", "--series", "monthly"],
    );
    export(
        &p,
        &b4,
        &p.alice,
        &["--sequence", "4", "--series", "monthly"],
    );
    let cache = p.t.join("cache");
    assert!(import(&b5, &all, &cache, &[]).status.success());
    let before = tree_hash(&cache);
    refused(
        &import(&b4, &all, &cache, &[]),
        6,
        &[
            "this would be a downgrade",
            "series \"monthly\" is at sequence 5 on this host; this bundle is sequence 4",
            "--allow-downgrade",
        ],
    );
    assert_eq!(
        tree_hash(&cache),
        before,
        "a refused downgrade changes nothing"
    );
    // The same bundle again is fine (say, after a crash).
    assert!(import(&b5, &all, &cache, &[]).status.success());
    // Forced: accepted, and the log says so.
    let out = import(&b4, &all, &cache, &["--allow-downgrade", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["forced"][0].as_str().unwrap().contains("sequence 5"));
    assert_eq!(
        decisions(&cache),
        ["accepted", "refused", "accepted", "forced"]
    );
    // A policy that never allows downgrades refuses even the forced import.
    let never = policy_variant(&p, "never.toml", |t| {
        std::fs::read_to_string(&all)
            .unwrap_or(t)
            .replace("downgrade = \"with-flag\"", "downgrade = \"never\"")
    });
    assert!(import(&b5, &never, &cache, &[]).status.success());
    refused(
        &import(&b4, &never, &cache, &["--allow-downgrade"]),
        6,
        &[
            "series \"monthly\" is at sequence 5",
            "never allows downgrades",
        ],
    );
    // A checks bundle outside any series: an older one replayed after a
    // newer one is refused (the state remembers which bundle installed it).
    let checks_at = |when: &str, name: &str| {
        let out = p.t.join(name);
        airlock_ok(&[
            "export",
            "-o",
            s(&out),
            "--sign-key",
            s(&p.alice),
            "--checks",
            s(&p.inputs.checks),
            "--created",
            when,
        ]);
        out
    };
    // Another version of the checks: identical content made earlier is
    // "already installed", not a downgrade (issue 15).
    let original = std::fs::read(&p.inputs.checks).unwrap();
    write(
        &p.inputs.checks,
        &crate::support::fixtures::checks_bundle_tar_gz_other(),
    );
    let old_checks = checks_at("2026-01-01T00:00:00Z", "checks-jan.airlock");
    write(&p.inputs.checks, &original);
    let new_checks = checks_at("2026-02-01T00:00:00Z", "checks-feb.airlock");
    let c3 = p.t.join("c3");
    assert!(import(&new_checks, &all, &c3, &[]).status.success());
    refused(
        &import(&old_checks, &all, &c3, &[]),
        6,
        &["policy was installed here from a bundle created 2026-02-01T00:00:00Z; this bundle was created 2026-01-01T00:00:00Z"],
    );
    // A sequence file counts up across exports.
    let seq = p.t.join("monthly.seq");
    for n in [1, 2] {
        let out = p.t.join(&format!("s{n}.airlock"));
        export(
            &p,
            &out,
            &p.alice,
            &["--sequence-file", s(&seq), "--series", "monthly"],
        );
        let shown = airlock_ok(&["inspect", s(&out), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(v["manifest"]["sequence"], n);
        assert_eq!(v["manifest"]["series"], "monthly");
    }
}

/// The shipped policy with any one key enough (threshold 1, no role
/// rule), `limits` (TOML lines such as `max_db_age = "14d"`) at its top.
fn any_one_policy(p: &People, name: &str, limits: &str) -> PathBuf {
    policy_variant(p, name, |t| {
        let any_one = t
            .replace("threshold = 2", "threshold = 1")
            .replace("\nsecurity-officer = 1\n", "\n");
        format!("{limits}{any_one}")
    })
}

/// A trivy-db fixture (schema 2) updated at `updated`, next due at `next`.
fn trivy_db_file(p: &People, name: &str, updated: &str, next: &str) -> PathBuf {
    let path = p.t.join(name);
    write(&path, &trivy_db_tar_gz(2, updated, next));
    path
}

/// Exports `db` alone, signed by alice, with `extra` flags.
fn export_db(p: &People, out: &Path, db: &Path, extra: &[&str]) {
    let mut args = vec![
        "export",
        "-o",
        s(out),
        "--sign-key",
        s(&p.alice),
        "--trivy-db",
        s(db),
    ];
    args.extend_from_slice(extra);
    airlock_ok(&args);
}

#[test]
fn an_older_database_than_the_installed_one_is_refused() {
    let p = people();
    let all = any_one_policy(&p, "all.toml", "");
    let cache = p.t.join("cache");
    // Installed: a trivy-db of 2024-02-01. Offered: the fixture's 2024-01-01.
    let newer = trivy_db_file(
        &p,
        "newer-db.tar.gz",
        "2024-02-01T00:00:00Z",
        "2024-02-02T00:00:00Z",
    );
    let b_new = p.t.join("new.airlock");
    export_db(&p, &b_new, &newer, &[]);
    let b_old = p.t.join("old.airlock");
    export(&p, &b_old, &p.alice, &[]);
    assert!(import(&b_new, &all, &cache, &[]).status.success());
    let before = tree_hash(&cache);
    refused(
        &import(&b_old, &all, &cache, &[]),
        6,
        &["the trivy-db in this bundle (UpdatedAt 2024-01-01T00:00:00Z) is older than the installed one (UpdatedAt 2024-02-01T00:00:00Z)"],
    );
    assert_eq!(tree_hash(&cache), before);
}

#[test]
fn a_database_older_than_max_db_age_is_refused_by_import_and_verify() {
    let p = people();
    // The fixture DB is years old.
    let strict = any_one_policy(&p, "strict.toml", "max_db_age = \"14d\"\n");
    let b_old = p.t.join("old.airlock");
    export(&p, &b_old, &p.alice, &[]);
    let fresh_cache = p.t.join("fresh-cache");
    let cases: [(&str, Vec<&str>, &[&str]); 2] = [
        (
            "import",
            vec![
                "import",
                s(&b_old),
                "--trust",
                s(&strict),
                "--cache-dir",
                s(&fresh_cache),
            ],
            &[
                "refused by the trust policy: the trivy-db in this bundle is ",
                "old (UpdatedAt 2024-01-01T00:00:00Z), the policy's max_db_age is 14d 0h",
            ],
        ),
        (
            "verify",
            vec!["verify", s(&b_old), "--trust", s(&strict)],
            &["max_db_age is 14d"],
        ),
    ];
    for (what, args, needles) in cases {
        let out = Command::new(airlock_bin()).args(&args).output().unwrap();
        eprintln!("{what}");
        refused(&out, 6, needles);
    }
}

#[test]
fn a_bundle_from_the_future_is_refused_and_max_age_follows_the_newest_time_seen() {
    let p = people();
    // max_age, judged against the newest time the host has seen. A bundle
    // dated years ahead is refused outright (recorded, it would make every
    // later bundle a downgrade); one a little ahead, within the allowed
    // clock skew, is taken as it is.
    let recent = any_one_policy(&p, "recent.toml", "max_age = \"45d\"\n");
    let future = p.t.join("future.airlock");
    let today = p.t.join("today.airlock");
    let newest = trivy_db_file(
        &p,
        "newest-db.tar.gz",
        "2024-03-01T00:00:00Z",
        "2024-03-02T00:00:00Z",
    );
    let far = airlock_fails(
        &[
            "export",
            "-o",
            s(&future),
            "--sign-key",
            s(&p.alice),
            "--trivy-db",
            s(&newest),
            "--created",
            "2030-01-01T00:00:00Z",
        ],
        2,
    );
    assert!(
        far.contains("--created 2030-01-01T00:00:00Z is in the future"),
        "{far}"
    );
    let ahead = rfc3339_from_now(1800);
    export_db(&p, &future, &newest, &["--created", &ahead]);
    export_db(&p, &today, &newest, &[]);
    let c2 = p.t.join("c2");
    assert!(import(&today, &recent, &c2, &[]).status.success());
    assert!(import(&future, &recent, &c2, &[]).status.success());
    // Going back to today's bundle, with the same database, changes
    // nothing: it is "already installed", not a downgrade by creation time
    // (issue 15); max_age still passes.
    let out = import(&today, &recent, &c2, &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("already installed: "),
        "{out:?}"
    );
    let out = import(&today, &recent, &c2, &["--allow-downgrade"]);
    assert!(out.status.success(), "{out:?}");
    // This host's clock is set back after it had seen 2030 (its state says
    // so): a bundle made "today" is now years old, whatever the clock says.
    let state_path = c2.join(".airlock-state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    state["newest_seen"] = "2030-01-01T00:00:00Z".into();
    write(&state_path, state.to_string().as_bytes());
    refused(
        &import(&today, &recent, &c2, &[]),
        6,
        &["the bundle was created", "the policy's max_age is 45d 0h"],
    );
}

#[test]
fn the_audit_chain_finds_edits_and_receipts_prove_imports() {
    let t = TestDir::new();
    let ex = export_fixtures(&t);
    let (auditor_key, auditor) = keygen(t.path(), "auditor");
    let cache = t.join("cache");
    import_ok(&ex.bundle, &ex.public, &cache, &[]);
    let (stranger_key, _) = keygen(t.path(), "stranger");
    let other = t.join("other.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&other),
        "--sign-key",
        s(&stranger_key),
        "--trivy-db",
        s(&ex.inputs.db),
    ]);
    import_fails(&other, &ex.public, &cache, 3);
    let receipt = t.join("receipt.json");
    import_ok(
        &ex.bundle,
        &ex.public,
        &cache,
        &["--receipt", s(&receipt), "--receipt-key", s(&auditor_key)],
    );
    assert_eq!(decisions(&cache), ["accepted", "refused", "accepted"]);
    let out = airlock_ok(&["audit", "--cache-dir", s(&cache)]);
    assert!(
        out.contains(
            "3 lines, chain intact (1 accepted, 0 forced, 1 refused, 1 already installed)"
        ),
        "{out}"
    );
    let log = cache.join(AUDIT_LOG);
    // The README's shell check (coreutils and sed only).
    let pipeline = r#"prev=0000000000000000000000000000000000000000000000000000000000000000; n=0
while IFS= read -r line; do n=$((n+1))
  [ "$(printf '%s' "$line" | sed -n 's/.*"prev":"\([0-9a-f]\{64\}\)".*/\1/p')" = "$prev" ] || { echo "chain broken at line $n"; exit 1; }
  prev=$(printf '%s\n' "$line" | sha256sum | cut -d' ' -f1)
done < "$1"; echo "intact: $n lines, head $prev""#;
    let shell = |log: &Path| {
        Command::new("bash")
            .args(["-c", pipeline, "check", s(log)])
            .output()
            .unwrap()
    };
    let ok = shell(&log);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("intact: 3 lines"));

    // The receipt verifies with airlock and with minisign; edited, it does not.
    let out = airlock_ok(&["verify-receipt", s(&receipt), "--key", s(&auditor)]);
    assert!(
        out.contains("OK: receipt") && out.contains("accepted"),
        "{out}"
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(r["audit"]["line"], 3);
    run_ok(Command::new(tool("minisign")).args(["-Vm", s(&receipt), "-p", s(&auditor)]));
    let text = std::fs::read_to_string(&receipt).unwrap();
    std::fs::write(&receipt, text.replacen("accepted", "refused", 1)).unwrap();
    let err = airlock_fails(&["verify-receipt", s(&receipt), "--key", s(&auditor)], 3);
    assert!(err.contains("is not proven"), "{err}");
    assert!(!Command::new(tool("minisign"))
        .args(["-Vm", s(&receipt), "-p", s(&auditor)])
        .output()
        .unwrap()
        .status
        .success());

    // Editing an earlier line breaks the chain at the next one.
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let edited = lines[1].replacen("\"refused\"", "\"accepted\"", 1);
    assert_ne!(edited, lines[1]);
    std::fs::write(&log, format!("{}\n{edited}\n{}\n", lines[0], lines[2])).unwrap();
    let err = airlock_fails(&["audit", "--cache-dir", s(&cache)], 4);
    assert!(err.contains("line 3: prev is"), "{err}");
    let broken = shell(&log);
    assert!(!broken.status.success());
    assert_eq!(
        String::from_utf8_lossy(&broken.stdout).trim(),
        "chain broken at line 3"
    );
}
