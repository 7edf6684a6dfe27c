//! Counters and gauges of the media plane, kept per SFU instance (not in a global registry) so
//! that several servers in one test process each report their own.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct SfuStats {
    pub rooms: AtomicI64,
    pub participants: AtomicI64,
    pub publications: AtomicI64,
    pub subscriptions: AtomicI64,
    pub datagrams_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub rtp_packets_in: AtomicU64,
    pub rtp_packets_forwarded: AtomicU64,
    pub forward_errors: AtomicU64,
    pub send_errors: AtomicU64,
    pub unroutable_datagrams: AtomicU64,
    pub inbox_drops: AtomicU64,
    pub keyframe_requests: AtomicU64,
}

/// A point-in-time copy of [`SfuStats`], for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub rooms: i64,
    pub participants: i64,
    pub publications: i64,
    pub subscriptions: i64,
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    pub rtp_packets_in: u64,
    pub rtp_packets_forwarded: u64,
    pub forward_errors: u64,
    pub send_errors: u64,
    pub unroutable_datagrams: u64,
    pub inbox_drops: u64,
    pub keyframe_requests: u64,
}

impl SfuStats {
    pub(crate) fn datagram_in(&self, bytes: usize) {
        self.datagrams_in.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn datagram_out(&self, bytes: usize) {
        self.datagrams_out.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn unroutable(&self) {
        self.unroutable_datagrams.fetch_add(1, Relaxed);
    }

    pub(crate) fn inbox_drop(&self) {
        self.inbox_drops.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            rooms: self.rooms.load(Relaxed),
            participants: self.participants.load(Relaxed),
            publications: self.publications.load(Relaxed),
            subscriptions: self.subscriptions.load(Relaxed),
            datagrams_in: self.datagrams_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            datagrams_out: self.datagrams_out.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            rtp_packets_in: self.rtp_packets_in.load(Relaxed),
            rtp_packets_forwarded: self.rtp_packets_forwarded.load(Relaxed),
            forward_errors: self.forward_errors.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            unroutable_datagrams: self.unroutable_datagrams.load(Relaxed),
            inbox_drops: self.inbox_drops.load(Relaxed),
            keyframe_requests: self.keyframe_requests.load(Relaxed),
        }
    }
}
