//! What the seven tables must look like, written once as data
//! (docs/schema-design.md). Read by verify's checks and probes, migrate and the tests.

/// One of the seven tables.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    /// True for the three tables `missing-tables-schema.sql` adds (printed as their own group).
    pub missing_file: bool,
    /// The column a user's rows are recognised by (`profiles.id`, else `user_id`).
    pub owner_column: &'static str,
    /// Columns the application reads: (name, type as `format_type` prints it).
    pub columns: &'static [(&'static str, &'static str)],
    /// Commands `authenticated` may run, each with a policy `<table>_<command>_own`.
    pub user_commands: &'static [&'static str],
    /// Table-level privileges `authenticated` holds (SELECT, DELETE, …).
    pub authenticated_table: &'static [&'static str],
    /// Columns `authenticated` may INSERT (column-level grant).
    pub authenticated_insert_columns: &'static [&'static str],
    /// Columns `authenticated` may UPDATE (column-level grant).
    pub authenticated_update_columns: &'static [&'static str],
}

const TS: &str = "timestamp with time zone";

pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "profiles",
        missing_file: false,
        owner_column: "id",
        columns: &[
            ("id", "uuid"),
            ("email", "text"),
            ("full_name", "text"),
            ("avatar_url", "text"),
            ("is_demo_user", "boolean"),
            ("demo_expires_at", TS),
            ("created_at", TS),
            ("updated_at", TS),
        ],
        user_commands: &["SELECT", "UPDATE"],
        authenticated_table: &["SELECT"],
        authenticated_insert_columns: &[],
        authenticated_update_columns: &["full_name", "avatar_url"],
    },
    TableSpec {
        name: "assistants",
        missing_file: false,
        owner_column: "user_id",
        columns: &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("name", "text"),
            ("vapi_assistant_id", "text"),
            ("configuration", "jsonb"),
            ("total_call_duration_seconds", "integer"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
        user_commands: &["SELECT", "INSERT", "UPDATE", "DELETE"],
        authenticated_table: &["SELECT", "DELETE"],
        authenticated_insert_columns: &[
            "id",
            "user_id",
            "name",
            "vapi_assistant_id",
            "configuration",
        ],
        authenticated_update_columns: &["name", "vapi_assistant_id", "configuration"],
    },
    TableSpec {
        name: "phone_numbers",
        missing_file: false,
        owner_column: "user_id",
        columns: &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("assigned_assistant_id", "uuid"),
            ("phone_number", "text"),
            ("friendly_name", "text"),
            ("provider", "text"),
            ("vapi_phone_id", "text"),
            ("vapi_credential_id", "text"),
            ("twilio_account_sid", "text"),
            ("twilio_auth_token", "text"),
            ("notes", "text"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
        user_commands: &["SELECT", "INSERT", "UPDATE", "DELETE"],
        authenticated_table: &["SELECT", "DELETE"],
        authenticated_insert_columns: &[
            "user_id",
            "assigned_assistant_id",
            "phone_number",
            "friendly_name",
            "provider",
            "vapi_phone_id",
            "vapi_credential_id",
            "twilio_account_sid",
            "twilio_auth_token",
            "notes",
        ],
        authenticated_update_columns: &[
            "assigned_assistant_id",
            "phone_number",
            "friendly_name",
            "provider",
            "vapi_phone_id",
            "vapi_credential_id",
            "twilio_account_sid",
            "twilio_auth_token",
            "notes",
        ],
    },
    TableSpec {
        name: "call_logs",
        missing_file: false,
        owner_column: "user_id",
        columns: &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("assistant_id", "uuid"),
            ("phone_number_id", "uuid"),
            ("vapi_call_id", "text"),
            ("caller_number", "text"),
            ("duration_seconds", "integer"),
            ("status", "text"),
            ("transcript", "text"),
            ("structured_data", "jsonb"),
            ("summary", "text"),
            ("success_evaluation", "text"),
            ("started_at", TS),
            ("ended_at", TS),
            ("created_at", TS),
            ("updated_at", TS),
            ("counted_duration_seconds", "integer"),
        ],
        user_commands: &["SELECT"],
        authenticated_table: &["SELECT"],
        authenticated_insert_columns: &[],
        authenticated_update_columns: &[],
    },
    TableSpec {
        name: "user_limits",
        missing_file: true,
        owner_column: "user_id",
        columns: &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("plan_type", "text"),
            ("max_assistants", "integer"),
            ("max_call_time_seconds", "integer"),
            ("current_assistants", "integer"),
            ("used_call_time_seconds", "integer"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
        user_commands: &["SELECT"],
        authenticated_table: &["SELECT"],
        authenticated_insert_columns: &[],
        authenticated_update_columns: &[],
    },
    TableSpec {
        name: "usage_logs",
        missing_file: true,
        owner_column: "user_id",
        columns: &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("action_type", "text"),
            ("resource_id", "text"),
            ("assistant_count_change", "integer"),
            ("call_time_change_seconds", "integer"),
            ("trigger_reason", "text"),
            ("details", "jsonb"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
        user_commands: &["SELECT"],
        authenticated_table: &["SELECT"],
        authenticated_insert_columns: &[],
        authenticated_update_columns: &[],
    },
    TableSpec {
        name: "call_analytics",
        missing_file: true,
        owner_column: "user_id",
        columns: &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("assistant_id", "uuid"),
            ("period_type", "text"),
            ("period_start", TS),
            ("period_end", TS),
            ("total_calls", "integer"),
            ("successful_calls", "integer"),
            ("failed_calls", "integer"),
            ("total_duration_seconds", "integer"),
            ("average_duration_seconds", "integer"),
            ("conversion_rate", "numeric(5,2)"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
        user_commands: &["SELECT"],
        authenticated_table: &["SELECT"],
        authenticated_insert_columns: &[],
        authenticated_update_columns: &[],
    },
];

/// The seven table names, in the guide's order.
pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

/// `user_limits` columns a user must never be able to change (plan, limits, usage).
pub const PROTECTED_LIMIT_COLUMNS: &[&str] = &[
    "plan_type",
    "max_assistants",
    "max_call_time_seconds",
    "current_assistants",
    "used_call_time_seconds",
];

/// Table-level privileges `service_role` holds on all seven tables.
pub const SERVICE_ROLE_TABLE: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE"];

/// The roles whose privileges verify compares (PUBLIC is `-`).
pub const API_ROLES: &[&str] = &["anon", "authenticated", "service_role"];

/// One trigger: (schema.table, name, timing, events, function).
#[derive(Debug, Clone, Copy)]
pub struct TriggerSpec {
    pub schema: &'static str,
    pub table: &'static str,
    pub name: &'static str,
    pub timing: &'static str,
    pub events: &'static [&'static str],
    pub function: &'static str,
    /// `ROW` or `STATEMENT` (the usage triggers on call_logs use transition tables).
    pub level: &'static str,
}

const fn trig(
    schema: &'static str,
    table: &'static str,
    name: &'static str,
    timing: &'static str,
    events: &'static [&'static str],
    function: &'static str,
) -> TriggerSpec {
    TriggerSpec {
        schema,
        table,
        name,
        timing,
        events,
        function,
        level: "ROW",
    }
}

/// A FOR EACH STATEMENT trigger.
const fn stmt_trig(
    schema: &'static str,
    table: &'static str,
    name: &'static str,
    timing: &'static str,
    events: &'static [&'static str],
    function: &'static str,
) -> TriggerSpec {
    TriggerSpec {
        level: "STATEMENT",
        ..trig(schema, table, name, timing, events, function)
    }
}

pub const TRIGGERS: &[TriggerSpec] = &[
    trig(
        "auth",
        "users",
        "on_auth_user_created",
        "AFTER",
        &["INSERT"],
        "handle_new_user",
    ),
    trig(
        "auth",
        "users",
        "on_auth_user_email_changed",
        "AFTER",
        &["UPDATE"],
        "sync_profile_email",
    ),
    trig(
        "public",
        "profiles",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    trig(
        "public",
        "profiles",
        "on_profile_created_create_limits",
        "AFTER",
        &["INSERT"],
        "create_user_limits",
    ),
    trig(
        "public",
        "assistants",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    trig(
        "public",
        "assistants",
        "enforce_assistant_limit",
        "BEFORE",
        &["INSERT"],
        "enforce_assistant_limit",
    ),
    trig(
        "public",
        "assistants",
        "protect_assistant_ids",
        "BEFORE",
        &["INSERT"],
        "protect_assistant_ids",
    ),
    trig(
        "public",
        "assistants",
        "protect_assistant_ids_update",
        "BEFORE",
        &["UPDATE"],
        "protect_assistant_ids",
    ),
    trig(
        "public",
        "assistants",
        "track_assistant_usage",
        "AFTER",
        &["INSERT", "DELETE"],
        "track_assistant_usage",
    ),
    trig(
        "public",
        "phone_numbers",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    trig(
        "public",
        "phone_numbers",
        "protect_phone_numbers",
        "BEFORE",
        &["INSERT", "UPDATE"],
        "protect_phone_numbers",
    ),
    trig(
        "public",
        "call_logs",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    trig(
        "public",
        "call_logs",
        "call_logs_track_completion",
        "BEFORE",
        &["INSERT"],
        "call_logs_track_completion",
    ),
    // Since 0.3.0 a row trigger (with a WHEN): a webhook's completion is one
    // function call, an event with nothing to count none.
    trig(
        "public",
        "call_logs",
        "track_call_usage",
        "BEFORE",
        &["UPDATE"],
        "track_call_usage",
    ),
    stmt_trig(
        "public",
        "call_logs",
        "track_call_usage_insert",
        "AFTER",
        &["INSERT"],
        "track_call_usage_insert",
    ),
    trig(
        "public",
        "user_limits",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    trig(
        "public",
        "usage_logs",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    trig(
        "public",
        "call_analytics",
        "set_updated_at",
        "BEFORE",
        &["UPDATE"],
        "set_updated_at",
    ),
    // Since 0.3.2: an analytics row names only an assistant of its own user.
    trig(
        "public",
        "call_analytics",
        "protect_call_analytics",
        "BEFORE",
        &["INSERT", "UPDATE"],
        "protect_call_analytics",
    ),
];

/// One foreign key: (table, column) → referenced table, ON DELETE action.
#[derive(Debug, Clone, Copy)]
pub struct ForeignKeySpec {
    pub table: &'static str,
    pub column: &'static str,
    /// Qualified: `auth.users`, `public.profiles`.
    pub references: &'static str,
    /// `CASCADE` or `SET NULL`.
    pub on_delete: &'static str,
}

const fn fk(
    table: &'static str,
    column: &'static str,
    references: &'static str,
    on_delete: &'static str,
) -> ForeignKeySpec {
    ForeignKeySpec {
        table,
        column,
        references,
        on_delete,
    }
}

pub const FOREIGN_KEYS: &[ForeignKeySpec] = &[
    fk("profiles", "id", "auth.users", "CASCADE"),
    fk("assistants", "user_id", "public.profiles", "CASCADE"),
    fk("phone_numbers", "user_id", "public.profiles", "CASCADE"),
    fk(
        "phone_numbers",
        "assigned_assistant_id",
        "public.assistants",
        "SET NULL",
    ),
    fk("call_logs", "user_id", "public.profiles", "CASCADE"),
    fk("call_logs", "assistant_id", "public.assistants", "SET NULL"),
    fk(
        "call_logs",
        "phone_number_id",
        "public.phone_numbers",
        "SET NULL",
    ),
    fk("user_limits", "user_id", "public.profiles", "CASCADE"),
    fk("usage_logs", "user_id", "public.profiles", "CASCADE"),
    fk("call_analytics", "user_id", "public.profiles", "CASCADE"),
    fk(
        "call_analytics",
        "assistant_id",
        "public.assistants",
        "CASCADE",
    ),
];

/// One function of `public`.
#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    /// As `regprocedure` prints it without the schema: `get_user_call_usage(uuid)`.
    pub signature: &'static str,
    pub security_definer: bool,
    /// API roles that may EXECUTE (anon never does).
    pub execute: &'static [&'static str],
    /// Takes a user id and must refuse another user's (42501) when called by a user.
    pub guarded_user_id: bool,
    /// Deletes users: only service_role may run it.
    pub cleanup: bool,
}

const fn func(
    signature: &'static str,
    security_definer: bool,
    execute: &'static [&'static str],
    guarded_user_id: bool,
    cleanup: bool,
) -> FunctionSpec {
    FunctionSpec {
        signature,
        security_definer,
        execute,
        guarded_user_id,
        cleanup,
    }
}

const APP: &[&str] = &["authenticated", "service_role"];
const SERVICE: &[&str] = &["service_role"];

pub const FUNCTIONS: &[FunctionSpec] = &[
    func("set_updated_at()", false, &[], false, false),
    func("handle_new_user()", true, &[], false, false),
    func("sync_profile_email()", true, &[], false, false),
    func("cleanup_expired_demos()", true, SERVICE, false, true),
    func("enforce_assistant_limit()", true, &[], false, false),
    func("protect_assistant_ids()", true, &[], false, false),
    func("protect_phone_numbers()", true, &[], false, false),
    func("check_user_assistant_limit(uuid)", false, APP, true, false),
    func("call_logs_track_completion()", true, &[], false, false),
    func("get_user_call_usage(uuid)", false, APP, true, false),
    func(
        "cleanup_demo_users_with_call_limits()",
        true,
        SERVICE,
        false,
        true,
    ),
    func("create_user_limits()", true, &[], false, false),
    func("track_assistant_usage()", true, &[], false, false),
    func("track_call_usage()", true, &[], false, false),
    func("track_call_usage_insert()", true, &[], false, false),
    func("sync_user_usage(uuid)", false, APP, true, false),
    func("protect_call_analytics()", true, &[], false, false),
];

/// The free plan's assistant limit and the SQLSTATE the limit raises.
pub const FREE_PLAN_ASSISTANTS: i64 = 1;
pub const LIMIT_SQLSTATE: &str = "VX001";

// ------------------------------------------------------------ structure that carries promises

/// Columns that must accept NULL, besides those of the ON DELETE SET NULL
/// foreign keys (see [`must_accept_null`]): a phone-only sign-up has no
/// e-mail (promise 13).
pub const NULLABLE: &[(&str, &str)] = &[("profiles", "email")];

/// Every column that must accept NULL: [`NULLABLE`] and the columns of the
/// ON DELETE SET NULL foreign keys (NOT NULL there makes the deletion fail:
/// promise 10 keeps a call when its assistant goes).
pub fn must_accept_null() -> Vec<(&'static str, &'static str)> {
    NULLABLE
        .iter()
        .copied()
        .chain(
            FOREIGN_KEYS
                .iter()
                .filter(|k| k.on_delete == "SET NULL")
                .map(|k| (k.table, k.column)),
        )
        .collect()
}

/// Columns that must be NOT NULL: (table, column). Primary keys are NOT NULL anyway.
/// (`profiles.email` may be NULL since 0.2.0: phone-only sign-ups, promise 13.)
pub const NOT_NULL: &[(&str, &str)] = &[
    ("assistants", "user_id"),
    ("assistants", "name"),
    ("assistants", "configuration"),
    ("phone_numbers", "user_id"),
    ("phone_numbers", "phone_number"),
    ("phone_numbers", "friendly_name"),
    ("call_logs", "user_id"),
    ("user_limits", "user_id"),
    ("usage_logs", "user_id"),
    ("usage_logs", "action_type"),
    ("call_analytics", "user_id"),
    ("call_analytics", "period_start"),
    ("call_analytics", "period_end"),
];

/// Defaults that carry a promise: (table, column, default as written in the SQL).
/// Compared after normalising spacing, parentheses and casts.
pub const DEFAULTS: &[(&str, &str, &str)] = &[
    ("profiles", "is_demo_user", "true"),
    ("profiles", "demo_expires_at", "now() + '7 days'::interval"),
    ("user_limits", "plan_type", "'free'::text"),
    ("user_limits", "max_assistants", "1"),
    ("user_limits", "max_call_time_seconds", "600"),
    ("user_limits", "current_assistants", "0"),
    ("user_limits", "used_call_time_seconds", "0"),
    // Usage and the latest-calls order add these up and sort by them.
    ("assistants", "total_call_duration_seconds", "0"),
    ("call_logs", "duration_seconds", "0"),
    ("call_logs", "started_at", "now()"),
];

/// CHECK constraints that restrict a column to a set of values: (table, column, values).
pub const VALUE_CHECKS: &[(&str, &str, &[&str])] = &[
    (
        "call_logs",
        "status",
        &[
            "completed",
            "failed",
            "no-answer",
            "busy",
            "in_progress",
            "cancelled",
        ],
    ),
    (
        "user_limits",
        "plan_type",
        &["free", "pro", "business", "enterprise"],
    ),
    ("phone_numbers", "provider", &["twilio", "vapi"]),
    (
        "call_analytics",
        "period_type",
        &["daily", "weekly", "monthly"],
    ),
];

/// Column sets that must be unique, with the rows they cover (None: all, by a
/// UNIQUE constraint or a full unique index; Some: a partial unique index with
/// this predicate): the webhook idempotency key, the provider ids, one limits row per user, one
/// owner per verified (routable) number — unverified claims may repeat (promise 12).
pub const UNIQUE_KEYS: &[(&str, &[&str], Option<&str>)] = &[
    ("call_logs", &["vapi_call_id"], None),
    // The provider ids webhooks find an account by: one account each.
    ("assistants", &["vapi_assistant_id"], None),
    ("phone_numbers", &["vapi_phone_id"], None),
    ("user_limits", &["user_id"], None),
    (
        "phone_numbers",
        &["phone_number"],
        Some("verified_at IS NOT NULL"),
    ),
];

/// The index the dashboard's latest-calls query needs: (table, key as `pg_get_indexdef` prints it after USING).
pub const LATEST_CALLS_INDEX: (&str, &str) = ("call_logs", "btree (user_id, started_at DESC)");

/// The SQL that schedules the demo cleanup with pg_cron.
pub const CLEANUP_SCHEDULE_SQL: &str = "SELECT cron.schedule('vmx-cleanup-demo-users', '17 3 * * *', 'select public.cleanup_demo_users_with_call_limits()')";

/// The API roles PostgREST switches to for requests (service_role bypasses RLS by design).
pub const REQUEST_ROLES: &[&str] = &["anon", "authenticated"];

// ------------------------------------------------------------ function bodies

/// The body (the text between the dollar quotes) that the embedded files give
/// the function of `public` with this signature's name: its last definition
/// in file order (files 4 and 5 carry identical Option B copies). `None` when
/// no file defines it with a dollar-quoted body.
pub fn function_body(signature: &str) -> Option<&'static str> {
    function_definition(signature).map(|(_, body)| body)
}

/// The volatility the embedded files give the function (`pg_proc.provolatile`:
/// `i`, `s` or `v`, the default), read from its header before the body.
pub fn function_volatility(signature: &str) -> Option<&'static str> {
    let (m, body) = function_definition(signature)?;
    let name = signature.split('(').next()?;
    let body_at = body.as_ptr() as usize - m.sql.as_ptr() as usize;
    let header_at = [
        format!("CREATE OR REPLACE FUNCTION public.{name}("),
        format!("CREATE FUNCTION public.{name}("),
    ]
    .iter()
    .filter_map(|h| m.sql[..body_at].rfind(h.as_str()))
    .max()?;
    let words: Vec<String> = m.sql[header_at..body_at]
        .split(|c: char| !c.is_ascii_alphabetic())
        .map(str::to_ascii_uppercase)
        .collect();
    Some(if words.iter().any(|w| w == "IMMUTABLE") {
        "i"
    } else if words.iter().any(|w| w == "STABLE") {
        "s"
    } else {
        "v"
    })
}

/// The embedded file that last defines the function of `public` with this
/// signature's name, and the body it gives it (see [`function_body`]).
pub fn function_definition(
    signature: &str,
) -> Option<(&'static crate::catalog::Migration, &'static str)> {
    let name = signature.split('(').next()?;
    let headers = [
        format!("CREATE OR REPLACE FUNCTION public.{name}("),
        format!("CREATE FUNCTION public.{name}("),
    ];
    crate::catalog::migrations()
        .iter()
        .filter_map(|m| {
            let at = headers
                .iter()
                .filter_map(|h| m.sql.rfind(h.as_str()))
                .max()?;
            dollar_quoted_after(&m.sql[at..]).map(|body| (m, body))
        })
        .next_back()
}

/// The statement that the embedded files last create this trigger with (file
/// order; `CREATE OR REPLACE TRIGGER name … ON schema.table …`), its comments
/// dropped and its spacing collapsed, as `CREATE TRIGGER …`: what
/// `pg_get_triggerdef` prints for it, up to spacing, parentheses and casts.
pub fn trigger_definition(spec: &TriggerSpec) -> Option<String> {
    let header = format!("CREATE OR REPLACE TRIGGER {}", spec.name);
    let on = format!(" ON {}.{} ", spec.schema, spec.table);
    crate::catalog::migrations()
        .iter()
        .filter_map(|m| {
            m.sql
                .match_indices(header.as_str())
                .filter_map(|(at, _)| {
                    let rest = &m.sql[at..];
                    let statement = &rest[..rest.find(';')?];
                    let text: Vec<&str> = statement
                        .lines()
                        .map(|l| l.split("--").next().unwrap_or(""))
                        .flat_map(str::split_whitespace)
                        .collect();
                    let text = format!("{} ", text.join(" "));
                    let name_ends = text[header.len()..].starts_with(' ');
                    (name_ends && text.contains(&on)).then(|| {
                        text.trim_end()
                            .replacen("CREATE OR REPLACE TRIGGER", "CREATE TRIGGER", 1)
                    })
                })
                .last()
        })
        .next_back()
}

/// The first dollar-quoted string in `sql`, without its quotes.
fn dollar_quoted_after(sql: &str) -> Option<&str> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let tag_len = sql[i + 1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(0);
            if sql[i + 1 + tag_len..].starts_with('$') {
                let tag = &sql[i..i + tag_len + 2];
                let start = i + tag.len();
                let end = sql[start..].find(tag)?;
                return Some(&sql[start..start + end]);
            }
        }
        i += 1;
    }
    None
}

/// SHA-256 (lowercase hex) of a function body, line ends as LF: what verify
/// compares with the server's `prosrc`, hashed the same way.
pub fn function_body_sha256(signature: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    let body = function_body(signature)?.replace("\r\n", "\n");
    Some(
        Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

#[cfg(test)]
mod function_body_tests {
    use super::*;

    #[test]
    fn every_function_of_the_spec_has_a_body_in_the_files() {
        for f in FUNCTIONS {
            let body = function_body(f.signature).unwrap_or_else(|| panic!("{}", f.signature));
            assert!(
                body.contains("BEGIN") || body.contains("SELECT"),
                "{}: {body}",
                f.signature
            );
            // The body's own text, not the next function's: it ends the definition.
            let name = f.signature.split('(').next().unwrap();
            assert!(
                crate::catalog::migrations().iter().any(|m| m
                    .sql
                    .find(body)
                    .is_some_and(|at| m.sql[..at].rfind("FUNCTION public.")
                        == m.sql[..at].rfind(&format!("FUNCTION public.{name}(")))),
                "{}",
                f.signature
            );
            assert_eq!(function_body_sha256(f.signature).unwrap().len(), 64);
        }
    }

    #[test]
    fn every_trigger_of_the_spec_has_its_statement_in_the_files() {
        for t in TRIGGERS {
            let d = trigger_definition(t).unwrap_or_else(|| panic!("{}", t.name));
            assert!(
                d.starts_with(&format!("CREATE TRIGGER {} ", t.name))
                    && d.contains(&format!(" ON {}.{} ", t.schema, t.table))
                    && d.ends_with(&format!("EXECUTE FUNCTION public.{}()", t.function)),
                "{d}"
            );
        }
    }

    #[test]
    fn the_body_is_the_text_between_the_dollar_quotes() {
        assert_eq!(
            dollar_quoted_after("CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1 $fn$;"),
            Some(" SELECT 1 ")
        );
        assert_eq!(dollar_quoted_after("AS $$x$$"), Some("x"));
    }
}
