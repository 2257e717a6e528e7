//! The file-system side of import: the lock, staging directories, writing
//! staged files, and swapping staged components into place.
//!
//! Swaps never follow symbolic links below the target directory: each
//! parent of a component (`vex/`, `vex/repositories/`) is opened with
//! `O_NOFOLLOW` and the exchange is made relative to that handle, so a link
//! planted inside a cache (say `vex/repositories -> /etc`) cannot make airlock
//! write or delete outside it. The target directory itself may be a link
//! (an administrator's choice, e.g. `/var/cache/trivy -> /data/trivy`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;

use crate::error::PathIo;
use crate::unpack::Sink;

/// Prefix of staging directories (leftovers of a crash are removed by the
/// next import).
pub const STAGING_PREFIX: &str = ".airlock-staging-";
/// Where the cache keeps the previous generation: the trees the last import
/// replaced (for `rollback`).
pub const PREVIOUS_DIR: &str = ".airlock-previous";
/// The lock file in the cache directory (and in a VEX directory).
pub const LOCK_FILE: &str = ".airlock.lock";

/// File-system failures of the install step.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] PathIo),
    /// The target's file system has too little free space.
    #[error("not enough free space on the file system of {}: this import needs about {needed} bytes ({needed_mib:.1} MiB) there, {available} bytes ({available_mib:.1} MiB) are free", path.display(), needed_mib = *needed as f64 / 1048576.0, available_mib = *available as f64 / 1048576.0)]
    NoSpace {
        /// A directory on that file system.
        path: PathBuf,
        /// Bytes needed (content plus an allowance per file).
        needed: u64,
        /// Bytes available to this user.
        available: u64,
    },
    /// The target's file system has too few free inodes.
    #[error("not enough free inodes on the file system of {}: this import needs about {needed} there (one per file and directory it writes), {available} are free", path.display())]
    NoInodes {
        /// A directory on that file system.
        path: PathBuf,
        /// Inodes needed (files and directories, plus a few).
        needed: u64,
        /// Inodes available to this user.
        available: u64,
    },
    /// Another import holds the lock.
    #[error("another airlock import is running on {} (lock held on {})", dir.display(), lock.display())]
    Locked {
        /// The locked directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A parent of a component is a symbolic link or not a directory.
    #[error("{} is a symbolic link or not a directory; airlock does not follow links inside the target", .0.display())]
    NotADirectory(PathBuf),
    /// Swapping failed part way; what was replaced has been put back.
    #[error("cannot swap in {}; the components already replaced were put back, the target is as it was before this import", path.display())]
    SwapRolledBack {
        /// The component that failed.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Swapping failed part way and putting back failed too.
    #[error("cannot swap in {}, and cannot put back {}: these components are from the new bundle, the others are as before", path.display(), kept.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    SwapPartial {
        /// The component that failed.
        path: PathBuf,
        /// Components left at the new version.
        kept: Vec<PathBuf>,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl crate::error::Classify for StageError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            StageError::Io(_)
            | StageError::NoSpace { .. }
            | StageError::NoInodes { .. }
            | StageError::Locked { .. }
            | StageError::NotADirectory(_)
            | StageError::SwapRolledBack { .. }
            | StageError::SwapPartial { .. } => HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            StageError::NoSpace { .. } => Hint::text("free some space (or import to another file system), then import again; nothing was written"),
            StageError::NoInodes { .. } => Hint::text("free some inodes (remove files there), or import to another file system; nothing was written"),
            StageError::Locked { .. } => Hint::text("wait for it to finish, then run this import again"),
            StageError::NotADirectory(_) => Hint::text("replace it with a real directory (or remove it), then import again"),
            StageError::SwapPartial { .. } => Hint::text("run the import again"),
            StageError::Io(_) | StageError::SwapRolledBack { .. } => None,
        }
    }
}

/// Writes the files of an archive under a staging root. Entry paths were
/// checked by `unpack`; the root is a fresh directory airlock created (mode
/// 0700, by tempfile), with no links in it, so joining them cannot escape.
pub(crate) struct DirSink {
    pub root: PathBuf,
}

impl Sink for DirSink {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        fs::create_dir_all(self.root.join(path))
    }

    fn file(&mut self, path: &str, _size: u64, data: &mut dyn Read) -> io::Result<()> {
        let p = self.root.join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        write_new(&p, data)?;
        crate::fault::point("file staged");
        Ok(())
    }
}

/// Creates `p` (which must not exist), copies `data` into it, and flushes it
/// to disk.
pub(crate) fn write_new(p: &Path, data: &mut dyn Read) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(p)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    io::copy(data, &mut w)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// [`write_new`] of a small document.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    write_new(path, &mut &bytes[..]).map_err(|e| PathIo::new("cannot write", path, e).into())
}

/// Holds a directory's advisory lock until dropped.
pub(crate) struct Lock {
    _file: File,
}

/// Takes `dir`'s lock, or fails at once if another import holds it.
pub(crate) fn lock(dir: &Path) -> Result<Lock, StageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .mode(0o644)
        .open(&path)
        .map_err(PathIo::at("cannot open the lock file", &path))?;
    match crate::fsio::lock::try_lock_exclusive(&file) {
        Ok(true) => Ok(Lock { _file: file }),
        Ok(false) => Err(StageError::Locked {
            dir: dir.to_path_buf(),
            lock: path,
        }),
        Err(err) => Err(PathIo::new("cannot lock", &path, err).into()),
    }
}

/// Removes staging directories a crashed import left behind.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<(), StageError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let p = e.path();
            fs::remove_dir_all(&p).map_err(PathIo::at(
                "cannot remove the leftover staging directory",
                &p,
            ))?;
        }
    }
    Ok(())
}

/// What a tree to be written needs on its file system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Need {
    /// Bytes (content plus an allowance per file and directory).
    pub bytes: u64,
    /// Inodes (one per file and directory).
    pub inodes: u64,
}

impl Need {
    /// Both needs together.
    pub(crate) fn and(self, other: Need) -> Need {
        Need {
            bytes: self.bytes.saturating_add(other.bytes),
            inodes: self.inodes.saturating_add(other.inodes),
        }
    }
}

/// Refuses up front when `needs` (directory, bytes and inodes) do not fit
/// what is free on their file systems (directories on one file system add
/// up).
pub(crate) fn check_space(needs: &[(&Path, Need)]) -> Result<(), StageError> {
    let mut by_dev: Vec<(&Path, Need, crate::disk::Free)> = Vec::new();
    for (dir, need) in needs {
        let free = crate::disk::free(dir).map_err(PathIo::at("cannot examine", dir))?;
        match by_dev.iter_mut().find(|(_, _, f)| f.dev == free.dev) {
            Some(entry) => entry.1 = entry.1.and(*need),
            None => by_dev.push((dir, *need, free)),
        }
    }
    for (dir, need, free) in by_dev {
        if need.bytes > free.bytes {
            return Err(StageError::NoSpace {
                path: dir.to_path_buf(),
                needed: need.bytes,
                available: free.bytes,
            });
        }
        match free.inodes {
            Some(available) if need.inodes > available => {
                return Err(StageError::NoInodes {
                    path: dir.to_path_buf(),
                    needed: need.inodes,
                    available,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// A fresh staging directory inside `dir` (same file system as the target).
pub(crate) fn staging(dir: &Path) -> Result<tempfile::TempDir, StageError> {
    tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(dir)
        .map_err(|e| PathIo::new("cannot create a staging directory in", dir, e).into())
}

/// fsyncs every directory under `root` (files were synced as written).
pub(crate) fn fsync_tree(root: &Path) -> Result<(), StageError> {
    for e in walkdir::WalkDir::new(root).contents_first(true) {
        let e = e.map_err(|e| PathIo::new("cannot walk", root, e.into()))?;
        if e.file_type().is_dir() {
            let d = File::open(e.path()).map_err(PathIo::at("cannot open", e.path()))?;
            d.sync_all().map_err(PathIo::at("cannot flush", e.path()))?;
        }
    }
    Ok(())
}

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

/// One planned swap: a staged tree and where it goes.
struct Planned {
    staged: PathBuf,
    parent: DirHandle,
    name: String,
}

impl Planned {
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

/// Swaps staged components into place, all or none.
#[derive(Default)]
pub(crate) struct Swapper {
    planned: Vec<Planned>,
    /// Directories `plan` created in the target (removed on rollback).
    created: Vec<PathBuf>,
}

impl Swapper {
    /// Plans moving `staged` to `root/rel` (`rel` of plain components).
    /// Opens (creating as needed) every parent below `root` without
    /// following links, and refuses a component that is a link, so every
    /// failure that can be foreseen happens here, before anything live is
    /// touched.
    pub(crate) fn plan(
        &mut self,
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
    /// Returns, per swap in plan order, where the tree it replaced now is
    /// (inside staging), or `None` if nothing was replaced.
    pub(crate) fn run(self) -> Result<Vec<Option<PathBuf>>, StageError> {
        let mut done: Vec<(&Planned, Done)> = Vec::new();
        for p in &self.planned {
            crate::fault::point("before swap");
            let step = swap(p).and_then(|how| {
                done.push((p, how));
                crate::fault::point("swapped");
                p.parent.sync()
            });
            if let Err(source) = step {
                let path = p.live();
                let mut kept = Vec::new();
                for (q, how) in done.into_iter().rev() {
                    if unswap(q, how).is_err() {
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
            .map(|(p, how)| match how {
                Done::Exchanged => Some(p.staged.clone()),
                Done::MovedAside => Some(aside_path(&p.staged)),
                Done::Moved => None,
            })
            .collect())
    }
}

fn swap(p: &Planned) -> io::Result<Done> {
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

fn unswap(p: &Planned, how: Done) -> io::Result<()> {
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
        s.plan(stage.join("db"), &root, Path::new("db")).unwrap();
        s.plan(stage.join("x"), &root, Path::new("vex/repositories/x"))
            .unwrap();
        assert_eq!(s.run().unwrap(), vec![Some(stage.join("db")), None]);
        assert!(root.join("db/new").is_file());
        assert!(stage.join("db/old").is_file(), "the old tree is in staging");
        assert!(root.join("vex/repositories/x").is_dir());

        // A second plan whose last swap fails (its staged tree is missing):
        // the first is put back.
        fs::create_dir_all(stage.join("db2")).unwrap();
        let mut s = Swapper::default();
        s.plan(stage.join("db2"), &root, Path::new("db")).unwrap();
        s.plan(stage.join("missing"), &root, Path::new("policy"))
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
            .plan(t.path().join("staged"), &root, Path::new("db"))
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
                t.path().join("staged"),
                &root,
                Path::new("vex/repositories/x"),
            )
            .unwrap_err();
        assert!(matches!(e, StageError::NotADirectory(_)), "{e}");
        assert!(victim.join("x").is_dir());
    }
}
