//! Negotiation: the offers and answers of a participant's two peer connections. The client
//! offers on its publisher connection and the server answers; the server offers everyone
//! else's tracks on the subscriber connection, one offer at a time, and offers again when the
//! set of tracks changed while an offer was outstanding.

use std::sync::Arc;
use std::time::Instant;

use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use vardrum_signalling::{CandidateInit, ErrorCode, PcKind, ServerMessage};

use super::Room;
use crate::mux::PeerKey;
use crate::peer::{AUDIO_LEVEL_URI, Peer, PeerContext, extmap_id};

impl Room {
    pub(super) fn publisher_offer(&mut self, id: &Arc<str>, sdp: String, now: Instant) {
        let Some(i) = self.index(id) else { return };
        if self.media[i].publisher.is_none() {
            let key = PeerKey {
                participant: id.clone(),
                session: self.media[i].session,
                pc: PcKind::Publisher,
            };
            match Peer::new(&self.peer_context(), key, now) {
                Ok(peer) => self.media[i].publisher = Some(peer),
                Err(e) => {
                    tracing::error!(error = %e, "could not create a peer connection");
                    self.media[i].send(ServerMessage::error(
                        ErrorCode::Internal,
                        "the server could not create a peer connection",
                    ));
                    return;
                }
            }
        }
        let p = &mut self.media[i];
        let Some(peer) = p.publisher.as_mut() else {
            return;
        };
        let audio_level_ext = extmap_id(&sdp, AUDIO_LEVEL_URI);
        let result = (|| {
            let offer = RTCSessionDescription::offer(sdp)?;
            peer.pc.set_remote_description(now, offer)?;
            let answer = peer.pc.create_answer(None)?;
            peer.pc.set_local_description(now, answer)?;
            Ok::<_, rtc::shared::error::Error>(())
        })();
        match result {
            Ok(()) => {
                peer.apply_early_arrivals();
                let sdp = peer
                    .pc
                    .local_description()
                    .map(|d| d.sdp)
                    .unwrap_or_default();
                // Accepted in our answer only if we offered it: then the client sends it.
                p.audio_level_ext = audio_level_ext.filter(|_| sdp.contains(AUDIO_LEVEL_URI));
                let sdp = candidates_where_bundled(&sdp);
                p.send(ServerMessage::Answer {
                    pc: PcKind::Publisher,
                    sdp,
                });
            }
            Err(e) => {
                // A failed first offer leaves no half-made connection behind.
                if peer.pc.current_remote_description().is_none() {
                    p.publisher = None;
                }
                p.send(ServerMessage::error(
                    ErrorCode::BadSdp,
                    format!("the offer could not be applied: {e}"),
                ));
            }
        }
        self.pump(id, PcKind::Publisher, now);
    }

    pub(super) fn subscriber_answer(&mut self, id: &Arc<str>, sdp: String, now: Instant) {
        let Some(i) = self.index(id) else { return };
        let p = &mut self.media[i];
        if !p.offer_outstanding {
            p.send(ServerMessage::error(
                ErrorCode::UnexpectedAnswer,
                "no subscriber offer is waiting for an answer",
            ));
            return;
        }
        let Some(peer) = p.subscriber.as_mut() else {
            return;
        };
        let result = RTCSessionDescription::answer(sdp)
            .and_then(|answer| peer.pc.set_remote_description(now, answer));
        if let Err(e) = result {
            p.send(ServerMessage::error(
                ErrorCode::BadSdp,
                format!("the answer could not be applied: {e}"),
            ));
            return;
        }
        peer.apply_early_arrivals();
        p.offer_outstanding = false;
        // Learn the payload type each subscription goes out with on this connection.
        let mut newly_bound = Vec::new();
        for sub in p
            .subscriptions
            .iter_mut()
            .filter(|s| s.payload_type.is_none())
        {
            let Some(mut sender) = peer.pc.rtp_sender(sub.sender_id) else {
                continue;
            };
            sub.payload_type = sender
                .get_parameters()
                .rtp_parameters
                .codecs
                .iter()
                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&sub.mime_type))
                .map(|c| c.payload_type);
            if sub.payload_type.is_some() && sub.kind == RtpCodecKind::Video {
                newly_bound.push((sub.publisher.clone(), sub.publication.clone(), sub.target()));
            }
        }
        let connected = peer.connected;
        let again = std::mem::take(&mut p.renegotiate);
        if connected {
            for (publisher, publication, quality) in newly_bound {
                let target = self.target_layer(&publisher, &publication, quality, now);
                self.request_keyframe(&publisher, &publication, target, now);
            }
        }
        if again {
            self.negotiate_subscriber(id);
        }
        self.pump(id, PcKind::Subscriber, now);
    }

    /// A trickled candidate of the client for one of its connections.
    pub(super) fn candidate(
        &mut self,
        key: &Arc<str>,
        pc: PcKind,
        candidate: Option<CandidateInit>,
        now: Instant,
    ) {
        let Some(i) = self.index(key) else { return };
        let result = match self.media[i].peer_mut(pc) {
            Some(peer) => peer.add_remote_candidate(candidate),
            None => Err(format!("there is no {pc:?} connection to add it to").to_lowercase()),
        };
        if let Err(message) = result {
            self.media[i].send(ServerMessage::error(ErrorCode::BadCandidate, message));
        }
        self.pump(key, pc, now);
    }

    pub(super) fn peer_context(&self) -> PeerContext<'_> {
        PeerContext {
            advertised: self.advertised,
            routes: &self.routes,
            room_tx: &self.tx,
        }
    }

    /// Queues a subscriber offer: the room makes it between rounds of media (`offer_next`), or
    /// as soon as the outstanding one is answered.
    ///
    /// Why queued: when someone publishes, every other subscriber needs a new offer, and in a
    /// visit of thirty each offer is a session description of about sixty media sections.
    /// Made all at once they held the room's only thread for tens of milliseconds at every
    /// arrival, and everyone's media waited (the latency tail while a group gathers). Queued,
    /// media flows between any two offers, and publications that arrive together (a newcomer's
    /// audio and then its video) share one offer instead of two.
    pub(super) fn negotiate_subscriber(&mut self, id: &Arc<str>) {
        let Some(i) = self.index(id) else { return };
        let p = &mut self.media[i];
        if p.offer_outstanding {
            p.renegotiate = true;
            return;
        }
        if p.subscriber.is_some() && !self.offers_due.contains(id) {
            self.offers_due.push_back(id.clone());
        }
    }

    /// Makes the oldest queued subscriber offer, if any. Whether one was made. Called after
    /// every round of inputs, so it reads the clock only when there is an offer to make.
    pub(super) fn offer_next(&mut self) -> bool {
        let Some(id) = self.offers_due.pop_front() else {
            return false;
        };
        self.offer_now(&id, Instant::now());
        true
    }

    /// Sends a subscriber offer now, or as soon as the outstanding one is answered.
    pub(super) fn offer_now(&mut self, id: &Arc<str>, now: Instant) {
        let Some(i) = self.index(id) else { return };
        let p = &mut self.media[i];
        if p.offer_outstanding {
            p.renegotiate = true;
            return;
        }
        let Some(peer) = p.subscriber.as_mut() else {
            return;
        };
        let result = peer
            .pc
            .create_offer(None)
            .and_then(|offer| peer.pc.set_local_description(now, offer));
        match result {
            Ok(()) => {
                let sdp = peer
                    .pc
                    .local_description()
                    .map(|d| d.sdp)
                    .unwrap_or_default();
                p.offer_outstanding = true;
                p.send(ServerMessage::Offer {
                    pc: PcKind::Subscriber,
                    sdp,
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "could not create a subscriber offer");
                p.send(ServerMessage::error(
                    ErrorCode::Internal,
                    "the server could not update the incoming media",
                ));
            }
        }
        self.mark_dirty(id, PcKind::Subscriber);
    }
}

/// Our candidates where a client looks for them. The `rtc` core writes them into the first
/// m-section of an answer even when the answer rejects that section (port 0), and a rejected
/// section leaves the BUNDLE group (RFC 8843 §7.3.3), so the accepted, bundled sections would
/// have none. Then they are copied into the first accepted section, the group's new tag.
pub(crate) fn candidates_where_bundled(sdp: &str) -> String {
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for line in sdp.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            sections.push(Vec::new());
        }
        if let Some(last) = sections.last_mut() {
            last.push(line);
        }
    }
    let accepted = |section: &[&str]| {
        section
            .first()
            .and_then(|m| m.split_whitespace().nth(1))
            .is_some_and(|port| port != "0")
    };
    let is_candidate = |l: &&str| l.starts_with("a=candidate:") || *l == "a=end-of-candidates";
    let media = &sections[1..];
    if media
        .iter()
        .any(|sec| accepted(sec) && sec.iter().any(is_candidate))
    {
        return sdp.to_owned();
    }
    let candidates: Vec<&str> = media
        .iter()
        .flat_map(|sec| sec.iter().copied().filter(is_candidate))
        .collect();
    let Some(first) = media.iter().position(|sec| accepted(sec)) else {
        return sdp.to_owned();
    };
    let mut out = String::with_capacity(sdp.len() + candidates.len() * 80);
    for (i, section) in sections.iter().enumerate() {
        for line in section {
            out.push_str(line);
            out.push_str("\r\n");
        }
        if i == first + 1 {
            for line in &candidates {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::candidates_where_bundled;

    const REJECTED_FIRST: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 1\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
        a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n";

    #[test]
    fn candidates_move_to_the_first_accepted_section_when_the_first_is_rejected() {
        let fixed = candidates_where_bundled(REJECTED_FIRST);
        let audio = fixed.split("m=audio").nth(1).expect("audio section");
        assert!(audio.contains("a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"));
        assert!(audio.contains("a=end-of-candidates\r\n"));
        assert!(fixed.ends_with("\r\n"));
        // Applied again, nothing changes; an answer whose first section is accepted is left
        // as it is.
        assert_eq!(candidates_where_bundled(&fixed), fixed);
        let normal = REJECTED_FIRST.replace("m=video 0 ", "m=video 9 ");
        assert_eq!(candidates_where_bundled(&normal), normal);
    }
}
