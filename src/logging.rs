//! The server's log filter: what `RUST_LOG` asks for, capped where a crate would log what people
//! say or show in a call.
//!
//! tungstenite logs every WebSocket frame it sends or receives, payload included, at TRACE. A
//! signalling frame carries chat text (health data), names and SDP, so with `RUST_LOG=trace` the
//! chat would reach the logs. No setting may do that: the cap is applied after the user's
//! directives and cannot be lifted by them (`tests/chat_privacy.rs` proves it at TRACE).

use tracing_subscriber::EnvFilter;

/// When `RUST_LOG` is not set: the server's own news, not every client's network weather (the
/// WebRTC core logs every DTLS and ICE hiccup of every client at info/warn).
pub const DEFAULT: &str =
    "info,rtc=error,rtc_dtls=error,rtc_ice=error,rtc_srtp=error,rtc_sctp=error";

/// Crates that log message payloads below this level, and the level they are held to.
const CAPS: &[&str] = &["tungstenite=info", "tokio_tungstenite=info"];

/// The filter for `spec` (a `RUST_LOG` value; `None`: [`DEFAULT`]) with the privacy caps.
pub fn filter(spec: Option<&str>) -> EnvFilter {
    let mut filter = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT));
    for cap in CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_hold_whatever_rust_log_says() {
        for spec in [
            None,
            Some("trace"),
            Some("tungstenite=trace"),
            Some("debug,tungstenite=trace"),
        ] {
            let text = filter(spec).to_string();
            assert!(text.contains("tungstenite=info"), "{spec:?}: {text}");
        }
        // A spec that does not parse falls back to the default, capped.
        assert!(filter(Some("=[")).to_string().contains("rtc=error"));
    }
}
