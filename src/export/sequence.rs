//! The sequence file: where an exporting host records the last bundle it
//! exported in a series, so the next export takes the next number without
//! anyone counting by hand (importers refuse a lower sequence than the one
//! they hold: rollback protection).
//!
//! The file is small TOML, kept readable and editable:
//!
//! ```toml
//! # the last bundle exported in this series (airlock export --sequence-file)
//! series = "monthly"
//! sequence = 4
//! ```
//!
//! It is read before the export and recorded only after the bundle is in
//! place: a failed export does not use up a number.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Classify, ExitClass, PathIo};
use crate::fsio::{AtomicFile, Replace};

/// The series a sequence counts in when nobody names one.
pub const DEFAULT_SERIES: &str = "default";

/// Why the sequence file could not be used. The export did not start, or
/// (when recording) the bundle is written but the file still holds the
/// previous number.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] PathIo),
    /// The file is not TOML.
    #[error("{} is not a sequence file", crate::text::path(path))]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
    /// The file has no usable `sequence = N`.
    #[error("{} has no sequence = N", crate::text::path(.0))]
    NoSequence(PathBuf),
    /// The series asked for is not the one the file counts.
    #[error(
        "series {given:?} was asked for but {} counts series {recorded:?}",
        crate::text::path(path)
    )]
    SeriesMismatch {
        /// The file.
        path: PathBuf,
        /// The series asked for.
        given: String,
        /// The series the file counts.
        recorded: String,
    },
}

impl Classify for SequenceError {
    fn class(&self) -> ExitClass {
        match self {
            SequenceError::Io(e) => e.class(),
            // The file is this host's record, not an input of the export.
            SequenceError::Parse { .. } | SequenceError::NoSequence(_) => ExitClass::HostFailure,
            SequenceError::SeriesMismatch { .. } => ExitClass::Usage,
        }
    }
}

/// A sequence file as read: the series it counts (if it names one) and the
/// last sequence number used (0 when the file does not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceFile {
    path: PathBuf,
    series: Option<String>,
    last: u64,
}

impl SequenceFile {
    /// Reads the file at `path`; a missing file starts a new count.
    ///
    /// # Errors
    ///
    /// [`SequenceError`] when the file cannot be read, is not TOML, or has
    /// no non-negative `sequence = N`.
    pub fn read(path: &Path) -> Result<Self, SequenceError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(SequenceFile {
                    path: path.to_path_buf(),
                    series: None,
                    last: 0,
                })
            }
            Err(source) => return Err(PathIo::new("cannot read", path, source).into()),
        };
        let table: toml::Table = toml::from_str(&text).map_err(|source| SequenceError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let series = table
            .get("series")
            .and_then(|v| v.as_str())
            .map(String::from);
        let last = table
            .get("sequence")
            .and_then(|v| v.as_integer())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| SequenceError::NoSequence(path.to_path_buf()))?;
        Ok(SequenceFile {
            path: path.to_path_buf(),
            series,
            last,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The series the file counts, if it names one.
    pub fn series(&self) -> Option<&str> {
        self.series.as_deref()
    }

    /// The last sequence number used (0 for a new file).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The next bundle's `(series, sequence)`: `given` (or the file's series,
    /// or [`DEFAULT_SERIES`]) and the last number plus one.
    ///
    /// # Errors
    ///
    /// [`SequenceError::SeriesMismatch`] when `given` is not the series the
    /// file counts.
    pub fn next(&self, given: Option<&str>) -> Result<(String, u64), SequenceError> {
        let series = match (given, &self.series) {
            (Some(given), Some(recorded)) if given != recorded => {
                return Err(SequenceError::SeriesMismatch {
                    path: self.path.clone(),
                    given: given.to_string(),
                    recorded: recorded.clone(),
                })
            }
            (given, recorded) => given
                .or(recorded.as_deref())
                .unwrap_or(DEFAULT_SERIES)
                .to_string(),
        };
        // TOML integers are i64, so `last` is at most i64::MAX: no overflow.
        Ok((series, self.last + 1))
    }

    /// Records `(series, n)` as the last bundle exported (after the export
    /// succeeded), replacing the file in one rename.
    ///
    /// # Errors
    ///
    /// [`SequenceError::Io`] when the file cannot be written.
    pub fn record(&self, series: &str, n: u64) -> Result<(), SequenceError> {
        write(&self.path, series, n)
    }
}

/// Writes the file for `(series, n)` (see the module docs for the format)
/// beside it, then renames it into place.
fn write(path: &Path, series: &str, n: u64) -> Result<(), SequenceError> {
    let err = |what: &'static str| PathIo::at(what, path);
    let mut tmp = AtomicFile::create(path, ".airlock-sequence-", ".partial", 0o600)
        .map_err(err("cannot write beside"))?;
    write!(
        tmp.as_file_mut(),
        "# the last bundle exported in this series (airlock export --sequence-file)\nseries = {series:?}\nsequence = {n}\n"
    )
    .map_err(err("cannot write"))?;
    tmp.commit(Replace::Overwrite)
        .map_err(|e| err("cannot write")(e.into_io()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: Option<&str>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("seq.toml");
        if let Some(t) = text {
            std::fs::write(&path, t).expect("writes");
        }
        (dir, path)
    }

    #[test]
    fn the_next_number_and_series_come_from_the_file_and_the_request() {
        // (file text, series asked for, expected next)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, (&'a str, u64));
        let cases: [Case<'_>; 5] = [
            (None, None, ("default", 1)),
            (None, Some("weekly"), ("weekly", 1)),
            (Some("sequence = 4\n"), None, ("default", 5)),
            (
                Some("series = \"monthly\"\nsequence = 4\n"),
                None,
                ("monthly", 5),
            ),
            (
                Some("series = \"monthly\"\nsequence = 4\n"),
                Some("monthly"),
                ("monthly", 5),
            ),
        ];
        for (text, given, (series, n)) in cases {
            let (_dir, path) = file_with(text);
            let file = SequenceFile::read(&path).expect("reads");
            let next = file.next(given).expect("a next number");
            assert_eq!(next, (series.to_string(), n), "{text:?} {given:?}");
        }
    }

    #[test]
    fn a_bad_file_or_another_series_is_refused_with_its_message() {
        let cases: [(&str, Option<&str>, &str); 4] = [
            ("not toml [", None, "is not a sequence file"),
            ("series = \"x\"\n", None, "has no sequence = N"),
            ("sequence = -1\n", None, "has no sequence = N"),
            (
                "series = \"monthly\"\nsequence = 4\n",
                Some("weekly"),
                "series \"weekly\" was asked for but ",
            ),
        ];
        for (text, given, message) in cases {
            let (_dir, path) = file_with(Some(text));
            let err = SequenceFile::read(&path)
                .and_then(|f| f.next(given))
                .expect_err(text);
            assert!(err.to_string().contains(message), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_recorded_number_is_read_back_and_keeps_the_format() {
        let (_dir, path) = file_with(None);
        let file = SequenceFile::read(&path).expect("reads");
        file.record("monthly", 7).expect("records");
        let text = std::fs::read_to_string(&path).expect("reads back");
        assert_eq!(
            text,
            "# the last bundle exported in this series (airlock export --sequence-file)\nseries = \"monthly\"\nsequence = 7\n"
        );
        let again = SequenceFile::read(&path).expect("reads");
        assert_eq!((again.series(), again.last()), (Some("monthly"), 7));
        assert_eq!(again.next(None).expect("next"), ("monthly".into(), 8));
    }
}
