//! The HTTP agents: TLS, proxies (with NO_PROXY), time limits, and which
//! agent follows redirects.

use std::sync::Arc;

use super::{framing, redact, tls, HostPort, Options, RegistryError, USER_AGENT};

/// An HTTP(S) agent with the same TLS, proxy and timeout settings, for
/// plain downloads such as VEX repositories, to be used for `url`: when it
/// is https, the agent is https-only, so no redirect leads it to plain http.
/// It follows redirects without the Authorization header (the credentials a
/// URL carries reach its own origin only).
pub fn http_agent(opts: &Options, url: &str) -> Result<ureq::Agent, RegistryError> {
    let host = HostPort::of_url(url)
        .map(|h| h.to_string())
        .unwrap_or_default();
    agent(opts, 5, is_https(url), &host)
}

/// The proxy for requests to `host` over https (`https`) or plain http, from
/// the environment as curl reads it: `https_proxy`/`HTTPS_PROXY`, or
/// `http_proxy` (lowercase only, as curl: the uppercase one can be set by
/// a CGI request's `Proxy:` header), else `all_proxy`/`ALL_PROXY`; none when
/// `no_proxy`/`NO_PROXY` names the host (`*`, a name or a parent domain,
/// with or without a leading dot, an address; ports ignored). ureq's own
/// reading of the environment ignores `NO_PROXY`, which sent an internal
/// registry's credentials to the corporate proxy (found in review).
pub(super) fn proxy_for(host: &str, https: bool) -> Result<Option<ureq::Proxy>, RegistryError> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let name = HostPort::parse(host).map(|h| h.name).unwrap_or_default();
    if name.is_empty() {
        return Ok(None);
    }
    let no_proxy = var(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
    if no_proxy
        .split(',')
        .any(|e| no_proxy_matches(e.trim(), &name))
    {
        return Ok(None);
    }
    let chosen = if https {
        var(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
    } else {
        var(&["http_proxy", "all_proxy", "ALL_PROXY"])
    };
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    // A proxy the client cannot use fails the request, rather than going
    // around the proxy the operator set.
    ureq::Proxy::new(&chosen)
        .map(Some)
        .map_err(|e| RegistryError::Unreachable {
            host: host.to_string(),
            reason: format!(
                "the proxy {} from the environment cannot be used: {e}",
                redact(&chosen)
            ),
            hint: crate::error::Hint::Text(
                "set http_proxy/https_proxy to an http:// or socks proxy URL, or name the host in NO_PROXY".into(),
            ),
        })
}

/// Whether one `NO_PROXY` entry names `host` (a DNS name, lowercase, or an
/// IP address): `*`; an address, bracketed or not, with or without a
/// port; a CIDR block; a DNS name or a parent domain (with or without a
/// leading dot; a suffix never matches an address).
pub(super) fn no_proxy_matches(entry: &str, host: &str) -> bool {
    use std::net::IpAddr;
    if entry == "*" {
        return true;
    }
    // The port, when there is one, is not compared.
    let entry = if let Some(rest) = entry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if entry.matches(':').count() == 1 {
        entry.split(':').next().unwrap_or(entry)
    } else {
        entry
    };
    let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) = (net.parse::<IpAddr>(), bits.parse::<u32>(), ip) else {
            return false;
        };
        return match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        };
    }
    if let Ok(e) = entry.parse::<IpAddr>() {
        return ip == Some(e);
    }
    let e = entry.trim_start_matches('.').to_ascii_lowercase();
    ip.is_none() && !e.is_empty() && (host == e || host.ends_with(&format!(".{e}")))
}

/// Whether `url` is https.
pub(super) fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// An agent that follows at most `redirects - 1` redirects (0: none; a 3xx
/// is then returned as it came), never forwarding the Authorization header
/// on a redirect; `https_only`: it refuses plain http, a redirect's too.
pub(super) fn agent(
    opts: &Options,
    redirects: u32,
    https_only: bool,
    host: &str,
) -> Result<ureq::Agent, RegistryError> {
    let mut skip = opts.skip_verify.clone();
    for h in opts.legacy_insecure.iter() {
        skip.push(h.clone());
    }
    let config = tls::client_config(&opts.ca_certs, &skip)?;
    let mut builder = ureq::AgentBuilder::new();
    if let Some(p) = proxy_for(host, https_only)? {
        builder = builder.proxy(p);
    }
    if let Some(log) = &opts.request_log {
        builder = builder.middleware(log.middleware());
    }
    Ok(builder
        // rustls, with each connection's non-content bytes bounded (ureq's
        // chunked decoder keeps a chunk-size line whole): framing.rs.
        .tls_connector(Arc::new(framing::GuardedTls::new(config, opts.limits)))
        .timeout_connect(opts.limits.connect())
        // The idle timeout: every read (status line, headers, body) waits
        // at most this long for a byte.
        .timeout_read(opts.limits.idle)
        .timeout_write(opts.limits.idle)
        .user_agent(USER_AGENT)
        .redirects(redirects)
        .redirect_auth_headers(ureq::RedirectAuthHeaders::Never)
        .https_only(https_only)
        // The proxy is chosen above, NO_PROXY included.
        .try_proxy_from_env(false)
        .build())
}
