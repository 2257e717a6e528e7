//! R23's unpacking side: the totals of a layer's tar or a VEX archive
//! (SPEC.md section 3 "unpacked tables", section 6 limits), the database
//! file against `[artifact.database]`, the VEX `index.json` package count.

use super::inflate::{crc32, gunzip, inflate};
use super::{fail, Verdict};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, PartialEq, Clone, Copy)]
pub struct Totals {
    pub size: u64,
    pub files: u64,
    pub entries: u64,
    pub data: u64,
    /// None for a 1.0/1.1 manifest (legacy bound `2 x entries + 1024`).
    pub dirs: Option<u64>,
}

/// What unpacking found: the totals and the installed files' bytes.
pub struct Unpacked {
    pub totals: Totals,
    pub files: BTreeMap<String, Vec<u8>>,
}

fn r23(why: &str) -> Verdict {
    fail(4, &format!("R23: {why}"))
}

/// Section 6's rules for entry names; returns the normalised name.
fn entry_name(raw: &[u8], seen: &mut BTreeSet<String>) -> Result<String, Verdict> {
    let s = std::str::from_utf8(raw).map_err(|_| r23("entry name not UTF-8"))?;
    let s = s.strip_prefix("./").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    let bad = s.is_empty()
        || s.len() > 1024
        || s.starts_with('/')
        || s.chars().any(|c| c == '\\' || c.is_control())
        || s.split('/').count() > 32
        || s.split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.len() > 255);
    if bad {
        return Err(r23(&format!("entry name {s:?} refused")));
    }
    if !seen.insert(s.to_string()) {
        return Err(r23(&format!("entry {s} twice")));
    }
    Ok(s.to_string())
}

/// Adds an installed entry (file or dir, path relative to the installed root).
fn install(t: &mut Totals, dirs: &mut BTreeSet<String>, rel: &str, is_dir: bool) {
    let mut parts: Vec<&str> = rel.split('/').collect();
    if !is_dir {
        parts.pop();
    }
    for i in 1..=parts.len() {
        dirs.insert(parts[..i].join("/"));
    }
    t.dirs = Some(dirs.len() as u64);
}

/// The installed path of `name`, or None when it is outside `subdir`.
fn under<'a>(name: &'a str, subdir: &str) -> Option<&'a str> {
    if subdir.is_empty() {
        Some(name)
    } else {
        name.strip_prefix(subdir)?.strip_prefix('/')
    }
}

fn octal(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        return Some(f[1..].iter().fold(0u64, |a, &x| (a << 8) | x as u64));
    }
    let s = std::str::from_utf8(f).ok()?;
    let s = s.trim_matches(|c| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// A layer or VEX tar (already decompressed).
pub fn tar(d: &[u8], subdir: &str) -> Result<Unpacked, Verdict> {
    let mut t = Totals::default();
    let (mut dirs, mut seen) = (BTreeSet::new(), BTreeSet::new());
    let mut files = BTreeMap::new();
    let mut pos = 0;
    let mut long_name: Option<Vec<u8>> = None;
    loop {
        let h = d
            .get(pos..pos + 512)
            .ok_or_else(|| r23("layer tar truncated"))?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    x as u64
                }
            })
            .sum();
        if octal(&h[148..156]) != Some(sum) {
            return Err(r23("layer tar header checksum"));
        }
        let size = octal(&h[124..136]).ok_or_else(|| r23("layer tar size"))?;
        let start = pos + 512;
        let end = start + usize::try_from(size).map_err(|_| r23("size"))?;
        let data = d
            .get(start..end)
            .ok_or_else(|| r23("layer tar truncated"))?;
        pos = start + (size as usize).div_ceil(512) * 512;
        t.entries += 1;
        t.data += size;
        let typ = h[156];
        match typ {
            b'L' => {
                if size > 1024 {
                    return Err(r23("GNU long name above 1024 bytes"));
                }
                long_name = Some(data.iter().copied().take_while(|&b| b != 0).collect());
                continue;
            }
            b'x' | b'g' => {
                if size > 64 << 10 {
                    return Err(r23("PAX header above 64 KiB"));
                }
                let text = String::from_utf8_lossy(data);
                for rec in text.lines() {
                    let kv = rec.split_once(' ').map_or("", |x| x.1);
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    if k == "size" || k == "linkpath" || k.starts_with("GNU.sparse") {
                        return Err(r23("PAX size, linkpath or sparse key"));
                    }
                    if k == "path" && typ == b'x' {
                        long_name = Some(v.as_bytes().to_vec());
                    }
                }
                continue;
            }
            b'0' | 0 | b'7' | b'5' => {}
            _ => return Err(r23(&format!("entry type {:?} refused", typ as char))),
        }
        let raw = long_name.take().unwrap_or_else(|| {
            let c = |f: &[u8]| {
                f.iter()
                    .copied()
                    .take_while(|&b| b != 0)
                    .collect::<Vec<u8>>()
            };
            let (name, prefix) = (c(&h[0..100]), c(&h[345..500]));
            if &h[257..262] == b"ustar" && h[262] == 0 && !prefix.is_empty() {
                [prefix.as_slice(), b"/", name.as_slice()].concat()
            } else {
                name
            }
        });
        let name = entry_name(&raw, &mut seen)?;
        let Some(rel) = under(&name, subdir) else {
            continue;
        };
        if typ == b'5' {
            install(&mut t, &mut dirs, rel, true);
        } else {
            t.files += 1;
            t.size += size;
            install(&mut t, &mut dirs, rel, false);
            files.insert(rel.to_string(), data.to_vec());
        }
    }
    t.dirs = Some(dirs.len() as u64);
    Ok(Unpacked { totals: t, files })
}

fn le16(d: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?) as usize)
}
fn le32(d: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?) as u64)
}

/// A VEX zip archive: the central directory and every entry's data.
pub fn zip(d: &[u8], subdir: &str) -> Result<Unpacked, Verdict> {
    let bad = || r23("VEX zip archive damaged");
    let eocd = (0..d.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            d[i..i + 4] == [0x50, 0x4b, 0x05, 0x06] && le16(d, i + 20) == Some(d.len() - i - 22)
        })
        .ok_or_else(bad)?;
    let count = le16(d, eocd + 10).ok_or_else(bad)?;
    let cd_size = le32(d, eocd + 12).ok_or_else(bad)? as usize;
    let cd_off = le32(d, eocd + 16).ok_or_else(bad)? as usize;
    if cd_off + cd_size != eocd {
        return Err(r23(
            "VEX zip central directory does not end at the end record",
        ));
    }
    let mut t = Totals::default();
    let (mut dirs, mut seen) = (BTreeSet::new(), BTreeSet::new());
    let mut files = BTreeMap::new();
    let mut p = cd_off;
    for _ in 0..count {
        if le32(d, p) != Some(0x0201_4b50) {
            return Err(bad());
        }
        let flags = le16(d, p + 8).ok_or_else(bad)?;
        let method = le16(d, p + 10).ok_or_else(bad)?;
        let crc = le32(d, p + 16).ok_or_else(bad)?;
        let csize = le32(d, p + 20).ok_or_else(bad)? as usize;
        let usize_ = le32(d, p + 24).ok_or_else(bad)?;
        let (nl, xl, cl) = (le16(d, p + 28), le16(d, p + 30), le16(d, p + 32));
        let (nl, xl, cl) = (
            nl.ok_or_else(bad)?,
            xl.ok_or_else(bad)?,
            cl.ok_or_else(bad)?,
        );
        let local = le32(d, p + 42).ok_or_else(bad)? as usize;
        let raw = d.get(p + 46..p + 46 + nl).ok_or_else(bad)?;
        p += 46 + nl + xl + cl;
        t.entries += 1;
        t.data += usize_;
        if flags & 1 != 0 {
            return Err(r23("encrypted zip entry"));
        }
        let name = entry_name(raw, &mut seen)?;
        let is_dir = raw.ends_with(b"/");
        let Some(rel) = under(&name, subdir) else {
            continue;
        };
        if is_dir {
            install(&mut t, &mut dirs, rel, true);
            continue;
        }
        if le32(d, local) != Some(0x0403_4b50) {
            return Err(bad());
        }
        let start = local
            + 30
            + le16(d, local + 26).ok_or_else(bad)?
            + le16(d, local + 28).ok_or_else(bad)?;
        let comp = d.get(start..start + csize).ok_or_else(bad)?;
        let data = match method {
            0 => comp.to_vec(),
            8 => inflate(comp, usize_ as usize).ok_or_else(bad)?.0,
            _ => return Err(r23("zip compression method")),
        };
        if data.len() as u64 != usize_ || crc32(&data) as u64 != crc {
            return Err(r23("zip entry size or CRC"));
        }
        t.files += 1;
        t.size += usize_;
        install(&mut t, &mut dirs, rel, false);
        files.insert(rel.to_string(), data);
    }
    if p != eocd {
        return Err(r23("zip central directory holds more than it counts"));
    }
    t.dirs = Some(dirs.len() as u64);
    Ok(Unpacked { totals: t, files })
}

/// Compares with the signed totals (exact; legacy dirs bound for 1.0/1.1).
pub fn compare(what: &str, got: Totals, signed: Totals) -> Result<(), Verdict> {
    let dirs_ok = match signed.dirs {
        Some(n) => got.dirs == Some(n),
        None => got.dirs.unwrap_or(0) <= 2 * signed.entries + 1024,
    };
    let same = got.size == signed.size
        && got.files == signed.files
        && got.entries == signed.entries
        && got.data == signed.data;
    if !(same && dirs_ok) {
        return Err(r23(&format!(
            "{what} unpacks to {got:?}, signed {signed:?}"
        )));
    }
    Ok(())
}

/// A gzip layer, bounded by `data + entries x 1 KiB + 1 MiB` (section 6).
pub fn layer(gz: &[u8], signed: Totals, subdir: &str) -> Result<Unpacked, Verdict> {
    let limit = signed.data + signed.entries * 1024 + (1 << 20);
    let d = gunzip(gz, limit as usize)
        .ok_or_else(|| r23("layer is not gzip or unpacks beyond its bound"))?;
    tar(&d, subdir)
}

fn sha256_hex(d: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(d)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// R23: every layer and VEX archive against its signed totals and details.
pub fn check_all(
    m: &super::manifest::Manifest,
    got: &BTreeMap<String, Vec<u8>>,
) -> Result<(), Verdict> {
    for a in &m.artifacts {
        let gz = &got[&format!("oci/blobs/sha256/{}", &a.layer_digest[7..])];
        let u = layer(gz, a.unpacked, "")?;
        compare(&a.kind, u.totals, a.unpacked)?;
        let Some(db) = &a.database else { continue };
        if u.totals.dirs != Some(0) || u.files.keys().any(|k| k.contains('/')) {
            return Err(r23("a database layer holds more than files at its root"));
        }
        if a.kind == "java-db"
            && ["-journal", "-wal", "-shm"]
                .iter()
                .any(|s| u.files.contains_key(&format!("trivy-java.db{s}")))
        {
            return Err(r23(
                "a SQLite journal, WAL or shm file in the Java DB layer",
            ));
        }
        let f = u
            .files
            .get(&db.file)
            .ok_or_else(|| r23(&format!("{} missing from its layer", db.file)))?;
        if f.len() as u64 != db.size || sha256_hex(f) != db.sha256 {
            return Err(r23(&format!(
                "{} does not match [artifact.database]",
                db.file
            )));
        }
        let meta = u
            .files
            .get("metadata.json")
            .filter(|x| x.len() <= 64 << 10)
            .ok_or_else(|| r23("metadata.json missing or above 64 KiB"))?;
        let meta: serde_json::Value =
            serde_json::from_slice(meta).map_err(|_| r23("metadata.json is not JSON"))?;
        let same = meta.get("Version").and_then(|v| v.as_u64()) == Some(db.schema_version)
            && meta.get("UpdatedAt").and_then(|v| v.as_str()) == Some(&db.updated_at)
            && meta.get("NextUpdate").and_then(|v| v.as_str()) == Some(&db.next_update);
        if !same {
            return Err(r23("metadata.json does not match [artifact.database]"));
        }
        super::dbfile::judge(&a.kind, f)?;
    }
    for v in &m.vexes {
        // Section 6 bounds it as untrusted content read as JSON
        // (SECOND-READER.md, ambiguity 16; R23 since text revision 3).
        let repo = &got[&v.manifest_path];
        let json: Option<serde_json::Value> = serde_json::from_slice(repo).ok();
        if repo.len() > 1 << 20
            || !json
                .as_ref()
                .is_some_and(|j| j.is_object() && values(j) <= 10_000)
        {
            return Err(r23(
                "vex-repository.json is not a JSON object within 1 MiB and 10,000 values",
            ));
        }
        // Text revision 3 of R23: spec version 0.1 and its location's folder.
        if let Some(why) = json.as_ref().and_then(|j| repo_problem(j, &v.subdir)) {
            return Err(r23(why));
        }
        let bytes = &got[&v.archive_path];
        let u = if v.archive_format == "zip" {
            zip(bytes, &v.subdir)?
        } else {
            layer(bytes, v.unpacked, &v.subdir)?
        };
        if u.totals.entries > 10_000 {
            return Err(r23("VEX archive of more than 10,000 entries"));
        }
        compare(&v.archive_path, u.totals, v.unpacked)?;
        let index = u
            .files
            .get("index.json")
            .ok_or_else(|| r23("VEX index.json missing"))?;
        let index: serde_json::Value =
            serde_json::from_slice(index).map_err(|_| r23("VEX index.json is not JSON"))?;
        let n = index
            .get("packages")
            .and_then(|p| p.as_array())
            .map(Vec::len);
        if n != Some(v.packages as usize) {
            return Err(r23("VEX index.json does not count `packages`"));
        }
    }
    Ok(())
}

fn values(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(values).sum(),
        serde_json::Value::Object(o) => o.values().map(values).sum(),
        _ => 0,
    }
}

/// R23 (text revision 3) on `vex-repository.json`: its shape, a version
/// `0.1` whose first location names the folder `subdir`.
fn repo_problem(j: &serde_json::Value, subdir: &str) -> Option<&'static str> {
    use serde_json::Value as V;
    let versions = match j.get("versions") {
        None => &[][..],
        Some(V::Array(a)) => &a[..],
        Some(_) => return Some("vex-repository.json: versions is not an array"),
    };
    let string = |o: &V, k: &str, opt: bool| match o.get(k) {
        Some(V::String(_)) => true,
        None | Some(V::Null) => opt,
        Some(_) => false,
    };
    let shaped = string(j, "name", false)
        && versions.iter().all(|v| {
            string(v, "spec_version", false)
                && string(v, "update_interval", true)
                && match v.get("locations") {
                    None => true,
                    Some(V::Array(l)) => l.iter().all(|x| string(x, "url", false)),
                    Some(_) => false,
                }
        });
    if !shaped {
        return Some("vex-repository.json is not of the shape of section 5");
    }
    let Some(v) = versions.iter().find(|v| v["spec_version"] == "0.1") else {
        return Some("vex-repository.json offers no spec_version 0.1");
    };
    let Some(url) = v["locations"].get(0).and_then(|l| l["url"].as_str()) else {
        return Some("vex-repository.json: version 0.1 has no location");
    };
    let base = url.split('?').next().unwrap_or("");
    let start = base.find("://").map_or(0, |i| i + 3);
    let folder = base[start..]
        .find("//")
        .map_or("", |i| base[start + i + 2..].trim_end_matches('/'));
    (folder != subdir).then_some("vex-repository.json: the location's folder is not subdir")
}
