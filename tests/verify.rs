//! `vmx verify`: a migrated database passes in every format; breaking exactly
//! one thing makes verify fail naming that object; `--probe` proves the
//! promises as users and leaves nothing behind.
mod common;
use assert_cmd::Command;
use common::*;
use serde_json::Value;
use vmx::spec as expectations;

/// `vmx verify` against `db` with extra arguments; no colour, no CI annotations.
fn vmx_verify(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("vmx")
        .expect("vmx binary")
        .args(["--database-url", &db.url(), "--color", "never", "verify"])
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run vmx")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `vmx verify --format json` and returns (exit code, document).
fn verify_json(db: &TestDb, probe: bool) -> (i32, Value) {
    let mut args = vec!["--format", "json"];
    if probe {
        args.push("--probe");
    }
    let out = vmx_verify(db, &args);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}\n{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

fn checks_with(doc: &Value, status: &str) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A freshly migrated database, with history, as `vmx migrate` leaves it.
fn migrated() -> TestDb {
    let db = fresh_db(Fixture::Schema);
    db.record_history();
    db
}

fn assert_fails(db: &TestDb, probe: bool, id: &str, target: &str) {
    let (code, doc) = verify_json(db, probe);
    let failed = checks_with(&doc, "fail");
    assert_eq!(code, 1, "verify should fail; failures: {failed:?}");
    assert_eq!(doc["ok"], false);
    assert!(
        failed.iter().any(|(i, t)| i == id && t == target),
        "expected {id} to fail on {target}; failures: {failed:?}"
    );
}

// ------------------------------------------------------------ a clean database

#[tokio::test]
async fn migrated_database_passes_in_human_format() {
    let db = migrated();
    let out = vmx_verify(&db, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let last = text.lines().last().unwrap_or_default();
    // The one documented warning on a clean database: pg_cron is not installed.
    assert!(
        last.ends_with(" passed, 0 failed") || last.ends_with(" passed, 0 failed, 1 warnings"),
        "last line: {last:?}"
    );
    for heading in [
        "Core tables",
        "Missing tables",
        "Policies",
        "Triggers",
        "History",
    ] {
        assert!(text.contains(heading), "{heading} missing in\n{text}");
    }
}

#[tokio::test]
async fn migrated_database_passes_in_json_and_names_every_expected_object() {
    let db = migrated();
    let (code, doc) = verify_json(&db, false);
    assert_eq!(code, 0, "{:?}", checks_with(&doc, "fail"));
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["failed"], 0);
    // Documented: without pg_cron the cleanup schedule is a warning, and nothing else warns.
    assert_eq!(
        checks_with(&doc, "warn"),
        vec![("cleanup-schedule".to_string(), "cron.job".to_string())]
    );
    assert_eq!(doc["warnings"], 1);
    let passed = checks_with(&doc, "pass");
    assert_eq!(doc["passed"], passed.len());
    let has = |id: &str, target: &str| passed.iter().any(|(i, t)| i == id && t == target);
    for t in expectations::TABLES {
        assert!(
            has("rls-enabled", &format!("public.{}", t.name)),
            "{}",
            t.name
        );
    }
    for t in expectations::TRIGGERS {
        let target = format!("{}.{}.{}", t.schema, t.table, t.name);
        assert!(has("trigger-enabled", &target), "{target}");
    }
    for f in expectations::FUNCTIONS {
        assert!(
            has("function-execute", &format!("public.{}", f.signature)),
            "{}",
            f.signature
        );
    }
    for m in vmx::catalog::migrations() {
        assert!(has("history-checksum", m.name), "{}", m.name);
    }
}

#[tokio::test]
async fn migrated_database_passes_in_junit_with_one_testcase_per_check() {
    let db = migrated();
    let (_, doc) = verify_json(&db, false);
    let out = vmx_verify(&db, &["--format", "junit"]);
    let xml = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{xml}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    let cases = xml.matches("<testcase ").count();
    assert_eq!(cases, doc["checks"].as_array().map_or(0, Vec::len));
    assert!(!xml.contains("<failure"), "{xml}");
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    assert!(xml.contains(r#"classname="policies""#));
}

#[tokio::test]
async fn run_checks_passes_on_a_migrated_database() {
    let db = migrated();
    let mut conn = db.admin().await;
    let report = vmx::verify::run_checks(&mut conn, false)
        .await
        .expect("checks");
    assert!(
        report.ok(),
        "{:?}",
        report
            .checks
            .iter()
            .filter(|c| c.status == vmx::report::Status::Fail)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn github_actions_gets_error_annotations_on_stderr() {
    let db = migrated();
    db.sql("ALTER TABLE public.usage_logs DISABLE ROW LEVEL SECURITY");
    let out = Command::cargo_bin("vmx")
        .expect("vmx binary")
        .args(["--database-url", &db.url(), "--color", "never", "verify"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .expect("run vmx");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("::error title=vmx verify rls-enabled::public.usage_logs"),
        "{err}"
    );
    assert!(stdout(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .contains(" passed, 1 failed"));
}

#[tokio::test]
async fn target_without_auth_users_exits_8() {
    let db = fresh_db(Fixture::Empty);
    let out = vmx_verify(&db, &[]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------ one break each
// The break cases live beside their checks (src/verify/checks/*.rs, BREAKS)
// and run in tests/breaks.rs.

#[tokio::test]
async fn owner_check_and_ed_with_a_disjunction_passes_the_owner_check() {
    let db = migrated();
    db.sql(
        "CREATE POLICY scoped ON public.phone_numbers FOR SELECT TO authenticated
           USING (user_id = (select auth.uid()) AND (assigned_assistant_id IS NULL OR EXISTS (
             SELECT 1 FROM public.assistants a WHERE a.id = assigned_assistant_id AND a.user_id = (SELECT auth.uid()))))",
    );
    let (_, doc) = verify_json(&db, false);
    let failed = checks_with(&doc, "fail");
    assert!(
        !failed.iter().any(|(i, _)| i == "policy-owner-check"),
        "{failed:?}"
    );
    assert!(checks_with(&doc, "pass")
        .iter()
        .any(|(i, t)| i == "policy-owner-check" && t == "public"));
}

// ------------------------------------------------------------ exposed schemas

#[tokio::test]
async fn schemas_option_widens_what_verify_looks_at() {
    let db = migrated();
    db.sql(
        "CREATE SCHEMA api; GRANT USAGE ON SCHEMA api TO anon, authenticated;
         CREATE TABLE api.leads (id int PRIMARY KEY, phone text);
         GRANT SELECT ON api.leads TO anon;
         CREATE VIEW api.calls AS SELECT id, user_id, transcript FROM public.call_logs;
         GRANT SELECT ON api.calls TO authenticated;
         CREATE FUNCTION api.peek() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1'",
    );
    // Not exposed by default: nothing there is reachable through the API.
    let (code, doc) = verify_json(&db, false);
    assert_eq!(code, 0, "{:?}", checks_with(&doc, "fail"));
    let out = vmx_verify(&db, &["--format", "json", "--schemas", "public,api"]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1));
    let failed = checks_with(&doc, "fail");
    for (id, target) in [
        ("exposed-rls-disabled", "api.leads"),
        ("view-security-definer", "api.calls"),
        ("definer-executable", "api.peek()"),
    ] {
        assert!(
            failed.iter().any(|(i, t)| i == id && t == target),
            "expected {id} on {target}; failures: {failed:?}"
        );
    }
}

#[tokio::test]
async fn postgrest_schemas_setting_on_the_authenticator_role_is_followed() {
    let db = migrated();
    db.sql(&format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
             CREATE ROLE authenticator NOINHERIT LOGIN;
           END IF;
         END $$;
         ALTER ROLE authenticator IN DATABASE {} SET pgrst.db_schemas = 'public, api';
         CREATE SCHEMA api; GRANT USAGE ON SCHEMA api TO authenticated;
         CREATE MATERIALIZED VIEW api.totals AS SELECT user_id, count(*) AS calls FROM public.call_logs GROUP BY user_id;
         GRANT SELECT ON api.totals TO authenticated",
        db.name
    ));
    assert_fails(&db, false, "matview-exposed", "api.totals");
}

// ------------------------------------------------------------ legacy

#[tokio::test]
async fn legacy_database_fails_naming_its_holes() {
    let db = fresh_db(Fixture::Legacy);
    let (code, doc) = verify_json(&db, false);
    assert_eq!(code, 1);
    let failed = checks_with(&doc, "fail");
    for (id, target) in [
        (
            "policy-always-true",
            r#"public.call_analytics."System can manage analytics""#,
        ),
        (
            "policy-always-true",
            r#"public.call_logs."System can create call logs""#,
        ),
        (
            "policy-always-true",
            r#"public.call_logs."System can update call logs""#,
        ),
        (
            "policy-unneeded-command",
            r#"public.user_limits."Users can update own limits""#,
        ),
        ("function-search-path", "public.handle_new_user()"),
        ("definer-executable", "public.get_user_call_usage(uuid)"),
        ("definer-executable", "public.sync_user_usage(uuid)"),
        ("table-grants", "public.assistants"),
        (
            "trigger-present",
            "public.assistants.enforce_assistant_limit",
        ),
        ("history-applied", "vmx.schema_history"),
        // Structure that carries promises: the guide's latest-calls index is (started_at) alone.
        ("latest-calls-index", "public.call_logs"),
    ] {
        assert!(
            failed.iter().any(|(i, t)| i == id && t == target),
            "expected {id} on {target}; failures: {failed:#?}"
        );
    }
    let warned = checks_with(&doc, "warn");
    assert!(warned.iter().any(|(i, _)| i == "policy-auth-uid-wrapped"));
    assert!(warned
        .iter()
        .any(|(i, t)| i == "cleanup-schedule" && t == "cron.job"));
}

// ------------------------------------------------------------ probes

fn auth_users(db: &TestDb) -> String {
    db.sql("SELECT count(*) FROM auth.users")
}

#[tokio::test]
async fn probe_passes_on_a_clean_database_and_leaves_no_row() {
    let db = migrated();
    db.sign_up("existing@example.com").await;
    let (rows, users) = (db.row_counts(), auth_users(&db));
    let (code, doc) = verify_json(&db, true);
    assert_eq!(code, 0, "{:?}", checks_with(&doc, "fail"));
    let probes: Vec<_> = checks_with(&doc, "pass")
        .into_iter()
        .filter(|(id, _)| id.starts_with("probe-"))
        .collect();
    for t in expectations::TABLES {
        let target = format!("public.{}", t.name);
        assert!(
            probes
                .iter()
                .any(|(i, tg)| i == "probe-isolation" && *tg == target),
            "{target}"
        );
    }
    for id in [
        "probe-anon",
        "probe-no-self-escalation",
        "probe-assistant-limit",
        "probe-usage-counted-once",
        "probe-function-own-id-only",
        "probe-cleanup-service-only",
        "probe-cleanup-deletes-expired",
        "probe-sign-up-without-profile",
        "probe-cascade",
    ] {
        assert!(probes.iter().any(|(i, _)| i == id), "{id}");
    }
    assert_eq!(db.row_counts(), rows, "the probes left rows behind");
    assert_eq!(auth_users(&db), users, "the probes left users behind");
}

// ------------------------------------------------------------ snapshots

#[tokio::test]
async fn snapshot_human() {
    let db = migrated();
    insta::assert_snapshot!("verify_human", stdout(&vmx_verify(&db, &[])));
}

#[tokio::test]
async fn snapshot_json() {
    let db = migrated();
    insta::assert_snapshot!(
        "verify_json",
        stdout(&vmx_verify(&db, &["--format", "json"]))
    );
}

#[tokio::test]
async fn snapshot_junit() {
    let db = migrated();
    insta::assert_snapshot!(
        "verify_junit",
        stdout(&vmx_verify(&db, &["--format", "junit"]))
    );
}
