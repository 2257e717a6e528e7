//! An outside review of the stricter reader (issue 16): tar header fields
//! that tar-rs reads more loosely than SPEC.md section 2 allows. The tar
//! headers are not covered by any signature, so each case is the good
//! vector with one header edited and its checksum fixed: no key is needed
//! to make these bundles, and the signatures over the manifest stay valid.

use std::path::PathBuf;

use crate::support::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The good vector's tar and the offsets of its entry headers.
fn good_tar() -> (Vec<u8>, Vec<usize>) {
    let tar = bundle_tar(&root().join("bundle-spec/vectors/good.airlock"));
    let mut headers = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
        headers.push(at);
        let field = std::str::from_utf8(&tar[at + 124..at + 136]).unwrap();
        let size = u64::from_str_radix(field.trim_matches(|c| c == '\0' || c == ' '), 8).unwrap();
        at += 512 + (size.div_ceil(512) * 512) as usize;
    }
    (tar, headers)
}

fn size_at(tar: &[u8], header: usize) -> u64 {
    let field = std::str::from_utf8(&tar[header + 124..header + 136]).unwrap();
    u64::from_str_radix(field.trim_matches(|c| c == '\0' || c == ' '), 8).unwrap()
}

/// The unsigned sum of the header with its checksum field as spaces,
/// written as six octal digits, NUL, space (what tar writes).
fn fix_cksum(tar: &mut [u8], header: usize) {
    let h = &mut tar[header..header + 512];
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn zst(tar: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    std::io::Write::write_all(&mut enc, tar).unwrap();
    enc.finish().unwrap()
}

/// `airlock verify` of `tar` (compressed) against the suite's trusted key.
fn verify(tar: &[u8]) -> std::process::Output {
    let t = TestDir::new();
    let file = t.join("edited.airlock");
    std::fs::write(&file, zst(tar)).unwrap();
    let key = root().join("bundle-spec/conformance/keys/trusted.pub");
    airlock(&["verify", s(&file), "--key", s(&key)])
}

fn refused(tar: &[u8], what: &str) {
    let out = verify(tar);
    assert_ne!(
        out.status.code(),
        Some(0),
        "{what}: airlock verify accepted it\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_unedited_vector_verifies_through_this_harness() {
    let (tar, headers) = good_tar();
    assert!(headers.len() >= 3, "{headers:?}");
    let out = verify(&tar);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_base256_size_above_u64_is_not_read_as_its_low_bits() {
    let (mut tar, headers) = good_tar();
    let last = *headers.last().unwrap();
    let size = size_at(&tar, last);
    // 0x80, then the 11-byte big-endian value 2^64 + size: a tar reading
    // the whole field (GNU tar, a reader following SPEC section 2) sees an
    // entry of more than 16 EiB; tar-rs skips bytes 0-3 and sees `size`.
    let mut field = vec![0x80u8, 0, 0, 1];
    field.extend_from_slice(&size.to_be_bytes());
    tar[last + 124..last + 136].copy_from_slice(&field);
    fix_cksum(&mut tar, last);
    refused(&tar, "size 2^64 + n in base-256");
}

#[test]
fn a_base256_size_must_start_with_0x80() {
    let (mut tar, headers) = good_tar();
    let last = *headers.last().unwrap();
    let size = size_at(&tar, last);
    let mut field = vec![0xffu8, 0xff, 0xff, 0xff];
    field.extend_from_slice(&size.to_be_bytes());
    tar[last + 124..last + 136].copy_from_slice(&field);
    fix_cksum(&mut tar, last);
    refused(&tar, "size with first byte 0xff");
}

#[test]
fn an_octal_size_with_a_plus_sign_is_refused() {
    let (mut tar, headers) = good_tar();
    let last = *headers.last().unwrap();
    let size = size_at(&tar, last);
    tar[last + 124..last + 136].copy_from_slice(format!("+{size:010o}\0").as_bytes());
    fix_cksum(&mut tar, last);
    refused(&tar, "size +0...");
}

#[test]
fn a_checksum_field_led_by_a_tab_is_refused() {
    let (mut tar, headers) = good_tar();
    let first = headers[0];
    fix_cksum(&mut tar, first);
    let digits: Vec<u8> = tar[first + 148..first + 154].to_vec();
    let mut field = vec![b'\t'];
    field.extend_from_slice(&digits);
    field.push(0);
    tar[first + 148..first + 156].copy_from_slice(&field);
    refused(&tar, "checksum led by TAB");
}

#[test]
#[ignore = "left open: padding bytes are a writer rule (SPEC section 2, revision 3): unsigned, at most 511 per entry, read by nothing; checking them needs a reader below tar-rs"]
fn non_zero_padding_after_an_entry_is_refused() {
    let (mut tar, headers) = good_tar();
    // The first entry whose data does not fill its last block.
    let (at, size) = headers
        .iter()
        .map(|&h| (h, size_at(&tar, h)))
        .find(|&(_, n)| n % 512 != 0)
        .expect("an entry with padding");
    let pad = at + 512 + size as usize;
    tar[pad] = b'X';
    refused(&tar, "padding byte X");
}

#[test]
fn a_header_error_does_not_print_the_entry_name_raw() {
    // tar-rs's messages carry the header's name (`path_lossy`) and the
    // field's text: an escape sequence in either must not reach stderr.
    let (mut tar, headers) = good_tar();
    let first = headers[0];
    tar[first..first + 100].fill(0);
    tar[first..first + 13].copy_from_slice(b"\x1b[31mRED\x1b]0;X");
    tar[first + 148..first + 156].copy_from_slice(b"\x1b[2Jzz\0 ");
    let out = verify(&tar);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\x1b'), "raw escape on stderr: {err:?}");
}

#[test]
fn a_size_field_error_does_not_print_the_field_raw() {
    let (mut tar, headers) = good_tar();
    let last = *headers.last().unwrap();
    tar[last + 124..last + 136].copy_from_slice(b"\x1b[2J\x1b[31mX\0\0");
    fix_cksum(&mut tar, last);
    let out = verify(&tar);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\x1b'), "raw escape on stderr: {err:?}");
}

/// Bundles airlock writes, of each artifact alone and all together, with
/// long labels, a sequence and a VEX repository name of 64 bytes, verify
/// under the stricter reader.
#[test]
fn bundles_airlock_writes_of_every_shape_verify() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "writer");
    let long_value = "v".repeat(1024);
    let long_name = "n".repeat(64);
    let label = format!("{long_name}={long_value}");
    let vex = [
        "--vex-manifest",
        s(&inputs.vex_manifest),
        "--vex-archive",
        s(&inputs.vex_archive),
    ];
    let vex_named = [
        "--vex-manifest",
        s(&inputs.vex_manifest),
        "--vex-archive",
        s(&inputs.vex_archive),
        "--vex-name",
        &long_name,
    ];
    let shapes: Vec<(&str, Vec<&str>)> = vec![
        ("db", vec!["--trivy-db", s(&inputs.db)]),
        ("java", vec!["--java-db", s(&inputs.java_db)]),
        ("checks", vec!["--checks", s(&inputs.checks)]),
        ("vex", vex.to_vec()),
        ("vexnamed", vex_named.to_vec()),
        (
            "all",
            [
                vec![
                    "--trivy-db",
                    s(&inputs.db),
                    "--java-db",
                    s(&inputs.java_db),
                    "--checks",
                    s(&inputs.checks),
                    "--checks-version",
                    "2.1.0",
                    "--label",
                    &label,
                    "--sequence",
                    "999999999",
                    "--series",
                    &long_name,
                ],
                vex.to_vec(),
            ]
            .concat(),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, args) in shapes {
        let out_path = t.join(&format!("{name}.airlock"));
        let mut all = vec!["export", "-q", "-o", s(&out_path), "--sign-key", s(&key)];
        all.extend(args);
        let out = airlock(&all);
        if out.status.code() != Some(0) {
            wrong.push(format!(
                "{name}: export: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let out = airlock(&["verify", s(&out_path), "--key", s(&public)]);
        if out.status.code() != Some(0) {
            wrong.push(format!(
                "{name}: verify: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
