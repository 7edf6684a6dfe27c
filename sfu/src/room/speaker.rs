//! Active speaker detection from the audio level each publisher's packets carry (RFC 6464: the
//! `ssrc-audio-level` header extension, 0 = loudest to 127 = silence, in -dBov).
//!
//! Levels are smoothed per participant with a time constant of a few hundred milliseconds and
//! the loudest is picked every [`DECISION_INTERVAL`], as LiveKit (400 ms) and mediasoup's
//! dominant-speaker observer (300 ms) do, so a cough or a door does not take the highlight. A new
//! speaker must be clearly louder than the current one ([`HYSTERESIS`]) unless the current one
//! has fallen quiet. When everyone is quiet the last speaker stays: pages keep showing whoever
//! spoke last rather than an empty highlight.
//!
//! Sans-I/O: time comes in with every call; the room asks [`SpeakerDetector::decide`] after
//! its inputs and when [`SpeakerDetector::next_decision`] is due.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the detector decides.
pub const DECISION_INTERVAL: Duration = Duration::from_millis(300);
/// The smoothing time constant.
const TAU: Duration = Duration::from_millis(300);
/// Loudness (127 − level) below which a participant counts as quiet: about −60 dBov and
/// quieter is room noise.
const SPEAKING: f64 = 60.0;
/// How much louder than the current speaker another must be to take over.
const HYSTERESIS: f64 = 8.0;

#[derive(Debug)]
struct Voice {
    key: Arc<str>,
    /// Smoothed loudness, 0 (silence) to 127.
    loudness: f64,
    last: Instant,
}

/// Who is speaking in one room.
#[derive(Debug, Default)]
pub(crate) struct SpeakerDetector {
    voices: Vec<Voice>,
    current: Option<Arc<str>>,
    last_decision: Option<Instant>,
}

impl SpeakerDetector {
    /// One audio packet's level from the participant with `key`.
    pub fn observe(&mut self, key: &Arc<str>, level: u8, now: Instant) {
        let loudness = f64::from(127 - level.min(127));
        match self.voices.iter_mut().find(|v| Arc::ptr_eq(&v.key, key)) {
            Some(v) => {
                let dt = now.saturating_duration_since(v.last).as_secs_f64();
                let alpha = 1.0 - (-dt / TAU.as_secs_f64()).exp();
                v.loudness += (loudness - v.loudness) * alpha;
                v.last = now;
            }
            None => self.voices.push(Voice {
                key: key.clone(),
                loudness: loudness * 0.5,
                last: now,
            }),
        }
        if self.last_decision.is_none() {
            self.last_decision = Some(now);
        }
    }

    /// The participant left or stopped publishing.
    pub fn forget(&mut self, key: &str) {
        self.voices.retain(|v| &*v.key != key);
        if self.current.as_deref() == Some(key) {
            self.current = None;
        }
    }

    /// When the next decision is due, while anyone has been heard.
    pub fn next_decision(&self) -> Option<Instant> {
        self.last_decision.map(|t| t + DECISION_INTERVAL)
    }

    /// Decides if it is time: `Some(new speaker)` when the speaker changed.
    pub fn decide(&mut self, now: Instant) -> Option<Arc<str>> {
        let last = self.last_decision?;
        if now < last + DECISION_INTERVAL {
            return None;
        }
        self.last_decision = Some(now);
        // Someone whose packets stopped (muted, gone quiet with DTX) fades out.
        let loudness = |v: &Voice| {
            let silent_for = now.saturating_duration_since(v.last).as_secs_f64();
            v.loudness * (-silent_for / TAU.as_secs_f64()).exp()
        };
        let (loudest, level) = self
            .voices
            .iter()
            .map(|v| (v, loudness(v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        if level < SPEAKING || self.current.as_ref() == Some(&loudest.key) {
            return None;
        }
        let current = self
            .current
            .as_ref()
            .and_then(|c| self.voices.iter().find(|v| Arc::ptr_eq(&v.key, c)))
            .map_or(0.0, loudness);
        if current >= SPEAKING && level < current + HYSTERESIS {
            return None;
        }
        self.current = Some(loudest.key.clone());
        self.current.clone()
    }

    pub fn current(&self) -> Option<&Arc<str>> {
        self.current.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds 20 ms packets of the given levels (one per key) for `ms` milliseconds from `t`,
    /// asking for a decision after each packet; returns the changes seen.
    fn speak(
        d: &mut SpeakerDetector,
        voices: &[(&Arc<str>, u8)],
        t: &mut Instant,
        ms: u64,
    ) -> Vec<Arc<str>> {
        let mut changes = Vec::new();
        for _ in 0..ms / 20 {
            *t += Duration::from_millis(20);
            for (key, level) in voices {
                d.observe(key, *level, *t);
            }
            changes.extend(d.decide(*t));
        }
        changes
    }

    #[test]
    fn the_loudest_voice_becomes_the_speaker_within_a_few_hundred_ms() {
        let (anna, pat): (Arc<str>, Arc<str>) = ("anna".into(), "pat".into());
        let mut d = SpeakerDetector::default();
        let mut t = Instant::now();
        // Anna talks (-25 dBov), Pat's microphone hears the room (-90 dBov).
        let changes = speak(&mut d, &[(&anna, 25), (&pat, 90)], &mut t, 700);
        assert_eq!(changes, std::slice::from_ref(&anna));
        // Pat starts talking and Anna listens: the highlight moves, once.
        let changes = speak(&mut d, &[(&anna, 95), (&pat, 20)], &mut t, 1000);
        assert_eq!(changes, std::slice::from_ref(&pat));
        assert_eq!(d.current(), Some(&pat));
    }

    #[test]
    fn a_cough_does_not_take_the_highlight() {
        let (anna, pat): (Arc<str>, Arc<str>) = ("anna".into(), "pat".into());
        let mut d = SpeakerDetector::default();
        let mut t = Instant::now();
        speak(&mut d, &[(&anna, 30), (&pat, 100)], &mut t, 900);
        assert_eq!(d.current(), Some(&anna));
        // 60 ms of Pat coughing loudly while Anna goes on.
        let changes = speak(&mut d, &[(&anna, 30), (&pat, 5)], &mut t, 60);
        assert!(changes.is_empty());
        let changes = speak(&mut d, &[(&anna, 30), (&pat, 100)], &mut t, 600);
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn silence_keeps_the_last_speaker_and_a_leaver_is_forgotten() {
        let (anna, pat): (Arc<str>, Arc<str>) = ("anna".into(), "pat".into());
        let mut d = SpeakerDetector::default();
        let mut t = Instant::now();
        speak(&mut d, &[(&anna, 30), (&pat, 110)], &mut t, 900);
        // Everyone quiet, then no packets at all (muted): Anna stays.
        assert!(speak(&mut d, &[(&anna, 120), (&pat, 120)], &mut t, 1000).is_empty());
        t += Duration::from_secs(5);
        assert_eq!(d.decide(t), None);
        assert_eq!(d.current(), Some(&anna));
        d.forget("anna");
        assert_eq!(d.current(), None);
        // Nobody heard yet: nothing is due.
        assert_eq!(SpeakerDetector::default().next_decision(), None);
    }
}
