//! `vmx.schema_history`: which embedded files a database has, and whether the
//! record still matches this binary (DDL: docs/schema-design.md).

use crate::catalog::{self, Migration};
use crate::error::VmxError;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

/// Creates the schema and table on first use; `REVOKE` keeps them away from the Supabase API roles.
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
  version      integer PRIMARY KEY,
  name         text        NOT NULL,
  checksum     text        NOT NULL,
  applied_at   timestamptz NOT NULL DEFAULT now(),
  applied_by   text        NOT NULL DEFAULT current_user,
  execution_ms bigint      NOT NULL,
  vmx_version  text        NOT NULL
);
"#;

/// One row of `vmx.schema_history`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i32,
    pub name: String,
    pub checksum: String,
    pub applied_at: DateTime<Utc>,
    pub applied_by: String,
    pub execution_ms: i64,
    pub vmx_version: String,
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
    sqlx::query_scalar("SELECT to_regclass('vmx.schema_history') IS NOT NULL")
        .fetch_one(conn)
        .await
        .context("cannot look for vmx.schema_history")
}

/// Creates `vmx.schema_history` if absent (call only while holding the migration lock).
pub async fn ensure(conn: &mut PgConnection) -> Result<()> {
    if exists(&mut *conn).await? {
        return Ok(());
    }
    sqlx::raw_sql(CREATE_SQL)
        .execute(conn)
        .await
        .context("cannot create vmx.schema_history")?;
    Ok(())
}

/// The recorded rows, by version; empty when the table does not exist.
pub async fn read(conn: &mut PgConnection) -> Result<Vec<Applied>> {
    if !exists(&mut *conn).await? {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT version, name, checksum, applied_at, applied_by, execution_ms, vmx_version
         FROM vmx.schema_history ORDER BY version",
    )
    .fetch_all(conn)
    .await
    .context("cannot read vmx.schema_history")?;
    rows.iter()
        .map(|row| {
            Ok(Applied {
                version: row.try_get("version")?,
                name: row.try_get("name")?,
                checksum: row.try_get("checksum")?,
                applied_at: row.try_get("applied_at")?,
                applied_by: row.try_get("applied_by")?,
                execution_ms: row.try_get("execution_ms")?,
                vmx_version: row.try_get("vmx_version")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .context("cannot read vmx.schema_history")
}

/// A history row that disagrees with this binary.
#[derive(Debug, Clone)]
pub enum Drift<'a> {
    /// The file was changed since it was applied.
    ChecksumMismatch {
        migration: &'static Migration,
        applied: &'a Applied,
    },
    /// A version this binary does not embed (a newer vmx applied it?).
    Unknown { applied: &'a Applied },
}

impl std::fmt::Display for Drift<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::ChecksumMismatch { migration, applied } => write!(
                f,
                "{} {} has recorded checksum {} but the embedded file has {} ({}, vmx {})",
                migration.version,
                migration.name,
                applied.checksum,
                migration.checksum,
                applied.when_and_by(),
                applied.vmx_version
            ),
            Drift::Unknown { applied } => write!(
                f,
                "version {} ({}, checksum {}) is not one of this binary's files ({}, vmx {})",
                applied.version,
                applied.name,
                applied.checksum,
                applied.when_and_by(),
                applied.vmx_version
            ),
        }
    }
}

/// Every recorded row that differs from the embedded files.
pub fn drift(history: &[Applied]) -> Vec<Drift<'_>> {
    history
        .iter()
        .filter_map(|applied| match catalog::by_version(applied.version) {
            None => Some(Drift::Unknown { applied }),
            Some(migration) if migration.checksum != applied.checksum => {
                Some(Drift::ChecksumMismatch { migration, applied })
            }
            Some(_) => None,
        })
        .collect()
}

/// Stops with exit 4, before any change, when the history disagrees with this binary.
pub fn require_consistent(history: &[Applied]) -> Result<(), VmxError> {
    let drift = drift(history);
    if drift.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = drift.iter().map(ToString::to_string).collect();
    Err(VmxError::History(format!(
        "vmx.schema_history does not match the files embedded in vmx {}: {}; nothing was changed — \
         use the vmx release that applied them, or correct vmx.schema_history by hand once you know why they differ",
        env!("CARGO_PKG_VERSION"),
        list.join("; ")
    )))
}

/// The recorded row for `version`, if any.
pub fn find(history: &[Applied], version: i32) -> Option<&Applied> {
    history.iter().find(|a| a.version == version)
}
