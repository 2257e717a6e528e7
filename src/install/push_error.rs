//! Why a push failed: the error of [`super::push`] and of the registry
//! state it reads and records ([`super::registry_state`]), below both.

use crate::registry::RegistryError;

use super::ImportError;

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Reading the payload failed (the bundle).
    #[error("cannot read {0} from the bundle")]
    Read(String, #[source] std::io::Error),
    /// The bundle read for the push is not the one verified before.
    #[error("the bundle changed since it was verified (manifest sha256 {found}, verified {expected}); nothing was pushed")]
    Changed {
        /// What the second reading found.
        found: String,
        /// What the first reading verified.
        expected: String,
    },
    /// The bundle lacks something its manifest promised (cannot happen
    /// after verification; checked anyway).
    #[error("the bundle's {0} is missing or invalid")]
    Missing(String),
    /// The registry does not serve back what it accepted.
    #[error("the registry does not serve back what was pushed: {what}: {reason}")]
    ReadBack {
        /// What was read back.
        what: String,
        /// How it differed.
        reason: String,
    },
    /// The prefix's push history in the registry cannot be read exactly.
    #[error("the registry state {reference} is damaged ({reason}); nothing was pushed")]
    State {
        /// `host/<prefix>/airlock-state:latest`.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A database carried as a delta cannot be pushed: no cache to rebuild
    /// it from, or the cache no longer holds the delta's result.
    #[error("cannot push the {kind} of this delta bundle: {reason}; nothing was pushed")]
    Delta {
        /// trivy-db or java-db.
        kind: crate::manifest::ArtifactKind,
        /// Why.
        reason: String,
    },
    /// Another push changed the registry state during this one.
    #[error(
        "the registry state {reference} changed during this push (it was {before}, it is {now})"
    )]
    Raced {
        /// `host/<prefix>/airlock-state:latest`.
        reference: String,
        /// The digest read at the start (or "absent").
        before: String,
        /// The digest now (or "absent").
        now: String,
    },
}

impl crate::error::Classify for PushError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // The bundle was proven before the push began: what fails here
            // is the registry, the media or a concurrent push.
            PushError::Registry(_)
            | PushError::Read(..)
            | PushError::Changed { .. }
            | PushError::Missing(_)
            | PushError::ReadBack { .. }
            | PushError::State { .. }
            | PushError::Raced { .. } => HostFailure,
            // Pushing a delta bundle without the cache that applied it.
            PushError::Delta { .. } => Usage,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            PushError::Registry(e) => e.hint(),
            PushError::Changed { .. } => Hint::text("leave the media in place during the import"),
            PushError::ReadBack { .. } => Hint::text("the push is not done, and nothing is reported as pushed; check the registry (its storage, any proxy or cache in front of it) before pointing scanners at it, then push again"),
            PushError::State { .. } => Hint::text("it records the bundles pushed under this prefix, so that no import can downgrade the fleet; restore it, or delete that tag to start over (losing this protection until the next push)"),
            PushError::Raced { .. } => Hint::text("another push into the same prefix ran at the same time; push again, to be judged against what it recorded"),
            PushError::Delta { .. } => Hint::text("a delta bundle carries no layer: --push rebuilds one from the cache the delta is imported into; import it with --cache-dir and --push together"),
            PushError::Read(..) | PushError::Missing(_) => None,
        }
    }
}

impl From<PushError> for ImportError {
    fn from(e: PushError) -> Self {
        ImportError::Push(e)
    }
}
