//! The webhook routes and their handlers: `POST /validate` and `POST /mutate`, the body read under
//! its limit, the API server's `?timeout=` budget, and plain-text answers for what is not a review.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_http::timeout::TimeoutLayer;

use super::AppState;
use super::review::{self, Endpoint};
use crate::text::parse_go_duration;

/// The client's address, put into each request's extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The webhook routes: `POST /validate`, `POST /mutate`. Other methods get 405, other paths 404.
pub fn router(state: AppState) -> Router {
    let timeout = state.limits.request_timeout;
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            // The safety net sits just above the inner deadline, which still answers properly.
            timeout + Duration::from_millis(500),
        ))
        .with_state(state)
}

async fn validate(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    handle(&state, Endpoint::Validate, query.as_deref(), body).await
}

async fn mutate(State(state): State<AppState>, RawQuery(query): RawQuery, body: Body) -> Response {
    handle(&state, Endpoint::Mutate, query.as_deref(), body).await
}

/// Reads `timeout=<N>s` (a Go duration: `10s`, `1m0s`, `500ms`) from the query string: the budget
/// the API server has left for this call.
pub fn timeout_param(query: Option<&str>) -> Option<Duration> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))?;
    parse_go_duration(value)
}

/// A plain-text answer with a one-line reason (anything but a review).
pub(super) fn plain(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        reason.to_owned(),
    )
        .into_response()
}

async fn handle(state: &AppState, endpoint: Endpoint, query: Option<&str>, body: Body) -> Response {
    let started = Instant::now();
    let limit = state.limits.max_body_bytes;
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            state
                .metrics
                .observe_rejection(endpoint.as_str(), "too_large");
            tracing::warn!(
                endpoint = endpoint.as_str(),
                limit,
                "request body over the limit"
            );
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body is larger than {limit} bytes"),
            );
        }
        Err(e) => {
            state
                .metrics
                .observe_rejection(endpoint.as_str(), "bad_request");
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("could not read the request body: {e}"),
            );
        }
    };
    let budget = timeout_param(query)
        .map_or(state.limits.request_timeout, |t| {
            t.min(state.limits.request_timeout)
        })
        .saturating_sub(started.elapsed());
    match review::answer(state, endpoint, &bytes, started, budget).await {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(unreadable) => plain(StatusCode::BAD_REQUEST, &unreadable.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_api_servers_timeout_query() {
        assert_eq!(
            timeout_param(Some("timeout=10s")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            timeout_param(Some("a=b&timeout=1m0s")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            timeout_param(Some("timeout=500ms")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(timeout_param(Some("timeout=soon")), None);
        assert_eq!(timeout_param(Some("timeout=")), None);
        assert_eq!(timeout_param(Some("timeout=10")), None);
        assert_eq!(timeout_param(None), None);
    }
}
