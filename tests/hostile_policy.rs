//! Signed-but-hostile bundles (issue 11): a key listed under a second key
//! id after its first was revoked, bytes after the bundle's zstd frame (in
//! a file, through `sign` and `split`, and in a part set, signed or not),
//! and a passphrase file others may read. Each refusal is checked by exit
//! code and message, and imports leave the cache byte for byte as it was.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use airlock::keys::{PublicKey, SecretKey};

use crate::support::fixtures::*;
use crate::support::*;

/// The second line of a minisign key file, decoded.
fn key_bytes(path: &Path) -> (String, Vec<u8>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let comment = lines.next().unwrap().to_string();
    (comment, B64.decode(lines.next().unwrap().trim()).unwrap())
}

/// Writes `src`'s key pair again under the key id `id`: the same Ed25519
/// key, another label (anyone holding a key can do this).
fn relabel(secret: &Path, public: &Path, id: [u8; 8], out: &Path) -> (PathBuf, PathBuf) {
    let (comment, mut raw) = key_bytes(secret);
    raw[54..62].copy_from_slice(&id);
    // The checksum covers the id; minisign -G -W leaves it zeroed too.
    raw[126..158].fill(0);
    let sk = out.with_extension("key");
    write(&sk, format!("{comment}\n{}\n", B64.encode(&raw)).as_bytes());
    std::fs::set_permissions(&sk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (comment, mut raw) = key_bytes(public);
    raw[2..10].copy_from_slice(&id);
    let pk = out.with_extension("pub");
    write(&pk, format!("{comment}\n{}\n", B64.encode(&raw)).as_bytes());
    (sk, pk)
}

fn key_id(public: &Path) -> String {
    PublicKey::from_file(public).unwrap().key_id().to_string()
}

/// A policy of `keys` (name, role, public key file), `extra` on top.
fn policy(dir: &Path, name: &str, extra: &str, keys: &[(&str, &str, &Path)]) -> PathBuf {
    let mut text = format!("{extra}\n");
    for (n, role, file) in keys {
        text.push_str(&format!(
            "\n[[key]]\nname = {n:?}\nrole = {role:?}\nfile = {:?}\n",
            s(file)
        ));
    }
    let path = dir.join(name);
    write(&path, text.as_bytes());
    path
}

fn import_trust(bundle: &Path, trust: &Path, cache: &Path) -> std::process::Output {
    airlock(&[
        "import",
        s(bundle),
        "--trust",
        s(trust),
        "--cache-dir",
        s(cache),
    ])
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_refused(out: &std::process::Output, code: i32, needles: &[&str]) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in:\n{err}");
    }
}

#[test]
fn a_key_revoked_under_one_id_does_not_count_under_another() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (alice_key, alice_pub) = keygen(t.path(), "alice");
    let (_, bob_pub) = keygen(t.path(), "bob");
    // The same key, relabelled with a second key id.
    let (alias_key, alias_pub) = relabel(&alice_key, &alice_pub, *b"ALIAS-ID", &t.join("alias"));
    let (id_a, id_b) = (key_id(&alice_pub), key_id(&alias_pub));
    assert_ne!(id_a, id_b);
    assert_eq!(
        PublicKey::from_file(&alice_pub).unwrap().bytes(),
        PublicKey::from_file(&alias_pub).unwrap().bytes()
    );
    // Signed under the second id.
    let bundle = t.join("b.airlock");
    export_all(&inputs, &alias_key, &bundle);
    let keys = [
        ("alice", "builder", alice_pub.as_path()),
        ("alice-new", "builder", alias_pub.as_path()),
        ("bob", "approver", bob_pub.as_path()),
    ];
    let open = policy(t.path(), "open.toml", "", &keys);
    let revoked = policy(
        t.path(),
        "revoked.toml",
        &format!("revoked = [\"{id_a}\"]"),
        &keys,
    );

    // Without the revocation the signature counts (once), and the report
    // says the key is listed twice.
    let out = airlock_ok(&["verify", s(&bundle), "--trust", s(&open)]);
    assert!(
        out.contains(&format!(
            "key {id_b} (alice-new, builder) [the same public key is also listed as alice (key {id_a})]: valid, counted"
        )),
        "{out}"
    );
    let cache = t.join("cache");
    let ok = import_trust(&bundle, &open, &cache);
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    let before = tree_hash(&cache);
    assert!(before.contains_key("db/trivy.db"));

    // Revoking id A revokes the key: its signature under id B no longer
    // counts, for verify and for import, and the message names the
    // revocation.
    let needles = [
        "no signature by a trusted key: the bundle is signed by key",
        &format!(
            "key {id_b} (alice-new, builder) [the same public key is also listed as alice (key {id_a})] revoked by the policy (its public key is revoked as key {id_a}), not counted"
        ),
        "hint: a revoked key's signature never counts, under any of its key ids",
    ];
    let v = airlock(&["verify", s(&bundle), "--trust", s(&revoked)]);
    assert_refused(&v, 3, &needles);
    assert_refused(&import_trust(&bundle, &revoked, &cache), 3, &needles);
    assert_eq!(
        tree_hash(&cache),
        before,
        "a refused import changed the cache"
    );
    // inspect shows it too (and does not count it).
    let out = airlock(&["inspect", s(&bundle), "--trust", s(&revoked)]);
    assert_refused(&out, 3, &["revoked by the policy"]);

    // The other way round: revoking id B stops a signature under id A.
    let signed_as_a = t.join("a.airlock");
    export_all(&inputs, &alice_key, &signed_as_a);
    let revoked_b = policy(
        t.path(),
        "revoked-b.toml",
        &format!("revoked = [\"{id_b}\"]"),
        &keys,
    );
    assert_refused(
        &airlock(&["verify", s(&signed_as_a), "--trust", s(&revoked_b)]),
        3,
        &[&format!(
            "key {id_a} (alice, builder) [the same public key is also listed as alice-new (key {id_b})] revoked by the policy (its public key is revoked as key {id_b}), not counted"
        )],
    );

    // Revoking by the public key itself (the base64 line of alice.pub)
    // covers every id, listed or not.
    let line = std::fs::read_to_string(&alice_pub).unwrap();
    let line = line.lines().nth(1).unwrap();
    let by_key = policy(
        t.path(),
        "by-key.toml",
        &format!("revoked = [\"{line}\"]"),
        &keys[1..],
    );
    assert_refused(
        &airlock(&["verify", s(&bundle), "--trust", s(&by_key)]),
        3,
        &["(alice-new, builder) revoked by the policy (its public key is revoked as public key), not counted"],
    );

    // Threshold 2 with bob: alice under two ids is one approval.
    let two = policy(t.path(), "two.toml", "threshold = 2", &keys);
    assert_refused(
        &airlock(&["verify", s(&bundle), "--trust", s(&two)]),
        3,
        &["1 of the 2 required approvals"],
    );
}

#[test]
fn ambiguous_or_unresolvable_policies_are_refused_at_load() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (_, bob_pub) = keygen(t.path(), "bob");
    // One key, two roles.
    let two_roles = policy(
        t.path(),
        "two-roles.toml",
        "",
        &[
            ("builder", "builder", e.public.as_path()),
            ("officer", "security-officer", e.public.as_path()),
            ("bob", "approver", bob_pub.as_path()),
        ],
    );
    let id = key_id(&e.public);
    assert_refused(
        &airlock(&["verify", s(&e.bundle), "--trust", s(&two_roles)]),
        7,
        &[&format!(
            "\"builder\" (key {id}, role \"builder\") and \"officer\" (key {id}, role \"security-officer\") are the same public key with different roles"
        ), "hint: list the key once"],
    );
    // A revoked key id that no listed key has.
    let bob_id = key_id(&bob_pub);
    let unknown = policy(
        t.path(),
        "unknown.toml",
        &format!("revoked = [\"{bob_id}\"]"),
        &[("builder", "builder", e.public.as_path())],
    );
    assert_refused(
        &airlock(&["verify", s(&e.bundle), "--trust", s(&unknown)]),
        7,
        &[
            &format!("revoked \"{bob_id}\" is the key id of no key listed here"),
            "hint: revoke the key by its public key instead",
        ],
    );
}

/// `bundle` with `tail` appended, at `path`.
fn with_tail(bundle: &Path, tail: &[u8], path: &Path) -> PathBuf {
    let mut bytes = std::fs::read(bundle).unwrap();
    bytes.extend_from_slice(tail);
    write(path, &bytes);
    path.to_path_buf()
}

/// A zstd skippable frame carrying `len` bytes of noise.
fn skippable(len: usize) -> Vec<u8> {
    let mut f = vec![0x5a, 0x2a, 0x4d, 0x18];
    f.extend_from_slice(&(len as u32).to_le_bytes());
    f.extend(noise(len, 7));
    f
}

#[test]
fn sign_and_split_refuse_bytes_after_the_bundle_and_change_nothing() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (bob_key, bob_pub) = keygen(t.path(), "bob");
    let hostile = with_tail(&e.bundle, &skippable(8 << 20), &t.join("hostile.airlock"));
    let original = std::fs::read(&hostile).unwrap();
    let trust = policy(
        t.path(),
        "trust.toml",
        "threshold = 2",
        &[
            ("builder", "builder", e.public.as_path()),
            ("bob", "approver", bob_pub.as_path()),
        ],
    );
    let needle = "bytes follow the end of the bundle's zstd stream (a zstd skippable frame)";
    // sign reads and rewrites the bundle: it refuses, and leaves it as it was.
    let out = airlock(&[
        "sign",
        s(&hostile),
        "--sign-key",
        s(&bob_key),
        "--trust",
        s(&trust),
    ]);
    assert_refused(&out, 4, &[needle]);
    assert_eq!(std::fs::read(&hostile).unwrap(), original);
    assert_no_leftovers(t.path(), ".airlock-sign-");
    // split verifies as it cuts: nothing is written.
    std::fs::create_dir_all(t.join("parts")).unwrap();
    let out = airlock(&[
        "split",
        s(&hostile),
        "--split",
        "64K",
        "--sign-key",
        s(&e.key),
        "--key",
        s(&e.public),
        "-o",
        s(&t.join("parts/b.airlock")),
    ]);
    assert_refused(&out, 4, &[needle]);
    assert!(!t.join("parts/b.airlock.parts").exists());
    assert!(!t.join("parts/b.airlock.001").exists());
    // The bundle itself (no tail) signs fine.
    airlock_ok(&[
        "sign",
        s(&e.bundle),
        "--sign-key",
        s(&bob_key),
        "--trust",
        s(&trust),
    ]);
    airlock_ok(&["verify", s(&e.bundle), "--trust", s(&trust)]);
}

/// A bundle spread over several 64 KiB parts.
fn split_set(t: &TestDir) -> (Exported, PathBuf, usize) {
    let inputs = write_inputs(t.path());
    write(
        &inputs.java_db,
        &java_db_tar_gz_padded(UPDATED_AT, NEXT_UPDATE, 300 << 10),
    );
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    export_all(&inputs, &key, &bundle);
    let dir = t.join("media");
    std::fs::create_dir_all(&dir).unwrap();
    airlock_ok(&[
        "split",
        s(&bundle),
        "--split",
        "64K",
        "--sign-key",
        s(&key),
        "--key",
        s(&public),
        "-o",
        s(&dir.join("b.airlock")),
    ]);
    let count = (1..)
        .take_while(|n| dir.join(format!("b.airlock.{n:03}")).exists())
        .count();
    assert!(count >= 3, "{count} parts");
    (
        Exported {
            inputs,
            key,
            public,
            bundle,
        },
        dir,
        count,
    )
}

/// verify, import (cache unchanged) and join of the set at `part` must be
/// refused with `code` and `needles`.
fn set_refused(e: &Exported, part: &Path, cache: &Path, code: i32, needles: &[&str]) {
    let before = tree_hash(cache);
    let v = airlock(&["verify", s(part), "--key", s(&e.public)]);
    assert_refused(&v, code, needles);
    let im = airlock(&[
        "import",
        s(part),
        "--key",
        s(&e.public),
        "--cache-dir",
        s(cache),
    ]);
    assert_refused(&im, code, needles);
    assert_eq!(
        tree_hash(cache),
        before,
        "a refused import changed the cache"
    );
    let joined = part.with_file_name("joined.airlock");
    let j = airlock(&["join", s(part), "-o", s(&joined), "--key", s(&e.public)]);
    assert_refused(&j, code, needles);
    assert!(!joined.exists(), "join wrote a bundle");
}

#[test]
fn part_sets_refuse_bytes_after_the_bundle() {
    let t = TestDir::new();
    let (e, dir, count) = split_set(&t);
    let cache = t.join("cache");
    import_ok(&dir.join("b.airlock.001"), &e.public, &cache, &[]);
    let part = |n: usize| dir.join(format!("b.airlock.{n:03}"));

    // Bytes appended to the last part, then to a middle one: the signed
    // index gives each part's size.
    for n in [count, 2] {
        let p = part(n);
        let original = std::fs::read(&p).unwrap();
        let mut longer = original.clone();
        longer.extend_from_slice(&skippable(4096));
        write(&p, &longer);
        set_refused(
            &e,
            &part(1),
            &cache,
            4,
            &[&format!(
                "part {n} of {count}, {}, is {} bytes but the index says {} (too long)",
                s(&p),
                longer.len(),
                original.len()
            )],
        );
        write(&p, &original);
    }
    // A file named as the part after the last one (`cat b.airlock.0*`
    // would append it).
    let extra = part(count + 1);
    write(&extra, &skippable(4096));
    set_refused(
        &e,
        &part(1),
        &cache,
        4,
        &[&format!(
            "{} is beside a part set whose index lists {count} parts: nothing may follow the last part",
            s(&extra)
        )],
    );
    std::fs::remove_file(&extra).unwrap();
    // Restored, the set imports and joins into the bundle, byte for byte.
    airlock_ok(&["verify", s(&part(1)), "--key", s(&e.public)]);
    let joined = dir.join("joined.airlock");
    airlock_ok(&["join", s(&part(2)), "-o", s(&joined), "--key", s(&e.public)]);
    assert_eq!(
        std::fs::read(&joined).unwrap(),
        std::fs::read(&e.bundle).unwrap()
    );

    // A trusted but hostile signer splits a bundle with a skippable frame
    // appended and signs an index that covers it: every part matches the
    // index, and the bundle reader refuses what follows the frame.
    let hostile_dir = t.join("hostile");
    std::fs::create_dir_all(&hostile_dir).unwrap();
    let mut bytes = std::fs::read(&e.bundle).unwrap();
    bytes.extend_from_slice(&skippable(200 << 10));
    let mut w = airlock::bundle::parts::PartWriter::new(&hostile_dir, 64 << 10);
    std::io::Write::write_all(&mut w, &bytes).unwrap();
    let written = w.finish().unwrap();
    let key = SecretKey::from_file(&e.key).unwrap();
    let manifest = bundle_tar(&e.bundle);
    let (o, l) = tar_entry_offset(&manifest, "airlock/manifest.toml");
    let manifest_sha256 = airlock::digest::Sha256Digest::of(&manifest[o..o + l as usize]).hex();
    let report = written
        .persist(
            &hostile_dir.join("b.airlock"),
            &manifest_sha256,
            &key,
            0,
            false,
        )
        .unwrap();
    // Each part checks out against the signed index...
    airlock_ok(&[
        "verify",
        s(&report.index),
        "--parts-only",
        "--key",
        s(&e.public),
    ]);
    // ... and the bundle they make is refused, by verify, import and join.
    set_refused(
        &e,
        &hostile_dir.join("b.airlock.001"),
        &cache,
        4,
        &["bytes follow the end of the bundle's zstd stream (a zstd skippable frame)"],
    );
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_passphrase_file_others_may_read_is_refused_like_a_secret_key() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let pass = t.join("pass.txt");
    write(&pass, b"correct horse\n");
    let prefix = t.join("enc");
    let keygen_args = [
        "keygen",
        "--out",
        s(&prefix),
        "--comment",
        "enc",
        "--passphrase-file",
        s(&pass),
    ];
    // keygen: group- or world-readable passphrase files are refused, and
    // no key is written.
    for mode in [0o644, 0o640, 0o604] {
        chmod(&pass, mode);
        let err = airlock_fails(&keygen_args, 1);
        assert!(
            err.contains(&format!(
                "passphrase file {} is accessible by others (mode {mode:03o})",
                s(&pass)
            )) && err.contains(&format!("hint: run `chmod 600 {}`", s(&pass))),
            "{err}"
        );
        assert!(!t.join("enc.key").exists() && !t.join("enc.pub").exists());
    }
    // 0600 (and 0400) work.
    chmod(&pass, 0o600);
    airlock_ok(&keygen_args);
    let key = t.join("enc.key");
    let export = |out: &Path, pass: &Path| {
        airlock(&[
            "export",
            "-o",
            s(out),
            "--sign-key",
            s(&key),
            "--passphrase-file",
            s(pass),
            "--trivy-db",
            s(&inputs.db),
        ])
    };
    // Signing with the encrypted key: the same rule.
    chmod(&pass, 0o644);
    let out = t.join("refused.airlock");
    let o = export(&out, &pass);
    assert_refused(
        &o,
        1,
        &[
            &format!(
                "passphrase file {} is accessible by others (mode 644)",
                s(&pass)
            ),
            &format!("hint: run `chmod 600 {}`", s(&pass)),
        ],
    );
    assert!(!out.exists());
    chmod(&pass, 0o400);
    let ok = t.join("ok.airlock");
    let o = export(&ok, &pass);
    assert!(o.status.success(), "{}", stderr_of(&o));
    airlock_ok(&["verify", s(&ok), "--key", s(&t.join("enc.pub"))]);
    // A pipe stores nothing and is not checked.
    let piped = t.join("piped.airlock");
    let o = output_with_stdin(
        Command::new(airlock_bin()).args([
            "export",
            "-o",
            s(&piped),
            "--sign-key",
            s(&key),
            "--passphrase-file",
            "/dev/stdin",
            "--trivy-db",
            s(&inputs.db),
        ]),
        "correct horse\n",
    );
    assert!(o.status.success(), "{}", stderr_of(&o));
    // The secret key file's own rule, for comparison (same words, same code).
    chmod(&key, 0o644);
    let o = export(&t.join("k.airlock"), &pass);
    assert_refused(
        &o,
        1,
        &[
            &format!(
                "secret key file {} is accessible by others (mode 644)",
                s(&key)
            ),
            &format!("hint: run `chmod 600 {}`", s(&key)),
        ],
    );
}
