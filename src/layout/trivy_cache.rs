//! Trivy's cache layout (`--cache-dir`) and the metadata files that make
//! Trivy use what airlock installed without trying the network.
//!
//! Verified against Trivy 0.76 (bundle-spec/FIXTURES-NOTES.md): with
//! `DownloadedAt` = import time, Trivy treats trivy-db as fresh for an hour
//! (or until `NextUpdate`), the Java DB for 24 hours, the checks for 24
//! hours (with `MajorVersion` 2), a VEX repository until `cache.json`'s
//! `UpdatedAt` + `update_interval`. After that it tries to download, so on an
//! air-gapped host scans should pass the `--skip-*-update` flags that
//! [`trivy_flags`] lists.

use std::path::Path;

use time::OffsetDateTime;

use crate::artifact::db::DbMetadata;
use crate::layout::trivy_config::yaml_str;
use crate::manifest::ArtifactKind;
use crate::timestamp::format_time;

/// Where VEX repositories live in the cache.
pub const VEX_REPOSITORIES: &str = crate::artifact::vex::CACHE_DIR;

/// The cache component (top-level directory) that holds `kind`.
pub fn component(kind: ArtifactKind) -> &'static str {
    crate::artifact::info(kind).cache_dir
}

/// Where the layer is unpacked inside the component.
pub fn layer_dir(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::TrivyDb | ArtifactKind::JavaDb => "",
        ArtifactKind::Checks => "content",
    }
}

/// metadata.json for an installed database: as published, with
/// `DownloadedAt` set to the import time.
pub fn db_metadata(published: &DbMetadata, now: OffsetDateTime) -> Vec<u8> {
    DbMetadata {
        downloaded_at: format_time(now),
        ..published.clone()
    }
    .to_bytes()
}

/// policy/metadata.json (Trivy 0.69+ shape).
pub fn policy_metadata(manifest_digest: &str, major: u64, now: OffsetDateTime) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "Digest": manifest_digest,
        "DownloadedAt": format_time(now),
        "MajorVersion": major,
    }))
    .expect("static JSON serializes")
}

/// vex/repositories/<name>/cache.json, as `trivy vex repo download` writes it.
pub fn vex_cache_json(now: OffsetDateTime, location: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "UpdatedAt": format_time(now),
        "ETags": { location: "" },
    }))
    .expect("static JSON serializes")
}

/// The flags a scan on an air-gapped host should use with this cache: a
/// skip flag only for what `installed` holds (Trivy refuses
/// `--skip-*-update` "on the first run", trivy-facts.md).
pub fn trivy_flags(cache_dir: &Path, installed: &crate::layout::scan::Installed) -> Vec<String> {
    let mut flags = vec!["--cache-dir".to_string(), cache_dir.display().to_string()];
    let skips = [
        (installed.db, "--skip-db-update"),
        (installed.java_db, "--skip-java-db-update"),
        (installed.checks, "--skip-check-update"),
    ];
    flags.extend(
        skips
            .iter()
            .filter(|(held, _)| *held)
            .map(|(_, f)| f.to_string()),
    );
    if !installed.vex.is_empty() {
        flags.extend([
            "--vex".to_string(),
            "repo".to_string(),
            "--skip-vex-repo-update".to_string(),
        ]);
    }
    flags
}

/// A `repository.yaml` listing `repos` (name, url if known), for
/// `$XDG_DATA_HOME/.trivy/vex/repository.yaml` (else `~/.trivy/vex/`).
/// Trivy 0.76 does not use the url with `--skip-vex-repo-update` (seen).
///
/// An entry with a url shows, commented out, where Trivy's credentials go
/// when the server that serves it requires them (issue 14): the fields of
/// Trivy's `vex/repo.Repository` (`username`, `password`, `token`, sent as
/// basic auth or a bearer token by `trivy vex repo download`). Commented,
/// because airlock never writes or prints a credential.
/// Each name and url is written by [`yaml_str`]: one line, read back
/// by Trivy as exactly that string.
pub fn repository_yaml(repos: &[(String, Option<String>)]) -> String {
    let mut s = String::from("repositories:\n");
    for (name, url) in repos {
        s.push_str(&format!("  - name: {}\n", yaml_str(name)));
        match url {
            Some(url) => s.push_str(&format!("    url: {}\n", yaml_str(url))),
            None => s.push_str(
                "    # no url: scans must use --skip-vex-repo-update (import with --vex-dir to publish one)\n",
            ),
        }
        s.push_str("    enabled: true\n");
        if url.is_some() {
            s.push_str(VEX_AUTH_COMMENT);
        }
    }
    s
}

/// Where a VEX server's credentials go in a repository.yaml entry (field
/// names of Trivy's `pkg/vex/repo` `Repository`): a user name and password
/// (basic auth) or a bearer token.
pub const VEX_AUTH_COMMENT: &str = "    # if the server requires authentication, uncomment either:\n    # username: USER\n    # password: PASSWORD\n    # or:\n    # token: TOKEN\n";
