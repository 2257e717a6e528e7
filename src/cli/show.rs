//! Human-readable reports.

use std::io::{self, Write};
use std::path::Path;

use airlock::bundle::reader::Verified;
use airlock::bundle::report::InspectReport;
use airlock::export::ExportReport;
use airlock::install::ImportReport;
use airlock::layout::scan::ScanCommand;
use airlock::manifest::Manifest;
use airlock::policy::SignerReport;
use airlock::text::escape as e;

use airlock::text::{bytes, count};

/// The databases a manifest carries as deltas (format 1.3), each with its
/// base: the bundle applies only where that base is installed.
fn deltas(w: &mut dyn Write, m: &Manifest) -> io::Result<()> {
    if m.deltas.is_empty() {
        return Ok(());
    }
    writeln!(
        w,
        "  delta bundle: imports only where each base below is the installed database"
    )?;
    for d in &m.deltas {
        let size = m.payload(&d.path).map_or(0, |p| p.size);
        writeln!(
            w,
            "  {:<9} delta ({}) against base sha256 {} ({}, UpdatedAt {})",
            d.kind.to_string(),
            bytes(size),
            e(&d.base.sha256.hex()),
            bytes(d.base.size),
            e(d.base.updated_at.as_str())
        )?;
        let db = &d.database;
        writeln!(
            w,
            "            schema {}  UpdatedAt {}  NextUpdate {}",
            db.schema_version,
            e(db.updated_at.as_str()),
            e(db.next_update.as_str())
        )?;
        writeln!(
            w,
            "            {} {} sha256 {}",
            e(&db.file),
            bytes(db.size),
            e(&db.sha256.hex())
        )?;
        writeln!(
            w,
            "            push as {}:{} (a rebuilt layer)",
            e(&d.repository),
            e(&d.tag)
        )?;
    }
    Ok(())
}

/// What a manifest lists. Every string comes from the bundle (signed or
/// not yet checked), so each is escaped to one line.
fn contents(w: &mut dyn Write, m: &Manifest) -> io::Result<()> {
    for a in &m.artifacts {
        writeln!(
            w,
            "  {:<9} {} ({}) layer {}",
            a.kind.to_string(),
            e(&a.layer.title),
            bytes(a.layer.size),
            e(&a.layer.digest.oci())
        )?;
        if let Some(db) = &a.database {
            writeln!(
                w,
                "            schema {}  UpdatedAt {}  NextUpdate {}",
                db.schema_version,
                e(db.updated_at.as_str()),
                e(db.next_update.as_str())
            )?;
            writeln!(
                w,
                "            {} {} sha256 {}",
                e(&db.file),
                bytes(db.size),
                e(&db.sha256.hex())
            )?;
        }
        if let Some(c) = &a.checks {
            writeln!(
                w,
                "            checks major {}  version {}",
                c.major_version,
                e(c.version.as_deref().unwrap_or("(not recorded)"))
            )?;
        }
        writeln!(
            w,
            "            push as {}:{}  manifest {}",
            e(&a.repository),
            e(&a.tag),
            e(&a.manifest_digest.oci())
        )?;
        writeln!(w, "            from {}", e(&a.source))?;
    }
    deltas(w, m)?;
    for v in &m.vex {
        writeln!(
            w,
            "  vex       {:?} ({}) {} archive, folder {:?}, {}, updated_at {}",
            e(&v.name),
            e(&v.title),
            e(v.archive_format.name()),
            e(&v.subdir),
            count(v.packages, "package", "packages"),
            if v.updated_at.is_empty() {
                "-".into()
            } else {
                e(&v.updated_at)
            }
        )?;
        writeln!(w, "            from {}", e(&v.source))?;
    }
    Ok(())
}

/// The series line (`series monthly, sequence 3`), when the bundle has one.
fn series(
    w: &mut dyn Write,
    prefix: &str,
    series: Option<&str>,
    seq: Option<u64>,
) -> io::Result<()> {
    match (series, seq) {
        (Some(s), Some(n)) => writeln!(w, "{prefix}{}, sequence {n}", e(s)),
        (Some(s), None) => writeln!(w, "{prefix}{}", e(s)),
        (None, Some(n)) => writeln!(w, "{prefix}(none), sequence {n}"),
        (None, None) => Ok(()),
    }
}

fn labels(
    w: &mut dyn Write,
    labels: &std::collections::BTreeMap<String, String>,
) -> io::Result<()> {
    if !labels.is_empty() {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{}={}", e(k), e(v)))
            .collect();
        writeln!(w, "labels: {}", l.join(", "))?;
    }
    Ok(())
}

pub fn export(w: &mut dyn Write, r: &ExportReport) -> io::Result<()> {
    match &r.parts {
        None => writeln!(
            w,
            "wrote {} ({}, sha256 {})",
            path_line(&r.output),
            bytes(r.size),
            r.sha256
        )?,
        Some(p) => {
            writeln!(
                w,
                "wrote {} split into {} ({} in all, sha256 {})",
                path_line(&r.output),
                count(p.index_content.parts.len() as u64, "part", "parts"),
                bytes(r.size),
                r.sha256
            )?;
            parts(w, p)?;
        }
    }
    writeln!(
        w,
        "manifest sha256 {}, signed by key {}",
        r.manifest_sha256,
        r.signed_by.join(", key ")
    )?;
    series(
        w,
        "series ",
        r.manifest.series.as_ref().map(|s| s.as_str()),
        r.manifest.sequence,
    )?;
    for sk in &r.skipped {
        writeln!(w, "skipped {}: {}", sk.reference, sk.reason)?;
    }
    labels(w, &r.manifest.labels)?;
    contents(w, &r.manifest)?;
    Ok(())
}

/// Where SHA256SUMS went, if written.
pub fn sums(w: &mut dyn Write, path: Option<&Path>) -> io::Result<()> {
    match path {
        Some(p) => writeln!(
            w,
            "checksums in {} (check media with `sha256sum -c`)",
            path_line(p)
        ),
        None => Ok(()),
    }
}

/// The files of a part set.
pub fn parts(w: &mut dyn Write, p: &airlock::bundle::parts::PartsReport) -> io::Result<()> {
    for e in &p.index_content.parts {
        writeln!(
            w,
            "  {}  {:>12}  sha256 {}",
            e.name,
            bytes(e.size),
            e.sha256
        )?;
    }
    writeln!(
        w,
        "  part index {} (signed: {})",
        path_line(&p.index),
        path_line(&p.signature)
    )?;
    writeln!(
        w,
        "carry every file above; verify, inspect and import take any one of them"
    )
}

fn signers(w: &mut dyn Write, s: &[SignerReport]) -> io::Result<()> {
    for r in s {
        let when = r
            .timestamp
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok())
            .map(|t| format!(", signed {}", airlock::timestamp::format_time(t)))
            .unwrap_or_default();
        writeln!(
            w,
            "  {}: {}{when}; trusted comment: {}",
            e(&r.who()),
            r.status(),
            e(&r.trusted_comment.replace('\t', " "))
        )?;
    }
    Ok(())
}

pub fn verified(w: &mut dyn Write, path: &Path, v: &Verified) -> io::Result<()> {
    writeln!(
        w,
        "OK: {} verified: every signature and all {} payloads check out",
        path_line(path),
        v.manifest.payloads.len()
    )?;
    writeln!(
        w,
        "manifest sha256 {}, created {}",
        v.manifest_sha256,
        e(v.manifest.created.as_str())
    )?;
    let m = &v.manifest;
    series(
        w,
        "series ",
        m.series.as_ref().map(|s| s.as_str()),
        m.sequence,
    )?;
    signers(w, &v.signers)?;
    labels(w, &v.manifest.labels)?;
    contents(w, &v.manifest)?;
    Ok(())
}

pub fn inspect(w: &mut dyn Write, r: &InspectReport) -> io::Result<()> {
    let m = &r.manifest;
    writeln!(w, "bundle:   {} ({})", path_line(&r.bundle), bytes(r.size))?;
    writeln!(
        w,
        "format:   {} {}, created {}, by {}",
        e(&m.format),
        e(&m.format_version),
        e(m.created.as_str()),
        e(&m.generator)
    )?;
    writeln!(w, "manifest: sha256 {}", r.manifest_sha256)?;
    series(
        w,
        "series:   ",
        m.series.as_ref().map(|s| s.as_str()),
        m.sequence,
    )?;
    labels(w, &m.labels)?;
    match &r.signers {
        Some(j) => {
            writeln!(w, "signatures (checked against the trust policy):")?;
            signers(w, j)?;
            match &r.policy_unmet {
                None => writeln!(w, "policy:   satisfied")?,
                Some(why) => writeln!(
                    w,
                    "policy:   NOT satisfied: {}",
                    e(why.lines().next().unwrap_or(why))
                )?,
            }
        }
        None => {
            writeln!(
                w,
                "signatures (NOT checked: pass --key to check them; this listing is unverified):"
            )?;
            for s in &r.signatures {
                writeln!(
                    w,
                    "  key {}: trusted comment: {}",
                    s.key_id,
                    e(&s.trusted_comment.replace('\t', " "))
                )?;
            }
        }
    }
    writeln!(w, "contents:")?;
    contents(w, m)?;
    let total = m
        .payloads
        .iter()
        .fold(0u64, |t, p| t.saturating_add(p.size));
    writeln!(
        w,
        "payloads: {}, {}",
        airlock::text::count(m.payloads.len() as u64, "entry", "entries"),
        bytes(total)
    )?;
    Ok(())
}

/// What a push did and how scanners use it.
pub fn pushed(w: &mut dyn Write, p: &airlock::layout::oci_repos::PushReport) -> io::Result<()> {
    writeln!(
        w,
        "pushed into {} and verified (every blob, manifest and tag read back):",
        p.registry
    )?;
    for a in &p.artifacts {
        writeln!(
            w,
            "  {} ({}), manifest {}",
            a.reference, a.kind, a.manifest_digest
        )?;
        for b in &a.blobs {
            let what = if b.skipped {
                "already there, skipped; read back in full"
            } else {
                "sent; present"
            };
            writeln!(w, "    blob {} ({}): {what}", b.digest, bytes(b.size))?;
        }
        if let Some(up) = &a.upstream_layer_digest {
            let layer = a.blobs.last().map_or("", |b| b.digest.as_str());
            writeln!(
                w,
                "    rebuilt from the delta import: layer {layer} differs from upstream's {up} (same database file, another gzip)"
            )?;
        }
    }
    for f in &p.forced {
        writeln!(w, "forced past a downgrade: {f}")?;
    }
    writeln!(
        w,
        "registry state (push history of this prefix): {}",
        p.state
    )?;
    writeln!(w, "Scanners use it with (no other flag changes):")?;
    let flags: Vec<String> = p
        .trivy_flags
        .iter()
        .map(|f| airlock::layout::scan::shell_quote(f))
        .collect();
    writeln!(w, "  trivy image {} IMAGE", flags.join(" "))?;
    match (&p.trivy_yaml, &p.mirror_hint) {
        (Some(yaml), _) => {
            writeln!(
                w,
                "or, without any flag, with this in trivy.yaml (registry.mirrors):"
            )?;
            for l in yaml.lines() {
                writeln!(w, "  {l}")?;
            }
        }
        (None, Some(hint)) => writeln!(w, "note: {hint}")?,
        (None, None) => {}
    }
    Ok(())
}

pub fn imported(w: &mut dyn Write, r: &ImportReport) -> io::Result<()> {
    for warning in &r.warnings {
        eprintln!("airlock: warning: {warning}");
    }
    writeln!(
        w,
        "verified bundle (manifest sha256 {}, created {})",
        r.manifest_sha256,
        e(&r.created)
    )?;
    series(w, "series ", r.series.as_deref(), r.sequence)?;
    signers(w, &r.signers)?;
    labels(w, &r.labels)?;
    writeln!(w, "installed into {}:", path_line(&r.cache_dir))?;
    for c in &r.components {
        let verb = if c.replaced { "replaced" } else { "new" };
        match (&c.schema_version, &c.updated_at, &c.next_update) {
            (Some(s), Some(u), Some(n)) => writeln!(
                w,
                "  {:<9} {} ({verb}): schema {s}, UpdatedAt {}, NextUpdate {}",
                c.kind.to_string(),
                path_line(&c.path),
                e(u),
                e(n)
            )?,
            _ => writeln!(
                w,
                "  {:<9} {} ({verb})",
                c.kind.to_string(),
                path_line(&c.path)
            )?,
        }
    }
    for v in &r.vex {
        let verb = if v.replaced { "replaced" } else { "new" };
        writeln!(
            w,
            "  vex       {} ({verb}): {}",
            path_line(&v.cache_path),
            count(v.packages, "package", "packages")
        )?;
        if let (Some(d), Some(url)) = (&v.static_dir, &v.repository_url) {
            writeln!(
                w,
                "            static repository {} served as {}",
                path_line(d),
                e(url)
            )?;
        }
    }
    if r.components
        .iter()
        .any(|c| c.replaced && c.kind == airlock::manifest::ArtifactKind::TrivyDb)
    {
        // Seen with Trivy 0.76 (tests/trivy_server.rs): the server opens
        // trivy.db once and has no reload signal.
        writeln!(
            w,
            "(a running `trivy server` on this cache keeps the database it opened: restart it to serve this one)"
        )?;
    }
    writeln!(w)?;
    scan_commands(w, &r.scan_commands)?;
    if let Some(yaml) = &r.repository_yaml {
        writeln!(w)?;
        writeln!(w, "VEX: Trivy reads repository.yaml from $XDG_DATA_HOME/.trivy/vex/ (else ~/.trivy/vex/);")?;
        writeln!(
            w,
            "a repository named \"default\" works without one. Entries for this import:"
        )?;
        for line in yaml.lines() {
            writeln!(w, "  {line}")?;
        }
    }
    Ok(())
}

/// The scan commands that fit the cache, one line each (quoted for a shell
/// by `text::shell_word`: visible text only, whatever the cache path).
fn scan_commands(w: &mut dyn Write, c: &[ScanCommand]) -> io::Result<()> {
    if c.is_empty() {
        return writeln!(
            w,
            "The cache holds no vulnerability DB or checks bundle yet: nothing to scan with"
        );
    }
    writeln!(
        w,
        "Scan with this cache (no network needed; replace / . or IMAGE with what to scan):"
    )?;
    for c in c {
        if c.command.is_empty() {
            return writeln!(
                w,
                "  (none printed: the cache path ends with a line break, which no one-line shell command can name; --json lists each command's argv)"
            );
        }
        writeln!(w, "  {}", c.command)?;
    }
    let jars = airlock::layout::scan::JAR_FILES[0];
    if c.iter().any(|c| c.argv.iter().any(|a| a == jars)) {
        writeln!(
            w,
            "(no Java DB in this cache: rootfs and image leave jar files out, as Trivy would otherwise download one; import a bundle with the Java DB to scan them)"
        )?;
    }
    Ok(())
}

/// `p` for one line of a report or an error: a line break in a path (which
/// [`Sanitize`] keeps, as the report's own layout) is escaped with the rest,
/// a byte that is not UTF-8 shown as `\x..` ([`airlock::text::path`]).
pub fn path_line(p: &Path) -> String {
    airlock::text::path(p)
}

/// A writer for the terminal that shows control and invisible characters
/// as escapes (`\u{1b}`), keeping newlines and tabs. Much of what airlock prints comes
/// from a bundle (labels, trusted comments of any signature, names), and a
/// bundle must not be able to drive the terminal: clear the screen, forge a
/// "valid" line, or hide one.
pub struct Sanitize<W: Write>(pub W);

impl<W: Write> Write for Sanitize<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Newlines and tabs are the report's own layout; every other
        // character that `text::is_unsafe` names is shown as `\u{..}`, and
        // bytes that are not UTF-8 as `\x..`.
        for chunk in buf.utf8_chunks() {
            let valid = chunk.valid();
            let mut start = 0;
            for (i, c) in valid.char_indices() {
                if c == '\n' || c == '\t' || !airlock::text::is_unsafe(c) {
                    continue;
                }
                self.0.write_all(&valid.as_bytes()[start..i])?;
                write!(self.0, "\\u{{{:x}}}", c as u32)?;
                start = i + c.len_utf8();
            }
            self.0.write_all(&valid.as_bytes()[start..])?;
            for b in chunk.invalid() {
                write!(self.0, "\\x{b:02x}")?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
#[path = "show_tests.rs"]
mod tests;
