//! The promises of product.md §1, proven as users meet them: as signed-in user
//! A next to user B, as `anon`, as `service_role`, on a real PostgreSQL.
//! Every test gets a database of its own (`common::fresh_db`).
mod common;
use common::*;
use sqlx::{Executor, PgConnection};
use std::time::Duration;
use uuid::Uuid;

/// The seven tables and their owner column.
const TABLES: [(&str, &str); 7] = [
    ("profiles", "id"),
    ("assistants", "user_id"),
    ("phone_numbers", "user_id"),
    ("call_logs", "user_id"),
    ("user_limits", "user_id"),
    ("usage_logs", "user_id"),
    ("call_analytics", "user_id"),
];

const LIMIT: Option<&str> = Some("VX001");

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

async fn text(conn: &mut PgConnection, sql: &str) -> Option<String> {
    match sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_one(&mut *conn)
        .await
    {
        Ok(s) => s,
        Err(e) => panic!("{sql}\nfailed: {e}"),
    }
}

/// `table` in `public` unless it names its schema.
fn qualified(table: &str) -> String {
    if table.contains('.') {
        table.to_string()
    } else {
        format!("public.{table}")
    }
}

/// Rows of `table` owned by `user`, counted by the superuser (no RLS).
async fn owned(su: &mut PgConnection, table: &str, col: &str, user: Uuid) -> i64 {
    int(
        su,
        &format!(
            "SELECT count(*) FROM {} WHERE {col} = '{user}'",
            qualified(table)
        ),
    )
    .await
}

/// A fingerprint of everything `user` owns in the seven tables.
async fn fingerprint(su: &mut PgConnection, user: Uuid) -> Vec<String> {
    let mut out = Vec::new();
    for (t, col) in TABLES {
        let sql = format!(
            "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(x::text, ',' ORDER BY x.id)), '-') \
             FROM public.{t} x WHERE {col} = '{user}'"
        );
        out.push(format!("{t}: {}", text(su, &sql).await.unwrap_or_default()));
    }
    out
}

/// Runs psql as the superuser (or `user`) with notices shown; (stdout, stderr).
fn psql_messages(db: &TestDb, user: Option<&str>, args: &[&str]) -> (String, String) {
    let psql = vmx::sandbox::find_bindir()
        .expect("PostgreSQL binaries")
        .join("psql");
    let url = match user {
        Some(_) => db.url(),
        None => db.superuser_url(),
    };
    let out = std::process::Command::new(psql)
        .arg(url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"])
        .args(args)
        .env("PGOPTIONS", "-c client_min_messages=notice")
        .output()
        .expect("run psql");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "psql {args:?} failed:\n{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// Usage as the three counters see it: (assistant total, user's used seconds,
/// number of call_completed usage rows, sum of their call_time_change_seconds).
async fn usage(su: &mut PgConnection, user: Uuid, assistant: Uuid) -> (i64, i64, i64, i64) {
    let total = int(
        su,
        &format!("SELECT total_call_duration_seconds::bigint FROM public.assistants WHERE id = '{assistant}'"),
    )
    .await;
    let used = int(
        su,
        &format!("SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = '{user}'"),
    )
    .await;
    let rows = int(
        su,
        &format!("SELECT count(*) FROM public.usage_logs WHERE user_id = '{user}' AND action_type = 'call_completed'"),
    )
    .await;
    let sum = int(
        su,
        &format!("SELECT coalesce(sum(call_time_change_seconds), 0)::bigint FROM public.usage_logs WHERE user_id = '{user}' AND action_type = 'call_completed'"),
    )
    .await;
    (total, used, rows, sum)
}

/// Two signed-up users, each with rows in all seven tables: an assistant and a
/// phone number (written as the user), a completed call and an analytics row
/// (written as service_role, like the webhook and the analytics job); the
/// profile, limits and usage_logs rows come from the triggers.
struct World {
    db: TestDb,
    a: Uuid,
    b: Uuid,
    a_asst: Uuid,
    b_asst: Uuid,
}

async fn world() -> World {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut ids = Vec::new();
    for (user, n) in [(a, 1), (b, 2)] {
        let mut conn = db.connect_as(Actor::User(user)).await;
        // The server chooses the id (0.3.0): read it back.
        let asst: Uuid = sqlx::query_scalar(&format!(
            "INSERT INTO public.assistants (user_id, name) VALUES ('{user}', 'bot {n}') RETURNING id"
        ))
        .fetch_one(&mut conn)
        .await
        .expect("assistant");
        ids.push(asst);
        exec_ok(
            &mut conn,
            &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, assigned_assistant_id) VALUES ('{user}', '+1555000000{n}', 'line {n}', '{asst}')"),
        )
        .await;
        webhook(&mut svc, user, asst, &format!("call-{n}"), "completed", 60)
            .await
            .expect("webhook as service_role");
        exec_ok(
            &mut svc,
            &format!("INSERT INTO public.call_analytics (user_id, assistant_id, period_start, period_end, total_calls) VALUES ('{user}', '{asst}', now() - interval '1 day', now(), 1)"),
        )
        .await;
    }
    let mut su = db.superuser().await;
    for user in [a, b] {
        for (t, col) in TABLES {
            assert!(
                owned(&mut su, t, col, user).await > 0,
                "world: {t} row for {user}"
            );
        }
    }
    World {
        db,
        a,
        b,
        a_asst: ids[0],
        b_asst: ids[1],
    }
}

#[tokio::test]
async fn harness_builds_every_fixture() {
    for f in [Fixture::Schema, Fixture::Legacy, Fixture::LegacyFourFiles] {
        let db = fresh_db(f);
        assert!(!db.row_counts().is_empty(), "{f:?}");
    }
}

// ---------------------------------------------------------------------------
// 1. Isolation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn user_a_sees_only_own_rows_in_every_table() {
    let w = world().await;
    let mut su = w.db.superuser().await;
    let mut conn = w.db.connect_as(Actor::User(w.a)).await;
    for (t, col) in TABLES {
        let visible = int(&mut conn, &format!("SELECT count(*) FROM public.{t}")).await;
        let mine = owned(&mut su, t, col, w.a).await;
        assert_eq!(visible, mine, "{t}: A sees {visible} rows, owns {mine}");
        let of_b = int(
            &mut conn,
            &format!("SELECT count(*) FROM public.{t} WHERE {col} = '{}'", w.b),
        )
        .await;
        assert_eq!(of_b, 0, "{t}: A sees B's rows");
    }
}

#[tokio::test]
async fn user_a_cannot_assign_a_phone_number_to_bs_assistant() {
    let w = world().await;
    let mut a = w.db.connect_as(Actor::User(w.a)).await;
    let insert = exec(
        &mut a,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, assigned_assistant_id) VALUES ('{}', '+15550009999', 'sneaky', '{}')", w.a, w.b_asst),
    )
    .await;
    assert_eq!(
        sqlstate(&insert).as_deref(),
        Some("42501"),
        "insert pointing at B's assistant"
    );
    let update = exec(
        &mut a,
        &format!(
            "UPDATE public.phone_numbers SET assigned_assistant_id = '{}' WHERE user_id = '{}'",
            w.b_asst, w.a
        ),
    )
    .await;
    assert_eq!(
        sqlstate(&update).as_deref(),
        Some("42501"),
        "update pointing at B's assistant"
    );
    // Own assistant and no assistant remain allowed.
    assert_eq!(
        exec_ok(
            &mut a,
            &format!(
                "UPDATE public.phone_numbers SET assigned_assistant_id = NULL WHERE user_id = '{}'",
                w.a
            ),
        )
        .await,
        1
    );
    assert_eq!(
        exec_ok(
            &mut a,
            &format!(
                "UPDATE public.phone_numbers SET assigned_assistant_id = '{}' WHERE user_id = '{}'",
                w.a_asst, w.a
            ),
        )
        .await,
        1
    );
}

#[tokio::test]
async fn user_a_cannot_insert_rows_owned_by_b() {
    let w = world().await;
    let (b, b_asst) = (w.b, w.b_asst);
    let mut su = w.db.superuser().await;
    let before = fingerprint(&mut su, b).await;
    let mut conn = w.db.connect_as(Actor::User(w.a)).await;
    let inserts = [
        ("profiles", format!("INSERT INTO public.profiles (id, email) VALUES ('{b}', 'x@example.com')")),
        ("assistants", format!("INSERT INTO public.assistants (user_id, name) VALUES ('{b}', 'sneaky')")),
        ("phone_numbers", format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{b}', '+15550009999', 'sneaky')")),
        ("call_logs", format!("INSERT INTO public.call_logs (user_id, assistant_id, status, duration_seconds) VALUES ('{b}', '{b_asst}', 'completed', 500)")),
        ("user_limits", format!("INSERT INTO public.user_limits (user_id) VALUES ('{b}')")),
        ("usage_logs", format!("INSERT INTO public.usage_logs (user_id, action_type) VALUES ('{b}', 'call_completed')")),
        ("call_analytics", format!("INSERT INTO public.call_analytics (user_id, period_start, period_end) VALUES ('{b}', now(), now())")),
    ];
    assert_eq!(inserts.len(), TABLES.len());
    for (t, sql) in &inserts {
        let r = exec(&mut conn, sql).await;
        assert_eq!(
            sqlstate(&r).as_deref(),
            DENIED,
            "A inserts into {t} for B: {r:?}"
        );
    }
    assert_eq!(fingerprint(&mut su, b).await, before, "B's data changed");
}

#[tokio::test]
async fn user_a_cannot_update_or_delete_bs_rows() {
    let w = world().await;
    let b = w.b;
    let mut su = w.db.superuser().await;
    let before_b = fingerprint(&mut su, b).await;
    let mut conn = w.db.connect_as(Actor::User(w.a)).await;
    // Commands the app has on these tables: RLS filters B's rows out.
    let filtered = [
        format!("UPDATE public.profiles SET full_name = 'pwned' WHERE id = '{b}'"),
        format!("UPDATE public.assistants SET name = 'pwned' WHERE user_id = '{b}'"),
        format!("DELETE FROM public.assistants WHERE user_id = '{b}'"),
        format!("UPDATE public.phone_numbers SET notes = 'pwned' WHERE user_id = '{b}'"),
        format!("DELETE FROM public.phone_numbers WHERE user_id = '{b}'"),
    ];
    for sql in &filtered {
        assert_eq!(exec(&mut conn, sql).await.expect(sql), 0, "{sql}");
    }
    // Commands authenticated has no grant for: denied outright.
    let mut denied = vec![format!("DELETE FROM public.profiles WHERE id = '{b}'")];
    for t in ["call_logs", "user_limits", "usage_logs", "call_analytics"] {
        denied.push(format!(
            "UPDATE public.{t} SET created_at = now() WHERE user_id = '{b}'"
        ));
        denied.push(format!("DELETE FROM public.{t} WHERE user_id = '{b}'"));
    }
    // Moving own rows onto B's account: user_id is not updatable.
    denied.push(format!("UPDATE public.assistants SET user_id = '{b}'"));
    denied.push(format!("UPDATE public.phone_numbers SET user_id = '{b}'"));
    for sql in &denied {
        let r = exec(&mut conn, sql).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{sql}: {r:?}");
    }
    assert_eq!(fingerprint(&mut su, b).await, before_b, "B's data changed");
}

#[tokio::test]
async fn user_a_can_use_every_app_command_on_own_rows() {
    let w = world().await;
    let (a, a_asst) = (w.a, w.a_asst);
    let mut conn = w.db.connect_as(Actor::User(a)).await;
    let allowed = [
        format!("UPDATE public.profiles SET full_name = 'Alice A', avatar_url = 'https://x/a.png' WHERE id = '{a}'"),
        // vapi_assistant_id is the backend's to write since promise 12 (service_role).
        format!("UPDATE public.assistants SET name = 'renamed', configuration = '{{\"voice\":\"x\"}}' WHERE id = '{a_asst}'"),
        format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, provider) VALUES ('{a}', '+15550007777', 'second', 'vapi')"),
        "UPDATE public.phone_numbers SET friendly_name = 'renamed', notes = 'n' WHERE phone_number = '+15550007777'".to_string(),
        "DELETE FROM public.phone_numbers WHERE phone_number = '+15550007777'".to_string(),
        format!("DELETE FROM public.assistants WHERE id = '{a_asst}'"),
        format!("INSERT INTO public.assistants (user_id, name, configuration) VALUES ('{a}', 'again', '{{}}')"),
    ];
    for sql in &allowed {
        assert_eq!(exec(&mut conn, sql).await.expect(sql), 1, "{sql}");
    }
}

#[tokio::test]
async fn app_functions_answer_for_own_id_and_refuse_another_users_id() {
    let w = world().await;
    let (a, b) = (w.a, w.b);
    let mut conn = w.db.connect_as(Actor::User(a)).await;
    let own = text(&mut conn, &format!("SELECT format('%s %s %s', can_create_assistant, assistant_count, demo_expired) FROM public.check_user_assistant_limit('{a}')")).await;
    assert_eq!(own.as_deref(), Some("f 1 f"));
    let own = text(&mut conn, &format!("SELECT format('%s %s', total_call_seconds, call_count) FROM public.get_user_call_usage('{a}')")).await;
    assert_eq!(own.as_deref(), Some("60 1"));
    let own = text(&mut conn, &format!("SELECT format('%s %s', assistants_count, total_call_seconds) FROM public.sync_user_usage('{a}')")).await;
    assert_eq!(own.as_deref(), Some("1 60"));
    for f in [
        "check_user_assistant_limit",
        "get_user_call_usage",
        "sync_user_usage",
    ] {
        let r = exec(&mut conn, &format!("SELECT * FROM public.{f}('{b}')")).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{f}(B) as A: {r:?}");
    }
    let mut anon = w.db.connect_as(Actor::Anon).await;
    for f in [
        "check_user_assistant_limit",
        "get_user_call_usage",
        "sync_user_usage",
    ] {
        let r = exec(&mut anon, &format!("SELECT * FROM public.{f}('{b}')")).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{f}(B) as anon: {r:?}");
    }
}

#[tokio::test]
async fn anon_is_denied_every_command_on_every_table() {
    let w = world().await;
    let mut conn = w.db.connect_as(Actor::Anon).await;
    for (t, col) in TABLES {
        for sql in [
            format!("SELECT count(*) FROM public.{t}"),
            format!("INSERT INTO public.{t} ({col}) VALUES ('{}')", w.b),
            format!("UPDATE public.{t} SET created_at = now()"),
            format!("DELETE FROM public.{t}"),
        ] {
            let r = exec(&mut conn, &sql).await;
            assert_eq!(sqlstate(&r).as_deref(), DENIED, "anon: {sql}: {r:?}");
        }
    }
}

#[tokio::test]
async fn authenticated_is_denied_commands_it_has_no_grant_for_even_on_own_rows() {
    let w = world().await;
    let (a, a_asst) = (w.a, w.a_asst);
    let mut su = w.db.superuser().await;
    let before = fingerprint(&mut su, a).await;
    let mut conn = w.db.connect_as(Actor::User(a)).await;
    let denied = [
        format!("INSERT INTO public.call_logs (user_id, assistant_id, status, duration_seconds) VALUES ('{a}', '{a_asst}', 'completed', 1)"),
        format!("UPDATE public.call_logs SET duration_seconds = 0 WHERE user_id = '{a}'"),
        format!("DELETE FROM public.call_logs WHERE user_id = '{a}'"),
        format!("INSERT INTO public.user_limits (user_id) VALUES ('{a}')"),
        format!("UPDATE public.user_limits SET used_call_time_seconds = 0 WHERE user_id = '{a}'"),
        format!("DELETE FROM public.user_limits WHERE user_id = '{a}'"),
        format!("INSERT INTO public.usage_logs (user_id, action_type) VALUES ('{a}', 'x')"),
        format!("UPDATE public.usage_logs SET call_time_change_seconds = 0 WHERE user_id = '{a}'"),
        format!("DELETE FROM public.usage_logs WHERE user_id = '{a}'"),
        format!("INSERT INTO public.call_analytics (user_id, period_start, period_end) VALUES ('{a}', now(), now())"),
        format!("UPDATE public.call_analytics SET total_calls = 99 WHERE user_id = '{a}'"),
        format!("DELETE FROM public.call_analytics WHERE user_id = '{a}'"),
        format!("INSERT INTO public.profiles (id, email) VALUES ('{}', 'z@example.com')", Uuid::new_v4()),
        format!("UPDATE public.profiles SET email = 'other@example.com' WHERE id = '{a}'"),
        format!("DELETE FROM public.profiles WHERE id = '{a}'"),
        format!("UPDATE public.assistants SET total_call_duration_seconds = 0 WHERE id = '{a_asst}'"),
    ];
    for sql in &denied {
        let r = exec(&mut conn, sql).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{sql}: {r:?}");
    }
    assert_eq!(fingerprint(&mut su, a).await, before, "A's data changed");
}

#[tokio::test]
async fn service_role_writes_every_table() {
    let w = world().await;
    let (a, a_asst) = (w.a, w.a_asst);
    let c = w.db.sign_up("carol@example.com").await;
    // A phone sign-up without email gets its profile (promise 13); the service role completes it.
    let mut su = w.db.superuser().await;
    let p = Uuid::new_v4();
    exec_ok(
        &mut su,
        &format!("INSERT INTO auth.users (id, phone) VALUES ('{p}', '+15551230000')"),
    )
    .await;
    let mut svc = w.db.connect_as(Actor::Service).await;
    // the webhook inserts a call log for A
    assert_eq!(
        webhook(&mut svc, a, a_asst, "svc-call", "in_progress", 0)
            .await
            .unwrap(),
        1
    );
    let writes = [
        format!("UPDATE public.profiles SET full_name = 'Phone User' WHERE id = '{p}' AND email IS NULL"),
        format!("UPDATE public.profiles SET is_demo_user = false, demo_expires_at = NULL WHERE id = '{a}'"),
        format!("INSERT INTO public.assistants (user_id, name) VALUES ('{c}', 'by service')"),
        format!("UPDATE public.assistants SET total_call_duration_seconds = total_call_duration_seconds WHERE user_id = '{c}'"),
        format!("UPDATE public.assistants SET vapi_assistant_id = 'vapi-by-backend' WHERE user_id = '{c}'"),
        format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{a}', '+15550008888', 'svc')"),
        "UPDATE public.phone_numbers SET notes = 'svc' WHERE phone_number = '+15550008888'".into(),
        "DELETE FROM public.phone_numbers WHERE phone_number = '+15550008888'".into(),
        "UPDATE public.call_logs SET summary = 'svc' WHERE vapi_call_id = 'svc-call'".into(),
        "DELETE FROM public.call_logs WHERE vapi_call_id = 'svc-call'".into(),
        format!("UPDATE public.user_limits SET plan_type = 'pro', max_assistants = 5 WHERE user_id = '{a}'"),
        format!("DELETE FROM public.user_limits WHERE user_id = '{c}'"),
        format!("INSERT INTO public.user_limits (user_id) VALUES ('{c}')"),
        format!("INSERT INTO public.usage_logs (user_id, action_type, trigger_reason) VALUES ('{a}', 'manual', 'svc')"),
        "UPDATE public.usage_logs SET details = '{}' WHERE action_type = 'manual'".into(),
        "DELETE FROM public.usage_logs WHERE action_type = 'manual'".into(),
        format!("INSERT INTO public.call_analytics (user_id, period_type, period_start, period_end) VALUES ('{a}', 'weekly', now(), now())"),
        format!("UPDATE public.call_analytics SET total_calls = 7 WHERE user_id = '{a}' AND period_type = 'weekly'"),
        format!("DELETE FROM public.call_analytics WHERE user_id = '{a}' AND period_type = 'weekly'"),
        format!("DELETE FROM public.assistants WHERE user_id = '{c}'"),
        format!("DELETE FROM public.profiles WHERE id = '{p}'"),
    ];
    for sql in &writes {
        assert_eq!(
            exec(&mut svc, sql).await.expect(sql),
            1,
            "service_role: {sql}"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Limits
// ---------------------------------------------------------------------------

async fn assert_vx001(r: Result<u64, sqlx::Error>, who: &str) {
    assert_eq!(sqlstate(&r).as_deref(), LIMIT, "{who}: {r:?}");
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("assistant limit reached"),
        "{who}: message {msg}"
    );
}

#[tokio::test]
async fn second_assistant_on_free_plan_is_refused_with_vx001() {
    let w = world().await;
    let a = w.a;
    let mut conn = w.db.connect_as(Actor::User(a)).await;
    let r = exec(
        &mut conn,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'second')"),
    )
    .await;
    assert_vx001(r, "authenticated").await;
    let mut su = w.db.superuser().await;
    assert_eq!(owned(&mut su, "assistants", "user_id", a).await, 1);
}

#[tokio::test]
async fn second_assistant_on_free_plan_is_refused_with_vx001_for_service_role() {
    let w = world().await;
    let a = w.a;
    let mut svc = w.db.connect_as(Actor::Service).await;
    let r = exec(
        &mut svc,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'second')"),
    )
    .await;
    assert_vx001(r, "service_role").await;
    let mut su = w.db.superuser().await;
    assert_eq!(owned(&mut su, "assistants", "user_id", a).await, 1);
}

#[tokio::test]
async fn user_cannot_raise_own_limits_plan_usage_or_demo_flags() {
    let w = world().await;
    let a = w.a;
    let mut su = w.db.superuser().await;
    let before = fingerprint(&mut su, a).await;
    let mut conn = w.db.connect_as(Actor::User(a)).await;
    for set in [
        "plan_type = 'enterprise'",
        "max_assistants = 1000",
        "max_call_time_seconds = 1000000",
        "used_call_time_seconds = 0",
        "current_assistants = 0",
    ] {
        let sql = format!("UPDATE public.user_limits SET {set} WHERE user_id = '{a}'");
        let r = exec(&mut conn, &sql).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{sql}: {r:?}");
    }
    for set in [
        "is_demo_user = false",
        "demo_expires_at = now() + interval '100 years'",
    ] {
        let sql = format!("UPDATE public.profiles SET {set} WHERE id = '{a}'");
        let r = exec(&mut conn, &sql).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{sql}: {r:?}");
    }
    assert_eq!(fingerprint(&mut su, a).await, before);
    let limits = text(
        &mut su,
        &format!("SELECT format('%s/%s/%s', plan_type, max_assistants, max_call_time_seconds) FROM public.user_limits WHERE user_id = '{a}'"),
    )
    .await;
    assert_eq!(limits.as_deref(), Some("free/1/600"));
}

#[tokio::test]
async fn raised_max_assistants_allows_a_second_assistant() {
    let w = world().await;
    let a = w.a;
    let mut svc = w.db.connect_as(Actor::Service).await;
    exec_ok(&mut svc, &format!("UPDATE public.user_limits SET plan_type = 'pro', max_assistants = 2 WHERE user_id = '{a}'")).await;
    let mut conn = w.db.connect_as(Actor::User(a)).await;
    let insert = format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'more')");
    assert_eq!(exec(&mut conn, &insert).await.expect("second assistant"), 1);
    assert_vx001(exec(&mut conn, &insert).await, "third on max 2").await;
    let mut su = w.db.superuser().await;
    assert_eq!(owned(&mut su, "assistants", "user_id", a).await, 2);
}

#[tokio::test]
async fn assistant_for_another_user_is_refused_with_42501_not_vx001() {
    // B is at the limit, so a trigger running before RLS would say VX001 and leak it.
    let w = world().await;
    let b = w.b;
    let mut conn = w.db.connect_as(Actor::User(w.a)).await;
    let r = exec(
        &mut conn,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{b}', 'for b')"),
    )
    .await;
    assert_eq!(sqlstate(&r).as_deref(), DENIED, "{r:?}");
    // and for a B below the limit (no assistant yet) it is just as denied
    let c = w.db.sign_up("carol@example.com").await;
    let r = exec(
        &mut conn,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{c}', 'for c')"),
    )
    .await;
    assert_eq!(sqlstate(&r).as_deref(), DENIED, "{r:?}");
    let mut su = w.db.superuser().await;
    assert_eq!(owned(&mut su, "assistants", "user_id", b).await, 1);
    assert_eq!(owned(&mut su, "assistants", "user_id", c).await, 0);
}

#[tokio::test]
async fn concurrent_first_assistants_for_one_user_let_exactly_one_through() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let mut one = db.connect_as(Actor::User(a)).await;
    let mut two = db.connect_as(Actor::User(a)).await;
    exec_ok(&mut one, "BEGIN").await;
    exec_ok(&mut two, "BEGIN").await;
    let two_pid = backend_pid(&mut two).await;
    exec_ok(
        &mut one,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'one')"),
    )
    .await;
    let second = tokio::spawn(async move {
        let r = exec(
            &mut two,
            &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'two')"),
        )
        .await;
        if r.is_ok() {
            exec_ok(&mut two, "COMMIT").await;
        }
        r
    });
    // Proceed only once the second backend is seen waiting on a lock held by
    // the first transaction; an insert that never waits fails here.
    if !waits_for_a_lock(&db, two_pid, Duration::from_secs(10), || {
        second.is_finished()
    })
    .await
    {
        let r = second.await.expect("task");
        panic!("the second insert finished without waiting for the first transaction: {r:?}");
    }
    let mut su = db.superuser().await;
    exec_ok(&mut one, "COMMIT").await;
    let r = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("second insert finishes")
        .expect("task");
    assert_vx001(r, "concurrent second insert").await;
    assert_eq!(owned(&mut su, "assistants", "user_id", a).await, 1);
}

// ---------------------------------------------------------------------------
// 3. Sign-up
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sign_up_creates_profile_and_free_plan_limits() {
    let db = fresh_db(Fixture::Schema);
    let mut su = db.superuser().await;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO auth.users (email, raw_user_meta_data) VALUES ('alice@example.com', $1) RETURNING id",
    )
    .bind(serde_json::json!({"full_name": "Alice Archer", "avatar_url": "https://example.com/a.png"}))
    .fetch_one(&mut su)
    .await
    .expect("sign up");
    let profile = text(
        &mut su,
        &format!("SELECT format('%s|%s|%s|%s', email, full_name, avatar_url, is_demo_user) FROM public.profiles WHERE id = '{id}'"),
    )
    .await;
    assert_eq!(
        profile.as_deref(),
        Some("alice@example.com|Alice Archer|https://example.com/a.png|t")
    );
    let limits = text(
        &mut su,
        &format!("SELECT format('%s/%s/%s/%s/%s', plan_type, max_assistants, max_call_time_seconds, current_assistants, used_call_time_seconds) FROM public.user_limits WHERE user_id = '{id}'"),
    )
    .await;
    assert_eq!(limits.as_deref(), Some("free/1/600/0/0"));
    assert_eq!(owned(&mut su, "user_limits", "user_id", id).await, 1);
}

#[tokio::test]
async fn sign_up_with_null_email_still_succeeds() {
    let db = fresh_db(Fixture::Schema);
    let mut su = db.superuser().await;
    let id = Uuid::new_v4();
    let r = exec(
        &mut su,
        &format!("INSERT INTO auth.users (id, phone) VALUES ('{id}', '+15550000000')"),
    )
    .await;
    assert_eq!(r.expect("phone sign-up is not broken by the triggers"), 1);
    assert_eq!(owned(&mut su, "auth.users", "id", id).await, 1);
    // and the next normal sign-up is unaffected
    let b = db.sign_up("bob@example.com").await;
    assert_eq!(owned(&mut su, "profiles", "id", b).await, 1);
    assert_eq!(owned(&mut su, "user_limits", "user_id", b).await, 1);
}

#[tokio::test]
async fn failed_profile_creation_is_logged_as_a_warning_not_hidden() {
    let db = fresh_db(Fixture::Schema);
    let id = Uuid::new_v4();
    // Phone-only sign-ups get a profile since promise 13: break profile creation on purpose.
    db.sql("ALTER TABLE public.profiles ADD CONSTRAINT test_refuses_boom CHECK (full_name IS DISTINCT FROM 'boom')");
    let (_, messages) = psql_messages(
        &db,
        None,
        &[
            "-c",
            &format!("INSERT INTO auth.users (id, phone, raw_user_meta_data) VALUES ('{id}', '+15550000001', '{{\"full_name\": \"boom\"}}')"),
        ],
    );
    assert!(
        messages.contains("WARNING") && messages.contains(&id.to_string()),
        "no WARNING naming the user: {messages:?}"
    );
    let mut su = db.superuser().await;
    assert_eq!(owned(&mut su, "auth.users", "id", id).await, 1);
}

/// Two sessions create a free user's first assistant at the same moment:
/// exactly one gets through.
async fn first_assistant_race(isolation: &'static str) {
    let db = fresh_db(Fixture::Schema);
    let mut winners = 0;
    for round in 0..6 {
        let a = db.sign_up(&format!("racer{round}@example.com")).await;
        let mut conns = Vec::new();
        for _ in 0..2 {
            let mut c = db.connect_as(Actor::User(a)).await;
            exec_ok(&mut c, "BEGIN").await;
            exec_ok(
                &mut c,
                &format!("SET TRANSACTION ISOLATION LEVEL {isolation}"),
            )
            .await;
            // The snapshot is taken now, before either insert (REPEATABLE READ).
            int(&mut c, "SELECT count(*) FROM public.assistants").await;
            conns.push(c);
        }
        let mut first = conns.remove(0);
        let mut second = conns.remove(0);
        exec_ok(
            &mut first,
            &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'one')"),
        )
        .await;
        let pending = tokio::spawn(async move {
            let r = exec(
                &mut second,
                &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'two')"),
            )
            .await;
            let r = match r {
                Ok(_) => second.execute("COMMIT").await.map(|_| 0),
                Err(e) => {
                    let _ = second.execute("ROLLBACK").await;
                    Err(e)
                }
            };
            sqlstate(&r)
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        exec_ok(&mut first, "COMMIT").await;
        let outcome = pending.await.expect("second session");
        assert!(
            matches!(outcome.as_deref(), Some("VX001") | Some("40001")),
            "second concurrent first assistant at {isolation}: {outcome:?}"
        );
        let mut su = db.superuser().await;
        winners += int(
            &mut su,
            &format!("SELECT count(*) FROM public.assistants WHERE user_id = '{a}'"),
        )
        .await;
    }
    assert_eq!(winners, 6, "one assistant per free user at {isolation}");
}

#[tokio::test]
async fn concurrent_first_assistants_at_repeatable_read_let_exactly_one_through() {
    first_assistant_race("REPEATABLE READ").await;
}

// ---------------------------------------------------------------------------
// 4. Usage
// ---------------------------------------------------------------------------

/// A signed-up user with one assistant and no calls.
async fn one_user() -> (TestDb, Uuid, Uuid) {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let mut conn = db.connect_as(Actor::User(a)).await;
    let asst: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'bot') RETURNING id"
    ))
    .fetch_one(&mut conn)
    .await
    .expect("assistant");
    (db, a, asst)
}

#[tokio::test]
async fn in_progress_then_completed_call_counts_once() {
    let (db, a, asst) = one_user().await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut su = db.superuser().await;
    webhook(&mut svc, a, asst, "call-1", "in_progress", 0)
        .await
        .unwrap();
    assert_eq!(
        usage(&mut su, a, asst).await,
        (0, 0, 0, 0),
        "in_progress counts nothing"
    );
    webhook(&mut svc, a, asst, "call-1", "completed", 120)
        .await
        .unwrap();
    assert_eq!(usage(&mut su, a, asst).await, (120, 120, 1, 120));
    let reason = text(&mut su, &format!("SELECT trigger_reason FROM public.usage_logs WHERE user_id = '{a}' AND action_type = 'call_completed'")).await;
    assert_eq!(reason.as_deref(), Some("call completed"));
}

#[tokio::test]
async fn replayed_completion_webhook_counts_once() {
    let (db, a, asst) = one_user().await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut su = db.superuser().await;
    webhook(&mut svc, a, asst, "call-1", "in_progress", 0)
        .await
        .unwrap();
    for _ in 0..3 {
        webhook(&mut svc, a, asst, "call-1", "completed", 120)
            .await
            .unwrap();
    }
    assert_eq!(usage(&mut su, a, asst).await, (120, 120, 1, 120));
    assert_eq!(owned(&mut su, "call_logs", "user_id", a).await, 1);
}

#[tokio::test]
async fn corrected_duration_adjusts_usage_by_the_difference() {
    let (db, a, asst) = one_user().await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut su = db.superuser().await;
    webhook(&mut svc, a, asst, "call-1", "in_progress", 0)
        .await
        .unwrap();
    webhook(&mut svc, a, asst, "call-1", "completed", 120)
        .await
        .unwrap();
    webhook(&mut svc, a, asst, "call-1", "completed", 150)
        .await
        .unwrap();
    assert_eq!(usage(&mut su, a, asst).await, (150, 150, 2, 150));
    let correction = text(&mut su, &format!("SELECT format('%s %s', call_time_change_seconds, trigger_reason) FROM public.usage_logs WHERE user_id = '{a}' AND action_type = 'call_completed' AND trigger_reason <> 'call completed'")).await;
    assert_eq!(correction.as_deref(), Some("30 duration corrected"));
}

#[tokio::test]
async fn late_in_progress_event_after_completion_is_ignored() {
    let (db, a, asst) = one_user().await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut su = db.superuser().await;
    webhook(&mut svc, a, asst, "call-1", "completed", 120)
        .await
        .unwrap();
    assert_eq!(usage(&mut su, a, asst).await, (120, 120, 1, 120));
    let late = webhook(&mut svc, a, asst, "call-1", "in_progress", 0).await;
    assert!(
        late.is_ok(),
        "a late event must not fail the webhook: {late:?}"
    );
    let row = text(&mut su, "SELECT format('%s %s %s', status, duration_seconds, ended_at IS NOT NULL) FROM public.call_logs WHERE vapi_call_id = 'call-1'").await;
    assert_eq!(row.as_deref(), Some("completed 120 t"));
    assert_eq!(usage(&mut su, a, asst).await, (120, 120, 1, 120));
}

#[tokio::test]
async fn call_inserted_as_completed_counts_once() {
    let (db, a, asst) = one_user().await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut su = db.superuser().await;
    exec_ok(&mut svc, &format!("INSERT INTO public.call_logs (user_id, assistant_id, status, duration_seconds) VALUES ('{a}', '{asst}', 'completed', 75)")).await;
    assert_eq!(usage(&mut su, a, asst).await, (75, 75, 1, 75));
    // a failed call counts nothing
    exec_ok(&mut svc, &format!("INSERT INTO public.call_logs (user_id, assistant_id, status, duration_seconds) VALUES ('{a}', '{asst}', 'failed', 40)")).await;
    assert_eq!(usage(&mut su, a, asst).await, (75, 75, 1, 75));
}

#[tokio::test]
async fn current_assistants_and_usage_logs_follow_assistant_insert_and_delete() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let mut su = db.superuser().await;
    let current =
        format!("SELECT current_assistants::bigint FROM public.user_limits WHERE user_id = '{a}'");
    assert_eq!(int(&mut su, &current).await, 0);
    let mut conn = db.connect_as(Actor::User(a)).await;
    let asst: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'bot') RETURNING id"
    ))
    .fetch_one(&mut conn)
    .await
    .expect("assistant");
    assert_eq!(int(&mut su, &current).await, 1);
    let log = |action: &str| {
        format!("SELECT count(*) FROM public.usage_logs WHERE user_id = '{a}' AND action_type = '{action}' AND resource_id = '{asst}' AND assistant_count_change = {}", if action == "assistant_created" { 1 } else { -1 })
    };
    assert_eq!(int(&mut su, &log("assistant_created")).await, 1);
    exec_ok(
        &mut conn,
        &format!("DELETE FROM public.assistants WHERE id = '{asst}'"),
    )
    .await;
    assert_eq!(int(&mut su, &current).await, 0);
    assert_eq!(int(&mut su, &log("assistant_deleted")).await, 1);
    // the slot is free again
    exec_ok(
        &mut conn,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'bot 2')"),
    )
    .await;
    assert_eq!(int(&mut su, &current).await, 1);
}

// ---------------------------------------------------------------------------
// 5. Demo expiry
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cleanup_functions_are_refused_to_authenticated_and_anon() {
    let w = world().await;
    for actor in [Actor::User(w.a), Actor::Anon] {
        let mut conn = w.db.connect_as(actor).await;
        for f in [
            "cleanup_expired_demos",
            "cleanup_demo_users_with_call_limits",
        ] {
            let r = exec(&mut conn, &format!("SELECT public.{f}()")).await;
            assert_eq!(sqlstate(&r).as_deref(), DENIED, "{actor:?} {f}: {r:?}");
        }
    }
    let mut su = w.db.superuser().await;
    assert_eq!(int(&mut su, "SELECT count(*) FROM auth.users").await, 2);
}

/// Users for the cleanup tests: (expired demo, fresh demo, expired non-demo,
/// demo at 600 s, demo at 599 s, non-demo at 700 s).
async fn demo_population(db: &TestDb) -> [Uuid; 6] {
    let mut ids = [Uuid::nil(); 6];
    for (i, id) in ids.iter_mut().enumerate() {
        *id = db.sign_up(&format!("user{i}@example.com")).await;
    }
    let [expired, _fresh, old_paid, at600, at599, paid700] = ids;
    let mut svc = db.connect_as(Actor::Service).await;
    exec_ok(&mut svc, &format!("UPDATE public.profiles SET demo_expires_at = now() - interval '1 day' WHERE id = '{expired}'")).await;
    exec_ok(&mut svc, &format!("UPDATE public.profiles SET is_demo_user = false, demo_expires_at = now() - interval '30 days' WHERE id IN ('{old_paid}', '{paid700}')")).await;
    for (user, secs) in [(at600, 600), (at599, 599), (paid700, 700)] {
        let asst = Uuid::new_v4();
        exec_ok(&mut svc, &format!("INSERT INTO public.assistants (id, user_id, name) VALUES ('{asst}', '{user}', 'bot')")).await;
        // two calls, so the sum matters, not one call's duration
        webhook(
            &mut svc,
            user,
            asst,
            &format!("c1-{user}"),
            "completed",
            secs - 100,
        )
        .await
        .unwrap();
        webhook(
            &mut svc,
            user,
            asst,
            &format!("c2-{user}"),
            "completed",
            100,
        )
        .await
        .unwrap();
    }
    ids
}

async fn remaining(db: &TestDb, ids: &[Uuid]) -> Vec<bool> {
    let mut su = db.superuser().await;
    let mut out = Vec::new();
    for id in ids {
        out.push(owned(&mut su, "auth.users", "id", *id).await == 1);
    }
    out
}

#[tokio::test]
async fn cleanup_expired_demos_deletes_exactly_the_expired_demo_users() {
    let db = fresh_db(Fixture::Schema);
    let ids = demo_population(&db).await;
    let mut svc = db.connect_as(Actor::Service).await;
    let n = int(&mut svc, "SELECT public.cleanup_expired_demos()::bigint").await;
    assert_eq!(n, 1);
    assert_eq!(
        remaining(&db, &ids).await,
        [false, true, true, true, true, true]
    );
    let mut su = db.superuser().await;
    assert_eq!(owned(&mut su, "profiles", "id", ids[0]).await, 0);
    assert_eq!(
        int(&mut svc, "SELECT public.cleanup_expired_demos()::bigint").await,
        0
    );
}

#[tokio::test]
async fn cleanup_demo_users_with_call_limits_deletes_expired_and_600_second_demo_users() {
    let db = fresh_db(Fixture::Schema);
    let ids = demo_population(&db).await;
    let mut svc = db.connect_as(Actor::Service).await;
    let n = int(
        &mut svc,
        "SELECT public.cleanup_demo_users_with_call_limits()::bigint",
    )
    .await;
    assert_eq!(n, 2);
    assert_eq!(
        remaining(&db, &ids).await,
        [false, true, true, false, true, true]
    );
    let mut su = db.superuser().await;
    for (t, col) in TABLES {
        assert_eq!(
            owned(&mut su, t, col, ids[3]).await,
            0,
            "{t} rows of the deleted demo user"
        );
    }
    assert_eq!(
        int(
            &mut svc,
            "SELECT public.cleanup_demo_users_with_call_limits()::bigint"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn without_pg_cron_the_migration_says_so_and_goes_on() {
    let db = fresh_db(Fixture::Schema);
    let mut su = db.superuser().await;
    let cron = int(
        &mut su,
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'",
    )
    .await;
    assert_eq!(cron, 0, "this test is for a server without pg_cron");
    let (_, messages) = psql_messages(
        &db,
        Some(ADMIN),
        &[
            "--single-transaction",
            "-f",
            &repo_path("sql/call-logs-schema.sql"),
        ],
    );
    assert!(
        messages.contains("NOTICE") && messages.contains("pg_cron is not installed"),
        "no NOTICE about pg_cron: {messages:?}"
    );
}

// ---------------------------------------------------------------------------
// 6. Cascade
// ---------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_user_removes_their_rows_from_all_seven_tables() {
    let w = world().await;
    let mut su = w.db.superuser().await;
    let b_before = fingerprint(&mut su, w.b).await;
    assert_eq!(
        exec_ok(
            &mut su,
            &format!("DELETE FROM auth.users WHERE id = '{}'", w.a)
        )
        .await,
        1
    );
    for (t, col) in TABLES {
        assert_eq!(
            owned(&mut su, t, col, w.a).await,
            0,
            "{t} keeps rows of the deleted user"
        );
    }
    assert_eq!(
        fingerprint(&mut su, w.b).await,
        b_before,
        "B's rows changed"
    );
}

// ---------------------------------------------------------------------------
// 7. Hygiene (what Supabase's database linter checks)
// ---------------------------------------------------------------------------

/// Rows of a catalog query (one text column), as the superuser.
async fn offenders(db: &TestDb, sql: &str) -> Vec<String> {
    let mut su = db.superuser().await;
    sqlx::query_scalar::<_, String>(sql)
        .fetch_all(&mut su)
        .await
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
}

const SEVEN: &str = "('profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics')";

#[tokio::test]
async fn every_public_function_pins_search_path_with_pg_temp_last() {
    let db = fresh_db(Fixture::Schema);
    let all = offenders(&db, "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace").await;
    assert!(
        all.len() >= 13,
        "expected the app's functions, found {all:?}"
    );
    // pg_temp named last: left out, it would be searched first for tables and types.
    let bad = offenders(&db, "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)").await;
    assert!(
        bad.is_empty(),
        "functions without search_path=pg_catalog, pg_temp: {bad:?}"
    );
}

#[tokio::test]
async fn anon_cannot_execute_any_public_function() {
    let db = fresh_db(Fixture::Schema);
    let bad = offenders(&db, "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege('anon', p.oid, 'EXECUTE')").await;
    assert!(bad.is_empty(), "anon may execute {bad:?}");
}

#[tokio::test]
async fn authenticated_cannot_execute_any_security_definer_function() {
    let db = fresh_db(Fixture::Schema);
    let definers = offenders(&db, "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef").await;
    assert!(
        !definers.is_empty(),
        "the trigger/cleanup functions are DEFINER"
    );
    let bad = offenders(&db, "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND has_function_privilege('authenticated', p.oid, 'EXECUTE')").await;
    assert!(bad.is_empty(), "authenticated may execute DEFINER {bad:?}");
}

#[tokio::test]
async fn every_policy_is_to_authenticated_and_uses_select_auth_uid() {
    let db = fresh_db(Fixture::Schema);
    let all = offenders(&db, &format!("SELECT tablename || '.' || policyname FROM pg_policies WHERE schemaname = 'public' AND tablename IN {SEVEN}")).await;
    assert_eq!(all.len(), 14, "policies: {all:?}");
    let covered = offenders(&db, &format!("SELECT DISTINCT tablename::text FROM pg_policies WHERE schemaname = 'public' AND tablename IN {SEVEN}")).await;
    assert_eq!(covered.len(), 7, "tables with a policy: {covered:?}");
    let bad = offenders(
        &db,
        &format!(
            "SELECT format('%s.%s roles=%s permissive=%s qual=%s check=%s', tablename, policyname, roles, permissive, qual, with_check)
             FROM pg_policies WHERE schemaname = 'public' AND tablename IN {SEVEN}
               AND (roles <> '{{authenticated}}'::name[] OR permissive <> 'PERMISSIVE'
                    OR (qual IS NULL AND with_check IS NULL)
                    OR coalesce(qual, '( SELECT auth.uid()') NOT LIKE '%( SELECT auth.uid()%'
                    OR coalesce(with_check, '( SELECT auth.uid()') NOT LIKE '%( SELECT auth.uid()%')"
        ),
    )
    .await;
    assert!(
        bad.is_empty(),
        "policies not TO authenticated / without (select auth.uid()): {bad:#?}"
    );
}

#[tokio::test]
async fn every_foreign_key_column_leads_an_index() {
    let db = fresh_db(Fixture::Schema);
    let fks = offenders(&db, "SELECT conname::text FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace").await;
    assert_eq!(fks.len(), 11, "foreign keys: {fks:?}");
    let bad = offenders(
        &db,
        "SELECT format('%s.%s', c.conrelid::regclass, a.attname) FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
          WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
            AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    )
    .await;
    assert!(
        bad.is_empty(),
        "FK columns without a leading index: {bad:?}"
    );
    let started = offenders(
        &db,
        "SELECT pg_get_indexdef('public.call_logs_user_id_started_at_idx'::regclass)",
    )
    .await;
    assert!(
        started[0].contains("(user_id, started_at DESC)"),
        "{started:?}"
    );
}

#[tokio::test]
async fn no_two_indexes_on_a_table_are_identical() {
    let db = fresh_db(Fixture::Schema);
    let bad = offenders(
        &db,
        "SELECT format('%s: %s', i.indrelid::regclass, string_agg(i.indexrelid::regclass::text, ', '))
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          WHERE c.relnamespace = 'public'::regnamespace
          GROUP BY i.indrelid, i.indkey::text, i.indclass::text,
                   coalesce(pg_get_expr(i.indpred, i.indrelid), ''), coalesce(pg_get_expr(i.indexprs, i.indrelid), '')
         HAVING count(*) > 1",
    )
    .await;
    assert!(bad.is_empty(), "duplicate indexes: {bad:?}");
}

#[tokio::test]
async fn rls_is_enabled_on_all_seven_tables() {
    let db = fresh_db(Fixture::Schema);
    let on = offenders(&db, &format!("SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relrowsecurity AND relname IN {SEVEN}")).await;
    assert_eq!(on.len(), 7, "RLS enabled on {on:?}");
}

// ---------------------------------------------------------------------------
// 8. Re-runnable
// ---------------------------------------------------------------------------

/// Everything a re-run must not change: catalog objects, grants and every row.
const SNAPSHOT: &str = "SELECT k || ' ' || v FROM (
  SELECT 'policy' k, format('%s.%s %s %s %s %s %s', schemaname, tablename, policyname, permissive, cmd, roles, qual) || coalesce(with_check, '') v
    FROM pg_policies WHERE schemaname = 'public'
  UNION ALL SELECT 'trigger', pg_get_triggerdef(t.oid) || t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE NOT t.tgisinternal AND c.relnamespace IN ('public'::regnamespace, 'auth'::regnamespace)
  UNION ALL SELECT 'index', pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'function', format('%s %s %s %s %s', p.oid::regprocedure, p.prosecdef, p.proconfig, p.proacl, md5(p.prosrc))
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'table', format('%s %s %s', c.oid::regclass, c.relrowsecurity, c.relacl)
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  UNION ALL SELECT 'column', format('%s.%s %s %s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attacl)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'rows', t || ' ' || md5(query_to_xml(format('SELECT * FROM public.%I ORDER BY id', t), true, false, '')::text)
    FROM unnest(ARRAY['profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics']) t
) s ORDER BY 1";

fn diff(before: &str, after: &str) -> String {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let gone = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|l| format!("- {l}"));
    let new = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| format!("+ {l}"));
    gone.chain(new).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn rerunning_each_file_changes_nothing() {
    let w = world().await;
    let before = w.db.sql(SNAPSHOT);
    assert!(
        before.lines().count() > 100,
        "snapshot too small:\n{before}"
    );
    for file in files() {
        w.db.apply(&format!("sql/{file}"), Some(ADMIN));
        let after = w.db.sql(SNAPSHOT);
        assert!(
            before == after,
            "re-running {file} changed:\n{}",
            diff(&before, &after)
        );
    }
}

const LEGACY_POLICIES: [&str; 20] = [
    "Users can view own profile",
    "Users can update own profile",
    "Users can view own assistants",
    "Users can create own assistants",
    "Users can update own assistants",
    "Users can delete own assistants",
    "Users can view own phone numbers",
    "Users can create own phone numbers",
    "Users can update own phone numbers",
    "Users can delete own phone numbers",
    "Users can view own call logs",
    "System can create call logs",
    "System can update call logs",
    "Users can view own limits",
    "Users can update own limits",
    "System can create limits",
    "Users can view own usage logs",
    "System can create usage logs",
    "Users can view own analytics",
    "System can manage analytics",
];

const ALICE: &str = "11111111-1111-1111-1111-111111111111";
const BOB: &str = "22222222-2222-2222-2222-222222222222";

/// user_limits rows that differ from the data, and the per-user summary.
async fn limits_vs_data(db: &TestDb) -> (i64, String) {
    let mut su = db.superuser().await;
    let wrong = int(
        &mut su,
        "SELECT count(*) FROM public.profiles p LEFT JOIN public.user_limits l ON l.user_id = p.id
          WHERE l.user_id IS NULL
             OR l.current_assistants <> (SELECT count(*) FROM public.assistants a WHERE a.user_id = p.id)
             OR l.used_call_time_seconds <> (SELECT coalesce(sum(c.duration_seconds), 0) FROM public.call_logs c
                                             WHERE c.user_id = p.id AND c.status = 'completed')",
    )
    .await;
    let summary = text(
        &mut su,
        "SELECT string_agg(format('%s:%s/%s', p.email, l.current_assistants, l.used_call_time_seconds), ' ' ORDER BY p.email)
           FROM public.profiles p LEFT JOIN public.user_limits l ON l.user_id = p.id",
    )
    .await
    .unwrap_or_default();
    (wrong, summary)
}

#[tokio::test]
async fn legacy_database_converges_without_losing_a_row() {
    let db = fresh_db(Fixture::Legacy);
    let before = db.row_counts();
    assert_eq!(before.len(), 7);
    assert!(
        before.iter().all(|(_, n)| *n > 0),
        "legacy fixture has data: {before:?}"
    );
    let mut su = db.superuser().await;
    let legacy = int(
        &mut su,
        "SELECT count(*) FROM pg_policies WHERE schemaname = 'public'",
    )
    .await;
    assert_eq!(legacy, 20, "the fixture carries the legacy policies");
    drop(su);
    for file in files() {
        db.apply(&format!("sql/{file}"), Some(ADMIN));
    }
    assert_eq!(db.row_counts(), before, "row counts changed");
    let mut su = db.superuser().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT policyname::text FROM pg_policies WHERE schemaname = 'public'")
            .fetch_all(&mut su)
            .await
            .unwrap();
    let left: Vec<&String> = names
        .iter()
        .filter(|n| LEGACY_POLICIES.contains(&n.as_str()))
        .collect();
    assert!(left.is_empty(), "legacy policies left: {left:?}");
    // counters backfilled from the data (the fixture's counters are wrong on purpose)
    let (wrong, summary) = limits_vs_data(&db).await;
    assert_eq!(wrong, 0, "user_limits differ from the data: {summary}");
    assert_eq!(
        summary,
        "alice@example.com:2/195 bob@example.com:1/390 carol@example.com:1/0"
    );
    let bad_totals = int(
        &mut su,
        "SELECT count(*) FROM public.assistants a WHERE a.total_call_duration_seconds <>
           (SELECT coalesce(sum(c.duration_seconds), 0) FROM public.call_logs c WHERE c.assistant_id = a.id AND c.status = 'completed')",
    )
    .await;
    assert_eq!(bad_totals, 0, "assistant totals differ from the data");
    let totals = text(&mut su, "SELECT string_agg(format('%s:%s', name, total_call_duration_seconds), ' ' ORDER BY name) FROM public.assistants").await;
    assert_eq!(
        totals.as_deref(),
        Some("Alice Reception:165 Alice Sales:30 Bob Support:390 Carol Booking:0")
    );
    // and it now converges: a second full run changes nothing
    let snap = db.sql(SNAPSHOT);
    for file in files() {
        db.apply(&format!("sql/{file}"), Some(ADMIN));
    }
    let again = db.sql(SNAPSHOT);
    assert!(
        snap == again,
        "second run over migrated legacy changed:\n{}",
        diff(&snap, &again)
    );
}

#[tokio::test]
async fn taking_over_never_rewrites_call_logs_and_old_calls_count_once() {
    let db = fresh_db(Fixture::Legacy);
    let mut su = db.superuser().await;
    let xmins = "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM public.call_logs";
    let before = text(&mut su, xmins).await;
    drop(su);
    for file in files() {
        db.apply(&format!("sql/{file}"), Some(ADMIN));
    }
    let mut su = db.superuser().await;
    assert_eq!(
        text(&mut su, xmins).await,
        before,
        "call_logs rows were rewritten"
    );

    // call-a-1 completed (120 s) before vmx: its webhook replayed counts nothing ...
    let alice: Uuid = "11111111-1111-1111-1111-111111111111".parse().unwrap();
    let reception: Uuid = "aaaaaaaa-0000-0000-0000-000000000001".parse().unwrap();
    let start = usage(&mut su, alice, reception).await;
    assert_eq!((start.0, start.1), (165, 195), "backfilled from the data");
    let mut svc = db.connect_as(Actor::Service).await;
    for _ in 0..2 {
        webhook(&mut svc, alice, reception, "call-a-1", "completed", 120)
            .await
            .expect("replayed webhook");
    }
    assert_eq!(
        usage(&mut su, alice, reception).await,
        start,
        "a replay counted again"
    );
    // ... a late non-completed event is ignored ...
    webhook(&mut svc, alice, reception, "call-a-1", "in_progress", 0)
        .await
        .expect("late webhook");
    assert_eq!(usage(&mut su, alice, reception).await, start);
    // ... and a corrected duration adjusts by the difference, once.
    webhook(&mut svc, alice, reception, "call-a-1", "completed", 150)
        .await
        .expect("corrected webhook");
    let (total, used, rows, sum) = usage(&mut su, alice, reception).await;
    assert_eq!((total, used), (start.0 + 30, start.1 + 30));
    assert_eq!((rows, sum), (start.2 + 1, start.3 + 30));
}

#[tokio::test]
async fn migrated_legacy_database_closes_the_holes() {
    let db = fresh_db(Fixture::Legacy);
    for file in files() {
        db.apply(&format!("sql/{file}"), Some(ADMIN));
    }
    let mut su = db.superuser().await;
    let bob_before = fingerprint(&mut su, BOB.parse().unwrap()).await;
    let alice: Uuid = ALICE.parse().unwrap();
    let mut conn = db.connect_as(Actor::User(alice)).await;
    // A reads only own analytics (legacy: "System can manage analytics" = ALL true)
    let seen = int(&mut conn, "SELECT count(*) FROM public.call_analytics").await;
    assert_eq!(seen, 1, "alice sees exactly her one analytics row");
    let of_bob = int(
        &mut conn,
        &format!("SELECT count(*) FROM public.call_analytics WHERE user_id = '{BOB}'"),
    )
    .await;
    assert_eq!(of_bob, 0);
    for sql in [
        format!("UPDATE public.call_analytics SET total_calls = 0 WHERE user_id = '{BOB}'"),
        format!("INSERT INTO public.call_logs (user_id, assistant_id, status, duration_seconds) VALUES ('{BOB}', 'aaaaaaaa-0000-0000-0000-000000000003', 'completed', 600)"),
        format!("INSERT INTO public.call_logs (user_id, assistant_id, status, duration_seconds) VALUES ('{ALICE}', 'aaaaaaaa-0000-0000-0000-000000000001', 'completed', 1)"),
        format!("UPDATE public.call_logs SET duration_seconds = 0 WHERE user_id = '{BOB}'"),
        format!("UPDATE public.user_limits SET plan_type = 'enterprise', max_assistants = 1000 WHERE user_id = '{ALICE}'"),
        format!("SELECT * FROM public.get_user_call_usage('{BOB}')"),
        format!("SELECT * FROM public.sync_user_usage('{BOB}')"),
        format!("SELECT * FROM public.check_user_assistant_limit('{BOB}')"),
    ] {
        let r = exec(&mut conn, &sql).await;
        assert_eq!(sqlstate(&r).as_deref(), DENIED, "{sql}: {r:?}");
    }
    // the limit is enforced now: alice already has 2 on a free plan
    let r = exec(
        &mut conn,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{ALICE}', 'third')"),
    )
    .await;
    assert_eq!(sqlstate(&r).as_deref(), LIMIT, "{r:?}");
    assert_eq!(fingerprint(&mut su, BOB.parse().unwrap()).await, bob_before);
}

#[tokio::test]
async fn option_b_gives_every_existing_profile_limits_with_usage_from_the_data() {
    let db = fresh_db(Fixture::LegacyFourFiles);
    let mut su = db.superuser().await;
    let missing = int(
        &mut su,
        "SELECT count(*) FROM pg_class WHERE oid = to_regclass('public.user_limits')",
    )
    .await;
    assert_eq!(missing, 0, "Option B fixture has no user_limits yet");
    let profiles = int(&mut su, "SELECT count(*) FROM public.profiles").await;
    let counts = |rc: Vec<(String, i64)>| -> Vec<(String, i64)> {
        rc.into_iter()
            .filter(|(t, _)| {
                ["profiles", "assistants", "phone_numbers", "call_logs"].contains(&t.as_str())
            })
            .collect()
    };
    let before = counts(db.row_counts());
    db.apply("sql/missing-tables-schema.sql", Some(ADMIN));
    assert_eq!(counts(db.row_counts()), before, "row counts changed");
    let limits = int(&mut su, "SELECT count(*) FROM public.user_limits").await;
    assert_eq!(limits, profiles, "one user_limits row per profile");
    let (wrong, summary) = limits_vs_data(&db).await;
    assert_eq!(wrong, 0, "user_limits differ from the data: {summary}");
    assert_eq!(
        summary,
        "alice@example.com:2/195 bob@example.com:1/390 carol@example.com:1/0"
    );
    let plans = text(&mut su, "SELECT string_agg(DISTINCT format('%s/%s/%s', plan_type, max_assistants, max_call_time_seconds), ',') FROM public.user_limits").await;
    assert_eq!(plans.as_deref(), Some("free/1/600"));
}

// ---------------------------------------------------------------------------
// 9. Compatible
// ---------------------------------------------------------------------------

const TS: &str = "timestamp with time zone";

/// Every column of the original tables (legacy-setup.md) with its type.
const LEGACY_COLUMNS: &[(&str, &[(&str, &str)])] = &[
    (
        "profiles",
        &[
            ("id", "uuid"),
            ("email", "text"),
            ("full_name", "text"),
            ("avatar_url", "text"),
            ("is_demo_user", "boolean"),
            ("demo_expires_at", TS),
            ("created_at", TS),
            ("updated_at", TS),
        ],
    ),
    (
        "assistants",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("name", "text"),
            ("vapi_assistant_id", "text"),
            ("configuration", "jsonb"),
            ("total_call_duration_seconds", "integer"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
    ),
    (
        "phone_numbers",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("assigned_assistant_id", "uuid"),
            ("phone_number", "text"),
            ("friendly_name", "text"),
            ("provider", "text"),
            ("vapi_phone_id", "text"),
            ("vapi_credential_id", "text"),
            ("twilio_account_sid", "text"),
            ("twilio_auth_token", "text"),
            ("notes", "text"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
    ),
    (
        "call_logs",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("assistant_id", "uuid"),
            ("phone_number_id", "uuid"),
            ("vapi_call_id", "text"),
            ("caller_number", "text"),
            ("duration_seconds", "integer"),
            ("status", "text"),
            ("transcript", "text"),
            ("structured_data", "jsonb"),
            ("summary", "text"),
            ("success_evaluation", "text"),
            ("started_at", TS),
            ("ended_at", TS),
            ("created_at", TS),
            ("updated_at", TS),
        ],
    ),
    (
        "user_limits",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("plan_type", "text"),
            ("max_assistants", "integer"),
            ("max_call_time_seconds", "integer"),
            ("current_assistants", "integer"),
            ("used_call_time_seconds", "integer"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
    ),
    (
        "usage_logs",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("action_type", "text"),
            ("resource_id", "text"),
            ("assistant_count_change", "integer"),
            ("call_time_change_seconds", "integer"),
            ("trigger_reason", "text"),
            ("details", "jsonb"),
            ("created_at", TS),
        ],
    ),
    (
        "call_analytics",
        &[
            ("id", "uuid"),
            ("user_id", "uuid"),
            ("assistant_id", "uuid"),
            ("period_type", "text"),
            ("period_start", TS),
            ("period_end", TS),
            ("total_calls", "integer"),
            ("successful_calls", "integer"),
            ("failed_calls", "integer"),
            ("total_duration_seconds", "integer"),
            ("average_duration_seconds", "integer"),
            ("conversion_rate", "numeric(5,2)"),
            ("created_at", TS),
            ("updated_at", TS),
        ],
    ),
];

async fn column_mismatches(db: &TestDb) -> Vec<String> {
    let mut su = db.superuser().await;
    let mut bad = Vec::new();
    for (table, cols) in LEGACY_COLUMNS {
        for (col, want) in *cols {
            let got = text(
                &mut su,
                &format!("SELECT (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass('public.{table}') AND attname = '{col}' AND NOT attisdropped)"),
            )
            .await;
            if got.as_deref() != Some(*want) {
                bad.push(format!("{table}.{col}: want {want}, got {got:?}"));
            }
        }
    }
    bad
}

#[tokio::test]
async fn every_legacy_column_keeps_its_name_and_type() {
    // the list matches the hand-built legacy database ...
    let legacy = fresh_db(Fixture::Legacy);
    assert_eq!(
        column_mismatches(&legacy).await,
        Vec::<String>::new(),
        "legacy fixture"
    );
    // ... and the migrated schema keeps every column with the same type
    let db = fresh_db(Fixture::Schema);
    assert_eq!(column_mismatches(&db).await, Vec::<String>::new(), "schema");
}
