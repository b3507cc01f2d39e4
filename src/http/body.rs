//! Request bodies under a memory budget shared by all connections, read no slower than a floor.
//!
//! Before a body is read, its request reserves memory from the budget:
//! [`Limits::reservation`](super::Limits::reservation) of the body's size, because reviewing a body
//! takes more memory than the body itself (decoded envelope, object and old object, annotation
//! JSON, findings, the answer; `tests/review_memory.rs` measures it). The
//! reservation is held until the answer is written, so requests in progress never hold more than
//! the budget. A request that does not fit waits in line up to
//! [`Limits::memory_wait`](super::Limits) (memory given back goes to the waiting requests in
//! arrival order, a source's own requests never overtaking each other), then gets a one-line
//! refusal:
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

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures::FutureExt;
use http_body_util::BodyExt;
use tokio::sync::oneshot;
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

/// A request waiting for room, in arrival order.
#[derive(Debug)]
struct Waiter {
    source: Option<IpAddr>,
    bytes: usize,
    own: usize,
    granted: oneshot::Sender<Grant>,
}

/// Memory granted to a waiting request. If the request is gone before it claims the grant (its
/// connection closed just then), dropping the grant gives the memory back.
#[derive(Debug)]
struct Grant {
    budget: Arc<MemoryBudget>,
    source: Option<IpAddr>,
    bytes: usize,
    claimed: bool,
}

impl Drop for Grant {
    fn drop(&mut self) {
        if !self.claimed {
            self.budget.give_back(self.source, self.bytes);
        }
    }
}

/// Hashes the source addresses holding memory with FNV-1a rather than SipHash: it runs a few
/// times per request, and the keys are the few cluster addresses with requests in progress.
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// The budget's bookkeeping: what is held in all and by each source, and who waits.
#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_source: HashMap<Option<IpAddr>, usize, BuildHasherDefault<AddrHasher>>,
    waiting: VecDeque<Waiter>,
}

/// The request memory budget.
#[derive(Debug)]
pub struct MemoryBudget {
    budget: usize,
    share: usize,
    held: Mutex<Held>,
    refusals: Option<Arc<Refusals>>,
}

impl MemoryBudget {
    /// A budget of `budget` bytes; each source may hold a quarter of it.
    pub fn new(budget: usize, refusals: Option<Arc<Refusals>>) -> Arc<Self> {
        let this = Arc::new(Self {
            budget,
            share: budget / 4,
            held: Mutex::new(Held::default()),
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

    /// Whether `bytes` more fit for `source` now; `own` is what the asking request holds already.
    fn fits(
        &self,
        held: &Held,
        source: Option<IpAddr>,
        bytes: usize,
        own: usize,
    ) -> Result<(), BodyRefusal> {
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
        Ok(())
    }

    fn add(held: &mut Held, source: Option<IpAddr>, bytes: usize) {
        held.total += bytes;
        *held.by_source.entry(source).or_insert(0) += bytes;
    }

    fn remove(held: &mut Held, source: Option<IpAddr>, bytes: usize) {
        held.total = held.total.saturating_sub(bytes);
        if let Some(by_source) = held.by_source.get_mut(&source) {
            *by_source = by_source.saturating_sub(bytes);
            if *by_source == 0 {
                held.by_source.remove(&source);
            }
        }
    }

    /// Gives `bytes` back, then grants waiting requests that fit now, in arrival order (those
    /// of a source whose earlier request still waits stay behind it).
    fn give_back(self: &Arc<Self>, source: Option<IpAddr>, bytes: usize) {
        let total = {
            let mut guard = self.lock();
            let held = &mut *guard;
            Self::remove(held, source, bytes);
            let mut behind: Vec<Option<IpAddr>> = Vec::new();
            let mut index = 0;
            while index < held.waiting.len() {
                let waiter = &held.waiting[index];
                if waiter.granted.is_closed() {
                    held.waiting.remove(index);
                    continue;
                }
                let (source, bytes, own) = (waiter.source, waiter.bytes, waiter.own);
                if behind.contains(&source) || self.fits(held, source, bytes, own).is_err() {
                    behind.push(source);
                    index += 1;
                    continue;
                }
                if let Some(waiter) = held.waiting.remove(index) {
                    Self::add(held, source, bytes);
                    let grant = Grant {
                        budget: self.clone(),
                        source,
                        bytes,
                        claimed: false,
                    };
                    if let Err(mut grant) = waiter.granted.send(grant) {
                        // Gone already: undo here (the lock is held; the grant must not).
                        grant.claimed = true;
                        Self::remove(held, source, bytes);
                    }
                }
            }
            held.total
        };
        self.report(total);
    }

    /// Takes `bytes` for `source`, waiting in line until `deadline` for room.
    async fn take(
        self: &Arc<Self>,
        source: Option<IpAddr>,
        bytes: usize,
        own: usize,
        deadline: Instant,
    ) -> Result<(), BodyRefusal> {
        let needed = bytes.saturating_add(own);
        if needed > self.largest() {
            return Err(BodyRefusal::NeverFits {
                needed,
                budget: self.budget,
            });
        }
        let (mut granted, refusal) = {
            let mut held = self.lock();
            // Those that gave up waiting leave the line.
            held.waiting.retain(|w| !w.granted.is_closed());
            // Never ahead of an earlier request of the same source.
            let queued = held.waiting.iter().any(|w| w.source == source);
            match self.fits(&held, source, bytes, own) {
                Ok(()) if !queued => {
                    Self::add(&mut held, source, bytes);
                    let total = held.total;
                    drop(held);
                    self.report(total);
                    return Ok(());
                }
                fits => {
                    let refusal = fits
                        .err()
                        .unwrap_or(BodyRefusal::SourceShare { share: self.share });
                    let (tx, rx) = oneshot::channel();
                    held.waiting.push_back(Waiter {
                        source,
                        bytes,
                        own,
                        granted: tx,
                    });
                    (rx, refusal)
                }
            }
        };
        let grant = if let Ok(Ok(grant)) = tokio::time::timeout_at(deadline, &mut granted).await {
            Some(grant)
        } else {
            granted.close();
            // Granted just as the wait ran out: keep it.
            granted.try_recv().ok()
        };
        match grant {
            Some(mut grant) => {
                grant.claimed = true;
                Ok(())
            }
            None => Err(refusal),
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
) -> Result<(Bytes, Reservation), BodyRefusal> {
    let max = limits.max_body_bytes;
    let expected = match declared.map(usize::try_from) {
        Some(Ok(length)) if length <= max => Some(length),
        Some(_) => return Err(BodyRefusal::TooLarge { limit: max }),
        None => None,
    };
    // Body bytes the reservation covers.
    let mut covered = expected.unwrap_or(CHUNKED_STEP.min(max));
    let mut reservation = budget
        .reserve(source, limits.reservation(covered), limits.memory_wait)
        .await?;
    let mut collected = Collected::default();
    let mut pace = Pace::new(limits);
    let mut body = body;
    while let Some(data) = pace.next_data(&mut body).await? {
        let length = collected.len() + data.len();
        if length > max {
            return Err(BodyRefusal::TooLarge { limit: max });
        }
        if length > covered {
            // Only bodies of undeclared length get here: grow the reservation first.
            let target = length.max(covered + CHUNKED_STEP).min(max);
            let more = limits.reservation(target) - limits.reservation(covered);
            reservation.grow(more, limits.memory_wait).await?;
            covered = target;
        }
        pace.credit(data.len());
        collected.push(data, covered);
    }
    Ok((collected.into_bytes(), reservation))
}

/// The body so far: a single frame is kept as it came (no copy); more are copied into one buffer.
#[derive(Debug, Default)]
enum Collected {
    #[default]
    Empty,
    One(Bytes),
    Many(Vec<u8>),
}

impl Collected {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(bytes) => bytes.len(),
            Self::Many(bytes) => bytes.len(),
        }
    }

    /// Adds a frame; `capacity` is the size the whole body is expected to have.
    fn push(&mut self, data: Bytes, capacity: usize) {
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(data),
            Self::One(first) => {
                let mut bytes = Vec::with_capacity(capacity.max(first.len() + data.len()));
                bytes.extend_from_slice(&first);
                bytes.extend_from_slice(&data);
                Self::Many(bytes)
            }
            Self::Many(mut bytes) => {
                bytes.extend_from_slice(&data);
                Self::Many(bytes)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(bytes) => bytes,
            Self::Many(bytes) => Bytes::from(bytes),
        }
    }
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
    async fn next_data(&self, body: &mut Body) -> Result<Option<Bytes>, BodyRefusal> {
        loop {
            // Most bodies are there already: a timer only for a frame that has to be waited for.
            let frame = match body.frame().now_or_never() {
                Some(frame) => frame,
                None if self.rate == 0 => body.frame().await,
                None => tokio::time::timeout_at(self.deadline, body.frame())
                    .await
                    .map_err(|_| BodyRefusal::TooSlow { rate: self.rate })?,
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

    #[tokio::test]
    async fn waiting_requests_of_one_source_are_served_in_arrival_order() {
        let budget = MemoryBudget::new(400, None);
        let long = Duration::from_secs(5);
        let r1 = budget
            .reserve(Some(ip(1)), 60, Duration::ZERO)
            .await
            .unwrap();
        let r2 = budget
            .reserve(Some(ip(1)), 40, Duration::ZERO)
            .await
            .unwrap();
        let spawn = |bytes| {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(Some(ip(1)), bytes, long).await })
        };
        let first = spawn(50);
        tokio::task::yield_now().await;
        let second = spawn(10);
        tokio::task::yield_now().await;
        // Room for the second but not the first: the second stays behind the first.
        drop(r2);
        tokio::task::yield_now().await;
        assert!(!first.is_finished() && !second.is_finished());
        drop(r1);
        assert_eq!(first.await.unwrap().unwrap().bytes(), 50);
        assert_eq!(second.await.unwrap().unwrap().bytes(), 10);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_request_that_gives_up_waiting_leaves_nothing_held() {
        let budget = MemoryBudget::new(400, None);
        let held = budget
            .reserve(Some(ip(1)), 300, Duration::ZERO)
            .await
            .unwrap();
        let refused = budget
            .reserve(Some(ip(2)), 150, Duration::from_millis(20))
            .await;
        assert_eq!(
            refused.err(),
            Some(BodyRefusal::BudgetInUse { needed: 150 })
        );
        // Nor does one whose connection goes away while it waits.
        let gone = {
            let budget = budget.clone();
            tokio::spawn(async move {
                budget
                    .reserve(Some(ip(3)), 150, Duration::from_secs(5))
                    .await
            })
        };
        tokio::task::yield_now().await;
        gone.abort();
        let _ = gone.await;
        drop(held);
        assert_eq!(budget.held(), 0);
        assert!(budget.lock().waiting.is_empty());
    }

    fn frames(chunks: Vec<&'static [u8]>, then_stall: bool) -> Body {
        let ready = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        if then_stall {
            Body::from_stream(futures::StreamExt::chain(ready, futures::stream::pending()))
        } else {
            Body::from_stream(ready)
        }
    }

    static BIG: [u8; 100_000] = [b' '; 100_000];

    #[tokio::test]
    async fn bodies_are_read_whole_within_their_reservation() {
        let budget = MemoryBudget::new(1 << 30, None);
        let limits = Limits::default();
        let source = Some(ip(1));
        // Declared and in several frames.
        let body = frames(vec![b"{\"a\":", b"1}"], false);
        let (bytes, held) = read(&budget, &limits, source, Some(7), body).await.unwrap();
        assert_eq!(&bytes[..], b"{\"a\":1}");
        assert_eq!(held.bytes(), limits.reservation(7));
        drop(held);
        // Undeclared and longer than a step: the reservation grows as it arrives.
        let body = frames(vec![&BIG[..60_000], &BIG[60_000..]], false);
        let (bytes, held) = read(&budget, &limits, source, None, body).await.unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(held.bytes() >= limits.reservation(100_000));
        drop(held);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn too_large_and_too_slow_bodies_are_refused() {
        let budget = MemoryBudget::new(1 << 30, None);
        let limits = Limits {
            max_body_bytes: 100,
            body_min_rate: 1000,
            body_max_pause: Duration::from_millis(50),
            ..Limits::default()
        };
        let refused = read(&budget, &limits, None, Some(101), frames(vec![], false)).await;
        assert_eq!(refused.err(), Some(BodyRefusal::TooLarge { limit: 100 }));
        let chunked = frames(vec![&[b' '; 60], &[b' '; 60]], false);
        let refused = read(&budget, &limits, None, None, chunked).await;
        assert_eq!(refused.err(), Some(BodyRefusal::TooLarge { limit: 100 }));
        let stalled = frames(vec![&[b' '; 10]], true);
        let refused = read(&budget, &limits, None, Some(100), stalled).await;
        assert_eq!(refused.err(), Some(BodyRefusal::TooSlow { rate: 1000 }));
        assert_eq!(budget.held(), 0);
    }
}
