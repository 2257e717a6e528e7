//! The import as a library transaction (issue 18): `Import::run` called
//! directly, with no CLI, records accepted, refused and forced imports in
//! the audit log with their decision and components.

use std::path::{Path, PathBuf};

use airlock::install::audit::{self, Verdict};
use airlock::install::{ComponentId, Decision, Import, ImportError, ImportRequest};
use airlock::keys::PublicKey;
use airlock::manifest::ArtifactKind;
use airlock::media::Input;
use airlock::policy::TrustPolicy;
use airlock::progress::NoProgress;

use crate::support::*;

/// Two bundles of one series: sequence 5, then 4 (a downgrade after 5).
struct Series {
    t: TestDir,
    policy: TrustPolicy,
    b5: PathBuf,
    b4: PathBuf,
}

fn series() -> Series {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let (b5, b4) = (t.join("b5.airlock"), t.join("b4.airlock"));
    for (bundle, seq) in [(&b5, "5"), (&b4, "4")] {
        let mut args = export_all_args(&inputs, &key, bundle);
        args.extend(["--series", "monthly", "--sequence", seq]);
        airlock_ok(&args);
    }
    let policy = TrustPolicy::any_of(vec![PublicKey::from_file(&public).unwrap()]).unwrap();
    Series { t, policy, b5, b4 }
}

fn request(bundle: &Path, cache: &Path, allow_downgrade: bool) -> ImportRequest {
    ImportRequest {
        bundle_name: bundle.display().to_string(),
        cache_dir: Some(cache.to_path_buf()),
        vex_dir: None,
        vex_url: None,
        now: time::OffsetDateTime::now_utc(),
        allow_downgrade,
        audit_log: None,
        receipt: None,
        generator: "import_transaction test".into(),
    }
}

/// The audit log's lines, parsed.
fn log_lines(cache: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(cache.join(AUDIT_LOG))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `field`s of a line's `installed` records.
fn installed(line: &serde_json::Value, field: &str) -> Vec<String> {
    line["installed"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r[field].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The `path`s of a line's `installed` records.
fn installed_paths(line: &serde_json::Value) -> Vec<String> {
    installed(line, "path")
}

#[test]
fn accepted_refused_and_forced_imports_are_each_in_the_audit_log() {
    let s = series();
    let cache = s.t.join("cache");

    // Accepted, with an unsigned receipt.
    let input = Input::open(&s.b5, Some(&s.policy)).unwrap();
    let mut req = request(&s.b5, &cache, false);
    let receipt = s.t.join("receipt.json");
    req.receipt = Some(airlock::install::ReceiptRequest {
        path: receipt.clone(),
        key: None,
    });
    let accepted = Import::new(&input, &s.policy, req).run(&NoProgress);
    assert_eq!(accepted.decision, Decision::Accepted);
    assert!(accepted.refusal.is_none());
    let report = accepted.import.as_ref().expect("a cache import");
    let ids: Vec<&ComponentId> = report.components.iter().map(|c| &c.id).collect();
    assert_eq!(
        ids,
        [
            &ComponentId::Artifact(ArtifactKind::TrivyDb),
            &ComponentId::Artifact(ArtifactKind::JavaDb),
            &ComponentId::Artifact(ArtifactKind::Checks),
        ]
    );
    assert_eq!(report.vex.len(), 1);
    assert_eq!(
        report.vex[0].id,
        ComponentId::VexRepository(report.vex[0].name.clone())
    );
    assert!(report.components.iter().all(|c| !c.replaced));
    let logged = accepted.records.audit.as_ref().expect("logged");
    assert_eq!(logged.line, 1);
    let written = accepted.records.receipt.as_ref().expect("a receipt");
    assert_eq!(written.signature, None);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(
        (r["decision"].as_str(), r["audit"]["line"].as_u64()),
        (Some("accepted"), Some(1))
    );

    // Refused: a downgrade, not forced; nothing installed is recorded.
    let input = Input::open(&s.b4, Some(&s.policy)).unwrap();
    let refused = Import::new(&input, &s.policy, request(&s.b4, &cache, false)).run(&NoProgress);
    match &refused.decision {
        Decision::Refused { reason } => assert!(reason.contains("downgrade"), "{reason}"),
        other => panic!("not refused: {other:?}"),
    }
    assert!(matches!(
        refused.refusal,
        Some(ImportError::Downgrade { never: false, .. })
    ));
    assert!(refused.import.is_none() && refused.verified.is_none());
    assert_eq!(refused.entry.decision, Verdict::Refused);

    // Forced: the same downgrade, allowed; the overridden refusal is data.
    let forced = Import::new(&input, &s.policy, request(&s.b4, &cache, true)).run(&NoProgress);
    let overridden = match &forced.decision {
        Decision::Forced { overridden } => overridden.clone(),
        other => panic!("not forced: {other:?}"),
    };
    assert!(
        overridden.iter().any(|r| r.contains("sequence 5")),
        "{overridden:?}"
    );
    let report = forced.import.as_ref().expect("a cache import");
    assert!(report.components.iter().all(|c| c.replaced));
    assert!(report.vex.iter().all(|v| v.replaced));

    // The log: one line each, chained, with the decision and components.
    let lines = log_lines(&cache);
    let decisions: Vec<&str> = lines
        .iter()
        .map(|l| l["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["accepted", "refused", "forced"]);
    let components: Vec<String> = report
        .components
        .iter()
        .map(|c| c.path.display().to_string())
        .chain(
            report
                .vex
                .iter()
                .map(|v| v.cache_path.display().to_string()),
        )
        .collect();
    assert_eq!(installed_paths(&lines[0]), components);
    assert_eq!(installed_paths(&lines[1]), Vec::<String>::new());
    assert_eq!(installed_paths(&lines[2]), components);
    // Each record names its component by the id it carried from the plan.
    let ids: Vec<String> = report
        .components
        .iter()
        .map(|c| c.id.to_string())
        .chain(report.vex.iter().map(|v| v.id.to_string()))
        .collect();
    assert_eq!(installed(&lines[0], "component"), ids);
    assert_eq!(installed(&lines[2], "component"), ids);
    assert!(ids.iter().any(|id| id == "db"), "{ids:?}");
    assert!(
        ids.iter().any(|id| id.starts_with("vex/repositories/")),
        "{ids:?}"
    );
    assert!(lines[1]["reason"].as_str().unwrap().contains("downgrade"));
    assert_eq!(lines[2]["forced"], serde_json::json!(overridden));
    assert_eq!(lines[2]["installed"][0]["replaced"], true);
    assert_eq!(lines[0]["installed"][0]["replaced"], false);
    assert_eq!(lines[2]["sequence"], 4);
    let chain = audit::check(&cache.join(AUDIT_LOG)).unwrap();
    assert_eq!(
        (chain.lines, chain.accepted, chain.refused, chain.forced),
        (3, 1, 1, 1)
    );
}

#[test]
fn a_refusal_before_the_bundle_is_read_is_recorded_by_the_request() {
    let t = TestDir::new();
    let cache = t.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let req = request(&t.join("missing.airlock"), &cache, false);
    let records = req.record_refusal("cannot open bundle https://user:pw@example.com/x");
    assert_eq!(records.audit.as_ref().map(|l| l.line), Some(1));
    let lines = log_lines(&cache);
    assert_eq!(lines[0]["decision"], "refused");
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("***@") && !reason.contains("pw@"),
        "{reason}"
    );
}

#[test]
fn a_refusal_without_a_cache_directory_creates_none() {
    let s = series();
    let cache = s.t.join("absent-cache");
    let other = TrustPolicy::any_of(vec![PublicKey::from_file(
        &keygen(s.t.path(), "stranger").1,
    )
    .unwrap()])
    .unwrap();
    let input = Input::open(&s.b5, None).unwrap();
    let out = Import::new(&input, &other, request(&s.b5, &cache, false)).run(&NoProgress);
    assert!(matches!(out.decision, Decision::Refused { .. }));
    assert!(out.records.audit.is_none() && out.records.audit_error.is_none());
    assert!(!cache.exists());
}
