//! Probes on the database files: the good vector with its trivy.db or
//! trivy-java.db edited, the layer, image manifest, index and manifest
//! rebuilt and re-signed, judged by both readers.

use super::inflate::{crc32, gunzip};
use super::probes::{bundle, entries, signature};
use super::{exit_of, key, spec_dir, verify};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn hex(d: &[u8]) -> String {
    Sha256::digest(d)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// gzip with stored deflate blocks.
fn gzip_stored(d: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = d.chunks(65_535).collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(d).to_le_bytes());
    out.extend_from_slice(&(d.len() as u32).to_le_bytes());
    out
}

fn layer_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (p, d) in files {
        tar.extend_from_slice(&super::probes::header(p, d.len() as u64, &|_| {}));
        tar.extend_from_slice(d);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    tar
}

/// The good vector with the database file of `kind` replaced by `edit(old)`.
pub fn with_db(kind: &str, edit: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = entries();
    let text = String::from_utf8(e[0].1.clone()).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let art = doc["artifact"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"].as_str() == Some(kind))
        .unwrap();
    let layer_digest = art["layer"]["digest"].as_str().unwrap().to_string();
    let md = art["manifest_digest"].as_str().unwrap().to_string();
    let db = &art["database"];
    let file = db["file"].as_str().unwrap();
    let blob = |d: &str| format!("oci/blobs/sha256/{}", &d[7..]);
    let find = |e: &[(String, Vec<u8>)], p: &str| e.iter().position(|x| x.0 == p).unwrap();
    // The layer.
    let old_gz = e[find(&e, &blob(&layer_digest))].1.clone();
    let old = super::archive::tar(&gunzip(&old_gz, 1 << 24).unwrap(), "").unwrap();
    let mut files: Vec<(String, Vec<u8>)> = old.files.into_iter().collect();
    let i = files.iter().position(|f| f.0 == file).unwrap();
    let old_db = files[i].1.clone();
    edit(&mut files[i].1);
    let new_db = files[i].1.clone();
    let gz = gzip_stored(&layer_tar(&files));
    let new_layer = format!("sha256:{}", hex(&gz));
    // The image manifest.
    let mut im: Value = serde_json::from_slice(&e[find(&e, &blob(&md))].1).unwrap();
    im["layers"][0]["digest"] = Value::from(new_layer.clone());
    im["layers"][0]["size"] = Value::from(gz.len());
    let im = serde_json::to_vec(&im).unwrap();
    let new_md = format!("sha256:{}", hex(&im));
    // The index.
    let ix = find(&e, "oci/index.json");
    let mut index: Value = serde_json::from_slice(&e[ix].1).unwrap();
    for d in index["manifests"].as_array_mut().unwrap() {
        if d["digest"].as_str() == Some(md.as_str()) {
            d["digest"] = Value::from(new_md.clone());
            d["size"] = Value::from(im.len());
        }
    }
    e[ix].1 = serde_json::to_vec(&index).unwrap();
    e.retain(|x| x.0 != blob(&md) && x.0 != blob(&layer_digest));
    e.push((blob(&new_md), im));
    e.push((blob(&new_layer), gz.clone()));
    // The manifest: edited fields, payload list rebuilt.
    let grow = new_db.len() as i64 - old_db.len() as i64;
    let mut t = text[..text.find("[[payload]]").unwrap()].to_string();
    t = t.replace(&layer_digest, &new_layer).replace(&md, &new_md);
    t = t.replace(&hex(&old_db), &hex(&new_db));
    let un = &art["unpacked"];
    let (us, ud) = (
        un["size"].as_integer().unwrap(),
        un["data"].as_integer().unwrap(),
    );
    let old_block = format!(
        "size = {}\ntitle = \"{}\"\n\n[artifact.unpacked]\nsize = {us}\nfiles = {}\nentries = {}\ndata = {ud}\n",
        old_gz.len(),
        art["layer"]["title"].as_str().unwrap(),
        un["files"].as_integer().unwrap(),
        un["entries"].as_integer().unwrap(),
    );
    let new_block = old_block
        .replacen(
            &format!("size = {}\n", old_gz.len()),
            &format!("size = {}\n", gz.len()),
            1,
        )
        .replace(
            &format!("size = {us}\n"),
            &format!("size = {}\n", us + grow),
        )
        .replace(
            &format!("data = {ud}\n"),
            &format!("data = {}\n", ud + grow),
        );
    assert!(t.contains(&old_block));
    t = t.replacen(&old_block, &new_block, 1);
    t = t.replacen(
        &format!("file = \"{file}\"\nsize = {}\n", old_db.len()),
        &format!("file = \"{file}\"\nsize = {}\n", new_db.len()),
        1,
    );
    finish(e, t)
}

/// The manifest head `t` (everything before `[[payload]]`) with the payload
/// list of `e` appended, signed, and the bundle written.
fn finish(mut e: Vec<(String, Vec<u8>)>, mut t: String) -> Vec<u8> {
    let mut payloads: Vec<(String, Vec<u8>)> = e.drain(2..).collect();
    payloads.sort();
    for (p, d) in &payloads {
        t.push_str(&format!(
            "[[payload]]\npath = \"{p}\"\nsize = {}\nsha256 = \"{}\"\n\n",
            d.len(),
            hex(d)
        ));
    }
    let t = t.trim_end().to_string() + "\n";
    e[0].1 = t.into_bytes();
    e[1].1 = signature(&e[0].1);
    e.extend(payloads);
    bundle(&e, &|_, _| {})
}

/// The good vector with one payload edited (nothing else refers to it).
fn with_payload(path: &str, edit: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = entries();
    let text = String::from_utf8(e[0].1.clone()).unwrap();
    let i = e.iter().position(|x| x.0 == path).unwrap();
    edit(&mut e[i].1);
    let head = text[..text.find("[[payload]]").unwrap()].to_string();
    finish(e, head)
}

fn put(d: &mut [u8], at: usize, v: &[u8]) {
    d[at..at + v.len()].copy_from_slice(v);
}

fn find(d: &[u8], what: &[u8]) -> usize {
    d.windows(what.len()).position(|w| w == what).unwrap()
}

pub fn probes() -> Vec<(&'static str, Vec<u8>)> {
    let ps = 4096;
    vec![
        ("db-rebuilt-unchanged", with_db("trivy-db", &|_| {})),
        (
            "db-meta0-checksum",
            with_db("trivy-db", &|d| d[16 + 56] ^= 1),
        ),
        (
            "db-both-metas-bad",
            with_db("trivy-db", &|d| {
                d[16 + 56] ^= 1;
                d[ps + 16 + 56] ^= 1;
            }),
        ),
        (
            "db-no-vulnerability-bucket",
            with_db("trivy-db", &|d| {
                let i = find(d, b"vulnerability");
                d[i + 12] = b'z';
            }),
        ),
        (
            "db-trailing-bytes",
            with_db("trivy-db", &|d| d.extend_from_slice(&[0; 100])),
        ),
        (
            "db-truncated-page",
            with_db("trivy-db", &|d| d.truncate(d.len() - ps)),
        ),
        (
            "db-page-names-other-id",
            with_db("trivy-db", &|d| {
                let n = d.len() / ps;
                // The last page (a leaf) claims another id.
                put(d, (n - 1) * ps, &0u64.to_le_bytes());
            }),
        ),
        (
            "javadb-page-size-3000",
            with_db("java-db", &|d| put(d, 16, &3000u16.to_be_bytes())),
        ),
        ("javadb-read-version-3", with_db("java-db", &|d| d[19] = 3)),
        (
            "javadb-truncated",
            with_db("java-db", &|d| d.truncate(d.len() - 4096)),
        ),
        (
            "javadb-trailing-page",
            with_db("java-db", &|d| d.extend_from_slice(&[0; 4096])),
        ),
        ("javadb-not-sqlite", with_db("java-db", &|d| d[0] = b's')),
        (
            "vex-payload-rebuilt",
            with_payload("vex/default/archive.zip", &|_| {}),
        ),
        (
            "vex-zip-trailing-byte",
            with_payload("vex/default/archive.zip", &|d| d.push(0)),
        ),
        (
            "vex-zip-comment",
            with_payload("vex/default/archive.zip", &|d| {
                let n = d.len();
                d[n - 2] = 3;
                d.extend_from_slice(b"abc");
            }),
        ),
        (
            "vex-zip-leading-byte",
            with_payload("vex/default/archive.zip", &|d| d.insert(0, 0)),
        ),
        (
            "vex-repository-json-not-json",
            with_payload("vex/default/vex-repository.json", &|d| d[0] = b'x'),
        ),
        (
            "vex-repository-json-other-name",
            with_payload("vex/default/vex-repository.json", &|d| {
                let mut v: Value = serde_json::from_slice(d).unwrap();
                v["name"] = Value::from("another name");
                *d = serde_json::to_vec(&v).unwrap();
            }),
        ),
        (
            "vex-repository-json-spec-0.2",
            with_payload("vex/default/vex-repository.json", &|d| {
                let mut v: Value = serde_json::from_slice(d).unwrap();
                v["versions"][0]["spec_version"] = Value::from("0.2");
                *d = serde_json::to_vec(&v).unwrap();
            }),
        ),
        (
            "vex-repository-json-other-location",
            with_payload("vex/default/vex-repository.json", &|d| {
                let mut v: Value = serde_json::from_slice(d).unwrap();
                v["versions"][0]["locations"][0]["url"] =
                    Value::from("https://example.com/a.zip//vexhub-main");
                *d = serde_json::to_vec(&v).unwrap();
            }),
        ),
        (
            "vex-repository-json-array",
            with_payload("vex/default/vex-repository.json", &|d| {
                *d = b"[]".to_vec();
            }),
        ),
        (
            "index-json-extra-member",
            with_payload("oci/index.json", &|d| {
                let mut v: Value = serde_json::from_slice(d).unwrap();
                v["x-extra"] = Value::from(1);
                *d = serde_json::to_vec(&v).unwrap();
            }),
        ),
        (
            "index-json-pretty",
            with_payload("oci/index.json", &|d| {
                let v: Value = serde_json::from_slice(d).unwrap();
                *d = serde_json::to_vec_pretty(&v).unwrap();
            }),
        ),
        (
            "oci-layout-newline",
            with_payload("oci/oci-layout", &|d| d.push(b'\n')),
        ),
    ]
}

/// Probes where airlock applies a check the SPEC does not state, so this
/// reader does not (SECOND-READER.md, disagreement D3): not a failing test,
/// since the SPEC does not decide against airlock.
const SILENT: &[&str] = &[];

#[test]
fn second_reader_database_probes_agree_with_airlock() {
    let dir = super::scratch_dir();
    let k = spec_dir().join("vectors/vector.pub");
    let trusted = key(&k);
    let mut wrong = Vec::new();
    let all = probes();
    for (name, bytes) in &all {
        let path = dir.join(format!("{name}.airlock"));
        std::fs::write(&path, bytes).unwrap();
        let mine = verify(bytes, &trusted);
        let theirs = super::airlock_exit(&path, &k);
        eprintln!("db probe {name}: airlock {theirs}, second reader {mine:?}");
        if exit_of(&mine) != theirs && !SILENT.contains(name) {
            wrong.push(format!("{name}: airlock {theirs}, second reader {mine:?}"));
        }
    }
    let agreed = all.len() - wrong.len() - SILENT.len();
    eprintln!(
        "database probes: the readers agree on {agreed} of {}",
        all.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
