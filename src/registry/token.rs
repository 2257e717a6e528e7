//! Authentication: the registry's challenge, and the credentials or bearer
//! token sent in answer to it (only where they may go).

use std::collections::BTreeMap;
use std::io::Read;

use zeroize::Zeroizing;

use super::framing::short_body;
use super::{
    auth, deadline, framing, hosts, redact, Client, Credentials, HostPort, RegistryError,
    SMALL_REQUEST,
};

/// How the registry wants to be authenticated (from the `/v2/` ping).
#[derive(Debug, Clone)]
pub(super) enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

pub(super) fn parse_challenge(header: &str) -> Challenge {
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, v)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        let (value, tail) = if let Some(v) = v.strip_prefix('"') {
            match v.split_once('"') {
                Some((val, tail)) => (val.to_string(), tail),
                None => (v.to_string(), ""),
            }
        } else {
            match v.split_once(',') {
                Some((val, tail)) => (val.trim().to_string(), tail),
                None => (v.trim().to_string(), ""),
            }
        };
        params.insert(k, value);
        s = tail.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    match params.remove("realm") {
        Some(realm) => Challenge::Bearer {
            realm,
            service: params.remove("service"),
        },
        None => Challenge::None,
    }
}

impl Client {
    /// `text` (a server's answer) with every secret this client sends
    /// masked: its credentials and the tokens it was given.
    pub(super) fn mask_secrets(&self, text: &str) -> String {
        let mut secrets = self.credentials.secrets();
        secrets.extend(self.tokens.borrow().values().cloned());
        auth::mask_secrets(text, &secrets)
    }

    /// Refuses to use the credentials where they may not go: over plain
    /// http to a registry the operator did not name with `--plain-http` (a
    /// loopback registry reached by falling back from https).
    pub(super) fn may_send_credentials(&self) -> Result<(), RegistryError> {
        if self.credentials_allowed {
            return Ok(());
        }
        Err(RegistryError::PlainHttpCredentials {
            host: self.host.clone(),
            base: self.base.clone(),
        })
    }

    /// The Authorization header for `scope`, fetching a token if needed:
    /// nothing until the registry has challenged (credentials are never
    /// sent preemptively).
    pub(super) fn authorization(
        &self,
        scope: &str,
    ) -> Result<Option<Zeroizing<String>>, RegistryError> {
        let challenge = self.challenge.borrow().clone();
        match challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => match self.credentials.basic_header() {
                Some(h) => {
                    self.may_send_credentials()?;
                    Ok(Some(h))
                }
                None => Err(RegistryError::Unauthorized {
                    host: self.host.clone(),
                    how: auth::describe(&self.credentials),
                    scope: scope.to_string(),
                }),
            },
            Challenge::Bearer { realm, service } => {
                if let Credentials::Token(t) = &self.credentials {
                    self.may_send_credentials()?;
                    return Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))));
                }
                if let Some(t) = self.tokens.borrow().get(scope) {
                    return Ok(Some(Zeroizing::new(format!("Bearer {}", t.as_str()))));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope)?;
                let header = Zeroizing::new(format!("Bearer {}", token.as_str()));
                self.tokens.borrow_mut().insert(scope.to_string(), token);
                Ok(Some(header))
            }
        }
    }

    /// A token for `scope` from the token service at `realm`: anonymously,
    /// or with the credentials when the realm may receive them
    /// ([`hosts::realm_may_receive_credentials`]). A request carrying
    /// credentials follows no redirect (a 30x would turn a POST carrying a
    /// refresh token into a GET elsewhere, or hand the exchange to another
    /// origin); its answer must be 200.
    // ureq's own error, passed back from the request thread as it is.
    #[allow(clippy::result_large_err)]
    pub(super) fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Zeroizing<String>, RegistryError> {
        let anonymous = matches!(self.credentials, Credentials::None);
        if !anonymous {
            self.check_realm(realm)?;
        }
        let (method, result) = self.ask_token(realm, service, scope, anonymous)?;
        self.read_token(method, realm, scope, result)
    }

    /// Refuses to send this registry's credentials where they may not go:
    /// over plain http, or to a token realm that may not receive them.
    #[allow(clippy::result_large_err)]
    fn check_realm(&self, realm: &str) -> Result<(), RegistryError> {
        self.may_send_credentials()?;
        let plain = !self.base.starts_with("https://") && self.opts.plain_http_named(&self.host);
        hosts::realm_may_receive_credentials(&self.host, realm, plain, &self.opts.token_realms)
            .map_err(|reason| RegistryError::TokenRealm {
                registry: self.host.clone(),
                realm_host: HostPort::of_url(realm)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| redact(realm)),
                realm: realm.to_string(),
                reason,
            })?;
        Ok(())
    }

    /// Sends the token request: an identity token exchanged by POST,
    /// else a GET with the Basic credentials (or none). Returns the method
    /// and the answer as ureq gave it.
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    fn ask_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        anonymous: bool,
    ) -> Result<(&'static str, Result<ureq::Response, ureq::Error>), RegistryError> {
        let (method, result) = match &self.credentials {
            // An identity token is a refresh token: exchange it.
            Credentials::IdentityToken(t) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", "airlock"),
                    ("scope", scope),
                    ("refresh_token", t.as_str()),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let req = self.strict.post(realm).timeout(SMALL_REQUEST);
                ("POST", req.send_form(&form))
            }
            creds => {
                let agent = if anonymous { &self.agent } else { &self.strict };
                let mut req = agent
                    .get(realm)
                    .timeout(SMALL_REQUEST)
                    .query("scope", scope);
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                if let Some(h) = creds.basic_header() {
                    req = req.set("Authorization", &h);
                }
                // On a helper thread: an anonymous request follows
                // redirects, and the HTTP client panics on some.
                match deadline::head_within(&self.limits, move || req.call()) {
                    Ok(r) => ("GET", r),
                    Err(e) => {
                        return Err(RegistryError::Transfer {
                            method: "GET",
                            url: redact(realm),
                            reason: e.describe(&self.limits),
                        })
                    }
                }
            }
        };
        Ok((method, result))
    }

    /// The token in the token service's answer: 200, JSON, with `token`
    /// or `access_token`.
    #[allow(clippy::result_large_err)]
    fn read_token(
        &self,
        method: &'static str,
        realm: &str,
        scope: &str,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<Zeroizing<String>, RegistryError> {
        let resp = result.map_err(|e| match e {
            ureq::Error::Status(401 | 403, _) => RegistryError::Unauthorized {
                host: self.host.clone(),
                how: auth::describe(&self.credentials),
                scope: scope.to_string(),
            },
            ureq::Error::Status(status, r) => RegistryError::Status {
                method,
                url: redact(realm),
                status,
                body: self.mask_secrets(&short_body(r)),
            },
            ureq::Error::Transport(t) => RegistryError::Transfer {
                method,
                url: redact(realm),
                reason: t.to_string(),
            },
        })?;
        if let Err(reason) = framing::refuse_chunked_plain_http(resp.get_url(), &resp) {
            return Err(RegistryError::Transfer {
                method,
                url: redact(realm),
                reason,
            });
        }
        if resp.status() != 200 {
            return Err(RegistryError::TokenAnswer {
                method,
                url: redact(realm),
                status: resp.status(),
                location: resp.header("Location").map(redact),
            });
        }
        let v: serde_json::Value = serde_json::from_reader(resp.into_reader().take(1 << 20))
            .map_err(|e| RegistryError::Transfer {
                method,
                url: redact(realm),
                reason: format!("the token answer is not JSON: {e}"),
            })?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| RegistryError::Transfer {
                method,
                url: redact(realm),
                reason: "the token answer holds no token".into(),
            })?;
        Ok(Zeroizing::new(token.to_string()))
    }
}
