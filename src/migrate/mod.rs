//! `vmx migrate`, `vmx status`, `vmx add-missing` (issue 3): the five embedded
//! files applied once each, in order, checksummed, under a lock, crash-safe.
//!
//! `history` is the record, `lock` keeps runs apart, `apply` runs one file in
//! its own transaction; this module is the three commands, read top to bottom.

pub mod apply;
pub mod history;
pub mod lock;
pub mod preflight;

use crate::catalog::{self, Migration, MISSING_TABLES_VERSION, SUPABASE_COMPAT_SQL};
use crate::cli::{Format, LockArgs, MigrateArgs};
use crate::error::VmxError;
use crate::output::Ctx;
use anyhow::{Context, Result};
use colored::Colorize;
use history::Applied;
use serde_json::json;
use sqlx::PgConnection;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// The four tables `add-missing` builds on (files 1-4).
const FIRST_FOUR_TABLES: [&str; 4] = ["profiles", "assistants", "phone_numbers", "call_logs"];

/// What happened (or would happen) to one file in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Applied,
    AlreadyApplied,
    WouldApply,
    /// After `--to N`.
    NotRequested,
}

/// What a run up to file `last` does with `m`, given what is recorded:
/// `WouldApply` for a file that is pending.
fn planned(recorded: &[Applied], m: &Migration, last: i32) -> State {
    if history::find(recorded, m.version).is_some() {
        State::AlreadyApplied
    } else if m.version > last {
        State::NotRequested
    } else {
        State::WouldApply
    }
}

impl State {
    fn id(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::AlreadyApplied => "already_applied",
            State::WouldApply => "would_apply",
            State::NotRequested => "not_requested",
        }
    }

    fn label(self) -> String {
        let text = self.id().replace('_', " ");
        let padded = format!("{text:<16}");
        match self {
            State::Applied => padded.green().to_string(),
            State::WouldApply => padded.yellow().to_string(),
            State::AlreadyApplied | State::NotRequested => padded.dimmed().to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Outcome {
    migration: &'static Migration,
    state: State,
    execution_ms: Option<i64>,
}

impl Outcome {
    fn json(&self) -> serde_json::Value {
        json!({
            "version": self.migration.version,
            "name": self.migration.name,
            "checksum": self.migration.checksum,
            "state": self.state.id(),
            "execution_ms": self.execution_ms,
        })
    }
}

/// Per-file lines on stdout as they happen, a spinner on stderr only on a terminal.
struct Progress {
    human: bool,
    dry_run: bool,
    spinner: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(ctx: &Ctx, dry_run: bool) -> Progress {
        let human = ctx.progress();
        let spinner = (human && !dry_run && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            human,
            dry_run,
            spinner,
        }
    }

    fn working(&self, message: String) {
        if let Some(bar) = &self.spinner {
            bar.set_message(message);
        }
    }

    fn line(&self, text: String) {
        if !self.human {
            return;
        }
        match &self.spinner {
            Some(bar) => bar.suspend(|| println!("{}", text.trim_end())),
            None => println!("{}", text.trim_end()),
        }
    }

    fn outcome(&self, o: &Outcome) {
        let extra = match (o.state, o.execution_ms) {
            (_, Some(ms)) => format!("{ms} ms"),
            (State::WouldApply | State::AlreadyApplied, None) if self.dry_run => {
                o.migration.checksum.dimmed().to_string()
            }
            _ => String::new(),
        };
        self.line(format!(
            "{}{:>2} {:<27} {extra}",
            o.state.label(),
            o.migration.version,
            o.migration.name
        ));
    }

    fn done(&self) {
        if let Some(bar) = &self.spinner {
            bar.finish_and_clear();
        }
    }
}

/// `vmx migrate`: applies what is pending, in order, up to `--to N`.
pub async fn migrate(ctx: &Ctx, args: &MigrateArgs) -> Result<()> {
    ctx.require_not_junit("migrate")?;
    let started = Instant::now();
    let (target, mut conn) = ctx.connect().await?;
    let last = args.to.unwrap_or(i32::MAX);

    // Before any change: the record must match this binary, and the target must be Supabase-shaped.
    let recorded = history::read(&mut conn).await?;
    history::require_consistent(&recorded)?;
    let needs_compat = !has_auth_users(&mut conn).await?;
    if needs_compat && !args.supabase_compat {
        return Err(VmxError::Prerequisite(format!(
            "{} has no auth.users, so it is not a Supabase database; on plain PostgreSQL (CI) run \
             `vmx migrate --supabase-compat` to install the stand-in roles and auth schema first",
            target.display
        ))
        .into());
    }

    let pending_to_apply = catalog::migrations()
        .iter()
        .filter(|m| planned(&recorded, m, last) == State::WouldApply)
        .collect::<Vec<_>>();
    if needs_compat || !pending_to_apply.is_empty() {
        let needs = preflight::Needs {
            compat: needs_compat,
            auth_trigger: pending_to_apply.iter().any(|m| m.version == 1),
        };
        preflight::require_privileges(&mut conn, needs).await?;
    }

    let progress = Progress::new(ctx, args.dry_run);
    if args.dry_run {
        let outcomes: Vec<Outcome> = catalog::migrations()
            .iter()
            .map(|m| Outcome {
                migration: m,
                state: planned(&recorded, m, last),
                execution_ms: None,
            })
            .collect();
        if needs_compat {
            progress.line(format!(
                "{}   supabase-compat.sql",
                "would install".yellow()
            ));
        }
        outcomes.iter().for_each(|o| progress.outcome(o));
        let would = count(&outcomes, State::WouldApply);
        progress.line(format!(
            "dry run: {would} file(s) would be applied, {} already applied; nothing was changed",
            count(&outcomes, State::AlreadyApplied)
        ));
        return print_json(ctx, &target.display, true, needs_compat, &outcomes, started);
    }

    lock::acquire(
        &mut conn,
        Duration::from_secs(args.lock.lock_timeout),
        |holder| waiting_for_lock(ctx, args.lock.lock_timeout, holder),
    )
    .await?;
    let result = migrate_locked(&mut conn, args, last, &progress).await;
    lock::release(&mut conn).await;
    progress.done();
    let (compat_installed, outcomes) = result?;

    let applied = count(&outcomes, State::Applied);
    let summary = if applied == 0 {
        format!(
            "nothing to do: {} file(s) already applied",
            count(&outcomes, State::AlreadyApplied)
        )
    } else {
        format!(
            "{applied} file(s) applied, {} already applied, in {} ms",
            count(&outcomes, State::AlreadyApplied),
            started.elapsed().as_millis()
        )
    };
    progress.line(summary);
    print_json(
        ctx,
        &target.display,
        false,
        compat_installed,
        &outcomes,
        started,
    )
}

/// The part of `migrate` that runs under the lock: re-read what other runs did, then apply.
async fn migrate_locked(
    conn: &mut PgConnection,
    args: &MigrateArgs,
    last: i32,
    progress: &Progress,
) -> Result<(bool, Vec<Outcome>)> {
    let slt = args.lock.statement_lock_timeout;
    // Another run may have installed it while we waited.
    let compat = !has_auth_users(&mut *conn).await?;
    if compat {
        progress.working("installing supabase-compat.sql".into());
        let ms = apply::run_unrecorded(&mut *conn, "supabase-compat.sql", SUPABASE_COMPAT_SQL, slt)
            .await?;
        progress.line(format!(
            "{}{:>2} {:<27} {ms} ms",
            format!("{:<16}", "installed").green(),
            "",
            "supabase-compat.sql"
        ));
    }
    history::ensure(&mut *conn).await?;
    let recorded = history::read(&mut *conn).await?;
    history::require_consistent(&recorded)?;

    let mut outcomes = Vec::new();
    for m in catalog::migrations() {
        let mut outcome = Outcome {
            migration: m,
            state: planned(&recorded, m, last),
            execution_ms: None,
        };
        if outcome.state == State::WouldApply {
            progress.working(format!("applying {} {}", m.version, m.name));
            outcome.execution_ms = Some(apply::apply(&mut *conn, m, slt).await?);
            outcome.state = State::Applied;
        }
        if outcome.state != State::NotRequested {
            progress.outcome(&outcome);
        }
        outcomes.push(outcome);
    }
    Ok((compat, outcomes))
}

/// `vmx status`: each file applied (when, by whom) / pending / checksum mismatch / unknown.
pub async fn status(ctx: &Ctx, exit_code: bool) -> Result<()> {
    ctx.require_not_junit("status")?;
    let (target, mut conn) = ctx.connect().await?;
    let recorded = history::read(&mut conn).await?;

    struct Row<'a> {
        version: i32,
        name: String,
        state: &'static str,
        checksum: String,
        applied: Option<&'a Applied>,
    }
    let mut rows: Vec<Row> = catalog::migrations()
        .iter()
        .map(|m| {
            let applied = history::find(&recorded, m.version);
            let state = match applied {
                None => "pending",
                Some(a) if a.checksum == m.checksum => "applied",
                Some(_) => "checksum mismatch",
            };
            Row {
                version: m.version,
                name: m.name.to_string(),
                state,
                checksum: m.checksum.clone(),
                applied,
            }
        })
        .collect();
    rows.extend(
        recorded
            .iter()
            .filter(|a| catalog::by_version(a.version).is_none())
            .map(|a| Row {
                version: a.version,
                name: a.name.clone(),
                state: "unknown",
                checksum: a.checksum.clone(),
                applied: Some(a),
            }),
    );
    let pending = rows.iter().filter(|r| r.state == "pending").count();
    let drifted = history::require_consistent(&recorded);

    if ctx.format == Format::Json {
        let files: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "version": r.version,
                    "name": r.name,
                    "state": r.state,
                    "checksum": r.checksum,
                    "recorded_checksum": r.applied.map(|a| a.checksum.clone()),
                    "applied_at": r.applied.map(|a| a.applied_at.to_rfc3339()),
                    "applied_by": r.applied.map(|a| a.applied_by.clone()),
                    "execution_ms": r.applied.map(|a| a.execution_ms),
                })
            })
            .collect();
        let doc = json!({
            "target": target.display,
            "up_to_date": pending == 0 && drifted.is_ok(),
            "pending": pending,
            "files": files,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if !ctx.quiet {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_header(["#", "file", "state", "applied at", "by", "duration"]);
        for r in &rows {
            let state = match r.state {
                "applied" => r.state.green(),
                "pending" => r.state.yellow(),
                _ => r.state.red().bold(),
            };
            table.add_row([
                r.version.to_string(),
                r.name.clone(),
                state.to_string(),
                r.applied
                    .map(|a| history::format_time(&a.applied_at))
                    .unwrap_or_default(),
                r.applied.map(|a| a.applied_by.clone()).unwrap_or_default(),
                r.applied
                    .map(|a| format!("{} ms", a.execution_ms))
                    .unwrap_or_default(),
            ]);
        }
        println!("{table}");
        match (&drifted, pending) {
            (Err(_), _) => println!(
                "{}",
                "history does not match the embedded files — see `vmx status --format json`".red()
            ),
            (Ok(()), 0) => println!("up to date: all {} files applied", rows.len()),
            (Ok(()), n) => println!("{n} file(s) pending — run `vmx migrate`"),
        }
    }

    if exit_code {
        drifted?;
        if pending > 0 {
            return Err(VmxError::Pending { pending }.into());
        }
    }
    Ok(())
}

/// `vmx add-missing`: Option B — only `missing-tables-schema.sql`, recorded, with existing users backfilled.
pub async fn add_missing(ctx: &Ctx, dry_run: bool, lock_args: &LockArgs) -> Result<()> {
    ctx.require_not_junit("add-missing")?;
    let started = Instant::now();
    let (target, mut conn) = ctx.connect().await?;
    let file = catalog::by_version(MISSING_TABLES_VERSION)
        .context("this binary embeds no missing-tables-schema.sql")?;

    if !has_auth_users(&mut conn).await? {
        return Err(VmxError::Prerequisite(format!(
            "{} has no auth.users, so it is not a Supabase database; add-missing completes a hand-built \
             Supabase setup — on plain PostgreSQL use `vmx migrate --supabase-compat`",
            target.display
        ))
        .into());
    }
    let absent = absent_tables(&mut conn, &FIRST_FOUR_TABLES).await?;
    if !absent.is_empty() {
        return Err(VmxError::Prerequisite(format!(
            "{} lacks {}, which the first four files create; add-missing only completes a database \
             that has them — run `vmx migrate` to apply all five files",
            target.display,
            absent.join(", ")
        ))
        .into());
    }
    let recorded = history::read(&mut conn).await?;
    history::require_consistent(&recorded)?;

    let already = history::find(&recorded, file.version).is_some();
    if !already {
        let needs = preflight::Needs {
            compat: false,
            auth_trigger: false,
        };
        preflight::require_privileges(&mut conn, needs).await?;
    }
    let progress = Progress::new(ctx, dry_run);
    if already || dry_run {
        let users = if already {
            0
        } else {
            users_without_limits(&mut conn).await?
        };
        let outcome = Outcome {
            migration: file,
            state: if already {
                State::AlreadyApplied
            } else {
                State::WouldApply
            },
            execution_ms: None,
        };
        progress.outcome(&outcome);
        progress.line(if already {
            "nothing to do: missing-tables-schema.sql is already applied".to_string()
        } else {
            format!("dry run: would add the missing tables and backfill user_limits for {users} existing user(s); nothing was changed")
        });
        return print_add_missing_json(ctx, &target.display, dry_run, &outcome, users);
    }

    lock::acquire(
        &mut conn,
        Duration::from_secs(lock_args.lock_timeout),
        |holder| waiting_for_lock(ctx, lock_args.lock_timeout, holder),
    )
    .await?;
    let result = add_missing_locked(&mut conn, file, lock_args, &progress).await;
    lock::release(&mut conn).await;
    progress.done();
    let (outcome, users) = result?;
    progress.outcome(&outcome);
    progress.line(match outcome.state {
        State::Applied => format!(
            "missing tables added; user_limits backfilled for {users} existing user(s) in {} ms",
            started.elapsed().as_millis()
        ),
        _ => "nothing to do: missing-tables-schema.sql is already applied".to_string(),
    });
    print_add_missing_json(ctx, &target.display, false, &outcome, users)
}

/// Under the lock: another run may have applied the file while we waited.
async fn add_missing_locked(
    conn: &mut PgConnection,
    file: &'static Migration,
    lock_args: &LockArgs,
    progress: &Progress,
) -> Result<(Outcome, i64)> {
    history::ensure(&mut *conn).await?;
    let recorded = history::read(&mut *conn).await?;
    history::require_consistent(&recorded)?;
    if history::find(&recorded, file.version).is_some() {
        let outcome = Outcome {
            migration: file,
            state: State::AlreadyApplied,
            execution_ms: None,
        };
        return Ok((outcome, 0));
    }
    let users = users_without_limits(&mut *conn).await?;
    progress.working(format!("applying {} {}", file.version, file.name));
    // The file backfills user_limits for every profile itself, set-based, in the same transaction.
    let ms = apply::apply(&mut *conn, file, lock_args.statement_lock_timeout).await?;
    let outcome = Outcome {
        migration: file,
        state: State::Applied,
        execution_ms: Some(ms),
    };
    Ok((outcome, users))
}

/// Progress, so a waiting run does not look hung (stderr: it is not the command's data).
fn waiting_for_lock(ctx: &Ctx, seconds: u64, holder: &str) {
    if ctx.progress() {
        eprintln!(
            "waiting up to {seconds} s for the migration lock held by another vmx run ({holder})"
        );
    }
}

fn count(outcomes: &[Outcome], state: State) -> usize {
    outcomes.iter().filter(|o| o.state == state).count()
}

fn print_json(
    ctx: &Ctx,
    target: &str,
    dry_run: bool,
    compat: bool,
    outcomes: &[Outcome],
    started: Instant,
) -> Result<()> {
    if ctx.format != Format::Json {
        return Ok(());
    }
    let compat_state = match (compat, dry_run) {
        (false, _) => "not_needed",
        (true, true) => "would_install",
        (true, false) => "installed",
    };
    let doc = json!({
        "ok": true,
        "target": target,
        "dry_run": dry_run,
        "supabase_compat": compat_state,
        "applied": count(outcomes, State::Applied),
        "already_applied": count(outcomes, State::AlreadyApplied),
        "would_apply": count(outcomes, State::WouldApply),
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "files": outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

fn print_add_missing_json(
    ctx: &Ctx,
    target: &str,
    dry_run: bool,
    outcome: &Outcome,
    users: i64,
) -> Result<()> {
    if ctx.format != Format::Json {
        return Ok(());
    }
    let doc = json!({
        "ok": true,
        "target": target,
        "dry_run": dry_run,
        "file": outcome.json(),
        "backfilled_users": users,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

async fn has_auth_users(conn: &mut PgConnection) -> Result<bool> {
    sqlx::query_scalar("SELECT to_regclass('auth.users') IS NOT NULL")
        .fetch_one(conn)
        .await
        .context("cannot look for auth.users")
}

/// The `public.<name>` tables of `names` that do not exist.
async fn absent_tables(conn: &mut PgConnection, names: &[&str]) -> Result<Vec<String>> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    sqlx::query_scalar(
        "SELECT 'public.' || n FROM unnest($1::text[]) WITH ORDINALITY AS t(n, i)
         WHERE to_regclass(pg_catalog.quote_ident('public') || '.' || pg_catalog.quote_ident(n)) IS NULL
         ORDER BY i",
    )
    .bind(names)
    .fetch_all(conn)
    .await
    .context("cannot look for the first four files' tables")
}

/// Profiles that have no `user_limits` row yet (all of them when the table is absent).
async fn users_without_limits(conn: &mut PgConnection) -> Result<i64> {
    let has_limits: bool =
        sqlx::query_scalar("SELECT to_regclass('public.user_limits') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .context("cannot look for public.user_limits")?;
    let sql = if has_limits {
        "SELECT count(*) FROM public.profiles p
         WHERE NOT EXISTS (SELECT 1 FROM public.user_limits l WHERE l.user_id = p.id)"
    } else {
        "SELECT count(*) FROM public.profiles"
    };
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .context("cannot count the users to backfill")
}
