//! Upgrading at the SQL level: release v0.1.0's five files
//! (`sql/releases/0.1.0`) applied and used, then this revision's files applied
//! on top, each file in one transaction, in order, and applied again. No row
//! is lost, recorded usage is unchanged, and a second run changes nothing.
//! (The binary-level upgrade through `vmx migrate` is tested in tests/migrate.rs.)
mod common;
use common::*;
use sqlx::{Executor, PgConnection};
use uuid::Uuid;

const OLD: &str = "sql/releases/0.1.0";

fn apply(db: &TestDb, dir: &str, only: Option<&[&str]>) -> String {
    let mut messages = String::new();
    for file in files() {
        if only.is_some_and(|o| !o.contains(&file)) {
            continue;
        }
        let out = std::process::Command::new(
            vmx::sandbox::find_bindir()
                .expect("PostgreSQL binaries")
                .join("psql"),
        )
        .arg(db.url())
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-f",
        ])
        .arg(repo_path(&file_in(dir, file)))
        .env("PGOPTIONS", "-c client_min_messages=notice")
        .output()
        .expect("run psql");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{}: {stderr}", file_in(dir, file));
        messages.push_str(&stderr);
    }
    messages
}

/// Every row of the seven tables (md5 per table) and the usage counters.
fn snapshot(db: &TestDb) -> String {
    db.sql(
        "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
           SELECT c.relname || ': ' || (xpath('/row/h/text()', query_to_xml(format(
             'select count(*) || '' '' || coalesce(md5(string_agg(t::text, '','' ORDER BY t.id)), ''-'') as h from public.%I t', c.relname), false, true, '')))[1]::text AS x
           FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
             AND c.relname IN ('profiles','assistants','phone_numbers','call_logs','user_limits','usage_logs','call_analytics')
         ) s",
    )
}

fn usage(db: &TestDb) -> String {
    db.sql(
        "SELECT string_agg(format('%s:%s/%s', p.email, l.current_assistants, l.used_call_time_seconds), ' ' ORDER BY p.email, l.used_call_time_seconds DESC)
         FROM public.profiles p JOIN public.user_limits l ON l.user_id = p.id",
    )
}

async fn webhook(svc: &mut PgConnection, user: Uuid, assistant: Uuid, call: &str, secs: i32) {
    svc.execute(
        format!(
            "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds)
             VALUES ('{user}', '{assistant}', '{call}', 'completed', {secs})
             ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status, duration_seconds = excluded.duration_seconds"
        )
        .as_str(),
    )
    .await
    .unwrap_or_else(|e| panic!("webhook {call}: {e}"));
}

/// A v0.1.0 database in use: users with assistants, phone numbers, calls and
/// usage; one user who deleted an assistant (v0.1.0 erased its calls, not
/// yet the recorded usage); users v0.1.0 left without rows.
async fn v010_in_use(only: Option<&[&str]>) -> (TestDb, Vec<Uuid>) {
    let db = fresh_db(Fixture::Compat);
    apply(&db, OLD, only);
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut assistants = Vec::new();
    for (user, n) in [(a, 1), (b, 2)] {
        let mut conn = db.connect_as(Actor::User(user)).await;
        let asst: Uuid = sqlx::query_scalar(&format!(
            "INSERT INTO public.assistants (user_id, name) VALUES ('{user}', 'bot {n}') RETURNING id"
        ))
        .fetch_one(&mut conn)
        .await
        .expect("assistant");
        conn.execute(
            format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{user}', '+1555000000{n}', 'line')")
                .as_str(),
        )
        .await
        .expect("phone number");
        webhook(&mut svc, user, asst, &format!("call-{n}-1"), 100 * n).await;
        webhook(&mut svc, user, asst, &format!("call-{n}-2"), 10).await;
        assistants.push(asst);
    }
    // Bob deletes his assistant: v0.1.0 cascades its calls away.
    let mut conn = db.connect_as(Actor::User(b)).await;
    conn.execute(
        format!(
            "DELETE FROM public.assistants WHERE id = '{}'",
            assistants[1]
        )
        .as_str(),
    )
    .await
    .expect("delete");
    // A phone-only user and one whose address a profile already holds: no rows in v0.1.0.
    let mut su = db.superuser().await;
    let others: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO auth.users (email, phone) VALUES (NULL, '+15559990000'), ('alice@example.com', NULL) RETURNING id",
    )
    .fetch_all(&mut su)
    .await
    .expect("users v0.1.0 leaves without rows");
    (db, [vec![a, b], others].concat())
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.sql(sql).trim().parse().expect("a count")
}

#[tokio::test]
async fn v010_database_in_use_upgrades_without_losing_a_row_or_lowering_usage() {
    let (db, users) = v010_in_use(None).await;
    let before = db.row_counts();
    let usage_before = usage(&db);
    assert_eq!(
        usage_before.trim(),
        "alice@example.com:1/110 bob@example.com:0/210",
        "v0.1.0 kept Bob's usage after the cascade (until a sync)"
    );

    let messages = apply(&db, "sql", None);
    assert!(
        messages.contains("vmx: created 2 missing profile(s) for existing users"),
        "{messages}"
    );
    // No row lost; the two users v0.1.0 left out got their profile and limits.
    let after = db.row_counts();
    for ((table, n0), (_, n1)) in before.iter().zip(&after) {
        let gained = if ["profiles", "user_limits"].contains(&table.as_str()) {
            2
        } else {
            0
        };
        assert_eq!(*n1, n0 + gained, "{table}: {n0} → {n1}");
    }
    for u in &users {
        assert_eq!(
            count(
                &db,
                &format!("SELECT count(*) FROM public.user_limits WHERE user_id = '{u}'")
            ),
            1,
            "{u} has no limits row"
        );
    }
    // Recorded usage unchanged (Bob's 210 s stay, though v0.1.0 erased his calls).
    assert_eq!(
        usage(&db).trim(),
        "alice@example.com:1/110 alice@example.com:0/0 bob@example.com:0/210 :0/0"
    );
    // Existing numbers stay routable (verified); the new triggers count.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM public.phone_numbers WHERE verified_at IS NULL"
        ),
        0
    );
    let mut svc = db.connect_as(Actor::Service).await;
    let asst: Uuid = sqlx::query_scalar(&format!(
        "SELECT id FROM public.assistants WHERE user_id = '{}'",
        users[0]
    ))
    .fetch_one(&mut svc)
    .await
    .expect("alice's assistant");
    webhook(&mut svc, users[0], asst, "after-upgrade", 5).await;
    assert!(usage(&db).contains("alice@example.com:1/115"));

    // Applying again changes nothing.
    let snap = snapshot(&db);
    apply(&db, "sql", None);
    assert_eq!(snapshot(&db), snap, "a second run changed rows");
}

#[tokio::test]
async fn first_four_v010_files_then_the_new_fifth_then_all_new_converge() {
    let four: &[&str] = &[
        "schema.sql",
        "assistant-schema.sql",
        "phone-number-schema.sql",
        "call-logs-schema.sql",
    ];
    let (db, users) = v010_in_use(Some(four)).await;
    let before = db.row_counts();
    apply(&db, "sql", Some(&["missing-tables-schema.sql"]));
    // Every user has a profile and a limits row now (add-missing), usage from the data.
    for u in &users {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM public.profiles p JOIN public.user_limits l ON l.user_id = p.id WHERE p.id = '{u}'")),
            1,
            "{u}"
        );
    }
    assert_eq!(
        usage(&db).trim(),
        "alice@example.com:1/110 alice@example.com:0/0 bob@example.com:0/0 :0/0"
    );
    let profiles_before = before
        .iter()
        .find(|(t, _)| t == "profiles")
        .map(|(_, n)| *n)
        .expect("profiles");
    assert_eq!(
        count(&db, "SELECT count(*) FROM public.profiles"),
        profiles_before + 2
    );
    apply(&db, "sql", None);
    let snap = snapshot(&db);
    let usage_once = usage(&db);
    apply(&db, "sql", None);
    assert_eq!(snapshot(&db), snap, "a second run changed rows");
    assert_eq!(usage(&db), usage_once);
    // The calls of the first four files are all still there.
    assert_eq!(
        count(&db, "SELECT count(*) FROM public.call_logs"),
        before
            .iter()
            .find(|(t, _)| t == "call_logs")
            .map(|(_, n)| *n)
            .expect("call_logs")
    );
}

/// A 0.2.0 database in use: users with assistants, claims and verified
/// numbers, calls counted and in progress, a deleted assistant's calls kept,
/// more pending claims than 0.3.0 lets a free plan add and a credential id a
/// user wrote (0.3.0 restricts new writes, never existing rows).
async fn v020_in_use() -> (TestDb, Vec<Uuid>) {
    let db = fresh_db(Fixture::Compat);
    apply(&db, "sql/releases/0.2.0", None);
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut svc = db.connect_as(Actor::Service).await;
    let mut assistants = Vec::new();
    for (user, n) in [(a, 1), (b, 2)] {
        let mut conn = db.connect_as(Actor::User(user)).await;
        let asst: Uuid = sqlx::query_scalar(&format!(
            "INSERT INTO public.assistants (user_id, name) VALUES ('{user}', 'bot {n}') RETURNING id"
        ))
        .fetch_one(&mut conn)
        .await
        .expect("assistant");
        for k in 0..5 {
            conn.execute(
                format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_credential_id) VALUES ('{user}', '+155500{n}000{k}', 'line', 'cred-{n}-{k}')")
                    .as_str(),
            )
            .await
            .expect("a claim (0.2.0 has no cap)");
        }
        svc.execute(
            format!("UPDATE public.phone_numbers SET verified_at = now() WHERE user_id = '{user}' AND phone_number = '+155500{n}0000'")
                .as_str(),
        )
        .await
        .expect("verify");
        webhook(&mut svc, user, asst, &format!("call-{n}-1"), 100 * n).await;
        webhook(&mut svc, user, asst, &format!("call-{n}-2"), 10).await;
        svc.execute(
            format!("INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status) VALUES ('{user}', '{asst}', 'call-{n}-live', 'in_progress')")
                .as_str(),
        )
        .await
        .expect("a call in progress");
        assistants.push(asst);
    }
    // Bob deletes his assistant: 0.2.0 keeps its calls, without it.
    let mut conn = db.connect_as(Actor::User(b)).await;
    conn.execute(
        format!(
            "DELETE FROM public.assistants WHERE id = '{}'",
            assistants[1]
        )
        .as_str(),
    )
    .await
    .expect("delete");
    (db, vec![a, b])
}

#[tokio::test]
async fn v020_database_in_use_upgrades_with_rows_and_usage_unchanged() {
    let (db, users) = v020_in_use().await;
    let snap = snapshot(&db);
    let usage_before = usage(&db);
    assert_eq!(
        usage_before.trim(),
        "alice@example.com:1/110 bob@example.com:0/210"
    );

    apply(&db, "sql", None);
    // Not a row changed, added or lost; usage as it was.
    assert_eq!(snapshot(&db), snap, "the upgrade changed rows");
    assert_eq!(usage(&db), usage_before);

    // The new triggers count: the live call completes, once.
    let mut svc = db.connect_as(Actor::Service).await;
    let asst: Uuid = sqlx::query_scalar(&format!(
        "SELECT id FROM public.assistants WHERE user_id = '{}'",
        users[0]
    ))
    .fetch_one(&mut svc)
    .await
    .expect("alice's assistant");
    webhook(&mut svc, users[0], asst, "call-1-live", 5).await;
    webhook(&mut svc, users[0], asst, "call-1-live", 5).await;
    assert!(
        usage(&db).contains("alice@example.com:1/115"),
        "{}",
        usage(&db)
    );
    assert_eq!(
        count(
            &db,
            &format!(
                "SELECT total_call_duration_seconds FROM public.assistants WHERE id = '{asst}'"
            )
        ),
        115
    );

    // Applying again changes nothing.
    let snap = snapshot(&db);
    apply(&db, "sql", None);
    assert_eq!(snapshot(&db), snap, "a second run changed rows");
}
