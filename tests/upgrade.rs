//! Upgrades: a database that release v0.1.0 (or v0.2.0, v0.3.0, v0.3.1) migrated (built from
//! the kept texts of that release, with its history as that vmx wrote it)
//! moves to this binary's files with a plain `vmx migrate`, through the real
//! binary, on a real PostgreSQL.
mod common;
use common::*;
use std::process::Child;
use std::time::{Duration, Instant};
use vmx::releases::REVISIONS;

const OLD: &str = "0.1.0";

/// The release-0.1.0 revision of file `version`.
fn old_revision(version: i32) -> &'static vmx::releases::Revision {
    revision_of(OLD, version)
}

/// The revision of file `version` that `release` left in a database: the
/// newest one released up to it.
fn revision_of(release: &str, version: i32) -> &'static vmx::releases::Revision {
    REVISIONS
        .iter()
        .rfind(|r| r.version == version && !vmx::releases::is_newer(r.release, release))
        .unwrap_or_else(|| panic!("a revision of file {version} in {release}"))
}

/// Files whose embedded text differs from release 0.1.0's: what an upgrade re-applies.
fn changed_since_old() -> Vec<i32> {
    changed_since(OLD)
}

/// Files whose embedded text differs from what `release` applied.
fn changed_since(release: &str) -> Vec<i32> {
    vmx::catalog::migrations()
        .iter()
        .filter(|m| revision_of(release, m.version).checksum != m.checksum)
        .map(|m| m.version)
        .collect()
}

/// `base` with files 1..=`upto` of release 0.1.0 applied as the admin, each in
/// one transaction, and the history exactly as vmx 0.1.0 wrote it (its shape:
/// one row per version, `version` the primary key).
fn migrated_by_v010(base: Fixture, upto: i32) -> TestDb {
    let db = fresh_db(base);
    let mut history = String::from(
        "CREATE SCHEMA IF NOT EXISTS vmx;
         REVOKE ALL ON SCHEMA vmx FROM PUBLIC;
         CREATE TABLE IF NOT EXISTS vmx.schema_history (
           version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT current_user,
           execution_ms bigint NOT NULL, vmx_version text NOT NULL);",
    );
    for version in 1..=upto {
        let r = old_revision(version);
        db.apply(&format!("sql/releases/{OLD}/{}", r.name), Some(ADMIN));
        history.push_str(&format!(
            "INSERT INTO vmx.schema_history (version, name, checksum, applied_at, execution_ms, vmx_version)
             VALUES ({version}, '{}', '{}', now() - interval '30 days', 7, '{OLD}');",
            r.name, r.checksum
        ));
    }
    server().sql(&db.name, Some(ADMIN), &history);
    db
}

/// `base` with the five files as release 0.2.0 left them (`sql/releases/0.2.0`
/// for the files changed since), applied as the admin, each in one
/// transaction, and the history as vmx 0.2.0 writes it (shape 2).
fn migrated_by_v020(base: Fixture) -> TestDb {
    migrated_by(V020, base)
}

/// `base` with the five files as `release` (0.2.0 or later: history shape 2)
/// left them, from `sql/releases/<release>` for the files changed since.
fn migrated_by(release: &str, base: Fixture) -> TestDb {
    let db = fresh_db(base);
    let mut history = String::from(
        "CREATE SCHEMA IF NOT EXISTS vmx;
         REVOKE ALL ON SCHEMA vmx FROM PUBLIC;
         CREATE TABLE IF NOT EXISTS vmx.schema_history (
           id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
           version integer NOT NULL, name text NOT NULL, checksum text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT current_user,
           execution_ms bigint NOT NULL, vmx_version text NOT NULL, superseded_at timestamptz);
         CREATE UNIQUE INDEX IF NOT EXISTS schema_history_current
           ON vmx.schema_history (version) WHERE superseded_at IS NULL;",
    );
    for m in vmx::catalog::migrations() {
        let r = revision_of(release, m.version);
        let path = if r.checksum == m.checksum {
            format!("sql/{}", r.name)
        } else {
            format!("sql/releases/{release}/{}", r.name)
        };
        db.apply(&path, Some(ADMIN));
        history.push_str(&format!(
            "INSERT INTO vmx.schema_history (version, name, checksum, applied_at, execution_ms, vmx_version)
             VALUES ({}, '{}', '{}', now() - interval '30 days', 7, '{release}');",
            m.version, r.name, r.checksum
        ));
    }
    server().sql(&db.name, Some(ADMIN), &history);
    db
}

const V020: &str = "0.2.0";

/// What must not change across an upgrade: every row, and every usage counter.
fn state(db: &TestDb) -> (Vec<(String, i64)>, String) {
    let counters = db.sql(
        "SELECT coalesce(string_agg(x, ',' ORDER BY x), '') FROM (
           SELECT 'limits:' || user_id || ':' || current_assistants || ':' || used_call_time_seconds || ':' || plan_type AS x
           FROM public.user_limits
           UNION ALL
           SELECT 'assistant:' || id || ':' || total_call_duration_seconds FROM public.assistants
           UNION ALL
           SELECT 'call:' || id || ':' || status || ':' || duration_seconds FROM public.call_logs) s",
    );
    (db.row_counts(), counters)
}

/// Current history rows as `version|checksum`, and the superseded trail.
fn history(db: &TestDb) -> (Vec<String>, Vec<String>) {
    let rows = |current: bool| -> Vec<String> {
        db.sql(&format!(
            "SELECT version || '|' || checksum || '|' || vmx_version FROM vmx.schema_history h
             WHERE (to_jsonb(h) ->> 'superseded_at' IS NULL) = {current} ORDER BY version, applied_at"
        ))
        .lines()
        .map(str::to_string)
        .collect()
    };
    (rows(true), rows(false))
}

fn embedded_history(from: &str) -> Vec<String> {
    vmx::catalog::migrations()
        .iter()
        .map(|m| {
            let by = if changed_since(from).contains(&m.version) {
                env!("CARGO_PKG_VERSION")
            } else {
                from
            };
            format!("{}|{}|{by}", m.version, m.checksum)
        })
        .collect()
}

fn old_trail(from: &str) -> Vec<String> {
    changed_since(from)
        .into_iter()
        .map(|v| format!("{v}|{}|{from}", revision_of(from, v).checksum))
        .collect()
}

/// The upgrade as an operator runs it: plan, migrate, and everything after it.
fn upgrade_keeps_everything(db: &TestDb) {
    upgrade_from_keeps_everything(db, OLD)
}

fn upgrade_from_keeps_everything(db: &TestDb, from: &str) {
    let before = state(db);
    let changed = changed_since(from);
    assert!(
        !changed.is_empty(),
        "this release changes no file since {from}: nothing to upgrade"
    );

    let status = run_on(db, &["status", "--format", "json"]);
    assert_exit(&status, 0);
    let doc = json_of(&status);
    for f in doc["files"].as_array().expect("files") {
        let version = f["version"].as_i64().expect("version") as i32;
        if changed.contains(&version) {
            assert_eq!(f["state"], "upgrade_pending", "{f}");
            // The release that shipped the text `from` left (an earlier one
            // when `from` did not change the file).
            assert_eq!(f["from_release"], revision_of(from, version).release, "{f}");
            let to = vmx::releases::latest(version).expect("a revision").release;
            assert_eq!(f["to_release"], to, "{f}");
        }
    }
    assert_exit(&run_on(db, &["status", "--exit-code"]), 7);
    let dry = run_on(db, &["migrate", "--dry-run", "--format", "json"]);
    assert_exit(&dry, 0);
    assert_eq!(json_of(&dry)["would_upgrade"], changed.len());
    assert_eq!(
        history(db).1,
        Vec::<String>::new(),
        "a dry run changes nothing"
    );

    let out = run_on(db, &["migrate", "--format", "json"]);
    assert_exit(&out, 0);
    let doc = json_of(&out);
    assert_eq!(doc["upgraded"], changed.len(), "{doc}");
    for f in doc["files"].as_array().expect("files") {
        let version = f["version"].as_i64().expect("version") as i32;
        let expected = if changed.contains(&version) {
            "upgraded"
        } else {
            "already_applied"
        };
        assert_eq!(f["state"], expected, "{f}");
    }

    assert_eq!(state(db), before, "rows and usage counters are kept");
    assert_eq!(history(db), (embedded_history(from), old_trail(from)));
    assert_exit(&run_on(db, &["status", "--exit-code"]), 0);
    assert_exit(&run_on(db, &["verify", "--probe"]), 0);
    // A second run has nothing left to do.
    assert_eq!(
        json_of(&run_on(db, &["migrate", "--format", "json"]))["upgraded"],
        0
    );
}

#[test]
fn database_migrated_by_v010_upgrades_keeping_every_row_and_counter() {
    let db = migrated_by_v010(Fixture::Compat, 5);
    db.apply("tests/fixtures/release-data.sql", None);
    upgrade_keeps_everything(&db);
}

/// 0.2.0 → 0.3.0: release data plus what 0.3.0 restricts for new writes
/// (more pending claims than the free plan's cap, a credential id a user
/// wrote): every row, counter and history row is kept.
#[test]
fn database_migrated_by_v020_upgrades_keeping_every_row_and_counter() {
    let db = migrated_by_v020(Fixture::Compat);
    db.apply("tests/fixtures/release-data.sql", None);
    db.sql(
        "INSERT INTO public.phone_numbers (user_id, phone_number, friendly_name, vapi_credential_id)
         SELECT p.id, '+1555400' || lpad(g::text, 4, '0'), 'claim', 'cred-' || g
         FROM (SELECT id FROM public.profiles ORDER BY id LIMIT 1) p, generate_series(1, 5) g",
    );
    upgrade_from_keeps_everything(&db, V020);
}

/// 0.3.0 → 0.3.1 (functions only): release data plus audit rows with a long
/// assistant name written by 0.3.0: every row, counter and history row is kept.
#[test]
fn database_migrated_by_v030_upgrades_keeping_every_row_and_counter() {
    let db = migrated_by("0.3.0", Fixture::Compat);
    db.apply("tests/fixtures/release-data.sql", None);
    db.sql(
        "INSERT INTO public.usage_logs (user_id, action_type, assistant_count_change, call_time_change_seconds, details)
         SELECT p.id, 'assistant_created', 0, 0, jsonb_build_object('assistant_name', repeat('n', 5000))
         FROM (SELECT id FROM public.profiles ORDER BY id LIMIT 1) p",
    );
    upgrade_from_keeps_everything(&db, "0.3.0");
}

/// 0.3.1 → 0.3.2 (one trigger function replaced, one added with its trigger):
/// release data, every row, counter
/// and history row is kept.
#[test]
fn database_migrated_by_v031_upgrades_keeping_every_row_and_counter() {
    let db = migrated_by("0.3.1", Fixture::Compat);
    db.apply("tests/fixtures/release-data.sql", None);
    upgrade_from_keeps_everything(&db, "0.3.1");
}

#[test]
fn legacy_database_taken_over_by_v010_upgrades_keeping_every_row() {
    let db = migrated_by_v010(Fixture::Legacy, 5);
    upgrade_keeps_everything(&db);
}

#[test]
fn four_files_by_v010_then_add_missing_then_migrate_upgrades_the_rest() {
    let db = migrated_by_v010(Fixture::LegacyFourFiles, 4);
    let rows_before = db.row_counts();
    let out = run_on(&db, &["add-missing", "--format", "json"]);
    assert_exit(&out, 0);
    let doc = json_of(&out);
    assert_eq!(doc["file"]["state"], "applied", "{doc}");
    let pending: Vec<i32> = changed_since_old().into_iter().filter(|v| *v < 5).collect();
    assert_eq!(
        doc["upgrades_pending"].as_array().expect("list").len(),
        pending.len(),
        "add-missing names the earlier files still at {OLD}: {doc}"
    );
    assert!(db.sql("SELECT count(*) FROM auth.users u WHERE NOT EXISTS (SELECT 1 FROM public.user_limits l WHERE l.user_id = u.id)").trim() == "0");

    let out = run_on(&db, &["migrate", "--format", "json"]);
    assert_exit(&out, 0);
    assert_eq!(json_of(&out)["upgraded"], pending.len());
    for (table, n) in rows_before {
        let now = db
            .row_counts()
            .into_iter()
            .find(|(t, _)| *t == table)
            .expect("table")
            .1;
        assert_eq!(now, n, "{table} lost or gained rows");
    }
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 0);
    assert_exit(&run_on(&db, &["verify", "--probe"]), 0);
}

#[test]
fn history_table_of_v010_is_reshaped_in_place_only_by_a_real_run() {
    let db = migrated_by_v010(Fixture::Compat, 5);
    let has_trail_column = |db: &TestDb| {
        db.sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'vmx' AND column_name = 'superseded_at'")
            .trim()
            == "1"
    };
    assert_exit(&run_on(&db, &["status"]), 0);
    assert_exit(&run_on(&db, &["migrate", "--dry-run"]), 0);
    assert!(
        !has_trail_column(&db),
        "status and --dry-run change nothing"
    );
    let applied_at_before = db.sql("SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM vmx.schema_history");
    assert_exit(&run_on(&db, &["migrate"]), 0);
    assert!(has_trail_column(&db));
    let kept = db.sql(
        "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM vmx.schema_history WHERE vmx_version = '0.1.0'",
    );
    assert_eq!(
        kept, applied_at_before,
        "every row v0.1.0 wrote is kept as it was"
    );
}

#[test]
fn concurrent_upgrades_upgrade_each_file_once() {
    let db = migrated_by_v010(Fixture::Compat, 5);
    db.apply("tests/fixtures/release-data.sql", None);
    let children: Vec<Child> = (0..6)
        .map(|_| spawn_on(&db, &["migrate", "--format", "json"]))
        .collect();
    let mut upgraded = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait for vmx");
        assert_exit(&out, 0);
        upgraded += json_of(&out)["upgraded"].as_u64().expect("upgraded");
    }
    assert_eq!(upgraded as usize, changed_since_old().len());
    assert_eq!(history(&db), (embedded_history(OLD), old_trail(OLD)));
}

#[tokio::test]
async fn killed_upgrade_leaves_a_file_boundary_and_the_rerun_completes() {
    let db = migrated_by_v010(Fixture::Compat, 5);
    db.apply("tests/fixtures/release-data.sql", None);
    let before = state(&db);
    // Every file's DDL reaches public.profiles (its table, or a foreign key to it).
    let mut holder = db.superuser().await;
    sqlx::Executor::execute(
        &mut holder,
        "BEGIN; LOCK TABLE public.profiles IN ACCESS EXCLUSIVE MODE",
    )
    .await
    .expect("lock profiles");
    let mut child = spawn_on(&db, &["migrate", "--statement-lock-timeout", "120"]);
    let mut admin = db.superuser().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND application_name = 'vmx' AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut admin)
        .await
        .expect("pg_stat_activity");
        if blocked > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "vmx never blocked on profiles");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL vmx");
    child.wait().expect("reap vmx");
    sqlx::Connection::close(holder)
        .await
        .expect("release profiles");

    // A file boundary: every current row is one release's text, whole.
    let (current, _) = history(&db);
    for row in &current {
        let mut parts = row.split('|');
        let version: i32 = parts.next().and_then(|v| v.parse().ok()).expect("version");
        let checksum = parts.next().expect("checksum");
        assert!(
            vmx::releases::find(version, checksum).is_some(),
            "{row} is not a released revision"
        );
    }
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 0);
    assert_eq!(history(&db).0, embedded_history(OLD));
    assert_eq!(state(&db), before);
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 0);
}

#[test]
fn history_written_by_a_newer_vmx_stops_with_exit_4_naming_it() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["migrate"]), 0);
    db.sql(
        "INSERT INTO vmx.schema_history (version, name, checksum, execution_ms, vmx_version)
         VALUES (6, 'next-schema.sql', repeat('a', 64), 1, '9.1.0')",
    );
    let before = history(&db);
    for args in [
        &["migrate"][..],
        &["status", "--exit-code"],
        &["add-missing"],
    ] {
        let out = run_on(&db, args);
        assert_exit(&out, 4);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("this database was migrated by vmx 9.1.0; use that release or newer"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    assert_eq!(history(&db), before, "nothing changed");
}

#[test]
fn checksum_no_release_shipped_stops_before_any_change() {
    let db = migrated_by_v010(Fixture::Compat, 5);
    // A text edited by hand after 0.1.0 applied it: not any release's.
    db.sql("UPDATE vmx.schema_history SET checksum = repeat('b', 64) WHERE version = 3");
    let before = (
        history(&db),
        db.sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'vmx'"),
    );
    let out = run_on(&db, &["migrate"]);
    assert_exit(&out, 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("phone-number-schema.sql"), "{err}");
    assert!(err.contains("no release of vmx shipped"), "{err}");
    let after = (
        history(&db),
        db.sql("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'vmx'"),
    );
    assert_eq!(after, before, "not even the history table's shape changed");
}

#[test]
fn renamed_history_row_is_reported_alike_and_repaired_by_migrate() {
    let db = fresh_db(Fixture::Compat);
    assert_exit(&run_on(&db, &["migrate"]), 0);
    db.sql("UPDATE vmx.schema_history SET name = 'phones.sql' WHERE version = 3");

    let status = json_of(&run_on(&db, &["status", "--format", "json"]));
    let file3 = &status["files"][2];
    assert_eq!(file3["state"], "renamed", "{status}");
    assert_eq!(file3["recorded_name"], "phones.sql");
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 7);
    let verify = run_on(&db, &["verify", "--format", "json"]);
    let renamed: Vec<_> = json_of(&verify)["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["target"] == "phone-number-schema.sql" && c["status"] != "pass")
        .map(|c| c["detail"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        renamed.iter().any(|d| d.contains("phones.sql")),
        "verify reports the renamed row as renamed: {renamed:?}"
    );

    let out = run_on(&db, &["migrate", "--format", "json"]);
    assert_exit(&out, 0);
    assert_eq!(json_of(&out)["repaired"], 1);
    assert_exit(&run_on(&db, &["status", "--exit-code"]), 0);
    assert_exit(&run_on(&db, &["verify"]), 0);
    assert_eq!(
        db.sql("SELECT name FROM vmx.schema_history WHERE version = 3 ORDER BY superseded_at NULLS LAST"),
        "phones.sql\nphone-number-schema.sql\n",
        "the wrong row stays in the trail"
    );
}
