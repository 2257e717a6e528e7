//! OCI image-layout documents, shaped as Trivy's registries serve them.
//!
//! Trivy requires exactly one layer with the exact layer media type and the
//! `org.opencontainers.image.title` annotation; it accepts the empty config
//! (`application/vnd.oci.empty.v1+json`, blob `{}`), which is what `oras
//! push` writes today. Documents are written with a fixed field order and no
//! whitespace so the same inputs give the same digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{info, ArtifactError};

/// Media type of an OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of the empty config.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config blob.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// The `oci-layout` file.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Layer title annotation.
pub const TITLE: &str = "org.opencontainers.image.title";
/// Version annotation (the checks bundle's version).
pub const VERSION: &str = "org.opencontainers.image.version";
/// Created annotation.
pub const CREATED: &str = "org.opencontainers.image.created";
/// Reference name annotation in index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The layers (Trivy wants exactly one).
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (the layout's `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// [`INDEX_MEDIA_TYPE`].
    pub media_type: String,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
}

impl ImageManifest {
    /// A manifest with the empty config and one layer.
    pub fn single_layer(
        artifact_type: &str,
        layer: Descriptor,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        ImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
            artifact_type: Some(artifact_type.to_string()),
            config: Descriptor {
                media_type: EMPTY_CONFIG_MEDIA_TYPE.to_string(),
                digest: crate::digest::Sha256Digest::of(EMPTY_CONFIG).oci(),
                size: EMPTY_CONFIG.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: vec![layer],
            annotations,
        }
    }

    /// The canonical JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image manifest always serializes")
    }
}

impl ImageIndex {
    /// An index of `manifests`.
    pub fn new(manifests: Vec<Descriptor>) -> Self {
        ImageIndex {
            schema_version: 2,
            media_type: INDEX_MEDIA_TYPE.to_string(),
            manifests,
        }
    }

    /// The canonical JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image index always serializes")
    }
}

/// The layout's `index.json` for `artifacts`: one image manifest per
/// artifact, named `<repository>:<tag>` (`size_of` gives each manifest
/// blob's size). Export writes it; verify and import require the bundle's
/// to say exactly this, so the layout that skopeo or an OCI tool reads
/// names the same artifacts as the signed manifest.
pub fn layout_index(
    artifacts: &[crate::manifest::Artifact],
    size_of: impl Fn(&crate::digest::Sha256Digest) -> u64,
) -> ImageIndex {
    ImageIndex::new(
        artifacts
            .iter()
            .map(|a| Descriptor {
                media_type: MANIFEST_MEDIA_TYPE.to_string(),
                digest: a.manifest_digest.oci(),
                size: size_of(&a.manifest_digest),
                annotations: BTreeMap::from([(
                    REF_NAME.to_string(),
                    format!("{}:{}", a.repository, a.tag),
                )]),
            })
            .collect(),
    )
}

/// Checks that an OCI image manifest is shaped as Trivy requires and
/// describes exactly the entry's one layer.
pub fn check_image_manifest(
    a: &crate::manifest::Artifact,
    bytes: &[u8],
) -> Result<(), ArtifactError> {
    let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        ArtifactError::Contradiction(format!("the OCI manifest of {} is not valid: {e}", a.kind))
    })?;
    let info = info(a.kind);
    let ok = m.layers.len() == 1
        && m.layers[0].digest == a.layer.digest.oci()
        && m.layers[0].size == a.layer.size
        && m.layers[0].media_type == info.layer_media_type
        && a.layer.media_type == info.layer_media_type
        && m.layers[0].annotations.get(TITLE).map(String::as_str) == Some(a.layer.title.as_str());
    if !ok {
        return Err(ArtifactError::Contradiction(format!(
            "the OCI manifest of {} does not describe exactly one layer {} of type {}",
            a.kind,
            a.layer.digest.oci(),
            info.layer_media_type
        )));
    }
    Ok(())
}

/// Checks the bundle's OCI image layout against the signed manifest: the
/// `oci-layout` file, an `index.json` naming exactly the manifest's
/// artifacts (as [`layout_index`] writes it), and no `oci/` payload
/// beyond the layout files and each artifact's manifest, config and layer
/// blobs. `docs` holds the layout files and the OCI manifests read from the
/// bundle, by payload path.
/// The error names what disagrees.
pub fn check_layout(
    m: &crate::manifest::Manifest,
    docs: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    use crate::manifest::Manifest;
    let contradiction = Err;
    let mut allowed = std::collections::BTreeSet::new();
    if !m.artifacts.is_empty() {
        allowed.extend(["oci/oci-layout".to_string(), "oci/index.json".to_string()]);
        if docs.get("oci/oci-layout").map(Vec::as_slice) != Some(OCI_LAYOUT) {
            return contradiction("oci/oci-layout is not the OCI image layout marker".into());
        }
        let expected = layout_index(&m.artifacts, |d| {
            m.payload(&Manifest::blob_path(d)).map_or(0, |p| p.size)
        });
        let found: Option<ImageIndex> = docs
            .get("oci/index.json")
            .and_then(|b| serde_json::from_slice(b).ok());
        if found.as_ref() != Some(&expected) {
            return contradiction(
                "oci/index.json does not name exactly the manifest's artifacts (each as <repository>:<tag> with its manifest digest and size)".into(),
            );
        }
    }
    for a in &m.artifacts {
        let manifest_path = Manifest::blob_path(&a.manifest_digest);
        let image: Option<ImageManifest> = docs
            .get(manifest_path.as_str())
            .and_then(|b| serde_json::from_slice(b).ok());
        let Some(image) = image else {
            return contradiction(format!("the OCI manifest of {} is not valid", a.kind));
        };
        let config_path = crate::digest::Sha256Digest::parse_oci(&image.config.digest)
            .ok()
            .map(|d| Manifest::blob_path(&d))
            .filter(|p| m.payload(p).is_some_and(|p| p.size == image.config.size));
        let Some(config_path) = config_path else {
            return contradiction(format!(
                "the config blob of {} is not among the payloads with its size",
                a.kind
            ));
        };
        allowed.extend([
            manifest_path.into(),
            config_path.into(),
            String::from(Manifest::blob_path(&a.layer.digest)),
        ]);
    }
    if let Some(extra) = m
        .payloads
        .iter()
        .find(|p| p.path.starts_with("oci/") && !allowed.contains(p.path.as_str()))
    {
        return contradiction(format!(
            "payload {} is not part of any artifact",
            extra.path
        ));
    }
    Ok(())
}
