//! Export's first pass over the layer files given on the command line, two
//! at a time (issue 12): each file is read once, its SHA-256 computed, its
//! archive walked and its database checked ([`check_layer`]); with two
//! cores or more, two files are checked side by side, the largest first,
//! so that one file's serial stretches (its SQLite check, say) overlap
//! another one's inflate instead of leaving a core idle. The results are
//! used in the order the sources were given, so the first refusal reported
//! is the one a serial pass would report.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::SourceSpec;
use crate::manifest::ArtifactKind;
use crate::progress::Progress;
use crate::source::files::{check_layer, CheckedLayer};
use crate::source::SourceError;

/// Layer files checked at once, at most.
const MAX_AT_ONCE: usize = 2;

/// One layer file's check, by the index of its source in the plan.
pub(super) type Checked = Vec<(usize, Result<CheckedLayer, SourceError>)>;

/// Checks the layer files of `sources` side by side when there are two or
/// more of them and two cores (else returns nothing: the caller checks
/// each in turn as before), reporting their bytes as one phase.
pub(super) fn layers_side_by_side(sources: &[SourceSpec], progress: &dyn Progress) -> Checked {
    let mut jobs: Vec<(usize, ArtifactKind, &Path, u64)> = sources
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            SourceSpec::Layer { kind, path, .. } => Some((i, *kind, path.as_path(), len(path))),
            _ => None,
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(MAX_AT_ONCE).min(jobs.len());
    if threads < 2 {
        return Vec::new();
    }
    let label: Vec<String> = jobs.iter().map(|j| j.1.to_string()).collect();
    progress.begin(
        &format!("check {}", label.join(", ")),
        jobs.iter().map(|j| j.3).sum(),
    );
    // The largest first: it sets the pass's length.
    jobs.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)));
    // This thread (which reports progress) takes the first job, the
    // helper the second, then either one the next.
    let next = AtomicUsize::new(2);
    let done = Mutex::new(Checked::new());
    let elsewhere = AtomicU64::new(0);
    let work = |mut job: usize, progress: &dyn Progress| {
        while let Some(&(i, kind, path, _)) = jobs.get(job) {
            let checked = check_layer(kind, path, progress);
            done.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((i, checked));
            job = next.fetch_add(1, Ordering::Relaxed);
        }
    };
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("airlock-check".into())
            .spawn_scoped(scope, || work(1, &Counted(&elsewhere)));
        if helper.is_err() {
            // No second thread: this one checks every file.
            next.store(1, Ordering::Relaxed);
        }
        work(
            0,
            &Merged {
                progress,
                elsewhere: &elsewhere,
            },
        );
        if let Ok(helper) = helper {
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    progress.advance(elsewhere.swap(0, Ordering::Relaxed));
    progress.end();
    done.into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A file's length for a progress total (0 if it cannot be read: checking
/// it reports the error).
fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The helper thread's progress: its bytes, counted for the main thread.
struct Counted<'a>(&'a AtomicU64);

impl Progress for Counted<'_> {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn end(&self) {}
}

/// The main thread's progress: its bytes and the helper's, reported to the
/// real progress (which stays on this thread).
struct Merged<'a> {
    progress: &'a dyn Progress,
    elsewhere: &'a AtomicU64,
}

impl Progress for Merged<'_> {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, n: u64) {
        self.progress
            .advance(n + self.elsewhere.swap(0, Ordering::Relaxed));
    }
    fn end(&self) {}
}
