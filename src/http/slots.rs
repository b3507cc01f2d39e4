//! Connection slots that idle clients cannot keep.
//!
//! Every accepted connection takes a slot: at most `max_total` in all and `max_per_source` per
//! source address (0: no per-source cap). When a new connection finds no slot free in either scope,
//! the connection of that scope that has been idle longest is evicted: one in its TLS handshake,
//! one that has not sent its first request, or one idle between requests. A connection in the
//! middle of a request is never evicted. With nothing to evict, the new connection is refused
//! (closed at once), so it never waits in the kernel's backlog in front of the API server's.
//!
//! The slot table knows each connection's [`Phase`]; the connection updates it as it goes
//! ([`Conn`]), and a connection that is evicted, or asked to finish when the server drains, is
//! told through [`Conn::closing`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use super::metrics::Metrics;
use super::refusals::{SlotLimit, Stage};

/// Where a connection is; the slot table evicts only the idle phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Handshake = 0,
    /// Handshake done, no request yet.
    FirstRequest = 1,
    /// Bytes of a request arrived, its headers are not parsed yet.
    Reading = 2,
    /// A request is being handled.
    Busy = 3,
    /// Idle between requests.
    KeepAlive = 4,
    /// Evicted; closing.
    Closing = 5,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Handshake,
            1 => Self::FirstRequest,
            2 => Self::Reading,
            3 => Self::Busy,
            4 => Self::KeepAlive,
            _ => Self::Closing,
        }
    }

    /// The stage an eviction in this phase is counted under; `None` when it may not be evicted.
    fn evictable(self) -> Option<Stage> {
        match self {
            Self::Handshake => Some(Stage::Handshake),
            Self::FirstRequest => Some(Stage::FirstRequest),
            Self::KeepAlive => Some(Stage::KeepAlive),
            Self::Reading | Self::Busy | Self::Closing => None,
        }
    }
}

/// One connection's state, shared by its task, its IO and the slot table.
#[derive(Debug)]
pub struct Conn {
    peer: SocketAddr,
    epoch: Instant,
    phase: AtomicU8,
    /// Milliseconds after `epoch` when the connection last became idle (or was accepted).
    idle_since: AtomicU64,
    /// Requests whose headers were parsed.
    requests: AtomicU64,
    /// 0, or 1 + the [`Stage`] at which a read deadline closed the connection.
    timed_out: AtomicU8,
    /// Told when the connection must close: evicted, or the server drains.
    close: Notify,
}

impl Conn {
    fn new(peer: SocketAddr, epoch: Instant) -> Self {
        Self {
            peer,
            epoch,
            phase: AtomicU8::new(Phase::Handshake as u8),
            idle_since: AtomicU64::new(millis_since(epoch)),
            requests: AtomicU64::new(0),
            timed_out: AtomicU8::new(0),
            close: Notify::new(),
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// The TLS handshake is done; the first request is awaited.
    pub fn handshake_done(&self) {
        self.move_from(Phase::Handshake, Phase::FirstRequest);
    }

    /// The first bytes of a request arrived: no longer idle, so no longer evictable.
    pub fn request_bytes_arrived(&self) {
        if !self.move_from(Phase::FirstRequest, Phase::Reading) {
            self.move_from(Phase::KeepAlive, Phase::Reading);
        }
    }

    /// Marks a request as being handled (its headers are parsed); dropping the guard marks the
    /// connection idle again.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.phase.store(Phase::Busy as u8, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// Resolves once the connection must close: the slot table evicted it, or the server
    /// drains. A connection in a request finishes it first (hyper's graceful shutdown).
    pub async fn closing(&self) {
        self.close.notified().await;
    }

    /// Records that a read deadline closed the connection at `stage`.
    pub fn set_timed_out(&self, stage: Stage) {
        self.timed_out.store(stage as u8 + 1, Ordering::SeqCst);
    }

    pub fn timed_out(&self) -> Option<Stage> {
        match self.timed_out.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(Stage::Handshake),
            2 => Some(Stage::FirstRequest),
            3 => Some(Stage::Headers),
            _ => Some(Stage::KeepAlive),
        }
    }

    fn move_from(&self, from: Phase, to: Phase) -> bool {
        self.phase
            .compare_exchange(from as u8, to as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Held while a request is handled.
#[derive(Debug)]
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        conn.idle_since
            .store(millis_since(conn.epoch), Ordering::SeqCst);
        conn.move_from(Phase::Busy, Phase::KeepAlive);
    }
}

/// The slot table.
#[derive(Debug)]
pub struct Slots {
    max_total: usize,
    max_per_source: usize,
    epoch: Instant,
    table: Mutex<Table>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    by_source: HashMap<IpAddr, usize>,
    conns: HashMap<u64, Arc<Conn>>,
    /// Evictions made under the lock, reported after it.
    evictions: Vec<Evicted>,
}

/// A connection's slot; dropping it frees the slot (unless the connection was evicted, which
/// freed it already).
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    conn: Arc<Conn>,
}

impl Slot {
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open = {
            let mut table = self.slots.lock();
            if table.conns.remove(&self.id).is_some() {
                table.forget_source(self.conn.peer.ip());
            }
            table.conns.len()
        };
        self.slots.metrics.refusals.set_open(open);
    }
}

/// An eviction to report once the table is unlocked.
type Evicted = (SlotLimit, Stage, SocketAddr);

impl Slots {
    /// `max_per_source` 0 means no per-source cap.
    pub fn new(max_total: usize, max_per_source: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_source,
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves counts that are still consistent.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells every connection to finish and close (the drain).
    pub fn close_all(&self) {
        for conn in self.lock().conns.values() {
            conn.close.notify_one();
        }
    }

    /// A slot for a connection from `peer`, evicting the longest-idle connection of a full scope;
    /// `Err` names the limit when nothing could be evicted.
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, SlotLimit> {
        let (admitted, evicted, open) = {
            let mut table = self.lock();
            let admitted = self.admit_locked(&mut table, peer);
            (
                admitted,
                std::mem::take(&mut table.evictions),
                table.conns.len(),
            )
        };
        for (limit, stage, victim) in evicted {
            self.metrics
                .refusals
                .connection_evicted(limit, stage, victim);
        }
        self.metrics.refusals.set_open(open);
        admitted
    }

    fn admit_locked(
        self: &Arc<Self>,
        table: &mut Table,
        peer: SocketAddr,
    ) -> Result<Slot, SlotLimit> {
        let source = peer.ip();
        let per_source = table.by_source.get(&source).copied().unwrap_or(0);
        if self.max_per_source > 0 && per_source >= self.max_per_source {
            table.evict_oldest(Some(source), SlotLimit::Source)?;
        }
        if table.conns.len() >= self.max_total {
            table.evict_oldest(None, SlotLimit::Connections)?;
        }
        table.next_id += 1;
        let id = table.next_id;
        let conn = Arc::new(Conn::new(peer, self.epoch));
        table.conns.insert(id, conn.clone());
        *table.by_source.entry(source).or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            id,
            conn,
        })
    }
}

impl Table {
    fn forget_source(&mut self, source: IpAddr) {
        if let Some(count) = self.by_source.get_mut(&source) {
            *count -= 1;
            if *count == 0 {
                self.by_source.remove(&source);
            }
        }
    }

    /// Evicts the connection idle longest (of `source`, or of any source), or says which limit
    /// could not be made room in.
    fn evict_oldest(&mut self, source: Option<IpAddr>, limit: SlotLimit) -> Result<(), SlotLimit> {
        // A candidate that starts a request as it is picked is passed over; a few tries are plenty.
        for _ in 0..8 {
            let victim = self
                .conns
                .iter()
                .filter(|(_, c)| source.is_none_or(|s| c.peer.ip() == s))
                .filter(|(_, c)| c.phase().evictable().is_some())
                .min_by_key(|(_, c)| c.idle_since.load(Ordering::SeqCst))
                .map(|(id, c)| (*id, c.clone()));
            let Some((id, conn)) = victim else {
                return Err(limit);
            };
            let phase = conn.phase();
            // It may have started a request since it was picked; then look again.
            let Some(stage) = phase.evictable() else {
                continue;
            };
            if !conn.move_from(phase, Phase::Closing) {
                continue;
            }
            self.conns.remove(&id);
            self.forget_source(conn.peer.ip());
            conn.close.notify_one();
            self.evictions.push((limit, stage, conn.peer));
            return Ok(());
        }
        Err(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], port))
    }

    /// Marks `slot` idle since `at` milliseconds after the epoch.
    fn idle_since(slot: &Slot, at: u64) {
        slot.conn.idle_since.store(at, Ordering::SeqCst);
    }

    #[test]
    fn the_connection_idle_longest_makes_room_and_busy_ones_never_do() {
        let slots = Slots::new(3, 0, Arc::new(Metrics::new()));
        let busy = slots.admit(peer(1, 1)).unwrap();
        let in_flight = busy.conn().start_request();
        let older = slots.admit(peer(2, 1)).unwrap();
        older.conn().handshake_done();
        let newer = slots.admit(peer(3, 1)).unwrap();
        idle_since(&busy, 0);
        idle_since(&older, 10);
        idle_since(&newer, 20);
        let fourth = slots.admit(peer(4, 1)).unwrap();
        assert_eq!(older.conn().phase(), Phase::Closing);
        assert_eq!(newer.conn().phase(), Phase::Handshake);
        assert_eq!(busy.conn().phase(), Phase::Busy);
        // Dropping an evicted connection's slot frees nothing twice.
        drop(older);
        assert_eq!(slots.lock().conns.len(), 3);
        // With every other connection busy or reading, a new one is refused.
        newer.conn().handshake_done();
        newer.conn().request_bytes_arrived();
        let _reading = fourth.conn().start_request();
        assert_eq!(slots.admit(peer(5, 1)).err(), Some(SlotLimit::Connections));
        // Once the request is answered the connection is idle again, and evictable.
        drop(in_flight);
        assert_eq!(busy.conn().phase(), Phase::KeepAlive);
        assert!(slots.admit(peer(5, 1)).is_ok());
        assert_eq!(busy.conn().phase(), Phase::Closing);
    }

    #[test]
    fn a_source_at_its_cap_gives_up_its_own_idle_connection_only() {
        let slots = Slots::new(10, 2, Arc::new(Metrics::new()));
        let other = slots.admit(peer(9, 1)).unwrap();
        idle_since(&other, 0);
        let first = slots.admit(peer(1, 1)).unwrap();
        let second = slots.admit(peer(1, 2)).unwrap();
        idle_since(&first, 10);
        idle_since(&second, 20);
        let third = slots.admit(peer(1, 3)).unwrap();
        // The other source's connection, idle longer, is not touched.
        assert_eq!(other.conn().phase(), Phase::Handshake);
        assert_eq!(first.conn().phase(), Phase::Closing);
        let _a = second.conn().start_request();
        let _b = third.conn().start_request();
        assert_eq!(slots.admit(peer(1, 4)).err(), Some(SlotLimit::Source));
        assert!(slots.admit(peer(2, 1)).is_ok());
    }
}
