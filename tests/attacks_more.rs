//! More attacks on promises 1, 2, 4 and 10–14 (product.md §1) as a hostile
//! signed-in user, through the SQL Supabase's REST API sends (`SET ROLE
//! authenticated` + `request.jwt.claims`), next to user B, anon and the
//! backend (`service_role`). The first tests are holes found in schema v0.2
//! (each failed on the files before its fix); the rest are attacks that
//! held, kept so they keep holding.
mod common;
use common::*;
use sqlx::PgConnection;
use uuid::Uuid;

fn state(s: Option<&str>) -> Option<String> {
    s.map(String::from)
}

/// The webhook's insert-or-update (service_role), as in tests/attacks.rs,
/// but its UPDATE half also takes the event's assistant.
async fn webhook(
    svc: &mut PgConnection,
    user: Uuid,
    assistant: Option<Uuid>,
    call: &str,
    status: &str,
    duration: i32,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'completed' THEN now() END)
         ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status,
           assistant_id = excluded.assistant_id,
           duration_seconds = excluded.duration_seconds, ended_at = excluded.ended_at",
    )
    .bind(user)
    .bind(assistant)
    .bind(call)
    .bind(status)
    .bind(duration)
    .execute(&mut *svc)
    .await
    .map(|r| r.rows_affected())
}

/// Every counter equals the data (assistant totals, used seconds, count).
async fn counters_match_data(su: &mut PgConnection) -> i64 {
    int(
        su,
        "SELECT (SELECT count(*) FROM public.assistants a
                 WHERE a.total_call_duration_seconds IS DISTINCT FROM
                       (SELECT coalesce(sum(c.counted_duration_seconds), 0)::integer
                        FROM public.call_logs c WHERE c.assistant_id = a.id))
              + (SELECT count(*) FROM public.user_limits l
                 WHERE l.used_call_time_seconds IS DISTINCT FROM
                       (SELECT coalesce(sum(c.counted_duration_seconds), 0)::integer
                        FROM public.call_logs c WHERE c.user_id = l.user_id)
                    OR l.current_assistants IS DISTINCT FROM
                       (SELECT count(*)::integer FROM public.assistants a WHERE a.user_id = l.user_id))",
    )
    .await
}

// ---------------------------------------------------------------------------
// Holes found in v0.2 (each test failed before its fix)
// ---------------------------------------------------------------------------

/// Promises 10 and 12: Mallory deletes her assistant mid-call (its calls are
/// kept without it); Bob, who learnt its id, creates an assistant under that
/// very id. The webhook for Mallory's call still names the old id: the call
/// must stay Mallory's alone -- not counted on Bob's assistant (which would
/// tell Bob how long Mallory talked) nor pointing at it.
#[tokio::test]
async fn reusing_a_deleted_assistants_id_captures_no_call_of_its_old_owner() {
    let db = fresh_db(Fixture::Schema);
    let m = db.sign_up("mallory@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut ma = db.connect_as(Actor::User(m)).await;
    let x: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (user_id, name) VALUES ('{m}', 'bot') RETURNING id"
    ))
    .fetch_one(&mut ma)
    .await
    .expect("Mallory creates an assistant");
    let mut svc = db.connect_as(Actor::Service).await;
    // An in-progress event already recorded, then the assistant is deleted.
    webhook(&mut svc, m, Some(x), "m-1", "in_progress", 0)
        .await
        .expect("webhook");
    exec_ok(
        &mut ma,
        &format!("DELETE FROM public.assistants WHERE id = '{x}'"),
    )
    .await;
    // Bob takes the id.
    let mut bo = db.connect_as(Actor::User(b)).await;
    let got: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (id, user_id, name) VALUES ('{x}', '{b}', 'mine') RETURNING id"
    ))
    .fetch_one(&mut bo)
    .await
    .expect("Bob creates an assistant");
    // Late events of Mallory's calls still name the old assistant: the
    // first event of another call (INSERT) and the completion of m-1 (UPDATE).
    webhook(&mut svc, m, Some(x), "m-2", "completed", 120)
        .await
        .expect("webhook");
    webhook(&mut svc, m, Some(x), "m-1", "completed", 60)
        .await
        .expect("webhook");

    let mut su = db.superuser().await;
    let on_bobs = int(
        &mut su,
        &format!("SELECT coalesce(max(total_call_duration_seconds), 0)::bigint FROM public.assistants WHERE id = '{got}'"),
    )
    .await;
    assert_eq!(
        on_bobs, 0,
        "Mallory's seconds were counted on Bob's assistant"
    );
    let pointing = int(
        &mut su,
        &format!("SELECT count(*) FROM public.call_logs WHERE user_id = '{m}' AND assistant_id = '{got}'"),
    )
    .await;
    assert_eq!(pointing, 0, "Mallory's calls point at Bob's assistant");
    // Promise 10: both calls are recorded and counted for Mallory.
    let used = int(
        &mut su,
        &format!(
            "SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = '{m}'"
        ),
    )
    .await;
    assert_eq!(used, 180);
    assert_eq!(
        counters_match_data(&mut su).await,
        0,
        "a counter differs from the data"
    );
}

/// Promise 11: an expired demo account cannot get a new phone number by
/// changing the number of a row it already has.
#[tokio::test]
async fn expired_demo_cannot_swap_its_phone_number_for_a_new_one() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let mut al = db.connect_as(Actor::User(a)).await;
    exec_ok(
        &mut al,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{a}', '+15550100001', 'desk')"),
    )
    .await;
    let mut svc = db.connect_as(Actor::Service).await;
    exec_ok(
        &mut svc,
        &format!("UPDATE public.profiles SET demo_expires_at = now() - interval '1 minute' WHERE id = '{a}'"),
    )
    .await;
    let r = exec(
        &mut al,
        "UPDATE public.phone_numbers SET phone_number = '+15550100002'",
    )
    .await;
    assert_eq!(
        sqlstate(&r),
        state(FROZEN),
        "a frozen demo got a new number"
    );
    // Editing what is not a new number still works (the app's settings page).
    exec_ok(
        &mut al,
        "UPDATE public.phone_numbers SET friendly_name = 'office', notes = 'n'",
    )
    .await;
    // The backend may still change it (e.g. a number port).
    exec_ok(
        &mut svc,
        &format!(
            "UPDATE public.phone_numbers SET phone_number = '+15550100003' WHERE user_id = '{a}'"
        ),
    )
    .await;
    // A frozen account can still clean up: deleting its assistant (which
    // un-assigns its number) and its number.
    exec_ok(
        &mut svc,
        &format!("UPDATE public.user_limits SET max_assistants = 2 WHERE user_id = '{a}';
                  UPDATE public.profiles SET demo_expires_at = now() + interval '1 day' WHERE id = '{a}';
                  INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'bot');
                  UPDATE public.phone_numbers SET assigned_assistant_id = (SELECT id FROM public.assistants WHERE user_id = '{a}') WHERE user_id = '{a}';
                  UPDATE public.profiles SET demo_expires_at = now() - interval '1 minute' WHERE id = '{a}'"),
    )
    .await;
    assert_eq!(exec_ok(&mut al, "DELETE FROM public.assistants").await, 1);
    assert_eq!(
        exec_ok(&mut al, "DELETE FROM public.phone_numbers").await,
        1
    );
}

// ---------------------------------------------------------------------------
// Holes left open in 0.2.0, closed in 0.3.0 (each test fails on
// `VMX_ATTACK_SQL_DIR=sql/releases/0.2.0 cargo test --test attacks_more`)
// ---------------------------------------------------------------------------

/// Promise 12, row ids: in 0.2.0 a chosen id that another account holds was
/// replaced by a fresh one and a free one kept, so RETURNING (or reading
/// one's own rows back) told which ids are held. Since 0.3.0 every insert as
/// a signed-in user gets a server-generated id, held or free alike.
#[tokio::test]
async fn returning_does_not_reveal_that_a_chosen_row_id_is_held() {
    let db = attack_db();
    let m = db.sign_up("mallory@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut bo = db.connect_as(Actor::User(b)).await;
    let held: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (user_id, name) VALUES ('{b}', 'bot') RETURNING id"
    ))
    .fetch_one(&mut bo)
    .await
    .expect("insert");
    let mut ma = db.connect_as(Actor::User(m)).await;
    let got_held: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (id, user_id, name) VALUES ('{held}', '{m}', 'probe') RETURNING id"
    ))
    .fetch_one(&mut ma)
    .await
    .expect("insert");
    assert_ne!(got_held, held, "Mallory got Bob's id");
    exec_ok(
        &mut ma,
        &format!("DELETE FROM public.assistants WHERE id = '{got_held}'"),
    )
    .await;
    let free = Uuid::new_v4();
    let got_free: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (id, user_id, name) VALUES ('{free}', '{m}', 'probe') RETURNING id"
    ))
    .fetch_one(&mut ma)
    .await
    .expect("insert");
    assert_ne!(
        got_free, free,
        "a free chosen id is kept and a held one replaced: the answer tells which ids are held"
    );
    // The backend (service_role) still chooses ids when it wants to.
    let mut svc = db.connect_as(Actor::Service).await;
    let mine = Uuid::new_v4();
    let r = exec(
        &mut svc,
        &format!("UPDATE public.user_limits SET max_assistants = 5 WHERE user_id = '{b}'"),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    exec_ok(
        &mut svc,
        &format!(
            "INSERT INTO public.assistants (id, user_id, name) VALUES ('{mine}', '{b}', 'backend')"
        ),
    )
    .await;
    let mut su = db.superuser().await;
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT count(*) FROM public.assistants WHERE id = '{mine}'")
        )
        .await,
        1
    );
}

/// Promise 12: vapi_credential_id (the VAPI credential a number calls
/// through) was user-writable in 0.2.0, unlike the other provider ids: a
/// user could point their number at another account's credential or probe
/// it. Since 0.3.0 only the backend (service_role) writes it (42501 for a
/// user whatever the value; NULL or the unchanged value still pass).
#[tokio::test]
async fn users_cannot_write_vapi_credential_id() {
    let db = attack_db();
    let a = db.sign_up("mallory@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut svc = db.connect_as(Actor::Service).await;
    exec_ok(
        &mut svc,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_credential_id) VALUES ('{b}', '+15550007777', 'b', 'cred-b')"),
    )
    .await;
    let mut ma = db.connect_as(Actor::User(a)).await;
    for value in ["cred-b", "cred-free"] {
        let r = exec(
            &mut ma,
            &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_credential_id) VALUES ('{a}', '+15550008888', 'squat', '{value}')"),
        )
        .await;
        assert_eq!(sqlstate(&r), state(DENIED), "insert {value}: {r:?}");
    }
    exec_ok(
        &mut ma,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_credential_id) VALUES ('{a}', '+15550008888', 'mine', NULL)"),
    )
    .await;
    for value in ["cred-b", "cred-free"] {
        let r = exec(
            &mut ma,
            &format!("UPDATE public.phone_numbers SET vapi_credential_id = '{value}' WHERE user_id = '{a}'"),
        )
        .await;
        assert_eq!(sqlstate(&r), state(DENIED), "update to {value}: {r:?}");
    }
    exec_ok(
        &mut ma,
        &format!("UPDATE public.phone_numbers SET friendly_name = 'renamed', vapi_credential_id = vapi_credential_id WHERE user_id = '{a}'"),
    )
    .await;
    // The backend sets it.
    exec_ok(
        &mut svc,
        &format!(
            "UPDATE public.phone_numbers SET vapi_credential_id = 'cred-a' WHERE user_id = '{a}'"
        ),
    )
    .await;
    let mut su = db.superuser().await;
    assert_eq!(
        int(
            &mut su,
            "SELECT count(*) FROM public.phone_numbers WHERE vapi_credential_id = 'cred-b'"
        )
        .await,
        1,
        "another row took B's credential"
    );
}

/// Promise 12: in 0.2.0 a user could insert an unbounded block of
/// unverified claims (one statement, 100,000 rows). Since 0.3.0 pending
/// claims are capped by plan (free 3, pro 20): VX003, whole statements
/// refused, counted under the limits row's lock; a verified number frees a
/// place, a changed number takes one; nobody else is affected.
#[tokio::test]
async fn pending_phone_number_claims_are_capped_by_plan() {
    const CAPPED: Option<&str> = Some("VX003");
    let db = attack_db();
    let a = db.sign_up("mallory@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut ma = db.connect_as(Actor::User(a)).await;
    let claim = |user: Uuid, n: u32| {
        format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{user}', '+1555200{n:04}', 'claim')")
    };
    let r = exec(
        &mut ma,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name)
                  SELECT '{a}', '+1555300' || lpad(g::text, 4, '0'), 'block' FROM generate_series(0, 999) g"),
    )
    .await;
    assert_eq!(
        sqlstate(&r),
        state(CAPPED),
        "a block of 1,000 claims: {r:?}"
    );
    for n in 0..3 {
        exec_ok(&mut ma, &claim(a, n)).await;
    }
    let r = exec(&mut ma, &claim(a, 3)).await;
    assert_eq!(sqlstate(&r), state(CAPPED), "a 4th pending claim: {r:?}");
    let mut su = db.superuser().await;
    let pending = format!(
        "SELECT count(*) FROM public.phone_numbers WHERE user_id = '{a}' AND verified_at IS NULL"
    );
    assert_eq!(int(&mut su, &pending).await, 3);
    // B is not affected.
    let mut bo = db.connect_as(Actor::User(b)).await;
    exec_ok(&mut bo, &claim(b, 3)).await;
    // The backend verifies one: a place is free again.
    let mut svc = db.connect_as(Actor::Service).await;
    exec_ok(
        &mut svc,
        &format!("UPDATE public.phone_numbers SET verified_at = now() WHERE user_id = '{a}' AND phone_number = '+15552000000'"),
    )
    .await;
    exec_ok(&mut ma, &claim(a, 3)).await;
    // Changing the verified number makes it a claim again: over the cap.
    let r = exec(
        &mut ma,
        &format!("UPDATE public.phone_numbers SET phone_number = '+15552009999' WHERE user_id = '{a}' AND phone_number = '+15552000000'"),
    )
    .await;
    assert_eq!(sqlstate(&r), state(CAPPED), "a changed number: {r:?}");
    // Renaming a claim is not a new claim.
    exec_ok(
        &mut ma,
        &format!("UPDATE public.phone_numbers SET friendly_name = 'x' WHERE user_id = '{a}'"),
    )
    .await;
    // A paying plan holds more (the backend's plan change).
    exec_ok(
        &mut svc,
        &format!("UPDATE public.user_limits SET plan_type = 'pro' WHERE user_id = '{a}'"),
    )
    .await;
    for n in 4..21 {
        exec_ok(&mut ma, &claim(a, n)).await;
    }
    let r = exec(&mut ma, &claim(a, 21)).await;
    assert_eq!(
        sqlstate(&r),
        state(CAPPED),
        "the pro plan's 21st claim: {r:?}"
    );
    assert_eq!(int(&mut su, &pending).await, 20);
}

// ---------------------------------------------------------------------------
// Holes left open in 0.3.0, closed in 0.3.1 (each test fails on
// `VMX_ATTACK_SQL_DIR=sql/releases/0.3.0 cargo test --test attacks_more`)
// ---------------------------------------------------------------------------

/// `request.jwt.claims` set to a stranger's id from inside the statement, for
/// every row after the first: the policies' `(select auth.uid())` was read
/// once, for the first row, but the triggers read `auth.uid()` per row.
fn switch_claims_after_first_row() -> &'static str {
    "(g = 1 OR set_config('request.jwt.claims',
        json_build_object('sub', gen_random_uuid(), 'role', 'authenticated')::text, true) IS NOT NULL)"
}

/// Promises 1 and 2: in 0.3.0 the limit trigger left a row whose user was
/// not `auth.uid()` to RLS; with the claims switched inside one INSERT the
/// trigger saw a stranger and let the rows through, and RLS (read for the
/// first row) let them in: five assistants on a one-assistant plan.
#[tokio::test]
async fn claims_switched_inside_a_statement_do_not_lift_the_assistant_limit() {
    let db = attack_db();
    let m = db.sign_up("mallory@example.com").await;
    let mut ma = db.connect_as(Actor::User(m)).await;
    let r = exec(
        &mut ma,
        &format!(
            "INSERT INTO public.assistants (user_id, name)
             SELECT '{m}', 'bot ' || g FROM generate_series(1, 5) g WHERE {}",
            switch_claims_after_first_row()
        ),
    )
    .await;
    let mut su = db.superuser().await;
    let held = int(
        &mut su,
        &format!("SELECT count(*) FROM public.assistants WHERE user_id = '{m}'"),
    )
    .await;
    assert!(
        held <= 1,
        "{held} assistants on a one-assistant plan ({r:?})"
    );
    assert_eq!(sqlstate(&r).as_deref(), Some("42501"), "{r:?}");
}

/// Promise 12: the same switch in the phone-number trigger skipped every
/// user rule for the rows after the first: a user wrote the backend's ids
/// (which route another account's calls) into their own numbers.
#[tokio::test]
async fn claims_switched_inside_a_statement_do_not_lift_the_phone_rules() {
    let db = attack_db();
    let m = db.sign_up("mallory@example.com").await;
    let mut ma = db.connect_as(Actor::User(m)).await;
    let r = exec(
        &mut ma,
        &format!(
            "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_phone_id, vapi_credential_id)
             SELECT '{m}', '+1555000000' || g, 'line ' || g,
                    CASE WHEN g > 1 THEN 'PN-victim' END, CASE WHEN g > 1 THEN 'CR-victim' END
             FROM generate_series(1, 2) g WHERE {}",
            switch_claims_after_first_row()
        ),
    )
    .await;
    let mut su = db.superuser().await;
    let squatted = int(
        &mut su,
        &format!(
            "SELECT count(*) FROM public.phone_numbers
             WHERE user_id = '{m}' AND (vapi_phone_id IS NOT NULL OR vapi_credential_id IS NOT NULL)"
        ),
    )
    .await;
    assert_eq!(squatted, 0, "Mallory wrote the backend's ids ({r:?})");
    assert_eq!(sqlstate(&r).as_deref(), Some("42501"), "{r:?}");
}

/// Promise 10's audit rows are permanent, and in 0.3.0 each one copied the
/// assistant's whole name: creating and deleting an assistant named with
/// a megabyte left two megabytes in usage_logs that the user can never
/// remove, as often as they like. The audit keeps the name's first 200
/// characters.
#[tokio::test]
async fn a_huge_assistant_name_is_not_copied_into_the_permanent_audit() {
    let db = attack_db();
    let m = db.sign_up("mallory@example.com").await;
    let mut ma = db.connect_as(Actor::User(m)).await;
    let x: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (user_id, name) VALUES ('{m}', repeat('x', 1000000)) RETURNING id"
    ))
    .fetch_one(&mut ma)
    .await
    .expect("Mallory creates an assistant");
    exec_ok(
        &mut ma,
        &format!("DELETE FROM public.assistants WHERE id = '{x}'"),
    )
    .await;
    let mut su = db.superuser().await;
    let kept = int(
        &mut su,
        &format!(
            "SELECT coalesce(sum(length(details::text)), 0)::bigint FROM public.usage_logs WHERE user_id = '{m}'"
        ),
    )
    .await;
    assert!(
        kept < 2000,
        "the audit keeps {kept} characters of one assistant's name"
    );
    let rows = int(
        &mut su,
        &format!(
            "SELECT count(*) FROM public.usage_logs WHERE user_id = '{m}'
               AND details->>'assistant_name' = repeat('x', 200)"
        ),
    )
    .await;
    assert_eq!(
        rows, 2,
        "created and deleted are both audited, with the name's start"
    );
}

// ---------------------------------------------------------------------------
// Attacks that held
// ---------------------------------------------------------------------------

/// Triggers cannot be switched off, nor objects planted where the SECURITY
/// DEFINER functions or the API would find them.
/// Promises 2, 4 and 14 (found by the third hostile pass; failed on the
/// files before): the backend moving an assistant to another user left both
/// users' `current_assistants` wrong, put a second assistant on a free plan
/// of one, and moved the assistant's total away from the calls' user. An
/// assistant keeps its user, whoever updates it.
#[tokio::test]
async fn an_assistant_cannot_move_to_another_user() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    for (user, name) in [(a, "alice bot"), (b, "bob bot")] {
        let mut conn = db.connect_as(Actor::User(user)).await;
        exec_ok(
            &mut conn,
            &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{user}', '{name}')"),
        )
        .await;
    }
    let mut svc = db.connect_as(Actor::Service).await;
    let alices: Uuid = sqlx::query_scalar("SELECT id FROM public.assistants WHERE user_id = $1")
        .bind(a)
        .fetch_one(&mut svc)
        .await
        .expect("alice's assistant");
    webhook(&mut svc, a, Some(alices), "call-a", "completed", 100)
        .await
        .expect("a counted call");
    let r = exec(
        &mut svc,
        &format!("UPDATE public.assistants SET user_id = '{b}' WHERE id = '{alices}'"),
    )
    .await;
    assert_eq!(
        sqlstate(&r),
        state(DENIED),
        "service_role moves an assistant"
    );
    let mut al = db.connect_as(Actor::User(a)).await;
    let r = exec(
        &mut al,
        &format!("UPDATE public.assistants SET user_id = '{b}'"),
    )
    .await;
    assert_eq!(sqlstate(&r), state(DENIED), "the user gives it away");
    let mut su = db.superuser().await;
    assert_eq!(
        counters_match_data(&mut su).await,
        0,
        "every counter equals the data"
    );
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT count(*) FROM public.assistants WHERE user_id = '{b}'")
        )
        .await,
        1
    );
}

/// Promise 12 for the backend's writes (third hostile pass; failed on the
/// files before): a job that still holds an assistant id from before (a
/// deleted assistant whose id now names another account's, or a plain
/// mix-up) assigns it to a number: the number's callers would reach another
/// account's assistant. A number routes only to its own user's assistant.
#[tokio::test]
async fn the_backend_cannot_route_a_number_to_another_users_assistant() {
    let db = fresh_db(Fixture::Schema);
    let m = db.sign_up("mallory@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut ma = db.connect_as(Actor::User(m)).await;
    let mallorys: Uuid = sqlx::query_scalar(
        "INSERT INTO public.assistants (user_id, name) VALUES ($1, 'mallory bot') RETURNING id",
    )
    .bind(m)
    .fetch_one(&mut ma)
    .await
    .expect("mallory's assistant");
    let mut bo = db.connect_as(Actor::User(b)).await;
    exec_ok(
        &mut bo,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{b}', '+15557000055', 'desk')"),
    )
    .await;
    let mut svc = db.connect_as(Actor::Service).await;
    let r = exec(
        &mut svc,
        &format!("UPDATE public.phone_numbers SET verified_at = now(), assigned_assistant_id = '{mallorys}' WHERE user_id = '{b}'"),
    )
    .await;
    assert_eq!(
        sqlstate(&r),
        state(Some("23503")),
        "routed to another account"
    );
    let r = exec(
        &mut svc,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, assigned_assistant_id)
                  VALUES ('{b}', '+15557000056', 'other', '{mallorys}')"),
    )
    .await;
    assert_eq!(
        sqlstate(&r),
        state(Some("23503")),
        "inserted with another account's assistant"
    );
    // The backend's own, correct assignment still works.
    let bobs: Uuid = sqlx::query_scalar(
        "INSERT INTO public.assistants (user_id, name) VALUES ($1, 'bob bot') RETURNING id",
    )
    .bind(b)
    .fetch_one(&mut bo)
    .await
    .expect("bob's assistant");
    let n = exec_ok(
        &mut svc,
        &format!("UPDATE public.phone_numbers SET verified_at = now(), assigned_assistant_id = '{bobs}' WHERE user_id = '{b}'"),
    )
    .await;
    assert_eq!(n, 1);
}

/// Promises 4 and 10 (third hostile pass; failed on the files before): the
/// webhook's upsert replays a call's completion without a duration (VAPI's
/// status-only "ended" event) or with a negative one: that erased the call's
/// seconds (300 to 0, a -300 audit row) and reopened a demo's minutes.
#[tokio::test]
async fn a_completion_replayed_without_a_duration_keeps_the_usage() {
    let db = fresh_db(Fixture::Schema);
    let u = db.sign_up("user@example.com").await;
    let mut svc = db.connect_as(Actor::Service).await;
    webhook(&mut svc, u, None, "call-1", "completed", 300)
        .await
        .expect("the completion");
    for duration in [None, Some(-300)] {
        sqlx::query(
            "INSERT INTO public.call_logs (user_id, vapi_call_id, status, duration_seconds, ended_at)
             VALUES ($1, 'call-1', 'completed', $2, now())
             ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status,
               duration_seconds = excluded.duration_seconds, ended_at = excluded.ended_at",
        )
        .bind(u)
        .bind(duration)
        .execute(&mut svc)
        .await
        .expect("the replayed event");
    }
    let mut su = db.superuser().await;
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = '{u}'")
        )
        .await,
        300
    );
    assert_eq!(
        int(
            &mut su,
            "SELECT duration_seconds::bigint FROM public.call_logs WHERE vapi_call_id = 'call-1'"
        )
        .await,
        300
    );
    assert_eq!(
        int(
            &mut su,
            &format!(
                "SELECT sum(call_time_change_seconds)::bigint FROM public.usage_logs WHERE user_id = '{u}'"
            )
        )
        .await,
        300,
        "the audit trail adds up to the usage"
    );
    assert_eq!(counters_match_data(&mut su).await, 0);
    // A first completion with a negative duration counts nothing.
    webhook(&mut svc, u, None, "call-2", "completed", -50)
        .await
        .expect("a bad event");
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = '{u}'")
        )
        .await,
        300
    );
    assert_eq!(counters_match_data(&mut su).await, 0);
}

#[tokio::test]
async fn users_cannot_disable_triggers_or_plant_objects() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    for actor in [Actor::User(a), Actor::Anon] {
        let mut c = db.connect_as(actor).await;
        let r = exec(&mut c, "SET session_replication_role = replica").await;
        assert_eq!(sqlstate(&r), state(DENIED), "session_replication_role");
        let r = exec(&mut c, "SET LOCAL session_replication_role = replica").await;
        assert_eq!(
            sqlstate(&r),
            state(DENIED),
            "SET LOCAL session_replication_role"
        );
        let r = exec(&mut c, "CREATE TABLE public.x (id int)").await;
        assert_eq!(sqlstate(&r), state(DENIED), "CREATE in public");
        let r = exec(
            &mut c,
            "CREATE FUNCTION auth.uid_x() RETURNS uuid LANGUAGE sql AS 'select null::uuid'",
        )
        .await;
        assert_eq!(sqlstate(&r), state(DENIED), "CREATE in auth");
        let r = exec(
            &mut c,
            "ALTER TABLE public.assistants DISABLE TRIGGER enforce_assistant_limit",
        )
        .await;
        assert_eq!(sqlstate(&r), state(DENIED), "ALTER TABLE");
    }
    // A temporary table shadowing a table name changes nothing (pg_temp last).
    let mut al = db.connect_as(Actor::User(a)).await;
    exec_ok(
        &mut al,
        "CREATE TEMP TABLE assistants (user_id uuid, name text)",
    )
    .await;
    exec_ok(
        &mut al,
        "CREATE TEMP TABLE user_limits (user_id uuid, max_assistants int)",
    )
    .await;
    exec_ok(&mut al, "SET search_path = pg_temp, public").await;
    exec_ok(
        &mut al,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'one')"),
    )
    .await;
    let r = exec(
        &mut al,
        &format!("INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'two')"),
    )
    .await;
    assert_eq!(sqlstate(&r), Some("VX001".into()), "the limit held");
}

/// Promise 2: several assistants in one statement, or through the upsert
/// path, still meet the limit.
#[tokio::test]
async fn multi_row_and_upsert_inserts_meet_the_limit() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let mut al = db.connect_as(Actor::User(a)).await;
    let r = exec(
        &mut al,
        &format!(
            "INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'one'), ('{a}', 'two')"
        ),
    )
    .await;
    assert_eq!(sqlstate(&r), Some("VX001".into()));
    let id: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO public.assistants (user_id, name) VALUES ('{a}', 'one') RETURNING id"
    ))
    .fetch_one(&mut al)
    .await
    .expect("first");
    let r = exec(
        &mut al,
        &format!("INSERT INTO public.assistants (id, user_id, name) VALUES (gen_random_uuid(), '{a}', 'two')
                  ON CONFLICT (id) DO NOTHING"),
    )
    .await;
    assert_eq!(sqlstate(&r), Some("VX001".into()));
    // The upsert's UPDATE half cannot move the row or set a provider id.
    let r = exec(
        &mut al,
        &format!(
            "INSERT INTO public.assistants (id, user_id, name) VALUES ('{id}', '{a}', 'x')
                  ON CONFLICT (id) DO UPDATE SET vapi_assistant_id = 'vapi-x'"
        ),
    )
    .await;
    assert!(sqlstate(&r).is_some(), "upsert set a provider id");
    let mut su = db.superuser().await;
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT count(*) FROM public.assistants WHERE user_id = '{a}'")
        )
        .await,
        1
    );
}

/// Promise 12: a user's upsert naming the verified-number index neither
/// conflicts with (so neither updates nor reveals) another account's
/// verified number.
#[tokio::test]
async fn upsert_on_the_verified_number_index_reveals_nothing() {
    let db = fresh_db(Fixture::Schema);
    let m = db.sign_up("mallory@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut svc = db.connect_as(Actor::Service).await;
    exec_ok(
        &mut svc,
        &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, verified_at, vapi_phone_id)
                  VALUES ('{b}', '+15550100009', 'bob', now(), 'vapi-ph-b')"),
    )
    .await;
    let mut ma = db.connect_as(Actor::User(m)).await;
    for number in ["+15550100009", "+15550100008"] {
        let n = exec_ok(
            &mut ma,
            &format!("INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ('{m}', '{number}', 'p')
                      ON CONFLICT (phone_number) WHERE verified_at IS NOT NULL DO UPDATE SET notes = 'mine'"),
        )
        .await;
        assert_eq!(n, 1, "{number}");
    }
    let mut su = db.superuser().await;
    let notes = opt_text(
        &mut su,
        &format!("SELECT notes FROM public.phone_numbers WHERE user_id = '{b}'"),
    )
    .await;
    assert_eq!(notes, None, "Bob's row was touched");
}

/// Promises 1, 2: the only functions a signed-in user may execute are the
/// three guarded, invoker app functions and Supabase's auth helpers; they
/// refuse another user's id and a NULL id alike.
#[tokio::test]
async fn rpc_surface_is_three_guarded_invoker_functions() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut al = db.connect_as(Actor::User(a)).await;
    let surface = opt_text(
        &mut al,
        "SELECT string_agg(p.oid::regprocedure::text || CASE WHEN p.prosecdef THEN ' DEFINER' ELSE '' END, ', ' ORDER BY p.proname)
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('public', 'vmx') AND has_function_privilege(p.oid, 'EXECUTE')",
    )
    .await;
    assert_eq!(
        surface.as_deref(),
        Some("check_user_assistant_limit(uuid), get_user_call_usage(uuid), sync_user_usage(uuid)")
    );
    for f in [
        "check_user_assistant_limit",
        "get_user_call_usage",
        "sync_user_usage",
    ] {
        for arg in [format!("'{b}'"), "NULL".into()] {
            let r = exec(&mut al, &format!("SELECT * FROM public.{f}({arg})")).await;
            assert_eq!(sqlstate(&r), state(DENIED), "{f}({arg})");
        }
    }
}

/// Promise 13: nothing a user writes in profiles affects another account.
#[tokio::test]
async fn profile_writes_are_limited_to_name_and_avatar() {
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut al = db.connect_as(Actor::User(a)).await;
    for set in [
        "email = 'bob@example.com'",
        "id = gen_random_uuid()",
        "is_demo_user = false",
        "demo_expires_at = 'infinity'",
        "created_at = now()",
        "updated_at = now()",
    ] {
        let r = exec(&mut al, &format!("UPDATE public.profiles SET {set}")).await;
        assert_eq!(sqlstate(&r), state(DENIED), "{set}");
    }
    // Another user's profile: nothing matches.
    let n = exec_ok(
        &mut al,
        &format!("UPDATE public.profiles SET full_name = 'x' WHERE id = '{b}'"),
    )
    .await;
    assert_eq!(n, 0);
    let r = exec(
        &mut al,
        &format!("DELETE FROM public.profiles WHERE id = '{a}'"),
    )
    .await;
    assert_eq!(sqlstate(&r), state(DENIED));
    let r = exec(
        &mut al,
        "INSERT INTO public.profiles (id, email) VALUES (gen_random_uuid(), 'squat@example.com')",
    )
    .await;
    assert_eq!(sqlstate(&r), state(DENIED));
}

/// Promise 12 for the backend, analytics too: the analytics job (service_role)
/// writes a row of Alice's naming Bob's assistant. In 0.3.1 it was accepted:
/// Alice read Bob's assistant id, and Bob's deletion of his assistant took
/// Alice's analytics with it (ON DELETE CASCADE). A row names only an
/// assistant of its own user. (Fails on `VMX_ATTACK_SQL_DIR=sql/releases/0.3.1`.)
#[tokio::test]
async fn analytics_name_only_their_own_users_assistant() {
    let db = attack_db();
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut assistants = vec![];
    for user in [a, b] {
        let mut conn = db.connect_as(Actor::User(user)).await;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO public.assistants (user_id, name) VALUES ($1, 'bot') RETURNING id",
        )
        .bind(user)
        .fetch_one(&mut conn)
        .await
        .expect("assistant");
        assistants.push(id);
    }
    let (alices, bobs) = (assistants[0], assistants[1]);
    let mut svc = db.connect_as(Actor::Service).await;
    let row = |assistant: Uuid| {
        format!(
            "INSERT INTO public.call_analytics (user_id, assistant_id, period_start, period_end, total_calls, total_duration_seconds)
             VALUES ('{a}', '{assistant}', now() - interval '1 day', now(), 5, 300)"
        )
    };
    let r = exec(&mut svc, &row(bobs)).await;
    assert_eq!(
        sqlstate(&r),
        state(Some("23503")),
        "Bob's assistant on Alice's row"
    );
    exec_ok(&mut svc, &row(alices)).await;
    let r = exec(
        &mut svc,
        &format!("UPDATE public.call_analytics SET assistant_id = '{bobs}' WHERE user_id = '{a}'"),
    )
    .await;
    assert_eq!(
        sqlstate(&r),
        state(Some("23503")),
        "moved onto Bob's assistant"
    );
    // Bob's deletion leaves Alice's analytics alone.
    let mut bo = db.connect_as(Actor::User(b)).await;
    exec_ok(&mut bo, "DELETE FROM public.assistants").await;
    let mut su = db.superuser().await;
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT count(*) FROM public.call_analytics WHERE user_id = '{a}'")
        )
        .await,
        1
    );
}

/// Promises 1 and 12: a webhook (service_role) that names another account's
/// assistant for Alice's call. The call is Alice's, without the assistant;
/// Bob's assistant is not written (its total moved +30 -30 and its
/// `updated_at` changed in 0.3.1), and Alice's permanent audit row names no
/// assistant, as for an id that exists nowhere (in 0.3.1 it named Bob's).
/// (Fails on `VMX_ATTACK_SQL_DIR=sql/releases/0.3.1`.)
#[tokio::test]
async fn a_webhook_naming_another_accounts_assistant_leaves_it_alone() {
    let db = attack_db();
    let a = db.sign_up("alice@example.com").await;
    let b = db.sign_up("bob@example.com").await;
    let mut bo = db.connect_as(Actor::User(b)).await;
    let bobs: Uuid = sqlx::query_scalar(
        "INSERT INTO public.assistants (user_id, name) VALUES ($1, 'bob bot') RETURNING id",
    )
    .bind(b)
    .fetch_one(&mut bo)
    .await
    .expect("bob's assistant");
    let mut su = db.superuser().await;
    let stamp = format!("SELECT updated_at::text FROM public.assistants WHERE id = '{bobs}'");
    let before = opt_text(&mut su, &stamp).await;
    let mut svc = db.connect_as(Actor::Service).await;
    for (call, assistant) in [
        ("c1", bobs),
        (
            "c2",
            Uuid::parse_str("11111111-1111-1111-1111-111111111111").expect("uuid"),
        ),
    ] {
        webhook(&mut svc, a, Some(assistant), call, "completed", 30)
            .await
            .expect("the webhook");
    }
    let named: i64 = int(
        &mut su,
        &format!(
            "SELECT count(*) FROM public.usage_logs
             WHERE user_id = '{a}' AND action_type = 'call_completed'
               AND details ->> 'assistant_id' IS NOT NULL"
        ),
    )
    .await;
    assert_eq!(named, 0, "Alice's audit names an assistant");
    assert_eq!(
        opt_text(&mut su, &stamp).await,
        before,
        "Bob's assistant was written"
    );
    assert_eq!(
        int(
            &mut su,
            &format!("SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = '{a}'")
        )
        .await,
        60
    );
}
