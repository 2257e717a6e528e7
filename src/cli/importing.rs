//! `import`: the flags into an import, its audit entry and receipt, the push.

use std::io::{self, BufReader, Write};
use std::path::Path;

use super::failure::{Failure, Result};
use time::OffsetDateTime;

use airlock::install::audit::{self, AuditEntry};
use airlock::install::ImportOptions;
use airlock::media::Input;
use airlock::progress::NoProgress;

use super::args::ImportArgs;
use super::bar::Reporter;

use super::network::push_target;
use super::*;

/// What an import (and push) did.
pub(super) struct Outcome {
    /// The cache import, when there was a cache.
    import: Option<airlock::install::ImportReport>,
    /// What verification proved (always).
    manifest_sha256: String,
    created: String,
    series: Option<String>,
    sequence: Option<u64>,
    signers: Vec<airlock::policy::SignerReport>,
    /// The push, when asked for and done.
    push: Option<airlock::layout::oci_repos::PushReport>,
    /// The push failed after the cache import was complete.
    push_error: Option<Failure>,
}

pub(super) fn import(a: ImportArgs) -> Result<()> {
    let receipt_key = a
        .receipt_key
        .as_ref()
        .map(|p| passphrase::load_secret(p, a.passphrase_file.as_deref()))
        .transpose()?;
    let now = OffsetDateTime::now_utc();
    let result = import_bundle(&a, now);

    // Every import, accepted or refused, goes into the audit log (when the
    // log's directory exists: a refusal never creates a cache directory).
    let (host, user) = audit::who();
    let mut entry = AuditEntry {
        time: airlock::timestamp::format_time(now),
        bundle: a.bundle.display().to_string(),
        cache_dir: a
            .cache_dir
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        host,
        user,
        ..Default::default()
    };
    match &result {
        Ok(o) => {
            let mut forced = o
                .import
                .as_ref()
                .map(|r| r.forced.clone())
                .unwrap_or_default();
            if let Some(p) = &o.push {
                forced.extend(p.forced.iter().cloned());
            }
            entry.decision = if forced.is_empty() {
                "accepted"
            } else {
                "forced"
            }
            .into();
            entry.manifest_sha256 = Some(o.manifest_sha256.clone());
            entry.created = Some(o.created.clone());
            entry.series = o.series.clone();
            entry.sequence = o.sequence;
            entry.signers = o.signers.clone();
            entry.forced = forced;
            if let Some(r) = &o.import {
                entry.installed = r
                    .components
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "path": c.path,
                            "manifest_digest": c.manifest_digest,
                            "updated_at": c.updated_at,
                            "replaced": c.replaced,
                        })
                    })
                    .chain(r.vex.iter().map(|v| {
                        serde_json::json!({"path": v.cache_path, "vex": v.name, "replaced": v.replaced})
                    }))
                    .collect();
            }
            if let Some(p) = &o.push {
                entry.installed.extend(p.artifacts.iter().map(|x| {
                    serde_json::json!({"pushed": x.reference, "manifest_digest": x.manifest_digest})
                }));
            }
            if let Some(e) = &o.push_error {
                let reason = format!("the cache import is complete, but the push failed: {e:#}");
                entry.reason = Some(airlock::redact::text(&reason).into_owned());
            }
        }
        Err(e) => {
            entry.decision = "refused".into();
            let reason = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            entry.reason = Some(airlock::redact::text(&reason).into_owned());
        }
    }
    let log = a
        .audit_log
        .clone()
        .or_else(|| a.cache_dir.as_ref().map(|d| d.join(audit::AUDIT_FILE)));
    let logged = match log.filter(|l| parent(l).is_dir()) {
        Some(log) => match audit::append(&log, &entry) {
            Ok(l) => Some(l),
            Err(e) if result.is_ok() => {
                return Err(Failure::from(e).context(
                    "the import is complete, but it could not be recorded in the audit log",
                ))
            }
            Err(e) => {
                eprintln!(
                    "airlock: warning: this refusal could not be recorded in the audit log: {e}"
                );
                None
            }
        },
        None => None,
    };
    let receipt = match &a.receipt {
        Some(path) => {
            let r = audit::Receipt {
                format: "airlock-receipt",
                generator: GENERATOR.into(),
                entry: entry.clone(),
                audit: logged.clone(),
            };
            match audit::write_receipt(path, &r, receipt_key.as_ref()) {
                Ok(sig) => Some((path.clone(), sig)),
                Err(e) if result.is_ok() => {
                    return Err(Failure::from(e)
                        .context("the import is complete, but its receipt could not be written"))
                }
                Err(e) => {
                    eprintln!(
                        "airlock: warning: the receipt of this refusal could not be written: {e}"
                    );
                    None
                }
            }
        }
        None => None,
    };
    let mut outcome = result?;
    if a.json {
        let mut v = match &outcome.import {
            Some(r) => serde_json::to_value(r)?,
            None => serde_json::json!({
                "manifest_sha256": outcome.manifest_sha256,
                "created": outcome.created,
                "signers": outcome.signers,
            }),
        };
        v["push"] = serde_json::json!(outcome.push);
        v["audit"] = serde_json::json!(logged);
        v["receipt"] = serde_json::json!(receipt
            .as_ref()
            .map(|(p, s)| { serde_json::json!({"path": p, "signature": s}) }));
        print_json(&v)?;
    } else {
        let mut out = show::Sanitize(io::stdout().lock());
        match &outcome.import {
            Some(r) => show::imported(&mut out, r)?,
            None => writeln!(
                out,
                "verified bundle (manifest sha256 {}, created {})",
                outcome.manifest_sha256, outcome.created
            )?,
        }
        if let Some(p) = &outcome.push {
            show::pushed(&mut out, p)?;
        }
        if let Some(l) = &logged {
            writeln!(
                out,
                "recorded in {} (line {}, sha256 {})",
                l.log.display(),
                l.line,
                l.sha256
            )?;
        }
        if let Some((p, sig)) = &receipt {
            match sig {
                Some(sig) => writeln!(out, "receipt: {} (signed: {})", p.display(), sig.display())?,
                None => writeln!(out, "receipt: {} (unsigned)", p.display())?,
            }
        }
    }
    match outcome.push_error.take() {
        Some(e) => Err(e.context(
            "the cache import is complete, but the push failed; nothing is reported as pushed",
        )),
        None => Ok(()),
    }
}

pub(super) fn import_bundle(a: &ImportArgs, now: OffsetDateTime) -> Result<Outcome> {
    if let Some(u) = &a.vex_url {
        let shown = airlock::redact::url(u);
        if shown.contains("***@") {
            usage!(
                "--vex-url {shown:?} carries credentials, which would be written into the published vex-repository.json and every cache that reads it\nhint: give the URL without them; Trivy takes credentials for a VEX repository from the username and password of its entry in repository.yaml"
            );
        }
    }
    let policy = trust_policy(&a.trust)?;
    let input = Input::open(&a.bundle, Some(&policy))?;
    // Reach the registry first: no point importing for a push that cannot be.
    let push = push_target(a)?;
    let push_opts = airlock::install::push::PushOptions {
        now,
        allow_downgrade: a.allow_downgrade,
    };
    if let Some((client, target)) = &push {
        // The registry's own history judges the bundle (by its signed
        // header) before any cache is written; the push judges again.
        let header = input.read_with(&NoProgress, |r| {
            airlock::bundle::reader::read_header(BufReader::new(r))
        });
        if let Ok(header) = header {
            airlock::install::push::precheck(&header, client, target, &policy, &push_opts)
                .map_err(|e| push_failed(e.into()))?;
        }
    }
    let progress = Reporter::new(a.json, a.quiet);
    let mut outcome = match &a.cache_dir {
        Some(cache_dir) => {
            let opts = ImportOptions {
                cache_dir: cache_dir.clone(),
                vex_dir: a.vex_dir.clone(),
                vex_url: a.vex_url.clone(),
                now,
                allow_downgrade: a.allow_downgrade,
            };
            airlock::progress::Progress::begin(&progress, "import", input.len());
            let report = input
                .read_with(&progress, |r| airlock::install::import(r, &policy, &opts))
                .map_err(|e| name_trivy(e, a.trivy_bin.as_deref()))?;
            airlock::progress::Progress::end(&progress);
            Outcome {
                manifest_sha256: report.manifest_sha256.clone(),
                created: report.created.clone(),
                series: report.series.clone(),
                sequence: report.sequence,
                signers: report.signers.clone(),
                import: Some(report),
                push: None,
                push_error: None,
            }
        }
        None => {
            airlock::progress::Progress::begin(&progress, "verify", input.len());
            let v = input
                .read_with(&progress, |r| airlock::install::verify(r, &policy))
                .map_err(|e| name_trivy(e, a.trivy_bin.as_deref()))?;
            airlock::progress::Progress::end(&progress);
            Outcome {
                manifest_sha256: v.manifest_sha256.hex(),
                created: v.manifest.created.to_string(),
                series: v.manifest.series.as_ref().map(|s| s.to_string()),
                sequence: v.manifest.sequence,
                signers: v.signers.clone(),
                import: None,
                push: None,
                push_error: None,
            }
        }
    };
    if let Some((client, target)) = push {
        airlock::progress::Progress::begin(&progress, "push", input.len());
        let result = input.read_with(&progress, |r| {
            airlock::install::push::push(
                r,
                &policy,
                &outcome.manifest_sha256,
                &client,
                &target,
                push_opts,
                &|b| {
                    let what = if b.skipped { "already there" } else { "sent" };
                    airlock::progress::Progress::note(&progress, &format!("{} {what}", b.digest));
                },
            )
        });
        airlock::progress::Progress::end(&progress);
        match result {
            Ok(p) => outcome.push = Some(p),
            Err(e) if outcome.import.is_some() => outcome.push_error = Some(e.into()),
            Err(e) => return Err(push_failed(e)),
        }
    }
    Ok(outcome)
}

/// A push failure says that nothing is reported as pushed; a refusal by the
/// registry state (a downgrade) is said as it is.
pub(super) fn push_failed(e: airlock::media::MediaError) -> Failure {
    use airlock::install::ImportError;
    use airlock::media::MediaError;
    let failed = matches!(e, MediaError::Import(ImportError::Push(_)));
    let e = Failure::from(e);
    if failed {
        e.context("the push failed; nothing is reported as pushed")
    } else {
        e
    }
}

/// For a database schema refusal, says which Trivy is installed and what it
/// reads (from `--trivy-bin`, or `trivy` on PATH, if either runs).
pub(super) fn name_trivy(e: airlock::media::MediaError, bin: Option<&Path>) -> Failure {
    use airlock::install::ImportError;
    use airlock::media::MediaError;
    if let MediaError::Import(ImportError::Overlap { vex_dir, cache_dir }) = &e {
        // The library's directories are these flags.
        let message = format!(
            "--vex-dir {} and --cache-dir {} overlap; the static VEX repository must live outside the Trivy cache (and the cache outside it)",
            vex_dir.display(),
            cache_dir.display()
        );
        return Failure::reworded(&e, message);
    }
    if !matches!(e, MediaError::Import(ImportError::Schema(_))) {
        return e.into();
    }
    let bin = bin.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("trivy"))
                .find(|p| p.is_file())
        })
    });
    let version = bin.as_ref().and_then(|b| {
        let out = std::process::Command::new(b)
            .arg("--version")
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Version: ").map(|v| v.trim().to_string()))
    });
    match (bin, version) {
        (Some(bin), Some(v)) => Failure::from(e).context(format!(
            "the Trivy on this host ({}, version {v}) reads trivy-db schema 2, java-db schema 1 and checks bundles of major version 2",
            bin.display()
        )),
        _ => e.into(),
    }
}
