use std::io::{Cursor, Write as _};

use super::*;
use crate::unpack::{Discard, Limits, Totals};

/// One stored entry of a hand-made zip.
#[derive(Clone, Default)]
pub(crate) struct E {
    pub name: Vec<u8>,
    /// The name in the local header, when it is to differ.
    pub local_name: Option<Vec<u8>>,
    pub data: Vec<u8>,
    /// Listed in the central directory.
    pub listed: bool,
    /// Crc and sizes in a data descriptor (with its signature).
    pub descriptor: bool,
    /// A data descriptor that does not repeat the crc.
    pub bad_descriptor: bool,
    pub cd_extra: Vec<u8>,
    /// The compression method in the local header, when it is to differ.
    pub local_method: Option<u16>,
    /// No local header of its own: the record points at this offset.
    pub points_at: Option<u64>,
}

impl E {
    pub(crate) fn new(name: &str, data: &[u8]) -> E {
        E {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            listed: true,
            ..E::default()
        }
    }
}

/// A hand-made zip of stored entries, with the ways to spoil it.
#[derive(Clone, Default)]
pub(crate) struct Z {
    pub entries: Vec<E>,
    pub prefix: Vec<u8>,
    /// The end record's entry count, when it is to differ.
    pub count: Option<u16>,
    pub before_end: Vec<u8>,
    pub comment: Vec<u8>,
    pub after: Vec<u8>,
}

pub(crate) fn crc(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// A local header (and nothing else) for `name` holding `data` stored.
pub(crate) fn local_header(name: &[u8], data: &[u8], flags: u16, method: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&LOCAL.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&method.to_le_bytes());
    h.extend_from_slice(&[0, 0, 0x21, 0]); // 1980-01-01 00:00
    let deferred = flags & HAS_DESCRIPTOR != 0;
    for v in [crc(data), data.len() as u32, data.len() as u32] {
        h.extend_from_slice(&(if deferred { 0 } else { v }).to_le_bytes());
    }
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(name);
    h
}

pub(crate) fn build(z: &Z) -> Vec<u8> {
    let mut out = z.prefix.clone();
    let mut offsets = Vec::new();
    for e in &z.entries {
        if let Some(at) = e.points_at {
            offsets.push(at);
            continue;
        }
        offsets.push(out.len() as u64);
        let flags = if e.descriptor { HAS_DESCRIPTOR } else { 0 };
        let name = e.local_name.as_ref().unwrap_or(&e.name);
        out.extend(local_header(
            name,
            &e.data,
            flags,
            e.local_method.unwrap_or(0),
        ));
        out.extend_from_slice(&e.data);
        if e.descriptor {
            out.extend_from_slice(&DESCRIPTOR.to_le_bytes());
            let c = crc(&e.data) ^ u32::from(e.bad_descriptor);
            for v in [c, e.data.len() as u32, e.data.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    let cd_offset = out.len();
    let mut listed = 0u16;
    for (e, offset) in z.entries.iter().zip(offsets) {
        if !e.listed {
            continue;
        }
        listed += 1;
        let dir = e.name.ends_with(b"/");
        out.extend_from_slice(&CENTRAL.to_le_bytes());
        out.extend_from_slice(&0x031eu16.to_le_bytes()); // Unix, 3.0
        out.extend_from_slice(&20u16.to_le_bytes());
        let flags = if e.descriptor { HAS_DESCRIPTOR } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        for v in [crc(&e.data), e.data.len() as u32, e.data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(e.cd_extra.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        let mode: u32 = if dir { 0o40755 } else { 0o100644 };
        out.extend_from_slice(&(mode << 16).to_le_bytes());
        out.extend_from_slice(&(offset as u32).to_le_bytes());
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.cd_extra);
    }
    let cd_size = out.len() - cd_offset;
    out.extend_from_slice(&z.before_end);
    out.extend_from_slice(&EOCD.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let count = z.count.unwrap_or(listed);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(cd_size as u32).to_le_bytes());
    out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
    out.extend_from_slice(&(z.comment.len() as u16).to_le_bytes());
    out.extend_from_slice(&z.comment);
    out.extend_from_slice(&z.after);
    out
}

fn good() -> Z {
    Z {
        entries: vec![
            E::new("top/", b""),
            E::new("top/index.json", b"{\"packages\":[]}"),
            E::new("top/a/b.json", b"{}"),
        ],
        comment: b"0123456789abcdef0123456789abcdef01234567".to_vec(),
        ..Z::default()
    }
}

fn scan_of(data: &[u8]) -> Result<Directory, UnpackError> {
    scan("t.zip", &mut Cursor::new(data), 1000)
}

fn refusal(z: &Z) -> String {
    match scan_of(&build(z)) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

fn walk(data: &[u8]) -> Result<Totals, UnpackError> {
    crate::unpack::zip(
        "t.zip",
        Cursor::new(data),
        Limits::LOCAL_INPUT,
        &mut |p, _| Some(p.to_string()),
        &mut Discard,
    )
}

#[test]
fn well_formed_archives_pass() {
    let data = build(&good());
    assert_eq!(scan_of(&data).unwrap().len(), 3);
    let t = walk(&data).unwrap();
    assert_eq!((t.entries, t.files, t.dirs), (3, 2, 2));
    let mut z = good();
    z.entries[2].descriptor = true;
    z.entries[1].descriptor = true;
    assert_eq!(walk(&build(&z)).unwrap().files, 2);
    let empty = Z::default();
    assert!(scan_of(&build(&empty)).unwrap().is_empty());
}

/// What the zip crate writes: zip64 extra fields, a comment, and more
/// than 65535 entries (zip64 end records). (Git's and Python's streamed
/// zips are tried in tests/hostile_archives.rs.)
#[test]
fn archives_the_zip_crate_writes_pass() {
    use ::zip::write::SimpleFileOptions;
    let opts = SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    let fill = |z: &mut dyn FnMut(&str, SimpleFileOptions, &[u8])| {
        z("top/index.json", opts, b"{}");
        z("top/big.json", opts.large_file(true), &[b'x'; 5000]);
        z(
            "top/stored",
            opts.compression_method(::zip::CompressionMethod::Stored),
            b"s",
        );
    };
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.add_directory("top/", opts).unwrap();
    fill(&mut |n, o, d| {
        w.start_file(n, o).unwrap();
        w.write_all(d).unwrap();
    });
    w.set_comment("a comment");
    let seekable = w.finish().unwrap().into_inner();
    assert_eq!(walk(&seekable).unwrap().files, 3);
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Stored);
    for i in 0..70_000 {
        w.start_file(format!("f/{i}"), stored).unwrap();
    }
    let many = w.finish().unwrap().into_inner();
    assert_eq!(
        scan_of(&many).map(|d| d.len()).unwrap_err().to_string(),
        "t.zip: more than 1000 entries"
    );
    let d = scan("t.zip", &mut Cursor::new(&many), 100_000).unwrap();
    assert_eq!(d.len(), 70_000);
}

#[test]
fn a_name_listed_twice_is_refused() {
    let mut z = good();
    z.entries.push(E::new("top/index.json", b"{\"other\":1}"));
    let e = refusal(&z);
    assert_eq!(e, "t.zip: entry \"top/index.json\" appears more than once");
    // The walker says the same (the crate alone would keep the last).
    assert_eq!(walk(&build(&z)).unwrap_err().to_string(), e);
}

#[test]
fn a_local_header_that_disagrees_is_refused() {
    let mut z = good();
    z.entries[1].local_name = Some(b"top/evil.json!".to_vec());
    assert_eq!(refusal(&z), "t.zip: entry \"top/index.json\": its local header names \"top/evil.json!\"; the central directory and the local header must agree (readers that go by either would extract different files)");
    let mut z = good();
    z.entries[1].local_method = Some(8);
    assert!(refusal(&z)
        .contains("compression method 8 in its local header, 0 in the central directory"));
    let mut z = good();
    z.entries[2].descriptor = true;
    z.entries[2].bad_descriptor = true;
    assert!(refusal(&z).contains("entry \"top/a/b.json\": its data descriptor at offset"));
}

#[test]
fn bytes_no_record_covers_are_refused() {
    // A whole entry (local header and data) the central directory omits.
    let mut z = good();
    let mut hidden = E::new("top/index.json", b"{\"hidden\":1}");
    hidden.listed = false;
    z.entries.insert(2, hidden.clone());
    assert_eq!(refusal(&z), "t.zip: 56 bytes at offset 93, after entry \"top/index.json\", that no central directory entry covers (a hidden entry?)");
    let mut z = good();
    z.entries.push(hidden);
    assert!(refusal(&z)
        .contains("after entry \"top/a/b.json\", that no central directory entry covers"));
    let mut z = good();
    z.prefix = b"#!/bin/sh\nexit 0\n".to_vec();
    assert!(refusal(&z)
        .starts_with("t.zip: 17 bytes at offset 0 that no central directory entry covers"));
    let mut z = good();
    z.before_end = vec![0; 30];
    assert!(refusal(&z).contains("does not end where the end of central directory record begins"));
    let mut z = good();
    z.after = b"trailing".to_vec();
    assert!(refusal(&z).contains("8 bytes after the end of central directory record"));
    // An end record inside the comment is the one every reader takes
    // (the last): here it describes an empty archive, which leaves the
    // real entries and directory uncovered.
    let mut z = good();
    z.comment = [&EOCD.to_le_bytes()[..], &[0; 18]].concat();
    let e = refusal(&z);
    assert!(e.contains("t.zip: the central directory (0 bytes at offset 0) does not end where the end of central directory record begins"), "{e}");
}

#[test]
fn overlapping_entries_are_refused() {
    let inner = E::new("top/inner", b"x");
    let mut z = good();
    let name_len = z.entries[1].name.len() as u64;
    let mut carrier = local_header(&inner.name, &inner.data, 0, 0);
    carrier.extend_from_slice(&inner.data);
    z.entries[1].data = carrier;
    // entries[0] is "top/" at 0, its header 30 + 4 bytes; then index.json.
    let at = 34 + 30 + name_len;
    z.entries.push(E {
        points_at: Some(at),
        ..inner
    });
    let e = refusal(&z);
    assert!(
        e.contains("entries \"top/index.json\" and \"top/inner\" overlap"),
        "{e}"
    );
}

#[test]
fn counts_that_disagree_are_refused() {
    let mut z = good();
    z.count = Some(2);
    assert_eq!(refusal(&z), "t.zip: the central directory holds more than the 2 entries the end of central directory record counts");
    z.count = Some(4);
    assert_eq!(refusal(&z), "t.zip: the end of central directory record counts 4 entries, the central directory holds 3");
}

#[test]
fn extra_fields_readers_disagree_on_are_refused() {
    let mut z = good();
    let mut unicode = vec![0x75, 0x70, 17, 0, 1, 0, 0, 0, 0];
    unicode.extend_from_slice(b"top/evil.js");
    unicode[2] = (unicode.len() - 4) as u8;
    z.entries[1].cd_extra = unicode;
    assert!(refusal(&z).contains("carries a Unicode path extra field naming \"top/evil.js\""));
    // A zip64 field of 24 bytes where no field is all ones: the zip
    // crate would read sizes and offset from it, Go would not.
    let mut z = good();
    let mut z64 = vec![1, 0, 24, 0];
    z64.extend_from_slice(&[0; 24]);
    z.entries[1].cd_extra = z64;
    assert!(refusal(&z).contains("a zip64 extra field of 24 bytes where its fields call for 0"));
}

#[test]
fn unsafe_names_are_refused_from_the_directory() {
    let mut z = good();
    z.entries.push(E::new("top/../../etc/x", b"x"));
    assert!(refusal(&z).contains("unsafe entry name \"top/../../etc/x\""));
}

#[test]
fn damaged_archives_are_refused_without_panic() {
    let mut z = good();
    z.entries[2].descriptor = true;
    let data = build(&z);
    for cut in 0..data.len() {
        let _ = scan_of(&data[..cut]);
    }
    for i in 0..data.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut d = data.clone();
            d[i] ^= flip;
            let _ = walk(&d);
        }
    }
}
