//! Row level security.

use super::*;

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

pub const BREAKS: &[Break] = &[Break::fails(
    CheckId::RlsEnabled,
    "public.call_logs",
    "ALTER TABLE public.call_logs DISABLE ROW LEVEL SECURITY",
)];
