//! History: what vmx recorded as applied (the lead rewires this to `history::drift()`).

use super::*;
use crate::catalog::migrations;

pub fn history_applied(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return vec![CheckId::HistoryApplied.fail(
            "vmx.schema_history",
            "no vmx history: this database was not migrated by vmx",
            "run `vmx migrate` (it records the files it finds applied)",
        )];
    }
    let mut out = Vec::new();
    for m in migrations() {
        let row = cat.history.iter().find(|h| h.version == m.version);
        match row {
            None => out.push(CheckId::HistoryApplied.fail(
                m.name,
                format!("version {} is not recorded as applied", m.version),
                "run `vmx migrate`",
            )),
            Some(h) => {
                out.push(
                    CheckId::HistoryApplied.pass(m.name, format!("version {} applied", m.version)),
                );
                out.push(if h.checksum == m.checksum {
                    CheckId::HistoryChecksum.pass(m.name,
                        "checksum equals the embedded file",
                    )
                } else {
                    CheckId::HistoryChecksum.fail(m.name,
                        format!(
                            "recorded checksum {} differs from the embedded {}",
                            short(&h.checksum),
                            short(&m.checksum)
                        ),
                        "find out who changed the file or the record; then re-apply it with this vmx",
                    )
                });
            }
        }
    }
    out
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

pub fn history_unknown_version(cat: &Catalog) -> Vec<CheckResult> {
    if !cat.history_table {
        return Vec::new();
    }
    let found = cat
        .history
        .iter()
        .filter(|h| crate::catalog::by_version(h.version).is_none_or(|m| m.name != h.name))
        .map(|h| {
            CheckId::HistoryUnknownVersion.fail(
                h.name.clone(),
                format!(
                    "version {} ({}) is not known to this vmx",
                    h.version, h.name
                ),
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
    Break::fails(
        CheckId::HistoryApplied,
        "assistant-schema.sql",
        "DELETE FROM vmx.schema_history WHERE version = 2",
    ),
    Break::fails(
        CheckId::HistoryUnknownVersion,
        "future.sql",
        "INSERT INTO vmx.schema_history (version, name, checksum, execution_ms, vmx_version) VALUES (9, 'future.sql', 'x', 1, '9.9')",
    ),
];
