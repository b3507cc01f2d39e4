//! Request bodies under a memory budget shared by all connections, read no slower than a floor.
//!
//! Before a body is read, its request reserves memory from the budget: the body's size times
//! [`Limits::review_memory_factor`](super::Limits), because reviewing a body takes far more memory
//! than the body itself (decoded envelope, object and old object, findings, the answer). The
//! reservation is held until the answer is written, so requests in progress never hold more than
//! the budget. A request that does not fit waits up to [`Limits::memory_wait`](super::Limits),
//! then gets a one-line refusal:
//!
//! - 413 when it could never fit: larger than three quarters of the budget;
//! - 429 when its source address already holds a quarter of the budget. One client alone never
//!   holds more, so others always find room; the exception is a single request of up to three
//!   quarters, taken only while it leaves a quarter free;
//! - 503 when the budget is in use by other sources.
//!
//! The body must then arrive at [`Limits::body_min_rate`](super::Limits) bytes per second or
//! faster, pausing at most [`Limits::body_max_pause`](super::Limits): each byte earns
//! `1/rate` seconds, never more than the pause allowance ahead of now. A stalled or trickling body
//! gets 408 and its memory back to the budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Limits;
use super::refusals::Refusals;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Over `--max-body-bytes`.
    TooLarge { limit: usize },
    /// Its reservation is larger than the whole budget.
    NeverFits { needed: usize, budget: usize },
    /// The budget is in use by other sources.
    BudgetInUse { needed: usize },
    /// The source address holds its share of the budget.
    SourceShare { share: usize },
    /// The body arrived slower than the floor.
    TooSlow { rate: u64 },
    /// The connection failed mid-body.
    Unreadable(String),
}

/// The budget's bookkeeping: what is held in all, and by each source.
#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_source: HashMap<Option<IpAddr>, usize>,
}

/// The request memory budget.
#[derive(Debug)]
pub struct MemoryBudget {
    budget: usize,
    share: usize,
    held: Mutex<Held>,
    released: Notify,
    refusals: Option<Arc<Refusals>>,
}

impl MemoryBudget {
    /// A budget of `budget` bytes; each source may hold a quarter of it.
    pub fn new(budget: usize, refusals: Option<Arc<Refusals>>) -> Arc<Self> {
        let this = Arc::new(Self {
            budget,
            share: budget / 4,
            held: Mutex::new(Held::default()),
            released: Notify::new(),
            refusals,
        });
        this.report(0);
        this
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn report(&self, total: usize) {
        if let Some(refusals) = &self.refusals {
            refusals.set_memory(total, self.budget);
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.lock().total
    }

    /// The most one request may ever hold: a source's share, or, alone, all but one share (so a
    /// single large request always leaves room for others).
    fn largest(&self) -> usize {
        self.share.max(self.budget - self.share)
    }

    /// Takes `bytes` for `source` if they fit now; `own` is what the asking request holds already.
    fn try_take(
        &self,
        source: Option<IpAddr>,
        bytes: usize,
        own: usize,
    ) -> Result<(), BodyRefusal> {
        let needed = bytes.saturating_add(own);
        if needed > self.largest() {
            return Err(BodyRefusal::NeverFits {
                needed,
                budget: self.budget,
            });
        }
        let total = {
            let mut held = self.lock();
            let by_source = held.by_source.get(&source).copied().unwrap_or(0);
            let within_share = by_source + bytes <= self.share;
            // Beyond its share, a source may hold one request alone, leaving a share free.
            let alone = by_source == own && held.total + bytes <= self.budget - self.share;
            if !within_share && !alone {
                if by_source > own {
                    return Err(BodyRefusal::SourceShare { share: self.share });
                }
                return Err(BodyRefusal::BudgetInUse { needed: bytes });
            }
            if held.total + bytes > self.budget {
                return Err(BodyRefusal::BudgetInUse { needed: bytes });
            }
            held.total += bytes;
            *held.by_source.entry(source).or_insert(0) += bytes;
            held.total
        };
        self.report(total);
        Ok(())
    }

    fn give_back(&self, source: Option<IpAddr>, bytes: usize) {
        let total = {
            let mut held = self.lock();
            held.total = held.total.saturating_sub(bytes);
            if let Some(by_source) = held.by_source.get_mut(&source) {
                *by_source = by_source.saturating_sub(bytes);
                if *by_source == 0 {
                    held.by_source.remove(&source);
                }
            }
            held.total
        };
        self.report(total);
        self.released.notify_waiters();
    }

    /// Takes `bytes` for `source`, waiting until `deadline` for room.
    async fn take(
        &self,
        source: Option<IpAddr>,
        bytes: usize,
        own: usize,
        deadline: Instant,
    ) -> Result<(), BodyRefusal> {
        loop {
            let released = self.released.notified();
            let mut released = std::pin::pin!(released);
            // Registered before trying, so a release in between is not missed.
            released.as_mut().enable();
            match self.try_take(source, bytes, own) {
                Ok(()) => return Ok(()),
                Err(never @ BodyRefusal::NeverFits { .. }) => return Err(never),
                Err(busy) => {
                    if tokio::time::timeout_at(deadline, released).await.is_err() {
                        return Err(busy);
                    }
                }
            }
        }
    }

    /// A reservation of `bytes` for `source`, waiting at most `wait` for room.
    pub async fn reserve(
        self: &Arc<Self>,
        source: Option<IpAddr>,
        bytes: usize,
        wait: Duration,
    ) -> Result<Reservation, BodyRefusal> {
        self.take(source, bytes, 0, Instant::now() + wait).await?;
        Ok(Reservation {
            budget: self.clone(),
            source,
            bytes,
        })
    }
}

/// Memory held from the budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    source: Option<IpAddr>,
    bytes: usize,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds `bytes`, waiting at most `wait` for room.
    async fn grow(&mut self, bytes: usize, wait: Duration) -> Result<(), BodyRefusal> {
        let deadline = Instant::now() + wait;
        self.budget
            .take(self.source, bytes, self.bytes, deadline)
            .await?;
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.source, self.bytes);
    }
}

/// Reservations of a body whose length is not declared grow in steps of this many body bytes.
const CHUNKED_STEP: usize = 64 * 1024;

/// Reads a request body within `limits`, holding its reservation; `declared` is its
/// `Content-Length`. The reservation is returned with the bytes: keep it until the answer is
/// written.
pub async fn read(
    budget: &Arc<MemoryBudget>,
    limits: &Limits,
    source: Option<IpAddr>,
    declared: Option<u64>,
    body: Body,
) -> Result<(Vec<u8>, Reservation), BodyRefusal> {
    let max = limits.max_body_bytes;
    let expected = match declared.map(usize::try_from) {
        Some(Ok(length)) if length <= max => Some(length),
        Some(_) => return Err(BodyRefusal::TooLarge { limit: max }),
        None => None,
    };
    let first = expected.unwrap_or(CHUNKED_STEP.min(max));
    let factor = limits.review_memory_factor.max(1);
    let mut reservation = budget
        .reserve(source, first.saturating_mul(factor), limits.memory_wait)
        .await?;
    let mut bytes = Vec::with_capacity(first);
    let mut pace = Pace::new(limits);
    let mut body = body;
    while let Some(data) = pace.next_data(&mut body).await? {
        let length = bytes.len() + data.len();
        if length > max {
            return Err(BodyRefusal::TooLarge { limit: max });
        }
        if length > bytes.capacity() {
            // Only bodies of undeclared length get here: grow the reservation first.
            let target = length.max(bytes.capacity() + CHUNKED_STEP).min(max);
            let more = (target - bytes.capacity()).saturating_mul(factor);
            reservation.grow(more, limits.memory_wait).await?;
            bytes.reserve_exact(target - bytes.len());
        }
        bytes.extend_from_slice(&data);
        pace.credit(data.len());
    }
    Ok((bytes, reservation))
}

/// The body's rate floor: the time by which more of it must have arrived.
struct Pace {
    rate: u64,
    max_pause: Duration,
    deadline: Instant,
}

impl Pace {
    fn new(limits: &Limits) -> Self {
        Self {
            rate: limits.body_min_rate,
            max_pause: limits.body_max_pause,
            deadline: Instant::now() + limits.body_max_pause,
        }
    }

    /// The next data frame, `None` at the end of the body.
    async fn next_data(&self, body: &mut Body) -> Result<Option<axum::body::Bytes>, BodyRefusal> {
        loop {
            let frame = if self.rate == 0 {
                body.frame().await
            } else {
                tokio::time::timeout_at(self.deadline, body.frame())
                    .await
                    .map_err(|_| BodyRefusal::TooSlow { rate: self.rate })?
            };
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(BodyRefusal::Unreadable(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                    // Trailers: nothing to keep.
                }
            }
        }
    }

    /// `received` more bytes arrived: they buy `received / rate` seconds, up to the pause limit.
    #[allow(
        clippy::cast_precision_loss,
        reason = "byte counts and rates far below 2^52"
    )]
    fn credit(&mut self, received: usize) {
        if self.rate == 0 {
            return;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.rate as f64);
        self.deadline = (self.deadline + earned).min(Instant::now() + self.max_pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[tokio::test]
    async fn one_source_holds_at_most_a_quarter_and_others_still_fit() {
        let budget = MemoryBudget::new(400, None);
        let wait = Duration::ZERO;
        let first = budget.reserve(Some(ip(1)), 60, wait).await.unwrap();
        let second = budget.reserve(Some(ip(1)), 40, wait).await.unwrap();
        assert_eq!(
            budget.reserve(Some(ip(1)), 1, wait).await.err(),
            Some(BodyRefusal::SourceShare { share: 100 })
        );
        // Another source is not held back by the first one's share.
        let other = budget.reserve(Some(ip(2)), 100, wait).await.unwrap();
        drop((first, second));
        // Alone, a source may take one large request, while it leaves a share free...
        assert_eq!(
            budget.reserve(Some(ip(1)), 300, wait).await.err(),
            Some(BodyRefusal::BudgetInUse { needed: 300 })
        );
        let large = budget.reserve(Some(ip(1)), 200, wait).await.unwrap();
        assert_eq!(budget.held(), 300);
        // ...which a small request of a third source still finds.
        let small = budget.reserve(Some(ip(3)), 100, wait).await.unwrap();
        assert_eq!(
            budget.reserve(Some(ip(4)), 1, wait).await.err(),
            Some(BodyRefusal::BudgetInUse { needed: 1 })
        );
        // More than three quarters never fits.
        assert_eq!(
            budget.reserve(Some(ip(5)), 301, wait).await.err(),
            Some(BodyRefusal::NeverFits {
                needed: 301,
                budget: 400
            })
        );
        drop((large, other, small));
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_waiting_request_gets_memory_given_back_in_time() {
        let budget = MemoryBudget::new(400, None);
        let held = budget
            .reserve(Some(ip(1)), 300, Duration::ZERO)
            .await
            .unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                budget
                    .reserve(Some(ip(2)), 150, Duration::from_secs(5))
                    .await
            })
        };
        tokio::task::yield_now().await;
        drop(held);
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(got.bytes(), 150);
    }
}
