//! The signed manifest and the bundle streamed from it: the manifest's
//! text signed by every export key ([`crate::bundle::signing`]), then the
//! manifest, the signatures and every payload written in one pass.

use std::io::Write;

use super::{content_path, open_content, ExportError};
use crate::bundle::signing::{sign_manifest, Statement};
use crate::bundle::writer::{BundleWriter, WriteError};
use crate::error::PathIo;
use crate::keys::{SecretKey, Signature};
use crate::manifest::Manifest;
use crate::progress::{Progress, ProgressReader};
use crate::source::PlannedPayload;

/// A manifest, its exact text, its signatures and the payloads it lists:
/// everything the bundle writer needs.
pub(super) struct SignedManifest {
    pub(super) manifest: Manifest,
    pub(super) text: String,
    pub(super) signatures: Vec<Signature>,
    pub(super) planned: Vec<PlannedPayload>,
    /// The bundle's creation time (every tar header's mtime).
    created_unix: u64,
}

impl SignedManifest {
    /// Signs the manifest's text with every key, dated `created_unix`.
    pub(super) fn sign(
        manifest: Manifest,
        planned: Vec<PlannedPayload>,
        keys: &[SecretKey],
        created_unix: u64,
    ) -> Result<Self, ExportError> {
        let text = manifest.to_toml()?;
        let signatures = keys
            .iter()
            .map(|k| {
                sign_manifest(
                    k,
                    text.as_bytes(),
                    Statement::Bundle {
                        created: created_unix,
                    },
                    k.comment(),
                )
            })
            .collect::<Result<Vec<Signature>, _>>()?;
        Ok(SignedManifest {
            manifest,
            text,
            signatures,
            planned,
            created_unix,
        })
    }

    /// Streams the bundle into `out`: manifest, signatures, then every
    /// payload read from where it was prepared.
    pub(super) fn write(
        &self,
        out: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<(), ExportError> {
        let total: u64 = self.planned.iter().map(|p| p.payload.size).sum();
        progress.begin("export", total);
        let mut writer = BundleWriter::new(
            out,
            self.text.as_bytes(),
            &self.signatures,
            self.manifest.payloads.clone(),
            self.created_unix,
        )?;
        for p in &self.planned {
            let mut reader = open_content(&p.content)?;
            let mut counted = ProgressReader::new(&mut reader, progress);
            writer
                .append_known(&p.payload.path, &mut counted, p.crc32)
                .map_err(|e| match e {
                    // Name the file, not the payload path, when an input fails.
                    WriteError::Input { source, .. } => {
                        PathIo::new("cannot read", content_path(&p.content), source).into()
                    }
                    e => ExportError::Write(e),
                })?;
            crate::fault::point("export: payload written");
        }
        writer.finish()?;
        crate::fault::point("export: bundle written");
        progress.end();
        Ok(())
    }
}
