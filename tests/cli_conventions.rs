//! Issue 14, CLI conventions: completions for each shell (loaded by bash),
//! man pages that `man -l` renders, an example at the end of every
//! `--help`, `AIRLOCK_*` variables shown in `--help`, "--key or --trust"
//! usage errors (an argument group), and usage errors as JSON on stdout
//! with `--json`.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

const SUBCOMMANDS: [&str; 15] = [
    "keygen",
    "export",
    "verify",
    "inspect",
    "import",
    "sign",
    "rollback",
    "status",
    "split",
    "join",
    "audit",
    "verify-receipt",
    "completion",
    "man",
    "trivy-config",
];

#[test]
fn completions_are_generated_for_each_shell_and_bash_loads_them() {
    for (shell, marker) in [
        ("bash", "complete -F _airlock"),
        ("zsh", "#compdef airlock"),
        ("fish", "complete -c airlock"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'airlock'",
        ),
    ] {
        let script = airlock_ok(&["completion", shell]);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(
            script.contains("db-repository"),
            "{shell}: the flags are in it"
        );
    }
    let cmd = format!(
        "source <({} completion bash) && complete -p airlock",
        airlock_bin().display()
    );
    let out = Command::new(tool("bash"))
        .args(["-c", &cmd])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "complete -o bashdefault -o default -o nosort -F _airlock airlock"
    );
    let out = airlock(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn man_pages_are_written_for_every_subcommand_and_render() {
    let t = TestDir::new();
    let dir = t.join("man1");
    let listed = airlock_ok(&["man", "--out", s(&dir)]);
    let mut want = vec![format!("{}/airlock.1", s(&dir))];
    want.extend(
        SUBCOMMANDS
            .iter()
            .map(|c| format!("{}/airlock-{c}.1", s(&dir))),
    );
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);
    for (page, needle) in [
        ("airlock.1", "airlock-status(1)"),
        ("airlock-status.1", "--max-db-age"),
    ] {
        let out = Command::new(tool("man"))
            .args(["-l", s(&dir.join(page))])
            .env("MANWIDTH", "200")
            .env("MAN_KEEP_FORMATTING", "0")
            .env("PAGER", "cat")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).replace(['\u{2010}', '\u{2212}'], "-");
        let plain: String = strip_overstrike(&text);
        assert!(plain.contains(needle), "{page}: no {needle:?} in\n{plain}");
    }
}

/// Text without man's bold and underline overstrikes (`X\bX`, `_\bX`).
fn strip_overstrike(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

#[test]
fn every_subcommands_help_ends_with_an_example() {
    for sub in SUBCOMMANDS {
        let help = airlock_ok(&[sub, "--help"]);
        // After the last "Example" heading, only command lines.
        let at = help
            .rfind("\nExample")
            .unwrap_or_else(|| panic!("{sub}: no example"));
        let example: Vec<&str> = help[at + 1..].lines().skip(1).collect();
        assert!(!example.is_empty(), "{sub}");
        for line in example.iter().filter(|l| !l.is_empty()) {
            assert!(
                ["  airlock ", "  source <(airlock ", "  trivy "]
                    .iter()
                    .any(|p| line.starts_with(p)),
                "{sub}: the help ends with {line:?}"
            );
        }
        assert!(
            example[0].starts_with("  airlock ") || example[0].starts_with("  source <(airlock "),
            "{sub}"
        );
    }
    let help = airlock_ok(&["verify", "--help"]);
    for var in ["[env: AIRLOCK_KEY=]", "[env: AIRLOCK_TRUST=]"] {
        assert!(help.contains(var), "verify --help lacks {var}");
    }
    let help = airlock_ok(&["export", "--help"]);
    for shown in [
        "[env: AIRLOCK_SIGN_KEY=]",
        "[alias: --db-repository]",
        "[alias: --java-db-repository]",
        "[alias: --checks-bundle-repository]",
    ] {
        assert!(help.contains(shown), "export --help lacks {shown}");
    }
}

#[test]
fn verify_and_import_say_key_or_trust_and_json_usage_errors_go_to_stdout() {
    for sub in ["verify", "import"] {
        let out = airlock(&[sub, "b.airlock"]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().take(2).collect();
        assert_eq!(
            lines,
            [
                "error: the following required arguments were not provided:",
                "  <--key <PUB>|--trust <POLICY>>"
            ],
            "{sub}"
        );
        let out = airlock(&[sub, "b.airlock", "--key", "a.pub", "--trust", "t.toml"]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with(
                "error: the argument '--key <PUB>' cannot be used with '--trust <POLICY>'"
            ),
            "{out:?}"
        );
        assert!(out.stdout.is_empty(), "without --json, nothing on stdout");
    }
    let out = airlock(&["verify", "b.airlock", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 2);
    assert_eq!(
        v["error"],
        "the following required arguments were not provided: <--key <PUB>|--trust <POLICY>>"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: the following required"),
        "{out:?}"
    );
    // --help with --json is still help.
    let out = airlock(&["verify", "--json", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn the_trust_and_key_variables_stand_for_their_flags() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    let out = Command::new(airlock_bin())
        .args(["export", "-o", s(&bundle), "--checks", s(&inputs.checks)])
        .env("AIRLOCK_SIGN_KEY", &key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = Command::new(airlock_bin())
        .args(["verify", s(&bundle)])
        .env("AIRLOCK_KEY", &public)
        .env_remove("AIRLOCK_TRUST")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
