//! Parses the command line and dispatches; each command is one function in its module.
//! Errors become one stderr line and an exit code here, and only here.

use clap::{CommandFactory, Parser};
use colored::Colorize;
use vmx::catalog;
use vmx::cli::{Cli, Command, Format};
use vmx::error::{outcome_of, Exit};
use vmx::output::{note, Ctx};

fn main() {
    let cli = Cli::parse();
    vmx::notice::install();
    let ctx = Ctx::new(&cli.global);
    let result = match cli.check_format() {
        Ok(()) => run_on_runtime(&ctx, cli.command),
        Err(usage) => Err(usage.into()),
    };
    let code = match result {
        Ok(()) => Exit::Ok,
        Err(err) => {
            let (line, code) = outcome_of(&err);
            if let Some(line) = line {
                match line.strip_prefix("vmx: error:") {
                    Some(rest) => note(format_args!("{}{rest}", "vmx: error:".red().bold())),
                    None => note(line),
                }
            }
            code
        }
    };
    std::process::exit(code.code());
}

fn run_on_runtime(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let result = runtime.block_on(run(ctx, command));
    // Dropping the runtime waits for blocking tasks (a sandbox starting up
    // cleans up there) before the process exits.
    drop(runtime);
    result?;
    ctx.out().finish()?;
    Ok(())
}

async fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::List => list(ctx),
        Command::Show { file } => show(ctx, &file),
        Command::Status { exit_code } => vmx::commands::status::run(ctx, exit_code).await,
        Command::Migrate(args) => vmx::commands::migrate::run(ctx, &args).await,
        Command::AddMissing { dry_run, lock } => {
            vmx::commands::add_missing::run(ctx, dry_run, &lock).await
        }
        Command::Verify { probe, schemas } => {
            vmx::commands::verify::run(ctx, probe, &schemas).await
        }
        Command::Check { keep } => vmx::check::check(ctx, keep).await,
        Command::Sandbox { stop: None } => vmx::check::sandbox(ctx).await,
        Command::Sandbox { stop: Some(dir) } => vmx::check::stop(ctx, &dir),
        Command::Completions { shell } => completions(ctx, shell),
    }
}

/// `vmx list`: the embedded files in order with their SHA-256 (`-v`: sizes too).
fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let files = catalog::migrations();
    if ctx.format == Format::Json {
        let doc: Vec<_> = files
            .iter()
            .map(|m| serde_json::json!({"version": m.version, "name": m.name, "checksum": m.checksum, "bytes": m.sql.len()}))
            .collect();
        ctx.out().line(serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    if ctx.verbose > 0 {
        table.set_header(["#", "file", "sha256", "bytes", "lines"]);
    } else {
        table.set_header(["#", "file", "sha256"]);
    }
    for m in files {
        let mut row = vec![
            m.version.to_string(),
            m.name.to_string(),
            m.checksum.clone(),
        ];
        if ctx.verbose > 0 {
            row.push(m.sql.len().to_string());
            row.push(m.sql.lines().count().to_string());
        }
        table.add_row(row);
    }
    // Row by row: a reader that stops early (`| head -1`) ends the listing quietly.
    for line in table.lines() {
        if !ctx.out().line(line.trim_end()) {
            break;
        }
    }
    Ok(())
}

/// `vmx show N`: one embedded file, as embedded (BOM removed, LF line ends);
/// `-v` names it and its checksum on stderr.
fn show(ctx: &Ctx, key: &str) -> anyhow::Result<()> {
    let migration = catalog::find(key).ok_or_else(|| {
        vmx::error::VmxError::Usage(format!(
            "no embedded file {key:?}: give 1-{} or a name from `vmx list`",
            catalog::migrations().len()
        ))
    })?;
    if ctx.verbose > 0 {
        note(format_args!(
            "vmx: {} {} ({} bytes, sha256 {})",
            migration.version,
            migration.name,
            migration.sql.len(),
            migration.checksum
        ));
    }
    ctx.out().text(&migration.sql);
    Ok(())
}

/// `vmx completions SHELL`: the script on stdout (`-v`: where it goes, on stderr).
fn completions(ctx: &Ctx, shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vmx", &mut script);
    if ctx.verbose > 0 {
        let hint = match shell {
            clap_complete::Shell::Bash => "~/.local/share/bash-completion/completions/vmx",
            clap_complete::Shell::Zsh => "a directory of $fpath, as _vmx",
            clap_complete::Shell::Fish => "~/.config/fish/completions/vmx.fish",
            _ => "where your shell loads completion scripts from",
        };
        note(format_args!("vmx: save this script to {hint}"));
    }
    ctx.out().bytes(&script);
    Ok(())
}
