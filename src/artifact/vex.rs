//! VEX repositories (vex-repo-spec 0.1): `vex-repository.json` and the
//! archive its location names.
//!
//! Trivy downloads the location URL with go-getter, whose `//<dir>` suffix
//! names the folder inside the archive to use; `index.json` sits at the root
//! of that folder and lists the VEX documents by path. A location without the
//! suffix for an archive that has a top folder downloads "successfully" and
//! is then ignored by Trivy, so airlock always records the folder and writes
//! the suffix back when it publishes a location.

use std::fmt;
use std::fs::File;
use std::hash::{BuildHasher as _, RandomState};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::manifest::{check_relative_path, Unpacked};
use crate::unpack::{self, EntryKind, Limits, Sink, UnpackError};

/// Where Trivy's cache keeps VEX repositories (one directory per name).
pub const CACHE_DIR: &str = "vex/repositories";
/// The only spec version Trivy 0.76 reads.
pub const SPEC_VERSION: &str = "0.1";
/// The largest vex-repository.json accepted.
pub const MAX_MANIFEST: u64 = 1 << 20;
/// The most JSON values vex-repository.json may hold (VEX Hub's, about ten):
/// import rewrites its location through a `serde_json::Value` tree of the
/// whole document, at up to ~700 bytes a value, so 1 MiB of `{"a":0}`
/// objects would otherwise take 100 MB.
pub const MAX_MANIFEST_VALUES: u64 = 10_000;
/// The largest index.json accepted (it is never held in memory: see
/// [`scan_archive`]).
pub const MAX_INDEX: u64 = 256 << 20;
/// The longest string anywhere in index.json (keys, ids, locations, fields
/// airlock skips), in bytes as written.
pub const MAX_INDEX_STRING: usize = 64 << 10;
/// The largest VEX archive downloaded from a server (VEX Hub's is a few
/// MB); a `Content-Length` above it is refused before anything is written.
pub const MAX_DOWNLOAD: u64 = 1 << 30;
/// The largest file under a VEX archive's folder other than index.json
/// (which has [`MAX_INDEX`]): a VEX document is a few KB.
pub const MAX_FILE: u64 = 64 << 20;
/// How much a VEX archive may expand: the data of all its entries at most
/// this many times the archive's own size, plus [`MAX_INDEX`] for
/// index.json (whose repetitive JSON compresses far better). Checked at
/// export and again at verify and import, whatever the signed totals say.
pub const MAX_RATIO: u64 = 200;

/// The most data (uncompressed, all entries) a VEX archive of `compressed`
/// bytes may hold: see [`MAX_RATIO`].
pub fn max_expansion(compressed: u64) -> u64 {
    compressed
        .saturating_mul(MAX_RATIO)
        .saturating_add(MAX_INDEX)
}

/// The most entries a VEX archive may have, of any kind, kept or not (VEX
/// Hub's archive has about 120). What is kept per entry while the archive
/// is walked is bounded, but not small: the zip library holds each name of
/// the central directory three times (up to 1 KiB each), so this keeps a
/// signed archive of long names within the 64 MiB budget.
pub const MAX_ARCHIVE_ENTRIES: u64 = 10_000;

/// Why a VEX repository was refused.
#[derive(Debug, thiserror::Error)]
pub enum VexError {
    /// vex-repository.json is not what the spec describes.
    #[error("vex-repository.json is not valid: {0}")]
    Manifest(String),
    /// No `spec_version` 0.1 entry.
    #[error("vex-repository.json offers no spec_version \"0.1\" (found {found:?}); Trivy 0.76 reads only 0.1")]
    NoSpecVersion {
        /// The versions offered.
        found: Vec<String>,
    },
    /// The location's `//` folder is unsafe.
    #[error("vex-repository.json location {url:?} names an unsafe folder inside the archive")]
    UnsafeLocation {
        /// The URL, redacted ([`crate::redact::url`]).
        url: String,
    },
    /// More entries than [`MAX_ARCHIVE_ENTRIES`].
    #[error("the VEX archive has more than {limit} entries, the most airlock accepts in a VEX repository (a bound on memory; VEX Hub has about 120)")]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// A file larger than [`MAX_FILE`].
    #[error("the VEX archive's file {path:?} is {size} bytes, more than the {limit} airlock accepts for one VEX document")]
    FileTooLarge {
        /// The file, relative to the folder.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More data than [`max_expansion`] allows.
    #[error("the VEX archive ({compressed} bytes) expands to more than {limit} bytes, more than {MAX_RATIO} times its size plus {MAX_INDEX} for index.json (a decompression bomb)")]
    Expansion {
        /// The archive's size.
        compressed: u64,
        /// The limit.
        limit: u64,
    },
    /// Neither zip nor gzip.
    #[error("the VEX archive is neither a zip nor a gzip-compressed tar")]
    UnknownArchive,
    /// The archive was refused.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// No index.json where the location points.
    #[error("the VEX archive has no {path}")]
    MissingIndex {
        /// Where it was looked for.
        path: String,
    },
    /// index.json is not valid.
    #[error("{path} is not a valid VEX index: {reason}")]
    Index {
        /// Its path in the archive.
        path: String,
        /// Why.
        reason: String,
    },
    /// index.json names a document the archive lacks.
    #[error("index.json lists {location:?} for {id:?}, but the archive has no such file")]
    MissingDocument {
        /// The package id.
        id: String,
        /// The location.
        location: String,
    },
    /// Reading the archive file failed.
    #[error("cannot read the VEX archive")]
    Io(#[source] io::Error),
}

impl crate::error::Classify for VexError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            VexError::Unpack(e) => e.class(),
            VexError::Io(_) => HostFailure,
            VexError::Manifest(_)
            | VexError::NoSpecVersion { .. }
            | VexError::UnsafeLocation { .. }
            | VexError::TooManyEntries { .. }
            | VexError::FileTooLarge { .. }
            | VexError::Expansion { .. }
            | VexError::UnknownArchive
            | VexError::MissingIndex { .. }
            | VexError::Index { .. }
            | VexError::MissingDocument { .. } => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            VexError::Unpack(e) => e.hint(),
            VexError::MissingIndex { .. } => crate::error::Hint::text("the location URL in vex-repository.json must end with //<folder> naming the folder that holds index.json"),
            VexError::Io(_)
            | VexError::Manifest(_)
            | VexError::NoSpecVersion { .. }
            | VexError::UnsafeLocation { .. }
            | VexError::TooManyEntries { .. }
            | VexError::FileTooLarge { .. }
            | VexError::Expansion { .. }
            | VexError::UnknownArchive
            | VexError::Index { .. }
            | VexError::MissingDocument { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct RawManifest {
    name: String,
    #[serde(default)]
    versions: Vec<RawVersion>,
}

#[derive(Deserialize)]
struct RawVersion {
    spec_version: String,
    #[serde(default)]
    locations: Vec<RawLocation>,
    #[serde(default)]
    update_interval: Option<String>,
}

#[derive(Deserialize)]
struct RawLocation {
    url: String,
}

/// What airlock needs from vex-repository.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoManifest {
    /// The `name` field.
    pub name: String,
    /// The first 0.1 location URL, as written.
    pub location: String,
    /// The folder the `//` suffix names ("" without one).
    pub subdir: String,
    /// The update interval, if any.
    pub update_interval: Option<String>,
}

/// Parses vex-repository.json.
pub fn parse_manifest(bytes: &[u8]) -> Result<RepoManifest, VexError> {
    count_values(bytes)?;
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| VexError::Manifest(e.to_string()))?;
    let Some(v) = raw.versions.iter().find(|v| v.spec_version == SPEC_VERSION) else {
        return Err(VexError::NoSpecVersion {
            found: raw
                .versions
                .iter()
                .map(|v| v.spec_version.clone())
                .collect(),
        });
    };
    let location = v
        .locations
        .first()
        .ok_or_else(|| VexError::Manifest("the 0.1 version lists no locations".into()))?
        .url
        .clone();
    let (_, subdir) = split_location(&location);
    if !subdir.is_empty() && check_relative_path(&subdir).is_err() {
        return Err(VexError::UnsafeLocation {
            url: crate::redact::url(&location).into_owned(),
        });
    }
    Ok(RepoManifest {
        name: raw.name,
        location,
        subdir,
        update_interval: v.update_interval.clone(),
    })
}

/// Splits go-getter's `url//subdir` (the `//` after the scheme's `://`; a
/// query string stays with the URL).
pub fn split_location(url: &str) -> (String, String) {
    let (base, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let start = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[start..].find("//") {
        Some(i) => {
            let cut = start + i;
            (
                format!("{}{query}", &base[..cut]),
                base[cut + 2..].trim_end_matches('/').to_string(),
            )
        }
        None => (url.to_string(), String::new()),
    }
}

/// vex-repository.json with every 0.1 location replaced by `url`, other
/// fields kept.
pub fn rewrite_location(bytes: &[u8], url: &str) -> Result<Vec<u8>, VexError> {
    // A `Value` tree costs up to ~700 bytes a value (an object's map node).
    count_values(bytes)?;
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| VexError::Manifest(e.to_string()))?;
    if let Some(versions) = value.get_mut("versions").and_then(|v| v.as_array_mut()) {
        for v in versions {
            if v.get("spec_version").and_then(|s| s.as_str()) == Some(SPEC_VERSION) {
                v["locations"] = serde_json::json!([{ "url": url }]);
            }
        }
    }
    let mut out =
        serde_json::to_vec_pretty(&value).map_err(|e| VexError::Manifest(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

/// Refuses vex-repository.json text of more than [`MAX_MANIFEST_VALUES`]
/// JSON values (or not JSON at all), counting without building anything.
fn count_values(bytes: &[u8]) -> Result<(), VexError> {
    let mut n = 0;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    CountValues { n: &mut n }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| VexError::Manifest(e.to_string()))
}

/// Counts the values of a JSON document (each object, array, string,
/// number, boolean and null counts one; keys do not), up to
/// [`MAX_MANIFEST_VALUES`].
struct CountValues<'a> {
    n: &'a mut u64,
}

impl CountValues<'_> {
    fn count<E: de::Error>(&mut self) -> Result<(), E> {
        *self.n += 1;
        if *self.n > MAX_MANIFEST_VALUES {
            return Err(E::custom(format_args!(
                "more than {MAX_MANIFEST_VALUES} JSON values"
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for CountValues<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountValues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.count()
    }

    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.count()
    }

    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.count()
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.count()
    }

    fn visit_str<E: de::Error>(mut self, _: &str) -> Result<(), E> {
        self.count()
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.count()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.count()?;
        while seq
            .next_element_seed(CountValues { n: &mut *self.n })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.count()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(CountValues { n: &mut *self.n })?;
        }
        Ok(())
    }
}

pub use crate::manifest::ArchiveFormat;

impl ArchiveFormat {
    /// Recognises the format by its first bytes.
    pub fn sniff(head: &[u8]) -> Result<Self, VexError> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Ok(ArchiveFormat::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Ok(ArchiveFormat::TarGz)
        } else {
            Err(VexError::UnknownArchive)
        }
    }
}

/// What a VEX archive's folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VexContents {
    /// Totals of the files under the folder.
    pub unpacked: Unpacked,
    /// `updated_at` of index.json ("" if absent).
    pub updated_at: String,
    /// Packages listed.
    pub packages: u64,
}

/// The paths of the files under the archive's folder, kept as 128-bit
/// hashes (16 bytes a file, whatever the length of its path) so that
/// index.json's locations can be looked up after the walk.
///
/// # Security
///
/// Two different paths with the same hash would let index.json name a
/// document the archive lacks (a consistency check, not a trust decision:
/// the archive's bytes are proven by the signed manifest either way). The
/// hashes are SipHash under a key drawn at random for each process
/// ([`RandomState`]), two of them per path, so no archive can be built to
/// collide: the chance of any accidental collision among a million files
/// and ten million locations is about 2^-84.
struct FileSet {
    key: RandomState,
    hashes: Vec<u128>,
}

impl FileSet {
    fn new() -> Self {
        FileSet {
            key: RandomState::new(),
            hashes: Vec::new(),
        }
    }

    fn hash(&self, path: &str) -> u128 {
        let hi = self.key.hash_one((0u8, path));
        let lo = self.key.hash_one((1u8, path));
        (u128::from(hi) << 64) | u128::from(lo)
    }

    fn insert(&mut self, path: &str) {
        let h = self.hash(path);
        self.hashes.push(h);
    }

    /// Ends the inserts (the walker refuses duplicate names, so there are
    /// none to remove).
    fn seal(&mut self) {
        self.hashes.sort_unstable();
    }

    fn contains(&self, path: &str) -> bool {
        self.hashes.binary_search(&self.hash(path)).is_ok()
    }
}

/// Hands every entry on to the caller's sink, records file paths, and
/// copies index.json's bytes as they pass into an unlinked temporary file,
/// where it is parsed once the whole archive has been seen (the documents
/// it lists may come after it).
struct IndexSink<'a> {
    inner: &'a mut dyn Sink,
    files: FileSet,
    index: Option<File>,
    oversized_index: Option<u64>,
    oversized_file: Option<(String, u64)>,
}

impl Sink for IndexSink<'_> {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        self.inner.dir(path)
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        self.files.insert(path);
        if path != "index.json" {
            if size > MAX_FILE {
                // Before the sink writes a byte of it.
                self.oversized_file = Some((path.to_string(), size));
                return Err(io::Error::other("a VEX file over the size limit"));
            }
            return self.inner.file(path, size, data);
        }
        if size > MAX_INDEX {
            self.oversized_index = Some(size);
            return self.inner.file(path, size, data);
        }
        let mut copy = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut tee = Tee {
            inner: data,
            copy: &mut copy,
        };
        self.inner.file(path, size, &mut tee)?;
        // Whatever the sink left unread still belongs to index.json.
        io::copy(&mut tee, &mut io::sink())?;
        let mut file = copy.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.index = Some(file);
        Ok(())
    }
}

/// Reads from `inner`, writing what it reads to `copy`.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    copy: &'a mut dyn Write,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Walks a VEX archive; hands the files under `subdir` (paths relative to
/// it) to `sink`; checks index.json and that every document it lists exists.
///
/// Memory stays bounded whatever the archive holds: at most
/// [`MAX_ARCHIVE_ENTRIES`] entries (16 bytes kept per file), and index.json
/// (up to [`MAX_INDEX`] bytes) is copied to a temporary file and parsed
/// streaming, one package at a time, no string in it longer than
/// [`MAX_INDEX_STRING`].
pub fn scan_archive<R: Read + Seek>(
    format: ArchiveFormat,
    mut reader: R,
    subdir: &str,
    limits: Limits,
    sink: &mut dyn Sink,
) -> Result<VexContents, VexError> {
    let capped = limits.max_entries > MAX_ARCHIVE_ENTRIES;
    let compressed = reader.seek(io::SeekFrom::End(0)).map_err(VexError::Io)?;
    let expansion = max_expansion(compressed);
    let expansion_binds = limits.max_data > expansion || limits.max_bytes > expansion;
    let limits = Limits {
        max_entries: limits.max_entries.min(MAX_ARCHIVE_ENTRIES),
        max_data: limits.max_data.min(expansion),
        max_bytes: limits.max_bytes.min(expansion),
        ..limits
    };
    let prefix = if subdir.is_empty() {
        String::new()
    } else {
        format!("{subdir}/")
    };
    let mut select = |p: &str, _k: EntryKind| -> Option<String> {
        if prefix.is_empty() {
            Some(p.to_string())
        } else {
            p.strip_prefix(&prefix).map(str::to_string)
        }
    };
    let mut index_sink = IndexSink {
        inner: sink,
        files: FileSet::new(),
        index: None,
        oversized_index: None,
        oversized_file: None,
    };
    reader.rewind().map_err(VexError::Io)?;
    let walked = match format {
        ArchiveFormat::Zip => {
            unpack::zip("VEX archive", reader, limits, &mut select, &mut index_sink)
        }
        ArchiveFormat::TarGz => {
            unpack::tar_gz("VEX archive", reader, limits, &mut select, &mut index_sink)
        }
    };
    if let Some((path, size)) = index_sink.oversized_file.take() {
        return Err(VexError::FileTooLarge {
            path,
            size,
            limit: MAX_FILE,
        });
    }
    let totals = walked.map_err(|e| match e {
        UnpackError::TooManyEntries { limit, .. } if capped => VexError::TooManyEntries { limit },
        UnpackError::TooLarge { limit, .. } if expansion_binds && limit == expansion => {
            VexError::Expansion { compressed, limit }
        }
        e => VexError::Unpack(e),
    })?;
    let index_path = format!("{prefix}index.json");
    if let Some(size) = index_sink.oversized_index {
        return Err(VexError::Index {
            path: index_path,
            reason: format!("{size} bytes, more than the {MAX_INDEX}-byte limit"),
        });
    }
    let index = index_sink.index.ok_or(VexError::MissingIndex {
        path: index_path.clone(),
    })?;
    index_sink.files.seal();
    let (updated_at, packages) = check_index(index, &index_path, &index_sink.files)?;
    Ok(VexContents {
        unpacked: Unpacked::from_totals(totals),
        updated_at: updated_at.unwrap_or_default(),
        packages,
    })
}

/// Parses index.json from `file`, streaming: each package is checked (a
/// safe location, a document the archive holds) and dropped. Returns
/// `updated_at` and the number of packages.
fn check_index(file: File, path: &str, files: &FileSet) -> Result<(Option<String>, u64), VexError> {
    let reader = BufReader::with_capacity(1 << 16, BoundedStrings::new(file, MAX_INDEX_STRING));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failure = None;
    let parsed = IndexSeed {
        path,
        files,
        failure: &mut failure,
    }
    .deserialize(&mut de)
    .and_then(|summary| de.end().map(|()| summary));
    parsed.map_err(|e| match failure {
        Some(refused) => refused,
        // Reading the temporary copy failed: the host's trouble, not the
        // archive's (an overlong string is InvalidData, the archive's).
        None if e.is_io() && e.io_error_kind() != Some(io::ErrorKind::InvalidData) => {
            VexError::Io(e.into())
        }
        None => VexError::Index {
            path: path.to_string(),
            reason: e.to_string(),
        },
    })
}

/// index.json's top-level object: `updated_at` kept, `packages` checked
/// one by one, anything else skipped unread.
struct IndexSeed<'a> {
    path: &'a str,
    files: &'a FileSet,
    /// Set when a package is refused (the parser's error then only says
    /// that it stopped).
    failure: &'a mut Option<VexError>,
}

impl<'de> DeserializeSeed<'de> for IndexSeed<'_> {
    type Value = (Option<String>, u64);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IndexSeed<'_> {
    type Value = (Option<String>, u64);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a VEX index object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut updated_at = None;
        let mut packages = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "updated_at" if updated_at.is_some() => {
                    return Err(de::Error::duplicate_field("updated_at"))
                }
                "updated_at" => updated_at = Some(map.next_value::<Option<String>>()?),
                "packages" if packages.is_some() => {
                    return Err(de::Error::duplicate_field("packages"))
                }
                "packages" => {
                    packages = Some(map.next_value_seed(PackagesSeed {
                        path: self.path,
                        files: self.files,
                        failure: &mut *self.failure,
                    })?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let packages = packages.ok_or_else(|| de::Error::missing_field("packages"))?;
        Ok((updated_at.flatten(), packages))
    }
}

/// One entry of `packages` (other fields, such as `format`, are skipped).
#[derive(Deserialize)]
struct RawPackage {
    id: String,
    location: String,
}

/// The `packages` array, checked element by element; yields the count.
struct PackagesSeed<'a> {
    path: &'a str,
    files: &'a FileSet,
    failure: &'a mut Option<VexError>,
}

impl<'de> DeserializeSeed<'de> for PackagesSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PackagesSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of packages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        // The last location found good (many packages may share a document).
        let mut last = String::new();
        while let Some(mut p) = seq.next_element::<RawPackage>()? {
            if n > 0 && p.location == last {
                n += 1;
                continue;
            }
            let location = p.location.strip_prefix("./").unwrap_or(&p.location);
            let refused = if check_relative_path(location).is_err() {
                Some(VexError::Index {
                    path: self.path.to_string(),
                    reason: format!(
                        "unsafe location {:?} for {:?}",
                        clip(&p.location),
                        clip(&p.id)
                    ),
                })
            } else if !self.files.contains(location) {
                Some(VexError::MissingDocument {
                    id: clip(&p.id),
                    location: clip(&p.location),
                })
            } else {
                None
            };
            if let Some(e) = refused {
                *self.failure = Some(e);
                return Err(de::Error::custom("package refused"));
            }
            std::mem::swap(&mut last, &mut p.location);
            n += 1;
        }
        Ok(n)
    }
}

/// At most 200 bytes of `s` (for messages).
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// Refuses JSON text with a string longer than `max` bytes before a parser
/// sees all of it. serde_json reading from an `io::Read` collects every
/// string it hands over (keys, ids, locations) in a buffer first, so one
/// 200 MiB `id` would otherwise be held whole, whatever the visitor does
/// with it. Only the string boundaries are tracked (an unescaped `"` opens
/// or closes a string; a backslash escapes the next byte), which is all
/// JSON's grammar needs to find them; everything else is the parser's job
/// (which also says where it stopped).
struct BoundedStrings<R> {
    inner: R,
    max: usize,
    /// Inside a string: bytes of it so far.
    run: Option<usize>,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
}

impl<R: Read> BoundedStrings<R> {
    fn new(inner: R, max: usize) -> Self {
        BoundedStrings {
            inner,
            max,
            run: None,
            escaped: false,
        }
    }

    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a string longer than {} bytes", self.max),
        )
    }
}

impl<R: Read> Read for BoundedStrings<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut i = 0;
        while i < n {
            let rest = &buf[i..n];
            let Some(run) = self.run else {
                match rest.iter().position(|&b| b == b'"') {
                    Some(k) => {
                        i += k + 1;
                        self.run = Some(0);
                    }
                    None => i = n,
                }
                continue;
            };
            // The bytes of the string in `rest`, and whether it ends there.
            let (k, closed) = if self.escaped {
                self.escaped = false;
                (1, false)
            } else {
                match rest.iter().position(|&b| b == b'"' || b == b'\\') {
                    Some(k) if rest[k] == b'"' => (k, true),
                    Some(k) => {
                        self.escaped = true;
                        (k + 1, false)
                    }
                    None => (rest.len(), false),
                }
            };
            if run + k > self.max {
                return Err(self.too_long());
            }
            self.run = (!closed).then_some(run + k);
            i += k + usize::from(closed);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn splits_go_getter_subdirs() {
        assert_eq!(
            split_location(
                "https://github.com/aquasecurity/vexhub/archive/refs/heads/main.zip//vexhub-main"
            ),
            (
                "https://github.com/aquasecurity/vexhub/archive/refs/heads/main.zip".into(),
                "vexhub-main".into()
            )
        );
        assert_eq!(
            split_location("file:///srv/vex/a.zip//top/"),
            ("file:///srv/vex/a.zip".into(), "top".into())
        );
        assert_eq!(
            split_location("https://x/a.zip"),
            ("https://x/a.zip".into(), "".into())
        );
        assert_eq!(
            split_location("/srv/a.zip//top?x=1"),
            ("/srv/a.zip?x=1".into(), "top".into())
        );
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    fn scan_index(index: &[u8]) -> Result<VexContents, VexError> {
        let zip = zip_of(&[
            ("top/index.json", index),
            ("top/pkg/a.json", b"{}"),
            ("top/b.json", b"{}"),
        ]);
        scan_archive(
            ArchiveFormat::Zip,
            Cursor::new(zip),
            "top",
            Limits::LOCAL_INPUT,
            &mut crate::unpack::Discard,
        )
    }

    #[test]
    fn index_is_checked_package_by_package() {
        let c = scan_index(
            br#"{"x":{"y":[1,"\"",{}]},"packages":[{"id":"p:a","location":"./pkg/a.json","format":"openvex","extra":[[]]},
            {"location":"b.json","id":"p:b"}],"updated_at":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.packages, c.updated_at.as_str()),
            (2, "2024-01-01T00:00:00Z")
        );
        assert_eq!(c.unpacked.files, 3);
        let c = scan_index(br#"{"updated_at":null,"packages":[]}"#).unwrap();
        assert_eq!((c.packages, c.updated_at.as_str()), (0, ""));

        let e = scan_index(br#"{"packages":[{"id":"p:a","location":"pkg/a.json"},{"id":"p:c","location":"pkg/c.json"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"index.json lists "pkg/c.json" for "p:c", but the archive has no such file"#
        );
        let e = scan_index(br#"{"packages":[{"id":"p:a","location":"../top/pkg/a.json"}]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unsafe location"), "{e}");
        for (bad, why) in [
            (&br#"{"packages":[],"packages":[]}"#[..], "duplicate field"),
            (br#"{"updated_at":"x"}"#, "missing field"),
            (br#"[]"#, "expected a VEX index object"),
            (br#"{"packages":[]} x"#, "trailing characters"),
            (
                br#"{"packages":[{"id":"p:a"}]}"#,
                "missing field `location`",
            ),
            (br#"{"packages":{}}"#, "expected an array of packages"),
            (br#"{"packages":["#, "EOF"),
        ] {
            let e = scan_index(bad).unwrap_err();
            assert!(
                matches!(e, VexError::Index { .. }) && e.to_string().contains(why),
                "{}: {e}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn long_strings_in_the_index_are_refused_unbuffered() {
        let at_limit = format!(
            r#"{{"packages":[],"note":"{}"}}"#,
            "a".repeat(MAX_INDEX_STRING)
        );
        assert!(scan_index(at_limit.as_bytes()).is_ok());
        // Escapes count as written, and an escaped quote does not end a string.
        let escaped = format!(
            r#"{{"packages":[],"note":"{}"}}"#,
            r#"\\\""#.repeat(MAX_INDEX_STRING / 4 + 1)
        );
        let long_id = format!(
            r#"{{"packages":[{{"id":"{}","location":"b.json"}}]}}"#,
            "p".repeat(MAX_INDEX_STRING + 1)
        );
        let long_key = format!(
            r#"{{"{}":1,"packages":[]}}"#,
            "k".repeat(MAX_INDEX_STRING + 1)
        );
        for bad in [escaped, long_id, long_key] {
            let e = scan_index(bad.as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains("a string longer than 65536 bytes"),
                "{e}"
            );
        }
    }

    /// Returns at most a few bytes per read, of varying length.
    struct Trickle<R> {
        inner: R,
        step: usize,
    }

    impl<R: Read> Read for Trickle<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.step = self.step % 7 + 1;
            let n = buf.len().min(self.step);
            self.inner.read(&mut buf[..n])
        }
    }

    #[test]
    fn string_bounds_hold_across_short_reads() {
        let bounded = |text: &str, max: usize| {
            let mut r = BoundedStrings::new(
                Trickle {
                    inner: text.as_bytes(),
                    step: 0,
                },
                max,
            );
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out)
        };
        for ok in [
            r#"{"abcd":"efgh"}"#,
            r#"["ab\"c","\\\\",""]"#,
            r#"{"a\\":"b\u0041c"}"#,
        ] {
            assert_eq!(bounded(ok, 8).unwrap(), ok.as_bytes(), "{ok}");
        }
        for bad in [
            r#"{"abcdefghi":1}"#,
            r#"["ab\"cd\"ef"]"#,
            r#"["\\\\\\\\\\"]"#,
        ] {
            let e = bounded(bad, 8).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{bad}");
        }
    }

    #[test]
    fn archives_past_the_entry_cap_are_refused() {
        let archive = |entries: u64| {
            let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            z.start_file("top/index.json", opts).unwrap();
            z.write_all(br#"{"packages":[]}"#).unwrap();
            for i in 1..entries {
                z.start_file(format!("top/{i}"), opts).unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        let scan = |zip: Vec<u8>| {
            scan_archive(
                ArchiveFormat::Zip,
                Cursor::new(zip),
                "top",
                Limits::LOCAL_INPUT,
                &mut crate::unpack::Discard,
            )
        };
        let c = scan(archive(MAX_ARCHIVE_ENTRIES)).unwrap();
        assert_eq!(c.unpacked.entries, MAX_ARCHIVE_ENTRIES);
        let e = scan(archive(MAX_ARCHIVE_ENTRIES + 1)).unwrap_err();
        assert!(
            matches!(
                e,
                VexError::TooManyEntries {
                    limit: MAX_ARCHIVE_ENTRIES
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn file_set_finds_what_was_inserted() {
        let mut s = FileSet::new();
        for i in 0..1000 {
            s.insert(&format!("pkg/{i}.json"));
        }
        s.seal();
        assert!((0..1000).all(|i| s.contains(&format!("pkg/{i}.json"))));
        assert!(!s.contains("pkg/1000.json") && !s.contains(""));
    }

    #[test]
    fn manifests_of_too_many_values_are_refused() {
        let m = |junk: usize| {
            format!(
                r#"{{"name":"x","versions":[{{"spec_version":"0.1","locations":[{{"url":"https://x/a.zip"}}]}}],"junk":[{}]}}"#,
                vec!["{}"; junk].join(",")
            )
        };
        // The document, name, versions, the version, spec_version,
        // locations, the location, url, junk: 9 values before junk's.
        let fits = m(MAX_MANIFEST_VALUES as usize - 9);
        assert!(parse_manifest(fits.as_bytes()).is_ok());
        assert!(rewrite_location(fits.as_bytes(), "https://y/b.zip").is_ok());
        let e = parse_manifest(m(MAX_MANIFEST_VALUES as usize - 8).as_bytes()).unwrap_err();
        assert!(
            e.to_string()
                .contains("is not valid: more than 10000 JSON values"),
            "{e}"
        );
        assert!(rewrite_location(m(MAX_MANIFEST_VALUES as usize).as_bytes(), "u").is_err());
    }

    #[test]
    fn escaping_location_is_refused() {
        let m = br#"{"name":"x","versions":[{"spec_version":"0.1","locations":[{"url":"https://x/a.zip//../etc"}]}]}"#;
        assert!(matches!(
            parse_manifest(m),
            Err(VexError::UnsafeLocation { .. })
        ));
        let m = br#"{"name":"x","versions":[{"spec_version":"0.2","locations":[{"url":"https://x/a.zip"}]}]}"#;
        assert!(matches!(
            parse_manifest(m),
            Err(VexError::NoSpecVersion { .. })
        ));
    }
}
