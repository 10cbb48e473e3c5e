//! `cargo bench`: the performance targets of product.md §3, measured in one
//! run on one throwaway PostgreSQL, printed as medians and ratios against a
//! baseline measured in the same run. Nothing here is asserted: the figures
//! are for the README and for people.
//!
//! `VMX_BENCH_QUICK=1` uses smaller data (10× fewer rows) for a fast look.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vmx::sandbox::{find_bindir, Sandbox};

const ADMIN: &str = "vmx_admin";

/// One part of the benchmark.
type Section = fn(&mut Bench);

struct Bench {
    sandbox: Sandbox,
    psql: PathBuf,
    vmx: PathBuf,
    root: PathBuf,
    counter: usize,
    quick: bool,
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let quick = std::env::var_os("VMX_BENCH_QUICK").is_some();
    let sandbox = Sandbox::start().expect("start a throwaway PostgreSQL");
    let mut b = Bench {
        psql: find_bindir().expect("PostgreSQL binaries").join("psql"),
        vmx: PathBuf::from(env!("CARGO_BIN_EXE_vmx")),
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        sandbox,
        counter: 0,
        quick,
    };
    b.prepare_template();
    println!(
        "vmx benchmark — {} (medians; ratios against a baseline from this run)",
        machine()
    );
    println!();
    // `cargo bench -- NAME` runs only the sections whose name contains NAME.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let sections: [(&str, Section); 7] = [
        ("migrate", Bench::migrate_vs_psql),
        ("verify", Bench::verify_vs_select_1),
        ("verify-large", Bench::verify_on_a_large_catalog),
        ("calls", Bench::latest_calls),
        ("ingest", Bench::ingestion),
        ("backfill", Bench::add_missing_backfill),
        ("check", Bench::check_end_to_end),
    ];
    for (name, run) in sections {
        if only.is_empty() || only.iter().any(|o| name.contains(o.as_str())) {
            run(&mut b);
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

    /// `tpl`: compat layer installed by the superuser, the Supabase-shaped admin role granted.
    fn prepare_template(&self) {
        self.sql("postgres", &vmx::check::supabase_admin_role_sql(ADMIN));
        self.sql("postgres", &format!("CREATE DATABASE tpl OWNER {ADMIN}"));
        self.psql("tpl", None, &["-f", &self.file("sql/supabase-compat.sql")]);
        self.sql("tpl", &vmx::check::supabase_admin_grants_sql(ADMIN));
    }

    /// A new database from `tpl`.
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let name = format!("{prefix}_{}", self.counter);
        self.sql(
            "postgres",
            &format!("CREATE DATABASE {name} TEMPLATE tpl OWNER {ADMIN}"),
        );
        name
    }

    fn vmx(&self, db: &str, args: &[&str]) -> Duration {
        let started = Instant::now();
        let out = Command::new(&self.vmx)
            .args(args)
            .args(["--database-url", &self.url(db, Some(ADMIN)), "-q"])
            .output()
            .expect("run vmx");
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "vmx {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        took
    }

    fn migrated(&mut self, prefix: &str) -> String {
        let db = self.fresh(prefix);
        self.vmx(&db, &["migrate"]);
        db
    }

    fn migrate_vs_psql(&mut self) {
        let rounds = 9;
        let (mut ours, mut baseline) = (vec![], vec![]);
        let files: Vec<String> = vmx::catalog::migrations()
            .iter()
            .map(|m| self.file(&format!("sql/{}", m.name)))
            .collect();
        for _ in 0..rounds {
            let db = self.fresh("mig_vmx");
            ours.push(self.vmx(&db, &["migrate"]));
            let db = self.fresh("mig_psql");
            let mut args: Vec<&str> = vec!["--single-transaction"];
            for f in &files {
                args.extend(["-f", f.as_str()]);
            }
            let started = Instant::now();
            self.psql(&db, Some(ADMIN), &args);
            baseline.push(started.elapsed());
        }
        report(
            "fresh `vmx migrate` vs one psql session (5 files, 1 transaction)",
            median(&ours),
            median(&baseline),
            "≤ 1.0",
        );
        // The peers' figures are product.md's, not this run's: dbmate is in no
        // registry this machine reaches, and sqlx-cli would add a long build.
        println!("    (not measured here: sqlx-cli ≈ 2.2 ×, dbmate ≈ 1.6 × per product.md)");
    }

    fn verify_vs_select_1(&mut self) {
        let db = self.migrated("ver");
        let rounds = 15;
        let ours: Vec<_> = (0..rounds).map(|_| self.vmx(&db, &["verify"])).collect();
        let baseline: Vec<_> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                self.psql(&db, Some(ADMIN), &["-c", "select 1"]);
                started.elapsed()
            })
            .collect();
        report(
            "`vmx verify` vs `psql -c 'select 1'`",
            median(&ours),
            median(&baseline),
            "≤ 1.5",
        );
    }

    fn verify_on_a_large_catalog(&mut self) {
        let clean = self.migrated("ver_clean");
        let big = self.migrated("ver_big");
        let n = if self.quick { 500 } else { 5000 };
        // In batches: one transaction cannot lock 5,000 new tables. Each extra
        // object is reachable by the API roles and correct, so verify reads
        // and judges every one of them.
        for first in (1..=n).step_by(500) {
            let last = (first + 499).min(n);
            self.sql(
                &big,
                &format!(
                    "DO $$ BEGIN FOR i IN {first}..{last} LOOP
                       EXECUTE format('CREATE TABLE public.extra_%s (id bigint PRIMARY KEY, user_id uuid, note text)', i);
                       EXECUTE format('ALTER TABLE public.extra_%s ENABLE ROW LEVEL SECURITY', i);
                       EXECUTE format('CREATE POLICY p1 ON public.extra_%s FOR SELECT TO authenticated USING (user_id = (select auth.uid()))', i);
                       EXECUTE format('CREATE POLICY p2 ON public.extra_%s FOR DELETE TO authenticated USING (user_id = (select auth.uid()))', i);
                       EXECUTE format('GRANT SELECT, DELETE ON public.extra_%s TO authenticated', i);
                       EXECUTE format('CREATE VIEW public.extra_view_%s WITH (security_invoker = true) AS SELECT id, note FROM public.extra_%s', i, i);
                       EXECUTE format('GRANT SELECT ON public.extra_view_%s TO authenticated', i);
                       EXECUTE format('CREATE FUNCTION public.extra_fn_%s(bigint) RETURNS bigint LANGUAGE sql STABLE SET search_path = '''' AS ''SELECT $1 + 1''', i);
                     END LOOP; END $$"
                ),
            );
        }
        let rounds = 9;
        // Right after the burst of DDL the catalogs' statistics still describe the
        // small database; a live one has them analyzed (autovacuum). Both are shown.
        let stale: Vec<_> = (0..rounds).map(|_| self.vmx(&big, &["verify"])).collect();
        self.sql(&big, "ANALYZE");
        self.sql(&clean, "ANALYZE");
        let on_big: Vec<_> = (0..rounds).map(|_| self.vmx(&big, &["verify"])).collect();
        let on_clean: Vec<_> = (0..rounds).map(|_| self.vmx(&clean, &["verify"])).collect();
        let what = format!(
            "`vmx verify` with {n} extra tables ({} policies), {n} views and {n} functions vs clean",
            n * 2
        );
        report(&what, median(&on_big), median(&on_clean), "≤ 1.3");
        report(
            &format!("{what}, catalog statistics not yet analyzed"),
            median(&stale),
            median(&on_clean),
            "≤ 1.3",
        );
        // The floor of any whole-database verify: a new backend that only
        // reads one column each check needs of every relation (RLS), policy
        // (its expression) and function (its settings) of the exposed schema
        // -- judging nothing; no index narrows these scans to a schema, and
        // counting a column keeps them from being index-only -- on the large
        // catalog and on the clean one. The two goals together allow
        // the large one 0.3 × a verify of at most 1.5 × `select 1`.
        let floor_sql =
            "SELECT (SELECT count(*) FILTER (WHERE c.relrowsecurity) FROM pg_catalog.pg_class c
                                 WHERE c.relnamespace = 'public'::regnamespace
                                   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')),
                                (SELECT count(p.polqual) FROM pg_catalog.pg_policy p),
                                (SELECT count(p.proconfig) FROM pg_catalog.pg_proc p
                                 WHERE p.pronamespace = 'public'::regnamespace)";
        let read_only = |db: &str| -> Vec<Duration> {
            (0..rounds)
                .map(|_| {
                    let started = Instant::now();
                    self.psql(db, Some(ADMIN), &["-c", floor_sql]);
                    started.elapsed()
                })
                .collect()
        };
        let (floor_big, floor_clean) = (median(&read_only(&big)), median(&read_only(&clean)));
        let select_1: Vec<_> = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                self.psql(&clean, Some(ADMIN), &["-c", "select 1"]);
                started.elapsed()
            })
            .collect();
        println!(
            "    floor: only reading the exposed relations' RLS flags, the policies' expressions and the functions' settings in a new backend costs {} more on the large catalog ({} vs {}); the two goals together allow at most 0.3 × 1.5 × `select 1` = {}",
            ms(floor_big.saturating_sub(floor_clean)),
            ms(floor_big),
            ms(floor_clean),
            ms(median(&select_1).mul_f64(0.45))
        );
    }

    /// Loads `users` users with one assistant each and `calls` call logs into `db`.
    fn load_calls(&self, db: &str, users: usize, calls: usize) {
        self.sql(
            db,
            &format!(
                "INSERT INTO auth.users (id, email)
                   SELECT gen_random_uuid(), 'u' || g || '@example.com' FROM generate_series(1, {users}) g;
                 INSERT INTO public.assistants (user_id, name) SELECT id, 'assistant' FROM public.profiles;"
            ),
        );
        // Bulk history load: triggers off (superuser, replica mode), as a restore would.
        self.sql(
            db,
            &format!(
                "SET session_replication_role = replica;
                 INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, duration_seconds, status, started_at)
                 SELECT a.user_id, a.id, 'call-' || g, (g % 300), 'completed',
                        now() - make_interval(secs => g)
                 FROM generate_series(1, {calls}) g
                 JOIN (SELECT id, user_id, row_number() OVER (ORDER BY id) - 1 AS n FROM public.assistants) a
                   ON a.n = g % {users};
                 ANALYZE;"
            ),
        );
    }

    /// Server time (planning + execution) of "my latest 20 calls" as an authenticated user.
    /// Server time (planning + execution) of "my latest 20 calls" as an
    /// authenticated user, in one warm session as PostgREST's pooled
    /// connections are: 8 runs, the first (cold caches) dropped, median.
    fn latest_calls_ms(&self, db: &str) -> f64 {
        let user = self
            .sql(db, "SELECT id FROM public.profiles ORDER BY id LIMIT 1")
            .trim()
            .to_string();
        let explain =
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM public.call_logs ORDER BY started_at DESC LIMIT 20";
        let claims = format!(
            "SELECT set_config('request.jwt.claims', '{{\"sub\":\"{user}\",\"role\":\"authenticated\"}}', false)"
        );
        let mut args = vec!["-c", "SET ROLE authenticated", "-c", claims.as_str()];
        for _ in 0..8 {
            args.extend(["-c", explain]);
        }
        let out = self.psql(db, Some(ADMIN), &args);
        let samples: Vec<f64> = serde_json::Deserializer::from_str(&out)
            .into_iter::<serde_json::Value>()
            .filter_map(Result::ok)
            .filter(|v| v.is_array())
            .map(|plan| {
                plan[0]["Planning Time"].as_f64().unwrap_or(0.0)
                    + plan[0]["Execution Time"].as_f64().unwrap_or(0.0)
            })
            .skip(1)
            .collect();
        assert_eq!(samples.len(), 7, "EXPLAIN output: {out}");
        median_f(samples)
    }

    /// Transactions per second of a pgbench script run for a few seconds by one client.
    fn pgbench_tps(&self, db: &str, script: &Path, seconds: u32) -> f64 {
        let out = Command::new(self.psql.with_file_name("pgbench"))
            .args(["-n", "-c", "1", "-T", &seconds.to_string(), "-f"])
            .arg(script)
            .arg(self.url(db, Some(ADMIN)))
            .output()
            .expect("run pgbench");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "pgbench: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l["tps = ".len()..].split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("pgbench prints tps")
    }

    fn latest_calls(&mut self) {
        let (users, calls) = if self.quick {
            (1_000, 100_000)
        } else {
            (1_000, 1_000_000)
        };
        let ours = self.migrated("calls_vmx");
        self.load_calls(&ours, users, calls);
        let legacy = self.fresh("calls_legacy");
        self.psql(
            &legacy,
            Some(ADMIN),
            &["-f", &self.file("tests/fixtures/legacy.sql")],
        );
        // The projects the guide was written for granted public tables to the API roles by default.
        self.sql(
            &legacy,
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO authenticated",
        );
        self.load_calls(&legacy, users, calls);
        let (ours_ms, legacy_ms) = (self.latest_calls_ms(&ours), self.latest_calls_ms(&legacy));
        println!(
            "  \"my latest 20 calls\" as authenticated, {calls} calls of {users} users: {ours_ms:.3} ms server time (goal ≤ 1 ms); original guide's schema {legacy_ms:.3} ms → {:.0}× faster (goal ≥ 50×)",
            legacy_ms / ours_ms
        );
    }

    /// Ingestion through the usage triggers against the same rows into a
    /// trigger-less copy of call_logs with the same indexes and foreign keys
    /// (product.md §3): a bulk `INSERT … SELECT` of completed calls (a history
    /// import), and webhook events one per statement (pgbench). Then checks that
    /// usage is still exact.
    fn ingestion(&mut self) {
        let (users, bulk) = if self.quick {
            (1_000, 10_000)
        } else {
            (1_000, 100_000)
        };
        let db = self.migrated("ingest");
        self.psql(
            &db,
            Some(ADMIN),
            &["-c", &format!(
                "INSERT INTO auth.users (id, email)
                   SELECT gen_random_uuid(), 'u' || g || '@example.com' FROM generate_series(1, {users}) g;
                 INSERT INTO public.assistants (user_id, name) SELECT id, 'assistant' FROM public.profiles;
                 CREATE TABLE public.plain_calls (LIKE public.call_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
                 ALTER TABLE public.plain_calls
                   ADD FOREIGN KEY (user_id) REFERENCES public.profiles (id) ON DELETE CASCADE,
                   ADD FOREIGN KEY (assistant_id) REFERENCES public.assistants (id) ON DELETE SET NULL,
                   ADD FOREIGN KEY (phone_number_id) REFERENCES public.phone_numbers (id) ON DELETE SET NULL;
                 CREATE TABLE public.bench_assistants AS
                   SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, id, user_id FROM public.assistants;
                 CREATE UNIQUE INDEX ON public.bench_assistants (n);
                 ANALYZE;"
            )],
        );
        let load = |table: &str, run: usize| {
            format!(
                "INSERT INTO public.{table} (user_id, assistant_id, vapi_call_id, duration_seconds, status, started_at, ended_at)
                 SELECT a.user_id, a.id, 'bulk-{run}-' || g, (g % 300), 'completed',
                        now() - make_interval(secs => g + 60), now() - make_interval(secs => g)
                 FROM generate_series(1, {bulk}) g
                 JOIN public.bench_assistants a ON a.n = g % {users}"
            )
        };
        let (mut with_triggers, mut plain) = (vec![], vec![]);
        for run in 0..3 {
            // Alternate the order so neither side always runs on a warmer cache.
            let order = if run % 2 == 0 {
                ["call_logs", "plain_calls"]
            } else {
                ["plain_calls", "call_logs"]
            };
            for table in order {
                let started = Instant::now();
                self.psql(&db, Some(ADMIN), &["-c", &load(table, run)]);
                let took = started.elapsed();
                if table == "call_logs" {
                    with_triggers.push(took);
                } else {
                    plain.push(took);
                }
            }
            self.sql(&db, "CHECKPOINT");
        }
        let (t, p) = (median(&with_triggers), median(&plain));
        println!(
            "  bulk load, one INSERT … SELECT of {bulk} completed calls: {} with usage triggers vs {} into a trigger-less copy (same indexes and foreign keys) → {:.2} × plain (goal ≥ 0.5)",
            ms(t),
            ms(p),
            p.as_secs_f64() / t.as_secs_f64()
        );

        // Webhook ingestion as VAPI delivers it: one event per statement and
        // transaction, a call's "in progress" then its "completed" upsert,
        // from one pgbench client.
        let script = |table: &str| {
            format!(
                "\\set n random(1, 2000000000)
\\set k random(0, {last})
INSERT INTO public.{table} (user_id, assistant_id, vapi_call_id, status)
  SELECT user_id, id, 'wh-' || :n, 'in_progress' FROM public.bench_assistants WHERE n = :k
  ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status;
INSERT INTO public.{table} (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
  SELECT user_id, id, 'wh-' || :n, 'completed', 60, now() FROM public.bench_assistants WHERE n = :k
  ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status,
    duration_seconds = excluded.duration_seconds, ended_at = excluded.ended_at;
",
                last = users - 1
            )
        };
        // The floor of exact usage (promise 4): the copy's two upserts plus
        // the three writes a completion must make -- the assistant's total,
        // the user's used seconds, one usage_logs row -- done by the client
        // in the completion's own statement, no trigger at all.
        let floor = format!(
            "\\set n random(1, 2000000000)
\\set k random(0, {last})
INSERT INTO public.plain_calls (user_id, assistant_id, vapi_call_id, status)
  SELECT user_id, id, 'fl-' || :n, 'in_progress' FROM public.bench_assistants WHERE n = :k
  ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status;
WITH c AS (
  INSERT INTO public.plain_calls (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
    SELECT user_id, id, 'fl-' || :n, 'completed', 60, now() FROM public.bench_assistants WHERE n = :k
    ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status,
      duration_seconds = excluded.duration_seconds, ended_at = excluded.ended_at
    RETURNING id, user_id, assistant_id, vapi_call_id
), a AS (
  UPDATE public.assistants SET total_call_duration_seconds = coalesce(total_call_duration_seconds, 0) + 60, updated_at = now()
  WHERE id = (SELECT assistant_id FROM c) RETURNING 1
), l AS (
  UPDATE public.user_limits SET used_call_time_seconds = coalesce(used_call_time_seconds, 0) + 60, updated_at = now()
  WHERE user_id = (SELECT user_id FROM c) RETURNING 1
)
INSERT INTO public.usage_logs (user_id, action_type, resource_id, assistant_count_change, call_time_change_seconds, trigger_reason, details)
  SELECT c.user_id, 'call_completed', c.id::text, 0, 60, 'call completed',
         jsonb_build_object('vapi_call_id', c.vapi_call_id, 'assistant_id', c.assistant_id, 'duration_seconds', 60)
  FROM c WHERE (SELECT count(*) FROM a) >= 0 AND (SELECT count(*) FROM l) >= 0;
",
            last = users - 1
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let (hooks, plain_script, floor_script) = (
            dir.path().join("hooks.sql"),
            dir.path().join("plain.sql"),
            dir.path().join("floor.sql"),
        );
        std::fs::write(&hooks, script("call_logs")).expect("write script");
        std::fs::write(&plain_script, script("plain_calls")).expect("write script");
        std::fs::write(&floor_script, floor).expect("write script");
        let seconds = if self.quick { 2 } else { 5 };
        let (mut with_triggers, mut without, mut floors) = (vec![], vec![], vec![]);
        for _ in 0..3 {
            with_triggers.push(self.pgbench_tps(&db, &hooks, seconds));
            without.push(self.pgbench_tps(&db, &plain_script, seconds));
            floors.push(self.pgbench_tps(&db, &floor_script, seconds));
        }
        let (t, p, f) = (median_f(with_triggers), median_f(without), median_f(floors));
        println!(
            "  webhook ingestion (pgbench, in-progress + completed upsert per call): {t:.0} calls/s with usage triggers vs {p:.0} calls/s into the copy → {:.2} × plain (goal ≥ 0.8)",
            t / p
        );
        println!(
            "    floor: the copy plus the three writes of exact usage, made by the client in the completion's statement, no trigger: {f:.0} calls/s → {:.2} × plain; the triggers reach {:.0} % of it",
            f / p,
            100.0 * t / f
        );
        let drift = self.sql(
            &db,
            // (Less the floor's own writes: 60 s to each counter per usage_logs row of its 'fl-' calls.)
            "SELECT (SELECT coalesce(sum(used_call_time_seconds), 0) FROM public.user_limits)
                  - (SELECT coalesce(sum(counted_duration_seconds), 0) FROM public.call_logs)
                  + (SELECT coalesce(sum(total_call_duration_seconds), 0) FROM public.assistants)
                  - (SELECT coalesce(sum(counted_duration_seconds), 0) FROM public.call_logs)
                  - 120 * (SELECT count(*) FROM public.usage_logs WHERE details ->> 'vapi_call_id' LIKE 'fl-%')",
        );
        println!(
            "  usage after both loads: {}",
            if drift.trim() == "0" {
                "exact (user_limits and assistant totals equal the calls)".to_string()
            } else {
                format!("DRIFTED by {} s", drift.trim())
            }
        );
    }

    fn add_missing_backfill(&mut self) {
        let (users, calls) = if self.quick {
            (10_000, 100_000)
        } else {
            (100_000, 1_000_000)
        };
        let db = self.fresh("backfill");
        self.psql(
            &db,
            Some(ADMIN),
            &["-f", &self.file("tests/fixtures/legacy-four-files.sql")],
        );
        self.load_calls(&db, users, calls);
        let took = self.vmx(&db, &["add-missing"]);
        let rows = self.sql(&db, "SELECT count(*) FROM public.user_limits");
        println!(
            "  `vmx add-missing` on {users} users with {calls} call logs: {} ({} user_limits rows backfilled)",
            ms(took),
            rows.trim()
        );
    }

    fn check_end_to_end(&mut self) {
        let runs: Vec<_> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let out = Command::new(&self.vmx)
                    .args(["check", "-q"])
                    .output()
                    .expect("run vmx check");
                assert!(
                    out.status.success(),
                    "vmx check: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                started.elapsed()
            })
            .collect();
        println!(
            "  `vmx check` end to end: {} (goal ≤ 3 s) — {:.2} × the goal",
            ms(median(&runs)),
            median(&runs).as_secs_f64() / 3.0
        );
    }
}

fn report(what: &str, ours: Duration, baseline: Duration, goal: &str) {
    println!(
        "  {what}: {} vs {} → {:.2} × (goal {goal})",
        ms(ours),
        ms(baseline),
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(samples: &[Duration]) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores, {cpu}")
}
