//! Progress for the command line: a bar on a terminal (indicatif draws
//! nothing when stderr is not one), JSON lines on stderr with `--json`, or
//! nothing with `--quiet`.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
pub enum Reporter {
    /// A byte progress bar on stderr.
    Bar {
        bar: ProgressBar,
        label: RefCell<String>,
    },
    /// One JSON object per line on stderr: `begin`, `progress` (at most
    /// once a second, and at the end), `part`, `end`.
    Json {
        phase: RefCell<String>,
        total: Cell<u64>,
        done: Cell<u64>,
        last: Cell<Option<Instant>>,
    },
    /// Plain lines on stderr when it is not a terminal: the phase's bytes
    /// at most every 5 seconds, and a last line for work that took a second
    /// or more.
    Lines {
        phase: RefCell<String>,
        total: Cell<u64>,
        done: Cell<u64>,
        started: Cell<Option<Instant>>,
        last: Cell<Option<Instant>>,
    },
    /// Nothing.
    Quiet,
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

impl Reporter {
    pub fn new(json: bool, quiet: bool) -> Self {
        if quiet {
            return Reporter::Quiet;
        }
        if json {
            return Reporter::Json {
                phase: RefCell::new(String::new()),
                total: Cell::new(0),
                done: Cell::new(0),
                last: Cell::new(None),
            };
        }
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            return Reporter::Lines {
                phase: RefCell::new(String::new()),
                total: Cell::new(0),
                done: Cell::new(0),
                started: Cell::new(None),
                last: Cell::new(None),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>8} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        Reporter::Bar {
            bar,
            label: RefCell::new(String::new()),
        }
    }
}

/// One JSON progress line on stderr (`--json`), tagged by its `event`.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum ProgressEvent<'a> {
    /// A phase starts: `total` bytes to go.
    Begin { phase: &'a str, total: u64 },
    /// `bytes` of `total` done (at most once a second, and at the end).
    Progress {
        phase: &'a str,
        bytes: u64,
        total: u64,
    },
    /// A phase is done after `bytes`.
    End { phase: &'a str, bytes: u64 },
    /// Something worth saying within a phase.
    Note {
        phase: &'a str,
        bytes: u64,
        what: &'a str,
    },
}

fn event(value: ProgressEvent<'_>) {
    // A progress line that cannot be made or written is not worth failing
    // the command over: the command's own output says how it ended.
    let Ok(mut line) = serde_json::to_string(&value) else {
        return;
    };
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

impl airlock::progress::Progress for Reporter {
    fn begin(&self, label: &str, total: u64) {
        match self {
            Reporter::Bar { bar, label: l } => {
                *l.borrow_mut() = label.to_string();
                bar.set_message(label.to_string());
                bar.set_length(total);
                bar.set_position(0);
                // Redraw (rate, ETA) every second even while a read blocks
                // on slow media.
                bar.enable_steady_tick(Duration::from_secs(1));
            }
            Reporter::Json {
                phase,
                total: t,
                done,
                last,
            } => {
                *phase.borrow_mut() = label.to_string();
                t.set(total);
                done.set(0);
                last.set(Some(Instant::now()));
                event(ProgressEvent::Begin {
                    phase: label,
                    total,
                });
            }
            Reporter::Lines {
                phase,
                total: t,
                done,
                started,
                last,
            } => {
                *phase.borrow_mut() = label.to_string();
                t.set(total);
                done.set(0);
                started.set(Some(Instant::now()));
                last.set(Some(Instant::now()));
            }
            Reporter::Quiet => {}
        }
    }

    fn advance(&self, n: u64) {
        match self {
            Reporter::Bar { bar, .. } => bar.inc(n),
            Reporter::Json {
                phase,
                total,
                done,
                last,
            } => {
                done.set(done.get() + n);
                let due = last
                    .get()
                    .map_or(true, |t| t.elapsed() >= Duration::from_secs(1));
                if due {
                    last.set(Some(Instant::now()));
                    event(ProgressEvent::Progress {
                        phase: &phase.borrow(),
                        bytes: done.get(),
                        total: total.get(),
                    });
                }
            }
            Reporter::Lines {
                phase,
                total,
                done,
                started,
                last,
            } => {
                done.set(done.get() + n);
                if last
                    .get()
                    .is_some_and(|t| t.elapsed() >= Duration::from_secs(5))
                {
                    last.set(Some(Instant::now()));
                    let secs = started.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
                    eprintln!(
                        "airlock: {}: {} of {} ({:.1} MiB/s)",
                        phase.borrow(),
                        mib(done.get()),
                        mib(total.get()),
                        done.get() as f64 / 1048576.0 / secs.max(0.001)
                    );
                }
            }
            Reporter::Quiet => {}
        }
    }

    fn end(&self) {
        match self {
            Reporter::Bar { bar, .. } => bar.finish_and_clear(),
            Reporter::Json {
                phase, total, done, ..
            } => {
                event(ProgressEvent::Progress {
                    phase: &phase.borrow(),
                    bytes: done.get(),
                    total: total.get(),
                });
                event(ProgressEvent::End {
                    phase: &phase.borrow(),
                    bytes: done.get(),
                });
            }
            Reporter::Lines {
                phase,
                done,
                started,
                ..
            } => {
                let secs = started.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
                if secs >= 1.0 {
                    eprintln!(
                        "airlock: {}: done, {} in {secs:.1} s",
                        phase.borrow(),
                        mib(done.get())
                    );
                }
            }
            Reporter::Quiet => {}
        }
    }

    fn note(&self, what: &str) {
        match self {
            // Before any phase there is no bar to carry it: a line of its own.
            Reporter::Bar { bar, label } if label.borrow().is_empty() => {
                bar.suspend(|| eprintln!("airlock: {what}"))
            }
            Reporter::Bar { bar, label } => bar.set_message(format!("{} {what}", label.borrow())),
            Reporter::Json { phase, done, .. } => event(ProgressEvent::Note {
                phase: &phase.borrow(),
                bytes: done.get(),
                what,
            }),
            Reporter::Lines { phase, .. } => {
                // Which part is read, and sources skipped, are worth a line.
                match phase.borrow().as_str() {
                    "" => eprintln!("airlock: {what}"),
                    p => eprintln!("airlock: {p}: {what}"),
                }
            }
            Reporter::Quiet => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ProgressEvent;

    fn json(e: ProgressEvent<'_>) -> serde_json::Value {
        serde_json::to_value(e).expect("serializes")
    }

    #[test]
    fn events_are_tagged_by_name() {
        assert_eq!(
            json(ProgressEvent::Begin {
                phase: "verify",
                total: 9
            }),
            serde_json::json!({"event": "begin", "phase": "verify", "total": 9})
        );
        assert_eq!(
            json(ProgressEvent::Progress {
                phase: "verify",
                bytes: 4,
                total: 9
            }),
            serde_json::json!({"event": "progress", "phase": "verify", "bytes": 4, "total": 9})
        );
        assert_eq!(
            json(ProgressEvent::End {
                phase: "verify",
                bytes: 9
            }),
            serde_json::json!({"event": "end", "phase": "verify", "bytes": 9})
        );
        assert_eq!(
            json(ProgressEvent::Note {
                phase: "",
                bytes: 0,
                what: "reading part 2"
            }),
            serde_json::json!({"event": "note", "phase": "", "bytes": 0, "what": "reading part 2"})
        );
    }
}
