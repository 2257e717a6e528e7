//! Trivy's database `metadata.json` (shared by trivy-db and trivy-java-db).
//!
//! Shape (Go's `json.Marshal` of Trivy's struct, so this field order):
//! `{"Version":2,"NextUpdate":"...","UpdatedAt":"...","DownloadedAt":"..."}`.
//! Published archives carry the zero time in `DownloadedAt`; Trivy fills it
//! after a download and treats a zero one as a corrupt DB.

use crate::timestamp::parse_time;
use serde::{Deserialize, Serialize};

/// The zero time Go writes for an unset `time.Time`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// The largest metadata.json accepted.
pub const MAX_METADATA: u64 = 64 << 10;

/// metadata.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbMetadata {
    /// Schema version.
    #[serde(rename = "Version")]
    pub version: u64,
    /// When upstream expects the next build (RFC 3339).
    #[serde(rename = "NextUpdate")]
    pub next_update: String,
    /// When this build was made (RFC 3339).
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
    /// When Trivy downloaded it (RFC 3339; zero in published archives).
    #[serde(rename = "DownloadedAt", default = "zero_time")]
    pub downloaded_at: String,
}

fn zero_time() -> String {
    ZERO_TIME.to_string()
}

/// Why a metadata.json was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Not the JSON Trivy writes.
    #[error("metadata.json is not valid: {0}")]
    Json(String),
    /// `NextUpdate` before `UpdatedAt`, or too far after it.
    #[error("metadata.json: {0}")]
    Window(String),
    /// A time field that is not RFC 3339.
    #[error("metadata.json field {field} is not an RFC 3339 time: {value:?}")]
    Time {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
    },
}

impl crate::error::Classify for MetadataError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            MetadataError::Json(_) | MetadataError::Window(_) | MetadataError::Time { .. } => {
                Damaged
            }
        }
    }
}

impl DbMetadata {
    /// Parses metadata.json bytes and checks the time fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let m: DbMetadata =
            serde_json::from_slice(bytes).map_err(|e| MetadataError::Json(e.to_string()))?;
        for (field, value) in [
            ("UpdatedAt", &m.updated_at),
            ("NextUpdate", &m.next_update),
            ("DownloadedAt", &m.downloaded_at),
        ] {
            parse_time(value).map_err(|_| MetadataError::Time {
                field,
                value: value.clone(),
            })?;
        }
        crate::manifest::check_db_window(&m.updated_at, &m.next_update)
            .map_err(MetadataError::Window)?;
        Ok(m)
    }

    /// The same metadata as published upstream (`DownloadedAt` zeroed).
    pub fn as_published(&self) -> DbMetadata {
        DbMetadata {
            downloaded_at: ZERO_TIME.to_string(),
            ..self.clone()
        }
    }

    /// JSON bytes in Trivy's field order.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trivy_metadata_and_keeps_field_order() {
        let src = br#"{"Version":2,"NextUpdate":"2026-11-21T06:13:44.393389866Z","UpdatedAt":"2026-11-20T06:13:44.393390166Z","DownloadedAt":"0001-01-01T00:00:00Z"}"#;
        let m = DbMetadata::parse(src).unwrap();
        assert_eq!(m.version, 2);
        assert_eq!(m.to_bytes(), src.to_vec());
        assert!(DbMetadata::parse(
            br#"{"Version":2,"NextUpdate":"soon","UpdatedAt":"2026-11-20T06:13:44Z"}"#
        )
        .is_err());
    }
}
