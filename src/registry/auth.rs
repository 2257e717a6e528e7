//! Registry credentials, found the way container tools and Trivy find them:
//! explicit `--username`/`--password-stdin`, then `TRIVY_USERNAME` /
//! `TRIVY_PASSWORD` (or `TRIVY_REGISTRY_TOKEN`), then the first of these
//! files with an entry for the host, in the order podman and skopeo read
//! them (containers-auth.json(5)): `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`; then
//! `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`; then the Docker
//! config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). In each:
//! a credential helper for the host (`credHelpers`, else `credsStore`),
//! else its `auths` entry (keyed by host; entries for a namespace,
//! `host/path`, are not read). Docker Hub's credentials are found under
//! any of its names, Docker's `https://index.docker.io/v1/` first ([`key_names`]),
//! in `auths`, `credHelpers` and the helper's own store alike.
//!
//! # Security
//!
//! The Docker config names a registry for each credential; the flags and
//! Trivy's variables do not, so they are scoped here (issue 17, item 3):
//! they belong to one registry, [`super::Options::credentials_host`] (the
//! first reference of an artifact's list at export, the `--push` registry
//! at import), and every other registry gets only its own Docker-config
//! entry, or nothing. Where they are then sent (only after a challenge, to
//! which token realm) is the client's rule, in [`super`].

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use zeroize::Zeroizing;

/// What to present to a registry.
#[derive(Clone, Default)]
pub enum Credentials {
    /// Nothing (anonymous).
    #[default]
    None,
    /// User name and password (HTTP basic, or exchanged for a token).
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: Zeroizing<String>,
    },
    /// A bearer token used as is (`TRIVY_REGISTRY_TOKEN`).
    Token(Zeroizing<String>),
    /// An identity token (an OAuth2 refresh token, as `docker login` stores
    /// for registries such as ACR), exchanged at the token service for an
    /// access token per scope.
    IdentityToken(Zeroizing<String>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` value for HTTP basic, if these are basic.
    pub fn basic_header(&self) -> Option<Zeroizing<String>> {
        match self {
            Credentials::Basic { username, password } => Some(Zeroizing::new(format!(
                "Basic {}",
                B64.encode(format!("{username}:{}", password.as_str()))
            ))),
            _ => None,
        }
    }
}

impl Credentials {
    /// The secrets these credentials send: a password and its HTTP basic
    /// form, a token.
    pub fn secrets(&self) -> Vec<Zeroizing<String>> {
        match self {
            Credentials::None => Vec::new(),
            Credentials::Basic { username, password } => vec![
                password.clone(),
                Zeroizing::new(B64.encode(format!("{username}:{}", password.as_str()))),
            ],
            Credentials::Token(t) | Credentials::IdentityToken(t) => vec![t.clone()],
        }
    }
}

/// The shortest secret [`mask_secrets`] looks for: a shorter one would
/// mask ordinary words.
const MIN_MASKED: usize = 4;

/// `text` (a server's answer, quoted in a message) with every one of
/// `secrets` in it masked, and a start of one cut off at its end (the
/// answer is quoted up to a limit): a server that quotes the credential it
/// was sent does not get it printed.
pub fn mask_secrets(text: &str, secrets: &[Zeroizing<String>]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_MASKED) {
        out = out.replace(secret.as_str(), crate::redact::MASK);
        let cut = (MIN_MASKED..secret.len())
            .rev()
            .filter(|&k| secret.is_char_boundary(k))
            .find(|&k| out.ends_with(&secret[..k]));
        if let Some(k) = cut {
            out.truncate(out.len() - k);
            out.push_str(crate::redact::MASK);
        }
    }
    out
}

/// Where credentials came from (for messages; never the secret).
pub fn describe(c: &Credentials) -> &'static str {
    match c {
        Credentials::None => "anonymous",
        Credentials::Basic { .. } => "user name and password",
        Credentials::Token(_) => "token",
        Credentials::IdentityToken(_) => "identity token",
    }
}

/// The credential files, in the order they are searched.
fn config_paths() -> Vec<PathBuf> {
    let var = |v: &str| {
        std::env::var_os(v)
            .filter(|x| !x.is_empty())
            .map(PathBuf::from)
    };
    let home = var("HOME");
    let mut paths = Vec::new();
    if let Some(f) = var("REGISTRY_AUTH_FILE") {
        paths.push(f);
    } else if let Some(d) = var("XDG_RUNTIME_DIR") {
        paths.push(d.join("containers/auth.json"));
    }
    if let Some(d) = var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config"))) {
        paths.push(d.join("containers/auth.json"));
    }
    if let Some(d) = var("DOCKER_CONFIG") {
        paths.push(d.join("config.json"));
    } else if let Some(h) = &home {
        paths.push(h.join(".docker/config.json"));
    }
    paths
}

/// Docker's key for Docker Hub (`registry.IndexServer` in Docker's CLI):
/// `docker login` stores Hub credentials under it, in `auths` and in a
/// credential helper alike.
pub const DOCKER_INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The names `host`'s credentials may be kept under, in the order they are
/// asked for: Docker Hub's are Docker's key ([`DOCKER_INDEX_SERVER`]),
/// then the names other tools use (podman's `docker.io`, the legacy
/// `index.docker.io`, the API host `registry-1.docker.io`); any other
/// registry has its `host[:port]` only.
pub fn key_names(host: &str) -> Vec<&str> {
    const HUB: [&str; 4] = [
        DOCKER_INDEX_SERVER,
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
    ];
    if HUB[1..].iter().any(|h| h.eq_ignore_ascii_case(host)) {
        HUB.to_vec()
    } else {
        vec![host]
    }
}

/// A key of `auths` or `credHelpers` as a host: without a scheme and a
/// `/v1/` or `/v2/` path (Docker's `ConvertToHostname`).
fn key_host(key: &str) -> &str {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    k.strip_suffix("/v1/")
        .or(k.strip_suffix("/v2/"))
        .unwrap_or(k)
}

/// The entry of `map` (`auths` or `credHelpers`) for the first of `names`
/// that has one: its exact key, else a key naming the same host.
fn entry<'a>(map: &'a serde_json::Value, names: &[&str]) -> Option<&'a serde_json::Value> {
    let map = map.as_object()?;
    names.iter().find_map(|n| {
        map.get(*n).or_else(|| {
            map.iter()
                .find(|(k, _)| key_host(k).eq_ignore_ascii_case(key_host(n)))
                .map(|(_, e)| e)
        })
    })
}

/// Asks `docker-credential-<helper> get` for `host`'s credentials, under
/// each of `names` in turn until one is found (see [`super::cred_helper`]
/// for the limits it runs under).
fn from_helper(
    helper: &str,
    names: &[&str],
    host: &str,
    limit: std::time::Duration,
) -> Result<Option<Credentials>, super::RegistryError> {
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Ok(None);
    }
    for name in names {
        let Some(answer) = super::cred_helper::get(helper, name, host, limit)? else {
            return Ok(None);
        };
        if answer.success {
            if let Some(c) = parse_helper_answer(&answer.stdout) {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// A helper's JSON answer as credentials (none for an empty secret).
fn parse_helper_answer(stdout: &[u8]) -> Option<Credentials> {
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    let username = v["Username"].as_str().unwrap_or_default().to_string();
    let secret = Zeroizing::new(v["Secret"].as_str().unwrap_or_default().to_string());
    if secret.is_empty() {
        return None;
    }
    // Docker's convention: the user "<token>" means the secret is an identity token.
    if username == "<token>" {
        return Some(Credentials::IdentityToken(secret));
    }
    Some(Credentials::Basic {
        username,
        password: secret,
    })
}

/// Credentials for `host` from the first credential file with an entry for
/// it (module docs); a credential helper gets `limit` to answer in.
pub fn from_docker_config(
    host: &str,
    limit: std::time::Duration,
) -> Result<Option<Credentials>, super::RegistryError> {
    for p in config_paths() {
        if let Some(c) = from_config_file(&p, host, limit)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// The most a credential file may hold: a file the environment points at
/// (`REGISTRY_AUTH_FILE=/dev/zero`, a FIFO, a huge file) is skipped, not
/// waited on or read without end.
const MAX_CREDENTIAL_FILE: u64 = 4 << 20;

/// Credentials for `host` from one Docker-format credential file (a
/// regular file of at most [`MAX_CREDENTIAL_FILE`] bytes; anything else is
/// skipped).
fn from_config_file(
    path: &std::path::Path,
    host: &str,
    limit: std::time::Duration,
) -> Result<Option<Credentials>, super::RegistryError> {
    let Ok(bytes) = crate::fsio::bounded::read_regular(path, MAX_CREDENTIAL_FILE) else {
        return Ok(None);
    };
    let bytes = Zeroizing::new(bytes);
    let Some(v) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    else {
        return Ok(None);
    };
    let names = key_names(host);
    if let Some(helper) = entry(&v["credHelpers"], &names).and_then(|h| h.as_str()) {
        return from_helper(helper, &names, host, limit);
    }
    if let Some(e) = entry(&v["auths"], &names) {
        if let Some(auth) = e["auth"].as_str().filter(|a| !a.is_empty()) {
            return Ok(basic_from_auth(auth));
        }
        if let Some(t) = e["identitytoken"].as_str().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken(Zeroizing::new(
                t.to_string(),
            ))));
        }
    }
    if let Some(store) = v["credsStore"].as_str() {
        return from_helper(store, &names, host, limit);
    }
    Ok(None)
}

/// An `auths` entry's `auth` (base64 of `user:password`) as credentials.
fn basic_from_auth(auth: &str) -> Option<Credentials> {
    let decoded = Zeroizing::new(B64.decode(auth).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some(Credentials::Basic {
        username: user.to_string(),
        password: Zeroizing::new(pass.to_string()),
    })
}

/// Whether the explicit credentials or Trivy's variables give anything
/// (which [`resolve`] hands to their own registry only).
pub fn has_unscoped(opts: &super::Options) -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    opts.credentials.is_some() || set("TRIVY_REGISTRY_TOKEN") || set("TRIVY_USERNAME")
}

/// The credentials for `host`. For the registry the explicit credentials
/// belong to ([`super::Options::credentials_host`], compared as
/// `host[:port]`, case-insensitively): the explicit ones if given, else
/// Trivy's environment variables. For every registry, then: its Docker
/// config entry, else anonymous. A credential helper that runs over its
/// limits is an error.
pub fn resolve(host: &str, opts: &super::Options) -> Result<Credentials, super::RegistryError> {
    let owner = opts
        .credentials_host
        .as_deref()
        .is_some_and(|o| o.eq_ignore_ascii_case(host));
    if owner {
        if let Some(c) = &opts.credentials {
            return Ok(c.clone());
        }
        if let Ok(t) = std::env::var("TRIVY_REGISTRY_TOKEN") {
            if !t.is_empty() {
                return Ok(Credentials::Token(Zeroizing::new(t)));
            }
        }
        if let (Ok(u), Ok(p)) = (
            std::env::var("TRIVY_USERNAME"),
            std::env::var("TRIVY_PASSWORD"),
        ) {
            if !u.is_empty() {
                return Ok(Credentials::Basic {
                    username: u,
                    password: Zeroizing::new(p),
                });
            }
        }
    }
    Ok(from_docker_config(host, opts.limits.idle)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_quoted_by_a_server_is_masked_whole_or_cut() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: Zeroizing::new("pa55word".into()),
        };
        let secrets = c.secrets();
        assert_eq!(
            mask_secrets("bad password pa55word for dTpwYTU1d29yZA==", &secrets),
            "bad password *** for ***"
        );
        assert_eq!(mask_secrets("cut at pa55w", &secrets), "cut at ***");
        assert_eq!(mask_secrets("ends with pa5", &secrets), "ends with pa5");
        let t = Credentials::Token(Zeroizing::new("abc".into()));
        assert_eq!(mask_secrets("abc", &t.secrets()), "abc");
    }

    #[test]
    fn explicit_credentials_belong_to_their_registry_only() {
        let opts = super::super::Options {
            credentials: Some(Credentials::Basic {
                username: "u".into(),
                password: Zeroizing::new("p".into()),
            }),
            credentials_host: Some("Registry.Example:5000".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve("registry.example:5000", &opts).unwrap(),
            Credentials::Basic { .. }
        ));
        // Another port is another registry; no Docker config is read from
        // a directory that does not exist.
        std::env::set_var("DOCKER_CONFIG", "/nonexistent/airlock-test");
        assert!(matches!(
            resolve("registry.example:5001", &opts).unwrap(),
            Credentials::None
        ));
        assert!(matches!(
            resolve("other.example", &opts).unwrap(),
            Credentials::None
        ));
    }

    #[test]
    fn docker_hub_credentials_are_asked_for_under_dockers_names_in_order() {
        let hub = [
            "https://index.docker.io/v1/",
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
        ];
        for host in ["registry-1.docker.io", "docker.io", "Index.Docker.IO"] {
            assert_eq!(key_names(host), hub, "{host}");
        }
        assert_eq!(key_names("mirror.gcr.io"), ["mirror.gcr.io"]);
        assert_eq!(key_names("docker.io:5000"), ["docker.io:5000"]);
    }

    #[test]
    fn docker_hub_credentials_are_found_under_dockers_key_everywhere() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = dir.path().join("asked");
        // Answers only for Docker's key for Docker Hub, and logs each name
        // it is asked for.
        let script = bin.join("docker-credential-airlockhubtest");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nname=$(cat)\necho \"$name\" >>'{}'\n[ \"$name\" = '{DOCKER_INDEX_SERVER}' ] || exit 1\nprintf '{{\"Username\":\"hubuser\",\"Secret\":\"hubsecret\"}}'\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(&path));
        // Only this test runs helpers; the other tests' commands stay found.
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        let limit = std::time::Duration::from_secs(10);
        let auth = B64.encode("hubuser:hubsecret");
        for (config, asked) in [
            (
                r#"{"credsStore":"airlockhubtest"}"#,
                "https://index.docker.io/v1/\n",
            ),
            (
                r#"{"credHelpers":{"https://index.docker.io/v1/":"airlockhubtest"}}"#,
                "https://index.docker.io/v1/\n",
            ),
            (
                &format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}}}}}}"#),
                "",
            ),
        ] {
            let _ = std::fs::remove_file(&log);
            let file = dir.path().join("config.json");
            std::fs::write(&file, config).unwrap();
            let found = from_config_file(&file, "registry-1.docker.io", limit).unwrap();
            let Some(Credentials::Basic { username, password }) = found else {
                panic!("{config}: {found:?}");
            };
            assert_eq!(
                (username.as_str(), password.as_str()),
                ("hubuser", "hubsecret")
            );
            assert_eq!(
                std::fs::read_to_string(&log).unwrap_or_default(),
                asked,
                "{config}"
            );
        }
        // A registry that is not Docker Hub is asked for by its name only.
        let _ = std::fs::remove_file(&log);
        let file = dir.path().join("config.json");
        std::fs::write(&file, r#"{"credsStore":"airlockhubtest"}"#).unwrap();
        let found = from_config_file(&file, "mirror.gcr.io", limit).unwrap();
        assert!(found.is_none(), "{found:?}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "mirror.gcr.io\n");
        std::env::set_var("PATH", path);
    }
}
