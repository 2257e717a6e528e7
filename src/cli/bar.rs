//! Progress for the command line: a bar on a terminal (a spinner with the
//! bytes done when a phase's total is unknown), plain lines on stderr when
//! it is not a terminal, JSON lines on stderr with `--json`, or nothing
//! with `--quiet`.
//!
//! Plain lines (no terminal): one line per phase every
//! [`DEFAULT_INTERVAL`] (`AIRLOCK_PROGRESS_INTERVAL` seconds, decimals
//! allowed, changes it; tests set 0), e.g. `airlock: verify: 1.2 GiB of
//! 2.0 GiB (60 %)`, and a last `done` line for a phase that printed one.
//! Work shorter than the interval prints nothing.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is printed by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The variable that sets the plain lines' interval, in seconds.
pub const INTERVAL_VAR: &str = "AIRLOCK_PROGRESS_INTERVAL";

/// How progress is shown.
pub enum Reporter {
    /// A byte progress bar (or spinner) on stderr, drawn while a phase runs.
    Bar {
        bar: RefCell<Option<ProgressBar>>,
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
    /// Plain lines on stderr when it is not a terminal (see the module docs).
    Lines(RefCell<Lines>),
    /// Nothing.
    Quiet,
}

/// A size for people: `812 B`, `4.0 KiB`, `12.5 MiB`, `1.2 GiB`.
pub fn human(b: u64) -> String {
    airlock::text::bytes(b)
}

/// The plain lines' interval: [`INTERVAL_VAR`] if it holds a number of
/// seconds, else [`DEFAULT_INTERVAL`]; one too long for a `Duration`
/// (`1e30`) means never (it is only compared, never added to an instant).
fn interval() -> Duration {
    std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(DEFAULT_INTERVAL, |s| {
            Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
        })
}

/// The state of plain progress lines: what to print, and when.
#[derive(Debug)]
pub struct Lines {
    interval: Duration,
    phase: String,
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
    last_done: u64,
    printed: bool,
}

impl Lines {
    /// Lines every `interval`.
    pub fn new(interval: Duration) -> Self {
        let now = Instant::now();
        Lines {
            interval,
            phase: String::new(),
            total: 0,
            done: 0,
            started: now,
            last: now,
            last_done: 0,
            printed: false,
        }
    }

    fn begin(&mut self, label: &str, total: u64, now: Instant) {
        self.phase = escape(label);
        self.total = total;
        self.done = 0;
        self.started = now;
        self.last = now;
        self.last_done = 0;
        self.printed = false;
    }

    /// Counts `n` bytes; the line to print now, if one is due: the interval
    /// has passed since the last one (or the start), and at least 1 % of a
    /// known total (1 MiB of an unknown one) was done since.
    fn advance(&mut self, n: u64, now: Instant) -> Option<String> {
        self.done = self.done.saturating_add(n);
        if self.phase.is_empty() || now.duration_since(self.last) < self.interval {
            return None;
        }
        let step = match self.total {
            0 => 1 << 20,
            t => (t / 100).max(1),
        };
        if self.done - self.last_done.min(self.done) < step {
            return None;
        }
        self.last = now;
        self.last_done = self.done;
        self.printed = true;
        Some(match self.total {
            0 => format!("airlock: {}: {} so far", self.phase, human(self.done)),
            t => format!(
                "airlock: {}: {} of {} ({} %)",
                self.phase,
                human(self.done),
                human(t),
                (u128::from(self.done) * 100 / u128::from(t)).min(100)
            ),
        })
    }

    /// Ends the phase; its last line if it printed any.
    fn end(&mut self, now: Instant) -> Option<String> {
        let line = self.printed.then(|| {
            format!(
                "airlock: {}: done, {} in {:.1} s",
                self.phase,
                human(self.done),
                now.duration_since(self.started).as_secs_f64()
            )
        });
        self.phase.clear();
        self.printed = false;
        line
    }

    fn note(&self, what: &str) -> String {
        match self.phase.as_str() {
            "" => format!("airlock: {}", escape(what)),
            p => format!("airlock: {p}: {}", escape(what)),
        }
    }
}

/// `s` on one line, control characters escaped.
fn escape(s: &str) -> String {
    airlock::text::escape(s).into_owned()
}

fn say(line: Option<String>) {
    if let Some(mut line) = line {
        line.push('\n');
        // Progress that cannot be written is not worth failing over.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
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
            return Reporter::Lines(RefCell::new(Lines::new(interval())));
        }
        Reporter::Bar {
            bar: RefCell::new(None),
            label: RefCell::new(String::new()),
        }
    }
}

/// A bar of `total` bytes, or a spinner with the bytes done when the total
/// is unknown (0): never an empty bar with a made-up ETA.
fn new_bar(label: &str, total: u64) -> ProgressBar {
    let (len, template) = match total {
        0 => (
            None,
            "{spinner} {msg:>8} {bytes} {binary_bytes_per_sec} {elapsed}",
        ),
        t => (
            Some(t),
            "{msg:>8} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ),
    };
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(escape(label));
    // Redraw (rate, ETA) every second even while a read blocks on slow media.
    bar.enable_steady_tick(Duration::from_secs(1));
    bar
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
                *l.borrow_mut() = escape(label);
                if let Some(old) = bar.replace(Some(new_bar(label, total))) {
                    old.finish_and_clear();
                }
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
            Reporter::Lines(lines) => lines.borrow_mut().begin(label, total, Instant::now()),
            Reporter::Quiet => {}
        }
    }

    fn advance(&self, n: u64) {
        match self {
            Reporter::Bar { bar, .. } => {
                if let Some(bar) = bar.borrow().as_ref() {
                    bar.inc(n)
                }
            }
            Reporter::Json {
                phase,
                total,
                done,
                last,
            } => {
                done.set(done.get() + n);
                let due = last
                    .get()
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                if due {
                    last.set(Some(Instant::now()));
                    event(ProgressEvent::Progress {
                        phase: &phase.borrow(),
                        bytes: done.get(),
                        total: total.get(),
                    });
                }
            }
            Reporter::Lines(lines) => say(lines.borrow_mut().advance(n, Instant::now())),
            Reporter::Quiet => {}
        }
    }

    fn end(&self) {
        match self {
            Reporter::Bar { bar, label } => {
                if let Some(bar) = bar.borrow_mut().take() {
                    bar.finish_and_clear();
                }
                label.borrow_mut().clear();
            }
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
            Reporter::Lines(lines) => say(lines.borrow_mut().end(Instant::now())),
            Reporter::Quiet => {}
        }
    }

    fn note(&self, what: &str) {
        match self {
            Reporter::Bar { bar, label } => match bar.borrow().as_ref() {
                Some(bar) => bar.set_message(format!("{} {}", label.borrow(), escape(what))),
                // No phase runs, no bar is drawn: a line of its own.
                None => say(Some(format!("airlock: {}", escape(what)))),
            },
            Reporter::Json { phase, done, .. } => event(ProgressEvent::Note {
                phase: &phase.borrow(),
                bytes: done.get(),
                what,
            }),
            // Which part is read, and sources skipped, are worth a line.
            Reporter::Lines(lines) => say(Some(lines.borrow().note(what))),
            Reporter::Quiet => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{human, Lines, ProgressEvent};
    use std::time::{Duration, Instant};

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

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(4096), "4.0 KiB");
        assert_eq!(human(12 << 20 | 1 << 19), "12.5 MiB");
        assert_eq!(human((2 << 30) / 10 * 6), "1.2 GiB");
    }

    #[test]
    fn plain_lines_come_at_the_interval_with_a_share_of_the_total() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut l = Lines::new(Duration::from_secs(10));
        l.begin("verify", 2 << 30, t0);
        assert_eq!(l.advance(1 << 30, s(9)), None, "before the interval");
        assert_eq!(
            l.advance((1 << 30) / 5 + 1, s(10)).as_deref(),
            Some("airlock: verify: 1.2 GiB of 2.0 GiB (60 %)")
        );
        assert_eq!(l.advance(1 << 20, s(15)), None);
        assert_eq!(l.advance(1, s(21)), None, "less than 1 % since");
        assert_eq!(
            l.advance((1 << 30) / 5 * 4, s(22)).as_deref(),
            Some("airlock: verify: 2.0 GiB of 2.0 GiB (100 %)")
        );
        assert_eq!(
            l.end(s(23)).as_deref(),
            Some("airlock: verify: done, 2.0 GiB in 23.0 s")
        );
        // Between phases, notes stand alone.
        assert_eq!(l.note("reading part 2"), "airlock: reading part 2");
    }

    #[test]
    fn short_work_prints_nothing_and_an_unknown_total_counts_up() {
        let t0 = Instant::now();
        let mut l = Lines::new(Duration::from_secs(10));
        l.begin("sign", 5 << 20, t0);
        assert_eq!(l.advance(5 << 20, t0 + Duration::from_secs(2)), None);
        assert_eq!(l.end(t0 + Duration::from_secs(3)), None);
        l.begin("check\ninputs\u{1b}", 0, t0);
        assert_eq!(
            l.advance(3 << 20, t0 + Duration::from_secs(10)).as_deref(),
            Some("airlock: check\\u{a}inputs\\u{1b}: 3.0 MiB so far")
        );
        assert_eq!(
            l.note("a\nb"),
            "airlock: check\\u{a}inputs\\u{1b}: a\\u{a}b"
        );
    }
}
