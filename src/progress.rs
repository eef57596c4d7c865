//! The terminal display of long work (`memwall_io::progress`): one `indicatif` bar on
//! stderr, installed only when stderr is a terminal, so captured output never changes.
//! A task with a total draws a bar with an estimate of the time left; one without draws a
//! spinner with the time elapsed.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use memwall_io::progress::{install, Display};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Draws `memwall_io::progress` tasks on stderr when it is a terminal.
pub fn install_on_terminal() {
    if std::io::stderr().is_terminal() {
        install(Box::new(Bar(Mutex::new(ProgressBar::hidden()))));
    }
}

/// The live task's bar.
struct Bar(Mutex<ProgressBar>);

impl Bar {
    fn bar(&self) -> ProgressBar {
        // A clone shares the bar's state; a poisoned lock still holds a usable bar.
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Display for Bar {
    fn start(&self, label: &str, total: Option<u64>, unit: &'static str) {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let template = match (total, unit) {
            (Some(_), "bytes") => {
                "{msg} [{bar:30}] {bytes}/{total_bytes}, {elapsed} elapsed, ~{eta} left".into()
            }
            (Some(_), _) => {
                format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{elapsed}} elapsed, ~{{eta}} left")
            }
            (None, _) => "{msg} {spinner} {elapsed} elapsed".into(),
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = bar;
    }

    fn set(&self, done: u64) {
        self.bar().set_position(done);
    }

    fn add(&self, n: u64) {
        self.bar().inc(n);
    }

    fn finish(&self) {
        self.bar().finish_and_clear();
    }
}
