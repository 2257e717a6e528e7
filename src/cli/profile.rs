//! Export profiles: a TOML file naming what a standard transfer exports
//! (`examples/export.toml`). Paths in it are relative to the profile's
//! directory. Flags override it: a flag given on the command line wins over
//! the same setting in the profile, and any source flag replaces the
//! profile's sources as a whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::failure::{Context as _, Result};
use serde::Deserialize;

use super::args::ExportArgs;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    output: Option<String>,
    #[serde(default)]
    sign_key: Vec<String>,
    passphrase_file: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    split: Option<String>,
    #[serde(default)]
    sha256sums: bool,
    series: Option<String>,
    sequence_file: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    plain_http: Vec<String>,
    #[serde(default)]
    insecure_skip_verify: Vec<String>,
    #[serde(default)]
    allow_token_realm: Vec<String>,
    #[serde(default)]
    ca_cert: Vec<String>,
    #[serde(default)]
    sources: Sources,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sources {
    #[serde(default)]
    trivy_db: Vec<String>,
    #[serde(default)]
    java_db: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
    #[serde(default)]
    vex: Vec<VexSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VexSource {
    name: String,
    url: String,
}

/// Whether the command line names any source.
pub fn has_sources(a: &ExportArgs) -> bool {
    !a.trivy_db.is_empty()
        || !a.java_db.is_empty()
        || !a.checks.is_empty()
        || !a.vex_manifest.is_empty()
        || !a.vex_repo.is_empty()
        || a.from_cache.is_some()
}

/// A profile entry that is a file path (relative to the profile) or a
/// registry reference (kept as is).
fn source_entry(base: &Path, s: &str) -> String {
    if airlock::source::pull::Reference::parse(s).is_ok() && !base.join(s).exists() {
        s.to_string()
    } else {
        base.join(s).display().to_string()
    }
}

/// Fills in from the profile at `a.profile` what the command line left out.
pub fn apply(a: &mut ExportArgs) -> Result<()> {
    let Some(path) = a.profile.clone() else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the export profile {}",
            super::show::path_line(&path)
        )
    })?;
    let p: Profile = toml::from_str(&text).map_err(|e| {
        super::UsageError(format!(
            "export profile {}: {}",
            super::show::path_line(&path),
            e.message()
        ))
    })?;
    let base = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let rel = |s: &String| -> PathBuf { base.join(s) };
    if a.output.is_none() {
        a.output = p.output.as_ref().map(rel);
    }
    if a.sign_key.is_empty() {
        a.sign_key = p.sign_key.iter().map(rel).collect();
    }
    if a.passphrase_file.is_none() {
        a.passphrase_file = p.passphrase_file.as_ref().map(rel);
    }
    for (k, v) in p.labels {
        if !a
            .label
            .iter()
            .any(|l| l.split_once('=').is_some_and(|(lk, _)| lk == k))
        {
            a.label.push(format!("{k}={v}"));
        }
    }
    if a.split.is_none() {
        a.split = p.split;
    }
    a.sha256sums |= p.sha256sums;
    if a.series.is_none() {
        a.series = p.series;
    }
    if a.sequence.is_none() && a.sequence_file.is_none() {
        a.sequence_file = p.sequence_file.as_ref().map(rel);
    }
    a.registry.insecure |= p.insecure;
    // Host switches add up: the profile's and the command line's.
    a.registry.plain_http.extend(p.plain_http);
    a.registry
        .insecure_skip_verify
        .extend(p.insecure_skip_verify);
    a.registry.allow_token_realm.extend(p.allow_token_realm);
    if a.registry.ca_cert.is_empty() {
        a.registry.ca_cert = p.ca_cert.iter().map(rel).collect();
    }
    if !has_sources(a) {
        let s = p.sources;
        for v in &s.vex {
            let given_as = format!(
                "export profile {}: VEX source {:?}: url",
                super::show::path_line(&path),
                v.name
            );
            super::exporting::refuse_url_credentials(&v.url, &given_as)?;
        }
        a.trivy_db = s.trivy_db.iter().map(|x| source_entry(&base, x)).collect();
        a.java_db = s.java_db.iter().map(|x| source_entry(&base, x)).collect();
        a.checks = s.checks.iter().map(|x| source_entry(&base, x)).collect();
        a.vex_repo = s
            .vex
            .iter()
            .map(|v| format!("{}={}", v.name, v.url))
            .collect();
    }
    Ok(())
}
