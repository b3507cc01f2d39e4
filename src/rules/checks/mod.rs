//! Every check, run in documentation order over one Ingress.

mod annotations;
mod backends;
mod listeners;
mod routes;
mod tls;
mod update;

use super::context::Ctx;
use super::{Finding, Operation};
use k8s_openapi::api::networking::v1::Ingress;

/// Runs every check. `old` is the object before an UPDATE, for the UPDATE-only checks.
pub fn run(ctx: &Ctx<'_>, operation: Operation, old: Option<&Ingress>, out: &mut Vec<Finding>) {
    annotations::check(ctx, operation, out);
    listeners::check(ctx, out);
    tls::check(ctx, out);
    backends::check(ctx, out);
    routes::check(ctx, out);
    let name = ctx.ingress.metadata.name.as_deref().unwrap_or_default();
    routes::shared_lb(ctx, name, out);
    if let (Operation::Update, Some(old)) = (operation, old) {
        update::check(ctx, old, out);
    }
}
