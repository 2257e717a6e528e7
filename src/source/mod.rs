//! Where export gets artifacts: files already downloaded ([`files`]) or an
//! existing Trivy cache ([`cache`]). Each source validates what it finds
//! and yields [`Prepared`] artifacts: manifest entries plus the payloads
//! that carry them, with where each payload's bytes live.

pub mod cache;
pub mod files;
pub mod pull;
pub mod vexhub;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use crate::artifact::oci::{self, Descriptor, ImageManifest};
use crate::artifact::vex::VexError;
use crate::artifact::{self, ArtifactError, LayerContents};
use crate::digest::Sha256Digest;
use crate::error::{FlagHint, Hint};
use crate::manifest::{self, ArtifactKind, ChecksInfo, Database, Layer, Payload};

/// Why a source was refused.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading an input failed.
    #[error(transparent)]
    Io(#[from] crate::error::PathIo),
    /// A layer file is not a valid artifact.
    #[error("{}", crate::text::path(path))]
    Artifact {
        /// The input.
        path: PathBuf,
        /// Why.
        #[source]
        source: ArtifactError,
    },
    /// A VEX repository is not valid.
    #[error("VEX repository {name:?}")]
    Vex {
        /// The repository name.
        name: String,
        /// Why.
        #[source]
        source: VexError,
    },
    /// A cache directory lacks what it should hold.
    #[error("{}: {reason}", crate::text::path(path))]
    Cache {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bad name or version given on the command line.
    #[error("{0}")]
    Invalid(String),
    /// No registry or server provided the artifact (network, credentials, absent).
    #[error("{0}")]
    Unavailable(String),
    /// None of the references given served the artifact: each one's
    /// reason, and the advice of each refusal.
    #[error("{message}")]
    NoneServed {
        /// The artifact and every reference with its reason.
        message: String,
        /// The advice, one per kind of refusal, then the general one.
        hints: Vec<Hint>,
    },
    /// A registry refused or failed (reported per reference by
    /// [`pull::pull`]).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// A cache directory that is not what `--from-cache` takes.
    #[error("{}: {reason}", crate::text::path(path))]
    NotACache {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
        /// What to do.
        hint: Hint,
    },
    /// A VEX server refused the request (401 or 403).
    #[error("GET {url}: the server answered {status} (credentials sent: {sent})")]
    VexRefused {
        /// The URL (redacted).
        url: String,
        /// 401 or 403.
        status: u16,
        /// What the server that answered was sent ("none", "user name
        /// and password", "token", none after a redirect).
        sent: String,
        /// Its `host[:port]`.
        host: String,
    },
    /// VEX credentials that would travel over plain http to a host not
    /// named by `--plain-http`: nothing was sent.
    #[error("VEX repository {name:?}: the credentials for {host} would go over plain http ({url}); nothing was sent")]
    VexCredentialsOverPlainHttp {
        /// The repository name.
        name: String,
        /// The URL (redacted).
        url: String,
        /// Its `host[:port]`.
        host: String,
    },
    /// A VEX manifest fetched over https whose archive is on plain http.
    #[error("VEX repository {name:?}: the manifest came over https but its archive location {url} is not https")]
    PlainHttpArchive {
        /// The repository name.
        name: String,
        /// The archive URL (redacted).
        url: String,
        /// Its `host[:port]`, or `HOST` when it has none.
        host: String,
    },
}

impl crate::error::Classify for SourceError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            SourceError::Io(_)
            | SourceError::Unavailable(_)
            | SourceError::NoneServed { .. }
            | SourceError::VexRefused { .. }
            | SourceError::Registry(_) => HostFailure,
            // Export refused its input, whatever the inner error says of it
            // (an archive that cannot be unpacked is bad input here).
            SourceError::Artifact { .. }
            | SourceError::Vex { .. }
            | SourceError::Cache { .. }
            | SourceError::NotACache { .. }
            | SourceError::PlainHttpArchive { .. }
            | SourceError::VexCredentialsOverPlainHttp { .. }
            | SourceError::Invalid(_) => BadInput,
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            SourceError::Artifact { source, .. } => source.hint(),
            SourceError::Vex { source, .. } => source.hint(),
            SourceError::Registry(e) => e.hint(),
            SourceError::NoneServed { hints, .. } => Some(Hint::Several(hints.clone())),
            SourceError::NotACache { hint, .. } => Some(hint.clone()),
            SourceError::PlainHttpArchive { host, .. } => Some(Hint::Flag(FlagHint::PlainHttp {
                host: host.clone(),
                serves: "serves the archive over plain http only",
            })),
            SourceError::VexRefused { host, .. } => {
                Some(Hint::Flag(FlagHint::VexCredentials { host: host.clone() }))
            }
            SourceError::VexCredentialsOverPlainHttp { host, .. } => {
                Some(Hint::Flag(FlagHint::PlainHttp {
                    host: host.clone(),
                    serves: "serves its VEX repository over plain http only",
                }))
            }
            SourceError::Io(_)
            | SourceError::Cache { .. }
            | SourceError::Invalid(_)
            | SourceError::Unavailable(_) => None,
        }
    }
}

/// Where a payload's bytes are.
#[derive(Debug, Clone)]
pub enum Content {
    /// A file the user gave.
    File(PathBuf),
    /// A file export built (removed with the export's temporary directory).
    Built(Rc<PathBuf>),
    /// Bytes in memory (small documents only).
    Bytes(Rc<Vec<u8>>),
}

/// A payload and its bytes.
#[derive(Debug, Clone)]
pub struct PlannedPayload {
    /// The manifest entry.
    pub payload: Payload,
    /// Where the bytes are.
    pub content: Content,
    /// The CRC-32 of the bytes the first pass read and hashed, when it
    /// took one: the bundle writer re-checks the bytes it copies against it
    /// instead of hashing them again (`None`: it hashes them again).
    pub crc32: Option<u32>,
}

impl PlannedPayload {
    /// A small in-memory document.
    pub fn bytes(path: manifest::PayloadPath, bytes: Vec<u8>) -> Self {
        PlannedPayload {
            payload: Payload {
                path,
                size: bytes.len() as u64,
                sha256: Sha256Digest::of(&bytes),
            },
            content: Content::Bytes(Rc::new(bytes)),
            crc32: None,
        }
    }
}

/// One validated artifact ready to be bundled.
// A handful per export, moved a few times: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Prepared {
    /// An OCI artifact.
    Oci {
        /// Its manifest entry.
        entry: manifest::Artifact,
        /// Its payloads (image manifest, config, layer).
        payloads: Vec<PlannedPayload>,
    },
    /// A VEX repository.
    Vex {
        /// Its manifest entry.
        entry: manifest::VexRepository,
        /// Its payloads (vex-repository.json, archive).
        payloads: Vec<PlannedPayload>,
    },
}

/// Details of a layer to wrap as an OCI artifact.
pub(crate) struct LayerFacts {
    pub kind: ArtifactKind,
    pub source: String,
    pub content: Content,
    pub digest: Sha256Digest,
    pub size: u64,
    pub contents: LayerContents,
    pub checks: Option<ChecksInfo>,
    pub upstream_manifest_digest: Option<Sha256Digest>,
    /// The CRC-32 of the layer's bytes as they were hashed.
    pub crc32: Option<u32>,
}

/// A value a manifest field refuses, as a refusal of the input.
fn invalid<T>(kind: ArtifactKind, r: Result<T, manifest::ManifestError>) -> Result<T, SourceError> {
    r.map_err(|e| SourceError::Invalid(format!("{kind}: {e}")))
}

/// Wraps a validated layer in an OCI image manifest shaped as Trivy's
/// registries serve it.
pub(crate) fn oci_artifact(f: LayerFacts) -> Result<Prepared, SourceError> {
    let info = artifact::info(f.kind);
    let layer = Layer {
        media_type: info.layer_media_type.to_string(),
        digest: f.digest,
        size: f.size,
        title: invalid(f.kind, manifest::PlainName::new(info.title))?,
    };
    let database = match (&f.contents.db_file, &f.contents.metadata, info.db_file) {
        (Some(file), Some(meta), Some(name)) => Some(Database {
            schema_version: meta.version,
            updated_at: invalid(f.kind, meta.updated_at.parse())?,
            next_update: invalid(f.kind, meta.next_update.parse())?,
            file: invalid(f.kind, manifest::PlainName::new(name))?,
            size: file.size,
            sha256: file.sha256,
        }),
        _ => None,
    };
    let mut annotations = BTreeMap::new();
    if let Some(db) = &database {
        // Stable across exports of the same database.
        annotations.insert(oci::CREATED.to_string(), db.updated_at.to_string());
    }
    if let Some(v) = f.checks.as_ref().and_then(|c| c.version.clone()) {
        annotations.insert(oci::VERSION.to_string(), v);
    }
    let image = ImageManifest::single_layer(
        info.artifact_type,
        Descriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.oci(),
            size: layer.size,
            annotations: BTreeMap::from([(oci::TITLE.to_string(), layer.title.to_string())]),
        },
        annotations,
    );
    let image_bytes = image.to_bytes();
    let manifest_digest = Sha256Digest::of(&image_bytes);
    let entry = manifest::Artifact {
        kind: f.kind,
        source: f.source,
        reference: None,
        repository: f.kind.repository().to_string(),
        tag: info.tag.to_string(),
        manifest_digest,
        upstream_manifest_digest: f.upstream_manifest_digest,
        artifact_type: info.artifact_type.to_string(),
        layer: layer.clone(),
        unpacked: f.contents.unpacked,
        database,
        checks: f.checks,
        fetched_at: None,
    };
    let payloads = vec![
        PlannedPayload::bytes(manifest::Manifest::blob_path(&manifest_digest), image_bytes),
        PlannedPayload::bytes(
            manifest::Manifest::blob_path(&Sha256Digest::of(oci::EMPTY_CONFIG)),
            oci::EMPTY_CONFIG.to_vec(),
        ),
        PlannedPayload {
            payload: Payload {
                path: manifest::Manifest::blob_path(&f.digest),
                size: f.size,
                sha256: f.digest,
            },
            content: f.content,
            crc32: f.crc32,
        },
    ];
    Ok(Prepared::Oci { entry, payloads })
}
