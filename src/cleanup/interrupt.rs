//! What a signal must wait for, and what it must still say.
//!
//! - **Critical sections** ([`critical`], [`hold`]/[`resume`]): steps a
//!   signal must not cut in two, such as a line being appended to the audit
//!   log, or an import's swaps up to its audit record. The handler
//!   ([`super::remove_all_then`]) waits until none is running, and none
//!   starts after (a section entered then waits for the process to end). A
//!   second signal still ends the process at once (the program's choice).
//! - **Hooks** ([`on_interrupt`]): what to do before the process ends, such
//!   as import's audit record of an interruption. An import withdraws its
//!   hook at its [`point_of_no_return`] (from there its swaps and record
//!   run to the end first, in a held section).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Sections running, and whether a signal is being handled.
struct Sections {
    active: usize,
    held: bool,
    stopping: bool,
}

static SECTIONS: Mutex<Sections> = Mutex::new(Sections {
    active: 0,
    held: false,
    stopping: false,
});
static CHANGED: Condvar = Condvar::new();

type HookFn = Box<dyn FnOnce(&str) -> Option<String> + Send>;

/// The hooks registered.
pub(super) struct Hooks {
    next: u64,
    hooks: Vec<(u64, HookFn)>,
}

static HOOKS: Mutex<Hooks> = Mutex::new(Hooks {
    next: 0,
    hooks: Vec::new(),
});

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not stop the clean-up.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A critical section: a signal's clean-up waits until it is dropped.
#[derive(Debug)]
pub struct Critical(());

/// Enters a critical section (see the module docs).
pub fn critical() -> Critical {
    let mut s = lock(&SECTIONS);
    // Within the held section, the handler waits for it anyway.
    while s.stopping && !s.held {
        s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
    }
    s.active += 1;
    Critical(())
}

impl Drop for Critical {
    fn drop(&mut self) {
        leave();
    }
}

fn leave() {
    let mut s = lock(&SECTIONS);
    s.active = s.active.saturating_sub(1);
    CHANGED.notify_all();
    wait_for_the_end(s);
}

/// With a signal being handled, a thread that leaves a section goes no
/// further: the handler ends the process (this thread must not end it
/// first, with its own exit status).
fn wait_for_the_end(mut s: MutexGuard<'static, Sections>) {
    // The last section out (an inner one leaves into the held one).
    while s.stopping && s.active == 0 {
        s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
    }
}

/// Enters the process's held section unless it is in it: a signal waits
/// until [`resume`].
pub fn hold() {
    let mut s = lock(&SECTIONS);
    if s.held {
        return;
    }
    while s.stopping {
        s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
    }
    s.held = true;
    s.active += 1;
}

/// Leaves the held section, if the process is in it.
pub fn resume() {
    let mut s = lock(&SECTIONS);
    if s.held {
        s.held = false;
        s.active = s.active.saturating_sub(1);
        CHANGED.notify_all();
        wait_for_the_end(s);
    }
}

/// Where a thread that keeps creating files under a registered folder
/// (import's staging) stops once a signal is being handled: the handler
/// then removes the folder without it filling up again behind it.
pub fn checkpoint() {
    let mut s = lock(&SECTIONS);
    while s.stopping && !s.held {
        s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
    }
}

/// Keeps a hook registered; dropping it withdraws the hook.
#[derive(Debug)]
pub struct Hook {
    id: u64,
}

/// Registers `hook`, run with the signal's name (`SIGINT`) if one ends
/// the process while the returned value lives; what it returns is shown
/// as a line of its own.
pub fn on_interrupt(hook: impl FnOnce(&str) -> Option<String> + Send + 'static) -> Hook {
    let mut h = lock(&HOOKS);
    h.next += 1;
    let id = h.next;
    h.hooks.push((id, Box::new(hook)));
    Hook { id }
}

impl Drop for Hook {
    fn drop(&mut self) {
        lock(&HOOKS).hooks.retain(|(i, _)| *i != self.id);
    }
}

/// From here an interruption would no longer leave the target as it was:
/// [`hold`]s signals until [`resume`], then withdraws every hook. In that
/// order, a signal comes either before (it waits in `hold` while the
/// handler runs every hook) or after (it waits for the held section and
/// finds no hook): never in between, with the hooks gone and nothing held.
pub fn point_of_no_return() {
    hold();
    lock(&HOOKS).hooks.clear();
}

/// Whether a signal is being handled: a wait with no end of its own (for
/// another process's lock) gives up then, so the section it is in ends.
pub fn stopping() -> bool {
    lock(&SECTIONS).stopping
}

/// Has the handler show `line` (with the hooks' lines) if a signal ends the
/// process, whatever this thread does next. Call it inside a section (the
/// handler takes the hooks only once every section has ended).
pub fn say(line: String) {
    // Nothing withdraws it: the process ends, or the line stays due.
    std::mem::forget(on_interrupt(move |_| Some(line)));
}

/// For the signal handler: waits for every critical section to end (none
/// starts after), then takes the hooks. The returned guard keeps hooks
/// from being registered or run elsewhere until the process ends.
/// `waiting` is called first if it must wait.
pub(super) fn stop(waiting: impl FnOnce()) -> MutexGuard<'static, Hooks> {
    let mut s = lock(&SECTIONS);
    s.stopping = true;
    let busy = s.active > 0;
    drop(s);
    // Not under the lock: saying so may be slow (a pipe nobody reads yet),
    // and the sections must be able to end meanwhile.
    if busy {
        waiting();
    }
    let mut s = lock(&SECTIONS);
    while s.active > 0 {
        s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
    }
    drop(s);
    lock(&HOOKS)
}

/// Runs the hooks taken by [`stop`]; the lines they return.
pub(super) fn run_hooks(hooks: &mut MutexGuard<'static, Hooks>, signal: &str) -> Vec<String> {
    // A hook that panics loses its own line, not the others' nor the exit.
    std::mem::take(&mut hooks.hooks)
        .into_iter()
        .filter_map(|(_, hook)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(signal)))
                .unwrap_or_else(|_| Some("an interrupt hook failed".to_string()))
        })
        .collect()
}
