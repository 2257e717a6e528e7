//! Whole-file checks of a database, once every byte is verified: on the
//! staged file at import, or on a copy [`SpoolSink`] keeps in a temporary
//! file at verify and export.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Read, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{bbolt, info, sqlite, ArtifactError, DbError};
use crate::manifest::ArtifactKind;
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
        let mut w = BufWriter::with_capacity(1 << 20, spool);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            w.write_all(&buf[..n]).map_err(spool_err)?;
        }
        let spool = w.into_inner().map_err(|e| spool_err(e.into_error()))?;
        self.spooled = Some(spool.into_temp_path());
        Ok(())
    }
}
