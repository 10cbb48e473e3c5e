//! Before any change: does the connected role hold what the pending files
//! need? A role that lacks a privilege is told which one, and nothing is
//! changed (exit 8), rather than failing half-way through a file.

use crate::error::VmxError;
use anyhow::{Context, Result};
use sqlx::PgConnection;

/// What the pending work needs, besides the files themselves.
pub struct Needs {
    /// The Supabase stand-in will be installed (creates schema `auth`).
    pub compat: bool,
    /// `schema.sql` is pending: it creates the sign-up trigger on `auth.users`.
    pub auth_trigger: bool,
}

/// Fails with `VmxError::Prerequisite` naming every missing privilege.
pub async fn require_privileges(conn: &mut PgConnection, needs: Needs) -> Result<()> {
    let tables = crate::spec::table_names();
    let (role, missing): (String, Vec<String>) = sqlx::query_as(
        "SELECT current_user::text, array_remove(ARRAY[
           CASE WHEN NOT has_database_privilege(current_database(), 'CREATE')
                 AND (to_regnamespace('vmx') IS NULL OR $1)
                THEN format('CREATE on database %I', current_database()) END,
           CASE WHEN NOT has_schema_privilege('public', 'CREATE')
                THEN 'CREATE on schema public' END,
           CASE WHEN $2 AND to_regclass('auth.users') IS NOT NULL
                 AND NOT has_table_privilege('auth.users', 'TRIGGER')
                THEN 'TRIGGER on auth.users' END
         ] || ARRAY(
           SELECT format('ownership of public.%I (owned by %s)', c.relname, c.relowner::regrole)
           FROM pg_catalog.pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
             AND c.relname = ANY ($3) AND NOT pg_has_role(c.relowner, 'USAGE')
           ORDER BY c.relname), NULL)",
    )
    .bind(needs.compat)
    .bind(needs.auth_trigger)
    .bind(&tables)
    .fetch_one(&mut *conn)
    .await
    .context("cannot check the role's privileges")?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(VmxError::Prerequisite(format!(
        "role {role} lacks what the migration needs: {}; nothing was changed — grant it, or connect as the project's postgres role",
        missing.join(", ")
    ))
    .into())
}
