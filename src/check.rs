//! `vmx check` and `vmx sandbox`: the throwaway PostgreSQL put to work.
//!
//! The cluster is prepared the way hosted Supabase is: the superuser installs
//! the stand-in (`supabase-compat.sql`), and the schema is applied by
//! `vmx_admin`, a role shaped like Supabase's `postgres` — not a superuser,
//! CREATEROLE, BYPASSRLS, member of the API roles — because files that only
//! work as a superuser would fail in production.

use crate::catalog::SUPABASE_COMPAT_SQL;
use crate::cli::{Format, LockArgs, MigrateArgs};
use crate::output::Ctx;
use crate::sandbox::Sandbox;
use anyhow::{anyhow, Context, Result};
use sqlx::{Connection, PgConnection};

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
pub async fn check(ctx: &Ctx, keep: bool) -> Result<()> {
    let sandbox = start_prepared(ctx).await?;
    let url = admin_url(&sandbox);
    let work = async {
        migrate_quietly(ctx, &url).await?;
        crate::verify::verify(&ctx.with_database_url(url.clone()), true, &[]).await
    };
    let result = tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted; the throwaway PostgreSQL was removed")),
    };
    if keep {
        let dir = sandbox.dir().display().to_string();
        sandbox.keep();
        eprintln!("vmx: the throwaway PostgreSQL keeps running in {dir}");
        eprintln!("vmx: stop it with: pg_ctl stop -D {dir}/data (as the postgres user when root), then rm -rf {dir}");
        println!("{url}");
    }
    // Without --keep the sandbox is dropped here: server stopped, directory removed.
    result
}

/// `vmx sandbox`: the same PostgreSQL, schema applied, kept until Ctrl-C.
pub async fn sandbox(ctx: &Ctx) -> Result<()> {
    let sandbox = start_prepared(ctx).await?;
    let url = admin_url(&sandbox);
    migrate_quietly(ctx, &url).await?;
    println!("{url}");
    if ctx.progress() {
        eprintln!("vmx: throwaway PostgreSQL ready (schema applied as {ADMIN_ROLE}); Ctrl-C stops it and removes everything");
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    drop(sandbox);
    Ok(())
}

/// Starts the cluster and prepares it as Supabase would be: compat layer and the admin role.
async fn start_prepared(ctx: &Ctx) -> Result<Sandbox> {
    let sandbox = tokio::task::spawn_blocking(Sandbox::start)
        .await
        .context("the sandbox start-up task failed")??;
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
    if ctx.verbose > 0 {
        eprintln!("vmx: throwaway PostgreSQL in {}", sandbox.dir().display());
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
    let mut migrate_ctx = ctx.with_database_url(url.to_string());
    migrate_ctx.quiet = ctx.quiet || ctx.verbose == 0 || ctx.format != Format::Human;
    migrate_ctx.format = Format::Human;
    let args = MigrateArgs {
        dry_run: false,
        to: None,
        supabase_compat: false,
        lock: LockArgs {
            lock_timeout: 60,
            statement_lock_timeout: 10,
        },
    };
    crate::migrate::migrate(&migrate_ctx, &args).await
}
