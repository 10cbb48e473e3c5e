//! `vmx verify`: a migrated database passes in every format; breaking exactly
//! one thing makes verify fail naming that object; `--probe` proves the
//! promises as users and leaves nothing behind.
mod common;
use assert_cmd::Command;
use common::*;
use serde_json::Value;
use vmx::verify::expectations;

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

/// Breaks a migrated database with `sql` (as superuser) and asserts that verify
/// exits 1 with the check `id` failing on `target`.
fn assert_break_fails(sql: &str, id: &str, target: &str) {
    let db = migrated();
    db.sql(sql);
    assert_fails(&db, false, id, target);
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

/// Breaks a migrated database with `sql` and asserts verify still exits 0 but warns.
fn assert_break_warns(sql: &str, id: &str, target: &str) {
    let db = migrated();
    db.sql(sql);
    let (code, doc) = verify_json(&db, false);
    let warned = checks_with(&doc, "warn");
    assert_eq!(
        code,
        0,
        "warnings alone must not fail: {:?}",
        checks_with(&doc, "fail")
    );
    assert!(
        warned.iter().any(|(i, t)| i == id && t == target),
        "expected {id} to warn on {target}; warnings: {warned:?}"
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
    assert!(last.ends_with(" passed, 0 failed"), "last line: {last:?}");
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
    assert_eq!(doc["warnings"], 0);
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

#[tokio::test]
async fn disabled_rls_fails() {
    assert_break_fails(
        "ALTER TABLE public.call_logs DISABLE ROW LEVEL SECURITY",
        "rls-enabled",
        "public.call_logs",
    );
}

#[tokio::test]
async fn open_insert_policy_fails() {
    assert_break_fails(
        "CREATE POLICY x ON public.call_logs FOR INSERT TO authenticated WITH CHECK (true)",
        "policy-always-true",
        "public.call_logs.x",
    );
}

#[tokio::test]
async fn policy_for_anon_fails() {
    assert_break_fails(
        "CREATE POLICY peek ON public.assistants FOR SELECT TO anon USING (user_id = (select auth.uid()))",
        "policy-for-anon",
        "public.assistants.peek",
    );
}

#[tokio::test]
async fn policy_not_comparing_the_owner_fails() {
    assert_break_fails(
        "CREATE POLICY named ON public.assistants FOR DELETE TO authenticated USING (name IS NOT NULL)",
        "policy-owner-check",
        "public.assistants.named",
    );
}

#[tokio::test]
async fn owner_check_or_ed_with_true_fails() {
    assert_break_fails(
        "CREATE POLICY sneaky ON public.call_logs FOR SELECT TO authenticated USING (user_id = (select auth.uid()) OR true)",
        "policy-owner-check",
        "public.call_logs.sneaky",
    );
}

#[tokio::test]
async fn true_or_ed_with_owner_check_fails() {
    assert_break_fails(
        "CREATE POLICY sneaky ON public.call_logs FOR SELECT TO authenticated USING (true OR user_id = (select auth.uid()))",
        "policy-owner-check",
        "public.call_logs.sneaky",
    );
}

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

#[tokio::test]
async fn dropped_own_policy_fails() {
    assert_break_fails(
        "DROP POLICY assistants_update_own ON public.assistants",
        "policy-expected",
        "public.assistants.assistants_update_own",
    );
}

#[tokio::test]
async fn cascade_turned_into_no_action_fails() {
    assert_break_fails(
        "ALTER TABLE public.call_logs DROP CONSTRAINT call_logs_user_id_fkey,
           ADD CONSTRAINT call_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles (id)",
        "fk-on-delete",
        "public.call_logs.user_id",
    );
}

#[tokio::test]
async fn dropped_trigger_fails() {
    assert_break_fails(
        "DROP TRIGGER enforce_assistant_limit ON public.assistants",
        "trigger-present",
        "public.assistants.enforce_assistant_limit",
    );
}

#[tokio::test]
async fn disabled_trigger_fails() {
    assert_break_fails(
        "ALTER TABLE auth.users DISABLE TRIGGER on_auth_user_created",
        "trigger-enabled",
        "auth.users.on_auth_user_created",
    );
}

#[tokio::test]
async fn function_without_pinned_search_path_fails() {
    assert_break_fails(
        "ALTER FUNCTION public.handle_new_user() RESET search_path",
        "function-search-path",
        "public.handle_new_user()",
    );
}

#[tokio::test]
async fn cleanup_function_executable_by_authenticated_fails() {
    assert_break_fails(
        "GRANT EXECUTE ON FUNCTION public.cleanup_expired_demos() TO authenticated",
        "function-execute",
        "public.cleanup_expired_demos()",
    );
}

#[tokio::test]
async fn definer_function_taking_a_user_id_granted_to_authenticated_fails() {
    assert_break_fails(
        "CREATE FUNCTION public.peek_usage(u uuid) RETURNS integer LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1';
         REVOKE EXECUTE ON FUNCTION public.peek_usage(uuid) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION public.peek_usage(uuid) TO authenticated",
        "definer-executable",
        "public.peek_usage(uuid)",
    );
}

#[tokio::test]
async fn definer_function_granted_to_anon_fails() {
    assert_break_fails(
        "CREATE FUNCTION public.leak() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1';
         GRANT EXECUTE ON FUNCTION public.leak() TO anon",
        "definer-executable",
        "public.leak()",
    );
}

#[tokio::test]
async fn definer_function_with_default_public_execute_fails() {
    let db = migrated();
    db.sql(
        "CREATE FUNCTION public.leak() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = '' AS 'select 1';
         REVOKE EXECUTE ON FUNCTION public.leak() FROM anon, authenticated",
    );
    assert_fails(&db, false, "definer-executable", "public.leak()");
}

#[tokio::test]
async fn limit_column_granted_to_authenticated_fails() {
    assert_break_fails(
        "GRANT UPDATE (max_assistants) ON public.user_limits TO authenticated",
        "limits-user-writable",
        "public.user_limits.max_assistants",
    );
}

#[tokio::test]
async fn profile_column_beyond_name_and_avatar_granted_fails() {
    assert_break_fails(
        "GRANT UPDATE (is_demo_user) ON public.profiles TO authenticated",
        "column-grants",
        "public.profiles",
    );
}

#[tokio::test]
async fn revoked_grant_fails() {
    assert_break_fails(
        "REVOKE SELECT ON public.assistants FROM authenticated",
        "table-grants",
        "public.assistants",
    );
}

#[tokio::test]
async fn missing_table_fails() {
    assert_break_fails(
        "DROP TABLE public.call_analytics",
        "table-exists",
        "public.call_analytics",
    );
}

#[tokio::test]
async fn tampered_checksum_fails() {
    assert_break_fails(
        "UPDATE vmx.schema_history SET checksum = 'deadbeef' WHERE version = 4",
        "history-checksum",
        "call-logs-schema.sql",
    );
}

#[tokio::test]
async fn deleted_history_row_fails() {
    assert_break_fails(
        "DELETE FROM vmx.schema_history WHERE version = 2",
        "history-applied",
        "assistant-schema.sql",
    );
}

#[tokio::test]
async fn unknown_history_version_fails() {
    assert_break_fails(
        "INSERT INTO vmx.schema_history (version, name, checksum, execution_ms, vmx_version) VALUES (9, 'future.sql', 'x', 1, '9.9')",
        "history-unknown-version",
        "future.sql",
    );
}

#[tokio::test]
async fn unindexed_foreign_key_warns() {
    assert_break_warns(
        "DROP INDEX public.call_logs_assistant_id_idx",
        "fk-indexed",
        "public.call_logs.assistant_id",
    );
}

#[tokio::test]
async fn duplicate_index_warns() {
    assert_break_warns(
        "CREATE INDEX user_limits_user_id_dup ON public.user_limits (user_id)",
        "duplicate-index",
        "public.user_limits_user_id_dup",
    );
}

#[tokio::test]
async fn bare_auth_uid_warns() {
    assert_break_warns(
        "CREATE POLICY per_row ON public.call_logs FOR SELECT TO authenticated USING (user_id = auth.uid())",
        "policy-auth-uid-wrapped",
        "public.call_logs.per_row",
    );
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
    ] {
        assert!(
            failed.iter().any(|(i, t)| i == id && t == target),
            "expected {id} on {target}; failures: {failed:#?}"
        );
    }
    let warned = checks_with(&doc, "warn");
    assert!(warned.iter().any(|(i, _)| i == "policy-auth-uid-wrapped"));
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
        "probe-cascade",
    ] {
        assert!(probes.iter().any(|(i, _)| i == id), "{id}");
    }
    assert_eq!(db.row_counts(), rows, "the probes left rows behind");
    assert_eq!(auth_users(&db), users, "the probes left users behind");
}

#[tokio::test]
async fn probe_fails_where_a_user_can_raise_their_limits() {
    let db = migrated();
    db.sql(
        "GRANT UPDATE ON public.user_limits TO authenticated;
         CREATE POLICY raise ON public.user_limits FOR UPDATE TO authenticated USING (true) WITH CHECK (true)",
    );
    let rows = db.row_counts();
    assert_fails(&db, true, "probe-no-self-escalation", "public.user_limits");
    assert_eq!(db.row_counts(), rows);
}

#[tokio::test]
async fn probe_fails_where_the_assistant_limit_is_not_enforced() {
    let db = migrated();
    db.sql("DROP TRIGGER enforce_assistant_limit ON public.assistants");
    assert_fails(&db, true, "probe-assistant-limit", "public.assistants");
}

#[tokio::test]
async fn probe_fails_where_a_user_reads_other_users_call_logs() {
    let db = migrated();
    db.sql("CREATE POLICY everyone ON public.call_logs FOR SELECT TO authenticated USING (true)");
    assert_fails(&db, true, "probe-isolation", "public.call_logs");
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
