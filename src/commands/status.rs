//! `vmx status`: each file applied (when, by whom, which release) / pending /
//! upgrade pending / renamed / checksum unknown, and unknown versions.

use crate::catalog::Migration;
use crate::cli::Format;
use crate::error::VmxError;
use crate::migrate::history::{self, Applied};
use crate::output::Ctx;
use crate::releases;
use anyhow::Result;
use colored::Colorize;
use serde_json::json;

struct Row<'a> {
    version: i32,
    name: String,
    state: &'static str,
    /// The release whose text is recorded (None: no release shipped it).
    recorded_release: Option<&'static str>,
    /// The release of the embedded text (None: a version this binary does not embed).
    embedded_release: Option<&'static str>,
    checksum: Option<String>,
    applied: Option<&'a Applied>,
}

pub async fn run(ctx: &Ctx, exit_code: bool) -> Result<()> {
    let (target, mut conn) = ctx.connect().await?;
    let recorded = crate::migrate::status(&mut conn).await?;
    let drift = history::drift(&recorded);

    let release_of = |m: &Migration, a: Option<&Applied>| {
        a.and_then(|a| releases::find(m.version, &a.checksum))
            .map(|r| r.release)
    };
    let mut rows: Vec<Row> = drift
        .files
        .iter()
        .map(|(m, state)| Row {
            version: m.version,
            name: m.name.to_string(),
            state: state.id(),
            recorded_release: release_of(m, state.applied()),
            embedded_release: releases::latest(m.version).map(|r| r.release),
            checksum: Some(m.checksum.clone()),
            applied: state.applied(),
        })
        .collect();
    rows.extend(drift.unknown_versions.iter().map(|(a, _)| Row {
        version: a.version,
        name: a.name.clone(),
        state: "unknown_version",
        recorded_release: None,
        embedded_release: None,
        checksum: None,
        applied: Some(a),
    }));
    let blocked = drift.require_consistent();
    let to_do = drift.count("pending") + drift.count("upgrade_pending") + drift.count("renamed");

    if ctx.format == Format::Json {
        let files: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "version": r.version,
                    "name": r.name,
                    "state": r.state,
                    "checksum": r.checksum,
                    "recorded_checksum": r.applied.map(|a| a.checksum.clone()),
                    "recorded_name": r.applied.map(|a| a.name.clone()),
                    "from_release": r.recorded_release,
                    "to_release": r.embedded_release,
                    "applied_at": r.applied.map(|a| a.applied_at.to_rfc3339()),
                    "applied_by": r.applied.map(|a| a.applied_by.clone()),
                    "execution_ms": r.applied.map(|a| a.execution_ms),
                    "vmx_version": r.applied.map(|a| a.vmx_version.clone()),
                })
            })
            .collect();
        let doc = json!({
            "target": target.display,
            "up_to_date": to_do == 0 && blocked.is_ok(),
            "pending": drift.count("pending"),
            "upgrade_pending": drift.count("upgrade_pending"),
            "renamed": drift.count("renamed"),
            "blocked": blocked.is_err(),
            "newer_vmx": drift.newer_vmx(),
            "files": files,
        });
        crate::output::stdout().line(serde_json::to_string_pretty(&doc)?);
    } else if !ctx.quiet {
        let out = ctx.out();
        out.line(&target.display);
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_header([
                "#",
                "file",
                "state",
                "release",
                "applied at",
                "by",
                "duration",
            ]);
        for r in &rows {
            let word = r.state.replace('_', " ");
            let state = match r.state {
                "applied" => word.green(),
                "pending" | "upgrade_pending" | "renamed" => word.yellow(),
                _ => word.red().bold(),
            };
            let release = match (r.state, r.recorded_release, r.embedded_release) {
                ("upgrade_pending", Some(from), Some(to)) => format!("{from} → {to}"),
                ("pending", _, Some(to)) => to.to_string(),
                (_, Some(rel), _) => rel.to_string(),
                (_, None, _) => r
                    .applied
                    .map(|a| format!("? (vmx {})", a.vmx_version))
                    .unwrap_or_default(),
            };
            let name = match (r.state, r.applied) {
                ("renamed", Some(a)) => format!("{} (recorded as {})", r.name, a.name),
                _ => r.name.clone(),
            };
            table.add_row([
                r.version.to_string(),
                name,
                state.to_string(),
                release,
                r.applied
                    .map(|a| history::format_time(&a.applied_at))
                    .unwrap_or_default(),
                r.applied.map(|a| a.applied_by.clone()).unwrap_or_default(),
                r.applied
                    .map(|a| format!("{} ms", a.execution_ms))
                    .unwrap_or_default(),
            ]);
        }
        let text = table.to_string();
        for line in text.lines() {
            out.line(line.trim_end());
        }
        match (&blocked, to_do) {
            (Err(_), _) => out.line(
                match drift.newer_vmx() {
                    Some(v) => format!("this database was migrated by vmx {v}; use that release or newer"),
                    None => "history does not match any release of the embedded files — see `vmx status --format json`".to_string(),
                }
                .red()
            ),
            (Ok(()), 0) => out.line(format!("up to date: all {} files applied", drift.files.len())),
            (Ok(()), _) => {
                let parts: Vec<String> = [
                    (drift.count("pending"), "file(s) pending"),
                    (drift.count("upgrade_pending"), "upgrade(s) pending"),
                    (drift.count("renamed"), "history name(s) to repair"),
                ]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}"))
                .collect();
                out.line(format!("{} — run `vmx migrate`", parts.join(", ")))
            }
        };
    }

    if exit_code {
        blocked?;
        if to_do > 0 {
            return Err(VmxError::Pending { pending: to_do }.into());
        }
    }
    Ok(())
}
