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
    let created = time::OffsetDateTime::parse(
        &manifest.created,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
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
