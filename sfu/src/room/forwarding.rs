//! Forwarding and layers: a received RTP packet goes to the subscribers of its publication
//! that are on its simulcast layer, switching subscribers between layers at keyframes, and
//! keyframe requests go back to the publisher, throttled per layer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use vardrum_signalling::{PcKind, Quality};

use super::Room;
use super::media::{Media, Publication};
use crate::keyframe::KeyframeThrottle;
use crate::rate::RateMeter;
use crate::simulcast::{self, Layer};

/// Which subscriptions each publication has, as (media index, subscription index) pairs: what
/// a packet of the publication fans out to. Rebuilt after subscriptions change (joins, leaves,
/// new tracks: rare), read for every packet.
#[derive(Default)]
pub(super) struct Fanout {
    by_publication: HashMap<Arc<str>, Vec<(usize, usize)>>,
    pub stale: bool,
}

impl Fanout {
    fn rebuild(&mut self, media: &[Media]) {
        for list in self.by_publication.values_mut() {
            list.clear();
        }
        for (mi, m) in media.iter().enumerate() {
            for (si, sub) in m.subscriptions.iter().enumerate() {
                self.by_publication
                    .entry(sub.publication.clone())
                    .or_default()
                    .push((mi, si));
            }
        }
        self.by_publication.retain(|_, list| !list.is_empty());
        self.stale = false;
    }

    fn of(&self, publication: &str) -> &[(usize, usize)] {
        self.by_publication
            .get(publication)
            .map_or(&[], Vec::as_slice)
    }
}

/// An RTP header without extensions or CSRCs, counted with the payload into a layer's rate.
const RTP_HEADER_BYTES: usize = 12;

impl Room {
    /// Sends one received RTP packet to every subscriber of its publication that is on the
    /// packet's layer, switching subscribers to it at a keyframe when it is the layer they
    /// should be on.
    pub(super) fn forward(
        &mut self,
        publisher: &Arc<str>,
        track_id: &str,
        packet: rtc::rtp::Packet,
        now: Instant,
    ) {
        let Some(pi) = self.index(publisher) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let pos = match self.media[pi]
            .publications
            .iter()
            .position(|p| p.track_id == track_id)
        {
            Some(pos) => pos,
            None => match self.publish(pi, track_id, &packet, now) {
                Some(pos) => pos,
                None => return,
            },
        };
        if self.media[pi].publications[pos].layer_mut(ssrc).is_none() {
            self.add_layer(pi, pos, ssrc, now);
        }
        let forwards = self.media[pi].forwards(self.media[pi].publications[pos].kind);
        let bytes = packet.payload.len() + RTP_HEADER_BYTES;
        let publ = &mut self.media[pi].publications[pos];
        if let Some(layer) = publ.layer_mut(ssrc) {
            layer.last_packet = now;
            layer.rate.add(bytes, now);
        }
        if !forwards {
            // A host muted this kind: nothing of it reaches anyone until the participant
            // turns it on again.
            return;
        }
        if publ.kind == RtpCodecKind::Audio
            && let Some(ext) = self.media[pi].audio_level_ext
            && let Some(level) = packet
                .header
                .get_extension(ext)
                .and_then(|b| b.first().copied())
        {
            // RFC 6464: the voice-activity bit, then the level in -dBov.
            self.speaker.observe(publisher, level & 0x7f, now);
        }
        let publ = &mut self.media[pi].publications[pos];
        let publication = publ.id.clone();
        let simulcast = publ.simulcast;
        let clock_rate = publ.codec.clock_rate;
        // Each subscriber's layer, decided before the loop borrows the participants mutably.
        // An array, not a Vec: this runs for every packet.
        let targets: [(u8, Option<u32>); 3] =
            [Quality::Low, Quality::Medium, Quality::High].map(|q| {
                (
                    simulcast::wanted_rank(q),
                    simulcast::choose(&publ.layers, q, now),
                )
            });
        let target_of = |q: Quality| {
            let rank = simulcast::wanted_rank(q);
            targets
                .iter()
                .find(|(r, _)| *r == rank)
                .and_then(|(_, t)| *t)
        };
        // Only a simulcast switch looks into the payload for a keyframe; no copy otherwise.
        let mime_type = if simulcast {
            publ.codec.mime_type.clone()
        } else {
            String::new()
        };
        let mut keyframe: Option<bool> = None;
        let mut wants_keyframe: Vec<u32> = Vec::new();
        if self.fanout.stale {
            self.fanout.rebuild(&self.media);
        }
        // Only this publication's subscribers: a packet costs what its own audience costs, not
        // every participant times every subscription.
        let audience = self.fanout.of(&publication);
        for &(mi, si) in audience {
            let s = &mut self.media[mi];
            // Until DTLS is up there are no SRTP keys to send with.
            let Some(peer) = s.subscriber.as_mut().filter(|p| p.connected) else {
                continue;
            };
            {
                let Some(sub) = s.subscriptions.get_mut(si) else {
                    continue;
                };
                let Some(pt) = sub.payload_type else { continue };
                if sub.paused || sub.starved {
                    // The page does not show it, or its link cannot carry even its lowest
                    // layer now (audio is never paused).
                    continue;
                }
                let target = target_of(sub.target());
                if sub.rewriter.current != Some(ssrc) {
                    // Not this subscriber's layer: switch to it only if it should be, and
                    // (simulcast) only where a picture can start.
                    if target != Some(ssrc) {
                        continue;
                    }
                    let at_keyframe = !simulcast
                        || *keyframe.get_or_insert_with(|| {
                            simulcast::starts_keyframe(&mime_type, &packet.payload)
                        });
                    if !at_keyframe {
                        wants_keyframe.push(ssrc);
                        continue;
                    }
                    sub.rewriter.switch_to(
                        ssrc,
                        packet.header.sequence_number,
                        packet.header.timestamp,
                        now,
                        clock_rate,
                    );
                } else if simulcast && target.is_some_and(|t| t != ssrc) {
                    // On a layer it should leave: keep it until the other starts a keyframe.
                    if let Some(t) = target {
                        wants_keyframe.push(t);
                    }
                }
                let (seq, ts) = sub.rewriter.rewrite(
                    packet.header.sequence_number,
                    packet.header.timestamp,
                    now,
                );
                // Header extension ids are negotiated per connection; the publisher's ids mean
                // nothing on the subscriber's, so they are not forwarded. The header is built
                // anew rather than cloned, so the extension list is not copied per subscriber;
                // the payload is shared, not copied.
                let out = rtc::rtp::Packet {
                    header: rtc::rtp::header::Header {
                        version: packet.header.version,
                        padding: packet.header.padding,
                        marker: packet.header.marker,
                        payload_type: pt,
                        sequence_number: seq,
                        timestamp: ts,
                        ssrc: sub.ssrc,
                        csrc: packet.header.csrc.clone(),
                        ..Default::default()
                    },
                    payload: packet.payload.clone(),
                };
                let Some(mut sender) = peer.pc.rtp_sender(sub.sender_id) else {
                    continue;
                };
                match sender.write_rtp(now, out) {
                    Ok(()) => {
                        self.stats.rtp_packets_forwarded.fetch_add(1, Relaxed);
                        s.sent.add(bytes, now);
                    }
                    Err(e) => {
                        self.stats.forward_errors.fetch_add(1, Relaxed);
                        tracing::trace!(error = %e, "forwarding failed");
                    }
                }
            }
            let sid = s.key.clone();
            if !self
                .dirty
                .iter()
                .any(|(d, k)| *d == sid && *k == PcKind::Subscriber)
            {
                self.dirty.push((sid, PcKind::Subscriber));
            }
        }
        wants_keyframe.sort_unstable();
        wants_keyframe.dedup();
        for layer in wants_keyframe {
            self.request_keyframe(publisher, &publication, Some(layer), now);
        }
    }

    /// Marks the fan-out index out of date: after any change to who subscribes to what.
    pub(super) fn subscriptions_changed(&mut self) {
        self.fanout.stale = true;
    }

    /// A packet on an SSRC the publication has not had: a new simulcast layer (or the first
    /// stream of the track).
    fn add_layer(&mut self, pi: usize, pos: usize, ssrc: u32, now: Instant) {
        let p = &mut self.media[pi];
        let receiver_id = p.publications[pos].receiver_id;
        let rid = p
            .publisher
            .as_mut()
            .and_then(|peer| peer.pc.rtp_receiver(receiver_id))
            .and_then(|r| r.track().rid(ssrc).map(|rid| rid.to_string()))
            .filter(|rid| !rid.is_empty());
        let publ = &mut p.publications[pos];
        let rank = simulcast::rank_of(rid.as_deref(), publ.layers.len());
        if rid.is_some() {
            publ.simulcast = true;
        }
        tracing::debug!(room = %self.id, rid = rid.as_deref().unwrap_or("-"), "layer started");
        publ.layers.push(Layer {
            rate: RateMeter::default(),
            ssrc,
            rank,
            last_packet: now,
            keyframes: KeyframeThrottle::default(),
        });
    }

    /// Turns a track's first packet into a publication and offers it to everyone else.
    fn publish(
        &mut self,
        pi: usize,
        track_id: &str,
        packet: &rtc::rtp::Packet,
        now: Instant,
    ) -> Option<usize> {
        let p = &mut self.media[pi];
        let pos = p.opened_tracks.iter().position(|(t, _)| t == track_id)?;
        let receiver_id = p.opened_tracks[pos].1;
        let peer = p.publisher.as_mut()?;
        let mut receiver = peer.pc.rtp_receiver(receiver_id)?;
        let kind = receiver.track().kind();
        let codec = receiver
            .get_parameters()
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.payload_type == packet.header.payload_type)?
            .rtp_codec
            .clone();
        p.opened_tracks.retain(|(t, _)| t != track_id);
        let id: Arc<str> = format!(
            "{}-{}",
            kind,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
        .into();
        p.publications.push(Publication {
            id: id.clone(),
            track_id: track_id.to_owned(),
            receiver_id,
            kind,
            codec,
            layers: Vec::new(),
            simulcast: false,
        });
        let position = p.publications.len() - 1;
        self.stats.publications.fetch_add(1, Relaxed);
        let publisher = p.key.clone();
        tracing::debug!(room = %self.id, %kind, "publication started");
        self.offer_to_everyone(&publisher, &id, now);
        Some(position)
    }

    /// Asks the publisher of `publication` for a keyframe on one layer (by SSRC; `None`: its
    /// first), at most once per throttle interval and layer.
    pub(super) fn request_keyframe(
        &mut self,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        layer: Option<u32>,
        now: Instant,
    ) {
        let Some(pi) = self.index(publisher) else {
            return;
        };
        let p = &mut self.media[pi];
        let Some(publ) = p.publications.iter_mut().find(|x| &x.id == publication) else {
            return;
        };
        if publ.kind != RtpCodecKind::Video {
            return;
        }
        let receiver_id = publ.receiver_id;
        let target = match layer {
            Some(ssrc) => publ.layer_mut(ssrc),
            None => publ.layers.first_mut(),
        };
        let Some(target) = target else {
            return;
        };
        if !target.keyframes.allow(now) {
            return;
        }
        let ssrc = target.ssrc;
        let Some(peer) = p.publisher.as_mut() else {
            return;
        };
        if let Some(mut receiver) = peer.pc.rtp_receiver(receiver_id) {
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            if receiver.write_rtcp(now, vec![Box::new(pli)]).is_ok() {
                self.stats.keyframe_requests.fetch_add(1, Relaxed);
            }
        }
        self.mark_dirty(publisher, PcKind::Publisher);
    }
}
