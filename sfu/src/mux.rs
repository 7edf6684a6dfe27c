//! The UDP socket of one media worker, and the table that says which of the worker's peer
//! connections each datagram belongs to.
//!
//! A datagram from an address we know goes straight to its route. From an unknown address only a
//! STUN binding request is accepted: its USERNAME is `<our ufrag>:<their ufrag>` (RFC 8445
//! §7.2.2), and every peer connection of this server has its own ufrag, so the request names its
//! connection. The address is then learned for the route. Anything else from an unknown address
//! is dropped and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::BytesMut;
use dashmap::DashMap;
use rtc::stun::attributes::ATTR_USERNAME;
use rtc::stun::message::{BINDING_REQUEST, Message, is_stun_message};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::room::RoomInput;
use crate::stats::SfuStats;

/// Largest datagram we read; browsers keep RTP under ~1200 bytes.
const MAX_DATAGRAM: usize = 1500;
/// Socket buffers asked of the kernel; the default ~208 KB drops packets at a few tens of
/// thousands of packets per second (see docs/operations.md).
const SOCKET_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Where datagrams for one peer connection go.
#[derive(Debug)]
pub(crate) struct Route {
    pub room_tx: mpsc::Sender<RoomInput>,
    pub key: PeerKey,
    alive: AtomicBool,
}

/// Names one peer connection inside its room.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PeerKey {
    pub participant: Arc<str>,
    pub session: u64,
    pub pc: vardrum_signalling::PcKind,
}

/// Routing tables shared by the receive loop (readers) and the rooms (writers).
#[derive(Debug, Default)]
pub(crate) struct Routes {
    by_ufrag: DashMap<String, Arc<Route>>,
    by_addr: DashMap<SocketAddr, Arc<Route>>,
}

/// A registration in the routing table; removing it stops delivery to that peer connection.
#[derive(Debug)]
pub(crate) struct RouteGuard {
    routes: Arc<Routes>,
    ufrag: String,
    route: Arc<Route>,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        // Addresses learned for this route are swept lazily by the receive loop.
        self.route.alive.store(false, Ordering::Relaxed);
        self.routes.by_ufrag.remove(&self.ufrag);
    }
}

impl Routes {
    pub fn register(
        self: &Arc<Self>,
        ufrag: String,
        room_tx: mpsc::Sender<RoomInput>,
        key: PeerKey,
    ) -> RouteGuard {
        let route = Arc::new(Route {
            room_tx,
            key,
            alive: AtomicBool::new(true),
        });
        self.by_ufrag.insert(ufrag.clone(), route.clone());
        RouteGuard {
            routes: self.clone(),
            ufrag,
            route,
        }
    }

    /// Finds the route for a datagram from `from`, learning the address from a STUN binding
    /// request when it is new.
    fn lookup(&self, from: SocketAddr, datagram: &[u8]) -> Option<Arc<Route>> {
        // A binding request names its connection authoritatively, even from a known address
        // (a client that reconnects may reuse a port).
        if let Some(ufrag) = local_ufrag_of_binding_request(datagram) {
            let route = self.by_ufrag.get(&ufrag).map(|r| r.clone())?;
            self.by_addr.insert(from, route.clone());
            return Some(route);
        }
        let route = self.by_addr.get(&from).map(|r| r.clone())?;
        if route.alive.load(Ordering::Relaxed) {
            return Some(route);
        }
        self.by_addr.remove(&from);
        None
    }

    #[cfg(test)]
    pub fn learned_addresses(&self) -> usize {
        self.by_addr.len()
    }
}

/// Our ufrag from a STUN binding request, or `None` if the datagram is anything else.
pub(crate) fn local_ufrag_of_binding_request(datagram: &[u8]) -> Option<String> {
    if !is_stun_message(datagram) {
        return None;
    }
    let mut message = Message::new();
    message.unmarshal_binary(datagram).ok()?;
    if message.typ != BINDING_REQUEST {
        return None;
    }
    let username = message.get(ATTR_USERNAME).ok()?;
    let username = std::str::from_utf8(&username).ok()?;
    let (ours, _theirs) = username.split_once(':')?;
    Some(ours.to_owned())
}

/// The media socket and the address we tell peers to send to.
pub(crate) struct UdpMux {
    pub socket: Arc<UdpSocket>,
    /// The address in our ICE candidate: the bound address, or the public address when the
    /// server is behind 1:1 NAT.
    pub advertised: SocketAddr,
    pub routes: Arc<Routes>,
}

impl UdpMux {
    pub fn bind(bind: SocketAddr, public_ip: Option<std::net::IpAddr>) -> std::io::Result<Self> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(bind),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        // Best effort: the kernel caps these at net.core.{r,w}mem_max.
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
        tracing::info!(
            recv_buffer = socket.recv_buffer_size().unwrap_or(0),
            send_buffer = socket.send_buffer_size().unwrap_or(0),
            "media socket buffers (raise net.core.rmem_max/wmem_max if these are small)"
        );
        socket.set_nonblocking(true)?;
        socket.bind(&bind.into())?;
        let socket = UdpSocket::from_std(socket.into())?;
        let local = socket.local_addr()?;
        let ip = match public_ip {
            Some(ip) => ip,
            None if local.ip().is_unspecified() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the media socket is bound to a wildcard address: set the public IP that \
                     clients should send media to (media.public_ip / --public-ip)",
                ));
            }
            None => local.ip(),
        };
        Ok(Self {
            socket: Arc::new(socket),
            advertised: SocketAddr::new(ip, local.port()),
            routes: Arc::new(Routes::default()),
        })
    }

    /// Reads datagrams for as long as it is polled, handing each to the room of its route.
    pub async fn run(socket: Arc<UdpSocket>, routes: Arc<Routes>, stats: Arc<SfuStats>) {
        let mut buf = BytesMut::with_capacity(MAX_DATAGRAM * 64);
        loop {
            if buf.capacity() < MAX_DATAGRAM {
                buf.reserve(MAX_DATAGRAM * 64);
            }
            buf.resize(MAX_DATAGRAM, 0);
            let (len, from) = match socket.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    // ICMP port unreachable surfaces here on some systems; keep serving.
                    tracing::debug!(error = %e, "media socket receive error");
                    continue;
                }
            };
            let datagram = buf.split_to(len);
            stats.datagram_in(len);
            let Some(route) = routes.lookup(from, &datagram) else {
                stats.unroutable();
                continue;
            };
            let input = RoomInput::Datagram {
                key: route.key.clone(),
                from,
                at: Instant::now(),
                data: datagram,
            };
            if route.room_tx.try_send(input).is_err() {
                // The room is saturated or gone: dropping is what UDP would do.
                stats.inbox_drop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::stun::message::Setter;
    use rtc::stun::textattrs::TextAttribute;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut m = Message::new();
        m.set_type(BINDING_REQUEST);
        m.new_transaction_id().unwrap();
        TextAttribute::new(ATTR_USERNAME, username.to_owned())
            .add_to(&mut m)
            .unwrap();
        m.encode();
        m.raw.clone()
    }

    #[test]
    fn finds_our_ufrag_in_a_binding_request() {
        let req = binding_request("serverufrag:browserufrag");
        assert_eq!(
            local_ufrag_of_binding_request(&req).as_deref(),
            Some("serverufrag")
        );
    }

    #[test]
    fn ignores_everything_that_is_not_a_binding_request() {
        assert_eq!(local_ufrag_of_binding_request(b""), None);
        assert_eq!(local_ufrag_of_binding_request(&[0x80; 100]), None);
        assert_eq!(
            local_ufrag_of_binding_request(&binding_request("nocolon")),
            None
        );
        let mut truncated = binding_request("a:b");
        truncated.truncate(24);
        assert_eq!(local_ufrag_of_binding_request(&truncated), None);
    }

    #[tokio::test]
    async fn learns_an_address_from_a_binding_request_and_forgets_dropped_routes() {
        let routes = Arc::new(Routes::default());
        let (tx, _rx) = mpsc::channel(4);
        let key = PeerKey {
            participant: "p".into(),
            session: 1,
            pc: vardrum_signalling::PcKind::Publisher,
        };
        let guard = routes.register("ufragA".into(), tx, key.clone());
        let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert!(routes.lookup(from, b"\x80\x60 not stun").is_none());
        let r = routes.lookup(from, &binding_request("ufragA:x")).unwrap();
        assert_eq!(r.key, key);
        // Known address: any datagram (RTP, DTLS) is routed now.
        assert!(routes.lookup(from, b"\x80\x60 rtp").is_some());
        assert!(routes.lookup(from, &binding_request("other:x")).is_none());
        drop(guard);
        assert!(routes.lookup(from, b"\x80\x60 rtp").is_none());
        assert_eq!(routes.learned_addresses(), 0);
    }
}
