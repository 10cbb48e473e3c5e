//! The app under load, for `tests/takeover.rs` and `benches/takeover.rs`: a
//! hand-built (original guide) database filled with users and call logs, and
//! app clients that keep writing and reading while `vmx migrate` takes it over.
//!
//! Each client is a tokio task with two connections of its own, as the
//! Supabase API would use them: a webhook writer (`service_role`) inserting
//! one completed call per statement, and a signed-in user reading "my latest
//! 20 calls" (`authenticated`, `request.jwt.claims` set for the transaction).
//! Every app transaction is timed; every failure is kept.
#![allow(dead_code)]

use sqlx::{Connection, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Grants the original guide's projects had by default (Supabase granted new
/// `public` tables to the API roles then), so the app works before the takeover.
pub const LEGACY_API_GRANTS: &str = "GRANT ALL ON ALL TABLES IN SCHEMA public TO service_role;
     GRANT SELECT ON ALL TABLES IN SCHEMA public TO authenticated;";

/// Adds `users` users (sign-ups through auth.users, so the legacy triggers make
/// their rows), one assistant each, and `calls` completed call logs spread over
/// them, loaded as a restore would (triggers off). Needs a superuser.
/// Non-constraint indexes of call_logs are dropped for the load and rebuilt.
pub async fn fill(conn: &mut PgConnection, users: usize, calls: usize) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!(
        "INSERT INTO auth.users (id, email)
           SELECT gen_random_uuid(), 'load' || g || '-' || gen_random_uuid() || '@example.com'
           FROM generate_series(1, {users}) g;
         INSERT INTO public.assistants (user_id, name)
           SELECT p.id, 'assistant' FROM public.profiles p
           WHERE NOT EXISTS (SELECT 1 FROM public.assistants a WHERE a.user_id = p.id);"
    ))
    .execute(&mut *conn)
    .await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = 'public.call_logs'::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::raw_sql(&format!("DROP INDEX public.\"{name}\""))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::raw_sql(&format!(
        "SET session_replication_role = replica;
         SET maintenance_work_mem = '256MB';
         INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, duration_seconds, status, started_at, ended_at)
         SELECT a.user_id, a.id, 'hist-' || g, (g % 300), 'completed',
                now() - make_interval(secs => g), now() - make_interval(secs => g) + make_interval(secs => g % 300)
         FROM generate_series(1, {calls}) g
         JOIN (SELECT id, user_id, row_number() OVER (ORDER BY id) - 1 AS n FROM public.assistants) a
           ON a.n = g % (SELECT count(*) FROM public.assistants);
         RESET session_replication_role;"
    ))
    .execute(&mut *conn)
    .await?;
    for (_, def) in &indexes {
        sqlx::raw_sql(def).execute(&mut *conn).await?;
    }
    sqlx::raw_sql("RESET maintenance_work_mem; ANALYZE")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Who the app acts for: a user and their assistant.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub user: Uuid,
    pub assistant: Uuid,
}

pub async fn accounts(conn: &mut PgConnection) -> Result<Vec<Account>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (a.user_id) a.user_id, a.id FROM public.assistants a ORDER BY a.user_id, a.id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, assistant)| Account { user, assistant })
        .collect())
}

/// An app transaction slower than this is kept in `Stats::slow`.
const SLOW: Duration = Duration::from_millis(50);

/// What the clients saw in one window.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Every app transaction's wall time.
    pub latencies: Vec<Duration>,
    /// The webhook inserts' wall times (also in `latencies`).
    pub insert_latencies: Vec<Duration>,
    /// The reads' wall times (also in `latencies`).
    pub read_latencies: Vec<Duration>,
    /// When each app transaction slower than 50 ms started, what it was, how long it took.
    pub slow: Vec<(Instant, &'static str, Duration)>,
    pub errors: Vec<String>,
    pub inserted: usize,
    pub reads: usize,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.insert_latencies.extend(other.insert_latencies);
        self.read_latencies.extend(other.read_latencies);
        self.slow.extend(other.slow);
        self.errors.extend(other.errors);
        self.inserted += other.inserted;
        self.reads += other.reads;
    }

    pub fn worst(&self) -> Duration {
        worst(&self.latencies)
    }

    pub fn p99(&self) -> Duration {
        p99(&self.latencies)
    }
}

pub fn worst(v: &[Duration]) -> Duration {
    v.iter().copied().max().unwrap_or_default()
}

pub fn p99(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get((v.len() * 99 / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// The app, started: `clients` clients on `url` (a role that may SET ROLE to
/// the API roles), each on an OS thread of its own, acting for `accounts`
/// until `stop` is set (or `max_ops` each), pausing `think` between operations.
pub struct App {
    clients: Vec<std::thread::JoinHandle<Stats>>,
    stop: Arc<AtomicBool>,
}

impl App {
    pub fn start(
        url: &str,
        accounts: Arc<Vec<Account>>,
        clients: usize,
        think: Duration,
        max_ops: usize,
    ) -> App {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|client| {
                let (url, accounts, stop) = (url.to_string(), accounts.clone(), stop.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    rt.block_on(client_loop(client, &url, &accounts, think, max_ops, &stop))
                })
            })
            .collect();
        App { clients, stop }
    }

    /// Stops the clients and returns what they saw.
    pub fn stop(self) -> Stats {
        self.stop.store(true, Ordering::Relaxed);
        let mut stats = Stats::default();
        for client in self.clients {
            match client.join() {
                Ok(s) => stats.merge(s),
                Err(_) => stats.errors.push("a client panicked".into()),
            }
        }
        stats
    }
}

async fn connect_as(url: &str, role: &str) -> Result<PgConnection, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql(&format!("SET ROLE {role}"))
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

async fn client_loop(
    client: usize,
    url: &str,
    accounts: &[Account],
    think: Duration,
    max_ops: usize,
    stop: &AtomicBool,
) -> Stats {
    let mut stats = Stats::default();
    let (mut writer, mut reader) = match (
        connect_as(url, "service_role").await,
        connect_as(url, "authenticated").await,
    ) {
        (Ok(w), Ok(r)) => (w, r),
        (Err(e), _) | (_, Err(e)) => {
            stats
                .errors
                .push(format!("client {client} cannot connect: {e}"));
            return stats;
        }
    };
    let run_id = Uuid::new_v4().simple().to_string();
    let mut n = 0usize;
    while n < max_ops && !stop.load(Ordering::Relaxed) {
        let account = accounts[(client * 7919 + n * 104_729) % accounts.len()];
        // A VAPI webhook: one completed call, one statement.
        let insert = format!(
            "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, duration_seconds, status, started_at, ended_at)
             VALUES ('{}', '{}', 'live-{run_id}-{client}-{n}', {}, 'completed', now() - interval '1 minute', now())",
            account.user,
            account.assistant,
            1 + n % 120
        );
        let started = Instant::now();
        match sqlx::raw_sql(&insert).execute(&mut writer).await {
            Ok(_) => stats.inserted += 1,
            Err(e) => stats.errors.push(format!("insert: {e}")),
        }
        stats.latencies.push(started.elapsed());
        stats.insert_latencies.push(started.elapsed());
        if started.elapsed() > SLOW {
            stats.slow.push((started, "insert", started.elapsed()));
        }

        // "My latest 20 calls", as the signed-in user, in one transaction, filtered
        // on the user as the app asks it (RLS applies as well).
        let read = format!(
            "SELECT set_config('request.jwt.claims', '{{\"sub\":\"{}\",\"role\":\"authenticated\"}}', true);
             SELECT id, assistant_id, status, duration_seconds, started_at
             FROM public.call_logs WHERE user_id = '{}' ORDER BY started_at DESC LIMIT 20",
            account.user, account.user
        );
        let started = Instant::now();
        match sqlx::raw_sql(&read).fetch_all(&mut reader).await {
            Ok(_) => stats.reads += 1,
            Err(e) => stats.errors.push(format!("read: {e}")),
        }
        stats.latencies.push(started.elapsed());
        stats.read_latencies.push(started.elapsed());
        if started.elapsed() > SLOW {
            stats.slow.push((started, "read", started.elapsed()));
        }
        n += 1;
        tokio::time::sleep(think).await;
    }
    stats
}
