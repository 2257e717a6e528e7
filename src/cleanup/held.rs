//! Which leftovers a live process still holds, seen without taking any lock
//! (for `airlock status`, which must not disturb a run: even a moment's
//! probe of the cache lock would make an import starting then fail).
//!
//! The kernel lists every `flock` in `/proc/locks` with its holder's pid and
//! the locked file's device (`major:minor`, in hex) and inode; a path is
//! held if both its device and its inode are listed there (an inode number
//! alone names a different file on every other file system).

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// A temporary file or folder of an airlock run, found in a directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leftover {
    /// The folder or file.
    pub path: PathBuf,
    /// Whether it is a folder.
    pub dir: bool,
    /// Its bytes (file lengths, summed over a folder).
    pub bytes: u64,
    /// The pid of the live process that holds it, if one does (then it is
    /// a run's work in progress, not a leftover to remove).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<u32>,
}

/// A locked file as `/proc/locks` names it: device major, minor, inode.
type FileId = (u32, u32, u64);

/// One `FLOCK` line of `/proc/locks`: holder pid and the file.
fn parse_line(line: &str) -> Option<(u32, FileId)> {
    let mut f = line.split_whitespace().skip(1);
    let kind = f.next()?;
    // `->` marks a process waiting for the lock, not holding it.
    if kind != "FLOCK" {
        return None;
    }
    let pid = f.nth(2)?.parse().ok()?;
    let mut id = f.next()?.split(':');
    let major = u32::from_str_radix(id.next()?, 16).ok()?;
    let minor = u32::from_str_radix(id.next()?, 16).ok()?;
    let ino = id.next()?.parse().ok()?;
    if id.next().is_some() {
        return None;
    }
    Some((pid, (major, minor, ino)))
}

/// The flocks held now: (pid, file).
fn flocks() -> Vec<(u32, FileId)> {
    std::fs::read_to_string("/proc/locks")
        .map(|t| t.lines().filter_map(parse_line).collect())
        .unwrap_or_default()
}

fn holder(locks: &[(u32, FileId)], path: &Path) -> Option<u32> {
    let m = std::fs::symlink_metadata(path).ok()?;
    let id = (
        rustix::fs::major(m.dev()),
        rustix::fs::minor(m.dev()),
        m.ino(),
    );
    locks.iter().find(|(_, l)| *l == id).map(|(pid, _)| *pid)
}

/// The pid of a live process holding a `flock` on `path`, if any (the
/// lock file of an import, a run's work folder or temporary file).
pub fn lock_holder(path: &Path) -> Option<u32> {
    holder(&flocks(), path)
}

/// Entries of `dir` whose names `wanted` accepts (plain files and folders,
/// never followed), sorted, with their sizes and whoever holds them (a
/// folder or file counts as held when `held_by` is set for all of them, as
/// import's staging is by the cache lock; else by its own lock).
pub fn find(dir: &Path, wanted: impl Fn(&str) -> bool, held_by: Option<u32>) -> Vec<Leftover> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let locks = flocks();
    let mut found: Vec<Leftover> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&wanted))
        .filter_map(|e| {
            let path = e.path();
            let t = std::fs::symlink_metadata(&path).ok()?.file_type();
            if !t.is_dir() && !t.is_file() {
                return None;
            }
            Some(Leftover {
                bytes: super::size_of(&path, t.is_dir()),
                dir: t.is_dir(),
                held_by: held_by.or_else(|| holder(&locks, &path)),
                path,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// The [`super::LEFTOVERS`] in `dir`.
pub fn leftovers(dir: &Path) -> Vec<Leftover> {
    find(dir, super::is_leftover_name, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_give_holders_not_waiters() {
        assert_eq!(
            parse_line("1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF"),
            Some((4242, (8, 1, 1234567)))
        );
        assert_eq!(
            parse_line("3: FLOCK  ADVISORY  WRITE 9 103:1f:77 0 EOF"),
            Some((9, (0x103, 0x1f, 77)))
        );
        assert_eq!(
            parse_line("1: -> FLOCK  ADVISORY  WRITE 4243 08:01:1234567 0 EOF"),
            None
        );
        assert_eq!(
            parse_line("2: POSIX  ADVISORY  WRITE 77 00:2f:99 0 EOF"),
            None
        );
    }

    #[test]
    fn a_live_runs_file_is_held_by_this_process_and_a_dead_ones_by_none() {
        let t = tempfile::tempdir().unwrap();
        let live = crate::cleanup::temp_file(t.path(), ".airlock-sign-", ".partial").unwrap();
        std::fs::write(t.path().join(".airlock-sign-dead.partial"), [0u8; 9]).unwrap();
        std::fs::write(t.path().join("other"), b"x").unwrap();
        let found = leftovers(t.path());
        let me = std::process::id();
        assert_eq!(found.len(), 2, "{found:?}");
        let dead = found.iter().find(|l| l.bytes == 9).unwrap();
        assert_eq!(dead.held_by, None);
        let held = found.iter().find(|l| l.path == live.path()).unwrap();
        assert_eq!(held.held_by, Some(me));
    }
}
