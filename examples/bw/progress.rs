//! Progress as Docker shows it: on a terminal, a bar per layer of a pull or push and a spinner
//! for the running build step (indicatif); otherwise plain lines, one per event that matters
//! (a layer started, done, already there; a step and its output), so logs and pipes stay
//! readable.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use boxwright::registry::{ProgressEvent, ProgressKind};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::format::{self, short_id};

/// Where progress goes: bars on a terminal, lines otherwise, or nowhere (`-q`).
pub(crate) struct Progress {
    mode: Mode,
    bars: HashMap<String, ProgressBar>,
    spinner: Option<ProgressBar>,
}

enum Mode {
    Quiet,
    /// Plain lines, on stderr when `true`.
    Lines(bool),
    Bars(MultiProgress),
}

impl Progress {
    /// Bars when stdout is a terminal (and `plain` was not asked), lines otherwise; nothing
    /// when `quiet`.
    pub(crate) fn new(quiet: bool, plain: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if !plain && std::io::stdout().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
        } else {
            Mode::Lines(false)
        };
        Progress::with_mode(mode)
    }

    /// As [`Progress::new`] but on stderr, for work before a command whose stdout is the
    /// container's (`run` pulling its image).
    pub(crate) fn on_stderr() -> Progress {
        let mode = if std::io::stderr().is_terminal() {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Lines(true)
        };
        Progress::with_mode(mode)
    }

    fn with_mode(mode: Mode) -> Progress {
        Progress {
            mode,
            bars: HashMap::new(),
            spinner: None,
        }
    }

    fn print(&self, text: &str) {
        match self.mode {
            Mode::Lines(true) => eprintln!("{text}"),
            _ => format::println(text),
        }
    }

    /// Prints a line (above the bars on a terminal).
    pub(crate) fn line(&self, text: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines(_) => self.print(text),
            Mode::Bars(multi) => {
                let _ = multi.println(text);
            }
        }
    }

    /// One blob event of a pull or push, shown as Docker shows a layer: `ID: Pulling fs
    /// layer`, a bar of bytes, `ID: Pull complete` / `Already exists`.
    pub(crate) fn blob(&mut self, event: &ProgressEvent, pushing: bool) {
        let id = short_id(event.digest.digest());
        let (doing, done, there) = if pushing {
            ("Preparing", "Pushed", "Layer already exists")
        } else {
            ("Pulling fs layer", "Pull complete", "Already exists")
        };
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines(_) => match event.kind {
                ProgressKind::Started => self.print(&format!("{id}: {doing}")),
                ProgressKind::Skipped => self.print(&format!("{id}: {there}")),
                ProgressKind::Mounted => {
                    self.print(&format!("{id}: Mounted from another repository"))
                }
                ProgressKind::Done => self.print(&format!("{id}: {done}")),
                _ => {}
            },
            Mode::Bars(multi) => {
                let bar = self.bars.entry(id.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(event.total));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg:<16} [{bar:40}] {bytes}/{total_bytes}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(id.clone());
                    bar.set_message(if pushing { "Pushing" } else { "Downloading" });
                    bar
                });
                bar.set_length(event.total);
                bar.set_position(event.bytes);
                match event.kind {
                    ProgressKind::Skipped => bar.finish_with_message(there),
                    ProgressKind::Mounted => bar.finish_with_message("Mounted"),
                    ProgressKind::Done => bar.finish_with_message(done),
                    _ => {}
                }
            }
        }
    }

    /// A build step starts: its text as a line, and on a terminal a spinner below the lines
    /// with the running step and its time (cleared when the next step starts).
    pub(crate) fn step(&mut self, text: &str) {
        self.line(text);
        if let Mode::Bars(multi) = &self.mode {
            if let Some(old) = self.spinner.take() {
                old.finish_and_clear();
            }
            let spinner = multi.add(ProgressBar::new_spinner());
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner.set_message(text.to_owned());
            spinner.enable_steady_tick(Duration::from_millis(100));
            self.spinner = Some(spinner);
        }
    }

    /// Ends the bars, leaving their last state on the screen.
    pub(crate) fn finish(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
        for (_, bar) in self.bars.drain() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
