//! A static VEX repository directory (vex-repo-spec 0.1) that any web server
//! (or `file://`) can serve:
//!
//! ```text
//! <vex-dir>/<name>/.well-known/vex-repository.json   location rewritten to
//! <vex-dir>/<name>/archive.zip                        <url>/<name>/archive.zip//<folder>
//! ```
//!
//! Trivy fetches `<repository url>/.well-known/vex-repository.json` for any
//! host but github.com, and needs the `//<folder>` suffix when the archive
//! has a top folder (without it the download "succeeds" and is ignored).

use std::path::Path;

/// The repository URL Trivy's repository.yaml should name.
pub fn repository_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// The archive file name inside the repository directory.
pub fn archive_file(format: &str) -> String {
    format!("archive.{format}")
}

/// The location URL to write into the published vex-repository.json.
pub fn location(base: &str, name: &str, format: &str, subdir: &str) -> String {
    let url = format!("{}/{}", repository_url(base, name), archive_file(format));
    if subdir.is_empty() {
        url
    } else {
        format!("{url}//{subdir}")
    }
}

/// The `file://` URL of a directory (absolute path; spaces, `%`, `#`, `?`,
/// `"`, `\\` and every character [`crate::text::is_unsafe`] refuses
/// percent-encoded, so the URL is one line of visible text).
pub fn file_url(dir: &Path) -> String {
    let s = dir.display().to_string();
    let mut out = String::from("file://");
    for c in s.chars() {
        if matches!(c, ' ' | '%' | '#' | '?' | '"' | '\\') || crate::text::is_unsafe(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}
