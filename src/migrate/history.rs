//! `vmx.schema_history`: which embedded files a database has, and the one rule
//! (`drift`) that says what each file's record means — read by `status`,
//! `migrate`, `add-missing` and `verify` alike (DDL: docs/schema-design.md).
//!
//! Shape 2 (vmx 0.2.0) keeps the trail: a re-applied file gets a new row and
//! its old row is marked `superseded_at`; exactly one current row per version.
//! A shape-1 table (vmx 0.1.0: one row per version, no trail) is upgraded in
//! place, in one transaction, under the migration lock.

use crate::catalog::{self, Migration};
use crate::error::VmxError;
use crate::releases::{self, Revision, VMX_VERSION};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, Row};

/// Creates the schema and the shape-2 table; `REVOKE` keeps them away from the Supabase API roles.
const CREATE_SQL: &str = r#"
CREATE SCHEMA IF NOT EXISTS vmx;
REVOKE ALL ON SCHEMA vmx FROM PUBLIC;
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA vmx FROM %I', r);
    END IF;
  END LOOP;
END
$$;
CREATE TABLE IF NOT EXISTS vmx.schema_history (
  id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  version       integer     NOT NULL,
  name          text        NOT NULL,
  checksum      text        NOT NULL,
  applied_at    timestamptz NOT NULL DEFAULT now(),
  applied_by    text        NOT NULL DEFAULT current_user,
  execution_ms  bigint      NOT NULL,
  vmx_version   text        NOT NULL,
  superseded_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS schema_history_current
  ON vmx.schema_history (version) WHERE superseded_at IS NULL;
"#;

/// From shape 1 (vmx 0.1.0, `version` the primary key) to shape 2, keeping every row.
const UPGRADE_SHAPE_SQL: &str = r#"
ALTER TABLE vmx.schema_history
  ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
  ADD COLUMN superseded_at timestamptz;
DO $$
DECLARE pk name;
BEGIN
  SELECT conname INTO pk FROM pg_catalog.pg_constraint
  WHERE conrelid = 'vmx.schema_history'::regclass AND contype = 'p';
  IF pk IS NOT NULL THEN
    EXECUTE pg_catalog.format('ALTER TABLE vmx.schema_history DROP CONSTRAINT %I', pk);
  END IF;
END
$$;
ALTER TABLE vmx.schema_history ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX schema_history_current
  ON vmx.schema_history (version) WHERE superseded_at IS NULL;
"#;

/// One row of `vmx.schema_history`.
#[derive(Debug, Clone)]
pub struct Applied {
    /// None in a shape-1 table (before vmx upgrades it).
    pub id: Option<i64>,
    pub version: i32,
    pub name: String,
    pub checksum: String,
    pub applied_at: DateTime<Utc>,
    pub applied_by: String,
    pub execution_ms: i64,
    pub vmx_version: String,
    /// When a later revision replaced it; None for the current row.
    pub superseded_at: Option<DateTime<Utc>>,
}

impl Applied {
    /// `applied 2026-11-25 05:51:06 UTC by postgres`
    pub fn when_and_by(&self) -> String {
        format!(
            "applied {} by {}",
            format_time(&self.applied_at),
            self.applied_by
        )
    }
}

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Whether the history table exists yet.
pub async fn exists(conn: &mut PgConnection) -> Result<bool> {
    let row = sqlx::raw_sql("SELECT to_regclass('vmx.schema_history') IS NOT NULL")
        .fetch_one(conn)
        .await
        .context("cannot look for vmx.schema_history")?;
    Ok(row.try_get(0)?)
}

/// Creates `vmx.schema_history`, or brings a shape-1 table to shape 2, in one
/// transaction (a crash leaves the old shape, and the next run does it again).
/// Call only while holding the migration lock.
pub async fn ensure(conn: &mut PgConnection) -> Result<()> {
    let (present, shape2): (bool, bool) = {
        let row = sqlx::raw_sql(
            "SELECT to_regclass('vmx.schema_history') IS NOT NULL,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                            WHERE attrelid = to_regclass('vmx.schema_history')
                              AND attname = 'superseded_at' AND NOT attisdropped)",
        )
        .fetch_one(&mut *conn)
        .await
        .context("cannot look for vmx.schema_history")?;
        (row.try_get(0)?, row.try_get(1)?)
    };
    if present && shape2 {
        return Ok(());
    }
    let sql = if present {
        UPGRADE_SHAPE_SQL
    } else {
        CREATE_SQL
    };
    let mut tx = conn.begin().await.context("cannot begin a transaction")?;
    sqlx::raw_sql(sql)
        .execute(&mut *tx)
        .await
        .with_context(|| {
            if present {
                "cannot upgrade vmx.schema_history to the shape of this vmx"
            } else {
                "cannot create vmx.schema_history"
            }
        })?;
    tx.commit()
        .await
        .context("cannot commit vmx.schema_history")?;
    Ok(())
}

/// Every row, current and superseded, oldest first; empty when the table does
/// not exist. Reads either shape, through the simple protocol.
pub async fn read_all(conn: &mut PgConnection) -> Result<Vec<Applied>> {
    if !exists(&mut *conn).await? {
        return Ok(Vec::new());
    }
    read_rows(conn).await
}

/// Every row of an existing table, in one round trip.
async fn read_rows(conn: &mut PgConnection) -> Result<Vec<Applied>> {
    let rows = sqlx::raw_sql(
        "SELECT to_jsonb(h)::text FROM vmx.schema_history h ORDER BY h.applied_at, h.version",
    )
    .fetch_all(conn)
    .await
    .context("cannot read vmx.schema_history")?;
    rows.iter()
        .map(|row| parse_row(&row.try_get::<String, _>(0)?))
        .collect::<Result<_>>()
        .context("cannot read vmx.schema_history")
}

/// The current rows (one per version), by version; empty when the table does not exist.
pub async fn read(conn: &mut PgConnection) -> Result<Vec<Applied>> {
    Ok(current(read_all(conn).await?))
}

/// The current rows of a table known to exist (verify knows it from its catalog document).
pub async fn read_current(conn: &mut PgConnection) -> Result<Vec<Applied>> {
    Ok(current(read_rows(conn).await?))
}

fn current(rows: Vec<Applied>) -> Vec<Applied> {
    let mut current: Vec<Applied> = rows
        .into_iter()
        .filter(|a| a.superseded_at.is_none())
        .collect();
    current.sort_by_key(|a| a.version);
    current
}

fn parse_row(text: &str) -> Result<Applied> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let text_of = |key: &str| -> Result<String> {
        v.get(key)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .with_context(|| format!("column {key} is missing or not text"))
    };
    let time = |key: &str| -> Result<Option<DateTime<Utc>>> {
        match v.get(key).and_then(|x| x.as_str()) {
            None => Ok(None),
            Some(t) => Ok(Some(
                DateTime::parse_from_rfc3339(t)
                    .with_context(|| format!("column {key}: {t}"))?
                    .with_timezone(&Utc),
            )),
        }
    };
    let int = |key: &str| v.get(key).and_then(serde_json::Value::as_i64);
    Ok(Applied {
        id: int("id"),
        version: int("version")
            .and_then(|x| i32::try_from(x).ok())
            .context("column version is missing")?,
        name: text_of("name")?,
        checksum: text_of("checksum")?,
        applied_at: time("applied_at")?.context("column applied_at is missing")?,
        applied_by: text_of("applied_by")?,
        execution_ms: int("execution_ms").unwrap_or(0),
        vmx_version: text_of("vmx_version")?,
        superseded_at: time("superseded_at")?,
    })
}

/// What one embedded file's record means: the one rule every command reads.
#[derive(Debug, Clone)]
pub enum FileState<'a> {
    /// Never applied.
    Pending,
    /// Applied with this binary's text.
    Applied(&'a Applied),
    /// Applied with an earlier released text: `vmx migrate` re-applies it.
    UpgradePending {
        applied: &'a Applied,
        from: &'static Revision,
    },
    /// This binary's text, but the row names another file: `vmx migrate`
    /// repairs the name (keeping the old row in the trail).
    Renamed(&'a Applied),
    /// A checksum no release of vmx shipped: tampered with, or written by a
    /// newer vmx (`newer` names it). Blocks every change (exit 4).
    ChecksumUnknown {
        applied: &'a Applied,
        newer: Option<&'a str>,
    },
}

impl FileState<'_> {
    /// The word `status`, `migrate` and `verify` print.
    pub fn id(&self) -> &'static str {
        match self {
            FileState::Pending => "pending",
            FileState::Applied(_) => "applied",
            FileState::UpgradePending { .. } => "upgrade_pending",
            FileState::Renamed(_) => "renamed",
            FileState::ChecksumUnknown { .. } => "checksum_unknown",
        }
    }

    pub fn applied(&self) -> Option<&Applied> {
        match self {
            FileState::Pending => None,
            FileState::Applied(a)
            | FileState::Renamed(a)
            | FileState::UpgradePending { applied: a, .. }
            | FileState::ChecksumUnknown { applied: a, .. } => Some(a),
        }
    }
}

/// The whole history read against this binary.
#[derive(Debug, Clone)]
pub struct Drift<'a> {
    /// Every embedded file, in order, with its state.
    pub files: Vec<(&'static Migration, FileState<'a>)>,
    /// Recorded versions this binary does not embed (`newer`: a newer vmx wrote them).
    pub unknown_versions: Vec<(&'a Applied, Option<&'a str>)>,
}

/// The one drift rule: reads the current rows against the embedded files and the releases.
pub fn drift(current: &[Applied]) -> Drift<'_> {
    let newer = |a: &'_ Applied| -> bool { releases::is_newer(&a.vmx_version, VMX_VERSION) };
    let files = catalog::migrations()
        .iter()
        .map(|m| {
            let state = match find(current, m.version) {
                None => FileState::Pending,
                Some(a) if a.checksum == m.checksum && a.name == m.name => FileState::Applied(a),
                Some(a) if a.checksum == m.checksum => FileState::Renamed(a),
                Some(a) => match releases::find(m.version, &a.checksum) {
                    Some(from) => FileState::UpgradePending { applied: a, from },
                    None => FileState::ChecksumUnknown {
                        applied: a,
                        newer: newer(a).then_some(a.vmx_version.as_str()),
                    },
                },
            };
            (m, state)
        })
        .collect();
    let unknown_versions = current
        .iter()
        .filter(|a| catalog::by_version(a.version).is_none())
        .map(|a| (a, newer(a).then_some(a.vmx_version.as_str())))
        .collect();
    Drift {
        files,
        unknown_versions,
    }
}

impl Drift<'_> {
    /// One sentence per record that stops every change.
    pub fn blocking(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .files
            .iter()
            .filter_map(|(m, state)| match state {
                FileState::ChecksumUnknown { applied, .. } => Some(format!(
                    "{} {} has recorded checksum {}, which no release of vmx shipped (embedded: {}; {}, vmx {})",
                    m.version,
                    m.name,
                    applied.checksum,
                    m.checksum,
                    applied.when_and_by(),
                    applied.vmx_version
                )),
                _ => None,
            })
            .collect();
        out.extend(self.unknown_versions.iter().map(|(a, _)| {
            format!(
                "version {} ({}, checksum {}) is not one of this binary's files ({}, vmx {})",
                a.version,
                a.name,
                a.checksum,
                a.when_and_by(),
                a.vmx_version
            )
        }));
        out
    }

    /// The newest vmx release that wrote a record this binary does not know, if any.
    pub fn newer_vmx(&self) -> Option<&str> {
        self.files
            .iter()
            .filter_map(|(_, s)| match s {
                FileState::ChecksumUnknown { newer, .. } => *newer,
                _ => None,
            })
            .chain(self.unknown_versions.iter().filter_map(|(_, n)| *n))
            .max_by(|a, b| {
                if releases::is_newer(a, b) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            })
    }

    pub fn count(&self, id: &str) -> usize {
        self.files.iter().filter(|(_, s)| s.id() == id).count()
    }

    /// Stops with exit 4, before any change, when a record is not of any release.
    pub fn require_consistent(&self) -> Result<(), VmxError> {
        let blocking = self.blocking();
        if blocking.is_empty() {
            return Ok(());
        }
        let advice = match self.newer_vmx() {
            Some(newer) => format!(
                "this database was migrated by vmx {newer}; use that release or newer"
            ),
            None => "find out who changed the record or the database, then correct vmx.schema_history by hand"
                .to_string(),
        };
        Err(VmxError::History(format!(
            "vmx.schema_history does not match any release of the files vmx {VMX_VERSION} knows: {}; nothing was changed — {advice}",
            blocking.join("; ")
        )))
    }
}

/// Records `migration` as applied, in the caller's transaction; the row it
/// replaces (an earlier revision, or a wrong name) is kept as superseded.
pub async fn record(
    conn: &mut PgConnection,
    migration: &Migration,
    execution_ms: i64,
    replaces: Option<&Applied>,
) -> Result<(), sqlx::Error> {
    if let Some(old) = replaces {
        sqlx::query(
            "UPDATE vmx.schema_history SET superseded_at = now()
             WHERE version = $1 AND superseded_at IS NULL",
        )
        .bind(old.version)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO vmx.schema_history (version, name, checksum, applied_by, execution_ms, vmx_version)
         VALUES ($1, $2, $3, current_user, $4, $5)",
    )
    .bind(migration.version)
    .bind(migration.name)
    .bind(&migration.checksum)
    .bind(execution_ms)
    .bind(VMX_VERSION)
    .execute(conn)
    .await?;
    Ok(())
}

/// Repairs a renamed row: a copy with the right name (same applied_at, by,
/// checksum, vmx) becomes current, the wrong one stays in the trail.
pub async fn repair_name(conn: &mut PgConnection, migration: &Migration) -> Result<()> {
    let mut tx = conn.begin().await.context("cannot begin a transaction")?;
    sqlx::query(
        "WITH old AS (
           UPDATE vmx.schema_history SET superseded_at = now()
           WHERE version = $1 AND superseded_at IS NULL AND checksum = $3
           RETURNING version, checksum, applied_at, applied_by, execution_ms, vmx_version)
         INSERT INTO vmx.schema_history (version, name, checksum, applied_at, applied_by, execution_ms, vmx_version)
         SELECT version, $2, checksum, applied_at, applied_by, execution_ms, vmx_version FROM old",
    )
    .bind(migration.version)
    .bind(migration.name)
    .bind(&migration.checksum)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("cannot repair the name of {} in vmx.schema_history", migration.name))?;
    tx.commit().await.context("cannot commit the name repair")?;
    Ok(())
}

/// The recorded row for `version`, if any.
pub fn find(history: &[Applied], version: i32) -> Option<&Applied> {
    history.iter().find(|a| a.version == version)
}
