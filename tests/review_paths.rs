//! Review: every path the command line prints (keygen, sign, split, join,
//! verify, status, rollback) is shown on one line, a line break escaped as
//! `\u{a}` and a byte that is not UTF-8 as `\x..`, on stdout and stderr.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::*;

/// airlock with `args` (any bytes): exit code, stdout, stderr.
fn run(args: &[&OsStr]) -> (i32, String, String) {
    let out = Command::new(airlock_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run airlock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// `base` joined with `name` given as bytes.
fn join_bytes(base: &Path, name: &[u8]) -> PathBuf {
    base.join(OsString::from_vec(name.to_vec()))
}

/// `text` with the test directory shown as `T` and each run of 10 or more
/// hex digits (key ids, digests, timestamps) as `#`, split into lines.
fn lines(t: &TestDir, text: &str) -> Vec<String> {
    let text = text.replace(&t.path().display().to_string(), "T");
    let mut out = String::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        if word.len() >= 10 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push('#');
        } else {
            out.push_str(&word);
        }
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out.lines().map(str::to_string).collect()
}

/// Runs airlock with `args` and asserts its exit code and every line it
/// printed on stdout and stderr.
fn check(t: &TestDir, args: &[&OsStr], code: i32, stdout: &[&str], stderr: &[&str]) {
    let (got, out, err) = run(args);
    assert_eq!(got, code, "{args:?}\n{out}\n{err}");
    assert_eq!(lines(t, &out), stdout, "{args:?}\n{out}");
    assert_eq!(lines(t, &err), stderr, "{args:?}\n{err}");
}

/// keygen, sign, split, join, verify, status and rollback with every path
/// they print inside the directory `T/<dir_name>`, which they must show
/// as `T/<d>`.
fn paths_are_shown_escaped(dir_name: &[u8], d_shown: &str) {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let d = join_bytes(t.path(), dir_name);
    std::fs::create_dir_all(&d).unwrap();
    let key = d.join("k.key");
    let in_d = |name: &str| format!("T/{d_shown}/{name}");

    let prefix = d.join("k");
    let keygen = [
        os("keygen"),
        os("--out"),
        prefix.as_os_str(),
        os("--comment"),
        os("k"),
        os("--unencrypted"),
    ];
    let secret = format!(
        "secret key: {} (mode 0600, unencrypted: keep it offline)",
        in_d("k.key")
    );
    let public = format!("public key: {}", in_d("k.pub"));
    check(&t, &keygen, 0, &["key id:     #", &secret, &public], &[]);
    let exists = format!("airlock: error: {} already exists", in_d("k.key"));
    check(
        &t,
        &keygen,
        1,
        &[],
        &[
            &exists,
            "hint: choose another --out prefix; airlock never overwrites a key",
        ],
    );

    let signed = d.join("s.airlock");
    std::fs::copy(&e.bundle, &signed).unwrap();
    let sign = [
        os("sign"),
        signed.as_os_str(),
        os("--sign-key"),
        key.as_os_str(),
        os("--key"),
        e.public.as_os_str(),
    ];
    check(
        &t,
        &sign,
        0,
        &[
            &format!("signed {} with key #", in_d("s.airlock")),
            "manifest sha256 # (unchanged)",
            "trusted comment: timestamp:#\\u{9}file:manifest.toml\\u{9}approval\\u{9}signer:k",
            "signatures now: key #, key # (no trust policy given: --trust POLICY says whether this approval counts)",
        ],
        &[],
    );

    let parts = d.join("b.airlock");
    let split = [
        os("split"),
        e.bundle.as_os_str(),
        os("--split"),
        os("64K"),
        os("-o"),
        parts.as_os_str(),
        os("--sign-key"),
        e.key.as_os_str(),
        os("--key"),
        e.public.as_os_str(),
    ];
    let index = format!(
        "  part index {} (signed: {})",
        in_d("b.airlock.parts"),
        in_d("b.airlock.parts.minisig")
    );
    check(
        &t,
        &split,
        0,
        &[
            "verified T/b.airlock and split it into 1 part (the bundle itself is unchanged):",
            "  b.airlock.001       5.4 KiB  sha256 #",
            &index,
            "carry every file above; verify, inspect and import take any one of them",
        ],
        &[],
    );

    let joined = d.join("j.airlock");
    let part = d.join("b.airlock.001");
    let join = [
        os("join"),
        part.as_os_str(),
        os("-o"),
        joined.as_os_str(),
        os("--key"),
        e.public.as_os_str(),
    ];
    let wrote = format!(
        "verified every part and the bundle they make; wrote {} ({} bytes, sha256 #); the parts are unchanged",
        in_d("j.airlock"),
        std::fs::metadata(&e.bundle).unwrap().len()
    );
    check(
        &t,
        &join,
        0,
        &[&wrote],
        &["airlock: join: part 1/1 b.airlock.001"],
    );

    // verify: the joined bundle's report is the original's, but for the
    // path on its first line.
    let verify = |bundle: &Path| {
        let (code, out, err) = run(&[
            os("verify"),
            bundle.as_os_str(),
            os("--key"),
            e.public.as_os_str(),
        ]);
        assert_eq!(code, 0, "{out}\n{err}");
        (lines(&t, &out), lines(&t, &err))
    };
    let (plain, plain_err) = verify(&e.bundle);
    let (out, err) = verify(&joined);
    let ok = |shown: &str| {
        format!("OK: {shown} verified: every signature and all 11 payloads check out")
    };
    assert_eq!(plain[0], ok("T/b.airlock"));
    assert_eq!(out[0], ok(&in_d("j.airlock")));
    assert_eq!(out[1..], plain[1..]);
    assert_eq!(err.len(), plain_err.len(), "{err:?}");
    assert!(
        err.iter().all(|l| l.starts_with("airlock: warning: the ")),
        "{err:?}"
    );

    let cache = d.join("cache");
    let status = [os("status"), os("--cache-dir"), cache.as_os_str()];
    let unread = format!(
        "airlock: error: cannot read {}: entity not found",
        in_d("cache")
    );
    check(&t, &status, 1, &[], &[&unread]);
    let rollback = [os("rollback"), os("--cache-dir"), cache.as_os_str()];
    let none = format!(
        "airlock: error: {} holds no previous generation to roll back to (an import keeps the trees it replaced in .airlock-previous)",
        in_d("cache")
    );
    check(&t, &rollback, 1, &[], &[&none]);
}

#[test]
fn a_line_break_in_a_path_is_escaped_on_every_line() {
    paths_are_shown_escaped(b"a\nb", "a\\u{a}b");
}

#[test]
fn a_byte_that_is_not_utf8_in_a_path_is_shown_as_hex() {
    paths_are_shown_escaped(b"c\xffd", "c\\xffd");
}
