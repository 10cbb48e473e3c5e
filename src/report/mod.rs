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
