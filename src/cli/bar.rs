//! Progress bars on a terminal (indicatif draws nothing when stderr is not
//! a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte progress bar on stderr.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>8} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        Bar { bar }
    }
}

impl airlock::progress::Progress for Bar {
    fn begin(&self, label: &str, total: u64) {
        self.bar.set_message(label.to_string());
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn end(&self) {
        self.bar.finish_and_clear();
    }
}
