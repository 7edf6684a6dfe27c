//! Bandwidth toward each subscriber, and how it is shared among what it receives.
//!
//! The estimate comes from what the subscriber's side reports on its connection: the maximum
//! bitrate its browser's receive-side estimator allows (REMB), and the loss in its receiver
//! reports, controlled the way GCC's loss-based part is (draft-ietf-rmcat-gcc §6): more than
//! 10 % lost cuts the estimate by loss/2; under 2 % lost it grows by 8 % a second; in between it
//! holds. The first cut starts from the rate we were actually sending, since the estimate had
//! no information before. A REMB cuts the estimate too, but only when it is below what we were
//! sending: a browser's receive-side estimate cannot rise above about 1.5 times what arrives,
//! so while little arrives (video paused, a page hidden) its REMB is low without saying
//! anything about the link, and taken as a limit it would keep the video paused for good.
//!
//! The allocation hands the estimate out the way LiveKit's stream allocator does: audio first
//! and never dropped, then every shown video at its lowest layer in priority order (the active
//! speaker first), then upgrades one layer at a time in the same order, each up to the layer its
//! page asked for. A video whose lowest layer no longer fits is paused rather than broken up,
//! and comes back when the estimate allows.
//!
//! Sans-I/O: the time comes in with every call.

use std::time::{Duration, Instant};

/// Where an estimate starts before anything is reported: enough for everything, as before
/// there was an estimate at all.
const START_BPS: f64 = 10_000_000.0;
const MIN_BPS: f64 = 50_000.0;
const MAX_BPS: f64 = 50_000_000.0;
/// Loss (as RTCP's fraction, /256) above which the estimate is cut, and below which it grows.
const LOSS_HIGH: f64 = 0.10;
const LOSS_LOW: f64 = 0.02;
const GROWTH_PER_SEC: f64 = 1.08;
/// How long report blocks are gathered before their mean loss is applied.
const LOSS_WINDOW: Duration = Duration::from_secs(1);
/// A REMB value older than this no longer limits.
const REMB_FRESH: Duration = Duration::from_secs(5);
/// A REMB below this share of what we send means the link is congested.
const REMB_CONGESTED: f64 = 0.85;
/// What one audio subscription is reserved (Opus at its usual rate plus headers).
pub const AUDIO_BPS: f64 = 64_000.0;

/// The estimate toward one subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    loss_based: f64,
    remb: Option<(f64, Instant)>,
    last_growth: Option<Instant>,
    /// Whether loss has cut it yet (before, it is only a generous start).
    cut: bool,
    /// Report blocks gathered since: when the window began, their summed fractions, how many.
    window: Option<(Instant, u32, u32)>,
}

impl Default for Estimate {
    fn default() -> Self {
        Self {
            loss_based: START_BPS,
            remb: None,
            last_growth: None,
            cut: false,
            window: None,
        }
    }
}

impl Estimate {
    /// One report block's fraction lost (0..=255 for 0..100 %) about one of the streams we send
    /// this subscriber, with the rate we are sending it (bits/s). Blocks are gathered for
    /// [`LOSS_WINDOW`] and their mean loss applied once: a subscriber of thirty videos reports
    /// on sixty streams a second, and one stream's burst is not the link's loss. Whether the
    /// estimate was updated.
    pub fn on_loss(&mut self, fraction_lost: u8, sending_bps: f64, now: Instant) -> bool {
        let (start, sum, n) = self.window.get_or_insert((now, 0, 0));
        *sum += u32::from(fraction_lost);
        *n += 1;
        if now.saturating_duration_since(*start) < LOSS_WINDOW {
            return false;
        }
        let mean = f64::from(*sum) / f64::from(*n);
        self.window = None;
        self.apply_loss(mean / 256.0, sending_bps, now);
        true
    }

    fn apply_loss(&mut self, loss: f64, sending_bps: f64, now: Instant) {
        if loss > LOSS_HIGH {
            let base = if self.cut {
                self.loss_based
            } else {
                self.loss_based.min(sending_bps.max(MIN_BPS))
            };
            self.loss_based = (base * (1.0 - 0.5 * loss)).max(MIN_BPS);
            self.cut = true;
            self.last_growth = Some(now);
        } else if loss < LOSS_LOW {
            let since = self
                .last_growth
                .map_or(1.0, |t| now.saturating_duration_since(t).as_secs_f64());
            self.loss_based = (self.loss_based * GROWTH_PER_SEC.powf(since.min(5.0))).min(MAX_BPS);
            self.last_growth = Some(now);
        }
    }

    /// A REMB from the subscriber, with the rate we were sending it (bits/s).
    pub fn on_remb(&mut self, bps: f64, sending_bps: f64, now: Instant) {
        if bps < sending_bps * REMB_CONGESTED {
            self.remb = Some((bps.max(MIN_BPS), now));
        }
    }

    /// What may be sent now, bits/s.
    pub fn available(&self, now: Instant) -> f64 {
        match self.remb {
            Some((remb, at)) if now.saturating_duration_since(at) < REMB_FRESH => {
                remb.min(self.loss_based)
            }
            _ => self.loss_based,
        }
    }
}

/// One shown video subscription, as the allocator sees it.
#[derive(Debug, Clone)]
pub(crate) struct VideoDemand {
    /// Its live layers' bitrates, lowest layer first (one entry without simulcast).
    pub layers: Vec<f64>,
    /// The highest layer index it wants (its tile, its `set_quality`).
    pub wanted: usize,
}

/// How many layers (from the lowest) each demand gets, `None` for paused, given `budget` bits/s
/// for video; `demands` are in priority order.
pub(crate) fn allocate(budget: f64, demands: &[VideoDemand]) -> Vec<Option<usize>> {
    let mut left = budget;
    let mut granted: Vec<Option<usize>> = demands
        .iter()
        .map(|d| {
            let lowest = *d.layers.first()?;
            (lowest <= left).then(|| {
                left -= lowest;
                0
            })
        })
        .collect();
    for (d, g) in demands.iter().zip(granted.iter_mut()) {
        let Some(at) = g else { continue };
        let top = d.wanted.min(d.layers.len().saturating_sub(1));
        while *at < top {
            let step = d.layers[*at + 1] - d.layers[*at];
            if step > left {
                break;
            }
            left -= step;
            *at += 1;
        }
    }
    granted
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYERS: [f64; 3] = [150_000.0, 450_000.0, 1_200_000.0];

    fn demand(wanted: usize) -> VideoDemand {
        VideoDemand {
            layers: LAYERS.to_vec(),
            wanted,
        }
    }

    /// Reports the same loss on one stream at `t` and again a window later, so it applies.
    fn report(e: &mut Estimate, lost: u8, sending: f64, t: Instant) -> bool {
        e.on_loss(lost, sending, t);
        e.on_loss(lost, sending, t + LOSS_WINDOW)
    }

    #[test]
    fn loss_cuts_to_what_was_sent_and_quiet_links_grow() {
        let t0 = Instant::now();
        let mut e = Estimate::default();
        assert_eq!(e.available(t0), START_BPS);
        // 25 % lost while we sent 1.2 Mbit/s: cut below what the link carried.
        assert!(report(&mut e, 64, 1_200_000.0, t0));
        let cut = e.available(t0);
        assert!((cut - 1_200_000.0 * 0.875).abs() < 1.0, "{cut}");
        // A second cut starts from the estimate, not from what was sent (little, perhaps,
        // while video was paused).
        let mut again = e.clone();
        report(&mut again, 64, 50_000.0, t0 + Duration::from_secs(2));
        assert!((again.available(t0) - cut * 0.875).abs() < 1.0);
        // 5 % lost: hold.
        report(&mut e, 13, 1_000_000.0, t0 + Duration::from_secs(2));
        assert_eq!(e.available(t0), cut);
        // No loss for ten seconds: grows 8 % a second.
        for s in 4..14 {
            e.on_loss(0, 1_000_000.0, t0 + Duration::from_secs(s));
        }
        let grown = e.available(t0);
        assert!(grown > cut * 1.9 && grown < cut * 2.6, "{grown}");
    }

    #[test]
    fn one_lossy_stream_among_many_is_not_the_links_loss() {
        let t0 = Instant::now();
        let mut e = Estimate::default();
        // Sixty streams in a second, one of them losing half its packets: 0.8 % on average.
        for i in 0..60 {
            let lost = if i == 7 { 128 } else { 0 };
            e.on_loss(lost, 3_000_000.0, t0 + Duration::from_millis(i * 16));
        }
        assert!(e.on_loss(0, 3_000_000.0, t0 + LOSS_WINDOW));
        assert!(e.available(t0) >= START_BPS, "no cut: {}", e.available(t0));
        // Everyone losing a fifth: cut.
        for i in 0..60 {
            e.on_loss(
                51,
                3_000_000.0,
                t0 + LOSS_WINDOW + Duration::from_millis(i * 16),
            );
        }
        assert!(e.on_loss(51, 3_000_000.0, t0 + LOSS_WINDOW * 2));
        assert!(e.available(t0) < 3_000_000.0);
    }

    #[test]
    fn a_remb_below_what_is_sent_limits_while_it_is_fresh() {
        let t0 = Instant::now();
        let mut e = Estimate::default();
        e.on_remb(300_000.0, 800_000.0, t0);
        assert_eq!(e.available(t0 + Duration::from_secs(1)), 300_000.0);
        assert_eq!(e.available(t0 + REMB_FRESH), START_BPS);
    }

    #[test]
    fn a_remb_that_only_follows_little_traffic_does_not_limit() {
        // Video paused: only audio arrives, and the browser's REMB follows it (about 1.5 times
        // what arrives). Taken as a limit, the video could never resume.
        let t0 = Instant::now();
        let mut e = Estimate::default();
        e.on_remb(85_000.0, 55_000.0, t0);
        assert_eq!(e.available(t0), START_BPS);
    }

    #[test]
    fn everyone_gets_the_lowest_layer_before_anyone_gets_more() {
        let demands = [demand(2), demand(2), demand(2)];
        assert_eq!(
            allocate(10_000_000.0, &demands),
            [Some(2), Some(2), Some(2)]
        );
        // 3 × 150k = 450k, leaving 550k: the first (the speaker) goes up one layer (300k more),
        // the second too (300k does not fit: 250k left), so it stays.
        assert_eq!(allocate(1_000_000.0, &demands), [Some(1), Some(0), Some(0)]);
        // Not even the lowest for all: the last in priority is paused, not broken up.
        assert_eq!(allocate(320_000.0, &demands), [Some(0), Some(0), None]);
        // Nobody is given more than its tile wants.
        assert_eq!(
            allocate(10_000_000.0, &[demand(0), demand(1)]),
            [Some(0), Some(1)]
        );
        // A single-layer video is all or nothing.
        let single = VideoDemand {
            layers: vec![800_000.0],
            wanted: 2,
        };
        assert_eq!(allocate(700_000.0, std::slice::from_ref(&single)), [None]);
        assert_eq!(allocate(900_000.0, &[single]), [Some(0)]);
    }
}
