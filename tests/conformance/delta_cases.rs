//! Cases on delta bundles (format 1.3, SPEC.md section 3 `[[delta]]`,
//! R14), made from the delta vector (bundle-spec/vectors/delta.airlock).
//! `verify` proves a delta bundle's bytes and metadata; only `import`
//! applies a delta (the base is on the importing host).

use super::{case, Base, Case};

pub(super) fn delta_cases(base: &Base) -> Vec<Case> {
    let cases = vec![
        case(
            "accept-delta",
            "R14",
            0,
            "format 1.3: trivy-db as a delta, checks whole (the delta vector)",
            base.bundle(&base.manifest),
        ),
        case(
            "refuse-r14-delta-for-checks",
            "R14",
            4,
            "a [[delta]] of kind checks (deltas are for trivy-db and java-db only)",
            base.bundle(&base.edited(
                "kind = \"trivy-db\"\nrepository = \"trivy-db\"",
                "kind = \"checks\"\nrepository = \"trivy-checks\"",
            )),
        ),
        case(
            "refuse-r14-delta-declared-1.2",
            "R14",
            4,
            "a [[delta]] in a manifest that declares format 1.2",
            base.bundle(&base.edited("format_version = \"1.3\"", "format_version = \"1.2\"")),
        ),
    ];
    cases
        .into_iter()
        .map(|c| Case {
            since: Some("1.3"),
            ..c
        })
        .collect()
}
