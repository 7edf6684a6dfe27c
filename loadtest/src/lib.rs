//! `vardrum-loadtest`: simulated participants with real WebRTC against a vardrum server (or a
//! Janus VideoRoom, for comparison on the same machine), with measurements of what a person
//! would notice (loss, latency, jitter, freezes, join time) and of what the server spends (CPU,
//! memory, forwarded packets).
//!
//! ```text
//!   scenario ──▶ run: ramp up participants ──▶ participant (vardrum) or janus: signalling
//!                  │                               │ + 2 peer connections (webrtc_client)
//!                  │                               │ stamped synthetic media out
//!                  │                               ▼ stamped media in ──▶ stats per track
//!                  └──▶ collector ──▶ report (table, JSON, threshold checks)
//! ```
//!
//! Each packet's payload starts with a stamp (sender, track, packet number, send time), so the
//! receiver measures without decoding: the load tester's own per-packet cost stays small, and it
//! reports its CPU apart from the server's, since both share the machine.
//!
//! The group-visit scenario adds a shared room per visit ([`group_visit`]): participant ids,
//! admissions, and a conductor that gives one participant at a time a loud voice and orders
//! chat messages, against which join-to-admitted time, the speaker-switch delay and chat
//! delivery are measured.

pub mod collector;
pub mod group_visit;
pub mod http;
pub mod janus;
pub mod media;
pub mod participant;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server_stats;
pub mod stats;
pub mod tokens;
pub mod webrtc_client;
