//! Taking over a live hand-built database (product.md section 3): `vmx migrate`
//! while the app keeps writing and reading loses no app transaction, and the
//! result converges — also when vmx is killed outside a file's transaction.
//! Timings are the bench's (`cargo bench --bench takeover`), never a test's.
mod common;
mod load;
use common::*;
use std::collections::BTreeSet;

use std::sync::Arc;
use std::time::{Duration, Instant};

/// A hand-built database (the original guide's five files) with extra users
/// and `calls` call logs, granted to the API roles as those projects were.
async fn legacy_with_calls(users: usize, calls: usize) -> TestDb {
    let db = fresh_db(Fixture::Legacy);
    let mut su = db.superuser().await;
    load::fill(&mut su, users, calls).await.expect("fill");
    sqlx::raw_sql(load::LEGACY_API_GRANTS)
        .execute(&mut su)
        .await
        .expect("grant");
    db
}

/// Current history rows as (version, name, checksum), in order.
fn history(db: &TestDb) -> Vec<(i32, String, String)> {
    db.sql(
        "SELECT version || '|' || name || '|' || checksum FROM vmx.schema_history h
         WHERE to_jsonb(h) ->> 'superseded_at' IS NULL ORDER BY version",
    )
    .lines()
    .filter_map(|l| {
        let mut parts = l.split('|');
        Some((
            parts.next()?.parse().ok()?,
            parts.next()?.to_string(),
            parts.next()?.to_string(),
        ))
    })
    .collect()
}

fn embedded() -> Vec<(i32, String, String)> {
    vmx::catalog::migrations()
        .iter()
        .map(|m| (m.version, m.name.to_string(), m.checksum.clone()))
        .collect()
}

/// The (check id, target) pairs `vmx verify` fails on `db`.
fn verify_failures(db: &TestDb) -> BTreeSet<(String, String)> {
    let out = run_on(db, &["verify", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify JSON: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| (c["id"].to_string(), c["target"].to_string()))
        .collect()
}

/// `vmx verify` passes on `db`; on failure the failing checks are named.
#[track_caller]
fn assert_verify_passes(db: &TestDb) {
    let failed = verify_failures(db);
    assert!(
        failed.is_empty(),
        "verify fails after the takeover: {failed:#?}"
    );
    assert_exit(&run_on(db, &["verify"]), 0);
}

/// What must hold once the takeover is done: the history exact, every index
/// valid and every foreign key validated, and every counter equal to the data.
fn assert_converged(db: &TestDb) {
    assert_eq!(history(db), embedded(), "history is exact");
    let one = |sql: &str| db.sql(sql).trim().to_string();
    assert_eq!(
        one(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND NOT (i.indisvalid AND i.indisready)"
        ),
        "0",
        "no INVALID index is left"
    );
    assert_eq!(
        one(
            "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
             WHERE n.nspname = 'public' AND NOT k.convalidated"
        ),
        "0",
        "every constraint is validated"
    );
    assert_eq!(
        one("SELECT pg_get_indexdef('public.call_logs_user_id_started_at_idx'::regclass)"),
        "CREATE INDEX call_logs_user_id_started_at_idx ON public.call_logs USING btree (user_id, started_at DESC)"
    );
    let seconds = "coalesce(c.counted_duration_seconds, CASE WHEN c.status = 'completed' THEN coalesce(c.duration_seconds, 0) END)";
    assert_eq!(
        one(&format!(
            "SELECT count(*) FROM public.assistants a
             WHERE a.total_call_duration_seconds IS DISTINCT FROM
                   (SELECT coalesce(sum({seconds}), 0) FROM public.call_logs c WHERE c.assistant_id = a.id)"
        )),
        "0",
        "every assistant total equals its calls"
    );
    assert_eq!(
        one(&format!(
            "SELECT count(*) FROM public.user_limits l
             WHERE l.used_call_time_seconds IS DISTINCT FROM
                   (SELECT coalesce(sum({seconds}), 0) FROM public.call_logs c WHERE c.user_id = l.user_id)
                OR l.current_assistants IS DISTINCT FROM
                   (SELECT count(*) FROM public.assistants a WHERE a.user_id = l.user_id)"
        )),
        "0",
        "every user's usage equals their calls and assistants"
    );
}

/// `vmx migrate` on `db` while 4 app clients write and read throughout:
/// no app transaction fails, every webhook's call is there, and the result
/// converges (a re-run has nothing to do).
async fn take_over_under_load(db: &TestDb) {
    let mut su = db.superuser().await;
    let accounts = Arc::new(load::accounts(&mut su).await.expect("accounts"));
    let calls_before: i64 = sqlx::query_scalar("SELECT count(*) FROM public.call_logs")
        .fetch_one(&mut su)
        .await
        .expect("count");

    let app = load::App::start(&db.url(), accounts, 4, Duration::from_millis(2), 1_000_000);
    std::thread::sleep(Duration::from_millis(300));
    let out = run_on(db, &["migrate"]);
    // The app keeps going a moment after the takeover, on the new schema.
    std::thread::sleep(Duration::from_millis(300));
    let stats = app.stop();

    assert_exit(&out, 0);
    assert!(
        stats.errors.is_empty(),
        "{} app transaction(s) failed, e.g. {:?}",
        stats.errors.len(),
        &stats.errors[..stats.errors.len().min(5)]
    );
    assert!(stats.inserted > 0 && stats.reads > 0, "{stats:?}");
    let calls_after: i64 = sqlx::query_scalar("SELECT count(*) FROM public.call_logs")
        .fetch_one(&mut su)
        .await
        .expect("count");
    assert_eq!(
        calls_after,
        calls_before + stats.inserted as i64,
        "every webhook's call is there"
    );
    assert_converged(db);
    assert_verify_passes(db);
    let again = run_on(db, &["migrate"]);
    assert_exit(&again, 0);
    assert_eq!(history(db), embedded(), "a re-run changes nothing");
}

#[tokio::test]
async fn takeover_under_concurrent_writes_fails_no_app_transaction_and_converges() {
    let db = legacy_with_calls(200, 50_000).await;
    take_over_under_load(&db).await;
}

/// A database as release 0.1.0 left it: its five files applied and recorded.
async fn release_0_1_0_with_calls(users: usize, calls: usize) -> TestDb {
    let db = fresh_db(Fixture::Compat);
    let mut admin = db.admin().await;
    vmx::migrate::history::ensure(&mut admin)
        .await
        .expect("vmx.schema_history");
    for m in vmx::catalog::migrations() {
        db.apply(&format!("sql/releases/0.1.0/{}", m.name), Some(ADMIN));
        let old = vmx::releases::REVISIONS
            .iter()
            .find(|r| r.version == m.version && r.release == "0.1.0")
            .expect("a 0.1.0 revision");
        sqlx::query(
            "INSERT INTO vmx.schema_history (version, name, checksum, applied_by, execution_ms, vmx_version)
             VALUES ($1, $2, $3, current_user, 1, '0.1.0')",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(old.checksum)
        .execute(&mut admin)
        .await
        .expect("record a 0.1.0 file");
    }
    let mut su = db.superuser().await;
    load::fill(&mut su, users, calls).await.expect("fill");
    db
}

#[tokio::test]
async fn upgrade_of_a_0_1_0_database_under_concurrent_writes_is_a_takeover_too() {
    let db = release_0_1_0_with_calls(200, 50_000).await;
    take_over_under_load(&db).await;
}

/// Waits until vmx's backend is building call_logs_user_id_started_at_idx
/// CONCURRENTLY and waiting on a lock, with the index still INVALID.
async fn vmx_waits_in_a_concurrent_build(db: &TestDb) {
    let mut conn = db.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE datname = current_database() AND application_name = 'vmx'
                              AND wait_event_type = 'Lock' AND query ILIKE 'CREATE INDEX CONCURRENTLY%')
                AND EXISTS (SELECT 1 FROM pg_index
                            WHERE indexrelid = to_regclass('public.call_logs_user_id_started_at_idx')
                              AND NOT indisvalid)",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if waiting {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "vmx never waited in CREATE INDEX CONCURRENTLY"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn killed_outside_the_transaction_leaves_the_file_pending_and_next_run_completes() {
    let db = legacy_with_calls(50, 5_000).await;
    // An open snapshot: CREATE INDEX CONCURRENTLY waits for it before it marks
    // the index valid, so vmx is provably in the section, with an INVALID index.
    let mut holder = db.superuser().await;
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM auth.users")
        .execute(&mut holder)
        .await
        .expect("hold a snapshot");
    let mut child = spawn_on(&db, &["migrate", "--statement-lock-timeout", "120"]);
    vmx_waits_in_a_concurrent_build(&db).await;
    child.kill().expect("SIGKILL vmx");
    child.wait().expect("reap vmx");

    // Files 1-3 recorded, file 4's transaction committed but the file not recorded.
    let versions: Vec<i32> = history(&db).into_iter().map(|(v, ..)| v).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'track_call_usage_insert'")
            .trim(),
        "1",
        "file 4's transaction committed"
    );
    sqlx::raw_sql("COMMIT")
        .execute(&mut holder)
        .await
        .expect("release the snapshot");
    no_vmx_backend_left(&db).await;

    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 0);
    assert_converged(&db);
    assert_verify_passes(&db);
}
