//! Artifacts from an existing Trivy cache (the disaster-recovery snapshot).
//!
//! Rebuilds what a registry would have served: `db.tar.gz` and
//! `javadb.tar.gz` with the database and its metadata.json (with
//! `DownloadedAt` reset to Go's zero time, as published), the checks
//! `bundle.tar.gz` from `policy/content/`, and for each VEX repository under
//! `vex/repositories/` an archive of its `0.1/` tree inside the folder its
//! location URL names. The archives are deterministic (sorted entries, fixed
//! header fields, gzip without a timestamp), so two snapshots of the same
//! cache give the same digests.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::artifact::db::DbMetadata;
use crate::artifact::vex;
use crate::artifact::{self, CHECKS_MAJOR};
use crate::digest::Sha256Digest;
use crate::error::PathIo;
use crate::manifest::{ArtifactKind, ChecksInfo};

use super::files::{built, layer, read_limited, vex_repository};
use super::{Prepared, SourceError};
use crate::progress::{Progress, ProgressReader};

/// What the cache held, in bundle order.
/// Every file read, and every tarball built from them, is reported to
/// `progress`.
pub fn from_cache(
    dir: &Path,
    workdir: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Prepared>, SourceError> {
    if !dir.is_dir() {
        return Err(SourceError::Cache {
            path: dir.to_path_buf(),
            reason: "is not a directory".into(),
        });
    }
    let mut out = Vec::new();
    for kind in [ArtifactKind::TrivyDb, ArtifactKind::JavaDb] {
        let sub = dir.join(artifact::info(kind).cache_dir);
        if sub.exists() {
            out.push(database(kind, &sub, workdir, progress)?);
        }
    }
    let policy = dir.join("policy");
    if policy.join("content").is_dir() {
        out.push(checks(&policy, workdir, progress)?);
    }
    let repos = dir.join(vex::CACHE_DIR);
    if repos.is_dir() {
        let mut names: Vec<PathBuf> = fs::read_dir(&repos)
            .map_err(PathIo::at("cannot read", &repos))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(PathIo::at("cannot read", &repos))?;
        names.sort();
        for repo in names.into_iter().filter(|p| p.is_dir()) {
            out.push(vex_repo(&repo, workdir, progress)?);
        }
    }
    if out.is_empty() {
        return Err(SourceError::NotACache {
            path: dir.to_path_buf(),
            reason: "holds no db/, java-db/, policy/content/ or vex/repositories/",
            hint: crate::error::Hint::Flag(crate::error::FlagHint::FromCache),
        });
    }
    Ok(out)
}

enum Item {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// Writes a deterministic tar.gz of `items` (archive path, content), sorted.
fn write_tar_gz(
    out: &Path,
    mut items: Vec<(String, Item)>,
    progress: &dyn Progress,
) -> Result<(), SourceError> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let file = File::create(out).map_err(PathIo::at("cannot read", out))?;
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, item) in items {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        match item {
            Item::File(path) => {
                let f = File::open(&path).map_err(PathIo::at("cannot read", &path))?;
                let len = f
                    .metadata()
                    .map_err(PathIo::at("cannot read", &path))?
                    .len();
                h.set_size(len);
                tar.append_data(&mut h, &name, ProgressReader::new(f, progress))
                    .map_err(PathIo::at("cannot read", out))?;
            }
            Item::Bytes(bytes) => {
                h.set_size(bytes.len() as u64);
                tar.append_data(&mut h, &name, bytes.as_slice())
                    .map_err(PathIo::at("cannot read", out))?;
            }
        }
    }
    let gz = tar.into_inner().map_err(PathIo::at("cannot read", out))?;
    let mut w = gz.finish().map_err(PathIo::at("cannot read", out))?;
    w.flush().map_err(PathIo::at("cannot read", out))?;
    Ok(())
}

pub(crate) fn database(
    kind: ArtifactKind,
    dir: &Path,
    workdir: &Path,
    progress: &dyn Progress,
) -> Result<Prepared, SourceError> {
    let info = artifact::info(kind);
    let db_name = info.db_file.expect("databases have a file");
    let db = dir.join(db_name);
    let meta_path = dir.join("metadata.json");
    for p in [&db, &meta_path] {
        if !p.is_file() {
            return Err(SourceError::Cache {
                path: dir.to_path_buf(),
                reason: format!(
                    "has no {}",
                    p.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ),
            });
        }
    }
    let meta =
        DbMetadata::parse(&read_limited(&meta_path, artifact::db::MAX_METADATA)?).map_err(|e| {
            SourceError::Cache {
                path: meta_path.clone(),
                reason: e.to_string(),
            }
        })?;
    let out = workdir.join(info.title);
    write_tar_gz(
        &out,
        vec![
            (
                "metadata.json".into(),
                Item::Bytes(meta.as_published().to_bytes()),
            ),
            (db_name.into(), Item::File(db)),
        ],
        progress,
    )?;
    layer(
        kind,
        &out,
        built(out.clone()),
        format!("trivy cache: {}/", artifact::info(kind).cache_dir),
        None,
        None,
        progress,
    )
}

fn walk_files(root: &Path) -> Result<Vec<(String, PathBuf)>, SourceError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| PathIo::new("cannot read", root, e.into()))?;
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir stays under its root")
            .to_string_lossy()
            .into_owned();
        if !ft.is_file() {
            return Err(SourceError::Cache {
                path: entry.path().to_path_buf(),
                reason: "is not a regular file (links and special files are not exported)".into(),
            });
        }
        files.push((rel, entry.path().to_path_buf()));
    }
    Ok(files)
}

#[derive(serde::Deserialize)]
struct PolicyMetadata {
    #[serde(rename = "Digest", default)]
    digest: Option<String>,
    #[serde(rename = "MajorVersion", default)]
    major_version: Option<u64>,
}

fn checks(policy: &Path, workdir: &Path, progress: &dyn Progress) -> Result<Prepared, SourceError> {
    let meta_path = policy.join("metadata.json");
    let (digest, major) = if meta_path.is_file() {
        let bytes = read_limited(&meta_path, 64 << 10)?;
        let m: PolicyMetadata = serde_json::from_slice(&bytes).map_err(|e| SourceError::Cache {
            path: meta_path.clone(),
            reason: e.to_string(),
        })?;
        let digest = match m.digest {
            Some(d) => Some(Sha256Digest::parse_oci(&d).map_err(|e| SourceError::Cache {
                path: meta_path.clone(),
                reason: format!("Digest: {e}"),
            })?),
            None => None,
        };
        (digest, m.major_version)
    } else {
        (None, None)
    };
    if let Some(major) = major {
        if major != CHECKS_MAJOR {
            return Err(SourceError::Cache {
                path: meta_path,
                reason: format!(
                    "MajorVersion is {major}; Trivy 0.76 uses checks bundle major {CHECKS_MAJOR}"
                ),
            });
        }
    }
    let content = policy.join("content");
    let items = walk_files(&content)?
        .into_iter()
        .map(|(rel, path)| (rel, Item::File(path)))
        .collect();
    let out = workdir.join("bundle.tar.gz");
    write_tar_gz(&out, items, progress)?;
    let checks = ChecksInfo {
        version: None,
        major_version: CHECKS_MAJOR,
    };
    layer(
        ArtifactKind::Checks,
        &out,
        built(out.clone()),
        "trivy cache: policy/".to_string(),
        Some(checks),
        digest,
        progress,
    )
}

fn vex_repo(repo: &Path, workdir: &Path, progress: &dyn Progress) -> Result<Prepared, SourceError> {
    let name = repo
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest_path = repo.join("vex-repository.json");
    let tree = repo.join(vex::SPEC_VERSION);
    if !manifest_path.is_file() || !tree.join("index.json").is_file() {
        return Err(SourceError::NotACache {
            path: repo.to_path_buf(),
            reason:
                "is not a complete VEX repository (needs vex-repository.json and 0.1/index.json)",
            hint: crate::error::Hint::Text(
                "run `trivy vex repo download` on this host first, or remove the directory".into(),
            ),
        });
    }
    let bytes = read_limited(&manifest_path, vex::MAX_MANIFEST)?;
    let parsed = vex::parse_manifest(&bytes).map_err(|source| SourceError::Vex {
        name: name.clone(),
        source,
    })?;
    let prefix = if parsed.subdir.is_empty() {
        String::new()
    } else {
        format!("{}/", parsed.subdir)
    };
    let items = walk_files(&tree)?
        .into_iter()
        .map(|(rel, path)| (format!("{prefix}{rel}"), Item::File(path)))
        .collect();
    let out = workdir.join(format!("vex-{name}.tar.gz"));
    write_tar_gz(&out, items, progress)?;
    vex_repository(
        &name,
        bytes,
        &out,
        built(out.clone()),
        format!("trivy cache: {}/{name}/", vex::CACHE_DIR),
        progress,
    )
}
