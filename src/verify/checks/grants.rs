//! Grants: what the API roles may do with the seven tables.

use super::*;
use crate::verify::catalog::Relation;
use std::collections::BTreeSet;

const TABLE_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

fn table_privileges<'a>(table: &'a Table, role: &str) -> BTreeSet<&'a str> {
    table
        .privileges
        .iter()
        .filter(|g| g.grantee == role)
        .map(|g| g.privilege.as_str())
        .filter(|p| TABLE_PRIVILEGES.contains(p))
        .collect()
}

/// Columns `role` (or PUBLIC) may `privilege`, table-level grants included.
fn effective_columns<'a>(table: &'a Table, role: &str, privilege: &str) -> BTreeSet<&'a str> {
    let holds = |grants: &[crate::verify::catalog::Grant]| {
        grants
            .iter()
            .any(|g| (g.grantee == role || g.grantee == "PUBLIC") && g.privilege == privilege)
    };
    let whole_table = holds(&table.privileges);
    table
        .columns
        .iter()
        .filter(|c| whole_table || holds(&c.privileges))
        .map(|c| c.name.as_str())
        .collect()
}

/// Each of the seven tables grants the app's roles what they need and no
/// more; both may use schema public at all (without USAGE every grant is moot).
pub fn table_grants(cat: &Catalog) -> Vec<CheckResult> {
    let usage = (!cat.public_usage_missing.is_empty()).then(|| {
        CheckId::TableGrants.fail(
            "public",
            format!(
                "{} may not use schema public: every request to the seven tables fails with permission denied",
                cat.public_usage_missing.join(" and ")
            ),
            format!("GRANT USAGE ON SCHEMA public TO {}", cat.public_usage_missing.join(", ")),
        )
    });
    usage
        .into_iter()
        .chain(present(cat).map(|(spec, table)| {
            let target = qualified_table(spec.name);
            let mut problems = Vec::new();
            let mut remedies = Vec::new();
            for (role, want) in [
                ("PUBLIC", &[][..]),
                ("anon", &[][..]),
                ("authenticated", spec.authenticated_table),
                ("service_role", expect::SERVICE_ROLE_TABLE),
            ] {
                let got = table_privileges(table, role);
                let want: BTreeSet<&str> = want.iter().copied().collect();
                let missing: Vec<_> = want.difference(&got).copied().collect();
                let extra: Vec<_> = got.difference(&want).copied().collect();
                if !missing.is_empty() {
                    problems.push(format!("{role} lacks {}", missing.join(", ")));
                    remedies.push(format!(
                        "GRANT {} ON {target} TO {role}",
                        missing.join(", ")
                    ));
                }
                if !extra.is_empty() {
                    problems.push(format!("{role} also holds {}", extra.join(", ")));
                    remedies.push(format!(
                        "REVOKE {} ON {target} FROM {role}",
                        extra.join(", ")
                    ));
                }
            }
            if problems.is_empty() {
                CheckId::TableGrants.pass(
                    target,
                    format!(
                        "authenticated: {}; service_role: {}; anon: none",
                        spec.authenticated_table.join(", "),
                        expect::SERVICE_ROLE_TABLE.join(", ")
                    ),
                )
            } else {
                CheckId::TableGrants.fail(target, problems.join("; "), remedies.join("; "))
            }
        }))
        .collect()
}

pub fn column_grants(cat: &Catalog) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (spec, table) in present(cat) {
        let target = qualified_table(spec.name);
        let mut problems = Vec::new();
        let mut remedies = Vec::new();
        for (privilege, want) in [
            ("INSERT", spec.authenticated_insert_columns),
            ("UPDATE", spec.authenticated_update_columns),
        ] {
            let got = effective_columns(table, "authenticated", privilege);
            let want: BTreeSet<&str> = want.iter().copied().collect();
            let extra: Vec<_> = got.difference(&want).copied().collect();
            let missing: Vec<_> = want.difference(&got).copied().collect();
            if !extra.is_empty() {
                problems.push(format!(
                    "authenticated may {privilege} {}",
                    extra.join(", ")
                ));
                remedies.push(format!(
                    "REVOKE {privilege} ({}) ON {target} FROM authenticated",
                    extra.join(", ")
                ));
            }
            if !missing.is_empty() {
                problems.push(format!(
                    "authenticated may not {privilege} {}",
                    missing.join(", ")
                ));
                remedies.push(format!(
                    "GRANT {privilege} ({}) ON {target} TO authenticated",
                    missing.join(", ")
                ));
            }
        }
        for privilege in ["SELECT", "INSERT", "UPDATE"] {
            let anon = effective_columns(table, "anon", privilege);
            if !anon.is_empty() {
                problems.push(format!(
                    "anon may {privilege} {}",
                    anon.into_iter().collect::<Vec<_>>().join(", ")
                ));
                remedies.push(format!("REVOKE ALL ON {target} FROM anon, PUBLIC"));
            }
        }
        out.push(if problems.is_empty() {
            CheckId::ColumnGrants.pass(
                target,
                "authenticated may write only the columns the app needs",
            )
        } else {
            CheckId::ColumnGrants.fail(target, problems.join("; "), remedies.join("; "))
        });
    }
    out
}

pub fn limits_not_user_writable(cat: &Catalog) -> Vec<CheckResult> {
    let Some(table) = cat.table("user_limits") else {
        return Vec::new();
    };
    let writable = effective_columns(table, "authenticated", "UPDATE");
    let found = expect::PROTECTED_LIMIT_COLUMNS
        .iter()
        .filter(|c| writable.contains(**c))
        .map(|c| {
            CheckId::LimitsUserWritable.fail(format!("public.user_limits.{c}"),
                "authenticated may UPDATE this column: a user can raise their own limits, plan or usage",
                "REVOKE UPDATE ON public.user_limits FROM authenticated, PUBLIC",
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::LimitsUserWritable,
        "public.user_limits",
        "users cannot change their plan, limits or usage",
    )
}

/// The relations of `kinds` that `anon` or `authenticated` may read.
fn readable<'a>(cat: &'a Catalog, kinds: &'a [&str]) -> impl Iterator<Item = &'a Relation> {
    cat.relations
        .iter()
        .filter(move |r| kinds.contains(&r.kind.as_str()) && !r.readers.is_empty())
}

/// Views without `security_invoker` run with their owner's rights: RLS of the
/// tables under them is the owner's, not the caller's (splinter 0010).
/// A view the API roles may only write (an auto-updatable view passes the
/// write to its table with the owner's rights) counts as well.
pub fn view_security_definer(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .relations
        .iter()
        .filter(|r| r.kind == "v" && r.reachable() && !r.security_invoker)
        .map(|r| {
            let roles: BTreeSet<&str> = r.readers.iter().chain(&r.writers).map(String::as_str).collect();
            let what = match (r.readers.is_empty(), r.writers.is_empty()) {
                (false, true) => "select from it",
                (true, false) => "write through it",
                _ => "select from it and write through it",
            };
            CheckId::ViewSecurityDefiner.fail(
                r.qualified(),
                format!(
                    "view runs with its owner's ({}) rights and {} may {what}: the row level security of the tables under it does not apply to them",
                    r.owner,
                    roles.into_iter().collect::<Vec<_>>().join(" and ")
                ),
                format!(
                    "ALTER VIEW {} SET (security_invoker = true), or REVOKE ALL ON {} FROM anon, authenticated",
                    r.qualified(),
                    r.qualified()
                ),
            )
        })
        .chain(cat.hidden_definers.iter().map(|h| {
            CheckId::ViewSecurityDefiner.fail(
                h.view.clone(),
                format!(
                    "{} may select from it, and it calls {}, a SECURITY DEFINER function of a schema the API does not expose: what it returns is read with that function owner's rights, past RLS",
                    h.readers.join(" and "),
                    h.function
                ),
                format!(
                    "ALTER FUNCTION {} SECURITY INVOKER, or REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC, anon, authenticated",
                    h.function, h.function
                ),
            )
        }))
        .chain(one_hop(
            cat,
            &["v"],
            CheckId::ViewSecurityDefiner,
            "a view that runs (or rewrites writes) with its owner's rights",
        ))
        .collect();
    or_pass(
        found,
        CheckId::ViewSecurityDefiner,
        &cat.exposed.join(", "),
        "every view the API roles can read or write runs with the caller's rights",
    )
}

/// Materialized views have no row level security (splinter 0016).
pub fn matview_exposed(cat: &Catalog) -> Vec<CheckResult> {
    let found = readable(cat, &["m"])
        .map(|r| {
            CheckId::MatviewExposed.fail(
                r.qualified(),
                format!("materialized view is selectable by {}: it has no row level security, every row is theirs", r.readers.join(" and ")),
                format!("REVOKE SELECT ON {} FROM anon, authenticated (or move it out of the exposed schemas)", r.qualified()),
            )
        })
        .chain(one_hop(
            cat,
            &["m"],
            CheckId::MatviewExposed,
            "a materialized view (no row level security)",
        ))
        .collect();
    or_pass(
        found,
        CheckId::MatviewExposed,
        &cat.exposed.join(", "),
        "no materialized view is selectable by the API roles",
    )
}

/// Foreign tables have no row level security (splinter 0017).
pub fn foreign_table_exposed(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .relations
        .iter()
        .filter(|r| r.kind == "f" && r.reachable())
        .map(|r| {
            CheckId::ForeignTableExposed.fail(
                r.qualified(),
                "foreign table is reachable by the API roles: it has no row level security",
                format!("REVOKE ALL ON {} FROM anon, authenticated (or move it out of the exposed schemas)", r.qualified()),
            )
        })
        .chain(one_hop(
            cat,
            &["f"],
            CheckId::ForeignTableExposed,
            "a foreign table (no row level security)",
        ))
        .collect();
    or_pass(
        found,
        CheckId::ForeignTableExposed,
        &cat.exposed.join(", "),
        "no foreign table is reachable by the API roles",
    )
}

/// A view or materialized view over `auth.users` readable by the API roles (splinter 0002).
pub fn auth_users_exposed(cat: &Catalog) -> Vec<CheckResult> {
    let mut found: Vec<CheckResult> = readable(cat, &["v", "m"])
        .filter(|r| r.reads_auth_users)
        .map(|r| {
            CheckId::AuthUsersExposed.fail(
                r.qualified(),
                format!("reads auth.users and {} may select from it: e-mails and metadata of every user", r.readers.join(" and ")),
                format!("REVOKE SELECT ON {} FROM anon, authenticated; expose what the app needs through public.profiles", r.qualified()),
            )
        })
        .collect();
    // Held directly, the grant lets any security-invoker view or function, and
    // a session of the role, read every user: RLS is off on auth.users.
    if !cat.auth_users_readers.is_empty() {
        found.push(CheckId::AuthUsersExposed.fail(
            "auth.users",
            format!(
                "{} may select from auth.users: any security-invoker view or function they reach reads e-mails and metadata of every user",
                cat.auth_users_readers.join(" and ")
            ),
            format!(
                "REVOKE SELECT ON auth.users FROM {}",
                cat.auth_users_readers.join(", ")
            ),
        ));
    }
    or_pass(
        found,
        CheckId::AuthUsersExposed,
        &cat.exposed.join(", "),
        "no view or grant exposes auth.users to the API roles",
    )
}

/// A setting's value without the quotes and spaces `ALTER … SET` may keep.
fn unquoted(value: &str) -> &str {
    value.trim_matches(|c| c == '"' || c == '\'' || c == ' ')
}

/// PostgREST's in-database configuration (`pgrst.db_anon_role` on the
/// database or a role, which it reads from its `authenticator`) names `anon`
/// for requests without a JWT: any other role (`authenticated`,
/// `service_role`) serves every anonymous request with that role's rights.
/// A setting in PostgREST's own configuration file is not visible here.
pub fn setting_anon_role(cat: &Catalog) -> Vec<CheckResult> {
    let found = bad_settings(cat, "pgrst.db_anon_role", |v| {
        unquoted(v) != "anon"
    })
    .into_iter()
    .map(|(target, detail, remedy)| {
        CheckId::SettingAnonRole.fail(
            target,
            format!("{detail}: requests without a signed-in user run as that role, not anon"),
            remedy,
        )
    })
    // A function PostgREST runs before every request, in its role and with
    // its claims: it may change both. Yours may be fine: a warning.
    .chain(
        bad_settings(cat, "pgrst.db_pre_request", |v| !unquoted(v).is_empty())
            .into_iter()
            .map(|(target, detail, remedy)| {
                CheckId::SettingAnonRole.warn(
                    target,
                    format!("{detail}: that function runs before every request and may change its role and claims (who the request acts as)"),
                    format!("check what it does; if it is not yours: {remedy}"),
                )
            }),
    )
    .collect();
    or_pass(
        found,
        CheckId::SettingAnonRole,
        "database",
        "no database or role setting makes PostgREST serve anonymous requests as another role than anon, or run a function before every request",
    )
}

/// `anon` and `authenticated` carry no attribute that lifts RLS or makes
/// roles; `service_role` (the backend: webhooks, jobs) bypasses RLS, as on Supabase.
pub fn api_role_attributes(cat: &Catalog) -> Vec<CheckResult> {
    let service = cat.service_role_bypasses_rls.map(|bypasses| {
        if bypasses {
            CheckId::ApiRoleAttributes.pass("role service_role", "BYPASSRLS (the backend's role)")
        } else {
            CheckId::ApiRoleAttributes.fail(
                "role service_role",
                "service_role has no BYPASSRLS: the backend's webhooks and jobs are held to the users' policies, which give it no row",
                "ALTER ROLE service_role BYPASSRLS",
            )
        }
    });
    cat.api_roles
        .iter()
        .map(|r| {
            let target = format!("role {}", r.name);
            let attrs: Vec<&str> = [
                (r.superuser, "SUPERUSER"),
                (r.bypassrls, "BYPASSRLS"),
                (r.createrole, "CREATEROLE"),
                (r.createdb, "CREATEDB"),
                (r.replication, "REPLICATION"),
                // Logged in directly, a session sets request.jwt.claims itself: any user.
                (cat.guards.api_logins.contains(&r.name), "LOGIN"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, a)| a)
            .collect();
            if attrs.is_empty() {
                CheckId::ApiRoleAttributes.pass(
                    target,
                    "no SUPERUSER, BYPASSRLS, CREATEROLE, CREATEDB, REPLICATION or LOGIN",
                )
            } else {
                CheckId::ApiRoleAttributes.fail(
                    target,
                    format!(
                        "{} is {}: {}",
                        r.name,
                        attrs.join(", "),
                        if attrs == ["LOGIN"] {
                            "a session logged in as it sets request.jwt.claims itself and acts as any user".to_string()
                        } else {
                            format!("every API request as {} runs with it", r.name)
                        }
                    ),
                    format!(
                        "ALTER ROLE {} {}",
                        r.name,
                        attrs
                            .iter()
                            .map(|a| format!("NO{a}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )
            }
        })
        .chain(service)
        .collect()
}

/// `anon` and `authenticated` are members of no other role (they would gain its privileges).
pub fn api_role_membership(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .api_roles
        .iter()
        .filter(|r| !r.member_of.is_empty())
        .map(|r| {
            CheckId::ApiRoleMembership.fail(
                format!("role {}", r.name),
                format!(
                    "{} is a member of {}: its privileges (and SET ROLE) are every API caller's",
                    r.name,
                    r.member_of.join(", ")
                ),
                format!("REVOKE {} FROM {}", r.member_of.join(", "), r.name),
            )
        })
        .chain(callers_in_disguise(cat))
        .collect();
    or_pass(
        found,
        CheckId::ApiRoleMembership,
        "anon, authenticated",
        "the API roles are members of no other role, and only administrators and PostgREST's authenticator are members of them",
    )
}

/// Roles that are members of `anon` or `authenticated` without being an
/// administrator (superuser, BYPASSRLS, CREATEROLE), PostgREST's
/// `authenticator`, `service_role` or the database owner: a request that
/// runs as one (a JWT role PostgREST switches to, a login) has the users'
/// rights, but the schema's triggers tell users from the backend by role
/// name and take it for the backend -- limits, claims and provider ids
/// unguarded.
fn callers_in_disguise(cat: &Catalog) -> Vec<CheckResult> {
    cat.api_roles
        .iter()
        .flat_map(|api| {
            api.members
                .iter()
                .filter(|m| {
                    !m.admin
                        && !matches!(m.name.as_str(), "authenticator" | "service_role")
                        && m.name != cat.database_owner
                        && m.name != cat.session_role
                        && !expect::REQUEST_ROLES.contains(&m.name.as_str())
                })
                .map(move |m| {
                    CheckId::ApiRoleMembership.fail(
                        format!("role {}", m.name),
                        format!(
                            "{} is a member of {}: requests running as it have the users' rights, but the schema's triggers take it for the backend and skip the limits and write protections",
                            m.name, api.name
                        ),
                        format!(
                            "REVOKE {} FROM {}; give requests the role {} itself",
                            api.name, m.name, api.name
                        ),
                    )
                })
        })
        .collect()
}

/// Database or role settings that make the requests' own writes fail, for
/// the roles the API runs them as (`anon`, `authenticated`, `service_role`,
/// PostgREST's `authenticator`) or for every role: PostgREST applies a role's
/// settings to each request it runs as that role. Read-only transactions
/// refuse every write (sign-ups' rows, the webhook's calls: lost); a
/// `statement_timeout` under a second cancels the webhook's completion and
/// the cleanup (a warning: the value is a judgement).
pub fn setting_blocks_writes(cat: &Catalog) -> Vec<CheckResult> {
    const ROLES: &[&str] = &["anon", "authenticated", "service_role", "authenticator"];
    let found = cat
        .role_settings
        .iter()
        .filter(|s| s.role.as_deref().is_none_or(|r| ROLES.contains(&r)))
        .filter_map(|s| {
            let (name, value) = split_setting(&s.setting);
            let name = name.to_lowercase();
            let (target, scope, remedy) = setting_place(cat, s, &name);
            if name == "default_transaction_read_only"
                && matches!(value.to_lowercase().as_str(), "on" | "true" | "1" | "yes")
            {
                return Some(CheckId::SettingBlocksWrites.fail(
                    target,
                    format!("default_transaction_read_only = {value} is set for {scope}: every write of those requests fails (sign-ups' rows, the webhook's calls, the cleanup)"),
                    remedy,
                ));
            }
            let ms = (name == "statement_timeout")
                .then(|| timeout_ms(&value))
                .flatten()?;
            (ms > 0.0 && ms < 1000.0).then(|| {
                CheckId::SettingBlocksWrites.warn(
                    target,
                    format!("statement_timeout = {value} is set for {scope}: the webhook's completion and the cleanup are cancelled past it, and the call or the deletion is lost"),
                    remedy,
                )
            })
        })
        .collect();
    or_pass(
        found,
        CheckId::SettingBlocksWrites,
        "database",
        "no database or role setting makes the API's requests read-only or cuts them short",
    )
}

/// A `statement_timeout` value in milliseconds (`100`, `1ms`, `0.5s`, `1min`).
fn timeout_ms(value: &str) -> Option<f64> {
    let v = value.trim().trim_matches('\'').to_lowercase();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let number: f64 = v[..split].parse().ok()?;
    let factor = match v[split..].trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some(number * factor)
}

/// An object owned by an API role: the owner bypasses its RLS and may change or drop it.
pub fn api_role_owns(cat: &Catalog) -> Vec<CheckResult> {
    let api = |owner: &str| expect::REQUEST_ROLES.contains(&owner);
    let relations = cat
        .relations
        .iter()
        .filter(|r| api(&r.owner))
        .map(|r| (r.qualified(), r.owner.as_str(), "TABLE"));
    let functions = cat
        .functions
        .iter()
        .filter(|f| api(&f.owner))
        .map(|f| (f.qualified(), f.owner.as_str(), "FUNCTION"));
    // The database: its owner is pg_database_owner, which owns schema public
    // (PostgreSQL 15) and whatever else is given to it.
    let database = api(&cat.database_owner).then(|| {
        (
            format!("database {}", cat.database),
            cat.database_owner.as_str(),
            "DATABASE",
        )
    });
    let found = relations
        .chain(functions)
        .chain(database)
        .map(|(target, owner, kind)| {
            let target_sql = target.trim_start_matches("database ").to_string();
            CheckId::ApiRoleOwns.fail(
                &target,
                format!("owned by {owner}: every API caller as {owner} may alter or drop it and bypasses its row level security"),
                format!("ALTER {kind} {} OWNER TO postgres", if kind == "DATABASE" { ident(&target_sql) } else { target_sql }),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::ApiRoleOwns,
        &cat.exposed.join(", "),
        "no exposed object is owned by anon or authenticated",
    )
}

/// `ALTER DEFAULT PRIVILEGES` that grant to the API roles: every new table,
/// sequence or function in the exposed schemas is theirs before anyone reviews it.
pub fn default_privileges(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .default_acls
        .iter()
        .map(|d| {
            let object = match d.object.as_str() {
                "r" => "TABLES",
                "S" => "SEQUENCES",
                _ => "FUNCTIONS",
            };
            let schema = d
                .schema
                .as_deref()
                .map(|s| format!(" IN SCHEMA {s}"))
                .unwrap_or_default();
            CheckId::DefaultPrivileges.fail(
                format!(
                    "{}: {} of {}",
                    d.schema.as_deref().unwrap_or("all schemas"),
                    object.to_lowercase(),
                    d.role
                ),
                format!(
                    "new {} created by {} are granted {} to {} by default",
                    object.to_lowercase(),
                    d.role,
                    d.privileges.join(", "),
                    d.grantee
                ),
                format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {}{schema} REVOKE ALL ON {object} FROM {}",
                    ident(&d.role),
                    d.grantee
                ),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::DefaultPrivileges,
        &cat.exposed.join(", "),
        "no default privileges grant anything to anon, authenticated or PUBLIC",
    )
}

/// CREATE on an exposed schema: the API roles could add tables, views and
/// functions the API then serves, and names that shadow the schema's. Granted
/// to anon or authenticated it fails; held by PUBLIC (PostgreSQL's default
/// for `public` before version 15) it warns.
pub fn schema_create(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .guards
        .schema_create
        .iter()
        .map(|g| {
            let detail = format!(
                "{} may CREATE in schema {}: {} can add objects the API serves and shadow the schema's names",
                g.grantee,
                g.schema,
                if g.grantee == "PUBLIC" { "every role, the API roles too," } else { "API requests" }
            );
            let remedy = format!(
                "REVOKE CREATE ON SCHEMA {} FROM {}",
                ident(&g.schema),
                if g.grantee == "PUBLIC" { "PUBLIC".to_string() } else { ident(&g.grantee) }
            );
            if g.grantee == "PUBLIC" {
                CheckId::SchemaCreate.warn(g.schema.clone(), detail, remedy)
            } else {
                CheckId::SchemaCreate.fail(g.schema.clone(), detail, remedy)
            }
        })
        .collect();
    or_pass(
        found,
        CheckId::SchemaCreate,
        &cat.exposed.join(","),
        "the API roles may not create objects in the exposed schemas",
    )
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::TableGrants,
        "public.assistants",
        "REVOKE SELECT ON public.assistants FROM authenticated",
    ),
    Break::fails(
        CheckId::ColumnGrants,
        "public.profiles",
        "GRANT UPDATE (is_demo_user) ON public.profiles TO authenticated",
    ),
    Break::fails(
        CheckId::LimitsUserWritable,
        "public.user_limits.max_assistants",
        "GRANT UPDATE (max_assistants) ON public.user_limits TO authenticated",
    )
    .also(&[CheckId::ColumnGrants]),
    Break::fails(
        CheckId::ViewSecurityDefiner,
        "public.all_calls",
        "CREATE VIEW public.all_calls AS SELECT id, user_id, caller_number, transcript FROM public.call_logs;
         GRANT SELECT ON public.all_calls TO authenticated",
    ),
    // One hop away: an owner-rights view of a hidden schema, read by an
    // invoker function of public.
    Break::fails(
        CheckId::ViewSecurityDefiner,
        "private.user_directory",
        "CREATE SCHEMA private;
         CREATE VIEW private.user_directory AS SELECT u.id, u.email::text AS email FROM auth.users u;
         GRANT USAGE ON SCHEMA private TO authenticated;
         GRANT SELECT ON private.user_directory TO authenticated;
         CREATE FUNCTION public.member_directory() RETURNS TABLE(id uuid, email text) LANGUAGE sql STABLE SECURITY INVOKER
           SET search_path = pg_catalog, pg_temp AS $$ SELECT * FROM private.user_directory $$;
         REVOKE ALL ON FUNCTION public.member_directory() FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION public.member_directory() TO authenticated",
    ),
    // One hop away: an invoker view of a hidden schema whose rule rewrites
    // the users' updates as its owner, written through an invoker view of public.
    Break::fails(
        CheckId::ViewSecurityDefiner,
        "private.plan_rw",
        "CREATE SCHEMA private;
         CREATE VIEW private.plan_rw WITH (security_invoker = true) AS
           SELECT user_id, plan_type, max_assistants FROM public.user_limits;
         CREATE RULE plan_rw_update AS ON UPDATE TO private.plan_rw DO INSTEAD
           UPDATE public.user_limits SET plan_type = NEW.plan_type, max_assistants = NEW.max_assistants
           WHERE user_id = OLD.user_id;
         GRANT USAGE ON SCHEMA private TO authenticated;
         GRANT SELECT, UPDATE ON private.plan_rw TO authenticated;
         CREATE VIEW public.my_plan WITH (security_invoker = true) AS SELECT * FROM private.plan_rw;
         GRANT SELECT, UPDATE ON public.my_plan TO authenticated",
    ),
    // One hop away: a materialized view of everyone's calls in a schema the
    // API does not expose, read through an invoker view that it does.
    Break::fails(
        CheckId::MatviewExposed,
        "reporting.call_stats",
        "CREATE SCHEMA reporting;
         CREATE MATERIALIZED VIEW reporting.call_stats AS
           SELECT user_id, caller_number, duration_seconds, transcript FROM public.call_logs;
         GRANT USAGE ON SCHEMA reporting TO authenticated;
         GRANT SELECT ON reporting.call_stats TO authenticated;
         CREATE VIEW public.call_stats WITH (security_invoker = on) AS SELECT * FROM reporting.call_stats;
         GRANT SELECT ON public.call_stats TO authenticated",
    ),
    Break::fails(
        CheckId::MatviewExposed,
        "public.call_totals",
        "CREATE MATERIALIZED VIEW public.call_totals AS SELECT user_id, count(*) AS calls FROM public.call_logs GROUP BY user_id;
         GRANT SELECT ON public.call_totals TO authenticated",
    ),
    Break::fails(
        CheckId::ForeignTableExposed,
        "public.remote_calls",
        "CREATE FOREIGN DATA WRAPPER vmx_dummy_fdw; CREATE SERVER vmx_dummy FOREIGN DATA WRAPPER vmx_dummy_fdw;
         CREATE FOREIGN TABLE public.remote_calls (id uuid) SERVER vmx_dummy;
         GRANT SELECT ON public.remote_calls TO anon",
    ),
    Break::fails(
        CheckId::AuthUsersExposed,
        "public.user_emails",
        "CREATE VIEW public.user_emails WITH (security_invoker = true) AS SELECT id, email FROM auth.users;
         GRANT SELECT ON public.user_emails TO authenticated",
    ),
    // Hidden in an extension that lives elsewhere: still judged.
    Break::fails(
        CheckId::ViewSecurityDefiner,
        "public.all_calls",
        "CREATE SCHEMA extensions;
         CREATE EXTENSION pg_trgm SCHEMA extensions;
         CREATE VIEW public.all_calls AS SELECT user_id, transcript FROM public.call_logs;
         GRANT SELECT ON public.all_calls TO anon;
         ALTER EXTENSION pg_trgm ADD VIEW public.all_calls",
    ),
    // An invoker view in public, a definer function out of the API's sight.
    Break::fails(
        CheckId::ViewSecurityDefiner,
        "public.recent_calls",
        "CREATE SCHEMA internal;
         GRANT USAGE ON SCHEMA internal TO authenticated;
         CREATE FUNCTION internal.all_calls() RETURNS SETOF public.call_logs LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = '' AS 'SELECT * FROM public.call_logs';
         CREATE VIEW public.recent_calls WITH (security_invoker = true) AS SELECT id, user_id, transcript FROM internal.all_calls();
         GRANT SELECT ON public.recent_calls TO authenticated",
    ),
    // Write-only: UPDATE through an auto-updatable view rewrites every user's limits.
    Break::fails(
        CheckId::ViewSecurityDefiner,
        "public.limits_admin",
        "CREATE VIEW public.limits_admin AS SELECT user_id, max_assistants, plan_type FROM public.user_limits;
         GRANT UPDATE ON public.limits_admin TO authenticated",
    ),
    // A JWT role of its own that inherits the users' rights.
    Break::fails(
        CheckId::ApiRoleMembership,
        "role vmx_break_premium",
        "CREATE ROLE vmx_break_premium NOLOGIN; GRANT authenticated TO vmx_break_premium",
    )
    .undo("DROP ROLE vmx_break_premium"),
    // The backend's requests read-only in this database: every webhook fails.
    Break::fails(
        CheckId::SettingBlocksWrites,
        "role service_role",
        "DO $$ BEGIN EXECUTE format('ALTER ROLE service_role IN DATABASE %I SET default_transaction_read_only = on', current_database()); END $$",
    ),
    Break::warns(
        CheckId::SettingBlocksWrites,
        "role service_role",
        "DO $$ BEGIN EXECUTE format('ALTER ROLE service_role IN DATABASE %I SET statement_timeout = %L', current_database(), '1ms'); END $$",
    ),
    Break::fails(
        CheckId::ApiRoleOwns,
        "database {database}",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I OWNER TO authenticated', current_database()); END $$",
    ),
    Break::fails(
        CheckId::TableGrants,
        "public",
        "REVOKE USAGE ON SCHEMA public FROM PUBLIC, authenticated",
    ),
    Break::fails(
        CheckId::AuthUsersExposed,
        "auth.users",
        "GRANT SELECT (id, email) ON auth.users TO authenticated",
    ),
    Break::fails(
        CheckId::SettingAnonRole,
        "role authenticator",
        "CREATE ROLE authenticator NOINHERIT LOGIN;
         DO $$ BEGIN EXECUTE format('ALTER ROLE authenticator IN DATABASE %I SET pgrst.db_anon_role = %L', current_database(), 'service_role'); END $$",
    )
    .undo("DROP ROLE authenticator"),
    Break::warns(
        CheckId::SettingAnonRole,
        "database",
        "CREATE FUNCTION public.vmx_break_pre_request() RETURNS void LANGUAGE sql SET search_path = '' AS 'SELECT';
         REVOKE EXECUTE ON FUNCTION public.vmx_break_pre_request() FROM PUBLIC;
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET pgrst.db_pre_request = %L', current_database(), 'public.vmx_break_pre_request'); END $$",
    ),
    Break::fails(
        CheckId::SettingAnonRole,
        "database",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET pgrst.db_anon_role = authenticated', current_database()); END $$",
    ),
    Break::fails(
        CheckId::ApiRoleAttributes,
        "role authenticated",
        "ALTER ROLE authenticated BYPASSRLS",
    )
    .undo("ALTER ROLE authenticated NOBYPASSRLS"),
    Break::fails(
        CheckId::ApiRoleAttributes,
        "role service_role",
        "ALTER ROLE service_role NOBYPASSRLS",
    )
    .undo("ALTER ROLE service_role BYPASSRLS"),
    Break::fails(
        CheckId::ApiRoleAttributes,
        "role anon",
        "ALTER ROLE anon CREATEROLE",
    )
    .undo("ALTER ROLE anon NOCREATEROLE"),
    Break::fails(
        CheckId::ApiRoleMembership,
        "role authenticated",
        "GRANT service_role TO authenticated",
    )
    .undo("REVOKE service_role FROM authenticated"),
    Break::fails(
        CheckId::ApiRoleOwns,
        "public.scratch",
        "CREATE TABLE public.scratch (id int PRIMARY KEY, user_id uuid);
         ALTER TABLE public.scratch ENABLE ROW LEVEL SECURITY;
         CREATE POLICY scratch_own ON public.scratch FOR SELECT TO authenticated USING (user_id = (select auth.uid()));
         ALTER TABLE public.scratch OWNER TO authenticated",
    ),
    Break::fails(
        CheckId::DefaultPrivileges,
        "public: tables of {admin}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {admin} IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO anon",
    ),
    Break::fails(
        CheckId::SchemaCreate,
        "public",
        "GRANT CREATE ON SCHEMA public TO authenticated",
    ),
    Break::warns(
        CheckId::SchemaCreate,
        "public",
        "GRANT CREATE ON SCHEMA public TO PUBLIC",
    ),
    Break::fails(
        CheckId::ApiRoleAttributes,
        "role authenticated",
        "ALTER ROLE authenticated LOGIN",
    )
    .undo("ALTER ROLE authenticated NOLOGIN"),
];

#[cfg(test)]
mod setting_tests {
    use super::timeout_ms;

    #[test]
    fn statement_timeouts_read_in_milliseconds() {
        assert_eq!(timeout_ms("1ms"), Some(1.0));
        assert_eq!(timeout_ms("250"), Some(250.0));
        assert_eq!(timeout_ms("0.5s"), Some(500.0));
        assert_eq!(timeout_ms("8s"), Some(8000.0));
        assert_eq!(timeout_ms("2min"), Some(120_000.0));
        assert_eq!(timeout_ms("'3s'"), Some(3000.0));
        assert_eq!(timeout_ms("soon"), None);
    }
}
