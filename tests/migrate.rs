//! `vmx migrate`, `vmx status`, `vmx add-missing` through the real binary,
//! against a real PostgreSQL, as the Supabase-shaped non-superuser admin.
mod common;
use common::*;
use sqlx::{Connection, Executor, PgConnection};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `version|checksum` rows of vmx.schema_history; empty when the table does not exist.
fn history(db: &TestDb) -> Vec<(i32, String)> {
    if db
        .sql("SELECT to_regclass('vmx.schema_history') IS NOT NULL")
        .trim()
        != "t"
    {
        return Vec::new();
    }
    // The current rows (a trail of superseded revisions may stand beside them).
    db.sql(
        "SELECT version || '|' || checksum FROM vmx.schema_history h
         WHERE to_jsonb(h) ->> 'superseded_at' IS NULL ORDER BY version",
    )
    .lines()
    .filter_map(|l| l.split_once('|'))
    .map(|(v, c)| (v.parse().expect("version"), c.to_string()))
    .collect()
}

fn versions(db: &TestDb) -> Vec<i32> {
    history(db).into_iter().map(|(v, _)| v).collect()
}

fn exists(db: &TestDb, relation: &str) -> bool {
    db.sql(&format!("SELECT to_regclass('{relation}') IS NOT NULL"))
        .trim()
        == "t"
}

fn embedded() -> Vec<(i32, String)> {
    vmx::catalog::migrations()
        .iter()
        .map(|m| (m.version, m.checksum.clone()))
        .collect()
}

/// Waits (with a deadline) until a vmx backend on `db` is blocked on a lock; returns its pid.
async fn blocked_vmx_backend(db: &TestDb) -> i32 {
    let mut conn = db.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'vmx'
               AND wait_event_type = 'Lock' LIMIT 1",
        )
        .fetch_optional(&mut conn)
        .await
        .expect("pg_stat_activity");
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "vmx never blocked on the held lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A superuser transaction holding ACCESS EXCLUSIVE on public.profiles, so file 2 blocks.
async fn hold_profiles_lock(db: &TestDb) -> PgConnection {
    let mut conn = db.superuser().await;
    conn.execute("BEGIN; LOCK TABLE public.profiles IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock profiles");
    conn
}

#[test]
fn fresh_migrate_applies_all_five_then_rerun_does_nothing() {
    let db = fresh_db(Fixture::Compat);
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("applied ")).count(),
        5,
        "{text}"
    );
    assert_eq!(history(&db), embedded());

    let again = run_on(&db, &["migrate", "--format", "json"]);
    assert_exit(&again, 0);
    let doc = json_of(&again);
    assert_eq!(doc["applied"], 0);
    assert_eq!(doc["already_applied"], 5);

    let quiet = run_on(&db, &["migrate", "-q"]);
    assert_exit(&quiet, 0);
    assert!(quiet.stdout.is_empty(), "{}", stdout(&quiet));
    assert_eq!(history(&db), embedded());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let db = fresh_db(Fixture::Compat);
    let out = run_on(&db, &["migrate", "--dry-run"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.matches("would apply").count(), 5, "{text}");
    assert!(
        text.contains(&vmx::catalog::migrations()[0].checksum),
        "{text}"
    );
    assert!(
        !exists(&db, "vmx.schema_history"),
        "dry run created the history"
    );
    assert!(!exists(&db, "public.profiles"), "dry run applied a file");
}

#[test]
fn target_without_auth_users_needs_supabase_compat() {
    let db = fresh_db(Fixture::Empty);
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 8);
    assert!(
        stderr(&out).contains("--supabase-compat"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&db, "vmx.schema_history"));

    let out = run_on(&db, &["migrate", "--supabase-compat"]);
    assert_exit(&out, 0);
    assert!(exists(&db, "auth.users"));
    assert_eq!(history(&db), embedded());
}

#[test]
fn status_reports_pending_files_until_migrated() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 7);
    assert_exit(&run_on(&db, &["migrate", "--to", "2"]), 0);
    assert_eq!(versions(&db), [1, 2]);

    let out = run_on(&db, &["status", "--format", "json"]);
    assert_exit(&out, 0);
    let doc = json_of(&out);
    let states: Vec<&str> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["state"].as_str().expect("state"))
        .collect();
    assert_eq!(
        states,
        ["applied", "applied", "pending", "pending", "pending"]
    );
    let human = stdout(&run_on(&db, &["status"]));
    assert_eq!(human.matches("pending").count(), 4, "{human}"); // three rows and the summary

    assert_exit(&run_on(&db, &["status", "--exit-code"]), 7);
    assert_exit(&run_on(&db, &["migrate"]), 0);
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 0);
}

#[test]
fn eight_concurrent_runs_apply_each_file_once() {
    let db = fresh_db(Fixture::Compat);
    let children: Vec<Child> = (0..8)
        .map(|_| spawn_on(&db, &["migrate", "--format", "json"]))
        .collect();
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait for vmx");
        assert_exit(&out, 0);
        applied += json_of(&out)["applied"].as_u64().expect("applied");
    }
    assert_eq!(applied, 5, "each file must be applied by exactly one run");
    assert_eq!(history(&db), embedded());
}

#[tokio::test]
async fn held_lock_times_out_with_exit_6_naming_the_holder() {
    let db = fresh_db(Fixture::Compat);
    let mut holder = db.admin().await;
    let pid: i32 = sqlx::query_scalar(
        "SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock(hashtext('vmx.schema_history')::bigint)) l",
    )
    .fetch_one(&mut holder)
    .await
    .expect("take the lock");

    let out = run_on(&db, &["migrate", "--lock-timeout", "1"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(
        err.contains("gave up after 1 s"),
        "must say it gave up after the configured --lock-timeout: {err}"
    );
    assert!(
        err.contains(&format!("pid {pid}")),
        "must name the holder: {err}"
    );
    assert!(!exists(&db, "public.profiles"));

    holder.close().await.expect("release");
    assert_exit(&run_on(&db, &["migrate"]), 0);
}

/// Advisory locks are per database but pg_locks is per cluster: a vmx run in
/// another database of the same server is not the holder to name.
#[tokio::test]
async fn lock_holder_named_is_the_one_in_this_database() {
    let other = fresh_db(Fixture::Compat);
    let db = fresh_db(Fixture::Compat);
    let take = "SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock(hashtext('vmx.schema_history')::bigint)) l";
    let mut elsewhere = other.admin().await;
    let other_pid: i32 = sqlx::query_scalar(take)
        .fetch_one(&mut elsewhere)
        .await
        .expect("lock in the other database");
    let mut holder = db.admin().await;
    let pid: i32 = sqlx::query_scalar(take)
        .fetch_one(&mut holder)
        .await
        .expect("lock in this database");

    let out = run_on(&db, &["migrate", "--lock-timeout", "1"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains(&format!("pid {pid},")), "{err}");
    assert!(!err.contains(&format!("pid {other_pid},")), "{err}");
    holder.close().await.expect("release");
    elsewhere.close().await.expect("release");
}

#[test]
fn tampered_checksum_stops_with_exit_4_and_changes_nothing() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["migrate", "--to", "2"]), 0);
    db.sql("UPDATE vmx.schema_history SET checksum = repeat('0', 64) WHERE version = 1");
    let before = history(&db);

    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(err.contains("schema.sql"), "{err}");
    assert!(err.contains(&"0".repeat(64)), "{err}");
    assert!(
        err.contains(&vmx::catalog::migrations()[0].checksum),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(history(&db), before);
    assert!(!exists(&db, "public.phone_numbers"));
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 4);
}

#[test]
fn unknown_version_stops_with_exit_4_and_changes_nothing() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["migrate", "--to", "2"]), 0);
    db.sql(
        "INSERT INTO vmx.schema_history (version, name, checksum, execution_ms, vmx_version)
         VALUES (99, 'future.sql', 'abc', 1, '9.9.9')",
    );
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("version 99"), "{}", stderr(&out));
    assert_eq!(versions(&db), [1, 2, 99]);
    assert!(!exists(&db, "public.phone_numbers"));
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 4);
}

#[test]
fn failing_file_is_rolled_back_with_exit_5_and_earlier_files_stay() {
    let db = fresh_db(Fixture::Compat);
    // A hand-made phone_numbers whose user_id is an integer: file 3 cannot
    // give it its foreign key to profiles(id uuid).
    server().sql(
        &db.name,
        Some(ADMIN),
        "CREATE TABLE public.phone_numbers (id int, user_id int)",
    );
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(err.contains("phone-number-schema.sql"), "{err}");
    assert!(err.contains("SQLSTATE"), "{err}");
    assert!(err.contains(", line "), "names the line in the file: {err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(versions(&db), [1, 2]);
    assert!(!exists(&db, "public.call_logs"));

    db.sql("DROP TABLE public.phone_numbers");
    assert_exit(&run_on(&db, &["migrate"]), 0);
    assert_eq!(history(&db), embedded());
}

#[test]
fn failing_file_keeps_what_the_server_said_before_the_error() {
    let db = fresh_db(Fixture::Compat);
    // As above; file 3's `CREATE TABLE IF NOT EXISTS phone_numbers` then says
    // NOTICE "already exists, skipping" before the foreign key fails.
    server().sql(
        &db.name,
        Some(ADMIN),
        "CREATE TABLE public.phone_numbers (id int, user_id int)",
    );
    let out = run_on(&db, &["migrate", "-v"]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    let lines: Vec<&str> = err.trim().lines().collect();
    let notice = lines
        .iter()
        .position(|l| {
            l.contains("NOTICE") && l.contains("phone_numbers") && l.contains("already exists")
        })
        .unwrap_or_else(|| panic!("the file's NOTICE on stderr: {err}"));
    assert!(
        lines[notice].starts_with("phone-number-schema.sql: "),
        "{err}"
    );
    assert!(
        lines.last().unwrap().contains("rolled back"),
        "the error line comes last: {err}"
    );

    let out = run_on(&db, &["migrate", "--format", "json"]);
    assert_exit(&out, 5);
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    let doc = json_of(&out);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 5);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("phone-number-schema.sql"),
        "{doc}"
    );
    let files = doc["files"].as_array().unwrap();
    let failed = files.last().unwrap();
    assert_eq!(failed["name"], "phone-number-schema.sql");
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["severity"] == "NOTICE"
                && n["message"].as_str().unwrap().contains("already exists")),
        "{failed}"
    );
    assert_eq!(files[0]["state"], "already_applied", "{doc}");
    assert_eq!(versions(&db), [1, 2]);
}

#[tokio::test]
async fn terminated_backend_leaves_a_file_boundary_and_next_run_completes() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["migrate", "--to", "1"]), 0);
    let holder = hold_profiles_lock(&db).await;
    let child = spawn_on(&db, &["migrate", "--statement-lock-timeout", "120"]);
    let pid = blocked_vmx_backend(&db).await;
    let mut admin = db.superuser().await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await
        .expect("terminate");
    let out = child.wait_with_output().expect("wait for vmx");
    assert_exit(&out, 5);
    holder.close().await.expect("release the table lock");

    assert_eq!(versions(&db), [1]);
    assert!(!exists(&db, "public.assistants"), "file 2 half applied");
    assert_exit(&run_on(&db, &["migrate"]), 0);
    assert_eq!(history(&db), embedded());
}

#[tokio::test]
async fn killed_run_leaves_a_file_boundary_and_next_run_completes() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["migrate", "--to", "1"]), 0);
    let holder = hold_profiles_lock(&db).await;
    let mut child = spawn_on(&db, &["migrate", "--statement-lock-timeout", "120"]);
    blocked_vmx_backend(&db).await;
    child.kill().expect("SIGKILL vmx");
    child.wait().expect("reap vmx");
    holder.close().await.expect("release the table lock");
    no_vmx_backend_left(&db).await;

    assert_eq!(versions(&db), [1]);
    assert!(!exists(&db, "public.assistants"), "file 2 half applied");
    assert_exit(&run_on(&db, &["migrate"]), 0);
    assert_eq!(history(&db), embedded());
}

#[test]
fn legacy_database_is_adopted_without_losing_rows() {
    let db = fresh_db(Fixture::Legacy);
    let before = db.row_counts();
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 0);
    assert_eq!(db.row_counts(), before);
    assert_eq!(history(&db), embedded());
}

#[test]
fn add_missing_backfills_existing_users_then_has_nothing_to_do() {
    let db = fresh_db(Fixture::LegacyFourFiles);
    assert!(!exists(&db, "public.user_limits"));
    let profiles: i64 = db
        .sql("SELECT count(*) FROM public.profiles")
        .trim()
        .parse()
        .unwrap();
    assert!(profiles > 0, "the fixture has users");

    let dry = run_on(&db, &["add-missing", "--dry-run"]);
    assert_exit(&dry, 0);
    assert!(
        !exists(&db, "public.user_limits"),
        "dry run changed the database"
    );

    let out = run_on(&db, &["add-missing"]);
    assert_exit(&out, 0);
    assert_eq!(versions(&db), [5]);
    let wrong = db.sql(
        "SELECT count(*) FROM public.profiles p
         LEFT JOIN public.user_limits l ON l.user_id = p.id
         WHERE l.user_id IS NULL
            OR l.used_call_time_seconds IS DISTINCT FROM
               (SELECT coalesce(sum(c.duration_seconds), 0) FROM public.call_logs c
                WHERE c.user_id = p.id AND c.status = 'completed')
            OR l.current_assistants IS DISTINCT FROM
               (SELECT count(*) FROM public.assistants a WHERE a.user_id = p.id)",
    );
    assert_eq!(
        wrong.trim(),
        "0",
        "users with a missing or wrong user_limits row"
    );

    let before = db.row_counts();
    let again = run_on(&db, &["add-missing"]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("nothing to do"),
        "{}",
        stdout(&again)
    );
    assert_eq!(db.row_counts(), before);
    assert_eq!(versions(&db), [5]);
}

#[test]
fn add_missing_without_the_first_four_tables_says_run_migrate() {
    let db = fresh_db(Fixture::Compat);
    let out = run_on(&db, &["add-missing"]);
    assert_exit(&out, 8);
    assert!(stderr(&out).contains("vmx migrate"), "{}", stderr(&out));
    assert!(!exists(&db, "vmx.schema_history"));
}

#[test]
fn add_missing_without_auth_users_is_refused() {
    let db = fresh_db(Fixture::Empty);
    assert_exit(&run_on(&db, &["add-missing"]), 8);
}

/// A role that may log in and read `auth`, and nothing more.
fn low_privilege_url(db: &TestDb) -> String {
    db.sql(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vmx_lowpriv') THEN
             CREATE ROLE vmx_lowpriv LOGIN;
           END IF;
         END $$;
         GRANT USAGE ON SCHEMA auth TO vmx_lowpriv;",
    );
    server().url(&db.name, Some("vmx_lowpriv"))
}

const OBJECTS: &str =
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname IN ('public', 'vmx')";

fn vmx_at(url: &str, args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("vmx")
        .expect("the vmx binary")
        .args(["--database-url", url])
        .args(args)
        .output()
        .expect("run vmx")
}

#[test]
fn role_without_the_privileges_migrate_needs_is_told_which_and_nothing_changes() {
    let db = fresh_db(Fixture::Compat);
    let url = low_privilege_url(&db);
    let before = db.sql(OBJECTS);
    for args in [&["migrate"][..], &["migrate", "--dry-run"]] {
        let out = vmx_at(&url, args);
        assert_exit(&out, 8);
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        for privilege in [
            "CREATE on database",
            "CREATE on schema public",
            "TRIGGER on auth.users",
        ] {
            assert!(err.contains(privilege), "{privilege} not named: {err}");
        }
        assert!(err.contains("nothing was changed"), "{err}");
    }
    assert_eq!(db.sql(OBJECTS), before, "objects were created");
}

#[test]
fn add_missing_as_a_role_that_does_not_own_the_tables_is_refused_naming_them() {
    let db = fresh_db(Fixture::LegacyFourFiles);
    let url = low_privilege_url(&db);
    let before = db.sql(OBJECTS);
    let out = vmx_at(&url, &["add-missing"]);
    assert_exit(&out, 8);
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("ownership of public.profiles"), "{err}");
    assert_eq!(db.sql(OBJECTS), before, "objects were created");
}
