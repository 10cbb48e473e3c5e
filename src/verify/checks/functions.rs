//! Functions: security, search_path and who may execute them.

use super::*;
use crate::verify::catalog::Function;
use std::collections::BTreeSet;

fn find_function<'a>(cat: &'a Catalog, signature: &str) -> Option<&'a Function> {
    cat.public_functions().find(|f| f.signature == signature)
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
                // A SET clause of its own (session_replication_role, row_security, …)
                // changes what it does for every caller.
                Some(f) if !f.other_settings().is_empty() => CheckId::FunctionSecurity.fail(
                    target,
                    format!(
                        "function also sets {}: the files set only its search_path",
                        f.other_settings().join(", ")
                    ),
                    f.other_settings()
                        .iter()
                        .map(|c| {
                            format!(
                                "ALTER FUNCTION public.{} RESET {}",
                                spec.signature,
                                c.split('=').next().unwrap_or(c)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                // A writing function made STABLE fails ("not allowed in a
                // non-volatile function"); one made IMMUTABLE may be cached.
                Some(f) if expect::function_volatility(spec.signature)
                    .is_some_and(|v| v != f.volatility) =>
                {
                    let word = |v: &str| match v {
                        "i" => "IMMUTABLE",
                        "s" => "STABLE",
                        _ => "VOLATILE",
                    };
                    let want = word(expect::function_volatility(spec.signature).unwrap_or("v"));
                    CheckId::FunctionSecurity.fail(
                        target,
                        format!(
                            "function is {} (the files make it {want}): a function that writes then fails, one that reads may be answered from a cache",
                            word(&f.volatility)
                        ),
                        format!("ALTER FUNCTION public.{} {want}", spec.signature),
                    )
                }
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

/// Every function in an exposed schema pins its search_path: the schema's own
/// functions one line each, any other only when it does not (else one summary line).
pub fn function_search_path(cat: &Catalog) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let mut others_fail = false;
    for f in &cat.functions {
        let own = f.schema == "public" && find_spec(&f.signature).is_some();
        let target = f.qualified();
        if let (true, Some(path)) = (own, f.search_path()) {
            // The schema's own: nothing a caller can write before pg_catalog,
            // and pg_temp (if named) last.
            let schemas: Vec<&str> = path
                .split(',')
                .map(|s| s.trim().trim_matches('"'))
                .filter(|s| !s.is_empty())
                .collect();
            let safe = schemas
                .iter()
                .enumerate()
                .all(|(i, s)| *s == "pg_catalog" || (*s == "pg_temp" && i + 1 == schemas.len()));
            out.push(if safe {
                CheckId::FunctionSearchPath.pass(target, "search_path is pinned")
            } else {
                CheckId::FunctionSearchPath.fail(
                    target,
                    format!("search_path is `{path}`: a schema other than pg_catalog, or pg_temp before the end, lets others' objects shadow the ones it uses"),
                    format!("ALTER FUNCTION {} SET search_path = pg_catalog, pg_temp", f.qualified()),
                )
            });
            continue;
        }
        if f.pins_search_path() {
            continue;
        }
        others_fail |= !own;
        out.push(CheckId::FunctionSearchPath.fail(
            target,
            format!(
                "search_path is mutable{}: a caller's objects can shadow the ones it uses",
                if f.security_definer {
                    " in a SECURITY DEFINER function"
                } else {
                    ""
                }
            ),
            format!("ALTER {} {} SET search_path = ''", f.kind(), f.qualified()),
        ));
    }
    if !others_fail {
        out.push(CheckId::FunctionSearchPath.pass(
            cat.exposed.join(", "),
            "every other function in the exposed schemas pins search_path",
        ));
    }
    out
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
            let spec = (f.schema == "public")
                .then(|| find_spec(&f.signature))
                .flatten();
            // A trigger function cannot be called through the API.
            if spec.is_none() && f.trigger {
                return None;
            }
            let allows_authenticated =
                spec.is_some_and(|s| s.security_definer && s.execute.contains(&"authenticated"));
            let mut holders: Vec<&str> = f
                .execute
                .iter()
                .chain(&f.callers)
                .map(String::as_str)
                .filter(|r| match *r {
                    "PUBLIC" | "anon" => true,
                    "authenticated" => !allows_authenticated,
                    _ => false,
                })
                .collect();
            holders.sort();
            holders.dedup();
            if holders.is_empty() {
                return None;
            }
            let target = f.qualified();
            let kind = f.kind();
            Some(CheckId::DefinerExecutable.fail(
                &target,
                format!(
                    "SECURITY DEFINER function is executable by {}: it runs with its owner's rights for any caller",
                    holders.join(", ")
                ),
                format!(
                    "REVOKE EXECUTE ON {kind} {target} FROM {}, or ALTER {kind} {target} SECURITY INVOKER",
                    holders.join(", "),
                ),
            ))
        })
        .chain(cat.definer_triggers.iter().map(|t| {
            CheckId::DefinerExecutable.warn(
                format!("{}.{}.{}", t.schema, t.table, t.name),
                format!(
                    "{} may write {}.{}, and every write fires the SECURITY DEFINER trigger function {}: it runs with its owner's rights, past RLS, for them",
                    t.writers.join(" and "),
                    t.schema,
                    t.table,
                    t.function
                ),
                format!(
                    "if its owner's rights are not meant for every writer: ALTER FUNCTION {} SECURITY INVOKER",
                    t.function
                ),
            )
        }))
        .chain(cat.hidden_functions.iter().map(|h| {
            let remedy = format!(
                "REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC, {}",
                h.function,
                h.callers.join(", ")
            );
            if h.used_by.is_empty() {
                CheckId::DefinerExecutable.warn(
                    h.function.clone(),
                    format!(
                        "SECURITY DEFINER function outside the exposed schemas that {} may execute: any function or view of an exposed schema that runs with the caller's rights hands them its owner's rights",
                        h.callers.join(" and ")
                    ),
                    remedy,
                )
            } else {
                CheckId::DefinerExecutable.fail(
                    h.function.clone(),
                    format!(
                        "SECURITY DEFINER function outside the exposed schemas that {} may execute, called by {}: the API hands them its owner's rights",
                        h.callers.join(" and "),
                        h.used_by.join(", ")
                    ),
                    remedy,
                )
            }
        }))
        .collect();
    or_pass(
        found,
        CheckId::DefinerExecutable,
        &cat.exposed.join(", "),
        "no SECURITY DEFINER function is executable by PUBLIC, anon or (unless expected) authenticated",
    )
}

fn find_spec(signature: &str) -> Option<&'static expect::FunctionSpec> {
    expect::FUNCTIONS.iter().find(|s| s.signature == signature)
}

/// pg_cron installed here: a job calls a cleanup function, is active, runs in
/// this database, and its user may execute the function. Not installed: a warning.
/// The command is one plain call of `public.{name}()` (`SELECT`, optionally
/// unqualified, any case and spacing, a trailing `;`): not a call inside
/// other SQL that may skip it, not a mention in a comment.
fn plain_call(command: &str, name: &str) -> bool {
    let text: String = command
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let text = text.trim_end_matches(';').trim();
    let Some(call) = text.strip_prefix("select ") else {
        return false;
    };
    let call = call.trim().replace(' ', "");
    call == format!("public.{name}()") || call == format!("{name}()")
}

/// pg_cron runs the schedule at least once a day: `N seconds`, `@daily`,
/// `@midnight`, `@hourly`, or five fields whose day-of-month, month and
/// day-of-week are all `*`.
fn at_least_daily(schedule: &str) -> bool {
    let s = schedule.trim().to_lowercase();
    if matches!(s.as_str(), "@daily" | "@midnight" | "@hourly") {
        return true;
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    match fields.as_slice() {
        [n, unit] if n.parse::<u32>().is_ok() => unit.starts_with("second"),
        [_, _, dom, month, dow] => [dom, month, dow].iter().all(|f| matches!(**f, "*" | "*/1")),
        _ => false,
    }
}

pub fn cleanup_schedule(cat: &Catalog) -> Vec<CheckResult> {
    let schedule = format!("CREATE EXTENSION pg_cron; {}", expect::CLEANUP_SCHEDULE_SQL);
    if !cat.cron {
        return vec![CheckId::CleanupSchedule.warn(
            "cron.job",
            "pg_cron is not installed in this database: nothing deletes expired demo users on a schedule",
            schedule,
        )];
    }
    if !cat.cron_readable {
        return vec![CheckId::CleanupSchedule.fail(
            "cron.job",
            "pg_cron is installed but this role may not read cron.job: the schedule cannot be verified",
            "run verify as the role that owns the cron jobs (Supabase's postgres), or GRANT USAGE ON SCHEMA cron and SELECT ON cron.job to it",
        )];
    }
    let cleanup: Vec<&str> = expect::FUNCTIONS
        .iter()
        .filter(|f| f.cleanup)
        .map(|f| f.signature)
        .collect();
    let calls = |command: &str, signature: &str| {
        let name = signature.split('(').next().unwrap_or(signature);
        command.to_lowercase().contains(name)
    };
    let jobs: Vec<_> = cat
        .cron_jobs
        .iter()
        .filter(|j| cleanup.iter().any(|s| calls(&j.command, s)))
        .collect();
    if jobs.is_empty() {
        return vec![CheckId::CleanupSchedule.fail(
            "cron.job",
            "no pg_cron job calls the demo cleanup: expired demo users are never deleted",
            expect::CLEANUP_SCHEDULE_SQL,
        )];
    }
    jobs.into_iter()
        .map(|j| {
            let target = format!("cron.job.{}", j.name.as_deref().unwrap_or("(unnamed)"));
            let called: Vec<&str> = cleanup.iter().copied().filter(|s| calls(&j.command, s)).collect();
            let user = j.username.as_deref().unwrap_or("(no user)");
            let mut problems = Vec::new();
            if !j.active {
                problems.push("the job is not active".to_string());
            }
            if !called.iter().any(|f| plain_call(&j.command, f.split('(').next().unwrap_or(f))) {
                problems.push(format!(
                    "its command `{}` is not a plain call (`SELECT public.{}`)",
                    j.command,
                    called.first().copied().unwrap_or_default()
                ));
            }
            if let Some(host) = j.nodename.as_deref().filter(|h| {
                !matches!(*h, "" | "localhost" | "127.0.0.1" | "::1") && !h.starts_with('/')
            }) {
                problems.push(format!("it connects to {host}, not this server"));
            }
            if let (Some(port), Some(ours)) = (j.nodeport, j.server_port) {
                if port != ours {
                    problems.push(format!(
                        "it connects to port {port}, not this server's {ours}"
                    ));
                }
            }
            // Only the cleanup of call-logs-schema.sql also deletes demos at
            // 600 s of calls; schema.sql's deletes those past 7 days alone.
            let full = cleanup
                .iter()
                .copied()
                .find(|f| f.starts_with("cleanup_demo_users_with_call_limits("));
            if let Some(full) = full.filter(|f| {
                cat.public_functions().any(|p| p.signature == *f) && !called.contains(f)
            }) {
                problems.push(format!(
                    "it calls only public.{}, which leaves demo users who reached 600 s of calls until their 7 days are over (public.{full} deletes both)",
                    called.first().copied().unwrap_or_default()
                ));
            }
            if j.database.as_deref().is_some_and(|d| d != cat.database) {
                problems.push(format!(
                    "the job runs in database {}, not this one",
                    j.database.as_deref().unwrap_or_default()
                ));
            }
            for f in &called {
                if !j.may_execute.iter().any(|m| m == f) {
                    problems.push(format!("its user {user} may not execute public.{f}"));
                }
            }
            if problems.is_empty() && !at_least_daily(&j.schedule) {
                CheckId::CleanupSchedule.warn(
                    target,
                    format!(
                        "runs `{}` on `{}`, less often than daily: expired demo users stay until it runs",
                        j.command, j.schedule
                    ),
                    format!(
                        "SELECT cron.alter_job(jobid, schedule := '17 3 * * *') FROM cron.job WHERE jobname = '{}'",
                        j.name.as_deref().unwrap_or_default()
                    ),
                )
            } else if problems.is_empty() {
                CheckId::CleanupSchedule.pass(
                    target,
                    format!("runs `{}` on `{}` as {user}", j.command, j.schedule),
                )
            } else {
                CheckId::CleanupSchedule.fail(
                    target,
                    format!("the demo cleanup job never runs successfully: {}", problems.join("; ")),
                    format!(
                        "SELECT cron.alter_job(jobid, active := true) FROM cron.job WHERE jobname = '{}'; GRANT EXECUTE ON FUNCTION public.{} TO {user}",
                        j.name.as_deref().unwrap_or_default(),
                        called.first().copied().unwrap_or_default()
                    ),
                )
            }
        })
        .collect()
}

/// The functions `source` (an auth function's SQL body) calls besides the
/// ones Supabase's own definitions use (`coalesce`, `nullif`,
/// `current_setting`, `auth.jwt()`); string literals and casts are skipped.
fn foreign_calls(source: &str) -> Vec<String> {
    const ALLOWED: &[&str] = &[
        "coalesce",
        "nullif",
        "current_setting",
        "pg_catalog.current_setting",
        "jwt",
        "auth.jwt",
    ];
    const KEYWORDS: &[&str] = &[
        "select", "and", "or", "not", "in", "exists", "when", "then", "else", "case", "as", "from",
        "where", "return", "returns", "begin", "atomic", "values", "is", "null",
    ];
    // String literals out: their text is data, not calls.
    let mut text = String::new();
    let mut in_quote = false;
    for c in source.to_lowercase().chars() {
        if c == '\'' {
            in_quote = !in_quote;
            text.push(' ');
        } else if !in_quote {
            text.push(c);
        }
    }
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '"' | '$');
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !word(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && word(chars[i]) {
            i += 1;
        }
        let token: String = chars[start..i].iter().collect::<String>().replace('"', "");
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let cast = chars[..start]
            .iter()
            .rev()
            .find(|c| !c.is_whitespace())
            .is_some_and(|&c| c == ':');
        let numeric = token
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.');
        if j < chars.len()
            && chars[j] == '('
            && !cast
            && !numeric
            && !ALLOWED.contains(&token.as_str())
            && !KEYWORDS.contains(&token.as_str())
            && !found.contains(&token)
        {
            found.push(token);
        }
    }
    found
}

/// `auth.uid()`, `auth.role()` and `auth.jwt()`: every policy tells users
/// apart through them, so each must read the request's JWT claims
/// (`request.jwt.claims`, as PostgREST sets them; `uid()` the `sub` claim,
/// `role()` the `role` claim), and `authenticated` must be able to call `uid()`.
pub fn auth_functions(cat: &Catalog) -> Vec<CheckResult> {
    let restore = "restore Supabase's definition (its auth migrations; for plain PostgreSQL sql/supabase-compat.sql)";
    cat.guards
        .auth_functions
        .iter()
        .map(|f| {
            let target = format!("auth.{}", f.signature);
            let Some(source) = &f.source else {
                return CheckId::AuthFunctions.fail(
                    target,
                    "does not exist: the policies cannot tell users apart",
                    restore,
                );
            };
            let claim = match f.signature.as_str() {
                "uid()" => Some("sub"),
                "role()" => Some("role"),
                _ => None,
            };
            let reads_jwt = source.contains("request.jwt.claim")
                && claim.is_none_or(|c| source.contains(&format!("'{c}'")) || source.contains(&format!(".{c}'")));
            if !reads_jwt {
                let what = claim.map_or("the request's JWT claims".to_string(), |c| {
                    format!("the request's JWT `{c}` claim")
                });
                return CheckId::AuthFunctions.fail(
                    target,
                    format!("does not read {what} (request.jwt.claims): every policy that compares with it stops telling users apart"),
                    restore,
                );
            }
            // A SET clause changes what it reads (SET request.jwt.claims = …
            // makes every caller one user).
            if let Some(config) = f.config.as_ref().filter(|c| !c.is_empty()) {
                return CheckId::AuthFunctions.fail(
                    target,
                    format!("sets {} for its own run: it no longer reads the request's own claims", config.join(", ")),
                    format!("ALTER FUNCTION auth.{} RESET ALL", f.signature),
                );
            }
            // Every setting it reads is the JWT's: one the client sends
            // otherwise (request.headers, …) picks the identity.
            let lower = source.to_lowercase();
            if lower.matches("current_setting").count()
                > lower.matches("current_setting('request.jwt.claim").count()
            {
                return CheckId::AuthFunctions.fail(
                    target,
                    "reads a setting besides the request's JWT claims (e.g. request.headers, which the client sends): the client picks the identity",
                    restore,
                );
            }
            // user_metadata is the user's own to write (auth.updateUser): an
            // identity or role taken from it is whatever the user says.
            if source.to_lowercase().contains("user_metadata") {
                return CheckId::AuthFunctions.fail(
                    target,
                    "reads user_metadata, which every user may write: a policy that compares with it trusts what the user says",
                    restore,
                );
            }
            // IMMUTABLE lets a cached plan (PostgREST prepares its
            // statements on pooled connections) keep the first caller's id.
            if f.volatility.as_deref() == Some("i") {
                return CheckId::AuthFunctions.fail(
                    target,
                    "is IMMUTABLE: a plan cached on a pooled connection keeps the first caller's identity for the next users",
                    format!("ALTER FUNCTION auth.{} STABLE", f.signature),
                );
            }
            // It reads the claims itself: a call of another function (one
            // that reads a header, a table, whatever) is an identity the
            // text above cannot vouch for.
            let calls = foreign_calls(source);
            if !calls.is_empty() {
                return CheckId::AuthFunctions.fail(
                    target,
                    format!(
                        "calls {}: what it returns is no longer only the request's JWT claims",
                        calls.join(", ")
                    ),
                    restore,
                );
            }
            if f.signature == "uid()" && !f.authenticated_may {
                return CheckId::AuthFunctions.fail(
                    target,
                    "authenticated may not execute it: every policy that calls it fails with permission denied",
                    "GRANT EXECUTE ON FUNCTION auth.uid() TO authenticated",
                );
            }
            CheckId::AuthFunctions.pass(
                target,
                match claim {
                    Some(c) => format!("reads the request's JWT `{c}` claim"),
                    None => "reads the request's JWT claims".to_string(),
                },
            )
        })
        .chain(cat.guards.auth_overloads.iter().map(|sig| {
            CheckId::AuthFunctions.fail(
                sig.clone(),
                format!(
                    "an overload of the function the policies call: a policy calling {sig} with its defaults prints exactly as the real one, and every `auth.{}` call becomes ambiguous",
                    sig.split('(').next().unwrap_or(sig).trim_start_matches("auth.").to_string() + "()"
                ),
                format!("DROP FUNCTION {sig}"),
            )
        }))
        .collect()
}

/// Each function of the schema has the body the files give it: a function
/// edited by hand (the dashboard's SQL editor) keeps its name, security and
/// search_path, and no other static check sees that it now does something else.
pub fn function_body(cat: &Catalog) -> Vec<CheckResult> {
    expect::FUNCTIONS
        .iter()
        .filter_map(|spec| {
            let got = cat
                .guards
                .function_bodies
                .iter()
                .find(|b| b.signature == spec.signature)?;
            let want = expect::function_body_sha256(spec.signature)?;
            let target = format!("public.{}", spec.signature);
            Some(if got.sha256 == want {
                CheckId::FunctionBody.pass(target, "body as the schema files define it")
            } else {
                let file = expect::function_definition(spec.signature)
                    .map_or("the file that defines it", |(m, _)| m.name);
                CheckId::FunctionBody.fail(
                    target,
                    "its body differs from the one the schema files define (changed by hand?): what it does is no longer what the promises were proven with",
                    format!("re-create it: `vmx show {file} | psql \"$DATABASE_URL\"` (the file converges)"),
                )
            })
        })
        .collect()
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
        CheckId::FunctionSearchPath,
        "public.enforce_assistant_limit()",
        "ALTER FUNCTION public.enforce_assistant_limit() SET search_path = public, pg_catalog, pg_temp",
    ),
    // A setting named like it is not it: the function's search_path is the caller's.
    Break::fails(
        CheckId::FunctionSearchPath,
        "public.vmx_break_fake_path()",
        "CREATE FUNCTION public.vmx_break_fake_path() RETURNS integer LANGUAGE sql
           SET app.search_path = '' AS 'SELECT 1';
         REVOKE EXECUTE ON FUNCTION public.vmx_break_fake_path() FROM PUBLIC",
    ),
    Break::fails(
        CheckId::FunctionSecurity,
        "public.track_assistant_usage()",
        "ALTER FUNCTION public.track_assistant_usage() SET session_replication_role = replica",
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
    // An invoker view whose INSTEAD OF trigger writes user_limits as its owner.
    Break::warns(
        CheckId::DefinerExecutable,
        "public.my_plan.my_plan_update",
        "CREATE VIEW public.my_plan WITH (security_invoker = true) AS
           SELECT user_id, plan_type, max_assistants FROM public.user_limits;
         GRANT SELECT, UPDATE ON public.my_plan TO authenticated;
         CREATE FUNCTION public.my_plan_update() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
           AS $$ BEGIN UPDATE public.user_limits SET plan_type = NEW.plan_type, max_assistants = NEW.max_assistants
                 WHERE user_id = OLD.user_id; RETURN NEW; END $$;
         REVOKE ALL ON FUNCTION public.my_plan_update() FROM PUBLIC;
         CREATE TRIGGER my_plan_update INSTEAD OF UPDATE ON public.my_plan
           FOR EACH ROW EXECUTE FUNCTION public.my_plan_update()",
    ),
    // One hop away: a definer function of a hidden schema, called by an
    // invoker function of public that the users may call.
    Break::fails(
        CheckId::DefinerExecutable,
        "private.all_emails()",
        "CREATE SCHEMA private;
         CREATE FUNCTION private.all_emails() RETURNS TABLE(id uuid, email text) LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = pg_catalog, pg_temp AS $$ SELECT u.id, u.email::text FROM auth.users u $$;
         GRANT USAGE ON SCHEMA private TO authenticated;
         REVOKE ALL ON FUNCTION private.all_emails() FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION private.all_emails() TO authenticated;
         CREATE FUNCTION public.member_directory() RETURNS TABLE(id uuid, email text) LANGUAGE sql STABLE SECURITY INVOKER
           SET search_path = pg_catalog, pg_temp AS $$ SELECT * FROM private.all_emails() $$;
         REVOKE ALL ON FUNCTION public.member_directory() FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION public.member_directory() TO authenticated",
    ),
    // A procedure: CALLed by any invoker function the API reaches.
    Break::fails(
        CheckId::DefinerExecutable,
        "public.apply_promo(text)",
        "CREATE PROCEDURE public.apply_promo(code text) LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
           AS $$ BEGIN UPDATE public.user_limits SET plan_type = 'pro', max_assistants = 100 WHERE user_id = auth.uid(); END $$",
    ),
    Break::fails(
        CheckId::CleanupSchedule,
        "cron.job",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin}",
    ),
    Break::fails(
        CheckId::CleanupSchedule,
        "cron.job.demo-cleanup",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin};
         INSERT INTO cron.job (schedule, command, database, username, active, jobname)
           VALUES ('17 * * * *', 'SELECT public.cleanup_demo_users_with_call_limits()', current_database(), 'authenticated', true, 'demo-cleanup')",
    ),
    Break::fails(
        CheckId::CleanupSchedule,
        "cron.job.demo-cleanup",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin};
         INSERT INTO cron.job (schedule, command, database, username, active, jobname)
           VALUES ('17 * * * *', 'SELECT public.cleanup_demo_users_with_call_limits()', current_database(), 'service_role', false, 'demo-cleanup')",
    ),
    // Mentions the cleanup, never calls it.
    Break::fails(
        CheckId::CleanupSchedule,
        "cron.job.demo-cleanup",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin};
         INSERT INTO cron.job (schedule, command, database, username, active, jobname)
           VALUES ('17 3 * * *', 'SELECT 1 -- public.cleanup_demo_users_with_call_limits()', current_database(), 'service_role', true, 'demo-cleanup')",
    ),
    Break::warns(
        CheckId::CleanupSchedule,
        "cron.job.demo-cleanup",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin};
         INSERT INTO cron.job (schedule, command, nodename, database, username, active, jobname)
           VALUES ('17 3 1 * *', 'SELECT public.cleanup_demo_users_with_call_limits();', 'localhost', current_database(), 'service_role', true, 'demo-cleanup')",
    ),
    // Connects to a port this server does not listen on.
    Break::fails(
        CheckId::CleanupSchedule,
        "cron.job.demo-cleanup",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin};
         INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, active, jobname)
           VALUES ('17 3 * * *', 'SELECT public.cleanup_demo_users_with_call_limits()', 'localhost',
                   current_setting('port')::int + 1, current_database(), 'service_role', true, 'demo-cleanup')",
    ),
    // Calls only the 7-day cleanup of schema.sql: demos at 600 s stay.
    Break::fails(
        CheckId::CleanupSchedule,
        "cron.job.demo-cleanup",
        "CREATE SCHEMA cron;
         CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
           nodename text, nodeport int, database text, username text, active boolean DEFAULT true, jobname text);
         GRANT USAGE ON SCHEMA cron TO {admin}; GRANT SELECT ON cron.job TO {admin};
         INSERT INTO cron.job (schedule, command, nodename, database, username, active, jobname)
           VALUES ('17 3 * * *', 'SELECT public.cleanup_expired_demos()', 'localhost', current_database(), 'service_role', true, 'demo-cleanup')",
    ),
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid()",
        "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
           AS $$ SELECT '00000000-0000-0000-0000-000000000001'::uuid $$",
    ),
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid()",
        "REVOKE EXECUTE ON FUNCTION auth.uid() FROM PUBLIC, authenticated",
    ),
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid()",
        "DO $$ BEGIN EXECUTE format('ALTER FUNCTION auth.uid() SET request.jwt.claims = %L',
           json_build_object('sub', gen_random_uuid(), 'role', 'authenticated')::text); END $$",
    ),
    // A header the client sends chooses the identity.
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid()",
        "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
           AS $$ SELECT coalesce(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-impersonate',
                                 nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$",
    ),
    // Reads the JWT, and before it a helper that reads a header the client sends.
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid()",
        "CREATE FUNCTION auth.request_header(h text) RETURNS text LANGUAGE sql STABLE SET search_path = ''
           AS $$ SELECT nullif(pg_catalog.current_setting('request.headers', true), '')::jsonb ->> h $$;
         CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
           AS $$ SELECT coalesce(auth.request_header('x-act-as'),
                   nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', ''))::uuid $$",
    ),
    // A trigger function that writes, made STABLE: every completion fails.
    Break::fails(
        CheckId::FunctionSecurity,
        "public.track_call_usage()",
        "ALTER FUNCTION public.track_call_usage() STABLE",
    ),
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid()",
        "ALTER FUNCTION auth.uid() IMMUTABLE",
    ),
    // An overload a policy can call as `auth.uid()` (its default argument is not printed).
    Break::fails(
        CheckId::AuthFunctions,
        "auth.uid(integer)",
        "CREATE FUNCTION auth.uid(k integer DEFAULT 0) RETURNS uuid LANGUAGE sql STABLE SET search_path = ''
           AS $$ SELECT (pg_catalog.current_setting('request.jwt.claims', true)::jsonb -> 'user_metadata' ->> 'act_as')::uuid $$",
    )
    .also(&[CheckId::ProbeRun]),
    // Reads the JWT and the claim's name, but from what the user writes.
    Break::fails(
        CheckId::AuthFunctions,
        "auth.role()",
        "CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE
           AS $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'user_metadata' ->> 'role', 'anon') $$",
    ),
    Break::fails(
        CheckId::FunctionBody,
        "public.enforce_assistant_limit()",
        "CREATE OR REPLACE FUNCTION public.enforce_assistant_limit() RETURNS trigger LANGUAGE plpgsql
           SECURITY DEFINER SET search_path = pg_catalog, pg_temp
           AS $$ BEGIN RETURN NEW; END $$",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_volatility_is_read_from_each_header() {
        assert_eq!(
            expect::function_volatility("get_user_call_usage(uuid)"),
            Some("s")
        );
        assert_eq!(expect::function_volatility("track_call_usage()"), Some("v"));
        for f in expect::FUNCTIONS {
            assert!(
                expect::function_volatility(f.signature).is_some(),
                "{}",
                f.signature
            );
        }
    }

    #[test]
    fn auth_functions_may_call_only_what_supabase_uses() {
        let compat = "SELECT coalesce(
            nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', ''),
            nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''))::uuid";
        assert!(foreign_calls(compat).is_empty());
        assert!(foreign_calls(
            "select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid"
        )
        .is_empty());
        assert!(foreign_calls("select (auth.jwt() ->> 'sub')::varchar(36)::uuid").is_empty());
        assert_eq!(
            foreign_calls("select coalesce(auth.request_header('x'), current_setting('a'))::uuid"),
            vec!["auth.request_header".to_string()]
        );
        assert_eq!(
            foreign_calls("select \"lookup\" ('f(x)')"),
            vec!["lookup".to_string()]
        );
    }

    #[test]
    fn a_plain_call_is_one_select_of_the_function() {
        let name = "cleanup_demo_users_with_call_limits";
        for yes in [
            "select public.cleanup_demo_users_with_call_limits()",
            "SELECT  public.cleanup_demo_users_with_call_limits( );",
            "select cleanup_demo_users_with_call_limits()",
        ] {
            assert!(plain_call(yes, name), "{yes}");
        }
        for no in [
            "select 1 -- public.cleanup_demo_users_with_call_limits()",
            "select public.cleanup_demo_users_with_call_limits() where false",
            "select evil.cleanup_demo_users_with_call_limits()",
            "vacuum",
        ] {
            assert!(!plain_call(no, name), "{no}");
        }
    }

    #[test]
    fn daily_or_more_often() {
        for yes in [
            "17 3 * * *",
            "*/5 * * * *",
            "30 seconds",
            "@daily",
            "0 0,12 * * */1",
        ] {
            assert!(at_least_daily(yes), "{yes}");
        }
        for no in [
            "17 3 1 * *",
            "0 0 * * 0",
            "0 0 30 2 *",
            "@weekly",
            "nonsense",
        ] {
            assert!(!at_least_daily(no), "{no}");
        }
    }
}
