//! Temporary work folders and output files that must not outlive their run.
//!
//! Export downloads into a work folder beside its output and writes the
//! bundle (or its parts) to a temporary file there; `sign`, `split` and
//! `join` write temporary files beside theirs. Each is removed on `Drop`,
//! which neither a signal nor a crash runs, and a hostile server can fill
//! gigabytes of them in seconds (issue 17). Two mechanisms close that:
//!
//! - **Signals.** Every such path is registered here while it exists
//!   ([`work_dir`], [`temp_file`]); a program's signal handler calls
//!   [`remove_all_then`] to remove them all before it exits. The library
//!   installs no handler itself (a library must not take over a program's
//!   signals): the `airlock` binary does, at start.
//! - **Dead runs** (SIGKILL, power loss, a crash). The run holds an
//!   exclusive `flock` on each path (on the folder itself, or on the file's
//!   own descriptor) for its lifetime; [`sweep`] removes every airlock
//!   leftover in a directory whose lock it can take, since the kernel drops
//!   a lock when its process dies, and never touches one whose lock is held
//!   (a live run's). Export sweeps its output directory before it starts,
//!   `split` and `join` theirs.
//!
//! The race between a run creating a path and another run sweeping it is
//! closed like a lock file's: the creator locks, then checks that the name
//! still leads to what it locked (or starts over); the sweeper checks the
//! same under the lock before removing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub mod held;
pub mod interrupt;

/// Name patterns (prefix, suffix) of the paths airlock creates through this
/// module: what [`sweep`] may remove. Import's staging directories are not
/// among them: import removes its own under the cache lock.
pub const LEFTOVERS: &[(&str, &str)] = &[
    (".airlock-export-", ""),
    (".airlock-bundle-", ".partial"),
    (".airlock-part-", ".partial"),
    (".airlock-sign-", ".partial"),
    (".airlock-sums-", ".partial"),
];

/// How many random characters `tempfile` puts between prefix and suffix
/// (its default, used by [`work_dir`] and [`temp_file`]), each of
/// `A-Z a-z 0-9`.
pub const RANDOM_LEN: usize = 6;

/// Whether `name` is one of the [`LEFTOVERS`] patterns: prefix, random
/// part, suffix, and nothing else. The random part is held to tempfile's
/// alphabet and at most [`RANDOM_LEN`] characters, so a user's own
/// `.airlock-export-settings-backup` or `.airlock-bundle-old-2024.partial`
/// is not airlock's. (Fewer than [`RANDOM_LEN`] are accepted only because
/// `cleanup::held`'s tests name a dead run's file `.airlock-sign-dead.partial`;
/// airlock itself never writes one.)
pub fn is_leftover_name(name: &str) -> bool {
    LEFTOVERS.iter().any(|(prefix, suffix)| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|random| {
                (1..=RANDOM_LEN).contains(&random.len())
                    && random.bytes().all(|b| b.is_ascii_alphanumeric())
            })
    })
}

/// A set of registered paths. The process has one ([`register`],
/// [`remove_all_then`]); tests make their own.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    next: u64,
    paths: Vec<(u64, PathBuf, bool)>,
}

/// What [`Registry::remove_all`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// The paths removed.
    pub paths: Vec<PathBuf>,
    /// Their bytes (file lengths, summed over folders).
    pub bytes: u64,
}

impl Registry {
    /// An empty registry.
    pub const fn new() -> Self {
        Registry {
            inner: Mutex::new(Entries {
                next: 0,
                paths: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic elsewhere must not stop the clean-up.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `path` (a folder if `dir`) until the returned id is
    /// [`Registry::unregister`]ed.
    pub fn register(&self, path: &Path, dir: bool) -> u64 {
        let mut e = self.lock();
        e.next += 1;
        let id = e.next;
        e.paths.push((id, path.to_path_buf(), dir));
        id
    }

    /// Forgets a registration (its owner removed or kept the path itself).
    pub fn unregister(&self, id: u64) {
        self.lock().paths.retain(|(i, ..)| *i != id);
    }

    /// The paths registered now.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock()
            .paths
            .iter()
            .map(|(_, p, _)| p.clone())
            .collect()
    }

    /// Removes every registered path and forgets it.
    pub fn remove_all(&self) -> Removed {
        let mut e = self.lock();
        remove_entries(&mut e)
    }
}

fn remove_entries(e: &mut Entries) -> Removed {
    let mut removed = Removed::default();
    for (_, path, dir) in std::mem::take(&mut e.paths) {
        let bytes = size_of(&path, dir);
        let gone = if dir {
            // The owner may still be creating a file inside (it stops at
            // its next interrupt::checkpoint): try again.
            (0..10).any(|_| std::fs::remove_dir_all(&path).is_ok())
        } else {
            std::fs::remove_file(&path).is_ok()
        };
        if gone {
            removed.bytes = removed.bytes.saturating_add(bytes);
            removed.paths.push(path);
        }
    }
    removed
}

static PROCESS: Registry = Registry::new();

/// For a signal handler's thread, on `signal` (`SIGINT`): waits for the
/// critical sections running (see [`interrupt`]), removes every path
/// registered in this process, runs the interrupt hooks, then calls `exit`
/// with what was removed and the hooks' lines, still holding the registry:
/// the program's other threads cannot register (or create, through this
/// module) anything more before the process ends.
/// `waiting` is called first if a section makes it wait.
pub fn remove_all_then(
    signal: &str,
    waiting: impl FnOnce(),
    exit: impl FnOnce(&Removed, &[String]) -> std::convert::Infallible,
) -> ! {
    let mut hooks = interrupt::stop(waiting);
    let mut e = PROCESS.lock();
    let removed = remove_entries(&mut e);
    let said = interrupt::run_hooks(&mut hooks, signal);
    match exit(&removed, &said) {}
}

/// The paths registered in this process now.
pub fn registered() -> Vec<PathBuf> {
    PROCESS.paths()
}

/// Keeps a path registered in this process; dropping it unregisters.
#[derive(Debug)]
pub struct Guard {
    id: u64,
}

/// Registers `path` (a folder if `dir`) in this process until the guard is
/// dropped.
pub fn register(path: &Path, dir: bool) -> Guard {
    Guard {
        id: PROCESS.register(path, dir),
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        PROCESS.unregister(self.id);
    }
}

/// Takes `file`'s exclusive `flock` without waiting: `Ok(false)` if another
/// open file holds it.
fn try_lock(file: &File) -> io::Result<bool> {
    crate::fsio::lock::try_lock_exclusive(file)
}

/// Whether `path` (not followed) is still the file `file` has open.
fn still_named(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// How many times creation starts over when a sweeper took the new path
/// first (each time means another run removed it between two system calls).
const TRIES: usize = 8;

fn raced(dir: &Path) -> io::Error {
    io::Error::other(format!(
        "another airlock run kept removing the temporary files created in {}",
        dir.display()
    ))
}

/// A work folder: registered, locked, removed on drop.
#[derive(Debug)]
pub struct WorkDir {
    // Fields drop in order: remove the folder before releasing the lock.
    dir: tempfile::TempDir,
    _guard: Guard,
    _lock: File,
}

impl WorkDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Creates a work folder `<prefix>XXXXXX` in `dir` (mode 0700), locked and
/// registered for as long as the value lives.
pub fn work_dir(dir: &Path, prefix: &str) -> io::Result<WorkDir> {
    for _ in 0..TRIES {
        let tmp = tempfile::Builder::new().prefix(prefix).tempdir_in(dir)?;
        let lock = match OpenOptions::new()
            .read(true)
            .custom_flags(crate::fsio::open_flags::DIRECTORY | crate::fsio::open_flags::NOFOLLOW)
            .open(tmp.path())
        {
            Ok(l) => l,
            // Another run's sweep took it before it was locked: a new one.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !try_lock(&lock)? || !still_named(&lock, tmp.path()) {
            continue;
        }
        let guard = register(tmp.path(), true);
        return Ok(WorkDir {
            dir: tmp,
            _guard: guard,
            _lock: lock,
        });
    }
    Err(raced(dir))
}

/// A temporary file: registered, locked (through its own descriptor), and
/// removed on drop unless persisted.
#[derive(Debug)]
pub struct TempFile {
    file: tempfile::NamedTempFile,
    guard: Guard,
}

/// Creates a temporary file `<prefix>XXXXXX<suffix>` in `dir` (mode 0600),
/// locked and registered for as long as the value lives.
pub fn temp_file(dir: &Path, prefix: &str, suffix: &str) -> io::Result<TempFile> {
    for _ in 0..TRIES {
        let file = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .tempfile_in(dir)?;
        if !try_lock(file.as_file())? || !still_named(file.as_file(), file.path()) {
            continue;
        }
        let guard = register(file.path(), false);
        return Ok(TempFile { file, guard });
    }
    Err(raced(dir))
}

impl TempFile {
    /// The open file.
    pub fn as_file(&self) -> &File {
        self.file.as_file()
    }

    /// The open file, mutably.
    pub fn as_file_mut(&mut self) -> &mut File {
        self.file.as_file_mut()
    }

    /// Its current name.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Renames it to `to`, replacing what is there. The lock is held until
    /// the rename is done (a sweeper could otherwise remove the file first),
    /// and released when the returned file is closed.
    pub fn persist(self, to: &Path) -> Result<File, tempfile::PersistError> {
        let TempFile { file, guard } = self;
        let r = file.persist(to);
        drop(guard);
        r
    }

    /// Like [`TempFile::persist`], but fails if `to` exists.
    pub fn persist_noclobber(self, to: &Path) -> Result<File, tempfile::PersistError> {
        let TempFile { file, guard } = self;
        let r = file.persist_noclobber(to);
        drop(guard);
        r
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A leftover [`sweep`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swept {
    /// The folder or file.
    pub path: PathBuf,
    /// Whether it was a folder.
    pub dir: bool,
    /// Its bytes (file lengths, summed over a folder).
    pub bytes: u64,
}

impl std::fmt::Display for Swept {
    /// The line shown for it: what, where, and the space freed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "removed {}, the {} of an interrupted airlock run ({} bytes freed)",
            self.path.display(),
            if self.dir {
                "work folder"
            } else {
                "temporary file"
            },
            self.bytes
        )
    }
}

/// Removes the [`LEFTOVERS`] of dead runs in `dir`: each one whose lock can
/// be taken (no live process holds it). Best effort: what cannot be
/// examined or removed (another user's, say) is left alone, and so are
/// symbolic links and anything but plain files and folders.
pub fn sweep(dir: &Path) -> Vec<Swept> {
    sweep_matching(dir, is_leftover_name)
}

/// [`sweep`] of one kind only: the leftovers named `<prefix>…<suffix>`
/// (one of [`LEFTOVERS`]), what a command that creates that kind removes
/// before it starts (`sign` its `.airlock-sign-*.partial`).
pub fn sweep_kind(dir: &Path, prefix: &str, suffix: &str) -> Vec<Swept> {
    sweep_matching(dir, |name| {
        is_leftover_name(name)
            && name.len() > prefix.len() + suffix.len()
            && name.starts_with(prefix)
            && name.ends_with(suffix)
    })
}

fn sweep_matching(dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<Swept> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut swept = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(&wanted) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let is_dir = meta.file_type().is_dir();
        if !is_dir && !meta.file_type().is_file() {
            continue;
        }
        let mut flags = crate::fsio::open_flags::NOFOLLOW | crate::fsio::open_flags::NONBLOCK;
        if is_dir {
            flags |= crate::fsio::open_flags::DIRECTORY;
        }
        let Ok(lock) = OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(&path)
        else {
            continue;
        };
        // Taken: its run is dead. Still named: not persisted, swept or
        // replaced since it was opened.
        if !matches!(try_lock(&lock), Ok(true)) || !still_named(&lock, &path) {
            continue;
        }
        let bytes = size_of(&path, is_dir);
        let gone = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            swept.push(Swept {
                path,
                dir: is_dir,
                bytes,
            });
        }
    }
    swept.sort_by(|a, b| a.path.cmp(&b.path));
    swept
}

/// File lengths under `path` (not following links).
pub(crate) fn size_of(path: &Path, dir: bool) -> u64 {
    if !dir {
        return std::fs::symlink_metadata(path).map_or(0, |m| m.len());
    }
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .fold(0u64, |n, m| n.saturating_add(m.len()))
}

#[cfg(test)]
mod tests;
