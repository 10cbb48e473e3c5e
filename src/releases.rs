//! Every released revision of each schema file, with the release that shipped it.
//!
//! A database whose history records one of these checksums was migrated by
//! that release: if it is not the embedded file's, the database is behind and
//! `vmx migrate` upgrades it. A checksum no release shipped is tampering (exit 4).
//! The texts of earlier releases are kept in `sql/releases/<release>/` so tests
//! can build a database exactly as that release left it.
//!
//! Releasing a change to a file in `sql/`: add its entry here (release = the new
//! `Cargo.toml` version), copy the previous texts to `sql/releases/<previous>/`,
//! and write the upgrade notes in `CHANGELOG.md`. `tests` below fail until you do.

/// One released text of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// The file's position in the guide's order (`catalog::Migration::version`).
    pub version: i32,
    pub name: &'static str,
    /// The vmx release that first shipped this text, e.g. `0.1.0`.
    pub release: &'static str,
    /// SHA-256 (lowercase hex) of the normalized text.
    pub checksum: &'static str,
}

/// Oldest first; for each file the last entry is the text this binary embeds.
pub const REVISIONS: &[Revision] = &[
    // 0.1.0: the first release.
    Revision {
        version: 1,
        name: "schema.sql",
        release: "0.1.0",
        checksum: "8c26ba1166a0b2725db35fa1a4508641f6fbd83319f51a4f8a8ca4d47de3cf95",
    },
    Revision {
        version: 2,
        name: "assistant-schema.sql",
        release: "0.1.0",
        checksum: "ae5d149d65233efde701f94974577e496c357c3861903cea4f3cd7b60309af90",
    },
    Revision {
        version: 3,
        name: "phone-number-schema.sql",
        release: "0.1.0",
        checksum: "febc855fc0222353ea3173f39f5c94ef8c96f71a7a5216aad32969564be936e1",
    },
    Revision {
        version: 4,
        name: "call-logs-schema.sql",
        release: "0.1.0",
        checksum: "7fb8e25747935e9f693d35a5c7cf6aed8b37f0a2bac3d3d43f277095648d39fc",
    },
    Revision {
        version: 5,
        name: "missing-tables-schema.sql",
        release: "0.1.0",
        checksum: "6dfa8d64164f27163ece8f31d0c63a35a5943fc583d5072684af3c27964f5077",
    },
    // 0.2.0: promises 10-14 (permanent usage, frozen demos, no squatting,
    // every account its rows, exact under concurrency); all five files changed.
    Revision {
        version: 1,
        name: "schema.sql",
        release: "0.2.0",
        checksum: "c2a70549d65affb743724b72c94b7ebc2a2e5333d67cfcc6fbc422503aa9d438",
    },
    Revision {
        version: 2,
        name: "assistant-schema.sql",
        release: "0.2.0",
        checksum: "f385512c9932e301dd0b15d69a04f98921704b65c045e8b087482dea0c90ba56",
    },
    Revision {
        version: 3,
        name: "phone-number-schema.sql",
        release: "0.2.0",
        checksum: "33f97f99adaa009218723d0820ea9bb50dc1923f22ca47e8f30a22dff93f6ffb",
    },
    Revision {
        version: 4,
        name: "call-logs-schema.sql",
        release: "0.2.0",
        checksum: "c4e9f6400e60e113bd184f632b37211ae0ea22b07f3fcd00cc44e816677ff9a4",
    },
    Revision {
        version: 5,
        name: "missing-tables-schema.sql",
        release: "0.2.0",
        checksum: "84fbe350d6b6971fbd84e0c1bcad9eb55195b42b97b82acfc5c5823612588be3",
    },
    // 0.3.0: webhook ingestion (row triggers with WHEN), server-chosen row ids
    // for users, capped phone-number claims, service-only vapi_credential_id,
    // add-missing back to set-based speed; files 2-5 changed.
    Revision {
        version: 2,
        name: "assistant-schema.sql",
        release: "0.3.0",
        checksum: "44cccde7940704e9ad6e78c14830aa5c33a99f25c0d82a49cbe61da7bde94d8e",
    },
    Revision {
        version: 3,
        name: "phone-number-schema.sql",
        release: "0.3.0",
        checksum: "8a37650f8fe45ac4d35cc4cc08dd791b600f50d6281be294b4f4cf08469ed580",
    },
    Revision {
        version: 4,
        name: "call-logs-schema.sql",
        release: "0.3.0",
        checksum: "d6f070a5bfda8452e6cb80ad5b3a30d9bed1a69c39a875a5b20264dbb22615de",
    },
    Revision {
        version: 5,
        name: "missing-tables-schema.sql",
        release: "0.3.0",
        checksum: "be7f6618fe591470d07f9c94bc0721c08f4bfe1fd6e89416b07a69716c4d847c",
    },
    // 0.3.1: the limit and phone-number triggers refuse a row for another
    // user themselves (request.jwt.claims changed inside a statement no
    // longer skips them); the freeze check of phone numbers reads the used
    // seconds under the limits row's lock; the cleanups go on user by user
    // when a user's own request deadlocks them; the permanent audit keeps
    // an assistant name's first 200 characters; all five files changed.
    Revision {
        version: 1,
        name: "schema.sql",
        release: "0.3.1",
        checksum: "ffb31134ceeb08383acdad7366a6d19ea04580a608f3bca2a191d4c144970f8e",
    },
    Revision {
        version: 2,
        name: "assistant-schema.sql",
        release: "0.3.1",
        checksum: "5e6dc3c18c7953d82974ef291b89b76d6f7f6c2dcb625308ae8faf2471ada619",
    },
    Revision {
        version: 3,
        name: "phone-number-schema.sql",
        release: "0.3.1",
        checksum: "0e65364c91469f40e3437db8da3c08f06a7ceb5b3c72d39d15006afe5bd4bc2e",
    },
    Revision {
        version: 4,
        name: "call-logs-schema.sql",
        release: "0.3.1",
        checksum: "44013b740cd62a32b6b4d8bbe20ab53957137c683ca43f62049615fc6ccac1d3",
    },
    Revision {
        version: 5,
        name: "missing-tables-schema.sql",
        release: "0.3.1",
        checksum: "8cc2dc588d78a9c10ce9788badeaf93bd064f61292042895353579c063761659",
    },
    // 0.3.2: a completing webhook locks the user's own assistant of the call
    // before the call's own row, so that any lock on it (a deletion that is
    // then rolled back, a request that resends a unique column) is waited for
    // instead of taken for a deletion; another account's assistant is left
    // alone; call_analytics rows name only their own user's assistant; files
    // 4 and 5 changed.
    Revision {
        version: 4,
        name: "call-logs-schema.sql",
        release: "0.3.2",
        checksum: "6474fd9202c354149ee7c589babbb9874681ebe99048eb7fd17bc8e61f37c1d9",
    },
    Revision {
        version: 5,
        name: "missing-tables-schema.sql",
        release: "0.3.2",
        checksum: "25d60ccc6ebe84045122d677bcf6e334723f94453cf6cd3f555fd1211f944d87",
    },
];

/// The released revision of file `version` with this checksum, if any.
pub fn find(version: i32, checksum: &str) -> Option<&'static Revision> {
    REVISIONS
        .iter()
        .find(|r| r.version == version && r.checksum == checksum)
}

/// The newest released revision of file `version`.
pub fn latest(version: i32) -> Option<&'static Revision> {
    REVISIONS.iter().rev().find(|r| r.version == version)
}

/// This binary's version.
pub const VMX_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `a` is a newer release than `b` (both `major.minor.patch`; anything
/// unparseable compares as not newer).
pub fn is_newer(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{self, migrations};
    use std::path::Path;

    fn repo(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// The guard against a silent dead end: an edited file must ship as a new revision.
    #[test]
    fn every_embedded_file_is_its_latest_released_revision() {
        for m in migrations() {
            let latest = latest(m.version).unwrap_or_else(|| panic!("{} has no revision", m.name));
            assert_eq!(
                latest.checksum, m.checksum,
                "sql/{} changed since release {} without a new revision: add a Revision for it in \
                 src/releases.rs (release = the bumped Cargo.toml version), keep the previous text in \
                 sql/releases/{}/ and write the upgrade notes in CHANGELOG.md",
                m.name, latest.release, latest.release
            );
            assert_eq!(latest.name, m.name);
        }
    }

    #[test]
    fn no_revision_is_newer_than_this_binary_and_each_file_moves_forward() {
        for m in migrations() {
            let mut previous: Option<&Revision> = None;
            for r in REVISIONS.iter().filter(|r| r.version == m.version) {
                assert!(
                    !is_newer(r.release, VMX_VERSION),
                    "{r:?} is newer than {VMX_VERSION}"
                );
                if let Some(p) = previous {
                    assert!(
                        is_newer(r.release, p.release),
                        "{r:?} does not follow {p:?}"
                    );
                    assert_ne!(r.checksum, p.checksum, "{r:?} repeats {p:?}");
                }
                previous = Some(r);
            }
        }
        assert!(REVISIONS
            .iter()
            .all(|r| catalog::by_version(r.version).is_some()));
    }

    /// Earlier texts are kept byte for byte, so tests can build a database as that release left it.
    #[test]
    fn earlier_revisions_are_kept_with_their_checksums() {
        for r in REVISIONS {
            if catalog::by_version(r.version).is_some_and(|m| m.checksum == r.checksum) {
                continue;
            }
            let path = repo(&format!("sql/releases/{}/{}", r.release, r.name));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{} must be kept: {e}", path.display()));
            assert_eq!(
                catalog::checksum(&catalog::normalize(&text)),
                r.checksum,
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn the_changelog_has_a_section_for_every_release() {
        let changelog = std::fs::read_to_string(repo("CHANGELOG.md")).expect("CHANGELOG.md");
        for release in REVISIONS.iter().map(|r| r.release).chain([VMX_VERSION]) {
            assert!(
                changelog.contains(&format!("## [{release}]")),
                "CHANGELOG.md has no `## [{release}]` section"
            );
        }
    }

    #[test]
    fn releases_compare_as_versions() {
        assert!(is_newer("0.10.0", "0.9.1"));
        assert!(!is_newer("0.1.0", "0.1.0"));
        assert!(!is_newer("test", "0.1.0"));
    }
}
