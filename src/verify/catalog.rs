//! Reads what verify needs from the catalog in two round trips, whatever the
//! size of the database: one JSON document (tables, columns, RLS, grants,
//! policies, triggers, foreign keys, indexes, functions) filtered to the seven
//! tables and `public`, read with `search_path` pinned to '' so expressions
//! come back schema-qualified; then `vmx.schema_history` when it exists.

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
}

#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    pub name: String,
    pub rls: bool,
    pub privileges: Vec<Grant>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
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

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub table: String,
    pub name: String,
    /// Key columns in order (`None` for an expression).
    pub columns: Vec<Option<String>>,
    /// Text after ` USING `: method, columns, opclasses, predicate.
    pub definition: String,
    /// Backs a primary key or unique constraint.
    pub constraint: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    /// `name(argtypes)`, e.g. `get_user_call_usage(uuid)`.
    pub signature: String,
    pub security_definer: bool,
    pub config: Option<Vec<String>>,
    /// Roles (or `PUBLIC`) holding EXECUTE.
    pub execute: Vec<String>,
}

impl Function {
    pub fn pins_search_path(&self) -> bool {
        self.config
            .iter()
            .flatten()
            .any(|c| c.starts_with("search_path="))
    }
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub version: i32,
    pub name: String,
    pub checksum: String,
}

/// Everything the static checks look at.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    pub auth_users: bool,
    pub history_table: bool,
    pub tables: Vec<Table>,
    pub policies: Vec<Policy>,
    pub triggers: Vec<Trigger>,
    pub foreign_keys: Vec<ForeignKey>,
    pub indexes: Vec<Index>,
    pub functions: Vec<Function>,
    #[serde(skip)]
    pub history: Vec<HistoryRow>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// The document query. `{TABLES}` is replaced by the seven names (constants of ours).
const DOCUMENT_SQL: &str = r#"
BEGIN READ ONLY;
SET LOCAL search_path = '';
WITH names AS (SELECT ARRAY[{TABLES}]::text[] AS t),
rels AS (
  SELECT c.oid, c.relname, c.relrowsecurity, c.relacl, c.relowner
  FROM pg_catalog.pg_class c, names
  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY (names.t)
)
SELECT json_build_object(
  'auth_users', to_regclass('auth.users') IS NOT NULL,
  'history_table', to_regclass('vmx.schema_history') IS NOT NULL,
  'tables', (SELECT coalesce(json_agg(json_build_object(
      'name', r.relname,
      'rls', r.relrowsecurity,
      'privileges', (SELECT coalesce(json_agg(json_build_object(
            'grantee', CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
            'privilege', a.privilege_type)), '[]')
          FROM aclexplode(coalesce(r.relacl, acldefault('r', r.relowner))) a),
      'columns', (SELECT coalesce(json_agg(json_build_object(
            'name', at.attname,
            'type', format_type(at.atttypid, at.atttypmod),
            'privileges', (SELECT coalesce(json_agg(json_build_object(
                  'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                  'privilege', x.privilege_type)), '[]')
                FROM aclexplode(at.attacl) x)) ORDER BY at.attnum), '[]')
          FROM pg_attribute at WHERE at.attrelid = r.oid AND at.attnum > 0 AND NOT at.attisdropped)
    )), '[]') FROM rels r),
  'policies', (SELECT coalesce(json_agg(json_build_object(
      'table', r.relname,
      'name', p.polname,
      'permissive', p.polpermissive,
      'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
      'roles', (SELECT coalesce(json_agg(CASE WHEN ro = 0 THEN 'public' ELSE pg_get_userbyid(ro) END), '[]') FROM unnest(p.polroles) ro),
      'using', pg_get_expr(p.polqual, p.polrelid),
      'with_check', pg_get_expr(p.polwithcheck, p.polrelid)
    ) ORDER BY r.relname, p.polname), '[]')
    FROM pg_policy p JOIN rels r ON r.oid = p.polrelid),
  'triggers', (SELECT coalesce(json_agg(json_build_object(
      'schema', n.nspname, 'table', c.relname, 'name', t.tgname,
      'enabled', t.tgenabled, 'tgtype', t.tgtype, 'function', f.proname
    ) ORDER BY n.nspname, c.relname, t.tgname), '[]')
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc f ON f.oid = t.tgfoid
    WHERE NOT t.tgisinternal
      AND (c.oid IN (SELECT oid FROM rels) OR (n.nspname = 'auth' AND c.relname = 'users'))),
  'foreign_keys', (SELECT coalesce(json_agg(json_build_object(
      'table', r.relname, 'name', k.conname,
      'columns', (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num),
      'references', k.confrelid::regclass::text,
      'on_delete', k.confdeltype
    ) ORDER BY r.relname, k.conname), '[]')
    FROM pg_constraint k JOIN rels r ON r.oid = k.conrelid WHERE k.contype = 'f'),
  'indexes', (SELECT coalesce(json_agg(json_build_object(
      'table', r.relname, 'name', ic.relname,
      'columns', (SELECT json_agg(a.attname ORDER BY u.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(num, ord)
                  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.num),
      'definition', regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', ''),
      'constraint', EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
    ) ORDER BY r.relname, ic.relname), '[]')
    FROM pg_index i JOIN rels r ON r.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid),
  'functions', (SELECT coalesce(json_agg(json_build_object(
      'signature', format('%s(%s)', p.proname, oidvectortypes(p.proargtypes)),
      'security_definer', p.prosecdef,
      'config', p.proconfig,
      'execute', (SELECT coalesce(json_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END), '[]')
                  FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.privilege_type = 'EXECUTE')
    ) ORDER BY p.proname), '[]')
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f')
)::text;
COMMIT;
"#;

/// Reads the catalog: one batch for the document, one query for the history.
pub async fn read(conn: &mut PgConnection) -> Result<Catalog> {
    let names = expectations::table_names()
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = DOCUMENT_SQL.replace("{TABLES}", &names);
    let rows = sqlx::raw_sql(&sql)
        .fetch_all(&mut *conn)
        .await
        .context("cannot read the catalog")?;
    let text: String = rows
        .first()
        .context("the catalog query returned no row")?
        .try_get(0)
        .context("cannot read the catalog document")?;
    let mut catalog: Catalog =
        serde_json::from_str(&text).context("cannot parse the catalog document")?;
    if catalog.history_table {
        // Simple protocol: one round trip, no prepared statement.
        let rows = sqlx::raw_sql(
            "SELECT version, name, checksum FROM vmx.schema_history ORDER BY version",
        )
        .fetch_all(&mut *conn)
        .await
        .context("cannot read vmx.schema_history")?;
        catalog.history = rows
            .iter()
            .map(|r| {
                Ok(HistoryRow {
                    version: r.try_get("version")?,
                    name: r.try_get("name")?,
                    checksum: r.try_get("checksum")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .context("cannot read vmx.schema_history")?;
    }
    Ok(catalog)
}
