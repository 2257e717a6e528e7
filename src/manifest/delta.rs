//! Delta entries (format 1.3, issue 13): a database carried as a zstd
//! patch-from frame against the uncompressed file of an earlier bundle (the
//! base), with its new `metadata.json`. SPEC.md section 3 ("`[[delta]]`").
//!
//! Every field is held to a grammar and a bound here, even under a valid
//! signature: the result's size is the exact bound on what applying the
//! delta may write, the base's digest decides whether the host may apply it
//! at all, and the payload paths are fixed by the kind.

use serde::{Deserialize, Serialize};

use super::{hex_digest, oci_digest_opt, ArtifactKind, Database, Manifest, ManifestError};
use super::{PayloadPath, Rfc3339Time};
use crate::digest::Sha256Digest;

/// The only encoding 1.3 defines: the `AIRDLT01` container of
/// [`crate::delta`], zstd frames (RFC 8878) each made with a range of the
/// base file as its reference prefix ("patch-from").
pub const ENCODING_ZSTD_PATCH_FROM: &str = "zstd-patch-from";

/// The largest database file (base or result) a delta may name: the same
/// bound as any unpacked layer (256 GiB).
pub const MAX_DELTA_FILE: u64 = 256 << 30;

/// The largest `metadata.json` a delta may carry (as in a layer).
pub const MAX_DELTA_METADATA: u64 = 64 << 10;

/// The format version a bundle with at least one delta declares.
pub const DELTA_FORMAT_VERSION: &str = "1.3";

/// One database carried as a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// `trivy-db` or `java-db` (never `checks`).
    pub kind: ArtifactKind,
    /// Repository to push the rebuilt artifact under (the kind's own).
    pub repository: String,
    /// Its tag (`2`, `1`).
    pub tag: String,
    /// [`ENCODING_ZSTD_PATCH_FROM`].
    pub encoding: String,
    /// The payload holding the delta (the `AIRDLT01` container): `delta/<kind>/<file>.delta`.
    pub path: PayloadPath,
    /// The payload holding the new metadata.json: `delta/<kind>/metadata.json`.
    pub metadata_path: PayloadPath,
    /// The digest of the full layer upstream published for the result,
    /// when export saw one (printed by `--push`, which rebuilds another).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "oci_digest_opt"
    )]
    pub upstream_layer_digest: Option<Sha256Digest>,
    /// The file the delta applies to.
    pub base: DeltaBase,
    /// The result: the same table a full artifact's `[artifact.database]` is.
    pub database: Database,
}

/// The base file a delta applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaBase {
    /// Its SHA-256, uncompressed (64 hex digits).
    #[serde(with = "hex_digest")]
    pub sha256: Sha256Digest,
    /// Its size.
    pub size: u64,
    /// Its metadata.json `UpdatedAt` (for messages and the downgrade rule).
    pub updated_at: Rfc3339Time,
}

impl Delta {
    /// The payload path of the delta frame for `kind`'s database `file`.
    pub fn frame_path(kind: ArtifactKind, file: &str) -> String {
        format!("delta/{}/{file}.delta", kind.name())
    }

    /// The payload path of the metadata.json for `kind`.
    pub fn metadata_payload(kind: ArtifactKind) -> String {
        format!("delta/{}/metadata.json", kind.name())
    }
}

impl Manifest {
    /// Every database the bundle installs, whole or as a delta: kind and
    /// the signed description of the resulting file.
    pub fn databases(&self) -> impl Iterator<Item = (ArtifactKind, &Database)> {
        self.artifacts
            .iter()
            .filter_map(|a| a.database.as_ref().map(|d| (a.kind, d)))
            .chain(self.deltas.iter().map(|d| (d.kind, &d.database)))
    }

    /// Every component kind the bundle replaces (artifacts and deltas).
    pub fn installed_kinds(&self) -> Vec<ArtifactKind> {
        let mut kinds: Vec<ArtifactKind> = self
            .artifacts
            .iter()
            .map(|a| a.kind)
            .chain(self.deltas.iter().map(|d| d.kind))
            .collect();
        kinds.sort();
        kinds
    }

    /// The delta of `kind`, if the bundle carries one.
    pub fn delta(&self, kind: ArtifactKind) -> Option<&Delta> {
        self.deltas.iter().find(|d| d.kind == kind)
    }

    /// The rules of `[[delta]]` (SPEC.md section 3): kinds, order, payloads,
    /// sizes, relations; and the format version that announces them.
    pub(super) fn check_deltas(&self) -> Result<(), ManifestError> {
        let minor_ok = self
            .format_version
            .split_once('.')
            .and_then(|(_, m)| m.parse::<u64>().ok())
            .is_some_and(|m| m >= 3);
        if !self.deltas.is_empty() && !minor_ok {
            return field(format!(
                "the manifest carries deltas but declares format {}; deltas are format 1.3",
                crate::text::escape(&self.format_version)
            ));
        }
        let mut last: Option<ArtifactKind> = None;
        for d in &self.deltas {
            let k = d.kind;
            if k == ArtifactKind::Checks {
                return field(
                    "a delta is defined only for trivy-db and java-db, not checks".into(),
                );
            }
            if last.is_some_and(|l| l >= k) {
                return field(format!(
                    "delta {k} is listed twice or out of order: deltas are listed in the order trivy-db, java-db, at most one each"
                ));
            }
            last = Some(k);
            if self.artifacts.iter().any(|a| a.kind == k) {
                return field(format!(
                    "{k} is carried both whole and as a delta; a bundle carries each database once"
                ));
            }
            self.check_delta(d)?;
        }
        // Every delta/ payload belongs to a delta (nothing rides along).
        if let Some(p) = self.payloads.iter().find(|p| {
            p.path.starts_with("delta/")
                && !self
                    .deltas
                    .iter()
                    .any(|d| d.path == p.path || d.metadata_path == p.path)
        }) {
            return field(format!("payload {} belongs to no delta", p.path));
        }
        Ok(())
    }

    fn check_delta(&self, d: &Delta) -> Result<(), ManifestError> {
        let k = d.kind;
        let info = crate::artifact::info(k);
        if d.encoding != ENCODING_ZSTD_PATCH_FROM {
            return field(format!(
                "delta {k}: encoding {:?} is not {ENCODING_ZSTD_PATCH_FROM:?}",
                crate::text::escape(&d.encoding.chars().take(64).collect::<String>())
            ));
        }
        if d.repository != k.repository() {
            return field(format!(
                "delta {k}: repository {:?} is not {:?}",
                crate::text::escape(&d.repository.chars().take(256).collect::<String>()),
                k.repository()
            ));
        }
        crate::oci_name::check_tag(&d.tag)
            .map_err(|e| ManifestError::Field(format!("delta {k} tag: {e}")))?;
        let file = info.db_file.unwrap_or_default();
        if d.database.file != file {
            return field(format!("delta {k}: the database file must be {file}"));
        }
        let (frame, meta) = (Delta::frame_path(k, file), Delta::metadata_payload(k));
        if d.path != frame || d.metadata_path != meta {
            return field(format!("delta {k} must be stored as {frame} and {meta}"));
        }
        match self.payload(&meta) {
            Some(p) if p.size <= MAX_DELTA_METADATA => {}
            Some(p) => {
                return field(format!(
                    "delta {k}: metadata.json of {} bytes is larger than {MAX_DELTA_METADATA}",
                    p.size
                ))
            }
            None => return field(format!("delta {k}: {meta} is not among the payloads")),
        }
        let Some(frame_payload) = self.payload(&frame) else {
            return field(format!("delta {k}: {frame} is not among the payloads"));
        };
        for (what, size) in [("base", d.base.size), ("result", d.database.size)] {
            if size > MAX_DELTA_FILE {
                return field(format!(
                    "delta {k}: the {what} file of {size} bytes is larger than {MAX_DELTA_FILE} (the most any bundle may declare)"
                ));
            }
        }
        if frame_payload.size > d.database.size.saturating_add(1 << 20) {
            return field(format!(
                "delta {k}: the delta of {} bytes is larger than its result ({} bytes) plus 1 MiB; carry the database whole",
                frame_payload.size, d.database.size
            ));
        }
        if d.base.sha256 == d.database.sha256 {
            return field(format!(
                "delta {k}: the base and the result are the same file (sha256 {})",
                d.base.sha256
            ));
        }
        super::db_window(&d.database.updated_at, &d.database.next_update)
            .map_err(|e| ManifestError::Field(format!("delta {k}: {e}")))?;
        if d.base.updated_at.at() > d.database.updated_at.at() {
            return field(format!(
                "delta {k}: the base (UpdatedAt {}) is newer than the result (UpdatedAt {})",
                d.base.updated_at, d.database.updated_at
            ));
        }
        Ok(())
    }
}

fn field<T>(m: String) -> Result<T, ManifestError> {
    Err(ManifestError::Field(m))
}
