//! The cases, each testing one rule of SPEC.md section 5 (the `R<n>` of
//! its check table). Each starts from the good vector and changes one thing.

use sha2::Digest as _;

use super::{blocks, case, tar, trusted_key, untrusted_key, zst, Base, Case, Entry, GNU};

/// The manifest text before its payload list, and the list.
fn split_payloads(manifest: &str) -> (String, Vec<(String, u64, String)>) {
    let at = manifest.find("[[payload]]").unwrap();
    let list = blocks(&manifest[at..])
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| {
            let field = |k: &str| {
                b.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                    .unwrap()
                    .trim_matches('"')
                    .to_string()
            };
            (
                field("path"),
                field("size").parse().unwrap(),
                field("sha256"),
            )
        })
        .collect();
    (manifest[..at].to_string(), list)
}

fn join_payloads(head: &str, list: &[(String, u64, String)]) -> String {
    let blocks: Vec<String> = list
        .iter()
        .map(|(p, n, d)| format!("[[payload]]\npath = \"{p}\"\nsize = {n}\nsha256 = \"{d}\"\n"))
        .collect();
    format!("{head}{}", blocks.join("\n"))
}

/// A prehashed (`ED`) signature by the trusted key, in minisign's form:
/// the Ed25519 signature is over BLAKE2b-512 of the manifest.
fn prehashed_signature(manifest: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let sig = key.sign(&blake2::Blake2b512::digest(manifest)).to_bytes();
    let mut raw = b"EDairlock1".to_vec();
    raw.extend_from_slice(&sig);
    let mut signed = sig.to_vec();
    signed.extend_from_slice(super::TRUSTED_COMMENT.as_bytes());
    let global = key.sign(&signed).to_bytes();
    format!(
        "untrusted comment: signature\n{}\ntrusted comment: {}\n{}\n",
        b64(&raw),
        super::TRUSTED_COMMENT,
        b64(&global)
    )
    .into_bytes()
}

fn hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Base {
    /// The base with payload `path` holding `data` (added in sorted place
    /// when new), listed with its size and digest: a validly signed bundle
    /// whose only change is that payload.
    pub(super) fn with_payload(&self, path: &str, data: &[u8]) -> Base {
        let (head, mut list) = split_payloads(&self.manifest);
        list.retain(|(p, _, _)| p != path);
        list.push((path.to_string(), data.len() as u64, hex(data)));
        list.sort();
        let mut payloads: Vec<Entry> = self
            .payloads
            .iter()
            .filter(|e| e.name != path)
            .cloned()
            .collect();
        payloads.push(Entry::file(path, data.to_vec()));
        Base {
            manifest: join_payloads(&head, &list),
            payloads,
        }
    }
}

/// The good bundle's entries with `edit` applied, as one frame.
fn container(base: &Base, edit: impl FnOnce(&mut Vec<Entry>)) -> Vec<u8> {
    let mut e = base.good_entries();
    edit(&mut e);
    zst(&tar(&e, 1024), true)
}

fn position(e: &[Entry], name: &str) -> usize {
    e.iter().position(|x| x.name == name).unwrap()
}

/// Every case, in file-name order.
pub(super) fn all(base: &Base) -> Vec<Case> {
    let mut out = accepted(base);
    out.extend(container_cases(base));
    out.extend(signature_cases(base));
    out.extend(manifest_cases(base));
    out.extend(payload_cases(base));
    out.extend(end_cases(base));
    out.extend(super::time_cases::time_cases(base));
    out.extend(super::vex_cases::vex_cases(base));
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

fn accepted(base: &Base) -> Vec<Case> {
    let good = base.good_entries();
    let legacy = |version: &str| {
        let text: String = base
            .manifest
            .replacen(
                "format_version = \"1.2\"",
                &format!("format_version = \"{version}\""),
                1,
            )
            .lines()
            .filter(|l| !l.starts_with("dirs = "))
            .map(|l| format!("{l}\n"))
            .collect();
        base.bundle(text.trim_end_matches('\n'))
    };
    let mut two = good.clone();
    let sigs =
        super::signature_entries(base.manifest.as_bytes(), &[trusted_key(), untrusted_key()]);
    two.splice(1..2, sigs);
    vec![
        case(
            "accept-prehashed-signature",
            "R6",
            0,
            "a prehashed (ED) signature, minisign's default",
            container(base, |e| e[1].data = prehashed_signature(&e[0].data)),
        ),
        case(
            "accept-good",
            "R1",
            0,
            "the good vector as airlock writes it",
            base.bundle(&base.manifest),
        ),
        case(
            "accept-no-frame-checksum",
            "R21",
            0,
            "a frame without the optional checksum",
            zst(&tar(&good, 1024), false),
        ),
        case(
            "accept-record-padding",
            "R20",
            0,
            "zeros up to a 10240-byte tar record (GNU tar's default)",
            {
                let t = tar(&good, 0);
                let end = (t.len() + 1024).div_ceil(10240) * 10240 - t.len();
                zst(&tar(&good, end), true)
            },
        ),
        case(
            "accept-max-zeros",
            "R20",
            0,
            "exactly 1 MiB of zeros after the last entry",
            zst(&tar(&good, 1 << 20), true),
        ),
        case(
            "accept-extra-untrusted-signature",
            "R8",
            0,
            "a second signature by a key not trusted (reported, not counted)",
            zst(&tar(&two, 1024), true),
        ),
        case(
            "accept-version-1.0",
            "R12",
            0,
            "a 1.0 manifest (no unpacked.dirs)",
            legacy("1.0"),
        ),
        case(
            "accept-version-1.1",
            "R12",
            0,
            "a 1.1 manifest (no unpacked.dirs)",
            legacy("1.1"),
        ),
        case(
            "accept-future-minor",
            "R13",
            0,
            "a later minor (1.9) with a key this reader does not know",
            base.bundle(&base.edited(
                "format_version = \"1.2\"\n",
                "format_version = \"1.9\"\nfuture_field = \"ignored\"\n",
            )),
        ),
    ]
}

fn container_cases(base: &Base) -> Vec<Case> {
    let good = base.bundle(&base.manifest);
    let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    skippable.extend_from_slice(&good);
    vec![
        case("refuse-r01-gzip", "R1", 4, "a gzip file, not zstd", {
            let mut b = good.clone();
            b[..4].copy_from_slice(&[0x1f, 0x8b, 0x08, 0x00]);
            b
        }),
        case(
            "refuse-r01-skippable-frame-first",
            "R1",
            4,
            "a skippable frame before the bundle's frame",
            skippable,
        ),
        case(
            "refuse-r02-dictionary-id",
            "R2",
            4,
            "a frame header naming a dictionary (ID 1)",
            {
                // Frame header descriptor (byte 4): Dictionary_ID_flag = 1,
                // then a 1-byte dictionary ID after the window descriptor.
                let mut b = good.clone();
                assert_eq!(b[4] & 0x23, 0, "no dictionary, not single-segment");
                b[4] |= 0x01;
                b.insert(6, 1);
                b
            },
        ),
        case(
            "refuse-r02-truncated-frame",
            "R2",
            4,
            "the first half of the file",
            good[..good.len() / 2].to_vec(),
        ),
        case(
            "refuse-r03-header-checksum",
            "R3",
            4,
            "a payload header whose checksum does not match",
            {
                let mut t = tar(&base.good_entries(), 1024);
                // The third entry's header: after the manifest and the signature.
                let e = base.good_entries();
                let at: usize = e[..2]
                    .iter()
                    .map(|x| 512 + x.data.len().div_ceil(512) * 512)
                    .sum();
                t[at + 148] ^= 0x01;
                zst(&t, true)
            },
        ),
        case(
            "refuse-r03-gnu-magic-manifest",
            "R3",
            4,
            "the manifest entry with GNU tar's magic",
            container(base, |e| e[0].magic = GNU),
        ),
        case(
            "refuse-r03-gnu-magic-payload",
            "R3",
            4,
            "a payload entry with GNU tar's magic",
            container(base, |e| {
                let i = position(e, "oci/index.json");
                e[i].magic = GNU;
            }),
        ),
        case(
            "refuse-r04-typeflag-nul-manifest",
            "R4",
            4,
            "the manifest entry of type NUL, not 0",
            container(base, |e| e[0].typeflag = 0),
        ),
        case(
            "refuse-r04-signature-first",
            "R4",
            4,
            "the signature entry before the manifest",
            container(base, |e| e.swap(0, 1)),
        ),
        case(
            "refuse-r05-manifest-too-large",
            "R5",
            4,
            "a manifest of more than 1 MiB",
            {
                let text = format!("{}\n# {}\n", base.manifest, "x".repeat(1 << 20));
                base.bundle(&text)
            },
        ),
        case(
            "refuse-r07-ends-after-signatures",
            "R7",
            4,
            "an archive that ends after the signatures",
            container(base, |e| e.truncate(2)),
        ),
    ]
}

fn signature_cases(base: &Base) -> Vec<Case> {
    let sig = |edit: &dyn Fn(&str) -> String| {
        container(base, |e| {
            e[1].data = edit(std::str::from_utf8(&e[1].data).unwrap()).into_bytes()
        })
    };
    vec![
        case(
            "refuse-r06-signature-crlf",
            "R6",
            3,
            "a signature file with CRLF line endings",
            sig(&|t| t.replace('\n', "\r\n")),
        ),
        case(
            "refuse-r06-signature-no-final-newline",
            "R6",
            3,
            "a signature file whose last line has no LF",
            sig(&|t| t.trim_end_matches('\n').to_string()),
        ),
        case(
            "refuse-r06-signature-comment-1025",
            "R6",
            3,
            "a trusted comment of 1025 bytes",
            sig(&|t| {
                let lines: Vec<&str> = t.lines().collect();
                format!(
                    "{}\n{}\ntrusted comment: {}\n{}\n",
                    lines[0],
                    lines[1],
                    "c".repeat(1025),
                    lines[3]
                )
            }),
        ),
        case(
            "refuse-r06-signature-misnamed",
            "R6",
            3,
            "a signature entry named for another key id",
            container(base, |e| {
                e[1].name = "airlock/signatures/7265676E61727473.minisig".into();
            }),
        ),
        case(
            "refuse-r06-signature-typeflag-nul",
            "R6",
            3,
            "a signature entry of type NUL",
            container(base, |e| e[1].typeflag = 0),
        ),
        case(
            "refuse-r06-signatures-unsorted",
            "R6",
            3,
            "two signature entries out of name order",
            {
                let mut e = base.good_entries();
                let mut sigs = super::signature_entries(
                    base.manifest.as_bytes(),
                    &[trusted_key(), untrusted_key()],
                );
                sigs.reverse();
                e.splice(1..2, sigs);
                zst(&tar(&e, 1024), true)
            },
        ),
        case(
            "refuse-r08-unsigned",
            "R8",
            3,
            "no signature entry",
            container(base, |e| {
                e.remove(1);
            }),
        ),
        case(
            "refuse-r08-untrusted-only",
            "R8",
            3,
            "signed only by a key not trusted",
            zst(
                &tar(&base.entries(&base.manifest, &[untrusted_key()]), 1024),
                true,
            ),
        ),
        case(
            "refuse-r08-altered-manifest",
            "R8",
            3,
            "a manifest changed after it was signed",
            container(base, |e| {
                e[0].data = String::from_utf8(e[0].data.clone())
                    .unwrap()
                    .replace("VECTOR-1", "VECTOR-2")
                    .into_bytes();
            }),
        ),
    ]
}

fn manifest_cases(base: &Base) -> Vec<Case> {
    let edit = |from: &str, to: &str| base.bundle(&base.edited(from, to));
    let version = |v: &str| {
        edit(
            "format_version = \"1.2\"",
            &format!("format_version = \"{v}\""),
        )
    };
    let b = blocks(&base.manifest);
    let swapped_artifacts = {
        let mut b = b.clone();
        b.swap(1, 2);
        b.concat()
    };
    let (head, list) = split_payloads(&base.manifest);
    let mut unsorted = list.clone();
    unsorted.swap(0, 1);
    let no_content = {
        let top = b[0].clone();
        let layout: Vec<_> = list
            .iter()
            .filter(|(p, _, _)| p == "oci/index.json" || p == "oci/oci-layout")
            .cloned()
            .collect();
        let _ = head;
        join_payloads(&top, &layout)
    };
    vec![
        case(
            "refuse-r09-byte-order-mark",
            "R9",
            4,
            "a manifest starting with a UTF-8 byte-order mark",
            base.bundle(&format!("\u{feff}{}", base.manifest)),
        ),
        case(
            "refuse-r09-duplicate-key",
            "R9",
            4,
            "a key given twice (not TOML)",
            edit(
                "generator = \"airlock test vectors\"\n",
                "generator = \"airlock test vectors\"\ngenerator = \"x\"\n",
            ),
        ),
        case(
            "refuse-r10-major-2-without-format",
            "R10",
            4,
            "format_version 2.0 and no format key: unsupported version",
            base.bundle(&base.edited("format = \"airlock-bundle\"\n", "").replacen(
                "format_version = \"1.2\"",
                "format_version = \"2.0\"",
                1,
            )),
        ),
        case(
            "refuse-r11-format",
            "R11",
            4,
            "format is not airlock-bundle",
            edit(
                "format = \"airlock-bundle\"",
                "format = \"airlock-bundles\"",
            ),
        ),
        case(
            "refuse-r12-version-leading-zero",
            "R12",
            4,
            "format_version 01.2",
            version("01.2"),
        ),
        case(
            "refuse-r12-version-three-parts",
            "R12",
            4,
            "format_version 1.2.0",
            version("1.2.0"),
        ),
        case(
            "refuse-r12-version-major-only",
            "R12",
            4,
            "format_version 1",
            version("1"),
        ),
        case(
            "refuse-r12-version-sign",
            "R12",
            4,
            "format_version +1.2",
            version("+1.2"),
        ),
        case(
            "refuse-r13-created-not-a-time",
            "R13",
            4,
            "created = \"yesterday\"",
            edit(
                "created = \"2026-01-01T00:00:00Z\"",
                "created = \"yesterday\"",
            ),
        ),
        case(
            "refuse-r13-generator-missing",
            "R13",
            4,
            "a required key missing (generator)",
            edit("generator = \"airlock test vectors\"\n", ""),
        ),
        case(
            "refuse-r13-generator-not-a-string",
            "R13",
            4,
            "generator = 7 (wrong type)",
            edit("generator = \"airlock test vectors\"", "generator = 7"),
        ),
        case(
            "refuse-r13-label-tab",
            "R13",
            4,
            "a label value with a TAB",
            edit("ticket = \"VECTOR-1\"", "ticket = \"VECTOR\\t1\""),
        ),
        case(
            "refuse-r14-artifacts-out-of-order",
            "R14",
            4,
            "java-db listed before trivy-db",
            base.bundle(&swapped_artifacts),
        ),
        case(
            "refuse-r14-payloads-unsorted",
            "R14",
            4,
            "two payloads out of path order",
            base.bundle(&join_payloads(&split_payloads(&base.manifest).0, &unsorted)),
        ),
        case(
            "refuse-r14-no-artifacts-no-vex",
            "R14",
            4,
            "a manifest with no artifact and no VEX repository",
            base.bundle(&no_content),
        ),
        case(
            "refuse-r15-trivy-db-schema-3",
            "R15",
            4,
            "a trivy-db of schema_version 3, which Trivy 0.76 does not read",
            edit("schema_version = 2", "schema_version = 3"),
        ),
        case(
            "refuse-r16-created-in-future",
            "R16",
            6,
            "created more than 1 hour after the reader's clock",
            edit(
                "created = \"2026-01-01T00:00:00Z\"",
                "created = \"2999-01-01T00:00:00Z\"",
            ),
        ),
    ]
}

fn payload_cases(base: &Base) -> Vec<Case> {
    vec![
        case(
            "refuse-r17-payload-typeflag-nul",
            "R17",
            4,
            "a payload entry of type NUL",
            container(base, |e| {
                let i = position(e, "oci/index.json");
                e[i].typeflag = 0;
            }),
        ),
        case(
            "refuse-r17-size-mismatch",
            "R17",
            4,
            "a payload entry one byte longer than listed",
            container(base, |e| {
                let i = position(e, "oci/oci-layout");
                e[i].data.push(b'\n');
            }),
        ),
        case(
            "refuse-r17-unlisted-entry",
            "R17",
            4,
            "an entry the manifest does not list, between payloads",
            container(base, |e| {
                let i = position(e, "oci/index.json");
                e.insert(i, Entry::file("oci/extra", b"x".to_vec()));
            }),
        ),
        case(
            "refuse-r17-missing-payload",
            "R17",
            4,
            "a listed payload left out",
            container(base, |e| {
                let i = position(e, "oci/index.json");
                e.remove(i);
            }),
        ),
        case(
            "refuse-r17-duplicate-entry",
            "R17",
            4,
            "a payload entry given twice",
            container(base, |e| {
                let i = position(e, "oci/index.json");
                let dup = e[i].clone();
                e.insert(i + 1, dup);
            }),
        ),
        case(
            "refuse-r18-payload-altered",
            "R18",
            4,
            "a payload whose bytes do not match its sha256",
            container(base, |e| {
                let i = position(e, "oci/index.json");
                e[i].data[10] ^= 0x01;
            }),
        ),
        case(
            "refuse-r19-entry-after-last",
            "R19",
            4,
            "an entry after the last payload",
            container(base, |e| {
                e.push(Entry::file("vex/zz", b"x".to_vec()));
            }),
        ),
        case(
            "refuse-r23-oci-layout",
            "R23",
            4,
            "a signed oci/oci-layout that is not the layout marker",
            {
                let b = base.with_payload("oci/oci-layout", br#"{"imageLayoutVersion":"1.1.0"}"#);
                b.bundle(&b.manifest)
            },
        ),
        case(
            "refuse-r23-index-json-empty",
            "R23",
            4,
            "a signed, empty oci/index.json",
            {
                let b = base.with_payload("oci/index.json", b"");
                b.bundle(&b.manifest)
            },
        ),
        case(
            "refuse-r23-unreferenced-blob",
            "R23",
            4,
            "a signed oci/ blob no artifact references",
            {
                let data = b"unreferenced";
                let b = base.with_payload(&format!("oci/blobs/sha256/{}", hex(data)), data);
                b.bundle(&b.manifest)
            },
        ),
    ]
}

fn end_cases(base: &Base) -> Vec<Case> {
    let good_entries = base.good_entries();
    let ends = |end: usize| zst(&tar(&good_entries, end), true);
    let good = base.bundle(&base.manifest);
    let after = |extra: &[u8]| {
        let mut b = good.clone();
        b.extend_from_slice(extra);
        b
    };
    vec![
        case(
            "refuse-r20-no-marker",
            "R20",
            4,
            "no end-of-archive marker",
            ends(0),
        ),
        case(
            "refuse-r20-one-zero-block",
            "R20",
            4,
            "one zero block instead of two",
            ends(512),
        ),
        case(
            "refuse-r20-partial-block",
            "R20",
            4,
            "zeros after the marker that are not whole blocks",
            ends(1124),
        ),
        case(
            "refuse-r20-too-many-zeros",
            "R20",
            4,
            "1 MiB + 512 bytes of zeros after the last entry",
            ends((1 << 20) + 512),
        ),
        case(
            "refuse-r20-data-after-marker",
            "R20",
            4,
            "a non-zero byte after the marker",
            {
                let mut t = tar(&good_entries, 1536);
                let n = t.len();
                t[n - 1] = 1;
                zst(&t, true)
            },
        ),
        case(
            "refuse-r21-frame-checksum",
            "R21",
            4,
            "a frame checksum that does not match",
            {
                let mut b = good.clone();
                let n = b.len();
                b[n - 1] ^= 0x01;
                b
            },
        ),
        case(
            "refuse-r22-zero-byte-after",
            "R22",
            4,
            "one zero byte after the frame",
            after(&[0]),
        ),
        case(
            "refuse-r22-second-frame",
            "R22",
            4,
            "a second zstd frame after the bundle's",
            after(&zst(b"hello", true)),
        ),
        case(
            "refuse-r22-skippable-frame-after",
            "R22",
            4,
            "a skippable frame after the bundle's frame",
            after(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]),
        ),
    ]
}
