//! `--format json`: one stable document on stdout (product.md §2, Output).

use super::Report;
use serde_json::{json, Value};

pub fn document(report: &Report) -> Value {
    json!({
        "ok": report.ok(),
        "passed": report.passed(),
        "failed": report.failed(),
        "warnings": report.warnings(),
        "checks": report.checks.iter().map(|c| json!({
            "id": c.id,
            "section": c.section.id(),
            "target": c.target,
            "status": c.status,
            "detail": c.detail,
            "remedy": c.remedy,
        })).collect::<Vec<_>>(),
    })
}

pub fn render(report: &Report) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&document(report))?)
}
