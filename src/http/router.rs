//! The webhook routes and their handlers: `POST /validate` and `POST /mutate`, the body read under
//! its limits (size, memory budget, rate floor: [`super::body`]), the API server's `?timeout=`
//! budget, and plain-text answers for what is not a review.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tower_http::timeout::TimeoutLayer;

use super::AppState;
use super::body::{self, BodyRefusal};
use super::review::{self, Endpoint};
use crate::text::parse_go_duration;

/// The client's address, put into each request's extensions by the accept loop. Requests without
/// it (tests through the router alone) share one budget share.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// What a handler needs of the request besides its body.
struct Call<'a> {
    endpoint: Endpoint,
    query: Option<&'a str>,
    client: Option<SocketAddr>,
}

impl<'a> Call<'a> {
    fn new(endpoint: Endpoint, query: Option<&'a str>, client: Option<ClientAddr>) -> Self {
        Self {
            endpoint,
            query,
            client: client.map(|ClientAddr(addr)| addr),
        }
    }
}

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
    client: Option<axum::Extension<ClientAddr>>,
    body: Body,
) -> Response {
    let client = client.map(|axum::Extension(c)| c);
    let call = Call::new(Endpoint::Validate, query.as_deref(), client);
    handle(&state, &call, body).await
}

async fn mutate(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    client: Option<axum::Extension<ClientAddr>>,
    body: Body,
) -> Response {
    let client = client.map(|axum::Extension(c)| c);
    let call = Call::new(Endpoint::Mutate, query.as_deref(), client);
    handle(&state, &call, body).await
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

async fn handle(state: &AppState, call: &Call<'_>, body: Body) -> Response {
    let started = Instant::now();
    let source = call.client.map(|addr| addr.ip());
    // hyper gives the Content-Length as the body's exact size; chunked bodies have none.
    let declared = HttpBody::size_hint(&body).exact();
    let read = body::read(&state.memory, &state.limits, source, declared, body).await;
    // The reservation is held until the answer is built.
    let (bytes, _reservation) = match read {
        Ok(read) => read,
        Err(refusal) => return refused(state, call, &refusal),
    };
    let budget = timeout_param(call.query)
        .map_or(state.limits.request_timeout, |t| {
            t.min(state.limits.request_timeout)
        })
        .saturating_sub(started.elapsed());
    match review::answer(state, call.endpoint, &bytes, started, budget).await {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(unreadable) => plain(StatusCode::BAD_REQUEST, &unreadable.0),
    }
}

/// The status, metric reason and one-line answer for a body that was not read.
fn refused(state: &AppState, call: &Call<'_>, refusal: &BodyRefusal) -> Response {
    let (status, reason, line) = match refusal {
        BodyRefusal::TooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request body is larger than {limit} bytes"),
        ),
        BodyRefusal::NeverFits { needed, budget } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "never_fits",
            format!(
                "reviewing this body needs about {needed} bytes of memory, more than one \
                 request may hold of the request memory budget ({budget} bytes)"
            ),
        ),
        BodyRefusal::SourceShare { share } => (
            StatusCode::TOO_MANY_REQUESTS,
            "source_memory",
            format!(
                "requests from this address already hold their share of memory ({share} bytes)"
            ),
        ),
        BodyRefusal::BudgetInUse { needed } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "memory_budget",
            format!("server busy: no room for {needed} bytes in the request memory budget; retry"),
        ),
        BodyRefusal::TooSlow { rate } => (
            StatusCode::REQUEST_TIMEOUT,
            "body_too_slow",
            format!("request body arrived slower than {rate} bytes per second"),
        ),
        BodyRefusal::Unreadable(e) => (
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("could not read the request body: {e}"),
        ),
    };
    let endpoint = call.endpoint.as_str();
    state.metrics.observe_rejection(endpoint, reason);
    state
        .metrics
        .refusals
        .request_refused(reason, call.client, &line);
    plain(status, &line)
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
