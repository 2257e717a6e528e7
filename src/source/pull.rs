//! Artifacts straight from OCI registries, as Trivy would download them.
//!
//! For each artifact a list of references is tried in order; any failure
//! (unreachable, refused credentials, 404, 5xx, 429 after back-off, a
//! server that stalls or sends below the floor rate, a `Retry-After` longer
//! than airlock waits, a blob of the wrong size or digest) moves on to the
//! next one, and the reasons are kept for the report. Explicit credentials
//! belong to the registry of the list's first reference only. The manifest
//! and config are kept byte for byte as the registry served them; the layer
//! streams to a file in the export's work directory, its SHA-256 checked as
//! it arrives, then is validated like a local file. Only a transient
//! failure (a reset connection, 429, 502-504) is retried, within the
//! registry's retry budget; the retry starts the file again, it never
//! appends.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::rc::Rc;

use crate::artifact::{self, oci};
use crate::digest::Sha256Digest;
use crate::error::{Classify as _, FlagHint, Hint, PathIo};
use crate::manifest::{self, ArtifactKind, Payload};
use crate::progress::Progress;
use crate::registry::{Client, Options, RegistryError};

use super::{files, Content, PlannedPayload, Prepared, SourceError};

/// The largest layer accepted from a registry (today's Java DB is ~1 GB).
pub const MAX_LAYER: u64 = 64 << 30;

/// Trivy 0.76's default repositories for each artifact, in the order it
/// tries them.
pub fn default_references(kind: ArtifactKind) -> Vec<String> {
    let (name, upstream) = match kind {
        ArtifactKind::TrivyDb => ("trivy-db:2", "trivy-db:2"),
        ArtifactKind::JavaDb => ("trivy-java-db:1", "trivy-java-db:1"),
        ArtifactKind::Checks => ("trivy-checks:2", "trivy-checks:2"),
    };
    vec![
        format!("mirror.gcr.io/aquasec/{name}"),
        format!("ghcr.io/aquasecurity/{upstream}"),
    ]
}

pub use crate::oci_name::Reference;

/// Whether a source argument names a registry reference rather than a file:
/// it is not an existing path and parses as a reference with a host
/// (`docker.io/...` included: [`crate::docker_ref`]).
pub fn is_reference(text: &str) -> bool {
    !Path::new(text).exists() && Reference::parse(text).is_ok()
}

/// A source reference as it is pulled: Docker Hub's names normalised
/// ([`crate::docker_ref`]), so `docker.io/aquasec/trivy-db:2` is fetched
/// from `registry-1.docker.io`, whose credentials and token service it uses.
fn parse_source(text: &str) -> Result<Reference, crate::oci_name::NameError> {
    crate::docker_ref::parse(text)
}

/// A reference that was tried and skipped, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// The reference.
    pub reference: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Pulls `kind` from the first of `refs` that works into `work`, then
/// validates it. Returns the prepared artifact and what was skipped.
pub fn pull(
    kind: ArtifactKind,
    refs: &[String],
    work: &Path,
    opts: &Options,
    now: &str,
    progress: &dyn Progress,
) -> Result<(Prepared, Vec<Skipped>), SourceError> {
    let mut skipped = Vec::new();
    let mut hints: Vec<Hint> = Vec::new();
    // The explicit credentials (and Trivy's variables) belong to the
    // registry of the list's first reference; the others get their own
    // Docker-config credentials or none (issue 17, item 3).
    let owner = refs.first().and_then(|t| parse_source(t).ok());
    let opts = match &owner {
        Some(o) => opts.for_credentials_host(&o.host),
        None => opts.clone(),
    };
    let opts = &opts;
    for text in refs {
        let r = match parse_source(text) {
            Ok(r) => r,
            Err(_) => {
                skipped.push(Skipped {
                    // Not a reference: maybe a URL, with whatever it carries.
                    reference: crate::redact::url(text).into_owned(),
                    reason: "not a registry reference (host/repository[:tag][@sha256:...])".into(),
                });
                continue;
            }
        };
        note_other_host(owner.as_ref(), &r, opts, progress);
        match pull_one(kind, &r, work, opts, now, progress) {
            Ok(p) => return Ok((p, skipped)),
            Err(e) => {
                // The advice of a failure (which flag names a host for plain
                // http, a token realm, ...) is kept for the final message.
                if let Some(h) = e.hint() {
                    if !hints.contains(&h) {
                        hints.push(h);
                    }
                }
                let text = crate::error::chain_text(&e);
                let reason = text.lines().next().unwrap_or_default().to_string();
                progress.note(&format!("{r}: skipped: {reason}"));
                skipped.push(Skipped {
                    reference: r.to_string(),
                    reason,
                });
            }
        }
    }
    Err(none_served(kind, &skipped, hints))
}

/// Says once a run that the explicit credentials stay with the list's first
/// registry when `r` is on another host.
fn note_other_host(
    owner: Option<&Reference>,
    r: &Reference,
    opts: &Options,
    progress: &dyn Progress,
) {
    if owner.is_some_and(|o| !o.host.eq_ignore_ascii_case(&r.host))
        && crate::registry::auth::has_unscoped(opts)
        && !NOTED_OTHER_HOST.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        let o = owner.map(|o| o.host.as_str()).unwrap_or_default();
        progress.note(&format!(
            "note: --username/--password-stdin and TRIVY_USERNAME/TRIVY_PASSWORD/TRIVY_REGISTRY_TOKEN are sent only to {o} (the first reference of the list); {} and other registries get their own Docker-config credentials or none",
            r.host
        ));
    }
}

/// No reference served `kind`: each one skipped and why, one escaped line
/// each, with the advice their failures gave.
fn none_served(kind: ArtifactKind, skipped: &[Skipped], mut hints: Vec<Hint>) -> SourceError {
    hints.push(Hint::Flag(FlagHint::GiveFiles {
        kind: kind.to_string(),
    }));
    SourceError::NoneServed {
        message: format!(
            "no repository served the {kind}:\n{}",
            skipped
                .iter()
                .map(|s| format!(
                    "  - {}: {}",
                    crate::text::escape(&s.reference),
                    crate::text::escape(&s.reason)
                ))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        hints,
    }
}

/// Whether the note on credentials scoped to the first reference was
/// given (once a run).
static NOTED_OTHER_HOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn registry_err(e: RegistryError) -> SourceError {
    SourceError::Registry(e)
}

fn pull_one(
    kind: ArtifactKind,
    r: &Reference,
    work: &Path,
    opts: &Options,
    now: &str,
    progress: &dyn Progress,
) -> Result<Prepared, SourceError> {
    let client = Client::connect(&r.host, opts).map_err(registry_err)?;
    let served = fetch_manifest(&client, r)?;
    let (layer, title) = check_layer(kind, r, &served.manifest)?;
    // The layer lands in the work directory, then is copied into the
    // bundle on the same file system: refuse now what cannot fit, before
    // a byte is written.
    check_space(work, layer.size.saturating_mul(2), &r.to_string())?;
    let m = &served.manifest;
    let mut config = Vec::new();
    client
        .get_blob(&r.repository, &m.config.digest, m.config.size, &mut config)
        .map_err(registry_err)?;
    let path = download_layer(&client, kind, r, layer, work, progress)?;
    let layer = layer.clone();
    let pulled = Pulled {
        served,
        config,
        layer,
        title,
        path,
    };
    prepare(kind, r, pulled, now)
}

/// An image manifest as the registry served it: its bytes, their digest,
/// and the parsed form.
struct Served {
    bytes: Vec<u8>,
    digest: String,
    manifest: oci::ImageManifest,
}

/// Everything downloaded for one artifact.
struct Pulled {
    served: Served,
    /// The config blob, as served.
    config: Vec<u8>,
    /// The manifest's one layer.
    layer: oci::Descriptor,
    /// The layer's title annotation.
    title: String,
    /// Where the layer was downloaded.
    path: std::path::PathBuf,
}

/// The manifest `r` names, checked against a pinned digest, unambiguous,
/// with every digest in it well formed.
fn fetch_manifest(client: &Client, r: &Reference) -> Result<Served, SourceError> {
    let (manifest_bytes, manifest_digest) = client
        .get_manifest(&r.repository, &r.reference)
        .map_err(registry_err)?;
    if let Some(pinned) = &r.digest {
        if *pinned != manifest_digest {
            return Err(SourceError::Invalid(format!(
                "the manifest served for {r} has digest {manifest_digest}"
            )));
        }
    }
    check_not_ambiguous(&manifest_bytes).map_err(|e| SourceError::Invalid(format!("{r}: {e}")))?;
    let m: oci::ImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| SourceError::Invalid(format!("{r} is not an OCI image manifest: {e}")))?;
    // Digests from the registry are checked before they name a file or a
    // URL (`sha256:../../x` would otherwise reach a path).
    for d in m.layers.iter().chain([&m.config]) {
        crate::oci_name::check_digest(&d.digest)
            .map_err(|e| SourceError::Invalid(format!("{r}: {e}")))?;
    }
    Ok(Served {
        bytes: manifest_bytes,
        digest: manifest_digest,
        manifest: m,
    })
}

/// The manifest's one layer, as Trivy requires it (media type, title, a
/// size airlock accepts; a small config), and the layer's title.
fn check_layer<'m>(
    kind: ArtifactKind,
    r: &Reference,
    m: &'m oci::ImageManifest,
) -> Result<(&'m oci::Descriptor, String), SourceError> {
    let info = artifact::info(kind);
    let [layer] = &m.layers[..] else {
        return Err(SourceError::Invalid(format!(
            "{r} has {} layers; Trivy requires exactly one",
            m.layers.len()
        )));
    };
    if layer.media_type != info.layer_media_type {
        return Err(SourceError::Invalid(format!(
            "{r}: the layer's media type is {}, Trivy requires {}",
            layer.media_type, info.layer_media_type
        )));
    }
    let title = layer.annotations.get(oci::TITLE).cloned().ok_or_else(|| {
        SourceError::Invalid(format!("{r}: the layer has no {} annotation", oci::TITLE))
    })?;
    if layer.size > MAX_LAYER {
        return Err(SourceError::Invalid(format!(
            "{r}: the layer claims {} bytes, more than airlock accepts ({MAX_LAYER})",
            layer.size
        )));
    }
    if m.config.size > 1 << 20 {
        return Err(SourceError::Invalid(format!(
            "{r}: the config blob is too large"
        )));
    }
    Ok((layer, title))
}

/// The layer, to a file in `work`, hashed as it arrives; a transient
/// failure is tried again from the start of the file.
fn download_layer(
    client: &Client,
    kind: ArtifactKind,
    r: &Reference,
    layer: &oci::Descriptor,
    work: &Path,
    progress: &dyn Progress,
) -> Result<std::path::PathBuf, SourceError> {
    // Checked in fetch_manifest: always the OCI form.
    let name = Sha256Digest::parse_oci(&layer.digest)
        .map(|d| d.hex())
        .map_err(|_| SourceError::Invalid(format!("{r}: bad layer digest {}", layer.digest)))?;
    let path = work.join(format!("{kind}-{name}"));
    let mut attempt = 0;
    loop {
        let f = File::create(&path).map_err(PathIo::at("cannot read", &path))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        progress.begin(&kind.to_string(), layer.size);
        let mut counted = CountingWriter {
            inner: &mut out,
            progress,
        };
        let got = client.get_blob(&r.repository, &layer.digest, layer.size, &mut counted);
        progress.end();
        match got {
            Ok(()) => {
                out.flush().map_err(PathIo::at("cannot read", &path))?;
                break;
            }
            // A stall, a wrong size or digest is final; only a transient
            // failure is tried again, within the registry's budget.
            Err(e) if e.is_transient() && attempt < 2 && client.take_retry() => {
                attempt += 1;
                progress.note(&format!("{r}: retrying the layer download: {e}"));
                std::thread::sleep(std::time::Duration::from_secs(1 << attempt));
            }
            Err(e) => return Err(registry_err(e)),
        }
    }
    Ok(path)
}

/// The downloaded layer validated like a local file, with the registry's
/// own manifest and config kept byte for byte.
fn prepare(
    kind: ArtifactKind,
    r: &Reference,
    pulled: Pulled,
    now: &str,
) -> Result<Prepared, SourceError> {
    let Pulled {
        served:
            Served {
                bytes: manifest_bytes,
                digest: manifest_digest,
                manifest: m,
            },
        config,
        layer,
        title,
        path,
    } = pulled;
    let checks = match kind {
        ArtifactKind::Checks => Some(files::checks_info(
            m.annotations.get(oci::VERSION).map(String::as_str),
        )?),
        _ => None,
    };
    let prepared = files::layer(
        kind,
        &path,
        Content::Built(Rc::new(path.clone())),
        format!("registry: {r}"),
        checks,
        None,
        &crate::progress::NoProgress,
    )?;
    let Prepared::Oci {
        mut entry,
        payloads,
    } = prepared
    else {
        unreachable!("a layer gives an OCI artifact")
    };
    let digest = |d: &str| {
        Sha256Digest::parse_oci(d).map_err(|_| SourceError::Invalid(format!("{r}: bad digest {d}")))
    };
    let manifest_digest = digest(&manifest_digest)?;
    let layer_digest = digest(&layer.digest)?;
    // Keep the registry's own manifest and config, byte for byte.
    entry.reference = Some(r.to_string());
    entry.manifest_digest = manifest_digest;
    entry.artifact_type = m
        .artifact_type
        .clone()
        .unwrap_or_else(|| m.config.media_type.clone());
    entry.layer.title = manifest::PlainName::new(title)
        .map_err(|e| SourceError::Invalid(format!("{r}: the layer's title: {e}")))?;
    entry.fetched_at = Some(
        now.parse()
            .map_err(|e| SourceError::Invalid(format!("{r}: fetched_at: {e}")))?,
    );
    if entry.layer.digest != layer_digest || entry.layer.size != layer.size {
        return Err(SourceError::Invalid(format!(
            "{r}: the layer downloaded is {} ({} bytes), the manifest says {} ({} bytes)",
            entry.layer.digest.oci(),
            entry.layer.size,
            layer.digest,
            layer.size
        )));
    }
    let layer_payload = payloads
        .into_iter()
        .find(|p| p.payload.path == manifest::Manifest::blob_path(&layer_digest))
        .expect("the layer is a payload");
    let [manifest_blob, config_blob] =
        kept_blobs(r, manifest_bytes, manifest_digest, &m.config.digest, config)?;
    let payloads = vec![manifest_blob, config_blob, layer_payload];
    Ok(Prepared::Oci { entry, payloads })
}

/// The registry's own manifest and config, as payloads kept byte for byte.
fn kept_blobs(
    r: &Reference,
    manifest_bytes: Vec<u8>,
    manifest_digest: Sha256Digest,
    config_oci_digest: &str,
    config: Vec<u8>,
) -> Result<[PlannedPayload; 2], SourceError> {
    let config_digest = Sha256Digest::parse_oci(config_oci_digest)
        .map_err(|_| SourceError::Invalid(format!("{r}: bad config digest {config_oci_digest}")))?;
    Ok([
        PlannedPayload {
            payload: Payload {
                path: manifest::Manifest::blob_path(&manifest_digest),
                size: manifest_bytes.len() as u64,
                sha256: manifest_digest,
            },
            content: Content::Bytes(Rc::new(manifest_bytes)),
            crc32: None,
        },
        PlannedPayload {
            payload: Payload {
                path: manifest::Manifest::blob_path(&config_digest),
                size: config.len() as u64,
                sha256: config_digest,
            },
            content: Content::Bytes(Rc::new(config)),
            crc32: None,
        },
    ])
}

/// The free space the work directory keeps after a download, for the
/// bundle's own overhead and everything else on the file system.
pub const SPACE_RESERVE: u64 = 64 << 20;

/// Refuses, before anything is written, a download of `needed` bytes (what
/// it and its copy in the bundle take) that the work directory's file
/// system cannot hold with [`SPACE_RESERVE`] to spare.
pub(crate) fn check_space(work: &Path, needed: u64, what: &str) -> Result<(), SourceError> {
    let free = crate::disk::free(work).map_err(PathIo::at("cannot read", work))?;
    let wanted = needed.saturating_add(SPACE_RESERVE);
    if free.bytes < wanted {
        return Err(SourceError::Unavailable(format!(
            "{what}: not enough free space in {}: the download and its copy in the bundle need {wanted} bytes with the reserve, {} are free",
            work.display(),
            free.bytes
        )));
    }
    Ok(())
}

/// Refuses a document that is both an image index and an image manifest
/// (an index `mediaType`, or `manifests`, beside `config` or `layers`):
/// parsers disagree on which half they read, so one registry document
/// could be two artifacts (issue 17, item 6).
fn check_not_ambiguous(bytes: &[u8]) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
        config: Option<serde::de::IgnoredAny>,
        layers: Option<serde::de::IgnoredAny>,
    }
    let Ok(shape) = serde_json::from_slice::<Shape>(bytes) else {
        // Not even that shape: the manifest parser says why.
        return Ok(());
    };
    let index_type = matches!(
        shape.media_type.as_deref(),
        Some(
            "application/vnd.oci.image.index.v1+json"
                | "application/vnd.docker.distribution.manifest.list.v2+json"
        )
    );
    let index = index_type || shape.manifests.is_some();
    if index && (shape.config.is_some() || shape.layers.is_some()) {
        return Err(format!(
            "the registry served an ambiguous document: {} and also {}; refusing it (an image index must not carry config or layers)",
            if index_type {
                format!(
                    "its mediaType is the image index {}",
                    crate::text::escape(shape.media_type.as_deref().unwrap_or_default())
                )
            } else {
                "it lists manifests like an image index".to_string()
            },
            match (shape.config.is_some(), shape.layers.is_some()) {
                (true, true) => "config and layers",
                (true, false) => "a config",
                _ => "layers",
            }
        ));
    }
    if index_type {
        return Err(
            "the registry served an image index, not an image manifest; give a reference to the platform-independent artifact manifest".into(),
        );
    }
    Ok(())
}

/// Reports bytes written through it.
struct CountingWriter<'a, W> {
    inner: W,
    progress: &'a dyn Progress,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_documents_with_config_or_layers_are_refused() {
        let layers = r#""config":{"mediaType":"x","digest":"sha256:0","size":2},"layers":[]"#;
        for doc in [
            format!(r#"{{"mediaType":"application/vnd.oci.image.index.v1+json",{layers}}}"#),
            format!(r#"{{"manifests":[],{layers}}}"#),
            r#"{"manifests":[],"layers":[]}"#.to_string(),
        ] {
            let e = check_not_ambiguous(doc.as_bytes()).unwrap_err();
            assert!(e.contains("ambiguous"), "{e}");
        }
        check_not_ambiguous(
            format!(r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json",{layers}}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert!(check_not_ambiguous(
            br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
        )
        .unwrap_err()
        .contains("image index"));
    }

    #[test]
    fn references() {
        let r = Reference::parse("mirror.gcr.io/aquasec/trivy-db:2").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("mirror.gcr.io", "aquasec/trivy-db", "2")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/x/trivy-db@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/x/trivy-db@{d}"));
        for bad in [
            "db.tar.gz",
            "trivy-db:2",
            "./x/y",
            "host.io/UPPER:1",
            "host.io/a@sha256:1",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
