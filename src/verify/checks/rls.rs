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

/// The schema's SECURITY DEFINER functions (sign-up, limits, usage, cleanup)
/// act on rows of every user, so RLS must not hold them: no table of the seven
/// is FORCE ROW LEVEL SECURITY for an owner without BYPASSRLS, and each such
/// function is owned by the tables' owner (or a superuser), as the files make
/// it. Held by RLS, they see none of the rows they count and may write none
/// (the policies are for the API roles): a sign-up fails, a limit counts
/// nothing; owned by another role, they run with its privileges.
pub fn rls_owner_bypass(cat: &Catalog) -> Vec<CheckResult> {
    let mut found = Vec::new();
    let owners: BTreeSet<&str> = present(cat).map(|(_, t)| t.owner.as_str()).collect();
    let definers: Vec<_> = expect::FUNCTIONS
        .iter()
        .filter(|f| f.security_definer)
        .filter_map(|spec| {
            cat.public_functions()
                .find(|f| f.signature == spec.signature && f.security_definer)
        })
        .collect();
    for (spec, table) in present(cat) {
        let owner_runs_definers = definers.iter().any(|f| f.owner == table.owner);
        if table.force_rls && !table.owner_bypasses_rls && owner_runs_definers {
            found.push(CheckId::RlsOwnerBypass.fail(
                qualified_table(spec.name),
                format!(
                    "FORCE ROW LEVEL SECURITY holds its owner {} to the policies: the schema's SECURITY DEFINER functions see and write none of its rows",
                    table.owner
                ),
                format!("ALTER TABLE public.{} NO FORCE ROW LEVEL SECURITY", spec.name),
            ));
        }
    }
    for f in definers {
        let strangers: Vec<&str> = owners.iter().copied().filter(|o| *o != f.owner).collect();
        if !f.owner_superuser && !strangers.is_empty() {
            let detail = |why: &str| {
                format!(
                    "owned by {}, who does not own the tables ({}): {why}",
                    f.owner,
                    strangers.join(", ")
                )
            };
            let remedy = format!(
                "ALTER FUNCTION {} OWNER TO {}",
                f.qualified(),
                ident(strangers[0])
            );
            // Held by RLS it cannot work; with BYPASSRLS it works if that
            // role holds the privileges it needs, which this does not prove.
            found.push(if f.owner_bypasses_rls {
                CheckId::RlsOwnerBypass.warn(
                    f.qualified(),
                    detail("it runs with that role's privileges, not those of the owner the files gave it (a table or auth.users it may not write makes it fail)"),
                    remedy,
                )
            } else {
                CheckId::RlsOwnerBypass.fail(
                    f.qualified(),
                    detail("it has no BYPASSRLS either: RLS holds it to the policies, so it sees none of the rows it must count or write"),
                    remedy,
                )
            });
        }
    }
    or_pass(
        found,
        CheckId::RlsOwnerBypass,
        "public",
        "RLS does not hold the schema's SECURITY DEFINER functions (no FORCE, owned by the tables' owner)",
    )
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
        .chain(one_hop(
            cat,
            &["r", "p"],
            CheckId::ExposedRlsDisabled,
            "a table without row level security",
        ))
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
    // One hop away, not yet reached: an archive the API roles may select,
    // which any invoker function of public hands over whole.
    Break::warns(
        CheckId::ExposedRlsDisabled,
        "archive.call_logs_2024",
        "CREATE SCHEMA archive;
         CREATE TABLE archive.call_logs_2024 (LIKE public.call_logs);
         GRANT USAGE ON SCHEMA archive TO authenticated;
         GRANT SELECT ON archive.call_logs_2024 TO authenticated",
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
        CheckId::RlsOwnerBypass,
        "public.profiles",
        "ALTER ROLE {admin} NOBYPASSRLS;
         ALTER TABLE public.profiles FORCE ROW LEVEL SECURITY",
    )
    .undo("ALTER ROLE {admin} BYPASSRLS"),
    // A role that neither owns the tables nor bypasses RLS.
    Break::fails(
        CheckId::RlsOwnerBypass,
        "public.handle_new_user()",
        "CREATE ROLE vmx_break_owner NOLOGIN;
         GRANT USAGE ON SCHEMA public TO vmx_break_owner;
         ALTER FUNCTION public.handle_new_user() OWNER TO vmx_break_owner",
    )
    .undo("REASSIGN OWNED BY vmx_break_owner TO {admin}; DROP OWNED BY vmx_break_owner; DROP ROLE vmx_break_owner"),
    // BYPASSRLS, but not the tables' owner: the cleanup may not delete from auth.users.
    Break::warns(
        CheckId::RlsOwnerBypass,
        "public.cleanup_demo_users_with_call_limits()",
        "ALTER FUNCTION public.cleanup_demo_users_with_call_limits() OWNER TO service_role",
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
