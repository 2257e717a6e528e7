//! What each series' sequences were (issue 15): "series S sequence N was
//! manifest M, of content C" is append-only knowledge. An import records
//! it, an "already installed" no-op too; a rollback or a forced import
//! never erases it, so a second bundle under a number this host has seen
//! is caught as an equivocation whatever happened since.
//!
//! Equivocation is about content: the same series and sequence with the
//! same payload content but other manifest bytes (another label, another
//! creation time) is not an equivocation; other content is.

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::manifest::Manifest;

use super::guard::{self, State};

/// One sequence of a series, as this host saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenBundle {
    /// Its manifest's SHA-256.
    pub manifest_sha256: String,
    /// Its content ([`fingerprint`]); absent when only an older state's
    /// series record was known (then any other manifest is other content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
}

/// What `state` knows of the bundle's series and sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing (no series, or a number not seen here).
    Unknown,
    /// This bundle, or one of the same content; `Some(manifest)` when that
    /// one's manifest was another.
    Same(Option<String>),
    /// Another content under that number: the manifest seen.
    Other(String),
}

/// The SHA-256 of a bundle's content: each component it installs and the
/// digest of its content ([`guard::contents`]), in order.
pub fn fingerprint(m: &Manifest) -> String {
    let mut text = String::new();
    for (key, digest) in guard::contents(m) {
        text.push_str(&key);
        text.push('=');
        text.push_str(&digest);
        text.push('\n');
    }
    Sha256Digest::of(text.as_bytes()).hex()
}

/// What `state` says of `m`'s series and sequence.
pub fn judge(m: &Manifest, manifest_sha256: &str, state: &State) -> Seen {
    let (Some(series), Some(seq)) = (&m.series, m.sequence) else {
        return Seen::Unknown;
    };
    let Some(seen) = state.seen.get(series.as_str()).and_then(|s| s.get(&seq)) else {
        return Seen::Unknown;
    };
    if seen.manifest_sha256 == manifest_sha256 {
        return Seen::Same(None);
    }
    if seen.contents.as_deref() == Some(fingerprint(m).as_str()) {
        return Seen::Same(Some(seen.manifest_sha256.clone()));
    }
    Seen::Other(seen.manifest_sha256.clone())
}

/// Records `m`'s series and sequence in `state` (the first bundle seen
/// under a number stays), and the last accepted sequence of each series an
/// older state knew only from its series record.
pub fn record(state: &mut State, m: &Manifest, manifest_sha256: &str) {
    for (series, last) in &state.series {
        state
            .seen
            .entry(series.clone())
            .or_default()
            .entry(last.sequence)
            .or_insert_with(|| SeenBundle {
                manifest_sha256: last.manifest_sha256.clone(),
                contents: None,
            });
    }
    if let (Some(series), Some(seq)) = (&m.series, m.sequence) {
        state
            .seen
            .entry(series.to_string())
            .or_default()
            .entry(seq)
            .or_insert_with(|| SeenBundle {
                manifest_sha256: manifest_sha256.to_string(),
                contents: Some(fingerprint(m)),
            });
    }
}

/// The state after an "already installed" no-op of `m` at `now`: its
/// series and sequence remembered (and its series' last sequence, when
/// the series is new here), nothing else changed.
pub fn remember(
    mut state: State,
    m: &Manifest,
    manifest_sha256: &str,
    now: time::OffsetDateTime,
) -> State {
    record(&mut state, m, manifest_sha256);
    if let (Some(series), Some(seq)) = (&m.series, m.sequence) {
        state
            .series
            .entry(series.to_string())
            .or_insert_with(|| guard::SeriesState {
                sequence: seq,
                manifest_sha256: manifest_sha256.to_string(),
                imported_at: crate::timestamp::format_time(now),
                forced: false,
            });
    }
    state
}
