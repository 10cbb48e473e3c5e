//! The static checks: each a small function over the catalog that returns its
//! results with a stable kebab-case id (squawk/splinter style). Hole finders
//! that find nothing report one passing line for the whole schema.

use super::catalog::{Catalog, Function, Policy, Table};
use super::expectations::{self as expect, TableSpec};
use crate::catalog::migrations;
use crate::report::{CheckResult, Section};
use std::collections::BTreeSet;

const MIGRATE: &str = "run `vmx migrate` (re-applying the files converges the schema)";

/// Every static check, in checklist order.
pub fn all(cat: &Catalog) -> Vec<CheckResult> {
    let checks: &[fn(&Catalog) -> Vec<CheckResult>] = &[
        table_exists,
        table_columns,
        rls_enabled,
        policy_expected,
        policy_always_true,
        policy_for_anon,
        policy_owner_check,
        policy_unneeded_command,
        policy_names_role,
        policy_auth_uid_wrapped,
        trigger_present,
        trigger_enabled,
        fk_on_delete,
        fk_indexed,
        duplicate_index,
        function_security,
        function_search_path,
        function_execute,
        definer_executable,
        table_grants,
        column_grants,
        limits_not_user_writable,
        history_applied,
        history_unknown_version,
    ];
    checks.iter().flat_map(|check| check(cat)).collect()
}

// ---------------------------------------------------------------- helpers

fn qualified_table(name: &str) -> String {
    format!("public.{name}")
}

/// Quotes an identifier when it is not a plain lower-case name.
fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn policy_target(p: &Policy) -> String {
    format!("public.{}.{}", p.table, ident(&p.name))
}

/// Existing tables with their spec.
fn present(cat: &Catalog) -> impl Iterator<Item = (&'static TableSpec, &Table)> {
    expect::TABLES
        .iter()
        .filter_map(move |spec| cat.table(spec.name).map(|t| (spec, t)))
}

/// An expression in a form that compares equal across spellings: lower case,
/// without whitespace, parentheses, casts and `AS alias`.
pub fn normalize_expr(expr: &str) -> String {
    let lower = expr.to_lowercase();
    let mut out = String::new();
    let mut chars = lower.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '"'))
            {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "as" && i + 1 < words.len() {
            // `AS uid)` — drop the alias, keep what closes after it.
            let rest = words[i + 1].trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
            if !rest.is_empty() {
                kept.push(rest);
            }
            i += 2;
            continue;
        }
        kept.push(words[i]);
        i += 1;
    }
    kept.concat().replace(['(', ')'], "")
}

/// The expression is the comparison of `owner` with `auth.uid()` (wrapped in
/// select or not), or that comparison AND-ed with further conditions. An OR at
/// the top level (outside every parenthesised conjunct) fails: `owner = uid OR
/// true` is true for every row. ORs inside a further AND-ed conjunct are fine,
/// since the owner comparison must hold regardless.
pub fn compares_owner(expr: &str, owner: &str) -> bool {
    let lower = expr.to_lowercase();
    conjuncts(&lower)
        .iter()
        .any(|c| is_owner_comparison(c, owner))
}

/// The top-level AND-ed conjuncts of `expr`, flattened through parentheses.
/// An expression with a top-level OR is returned whole (it is one opaque term).
fn conjuncts(expr: &str) -> Vec<&str> {
    let e = strip_outer_parens(expr);
    if split_top(e, "or").len() > 1 {
        return vec![e];
    }
    let parts = split_top(e, "and");
    if parts.len() == 1 {
        return vec![e];
    }
    parts.into_iter().flat_map(conjuncts).collect()
}

fn is_owner_comparison(term: &str, owner: &str) -> bool {
    let n = normalize_expr(term);
    ["selectauth.uid", "auth.uid"]
        .iter()
        .any(|uid| n == format!("{owner}={uid}") || n == format!("{uid}={owner}"))
}

/// Byte offsets in `expr` with their depth in parentheses, outside quotes.
fn unquoted_depths(expr: &str) -> Vec<(usize, char, i32)> {
    let mut out = Vec::new();
    let (mut depth, mut quote) = (0, None::<char>);
    for (i, c) in expr.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            },
        }
        out.push((i, c, if quote.is_some() { -1 } else { depth }));
    }
    out
}

/// Removes parentheses enclosing the whole expression.
fn strip_outer_parens(expr: &str) -> &str {
    let mut e = expr.trim();
    while e.starts_with('(') && e.ends_with(')') {
        let closes_at_end = unquoted_depths(e)
            .iter()
            .find(|(_, c, d)| *c == ')' && *d == 0)
            .is_some_and(|(i, _, _)| *i == e.len() - 1);
        if !closes_at_end {
            break;
        }
        e = e[1..e.len() - 1].trim();
    }
    e
}

/// Splits `expr` (lower case) at the keyword `kw` where it stands outside
/// parentheses and quotes.
fn split_top<'a>(expr: &'a str, kw: &str) -> Vec<&'a str> {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c, depth) in unquoted_depths(expr) {
        if depth != 0 || i < start || !expr[i..].starts_with(kw) {
            continue;
        }
        let before = expr[..i].chars().last().is_none_or(|b| !word(b));
        let after = expr[i + kw.len()..].chars().next().is_none_or(|a| !word(a));
        if before && after && word(c) {
            parts.push(&expr[start..i]);
            start = i + kw.len();
        }
    }
    parts.push(&expr[start..]);
    parts
}

fn always_true(expr: Option<&str>) -> bool {
    expr.is_some_and(|e| normalize_expr(e) == "true")
}

const USER_ROLES: &[&str] = &["anon", "authenticated", "public"];

fn user_facing(p: &Policy) -> bool {
    p.roles
        .iter()
        .any(|r| r == "authenticated" || r == "public")
}

fn none_found(id: &str, section: Section, target: &str, detail: &str) -> Vec<CheckResult> {
    vec![CheckResult::pass(id, section, target, detail)]
}

fn or_pass(
    found: Vec<CheckResult>,
    id: &str,
    section: Section,
    target: &str,
    detail: &str,
) -> Vec<CheckResult> {
    if found.is_empty() {
        none_found(id, section, target, detail)
    } else {
        found
    }
}

// ---------------------------------------------------------------- tables

pub fn table_exists(cat: &Catalog) -> Vec<CheckResult> {
    expect::TABLES
        .iter()
        .map(|spec| {
            let target = qualified_table(spec.name);
            if cat.table(spec.name).is_some() {
                CheckResult::pass("table-exists", Section::Tables, target, "table exists")
            } else {
                let remedy = if spec.missing_file {
                    "run `vmx add-missing` (or `vmx migrate`)"
                } else {
                    "run `vmx migrate`"
                };
                CheckResult::fail(
                    "table-exists",
                    Section::Tables,
                    target,
                    "table is missing",
                    remedy,
                )
            }
        })
        .collect()
}

pub fn table_columns(cat: &Catalog) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (spec, table) in present(cat) {
        let mut bad = Vec::new();
        for (name, ty) in spec.columns {
            let target = format!("public.{}.{}", spec.name, name);
            match table.columns.iter().find(|c| c.name == *name) {
                None => bad.push(CheckResult::fail(
                    "table-columns",
                    Section::Tables,
                    target,
                    format!("column is missing (expected {ty})"),
                    MIGRATE,
                )),
                Some(c) if c.data_type != *ty => bad.push(CheckResult::fail(
                    "table-columns",
                    Section::Tables,
                    target,
                    format!("column has type {} (expected {ty})", c.data_type),
                    format!(
                        "ALTER TABLE public.{} ALTER COLUMN {name} TYPE {ty}",
                        spec.name
                    ),
                )),
                Some(_) => {}
            }
        }
        if bad.is_empty() {
            out.push(CheckResult::pass(
                "table-columns",
                Section::Tables,
                qualified_table(spec.name),
                format!(
                    "all {} columns present with their types",
                    spec.columns.len()
                ),
            ));
        }
        out.extend(bad);
    }
    out
}

// ---------------------------------------------------------------- rls

pub fn rls_enabled(cat: &Catalog) -> Vec<CheckResult> {
    present(cat)
        .map(|(spec, table)| {
            let target = qualified_table(spec.name);
            if table.rls {
                CheckResult::pass(
                    "rls-enabled",
                    Section::Rls,
                    target,
                    "row level security is enabled",
                )
            } else {
                CheckResult::fail(
                    "rls-enabled",
                    Section::Rls,
                    target,
                    "row level security is DISABLED: every granted role sees every row",
                    format!("ALTER TABLE public.{} ENABLE ROW LEVEL SECURITY", spec.name),
                )
            }
        })
        .collect()
}

// ---------------------------------------------------------------- policies

/// For each table and each command the app needs, a permissive policy for
/// `authenticated` that compares the owner column with `auth.uid()`.
pub fn policy_expected(cat: &Catalog) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (spec, _) in present(cat) {
        for cmd in spec.user_commands {
            let target = format!(
                "public.{}.{}_{}_own",
                spec.name,
                spec.name,
                cmd.to_lowercase()
            );
            let found = cat.policies.iter().find(|p| {
                p.table == spec.name
                    && p.permissive
                    && (p.command == *cmd || p.command == "ALL")
                    && user_facing(p)
                    && policy_scopes_owner(p, cmd, spec.owner_column)
            });
            out.push(match found {
                Some(p) => CheckResult::pass(
                    "policy-expected",
                    Section::Policies,
                    target,
                    format!(
                        "{cmd} for {}: {} = auth.uid() (policy {})",
                        p.roles.join(", "),
                        spec.owner_column,
                        ident(&p.name)
                    ),
                ),
                None => CheckResult::fail(
                    "policy-expected",
                    Section::Policies,
                    target,
                    format!(
                        "no permissive {cmd} policy for authenticated compares {} with auth.uid()",
                        spec.owner_column
                    ),
                    MIGRATE,
                ),
            });
        }
    }
    out
}

fn policy_scopes_owner(p: &Policy, cmd: &str, owner: &str) -> bool {
    let using_ok = p.using.as_deref().is_some_and(|e| compares_owner(e, owner));
    let check_ok = p
        .with_check
        .as_deref()
        .or(p.using.as_deref())
        .is_some_and(|e| compares_owner(e, owner));
    match cmd {
        "INSERT" => check_ok,
        "UPDATE" | "ALL" => using_ok && check_ok,
        _ => using_ok,
    }
}

pub fn policy_always_true(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.permissive && p.roles.iter().any(|r| USER_ROLES.contains(&r.as_str())))
        .filter(|p| always_true(p.using.as_deref()) || always_true(p.with_check.as_deref()))
        .map(|p| {
            CheckResult::fail(
                "policy-always-true",
                Section::Policies,
                policy_target(p),
                format!(
                    "{} policy for {} is always true: any user may act on any row",
                    p.command,
                    p.roles.join(", ")
                ),
                format!(
                    "DROP POLICY {} ON public.{} (writers act as service_role, which bypasses RLS)",
                    ident(&p.name),
                    p.table
                ),
            )
        })
        .collect();
    or_pass(
        found,
        "policy-always-true",
        Section::Policies,
        "public",
        "no permissive policy is always true for anon, authenticated or public",
    )
}

pub fn policy_for_anon(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.roles.iter().any(|r| r == "anon"))
        .map(|p| {
            CheckResult::fail(
                "policy-for-anon",
                Section::Policies,
                policy_target(p),
                format!("{} policy applies to anon (not signed in)", p.command),
                format!("DROP POLICY {} ON public.{}", ident(&p.name), p.table),
            )
        })
        .collect();
    or_pass(
        found,
        "policy-for-anon",
        Section::Policies,
        "public",
        "no policy applies to anon",
    )
}

pub fn policy_owner_check(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.permissive && user_facing(p))
        .filter(|p| !always_true(p.using.as_deref()) && !always_true(p.with_check.as_deref()))
        .filter_map(|p| {
            let owner = expect::table(&p.table)?.owner_column;
            if policy_scopes_owner(p, &p.command, owner) {
                return None;
            }
            Some(CheckResult::fail(
                "policy-owner-check",
                Section::Policies,
                policy_target(p),
                format!(
                    "{} policy for {} does not compare {owner} with auth.uid(): {}",
                    p.command,
                    p.roles.join(", "),
                    p.using
                        .as_deref()
                        .or(p.with_check.as_deref())
                        .unwrap_or("(no expression)")
                ),
                format!("make it USING ({owner} = (select auth.uid())) or drop it"),
            ))
        })
        .collect();
    or_pass(
        found,
        "policy-owner-check",
        Section::Policies,
        "public",
        "every user policy compares the owner column with auth.uid()",
    )
}

/// A user policy for a command the app does not need is a hole as soon as the
/// command is granted (older Supabase projects grant everything by default).
pub fn policy_unneeded_command(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.permissive && user_facing(p))
        .filter_map(|p| {
            let spec = expect::table(&p.table)?;
            let needed = if p.command == "ALL" {
                spec.user_commands.len() == 4
            } else {
                spec.user_commands.contains(&p.command.as_str())
            };
            (!needed).then(|| {
                CheckResult::fail(
                    "policy-unneeded-command",
                    Section::Policies,
                    policy_target(p),
                    format!(
                        "users may {} rows of public.{} (the app only needs {})",
                        p.command,
                        p.table,
                        spec.user_commands.join(", ")
                    ),
                    format!("DROP POLICY {} ON public.{}", ident(&p.name), p.table),
                )
            })
        })
        .collect();
    or_pass(
        found,
        "policy-unneeded-command",
        Section::Policies,
        "public",
        "user policies cover only the commands the app needs",
    )
}

pub fn policy_names_role(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.roles.iter().any(|r| r == "public"))
        .map(|p| {
            CheckResult::warn(
                "policy-names-role",
                Section::Policies,
                policy_target(p),
                "policy has no TO clause: it applies to every role",
                "recreate it with TO authenticated",
            )
        })
        .collect();
    or_pass(
        found,
        "policy-names-role",
        Section::Policies,
        "public",
        "every policy names its role",
    )
}

pub fn policy_auth_uid_wrapped(cat: &Catalog) -> Vec<CheckResult> {
    let bare = |e: &Option<String>| {
        e.as_deref().is_some_and(|e| {
            let n = normalize_expr(e);
            n.matches("auth.uid").count() > n.matches("selectauth.uid").count()
        })
    };
    let found = cat
        .policies
        .iter()
        .filter(|p| bare(&p.using) || bare(&p.with_check))
        .map(|p| {
            CheckResult::warn(
                "policy-auth-uid-wrapped",
                Section::Policies,
                policy_target(p),
                "auth.uid() is called per row (not wrapped in select)",
                "write (select auth.uid()) so it is evaluated once per statement",
            )
        })
        .collect();
    or_pass(
        found,
        "policy-auth-uid-wrapped",
        Section::Policies,
        "public",
        "every policy uses (select auth.uid())",
    )
}

// ---------------------------------------------------------------- triggers

fn trigger_target(t: &expect::TriggerSpec) -> String {
    format!("{}.{}.{}", t.schema, t.table, t.name)
}

fn find_trigger<'a>(
    cat: &'a Catalog,
    spec: &expect::TriggerSpec,
) -> Option<&'a super::catalog::Trigger> {
    let on_table = |t: &&super::catalog::Trigger| t.schema == spec.schema && t.table == spec.table;
    cat.triggers
        .iter()
        .filter(on_table)
        .find(|t| t.name == spec.name)
}

pub fn trigger_present(cat: &Catalog) -> Vec<CheckResult> {
    expect::TRIGGERS
        .iter()
        .map(|spec| {
            let target = trigger_target(spec);
            let want = format!(
                "{} {} FOR EACH {} EXECUTE {}()",
                spec.timing,
                spec.events.join(" OR "),
                spec.level,
                spec.function
            );
            let Some(t) = find_trigger(cat, spec) else {
                return CheckResult::fail(
                    "trigger-present",
                    Section::Triggers,
                    target,
                    format!("trigger is missing (expected {want})"),
                    MIGRATE,
                );
            };
            let got = format!(
                "{} {} FOR EACH {} EXECUTE {}()",
                t.timing(),
                t.events().join(" OR "),
                if t.row_level() { "ROW" } else { "STATEMENT" },
                t.function
            );
            if got == want {
                CheckResult::pass("trigger-present", Section::Triggers, target, want)
            } else {
                CheckResult::fail(
                    "trigger-present",
                    Section::Triggers,
                    target,
                    format!("trigger is {got}, expected {want}"),
                    MIGRATE,
                )
            }
        })
        .collect()
}

pub fn trigger_enabled(cat: &Catalog) -> Vec<CheckResult> {
    expect::TRIGGERS
        .iter()
        .filter_map(|spec| {
            let t = find_trigger(cat, spec)?;
            let target = trigger_target(spec);
            Some(if t.enabled == "D" {
                CheckResult::fail(
                    "trigger-enabled",
                    Section::Triggers,
                    target,
                    "trigger is DISABLED",
                    format!(
                        "ALTER TABLE {}.{} ENABLE TRIGGER {}",
                        spec.schema, spec.table, spec.name
                    ),
                )
            } else {
                CheckResult::pass(
                    "trigger-enabled",
                    Section::Triggers,
                    target,
                    "trigger is enabled",
                )
            })
        })
        .collect()
}

// ---------------------------------------------------------------- foreign keys

pub fn fk_on_delete(cat: &Catalog) -> Vec<CheckResult> {
    expect::FOREIGN_KEYS
        .iter()
        .filter(|spec| cat.table(spec.table).is_some())
        .map(|spec| {
            let target = format!("public.{}.{}", spec.table, spec.column);
            let want = format!("→ {} ON DELETE {}", spec.references, spec.on_delete);
            let fk = cat.foreign_keys.iter().find(|k| {
                k.table == spec.table
                    && k.columns == [spec.column]
                    && k.references == spec.references
            });
            match fk {
                Some(k) if k.on_delete_action() == spec.on_delete => {
                    CheckResult::pass("fk-on-delete", Section::ForeignKeys, target, want)
                }
                Some(k) => CheckResult::fail(
                    "fk-on-delete",
                    Section::ForeignKeys,
                    target,
                    format!(
                        "{} is ON DELETE {} (expected {want})",
                        k.name,
                        k.on_delete_action()
                    ),
                    format!(
                        "recreate {} with ON DELETE {} (`vmx migrate` does)",
                        k.name, spec.on_delete
                    ),
                ),
                None => CheckResult::fail(
                    "fk-on-delete",
                    Section::ForeignKeys,
                    target,
                    format!("foreign key is missing (expected {want})"),
                    MIGRATE,
                ),
            }
        })
        .collect()
}

pub fn fk_indexed(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .foreign_keys
        .iter()
        .filter(|k| {
            !cat.indexes.iter().any(|i| {
                i.table == k.table
                    && i.columns.len() >= k.columns.len()
                    && i.columns
                        .iter()
                        .zip(&k.columns)
                        .all(|(a, b)| a.as_deref() == Some(b.as_str()))
            })
        })
        .map(|k| {
            CheckResult::warn(
                "fk-indexed",
                Section::ForeignKeys,
                format!("public.{}.{}", k.table, k.columns.join(",")),
                format!(
                    "foreign key {} has no index starting with its columns",
                    k.name
                ),
                format!(
                    "CREATE INDEX ON public.{} ({})",
                    k.table,
                    k.columns.join(", ")
                ),
            )
        })
        .collect();
    or_pass(
        found,
        "fk-indexed",
        Section::ForeignKeys,
        "public",
        "every foreign-key column leads an index",
    )
}

pub fn duplicate_index(cat: &Catalog) -> Vec<CheckResult> {
    let mut found = Vec::new();
    for (n, a) in cat.indexes.iter().enumerate() {
        // Report the second of each pair, preferring to keep a constraint's index.
        let twin = cat.indexes.iter().enumerate().find(|(m, b)| {
            *m != n
                && b.table == a.table
                && b.definition == a.definition
                && (b.constraint && !a.constraint || (b.constraint == a.constraint && *m < n))
        });
        if let Some((_, b)) = twin {
            found.push(CheckResult::warn(
                "duplicate-index",
                Section::ForeignKeys,
                format!("public.{}", a.name),
                format!(
                    "index duplicates {} on public.{} ({})",
                    b.name, a.table, a.definition
                ),
                format!("DROP INDEX public.{}", a.name),
            ));
        }
    }
    or_pass(
        found,
        "duplicate-index",
        Section::ForeignKeys,
        "public",
        "no duplicate indexes on the seven tables",
    )
}

// ---------------------------------------------------------------- functions

fn find_function<'a>(cat: &'a Catalog, signature: &str) -> Option<&'a Function> {
    cat.functions.iter().find(|f| f.signature == signature)
}

fn security(definer: bool) -> &'static str {
    if definer {
        "SECURITY DEFINER"
    } else {
        "SECURITY INVOKER"
    }
}

pub fn function_security(cat: &Catalog) -> Vec<CheckResult> {
    expect::FUNCTIONS
        .iter()
        .map(|spec| {
            let target = format!("public.{}", spec.signature);
            match find_function(cat, spec.signature) {
                None => CheckResult::fail(
                    "function-security",
                    Section::Functions,
                    target,
                    "function is missing",
                    MIGRATE,
                ),
                Some(f) if f.security_definer == spec.security_definer => CheckResult::pass(
                    "function-security",
                    Section::Functions,
                    target,
                    security(f.security_definer),
                ),
                Some(f) => CheckResult::fail(
                    "function-security",
                    Section::Functions,
                    target,
                    format!(
                        "function is {} (expected {})",
                        security(f.security_definer),
                        security(spec.security_definer)
                    ),
                    format!(
                        "ALTER FUNCTION public.{} {}",
                        spec.signature,
                        security(spec.security_definer)
                    ),
                ),
            }
        })
        .collect()
}

pub fn function_search_path(cat: &Catalog) -> Vec<CheckResult> {
    cat.functions
        .iter()
        .map(|f| {
            let target = format!("public.{}", f.signature);
            if f.pins_search_path() {
                CheckResult::pass(
                    "function-search-path",
                    Section::Functions,
                    target,
                    "search_path is pinned",
                )
            } else {
                CheckResult::fail(
                    "function-search-path",
                    Section::Functions,
                    target,
                    format!(
                        "search_path is mutable{}: a caller's objects can shadow the ones it uses",
                        if f.security_definer {
                            " in a SECURITY DEFINER function"
                        } else {
                            ""
                        }
                    ),
                    format!("ALTER FUNCTION public.{} SET search_path = ''", f.signature),
                )
            }
        })
        .collect()
}

pub fn function_execute(cat: &Catalog) -> Vec<CheckResult> {
    expect::FUNCTIONS
        .iter()
        .filter_map(|spec| {
            let f = find_function(cat, spec.signature)?;
            let target = format!("public.{}", spec.signature);
            let relevant =
                |r: &&String| r.as_str() == "PUBLIC" || expect::API_ROLES.contains(&r.as_str());
            let got: BTreeSet<&str> = f
                .execute
                .iter()
                .filter(relevant)
                .map(String::as_str)
                .collect();
            let want: BTreeSet<&str> = spec.execute.iter().copied().collect();
            let extra: Vec<_> = got.difference(&want).copied().collect();
            let missing: Vec<_> = want.difference(&got).copied().collect();
            Some(if extra.is_empty() && missing.is_empty() {
                CheckResult::pass(
                    "function-execute",
                    Section::Functions,
                    target,
                    if want.is_empty() {
                        "no API role may execute it".to_string()
                    } else {
                        format!("executable by {} only", spec.execute.join(", "))
                    },
                )
            } else {
                let mut remedy = Vec::new();
                if !extra.is_empty() {
                    remedy.push(format!(
                        "REVOKE EXECUTE ON FUNCTION public.{} FROM {}",
                        spec.signature,
                        extra.join(", ")
                    ));
                }
                if !missing.is_empty() {
                    remedy.push(format!(
                        "GRANT EXECUTE ON FUNCTION public.{} TO {}",
                        spec.signature,
                        missing.join(", ")
                    ));
                }
                CheckResult::fail(
                    "function-execute",
                    Section::Functions,
                    target,
                    format!(
                        "EXECUTE held by [{}], expected [{}]",
                        got.into_iter().collect::<Vec<_>>().join(", "),
                        spec.execute.join(", ")
                    ),
                    remedy.join("; "),
                )
            })
        })
        .collect()
}

/// Every SECURITY DEFINER function in `public` runs with its owner's rights:
/// PUBLIC or anon holding EXECUTE always fails (PostgreSQL grants EXECUTE to
/// PUBLIC on every new function by default); authenticated only where the
/// function's expectation allows it.
pub fn definer_executable(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .functions
        .iter()
        .filter(|f| f.security_definer)
        .filter_map(|f| {
            let allows_authenticated = find_spec(&f.signature)
                .is_some_and(|s| s.security_definer && s.execute.contains(&"authenticated"));
            let holders: Vec<&str> = f
                .execute
                .iter()
                .map(String::as_str)
                .filter(|r| match *r {
                    "PUBLIC" | "anon" => true,
                    "authenticated" => !allows_authenticated,
                    _ => false,
                })
                .collect();
            if holders.is_empty() {
                return None;
            }
            Some(CheckResult::fail(
                "definer-executable",
                Section::Functions,
                format!("public.{}", f.signature),
                format!(
                    "SECURITY DEFINER function is executable by {}: it runs with its owner's rights for any caller",
                    holders.join(", ")
                ),
                format!(
                    "REVOKE EXECUTE ON FUNCTION public.{} FROM {}, or ALTER FUNCTION public.{} SECURITY INVOKER",
                    f.signature,
                    holders.join(", "),
                    f.signature
                ),
            ))
        })
        .collect();
    or_pass(
        found,
        "definer-executable",
        Section::Functions,
        "public",
        "no SECURITY DEFINER function is executable by PUBLIC, anon or (unless expected) authenticated",
    )
}

fn find_spec(signature: &str) -> Option<&'static expect::FunctionSpec> {
    expect::FUNCTIONS.iter().find(|s| s.signature == signature)
}

// ---------------------------------------------------------------- grants

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
    let holds = |grants: &[super::catalog::Grant]| {
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
                CheckResult::pass(
                    "table-grants",
                    Section::Grants,
                    target,
                    format!(
                        "authenticated: {}; service_role: {}; anon: none",
                        spec.authenticated_table.join(", "),
                        expect::SERVICE_ROLE_TABLE.join(", ")
                    ),
                )
            } else {
                CheckResult::fail(
                    "table-grants",
                    Section::Grants,
                    target,
                    problems.join("; "),
                    remedies.join("; "),
                )
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
            CheckResult::pass(
                "column-grants",
                Section::Grants,
                target,
                "authenticated may write only the columns the app needs",
            )
        } else {
            CheckResult::fail(
                "column-grants",
                Section::Grants,
                target,
                problems.join("; "),
                remedies.join("; "),
            )
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
            CheckResult::fail(
                "limits-user-writable",
                Section::Grants,
                format!("public.user_limits.{c}"),
                "authenticated may UPDATE this column: a user can raise their own limits, plan or usage",
                "REVOKE UPDATE ON public.user_limits FROM authenticated, PUBLIC",
            )
        })
        .collect();
    or_pass(
        found,
        "limits-user-writable",
        Section::Grants,
        "public.user_limits",
        "users cannot change their plan, limits or usage",
    )
}

// ---------------------------------------------------------------- history

pub fn history_applied(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return vec![CheckResult::fail(
            "history-applied",
            Section::History,
            "vmx.schema_history",
            "no vmx history: this database was not migrated by vmx",
            "run `vmx migrate` (it records the files it finds applied)",
        )];
    }
    let mut out = Vec::new();
    for m in migrations() {
        let row = cat.history.iter().find(|h| h.version == m.version);
        match row {
            None => out.push(CheckResult::fail(
                "history-applied",
                Section::History,
                m.name,
                format!("version {} is not recorded as applied", m.version),
                "run `vmx migrate`",
            )),
            Some(h) => {
                out.push(CheckResult::pass(
                    "history-applied",
                    Section::History,
                    m.name,
                    format!("version {} applied", m.version),
                ));
                out.push(if h.checksum == m.checksum {
                    CheckResult::pass(
                        "history-checksum",
                        Section::History,
                        m.name,
                        "checksum equals the embedded file",
                    )
                } else {
                    CheckResult::fail(
                        "history-checksum",
                        Section::History,
                        m.name,
                        format!(
                            "recorded checksum {} differs from the embedded {}",
                            short(&h.checksum),
                            short(&m.checksum)
                        ),
                        "find out who changed the file or the record; then re-apply it with this vmx",
                    )
                });
            }
        }
    }
    out
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

pub fn history_unknown_version(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return Vec::new();
    }
    let found = cat
        .history
        .iter()
        .filter(|h| crate::catalog::by_version(h.version).is_none_or(|m| m.name != h.name))
        .map(|h| {
            CheckResult::fail(
                "history-unknown-version",
                Section::History,
                h.name.clone(),
                format!(
                    "version {} ({}) is not known to this vmx",
                    h.version, h.name
                ),
                "use the vmx that applied it, or remove the record if it is wrong",
            )
        })
        .collect();
    or_pass(
        found,
        "history-unknown-version",
        Section::History,
        "vmx.schema_history",
        "every recorded version is known to this vmx",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_spacing_parens_casts_and_alias() {
        assert_eq!(
            normalize_expr("(user_id = ( SELECT auth.uid() AS uid))"),
            "user_id=selectauth.uid"
        );
        assert_eq!(normalize_expr("(auth.uid() = id)"), "auth.uid=id");
        assert_eq!(
            normalize_expr("(user_id)::text = (auth.uid())::text"),
            "user_id=auth.uid"
        );
        assert_eq!(normalize_expr("true"), "true");
    }

    #[test]
    fn owner_comparison_is_recognised_in_either_order() {
        assert!(compares_owner(
            "(user_id = ( SELECT auth.uid() AS uid))",
            "user_id"
        ));
        assert!(compares_owner("(auth.uid() = id)", "id"));
        assert!(!compares_owner("(auth.uid() = id)", "user_id"));
        assert!(!compares_owner("(other_user_id = auth.uid())", "user_id"));
        assert!(!compares_owner("true", "user_id"));
    }

    #[test]
    fn owner_comparison_must_not_be_or_ed_away() {
        let owner = |e: &str| compares_owner(e, "user_id");
        assert!(!owner("((user_id = ( SELECT auth.uid() AS uid)) OR true)"));
        assert!(!owner("(true OR (user_id = ( SELECT auth.uid() AS uid)))"));
        assert!(!owner("((user_id = auth.uid()) AND x) OR y"));
        assert!(!owner("(NOT (user_id = auth.uid()))"));
        assert!(!owner("(user_id = auth.uid()) IS NOT TRUE"));
        assert!(owner("((user_id = auth.uid()) AND (name <> 'a or b'))"));
        assert!(owner(
            "((user_id = ( SELECT auth.uid() AS uid)) AND ((assigned_assistant_id IS NULL) OR \
             (EXISTS ( SELECT 1 FROM assistants a WHERE ((a.id = phone_numbers.assigned_assistant_id) \
             AND (a.user_id = ( SELECT auth.uid() AS uid)))))))"
        ));
        assert!(owner("(x AND ((y) AND (auth.uid() = user_id)))"));
        assert!(!owner("(x AND ((y) OR (auth.uid() = user_id)))"));
        assert!(!owner("(user_id = auth.uid()) = false"));
    }

    #[test]
    fn quotes_only_identifiers_that_need_it() {
        assert_eq!(ident("assistants_select_own"), "assistants_select_own");
        assert_eq!(ident("Users can view own"), "\"Users can view own\"");
    }
}
