//! The manifest's typed fields: each value is held to its grammar once, when
//! it is deserialized (or constructed), so no caller parses a field again
//! (issue 18). `bundle-spec/SPEC.md` ("Types") names the same types.
//!
//! A refusal here must read like the ones [`super::Manifest::validate`] gives
//! (a `ManifestError::Field`, "manifest field is invalid: ..."), not like a
//! TOML syntax error: [`de_refusal`] marks the message, and
//! [`super::Manifest::parse`] turns a marked message back into a
//! `ManifestError::Field` that names the field's key path.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::ManifestError;
use crate::digest::Sha256Digest;

/// Starts the message of a serde error raised by one of these types (a
/// record separator: no field grammar lets one through, and
/// [`super::Manifest::parse`] strips it).
pub(super) const FIELD_MARK: char = '\u{1e}';

/// The serde error for a value its type refuses: the `Field` message, marked.
fn de_refusal<E: de::Error>(e: ManifestError) -> E {
    match e {
        ManifestError::Field(m) => E::custom(format_args!("{FIELD_MARK}{m}")),
        other => E::custom(other),
    }
}

/// `s`, escaped and cut to 100 characters, quoted: safe in a message.
fn shown(s: &str) -> String {
    format!(
        "{:?}",
        crate::text::escape(&s.chars().take(100).collect::<String>())
    )
}

/// Whether `name` is a plain name: `[A-Za-z0-9._-]`, 1 to 64 bytes, not
/// starting with a dot.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `path` is plain names joined by `/`, at most 255 bytes.
fn is_relative(path: &str) -> bool {
    path.len() <= 255 && path.split('/').all(is_plain)
}

/// The string newtypes share their plumbing: read-only access as `str`,
/// comparison with strings, parsing, and serde through [`Self::new`].
macro_rules! string_type {
    ($t:ident) => {
        impl $t {
            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// As the string (`"name"`), so messages quote it as before.
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<std::path::Path> for $t {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$t> for String {
            fn eq(&self, other: &$t) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$t> for str {
            fn eq(&self, other: &$t) -> bool {
                self == other.0
            }
        }

        impl FromStr for $t {
            type Err = ManifestError;
            fn from_str(s: &str) -> Result<Self, ManifestError> {
                $t::new(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = ManifestError;
            fn try_from(s: String) -> Result<Self, ManifestError> {
                $t::new(s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $t::new(String::deserialize(d)?).map_err(de_refusal)
            }
        }
    };
}

/// A single path component safe to use as a file name: `[A-Za-z0-9._-]`,
/// 1 to 64 bytes, not starting with a dot (`series`, a layer's `title`, a
/// database's `file`, a VEX repository's `name`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlainName(String);

impl PlainName {
    /// Holds `name` to the grammar.
    pub fn new(name: impl Into<String>) -> Result<Self, ManifestError> {
        let name = name.into();
        if is_plain(&name) {
            return Ok(PlainName(name));
        }
        Err(ManifestError::Field(format!(
            "{} is not a plain name (1-64 of A-Z a-z 0-9 . _ -, not starting with a dot)",
            shown(&name)
        )))
    }
}

string_type!(PlainName);

/// A relative path of plain names joined by `/`, at most 255 bytes
/// (what `unpack` may create); no `.`/`..` component, no leading `/`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelativePath(String);

impl RelativePath {
    /// Holds `path` to the grammar.
    pub fn new(path: impl Into<String>) -> Result<Self, ManifestError> {
        let path = path.into();
        if path.len() > 255 {
            return Err(ManifestError::Field(format!(
                "path too long: {}",
                shown(&path)
            )));
        }
        if !is_relative(&path) {
            return Err(ManifestError::Field(format!(
                "unsafe path {}",
                shown(&path)
            )));
        }
        Ok(RelativePath(path))
    }
}

string_type!(RelativePath);

/// The folder inside a VEX archive that holds `index.json`: a
/// [`RelativePath`], or empty for the archive's root (SPEC.md: `subdir`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Subdir(String);

impl Subdir {
    /// Holds `path` to the grammar: empty, or a [`RelativePath`].
    pub fn new(path: impl Into<String>) -> Result<Self, ManifestError> {
        let path = path.into();
        if !path.is_empty() {
            RelativePath::new(path.as_str())?;
        }
        Ok(Subdir(path))
    }
}

string_type!(Subdir);

/// The path of a payload entry inside the bundle: a [`RelativePath`] under
/// `oci/` or `vex/` (SPEC.md: `payload.path`, `vex.manifest_path`,
/// `vex.archive_path`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayloadPath(String);

impl PayloadPath {
    /// Holds `path` to the grammar.
    pub fn new(path: impl Into<String>) -> Result<Self, ManifestError> {
        let path = RelativePath::new(path)?.0;
        if !(path.starts_with("oci/") || path.starts_with("vex/") || path.starts_with("delta/")) {
            return Err(ManifestError::Field(format!(
                "payload {} is outside oci/, vex/ and delta/",
                shown(&path)
            )));
        }
        Ok(PayloadPath(path))
    }

    /// The payload path of an OCI blob, `oci/blobs/sha256/<hex>`.
    pub fn blob(digest: &Sha256Digest) -> Self {
        PayloadPath(format!("oci/blobs/sha256/{}", digest.hex()))
    }

    /// `oci/oci-layout`, the OCI image layout marker.
    pub fn oci_layout() -> Self {
        PayloadPath("oci/oci-layout".into())
    }

    /// `oci/index.json`, the OCI image layout's index.
    pub fn oci_index() -> Self {
        PayloadPath("oci/index.json".into())
    }

    /// `vex/<name>/vex-repository.json`, where a VEX repository's manifest
    /// is stored.
    pub fn vex_manifest(name: &PlainName) -> Self {
        PayloadPath(format!("vex/{name}/vex-repository.json"))
    }

    /// `vex/<name>/archive.<format>`, where a VEX repository's archive is
    /// stored.
    pub fn vex_archive(name: &PlainName, format: ArchiveFormat) -> Self {
        PayloadPath(format!("vex/{name}/archive.{format}"))
    }

    /// The digest a blob's path names, if this is a blob path (its last
    /// component 64 lowercase hex digits).
    pub fn blob_digest(&self) -> Option<Sha256Digest> {
        self.0.strip_prefix("oci/blobs/sha256/")?.parse().ok()
    }
}

string_type!(PayloadPath);

/// A VEX repository's archive format: what Trivy (go-getter) and airlock
/// both read. The manifest names it `zip` or `tar.gz`, which is also the
/// archive's file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    /// zip.
    Zip,
    /// gzip-compressed tar.
    TarGz,
}

impl ArchiveFormat {
    /// `zip` or `tar.gz` (the manifest's name, also the file extension).
    pub fn name(self) -> &'static str {
        match self {
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::TarGz => "tar.gz",
        }
    }

    /// Parses [`ArchiveFormat::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "zip" => Some(ArchiveFormat::Zip),
            "tar.gz" => Some(ArchiveFormat::TarGz),
            _ => None,
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ArchiveFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ArchiveFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ArchiveFormat::from_name(&s).ok_or_else(|| {
            de_refusal(ManifestError::Field(format!(
                "{} is not an archive format (zip or tar.gz)",
                shown(&s)
            )))
        })
    }
}

/// A time in the manifest (`created`, a database's `updated_at` and
/// `next_update`, an artifact's `fetched_at`): RFC 3339, one line of at most
/// 64 bytes. It keeps the text it was read from, so a manifest serializes
/// to the bytes it was parsed from (a database's `UpdatedAt` carries Go's
/// nanoseconds); times airlock makes are written in UTC to the second
/// ([`crate::timestamp::format_time`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Rfc3339Time {
    at: OffsetDateTime,
    text: String,
}

impl Rfc3339Time {
    /// Parses `text`.
    pub fn new(text: impl Into<String>) -> Result<Self, ManifestError> {
        let text = text.into();
        crate::text::check_line(&text, 64).map_err(|e| {
            ManifestError::Field(format!("{} is not one line of text: {e}", shown(&text)))
        })?;
        let at = Some(&text)
            .filter(|t| is_date_time(t))
            .and_then(|t| crate::timestamp::parse_time(t).ok())
            .ok_or_else(|| ManifestError::Field(format!("{text:?} is not an RFC 3339 time")))?;
        Ok(Rfc3339Time { at, text })
    }

    /// The time.
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// The text, as the manifest holds it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// RFC 3339 section 5.6's `date-time` shape with upper-case `T` and `Z`
/// (SPEC.md section 3, "Types"): `YYYY-MM-DDTHH:MM:SS`, an optional
/// fraction of one or more digits, then `Z` or `+HH:MM` / `-HH:MM`. The
/// ranges of the fields are left to the parser.
fn is_date_time(text: &str) -> bool {
    let b = text.as_bytes();
    let shape = |s: &[u8], pattern: &[u8]| {
        s.len() == pattern.len()
            && s.iter().zip(pattern).all(|(c, p)| match p {
                b'9' => c.is_ascii_digit(),
                _ => c == p,
            })
    };
    if b.len() < 20 || !shape(&b[..19], b"9999-99-99T99:99:99") {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(after) = rest.strip_prefix(b".") {
        let digits = after.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &after[digits..];
    }
    rest == b"Z" || shape(rest, b"+99:99") || shape(rest, b"-99:99")
}

impl From<OffsetDateTime> for Rfc3339Time {
    /// The time in UTC, to the second.
    fn from(t: OffsetDateTime) -> Self {
        let text = crate::timestamp::format_time(t);
        let at = crate::timestamp::parse_time(&text).unwrap_or(t);
        Rfc3339Time { at, text }
    }
}

/// As the text (`"2026-01-01T00:00:00Z"`), so messages quote it as before.
impl fmt::Debug for Rfc3339Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Rfc3339Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Rfc3339Time {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        Rfc3339Time::new(s)
    }
}

impl Serialize for Rfc3339Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Rfc3339Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Rfc3339Time::new(String::deserialize(d)?).map_err(de_refusal)
    }
}

/// Serde for a [`Sha256Digest`] in its OCI form, `sha256:<64 lowercase
/// hex>` (`manifest_digest`, `layer.digest`): `#[serde(with = "oci_digest")]`.
pub mod oci_digest {
    use super::*;

    /// Writes `sha256:<hex>`.
    pub fn serialize<S: Serializer>(d: &Sha256Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.oci())
    }

    /// Reads `sha256:<hex>`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sha256Digest, D::Error> {
        let s = String::deserialize(d)?;
        Sha256Digest::parse_oci(&s).map_err(|_| {
            de_refusal(ManifestError::Field(format!(
                "{} is not a digest (sha256: and 64 lowercase hex digits)",
                shown(&s)
            )))
        })
    }
}

/// [`oci_digest`] for an optional field (`upstream_manifest_digest`).
pub mod oci_digest_opt {
    use super::*;

    /// Writes `sha256:<hex>` (the field is skipped when `None`).
    pub fn serialize<S: Serializer>(d: &Option<Sha256Digest>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => oci_digest::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads `sha256:<hex>`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Sha256Digest>, D::Error> {
        oci_digest::deserialize(d).map(Some)
    }
}

/// Serde for a [`Sha256Digest`] as 64 lowercase hex digits, no prefix
/// (`payload.sha256`, `database.sha256`): `#[serde(with = "hex_digest")]`.
pub mod hex_digest {
    use super::*;

    /// Writes `<hex>`.
    pub fn serialize<S: Serializer>(d: &Sha256Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.hex())
    }

    /// Reads `<hex>`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sha256Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            de_refusal(ManifestError::Field(format!(
                "{} is not a sha256 digest (64 lowercase hex digits)",
                shown(&s)
            )))
        })
    }
}

#[cfg(test)]
mod tests;
