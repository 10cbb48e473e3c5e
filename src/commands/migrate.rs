//! `vmx migrate`: prints what the engine does and the summary.

use super::{outcome_json, HumanProgress};
use crate::cli::{Format, MigrateArgs};
use crate::migrate::{self, Compat, Options, Report};
use crate::output::Ctx;
use anyhow::Result;
use colored::Colorize;
use std::time::Duration;

impl From<&MigrateArgs> for Options {
    fn from(args: &MigrateArgs) -> Options {
        Options {
            dry_run: args.dry_run,
            to: args.to,
            supabase_compat: args.supabase_compat,
            lock_timeout: Duration::from_secs(args.lock.lock_timeout),
            statement_lock_timeout: args.lock.statement_lock_timeout,
        }
    }
}

pub async fn run(ctx: &Ctx, args: &MigrateArgs) -> Result<()> {
    let (target, mut conn) = ctx.connect().await?;
    let options = Options::from(args);
    let mut progress = HumanProgress::new(ctx, args.dry_run, args.lock.lock_timeout);
    let result = migrate::migrate(&mut conn, &target.display, &options, &mut progress).await;
    progress.done();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            progress.failure_json(&target.display, &err)?;
            return Err(err);
        }
    };

    if report.dry_run {
        if report.compat == Compat::WouldInstall {
            progress.line(&format!(
                "{}   supabase-compat.sql",
                "would install".yellow()
            ));
        }
        report
            .outcomes
            .iter()
            .for_each(|o| progress.outcome_line(o));
    }
    progress.line(&format!("{} — {}", summary(&report), target.display));
    if ctx.format == Format::Json {
        print_json(&target.display, &report)?;
    }
    Ok(())
}

fn summary(r: &Report) -> String {
    let already = r.count("already_applied");
    if r.dry_run {
        return format!(
            "dry run: {} file(s) would be applied, {} upgraded, {} already applied; nothing was changed",
            r.count("would_apply"),
            r.count("would_upgrade"),
            already
        );
    }
    let (applied, upgraded, repaired) =
        (r.count("applied"), r.count("upgraded"), r.count("repaired"));
    if applied + upgraded + repaired == 0 {
        return format!("nothing to do: {already} file(s) already applied");
    }
    let mut parts = vec![format!("{applied} file(s) applied")];
    if upgraded > 0 {
        parts.push(format!("{upgraded} upgraded"));
    }
    if repaired > 0 {
        parts.push(format!("{repaired} history name(s) repaired"));
    }
    parts.push(format!("{already} already applied"));
    format!("{}, in {} ms", parts.join(", "), r.elapsed.as_millis())
}

fn print_json(target: &str, r: &Report) -> Result<()> {
    let doc = serde_json::json!({
        "ok": true,
        "target": target,
        "dry_run": r.dry_run,
        "supabase_compat": r.compat.id(),
        "applied": r.count("applied"),
        "upgraded": r.count("upgraded"),
        "repaired": r.count("repaired"),
        "already_applied": r.count("already_applied"),
        "would_apply": r.count("would_apply"),
        "would_upgrade": r.count("would_upgrade"),
        "elapsed_ms": r.elapsed.as_millis() as u64,
        "files": r.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
    });
    crate::output::stdout().line(serde_json::to_string_pretty(&doc)?);
    Ok(())
}
