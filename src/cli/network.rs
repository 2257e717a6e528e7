//! Flags into network options: hosts, credentials, time limits, the push target.

use std::io::{self};

use super::failure::{Context as _, Result};

use airlock::layout::oci_repos::PushTarget;
use airlock::manifest::ArtifactKind;

use super::args::ImportArgs;

use super::*;

/// How to reach registries and VEX servers, from the flags: the host
/// switches checked, the explicit credentials read and given to
/// `credentials_host`. The deprecated `--insecure` is applied to
/// `own_hosts` only (the hosts this run names itself), with a warning.
pub(super) fn network_options(
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
        request_log: r.debug.then(request_log),
        push: false,
        vex_credentials: None,
    })
}

/// `--debug`: each request as one `airlock: debug:` line on stderr (the
/// record carries no credential: src/registry/request_log.rs).
fn request_log() -> airlock::registry::RequestLog {
    airlock::registry::RequestLog::new(|r| eprintln!("airlock: debug: {r}"))
}

/// `--username` with the password read from stdin.
/// The time limits for downloads: the flags, else the `AIRLOCK_NETWORK_*`
/// variables, else the defaults.
pub(super) fn network_limits(
    a: &args::NetworkLimitArgs,
) -> Result<airlock::registry::deadline::NetLimits> {
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

pub(super) fn registry_credentials(
    r: &args::RegistryArgs,
) -> Result<Option<airlock::registry::Credentials>> {
    let Some(user) = &r.username else {
        return Ok(None);
    };
    let password = first_line(io::stdin().lock()).context("cannot read the password from stdin")?;
    Ok(Some(airlock::registry::Credentials::Basic {
        username: user.clone(),
        password,
    }))
}

/// `--push` and its options, checked before anything is read.
pub(super) fn push_target(
    a: &ImportArgs,
) -> Result<Option<(airlock::registry::Client, PushTarget)>> {
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
    let opts = airlock::registry::Options {
        push: true,
        ..network_options(
            &a.registry,
            std::slice::from_ref(&target.host),
            Some(target.host.clone()),
            limits,
        )?
    };
    let client = airlock::registry::Client::connect(&target.host, &opts)?;
    Ok(Some((client, target)))
}

/// The most a secret's file (or stdin) is read for its first line: a
/// password or token is far shorter; `/dev/zero` is not read without end.
const MAX_SECRET: u64 = 64 << 10;

/// The first line of `reader`, without its line end, read up to
/// [`MAX_SECRET`] bytes.
fn first_line(reader: impl io::Read) -> io::Result<zeroize::Zeroizing<String>> {
    use io::BufRead as _;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    io::BufReader::new(reader.take(MAX_SECRET + 1)).read_until(b'\n', &mut bytes)?;
    if bytes.len() as u64 > MAX_SECRET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("its first line is longer than {MAX_SECRET} bytes"),
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))?;
    Ok(zeroize::Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// `secret` refused, without being shown, when it holds a character an
/// HTTP header cannot carry (`token`: anything but visible ASCII, as a
/// bearer token is sent as it is) or a control character (a user name or
/// password, sent base64-encoded, where a stray NUL or CR is a mistake).
fn check_secret(secret: &str, what: &str, token: bool) -> Result<()> {
    let bad = |c: char| {
        if token {
            !c.is_ascii_graphic()
        } else {
            c.is_control()
        }
    };
    if let Some(c) = secret.chars().find(|&c| bad(c)) {
        let kind = if c.is_control() {
            "a control character"
        } else if c == ' ' {
            "a space"
        } else {
            "a character outside visible ASCII"
        };
        usage!("the {what} holds {kind}, which cannot be sent; it is not shown");
    }
    Ok(())
}

/// The first line of `path` (a password or token file), without its line
/// end; an empty one is refused.
fn secret_line(path: &std::path::Path, flag: &str) -> Result<zeroize::Zeroizing<String>> {
    let line = std::fs::File::open(path)
        .and_then(first_line)
        .with_context(|| {
            format!(
                "cannot read the {flag} file {}",
                super::show::path_line(path)
            )
        })?;
    if line.is_empty() {
        usage!(
            "{flag} {}: the first line is empty",
            super::show::path_line(path)
        );
    }
    Ok(line)
}

/// One line from stdin, without its line end.
fn stdin_line(what: &str) -> Result<zeroize::Zeroizing<String>> {
    first_line(io::stdin().lock()).with_context(|| format!("cannot read the {what} from stdin"))
}

/// The VEX server's credentials: the flags, else `AIRLOCK_VEX_USERNAME` /
/// `AIRLOCK_VEX_PASSWORD` or `AIRLOCK_VEX_TOKEN`. They belong to the origin
/// of the first of `urls` (the `--vex-repo` URLs, in order, none of which
/// carries credentials of its own: `sources` refused those).
pub(super) fn vex_credentials(
    a: &args::VexAuthArgs,
    urls: &[&str],
) -> Result<Option<airlock::registry::VexCredentials>> {
    use airlock::registry::{Credentials, HostPort, VexCredentials};
    let env = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let credentials = if let Some(f) = &a.vex_token_file {
        Credentials::Token(secret_line(f, "--vex-token-file")?)
    } else if let Some(username) = a
        .vex_username
        .clone()
        .or_else(|| env("AIRLOCK_VEX_USERNAME"))
    {
        let password = if a.vex_password_stdin {
            stdin_line("VEX password")?
        } else if let Some(f) = &a.vex_password_file {
            secret_line(f, "--vex-password-file")?
        } else if let Some(p) = env("AIRLOCK_VEX_PASSWORD") {
            zeroize::Zeroizing::new(p)
        } else {
            usage!("the VEX user name needs a password: --vex-password-stdin, --vex-password-file FILE or AIRLOCK_VEX_PASSWORD")
        };
        Credentials::Basic { username, password }
    } else if let Some(t) = env("AIRLOCK_VEX_TOKEN") {
        Credentials::Token(zeroize::Zeroizing::new(t))
    } else if a.vex_password_stdin || a.vex_password_file.is_some() {
        usage!("a VEX password needs --vex-username (or AIRLOCK_VEX_USERNAME)")
    } else {
        return Ok(None);
    };
    match &credentials {
        Credentials::Basic { username, password } => {
            check_secret(username, "VEX user name", false)?;
            check_secret(password, "VEX password", false)?;
        }
        Credentials::Token(t) => check_secret(t, "VEX token", true)?,
        Credentials::None | Credentials::IdentityToken(_) => {}
    }
    let Some(first) = urls.first() else {
        usage!("VEX credentials were given, but no --vex-repo to send them to");
    };
    let shown = airlock::redact::url(first);
    let Some(host) = HostPort::of_url(first) else {
        usage!("--vex-repo {shown:?} is not an http(s) URL to send the VEX credentials to");
    };
    Ok(Some(VexCredentials {
        https: first
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://")),
        host,
        credentials,
    }))
}
