//! What else switches a promise off without touching the seven tables'
//! policies, grants or triggers, read by one more statement of the catalog's
//! batch that returns
//! only what is there to judge (a few rows, however large the database):
//! rewrite rules on tables in the exposed schemas, CREATE on an exposed schema
//! for the API roles, the seven tables' constraints that are NOT VALID or
//! (unique keys) DEFERRABLE, the auth functions every policy relies on, and a
//! hash of each schema function's body.

use serde::Deserialize;

/// A rule (`pg_rewrite`, not a view's `_RETURN`) on a table.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// `SELECT`, `UPDATE`, `INSERT` or `DELETE`.
    pub event: String,
    pub instead: bool,
}

/// CREATE on an exposed schema held by an API role (or PUBLIC, which they all are).
#[derive(Debug, Clone, Deserialize)]
pub struct SchemaCreate {
    pub schema: String,
    /// `PUBLIC`, `anon` or `authenticated` (directly or through a role it is a member of).
    pub grantee: String,
}

/// A constraint of the seven tables that does not hold for every row, or
/// (a unique key) is not checked at once.
#[derive(Debug, Clone, Deserialize)]
pub struct LooseConstraint {
    pub table: String,
    pub name: String,
    /// `pg_constraint.contype`.
    pub kind: String,
    pub validated: bool,
    pub deferrable: bool,
    pub definition: String,
}

/// The SHA-256 of a schema function's body as the server holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionBody {
    /// `name(argtypes)`, as `catalog::Function::signature`.
    pub signature: String,
    pub sha256: String,
}

/// `auth.uid()`, `auth.role()` or `auth.jwt()`.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthFunction {
    /// `uid()`, `role()`, `jwt()`.
    pub signature: String,
    /// The body (`prosrc`); `None` when the function does not exist.
    pub source: Option<String>,
    /// `authenticated` may execute it.
    pub authenticated_may: bool,
    /// Its `SET` clauses (`proconfig`), if any.
    pub config: Option<Vec<String>>,
    /// `pg_proc.provolatile`: i immutable, s stable, v volatile.
    pub volatility: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Guards {
    pub rules: Vec<Rule>,
    pub schema_create: Vec<SchemaCreate>,
    pub loose_constraints: Vec<LooseConstraint>,
    pub auth_functions: Vec<AuthFunction>,
    /// Functions named `uid`, `role` or `jwt` in schema `auth` that take
    /// arguments (`auth.uid(integer)`): a call with defaulted arguments
    /// prints exactly like the real one.
    pub auth_overloads: Vec<String>,
    pub function_bodies: Vec<FunctionBody>,
    /// API roles (anon, authenticated) that can log in.
    pub api_logins: Vec<String>,
}

/// The batch's fifth statement (`catalog::read`): the exposed schemas are the
/// OIDs the first one kept in `vmx.exposed`; `{TABLES}` and `{FUNCTIONS}` are
/// replaced as in the others.
pub const GUARDS_SQL: &str = r#"
SELECT json_build_object(
  'rules', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'table', c.relname, 'name', r.rulename,
      'event', CASE r.ev_type WHEN '1' THEN 'SELECT' WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT' ELSE 'DELETE' END,
      'instead', r.is_instead) ORDER BY n.nspname, c.relname, r.rulename), '[]')
    FROM (SELECT k.ev_class, k.rulename
          FROM pg_catalog.pg_rewrite k
          -- Alone first, and only the key: an index-only scan of (ev_class,
          -- rulename) once the catalog is vacuumed, never the rule trees of
          -- every view; the few rules found are read after.
          WHERE k.rulename <> '_RETURN'
          OFFSET 0) k
    JOIN pg_catalog.pg_rewrite r ON r.ev_class = k.ev_class AND r.rulename = k.rulename
    JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE r.rulename <> '_RETURN'
      AND c.relkind IN ('r', 'p', 'v', 'f')
      AND (n.oid = ANY (string_to_array(current_setting('vmx.exposed'), ',')::oid[])
           OR (n.nspname = 'auth' AND c.relname = 'users'))),
  'schema_create', (SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'grantee', g.name)
      ORDER BY n.nspname, g.name), '[]')
    FROM pg_catalog.pg_namespace n
    CROSS JOIN (VALUES ('PUBLIC'), ('anon'), ('authenticated')) AS g(name)
    WHERE n.oid = ANY (string_to_array(current_setting('vmx.exposed'), ',')::oid[])
      AND CASE WHEN g.name = 'PUBLIC'
               THEN EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                            WHERE a.grantee = 0 AND a.privilege_type = 'CREATE')
               ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = g.name)
                    AND pg_catalog.has_schema_privilege(g.name, n.oid, 'CREATE')
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                                    WHERE a.grantee = 0 AND a.privilege_type = 'CREATE')
          END),
  'loose_constraints', (SELECT coalesce(json_agg(json_build_object(
      'table', c.relname, 'name', k.conname, 'kind', k.contype, 'validated', k.convalidated,
      'deferrable', k.condeferrable, 'definition', pg_catalog.pg_get_constraintdef(k.oid))
      ORDER BY c.relname, k.conname), '[]')
    FROM pg_catalog.pg_constraint k
    JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
    WHERE c.relnamespace = 'public'::regnamespace
      AND c.relname = ANY (ARRAY[{TABLES}]::text[])
      AND (NOT k.convalidated OR (k.condeferrable AND k.contype IN ('p', 'u', 'x')))),
  'auth_functions', (SELECT json_agg(json_build_object(
      'signature', f.sig, 'source', p.prosrc, 'config', p.proconfig, 'volatility', p.provolatile::text,
      'authenticated_may', p.oid IS NOT NULL
        AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = 'authenticated')
        AND pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE'))
      ORDER BY f.sig)
    FROM (VALUES ('uid()'), ('role()'), ('jwt()')) AS f(sig)
    LEFT JOIN pg_catalog.pg_proc p ON p.oid = pg_catalog.to_regprocedure('auth.' || f.sig)),
  'auth_overloads', (SELECT coalesce(json_agg(p.oid::regprocedure::text ORDER BY 1), '[]')
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = coalesce(pg_catalog.to_regnamespace('auth')::oid, 0)
      AND p.proname IN ('uid', 'role', 'jwt') AND p.pronargs > 0),
  'function_bodies', (SELECT coalesce(json_agg(json_build_object(
      'signature', p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')',
      'sha256', pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
                  pg_catalog.replace(p.prosrc, E'\r\n', E'\n'), 'UTF8')), 'hex'))), '[]')
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.proname = ANY (ARRAY[{FUNCTIONS}]::name[])),
  'api_logins', (SELECT coalesce(json_agg(r.rolname ORDER BY r.rolname), '[]')
    FROM pg_catalog.pg_roles r
    WHERE r.rolname IN ('anon', 'authenticated') AND r.rolcanlogin)
)::text;
"#;
