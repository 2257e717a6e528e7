//! In-process tests of export: a VEX repository built in code, exported
//! from files (no registry, no network), read back with the bundle reader.

use std::collections::BTreeMap;

use super::*;
use crate::progress::NoProgress;
use crate::testing::{self, Keep};

fn trust(key: &SecretKey) -> crate::policy::TrustPolicy {
    crate::policy::TrustPolicy::any_of(vec![key.public_key()]).expect("a policy")
}

#[test]
fn a_vex_repository_from_files_is_exported_signed_and_reads_back() {
    let (_dir, path) = testing::temp_dir();
    let keys = [testing::key("ops"), testing::key("")];
    let mut plan = testing::vex_plan(&path);
    plan.labels = BTreeMap::from([("site".to_string(), "north".to_string())]);
    plan.sequence = Some(("weekly".into(), 3));
    let report = export(&plan, &keys, "airlock tests", &NoProgress).expect("exports");

    let bytes = std::fs::read(&plan.output).expect("the bundle is in place");
    assert_eq!(report.output, plan.output);
    assert_eq!(report.size, bytes.len() as u64);
    assert_eq!(report.sha256, Sha256Digest::of(&bytes).hex());
    assert_eq!(report.signed_by.len(), 2);
    assert!(report.parts.is_none() && report.skipped.is_empty());
    let m = &report.manifest;
    assert_eq!(m.generator, "airlock tests");
    assert_eq!((m.series.as_deref(), m.sequence), (Some("weekly"), Some(3)));
    assert_eq!(m.labels.get("site").map(String::as_str), Some("north"));
    assert_eq!(m.vex.len(), 1);
    assert_eq!(m.vex[0].name, "default");
    assert!(m.artifacts.is_empty());

    // Each key's signature verifies alone; the manifest is the one reported.
    for key in &keys {
        let mut kept = Keep::default();
        let verified = crate::bundle::reader::read(&bytes[..], &trust(key), &mut kept)
            .expect("the bundle verifies");
        assert_eq!(verified.manifest_sha256.hex(), report.manifest_sha256);
        assert_eq!(&verified.manifest, m);
        assert_eq!(kept.payloads.len(), m.payloads.len());
        let sig = verified
            .signatures
            .iter()
            .find(|s| s.key_id() == key.key_id())
            .expect("the key signed");
        let created = plan.created.unix_timestamp();
        let mut trusted = format!("timestamp:{created}\tfile:manifest.toml");
        if !key.comment().is_empty() {
            trusted.push_str(&format!("\tsigner:{}", key.comment()));
        }
        assert_eq!(sig.trusted_comment(), trusted);
    }
    // Nothing is left behind in the output's directory but the bundle.
    let left: Vec<String> = std::fs::read_dir(&path)
        .expect("lists")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with(".airlock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_split_export_writes_parts_that_join_into_the_reported_bundle() {
    let (_dir, path) = testing::temp_dir();
    let key = testing::key("");
    let mut plan = testing::vex_plan(&path);
    plan.split = Some(256);
    let report = export(&plan, std::slice::from_ref(&key), "t", &NoProgress).expect("exports");
    let parts = report.parts.as_ref().expect("parts were written");
    assert!(!plan.output.exists(), "no whole bundle beside the parts");
    assert!(parts.index.is_file() && parts.signature.is_file());
    let mut joined = Vec::new();
    for p in &parts.index_content.parts {
        let bytes = std::fs::read(path.join(&p.name)).expect("a part");
        assert!(bytes.len() as u64 <= 256);
        assert_eq!(Sha256Digest::of(&bytes).hex(), p.sha256);
        joined.extend(bytes);
    }
    assert!(parts.index_content.parts.len() > 1);
    assert_eq!(report.size, joined.len() as u64);
    assert_eq!(report.sha256, Sha256Digest::of(&joined).hex());
    crate::bundle::reader::read(&joined[..], &trust(&key), &mut Keep::default())
        .expect("the joined parts verify");
}

#[test]
fn a_plan_that_cannot_be_exported_is_refused_and_leaves_no_output() {
    type Change = fn(&mut ExportPlan, &mut Vec<SecretKey>);
    type Expected = fn(&ExportError) -> bool;
    let cases: [(&str, Change, Expected); 6] = [
        (
            "no sources",
            |p, _| p.sources.clear(),
            |e| matches!(e, ExportError::NoSources),
        ),
        (
            "no key",
            |_, k| k.clear(),
            |e| matches!(e, ExportError::NoKey),
        ),
        (
            "created next year",
            |p, _| p.created = OffsetDateTime::now_utc() + time::Duration::days(365),
            |e| matches!(e, ExportError::CreatedInFuture(_)),
        ),
        (
            "a label with a newline",
            |p, _| {
                p.labels.insert("note".into(), "two\nlines".into());
            },
            |e| matches!(e, ExportError::Label(k) if k == "note"),
        ),
        (
            "the same VEX repository twice",
            |p, _| {
                let again = p.sources[0].clone();
                p.sources.push(again);
            },
            |e| matches!(e, ExportError::Duplicate(what) if what.contains("\"default\"")),
        ),
        (
            "a VEX manifest that is missing",
            |p, _| {
                if let SourceSpec::Vex { manifest, .. } = &mut p.sources[0] {
                    *manifest = manifest.with_file_name("missing.json");
                }
            },
            |e| matches!(e, ExportError::Source(_)),
        ),
    ];
    for (what, change, expected) in cases {
        let (_dir, path) = testing::temp_dir();
        let mut plan = testing::vex_plan(&path);
        let mut keys = vec![testing::key("")];
        change(&mut plan, &mut keys);
        let err = export(&plan, &keys, "t", &NoProgress).expect_err(what);
        assert!(expected(&err), "{what}: {err:?}");
        assert!(!plan.output.exists(), "{what}: no output");
    }
}

#[test]
fn an_existing_output_is_kept_unless_forced() {
    let (_dir, path) = testing::temp_dir();
    let key = testing::key("");
    let mut plan = testing::vex_plan(&path);
    std::fs::write(&plan.output, b"mine").expect("writes");
    let err = export(&plan, std::slice::from_ref(&key), "t", &NoProgress).unwrap_err();
    assert!(
        matches!(&err, ExportError::Exists(p) if *p == plan.output),
        "{err:?}"
    );
    assert_eq!(
        err.to_string().lines().next(),
        Some(&*format!("{} already exists", plan.output.display()))
    );
    assert_eq!(std::fs::read(&plan.output).expect("reads"), b"mine");
    plan.force = true;
    let report = export(&plan, std::slice::from_ref(&key), "t", &NoProgress).expect("exports");
    assert_eq!(
        std::fs::metadata(&plan.output).expect("replaced").len(),
        report.size
    );
}

#[test]
fn the_defaults_and_their_hosts_are_trivys() {
    let sources = default_sources();
    assert_eq!(sources.len(), 4);
    assert!(matches!(
        &sources[3],
        SourceSpec::VexUrl { name, .. } if name == "default"
    ));
    let hosts = source_hosts(&sources);
    assert!(hosts.iter().any(|h| h == "mirror.gcr.io"), "{hosts:?}");
    assert!(hosts.iter().any(|h| h == "ghcr.io"), "{hosts:?}");
    assert!(
        hosts.iter().any(|h| h.starts_with("github.com")),
        "{hosts:?}"
    );
    // Files reach no host.
    let (_dir, path) = testing::temp_dir();
    assert!(source_hosts(&testing::vex_plan(&path).sources).is_empty());
}
