//! Advisory whole-file locks (`flock(2)`): the import lock, the audit log's,
//! `sign`'s on its bundle, and the clean-up registry's on each temporary path.
//!
//! A `flock` belongs to the open file description: it is released when the
//! last descriptor of it closes, and by the kernel when the process dies,
//! which is what lets a later run tell a dead run's leftovers from a live one's.

use std::io;
use std::os::fd::AsFd;

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

/// Takes the exclusive lock without waiting: `Ok(false)` if another open
/// file holds it.
pub fn try_lock_exclusive(file: impl AsFd) -> io::Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Takes the exclusive lock, waiting for whoever holds it.
pub fn lock_exclusive(file: impl AsFd) -> io::Result<()> {
    // A signal the program handles (it exits from another thread) may
    // interrupt the wait: wait again.
    loop {
        match flock(&file, FlockOperation::LockExclusive) {
            Err(Errno::INTR) => continue,
            r => return r.map_err(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_file_cannot_take_a_held_lock_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = std::fs::File::create(&path).unwrap();
        let b = std::fs::File::open(&path).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        drop(a);
        assert!(try_lock_exclusive(&b).unwrap());
        lock_exclusive(&b).unwrap(); // its own lock again: no wait
    }
}
