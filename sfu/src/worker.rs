//! Media workers: each is one thread with a single-threaded runtime, one UDP socket, and the
//! rooms placed on it.
//!
//! Why not rooms as tasks on the server's multi-threaded runtime: every datagram wakes its room
//! task, and on a work-stealing runtime a wake-up with an idle worker around also wakes that
//! worker (a futex call each way) only for it to find nothing to do: 12-16 % of the SFU's CPU in
//! the 1:1 benchmark's profile (docs/benchmarks.md). Inside one worker the socket, the
//! receive loop and its rooms share a thread, so a datagram reaches its room as a queue push on
//! the same thread, and the thread sleeps only when it has nothing left to do. Several workers
//! (one per core but one, by default) use several cores; a room never spans two, so nothing of the
//! forwarding path is shared between threads.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::mux::UdpMux;
use crate::stats::SfuStats;

/// One media worker, as the SFU sees it from outside its thread.
pub(crate) struct Worker {
    pub mux: UdpMux,
    /// Where this worker's rooms are spawned.
    pub handle: Handle,
    /// What its rooms count into, as they open and close and people join and leave.
    pub counters: Arc<WorkerCounters>,
}

/// Rooms and participants on one worker, kept by the rooms themselves (next to `SfuStats`).
/// A new room goes to the worker with the fewest participants (a group visit of ten weighs more
/// than a 1:1 visit), then with the fewest rooms.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub rooms: AtomicUsize,
    pub participants: AtomicUsize,
}

/// What one media worker carries, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerLoad {
    pub rooms: usize,
    pub participants: usize,
}

impl Worker {
    pub fn load(&self) -> WorkerLoad {
        WorkerLoad {
            rooms: self.counters.rooms.load(Ordering::Relaxed),
            participants: self.counters.participants.load(Ordering::Relaxed),
        }
    }

    /// Binds the worker's socket and starts its thread. The thread receives datagrams until
    /// `stop` fires or its sender is dropped; rooms spawned on it run as long as it does.
    pub fn start(
        index: usize,
        bind: SocketAddr,
        public_ip: Option<IpAddr>,
        stats: Arc<SfuStats>,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // The socket registers with the reactor of the runtime it is created in: this one.
        let mux = {
            let _entered = runtime.enter();
            UdpMux::bind(bind, public_ip)?
        };
        let handle = runtime.handle().clone();
        let (socket, routes) = (mux.socket.clone(), mux.routes.clone());
        std::thread::Builder::new()
            .name(format!("vardrum-media-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = UdpMux::run(socket, routes, stats) => {}
                        _ = stop.wait_for(|stopped| *stopped) => {}
                    }
                });
                // Dropping the runtime here cancels whatever room task is still on it; after a
                // clean shutdown there is none.
            })?;
        Ok(Self {
            mux,
            handle,
            counters: Arc::default(),
        })
    }
}

/// The addresses the workers bind: `first`'s port and the ones after it, or port 0 (any free
/// port) for each when `first` asks for port 0.
pub(crate) fn bind_addresses(
    first: SocketAddr,
    workers: usize,
) -> std::io::Result<Vec<SocketAddr>> {
    (0..workers)
        .map(|i| {
            if first.port() == 0 {
                return Ok(first);
            }
            let port = u16::try_from(i)
                .ok()
                .and_then(|i| first.port().checked_add(i))
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "{workers} media workers from port {} run past port 65535",
                            first.port()
                        ),
                    )
                })?;
            Ok(SocketAddr::new(first.ip(), port))
        })
        .collect()
}

/// The worker a new room goes to: the one with the fewest participants, then the fewest rooms
/// (a room just opened has no participant yet), then the first.
pub(crate) fn least_loaded(workers: &[Worker]) -> usize {
    workers
        .iter()
        .enumerate()
        .min_by_key(|(_, w)| {
            let load = w.load();
            (load.participants, load.rooms)
        })
        .map_or(0, |(i, _)| i)
}

/// How many workers "automatic" means: one per core the process may use but one, which is left
/// to HTTP, signalling, the portal and the database. Measured on 2 cores (docs/benchmarks.md),
/// one worker carrying all rooms cost 7-8 % less CPU per stream than two half-busy ones: a
/// busier thread handles more datagrams per wake-up. So workers are added for cores, not for
/// load.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_take_consecutive_ports_or_each_a_free_one() {
        let first: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let ports: Vec<u16> = bind_addresses(first, 3)
            .unwrap()
            .iter()
            .map(|a| a.port())
            .collect();
        assert_eq!(ports, [50000, 50001, 50002]);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(bind_addresses(any, 2).unwrap(), [any, any]);
        let last: SocketAddr = "127.0.0.1:65535".parse().unwrap();
        let err = bind_addresses(last, 2).unwrap_err();
        assert!(err.to_string().contains("past port 65535"), "{err}");
    }

    #[test]
    fn a_new_room_goes_to_the_worker_with_the_fewest_participants_then_rooms() {
        let stats = Arc::new(SfuStats::default());
        let (_stop, rx) = watch::channel(false);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let workers: Vec<Worker> = (0..3)
            .map(|i| Worker::start(i, any, None, stats.clone(), rx.clone()).unwrap())
            .collect();
        assert_eq!(least_loaded(&workers), 0);
        workers[0].counters.rooms.store(2, Ordering::Relaxed);
        workers[1].counters.rooms.store(1, Ordering::Relaxed);
        workers[2].counters.rooms.store(1, Ordering::Relaxed);
        assert_eq!(least_loaded(&workers), 1);
        workers[1].counters.rooms.store(3, Ordering::Relaxed);
        assert_eq!(least_loaded(&workers), 2);
        // One group of ten on worker 0 outweighs two 1:1 visits on worker 1.
        workers[0].counters.rooms.store(1, Ordering::Relaxed);
        workers[0]
            .counters
            .participants
            .store(10, Ordering::Relaxed);
        workers[1].counters.rooms.store(2, Ordering::Relaxed);
        workers[1].counters.participants.store(4, Ordering::Relaxed);
        workers[2].counters.rooms.store(2, Ordering::Relaxed);
        workers[2].counters.participants.store(4, Ordering::Relaxed);
        assert_eq!(least_loaded(&workers), 1);
        workers[1]
            .counters
            .participants
            .store(12, Ordering::Relaxed);
        assert_eq!(least_loaded(&workers), 2);
    }
}
