//! The test harness: a real PostgreSQL for every test.
//!
//! By default one throwaway cluster per test binary (`vmx::sandbox`), and a
//! fresh database per test, copied from a template built once, so tests run in
//! parallel. With `VMX_TEST_DATABASE_URL` (a superuser URL) the databases are
//! created on that server instead.
//!
//! Files are applied as `vmx_supa_admin`, a role shaped like hosted Supabase's
//! `postgres`: not a superuser, CREATEROLE, BYPASSRLS, member of the three API
//! roles, owner of the database, with ALL on `auth.users`.
#![allow(dead_code)]

use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use uuid::Uuid;

/// The non-superuser that applies the schema, like Supabase's `postgres`.
pub const ADMIN: &str = "vmx_supa_admin";

pub struct Server {
    /// Kept alive for the whole test binary; its watchdog removes it after exit.
    _sandbox: Option<vmx::sandbox::Sandbox>,
    superuser_url: url::Url,
    psql: PathBuf,
    external: bool,
}

pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let psql = vmx::sandbox::find_bindir()
            .expect("PostgreSQL server binaries")
            .join("psql");
        match std::env::var("VMX_TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Server {
                _sandbox: None,
                superuser_url: url::Url::parse(&url).expect("VMX_TEST_DATABASE_URL is a URL"),
                psql,
                external: true,
            },
            _ => {
                let sandbox = vmx::sandbox::Sandbox::start().expect("start a throwaway PostgreSQL");
                Server {
                    superuser_url: url::Url::parse(&sandbox.url()).expect("sandbox URL"),
                    _sandbox: Some(sandbox),
                    psql,
                    external: false,
                }
            }
        }
    })
}

impl Server {
    /// A URL for `database` as `user` (None: the superuser).
    pub fn url(&self, database: &str, user: Option<&str>) -> String {
        let mut url = self.superuser_url.clone();
        url.set_path(&format!("/{database}"));
        if let Some(user) = user {
            url.set_username(user).expect("URL takes a user name");
            url.set_password(None).expect("URL takes no password");
        }
        url.to_string()
    }

    /// Runs psql with ON_ERROR_STOP; panics with psql's output on failure.
    pub fn psql(&self, database: &str, user: Option<&str>, args: &[&str]) -> String {
        let out = Command::new(&self.psql)
            .arg(self.url(database, user))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"])
            .args(args)
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .output()
            .expect("run psql");
        if !out.status.success() {
            panic!(
                "psql {args:?} on {database} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn sql(&self, database: &str, user: Option<&str>, sql: &str) -> String {
        self.psql(database, user, &["-c", sql])
    }
}

/// What a fresh database starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fixture {
    /// Nothing: an empty database owned by `vmx_supa_admin`.
    Empty,
    /// `sql/supabase-compat.sql` (applied by the superuser, as Supabase does).
    Compat,
    /// Compat plus the five files applied in order by `vmx_supa_admin` (no vmx history).
    Schema,
    /// Compat plus a database built by hand from the original guide, with data.
    Legacy,
    /// Compat plus only the first four original files, with data ("Option B").
    LegacyFourFiles,
}

pub fn repo_path(rel: &str) -> String {
    format!("{}/{}", env!("CARGO_MANIFEST_DIR"), rel)
}

/// `dir/file`, or `sql/file` when `dir` (a release's kept texts,
/// `sql/releases/<release>`) lacks it: a file that release did not change
/// since is the embedded one.
pub fn file_in(dir: &str, file: &str) -> String {
    let rel = format!("{dir}/{file}");
    if std::path::Path::new(&repo_path(&rel)).exists() {
        rel
    } else {
        format!("sql/{file}")
    }
}

/// The backend pid of `conn`.
pub async fn backend_pid(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .expect("pg_backend_pid()")
}

/// Waits (`within` at most) until backend `pid` waits for a lock — `true` —
/// or `finished` says the work it runs ended without waiting — `false`.
pub async fn waits_for_a_lock(
    db: &TestDb,
    pid: i32,
    within: std::time::Duration,
    finished: impl Fn() -> bool,
) -> bool {
    let mut su = db.superuser().await;
    let deadline = std::time::Instant::now() + within;
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')",
        )
        .bind(pid)
        .fetch_one(&mut su)
        .await
        .expect("read pg_stat_activity");
        if waiting {
            return true;
        }
        if finished() {
            return false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backend {pid} neither waited for a lock nor finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// SQLSTATE of a refused write (RLS, a revoked privilege, a guard trigger).
pub const DENIED: Option<&str> = Some("42501");
/// SQLSTATE of an expired demo's insert (promise 11).
pub const FROZEN: Option<&str> = Some("VX002");

/// The directory whose five files the attack tests run against: `sql`, or
/// an earlier release's kept texts (`VMX_ATTACK_SQL_DIR=sql/releases/0.2.0`)
/// to show that an attack succeeded there.
pub fn attack_sql_dir() -> String {
    std::env::var("VMX_ATTACK_SQL_DIR").unwrap_or_else(|_| "sql".into())
}

/// The five files of `dir` applied by the admin role, in vmx's order.
pub fn apply_files(db: &TestDb, dir: &str) {
    for file in files() {
        db.apply(&file_in(dir, file), Some(ADMIN));
    }
}

/// A database with the five files of `attack_sql_dir()` applied by the admin role.
pub fn attack_db() -> TestDb {
    let dir = attack_sql_dir();
    if dir == "sql" {
        return fresh_db(Fixture::Schema);
    }
    let db = fresh_db(Fixture::Compat);
    apply_files(&db, &dir);
    db
}

/// The five files in the order vmx applies them (the embedded catalogue's order).
pub fn files() -> Vec<&'static str> {
    vmx::catalog::migrations().iter().map(|m| m.name).collect()
}

fn template(fixture: Fixture) -> &'static str {
    static TEMPLATES: [OnceLock<String>; 5] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let slot = match fixture {
        Fixture::Empty => 0,
        Fixture::Compat => 1,
        Fixture::Schema => 2,
        Fixture::Legacy => 3,
        Fixture::LegacyFourFiles => 4,
    };
    TEMPLATES[slot].get_or_init(|| build_template(fixture))
}

fn build_template(fixture: Fixture) -> String {
    let s = server();
    let name = format!(
        "vmx_tpl_{}_{}",
        format!("{fixture:?}").to_lowercase(),
        std::process::id()
    );
    match fixture {
        Fixture::Empty => {
            ensure_admin_role(s);
            s.sql(
                "postgres",
                None,
                &format!("CREATE DATABASE {name} OWNER {ADMIN}"),
            );
        }
        Fixture::Compat => {
            let empty = template(Fixture::Empty);
            s.sql(
                "postgres",
                None,
                &format!("CREATE DATABASE {name} TEMPLATE {empty} OWNER {ADMIN}"),
            );
            s.psql(
                &name,
                None,
                &[
                    "--single-transaction",
                    "-f",
                    &repo_path("sql/supabase-compat.sql"),
                ],
            );
            // Supabase lets its `postgres` role create triggers on auth.users and delete users.
            s.sql(&name, None, &vmx::check::supabase_admin_grants_sql(ADMIN));
        }
        Fixture::Schema => {
            let compat = template(Fixture::Compat);
            s.sql(
                "postgres",
                None,
                &format!("CREATE DATABASE {name} TEMPLATE {compat} OWNER {ADMIN}"),
            );
            for file in files() {
                s.psql(
                    &name,
                    Some(ADMIN),
                    &[
                        "--single-transaction",
                        "-f",
                        &repo_path(&format!("sql/{file}")),
                    ],
                );
            }
        }
        Fixture::Legacy | Fixture::LegacyFourFiles => {
            let compat = template(Fixture::Compat);
            s.sql(
                "postgres",
                None,
                &format!("CREATE DATABASE {name} TEMPLATE {compat} OWNER {ADMIN}"),
            );
            let (schema, data) = if fixture == Fixture::Legacy {
                (
                    "tests/fixtures/legacy.sql",
                    "tests/fixtures/legacy-data.sql",
                )
            } else {
                (
                    "tests/fixtures/legacy-four-files.sql",
                    "tests/fixtures/legacy-data.sql",
                )
            };
            // Built by hand in the SQL editor, i.e. by the admin role; one data file serves both
            // (it skips the three "missing" tables where they are absent).
            s.psql(
                &name,
                Some(ADMIN),
                &["--single-transaction", "-f", &repo_path(schema)],
            );
            s.psql(
                &name,
                None,
                &["--single-transaction", "-f", &repo_path(data)],
            );
        }
    }
    name
}

/// Creates the Supabase-shaped admin role once per server (roles are cluster-wide).
fn ensure_admin_role(s: &Server) {
    s.sql(
        "postgres",
        None,
        &vmx::check::supabase_admin_role_sql(ADMIN),
    );
}

/// A database of its own for one test.
pub struct TestDb {
    pub name: String,
}

/// A fresh database with `fixture`, copied from a template.
pub fn fresh_db(fixture: Fixture) -> TestDb {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let template = template(fixture);
    let name = format!(
        "vmx_t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    server().sql(
        "postgres",
        None,
        &format!("CREATE DATABASE {name} TEMPLATE {template} OWNER {ADMIN}"),
    );
    TestDb { name }
}

/// Who runs a statement.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// Not signed in.
    Anon,
    /// Signed in as this user.
    User(Uuid),
    /// The service role key (webhooks, jobs): bypasses RLS.
    Service,
}

impl TestDb {
    /// URL as the Supabase-shaped admin role (what an operator would give vmx).
    pub fn url(&self) -> String {
        server().url(&self.name, Some(ADMIN))
    }

    pub fn superuser_url(&self) -> String {
        server().url(&self.name, None)
    }

    pub async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.url())
            .await
            .expect("connect as admin")
    }

    pub async fn superuser(&self) -> PgConnection {
        PgConnection::connect(&self.superuser_url())
            .await
            .expect("connect as superuser")
    }

    /// A connection whose session acts as `actor`, as PostgREST sets it up.
    pub async fn connect_as(&self, actor: Actor) -> PgConnection {
        let mut conn = self.admin().await;
        let (role, claims) = match actor {
            Actor::Anon => ("anon", serde_json::json!({"role": "anon"})),
            Actor::User(id) => (
                "authenticated",
                serde_json::json!({"sub": id.to_string(), "role": "authenticated"}),
            ),
            Actor::Service => ("service_role", serde_json::json!({"role": "service_role"})),
        };
        conn.execute(format!("SET ROLE {role}").as_str())
            .await
            .expect("set role");
        sqlx::query("SELECT set_config('request.jwt.claims', $1, false)")
            .bind(claims.to_string())
            .execute(&mut conn)
            .await
            .expect("set claims");
        conn
    }

    /// Signs a user up (a row in auth.users, as Supabase Auth does) and returns the id.
    pub async fn sign_up(&self, email: &str) -> Uuid {
        let mut conn = self.superuser().await;
        sqlx::query_scalar(
            "INSERT INTO auth.users (email, raw_user_meta_data) VALUES ($1, $2) RETURNING id",
        )
        .bind(email)
        .bind(serde_json::json!({"full_name": email.split('@').next().unwrap_or(email)}))
        .fetch_one(&mut conn)
        .await
        .expect("sign up")
    }

    /// Runs SQL through psql as the superuser.
    pub fn sql(&self, sql: &str) -> String {
        server().sql(&self.name, None, sql)
    }

    /// Applies a repository file through psql in one transaction.
    pub fn apply(&self, rel_path: &str, user: Option<&str>) -> String {
        server().psql(
            &self.name,
            user,
            &["--single-transaction", "-f", &repo_path(rel_path)],
        )
    }

    /// Records the five files in vmx.schema_history through vmx's own writer, as
    /// `vmx migrate` would, for databases built from `Fixture::Schema`.
    pub fn record_history(&self) {
        let url = self.url();
        // A thread of its own, so callers inside or outside a runtime can use it.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut conn = PgConnection::connect(&url).await.expect("connect as admin");
                vmx::migrate::history::ensure(&mut conn)
                    .await
                    .expect("create vmx.schema_history");
                for m in vmx::catalog::migrations() {
                    vmx::migrate::history::record(&mut conn, m, 1, None)
                        .await
                        .expect("record a file");
                }
            })
        })
        .join()
        .expect("record history");
    }

    /// Row counts of the seven tables, in a fixed order.
    pub fn row_counts(&self) -> Vec<(String, i64)> {
        let out = self.sql(
            "SELECT c.relname, (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from public.%I', c.relname), false, true, '')))[1]::text::bigint
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r'
               AND c.relname IN ('profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics')
             ORDER BY c.relname",
        );
        out.lines()
            .filter_map(|l| l.split_once('|'))
            .map(|(t, n)| (t.to_string(), n.trim().parse().expect("count")))
            .collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // A throwaway cluster goes as a whole; on a real server, tidy up.
        if server().external {
            let _ = Command::new(&server().psql)
                .arg(server().url("postgres", None))
                .args([
                    "-X",
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                ])
                .output();
        }
    }
}

/// The SQLSTATE of a failed statement, or None if it succeeded.
pub fn sqlstate<T>(result: &Result<T, sqlx::Error>) -> Option<String> {
    match result {
        Ok(_) => None,
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        Err(other) => Some(format!("not a database error: {other}")),
    }
}

/// The vmx binary as a user would run it, with a clean environment: no
/// `DATABASE_URL`, libpq variables or GitHub Actions variables from the
/// caller, no colour, and a bound on how long it may run.
pub fn vmx() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("vmx").expect("the vmx binary");
    for var in [
        "DATABASE_URL",
        "PGPASSWORD",
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "COLUMNS",
        "VMX_PG_BINDIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

/// Runs one statement (simple protocol); Ok(rows affected).
pub async fn exec(conn: &mut PgConnection, sql: &str) -> Result<u64, sqlx::Error> {
    conn.execute(sql).await.map(|r| r.rows_affected())
}

/// [`exec`] that must succeed.
pub async fn exec_ok(conn: &mut PgConnection, sql: &str) -> u64 {
    match exec(conn, sql).await {
        Ok(n) => n,
        Err(e) => panic!("{sql}\nfailed: {e}"),
    }
}

/// The one integer `sql` returns.
pub async fn int(conn: &mut PgConnection, sql: &str) -> i64 {
    match sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut *conn)
        .await
    {
        Ok(n) => n,
        Err(e) => panic!("{sql}\nfailed: {e}"),
    }
}

/// The text `sql` returns, None for no row or NULL.
pub async fn opt_text(conn: &mut PgConnection, sql: &str) -> Option<String> {
    match sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_optional(&mut *conn)
        .await
    {
        Ok(s) => s.flatten(),
        Err(e) => panic!("{sql}\nfailed: {e}"),
    }
}

/// `vmx --database-url <db> ARGS…`, run to its end (see [`vmx`]).
pub fn run_on(db: &TestDb, args: &[&str]) -> std::process::Output {
    vmx()
        .arg("--database-url")
        .arg(db.url())
        .args(args)
        .output()
        .expect("run vmx")
}

/// `vmx --database-url <db> ARGS…` started in the background, its output piped.
pub fn spawn_on(db: &TestDb, args: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .arg("--database-url")
        .arg(db.url())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn vmx")
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_exit(out: &std::process::Output, expected: i32) {
    assert_eq!(
        out.status.code().unwrap_or(-1),
        expected,
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stdout as one JSON document.
pub fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The VAPI webhook's upsert, as the design specifies it (service_role):
/// `vapi_call_id` is the idempotency key; `assistant` may be NULL.
pub async fn webhook(
    svc: &mut PgConnection,
    user: Uuid,
    assistant: impl Into<Option<Uuid>>,
    call: &str,
    status: &str,
    duration: i32,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'completed' THEN now() END)
         ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status,
           duration_seconds = excluded.duration_seconds, ended_at = excluded.ended_at",
    )
    .bind(user)
    .bind(assistant.into())
    .bind(call)
    .bind(status)
    .bind(duration)
    .execute(&mut *svc)
    .await
    .map(|r| r.rows_affected())
}

/// Waits (with a deadline) until no vmx backend is left on `db`.
pub async fn no_vmx_backend_left(db: &TestDb) {
    let mut conn = db.superuser().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'vmx'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if n == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the vmx backend never went away"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
