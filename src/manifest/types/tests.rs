//! Each type accepts its grammar and refuses the rest with its message.

use super::*;

fn refusal<T: fmt::Debug>(r: Result<T, ManifestError>) -> String {
    match r {
        Err(ManifestError::Field(m)) => m,
        other => panic!("expected a field refusal, got {other:?}"),
    }
}

#[test]
fn plain_names_take_the_grammar_and_nothing_else() {
    for good in [
        "default",
        "trivy.db",
        "db.tar.gz",
        "a-b_c.1",
        &"x".repeat(64),
    ] {
        assert_eq!(PlainName::new(good).unwrap(), good);
    }
    for bad in [
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        "",
        "a\0b",
        "é",
        &"x".repeat(65),
    ] {
        assert!(
            refusal(PlainName::new(bad)).contains("is not a plain name (1-64 of A-Z"),
            "{bad:?}"
        );
    }
    assert_eq!(
        refusal(PlainName::new("\u{202e}db.tar.gz")),
        "\"\\\\u{202e}db.tar.gz\" is not a plain name (1-64 of A-Z a-z 0-9 . _ -, not starting with a dot)"
    );
    // Quoted as the string in messages, as before the type.
    assert_eq!(format!("{:?}", PlainName::new("x").unwrap()), "\"x\"");
}

#[test]
fn paths_are_plain_names_joined_by_slashes() {
    assert!(RelativePath::new("vexhub-main/pkg").is_ok());
    for bad in ["a/../b", "/a", "a//b", "a/", "./a"] {
        assert_eq!(
            refusal(RelativePath::new(bad)),
            format!("unsafe path {bad:?}")
        );
    }
    let long = format!("a/{}", "b/".repeat(127));
    assert!(refusal(RelativePath::new(long)).starts_with("path too long: "));
    assert_eq!(Subdir::new("").unwrap(), "");
    assert_eq!(Subdir::new("top/inner").unwrap(), "top/inner");
    assert!(refusal(Subdir::new("../x")).starts_with("unsafe path"));
}

#[test]
fn payload_paths_stay_under_oci_and_vex() {
    assert!(PayloadPath::new("vex/default/archive.zip").is_ok());
    assert_eq!(
        refusal(PayloadPath::new("etc/passwd")),
        "payload \"etc/passwd\" is outside oci/, vex/ and delta/"
    );
    assert!(refusal(PayloadPath::new("vex/../evil")).starts_with("unsafe path"));
    let d = Sha256Digest::of(b"x");
    let blob = PayloadPath::blob(&d);
    assert_eq!(blob, format!("oci/blobs/sha256/{}", d.hex()));
    assert_eq!(blob.blob_digest(), Some(d));
    assert_eq!(PayloadPath::oci_index().blob_digest(), None);
    let name = PlainName::new("default").unwrap();
    assert_eq!(
        PayloadPath::vex_archive(&name, ArchiveFormat::TarGz),
        "vex/default/archive.tar.gz"
    );
    assert_eq!(
        PayloadPath::vex_manifest(&name),
        "vex/default/vex-repository.json"
    );
}

#[test]
fn archive_formats_are_zip_and_tar_gz() {
    for f in [ArchiveFormat::Zip, ArchiveFormat::TarGz] {
        assert_eq!(ArchiveFormat::from_name(f.name()), Some(f));
    }
    assert_eq!(ArchiveFormat::from_name("rar"), None);
    assert_eq!(ArchiveFormat::from_name("ZIP"), None);
}

#[test]
fn times_keep_their_text_and_refuse_what_is_not_one() {
    // Go's nanoseconds and an offset come back byte for byte.
    for text in [
        "2024-06-13T06:13:44.470253496Z",
        "2026-01-01T02:00:00+02:00",
    ] {
        let t = Rfc3339Time::new(text).unwrap();
        assert_eq!(t.as_str(), text);
        assert_eq!(t.to_string(), text);
    }
    let t = Rfc3339Time::new("2026-01-01T02:00:00+02:00").unwrap();
    assert_eq!(
        t.at(),
        Rfc3339Time::new("2026-01-01T00:00:00Z").unwrap().at()
    );
    // Made by airlock: UTC, to the second.
    let made = Rfc3339Time::from(t.at() + time::Duration::milliseconds(500));
    assert_eq!(made.as_str(), "2026-01-01T00:00:00Z");
    assert_eq!(
        refusal(Rfc3339Time::new("2026-11-25T12:00:00Z\r")),
        "\"2026-11-25T12:00:00Z\\\\u{d}\" is not one line of text: holds \\u{d} (one line of visible text is allowed)"
    );
    assert_eq!(
        refusal(Rfc3339Time::new("yesterday")),
        "\"yesterday\" is not an RFC 3339 time"
    );
    assert!(refusal(Rfc3339Time::new("9".repeat(65))).contains("longer than 64 bytes"));
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Digests {
    #[serde(with = "oci_digest")]
    oci: Sha256Digest,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "oci_digest_opt"
    )]
    upstream: Option<Sha256Digest>,
    #[serde(with = "hex_digest")]
    hex: Sha256Digest,
}

#[test]
fn digests_have_an_oci_form_and_a_hex_form() {
    let d = Sha256Digest::of(b"abc");
    let v = Digests {
        oci: d,
        upstream: None,
        hex: d,
    };
    let text = toml::to_string(&v).unwrap();
    assert_eq!(
        text,
        format!("oci = \"sha256:{0}\"\nhex = \"{0}\"\n", d.hex())
    );
    assert_eq!(toml::from_str::<Digests>(&text).unwrap(), v);
    let with_upstream = format!("{text}upstream = \"{}\"\n", d.oci());
    assert_eq!(
        toml::from_str::<Digests>(&with_upstream).unwrap().upstream,
        Some(d)
    );
    for (bad, needle) in [
        (
            text.replace("sha256:", ""),
            "is not a digest (sha256: and 64",
        ),
        (
            text.replace(
                &format!("hex = \"{}", d.hex()),
                &format!("hex = \"sha256:{}", d.hex()),
            ),
            "is not a sha256 digest (64 lowercase hex digits)",
        ),
        (
            text.replace(&d.hex()[..8], &d.hex()[..8].to_uppercase()),
            "is not a",
        ),
    ] {
        let e = toml::from_str::<Digests>(&bad).unwrap_err();
        assert!(e.message().starts_with(FIELD_MARK), "{e}");
        assert!(e.message().contains(needle), "{e}");
    }
}

#[test]
fn times_are_the_date_time_production_with_upper_case_t_and_z() {
    for good in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.5Z",
        "2026-01-01T00:00:00-05:30",
    ] {
        assert_eq!(Rfc3339Time::new(good).unwrap().as_str(), good);
    }
    for bad in [
        "2026-01-01 00:00:00Z",
        "2026-01-01t00:00:00Z",
        "2026-01-01T00:00:00z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00+0200",
        "2026-1-01T00:00:00Z",
        "2026-01-01T00:00Z",
    ] {
        assert_eq!(
            refusal(Rfc3339Time::new(bad)),
            format!("{bad:?} is not an RFC 3339 time"),
            "{bad}"
        );
    }
}
