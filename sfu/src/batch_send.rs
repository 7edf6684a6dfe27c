//! Sending many datagrams with one system call: everything a room's peer connections produce
//! while it works through a batch of inputs goes out together with `sendmmsg(2)` on Linux, since
//! on a busy node the per-datagram system call was the largest single cost after the kernel's
//! UDP path itself (docs/benchmarks.md, "where the time goes"). Elsewhere, one `send_to` each.

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::net::UdpSocket;

use crate::stats::SfuStats;

/// Most datagrams handed to the kernel in one call (the kernel's own limit is 1024).
const MAX_PER_CALL: usize = 64;

/// Datagrams waiting to be sent.
#[derive(Debug, Default)]
pub struct SendBatch {
    queue: Vec<(BytesMut, SocketAddr)>,
}

impl SendBatch {
    pub fn push(&mut self, data: BytesMut, to: SocketAddr) {
        self.queue.push((data, to));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends everything queued. A full send buffer drops the rest, as the network would; a
    /// datagram the kernel refuses (an unreachable address, say) is dropped alone.
    pub fn send(&mut self, socket: &UdpSocket, stats: &SfuStats) {
        let mut at = 0;
        let mut dropped = 0u64;
        while at < self.queue.len() {
            let end = (at + MAX_PER_CALL).min(self.queue.len());
            match send_many(socket, &self.queue[at..end]) {
                Ok(n) if n > 0 => {
                    for (data, _) in &self.queue[at..at + n] {
                        stats.datagram_out(data.len());
                    }
                    at += n;
                }
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    // The first datagram of the call failed on its own account.
                    dropped += 1;
                    at += 1;
                }
                // Full (or nothing sent): the rest goes the way of a congested network.
                _ => break,
            }
        }
        dropped += (self.queue.len() - at) as u64;
        if dropped > 0 {
            stats
                .send_errors
                .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
        }
        self.queue.clear();
    }
}

#[cfg(target_os = "linux")]
fn send_many(socket: &UdpSocket, batch: &[(BytesMut, SocketAddr)]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;

    let addrs: Vec<socket2::SockAddr> = batch.iter().map(|(_, a)| (*a).into()).collect();
    let mut iovs: Vec<libc::iovec> = batch
        .iter()
        .map(|(data, _)| libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(&addrs)
        .map(|(iov, addr)| {
            // SAFETY: an all-zero msghdr is valid (no control data, no flags).
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
            hdr.msg_namelen = addr.len();
            hdr.msg_iov = iov as *mut libc::iovec;
            hdr.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            }
        })
        .collect();
    // Straight to the kernel, not through tokio's `try_io`: nothing in the SFU waits for this
    // socket to become writable, so tokio's cached write readiness would only be a stale guess
    // (on a fresh socket it says "not ready" until the reactor has turned once).
    // SAFETY: `headers` points into `iovs`, `addrs` and the batch's buffers, all alive and
    // unmoved for the duration of the call; the kernel only reads them.
    let n = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            headers.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(not(target_os = "linux"))]
fn send_many(socket: &UdpSocket, batch: &[(BytesMut, SocketAddr)]) -> std::io::Result<usize> {
    let mut n = 0;
    for (data, to) in batch {
        match socket.try_send_to(data, *to) {
            Ok(_) => n += 1,
            Err(e) if n == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_queued_datagram_arrives_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = rx.local_addr().unwrap();
        let stats = SfuStats::default();
        let mut batch = SendBatch::default();
        // More than one call's worth.
        for i in 0..150u32 {
            batch.push(BytesMut::from(&i.to_be_bytes()[..]), to);
        }
        batch.send(&tx, &stats);
        assert!(batch.is_empty());
        let mut buf = [0u8; 16];
        for i in 0..150u32 {
            let (n, _) = rx.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &i.to_be_bytes());
        }
        assert_eq!(
            stats.send_errors.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[tokio::test]
    async fn a_datagram_the_kernel_refuses_is_dropped_alone() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = rx.local_addr().unwrap();
        // An IPv6 destination on an IPv4 socket: refused by the kernel, not by the network.
        let nowhere: SocketAddr = "[::1]:9".parse().unwrap();
        let stats = SfuStats::default();
        let mut batch = SendBatch::default();
        batch.push(BytesMut::from(&b"one"[..]), to);
        batch.push(BytesMut::from(&b"lost"[..]), nowhere);
        batch.push(BytesMut::from(&b"two"[..]), to);
        batch.send(&tx, &stats);
        let mut buf = [0u8; 16];
        for want in [&b"one"[..], &b"two"[..]] {
            let (n, _) = rx.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], want);
        }
        assert_eq!(
            stats.send_errors.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}
