//! The statements of a file that run outside its transaction: the
//! `/* vmx:concurrently ... */` section at the end of a file (see the header
//! of `sql/call-logs-schema.sql`). They build indexes `CONCURRENTLY`,
//! validate foreign keys added `NOT VALID` and correct derived counters —
//! work that reads every call, done under locks the app's reads and webhook
//! writes do not wait on. vmx runs them after the file's transaction commits
//! and before it records the file, so a run that stops in between leaves the
//! file pending, and the next run applies it again (every statement here
//! converges).

use crate::error::VmxError;
use anyhow::Result;
use sqlx::PgConnection;
use std::time::Duration;

/// The line that opens the section; it is a block comment, so psql skips it.
pub const MARKER: &str = "/* vmx:concurrently";

/// Set (SET LOCAL) in the file's transaction when vmx will run the section:
/// the file's blocks then leave the long work to it.
pub const SETTING: &str = "vmx.concurrently";

/// Attempts per statement: a lock wait that runs out, a deadlock or a
/// serialization failure is tried again after a pause.
const ATTEMPTS: u32 = 3;

/// One statement of the section, with the line it starts on in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub line: usize,
    pub sql: &'a str,
}

/// The section's statements in order (none when the file has no section).
pub fn statements(sql: &str) -> Vec<Statement<'_>> {
    let Some(start) = sql
        .match_indices(MARKER)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || sql.as_bytes()[at - 1] == b'\n')
    else {
        return Vec::new();
    };
    // The body: after the marker's line, up to the comment's close.
    let end = start + super::apply::block_comment_len(&sql[start..]);
    let body_start = sql[start..end].find('\n').map_or(end, |n| start + n + 1);
    let body_end = sql[..end]
        .rfind("*/")
        .filter(|&e| e >= body_start)
        .unwrap_or(end);
    let body = &sql[body_start..body_end];
    let first_line = sql[..body_start].matches('\n').count() + 1;
    super::apply::split_statements(body)
        .into_iter()
        .map(|(at, statement)| Statement {
            line: first_line + body[..at].matches('\n').count(),
            sql: statement,
        })
        .collect()
}

/// An index a `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name ON [ONLY] table` builds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConcurrentIndex {
    /// Schema-qualified, as `to_regclass` takes it.
    qualified: String,
}

fn concurrent_index(sql: &str) -> Option<ConcurrentIndex> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let mut i = 0;
    let expect = |w: &str, i: &mut usize| -> bool {
        if upper.get(*i).map(String::as_str) == Some(w) {
            *i += 1;
            true
        } else {
            false
        }
    };
    if !expect("CREATE", &mut i) {
        return None;
    }
    expect("UNIQUE", &mut i);
    if !(expect("INDEX", &mut i)
        && expect("CONCURRENTLY", &mut i)
        && expect("IF", &mut i)
        && expect("NOT", &mut i)
        && expect("EXISTS", &mut i))
    {
        return None;
    }
    let name = *words.get(i)?;
    i += 1;
    if !expect("ON", &mut i) {
        return None;
    }
    expect("ONLY", &mut i);
    let table = words.get(i)?.split('(').next()?;
    let schema = table.rsplit_once('.').map_or("public", |(s, _)| s);
    Some(ConcurrentIndex {
        qualified: format!("{schema}.{name}"),
    })
}

/// What a `CREATE INDEX CONCURRENTLY IF NOT EXISTS` finds under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexState {
    Absent,
    Valid,
    /// Left by an interrupted build: IF NOT EXISTS would keep it as it is.
    Invalid,
}

async fn index_state(conn: &mut PgConnection, qualified: &str) -> Result<IndexState, sqlx::Error> {
    let valid: Option<bool> = sqlx::query_scalar(
        "SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid = pg_catalog.to_regclass($1)",
    )
    .bind(qualified)
    .fetch_optional(conn)
    .await?;
    Ok(match valid {
        None => IndexState::Absent,
        Some(true) => IndexState::Valid,
        Some(false) => IndexState::Invalid,
    })
}

/// Runs the section's statements one by one in autocommit, each with
/// `lock_timeout` and a bounded retry. An index that exists and is valid is
/// not built again; an INVALID leftover is dropped (CONCURRENTLY) and rebuilt.
pub async fn run(
    conn: &mut PgConnection,
    file: &str,
    statements: &[Statement<'_>],
    statement_lock_timeout: u64,
) -> Result<()> {
    // If vmx dies while the server works on a statement, the server notices
    // within a second and stops (PostgreSQL 14+; elsewhere this is skipped).
    let _ = sqlx::raw_sql(
        "DO $$ BEGIN PERFORM pg_catalog.set_config('client_connection_check_interval', '1s', false); \
         EXCEPTION WHEN OTHERS THEN NULL; END $$",
    )
    .execute(&mut *conn)
    .await;
    // None of these statements takes a lock the app's reads and writes queue
    // behind, so waiting for one costs the app nothing. They read whole
    // tables: one backend each, no parallel workers, so the takeover uses one
    // core and leaves the others to the app (it takes longer, the app does not).
    sqlx::raw_sql(&format!(
        "SET lock_timeout = '{statement_lock_timeout}s';
         SET max_parallel_maintenance_workers = 0;
         SET max_parallel_workers_per_gather = 0"
    ))
    .execute(&mut *conn)
    .await
    .map_err(|e| super::apply::failed(file, None, &e))?;
    let result = run_all(conn, file, statements).await;
    let _ = sqlx::raw_sql(
        "RESET lock_timeout; RESET max_parallel_maintenance_workers; RESET max_parallel_workers_per_gather",
    )
    .execute(&mut *conn)
    .await;
    result
}

async fn run_all(conn: &mut PgConnection, file: &str, statements: &[Statement<'_>]) -> Result<()> {
    for statement in statements {
        let index = concurrent_index(statement.sql);
        let mut attempt = 1;
        loop {
            match run_one(conn, statement.sql, index.as_ref()).await {
                Ok(()) => break,
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => {
                    let mut error = super::apply::failed(file, Some((statement.line, 1)), &e);
                    if let VmxError::MigrationFailed { message, .. } = &mut error {
                        message.push_str(
                            " (a statement of the vmx:concurrently section, after the file's \
                             transaction committed: the file stays pending and the next run completes it)",
                        );
                    }
                    return Err(error.into());
                }
            }
        }
    }
    Ok(())
}

async fn run_one(
    conn: &mut PgConnection,
    sql: &str,
    index: Option<&ConcurrentIndex>,
) -> Result<(), sqlx::Error> {
    if let Some(index) = index {
        match index_state(&mut *conn, &index.qualified).await? {
            IndexState::Valid => return Ok(()),
            IndexState::Invalid => {
                sqlx::raw_sql(&format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    index.qualified
                ))
                .execute(&mut *conn)
                .await?;
            }
            IndexState::Absent => {}
        }
    }
    sqlx::raw_sql(sql).execute(&mut *conn).await.map(|_| ())
}

/// Lock wait ran out, deadlock, serialization failure.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("55P03" | "40P01" | "40001")))
}

#[cfg(test)]
mod tests {
    use super::{concurrent_index, statements};

    #[test]
    fn the_section_is_the_block_comment_after_the_marker() {
        let sql = "SELECT 1;\n-- /* vmx:concurrently is not a marker here\n";
        assert!(statements(sql).is_empty());
        let sql = "SELECT 1;\n/* vmx:concurrently -- why\n\n-- a comment\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.t (x);\nDO $$ BEGIN END $$;\n*/\n";
        let parts = statements(sql);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].line, 5);
        assert!(parts[0].sql.starts_with("CREATE INDEX CONCURRENTLY"));
        assert_eq!(parts[1].sql, "DO $$ BEGIN END $$;");
        assert!(statements("SELECT 1;").is_empty());
    }

    #[test]
    fn a_concurrent_index_is_named_with_its_schema() {
        let i = concurrent_index(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS call_logs_x_idx\n  ON public.call_logs (x);",
        )
        .expect("an index");
        assert_eq!(i.qualified, "public.call_logs_x_idx");
        let i = concurrent_index("create unique index concurrently if not exists u on only s.t(x)")
            .expect("an index");
        assert_eq!(i.qualified, "s.u");
        assert_eq!(
            concurrent_index("CREATE INDEX CONCURRENTLY i ON t (x)"),
            None
        );
        assert_eq!(concurrent_index("UPDATE t SET x = 1"), None);
    }

    #[test]
    fn files_that_touch_call_logs_carry_a_section() {
        for m in crate::catalog::migrations() {
            let parts = statements(&m.sql);
            if matches!(m.name, "call-logs-schema.sql" | "missing-tables-schema.sql") {
                assert!(!parts.is_empty(), "{}", m.name);
                assert!(parts.iter().all(|s| s.sql.ends_with(';')), "{}", m.name);
            }
        }
    }
}
