//! vmx against what runs in production (issue 11): a real PgBouncer in
//! transaction mode (refused, nothing changed) and in session mode with its
//! default settings (everything works), the server's NOTICE/WARNING reaching
//! vmx, and libpq's habits: Unix-socket URLs, the `PG*` environment,
//! `~/.pgpass`/`PGPASSFILE`, `connect_timeout=0`.
//!
//! Each PgBouncer is started by the test on a free port of 127.0.0.1, in a
//! temporary directory, pointed at the throwaway cluster's Unix socket, run as
//! the `postgres` OS user when we are root (PgBouncer refuses root), and
//! stopped when the test ends.

mod common;

use assert_cmd::Command;
use common::{fresh_db, server, Fixture, ADMIN};
use sqlx::{Connection, PgConnection};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use vmx::notice::{ServerNotice, Severity};
use vmx::sandbox::{Sandbox, SandboxOptions};

/// A distinctive password: it must never show up in anything vmx prints.
const PW: &str = "Pw-7hQz2Lm";

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn everything(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// The binary with a clean environment: no DATABASE_URL, no libpq variables, no ~/.pgpass.
fn vmx() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmx"));
    for var in [
        "DATABASE_URL",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGAPPNAME",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", "/nonexistent-vmx-home")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(120));
    cmd
}

fn run(mut cmd: Command, args: &[&str]) -> Outcome {
    let out = cmd.args(args).output().expect("run vmx");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run_against(args: &[&str], url: &str) -> Outcome {
    let mut all = args.to_vec();
    all.extend(["--database-url", url]);
    run(vmx(), &all)
}

fn assert_code(out: &Outcome, code: i32, case: &str) {
    assert_eq!(
        out.code,
        Some(code),
        "{case}: exit code\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
}

/// The throwaway cluster's socket directory (the harness URL's `host=`).
fn socket_dir() -> String {
    let url = url::Url::parse(&server().url("postgres", None)).expect("harness URL");
    url.query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.into_owned())
        .expect("the throwaway cluster listens on a Unix socket")
}

/// Whether `database` holds the schema `vmx` (vmx's history), i.e. whether vmx changed it.
fn has_vmx_schema(database: &str) -> bool {
    server()
        .sql(
            database,
            None,
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'vmx')",
        )
        .trim()
        == "t"
}

// ------------------------------------------------------------------ PgBouncer

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PoolMode {
    Session,
    Transaction,
    Statement,
}

/// A PgBouncer in front of the throwaway cluster, with default settings except
/// the pool mode; stopped on drop.
struct PgBouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// Listening only on a Unix socket in `dir`, with the server's own port number.
    on_socket: bool,
}

impl PgBouncer {
    fn start(mode: PoolMode) -> PgBouncer {
        PgBouncer::start_with(mode, "")
    }

    /// With `extra` lines appended to the `[pgbouncer]` section.
    fn start_with(mode: PoolMode, extra: &str) -> PgBouncer {
        PgBouncer::launch(mode, extra, false)
    }

    /// On a Unix socket of its own directory, with the port number of the
    /// server behind it (5432): only its behaviour tells them apart.
    fn start_on_socket(mode: PoolMode) -> PgBouncer {
        PgBouncer::launch(mode, "", true)
    }

    fn launch(mode: PoolMode, extra: &str, on_socket: bool) -> PgBouncer {
        assert!(
            Path::new(PGBOUNCER).is_file(),
            "{PGBOUNCER} is missing: `.ci/run` installs Debian's pgbouncer package"
        );
        let dir = tempfile::Builder::new()
            .prefix("vmx-pgbouncer-")
            .tempdir()
            .expect("tempdir");
        let port = if on_socket { 5432 } else { free_port() };
        let listen = if on_socket {
            format!("listen_addr =\nunix_socket_dir = {}", dir.path().display())
        } else {
            "listen_addr = 127.0.0.1\nunix_socket_dir =".to_string()
        };
        let mode = match mode {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        };
        // Nothing but what a test needs: where to listen and log, whom to trust,
        // and the pool mode. ignore_startup_parameters keeps its default (empty).
        let ini = format!(
            "[databases]\n* = host={socket} port=5432\n\n[pgbouncer]\n{listen}\nlisten_port = {port}\nauth_type = trust\nauth_file = {dir}/userlist.txt\nlogfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\npool_mode = {mode}\n{extra}",
            socket = socket_dir(),
            dir = dir.path().display(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).expect("write ini");
        std::fs::write(
            dir.path().join("userlist.txt"),
            format!("\"{ADMIN}\" \"\"\n\"postgres\" \"\"\n"),
        )
        .expect("write userlist");
        let mut command = std::process::Command::new(PGBOUNCER);
        command
            .arg(dir.path().join("pgbouncer.ini"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if nix::unistd::geteuid().is_root() {
            // PgBouncer refuses to run as root; the cluster's socket belongs to postgres anyway.
            let user = nix::unistd::User::from_name("postgres")
                .expect("look up postgres")
                .expect("a postgres OS user");
            for entry in ["", "pgbouncer.ini", "userlist.txt"] {
                let path = dir.path().join(entry);
                nix::unistd::chown(&path, Some(user.uid), Some(user.gid)).expect("chown");
            }
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let child = command.spawn().expect("start pgbouncer");
        let bouncer = PgBouncer {
            child,
            port,
            dir,
            on_socket,
        };
        bouncer.wait_ready();
        bouncer
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        let socket = self.dir.path().join(format!(".s.PGSQL.{}", self.port));
        let listening = || {
            if self.on_socket {
                std::os::unix::net::UnixStream::connect(&socket).is_ok()
            } else {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], self.port)),
                    Duration::from_millis(200),
                )
                .is_ok()
            }
        };
        while !listening() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "pgbouncer did not listen on {} within 15 s: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A URL through this PgBouncer, as the Supabase-shaped admin.
    fn url(&self, database: &str) -> String {
        if self.on_socket {
            return format!(
                "postgres://{ADMIN}@/{database}?host={}&port={}",
                self.dir.path().display(),
                self.port
            );
        }
        format!("postgres://{ADMIN}@127.0.0.1:{}/{database}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGINT: PgBouncer's "safe shutdown" waits for clients; SIGTERM is immediate.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    vmx::sandbox::free_tcp_port().expect("a free port")
}

#[test]
fn transaction_mode_pgbouncer_is_refused_before_any_change() {
    let db = fresh_db(Fixture::Compat);
    let bouncer = PgBouncer::start(PoolMode::Transaction);
    for command in [
        &["migrate"][..],
        &["add-missing"],
        &["status"],
        &["verify", "--probe"],
    ] {
        let out = run_against(command, &bouncer.url(&db.name));
        let case = format!("{command:?} through PgBouncer in transaction mode");
        assert_code(&out, 3, &case);
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "{case}: not one line:\n{}", out.stderr);
        let line = lines[0].to_lowercase();
        assert!(line.contains("transaction"), "{case}: {line}");
        assert!(line.contains("session-mode port"), "{case}: {line}");
        assert!(line.contains("5432"), "{case}: {line}");
    }
    assert!(
        !has_vmx_schema(&db.name),
        "migrate through a transaction pooler changed the database"
    );
    assert_eq!(
        server().sql(
            &db.name,
            None,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
        .trim(),
        "0",
        "migrate through a transaction pooler created something in public"
    );
}

#[test]
fn only_a_connection_straight_to_the_server_skips_the_pooler_probe() {
    let db = fresh_db(Fixture::Empty);
    let bouncer = PgBouncer::start(PoolMode::Session);
    let on_socket = PgBouncer::start_on_socket(PoolMode::Session);
    let password_tcp = password_server()
        .tcp_url_for("postgres")
        .expect("listens on TCP");
    for (url, direct) in [
        (db.url(), true),
        (password_tcp.clone(), true),
        (password_tcp.replace("127.0.0.1", "localhost"), true),
        (bouncer.url(&db.name), false),
        (on_socket.url(&db.name), false),
    ] {
        let target = vmx::connect::Target::parse(&url).expect("target");
        let seen = block_on(async {
            let mut conn = target
                .connect(Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", target.display));
            target.is_direct(&mut conn).await
        });
        assert_eq!(seen, direct, "{}", target.display);
    }
}

#[test]
fn statement_mode_and_round_robin_pools_of_warm_servers_are_refused_too() {
    let db = fresh_db(Fixture::Compat);
    // On a Unix socket with the server's own port number, nothing but behaviour gives it away.
    let on_socket = PgBouncer::start_on_socket(PoolMode::Transaction);
    let out = run_against(&["migrate"], &on_socket.url(&db.name));
    assert_code(
        &out,
        3,
        "migrate through a transaction-mode PgBouncer's Unix socket",
    );
    assert!(
        out.stderr.contains("transaction-mode pooler"),
        "{}",
        out.stderr
    );
    drop(on_socket);
    for (mode, extra) in [
        (PoolMode::Statement, ""),
        // Several idle servers handed out in turn rather than the last one used.
        (
            PoolMode::Transaction,
            "min_pool_size = 4\nserver_round_robin = 1\n",
        ),
        // Two servers in turn: two sessions alternating would each keep "theirs".
        (
            PoolMode::Transaction,
            "min_pool_size = 2\nserver_round_robin = 1\n",
        ),
    ] {
        let bouncer = PgBouncer::start_with(mode, extra);
        // Let PgBouncer open its warm servers first.
        std::thread::sleep(Duration::from_millis(300));
        for command in [&["migrate"][..], &["status"]] {
            let out = run_against(command, &bouncer.url(&db.name));
            let case = format!("{command:?} through PgBouncer, {mode:?} mode, {extra:?}");
            assert_code(&out, 3, &case);
            assert!(
                out.stderr.contains("transaction-mode pooler"),
                "{case}: {}",
                out.stderr
            );
        }
    }
    assert!(!has_vmx_schema(&db.name), "the database was changed");
}

#[test]
fn transaction_mode_pgbouncer_is_refused_while_the_app_keeps_it_busy() {
    // Under load the pool hands vmx's session other backends; still refused, still nothing changed.
    let db = fresh_db(Fixture::Compat);
    let bouncer = PgBouncer::start(PoolMode::Transaction);
    let url = bouncer.url(&db.name);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                block_on(async {
                    // An app that speaks to a default PgBouncer: no extra_float_digits, simple protocol.
                    let options = url
                        .parse::<sqlx::postgres::PgConnectOptions>()
                        .expect("URL")
                        .extra_float_digits(None);
                    let mut conn = PgConnection::connect_with(&options)
                        .await
                        .expect("app connects");
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        sqlx::raw_sql("SELECT pg_sleep(0.002)")
                            .execute(&mut conn)
                            .await
                            .expect("app query");
                    }
                })
            })
        })
        .collect();
    for attempt in 0..4 {
        let out = run_against(&["migrate"], &url);
        assert_code(&out, 3, &format!("migrate under load, attempt {attempt}"));
        assert!(out.stderr.contains("transaction"), "{}", out.stderr);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in app {
        t.join().expect("app thread");
    }
    assert!(!has_vmx_schema(&db.name), "the database was changed");
}

#[test]
fn session_mode_pgbouncer_with_default_settings_runs_every_command() {
    let db = fresh_db(Fixture::Compat);
    let bouncer = PgBouncer::start(PoolMode::Session);
    let url = bouncer.url(&db.name);
    for command in [
        &["migrate"][..],
        &["status", "--exit-code"],
        &["verify", "--probe"],
        &["migrate"],
        &["add-missing"],
        &["status"],
    ] {
        let out = run_against(command, &url);
        assert_code(
            &out,
            0,
            &format!(
                "{command:?} through PgBouncer in session mode (log: {})",
                bouncer.log()
            ),
        );
    }
    assert!(has_vmx_schema(&db.name));
    assert_eq!(
        server()
            .sql(&db.name, None, "SELECT count(*) FROM vmx.schema_history")
            .trim(),
        "5"
    );
}

// ------------------------------------------------------------------ notices

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn notices_and_warnings_from_a_do_block_are_captured_in_order() {
    vmx::notice::install();
    let db = fresh_db(Fixture::Empty);
    let notices = block_on(async {
        let mut conn = PgConnection::connect(&db.url()).await.expect("connect");
        vmx::notice::clear();
        sqlx::raw_sql(
            "DO $$ BEGIN
               RAISE NOTICE 'vmx: pg_cron is not installed; schedule the cleanup with: SELECT 1';
               RAISE WARNING 'something the operator must read';
               RAISE INFO 'an info line';
               RAISE NOTICE 'plain server chatter';
             END $$;",
        )
        .execute(&mut conn)
        .await
        .expect("the DO block runs");
        vmx::notice::take()
    });
    let got: Vec<(Severity, &str)> = notices
        .iter()
        .map(|n| (n.severity, n.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Severity::Notice,
                "vmx: pg_cron is not installed; schedule the cleanup with: SELECT 1"
            ),
            (Severity::Warning, "something the operator must read"),
            (Severity::Info, "an info line"),
            (Severity::Notice, "plain server chatter"),
        ]
    );
    let shown: Vec<&ServerNotice> = vmx::notice::shown(&notices, 0, false);
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(vmx::notice::shown(&notices, 1, false).len(), 4);
    assert!(vmx::notice::take().is_empty(), "take() drains");
}

#[test]
fn collect_gives_each_file_its_own_notices() {
    vmx::notice::install();
    let db = fresh_db(Fixture::Empty);
    block_on(async {
        let mut conn = PgConnection::connect(&db.url()).await.expect("connect");
        vmx::notice::clear();
        // vmx's own bookkeeping before a file, e.g. CREATE SCHEMA IF NOT EXISTS.
        sqlx::raw_sql("CREATE SCHEMA IF NOT EXISTS public")
            .execute(&mut conn)
            .await
            .expect("bookkeeping");
        let (result, first) = vmx::notice::collect(
            sqlx::raw_sql("DO $$ BEGIN RAISE NOTICE 'vmx: file one'; END $$").execute(&mut conn),
        )
        .await;
        result.expect("file one");
        let (result, second) = vmx::notice::collect(
            sqlx::raw_sql("DO $$ BEGIN RAISE WARNING 'file two'; RAISE EXCEPTION 'boom'; END $$")
                .execute(&mut conn),
        )
        .await;
        assert!(result.is_err(), "file two fails");
        let messages = |n: &[ServerNotice]| n.iter().map(|n| n.message.clone()).collect::<Vec<_>>();
        assert_eq!(messages(&first), ["vmx: file one"]);
        // A failing file's notices up to the error are kept: they explain it.
        assert_eq!(messages(&second), ["file two"]);
        // The bookkeeping notice stays where it was, for whoever wants it.
        assert_eq!(
            messages(&vmx::notice::take()),
            ["schema \"public\" already exists, skipping"]
        );
    });
}

#[test]
fn migrate_shows_the_files_own_notices_and_lists_every_notice_in_json() {
    // The stand-in has no pg_cron: call-logs-schema.sql says so with a `vmx:` NOTICE (promise 5).
    let pg_cron = "vmx: pg_cron is not installed";
    let db = fresh_db(Fixture::Compat);
    let out = run_against(&["migrate", "--format", "json"], &db.url());
    assert_code(&out, 0, "migrate --format json");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    let files = doc["files"].as_array().expect("files[]");
    let call_logs = files
        .iter()
        .find(|f| f["name"] == "call-logs-schema.sql")
        .expect("call-logs-schema.sql in files[]");
    let notices = call_logs["notices"].as_array().expect("notices[] per file");
    assert!(
        notices.iter().any(|n| n["severity"] == "NOTICE"
            && n["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(pg_cron))),
        "{notices:?}"
    );
    assert!(files.iter().all(|f| f["notices"].is_array()), "{files:?}");

    // Human: the file's own notice by default, server chatter only with -v.
    let db = fresh_db(Fixture::Compat);
    let out = run_against(&["migrate"], &db.url());
    assert_code(&out, 0, "migrate");
    assert!(
        out.stdout.contains(&format!("NOTICE:  {pg_cron}")),
        "{}",
        out.stdout
    );
    let default_lines = out.stdout.matches("NOTICE:").count();
    let db = fresh_db(Fixture::Compat);
    let out = run_against(&["migrate", "-v"], &db.url());
    assert_code(&out, 0, "migrate -v");
    assert!(out.stdout.contains(pg_cron), "{}", out.stdout);
    assert!(
        out.stdout.matches("NOTICE:").count() > default_lines,
        "-v shows no more than the default:\n{}",
        out.stdout
    );
    let db = fresh_db(Fixture::Compat);
    let out = run_against(&["migrate", "-q"], &db.url());
    assert_code(&out, 0, "migrate -q");
    assert!(
        !out.everything().contains(pg_cron),
        "-q: {}",
        out.everything()
    );
}

#[test]
fn notices_through_session_mode_pgbouncer_are_captured() {
    vmx::notice::install();
    let db = fresh_db(Fixture::Empty);
    let bouncer = PgBouncer::start(PoolMode::Session);
    let target = vmx::connect::Target::parse(&bouncer.url(&db.name)).expect("target");
    let notices = block_on(async {
        let mut conn = target
            .connect(Duration::from_secs(10))
            .await
            .expect("connect through session-mode PgBouncer");
        vmx::notice::clear();
        sqlx::raw_sql("DO $$ BEGIN RAISE WARNING 'vmx: through the pooler'; END $$")
            .execute(&mut conn)
            .await
            .expect("DO");
        vmx::notice::take()
    });
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].severity, Severity::Warning);
    assert_eq!(notices[0].message, "vmx: through the pooler");
}

// ------------------------------------------------------------------ Unix sockets, PG* environment

#[test]
fn unix_socket_urls_connect_as_psql_takes_them() {
    let db = fresh_db(Fixture::Compat);
    let dir = socket_dir();
    let encoded: String = url::form_urlencoded::byte_serialize(dir.as_bytes()).collect();
    for url in [
        format!("postgres://{ADMIN}@/{}?host={dir}", db.name),
        format!("postgresql:///{}?host={dir}&user={ADMIN}", db.name),
        format!("postgres://{ADMIN}@{encoded}/{}", db.name),
        format!("postgres://{ADMIN}@/{}?host={dir}&sslmode=require", db.name),
    ] {
        let out = run_against(&["status"], &url);
        assert_code(&out, 0, &url);
    }
    let out = run_against(
        &["migrate"],
        &format!("postgres://{ADMIN}@/{}?host={dir}", db.name),
    );
    assert_code(&out, 0, "migrate through the socket");
    assert!(has_vmx_schema(&db.name));
}

#[test]
fn the_pg_environment_is_the_target_when_no_url_is_given() {
    let db = fresh_db(Fixture::Compat);
    let mut cmd = vmx();
    cmd.env("PGHOST", socket_dir())
        .env("PGUSER", ADMIN)
        .env("PGDATABASE", &db.name)
        .env("PGAPPNAME", "vmx-env-test");
    let out = run(cmd, &["migrate"]);
    assert_code(&out, 0, "migrate with PGHOST/PGUSER/PGDATABASE only");
    assert!(has_vmx_schema(&db.name), "migrate did not reach PGDATABASE");
    assert_eq!(
        server()
            .sql(
                &db.name,
                None,
                "SELECT DISTINCT applied_by FROM vmx.schema_history"
            )
            .trim(),
        ADMIN,
        "applied as someone other than PGUSER"
    );
}

#[test]
fn a_pg_environment_naming_a_missing_database_fails_with_exit_3() {
    let mut cmd = vmx();
    cmd.env("PGHOST", socket_dir())
        .env("PGUSER", ADMIN)
        .env("PGDATABASE", "vmx_no_such_db_env");
    let out = run(cmd, &["status"]);
    assert_code(&out, 3, "PGDATABASE names no database");
    assert!(out.stderr.contains("vmx_no_such_db_env"), "{}", out.stderr);
}

// ------------------------------------------------------------------ passwords: PGPASSWORD, ~/.pgpass, PGPASSFILE

/// A throwaway cluster that requires `PW` (SCRAM) on a free port of 127.0.0.1.
fn password_server() -> &'static Sandbox {
    static SERVER: OnceLock<Sandbox> = OnceLock::new();
    SERVER.get_or_init(|| {
        Sandbox::start_with(SandboxOptions::default().password(PW).tcp())
            .expect("start a password-protected throwaway PostgreSQL")
    })
}

fn password_port() -> u16 {
    password_server().tcp_port().expect("listens on TCP")
}

/// The password server's URL without any password.
fn passwordless_url() -> String {
    format!("postgres://postgres@127.0.0.1:{}/postgres", password_port())
}

/// A pgpass file (mode 0600) with one line for the password server.
fn pgpass(dir: &Path, name: &str, password: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# vmx test\nother.example.com:5432:*:postgres:nope\n127.0.0.1:{}:*:postgres:{password}\n",
            password_port()
        ),
    )
    .expect("write pgpass");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// Connected and authenticated: anything but 2 (usage) and 3 (connect), no password printed.
fn assert_connected(out: &Outcome, case: &str) {
    assert!(
        !out.everything().contains(PW),
        "{case}: password printed:\n{}",
        out.everything()
    );
    assert!(
        !matches!(out.code, Some(2) | Some(3) | None),
        "{case}: exit {:?}\n{}",
        out.code,
        out.stderr
    );
}

fn assert_password_refused(out: &Outcome, case: &str) {
    assert!(!out.everything().contains(PW), "{case}: password printed");
    assert_code(out, 3, case);
    assert!(out.stderr.contains("password"), "{case}: {}", out.stderr);
}

#[test]
fn pgpassword_is_used_when_the_url_has_no_password() {
    let mut cmd = vmx();
    cmd.env("PGPASSWORD", PW);
    let out = run(cmd, &["status", "--database-url", &passwordless_url()]);
    assert_connected(&out, "PGPASSWORD");
    let mut cmd = vmx();
    cmd.env("PGPASSWORD", format!("{PW}-wrong"));
    let out = run(cmd, &["status", "--database-url", &passwordless_url()]);
    assert_password_refused(&out, "a wrong PGPASSWORD");
}

#[test]
fn pgpass_in_home_and_pgpassfile_are_read_as_libpq_does() {
    let home = tempfile::tempdir().expect("tempdir");
    pgpass(home.path(), ".pgpass", PW);
    let mut cmd = vmx();
    cmd.env("HOME", home.path());
    let out = run(cmd, &["status", "--database-url", &passwordless_url()]);
    assert_connected(&out, "~/.pgpass");

    let elsewhere = tempfile::tempdir().expect("tempdir");
    let file = pgpass(elsewhere.path(), "passfile", PW);
    let mut cmd = vmx();
    cmd.env("PGPASSFILE", &file);
    let out = run(cmd, &["status", "--database-url", &passwordless_url()]);
    assert_connected(&out, "PGPASSFILE");

    // The same with the PG* environment instead of a URL.
    let mut cmd = vmx();
    cmd.env("PGPASSFILE", &file)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", password_port().to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "postgres")
        .env("PGSSLMODE", "disable");
    let out = run(cmd, &["status"]);
    assert_connected(&out, "PG* environment and PGPASSFILE");

    // Control: a wrong password in the file is what the server sees.
    let wrong = pgpass(elsewhere.path(), "wrong", &format!("{PW}-wrong"));
    let mut cmd = vmx();
    cmd.env("PGPASSFILE", &wrong);
    let out = run(cmd, &["status", "--database-url", &passwordless_url()]);
    assert_password_refused(&out, "a wrong password in PGPASSFILE");
}

#[test]
fn pgpass_keys_a_unix_socket_by_its_directory_as_libpq_does() {
    let dir = password_server().dir().display().to_string();
    let port = password_port();
    let passfile = tempfile::tempdir().expect("tempdir");
    let file = passfile.path().join("pgpass");
    std::fs::write(
        &file,
        format!("127.0.0.1:{port}:*:postgres:wrong-for-tcp\n{dir}:{port}:*:postgres:{PW}\n"),
    )
    .expect("write pgpass");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let socket_url = format!("postgres://postgres@/postgres?host={dir}&port={port}");
    let mut cmd = vmx();
    cmd.env("PGPASSFILE", &file);
    let out = run(cmd, &["status", "--database-url", &socket_url]);
    assert_connected(&out, "pgpass line for the socket directory");

    // libpq ignores a password file that others may read; so does vmx.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cmd = vmx();
    cmd.env("PGPASSFILE", &file);
    let out = run(cmd, &["status", "--database-url", &socket_url]);
    assert_code(&out, 3, "a world-readable password file");
}

// ------------------------------------------------------------------ connect_timeout = 0

/// A TCP server that accepts connections and never says a word.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn connect_timeout_zero_waits_without_limit_as_libpq_does() {
    let port = silent_server();
    let silent = format!("postgres://admin@127.0.0.1:{port}/postgres");
    for (case, args) in [
        (
            "--connect-timeout 0",
            vec![
                "status",
                "--connect-timeout",
                "0",
                "--database-url",
                &silent,
            ],
        ),
        (
            "connect_timeout=0 in the URL wins over --connect-timeout 1",
            vec![
                "status",
                "--connect-timeout",
                "1",
                "--database-url",
                &format!("{silent}?connect_timeout=0"),
            ],
        ),
    ] {
        // Still waiting after 4 s (when 1 s or "0 s" would have given up): killed by the harness.
        let mut cmd = vmx();
        cmd.timeout(Duration::from_secs(4));
        let out = run(cmd, &args);
        assert_eq!(
            out.code, None,
            "{case}: gave up instead of waiting\n{}",
            out.stderr
        );
    }
    // And against a real server, 0 connects.
    let db = fresh_db(Fixture::Compat);
    let out = run_against(
        &["status", "--connect-timeout", "0"],
        &format!(
            "postgres://{ADMIN}@/{}?host={}&connect_timeout=0",
            db.name,
            socket_dir()
        ),
    );
    assert_code(&out, 0, "connect_timeout=0 against a real server");
}
