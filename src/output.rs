//! How results reach the operator: format, colour and verbosity, decided once
//! from the global options. Data goes to stdout, errors and progress to stderr.

use crate::cli::{ColorChoice, Format, Global};
use crate::connect::{DatabaseUrl, Target};
use crate::error::VmxError;
use sqlx::PgConnection;
use std::io::IsTerminal;
use std::time::Duration;

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
            format: global.format,
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

    /// Refuses `--format junit` for commands other than verify.
    pub fn require_not_junit(&self, command: &str) -> Result<(), VmxError> {
        if self.format == Format::Junit {
            return Err(VmxError::Usage(format!(
                "--format junit is only for `vmx verify`, not `vmx {command}`"
            )));
        }
        Ok(())
    }
}
