//! `airlock sign`: approval signatures added without changing what is signed.

use std::process::Command;

use crate::support::*;

fn manifest_bytes(bundle: &std::path::Path) -> Vec<u8> {
    let tar = bundle_tar(bundle);
    let (o, l) = tar_entry_offset(&tar, "airlock/manifest.toml");
    tar[o..o + l as usize].to_vec()
}

#[test]
fn an_approval_keeps_the_manifest_and_earlier_signatures_valid() {
    let t = TestDir::new();
    let Exported {
        public: builder,
        bundle,
        ..
    } = export_fixtures(&t);
    let (approver_key, approver) = keygen(t.path(), "approver");
    let before = manifest_bytes(&bundle);

    let out = airlock_ok(&[
        "sign",
        s(&bundle),
        "--sign-key",
        s(&approver_key),
        "--key",
        s(&builder),
        "--comment",
        "CAB approval 42",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["signed_by"].as_array().unwrap().len(), 2);
    assert!(report["trusted_comment"]
        .as_str()
        .unwrap()
        .ends_with("\tapproval\tsigner:CAB approval 42"));

    // The signed bytes are the same; each key alone verifies the bundle.
    assert_eq!(manifest_bytes(&bundle), before);
    for key in [&builder, &approver] {
        airlock_ok(&["verify", s(&bundle), "--key", s(key)]);
    }
    // inspect lists both, one object per signature with its key_id.
    let v: serde_json::Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&bundle),
        "--key",
        s(&builder),
        "--key",
        s(&approver),
        "--json",
    ]))
    .unwrap();
    let sigs = v["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    assert!(sigs
        .iter()
        .all(|s| s["verified"] == true && s["key_id"].as_str().unwrap().len() == 16));
    // minisign checks each signature on the extracted manifest.
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
    let sig_files: Vec<_> = std::fs::read_dir(x.join("airlock/signatures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sig_files.len(), 2);
    for key in [&builder, &approver] {
        let ok = sig_files.iter().any(|sig| {
            Command::new(tool("minisign"))
                .arg("-V")
                .arg("-q")
                .arg("-p")
                .arg(key)
                .arg("-m")
                .arg(x.join("airlock/manifest.toml"))
                .arg("-x")
                .arg(sig)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .success()
        });
        assert!(ok, "no signature verifies with {}", key.display());
    }
    // And it still imports.
    import_ok(&bundle, &approver, &t.join("cache"), &[]);
}

/// `airlock sign BUNDLE --sign-key KEY --key TRUSTED`, which must fail with `code`.
fn sign_fails(
    bundle: &std::path::Path,
    key: &std::path::Path,
    trusted: &std::path::Path,
    code: i32,
) -> String {
    airlock_fails(
        &["sign", s(bundle), "--sign-key", s(key), "--key", s(trusted)],
        code,
    )
}

#[test]
fn sign_refuses_damaged_untrusted_or_already_signed_bundles_and_leaves_them_untouched() {
    let t = TestDir::new();
    let Exported {
        key: builder_key,
        public: builder,
        bundle,
        ..
    } = export_fixtures(&t);
    let (approver_key, _) = keygen(t.path(), "approver");
    let (_, stranger) = keygen(t.path(), "stranger");

    // Signed by someone the approver does not trust.
    let original = std::fs::read(&bundle).unwrap();
    let err = sign_fails(&bundle, &approver_key, &stranger, 3);
    assert!(err.contains("no signature by a trusted key"), "{err}");
    assert_eq!(std::fs::read(&bundle).unwrap(), original);

    // A key that signed already.
    let err = sign_fails(&bundle, &builder_key, &builder, 2);
    assert!(err.contains("has already signed this bundle"), "{err}");
    assert_eq!(std::fs::read(&bundle).unwrap(), original);

    // Damaged payload bytes: nobody countersigns them.
    let mut tar = bundle_tar(&bundle);
    let (o, _) = tar_entry_offset(&tar, "oci/index.json");
    tar[o + 5] ^= 1;
    let damaged = t.join("damaged.airlock");
    write_bundle_tar(&damaged, &tar);
    let before = std::fs::read(&damaged).unwrap();
    let err = sign_fails(&damaged, &approver_key, &builder, 4);
    assert!(err.contains("is damaged or was altered"), "{err}");
    assert_eq!(std::fs::read(&damaged).unwrap(), before);
    assert_no_leftovers(t.path(), ".airlock-");
}

#[test]
fn signatures_are_written_in_entry_name_order_whatever_the_key_ids() {
    use airlock::keys::{KeyId, SecretKey};
    // Byte order of these ids is the reverse of their (entry name) hex order.
    let a = SecretKey::from_seed([1; 32], KeyId([1, 0, 0, 0, 0, 0, 0, 2]), "a").unwrap();
    let b = SecretKey::from_seed([2; 32], KeyId([2, 0, 0, 0, 0, 0, 0, 1]), "b").unwrap();
    assert!(a.key_id() < b.key_id() && a.key_id().to_string() > b.key_id().to_string());
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let out = t.join("two.airlock");
    let plan = airlock::export::ExportPlan {
        sources: vec![airlock::export::SourceSpec::Layer {
            kind: airlock::manifest::ArtifactKind::TrivyDb,
            path: inputs.db.clone(),
            checks_version: None,
        }],
        labels: Default::default(),
        created: time::OffsetDateTime::UNIX_EPOCH,
        output: out.clone(),
        force: false,
        split: None,
        sequence: None,
        network: Default::default(),
    };
    airlock::export::export(&plan, &[a, b], "test", &airlock::progress::NoProgress).unwrap();
    let public = t.join("b.pub");
    let b = SecretKey::from_seed([2; 32], KeyId([2, 0, 0, 0, 0, 0, 0, 1]), "b").unwrap();
    write(&public, b.public_key().to_text("b").as_bytes());
    airlock_ok(&["verify", s(&out), "--key", s(&public)]);
}

#[test]
fn signing_through_a_link_signs_the_file_and_keeps_the_link() {
    let t = TestDir::new();
    let Exported {
        public: builder,
        bundle,
        ..
    } = export_fixtures(&t);
    let (approver_key, approver) = keygen(t.path(), "approver");
    let link = t.join("latest.airlock");
    std::os::unix::fs::symlink(&bundle, &link).unwrap();
    airlock_ok(&[
        "sign",
        s(&link),
        "--sign-key",
        s(&approver_key),
        "--key",
        s(&builder),
    ]);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    airlock_ok(&["verify", s(&bundle), "--key", s(&approver)]);
}
