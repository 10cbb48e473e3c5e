//! The command-line contract (product.md §2, issue 5): each bad input through the
//! real binary gives the documented exit code, exactly one line on stderr, never
//! the password, and changes nothing; the database-free commands print what they promise.

mod common;

use assert_cmd::Command;
use sqlx::{Connection, PgConnection};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;
use vmx::sandbox::{Sandbox, SandboxOptions};

/// A distinctive password: it must never show up in anything vmx prints.
const PW: &str = "Pw-9f3kXq";

/// Every connection test uses `vmx migrate`, the command that would change things.
const MIGRATE: &[&str] = &["migrate"];

const FILES: [&str; 5] = [
    "schema.sql",
    "assistant-schema.sql",
    "phone-number-schema.sql",
    "call-logs-schema.sql",
    "missing-tables-schema.sql",
];

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The binary with a clean environment (the one helper of tests/common).
fn vmx() -> Command {
    common::vmx()
}

fn run(args: &[&str]) -> Outcome {
    let out = vmx().args(args).output().expect("run vmx");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `vmx <command> --database-url URL [extra]`.
fn run_against(command: &[&str], url: &str, extra: &[&str]) -> Outcome {
    let mut args: Vec<&str> = command.to_vec();
    args.extend(["--database-url", url]);
    args.extend(extra);
    run(&args)
}

/// The documented exit code, one line on stderr containing each of `words`, no password anywhere.
fn assert_refused(out: &Outcome, code: i32, words: &[&str], case: &str) {
    let everything = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !everything.contains(PW),
        "{case}: the password appears in the output:\n{everything}"
    );
    assert_eq!(
        out.code, code,
        "{case}: exit code\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: not one line on stderr:\n{}",
        out.stderr
    );
    for word in words {
        assert!(
            lines[0].to_lowercase().contains(&word.to_lowercase()),
            "{case}: {word:?} missing from {:?}",
            lines[0]
        );
    }
}

/// A throwaway cluster that requires `PW` (SCRAM) and listens on a free port of 127.0.0.1, without TLS.
fn password_server() -> &'static Sandbox {
    static SERVER: OnceLock<Sandbox> = OnceLock::new();
    SERVER.get_or_init(|| {
        Sandbox::start_with(SandboxOptions::default().password(PW).tcp())
            .expect("start a password-protected throwaway PostgreSQL")
    })
}

fn tcp_url(database: &str) -> String {
    password_server()
        .tcp_url_for(database)
        .expect("the sandbox listens on TCP")
}

/// The password server's URL with another password.
fn wrong_password_url(database: &str) -> String {
    let mut url = url::Url::parse(&tcp_url(database)).expect("URL");
    url.set_password(Some(&format!("{PW}-wrong")))
        .expect("password");
    url.to_string()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Whether `database` on the password server has the `vmx` schema (None: no such database).
fn vmx_schema_in(database: &str) -> Option<bool> {
    block_on(async {
        let mut conn = PgConnection::connect(&tcp_url("postgres"))
            .await
            .expect("the right password connects");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
                .bind(database)
                .fetch_one(&mut conn)
                .await
                .expect("query");
        if !exists {
            return None;
        }
        let mut conn = PgConnection::connect(&tcp_url(database))
            .await
            .expect("connect to the database");
        Some(
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'vmx')")
                .fetch_one(&mut conn)
                .await
                .expect("query"),
        )
    })
}

fn assert_untouched(case: &str) {
    assert_eq!(
        vmx_schema_in("postgres"),
        Some(false),
        "{case}: the target was changed (schema vmx created)"
    );
}

fn reachable(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// Fails the test unless `service` listens on 127.0.0.1:`port`. This machine kind
/// always has it and `.ci/run` starts it when down, so absence is a failure, not a skip.
fn require_listening(port: u16, service: &str) {
    assert!(
        reachable(port),
        "{service} must listen on 127.0.0.1:{port} for this test (this machine kind has it; \
         `.ci/run` starts it) but nothing accepts connections there — start it and rerun"
    );
}

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

// ---------------------------------------------------------------- exit 2

#[test]
fn unparseable_urls_exit_2() {
    for url in [
        format!("postgres://admin:{PW}@db.example.com:notaport/app"),
        format!("postgres://admin:{PW}@db.example.com:99999/app"),
        format!("postgres://admin:{PW}@db.example.com:0/app"),
        format!("mysql://admin:{PW}@db.example.com:3306/app"),
        format!("https://admin:{PW}@db.example.com/app"),
        format!("admin:{PW} at db.example.com"),
        format!("postgres://admin:{PW}@db.example.com/app?sslmode=sometimes"),
        format!("postgres://admin:{PW}@db.example.com/app?connect_timeout=soon"),
    ] {
        let out = run_against(MIGRATE, &url, &[]);
        assert_refused(&out, 2, &["database URL"], &url.replace(PW, "***"));
    }
}

#[test]
fn no_database_url_exits_2() {
    for command in [&["migrate"][..], &["status"], &["add-missing"], &["verify"]] {
        let out = run(command);
        assert_refused(&out, 2, &["DATABASE_URL"], &format!("{command:?}"));
    }
}

#[test]
fn show_unknown_file_exits_2() {
    let out = run(&["show", "9"]);
    assert_refused(&out, 2, &["vmx list"], "show 9");
    assert!(out.stdout.is_empty());
}

#[test]
fn junit_format_on_list_exits_2() {
    let out = run(&["list", "--format", "junit"]);
    assert_refused(&out, 2, &["junit"], "list --format junit");
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------- exit 3

#[test]
fn wrong_password_exits_3() {
    for command in [
        MIGRATE,
        &["status"],
        &["add-missing"],
        &["verify", "--probe"],
    ] {
        let out = run_against(command, &wrong_password_url("postgres"), &[]);
        assert_refused(
            &out,
            3,
            &["password"],
            &format!("wrong password, {command:?}"),
        );
    }
    assert_untouched("wrong password");
}

#[test]
fn right_password_connects_and_is_never_printed() {
    // The control for the wrong-password case: the same server, the right password.
    block_on(async {
        let mut conn = PgConnection::connect(&tcp_url("postgres"))
            .await
            .expect("the right password connects");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .expect("query");
        assert_eq!(one, 1);
    });
    let out = run_against(&["status"], &tcp_url("postgres"), &[]);
    let everything = format!("{}{}", out.stdout, out.stderr);
    assert!(!everything.contains(PW), "password printed:\n{everything}");
    assert!(
        ![2, 3].contains(&out.code),
        "status with the right password: exit {}\n{}",
        out.code,
        out.stderr
    );
}

#[test]
fn unknown_host_exits_3() {
    let url = format!("postgres://admin:{PW}@nonexistent.invalid:5432/postgres");
    let out = run_against(MIGRATE, &url, &["--connect-timeout", "10"]);
    assert_refused(
        &out,
        3,
        &["nonexistent.invalid", "unknown host"],
        "unknown host",
    );
}

#[test]
fn nothing_listening_exits_3() {
    let port = vmx::sandbox::free_tcp_port().expect("a free port");
    let url = format!("postgres://admin:{PW}@127.0.0.1:{port}/postgres");
    let out = run_against(MIGRATE, &url, &[]);
    assert_refused(
        &out,
        3,
        &["refused", &port.to_string()],
        "nothing listening",
    );
}

#[test]
fn no_such_database_exits_3_and_creates_nothing() {
    let out = run_against(MIGRATE, &tcp_url("vmx_no_such_db"), &[]);
    assert_refused(
        &out,
        3,
        &["vmx_no_such_db", "does not exist"],
        "no such database",
    );
    assert_eq!(vmx_schema_in("vmx_no_such_db"), None, "database created");
    assert_untouched("no such database");
}

#[test]
fn tls_required_against_a_server_without_tls_exits_3() {
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = format!("{}?sslmode={mode}", tcp_url("postgres"));
        let out = run_against(MIGRATE, &url, &[]);
        assert_refused(&out, 3, &["TLS", mode], &format!("sslmode={mode}"));
    }
    assert_untouched("sslmode=require");
}

#[test]
fn tls_certificate_not_trusted_exits_3() {
    // The local server on 127.0.0.1:5432 offers TLS with a certificate no public CA signed.
    // `status` only reads, and TLS fails before authentication anyway.
    require_listening(5432, "the local PostgreSQL server");
    for query in [
        "sslmode=verify-full",
        "sslmode=verify-ca",
        "sslmode=verify-full&sslrootcert=/nonexistent/vmx-ca.crt",
    ] {
        let url = format!("postgres://postgres:{PW}@127.0.0.1:5432/postgres?{query}");
        let out = run_against(&["status"], &url, &[]);
        assert_refused(&out, 3, &[], query);
        let line = out.stderr.to_lowercase();
        assert!(
            line.contains("tls") || line.contains("sslrootcert"),
            "{query}: {line}"
        );
    }
}

#[test]
fn transaction_pooler_exits_3() {
    for url in [
        format!(
            "postgres://postgres.abc:{PW}@aws-0-eu-central-1.pooler.supabase.com:6543/postgres"
        ),
        format!("{}?pgbouncer=true", tcp_url("postgres")),
    ] {
        let out = run_against(MIGRATE, &url, &[]);
        assert_refused(&out, 3, &["transaction"], "transaction pooler");
    }
    assert_untouched("pgbouncer=true");
}

#[test]
fn connect_timeout_option_is_honoured() {
    let port = silent_server();
    let url = format!("postgres://admin:{PW}@127.0.0.1:{port}/postgres");
    let out = run_against(MIGRATE, &url, &["--connect-timeout", "1"]);
    assert_refused(&out, 3, &["within 1 s"], "--connect-timeout 1");
}

#[test]
fn connect_timeout_url_parameter_is_honoured() {
    let port = silent_server();
    let url = format!("postgres://admin:{PW}@127.0.0.1:{port}/postgres?connect_timeout=1");
    let out = run_against(MIGRATE, &url, &["--connect-timeout", "60"]);
    assert_refused(&out, 3, &["within 1 s"], "connect_timeout=1");
}

#[test]
fn mariadb_is_not_postgres_exits_3_without_waiting() {
    require_listening(3306, "MariaDB");
    for url in [
        format!("postgres://root:{PW}@127.0.0.1:3306/mysql"),
        format!("postgres://root:{PW}@127.0.0.1:3306/mysql?sslmode=disable"),
    ] {
        // A 60 s allowance: failing with the protocol message (not the timeout one) proves it was fast.
        let out = run_against(MIGRATE, &url, &["--connect-timeout", "60"]);
        assert_refused(&out, 3, &["PostgreSQL protocol"], &url.replace(PW, "***"));
    }
}

#[test]
fn redis_is_not_postgres_exits_3() {
    require_listening(6379, "Redis");
    let url = format!("postgres://default:{PW}@127.0.0.1:6379/0");
    let out = run_against(MIGRATE, &url, &["--connect-timeout", "2"]);
    assert_refused(&out, 3, &["PostgreSQL"], "redis");
}

// ---------------------------------------------------------------- no database needed

#[test]
fn list_prints_the_five_files_in_order_with_checksums() {
    let out = run(&["list"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let rows: Vec<(String, String)> = out
        .stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let sum = words.iter().find(|w| {
                w.len() == 64
                    && w.chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
            })?;
            let name = words.iter().find(|w| w.ends_with(".sql"))?;
            Some((name.to_string(), sum.to_string()))
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, FILES, "{}", out.stdout);
    for ((name, sum), m) in rows.iter().zip(vmx::catalog::migrations()) {
        assert_eq!(sum, &m.checksum, "{name}");
    }
}

#[test]
fn show_5_prints_the_file_exactly() {
    let out = run(&["show", "5"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sql/missing-tables-schema.sql"
    ))
    .expect("read the file");
    assert!(
        out.stdout == file,
        "vmx show 5 differs from sql/missing-tables-schema.sql"
    );
}

#[test]
fn completions_bash_prints_a_script() {
    let out = run(&["completions", "bash"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("_vmx()"), "{}", out.stdout);
    assert!(out.stdout.contains("complete -F _vmx"), "{}", out.stdout);
}

#[test]
fn help_lists_every_command() {
    let out = run(&["--help"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let commands: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for command in [
        "list",
        "show",
        "status",
        "migrate",
        "add-missing",
        "verify",
        "check",
        "sandbox",
        "completions",
    ] {
        assert!(
            commands.contains(&command),
            "{command} missing from --help: {commands:?}"
        );
    }
}

// ---------------------------------------------------------------- a reader that goes away

/// Runs vmx with a stdout whose reader is already gone (as after `| head -1`
/// read its line): every write meets EPIPE. Returns (exit code, stderr).
fn into_closed_pipe(args: &[&str]) -> (i32, String) {
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    drop(read);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("vmx"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run vmx");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_quiet_exit_0_on_closed_pipe(args: &[&str]) {
    let (code, stderr) = into_closed_pipe(args);
    assert!(
        !stderr.contains("panicked"),
        "vmx {args:?} panicked: {stderr}"
    );
    assert_eq!(code, 0, "vmx {args:?} into a closed pipe: {stderr}");
    assert!(stderr.is_empty(), "vmx {args:?} said: {stderr}");
}

#[test]
fn list_into_a_closed_pipe_exits_0_quietly() {
    assert_quiet_exit_0_on_closed_pipe(&["list"]);
    assert_quiet_exit_0_on_closed_pipe(&["list", "--format", "json"]);
}

#[test]
fn show_into_a_closed_pipe_exits_0_quietly() {
    assert_quiet_exit_0_on_closed_pipe(&["show", "1"]);
}

#[test]
fn completions_into_a_closed_pipe_exit_0_quietly() {
    assert_quiet_exit_0_on_closed_pipe(&["completions", "bash"]);
    assert_quiet_exit_0_on_closed_pipe(&["completions", "zsh"]);
}

#[test]
fn verify_into_a_closed_pipe_does_not_panic_and_keeps_its_exit_code() {
    let db = common::fresh_db(common::Fixture::Legacy);
    let (code, stderr) = into_closed_pipe(&["verify", "--database-url", &db.url()]);
    assert!(!stderr.contains("panicked"), "verify panicked: {stderr}");
    assert_eq!(code, 1, "the checks still failed: {stderr}");
}

#[test]
fn migrate_into_a_closed_pipe_still_applies_all_five_files() {
    let db = common::fresh_db(common::Fixture::Compat);
    let (code, stderr) = into_closed_pipe(&["migrate", "--database-url", &db.url()]);
    assert!(!stderr.contains("panicked"), "migrate panicked: {stderr}");
    assert_eq!(code, 0, "{stderr}");
    let applied = db.sql("SELECT count(*) FROM vmx.schema_history");
    assert_eq!(applied.trim(), "5", "files applied with stdout closed");
}

// ---------------------------------------------------------------- exit codes, no second word

#[test]
fn status_exit_code_with_pending_files_exits_7_without_an_error_line() {
    let db = common::fresh_db(common::Fixture::Compat);
    let out = run(&["status", "--exit-code", "--database-url", &db.url()]);
    assert_eq!(out.code, 7, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("pending"), "{}", out.stdout);
    assert!(
        !out.stderr.contains("error"),
        "pending files are not an error: {}",
        out.stderr
    );
}

// ---------------------------------------------------------------- human output a person reads

fn assert_fits(text: &str, width: usize, case: &str) {
    for line in text.lines() {
        let chars = line.chars().count();
        assert!(chars <= width, "{case}: {chars} columns: {line:?}");
        assert_eq!(
            line,
            line.trim_end(),
            "{case}: trailing whitespace: {line:?}"
        );
    }
}

#[test]
fn verify_on_a_hand_built_database_fits_100_columns_and_says_its_failures_once() {
    let db = common::fresh_db(common::Fixture::Legacy);
    for extra in [&[][..], &["-v"][..]] {
        let mut args = vec!["verify", "--database-url"];
        let url = db.url();
        args.push(&url);
        args.extend(extra);
        let out = vmx()
            .args(&args)
            .env("COLUMNS", "100")
            .output()
            .expect("run vmx");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert_fits(&stdout, 100, &format!("verify {extra:?}"));
        let last = stdout.lines().last().unwrap_or_default();
        assert!(
            last.contains(" passed, ") && last.contains(" failed"),
            "last line: {last}"
        );
        assert!(
            stdout.contains("→ DROP POLICY"),
            "remedies shown:\n{stdout}"
        );
        assert!(
            !stderr.contains("check(s) failed") && !stderr.contains("error"),
            "the report already said it: {stderr}"
        );
    }
}

#[test]
fn verify_on_a_clean_database_is_one_line_a_section_and_every_check_with_v() {
    let db = common::fresh_db(common::Fixture::Compat);
    run(&["migrate", "--database-url", &db.url()]);
    let out = vmx()
        .args(["verify", "--database-url", &db.url()])
        .env("COLUMNS", "100")
        .output()
        .expect("run vmx");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_fits(&stdout, 100, "verify");
    let sections = stdout.lines().filter(|l| l.starts_with("✓ ")).count();
    assert!(stdout.contains("✓ Policies  "), "{stdout}");
    // A passing section is one line; the only other lines are the one
    // documented warning on a clean database (pg_cron absent) in full.
    assert_eq!(sections, 8, "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("  ✓")),
        "no passing check is listed without -v:\n{stdout}"
    );
    assert!(stdout.contains("! Functions"), "{stdout}");
    let last: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(last[1], "1 warning", "{stdout}");
    assert!(
        last[0].ends_with(" passed, 0 failed") && last[0].split(' ').count() == 4,
        "the last line is exactly `N passed, M failed`:\n{stdout}"
    );
    let verbose = vmx()
        .args(["verify", "-v", "--database-url", &db.url()])
        .env("COLUMNS", "100")
        .output()
        .expect("run vmx");
    let verbose = String::from_utf8_lossy(&verbose.stdout);
    assert_fits(&verbose, 100, "verify -v");
    assert!(
        verbose.contains("rls-enabled"),
        "-v shows every check:\n{verbose}"
    );
}

#[test]
fn verify_format_github_is_a_markdown_summary_and_human_runs_append_it_under_actions() {
    let db = common::fresh_db(common::Fixture::Legacy);
    let out = run(&["verify", "--format", "github", "--database-url", &db.url()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("### ❌ vmx verify: "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("| section | passed | failed | warnings |"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("#### Failures and warnings"),
        "{}",
        out.stdout
    );

    let summary = tempfile::NamedTempFile::new().expect("a file");
    let human = vmx()
        .args(["verify", "--database-url", &db.url()])
        .env("GITHUB_STEP_SUMMARY", summary.path())
        .output()
        .expect("run vmx");
    assert_eq!(human.status.code(), Some(1));
    let written = std::fs::read_to_string(summary.path()).expect("read the summary");
    assert_eq!(
        written, out.stdout,
        "the same Markdown lands in $GITHUB_STEP_SUMMARY"
    );
}

// ---------------------------------------------------------------- --format only where it means something

#[test]
fn format_is_refused_where_it_means_nothing() {
    for args in [
        &["list", "--format", "junit"][..],
        &["list", "--format", "github"],
        &["status", "--format", "junit"],
        &["migrate", "--format", "junit"],
        &["add-missing", "--format", "github"],
        &["show", "1", "--format", "json"],
        &["show", "1", "--format", "human"],
        &["--format", "json", "completions", "bash"],
        &["sandbox", "--format", "junit"],
        &["sandbox", "--format", "json"],
    ] {
        let out = run(args);
        assert_refused(&out, 2, &["--format"], &format!("{args:?}"));
        assert!(out.stdout.is_empty(), "{args:?} printed {}", out.stdout);
    }
}
