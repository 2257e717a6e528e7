//! The registry a bundle's OCI artifacts are pushed into, and how a fleet
//! of Trivy scanners then uses it: repository names under a prefix, the
//! `--db-repository` flags, the trivy.yaml `registry.mirrors` snippet, and
//! where the prefix keeps its push history (the push itself is
//! `install::push`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::manifest::ArtifactKind;

/// Where to push.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// The registry, host[:port].
    pub host: String,
    /// The repository path prefix (may be empty).
    pub prefix: String,
    /// Tag per artifact kind, when not the bundle's own (`2`, `1`, `2`).
    pub tags: BTreeMap<ArtifactKind, String>,
}

impl PushTarget {
    /// Parses `REGISTRY[/PREFIX]`.
    pub fn parse(text: &str) -> Option<PushTarget> {
        let t = text
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let (host, prefix) = t.split_once('/').unwrap_or((t, ""));
        let ok_host = crate::oci_name::check_host(host).is_ok();
        // The prefix is a repository path itself (no `..`, no empty part).
        let ok_prefix = prefix.is_empty() || crate::oci_name::check_repository(prefix).is_ok();
        (ok_host && ok_prefix).then(|| PushTarget {
            host: host.to_string(),
            prefix: prefix.to_string(),
            tags: BTreeMap::new(),
        })
    }

    /// The repository of the prefix's push history, `<prefix>/airlock-state`
    /// (see `install::push`).
    pub fn state_repository(&self) -> String {
        self.repository(STATE_REPOSITORY)
    }

    /// `host/<prefix>/airlock-state:latest`, for messages.
    pub fn state_reference(&self) -> String {
        format!("{}/{}:{STATE_TAG}", self.host, self.state_repository())
    }

    /// The repository for an artifact: `<prefix>/<name>`.
    pub fn repository(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }
}

/// The repository name, under the prefix, of the push history.
pub const STATE_REPOSITORY: &str = "airlock-state";
/// Its tag.
pub const STATE_TAG: &str = "latest";

/// One blob, as pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushedBlob {
    /// Its digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// Whether the repository had it already (not sent again).
    pub skipped: bool,
    /// How the registry proved it holds it after the push: `HEAD` (a blob
    /// sent and accepted with its digest: present with its size and digest)
    /// or `GET` (a blob not sent: downloaded and hashed, since only the
    /// registry's word said it was there).
    pub read_back: &'static str,
}

/// One artifact, as pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushedArtifact {
    /// Which.
    pub kind: ArtifactKind,
    /// `host/repository:tag`.
    pub reference: String,
    /// The manifest digest (as in the bundle and now in the registry).
    pub manifest_digest: String,
    /// Its blobs (config and layer).
    pub blobs: Vec<PushedBlob>,
    /// For an artifact rebuilt from a delta import (issue 13): the digest
    /// of the layer upstream published, which the rebuilt layer's differs
    /// from (another gzip of the same files). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_layer_digest: Option<String>,
}

/// What a push did, and how Trivy should use it. There is none unless the
/// registry served back everything pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// The registry's base URL.
    pub registry: String,
    /// Always true: every blob, manifest and tag was read back from the
    /// registry after the push and matched what was pushed.
    pub verified: bool,
    /// The prefix's push history (`host/<prefix>/airlock-state:latest`).
    pub state: String,
    /// Downgrades of the registry accepted with `--allow-downgrade`
    /// (recorded as forced in the registry state).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    /// Each artifact.
    pub artifacts: Vec<PushedArtifact>,
    /// Flags for every scanner (`--db-repository` ...).
    pub trivy_flags: Vec<String>,
    /// A trivy.yaml `registry.mirrors` snippet, when the repositories are
    /// laid out as Trivy's defaults (`.../aquasec/<name>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trivy_yaml: Option<String>,
    /// What to do for the snippet otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_hint: Option<String>,
}

/// How scanners use what was pushed: the flags, and the trivy.yaml
/// `registry.mirrors` snippet (or why there is none). Trivy's default
/// references are `mirror.gcr.io/aquasec/<name>:<tag>` and a mirror replaces
/// the host, so the snippet works when the repositories end in
/// `aquasec/<name>` with the default tags.
pub fn trivy_usage(
    target: &PushTarget,
    artifacts: &[PushedArtifact],
    default_tags: bool,
) -> (Vec<String>, Option<String>, Option<String>) {
    let mut flags = Vec::new();
    for p in artifacts {
        let flag = match p.kind {
            ArtifactKind::TrivyDb => "--db-repository",
            ArtifactKind::JavaDb => "--java-db-repository",
            ArtifactKind::Checks => "--checks-bundle-repository",
        };
        flags.push(flag.to_string());
        flags.push(p.reference.clone());
    }
    match target.prefix.strip_suffix("aquasec") {
        Some(rest) if default_tags && (rest.is_empty() || rest.ends_with('/')) => {
            let mirror = format!("{}/{}", target.host, rest.trim_end_matches('/'));
            let mirror = mirror.trim_end_matches('/').to_string();
            let yaml = format!(
                "registry:\n  mirrors:\n    mirror.gcr.io:\n      - {}\n",
                crate::layout::trivy_config::yaml_str(&mirror)
            );
            (flags, Some(yaml), None)
        }
        _ => (
            flags,
            None,
            Some(format!(
                "for trivy.yaml registry.mirrors (scanners keep their default flags), push to a path ending in /aquasec with the default tags, e.g. --push {}",
                crate::layout::scan::shell_quote(&format!("{}/aquasec", target.host))
            )),
        ),
    }
}
