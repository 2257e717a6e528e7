//! The error model every library error follows (issue 18, "One error
//! model"):
//!
//! - each error enum implements [`Classify`]: an exhaustive `match` with no
//!   wildcard arm names the [`ExitClass`] of every variant, so a new variant
//!   does not compile without its class, and the binary maps the class to
//!   its exit code without inspecting types;
//! - an error wrapping another either delegates to the inner error's class
//!   or states why the wrapper knows better;
//! - file-system failures carry a [`PathIo`]: what was being done, where,
//!   and the [`std::io::Error`] as its source (never in its message).

use std::io;
use std::path::{Path, PathBuf};

/// What kind of failure an error is, as the exit code tells a script
/// (README.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitClass {
    /// The host failed, not the input: I/O, permissions, a lock, the
    /// network, a key file (exit code 1).
    HostFailure,
    /// The command cannot work as given: a bad or conflicting argument, an
    /// output that exists (exit code 2, clap's own).
    Usage,
    /// The signatures do not prove the bundle: untrusted, unsigned, altered,
    /// or no usable trust policy (exit code 3).
    NotProven,
    /// The bundle is damaged, truncated, of an unknown format, or its
    /// content is unsafe or contradicts its manifest (exit code 4).
    Damaged,
    /// Export refused its input: not a valid Trivy artifact (exit code 5).
    BadInput,
    /// A proven bundle refused by the freshness or downgrade rules: stale,
    /// older than what is installed, or from the future (exit code 6).
    Downgrade,
}

impl ExitClass {
    /// The process exit code of the class (README.md, "Exit codes").
    pub fn code(self) -> u8 {
        match self {
            ExitClass::HostFailure => 1,
            ExitClass::Usage => 2,
            ExitClass::NotProven => 3,
            ExitClass::Damaged => 4,
            ExitClass::BadInput => 5,
            ExitClass::Downgrade => 6,
        }
    }
}

/// An error that knows its [`ExitClass`]. Implementations match every
/// variant explicitly: no `_ =>` arm, so that adding a variant forces a
/// decision about its class.
pub trait Classify {
    /// The kind of failure.
    fn class(&self) -> ExitClass;
}

/// A file-system operation that failed at a path: the host's trouble, not
/// the input's. Its message names the operation and the path; the
/// [`io::Error`] is its source, printed by whoever prints the chain.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", path.display())]
pub struct PathIo {
    /// What was being done ("cannot create", "cannot rename into place").
    pub what: &'static str,
    /// Where.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

impl PathIo {
    /// The error of `what` failing at `path`.
    pub fn new(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        PathIo {
            what,
            path: path.into(),
            source,
        }
    }

    /// A closure for `map_err` that builds the error of `what` at `path`,
    /// converted into the caller's error type:
    /// `fs::rename(a, b).map_err(PathIo::at("cannot rename into place", b))?`.
    pub fn at<'a, E: From<PathIo>>(
        what: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> E + 'a {
        move |source| E::from(PathIo::new(what, path, source))
    }

    /// The I/O error's kind (say, to tell "not found" from the rest).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl Classify for PathIo {
    fn class(&self) -> ExitClass {
        ExitClass::HostFailure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            ExitClass::HostFailure,
            ExitClass::Usage,
            ExitClass::NotProven,
            ExitClass::Damaged,
            ExitClass::BadInput,
            ExitClass::Downgrade,
        ]
        .into_iter()
        .map(ExitClass::code)
        .collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_path_io_error_does_not_print_its_source() {
        let e = PathIo::new(
            "cannot open",
            "/x/y",
            io::Error::new(io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.to_string(), "cannot open /x/y");
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("gone"));
    }
}
