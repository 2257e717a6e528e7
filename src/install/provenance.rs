//! Which bundle each cache component came from (issue 14, `status`): read
//! back from the audit log, the one record of every import and rollback.
//!
//! The log is read as data, not checked (`airlock audit` checks its hash
//! chain): a line that does not parse is counted and skipped, so a damaged
//! log costs the provenance of what it names, never the status report. Only
//! records of this cache directory count (a log given with `--audit-log`
//! may be shared). An accepted or forced import makes what it installed the
//! current generation of each component; a rollback swaps the current and
//! the previous generation of each component it names, as the swap on disk
//! does (a second rollback undoes the first).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// The largest audit log read for provenance (a line is under 4 KiB: years
/// of weekly imports fit many times over).
const MAX_LOG: u64 = 64 << 20;

/// A signature that counted for a bundle, as the audit log recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The key id (minisign form).
    pub key_id: String,
    /// The key's name in the trust policy, if it was listed by name.
    pub name: Option<String>,
    /// The key's role, if any.
    pub role: Option<String>,
}

/// The bundle a component came from, and its import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// SHA-256 of the bundle's signed manifest.
    pub manifest_sha256: Option<String>,
    /// When the bundle was made (RFC 3339).
    pub created: Option<String>,
    /// Its series.
    pub series: Option<String>,
    /// Its sequence in the series.
    pub sequence: Option<u64>,
    /// The signatures that counted.
    pub signers: Vec<Signer>,
    /// Its labels (`export --label`; recorded since this version).
    pub labels: BTreeMap<String, String>,
    /// When it was imported (RFC 3339).
    pub imported_at: String,
    /// `accepted` or `forced`.
    pub decision: String,
    /// The audit log line that records the import (1-based).
    pub log_line: u64,
}

/// What the audit log says of a cache's components.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Per component (`db`, `java-db`, `policy`, `vex/repositories/<name>`):
    /// the import that installed its current generation.
    pub current: BTreeMap<String, Provenance>,
    /// Whether a log was found at all.
    pub log_found: bool,
    /// Why the log found could not be read, if it could not.
    pub log_error: Option<String>,
    /// Lines that could not be read as records.
    pub unreadable_lines: u64,
}

/// Reads `log` for the components of `cache_dir` (absolute). A missing or
/// unreadable log gives an empty history (`log_found` false).
pub fn read(log: &Path, cache_dir: &Path) -> History {
    let mut history = History::default();
    let text = match read_log(log) {
        Ok(Some(text)) => text,
        Ok(None) => return history,
        Err(why) => {
            history.log_error = Some(format!("{}: {why}", log.display()));
            return history;
        }
    };
    history.log_found = true;
    let cache = cache_dir.to_string_lossy();
    let mut previous: BTreeMap<String, Option<Provenance>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            history.unreadable_lines += 1;
            continue;
        };
        if v["cache_dir"].as_str() != Some(cache.as_ref()) {
            continue;
        }
        match v["decision"].as_str() {
            Some(d @ ("accepted" | "forced")) => {
                let p = provenance(&v, d, n as u64 + 1);
                for c in installed(&v, cache_dir) {
                    let old = history.current.insert(c.clone(), p.clone());
                    previous.insert(c, old);
                }
            }
            Some("rolled-back") => {
                for c in rolled_back(&v) {
                    let back = previous.remove(&c).flatten();
                    let now = match back {
                        Some(p) => history.current.insert(c.clone(), p),
                        None => history.current.remove(&c),
                    };
                    previous.insert(c, now);
                }
            }
            _ => {}
        }
    }
    history
}

/// The log's text: a regular file, never through a link, nothing waited
/// for (a FIFO), at most [`MAX_LOG`] bytes. `Ok(None)` when there is none.
fn read_log(log: &Path) -> Result<Option<String>, String> {
    match fs::symlink_metadata(log) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
        Ok(m) if m.file_type().is_symlink() => return Err("it is a symbolic link".into()),
        Ok(_) => {}
    }
    let bytes = crate::fsio::bounded::read_regular(log, MAX_LOG).map_err(|e| e.to_string())?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn provenance(v: &Value, decision: &str, line: u64) -> Provenance {
    let text = |k: &str| v[k].as_str().map(str::to_string);
    let signers = v["signers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["counted"].as_bool() == Some(true))
        .filter_map(|s| {
            Some(Signer {
                key_id: s["key_id"].as_str()?.to_string(),
                name: s["name"].as_str().map(str::to_string),
                role: s["role"].as_str().map(str::to_string),
            })
        })
        .collect();
    let labels = v["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    Provenance {
        manifest_sha256: text("manifest_sha256"),
        created: text("created"),
        series: text("series"),
        sequence: v["sequence"].as_u64(),
        signers,
        labels,
        imported_at: text("time").unwrap_or_default(),
        decision: decision.to_string(),
        log_line: line,
    }
}

/// The cache components an import record installed: its `component`
/// field, or (records written before it existed) its path under the cache.
fn installed(v: &Value, cache_dir: &Path) -> Vec<String> {
    v["installed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("pushed").is_none())
        .filter_map(|r| match r["component"].as_str() {
            Some(c) => Some(c.to_string()),
            None => Path::new(r["path"].as_str()?)
                .strip_prefix(cache_dir)
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
        })
        .filter(|c| !c.starts_with("vex-dir/"))
        .collect()
}

/// The components a rollback record put back.
fn rolled_back(v: &Value) -> Vec<String> {
    v["rollback"]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["component"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(time: &str, sha: &str, components: &[&str]) -> String {
        let installed: Vec<Value> = components
            .iter()
            .map(|c| serde_json::json!({"component": c, "path": format!("/c/{c}")}))
            .collect();
        serde_json::json!({
            "time": time, "decision": "accepted", "cache_dir": "/c", "manifest_sha256": sha,
            "signers": [{"key_id": "K1", "name": "builder", "counted": true},
                        {"key_id": "K2", "counted": false}],
            "labels": {"ticket": "CHG-1"}, "installed": installed,
        })
        .to_string()
    }

    #[test]
    fn imports_set_and_rollbacks_swap_each_components_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let rollback =
            serde_json::json!({"time": "t3", "decision": "rolled-back", "cache_dir": "/c",
            "rollback": {"components": [{"component": "db"}]}})
            .to_string();
        let other_cache = import("t9", "zzz", &["db"]).replace("\"/c\"", "\"/d\"");
        let lines = [
            import("t1", "aaa", &["db", "policy"]),
            "not json".to_string(),
            import("t2", "bbb", &["db"]),
            other_cache,
            rollback.clone(),
        ];
        fs::write(&log, lines.join("\n") + "\n").unwrap();
        let h = read(&log, Path::new("/c"));
        let sha = |c: &str| h.current[c].manifest_sha256.clone().unwrap();
        assert_eq!((sha("db"), sha("policy")), ("aaa".into(), "aaa".into()));
        assert_eq!(h.unreadable_lines, 1);
        assert_eq!(h.current["db"].log_line, 1);
        assert_eq!(h.current["db"].signers.len(), 1, "only the counted one");
        assert_eq!(h.current["db"].labels["ticket"], "CHG-1");
        // A second rollback undoes the first.
        fs::write(&log, lines.join("\n") + "\n" + &rollback + "\n").unwrap();
        let h = read(&log, Path::new("/c"));
        assert_eq!(h.current["db"].manifest_sha256.as_deref(), Some("bbb"));
        assert!(!read(&dir.path().join("none"), Path::new("/c")).log_found);
        // A log that is not a regular file is said to be unreadable, not
        // absent, and is not waited for (a FIFO without a writer).
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            0o600.into(),
            0,
        )
        .unwrap();
        for bad in [dir.path().to_path_buf(), fifo] {
            let h = read(&bad, Path::new("/c"));
            let why = h.log_error.unwrap_or_default();
            assert!(why.ends_with(": not a regular file"), "{why}");
            assert!(h.current.is_empty());
        }
    }
}
