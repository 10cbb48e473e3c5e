//! Row level security.

use super::*;
use std::collections::BTreeSet;

pub fn rls_enabled(cat: &Catalog) -> Vec<CheckResult> {
    present(cat)
        .map(|(spec, table)| {
            let target = qualified_table(spec.name);
            if table.rls {
                CheckId::RlsEnabled.pass(target, "row level security is enabled")
            } else {
                CheckId::RlsEnabled.fail(
                    target,
                    "row level security is DISABLED: every granted role sees every row",
                    format!("ALTER TABLE public.{} ENABLE ROW LEVEL SECURITY", spec.name),
                )
            }
        })
        .collect()
}

/// Every other table in an exposed schema that an API role may reach has RLS
/// on (splinter 0013); the seven tables are `rls-enabled`'s.
pub fn exposed_rls_disabled(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .relations
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "r" | "p") && !r.is_spec_table())
        .filter(|r| !r.rls && r.reachable())
        .map(|r| {
            let roles: BTreeSet<&str> = r.readers.iter().chain(&r.writers).map(String::as_str).collect();
            CheckId::ExposedRlsDisabled.fail(
                r.qualified(),
                format!(
                    "row level security is DISABLED on a table {} may reach through the API: every row is theirs",
                    roles.into_iter().collect::<Vec<_>>().join(" and ")
                ),
                format!(
                    "ALTER TABLE {} ENABLE ROW LEVEL SECURITY (and add policies), or REVOKE ALL ON {} FROM anon, authenticated",
                    r.qualified(),
                    r.qualified()
                ),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::ExposedRlsDisabled,
        &cat.exposed.join(", "),
        "every table the API roles can reach has row level security",
    )
}

/// RLS on without any policy: the API roles see nothing (splinter 0008; a warning).
pub fn rls_no_policy(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .relations
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "r" | "p"))
        .filter(|r| r.rls && r.policies == 0 && r.reachable())
        .map(|r| {
            CheckId::RlsNoPolicy.warn(
                r.qualified(),
                "row level security is on but no policy exists: the API roles see and change nothing",
                format!("add policies to {}, or REVOKE ALL ON {} FROM anon, authenticated", r.qualified(), r.qualified()),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::RlsNoPolicy,
        &cat.exposed.join(", "),
        "every reachable table with row level security has policies",
    )
}

/// `row_security = off` set for the database or a role.
pub fn setting_row_security(cat: &Catalog) -> Vec<CheckResult> {
    let found = bad_settings(cat, "row_security", |v| {
        matches!(v, "off" | "false" | "0" | "no")
    })
    .into_iter()
    .map(|(target, detail, remedy)| {
        CheckId::SettingRowSecurity.fail(
            target,
            format!("{detail}: row level security is switched off for those sessions (queries that RLS would filter fail, roles with BYPASSRLS see everything)"),
            remedy,
        )
    })
    .collect();
    or_pass(
        found,
        CheckId::SettingRowSecurity,
        "database",
        "no database or role setting switches row level security off",
    )
}

pub const BREAKS: &[Break] = &[Break::fails(
    CheckId::RlsEnabled,
    "public.call_logs",
    "ALTER TABLE public.call_logs DISABLE ROW LEVEL SECURITY",
),
    Break::fails(
        CheckId::ExposedRlsDisabled,
        "public.notes",
        "CREATE TABLE public.notes (id int PRIMARY KEY, body text);
         GRANT SELECT ON public.notes TO anon",
    ),
    Break::fails(
        CheckId::ExposedRlsDisabled,
        "api.secrets",
        "CREATE SCHEMA api; GRANT USAGE ON SCHEMA api TO authenticated;
         CREATE TABLE api.secrets (id int PRIMARY KEY, body text);
         GRANT SELECT ON api.secrets TO authenticated;
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET pgrst.db_schemas = ''public, api''', current_database()); END $$",
    ),
    Break::warns(
        CheckId::RlsNoPolicy,
        "public.notes",
        "CREATE TABLE public.notes (id int PRIMARY KEY, body text);
         ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
         GRANT SELECT ON public.notes TO authenticated",
    ),
    Break::fails(
        CheckId::SettingRowSecurity,
        "role authenticated",
        "DO $$ BEGIN EXECUTE format('ALTER ROLE authenticated IN DATABASE %I SET row_security = off', current_database()); END $$",
    ),
    Break::fails(
        CheckId::SettingRowSecurity,
        "database",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET row_security = off', current_database()); END $$",
    ),
];
