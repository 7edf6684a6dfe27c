//! Scenarios: who joins which room and what they send, from flags or a small TOML file, checked
//! for numbers that cannot work before anything connects.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::media::{Layer, MIN_VIDEO_PAYLOAD, VideoPacing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// N concurrent 1:1 visits: rooms of two, both publish.
    OneToOne,
    /// R rooms of K; everyone publishes and subscribes.
    Group,
    /// 1–3 publishers per room, everyone else only watches.
    Webinar,
    /// Like group, with audio only.
    AudioOnly,
    /// Clinician-hosted group visits: per room one host (a clinician) and patients who land in
    /// the waiting room until the host admits them; everyone publishes, one person speaks at a
    /// time, subscribers show tiles small and the speaker large, and the room chats.
    GroupVisit,
}

/// Which simulcast layer subscribers ask for (vardrum: `set_quality`; Janus: `substream`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SimulcastQuality {
    /// The quarter-rate layer, rid `q`.
    Low,
    /// The half-rate layer, rid `h`.
    Medium,
    /// The full-rate layer, rid `f` (what both servers forward by default).
    #[default]
    High,
}

impl SimulcastQuality {
    /// The layer this quality selects.
    pub fn layer(self) -> Layer {
        match self {
            SimulcastQuality::Low => Layer::Q,
            SimulcastQuality::Medium => Layer::H,
            SimulcastQuality::High => Layer::F,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SimulcastQuality::Low => "low",
            SimulcastQuality::Medium => "medium",
            SimulcastQuality::High => "high",
        }
    }

    /// The same choice in vardrum's signalling.
    pub fn signalling(self) -> vardrum_signalling::Quality {
        match self {
            SimulcastQuality::Low => vardrum_signalling::Quality::Low,
            SimulcastQuality::Medium => vardrum_signalling::Quality::Medium,
            SimulcastQuality::High => vardrum_signalling::Quality::High,
        }
    }
}

/// A fully resolved scenario.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scenario {
    pub kind: ScenarioKind,
    pub rooms: usize,
    /// Participants per room.
    pub room_size: usize,
    /// Participants per room who publish (the first ones to join).
    pub publishers: usize,
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Joins per second while ramping up.
    pub ramp_up_per_sec: f64,
    /// Participants per minute that leave and join again while the test runs.
    pub churn_per_min: f64,
    pub video: Option<Video>,
    pub audio: bool,
    pub simulcast: bool,
    /// The layer subscribers ask for; set exactly when `simulcast` is, except in a group visit
    /// (there `track_settings` choose: tiles low, the speaker high).
    pub simulcast_quality: Option<SimulcastQuality>,
    /// What the group-visit scenario adds; `None` for the others.
    pub visit: Option<VisitSettings>,
}

/// How a group visit goes: admission, who speaks when, how much is chatted.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VisitSettings {
    /// 0: the host admits (`admit_all`) as soon as a patient is in the waiting room. More: it
    /// looks every so many seconds and admits everyone waiting then, in batches.
    pub admit_interval_secs: f64,
    /// The speaker changes every so many seconds.
    pub speaker_every_secs: f64,
    /// Chat messages per minute per room, sent by the participants in turn.
    pub chat_per_min: f64,
}

/// A received tile's size in the group visit (`track_settings`): the server's `low` layer.
pub const TILE_SIZE: (u32, u32) = (320, 180);
/// The speaker's size in speaker view: the server's `high` layer.
pub const SPEAKER_SIZE: (u32, u32) = (1280, 720);

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Video {
    /// The whole video: without simulcast the one stream, with it the `f` layer.
    pub bitrate_bps: u64,
    pub fps: u32,
    pub packet_size: usize,
}

impl Video {
    /// How one layer (or the only stream, `None`) is paced.
    pub fn pacing(&self, layer: Option<Layer>) -> VideoPacing {
        let bps = layer.map_or(self.bitrate_bps, |l| l.bitrate(self.bitrate_bps));
        VideoPacing::new(bps, self.fps, self.packet_size)
    }

    /// What one layer (or the only stream) sends, kbit/s of RTP payload.
    pub fn sent_kbps(&self, layer: Option<Layer>) -> f64 {
        self.pacing(layer).kbps(self.fps)
    }
}

/// The scenario as flags or a file give it; unset fields take the scenario's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub scenario: Option<ScenarioKind>,
    pub rooms: Option<usize>,
    pub room_size: Option<usize>,
    pub publishers: Option<usize>,
    pub duration_secs: Option<f64>,
    pub ramp_up_per_sec: Option<f64>,
    pub churn_per_min: Option<f64>,
    pub video_bitrate_kbps: Option<u64>,
    pub fps: Option<u32>,
    pub packet_size: Option<usize>,
    pub simulcast: Option<bool>,
    pub simulcast_quality: Option<SimulcastQuality>,
    /// Group visit: seconds between the host's looks at the waiting room (0: as they arrive).
    pub admit_interval_secs: Option<f64>,
    /// Group visit: seconds each speaker speaks.
    pub speaker_every_secs: Option<f64>,
    /// Group visit: chat messages per minute per room.
    pub chat_per_min: Option<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    #[error(
        "no scenario given: use --scenario one-to-one|group|webinar|audio-only|group-visit or --scenario-file"
    )]
    Missing,
    #[error("cannot read scenario file {0}: {1}")]
    Read(String, String),
    #[error("scenario file {0} is not valid: {1}")]
    Parse(String, String),
    #[error("{0}")]
    Impossible(String),
}

impl ScenarioSpec {
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::Read(path.display().to_string(), e.to_string()))?;
        toml::from_str(&text)
            .map_err(|e| ScenarioError::Parse(path.display().to_string(), e.to_string()))
    }

    /// Fields set in `over` win.
    pub fn overlay(self, over: ScenarioSpec) -> ScenarioSpec {
        ScenarioSpec {
            scenario: over.scenario.or(self.scenario),
            rooms: over.rooms.or(self.rooms),
            room_size: over.room_size.or(self.room_size),
            publishers: over.publishers.or(self.publishers),
            duration_secs: over.duration_secs.or(self.duration_secs),
            ramp_up_per_sec: over.ramp_up_per_sec.or(self.ramp_up_per_sec),
            churn_per_min: over.churn_per_min.or(self.churn_per_min),
            video_bitrate_kbps: over.video_bitrate_kbps.or(self.video_bitrate_kbps),
            fps: over.fps.or(self.fps),
            packet_size: over.packet_size.or(self.packet_size),
            simulcast: over.simulcast.or(self.simulcast),
            simulcast_quality: over.simulcast_quality.or(self.simulcast_quality),
            admit_interval_secs: over.admit_interval_secs.or(self.admit_interval_secs),
            speaker_every_secs: over.speaker_every_secs.or(self.speaker_every_secs),
            chat_per_min: over.chat_per_min.or(self.chat_per_min),
        }
    }

    pub fn resolve(&self) -> Result<Scenario, ScenarioError> {
        let kind = self.scenario.ok_or(ScenarioError::Missing)?;
        let bad = |m: String| Err(ScenarioError::Impossible(m));
        let (default_size, default_publishers) = match kind {
            ScenarioKind::OneToOne => (2, 2),
            ScenarioKind::Group | ScenarioKind::AudioOnly => (4, usize::MAX),
            ScenarioKind::Webinar => (10, 1),
            // The visit the issue sizes for: a host and 30 patients.
            ScenarioKind::GroupVisit => (31, usize::MAX),
        };
        let rooms = self.rooms.unwrap_or(1);
        let room_size = self.room_size.unwrap_or(default_size);
        if kind == ScenarioKind::OneToOne && room_size != 2 {
            return bad(format!(
                "a one-to-one visit has 2 participants, not {room_size} (use --scenario group)"
            ));
        }
        if !(1..=10_000).contains(&rooms) {
            return bad(format!("--rooms must be 1 to 10000, not {rooms}"));
        }
        if !(2..=64).contains(&room_size) {
            return bad(format!("--room-size must be 2 to 64, not {room_size}"));
        }
        let publishers = self.publishers.unwrap_or(default_publishers).min(room_size);
        if kind == ScenarioKind::Webinar && !(1..=3).contains(&publishers) {
            return bad(format!("a webinar has 1 to 3 publishers, not {publishers}"));
        }
        if publishers == 0 {
            return bad("at least one participant per room must publish".into());
        }
        let duration = self.duration_secs.unwrap_or(30.0);
        if !(duration > 0.0 && duration <= 86_400.0) {
            return bad(format!(
                "--duration must be more than 0 s and at most 24 h, not {duration} s"
            ));
        }
        let ramp = self.ramp_up_per_sec.unwrap_or(10.0);
        if !(ramp > 0.0 && ramp <= 1000.0) {
            return bad(format!(
                "--ramp-up must be more than 0 and at most 1000 joins/s, not {ramp}"
            ));
        }
        let churn = self.churn_per_min.unwrap_or(0.0);
        if !(0.0..=600.0).contains(&churn) {
            return bad(format!("--churn must be 0 to 600 per minute, not {churn}"));
        }
        let simulcast = self.simulcast.unwrap_or(false);
        if simulcast && kind == ScenarioKind::AudioOnly {
            return bad(
                "--simulcast needs video, and the audio-only scenario sends none (use group)"
                    .into(),
            );
        }
        if kind == ScenarioKind::GroupVisit
            && let Some(q) = self.simulcast_quality
        {
            return bad(format!(
                "--simulcast-quality {} does not apply to a group visit: there subscribers \
                 choose layers with track_settings (tiles low, the speaker high)",
                q.as_str()
            ));
        }
        if !simulcast && let Some(q) = self.simulcast_quality {
            return bad(format!(
                "--simulcast-quality {} chooses a simulcast layer: add --simulcast",
                q.as_str()
            ));
        }
        let visit = if kind == ScenarioKind::GroupVisit {
            Some(self.visit_settings(room_size)?)
        } else {
            let flags = [
                ("--admit-interval", self.admit_interval_secs.is_some()),
                ("--speaker-every", self.speaker_every_secs.is_some()),
                ("--chat-rate", self.chat_per_min.is_some()),
            ];
            if let Some((flag, _)) = flags.iter().find(|(_, set)| *set) {
                return bad(format!("{flag} is for --scenario group-visit"));
            }
            None
        };
        let simulcast_quality =
            (simulcast && visit.is_none()).then(|| self.simulcast_quality.unwrap_or_default());
        let video = if kind == ScenarioKind::AudioOnly {
            None
        } else {
            let kbps = self.video_bitrate_kbps.unwrap_or(500);
            let fps = self.fps.unwrap_or(25);
            let packet_size = self.packet_size.unwrap_or(1200);
            if !(16..=50_000).contains(&kbps) {
                return bad(format!(
                    "--video-bitrate must be 16 to 50000 kbit/s, not {kbps}"
                ));
            }
            if !(1..=120).contains(&fps) {
                return bad(format!("--fps must be 1 to 120, not {fps}"));
            }
            if !(MIN_VIDEO_PAYLOAD..=1200).contains(&packet_size) {
                return bad(format!(
                    "--packet-size must be {MIN_VIDEO_PAYLOAD} to 1200 bytes (the path MTU leaves ~1200 for RTP payload), not {packet_size}",
                ));
            }
            Some(Video {
                bitrate_bps: kbps * 1000,
                fps,
                packet_size,
            })
        };
        Ok(Scenario {
            kind,
            rooms,
            room_size,
            publishers,
            duration: Duration::from_secs_f64(duration),
            ramp_up_per_sec: ramp,
            churn_per_min: churn,
            video,
            audio: true,
            simulcast,
            simulcast_quality,
            visit,
        })
    }

    fn visit_settings(&self, room_size: usize) -> Result<VisitSettings, ScenarioError> {
        let bad = |m: String| Err(ScenarioError::Impossible(m));
        let admit = self.admit_interval_secs.unwrap_or(0.0);
        if !(0.0..=600.0).contains(&admit) {
            return bad(format!(
                "--admit-interval must be 0 (as patients arrive) to 600 s, not {admit}"
            ));
        }
        let speaker = self.speaker_every_secs.unwrap_or(5.0);
        if !(1.0..=3600.0).contains(&speaker) {
            // The server decides every 300 ms over a few hundred ms of audio: a turn shorter
            // than a second could end before anyone is told of it.
            return bad(format!(
                "--speaker-every must be 1 to 3600 s, not {speaker}"
            ));
        }
        let chat = self.chat_per_min.unwrap_or(6.0);
        // Each participant may send one message a second on average (the server's limit).
        let most = 60.0 * room_size as f64;
        if !(0.0..=most).contains(&chat) {
            return bad(format!(
                "--chat-rate must be 0 to {most} messages per minute per room (one a second per \
                 participant, the server's limit), not {chat}"
            ));
        }
        Ok(VisitSettings {
            admit_interval_secs: admit,
            speaker_every_secs: speaker,
            chat_per_min: chat,
        })
    }
}

impl Scenario {
    pub fn participants(&self) -> usize {
        self.rooms * self.room_size
    }

    /// The layer subscribers ask for, when publishers send simulcast.
    pub fn selected_layer(&self) -> Option<Layer> {
        self.simulcast_quality.map(SimulcastQuality::layer)
    }

    /// Tracks each publisher sends.
    pub fn tracks_per_publisher(&self) -> usize {
        usize::from(self.audio) + usize::from(self.video.is_some())
    }

    /// Subscribed tracks when everyone is in: each participant receives every other publisher's
    /// tracks in their room.
    pub fn expected_subscriptions(&self) -> usize {
        let per_room = self.publishers * (self.room_size - 1) * self.tracks_per_publisher();
        self.rooms * per_room
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ScenarioKind) -> ScenarioSpec {
        ScenarioSpec {
            scenario: Some(kind),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_per_scenario() {
        let s = spec(ScenarioKind::OneToOne).resolve().unwrap();
        assert_eq!((s.rooms, s.room_size, s.publishers), (1, 2, 2));
        assert_eq!(s.expected_subscriptions(), 4);
        let g = ScenarioSpec {
            rooms: Some(2),
            ..spec(ScenarioKind::Group)
        }
        .resolve()
        .unwrap();
        assert_eq!(g.expected_subscriptions(), 2 * 4 * 3 * 2);
        let w = spec(ScenarioKind::Webinar).resolve().unwrap();
        assert_eq!((w.room_size, w.publishers), (10, 1));
        assert_eq!(w.expected_subscriptions(), 9 * 2);
        let a = spec(ScenarioKind::AudioOnly).resolve().unwrap();
        assert!(a.video.is_none());
        assert_eq!(a.expected_subscriptions(), 4 * 3);
    }

    #[test]
    fn impossible_numbers_are_refused_with_a_reason() {
        let cases = [
            ScenarioSpec {
                room_size: Some(3),
                ..spec(ScenarioKind::OneToOne)
            },
            ScenarioSpec {
                rooms: Some(0),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                room_size: Some(1),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                publishers: Some(4),
                ..spec(ScenarioKind::Webinar)
            },
            ScenarioSpec {
                duration_secs: Some(0.0),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                duration_secs: Some(f64::NAN),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                ramp_up_per_sec: Some(-1.0),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                fps: Some(0),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                packet_size: Some(9000),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                video_bitrate_kbps: Some(0),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                simulcast: Some(true),
                ..spec(ScenarioKind::AudioOnly)
            },
            ScenarioSpec {
                simulcast_quality: Some(SimulcastQuality::Low),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                simulcast: Some(false),
                simulcast_quality: Some(SimulcastQuality::High),
                ..spec(ScenarioKind::Group)
            },
            ScenarioSpec {
                packet_size: Some(MIN_VIDEO_PAYLOAD - 1),
                ..spec(ScenarioKind::Group)
            },
        ];
        for c in cases {
            assert!(
                matches!(c.resolve(), Err(ScenarioError::Impossible(_))),
                "{c:?}"
            );
        }
        assert_eq!(
            ScenarioSpec::default().resolve(),
            Err(ScenarioError::Missing)
        );
    }

    #[test]
    fn simulcast_sends_three_layers_and_chooses_one() {
        let plain = spec(ScenarioKind::Group).resolve().unwrap();
        assert!(!plain.simulcast);
        assert_eq!(plain.selected_layer(), None);
        let s = ScenarioSpec {
            simulcast: Some(true),
            ..spec(ScenarioKind::Group)
        }
        .resolve()
        .unwrap();
        assert_eq!(s.simulcast_quality, Some(SimulcastQuality::High));
        assert_eq!(s.selected_layer(), Some(Layer::F));
        // Subscriptions do not change: one video track per publisher, whatever its layers.
        assert_eq!(s.expected_subscriptions(), plain.expected_subscriptions());
        let medium = ScenarioSpec {
            simulcast: Some(true),
            simulcast_quality: Some(SimulcastQuality::Medium),
            ..spec(ScenarioKind::Webinar)
        }
        .resolve()
        .unwrap();
        assert_eq!(medium.selected_layer(), Some(Layer::H));
        let v = medium.video.unwrap();
        // 500 kbit/s: 125, 250 and 500 (+ rounding up to whole bytes per packet).
        let kbps = Layer::ALL.map(|l| v.sent_kbps(Some(l)).round());
        assert_eq!(kbps, [125.0, 250.0, 500.0]);
        assert_eq!(v.sent_kbps(None).round(), 500.0);
        let e = ScenarioSpec {
            simulcast: Some(true),
            ..spec(ScenarioKind::AudioOnly)
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("needs video"), "{e}");
        let e = ScenarioSpec {
            simulcast_quality: Some(SimulcastQuality::Low),
            ..spec(ScenarioKind::Group)
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("add --simulcast"), "{e}");
    }

    #[test]
    fn a_group_visit_is_a_host_and_thirty_patients_unless_told_otherwise() {
        let v = spec(ScenarioKind::GroupVisit).resolve().unwrap();
        assert_eq!((v.rooms, v.room_size, v.publishers), (1, 31, 31));
        assert_eq!(
            v.visit,
            Some(VisitSettings {
                admit_interval_secs: 0.0,
                speaker_every_secs: 5.0,
                chat_per_min: 6.0,
            })
        );
        assert!(v.video.is_some() && !v.simulcast);
        // With simulcast, track_settings choose the layers: no single chosen one.
        let s = ScenarioSpec {
            simulcast: Some(true),
            room_size: Some(5),
            admit_interval_secs: Some(10.0),
            speaker_every_secs: Some(2.0),
            chat_per_min: Some(0.0),
            ..spec(ScenarioKind::GroupVisit)
        }
        .resolve()
        .unwrap();
        assert!(s.simulcast);
        assert_eq!(s.selected_layer(), None);
        assert_eq!(s.expected_subscriptions(), 5 * 4 * 2);
        assert_eq!(s.visit.unwrap().admit_interval_secs, 10.0);
        // Other scenarios have no visit.
        assert_eq!(spec(ScenarioKind::Group).resolve().unwrap().visit, None);
    }

    #[test]
    fn group_visit_settings_out_of_range_or_on_another_scenario_are_refused() {
        let refused = |spec: ScenarioSpec, words: &str| {
            let e = spec.resolve().unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        };
        let gv = || spec(ScenarioKind::GroupVisit);
        refused(
            ScenarioSpec {
                speaker_every_secs: Some(0.5),
                ..gv()
            },
            "--speaker-every must be 1 to 3600 s",
        );
        refused(
            ScenarioSpec {
                admit_interval_secs: Some(-1.0),
                ..gv()
            },
            "--admit-interval",
        );
        refused(
            ScenarioSpec {
                room_size: Some(4),
                chat_per_min: Some(241.0),
                ..gv()
            },
            "--chat-rate must be 0 to 240",
        );
        refused(
            ScenarioSpec {
                simulcast: Some(true),
                simulcast_quality: Some(SimulcastQuality::Low),
                ..gv()
            },
            "does not apply to a group visit",
        );
        refused(
            ScenarioSpec {
                chat_per_min: Some(6.0),
                ..spec(ScenarioKind::Webinar)
            },
            "--chat-rate is for --scenario group-visit",
        );
    }

    #[test]
    fn a_file_gives_the_scenario_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "scenario = \"group\"\nrooms = 3\nroom_size = 5\nduration_secs = 12\n",
        )
        .unwrap();
        let file = ScenarioSpec::from_file(&path).unwrap();
        let s = file
            .overlay(ScenarioSpec {
                rooms: Some(2),
                ..Default::default()
            })
            .resolve()
            .unwrap();
        assert_eq!((s.kind, s.rooms, s.room_size), (ScenarioKind::Group, 2, 5));
        assert_eq!(s.duration, Duration::from_secs(12));
        std::fs::write(
            &path,
            "scenario = \"group\"\nsimulcast = true\nsimulcast_quality = \"low\"\n",
        )
        .unwrap();
        let s = ScenarioSpec::from_file(&path).unwrap().resolve().unwrap();
        assert_eq!(s.selected_layer(), Some(Layer::Q));
        std::fs::write(
            &path,
            "scenario = \"group-visit\"\nroom_size = 11\nspeaker_every_secs = 8\n",
        )
        .unwrap();
        let s = ScenarioSpec::from_file(&path)
            .unwrap()
            .overlay(ScenarioSpec {
                chat_per_min: Some(30.0),
                ..Default::default()
            })
            .resolve()
            .unwrap();
        let visit = s.visit.unwrap();
        assert_eq!((s.kind, s.room_size), (ScenarioKind::GroupVisit, 11));
        assert_eq!((visit.speaker_every_secs, visit.chat_per_min), (8.0, 30.0));
        std::fs::write(&path, "scenario = \"party\"\n").unwrap();
        assert!(matches!(
            ScenarioSpec::from_file(&path),
            Err(ScenarioError::Parse(..))
        ));
        std::fs::write(&path, "scenario = \"group\"\nroomz = 3\n").unwrap();
        assert!(matches!(
            ScenarioSpec::from_file(&path),
            Err(ScenarioError::Parse(..))
        ));
    }
}
