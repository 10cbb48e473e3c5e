//! A check is one entry: every check id has at least one break case beside it
//! (`vmx::verify::checks::breaks()`), and each case, applied to a clean migrated
//! database, fails (or warns) that check on the object it names and fails no
//! other check except the overlaps it documents. Through the binary, `--format json`.
//! Its own test binary, so its own cluster: some cases change the API roles,
//! which are cluster-wide; those run one at a time and are undone.
mod common;
use assert_cmd::Command;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Mutex;
use vmx::verify::checks::{breaks, Break, CheckId, Expect};

fn verify_json(db: &TestDb, probe: bool) -> Result<(i32, Value), String> {
    let mut args = vec!["--format", "json"];
    if probe {
        args.push("--probe");
    }
    let out = Command::cargo_bin("vmx")
        .expect("vmx binary")
        .args(["--database-url", &db.url(), "--color", "never", "verify"])
        .args(&args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("DATABASE_URL")
        .env_remove("PGRST_DB_SCHEMAS")
        .output()
        .expect("run vmx");
    let doc: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((out.status.code().unwrap_or(-1), doc))
}

fn with_status(doc: &Value, status: &str) -> Vec<(String, String)> {
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

/// Applies `case` to a fresh migrated database; `Err` says what went wrong.
fn run_case(case: &Break) -> Result<(), String> {
    let db = fresh_db(Fixture::Schema);
    db.record_history();
    // Parts split by a `;;` line run one by one (ALTER SYSTEM cannot run in
    // the transaction block one `psql -c` makes of several statements).
    let run = |sql: &str| {
        for part in sql.replace("{admin}", ADMIN).split("\n;;\n") {
            db.sql(part);
        }
    };
    run(case.sql);
    let result = verify_json(&db, case.probe);
    if let Some(undo) = case.undo {
        run(undo);
    }
    let (code, doc) =
        result.map_err(|e| format!("{} on {}: {e}", case.id.as_str(), case.target))?;
    let failed = with_status(&doc, "fail");
    let warned = with_status(&doc, "warn");
    let id = case.id.as_str();
    let target = case
        .target
        .replace("{admin}", ADMIN)
        .replace("{database}", &db.name);
    let hit = |list: &[(String, String)]| list.iter().any(|(i, t)| i == id && *t == target);
    let allowed: BTreeSet<&str> = std::iter::once(id)
        .chain(case.also.iter().map(|a| a.as_str()))
        .collect();
    let others: Vec<_> = failed
        .iter()
        .filter(|(i, _)| !allowed.contains(i.as_str()))
        .collect();
    match case.expect {
        Expect::Fail if code != 1 || !hit(&failed) => {
            Err(format!("expected {id} to fail on {} (exit {code}); failures: {failed:?}", target))
        }
        Expect::Warn if code != 0 || !hit(&warned) => Err(format!(
            "expected {id} to warn on {} with exit 0 (exit {code}); warnings: {warned:?}; failures: {failed:?}",
            target
        )),
        _ if !others.is_empty() => Err(format!(
            "{id} on {}: other checks failed too: {others:?}",
            target
        )),
        _ => Ok(()),
    }
}

#[test]
fn every_check_id_has_a_break_case() {
    let covered: BTreeSet<CheckId> = breaks().iter().map(|b| b.id).collect();
    let missing: Vec<_> = CheckId::all().filter(|id| !covered.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "check ids without a break case: {missing:?}"
    );
}

#[test]
fn every_break_case_fails_its_check_alone() {
    let all = breaks();
    let (local, role_wide): (Vec<&Break>, Vec<&Break>) = all.iter().partition(|b| b.undo.is_none());
    let errors = Mutex::new(Vec::new());
    let queue = Mutex::new(local.into_iter());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let Some(case) = queue.lock().expect("queue").next() else {
                    break;
                };
                if let Err(e) = run_case(case) {
                    errors.lock().expect("errors").push(e);
                }
            });
        }
    });
    let mut errors = errors.into_inner().expect("errors");
    for case in role_wide {
        if let Err(e) = run_case(case) {
            errors.push(e);
        }
    }
    assert!(
        errors.is_empty(),
        "{} break cases misbehaved:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
