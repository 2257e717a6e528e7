//! Receipts: an import's audit record, where it is in the log and what
//! airlock wrote it, in a file of its own, optionally signed (minisign
//! format) so it can be checked anywhere (`airlock verify-receipt`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{AuditEntry, AuditError, Logged};
use crate::error::PathIo;
use crate::keys::{SecretKey, Signature};
use crate::policy::SignerReport;

/// A receipt: the record, where it is in the log, and what airlock wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// `airlock-receipt`.
    pub format: &'static str,
    /// The program.
    pub generator: String,
    /// The record.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Its line in the audit log, if it was logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<Logged>,
}

/// Writes `receipt` to `path` (atomically) and, with a key, its minisign
/// signature to `<path>.minisig`. Returns the signature path, if any.
pub fn write_receipt(
    path: &Path,
    receipt: &Receipt,
    key: Option<&SecretKey>,
) -> Result<Option<PathBuf>, AuditError> {
    let mut text = serde_json::to_string_pretty(receipt).expect("a receipt serializes");
    text.push('\n');
    let sig = match key {
        Some(k) => {
            let ts = time::OffsetDateTime::now_utc().unix_timestamp().max(0);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let s = k
                .sign(
                    text.as_bytes(),
                    &format!("airlock import receipt signed by key {}", k.key_id()),
                    &format!("timestamp:{ts}\tfile:{name}"),
                )
                .map_err(|e| PathIo::new("cannot sign", path, io::Error::other(e.to_string())))?;
            Some(s)
        }
        None => None,
    };
    write_atomic(path, text.as_bytes())?;
    match sig {
        Some(s) => {
            let sig_path = signature_path(path);
            write_atomic(&sig_path, s.to_text().as_bytes())?;
            Ok(Some(sig_path))
        }
        None => Ok(None),
    }
}

/// `<receipt>.minisig`.
pub fn signature_path(receipt: &Path) -> PathBuf {
    let mut s = receipt.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// Reads a receipt and its signature (for `verify-receipt`).
pub fn read_receipt(path: &Path) -> Result<(Vec<u8>, Signature), AuditError> {
    let bytes = read_capped(path, 1 << 20)?;
    let sig_path = signature_path(path);
    let sig_text = read_capped(&sig_path, 4096)?;
    let sig = std::str::from_utf8(&sig_text)
        .map_err(|e| e.to_string())
        .and_then(|t| Signature::from_text(t).map_err(|e| e.to_string()))
        .map_err(|reason| AuditError::Broken {
            log: sig_path.clone(),
            line: 1,
            reason,
        })?;
    Ok((bytes, sig))
}

/// A receipt whose signature was proven, as `verify-receipt` reports it:
/// who signed it and the receipt as written (kept whole, whichever
/// airlock wrote it).
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptReport {
    /// Always true: a receipt that is not proven has no report.
    pub ok: bool,
    /// How its signature was judged.
    pub signers: Vec<SignerReport>,
    /// The receipt.
    pub receipt: serde_json::Value,
}

impl ReceiptReport {
    /// The report of `receipt`, proven by `signers`.
    pub fn new(signers: Vec<SignerReport>, receipt: serde_json::Value) -> Self {
        ReceiptReport {
            ok: true,
            signers,
            receipt,
        }
    }

    /// The receipt's text field `key`, or `-` when it has none.
    pub fn field(&self, key: &str) -> &str {
        self.receipt[key].as_str().unwrap_or("-")
    }

    /// Where the receipt's record is in the audit log, if it was logged:
    /// its line, the log (`-` if unnamed) and the line's SHA-256 (`-`).
    pub fn audit_line(&self) -> Option<(u64, &str, &str)> {
        let audit = &self.receipt["audit"];
        let line = audit["line"].as_u64()?;
        Some((
            line,
            audit["log"].as_str().unwrap_or("-"),
            audit["sha256"].as_str().unwrap_or("-"),
        ))
    }
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, AuditError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(PathIo::at("cannot read", path))?;
    if bytes.len() as u64 > max {
        return Err(PathIo::new(
            "cannot read",
            path,
            io::Error::other(format!("larger than {max} bytes")),
        )
        .into());
    }
    Ok(bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    let replace = crate::fsio::Replace::Overwrite;
    crate::fsio::atomic::write(path, ".airlock-receipt-", bytes, 0o644, replace)
        .map_err(|e| PathIo::new("cannot write", path, e.into_io()).into())
}
