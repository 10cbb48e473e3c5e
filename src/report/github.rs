//! `--format github`: a Markdown summary for a GitHub Actions job summary
//! (`>> $GITHUB_STEP_SUMMARY`): one table row per section, then every failure
//! and warning with its remedy. Human runs of verify under Actions append it
//! to `$GITHUB_STEP_SUMMARY` themselves.

use super::human::{group, summary};
use super::{CheckResult, Report, Status};

/// Text safe in a Markdown table cell or list item.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// An object name as inline code.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

pub fn render(report: &Report) -> String {
    let icon = if report.ok() { "✅" } else { "❌" };
    let mut out = format!("### {icon} vmx verify: {}\n\n", summary(report));
    let skips = report.count(Status::Skip) > 0;
    out.push_str("| | section | passed | failed | warnings |");
    out.push_str(if skips { " skipped |\n" } else { "\n" });
    out.push_str("|:-:|---|--:|--:|--:|");
    out.push_str(if skips { "--:|\n" } else { "\n" });

    let mut checks: Vec<&CheckResult> = report.checks.iter().collect();
    checks.sort_by_key(|c| group(c).0);
    let mut start = 0;
    while start < checks.len() {
        let (key, title) = group(checks[start]);
        let end = checks[start..]
            .iter()
            .position(|c| group(c).0 != key)
            .map_or(checks.len(), |n| start + n);
        let n = |s: Status| checks[start..end].iter().filter(|c| c.status == s).count();
        let mark = match (n(Status::Fail), n(Status::Warn)) {
            (0, 0) => "✅",
            (0, _) => "⚠️",
            _ => "❌",
        };
        out.push_str(&format!(
            "| {mark} | {} | {} | {} | {} |",
            escape(title),
            n(Status::Pass),
            n(Status::Fail),
            n(Status::Warn)
        ));
        if skips {
            out.push_str(&format!(" {} |", n(Status::Skip)));
        }
        out.push('\n');
        start = end;
    }

    let problems: Vec<&&CheckResult> = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Warn))
        .collect();
    if !problems.is_empty() {
        out.push_str("\n#### Failures and warnings\n\n");
        for c in problems {
            let mark = if c.status == Status::Fail {
                "❌"
            } else {
                "⚠️"
            };
            out.push_str(&format!(
                "- {mark} {} {} — {} ({})\n",
                escape(group(c).1),
                code(&c.target),
                escape(&c.detail),
                code(&c.id)
            ));
            if let Some(remedy) = &c.remedy {
                out.push_str(&format!("  <br>→ {}\n", escape(remedy)));
            }
        }
    }
    out.push('\n');
    out
}
