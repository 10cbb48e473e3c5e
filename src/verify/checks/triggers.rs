//! Triggers: present and firing.

use super::*;

fn trigger_target(t: &expect::TriggerSpec) -> String {
    format!("{}.{}.{}", t.schema, t.table, t.name)
}

fn find_trigger<'a>(
    cat: &'a Catalog,
    spec: &expect::TriggerSpec,
) -> Option<&'a crate::verify::catalog::Trigger> {
    let on_table =
        |t: &&crate::verify::catalog::Trigger| t.schema == spec.schema && t.table == spec.table;
    cat.triggers
        .iter()
        .filter(on_table)
        .find(|t| t.name == spec.name)
}

/// A trigger definition for comparison: as [`normalize_expr`], after turning
/// `a IS NOT DISTINCT FROM b` into `NOT a IS DISTINCT FROM b` (how the server
/// prints it).
fn normalize_trigger(definition: &str) -> String {
    let mut words: Vec<&str> = definition.split_whitespace().collect();
    let mut i = 1;
    while i + 3 < words.len() {
        if words[i..i + 4]
            .iter()
            .map(|w| w.to_ascii_uppercase())
            .eq(["IS", "NOT", "DISTINCT", "FROM"])
        {
            words.remove(i + 1);
            words.insert(i - 1, "NOT");
        }
        i += 1;
    }
    normalize_expr(&words.join(" "))
}

/// Triggers of a missing table are not reported again (table-exists says so).
pub fn trigger_present(cat: &Catalog) -> Vec<CheckResult> {
    expect::TRIGGERS
        .iter()
        .filter(|spec| spec.schema != "public" || cat.table(spec.table).is_some())
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
                return CheckId::TriggerPresent.fail(
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
            let source = expect::trigger_definition(spec);
            let drifted = source
                .as_deref()
                .filter(|d| normalize_trigger(d) != normalize_trigger(&t.definition));
            if let (true, Some(source)) = (got == want, drifted) {
                CheckId::TriggerPresent.fail(
                    target,
                    format!(
                        "trigger is `{}`, not the schema's `{source}`: its columns, WHEN condition or function differ",
                        t.definition
                    ),
                    source.replacen("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1),
                )
            } else if got == want {
                CheckId::TriggerPresent.pass(target, want)
            } else {
                CheckId::TriggerPresent.fail(
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
                CheckId::TriggerEnabled.fail(
                    target,
                    "trigger is DISABLED",
                    format!(
                        "ALTER TABLE {}.{} ENABLE TRIGGER {}",
                        spec.schema, spec.table, spec.name
                    ),
                )
            } else {
                CheckId::TriggerEnabled.pass(target, "trigger is enabled")
            })
        })
        .collect()
}

/// `tgenabled`: O fires in normal sessions; R only under
/// `session_replication_role = replica`, A in both (then it fires twice in
/// logical replication); D never.
pub fn trigger_mode(cat: &Catalog) -> Vec<CheckResult> {
    let found = expect::TRIGGERS
        .iter()
        .filter_map(|spec| {
            let t = find_trigger(cat, spec)?;
            let mode = match t.enabled.as_str() {
                "R" => "ENABLE REPLICA: it does not fire in normal sessions",
                "A" => "ENABLE ALWAYS: it also fires when changes are replayed (replica sessions), applying them twice",
                _ => return None,
            };
            Some(CheckId::TriggerMode.fail(
                trigger_target(spec),
                format!("trigger is {mode}"),
                format!("ALTER TABLE {}.{} ENABLE TRIGGER {}", spec.schema, spec.table, spec.name),
            ))
        })
        .collect();
    or_pass(
        found,
        CheckId::TriggerMode,
        "public",
        "every trigger fires in normal sessions only (ENABLE ORIGIN)",
    )
}

/// `session_replication_role = replica` (or `local`) for the database or a
/// role: ordinary triggers (limits, usage, sign-up) do not fire in those sessions.
pub fn setting_replication_role(cat: &Catalog) -> Vec<CheckResult> {
    let found = bad_settings(cat, "session_replication_role", |v| v != "origin")
        .into_iter()
        .map(|(target, detail, remedy)| {
            CheckId::SettingReplicationRole.fail(
                target,
                format!("{detail}: the schema's triggers do not fire in those sessions"),
                remedy,
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::SettingReplicationRole,
        "database",
        "no database or role setting stops triggers from firing",
    )
}

/// Triggers on the seven tables and on `auth.users` that the schema does not
/// make. A BEFORE row trigger may rewrite any value a promise relies on
/// (limits, plan, usage); one on `auth.users` runs at every sign-up, email
/// change and deletion; any trigger runs on the app's every write. Yours may
/// be fine: a warning.
pub fn trigger_unexpected(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .triggers
        .iter()
        .filter(|t| {
            (t.schema == "public" && expect::table(&t.table).is_some())
                || (t.schema == "auth" && t.table == "users")
        })
        .filter(|t| {
            !expect::TRIGGERS
                .iter()
                .any(|s| s.schema == t.schema && s.table == t.table && s.name == t.name)
        })
        .map(|t| {
            let level = if t.row_level() { "ROW" } else { "STATEMENT" };
            // A BEFORE row trigger on one of the seven tables rewrites or
            // drops the very rows the usage, limit and sign-up triggers
            // judge (a zeroed duration, a raised limit): a failure. Others
            // act beside the schema's writes: a warning.
            let rewrites = t.row_level() && t.timing() == "BEFORE";
            let what = format!(
                "a trigger the schema does not make: {} {} FOR EACH {level} EXECUTE {}(){}",
                t.timing(),
                t.events().join(" OR "),
                t.function,
                if rewrites {
                    ": it can rewrite or drop any row before the schema's triggers judge it"
                } else {
                    ""
                }
            );
            let target = format!("{}.{}.{}", t.schema, t.table, t.name);
            let remedy = format!(
                "if it is not yours: DROP TRIGGER {} ON {}.{}",
                ident(&t.name),
                t.schema,
                ident(&t.table)
            );
            if rewrites && t.schema == "public" {
                CheckId::TriggerUnexpected.fail(target, what, remedy)
            } else {
                CheckId::TriggerUnexpected.warn(target, what, remedy)
            }
        })
        .collect();
    or_pass(
        found,
        CheckId::TriggerUnexpected,
        "public",
        "the seven tables and auth.users have only the schema's triggers",
    )
}

/// Rewrite rules on tables in the exposed schemas (and `auth.users`): a
/// rule's actions run with the table owner's rights, past RLS and grants, and
/// an INSTEAD rule replaces the write the usage and limit triggers watch.
pub fn rule_on_table(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .guards
        .rules
        .iter()
        .map(|r| {
            CheckId::RuleOnTable.fail(
                format!("{}.{}.{}", r.schema, r.table, r.name),
                format!(
                    "rule ON {} DO {}: its actions run with the table owner's rights, past RLS and grants{}",
                    r.event,
                    if r.instead { "INSTEAD" } else { "ALSO" },
                    if r.instead {
                        ", and it replaces the write the schema's triggers check and count"
                    } else {
                        ""
                    }
                ),
                format!(
                    "DROP RULE {} ON {}.{}",
                    ident(&r.name),
                    ident(&r.schema),
                    ident(&r.table)
                ),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::RuleOnTable,
        "public",
        "no rewrite rule on a table the API exposes",
    )
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::TriggerPresent,
        "public.assistants.enforce_assistant_limit",
        "DROP TRIGGER enforce_assistant_limit ON public.assistants",
    ),
    Break::fails(
        CheckId::TriggerPresent,
        "public.assistants.protect_assistant_ids_update",
        "CREATE OR REPLACE TRIGGER protect_assistant_ids_update BEFORE UPDATE OF name ON public.assistants
           FOR EACH ROW EXECUTE FUNCTION public.protect_assistant_ids()",
    ),
    Break::fails(
        CheckId::TriggerPresent,
        "public.call_logs.call_logs_track_completion",
        "CREATE OR REPLACE TRIGGER call_logs_track_completion BEFORE INSERT ON public.call_logs
           FOR EACH ROW WHEN (NEW.status = 'completed' AND NEW.user_id IS NULL)
           EXECUTE FUNCTION public.call_logs_track_completion()",
    ),
    // The same name in another schema: the trigger calls a function the files do not make.
    Break::fails(
        CheckId::TriggerPresent,
        "auth.users.on_auth_user_created",
        "CREATE SCHEMA vmx_break;
         CREATE FUNCTION vmx_break.handle_new_user() RETURNS trigger LANGUAGE plpgsql SET search_path = ''
           AS $$ BEGIN RETURN NEW; END $$;
         CREATE OR REPLACE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
           FOR EACH ROW EXECUTE FUNCTION vmx_break.handle_new_user()",
    ),
    Break::fails(
        CheckId::TriggerEnabled,
        "auth.users.on_auth_user_created",
        "ALTER TABLE auth.users DISABLE TRIGGER on_auth_user_created",
    ),
    Break::fails(
        CheckId::TriggerMode,
        "public.assistants.enforce_assistant_limit",
        "ALTER TABLE public.assistants ENABLE REPLICA TRIGGER enforce_assistant_limit",
    ),
    Break::fails(
        CheckId::TriggerMode,
        "public.call_logs.track_call_usage",
        "ALTER TABLE public.call_logs ENABLE ALWAYS TRIGGER track_call_usage",
    ),
    Break::fails(
        CheckId::SettingReplicationRole,
        "database",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET session_replication_role = replica', current_database()); END $$",
    ),
    Break::fails(
        CheckId::SettingReplicationRole,
        "role authenticated",
        "DO $$ BEGIN EXECUTE format('ALTER ROLE authenticated IN DATABASE %I SET session_replication_role = replica', current_database()); END $$",
    ),
    Break::fails(
        CheckId::SettingReplicationRole,
        "server",
        "ALTER SYSTEM SET session_replication_role = replica\n;;\nSELECT pg_reload_conf()",
    )
    .undo("ALTER SYSTEM RESET session_replication_role\n;;\nSELECT pg_reload_conf()"),
    Break::fails(
        CheckId::TriggerUnexpected,
        "public.user_limits.vmx_break_raise_limits",
        "CREATE FUNCTION public.vmx_break_raise_limits() RETURNS trigger LANGUAGE plpgsql SET search_path = ''
           AS $$ BEGIN NEW.max_assistants := 100; RETURN NEW; END $$;
         REVOKE EXECUTE ON FUNCTION public.vmx_break_raise_limits() FROM PUBLIC;
         CREATE TRIGGER vmx_break_raise_limits BEFORE INSERT ON public.user_limits
           FOR EACH ROW EXECUTE FUNCTION public.vmx_break_raise_limits()",
    ),
    // Beside the schema's writes, not before them: a warning.
    Break::warns(
        CheckId::TriggerUnexpected,
        "public.call_logs.vmx_break_notify",
        "CREATE FUNCTION public.vmx_break_notify() RETURNS trigger LANGUAGE plpgsql SET search_path = ''
           AS $$ BEGIN PERFORM pg_catalog.pg_notify('calls', 'changed'); RETURN NULL; END $$;
         REVOKE EXECUTE ON FUNCTION public.vmx_break_notify() FROM PUBLIC;
         CREATE TRIGGER vmx_break_notify AFTER INSERT ON public.call_logs
           FOR EACH STATEMENT EXECUTE FUNCTION public.vmx_break_notify()",
    ),
    Break::warns(
        CheckId::TriggerUnexpected,
        "auth.users.vmx_break_drop_profile",
        "CREATE FUNCTION public.vmx_break_drop_profile() RETURNS trigger LANGUAGE plpgsql SET search_path = ''
           AS $$ BEGIN DELETE FROM public.profiles WHERE id = NEW.id; RETURN NULL; END $$;
         REVOKE EXECUTE ON FUNCTION public.vmx_break_drop_profile() FROM PUBLIC;
         CREATE TRIGGER vmx_break_drop_profile AFTER UPDATE ON auth.users
           FOR EACH ROW EXECUTE FUNCTION public.vmx_break_drop_profile()",
    ),
    Break::fails(
        CheckId::RuleOnTable,
        "public.call_logs.vmx_break_drop_calls",
        "CREATE RULE vmx_break_drop_calls AS ON INSERT TO public.call_logs DO INSTEAD NOTHING",
    ),
    Break::fails(
        CheckId::RuleOnTable,
        "public.profiles.vmx_break_raise_limits",
        "CREATE RULE vmx_break_raise_limits AS ON UPDATE TO public.profiles
           DO ALSO UPDATE public.user_limits SET max_assistants = 1000 WHERE user_id = new.id",
    ),
];
