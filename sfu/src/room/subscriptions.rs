//! Subscriptions: which publications each participant receives on its subscriber connection,
//! added when someone publishes or arrives, removed when a publication or its publisher goes,
//! and the simulcast layer each subscriber asked for.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use vardrum_signalling::{ErrorCode, PcKind, Quality, ServerMessage};

use super::Room;
use super::media::{Subscription, fit_for};
use crate::mux::PeerKey;
use crate::peer::Peer;
use crate::simulcast::{self, Rewriter};

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
        let Some(i) = self.index(key) else { return };
        let Some(sub) = self.media[i]
            .subscriptions
            .iter_mut()
            .find(|s| *s.publication == *track)
        else {
            self.media[i].send(ServerMessage::error(
                ErrorCode::BadMessage,
                "set_quality: no such track among your subscriptions",
            ));
            return;
        };
        sub.quality = quality;
        let wanted = sub.wanted();
        let (publisher, publication) = (sub.publisher.clone(), sub.publication.clone());
        if let Some(target) = self.target_layer(&publisher, &publication, wanted, now) {
            self.request_keyframe(&publisher, &publication, Some(target), now);
        }
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
        let Some(i) = self.index(key) else { return };
        let Some(sub) = self.media[i]
            .subscriptions
            .iter_mut()
            .find(|s| *s.publication == *track)
        else {
            self.media[i].send(ServerMessage::error(
                ErrorCode::BadMessage,
                "track_settings: no such track among your subscriptions",
            ));
            return;
        };
        let resumed = sub.paused && visible;
        let before = sub.wanted();
        sub.paused = !visible;
        sub.fit = fit_for(width, height);
        let wanted = sub.wanted();
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
        match peer.pc.add_track(track) {
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
                    rewriter: Rewriter::default(),
                });
                self.stats.subscriptions.fetch_add(1, Relaxed);
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
        if added {
            self.negotiate_subscriber(key, now);
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
                self.negotiate_subscriber(&other, now);
            }
        }
    }

    /// Removes every subscription to `publication` and renegotiates the subscribers.
    pub(super) fn unsubscribe_all(&mut self, publication: &Arc<str>, now: Instant) {
        let mut touched = Vec::new();
        for s in &mut self.media {
            let before = s.subscriptions.len();
            let mut removed = Vec::new();
            s.subscriptions.retain(|x| {
                let keep = x.publication != *publication;
                if !keep {
                    removed.push(x.sender_id);
                }
                keep
            });
            if let Some(peer) = s.subscriber.as_mut() {
                for sender_id in removed {
                    let _ = peer.pc.remove_track(sender_id);
                }
            }
            let n = before - s.subscriptions.len();
            if n > 0 {
                self.stats.subscriptions.fetch_sub(n as i64, Relaxed);
                touched.push(s.key.clone());
            }
        }
        for key in touched {
            self.negotiate_subscriber(&key, now);
        }
    }

    /// Ends a participant's media: closes both connections, withdraws its publications from
    /// everyone and drops its subscriptions. The membership decides what becomes of the person.
    pub(super) fn drop_media(&mut self, i: usize, now: Instant) {
        let mut p = self.media.remove(i);
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
        for publication in publications {
            self.unsubscribe_all(&publication, now);
        }
    }
}
