//! Reading a trust policy file (TOML; see `examples/trust.toml`): its keys,
//! its revocations resolved to public keys, and the checks that the policy
//! can be met at all, each a step of [`TrustPolicy::from_toml`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{check_listing, parse_duration, Downgrade, PolicyError, TrustPolicy, TrustedKey};
use crate::keys::PublicKey;

/// Revoked public keys, each with the `revoked` entries that named it.
type Revoked = BTreeMap<[u8; 32], Vec<String>>;

/// The policy file, as written (with where each value is, for messages).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    threshold: Option<Spanned<usize>>,
    #[serde(default)]
    roles: BTreeMap<String, Spanned<usize>>,
    #[serde(default)]
    revoked: Vec<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    max_db_age: Option<Spanned<String>>,
    downgrade: Option<Spanned<String>>,
    #[serde(default, rename = "key")]
    keys: Vec<KeyEntry>,
}

impl PolicyFile {
    fn threshold(&self) -> usize {
        self.threshold.as_ref().map_or(1, |t| *t.get_ref())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: Spanned<String>,
    role: Option<Spanned<String>>,
    /// The base64 line of a minisign public key.
    public_key: Option<Spanned<String>>,
    /// Or a public key file, relative to the policy file.
    file: Option<Spanned<String>>,
}

/// A refusal of the policy text: why, where (a byte span of the text) and
/// what to do. [`TrustPolicy::from_toml`] turns the span into a line and
/// column, [`TrustPolicy::from_file`] names the file.
struct Bad {
    reason: String,
    span: Option<Range<usize>>,
    hint: Option<String>,
}

fn bad(reason: String, span: Option<Range<usize>>) -> Bad {
    Bad {
        reason,
        span,
        hint: None,
    }
}

/// The line and column (from 1; the column in characters) of byte `at`.
/// A byte order mark (which editors write and never show) is not counted.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let before = before.strip_prefix('\u{feff}').unwrap_or(before);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Whether `text` is 16 hex digits (a key id as minisign shows it).
fn looks_like_key_id(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The largest policy file read (1 MiB): a policy lists a few keys; a
/// larger file is a mistake (`--trust /dev/zero`, a bundle given as the
/// policy) and is refused without being read whole.
pub const MAX_POLICY_FILE: u64 = 1 << 20;

/// The longest key name or role (bytes).
pub const MAX_NAME: usize = 128;

/// A refusal of the policy at `path`: every message and hint with any long
/// base64 run hidden (see [`crate::redact::long_base64`]), whatever put
/// it there (a `revoked` entry, a name, a TOML type error quoting a
/// string, a key file's error).
fn refusal(
    path: &Path,
    at: Option<(usize, usize)>,
    reason: String,
    hint: Option<String>,
) -> PolicyError {
    let hide = |s: String| crate::redact::long_base64(&s).into_owned();
    PolicyError::BadPolicy {
        path: path.display().to_string(),
        at,
        reason: hide(reason),
        hint: hint.map(hide),
    }
}

/// The text of the policy file at `path`, at most [`MAX_POLICY_FILE`]
/// bytes; else why not.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_POLICY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_POLICY_FILE {
        return Err(format!(
            "it is larger than {} (a trust policy lists a few keys): is it the right file?",
            crate::text::bytes(MAX_POLICY_FILE)
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| "cannot read it: stream did not contain valid UTF-8".to_string())
}

/// Checks a key name or role (`what`): one line of visible text (see
/// [`crate::text::check_line`]), not empty, at most [`MAX_NAME`] bytes.
/// Names and roles are printed in reports, each on a line with others.
fn check_name(what: &str, name: &str, span: Range<usize>) -> Result<(), Bad> {
    let why = match crate::text::check_line(name, MAX_NAME) {
        _ if name.trim().is_empty() => "is empty".to_string(),
        Ok(()) => return Ok(()),
        Err(e) => e.to_string(),
    };
    // At most 64 characters of it shown, enough to find it (a long base64
    // run hidden first: cut short, it would no longer look like one).
    let hidden = crate::redact::long_base64(name);
    let mut shown: String = hidden.chars().take(64).collect();
    if shown.len() < hidden.len() {
        shown.push('…');
    }
    Err(Bad {
        reason: format!("{what} \"{}\" {why}", crate::text::escape(&shown)),
        span: Some(span),
        hint: Some(format!(
            "a {what} is one line of visible text, at most {MAX_NAME} bytes"
        )),
    })
}

impl TrustPolicy {
    /// Reads a policy file. Key `file`s are relative to the policy's
    /// directory. Every refusal names the file (and the line and column,
    /// when it is about one place in it) and has its own exit class
    /// ([`crate::error::ExitClass::BadPolicy`]): an unreadable file
    /// included.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = read_bounded(path).map_err(|reason| refusal(path, None, reason, None))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| match e {
            PolicyError::BadPolicy {
                at, reason, hint, ..
            } => PolicyError::BadPolicy {
                path: path.display().to_string(),
                at,
                reason,
                hint,
            },
            e => e,
        })
    }

    /// Parses a policy (see `examples/trust.toml`).
    ///
    /// A `revoked` entry is a key id of a listed key (every listing of that
    /// key's public key is then revoked, whatever its id or name), or a
    /// public key itself (its base64 line), which revokes that key whether
    /// or not it is listed. A key id that no listed key has is refused: it
    /// cannot be resolved to a key, and the key may be listed under another
    /// id. Each name names one listing: a name used twice is refused (one
    /// key may still be listed under two names: it counts once).
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, PolicyError> {
        // Every refusal of the text passes here (the one funnel), so no
        // message can repeat a secret key pasted anywhere in the policy.
        Self::parse(text, base).map_err(|b| {
            let at = b.span.map(|s| line_column(text, s.start));
            refusal(Path::new("(text)"), at, b.reason, b.hint)
        })
    }

    fn parse(text: &str, base: &Path) -> Result<Self, Bad> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| {
            // The parser's message may run over lines; a message is one.
            let words: Vec<&str> = e.message().lines().map(str::trim).collect();
            bad(words.join("; "), e.span())
        })?;
        for (role, need) in &f.roles {
            check_name("role", role, need.span())?;
        }
        let keys = read_keys(text, &f.keys, base)?;
        check_listing(&keys).map_err(|(i, reason, hint)| Bad {
            reason,
            span: Some(f.keys[i].name.span()),
            hint: Some(hint.into()),
        })?;
        let revoked = resolve_revoked(&f.revoked, &keys)?;
        check_satisfiable(&f, &keys, &revoked)?;
        let downgrade = parse_downgrade(f.downgrade.as_ref())?;
        Ok(TrustPolicy {
            keys,
            threshold: f.threshold(),
            role_minimums: f
                .roles
                .iter()
                .map(|(r, n)| (r.clone(), *n.get_ref()))
                .collect(),
            revoked,
            max_age: age("max_age", f.max_age.as_ref())?,
            max_db_age: age("max_db_age", f.max_db_age.as_ref())?,
            downgrade,
        })
    }
}

/// The `[[key]]` entries as trusted keys (key `file`s relative to `base`).
fn read_keys(text: &str, entries: &[KeyEntry], base: &Path) -> Result<Vec<TrustedKey>, Bad> {
    let mut keys = Vec::new();
    let mut names: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    for k in entries {
        let name = k.name.get_ref();
        check_name("name", name, k.name.span())?;
        if let Some(role) = &k.role {
            check_name("role", role.get_ref(), role.span())?;
        }
        if let Some(first) = names.insert(name, k.name.span()) {
            return Err(Bad {
                reason: format!(
                    "the name {name:?} is given to two keys (first on line {}): a name must say which key signed",
                    line_column(text, first.start).0
                ),
                span: Some(k.name.span()),
                hint: Some("give each [[key]] its own name (one key listed twice is fine under two names: it counts once)".into()),
            });
        }
        let key = match (&k.public_key, &k.file) {
            (Some(b64), None) => inline_key(name, b64)?,
            (None, Some(file)) => {
                PublicKey::from_file(&base.join(file.get_ref())).map_err(|e| Bad {
                    reason: format!("key {name:?}: {}", crate::error::chain_text(&e)),
                    span: Some(file.span()),
                    hint: crate::error::Classify::hint(&e).and_then(|h| match h {
                        crate::error::Hint::Text(t) => Some(t),
                        _ => None,
                    }),
                })?
            }
            _ => {
                return Err(bad(
                    format!("key {name:?} needs exactly one of public_key or file"),
                    Some(k.name.span()),
                ))
            }
        };
        keys.push(TrustedKey {
            name: Some(name.clone()),
            role: k.role.as_ref().map(|r| r.get_ref().clone()),
            key,
        });
    }
    Ok(keys)
}

/// A key given inline (`public_key = "RWQ..."`); a secret key's line there
/// is named as such (and never repeated).
fn inline_key(name: &str, b64: &Spanned<String>) -> Result<PublicKey, Bad> {
    let line = b64.get_ref();
    PublicKey::from_text(&format!("untrusted comment: {name}\n{line}\n")).map_err(|e| {
        let reason = match crate::keys::recognize(&format!("untrusted comment: -\n{line}\n")) {
            crate::keys::KeyKind::SecretKey => {
                format!("key {name:?}: public_key is the line of a secret key, not of a public key")
            }
            _ => format!("key {name:?}: {e}"),
        };
        bad(reason, Some(b64.span()))
    })
}

/// The `revoked` entries resolved to the public keys they revoke.
fn resolve_revoked(entries: &[Spanned<String>], keys: &[TrustedKey]) -> Result<Revoked, Bad> {
    let mut revoked = Revoked::new();
    for entry in entries {
        let r = entry.get_ref().trim();
        if looks_like_key_id(r) {
            let matching: BTreeSet<[u8; 32]> = keys
                .iter()
                .filter(|k| k.key.key_id().to_string().eq_ignore_ascii_case(r))
                .map(|k| k.key.bytes())
                .collect();
            if matching.is_empty() {
                return Err(Bad {
                    reason: format!("revoked {r:?} is the key id of no key listed here, so it cannot be told which key it revokes (the same key may be listed under another id)"),
                    span: Some(entry.span()),
                    hint: Some("revoke the key by its public key instead: the base64 line of its .pub file, e.g. revoked = [\"RWQ...\"]".into()),
                });
            }
            let id = r.to_ascii_uppercase();
            for bytes in matching {
                revoked.entry(bytes).or_default().push(format!("key {id}"));
            }
        } else {
            let key = PublicKey::from_text(r).map_err(|e| {
                bad(format!(
                    "revoked {r:?} is neither the key id of a listed key (16 hex digits) nor a public key (the base64 line of a .pub file): {e}"
                ), Some(entry.span()))
            })?;
            revoked
                .entry(key.bytes())
                .or_default()
                .push("public key".to_string());
        }
    }
    Ok(revoked)
}

/// Checks that the distinct keys not revoked can meet the threshold and
/// every role minimum.
fn check_satisfiable(f: &PolicyFile, keys: &[TrustedKey], revoked: &Revoked) -> Result<(), Bad> {
    let distinct: BTreeSet<[u8; 32]> = keys
        .iter()
        .map(|k| k.key.bytes())
        .filter(|b| !revoked.contains_key(b))
        .collect();
    if distinct.is_empty() {
        return Err(bad(
            "it lists no key that is not revoked: no bundle could ever be accepted".into(),
            None,
        ));
    }
    let threshold = f.threshold();
    if threshold == 0 || threshold > distinct.len() {
        return Err(bad(format!(
            "threshold {} cannot be met by the {} distinct keys that are not revoked (a public key listed under several names or ids is one key)",
            threshold,
            distinct.len()
        ), f.threshold.as_ref().map(|t| t.span())));
    }
    for (role, need) in &f.roles {
        let have: BTreeSet<[u8; 32]> = keys
            .iter()
            .filter(|k| k.role.as_deref() == Some(role))
            .map(|k| k.key.bytes())
            .filter(|b| !revoked.contains_key(b))
            .collect();
        if *need.get_ref() > have.len() {
            return Err(bad(format!(
                "role {role:?} needs {} approvals but only {} distinct keys that are not revoked have it",
                need.get_ref(),
                have.len()
            ), Some(need.span())));
        }
    }
    Ok(())
}

/// An age limit (`max_age`, `max_db_age`) in seconds, if set.
fn age(what: &str, v: Option<&Spanned<String>>) -> Result<Option<u64>, Bad> {
    v.map(|s| {
        parse_duration(s.get_ref()).ok_or_else(|| {
            bad(
                format!(
                    "{what} {:?} is not a duration such as 36h, 7d or 2w",
                    s.get_ref()
                ),
                Some(s.span()),
            )
        })
    })
    .transpose()
}

/// The `downgrade` setting.
fn parse_downgrade(v: Option<&Spanned<String>>) -> Result<Downgrade, Bad> {
    let Some(v) = v else {
        return Ok(Downgrade::WithFlag);
    };
    match v.get_ref().as_str() {
        "with-flag" => Ok(Downgrade::WithFlag),
        "never" => Ok(Downgrade::Never),
        other => Err(bad(
            format!("downgrade {other:?} must be \"with-flag\" or \"never\""),
            Some(v.span()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Classify as _, ExitClass};
    use crate::keys::SecretKey;

    fn refused(text: &str) -> (String, ExitClass) {
        let err = TrustPolicy::from_toml(text, Path::new(".")).unwrap_err();
        (err.to_string(), err.class())
    }

    #[test]
    fn a_refusal_says_where_and_exits_as_a_bad_policy() {
        let a = SecretKey::generate("a").unwrap().public_key().to_base64();
        let b = SecretKey::generate("b").unwrap().public_key().to_base64();
        let key =
            |name: &str, line: &str| format!("\n[[key]]\nname = {name:?}\npublic_key = {line:?}\n");
        let cases = [
            (
                format!("threshold = 3\n{}", key("alice", &a)),
                "trust policy (text):1:13: threshold 3 cannot be met by the 1 distinct keys",
            ),
            (
                format!("max_age = \"soon\"\n{}", key("alice", &a)),
                "trust policy (text):1:11: max_age \"soon\" is not a duration",
            ),
            (
                format!("{}{}", key("alice", &a), key("alice", &b)),
                "trust policy (text):7:8: the name \"alice\" is given to two keys (first on line 3)",
            ),
            (
                key("alice", "RWQ"),
                "trust policy (text):4:14: key \"alice\": public key is malformed",
            ),
            (
                format!("revoked = [\"0123\"]\n{}", key("alice", &a)),
                "trust policy (text):1:12: revoked \"0123\" is neither",
            ),
            (
                "roles = 1\n".to_string(),
                "trust policy (text):1:9: invalid type: integer `1`, expected a map",
            ),
            (
                String::new(),
                "trust policy (text): it lists no key that is not revoked",
            ),
        ];
        for (text, expected) in cases {
            let (message, class) = refused(&text);
            assert!(message.starts_with(expected), "{message}\n{text}");
            assert_eq!(class, ExitClass::BadPolicy, "{message}");
        }
        // The same key under two names is one key listed twice: accepted.
        TrustPolicy::from_toml(
            &format!("{}{}", key("alice", &a), key("alice-2", &a)),
            Path::new("."),
        )
        .unwrap();
    }

    #[test]
    fn a_secret_key_pasted_as_public_key_is_named_and_not_repeated() {
        let sk = SecretKey::generate("a").unwrap();
        let text = sk.to_text();
        let line = text.lines().nth(1).unwrap();
        let (message, class) = refused(&format!("[[key]]\nname = \"a\"\npublic_key = {line:?}\n"));
        assert_eq!(
            message,
            "trust policy (text):3:14: key \"a\": public_key is the line of a secret key, not of a public key"
        );
        assert_eq!(class, ExitClass::BadPolicy);
    }

    #[test]
    fn line_and_column_count_characters_from_one() {
        assert_eq!(line_column("ab\ncé d", 0), (1, 1));
        assert_eq!(line_column("ab\ncé d", 3), (2, 1));
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
