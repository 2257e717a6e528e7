//! `split` and `join`: part sets for size-limited media.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::failure::{Failure, Result};

use airlock::bundle::parts::{self};
use airlock::fsio::preflight::check_outputs;
use airlock::install::VerifyContent;
use airlock::media::Input;

use super::args::{JoinArgs, SplitArgs};
use super::bar::Reporter;

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

/// With a path (`<bundle>.sha256sums`), writes the checksums of `files`
/// into it.
pub(super) fn sha256sums(
    path: Option<&Path>,
    files: &[String],
    force: bool,
) -> Result<Option<PathBuf>> {
    match path {
        None => Ok(None),
        Some(p) => Ok(Some(parts::write_sha256sums(p, files, force)?)),
    }
}

/// A report with the SHA256SUMS file written beside it (`null` when none
/// was asked for), as `--json` prints it.
#[derive(serde::Serialize)]
pub(super) struct WithSums<'a, T: serde::Serialize> {
    /// The command's report; its fields are this object's.
    #[serde(flatten)]
    pub report: &'a T,
    /// The SHA256SUMS file, if written.
    pub sha256sums: Option<PathBuf>,
}

/// The part size `--split` gives.
pub(super) fn split_size(text: &str) -> Result<u64> {
    parts::parse_size(text).map_err(|e| Failure::reworded(&e, format!("--split {e}")))
}

pub(super) fn split(a: SplitArgs) -> Result<()> {
    let policy = trust_policy(&a.trust)?;
    let size = split_size(&a.split)?;
    let output = a.output.clone().unwrap_or_else(|| a.bundle.clone());
    let sums_file = a.sha256sums.then(|| parts::sums_path(&output));
    // Where it writes, before the key is unlocked and the bundle read
    // (issue 15): the parts need about the bundle's size.
    let mut files = vec![
        output.with_file_name(parts::part_name(&file_name(&output), 1)),
        parts::index_path(&output),
    ];
    files.extend(sums_file.clone());
    // Any part of an earlier set of this name: the new set must not be
    // written beside one it does not replace.
    files.extend(parts::existing_parts(&output));
    let needed = std::fs::metadata(&a.bundle).ok().map(|m| m.len());
    check_outputs(&files, a.force, needed)?;
    let progress = Reporter::new(a.json, a.quiet);
    let key = passphrase::load_secret(&a.sign_key, a.passphrase_file.as_deref(), &progress)?;
    let input = Input::open(&a.bundle, Some(&policy))?;
    let report = airlock::media::split(
        &input,
        &VerifyContent(&policy),
        &output,
        size,
        &key,
        a.force,
        &progress,
    )?;
    let sums = sha256sums(sums_file.as_deref(), &part_files(&report.parts), a.force)?;
    if a.json {
        return print_json(&WithSums {
            report: &report,
            sha256sums: sums,
        });
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(
        out,
        "verified {} and split it into {} (the bundle itself is unchanged):",
        super::show::path_line(&report.bundle),
        airlock::text::count(
            report.parts.index_content.parts.len() as u64,
            "part",
            "parts"
        )
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
            super::show::path_line(&a.parts)
        );
    }
    // The bundle is the parts' size (the signed index says so).
    check_outputs(std::slice::from_ref(&a.output), a.force, Some(input.len()))?;
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
        super::show::path_line(&report.output),
        report.size,
        report.sha256
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Report {
        output: &'static str,
        size: u64,
    }

    #[test]
    fn sums_ride_beside_the_reports_own_fields() {
        let report = Report {
            output: "b.airlock",
            size: 3,
        };
        let without = serde_json::to_value(WithSums {
            report: &report,
            sha256sums: None,
        })
        .expect("serializes");
        assert_eq!(
            without,
            serde_json::json!({"output": "b.airlock", "size": 3, "sha256sums": null})
        );
        let with = serde_json::to_value(WithSums {
            report: &report,
            sha256sums: Some(PathBuf::from("d/SHA256SUMS")),
        })
        .expect("serializes");
        assert_eq!(with["sha256sums"], "d/SHA256SUMS");
        assert_eq!(with["size"], 3);
    }
}
