//! Sending our last DTLS handshake flight again when the peer repeats its own (RFC 6347
//! 4.2.4): a repeated flight means ours was lost.
//!
//! Why it is here and not left to the core: `rtc-dtls` 0.21.1 clears its retransmission timer
//! on every packet it receives while it waits for the peer's next flight, and a repeated
//! flight is such a packet. So when, say, our ServerHello flight is lost, the browser repeats
//! its ClientHello, the core parses it, finds nothing new, and from then on neither answers
//! nor retransmits: the connection never completes (seen in `tests/lossy_network.rs`, about
//! one handshake in ten or twenty at 5 % loss). This watches the handshake from outside the
//! core: it remembers the datagrams of the flight we sent last and the handshake messages the
//! peer sent, and when a message comes again and the core sends nothing in reply, it hands
//! back our flight to be sent once more. Once the connection is up it stops looking.

use std::net::SocketAddr;

use bytes::BytesMut;

/// DTLS content types (RFC 6347 4.1).
const CHANGE_CIPHER_SPEC: u8 = 20;
const HANDSHAKE: u8 = 22;
/// Bytes of a DTLS record header and of a handshake message header.
const RECORD_HEADER: usize = 13;
const HANDSHAKE_HEADER: usize = 12;
/// A flight is a few datagrams; more than this is not a handshake we take part in.
const MAX_FLIGHT_DATAGRAMS: usize = 16;
/// Handshake messages remembered per connection (a whole handshake is about a dozen).
const MAX_SEEN: usize = 64;
/// Resends per connection, as many as the core's own retransmission budget: a peer (or anyone
/// replaying its records) cannot make us send our flight without limit.
pub const MAX_RESENDS: u8 = 7;

/// One handshake message fragment as its header names it: type, message sequence, offset.
type MessageKey = (u8, u16, u32);

#[derive(Debug, Default)]
pub(crate) struct FlightResend {
    /// The datagrams of the flight we sent last, and where they went.
    flight: Vec<(BytesMut, SocketAddr)>,
    /// The handshake messages of its first datagram: when the core sends them again (its own
    /// retransmission), the flight starts over with the new copies.
    first_keys: Vec<MessageKey>,
    /// The peer sent a new handshake message since our last datagram: the next one we send
    /// begins a new flight.
    peer_moved: bool,
    seen: Vec<MessageKey>,
    /// The peer repeated a message since the core last sent anything.
    repeated: bool,
    resends: u8,
    done: bool,
}

impl FlightResend {
    /// Notes a datagram from the peer.
    pub fn on_received(&mut self, datagram: &[u8]) {
        if self.done {
            return;
        }
        for key in handshake_messages(datagram) {
            if self.seen.contains(&key) {
                self.repeated = true;
            } else if self.seen.len() < MAX_SEEN {
                self.seen.push(key);
                self.peer_moved = true;
            }
        }
    }

    /// Notes a datagram the core sends. Returns whether it belongs to the handshake.
    pub fn on_sent(&mut self, datagram: &BytesMut, to: SocketAddr) -> bool {
        if self.done || !is_handshake_record(datagram) {
            return false;
        }
        let keys = handshake_messages(datagram);
        let core_repeats = !keys.is_empty() && keys == self.first_keys;
        if self.peer_moved || core_repeats || self.flight.is_empty() {
            self.flight.clear();
            self.first_keys = keys;
            self.peer_moved = false;
        }
        if self.flight.len() < MAX_FLIGHT_DATAGRAMS {
            self.flight.push((datagram.clone(), to));
        }
        true
    }

    /// After the core has sent what it had (`core_answered`: some of it was handshake): our
    /// last flight again if the peer repeated itself and the core said nothing.
    pub fn resend(&mut self, core_answered: bool) -> Vec<(BytesMut, SocketAddr)> {
        let repeated = std::mem::take(&mut self.repeated);
        if self.done || core_answered || !repeated || self.resends >= MAX_RESENDS {
            return Vec::new();
        }
        self.resends += 1;
        self.flight.clone()
    }

    /// The handshake is over: forget it.
    pub fn finish(&mut self) {
        if !self.done {
            *self = Self {
                done: true,
                ..Self::default()
            };
        }
    }
}

/// Whether a datagram starts with a handshake or change-cipher-spec record.
fn is_handshake_record(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(&HANDSHAKE | &CHANGE_CIPHER_SPEC))
}

/// The handshake message fragments in a datagram's plaintext (epoch 0) handshake records; the
/// encrypted ones (Finished, epoch 1) cannot be read and are left out.
fn handshake_messages(datagram: &[u8]) -> Vec<MessageKey> {
    let mut keys = Vec::new();
    let mut rest = datagram;
    while rest.len() >= RECORD_HEADER {
        let content_type = rest[0];
        let epoch = u16::from_be_bytes([rest[3], rest[4]]);
        let length = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let Some(body) = rest.get(RECORD_HEADER..RECORD_HEADER + length) else {
            break;
        };
        if content_type == HANDSHAKE && epoch == 0 {
            let mut messages = body;
            while messages.len() >= HANDSHAKE_HEADER {
                let msg_type = messages[0];
                let seq = u16::from_be_bytes([messages[4], messages[5]]);
                let offset = u32::from_be_bytes([0, messages[6], messages[7], messages[8]]);
                let fragment =
                    u32::from_be_bytes([0, messages[9], messages[10], messages[11]]) as usize;
                keys.push((msg_type, seq, offset));
                match messages.get(HANDSHAKE_HEADER + fragment..) {
                    Some(next) => messages = next,
                    None => break,
                }
            }
        }
        rest = &rest[RECORD_HEADER + length..];
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plaintext DTLS 1.2 record holding one unfragmented handshake message.
    fn record(content_type: u8, epoch: u16, msg_type: u8, seq: u16, body_len: usize) -> Vec<u8> {
        let mut message = vec![msg_type];
        message.extend_from_slice(&(body_len as u32).to_be_bytes()[1..]);
        message.extend_from_slice(&seq.to_be_bytes());
        message.extend_from_slice(&[0, 0, 0]);
        message.extend_from_slice(&(body_len as u32).to_be_bytes()[1..]);
        message.resize(HANDSHAKE_HEADER + body_len, 0xab);
        let mut r = vec![content_type, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
        r.extend_from_slice(&(message.len() as u16).to_be_bytes());
        r.extend_from_slice(&message);
        r
    }

    const CLIENT_HELLO: u8 = 1;
    const SERVER_HELLO: u8 = 2;
    const CERTIFICATE: u8 = 11;

    fn peer() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    #[test]
    fn reads_every_message_of_every_plaintext_record() {
        let mut d = record(HANDSHAKE, 0, SERVER_HELLO, 1, 40);
        d.extend(record(HANDSHAKE, 0, CERTIFICATE, 2, 300));
        d.extend(record(HANDSHAKE, 1, 20, 5, 16)); // encrypted Finished: unreadable
        assert_eq!(
            handshake_messages(&d),
            vec![(SERVER_HELLO, 1, 0), (CERTIFICATE, 2, 0)]
        );
        // Cut short, RTP, empty: nothing, and no panic.
        assert!(handshake_messages(&d[..20]).is_empty());
        assert!(handshake_messages(&[0x80, 0x60, 0, 1]).is_empty());
        assert!(handshake_messages(&[]).is_empty());
    }

    #[test]
    fn a_repeated_client_hello_that_the_core_ignores_gets_our_flight_again() {
        let mut r = FlightResend::default();
        let hello = record(HANDSHAKE, 0, CLIENT_HELLO, 1, 80);
        r.on_received(&hello);
        // Our flight 4: two datagrams.
        let f1 = BytesMut::from(&record(HANDSHAKE, 0, SERVER_HELLO, 1, 60)[..]);
        let f2 = BytesMut::from(&record(HANDSHAKE, 0, CERTIFICATE, 2, 400)[..]);
        assert!(r.on_sent(&f1, peer()));
        assert!(r.on_sent(&f2, peer()));
        assert!(!r.on_sent(&BytesMut::from(&[0x80u8, 0x60][..]), peer()));
        assert!(r.resend(false).is_empty(), "nothing was repeated yet");
        // The client repeats its ClientHello (it never saw ours); the core stays silent.
        r.on_received(&hello);
        let again = r.resend(false);
        assert_eq!(again, vec![(f1.clone(), peer()), (f2.clone(), peer())]);
        assert!(r.resend(false).is_empty(), "once per repetition");
        // When the core answers a repetition itself, nothing is added.
        r.on_received(&hello);
        assert!(r.resend(true).is_empty());
    }

    #[test]
    fn a_new_message_from_the_peer_starts_our_next_flight() {
        let mut r = FlightResend::default();
        r.on_received(&record(HANDSHAKE, 0, CLIENT_HELLO, 0, 80));
        let verify = BytesMut::from(&record(HANDSHAKE, 0, 3, 0, 20)[..]);
        r.on_sent(&verify, peer());
        let hello2 = record(HANDSHAKE, 0, CLIENT_HELLO, 1, 100);
        r.on_received(&hello2);
        let server_hello = BytesMut::from(&record(HANDSHAKE, 0, SERVER_HELLO, 1, 60)[..]);
        r.on_sent(&server_hello, peer());
        r.on_received(&hello2);
        assert_eq!(r.resend(false), vec![(server_hello, peer())]);
    }

    #[test]
    fn the_cores_own_retransmission_replaces_the_flight_instead_of_growing_it() {
        let mut r = FlightResend::default();
        let hello = record(HANDSHAKE, 0, CLIENT_HELLO, 1, 80);
        r.on_received(&hello);
        let f1 = BytesMut::from(&record(HANDSHAKE, 0, SERVER_HELLO, 1, 60)[..]);
        let finished = BytesMut::from(&record(HANDSHAKE, 1, 20, 5, 16)[..]);
        for _ in 0..3 {
            r.on_sent(&f1, peer());
            r.on_sent(&finished, peer());
        }
        r.on_received(&hello);
        assert_eq!(r.resend(false), vec![(f1, peer()), (finished, peer())]);
    }

    #[test]
    fn resends_are_bounded_and_stop_once_connected() {
        let mut r = FlightResend::default();
        let hello = record(HANDSHAKE, 0, CLIENT_HELLO, 1, 80);
        r.on_received(&hello);
        r.on_sent(
            &BytesMut::from(&record(HANDSHAKE, 0, SERVER_HELLO, 1, 60)[..]),
            peer(),
        );
        for _ in 0..MAX_RESENDS {
            r.on_received(&hello);
            assert_eq!(r.resend(false).len(), 1);
        }
        r.on_received(&hello);
        assert!(r.resend(false).is_empty(), "budget spent");

        let mut r = FlightResend::default();
        r.on_received(&hello);
        r.on_sent(
            &BytesMut::from(&record(HANDSHAKE, 0, SERVER_HELLO, 1, 60)[..]),
            peer(),
        );
        r.finish();
        r.on_received(&hello);
        assert!(r.resend(false).is_empty());
        assert!(!r.on_sent(
            &BytesMut::from(&record(HANDSHAKE, 0, SERVER_HELLO, 1, 60)[..]),
            peer()
        ));
    }
}
