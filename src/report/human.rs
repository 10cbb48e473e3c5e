//! The human checklist: groups in the order of the guide's Verification
//! Checklist, one line per check (✓ / ✗ / !) with its target, the remedy
//! under a failure, and the last line `N passed, M failed[, K warnings]`.

use super::{CheckResult, Report, Section, Status};
use colored::Colorize;
use comfy_table::{presets, Table};

/// The heading a check is printed under: tables split into the core tables and
/// the three that `missing-tables-schema.sql` adds.
pub fn group(check: &CheckResult) -> (u8, &'static str) {
    if check.section == Section::Tables {
        let table = check.target.split('.').nth(1).unwrap_or("");
        let missing = crate::verify::expectations::table(table).is_some_and(|t| t.missing_file);
        return if missing {
            (1, "Missing tables (missing-tables-schema.sql)")
        } else {
            (0, "Core tables")
        };
    }
    (check.section as u8 + 1, check.section.title())
}

fn mark(status: Status) -> String {
    match status {
        Status::Pass => "✓".green().to_string(),
        Status::Fail => "✗".red().bold().to_string(),
        Status::Warn => "!".yellow().bold().to_string(),
        Status::Skip => "-".dimmed().to_string(),
    }
}

pub fn summary(report: &Report) -> String {
    let mut line = format!("{} passed, {} failed", report.passed(), report.failed());
    if report.warnings() > 0 {
        line.push_str(&format!(", {} warnings", report.warnings()));
    }
    line
}

/// The checklist; with `quiet` only failures and warnings (and the summary).
pub fn render(report: &Report, quiet: bool) -> String {
    let mut checks: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| !quiet || matches!(c.status, Status::Fail | Status::Warn))
        .collect();
    checks.sort_by_key(|c| group(c).0);
    let mut out = String::new();
    let mut start = 0;
    while start < checks.len() {
        let (key, title) = group(checks[start]);
        let end = checks[start..]
            .iter()
            .position(|c| group(c).0 != key)
            .map_or(checks.len(), |n| start + n);
        out.push_str(&format!("{}\n", title.bold()));
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        for c in &checks[start..end] {
            table.add_row(vec![
                format!(" {}", mark(c.status)),
                c.target.clone(),
                c.detail.clone(),
                c.id.dimmed().to_string(),
            ]);
            if let (Some(remedy), Status::Fail | Status::Warn) = (&c.remedy, c.status) {
                table.add_row(vec![
                    String::new(),
                    String::new(),
                    format!("→ {}", remedy).cyan().to_string(),
                    String::new(),
                ]);
            }
        }
        out.push_str(&format!("{table}\n\n"));
        start = end;
    }
    let line = summary(report);
    let line = if report.ok() {
        line.green().bold()
    } else {
        line.red().bold()
    };
    out.push_str(&format!("{line}\n"));
    out
}
