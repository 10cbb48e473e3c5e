//! History: what vmx recorded as applied, read by the one drift rule
//! (`migrate::history::drift`) that `status` and `migrate` read too.

use super::*;
use crate::migrate::history::{self, FileState};

const MIGRATE: &str = "run `vmx migrate`";

/// Each file recorded as applied (pending files fail).
pub fn history_applied(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return vec![CheckId::HistoryApplied.fail(
            "vmx.schema_history",
            "no vmx history: this database was not migrated by vmx",
            "run `vmx migrate` (it records the files it finds applied)",
        )];
    }
    history::drift(&cat.history)
        .files
        .iter()
        .map(|(m, state)| match state {
            FileState::Pending => CheckId::HistoryApplied.fail(
                m.name,
                format!("version {} is not recorded as applied", m.version),
                MIGRATE,
            ),
            _ => CheckId::HistoryApplied.pass(m.name, format!("version {} applied", m.version)),
        })
        .collect()
}

/// Each recorded text is this binary's (an earlier release's is behind; no release's is drift).
pub fn history_checksum(cat: &Catalog) -> Vec<CheckResult> {
    history::drift(&cat.history)
        .files
        .iter()
        .filter_map(|(m, state)| {
            Some(match state {
                FileState::Pending => return None,
                FileState::Applied(_) | FileState::Renamed(_) => {
                    CheckId::HistoryChecksum.pass(m.name, "checksum equals the embedded file")
                }
                FileState::UpgradePending { from, .. } => CheckId::HistoryChecksum.fail(
                    m.name,
                    format!(
                        "behind: release {}'s text is applied, this vmx embeds release {}'s",
                        from.release,
                        crate::releases::latest(m.version).map_or(crate::releases::VMX_VERSION, |r| r.release)
                    ),
                    "run `vmx migrate` (it upgrades the file in place)",
                ),
                FileState::ChecksumUnknown { applied, newer } => CheckId::HistoryChecksum.fail(
                    m.name,
                    match newer {
                        Some(v) => format!("this database was migrated by vmx {v}; use that release or newer"),
                        None => format!(
                            "recorded checksum {} is not any release's text (embedded: {})",
                            short(&applied.checksum),
                            short(&m.checksum)
                        ),
                    },
                    "find out who changed the file or the record; then correct vmx.schema_history and re-apply with `vmx migrate`",
                ),
            })
        })
        .collect()
}

/// A row that records this binary's text under another file's name.
pub fn history_renamed(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return Vec::new();
    }
    let drift = history::drift(&cat.history);
    let found = drift
        .files
        .iter()
        .filter_map(|(m, state)| match state {
            FileState::Renamed(a) => Some(CheckId::HistoryRenamed.warn(
                m.name,
                format!("recorded under the name {}", a.name),
                "run `vmx migrate` (it repairs the name; the checksum proves the content)",
            )),
            _ => None,
        })
        .collect();
    or_pass(
        found,
        CheckId::HistoryRenamed,
        "vmx.schema_history",
        "every recorded row names its file",
    )
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

pub fn history_unknown_version(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return Vec::new();
    }
    let drift = history::drift(&cat.history);
    let found = drift
        .unknown_versions
        .iter()
        .map(|(a, newer)| {
            CheckId::HistoryUnknownVersion.fail(
                a.name.clone(),
                match newer {
                    Some(v) => format!(
                        "version {} ({}): this database was migrated by vmx {v}; use that release or newer",
                        a.version, a.name
                    ),
                    None => format!("version {} ({}) is not known to this vmx", a.version, a.name),
                },
                "use the vmx that applied it, or remove the record if it is wrong",
            )
        })
        .collect();
    or_pass(
        found,
        CheckId::HistoryUnknownVersion,
        "vmx.schema_history",
        "every recorded version is known to this vmx",
    )
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::HistoryChecksum,
        "call-logs-schema.sql",
        "UPDATE vmx.schema_history SET checksum = 'deadbeef' WHERE version = 4",
    ),
    // Behind: release 0.1.0's text of file 2 recorded (an upgrade is pending).
    Break::fails(
        CheckId::HistoryChecksum,
        "assistant-schema.sql",
        "UPDATE vmx.schema_history SET checksum = 'ae5d149d65233efde701f94974577e496c357c3861903cea4f3cd7b60309af90' WHERE version = 2",
    ),
    Break::fails(
        CheckId::HistoryApplied,
        "assistant-schema.sql",
        "DELETE FROM vmx.schema_history WHERE version = 2",
    ),
    Break::warns(
        CheckId::HistoryRenamed,
        "phone-number-schema.sql",
        "UPDATE vmx.schema_history SET name = 'phones.sql' WHERE version = 3",
    ),
    Break::fails(
        CheckId::HistoryUnknownVersion,
        "future.sql",
        "INSERT INTO vmx.schema_history (version, name, checksum, execution_ms, vmx_version) VALUES (9, 'future.sql', 'x', 1, '9.9')",
    ),
];
