//! The identity of each tree an import swaps: carried from the plan through
//! the swap to the report and the audit record, so nothing is matched by
//! position (issue 18).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::layout::trivy_cache;
use crate::manifest::ArtifactKind;

/// One component an import installs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentId {
    /// `db/`, `java-db/` or `policy/` in the cache.
    Artifact(ArtifactKind),
    /// `vex/repositories/<name>/` in the cache.
    VexRepository(String),
    /// `<vex-dir>/<name>/` in the static VEX directory (which keeps no
    /// previous generation).
    StaticVex(String),
}

impl ComponentId {
    /// Its path relative to the cache, or `None` for a static VEX
    /// directory's tree (which lives outside the cache).
    pub fn cache_path(&self) -> Option<PathBuf> {
        match self {
            ComponentId::Artifact(kind) => Some(PathBuf::from(trivy_cache::component(*kind))),
            ComponentId::VexRepository(name) => {
                Some(Path::new(trivy_cache::VEX_REPOSITORIES).join(name))
            }
            ComponentId::StaticVex(_) => None,
        }
    }
}

/// `db`, `vex/repositories/<name>`, `vex-dir/<name>`.
impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentId::Artifact(kind) => f.write_str(trivy_cache::component(*kind)),
            ComponentId::VexRepository(name) => {
                write!(f, "{}/{name}", trivy_cache::VEX_REPOSITORIES)
            }
            ComponentId::StaticVex(name) => write!(f, "vex-dir/{name}"),
        }
    }
}

impl Serialize for ComponentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_place_in_the_cache() {
        let db = ComponentId::Artifact(ArtifactKind::TrivyDb);
        assert_eq!(db.cache_path(), Some(PathBuf::from("db")));
        let repo = ComponentId::VexRepository("default".into());
        assert_eq!(repo.to_string(), "vex/repositories/default");
        assert_eq!(
            repo.cache_path(),
            Some(PathBuf::from("vex/repositories/default"))
        );
        let stat = ComponentId::StaticVex("default".into());
        assert_eq!(stat.cache_path(), None);
        assert_eq!(serde_json::to_string(&stat).unwrap(), "\"vex-dir/default\"");
    }
}
