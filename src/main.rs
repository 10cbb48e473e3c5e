//! Parses the command line and dispatches; each command is one function in its module.

use clap::{CommandFactory, Parser};
use colored::Colorize;
use vmx::catalog;
use vmx::cli::{Cli, Command, Format};
use vmx::error::{exit_code_of, Exit, OneLine};
use vmx::output::Ctx;

fn main() {
    let cli = Cli::parse();
    let ctx = Ctx::new(&cli.global);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vmx: error: cannot start the async runtime: {e}");
            std::process::exit(Exit::Failed.code());
        }
    };
    let result = runtime.block_on(run(&ctx, cli.command));
    // Drop the runtime (and with it any sandbox) before exiting.
    drop(runtime);
    if let Err(err) = result {
        eprintln!("{} {}", "vmx: error:".red().bold(), OneLine(&err));
        std::process::exit(exit_code_of(&err).code());
    }
}

async fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::List => list(ctx),
        Command::Show { file } => show(&file),
        Command::Status { exit_code } => vmx::migrate::status(ctx, exit_code).await,
        Command::Migrate(args) => vmx::migrate::migrate(ctx, &args).await,
        Command::AddMissing { dry_run, lock } => {
            vmx::migrate::add_missing(ctx, dry_run, &lock).await
        }
        Command::Verify { probe, schemas } => vmx::verify::verify(ctx, probe, &schemas).await,
        Command::Check { keep } => vmx::check::check(ctx, keep).await,
        Command::Sandbox => vmx::check::sandbox(ctx).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "vmx", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// `vmx list`: the embedded files in order with their SHA-256.
fn list(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.require_not_junit("list")?;
    let files = catalog::migrations();
    if ctx.format == Format::Json {
        let doc: Vec<_> = files
            .iter()
            .map(|m| serde_json::json!({"version": m.version, "name": m.name, "checksum": m.checksum, "bytes": m.sql.len()}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_header(["#", "file", "sha256"]);
    for m in files {
        table.add_row([
            m.version.to_string(),
            m.name.to_string(),
            m.checksum.clone(),
        ]);
    }
    println!("{table}");
    Ok(())
}

/// `vmx show N`: one embedded file, as embedded (BOM removed, LF line ends).
fn show(key: &str) -> anyhow::Result<()> {
    let migration = catalog::find(key).ok_or_else(|| {
        vmx::error::VmxError::Usage(format!(
            "no embedded file {key:?}: give 1-{} or a name from `vmx list`",
            catalog::migrations().len()
        ))
    })?;
    print!("{}", migration.sql);
    Ok(())
}
