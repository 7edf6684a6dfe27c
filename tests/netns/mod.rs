//! Tests that need a network of their own: the test binary runs the named test again under
//! `unshare -n` (root only, as in CI, which must not skip them), where the inner run sets up
//! loopback and nftables rules that touch nothing outside.
#![allow(dead_code)]

use std::process::Command;

/// Set in the inner run's environment.
pub const INSIDE: &str = "VARDRUM_TEST_INSIDE_NETNS";

pub fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(status.success(), "{cmd} failed");
}

pub fn can_make_namespaces() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        return Err("not root".into());
    }
    for tool in ["unshare", "nft", "ip"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool} >/dev/null"))
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!(
                "{tool} is missing (Debian packages util-linux, nftables, iproute2)"
            ));
        }
    }
    Ok(())
}

/// Runs test `name` of this binary again inside a fresh network namespace (root only; CI runs
/// as root and must not skip).
pub fn run_in_a_namespace(name: &str) {
    if let Err(why) = can_make_namespaces() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the network-namespace tests: {why}"
        );
        eprintln!("skipping {name}: {why}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new("unshare")
        .arg("-n")
        .arg(exe)
        .args([
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("unshare");
    assert!(status.success(), "the run inside the namespace failed");
}

/// The runtime the inner runs use: two workers, as on the 2-core machines CI runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn log_if_asked() {
    // VARDRUM_TEST_LOG=vardrum_sfu=debug (say) shows the server's view while investigating.
    if let Ok(filter) = std::env::var("VARDRUM_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}
