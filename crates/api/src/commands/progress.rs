//! Progress of a long command: a bar on a terminal (standard error), plain lines on
//! standard output otherwise (one per batch), always with what to pass to resume.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::say;

/// A bar or plain lines.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
}

impl Progress {
    /// Progress over `total` items (unknown: a spinner) called `what`.
    pub fn new(what: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{bar:40} {pos}/{len} {msg}"
            } else {
                "{spinner} {pos} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Self { bar, what }
    }

    /// `done` items so far; `resume` says how to continue from here.
    pub fn update(&self, done: u64, resume: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!("{} ({resume})", self.what));
            }
            None => say(&format!("{done} {} ({resume})", self.what)),
        }
    }

    /// A line that stays (above the bar on a terminal).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => say(line),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
