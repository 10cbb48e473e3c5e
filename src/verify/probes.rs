//! `vmx verify --probe`: behavioural checks, run as the users they protect.
//!
//! What it touches, for an operator about to run it on production:
//! - everything happens in ONE transaction that is always rolled back (also on
//!   error or Ctrl-C: the connection closes and PostgreSQL rolls back);
//! - `lock_timeout` 2 s and `statement_timeout` 15 s are set for that transaction;
//! - it inserts two users into `auth.users` (emails `vmx-probe-…@probe.invalid`),
//!   which fires the sign-up triggers, and as `service_role` inserts one
//!   assistant, phone number, call log, usage log and analytics row for them;
//! - it switches roles with `SET LOCAL ROLE authenticated | anon | service_role`
//!   and `set_config('request.jwt.claims', …, true)`, each attempt inside a
//!   SAVEPOINT so an expected refusal does not abort the transaction;
//! - for promises 10–13, each inside a savepoint it rolls back at once: user A
//!   deletes their assistant; A's demo is expired; B gets a verified number
//!   and provider ids that A then tries to take; A's email changes and two
//!   more users sign up (A's old address; a phone number `+1998…` only);
//! - it runs each cleanup function once as `service_role`, with one expired
//!   probe user, inside a savepoint it rolls back; it deletes one of the two probe users
//!   (cascade check); it never touches existing rows except by the row locks
//!   a failed attempt may briefly take.
//!
//! Nothing persists: the tests compare row counts of the seven tables and of
//! `auth.users` before and after.

use super::checks::CheckId;
use crate::report::CheckResult;
use crate::spec::{self as expect, TableSpec};
use anyhow::{Context, Result};
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

/// The outcome of one attempted statement.
#[derive(Debug)]
enum Outcome {
    /// Succeeded: rows affected (or returned), and the first column of the first row if any.
    Ok { rows: u64, value: Option<i64> },
    /// Refused by the database.
    Refused { code: String, message: String },
}

impl Outcome {
    fn refused_with(&self, code: &str) -> bool {
        matches!(self, Outcome::Refused { code: c, .. } if c == code)
    }
    fn describe(&self) -> String {
        match self {
            Outcome::Ok { value: Some(v), .. } => format!("returned {v}"),
            Outcome::Ok { rows, value: None } => format!("succeeded on {rows} row(s)"),
            Outcome::Refused { code, message } => format!("refused ({code}: {message})"),
        }
    }
    /// Refused, or touched/saw nothing.
    fn nothing(&self) -> bool {
        match self {
            Outcome::Ok { rows, value } => *rows == 0 || *value == Some(0),
            Outcome::Refused { .. } => true,
        }
    }
    /// The SQLSTATE of a refusal, `None` when it succeeded.
    fn code(&self) -> Option<&str> {
        match self {
            Outcome::Ok { .. } => None,
            Outcome::Refused { code, .. } => Some(code),
        }
    }
    fn value(&self) -> Option<i64> {
        match self {
            Outcome::Ok { value, .. } => *value,
            Outcome::Refused { .. } => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Actor {
    Admin,
    User(Uuid),
    Anon,
    Service,
}

struct Probe<'c> {
    conn: &'c mut PgConnection,
}

impl Probe<'_> {
    /// Becomes `actor` as PostgREST does (role and JWT claims), in one round trip.
    async fn act_as(&mut self, actor: Actor) -> Result<()> {
        let (role, claims) = match actor {
            Actor::Admin => (None, serde_json::json!({})),
            Actor::User(id) => (
                Some("authenticated"),
                serde_json::json!({"sub": id.to_string(), "role": "authenticated"}),
            ),
            Actor::Anon => (Some("anon"), serde_json::json!({"role": "anon"})),
            Actor::Service => (
                Some("service_role"),
                serde_json::json!({"role": "service_role"}),
            ),
        };
        let claims = claims.to_string().replace('\'', "''");
        let set_claims = format!("SELECT set_config('request.jwt.claims', '{claims}', true)");
        match role {
            Some(role) => {
                sqlx::raw_sql(&format!("RESET ROLE; SET LOCAL ROLE {role}; {set_claims}"))
                    .execute(&mut *self.conn)
                    .await
                    .with_context(|| format!("cannot SET ROLE {role}"))?;
            }
            None => {
                sqlx::raw_sql(&format!("RESET ROLE; {set_claims}"))
                    .execute(&mut *self.conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// Runs `sql` inside a savepoint; keeps its effect only when `keep` and it succeeded.
    async fn attempt(&mut self, sql: &str, keep: bool) -> Result<Outcome> {
        sqlx::raw_sql("SAVEPOINT vmx_probe")
            .execute(&mut *self.conn)
            .await?;
        let result = sqlx::query(sql).fetch_all(&mut *self.conn).await;
        let (outcome, undo) = match result {
            Ok(rows) => {
                let value = rows.first().and_then(|r| r.try_get::<i64, _>(0).ok());
                let affected = if rows.is_empty() {
                    None
                } else {
                    Some(rows.len() as u64)
                };
                (
                    Outcome::Ok {
                        rows: affected.unwrap_or(0),
                        value,
                    },
                    !keep,
                )
            }
            Err(sqlx::Error::Database(e)) => (
                Outcome::Refused {
                    code: e.code().map(|c| c.into_owned()).unwrap_or_default(),
                    message: e.message().to_string(),
                },
                true,
            ),
            Err(e) => return Err(e).context("probe statement failed"),
        };
        let end = if undo {
            "ROLLBACK TO SAVEPOINT vmx_probe"
        } else {
            "RELEASE SAVEPOINT vmx_probe"
        };
        sqlx::raw_sql(end).execute(&mut *self.conn).await?;
        Ok(outcome)
    }

    /// Starts a probe's own scope: what it changes is undone by [`Probe::undo`].
    async fn savepoint(&mut self, name: &str) -> Result<()> {
        sqlx::raw_sql(&format!("SAVEPOINT {name}"))
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn undo(&mut self, name: &str) -> Result<()> {
        sqlx::raw_sql(&format!(
            "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
        ))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Like `attempt`, but for DML: counts affected rows (`RETURNING 1`) and always undoes.
    async fn try_write(&mut self, sql: &str) -> Result<Outcome> {
        self.attempt(&format!("{sql} RETURNING 1"), false).await
    }
}

/// The users and rows the probes create.
struct Fixture {
    a: Uuid,
    b: Uuid,
    a_assistant: Uuid,
    b_assistant: Uuid,
    tag: String,
}

fn lit(id: Uuid) -> String {
    format!("'{id}'::uuid")
}

/// An INSERT of a minimal row of `table` owned by `owner`.
fn insert_sql(table: &str, owner: Uuid, f: &Fixture, n: u32) -> String {
    let o = lit(owner);
    let phone = format!("'+1999{:07}'", (owner.as_u128() % 9_000_000) as u32 + n);
    match table {
        "profiles" => format!(
            "INSERT INTO public.profiles (id, email) VALUES ({o}, 'vmx-probe-{}@probe.invalid')",
            f.tag
        ),
        "assistants" => format!("INSERT INTO public.assistants (user_id, name) VALUES ({o}, 'vmx probe')"),
        "phone_numbers" => format!(
            "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ({o}, {phone}, 'vmx probe')"
        ),
        "call_logs" => format!(
            "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds) VALUES ({o}, {}, 'vmx-probe-{}-{n}', 'completed', 30)",
            lit(f.b_assistant),
            f.tag
        ),
        "user_limits" => format!("INSERT INTO public.user_limits (user_id) VALUES ({o})"),
        "usage_logs" => format!(
            "INSERT INTO public.usage_logs (user_id, action_type, trigger_reason) VALUES ({o}, 'vmx_probe', 'vmx probe')"
        ),
        _ => format!(
            "INSERT INTO public.{table} (user_id, period_start, period_end) VALUES ({o}, now(), now())"
        ),
    }
}

fn owned_by(spec: &TableSpec, owner: Uuid) -> String {
    format!(
        "public.{} WHERE {} = {}",
        spec.name,
        spec.owner_column,
        lit(owner)
    )
}

fn probe_result(id: CheckId, target: &str, ok: bool, detail: String, remedy: &str) -> CheckResult {
    if ok {
        id.pass(target, detail)
    } else {
        id.fail(target, detail, remedy)
    }
}

/// Runs every probe in one transaction and rolls it back.
pub async fn run(conn: &mut PgConnection) -> Result<Vec<CheckResult>> {
    let mut tx = conn
        .begin()
        .await
        .context("cannot start the probe transaction")?;
    sqlx::raw_sql("SET LOCAL lock_timeout = '2s'; SET LOCAL statement_timeout = '15s'")
        .execute(&mut *tx)
        .await?;
    let results = {
        let mut probe = Probe { conn: &mut tx };
        run_in(&mut probe).await
    };
    tx.rollback().await.context("cannot roll the probes back")?;
    // A probe that cannot even run (e.g. the role may not SET ROLE) is a failed check, not a crash.
    Ok(results.unwrap_or_else(|e| {
        vec![CheckId::ProbeRun.fail("probes",
            format!("the probes could not run: {e:#}"),
            "run --probe as a role that is a member of anon, authenticated and service_role (Supabase's postgres)",
        )]
    }))
}

async fn run_in(p: &mut Probe<'_>) -> Result<Vec<CheckResult>> {
    let tag = Uuid::new_v4().simple().to_string();
    let f = Fixture {
        a: Uuid::new_v4(),
        b: Uuid::new_v4(),
        a_assistant: Uuid::new_v4(),
        b_assistant: Uuid::new_v4(),
        tag,
    };
    let mut out = Vec::new();

    // Sign-up: two users, as Supabase Auth would create them.
    p.act_as(Actor::Admin).await?;
    for (who, id) in [("a", f.a), ("b", f.b)] {
        let o = p
            .attempt(
                &format!(
                    "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES ({}, 'vmx-probe-{who}-{}@probe.invalid', '{{\"full_name\":\"vmx probe\"}}')",
                    lit(id),
                    f.tag
                ),
                true,
            )
            .await?;
        if let Outcome::Refused { .. } = o {
            out.push(CheckId::ProbeSignUp.fail(
                "auth.users",
                format!("cannot create a probe user: {}", o.describe()),
                "run the probes as a role that may insert into auth.users (Supabase's postgres)",
            ));
            return Ok(out);
        }
    }
    p.act_as(Actor::Service).await?;
    let ids = format!("({}, {})", lit(f.a), lit(f.b));
    let profiles = p
        .attempt(
            &format!("SELECT count(*) FROM public.profiles WHERE id IN {ids}"),
            true,
        )
        .await?;
    let limits = p
        .attempt(
            &format!("SELECT count(*) FROM public.user_limits WHERE user_id IN {ids}"),
            true,
        )
        .await?;
    out.push(probe_result(
        CheckId::ProbeSignUp,
        "auth.users.on_auth_user_created",
        profiles.value() == Some(2) && limits.value() == Some(2),
        format!(
            "signing up two users created profiles: {}, user_limits: {}",
            profiles.describe(),
            limits.describe()
        ),
        "check the triggers on_auth_user_created and on_profile_created_create_limits",
    ));

    out.push(sign_up_without_profile(p).await?);

    // B's rows, written as the webhooks and jobs do (service_role).
    let mut setup_errors = Vec::new();
    let setup = [
        format!(
            "INSERT INTO public.assistants (id, user_id, name) VALUES ({}, {}, 'vmx probe')",
            lit(f.b_assistant),
            lit(f.b)
        ),
        insert_sql("phone_numbers", f.b, &f, 1),
        insert_sql("call_logs", f.b, &f, 1),
        insert_sql("usage_logs", f.b, &f, 1),
        insert_sql("call_analytics", f.b, &f, 1),
    ];
    for sql in &setup {
        let o = p.attempt(sql, true).await?;
        if let Outcome::Refused { .. } = o {
            setup_errors.push(o.describe());
        }
    }
    // A's own rows, as A (the app's own-row inserts must work).
    p.act_as(Actor::User(f.a)).await?;
    let a_assistant = p
        .attempt(
            &format!(
                "INSERT INTO public.assistants (id, user_id, name) VALUES ({}, {}, 'vmx probe')",
                lit(f.a_assistant),
                lit(f.a)
            ),
            true,
        )
        .await?;
    // Schema 0.3.0 gives every user insert a server-generated id: the backend
    // (as the app's would) gives A's assistant the probe's known id.
    if let Outcome::Ok { .. } = a_assistant {
        p.act_as(Actor::Service).await?;
        p.attempt(
            &format!(
                "UPDATE public.assistants SET id = {} WHERE user_id = {} AND name = 'vmx probe'",
                lit(f.a_assistant),
                lit(f.a)
            ),
            true,
        )
        .await?;
        p.act_as(Actor::User(f.a)).await?;
    }
    let a_phone = p
        .attempt(&insert_sql("phone_numbers", f.a, &f, 2), true)
        .await?;

    out.extend(isolation(p, &f, &a_assistant, &a_phone, &setup_errors).await?);
    out.push(anon_sees_nothing(p, &f).await?);
    out.extend(no_self_escalation(p, &f).await?);
    out.push(assistant_limit(p, &f).await?);
    out.push(usage_counted_once(p, &f).await?);
    out.push(usage_permanent(p, &f).await?);
    out.extend(demo_frozen(p, &f).await?);
    out.extend(no_squatting(p, &f).await?);
    out.extend(account_rows(p, &f).await?);
    out.extend(functions_reveal_nothing(p, &f).await?);
    out.extend(cleanup_service_only(p).await?);
    out.extend(cleanup_deletes_expired(p, &f).await?);
    out.push(cascade(p, &f).await?);
    Ok(out)
}

/// As A: B's rows are invisible and untouchable in every table, for every command.
async fn isolation(
    p: &mut Probe<'_>,
    f: &Fixture,
    a_assistant: &Outcome,
    a_phone: &Outcome,
    setup_errors: &[String],
) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for spec in expect::TABLES {
        p.act_as(Actor::User(f.a)).await?;
        let mut leaks = Vec::new();
        let seen = p
            .attempt(
                &format!("SELECT count(*) FROM {}", owned_by(spec, f.b)),
                true,
            )
            .await?;
        if !seen.nothing() {
            leaks.push(format!("SELECT of B's rows {}", seen.describe()));
        }
        let column = spec
            .authenticated_update_columns
            .first()
            .copied()
            .unwrap_or("updated_at");
        let upd = p
            .try_write(&format!(
                "UPDATE public.{} SET {column} = {column} WHERE {} = {}",
                spec.name,
                spec.owner_column,
                lit(f.b)
            ))
            .await?;
        if !upd.nothing() {
            leaks.push(format!("UPDATE of B's rows {}", upd.describe()));
        }
        let del = p
            .try_write(&format!("DELETE FROM {}", owned_by(spec, f.b)))
            .await?;
        if !del.nothing() {
            leaks.push(format!("DELETE of B's rows {}", del.describe()));
        }
        let ins = p.attempt(&insert_sql(spec.name, f.b, f, 3), false).await?;
        if !ins.refused_with("42501") {
            leaks.push(format!("INSERT of a row for B {}", ins.describe()));
        }
        // Not vacuous: A sees their own rows where the sign-up or A made some.
        if matches!(
            spec.name,
            "profiles" | "user_limits" | "assistants" | "phone_numbers"
        ) {
            let own = p
                .attempt(
                    &format!("SELECT count(*) FROM {}", owned_by(spec, f.a)),
                    true,
                )
                .await?;
            if own.value().unwrap_or(0) < 1 {
                leaks.push(format!("A cannot see their own row: {}", own.describe()));
            }
        }
        match spec.name {
            "assistants" if !matches!(a_assistant, Outcome::Ok { .. }) => leaks.push(format!(
                "A cannot create their own assistant: {}",
                a_assistant.describe()
            )),
            "phone_numbers" if !matches!(a_phone, Outcome::Ok { .. }) => leaks.push(format!(
                "A cannot add their own phone number: {}",
                a_phone.describe()
            )),
            _ => {}
        }
        let detail = if leaks.is_empty() {
            format!(
                "as user A: B's rows not visible, not updatable, not deletable; inserting for B refused{}",
                if setup_errors.is_empty() { String::new() } else { format!(" (setup: {})", setup_errors.join("; ")) }
            )
        } else {
            leaks.join("; ")
        };
        out.push(probe_result(
            CheckId::ProbeIsolation,
            &format!("public.{}", spec.name),
            leaks.is_empty(),
            detail,
            "fix the table's policies and grants (`vmx verify` without --probe names them)",
        ));
    }
    Ok(out)
}

async fn anon_sees_nothing(p: &mut Probe<'_>, f: &Fixture) -> Result<CheckResult> {
    p.act_as(Actor::Anon).await?;
    let mut leaks = Vec::new();
    for spec in expect::TABLES {
        let seen = p
            .attempt(&format!("SELECT count(*) FROM public.{}", spec.name), true)
            .await?;
        if !seen.nothing() {
            leaks.push(format!(
                "SELECT on public.{} {}",
                spec.name,
                seen.describe()
            ));
        }
        let ins = p.attempt(&insert_sql(spec.name, f.a, f, 4), false).await?;
        if !matches!(ins, Outcome::Refused { .. }) {
            leaks.push(format!(
                "INSERT into public.{} {}",
                spec.name,
                ins.describe()
            ));
        }
    }
    Ok(probe_result(
        CheckId::ProbeAnon,
        "anon",
        leaks.is_empty(),
        if leaks.is_empty() {
            "anon sees nothing and writes nothing in the seven tables".into()
        } else {
            leaks.join("; ")
        },
        "REVOKE ALL ON the table FROM anon and drop policies that apply to anon",
    ))
}

/// (table, owner column, [(column, value a user must not be able to set)]).
type EscalationCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

async fn no_self_escalation(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    p.act_as(Actor::User(f.a)).await?;
    let cases: [EscalationCase; 2] = [
        (
            "user_limits",
            "user_id",
            &[
                ("plan_type", "'enterprise'"),
                ("max_assistants", "1000"),
                ("max_call_time_seconds", "1000000"),
                ("current_assistants", "0"),
                ("used_call_time_seconds", "0"),
            ],
        ),
        (
            "profiles",
            "id",
            &[
                ("is_demo_user", "false"),
                ("demo_expires_at", "now() + interval '100 years'"),
            ],
        ),
    ];
    let mut out = Vec::new();
    for (table, owner, columns) in cases {
        let mut raised = Vec::new();
        for (column, value) in columns {
            let o = p
                .try_write(&format!(
                    "UPDATE public.{table} SET {column} = {value} WHERE {owner} = {}",
                    lit(f.a)
                ))
                .await?;
            if !o.nothing() {
                raised.push(format!("{column} {}", o.describe()));
            }
        }
        out.push(probe_result(
        CheckId::ProbeNoSelfEscalation,
            &format!("public.{table}"),
            raised.is_empty(),
            if raised.is_empty() {
                format!("as user A: changing own {} refused", columns.iter().map(|c| c.0).collect::<Vec<_>>().join(", "))
            } else {
                format!("user A changed their own {}", raised.join("; "))
            },
            &format!("REVOKE UPDATE ON public.{table} FROM authenticated (then grant only the columns the app edits)"),
        ));
    }
    Ok(out)
}

/// As A: exactly as many assistants as A's `user_limits.max_assistants` (read,
/// not assumed) may exist; the next insert is refused with the limit's SQLSTATE.
async fn assistant_limit(p: &mut Probe<'_>, f: &Fixture) -> Result<CheckResult> {
    const MOST: i64 = 100;
    let target = "public.assistants";
    let remedy = "restore the trigger enforce_assistant_limit (`vmx migrate`)";
    p.act_as(Actor::Service).await?;
    let max = p
        .attempt(
            &format!(
                "SELECT max_assistants::bigint FROM public.user_limits WHERE user_id = {}",
                lit(f.a)
            ),
            true,
        )
        .await?;
    let Some(max) = max.value() else {
        return Ok(CheckId::ProbeAssistantLimit.fail(
            target,
            format!(
                "probe setup failed: cannot read user A's max_assistants from public.user_limits ({})",
                max.describe()
            ),
            "check that sign-up creates the user_limits row (trigger on_profile_created_create_limits)",
        ));
    };
    if !(0..=MOST).contains(&max) {
        return Ok(CheckId::ProbeAssistantLimit.fail(
            target,
            format!("a new user's plan allows {max} assistants; the probe tries at most {MOST}"),
            "check the default of public.user_limits.max_assistants (free plan: 1)",
        ));
    }
    p.act_as(Actor::User(f.a)).await?;
    let count = p
        .attempt(
            &format!(
                "SELECT count(*) FROM public.assistants WHERE user_id = {}",
                lit(f.a)
            ),
            true,
        )
        .await?;
    let Some(mut count) = count.value() else {
        return Ok(CheckId::ProbeAssistantLimit.fail(
            target,
            format!(
                "probe setup failed: cannot count user A's assistants ({})",
                count.describe()
            ),
            remedy,
        ));
    };
    // Fill up to the limit (kept), each insert must succeed.
    let mut n = 10;
    while count < max {
        let o = p
            .attempt(&insert_sql("assistants", f.a, f, n), true)
            .await?;
        if let Outcome::Refused { .. } = o {
            return Ok(CheckId::ProbeAssistantLimit.fail(
                target,
                format!(
                    "the plan allows {max} assistants but assistant {} of user A was {}",
                    count + 1,
                    o.describe()
                ),
                remedy,
            ));
        }
        count += 1;
        n += 1;
    }
    let next = p
        .attempt(&insert_sql("assistants", f.a, f, n), false)
        .await?;
    let ok = next.refused_with(expect::LIMIT_SQLSTATE);
    Ok(probe_result(
        CheckId::ProbeAssistantLimit,
        target,
        ok,
        format!(
            "plan allows {max} assistant(s) (user_limits.max_assistants); with {count}, another one {}",
            next.describe()
        ),
        remedy,
    ))
}

/// A sign-up whose profile cannot be created still succeeds: the trigger must
/// not break Supabase Auth. The profile insert is made to fail for this one
/// user by a CHECK added in a savepoint; rolling back to it drops the CHECK
/// and releases its lock on `profiles` at once (bounded by `lock_timeout`).
async fn sign_up_without_profile(p: &mut Probe<'_>) -> Result<CheckResult> {
    const TARGET: &str = "auth.users.on_auth_user_created";
    p.act_as(Actor::Admin).await?;
    let c = Uuid::new_v4();
    sqlx::raw_sql("SAVEPOINT vmx_no_profile")
        .execute(&mut *p.conn)
        .await?;
    let blocked = sqlx::raw_sql(&format!(
        "ALTER TABLE public.profiles ADD CONSTRAINT vmx_probe_no_profile CHECK (id <> {}) NOT VALID",
        lit(c)
    ))
    .execute(&mut *p.conn)
    .await;
    let result = match blocked {
        Err(e) => Ok(CheckId::ProbeSignUpWithoutProfile.fail(
            TARGET,
            format!("the probe could not make a profile fail to be created: {e}"),
            "run `vmx verify --probe` as the role that owns public.profiles",
        )),
        Ok(_) => sign_up_blocked(p, c).await,
    };
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT vmx_no_profile; RELEASE SAVEPOINT vmx_no_profile")
        .execute(&mut *p.conn)
        .await?;
    result
}

async fn sign_up_blocked(p: &mut Probe<'_>, c: Uuid) -> Result<CheckResult> {
    let o = p
        .attempt(
            &format!(
                "WITH u AS (INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES ({}, NULL, '{{}}') RETURNING id)
                 SELECT count(*) FROM u",
                lit(c)
            ),
            true,
        )
        .await?;
    let signed_up = o.value() == Some(1);
    let profile = if signed_up {
        p.attempt(
            &format!("SELECT count(*) FROM public.profiles WHERE id = {}", lit(c)),
            true,
        )
        .await?
        .value()
    } else {
        None
    };
    Ok(probe_result(
        CheckId::ProbeSignUpWithoutProfile,
        "auth.users.on_auth_user_created",
        signed_up && profile == Some(0),
        match (signed_up, profile) {
            (true, Some(0)) => {
                "a sign-up whose profile could not be created succeeded; the profile was skipped"
                    .to_string()
            }
            (true, _) => "the probe's blocked profile was created anyway: the probe proved nothing"
                .to_string(),
            (false, _) => format!(
                "a sign-up whose profile could not be created FAILED: {}",
                o.describe()
            ),
        },
        "make handle_new_user catch errors from the profile insert (`vmx migrate`)",
    ))
}

/// As service_role: each cleanup function deletes an expired demo user and
/// returns a count that includes it. Setup that fails is a failure.
async fn cleanup_deletes_expired(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for (i, spec) in expect::FUNCTIONS.iter().filter(|s| s.cleanup).enumerate() {
        let target = format!("public.{}", spec.signature);
        let name = spec.signature.trim_end_matches("()");
        let d = Uuid::new_v4();
        p.act_as(Actor::Admin).await?;
        sqlx::raw_sql("SAVEPOINT vmx_cleanup")
            .execute(&mut *p.conn)
            .await?;
        let setup = p
            .attempt(
                &format!(
                    "WITH u AS (INSERT INTO auth.users (id, email, raw_user_meta_data)
                       VALUES ({}, 'vmx-probe-d{i}-{}@probe.invalid', '{{}}') RETURNING id) SELECT count(*) FROM u",
                    lit(d),
                    f.tag
                ),
                true,
            )
            .await?;
        let expired = if setup.value() == Some(1) {
            p.attempt(
                &format!(
                    "WITH x AS (UPDATE public.profiles SET is_demo_user = true, demo_expires_at = now() - interval '1 day'
                       WHERE id = {} RETURNING 1) SELECT count(*) FROM x",
                    lit(d)
                ),
                true,
            )
            .await?
        } else {
            setup
        };
        let result = if expired.value() != Some(1) {
            CheckId::ProbeCleanupDeletesExpired.fail(
                &target,
                format!(
                    "probe setup failed: cannot create an expired demo user ({})",
                    expired.describe()
                ),
                "check that sign-up creates the profile (trigger on_auth_user_created)",
            )
        } else {
            p.act_as(Actor::Service).await?;
            let ran = p
                .attempt(&format!("SELECT public.{name}()::bigint"), true)
                .await?;
            p.act_as(Actor::Admin).await?;
            let left = p
                .attempt(
                    &format!("SELECT count(*) FROM auth.users WHERE id = {}", lit(d)),
                    true,
                )
                .await?;
            let ok = ran.value().is_some_and(|n| n >= 1) && left.value() == Some(0);
            probe_result(
                CheckId::ProbeCleanupDeletesExpired,
                &target,
                ok,
                format!(
                    "as service_role with a demo expired yesterday: {}; the user is {}",
                    ran.describe(),
                    match left.value() {
                        Some(0) => "gone".to_string(),
                        Some(_) => "still there".to_string(),
                        None => format!("unknown ({})", left.describe()),
                    }
                ),
                &format!("restore public.{} (`vmx migrate`)", spec.signature),
            )
        };
        // Back to before this user existed: the next function gets its own.
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT vmx_cleanup; RELEASE SAVEPOINT vmx_cleanup")
            .execute(&mut *p.conn)
            .await?;
        out.push(result);
    }
    Ok(out)
}

async fn usage_counted_once(p: &mut Probe<'_>, f: &Fixture) -> Result<CheckResult> {
    p.act_as(Actor::Service).await?;
    let used = format!(
        "SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = {}",
        lit(f.a)
    );
    let before = p.attempt(&used, true).await?.value();
    let call = format!("vmx-probe-{}-replay", f.tag);
    let mut errors = Vec::new();
    for (status, duration, ended) in [
        ("in_progress", 0, "NULL"),
        ("completed", 120, "now()"),
        ("completed", 120, "now()"),
        ("in_progress", 0, "NULL"),
    ] {
        let o = p
            .attempt(
                &format!(
                    "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
                     VALUES ({}, {}, '{call}', '{status}', {duration}, {ended})
                     ON CONFLICT (vapi_call_id) DO UPDATE SET status = excluded.status,
                       duration_seconds = excluded.duration_seconds, ended_at = excluded.ended_at",
                    lit(f.a),
                    lit(f.a_assistant)
                ),
                true,
            )
            .await?;
        if let Outcome::Refused { .. } = o {
            errors.push(o.describe());
        }
    }
    let after = p.attempt(&used, true).await?.value();
    let total = p
        .attempt(
            &format!(
                "SELECT total_call_duration_seconds::bigint FROM public.assistants WHERE id = {}",
                lit(f.a_assistant)
            ),
            true,
        )
        .await?
        .value();
    let logs = p
        .attempt(
            &format!(
                "SELECT count(*) FROM public.usage_logs u JOIN public.call_logs c ON u.resource_id = c.id::text
                 WHERE c.vapi_call_id = '{call}' AND u.action_type = 'call_completed'"
            ),
            true,
        )
        .await?
        .value();
    let status = p
        .attempt(&format!("SELECT count(*) FROM public.call_logs WHERE vapi_call_id = '{call}' AND status = 'completed'"), true)
        .await?
        .value();
    let delta = after.zip(before).map(|(a, b)| a - b);
    let ok = errors.is_empty()
        && delta == Some(120)
        && total == Some(120)
        && logs == Some(1)
        && status == Some(1);
    let show = |v: Option<i64>| v.map_or("unknown".to_string(), |v| v.to_string());
    Ok(probe_result(
        CheckId::ProbeUsageCountedOnce,
        "public.call_logs",
        ok,
        format!(
            "one 120 s call delivered as in_progress, completed, completed (replay), in_progress (late): used seconds +{}, assistant total {}, call_completed usage logs {}, still completed {}{}",
            show(delta),
            show(total),
            show(logs),
            show(status),
            if errors.is_empty() { String::new() } else { format!("; webhook upserts refused: {}", errors.join("; ")) }
        ),
        "restore the call_logs usage triggers (`vmx migrate`)",
    ))
}

async fn functions_reveal_nothing(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for spec in expect::FUNCTIONS.iter().filter(|s| s.guarded_user_id) {
        let name = spec.signature.trim_end_matches("(uuid)");
        p.act_as(Actor::User(f.a)).await?;
        let other = p
            .attempt(
                &format!("SELECT count(*) FROM public.{name}({})", lit(f.b)),
                false,
            )
            .await?;
        let own = p
            .attempt(
                &format!("SELECT count(*) FROM public.{name}({})", lit(f.a)),
                false,
            )
            .await?;
        p.act_as(Actor::Anon).await?;
        let anon = p
            .attempt(
                &format!("SELECT count(*) FROM public.{name}({})", lit(f.b)),
                false,
            )
            .await?;
        let ok = other.refused_with("42501")
            && anon.refused_with("42501")
            && matches!(own, Outcome::Ok { .. });
        out.push(probe_result(
        CheckId::ProbeFunctionOwnIdOnly,
            &format!("public.{}", spec.signature),
            ok,
            format!(
                "as A with B's id: {}; as anon: {}; as A with A's id: {}",
                other.describe(),
                anon.describe(),
                own.describe()
            ),
            "guard the function: raise 42501 when user_uuid IS DISTINCT FROM auth.uid() (`vmx migrate`)",
        ));
    }
    Ok(out)
}

async fn cleanup_service_only(p: &mut Probe<'_>) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for spec in expect::FUNCTIONS.iter().filter(|s| s.cleanup) {
        let name = spec.signature.trim_end_matches("()");
        let mut ran = Vec::new();
        for (who, actor) in [
            ("authenticated", Actor::User(Uuid::new_v4())),
            ("anon", Actor::Anon),
        ] {
            p.act_as(actor).await?;
            let o = p
                .attempt(&format!("SELECT public.{name}()::bigint"), false)
                .await?;
            if !o.refused_with("42501") {
                ran.push(format!("{who}: {}", o.describe()));
            }
        }
        out.push(probe_result(
            CheckId::ProbeCleanupServiceOnly,
            &format!("public.{}", spec.signature),
            ran.is_empty(),
            if ran.is_empty() {
                "refused to authenticated and anon (42501)".into()
            } else {
                format!("ran for {}", ran.join("; "))
            },
            &format!(
                "REVOKE EXECUTE ON FUNCTION public.{} FROM PUBLIC, anon, authenticated",
                spec.signature
            ),
        ));
    }
    Ok(out)
}

async fn cascade(p: &mut Probe<'_>, f: &Fixture) -> Result<CheckResult> {
    p.act_as(Actor::Admin).await?;
    let deleted = p
        .attempt(
            &format!("DELETE FROM auth.users WHERE id = {} RETURNING 1", lit(f.b)),
            true,
        )
        .await?;
    p.act_as(Actor::Service).await?;
    let mut left = Vec::new();
    for spec in expect::TABLES {
        let o = p
            .attempt(
                &format!("SELECT count(*) FROM {}", owned_by(spec, f.b)),
                true,
            )
            .await?;
        if o.value() != Some(0) {
            left.push(format!("public.{}: {}", spec.name, o.describe()));
        }
    }
    let ok = matches!(deleted, Outcome::Ok { rows: 1, .. }) && left.is_empty();
    Ok(probe_result(
        CheckId::ProbeCascade,
        "auth.users",
        ok,
        if ok {
            "deleting user B from auth.users removed B's rows from all seven tables".into()
        } else {
            format!(
                "delete of user B {}; rows left: {}",
                deleted.describe(),
                left.join("; ")
            )
        },
        "make the foreign keys ON DELETE CASCADE (`vmx migrate`)",
    ))
}

/// A number no one holds, in the reserved +1999 range the probes use.
fn probe_number(n: u32) -> String {
    format!(
        "'+1998{:07}'",
        (Uuid::new_v4().as_u128() % 9_000_000) as u32 + n
    )
}

fn show(v: Option<i64>) -> String {
    v.map_or("unknown".to_string(), |v| v.to_string())
}

/// Promise 10: as user A, deleting an assistant keeps the usage recorded for
/// it (used seconds and the call rows), and a webhook for a call of the
/// deleted assistant still records and counts it.
async fn usage_permanent(p: &mut Probe<'_>, f: &Fixture) -> Result<CheckResult> {
    const TARGET: &str = "public.call_logs.assistant_id";
    const REMEDY: &str = "keep calls when their assistant is deleted (call_logs.assistant_id ON DELETE SET NULL, usage triggers: `vmx migrate`)";
    p.savepoint("vmx_usage_permanent").await?;
    let result = usage_permanent_in(p, f, TARGET, REMEDY).await;
    p.undo("vmx_usage_permanent").await?;
    result
}

async fn usage_permanent_in(
    p: &mut Probe<'_>,
    f: &Fixture,
    target: &str,
    remedy: &str,
) -> Result<CheckResult> {
    let used = format!(
        "SELECT used_call_time_seconds::bigint FROM public.user_limits WHERE user_id = {}",
        lit(f.a)
    );
    let call = |name: &str, seconds: u32| {
        format!(
            "INSERT INTO public.call_logs (user_id, assistant_id, vapi_call_id, status, duration_seconds, ended_at)
             VALUES ({}, {}, 'vmx-probe-{}-{name}', 'completed', {seconds}, now())",
            lit(f.a),
            lit(f.a_assistant),
            f.tag
        )
    };
    p.act_as(Actor::Service).await?;
    let before = p.attempt(&used, true).await?.value();
    let kept = p.attempt(&call("kept", 60), true).await?;
    let counted = p.attempt(&used, true).await?.value();
    if before.is_none() || !matches!(kept, Outcome::Ok { .. }) {
        return Ok(CheckId::ProbeUsagePermanent.fail(
            target,
            format!(
                "probe setup failed: user A's usage is {} and a completed 60 s call of their assistant was {}",
                show(before),
                kept.describe()
            ),
            remedy,
        ));
    }
    p.act_as(Actor::User(f.a)).await?;
    let deleted = p
        .attempt(
            &format!(
                "DELETE FROM public.assistants WHERE id = {} RETURNING 1",
                lit(f.a_assistant)
            ),
            true,
        )
        .await?;
    if !matches!(deleted, Outcome::Ok { rows: 1, .. }) {
        return Ok(CheckId::ProbeUsagePermanent.fail(
            target,
            format!(
                "probe setup failed: user A deleting their own assistant {}",
                deleted.describe()
            ),
            remedy,
        ));
    }
    p.act_as(Actor::Service).await?;
    let after = p.attempt(&used, true).await?.value();
    let calls = p
        .attempt(
            &format!(
                "SELECT count(*) FROM public.call_logs WHERE vapi_call_id = 'vmx-probe-{}-kept'",
                f.tag
            ),
            true,
        )
        .await?
        .value();
    let late = p.attempt(&call("late", 30), true).await?;
    let last = p.attempt(&used, true).await?.value();
    let delta = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| a - b);
    let ok = delta(counted, before) == Some(60)
        && after == counted
        && calls == Some(1)
        && matches!(late, Outcome::Ok { .. })
        && delta(last, after) == Some(30);
    Ok(probe_result(
        CheckId::ProbeUsagePermanent,
        target,
        ok,
        format!(
            "user A's used seconds {} with a 60 s call, {} after A deleted the assistant (call rows left: {}); a 30 s call of the deleted assistant {}, used seconds then {}",
            show(counted),
            show(after),
            show(calls),
            late.describe(),
            show(last)
        ),
        remedy,
    ))
}

/// Promise 11: an expired demo account (7 days over, or 600 s of completed
/// calls used) adds no assistant and no phone number, as the user or as
/// service_role: SQLSTATE VX002 every time.
async fn demo_frozen(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    const FROZEN: &str = "VX002";
    let inserts = [
        (
            "public.assistants",
            format!(
                "INSERT INTO public.assistants (user_id, name) VALUES ({}, 'vmx probe')",
                lit(f.a)
            ),
        ),
        (
            "public.phone_numbers",
            format!(
                "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ({}, {}, 'vmx probe')",
                lit(f.a),
                probe_number(5)
            ),
        ),
    ];
    let expiries = [
        (
            "7 days over",
            format!(
                "WITH x AS (UPDATE public.profiles SET is_demo_user = true, demo_expires_at = now() - interval '1 day'
                   WHERE id = {} RETURNING 1) SELECT count(*) FROM x",
                lit(f.a)
            ),
        ),
        (
            "600 s used",
            format!(
                "WITH x AS (UPDATE public.profiles SET is_demo_user = true, demo_expires_at = now() + interval '1 day'
                   WHERE id = {a} RETURNING 1), y AS (UPDATE public.user_limits SET used_call_time_seconds = 600
                   WHERE user_id = {a} RETURNING 1) SELECT (SELECT count(*) FROM x) * (SELECT count(*) FROM y)",
                a = lit(f.a)
            ),
        ),
    ];
    // Per table: what went wrong.
    let mut wrong: Vec<Vec<String>> = vec![Vec::new(); inserts.len()];
    for (why, expire) in &expiries {
        p.savepoint("vmx_demo_frozen").await?;
        p.act_as(Actor::Admin).await?;
        let setup = p.attempt(expire, true).await?;
        if setup.value() != Some(1) {
            for w in wrong.iter_mut() {
                w.push(format!(
                    "probe setup failed: cannot expire user A's demo ({why}): {}",
                    setup.describe()
                ));
            }
        } else {
            for (who, actor) in [
                ("as the user", Actor::User(f.a)),
                ("as service_role", Actor::Service),
            ] {
                p.act_as(actor).await?;
                for (i, (_, sql)) in inserts.iter().enumerate() {
                    let o = p.attempt(sql, false).await?;
                    if !o.refused_with(FROZEN) {
                        wrong[i].push(format!("{why}, {who}: {}", o.describe()));
                    }
                }
            }
        }
        p.undo("vmx_demo_frozen").await?;
    }
    Ok(inserts
        .iter()
        .zip(wrong)
        .map(|((target, _), wrong)| {
            probe_result(
                CheckId::ProbeDemoFrozen,
                target,
                wrong.is_empty(),
                if wrong.is_empty() {
                    format!("an expired demo (7 days over; 600 s used) inserting into {target} as the user and as service_role: refused ({FROZEN}) every time")
                } else {
                    format!("an expired demo was not refused with {FROZEN}: {}", wrong.join("; "))
                },
                "restore the demo-expiry checks of enforce_assistant_limit and protect_phone_numbers (`vmx migrate`)",
            )
        })
        .collect())
}

/// Promise 12: user A cannot take user B's verified number or provider ids,
/// and gets the same answer for a value B holds as for a free one.
async fn no_squatting(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    p.savepoint("vmx_no_squatting").await?;
    let result = no_squatting_in(p, f).await;
    p.undo("vmx_no_squatting").await?;
    result
}

async fn no_squatting_in(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    const REMEDY: &str = "restore the triggers protect_assistant_ids and protect_phone_numbers and the unique index on verified numbers (`vmx migrate`)";
    let number = probe_number(6);
    let phone_id = format!("'vmx-probe-{}-phone'", f.tag);
    let assistant_id = format!("'vmx-probe-{}-assistant'", f.tag);
    // B's verified number and provider ids, written by the backend.
    p.act_as(Actor::Service).await?;
    let phone = p
        .attempt(
            &format!(
                "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, verified_at, vapi_phone_id)
                 VALUES ({}, {number}, 'vmx probe', now(), {phone_id}) RETURNING 1",
                lit(f.b)
            ),
            true,
        )
        .await?;
    let assistant = p
        .attempt(
            &format!(
                "UPDATE public.assistants SET vapi_assistant_id = {assistant_id} WHERE id = {} RETURNING 1",
                lit(f.b_assistant)
            ),
            true,
        )
        .await?;
    let targets = [
        "public.phone_numbers.phone_number",
        "public.phone_numbers.vapi_phone_id",
        "public.assistants.vapi_assistant_id",
    ];
    if !matches!(phone, Outcome::Ok { rows: 1, .. })
        || !matches!(assistant, Outcome::Ok { rows: 1, .. })
    {
        let why = format!(
            "probe setup failed: giving user B a verified number and ids as service_role: {}; {}",
            phone.describe(),
            assistant.describe()
        );
        return Ok(targets
            .iter()
            .map(|t| CheckId::ProbeNoSquatting.fail(*t, why.clone(), REMEDY))
            .collect());
    }
    p.act_as(Actor::User(f.a)).await?;
    let phone_insert = |value: &str| {
        format!(
            "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name) VALUES ({}, {value}, 'vmx probe') RETURNING 1",
            lit(f.a)
        )
    };
    let phone_id_insert = |value: &str| {
        format!(
            "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_phone_id) VALUES ({}, {}, 'vmx probe', {value}) RETURNING 1",
            lit(f.a),
            probe_number(7)
        )
    };
    let assistant_id_update = |value: &str| {
        format!(
            "UPDATE public.assistants SET vapi_assistant_id = {value} WHERE id = {} RETURNING 1",
            lit(f.a_assistant)
        )
    };
    // Held first and kept: then whether A's claim took B's number over is read as the backend routes.
    let held_number = p.attempt(&phone_insert(&number), true).await?;
    let free_number = p.attempt(&phone_insert(&probe_number(8)), false).await?;
    let held_phone_id = p.attempt(&phone_id_insert(&phone_id), false).await?;
    let free_phone_id = p
        .attempt(
            &phone_id_insert(&format!("'vmx-probe-{}-free'", f.tag)),
            false,
        )
        .await?;
    let held_assistant_id = p
        .attempt(&assistant_id_update(&assistant_id), false)
        .await?;
    let free_assistant_id = p
        .attempt(
            &assistant_id_update(&format!("'vmx-probe-{}-free'", f.tag)),
            false,
        )
        .await?;
    p.act_as(Actor::Service).await?;
    let routes_to_b = p
        .attempt(
            &format!(
                "SELECT count(*) FILTER (WHERE user_id = {}) * 10 + count(*) FILTER (WHERE user_id <> {})
                 FROM public.phone_numbers WHERE phone_number = {number} AND verified_at IS NOT NULL",
                lit(f.b),
                lit(f.b)
            ),
            true,
        )
        .await?
        .value();
    let mut out = Vec::new();
    // The number: A may claim it (an unverified claim, as for a free one), but calls still route to B.
    let same = held_number.code() == free_number.code();
    out.push(probe_result(
        CheckId::ProbeNoSquatting,
        targets[0],
        same && routes_to_b == Some(10),
        format!(
            "as user A, claiming user B's verified number {}, a free number {}; verified holders of B's number afterwards: {}",
            held_number.describe(),
            free_number.describe(),
            match routes_to_b {
                Some(10) => "B only".to_string(),
                Some(n) => format!("B {} time(s), others {}", n / 10, n % 10),
                None => "unknown".to_string(),
            }
        ),
        REMEDY,
    ));
    // Provider ids are the backend's: refused whatever the value, so a held one tells nothing.
    for (target, held, free) in [
        (targets[1], &held_phone_id, &free_phone_id),
        (targets[2], &held_assistant_id, &free_assistant_id),
    ] {
        let ok = matches!(held, Outcome::Refused { .. }) && held.code() == free.code();
        out.push(probe_result(
            CheckId::ProbeNoSquatting,
            target,
            ok,
            format!(
                "as user A, setting user B's value {}, a free value {}",
                held.describe(),
                free.describe()
            ),
            REMEDY,
        ));
    }
    Ok(out)
}

/// Promise 13: after user A changes their email, a new sign-up with the
/// address A gave up gets its profile and user_limits (and A's profile
/// follows the change); a phone-only sign-up gets both too.
async fn account_rows(p: &mut Probe<'_>, f: &Fixture) -> Result<Vec<CheckResult>> {
    const REMEDY: &str = "restore handle_new_user, sync_profile_email and create_user_limits, and keep profiles.email NULL-able and not unique (`vmx migrate`)";
    let mut out = Vec::new();
    p.savepoint("vmx_account_rows").await?;
    p.act_as(Actor::Admin).await?;
    let old = format!("'vmx-probe-a-{}@probe.invalid'", f.tag);
    let new = format!("'vmx-probe-a2-{}@probe.invalid'", f.tag);
    let changed = p
        .attempt(
            &format!(
                "WITH x AS (UPDATE auth.users SET email = {new} WHERE id = {} RETURNING 1) SELECT count(*) FROM x",
                lit(f.a)
            ),
            true,
        )
        .await?;
    let followed = p
        .attempt(
            &format!(
                "SELECT count(*) FROM public.profiles WHERE id = {} AND email = {new}",
                lit(f.a)
            ),
            true,
        )
        .await?
        .value();
    let (signed_up, rows) = if changed.value() == Some(1) {
        sign_up_rows(p, "email", &old).await?
    } else {
        (changed, None)
    };
    out.push(probe_result(
        CheckId::ProbeAccountRows,
        "auth.users.email",
        followed == Some(1) && rows == Some(11),
        format!(
            "user A changed their email: profiles.email {}; a new sign-up with the old address {}, {}",
            if followed == Some(1) { "followed" } else { "did NOT follow" },
            signed_up.describe(),
            account_rows_detail(rows)
        ),
        REMEDY,
    ));
    let (signed_up, rows) = sign_up_rows(p, "phone", &probe_number(9)).await?;
    out.push(probe_result(
        CheckId::ProbeAccountRows,
        "auth.users.phone",
        rows == Some(11),
        format!(
            "a phone-only sign-up (no email) {}, {}",
            signed_up.describe(),
            account_rows_detail(rows)
        ),
        REMEDY,
    ));
    p.undo("vmx_account_rows").await?;
    Ok(out)
}

/// Signs a new user up with `column` = `value`; the outcome and profile × 10 + user_limits rows.
async fn sign_up_rows(
    p: &mut Probe<'_>,
    column: &str,
    value: &str,
) -> Result<(Outcome, Option<i64>)> {
    let id = Uuid::new_v4();
    let signed_up = p
        .attempt(
            &format!(
                "WITH u AS (INSERT INTO auth.users (id, {column}, raw_user_meta_data) VALUES ({}, {value}, '{{}}') RETURNING 1)
                 SELECT count(*) FROM u",
                lit(id)
            ),
            true,
        )
        .await?;
    if signed_up.value() != Some(1) {
        return Ok((signed_up, None));
    }
    let rows = p
        .attempt(
            &format!(
                "SELECT (SELECT count(*) FROM public.profiles WHERE id = {i}) * 10
                      + (SELECT count(*) FROM public.user_limits WHERE user_id = {i})",
                i = lit(id)
            ),
            true,
        )
        .await?
        .value();
    Ok((signed_up, rows))
}

fn account_rows_detail(rows: Option<i64>) -> String {
    match rows {
        Some(11) => "got its profile and user_limits".to_string(),
        Some(n) => format!("got profiles: {}, user_limits: {}", n / 10, n % 10),
        None => "so no rows could be looked for".to_string(),
    }
}
