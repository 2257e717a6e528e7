//! The registry's own push history (`<prefix>/airlock-state:latest`):
//! reading it exactly or refusing it as damaged, judging a bundle against
//! it, and the state artifact a push records (see [`super::push`]).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::artifact::oci::{
    Descriptor, ImageManifest, CREATED, EMPTY_CONFIG, EMPTY_CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
use crate::bundle::reader::Header;
use crate::digest::Sha256Digest;
use crate::error::chain_text;
use crate::layout::oci_repos::{PushTarget, STATE_TAG};
use crate::manifest::Manifest;
use crate::policy::TrustPolicy;
use crate::registry::{Client, RegistryError};
use crate::timestamp::format_time;

use super::push_error::PushError;
use super::{guard, ImportError};

/// The media type of the registry state's one layer (a [`guard::State`] as
/// JSON), and the state artifact's type.
pub const STATE_MEDIA_TYPE: &str = "application/vnd.airlock.state.v1+json";

/// How to judge a push against the registry state.
#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// The time of the push (recorded in the state).
    pub now: OffsetDateTime,
    /// Push past a downgrade refusal (recorded as forced).
    pub allow_downgrade: bool,
}

/// The registry state of a push prefix, as read.
#[derive(Debug, Clone, Default)]
pub struct RegistryState {
    /// What it records.
    pub state: guard::State,
    /// The manifest digest `latest` pointed at (`None`: no state yet).
    pub digest: Option<String>,
}

/// The digest `<prefix>/airlock-state:latest` points at now, if any.
pub(super) fn state_digest(
    client: &Client,
    target: &PushTarget,
) -> Result<Option<String>, PushError> {
    match client.get_manifest(&target.state_repository(), STATE_TAG) {
        Ok((_, digest)) => Ok(Some(digest)),
        Err(RegistryError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads the registry state of `target`'s prefix: absent (404) is an empty
/// state; anything that cannot be read exactly (not one layer of
/// [`STATE_MEDIA_TYPE`], larger than [`guard::STATE_LIMIT`], a blob that is
/// missing or does not match its digest, JSON that is not a state) is
/// [`PushError::State`], never an empty state.
pub fn read_state(client: &Client, target: &PushTarget) -> Result<RegistryState, PushError> {
    let repo = target.state_repository();
    let damaged = |reason: String| PushError::State {
        reference: target.state_reference(),
        reason,
    };
    let (bytes, digest) = match client.get_manifest(&repo, STATE_TAG) {
        Ok(found) => found,
        Err(RegistryError::Status { status: 404, .. }) => return Ok(RegistryState::default()),
        Err(e @ RegistryError::DigestMismatch { .. }) => return Err(damaged(e.to_string())),
        Err(RegistryError::Transfer { reason, .. }) if reason.contains("larger than") => {
            return Err(damaged(format!("its manifest: {reason}")))
        }
        Err(e) => return Err(e.into()),
    };
    let m: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| damaged(format!("its manifest is not an OCI image manifest: {e}")))?;
    let [layer] = m.layers.as_slice() else {
        return Err(damaged(format!(
            "its manifest has {} layers, expected 1",
            m.layers.len()
        )));
    };
    if layer.media_type != STATE_MEDIA_TYPE {
        return Err(damaged(format!(
            "its layer is {:?}, expected {STATE_MEDIA_TYPE}",
            crate::text::escape(&layer.media_type)
        )));
    }
    if layer.size > guard::STATE_LIMIT {
        return Err(damaged(format!(
            "its layer is {} bytes, more than the {} allowed",
            layer.size,
            guard::STATE_LIMIT
        )));
    }
    let mut state_bytes = Vec::new();
    match client.get_blob(&repo, &layer.digest, layer.size, &mut state_bytes) {
        Ok(()) => {}
        Err(RegistryError::Status { status: 404, .. }) => {
            return Err(damaged(format!("its layer {} is missing", layer.digest)))
        }
        Err(
            e @ (RegistryError::DigestMismatch { .. }
            | RegistryError::InvalidName { .. }
            | RegistryError::Transfer { .. }),
        ) => return Err(damaged(format!("its layer: {}", chain_text(&e)))),
        Err(e) => return Err(e.into()),
    }
    let state = guard::parse_state(&state_bytes).map_err(damaged)?;
    Ok(RegistryState {
        state,
        digest: Some(digest),
    })
}

/// Judges `m` against the registry state (downgrades, by the cache's
/// rules); returns what was forced.
pub fn judge(
    m: &Manifest,
    manifest_sha256: &str,
    registry: &RegistryState,
    target: &PushTarget,
    policy: &TrustPolicy,
    opts: &PushOptions,
) -> Result<Vec<String>, ImportError> {
    if let Some(installed) = guard::equivocation(m, manifest_sha256, &registry.state) {
        return Err(ImportError::Equivocation {
            series: m.series.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            sequence: m.sequence.unwrap_or_default(),
            at: format!("into the registry state {}", target.state_reference()),
            installed: installed.to_string(),
            bundle: manifest_sha256.to_string(),
        });
    }
    let found = guard::downgrades(m, &registry.state, &BTreeMap::new())
        .into_iter()
        .map(|r| format!("in the registry state {}: {r}", target.state_reference()))
        .collect();
    guard::check_downgrades(found, policy, opts.allow_downgrade)
}

/// Judges a bundle by its signed header against the registry state before
/// it is read in full (so an import into another cache is refused before
/// that cache is written). A header that does not prove itself is left to
/// the full reading, which says why; the push judges again before it sends
/// anything.
pub fn precheck(
    header: &Header,
    client: &Client,
    target: &PushTarget,
    policy: &TrustPolicy,
    opts: &PushOptions,
) -> Result<(), ImportError> {
    if policy
        .evaluate(&header.manifest_bytes, &header.signatures)
        .is_err()
    {
        return Ok(());
    }
    let Ok(m) = Manifest::parse(&header.manifest_bytes) else {
        return Ok(());
    };
    let sha = Sha256Digest::of(&header.manifest_bytes).hex();
    let registry = read_state(client, target)?;
    judge(&m, &sha, &registry, target, policy, opts).map(|_| ())
}

/// The state artifact to push: an empty config and the state as its one
/// layer.
pub(super) struct StateArtifact {
    pub(super) layer: Vec<u8>,
    pub(super) manifest: Vec<u8>,
    pub(super) digest: String,
}

impl StateArtifact {
    pub(super) fn new(state: &guard::State, now: OffsetDateTime) -> StateArtifact {
        let mut layer = serde_json::to_vec_pretty(state).expect("the state serializes");
        layer.push(b'\n');
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            artifact_type: Some(STATE_MEDIA_TYPE.into()),
            config: Descriptor {
                media_type: EMPTY_CONFIG_MEDIA_TYPE.into(),
                digest: Sha256Digest::of(EMPTY_CONFIG).oci(),
                size: EMPTY_CONFIG.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: vec![Descriptor {
                media_type: STATE_MEDIA_TYPE.into(),
                digest: Sha256Digest::of(&layer).oci(),
                size: layer.len() as u64,
                annotations: BTreeMap::new(),
            }],
            annotations: BTreeMap::from([(CREATED.to_string(), format_time(now))]),
        };
        let manifest = serde_json::to_vec(&m).expect("the manifest serializes");
        let digest = Sha256Digest::of(&manifest).oci();
        StateArtifact {
            layer,
            manifest,
            digest,
        }
    }
}
