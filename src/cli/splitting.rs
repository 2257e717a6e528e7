//! `split` and `join`: part sets for size-limited media.

use std::io::{self, Write};

use super::failure::{Failure, Result};

use airlock::bundle::parts::{self};
use airlock::install::VerifyContent;
use airlock::media::Input;

use super::args::{JoinArgs, SplitArgs};
use super::bar::Reporter;

use super::exporting::sha256sums;
use super::*;

/// Every file of a part set, by name: the parts, the index, its signature.
pub(super) fn part_files(p: &parts::PartsReport) -> Vec<String> {
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

/// The part size `--split` gives.
pub(super) fn split_size(text: &str) -> Result<u64> {
    parts::parse_size(text).map_err(|e| Failure::reworded(&e, format!("--split {e}")))
}

pub(super) fn split(a: SplitArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let key = passphrase::load_secret(&a.sign_key, a.passphrase_file.as_deref())?;
    let size = split_size(&a.split)?;
    let input = Input::open(&a.bundle, Some(&policy))?;
    let output = a.output.clone().unwrap_or_else(|| a.bundle.clone());
    let progress = Reporter::new(a.json, a.quiet);
    let report = airlock::media::split(
        &input,
        &VerifyContent(&policy),
        &output,
        size,
        &key,
        a.force,
        &progress,
    )?;
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

pub(super) fn join(a: JoinArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let input = Input::open(&a.parts, Some(&policy))?;
    if !matches!(input, Input::Parts(_)) {
        usage!(
            "{} is not part of a split bundle (no .parts index beside it)",
            a.parts.display()
        );
    }
    let progress = Reporter::new(a.json, a.quiet);
    let report = airlock::media::join(
        &input,
        &VerifyContent(&policy),
        &a.output,
        a.force,
        &progress,
    )?;
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
