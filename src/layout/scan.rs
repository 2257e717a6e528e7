//! The Trivy scan commands that fit a cache, one per kind of target
//! (`rootfs`, `fs`, `image`, `config`).
//!
//! They are built from what the cache holds after an import ([`Installed`]),
//! not from the bundle just imported: a bundle without VEX leaves the VEX
//! repository an earlier import installed, and the scans should keep using it
//! (issue 15, item 6). Each command carries the flags that keep Trivy off the
//! network (trivy-facts.md): `--skip-db-update` (Trivy 0.76 never checks a
//! database's age with it), `--skip-java-db-update` for the targets that read
//! jars (`rootfs`, `image`; `fs` ignores them) when a Java DB is installed
//! (without one Trivy refuses the flag "on the first run", and without the
//! flag it downloads a Java DB at the first jar: those commands then skip
//! the jar files, [`JAR_FILES`]),
//! `--skip-check-update` when a checks bundle is, `--vex repo --skip-vex-repo-update` only when a VEX repository is
//! installed (a failed refresh deletes it and makes the scan fatal),
//! `--offline-scan`, `--skip-version-check` and `--disable-telemetry`.

use std::fmt;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::layout::trivy_cache;

/// What a Trivy cache holds, as Trivy would find it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// `db/trivy.db` and `db/metadata.json`.
    pub db: bool,
    /// `java-db/trivy-java.db` and `java-db/metadata.json`.
    pub java_db: bool,
    /// `policy/content/` (all `--skip-check-update` needs).
    pub checks: bool,
    /// The VEX repositories under `vex/repositories/`, by name, sorted.
    pub vex: Vec<String>,
}

impl Installed {
    /// Looks at `cache_dir` (a missing cache holds nothing).
    ///
    /// # Errors
    /// A VEX repositories folder that exists but cannot be listed.
    pub fn read(cache_dir: &Path) -> io::Result<Self> {
        let both = |dir: &str, a: &str, b: &str| {
            let d = cache_dir.join(dir);
            d.join(a).is_file() && d.join(b).is_file()
        };
        let mut vex = Vec::new();
        let repos = cache_dir.join(trivy_cache::VEX_REPOSITORIES);
        match std::fs::read_dir(&repos) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // Staging and retired copies are hidden (`.airlock-*`).
                    if !name.starts_with('.') && entry.path().is_dir() {
                        vex.push(name);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        vex.sort();
        Ok(Installed {
            db: both("db", "trivy.db", "metadata.json"),
            java_db: both("java-db", "trivy-java.db", "metadata.json"),
            checks: cache_dir.join("policy/content").is_dir(),
            vex,
        })
    }
}

/// What a scan command scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanTarget {
    /// A root file system (`/` of this host, or a mounted one).
    Rootfs,
    /// A project folder (lock files).
    Fs,
    /// A container image (name, or `--input image.tar`).
    Image,
    /// Configuration files (Dockerfile, Kubernetes, Terraform...).
    Config,
}

impl ScanTarget {
    /// The Trivy subcommand.
    pub fn subcommand(self) -> &'static str {
        match self {
            ScanTarget::Rootfs => "rootfs",
            ScanTarget::Fs => "fs",
            ScanTarget::Image => "image",
            ScanTarget::Config => "config",
        }
    }

    /// What the printed command scans: this host's root, the current
    /// folder, or `IMAGE` (a placeholder word, safe to paste into a shell).
    pub fn operand(self) -> &'static str {
        match self {
            ScanTarget::Rootfs => "/",
            ScanTarget::Fs | ScanTarget::Config => ".",
            ScanTarget::Image => "IMAGE",
        }
    }
}

impl fmt::Display for ScanTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subcommand())
    }
}

/// One printed scan command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanCommand {
    /// What it scans.
    pub target: ScanTarget,
    /// The arguments, `trivy` first, the operand last (a cache path that is
    /// not UTF-8 shows lossily here; `command` names it exactly).
    pub argv: Vec<String>,
    /// The command for a POSIX shell, one line of visible text that gives
    /// the cache path's bytes back ([`crate::text::shell_word_posix`]); empty when
    /// no such line can name the cache (its path ends with a line break).
    pub command: String,
}

/// The scan commands that fit a cache at `cache_dir` (absolute) holding
/// `installed`: `rootfs`, `fs` and `image` when a vulnerability DB is
/// installed, `config` when a checks bundle is.
pub fn scan_commands(cache_dir: &Path, installed: &Installed) -> Vec<ScanCommand> {
    let targets = [
        ScanTarget::Rootfs,
        ScanTarget::Fs,
        ScanTarget::Image,
        ScanTarget::Config,
    ];
    let cache_word = crate::text::shell_word_posix(cache_dir);
    targets
        .into_iter()
        .filter(|t| match t {
            ScanTarget::Config => installed.checks,
            _ => installed.db,
        })
        .map(|t| {
            let argv = argv(t, cache_dir, installed);
            let command = match &cache_word {
                Some(cache) => argv
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        if i == CACHE_ARG {
                            cache.clone()
                        } else {
                            shell_quote(a)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                None => String::new(),
            };
            ScanCommand {
                target: t,
                argv,
                command,
            }
        })
        .collect()
}

/// The files Trivy's jar analyser reads (and needs the Java DB for):
/// skipped by the `rootfs` and `image` commands of a cache without one.
pub const JAR_FILES: [&str; 4] = ["**/*.jar", "**/*.war", "**/*.ear", "**/*.par"];

/// Where `argv` holds the cache path.
const CACHE_ARG: usize = 3;

fn argv(t: ScanTarget, cache_dir: &Path, installed: &Installed) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "trivy".into(),
        t.subcommand().into(),
        "--cache-dir".into(),
        cache_dir.to_string_lossy().into_owned(),
    ];
    let mut flag = |f: &str| a.push(f.to_string());
    // Each skip flag only for what the cache holds: Trivy refuses
    // `--skip-*-update` "on the first run" (trivy-facts.md).
    match t {
        ScanTarget::Config => flag("--skip-check-update"),
        ScanTarget::Rootfs | ScanTarget::Image | ScanTarget::Fs => {
            flag("--skip-db-update");
            if t != ScanTarget::Fs {
                if installed.java_db {
                    flag("--skip-java-db-update");
                } else {
                    // Without a Java DB, Trivy downloads one at the first
                    // jar (FATAL offline): leave the jars out instead.
                    for pattern in JAR_FILES {
                        flag("--skip-files");
                        flag(pattern);
                    }
                }
            }
            if installed.checks {
                flag("--skip-check-update");
            }
            if !installed.vex.is_empty() {
                flag("--vex");
                flag("repo");
                flag("--skip-vex-repo-update");
            }
            flag("--offline-scan");
        }
    }
    flag("--skip-version-check");
    flag("--disable-telemetry");
    a.push(t.operand().into());
    a
}

/// `s` (an argument) as one shell word: [`crate::text::shell_str`].
pub fn shell_quote(s: &str) -> String {
    crate::text::shell_str(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_a_shell_would_split_or_expand_are_single_quoted() {
        assert_eq!(shell_quote("/var/cache/trivy"), "/var/cache/trivy");
        assert_eq!(shell_quote("/mnt/usb stick/c"), "'/mnt/usb stick/c'");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a*b"), "'a*b'");
    }

    #[test]
    fn commands_follow_what_the_cache_holds() {
        let all = Installed {
            db: true,
            java_db: true,
            checks: true,
            vex: vec!["default".into()],
        };
        let c = scan_commands(Path::new("/c d"), &all);
        let lines: Vec<&str> = c.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(
            lines,
            [
                "trivy rootfs --cache-dir '/c d' --skip-db-update --skip-java-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry /",
                "trivy fs --cache-dir '/c d' --skip-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry .",
                "trivy image --cache-dir '/c d' --skip-db-update --skip-java-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry IMAGE",
                "trivy config --cache-dir '/c d' --skip-check-update --skip-version-check --disable-telemetry .",
            ]
        );
        let db_only = Installed {
            db: true,
            ..Installed::default()
        };
        let c = scan_commands(Path::new("/c"), &db_only);
        assert_eq!(
            c.iter().map(|c| c.target).collect::<Vec<_>>(),
            [ScanTarget::Rootfs, ScanTarget::Fs, ScanTarget::Image]
        );
        assert_eq!(
            c[0].command,
            "trivy rootfs --cache-dir /c --skip-db-update --skip-files '**/*.jar' --skip-files '**/*.war' --skip-files '**/*.ear' --skip-files '**/*.par' --offline-scan --skip-version-check --disable-telemetry /"
        );
        let odd = scan_commands(Path::new("/c\n"), &db_only);
        assert_eq!(
            odd[0].command, "",
            "no one-line command names /c + line break"
        );
        assert_eq!(odd[0].argv[3], "/c\n");
        assert!(scan_commands(Path::new("/c"), &Installed::default()).is_empty());
    }
}
