//! Subscriptions: which publications each participant receives on its subscriber connection,
//! added when someone publishes or arrives, removed when a publication or its publisher goes,
//! and the simulcast layer each subscriber asked for.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use vardrum_signalling::{ErrorCode, PcKind, Quality, ServerMessage};

use super::Room;
use super::bandwidth::{self, AUDIO_BPS, VideoDemand};
use super::media::{Subscription, fit_for};
use crate::mux::PeerKey;
use crate::peer::Peer;
use crate::simulcast::{self, Rewriter};

/// What a layer that has not run a full second is taken to cost.
const NEW_LAYER_BPS: f64 = 30_000.0;

impl Room {
    /// A subscriber picks the simulcast layer of one of its tracks. The switch happens at the
    /// next keyframe of the new layer, which is asked for at once.
    pub(super) fn set_quality(
        &mut self,
        key: &Arc<str>,
        track: &str,
        quality: Quality,
        now: Instant,
    ) {
        let Some((i, j)) = self.subscription_of(key, track, "set_quality") else {
            return;
        };
        let sub = &mut self.media[i].subscriptions[j];
        sub.quality = quality;
        let wanted = sub.target();
        let (publisher, publication) = (sub.publisher.clone(), sub.publication.clone());
        if let Some(target) = self.target_layer(&publisher, &publication, wanted, now) {
            self.request_keyframe(&publisher, &publication, Some(target), now);
        }
    }

    /// Where subscriber `key`'s subscription to `track` (a publication id) is; a client naming
    /// a track it does not receive is told so, in the words of the message it sent.
    fn subscription_of(
        &mut self,
        key: &Arc<str>,
        track: &str,
        what: &str,
    ) -> Option<(usize, usize)> {
        let i = self.index(key)?;
        let found = self.media[i]
            .subscriptions
            .iter()
            .position(|s| *s.publication == *track);
        if found.is_none() {
            self.media[i].send(ServerMessage::error(
                ErrorCode::BadMessage,
                format!("{what}: no such track among your subscriptions"),
            ));
        }
        found.map(|j| (i, j))
    }

    /// How the subscriber's page shows one of its tracks: hidden video is paused (nothing is
    /// forwarded), shown video gets the layer that fits its tile. Resuming or moving up asks
    /// the publisher for a keyframe, since the picture can only start at one.
    pub(super) fn track_settings(
        &mut self,
        key: &Arc<str>,
        track: &str,
        visible: bool,
        (width, height): (u32, u32),
        now: Instant,
    ) {
        let Some((i, j)) = self.subscription_of(key, track, "track_settings") else {
            return;
        };
        let sub = &mut self.media[i].subscriptions[j];
        let resumed = sub.paused && visible;
        let before = sub.target();
        sub.paused = !visible;
        sub.fit = fit_for(width, height);
        let wanted = sub.target();
        if sub.kind != RtpCodecKind::Video || !visible || (!resumed && wanted == before) {
            return;
        }
        if resumed {
            // Whatever layer it was on, the picture restarts at a keyframe.
            sub.rewriter.current = None;
        }
        let (publisher, publication) = (sub.publisher.clone(), sub.publication.clone());
        if let Some(target) = self.target_layer(&publisher, &publication, wanted, now) {
            self.request_keyframe(&publisher, &publication, Some(target), now);
        }
    }

    /// The layer of `publication` a subscriber wanting `quality` should be on now.
    pub(super) fn target_layer(
        &self,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        quality: Quality,
        now: Instant,
    ) -> Option<u32> {
        let pi = self.index(publisher)?;
        let publ = self.media[pi]
            .publications
            .iter()
            .find(|p| &p.id == publication)?;
        simulcast::choose(&publ.layers, quality, now)
    }

    /// Adds `publication` of `publisher` to `subscriber`'s downstream connection (creating it if
    /// needed). Returns whether anything was added; the caller renegotiates.
    fn subscribe(
        &mut self,
        subscriber: &Arc<str>,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        now: Instant,
    ) -> bool {
        let (Some(si), Some(pi)) = (self.index(subscriber), self.index(publisher)) else {
            return false;
        };
        let Some(publ) = self.media[pi]
            .publications
            .iter()
            .find(|p| &p.id == publication)
        else {
            return false;
        };
        let (kind, codec) = (publ.kind, publ.codec.clone());
        let stream_id = self.media[pi].id.to_string();
        if self.media[si].subscriber.is_none() {
            let key = PeerKey {
                participant: subscriber.clone(),
                session: self.media[si].session,
                pc: PcKind::Subscriber,
            };
            match Peer::new(&self.peer_context(), key, now) {
                Ok(peer) => self.media[si].subscriber = Some(peer),
                Err(e) => {
                    tracing::error!(error = %e, "could not create a subscriber connection");
                    return false;
                }
            }
        }
        let s = &mut self.media[si];
        let Some(peer) = s.subscriber.as_mut() else {
            return false;
        };
        let ssrc = rand::random::<u32>();
        let mime_type = codec.mime_type.clone();
        // The stream id is the publisher's (opaque) participant id: that is how a client knows
        // whose track it is (docs/signalling.md, "offer (subscriber)").
        let track = MediaStreamTrack::new(
            stream_id.clone(),
            publication.to_string(),
            format!("{stream_id}-{kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        );
        // A transceiver of this kind that a departed publication left idle is used again; else
        // a new send-only one. Send-only, so that when its publication goes it becomes
        // `inactive` in the next offer (docs/signalling.md), not `recvonly`.
        let idle = match kind {
            RtpCodecKind::Audio => &mut s.idle_audio,
            _ => &mut s.idle_video,
        };
        let added = if *idle > 0 {
            *idle -= 1;
            peer.pc.add_track(track)
        } else {
            peer.pc
                .add_transceiver_from_track(
                    track,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        streams: Vec::new(),
                        send_encodings: Vec::new(),
                    }),
                )
                .map(RTCRtpSenderId::from)
        };
        match added {
            Ok(sender_id) => {
                s.subscriptions.push(Subscription {
                    publisher: publisher.clone(),
                    publication: publication.clone(),
                    sender_id,
                    ssrc,
                    kind,
                    mime_type,
                    payload_type: None,
                    quality: Quality::High,
                    fit: Quality::High,
                    paused: false,
                    cap: None,
                    starved: false,
                    rewriter: Rewriter::default(),
                });
                self.stats.subscriptions.fetch_add(1, Relaxed);
                self.subscriptions_changed();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not add a track for a subscriber");
                false
            }
        }
    }

    /// Subscribes a participant whose media just started to everything already published, and
    /// offers it.
    pub(super) fn subscribe_to_everything(&mut self, key: &Arc<str>, now: Instant) {
        let existing: Vec<(Arc<str>, Arc<str>)> = self
            .media
            .iter()
            .filter(|p| p.key != *key)
            .flat_map(|p| {
                p.publications
                    .iter()
                    .map(|publ| (p.key.clone(), publ.id.clone()))
            })
            .collect();
        let mut added = false;
        for (publisher, publication) in existing {
            added |= self.subscribe(key, &publisher, &publication, now);
        }
        // The newcomer's own first offer goes out at once: nothing is queued before it that
        // it could share an offer with, and its join waits for it.
        if added {
            self.offer_now(key, now);
        }
    }

    /// Subscribes everyone else in the visit to a new publication, and offers it to them.
    pub(super) fn offer_to_everyone(
        &mut self,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        now: Instant,
    ) {
        let others: Vec<Arc<str>> = self
            .media
            .iter()
            .filter(|x| x.key != *publisher)
            .map(|x| x.key.clone())
            .collect();
        for other in others {
            if self.subscribe(&other, publisher, publication, now) {
                self.negotiate_subscriber(&other);
            }
        }
    }

    /// A receiver report from the subscriber `key`: the loss it reports on each stream we send
    /// it feeds its estimate. Whether the estimate was updated (about once a second).
    pub(super) fn on_receiver_report(
        &mut self,
        key: &Arc<str>,
        rr: &ReceiverReport,
        now: Instant,
    ) -> bool {
        let Some(i) = self.index(key) else {
            return false;
        };
        let m = &mut self.media[i];
        let sending = m.sent.bps();
        let mut applied = false;
        for r in &rr.reports {
            if m.subscriptions.iter().any(|s| s.ssrc == r.ssrc) {
                applied |= m.estimate.on_loss(r.fraction_lost, sending, now);
            }
        }
        if applied {
            tracing::trace!(
                room = %self.id,
                sending_bps = sending as u64,
                estimate_bps = m.estimate.available(now) as u64,
                "receiver reports"
            );
        }
        applied
    }

    /// Shares the bandwidth toward subscriber `key` among its shown videos (see `bandwidth`):
    /// each gets a cap on its layer, or is paused when not even its lowest layer fits. A video
    /// that may move up or resume asks its publisher for a keyframe.
    pub(super) fn allocate(&mut self, key: &Arc<str>, now: Instant) {
        let Some(i) = self.index(key) else { return };
        let speaker = self.speaker.current().cloned();
        let subs = &self.media[i].subscriptions;
        let audio = subs
            .iter()
            .filter(|s| s.kind == RtpCodecKind::Audio)
            .count();
        let budget = self.media[i].estimate.available(now) - audio as f64 * AUDIO_BPS;
        let mut order: Vec<usize> = (0..subs.len())
            .filter(|&j| subs[j].kind == RtpCodecKind::Video && !subs[j].paused)
            .collect();
        // The active speaker first, then the others as they were subscribed.
        order.sort_by_key(|&j| speaker.as_ref() != Some(&subs[j].publisher));
        let mut demands = Vec::with_capacity(order.len());
        let mut ranks = Vec::with_capacity(order.len());
        for &j in &order {
            let s = &subs[j];
            let (rates, layer_ranks) = self.layer_rates(&s.publisher, &s.publication, now);
            let want = simulcast::wanted_rank(s.wanted());
            let wanted = layer_ranks.iter().rposition(|r| *r <= want).unwrap_or(0);
            demands.push(VideoDemand {
                layers: rates,
                wanted,
            });
            ranks.push(layer_ranks);
        }
        let granted = bandwidth::allocate(budget.max(0.0), &demands);
        tracing::trace!(room = %self.id, budget_bps = budget as u64, ?granted, "bandwidth shared");
        let mut keyframes = Vec::new();
        for ((&j, grant), layer_ranks) in order.iter().zip(granted).zip(ranks) {
            let s = &mut self.media[i].subscriptions[j];
            if layer_ranks.is_empty() {
                continue; // nothing arriving yet: nothing to decide
            }
            let (was_starved, before) = (s.starved, simulcast::wanted_rank(s.target()));
            match grant {
                None => s.starved = true,
                Some(at) => {
                    s.starved = false;
                    s.cap = Some(simulcast::quality_of_rank(layer_ranks[at]));
                }
            }
            if s.starved {
                continue;
            }
            if was_starved {
                // The picture restarts at a keyframe, on whatever layer.
                s.rewriter.current = None;
            }
            if was_starved || simulcast::wanted_rank(s.target()) > before {
                keyframes.push((s.publisher.clone(), s.publication.clone(), s.target()));
            }
        }
        for (publisher, publication, quality) in keyframes {
            let target = self.target_layer(&publisher, &publication, quality, now);
            self.request_keyframe(&publisher, &publication, target, now);
        }
    }

    /// The bitrates and ranks of a publication's live layers, lowest first. A layer that has
    /// not run a full second yet counts as [`NEW_LAYER_BPS`].
    fn layer_rates(
        &self,
        publisher: &Arc<str>,
        publication: &Arc<str>,
        now: Instant,
    ) -> (Vec<f64>, Vec<u8>) {
        let Some(publ) = self.index(publisher).and_then(|pi| {
            self.media[pi]
                .publications
                .iter()
                .find(|p| &p.id == publication)
        }) else {
            return (Vec::new(), Vec::new());
        };
        simulcast::live(&publ.layers, now)
            .into_iter()
            .map(|l| (l.rate.bps().max(NEW_LAYER_BPS), l.rank))
            .unzip()
    }

    /// Removes every subscription to `publication` and renegotiates the subscribers.
    pub(super) fn unsubscribe_all(&mut self, publication: &Arc<str>) {
        self.unsubscribe_from(std::slice::from_ref(publication));
    }

    /// Removes every subscription to any of `publications` and renegotiates each subscriber
    /// once: a departed participant's tracks all stop in one offer.
    pub(super) fn unsubscribe_from(&mut self, publications: &[Arc<str>]) {
        let mut touched = Vec::new();
        for s in &mut self.media {
            let before = s.subscriptions.len();
            let mut removed = Vec::new();
            s.subscriptions.retain(|x| {
                let keep = !publications.contains(&x.publication);
                if !keep {
                    removed.push((x.sender_id, x.kind));
                }
                keep
            });
            if let Some(peer) = s.subscriber.as_mut() {
                for (sender_id, kind) in removed {
                    if peer.pc.remove_track(sender_id).is_ok() {
                        match kind {
                            RtpCodecKind::Audio => s.idle_audio += 1,
                            _ => s.idle_video += 1,
                        }
                    }
                }
            }
            let n = before - s.subscriptions.len();
            if n > 0 {
                self.stats.subscriptions.fetch_sub(n as i64, Relaxed);
                touched.push(s.key.clone());
            }
        }
        if !touched.is_empty() {
            self.subscriptions_changed();
        }
        for key in touched {
            self.negotiate_subscriber(&key);
        }
    }

    /// Ends a participant's media: closes both connections, withdraws its publications from
    /// everyone and drops its subscriptions. The membership decides what becomes of the person.
    pub(super) fn drop_media(&mut self, i: usize) {
        let mut p = self.media.remove(i);
        self.subscriptions_changed();
        for peer in [p.publisher.take(), p.subscriber.take()]
            .into_iter()
            .flatten()
        {
            let mut peer = peer;
            peer.close();
            // Its goodbyes (DTLS close) go out before the connection is dropped.
            peer.drain_into(&mut self.outgoing);
        }
        self.outgoing.send(&self.socket, &self.stats);
        let n_subs = p.subscriptions.len() as i64;
        self.stats.subscriptions.fetch_sub(n_subs, Relaxed);
        let publications: Vec<Arc<str>> = p.publications.drain(..).map(|x| x.id).collect();
        self.stats
            .publications
            .fetch_sub(publications.len() as i64, Relaxed);
        self.unsubscribe_from(&publications);
    }
}
