//! Applying one file: its own transaction, short lock waits retried, the text
//! through the simple query protocol, and its history row — all or nothing.
//!
//! A file with a `/* vmx:concurrently */` section (`outside`) is the one
//! exception to "one transaction per file": its transaction commits the
//! catalog changes, then the section's statements run outside it (building
//! indexes CONCURRENTLY, validating foreign keys, correcting counters), and
//! only then is the history row written, in a transaction of its own. A run
//! that stops in between leaves the file pending; the next run applies it
//! again, and every part of it converges.

use super::history::{self, Applied};
use super::outside;
use crate::catalog::Migration;
use crate::error::VmxError;
use anyhow::Result;
use sqlx::postgres::PgErrorPosition;
use sqlx::{Acquire, PgConnection};
use std::time::{Duration, Instant};

/// How long one attempt at a file's transaction waits for a table lock. While
/// vmx waits in a lock queue, the app's queries queue behind it, so the wait
/// is kept short, and on a timeout the transaction is rolled back (releasing
/// everything it held) and tried again after a pause, until
/// `--statement-lock-timeout` has passed.
const ATTEMPT_LOCK_TIMEOUT: Duration = Duration::from_millis(50);

/// Applies `migration` and records it (superseding `replaces`, the row of an
/// earlier revision, in the same transaction); returns the execution time in ms.
/// On failure the transaction is rolled back and the error names file, SQLSTATE and line.
pub async fn apply(
    conn: &mut PgConnection,
    migration: &Migration,
    replaces: Option<&Applied>,
    statement_lock_timeout: u64,
) -> Result<i64> {
    let outside = outside::statements(&migration.sql);
    if outside.is_empty() {
        return run(
            conn,
            migration.name,
            &migration.sql,
            statement_lock_timeout,
            Some((migration, replaces)),
        )
        .await;
    }
    let started = Instant::now();
    run(
        conn,
        migration.name,
        &migration.sql,
        statement_lock_timeout,
        None,
    )
    .await?;
    outside::run(conn, migration.name, &outside, statement_lock_timeout).await?;
    let execution_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| failed(migration.name, None, &e))?;
    history::record(&mut tx, migration, execution_ms, replaces)
        .await
        .map_err(|e| failed(migration.name, None, &e))?;
    tx.commit()
        .await
        .map_err(|e| failed(migration.name, None, &e))?;
    Ok(execution_ms)
}

/// Runs a file that is not recorded in history (the Supabase stand-in) in one transaction.
pub async fn run_unrecorded(
    conn: &mut PgConnection,
    name: &str,
    sql: &str,
    statement_lock_timeout: u64,
) -> Result<i64> {
    run(conn, name, sql, statement_lock_timeout, None).await
}

/// One transaction: a short `lock_timeout` retried within `statement_lock_timeout`
/// seconds, the text through the simple query protocol, and — for a recorded
/// migration — its history row.
async fn run(
    conn: &mut PgConnection,
    name: &str,
    sql: &str,
    statement_lock_timeout: u64,
    record: Option<(&Migration, Option<&Applied>)>,
) -> Result<i64> {
    let deferred = !outside::statements(sql).is_empty();
    let budget = Duration::from_secs(statement_lock_timeout);
    let first = Instant::now();
    let mut pause = ATTEMPT_LOCK_TIMEOUT;
    let (mut tx, started) = loop {
        // A session lost between attempts is a failed file (exit 5), as one lost mid-file is.
        let mut tx = conn.begin().await.map_err(|e| failed(name, None, &e))?;
        // 0 = wait as long as it takes (PostgreSQL's meaning), in one attempt.
        let wait = if statement_lock_timeout == 0 {
            Duration::ZERO
        } else {
            ATTEMPT_LOCK_TIMEOUT.min(budget)
        };
        set_lock_timeout_ms(&mut tx, wait.as_millis())
            .await
            .map_err(|e| failed(name, None, &e))?;
        if deferred {
            mark_deferred(&mut tx)
                .await
                .map_err(|e| failed(name, None, &e))?;
        }
        let started = Instant::now();
        match sqlx::raw_sql(sql).execute(&mut *tx).await {
            Ok(_) => break (tx, started),
            Err(e) => {
                let _ = tx.rollback().await;
                if lock_wait_ran_out(&e)
                    && statement_lock_timeout > 0
                    && first.elapsed() + pause < budget
                {
                    // What the server said during a rolled-back attempt is not the file's.
                    crate::notice::clear();
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                    continue;
                }
                let at = locate(conn, sql, &e, statement_lock_timeout).await;
                return Err(failed(name, at, &e).into());
            }
        }
    };
    let execution_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Some((migration, replaces)) = record {
        history::record(&mut tx, migration, execution_ms, replaces)
            .await
            .map_err(|e| failed(name, None, &e))?;
    }
    tx.commit().await.map_err(|e| failed(name, None, &e))?;
    Ok(execution_ms)
}

/// So a file never queues long behind production traffic for a table lock.
async fn set_lock_timeout(conn: &mut PgConnection, seconds: u64) -> Result<(), sqlx::Error> {
    set_lock_timeout_ms(conn, u128::from(seconds) * 1000).await
}

async fn set_lock_timeout_ms(conn: &mut PgConnection, ms: u128) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!("SET LOCAL lock_timeout = '{ms}ms'"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Tells the file's blocks (for this transaction) that vmx runs its vmx:concurrently section.
async fn mark_deferred(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_catalog.set_config($1, 'on', true)")
        .bind(outside::SETTING)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A lock wait that ran out (lock_timeout) or a deadlock the server broke by
/// cancelling vmx: nothing of the file stays, so it is tried again.
fn lock_wait_ran_out(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("55P03" | "40P01")))
}

/// The character offset (1-based) in the error's own query text, when the server gave one.
fn original_position(e: &sqlx::Error) -> Option<usize> {
    match e {
        sqlx::Error::Database(db) => {
            match db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
                .position()?
            {
                PgErrorPosition::Original(at) => Some(at),
                PgErrorPosition::Internal { .. } => None,
            }
        }
        _ => None,
    }
}

/// How long the rolled-back replay that locates a failing statement may run.
const REPLAY_TIMEOUT_S: u64 = 30;

/// Line and column in `sql` of a failure. With a server position that is exact; without one
/// (execution errors) the file is replayed statement by statement in a transaction that is
/// always rolled back, to find the statement that fails. Only on the failure path, and not
/// for errors a replay would not reproduce or would wait for (lock timeouts, lost sessions).
async fn locate(
    conn: &mut PgConnection,
    sql: &str,
    e: &sqlx::Error,
    statement_lock_timeout: u64,
) -> Option<(usize, usize)> {
    if let Some(at) = original_position(e) {
        return Some(line_column(sql, at));
    }
    let sqlstate = match e {
        sqlx::Error::Database(db) => db.code()?.into_owned(),
        _ => return None,
    };
    if sqlstate == "55P03" || ["08", "40", "53", "57", "58"].contains(&&sqlstate[..2]) {
        return None;
    }
    let mut tx = conn.begin().await.ok()?;
    set_lock_timeout(&mut tx, statement_lock_timeout)
        .await
        .ok()?;
    // Replayed as it ran: the file's blocks read this setting.
    if !outside::statements(sql).is_empty() {
        mark_deferred(&mut tx).await.ok()?;
    }
    // Bounded, so locating a line never costs production more than a moment.
    sqlx::raw_sql(&format!(
        "SET LOCAL statement_timeout = '{REPLAY_TIMEOUT_S}s'"
    ))
    .execute(&mut *tx)
    .await
    .ok()?;
    let mut found = None;
    for (start, statement) in split_statements(sql) {
        if let Err(e) = sqlx::raw_sql(statement).execute(&mut *tx).await {
            let before = sql[..start].chars().count();
            found =
                Some(do_block_line(sql, start, statement, &e).unwrap_or_else(|| {
                    line_column(sql, before + original_position(&e).unwrap_or(1))
                }));
            break;
        }
    }
    let _ = tx.rollback().await;
    found
}

/// In a failing `DO` block, the server names the PL/pgSQL line ("inline_code_block line 33"),
/// counted from the opening dollar quote: turned into the file's line, at its first token.
fn do_block_line(
    sql: &str,
    start: usize,
    statement: &str,
    e: &sqlx::Error,
) -> Option<(usize, usize)> {
    if !statement.get(..2)?.eq_ignore_ascii_case("DO") {
        return None;
    }
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let context = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
        .r#where()?;
    let after = context.split("inline_code_block line ").nth(1)?;
    let n: usize = after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let body = start + statement.find('$')?;
    let (body_line, _) = line_column(sql, sql[..body].chars().count() + 1);
    let line = body_line + n.checked_sub(1)?;
    let text = sql.lines().nth(line - 1)?;
    let column = text.chars().take_while(|c| c.is_whitespace()).count() + 1;
    Some((line, column))
}

/// The file's statements with their byte offsets, split at top-level `;` — outside
/// quotes, quoted identifiers, dollar quotes and comments. Each starts at its first token.
pub fn split_statements(sql: &str) -> Vec<(usize, &str)> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &sql[i..];
        let skip = if rest.starts_with("--") {
            rest.find('\n').map_or(rest.len(), |n| n + 1)
        } else if rest.starts_with("/*") {
            block_comment_len(rest)
        } else {
            0
        };
        if skip > 0 {
            i += skip;
            continue;
        }
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b';' {
            if let Some(s) = start.take() {
                statements.push((s, &sql[s..=i]));
            }
            i += 1;
            continue;
        }
        start.get_or_insert(i);
        i += match c {
            b'\'' => quoted_len(rest, b'\'', i > 0 && matches!(bytes[i - 1], b'E' | b'e')),
            b'"' => quoted_len(rest, b'"', false),
            b'$' => dollar_quoted_len(rest).unwrap_or(1),
            _ => rest.chars().next().map_or(1, char::len_utf8),
        };
    }
    if let Some(s) = start {
        statements.push((s, &sql[s..]));
    }
    statements
}

/// Length of a `/* ... */` comment (they nest in PostgreSQL).
pub(super) fn block_comment_len(text: &str) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with("/*") {
            depth += 1;
            i += 2;
        } else if text[i..].starts_with("*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    text.len()
}

/// Length of a quoted literal or identifier; a doubled quote is an escaped quote.
fn quoted_len(text: &str, quote: u8, backslash_escapes: bool) -> usize {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    text.len()
}

/// Length of a `$tag$ ... $tag$` string, or None when `$` does not open one (e.g. `$1`).
fn dollar_quoted_len(text: &str) -> Option<usize> {
    let close = text[1..].find('$')? + 1;
    let tag = &text[..=close];
    if !tag[1..tag.len() - 1]
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        || tag[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let end = text[tag.len()..].find(tag)?;
    Some(tag.len() + end + tag.len())
}

/// The error of a failed file in the operator's words.
pub(super) fn failed(file: &str, at: Option<(usize, usize)>, e: &sqlx::Error) -> VmxError {
    match e {
        sqlx::Error::Database(db) => {
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            let position = at
                .map(|(line, column)| format!(", line {line}, column {column}"))
                .unwrap_or_default();
            let mut message = db.message().to_string();
            if let Some(pg) = pg {
                if let Some(detail) = pg.detail() {
                    message.push_str(&format!(" ({detail})"));
                }
                if let Some(hint) = pg.hint() {
                    message.push_str(&format!("; hint: {hint}"));
                }
                if let Some(context) = pg.r#where() {
                    message.push_str(&format!("; at {}", context.replace('\n', " / ")));
                }
            }
            VmxError::MigrationFailed {
                file: file.to_string(),
                sqlstate: db.code().map(|c| c.into_owned()).unwrap_or_default(),
                message,
                position,
            }
        }
        // The connection went away (backend terminated, network): the server rolls back.
        other => VmxError::MigrationFailed {
            file: file.to_string(),
            sqlstate: "08006".into(),
            message: format!("connection lost: {other}"),
            position: String::new(),
        },
    }
}

/// 1-based line and column of the 1-based character offset `at` in `text`.
pub fn line_column(text: &str, at: usize) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for ch in text.chars().take(at.saturating_sub(1)) {
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::{line_column, split_statements};

    #[test]
    fn position_becomes_line_and_column() {
        let sql = "select 1;\nselect bogus(;\n";
        // 'b' of bogus is the 18th character.
        assert_eq!(line_column(sql, 18), (2, 8));
        assert_eq!(line_column(sql, 1), (1, 1));
        assert_eq!(line_column("é\nx", 3), (2, 1));
    }

    #[test]
    fn statements_split_outside_quotes_comments_and_dollar_quotes() {
        let sql = "-- head; comment\nCREATE TABLE a (x text DEFAULT ';');\n/* c; /* nested; */ */\nDO $$ BEGIN RAISE NOTICE 'a;b'; END $$;\nSELECT $1, \"we;ird\", E'it\\'s;';\nSELECT 1";
        let parts: Vec<&str> = split_statements(sql).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            parts,
            [
                "CREATE TABLE a (x text DEFAULT ';');",
                "DO $$ BEGIN RAISE NOTICE 'a;b'; END $$;",
                "SELECT $1, \"we;ird\", E'it\\'s;';",
                "SELECT 1"
            ]
        );
        let (start, _) = split_statements(sql)[1];
        assert_eq!(line_column(sql, sql[..start].chars().count() + 1), (4, 1));
    }

    #[test]
    fn every_embedded_file_splits_into_statements_ending_in_semicolons() {
        for m in crate::catalog::migrations() {
            let parts = split_statements(&m.sql);
            assert!(parts.len() > 3, "{}", m.name);
            assert!(parts.iter().all(|(_, s)| s.ends_with(';')), "{}", m.name);
        }
    }
}
