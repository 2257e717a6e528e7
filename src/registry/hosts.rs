//! Which hosts get what (issue 17, items 3 to 5): the per-host switches
//! (`--plain-http HOST`, `--insecure-skip-verify HOST`,
//! `--allow-token-realm HOST`) and the rule deciding whether a bearer
//! challenge's token realm may receive the registry's credentials.
//!
//! A registry chooses its realm: without a rule, any registry in a fallback
//! list (or any server answering in its name) could send the user's password
//! to a host of its choosing. Credentials therefore go to a realm only over
//! https and only on the registry's own host or registrable domain, unless
//! the operator names the realm.

use std::net::IpAddr;

/// A host as the switches and the rules compare it: the name (lowercase,
/// without brackets for IPv6) and the port, if one was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The name or address, lowercase, IPv6 without brackets.
    pub name: String,
    /// The port, if given.
    pub port: Option<u16>,
}

/// Why a `HOST[:PORT]` value is refused.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not HOST or HOST:PORT ({why})")]
pub struct HostError {
    /// The value given.
    pub value: String,
    /// Which rule it breaks.
    pub why: &'static str,
}

impl HostPort {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port` (no scheme, no path,
    /// no user information).
    pub fn parse(value: &str) -> Result<HostPort, HostError> {
        let err = |why| HostError {
            value: value.to_string(),
            why,
        };
        if value.contains("://") {
            return Err(err("give the host without a scheme"));
        }
        if value.contains(['/', '?', '#', '@']) || value.chars().any(char::is_whitespace) {
            return Err(err("give the host alone, without a path or user"));
        }
        let (name, port) = if let Some(rest) = value.strip_prefix('[') {
            let (name, tail) = rest.split_once(']').ok_or_else(|| err("unclosed '['"))?;
            match tail {
                "" => (name, None),
                t => (
                    name,
                    Some(t.strip_prefix(':').ok_or_else(|| err("bad port"))?),
                ),
            }
        } else if value.matches(':').count() > 1 {
            // A bare IPv6 address.
            (value, None)
        } else {
            match value.split_once(':') {
                Some((n, p)) => (n, Some(p)),
                None => (value, None),
            }
        };
        if name.is_empty() {
            return Err(err("no host"));
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| err("bad port"))?),
            None => None,
        };
        Ok(HostPort {
            name: name.to_ascii_lowercase(),
            port,
        })
    }

    /// The host of an `http(s)://` URL (user information skipped), with its
    /// port if the URL names one other than the scheme's default. The URL is
    /// parsed by the same rules (WHATWG, the `url` crate) as the HTTP client
    /// that will send the request, so the host judged is the host asked:
    /// by hand, `https://evil:1\@registry/` looked like `registry`, while the
    /// client, for which `\` ends the authority like `/`, went to `evil`
    /// with the credentials (found in review, issue 17).
    pub fn of_url(url: &str) -> Option<HostPort> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let u = url::Url::parse(url).ok()?;
        if !matches!(u.scheme(), "http" | "https") {
            return None;
        }
        let name = match u.host()? {
            url::Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
            url::Host::Ipv4(a) => a.to_string(),
            url::Host::Ipv6(a) => a.to_string(),
        };
        if name.is_empty() {
            return None;
        }
        Some(HostPort {
            name,
            port: u.port(),
        })
    }

    /// The name as an IP address, if it is one.
    fn ip(&self) -> Option<IpAddr> {
        self.name.parse().ok()
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.name.contains(':') {
            format!("[{}]", self.name)
        } else {
            self.name.clone()
        };
        match self.port {
            Some(p) => write!(f, "{name}:{p}"),
            None => f.write_str(&name),
        }
    }
}

/// Hosts named by a switch. An entry without a port matches the host on
/// every port; one with a port, that port only.
#[derive(Debug, Clone, Default)]
pub struct HostList(Vec<HostPort>);

impl HostList {
    /// The list of `values` (each `HOST` or `HOST:PORT`).
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<HostList, HostError> {
        values
            .iter()
            .map(|v| HostPort::parse(v.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(HostList)
    }

    /// Adds one host.
    pub fn push(&mut self, host: HostPort) {
        if !self.0.contains(&host) {
            self.0.push(host);
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = &HostPort> {
        self.0.iter()
    }

    /// Whether `host` (`host[:port]`, as a reference or URL names it) is
    /// named. A host that does not parse is never named.
    pub fn matches(&self, host: &str) -> bool {
        HostPort::parse(host).is_ok_and(|h| self.matches_host(&h))
    }

    /// [`HostList::matches`] for a parsed host.
    pub fn matches_host(&self, h: &HostPort) -> bool {
        self.0
            .iter()
            .any(|e| e.name == h.name && (e.port.is_none() || e.port == h.port))
    }

    /// Whether the name `name` is named, on any port (what a TLS
    /// certificate check can see: a certificate names a host, not a port).
    pub fn matches_name(&self, name: &str) -> bool {
        let name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.0.iter().any(|e| e.name == name)
    }
}

/// Second-level labels under which registrable domains sit one level
/// deeper (`example.co.uk`, `example.com.au`): an approximation of the
/// public suffix list, erring towards refusal (a realm on `auth.co.uk` is
/// not on the domain of `registry.co.uk`).
const SHORT_SECOND_LEVEL: &[&str] = &["co", "com", "org", "net", "gov", "ac", "edu"];

/// The registrable domain of a DNS name, approximated: its last two
/// labels, or its last three when the second-to-last is one of
/// `SHORT_SECOND_LEVEL`. `None` for an IP address (an address has no
/// domain: only the same address matches it).
pub fn registrable_domain(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.parse::<IpAddr>().is_ok() || name.is_empty() {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let n = labels.len();
    let keep = if n >= 3 && SHORT_SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    Some(labels[n.saturating_sub(keep)..].join("."))
}

/// Why a token realm may not receive credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmRefusal {
    /// The realm is not an `http(s)://` URL with a host.
    NotAUrl,
    /// The realm is plain http and the registry is not a `--plain-http`
    /// registry on the same host.
    PlainHttp,
    /// The realm is on another host and another registrable domain.
    OtherDomain,
}

impl RealmRefusal {
    /// Why, in words.
    pub fn reason(&self) -> &'static str {
        match self {
            RealmRefusal::NotAUrl => "the realm is not an http(s) URL",
            RealmRefusal::PlainHttp => {
                "the realm is plain http (credentials go to a plain-http realm only on the host of a registry named for plain http)"
            }
            RealmRefusal::OtherDomain => {
                "the realm is neither the registry's host nor on its registrable domain"
            }
        }
    }
}

/// Whether the registry `registry` (`host[:port]`) may send its credentials
/// to the token realm `realm` (a URL).
///
/// - Over https: when the realm's host is the registry's (any port), shares
///   its registrable domain ([`registrable_domain`]; an IP address or
///   `localhost` only itself), or is in `allowed`.
/// - Over plain http: only when `registry_plain` (the registry is spoken to
///   over plain http because the operator named it) and the realm's host
///   is the registry's, or is in `allowed`.
pub fn realm_may_receive_credentials(
    registry: &str,
    realm: &str,
    registry_plain: bool,
    allowed: &HostList,
) -> Result<(), RealmRefusal> {
    let lower = realm.to_ascii_lowercase();
    let https = lower.starts_with("https://");
    if !https && !lower.starts_with("http://") {
        return Err(RealmRefusal::NotAUrl);
    }
    let Some(r) = HostPort::of_url(realm) else {
        return Err(RealmRefusal::NotAUrl);
    };
    let Ok(g) = HostPort::parse(registry) else {
        return Err(RealmRefusal::OtherDomain);
    };
    let same_host = match (r.ip(), g.ip()) {
        (Some(a), Some(b)) => a == b,
        _ => r.name == g.name,
    };
    let named = allowed.matches_host(&r);
    if !https {
        return if registry_plain && (same_host || named) {
            Ok(())
        } else {
            Err(RealmRefusal::PlainHttp)
        };
    }
    if same_host || named {
        return Ok(());
    }
    match (registrable_domain(&r.name), registrable_domain(&g.name)) {
        (Some(a), Some(b)) if a == b && r.name != "localhost" && g.name != "localhost" => Ok(()),
        _ => Err(RealmRefusal::OtherDomain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_values_parse() {
        let h = HostPort::parse("Registry.Example:5000").unwrap();
        assert_eq!((h.name.as_str(), h.port), ("registry.example", Some(5000)));
        let h = HostPort::parse("[::1]:5000").unwrap();
        assert_eq!((h.name.as_str(), h.port), ("::1", Some(5000)));
        assert_eq!(h.to_string(), "[::1]:5000");
        assert_eq!(HostPort::parse("::1").unwrap().port, None);
        for bad in [
            "https://r.example",
            "r.example/x",
            "u@r.example",
            "r.example:x",
            "",
            ":5000",
            "r.example:70000",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
        // Parsed as the HTTP client parses it: `\` ends an http(s) authority.
        assert_eq!(
            HostPort::of_url("https://127.0.0.1:9\\@localhost/token").unwrap(),
            HostPort::parse("127.0.0.1:9").unwrap()
        );
        assert_eq!(
            HostPort::of_url("https://registry.example:443/x").unwrap(),
            HostPort::parse("registry.example").unwrap()
        );
        assert!(HostPort::of_url("file:///etc/passwd").is_none());
        assert!(HostPort::of_url("https://a.example\n/x").is_none());
        let u = HostPort::of_url("https://user:pw@Auth.Example:8443/token?x=1").unwrap();
        assert_eq!((u.name.as_str(), u.port), ("auth.example", Some(8443)));
    }

    #[test]
    fn a_list_entry_without_a_port_matches_every_port() {
        let l = HostList::parse(&["a.example", "b.example:5000"]).unwrap();
        assert!(l.matches("a.example") && l.matches("A.example:1234"));
        assert!(l.matches("b.example:5000"));
        assert!(!l.matches("b.example") && !l.matches("b.example:5001"));
        assert!(!l.matches("c.example"));
        assert!(l.matches_name("b.example") && !l.matches_name("c.example"));
    }

    #[test]
    fn registrable_domains_are_approximated() {
        for (name, domain) in [
            ("registry-1.docker.io", Some("docker.io")),
            ("auth.docker.io", Some("docker.io")),
            ("ghcr.io", Some("ghcr.io")),
            ("reg.example.co.uk", Some("example.co.uk")),
            ("reg.example.com.au", Some("example.com.au")),
            ("localhost", Some("localhost")),
            ("127.0.0.1", None),
            ("::1", None),
        ] {
            assert_eq!(registrable_domain(name).as_deref(), domain, "{name}");
        }
    }

    #[test]
    fn realms_on_another_domain_or_over_http_get_no_credentials() {
        let none = HostList::default();
        let ok = |reg: &str, realm: &str, plain: bool| {
            realm_may_receive_credentials(reg, realm, plain, &none)
        };
        assert_eq!(
            ok(
                "registry-1.docker.io",
                "https://auth.docker.io/token",
                false
            ),
            Ok(())
        );
        assert_eq!(ok("ghcr.io", "https://ghcr.io/token", false), Ok(()));
        assert_eq!(
            ok("r.example:5000", "https://r.example/token", false),
            Ok(())
        );
        assert_eq!(
            ok("registry.example.com", "https://evil.example.net/t", false),
            Err(RealmRefusal::OtherDomain)
        );
        assert_eq!(
            ok("a.example.co.uk", "https://b.other.co.uk/t", false),
            Err(RealmRefusal::OtherDomain)
        );
        assert_eq!(
            ok("127.0.0.1:5000", "https://127.0.0.1:6000/t", false),
            Ok(())
        );
        assert_eq!(
            ok("127.0.0.1:5000", "https://127.0.0.2/t", false),
            Err(RealmRefusal::OtherDomain)
        );
        assert_eq!(
            ok("localhost:5000", "https://127.0.0.1/t", false),
            Err(RealmRefusal::OtherDomain)
        );
        // Plain http: only for a --plain-http registry, on its host.
        assert_eq!(
            ok("r.example", "http://r.example/t", false),
            Err(RealmRefusal::PlainHttp)
        );
        assert_eq!(ok("r.example", "http://r.example:81/t", true), Ok(()));
        assert_eq!(
            ok("r.example", "http://auth.r.example/t", true),
            Err(RealmRefusal::PlainHttp)
        );
        assert_eq!(
            ok("r.example", "ftp://r.example/t", true),
            Err(RealmRefusal::NotAUrl)
        );
        // Named by --allow-token-realm.
        let allowed = HostList::parse(&["auth.elsewhere.net"]).unwrap();
        assert_eq!(
            realm_may_receive_credentials(
                "registry.example.com",
                "https://auth.elsewhere.net/t",
                false,
                &allowed
            ),
            Ok(())
        );
    }
}
