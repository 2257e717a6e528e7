//! Manifests: put, get (with its digest checked), and the digest a
//! registry reports.

use std::io::Read;

use super::deadline;
use super::{Client, RegistryError, SMALL_REQUEST};

impl Client {
    /// Puts `bytes` as the manifest `reference` (a tag, or `digest` itself)
    /// of `repo`: answered 201, never redirected; checks the digest the
    /// registry reports against `digest`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(), RegistryError> {
        let url = self.url(repo, "manifests", reference)?;
        let resp = self.call_expecting(
            "PUT",
            &url,
            repo,
            &[("Content-Type", media_type)],
            Some(bytes),
            Some(SMALL_REQUEST),
            &[201],
        )?;
        if let Some(found) = resp.header("Docker-Content-Digest") {
            if found != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host.clone(),
                    what: format!("the manifest {repo}:{reference}"),
                    found: found.to_string(),
                    expected: digest.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The manifest `repo:reference` as served, and its digest (computed
    /// here, and compared with what the registry says it is).
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        let url = self.url(repo, "manifests", reference)?;
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        // No overall timeout (see get_blob): the idle timeout bounds each
        // read, the DeadlineReader the body.
        let resp = self.call_with("GET", &url, repo, &[("Accept", accept)], None, None)?;
        let claimed = resp.header("Docker-Content-Digest").map(String::from);
        let mut bytes = Vec::new();
        deadline::DeadlineReader::new(resp.into_reader(), self.limits)
            .take((4 << 20) + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error("GET", &url, e))?;
        if bytes.len() > 4 << 20 {
            return Err(RegistryError::Transfer {
                method: "GET",
                url,
                reason: "the manifest is larger than 4 MiB".into(),
            });
        }
        let digest = format!("sha256:{}", crate::digest::Sha256Digest::of(&bytes).hex());
        if let Some(c) = claimed.filter(|c| c.starts_with("sha256:") && *c != digest) {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: format!("the manifest {repo}:{reference}"),
                found: digest,
                expected: c,
            });
        }
        Ok((bytes, digest))
    }

    /// The digest of the manifest `repo:reference`, or `None` if absent.
    pub fn manifest_digest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(repo, "manifests", reference)?;
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json";
        match self.call("HEAD", &url, repo, &[("Accept", accept)], None) {
            Ok(r) => Ok(r.header("Docker-Content-Digest").map(String::from)),
            Err(RegistryError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
