//! Grants: what the API roles may do with the seven tables.

use super::*;
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

pub fn table_grants(cat: &Catalog) -> Vec<CheckResult> {
    present(cat)
        .map(|(spec, table)| {
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
        })
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
];
