//! The embedded catalogue: the five schema files in the guide's order, and the
//! Supabase stand-in. A `Migration` is a plain value that computes its own
//! checksum when built, so `vmx list`, `migrate` and `verify` agree on it.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One schema file of the guide, as embedded in this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// 1-based position in the guide's order; the key of `vmx.schema_history`.
    pub version: i32,
    /// The guide's file name, e.g. `schema.sql`.
    pub name: &'static str,
    /// The text with a leading BOM removed and CRLF turned into LF.
    pub sql: String,
    /// SHA-256 (lowercase hex) of `sql`.
    pub checksum: String,
}

impl Migration {
    fn new(version: i32, name: &'static str, raw: &str) -> Self {
        let sql = normalize(raw);
        let checksum = checksum(&sql);
        Migration {
            version,
            name,
            sql,
            checksum,
        }
    }
}

/// The guide's five files, in the order they must be applied.
const FILES: [(&str, &str); 5] = [
    ("schema.sql", include_str!("../sql/schema.sql")),
    (
        "assistant-schema.sql",
        include_str!("../sql/assistant-schema.sql"),
    ),
    (
        "phone-number-schema.sql",
        include_str!("../sql/phone-number-schema.sql"),
    ),
    (
        "call-logs-schema.sql",
        include_str!("../sql/call-logs-schema.sql"),
    ),
    (
        "missing-tables-schema.sql",
        include_str!("../sql/missing-tables-schema.sql"),
    ),
];

/// What Supabase provides (roles, `auth.users`, `auth.uid()`), for plain PostgreSQL.
pub const SUPABASE_COMPAT_SQL: &str = include_str!("../sql/supabase-compat.sql");

/// The version of `missing-tables-schema.sql`, the only file `add-missing` applies.
pub const MISSING_TABLES_VERSION: i32 = 5;

/// All embedded migrations, in order.
pub fn migrations() -> &'static [Migration] {
    static ALL: OnceLock<Vec<Migration>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .zip(1..)
            .map(|((name, raw), version)| Migration::new(version, name, raw))
            .collect()
    })
}

/// The migration with this version, if this binary knows it.
pub fn by_version(version: i32) -> Option<&'static Migration> {
    migrations().iter().find(|m| m.version == version)
}

/// Finds a migration by its version number (`3`) or its file name (`phone-number-schema.sql`).
pub fn find(key: &str) -> Option<&'static Migration> {
    match key.parse::<i32>() {
        Ok(version) => by_version(version),
        Err(_) => migrations().iter().find(|m| m.name == key),
    }
}

/// Removes a leading UTF-8 BOM and turns CRLF into LF, so a Windows checkout
/// embeds the same text and therefore the same checksum.
pub fn normalize(raw: &str) -> String {
    raw.strip_prefix('\u{feff}')
        .unwrap_or(raw)
        .replace("\r\n", "\n")
}

/// SHA-256 of the text as lowercase hex.
pub fn checksum(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_in_the_guides_order() {
        let names: Vec<_> = migrations().iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "schema.sql",
                "assistant-schema.sql",
                "phone-number-schema.sql",
                "call-logs-schema.sql",
                "missing-tables-schema.sql"
            ]
        );
        let versions: Vec<_> = migrations().iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn crlf_and_bom_copy_has_the_same_checksum() {
        for m in migrations() {
            let windows = format!("\u{feff}{}", m.sql.replace('\n', "\r\n"));
            assert_eq!(checksum(&normalize(&windows)), m.checksum, "{}", m.name);
        }
    }

    #[test]
    fn checksum_is_sha256_hex() {
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// The text of `CREATE OR REPLACE FUNCTION public.<name>() … $$;` in `sql`.
    fn function_text<'a>(sql: &'a str, name: &str) -> &'a str {
        let head = format!("CREATE OR REPLACE FUNCTION public.{name}()");
        let start = sql
            .find(&head)
            .unwrap_or_else(|| panic!("{name} not found"));
        let body = &sql[start..];
        let end = body
            .find("\n$$;")
            .unwrap_or_else(|| panic!("{name} has no end"));
        &body[..end]
    }

    /// missing-tables-schema.sql carries copies so it works alone on an
    /// Option B database; a fix made to one copy must reach the other.
    #[test]
    fn option_b_copies_stay_identical_to_their_originals() {
        let file = |v| &by_version(v).expect("embedded").sql;
        assert_eq!(
            function_text(file(1), "set_updated_at"),
            function_text(file(5), "set_updated_at")
        );
        assert_eq!(
            function_text(file(4), "call_logs_track_completion"),
            function_text(file(5), "call_logs_track_completion")
        );
        assert_eq!(
            function_text(file(4), "track_call_usage"),
            function_text(file(5), "track_call_usage")
        );
        assert_eq!(
            function_text(file(4), "track_call_usage_insert"),
            function_text(file(5), "track_call_usage_insert")
        );
        assert_eq!(
            function_text(file(1), "sync_profile_email"),
            function_text(file(5), "sync_profile_email")
        );
    }

    #[test]
    fn find_accepts_version_or_name() {
        assert_eq!(find("3").map(|m| m.name), Some("phone-number-schema.sql"));
        assert_eq!(find("call-logs-schema.sql").map(|m| m.version), Some(4));
        assert!(find("9").is_none());
        assert!(find("nope.sql").is_none());
    }
}
