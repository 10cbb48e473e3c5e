//! The static checks, one module per checklist section. A check is one entry:
//! its id in [`CheckId`], one small function over the [`Catalog`] listed in
//! [`STATIC`], and its break cases (SQL that fails it alone on a clean migrated
//! database) beside it in its module's `BREAKS`.

pub mod foreign_keys;
pub mod functions;
pub mod grants;
pub mod history;
pub mod policies;
pub mod probes;
pub mod rls;
pub mod tables;
pub mod triggers;

use super::catalog::{Catalog, Table};
use crate::report::{CheckResult, Section};
use crate::spec::{self as expect, TableSpec};

pub use policies::{compares_owner, normalize_expr};

/// Every check id, stable and kebab-case (`CheckId::RlsEnabled` is `rls-enabled`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum CheckId {
    // tables
    TableExists,
    TableInheritance,
    TableColumns,
    ColumnNotNull,
    ColumnDefault,
    CheckConstraint,
    UniqueKey,
    ConstraintEnforced,
    LatestCallsIndex,
    ExtensionInPublic,
    // rls
    RlsEnabled,
    ExposedRlsDisabled,
    RlsNoPolicy,
    SettingRowSecurity,
    RlsOwnerBypass,
    // policies
    PolicyExpected,
    PolicyAlwaysTrue,
    PolicyForAnon,
    PolicyOwnerCheck,
    PolicyUnneededCommand,
    PolicyNamesRole,
    PolicyAuthUidWrapped,
    PolicyRlsDisabled,
    PolicyUserMetadata,
    // triggers
    TriggerPresent,
    TriggerEnabled,
    TriggerMode,
    SettingReplicationRole,
    TriggerUnexpected,
    RuleOnTable,
    // foreign_keys
    FkOnDelete,
    FkBlocksDeletion,
    FkIndexed,
    DuplicateIndex,
    // functions
    FunctionSecurity,
    FunctionSearchPath,
    FunctionExecute,
    DefinerExecutable,
    CleanupSchedule,
    AuthFunctions,
    FunctionBody,
    // grants
    TableGrants,
    ColumnGrants,
    LimitsUserWritable,
    ViewSecurityDefiner,
    MatviewExposed,
    ForeignTableExposed,
    AuthUsersExposed,
    ApiRoleAttributes,
    ApiRoleMembership,
    SettingAnonRole,
    SettingBlocksWrites,
    ApiRoleOwns,
    DefaultPrivileges,
    SchemaCreate,
    // history
    HistoryApplied,
    HistoryChecksum,
    HistoryRenamed,
    HistoryUnknownVersion,
    // probes
    ProbeRun,
    ProbeSignUp,
    ProbeSignUpWithoutProfile,
    ProbeIsolation,
    ProbeAnon,
    ProbeNoSelfEscalation,
    ProbeAssistantLimit,
    ProbeUsageCountedOnce,
    ProbeUsagePermanent,
    ProbeDemoFrozen,
    ProbeNoSquatting,
    ProbeAccountRows,
    ProbeFunctionOwnIdOnly,
    ProbeCleanupServiceOnly,
    ProbeCleanupDeletesExpired,
    ProbeCascade,
}

impl CheckId {
    /// Every id, in checklist order.
    pub fn all() -> impl Iterator<Item = CheckId> {
        <CheckId as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The section the id is printed under.
    pub fn section(self) -> Section {
        use CheckId::*;
        match self {
            TableExists | TableInheritance | TableColumns | ColumnNotNull | ColumnDefault
            | CheckConstraint | UniqueKey | ConstraintEnforced | LatestCallsIndex
            | ExtensionInPublic => Section::Tables,
            RlsEnabled | ExposedRlsDisabled | RlsNoPolicy | SettingRowSecurity | RlsOwnerBypass => {
                Section::Rls
            }
            PolicyExpected
            | PolicyAlwaysTrue
            | PolicyForAnon
            | PolicyOwnerCheck
            | PolicyUnneededCommand
            | PolicyNamesRole
            | PolicyAuthUidWrapped
            | PolicyRlsDisabled
            | PolicyUserMetadata => Section::Policies,
            TriggerPresent
            | TriggerEnabled
            | TriggerMode
            | SettingReplicationRole
            | TriggerUnexpected
            | RuleOnTable => Section::Triggers,
            FkOnDelete | FkBlocksDeletion | FkIndexed | DuplicateIndex => Section::ForeignKeys,
            FunctionSecurity | FunctionSearchPath | FunctionExecute | DefinerExecutable
            | CleanupSchedule | AuthFunctions | FunctionBody => Section::Functions,
            TableGrants | ColumnGrants | LimitsUserWritable | ViewSecurityDefiner
            | MatviewExposed | ForeignTableExposed | AuthUsersExposed | ApiRoleAttributes
            | ApiRoleMembership | SettingAnonRole | SettingBlocksWrites | ApiRoleOwns
            | DefaultPrivileges | SchemaCreate => Section::Grants,
            HistoryApplied | HistoryChecksum | HistoryRenamed | HistoryUnknownVersion => {
                Section::History
            }
            ProbeRun
            | ProbeSignUp
            | ProbeSignUpWithoutProfile
            | ProbeIsolation
            | ProbeAnon
            | ProbeNoSelfEscalation
            | ProbeAssistantLimit
            | ProbeUsageCountedOnce
            | ProbeUsagePermanent
            | ProbeDemoFrozen
            | ProbeNoSquatting
            | ProbeAccountRows
            | ProbeFunctionOwnIdOnly
            | ProbeCleanupServiceOnly
            | ProbeCleanupDeletesExpired
            | ProbeCascade => Section::Probes,
        }
    }

    pub fn pass(self, target: impl Into<String>, detail: impl Into<String>) -> CheckResult {
        CheckResult::pass(self.as_str(), self.section(), target, detail)
    }

    pub fn fail(
        self,
        target: impl Into<String>,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> CheckResult {
        CheckResult::fail(self.as_str(), self.section(), target, detail, remedy)
    }

    pub fn warn(
        self,
        target: impl Into<String>,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> CheckResult {
        CheckResult::warn(self.as_str(), self.section(), target, detail, remedy)
    }
}

/// What a break case does to the check it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Fail,
    Warn,
}

/// SQL that, run as superuser on a clean migrated database, makes `id` fail
/// (or warn) on `target` and no other check fail, except the ids in `also`
/// (documented overlaps, e.g. a probe and the static check for the same hole).
#[derive(Debug, Clone, Copy)]
pub struct Break {
    pub id: CheckId,
    pub sql: &'static str,
    pub target: &'static str,
    pub expect: Expect,
    /// Needs `--probe`.
    pub probe: bool,
    /// Other ids this break also fails, by design.
    pub also: &'static [CheckId],
    /// Changes a role or the server (cluster-wide): run alone and undone with
    /// this SQL. In `sql` and `undo`, `{admin}` stands for the role verify
    /// connects as, and a line `;;` separates parts run one by one (outside a
    /// transaction block, as `ALTER SYSTEM` needs); in `target`, `{database}`
    /// for the database's name.
    pub undo: Option<&'static str>,
}

impl Break {
    pub const fn fails(id: CheckId, target: &'static str, sql: &'static str) -> Break {
        Break {
            id,
            sql,
            target,
            expect: Expect::Fail,
            probe: false,
            also: &[],
            undo: None,
        }
    }
    pub const fn warns(id: CheckId, target: &'static str, sql: &'static str) -> Break {
        Break {
            expect: Expect::Warn,
            ..Break::fails(id, target, sql)
        }
    }
    pub const fn probe(self) -> Break {
        Break {
            probe: true,
            ..self
        }
    }
    pub const fn also(self, also: &'static [CheckId]) -> Break {
        Break { also, ..self }
    }
    pub const fn undo(self, undo: &'static str) -> Break {
        Break {
            undo: Some(undo),
            ..self
        }
    }
}

/// Every break case of every section.
pub fn breaks() -> Vec<Break> {
    [
        tables::BREAKS,
        rls::BREAKS,
        policies::BREAKS,
        triggers::BREAKS,
        foreign_keys::BREAKS,
        functions::BREAKS,
        grants::BREAKS,
        history::BREAKS,
        probes::BREAKS,
    ]
    .concat()
}

type Check = fn(&Catalog) -> Vec<CheckResult>;

/// Every static check, in checklist order.
pub const STATIC: &[Check] = &[
    tables::table_exists,
    tables::table_inheritance,
    tables::table_columns,
    tables::column_not_null,
    tables::column_default,
    tables::check_constraint,
    tables::unique_key,
    tables::constraint_enforced,
    tables::latest_calls_index,
    tables::extension_in_public,
    rls::rls_enabled,
    rls::exposed_rls_disabled,
    rls::rls_no_policy,
    rls::setting_row_security,
    rls::rls_owner_bypass,
    policies::policy_expected,
    policies::policy_always_true,
    policies::policy_for_anon,
    policies::policy_owner_check,
    policies::policy_unneeded_command,
    policies::policy_names_role,
    policies::policy_auth_uid_wrapped,
    policies::policy_rls_disabled,
    policies::policy_user_metadata,
    triggers::trigger_present,
    triggers::trigger_enabled,
    triggers::trigger_mode,
    triggers::setting_replication_role,
    triggers::trigger_unexpected,
    triggers::rule_on_table,
    foreign_keys::fk_on_delete,
    foreign_keys::fk_blocks_deletion,
    foreign_keys::fk_indexed,
    foreign_keys::duplicate_index,
    functions::function_security,
    functions::function_search_path,
    functions::function_execute,
    functions::definer_executable,
    functions::cleanup_schedule,
    functions::auth_functions,
    functions::function_body,
    grants::table_grants,
    grants::column_grants,
    grants::limits_not_user_writable,
    grants::view_security_definer,
    grants::matview_exposed,
    grants::foreign_table_exposed,
    grants::auth_users_exposed,
    grants::api_role_attributes,
    grants::api_role_membership,
    grants::setting_anon_role,
    grants::setting_blocks_writes,
    grants::api_role_owns,
    grants::default_privileges,
    grants::schema_create,
    history::history_applied,
    history::history_checksum,
    history::history_renamed,
    history::history_unknown_version,
];

/// Runs every static check.
pub fn all(cat: &Catalog) -> Vec<CheckResult> {
    STATIC.iter().flat_map(|check| check(cat)).collect()
}

// ---------------------------------------------------------------- helpers

const MIGRATE: &str = "run `vmx migrate` (re-applying the files converges the schema)";

pub(crate) fn qualified_table(name: &str) -> String {
    format!("public.{name}")
}

/// Quotes an identifier when it is not a plain lower-case name.
pub(crate) fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

pub(crate) fn present(cat: &Catalog) -> impl Iterator<Item = (&'static TableSpec, &Table)> {
    expect::TABLES
        .iter()
        .filter_map(move |spec| cat.table(spec.name).map(|t| (spec, t)))
}

/// An expression in a form that compares equal across spellings: lower case,
/// without whitespace, parentheses, casts and `AS alias`.
/// A hole finder that found nothing reports one passing line for its scope.
fn or_pass(found: Vec<CheckResult>, id: CheckId, target: &str, detail: &str) -> Vec<CheckResult> {
    if found.is_empty() {
        vec![id.pass(target, detail)]
    } else {
        found
    }
}

/// The relations of `kinds` one hop away (`Catalog::hidden_relations`): in a
/// schema the API does not expose, without row level security of their own
/// (`what` says which), that the API roles may use. An exposed view that
/// reads one, or an exposed function whose body names it, hands every row to
/// them with the caller's rights: a failure naming it; without one, any
/// such view or function added later does: a warning.
fn one_hop(cat: &Catalog, kinds: &[&str], id: CheckId, what: &str) -> Vec<CheckResult> {
    cat.hidden_relations
        .iter()
        .filter(|h| kinds.contains(&h.kind.as_str()))
        .map(|h| {
            let remedy = format!(
                "REVOKE ALL ON {} FROM {}",
                h.qualified(),
                h.readers.join(", ")
            );
            let through: Vec<&str> = h
                .views
                .iter()
                .chain(&h.functions)
                .map(String::as_str)
                .collect();
            if through.is_empty() {
                id.warn(
                    h.qualified(),
                    format!(
                        "{what} outside the exposed schemas that {} may use: any view or function of an exposed schema that runs with the caller's rights hands them every row",
                        h.readers.join(" and ")
                    ),
                    remedy,
                )
            } else {
                id.fail(
                    h.qualified(),
                    format!(
                        "{what} outside the exposed schemas that {} may use, reached by {} with the caller's rights: every row is theirs",
                        h.readers.join(" and "),
                        through.join(", ")
                    ),
                    remedy,
                )
            }
        })
        .collect()
}

/// Where a `pg_db_role_setting` entry applies, in words, and the SQL that removes it.
fn setting_scope(
    role: Option<&str>,
    this_database: bool,
    database: &str,
    name: &str,
) -> (String, String) {
    match (role, this_database) {
        (Some(r), true) => (
            format!("role {r} in this database"),
            format!(
                "ALTER ROLE {} IN DATABASE {} RESET {name}",
                ident(r),
                ident(database)
            ),
        ),
        (Some(r), false) => (
            format!("role {r}"),
            format!("ALTER ROLE {} RESET {name}", ident(r)),
        ),
        (None, true) => (
            "this database".to_string(),
            format!("ALTER DATABASE {} RESET {name}", ident(database)),
        ),
        (None, false) => (
            "every role in every database".to_string(),
            format!("ALTER ROLE ALL RESET {name}"),
        ),
    }
}

/// `name=value` of a setting, the value lower-cased.
fn split_setting(setting: &str) -> (&str, String) {
    let (name, value) = setting.split_once('=').unwrap_or((setting, ""));
    (name, value.trim().to_lowercase())
}

/// The settings of `name` whose value `bad` accepts, as (target, detail, remedy).
fn bad_settings(
    cat: &Catalog,
    name: &str,
    bad: impl Fn(&str) -> bool,
) -> Vec<(String, String, String)> {
    // Server-wide first: this session's value, when no database or role
    // setting that applies to it explains it.
    let explained = cat.role_settings.iter().any(|s| {
        let (n, value) = split_setting(&s.setting);
        n.eq_ignore_ascii_case(name)
            && bad(&value)
            && s.role.as_deref().is_none_or(|r| r == cat.session_role)
    });
    let server = cat
        .session_settings
        .get(name)
        .filter(|v| !explained && bad(&v.to_lowercase()))
        .map(|v| {
            (
                "server".to_string(),
                format!("{name} = {v} is set for the whole server (postgresql.conf, ALTER SYSTEM or the command line)"),
                format!("ALTER SYSTEM RESET {name}; SELECT pg_reload_conf(); (or remove it from postgresql.conf)"),
            )
        });
    server
        .into_iter()
        .chain(cat.role_settings.iter().filter_map(|s| {
            let (n, value) = split_setting(&s.setting);
            if !n.eq_ignore_ascii_case(name) || !bad(&value) {
                return None;
            }
            let (target, scope, remedy) = setting_place(cat, s, name);
            Some((
                target,
                format!("{name} = {value} is set for {scope}"),
                remedy,
            ))
        }))
        .collect()
}

/// Where the database or role setting `s` (of `name`) applies: the check's
/// target (`role r` or `database`), the scope in words, and the SQL that
/// removes it.
fn setting_place(
    cat: &Catalog,
    s: &crate::verify::catalog::RoleSetting,
    name: &str,
) -> (String, String, String) {
    let (scope, remedy) = setting_scope(s.role.as_deref(), s.this_database, &cat.database, name);
    let target = match &s.role {
        Some(r) => format!("role {r}"),
        None => "database".to_string(),
    };
    (target, scope, remedy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::str::FromStr;

    #[test]
    fn ids_are_kebab_case_unique_and_parse_back() {
        let ids: BTreeSet<&str> = CheckId::all().map(CheckId::as_str).collect();
        assert_eq!(ids.len(), CheckId::all().count());
        for id in CheckId::all() {
            let s = id.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
            assert_eq!(CheckId::from_str(s).ok(), Some(id));
        }
        assert_eq!(CheckId::RlsEnabled.as_str(), "rls-enabled");
    }

    #[test]
    fn probe_ids_and_only_they_are_in_the_probes_section() {
        for id in CheckId::all() {
            assert_eq!(
                id.as_str().starts_with("probe-"),
                id.section() == Section::Probes,
                "{id}"
            );
        }
    }

    #[test]
    fn every_break_case_names_its_object_and_runs_sql() {
        for b in breaks() {
            assert!(!b.target.is_empty() && !b.sql.trim().is_empty(), "{b:?}");
            assert_eq!(b.probe, b.id.section() == Section::Probes, "{b:?}");
        }
    }
}
