//! `--push` of a bundle that carries a database as a delta (issue 13): no
//! upstream layer travels with a delta, so the layer is rebuilt from the
//! cache the delta was just imported into, deterministically (tar + gzip of
//! metadata.json, as published, and the database file, fixed headers: the
//! same builder as `export --from-cache`), with its OCI manifest and config.
//! Its digest differs from upstream's (another gzip): the push report says
//! so, naming both.

use std::io::Read;
use std::path::Path;

use crate::layout::trivy_cache;
use crate::manifest::{Artifact, Delta};
use crate::source::{Content, PlannedPayload, Prepared};

use super::push_error::PushError;

/// A rebuilt artifact: its manifest entry and its payloads (image manifest,
/// config, layer), the layer in `work`.
pub(super) struct Rebuilt {
    pub(super) artifact: Artifact,
    pub(super) payloads: Vec<PlannedPayload>,
}

/// Rebuilds the artifact of `d` from `cache`, refusing a cache whose
/// database is not the delta's signed result.
pub(super) fn rebuild(d: &Delta, cache: Option<&Path>, work: &Path) -> Result<Rebuilt, PushError> {
    let fail = |reason: String| PushError::Delta {
        kind: d.kind,
        reason,
    };
    let cache = cache.ok_or_else(|| {
        fail("no cache was given to rebuild its layer from (a delta carries no layer)".into())
    })?;
    let dir = cache.join(trivy_cache::component(d.kind));
    let prepared = crate::source::cache::database(d.kind, &dir, work, &crate::progress::NoProgress)
        .map_err(|e| fail(crate::error::chain_text(&e)))?;
    let Prepared::Oci { entry, payloads } = prepared else {
        return Err(fail("the cache holds no database".into()));
    };
    match &entry.database {
        Some(db) if db.sha256 == d.database.sha256 && db.size == d.database.size => {}
        _ => {
            return Err(fail(format!(
                "{} is no longer the delta's result (sha256 {})",
                dir.display(),
                d.database.sha256
            )))
        }
    }
    Ok(Rebuilt {
        artifact: Artifact {
            tag: d.tag.clone(),
            ..entry
        },
        payloads,
    })
}

/// The bytes of a rebuilt payload (image manifest, config: small).
pub(super) fn small_bytes(p: &PlannedPayload) -> Result<Vec<u8>, PushError> {
    let mut out = Vec::new();
    open(p)?
        .take(1 << 20)
        .read_to_end(&mut out)
        .map_err(|e| PushError::Read(p.payload.path.to_string(), e))?;
    Ok(out)
}

/// Opens a rebuilt payload.
pub(super) fn open(p: &PlannedPayload) -> Result<Box<dyn Read + '_>, PushError> {
    let file = |path: &Path| {
        std::fs::File::open(path)
            .map(|f| Box::new(std::io::BufReader::with_capacity(1 << 20, f)) as Box<dyn Read>)
            .map_err(|e| PushError::Read(p.payload.path.to_string(), e))
    };
    match &p.content {
        Content::File(path) => file(path),
        Content::Built(path) => file(path.as_ref()),
        Content::Bytes(b) => Ok(Box::new(&b[..])),
    }
}
