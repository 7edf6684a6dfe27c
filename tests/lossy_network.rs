//! Retransmission on a lossy network: with 5 % of all UDP packets dropped (both legs, both
//! directions), video arrives nearly whole because lost packets are NACKed and resent on each
//! leg, while audio (which WebRTC does not retransmit) shows the raw loss.
//!
//! The loss is made with nftables inside a network namespace of the test's own: the test runs
//! itself again under `unshare -n` (root only, as in CI) and the inner run sets up the namespace.

mod common;

use std::process::Command;

use common::{MediaParticipant, TestServer};
use vardrum_signalling::Role;

const INSIDE: &str = "VARDRUM_TEST_INSIDE_NETNS";
const NAME: &str = "nack_recovers_video_lost_on_the_network";

fn sh(cmd: &str) {
    let status = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(status.success(), "{cmd} failed");
}

fn can_make_namespaces() -> Result<(), String> {
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

// Ignored in the default run: about one run in four (3 of 12 on 2026-12-01) never connects one
// peer connection under 5 % loss. Cause, from `VARDRUM_TEST_LOG=vardrum_sfu=debug,rtc_dtls=debug`:
// a bug in the DTLS server of `rtc-dtls` 0.21.1 (the newest), which both the SFU and this test's
// client use. When the server's flight 4 (ServerHello ... ServerHelloDone) is lost, the client
// retransmits its flight 3; the server, waiting in flight 4, parses it, finds no progress, and
// clears its own retransmission timer (`Handshaker::wait` sets `current_retransmit_timer = None`
// on every received packet), so flight 4 is never sent again (RFC 6347 4.2.4 says to resend it)
// and the client gives up after 8 tries ("Flight 3 current_retransmit_count 8 >
// maximum_retransmit_number 7"). Here the stuck server is the test's client (the SFU answers,
// so it is the DTLS client on publisher connections); with browsers it would be the SFU on a
// subscriber connection. Until that is fixed (upstream, or a patched copy), run it with
// `cargo test --test lossy_network -- --ignored`.
#[test]
#[ignore = "rtc-dtls 0.21.1 never resends a lost flight 4: about one run in four stalls (see above)"]
fn nack_recovers_video_lost_on_the_network() {
    if std::env::var_os(INSIDE).is_some() {
        return inside_the_namespace();
    }
    if let Err(why) = can_make_namespaces() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the lossy-network test: {why}"
        );
        eprintln!("skipping the lossy-network test: {why}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new("unshare")
        .arg("-n")
        .arg(exe)
        .args([
            "--exact",
            NAME,
            "--nocapture",
            "--test-threads=1",
            "--ignored",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("unshare");
    assert!(
        status.success(),
        "the run inside the lossy namespace failed"
    );
}

fn inside_the_namespace() {
    // VARDRUM_TEST_LOG=vardrum_sfu=debug (say) shows the server's view while investigating.
    if let Ok(filter) = std::env::var("VARDRUM_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    sh("ip link set lo up");
    sh("nft add table inet lossy");
    sh("nft add chain inet lossy in '{ type filter hook input priority 0 ; }'");
    sh("nft add rule inet lossy in iifname lo meta l4proto udp numgen random mod 100 '<' 5 drop");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = TestServer::start().await;
        let mut anna = MediaParticipant::join(&server, "lossy", "anna", Role::Clinician).await;
        let mut pat = MediaParticipant::join(&server, "lossy", "pat", Role::Patient).await;
        // ~6 s of media: 100 video and 50 audio packets a second each way.
        let t0 = std::time::Instant::now();
        let at_anna = anna.wait_media_from("pat", 300).await;
        eprintln!("anna had 300 from pat after {:?}", t0.elapsed());
        let at_pat = pat.wait_media_from("anna", 300).await;
        for (who, r, from) in [("anna", &at_anna, "pat"), ("pat", &at_pat, "anna")] {
            // The newest half second is left out: those may still be in retransmission.
            let video = r.loss(from, "video", 50);
            let audio = r.loss(from, "audio", 25);
            eprintln!(
                "{who} from {from}: video loss {:.2} %, audio loss {:.2} %",
                video * 100.0,
                audio * 100.0
            );
            // Two legs at 5 % lose ~10 % of what is not retransmitted: audio shows the network
            // really is lossy; video, NACKed on both legs, must be far below it. (Measured here:
            // video 0–2 %, audio 9–13 %; some video stays lost when a NACK or its answer is lost
            // too. docs/benchmarks.md has the numbers.)
            assert!(audio > 0.04, "the network should lose audio ({audio})");
            assert!(
                video < audio / 3.0,
                "NACK should recover most video ({video} vs audio {audio})"
            );
            assert_eq!(r.corrupt, 0);
        }
        server.stop().await;
    });
}
