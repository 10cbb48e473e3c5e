//! `vmx verify` (issue 4).

use crate::output::Ctx;
use anyhow::{bail, Result};

pub async fn verify(_ctx: &Ctx, _probe: bool) -> Result<()> {
    bail!("`vmx verify` is not implemented yet")
}
