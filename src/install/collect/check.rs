//! The checks after every byte of a bundle was read and proved: each
//! artifact's layer and OCI manifest against the signed manifest, whether
//! Trivy can open each database, each delta applied and judged like a
//! whole database, each VEX repository's tree and counts.

use std::fs;
use std::io;
use std::path::Path;

use crate::artifact::{self, vex};
use crate::error::PathIo;
use crate::layout::trivy_cache;
use crate::manifest::Manifest;
use crate::unpack::Discard;

use super::super::{stage, ImportError};
use super::{Collector, Mode};

/// What a checked VEX repository yields.
pub(in crate::install) struct CheckedVex {
    pub(in crate::install) name: String,
    pub(in crate::install) packages: u64,
}

impl Collector<'_> {
    /// Checks everything collected against the signed manifest (after the
    /// reader proved every byte); in install mode extracts the VEX trees into
    /// staging on the way.
    pub(in crate::install) fn check(
        &mut self,
        m: &Manifest,
    ) -> Result<Vec<CheckedVex>, ImportError> {
        self.check_artifacts(m)?;
        self.check_deltas(m)?;
        artifact::check_layout(m, &self.layout).map_err(ImportError::Inconsistent)?;
        m.vex.iter().map(|v| self.check_vex(v)).collect()
    }

    /// Checks each artifact's layer and OCI manifest, then whether Trivy
    /// can open its database.
    fn check_artifacts(&mut self, m: &Manifest) -> Result<(), ImportError> {
        for a in &m.artifacts {
            let layer = self.layers.get(&a.kind).ok_or_else(|| {
                ImportError::Inconsistent(format!("the layer of {} was never read", a.kind))
            })?;
            let oci = self
                .oci_manifests
                .get(&a.manifest_digest.oci())
                .ok_or_else(|| {
                    ImportError::Inconsistent(format!(
                        "the OCI manifest of {} was never read",
                        a.kind
                    ))
                })?;
            let judged = artifact::check_layer(a, layer)
                .and_then(|()| artifact::check_image_manifest(a, oci));
            judged.map_err(|source| ImportError::Artifact {
                kind: a.kind,
                source,
            })?;
            // Can Trivy open it? (issue 11) The check started once every
            // byte of the layer was verified; its verdict counts here, in
            // the order it always had.
            if let Some(check) = self.db_checks.remove(&a.kind) {
                check
                    .wait()
                    .map_err(PathIo::at("cannot check", Path::new(a.kind.name())))?
                    .map_err(|source| ImportError::Artifact {
                        kind: a.kind,
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// Checks each delta's metadata.json; in install mode applies it into
    /// staging (checking the result's size and digest), then judges the
    /// whole database file as for any import.
    fn check_deltas(&mut self, m: &Manifest) -> Result<(), ImportError> {
        for d in &m.deltas {
            let meta = self.delta_metadata.get(&d.kind);
            let (Mode::Install(opts), Some(stage)) = (&self.mode, self.cache_stage()) else {
                super::super::delta::check_metadata(d, meta)?;
                continue;
            };
            let contents = super::super::delta::apply_staged(
                d,
                &opts.cache_dir,
                stage,
                meta,
                &self.delta_bases,
            )?;
            let staged = artifact::info(d.kind).db_file.map(|name| {
                artifact::DbCopy::Staged(
                    stage
                        .join(trivy_cache::component(d.kind))
                        .join(trivy_cache::layer_dir(d.kind))
                        .join(name),
                )
            });
            self.layers.insert(d.kind, contents);
            crate::fault::point("delta checked");
            if let Some(copy) = staged {
                artifact::check_database(d.kind, copy)
                    .map_err(PathIo::at("cannot check", Path::new(d.kind.name())))?
                    .map_err(|source| ImportError::Artifact {
                        kind: d.kind,
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// Checks one VEX repository (extracting it into staging, in install
    /// mode).
    fn check_vex(&mut self, v: &crate::manifest::VexRepository) -> Result<CheckedVex, ImportError> {
        let missing = |what: &str| {
            ImportError::Inconsistent(format!(
                "{what} of VEX repository {:?} was never read",
                v.name
            ))
        };
        let original = self
            .vex_manifests
            .get(v.name.as_str())
            .ok_or_else(|| missing("vex-repository.json"))?;
        let parsed = vex::parse_manifest(original).map_err(|source| ImportError::Vex {
            name: v.name.to_string(),
            source,
        })?;
        if parsed.subdir != v.subdir {
            return Err(ImportError::Inconsistent(format!(
                "VEX repository {:?}: location folder {:?} differs from the manifest's {:?}",
                v.name, parsed.subdir, v.subdir
            )));
        }
        let format = v.archive_format;
        let archive = self
            .vex_archives
            .get_mut(v.name.as_str())
            .ok_or_else(|| missing("the archive"))?;
        let limits = v.unpacked.limits();
        let reader = io::BufReader::new(&mut archive.file);
        let scanned = match self.cache_stage.as_ref() {
            Some(stage) => {
                let tree = stage
                    .path()
                    .join(trivy_cache::VEX_REPOSITORIES)
                    .join(&v.name)
                    .join(vex::SPEC_VERSION);
                fs::create_dir_all(&tree).map_err(PathIo::at("cannot create", &tree))?;
                vex::scan_archive(
                    format,
                    reader,
                    &v.subdir,
                    limits,
                    &mut stage::DirSink { root: tree },
                )
            }
            None => vex::scan_archive(format, reader, &v.subdir, limits, &mut Discard),
        }
        .map_err(|source| ImportError::Vex {
            name: v.name.to_string(),
            source,
        })?;
        if !v.unpacked.admits(&scanned.unpacked) || scanned.packages != v.packages {
            return Err(ImportError::Inconsistent(format!(
                "VEX repository {:?} holds {} and {} packages; the manifest says {} and {}",
                v.name, scanned.unpacked, scanned.packages, v.unpacked, v.packages
            )));
        }
        Ok(CheckedVex {
            name: v.name.to_string(),
            packages: scanned.packages,
        })
    }
}
