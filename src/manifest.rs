//! The bundle manifest (`airlock/manifest.toml`): what a bundle holds, and the
//! one thing its signatures cover.
//!
//! The manifest lists every payload with its size and SHA-256, so verifying
//! the signature over these bytes, then every payload against its entry,
//! proves every byte of the bundle. It is parsed only after a signature over
//! its exact bytes has been checked ([`Manifest::parse`] is called by the
//! bundle reader at that point, and by `inspect`, which never acts on it).
//! The full field reference is `bundle-spec/SPEC.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;

mod delta;
mod types;
mod validate;

pub use delta::{
    Delta, DeltaBase, DELTA_FORMAT_VERSION, ENCODING_ZSTD_PATCH_FROM, MAX_DELTA_FILE,
    MAX_DELTA_METADATA,
};

pub use types::{
    hex_digest, oci_digest, oci_digest_opt, ArchiveFormat, PayloadPath, PlainName, RelativePath,
    Rfc3339Time, Subdir,
};
pub use validate::{
    check_db_window, check_label, db_window, MAX_CLOCK_SKEW, MAX_DB_VALIDITY, MAX_TEXT,
};

/// The format name stored in every manifest.
pub const FORMAT_NAME: &str = "airlock-bundle";
/// The major version this build reads and writes.
pub const FORMAT_MAJOR: u64 = 1;
/// The minor version this build writes (1.2: `unpacked.dirs`; 1.1:
/// `series`, `sequence`, `fetched_at`).
pub const FORMAT_MINOR: u64 = 2;

/// Errors parsing or checking a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not UTF-8 or not TOML.
    #[error("manifest is not valid TOML: {0}")]
    Syntax(String),
    /// `format` is not `airlock-bundle`.
    #[error("not an airlock bundle manifest (format = {found:?}, expected {FORMAT_NAME:?})")]
    NotAirlock {
        /// What the field held.
        found: String,
    },
    /// A major version this build does not know.
    #[error("bundle format version {found} is not supported by this airlock (it reads major version {FORMAT_MAJOR})")]
    UnknownMajor {
        /// The version found.
        found: String,
    },
    /// A field has the wrong shape.
    #[error("manifest field is invalid: {0}")]
    Field(String),
    /// The manifest could not be written.
    #[error("cannot serialize the manifest: {0}")]
    Serialize(String),
}

impl crate::error::Classify for ManifestError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            ManifestError::Syntax(_)
            | ManifestError::NotAirlock { .. }
            | ManifestError::UnknownMajor { .. }
            | ManifestError::Field(_)
            | ManifestError::Serialize(_) => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            ManifestError::UnknownMajor { found } => crate::error::Hint::text(format!(
                "upgrade airlock on this host to one that reads format {found}"
            )),
            ManifestError::Syntax(_)
            | ManifestError::NotAirlock { .. }
            | ManifestError::Field(_)
            | ManifestError::Serialize(_) => None,
        }
    }
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// `MAJOR.MINOR`; a reader refuses an unknown major.
    pub format_version: String,
    /// When the bundle was made (RFC 3339, from `--created`).
    pub created: Rfc3339Time,
    /// The program that wrote it, e.g. `airlock 0.1.0`.
    pub generator: String,
    /// The bundle series this bundle belongs to (format 1.1), for rollback
    /// protection: importers refuse a lower `sequence` in the same series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<PlainName>,
    /// The bundle's place in its series (format 1.1), increasing by export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Free-form labels (`--label KEY=VALUE`), e.g. a change ticket.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The OCI artifacts (databases, checks bundle).
    #[serde(default, rename = "artifact")]
    pub artifacts: Vec<Artifact>,
    /// The VEX repositories.
    #[serde(default, rename = "vex")]
    pub vex: Vec<VexRepository>,
    /// The databases carried as deltas against an earlier bundle's (format
    /// 1.3); none in a full bundle, which then serializes as before.
    #[serde(default, rename = "delta", skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<Delta>,
    /// Every payload entry of the bundle, in the order it appears.
    #[serde(rename = "payload")]
    pub payloads: Vec<Payload>,
}

/// The kind of an OCI artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// The vulnerability database (`trivy-db`).
    TrivyDb,
    /// The Java index database (`trivy-java-db`).
    JavaDb,
    /// The misconfiguration checks bundle (`trivy-checks`).
    Checks,
}

impl ArtifactKind {
    /// Every kind, in bundle order.
    pub const ALL: [ArtifactKind; 3] = [
        ArtifactKind::TrivyDb,
        ArtifactKind::JavaDb,
        ArtifactKind::Checks,
    ];

    /// The name used in messages and in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::TrivyDb => "trivy-db",
            ArtifactKind::JavaDb => "java-db",
            ArtifactKind::Checks => "checks",
        }
    }
}

impl ArtifactKind {
    /// The repository name the artifact is published and pushed under
    /// (the last part of Trivy's default references).
    pub fn repository(self) -> &'static str {
        match self {
            ArtifactKind::TrivyDb => "trivy-db",
            ArtifactKind::JavaDb => "trivy-java-db",
            ArtifactKind::Checks => "trivy-checks",
        }
    }
}

impl std::fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One OCI artifact, stored in the bundle's OCI image layout under `oci/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Which artifact this is.
    pub kind: ArtifactKind,
    /// Where export took it from (a file path, a cache directory, a reference).
    pub source: String,
    /// The upstream OCI reference, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Repository name and tag to use when pushing (e.g. `trivy-db`, `2`).
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// Digest of the OCI image manifest blob in `oci/blobs/sha256/`
    /// (`sha256:<hex>` in the manifest).
    #[serde(with = "oci_digest")]
    pub manifest_digest: Sha256Digest,
    /// The digest upstream published, when it differs or is only known
    /// indirectly (e.g. from a cache's `policy/metadata.json`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "oci_digest_opt"
    )]
    pub upstream_manifest_digest: Option<Sha256Digest>,
    /// The manifest's `artifactType`.
    pub artifact_type: String,
    /// The single layer.
    pub layer: Layer,
    /// What unpacking the layer yields (limits enforced on import).
    pub unpacked: Unpacked,
    /// For the databases: what `metadata.json` says and the database file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    /// For the checks bundle: its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksInfo>,
    /// When it was fetched from its registry (format 1.1), for artifacts
    /// exported straight from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<Rfc3339Time>,
}

/// The layer descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// e.g. `application/vnd.aquasec.trivy.db.layer.v1.tar+gzip`.
    pub media_type: String,
    /// The blob's digest (`sha256:<hex>` in the manifest).
    #[serde(with = "oci_digest")]
    pub digest: Sha256Digest,
    /// Compressed size in bytes.
    pub size: u64,
    /// The `org.opencontainers.image.title` annotation, e.g. `db.tar.gz`.
    pub title: PlainName,
}

/// Totals of an unpacked archive, signed so import can bound decompression
/// exactly (see `unpack::Totals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpacked {
    /// Sum of the sizes of the regular files installed (for a VEX archive:
    /// those under its folder).
    pub size: u64,
    /// Number of regular files installed.
    pub files: u64,
    /// Number of entries in the whole archive, of any kind (tar extension
    /// headers included).
    pub entries: u64,
    /// Data bytes of all those entries.
    pub data: u64,
    /// Number of distinct directories installed, explicit or implied by the
    /// path of an installed entry, the tree's root not counted (format 1.2).
    /// A 1.1 manifest has none: then at most [`Unpacked::legacy_dirs`] are
    /// let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirs: Option<u64>,
}

impl Unpacked {
    /// From the walker's totals.
    pub fn from_totals(t: crate::unpack::Totals) -> Self {
        Unpacked {
            size: t.bytes,
            files: t.files,
            entries: t.entries,
            data: t.data,
            dirs: Some(t.dirs),
        }
    }

    /// The bound on directories for a manifest that does not sign their
    /// number (format 1.1): two per entry, plus 1024. Real archives stay
    /// below one per entry (VEX Hub's lists every directory as an entry;
    /// checks bundles put many files in each directory); a directory bomb,
    /// whose entries each imply hundreds, does not.
    pub fn legacy_dirs(entries: u64) -> u64 {
        entries.saturating_mul(2).saturating_add(1024)
    }

    /// The most directories the tree may have: the signed figure, or the
    /// legacy bound.
    pub fn max_dirs(&self) -> u64 {
        self.dirs
            .unwrap_or_else(|| Unpacked::legacy_dirs(self.entries))
    }

    /// Refuses signed totals that no archive export accepts could have
    /// (the same [`crate::unpack::Limits::LOCAL_INPUT`] bounds), or that
    /// `compressed` bytes of deflate data cannot hold (deflate expands at
    /// most 1032:1): signed figures bound the work of a verify, so they are
    /// bounded themselves before any payload is read (issue 11).
    pub fn check_bounds(&self, what: &str, compressed: u64) -> Result<(), ManifestError> {
        let l = crate::unpack::Limits::LOCAL_INPUT;
        let most = compressed.saturating_mul(1100).saturating_add(1 << 20);
        let over = |field: &str, value: u64, max: u64| {
            (value > max).then(|| {
                ManifestError::Field(format!(
                    "{what} unpacks to {field} {value}, more than {max} (the most any bundle may declare)"
                ))
            })
        };
        let found = over("entries", self.entries, l.max_entries)
            .or_else(|| over("dirs", self.dirs.unwrap_or(0), l.max_dirs))
            .or_else(|| over("files", self.files, self.entries))
            .or_else(|| over("size", self.size, self.data.min(l.max_bytes)))
            .or_else(|| over("data", self.data, l.max_data.min(most)));
        match found {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The limits that let exactly this much through.
    pub fn limits(&self) -> crate::unpack::Limits {
        crate::unpack::Limits::exactly(crate::unpack::Totals {
            bytes: self.size,
            files: self.files,
            entries: self.entries,
            data: self.data,
            dirs: self.max_dirs(),
        })
    }

    /// Whether `scanned`, what walking the archive gave, is what this
    /// signed table declares: every figure equal, `dirs` too when it is
    /// signed (when it is not, the walk was held to the legacy bound).
    pub fn admits(&self, scanned: &Unpacked) -> bool {
        let dirs = match self.dirs {
            Some(d) => scanned.dirs == Some(d),
            None => scanned.dirs.is_some_and(|d| d <= self.max_dirs()),
        };
        dirs && (self.size, self.files, self.entries, self.data)
            == (scanned.size, scanned.files, scanned.entries, scanned.data)
    }
}

impl std::fmt::Display for Unpacked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "size {}, files {}, entries {}, data {}, ",
            self.size, self.files, self.entries, self.data
        )?;
        match self.dirs {
            Some(d) => write!(f, "dirs {d}"),
            None => write!(f, "dirs not signed (at most {})", self.max_dirs()),
        }
    }
}

/// A database's metadata and file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    /// `Version` from metadata.json (the schema).
    pub schema_version: u64,
    /// `UpdatedAt` from metadata.json.
    pub updated_at: Rfc3339Time,
    /// `NextUpdate` from metadata.json.
    pub next_update: Rfc3339Time,
    /// The database file inside the layer (`trivy.db`, `trivy-java.db`).
    pub file: PlainName,
    /// Its size, uncompressed.
    pub size: u64,
    /// Its SHA-256, uncompressed (64 hex digits in the manifest).
    #[serde(with = "hex_digest")]
    pub sha256: Sha256Digest,
}

/// The checks bundle's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksInfo {
    /// The `org.opencontainers.image.version` annotation, e.g. `2.1.0`,
    /// when known (a bare bundle.tar.gz does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its major number (Trivy 0.69+ wants 2).
    pub major_version: u64,
}

/// A VEX repository: its manifest and archive, stored under `vex/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexRepository {
    /// The repository's name in Trivy's configuration (`default` for VEX Hub).
    pub name: PlainName,
    /// Where export took it from.
    pub source: String,
    /// The `name` field of vex-repository.json.
    pub title: String,
    /// Payload path of the vex-repository.json.
    pub manifest_path: PayloadPath,
    /// Payload path of the archive.
    pub archive_path: PayloadPath,
    /// `zip` or `tar.gz`.
    pub archive_format: ArchiveFormat,
    /// The folder inside the archive that holds index.json (the `//` suffix
    /// of the location URL); empty if index.json is at the archive root.
    pub subdir: Subdir,
    /// The spec version used (`0.1`).
    pub spec_version: String,
    /// The location URL vex-repository.json named, without its secrets
    /// (see `crate::redact::url`).
    pub original_location: String,
    /// `updated_at` from index.json.
    pub updated_at: String,
    /// Number of packages index.json lists.
    pub packages: u64,
    /// What extracting `subdir` yields.
    pub unpacked: Unpacked,
}

/// One payload entry of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Path inside the bundle (`oci/...` or `vex/...`).
    pub path: PayloadPath,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (64 lowercase hex digits in the manifest).
    #[serde(with = "hex_digest")]
    pub sha256: Sha256Digest,
}

impl Manifest {
    /// Parses and validates manifest bytes. Refuses an unknown major version
    /// before looking at any other field.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.starts_with(b"\xef\xbb\xbf") {
            return Err(ManifestError::Syntax(
                "the manifest starts with a byte-order mark".into(),
            ));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| ManifestError::Syntax("not UTF-8".into()))?;
        // First the envelope alone, so a future major with other fields gets
        // the version message, not a confusing field error.
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| ManifestError::Syntax(crate::text::escape(e.message()).into_owned()))?;
        check_envelope(&table)?;
        check_no_datetime("", &table)?;
        let manifest: Manifest = table.try_into().map_err(deserialize_error)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The canonical TOML bytes (what gets signed).
    pub fn to_toml(&self) -> Result<String, ManifestError> {
        toml::to_string(self).map_err(|e| ManifestError::Serialize(e.to_string()))
    }

    /// Looks a payload up by path.
    pub fn payload(&self, path: &str) -> Option<&Payload> {
        self.payloads
            .binary_search_by(|p| p.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.payloads[i])
    }

    /// The payload path of an OCI blob.
    pub fn blob_path(digest: &Sha256Digest) -> PayloadPath {
        PayloadPath::blob(digest)
    }
}

/// The envelope, in the spec's order (SPEC.md section 5, checks 5.2-5.4):
/// `format_version`, when it is a string of the version grammar, is judged
/// first (an unknown major is refused before any other field is looked at);
/// then `format`; then `format_version` must be there, well-formed and of
/// major [`FORMAT_MAJOR`].
fn check_envelope(table: &toml::Table) -> Result<(), ManifestError> {
    let version = table.get("format_version").and_then(|v| v.as_str());
    if let Some(major) = version.and_then(version_major) {
        if major != FORMAT_MAJOR {
            return Err(ManifestError::UnknownMajor {
                found: cut(version.unwrap_or_default()),
            });
        }
    }
    let format = table.get("format").and_then(|v| v.as_str()).unwrap_or("");
    if format != FORMAT_NAME {
        return Err(ManifestError::NotAirlock { found: cut(format) });
    }
    let version = version
        .ok_or_else(|| ManifestError::Field("format_version is missing or not a string".into()))?;
    if version_major(version).is_none() {
        return Err(ManifestError::Field(format!(
            "format_version {:?} is not MAJOR.MINOR (decimal numbers without leading zeros)",
            cut(version)
        )));
    }
    Ok(())
}

/// A hostile envelope value as an error shows it: escaped, at most 100
/// characters (a signed manifest may hold a megabyte in one field).
fn cut(s: &str) -> String {
    let head: String = s.chars().take(100).collect();
    let more = if head.len() < s.len() { "…" } else { "" };
    format!("{}{more}", crate::text::escape(&head))
}

/// Refuses a TOML date-time, local date-time, local date or local time
/// value at any key (SPEC.md section 3: times are TOML strings). `toml`
/// would hand such a value to a string field as its text.
fn check_no_datetime(at: &str, table: &toml::Table) -> Result<(), ManifestError> {
    for (key, value) in table {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        check_value_no_datetime(&path, value)?;
    }
    Ok(())
}

fn check_value_no_datetime(path: &str, value: &toml::Value) -> Result<(), ManifestError> {
    match value {
        toml::Value::Datetime(_) => Err(ManifestError::Field(format!(
            "{} is a TOML date-time value, not a string",
            crate::text::escape(path)
        ))),
        toml::Value::Table(t) => check_no_datetime(path, t),
        toml::Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_value_no_datetime(path, v)),
        toml::Value::String(_)
        | toml::Value::Integer(_)
        | toml::Value::Float(_)
        | toml::Value::Boolean(_) => Ok(()),
    }
}

/// The major of a version of the grammar `MAJOR.MINOR`: each part `0` or a
/// digit 1-9 followed by at most 8 digits (no sign, no leading zero).
pub(crate) fn version_major(version: &str) -> Option<u64> {
    let (major, minor) = version.split_once('.')?;
    let number = |p: &str| {
        !p.is_empty()
            && p.len() <= 9
            && p.bytes().all(|c| c.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'))
    };
    if !(number(major) && number(minor)) {
        return None;
    }
    major.parse().ok()
}

/// Checks a single path component safe to use as a file name (see
/// [`PlainName`]).
pub fn check_plain_name(name: &str) -> Result<(), ManifestError> {
    PlainName::new(name).map(|_| ())
}

/// Checks a relative path of plain components separated by `/` (see
/// [`RelativePath`]).
pub fn check_relative_path(path: &str) -> Result<(), ManifestError> {
    RelativePath::new(path).map(|_| ())
}

/// The serde error of a manifest that is TOML but not a manifest: a value
/// one of the field types refused is a `Field` error naming the key path
/// (`toml` appends it as "in `a.b`"), anything else (a missing field, a
/// wrong type) a `Syntax` error as before.
fn deserialize_error(e: toml::de::Error) -> ManifestError {
    let Some(message) = e.message().strip_prefix(types::FIELD_MARK) else {
        return ManifestError::Syntax(crate::text::escape(e.message()).into_owned());
    };
    let shown = e.to_string();
    let key = shown
        .lines()
        .find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'));
    ManifestError::Field(match key {
        Some(k) => format!("{} {message}", crate::text::escape(k)),
        None => message.to_string(),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod envelope_tests;

#[cfg(test)]
mod review_spec_tests;

#[cfg(test)]
mod delta_tests;
