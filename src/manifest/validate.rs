//! The manifest's rules: those that span several fields (counts and sums
//! across artifacts, uniqueness, kind and repository, payloads and the
//! artifacts they belong to), and the line and length rules of the free-text
//! strings. A single field's grammar lives in its type (`types.rs`).

use std::collections::BTreeSet;

use super::{ArtifactKind, Manifest, ManifestError, PlainName, Rfc3339Time};

impl Manifest {
    /// Checks the rules of the spec that span several fields: sorted,
    /// unique payload paths that match their digests; every artifact's
    /// blobs and every VEX repository's files present; each kind and
    /// each repository name once; signed totals within bounds; and the
    /// free-text strings (see `check_strings`). Each field's own grammar
    /// was checked when it was parsed (see `types.rs`).
    pub fn validate(&self) -> Result<(), ManifestError> {
        self.check_strings()?;
        if self.series.is_some() != self.sequence.is_some() {
            return field("series and sequence come together".into());
        }
        self.check_payloads()?;
        for (k, v) in &self.labels {
            check_label(k, v)?;
        }
        self.check_artifacts()?;
        self.check_vex()?;
        self.check_deltas()?;
        for a in &self.artifacts {
            a.unpacked.check_bounds(&a.kind.to_string(), a.layer.size)?;
        }
        for v in &self.vex {
            let archive = self.payload(&v.archive_path).map_or(0, |p| p.size);
            v.unpacked
                .check_bounds(&format!("VEX repository {:?}", v.name.as_str()), archive)?;
        }
        // Every vex/ payload belongs to a repository (nothing rides along
        // unlisted); oci/ payloads are matched to artifacts on import.
        if let Some(p) = self.payloads.iter().find(|p| {
            p.path.starts_with("vex/")
                && !self
                    .vex
                    .iter()
                    .any(|v| v.manifest_path == p.path || v.archive_path == p.path)
        }) {
            return field(format!("payload {} belongs to no VEX repository", p.path));
        }
        if self.artifacts.is_empty() && self.vex.is_empty() && self.deltas.is_empty() {
            return field("the manifest lists no artifacts and no VEX repositories".into());
        }
        Ok(())
    }

    /// Payloads: some, sorted and unique, a blob named by its digest.
    fn check_payloads(&self) -> Result<(), ManifestError> {
        if self.payloads.is_empty() {
            return field("the manifest lists no payloads".into());
        }
        for pair in self.payloads.windows(2) {
            if pair[0].path >= pair[1].path {
                return field(format!(
                    "payload paths must be unique and sorted: {:?} then {:?}",
                    pair[0].path.as_str(),
                    pair[1].path.as_str()
                ));
            }
        }
        for p in &self.payloads {
            if p.path.starts_with("oci/blobs/sha256/") && p.path.blob_digest() != Some(p.sha256) {
                return field(format!(
                    "blob {} is listed with digest {}",
                    p.path, p.sha256
                ));
            }
        }
        Ok(())
    }

    /// Artifacts: each kind once, its blobs among the payloads, the detail
    /// table its kind calls for.
    fn check_artifacts(&self) -> Result<(), ManifestError> {
        let mut kinds = BTreeSet::new();
        for a in &self.artifacts {
            if !kinds.insert(a.kind) {
                return field(format!("artifact {} is listed twice", a.kind));
            }
            if kinds.last().is_some_and(|last| *last > a.kind) {
                return field(format!(
                    "artifact {} comes after {}: artifacts are listed in the order trivy-db, java-db, checks",
                    a.kind,
                    kinds.last().map_or(a.kind, |l| *l)
                ));
            }
            for (what, digest, size) in [
                ("manifest", &a.manifest_digest, None),
                ("layer", &a.layer.digest, Some(a.layer.size)),
            ] {
                match self.payload(&Manifest::blob_path(digest)) {
                    None => {
                        return field(format!(
                            "{} {what} blob {} is not among the payloads",
                            a.kind,
                            digest.oci()
                        ))
                    }
                    Some(p) if size.is_some_and(|s| s != p.size) => {
                        return field(format!(
                            "{} layer size {} differs from its payload size {}",
                            a.kind, a.layer.size, p.size
                        ))
                    }
                    Some(_) => {}
                }
            }
            match (a.kind, &a.database, &a.checks) {
                (ArtifactKind::TrivyDb | ArtifactKind::JavaDb, Some(_), None)
                | (ArtifactKind::Checks, None, Some(_)) => {}
                _ => return field(format!("artifact {} has the wrong detail table", a.kind)),
            }
        }
        Ok(())
    }

    /// VEX repositories: each name once, stored where its name and format
    /// say, spec version 0.1, its files among the payloads.
    fn check_vex(&self) -> Result<(), ManifestError> {
        let mut names = BTreeSet::new();
        for v in &self.vex {
            let name = v.name.as_str();
            if !names.insert(name) {
                return field(format!("VEX repository {name:?} is listed twice"));
            }
            if names.last().is_some_and(|last| *last > name) {
                return field(format!(
                    "VEX repository {name:?} is listed after {:?}: repositories are sorted by name",
                    names.last().copied().unwrap_or_default()
                ));
            }
            let expected = [
                format!("vex/{name}/vex-repository.json"),
                format!("vex/{name}/archive.{}", v.archive_format),
            ];
            if v.manifest_path != expected[0] || v.archive_path != expected[1] {
                return field(format!(
                    "VEX repository {name:?} must be stored as {} and {}",
                    expected[0], expected[1]
                ));
            }
            if v.spec_version != "0.1" {
                return field(format!(
                    "VEX repository {name:?}: spec_version {:?} is not 0.1",
                    v.spec_version
                ));
            }
            for path in [&v.manifest_path, &v.archive_path] {
                if self.payload(path).is_none() {
                    return field(format!(
                        "VEX repository {name:?}: {path} is not among the payloads"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A `Field` refusal.
fn field<T>(m: String) -> Result<T, ManifestError> {
    Err(ManifestError::Field(m))
}

/// How far ahead of the reader's clock a time in a manifest may be: clocks
/// on either side of an air gap drift, but a bundle "created" next year, or
/// a database "updated" in 9999, would be recorded by the importer and make
/// every genuinely newer bundle look like a downgrade (issue 11). Export
/// and import both refuse times further ahead than this.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::hours(1);

/// The longest a database may claim to stay current: `NextUpdate` at most
/// this long after `UpdatedAt` (upstream builds daily and says so). A
/// database "current" until 9999 would keep every scanner that pulls it
/// from asking for a newer one (issue 11).
pub const MAX_DB_VALIDITY: time::Duration = time::Duration::days(14);

/// Checks a database's `UpdatedAt`/`NextUpdate` pair: both RFC 3339,
/// `NextUpdate` not before `UpdatedAt` and at most [`MAX_DB_VALIDITY`] after.
pub fn check_db_window(updated_at: &str, next_update: &str) -> Result<(), String> {
    let parse = |t: &str| {
        Rfc3339Time::new(t)
            .map_err(|_| format!("{:?} is not an RFC 3339 time", crate::text::escape(t)))
    };
    db_window(&parse(updated_at)?, &parse(next_update)?)
}

/// [`check_db_window`] of parsed times.
pub fn db_window(updated_at: &Rfc3339Time, next_update: &Rfc3339Time) -> Result<(), String> {
    let (updated, next) = (updated_at.at(), next_update.at());
    if next < updated || next - updated > MAX_DB_VALIDITY {
        return Err(format!(
            "NextUpdate {next_update} must fall between UpdatedAt {updated_at} and {} days after it",
            MAX_DB_VALIDITY.whole_days()
        ));
    }
    Ok(())
}

impl Manifest {
    /// The first time in the manifest that lies more than
    /// [`MAX_CLOCK_SKEW`] after `now` (`created`, a database's `UpdatedAt`,
    /// an artifact's `fetched_at`), described for a message; `None` if
    /// there is none.
    pub fn time_from_the_future(&self, now: time::OffsetDateTime) -> Option<String> {
        let limit = now + MAX_CLOCK_SKEW;
        let mut times = vec![("the bundle's created time".to_string(), &self.created)];
        for a in &self.artifacts {
            if let Some(db) = &a.database {
                times.push((format!("the {}'s UpdatedAt", a.kind), &db.updated_at));
            }
            if let Some(f) = &a.fetched_at {
                times.push((format!("the {}'s fetched_at", a.kind), f));
            }
        }
        for d in &self.deltas {
            times.push((
                format!("the {}'s UpdatedAt", d.kind),
                &d.database.updated_at,
            ));
        }
        times.into_iter().find_map(|(what, t)| {
            let at = t.at();
            (at > limit).then(|| {
                let ahead = (at - now).whole_seconds();
                format!(
                    "{what} {} is {} ahead of this host's clock ({}); at most {} of clock skew is allowed",
                    crate::text::escape(t.as_str()),
                    crate::policy::human_duration(ahead.max(0) as u64),
                    now.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    crate::policy::human_duration(MAX_CLOCK_SKEW.whole_seconds() as u64)
                )
            })
        })
    }
}

/// The longest free-text field (a source path or URL), in bytes.
pub const MAX_TEXT: usize = 4096;

/// Checks one free-text field: one line of visible text (see
/// [`crate::text::check_line`]) of at most `max` bytes.
fn check_text(what: &str, value: &str, max: usize) -> Result<(), ManifestError> {
    crate::text::check_line(value, max).map_err(|e| {
        ManifestError::Field(format!(
            "{what} {:?} is not one line of text: {e}",
            crate::text::escape(&value.chars().take(200).collect::<String>())
        ))
    })
}

/// Checks a media type (RFC 6838: `type/subtype`, restricted names).
fn check_media_type(what: &str, value: &str) -> Result<(), ManifestError> {
    let name = |n: &str| {
        !n.is_empty()
            && n.len() <= 127
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match value.split_once('/') {
        Some((t, sub)) if name(t) && name(sub) => Ok(()),
        _ => Err(ManifestError::Field(format!(
            "{what} {:?} is not a media type",
            crate::text::escape(value)
        ))),
    }
}

impl Manifest {
    /// Every string the manifest carries as a `String`, held to its
    /// grammar or to one line of visible text of bounded length, even when
    /// signed: a name reaches a registry URL (`repository`, `tag`), and any
    /// string reaches a terminal, where a newline or an escape sequence
    /// could print a forged verdict (issue 11). (The typed fields were held
    /// to theirs when parsed.) Also the rules between an artifact's fields:
    /// its repository is its kind's, its database's window and size.
    fn check_strings(&self) -> Result<(), ManifestError> {
        let name_err = |what: String| {
            move |e: crate::oci_name::NameError| ManifestError::Field(format!("{what}: {e}"))
        };
        if super::version_major(&self.format_version).is_none() {
            return Err(ManifestError::Field(format!(
                "format_version {:?} is not MAJOR.MINOR (decimal numbers without leading zeros)",
                crate::text::escape(&self.format_version)
            )));
        }
        check_text("generator", &self.generator, 128)?;
        for a in &self.artifacts {
            let k = a.kind;
            check_text(&format!("{k} source"), &a.source, MAX_TEXT)?;
            if let Some(r) = &a.reference {
                check_text(&format!("{k} reference"), r, MAX_TEXT)?;
                crate::oci_name::Reference::parse(r).map_err(name_err(format!("{k} reference")))?;
            }
            crate::oci_name::check_repository(&a.repository)
                .map_err(name_err(format!("{k} repository")))?;
            // One name per kind: a signed manifest cannot aim one artifact
            // at another's repository (or at any other) under the push
            // prefix.
            if a.repository != k.repository() {
                return Err(ManifestError::Field(format!(
                    "{k} repository {:?} is not {:?}; each artifact is pushed under its own name",
                    a.repository,
                    k.repository()
                )));
            }
            crate::oci_name::check_tag(&a.tag).map_err(name_err(format!("{k} tag")))?;
            check_media_type(&format!("{k} artifact_type"), &a.artifact_type)?;
            check_media_type(&format!("{k} layer media_type"), &a.layer.media_type)?;
            if let Some(db) = &a.database {
                db_window(&db.updated_at, &db.next_update)
                    .map_err(|e| ManifestError::Field(format!("{k}: {e}")))?;
                if db.size > a.unpacked.size {
                    return Err(ManifestError::Field(format!(
                        "{k}: the database file of {} bytes is larger than the layer unpacks to ({})",
                        db.size, a.unpacked.size
                    )));
                }
            }
            if let Some(v) = a.checks.as_ref().and_then(|c| c.version.as_ref()) {
                check_text(&format!("{k} checks version"), v, 128)?;
            }
        }
        for v in &self.vex {
            let what = |f: &str| format!("VEX repository {:?} {f}", v.name.as_str());
            check_text(&what("source"), &v.source, MAX_TEXT)?;
            check_text(&what("title"), &v.title, 256)?;
            check_text(&what("original_location"), &v.original_location, MAX_TEXT)?;
            check_text(&what("updated_at"), &v.updated_at, 64)?;
            check_text(&what("spec_version"), &v.spec_version, 16)?;
        }
        Ok(())
    }
}

/// Checks a label: key a plain name, value one line of at most 1024 bytes
/// of visible text (see [`crate::text::check_line`]).
pub fn check_label(key: &str, value: &str) -> Result<(), ManifestError> {
    if PlainName::new(key).is_err() || crate::text::check_line(value, 1024).is_err() {
        return Err(ManifestError::Field(format!(
            "label {:?}: keys are 1-64 of A-Z a-z 0-9 . _ -, values one line of at most 1024 bytes without control characters",
            crate::text::escape(&key.chars().take(100).collect::<String>())
        )));
    }
    Ok(())
}
