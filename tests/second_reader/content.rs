//! The payload entries and the end of the archive (R17-R22), and the content
//! checks of R23 that the SPEC defines well enough and that the allowed crates
//! reach (OCI layout, index, image manifests, unreferenced blobs).

use super::container::{Header, Tar};
use super::manifest::Manifest;
use super::{fail, Verdict};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// R17-R22: `first` is the header read after the signatures (R7).
pub fn payloads(
    tar: &mut Tar<'_>,
    first: Header,
    m: &Manifest,
) -> Result<BTreeMap<String, Vec<u8>>, Verdict> {
    let mut pending = Some(first);
    let mut got = BTreeMap::new();
    for (i, p) in m.payloads.iter().enumerate() {
        let h = match pending.take() {
            Some(h) => h,
            None => tar
                .next_header()?
                .ok_or_else(|| fail(4, &format!("R17: truncated: {} is missing", p.path)))?,
        };
        if h.path != p.path {
            let listed = m.payloads.iter().position(|q| q.path == h.path);
            return Err(fail(
                4,
                &match listed {
                    None => format!("R17: {} is not listed in the manifest", h.path),
                    Some(j) if j < i => format!("R17: {} appears more than once", h.path),
                    Some(_) => format!("R17: {} is missing", p.path),
                },
            ));
        }
        if h.typeflag != b'0' {
            return Err(fail(4, &format!("R17: {} is not of type 0", h.path)));
        }
        if h.size != p.size {
            return Err(fail(4, &format!("R17: {} has another size", h.path)));
        }
        let data = tar.data(h.size)?;
        let digest: String = Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if digest != p.sha256 {
            return Err(fail(
                4,
                &format!("R18: {} is damaged or was altered", h.path),
            ));
        }
        got.insert(h.path, data.to_vec());
    }
    // R19: the next block is a zero block (a header there is another entry).
    if let Some(h) = tar.next_header()? {
        return Err(fail(
            4,
            &format!("R19: entry {} after the last payload", h.path),
        ));
    }
    // R20: the rest of the decoded stream.
    if let Some(why) = &tar.frame.stop {
        return Err(fail(4, why));
    }
    let rest = &tar.frame.out[tar.pos..];
    if rest.iter().any(|&b| b != 0) {
        return Err(fail(4, "R20: non-zero bytes after the last payload"));
    }
    let n = rest.len();
    if !(1024..=1 << 20).contains(&n) || !n.is_multiple_of(512) {
        return Err(fail(
            4,
            &format!("R20: {n} zero bytes after the last payload"),
        ));
    }
    // R21, R22
    if let Some(why) = &tar.frame.checksum_error {
        return Err(fail(4, why));
    }
    if tar.frame.after > 0 {
        return Err(fail(
            4,
            &format!(
                "R22: {} bytes follow the end of the bundle's zstd stream ({})",
                tar.frame.after, tar.frame.after_kind
            ),
        ));
    }
    Ok(got)
}

fn json(bytes: &[u8], what: &str) -> Result<Value, Verdict> {
    serde_json::from_slice(bytes).map_err(|_| fail(4, &format!("R23: {what} is not JSON")))
}

/// R23, the parts this reader implements.
pub fn oci(m: &Manifest, got: &BTreeMap<String, Vec<u8>>) -> Result<(), Verdict> {
    let r23 = |why: &str| fail(4, &format!("R23: {why}"));
    let oci_payloads: Vec<&String> = got.keys().filter(|p| p.starts_with("oci/")).collect();
    if m.artifacts.is_empty() && oci_payloads.is_empty() {
        return Ok(());
    }
    let layout = got
        .get("oci/oci-layout")
        .ok_or_else(|| r23("no oci/oci-layout"))?;
    if layout.as_slice() != br#"{"imageLayoutVersion":"1.0.0"}"# {
        return Err(r23(
            "oci/oci-layout is not exactly {\"imageLayoutVersion\":\"1.0.0\"}",
        ));
    }
    let index = json(
        got.get("oci/index.json")
            .ok_or_else(|| r23("no oci/index.json"))?,
        "oci/index.json",
    )?;
    let listed = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| r23("oci/index.json has no manifests array"))?;
    if listed.len() != m.artifacts.len() {
        return Err(r23(
            "oci/index.json does not list one image manifest per artifact",
        ));
    }
    let mut allowed = vec!["oci/oci-layout".to_string(), "oci/index.json".to_string()];
    for a in &m.artifacts {
        let blob = |d: &str| format!("oci/blobs/sha256/{}", &d[7..]);
        let mpath = blob(&a.manifest_digest);
        let mbytes = got
            .get(&mpath)
            .ok_or_else(|| r23("image manifest blob missing"))?;
        let want_ref = format!("{}:{}", a.repository, a.tag);
        let n = listed
            .iter()
            .filter(|d| {
                d.get("digest").and_then(Value::as_str) == Some(&a.manifest_digest)
                    && d.get("size").and_then(Value::as_u64) == Some(mbytes.len() as u64)
                    && d.get("mediaType").and_then(Value::as_str)
                        == Some("application/vnd.oci.image.manifest.v1+json")
                    && d.get("annotations")
                        .and_then(Value::as_object)
                        .is_some_and(|o| {
                            o.len() == 1
                                && o.get("org.opencontainers.image.ref.name")
                                    .and_then(Value::as_str)
                                    == Some(&want_ref)
                        })
            })
            .count();
        if n != 1 {
            return Err(r23(&format!(
                "oci/index.json does not list {want_ref} exactly once"
            )));
        }
        let im = json(mbytes, "an image manifest")?;
        let layers = im.get("layers").and_then(Value::as_array);
        let one = layers.filter(|l| l.len() == 1).map(|l| &l[0]);
        let ok = one.is_some_and(|l| {
            l.get("digest").and_then(Value::as_str) == Some(&a.layer_digest)
                && l.get("size").and_then(Value::as_u64) == Some(a.layer_size)
                && l.get("mediaType").and_then(Value::as_str) == Some(&a.layer_media_type)
                && l.pointer("/annotations/org.opencontainers.image.title")
                    .and_then(Value::as_str)
                    == Some(&a.layer_title)
        }) && im.get("artifactType").and_then(Value::as_str) == Some(&a.artifact_type);
        if !ok {
            return Err(r23(&format!(
                "the image manifest of {} does not describe its layer",
                a.kind
            )));
        }
        allowed.push(mpath);
        allowed.push(blob(&a.layer_digest));
        if let Some(c) = im.pointer("/config/digest").and_then(Value::as_str) {
            if c.len() == 71 && c.starts_with("sha256:") {
                allowed.push(blob(c));
            }
        }
    }
    for p in oci_payloads {
        if !allowed.contains(p) {
            return Err(r23(&format!(
                "{p} is no artifact's manifest, config or layer"
            )));
        }
    }
    Ok(())
}
