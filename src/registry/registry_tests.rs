//! Unit tests of the registry client's parts.

use std::time::Duration;

use super::agents::no_proxy_matches;
use super::call::{follows_redirects, retry_after, spec_success};
use super::token::{parse_challenge, Challenge};
use super::*;

#[test]
fn no_proxy_entries() {
    for (entry, host, hit) in [
        ("*", "anything.example", true),
        ("example.com", "example.com", true),
        (".example.com", "reg.example.com", true),
        ("example.com", "reg.example.com", true),
        ("example.com", "badexample.com", false),
        ("127.0.0.1", "127.0.0.1", true),
        ("127.0.0.1:5000", "127.0.0.1", true),
        ("127.0.0.0/8", "127.0.0.1", true),
        ("10.0.0.0/8", "127.0.0.1", false),
        ("::1", "::1", true),
        ("[::1]", "::1", true),
        ("[::1]:5000", "::1", true),
        ("::1/128", "::1", true),
        ("fd00::/8", "fd12::1", true),
        ("0.1", "10.0.0.1", false),
        ("", "example.com", false),
    ] {
        assert_eq!(no_proxy_matches(entry, host), hit, "{entry:?} {host:?}");
    }
}

#[test]
fn success_is_what_the_spec_defines() {
    assert_eq!(spec_success("GET"), &[200]);
    assert_eq!(spec_success("HEAD"), &[200]);
    assert_eq!(spec_success("PUT"), &[201]);
    assert_eq!(spec_success("POST"), &[202]);
    for m in ["POST", "PUT", "PATCH", "DELETE"] {
        assert!(!follows_redirects(m), "{m}");
    }
    assert!(follows_redirects("GET") && follows_redirects("HEAD"));
}

#[test]
fn urls_in_messages_carry_no_credentials_or_tokens() {
    assert_eq!(
        redact("https://user:secret@registry.example:5000/v2/a/blobs/uploads/u1?_state=abc&digest=sha256%3A00"),
        "https://registry.example:5000/v2/a/blobs/uploads/u1?_state=...&digest=sha256%3A00"
    );
    assert_eq!(
        redact("https://s3.example/bucket/x?X-Amz-Signature=deadbeef"),
        "https://s3.example/bucket/x?X-Amz-Signature=..."
    );
    assert_eq!(
        redact("/v2/elsewhere/manifests/2"),
        "/v2/elsewhere/manifests/2"
    );
    assert_eq!(redact("http://h/v2/"), "http://h/v2/");
}

#[test]
fn retry_after_in_seconds_or_as_a_date() {
    assert_eq!(retry_after(" 2 "), Some(Duration::from_secs(2)));
    assert_eq!(retry_after("3600"), Some(Duration::from_secs(3600)));
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(Duration::ZERO)
    );
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let text = later
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    let d = retry_after(&text).unwrap();
    assert!(
        d > Duration::from_secs(7000) && d <= Duration::from_secs(7200),
        "{d:?}"
    );
    assert_eq!(retry_after("soon"), None);
    assert_eq!(retry_after("-5"), None);
}

#[test]
fn challenges_and_loopback() {
    let c = parse_challenge(
        r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
    );
    let Challenge::Bearer { realm, service } = c else {
        panic!("{c:?}")
    };
    assert_eq!(realm, "https://auth.example/token");
    assert_eq!(service.as_deref(), Some("registry.example"));
    assert!(matches!(
        parse_challenge("Basic realm=\"x\""),
        Challenge::Basic
    ));
    for h in ["127.0.0.1:5000", "localhost", "[::1]:5000", "127.8.9.10"] {
        assert!(is_loopback(h), "{h}");
    }
    for h in ["registry.local:5000", "10.0.0.1", "example.com"] {
        assert!(!is_loopback(h), "{h}");
    }
}
