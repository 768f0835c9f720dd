//! `fido rollups verify [--user ID] [--repair] [--batch-size N] [--after ID]`: recomputes
//! daily totals from the rows and reports every (user, day) whose roll-up differs; with
//! `--repair`, fixes them (atomically per user). Online and batched. On a terminal it
//! shows a progress spinner; otherwise it prints a plain progress line every batch. Each
//! difference is printed on its own line. Exit code: 0 no drift, 3 drift found, 1 failure.

use std::io::IsTerminal;
use std::process::ExitCode;

use fido_domain::{RollupDrift, RollupReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{fail, say};
use crate::cli::VerifyArgs;
use crate::error::Result;
use crate::settings::Settings;
use crate::wiring::build_service;

/// Exit code when drift was found (repaired or not).
pub const DRIFT_FOUND: u8 = 3;

/// Runs the check, calling `progress` after each user.
pub async fn verify(
    settings: &Settings,
    args: &VerifyArgs,
    progress: impl FnMut(&RollupReport) + Send,
) -> Result<RollupReport> {
    let service = build_service(settings).await?;
    Ok(service
        .verify_rollups(
            args.user,
            args.repair,
            args.batch_size,
            args.after,
            progress,
        )
        .await?)
}

fn describe(d: &RollupDrift) -> String {
    let side = |t: Option<fido_domain::DayTotals>| {
        t.map_or_else(
            || "none".to_owned(),
            |t| {
                format!(
                    "{} transactions, credit {}, debit {}",
                    t.count, t.credit, t.debit
                )
            },
        )
    };
    format!(
        "drift: user {} day {}: rows {} / roll-up {}",
        d.user,
        d.day,
        side(d.rows),
        side(d.rollup)
    )
}

/// Progress: a spinner on a terminal, plain lines every batch otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    batch: u64,
    shown: usize,
}

impl Progress {
    fn new(batch: u32) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} users checked {msg}") {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            batch: u64::from(batch.max(1)),
            shown: 0,
        }
    }

    fn update(&mut self, report: &RollupReport) {
        for d in &report.drift[self.shown..] {
            match &self.bar {
                Some(bar) => bar.println(describe(d)),
                None => say(&describe(d)),
            }
        }
        self.shown = report.drift.len();
        let last = report.last_user.map(|u| u.to_string()).unwrap_or_default();
        match &self.bar {
            Some(bar) => {
                bar.set_position(report.users);
                bar.set_message(format!(
                    "({} days differ; resume with --after {last})",
                    report.drift.len()
                ));
            }
            None if report.users % self.batch == 0 => say(&format!(
                "checked {} users, {} days differ (resume with --after {last})",
                report.users,
                report.drift.len()
            )),
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `fido rollups verify`.
#[actix_web::main]
pub async fn run(args: &VerifyArgs) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut progress = Progress::new(args.batch_size);
    let outcome = verify(&settings, args, |r| progress.update(r)).await;
    progress.finish();
    match outcome {
        Ok(report) if !report.kept => {
            say("this store keeps no daily roll-ups (statistics are computed from the rows): nothing to check");
            ExitCode::SUCCESS
        }
        Ok(report) => {
            say(&format!(
                "done: {} users checked, {} days differ{}",
                report.users,
                report.drift.len(),
                if report.repaired && !report.drift.is_empty() {
                    ", repaired"
                } else {
                    ""
                }
            ));
            if report.drift.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(DRIFT_FOUND)
            }
        }
        Err(e) => fail(&e),
    }
}
