use std::io::{Cursor, Read, Write};

use super::file_set::FileSet;
use super::index::BoundedStrings;
use super::*;
use crate::unpack::Limits;

#[test]
fn splits_go_getter_subdirs() {
    assert_eq!(
        split_location(
            "https://github.com/aquasecurity/vexhub/archive/refs/heads/main.zip//vexhub-main"
        ),
        (
            "https://github.com/aquasecurity/vexhub/archive/refs/heads/main.zip".into(),
            "vexhub-main".into()
        )
    );
    assert_eq!(
        split_location("file:///srv/vex/a.zip//top/"),
        ("file:///srv/vex/a.zip".into(), "top".into())
    );
    assert_eq!(
        split_location("https://x/a.zip"),
        ("https://x/a.zip".into(), "".into())
    );
    assert_eq!(
        split_location("/srv/a.zip//top?x=1"),
        ("/srv/a.zip?x=1".into(), "top".into())
    );
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn scan_index(index: &[u8]) -> Result<VexContents, VexError> {
    let zip = zip_of(&[
        ("top/index.json", index),
        ("top/pkg/a.json", b"{}"),
        ("top/b.json", b"{}"),
    ]);
    scan_archive(
        ArchiveFormat::Zip,
        Cursor::new(zip),
        "top",
        Limits::LOCAL_INPUT,
        &mut crate::unpack::Discard,
    )
}

#[test]
fn index_is_checked_package_by_package() {
    let c = scan_index(
        br#"{"x":{"y":[1,"\"",{}]},"packages":[{"id":"p:a","location":"./pkg/a.json","format":"openvex","extra":[[]]},
        {"location":"b.json","id":"p:b"}],"updated_at":"2024-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(
        (c.packages, c.updated_at.as_str()),
        (2, "2024-01-01T00:00:00Z")
    );
    assert_eq!(c.unpacked.files, 3);
    let c = scan_index(br#"{"updated_at":null,"packages":[]}"#).unwrap();
    assert_eq!((c.packages, c.updated_at.as_str()), (0, ""));

    let e = scan_index(br#"{"packages":[{"id":"p:a","location":"pkg/a.json"},{"id":"p:c","location":"pkg/c.json"}]}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"index.json lists "pkg/c.json" for "p:c", but the archive has no such file"#
    );
    let e =
        scan_index(br#"{"packages":[{"id":"p:a","location":"../top/pkg/a.json"}]}"#).unwrap_err();
    assert!(e.to_string().contains("unsafe location"), "{e}");
    for (bad, why) in [
        (&br#"{"packages":[],"packages":[]}"#[..], "duplicate field"),
        (br#"{"updated_at":"x"}"#, "missing field"),
        (br#"[]"#, "expected a VEX index object"),
        (br#"{"packages":[]} x"#, "trailing characters"),
        (
            br#"{"packages":[{"id":"p:a"}]}"#,
            "missing field `location`",
        ),
        (br#"{"packages":{}}"#, "expected an array of packages"),
        (br#"{"packages":["#, "EOF"),
    ] {
        let e = scan_index(bad).unwrap_err();
        assert!(
            matches!(e, VexError::Index { .. }) && e.to_string().contains(why),
            "{}: {e}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn long_strings_in_the_index_are_refused_unbuffered() {
    let at_limit = format!(
        r#"{{"packages":[],"note":"{}"}}"#,
        "a".repeat(MAX_INDEX_STRING)
    );
    assert!(scan_index(at_limit.as_bytes()).is_ok());
    // Escapes count as written, and an escaped quote does not end a string.
    let escaped = format!(
        r#"{{"packages":[],"note":"{}"}}"#,
        r#"\\\""#.repeat(MAX_INDEX_STRING / 4 + 1)
    );
    let long_id = format!(
        r#"{{"packages":[{{"id":"{}","location":"b.json"}}]}}"#,
        "p".repeat(MAX_INDEX_STRING + 1)
    );
    let long_key = format!(
        r#"{{"{}":1,"packages":[]}}"#,
        "k".repeat(MAX_INDEX_STRING + 1)
    );
    for bad in [escaped, long_id, long_key] {
        let e = scan_index(bad.as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains("a string longer than 65536 bytes"),
            "{e}"
        );
    }
}

/// Returns at most a few bytes per read, of varying length.
struct Trickle<R> {
    inner: R,
    step: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 7 + 1;
        let n = buf.len().min(self.step);
        self.inner.read(&mut buf[..n])
    }
}

#[test]
fn string_bounds_hold_across_short_reads() {
    let bounded = |text: &str, max: usize| {
        let mut r = BoundedStrings::new(
            Trickle {
                inner: text.as_bytes(),
                step: 0,
            },
            max,
        );
        let mut out = Vec::new();
        r.read_to_end(&mut out).map(|_| out)
    };
    for ok in [
        r#"{"abcd":"efgh"}"#,
        r#"["ab\"c","\\\\",""]"#,
        r#"{"a\\":"b\u0041c"}"#,
    ] {
        assert_eq!(bounded(ok, 8).unwrap(), ok.as_bytes(), "{ok}");
    }
    for bad in [
        r#"{"abcdefghi":1}"#,
        r#"["ab\"cd\"ef"]"#,
        r#"["\\\\\\\\\\"]"#,
    ] {
        let e = bounded(bad, 8).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{bad}");
    }
}

#[test]
fn archives_past_the_entry_cap_are_refused() {
    let archive = |entries: u64| {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("top/index.json", opts).unwrap();
        z.write_all(br#"{"packages":[]}"#).unwrap();
        for i in 1..entries {
            z.start_file(format!("top/{i}"), opts).unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let scan = |zip: Vec<u8>| {
        scan_archive(
            ArchiveFormat::Zip,
            Cursor::new(zip),
            "top",
            Limits::LOCAL_INPUT,
            &mut crate::unpack::Discard,
        )
    };
    let c = scan(archive(MAX_ARCHIVE_ENTRIES)).unwrap();
    assert_eq!(c.unpacked.entries, MAX_ARCHIVE_ENTRIES);
    let e = scan(archive(MAX_ARCHIVE_ENTRIES + 1)).unwrap_err();
    assert!(
        matches!(
            e,
            VexError::TooManyEntries {
                limit: MAX_ARCHIVE_ENTRIES
            }
        ),
        "{e}"
    );
}

#[test]
fn file_set_finds_what_was_inserted() {
    let mut s = FileSet::new();
    for i in 0..1000 {
        s.insert(&format!("pkg/{i}.json"));
    }
    s.seal();
    assert!((0..1000).all(|i| s.contains(&format!("pkg/{i}.json"))));
    assert!(!s.contains("pkg/1000.json") && !s.contains(""));
}

#[test]
fn manifests_of_too_many_values_are_refused() {
    let m = |junk: usize| {
        format!(
            r#"{{"name":"x","versions":[{{"spec_version":"0.1","locations":[{{"url":"https://x/a.zip"}}]}}],"junk":[{}]}}"#,
            vec!["{}"; junk].join(",")
        )
    };
    // The document, name, versions, the version, spec_version,
    // locations, the location, url, junk: 9 values before junk's.
    let fits = m(MAX_MANIFEST_VALUES as usize - 9);
    assert!(parse_manifest(fits.as_bytes()).is_ok());
    assert!(rewrite_location(fits.as_bytes(), "https://y/b.zip").is_ok());
    let e = parse_manifest(m(MAX_MANIFEST_VALUES as usize - 8).as_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("is not valid: more than 10000 JSON values"),
        "{e}"
    );
    assert!(rewrite_location(m(MAX_MANIFEST_VALUES as usize).as_bytes(), "u").is_err());
}

#[test]
fn escaping_location_is_refused() {
    let m = br#"{"name":"x","versions":[{"spec_version":"0.1","locations":[{"url":"https://x/a.zip//../etc"}]}]}"#;
    assert!(matches!(
        parse_manifest(m),
        Err(VexError::UnsafeLocation { .. })
    ));
    let m = br#"{"name":"x","versions":[{"spec_version":"0.2","locations":[{"url":"https://x/a.zip"}]}]}"#;
    assert!(matches!(
        parse_manifest(m),
        Err(VexError::NoSpecVersion { .. })
    ));
}
