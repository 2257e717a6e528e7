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
    if a.json {
        return print_json(&st);
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
    Ok(())
}
