//! `rollback` and `status` of a cache directory.

use std::io::{self, Write};

use super::failure::Result;

use super::args::CacheArgs;

use super::*;

pub(super) fn rollback(a: CacheArgs) -> Result<()> {
    let report = airlock::install::rollback(&a.cache_dir)?;
    if a.json {
        return print_json(&report);
    }
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(out, "rolled back in {}:", report.cache_dir.display())?;
    for r in &report.restored {
        writeln!(out, "  {}", r.display())?;
    }
    writeln!(
        out,
        "what was swapped out is kept: `airlock rollback` again undoes this"
    )?;
    Ok(())
}

pub(super) fn status(a: CacheArgs) -> Result<()> {
    let st = airlock::install::status(&a.cache_dir)?;
    let activity = airlock::install::activity(&a.cache_dir);
    if a.json {
        return print_json(&StatusJson {
            status: &st,
            activity: &activity,
        });
    }
    let size = airlock::text::bytes;
    let mut out = show::Sanitize(io::stdout().lock());
    writeln!(out, "{}:", st.cache_dir.display())?;
    for c in &st.components {
        write!(
            out,
            "  {:<28} {:>10}",
            c.path.display().to_string(),
            size(c.bytes)
        )?;
        if let Some(m) = &c.metadata {
            write!(
                out,
                "  schema {}  UpdatedAt {}  NextUpdate {}  DownloadedAt {}",
                m.version, m.updated_at, m.next_update, m.downloaded_at
            )?;
        }
        if let Some(p) = c.previous_bytes {
            write!(out, "  (previous generation kept: {})", size(p))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "previous generation (for `airlock rollback`): {}",
        size(st.previous_bytes)
    )?;
    show_activity(&mut out, &activity)?;
    Ok(())
}

/// `status --json`: the cache, then what runs on it or was left there.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    status: &'a airlock::install::CacheStatus,
    #[serde(flatten)]
    activity: &'a airlock::install::Activity,
}

/// An import in progress, and leftovers: path, size, and who holds them.
fn show_activity(out: &mut dyn Write, a: &airlock::install::Activity) -> io::Result<()> {
    if let Some(pid) = a.import_in_progress {
        writeln!(
            out,
            "import in progress: process {pid} holds the cache lock"
        )?;
    }
    for l in &a.leftovers {
        let what = if l.dir { "folder" } else { "file" };
        let size = bar::human(l.bytes);
        match l.held_by {
            Some(pid) => writeln!(
                out,
                "in use: {} ({what}, {size}), held by live process {pid}",
                l.path.display()
            )?,
            None => writeln!(
                out,
                "leftover: {} ({what}, {size}) of an interrupted run; no live process holds it, the next run of its kind removes it",
                l.path.display()
            )?,
        }
    }
    Ok(())
}
