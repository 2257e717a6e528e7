//! VEX repositories (vex-repo-spec 0.1): `vex-repository.json` and the
//! archive its location names.
//!
//! Trivy downloads the location URL with go-getter, whose `//<dir>` suffix
//! names the folder inside the archive to use; `index.json` sits at the root
//! of that folder and lists the VEX documents by path. A location without the
//! suffix for an archive that has a top folder downloads "successfully" and
//! is then ignored by Trivy, so airlock always records the folder and writes
//! the suffix back when it publishes a location.

use std::collections::HashSet;
use std::io::{self, Cursor, Read, Seek};

use serde::Deserialize;

use crate::manifest::{check_relative_path, Unpacked};
use crate::unpack::{self, EntryKind, Limits, Sink, UnpackError};

/// Where Trivy's cache keeps VEX repositories (one directory per name).
pub const CACHE_DIR: &str = "vex/repositories";
/// The only spec version Trivy 0.76 reads.
pub const SPEC_VERSION: &str = "0.1";
/// The largest vex-repository.json accepted.
pub const MAX_MANIFEST: u64 = 1 << 20;
/// The largest index.json accepted.
pub const MAX_INDEX: u64 = 256 << 20;

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
        /// The URL.
        url: String,
    },
    /// Neither zip nor gzip.
    #[error("the VEX archive is neither a zip nor a gzip-compressed tar")]
    UnknownArchive,
    /// The archive was refused.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// No index.json where the location points.
    #[error("the VEX archive has no {path}\nhint: the location URL in vex-repository.json must end with //<folder> naming the folder that holds index.json")]
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
    #[error("index.json lists {location:?} for {id}, but the archive has no such file")]
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
        return Err(VexError::UnsafeLocation { url: location });
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

/// The archive formats Trivy (go-getter) and airlock both read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// zip.
    Zip,
    /// gzip-compressed tar.
    TarGz,
}

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

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    updated_at: Option<String>,
    packages: Vec<RawPackage>,
}

#[derive(Deserialize)]
struct RawPackage {
    id: String,
    location: String,
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

struct IndexSink<'a> {
    inner: &'a mut dyn Sink,
    files: HashSet<String>,
    index: Option<Vec<u8>>,
    oversized_index: Option<u64>,
}

impl Sink for IndexSink<'_> {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        self.inner.dir(path)
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        self.files.insert(path.to_string());
        if path == "index.json" && size > MAX_INDEX {
            self.oversized_index = Some(size);
        }
        if path == "index.json" && size <= MAX_INDEX {
            let mut bytes = Vec::with_capacity(size as usize);
            data.read_to_end(&mut bytes)?;
            self.inner.file(path, size, &mut Cursor::new(&bytes))?;
            self.index = Some(bytes);
            return Ok(());
        }
        self.inner.file(path, size, data)
    }
}

/// Walks a VEX archive; hands the files under `subdir` (paths relative to
/// it) to `sink`; checks index.json and that every document it lists exists.
pub fn scan_archive<R: Read + Seek>(
    format: ArchiveFormat,
    mut reader: R,
    subdir: &str,
    limits: Limits,
    sink: &mut dyn Sink,
) -> Result<VexContents, VexError> {
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
        files: HashSet::new(),
        index: None,
        oversized_index: None,
    };
    reader.rewind().map_err(VexError::Io)?;
    let totals = match format {
        ArchiveFormat::Zip => {
            unpack::zip("VEX archive", reader, limits, &mut select, &mut index_sink)?
        }
        ArchiveFormat::TarGz => {
            unpack::tar_gz("VEX archive", reader, limits, &mut select, &mut index_sink)?
        }
    };
    let index_path = format!("{prefix}index.json");
    if let Some(size) = index_sink.oversized_index {
        return Err(VexError::Index {
            path: index_path,
            reason: format!("{size} bytes, more than the {MAX_INDEX}-byte limit"),
        });
    }
    let bytes = index_sink.index.ok_or(VexError::MissingIndex {
        path: index_path.clone(),
    })?;
    let index: RawIndex = serde_json::from_slice(&bytes).map_err(|e| VexError::Index {
        path: index_path.clone(),
        reason: e.to_string(),
    })?;
    for p in &index.packages {
        let location = p.location.strip_prefix("./").unwrap_or(&p.location);
        if check_relative_path(location).is_err() {
            return Err(VexError::Index {
                path: index_path,
                reason: format!("unsafe location {:?} for {}", p.location, p.id),
            });
        }
        if !index_sink.files.contains(location) {
            return Err(VexError::MissingDocument {
                id: p.id.clone(),
                location: p.location.clone(),
            });
        }
    }
    Ok(VexContents {
        unpacked: Unpacked::from_totals(totals),
        updated_at: index.updated_at.unwrap_or_default(),
        packages: index.packages.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
