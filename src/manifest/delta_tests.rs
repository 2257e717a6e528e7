//! The `[[delta]]` rules (format 1.3, SPEC.md section 3): each hostile
//! field a signer could put there is refused when the manifest is parsed.

use super::*;

const DELTA: &str = "AIRDLT01-delta-bytes";

fn text() -> String {
    let meta = r#"{"Version":2,"NextUpdate":"2026-01-02T00:00:00Z","UpdatedAt":"2026-01-01T00:00:00Z","DownloadedAt":"0001-01-01T00:00:00Z"}"#;
    let h = |b: &[u8]| Sha256Digest::of(b).hex();
    format!(
        r#"format = "airlock-bundle"
format_version = "1.3"
created = "2026-01-01T00:00:00Z"
generator = "test"

[[delta]]
kind = "trivy-db"
repository = "trivy-db"
tag = "2"
encoding = "zstd-patch-from"
path = "delta/trivy-db/trivy.db.delta"
metadata_path = "delta/trivy-db/metadata.json"

[delta.base]
sha256 = "{a}"
size = 1000
updated_at = "2025-12-31T00:00:00Z"

[delta.database]
schema_version = 2
updated_at = "2026-01-01T00:00:00Z"
next_update = "2026-01-02T00:00:00Z"
file = "trivy.db"
size = 1000
sha256 = "{b}"

[[payload]]
path = "delta/trivy-db/metadata.json"
size = {ml}
sha256 = "{mh}"

[[payload]]
path = "delta/trivy-db/trivy.db.delta"
size = {dl}
sha256 = "{dh}"
"#,
        a = "a".repeat(64),
        b = "b".repeat(64),
        ml = meta.len(),
        mh = h(meta.as_bytes()),
        dl = DELTA.len(),
        dh = h(DELTA.as_bytes()),
    )
}

fn refused(edit: impl Fn(String) -> String, needle: &str) {
    let t = edit(text());
    match Manifest::parse(t.as_bytes()) {
        Ok(_) => panic!("accepted:\n{t}"),
        Err(e) => assert!(e.to_string().contains(needle), "{e}\n{t}"),
    }
}

#[test]
fn a_delta_manifest_parses_and_round_trips() {
    let m = Manifest::parse(text().as_bytes()).unwrap();
    assert_eq!(m.deltas.len(), 1);
    assert_eq!(m.databases().count(), 1);
    assert_eq!(m.installed_kinds(), vec![ArtifactKind::TrivyDb]);
    let again = Manifest::parse(m.to_toml().unwrap().as_bytes()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn hostile_delta_fields_are_refused() {
    refused(
        |t| t.replace("encoding = \"zstd-patch-from\"", "encoding = \"bsdiff\""),
        "encoding \"bsdiff\" is not \"zstd-patch-from\"",
    );
    refused(
        |t| t.replace("repository = \"trivy-db\"", "repository = \"library/x\""),
        "delta trivy-db: repository \"library/x\" is not \"trivy-db\"",
    );
    refused(
        |t| t.replace("file = \"trivy.db\"", "file = \"other.db\""),
        "the database file must be trivy.db",
    );
    refused(
        |t| {
            t.replace(
                "path = \"delta/trivy-db/trivy.db.delta\"\nmetadata",
                "path = \"delta/trivy-db/x.delta\"\nmetadata",
            )
        },
        "must be stored as delta/trivy-db/trivy.db.delta and delta/trivy-db/metadata.json",
    );
    refused(
        |t| t.replace("size = 1000\nupdated_at", "size = 274877906945\nupdated_at"),
        "the base file of 274877906945 bytes is larger than 274877906944",
    );
    refused(
        |t| {
            t.replace(
                "updated_at = \"2025-12-31T00:00:00Z\"",
                "updated_at = \"2026-01-01T00:00:01Z\"",
            )
        },
        "the base (UpdatedAt 2026-01-01T00:00:01Z) is newer than the result",
    );
    refused(
        |t| {
            t.replace(
                "next_update = \"2026-01-02T00:00:00Z\"",
                "next_update = \"2027-01-02T00:00:00Z\"",
            )
        },
        "must fall between UpdatedAt",
    );
    // The delta payload far larger than its result.
    refused(
        |t| t.replace(&format!("size = {}\n", DELTA.len()), "size = 3000000\n"),
        "carry the database whole",
    );
    // A metadata.json over 64 KiB.
    refused(
        |t| {
            let at = t
                .find("path = \"delta/trivy-db/metadata.json\"\nsize = ")
                .unwrap();
            let line_end = t[at..].find("\nsha256").unwrap() + at;
            format!(
                "{}path = \"delta/trivy-db/metadata.json\"\nsize = 70000{}",
                &t[..at],
                &t[line_end..]
            )
        },
        "metadata.json of 70000 bytes is larger than 65536",
    );
    // A delta/ payload no delta names.
    refused(
        |t| {
            t.replace(
                "[[payload]]\npath = \"delta/trivy-db/metadata.json\"",
                &format!(
                    "[[payload]]\npath = \"delta/extra/x\"\nsize = 1\nsha256 = \"{}\"\n\n[[payload]]\npath = \"delta/trivy-db/metadata.json\"",
                    "c".repeat(64)
                ),
            )
        },
        "payload delta/extra/x belongs to no delta",
    );
    // A result digest that is not hex.
    refused(|t| t.replace(&"b".repeat(64), &"B".repeat(64)), "delta");
}
