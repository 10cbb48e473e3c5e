//! The migration engine behind `vmx migrate`, `vmx status` and `vmx add-missing`:
//! the five embedded files applied once each, in order, checksummed, under a
//! lock, crash-safe, and upgraded when an earlier release applied them.
//!
//! `history` is the record and its one drift rule, `lock` keeps runs apart,
//! `apply` runs one file in its own transaction. This module plans and runs;
//! it returns reports and tells a `Progress` what happens, and prints nothing
//! (the command layer, `crate::commands`, does).

pub mod apply;
pub mod history;
pub mod lock;
pub mod outside;
pub mod preflight;

use crate::catalog::{self, Migration, MISSING_TABLES_VERSION, SUPABASE_COMPAT_SQL};
use crate::error::VmxError;
use crate::notice::ServerNotice;
use crate::releases::Revision;
use anyhow::{Context, Result};
use history::{Applied, FileState};
use sqlx::PgConnection;
use std::time::{Duration, Instant};

/// The four tables `add-missing` builds on (files 1-4).
const FIRST_FOUR_TABLES: [&str; 4] = ["profiles", "assistants", "phone_numbers", "call_logs"];

/// What a run does with its target, as given on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print the plan and change nothing.
    pub dry_run: bool,
    /// Stop after file N.
    pub to: Option<i32>,
    /// Install the Supabase stand-in where `auth.users` is absent.
    pub supabase_compat: bool,
    /// How long to wait for another run's migration lock.
    pub lock_timeout: Duration,
    /// Seconds a statement may wait for a table lock held by production traffic.
    pub statement_lock_timeout: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            to: None,
            supabase_compat: false,
            lock_timeout: Duration::from_secs(60),
            statement_lock_timeout: 10,
        }
    }
}

/// What happened (or, in a dry run, would happen) to one file in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Applied,
    /// Re-applied over the text of an earlier release.
    Upgraded {
        from: &'static Revision,
    },
    /// The history row named another file; its name was repaired.
    Repaired {
        was: String,
    },
    AlreadyApplied,
    WouldApply,
    WouldUpgrade {
        from: &'static Revision,
    },
    WouldRepair {
        was: String,
    },
    /// After `--to N`.
    NotRequested,
}

impl Step {
    pub fn id(&self) -> &'static str {
        match self {
            Step::Applied => "applied",
            Step::Upgraded { .. } => "upgraded",
            Step::Repaired { .. } => "repaired",
            Step::AlreadyApplied => "already_applied",
            Step::WouldApply => "would_apply",
            Step::WouldUpgrade { .. } => "would_upgrade",
            Step::WouldRepair { .. } => "would_repair",
            Step::NotRequested => "not_requested",
        }
    }

    /// The release a (would-be) upgrade starts from.
    pub fn from_release(&self) -> Option<&'static str> {
        match self {
            Step::Upgraded { from } | Step::WouldUpgrade { from } => Some(from.release),
            _ => None,
        }
    }

    /// Changed the database (or would have, in a dry run).
    pub fn changes(&self) -> bool {
        !matches!(self, Step::AlreadyApplied | Step::NotRequested)
    }
}

/// One file's step in this run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub migration: &'static Migration,
    pub step: Step,
    pub execution_ms: Option<i64>,
    /// What the server said (NOTICE, WARNING) while the file ran, in order.
    pub notices: Vec<crate::notice::ServerNotice>,
}

/// The Supabase stand-in in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    NotNeeded,
    WouldInstall,
    Installed { ms: i64 },
}

impl Compat {
    pub fn id(self) -> &'static str {
        match self {
            Compat::NotNeeded => "not_needed",
            Compat::WouldInstall => "would_install",
            Compat::Installed { .. } => "installed",
        }
    }
}

/// What `migrate` did.
#[derive(Debug, Clone)]
pub struct Report {
    pub dry_run: bool,
    pub compat: Compat,
    pub outcomes: Vec<Outcome>,
    pub elapsed: Duration,
}

impl Report {
    pub fn count(&self, id: &str) -> usize {
        self.outcomes.iter().filter(|o| o.step.id() == id).count()
    }
}

/// What the engine tells the command layer while it works; every method has a
/// do-nothing default, so a caller that wants silence passes `&mut ()`.
pub trait Progress {
    /// Another run holds the lock; told once, with the holder.
    fn waiting_for_lock(&mut self, _holder: &str) {}
    /// Something slow starts (a file is applied).
    fn working(&mut self, _what: &str) {}
    /// A file's step is final (reported as it happens, in order).
    fn file_done(&mut self, _outcome: &Outcome) {}
    /// A file failed and was rolled back; what the server said while it ran
    /// (often the reason) comes before the error the engine then returns.
    fn file_failed(&mut self, _migration: &'static Migration, _notices: &[ServerNotice]) {}
    fn compat_installed(&mut self, _ms: i64) {}
}

impl Progress for () {}

/// The step a run up to file `last` takes for a file in this state.
/// (`ChecksumUnknown` never gets here: it stops the run first.)
fn planned(state: &FileState, m: &Migration, last: i32) -> Step {
    match state {
        FileState::Applied(_) | FileState::ChecksumUnknown { .. } => Step::AlreadyApplied,
        _ if m.version > last => Step::NotRequested,
        FileState::Pending => Step::WouldApply,
        FileState::UpgradePending { from, .. } => Step::WouldUpgrade { from },
        FileState::Renamed(a) => Step::WouldRepair {
            was: a.name.clone(),
        },
    }
}

/// Carries out a planned step; returns the step taken and its execution time.
async fn take(
    conn: &mut PgConnection,
    m: &'static Migration,
    state: &FileState<'_>,
    step: Step,
    statement_lock_timeout: u64,
) -> Result<(Step, Option<i64>)> {
    Ok(match step {
        Step::WouldApply => (
            Step::Applied,
            Some(apply::apply(conn, m, None, statement_lock_timeout).await?),
        ),
        Step::WouldUpgrade { from } => (
            Step::Upgraded { from },
            Some(apply::apply(conn, m, state.applied(), statement_lock_timeout).await?),
        ),
        Step::WouldRepair { was } => {
            history::repair_name(conn, m).await?;
            (Step::Repaired { was }, None)
        }
        other => (other, None),
    })
}

/// `vmx migrate`: applies what is pending and upgrades what an earlier release applied, in order.
pub async fn migrate(
    conn: &mut PgConnection,
    target: &str,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    let last = options.to.unwrap_or(i32::MAX);

    // Before any change: the record must be of a release, and the target Supabase-shaped.
    let recorded = history::read(&mut *conn).await?;
    let drift = history::drift(&recorded);
    drift.require_consistent()?;
    let needs_compat = !has_auth_users(&mut *conn).await?;
    if needs_compat && !options.supabase_compat {
        return Err(VmxError::Prerequisite(format!(
            "{target} has no auth.users, so it is not a Supabase database; on plain PostgreSQL (CI) run \
             `vmx migrate --supabase-compat` to install the stand-in roles and auth schema first"
        ))
        .into());
    }
    let plan: Vec<(&'static Migration, Step)> = drift
        .files
        .iter()
        .map(|(m, state)| (*m, planned(state, m, last)))
        .collect();
    let runs_file = |step: &Step| matches!(step, Step::WouldApply | Step::WouldUpgrade { .. });
    if needs_compat || plan.iter().any(|(_, s)| runs_file(s)) {
        let needs = preflight::Needs {
            compat: needs_compat,
            auth_trigger: plan.iter().any(|(m, s)| m.version == 1 && runs_file(s)),
        };
        preflight::require_privileges(&mut *conn, needs).await?;
    }

    if options.dry_run {
        let outcomes = plan
            .into_iter()
            .map(|(migration, step)| Outcome {
                migration,
                step,
                execution_ms: None,
                notices: Vec::new(),
            })
            .collect();
        return Ok(Report {
            dry_run: true,
            compat: if needs_compat {
                Compat::WouldInstall
            } else {
                Compat::NotNeeded
            },
            outcomes,
            elapsed: started.elapsed(),
        });
    }

    lock::acquire(&mut *conn, options.lock_timeout, |holder| {
        progress.waiting_for_lock(holder)
    })
    .await?;
    let result = migrate_locked(&mut *conn, options, last, progress).await;
    lock::release(&mut *conn).await;
    let (compat, outcomes) = result?;
    Ok(Report {
        dry_run: false,
        compat,
        outcomes,
        elapsed: started.elapsed(),
    })
}

/// The part of `migrate` that runs under the lock: re-read what other runs did, then act.
async fn migrate_locked(
    conn: &mut PgConnection,
    options: &Options,
    last: i32,
    progress: &mut dyn Progress,
) -> Result<(Compat, Vec<Outcome>)> {
    let slt = options.statement_lock_timeout;
    // Another run may have installed it while we waited.
    let mut compat = Compat::NotNeeded;
    if !has_auth_users(&mut *conn).await? {
        progress.working("installing supabase-compat.sql");
        let ms = apply::run_unrecorded(&mut *conn, "supabase-compat.sql", SUPABASE_COMPAT_SQL, slt)
            .await?;
        progress.compat_installed(ms);
        compat = Compat::Installed { ms };
    }
    history::ensure(&mut *conn).await?;
    let recorded = history::read(&mut *conn).await?;
    let drift = history::drift(&recorded);
    drift.require_consistent()?;

    let mut outcomes = Vec::new();
    for (m, state) in &drift.files {
        let step = planned(state, m, last);
        if step.changes() {
            progress.working(&format!("{} {} {}", step.id(), m.version, m.name));
        }
        let (taken, notices) = crate::notice::collect(take(&mut *conn, m, state, step, slt)).await;
        let (step, execution_ms) = taken.inspect_err(|_| progress.file_failed(m, &notices))?;
        let outcome = Outcome {
            migration: m,
            step,
            execution_ms,
            notices,
        };
        progress.file_done(&outcome);
        outcomes.push(outcome);
    }
    Ok((compat, outcomes))
}

/// What `vmx status` shows: every current record read by the one drift rule.
pub async fn status(conn: &mut PgConnection) -> Result<Vec<Applied>> {
    history::read(conn).await
}

/// What `add-missing` did.
#[derive(Debug, Clone)]
pub struct AddMissingReport {
    pub dry_run: bool,
    pub outcome: Outcome,
    /// Users in `auth.users` that had no `user_limits` row before the file ran.
    pub backfilled_users: i64,
    /// Earlier files an earlier release applied: `vmx migrate` upgrades them.
    pub upgrades_pending: Vec<&'static Migration>,
    pub elapsed: Duration,
}

/// `vmx add-missing`: Option B — only `missing-tables-schema.sql`, recorded, with existing users backfilled.
pub async fn add_missing(
    conn: &mut PgConnection,
    target: &str,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<AddMissingReport> {
    let started = Instant::now();
    let file = catalog::by_version(MISSING_TABLES_VERSION)
        .context("this binary embeds no missing-tables-schema.sql")?;
    if !has_auth_users(&mut *conn).await? {
        return Err(VmxError::Prerequisite(format!(
            "{target} has no auth.users, so it is not a Supabase database; add-missing completes a hand-built \
             Supabase setup — on plain PostgreSQL use `vmx migrate --supabase-compat`"
        ))
        .into());
    }
    let absent = absent_tables(&mut *conn, &FIRST_FOUR_TABLES).await?;
    if !absent.is_empty() {
        return Err(VmxError::Prerequisite(format!(
            "{target} lacks {}, which the first four files create; add-missing only completes a database \
             that has them — run `vmx migrate` to apply all five files",
            absent.join(", ")
        ))
        .into());
    }
    let recorded = history::read(&mut *conn).await?;
    let drift = history::drift(&recorded);
    drift.require_consistent()?;
    let upgrades_pending = upgrades_before(&drift, file.version);
    let step = planned(&drift.files[file_index(file)].1, file, i32::MAX);
    if matches!(step, Step::WouldApply | Step::WouldUpgrade { .. }) {
        let needs = preflight::Needs {
            compat: false,
            auth_trigger: false,
        };
        preflight::require_privileges(&mut *conn, needs).await?;
    }
    if options.dry_run || !step.changes() {
        let backfilled_users = if step.changes() {
            users_without_limits(&mut *conn).await?
        } else {
            0
        };
        return Ok(AddMissingReport {
            dry_run: options.dry_run,
            outcome: Outcome {
                migration: file,
                step,
                execution_ms: None,
                notices: Vec::new(),
            },
            backfilled_users,
            upgrades_pending,
            elapsed: started.elapsed(),
        });
    }

    lock::acquire(&mut *conn, options.lock_timeout, |holder| {
        progress.waiting_for_lock(holder)
    })
    .await?;
    let result = add_missing_locked(&mut *conn, file, options, progress).await;
    lock::release(&mut *conn).await;
    let (outcome, backfilled_users) = result?;
    Ok(AddMissingReport {
        dry_run: false,
        outcome,
        backfilled_users,
        upgrades_pending,
        elapsed: started.elapsed(),
    })
}

/// Under the lock: another run may have applied the file while we waited.
async fn add_missing_locked(
    conn: &mut PgConnection,
    file: &'static Migration,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<(Outcome, i64)> {
    history::ensure(&mut *conn).await?;
    let recorded = history::read(&mut *conn).await?;
    let drift = history::drift(&recorded);
    drift.require_consistent()?;
    let state = &drift.files[file_index(file)].1;
    let step = planned(state, file, i32::MAX);
    let users = if step.changes() {
        users_without_limits(&mut *conn).await?
    } else {
        0
    };
    if step.changes() {
        progress.working(&format!("{} {} {}", step.id(), file.version, file.name));
    }
    // The file backfills user_limits itself, set-based: the rows in its transaction, the
    // used seconds (a sum over call_logs) in its vmx:concurrently section (see `apply`).
    let (taken, notices) = crate::notice::collect(take(
        conn,
        file,
        state,
        step,
        options.statement_lock_timeout,
    ))
    .await;
    let (step, execution_ms) = taken.inspect_err(|_| progress.file_failed(file, &notices))?;
    let outcome = Outcome {
        migration: file,
        step,
        execution_ms,
        notices,
    };
    progress.file_done(&outcome);
    Ok((outcome, users))
}

fn file_index(file: &Migration) -> usize {
    catalog::migrations()
        .iter()
        .position(|m| m.version == file.version)
        .expect("an embedded file")
}

/// Earlier files than `version` that an earlier release applied.
fn upgrades_before(drift: &history::Drift, version: i32) -> Vec<&'static Migration> {
    drift
        .files
        .iter()
        .filter(|(m, s)| m.version < version && matches!(s, FileState::UpgradePending { .. }))
        .map(|(m, _)| *m)
        .collect()
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

/// Users (`auth.users`) that have no `user_limits` row yet (all of them when the table is absent).
async fn users_without_limits(conn: &mut PgConnection) -> Result<i64> {
    let has_limits: bool =
        sqlx::query_scalar("SELECT to_regclass('public.user_limits') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .context("cannot look for public.user_limits")?;
    let sql = if has_limits {
        "SELECT count(*) FROM auth.users u
         WHERE NOT EXISTS (SELECT 1 FROM public.user_limits l WHERE l.user_id = u.id)"
    } else {
        "SELECT count(*) FROM auth.users"
    };
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .context("cannot count the users to backfill")
}
