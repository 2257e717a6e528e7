//! An outside review of the stricter manifest reading (issue 16): deep
//! nesting a trusted signer's manifest (at most 1 MiB) could carry. These
//! held: toml_edit's recursion limit refuses dotted keys, table headers and
//! inline arrays ~500 000 levels deep before check_no_datetime recurses.
//!
//! A stack overflow aborts the whole process, so each probe runs in a child
//! process (this test binary, re-run on the one test) whose exit status is
//! judged: a refusal is an orderly `Err`, a crash is a signal.

use super::*;

const CHILD: &str = "AIRLOCK_REVIEW_SPEC_CHILD";

/// Runs `probe` in a child process, on a thread with the 8 MiB stack the
/// CLI's main thread has, and asserts the child exits normally.
fn survives(test: &str, probe: fn()) {
    if std::env::var_os(CHILD).is_some() {
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(probe)
            .unwrap()
            .join()
            .unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the probe crashed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A manifest of at most `MAX_MANIFEST` bytes: the envelope, then `body`.
fn within_limit(body: String) -> Vec<u8> {
    let text = format!("format = \"airlock-bundle\"\nformat_version = \"1.2\"\n{body}");
    assert!(
        text.len() as u64 <= crate::bundle::MAX_MANIFEST,
        "{}",
        text.len()
    );
    text.into_bytes()
}

fn dotted_table() {
    // `[a.a.a. ... .a]`: one table header, ~500 000 levels of nesting, no
    // recursion needed to parse it.
    let depth = 500_000;
    let body = format!("[{}a]\n", "a.".repeat(depth));
    let err = Manifest::parse(&within_limit(body)).unwrap_err();
    eprintln!(
        "refused: {}",
        &err.to_string()[..err.to_string().len().min(200)]
    );
}

#[test]
fn deeply_nested_dotted_table_is_refused_not_a_crash() {
    survives(
        "manifest::review_spec_tests::deeply_nested_dotted_table_is_refused_not_a_crash",
        dotted_table,
    );
}

fn dotted_key() {
    let depth = 500_000;
    let body = format!("{}a = 1\n", "a.".repeat(depth));
    let err = Manifest::parse(&within_limit(body)).unwrap_err();
    eprintln!(
        "refused: {}",
        &err.to_string()[..err.to_string().len().min(200)]
    );
}

#[test]
fn deeply_nested_dotted_key_is_refused_not_a_crash() {
    survives(
        "manifest::review_spec_tests::deeply_nested_dotted_key_is_refused_not_a_crash",
        dotted_key,
    );
}

fn inline_arrays() {
    let depth = 400_000;
    let body = format!("x = {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let err = Manifest::parse(&within_limit(body)).unwrap_err();
    eprintln!(
        "refused: {}",
        &err.to_string()[..err.to_string().len().min(200)]
    );
}

#[test]
fn deeply_nested_inline_arrays_are_refused_not_a_crash() {
    survives(
        "manifest::review_spec_tests::deeply_nested_inline_arrays_are_refused_not_a_crash",
        inline_arrays,
    );
}

/// Times of SPEC.md section 3's grammar and RFC 3339's ranges (seconds
/// 00-60, any number of fraction digits) that a reader following the text
/// must accept.
/// (SPEC text revision 3 decided the reviewer's question: a leap second
/// only at 23:59:60 UTC; `2026-01-01T12:00:60Z` moved to the refused list.)
#[test]
fn times_of_the_grammar_and_rfc3339_ranges_are_accepted() {
    let mut refused = Vec::new();
    for ok in [
        "2026-01-01T00:00:00.123456789012345678901234567890Z",
        "0000-01-01T00:00:00Z",
        "2026-01-01T00:00:00-00:00",
        "2026-01-01T00:00:00+23:59",
        "2016-12-31T23:59:60Z",
        "2017-01-01T00:59:60+01:00",
    ] {
        if let Err(e) = types::Rfc3339Time::new(ok) {
            refused.push(format!("{ok}: {e}"));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

/// Times outside RFC 3339's ranges that the shape check passes.
#[test]
fn times_outside_rfc3339_ranges_are_refused() {
    for bad in [
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+00:60",
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:61Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01T12:00:60Z",
    ] {
        assert!(types::Rfc3339Time::new(bad).is_err(), "{bad}");
    }
}

/// The envelope's refusals show the hostile field whole: a signed manifest's
/// `format` or `format_version` of ~1 MiB becomes a ~1 MiB error line
/// (the field types cut what they show at 100 characters, `shown`).
#[test]
fn envelope_errors_do_not_print_a_huge_field_whole() {
    let huge = "x".repeat(900_000);
    for body in [
        format!("format = \"{huge}\"\nformat_version = \"1.2\"\n"),
        format!("format = \"airlock-bundle\"\nformat_version = \"{huge}\"\n"),
    ] {
        let err = Manifest::parse(body.as_bytes()).unwrap_err().to_string();
        assert!(err.len() < 4096, "{} bytes: {}...", err.len(), &err[..120]);
    }
}

/// The extreme instants the grammar allows (year 0000 under `+23:59`,
/// year 9999 under `-23:59`: UTC years -1 and 10000) are compared and
/// subtracted without a panic.
#[test]
fn extreme_times_are_compared_without_a_panic() {
    let low = types::Rfc3339Time::new("0000-01-01T00:00:00+23:59").unwrap();
    let high = types::Rfc3339Time::new("9999-12-31T23:59:59.999999999-23:59").unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert!(low.at() < now && high.at() > now);
    assert!(validate::db_window(&low, &high).is_err());
    assert!(validate::db_window(&high, &low).is_err());
    let _ = now + validate::MAX_CLOCK_SKEW;
    let _ = format!("{high} {low} {:?}", high.at() - low.at());
}
