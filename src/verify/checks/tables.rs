//! Tables and columns: the seven tables exist with the columns the app reads.

use super::*;
use std::collections::BTreeSet;

pub fn table_exists(cat: &Catalog) -> Vec<CheckResult> {
    expect::TABLES
        .iter()
        .map(|spec| {
            let target = qualified_table(spec.name);
            if cat.table(spec.name).is_some() {
                CheckId::TableExists.pass(target, "table exists")
            } else {
                let remedy = if spec.missing_file {
                    "run `vmx add-missing` (or `vmx migrate`)"
                } else {
                    "run `vmx migrate`"
                };
                CheckId::TableExists.fail(target, "table is missing", remedy)
            }
        })
        .collect()
}

/// None of the seven tables inherits from, or is inherited by, another
/// table: a parent's reads include its children's rows under the parent's
/// policies (another table's always-true policy shows every call), and rows
/// written to a child skip the parent's unique keys and triggers (limits,
/// usage).
pub fn table_inheritance(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .inheritance
        .iter()
        .map(|h| {
            let (target, detail) = if expect::table(h.child.trim_start_matches("public.")).is_some()
                && h.child.starts_with("public.")
            {
                (
                    h.child.clone(),
                    format!("inherits from {}: reading {} shows its rows under {}'s policies", h.parent, h.parent, h.parent),
                )
            } else {
                (
                    h.parent.clone(),
                    format!("{} inherits from it: rows written there skip its unique keys and triggers (limits, usage) and are read with its own", h.child),
                )
            };
            CheckId::TableInheritance.fail(
                target,
                detail,
                format!("ALTER TABLE {} NO INHERIT {}", h.child, h.parent),
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::TableInheritance,
        "public",
        "none of the seven tables inherits from or is inherited by another",
    )
}

pub fn table_columns(cat: &Catalog) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (spec, table) in present(cat) {
        let mut bad = Vec::new();
        for (name, ty) in spec.columns {
            let target = format!("public.{}.{}", spec.name, name);
            match table.columns.iter().find(|c| c.name == *name) {
                None => bad.push(CheckId::TableColumns.fail(
                    target,
                    format!("column is missing (expected {ty})"),
                    MIGRATE,
                )),
                Some(c) if c.data_type != *ty => bad.push(CheckId::TableColumns.fail(
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
        // The table and its other columns, as the schema's own writes meet them.
        if table.unlogged {
            bad.push(CheckId::TableColumns.fail(
                qualified_table(spec.name),
                "table is UNLOGGED: a crash or a failover empties it (usage, limits and calls erased), and replicas and backups never see it",
                format!("ALTER TABLE public.{} SET LOGGED", spec.name),
            ));
        }
        for c in &table.columns {
            let target = format!("public.{}.{}", spec.name, c.name);
            if c.deterministic == Some(false) {
                bad.push(CheckId::TableColumns.fail(
                    target.clone(),
                    "column has a nondeterministic collation: values that differ (case, accents) compare equal, so a unique key merges them (two calls become one)",
                    format!(
                        "ALTER TABLE public.{} ALTER COLUMN {} TYPE {} COLLATE \"default\"",
                        spec.name, c.name, c.data_type
                    ),
                ));
            }
            let extra = !spec.columns.iter().any(|(name, _)| *name == c.name);
            if extra && c.not_null && c.default.is_none() && !c.generated {
                bad.push(CheckId::TableColumns.fail(
                    target,
                    "a NOT NULL column the schema does not make, without a default: the schema's own inserts (sign-up, usage, webhooks) leave it NULL and fail",
                    format!(
                        "ALTER TABLE public.{} ALTER COLUMN {} DROP NOT NULL (or give it a DEFAULT)",
                        spec.name, c.name
                    ),
                ));
            }
        }
        if bad.is_empty() {
            out.push(CheckId::TableColumns.pass(
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

/// The NOT NULL columns of `spec::NOT_NULL`, and the columns that must accept
/// NULL (`spec::must_accept_null`).
pub fn column_not_null(cat: &Catalog) -> Vec<CheckResult> {
    let nullable = expect::must_accept_null();
    let mut found: Vec<CheckResult> = expect::NOT_NULL
        .iter()
        .filter_map(|(table, column)| {
            let c = cat.table(table)?.column(column)?;
            (!c.not_null).then(|| {
                CheckId::ColumnNotNull.fail(
                    format!("public.{table}.{column}"),
                    "column accepts NULL: rows without it break the app's promises",
                    format!("ALTER TABLE public.{table} ALTER COLUMN {column} SET NOT NULL"),
                )
            })
        })
        .collect();
    found.extend(nullable.iter().filter_map(|(table, column)| {
        let c = cat.table(table)?.column(column)?;
        c.not_null.then(|| {
            CheckId::ColumnNotNull.fail(
                format!("public.{table}.{column}"),
                if *column == "email" {
                    "column is NOT NULL: a phone-only sign-up gets no profile (and no limits)".to_string()
                } else {
                    format!("column is NOT NULL: its foreign key is ON DELETE SET NULL, so deleting what it points at fails (and {table} rows cannot outlive it)")
                },
                format!("ALTER TABLE public.{table} ALTER COLUMN {column} DROP NOT NULL"),
            )
        })
    }));
    or_pass(
        found,
        CheckId::ColumnNotNull,
        "public",
        &format!(
            "{} required columns are NOT NULL; {} accept NULL",
            expect::NOT_NULL.len(),
            nullable.len()
        ),
    )
}

/// The plan, limit and demo defaults of `spec::DEFAULTS`.
pub fn column_default(cat: &Catalog) -> Vec<CheckResult> {
    expect::DEFAULTS
        .iter()
        .filter_map(|(table, column, want)| {
            let c = cat.table(table)?.column(column)?;
            let target = format!("public.{table}.{column}");
            let got = c.default.as_deref();
            Some(
                if got.is_some_and(|g| normalize_expr(g) == normalize_expr(want)) {
                    CheckId::ColumnDefault.pass(target, format!("DEFAULT {want}"))
                } else {
                    CheckId::ColumnDefault.fail(
                        target,
                        format!(
                            "default is {} (expected {want})",
                            got.map_or("none".to_string(), |g| format!("`{g}`"))
                        ),
                        format!(
                            "ALTER TABLE public.{table} ALTER COLUMN {column} SET DEFAULT {want}"
                        ),
                    )
                },
            )
        })
        .chain(row_ids_generated(cat))
        .collect()
}

/// The `id` of the six tables whose rows the schema inserts without one
/// (all but `profiles`, whose id is the user's): some default must make it.
fn row_ids_generated(cat: &Catalog) -> Vec<CheckResult> {
    present(cat)
        .filter(|(spec, _)| spec.name != "profiles")
        .filter_map(|(spec, table)| {
            let c = table.column("id")?;
            (c.default.is_none() && !c.generated).then(|| {
                CheckId::ColumnDefault.fail(
                    format!("public.{}.id", spec.name),
                    "id has no default: the schema's inserts (limits at sign-up, usage rows, the webhook's calls) leave it NULL and fail",
                    format!(
                        "ALTER TABLE public.{} ALTER COLUMN id SET DEFAULT gen_random_uuid()",
                        spec.name
                    ),
                )
            })
        })
        .collect()
}

/// The values a CHECK definition allows for `column` when it is exactly
/// `CHECK (column IN ('a', 'b', …))` (printed `CHECK ((column = ANY
/// (ARRAY['a'::text, …])))`); `None` for any other condition, which may let
/// other values through (`… OR true`, `IS NOT NULL OR …`).
fn allowed_values(definition: &str, column: &str) -> Option<BTreeSet<String>> {
    let condition = definition
        .trim_end_matches(" NOT VALID")
        .strip_prefix("CHECK ")?;
    let inner = normalize_expr(condition)
        .strip_prefix(&format!("{column}=anyarray["))?
        .strip_suffix(']')?
        .to_string();
    inner
        .split(',')
        .map(|v| {
            v.strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .filter(|v| !v.contains('\''))
                .map(str::to_string)
        })
        .collect()
}

/// Each column of `spec::VALUE_CHECKS` has a CHECK allowing exactly its values.
pub fn check_constraint(cat: &Catalog) -> Vec<CheckResult> {
    expect::VALUE_CHECKS
        .iter()
        .filter_map(|(table, column, values)| {
            let t = cat.table(table)?;
            let target = format!("public.{table}.{column}");
            let want: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
            let checks: Vec<_> = t
                .constraints
                .iter()
                .filter(|k| k.kind == "c" && k.columns.iter().any(|c| c == column))
                .collect();
            let exact = checks
                .iter()
                .any(|k| allowed_values(&k.definition, column).as_ref() == Some(&want));
            Some(if exact {
                CheckId::CheckConstraint
                    .pass(target, format!("CHECK allows only {}", values.join(", ")))
            } else {
                CheckId::CheckConstraint.fail(
                    target,
                    if checks.is_empty() {
                        format!("no CHECK constraint restricts {column}")
                    } else {
                        format!(
                            "CHECK {} does not allow exactly {}",
                            checks
                                .iter()
                                .map(|k| k.definition.as_str())
                                .collect::<Vec<_>>()
                                .join("; "),
                            values.join(", ")
                        )
                    },
                    format!(
                        "ALTER TABLE public.{table} ADD CHECK ({column} IN ({}))",
                        values
                            .iter()
                            .map(|v| format!("'{v}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
        })
        .chain(unexpected_checks(cat))
        .collect()
}

/// CHECK constraints on the seven tables that the files do not make (the
/// files' are one column each: a value check with exactly its values, the
/// phone number's format): the schema's own writes -- sign-up, usage
/// counters, webhooks, cascades -- fail on them, a trigger that swallows the
/// error (sign-up) leaves the account without its rows, and one on a
/// value-checked column can forbid a value the schema writes.
fn unexpected_checks(cat: &Catalog) -> Vec<CheckResult> {
    cat.tables
        .iter()
        .filter(|t| expect::table(&t.name).is_some())
        .flat_map(|t| {
            t.constraints
                .iter()
                .filter(|k| k.kind == "c")
                .filter(|k| {
                    // The files' own: one column, and for a value check
                    // exactly its values (another constraint on the same
                    // column can still forbid one of them).
                    let [column] = k.columns.as_slice() else {
                        return true;
                    };
                    let values_check = expect::VALUE_CHECKS.iter().any(|(table, c, values)| {
                        *table == t.name
                            && c == column
                            && allowed_values(&k.definition, column)
                                == Some(values.iter().map(|v| v.to_string()).collect())
                    });
                    let phone_format = t.name == "phone_numbers" && column == "phone_number";
                    !(values_check || phone_format)
                })
                .map(|k| {
                    CheckId::CheckConstraint.fail(
                        format!("public.{}.{}", t.name, k.name),
                        format!(
                            "{} is a CHECK the schema does not make: the schema's own writes (sign-up, usage counters, webhooks, cascades) fail on it",
                            k.definition
                        ),
                        format!(
                            "ALTER TABLE public.{} DROP CONSTRAINT \"{}\"",
                            t.name,
                            k.name.replace('"', "\"\"")
                        ),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each column set of `spec::UNIQUE_KEYS` is unique: a valid unique index (a
/// UNIQUE or primary key constraint's, or one of its own) without a WHERE
/// clause, or with the key's.
pub fn unique_key(cat: &Catalog) -> Vec<CheckResult> {
    expect::UNIQUE_KEYS
        .iter()
        .filter_map(|(table, columns, rows)| {
            cat.table(table)?;
            let target = format!("public.{table}.{}", columns.join(","));
            // A UNIQUE or primary key constraint is its index; an invalid one
            // (a failed concurrent build) holds duplicates and cannot arbitrate
            // ON CONFLICT.
            let by_index = cat
                .indexes
                .iter()
                .any(|i| i.valid && keeps_key(i, table, columns, *rows));
            let scope = rows.map(|p| format!(" where {p}")).unwrap_or_default();
            Some(if by_index {
                CheckId::UniqueKey
                    .pass(target, format!("({}) is unique{scope}", columns.join(", ")))
            } else {
                CheckId::UniqueKey.fail(
                    target,
                    format!(
                        "nothing keeps ({}) unique{scope}: duplicates are accepted",
                        columns.join(", ")
                    ),
                    match rows {
                        None => format!(
                            "ALTER TABLE public.{table} ADD UNIQUE ({})",
                            columns.join(", ")
                        ),
                        Some(p) => format!(
                            "CREATE UNIQUE INDEX ON public.{table} ({}) WHERE {p}",
                            columns.join(", ")
                        ),
                    },
                )
            })
        })
        .chain(unexpected_unique_keys(cat))
        .collect()
}

/// `i` is a unique index of `table` on exactly `columns` (in order), over the
/// rows `rows` covers (`None`: all of them; `Some`: its partial predicate),
/// with NULLs distinct: what one entry of `spec::UNIQUE_KEYS` asks for.
fn keeps_key(
    i: &crate::verify::catalog::Index,
    table: &str,
    columns: &[&str],
    rows: Option<&str>,
) -> bool {
    i.table == table
        && i.unique
        && !i.nulls_not_distinct
        && match rows {
            None => !i.partial,
            Some(pred) => i.partial && i.definition.ends_with(&format!("WHERE ({pred})")),
        }
        && i.columns.len() == columns.len()
        && i.columns
            .iter()
            .zip(columns)
            .all(|(a, b)| a.as_deref() == Some(*b))
}

/// Unique keys on the seven tables that the schema does not make (besides a
/// key that includes one of its own, which can never refuse more): a value
/// one account holds refuses everyone else's (squatting, promise 12; a
/// unique e-mail blocks a sign-up, promise 13) and the refusal tells who holds it.
fn unexpected_unique_keys(cat: &Catalog) -> Vec<CheckResult> {
    // The table's own full keys: its primary key (id) and its UNIQUE_KEYS.
    let own = |table: &str| -> Vec<&[&str]> {
        expect::UNIQUE_KEYS
            .iter()
            .filter(|(t, _, rows)| *t == table && rows.is_none())
            .map(|(_, columns, _)| *columns)
            .chain(std::iter::once(&["id"][..]))
            .collect()
    };
    // An exclusion constraint refuses a conflicting row as a unique key does;
    // NULLS NOT DISTINCT makes one NULL refuse all others (no key may, then).
    cat.indexes
        .iter()
        .filter(|i| (i.unique || i.exclusion) && i.valid && expect::table(&i.table).is_some())
        .filter(|i| {
            let columns: Vec<&str> = i.columns.iter().flatten().map(String::as_str).collect();
            let plain = i.unique && !i.nulls_not_distinct;
            let expected = expect::UNIQUE_KEYS
                .iter()
                .any(|(table, keys, rows)| keeps_key(i, table, keys, *rows));
            let includes_own = plain
                && i.columns.iter().all(Option::is_some)
                && own(&i.table)
                    .iter()
                    .any(|key| key.iter().all(|k| columns.contains(k)));
            !expected && !includes_own
        })
        .map(|i| {
            let columns: Vec<String> = i
                .columns
                .iter()
                .map(|c| c.clone().unwrap_or_else(|| "(expression)".into()))
                .collect();
            CheckId::UniqueKey.fail(
                format!("public.{}.{}", i.table, columns.join(",")),
                format!(
                    "{} makes ({}) {}, which the schema does not: a value one account holds refuses everyone else's, and the refusal tells who holds it",
                    i.name,
                    columns.join(", "),
                    if i.exclusion {
                        "exclusive (an exclusion constraint)"
                    } else if i.nulls_not_distinct {
                        "unique with NULLS NOT DISTINCT (one NULL refuses every other)"
                    } else {
                        "unique"
                    }
                ),
                if i.constraint {
                    format!("ALTER TABLE public.{} DROP CONSTRAINT {}", ident(&i.table), ident(&i.name))
                } else {
                    format!("DROP INDEX public.{}", ident(&i.name))
                },
            )
        })
        .collect()
}

/// The seven tables' constraints hold for every row (none NOT VALID: rows
/// from before it was added were never checked), and their unique keys are
/// checked at once (a DEFERRABLE key cannot arbitrate `INSERT … ON CONFLICT`,
/// so the webhook's idempotent upsert fails, and duplicates live until commit).
pub fn constraint_enforced(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .guards
        .loose_constraints
        .iter()
        .map(|k| {
            let target = format!("public.{}.{}", k.table, k.name);
            let table = format!("public.{}", ident(&k.table));
            if !k.validated {
                CheckId::ConstraintEnforced.fail(
                    target,
                    format!(
                        "{} is NOT VALID: rows that were there before it was added were never checked",
                        k.definition
                    ),
                    format!("ALTER TABLE {table} VALIDATE CONSTRAINT {}", ident(&k.name)),
                )
            } else {
                let strict = k
                    .definition
                    .split(" DEFERRABLE")
                    .next()
                    .unwrap_or(&k.definition);
                CheckId::ConstraintEnforced.fail(
                    target,
                    format!(
                        "{} is DEFERRABLE: INSERT … ON CONFLICT cannot use it (the webhook's idempotent upsert fails) and duplicates live until commit",
                        k.definition
                    ),
                    format!(
                        "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} {strict}",
                        name = ident(&k.name)
                    ),
                )
            }
        })
        .collect();
    or_pass(
        found,
        CheckId::ConstraintEnforced,
        "public",
        "the seven tables' constraints hold for every row; their unique keys are checked at once",
    )
}

/// The index behind the latest-calls query.
pub fn latest_calls_index(cat: &Catalog) -> Vec<CheckResult> {
    let (table, key) = expect::LATEST_CALLS_INDEX;
    if cat.table(table).is_none() {
        return Vec::new();
    }
    let target = format!("public.{table}");
    let inner = key.trim_start_matches("btree (").trim_end_matches(')');
    let found = cat.indexes.iter().find(|i| {
        i.table == table
            && i.valid
            && !i.partial
            && (i.definition == key || i.definition.starts_with(&format!("btree ({inner}, ")))
    });
    vec![match found {
        Some(i) => {
            CheckId::LatestCallsIndex.pass(target, format!("{} USING {}", i.name, i.definition))
        }
        None => CheckId::LatestCallsIndex.fail(
            target,
            format!("no index {key}: the latest-calls query scans every call"),
            format!("CREATE INDEX ON public.{table} USING {key}"),
        ),
    }]
}

/// Extensions installed in `public` (splinter 0014) or another schema the API
/// exposes put their objects in the API.
pub fn extension_in_public(cat: &Catalog) -> Vec<CheckResult> {
    let found = cat
        .extensions_in_public
        .iter()
        .map(|e| {
            CheckId::ExtensionInPublic.warn(
                format!("{}.{}", e.schema, e.name),
                format!(
                    "extension is installed in {}{}: its functions and tables are in the API",
                    e.schema,
                    if e.schema == "public" {
                        ""
                    } else {
                        ", an exposed schema"
                    }
                ),
                format!("ALTER EXTENSION {} SET SCHEMA extensions", ident(&e.name)),
            )
        })
        .collect();
    let mut schemas = vec!["public".to_string()];
    schemas.extend(cat.exposed.iter().filter(|s| *s != "public").cloned());
    or_pass(
        found,
        CheckId::ExtensionInPublic,
        &schemas.join(", "),
        &format!("no extension is installed in {}", schemas.join(" or ")),
    )
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::TableExists,
        "public.call_analytics",
        "DROP TABLE public.call_analytics",
    ),
    // call_logs made a child: call_feed's always-true policy shows every call.
    Break::fails(
        CheckId::TableInheritance,
        "public.call_logs",
        "CREATE TABLE public.call_feed (id uuid, user_id uuid, transcript text);
         ALTER TABLE public.call_logs INHERIT public.call_feed",
    ),
    Break::fails(
        CheckId::TableInheritance,
        "public.assistants",
        "CREATE TABLE public.more_assistants () INHERITS (public.assistants)",
    ),
    Break::fails(
        CheckId::TableColumns,
        "public.call_logs.summary",
        "ALTER TABLE public.call_logs DROP COLUMN summary",
    ),
    Break::fails(
        CheckId::ColumnNotNull,
        "public.call_logs.user_id",
        "ALTER TABLE public.call_logs ALTER COLUMN user_id DROP NOT NULL",
    ),
    Break::fails(
        CheckId::ColumnNotNull,
        "public.call_logs.assistant_id",
        "ALTER TABLE public.call_logs ALTER COLUMN assistant_id SET NOT NULL",
    ),
    Break::fails(
        CheckId::ColumnNotNull,
        "public.profiles.email",
        "ALTER TABLE public.profiles ALTER COLUMN email SET NOT NULL",
    ),
    Break::fails(
        CheckId::ColumnDefault,
        "public.user_limits.max_assistants",
        "ALTER TABLE public.user_limits ALTER COLUMN max_assistants SET DEFAULT 5",
    ),
    Break::fails(
        CheckId::ColumnDefault,
        "public.call_logs.started_at",
        "ALTER TABLE public.call_logs ALTER COLUMN started_at DROP DEFAULT",
    ),
    Break::fails(
        CheckId::ColumnDefault,
        "public.profiles.demo_expires_at",
        "ALTER TABLE public.profiles ALTER COLUMN demo_expires_at SET DEFAULT now() + interval '30 days'",
    ),
    Break::fails(
        CheckId::ColumnDefault,
        "public.user_limits.plan_type",
        "ALTER TABLE public.user_limits ALTER COLUMN plan_type DROP DEFAULT",
    ),
    Break::fails(
        CheckId::CheckConstraint,
        "public.call_logs.status",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_status_check",
    ),
    Break::fails(
        CheckId::CheckConstraint,
        "public.user_limits.plan_type",
        "ALTER TABLE public.user_limits DROP CONSTRAINT user_limits_plan_type_check,
           ADD CONSTRAINT user_limits_plan_type_check CHECK (plan_type IN ('free', 'pro', 'business', 'enterprise', 'unlimited'))",
    ),
    // A CHECK of its own on a table the usage trigger writes: the completion
    // that passes the plan's seconds fails, and the call is lost.
    Break::fails(
        CheckId::CheckConstraint,
        "public.user_limits.user_limits_within_plan",
        "ALTER TABLE public.user_limits ADD CONSTRAINT user_limits_within_plan
           CHECK (used_call_time_seconds <= max_call_time_seconds)",
    ),
    // Beside the exact status check, one of its own on the same column
    // that refuses the completion: every completed call is lost.
    Break::fails(
        CheckId::CheckConstraint,
        "public.call_logs.call_logs_no_completed",
        "ALTER TABLE public.call_logs ADD CONSTRAINT call_logs_no_completed CHECK (status <> 'completed')",
    ),
    // A crash empties it: usage and its audit gone.
    Break::fails(
        CheckId::TableColumns,
        "public.usage_logs",
        "ALTER TABLE public.usage_logs SET UNLOGGED",
    ),
    // Case-variants of the idempotency key become one call.
    Break::fails(
        CheckId::TableColumns,
        "public.call_logs.vapi_call_id",
        "CREATE COLLATION public.vmx_break_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
         ALTER TABLE public.call_logs ALTER COLUMN vapi_call_id TYPE text COLLATE public.vmx_break_ci",
    ),
    // An added column the schema's inserts cannot fill.
    Break::fails(
        CheckId::TableColumns,
        "public.user_limits.region",
        "ALTER TABLE public.user_limits ADD COLUMN region text NOT NULL DEFAULT 'eu';
         ALTER TABLE public.user_limits ALTER COLUMN region DROP DEFAULT",
    ),
    Break::fails(
        CheckId::ColumnDefault,
        "public.call_logs.id",
        "ALTER TABLE public.call_logs ALTER COLUMN id DROP DEFAULT",
    ),
    // The right values, the wrong logic: any non-empty provider passes.
    Break::fails(
        CheckId::CheckConstraint,
        "public.phone_numbers.provider",
        "ALTER TABLE public.phone_numbers DROP CONSTRAINT phone_numbers_provider_check,
           ADD CONSTRAINT phone_numbers_provider_check CHECK (provider IN ('twilio', 'vapi') OR length(provider) > 0)",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.call_logs.vapi_call_id",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_vapi_call_id_key;
         CREATE INDEX call_logs_vapi_call_id_idx ON public.call_logs (vapi_call_id)",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.phone_numbers.vapi_phone_id",
        "ALTER TABLE public.phone_numbers DROP CONSTRAINT phone_numbers_vapi_phone_id_key",
    ),
    // The original guide's keys, which the files drop: a number or an
    // e-mail one account holds refuses everyone else's.
    Break::fails(
        CheckId::UniqueKey,
        "public.phone_numbers.phone_number",
        "CREATE UNIQUE INDEX phone_numbers_phone_number_key ON public.phone_numbers (phone_number)",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.profiles.email",
        "ALTER TABLE public.profiles ADD CONSTRAINT profiles_email_key UNIQUE (email)",
    ),
    // INCLUDE columns are no key: (email) INCLUDE (id) is unique on email.
    Break::fails(
        CheckId::UniqueKey,
        "public.profiles.email",
        "CREATE UNIQUE INDEX profiles_email_cover ON public.profiles (email) INCLUDE (id)",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.assistants.vapi_assistant_id",
        "ALTER TABLE public.assistants DROP CONSTRAINT assistants_vapi_assistant_id_key;
         ALTER TABLE public.assistants ADD CONSTRAINT assistants_vapi_assistant_id_key UNIQUE NULLS NOT DISTINCT (vapi_assistant_id)",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.phone_numbers.phone_number",
        "ALTER TABLE public.phone_numbers ADD CONSTRAINT phone_numbers_one_claim EXCLUDE USING btree (phone_number WITH =)",
    ),
    // What a failed `CREATE UNIQUE INDEX CONCURRENTLY` leaves: an index that
    // is not valid (the constraint's own, here).
    Break::fails(
        CheckId::UniqueKey,
        "public.call_logs.vapi_call_id",
        "UPDATE pg_catalog.pg_index SET indisvalid = false
           WHERE indexrelid = 'public.call_logs_vapi_call_id_key'::regclass",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.user_limits.user_id",
        "ALTER TABLE public.user_limits DROP CONSTRAINT user_limits_user_id_key;
         CREATE INDEX IF NOT EXISTS user_limits_user_id_plain ON public.user_limits (user_id)",
    ),
    Break::fails(
        CheckId::UniqueKey,
        "public.phone_numbers.phone_number",
        "DROP INDEX public.phone_numbers_verified_phone_number_key;
         CREATE INDEX phone_numbers_verified_plain ON public.phone_numbers (phone_number) WHERE verified_at IS NOT NULL",
    ),
    Break::fails(
        CheckId::LatestCallsIndex,
        "public.call_logs",
        "DROP INDEX public.call_logs_user_id_started_at_idx",
    ),
    Break::warns(
        CheckId::ExtensionInPublic,
        "public.pg_trgm",
        "CREATE EXTENSION pg_trgm SCHEMA public",
    ),
    Break::warns(
        CheckId::ExtensionInPublic,
        "api.pg_trgm",
        "CREATE SCHEMA api;
         GRANT USAGE ON SCHEMA api TO anon, authenticated;
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET pgrst.db_schemas = %L', current_database(), 'public, api'); END $$;
         CREATE EXTENSION pg_trgm SCHEMA api",
    ),
    Break::fails(
        CheckId::ConstraintEnforced,
        "public.call_logs.call_logs_status_check",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_status_check;
         ALTER TABLE public.call_logs ADD CONSTRAINT call_logs_status_check
           CHECK (status IN ('completed', 'failed', 'no-answer', 'busy', 'in_progress', 'cancelled')) NOT VALID",
    ),
    Break::fails(
        CheckId::ConstraintEnforced,
        "public.call_logs.call_logs_vapi_call_id_key",
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_vapi_call_id_key;
         ALTER TABLE public.call_logs ADD CONSTRAINT call_logs_vapi_call_id_key
           UNIQUE (vapi_call_id) DEFERRABLE INITIALLY DEFERRED",
    ),
    Break::fails(
        CheckId::ConstraintEnforced,
        "public.assistants.assistants_user_id_fkey",
        "ALTER TABLE public.assistants DROP CONSTRAINT assistants_user_id_fkey;
         ALTER TABLE public.assistants ADD CONSTRAINT assistants_user_id_fkey
           FOREIGN KEY (user_id) REFERENCES public.profiles (id) ON DELETE CASCADE NOT VALID",
    ),
];
