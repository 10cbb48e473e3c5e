//! How results reach the operator: format, colour and verbosity, decided once
//! from the global options. Data goes to stdout through [`Out`], which treats a
//! reader that went away (a closed pipe, `| head -1`) as the end of output,
//! never as a panic; errors and progress go to stderr through [`note`].
//!
//! The API for commands that print (migrate, status, verify, list, …):
//! - `output::stdout()` — the one process-wide `&'static Out`;
//! - `out.line(text) -> bool` — writes `text` and a newline; `false` once the
//!   reader is gone (nothing more is written, nothing panics): a command that
//!   changes things carries on regardless, a command that only prints may stop;
//! - `out.text(text) -> bool` — the same without adding a newline;
//! - `out.reader_gone() -> bool` — whether a write found the reader gone;
//! - `out.finish() -> Result<()>` — at the end: `Ok` when everything was
//!   written or the reader left (EPIPE, exit 0 as ripgrep does), an error for
//!   anything else (a full disk, …);
//! - `output::note(text)` — one line on stderr, never panicking.

use crate::cli::{ColorChoice, Format, Global};
use crate::connect::{DatabaseUrl, Target};
use crate::error::VmxError;
use sqlx::PgConnection;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Standard output that a reader may stop reading at any moment.
#[derive(Debug, Default)]
pub struct Out {
    /// Set by the first failed write: nothing is written after it.
    gone: AtomicBool,
    /// A write error other than a closed pipe, reported by `finish`.
    failure: Mutex<Option<String>>,
}

/// The process's standard output (one flag for every writer).
pub fn stdout() -> &'static Out {
    static OUT: OnceLock<Out> = OnceLock::new();
    OUT.get_or_init(Out::default)
}

impl Out {
    /// Writes `text` and a newline; false when the reader is gone.
    pub fn line(&self, text: impl std::fmt::Display) -> bool {
        self.text(&format!("{text}\n"))
    }

    /// Writes `text` as is; false when the reader is gone.
    pub fn text(&self, text: &str) -> bool {
        self.bytes(text.as_bytes())
    }

    /// Writes bytes as they are; false when the reader is gone.
    pub fn bytes(&self, bytes: &[u8]) -> bool {
        if self.reader_gone() {
            return false;
        }
        let mut lock = std::io::stdout().lock();
        // Flushed at once, so a closed pipe is noticed at the line that met it.
        match lock.write_all(bytes).and_then(|()| lock.flush()) {
            Ok(()) => true,
            Err(e) => {
                self.gone.store(true, Ordering::SeqCst);
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                    failure.get_or_insert_with(|| e.to_string());
                }
                false
            }
        }
    }

    /// Whether a write found that nobody reads stdout any more.
    pub fn reader_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Ok when everything was written or the reader left; an error for any
    /// other write failure (the data did not arrive where it was sent).
    pub fn finish(&self) -> Result<(), VmxError> {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match &*failure {
            Some(e) => Err(VmxError::Output(format!("cannot write to stdout: {e}"))),
            None => Ok(()),
        }
    }
}

/// One line on stderr (progress, notes); never panics when stderr is closed.
pub fn note(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// The global options, resolved: every command receives one.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub format: Format,
    pub color: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub connect_timeout: Duration,
    database_url: Option<DatabaseUrl>,
}

impl Ctx {
    pub fn new(global: &Global) -> Ctx {
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        colored::control::set_override(color);
        Ctx {
            format: global.format.unwrap_or(Format::Human),
            color,
            quiet: global.quiet,
            verbose: global.verbose,
            connect_timeout: Duration::from_secs(global.connect_timeout),
            database_url: global
                .database_url
                .clone()
                .filter(|u| !u.expose().trim().is_empty()),
        }
    }

    /// The same settings pointed at another database (used by `vmx check`).
    pub fn with_database_url(&self, url: String) -> Ctx {
        Ctx {
            database_url: Some(DatabaseUrl::from(url)),
            ..self.clone()
        }
    }

    /// The target from `--database-url` / `DATABASE_URL`, else libpq's `PG*` environment.
    pub fn target(&self) -> Result<Target, VmxError> {
        Target::resolve(self.database_url.as_ref())
    }

    /// Parses the target and connects to it.
    pub async fn connect(&self) -> Result<(Target, PgConnection), VmxError> {
        let target = self.target()?;
        let conn = target.connect(self.connect_timeout).await?;
        Ok((target, conn))
    }

    /// Human progress lines go to stderr unless `-q` or a machine format was asked for.
    pub fn progress(&self) -> bool {
        !self.quiet && self.format == Format::Human
    }

    /// Where this command's data goes.
    pub fn out(&self) -> &'static Out {
        stdout()
    }
}
