//! The schema against the extensions Supabase runs: Debian's real pg_cron
//! (promise 5: the demo cleanup scheduled once where the migrating role can
//! use it, else a NOTICE with the exact SQL) and plpgsql_check (what
//! `supabase db lint` runs: it reports nothing on any function).
//! Needs `postgresql-<ver>-cron` and `postgresql-<ver>-plpgsql-check`
//! (installed by `.ci/run`).
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;
use vmx::sandbox::{find_bindir, Sandbox, SandboxOptions};

/// Where pg_cron lives in the cron cluster.
const CRON_DB: &str = "cronhome";

/// Runs psql on `sandbox` (superuser, or `user`) with NOTICEs shown; returns
/// stderr (the messages). Panics when psql fails.
fn psql(sandbox: &Sandbox, db: &str, user: Option<&str>, args: &[&str]) -> String {
    let mut url = url::Url::parse(&sandbox.url_for(db)).expect("sandbox URL");
    if let Some(user) = user {
        url.set_username(user).expect("user name");
    }
    let out = Command::new(psql_bin())
        .arg(url.as_str())
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGOPTIONS", "-c client_min_messages=notice")
        .output()
        .expect("run psql");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "psql {args:?} on {db}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    format!("{stdout}{stderr}")
}

fn psql_bin() -> PathBuf {
    find_bindir().expect("PostgreSQL binaries").join("psql")
}

fn query(sandbox: &Sandbox, db: &str, sql: &str) -> String {
    psql(sandbox, db, None, &["-c", sql]).trim().to_string()
}

/// A Supabase-shaped database `db` (compat, admin role) on `sandbox`.
fn supabase_db(sandbox: &Sandbox, db: &str) {
    query(
        sandbox,
        "postgres",
        &vmx::check::supabase_admin_role_sql(ADMIN),
    );
    query(
        sandbox,
        "postgres",
        &format!("CREATE DATABASE {db} OWNER {ADMIN}"),
    );
    psql(
        sandbox,
        db,
        None,
        &[
            "--single-transaction",
            "-f",
            &repo_path("sql/supabase-compat.sql"),
        ],
    );
    query(sandbox, db, &vmx::check::supabase_admin_grants_sql(ADMIN));
}

/// Applies the five files as the admin role, each in one transaction;
/// returns every message the server sent.
fn apply_all(sandbox: &Sandbox, db: &str) -> String {
    let mut messages = String::new();
    for file in files() {
        messages.push_str(&psql(
            sandbox,
            db,
            Some(ADMIN),
            &[
                "--single-transaction",
                "-f",
                &repo_path(&format!("sql/{file}")),
            ],
        ));
    }
    messages
}

fn cron_sandbox() -> Sandbox {
    Sandbox::start_with(
        SandboxOptions::default()
            .setting("shared_preload_libraries", "pg_cron")
            .setting("cron.database_name", CRON_DB),
    )
    .expect("start a PostgreSQL with pg_cron preloaded (postgresql-<ver>-cron installed?)")
}

/// `vmx verify`'s cleanup-schedule results on `db` (as the superuser): (status, target, detail).
fn cleanup_schedule_results(sandbox: &Sandbox, db: &str) -> Vec<(String, String, String)> {
    let out = Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .args(["--database-url", &sandbox.url_for(db), "--color", "never"])
        .args(["verify", "--format", "json"])
        .env_remove("DATABASE_URL")
        .env_remove("PGRST_DB_SCHEMAS")
        .output()
        .expect("run vmx verify");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["id"] == "cleanup-schedule")
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (field("status"), field("target"), field("detail"))
        })
        .collect()
}

fn cleanup_jobs(sandbox: &Sandbox) -> String {
    query(
        sandbox,
        CRON_DB,
        "SELECT count(*) || ' ' || coalesce(string_agg(format('%s|%s|%s|%s', jobname, schedule, command, database), ','), '')
         FROM cron.job WHERE command LIKE '%cleanup_demo_users_with_call_limits%'",
    )
}

#[test]
fn pg_cron_schedules_the_cleanup_once_only_where_the_migrating_role_may_use_it() {
    let sandbox = cron_sandbox();
    supabase_db(&sandbox, CRON_DB);
    query(&sandbox, CRON_DB, "CREATE EXTENSION pg_cron");

    // Installed here, but the migrating role may not use schema cron: NOTICE with the SQL.
    query(
        &sandbox,
        CRON_DB,
        &format!("REVOKE ALL ON SCHEMA cron FROM PUBLIC, {ADMIN}"),
    );
    let messages = apply_all(&sandbox, CRON_DB);
    assert!(
        messages.contains("may not use schema cron")
            && messages.contains("SELECT cron.schedule('vmx-cleanup-demo-users', '17 3 * * *', 'select public.cleanup_demo_users_with_call_limits()');"),
        "no NOTICE with the SQL: {messages}"
    );
    assert_eq!(cleanup_jobs(&sandbox), "0");

    // Usable: scheduled, and once however often the files are applied.
    query(
        &sandbox,
        CRON_DB,
        &format!("GRANT USAGE ON SCHEMA cron TO {ADMIN}"),
    );
    apply_all(&sandbox, CRON_DB);
    apply_all(&sandbox, CRON_DB);
    assert_eq!(
        cleanup_jobs(&sandbox),
        format!("1 vmx-cleanup-demo-users|17 3 * * *|select public.cleanup_demo_users_with_call_limits()|{CRON_DB}")
    );
    // verify reads the real cron.job: the job passes; made monthly it warns; made a
    // mention of the cleanup in another command, it fails.
    let results = cleanup_schedule_results(&sandbox, CRON_DB);
    assert!(
        matches!(results.as_slice(), [(status, target, _)] if status == "pass" && target == "cron.job.vmx-cleanup-demo-users"),
        "{results:?}"
    );
    let alter = |change: &str| {
        query(
            &sandbox,
            CRON_DB,
            &format!("SELECT cron.alter_job(jobid, {change}) FROM cron.job WHERE jobname = 'vmx-cleanup-demo-users'"),
        )
    };
    alter("schedule := '17 3 1 * *'");
    let results = cleanup_schedule_results(&sandbox, CRON_DB);
    assert!(
        matches!(results.as_slice(), [(status, _, detail)] if status == "warn" && detail.contains("less often than daily")),
        "{results:?}"
    );
    alter("schedule := '17 3 * * *', command := 'select 1 -- public.cleanup_demo_users_with_call_limits()'");
    let results = cleanup_schedule_results(&sandbox, CRON_DB);
    assert!(
        matches!(results.as_slice(), [(status, _, detail)] if status == "fail" && detail.contains("not a plain call")),
        "{results:?}"
    );
    alter("command := 'select public.cleanup_demo_users_with_call_limits()'");

    // pg_cron lives in another database: NOTICE with cron.schedule_in_database, nothing
    // scheduled; naming that database where the role may read cron.database_name.
    supabase_db(&sandbox, "app");
    let in_db = "SELECT cron.schedule_in_database('vmx-cleanup-demo-users', '17 3 * * *', 'select public.cleanup_demo_users_with_call_limits()', 'app');";
    let messages = apply_all(&sandbox, "app");
    assert!(
        messages.contains("pg_cron is not installed in database app") && messages.contains(in_db),
        "no NOTICE with schedule_in_database: {messages}"
    );
    query(
        &sandbox,
        "postgres",
        &format!("GRANT pg_read_all_settings TO {ADMIN}"),
    );
    let messages = apply_all(&sandbox, "app");
    assert!(
        messages.contains(&format!("pg_cron runs in database {CRON_DB}, not in app"))
            && messages.contains(in_db),
        "no NOTICE naming {CRON_DB}: {messages}"
    );
    assert!(cleanup_jobs(&sandbox).starts_with("1 "));
    // And the SQL it printed works, run where pg_cron lives.
    query(
        &sandbox,
        CRON_DB,
        "SELECT cron.schedule_in_database('vmx-cleanup-demo-users', '17 3 * * *', 'select public.cleanup_demo_users_with_call_limits()', 'app')",
    );
    assert!(cleanup_jobs(&sandbox).starts_with("2 "));
}

#[tokio::test]
async fn plpgsql_check_reports_nothing_on_any_function() {
    let db = fresh_db(Fixture::Schema);
    db.sql("CREATE EXTENSION IF NOT EXISTS plpgsql_check");
    let functions = db.sql(
        "SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE l.lanname = 'plpgsql' AND p.pronamespace = 'public'::regnamespace",
    );
    assert!(
        functions.trim().parse::<i64>().expect("count") >= 15,
        "the schema's functions: {functions}"
    );
    // Trigger functions are checked against their table (and transition tables).
    let report = db.sql(
        "SELECT p.oid::regprocedure || ': ' || c.msg
         FROM pg_proc p
         JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
         LEFT JOIN LATERAL (
           SELECT t.tgrelid, t.tgoldtable, t.tgnewtable FROM pg_trigger t
           WHERE t.tgfoid = p.oid ORDER BY t.tgoldtable NULLS LAST LIMIT 1) t ON true
         CROSS JOIN LATERAL plpgsql_check_function(p.oid, coalesce(t.tgrelid, 0),
             oldtable => t.tgoldtable, newtable => t.tgnewtable,
             extra_warnings => true, performance_warnings => true, security_warnings => true) AS c(msg)
         WHERE p.pronamespace = 'public'::regnamespace",
    );
    assert!(report.trim().is_empty(), "plpgsql_check:\n{report}");
}
