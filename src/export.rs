//! Export: collect artifacts from the sources, describe them in one manifest,
//! sign it, and stream everything into one bundle file.
//!
//! The output appears only when it is complete: the bundle is written to a
//! temporary file beside it, flushed to disk, then renamed into place (never
//! over an existing file unless asked). A failed export leaves nothing at the
//! output path. The work folder and the temporary file are registered with
//! [`crate::cleanup`] (so the binary's signal handler removes them) and
//! locked (so an export that was killed leaves them to the next export into
//! the same directory, which removes them).

mod behind;
mod checks;
mod delta;
mod error;
mod gather;
pub mod sequence;
mod signed;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::artifact::oci;
use crate::bundle::parts::{PartWriter, PartsReport};
use crate::digest::Sha256Digest;
use crate::error::PathIo;
use crate::fsio::{AtomicFile, CommitError, Replace};
use crate::keys::SecretKey;
use crate::manifest::{self, check_label, ArtifactKind, Manifest, ManifestError, Payload};
use crate::progress::Progress;
use crate::source::{Content, PlannedPayload, Prepared};
use crate::timestamp::format_time;

pub use delta::BaseBundle;
pub use error::ExportError;
pub use gather::{default_sources, source_hosts};
use signed::SignedManifest;

/// One source named on the command line.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    /// A published layer file.
    Layer {
        /// Which artifact.
        kind: ArtifactKind,
        /// The file.
        path: PathBuf,
        /// For checks: the bundle version, if known.
        checks_version: Option<String>,
    },
    /// A VEX repository pair.
    Vex {
        /// Its name in Trivy's configuration.
        name: String,
        /// vex-repository.json.
        manifest: PathBuf,
        /// The archive.
        archive: PathBuf,
    },
    /// Everything in a Trivy cache.
    Cache(PathBuf),
    /// An artifact from registries: the references are tried in order.
    Registry {
        /// Which artifact.
        kind: ArtifactKind,
        /// `host/repository:tag` or `...@sha256:...`, first that works.
        references: Vec<String>,
    },
    /// A VEX repository over HTTP(S).
    VexUrl {
        /// Its name in Trivy's configuration.
        name: String,
        /// The repository URL (e.g. https://github.com/aquasecurity/vexhub).
        url: String,
    },
}

/// What to export.
#[derive(Debug)]
pub struct ExportPlan {
    /// The sources.
    pub sources: Vec<SourceSpec>,
    /// Labels for the manifest.
    pub labels: BTreeMap<String, String>,
    /// The bundle's creation time (also every tar header's mtime).
    pub created: OffsetDateTime,
    /// The output file.
    pub output: PathBuf,
    /// Replace an existing output file.
    pub force: bool,
    /// How to reach registries and VEX servers.
    pub network: crate::registry::Options,
    /// The bundle's series and sequence number (rollback protection).
    pub sequence: Option<(String, u64)>,
    /// Cut the bundle into parts of at most this many bytes (`<output>.001`,
    /// ...) with a signed part index (`<output>.parts`), instead of one file.
    pub split: Option<u64>,
}

/// What export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    /// The bundle file.
    pub output: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// SHA-256 of the manifest bytes.
    pub manifest_sha256: String,
    /// The manifest.
    pub manifest: Manifest,
    /// Key ids that signed it.
    pub signed_by: Vec<String>,
    /// References tried and skipped before one worked, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::source::pull::Skipped>,
    /// With `split`: the parts and their index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<PartsReport>,
}

/// Collects, validates, signs and writes. See the module docs.
pub fn export(
    plan: &ExportPlan,
    keys: &[SecretKey],
    generator: &str,
    progress: &dyn Progress,
) -> Result<ExportReport, ExportError> {
    export_with_base(plan, keys, generator, progress, None)
}

/// [`export`], with `--base`: the databases the base bundle carries are
/// carried as deltas against it (format 1.3; see `export/delta.rs`).
pub fn export_with_base(
    plan: &ExportPlan,
    keys: &[SecretKey],
    generator: &str,
    progress: &dyn Progress,
    base: Option<&BaseBundle>,
) -> Result<ExportReport, ExportError> {
    let now = time::OffsetDateTime::now_utc();
    check_plan(plan, keys, now)?;
    preflight(plan, &[])?;
    let out_dir = match plan.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Work folders and temporary bundles of runs that were killed (their
    // lock is free); a live run's are left alone. See crate::cleanup.
    for s in crate::cleanup::sweep(&out_dir) {
        progress.note(&s.to_string());
    }
    // Scratch space for rebuilt layers, on the output's file system; locked
    // and registered, so a signal or the next run removes it (issue 17).
    let work = crate::cleanup::work_dir(&out_dir, ".airlock-export-")
        .map_err(PathIo::at("cannot create a work directory in", &out_dir))?;
    let (prepared, skipped) = gather::collect(plan, work.path(), progress)?;
    let (manifest, planned) = match base {
        Some(b) => {
            let (kept, d) = delta::make_deltas(b, prepared, work.path(), progress)?;
            let (manifest, planned) = build_manifest(kept, plan, generator)?;
            delta::attach(manifest, planned, d)?
        }
        None => build_manifest(prepared, plan, generator)?,
    };
    manifest.validate()?;
    if let Some(why) = manifest.time_from_the_future(now) {
        return Err(ExportError::FromTheFuture(why));
    }
    let created_unix = plan.created.unix_timestamp().max(0) as u64;
    let signed = SignedManifest::sign(manifest, planned, keys, created_unix)?;
    check_free_space(&out_dir, &signed.planned)?;
    let report = ExportReport {
        output: plan.output.clone(),
        size: 0,
        sha256: String::new(),
        manifest_sha256: Sha256Digest::of(signed.text.as_bytes()).hex(),
        manifest: signed.manifest.clone(),
        signed_by: signed
            .signatures
            .iter()
            .map(|s| s.key_id().to_string())
            .collect(),
        skipped,
        parts: None,
    };
    // Every input is checked and hashed; the next pass only copies (and
    // refuses an input that changed since).
    crate::fault::point("export: inputs checked");
    let write = |out: &mut dyn Write| signed.write(out, progress);
    match plan.split {
        Some(part_size) => write_parts(plan, keys, out_dir, part_size, report, write),
        None => write_file(plan, out_dir, report, write),
    }
}

/// Refuses a plan before any work: no sources, no key, a creation time in
/// the future, a bad label, or an output that exists (without `force`).
fn check_plan(
    plan: &ExportPlan,
    keys: &[SecretKey],
    now: OffsetDateTime,
) -> Result<(), ExportError> {
    if plan.sources.is_empty() {
        return Err(ExportError::NoSources);
    }
    if keys.is_empty() {
        return Err(ExportError::NoKey);
    }
    if let Some(id) = crate::keys::first_repeated(keys) {
        return Err(ExportError::KeyTwice(id));
    }
    if plan.created > now + crate::manifest::MAX_CLOCK_SKEW {
        return Err(ExportError::CreatedInFuture(format_time(plan.created)));
    }
    for (k, v) in &plan.labels {
        if check_label(k, v).is_err() {
            return Err(ExportError::Label(k.clone()));
        }
    }
    if !plan.force {
        if let Some(t) = outputs(plan).into_iter().find(|t| t.exists()) {
            return Err(ExportError::Exists(t));
        }
    }
    Ok(())
}

/// The files export writes first: the bundle, or its first part and the
/// part index (and any part of an earlier set of this name, which the new
/// set must replace or not be written beside).
fn outputs(plan: &ExportPlan) -> Vec<PathBuf> {
    match plan.split {
        None => vec![plan.output.clone()],
        // With any part of an earlier set of this name (see split).
        Some(_) => [
            plan.output.with_file_name(crate::bundle::parts::part_name(
                &plan
                    .output
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy(),
                1,
            )),
            crate::bundle::parts::index_path(&plan.output),
        ]
        .into_iter()
        .chain(crate::bundle::parts::existing_parts(&plan.output))
        .collect(),
    }
}

/// The checks that cost nothing, for a caller to make before it unlocks
/// the signing keys (seconds and a GiB of memory each) or fetches anything:
/// the output folder exists and is writable, no output (nor any of `also`,
/// files the caller will write beside it) exists unless forced, and the file
/// system holds at least the local source files' size. [`export`] makes
/// them again.
///
/// # Errors
/// [`ExportError::Output`], [`ExportError::Exists`] or [`ExportError::NoSpace`].
pub fn preflight(plan: &ExportPlan, also: &[PathBuf]) -> Result<(), ExportError> {
    use crate::fsio::preflight::{check_outputs, OutputError};
    let mut files = outputs(plan);
    files.extend_from_slice(also);
    // Only local files can be sized now: a lower bound of what is needed.
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let needed: u64 = plan
        .sources
        .iter()
        .map(|s| match s {
            SourceSpec::Layer { path, .. } => size(path),
            SourceSpec::Vex {
                manifest, archive, ..
            } => size(manifest).saturating_add(size(archive)),
            SourceSpec::Cache(_) | SourceSpec::Registry { .. } | SourceSpec::VexUrl { .. } => 0,
        })
        .fold(0, u64::saturating_add);
    match check_outputs(&files, plan.force, Some(needed)) {
        Ok(()) => Ok(()),
        Err(OutputError::Exists(p)) => Err(ExportError::Exists(p)),
        Err(OutputError::NoSpace {
            path,
            needed,
            available,
        }) => Err(ExportError::NoSpace {
            path,
            needed,
            available,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Pre-flight: the bundle is about the size of its payloads (they are
/// compressed already); refuse now rather than fill the disk.
fn check_free_space(out_dir: &Path, planned: &[PlannedPayload]) -> Result<(), ExportError> {
    let total: u64 = planned.iter().map(|p| p.payload.size).sum();
    let needed = total
        .saturating_add(total / 64)
        .saturating_add(planned.len() as u64 * 1024)
        .saturating_add(1 << 20);
    let (_, available) =
        crate::disk::free_space(out_dir).map_err(PathIo::at("cannot examine", out_dir))?;
    if needed > available {
        return Err(ExportError::NoSpace {
            path: out_dir.to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}

/// With `split`: the bundle cut into parts beside the output, with the
/// signed part index.
fn write_parts(
    plan: &ExportPlan,
    keys: &[SecretKey],
    out_dir: PathBuf,
    part_size: u64,
    mut report: ExportReport,
    write: impl Fn(&mut dyn Write) -> Result<(), ExportError>,
) -> Result<ExportReport, ExportError> {
    let manifest_sha256 = report.manifest_sha256.clone();
    let created_unix = plan.created.unix_timestamp().max(0) as u64;
    let mut out = crate::digest::HashingWriter::new(PartWriter::new(&out_dir, part_size));
    write(&mut out)?;
    let (digest, size, parts) = out.finish();
    let written = parts
        .finish()
        .map_err(PathIo::at("cannot write the parts of", &plan.output))?;
    report.size = size;
    report.sha256 = digest.hex();
    report.parts = Some(written.persist(
        &plan.output,
        &manifest_sha256,
        &keys[0],
        created_unix,
        plan.force,
    )?);
    Ok(report)
}

/// One bundle file, written beside the output and renamed into place.
fn write_file(
    plan: &ExportPlan,
    out_dir: PathBuf,
    mut report: ExportReport,
    write: impl Fn(&mut dyn Write) -> Result<(), ExportError>,
) -> Result<ExportReport, ExportError> {
    // A bundle is not secret: readable like any file the user writes.
    let mut tmp = AtomicFile::create(&plan.output, ".airlock-bundle-", ".partial", 0o644)
        .map_err(PathIo::at("cannot create a temporary file in", &out_dir))?;
    {
        // The bundle's digest and the writes on a second thread, while this
        // one reads, hashes and compresses the payloads (issue 12).
        let (written, flushed) = behind::write_behind(tmp.as_file_mut(), |out| write(out));
        written?;
        let (digest, size) = flushed.map_err(PathIo::at("cannot write", &plan.output))?;
        report.size = size;
        report.sha256 = digest.hex();
    }
    tmp.sync()
        .map_err(PathIo::at("cannot flush", &plan.output))?;
    tmp.commit(Replace::when(plan.force)).map_err(|e| match e {
        CommitError::Exists(_) => ExportError::Exists(plan.output.clone()),
        e => PathIo::new("cannot move the bundle to", &plan.output, e.into_io()).into(),
    })?;
    Ok(report)
}

fn content_path(c: &Content) -> PathBuf {
    match c {
        Content::File(p) => p.clone(),
        Content::Built(p) => p.as_ref().clone(),
        Content::Bytes(_) => PathBuf::from("(in memory)"),
    }
}

fn open_content(c: &Content) -> Result<Box<dyn Read + '_>, ExportError> {
    Ok(match c {
        Content::File(p) => Box::new(BufReader::with_capacity(
            1 << 20,
            File::open(p).map_err(PathIo::at("cannot open", p))?,
        )),
        Content::Built(p) => Box::new(BufReader::with_capacity(
            1 << 20,
            File::open(p.as_ref()).map_err(PathIo::at("cannot open", p.as_ref()))?,
        )),
        Content::Bytes(b) => Box::new(&b[..]),
    })
}

/// The payloads by path (each once), sorted by it.
type ByPath = BTreeMap<manifest::PayloadPath, PlannedPayload>;

/// Builds the manifest and the sorted, de-duplicated payload list (the
/// caller validates it, once any deltas are attached).
fn build_manifest(
    prepared: Vec<Prepared>,
    plan: &ExportPlan,
    generator: &str,
) -> Result<(Manifest, Vec<PlannedPayload>), ExportError> {
    let (artifacts, vex, mut by_path) = entries(prepared)?;
    if !artifacts.is_empty() {
        add_oci_layout(&artifacts, &mut by_path);
    }
    let planned: Vec<PlannedPayload> = by_path.into_values().collect();
    let manifest = Manifest {
        format: manifest::FORMAT_NAME.into(),
        format_version: format!("{}.{}", manifest::FORMAT_MAJOR, manifest::FORMAT_MINOR),
        created: plan.created.into(),
        generator: generator.to_string(),
        series: series(plan)?,
        sequence: plan.sequence.as_ref().map(|(_, n)| *n),
        labels: plan.labels.clone(),
        artifacts,
        vex,
        deltas: Vec::new(),
        payloads: planned
            .iter()
            .map(|p| p.payload.clone())
            .collect::<Vec<Payload>>(),
    };
    Ok((manifest, planned))
}

/// The artifacts and VEX repositories, each kind and name once, sorted,
/// with their payloads by path (identical blobs, such as the empty config,
/// stored once).
fn entries(
    prepared: Vec<Prepared>,
) -> Result<
    (
        Vec<manifest::Artifact>,
        Vec<manifest::VexRepository>,
        ByPath,
    ),
    ExportError,
> {
    let mut artifacts: Vec<manifest::Artifact> = Vec::new();
    let mut vex: Vec<manifest::VexRepository> = Vec::new();
    let mut by_path = ByPath::new();
    for p in prepared {
        let payloads = match p {
            Prepared::Oci { entry, payloads } => {
                if artifacts.iter().any(|a| a.kind == entry.kind) {
                    return Err(ExportError::Duplicate(entry.kind.to_string()));
                }
                artifacts.push(entry);
                payloads
            }
            Prepared::Vex { entry, payloads } => {
                if vex.iter().any(|v| v.name == entry.name) {
                    return Err(ExportError::Duplicate(format!(
                        "VEX repository {:?}",
                        entry.name
                    )));
                }
                vex.push(entry);
                payloads
            }
        };
        for pl in payloads {
            by_path.entry(pl.payload.path.clone()).or_insert(pl);
        }
    }
    artifacts.sort_by_key(|a| a.kind);
    vex.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((artifacts, vex, by_path))
}

/// Adds the OCI layout's `oci-layout` and `index.json` for `artifacts`.
fn add_oci_layout(artifacts: &[manifest::Artifact], by_path: &mut ByPath) {
    let index = oci::layout_index(artifacts, |digest| {
        by_path
            .get(&Manifest::blob_path(digest))
            .map(|p| p.payload.size)
            .unwrap_or(0)
    });
    for pl in [
        PlannedPayload::bytes(
            manifest::PayloadPath::oci_layout(),
            oci::OCI_LAYOUT.to_vec(),
        ),
        PlannedPayload::bytes(manifest::PayloadPath::oci_index(), index.to_bytes()),
    ] {
        by_path.insert(pl.payload.path.clone(), pl);
    }
}

/// The plan's series, as the manifest names it.
fn series(plan: &ExportPlan) -> Result<Option<manifest::PlainName>, ExportError> {
    match &plan.sequence {
        Some((s, _)) => Ok(Some(manifest::PlainName::new(s.as_str()).map_err(
            |_| {
                ManifestError::Field(format!(
                    "series {s:?} is not a plain name of at most 64 bytes"
                ))
            },
        )?)),
        None => Ok(None),
    }
}
