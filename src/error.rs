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
    /// The target is not Supabase-shaped or lacks prerequisites (also: no
    /// PostgreSQL 15+ server binaries for `check` / `sandbox`).
    Prerequisite = 8,
    /// SIGHUP (128 + 1): the throwaway PostgreSQL was removed.
    Hangup = 129,
    /// SIGINT, Ctrl-C (128 + 2): the throwaway PostgreSQL was removed.
    Interrupt = 130,
    /// SIGTERM (128 + 15), what CI runners and `timeout` send.
    Terminate = 143,
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

    /// SIGINT, SIGTERM or SIGHUP arrived; whatever was started is gone.
    #[error("interrupted")]
    Interrupted { signal: i32 },

    #[error("{0}")]
    Output(String),
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
            VmxError::Interrupted { signal } => match *signal {
                1 => Exit::Hangup,
                15 => Exit::Terminate,
                _ => Exit::Interrupt,
            },
            VmxError::Output(_) => Exit::Failed,
        }
    }

    /// Errors whose news the command's own output already gave (verify's last
    /// line `N passed, M failed`, status's `N file(s) pending`): no second line.
    pub fn already_reported(&self) -> bool {
        matches!(
            self,
            VmxError::VerifyFailed { .. } | VmxError::Pending { .. }
        )
    }
}

/// What `main` prints for an error, on stderr, and the exit code: the one
/// place where errors turn into exit codes. `None`: print nothing.
pub fn outcome_of(err: &anyhow::Error) -> (Option<String>, Exit) {
    let typed = err.chain().find_map(|c| c.downcast_ref::<VmxError>());
    match typed {
        Some(e) if e.already_reported() => (None, e.exit()),
        Some(e @ VmxError::Interrupted { .. }) => (Some("vmx: interrupted".into()), e.exit()),
        _ => (
            Some(format!("vmx: error: {}", OneLine(err))),
            exit_code_of(err),
        ),
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
