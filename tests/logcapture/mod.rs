//! Captures every tracing event of the test process at TRACE, for tests that prove something
//! never reaches the logs (identity numbers, chat text). The subscriber is process-wide, so a
//! test that uses this is a test binary of its own.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// Everything every subscriber-visible event wrote, as text.
pub fn captured() -> &'static Mutex<Vec<u8>> {
    static BUFFER: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUFFER.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = captured().lock().unwrap_or_else(|e| e.into_inner());
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide subscriber once: every crate at TRACE (the vardrum crates and
/// everything they call, `log` records included), fields and spans in full, no colours and
/// no timestamps (digits that are not identity numbers).
pub fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            // The server's own filter, asked for everything: what it still holds back is what
            // no setting can make the server log.
            .with_env_filter(vardrum::logging::filter(Some("trace")))
            .with_writer(|| Capture)
            .with_ansi(false)
            .without_time()
            .try_init()
            .expect("the only subscriber of this test binary");
    });
}

/// What was captured so far, as text.
pub fn captured_text() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}
