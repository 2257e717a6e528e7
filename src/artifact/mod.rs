//! The artifacts airlock carries, and what makes each one valid.
//!
//! [`KindInfo`] holds the facts Trivy 0.76 relies on for each OCI artifact
//! (media types, layer title, database file, schema version);
//! [`scan_layer`] walks a layer (`db.tar.gz`, `javadb.tar.gz`,
//! `bundle.tar.gz`) through [`crate::unpack`]'s checks, hashing the database
//! file and reading `metadata.json` on the way, and hands every kept file to
//! a [`Sink`]: export validates with a discarding sink, verify does the same
//! on signed bytes, import writes into a staging directory. [`vex`] does the
//! same for VEX repositories.
//!
//! The database files themselves are judged too, in two stages (security
//! issue 11: a signed database Trivy cannot open must never replace one it
//! can). As the file streams past, before the sink sees a byte, its first
//! bytes are checked ([`bbolt::check_head`], [`sqlite::check_header`]); the
//! whole-file checks, which need random access, run through
//! [`check_database`] once every byte is verified: on the staged file at
//! import, on a copy [`SpoolSink`] keeps in a temporary file at verify and
//! export.

pub mod bbolt;
pub mod db;
mod db_copy;
pub mod oci;
pub mod sqlite;
pub mod vex;

use std::io::{self, Cursor, Read};

use crate::digest::{Hasher, HashingReader, Sha256Digest};
use crate::manifest::{ArtifactKind, Unpacked};
use crate::unpack::{self, EntryKind, Limits, Sink, UnpackError};

pub use db::DbMetadata;
pub use db_copy::{check_database, DbCheck, DbCopy, DbVerdict, SpoolSink};
pub use oci::{check_image_manifest, check_layout};

/// What Trivy expects of one kind of OCI artifact.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// Which kind.
    pub kind: ArtifactKind,
    /// Default tag (the schema major).
    pub tag: &'static str,
    /// The manifest's artifactType.
    pub artifact_type: &'static str,
    /// The layer media type Trivy insists on.
    pub layer_media_type: &'static str,
    /// The layer's title annotation (the file name).
    pub title: &'static str,
    /// The database file inside the layer, for the databases.
    pub db_file: Option<&'static str>,
    /// The schema `Version` Trivy 0.76 accepts, for the databases.
    pub schema_version: Option<u64>,
    /// The directory of Trivy's cache that holds it.
    pub cache_dir: &'static str,
}

const INFOS: [KindInfo; 3] = [
    KindInfo {
        kind: ArtifactKind::TrivyDb,
        tag: "2",
        artifact_type: "application/vnd.aquasec.trivy.config.v1+json",
        layer_media_type: "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
        title: "db.tar.gz",
        db_file: Some("trivy.db"),
        schema_version: Some(2),
        cache_dir: "db",
    },
    KindInfo {
        kind: ArtifactKind::JavaDb,
        tag: "1",
        artifact_type: "application/vnd.aquasec.trivy.config.v1+json",
        layer_media_type: "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip",
        title: "javadb.tar.gz",
        db_file: Some("trivy-java.db"),
        schema_version: Some(1),
        cache_dir: "java-db",
    },
    KindInfo {
        kind: ArtifactKind::Checks,
        tag: "2",
        artifact_type: "application/vnd.cncf.openpolicyagent.config.v1+json",
        layer_media_type: "application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip",
        title: "bundle.tar.gz",
        db_file: None,
        schema_version: None,
        cache_dir: "policy",
    },
];

/// The checks bundle major version Trivy 0.69+ accepts.
pub const CHECKS_MAJOR: u64 = 2;

/// Facts about `kind`.
pub fn info(kind: ArtifactKind) -> &'static KindInfo {
    match kind {
        ArtifactKind::TrivyDb => &INFOS[0],
        ArtifactKind::JavaDb => &INFOS[1],
        ArtifactKind::Checks => &INFOS[2],
    }
}

/// Why an artifact was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The archive itself was refused.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// A required file is absent.
    #[error("{title} has no {file} at its root")]
    MissingFile {
        /// The kind.
        kind: ArtifactKind,
        /// The layer file name.
        title: &'static str,
        /// The missing file.
        file: &'static str,
    },
    /// An entry where a database layer has none.
    #[error("{title}: unexpected entry {path:?}; a database layer holds only files at its root")]
    UnexpectedEntry {
        /// The layer file name.
        title: &'static str,
        /// The entry.
        path: String,
    },
    /// metadata.json is unreadable.
    #[error("{title}")]
    Metadata {
        /// The layer file name.
        title: &'static str,
        /// The cause.
        #[source]
        source: db::MetadataError,
    },
    /// metadata.json is larger than any real one.
    #[error("{title}: metadata.json is larger than {} bytes", db::MAX_METADATA)]
    MetadataTooLarge {
        /// The layer file name.
        title: &'static str,
    },
    /// The content disagrees with what the signed manifest says of it.
    #[error("the bundle contradicts its own manifest: {0}")]
    Contradiction(String),
    /// A schema version Trivy 0.76 does not accept.
    #[error("{kind} has schema Version {found}; Trivy 0.76 accepts only Version {expected}")]
    SchemaVersion {
        /// The kind.
        kind: ArtifactKind,
        /// Found.
        found: u64,
        /// Expected.
        expected: u64,
    },
    /// The database file is not one Trivy can open and read.
    #[error("{file} is not a {format} database Trivy can read")]
    Database {
        /// The database file.
        file: &'static str,
        /// "bbolt" or "SQLite".
        format: &'static str,
        /// Why (boxed: it is large, and rare).
        #[source]
        source: Box<DbError>,
    },
    /// A file SQLite would read together with the Java DB.
    #[error("{title}: {path:?} is a SQLite journal or WAL file: SQLite would apply it to {db} when Trivy opens it, so the database checked would not be the one Trivy reads; a published layer has none")]
    Sidecar {
        /// The layer file name.
        title: &'static str,
        /// The entry.
        path: String,
        /// The database file.
        db: &'static str,
    },
}

impl crate::error::Classify for ArtifactError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            ArtifactError::Unpack(e) => e.class(),
            // The database check reports the host's failures (a read, the
            // memory SQLite needs) as the layer's too: exit code 4 has
            // always covered every refusal of a database (README.md).
            ArtifactError::Database { .. } => Damaged,
            ArtifactError::MissingFile { .. }
            | ArtifactError::UnexpectedEntry { .. }
            | ArtifactError::Metadata { .. }
            | ArtifactError::MetadataTooLarge { .. }
            | ArtifactError::Contradiction(_)
            | ArtifactError::SchemaVersion { .. }
            | ArtifactError::Sidecar { .. } => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            ArtifactError::Unpack(e) => e.hint(),
            ArtifactError::MissingFile { kind, title, .. } => Hint::text(format!("is this really the {kind} artifact? It should be the {title} layer as published")),
            ArtifactError::Database { .. } => Hint::text("the database file itself is broken (a failed upstream build, a damaged copy), though it may be validly signed; nothing was replaced by it"),
            ArtifactError::Metadata { source, .. } => source.hint(),
            ArtifactError::UnexpectedEntry { .. }
            | ArtifactError::MetadataTooLarge { .. }
            | ArtifactError::Contradiction(_)
            | ArtifactError::SchemaVersion { .. }
            | ArtifactError::Sidecar { .. } => None,
        }
    }
}

/// What is wrong with a database file.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// trivy.db.
    #[error(transparent)]
    Bbolt(#[from] bbolt::BboltError),
    /// trivy-java.db.
    #[error(transparent)]
    Sqlite(#[from] sqlite::SqliteError),
}

impl crate::error::Classify for DbError {
    fn class(&self) -> crate::error::ExitClass {
        match self {
            DbError::Bbolt(e) => e.class(),
            DbError::Sqlite(e) => e.class(),
        }
    }
}

/// What a database layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFile {
    /// Size of the database file.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: Sha256Digest,
}

/// The result of [`scan_layer`].
#[derive(Debug, Clone)]
pub struct LayerContents {
    /// Totals of the regular files.
    pub unpacked: Unpacked,
    /// The database file, for the databases.
    pub db_file: Option<DbFile>,
    /// metadata.json, for the databases.
    pub metadata: Option<DbMetadata>,
}

/// Intercepts the files of a layer on their way to the real sink.
struct LayerSink<'a> {
    info: &'static KindInfo,
    inner: &'a mut dyn Sink,
    db_file: Option<DbFile>,
    metadata: Option<Vec<u8>>,
    refusal: Option<ArtifactError>,
}

impl LayerSink<'_> {
    fn refuse(&mut self, e: ArtifactError) -> io::Error {
        let msg = crate::error::chain_text(&e);
        self.refusal = Some(e);
        io::Error::other(msg)
    }

    /// Hashes the database file on its way to the inner sink, judging its
    /// first bytes before the inner sink sees any.
    fn scan_db_file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        // Hashed on a second thread while this one inflates and writes.
        let mut hashing = HashingReader::with_hasher(data, Hasher::for_len(size));
        let want = size.min(head_len(self.info.kind) as u64);
        let mut head = Vec::with_capacity(want as usize);
        (&mut hashing).take(want).read_to_end(&mut head)?;
        // A short read is the archive's fault, and unpack says so.
        if head.len() as u64 == want {
            if let Err(e) = check_head(self.info, &head, size) {
                return Err(self.refuse(e));
            }
        }
        self.inner
            .file(path, size, &mut Cursor::new(&head).chain(&mut hashing))?;
        io::copy(&mut hashing, &mut io::sink())?;
        let (sha256, size, _) = hashing.finish();
        self.db_file = Some(DbFile { size, sha256 });
        Ok(())
    }
}

/// Bytes of the database file [`check_head`] looks at.
fn head_len(kind: ArtifactKind) -> usize {
    match kind {
        ArtifactKind::TrivyDb => bbolt::HEAD_LEN,
        ArtifactKind::JavaDb => sqlite::HEADER_LEN,
        ArtifactKind::Checks => 0,
    }
}

/// The stream stage of the database checks, on the first bytes of a
/// `len`-byte database file.
fn check_head(info: &KindInfo, head: &[u8], len: u64) -> Result<(), ArtifactError> {
    let file = info.db_file.unwrap_or_default();
    let (format, judged) = match info.kind {
        ArtifactKind::TrivyDb => (
            "bbolt",
            bbolt::check_head(head, len)
                .map(drop)
                .map_err(DbError::from),
        ),
        ArtifactKind::JavaDb => (
            "SQLite",
            sqlite::check_header(head, len)
                .map(drop)
                .map_err(DbError::from),
        ),
        ArtifactKind::Checks => return Ok(()),
    };
    judged.map_err(|source| ArtifactError::Database {
        file,
        format,
        source: Box::new(source),
    })
}

impl Sink for LayerSink<'_> {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        if self.info.db_file.is_some() {
            let e = ArtifactError::UnexpectedEntry {
                title: self.info.title,
                path: path.to_string(),
            };
            return Err(self.refuse(e));
        }
        self.inner.dir(path)
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let Some(db_name) = self.info.db_file else {
            return self.inner.file(path, size, data);
        };
        if path.contains('/') {
            let e = ArtifactError::UnexpectedEntry {
                title: self.info.title,
                path: path.to_string(),
            };
            return Err(self.refuse(e));
        }
        let sidecar = path
            .strip_prefix(db_name)
            .is_some_and(|s| matches!(s, "-journal" | "-wal" | "-shm"));
        if sidecar && self.info.kind == ArtifactKind::JavaDb {
            let e = ArtifactError::Sidecar {
                title: self.info.title,
                path: path.to_string(),
                db: db_name,
            };
            return Err(self.refuse(e));
        }
        if path == "metadata.json" {
            if size > db::MAX_METADATA {
                let e = ArtifactError::MetadataTooLarge {
                    title: self.info.title,
                };
                return Err(self.refuse(e));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            data.read_to_end(&mut bytes)?;
            self.inner.file(path, size, &mut Cursor::new(&bytes))?;
            self.metadata = Some(bytes);
            Ok(())
        } else if path == db_name {
            self.scan_db_file(path, size, data)
        } else {
            self.inner.file(path, size, data)
        }
    }
}

/// Walks a layer of `kind` (a gzip-compressed tar), checking it as Trivy's
/// contract requires, and hands its files to `sink`.
///
/// # Errors
/// Any unsafe or unexpected entry, a missing database or metadata file, a
/// metadata.json Trivy could not read, a database whose first bytes are not
/// what Trivy opens (judged before the sink sees it), limits exceeded, or a
/// sink failure. Neither the schema version (see [`check_schema`]) nor the
/// whole database file (see [`check_database`]) is judged here.
pub fn scan_layer<R: Read>(
    kind: ArtifactKind,
    reader: R,
    limits: Limits,
    sink: &mut dyn Sink,
) -> Result<LayerContents, ArtifactError> {
    let info = info(kind);
    let mut layer_sink = LayerSink {
        info,
        inner: sink,
        db_file: None,
        metadata: None,
        refusal: None,
    };
    let walked = unpack::tar_gz(
        info.title,
        reader,
        limits,
        &mut |p: &str, _k: EntryKind| Some(p.to_string()),
        &mut layer_sink,
    );
    let totals = match walked {
        Ok(t) => t,
        Err(e) => {
            return Err(layer_sink
                .refusal
                .take()
                .unwrap_or(ArtifactError::Unpack(e)))
        }
    };
    let unpacked = Unpacked::from_totals(totals);
    let Some(db_name) = info.db_file else {
        return Ok(LayerContents {
            unpacked,
            db_file: None,
            metadata: None,
        });
    };
    let db_file = layer_sink.db_file.ok_or(ArtifactError::MissingFile {
        kind,
        title: info.title,
        file: db_name,
    })?;
    let bytes = layer_sink.metadata.ok_or(ArtifactError::MissingFile {
        kind,
        title: info.title,
        file: "metadata.json",
    })?;
    let metadata = DbMetadata::parse(&bytes).map_err(|source| ArtifactError::Metadata {
        title: info.title,
        source,
    })?;
    Ok(LayerContents {
        unpacked,
        db_file: Some(db_file),
        metadata: Some(metadata),
    })
}

/// Refuses a database whose schema Version Trivy 0.76 would not accept.
pub fn check_schema(kind: ArtifactKind, found: u64) -> Result<(), ArtifactError> {
    match info(kind).schema_version {
        Some(expected) if expected != found => Err(ArtifactError::SchemaVersion {
            kind,
            found,
            expected,
        }),
        _ => Ok(()),
    }
}

/// Checks a scanned layer against the manifest's entry for it: unpacked
/// totals, and for a database its file's digest and size and its metadata.
pub fn check_layer(a: &crate::manifest::Artifact, c: &LayerContents) -> Result<(), ArtifactError> {
    let contradiction = |m: String| Err(ArtifactError::Contradiction(m));
    if !a.unpacked.admits(&c.unpacked) {
        return contradiction(format!(
            "{} unpacks to {}; the manifest says {}",
            a.kind, c.unpacked, a.unpacked
        ));
    }
    if let Some(db) = &a.database {
        let (Some(file), Some(meta)) = (&c.db_file, &c.metadata) else {
            return contradiction(format!("{} has no database file", a.kind));
        };
        if file.sha256 != db.sha256 || file.size != db.size {
            return contradiction(format!(
                "{} database file has sha256 {} ({} bytes), the manifest says {} ({} bytes)",
                a.kind, file.sha256, file.size, db.sha256, db.size
            ));
        }
        if meta.version != db.schema_version
            || meta.updated_at != db.updated_at.as_str()
            || meta.next_update != db.next_update.as_str()
        {
            return contradiction(format!(
                "{} metadata.json (Version {}, UpdatedAt {}, NextUpdate {}) differs from the manifest (Version {}, UpdatedAt {}, NextUpdate {})",
                a.kind, meta.version, meta.updated_at, meta.next_update, db.schema_version, db.updated_at, db.next_update
            ));
        }
    }
    Ok(())
}
