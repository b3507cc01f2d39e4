//! Who may read the admin port's cluster data (`/audit`): the caller's bearer token, checked the
//! way controller-runtime protects a metrics endpoint (`filters.WithAuthenticationAndAuthorization`):
//! a TokenReview says who the token is, a SubjectAccessReview whether that user may `get` the
//! non-resource URL. RBAC decides, through a ClusterRole with `nonResourceURLs: [/audit]`.
//!
//! Answers are kept for a minute per token (tokens are never logged), so a dashboard polling
//! `/audit` costs the API server two requests a minute, not two a poll.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};

/// What the API server says of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// The token is not one the API server accepts.
    Unauthenticated,
    /// The token's user may not `get` the path.
    Forbidden {
        user: String,
    },
    /// The API server could not be asked (nothing is cached).
    Unavailable(String),
}

/// How long an answer is reused for the same token and path.
const ANSWER_TTL: Duration = Duration::from_secs(60);
/// At most this many answers are kept: expired ones are dropped first, and when all are fresh
/// (a caller sending a new token every time) new ones are not kept.
const MAX_ANSWERS: usize = 1024;
/// At most this many callers are being reviewed at once; another gets 503 at once. Every new
/// token costs the API server two requests, so a caller cycling tokens must not multiply them.
const MAX_REVIEWS_IN_FLIGHT: usize = 4;

pub struct AccessReviewer {
    client: kube::Client,
    answers: Mutex<HashMap<(String, String), (Instant, Access)>>,
    in_flight: tokio::sync::Semaphore,
}

impl std::fmt::Debug for AccessReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessReviewer").finish_non_exhaustive()
    }
}

impl AccessReviewer {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            answers: Mutex::default(),
            in_flight: tokio::sync::Semaphore::new(MAX_REVIEWS_IN_FLIGHT),
        }
    }

    /// May the bearer of `token` `get` the non-resource URL `path`?
    pub async fn may_get(&self, token: &str, path: &str) -> Access {
        let key = (token.to_owned(), path.to_owned());
        if let Some(access) = self.cached(&key) {
            return access;
        }
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Access::Unavailable("too many access reviews in flight".into());
        };
        let access = self.ask(token, path).await;
        if !matches!(access, Access::Unavailable(_)) {
            let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
            if answers.len() >= MAX_ANSWERS {
                answers.retain(|_, (at, _)| at.elapsed() < ANSWER_TTL);
            }
            if answers.len() < MAX_ANSWERS {
                answers.insert(key, (Instant::now(), access.clone()));
            }
        }
        access
    }

    fn cached(&self, key: &(String, String)) -> Option<Access> {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers
            .get(key)
            .filter(|(at, _)| at.elapsed() < ANSWER_TTL)
            .map(|(_, access)| access.clone())
    }

    async fn ask(&self, token: &str, path: &str) -> Access {
        let unavailable = |_| Access::Unavailable("the API server could not be asked".into());
        let reviews = kube::Api::<TokenReview>::all(self.client.clone());
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let reviewed = match reviews
            .create(&kube::api::PostParams::default(), &review)
            .await
        {
            Ok(reviewed) => reviewed,
            Err(error) => return unavailable(error),
        };
        let status = reviewed.status.unwrap_or_default();
        let Some(user) = status.user.filter(|_| status.authenticated == Some(true)) else {
            return Access::Unauthenticated;
        };
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups,
                uid: user.uid,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_owned()),
                    verb: Some("get".to_owned()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api = kube::Api::<SubjectAccessReview>::all(self.client.clone());
        match api.create(&kube::api::PostParams::default(), &access).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => Access::Allowed,
            Ok(_) => Access::Forbidden {
                user: user.username.unwrap_or_default(),
            },
            Err(error) => unavailable(error),
        }
    }
}
