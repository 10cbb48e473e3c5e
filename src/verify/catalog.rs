//! Reads what verify needs from the catalog in two round trips, whatever the
//! size of the database: one batch of four statements (settings and roles; the
//! seven tables with their columns, grants, constraints, triggers, foreign keys
//! and indexes; the exposed relations and policies that could be a finding; the
//! exposed functions that could be), read with `search_path` pinned to '' so
//! expressions come back schema-qualified; then `vmx.schema_history` when it exists.

use crate::spec as expectations;
use anyhow::{Context, Result};
use serde::Deserialize;
use sqlx::{PgConnection, Row};

#[derive(Debug, Clone, Deserialize)]
pub struct Grant {
    /// Role name, or `PUBLIC`.
    pub grantee: String,
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `EXECUTE`, …
    pub privilege: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub privileges: Vec<Grant>,
    pub not_null: bool,
    /// An identity or generated column (its value never comes from a DEFAULT).
    pub generated: bool,
    /// Its collation compares bytes (`None`: not collatable). A
    /// nondeterministic one makes values that differ (case, accents) equal.
    pub deterministic: Option<bool>,
    /// The default expression as `pg_get_expr` prints it.
    pub default: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    pub name: String,
    pub rls: bool,
    /// FORCE ROW LEVEL SECURITY: the owner is held to the policies too.
    pub force_rls: bool,
    /// UNLOGGED: a crash or a failover empties it.
    pub unlogged: bool,
    pub owner: String,
    /// The owner is a superuser or has BYPASSRLS.
    pub owner_bypasses_rls: bool,
    pub privileges: Vec<Grant>,
    pub columns: Vec<Column>,
    /// CHECK and UNIQUE constraints.
    pub constraints: Vec<Constraint>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Constraint {
    pub name: String,
    /// `pg_constraint.contype`: c check, u unique, p primary key.
    pub kind: String,
    pub columns: Vec<String>,
    /// As `pg_get_constraintdef` prints it.
    pub definition: String,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A table, view, materialized view or foreign table in an exposed schema.
#[derive(Debug, Clone, Deserialize)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// `pg_class.relkind`: r table, p partitioned, v view, m materialized view, f foreign table.
    pub kind: String,
    pub owner: String,
    pub rls: bool,
    pub policies: i64,
    /// A view with `security_invoker` (runs with the caller's rights).
    pub security_invoker: bool,
    /// A view or materialized view that reads `auth.users`.
    pub reads_auth_users: bool,
    /// API roles (anon, authenticated) that may reach it: schema USAGE and a privilege.
    pub readers: Vec<String>,
    pub writers: Vec<String>,
}

impl Relation {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
    pub fn reachable(&self) -> bool {
        !self.readers.is_empty() || !self.writers.is_empty()
    }
    /// One of the seven tables.
    pub fn is_spec_table(&self) -> bool {
        self.schema == "public" && crate::spec::table(&self.name).is_some()
    }
}

/// An API role's attributes and memberships.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiRole {
    pub name: String,
    pub superuser: bool,
    pub bypassrls: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub replication: bool,
    /// Roles it is a member of.
    pub member_of: Vec<String>,
    /// Roles that are members of it.
    pub members: Vec<RoleMember>,
}

/// A role that is a member of an API role.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleMember {
    pub name: String,
    /// Superuser, BYPASSRLS or CREATEROLE: an administrator, not a caller.
    pub admin: bool,
}

/// An exposed view that calls a SECURITY DEFINER function of a schema the
/// API does not expose, with the API roles that may read it (and run the function).
#[derive(Debug, Clone, Deserialize)]
pub struct HiddenDefiner {
    /// `schema.name`.
    pub view: String,
    /// `schema.name(args)`.
    pub function: String,
    pub readers: Vec<String>,
}

/// A table without RLS, a materialized view or a foreign table of a schema
/// the API does not expose, that the API roles may select: any view or
/// function of an exposed schema that runs with the caller's rights reaches
/// every row of it.
#[derive(Debug, Clone, Deserialize)]
pub struct HiddenRelation {
    pub schema: String,
    pub name: String,
    /// `pg_class.relkind`: r, p, m or f.
    pub kind: String,
    pub readers: Vec<String>,
    /// Exposed views the API roles may read that select from it.
    pub views: Vec<String>,
    /// Exposed functions whose body names it.
    pub functions: Vec<String>,
}

/// A SECURITY DEFINER function of a schema the API does not expose that the
/// API roles may execute, with the exposed functions whose body names it.
#[derive(Debug, Clone, Deserialize)]
pub struct HiddenFunction {
    /// `schema.name(args)`.
    pub function: String,
    pub callers: Vec<String>,
    pub used_by: Vec<String>,
}

impl HiddenRelation {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A trigger whose function is SECURITY DEFINER, on an exposed relation the
/// API roles may write.
#[derive(Debug, Clone, Deserialize)]
pub struct DefinerTrigger {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// `schema.name(args)`.
    pub function: String,
    pub writers: Vec<String>,
}

/// An extension and the schema it is installed in.
#[derive(Debug, Clone, Deserialize)]
pub struct Extension {
    pub schema: String,
    pub name: String,
}

/// A `pg_default_acl` entry that grants something to an API role or PUBLIC.
#[derive(Debug, Clone, Deserialize)]
pub struct DefaultAcl {
    /// The role whose new objects get the grant.
    pub role: String,
    /// `None`: every schema.
    pub schema: Option<String>,
    /// r tables, S sequences, f functions, T types, n schemas.
    pub object: String,
    pub grantee: String,
    pub privileges: Vec<String>,
}

/// A `pg_db_role_setting` entry that applies to this database.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleSetting {
    /// `None`: every role.
    pub role: Option<String>,
    /// `false`: every database.
    pub this_database: bool,
    /// `name=value`.
    pub setting: String,
}

/// A pg_cron job, with whether its user may run the cleanup functions.
#[derive(Debug, Clone, Deserialize)]
pub struct CronJob {
    pub name: Option<String>,
    pub schedule: String,
    pub command: String,
    pub database: Option<String>,
    pub username: Option<String>,
    pub active: bool,
    /// The host pg_cron connects to (`localhost` by default).
    pub nodename: Option<String>,
    /// The port it connects to, and the port this server listens on.
    pub nodeport: Option<i32>,
    pub server_port: Option<i32>,
    /// Cleanup functions (signatures) the job's user may EXECUTE.
    pub may_execute: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub permissive: bool,
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE` or `ALL`.
    pub command: String,
    /// Role names; `public` for a policy without `TO`.
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Trigger {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// `pg_trigger.tgenabled`: `D` = disabled.
    pub enabled: String,
    /// `pg_trigger.tgtype` bits.
    pub tgtype: i32,
    pub function: String,
    /// As `pg_get_triggerdef` prints it (schema-qualified): events, columns,
    /// WHEN, transition tables and the function with its schema.
    pub definition: String,
}

impl Trigger {
    pub fn timing(&self) -> &'static str {
        match (self.tgtype & 2 != 0, self.tgtype & 64 != 0) {
            (true, _) => "BEFORE",
            (_, true) => "INSTEAD OF",
            _ => "AFTER",
        }
    }
    pub fn events(&self) -> Vec<&'static str> {
        [
            (4, "INSERT"),
            (16, "UPDATE"),
            (8, "DELETE"),
            (32, "TRUNCATE"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.tgtype & bit != 0)
        .map(|(_, e)| e)
        .collect()
    }
    pub fn row_level(&self) -> bool {
        self.tgtype & 1 != 0
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ForeignKey {
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    /// Qualified: `public.profiles`, `auth.users`.
    pub references: String,
    /// `pg_constraint.confdeltype`: a no action, r restrict, c cascade, n set null, d set default.
    pub on_delete: String,
    /// Every one of its (internal) triggers fires in normal sessions (none
    /// disabled, none ENABLE REPLICA or ALWAYS).
    pub enforced: bool,
}

impl ForeignKey {
    pub fn on_delete_action(&self) -> &'static str {
        match self.on_delete.as_str() {
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            "r" => "RESTRICT",
            _ => "NO ACTION",
        }
    }
}

/// A `pg_inherits` row: `child` inherits from (or is a partition of) `parent`.
#[derive(Debug, Clone, Deserialize)]
pub struct Inheritance {
    pub child: String,
    pub parent: String,
}

/// A foreign key onto `auth.users` or one of the seven tables that refuses
/// the deletion of the rows it points at (NO ACTION, RESTRICT).
#[derive(Debug, Clone, Deserialize)]
pub struct BlockingFk {
    /// Qualified, as `regclass` prints it with an empty search_path.
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    pub references: String,
    pub on_delete: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub table: String,
    pub name: String,
    /// Key columns in order (`None` for an expression).
    pub columns: Vec<Option<String>>,
    /// Text after ` USING `: method, columns, opclasses, predicate.
    pub definition: String,
    /// Backs a primary key, unique or exclusion constraint.
    pub constraint: bool,
    /// Backs an exclusion constraint (refuses conflicting rows like a unique key).
    pub exclusion: bool,
    pub unique: bool,
    /// `NULLS NOT DISTINCT`: a NULL refuses every other NULL.
    pub nulls_not_distinct: bool,
    /// Has a WHERE clause.
    pub partial: bool,
    /// Valid, ready and live: complete, maintained and usable by queries and
    /// `ON CONFLICT` (a failed `CREATE INDEX CONCURRENTLY` leaves one that is not).
    pub valid: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    pub schema: String,
    /// `name(argtypes)`, e.g. `get_user_call_usage(uuid)`.
    pub signature: String,
    pub owner: String,
    /// The owner is a superuser or has BYPASSRLS.
    pub owner_bypasses_rls: bool,
    pub owner_superuser: bool,
    pub security_definer: bool,
    /// `pg_proc.provolatile`: i immutable, s stable, v volatile.
    pub volatility: String,
    /// Returns `trigger` (cannot be called through the API).
    pub trigger: bool,
    /// A procedure (CALLed, by a function the API reaches, not by the API itself).
    pub procedure: bool,
    pub config: Option<Vec<String>>,
    /// Roles (or `PUBLIC`) holding EXECUTE.
    pub execute: Vec<String>,
    /// API roles (anon, authenticated) that may call it: schema USAGE and EXECUTE, directly or through PUBLIC.
    pub callers: Vec<String>,
}

impl Function {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.signature)
    }
    /// `FUNCTION` or `PROCEDURE`, for the remedies' ALTER and REVOKE.
    pub fn kind(&self) -> &'static str {
        if self.procedure {
            "PROCEDURE"
        } else {
            "FUNCTION"
        }
    }
    pub fn pins_search_path(&self) -> bool {
        self.search_path().is_some()
    }
    /// The value its `SET search_path` gives, as stored (`""`, `pg_catalog, pg_temp`).
    pub fn search_path(&self) -> Option<&str> {
        self.config
            .iter()
            .flatten()
            .find_map(|c| c.strip_prefix("search_path="))
    }
    /// Its other `SET` clauses (`session_replication_role=replica`, …).
    pub fn other_settings(&self) -> Vec<&str> {
        self.config
            .iter()
            .flatten()
            .filter(|c| !c.starts_with("search_path="))
            .map(String::as_str)
            .collect()
    }
}

/// Everything the static checks look at.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    pub auth_users: bool,
    /// API roles (anon, authenticated) holding SELECT on `auth.users` (or a column of it).
    pub auth_users_readers: Vec<String>,
    pub history_table: bool,
    /// The schemas the API exposes, and where that list came from.
    pub exposed: Vec<String>,
    pub exposed_source: String,
    pub relations: Vec<Relation>,
    pub api_roles: Vec<ApiRole>,
    /// `authenticated` / `service_role` without USAGE on schema public.
    pub public_usage_missing: Vec<String>,
    /// The role that owns this database (a member of `pg_database_owner`,
    /// which owns schema public on PostgreSQL 15).
    pub database_owner: String,
    /// `service_role` is a superuser or has BYPASSRLS (`None`: no such role).
    pub service_role_bypasses_rls: Option<bool>,
    pub default_acls: Vec<DefaultAcl>,
    pub role_settings: Vec<RoleSetting>,
    /// The role verify runs as, and the values of `session_replication_role`
    /// and `row_security` in its session: one that no database or role
    /// setting explains is the server's (postgresql.conf, ALTER SYSTEM, the
    /// command line).
    pub session_role: String,
    pub session_settings: std::collections::BTreeMap<String, String>,
    /// Extensions installed in `public` or another exposed schema.
    pub extensions_in_public: Vec<Extension>,
    /// `cron.job` exists in this database (pg_cron installed here).
    pub cron: bool,
    /// The connected role may read `cron.job`.
    pub cron_readable: bool,
    pub database: String,
    #[serde(skip)]
    pub cron_jobs: Vec<CronJob>,
    pub tables: Vec<Table>,
    pub policies: Vec<Policy>,
    pub triggers: Vec<Trigger>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Inheritance (or partitioning) involving one of the seven tables.
    pub inheritance: Vec<Inheritance>,
    /// NO ACTION / RESTRICT foreign keys onto auth.users or the seven tables.
    pub blocking_fks: Vec<BlockingFk>,
    pub indexes: Vec<Index>,
    pub functions: Vec<Function>,
    /// Exposed views the API roles read that call a SECURITY DEFINER function
    /// of a schema the API does not expose.
    pub hidden_definers: Vec<HiddenDefiner>,
    /// Tables without RLS, materialized views and foreign tables outside the
    /// exposed schemas that the API roles may select.
    pub hidden_relations: Vec<HiddenRelation>,
    /// SECURITY DEFINER functions outside the exposed schemas that the API roles may execute.
    pub hidden_functions: Vec<HiddenFunction>,
    /// SECURITY DEFINER triggers on exposed relations (not the seven) that API roles may write.
    pub definer_triggers: Vec<DefinerTrigger>,
    #[serde(skip)]
    /// The current rows of `vmx.schema_history`, read by the one drift rule.
    pub history: Vec<crate::migrate::history::Applied>,
    /// Rules, schema CREATE, loose constraints, the auth functions (`super::guards`).
    #[serde(flatten)]
    pub guards: super::guards::Guards,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
    /// Functions of `public` (the schema's own).
    pub fn public_functions(&self) -> impl Iterator<Item = &Function> {
        self.functions.iter().filter(|f| f.schema == "public")
    }
}

/// The catalog batch: four statements in one simple-protocol message, one
/// round trip, each returning one JSON object whose keys are merged into a
/// [`Catalog`]. `{TABLES}` is replaced by the seven names and `{FUNCTIONS}` by
/// the schema's function names (constants of ours), `{SCHEMAS}` by the
/// `--schemas` list (quoted) or `NULL`. The exposed schemas are `--schemas`,
/// else PostgREST's `pgrst.db_schemas` (set on the `authenticator` role or the
/// database), else `public`; the first statement resolves them once and keeps
/// their OIDs for the others in the transaction-local setting `vmx.exposed`.
///
/// Why it is shaped so (a fresh backend pays for every catalog page and cache
/// entry it touches first): the whole-database statements read `pg_class`,
/// `pg_policy` and `pg_proc` once each, judge every object in SQL, and deparse,
/// explode ACLs and check privileges only for the few objects that could be a
/// finding, so a database of 20,000 correct objects returns a handful of rows;
/// objects are looked up by OID through an `OFFSET 0` fence so that stale
/// catalog statistics cannot turn a lookup into a scan. JIT is off: its
/// compile time would dwarf these queries.
const BATCH_SQL: &str = r#"
BEGIN READ ONLY;
SET LOCAL search_path = '';
SET LOCAL jit = off;
WITH pgrst AS (
  SELECT trim(BOTH ' "' FROM u.x) AS schema, u.ord
  FROM (
    SELECT substr(c, length('pgrst.db_schemas=') + 1) AS v
    FROM pg_catalog.pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) c
    WHERE c LIKE 'pgrst.db\_schemas=%'
      AND s.setrole IN (0, coalesce(to_regrole('authenticator')::oid, 0))
      AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
    ORDER BY s.setrole DESC, s.setdatabase DESC
    LIMIT 1
  ) v CROSS JOIN LATERAL unnest(string_to_array(v.v, ',')) WITH ORDINALITY AS u(x, ord)
),
exposed AS (
  SELECT coalesce({SCHEMAS}::text[], (SELECT array_agg(schema ORDER BY ord) FROM pgrst WHERE schema <> ''), ARRAY['public']) AS s,
         CASE WHEN {SCHEMAS}::text[] IS NOT NULL THEN '--schemas'
              WHEN EXISTS (SELECT 1 FROM pgrst) THEN 'pgrst.db_schemas' ELSE 'default' END AS source
),
nsp AS MATERIALIZED (
  SELECT n.oid FROM pg_catalog.pg_namespace n, exposed WHERE n.nspname = ANY (exposed.s)
),
kept AS (SELECT set_config('vmx.exposed', coalesce((SELECT string_agg(oid::text, ',') FROM nsp), ''), true) AS oids),
api AS (SELECT r AS oid FROM unnest(ARRAY[to_regrole('anon'), to_regrole('authenticated')]::oid[]) r WHERE r IS NOT NULL)
SELECT json_build_object(
  'auth_users', to_regclass('auth.users') IS NOT NULL,
  'auth_users_readers', (SELECT coalesce(json_agg(r.rolname ORDER BY r.rolname), '[]') FROM pg_roles r
                         WHERE r.rolname IN ('anon', 'authenticated') AND to_regclass('auth.users') IS NOT NULL
                           AND has_any_column_privilege(r.oid, to_regclass('auth.users'), 'SELECT')),
  'history_table', to_regclass('vmx.schema_history') IS NOT NULL,
  'cron', to_regclass('cron.job') IS NOT NULL,
  'cron_readable', to_regclass('cron.job') IS NOT NULL AND has_schema_privilege('cron', 'USAGE')
                   AND has_table_privilege('cron.job', 'SELECT'),
  'database', current_database(),
  'exposed', (SELECT to_json(s) FROM exposed),
  'exposed_source', (SELECT source FROM exposed),
  'public_usage_missing', (SELECT coalesce(json_agg(r.rolname ORDER BY r.rolname), '[]') FROM pg_roles r
                           WHERE r.rolname IN ('authenticated', 'service_role')
                             AND NOT has_schema_privilege(r.oid, 'public', 'USAGE')),
  'database_owner', (SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database()),
  'service_role_bypasses_rls', (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = 'service_role'),
  'api_roles', (SELECT coalesce(json_agg(json_build_object(
      'name', r.rolname, 'superuser', r.rolsuper, 'bypassrls', r.rolbypassrls, 'createrole', r.rolcreaterole,
      'createdb', r.rolcreatedb, 'replication', r.rolreplication,
      'member_of', (SELECT coalesce(json_agg(pg_get_userbyid(m.roleid) ORDER BY 1), '[]') FROM pg_auth_members m WHERE m.member = r.oid),
      'members', (SELECT coalesce(json_agg(json_build_object('name', x.rolname,
                           'admin', x.rolsuper OR x.rolbypassrls OR x.rolcreaterole) ORDER BY x.rolname), '[]')
                  FROM pg_auth_members m JOIN pg_roles x ON x.oid = m.member WHERE m.roleid = r.oid)
    ) ORDER BY r.rolname), '[]') FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated')),
  'default_acls', (SELECT coalesce(json_agg(json_build_object(
      'role', pg_get_userbyid(d.defaclrole),
      'schema', CASE WHEN d.defaclnamespace = 0 THEN NULL ELSE d.defaclnamespace::regnamespace::text END,
      'object', d.defaclobjtype,
      'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
      'privileges', (SELECT json_agg(x.privilege_type ORDER BY x.privilege_type) FROM aclexplode(d.defaclacl) x WHERE x.grantee = a.grantee)
    )), '[]')
    FROM pg_default_acl d CROSS JOIN LATERAL (SELECT DISTINCT y.grantee FROM aclexplode(d.defaclacl) y) a
    WHERE d.defaclobjtype IN ('r', 'S', 'f')
      AND (a.grantee IN (SELECT oid FROM api) OR (a.grantee = 0 AND d.defaclobjtype <> 'f'))
      AND (d.defaclnamespace = 0 OR d.defaclnamespace IN (SELECT oid FROM nsp))),
  'role_settings', (SELECT coalesce(json_agg(json_build_object(
      'role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END,
      'this_database', s.setdatabase <> 0,
      'setting', c)), '[]')
    FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) c
    WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND (c ILIKE 'session\_replication\_role=%' OR c ILIKE 'row\_security=%' OR c ILIKE 'pgrst.db\_anon\_role=%' OR c ILIKE 'pgrst.db\_pre\_request=%'
           OR c ILIKE 'default\_transaction\_read\_only=%' OR c ILIKE 'statement\_timeout=%')),
  -- What this session runs with (pg_settings would cost a cold backend 2 ms):
  -- a value no database or role setting explains comes from the server.
  'session_role', current_user,
  'session_settings', json_build_object(
      'session_replication_role', current_setting('session_replication_role'),
      'row_security', current_setting('row_security')),
  'extensions_in_public', (SELECT coalesce(json_agg(json_build_object('schema', e.extnamespace::regnamespace::text, 'name', e.extname)
                                    ORDER BY e.extnamespace::regnamespace::text, e.extname), '[]') FROM pg_extension e
                           WHERE e.extnamespace = 'public'::regnamespace OR e.extnamespace IN (SELECT oid FROM nsp))
)::text FROM kept;
-- The seven tables: columns, privileges, constraints, triggers, foreign keys, indexes.
WITH rels AS MATERIALIZED (
  SELECT c.oid, c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relacl, c.relowner, c.relpersistence
  FROM pg_catalog.pg_class c
  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY (ARRAY[{TABLES}]::name[])
)
SELECT json_build_object(
  'tables', (SELECT coalesce(json_agg(json_build_object(
      'name', r.relname,
      'rls', r.relrowsecurity,
      'force_rls', r.relforcerowsecurity,
      'unlogged', r.relpersistence = 'u',
      'owner', pg_get_userbyid(r.relowner),
      'owner_bypasses_rls', (SELECT o.rolsuper OR o.rolbypassrls FROM pg_roles o WHERE o.oid = r.relowner),
      'privileges', (SELECT coalesce(json_agg(json_build_object(
            'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
            'privilege', a.privilege_type)), '[]')
          FROM aclexplode(coalesce(r.relacl, acldefault('r', r.relowner))) a),
      'columns', (SELECT coalesce(json_agg(json_build_object(
            'name', at.attname,
            'type', format_type(at.atttypid, at.atttypmod),
            'not_null', at.attnotnull,
            'generated', at.attidentity <> '' OR at.attgenerated <> '',
            'deterministic', (SELECT co.collisdeterministic FROM pg_collation co WHERE co.oid = at.attcollation),
            'default', CASE WHEN at.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = at.attrelid AND d.adnum = at.attnum) END,
            'privileges', CASE WHEN at.attacl IS NULL THEN '[]'::json ELSE (SELECT coalesce(json_agg(json_build_object(
                  'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                  'privilege', x.privilege_type)), '[]')
                FROM aclexplode(at.attacl) x) END) ORDER BY at.attnum), '[]')
          FROM pg_attribute at WHERE at.attrelid = r.oid AND at.attnum > 0 AND NOT at.attisdropped),
      'constraints', (SELECT coalesce(json_agg(json_build_object(
            'name', k.conname, 'kind', k.contype,
            'columns', (SELECT coalesce(json_agg(a.attname ORDER BY u.ord), '[]') FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
                        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num),
            'definition', pg_get_constraintdef(k.oid)) ORDER BY k.conname), '[]')
          FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype IN ('c', 'u', 'p'))
    )), '[]') FROM rels r),
  'triggers', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'table', c.relname, 'name', t.tgname,
      'enabled', t.tgenabled, 'tgtype', t.tgtype, 'function', f.proname,
      'definition', pg_get_triggerdef(t.oid)
    ) ORDER BY n.nspname, c.relname, t.tgname), '[]')
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc f ON f.oid = t.tgfoid
    WHERE NOT t.tgisinternal
      AND t.tgrelid IN (SELECT oid FROM rels UNION ALL SELECT coalesce(to_regclass('auth.users')::oid, 0))),
  'foreign_keys', (SELECT coalesce(json_agg(json_build_object(
      'table', r.relname, 'name', k.conname,
      'columns', (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num),
      'references', k.confrelid::regclass::text,
      'on_delete', k.confdeltype,
      'enforced', NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgconstraint = k.oid AND t.tgenabled <> 'O')
    ) ORDER BY r.relname, k.conname), '[]')
    FROM pg_constraint k JOIN rels r ON r.oid = k.conrelid WHERE k.contype = 'f'),
  -- Foreign keys that refuse the deletion of a user's rows: NO ACTION or
  -- RESTRICT, onto auth.users or one of the seven tables, from a table outside
  -- them (GoTrue's own auth tables aside) or not among the schema's own keys;
  -- found through the dependency index of the referenced tables.
  'blocking_fks', (SELECT coalesce(json_agg(json_build_object(
      'table', k.conrelid::regclass::text, 'name', k.conname,
      'columns', (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num),
      'references', k.confrelid::regclass::text, 'on_delete', k.confdeltype
    ) ORDER BY k.conrelid::regclass::text, k.conname), '[]')
    FROM (SELECT DISTINCT d.objid FROM pg_depend d
          WHERE d.classid = 'pg_catalog.pg_constraint'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
            AND d.refobjid IN (SELECT oid FROM rels UNION ALL SELECT coalesce(to_regclass('auth.users')::oid, 0))) d
    JOIN pg_constraint k ON k.oid = d.objid
    JOIN pg_class c ON c.oid = k.conrelid
    WHERE k.contype = 'f' AND k.confdeltype IN ('a', 'r')
      AND c.relnamespace <> coalesce(to_regnamespace('auth')::oid, 0)),
  -- Inheritance or partitioning that involves one of the seven, either way.
  'inheritance', (SELECT coalesce(json_agg(json_build_object(
      'child', h.inhrelid::regclass::text, 'parent', h.inhparent::regclass::text)
      ORDER BY h.inhrelid::regclass::text, h.inhparent::regclass::text), '[]')
    FROM pg_inherits h
    WHERE h.inhrelid IN (SELECT oid FROM rels) OR h.inhparent IN (SELECT oid FROM rels)),
  'indexes', (SELECT coalesce(json_agg(json_build_object(
      'table', r.relname, 'name', ic.relname,
      -- Key columns only (INCLUDE columns take part in no comparison).
      'columns', (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(num, ord)
                  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.num
                  WHERE u.ord <= i.indnkeyatts),
      'definition', regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', ''),
      'constraint', EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')),
      'exclusion', EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid AND k.contype = 'x'),
      'unique', i.indisunique,
      -- NULLS NOT DISTINCT (PostgreSQL 15): one NULL refuses every other.
      -- Read through to_jsonb so that older servers, without the column, read false.
      'nulls_not_distinct', coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false),
      'partial', i.indpred IS NOT NULL,
      'valid', i.indisvalid AND i.indisready AND i.indislive
    ) ORDER BY r.relname, ic.relname), '[]')
    FROM pg_index i JOIN rels r ON r.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid)
)::text;
-- Relations and policies of the exposed schemas that could be a finding (or are the
-- seven tables'), judged in SQL over one scan of pg_class and one of pg_policy:
-- relations — a table without RLS or without policies, a view that runs as its owner
-- or reads auth.users, every materialized view and foreign table, anything an API role
-- owns; policies — for PUBLIC or anon, a constant (always true or false), or reading
-- the JWT (user_metadata).
WITH nsp AS (SELECT string_to_array(current_setting('vmx.exposed'), ',')::oid[] AS oids),
api AS (SELECT array_remove(ARRAY[to_regrole('anon'), to_regrole('authenticated')]::oid[], NULL) AS oids),
api_roles AS MATERIALIZED (
  SELECT r AS oid, pg_get_userbyid(r) AS rolname
  FROM unnest(ARRAY[to_regrole('anon'), to_regrole('authenticated')]::oid[]) r WHERE r IS NOT NULL
),
spec AS (
  SELECT c.oid FROM pg_catalog.pg_class c
  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY (ARRAY[{TABLES}]::name[])
),
auth_readers AS (
  SELECT r.ev_class AS oid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
  WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = coalesce(to_regclass('auth.users')::oid, 0)
    AND coalesce(d.classid, 0) = 'pg_catalog.pg_rewrite'::regclass
),
jwt_policies AS (
  SELECT d.objid FROM pg_catalog.pg_depend d
  WHERE d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = coalesce(to_regprocedure('auth.jwt()')::oid, 0)
    AND coalesce(d.classid, 0) = 'pg_catalog.pg_policy'::regclass
),
-- Each catalog is read once, by a bare sequential scan whose rows are judged with
-- plain comparisons against arrays computed once: with thousands of correct objects
-- the per-row cost is what counts (no index can tell RLS or a policy's form).
policy_candidates AS MATERIALIZED (
  SELECT p.oid FROM pg_catalog.pg_policy p
  WHERE p.polroles && (SELECT ARRAY[0, coalesce(to_regrole('anon')::oid, 0)])
     OR p.polrelid = ANY ((SELECT array_agg(oid) FROM spec)::oid[])
     OR p.polqual::text LIKE '{CONST %' OR p.polwithcheck::text LIKE '{CONST %'
     OR p.oid = ANY ((SELECT array_agg(objid) FROM jwt_policies)::oid[])
),
relation_candidates AS MATERIALIZED (
  SELECT c.oid, c.relname, c.relnamespace, c.relkind, c.relowner, c.relrowsecurity,
         coalesce(c.reloptions && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'], false) AS security_invoker,
         coalesce(c.relnamespace, 0) = ANY ((SELECT oids FROM nsp)::oid[]) AS exposed
  FROM pg_catalog.pg_class c
  -- coalesce: not a qual an index could serve (a scan of the whole name index is slower;
  -- in pg_depend, only the index on the referenced object is narrow).
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND ((coalesce(c.relnamespace, 0) = ANY ((SELECT oids FROM nsp)::oid[])
          AND (c.relkind IN ('m', 'f')
               OR c.relowner = ANY ((SELECT oids FROM api)::oid[])
               OR (c.relkind IN ('r', 'p') AND (NOT c.relrowsecurity OR c.oid NOT IN (SELECT polrelid FROM pg_catalog.pg_policy)))
               OR (c.relkind = 'v' AND (NOT coalesce(c.reloptions && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'], false)
                                        OR c.oid = ANY ((SELECT array_agg(oid) FROM auth_readers)::oid[])))))
      -- The same classes one hop away: in a schema the API does not expose
      -- (not the system's), what has no row level security of its own.
      -- (views: those that run with their owner's rights, or rewrite a write
      -- with a rule, which acts with the owner's rights too).
      OR (NOT coalesce(c.relnamespace, 0) = ANY ((SELECT oids FROM nsp)::oid[])
          AND c.relnamespace <> ALL (ARRAY['pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace]::oid[])
          AND c.oid <> coalesce(to_regclass('auth.users')::oid, 0)  -- auth-users-exposed's
          AND (c.relkind IN ('m', 'f') OR (c.relkind IN ('r', 'p') AND NOT c.relrowsecurity)
               OR (c.relkind = 'v'
                   AND (NOT coalesce(c.reloptions && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'], false)
                        OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite rw
                                   WHERE rw.ev_class = c.oid AND rw.rulename <> '_RETURN'))))))
)
SELECT json_build_object(
  'relations', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'name', c.relname, 'kind', c.relkind,
      'owner', pg_get_userbyid(c.relowner),
      'rls', c.relrowsecurity,
      'policies', (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid),
      'security_invoker', c.security_invoker,
      'reads_auth_users', c.oid IN (SELECT oid FROM auth_readers),
      'readers', (SELECT coalesce(json_agg(a.rolname ORDER BY a.rolname), '[]') FROM api_roles a
                  WHERE has_schema_privilege(a.oid, n.oid, 'USAGE') AND has_any_column_privilege(a.oid, c.oid, 'SELECT')),
      'writers', (SELECT coalesce(json_agg(a.rolname ORDER BY a.rolname), '[]') FROM api_roles a
                  WHERE has_schema_privilege(a.oid, n.oid, 'USAGE')
                    AND (has_any_column_privilege(a.oid, c.oid, 'INSERT, UPDATE') OR has_table_privilege(a.oid, c.oid, 'DELETE, TRUNCATE')))
    ) ORDER BY n.nspname, c.relname), '[]')
    FROM relation_candidates c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    -- OFFSET 0: a probe of the dependency index per candidate, never a join over
    -- every relation's dependencies.
    -- An extension's own objects are its (extension-in-public warns of it in
    -- public) — but not an object of public added to an extension that lives
    -- elsewhere (ALTER EXTENSION … ADD hides nothing).
    WHERE c.exposed
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e JOIN pg_catalog.pg_extension x ON x.oid = e.refobjid
                      WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e'
                        AND (c.relnamespace <> 'public'::regnamespace OR x.extnamespace = c.relnamespace) OFFSET 0)),
  -- Tables without RLS, materialized views and foreign tables of the other
  -- schemas that the API roles may select, with the exposed views they may
  -- read that select from them (with the caller's rights: one hop away).
  'hidden_relations', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'name', h.relname, 'kind', h.relkind, 'readers', to_json(rd.readers),
      'views', (SELECT coalesce(json_agg(DISTINCT vn.nspname || '.' || v.relname), '[]')
                FROM pg_catalog.pg_depend d
                JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid
                JOIN pg_catalog.pg_class v ON v.oid = rw.ev_class
                JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
                WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = h.oid
                  AND d.classid = 'pg_catalog.pg_rewrite'::regclass AND v.oid <> h.oid
                  AND v.relnamespace = ANY ((SELECT oids FROM nsp)::oid[])
                  AND EXISTS (SELECT 1 FROM api_roles a
                              WHERE has_schema_privilege(a.oid, v.relnamespace, 'USAGE')
                                AND has_any_column_privilege(a.oid, v.oid, 'SELECT')))
      -- Exposed invoker functions the API roles may call whose body names it
      -- (bodies record no dependencies).
      , 'functions', (SELECT coalesce(json_agg(e.oid::regprocedure::text ORDER BY e.oid::regprocedure::text), '[]')
                      FROM pg_catalog.pg_proc e
                      WHERE e.pronamespace = ANY ((SELECT oids FROM nsp)::oid[]) AND NOT e.prosecdef
                        AND strpos(lower(e.prosrc), lower(n.nspname || '.' || h.relname)) > 0
                        AND EXISTS (SELECT 1 FROM api_roles a WHERE has_function_privilege(a.oid, e.oid, 'EXECUTE')))
    ) ORDER BY n.nspname, h.relname), '[]')
    FROM relation_candidates h
    JOIN pg_catalog.pg_namespace n ON n.oid = h.relnamespace
    CROSS JOIN LATERAL (SELECT array_agg(a.rolname ORDER BY a.rolname) AS readers FROM api_roles a
                        WHERE has_schema_privilege(a.oid, n.oid, 'USAGE')
                          AND (has_any_column_privilege(a.oid, h.oid, 'SELECT, INSERT, UPDATE')
                               OR has_table_privilege(a.oid, h.oid, 'DELETE'))) rd
    WHERE NOT h.exposed AND rd.readers IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                      WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = h.oid AND e.deptype = 'e' OFFSET 0)),
  'policies', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname,
      'table', c.relname,
      'name', p.polname,
      'permissive', p.polpermissive,
      'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
      'roles', (SELECT coalesce(json_agg(CASE WHEN ro = 0 THEN 'public' ELSE pg_get_userbyid(ro) END), '[]') FROM unnest(p.polroles) ro),
      'using', pg_get_expr(p.polqual, p.polrelid),
      'with_check', pg_get_expr(p.polwithcheck, p.polrelid)
    ) ORDER BY n.nspname, c.relname, p.polname), '[]')
    FROM policy_candidates k
    CROSS JOIN LATERAL (SELECT p.* FROM pg_catalog.pg_policy p WHERE p.oid = k.oid OFFSET 0) p
    CROSS JOIN LATERAL (SELECT c.relname, c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = p.polrelid OFFSET 0) c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relnamespace = ANY ((SELECT oids FROM nsp)::oid[]))
)::text;
-- Functions of the exposed schemas that could be a finding (or are the schema's own):
-- SECURITY DEFINER, a mutable search_path, owned by an API role.
WITH nsp AS (SELECT string_to_array(current_setting('vmx.exposed'), ',')::oid[] AS oids),
api AS (SELECT array_remove(ARRAY[to_regrole('anon'), to_regrole('authenticated')]::oid[], NULL) AS oids),
api_roles AS MATERIALIZED (
  SELECT r AS oid, pg_get_userbyid(r) AS rolname
  FROM unnest(ARRAY[to_regrole('anon'), to_regrole('authenticated')]::oid[]) r WHERE r IS NOT NULL
),
-- One scan of pg_proc for both: the exposed functions that could be a
-- finding, and the SECURITY DEFINER functions of the other (non-system)
-- schemas, which exposed views may call.
proc_scan AS MATERIALIZED (
  SELECT p.oid, coalesce(p.pronamespace, 0) = ANY ((SELECT oids FROM nsp)::oid[]) AS exposed
  FROM pg_catalog.pg_proc p
  WHERE p.prokind IN ('f', 'p')
    AND CASE WHEN coalesce(p.pronamespace, 0) = ANY ((SELECT oids FROM nsp)::oid[])
             THEN p.prosecdef OR p.proconfig IS NULL
                  OR NOT ('search_path=""' = ANY (p.proconfig) OR p.proconfig::text LIKE '%search_path=%')
                  -- A setting merely named like it (app.search_path): read, and judged exactly.
                  OR strpos(p.proconfig::text, '.search_path=') > 0
                  OR p.proowner = ANY ((SELECT oids FROM api)::oid[])
                  OR (p.pronamespace = 'public'::regnamespace AND p.proname = ANY (ARRAY[{FUNCTIONS}]::name[]))
             ELSE p.prosecdef AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        END
),
function_candidates AS (SELECT oid FROM proc_scan WHERE exposed)
SELECT json_build_object('functions', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname,
      'signature', format('%s(%s)', p.proname, oidvectortypes(p.proargtypes)),
      'owner', pg_get_userbyid(p.proowner),
      'owner_bypasses_rls', o.rolsuper OR o.rolbypassrls,
      'owner_superuser', o.rolsuper,
      'security_definer', p.prosecdef,
      'volatility', p.provolatile::text,
      'trigger', p.prorettype = 'pg_catalog.trigger'::regtype,
      'procedure', p.prokind = 'p',
      'config', p.proconfig,
      'execute', (SELECT coalesce(json_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END), '[]')
                  FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.privilege_type = 'EXECUTE'),
      'callers', (SELECT coalesce(json_agg(a.rolname ORDER BY a.rolname), '[]') FROM api_roles a
                  WHERE has_schema_privilege(a.oid, n.oid, 'USAGE') AND has_function_privilege(a.oid, p.oid, 'EXECUTE'))
    ) ORDER BY n.nspname, p.proname), '[]')
    FROM function_candidates k
    CROSS JOIN LATERAL (SELECT p.* FROM pg_catalog.pg_proc p WHERE p.oid = k.oid OFFSET 0) p
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
    -- OFFSET 0 as for relations: with 5,000 functions the planner otherwise reads
    -- every function's dependencies to find the extension members.
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e JOIN pg_catalog.pg_extension x ON x.oid = e.refobjid
                      WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e'
                        AND (p.pronamespace <> 'public'::regnamespace OR x.extnamespace = p.pronamespace) OFFSET 0)),
  -- Triggers on the other exposed relations whose function is SECURITY
  -- DEFINER, where an API role may write: the write runs it with its owner's
  -- rights (an INSTEAD OF trigger on an invoker view, a definer trigger on an
  -- app table that updates user_limits).
  'definer_triggers', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'table', c.relname, 'name', t.tgname, 'function', t.tgfoid::regprocedure::text,
      'writers', w.writers) ORDER BY n.nspname, c.relname, t.tgname), '[]')
    FROM pg_catalog.pg_trigger t
    JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
    JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL (SELECT array_agg(a.rolname ORDER BY a.rolname) AS writers FROM api_roles a
                        WHERE has_schema_privilege(a.oid, n.oid, 'USAGE')
                          AND (has_any_column_privilege(a.oid, c.oid, 'INSERT, UPDATE') OR has_table_privilege(a.oid, c.oid, 'DELETE'))) w
    WHERE NOT t.tgisinternal AND f.prosecdef
      AND c.relnamespace = ANY ((SELECT oids FROM nsp)::oid[])
      AND NOT (c.relnamespace = 'public'::regnamespace AND c.relname = ANY (ARRAY[{TABLES}]::name[]))
      AND w.writers IS NOT NULL),
  -- Exposed views the API roles read that call a SECURITY DEFINER function of
  -- a schema the API does not expose: the view is invoker, the function is
  -- not, and its rows are its owner's (found from the definer functions, few,
  -- through the dependency index).
  'hidden_functions', (SELECT coalesce(json_agg(json_build_object(
      'function', f.oid::regprocedure::text, 'callers', to_json(cl.callers),
      'used_by', (SELECT coalesce(json_agg(e.oid::regprocedure::text ORDER BY e.oid::regprocedure::text), '[]')
                  FROM pg_catalog.pg_proc e
                  WHERE e.pronamespace = ANY ((SELECT oids FROM nsp)::oid[]) AND NOT e.prosecdef
                    AND strpos(lower(e.prosrc), lower(fn.nspname || '.' || f.proname)) > 0
                    AND EXISTS (SELECT 1 FROM api_roles a WHERE has_function_privilege(a.oid, e.oid, 'EXECUTE')))
    ) ORDER BY f.oid::regprocedure::text), '[]')
    FROM proc_scan k
    CROSS JOIN LATERAL (SELECT f.* FROM pg_catalog.pg_proc f WHERE f.oid = k.oid OFFSET 0) f
    JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
    CROSS JOIN LATERAL (SELECT array_agg(a.rolname ORDER BY a.rolname) AS callers FROM api_roles a
                        WHERE has_schema_privilege(a.oid, fn.oid, 'USAGE')
                          AND has_function_privilege(a.oid, f.oid, 'EXECUTE')) cl
    WHERE NOT k.exposed AND f.prorettype <> 'pg_catalog.trigger'::regtype AND cl.callers IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                      WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = f.oid AND e.deptype = 'e' OFFSET 0)),
  'hidden_definers', (SELECT coalesce(json_agg(json_build_object(
      'view', vn.nspname || '.' || v.relname, 'function', f.oid::regprocedure::text,
      'readers', rd.readers) ORDER BY vn.nspname, v.relname, f.oid::regprocedure::text), '[]')
    FROM proc_scan k
    CROSS JOIN LATERAL (SELECT f.* FROM pg_catalog.pg_proc f WHERE f.oid = k.oid OFFSET 0) f
    JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = f.oid
                               AND d.classid = 'pg_catalog.pg_rewrite'::regclass
    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
    JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
    JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
    CROSS JOIN LATERAL (SELECT array_agg(a.rolname ORDER BY a.rolname) AS readers FROM api_roles a
                        WHERE has_schema_privilege(a.oid, vn.oid, 'USAGE') AND has_any_column_privilege(a.oid, v.oid, 'SELECT')
                          AND has_function_privilege(a.oid, f.oid, 'EXECUTE')) rd
    WHERE NOT k.exposed
      AND v.relnamespace = ANY ((SELECT oids FROM nsp)::oid[])
      AND rd.readers IS NOT NULL)
)::text;
COMMIT;
"#;

/// pg_cron's jobs, when `cron.job` exists. `{CLEANUP}` is the cleanup functions' signatures.
const CRON_SQL: &str = r#"
SELECT coalesce(json_agg(json_build_object(
  'name', j.jobname, 'schedule', j.schedule, 'command', j.command, 'database', j.database,
  'username', j.username, 'active', j.active, 'nodename', j.nodename,
  'nodeport', j.nodeport, 'server_port', pg_catalog.current_setting('port')::integer,
  'may_execute', (SELECT coalesce(json_agg(f), '[]') FROM unnest(ARRAY[{CLEANUP}]::text[]) f
                  WHERE pg_catalog.to_regprocedure('public.' || f) IS NOT NULL
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = j.username)
                    AND pg_catalog.has_function_privilege(j.username, pg_catalog.to_regprocedure('public.' || f), 'EXECUTE'))
) ORDER BY j.jobid), '[]')::text
FROM cron.job j
"#;

/// A text array literal of `items`, quoted.
fn text_array(items: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect();
    format!("ARRAY[{}]", quoted.join(", "))
}

/// Reads the catalog: one batch for the document, one query for the history.
/// `schemas`: the exposed schemas from `--schemas` (empty: PostgREST's
/// setting, else `public`).
pub async fn read(conn: &mut PgConnection, schemas: &[String]) -> Result<Catalog> {
    let names = text_array(&expectations::table_names());
    let names = names.trim_start_matches("ARRAY[").trim_end_matches(']');
    let schemas = if schemas.is_empty() {
        "NULL".to_string()
    } else {
        text_array(&schemas.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let functions: Vec<&str> = expectations::FUNCTIONS
        .iter()
        .map(|f| f.signature.split('(').next().unwrap_or(f.signature))
        .collect();
    let functions = text_array(&functions);
    let batch = BATCH_SQL.replace(
        "COMMIT;",
        &format!("{}\nCOMMIT;", super::guards::GUARDS_SQL.trim()),
    );
    let sql = batch
        .replace("{TABLES}", names)
        .replace(
            "{FUNCTIONS}",
            functions.trim_start_matches("ARRAY[").trim_end_matches(']'),
        )
        .replace("{SCHEMAS}", &schemas);
    let rows = sqlx::raw_sql(&sql)
        .fetch_all(&mut *conn)
        .await
        .context("cannot read the catalog")?;
    // One row per SELECT of the batch, each a JSON object of some of the keys.
    let mut document = serde_json::Map::new();
    for row in &rows {
        let text: String = row.try_get(0).context("cannot read the catalog document")?;
        let part: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).context("cannot parse the catalog document")?;
        document.extend(part);
    }
    let mut catalog: Catalog = serde_json::from_value(serde_json::Value::Object(document))
        .context("cannot parse the catalog document")?;
    if catalog.cron_readable {
        let cleanup: Vec<&str> = expectations::FUNCTIONS
            .iter()
            .filter(|f| f.cleanup)
            .map(|f| f.signature)
            .collect();
        let sql = CRON_SQL.replace("{CLEANUP}", &text_array(&cleanup));
        let text: String = sqlx::raw_sql(&sql)
            .fetch_one(&mut *conn)
            .await
            .context("cannot read cron.job")?
            .try_get(0)
            .context("cannot read cron.job")?;
        catalog.cron_jobs = serde_json::from_str(&text).context("cannot parse cron.job")?;
    }
    if catalog.history_table {
        catalog.history = crate::migrate::history::read_current(&mut *conn).await?;
    }
    Ok(catalog)
}
