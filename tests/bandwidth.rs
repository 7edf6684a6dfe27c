//! Layers follow the bandwidth toward a subscriber: with the link from the SFU limited by a real
//! rate limit (nftables, in a network namespace of the test's own), a subscriber that was on
//! the best simulcast layer moves to a lower one, and back up when the limit is lifted; its
//! video never stops on the way, and audio is untouched.

mod common;
mod netns;

use std::process::Command;

use common::{MediaParticipant, Received, TestServer, wait_until};
use netns::{INSIDE, log_if_asked, run_in_a_namespace, runtime, sh};
use vardrum_signalling::Role;

const NAME: &str = "a_subscriber_moves_down_a_layer_under_a_rate_limit_and_back_up_without_it";

#[test]
fn a_subscriber_moves_down_a_layer_under_a_rate_limit_and_back_up_without_it() {
    if std::env::var_os(INSIDE).is_some() {
        return inside_the_namespace();
    }
    run_in_a_namespace(NAME);
}

fn layer(r: &Received, layer: &str) -> u64 {
    r.from("pub", &format!("video.{layer}"))
}

fn inside_the_namespace() {
    log_if_asked();
    sh("ip link set lo up");
    runtime().block_on(async {
        let server = TestServer::start_with(|c| c.media.workers = Some(1)).await;
        let port = server.server().media_addr.port();
        // The publisher's layers cost about 190, 370 and 730 kbit/s (100 packets a second of
        // 225, 450 and 900 bytes); the viewer starts on the best.
        let _publisher =
            MediaParticipant::join_simulcast(&server, "bw", "pub", Role::Patient).await;
        // The viewer's camera is off, so the limited link carries (almost) only what it gets.
        let mut viewer =
            MediaParticipant::join_audio_only(&server, "bw", "viewer", Role::Clinician).await;
        wait_until(&mut viewer.received, "the best layer", |r| {
            layer(r, "f") > 200
        })
        .await;

        // Everything the SFU sends is held to 60 kB/s (480 kbit/s) with a 30 kB bucket, as a
        // link's token bucket would: the best layer no longer fits, the viewer's receiver
        // reports show the loss, and the SFU moves it down.
        sh("nft add table inet bw");
        sh("nft add chain inet bw out '{ type filter hook output priority 0 ; }'");
        sh(&format!(
            "nft add rule inet bw out udp sport {port} limit rate over 60 kbytes/second burst 30 kbytes drop"
        ));
        let r = wait_until(&mut viewer.received, "a lower layer", |r| {
            layer(r, "q") + layer(r, "h") > 300
        })
        .await;
        // Once on a lower layer, the best one has stopped (at most what was in flight).
        let (f, low, audio) = (
            layer(&r, "f"),
            layer(&r, "q") + layer(&r, "h"),
            r.from("pub", "audio"),
        );
        let r = wait_until(&mut viewer.received, "more of the lower layers", move |r| {
            layer(r, "q") + layer(r, "h") > low + 300
        })
        .await;
        assert!(
            layer(&r, "f") <= f + 20,
            "the best layer went on: {f} -> {}",
            layer(&r, "f")
        );
        assert!(r.from("pub", "audio") > audio, "audio goes on");

        // The limit is lifted: the estimate grows back and the viewer returns to the best.
        sh("nft delete table inet bw");
        let f = layer(&r, "f");
        wait_until(&mut viewer.received, "the best layer again", move |r| {
            layer(r, "f") > f + 200
        })
        .await;
        let listing = Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .expect("nft");
        assert!(!String::from_utf8_lossy(&listing.stdout).contains("inet bw"));
        assert_eq!(viewer.received.borrow().corrupt, 0);
        server.stop().await;
    });
}
