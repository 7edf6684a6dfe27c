//! Simulcast through the SFU with real WebRTC clients: a publisher sends its video as three
//! layers (`q`, `h`, `f`), a subscriber gets the best one by default and the one it asks for
//! with `set_quality`, switched at a keyframe and renumbered so that it sees one stream.

mod common;

use common::{MediaParticipant, TestServer, wait_until};
use vardrum_signalling::{ClientMessage, ErrorCode, Quality, Role, ServerMessage};

/// Packets of `layer` from `publisher` that `who` has received.
fn layer_count(who: &MediaParticipant, publisher: &str, layer: &str) -> u64 {
    who.received
        .borrow()
        .from(publisher, &format!("video.{layer}"))
}

/// Waits until `who` receives `layer` and no other, and returns how many of the others had
/// arrived by then (they must not grow afterwards).
async fn settle_on(who: &mut MediaParticipant, publisher: &str, layer: &str) {
    let others: Vec<&str> = ["q", "h", "f"]
        .into_iter()
        .filter(|l| *l != layer)
        .collect();
    let before: Vec<u64> = others
        .iter()
        .map(|l| layer_count(who, publisher, l))
        .collect();
    let start = layer_count(who, publisher, layer);
    let publisher_owned = publisher.to_owned();
    let layer_owned = layer.to_owned();
    wait_until(&mut who.received, "the chosen layer to flow", move |r| {
        r.from(&publisher_owned, &format!("video.{layer_owned}")) > start + 100
    })
    .await;
    // Once the chosen layer flows, the others have stopped: look twice, 100 packets apart.
    let mid: Vec<u64> = others
        .iter()
        .map(|l| layer_count(who, publisher, l))
        .collect();
    let now = layer_count(who, publisher, layer);
    let publisher_owned = publisher.to_owned();
    let layer_owned = layer.to_owned();
    wait_until(&mut who.received, "more of the chosen layer", move |r| {
        r.from(&publisher_owned, &format!("video.{layer_owned}")) > now + 100
    })
    .await;
    let after: Vec<u64> = others
        .iter()
        .map(|l| layer_count(who, publisher, l))
        .collect();
    assert_eq!(
        mid, after,
        "only {layer} flows once it does (others before the switch: {before:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_the_layer_it_asks_for() {
    // VARDRUM_TEST_LOG=vardrum_sfu=debug (say) shows the server's view while investigating.
    if let Ok(filter) = std::env::var("VARDRUM_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let server = TestServer::start().await;
    let publisher = MediaParticipant::join_simulcast(&server, "sim", "pub", Role::Patient).await;
    let mut viewer = MediaParticipant::join(&server, "sim", "viewer", Role::Clinician).await;

    // By default the best layer.
    settle_on(&mut viewer, "pub", "f").await;
    let track = wait_until(&mut viewer.received, "the video track id", |r| {
        r.tracks
            .contains_key(&("pub".to_owned(), "video".to_owned()))
    })
    .await
    .tracks[&("pub".to_owned(), "video".to_owned())]
        .clone();

    for (quality, layer) in [
        (Quality::Low, "q"),
        (Quality::Medium, "h"),
        (Quality::High, "f"),
    ] {
        viewer.send(ClientMessage::SetQuality {
            track: track.clone(),
            quality,
        });
        settle_on(&mut viewer, "pub", layer).await;
    }
    let received = viewer.received.borrow().clone();
    assert_eq!(received.corrupt, 0, "every packet arrived intact");
    // Audio was never affected.
    assert!(received.from("pub", "audio") > 100);

    // A track the viewer does not have is refused, and nothing else changes.
    viewer.send(ClientMessage::SetQuality {
        track: "video-nosuchtrack".into(),
        quality: Quality::Low,
    });
    let r = wait_until(&mut viewer.received, "an error", |r| !r.errors.is_empty()).await;
    assert!(
        matches!(
            &r.errors[0],
            ServerMessage::Error {
                code: ErrorCode::BadMessage,
                ..
            }
        ),
        "{:?}",
        r.errors
    );
    settle_on(&mut viewer, "pub", "f").await;

    // The publisher sees the viewer's video as before: its own, non-simulcast.
    let mut publisher = publisher;
    wait_until(&mut publisher.received, "the viewer's video", |r| {
        r.from("viewer", "video") > 50
    })
    .await;
    server.stop().await;
}
