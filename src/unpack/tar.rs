//! The tar.gz walker (layers, VEX archives in tar.gz form).

use std::io::{self, Read};

use crate::digest::LimitedReader;

use super::{feed_file, EntryKind, Limits, Sink, Totals, UnpackError, Walk, MAX_PATH};

/// Walks a gzip-compressed tar stream. `select` maps each clean entry path to
/// the path to hand to the sink, or `None` to skip it (it is still checked).
/// Reads the gzip stream to its end, so its CRC is checked.
pub fn tar_gz<R: Read>(
    archive: &str,
    reader: R,
    limits: Limits,
    select: &mut dyn FnMut(&str, EntryKind) -> Option<String>,
    sink: &mut dyn Sink,
) -> Result<Totals, UnpackError> {
    let mut walk = Walk::new(archive, limits);
    let gz = flate2::read::GzDecoder::new(reader);
    let mut bounded = LimitedReader::new(gz, limits.stream_bytes(), "decompressed data");
    walk_entries(&mut walk, &mut bounded, select, sink)?;
    drain_trailer(&walk, &mut bounded)?;
    Ok(walk.totals)
}

/// Walks the tar entries: extension entries (long names, PAX headers) are
/// read with a cap and applied to the entry they name; every other entry is
/// admitted, typed, selected and handed to the sink.
fn walk_entries<R: Read>(
    walk: &mut Walk<'_>,
    bounded: &mut R,
    select: &mut dyn FnMut(&str, EntryKind) -> Option<String>,
    sink: &mut dyn Sink,
) -> Result<(), UnpackError> {
    let mut ar = ::tar::Archive::new(bounded);
    // Raw entries: tar-rs would read GNU long names and PAX headers into
    // memory whatever their size; here they are read with a cap.
    let entries = ar.entries().map_err(|e| walk.corrupt(e))?.raw(true);
    let mut long_name: Option<Vec<u8>> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| walk.corrupt(e))?;
        walk.count(entry.size())?;
        if extension(walk, &mut entry, &mut long_name)? {
            continue;
        }
        let raw = long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let path = walk.admit(&raw)?;
        let kind = entry_kind(walk, &entry, path.as_str())?;
        if path.is_empty() {
            if kind == EntryKind::Dir {
                continue;
            }
            return Err(walk.unsafe_path(&raw, "a file named like the archive root"));
        }
        let Some(out) = select(&path, kind) else {
            continue;
        };
        match kind {
            EntryKind::Dir => {
                walk.claim(&out, kind)?;
                sink.dir(&out).map_err(|e| walk.sink_err(&out, e, false))?
            }
            EntryKind::File => {
                let size = entry.size();
                walk.claim(&out, kind)?;
                walk.reserve(size)?;
                feed_file(walk, sink, &out, size, &mut entry)?;
            }
        }
    }
    if long_name.is_some() {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            "an extended header names an entry that never comes",
        )));
    }
    Ok(())
}

/// Reads an extension entry (GNU long name, PAX local or global header),
/// recording the name it gives in `long_name`; `false` for any other entry.
fn extension<R: Read>(
    walk: &Walk<'_>,
    entry: &mut ::tar::Entry<'_, R>,
    long_name: &mut Option<Vec<u8>>,
) -> Result<bool, UnpackError> {
    match entry.header().entry_type() {
        ::tar::EntryType::GNULongName => {
            let mut name = read_extension(walk, entry, MAX_PATH as u64 + 1)?;
            while name.last() == Some(&0) {
                name.pop();
            }
            set_long_name(walk, long_name, name)?;
            Ok(true)
        }
        ::tar::EntryType::XHeader => {
            let data = read_extension(walk, entry, MAX_EXTENSION)?;
            if let Some(name) = pax_path(walk, &data)? {
                set_long_name(walk, long_name, name)?;
            }
            Ok(true)
        }
        ::tar::EntryType::XGlobalHeader => {
            // Checked like a local header (a global `size` would
            // change how later entries are framed), its path ignored.
            let data = read_extension(walk, entry, MAX_EXTENSION)?;
            pax_path(walk, &data)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// An entry's kind: regular files and directories only.
fn entry_kind<R: Read>(
    walk: &Walk<'_>,
    entry: &::tar::Entry<'_, R>,
    path: &str,
) -> Result<EntryKind, UnpackError> {
    match entry.header().entry_type() {
        ::tar::EntryType::Regular | ::tar::EntryType::Continuous => Ok(EntryKind::File),
        ::tar::EntryType::Directory => Ok(EntryKind::Dir),
        other => Err(UnpackError::ForbiddenType {
            archive: walk.archive.to_string(),
            path: path.to_string(),
            kind: tar_type_name(other),
        }),
    }
}

/// Drains the rest (padding after the end-of-archive blocks) so that the
/// gzip trailer and its CRC are read and checked; at most 1 MiB, for
/// every caller, so what export accepts import accepts too.
fn drain_trailer<R: Read>(walk: &Walk<'_>, bounded: &mut R) -> Result<(), UnpackError> {
    let after =
        io::copy(&mut bounded.take((1 << 20) + 1), &mut io::sink()).map_err(|e| walk.corrupt(e))?;
    if after > 1 << 20 {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            "more than 1 MiB of data after the end of the tar archive",
        )));
    }
    Ok(())
}

/// The largest PAX extended header accepted.
const MAX_EXTENSION: u64 = 64 << 10;

/// Reads an extension entry's data (long name, PAX header), refusing one
/// larger than `max` instead of allocating it.
fn read_extension<R: Read>(
    walk: &Walk<'_>,
    entry: &mut ::tar::Entry<'_, R>,
    max: u64,
) -> Result<Vec<u8>, UnpackError> {
    if entry.size() > max {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "an extended header of {} bytes (more than {max})",
                entry.size()
            ),
        )));
    }
    let mut data = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut data).map_err(|e| walk.corrupt(e))?;
    Ok(data)
}

fn set_long_name(
    walk: &Walk<'_>,
    slot: &mut Option<Vec<u8>>,
    name: Vec<u8>,
) -> Result<(), UnpackError> {
    if slot.replace(name).is_some() {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            "two long names for one entry",
        )));
    }
    Ok(())
}

/// The `path` of a PAX extended header. Keys that would change how the
/// following entry is framed or what it is (`size`, `linkpath`, sparse maps)
/// are refused rather than ignored.
fn pax_path(walk: &Walk<'_>, data: &[u8]) -> Result<Option<Vec<u8>>, UnpackError> {
    let bad = |why: String| walk.corrupt(io::Error::new(io::ErrorKind::InvalidData, why));
    let mut path = None;
    let mut rest = data;
    while !rest.is_empty() {
        // "<len> <key>=<value>\n", len counting the whole record.
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse().ok())
            .filter(|&l| l > space + 1 && l <= rest.len())
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let record = &rest[space + 1..len];
        let record = record
            .strip_suffix(b"\n")
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => path = Some(value.to_vec()),
            b"size" | b"linkpath" => {
                return Err(bad(format!(
                    "unsupported PAX key {}",
                    String::from_utf8_lossy(key)
                )))
            }
            k if k.starts_with(b"GNU.sparse") => {
                return Err(bad("sparse files are not accepted".into()))
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(path)
}

fn tar_type_name(t: ::tar::EntryType) -> &'static str {
    match t {
        ::tar::EntryType::Symlink => "symbolic link",
        ::tar::EntryType::Link => "hard link",
        ::tar::EntryType::Char => "character device",
        ::tar::EntryType::Block => "block device",
        ::tar::EntryType::Fifo => "FIFO",
        ::tar::EntryType::GNUSparse => "sparse file",
        ::tar::EntryType::GNULongLink => "long link name",
        _ => "special entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::Discard;

    fn tar_gz_of(entries: &[(&str, ::tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = ::tar::Builder::new(gz);
        for (name, ty, data) in entries {
            let mut h = ::tar::Header::new_gnu();
            h.set_entry_type(*ty);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // set_path refuses "..", so write the raw name like an attacker would.
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn walk_tar(data: &[u8], limits: Limits) -> Result<Totals, UnpackError> {
        tar_gz(
            "t.tar.gz",
            data,
            limits,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
    }

    #[test]
    fn tar_refusals() {
        let l = Limits::LOCAL_INPUT;
        let e = walk_tar(&tar_gz_of(&[("../x", ::tar::EntryType::Regular, b"x")]), l).unwrap_err();
        assert!(matches!(e, UnpackError::UnsafePath { .. }), "{e}");
        let e = walk_tar(&tar_gz_of(&[("l", ::tar::EntryType::Symlink, b"")]), l).unwrap_err();
        assert_eq!(crate::error::chain_text(&e), "t.tar.gz: entry \"l\" is a symbolic link; only regular files and directories are accepted");
        let e = walk_tar(&tar_gz_of(&[("f", ::tar::EntryType::Fifo, b"")]), l).unwrap_err();
        assert!(matches!(e, UnpackError::ForbiddenType { kind: "FIFO", .. }));
        let e = walk_tar(
            &tar_gz_of(&[
                ("a", ::tar::EntryType::Regular, b"1"),
                ("./a", ::tar::EntryType::Regular, b"2"),
            ]),
            l,
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::Duplicate { .. }));
        let e = walk_tar(
            &tar_gz_of(&[("a", ::tar::EntryType::Regular, &[0u8; 100])]),
            Limits::exactly(Totals {
                bytes: 99,
                files: 1,
                entries: 1,
                data: 100,
                dirs: 0,
            }),
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::TooLarge { limit: 99, .. }));
        let ok = walk_tar(
            &tar_gz_of(&[("a", ::tar::EntryType::Regular, &[0u8; 100])]),
            Limits::exactly(Totals {
                bytes: 100,
                files: 1,
                entries: 1,
                data: 100,
                dirs: 0,
            }),
        )
        .unwrap();
        assert_eq!(
            ok,
            Totals {
                bytes: 100,
                files: 1,
                entries: 1,
                data: 100,
                dirs: 0
            }
        );
    }

    #[test]
    fn a_file_and_a_directory_of_the_same_name_are_refused() {
        let l = Limits::LOCAL_INPUT;
        for entries in [
            &[
                ("a", ::tar::EntryType::Regular, &b"1"[..]),
                ("a/b", ::tar::EntryType::Regular, b"2"),
            ][..],
            &[
                ("a/b", ::tar::EntryType::Regular, &b"1"[..]),
                ("a", ::tar::EntryType::Regular, b"2"),
            ][..],
        ] {
            let e = walk_tar(&tar_gz_of(entries), l).unwrap_err();
            assert!(
                crate::error::chain_text(&e).contains("a file and a directory of the same name"),
                "{e}"
            );
        }
        // A directory entry and files below it are fine.
        walk_tar(
            &tar_gz_of(&[
                ("a", ::tar::EntryType::Directory, b""),
                ("a/b", ::tar::EntryType::Regular, b"2"),
            ]),
            l,
        )
        .unwrap();
    }

    #[test]
    fn a_dangling_long_name_and_trailing_data_are_refused() {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = ::tar::Builder::new(gz);
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::GNULongName);
        h.set_size(4);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        b.append(&h, &b"name"[..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let e = walk_tar(&data, Limits::LOCAL_INPUT).unwrap_err();
        assert!(crate::error::chain_text(&e).contains("never comes"), "{e}");

        // 2 MiB of zeros after the end-of-archive blocks, inside the gzip member.
        let mut tar = ::tar::Builder::new(Vec::new()).into_inner().unwrap();
        tar.resize(tar.len() + (2 << 20), 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let e = walk_tar(&gz.finish().unwrap(), Limits::LOCAL_INPUT).unwrap_err();
        assert!(
            crate::error::chain_text(&e).contains("more than 1 MiB of data after the end"),
            "{e}"
        );
    }

    #[test]
    fn long_names_are_read_with_a_cap() {
        struct Names(Vec<String>);
        impl Sink for Names {
            fn dir(&mut self, _: &str) -> io::Result<()> {
                Ok(())
            }
            fn file(&mut self, path: &str, _: u64, data: &mut dyn Read) -> io::Result<()> {
                self.0.push(path.to_string());
                io::copy(data, &mut io::sink()).map(|_| ())
            }
        }
        let long = format!("policies/{}/check.rego", "d".repeat(150));
        // GNU long name (tar-rs writes one for paths over 100 bytes).
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = ::tar::Builder::new(gz);
        let mut h = ::tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"x"[..]).unwrap();
        // PAX path.
        b.append_pax_extensions([("path", format!("{long}.pax").as_bytes())])
            .unwrap();
        let mut h = ::tar::Header::new_ustar();
        h.set_size(1);
        h.set_path("short").unwrap();
        h.set_cksum();
        b.append(&h, &b"y"[..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let mut names = Names(Vec::new());
        tar_gz(
            "t",
            &data[..],
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut names,
        )
        .unwrap();
        assert_eq!(names.0, vec![long.clone(), format!("{long}.pax")]);

        // A long name of 2 MiB is refused without being read into memory.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = ::tar::Builder::new(gz);
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::GNULongName);
        h.set_size(2 << 20);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        b.append(&h, &vec![b'a'; 2 << 20][..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let e = tar_gz(
            "t",
            &data[..],
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
        .unwrap_err();
        assert!(
            crate::error::chain_text(&e).contains("an extended header of 2097152 bytes"),
            "{e}"
        );

        // A PAX size override is refused, not ignored.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = ::tar::Builder::new(gz);
        b.append_pax_extensions([("size", &b"5"[..])]).unwrap();
        let mut h = ::tar::Header::new_ustar();
        h.set_size(1);
        h.set_path("f").unwrap();
        h.set_cksum();
        b.append(&h, &b"y"[..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let e = tar_gz(
            "t",
            &data[..],
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
        .unwrap_err();
        assert!(
            crate::error::chain_text(&e).contains("unsupported PAX key size"),
            "{e}"
        );
    }

    #[test]
    fn gzip_bomb_after_the_tar_is_bounded() {
        // A valid tiny tar followed, inside the same gzip member, by 64 MiB of zeros.
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = ::tar::Header::new_gnu();
        h.set_size(1);
        h.set_path("a").unwrap();
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let mut tar = b.into_inner().unwrap();
        tar.resize(tar.len() + (64 << 20), 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let data = gz.finish().unwrap();
        let e = walk_tar(
            &data,
            Limits::exactly(Totals {
                bytes: 1,
                files: 1,
                entries: 1,
                data: 1,
                dirs: 0,
            }),
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::Corrupt { .. }), "{e}");
        assert!(
            crate::error::chain_text(&e).contains("exceeds its limit"),
            "{e}"
        );
    }
}
