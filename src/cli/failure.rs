//! How a command fails: a [`Failure`] is an error chain (with the context
//! the command added) and the [`ExitClass`] it was given where it arose.
//! Library errors convert with their own class ([`Classify`]); failures of
//! the command line itself say theirs explicitly. `main` maps the class to
//! the exit code without looking at types.

use std::fmt;

use airlock::error::{Classify, ExitClass};

/// A failed command: its class, its error chain, and the advice of the
/// library error it came from (worded by [`super::hint`]).
pub struct Failure {
    class: ExitClass,
    error: anyhow::Error,
    hints: Vec<String>,
    /// How many links at the head of the chain are the command line's own
    /// context (each said on its own line).
    contexts: usize,
    /// Whether the command has said everything already (`status` past its
    /// limits: its report and `airlock: stale:` lines): only the exit code
    /// is left to give.
    said: bool,
}

/// The result of a command.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    /// A failure of `class` with `error` as its chain.
    pub fn new(class: ExitClass, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            class,
            error: error.into(),
            hints: Vec::new(),
            contexts: 0,
            said: false,
        }
    }

    /// A failure of `class` whose words the command has printed itself:
    /// `main` adds nothing but the exit code.
    pub fn said(class: ExitClass, error: impl fmt::Display) -> Self {
        Failure {
            said: true,
            ..Failure::msg(class, error)
        }
    }

    /// Whether the command has said everything already (see
    /// [`Failure::said`]).
    pub fn is_said(&self) -> bool {
        self.said
    }

    /// A library error as a failure: its class, its chain, its advice.
    pub fn classified<E>(e: E) -> Self
    where
        E: Classify + std::error::Error + Send + Sync + 'static,
    {
        let hints = e.hint().map(|h| super::hint::lines(&h)).unwrap_or_default();
        Failure {
            hints,
            ..Failure::new(e.class(), e)
        }
    }

    /// A failure of `class` with just a message.
    pub fn msg(class: ExitClass, message: impl fmt::Display) -> Self {
        Failure::new(class, anyhow::Error::msg(message.to_string()))
    }

    /// The command line cannot work as given (exit code 2, like clap's).
    pub fn usage(message: impl fmt::Display) -> Self {
        Failure::msg(ExitClass::Usage, message)
    }

    /// The host failed (exit code 1).
    pub fn host(message: impl fmt::Display) -> Self {
        Failure::msg(ExitClass::HostFailure, message)
    }

    /// A library error said in the command line's words (`message` names
    /// the flag the library cannot know of); its class and advice are kept.
    pub fn reworded<E: Classify>(e: &E, message: impl fmt::Display) -> Self {
        let hints = e.hint().map(|h| super::hint::lines(&h)).unwrap_or_default();
        Failure {
            hints,
            ..Failure::msg(e.class(), message)
        }
    }

    /// The failure with one more line of advice, printed on a `hint:` line
    /// of its own (never inside the message, where quoted text could forge
    /// one).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// The class the failure was given where it arose.
    pub fn class(&self) -> ExitClass {
        self.class
    }

    /// The advice to print after the message, one line each.
    pub fn hints(&self) -> &[String] {
        &self.hints
    }

    /// The error chain, outermost first.
    pub fn chain(&self) -> anyhow::Chain<'_> {
        self.error.chain()
    }

    /// What to print, outermost first: each context the command line
    /// added, then the error it came from with its sources, `outer: inner`
    /// (a message never repeats its source, so nothing is said twice).
    pub fn lines(&self) -> Vec<String> {
        let mut chain = self.error.chain().map(|c| c.to_string());
        let mut lines: Vec<String> = chain.by_ref().take(self.contexts).collect();
        let rest: Vec<String> = chain.collect();
        if !rest.is_empty() {
            lines.push(rest.join(": "));
        }
        lines
    }

    /// The failure with `context` said before it (the class is kept).
    pub fn context<C>(self, context: C) -> Self
    where
        C: fmt::Display + Send + Sync + 'static,
    {
        Failure {
            class: self.class,
            error: self.error.context(context),
            hints: self.hints,
            contexts: self.contexts + 1,
            said: self.said,
        }
    }

    /// Whether anything in the chain is a broken pipe (stdout closed by
    /// `head`, say): not a failure of the command.
    pub fn is_broken_pipe(&self) -> bool {
        self.error.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("class", &self.class)
            .field("error", &self.error)
            .field("hints", &self.hints)
            .finish()
    }
}

/// Context for a result whose error becomes a [`Failure`] (a library
/// error, an I/O error of the command line, a failure already).
pub trait Context<T> {
    /// Says `context` before the error; the error's class is kept.
    fn context<C>(self, context: C) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static;

    /// Like [`Context::context`], the context made only on failure.
    fn with_context<C, F>(self, f: F) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E: Into<Failure>> Context<T> for std::result::Result<T, E> {
    fn context<C>(self, context: C) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
    {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C, F>(self, f: F) -> Result<T>
    where
        C: fmt::Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Library errors become failures of their own class. Every error type the
/// library returns to the command line is listed: one missing here does not
/// compile at its `?`.
macro_rules! classified {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::classified(e)
            }
        }
    )*};
}

classified!(
    airlock::bundle::parts::PartError,
    airlock::bundle::reader::BundleError,
    airlock::export::ExportError,
    airlock::export::sequence::SequenceError,
    airlock::fsio::preflight::OutputError,
    airlock::install::ImportError,
    airlock::install::audit::AuditError,
    airlock::keys::KeyError,
    airlock::keys::KeyFileError,
    airlock::manifest::ManifestError,
    airlock::media::MediaError,
    airlock::policy::PolicyError,
    airlock::registry::RegistryError,
    airlock::sign::SignError,
);

/// The command line's own I/O (stdout, a file it writes): the host's.
impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(ExitClass::HostFailure, e)
    }
}

/// Turning a report into JSON cannot fail on airlock's own types; if it
/// did, the host (memory) would be at fault.
impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::new(ExitClass::HostFailure, e)
    }
}

impl From<super::UsageError> for Failure {
    fn from(e: super::UsageError) -> Self {
        Failure::new(ExitClass::Usage, e)
    }
}
