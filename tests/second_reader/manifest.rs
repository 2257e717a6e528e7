//! The manifest (SPEC.md section 3): R9-R16.

use super::archive::Totals;
use super::grammar::{media_type, reference, repository, tag};
use super::{fail, Verdict};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use toml::{Table, Value};
use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};

pub struct Payload {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

pub struct Artifact {
    pub kind: String,
    pub repository: String,
    pub tag: String,
    pub manifest_digest: String,
    pub artifact_type: String,
    pub layer_media_type: String,
    pub layer_digest: String,
    pub layer_size: u64,
    pub layer_title: String,
    pub unpacked: Totals,
    pub database: Option<Db>,
}

pub struct Db {
    pub schema_version: u64,
    pub updated_at: String,
    pub next_update: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

pub struct Vex {
    pub manifest_path: String,
    pub archive_path: String,
    pub archive_format: String,
    pub subdir: String,
    pub packages: u64,
    pub unpacked: Totals,
}

pub struct Manifest {
    pub payloads: Vec<Payload>,
    pub artifacts: Vec<Artifact>,
    pub vexes: Vec<Vex>,
}

fn bad(rule: &str, why: &str) -> Verdict {
    fail(4, &format!("{rule}: {why}"))
}

/// The version grammar of section 3: (major, minor).
fn version(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('.')?;
    let num = |n: &str| -> Option<u64> {
        let ok = !n.is_empty()
            && n.len() <= 9
            && n.bytes().all(|c| c.is_ascii_digit())
            && (n == "0" || !n.starts_with('0'));
        ok.then(|| n.parse().ok()).flatten()
    };
    Some((num(a)?, num(b)?))
}

fn plain_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

fn relative_path(s: &str) -> bool {
    s.len() <= 255 && s.split('/').all(plain_name)
}

fn payload_path(s: &str) -> bool {
    relative_path(s) && (s.starts_with("oci/") || s.starts_with("vex/"))
}

fn hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

pub fn oci_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(hex64)
}

fn visible(s: &str, max: usize) -> bool {
    s.len() <= max
        && s.chars().all(|c| {
            !matches!(
                c.general_category(),
                G::Control
                    | G::Format
                    | G::LineSeparator
                    | G::ParagraphSeparator
                    | G::PrivateUse
                    | G::Surrogate
                    | G::Unassigned
            ) && !matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
        })
}

fn rfc3339(s: &str) -> Option<OffsetDateTime> {
    // RFC 3339 section 5.6's `date-time` separates date and time by "T";
    // the space its NOTE allows is not that production. SPEC.md text
    // revision 3 takes "T" and "Z" in upper case only.
    if s.len() > 64 || s.contains('\n') || s.as_bytes().get(10) != Some(&b'T') || s.contains('z') {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Typed access to one table, refusing (R13) a missing or mistyped key.
struct T<'a>(&'a Table, &'a str);

impl<'a> T<'a> {
    fn opt_str(&self, k: &str) -> Result<Option<&'a str>, Verdict> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad("R13", &format!("{}.{k} is not a string", self.1))),
        }
    }
    fn str(&self, k: &str) -> Result<&'a str, Verdict> {
        self.opt_str(k)?
            .ok_or_else(|| bad("R13", &format!("{}.{k} is missing", self.1)))
    }
    fn opt_int(&self, k: &str) -> Result<Option<u64>, Verdict> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(_) => Err(bad(
                "R13",
                &format!("{}.{k} is not an integer >= 0", self.1),
            )),
        }
    }
    fn int(&self, k: &str) -> Result<u64, Verdict> {
        self.opt_int(k)?
            .ok_or_else(|| bad("R13", &format!("{}.{k} is missing", self.1)))
    }
    fn opt_table(&self, k: &str) -> Result<Option<&'a Table>, Verdict> {
        match self.0.get(k) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(_) => Err(bad("R13", &format!("{}.{k} is not a table", self.1))),
        }
    }
    fn table(&self, k: &str) -> Result<&'a Table, Verdict> {
        self.opt_table(k)?
            .ok_or_else(|| bad("R13", &format!("{}.{k} is missing", self.1)))
    }
    fn array(&self, k: &str) -> Result<Vec<&'a Table>, Verdict> {
        match self.0.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::Table(t) => Ok(t),
                    _ => Err(bad("R13", &format!("{k} is not an array of tables"))),
                })
                .collect(),
            Some(_) => Err(bad("R13", &format!("{k} is not an array of tables"))),
        }
    }
}

fn check(ok: bool, rule: &str, why: &str) -> Result<(), Verdict> {
    if ok {
        Ok(())
    } else {
        Err(bad(rule, why))
    }
}

/// Unpacked totals: R13 types and R14 bounds.
fn unpacked(t: &Table, what: &str, compressed: u64) -> Result<Totals, Verdict> {
    let t = T(t, what);
    let size = t.int("size")?;
    let files = t.int("files")?;
    let entries = t.int("entries")?;
    let data = t.int("data")?;
    // Presence decides, not the minor (SECOND-READER.md, ambiguity 1): a
    // signed `dirs` is held exactly, a missing one gets the legacy bound.
    let dirs_field = t.opt_int("dirs")?;
    let dirs = dirs_field.unwrap_or(0);
    check(
        entries <= 1_000_000,
        "R14",
        "unpacked.entries above 1,000,000",
    )?;
    check(dirs <= 1_000_000, "R14", "unpacked.dirs above 1,000,000")?;
    check(files <= entries, "R14", "unpacked.files above entries")?;
    check(size <= data, "R14", "unpacked.size above data")?;
    check(data <= 256 << 30, "R14", "unpacked.data above 256 GiB")?;
    let cap = (compressed as u128) * 1100 + (1 << 20);
    check(
        (data as u128) <= cap,
        "R14",
        "unpacked.data above 1100 x compressed + 1 MiB",
    )?;
    Ok(Totals {
        size,
        files,
        entries,
        data,
        dirs: dirs_field,
    })
}

fn has_datetime(t: &Table) -> bool {
    fn value(v: &Value) -> bool {
        match v {
            Value::Datetime(_) => true,
            Value::Table(t) => has_datetime(t),
            Value::Array(a) => a.iter().any(value),
            _ => false,
        }
    }
    t.values().any(value)
}

/// R9 to R16 on the raw manifest bytes, `now` the reader's clock.
pub fn read(bytes: &[u8], now: OffsetDateTime) -> Result<Manifest, Verdict> {
    // R9
    check(
        !bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
        "R9",
        "byte-order mark",
    )?;
    let text = std::str::from_utf8(bytes).map_err(|_| bad("R9", "not UTF-8"))?;
    let doc: Table = text
        .parse()
        .map_err(|e| bad("R9", &format!("not TOML: {e}")))?;
    let top = T(&doc, "manifest");
    // R10: the major, before anything else.
    let fv = doc.get("format_version").and_then(Value::as_str);
    if let Some((major, _)) = fv.and_then(version) {
        check(
            major == 1,
            "R10",
            &format!(
                "bundle format version {} is not supported",
                fv.unwrap_or("")
            ),
        )?;
    }
    // R11, R12
    check(
        doc.get("format").and_then(Value::as_str) == Some("airlock-bundle"),
        "R11",
        "format is not airlock-bundle",
    )?;
    let _ = fv
        .and_then(version)
        .ok_or_else(|| bad("R12", "format_version missing or not MAJOR.MINOR"))?;
    // R13 (and R14, interleaved as section 5 allows); text revision 3:
    // no TOML date-time value at any key, known or not.
    check(!has_datetime(&doc), "R13", "a TOML date-time value")?;
    let created = rfc3339(top.str("created")?).ok_or_else(|| bad("R13", "created"))?;
    check(visible(top.str("generator")?, 128), "R13", "generator")?;
    let series = top.opt_str("series")?;
    let sequence = top.opt_int("sequence")?;
    check(series.is_none_or(plain_name), "R13", "series")?;
    check(
        series.is_some() == sequence.is_some(),
        "R14",
        "series and sequence go together",
    )?;
    if let Some(labels) = top.opt_table("labels")? {
        for (k, v) in labels {
            check(plain_name(k), "R13", "label key")?;
            check(
                v.as_str().is_some_and(|s| visible(s, 1024)),
                "R13",
                "label value",
            )?;
        }
    }
    // payloads
    let mut payloads = Vec::new();
    for p in top.array("payload")? {
        let p = T(p, "payload");
        let path = p.str("path")?;
        let sha256 = p.str("sha256")?;
        let size = p.int("size")?;
        check(payload_path(path), "R13", "payload.path")?;
        check(hex64(sha256), "R13", "payload.sha256")?;
        if let Some(h) = path.strip_prefix("oci/blobs/sha256/") {
            check(h == sha256, "R14", "blob not named by its digest")?;
        }
        payloads.push(Payload {
            path: path.into(),
            size,
            sha256: sha256.into(),
        });
    }
    check(!payloads.is_empty(), "R14", "no payload")?;
    check(
        payloads.windows(2).all(|w| w[0].path < w[1].path),
        "R14",
        "payloads not sorted or not unique",
    )?;
    let payload = |path: &str| payloads.iter().find(|p| p.path == path);
    // artifacts
    let order = ["trivy-db", "java-db", "checks"];
    let mut artifacts = Vec::new();
    let mut arts = Vec::new();
    let mut last_kind = None;
    for a in top.array("artifact")? {
        let a = T(a, "artifact");
        let kind = a.str("kind")?;
        let rank = order
            .iter()
            .position(|k| *k == kind)
            .ok_or_else(|| bad("R13", "artifact.kind"))?;
        check(
            last_kind.is_none_or(|l| rank > l),
            "R14",
            "artifacts out of kind order",
        )?;
        last_kind = Some(rank);
        check(visible(a.str("source")?, 4096), "R13", "artifact.source")?;
        if let Some(r) = a.opt_str("reference")? {
            check(
                visible(r, 4096) && reference(r),
                "R13",
                "artifact.reference",
            )?;
        }
        let fetched = a.opt_str("fetched_at")?;
        let fetched = fetched
            .map(|f| rfc3339(f).ok_or_else(|| bad("R13", "fetched_at")))
            .transpose()?;
        let repo = a.str("repository")?;
        let tg = a.str("tag")?;
        check(repository(repo), "R13", "artifact.repository")?;
        check(tag(tg), "R13", "artifact.tag")?;
        let own = ["trivy-db", "trivy-java-db", "trivy-checks"][rank];
        check(repo == own, "R14", "repository is not the kind's own name")?;
        let md = a.str("manifest_digest")?;
        check(oci_digest(md), "R13", "manifest_digest")?;
        if let Some(u) = a.opt_str("upstream_manifest_digest")? {
            check(oci_digest(u), "R13", "upstream_manifest_digest")?;
        }
        let at = a.str("artifact_type")?;
        check(media_type(at), "R13", "artifact_type")?;
        let l = T(a.table("layer")?, "artifact.layer");
        let (lmt, ld, ls, lt) = (
            l.str("media_type")?,
            l.str("digest")?,
            l.int("size")?,
            l.str("title")?,
        );
        check(media_type(lmt), "R13", "layer.media_type")?;
        check(oci_digest(ld), "R13", "layer.digest")?;
        check(plain_name(lt), "R13", "layer.title")?;
        let totals = unpacked(a.table("unpacked")?, "artifact.unpacked", ls)?;
        let mut database = None;
        let db = a.opt_table("database")?;
        let ck = a.opt_table("checks")?;
        let mut updated = None;
        if rank < 2 {
            check(ck.is_none(), "R14", "checks table on a database")?;
            let d = T(
                db.ok_or_else(|| bad("R13", "artifact.database missing"))?,
                "database",
            );
            let schema = d.int("schema_version")?;
            let up = rfc3339(d.str("updated_at")?).ok_or_else(|| bad("R13", "updated_at"))?;
            let next = rfc3339(d.str("next_update")?).ok_or_else(|| bad("R13", "next_update"))?;
            check(plain_name(d.str("file")?), "R13", "database.file")?;
            let dsize = d.int("size")?;
            check(hex64(d.str("sha256")?), "R13", "database.sha256")?;
            check(next >= up, "R14", "next_update before updated_at")?;
            check(
                next - up <= time::Duration::days(14),
                "R14",
                "next_update > 14 days",
            )?;
            check(
                dsize <= totals.size,
                "R14",
                "database file larger than unpacked.size",
            )?;
            updated = Some((up, schema));
            database = Some(Db {
                schema_version: schema,
                updated_at: d.str("updated_at")?.into(),
                next_update: d.str("next_update")?.into(),
                file: d.str("file")?.into(),
                size: dsize,
                sha256: d.str("sha256")?.into(),
            });
        } else {
            check(db.is_none(), "R14", "database table on checks")?;
            let c = T(
                ck.ok_or_else(|| bad("R13", "artifact.checks missing"))?,
                "checks",
            );
            if let Some(v) = c.opt_str("version")? {
                check(visible(v, 128), "R13", "checks.version")?;
            }
            let major = c.int("major_version")?;
            artifacts.push((rank, major, fetched, None));
        }
        if rank < 2 {
            artifacts.push((rank, updated.unwrap().1, fetched, updated.map(|u| u.0)));
        }
        let mp = payload(&format!("oci/blobs/sha256/{}", &md[7..]));
        check(
            mp.is_some(),
            "R14",
            "image manifest blob not among the payloads",
        )?;
        let lp = payload(&format!("oci/blobs/sha256/{}", &ld[7..]));
        check(
            lp.is_some_and(|p| p.size == ls),
            "R14",
            "layer blob missing or of another size",
        )?;
        arts.push(Artifact {
            kind: kind.into(),
            repository: repo.into(),
            tag: tg.into(),
            manifest_digest: md.into(),
            artifact_type: at.into(),
            layer_media_type: lmt.into(),
            layer_digest: ld.into(),
            layer_size: ls,
            layer_title: lt.into(),
            unpacked: totals,
            database,
        });
    }
    // VEX repositories
    let mut vex_paths: Vec<String> = Vec::new();
    let mut last_name: Option<&str> = None;
    let vexes = top.array("vex")?;
    let mut vex_list = Vec::new();
    for v in &vexes {
        let v = T(v, "vex");
        let name = v.str("name")?;
        check(plain_name(name), "R13", "vex.name")?;
        check(
            last_name.is_none_or(|l| l < name),
            "R14",
            "vex not sorted by name or not unique",
        )?;
        last_name = Some(name);
        check(visible(v.str("source")?, 4096), "R13", "vex.source")?;
        check(visible(v.str("title")?, 256), "R13", "vex.title")?;
        let fmt = v.str("archive_format")?;
        check(fmt == "zip" || fmt == "tar.gz", "R13", "archive_format")?;
        let sub = v.str("subdir")?;
        check(sub.is_empty() || relative_path(sub), "R13", "subdir")?;
        let sv = v.str("spec_version")?;
        check(visible(sv, 16), "R13", "spec_version")?;
        check(sv == "0.1", "R14", "spec_version is not 0.1")?;
        check(
            visible(v.str("original_location")?, 4096),
            "R13",
            "original_location",
        )?;
        check(visible(v.str("updated_at")?, 64), "R13", "vex.updated_at")?;
        let packages = v.int("packages")?;
        let mpath = v.str("manifest_path")?;
        let apath = v.str("archive_path")?;
        check(
            payload_path(mpath) && payload_path(apath),
            "R13",
            "vex paths",
        )?;
        check(
            mpath == format!("vex/{name}/vex-repository.json"),
            "R14",
            "manifest_path",
        )?;
        check(
            apath == format!("vex/{name}/archive.{fmt}"),
            "R14",
            "archive_path",
        )?;
        let ap = payload(apath).ok_or_else(|| bad("R14", "VEX archive not a payload"))?;
        check(
            payload(mpath).is_some(),
            "R14",
            "vex-repository.json not a payload",
        )?;
        let totals = unpacked(v.table("unpacked")?, "vex.unpacked", ap.size)?;
        vex_list.push(Vex {
            manifest_path: mpath.into(),
            archive_path: apath.into(),
            archive_format: fmt.into(),
            subdir: sub.into(),
            packages,
            unpacked: totals,
        });
        vex_paths.push(mpath.into());
        vex_paths.push(apath.into());
    }
    for p in &payloads {
        if p.path.starts_with("vex/") {
            check(
                vex_paths.contains(&p.path),
                "R14",
                "a vex/ payload of no repository",
            )?;
        }
    }
    check(
        !artifacts.is_empty() || !vexes.is_empty(),
        "R14",
        "no artifact and no VEX repository",
    )?;
    // R15
    for (rank, n, _, _) in &artifacts {
        let want = [2, 1, 2][*rank];
        check(
            *n == want,
            "R15",
            "schema or major version Trivy 0.76 does not read",
        )?;
    }
    // R16
    let limit = now + time::Duration::hours(1);
    let future = created > limit
        || artifacts
            .iter()
            .any(|(_, _, f, u)| f.is_some_and(|f| f > limit) || u.is_some_and(|u| u > limit));
    if future {
        return Err(fail(
            6,
            "R16: a time more than 1 hour after the reader's clock",
        ));
    }
    Ok(Manifest {
        payloads,
        artifacts: arts,
        vexes: vex_list,
    })
}
