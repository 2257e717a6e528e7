//! `completion` and `man` (issue 14): shell completions and man pages
//! generated from the same clap definitions as the parser, so neither can
//! drift from the flags.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use airlock::fsio::{AtomicFile, Replace};
use clap::CommandFactory as _;

use super::args::{Cli, CompletionArgs, ManArgs};
use super::failure::{Context as _, Result};

/// Prints the completion script for the shell on stdout.
pub(super) fn completion(a: CompletionArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "airlock", &mut script);
    io::stdout().lock().write_all(&script)?;
    Ok(())
}

/// Writes `airlock.1` and `airlock-<sub>.1` for each subcommand into the
/// directory, and names each file on stdout.
pub(super) fn man(a: ManArgs) -> Result<()> {
    let dir = super::show::path_line(&a.out);
    fs::create_dir_all(&a.out).context(format!("cannot create {dir}"))?;
    let mut cmd = Cli::command();
    cmd.build();
    write_page(&a.out, "airlock", cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // `build` named it `airlock-<sub>` for its page's title.
        let name = format!("airlock-{}", sub.get_name());
        write_page(&a.out, &name, sub.clone())?;
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    // A new file renamed over the old page: a symbolic link there is
    // replaced, never written through, and a page is whole or absent.
    let cannot = || format!("cannot write {}", super::show::path_line(&path));
    let mut f = AtomicFile::create(&path, ".airlock-man-", ".partial", 0o644).context(cannot())?;
    f.write_all(&page).context(cannot())?;
    f.commit(Replace::Overwrite)
        .map_err(|e| e.into_io())
        .context(cannot())?;
    let line = format!("{}\n", super::show::path_line(&path));
    io::stdout().lock().write_all(line.as_bytes())?;
    Ok(())
}
