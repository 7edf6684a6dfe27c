//! Retransmission on a lossy network: with 5 % of all UDP packets dropped (both legs, both
//! directions), video arrives nearly whole because lost packets are NACKed and resent on each
//! leg, while audio (which WebRTC does not retransmit) shows the raw loss.
//!
//! The loss is made with nftables inside a network namespace of the test's own: the test runs
//! itself again under `unshare -n` (root only, as in CI) and the inner run sets up the namespace.

mod common;
mod netns;

use std::process::Command;

use common::{MediaParticipant, TestServer};
use netns::{INSIDE, log_if_asked, run_in_a_namespace, runtime, sh};
use vardrum_signalling::Role;
const NAME: &str = "nack_recovers_video_lost_on_the_network";

// Ignored in the default run: about one run in four (3 of 12 on 2026-12-01) never connects one
// peer connection under 5 % loss. Cause, from `VARDRUM_TEST_LOG=vardrum_sfu=debug,rtc_dtls=debug`:
// a bug in `rtc-dtls` 0.21.1 (the newest), which this test's client uses too. When the DTLS
// server's flight 4 (ServerHello ... ServerHelloDone) is lost, the client repeats its flight 3;
// the server, waiting in flight 4, parses it, finds no progress, and clears its own
// retransmission timer (`Handshaker::wait` sets `current_retransmit_timer = None` on every
// received packet), so flight 4 is never sent again and the client gives up after 8 tries
// ("Flight 3 current_retransmit_count 8 > maximum_retransmit_number 7"). The SFU works around it
// for itself (`sfu/src/dtls_resend.rs`, proven by the next test); the stuck side left here is the
// test's client, the DTLS server on publisher connections (the SFU answers there, so it is the
// DTLS client). Run it with `cargo test --test lossy_network -- --ignored`.
#[test]
#[ignore = "the test client's rtc-dtls 0.21.1 never resends a lost flight 4: about one run in four stalls"]
fn nack_recovers_video_lost_on_the_network() {
    if std::env::var_os(INSIDE).is_some() {
        return inside_the_namespace();
    }
    run_in_a_namespace(NAME);
}

/// A lost ServerHello flight does not strand a connection: the SFU's first ServerHello to each
/// client is dropped (nftables, matched in the DTLS record), the client repeats its ClientHello,
/// and the SFU sends its flight again (`sfu/src/dtls_resend.rs`) although its DTLS core would
/// not. Without that, both subscriber connections (where the SFU is the DTLS server) never
/// complete and no media arrives.
#[test]
fn a_lost_server_hello_flight_is_sent_again() {
    if std::env::var_os(INSIDE).is_some() {
        return server_hello_lost_once();
    }
    run_in_a_namespace(SERVER_HELLO_LOST);
}

const SERVER_HELLO_LOST: &str = "a_lost_server_hello_flight_is_sent_again";

fn server_hello_lost_once() {
    log_if_asked();
    sh("ip link set lo up");
    runtime().block_on(async {
        // One media worker: its port is the one the rule below watches.
        let server = TestServer::start_with(|c| c.media.workers = Some(1)).await;
        let port = server.server().media_addr.port();
        // The UDP payload starts at transport-header bit 64: a DTLS handshake record (22) whose
        // first message (record header 13 bytes, then the type) is a ServerHello (2), from the
        // SFU's port, to a client port not seen yet: dropped, and the port remembered.
        sh("nft add table inet once");
        sh("nft add set inet once seen '{ type inet_service ; flags dynamic ; }'");
        sh("nft add chain inet once out '{ type filter hook output priority 0 ; }'");
        sh(&format!(
            "nft add rule inet once out udp sport {port} @th,64,8 22 @th,168,8 2 \
             udp dport != @seen add @seen '{{ udp dport }}' counter drop"
        ));
        let mut anna = MediaParticipant::join(&server, "lossy", "anna", Role::Clinician).await;
        let mut pat = MediaParticipant::join(&server, "lossy", "pat", Role::Patient).await;
        let at_anna = anna.wait_media_from("pat", 100).await;
        let at_pat = pat.wait_media_from("anna", 100).await;
        assert!(at_anna.from("pat", "video") > 0 && at_pat.from("anna", "video") > 0);
        // The rule really dropped something: one ServerHello per subscriber connection.
        let rules = Command::new("nft")
            .args(["list", "chain", "inet", "once", "out"])
            .output()
            .expect("nft list");
        let listing = String::from_utf8_lossy(&rules.stdout);
        assert!(
            listing.contains("counter packets 2 "),
            "expected two dropped ServerHellos: {listing}"
        );
        server.stop().await;
    });
}

fn inside_the_namespace() {
    log_if_asked();
    sh("ip link set lo up");
    sh("nft add table inet lossy");
    sh("nft add chain inet lossy in '{ type filter hook input priority 0 ; }'");
    sh("nft add rule inet lossy in iifname lo meta l4proto udp numgen random mod 100 '<' 5 drop");
    runtime().block_on(async {
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
