//! Swapping staged components into place, all or none.
//!
//! Swaps never follow symbolic links below the target directory: each
//! parent of a component (`vex/`, `vex/repositories/`) is opened with
//! `O_NOFOLLOW` and the exchange is made relative to that handle, so a link
//! planted inside a cache (say `vex/repositories -> /etc`) cannot make airlock
//! write or delete outside it. The target directory itself may be a link
//! (an administrator's choice, e.g. `/var/cache/trivy -> /data/trivy`).

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;

use super::stage::StageError;
use crate::error::PathIo;

/// An open directory handle and its path (for messages).
struct DirHandle {
    fd: OwnedFd,
    path: PathBuf,
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

impl DirHandle {
    fn open(path: &Path, follow: bool) -> io::Result<DirHandle> {
        let mut flags = DIR_FLAGS;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        Ok(DirHandle {
            fd: rfs::open(path, flags, Mode::empty())?,
            path: path.to_path_buf(),
        })
    }

    /// Opens (creating it if absent) the subdirectory `name`, never
    /// following a link. Returns whether it was created.
    fn child(&self, name: &str) -> Result<(DirHandle, bool), StageError> {
        let path = self.path.join(name);
        let created = match rfs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) => true,
            Err(Errno::EXIST) => false,
            Err(e) => return Err(PathIo::new("cannot create", &path, e.into()).into()),
        };
        let fd = rfs::openat(&self.fd, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()).map_err(
            |e| match e {
                Errno::LOOP | Errno::NOTDIR => StageError::NotADirectory(path.clone()),
                e => PathIo::new("cannot open", &path, e.into()).into(),
            },
        )?;
        if created {
            self.sync()
                .map_err(PathIo::at("cannot flush", &self.path))?;
        }
        Ok((DirHandle { fd, path }, created))
    }

    fn sync(&self) -> io::Result<()> {
        Ok(rfs::fsync(&self.fd)?)
    }
}

/// `renameat2(2)`: `from` relative to `from_dir`, `to` relative to `to_dir`
/// (either [`CWD`]).
fn renameat2(
    from_dir: impl AsFd,
    from: &Path,
    to_dir: impl AsFd,
    to: &Path,
    flags: RenameFlags,
) -> Result<(), Errno> {
    rfs::renameat_with(from_dir, from, to_dir, to, flags)
}

/// Whether an error means "this file system does not support these rename
/// flags" (NFS, CIFS, some FUSE file systems).
fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::INVAL | Errno::NOSYS)
}

/// One planned swap: a staged tree, where it goes, and what the caller
/// calls it (its key, returned with the result).
struct Planned<K> {
    key: K,
    staged: PathBuf,
    parent: DirHandle,
    name: String,
}

impl<K> Planned<K> {
    fn live(&self) -> PathBuf {
        self.parent.path.join(&self.name)
    }
}

/// How a swap was made, so it can be undone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Done {
    /// Atomic exchange with an existing tree.
    Exchanged,
    /// Moved in where nothing was.
    Moved,
    /// The file system cannot exchange: the old tree was moved aside to
    /// `<staged>.old`, then the new one moved in (not atomic).
    MovedAside,
}

/// Swaps staged components into place, all or none. Each swap carries the
/// caller's key `K` (a component's identity) from `plan` to the result of
/// `run`, so results are never matched to the plan by position.
pub(crate) struct Swapper<K> {
    planned: Vec<Planned<K>>,
    /// Directories `plan` created in the target (removed on rollback).
    created: Vec<PathBuf>,
}

impl<K> Default for Swapper<K> {
    fn default() -> Self {
        Swapper {
            planned: Vec::new(),
            created: Vec::new(),
        }
    }
}

impl<K> Swapper<K> {
    /// Plans moving `staged` to `root/rel` (`rel` of plain components).
    /// Opens (creating as needed) every parent below `root` without
    /// following links, and refuses a component that is a link, so every
    /// failure that can be foreseen happens here, before anything live is
    /// touched.
    pub(crate) fn plan(
        &mut self,
        key: K,
        staged: PathBuf,
        root: &Path,
        rel: &Path,
    ) -> Result<(), StageError> {
        let mut dir = DirHandle::open(root, true).map_err(PathIo::at("cannot open", root))?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let (name, parents) = parts.split_last().expect("a component has a name");
        for p in parents {
            let (child, created) = dir.child(p)?;
            if created {
                self.created.push(child.path.clone());
            }
            dir = child;
        }
        let planned = Planned {
            key,
            staged,
            parent: dir,
            name: name.clone(),
        };
        // The component itself: absent, or a real directory (a link would be
        // replaced silently; refuse it like links further up).
        let st = rfs::statat(
            &planned.parent.fd,
            planned.name.as_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        if st.is_ok_and(|st| FileType::from_raw_mode(st.st_mode) != FileType::Directory) {
            return Err(StageError::NotADirectory(planned.live()));
        }
        self.planned.push(planned);
        Ok(())
    }

    /// Performs the planned swaps. Each is an atomic exchange (or a rename
    /// that never replaces, when nothing was there); if one fails, those
    /// already made are undone and the parents `plan` created removed.
    /// Returns, per swap with its key, where the tree it replaced now is
    /// (inside staging), or `None` if nothing was replaced.
    pub(crate) fn run(self) -> Result<Vec<(K, Option<PathBuf>)>, StageError> {
        let mut done: Vec<(Planned<K>, Done)> = Vec::new();
        for p in self.planned {
            crate::fault::point("before swap");
            let path = p.live();
            let step = swap(&p).and_then(|how| {
                done.push((p, how));
                crate::fault::point("swapped");
                done.last().map_or(Ok(()), |(p, _)| p.parent.sync())
            });
            if let Err(source) = step {
                let mut kept = Vec::new();
                for (q, how) in done.into_iter().rev() {
                    if unswap(&q, how).is_err() {
                        kept.push(q.live());
                    }
                }
                if kept.is_empty() {
                    for dir in self.created.iter().rev() {
                        let _ = fs::remove_dir(dir);
                    }
                    return Err(StageError::SwapRolledBack { path, source });
                }
                return Err(StageError::SwapPartial { path, kept, source });
            }
        }
        Ok(done
            .into_iter()
            .map(|(p, how)| {
                let old = match how {
                    Done::Exchanged => Some(p.staged),
                    Done::MovedAside => Some(aside_path(&p.staged)),
                    Done::Moved => None,
                };
                (p.key, old)
            })
            .collect())
    }
}

fn swap<K>(p: &Planned<K>) -> io::Result<Done> {
    let (staged, name, dir) = (&p.staged, Path::new(&p.name), &p.parent.fd);
    let plain = RenameFlags::empty();
    // Exchange if something is there; else rename without replacing. If
    // something appears in between, exchange with it.
    loop {
        match renameat2(CWD, staged, dir, name, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(Done::Exchanged),
            Err(Errno::NOENT) => {
                match renameat2(CWD, staged, dir, name, RenameFlags::NOREPLACE) {
                    Ok(()) => return Ok(Done::Moved),
                    Err(Errno::EXIST) => continue,
                    // No flags on this file system: the name was just found
                    // absent and the lock is held, so a plain rename is safe.
                    Err(e) if unsupported(e) => {
                        renameat2(CWD, staged, dir, name, plain)?;
                        return Ok(Done::Moved);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if unsupported(e) => {
                // No atomic exchange here: move the old tree aside, then the
                // new one in. A scan in between finds the component missing
                // (never half-written).
                let aside = aside_path(staged);
                match renameat2(dir, name, CWD, &aside, plain) {
                    Ok(()) => {}
                    Err(Errno::NOENT) => {
                        // Nothing there (the lock is held): just move in.
                        renameat2(CWD, staged, dir, name, plain)?;
                        return Ok(Done::Moved);
                    }
                    Err(e) => return Err(e.into()),
                }
                if let Err(e) = renameat2(CWD, staged, dir, name, plain) {
                    let _ = renameat2(CWD, &aside, dir, name, plain);
                    return Err(e.into());
                }
                return Ok(Done::MovedAside);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn aside_path(staged: &Path) -> PathBuf {
    let mut s = staged.as_os_str().to_owned();
    s.push(".old");
    PathBuf::from(s)
}

fn unswap<K>(p: &Planned<K>, how: Done) -> io::Result<()> {
    let (staged, name, dir) = (&p.staged, Path::new(&p.name), &p.parent.fd);
    let plain = RenameFlags::empty();
    match how {
        Done::Exchanged => renameat2(CWD, staged, dir, name, RenameFlags::EXCHANGE)?,
        Done::Moved => renameat2(dir, name, CWD, staged, plain)?,
        Done::MovedAside => {
            renameat2(dir, name, CWD, staged, plain)?;
            renameat2(CWD, &aside_path(staged), dir, name, plain)?;
        }
    }
    // The names are back; a failed flush does not undo that.
    let _ = p.parent.sync();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_exchange_and_roll_back() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cache");
        fs::create_dir_all(root.join("db")).unwrap();
        fs::write(root.join("db/old"), b"old").unwrap();
        let stage = t.path().join("stage");
        fs::create_dir_all(stage.join("db")).unwrap();
        fs::write(stage.join("db/new"), b"new").unwrap();
        fs::create_dir_all(stage.join("x")).unwrap();

        let mut s = Swapper::default();
        s.plan("db", stage.join("db"), &root, Path::new("db"))
            .unwrap();
        s.plan("x", stage.join("x"), &root, Path::new("vex/repositories/x"))
            .unwrap();
        assert_eq!(
            s.run().unwrap(),
            vec![("db", Some(stage.join("db"))), ("x", None)]
        );
        assert!(root.join("db/new").is_file());
        assert!(stage.join("db/old").is_file(), "the old tree is in staging");
        assert!(root.join("vex/repositories/x").is_dir());

        // A second plan whose last swap fails (its staged tree is missing):
        // the first is put back.
        fs::create_dir_all(stage.join("db2")).unwrap();
        let mut s = Swapper::default();
        s.plan("db", stage.join("db2"), &root, Path::new("db"))
            .unwrap();
        s.plan("policy", stage.join("missing"), &root, Path::new("policy"))
            .unwrap();
        let e = s.run().unwrap_err();
        assert!(matches!(e, StageError::SwapRolledBack { .. }), "{e}");
        assert!(root.join("db/new").is_file(), "db was put back");
        assert!(stage.join("db2").is_dir());
    }

    #[test]
    fn a_component_that_is_a_link_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cache");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(t.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(t.path().join("elsewhere"), root.join("db")).unwrap();
        let mut s = Swapper::default();
        let e = s
            .plan((), t.path().join("staged"), &root, Path::new("db"))
            .unwrap_err();
        assert!(matches!(e, StageError::NotADirectory(_)), "{e}");
    }

    #[test]
    fn parents_created_for_a_failed_swap_are_removed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cache");
        fs::create_dir_all(&root).unwrap();
        let mut s = Swapper::default();
        s.plan(
            (),
            t.path().join("missing"),
            &root,
            Path::new("vex/repositories/x"),
        )
        .unwrap();
        assert!(root.join("vex/repositories").is_dir());
        assert!(matches!(s.run(), Err(StageError::SwapRolledBack { .. })));
        assert!(!root.join("vex").exists());
    }

    #[test]
    fn links_inside_the_target_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cache");
        let victim = t.path().join("victim");
        fs::create_dir_all(victim.join("x")).unwrap();
        fs::create_dir_all(root.join("vex")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("vex/repositories")).unwrap();
        let mut s = Swapper::default();
        let e = s
            .plan(
                (),
                t.path().join("staged"),
                &root,
                Path::new("vex/repositories/x"),
            )
            .unwrap_err();
        assert!(matches!(e, StageError::NotADirectory(_)), "{e}");
        assert!(victim.join("x").is_dir());
    }
}
