//! Pushing a verified bundle's OCI artifacts into a registry, byte for byte,
//! so that a whole fleet can point Trivy at it (`--db-repository`, or
//! trivy.yaml `registry.mirrors`).
//!
//! The push is a second reading of the bundle, after the first (import or
//! verify) proved every byte and checked every layer: nothing reaches the
//! registry from a bundle that would be refused. Layers stream from the
//! bundle straight into the upload request (the registry checks each
//! digest too); configs and manifests are small and kept in memory until
//! the whole bundle has been read again and verified, then each
//! artifact's config and manifest go up, the manifest last, under its tag.
//! A blob the repository already has is not sent again (`HEAD` first), so a
//! push interrupted half way completes on the next run and says what it
//! skipped.

use std::collections::BTreeMap;
use std::io::Read;

use crate::artifact::oci::{ImageManifest, MANIFEST_MEDIA_TYPE};
use crate::bundle::reader::{self, ReadError};
use crate::bundle::reader::{PayloadReader, PayloadVisitor, Verified};
use crate::manifest::{ArtifactKind, Manifest, Payload};
use crate::policy::TrustPolicy;
use crate::registry::{Client, RegistryError};
use crate::target::registry::{trivy_usage, PushReport, PushTarget, PushedArtifact, PushedBlob};

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Reading the payload failed (the bundle).
    #[error("cannot read {0} from the bundle")]
    Read(String, #[source] std::io::Error),
    /// The bundle read for the push is not the one verified before.
    #[error("the bundle changed since it was verified (manifest sha256 {found}, verified {expected}); nothing was pushed\nhint: leave the media in place during the import")]
    Changed {
        /// What the second reading found.
        found: String,
        /// What the first reading verified.
        expected: String,
    },
    /// The bundle lacks something its manifest promised (cannot happen
    /// after verification; checked anyway).
    #[error("the bundle's {0} is missing or invalid")]
    Missing(String),
}

/// The push visitor (see the module docs).
pub struct Pusher<'a> {
    client: &'a Client,
    target: &'a PushTarget,
    manifest: Option<Manifest>,
    /// Small blobs (OCI manifests, configs), by digest.
    small: BTreeMap<String, Vec<u8>>,
    /// Layer blobs pushed, by kind.
    layers: BTreeMap<ArtifactKind, PushedBlob>,
    /// Called after each blob (crash points, progress).
    on_blob: &'a dyn Fn(&PushedBlob),
    /// The manifest SHA-256 the first reading verified.
    expected: String,
}

impl<'a> Pusher<'a> {
    /// A pusher into `client` as `target` says.
    pub fn new(
        client: &'a Client,
        target: &'a PushTarget,
        expected_manifest_sha256: &str,
        on_blob: &'a dyn Fn(&PushedBlob),
    ) -> Self {
        Pusher {
            expected: expected_manifest_sha256.to_string(),
            client,
            target,
            manifest: None,
            small: BTreeMap::new(),
            layers: BTreeMap::new(),
            on_blob,
        }
    }

    fn repo_of(&self, a: &crate::manifest::Artifact) -> String {
        self.target.repository(&a.repository)
    }

    fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<PushedBlob, PushError> {
        let skipped = self.client.blob_exists(repo, digest)?;
        if !skipped {
            self.client.upload_blob(repo, digest, size, data)?;
        }
        let b = PushedBlob {
            digest: digest.to_string(),
            size,
            skipped,
        };
        crate::fault::point("blob pushed");
        (self.on_blob)(&b);
        Ok(b)
    }

    /// After the bundle was read and verified again: configs and manifests.
    pub fn finish(self, verified: &Verified) -> Result<PushReport, PushError> {
        let mut artifacts = Vec::new();
        for a in &verified.manifest.artifacts {
            let repo = self.repo_of(a);
            let bytes = self
                .small
                .get(&a.manifest_digest)
                .ok_or_else(|| PushError::Missing(format!("OCI manifest of {}", a.kind)))?;
            let m: ImageManifest = serde_json::from_slice(bytes)
                .map_err(|_| PushError::Missing(format!("OCI manifest of {}", a.kind)))?;
            let config = self
                .small
                .get(&m.config.digest)
                .ok_or_else(|| PushError::Missing(format!("config blob of {}", a.kind)))?;
            let config_blob = self.push_blob(
                &repo,
                &m.config.digest,
                config.len() as u64,
                &mut &config[..],
            )?;
            let layer = self
                .layers
                .get(&a.kind)
                .cloned()
                .ok_or_else(|| PushError::Missing(format!("layer of {}", a.kind)))?;
            let tag = self.target.tags.get(&a.kind).unwrap_or(&a.tag);
            let media_type = m.media_type.as_deref().unwrap_or(MANIFEST_MEDIA_TYPE);
            self.client
                .put_manifest(&repo, tag, media_type, bytes, &a.manifest_digest)?;
            artifacts.push(PushedArtifact {
                kind: a.kind,
                reference: format!("{}/{repo}:{tag}", self.target.host),
                manifest_digest: a.manifest_digest.clone(),
                blobs: vec![config_blob, layer],
            });
        }
        let default_tags = verified
            .manifest
            .artifacts
            .iter()
            .all(|a| self.target.tags.get(&a.kind).map_or(true, |t| *t == a.tag));
        let (mut trivy_flags, trivy_yaml, mirror_hint) =
            trivy_usage(self.target, &artifacts, default_tags);
        // Trivy speaks plain http only to loopback and private addresses
        // unless told otherwise.
        if self.client.base().starts_with("http://")
            && !crate::registry::is_loopback(&self.target.host)
        {
            trivy_flags.push("--insecure".into());
        }
        Ok(PushReport {
            registry: self.client.base().to_string(),
            artifacts,
            trivy_flags,
            trivy_yaml,
            mirror_hint,
        })
    }
}

impl PayloadVisitor for Pusher<'_> {
    type Error = PushError;

    fn start(&mut self, bundle: &Verified) -> Result<(), PushError> {
        let found = bundle.manifest_sha256.hex();
        if found != self.expected {
            return Err(PushError::Changed {
                found,
                expected: self.expected.clone(),
            });
        }
        self.manifest = Some(bundle.manifest.clone());
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), PushError> {
        let m = self.manifest.as_ref().expect("start ran");
        let Some(digest) = payload.path.strip_prefix("oci/blobs/sha256/") else {
            return Ok(()); // VEX, the layout's own files: not pushed
        };
        let digest = format!("sha256:{digest}");
        if let Some(a) = m.artifacts.iter().find(|a| a.layer.digest == digest) {
            let repo = self.repo_of(a);
            let kind = a.kind;
            let blob = self.push_blob(&repo, &digest, payload.size, data)?;
            self.layers.insert(kind, blob);
        } else if payload.size <= 1 << 20 {
            let mut bytes = Vec::with_capacity(payload.size as usize);
            data.read_to_end(&mut bytes)
                .map_err(|e| PushError::Read(payload.path.clone(), e))?;
            self.small.insert(digest, bytes);
        }
        Ok(())
    }
}

/// Reads `bundle` (verified against `policy` again as it is read) and pushes
/// its OCI artifacts as `target` says. Run it after the bundle has been
/// verified or imported, with the manifest SHA-256 that proved: a bundle
/// whose manifest differs now is refused before anything is pushed.
pub fn push<R: Read>(
    bundle: R,
    policy: &TrustPolicy,
    verified_manifest_sha256: &str,
    client: &Client,
    target: &PushTarget,
    on_blob: &dyn Fn(&PushedBlob),
) -> Result<PushReport, super::ImportError> {
    let mut pusher = Pusher::new(client, target, verified_manifest_sha256, on_blob);
    let verified = match reader::read(bundle, policy, &mut pusher) {
        Ok(v) => v,
        Err(ReadError::Bundle(e)) => return Err(e.into()),
        Err(ReadError::Visitor(e)) => return Err(super::ImportError::Push(e)),
    };
    pusher.finish(&verified).map_err(super::ImportError::Push)
}
