//! `vmx add-missing`: Option B, printed.

use super::{outcome_json, HumanProgress};
use crate::cli::{Format, LockArgs};
use crate::migrate::{self, Options, Step};
use crate::output::Ctx;
use anyhow::Result;
use std::time::Duration;

pub async fn run(ctx: &Ctx, dry_run: bool, lock: &LockArgs) -> Result<()> {
    let (target, mut conn) = ctx.connect().await?;
    let options = Options {
        dry_run,
        lock_timeout: Duration::from_secs(lock.lock_timeout),
        statement_lock_timeout: lock.statement_lock_timeout,
        ..Options::default()
    };
    let mut progress = HumanProgress::new(ctx, dry_run, lock.lock_timeout);
    let result = migrate::add_missing(&mut conn, &target.display, &options, &mut progress).await;
    progress.done();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            progress.failure_json(&target.display, &err)?;
            return Err(err);
        }
    };
    let o = &report.outcome;
    if report.dry_run || !o.step.changes() {
        progress.outcome_line(o);
    }
    let users = report.backfilled_users;
    let summary = match &o.step {
        Step::AlreadyApplied => "nothing to do: missing-tables-schema.sql is already applied".to_string(),
        Step::WouldApply | Step::WouldUpgrade { .. } => format!(
            "dry run: would {} the missing tables and backfill user_limits for {users} existing user(s); nothing was changed",
            if o.step == Step::WouldApply { "add" } else { "upgrade" }
        ),
        Step::WouldRepair { .. } => "dry run: would repair the history row's name; nothing was changed".to_string(),
        Step::Repaired { .. } => "history row's name repaired".to_string(),
        _ => format!(
            "missing tables {}; user_limits backfilled for {users} existing user(s) in {} ms",
            if o.step == Step::Applied { "added" } else { "upgraded" },
            report.elapsed.as_millis()
        ),
    };
    progress.line(&format!("{summary} — {}", target.display));
    if !report.upgrades_pending.is_empty() {
        let names: Vec<&str> = report.upgrades_pending.iter().map(|m| m.name).collect();
        progress.line(&format!(
            "an earlier vmx release applied {}: run `vmx migrate` to upgrade them",
            names.join(", ")
        ));
    }
    if ctx.format == Format::Json {
        let doc = serde_json::json!({
            "ok": true,
            "target": target.display,
            "dry_run": report.dry_run,
            "file": outcome_json(o),
            "backfilled_users": users,
            "upgrades_pending": report.upgrades_pending.iter().map(|m| m.name).collect::<Vec<_>>(),
        });
        crate::output::stdout().line(serde_json::to_string_pretty(&doc)?);
    }
    Ok(())
}
