//! The bundle manifest (`airlock/manifest.toml`): what a bundle holds, and the
//! one thing its signatures cover.
//!
//! The manifest lists every payload with its size and SHA-256, so verifying
//! the signature over these bytes, then every payload against its entry,
//! proves every byte of the bundle. It is parsed only after a signature over
//! its exact bytes has been checked ([`Manifest::parse`] is called by the
//! bundle reader at that point, and by `inspect`, which never acts on it).
//! The full field reference is `bundle-spec/SPEC.md`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;

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
    pub created: String,
    /// The program that wrote it, e.g. `airlock 0.1.0`.
    pub generator: String,
    /// The bundle series this bundle belongs to (format 1.1), for rollback
    /// protection: importers refuse a lower `sequence` in the same series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
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
    /// Digest of the OCI image manifest blob in `oci/blobs/sha256/`.
    pub manifest_digest: String,
    /// The digest upstream published, when it differs or is only known
    /// indirectly (e.g. from a cache's `policy/metadata.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_manifest_digest: Option<String>,
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
    pub fetched_at: Option<String>,
}

/// The layer descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// e.g. `application/vnd.aquasec.trivy.db.layer.v1.tar+gzip`.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// The `org.opencontainers.image.title` annotation, e.g. `db.tar.gz`.
    pub title: String,
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
    pub updated_at: String,
    /// `NextUpdate` from metadata.json.
    pub next_update: String,
    /// The database file inside the layer (`trivy.db`, `trivy-java.db`).
    pub file: String,
    /// Its size, uncompressed.
    pub size: u64,
    /// Its SHA-256, uncompressed.
    pub sha256: String,
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
    pub name: String,
    /// Where export took it from.
    pub source: String,
    /// The `name` field of vex-repository.json.
    pub title: String,
    /// Payload path of the vex-repository.json.
    pub manifest_path: String,
    /// Payload path of the archive.
    pub archive_path: String,
    /// `zip` or `tar.gz`.
    pub archive_format: String,
    /// The folder inside the archive that holds index.json (the `//` suffix
    /// of the location URL); empty if index.json is at the archive root.
    pub subdir: String,
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
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: String,
}

impl Payload {
    /// The parsed digest (valid after [`Manifest::validate`]).
    pub fn digest(&self) -> Result<Sha256Digest, ManifestError> {
        self.sha256
            .parse()
            .map_err(|e| ManifestError::Field(format!("payload {}: {e}", self.path)))
    }
}

impl Manifest {
    /// Parses and validates manifest bytes. Refuses an unknown major version
    /// before looking at any other field.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| ManifestError::Syntax("not UTF-8".into()))?;
        // First the envelope alone, so a future major with other fields gets
        // the version message, not a confusing field error.
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| ManifestError::Syntax(crate::text::escape(e.message()).into_owned()))?;
        let format = table.get("format").and_then(|v| v.as_str()).unwrap_or("");
        if format != FORMAT_NAME {
            return Err(ManifestError::NotAirlock {
                found: format.to_string(),
            });
        }
        let version = table
            .get("format_version")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ManifestError::Field("format_version is missing".into()))?;
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u64>().ok())
            .ok_or_else(|| {
                ManifestError::Field(format!("format_version {version:?} is not MAJOR.MINOR"))
            })?;
        if major != FORMAT_MAJOR {
            return Err(ManifestError::UnknownMajor {
                found: crate::text::escape(version).into_owned(),
            });
        }
        let manifest: Manifest = table.try_into().map_err(|e: toml::de::Error| {
            ManifestError::Syntax(crate::text::escape(e.message()).into_owned())
        })?;
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
    pub fn blob_path(digest: &str) -> String {
        format!("oci/blobs/sha256/{}", digest.trim_start_matches("sha256:"))
    }

    /// Checks the structural rules of the spec: safe, sorted, unique payload
    /// paths; well-formed digests; every artifact's blobs present.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let field = |m: String| Err(ManifestError::Field(m));
        self.check_strings()?;
        if let Some(series) = &self.series {
            if check_plain_name(series).is_err() || series.len() > 64 {
                return field(format!(
                    "series {series:?} is not a plain name of at most 64 bytes"
                ));
            }
        }
        if self.series.is_some() != self.sequence.is_some() {
            return field("series and sequence come together".into());
        }
        if self.payloads.is_empty() {
            return field("the manifest lists no payloads".into());
        }
        for pair in self.payloads.windows(2) {
            if pair[0].path >= pair[1].path {
                return field(format!(
                    "payload paths must be unique and sorted: {:?} then {:?}",
                    pair[0].path, pair[1].path
                ));
            }
        }
        for p in &self.payloads {
            check_payload_path(&p.path)?;
            p.digest()?;
            if let Some(hex) = p.path.strip_prefix("oci/blobs/sha256/") {
                if hex != p.sha256 {
                    return field(format!(
                        "blob {} is listed with digest {}",
                        p.path, p.sha256
                    ));
                }
            }
        }
        for (k, v) in &self.labels {
            check_label(k, v)?;
        }
        let mut kinds = BTreeSet::new();
        for a in &self.artifacts {
            if !kinds.insert(a.kind) {
                return field(format!("artifact {} is listed twice", a.kind));
            }
            for (what, digest, size) in [
                ("manifest", &a.manifest_digest, None),
                ("layer", &a.layer.digest, Some(a.layer.size)),
            ] {
                Sha256Digest::parse_oci(digest)
                    .map_err(|e| ManifestError::Field(format!("{} {what} digest: {e}", a.kind)))?;
                let path = Manifest::blob_path(digest);
                match self.payload(&path) {
                    None => {
                        return field(format!(
                            "{} {what} blob {digest} is not among the payloads",
                            a.kind
                        ))
                    }
                    Some(p) if size.is_some_and(|s| s != p.size) => {
                        return field(format!(
                            "{} layer size {} differs from its payload size {}",
                            a.kind, a.layer.size, p.size
                        ))
                    }
                    Some(_) => {}
                }
            }
            match (a.kind, &a.database, &a.checks) {
                (ArtifactKind::TrivyDb | ArtifactKind::JavaDb, Some(db), None) => {
                    db.sha256.parse::<Sha256Digest>().map_err(|e| {
                        ManifestError::Field(format!("{} database sha256: {e}", a.kind))
                    })?;
                    check_plain_name(&db.file)?;
                }
                (ArtifactKind::Checks, None, Some(_)) => {}
                _ => return field(format!("artifact {} has the wrong detail table", a.kind)),
            }
        }
        let mut names = BTreeSet::new();
        for v in &self.vex {
            check_plain_name(&v.name)?;
            if !names.insert(v.name.as_str()) {
                return field(format!("VEX repository {:?} is listed twice", v.name));
            }
            let expected = [
                format!("vex/{}/vex-repository.json", v.name),
                format!("vex/{}/archive.{}", v.name, v.archive_format),
            ];
            if v.manifest_path != expected[0] || v.archive_path != expected[1] {
                return field(format!(
                    "VEX repository {:?} must be stored as {} and {}",
                    v.name, expected[0], expected[1]
                ));
            }
            if v.spec_version != "0.1" {
                return field(format!(
                    "VEX repository {:?}: spec_version {:?} is not 0.1",
                    v.name, v.spec_version
                ));
            }
            for path in [&v.manifest_path, &v.archive_path] {
                if self.payload(path).is_none() {
                    return field(format!(
                        "VEX repository {:?}: {path} is not among the payloads",
                        v.name
                    ));
                }
            }
            if !matches!(v.archive_format.as_str(), "zip" | "tar.gz") {
                return field(format!(
                    "VEX repository {:?}: unknown archive format {:?}",
                    v.name, v.archive_format
                ));
            }
            if !v.subdir.is_empty() {
                check_relative_path(&v.subdir)?;
            }
        }
        for a in &self.artifacts {
            a.unpacked.check_bounds(&a.kind.to_string(), a.layer.size)?;
        }
        for v in &self.vex {
            let archive = self.payload(&v.archive_path).map_or(0, |p| p.size);
            v.unpacked
                .check_bounds(&format!("VEX repository {:?}", v.name), archive)?;
        }
        // Every vex/ payload belongs to a repository (nothing rides along
        // unlisted); oci/ payloads are matched to artifacts on import.
        if let Some(p) = self.payloads.iter().find(|p| {
            p.path.starts_with("vex/")
                && !self
                    .vex
                    .iter()
                    .any(|v| v.manifest_path == p.path || v.archive_path == p.path)
        }) {
            return field(format!("payload {} belongs to no VEX repository", p.path));
        }
        if self.artifacts.is_empty() && self.vex.is_empty() {
            return field("the manifest lists no artifacts and no VEX repositories".into());
        }
        Ok(())
    }
}

/// How far ahead of the reader's clock a time in a manifest may be: clocks
/// on either side of an air gap drift, but a bundle "created" next year, or
/// a database "updated" in 9999, would be recorded by the importer and make
/// every genuinely newer bundle look like a downgrade (issue 11). Export
/// and import both refuse times further ahead than this.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::hours(1);

/// The longest a database may claim to stay current: `NextUpdate` at most
/// this long after `UpdatedAt` (upstream builds daily and says so). A
/// database "current" until 9999 would keep every scanner that pulls it
/// from asking for a newer one (issue 11).
pub const MAX_DB_VALIDITY: time::Duration = time::Duration::days(14);

/// Checks a database's `UpdatedAt`/`NextUpdate` pair: both RFC 3339,
/// `NextUpdate` not before `UpdatedAt` and at most [`MAX_DB_VALIDITY`] after.
pub fn check_db_window(updated_at: &str, next_update: &str) -> Result<(), String> {
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("{:?} is not an RFC 3339 time", crate::text::escape(t)))
    };
    let (updated, next) = (parse(updated_at)?, parse(next_update)?);
    if next < updated || next - updated > MAX_DB_VALIDITY {
        return Err(format!(
            "NextUpdate {next_update} must fall between UpdatedAt {updated_at} and {} days after it",
            MAX_DB_VALIDITY.whole_days()
        ));
    }
    Ok(())
}

impl Manifest {
    /// The first time in the manifest that lies more than
    /// [`MAX_CLOCK_SKEW`] after `now` (`created`, a database's `UpdatedAt`,
    /// an artifact's `fetched_at`), described for a message; `None` if
    /// there is none. Times that do not parse are left to [`Manifest::validate`].
    pub fn time_from_the_future(&self, now: time::OffsetDateTime) -> Option<String> {
        let limit = now + MAX_CLOCK_SKEW;
        let parse = |t: &str| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        };
        let mut times = vec![("the bundle's created time".to_string(), &self.created)];
        for a in &self.artifacts {
            if let Some(db) = &a.database {
                times.push((format!("the {}'s UpdatedAt", a.kind), &db.updated_at));
            }
            if let Some(f) = &a.fetched_at {
                times.push((format!("the {}'s fetched_at", a.kind), f));
            }
        }
        times.into_iter().find_map(|(what, t)| {
            let at = parse(t)?;
            (at > limit).then(|| {
                let ahead = (at - now).whole_seconds();
                format!(
                    "{what} {} is {} ahead of this host's clock ({}); at most {} of clock skew is allowed",
                    crate::text::escape(t),
                    crate::policy::human_duration(ahead.max(0) as u64),
                    now.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    crate::policy::human_duration(MAX_CLOCK_SKEW.whole_seconds() as u64)
                )
            })
        })
    }
}

/// The longest free-text field (a source path or URL), in bytes.
pub const MAX_TEXT: usize = 4096;

/// Checks one free-text field: one line of visible text (see
/// [`crate::text::check_line`]) of at most `max` bytes.
fn check_text(what: &str, value: &str, max: usize) -> Result<(), ManifestError> {
    crate::text::check_line(value, max).map_err(|e| {
        ManifestError::Field(format!(
            "{what} {:?} is not one line of text: {e}",
            crate::text::escape(&value.chars().take(200).collect::<String>())
        ))
    })
}

/// Checks an RFC 3339 time field.
fn check_time(what: &str, value: &str) -> Result<(), ManifestError> {
    check_text(what, value, 64)?;
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|_| ())
        .map_err(|_| ManifestError::Field(format!("{what} {value:?} is not an RFC 3339 time")))
}

/// Checks a media type (RFC 6838: `type/subtype`, restricted names).
fn check_media_type(what: &str, value: &str) -> Result<(), ManifestError> {
    let name = |n: &str| {
        !n.is_empty()
            && n.len() <= 127
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match value.split_once('/') {
        Some((t, sub)) if name(t) && name(sub) => Ok(()),
        _ => Err(ManifestError::Field(format!(
            "{what} {:?} is not a media type",
            crate::text::escape(value)
        ))),
    }
}

impl Manifest {
    /// Every string the manifest carries, held to its grammar or to one
    /// line of visible text of bounded length, even when signed: a name
    /// reaches a registry URL (`repository`, `tag`), and any string reaches
    /// a terminal, where a newline or an escape sequence could print a
    /// forged verdict (issue 11).
    fn check_strings(&self) -> Result<(), ManifestError> {
        let name_err = |what: String| {
            move |e: crate::oci_name::NameError| ManifestError::Field(format!("{what}: {e}"))
        };
        let ok_version = self.format_version.split_once('.').is_some_and(|(a, b)| {
            [a, b]
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|c| c.is_ascii_digit()))
        });
        if !ok_version {
            return Err(ManifestError::Field(format!(
                "format_version {:?} is not MAJOR.MINOR",
                crate::text::escape(&self.format_version)
            )));
        }
        check_time("created", &self.created)?;
        check_text("generator", &self.generator, 128)?;
        for a in &self.artifacts {
            let k = a.kind;
            check_text(&format!("{k} source"), &a.source, MAX_TEXT)?;
            if let Some(r) = &a.reference {
                check_text(&format!("{k} reference"), r, MAX_TEXT)?;
                crate::oci_name::Reference::parse(r).map_err(name_err(format!("{k} reference")))?;
            }
            crate::oci_name::check_repository(&a.repository)
                .map_err(name_err(format!("{k} repository")))?;
            // One name per kind: a signed manifest cannot aim one artifact
            // at another's repository (or at any other) under the push
            // prefix.
            if a.repository != k.repository() {
                return Err(ManifestError::Field(format!(
                    "{k} repository {:?} is not {:?}; each artifact is pushed under its own name",
                    a.repository,
                    k.repository()
                )));
            }
            crate::oci_name::check_tag(&a.tag).map_err(name_err(format!("{k} tag")))?;
            crate::oci_name::check_digest(&a.manifest_digest)
                .map_err(name_err(format!("{k} manifest_digest")))?;
            if let Some(d) = &a.upstream_manifest_digest {
                crate::oci_name::check_digest(d)
                    .map_err(name_err(format!("{k} upstream_manifest_digest")))?;
            }
            check_media_type(&format!("{k} artifact_type"), &a.artifact_type)?;
            check_media_type(&format!("{k} layer media_type"), &a.layer.media_type)?;
            crate::oci_name::check_digest(&a.layer.digest)
                .map_err(name_err(format!("{k} layer digest")))?;
            check_plain_name(&a.layer.title)
                .map_err(|e| ManifestError::Field(format!("{k} layer title: {e}")))?;
            if let Some(db) = &a.database {
                check_time(&format!("{k} UpdatedAt"), &db.updated_at)?;
                check_time(&format!("{k} NextUpdate"), &db.next_update)?;
                check_db_window(&db.updated_at, &db.next_update)
                    .map_err(|e| ManifestError::Field(format!("{k}: {e}")))?;
                if db.size > a.unpacked.size {
                    return Err(ManifestError::Field(format!(
                        "{k}: the database file of {} bytes is larger than the layer unpacks to ({})",
                        db.size, a.unpacked.size
                    )));
                }
            }
            if let Some(v) = a.checks.as_ref().and_then(|c| c.version.as_ref()) {
                check_text(&format!("{k} checks version"), v, 128)?;
            }
            if let Some(t) = &a.fetched_at {
                check_time(&format!("{k} fetched_at"), t)?;
            }
        }
        for v in &self.vex {
            let what = |f: &str| format!("VEX repository {:?} {f}", crate::text::escape(&v.name));
            check_text(&what("source"), &v.source, MAX_TEXT)?;
            check_text(&what("title"), &v.title, 256)?;
            check_text(&what("original_location"), &v.original_location, MAX_TEXT)?;
            check_text(&what("updated_at"), &v.updated_at, 64)?;
            check_text(&what("spec_version"), &v.spec_version, 16)?;
            check_text(&what("archive_format"), &v.archive_format, 16)?;
        }
        Ok(())
    }
}

/// Checks a label: key a plain name, value one line of at most 1024 bytes
/// of visible text (see [`crate::text::check_line`]).
pub fn check_label(key: &str, value: &str) -> Result<(), ManifestError> {
    if check_plain_name(key).is_err() || crate::text::check_line(value, 1024).is_err() {
        return Err(ManifestError::Field(format!(
            "label {:?}: keys are 1-64 of A-Z a-z 0-9 . _ -, values one line of at most 1024 bytes without control characters",
            crate::text::escape(&key.chars().take(100).collect::<String>())
        )));
    }
    Ok(())
}

/// A single path component safe to use as a file name: `[A-Za-z0-9._-]`,
/// 1 to 64 bytes, not starting with a dot.
pub fn check_plain_name(name: &str) -> Result<(), ManifestError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Field(format!(
            "{:?} is not a plain name (1-64 of A-Z a-z 0-9 . _ -, not starting with a dot)",
            crate::text::escape(&name.chars().take(100).collect::<String>())
        )))
    }
}

/// A relative path of plain components separated by `/`.
pub fn check_relative_path(path: &str) -> Result<(), ManifestError> {
    if path.len() > 255 {
        return Err(ManifestError::Field(format!("path too long: {path:?}")));
    }
    for part in path.split('/') {
        check_plain_name(part)
            .map_err(|_| ManifestError::Field(format!("unsafe path {path:?}")))?;
    }
    Ok(())
}

fn check_payload_path(path: &str) -> Result<(), ManifestError> {
    check_relative_path(path)?;
    if !(path.starts_with("oci/") || path.starts_with("vex/")) {
        return Err(ManifestError::Field(format!(
            "payload {path:?} is outside oci/ and vex/"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let d = Sha256Digest::of(b"x").hex();
        Manifest {
            format: FORMAT_NAME.into(),
            format_version: "1.0".into(),
            created: "2026-01-01T00:00:00Z".into(),
            generator: "test".into(),
            series: None,
            sequence: None,
            labels: BTreeMap::from([("ticket".into(), "CHG-1".into())]),
            artifacts: vec![],
            vex: vec![VexRepository {
                name: "default".into(),
                source: "s".into(),
                title: "t".into(),
                manifest_path: "vex/default/vex-repository.json".into(),
                archive_path: "vex/default/archive.zip".into(),
                archive_format: "zip".into(),
                subdir: "top".into(),
                spec_version: "0.1".into(),
                original_location: "https://x/y.zip//top".into(),
                updated_at: "2026-01-01T00:00:00Z".into(),
                packages: 1,
                unpacked: Unpacked {
                    size: 1,
                    files: 1,
                    entries: 1,
                    data: 1,
                    dirs: Some(0),
                },
            }],
            payloads: vec![
                Payload {
                    path: "vex/default/archive.zip".into(),
                    size: 1,
                    sha256: d.clone(),
                },
                Payload {
                    path: "vex/default/vex-repository.json".into(),
                    size: 1,
                    sha256: d,
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        let text = m.to_toml().unwrap();
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
    }

    #[test]
    fn unknown_major_is_refused_with_version() {
        let text = sample()
            .to_toml()
            .unwrap()
            .replace("format_version = \"1.0\"", "format_version = \"2.0\"");
        let err = Manifest::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(err, ManifestError::UnknownMajor { .. }));
        assert!(err
            .to_string()
            .starts_with("bundle format version 2.0 is not supported"));
    }

    #[test]
    fn duplicate_keys_and_unsorted_paths_are_refused() {
        let text = sample().to_toml().unwrap().replacen(
            "generator = \"test\"",
            "generator = \"test\"\ngenerator = \"x\"",
            1,
        );
        assert!(matches!(
            Manifest::parse(text.as_bytes()),
            Err(ManifestError::Syntax(_))
        ));
        let mut m = sample();
        m.payloads.reverse();
        assert!(m.validate().is_err());
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["..", ".hidden", "a/b", "a\\b", "", "a\0b", &"x".repeat(65)] {
            assert!(check_plain_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative_path("a/../b").is_err());
        assert!(check_relative_path("/a").is_err());
        assert!(check_relative_path("vexhub-main/pkg").is_ok());
    }
}
