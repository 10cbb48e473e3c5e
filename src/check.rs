//! `vmx check` and `vmx sandbox`: the throwaway PostgreSQL put to work (issue 5).

use crate::output::Ctx;
use anyhow::{bail, Result};

pub async fn check(_ctx: &Ctx, _keep: bool) -> Result<()> {
    bail!("`vmx check` is not implemented yet")
}

pub async fn sandbox(_ctx: &Ctx) -> Result<()> {
    bail!("`vmx sandbox` is not implemented yet")
}
