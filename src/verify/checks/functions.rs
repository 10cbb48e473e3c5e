//! Functions: security, search_path and who may execute them.

use super::*;
use crate::verify::catalog::Function;
use std::collections::BTreeSet;

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
                None => CheckId::FunctionSecurity.fail(target, "function is missing", MIGRATE),
                Some(f) if f.security_definer == spec.security_definer => {
                    CheckId::FunctionSecurity.pass(target, security(f.security_definer))
                }
                Some(f) => CheckId::FunctionSecurity.fail(
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
                CheckId::FunctionSearchPath.pass(target, "search_path is pinned")
            } else {
                CheckId::FunctionSearchPath.fail(
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
                CheckId::FunctionExecute.pass(
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
                CheckId::FunctionExecute.fail(
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
            Some(CheckId::DefinerExecutable.fail(format!("public.{}", f.signature),
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
    or_pass(found, CheckId::DefinerExecutable, "public",
        "no SECURITY DEFINER function is executable by PUBLIC, anon or (unless expected) authenticated",
    )
}

fn find_spec(signature: &str) -> Option<&'static expect::FunctionSpec> {
    expect::FUNCTIONS.iter().find(|s| s.signature == signature)
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::FunctionSecurity,
        "public.set_updated_at()",
        "ALTER FUNCTION public.set_updated_at() SECURITY DEFINER",
    ),
    Break::fails(
        CheckId::FunctionSearchPath,
        "public.handle_new_user()",
        "ALTER FUNCTION public.handle_new_user() RESET search_path",
    ),
    Break::fails(
        CheckId::FunctionExecute,
        "public.cleanup_expired_demos()",
        "GRANT EXECUTE ON FUNCTION public.cleanup_expired_demos() TO authenticated",
    )
    .also(&[CheckId::DefinerExecutable]),
    Break::fails(
        CheckId::DefinerExecutable,
        "public.peek_usage(uuid)",
        "CREATE FUNCTION public.peek_usage(u uuid) RETURNS integer LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1';
         REVOKE EXECUTE ON FUNCTION public.peek_usage(uuid) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION public.peek_usage(uuid) TO authenticated",
    ),
    Break::fails(
        CheckId::DefinerExecutable,
        "public.leak()",
        "CREATE FUNCTION public.leak() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1';
         GRANT EXECUTE ON FUNCTION public.leak() TO anon",
    ),
    Break::fails(
        CheckId::DefinerExecutable,
        "public.leak()",
        "CREATE FUNCTION public.leak() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1';
         REVOKE EXECUTE ON FUNCTION public.leak() FROM anon, authenticated",
    ),
];
