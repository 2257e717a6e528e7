//! `export`: profiles and flags into an export plan, the sequence file, the
//! checksums file. Cheap checks of the output come before the keys are
//! unlocked.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::failure::{Failure, Result};
use time::OffsetDateTime;

use airlock::bundle::parts;
use airlock::export::sequence::{SequenceError, SequenceFile, DEFAULT_SERIES};
use airlock::export::{ExportError, ExportPlan, ExportReport, SourceSpec};
use airlock::manifest::ArtifactKind;
use airlock::timestamp::parse_time;

use super::args::ExportArgs;
use super::bar::Reporter;

use super::network::{network_limits, network_options};
use super::splitting::{part_files, sha256sums, split_size, WithSums};
use super::*;

/// The sources one of `--trivy-db`, `--java-db`, `--checks` names: one
/// file, or registry references tried in order.
pub(super) fn artifact_source(
    kind: ArtifactKind,
    values: &[String],
    checks_version: &Option<String>,
) -> Result<Option<SourceSpec>> {
    use airlock::source::pull::is_reference;
    match values {
        [] => Ok(None),
        // Not a file, and the message would quote a secret: a URL or a
        // reference written with credentials.
        [one] if !Path::new(one).exists() && matches!(airlock::redact::url(one), Cow::Owned(_)) => {
            Err(Failure::usage(format!(
                "--{kind} {:?} is neither a file nor a registry reference (host/repository:tag)",
                airlock::redact::url(one)
            ))
            .with_hint("registry credentials go in --username/--password-stdin, TRIVY_USERNAME/TRIVY_PASSWORD or the Docker config, never in the reference"))
        }
        [one] if !is_reference(one) => Ok(Some(SourceSpec::Layer {
            kind,
            path: PathBuf::from(one),
            checks_version: checks_version.clone(),
        })),
        refs => {
            if let Some(bad) = refs.iter().find(|r| !is_reference(r)) {
                let bad = airlock::redact::url(bad);
                usage!(
                    "--{kind} {bad:?}: give one file, or registry references (host/repository:tag), not both"
                );
            }
            Ok(Some(SourceSpec::Registry {
                kind,
                references: refs.to_vec(),
            }))
        }
    }
}

pub(super) fn export(mut a: ExportArgs) -> Result<()> {
    profile::apply(&mut a)?;
    let Some(output_pattern) = a.output.clone() else {
        usage!("give -o BUNDLE (or output in the profile)");
    };
    if a.sign_key.is_empty() {
        usage!("give --sign-key KEY (or sign_key in the profile)");
    }
    let sources = sources(&a)?;
    let labels = labels(&a.label)?;
    let created = match &a.created {
        Some(s) => match parse_time(s) {
            Ok(t) => t,
            Err(_) => usage!("--created {s:?} is not an RFC 3339 time (e.g. 2026-11-25T12:00:00Z)"),
        },
        None => OffsetDateTime::now_utc(),
    };
    let split = a.split.as_deref().map(split_size).transpose()?;
    let (sequence_file, sequence) = sequence(&a)?;
    let own_hosts = airlock::export::source_hosts(&sources);
    // The explicit credentials' registry is each artifact list's first
    // reference, set where the list is pulled.
    let network = network_options(
        &a.registry,
        &own_hosts,
        None,
        network_limits(&a.network_limits)?,
    )?;
    // The --vex-repo URLs in order (not the default VEX Hub, which gets no
    // credentials).
    let vex_urls: Vec<&str> = sources
        .iter()
        .filter(|_| !a.vex_repo.is_empty())
        .filter_map(|s| match s {
            SourceSpec::VexUrl { url, .. } => Some(url.as_str()),
            _ => None,
        })
        .collect();
    let network = airlock::registry::Options {
        vex_credentials: super::network::vex_credentials(&a.vex_auth, &vex_urls)?,
        ..network
    };
    let plan = ExportPlan {
        sources,
        labels,
        created,
        network,
        output: expand_output(&output_pattern, created),
        force: a.force,
        split,
        sequence: sequence.clone(),
    };
    // Where it writes, before the keys are unlocked (issue 15).
    let sums_file = a.sha256sums.then(|| parts::sums_path(&plan.output));
    airlock::export::preflight(&plan, sums_file.as_slice()).map_err(flag_worded)?;
    let progress = Reporter::new(a.json, a.quiet);
    let keys = passphrase::load_secrets(&a.sign_key, a.passphrase_file.as_deref(), &progress)?;
    let base = base_bundle(&a, &keys)?;
    let report =
        airlock::export::export_with_base(&plan, &keys, GENERATOR, &progress, base.as_ref())
            .map_err(flag_worded)?;
    if let (Some(file), Some((series, n))) = (&sequence_file, &sequence) {
        file.record(series, *n)?;
    }
    let files = match &report.parts {
        Some(p) => part_files(p),
        None => vec![file_name(&report.output)],
    };
    let sums = sha256sums(sums_file.as_deref(), &files, a.force)?;
    render(a.json, a.quiet, &report, sums)
}

/// `--base` and whom to trust for it: `--base-trust` or `--base-key`, else
/// what [`airlock::export::BaseBundle::new`] decides.
fn base_bundle(
    a: &ExportArgs,
    keys: &[airlock::keys::SecretKey],
) -> Result<Option<airlock::export::BaseBundle>> {
    let a = &a.base;
    let Some(path) = &a.base else {
        return Ok(None);
    };
    let policy = if a.base_trust.is_some() || !a.base_key.is_empty() {
        Some(super::load_policy(&a.base_key, &a.base_trust)?)
    } else {
        None
    };
    Ok(Some(airlock::export::BaseBundle::new(
        path.clone(),
        policy,
        keys,
    )?))
}

/// The sources the flags (and profile) name; Trivy's own defaults when
/// they name none.
fn sources(a: &ExportArgs) -> Result<Vec<SourceSpec>> {
    let mut sources = Vec::new();
    if !profile::has_sources(a) {
        sources.extend(airlock::export::default_sources());
    }
    for (kind, values) in [
        (ArtifactKind::TrivyDb, &a.trivy_db),
        (ArtifactKind::JavaDb, &a.java_db),
        (ArtifactKind::Checks, &a.checks),
    ] {
        if let Some(spec) = artifact_source(kind, values, &a.checks_version)? {
            sources.push(spec);
        }
    }
    for (i, v) in a.vex_repo.iter().enumerate() {
        let (name, url) = match v.split_once('=') {
            Some((n, u)) if !n.contains('/') && !n.contains(':') => (n.to_string(), u.to_string()),
            _ if i == 0 => ("default".to_string(), v.clone()),
            _ => usage!(
                "--vex-repo {:?}: name every repository after the first (NAME=URL)",
                airlock::redact::url(v)
            ),
        };
        refuse_url_credentials(&url, "--vex-repo")?;
        sources.push(SourceSpec::VexUrl { name, url });
    }
    sources.extend(vex_file_sources(a)?);
    if let Some(dir) = &a.from_cache {
        sources.push(SourceSpec::Cache(dir.clone()));
    }
    Ok(sources)
}

/// A `--vex-repo` URL (or a profile's VEX source) with credentials in it
/// is refused: they come from flags, the environment or a file, never from
/// a URL, which shows in the process list, the shell's history and the
/// profile. The URL is quoted with its userinfo masked; the test is the
/// one that masks it, so no URL it would show as `***@` gets through.
pub(super) fn refuse_url_credentials(url: &str, given_as: &str) -> Result<()> {
    let shown = airlock::redact::url(url);
    if shown.contains("***@") {
        return Err(Failure::usage(format!(
            "{given_as} {shown:?} carries credentials; airlock does not take them from a URL"
        ))
        .with_hint(super::hint::VEX_CREDENTIALS_NOT_IN_URL));
    }
    Ok(())
}

/// `--vex-manifest`/`--vex-archive` pairs, named by `--vex-name`.
fn vex_file_sources(a: &ExportArgs) -> Result<Vec<SourceSpec>> {
    if a.vex_manifest.len() != a.vex_archive.len() {
        usage!(
            "--vex-manifest is given {} times but --vex-archive {} times; give them in pairs",
            a.vex_manifest.len(),
            a.vex_archive.len()
        );
    }
    let names: Vec<String> = match (a.vex_name.len(), a.vex_manifest.len()) {
        (0, 0) => vec![],
        (0, 1) => vec!["default".to_string()],
        (0, n) => {
            usage!("{n} VEX repositories need a --vex-name each (the first is usually \"default\")")
        }
        (k, n) if k == n => a.vex_name.clone(),
        (k, n) => usage!("--vex-name is given {k} times for {n} VEX repositories"),
    };
    Ok(names
        .into_iter()
        .zip(&a.vex_manifest)
        .zip(&a.vex_archive)
        .map(|((name, manifest), archive)| SourceSpec::Vex {
            name,
            manifest: manifest.clone(),
            archive: archive.clone(),
        })
        .collect())
}

/// `--label KEY=VALUE` flags (the library checks keys and values).
fn labels(flags: &[String]) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for l in flags {
        let Some((k, v)) = l.split_once('=') else {
            usage!("--label {l:?} is not KEY=VALUE");
        };
        if labels.insert(k.to_string(), v.to_string()).is_some() {
            usage!("--label {k} is given twice");
        }
    }
    Ok(labels)
}

/// A bundle's series and its sequence number in it.
type Numbered = (String, u64);

/// The sequence file (with `--sequence-file`) and the bundle's
/// `(series, sequence)`, if it has one.
fn sequence(a: &ExportArgs) -> Result<(Option<SequenceFile>, Option<Numbered>)> {
    let sequence_file = match &a.sequence_file {
        Some(path) => Some(SequenceFile::read(path)?),
        None => None,
    };
    let sequence = match (a.sequence, &sequence_file) {
        (Some(n), None) => Some((a.series.clone().unwrap_or_else(|| DEFAULT_SERIES.into()), n)),
        (None, Some(file)) => Some(file.next(a.series.as_deref()).map_err(series_worded)?),
        (None, None) if a.series.is_some() => {
            usage!("--series needs --sequence N or --sequence-file FILE")
        }
        _ => None,
    };
    Ok((sequence_file, sequence))
}

/// A series the sequence file does not count, in the flag's name.
fn series_worded(e: SequenceError) -> Failure {
    match &e {
        SequenceError::SeriesMismatch {
            path,
            given,
            recorded,
        } => Failure::reworded(
            &e,
            format!(
                "--series {given:?} but {} counts series {recorded:?}",
                super::show::path_line(path)
            ),
        ),
        _ => e.into(),
    }
}

/// An export refusal that concerns a flag, in the flag's name.
fn flag_worded(e: ExportError) -> Failure {
    match &e {
        ExportError::NoKey => Failure::reworded(&e, "export needs at least one --sign-key"),
        ExportError::CreatedInFuture(t) => {
            Failure::reworded(&e, format!("--created {t} is in the future"))
        }
        _ => e.into(),
    }
}

/// The report, as JSON or text.
fn render(json: bool, quiet: bool, report: &ExportReport, sums: Option<PathBuf>) -> Result<()> {
    let warnings = airlock::freshness::warnings(&report.manifest, OffsetDateTime::now_utc());
    stale::print(&warnings, quiet || json);
    if json {
        print_json(&stale::WithWarnings {
            report: &WithSums {
                report,
                sha256sums: sums,
            },
            warnings: &warnings,
        })
    } else {
        let mut out = show::Sanitize(io::stdout().lock());
        show::export(&mut out, report)?;
        show::sums(&mut out, sums.as_deref())?;
        Ok(())
    }
}

/// `{date}` and `{datetime}` in an output path, from the creation time.
pub(super) fn expand_output(pattern: &Path, created: OffsetDateTime) -> PathBuf {
    let text = pattern.display().to_string();
    if !text.contains('{') {
        return pattern.to_path_buf();
    }
    let date = format!(
        "{:04}-{:02}-{:02}",
        created.year(),
        created.month() as u8,
        created.day()
    );
    let datetime = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        created.year(),
        created.month() as u8,
        created.day(),
        created.hour(),
        created.minute(),
        created.second()
    );
    PathBuf::from(
        text.replace("{datetime}", &datetime)
            .replace("{date}", &date),
    )
}
