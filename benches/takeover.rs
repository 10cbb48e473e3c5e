//! `cargo bench --bench takeover`: "takeover under load" (product.md section 3).
//!
//! A hand-built database (the original guide's schema, tests/fixtures/legacy.sql)
//! with 1,000 users and N call logs; 4 app clients insert webhook calls
//! (`service_role`, one completed call per statement) and read "my latest 20
//! calls" (`authenticated`, claims set per transaction), first without
//! `vmx migrate` (the baseline window), then while the real binary takes the
//! database over. Prints the app's worst and p99 transaction latency in both
//! windows, the app's failed transactions and the migrate time, in one run.
//! Nothing is asserted.
//!
//! `VMX_TAKEOVER_CALLS=1000000,5000000` (the default) chooses the sizes;
//! `VMX_BENCH_QUICK=1` means 100,000 only. `VMX_TAKEOVER_PSQL=1` adds, per
//! size, the same files applied by `psql --single-transaction -f` one by one
//! (everything inside each file's transaction: how the files lock without
//! vmx's vmx:concurrently section).

#[path = "../tests/load/mod.rs"]
mod load;

use sqlx::{Connection, PgConnection};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmx::sandbox::{find_bindir, Sandbox};

const ADMIN: &str = "vmx_admin";
const USERS: usize = 1_000;
const CLIENTS: usize = 4;
/// Each client's pause between operations (an insert and a read).
const THINK: Duration = Duration::from_millis(5);
/// The baseline window.
const BASELINE: Duration = Duration::from_secs(5);
/// The app runs this long before vmx starts and after it ends.
const MARGIN: Duration = Duration::from_millis(500);

struct Bench {
    sandbox: Sandbox,
    psql: PathBuf,
    root: PathBuf,
}

fn main() {
    let sizes: Vec<usize> = if std::env::var_os("VMX_BENCH_QUICK").is_some() {
        vec![100_000]
    } else {
        std::env::var("VMX_TAKEOVER_CALLS")
            .unwrap_or_else(|_| "1000000,5000000".into())
            .split(',')
            .filter_map(|n| n.trim().replace('_', "").parse().ok())
            .collect()
    };
    let with_psql = std::env::var_os("VMX_TAKEOVER_PSQL").is_some();
    let b = Bench {
        sandbox: Sandbox::start().expect("start a throwaway PostgreSQL"),
        psql: find_bindir().expect("PostgreSQL binaries").join("psql"),
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    b.sql("postgres", &vmx::check::supabase_admin_role_sql(ADMIN));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "takeover under load — {CLIENTS} app clients (webhook insert + \"my latest 20 calls\", {} ms think time), {USERS} users",
        THINK.as_millis()
    );
    for calls in sizes {
        let started = Instant::now();
        let template = rt.block_on(b.legacy_database(calls));
        println!(
            "  {calls} call logs (hand-built database ready in {:.0} s)",
            started.elapsed().as_secs_f64()
        );
        let db = b.copy_of(&template, "vmx");
        rt.block_on(b.measure(&db, "vmx migrate", |b, db| b.vmx_migrate(db)));
        if with_psql {
            let db = b.copy_of(&template, "psql");
            rt.block_on(b.measure(&db, "psql -1 -f, file by file", |b, db| b.psql_files(db)));
        }
    }
}

impl Bench {
    fn url(&self, db: &str, user: Option<&str>) -> String {
        format!(
            "postgres://{}@localhost/{db}?host={}",
            user.unwrap_or("postgres"),
            self.sandbox.dir().display()
        )
    }

    fn psql(&self, db: &str, user: Option<&str>, args: &[&str]) -> String {
        let out = Command::new(&self.psql)
            .arg(self.url(db, user))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .env("PGOPTIONS", "-c client_min_messages=warning")
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sql(&self, db: &str, sql: &str) -> String {
        self.psql(db, None, &["-c", sql])
    }

    fn file(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// A hand-built database with `calls` call logs, kept as a template.
    async fn legacy_database(&self, calls: usize) -> String {
        let name = format!("legacy_{calls}");
        self.sql("postgres", &format!("CREATE DATABASE {name} OWNER {ADMIN}"));
        self.psql(&name, None, &["-f", &self.file("sql/supabase-compat.sql")]);
        self.sql(&name, &vmx::check::supabase_admin_grants_sql(ADMIN));
        self.psql(
            &name,
            Some(ADMIN),
            &["-f", &self.file("tests/fixtures/legacy.sql")],
        );
        let mut su = PgConnection::connect(&self.url(&name, None))
            .await
            .expect("connect");
        load::fill(&mut su, USERS, calls).await.expect("fill");
        sqlx::raw_sql(load::LEGACY_API_GRANTS)
            .execute(&mut su)
            .await
            .expect("grant");
        su.close().await.ok();
        // Settled, as a production table is: visibility map set, statistics fresh.
        self.sql(&name, "VACUUM ANALYZE");
        self.sql("postgres", "CHECKPOINT");
        name
    }

    fn copy_of(&self, template: &str, what: &str) -> String {
        let name = format!("{template}_{what}");
        self.sql(
            "postgres",
            &format!("CREATE DATABASE {name} TEMPLATE {template} OWNER {ADMIN}"),
        );
        name
    }

    fn vmx_migrate(&self, db: &str) -> Result<String, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_vmx"))
            .args(["migrate", "--database-url", &self.url(db, Some(ADMIN))])
            .env("NO_COLOR", "1")
            .output()
            .expect("run vmx");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn psql_files(&self, db: &str) -> Result<String, String> {
        for m in vmx::catalog::migrations() {
            let out = Command::new(&self.psql)
                .arg(self.url(db, Some(ADMIN)))
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "-f",
                ])
                .arg(self.file(&format!("sql/{}", m.name)))
                .env("PGOPTIONS", "-c client_min_messages=warning")
                .output()
                .expect("run psql");
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
        }
        Ok(String::new())
    }

    /// The baseline window, then the app during `migrate`; prints both.
    async fn measure(
        &self,
        db: &str,
        what: &str,
        migrate: fn(&Bench, &str) -> Result<String, String>,
    ) {
        let url = self.url(db, Some(ADMIN));
        let mut admin = PgConnection::connect(&url).await.expect("connect");
        let accounts = Arc::new(load::accounts(&mut admin).await.expect("accounts"));
        admin.close().await.ok();

        let app = load::App::start(&url, accounts.clone(), CLIENTS, THINK, usize::MAX);
        std::thread::sleep(BASELINE);
        let baseline = app.stop();

        let app = load::App::start(&url, accounts, CLIENTS, THINK, usize::MAX);
        std::thread::sleep(MARGIN);
        let started = Instant::now();
        let result = migrate(self, db);
        let took = started.elapsed();
        std::thread::sleep(MARGIN);
        let during = app.stop();

        println!("    without migrate: {}", summary(&baseline));
        println!(
            "    during {what} ({:.2} s{}): {}",
            took.as_secs_f64(),
            match &result {
                Ok(_) => String::new(),
                Err(e) => format!(", FAILED: {e}"),
            },
            summary(&during)
        );
        if std::env::var_os("VMX_TAKEOVER_VERBOSE").is_some() {
            if let Ok(out) = &result {
                for line in out.lines() {
                    println!("      | {line}");
                }
            }
            let mut slow = during.slow.clone();
            slow.sort_by_key(|(at, ..)| *at);
            for (at, what, took) in slow {
                let offset = if at >= started {
                    format!("+{:.0} ms", (at - started).as_secs_f64() * 1000.0)
                } else {
                    format!("-{:.0} ms", (started - at).as_secs_f64() * 1000.0)
                };
                println!("      slow {what} at {offset}: {}", ms(took));
            }
        }
        if let Some(e) = during.errors.first() {
            println!("      first app error: {e}");
        }
        println!(
            "      (goal: no failed app transaction, worst ≤ 150 ms, flat as the table grows)"
        );
    }
}

/// All app transactions, then webhook inserts and reads apart.
fn summary(s: &load::Stats) -> String {
    format!(
        "worst {} p99 {} ({} transactions, {} failed); inserts worst {} p99 {}; reads worst {} p99 {}",
        ms(s.worst()),
        ms(s.p99()),
        s.latencies.len(),
        s.errors.len(),
        ms(load::worst(&s.insert_latencies)),
        ms(load::p99(&s.insert_latencies)),
        ms(load::worst(&s.read_latencies)),
        ms(load::p99(&s.read_latencies)),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
