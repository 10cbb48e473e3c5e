//! `vmx migrate`, `vmx status`, `vmx add-missing` (issue 3).

use crate::cli::{LockArgs, MigrateArgs};
use crate::output::Ctx;
use anyhow::{bail, Result};

pub async fn migrate(_ctx: &Ctx, _args: &MigrateArgs) -> Result<()> {
    bail!("`vmx migrate` is not implemented yet")
}

pub async fn status(_ctx: &Ctx, _exit_code: bool) -> Result<()> {
    bail!("`vmx status` is not implemented yet")
}

pub async fn add_missing(_ctx: &Ctx, _dry_run: bool, _lock: &LockArgs) -> Result<()> {
    bail!("`vmx add-missing` is not implemented yet")
}
