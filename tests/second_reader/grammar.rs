//! The OCI grammars of SPEC.md section 3 (repository, tag, reference,
//! media type), split from manifest.rs.

use super::manifest::oci_digest;

fn repo_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

pub fn repository(s: &str) -> bool {
    s.len() <= 255 && s.split('/').all(repo_component)
}

pub fn tag(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=128).contains(&b.len())
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || b"._-".contains(&x))
}

pub fn media_type(s: &str) -> bool {
    // RFC 6838 restricted-name: 1-127 chars, first alnum, then alnum and !#$&-^_.+
    let name = |n: &str| {
        let b = n.as_bytes();
        (1..=127).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|&x| x.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&x))
    };
    s.split_once('/').is_some_and(|(t, st)| name(t) && name(st))
}

pub fn reference(s: &str) -> bool {
    // host[:port]/repository[:tag][@digest]
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !oci_digest(d)) {
        return false;
    }
    let Some((host, path)) = rest.split_once('/') else {
        return false;
    };
    let (host, port) = match host.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    if host.is_empty()
        || !host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let (repo, t) = match path.rsplit_once(':') {
        Some((r, t)) => (r, Some(t)),
        None => (path, None),
    };
    repository(repo) && t.is_none_or(tag)
}
