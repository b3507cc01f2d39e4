//! The plain-HTTP admin listener: `/healthz` (and `/livez`), `/readyz`, `/metrics`, and `/audit`
//! (what the background audit last found, as JSON; only to a bearer token RBAC allows, since it
//! names Services and Secrets of every namespace).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::cluster::live::access::Access;

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
    let reason = state
        .readiness
        .not_ready_reason(state.cluster.as_ref())
        .or_else(|| state.authority.as_ref()?.not_ready_reason());
    match reason {
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

async fn audit(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (Some(auditor), Some(access)) = (&state.audit, &state.audit_access) else {
        return (
            StatusCode::NOT_FOUND,
            "the audit is off: it runs in live mode with --audit-interval above 0s\n",
        )
            .into_response();
    };
    // The report names Services and Secrets of every namespace, and this port is plain HTTP:
    // only a caller RBAC allows (`get` on the non-resource URL /audit) may read it.
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "send a bearer token whose user RBAC allows get on /audit (kubectl create token ...)",
        );
    };
    match access.may_get(token, "/audit").await {
        Access::Allowed => axum::Json(auditor.report()).into_response(),
        Access::Unauthenticated => refuse(
            StatusCode::UNAUTHORIZED,
            "the API server does not accept this bearer token",
        ),
        Access::Forbidden { .. } => refuse(
            StatusCode::FORBIDDEN,
            "this token's user may not get /audit: bind the ClusterRole <release>-audit-reader",
        ),
        Access::Unavailable(why) => refuse(StatusCode::SERVICE_UNAVAILABLE, &why),
    }
}

/// A one-line refusal; 401 says how to authenticate.
fn refuse(code: StatusCode, why: &str) -> Response {
    let mut response = (code, format!("{why}\n")).into_response();
    if code == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}
