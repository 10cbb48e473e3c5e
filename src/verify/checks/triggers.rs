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
            if got == want {
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

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::TriggerPresent,
        "public.assistants.enforce_assistant_limit",
        "DROP TRIGGER enforce_assistant_limit ON public.assistants",
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
];
