//! Passphrases for encrypted secret keys: from `--passphrase-file`, the
//! `AIRLOCK_PASSPHRASE` environment variable, or a prompt on the terminal
//! (echo off), in that order. Never printed, zeroed after use.
//!
//! A passphrase file is held to the rule of a secret key file: a regular
//! file that group or others may read is refused (with the `chmod` that
//! fixes it). A pipe (`--passphrase-file <(pass show airlock)`) or a
//! terminal stores nothing and is not checked.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};

use super::failure::{Failure, Result};
use airlock::error::PathIo;
use zeroize::Zeroizing;

use airlock::keys::{KeyFileError, SecretKey};

/// The environment variable holding a passphrase.
pub const ENV: &str = "AIRLOCK_PASSPHRASE";

fn from_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let io = PathIo::at_each("cannot read key file", path);
    let mut f = std::fs::File::open(path).map_err(&io)?;
    // The mode of the file opened, not of whatever the path names later.
    let meta = f.metadata().map_err(&io)?;
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        return Err(KeyFileError::PassphrasePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut text = Zeroizing::new(Vec::new());
    f.read_to_end(&mut text).map_err(&io)?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Zeroizing::new(line.to_vec()))
}

/// The terminal's settings from before echo went off, while it is off: what
/// [`restore_terminal`] puts back when a signal ends the process (a `Drop`
/// does not run then).
static SAVED: Mutex<Option<(OwnedFd, Termios)>> = Mutex::new(None);

fn saved() -> MutexGuard<'static, Option<(OwnedFd, Termios)>> {
    SAVED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Puts back the terminal settings an [`EchoOff`] changed, if one is alive.
/// The binary's signal handling calls it before it exits (SIGINT at the
/// passphrase prompt must not leave the terminal without echo).
pub fn restore_terminal() {
    // The lock is held while the settings go back, so an `EchoOff` being
    // made or dropped on another thread cannot slip in between.
    let mut saved = saved();
    if let Some((fd, settings)) = saved.take() {
        let _ = tcsetattr(&fd, OptionalActions::Now, &settings);
    }
}

/// Echo off on a terminal for as long as it lives (the newline still
/// echoes); the settings come back on drop, on every return and unwinding
/// path, and through [`restore_terminal`] on a signal.
struct EchoOff {
    tty: File,
    settings: Termios,
}

impl EchoOff {
    /// `None` if `tty` is not a terminal whose settings can be changed.
    fn new(tty: &File) -> Option<Self> {
        let settings = tcgetattr(tty).ok()?;
        let mut quiet = settings.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        let guard = EchoOff {
            tty: tty.try_clone().ok()?,
            settings,
        };
        // Registered and echo turned off under one lock: the signal path
        // restores either before both or after both.
        let mut saved = saved();
        *saved = Some((tty.try_clone().ok()?.into(), guard.settings.clone()));
        if tcsetattr(tty, OptionalActions::Now, &quiet).is_err() {
            *saved = None;
            return None;
        }
        drop(saved);
        Some(guard)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // Unregistered and restored under one lock: the signal path then
        // either has nothing to redo or waits until it is done.
        let mut saved = saved();
        saved.take();
        let _ = tcsetattr(&self.tty, OptionalActions::Now, &self.settings);
        drop(saved);
    }
}

/// Reads one line from the terminal with echo off; `None` without a terminal.
fn prompt(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let quiet = EchoOff::new(&tty)?;
    let mut out = &tty;
    let _ = out.write_all(text.as_bytes());
    let mut line = Zeroizing::new(Vec::new());
    let read = BufReader::new(&tty).read_until(b'\n', &mut line);
    drop(quiet);
    read.ok()?;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Some(line)
}

/// A passphrase for the existing key at `key`, or `None` if there is none to
/// be had.
pub fn for_key(
    key: &Path,
    file: Option<&Path>,
) -> Result<Option<Zeroizing<Vec<u8>>>, KeyFileError> {
    if let Some(f) = file {
        return from_file(f).map(Some);
    }
    if let Some(v) = std::env::var_os(ENV) {
        use std::os::unix::ffi::OsStringExt as _;
        return Ok(Some(Zeroizing::new(v.into_vec())));
    }
    Ok(prompt(&format!(
        "Passphrase for {}: ",
        super::show::path_line(key)
    )))
}

/// Reads a secret key, asking for its passphrase if it is encrypted; the
/// key derivation's wait is a phase of `progress` (issue 12).
pub fn load_secret(
    path: &Path,
    file: Option<&Path>,
    progress: &dyn airlock::progress::Progress,
) -> Result<SecretKey, KeyFileError> {
    airlock::keys::SecretKeyFile::read(path)?.unlock_reporting(&mut |p| for_key(p, file), progress)
}

/// Reads the secret keys that sign one bundle, refusing one key given
/// twice before any is unlocked ([`airlock::keys::unlock_each`]); each
/// key is unlocked once.
pub fn load_secrets(
    paths: &[std::path::PathBuf],
    file: Option<&Path>,
    progress: &dyn airlock::progress::Progress,
) -> Result<Vec<SecretKey>, KeyFileError> {
    airlock::keys::unlock_each(paths, &mut |p| for_key(p, file), progress)
}

/// A new passphrase for keygen: from the file or environment, else asked
/// twice on the terminal.
pub fn new_passphrase(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    let pass = if let Some(f) = file {
        match from_file(f) {
            Err(KeyFileError::Io(PathIo { source, .. })) => {
                return Err(Failure::from(source)
                    .context(format!("cannot read {}", super::show::path_line(f))))
            }
            r => r?,
        }
    } else if let Some(v) = std::env::var_os(ENV) {
        use std::os::unix::ffi::OsStringExt as _;
        Zeroizing::new(v.into_vec())
    } else {
        let Some(first) = prompt("Passphrase for the new key: ") else {
            return Err(Failure::usage(
                "keygen encrypts the secret key with a passphrase, and there is no terminal to ask for one",
            )
            .with_hint("give --passphrase-file FILE or set AIRLOCK_PASSPHRASE, or pass --unencrypted to store the key in clear"));
        };
        let again = prompt("Passphrase again: ").unwrap_or_default();
        if *first != *again {
            return Err(Failure::usage(
                "the two passphrases differ; nothing was written",
            ));
        }
        first
    };
    if pass.is_empty() {
        return Err(Failure::usage("the passphrase is empty")
            .with_hint("pass --unencrypted to store the key in clear"));
    }
    Ok(pass)
}
