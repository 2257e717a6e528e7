//! Times as airlock writes and reads them: RFC 3339, UTC, to the second
//! (Go's `time.Time` JSON form, which Trivy's metadata also uses).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    t.format(&Rfc3339).expect("a UTC time always formats")
}
