//! Blobs: whether one is there, uploads from a stream, downloads checked
//! against their size and digest.

use std::io::Read;

use super::agents::{agent, is_https};
use super::call::{check_status, requested_url};
use super::framing::short_body;
use super::{blob_time, deadline, redact, Client, HostPort, RegistryError, SMALL_REQUEST};

impl Client {
    /// Whether `repo` holds the blob `digest`.
    pub fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(repo, "blobs", digest)?;
        match self.call("HEAD", &url, repo, &[], None) {
            Ok(_) => Ok(true),
            Err(RegistryError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `repo` says it holds the blob `digest` of `size` bytes: `HEAD`
    /// answered 200 (present) or 404 (absent); a `Content-Length` or
    /// `Docker-Content-Digest` it gives must be `size` and `digest` (an
    /// honest registry never reports another size for a digest). Only the
    /// registry's word: [`Client::get_blob`] proves it.
    pub fn blob_present(&self, repo: &str, digest: &str, size: u64) -> Result<bool, RegistryError> {
        let url = self.url(repo, "blobs", digest)?;
        let resp = match self.call("HEAD", &url, repo, &[], None) {
            Ok(r) => r,
            Err(RegistryError::Status { status: 404, .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Some(found) = resp.header("Docker-Content-Digest") {
            if found != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host.clone(),
                    what: format!("HEAD {}", redact(&url)),
                    found: found.to_string(),
                    expected: digest.to_string(),
                });
            }
        }
        if let Some(len) = resp.header("Content-Length") {
            if len.trim().parse::<u64>().ok() != Some(size) {
                return Err(RegistryError::Transfer {
                    method: "HEAD",
                    url: redact(&url),
                    reason: format!(
                        "the registry says the blob is {:?} bytes, it is {size}",
                        crate::text::escape(len)
                    ),
                });
            }
        }
        Ok(true)
    }

    /// Uploads `size` bytes from `body` as blob `digest` of `repo`, in one
    /// streamed request (`POST` answered 202 with a Location, then a
    /// monolithic `PUT ...?digest=` answered 201, never redirected); the
    /// registry checks the digest, and the one it reports must match.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<(), RegistryError> {
        // Checks repo and digest before anything is sent.
        self.url(repo, "blobs", digest)?;
        let (start, mut url) = self.start_upload(repo)?;
        let put_agent = self.put_agent(&start, &url)?;
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("digest=");
        url.push_str(&digest.replace(':', "%3A"));
        let mut req = put_agent
            .put(&url)
            .timeout(blob_time(size))
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &size.to_string());
        // Credentials only to this registry, never to another origin.
        let same_origin = url.starts_with(&format!("{}/", self.base));
        if let (Some(a), true) = (self.authorization(&self.scope(repo))?, same_origin) {
            req = req.set("Authorization", &a);
        }
        let asked = requested_url(&req);
        let resp = req.send(body).map_err(|e| match e {
            ureq::Error::Status(status, r) => RegistryError::Status {
                method: "PUT",
                url: redact(&url),
                status,
                body: self.mask_secrets(&short_body(r)),
            },
            ureq::Error::Transport(t) => RegistryError::Transfer {
                method: "PUT",
                url: redact(&url),
                reason: t.to_string(),
            },
        })?;
        let resp = check_status("PUT", &asked, resp, &[201])?;
        if let Some(found) = resp.header("Docker-Content-Digest") {
            if found != digest {
                return Err(RegistryError::DigestMismatch {
                    host: self.host.clone(),
                    what: format!("a blob of {repo}"),
                    found: found.to_string(),
                    expected: digest.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Starts an upload (`POST`, answered 202): the URL posted to, and the
    /// upload URL the registry's Location names (absolute).
    #[allow(clippy::result_large_err)]
    fn start_upload(&self, repo: &str) -> Result<(String, String), RegistryError> {
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self.call_expecting(
            "POST",
            &start,
            repo,
            &[("Content-Length", "0")],
            Some(b""),
            Some(SMALL_REQUEST),
            &[202],
        )?;
        let location = resp
            .header("Location")
            .ok_or_else(|| RegistryError::Transfer {
                method: "POST",
                url: start.clone(),
                reason: "the registry answered 202 without an upload Location".into(),
            })?;
        let url = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            return Err(RegistryError::Transfer {
                method: "POST",
                url: start.clone(),
                reason: format!(
                    "the upload Location {:?} is neither an absolute URL nor a path",
                    crate::text::escape(&redact(location))
                ),
            });
        };
        Ok((start, url))
    }

    /// The agent for the `PUT` to `url`: the registry's own (no redirects),
    /// or, for an https registry sending the blob to a plain-http host the
    /// operator named, a plain-http one; any other plain-http Location is
    /// refused.
    #[allow(clippy::result_large_err)]
    fn put_agent(&self, start: &str, url: &str) -> Result<ureq::Agent, RegistryError> {
        // An https registry does not send the blob to plain http, unless
        // the operator named that host.
        if !is_https(&self.base) || is_https(url) {
            return Ok(self.strict.clone());
        }
        let named = HostPort::of_url(url).is_some_and(|h| {
            self.opts.plain_http.matches_host(&h) || self.opts.legacy_insecure.matches_host(&h)
        });
        if !named {
            return Err(RegistryError::Downgrade {
                method: "POST",
                url: start.to_string(),
                host: self.host.clone(),
                location: Some(url.to_string()),
            });
        }
        let location_host = HostPort::of_url(url)
            .map(|h| h.to_string())
            .unwrap_or_default();
        agent(&self.opts, 0, false, &location_host)
    }

    /// Streams blob `digest` of `repo` into `out`, checking its size and
    /// SHA-256 as the bytes arrive.
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<(), RegistryError> {
        let url = self.url(repo, "blobs", digest)?;
        // No overall timeout for the request: ureq's would replace the idle
        // timeout on every read (headers and body) by the time left until
        // it. The agent's read timeout is the idle timeout; the body's
        // deadline comes from what arrives (DeadlineReader), never from
        // `size`.
        let resp = self.call_with("GET", &url, repo, &[], None, None)?;
        let mut reader = crate::digest::HashingReader::new(
            deadline::DeadlineReader::new(resp.into_reader(), self.limits)
                .take(size.saturating_add(1)),
        );
        let copied =
            std::io::copy(&mut reader, out).map_err(|e| self.read_error("GET", &url, e))?;
        let (found, ..) = reader.finish();
        // Not transient: the same registry would serve the same bytes.
        if copied != size {
            return Err(RegistryError::WrongSize {
                host: self.host.clone(),
                what: format!("the blob {digest} of {repo}"),
                found: if copied > size {
                    format!("more than {size} bytes")
                } else {
                    format!("{copied} bytes")
                },
                expected: size,
            });
        }
        let found = found.oci();
        if found != digest {
            return Err(RegistryError::DigestMismatch {
                host: self.host.clone(),
                what: format!("the blob {digest} of {repo}"),
                found,
                expected: digest.to_string(),
            });
        }
        Ok(())
    }

    /// The error for a body read that failed: a tripped time limit is
    /// [`RegistryError::Stalled`] (final), anything else a transfer error
    /// (a reset connection: transient).
    pub(super) fn read_error(
        &self,
        method: &'static str,
        url: &str,
        e: std::io::Error,
    ) -> RegistryError {
        match deadline::stalled_reason(&e) {
            Some(reason) => RegistryError::Stalled {
                method,
                url: redact(url),
                reason,
            },
            None => RegistryError::Transfer {
                method,
                url: redact(url),
                reason: e.to_string(),
            },
        }
    }
}
