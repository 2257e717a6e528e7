//! The names OCI registries are addressed by: repository paths, tags,
//! digests, registry hosts and whole references, each checked against the
//! OCI distribution grammar before it is used in a URL, a path or a message.
//!
//! A name from a signed manifest is still untrusted here: a signer may be
//! compromised, or may have signed what a lying mirror served. A repository
//! of `../library/nginx` or a tag of `latest?x=1#` would make an HTTP
//! client (which collapses dot segments) address another repository or
//! leave `/v2/` altogether, with the operator's credentials (issue 11), so
//! every name is checked by the grammar here, in the manifest's own
//! validation and again wherever a registry URL is built.

use std::fmt;

/// The longest repository path accepted, in bytes (the distribution spec
/// leaves it to registries; docker's limit on a whole name is 255).
pub const MAX_REPOSITORY: usize = 255;
/// The longest registry host (with port) accepted, in bytes.
pub const MAX_HOST: usize = 255;

/// Why a name was refused (the rule it breaks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not a repository path.
    #[error("{0:?} is not a repository name (lowercase components of a-z 0-9 separated by one '.', one or two '_' or dashes, joined by '/', at most 255 bytes)")]
    Repository(String),
    /// Not a tag.
    #[error("{0:?} is not a tag ([A-Za-z0-9_] then up to 127 of A-Z a-z 0-9 . _ -)")]
    Tag(String),
    /// Not a sha256 digest.
    #[error("{0:?} is not a digest (sha256: and 64 lowercase hex digits)")]
    Digest(String),
    /// Not a registry host.
    #[error("{0:?} is not a registry host (a DNS name or [IPv6 address], optionally :port)")]
    Host(String),
    /// Not a reference with a registry host.
    #[error("{0:?} is not a registry reference (host/repository[:tag][@sha256:...])")]
    Reference(String),
}

impl crate::error::Classify for NameError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // Names reach the registry code from configuration and from
            // registries; a name refused there is not a bundle's fault.
            NameError::Repository(_)
            | NameError::Tag(_)
            | NameError::Digest(_)
            | NameError::Host(_)
            | NameError::Reference(_) => HostFailure,
        }
    }
}

/// Escapes a refused value for an error message (it may hold anything).
fn shown(s: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = s.chars().take(MAX).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !lower_alnum(b[0]) || !lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Checks a repository path (`aquasec/trivy-db`).
pub fn check_repository(name: &str) -> Result<(), NameError> {
    if name.len() <= MAX_REPOSITORY && name.split('/').all(path_component) {
        Ok(())
    } else {
        Err(NameError::Repository(shown(name)))
    }
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), NameError> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(NameError::Tag(shown(tag)))
    }
}

/// Checks a digest as airlock uses them: `sha256:` + 64 lowercase hex.
pub fn check_digest(digest: &str) -> Result<(), NameError> {
    crate::digest::Sha256Digest::parse_oci(digest)
        .map(|_| ())
        .map_err(|_| NameError::Digest(shown(digest)))
}

/// Checks what follows `/manifests/` in a URL: a tag or a digest.
pub fn check_tag_or_digest(reference: &str) -> Result<(), NameError> {
    if reference.starts_with("sha256:") {
        check_digest(reference)
    } else {
        check_tag(reference)
    }
}

/// Checks a registry host: DNS labels of `[A-Za-z0-9-]` (not starting or
/// ending with `-`) joined by dots, or a bracketed IPv6 address; then an
/// optional `:port`.
pub fn check_host(host: &str) -> Result<(), NameError> {
    let bad = || NameError::Host(shown(host));
    if host.is_empty() || host.len() > MAX_HOST {
        return Err(bad());
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        let ok_addr = !addr.is_empty()
            && addr.parse::<std::net::Ipv6Addr>().is_ok()
            && addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok_addr {
            return Err(bad());
        }
        match after {
            "" => ("", None),
            p => ("", Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if !host.starts_with('[') {
        let ok = name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !ok {
            return Err(bad());
        }
    }
    if let Some(p) = port {
        let ok = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
        if !ok || p.parse::<u16>().map_or(true, |n| n == 0) {
            return Err(bad());
        }
    }
    Ok(())
}

/// A parsed reference: `host/repository[:tag][@digest]`, every part
/// checked by its grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// host[:port]
    pub host: String,
    /// The repository path.
    pub repository: String,
    /// The tag or digest to fetch.
    pub reference: String,
    /// The pinned digest, if the reference has one.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference with an explicit registry host (one with a dot or
    /// a port, `localhost`, or a bracketed IPv6 address).
    pub fn parse(text: &str) -> Result<Reference, NameError> {
        let bad = || NameError::Reference(shown(text));
        let (host, rest) = text.split_once('/').ok_or_else(bad)?;
        check_host(host).map_err(|_| bad())?;
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            return Err(bad());
        }
        let (name, digest) = match rest.split_once('@') {
            Some((n, d)) => {
                check_digest(d).map_err(|_| bad())?;
                (n, Some(d.to_string()))
            }
            None => (rest, None),
        };
        let (repository, tag) = match name.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t)),
            _ => (name, None),
        };
        check_repository(repository).map_err(|_| bad())?;
        if let Some(t) = tag {
            check_tag(t).map_err(|_| bad())?;
        }
        let reference = match (&digest, tag) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        Ok(Reference {
            host: host.to_string(),
            repository: repository.to_string(),
            reference,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reference.starts_with("sha256:") {
            write!(f, "{}/{}@{}", self.host, self.repository, self.reference)
        } else {
            write!(f, "{}/{}:{}", self.host, self.repository, self.reference)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        for ok in [
            "trivy-db",
            "aquasec/trivy-db",
            "a/b/c",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "x0",
        ] {
            check_repository(ok).unwrap();
        }
        for bad in [
            "",
            "..",
            "../library/nginx",
            "a/../b",
            "a/./b",
            ".a",
            "a.",
            "a..b",
            "a___b",
            "a._b",
            "A",
            "a//b",
            "/a",
            "a/",
            "a b",
            "a?b",
            "a#b",
            "a%2e%2e",
            "a\nb",
            &"a".repeat(256),
        ] {
            assert!(check_repository(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_digests_hosts() {
        for ok in ["2", "latest", "_x", "v1.2.3-rc_1", &"a".repeat(128)] {
            check_tag(ok).unwrap();
        }
        for bad in ["", ".x", "-x", "a?b", "a#b", "a/b", "a:b", &"a".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
        let hex = "0123456789abcdef".repeat(4);
        check_digest(&format!("sha256:{hex}")).unwrap();
        for bad in [
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            "sha256:../../../../etc/x".to_string(),
            format!("sha512:{hex}"),
        ] {
            assert!(check_digest(&bad).is_err(), "{bad:?}");
        }
        for ok in [
            "localhost",
            "127.0.0.1:5000",
            "registry.example.com",
            "[::1]:5000",
            "[fe80::1]",
        ] {
            check_host(ok).unwrap();
        }
        for bad in [
            "",
            "a/b",
            "a:0",
            "a:99999",
            "a:",
            "-a.com",
            "a..b",
            "user@host",
            "[::1",
            "[zz]:1",
            "a b",
        ] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/aquasec/trivy-db:2").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("127.0.0.1:5000", "aquasec/trivy-db", "2")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/x/y@{d}")).unwrap();
        assert_eq!(r.reference, d);
        assert_eq!(r.to_string(), format!("ghcr.io/x/y@{d}"));
        for bad in [
            "trivy-db:2",
            "host.example/../library/nginx:latest",
            "host.example/a:latest?x=1",
            "host.example/a:la#t",
            "host.example/a@sha256:../../x",
            "user:pass@host.example/a:2",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
