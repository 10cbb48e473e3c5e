//! `vmx verify` (issue 4): the checklist that proves the schema's promises.
//!
//! `crate::spec` holds what the schema must look like (data, written once),
//! `catalog` reads the database in two round trips, `checks` compares the two
//! (one small function per check id), `probes` proves the promises as users
//! inside a rolled-back transaction. Rendering lives in `crate::report`.

pub mod catalog;
pub mod checks;
pub mod guards;
pub mod probes;

use crate::error::VmxError;
use crate::report::Report;
use anyhow::Result;
use sqlx::PgConnection;

/// Runs the static checks (and with `probe` the behavioural ones) on `conn`.
/// Used by `vmx verify` and `vmx check`.
pub async fn run_checks(conn: &mut PgConnection, probe: bool) -> Result<Report> {
    run_checks_in(conn, probe, &[]).await
}

/// [`run_checks`] over the exposed `schemas` (empty: the API's own setting, else `public`).
pub async fn run_checks_in(
    conn: &mut PgConnection,
    probe: bool,
    schemas: &[String],
) -> Result<Report> {
    let cat = catalog::read(conn, schemas).await?;
    if !cat.auth_users {
        return Err(VmxError::Prerequisite(
            "the target has no auth.users: it is not a Supabase database (for plain PostgreSQL use `vmx migrate --supabase-compat`)".into(),
        )
        .into());
    }
    let mut checks = checks::all(&cat);
    if probe {
        checks.extend(probes::run(conn).await?);
    }
    Ok(Report { checks })
}
