//! Policies: the owner-scoped policies the app needs, and no policy that opens rows.

use super::*;
use crate::verify::catalog::Policy;

fn policy_target(p: &Policy) -> String {
    format!("{}.{}.{}", p.schema, p.table, ident(&p.name))
}

/// The spec of the policy's table when it is one of the seven.
fn spec_of(p: &Policy) -> Option<&'static TableSpec> {
    (p.schema == "public")
        .then(|| expect::table(&p.table))
        .flatten()
}

/// Existing tables with their spec.
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
    // normalize_expr drops casts: only those that keep the value whole may go
    // (`::"char"` keeps one byte, `::varchar(3)` three: 1 user in 16 alike).
    let whole = term.split("::").skip(1).all(|rest| {
        let ty: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '"' | '.'))
            .collect();
        matches!(ty.as_str(), "uuid" | "text")
    });
    let n = normalize_expr(term);
    whole
        && ["selectauth.uid", "auth.uid"]
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
                p.schema == "public"
                    && p.table == spec.name
                    && p.permissive
                    && (p.command == *cmd || p.command == "ALL")
                    && user_facing(p)
                    && policy_scopes_owner(p, cmd, spec.owner_column)
            });
            out.push(match found {
                Some(p) => CheckId::PolicyExpected.pass(
                    target,
                    format!(
                        "{cmd} for {}: {} = auth.uid() (policy {})",
                        p.roles.join(", "),
                        spec.owner_column,
                        ident(&p.name)
                    ),
                ),
                None => CheckId::PolicyExpected.fail(
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

/// Permissive policies that are always true (any user acts on any row), and
/// restrictive ones on the seven tables that are always false for the users
/// (they deny the app every row: nobody sees or writes their own).
pub fn policy_always_true(cat: &Catalog) -> Vec<CheckResult> {
    let always_false = |e: Option<&str>| e.is_some_and(|e| normalize_expr(e) == "false");
    let denials = cat
        .policies
        .iter()
        .filter(|p| !p.permissive && spec_of(p).is_some() && user_facing(p))
        .filter(|p| always_false(p.using.as_deref()) || always_false(p.with_check.as_deref()))
        .map(|p| {
            CheckId::PolicyAlwaysTrue.fail(
                policy_target(p),
                format!(
                    "RESTRICTIVE {} policy for {} is always false: no user may act on any row, their own included",
                    p.command,
                    p.roles.join(", ")
                ),
                format!("DROP POLICY {} ON {}.{}", ident(&p.name), p.schema, p.table),
            )
        });
    let found = cat
        .policies
        .iter()
        .filter(|p| p.permissive && p.roles.iter().any(|r| USER_ROLES.contains(&r.as_str())))
        .filter(|p| always_true(p.using.as_deref()) || always_true(p.with_check.as_deref()))
        // Outside the seven tables an always-true SELECT may be public data on purpose; a write never is.
        .filter(|p| spec_of(p).is_some() || p.command != "SELECT")
        .map(|p| {
            CheckId::PolicyAlwaysTrue.fail(
                policy_target(p),
                format!(
                    "{} policy for {} is always true: any user may act on any row",
                    p.command,
                    p.roles.join(", ")
                ),
                format!(
                    "DROP POLICY {} ON {}.{} (writers act as service_role, which bypasses RLS)",
                    ident(&p.name),
                    p.schema,
                    p.table
                ),
            )
        })
        .chain(denials)
        .collect();
    or_pass(
        found,
        CheckId::PolicyAlwaysTrue,
        "public",
        "no permissive policy is always true for anon, authenticated or public",
    )
}

pub fn policy_for_anon(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.roles.iter().any(|r| r == "anon"))
        .filter(|p| spec_of(p).is_some())
        .map(|p| {
            CheckId::PolicyForAnon.fail(
                policy_target(p),
                format!("{} policy applies to anon (not signed in)", p.command),
                format!("DROP POLICY {} ON public.{}", ident(&p.name), p.table),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::PolicyForAnon,
        "public",
        "no policy applies to anon",
    )
}

/// The conjunct of phone_numbers' write policies that keeps a number's
/// assistant the user's own, as `normalize_expr` prints it.
const OWN_ASSISTANT: &str = "assigned_assistant_idisnullorexistsselect1frompublic.assistantsawherea.id=phone_numbers.assigned_assistant_idanda.user_id=selectauth.uid";

pub fn policy_owner_check(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .policies
        .iter()
        .filter(|p| p.permissive && user_facing(p))
        .filter(|p| !always_true(p.using.as_deref()) && !always_true(p.with_check.as_deref()))
        .filter_map(|p| {
            let owner = spec_of(p)?.owner_column;
            if policy_scopes_owner(p, &p.command, owner) {
                // A number routes calls to its assistant: a user's write must
                // keep it to an assistant of theirs (promise 12; the trigger
                // leaves users to this policy).
                let writes = matches!(p.command.as_str(), "INSERT" | "UPDATE" | "ALL");
                let check = p.with_check.as_deref().or(p.using.as_deref()).unwrap_or("");
                // The rule must be a conjunct of its own, exactly: anything
                // OR-ed inside it (`… OR assigned_assistant_id IS NOT NULL`)
                // lets any assistant through.
                let keeps_own = conjuncts(&check.to_lowercase())
                    .iter()
                    .any(|c| normalize_expr(c) == OWN_ASSISTANT);
                if p.table == "phone_numbers" && writes && !keeps_own {
                    return Some(CheckId::PolicyOwnerCheck.fail(
                        policy_target(p),
                        format!(
                            "{} policy for {} does not keep assigned_assistant_id to an assistant of the user's: a number can route its callers to another account's assistant",
                            p.command,
                            p.roles.join(", ")
                        ),
                        MIGRATE,
                    ));
                }
                return None;
            }
            Some(CheckId::PolicyOwnerCheck.fail(
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
        CheckId::PolicyOwnerCheck,
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
            let spec = spec_of(p)?;
            let needed = if p.command == "ALL" {
                spec.user_commands.len() == 4
            } else {
                spec.user_commands.contains(&p.command.as_str())
            };
            (!needed).then(|| {
                CheckId::PolicyUnneededCommand.fail(
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
        CheckId::PolicyUnneededCommand,
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
            CheckId::PolicyNamesRole.warn(
                policy_target(p),
                "policy has no TO clause: it applies to every role",
                "recreate it with TO authenticated",
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::PolicyNamesRole,
        "public",
        "every policy names its role",
    )
}

/// The seven tables' policies, and those of other tables that the catalog reads
/// for another check (a performance warning: deparsing every policy of a large
/// database is what verify must not do).
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
            CheckId::PolicyAuthUidWrapped.warn(
                policy_target(p),
                "auth.uid() is called per row (not wrapped in select)",
                "write (select auth.uid()) so it is evaluated once per statement",
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::PolicyAuthUidWrapped,
        "public",
        "every policy uses (select auth.uid())",
    )
}

/// Policies on a table whose RLS is off are not applied (splinter 0007); the
/// seven tables are `rls-enabled`'s.
pub fn policy_rls_disabled(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .relations
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "r" | "p") && !r.is_spec_table())
        .filter(|r| !r.rls && r.policies > 0)
        .map(|r| {
            CheckId::PolicyRlsDisabled.fail(
                r.qualified(),
                format!(
                    "{} polic{} exist but row level security is off: none of them applies",
                    r.policies,
                    if r.policies == 1 { "y" } else { "ies" }
                ),
                format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY", r.qualified()),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::PolicyRlsDisabled,
        &cat.exposed.join(", "),
        "every table with policies has row level security on",
    )
}

/// A policy that trusts `user_metadata` from the JWT: users edit their own
/// metadata, so it proves nothing (splinter 0015).
pub fn policy_user_metadata(cat: &Catalog) -> Vec<CheckResult> {
    let reads = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| e.to_lowercase().contains("user_metadata"))
    };
    let found = cat
        .policies
        .iter()
        .filter(|p| reads(&p.using) || reads(&p.with_check))
        .map(|p| {
            CheckId::PolicyUserMetadata.fail(
                policy_target(p),
                "policy decides on the JWT's user_metadata, which every user can change for themselves",
                "decide on auth.uid() or on app_metadata (set only by the server)",
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::PolicyUserMetadata,
        &cat.exposed.join(", "),
        "no policy trusts user_metadata",
    )
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::PolicyExpected,
        "public.assistants.assistants_update_own",
        "DROP POLICY assistants_update_own ON public.assistants",
    ),
    Break::fails(
        CheckId::PolicyAlwaysTrue,
        "public.call_logs.x",
        "CREATE POLICY x ON public.call_logs FOR INSERT TO authenticated WITH CHECK (true)",
    )
    .also(&[CheckId::PolicyUnneededCommand]),
    // The owner comparison through a one-byte cast: every id with the same first digit.
    Break::fails(
        CheckId::PolicyOwnerCheck,
        "public.call_logs.call_logs_select_own",
        "DROP POLICY call_logs_select_own ON public.call_logs;
         CREATE POLICY call_logs_select_own ON public.call_logs FOR SELECT TO authenticated
           USING ((user_id::text)::\"char\" = (((select auth.uid()))::text)::\"char\")",
    )
    .also(&[CheckId::PolicyExpected]),
    // The owner conjunct kept, the own-assistant one dropped.
    Break::fails(
        CheckId::PolicyOwnerCheck,
        "public.phone_numbers.phone_numbers_insert_own",
        "DROP POLICY phone_numbers_insert_own ON public.phone_numbers;
         CREATE POLICY phone_numbers_insert_own ON public.phone_numbers FOR INSERT TO authenticated
           WITH CHECK (user_id = (select auth.uid()))",
    ),
    // The own-assistant rule kept in words, then OR-ed away inside its conjunct.
    Break::fails(
        CheckId::PolicyOwnerCheck,
        "public.phone_numbers.phone_numbers_insert_own",
        "DROP POLICY phone_numbers_insert_own ON public.phone_numbers;
         CREATE POLICY phone_numbers_insert_own ON public.phone_numbers FOR INSERT TO authenticated
           WITH CHECK (user_id = (select auth.uid()) AND (assigned_assistant_id IS NULL
             OR EXISTS (SELECT 1 FROM public.assistants a
                        WHERE a.id = phone_numbers.assigned_assistant_id AND a.user_id = (select auth.uid()))
             OR assigned_assistant_id IS NOT NULL))",
    ),
    Break::fails(
        CheckId::PolicyAlwaysTrue,
        "public.assistants.maintenance",
        "CREATE POLICY maintenance ON public.assistants AS RESTRICTIVE FOR ALL TO authenticated USING (false) WITH CHECK (false)",
    ),
    Break::fails(
        CheckId::PolicyForAnon,
        "public.assistants.peek",
        "CREATE POLICY peek ON public.assistants FOR SELECT TO anon USING (user_id = (select auth.uid()))",
    ),
    Break::fails(
        CheckId::PolicyOwnerCheck,
        "public.assistants.named",
        "CREATE POLICY named ON public.assistants FOR DELETE TO authenticated USING (name IS NOT NULL)",
    ),
    Break::fails(
        CheckId::PolicyOwnerCheck,
        "public.call_logs.sneaky",
        "CREATE POLICY sneaky ON public.call_logs FOR SELECT TO authenticated USING (user_id = (select auth.uid()) OR true)",
    ),
    Break::fails(
        CheckId::PolicyOwnerCheck,
        "public.call_logs.sneaky",
        "CREATE POLICY sneaky ON public.call_logs FOR SELECT TO authenticated USING (true OR user_id = (select auth.uid()))",
    ),
    Break::fails(
        CheckId::PolicyUnneededCommand,
        "public.user_limits.raise",
        "CREATE POLICY raise ON public.user_limits FOR UPDATE TO authenticated USING (user_id = (select auth.uid()))",
    ),
    Break::warns(
        CheckId::PolicyNamesRole,
        "public.call_logs.roleless",
        "CREATE POLICY roleless ON public.call_logs FOR SELECT USING (user_id = (select auth.uid()))",
    ),
    Break::warns(
        CheckId::PolicyAuthUidWrapped,
        "public.call_logs.per_row",
        "CREATE POLICY per_row ON public.call_logs FOR SELECT TO authenticated USING (user_id = auth.uid())",
    ),
    Break::fails(
        CheckId::PolicyRlsDisabled,
        "public.drafts",
        "CREATE TABLE public.drafts (id int PRIMARY KEY, user_id uuid);
         CREATE POLICY drafts_own ON public.drafts FOR SELECT TO authenticated USING (user_id = (select auth.uid()))",
    ),
    Break::fails(
        CheckId::PolicyUserMetadata,
        "public.call_logs.admins_see_all",
        "CREATE POLICY admins_see_all ON public.call_logs FOR SELECT TO authenticated
           USING (((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'admin')",
    )
    .also(&[CheckId::PolicyOwnerCheck]),
];

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
