//! VEX repositories over HTTP(S), resolved the way Trivy resolves them: the
//! manifest is `<url>/vex-repository.json` for github.com repositories and
//! `<url>/.well-known/vex-repository.json` otherwise; the archive is the 0.1
//! location's URL (its `//folder` suffix stays in the manifest, where Trivy
//! needs it). Both are saved in the export's work directory, then validated
//! like local files (the archive must hold the index.json and every document
//! it lists).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::artifact::vex;
use crate::registry::{self, Options};

use super::{files, io_err, Content, Prepared, SourceError};

/// VEX Hub, Trivy's default repository (named "default").
pub const VEXHUB: &str = "https://github.com/aquasecurity/vexhub";

/// The manifest URL Trivy reads for a repository URL.
pub fn manifest_url(repo: &str) -> String {
    let u = repo.trim_end_matches('/');
    let host = u
        .split_once("://")
        .map_or(u, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    if host.eq_ignore_ascii_case("github.com") {
        format!("{u}/vex-repository.json")
    } else {
        format!("{u}/.well-known/vex-repository.json")
    }
}

/// A URL without credentials or query (for messages and the manifest).
pub fn redact(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    match no_query.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => {
                let host = authority.rsplit('@').next().unwrap_or(authority);
                format!("{scheme}://{host}/{path}")
            }
            None => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        },
        None => no_query.to_string(),
    }
}

fn get(agent: &ureq::Agent, url: &str, out: &mut dyn Write, max: u64) -> Result<u64, SourceError> {
    let shown = redact(url);
    let fail = |reason: String| SourceError::Unavailable(format!("GET {shown}: {reason}"));
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => fail(format!("the server answered {code}")),
        ureq::Error::Transport(t) => fail(t.to_string()),
    })?;
    let n = std::io::copy(&mut resp.into_reader().take(max + 1), out)
        .map_err(|e| fail(e.to_string()))?;
    if n > max {
        return Err(fail(format!("larger than {max} bytes")));
    }
    Ok(n)
}

/// Downloads the VEX repository at `url` into `work` and validates it.
pub fn fetch(name: &str, url: &str, work: &Path, opts: &Options) -> Result<Prepared, SourceError> {
    let agent = registry::http_agent(opts).map_err(|e| SourceError::Invalid(e.to_string()))?;
    let dir = work.join(format!("vex-{name}"));
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let murl = manifest_url(url);
    let mut manifest = Vec::new();
    get(&agent, &murl, &mut manifest, vex::MAX_MANIFEST)?;
    let repo = vex::parse_manifest(&manifest).map_err(|source| SourceError::Vex {
        name: name.to_string(),
        source,
    })?;
    let (archive_url, _) = vex::split_location(&repo.location);
    if murl.starts_with("https://") && !archive_url.starts_with("https://") && !opts.insecure {
        return Err(SourceError::Invalid(format!(
            "VEX repository {name:?}: the manifest came over https but its archive location {} is not https\nhint: pass --insecure to accept it",
            redact(&archive_url)
        )));
    }
    let archive = dir.join("archive");
    {
        let f = File::create(&archive).map_err(io_err(&archive))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        get(&agent, &archive_url, &mut out, 16 << 30)?;
        out.flush().map_err(io_err(&archive))?;
    }
    files::vex_repository(
        name,
        manifest,
        &archive,
        Content::Built(std::rc::Rc::new(archive.clone())),
        format!("url: {}", redact(&murl)),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            super::redact("https://user:pw@vex.example/repo/x.zip?token=abc"),
            "https://vex.example/repo/x.zip"
        );
        assert_eq!(super::redact("https://vex.example"), "https://vex.example");
    }

    #[test]
    fn manifest_urls_as_trivy_reads_them() {
        assert_eq!(
            super::manifest_url("https://github.com/aquasecurity/vexhub"),
            "https://github.com/aquasecurity/vexhub/vex-repository.json"
        );
        assert_eq!(
            super::manifest_url("https://vex.internal.example/repo/"),
            "https://vex.internal.example/repo/.well-known/vex-repository.json"
        );
    }
}
