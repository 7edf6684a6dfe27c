//! The `vardrum` server: a WebRTC SFU for video visits (crate `vardrum-sfu`), its signalling
//! endpoint (protocol in crate `vardrum-signalling`), the browser client in `web/`, and the
//! database they record into. `main.rs` is the command line around [`server::Server`].
//!
//! ```text
//!   browser ──HTTPS──▶ axum router ── /            web/ (call page)
//!                                  ── /ws          ws.rs ──▶ vardrum_sfu::Sfu::join ──▶ room task
//!                                  ── /api/v1/calls/{room}/uploads
//!                                                  uploads/ ──▶ Sfu::admission, file store, table
//!                                  ── /healthz, /metrics
//!   browser ══UDP (one port)══════════════════════════════▶ SFU media mux ──▶ room task
//! ```

pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod logging;
pub mod metrics;
pub mod portal;
pub mod secret;
pub mod server;
pub mod uploads;
pub mod ws;
