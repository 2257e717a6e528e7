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
//!   and the [`std::io::Error`] as its source (never in its message);
//! - no message prints its source (the binary prints the chain), and none
//!   carries advice: [`Classify::hint`] returns it apart, as a [`Hint`], and
//!   advice that names a command-line flag is a [`FlagHint`] the binary
//!   words, so the library never names a flag.

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
    /// The trust policy itself is wrong: unreadable, a syntax or type
    /// error, an unknown key, a duplicate name, a key file it names that is
    /// missing or not a public key (exit code 7). Fix the policy, not the
    /// bundle.
    BadPolicy,
    /// Equivocation: a proven bundle with the same series and sequence as
    /// one already imported, but different content. One builder said two
    /// things under one number: a compromised or confused builder, never a
    /// downgrade to wave through (exit code 8).
    Equivocation,
    /// `status` with a limit (`--max-age`, `--max-db-age`): a component of
    /// the cache is older than its limit, of unknown age, or missing
    /// (exit code 9). Not a refusal of a bundle (that is 6): the data on
    /// the host is out of date, which a monitoring check alerts on.
    Stale,
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
            ExitClass::BadPolicy => 7,
            ExitClass::Equivocation => 8,
            ExitClass::Stale => 9,
        }
    }
}

/// An error that knows its [`ExitClass`]. Implementations match every
/// variant explicitly: no `_ =>` arm, so that adding a variant forces a
/// decision about its class.
pub trait Classify {
    /// The kind of failure.
    fn class(&self) -> ExitClass;

    /// What the user can do about it, if airlock knows (an error wrapping
    /// another passes on the inner error's advice).
    fn hint(&self) -> Option<Hint> {
        None
    }
}

/// Advice about an error, printed apart from its message (on a `hint:`
/// line by the binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Advice in words; it names no command-line flag.
    Text(String),
    /// Advice that names a command-line flag: the binary words it.
    Flag(FlagHint),
    /// Several pieces of advice (one per refusal of several sources).
    Several(Vec<Hint>),
}

impl Hint {
    /// Advice in words.
    pub fn text(text: impl Into<String>) -> Option<Hint> {
        Some(Hint::Text(text.into()))
    }
}

/// Advice that names a flag of the command line. The library says what
/// would help; the binary, which owns the flags, says how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagHint {
    /// An output exists: choose another, or replace it (`--force`).
    ReplaceOutput,
    /// The bundle export would write exists: another `-o` path, or `--force`.
    ReplaceBundle,
    /// A secret key needs its passphrase and there is no terminal to ask.
    Passphrase,
    /// Export was given no source.
    NameSources,
    /// `--created` lies ahead of the clock by more than `skew` allows.
    CreatedSkew {
        /// The most a bundle may be dated ahead, in words ("5 minutes").
        skew: String,
    },
    /// A downgrade the policy allows when forced (`--allow-downgrade`).
    AllowDowngrade,
    /// A host that may really speak only plain http (`--plain-http HOST`).
    PlainHttp {
        /// `host[:port]`.
        host: String,
        /// What it serves ("speaks only plain http", ...).
        serves: &'static str,
    },
    /// An https address that met a server not speaking TLS
    /// (`--plain-http HOST`; plain http is never tried after `--ca-cert`).
    NotTls {
        /// `host[:port]`.
        host: String,
        /// Whether a CA certificate was given.
        ca_cert: bool,
    },
    /// A certificate from a private CA (`--ca-cert`,
    /// `--insecure-skip-verify`).
    PrivateCa,
    /// A registry that did not answer within the deadline's base.
    DeadlineBase,
    /// A registry that sent nothing within the idle timeout.
    IdleTimeout,
    /// A token service on another host than its registry
    /// (`--allow-token-realm`).
    AllowTokenRealm {
        /// The registry.
        registry: String,
        /// The token service's `host[:port]`.
        realm_host: String,
    },
    /// Credentials for a registry (`--username`, `--password-stdin`).
    Credentials {
        /// The registry's `host[:port]`.
        host: String,
    },
    /// Credentials for a VEX server (`--vex-username`,
    /// `--vex-password-stdin`/`--vex-password-file`, `--vex-token-file`).
    VexCredentials {
        /// The server's `host[:port]`.
        host: String,
    },
    /// The network limits that gave up on a slow server.
    NetworkLimits,
    /// No trusted key was given (`--key`, `--trust`).
    TrustKeys,
    /// No signature by a trusted key: the signer's key (`--key`), or a
    /// signature by a trusted one.
    SignerKey,
    /// Another approval by `airlock sign --sign-key` (by a key with
    /// `role`, when a role minimum is what is missing).
    SignAgain {
        /// The role short of its minimum, if that is what is missing.
        role: Option<String>,
    },
    /// `sign` with a key whose approval the policy would not count:
    /// another key, or `--force` to add it anyway.
    ForceApproval,
    /// `--from-cache` names a directory that is not a Trivy cache.
    FromCache,
    /// No registry served an artifact: give its file instead (`--trivy-db
    /// FILE`...).
    GiveFiles {
        /// The artifact's flag name without dashes ("trivy-db").
        kind: String,
    },
}

/// A file-system operation that failed at a path: the host's trouble, not
/// the input's. Its message names the operation and the path; the
/// [`io::Error`] is its source, printed by whoever prints the chain.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}", crate::text::path(path))]
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

    /// A closure for `map_err` that builds the error of `what` at `path`
    /// (`?` converts it into the caller's error type):
    /// `fs::rename(a, b).map_err(PathIo::at("cannot rename into place", b))?`.
    pub fn at<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PathIo + 'a {
        move |source| PathIo::new(what, path, source)
    }

    /// Like [`PathIo::at`], for several operations on one path (a
    /// closure that can be called again).
    pub fn at_each<'a>(what: &'static str, path: &'a Path) -> impl Fn(io::Error) -> PathIo + 'a {
        move |source| PathIo::new(what, path, source)
    }

    /// The I/O error's kind (say, to tell "not found" from the rest).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// An error and its sources in one line, `outer: inner: ...`, for where
/// the library keeps a refusal as text (a skipped reference, a reason
/// inside another error): no message prints its own source.
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text
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

    /// Every `#[error(...)]` message of the library, read from its source
    /// files: `(file, line, text)`.
    fn library_messages() -> Vec<(String, usize, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(&src) {
            let entry = entry.expect("walk src");
            let rel = entry.path().strip_prefix(&src).expect("under src");
            // The command line may name its own flags.
            if rel.starts_with("cli") || rel == Path::new("main.rs") {
                continue;
            }
            if entry.path().extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).expect("read source");
            let mut lines = text.lines().enumerate();
            while let Some((n, line)) = lines.next() {
                let Some(start) = line.trim_start().strip_prefix("#[error(") else {
                    continue;
                };
                // A message may span lines up to the attribute's end.
                let mut message = start.to_string();
                while !message.trim_end().ends_with(")]") {
                    match lines.next() {
                        Some((_, more)) => message.push_str(more),
                        None => break,
                    }
                }
                out.push((rel.display().to_string(), n + 1, message));
            }
        }
        out
    }

    #[test]
    fn no_library_message_carries_advice_or_names_a_flag() {
        let messages = library_messages();
        assert!(messages.len() > 150, "{} messages found", messages.len());
        let flag = |m: &str| {
            m.match_indices("--")
                .any(|(i, _)| m[i + 2..].starts_with(|c: char| c.is_ascii_lowercase()))
        };
        let bad: Vec<_> = messages
            .iter()
            .filter(|(_, _, m)| m.contains("hint:") || flag(m))
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn no_library_message_prints_its_source() {
        // A variant whose message quotes `{source}` (or the `{0}` of a
        // `#[from]`) would print its cause twice once the chain is printed.
        let bad: Vec<_> = library_messages()
            .into_iter()
            .filter(|(_, _, m)| m.contains("{source}"))
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
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
