//! Secrets out of URLs before they become text: messages, reports, the
//! audit log, the signed manifest.
//!
//! A URL can carry a secret in three places: its userinfo
//! (`https://user:password@host/`), its query (`?token=...`, the signature
//! of a presigned URL, a registry's upload `_state`) and its fragment.
//! [`url`] keeps what tells a reader where something is (scheme, host,
//! port, path, the names of query parameters) and replaces the rest with
//! `***`:
//!
//! ```
//! use airlock::redact;
//! assert_eq!(
//!     redact::url("https://user:pw@vex.example:8443/repo?token=abc&ref=main#x"),
//!     "https://***@vex.example:8443/repo?token=***&ref=***#***"
//! );
//! assert_eq!(redact::url("https://vex.example/repo"), "https://vex.example/repo");
//! ```
//!
//! Every query value goes, not only those with telling names: a list of
//! sensitive names would fail open on the next one. [`text`] does the same to
//! every `scheme://` URL inside free text, such as an HTTP library's error
//! message, which quotes the URL it failed on.
//!
//! # Security
//!
//! The userinfo ends at the last `@` of the authority, as URL parsers read
//! it. An authority that is not valid without a later `@` (`user:pa/ss@host`,
//! a password with an unescaped `/`, `?` or `#`) is taken to end at the last
//! `@` before the query: such a URL is redacted too eagerly (the host shown
//! may be wrong) rather than leaking the start of the password.

use std::borrow::Cow;

/// What stands in for a removed secret.
pub const MASK: &str = "***";

/// `s` (one URL, with or without a scheme) without its userinfo and with
/// its query values and fragment masked. Anything else is left as it is,
/// so a string that is not a URL comes back unchanged unless it holds an
/// `@` before its first `/` (`user:pass@host/path`, a reference written
/// with credentials).
pub fn url(s: &str) -> Cow<'_, str> {
    let rest_at = scheme_len(s).map_or(0, |n| n + 3);
    let rest = &s[rest_at..];
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    let authority_end = rest[..query_at].find('/').unwrap_or(query_at);
    let authority = &rest[..authority_end];
    // Where the host starts, in `rest`, when there is userinfo to drop.
    let userinfo_end = match authority.rfind('@') {
        Some(at) => Some(at),
        None if !valid_authority(authority) => {
            // A password with an unescaped '/', '?' or '#' ends the
            // authority early; its '@' comes later.
            rest.find('#')
                .map_or(rest, |h| &rest[..h])
                .rfind('@')
                .filter(|&at| at > authority_end)
        }
        None => None,
    };
    let (host_at, userinfo) = match userinfo_end {
        Some(at) => (at + 1, true),
        None => (0, false),
    };
    let after_host = &rest[host_at..];
    let tail_at = match after_host.find(['?', '#']) {
        Some(i) => i,
        None if !userinfo => return Cow::Borrowed(s),
        None => after_host.len(),
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..rest_at]);
    if userinfo {
        out.push_str(MASK);
        out.push('@');
    }
    out.push_str(&after_host[..tail_at]);
    let tail = &after_host[tail_at..];
    let (query, fragment) = match tail.find('#') {
        Some(h) => (&tail[..h], Some(&tail[h + 1..])),
        None => (tail, None),
    };
    if let Some(q) = query.strip_prefix('?') {
        out.push('?');
        for (i, param) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match param.split_once('=') {
                Some((name, "")) => {
                    out.push_str(name);
                    out.push('=');
                }
                Some((name, _)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(MASK);
                }
                None if param.is_empty() => {}
                None => out.push_str(MASK),
            }
        }
    }
    match fragment {
        Some("") => out.push('#'),
        Some(_) => {
            out.push('#');
            out.push_str(MASK);
        }
        None => {}
    }
    Cow::Owned(out)
}

/// `s` with every `scheme://` URL in it passed through [`url`]. A URL ends
/// at whitespace, a quote or an angle bracket; punctuation that closes a
/// sentence or a clause (`.`, `,`, `;`, `:`, `)` ...) is not part of it.
///
/// A header the HTTP client refused to send is quoted whole in its error
/// (`invalid header 'Authorization: Bearer ...'`, when a token holds a
/// character a header cannot carry): its value is masked too, to the end
/// of the line.
pub fn text(s: &str) -> Cow<'_, str> {
    match header_values(s) {
        Cow::Borrowed(_) => urls_in(s),
        Cow::Owned(o) => Cow::Owned(urls_in(&o).into_owned()),
    }
}

/// `s` with the value of every header quoted by the HTTP client's
/// `invalid header 'NAME: VALUE'` masked, up to the end of its line (the
/// value may hold a quote of its own).
fn header_values(s: &str) -> Cow<'_, str> {
    const QUOTED: &str = "invalid header '";
    if !s.contains(QUOTED) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(QUOTED) {
        let (head, tail) = rest.split_at(i + QUOTED.len());
        out.push_str(head);
        let name_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        out.push_str(&tail[..name_len]);
        out.push_str(": ");
        out.push_str(MASK);
        out.push('\'');
        let line_end = tail.find(['\n', '\r']).unwrap_or(tail.len());
        rest = &tail[line_end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `s` with every `scheme://` URL in it passed through [`url`].
fn urls_in(s: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(i) = s[search..].find("://") {
        let sep = search + i;
        // The scheme: letters, digits, + - . back from "://", starting with
        // a letter.
        let start = s[..sep]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |p| p + 1);
        let start = start
            + s[start..sep]
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(sep - start);
        // A quote does not end a URL inside its authority when userinfo
        // follows it (`https://user:it's@host/`, as an HTTP library quotes
        // it): the authority runs to the first `/`, `?`, `#` or space.
        let auth = sep + 3;
        let auth_end = s[auth..]
            .find(|c: char| c.is_whitespace() || "/?#".contains(c))
            .map_or(s.len(), |e| auth + e);
        let from = if s[auth..auth_end].contains('@') {
            auth_end
        } else {
            sep
        };
        let end = s[from..]
            .find(|c: char| c.is_whitespace() || "\"'<>`\\".contains(c))
            .map_or(s.len(), |e| from + e);
        let end = start
            + s[start..end]
                .trim_end_matches(|c: char| ".,;:!?)]}".contains(c))
                .len();
        search = end.max(sep + 3);
        if start == sep {
            continue;
        }
        if let Cow::Owned(r) = url(&s[start..end]) {
            out.push_str(&s[copied..start]);
            out.push_str(&r);
            copied = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// The shortest run of base64 characters [`long_base64`] hides: far
/// longer than a public key line (56 characters), far shorter than a
/// secret key line (about 212).
pub const LONG_BASE64: usize = 100;

/// Words shown instead of a long base64 run (see [`long_base64`]).
pub const LONG_BASE64_WORDS: &str = "(a long base64 text, not shown: it may be a secret key)";

/// `s` with every run of at least [`LONG_BASE64`] base64 characters
/// (`A-Z a-z 0-9 + / =`) replaced by [`LONG_BASE64_WORDS`]: a secret key's
/// line pasted where a public key or a key id belongs must not be repeated
/// in a message (a terminal's scrollback, a CI log, `--json` output).
pub fn long_base64(s: &str) -> Cow<'_, str> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
    let bytes = s.as_bytes();
    let mut out = String::new();
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if !is_b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i]) {
            i += 1;
        }
        if i - start >= LONG_BASE64 {
            // Both ends are ASCII: char boundaries.
            out.push_str(&s[copied..start]);
            out.push_str(LONG_BASE64_WORDS);
            copied = i;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// The length of `s`'s scheme if it starts with `scheme://`.
fn scheme_len(s: &str) -> Option<usize> {
    let n = s.find("://")?;
    let scheme = &s[..n];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some(n)
}

/// Whether `authority` (without userinfo) is `host[:port]` with a numeric
/// port, or a bracketed IPv6 address with one.
fn valid_authority(authority: &str) -> bool {
    let port = match authority.rfind(':') {
        Some(c) if !authority[c..].contains(']') => &authority[c + 1..],
        _ => return true,
    };
    port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked_and_the_host_kept() {
        for (given, shown) in [
            (
                "https://user:s3cr3t@vex.example/repo",
                "https://***@vex.example/repo",
            ),
            (
                "https://token@vex.example/repo",
                "https://***@vex.example/repo",
            ),
            ("https://user:@vex.example", "https://***@vex.example"),
            ("http://u:p@127.0.0.1:8080/", "http://***@127.0.0.1:8080/"),
            ("https://u:p@[::1]:8443/x", "https://***@[::1]:8443/x"),
            ("https://[fe80::1]/x", "https://[fe80::1]/x"),
            ("https://us%40er:p%3Ass%2F@host/x", "https://***@host/x"),
            // An unescaped '@' in the password: the last '@' ends it.
            ("https://user:p@ss@host/x", "https://***@host/x"),
            // ... a '/' or '?' ends the authority early: masked to the '@'.
            ("https://user:pa/ss@host/x", "https://***@host/x"),
            ("https://user:pa?ss@host/x", "https://***@host/x"),
            // No scheme.
            ("user:s3cr3t@host/repo", "***@host/repo"),
            ("ghcr.io/aquasec/trivy-db:2", "ghcr.io/aquasec/trivy-db:2"),
            ("/srv/vex/a.zip", "/srv/vex/a.zip"),
            ("", ""),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
    }

    #[test]
    fn an_at_sign_in_the_path_is_not_userinfo() {
        for s in [
            "https://host/a@b",
            "https://host:5000/v2/x/manifests/y@sha256:00",
            "ghcr.io/x/y@sha256:0123",
            "file:///srv/me@host/a.zip//top",
            "https://host:5000",
        ] {
            assert_eq!(url(s), s);
            assert!(matches!(url(s), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn query_values_and_fragments_are_masked() {
        assert_eq!(
            url("https://h/a.zip?token=abc&x&empty=&&ref=main//top"),
            "https://h/a.zip?token=***&***&empty=&&ref=***"
        );
        assert_eq!(url("https://h/p#frag"), "https://h/p#***");
        assert_eq!(url("https://h/p?#"), "https://h/p?#");
        assert_eq!(
            url("https://u:p@h/v2/r/blobs/uploads/x?_state=s%3D&digest=sha256%3A00"),
            "https://***@h/v2/r/blobs/uploads/x?_state=***&digest=***"
        );
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        assert_eq!(
            text("GET https://user:s3cr3t@127.0.0.1:1/x: connection refused"),
            "GET https://***@127.0.0.1:1/x: connection refused"
        );
        assert_eq!(
            text(r#"--vex-repo "http://a:b@h/r?t=1", then (see https://u:p@h2/q.) ok"#),
            r#"--vex-repo "http://***@h/r?t=***", then (see https://***@h2/q.) ok"#
        );
        assert_eq!(
            text("http://u:p@h/a\nhttps://v:q@k/b"),
            "http://***@h/a\nhttps://***@k/b"
        );
        for plain in [
            "no url here",
            "https://h/x: 404",
            "://x a:// ://",
            "9://u:p@h/",
            "cannot read /tmp/a@b",
        ] {
            assert!(matches!(text(plain), Cow::Borrowed(_)), "{plain}");
        }
        // A scheme glued to a word: the scheme starts at its first letter.
        assert_eq!(text("x=1https://u:p@h/"), "x=1https://***@h/");
        // Quotes in a password, as an HTTP library's error quotes the URL.
        assert_eq!(
            text("GET https://user:it's@127.0.0.1:1/x/y: Connection Failed"),
            "GET https://***@127.0.0.1:1/x/y: Connection Failed"
        );
        assert_eq!(
            text(r#"at "https://u:a"b'c@h:2/p" failed"#),
            r#"at "https://***@h:2/p" failed"#
        );
    }

    #[test]
    fn a_header_the_http_client_refused_is_not_quoted() {
        assert_eq!(
            text("GET https://u:p@vex.example/x: Bad Header: invalid header 'Authorization: Bearer s3cr\u{1}t'\nnext"),
            "GET https://***@vex.example/x: Bad Header: invalid header 'Authorization: ***'\nnext"
        );
        assert_eq!(
            text("invalid header 'Authorization: Bearer it's-secret' and invalid header 'X: y'"),
            "invalid header 'Authorization: ***'"
        );
        assert_eq!(text("valid header 'X: y'"), "valid header 'X: y'");
    }

    #[test]
    fn a_long_base64_run_is_hidden_and_a_public_key_line_kept() {
        let public = "RWROAy0+F05HKPVQT7sk3nO2DMHo8bM6bSzHcLgU9XU2ehfIv6OkJea9";
        assert!(matches!(long_base64(public), Cow::Borrowed(_)));
        let secret = format!("RWQAAEIy{}", "A".repeat(204));
        assert_eq!(
            long_base64(&format!("revoked \"{secret}\" is neither: {public}")),
            format!("revoked \"{LONG_BASE64_WORDS}\" is neither: {public}")
        );
        let edge = "x".repeat(LONG_BASE64 - 1);
        assert!(matches!(long_base64(&edge), Cow::Borrowed(_)));
        assert_eq!(
            long_base64(&format!("é{edge}y")),
            format!("é{LONG_BASE64_WORDS}")
        );
    }
}
