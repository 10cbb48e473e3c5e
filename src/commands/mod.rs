//! The command layer: each command is one function that connects, calls the
//! engine (`migrate`, `verify`, …) and prints what it returns. Only this layer
//! and `report` print.

pub mod add_missing;
pub mod migrate;
pub mod status;
pub mod verify;

use crate::catalog::Migration;
use crate::cli::Format;
use crate::migrate::{Outcome, Progress, Step};
use crate::notice::ServerNotice;
use crate::output::{note, Ctx};
use colored::Colorize;
use std::io::IsTerminal;
use std::time::Duration;

/// Per-file lines on stdout as they happen; a spinner on stderr only on a terminal.
pub struct HumanProgress {
    human: bool,
    json: bool,
    dry_run: bool,
    lock_timeout: u64,
    verbose: u8,
    quiet: bool,
    spinner: Option<indicatif::ProgressBar>,
    /// Every file's step so far as JSON, the failed one last: what a failed
    /// run's JSON document lists.
    files: Vec<serde_json::Value>,
}

impl HumanProgress {
    pub fn new(ctx: &Ctx, dry_run: bool, lock_timeout: u64) -> HumanProgress {
        let human = ctx.progress();
        let spinner = (human && !dry_run && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        HumanProgress {
            human,
            json: ctx.format == Format::Json,
            dry_run,
            lock_timeout,
            verbose: ctx.verbose,
            quiet: ctx.quiet,
            spinner,
            files: Vec::new(),
        }
    }

    /// A failed run in `--format json`: the error is still one line on
    /// stderr, and stdout gets a document with `ok: false`, the error, and the
    /// files as far as the run got — the failed one with the server's notices.
    pub fn failure_json(&self, target: &str, err: &anyhow::Error) -> anyhow::Result<()> {
        if !self.json {
            return Ok(());
        }
        let (line, code) = crate::error::outcome_of(err);
        let doc = serde_json::json!({
            "ok": false,
            "target": target,
            "error": line.map(|l| l.trim_start_matches("vmx: error: ").to_string()),
            "exit_code": code.code(),
            "files": self.files,
        });
        crate::output::stdout().line(serde_json::to_string_pretty(&doc)?);
        Ok(())
    }

    pub fn line(&self, text: &str) {
        if !self.human {
            return;
        }
        // A reader that went away (`| head`) must not stop a migration: the
        // line is dropped and the run goes on to a file boundary.
        let out = crate::output::stdout();
        match &self.spinner {
            Some(bar) => bar.suspend(|| out.line(text.trim_end())),
            None => out.line(text.trim_end()),
        };
    }

    pub fn outcome_line(&self, o: &Outcome) {
        let extra = match (&o.step, o.execution_ms) {
            (_, Some(ms)) => format!("{ms} ms"),
            (Step::WouldRepair { was }, _) | (Step::Repaired { was }, _) => {
                format!("history row was named {was}")
            }
            (Step::WouldApply | Step::WouldUpgrade { .. } | Step::AlreadyApplied, None)
                if self.dry_run =>
            {
                o.migration.checksum.dimmed().to_string()
            }
            _ => String::new(),
        };
        let extra = match o.step.from_release() {
            Some(from) => format!("from {from} {extra}"),
            None => extra,
        };
        self.line(&format!(
            "{}{:>2} {:<27} {extra}",
            step_label(&o.step),
            o.migration.version,
            o.migration.name
        ));
    }

    pub fn done(&self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }
}

impl Progress for HumanProgress {
    fn waiting_for_lock(&mut self, holder: &str) {
        // stderr: progress, not the command's data.
        if self.human {
            note(format_args!(
                "waiting up to {} s for the migration lock held by another vmx run ({holder})",
                self.lock_timeout
            ));
        }
    }

    fn working(&mut self, what: &str) {
        if let Some(bar) = &self.spinner {
            bar.set_message(what.replace('_', " "));
        }
    }

    fn file_done(&mut self, outcome: &Outcome) {
        self.files.push(outcome_json(outcome));
        if outcome.step != Step::NotRequested {
            self.outcome_line(outcome);
        }
        // What the server said while the file ran: WARNINGs and the files' own
        // `vmx:` notices always (unless -q), everything with -v.
        for notice in crate::notice::shown(&outcome.notices, self.verbose, false) {
            let text = format!("    {notice}");
            if notice.severity >= crate::notice::Severity::Warning {
                self.line(&text.yellow().to_string());
            } else {
                self.line(&text);
            }
        }
    }

    fn file_failed(&mut self, migration: &'static Migration, notices: &[ServerNotice]) {
        self.files
            .push(file_json(migration, "failed", None, None, notices));
        if self.json {
            return;
        }
        // On stderr, just before the error line they explain (even with -q:
        // WARNINGs; the files' own notices and, with -v, everything else).
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
        for notice in crate::notice::shown(notices, self.verbose, self.quiet) {
            note(format_args!("{}: {notice}", migration.name));
        }
    }

    fn compat_installed(&mut self, ms: i64) {
        self.line(&format!(
            "{}{:>2} {:<27} {ms} ms",
            format!("{:<16}", "installed").green(),
            "",
            "supabase-compat.sql"
        ));
    }
}

/// `applied`, `upgraded`, … padded to one column and coloured.
fn step_label(step: &Step) -> String {
    let text = step.id().replace('_', " ");
    let padded = format!("{text:<16}");
    match step {
        Step::Applied | Step::Upgraded { .. } | Step::Repaired { .. } => padded.green().to_string(),
        Step::WouldApply | Step::WouldUpgrade { .. } | Step::WouldRepair { .. } => {
            padded.yellow().to_string()
        }
        Step::AlreadyApplied | Step::NotRequested => padded.dimmed().to_string(),
    }
}

/// One file's step as JSON.
pub fn outcome_json(o: &Outcome) -> serde_json::Value {
    file_json(
        o.migration,
        o.step.id(),
        o.step.from_release(),
        o.execution_ms,
        &o.notices,
    )
}

/// One file's entry in `files[]`, whatever became of it.
fn file_json(
    migration: &Migration,
    state: &str,
    from_release: Option<&str>,
    execution_ms: Option<i64>,
    notices: &[ServerNotice],
) -> serde_json::Value {
    serde_json::json!({
        "version": migration.version,
        "name": migration.name,
        "checksum": migration.checksum,
        "state": state,
        "from_release": from_release,
        "execution_ms": execution_ms,
        "notices": notices,
    })
}
