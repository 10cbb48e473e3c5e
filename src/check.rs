//! `vmx check` and `vmx sandbox`: the throwaway PostgreSQL put to work.
//!
//! The cluster is prepared the way hosted Supabase is: the superuser installs
//! the stand-in (`supabase-compat.sql`), and the schema is applied by
//! `vmx_admin`, a role shaped like Supabase's `postgres` — not a superuser,
//! CREATEROLE, BYPASSRLS, member of the API roles — because files that only
//! work as a superuser would fail in production.

use crate::catalog::SUPABASE_COMPAT_SQL;
use crate::cli::Format;
use crate::error::VmxError;
use crate::output::{note, Ctx};
use crate::sandbox::Sandbox;
use anyhow::{Context, Result};
use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::time::Instant;
use tokio::signal::unix::SignalKind;

/// The Supabase-shaped role that applies the schema in the sandbox.
const ADMIN_ROLE: &str = "vmx_admin";
/// The database the sandbox holds the schema in.
const DATABASE: &str = "voicematrix";

/// Creates `role`, shaped like hosted Supabase's `postgres`, if absent: not a
/// superuser, CREATEROLE, BYPASSRLS. Roles are cluster-wide: run it once.
pub fn supabase_admin_role_sql(role: &str) -> String {
    format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
             CREATE ROLE {role} LOGIN CREATEROLE BYPASSRLS;
           END IF;
         END $$;"
    )
}

/// In a database with the compat layer: what Supabase's `postgres` holds
/// there — membership of the API roles and ALL on `auth.users`.
pub fn supabase_admin_grants_sql(role: &str) -> String {
    format!(
        "GRANT anon, authenticated, service_role TO {role};
         GRANT USAGE ON SCHEMA auth TO {role};
         GRANT ALL ON auth.users TO {role};"
    )
}

/// `vmx check`: throwaway PostgreSQL → compat → migrate → verify --probe → gone.
/// SIGINT, SIGTERM or SIGHUP at any moment: everything removed, exit 130/143/129.
pub async fn check(ctx: &Ctx, keep: bool) -> Result<()> {
    until_interrupted(check_inner(ctx, keep)).await
}

async fn check_inner(ctx: &Ctx, keep: bool) -> Result<()> {
    let sandbox = start_prepared(ctx).await?;
    let url = admin_url(&sandbox);
    let started = Instant::now();
    migrate_quietly(ctx, &url).await?;
    if ctx.verbose > 0 {
        note(format_args!(
            "vmx: schema applied as {ADMIN_ROLE} in {} ms; verify --probe",
            started.elapsed().as_millis()
        ));
    }
    let started = Instant::now();
    let result = crate::commands::verify::run(&ctx.with_database_url(url.clone()), true, &[]).await;
    if ctx.verbose > 0 {
        note(format_args!(
            "vmx: verify --probe took {} ms",
            started.elapsed().as_millis()
        ));
    }
    if keep {
        let dir = sandbox.dir().to_path_buf();
        let pg_ctl = sandbox.bindir().join("pg_ctl");
        sandbox.keep();
        note(format_args!(
            "vmx: the throwaway PostgreSQL keeps running in {}",
            dir.display()
        ));
        note(format_args!(
            "vmx: stop it with: {}",
            stop_command(&dir, &pg_ctl)
        ));
        if ctx.format == Format::Human {
            ctx.out().line(&url);
        } else {
            note(format_args!("vmx: its URL: {url}"));
        }
    }
    // Without --keep the sandbox is dropped here: server stopped, directory removed.
    result
}

/// `vmx sandbox`: the same PostgreSQL, schema applied, kept until Ctrl-C
/// (or SIGTERM / SIGHUP), then removed; exit 130 / 143 / 129.
pub async fn sandbox(ctx: &Ctx) -> Result<()> {
    until_interrupted(async {
        let sandbox = start_prepared(ctx).await?;
        let url = admin_url(&sandbox);
        migrate_quietly(ctx, &url).await?;
        ctx.out().line(&url);
        if ctx.progress() {
            note(format_args!(
                "vmx: throwaway PostgreSQL ready in {} (schema applied as {ADMIN_ROLE})",
                sandbox.dir().display()
            ));
            note(format_args!(
                "vmx: Ctrl-C (or `kill {}` from another terminal) stops it and removes everything",
                std::process::id()
            ));
        }
        std::future::pending::<()>().await;
        drop(sandbox);
        Ok(())
    })
    .await
}

/// `vmx sandbox --stop DIR`: what `vmx check --keep` left running, stopped and removed.
pub fn stop(ctx: &Ctx, dir: &Path) -> Result<()> {
    crate::sandbox::stop(dir)?;
    if ctx.progress() {
        note(format_args!(
            "vmx: stopped the throwaway PostgreSQL and removed {}",
            dir.display()
        ));
    }
    Ok(())
}

/// A command that stops a kept sandbox, as it can be pasted: `vmx sandbox
/// --stop DIR` (this very binary), and where `pg_ctl` may be used (not as
/// root, which PostgreSQL refuses) its absolute path too.
fn stop_command(dir: &Path, pg_ctl: &Path) -> String {
    let vmx = this_binary();
    let ours = format!(
        "{vmx} sandbox --stop {}",
        shell_quote(&dir.display().to_string())
    );
    if nix::unistd::geteuid().is_root() {
        return ours;
    }
    format!(
        "{ours}   (or: {} stop -D {} -m immediate && rm -rf {})",
        shell_quote(&pg_ctl.display().to_string()),
        shell_quote(&dir.join("data").display().to_string()),
        shell_quote(&dir.display().to_string()),
    )
}

/// `vmx` when that name on PATH is this binary, else this binary's absolute path.
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|e| e.canonicalize()) else {
        return "vmx".into();
    };
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("vmx"))
            .find(|p| p.is_file())
            .and_then(|p| p.canonicalize().ok())
    });
    if on_path.as_deref() == Some(exe.as_path()) {
        "vmx".into()
    } else {
        shell_quote(&exe.display().to_string())
    }
}

/// Quotes a word for sh when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Runs `work` until SIGINT, SIGTERM or SIGHUP. On a signal every sandbox
/// start-up is stopped (`sandbox::abort`), `work` is dropped (a running
/// sandbox with it: server stopped, directory removed), and the error is
/// `Interrupted` with that signal (exit 130 / 143 / 129, one line).
async fn until_interrupted<F: std::future::Future<Output = Result<()>>>(work: F) -> Result<()> {
    let mut int = unix_signal(SignalKind::interrupt())?;
    let mut term = unix_signal(SignalKind::terminate())?;
    let mut hup = unix_signal(SignalKind::hangup())?;
    let mut work = Box::pin(work);
    let signal = tokio::select! {
        result = &mut work => return result,
        _ = int.recv() => 2,
        _ = term.recv() => 15,
        _ = hup.recv() => 1,
    };
    crate::sandbox::abort();
    drop(work);
    // A start-up still running on a blocking thread removes its directory;
    // `main` drops the runtime, which waits for it, before exiting.
    Err(VmxError::Interrupted { signal }.into())
}

fn unix_signal(kind: SignalKind) -> Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).context("cannot listen for signals")
}

/// Starts the cluster and prepares it as Supabase would be: compat layer and the admin role.
async fn start_prepared(ctx: &Ctx) -> Result<Sandbox> {
    let started = Instant::now();
    let sandbox = tokio::task::spawn_blocking(Sandbox::start)
        .await
        .context("the sandbox start-up task failed")??;
    if ctx.verbose > 0 {
        note(format_args!(
            "vmx: throwaway PostgreSQL {} ready in {} ms, in {}",
            sandbox.version(),
            started.elapsed().as_millis(),
            sandbox.dir().display()
        ));
    }
    if ctx.verbose > 1 {
        note(format_args!(
            "vmx: server binaries {}; server log {}",
            sandbox.bindir().display(),
            sandbox.dir().join("server.log").display()
        ));
    }
    let mut conn = PgConnection::connect(&sandbox.url())
        .await
        .context("cannot connect to the throwaway PostgreSQL")?;
    sqlx::raw_sql(&supabase_admin_role_sql(ADMIN_ROLE))
        .execute(&mut conn)
        .await
        .context("cannot create the admin role")?;
    // CREATE DATABASE refuses to run inside the implicit transaction of a multi-statement query.
    sqlx::raw_sql(&format!("CREATE DATABASE {DATABASE} OWNER {ADMIN_ROLE}"))
        .execute(&mut conn)
        .await
        .context("cannot create the sandbox database")?;
    conn.close().await.ok();

    let mut conn = PgConnection::connect(&sandbox.url_for(DATABASE))
        .await
        .context("cannot connect to the sandbox database")?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(SUPABASE_COMPAT_SQL)
        .execute(&mut *tx)
        .await
        .context("supabase-compat.sql failed on the throwaway PostgreSQL")?;
    sqlx::raw_sql(&supabase_admin_grants_sql(ADMIN_ROLE))
        .execute(&mut *tx)
        .await
        .context("cannot grant the admin role what Supabase's postgres role has")?;
    tx.commit().await?;
    conn.close().await.ok();
    if ctx.verbose > 1 {
        note(format_args!(
            "vmx: compat layer installed, database {DATABASE} owned by {ADMIN_ROLE}; connecting as {}",
            admin_url(&sandbox)
        ));
    }
    Ok(sandbox)
}

fn admin_url(sandbox: &Sandbox) -> String {
    format!(
        "postgres://{ADMIN_ROLE}@localhost/{DATABASE}?host={}",
        sandbox.dir().display()
    )
}

/// Applies the five files; their per-file lines only with `-v` in human
/// format, so the checklist stays the output (and JSON stays one document).
async fn migrate_quietly(ctx: &Ctx, url: &str) -> Result<()> {
    let migrate_ctx = ctx.with_database_url(url.to_string());
    let (target, mut conn) = migrate_ctx.connect().await?;
    let show = !ctx.quiet && ctx.verbose > 0 && ctx.progress();
    let mut progress = crate::commands::HumanProgress::new(&migrate_ctx, false, 60);
    let mut silent = ();
    let progress: &mut dyn crate::migrate::Progress =
        if show { &mut progress } else { &mut silent };
    let options = crate::migrate::Options::default();
    crate::migrate::migrate(&mut conn, &target.display, &options, progress).await?;
    Ok(())
}
