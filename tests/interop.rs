//! Interoperability with the reference signature tools (Debian's minisign
//! and signify-openbsd): inspectors can check a bundle without airlock, and
//! airlock accepts signatures those tools make.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use airlock::bundle::writer::BundleWriter;
use airlock::keys::Signature;
use airlock::manifest::Manifest;

use crate::support::*;

/// Exports the fixtures and extracts the bundle with GNU tar; returns
/// (extract dir, bundle, public key).
fn exported(
    t: &TestDir,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let Exported {
        key,
        public,
        bundle,
        ..
    } = export_fixtures(t);
    let x = t.join("x");
    std::fs::create_dir_all(&x).unwrap();
    run_ok(
        Command::new(tool("tar"))
            .arg("--zstd")
            .arg("-xf")
            .arg(&bundle)
            .arg("-C")
            .arg(&x),
    );
    (x, bundle, key, public)
}

fn only_signature(x: &Path) -> std::path::PathBuf {
    let sigs: Vec<_> = std::fs::read_dir(x.join("airlock/signatures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sigs.len(), 1);
    sigs[0].clone()
}

#[test]
fn minisign_and_signify_verify_an_extracted_manifest() {
    let t = TestDir::new();
    let (x, _, _, public) = exported(&t);
    let manifest = x.join("airlock/manifest.toml");
    let sig = only_signature(&x);
    let out = run_ok(
        Command::new(tool("minisign"))
            .arg("-V")
            .arg("-p")
            .arg(&public)
            .arg("-m")
            .arg(&manifest)
            .arg("-x")
            .arg(&sig),
    );
    assert!(
        out.contains("Signature and comment signature verified"),
        "{out}"
    );
    assert!(out.contains("Trusted comment: timestamp:"), "{out}");
    assert!(out.contains("file:manifest.toml\tsigner:builder"), "{out}");
    let out = run_ok(
        Command::new(tool("signify"))
            .arg("-V")
            .arg("-p")
            .arg(&public)
            .arg("-m")
            .arg(&manifest)
            .arg("-x")
            .arg(&sig),
    );
    assert!(out.contains("Signature Verified"), "{out}");

    // The same tools reject an edited manifest (so the checks above can fail).
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text = text.replace("ticket = \"CHG-1234\"", "ticket = \"CHG-9999\"");
    std::fs::write(&manifest, text).unwrap();
    let st = Command::new(tool("minisign"))
        .arg("-V")
        .arg("-p")
        .arg(&public)
        .arg("-m")
        .arg(&manifest)
        .arg("-x")
        .arg(&sig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success());
}

/// Rebuilds the bundle from its extracted parts with `signatures` instead.
fn rebuild(x: &Path, signatures: &[Signature], out: &Path) {
    let manifest_bytes = std::fs::read(x.join("airlock/manifest.toml")).unwrap();
    let manifest = Manifest::parse(&manifest_bytes).unwrap();
    let created = manifest.created.at();
    let mut w = BundleWriter::new(
        File::create(out).unwrap(),
        &manifest_bytes,
        signatures,
        manifest.payloads.clone(),
        created.unix_timestamp() as u64,
    )
    .unwrap();
    for p in &manifest.payloads {
        w.append(&p.path, &mut File::open(x.join(&p.path)).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn signatures_made_by_minisign_verify_with_airlock() {
    let t = TestDir::new();
    let (x, _, _, _) = exported(&t);
    let mkey = t.join("m.key");
    let mpub = t.join("m.pub");
    run_ok(
        Command::new(tool("minisign"))
            .args(["-G", "-W", "-p"])
            .arg(&mpub)
            .arg("-s")
            .arg(&mkey)
            .stdin(Stdio::null()),
    );
    let manifest = x.join("airlock/manifest.toml");
    for (flags, name) in [(&[][..], "prehashed"), (&["-l"][..], "legacy")] {
        let sig_path = t.join(&format!("{name}.minisig"));
        run_ok(
            Command::new(tool("minisign"))
                .arg("-S")
                .args(flags)
                .arg("-s")
                .arg(&mkey)
                .arg("-m")
                .arg(&manifest)
                .arg("-x")
                .arg(&sig_path)
                .arg("-t")
                .arg("approved by minisign")
                .stdin(Stdio::null()),
        );
        let sig = Signature::from_text(&std::fs::read_to_string(&sig_path).unwrap()).unwrap();
        assert_eq!(sig.is_prehashed(), name == "prehashed");
        let bundle = t.join(&format!("{name}.airlock"));
        rebuild(&x, &[sig], &bundle);
        let out = airlock_ok(&["verify", s(&bundle), "--key", s(&mpub), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["signers"][0]["trusted_comment"], "approved by minisign");
        assert_eq!(v["signers"][0]["verified"], true);
        let cache = t.join(&format!("cache-{name}"));
        import_ok(&bundle, &mpub, &cache, &[]);
        assert!(cache.join("db/trivy.db").is_file());
    }
}

#[test]
fn a_key_made_by_airlock_signs_with_minisign() {
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "builder");
    let f = t.join("file.txt");
    write(&f, b"hello\n");
    run_ok(
        Command::new(tool("minisign"))
            .arg("-S")
            .arg("-s")
            .arg(&key)
            .arg("-m")
            .arg(&f)
            .stdin(Stdio::null()),
    );
    let out = run_ok(
        Command::new(tool("minisign"))
            .arg("-V")
            .arg("-p")
            .arg(&public)
            .arg("-m")
            .arg(&f),
    );
    assert!(
        out.contains("Signature and comment signature verified"),
        "{out}"
    );
}

#[test]
fn secret_keys_are_private_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt as _;
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "k");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&key).unwrap();
    let err = airlock_fails(&["keygen", "--out", s(&t.join("k"))], 1);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // The public key file carries no secret material: 42 bytes of key data.
    let pub_text = std::fs::read_to_string(&public).unwrap();
    assert_eq!(pub_text.lines().count(), 2);
    // A secret key readable by others is refused, like ssh does.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let inputs = write_inputs(t.path());
    let out = t.join("o.airlock");
    let err = airlock_fails(
        &[
            "export",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
            "--trivy-db",
            s(&inputs.db),
        ],
        1,
    );
    assert!(
        err.contains("is accessible by others (mode 644)") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!out.exists());
}

/// Runs `cmd` with `input` on stdin; panics with its output unless it succeeds.
fn run_with_stdin(cmd: &mut Command, input: &str) -> String {
    let out = output_with_stdin(cmd, input);
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn encrypted_keys_interoperate_with_minisign_both_ways() {
    let t = TestDir::new();
    let (x, _, _, _) = exported(&t);
    let manifest = x.join("airlock/manifest.toml");

    // 1. airlock keygen encrypts by default (passphrase from a file here);
    //    minisign signs the manifest with that key, reading the passphrase.
    let pass_file = t.join("pass.txt");
    write(&pass_file, b"correct horse\n");
    // Like a secret key, a passphrase file others may read is refused.
    std::fs::set_permissions(
        &pass_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = airlock_ok(&[
        "keygen",
        "--out",
        s(&t.join("a")),
        "--comment",
        "alice",
        "--passphrase-file",
        s(&pass_file),
    ]);
    assert!(out.contains("encrypted with the passphrase"), "{out}");
    let a_key = t.join("a.key");
    let a_pub = t.join("a.pub");
    let raw = std::fs::read_to_string(&a_key).unwrap();
    assert!(
        airlock::keys::SecretKey::is_encrypted(&raw),
        "keygen must encrypt by default"
    );
    let by_minisign = t.join("a.minisig");
    run_with_stdin(
        Command::new(tool("minisign"))
            .args([
                "-S",
                "-s",
                s(&a_key),
                "-m",
                s(&manifest),
                "-x",
                s(&by_minisign),
            ])
            .args(["-t", "approved with minisign"]),
        "correct horse\n",
    );
    // ... and airlock accepts that signature in a bundle.
    let sig = Signature::from_text(&std::fs::read_to_string(&by_minisign).unwrap()).unwrap();
    let bundle = t.join("minisign-signed.airlock");
    rebuild(&x, &[sig], &bundle);
    airlock_ok(&["verify", s(&bundle), "--key", s(&a_pub)]);

    // 2. minisign -G with a passphrase; airlock signs with that key (the
    //    passphrase from AIRLOCK_PASSPHRASE) and minisign verifies the
    //    signature airlock made on the extracted manifest.
    let m_key = t.join("m.key");
    let m_pub = t.join("m.pub");
    run_with_stdin(
        Command::new(tool("minisign")).args(["-G", "-p", s(&m_pub), "-s", s(&m_key)]),
        "battery staple\nbattery staple\n",
    );
    let inputs = write_inputs(t.path());
    let out_bundle = t.join("by-airlock.airlock");
    let out = Command::new(airlock_bin())
        .args(["export", "-o", s(&out_bundle), "--sign-key", s(&m_key)])
        .args(["--trivy-db", s(&inputs.db)])
        .env("AIRLOCK_PASSPHRASE", "battery staple")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let x2 = t.join("x2");
    std::fs::create_dir_all(&x2).unwrap();
    run_ok(Command::new(tool("tar")).args(["--zstd", "-xf", s(&out_bundle), "-C", s(&x2)]));
    let out = run_ok(
        Command::new(tool("minisign"))
            .args([
                "-V",
                "-p",
                s(&m_pub),
                "-m",
                s(&x2.join("airlock/manifest.toml")),
            ])
            .arg("-x")
            .arg(only_signature(&x2)),
    );
    assert!(
        out.contains("Signature and comment signature verified"),
        "{out}"
    );

    // 3. A wrong passphrase, or none and no terminal: refused, nothing written.
    let refused = t.join("refused.airlock");
    for (env, needle) in [
        (Some("wrong"), "wrong passphrase for the secret key"),
        (None, "the secret key is encrypted with a passphrase"),
    ] {
        let mut cmd = Command::new(airlock_bin());
        cmd.args(["export", "-o", s(&refused), "--sign-key", s(&m_key)])
            .args(["--trivy-db", s(&inputs.db)])
            .env_remove("AIRLOCK_PASSPHRASE")
            .stdin(Stdio::null());
        if let Some(v) = env {
            cmd.env("AIRLOCK_PASSPHRASE", v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{err}");
        assert!(!refused.exists());
    }
    // keygen without a passphrase source refuses rather than store in clear.
    let err = airlock_fails(&["keygen", "--out", s(&t.join("c"))], 2);
    assert!(err.contains("--unencrypted"), "{err}");
    assert!(!t.join("c.key").exists());
}
