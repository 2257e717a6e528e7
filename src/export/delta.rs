//! `export --base`: databases carried as deltas against an earlier bundle
//! (format 1.3, issue 13).
//!
//! The base bundle is read and verified first against its own trust policy
//! (every signature and payload byte, R1-R22, and each database layer's
//! content against its signed table, as verify does): a delta is never made
//! against bytes nobody signed. Each database file of the base is spooled
//! into `TMPDIR`; for each trivy-db or java-db of the new export whose kind
//! the base carries whole, the new layer's database file is spooled too,
//! and [`crate::delta::encode`] writes the delta into the work directory.
//! A delta not smaller than the full layer is not worth it: the artifact
//! is carried whole (and said).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::artifact::{self, DbCopy, LayerContents, SpoolSink};
use crate::bundle::reader::{self, PayloadReader, PayloadVisitor, ReadError, Verified};
use crate::error::PathIo;
use crate::manifest::{ArtifactKind, Delta, DeltaBase, Manifest, Payload, PayloadPath};
use crate::policy::TrustPolicy;
use crate::progress::Progress;
use crate::source::{Content, PlannedPayload, Prepared};

use super::ExportError;

/// The bundle named by `--base`, and whom to trust for it.
#[derive(Debug)]
pub struct BaseBundle {
    /// The bundle file (a full bundle the other side imported).
    pub path: PathBuf,
    /// The keys or policy it must satisfy.
    pub policy: TrustPolicy,
}

impl BaseBundle {
    /// A base trusted by `policy` (`--base-key`, `--base-trust`) or, when
    /// there is none, by the public keys of the keys signing this export:
    /// a base this signer made. Never an unverified base.
    ///
    /// # Errors
    /// `NoTrustedKeys` when there is neither a policy nor a signing key.
    pub fn new(
        path: PathBuf,
        policy: Option<TrustPolicy>,
        signing: &[crate::keys::SecretKey],
    ) -> Result<Self, crate::policy::PolicyError> {
        let policy = match policy {
            Some(p) => p,
            None => TrustPolicy::any_of(signing.iter().map(|k| k.public_key()).collect())?,
        };
        Ok(BaseBundle { path, policy })
    }
}

/// A base database: its signed description and a spooled copy of it.
struct BaseDb {
    base: DeltaBase,
    copy: DbCopy,
}

/// Reads `layer` payloads of the database kinds into spooled copies.
struct Spooler {
    /// The kinds the new export carries (no other base is spooled).
    wanted: Vec<ArtifactKind>,
    manifest: Option<Manifest>,
    found: BTreeMap<ArtifactKind, (LayerContents, DbCopy)>,
}

impl PayloadVisitor for Spooler {
    type Error = ExportError;

    fn start(&mut self, bundle: &Verified) -> Result<(), ExportError> {
        self.manifest = Some(bundle.manifest.clone());
        Ok(())
    }

    fn payload(&mut self, p: &Payload, data: &mut PayloadReader<'_>) -> Result<(), ExportError> {
        let Some(m) = &self.manifest else {
            return Ok(());
        };
        let Some(a) = m.artifacts.iter().find(|a| {
            a.database.is_some()
                && self.wanted.contains(&a.kind)
                && Manifest::blob_path(&a.layer.digest) == p.path
        }) else {
            return Ok(());
        };
        let mut spool = SpoolSink::new(a.kind);
        let contents = artifact::scan_layer(a.kind, data, a.unpacked.limits(), &mut spool)
            .map_err(|e| base_error(format!("its {}: {}", a.kind, crate::error::chain_text(&e))))?;
        if let Some(copy) = spool.into_copy() {
            self.found.insert(a.kind, (contents, copy));
        }
        Ok(())
    }
}

fn base_error(why: String) -> ExportError {
    ExportError::Base(why)
}

/// Verifies the base bundle and spools its database files.
fn read_base(
    base: &BaseBundle,
    wanted: Vec<ArtifactKind>,
) -> Result<BTreeMap<ArtifactKind, BaseDb>, ExportError> {
    let file = File::open(&base.path).map_err(PathIo::at("cannot open", &base.path))?;
    let mut spooler = Spooler {
        wanted,
        manifest: None,
        found: BTreeMap::new(),
    };
    let verified = match reader::read(std::io::BufReader::new(file), &base.policy, &mut spooler) {
        Ok(v) => v,
        Err(ReadError::Bundle(e)) => {
            return Err(ExportError::BaseBundle(base.path.clone(), e));
        }
        Err(ReadError::Visitor(e)) => return Err(e),
    };
    let m = &verified.manifest;
    if !m.deltas.is_empty() && m.artifacts.iter().all(|a| a.database.is_none()) {
        return Err(base_error(
            "it is a delta bundle, which does not hold its databases whole; give the full bundle the other side's database came from".into(),
        ));
    }
    let mut out = BTreeMap::new();
    for a in &m.artifacts {
        let Some(db) = &a.database else { continue };
        if !spooler.wanted.contains(&a.kind) {
            continue;
        }
        let Some((contents, copy)) = spooler.found.remove(&a.kind) else {
            return Err(base_error(format!("its {} layer was never read", a.kind)));
        };
        artifact::check_layer(a, &contents)
            .map_err(|e| base_error(format!("its {}: {}", a.kind, crate::error::chain_text(&e))))?;
        out.insert(
            a.kind,
            BaseDb {
                base: DeltaBase {
                    sha256: db.sha256,
                    size: db.size,
                    updated_at: db.updated_at.clone(),
                },
                copy,
            },
        );
    }
    Ok(out)
}

/// What `export --base` carries instead of whole databases.
pub(super) struct Deltas {
    /// The delta entries, in kind order.
    pub entries: Vec<Delta>,
    /// Their payloads (delta files, metadata.json).
    pub payloads: Vec<PlannedPayload>,
}

/// Adds the deltas to a built manifest (a full bundle's, of what was
/// carried whole) and its payloads: `[[delta]]`, their payloads in path
/// order, and format 1.3 (a bundle without deltas stays 1.2, byte for byte).
pub(super) fn attach(
    mut manifest: Manifest,
    planned: Vec<PlannedPayload>,
    deltas: Deltas,
) -> Result<(Manifest, Vec<PlannedPayload>), ExportError> {
    if deltas.entries.is_empty() {
        return Ok((manifest, planned));
    }
    let mut by_path: BTreeMap<PayloadPath, PlannedPayload> = planned
        .into_iter()
        .chain(deltas.payloads)
        .map(|p| (p.payload.path.clone(), p))
        .collect();
    let planned: Vec<PlannedPayload> = std::mem::take(&mut by_path).into_values().collect();
    manifest.format_version = crate::manifest::DELTA_FORMAT_VERSION.into();
    manifest.deltas = deltas.entries;
    manifest.payloads = planned.iter().map(|p| p.payload.clone()).collect();
    manifest.validate()?;
    Ok((manifest, planned))
}

/// Replaces, in `prepared`, each database the base carries by a delta
/// against it, when the delta is smaller than the full layer.
pub(super) fn make_deltas(
    base: &BaseBundle,
    prepared: Vec<Prepared>,
    work: &Path,
    progress: &dyn Progress,
) -> Result<(Vec<Prepared>, Deltas), ExportError> {
    let wanted = prepared
        .iter()
        .filter_map(|p| match p {
            Prepared::Oci { entry, .. } if entry.database.is_some() => Some(entry.kind),
            _ => None,
        })
        .collect();
    let bases = read_base(base, wanted)?;
    let mut kept = Vec::new();
    let mut deltas = Deltas {
        entries: Vec::new(),
        payloads: Vec::new(),
    };
    for p in prepared {
        let Prepared::Oci { entry, payloads } = &p else {
            kept.push(p);
            continue;
        };
        let (Some(b), Some(_)) = (bases.get(&entry.kind), &entry.database) else {
            kept.push(p);
            continue;
        };
        match one_delta(entry, payloads, b, work)? {
            Some((delta, mut extra)) => {
                progress.note(&format!(
                    "{}: carried as a delta of {} bytes against the base's (UpdatedAt {}), instead of a layer of {} bytes",
                    entry.kind,
                    extra[0].payload.size,
                    b.base.updated_at,
                    entry.layer.size
                ));
                deltas.entries.push(delta);
                deltas.payloads.append(&mut extra);
            }
            None => {
                progress.note(&format!(
                    "{}: carried whole (the base is the same file, or a delta would not be smaller than the layer)",
                    entry.kind
                ));
                kept.push(p);
            }
        }
    }
    deltas.entries.sort_by_key(|d| d.kind);
    Ok((kept, deltas))
}

/// The delta of one artifact against its base, or `None` when it is not
/// worth carrying (same file, or not smaller than the layer).
fn one_delta(
    entry: &crate::manifest::Artifact,
    payloads: &[PlannedPayload],
    b: &BaseDb,
    work: &Path,
) -> Result<Option<(Delta, Vec<PlannedPayload>)>, ExportError> {
    let kind = entry.kind;
    let Some(db) = &entry.database else {
        return Ok(None);
    };
    if db.sha256 == b.base.sha256 {
        return Ok(None);
    }
    let layer = payloads
        .iter()
        .find(|pl| pl.payload.path == Manifest::blob_path(&entry.layer.digest))
        .ok_or_else(|| base_error(format!("the new {kind} layer is missing")))?;
    let mut spool = SpoolSink::new(kind);
    let contents = artifact::scan_layer(
        kind,
        open(&layer.content)?,
        entry.unpacked.limits(),
        &mut spool,
    )
    .map_err(|e| {
        base_error(format!(
            "the new {kind} layer: {}",
            crate::error::chain_text(&e)
        ))
    })?;
    let (Some(new_copy), Some(meta)) = (spool.into_copy(), contents.metadata) else {
        return Err(base_error(format!(
            "the new {kind} layer holds no database"
        )));
    };
    let file = db.file.as_str();
    let out_path = work.join(format!("{}.delta", kind.name()));
    let summary = encode_file(kind, b.copy.path(), new_copy.path(), &out_path)?;
    if summary.new_sha256 != db.sha256 || summary.base_sha256 != b.base.sha256 {
        return Err(ExportError::Delta(format!(
            "the {kind} files changed while the delta was made"
        )));
    }
    if summary.delta_len >= entry.layer.size {
        return Ok(None);
    }
    let frame = PlannedPayload {
        payload: Payload {
            path: PayloadPath::new(Delta::frame_path(kind, file))?,
            size: summary.delta_len,
            sha256: file_sha256(&out_path)?,
        },
        content: Content::File(out_path),
        // airlock's own temporary file: the writer hashes it again.
        crc32: None,
    };
    let meta_pl = PlannedPayload::bytes(
        PayloadPath::new(Delta::metadata_payload(kind))?,
        meta.to_bytes(),
    );
    let delta = Delta {
        kind,
        repository: entry.repository.clone(),
        tag: entry.tag.clone(),
        encoding: crate::manifest::ENCODING_ZSTD_PATCH_FROM.into(),
        path: PayloadPath::new(Delta::frame_path(kind, file))?,
        metadata_path: PayloadPath::new(Delta::metadata_payload(kind))?,
        upstream_layer_digest: Some(entry.layer.digest),
        base: b.base.clone(),
        database: db.clone(),
    };
    Ok(Some((delta, vec![frame, meta_pl])))
}

/// Writes to `out_path` the delta that makes `new` from `base`.
fn encode_file(
    kind: ArtifactKind,
    base: &Path,
    new: &Path,
    out_path: &Path,
) -> Result<crate::delta::EncodeSummary, ExportError> {
    let out = File::create(out_path).map_err(PathIo::at("cannot create", out_path))?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let summary = crate::delta::encode(base, new, &mut w, &encode_options(kind))
        .map_err(|e| ExportError::Delta(crate::error::chain_text(&e)))?;
    w.flush().map_err(PathIo::at("cannot write", out_path))?;
    Ok(summary)
}

fn file_sha256(path: &Path) -> Result<crate::digest::Sha256Digest, ExportError> {
    let mut f = File::open(path).map_err(PathIo::at("cannot open", path))?;
    let mut h = crate::digest::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(PathIo::at("cannot read", path))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

fn open(c: &Content) -> Result<Box<dyn Read + '_>, ExportError> {
    super::open_content(c)
}

/// How a database's delta is made. One pass at zstd level 5 with the
/// long-distance matching that suits the file: a Java DB (SQLite) rebuilt
/// from scratch gives every row after a change another rowid, so its
/// records match their base only in short runs (16 bytes); a trivy.db
/// (bbolt) moves whole records between pages (64 bytes). Measured on
/// scripts/bench-delta.sh's 256 MiB databases against the codec's default
/// (level 3, both lengths tried, the smaller kept): the Java DB's delta
/// 31.9 MB instead of 37.8 MB, trivy.db's 1.97 MB instead of 2.05 MB,
/// each in less CPU time (one pass instead of two). Each 16 MiB chunk is
/// made against 32 MiB of the base around its place (the format allows 64):
/// the same sizes (31.8 MB, 1.96 MB), and the reference an import holds on
/// its heap is half as large (peak about 58 MiB instead of 90 applying the
/// Java DB's delta), at the price of a smaller margin (8 MiB either side)
/// for records that moved further than the files' overall growth explains.
fn encode_options(kind: ArtifactKind) -> crate::delta::EncodeOptions {
    crate::delta::EncodeOptions {
        level: 5,
        max_ref: 32 << 20,
        ldm_min_match: match kind {
            ArtifactKind::JavaDb => 16,
            _ => 64,
        },
        ..crate::delta::EncodeOptions::default()
    }
}
