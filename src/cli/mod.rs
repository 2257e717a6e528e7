//! The command line: parse, turn arguments into library plans, call the
//! library, print its reports (text, or JSON with `--json`).

pub mod args;
mod bar;
mod passphrase;
mod profile;
pub mod show;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use time::OffsetDateTime;

use airlock::artifact::db::parse_time;
use airlock::bundle::parts::{self, PartSet};
use airlock::export::{ExportPlan, SourceSpec};
use airlock::install::audit::{self, AuditEntry};
use airlock::install::ImportOptions;
use airlock::keys::{PublicKey, SecretKey};
use airlock::manifest::{ArtifactKind, Manifest};
use airlock::media::Input;
use airlock::policy::{PolicyError, TrustPolicy};
use airlock::progress::NoProgress;
use airlock::target::registry::PushTarget;

use args::{
    AuditArgs, CacheArgs, Cli, Command, ExportArgs, ImportArgs, InspectArgs, JoinArgs, KeygenArgs,
    SignArgs, SplitArgs, VerifyArgs, VerifyReceiptArgs,
};
use bar::Reporter;

/// A command line that cannot work as given (exit code 2, like clap's own).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(UsageError(format!($($arg)*)).into())
    };
}

const GENERATOR: &str = concat!("airlock ", env!("CARGO_PKG_VERSION"));

/// Whether the command asked for JSON (errors are then reported as JSON too).
pub fn wants_json(cli: &Cli) -> bool {
    match &cli.command {
        Command::Export(a) => a.json,
        Command::Verify(a) => a.json,
        Command::Inspect(a) => a.json,
        Command::Import(a) => a.json,
        Command::Sign(a) => a.json,
        Command::Rollback(a) | Command::Status(a) => a.json,
        Command::Split(a) => a.json,
        Command::Join(a) => a.json,
        Command::Audit(a) => a.json,
        Command::VerifyReceipt(a) => a.json,
        Command::Keygen(_) => false,
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen(a) => keygen(a),
        Command::Export(a) => export(a),
        Command::Verify(a) => verify(a),
        Command::Inspect(a) => inspect(a),
        Command::Import(a) => import(a),
        Command::Sign(a) => sign(a),
        Command::Rollback(a) => rollback(a),
        Command::Status(a) => status(a),
        Command::Split(a) => split(a),
        Command::Join(a) => join(a),
        Command::Audit(a) => audit_check(a),
        Command::VerifyReceipt(a) => verify_receipt(a),
    }
}

/// Prints `value` as JSON on stdout. The last line of defence for secrets
/// in URLs: whatever a report holds, no userinfo or query value of a URL
/// leaves the process (see `airlock::redact`).
fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let mut text = airlock::redact::text(&text).into_owned();
    text.push('\n');
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn keygen(a: KeygenArgs) -> Result<()> {
    let key = SecretKey::generate(&a.comment)?;
    let sk_path = with_suffix(&a.out, ".key");
    let pk_path = with_suffix(&a.out, ".pub");
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            bail!("{} already exists\nhint: choose another --out prefix; airlock never overwrites a key", p.display());
        }
    }
    let pass = if a.unencrypted {
        None
    } else {
        Some(passphrase::new_passphrase(a.passphrase_file.as_deref())?)
    };
    let sk_text = key.to_text_with(pass.as_ref().map(|p| p.as_slice()))?;
    let pk_comment = if a.comment.is_empty() {
        format!("minisign public key {}", key.key_id())
    } else {
        format!("minisign public key {} ({})", key.key_id(), a.comment)
    };
    write_new(&sk_path, sk_text.as_bytes(), 0o600)?;
    if let Err(e) = write_new(
        &pk_path,
        key.public_key().to_text(&pk_comment).as_bytes(),
        0o644,
    ) {
        let _ = std::fs::remove_file(&sk_path);
        return Err(e);
    }
    println!("key id:     {}", key.key_id());
    println!(
        "secret key: {} (mode 0600, {})",
        sk_path.display(),
        if a.unencrypted {
            "unencrypted: keep it offline"
        } else {
            "encrypted with the passphrase (scrypt, as minisign)"
        }
    );
    println!("public key: {}", pk_path.display());
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The policy of `--key`/`--trust`.
fn trust_policy(t: &args::TrustArgs) -> Result<TrustPolicy> {
    load_policy(&t.key, &t.trust)
}

/// The trust policy: a policy file (`--trust`), or any one of `--key`.
fn load_policy(keys: &[PathBuf], trust: &Option<PathBuf>) -> Result<TrustPolicy> {
    if let Some(path) = trust {
        return Ok(TrustPolicy::from_file(path)?);
    }
    let keys = keys
        .iter()
        .map(|p| PublicKey::from_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TrustPolicy::any_of(keys)?)
}

/// The sources one of `--trivy-db`, `--java-db`, `--checks` names: one
/// file, or registry references tried in order.
fn artifact_source(
    kind: ArtifactKind,
    values: &[String],
    checks_version: &Option<String>,
) -> Result<Option<SourceSpec>> {
    use airlock::source::registry::is_reference;
    match values {
        [] => Ok(None),
        // Not a file, and the message would quote a secret: a URL or a
        // reference written with credentials.
        [one] if !Path::new(one).exists() && matches!(airlock::redact::url(one), Cow::Owned(_)) => {
            usage!(
                "--{kind} {:?} is neither a file nor a registry reference (host/repository:tag)\nhint: registry credentials go in --username/--password-stdin, TRIVY_USERNAME/TRIVY_PASSWORD or the Docker config, never in the reference",
                airlock::redact::url(one)
            )
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

fn export(mut a: ExportArgs) -> Result<()> {
    profile::apply(&mut a)?;
    let Some(output_pattern) = a.output.clone() else {
        usage!("give -o BUNDLE (or output in the profile)");
    };
    if a.sign_key.is_empty() {
        usage!("give --sign-key KEY (or sign_key in the profile)");
    }
    let mut sources = Vec::new();
    let defaults = !profile::has_sources(&a);
    if defaults {
        // Trivy 0.76's own defaults.
        for kind in [
            ArtifactKind::TrivyDb,
            ArtifactKind::JavaDb,
            ArtifactKind::Checks,
        ] {
            sources.push(SourceSpec::Registry {
                kind,
                references: airlock::source::registry::default_references(kind),
            });
        }
        sources.push(SourceSpec::VexUrl {
            name: "default".into(),
            url: airlock::source::vexhub::VEXHUB.into(),
        });
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
        sources.push(SourceSpec::VexUrl { name, url });
    }
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
    for ((name, manifest), archive) in names.into_iter().zip(&a.vex_manifest).zip(&a.vex_archive) {
        sources.push(SourceSpec::Vex {
            name,
            manifest: manifest.clone(),
            archive: archive.clone(),
        });
    }
    if let Some(dir) = &a.from_cache {
        sources.push(SourceSpec::Cache(dir.clone()));
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let Some((k, v)) = l.split_once('=') else {
            usage!("--label {l:?} is not KEY=VALUE");
        };
        if labels.insert(k.to_string(), v.to_string()).is_some() {
            usage!("--label {k} is given twice");
        }
    }
    let created = match &a.created {
        Some(s) => match parse_time(s) {
            Ok(t) => t,
            Err(_) => usage!("--created {s:?} is not an RFC 3339 time (e.g. 2026-11-25T12:00:00Z)"),
        },
        None => OffsetDateTime::now_utc(),
    };
    let keys = a
        .sign_key
        .iter()
        .map(|p| passphrase::load_secret(p, a.passphrase_file.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let split = a.split.as_deref().map(parts::parse_size).transpose()?;
    let sequence = match (&a.sequence, &a.sequence_file) {
        (Some(n), None) => Some((a.series.clone().unwrap_or_else(|| "default".into()), *n)),
        (None, Some(file)) => {
            let (series, last) = read_sequence_file(file)?;
            let series = match (a.series.clone(), series) {
                (Some(given), Some(recorded)) if given != recorded => usage!(
                    "--series {given:?} but {} counts series {recorded:?}",
                    file.display()
                ),
                (given, recorded) => given.or(recorded).unwrap_or_else(|| "default".into()),
            };
            Some((series, last + 1))
        }
        (None, None) if a.series.is_some() => {
            usage!("--series needs --sequence N or --sequence-file FILE")
        }
        _ => None,
    };
    let own_hosts: Vec<String> = sources
        .iter()
        .flat_map(|spec| match spec {
            SourceSpec::Registry { references, .. } => references
                .iter()
                .filter_map(|r| airlock::source::registry::Reference::parse(r).ok())
                .map(|r| r.host)
                .collect(),
            SourceSpec::VexUrl { url, .. } => airlock::registry::HostPort::of_url(url)
                .map(|h| vec![h.to_string()])
                .unwrap_or_default(),
            _ => vec![],
        })
        .collect();
    // The explicit credentials' registry is each artifact list's first
    // reference, set where the list is pulled.
    let network = network_options(
        &a.registry,
        &own_hosts,
        None,
        network_limits(&a.network_limits)?,
    )?;
    let output = expand_output(&output_pattern, created);
    let plan = ExportPlan {
        sources,
        labels,
        created,
        network,
        output: output.clone(),
        force: a.force,
        split,
        sequence: sequence.clone(),
    };
    let progress = Reporter::new(a.json, a.quiet);
    let report = airlock::export::export(&plan, &keys, GENERATOR, &progress)?;
    if let (Some(file), Some((series, n))) = (&a.sequence_file, &sequence) {
        write_sequence_file(file, series, *n)?;
    }
    let files = match &report.parts {
        Some(p) => part_files(p),
        None => vec![file_name(&report.output)],
    };
    let sums = sha256sums(a.sha256sums, &report.output, &files, a.force)?;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["sha256sums"] = serde_json::json!(sums);
        print_json(&v)
    } else {
        let mut out = show::Sanitize(io::stdout().lock());
        show::export(&mut out, &report)?;
        show::sums(&mut out, sums.as_deref())?;
        Ok(())
    }
}

/// `(series, last sequence)` from a sequence file (`series = "..."`,
/// `sequence = N`); `(None, 0)` if it does not exist yet.
fn read_sequence_file(path: &Path) -> Result<(Option<String>, u64)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, 0)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not a sequence file", path.display()))?;
    let series = table
        .get("series")
        .and_then(|v| v.as_str())
        .map(String::from);
    let n = table
        .get("sequence")
        .and_then(|v| v.as_integer())
        .and_then(|n| u64::try_from(n).ok())
        .with_context(|| format!("{} has no sequence = N", path.display()))?;
    Ok((series, n))
}

fn write_sequence_file(path: &Path, series: &str, n: u64) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("cannot write beside {}", path.display()))?;
    write!(
        tmp,
        "# the last bundle exported in this series (airlock export --sequence-file)\nseries = {series:?}\nsequence = {n}\n"
    )?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// With `enabled`, writes SHA256SUMS beside `output` for `files`.
fn sha256sums(
    enabled: bool,
    output: &Path,
    files: &[String],
    force: bool,
) -> Result<Option<PathBuf>> {
    if !enabled {
        return Ok(None);
    }
    Ok(Some(parts::write_sha256sums(
        &parent(output),
        files,
        force,
    )?))
}

/// Every file of a part set, by name: the parts, the index, its signature.
fn part_files(p: &parts::PartsReport) -> Vec<String> {
    let mut files: Vec<String> = p
        .index_content
        .parts
        .iter()
        .map(|e| e.name.clone())
        .collect();
    files.push(file_name(&p.index));
    files.push(file_name(&p.signature));
    files
}

fn split(a: SplitArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let key = passphrase::load_secret(&a.sign_key, a.passphrase_file.as_deref())?;
    let size = parts::parse_size(&a.split)?;
    let input = Input::open(&a.bundle, Some(&policy))?;
    let output = a.output.clone().unwrap_or_else(|| a.bundle.clone());
    let progress = Reporter::new(a.json, a.quiet);
    let report = airlock::media::split(&input, &policy, &output, size, &key, a.force, &progress)?;
    let sums = sha256sums(a.sha256sums, &output, &part_files(&report.parts), a.force)?;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["sha256sums"] = serde_json::json!(sums);
        return print_json(&v);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "verified {} and split it into {} parts (the bundle itself is unchanged):",
        report.bundle.display(),
        report.parts.index_content.parts.len()
    )?;
    show::parts(&mut out, &report.parts)?;
    show::sums(&mut out, sums.as_deref())?;
    Ok(())
}

fn join(a: JoinArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let input = Input::open(&a.parts, Some(&policy))?;
    if !matches!(input, Input::Parts(_)) {
        usage!(
            "{} is not part of a split bundle (no .parts index beside it)",
            a.parts.display()
        );
    }
    let progress = Reporter::new(a.json, a.quiet);
    let report = airlock::media::join(&input, &policy, &a.output, a.force, &progress)?;
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "verified every part and the bundle they make; wrote {} ({} bytes, sha256 {}); the parts are unchanged",
        report.output.display(),
        report.size,
        report.sha256
    )?;
    Ok(())
}

/// `verify --parts-only`: the index signature, then each part (or only the
/// one named) against the index.
fn verify_parts(a: &VerifyArgs, policy: &TrustPolicy) -> Result<()> {
    let Some(index) = parts::locate(&a.bundle)? else {
        usage!(
            "{} is not a split bundle; --parts-only checks the parts of one",
            a.bundle.display()
        );
    };
    let set = PartSet::open(&index, Some(policy))?;
    let count = set.index.parts.len();
    let numbers: Vec<usize> = match set.number_of(&file_name(&a.bundle)) {
        Some(n) => vec![n],
        None => (1..=count).collect(),
    };
    let mut results = Vec::new();
    let mut first_error = None;
    for n in numbers {
        let e = &set.index.parts[n - 1];
        let r = set.check_part(n);
        results.push(serde_json::json!({
            "number": n,
            "name": e.name,
            "size": e.size,
            "sha256": e.sha256,
            "ok": r.is_ok(),
            "error": r.as_ref().err().map(|e| e.to_string()),
        }));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    if a.json {
        print_json(&serde_json::json!({
            "ok": first_error.is_none(),
            "index": set.index_path,
            "bundle_sha256": set.index.sha256,
            "manifest_sha256": set.index.manifest_sha256,
            "parts": results,
        }))?;
    } else {
        let mut out = show::Sanitize(io::stdout().lock());
        writeln!(
            out,
            "part index {}: signature valid, {count} parts, bundle sha256 {}",
            set.index_path.display(),
            set.index.sha256
        )?;
        for r in &results {
            writeln!(
                out,
                "  part {}/{count} {}: {}",
                r["number"],
                r["name"].as_str().unwrap_or_default(),
                if r["ok"] == true { "ok" } else { "FAILED" }
            )?;
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn verify(a: VerifyArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    if a.parts_only {
        return verify_parts(&a, &policy);
    }
    let input = Input::open(&a.bundle, Some(&policy))?;
    let progress = Reporter::new(a.json, a.quiet);
    airlock::progress::Progress::begin(&progress, "verify", input.len());
    let verified = input.read_with(&progress, |r| airlock::install::verify(r, &policy))?;
    airlock::progress::Progress::end(&progress);
    if a.json {
        print_json(&serde_json::json!({
            "ok": true,
            "bundle": a.bundle,
            "manifest_sha256": verified.manifest_sha256.hex(),
            "signers": verified.signers,
            "manifest": verified.manifest,
        }))
    } else {
        Ok(show::verified(
            &mut show::Sanitize(io::stdout().lock()),
            &a.bundle,
            &verified,
        )?)
    }
}

fn inspect(a: InspectArgs) -> Result<()> {
    let policy = if a.key.is_empty() && a.trust.is_none() {
        None
    } else {
        Some(load_policy(&a.key, &a.trust)?)
    };
    let input = Input::open(&a.bundle, policy.as_ref())?;
    let len = input.len();
    let header = input.read_with(&NoProgress, |r| {
        airlock::bundle::reader::read_header(BufReader::new(r))
    })?;
    // With keys, judge the signatures before reading the manifest; without,
    // show it marked as unverified (inspect never acts on it).
    // Below the threshold is shown (that is what `sign` is for), not refused.
    let (signers, unmet) = match &policy {
        None => (None, None),
        Some(policy) => match policy.evaluate(&header.manifest_bytes, &header.signatures) {
            Ok(r) => (Some(r), None),
            Err(e @ (PolicyError::BelowThreshold { .. } | PolicyError::RoleMinimum { .. })) => {
                let why = e.to_string();
                let (PolicyError::BelowThreshold { signers, .. }
                | PolicyError::RoleMinimum { signers, .. }) = e
                else {
                    unreachable!("matched above")
                };
                (Some(signers), Some(why))
            }
            Err(e) => return Err(e.into()),
        },
    };
    let manifest = Manifest::parse(&header.manifest_bytes)?;
    let sha = airlock::digest::Sha256Digest::of(&header.manifest_bytes).hex();
    if a.json {
        let sigs: Vec<_> = header
            .signatures
            .iter()
            .map(|s| {
                let judged = signers
                    .as_ref()
                    .and_then(|v| v.iter().find(|r| r.key_id == s.key_id().to_string()));
                serde_json::json!({
                    "key_id": s.key_id().to_string(),
                    "trusted_comment": s.trusted_comment(),
                    "untrusted_comment": s.untrusted_comment(),
                    "timestamp": airlock::policy::timestamp(s.trusted_comment()),
                    "checked": judged.is_some(),
                    "name": judged.and_then(|j| j.name.clone()),
                    "role": judged.and_then(|j| j.role.clone()),
                    "trusted": judged.map(|j| j.trusted),
                    "revoked": judged.map(|j| j.revoked),
                    "verified": judged.map(|j| j.verified),
                    "counted": judged.map(|j| j.counted),
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "bundle": a.bundle,
            "size": len,
            "manifest_sha256": sha,
            "signatures_checked": signers.is_some(),
            "policy_satisfied": signers.as_ref().map(|_| unmet.is_none()),
            "policy_unmet": unmet,
            "signatures": sigs,
            "manifest": manifest,
        }))
    } else {
        Ok(show::inspect(
            &mut show::Sanitize(io::stdout().lock()),
            &a.bundle,
            len,
            &sha,
            &manifest,
            &header.signatures,
            signers.as_deref().map(|j| (j, unmet.as_deref())),
        )?)
    }
}

fn sign(a: SignArgs) -> Result<()> {
    if parts::locate(&a.bundle).ok().flatten().is_some() {
        usage!(
            "{} is part of a split bundle; sign works on a whole bundle\nhint: `airlock join` the parts, sign the bundle, then `airlock split` it again",
            a.bundle.display()
        );
    }
    let policy = trust_policy(&a.trust)?;
    let key = passphrase::load_secret(&a.sign_key, a.passphrase_file.as_deref())?;
    let report = airlock::sign::sign(&a.bundle, &policy, &key, &a.comment)?;
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "signed {} with key {}",
        report.bundle.display(),
        report.key_id
    )?;
    writeln!(
        out,
        "manifest sha256 {} (unchanged)",
        report.manifest_sha256
    )?;
    writeln!(out, "trusted comment: {}", report.trusted_comment)?;
    writeln!(
        out,
        "signatures now: key {}",
        report.signed_by.join(", key ")
    )?;
    Ok(())
}

fn rollback(a: CacheArgs) -> Result<()> {
    let report = airlock::install::rollback(&a.cache_dir)?;
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(out, "rolled back in {}:", report.cache_dir.display())?;
    for r in &report.restored {
        writeln!(out, "  {}", r.display())?;
    }
    writeln!(
        out,
        "what was swapped out is kept: `airlock rollback` again undoes this"
    )?;
    Ok(())
}

fn status(a: CacheArgs) -> Result<()> {
    let st = airlock::install::status(&a.cache_dir)?;
    if a.json {
        return print_json(&st);
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(out, "{}:", st.cache_dir.display())?;
    for c in &st.components {
        write!(
            out,
            "  {:<28} {:>9.1} MiB",
            c.path.display().to_string(),
            mib(c.bytes)
        )?;
        if let Some(m) = &c.metadata {
            write!(
                out,
                "  schema {}  UpdatedAt {}  NextUpdate {}  DownloadedAt {}",
                m.version, m.updated_at, m.next_update, m.downloaded_at
            )?;
        }
        if let Some(p) = c.previous_bytes {
            write!(out, "  (previous generation kept: {:.1} MiB)", mib(p))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "previous generation (for `airlock rollback`): {:.1} MiB",
        mib(st.previous_bytes)
    )?;
    Ok(())
}

/// What an import (and push) did.
struct Outcome {
    /// The cache import, when there was a cache.
    import: Option<airlock::install::ImportReport>,
    /// What verification proved (always).
    manifest_sha256: String,
    created: String,
    series: Option<String>,
    sequence: Option<u64>,
    signers: Vec<airlock::policy::SignerReport>,
    /// The push, when asked for and done.
    push: Option<airlock::target::registry::PushReport>,
    /// The push failed after the cache import was complete.
    push_error: Option<anyhow::Error>,
}

fn import(a: ImportArgs) -> Result<()> {
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
        time: airlock::artifact::db::format_time(now),
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
                return Err(anyhow::Error::new(e).context(
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
                    return Err(anyhow::Error::new(e)
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

/// How to reach registries and VEX servers, from the flags: the host
/// switches checked, the explicit credentials read and given to
/// `credentials_host`. The deprecated `--insecure` is applied to
/// `own_hosts` only (the hosts this run names itself), with a warning.
fn network_options(
    r: &args::RegistryArgs,
    own_hosts: &[String],
    credentials_host: Option<String>,
    limits: airlock::registry::deadline::NetLimits,
) -> Result<airlock::registry::Options> {
    use airlock::registry::{HostList, HostPort};
    let list = |flag: &str, values: &[String]| -> Result<HostList> {
        match HostList::parse(values) {
            Ok(l) => Ok(l),
            Err(e) => usage!("--{flag} {e}"),
        }
    };
    let mut legacy_insecure = HostList::default();
    if r.insecure {
        for h in own_hosts {
            if let Ok(h) = HostPort::parse(h) {
                legacy_insecure.push(h);
            }
        }
        let named: Vec<String> = legacy_insecure.iter().map(|h| h.to_string()).collect();
        eprintln!(
            "airlock: warning: --insecure is deprecated; it applies only to the registries and VEX servers this run names ({}), not to token services or redirect targets\nhint: name each host instead: --plain-http HOST for a plain-http registry, --insecure-skip-verify HOST for one whose certificate cannot be verified",
            if named.is_empty() { "none".to_string() } else { named.join(", ") }
        );
    }
    // The switches are checked before the password is read.
    let plain_http = list("plain-http", &r.plain_http)?;
    let skip_verify = list("insecure-skip-verify", &r.insecure_skip_verify)?;
    let token_realms = list("allow-token-realm", &r.allow_token_realm)?;
    Ok(airlock::registry::Options {
        ca_certs: r.ca_cert.clone(),
        credentials: registry_credentials(r)?,
        credentials_host,
        plain_http,
        skip_verify,
        token_realms,
        legacy_insecure,
        limits,
    })
}

/// `--username` with the password read from stdin.
/// The time limits for downloads: the flags, else the `AIRLOCK_NETWORK_*`
/// variables, else the defaults.
fn network_limits(a: &args::NetworkLimitArgs) -> Result<airlock::registry::deadline::NetLimits> {
    use airlock::registry::deadline::{parse_rate, parse_seconds, LimitError, NetLimits};
    let set = || -> std::result::Result<NetLimits, LimitError> {
        let mut l = NetLimits::from_env()?;
        if let Some(v) = &a.idle_timeout {
            l.idle = parse_seconds("--network-idle-timeout", v)?;
        }
        if let Some(v) = &a.deadline_base {
            l.base = parse_seconds("--network-deadline-base", v)?;
        }
        if let Some(v) = &a.min_rate {
            l.min_rate = parse_rate("--network-min-rate", v)?;
        }
        if let Some(v) = &a.max_retry_after {
            l.max_retry_after = parse_seconds("--network-max-retry-after", v)?;
        }
        Ok(l)
    };
    match set() {
        Ok(l) => Ok(l),
        Err(e) => usage!("{e}"),
    }
}

fn registry_credentials(r: &args::RegistryArgs) -> Result<Option<airlock::registry::Credentials>> {
    let Some(user) = &r.username else {
        return Ok(None);
    };
    let mut pass = zeroize::Zeroizing::new(String::new());
    io::stdin()
        .read_line(&mut pass)
        .context("cannot read the password from stdin")?;
    let password = zeroize::Zeroizing::new(pass.trim_end_matches(['\n', '\r']).to_string());
    Ok(Some(airlock::registry::Credentials::Basic {
        username: user.clone(),
        password,
    }))
}

/// `{date}` and `{datetime}` in an output path, from the creation time.
fn expand_output(pattern: &Path, created: OffsetDateTime) -> PathBuf {
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

/// `--push` and its options, checked before anything is read.
fn push_target(a: &ImportArgs) -> Result<Option<(airlock::registry::Client, PushTarget)>> {
    let Some(text) = &a.push else {
        return Ok(None);
    };
    let Some(mut target) = PushTarget::parse(text) else {
        let text = airlock::redact::url(text);
        usage!("--push {text:?} is not REGISTRY[/PREFIX] (e.g. registry.local:5000/security)");
    };
    for t in &a.tag {
        let Some((name, tag)) = t.split_once('=') else {
            usage!("--tag {t:?} is not ARTIFACT=TAG (e.g. trivy-db=2)");
        };
        let kind = match name {
            "trivy-db" => ArtifactKind::TrivyDb,
            "trivy-java-db" | "java-db" => ArtifactKind::JavaDb,
            "trivy-checks" | "checks" => ArtifactKind::Checks,
            _ => usage!("--tag {t:?}: the artifact is trivy-db, trivy-java-db or trivy-checks"),
        };
        if let Err(e) = airlock::oci_name::check_tag(tag) {
            usage!("--tag {t:?}: {e}");
        }
        target.tags.insert(kind, tag.to_string());
    }
    let limits = match airlock::registry::deadline::NetLimits::from_env() {
        Ok(l) => l,
        Err(e) => usage!("{e}"),
    };
    let opts = network_options(
        &a.registry,
        std::slice::from_ref(&target.host),
        Some(target.host.clone()),
        limits,
    )?;
    let client = airlock::registry::Client::connect(&target.host, &opts)?;
    Ok(Some((client, target)))
}

fn import_bundle(a: &ImportArgs, now: OffsetDateTime) -> Result<Outcome> {
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
                .map_err(push_failed)?;
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
                created: v.manifest.created.clone(),
                series: v.manifest.series.clone(),
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
fn push_failed(e: impl Into<anyhow::Error>) -> anyhow::Error {
    use airlock::install::ImportError;
    use airlock::media::MediaError;
    let e = e.into();
    let failed = e.chain().any(|c| {
        matches!(c.downcast_ref::<ImportError>(), Some(ImportError::Push(_)))
            || matches!(
                c.downcast_ref::<MediaError>(),
                Some(MediaError::Import(ImportError::Push(_)))
            )
    });
    if failed {
        e.context("the push failed; nothing is reported as pushed")
    } else {
        e
    }
}

/// For a database schema refusal, says which Trivy is installed and what it
/// reads (from `--trivy-bin`, or `trivy` on PATH, if either runs).
fn name_trivy(e: airlock::media::MediaError, bin: Option<&Path>) -> anyhow::Error {
    use airlock::install::ImportError;
    use airlock::media::MediaError;
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
        (Some(bin), Some(v)) => anyhow::Error::new(e).context(format!(
            "the Trivy on this host ({}, version {v}) reads trivy-db schema 2, java-db schema 1 and checks bundles of major version 2",
            bin.display()
        )),
        _ => e.into(),
    }
}

fn audit_check(a: AuditArgs) -> Result<()> {
    let log = match (&a.log, &a.cache_dir) {
        (Some(l), _) => l.clone(),
        (None, Some(d)) => d.join(audit::AUDIT_FILE),
        (None, None) => usage!("give --cache-dir DIR or --log FILE"),
    };
    let chain = audit::check(&log)?;
    if a.json {
        return print_json(&chain);
    }
    writeln!(
        io::stdout(),
        "{}: {} lines, chain intact ({} accepted, {} forced, {} refused); head sha256 {}",
        chain.log.display(),
        chain.lines,
        chain.accepted,
        chain.forced,
        chain.refused,
        chain.head
    )?;
    Ok(())
}

fn verify_receipt(a: VerifyReceiptArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let (bytes, sig) = audit::read_receipt(&a.receipt)?;
    let signers = policy
        .any_trusted()
        .evaluate(&bytes, std::slice::from_ref(&sig))
        .with_context(|| format!("the receipt {} is not proven", a.receipt.display()))?;
    let receipt: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a receipt", a.receipt.display()))?;
    if a.json {
        return print_json(
            &serde_json::json!({"ok": true, "signers": signers, "receipt": receipt}),
        );
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "OK: receipt {} signed by {}",
        a.receipt.display(),
        signers
            .iter()
            .map(|s| s.who())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    let field = |k: &str| receipt[k].as_str().unwrap_or("-").to_string();
    writeln!(
        out,
        "  {} {} at {} into {}",
        field("decision"),
        field("bundle"),
        field("time"),
        field("cache_dir")
    )?;
    writeln!(out, "  manifest sha256 {}", field("manifest_sha256"))?;
    if let Some(n) = receipt["audit"]["line"].as_u64() {
        writeln!(
            out,
            "  audit log {} line {n}, sha256 {}",
            receipt["audit"]["log"].as_str().unwrap_or("-"),
            receipt["audit"]["sha256"].as_str().unwrap_or("-")
        )?;
    }
    Ok(())
}
