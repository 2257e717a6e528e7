//! Pushing a verified bundle's OCI artifacts into a registry, byte for byte,
//! so that a whole fleet can point Trivy at it (`--db-repository`, or
//! trivy.yaml `registry.mirrors`), and keeping the prefix's push history in
//! the registry itself so that no import, whatever cache it uses, can
//! downgrade the fleet.
//!
//! The push is a second reading of the bundle, after the first (import or
//! verify) proved every byte and checked every layer: nothing reaches the
//! registry from a bundle that would be refused. In order:
//!
//! 1. The registry state `<prefix>/airlock-state:latest` is read (absent:
//!    no push yet; unreadable, unparsable or oversized: damaged, refused)
//!    and the bundle judged against it by the same rules as a cache's
//!    state (`guard::downgrades`): a downgrade is refused (exit 6) unless
//!    forced. The next state is made now and its blobs and manifest are
//!    put (by digest, untagged) first, so a registry that refuses them
//!    fails the push before anything else is sent.
//! 2. Layers stream from the bundle straight into the upload request (the
//!    registry checks each digest too); configs and manifests are small and
//!    kept in memory until the whole bundle has been read again and
//!    verified, then the configs go up. A blob the repository says it has
//!    (`HEAD` 200, with its size and digest if it gives them) is not sent
//!    again, so an interrupted push completes on the next run.
//! 3. Read-back of the blobs, before any manifest: a blob sent must be
//!    present (`HEAD` 200 with its size and digest); a blob skipped on the
//!    registry's word is downloaded and hashed (that word is all the skip
//!    rested on; a re-push costs one download of what it skipped instead of
//!    an upload).
//! 4. The manifests go up under their tags, then each is read back by
//!    digest (the same bytes) and by tag (the same digest).
//! 5. The state is tagged `latest` (after checking no other push changed it
//!    meanwhile) and read back the same way.
//!
//! Only then is there a [`PushReport`] (`verified`); any failure is an
//! error, and nothing is reported as pushed.

use std::collections::BTreeMap;
use std::io::Read;

use crate::artifact::oci::{ImageManifest, EMPTY_CONFIG, MANIFEST_MEDIA_TYPE};
use crate::bundle::reader::{self, ReadError};
use crate::bundle::reader::{PayloadReader, PayloadVisitor, Verified};
use crate::digest::Sha256Digest;
use crate::error::chain_text;
use crate::layout::oci_repos::{
    trivy_usage, PushReport, PushTarget, PushedArtifact, PushedBlob, STATE_TAG,
};
use crate::manifest::{ArtifactKind, Manifest, Payload};
use crate::policy::TrustPolicy;
use crate::registry::Client;

use super::{guard, ImportError};

pub use super::push_error::PushError;
pub use super::registry_state::{
    judge, precheck, read_state, PushOptions, RegistryState, STATE_MEDIA_TYPE,
};
use super::registry_state::{state_digest, StateArtifact};

/// What a push tells its caller as it goes.
#[derive(Clone, Copy)]
pub struct PushEvents<'a> {
    /// Called after each blob (crash points, progress).
    pub on_blob: &'a dyn Fn(&PushedBlob),
    /// Called just before the first manifest is put (from then on the
    /// registry may serve the bundle's artifacts), with them and the
    /// downgrades forced: an interruption's record says what went up.
    pub on_publish: &'a dyn Fn(&[PushedArtifact], &[String]),
    /// The cache the bundle was just imported into, if any: the layers of
    /// a delta bundle's databases are rebuilt from it (`push_delta.rs`).
    pub cache_dir: Option<&'a std::path::Path>,
}

/// The push visitor (see the module docs).
pub struct Pusher<'a> {
    client: &'a Client,
    target: &'a PushTarget,
    policy: &'a TrustPolicy,
    opts: PushOptions,
    manifest: Option<Manifest>,
    /// Small blobs (OCI manifests, configs), by digest.
    small: BTreeMap<String, Vec<u8>>,
    /// Layer blobs pushed, by kind.
    layers: BTreeMap<ArtifactKind, PushedBlob>,
    /// Called after each blob (crash points, progress).
    on_blob: &'a dyn Fn(&PushedBlob),
    /// Called just before the first manifest is put (from then on the
    /// registry may serve the bundle's artifacts), with them and the
    /// downgrades forced: an interruption's record says what went up.
    on_publish: &'a dyn Fn(&[PushedArtifact], &[String]),
    /// The manifest SHA-256 the first reading verified.
    expected: String,
    /// The registry state as read at the start.
    registry: Option<RegistryState>,
    /// Downgrades of the registry forced.
    forced: Vec<String>,
    /// The state to record, and its blobs as pushed.
    next: Option<(StateArtifact, Vec<PushedBlob>)>,
    /// The cache a delta bundle was imported into (its layers are rebuilt
    /// from it), when there is one.
    cache_dir: Option<std::path::PathBuf>,
    /// The artifacts rebuilt for the bundle's deltas, and upstream's layer
    /// digest for each (see `push_delta.rs`).
    rebuilt: Vec<(crate::manifest::Artifact, Option<String>)>,
    /// The deltas' rebuilt artifacts not sent yet, and the folder that
    /// holds their layers: every one is rebuilt before anything is sent.
    pending: Vec<(
        crate::manifest::ArtifactKind,
        super::push_delta::Rebuilt,
        Option<String>,
    )>,
    pending_dir: Option<tempfile::TempDir>,
}

impl<'a> Pusher<'a> {
    /// A pusher into `client` as `target` says, judged against the registry
    /// state by `policy` and `opts`.
    pub fn new(
        client: &'a Client,
        target: &'a PushTarget,
        policy: &'a TrustPolicy,
        opts: PushOptions,
        expected_manifest_sha256: &str,
        events: PushEvents<'a>,
    ) -> Self {
        Pusher {
            expected: expected_manifest_sha256.to_string(),
            client,
            target,
            policy,
            opts,
            manifest: None,
            small: BTreeMap::new(),
            layers: BTreeMap::new(),
            on_blob: events.on_blob,
            on_publish: events.on_publish,
            registry: None,
            forced: Vec::new(),
            next: None,
            cache_dir: None,
            rebuilt: Vec::new(),
            pending: Vec::new(),
            pending_dir: None,
        }
    }

    /// The cache a delta bundle was imported into: `--push` rebuilds the
    /// layers of its deltas from it.
    pub fn with_cache(mut self, cache_dir: Option<&std::path::Path>) -> Self {
        self.cache_dir = cache_dir.map(|p| p.to_path_buf());
        self
    }

    /// Rebuilds each delta's artifact from the cache, sending nothing: a
    /// bundle whose deltas cannot all be rebuilt (no cache, or a cache that
    /// no longer holds a result) fails the push before anything, the
    /// registry state included, is sent.
    fn rebuild_deltas(&mut self, m: &Manifest) -> Result<(), PushError> {
        if m.deltas.is_empty() {
            return Ok(());
        }
        let work = tempfile::tempdir().map_err(|e| {
            PushError::Read("a temporary directory for the rebuilt layers".into(), e)
        })?;
        for d in &m.deltas {
            let r = super::push_delta::rebuild(d, self.cache_dir.as_deref(), work.path())?;
            let upstream = d.upstream_layer_digest.map(|u| u.oci());
            self.pending.push((d.kind, r, upstream));
        }
        self.pending_dir = Some(work);
        Ok(())
    }

    /// Sends the blobs of each rebuilt artifact (before the bundle's own).
    fn push_rebuilt(&mut self) -> Result<(), PushError> {
        for (kind, r, upstream) in std::mem::take(&mut self.pending) {
            let repo = self.repo_of(&r.artifact);
            for p in &r.payloads {
                let Some(digest) = p.payload.path.blob_digest() else {
                    continue;
                };
                if digest == r.artifact.layer.digest {
                    let mut data = super::push_delta::open(p)?;
                    let blob = self.push_blob(&repo, &digest.oci(), p.payload.size, &mut data)?;
                    self.layers.insert(kind, blob);
                } else {
                    let bytes = super::push_delta::small_bytes(p)?;
                    self.small.insert(digest.oci(), bytes);
                }
            }
            self.rebuilt.push((r.artifact, upstream));
        }
        Ok(())
    }

    fn repo_of(&self, a: &crate::manifest::Artifact) -> String {
        self.target.repository(&a.repository)
    }

    /// Sends a blob unless the repository says it has it.
    fn send_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<PushedBlob, PushError> {
        let skipped = self.client.blob_present(repo, digest, size)?;
        if !skipped {
            self.client.upload_blob(repo, digest, size, data)?;
        }
        Ok(PushedBlob {
            digest: digest.to_string(),
            size,
            skipped,
            read_back: if skipped { "GET" } else { "HEAD" },
        })
    }

    /// Sends an artifact's blob, and says so.
    fn push_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<PushedBlob, PushError> {
        let b = self.send_blob(repo, digest, size, data)?;
        crate::fault::point("blob pushed");
        (self.on_blob)(&b);
        Ok(b)
    }

    /// Proves that `repo` holds `blob` (see the module docs, step 3).
    fn read_back_blob(&self, repo: &str, blob: &PushedBlob) -> Result<(), PushError> {
        let what = format!("blob {} of {}/{repo}", blob.digest, self.target.host);
        let fail = |reason: String| PushError::ReadBack {
            what: what.clone(),
            reason,
        };
        if blob.skipped {
            return self
                .client
                .get_blob(repo, &blob.digest, blob.size, &mut std::io::sink())
                .map_err(|e| {
                    fail(format!(
                        "the registry said it had it (HEAD 200), so it was not sent, but reading it failed: {e}"
                    ))
                });
        }
        match self.client.blob_present(repo, &blob.digest, blob.size) {
            Ok(true) => Ok(()),
            Ok(false) => Err(fail(
                "HEAD answered 404 after the registry accepted its upload (201)".into(),
            )),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// Proves that `repo` serves `bytes` by `digest` and `tag` (if any) as
    /// that digest.
    fn read_back_manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(), PushError> {
        let at = |r: &str| format!("{}/{repo}@{r}", self.target.host);
        let (served, _) =
            self.client
                .get_manifest(repo, digest)
                .map_err(|e| PushError::ReadBack {
                    what: format!("manifest {}", at(digest)),
                    reason: chain_text(&e),
                })?;
        if served != bytes {
            return Err(PushError::ReadBack {
                what: format!("manifest {}", at(digest)),
                reason: format!(
                    "it serves {} bytes with sha256 {}, other than the {} bytes pushed",
                    served.len(),
                    Sha256Digest::of(&served).hex(),
                    bytes.len()
                ),
            });
        }
        if let Some(tag) = tag {
            let what = format!("tag {}/{repo}:{tag}", self.target.host);
            let (_, found) =
                self.client
                    .get_manifest(repo, tag)
                    .map_err(|e| PushError::ReadBack {
                        what: what.clone(),
                        reason: chain_text(&e),
                    })?;
            if found != digest {
                return Err(PushError::ReadBack {
                    what,
                    reason: format!("it resolves to {found}, expected {digest}"),
                });
            }
        }
        Ok(())
    }

    /// Refuses to go on if another push changed the registry state since it
    /// was read.
    fn check_unchanged(&self) -> Result<(), PushError> {
        let before = self.registry.as_ref().and_then(|r| r.digest.clone());
        let now = state_digest(self.client, self.target)?;
        if now != before {
            let show = |d: Option<String>| d.unwrap_or_else(|| "absent".into());
            return Err(PushError::Raced {
                reference: self.target.state_reference(),
                before: show(before),
                now: show(now),
            });
        }
        Ok(())
    }

    /// After the bundle was read and verified again: configs, read-back of
    /// every blob, manifests and their read-back, then the state.
    pub fn finish(self, verified: &Verified) -> Result<PushReport, PushError> {
        let (state, state_blobs) = self
            .next
            .as_ref()
            .ok_or_else(|| PushError::Missing("registry state (start did not run)".into()))?;
        let planned = verified
            .manifest
            .artifacts
            .iter()
            .map(|a| (a, None))
            .chain(self.rebuilt.iter().map(|(a, u)| (a, u.clone())))
            .map(|(a, upstream)| {
                self.plan_manifest(a).map(|mut p| {
                    p.artifact.upstream_layer_digest = upstream;
                    p
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.publish(&planned, state, state_blobs)?;
        let artifacts = planned.into_iter().map(|p| p.artifact).collect();
        Ok(self.report(verified, artifacts))
    }

    /// Pushes the config of `a` and plans its manifest.
    fn plan_manifest<'m>(
        &'m self,
        a: &crate::manifest::Artifact,
    ) -> Result<PlannedManifest<'m>, PushError> {
        let repo = self.repo_of(a);
        let bytes = self
            .small
            .get(&a.manifest_digest.oci())
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
        let tag = self.target.tags.get(&a.kind).unwrap_or(&a.tag).clone();
        Ok(PlannedManifest {
            artifact: PushedArtifact {
                kind: a.kind,
                reference: format!("{}/{repo}:{tag}", self.target.host),
                manifest_digest: a.manifest_digest.oci(),
                blobs: vec![config_blob, layer],
                upstream_layer_digest: None,
            },
            media_type: m
                .media_type
                .clone()
                .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.into()),
            repo,
            tag,
            bytes,
        })
    }

    /// Reads back every blob, puts the manifests and reads them back, then
    /// records the push in the registry state.
    fn publish(
        &self,
        planned: &[PlannedManifest<'_>],
        state: &StateArtifact,
        state_blobs: &[PushedBlob],
    ) -> Result<(), PushError> {
        let state_repo = self.target.state_repository();
        // Every blob, before any manifest points at it.
        for p in planned {
            for b in &p.artifact.blobs {
                self.read_back_blob(&p.repo, b)?;
            }
        }
        for b in state_blobs {
            self.read_back_blob(&state_repo, b)?;
        }
        self.check_unchanged()?;
        let artifacts: Vec<PushedArtifact> = planned.iter().map(|p| p.artifact.clone()).collect();
        (self.on_publish)(&artifacts, &self.forced);
        for p in planned {
            let digest = &p.artifact.manifest_digest;
            self.client
                .put_manifest(&p.repo, &p.tag, &p.media_type, p.bytes, digest)?;
        }
        crate::fault::point("manifests pushed");
        for p in planned {
            self.read_back_manifest(&p.repo, Some(&p.tag), p.bytes, &p.artifact.manifest_digest)?;
        }
        // The push is verified: record it.
        self.check_unchanged()?;
        self.client.put_manifest(
            &state_repo,
            STATE_TAG,
            MANIFEST_MEDIA_TYPE,
            &state.manifest,
            &state.digest,
        )?;
        self.read_back_manifest(&state_repo, Some(STATE_TAG), &state.manifest, &state.digest)
    }

    /// What the push did, and how Trivy should use it.
    fn report(&self, verified: &Verified, artifacts: Vec<PushedArtifact>) -> PushReport {
        let default_tags = verified
            .manifest
            .artifacts
            .iter()
            .all(|a| self.target.tags.get(&a.kind).is_none_or(|t| *t == a.tag));
        let (mut trivy_flags, trivy_yaml, mirror_hint) =
            trivy_usage(self.target, &artifacts, default_tags);
        // Trivy speaks plain http only to loopback and private addresses
        // unless told otherwise.
        if self.client.base().starts_with("http://")
            && !crate::registry::is_loopback(&self.target.host)
        {
            trivy_flags.push("--insecure".into());
        }
        PushReport {
            registry: self.client.base().to_string(),
            verified: true,
            state: self.target.state_reference(),
            forced: self.forced.clone(),
            artifacts,
            trivy_flags,
            trivy_yaml,
            mirror_hint,
        }
    }
}

/// A manifest to put under its tag, and the artifact it makes.
struct PlannedManifest<'m> {
    repo: String,
    tag: String,
    media_type: String,
    bytes: &'m [u8],
    artifact: PushedArtifact,
}

impl PayloadVisitor for Pusher<'_> {
    type Error = ImportError;

    fn start(&mut self, bundle: &Verified) -> Result<(), ImportError> {
        let found = bundle.manifest_sha256.hex();
        if found != self.expected {
            return Err(PushError::Changed {
                found,
                expected: self.expected.clone(),
            }
            .into());
        }
        let m = &bundle.manifest;
        self.rebuild_deltas(m)?;
        let registry = read_state(self.client, self.target)?;
        self.forced = judge(m, &found, &registry, self.target, self.policy, &self.opts)?;
        let mut next = guard::advance_registry(
            registry.state.clone(),
            m,
            &found,
            self.opts.now,
            !self.forced.is_empty(),
        );
        // Ages are this host's business (its cache, its clock).
        next.newest_seen = None;
        let state = StateArtifact::new(&next, self.opts.now);
        // The state goes up first, untagged: a registry that will not keep
        // it fails the push before anything else is sent.
        let repo = self.target.state_repository();
        let blobs = vec![
            self.send_blob(
                &repo,
                &Sha256Digest::of(EMPTY_CONFIG).oci(),
                EMPTY_CONFIG.len() as u64,
                &mut &EMPTY_CONFIG[..],
            )?,
            self.send_blob(
                &repo,
                &Sha256Digest::of(&state.layer).oci(),
                state.layer.len() as u64,
                &mut &state.layer[..],
            )?,
        ];
        self.client
            .put_manifest(
                &repo,
                &state.digest,
                MANIFEST_MEDIA_TYPE,
                &state.manifest,
                &state.digest,
            )
            .map_err(PushError::from)?;
        crate::fault::point("registry state staged");
        self.registry = Some(registry);
        self.next = Some((state, blobs));
        self.manifest = Some(m.clone());
        self.push_rebuilt()?;
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), ImportError> {
        let m = self.manifest.as_ref().expect("start ran");
        let Some(blob) = payload.path.blob_digest() else {
            return Ok(()); // VEX, the layout's own files: not pushed
        };
        let digest = blob.oci();
        if let Some(a) = m.artifacts.iter().find(|a| a.layer.digest == blob) {
            let repo = self.repo_of(a);
            let kind = a.kind;
            let blob = self.push_blob(&repo, &digest, payload.size, data)?;
            self.layers.insert(kind, blob);
        } else if payload.size <= 1 << 20 {
            let mut bytes = Vec::with_capacity(payload.size as usize);
            data.read_to_end(&mut bytes)
                .map_err(|e| PushError::Read(payload.path.to_string(), e))?;
            self.small.insert(digest, bytes);
        }
        Ok(())
    }
}

/// Reads `bundle` (verified against `policy` again as it is read) and pushes
/// its OCI artifacts as `target` says, judged against the registry state
/// and verified by reading everything back (see the module docs). Run it
/// after the bundle has been verified or imported, with the manifest
/// SHA-256 that proved: a bundle whose manifest differs now is refused
/// before anything is pushed.
pub fn push<R: Read>(
    bundle: R,
    policy: &TrustPolicy,
    verified_manifest_sha256: &str,
    client: &Client,
    target: &PushTarget,
    opts: PushOptions,
    events: PushEvents<'_>,
) -> Result<PushReport, ImportError> {
    let mut pusher = Pusher::new(
        client,
        target,
        policy,
        opts,
        verified_manifest_sha256,
        events,
    )
    .with_cache(events.cache_dir);
    let verified = match reader::read(bundle, policy, &mut pusher) {
        Ok(v) => v,
        Err(ReadError::Bundle(e)) => return Err(e.into()),
        Err(ReadError::Visitor(e)) => return Err(e),
    };
    pusher.finish(&verified).map_err(ImportError::Push)
}
