//! Foreign keys: ON DELETE actions and their indexes.

use super::*;

/// The schema's foreign keys with their ON DELETE actions, and none it does
/// not make from the seven tables: each makes a write of theirs need a row
/// elsewhere (a sign-up or a webhook refused when it is missing) and its ON
/// DELETE reaches into users' rows.
pub fn fk_on_delete(cat: &Catalog) -> Vec<CheckResult> {
    let extra = cat
        .foreign_keys
        .iter()
        .filter(|k| {
            !expect::FOREIGN_KEYS.iter().any(|s| {
                k.table == s.table && k.columns == [s.column] && k.references == s.references
            })
        })
        .map(|k| {
            CheckId::FkOnDelete.fail(
                format!("public.{}.{}", k.table, k.columns.join(",")),
                format!(
                    "{} → {} (ON DELETE {}) is a foreign key the schema does not make: a write of public.{} now needs a row of {} (refused without it) and its ON DELETE reaches users' rows",
                    k.name,
                    k.references,
                    k.on_delete_action(),
                    k.table,
                    k.references
                ),
                format!("ALTER TABLE public.{} DROP CONSTRAINT {}", ident(&k.table), ident(&k.name)),
            )
        });
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
                Some(k) if !k.enforced => CheckId::FkOnDelete.fail(
                    target,
                    format!(
                        "{} is not enforced: its internal triggers are disabled (DISABLE TRIGGER ALL) or set to ENABLE REPLICA / ALWAYS, so ON DELETE {} does not act in normal sessions (or acts twice in replica ones)",
                        k.name, spec.on_delete
                    ),
                    format!(
                        "ALTER TABLE public.{} ENABLE TRIGGER ALL; ALTER TABLE {} ENABLE TRIGGER ALL",
                        spec.table, spec.references
                    ),
                ),
                Some(k) if k.on_delete_action() == spec.on_delete => {
                    CheckId::FkOnDelete.pass(target, want)
                }
                Some(k) => CheckId::FkOnDelete.fail(
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
                None => CheckId::FkOnDelete.fail(
                    target,
                    format!("foreign key is missing (expected {want})"),
                    MIGRATE,
                ),
            }
        })
        .chain(extra)
        .collect()
}

/// Deleting a user (and the demo cleanup) deletes their rows in the seven
/// tables through the schema's cascades (promises 5, 6): a foreign key from
/// another table onto auth.users or those tables that is NO ACTION or
/// RESTRICT refuses it, for every user who has a row it points at.
pub fn fk_blocks_deletion(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .blocking_fks
        .iter()
        // The seven tables' own keys, expected or not, are fk-on-delete's.
        .filter(|k| {
            k.table
                .strip_prefix("public.")
                .is_none_or(|t| expect::table(t).is_none())
        })
        .map(|k| {
            let action = if k.on_delete == "r" { "RESTRICT" } else { "NO ACTION" };
            CheckId::FkBlocksDeletion.fail(
                format!("{}.{}", k.table, k.name),
                format!(
                    "{} ({}) → {} is ON DELETE {action}: deleting a user whose rows it points at fails, and the demo cleanup with it",
                    k.name,
                    k.columns.join(", "),
                    k.references
                ),
                format!(
                    "recreate {} ON DELETE CASCADE (or SET NULL) on {}",
                    k.name, k.table
                ),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::FkBlocksDeletion,
        "auth.users",
        "no foreign key refuses the deletion of a user's rows",
    )
}

pub fn fk_indexed(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .foreign_keys
        .iter()
        .filter(|k| {
            !cat.indexes.iter().any(|i| {
                // Partial: only when it leaves out the NULLs alone (a lookup of
                // one value can use it); any other predicate misses rows.
                let whole = !i.partial
                    || (k.columns.len() == 1
                        && i.definition
                            .ends_with(&format!(" WHERE ({} IS NOT NULL)", k.columns[0])));
                i.table == k.table
                    && i.valid
                    && whole
                    && i.columns.len() >= k.columns.len()
                    && i.columns
                        .iter()
                        .zip(&k.columns)
                        .all(|(a, b)| a.as_deref() == Some(b.as_str()))
            })
        })
        .map(|k| {
            CheckId::FkIndexed.warn(
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
        CheckId::FkIndexed,
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
            found.push(CheckId::DuplicateIndex.warn(
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
        CheckId::DuplicateIndex,
        "public",
        "no duplicate indexes on the seven tables",
    )
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::FkOnDelete,
        "public.call_logs.user_id",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_user_id_fkey,
           ADD CONSTRAINT call_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles (id)",
    ),
    Break::warns(
        CheckId::FkIndexed,
        "public.call_logs.assistant_id",
        "DROP INDEX public.call_logs_assistant_id_idx",
    ),
    // An account's e-mail domain must now exist elsewhere: sign-ups refused.
    Break::fails(
        CheckId::FkOnDelete,
        "public.profiles.email_domain",
        "CREATE TABLE public.email_domains (domain text PRIMARY KEY);
         ALTER TABLE public.email_domains ENABLE ROW LEVEL SECURITY;
         ALTER TABLE public.profiles ADD COLUMN email_domain text
           GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED REFERENCES public.email_domains (domain) ON DELETE CASCADE;
         CREATE INDEX ON public.profiles (email_domain)",
    ),
    Break::fails(
        CheckId::FkBlocksDeletion,
        "public.invoices.invoices_user_id_fkey",
        "CREATE TABLE public.invoices (id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id));
         CREATE INDEX ON public.invoices (user_id);
         ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY;
         CREATE POLICY invoices_own ON public.invoices FOR SELECT TO authenticated USING (user_id = (select auth.uid()))",
    ),
    Break::fails(
        CheckId::FkOnDelete,
        "public.usage_logs.assistant",
        "ALTER TABLE public.usage_logs ADD COLUMN assistant uuid;
         ALTER TABLE public.usage_logs ADD CONSTRAINT usage_logs_assistant_fkey FOREIGN KEY (assistant)
           REFERENCES public.assistants (id) ON DELETE RESTRICT;
         CREATE INDEX ON public.usage_logs (assistant)",
    ),
    Break::warns(
        CheckId::FkIndexed,
        "public.phone_numbers.assigned_assistant_id",
        "DROP INDEX public.phone_numbers_assigned_assistant_id_idx;
         CREATE INDEX vmx_break_partial ON public.phone_numbers (assigned_assistant_id) WHERE provider = 'vapi'",
    ),
    Break::warns(
        CheckId::DuplicateIndex,
        "public.user_limits_user_id_dup",
        "CREATE INDEX user_limits_user_id_dup ON public.user_limits (user_id)",
    ),
    Break::fails(
        CheckId::FkOnDelete,
        "public.call_logs.user_id",
        "ALTER TABLE public.profiles DISABLE TRIGGER ALL",
    )
    .also(&[CheckId::TriggerEnabled]),
    // Its internal triggers set to fire in replica sessions only: ON DELETE
    // CASCADE no longer runs when a user is deleted.
    Break::fails(
        CheckId::FkOnDelete,
        "public.assistants.user_id",
        "DO $$ DECLARE t record; BEGIN
           FOR t IN SELECT g.tgrelid::regclass AS tab, g.tgname FROM pg_catalog.pg_trigger g
                    JOIN pg_catalog.pg_constraint k ON k.oid = g.tgconstraint
                    WHERE k.conname = 'assistants_user_id_fkey' AND k.conrelid = 'public.assistants'::regclass LOOP
             EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER %I', t.tab, t.tgname);
           END LOOP; END $$",
    ),
];
