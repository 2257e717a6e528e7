//! Artifacts from files already downloaded: a `db.tar.gz`, `javadb.tar.gz`
//! or checks `bundle.tar.gz` exactly as published, and VEX repository pairs
//! (vex-repository.json + archive).
//!
//! Each input is read once to validate and hash it (a layer on two cores:
//! one thread hashes while the other inflates and checks; export checks
//! two layer files at once, see [`check_layer`]); the bundle writer reads
//! it again and refuses it if it changed in between.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::artifact::vex::{self, ArchiveFormat};
use crate::artifact::{self, CHECKS_MAJOR};
use crate::bundle::writer::Crc32Reader;
use crate::digest::{Hasher, HashingReader};
use crate::error::PathIo;
use crate::manifest::{ArtifactKind, ChecksInfo, PayloadPath, PlainName, Subdir, VexRepository};
use crate::progress::{Progress, ProgressReader};
use crate::unpack::{Discard, Limits};

use super::{oci_artifact, Content, LayerFacts, PlannedPayload, Prepared, SourceError};

/// Parses a checks bundle version such as `2.1.0`; its major must be 2.
pub fn checks_info(version: Option<&str>) -> Result<ChecksInfo, SourceError> {
    let Some(v) = version else {
        return Ok(ChecksInfo {
            version: None,
            major_version: CHECKS_MAJOR,
        });
    };
    let major = v
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok())
        .ok_or_else(|| {
            SourceError::Invalid(format!("checks version {v:?} is not MAJOR.MINOR.PATCH"))
        })?;
    if major != CHECKS_MAJOR {
        return Err(SourceError::Invalid(format!(
            "checks bundle version {v} has major {major}; Trivy 0.76 accepts only major {CHECKS_MAJOR}"
        )));
    }
    Ok(ChecksInfo {
        version: Some(v.to_string()),
        major_version: major,
    })
}

/// A published layer file (`--trivy-db`, `--java-db`, `--checks`).
pub fn layer_file(
    kind: ArtifactKind,
    path: &Path,
    checks: Option<ChecksInfo>,
    progress: &dyn Progress,
) -> Result<Prepared, SourceError> {
    let checked = check_layer(kind, path, progress)?;
    layer_file_checked(kind, path, checks, checked)
}

/// A published layer file that [`check_layer`] passed, wrapped as an OCI
/// artifact (its bytes planned from `path`).
pub fn layer_file_checked(
    kind: ArtifactKind,
    path: &Path,
    checks: Option<ChecksInfo>,
    checked: CheckedLayer,
) -> Result<Prepared, SourceError> {
    wrap_layer(
        kind,
        Content::File(path.to_path_buf()),
        format!("file: {}", file_name(path)),
        checks,
        None,
        checked,
    )
}

/// Validates and hashes a layer in one pass (its bytes reported to
/// `progress`) and wraps it as an OCI artifact.
pub(crate) fn layer(
    kind: ArtifactKind,
    path: &Path,
    content: Content,
    source: String,
    checks: Option<ChecksInfo>,
    upstream_manifest_digest: Option<crate::digest::Sha256Digest>,
    progress: &dyn Progress,
) -> Result<Prepared, SourceError> {
    let checked = check_layer(kind, path, progress)?;
    wrap_layer(
        kind,
        content,
        source,
        checks,
        upstream_manifest_digest,
        checked,
    )
}

/// What [`check_layer`] found in a layer file: its digest and size and what
/// it holds. Owned and `Send`, so that several layers can be checked on
/// several threads (export, issue 12).
#[derive(Debug)]
pub struct CheckedLayer {
    digest: crate::digest::Sha256Digest,
    size: u64,
    crc32: u32,
    contents: artifact::LayerContents,
}

/// Every check of a layer file of `kind`, in one read of it (its bytes
/// reported to `progress`): the walk, the metadata's schema version and the
/// whole database file; with the layer's SHA-256 and size.
///
/// # Errors
/// The file cannot be read, or the layer is refused.
pub fn check_layer(
    kind: ArtifactKind,
    path: &Path,
    progress: &dyn Progress,
) -> Result<CheckedLayer, SourceError> {
    let f = File::open(path).map_err(PathIo::at("cannot read", path))?;
    let len = f.metadata().map_or(0, |m| m.len());
    let counted = ProgressReader::new(f, progress);
    // One pass on two cores (issue 12): the layer's SHA-256 runs on a
    // second thread while this one inflates and checks; its CRC-32, for
    // the bundle writer's re-check, costs little here.
    let mut hashing = HashingReader::with_hasher(
        Crc32Reader::new(BufReader::with_capacity(1 << 16, counted)),
        Hasher::for_len(len),
    );
    let mut spool = artifact::SpoolSink::new(kind);
    let contents = artifact::scan_layer(kind, &mut hashing, Limits::LOCAL_INPUT, &mut spool)
        .map_err(|source| SourceError::Artifact {
            path: path.to_path_buf(),
            source,
        })?;
    // Bytes after the gzip member still belong to the blob.
    io::copy(&mut hashing, &mut io::sink()).map_err(PathIo::at("cannot read", path))?;
    let (digest, size, crc) = hashing.finish();
    let (crc32, _) = crc.finish();
    if let Some(meta) = &contents.metadata {
        artifact::check_schema(kind, meta.version).map_err(|source| SourceError::Artifact {
            path: path.to_path_buf(),
            source,
        })?;
    }
    // Never bundle a database Trivy cannot open (issue 11).
    if let Some(copy) = spool.into_copy() {
        artifact::check_database(kind, copy)
            .map_err(PathIo::at("cannot read", path))?
            .map_err(|source| SourceError::Artifact {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(CheckedLayer {
        digest,
        size,
        crc32,
        contents,
    })
}

/// A checked layer as an OCI artifact whose bytes are at `content`.
fn wrap_layer(
    kind: ArtifactKind,
    content: Content,
    source: String,
    checks: Option<ChecksInfo>,
    upstream_manifest_digest: Option<crate::digest::Sha256Digest>,
    checked: CheckedLayer,
) -> Result<Prepared, SourceError> {
    let checks = match kind {
        ArtifactKind::Checks => Some(checks.unwrap_or(checks_info(None)?)),
        _ => None,
    };
    oci_artifact(LayerFacts {
        kind,
        source,
        content,
        digest: checked.digest,
        size: checked.size,
        contents: checked.contents,
        checks,
        upstream_manifest_digest,
        crc32: Some(checked.crc32),
    })
}

/// A VEX repository from its vex-repository.json and archive files.
pub fn vex_files(
    name: &str,
    manifest: &Path,
    archive: &Path,
    progress: &dyn Progress,
) -> Result<Prepared, SourceError> {
    let bytes = read_limited(manifest, vex::MAX_MANIFEST)?;
    vex_repository(
        name,
        bytes,
        archive,
        Content::File(archive.to_path_buf()),
        format!("files: {} + {}", file_name(manifest), file_name(archive)),
        progress,
    )
}

pub(crate) fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, SourceError> {
    let f = File::open(path).map_err(PathIo::at("cannot read", path))?;
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(PathIo::at("cannot read", path))?;
    if bytes.len() as u64 > max {
        return Err(SourceError::Invalid(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Validates a VEX repository (manifest bytes + archive file) and plans its
/// payloads under `vex/<name>/` (the hashing pass's bytes reported to
/// `progress`).
pub(crate) fn vex_repository(
    name: &str,
    manifest_bytes: Vec<u8>,
    archive: &Path,
    content: Content,
    source: String,
    progress: &dyn Progress,
) -> Result<Prepared, SourceError> {
    let plain = PlainName::new(name)
        .map_err(|e| SourceError::Invalid(format!("VEX repository name: {e}")))?;
    let vex_err = |source| SourceError::Vex {
        name: name.to_string(),
        source,
    };
    let repo = vex::parse_manifest(&manifest_bytes).map_err(vex_err)?;
    let mut f = File::open(archive).map_err(PathIo::at("cannot read", archive))?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut f, &mut head).map_err(PathIo::at("cannot read", archive))?;
    let format = ArchiveFormat::sniff(&head[..n]).map_err(vex_err)?;
    let contents = vex::scan_archive(
        format,
        BufReader::new(f),
        &repo.subdir,
        Limits::LOCAL_INPUT,
        &mut Discard,
    )
    .map_err(vex_err)?;
    let mut hashing = HashingReader::new(ProgressReader::new(
        File::open(archive).map_err(PathIo::at("cannot read", archive))?,
        progress,
    ));
    io::copy(&mut hashing, &mut io::sink()).map_err(PathIo::at("cannot read", archive))?;
    let (digest, size, _) = hashing.finish();
    let manifest_path = PayloadPath::vex_manifest(&plain);
    let archive_path = PayloadPath::vex_archive(&plain, format);
    let subdir = Subdir::new(repo.subdir)
        .map_err(|e| SourceError::Invalid(format!("VEX repository {name:?}: {e}")))?;
    let entry = VexRepository {
        name: plain,
        source,
        title: repo.name,
        manifest_path: manifest_path.clone(),
        archive_path: archive_path.clone(),
        archive_format: format,
        subdir,
        spec_version: vex::SPEC_VERSION.to_string(),
        // Signed and shown: never with the credentials or tokens a
        // location may carry.
        original_location: crate::redact::url(&repo.location).into_owned(),
        updated_at: contents.updated_at,
        packages: contents.packages,
        unpacked: contents.unpacked,
    };
    let payloads = vec![
        PlannedPayload::bytes(manifest_path, manifest_bytes),
        PlannedPayload {
            payload: crate::manifest::Payload {
                path: archive_path,
                size,
                sha256: digest,
            },
            content,
            crc32: None,
        },
    ];
    Ok(Prepared::Vex { entry, payloads })
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A built file's content handle.
pub(crate) fn built(path: PathBuf) -> Content {
    Content::Built(Rc::new(path))
}

/// The file name alone: the manifest records where an input came from
/// without the connected host's directory layout (and so stays the same
/// wherever the same files are exported from).
fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
