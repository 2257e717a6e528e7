//! Variants of the good vector beyond the conformance suite, written by this
//! module (re-signed with the vector key, whose seed the SPEC publishes), each
//! judged by both readers. Where they differ, SECOND-READER.md says which one
//! the SPEC supports.

use super::container::{self, Tar};
use super::{exit_of, key, spec_dir, verify};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use std::path::Path;

/// A bundle's entries: (path, data).
pub type Entries = Vec<(String, Vec<u8>)>;

/// The good vector's entries.
pub fn entries() -> Entries {
    let file = std::fs::read(spec_dir().join("vectors/good.airlock")).unwrap();
    let frame = container::open(&file).unwrap();
    let mut tar = Tar {
        frame: &frame,
        pos: 0,
    };
    let mut out = Vec::new();
    while let Some(h) = tar.next_header().unwrap() {
        let d = tar.data(h.size).unwrap();
        out.push((h.path, d.to_vec()));
    }
    out
}

/// A minisign `Ed` signature entry by the vector key (seed 32 x 0x07).
pub fn signature(manifest: &[u8]) -> Vec<u8> {
    let sk = SigningKey::from_bytes(&[7u8; 32]);
    let sig = sk.sign(manifest).to_bytes();
    let tc = b"timestamp:1767225600\tfile:manifest.toml";
    let mut g = sig.to_vec();
    g.extend_from_slice(tc);
    let global = sk.sign(&g).to_bytes();
    let mut blob = b"Ed".to_vec();
    blob.extend_from_slice(b"airlock1");
    blob.extend_from_slice(&sig);
    format!(
        "untrusted comment: second reader probe\n{}\ntrusted comment: {}\n{}\n",
        STANDARD.encode(&blob),
        std::str::from_utf8(tc).unwrap(),
        STANDARD.encode(global)
    )
    .into_bytes()
}

/// One ustar header; `tweak` may alter it before the checksum is set.
pub fn header(path: &str, size: u64, tweak: &dyn Fn(&mut [u8; 512])) -> [u8; 512] {
    let mut h = [0u8; 512];
    let (prefix, name) = if path.len() > 100 {
        path.rsplit_once('/').unwrap()
    } else {
        ("", path)
    };
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"15122500600\0");
    h[156] = b'0';
    h[257..265].copy_from_slice(b"ustar\x0000");
    tweak(&mut h);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

pub fn bundle(entries: &[(String, Vec<u8>)], tweak: &dyn Fn(&str, &mut [u8; 512])) -> Vec<u8> {
    let mut tar = Vec::new();
    for (p, d) in entries {
        tar.extend_from_slice(&header(p, d.len() as u64, &|h| tweak(p, h)));
        tar.extend_from_slice(d);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    zstd::stream::encode_all(&tar[..], 3).unwrap()
}

/// The good vector with its manifest text edited (`from` -> `to`), re-signed.
pub fn edited(from: &str, to: &str) -> Vec<u8> {
    edited_then(&[(from, to)], &|_| {})
}

/// Several edits, re-signed, then `after` on the entries (unsigned changes).
pub fn edited_then(edits: &[(&str, &str)], after: &dyn Fn(&mut Entries)) -> Vec<u8> {
    let mut e = entries();
    let mut text = String::from_utf8(e[0].1.clone()).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    e[0].1 = text.into_bytes();
    e[1].1 = signature(&e[0].1);
    after(&mut e);
    bundle(&e, &|_, _| {})
}

fn airlock(bundle: &Path, key: &Path) -> i32 {
    super::airlock_exit(bundle, key)
}

/// (name, bundle bytes).
pub fn probes() -> Vec<(&'static str, Vec<u8>)> {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let created = "created = \"2026-01-01T00:00:00Z\"";
    let soon = format!(
        "created = \"{}\"",
        fmt((now + time::Duration::minutes(30))
            .replace_nanosecond(0)
            .unwrap())
    );
    let later = format!(
        "created = \"{}\"",
        fmt((now + time::Duration::hours(2))
            .replace_nanosecond(0)
            .unwrap())
    );
    let trivy_db_unpacked = "size = 41082\nfiles = 2";
    vec![
        ("rebuilt-good", edited("format", "format")),
        ("unpacked-size-plus-one", edited(trivy_db_unpacked, "size = 41083\nfiles = 2")),
        ("checks-dirs-2", edited("dirs = 3", "dirs = 2")),
        ("vex-dirs-5", edited("dirs = 4", "dirs = 5")),
        ("vex-packages-2", edited("packages = 1", "packages = 2")),
        ("db-sha256", edited("sha256 = \"1128", "sha256 = \"0128")),
        ("next-update-15-days", edited("next_update = \"2024-01-02T00:00:00Z\"", "next_update = \"2024-01-16T00:00:00Z\"")),
        ("created-offset", edited(created, "created = \"2026-01-01T01:00:00+01:00\"")),
        ("created-lowercase-t-z", edited(created, "created = \"2026-01-01t00:00:00z\"")),
        ("created-space", edited(created, "created = \"2026-01-01 00:00:00Z\"")),
        ("created-fraction", edited(created, "created = \"2026-01-01T00:00:00.5Z\"")),
        ("created-leap-second", edited(created, "created = \"2025-12-31T23:59:60Z\"")),
        ("created-minus-zero", edited(created, "created = \"2026-01-01T00:00:00-00:00\"")),
        ("created-toml-datetime", edited(created, "created = 2026-01-01T00:00:00Z")),
        ("updated-at-toml-datetime", edited("updated_at = \"2024-01-01T00:00:00Z\"\nnext_update", "updated_at = 2024-01-01T00:00:00Z\nnext_update")),
        ("fetched-at-toml-datetime", edited("repository = \"trivy-db\"", "fetched_at = 2025-01-01T00:00:00Z\nrepository = \"trivy-db\"")),
        ("generator-toml-integer", edited("generator = \"airlock test vectors\"", "generator = 5")),
        ("series-space", edited("generator =", "series = \"a b\"\nsequence = 1\ngenerator =")),
        ("future-and-schema-3", edited_then(&[(created, &later), ("schema_version = 2", "schema_version = 3")], &|_| {})),
        ("future-and-next-update-15-days", edited_then(&[(created, &later), ("next_update = \"2024-01-02T00:00:00Z\"", "next_update = \"2024-01-16T00:00:00Z\"")], &|_| {})),
        ("future-and-payload-altered", edited_then(&[(created, &later)], &|e| {
            let i = e.iter().position(|x| x.0 == "oci/oci-layout").unwrap();
            e[i].1[3] ^= 1;
        })),
        ("future-and-unsigned", edited_then(&[(created, &later)], &|e| {
            e.remove(1);
        })),
        ("future-and-bad-signature", edited_then(&[(created, &later)], &|e| {
            e[0].1.push(b'\n');
        })),
        ("created-in-30-min", edited(created, &soon)),
        ("created-in-2-hours", edited(created, &later)),
        ("generator-zero-width", edited("airlock test vectors", "airlock\u{200B}vectors")),
        ("generator-hangul-filler", edited("airlock test vectors", "airlock\u{3164}vectors")),
        ("generator-128", edited("airlock test vectors", &"g".repeat(128))),
        ("generator-129", edited("airlock test vectors", &"g".repeat(129))),
        ("unknown-top-level-key", edited("generator =", "whatever = 1\ngenerator =")),
        ("sequence-without-series", edited("generator =", "sequence = 1\ngenerator =")),
        ("series-and-sequence", edited("generator =", "series = \"s\"\nsequence = 1\ngenerator =")),
        ("label-key-dot", edited("ticket = ", ".ticket = ")),
        ("label-value-integer", edited("ticket = \"VECTOR-1\"", "ticket = 1")),
        ("reference-good", edited("repository = \"trivy-db\"", "reference = \"ghcr.io/aquasecurity/trivy-db:2\"\nrepository = \"trivy-db\"")),
        ("reference-uppercase", edited("repository = \"trivy-db\"", "reference = \"ghcr.io/Aqua/trivy-db:2\"\nrepository = \"trivy-db\"")),
        ("reference-no-host", edited("repository = \"trivy-db\"", "reference = \"trivy-db:2\"\nrepository = \"trivy-db\"")),
        ("fetched-at-future", edited("repository = \"trivy-db\"", "fetched_at = \"2999-01-01T00:00:00Z\"\nrepository = \"trivy-db\"")),
        ("upstream-digest-upper", edited("repository = \"trivy-db\"", "upstream_manifest_digest = \"sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\"\nrepository = \"trivy-db\"")),
        ("tag-129", edited("tag = \"2\"", &format!("tag = \"{}\"", "t".repeat(129)))),
        ("source-tab", edited("file: db.tar.gz", "file:\tdb.tar.gz")),
        ("vex-updated-at-empty", edited("updated_at = \"2024-01-01T00:00:00Z\"\npackages", "updated_at = \"\"\npackages")),
        ("vex-spec-0.2", edited("spec_version = \"0.1\"", "spec_version = \"0.2\"")),
        ("vex-subdir-dotdot", edited("subdir = \"vexhub-main\"", "subdir = \"..\"")),
        ("checks-with-database", edited("[artifact.checks]", "[artifact.database]\nschema_version = 2\nupdated_at = \"2024-01-01T00:00:00Z\"\nnext_update = \"2024-01-02T00:00:00Z\"\nfile = \"x\"\nsize = 1\nsha256 = \"1111111111111111111111111111111111111111111111111111111111111111\"\n\n[artifact.checks]")),
        ("checks-major-3", edited("major_version = 2", "major_version = 3")),
        ("checks-version-absent", edited("version = \"2.0.0\"\n", "")),
        ("media-type-no-slash", edited("artifact_type = \"application/vnd.aquasec.trivy.config.v1+json\"", "artifact_type = \"application\"")),
        ("format-version-1.10", edited("format_version = \"1.2\"", "format_version = \"1.10\"")),
        ("format-version-0.9", edited("format_version = \"1.2\"", "format_version = \"0.9\"")),
        ("format-version-1.1-keeps-dirs", edited("format_version = \"1.2\"", "format_version = \"1.1\"")),
        ("format-version-1.1-wrong-dirs", {
            let mut e = entries();
            let t = String::from_utf8(e[0].1.clone()).unwrap();
            let t = t.replacen("format_version = \"1.2\"", "format_version = \"1.1\"", 1);
            e[0].1 = t.replacen("dirs = 3", "dirs = 2", 1).into_bytes();
            e[1].1 = signature(&e[0].1);
            bundle(&e, &|_, _| {})
        }),
        ("entries-above-million", edited("entries = 7", "entries = 1000001")),
        ("layer-title-dot", edited("title = \"db.tar.gz\"", "title = \".db.tar.gz\"")),
        ("db-file-path", edited("file = \"trivy.db\"", "file = \"db/trivy.db\"")),
        ("payload-size-negative", edited("size = 30\n", "size = -30\n")),
        ("dirs-missing-1.2", edited("dirs = 3\n", "")),
        ("format-missing", edited("format = \"airlock-bundle\"\n", "")),
        ("label-value-1025", edited("ticket = \"VECTOR-1\"", &format!("ticket = \"{}\"", "v".repeat(1025)))),
        ("generator-soft-hyphen", edited("airlock test vectors", "airlock\u{AD}vectors")),
        ("generator-noncharacter", edited("airlock test vectors", "airlock\u{FFFE}vectors")),
        ("manifest-crlf", {
            let mut e = entries();
            let t = String::from_utf8(e[0].1.clone()).unwrap().replace('\n', "\r\n");
            e[0].1 = t.into_bytes();
            e[1].1 = signature(&e[0].1);
            bundle(&e, &|_, _| {})
        }),
        ("base256-signed-checksum", {
            let e = entries();
            let mut tar = Vec::new();
            for (p, d) in &e {
                let mut h = header(p, d.len() as u64, &|h| {
                    if p == "oci/oci-layout" {
                        h[124..136].fill(0);
                        h[124] = 0x80;
                        h[135] = 30;
                    }
                });
                if p == "oci/oci-layout" {
                    h[148..156].fill(b' ');
                    let sum: i64 = h.iter().map(|&x| x as i8 as i64).sum();
                    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                }
                tar.extend_from_slice(&h);
                tar.extend_from_slice(d);
                tar.resize(tar.len().div_ceil(512) * 512, 0);
            }
            tar.resize(tar.len() + 1024, 0);
            zstd::stream::encode_all(&tar[..], 3).unwrap()
        }),
        ("sig-noncanonical-base64", {
            let mut e = entries();
            let a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut lines: Vec<Vec<u8>> = e[1].1.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            // The third character of the last group carries 2 unused bits.
            let c = lines[1][98];
            let v = a.iter().position(|&x| x == c).unwrap();
            lines[1][98] = a[v ^ 1];
            e[1].1 = lines.join(&b'\n');
            bundle(&e, &|_, _| {})
        }),
        ("sig-comment-1024", {
            let mut e = entries();
            let t = String::from_utf8(e[1].1.clone()).unwrap();
            let first = t.lines().next().unwrap().to_string();
            let long = format!("untrusted comment: {}", "u".repeat(1024));
            e[1].1 = t.replacen(&first, &long, 1).into_bytes();
            bundle(&e, &|_, _| {})
        }),
        ("base256-size", {
            let e = entries();
            bundle(&e, &|p, h| {
                if p == "oci/oci-layout" {
                    h[124..136].fill(0);
                    h[124] = 0x80;
                    h[135] = 30;
                }
            })
        }),
        ("octal-size-leading-spaces", {
            let e = entries();
            bundle(&e, &|p, h| {
                if p == "oci/oci-layout" {
                    h[124..136].copy_from_slice(b"         36\0");
                }
            })
        }),
        ("typeflag-7-payload", {
            let e = entries();
            bundle(&e, &|p, h| {
                if p == "oci/oci-layout" {
                    h[156] = b'7';
                }
            })
        }),
        ("payload-name-via-prefix", {
            let e = entries();
            bundle(&e, &|p, h| {
                if p == "oci/oci-layout" {
                    h[..100].fill(0);
                    h[..10].copy_from_slice(b"oci-layout");
                    h[345..348].copy_from_slice(b"oci");
                }
            })
        }),
    ]
}

/// Probes where the two readers differ and the SPEC decides (SECOND-READER.md).
pub const PROBE_DISAGREEMENTS: &[&str] = &[
    // None left: D1, D1b, D1c and D2 were fixed in airlock (SECOND-READER.md).
];

fn probe_alone(name: &str) {
    let (_, bytes) = probes().into_iter().find(|(n, _)| *n == name).unwrap();
    let dir = super::scratch_dir();
    let path = dir.join("probe.airlock");
    std::fs::write(&path, &bytes).unwrap();
    let k = spec_dir().join("vectors/vector.pub");
    let mine = verify(&bytes, &key(&k));
    assert_eq!(
        airlock(&path, &k),
        exit_of(&mine),
        "{name}: second reader {mine:?}"
    );
}

#[test]
fn finding_created_as_toml_datetime() {
    probe_alone("created-toml-datetime");
}

#[test]
fn finding_created_with_space_separator() {
    probe_alone("created-space");
}

#[test]
fn second_reader_probes_agree_with_airlock() {
    let dir = super::scratch_dir();
    let k = spec_dir().join("vectors/vector.pub");
    let trusted = key(&k);
    let mut wrong = Vec::new();
    let all = probes();
    for (name, bytes) in &all {
        let path = dir.join(format!("{name}.airlock"));
        std::fs::write(&path, bytes).unwrap();
        let mine = verify(bytes, &trusted);
        let theirs = airlock(&path, &k);
        eprintln!("probe {name}: airlock {theirs}, second reader {mine:?}");
        if exit_of(&mine) != theirs && !PROBE_DISAGREEMENTS.contains(name) {
            wrong.push(format!("{name}: airlock {theirs}, second reader {mine:?}"));
        }
    }
    eprintln!(
        "probes: the readers agree on {} of {}",
        all.len() - wrong.len() - PROBE_DISAGREEMENTS.len(),
        all.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn finding_updated_at_as_toml_datetime() {
    probe_alone("updated-at-toml-datetime");
}

#[test]
fn finding_fetched_at_as_toml_datetime() {
    probe_alone("fetched-at-toml-datetime");
}
