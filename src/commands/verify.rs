//! `vmx verify`: runs the checklist and renders the report in the chosen format.

use crate::error::VmxError;
use crate::output::Ctx;
use anyhow::Result;

/// Prints the checklist; fails (exit 1) when a check failed, exit 8 when the
/// target has no `auth.users`. `schemas`: `--schemas` (empty: PostgREST's
/// `pgrst.db_schemas`, else `public`).
pub async fn run(ctx: &Ctx, probe: bool, schemas: &[String]) -> Result<()> {
    let (_target, mut conn) = ctx.connect().await?;
    let report = crate::verify::run_checks_in(&mut conn, probe, schemas).await?;
    crate::report::render(ctx, &report)?;
    if report.ok() {
        Ok(())
    } else {
        Err(VmxError::VerifyFailed {
            failed: report.failed(),
        }
        .into())
    }
}
