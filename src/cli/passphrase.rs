//! Passphrases for encrypted secret keys: from `--passphrase-file`, the
//! `AIRLOCK_PASSPHRASE` environment variable, or a prompt on the terminal
//! (echo off), in that order. Never printed, zeroed after use.
//!
//! A passphrase file is held to the rule of a secret key file: a regular
//! file that group or others may read is refused (with the `chmod` that
//! fixes it). A pipe (`--passphrase-file <(pass show airlock)`) or a
//! terminal stores nothing and is not checked.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::io::AsRawFd as _;
use std::path::Path;

use super::failure::{Failure, Result};
use zeroize::Zeroizing;

use airlock::keys::{KeyFileError, SecretKey};

/// The environment variable holding a passphrase.
pub const ENV: &str = "AIRLOCK_PASSPHRASE";

fn from_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    // The mode of the file opened, not of whatever the path names later.
    let meta = f.metadata().map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        return Err(KeyFileError::PassphrasePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut text = Zeroizing::new(Vec::new());
    f.read_to_end(&mut text).map_err(io)?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Zeroizing::new(line.to_vec()))
}

/// Reads one line from the terminal with echo off; `None` without a terminal.
fn prompt(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    // SAFETY: an all-zero termios is a valid value to be overwritten.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return None;
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: valid descriptor and termios.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut out = &tty;
    let _ = out.write_all(text.as_bytes());
    let mut line = Zeroizing::new(Vec::new());
    let read = BufReader::new(&tty).read_until(b'\n', &mut line);
    // SAFETY: restores what tcgetattr gave.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
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
    Ok(prompt(&format!("Passphrase for {}: ", key.display())))
}

/// Reads a secret key, asking for its passphrase if it is encrypted.
pub fn load_secret(path: &Path, file: Option<&Path>) -> Result<SecretKey, KeyFileError> {
    SecretKey::from_file_with(path, &mut |p| for_key(p, file))
}

/// A new passphrase for keygen: from the file or environment, else asked
/// twice on the terminal.
pub fn new_passphrase(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    let pass = if let Some(f) = file {
        match from_file(f) {
            Err(KeyFileError::Io { source, .. }) => {
                return Err(Failure::from(source).context(format!("cannot read {}", f.display())))
            }
            r => r?,
        }
    } else if let Some(v) = std::env::var_os(ENV) {
        use std::os::unix::ffi::OsStringExt as _;
        Zeroizing::new(v.into_vec())
    } else {
        let Some(first) = prompt("Passphrase for the new key: ") else {
            return Err(Failure::usage(
                "keygen encrypts the secret key with a passphrase, and there is no terminal to ask for one\nhint: give --passphrase-file FILE or set AIRLOCK_PASSPHRASE, or pass --unencrypted to store the key in clear",
            ));
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
        return Err(Failure::usage(
            "the passphrase is empty\nhint: pass --unencrypted to store the key in clear",
        ));
    }
    Ok(pass)
}
