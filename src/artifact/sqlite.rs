//! Whether Trivy can open and query a `trivy-java.db` (SQLite), checked
//! before it replaces a working one (security issue 11: a signed Java DB of
//! random bytes, or one with a damaged b-tree, would otherwise be swapped in
//! and break every scan that analyses a jar until `rollback`).
//!
//! Two stages:
//! - [`check_header`], on the first 100 bytes as they stream past (so
//!   verify runs it too, and nothing is written before it): the magic
//!   `SQLite format 3\0`, the page size, the read version, the payload
//!   fractions and reserved space that SQLite itself insists on (`lockBtree`
//!   in sqlite3.c answers "file is not a database" otherwise), and the
//!   in-header page count against the file's length (SQLite answers
//!   "database disk image is malformed" when the header claims more pages
//!   than the file has; a longer file is accepted, as SQLite does);
//! - [`check_file`], on the whole file: SQLite itself (the `rusqlite`
//!   bundled build) opens it read-only and immutable, runs
//!   `PRAGMA quick_check`, and the tables and columns Trivy's queries use
//!   (trivy-java-db `pkg/db/db.go`) must exist.
//!
//! # Security
//! The file is hostile until proven otherwise, and it lies in a directory
//! only airlock writes (its staging directory, or a fresh temporary file).
//! It is opened with `SQLITE_OPEN_READ_ONLY`, `SQLITE_OPEN_NO_MUTEX` and the
//! URI parameters `mode=ro&immutable=1`, which make SQLite treat it like
//! read-only media: no locks, no journal or WAL read, created or deleted
//! beside it. (Not through `/proc/self/fd/N`: SQLite resolves that link to
//! a name, which fails for an unlinked file.) `trusted_schema` is off (no function named
//! in the schema runs with side effects), `query_only` is on, and a progress
//! handler stops SQLite at a deadline proportional to the file's size, so a
//! crafted file cannot make the check run for ever.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// Bytes of the SQLite header.
pub const HEADER_LEN: usize = 100;
/// The header's first 16 bytes.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// The tables Trivy queries, with the columns it reads.
pub const REQUIRED_TABLES: &[(&str, &[&str])] = &[
    ("artifacts", &["id", "group_id", "artifact_id"]),
    (
        "indices",
        &["artifact_id", "version", "sha1", "archive_type"],
    ),
];
/// How many problems `PRAGMA quick_check` reports at most.
const MAX_PROBLEMS: usize = 5;
/// SQLite calls the progress handler every this many virtual machine steps.
const PROGRESS_STEPS: i32 = 10_000;

/// Why a file is not a SQLite database Trivy can query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// Shorter than the header.
    #[error("the file is {0} bytes, shorter than SQLite's {HEADER_LEN}-byte header")]
    TooShort(u64),
    /// Not SQLite's magic string.
    #[error("it does not start with \"SQLite format 3\\0\" (it starts with {})", escape(.0))]
    Magic([u8; 16]),
    /// A page size SQLite refuses.
    #[error("its header gives page size {0}, not a power of two from 512 to 65536")]
    PageSize(u32),
    /// A read version SQLite refuses.
    #[error("its header gives file format read version {0}; SQLite reads versions 1 and 2")]
    ReadVersion(u8),
    /// Payload fractions other than the fixed 64/32/32.
    #[error("its header gives payload fractions {0}/{1}/{2}, SQLite requires 64/32/32")]
    Fractions(u8, u8, u8),
    /// Too much reserved space per page.
    #[error("its header reserves {reserved} of every {page_size}-byte page, leaving less than 480 usable")]
    Reserved {
        /// Reserved bytes per page.
        reserved: u8,
        /// The page size.
        page_size: u32,
    },
    /// The header claims more pages than the file holds.
    #[error("its header says it has {pages} pages of {page_size} bytes ({} bytes), but the file is {len} bytes: it is truncated", u64::from(*pages) * u64::from(*page_size))]
    Truncated {
        /// Pages in the header.
        pages: u32,
        /// The page size.
        page_size: u32,
        /// The file's length.
        len: u64,
    },
    /// SQLite failed on it.
    #[error("SQLite fails on it ({step})")]
    Sqlite {
        /// What SQLite was doing: "open", "schema" or "quick_check".
        step: &'static str,
        /// Its error.
        #[source]
        source: rusqlite::Error,
    },
    /// A table Trivy queries is missing.
    #[error("it has no table {0:?} (Trivy looks jars up in artifacts and indices)")]
    MissingTable(&'static str),
    /// Columns Trivy reads are missing.
    #[error("its table {table:?} lacks the column(s) {} that Trivy reads", missing.join(", "))]
    MissingColumns {
        /// The table.
        table: &'static str,
        /// The missing columns.
        missing: Vec<&'static str>,
    },
    /// `PRAGMA quick_check` found damage.
    #[error("PRAGMA quick_check found damage: {}", problems.join("; "))]
    Damaged {
        /// What it reported (the first few).
        problems: Vec<String>,
    },
    /// The check ran past its deadline.
    #[error("the integrity check did not finish within {} s for {len} bytes", limit.as_secs())]
    TooSlow {
        /// The deadline.
        limit: Duration,
        /// The file's length.
        len: u64,
    },
    /// Reading the file failed, or SQLite could not get memory or open the
    /// descriptor (the host's fault, not the file's).
    #[error("cannot check it")]
    Host(#[source] io::Error),
}

impl crate::error::Classify for SqliteError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            SqliteError::Host(_) => HostFailure,
            SqliteError::TooShort(_)
            | SqliteError::Magic(_)
            | SqliteError::PageSize(_)
            | SqliteError::ReadVersion(_)
            | SqliteError::Fractions(..)
            | SqliteError::Reserved { .. }
            | SqliteError::Truncated { .. }
            | SqliteError::Sqlite { .. }
            | SqliteError::MissingTable(_)
            | SqliteError::MissingColumns { .. }
            | SqliteError::Damaged { .. }
            | SqliteError::TooSlow { .. } => Damaged,
        }
    }
}

impl SqliteError {
    /// Whether the failure is the host's rather than the database's.
    pub fn is_host_failure(&self) -> bool {
        matches!(self, SqliteError::Host(_))
    }
}

fn escape(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

/// The facts of a SQLite header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Page size in bytes.
    pub page_size: u32,
    /// The in-header page count, when SQLite would trust it (non-zero and
    /// the change counter matches "version valid for").
    pub pages: Option<u32>,
}

/// Checks the first [`HEADER_LEN`] bytes of a `len`-byte file (fewer if
/// the file is shorter) as SQLite's `lockBtree` does.
///
/// # Errors
/// Every [`SqliteError`] up to `Truncated`.
pub fn check_header(head: &[u8], len: u64) -> Result<Header, SqliteError> {
    if len < HEADER_LEN as u64 || head.len() < HEADER_LEN {
        return Err(SqliteError::TooShort(len));
    }
    let h = &head[..HEADER_LEN];
    if &h[..16] != MAGIC {
        let mut found = [0u8; 16];
        found.copy_from_slice(&h[..16]);
        return Err(SqliteError::Magic(found));
    }
    let raw = u32::from(u16::from_be_bytes([h[16], h[17]]));
    let page_size = if raw == 1 { 65536 } else { raw };
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(SqliteError::PageSize(raw));
    }
    if h[19] > 2 {
        return Err(SqliteError::ReadVersion(h[19]));
    }
    if h[21..24] != [64, 32, 32] {
        return Err(SqliteError::Fractions(h[21], h[22], h[23]));
    }
    if page_size - u32::from(h[20]) < 480 {
        return Err(SqliteError::Reserved {
            reserved: h[20],
            page_size,
        });
    }
    let count = u32::from_be_bytes([h[28], h[29], h[30], h[31]]);
    let pages = (count != 0 && h[24..28] == h[92..96]).then_some(count);
    if let Some(pages) = pages {
        if u64::from(pages) > len / u64::from(page_size) {
            return Err(SqliteError::Truncated {
                pages,
                page_size,
                len,
            });
        }
    }
    Ok(Header { page_size, pages })
}

/// The time the whole-file check may take: a minute, plus two minutes per
/// GiB (a 1 GiB Java DB is checked in well under a minute; see README).
pub fn time_limit(len: u64) -> Duration {
    Duration::from_secs(60 + 120 * len.div_ceil(1 << 30))
}

/// Runs every check on the file at `path`: [`check_header`], then SQLite's
/// own `PRAGMA quick_check` and the tables Trivy queries. `opened` runs as
/// soon as SQLite holds the file open (the caller may remove its name then).
///
/// # Errors
/// Any [`SqliteError`]; `Host` when the file cannot be read or SQLite
/// cannot get memory.
pub fn check_file(path: &Path, opened: impl FnOnce()) -> Result<Header, SqliteError> {
    let file = File::open(path).map_err(SqliteError::Host)?;
    let len = file.metadata().map_err(SqliteError::Host)?.len();
    let mut head = [0u8; HEADER_LEN];
    if len >= HEADER_LEN as u64 {
        file.read_exact_at(&mut head, 0)
            .map_err(SqliteError::Host)?;
    }
    let header = check_header(&head, len)?;
    let limit = time_limit(len);
    let conn = open(path, len, limit)?;
    drop(file);
    opened();
    let schema = |e: rusqlite::Error| judge(e, "schema", limit, len);
    for (table, columns) in REQUIRED_TABLES {
        let kind: Option<String> = conn
            .query_row(
                "SELECT type FROM sqlite_master WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(schema)?;
        if kind.as_deref() != Some("table") {
            return Err(SqliteError::MissingTable(table));
        }
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(schema)?;
        let present = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(schema)?;
        let missing: Vec<&'static str> = columns
            .iter()
            .copied()
            .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
            .collect();
        if !missing.is_empty() {
            return Err(SqliteError::MissingColumns { table, missing });
        }
    }
    let quick = |e: rusqlite::Error| judge(e, "quick_check", limit, len);
    let mut stmt = conn
        .prepare(&format!("PRAGMA quick_check({MAX_PROBLEMS})"))
        .map_err(quick)?;
    let problems = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
        .map_err(quick)?;
    if problems != ["ok"] {
        return Err(SqliteError::Damaged { problems });
    }
    Ok(header)
}

/// Opens `path` read-only and immutable, with the safety settings of the
/// module docs.
fn open(path: &Path, len: u64, limit: Duration) -> Result<Connection, SqliteError> {
    let abs = std::path::absolute(path).map_err(SqliteError::Host)?;
    let uri = format!("file:{}?mode=ro&immutable=1", uri_path(&abs));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(&uri, flags).map_err(|e| judge(e, "open", limit, len))?;
    let deadline = Instant::now() + limit;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() > deadline));
    conn.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA query_only = ON;")
        .map_err(|e| judge(e, "open", limit, len))?;
    Ok(conn)
}

/// A path as a SQLite URI's path: every byte but unreserved ones and `/`
/// percent-encoded (a `?`, `#` or `%` in a directory name must not end it).
fn uri_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut out = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sorts a SQLite failure into the host's fault or the file's.
fn judge(e: rusqlite::Error, step: &'static str, limit: Duration, len: u64) -> SqliteError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::OperationInterrupted) => SqliteError::TooSlow { limit, len },
        Some(C::OutOfMemory | C::SystemIoFailure | C::CannotOpen | C::DiskFull) => {
            SqliteError::Host(io::Error::other(e))
        }
        _ => SqliteError::Sqlite { step, source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Java DB with Trivy's schema and `rows` rows, written by SQLite.
    fn java_db(rows: u32) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trivy-java.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
             CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,
               foreign key (artifact_id) references artifacts(id));
             CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
             CREATE INDEX indices_artifact_idx ON indices(artifact_id);
             CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);",
        )
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..rows {
            tx.execute(
                "INSERT INTO artifacts(id, group_id, artifact_id) VALUES (?1, ?2, ?3)",
                rusqlite::params![i, format!("org.example.g{i}"), format!("artifact-{i}")],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO indices VALUES (?1, '1.0', ?2, 'jar')",
                rusqlite::params![
                    i,
                    &crate::digest::Sha256Digest::of(&i.to_le_bytes()).0[..20]
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        c.close().unwrap();
        std::fs::read(p).unwrap()
    }

    fn check(bytes: &[u8]) -> Result<Header, SqliteError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        std::fs::write(&p, bytes).unwrap();
        let r = check_file(&p, || ());
        // Nothing was created beside it (no journal, WAL or shm).
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.db"]);
        r
    }

    #[test]
    fn a_java_db_with_trivys_schema_passes() {
        let h = check(&java_db(100)).unwrap();
        assert_eq!(h.page_size, 4096);
        assert!(h.pages.is_some());
    }

    #[test]
    fn random_bytes_and_short_files_are_refused() {
        let e = check(&[0x42; 8192]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"it does not start with "SQLite format 3\0" (it starts with "BBBBBBBBBBBBBBBB")"#
        );
        assert!(matches!(check(b"").unwrap_err(), SqliteError::TooShort(0)));
    }

    #[test]
    fn a_truncated_file_is_refused_from_its_header() {
        let db = java_db(2000);
        let e = check_header(&db[..100], db.len() as u64 / 2).unwrap_err();
        assert!(matches!(e, SqliteError::Truncated { .. }), "{e}");
        assert!(matches!(
            check(&db[..db.len() / 2]).unwrap_err(),
            SqliteError::Truncated { .. }
        ));
        // Longer than the header says: SQLite reads it, so does the check.
        let mut longer = db.clone();
        longer.extend_from_slice(&[0u8; 4096]);
        check(&longer).unwrap();
    }

    #[test]
    fn header_fields_sqlite_refuses_are_refused() {
        let db = java_db(1);
        let mut h = db[..100].to_vec();
        h[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(matches!(
            check_header(&h, 1 << 20),
            Err(SqliteError::PageSize(1000))
        ));
        let mut h = db[..100].to_vec();
        h[19] = 3;
        assert!(matches!(
            check_header(&h, 1 << 20),
            Err(SqliteError::ReadVersion(3))
        ));
        let mut h = db[..100].to_vec();
        h[21] = 65;
        assert!(matches!(
            check_header(&h, 1 << 20),
            Err(SqliteError::Fractions(65, 32, 32))
        ));
    }

    #[test]
    fn a_damaged_btree_page_is_found_by_quick_check() {
        let mut db = java_db(2000);
        let pages = db.len() / 4096;
        // Garble the middle of a page in the body; the header stays valid.
        let at = (pages / 2) * 4096 + 8;
        for b in &mut db[at..at + 2000] {
            *b = 0xA5;
        }
        let e = check(&db).unwrap_err();
        assert!(
            matches!(e, SqliteError::Damaged { .. } | SqliteError::Sqlite { .. }),
            "{e}"
        );
    }

    #[test]
    fn missing_tables_and_columns_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT);")
            .unwrap();
        c.close().unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(
            check(&bytes).unwrap_err().to_string(),
            r#"its table "artifacts" lacks the column(s) artifact_id that Trivy reads"#
        );
        let c = Connection::open(&p).unwrap();
        c.execute_batch("ALTER TABLE artifacts ADD COLUMN artifact_id TEXT;")
            .unwrap();
        c.close().unwrap();
        assert!(matches!(
            check(&std::fs::read(&p).unwrap()).unwrap_err(),
            SqliteError::MissingTable("indices")
        ));
    }

    #[test]
    fn the_name_may_go_once_sqlite_has_the_file_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("we?ird #dir%");
        std::fs::create_dir(&p).unwrap();
        let p = p.join("x.db");
        std::fs::write(&p, java_db(1)).unwrap();
        check_file(&p, || std::fs::remove_file(&p).unwrap()).unwrap();
        assert!(!p.exists());
    }

    /// Times the check on a large file: `AIRLOCK_JAVA_DB=/path/trivy-java.db
    /// cargo test --release --lib java_db_check_time -- --ignored --nocapture`
    /// (with `AIRLOCK_PRAGMA=integrity_check` to time that pragma instead).
    #[test]
    #[ignore = "needs a large Java DB in AIRLOCK_JAVA_DB"]
    fn java_db_check_time() {
        let path = std::env::var_os("AIRLOCK_JAVA_DB").expect("AIRLOCK_JAVA_DB");
        let path = std::path::PathBuf::from(path);
        let len = std::fs::metadata(&path).unwrap().len();
        let started = Instant::now();
        match std::env::var("AIRLOCK_PRAGMA").as_deref() {
            Ok("integrity_check") => {
                let conn = open(&path, len, time_limit(len)).unwrap();
                let out: String = conn
                    .query_row("PRAGMA integrity_check(5)", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(out, "ok");
            }
            _ => {
                check_file(&path, || ()).unwrap();
            }
        }
        eprintln!(
            "{} bytes checked in {:.2} s",
            len,
            started.elapsed().as_secs_f64()
        );
    }
}
