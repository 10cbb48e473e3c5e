//! The migration lock: a session-level advisory lock, so two runs never apply
//! the same file. Taken with `pg_try_advisory_lock` and retried, so the wait is
//! bounded by `--lock-timeout` and the holder can be named when it runs out.

use crate::error::VmxError;
use anyhow::{Context, Result};
use sqlx::PgConnection;
use std::time::{Duration, Instant};

/// `hashtext('vmx.schema_history')::bigint`, computed by the server (docs/schema-design.md).
const KEY_SQL: &str = "hashtext('vmx.schema_history')::bigint";

/// How often a waiting run tries again.
const RETRY: Duration = Duration::from_millis(150);

/// Waits up to `timeout` for the lock; exit 6 naming the holder otherwise.
/// `waiting` is told once, with the holder, when the lock is not free at once.
pub async fn acquire(
    conn: &mut PgConnection,
    timeout: Duration,
    mut waiting: impl FnMut(&str),
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut told = false;
    loop {
        let got: bool = sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({KEY_SQL})"))
            .fetch_one(&mut *conn)
            .await
            .context("cannot take the vmx migration lock")?;
        if got {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let holder = holder(conn).await;
            return Err(VmxError::LockTimeout {
                seconds: timeout.as_secs(),
                holder,
            }
            .into());
        }
        if !told {
            waiting(&holder(&mut *conn).await);
            told = true;
        }
        tokio::time::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Releases the lock; errors are ignored (a broken session has released it already).
pub async fn release(conn: &mut PgConnection) {
    let _ = sqlx::query(&format!("SELECT pg_advisory_unlock({KEY_SQL})"))
        .execute(conn)
        .await;
}

/// pid, application, client, since, state, role.
type HolderRow = (i32, String, String, Option<String>, String, String);

/// `pid 4242, application vmx, client 10.0.0.5, since 2026-11-25 05:51:06 UTC, active`
async fn holder(conn: &mut PgConnection) -> String {
    // A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    let sql = format!(
        "WITH k AS (SELECT {KEY_SQL} AS key)
         SELECT l.pid,
                coalesce(nullif(a.application_name, ''), 'unknown') AS application,
                coalesce(host(a.client_addr), 'local socket') AS client,
                to_char(coalesce(a.state_change, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS since,
                coalesce(a.state, 'unknown') AS state,
                coalesce(a.usename::text, 'unknown') AS role
         FROM k, pg_catalog.pg_locks l
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.classid = ((k.key >> 32) & 4294967295)::oid
           AND l.objid = (k.key & 4294967295)::oid
           AND l.pid <> pg_backend_pid()
           -- Advisory locks are per database, pg_locks is per cluster: another
           -- database's vmx run holds its own lock, not ours.
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
         LIMIT 1"
    );
    let row: Result<Option<HolderRow>, _> = sqlx::query_as(&sql).fetch_optional(conn).await;
    match row {
        Ok(Some((pid, application, client, since, state, role))) => format!(
            "pid {pid}, role {role}, application {application}, client {client}, since {}, {state}",
            since.unwrap_or_else(|| "unknown".into())
        ),
        Ok(None) => "the holder has just released it".into(),
        Err(e) => format!("holder unknown: {e}"),
    }
}
