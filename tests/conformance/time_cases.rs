//! Cases on the manifest's times (SPEC.md section 3, "Types", text
//! revision 3): a time is a TOML string holding RFC 3339 section 5.6's
//! `date-time` with upper-case `T` and `Z`. Added after the second reader
//! (SECOND-READER.md, D1, D1b, D1c, D2).

use super::{case, Base, Case};

const CREATED: &str = "created = \"2026-01-01T00:00:00Z\"";
const TRIVY_DB_UPDATED: &str = "schema_version = 2\nupdated_at = \"2024-01-01T00:00:00Z\"";

pub(super) fn time_cases(base: &Base) -> Vec<Case> {
    let edit = |from: &str, to: &str| base.bundle(&base.edited(from, to));
    vec![
        case(
            "accept-time-fraction-and-offset",
            "R13",
            0,
            "created = \"2026-01-01T01:00:00.5+01:00\" (a fraction and an offset)",
            edit(CREATED, "created = \"2026-01-01T01:00:00.5+01:00\""),
        ),
        case(
            "refuse-r13-created-toml-datetime",
            "R13",
            4,
            "created = 2026-01-01T00:00:00Z (a TOML datetime, not a string)",
            edit(CREATED, "created = 2026-01-01T00:00:00Z"),
        ),
        case(
            "refuse-r13-created-space-separator",
            "R13",
            4,
            "created = \"2026-01-01 00:00:00Z\" (a space, not T)",
            edit(CREATED, "created = \"2026-01-01 00:00:00Z\""),
        ),
        case(
            "refuse-r13-created-lower-case-t",
            "R13",
            4,
            "created = \"2026-01-01t00:00:00Z\" (a lower-case t)",
            edit(CREATED, "created = \"2026-01-01t00:00:00Z\""),
        ),
        case(
            "refuse-r13-updated-at-toml-datetime",
            "R13",
            4,
            "a database updated_at as a TOML datetime, not a string",
            edit(
                TRIVY_DB_UPDATED,
                "schema_version = 2\nupdated_at = 2024-01-01T00:00:00Z",
            ),
        ),
        case(
            "refuse-r13-fetched-at-toml-datetime",
            "R13",
            4,
            "fetched_at = 2025-01-01T00:00:00Z (a TOML datetime, not a string)",
            edit(
                "repository = \"trivy-db\"",
                "fetched_at = 2025-01-01T00:00:00Z\nrepository = \"trivy-db\"",
            ),
        ),
        case(
            "refuse-r13-unknown-key-toml-datetime",
            "R13",
            4,
            "an unknown key holding a TOML datetime (refused at any key)",
            edit(
                CREATED,
                &format!("{CREATED}\nreviewed = 2026-01-01T00:00:00Z"),
            ),
        ),
    ]
}
