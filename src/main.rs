//! The `airlock` binary: parse, run, and map the error chain to an exit
//! code (documented in README.md, "Exit codes").

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

/// Success.
const EXIT_OK: u8 = 0;

/// A message with only its own line breaks: a list's `  - ` items (each
/// escaped where it is built); any other line break came from quoted input
/// (a name, a parser's message) and is shown as `\u{a}`, so quoted text
/// cannot print a line of its own, such as a forged verdict or `hint:`
/// (advice travels apart from messages and is printed below them).
fn own_lines(message: &str) -> String {
    let mut lines = message.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        if line.starts_with("  - ") {
            out.push('\n');
        } else {
            out.push_str("\\u{a}");
        }
        out.push_str(line);
    }
    out
}

/// On SIGINT, SIGTERM or SIGHUP: wait for a step that must not be cut in
/// two (an audit line, an import's swaps and record: see
/// `airlock::cleanup::interrupt`), remove the work folders and temporary
/// files of the run (a download can fill gigabytes in seconds; issue 17),
/// show what the interrupt hooks say (an import's record of the
/// interruption), and exit with 128 + the signal, as a shell reports a
/// death by it. A second signal while that runs ends the process at once. `signal-hook`
/// does the async-signal-safe part (a self-pipe); the clean-up runs on an
/// ordinary thread.
fn clean_up_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::sync::{atomic::AtomicBool, Arc};
    // A signal ignored at start stays ignored (`nohup`, a background job
    // of a script): the user asked for it to change nothing.
    let signals: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|&sig| !ignored(sig))
        .collect();
    let again = Arc::new(AtomicBool::new(false));
    for &sig in &signals {
        // Order matters: the shutdown checks the flag before it is set.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, again.clone());
        let _ = signal_hook::flag::register(sig, again.clone());
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new(&signals) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Whatever fails below (a hook's panic), the process still
            // ends: a handler thread that died would leave it running,
            // holding the cache lock, with its work threads parked.
            let _ = std::panic::catch_unwind(|| on_signal(sig));
            std::process::exit(128 + sig)
        }
    });
}

/// A line on stderr, or nothing: stderr may be a pipe whose reader is gone
/// (Ctrl-C on `airlock … | tee` signals `tee` too), and a failed write
/// must not stop the handler (`eprintln!` would panic).
fn say(line: &str) {
    let mut err = std::io::stderr();
    if std::io::IsTerminal::is_terminal(&err) {
        let _ = writeln!(err); // off the progress bar's line
    }
    let _ = writeln!(err, "airlock: {line}");
}

/// The handler's work for `sig`: ends with `exit`.
fn on_signal(sig: i32) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // Echo back on first, if the passphrase prompt turned it off.
    cli::passphrase::restore_terminal();
    let name = match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    };
    let waiting = || {
        say(&format!("{name} received; finishing a step that must not be cut short first (an audit record, or an import's swaps and its record)"));
    };
    airlock::cleanup::remove_all_then(name, waiting, |removed, said| {
        let mut lines: Vec<String> = said
            .iter()
            .map(|l| airlock::text::escape(l).into_owned())
            .collect();
        let what = match removed.paths.len() {
            1 => "1 temporary file or folder".to_string(),
            n => format!("{n} temporary files and folders"),
        };
        lines.push(format!(
            "interrupted by {name}; removed {what} ({} bytes)",
            removed.bytes
        ));
        // One break off the progress bar's line, then the lines.
        let mut err = std::io::stderr();
        if std::io::IsTerminal::is_terminal(&err) {
            let _ = writeln!(err);
        }
        for l in &lines {
            let _ = writeln!(err, "airlock: {l}");
        }
        std::process::exit(128 + sig)
    })
}

/// Whether `sig`'s disposition is "ignore".
fn ignored(sig: i32) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one
    // into a zeroed struct of the right type.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

fn main() -> ExitCode {
    clean_up_on_signals();
    // A request thread's panic (the HTTP client's, on a hostile redirect)
    // comes back as an error naming it; only other panics print here.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(airlock::registry::deadline::REQUEST_THREAD) {
            default_hook(info);
        }
    }));
    let cli = match cli::args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let json = cli::wants_json(&cli);
    match cli::run(cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(err) if err.is_broken_pipe() => ExitCode::from(EXIT_OK),
        Err(err) if err.is_said() => ExitCode::from(err.class().code()),
        Err(err) => {
            // The class the error was given where it arose: no type is
            // inspected here (README.md, "Exit codes").
            let code = err.class().code();
            let mut stderr = cli::show::Sanitize(std::io::stderr().lock());
            // No URL leaves with its credentials or tokens, whichever error
            // quotes it (see airlock::redact).
            let shown = |text: String| airlock::redact::text(&text).into_owned();
            let mut lines = err.lines().into_iter().map(shown);
            let top = lines.next().unwrap_or_default();
            let causes: Vec<String> = lines.collect();
            // Advice is the library's own words or the command line's for
            // its flags, one line each.
            let hints: Vec<String> = err
                .hints()
                .iter()
                .map(|h| shown(h.replace('\n', "\\u{a}")))
                .collect();
            let _ = writeln!(stderr, "airlock: error: {}", own_lines(&top));
            for c in &causes {
                let _ = writeln!(stderr, "  caused by: {}", own_lines(c));
            }
            for h in &hints {
                let _ = writeln!(stderr, "hint: {h}");
            }
            if json {
                let v = JsonFailure {
                    ok: false,
                    error: &top,
                    causes: &causes,
                    hints: &hints,
                    exit_code: code,
                };
                let _ = writeln!(
                    std::io::stdout(),
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                );
            }
            ExitCode::from(code)
        }
    }
}

/// A command line clap refused (or `--help`, `--version`): clap's words on
/// stderr (help and version on stdout), exit code 2; with `--json` anywhere
/// on the line, also the failure object on stdout, as every other failure
/// with `--json` (issue 14), so that a script reading stdout always gets
/// JSON.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || informational {
        e.exit()
    }
    let _ = e.print();
    // As every report: no URL leaves with its credentials (airlock::redact).
    let text = airlock::redact::text(&e.render().to_string()).into_owned();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let top = lines.next().unwrap_or_default();
    let mut top = top.strip_prefix("error: ").unwrap_or(top).to_string();
    // "the following required arguments were not provided:" and its list.
    if top.ends_with(':') {
        if let Some(what) = lines.next() {
            top = format!("{top} {what}");
        }
    }
    let causes: Vec<String> = lines.map(str::to_string).collect();
    let code = airlock::error::ExitClass::Usage.code();
    let v = JsonFailure {
        ok: false,
        error: &top,
        causes: &causes,
        hints: &[],
        exit_code: code,
    };
    let _ = writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    );
    ExitCode::from(code)
}

/// How a failed command ends on stdout with `--json` (after the same words
/// on stderr): one object, `ok` false.
#[derive(serde::Serialize)]
struct JsonFailure<'a> {
    /// Always false.
    ok: bool,
    /// The top message.
    error: &'a str,
    /// The chain under it, outermost first.
    causes: &'a [String],
    /// The advice, one line each.
    hints: &'a [String],
    /// The exit code the command ends with.
    exit_code: u8,
}
