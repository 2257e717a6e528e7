//! VEX repositories over HTTP(S), resolved the way Trivy resolves them: the
//! manifest is `<url>/vex-repository.json` for github.com repositories and
//! `<url>/.well-known/vex-repository.json` otherwise; the archive is the 0.1
//! location's URL (its `//folder` suffix stays in the manifest, where Trivy
//! needs it). Both are saved in the export's work directory, then validated
//! like local files (the archive must hold the index.json and every document
//! it lists).
//!
//! Limits (issue 17): vex-repository.json at most [`vex::MAX_MANIFEST`], the
//! archive at most [`vex::MAX_DOWNLOAD`]; a `Content-Length` above the limit
//! is refused before anything is written, a body without one is cut off at
//! the limit; the work directory's file system must hold the archive twice
//! (the download and its copy in the bundle) before the download starts,
//! and every body is read under the idle timeout and the overall deadline
//! of [`crate::registry::deadline`].
//!
//! # Credentials
//!
//! A server that wants them is given a user name and password (HTTP basic)
//! or a bearer token from [`Options::vex_credentials`] (flags, environment
//! or a file; never the command line's URL text). They are sent, from the
//! first request on, to their own origin only (scheme, host, port): the
//! manifest's, and the archive's when it is on the same origin; never on a
//! redirect (the HTTP client drops the Authorization header), and never over
//! plain http to a host not named by `--plain-http` (the run stops before
//! anything is sent). The command line refuses a `--vex-repo` URL with
//! credentials in it; a URL handed to [`fetch`] that has them anyway (or an
//! archive location with them, which is the server's own data) has them
//! sent to that origin by the HTTP client, and shown nowhere.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use crate::artifact::vex;
use crate::error::PathIo;
use crate::redact;
use crate::registry::deadline::{self, DeadlineReader};
use crate::registry::{self, Credentials, Options};
use zeroize::Zeroizing;

use super::{files, Content, Prepared, SourceError};

/// VEX Hub, Trivy's default repository (named "default").
pub const VEXHUB: &str = "https://github.com/aquasecurity/vexhub";

/// The manifest URL Trivy reads for a repository URL (the path grows; a
/// query stays a query).
pub fn manifest_url(repo: &str) -> String {
    let (u, query) = repo.split_at(repo.find(['?', '#']).unwrap_or(repo.len()));
    let u = u.trim_end_matches('/');
    let host = u
        .split_once("://")
        .map_or(u, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    if host.eq_ignore_ascii_case("github.com") {
        format!("{u}/vex-repository.json{query}")
    } else {
        format!("{u}/.well-known/vex-repository.json{query}")
    }
}

/// `archive` with the userinfo of `repo` when both are on the same origin
/// (scheme, host and port) and `archive` names none of its own: a server
/// that wants credentials for its manifest wants them for its archive too.
/// Never sent to another origin (nor, by the HTTP client, on a redirect).
fn with_userinfo_of(archive: &str, repo: &str) -> String {
    let split = |u: &str| -> Option<(String, Option<String>, String)> {
        let (scheme, rest) = u.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((ui, h)) => (Some(ui.to_string()), h),
            None => (None, authority),
        };
        Some((
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ),
            userinfo,
            rest[end..].to_string(),
        ))
    };
    match (split(archive), split(repo)) {
        (Some((origin, None, path)), Some((repo_origin, Some(userinfo), _)))
            if origin == repo_origin =>
        {
            let (scheme, host) = archive.split_once("://").unwrap_or_default();
            let host = &host[..host.len() - path.len()];
            format!("{scheme}://{userinfo}@{host}{path}")
        }
        _ => archive.to_string(),
    }
}

/// GETs `url` into `out`, at most `max` bytes, under the time limits of
/// `opts`. `before_body` sees the announced `Content-Length` (if any, and
/// at most `max`) before a byte of the body is read; it may refuse. The
/// messages show the URL redacted, and the HTTP client's own error text
/// (which quotes the URL it failed on, a redirect's too) is redacted as
/// well.
// ureq's own error, passed back from the request thread as it is.
#[allow(clippy::result_large_err)]
fn get(
    agent: &ureq::Agent,
    url: &str,
    credentials: Option<&Credentials>,
    out: &mut dyn Write,
    max: u64,
    opts: &Options,
    before_body: &mut dyn FnMut(Option<u64>) -> Result<(), SourceError>,
) -> Result<u64, SourceError> {
    let shown = redact::url(url);
    let fail = |reason: String| {
        SourceError::Unavailable(format!("GET {shown}: {}", redact::text(&reason)))
    };
    let limits = opts.limits;
    // No overall timeout: ureq's would replace the idle timeout (the
    // agent's read timeout) on every read; the body has its deadline.
    let mut req = agent.get(url);
    if let Some(value) = credentials.and_then(authorization) {
        req = req.set("Authorization", &value);
    }
    let answer = deadline::head_within(&limits, move || req.call())
        .map_err(|e| fail(e.describe(&limits)))?;
    let resp = answer.map_err(|e| match e {
        ureq::Error::Status(status @ (401 | 403), resp) => {
            refused(url, status, resp.get_url(), credentials)
        }
        ureq::Error::Status(code, _) => fail(format!("the server answered {code}")),
        ureq::Error::Transport(t) if deadline::transport_timed_out(&t) => {
            fail(format!("no answer in time ({}): {t}", limits.describe()))
        }
        ureq::Error::Transport(t) => fail(t.to_string()),
    })?;
    registry::framing::refuse_chunked_plain_http(resp.get_url(), &resp).map_err(fail)?;
    let announced = match resp.header("Content-Length") {
        None => None,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(fail(format!(
                    "the Content-Length {:?} is not a number",
                    crate::text::escape(v)
                )))
            }
        },
    };
    if let Some(n) = announced.filter(|n| *n > max) {
        return Err(fail(format!(
            "the server announces {n} bytes, more than the {max} airlock accepts here; nothing was written"
        )));
    }
    before_body(announced)?;
    let mut body = DeadlineReader::new(resp.into_reader(), limits).take(max + 1);
    let n = std::io::copy(&mut body, out).map_err(|e| match deadline::stalled_reason(&e) {
        Some(why) => fail(why),
        None => fail(e.to_string()),
    })?;
    if n > max {
        return Err(fail(format!(
            "larger than {max} bytes, the most airlock accepts here"
        )));
    }
    Ok(n)
}

/// A 401 or 403 from the server that answered `url` (at `answered`, after
/// any redirect), saying truthfully what that server was sent: the HTTP
/// client sends no credentials after a redirect.
fn refused(
    url: &str,
    status: u16,
    answered: &str,
    credentials: Option<&Credentials>,
) -> SourceError {
    // Compared as the HTTP client writes URLs (`HTTPS://Vex.Example` is
    // not a redirect).
    let redirected = url::Url::parse(url).map_or(true, |u| u.as_str() != answered);
    let sent = match credentials {
        _ if redirected => format!(
            "none to {}, where the request was redirected",
            redact::url(answered)
        ),
        Some(c) => crate::registry::auth::describe(c).to_string(),
        None if has_userinfo(url) => "user name and password from the URL".to_string(),
        None => "none".to_string(),
    };
    SourceError::VexRefused {
        url: redact::url(url).into_owned(),
        status,
        sent,
        host: registry::HostPort::of_url(answered).map_or_else(|| "HOST".into(), |h| h.to_string()),
    }
}

/// Whether `url` carries a user name or password of its own.
pub fn has_userinfo(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// The `Authorization` value for `c`: HTTP basic, or a bearer token.
fn authorization(c: &Credentials) -> Option<Zeroizing<String>> {
    match c {
        Credentials::Basic { .. } => c.basic_header(),
        Credentials::Token(t) => Some(Zeroizing::new(format!("Bearer {}", t.as_str()))),
        Credentials::None | Credentials::IdentityToken(_) => None,
    }
}

/// The credentials to send to `url` (module docs): none unless `url` is on
/// their origin; an error, before anything is sent, when that origin is
/// plain http and not named by `--plain-http`.
fn credentials_for<'a>(
    name: &str,
    url: &str,
    opts: &'a Options,
) -> Result<Option<&'a Credentials>, SourceError> {
    let Some(c) = opts.vex_credentials.as_ref().and_then(|v| v.for_url(url)) else {
        return Ok(None);
    };
    let host = registry::HostPort::of_url(url);
    let named = host
        .as_ref()
        .is_some_and(|h| opts.plain_http.matches_host(h) || opts.legacy_insecure.matches_host(h));
    if !url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        && !named
    {
        return Err(SourceError::VexCredentialsOverPlainHttp {
            name: name.to_string(),
            url: redact::url(url).into_owned(),
            host: host.map_or_else(|| "HOST".into(), |h| h.to_string()),
        });
    }
    Ok(Some(c))
}

/// Downloads the VEX repository at `url` into `work` and validates it.
///
/// Credentials in `url` (`https://user:password@host/...`) are used for the
/// requests to that origin and appear nowhere else: messages and the
/// manifest show the URL through [`redact::url`].
pub fn fetch(name: &str, url: &str, work: &Path, opts: &Options) -> Result<Prepared, SourceError> {
    let agent_for =
        |u: &str| registry::http_agent(opts, u).map_err(|e| SourceError::Invalid(e.to_string()));
    let dir = work.join(format!("vex-{name}"));
    std::fs::create_dir_all(&dir).map_err(PathIo::at("cannot read", &dir))?;
    let murl = manifest_url(url);
    let mut manifest = Vec::new();
    get(
        &agent_for(&murl)?,
        &murl,
        credentials_for(name, &murl, opts)?,
        &mut manifest,
        vex::MAX_MANIFEST,
        opts,
        &mut |_| Ok(()),
    )?;
    let repo = vex::parse_manifest(&manifest).map_err(|source| SourceError::Vex {
        name: name.to_string(),
        source,
    })?;
    let (archive_url, _) = vex::split_location(&repo.location);
    // A manifest that came over https does not send the download to plain
    // http, unless the operator named that host (issue 17, item 4).
    let archive_host = registry::HostPort::of_url(&archive_url);
    let named_plain = archive_host
        .as_ref()
        .is_some_and(|h| opts.plain_http.matches_host(h) || opts.legacy_insecure.matches_host(h));
    if murl.starts_with("https://") && !archive_url.starts_with("https://") && !named_plain {
        return Err(SourceError::PlainHttpArchive {
            name: name.to_string(),
            url: redact::url(&archive_url).into_owned(),
            host: archive_host
                .as_ref()
                .map_or_else(|| "HOST".to_string(), |h| h.to_string()),
        });
    }
    let archive_credentials = credentials_for(name, &archive_url, opts)?;
    let archive_url = with_userinfo_of(&archive_url, url);
    let archive = dir.join("archive");
    {
        let f = File::create(&archive).map_err(PathIo::at("cannot read", &archive))?;
        let mut out = SpaceGuard {
            inner: BufWriter::with_capacity(1 << 20, f),
            dir: &dir,
            written: 0,
            checked: 0,
        };
        let what = format!("VEX repository {name:?}");
        get(
            &agent_for(&archive_url)?,
            &archive_url,
            archive_credentials,
            &mut out,
            vex::MAX_DOWNLOAD,
            opts,
            // The archive and its copy in the bundle, on this file system;
            // without a Content-Length, the most the download may be.
            &mut |announced| {
                super::pull::check_space(&dir, announced.unwrap_or(0).saturating_mul(2), &what)
            },
        )?;
        out.flush().map_err(PathIo::at("cannot read", &archive))?;
    }
    files::vex_repository(
        name,
        manifest,
        &archive,
        Content::Built(std::rc::Rc::new(archive.clone())),
        format!("url: {}", redact::url(&murl)),
        &crate::progress::NoProgress,
    )
}

/// Writes through, and every [`SpaceGuard::EVERY`] bytes checks that the
/// file system keeps [`super::pull::SPACE_RESERVE`] free (a body
/// without a `Content-Length` is not known in advance).
struct SpaceGuard<'a, W> {
    inner: W,
    dir: &'a Path,
    written: u64,
    checked: u64,
}

impl<W> SpaceGuard<'_, W> {
    const EVERY: u64 = 16 << 20;
}

impl<W: Write> Write for SpaceGuard<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written >= self.checked + Self::EVERY {
            self.checked = self.written;
            let free = crate::disk::free(self.dir)?;
            if free.bytes < super::pull::SPACE_RESERVE {
                return Err(std::io::Error::other(format!(
                        "only {} bytes left free in {} after {} bytes of the download; stopped to keep {} free",
                        free.bytes,
                        self.dir.display(),
                        self.written,
                        super::pull::SPACE_RESERVE
                )));
            }
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_follow_to_the_same_origin_only() {
        let repo = "https://user:pw@VEX.example/repo";
        for (archive, sent) in [
            (
                "https://vex.example/a.zip?x=1",
                "https://user:pw@vex.example/a.zip?x=1",
            ),
            ("https://vex.example", "https://user:pw@vex.example"),
            ("https://other.example/a.zip", "https://other.example/a.zip"),
            ("http://vex.example/a.zip", "http://vex.example/a.zip"),
            (
                "https://vex.example:8443/a.zip",
                "https://vex.example:8443/a.zip",
            ),
            (
                "https://own:x@vex.example/a.zip",
                "https://own:x@vex.example/a.zip",
            ),
            ("/srv/a.zip", "/srv/a.zip"),
        ] {
            assert_eq!(super::with_userinfo_of(archive, repo), sent, "{archive}");
        }
        assert_eq!(
            super::with_userinfo_of("https://vex.example/a.zip", "https://vex.example/repo"),
            "https://vex.example/a.zip"
        );
    }

    #[test]
    fn manifest_urls_as_trivy_reads_them() {
        assert_eq!(
            super::manifest_url("https://github.com/aquasecurity/vexhub"),
            "https://github.com/aquasecurity/vexhub/vex-repository.json"
        );
        assert_eq!(
            super::manifest_url("https://u:p@github.com/o/vexhub"),
            "https://u:p@github.com/o/vexhub/vex-repository.json"
        );
        assert_eq!(
            super::manifest_url("https://vex.example/repo/?token=t"),
            "https://vex.example/repo/.well-known/vex-repository.json?token=t"
        );
        assert_eq!(
            super::manifest_url("https://vex.internal.example/repo/"),
            "https://vex.internal.example/repo/.well-known/vex-repository.json"
        );
    }
}
