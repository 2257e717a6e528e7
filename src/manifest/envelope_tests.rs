//! The envelope: the version grammar and the order of the first checks
//! (SPEC.md section 5, checks 5.1-5.4), and the byte-order mark.

use super::*;

fn envelope(body: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(body.as_bytes())
}

#[test]
fn the_version_grammar_is_major_dot_minor_without_leading_zeros() {
    for ok in ["1.0", "1.2", "0.0", "10.123456789", "2.0"] {
        assert!(version_major(ok).is_some(), "{ok}");
    }
    for bad in [
        "1",
        "1.",
        ".1",
        "1.1.0",
        "1.x",
        "01.1",
        "1.01",
        "+1.1",
        "-1.1",
        " 1.1",
        "1.1 ",
        "1.1\n",
        "١.١",
        "1234567890.0",
    ] {
        assert_eq!(version_major(bad), None, "{bad:?}");
    }
}

#[test]
fn an_unknown_major_is_refused_before_format_is_looked_at() {
    let err = envelope("format_version = \"2.0\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle format version 2.0 is not supported by this airlock (it reads major version 1)"
    );
    let err = envelope("format = \"other\"\nformat_version = \"3.7\"\n").unwrap_err();
    assert!(matches!(err, ManifestError::UnknownMajor { .. }), "{err}");
}

#[test]
fn a_malformed_version_is_refused_after_format() {
    let err = envelope("format = \"airlock-bundle\"\nformat_version = \"01.1\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest field is invalid: format_version \"01.1\" is not MAJOR.MINOR (decimal numbers without leading zeros)"
    );
    // A version that is not of the grammar does not make `format` skipped.
    let err = envelope("format = \"x\"\nformat_version = \"+2.0\"\n").unwrap_err();
    assert!(matches!(err, ManifestError::NotAirlock { .. }), "{err}");
    let err = envelope("format = \"airlock-bundle\"\nformat_version = 1\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest field is invalid: format_version is missing or not a string"
    );
}

#[test]
fn a_byte_order_mark_is_refused() {
    let err =
        envelope("\u{feff}format = \"airlock-bundle\"\nformat_version = \"1.2\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest is not valid TOML: the manifest starts with a byte-order mark"
    );
}
