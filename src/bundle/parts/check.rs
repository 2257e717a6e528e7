//! `verify --parts-only`: each part of a set (or the one named) read and
//! checked against the signed index, every part's result reported.

use std::path::PathBuf;

use serde::Serialize;

use super::{PartError, PartSet};

/// One part, as checked against the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartCheck {
    /// Its number (1-based).
    pub number: usize,
    /// Its file name.
    pub name: String,
    /// Its size in the index.
    pub size: u64,
    /// Its SHA-256 in the index.
    pub sha256: String,
    /// Whether it is present with exactly that size and digest.
    pub ok: bool,
    /// Why not, when not.
    pub error: Option<String>,
}

/// The parts of a set, checked against its index.
#[derive(Debug, Serialize)]
pub struct PartsCheck {
    /// Whether every part checked is as the index says.
    pub ok: bool,
    /// The index file.
    pub index: PathBuf,
    /// The whole bundle's SHA-256.
    pub bundle_sha256: String,
    /// SHA-256 of the signed manifest inside the bundle.
    pub manifest_sha256: String,
    /// Each part checked, in order.
    pub parts: Vec<PartCheck>,
}

impl PartSet {
    /// Checks the part whose file name is `named`, if it is one of this
    /// set's, or else every part; each is read in full. Returns every
    /// part's result, and the first failure, if any.
    pub fn check_parts(&self, named: &str) -> (PartsCheck, Option<PartError>) {
        let numbers: Vec<usize> = match self.number_of(named) {
            Some(n) => vec![n],
            None => (1..=self.index.parts.len()).collect(),
        };
        let mut parts = Vec::with_capacity(numbers.len());
        let mut first_error = None;
        for n in numbers {
            let e = &self.index.parts[n - 1];
            let r = self.check_part(n);
            parts.push(PartCheck {
                number: n,
                name: e.name.clone(),
                size: e.size,
                sha256: e.sha256.clone(),
                ok: r.is_ok(),
                error: r.as_ref().err().map(|e| e.to_string()),
            });
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        let report = PartsCheck {
            ok: first_error.is_none(),
            index: self.index_path.clone(),
            bundle_sha256: self.index.sha256.clone(),
            manifest_sha256: self.index.manifest_sha256.clone(),
            parts,
        };
        (report, first_error)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::super::PartWriter;
    use super::*;
    use crate::keys::SecretKey;
    use crate::policy::TrustPolicy;

    /// A set of three 1000-byte parts of `b.airlock` in `dir`.
    fn three_parts(dir: &std::path::Path) -> PartSet {
        let mut w = PartWriter::new(dir, 1000);
        w.write_all(&[7u8; 3000]).expect("writes");
        let written = w.finish().expect("finishes");
        let key = SecretKey::generate("t").expect("a key");
        let report = written
            .persist(&dir.join("b.airlock"), &"0".repeat(64), &key, 0, false)
            .expect("persists");
        let policy = TrustPolicy::any_of(vec![key.public_key()]).expect("a policy");
        PartSet::open(&report.index, Some(&policy)).expect("opens")
    }

    #[test]
    fn every_part_is_checked_and_each_failure_reported() {
        let dir = tempfile::tempdir().expect("a directory");
        let set = three_parts(dir.path());
        let (report, first) = set.check_parts("b.airlock.parts");
        assert!(report.ok && first.is_none());
        assert_eq!(report.parts.len(), 3);
        assert_eq!(report.index, set.index_path);
        std::fs::write(set.part_path(2), [8u8; 1000]).expect("damages part 2");
        std::fs::remove_file(set.part_path(3)).expect("removes part 3");
        let (report, first) = set.check_parts("b.airlock.parts");
        assert!(!report.ok);
        let oks: Vec<bool> = report.parts.iter().map(|p| p.ok).collect();
        assert_eq!(oks, [true, false, false]);
        assert_eq!(report.parts[0].error, None);
        let first = first.expect("the first failure");
        assert_eq!(report.parts[1].error, Some(first.to_string()));
        assert!(report.parts[2].error.is_some());
    }

    #[test]
    fn a_named_part_is_checked_alone() {
        let dir = tempfile::tempdir().expect("a directory");
        let set = three_parts(dir.path());
        let name = set.index.parts[1].name.clone();
        let (report, first) = set.check_parts(&name);
        assert!(report.ok && first.is_none());
        assert_eq!(report.parts.len(), 1);
        assert_eq!((report.parts[0].number, &report.parts[0].name), (2, &name));
        let json = serde_json::to_value(&report.parts[0]).expect("serializes");
        assert!(json["error"].is_null(), "{json}");
    }
}
