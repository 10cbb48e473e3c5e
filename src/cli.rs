//! Every command-line argument, in one place, with the `--help` text.

use crate::connect::DatabaseUrl;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "vmx",
    version,
    about = "Applies the Voice Matrix AI schema to Supabase (PostgreSQL) and proves it keeps its promises",
    long_about = "vmx embeds the five schema files of the Voice Matrix AI setup guide \
(schema.sql, assistant-schema.sql, phone-number-schema.sql, call-logs-schema.sql, \
missing-tables-schema.sql), applies them in order with checksums, and verifies that the \
database isolates users, enforces limits, counts usage exactly and cascades deletes.",
    after_help = "Examples:\n  vmx check                                   # everything, on a throwaway local PostgreSQL\n  DATABASE_URL=postgres://... vmx migrate     # apply what is pending\n  vmx verify --format junit > vmx-junit.xml   # the checklist for CI\n\nExit codes: 0 ok, 1 verify failed or other error, 2 usage, 3 cannot connect, \
4 checksum mismatch or unknown version, 5 migration failed (rolled back), 6 lock timeout, \
7 pending migrations (status --exit-code), 8 target lacks prerequisites (or no PostgreSQL 15+ \
server binaries for check/sandbox), 130/143/129 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// PostgreSQL URL of the target (postgres://user:password@host:5432/db?sslmode=verify-full).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Output format [default: human]: list, status, migrate, add-missing take
    /// human|json; verify and check also junit|github (Markdown for
    /// $GITHUB_STEP_SUMMARY); show, completions and sandbox take none.
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,

    /// When to colour the output: auto = on a terminal and without NO_COLOR.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Seconds to wait for a connection before giving up (0: no limit, as libpq's connect_timeout).
    #[arg(long, global = true, default_value_t = 10, value_name = "S")]
    pub connect_timeout: u64,

    /// Quiet: only errors (verify still prints its failures, warnings and last line).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more: every check, the target, timings (-vv: also server and connection details).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    /// Markdown for a GitHub Actions job summary.
    Github,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Github => "github",
        }
    }
}

impl Cli {
    /// `--format` is global to clap, so it is checked here, once: a format is
    /// accepted only by a command that has something to print in it.
    pub fn check_format(&self) -> Result<(), crate::error::VmxError> {
        let Some(format) = self.global.format else {
            return Ok(());
        };
        let (name, accepted): (&str, &[Format]) = match &self.command {
            Command::List => ("list", &[Format::Human, Format::Json]),
            Command::Status { .. } => ("status", &[Format::Human, Format::Json]),
            Command::Migrate(_) => ("migrate", &[Format::Human, Format::Json]),
            Command::AddMissing { .. } => ("add-missing", &[Format::Human, Format::Json]),
            Command::Verify { .. } => (
                "verify",
                &[Format::Human, Format::Json, Format::Junit, Format::Github],
            ),
            Command::Check { .. } => (
                "check",
                &[Format::Human, Format::Json, Format::Junit, Format::Github],
            ),
            Command::Show { .. } => ("show", &[]),
            Command::Sandbox { .. } => ("sandbox", &[]),
            Command::Completions { .. } => ("completions", &[]),
        };
        if accepted.contains(&format) {
            return Ok(());
        }
        let message = if accepted.is_empty() {
            format!("`vmx {name}` has no --format: it prints one kind of output")
        } else {
            let names: Vec<&str> = accepted.iter().map(|f| f.name()).collect();
            format!(
                "--format {} is not for `vmx {name}`, which takes {}",
                format.name(),
                names.join(" or ")
            )
        };
        Err(crate::error::VmxError::Usage(message))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the embedded schema files in order with their SHA-256 (no database needed).
    #[command(after_help = "Example:\n  vmx list")]
    List,

    /// Print one embedded schema file, by number (1-5) or name.
    #[command(after_help = "Examples:\n  vmx show 5\n  vmx show call-logs-schema.sql | less")]
    Show {
        /// The file's number in the guide's order, or its name.
        file: String,
    },

    /// Show each file as applied (when, by whom), pending, or with a checksum mismatch.
    #[command(
        after_help = "Examples:\n  vmx status\n  vmx status --exit-code   # 0 up to date, 7 pending, 4 mismatch or unknown"
    )]
    Status {
        /// Exit 7 when files are pending and 4 on a mismatch or unknown version.
        #[arg(long)]
        exit_code: bool,
    },

    /// Apply the pending schema files in order, each once, each in its own transaction.
    #[command(
        after_help = "Examples:\n  vmx migrate --dry-run                 # print the plan, change nothing\n  vmx migrate\n  vmx migrate --to 4                    # stop after call-logs-schema.sql\n  vmx migrate --supabase-compat         # plain PostgreSQL (CI): install the Supabase stand-in first"
    )]
    Migrate(MigrateArgs),

    /// Option B: add only the three tables of missing-tables-schema.sql and backfill existing users.
    #[command(after_help = "Examples:\n  vmx add-missing --dry-run\n  vmx add-missing")]
    AddMissing {
        /// Print what would be done and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        lock: LockArgs,
    },

    /// Check tables, RLS, policies, triggers, cascades, functions, grants and history.
    #[command(
        after_help = "Examples:\n  vmx verify\n  vmx verify --probe                    # also prove the promises as two throwaway users (rolled back)\n  vmx verify --format junit > vmx-junit.xml\n\nExit codes: 0 no failures (warnings allowed), 1 failures, 3 cannot connect, 8 no auth.users."
    )]
    Verify {
        /// Add behavioural checks, run inside one transaction that is always rolled back.
        #[arg(long)]
        probe: bool,
        /// Schemas the API exposes (default: PostgREST's pgrst.db_schemas when set, else public).
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        schemas: Vec<String>,
    },

    /// Everything on a throwaway local PostgreSQL: compat, migrate, verify --probe, then gone.
    #[command(
        after_help = "Examples:\n  vmx check\n  vmx check --keep      # leave the server running and print its URL\n  vmx check --format github >> \"$GITHUB_STEP_SUMMARY\"\n\nNeeds PostgreSQL 15+ server binaries (initdb, postgres), not a running server; \
VMX_PG_BINDIR names their directory when they are not found. Exit codes: verify's; 8 no usable \
server binaries; 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (nothing left behind)."
    )]
    Check {
        /// Leave the throwaway server running and print its URL.
        #[arg(long)]
        keep: bool,
    },

    /// Start the throwaway PostgreSQL with the schema applied, print its URL, and wait for Ctrl-C.
    #[command(
        after_help = "Examples:\n  vmx sandbox                       # then, in another terminal: psql \"$URL\"\n  vmx sandbox --stop /tmp/vmx-pg-ab12  # stop what `vmx check --keep` left running\n\nNeeds PostgreSQL 15+ server binaries (initdb, postgres); VMX_PG_BINDIR names their directory."
    )]
    Sandbox {
        /// Stop the throwaway PostgreSQL in DIR (left by `vmx check --keep`) and remove DIR.
        #[arg(long, value_name = "DIR")]
        stop: Option<std::path::PathBuf>,
    },

    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  vmx completions bash > /etc/bash_completion.d/vmx\n  vmx completions zsh > \"${fpath[1]}/_vmx\""
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Clone)]
pub struct MigrateArgs {
    /// Print the plan (applied, to apply, checksums) and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Stop after file N (1-5).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=5))]
    pub to: Option<i32>,

    /// Install the Supabase stand-in (roles, auth.users, auth.uid()) first, where auth.users is absent.
    #[arg(long)]
    pub supabase_compat: bool,

    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args, Clone)]
pub struct LockArgs {
    /// Seconds to wait for another vmx run's migration lock.
    #[arg(long, default_value_t = 60, value_name = "S")]
    pub lock_timeout: u64,

    /// Seconds a statement may wait for a table lock held by production traffic.
    #[arg(long, default_value_t = 10, value_name = "S")]
    pub statement_lock_timeout: u64,
}
