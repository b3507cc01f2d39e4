//! The plain-HTTP admin listener: `/healthz` (and `/livez`), `/readyz`, `/metrics`, and `/audit`
//! (what the background audit last found, as JSON; only with `--audit-report`, since the admin
//! port authenticates nobody).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/audit", get(audit))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.readiness.not_ready_reason(state.cluster.as_ref()) {
        None => (StatusCode::OK, "ready"),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn audit(State(state): State<AppState>) -> axum::response::Response {
    match &state.audit {
        Some(auditor) if state.audit_report => axum::Json(auditor.report()).into_response(),
        // The report names Services and Secrets of every namespace, and the admin port checks
        // nobody: it is served only when asked for, where the port is fenced off.
        Some(_) => (
            StatusCode::NOT_FOUND,
            "the audit report is not served: start with --audit-report (chart: audit.report) \
             where a NetworkPolicy limits who reaches the admin port; the audit_* metrics and \
             `qcloud-ingress-webhook audit` show the findings meanwhile\n",
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "the audit is off: it runs in live mode with --audit-interval above 0s\n",
        )
            .into_response(),
    }
}
