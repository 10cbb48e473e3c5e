//! One error enum for everything an operator can meet. Each variant is a
//! sentence that says what happened and what to do, and maps to one exit code
//! (product.md §2, "Exit codes").

use std::fmt;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// verify found failures, or an error with no more specific code.
    Failed = 1,
    /// Bad command line, including a URL that cannot be parsed.
    Usage = 2,
    /// Cannot connect, authenticate or negotiate TLS; or a transaction-mode pooler.
    Connect = 3,
    /// A recorded checksum differs from the embedded file, or an unknown version.
    Checksum = 4,
    /// A migration failed and was rolled back.
    Migration = 5,
    /// The advisory lock was not obtained in time.
    LockTimeout = 6,
    /// `status --exit-code`: migrations are pending.
    Pending = 7,
    /// The target is not Supabase-shaped or lacks prerequisites.
    Prerequisite = 8,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VmxError {
    #[error("{0}")]
    Usage(String),

    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },

    #[error("{target} is a transaction-mode pooler: {reason}")]
    TransactionPooler { target: String, reason: String },

    #[error("{0}")]
    History(String),

    #[error(
        "{file} failed and was rolled back (SQLSTATE {sqlstate}{position}): {message}; earlier files stay applied"
    )]
    MigrationFailed {
        file: String,
        sqlstate: String,
        message: String,
        /// ", line L, column C" or empty.
        position: String,
    },

    #[error("another vmx run holds the migration lock ({holder}); gave up after {seconds} s — wait for it to finish or raise --lock-timeout")]
    LockTimeout { seconds: u64, holder: String },

    #[error("{0}")]
    Prerequisite(String),

    #[error("{pending} migration(s) pending — run `vmx migrate`")]
    Pending { pending: usize },

    #[error("verify: {failed} check(s) failed")]
    VerifyFailed { failed: usize },
}

impl VmxError {
    pub fn exit(&self) -> Exit {
        match self {
            VmxError::Usage(_) => Exit::Usage,
            VmxError::Connect { .. } | VmxError::TransactionPooler { .. } => Exit::Connect,
            VmxError::History(_) => Exit::Checksum,
            VmxError::MigrationFailed { .. } => Exit::Migration,
            VmxError::LockTimeout { .. } => Exit::LockTimeout,
            VmxError::Prerequisite(_) => Exit::Prerequisite,
            VmxError::Pending { .. } => Exit::Pending,
            VmxError::VerifyFailed { .. } => Exit::Failed,
        }
    }
}

/// The exit code for any error: a `VmxError` anywhere in the chain decides it, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<VmxError>())
        .map(VmxError::exit)
        .unwrap_or(Exit::Failed)
}

/// Renders an error chain as one line: `outer: inner: root`, newlines folded.
pub struct OneLine<'a>(pub &'a anyhow::Error);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:#}", self.0);
        let folded: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        write!(f, "{}", folded.join(" "))
    }
}
