//! Docker Hub references as Docker writes them: `docker.io/x`,
//! `index.docker.io/x` and a bare `x` or `user/x` name the registry at
//! `registry-1.docker.io`, where a one-part repository lives under
//! `library/` (the distribution project's `ParseNormalizedNamed`).
//!
//! On airlock's command line a source is a file or a reference with a
//! host, so a bare name there stays a file name (`db.tar.gz` is also a
//! valid repository name); [`normalize`] reads it as Docker does for the
//! callers that know they hold a reference.

use crate::oci_name::{NameError, Reference};

/// The host Docker Hub's API is served from.
pub const DOCKER_HUB: &str = "registry-1.docker.io";

/// The names Docker gives Docker Hub in references.
const HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", DOCKER_HUB];

/// `text` with Docker Hub's names normalised: the host
/// [`DOCKER_HUB`] and `library/` before a one-part repository. Any other
/// reference comes back as it is.
pub fn normalize(text: &str) -> String {
    let (first, rest) = match text.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (text, None),
    };
    // Docker's rule: the first part is a registry when it has a dot or a
    // colon or is `localhost`; otherwise the whole text is a Hub path.
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    let (host, path) = match rest {
        Some(r) if is_host => (first, r),
        _ => ("docker.io", text),
    };
    if !HUB_ALIASES.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return text.to_string();
    }
    // The repository part ends at the tag's ':' or the digest's '@'.
    let name_end = path.find(['@', ':']).unwrap_or(path.len());
    if path[..name_end].contains('/') {
        format!("{DOCKER_HUB}/{path}")
    } else {
        format!("{DOCKER_HUB}/library/{path}")
    }
}

/// [`Reference::parse`] of `text` after [`normalize`].
pub fn parse(text: &str) -> Result<Reference, NameError> {
    Reference::parse(&normalize(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_references_are_normalised_as_docker_does() {
        let d = format!("sha256:{}", "a".repeat(64));
        for (text, want) in [
            ("ubuntu", "registry-1.docker.io/library/ubuntu:latest"),
            ("ubuntu:24.04", "registry-1.docker.io/library/ubuntu:24.04"),
            (
                "aquasec/trivy-db:2",
                "registry-1.docker.io/aquasec/trivy-db:2",
            ),
            (
                "docker.io/ubuntu",
                "registry-1.docker.io/library/ubuntu:latest",
            ),
            (
                "docker.io/library/ubuntu:1",
                "registry-1.docker.io/library/ubuntu:1",
            ),
            (
                "index.docker.io/aquasec/trivy-db:2",
                "registry-1.docker.io/aquasec/trivy-db:2",
            ),
            ("Docker.IO/x", "registry-1.docker.io/library/x:latest"),
            (
                "registry-1.docker.io/x:1",
                "registry-1.docker.io/library/x:1",
            ),
            (
                "mirror.gcr.io/aquasec/trivy-db:2",
                "mirror.gcr.io/aquasec/trivy-db:2",
            ),
            ("localhost/x:1", "localhost/x:1"),
            ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
        ] {
            assert_eq!(parse(text).unwrap().to_string(), want, "{text}");
        }
        let r = parse(&format!("ubuntu@{d}")).unwrap();
        assert_eq!(r.host, DOCKER_HUB);
        assert_eq!(r.repository, "library/ubuntu");
        assert_eq!(r.reference, d);
        // A port keeps a name a registry; what Docker refuses stays refused.
        assert_eq!(normalize("docker.io:5000/x"), "docker.io:5000/x");
        for bad in ["", "Ubuntu", "docker.io/", "docker.io/UPPER", "a//b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
