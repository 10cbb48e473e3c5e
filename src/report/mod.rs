//! One result shape for every verify check (like splinter's lints), consumed
//! by the human, JSON and JUnit renderers alike.

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
}

/// The checklist's sections, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Tables,
    Rls,
    Policies,
    Triggers,
    ForeignKeys,
    Functions,
    Grants,
    History,
    Probes,
}

impl Section {
    /// The stable machine name (as in JSON).
    pub fn id(self) -> &'static str {
        match self {
            Section::Tables => "tables",
            Section::Rls => "rls",
            Section::Policies => "policies",
            Section::Triggers => "triggers",
            Section::ForeignKeys => "foreign_keys",
            Section::Functions => "functions",
            Section::Grants => "grants",
            Section::History => "history",
            Section::Probes => "probes",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Stable kebab-case id of the check, e.g. `rls-enabled`.
    pub id: String,
    pub section: Section,
    /// The object, qualified: `public.call_logs`, `public.handle_new_user()`, `call-logs-schema.sql`.
    pub target: String,
    pub status: Status,
    /// What was found, in a sentence.
    pub detail: String,
    /// On failure or warning: what to do, in one line.
    pub remedy: Option<String>,
}

/// The whole checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<CheckResult>,
}

impl Report {
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
    pub fn passed(&self) -> usize {
        self.count(Status::Pass)
    }
    pub fn failed(&self) -> usize {
        self.count(Status::Fail)
    }
    pub fn warnings(&self) -> usize {
        self.count(Status::Warn)
    }
    /// No failures (warnings allowed).
    pub fn ok(&self) -> bool {
        self.failed() == 0
    }
}

pub mod github;
pub mod human;
pub mod json;
pub mod junit;

impl CheckResult {
    fn new(
        id: &str,
        section: Section,
        target: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        remedy: Option<String>,
    ) -> CheckResult {
        CheckResult {
            id: id.to_string(),
            section,
            target: target.into(),
            status,
            detail: detail.into(),
            remedy,
        }
    }
    pub fn pass(
        id: &str,
        section: Section,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> CheckResult {
        Self::new(id, section, target, Status::Pass, detail, None)
    }
    pub fn fail(
        id: &str,
        section: Section,
        target: impl Into<String>,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> CheckResult {
        Self::new(
            id,
            section,
            target,
            Status::Fail,
            detail,
            Some(remedy.into()),
        )
    }
    pub fn warn(
        id: &str,
        section: Section,
        target: impl Into<String>,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> CheckResult {
        Self::new(
            id,
            section,
            target,
            Status::Warn,
            detail,
            Some(remedy.into()),
        )
    }
}

impl Section {
    /// The heading printed above the section in the human checklist.
    pub fn title(self) -> &'static str {
        match self {
            Section::Tables => "Tables",
            Section::Rls => "Row level security",
            Section::Policies => "Policies",
            Section::Triggers => "Triggers",
            Section::ForeignKeys => "Cascades (foreign keys)",
            Section::Functions => "Functions",
            Section::Grants => "Grants",
            Section::History => "History",
            Section::Probes => "Probes (rolled back)",
        }
    }
}

/// Prints the report in the chosen format on stdout; under GitHub Actions
/// the failures and warnings also go to stderr as workflow commands, and a
/// human run appends the Markdown summary to `$GITHUB_STEP_SUMMARY`.
pub fn render(ctx: &crate::output::Ctx, report: &Report) -> anyhow::Result<()> {
    use crate::cli::Format;
    use crate::output::note;
    let text = match ctx.format {
        Format::Human => {
            if !ctx.quiet {
                if let Ok(target) = ctx.target() {
                    note(format_args!("vmx: verified {}", target.display));
                }
            }
            human::render(report, &human::Options::new(ctx.verbose, ctx.quiet))
        }
        Format::Json => format!("{}\n", json::render(report)?),
        Format::Junit => format!("{}\n", junit::render(report)?),
        Format::Github => github::render(report),
    };
    ctx.out().text(&text);
    if ctx.format == Format::Human {
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, github::render(report).as_bytes())
                });
            if let Err(e) = appended {
                note(format_args!(
                    "vmx: warning: cannot append the summary to $GITHUB_STEP_SUMMARY ({}): {e}",
                    std::path::Path::new(&path).display()
                ));
            }
        }
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        let annotations = github_annotations(report);
        if !annotations.is_empty() {
            note(annotations.trim_end());
        }
    }
    Ok(())
}

/// `::error::` / `::warning::` lines for GitHub Actions.
pub fn github_annotations(report: &Report) -> String {
    let escape = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    report
        .checks
        .iter()
        .filter_map(|c| {
            let level = match c.status {
                Status::Fail => "error",
                Status::Warn => "warning",
                _ => return None,
            };
            let remedy = c
                .remedy
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            Some(format!(
                "::{level} title=vmx verify {}::{}: {}{}\n",
                escape(&c.id),
                escape(&c.target),
                escape(&c.detail),
                escape(&remedy)
            ))
        })
        .collect()
}
