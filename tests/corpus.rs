//! A corpus of hostile bundles, generated here, each run through `verify`
//! and `import` (into a populated cache and static VEX directory): every
//! case must be refused with its specific message and exit code, and leave
//! both trees byte for byte as they were. The test prints the whole table.

use std::collections::BTreeMap;

use ::tar::EntryType;
use sha2::Digest as _;

use airlock::digest::Sha256Digest;
use airlock::keys::{KeyId, SecretKey};
use airlock::manifest::{ArtifactKind, Manifest, Payload};

use crate::support::fixtures::*;
use crate::support::*;

/// One raw tar entry, written byte for byte (names are not checked).
#[derive(Clone)]
struct Raw {
    name: Vec<u8>,
    kind: EntryType,
    data: Vec<u8>,
    link: Vec<u8>,
}

impl Raw {
    fn file(name: &str, data: Vec<u8>) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            kind: EntryType::Regular,
            data,
            link: Vec::new(),
        }
    }

    fn special(name: &[u8], kind: EntryType, link: &[u8]) -> Raw {
        Raw {
            name: name.to_vec(),
            kind,
            data: Vec::new(),
            link: link.to_vec(),
        }
    }
}

/// A tar of `entries` with ustar headers (a bundle's only kind, SPEC.md
/// section 2) whose name fields hold the raw bytes.
fn raw_tar(entries: &[Raw]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = ::tar::Header::new_ustar();
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(FIXED_MTIME);
        let ustar = h.as_ustar_mut().unwrap();
        // (Longer names are cut: those cases are refused before any entry is read.)
        let n = e.name.len().min(100);
        ustar.name[..n].copy_from_slice(&e.name[..n]);
        ustar.linkname[..e.link.len()].copy_from_slice(&e.link);
        h.set_cksum();
        b.append(&h, e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

fn digest(data: &[u8]) -> Sha256Digest {
    Sha256Digest(sha2::Sha256::digest(data).into())
}

/// The good bundle's parts, and ways to make bad ones from them.
pub(crate) struct Base {
    key: SecretKey,
    pub(crate) manifest: Manifest,
    manifest_text: Vec<u8>,
    sig_entry: Raw,
    payloads: BTreeMap<String, Vec<u8>>,
}

impl Base {
    /// The good bundle's decompressed tar.
    fn tar(&self) -> Vec<u8> {
        raw_tar(&self.entries(
            &self.manifest_text,
            std::slice::from_ref(&self.sig_entry),
            &self.manifest,
        ))
    }

    fn entries(&self, manifest: &[u8], sigs: &[Raw], m: &Manifest) -> Vec<Raw> {
        let mut out = vec![Raw::file("airlock/manifest.toml", manifest.to_vec())];
        out.extend(sigs.iter().cloned());
        for p in &m.payloads {
            out.push(Raw::file(
                &p.path,
                self.payloads
                    .get(p.path.as_str())
                    .cloned()
                    .unwrap_or_default(),
            ));
        }
        out
    }

    fn sign(&self, text: &[u8]) -> Raw {
        let sig = self
            .key
            .sign(text, "corpus", "timestamp:1\tfile:manifest.toml")
            .unwrap();
        Raw::file(
            &airlock::bundle::signature_path(sig.key_id()),
            sig.to_text().into_bytes(),
        )
    }

    /// A bundle whose manifest is `m`, validly signed by the trusted key,
    /// with payload data from `self.payloads` overridden by `data`.
    pub(crate) fn resigned(&self, m: &Manifest, data: &[(String, Vec<u8>)]) -> Vec<u8> {
        let text = m.to_toml().unwrap().into_bytes();
        self.resigned_text(&text, m, data)
    }

    fn resigned_text(&self, text: &[u8], m: &Manifest, data: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut base = Base {
            key: SecretKey::from_seed([1; 32], KeyId(*b"corpus00"), "").unwrap(),
            manifest: m.clone(),
            manifest_text: text.to_vec(),
            sig_entry: self.sign(text),
            payloads: self.payloads.clone(),
        };
        for (p, d) in data {
            base.payloads.insert(p.clone(), d.clone());
        }
        zstd(&raw_tar(&base.entries(text, &[self.sign(text)], m)))
    }

    /// The manifest with the layer of `kind` replaced by `layer` (a new
    /// content-addressed blob), keeping the signed totals.
    pub(crate) fn with_layer(&self, kind: ArtifactKind, layer: Vec<u8>) -> Vec<u8> {
        let mut m = self.manifest.clone();
        let a = m.artifacts.iter_mut().find(|a| a.kind == kind).unwrap();
        let old = Manifest::blob_path(&a.layer.digest);
        let h = digest(&layer);
        a.layer.digest = h;
        a.layer.size = layer.len() as u64;
        m.payloads.retain(|p| p.path != old);
        let path = Manifest::blob_path(&h);
        m.payloads.push(Payload {
            path: path.clone(),
            size: layer.len() as u64,
            sha256: h,
        });
        m.payloads.sort_by(|a, b| a.path.cmp(&b.path));
        self.resigned(&m, &[(path.to_string(), layer)])
    }

    /// The manifest with payload `path` replaced by `data`.
    fn with_payload(&self, path: &str, data: Vec<u8>) -> Vec<u8> {
        let mut m = self.manifest.clone();
        let p = m.payloads.iter_mut().find(|p| p.path == path).unwrap();
        p.size = data.len() as u64;
        p.sha256 = digest(&data);
        self.resigned(&m, &[(path.to_string(), data)])
    }

    /// A bundle whose database of `kind` is `db` (with the same
    /// metadata.json), everything signed says of it made true: the layer
    /// blob, the database's size and sha256, the unpacked totals, the OCI
    /// image manifest and index; so the database's content is the only
    /// thing wrong with it. Also returns the layer.
    pub(crate) fn with_db(&self, kind: ArtifactKind, db: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let version = if kind == ArtifactKind::TrivyDb { 2 } else { 1 };
        let name = if kind == ArtifactKind::TrivyDb {
            "trivy.db"
        } else {
            "trivy-java.db"
        };
        let meta = db_metadata_json(version, UPDATED_AT, NEXT_UPDATE);
        let layer = tar_gz(&[("metadata.json", meta.into_bytes()), (name, db.to_vec())]);
        let mut m = self.manifest.clone();
        let a = m.artifacts.iter_mut().find(|a| a.kind == kind).unwrap();
        let d = a.database.as_mut().unwrap();
        let (old_db, new_db) = (d.size, db.len() as u64);
        d.size = new_db;
        d.sha256 = digest(db);
        a.unpacked.size = a.unpacked.size - old_db + new_db;
        a.unpacked.data = a.unpacked.data - old_db + new_db;
        let mut data = Vec::new();
        let mut replace = |m: &mut Manifest, old: &str, bytes: Vec<u8>| {
            m.payloads.retain(|p| p.path != old);
            let h = digest(&bytes);
            let path = Manifest::blob_path(&h);
            m.payloads.push(Payload {
                path: path.clone(),
                size: bytes.len() as u64,
                sha256: h,
            });
            data.push((path.to_string(), bytes));
            h
        };
        // The layer blob.
        let old_layer = Manifest::blob_path(&a.layer.digest);
        a.layer.size = layer.len() as u64;
        let a_idx = m.artifacts.iter().position(|a| a.kind == kind).unwrap();
        let layer_digest = replace(&mut m, &old_layer, layer.clone());
        m.artifacts[a_idx].layer.digest = layer_digest;
        // The OCI image manifest naming it.
        let old_manifest = m.artifacts[a_idx].manifest_digest;
        let old_path = Manifest::blob_path(&old_manifest);
        let mut image: serde_json::Value =
            serde_json::from_slice(&self.payloads[old_path.as_str()]).unwrap();
        image["layers"][0]["digest"] = layer_digest.oci().into();
        image["layers"][0]["size"] = (layer.len() as u64).into();
        let image = serde_json::to_vec(&image).unwrap();
        let image_len = image.len() as u64;
        let manifest_digest = replace(&mut m, &old_path, image);
        m.artifacts[a_idx].manifest_digest = manifest_digest;
        // The OCI index naming that.
        let mut index: serde_json::Value =
            serde_json::from_slice(&self.payloads["oci/index.json"]).unwrap();
        for d in index["manifests"].as_array_mut().unwrap() {
            if d["digest"] == old_manifest.oci().as_str() {
                d["digest"] = manifest_digest.oci().into();
                d["size"] = image_len.into();
            }
        }
        let index = serde_json::to_vec(&index).unwrap();
        let p = m
            .payloads
            .iter_mut()
            .find(|p| p.path == "oci/index.json")
            .unwrap();
        p.size = index.len() as u64;
        p.sha256 = digest(&index);
        data.push(("oci/index.json".to_string(), index));
        m.payloads.sort_by(|a, b| a.path.cmp(&b.path));
        (self.resigned(&m, &data), layer)
    }

    fn layer_path(&self, kind: ArtifactKind) -> String {
        let a = self
            .manifest
            .artifacts
            .iter()
            .find(|a| a.kind == kind)
            .unwrap();
        Manifest::blob_path(&a.layer.digest).to_string()
    }
}

struct Case {
    name: String,
    bundle: Vec<u8>,
    /// (exit code, message) for verify and for import.
    verify: (i32, &'static str),
    import: (i32, &'static str),
}

fn case(name: &str, bundle: Vec<u8>, code: i32, needle: &'static str) -> Case {
    Case {
        name: name.to_string(),
        bundle,
        verify: (code, needle),
        import: (code, needle),
    }
}

fn build(base: &Base, good: &[u8]) -> Vec<Case> {
    let tar = base.tar();
    let mut cases = Vec::new();
    let offset = |name: &str| tar_entry_offset(&tar, name);
    let (m_off, m_len) = offset("airlock/manifest.toml");
    let sig_name = String::from_utf8(base.sig_entry.name.clone()).unwrap();
    let (s_off, s_len) = offset(&sig_name);
    let db_layer = base.layer_path(ArtifactKind::TrivyDb);
    let (p_off, p_len) = offset(&db_layer);
    let (i_off, _) = offset("oci/index.json");
    let vex_archive = "vex/default/archive.zip".to_string();

    // Truncation at every region boundary.
    for (name, at) in [
        ("truncated inside the manifest", m_off + m_len as usize / 2),
        ("truncated between manifest and signature", s_off - 512),
        (
            "truncated between signature and payloads",
            s_off + s_len as usize,
        ),
        ("truncated inside a payload", p_off + p_len as usize / 2),
    ] {
        cases.push(case(name, zstd(&tar[..at]), 4, "truncated"));
    }
    cases.push(case(
        "truncated inside the zstd frame",
        good[..good.len() / 2].to_vec(),
        4,
        "truncated",
    ));
    cases.push(case(
        "zstd frame checksum cut off",
        good[..good.len() - 4].to_vec(),
        4,
        "the bundle is",
    ));

    // One flipped bit in each region.
    let flip = |at: usize| {
        let mut t = tar.clone();
        t[at] ^= 0x01;
        zstd(&t)
    };
    cases.push(case(
        "bit flip in the manifest",
        flip(m_off + 40),
        3,
        "does not verify",
    ));
    cases.push(case(
        "bit flip in the signature",
        flip(s_off + s_len as usize - 10),
        3,
        "signature",
    ));
    cases.push(case(
        "bit flip in a payload",
        flip(p_off + 100),
        4,
        "is damaged or was altered",
    ));
    cases.push(case(
        "bit flip in the OCI index",
        flip(i_off + 10),
        4,
        "is damaged or was altered",
    ));
    cases.push(case(
        "bit flip in a payload's tar header",
        flip(p_off - 512 + 20),
        4,
        "header checksum mismatch",
    ));
    let mut z = good.to_vec();
    let mid = z.len() / 2;
    z[mid] ^= 0x01;
    cases.push(case("bit flip in the compressed stream", z, 4, "damaged"));

    // Not a bundle at all.
    cases.push(case(
        "not zstd",
        b"PK\x03\x04 this is a zip, not a bundle".to_vec(),
        4,
        "does not start with a zstd frame",
    ));
    cases.push(case(
        "zstd but not tar",
        zstd(&[0x42u8; 4096]),
        4,
        "damaged",
    ));
    let mut swapped = base.entries(
        &base.manifest_text,
        std::slice::from_ref(&base.sig_entry),
        &base.manifest,
    );
    swapped.swap(0, 1);
    cases.push(case(
        "manifest not first",
        zstd(&raw_tar(&swapped)),
        4,
        "the first entry is",
    ));
    let mut big = base.entries(
        &base.manifest_text,
        std::slice::from_ref(&base.sig_entry),
        &base.manifest,
    );
    big[0].data = vec![b'#'; (1 << 20) + 1];
    cases.push(case(
        "oversized manifest",
        zstd(&raw_tar(&big)),
        4,
        "more than the 1048576-byte limit",
    ));

    // Manifests that are validly signed but invalid.
    let text = String::from_utf8(base.manifest_text.clone()).unwrap();
    let dup = text.replacen("generator = ", "generator = \"x\"\ngenerator = ", 1);
    cases.push(case(
        "manifest TOML with a duplicate key",
        base.resigned_text(dup.as_bytes(), &base.manifest, &[]),
        4,
        "not valid TOML",
    ));
    let major = text.replace("format_version = \"1.2\"", "format_version = \"9.0\"");
    cases.push(case(
        "unknown format major",
        base.resigned_text(major.as_bytes(), &base.manifest, &[]),
        4,
        "bundle format version 9.0 is not supported",
    ));
    for (name, bad) in [
        ("payload path with ..", "vex/../evil"),
        ("absolute payload path", "/etc/evil"),
        ("payload path with a backslash", "vex\\evil"),
        ("payload path with NUL", "vex/ev\0il"),
        (
            "overlong payload path",
            &*Box::leak(format!("vex/{}", "a".repeat(300)).into_boxed_str()),
        ),
    ] {
        // A payload path is typed: written into the manifest's text (the
        // payload tables come last), since no `Payload` can hold it.
        let hostile = format!(
            "{text}\n[[payload]]\npath = {}\nsize = 1\nsha256 = \"{}\"\n",
            toml::Value::String(bad.to_string()),
            digest(b"x").hex()
        );
        cases.push(case(
            name,
            base.resigned_text(hostile.as_bytes(), &base.manifest, &[]),
            4,
            "manifest field is invalid",
        ));
    }

    // Signatures.
    let other = base.sign(b"some other bytes");
    let sigs = [Raw {
        name: base.sig_entry.name.clone(),
        ..other.clone()
    }];
    let wrong = base.entries(&base.manifest_text, &sigs, &base.manifest);
    cases.push(case(
        "signature over different bytes",
        zstd(&raw_tar(&wrong)),
        3,
        "does not verify",
    ));
    let stranger = SecretKey::from_seed([5; 32], KeyId(*b"stranger"), "").unwrap();
    let sig = stranger.sign(&base.manifest_text, "u", "t").unwrap();
    let untrusted = Raw::file(
        &airlock::bundle::signature_path(sig.key_id()),
        sig.to_text().into_bytes(),
    );
    cases.push(case(
        "signed only by an untrusted key",
        zstd(&raw_tar(&base.entries(
            &base.manifest_text,
            &[untrusted],
            &base.manifest,
        ))),
        3,
        "no signature by a trusted key",
    ));
    let twice = [base.sig_entry.clone(), base.sig_entry.clone()];
    cases.push(case(
        "two signatures by one key",
        zstd(&raw_tar(&base.entries(
            &base.manifest_text,
            &twice,
            &base.manifest,
        ))),
        3,
        "unique and sorted",
    ));
    cases.push(case(
        "no signature",
        zstd(&raw_tar(&base.entries(
            &base.manifest_text,
            &[],
            &base.manifest,
        ))),
        3,
        "carries no signatures",
    ));

    // Payload entries that do not match the manifest.
    let mut e = base.entries(
        &base.manifest_text,
        std::slice::from_ref(&base.sig_entry),
        &base.manifest,
    );
    e.retain(|r| r.name != b"oci/index.json");
    cases.push(case(
        "payload listed but missing",
        zstd(&raw_tar(&e)),
        4,
        "listed in the manifest but missing",
    ));
    let mut e = base.entries(
        &base.manifest_text,
        std::slice::from_ref(&base.sig_entry),
        &base.manifest,
    );
    e.push(Raw::file("vex/zz-extra.json", b"{}".to_vec()));
    cases.push(case(
        "payload present but not listed",
        zstd(&raw_tar(&e)),
        4,
        "follows the last listed payload",
    ));
    let mut e = base.entries(
        &base.manifest_text,
        std::slice::from_ref(&base.sig_entry),
        &base.manifest,
    );
    let i = e.iter().position(|r| r.name == b"oci/index.json").unwrap();
    let dup = e[i].clone();
    e.insert(i, dup);
    cases.push(case(
        "duplicate entry names",
        zstd(&raw_tar(&e)),
        4,
        "appears more than once",
    ));
    for (name, kind) in [
        ("symlink entry in the bundle", EntryType::Symlink),
        ("hardlink entry in the bundle", EntryType::Link),
        ("device entry in the bundle", EntryType::Char),
        ("FIFO entry in the bundle", EntryType::Fifo),
    ] {
        let mut e = base.entries(
            &base.manifest_text,
            std::slice::from_ref(&base.sig_entry),
            &base.manifest,
        );
        let i = e.iter().position(|r| r.name == b"oci/index.json").unwrap();
        e[i] = Raw::special(b"oci/index.json", kind, b"/etc/passwd");
        cases.push(case(name, zstd(&raw_tar(&e)), 4, "oci/index.json"));
    }
    for (name, raw) in [
        ("outer entry named with ..", &b"oci/../../etc/passwd"[..]),
        ("outer entry with an absolute name", b"/etc/passwd"),
        ("outer entry with a backslash", b"oci\\index.json"),
    ] {
        let mut e = base.entries(
            &base.manifest_text,
            std::slice::from_ref(&base.sig_entry),
            &base.manifest,
        );
        e.insert(
            2,
            Raw {
                name: raw.to_vec(),
                ..Raw::file("x", b"x".to_vec())
            },
        );
        cases.push(case(
            name,
            zstd(&raw_tar(&e)),
            4,
            "not listed in the manifest",
        ));
    }

    // Inside the inner layers (validly signed).
    let db_ok = || {
        Raw::file(
            "metadata.json",
            db_metadata_json(2, UPDATED_AT, NEXT_UPDATE).into_bytes(),
        )
    };
    for (kind, kname) in [
        (ArtifactKind::TrivyDb, "db.tar.gz"),
        (ArtifactKind::JavaDb, "javadb.tar.gz"),
        (ArtifactKind::Checks, "bundle.tar.gz"),
    ] {
        for (what, entry, needle) in [
            (
                "symlink",
                Raw::special(b"evil", EntryType::Symlink, b"/etc/passwd"),
                "symbolic link",
            ),
            (
                "hardlink",
                Raw::special(b"evil", EntryType::Link, b"/etc/passwd"),
                "hard link",
            ),
            (
                "device",
                Raw::special(b"evil", EntryType::Block, b""),
                "block device",
            ),
            ("FIFO", Raw::special(b"evil", EntryType::Fifo, b""), "FIFO"),
            (
                "entry named ../",
                Raw {
                    name: b"../evil".to_vec(),
                    ..Raw::file("x", b"x".to_vec())
                },
                "unsafe entry name",
            ),
            (
                "absolute entry",
                Raw {
                    name: b"/etc/evil".to_vec(),
                    ..Raw::file("x", b"x".to_vec())
                },
                "unsafe entry name",
            ),
        ] {
            if kind != ArtifactKind::TrivyDb && !matches!(what, "symlink" | "entry named ../") {
                continue;
            }
            // Within the signed entry count, so the entry itself is what is refused.
            let layer = match kind {
                ArtifactKind::Checks => gz(&raw_tar(&[entry])),
                _ => gz(&raw_tar(&[db_ok(), entry])),
            };
            cases.push(case(
                &format!("{what} inside {kname}"),
                base.with_layer(kind, layer),
                4,
                needle,
            ));
        }
    }
    let bomb = gz(&raw_tar(&[
        Raw::file("trivy.db", vec![0u8; 64 << 20]),
        db_ok(),
    ]));
    cases.push(case(
        "gzip bomb in db.tar.gz",
        base.with_layer(ArtifactKind::TrivyDb, bomb),
        4,
        "exceeds",
    ));

    // VEX (validly signed).
    type Zip = zip::ZipWriter<std::io::Cursor<Vec<u8>>>;
    let zip_with = |f: &dyn Fn(&mut Zip)| {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        f(&mut z);
        z.finish().unwrap().into_inner()
    };
    let opts = zip::write::SimpleFileOptions::default();
    let bomb = zip_with(&|z| {
        z.start_file(format!("{VEX_TOP_DIR}/index.json"), opts)
            .unwrap();
        std::io::Write::write_all(z, &vec![b' '; 64 << 20]).unwrap();
    });
    cases.push(case(
        "zip bomb in the VEX archive",
        base.with_payload(&vex_archive, bomb),
        4,
        "exceeds",
    ));
    let dotdot = zip_with(&|z| {
        z.start_file(format!("{VEX_TOP_DIR}/../../evil"), opts)
            .unwrap();
        std::io::Write::write_all(z, b"x").unwrap();
    });
    cases.push(case(
        "VEX zip with a ../ name",
        base.with_payload(&vex_archive, dotdot),
        4,
        "unsafe entry name",
    ));
    let link = zip_with(&|z| {
        z.add_symlink(format!("{VEX_TOP_DIR}/index.json"), "/etc/passwd", opts)
            .unwrap();
    });
    cases.push(case(
        "VEX zip with a symlink",
        base.with_payload(&vex_archive, link),
        4,
        "symbolic link",
    ));
    let escaping = r#"{"name":"x","versions":[{"spec_version":"0.1","locations":[{"url":"https://x/a.zip//../.."}]}]}"#.to_string();
    cases.push(case(
        "VEX manifest whose location escapes",
        base.with_payload("vex/default/vex-repository.json", escaping.into_bytes()),
        4,
        "names an unsafe folder",
    ));

    // Bytes after the bundle (issue 11, item 5): a bundle is exactly one
    // zstd frame and nothing may follow it, or it would carry unsigned
    // bytes across the gap inside a bundle that verifies.
    let appended = |tail: &[u8]| [good, tail].concat();
    let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18];
    skippable.extend_from_slice(&(8u32 << 20).to_le_bytes());
    skippable.extend(noise(8 << 20, 11));
    cases.push(case(
        "8 MiB zstd skippable frame appended",
        appended(&skippable),
        4,
        "at least 1048577 bytes follow the end of the bundle's zstd stream (a zstd skippable frame)",
    ));
    cases.push(case(
        "second zstd frame appended",
        appended(&zstd(b"covert channel")),
        4,
        "bytes follow the end of the bundle's zstd stream (a second zstd frame)",
    ));
    cases.push(case(
        "one zero byte appended",
        appended(&[0]),
        4,
        "1 byte follows the end of the bundle's zstd stream (zero bytes)",
    ));
    cases.push(case(
        "garbage appended",
        appended(b"garbage"),
        4,
        "7 bytes follow the end of the bundle's zstd stream: a bundle ends with its one zstd frame",
    ));
    let half = tar.len() / 2;
    cases.push(case(
        "bundle written as two zstd frames",
        [zstd(&tar[..half]), zstd(&tar[half..])].concat(),
        4,
        "bytes follow the end of the bundle's zstd stream (a second zstd frame)",
    ));
    cases.extend(
        crate::hostile_archives::corpus_cases(base)
            .into_iter()
            .map(|(name, bundle, needle)| case(&name, bundle, 4, needle)),
    );

    // VEX indexes and archives past the bounds that keep memory flat (issue
    // 11, item 9), validly signed with honest totals.
    vex_bounds(base, &mut cases);

    // Sizes that add up past any free space: no longer reach import's
    // free-space check (a host limit, exit 1; tested in e2e): a signed size
    // that no layer of this size can unpack to is refused by the manifest's
    // own bounds first.
    let mut m = base.manifest.clone();
    m.artifacts[0].unpacked.size = 1 << 55;
    cases.push(Case {
        name: "declared sizes past free space".into(),
        bundle: base.resigned(&m, &[]),
        verify: (4, "(the most any bundle may declare)"),
        import: (4, "(the most any bundle may declare)"),
    });

    // Issue 11 (manifest names, strings and times), validly signed.
    let resigned_with = |f: &dyn Fn(&mut Manifest)| {
        let mut m = base.manifest.clone();
        f(&mut m);
        base.resigned(&m, &[])
    };
    cases.push(case(
        "push repository escaping its prefix",
        resigned_with(&|m| m.artifacts[0].repository = "../library/nginx".into()),
        4,
        "is not a repository name",
    ));
    cases.push(case(
        "push tag with a query and a fragment",
        resigned_with(&|m| m.artifacts[0].tag = "latest?x=1#".into()),
        4,
        "is not a tag",
    ));
    cases.push(case(
        "generator forging a verdict line",
        resigned_with(&|m| m.generator = "x\npolicy:   satisfied".into()),
        4,
        "is not one line of text",
    ));
    cases.push(case(
        "VEX title with a bidirectional override",
        resigned_with(&|m| m.vex[0].title = "\u{202e}VEX Hub".into()),
        4,
        "is not one line of text",
    ));
    for (name, path) in [
        ("an OCI blob that belongs to no artifact", None),
        (
            "a VEX payload that belongs to no repository",
            Some("vex/default/extra.bin"),
        ),
    ] {
        let data = b"riding along".to_vec();
        let path = path
            .map(str::to_string)
            .unwrap_or_else(|| Manifest::blob_path(&digest(&data)).to_string());
        let mut m = base.manifest.clone();
        m.payloads.push(Payload {
            path: path.parse().unwrap(),
            size: data.len() as u64,
            sha256: digest(&data),
        });
        m.payloads.sort_by(|a, b| a.path.cmp(&b.path));
        let needle = if path.starts_with("oci/") {
            "is not part of any artifact"
        } else {
            "belongs to no VEX repository"
        };
        cases.push(case(name, base.resigned(&m, &[(path, data)]), 4, needle));
    }
    // Signed totals beyond what any bundle may declare bound nothing.
    for (name, f) in [
        (
            "declared dirs past the ceiling",
            (&|m: &mut Manifest| m.artifacts[2].unpacked.dirs = Some(i64::MAX as u64))
                as &dyn Fn(&mut Manifest),
        ),
        ("declared entries past the ceiling", &|m: &mut Manifest| {
            m.artifacts[2].unpacked.entries = 1 << 40
        }),
        (
            "declared data past what deflate can expand to",
            &|m: &mut Manifest| m.artifacts[0].unpacked.data = 1 << 37,
        ),
    ] {
        cases.push(case(
            name,
            resigned_with(f),
            4,
            "(the most any bundle may declare)",
        ));
    }
    cases.push(case(
        "bundle created in 2099",
        resigned_with(&|m| m.created = "2099-01-01T00:00:00Z".parse().unwrap()),
        6,
        "ahead of this host's clock",
    ));
    cases.push(case(
        "database UpdatedAt in 9999",
        resigned_with(&|m| {
            let db = m.artifacts[0].database.as_mut().unwrap();
            db.updated_at = "9999-01-01T00:00:00Z".parse().unwrap();
            db.next_update = "9999-01-02T00:00:00Z".parse().unwrap();
        }),
        6,
        "ahead of this host's clock",
    ));
    // Issue 11 (databases Trivy cannot open): validly signed, everything
    // the manifest says of them true, only their content bad
    // (tests/hostile_databases.rs also runs export and the real Trivy).
    for h in crate::hostile_databases::hostile_databases() {
        cases.push(case(h.name, base.with_db(h.kind, &h.db).0, 4, h.needle));
    }
    cases
}

/// The fixture VEX archive with index.json replaced, or with `extra` empty
/// files added; the manifest's totals follow, so only the bound is at issue.
fn vex_bounds(base: &Base, cases: &mut Vec<Case>) {
    use std::io::Write as _;
    let archive_path = "vex/default/archive.zip".to_string();
    let index_path = format!("{VEX_TOP_DIR}/index.json");
    let rezip = |index: Option<&str>, extra: u64| {
        let original = std::io::Cursor::new(base.payloads[&archive_path].clone());
        let mut za = zip::ZipArchive::new(original).unwrap();
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for i in 0..za.len() {
            let f = za.by_index(i).unwrap();
            match index {
                Some(text) if f.name() == index_path => {
                    z.start_file(index_path.as_str(), opts).unwrap();
                    z.write_all(text.as_bytes()).unwrap();
                }
                _ => z.raw_copy_file(f).unwrap(),
            }
        }
        for i in 0..extra {
            z.start_file(format!("{VEX_TOP_DIR}/extra-{i}"), opts)
                .unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let resigned = |archive: Vec<u8>, index: Option<&str>, extra: u64| {
        let mut m = base.manifest.clone();
        let v = &mut m.vex[0];
        if let Some(text) = index {
            let growth = text.len() as i64 - vex_index_json().len() as i64;
            v.unpacked.size = v.unpacked.size.checked_add_signed(growth).unwrap();
            v.unpacked.data = v.unpacked.data.checked_add_signed(growth).unwrap();
        }
        v.unpacked.entries += extra;
        v.unpacked.files += extra;
        let p = m
            .payloads
            .iter_mut()
            .find(|p| p.path == archive_path)
            .unwrap();
        p.size = archive.len() as u64;
        p.sha256 = digest(&archive);
        base.resigned(&m, &[(archive_path.clone(), archive)])
    };
    let with_index = |text: &str| resigned(rezip(Some(text), 0), Some(text), 0);
    let long_id = format!(
        r#"{{"packages":[{{"id":"{}","location":"{VEX_DOC_PATH}"}}]}}"#,
        "p".repeat(70_000)
    );
    cases.push(case(
        "VEX index with a 70 KB id",
        with_index(&long_id),
        4,
        "is not a valid VEX index: a string longer than 65536 bytes",
    ));
    let missing = r#"{"packages":[{"id":"pkg:apk/alpine/zlib","location":"pkg/none.json"}]}"#;
    cases.push(case(
        "VEX index listing a document the archive lacks",
        with_index(missing),
        4,
        "but the archive has no such file",
    ));
    cases.push(case(
        "VEX archive of more than 10000 entries",
        resigned(rezip(None, 10_000), None, 10_000),
        4,
        "the VEX archive has more than 10000 entries",
    ));
    let values = format!(
        r#"{{"name":"x","versions":[{{"spec_version":"0.1","locations":[{{"url":"https://x/a.zip//{VEX_TOP_DIR}"}}]}}],"junk":[{}]}}"#,
        vec!["0"; 10_000].join(",")
    );
    cases.push(case(
        "vex-repository.json of more than 10000 values",
        base.with_payload("vex/default/vex-repository.json", values.into_bytes()),
        4,
        "vex-repository.json is not valid: more than 10000 JSON values",
    ));
}

#[test]
fn hostile_corpus_is_refused_and_changes_nothing() {
    let t = TestDir::new();
    let key = SecretKey::from_seed([3; 32], KeyId(*b"corpuskk"), "corpus").unwrap();
    let public = t.join("corpus.pub");
    write(&public, key.public_key().to_text("corpus").as_bytes());
    // The good bundle, exported with the library and this key.
    let inputs = write_inputs(t.path());
    let good_path = t.join("good.airlock");
    let plan = airlock::export::ExportPlan {
        sources: vec![
            airlock::export::SourceSpec::Layer {
                kind: ArtifactKind::TrivyDb,
                path: inputs.db.clone(),
                checks_version: None,
            },
            airlock::export::SourceSpec::Layer {
                kind: ArtifactKind::JavaDb,
                path: inputs.java_db.clone(),
                checks_version: None,
            },
            airlock::export::SourceSpec::Layer {
                kind: ArtifactKind::Checks,
                path: inputs.checks.clone(),
                checks_version: None,
            },
            airlock::export::SourceSpec::Vex {
                name: "default".into(),
                manifest: inputs.vex_manifest.clone(),
                archive: inputs.vex_archive.clone(),
            },
        ],
        labels: BTreeMap::new(),
        created: time::OffsetDateTime::UNIX_EPOCH,
        output: good_path.clone(),
        force: false,
        split: None,
        sequence: None,
        network: Default::default(),
    };
    airlock::export::export(
        &plan,
        std::slice::from_ref(&key),
        "corpus",
        &airlock::progress::NoProgress,
    )
    .unwrap();
    let good = std::fs::read(&good_path).unwrap();
    let tar = bundle_tar(&good_path);
    let (moff, mlen) = tar_entry_offset(&tar, "airlock/manifest.toml");
    let manifest_text = tar[moff..moff + mlen as usize].to_vec();
    let manifest = Manifest::parse(&manifest_text).unwrap();
    let mut payloads = BTreeMap::new();
    for p in &manifest.payloads {
        let (o, l) = tar_entry_offset(&tar, &p.path);
        payloads.insert(p.path.to_string(), tar[o..o + l as usize].to_vec());
    }
    let sig = key
        .sign(&manifest_text, "corpus", "timestamp:1\tfile:manifest.toml")
        .unwrap();
    let base = Base {
        sig_entry: Raw::file(
            &airlock::bundle::signature_path(sig.key_id()),
            sig.to_text().into_bytes(),
        ),
        key,
        manifest,
        manifest_text,
        payloads,
    };
    // The harness itself produces an accepted bundle when nothing is wrong.
    let control = t.join("control.airlock");
    write(&control, &zstd(&base.tar()));
    airlock_ok(&["verify", s(&control), "--key", s(&public)]);
    let resigned = t.join("resigned.airlock");
    write(&resigned, &base.resigned(&base.manifest, &[]));
    airlock_ok(&["verify", s(&resigned), "--key", s(&public)]);

    let cache = t.join("cache");
    let vex_dir = t.join("vex");
    import_ok(&good_path, &public, &cache, &["--vex-dir", s(&vex_dir)]);
    let before = (tree_hash(&cache), tree_hash(&vex_dir));
    assert!(before.0.contains_key("db/trivy.db") && before.1.contains_key("default/archive.zip"));

    let cases = build(&base, &good);
    let mut table = String::new();
    for (i, c) in cases.iter().enumerate() {
        let path = t.join(&format!("case-{i:02}.airlock"));
        write(&path, &c.bundle);
        let v = airlock(&["verify", s(&path), "--key", s(&public)]);
        let im = airlock(&[
            "import",
            s(&path),
            "--key",
            s(&public),
            "--cache-dir",
            s(&cache),
            "--vex-dir",
            s(&vex_dir),
        ]);
        for (what, out, (code, needle)) in [("verify", &v, c.verify), ("import", &im, c.import)] {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(code),
                "case {:?}: {what}: {stderr}",
                c.name
            );
            assert!(
                stderr.contains(needle),
                "case {:?}: {what}: expected {needle:?} in {stderr}",
                c.name
            );
        }
        assert_eq!(
            (tree_hash(&cache), tree_hash(&vex_dir)),
            before,
            "case {:?} changed the target",
            c.name
        );
        let first = String::from_utf8_lossy(&im.stderr)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        table.push_str(&format!(
            "{:>2} {:<46} verify {} import {} unchanged  {}\n",
            i + 1,
            c.name,
            c.verify.0,
            c.import.0,
            first.trim_start_matches("airlock: error: ")
        ));
    }
    eprintln!(
        "hostile corpus: {} cases, all refused, target unchanged after each\n{table}",
        cases.len()
    );
    assert!(cases.len() >= 40, "{} cases", cases.len());
}

// ---------------------------------------------------------------------------
// Directory bombs and zip archives readers disagree on (issue 11, items 2 and
// 6): the bundles are made in hostile_archives.rs, from this corpus's Base.
// ---------------------------------------------------------------------------

/// The corpus's signing key (its public half trusted by the corpus tests).
pub(crate) fn corpus_key() -> SecretKey {
    SecretKey::from_seed([3; 32], KeyId(*b"corpuskk"), "corpus").unwrap()
}

/// Exports every input of `inputs` into `out` with the library, signed by
/// `key` (created at the epoch, so the bundle is the same each time).
pub(crate) fn export_library(inputs: &Inputs, key: &SecretKey, out: &std::path::Path) {
    let layer = |kind, path: &std::path::Path| airlock::export::SourceSpec::Layer {
        kind,
        path: path.to_path_buf(),
        checks_version: None,
    };
    let plan = airlock::export::ExportPlan {
        sources: vec![
            layer(ArtifactKind::TrivyDb, &inputs.db),
            layer(ArtifactKind::JavaDb, &inputs.java_db),
            layer(ArtifactKind::Checks, &inputs.checks),
            airlock::export::SourceSpec::Vex {
                name: "default".into(),
                manifest: inputs.vex_manifest.clone(),
                archive: inputs.vex_archive.clone(),
            },
        ],
        labels: BTreeMap::new(),
        created: time::OffsetDateTime::UNIX_EPOCH,
        output: out.to_path_buf(),
        force: true,
        split: None,
        sequence: None,
        network: Default::default(),
    };
    airlock::export::export(
        &plan,
        std::slice::from_ref(key),
        "corpus",
        &airlock::progress::NoProgress,
    )
    .unwrap();
}

/// The parts of `bundle` (signed by `key`), to make bad ones from.
pub(crate) fn base_of(bundle: &std::path::Path, key: SecretKey) -> Base {
    let tar = bundle_tar(bundle);
    let (moff, mlen) = tar_entry_offset(&tar, "airlock/manifest.toml");
    let manifest_text = tar[moff..moff + mlen as usize].to_vec();
    let manifest = Manifest::parse(&manifest_text).unwrap();
    let mut payloads = BTreeMap::new();
    for p in &manifest.payloads {
        let (o, l) = tar_entry_offset(&tar, &p.path);
        payloads.insert(p.path.to_string(), tar[o..o + l as usize].to_vec());
    }
    let sig = key
        .sign(&manifest_text, "corpus", "timestamp:1\tfile:manifest.toml")
        .unwrap();
    Base {
        sig_entry: Raw::file(
            &airlock::bundle::signature_path(sig.key_id()),
            sig.to_text().into_bytes(),
        ),
        key,
        manifest,
        manifest_text,
        payloads,
    }
}

/// The corpus's good bundle (every fixture input) exported with the library
/// under the corpus key, and its parts; with the public key file and the
/// bundle's path.
pub(crate) fn exported_base(t: &TestDir) -> (Base, std::path::PathBuf, std::path::PathBuf) {
    let key = corpus_key();
    let public = t.join("corpus.pub");
    write(&public, key.public_key().to_text("corpus").as_bytes());
    let good = t.join("good.airlock");
    export_library(&write_inputs(t.path()), &key, &good);
    (base_of(&good, key), public, good)
}
