//! Cases on `vex-repository.json` (SPEC.md section 5, R23, text revision
//! 3): it offers spec version `0.1`, and that version's first location
//! names the folder `[[vex]] subdir`. Added after the second reader
//! (SECOND-READER.md, D3).

use super::{case, Base, Case};

const REPO: &str = "vex/default/vex-repository.json";

/// The good `vex-repository.json` with `from` replaced by `to`, in a
/// validly signed bundle.
fn edited_repo(base: &Base, from: &str, to: &str) -> Vec<u8> {
    let e = base.payloads.iter().find(|e| e.name == REPO).unwrap();
    let text = String::from_utf8(e.data.clone()).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from}");
    let b = base.with_payload(REPO, text.replacen(from, to, 1).as_bytes());
    b.bundle(&b.manifest)
}

pub(super) fn vex_cases(base: &Base) -> Vec<Case> {
    let version = r#"{"spec_version":"0.1","#;
    vec![
        case(
            "accept-vex-repository-later-version-first",
            "R23",
            0,
            "vex-repository.json offering spec version 0.2 before 0.1",
            edited_repo(
                base,
                version,
                &format!(r#"{{"spec_version":"0.2","locations":[]}},{version}"#),
            ),
        ),
        case(
            "refuse-r23-vex-repository-spec-0.2-only",
            "R23",
            4,
            "vex-repository.json whose only version is 0.2",
            edited_repo(base, version, r#"{"spec_version":"0.2","#),
        ),
        case(
            "refuse-r23-vex-location-other-folder",
            "R23",
            4,
            "vex-repository.json's 0.1 location names a folder other than subdir",
            edited_repo(base, "main.zip//vexhub-main", "main.zip//elsewhere"),
        ),
    ]
}
