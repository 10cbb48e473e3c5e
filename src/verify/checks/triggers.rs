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
                "{} {} FOR EACH ROW EXECUTE {}()",
                spec.timing,
                spec.events.join(" OR "),
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
];
