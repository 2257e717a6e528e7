//! Whole-file checks of a database, once every byte is verified: on the
//! staged file at import, or on a copy [`SpoolSink`] keeps in a temporary
//! file at verify and export.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{bbolt, info, sqlite, ArtifactError, DbError};
use crate::manifest::ArtifactKind;
use crate::pipe::CopyError;
use crate::unpack::Sink;

/// Where [`check_database`] finds a database file.
#[derive(Debug)]
pub enum DbCopy {
    /// The file as staged for import (in airlock's own staging directory).
    Staged(PathBuf),
    /// [`SpoolSink`]'s copy: removed as soon as the check has it open, and
    /// at the latest when this is dropped.
    Spooled(tempfile::TempPath),
}

impl DbCopy {
    /// Where the copy is (read by `export --base` to make a delta).
    pub fn path(&self) -> &Path {
        match self {
            DbCopy::Staged(p) => p,
            DbCopy::Spooled(p) => p,
        }
    }

    /// Once the file is open, a spooled copy has no more use for its name.
    fn opened(&self) {
        if let DbCopy::Spooled(p) = self {
            let _ = fs::remove_file(p);
        }
    }
}

/// Runs every check on a database file of `kind` that Trivy would open
/// (the whole of [`bbolt::check_file`] or [`sqlite::check_file`]). Call it
/// only on verified bytes: it hands them to SQLite.
///
/// # Errors
/// The outer error is the host's (opening or reading the file, SQLite's
/// memory); the inner one refuses the database. Other kinds pass.
pub fn check_database(kind: ArtifactKind, copy: DbCopy) -> io::Result<Result<(), ArtifactError>> {
    let info = info(kind);
    let (format, judged) = match kind {
        ArtifactKind::TrivyDb => {
            let file = OpenOptions::new()
                .read(true)
                .custom_flags(crate::fsio::open_flags::NOFOLLOW)
                .open(copy.path())?;
            copy.opened();
            (
                "bbolt",
                bbolt::check_file(&file).map(drop).map_err(DbError::from),
            )
        }
        ArtifactKind::JavaDb => (
            "SQLite",
            sqlite::check_file(copy.path(), || copy.opened())
                .map(drop)
                .map_err(DbError::from),
        ),
        ArtifactKind::Checks => return Ok(Ok(())),
    };
    match judged {
        Ok(()) => Ok(Ok(())),
        Err(DbError::Bbolt(bbolt::BboltError::Io(e)))
        | Err(DbError::Sqlite(sqlite::SqliteError::Host(e))) => Err(e),
        Err(source) => Ok(Err(ArtifactError::Database {
            file: info.db_file.unwrap_or_default(),
            format,
            source: Box::new(source),
        })),
    }
}

/// A sink for checking without installing (verify, export): it discards
/// every file but the database, which it copies into a temporary file (in
/// `TMPDIR`, named `.airlock-check-*`) for [`check_database`], which
/// removes it as soon as it has it open. Disk cost: the database's size,
/// while it is held.
pub struct SpoolSink {
    db_file: Option<&'static str>,
    spooled: Option<tempfile::TempPath>,
}

impl SpoolSink {
    /// A sink for a layer of `kind`.
    pub fn new(kind: ArtifactKind) -> Self {
        SpoolSink {
            db_file: info(kind).db_file,
            spooled: None,
        }
    }

    /// The database copy, if the layer had one.
    pub fn into_copy(self) -> Option<DbCopy> {
        self.spooled.map(DbCopy::Spooled)
    }
}

impl Sink for SpoolSink {
    fn dir(&mut self, _path: &str) -> io::Result<()> {
        Ok(())
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        if self.db_file != Some(path) {
            return io::copy(data, &mut io::sink()).map(drop);
        }
        // Write failures name the temporary directory; read failures are
        // the archive's and pass unchanged.
        let dir = std::env::temp_dir();
        let spool_err = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot keep a copy in {} (TMPDIR) for the database check: {e}",
                    dir.display()
                ),
            )
        };
        // Refused up front rather than after filling TMPDIR (which may be a
        // tmpfs held in memory); a little is left for everyone else.
        if let Ok(free) = crate::disk::free(&dir) {
            let needed = size.saturating_add(64 << 20);
            if free.bytes < needed {
                return Err(spool_err(io::Error::other(format!(
                    "the database is {size} bytes and only {} bytes are free there",
                    free.bytes
                ))));
            }
        }
        let spool = tempfile::Builder::new()
            .prefix(".airlock-check-")
            .tempfile()
            .map_err(spool_err)?;
        // Written on a second thread while this one inflates (issue 12).
        crate::pipe::copy_to_file(spool.as_file(), data).map_err(|e| match e {
            CopyError::Read(e) => e,
            CopyError::Write(e) => spool_err(e),
        })?;
        self.spooled = Some(spool.into_temp_path());
        Ok(())
    }
}

/// What [`check_database`] returns.
pub type DbVerdict = io::Result<Result<(), ArtifactError>>;

/// A [`check_database`] run on its own thread, started as soon as the
/// database's bytes are verified, while the caller reads on (issue 12: at
/// the end, SQLite's `quick_check` of a large Java DB was a tenth of the
/// time, with the second core idle). Its verdict is the one the check
/// would have given run later: [`wait`](Self::wait) returns it unchanged.
/// Dropped without `wait` (a refusal elsewhere), it waits for the thread,
/// so no check outlives its caller or reads a file the caller removes.
pub struct DbCheck {
    running: Option<std::thread::JoinHandle<DbVerdict>>,
    /// The verdict, when no thread could be started and the check ran here.
    done: Option<DbVerdict>,
}

impl DbCheck {
    /// Starts checking `copy`. Call it only on verified bytes (every byte
    /// of the layer read through the bundle reader and its digest
    /// compared): it hands them to SQLite.
    pub fn start(kind: ArtifactKind, copy: DbCopy) -> DbCheck {
        // The copy comes back if the thread cannot be started.
        let (tx, rx) = std::sync::mpsc::sync_channel::<DbCopy>(1);
        let spawned = std::thread::Builder::new()
            .name("airlock-dbcheck".into())
            .spawn(move || match rx.recv() {
                Ok(copy) => check_database(kind, copy),
                Err(_) => Ok(Ok(())),
            });
        match spawned {
            Ok(handle) => {
                // The thread holds the receiver until it has the copy.
                let _ = tx.send(copy);
                DbCheck {
                    running: Some(handle),
                    done: None,
                }
            }
            Err(_) => DbCheck {
                running: None,
                done: Some(check_database(kind, copy)),
            },
        }
    }

    /// The check's verdict, once it has finished.
    ///
    /// # Errors
    /// As [`check_database`]'s. A panic of the check is resumed here.
    pub fn wait(mut self) -> DbVerdict {
        if let Some(verdict) = self.done.take() {
            return verdict;
        }
        match self.running.take().map(std::thread::JoinHandle::join) {
            Some(Ok(verdict)) => verdict,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(io::Error::other(
                "the database check was already waited for",
            )),
        }
    }
}

impl Drop for DbCheck {
    fn drop(&mut self) {
        if let Some(handle) = self.running.take() {
            let _ = handle.join();
        }
    }
}
