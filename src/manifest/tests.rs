//! Parsing, serializing and validating whole manifests.

use super::*;

fn sample() -> Manifest {
    let d = Sha256Digest::of(b"x");
    let name = |s: &str| PlainName::new(s).unwrap();
    let path = |s: &str| PayloadPath::new(s).unwrap();
    Manifest {
        format: FORMAT_NAME.into(),
        format_version: "1.0".into(),
        created: "2026-01-01T00:00:00Z".parse().unwrap(),
        generator: "test".into(),
        series: None,
        sequence: None,
        labels: BTreeMap::from([("ticket".into(), "CHG-1".into())]),
        artifacts: vec![],
        vex: vec![VexRepository {
            name: name("default"),
            source: "s".into(),
            title: "t".into(),
            manifest_path: path("vex/default/vex-repository.json"),
            archive_path: path("vex/default/archive.zip"),
            archive_format: ArchiveFormat::Zip,
            subdir: Subdir::new("top").unwrap(),
            spec_version: "0.1".into(),
            original_location: "https://x/y.zip//top".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            packages: 1,
            unpacked: Unpacked {
                size: 1,
                files: 1,
                entries: 1,
                data: 1,
                dirs: Some(0),
            },
        }],
        deltas: vec![],
        payloads: vec![
            Payload {
                path: path("vex/default/archive.zip"),
                size: 1,
                sha256: d,
            },
            Payload {
                path: path("vex/default/vex-repository.json"),
                size: 1,
                sha256: d,
            },
        ],
    }
}

#[test]
fn round_trips() {
    let m = sample();
    let text = m.to_toml().unwrap();
    assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
}

#[test]
fn unknown_major_is_refused_with_version() {
    let text = sample()
        .to_toml()
        .unwrap()
        .replace("format_version = \"1.0\"", "format_version = \"2.0\"");
    let err = Manifest::parse(text.as_bytes()).unwrap_err();
    assert!(matches!(err, ManifestError::UnknownMajor { .. }));
    assert!(err
        .to_string()
        .starts_with("bundle format version 2.0 is not supported"));
}

#[test]
fn duplicate_keys_and_unsorted_paths_are_refused() {
    let text = sample().to_toml().unwrap().replacen(
        "generator = \"test\"",
        "generator = \"test\"\ngenerator = \"x\"",
        1,
    );
    assert!(matches!(
        Manifest::parse(text.as_bytes()),
        Err(ManifestError::Syntax(_))
    ));
    let mut m = sample();
    m.payloads.reverse();
    assert!(m.validate().is_err());
}

#[test]
fn a_field_its_type_refuses_is_a_field_error_naming_its_key() {
    let text = sample().to_toml().unwrap();
    for (old, new, message) in [
        (
            "created = \"2026-01-01T00:00:00Z\"",
            "created = \"2026-01-01T00:00:00Z\\r\"",
            "manifest field is invalid: created \"2026-01-01T00:00:00Z\\\\u{d}\" is not one line of text: holds \\u{d} (one line of visible text is allowed)",
        ),
        (
            "created = \"2026-01-01T00:00:00Z\"",
            "created = \"soon\"",
            "manifest field is invalid: created \"soon\" is not an RFC 3339 time",
        ),
        (
            "archive_format = \"zip\"",
            "archive_format = \"rar\"",
            "manifest field is invalid: vex.archive_format \"rar\" is not an archive format (zip or tar.gz)",
        ),
        (
            "[[payload]]\npath = \"vex/default/archive.zip\"",
            "[[payload]]\npath = \"vex/../archive.zip\"",
            "manifest field is invalid: payload.path unsafe path \"vex/../archive.zip\"",
        ),
        (
            "name = \"default\"",
            "name = \"\\u202edefault\"",
            "manifest field is invalid: vex.name \"\\\\u{202e}default\" is not a plain name",
        ),
    ] {
        assert!(text.contains(old), "{old}");
        let err = Manifest::parse(text.replacen(old, new, 1).as_bytes()).unwrap_err();
        assert!(matches!(err, ManifestError::Field(_)), "{err:?}");
        assert!(err.to_string().starts_with(message), "{err}");
    }
    // A wrong shape is still a syntax error.
    let err = Manifest::parse(text.replace("packages = 1", "packages = \"1\"").as_bytes());
    assert!(matches!(err, Err(ManifestError::Syntax(_))), "{err:?}");
}

#[test]
fn times_and_digests_serialize_as_they_were_read() {
    let mut m = sample();
    m.created = "2026-01-01T01:00:00.5+01:00".parse().unwrap();
    let text = m.to_toml().unwrap();
    assert!(
        text.contains("created = \"2026-01-01T01:00:00.5+01:00\""),
        "{text}"
    );
    assert!(text.contains(&format!("sha256 = \"{}\"", Sha256Digest::of(b"x").hex())));
    assert_eq!(
        Manifest::parse(text.as_bytes()).unwrap().to_toml().unwrap(),
        text
    );
}

#[test]
fn unsafe_names_are_refused() {
    for bad in ["..", ".hidden", "a/b", "a\\b", "", "a\0b", &"x".repeat(65)] {
        assert!(check_plain_name(bad).is_err(), "{bad:?}");
    }
    assert!(check_relative_path("a/../b").is_err());
    assert!(check_relative_path("/a").is_err());
    assert!(check_relative_path("vexhub-main/pkg").is_ok());
}

#[test]
fn a_toml_date_time_value_is_refused_at_any_key() {
    let text = sample().to_toml().unwrap();
    for (old, new, message) in [
        (
            "created = \"2026-01-01T00:00:00Z\"",
            "created = 2026-01-01T00:00:00Z",
            "manifest field is invalid: created is a TOML date-time value, not a string",
        ),
        (
            "created = \"2026-01-01T00:00:00Z\"",
            "created = \"2026-01-01T00:00:00Z\"\nreviewed = 2026-01-01",
            "manifest field is invalid: reviewed is a TOML date-time value, not a string",
        ),
        (
            "archive_format = \"zip\"",
            "archive_format = \"zip\"\nseen = [12:00:00]",
            "manifest field is invalid: vex.seen is a TOML date-time value, not a string",
        ),
    ] {
        assert!(text.contains(old), "{old}");
        let err = Manifest::parse(text.replacen(old, new, 1).as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}
