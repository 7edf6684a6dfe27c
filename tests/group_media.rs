//! Media in group visits with real WebRTC clients: a room of twenty in which everyone receives
//! everyone's audio and video, the active speaker following the loudest voice, and what a page
//! shows deciding what is forwarded (hidden tiles paused, small tiles on the low layer).

mod common;

use common::{MediaParticipant, PATIENCE, TestServer, send_join, wait_until};
use vardrum_signalling::client::SignallingClient;
use vardrum_signalling::{ClientMessage, ParticipantState, Quality, Role, ServerMessage};

/// These tests run one at a time: each is dozens of real peer connections on a 2-core machine,
/// and a machine too busy to keep up drops packets, which the SFU rightly reads as a link
/// too slow for all the video.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Joins a group visit and, for a patient, waits to be let in; returns the session ready for
/// media.
async fn enter(
    server: &TestServer,
    room: &str,
    id: &str,
    name: &str,
    role: Role,
) -> SignallingClient {
    let token = server.group_token(room, id, name, role, None, 0);
    let mut client = send_join(&server.ws_url(), room, token).await;
    match client.recv().await.expect("joined") {
        ServerMessage::Joined { participant, .. } => {
            let expected = if role == Role::Clinician {
                ParticipantState::Active
            } else {
                ParticipantState::Waiting
            };
            assert_eq!(participant.state, expected);
        }
        other => panic!("{other:?}"),
    }
    client
}

/// Reads until `admitted`.
async fn admitted(client: &mut SignallingClient) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let ServerMessage::Admitted { .. } = client.recv().await.expect("a message") {
                return;
            }
        }
    })
    .await
    .expect("admitted in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_twenty_with_one_host_receives_everyone() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let room = "group-twenty";
    let host_session = enter(&server, room, "host", "Anna Berg", Role::Clinician).await;
    let mut waiting = Vec::new();
    for i in 1..20 {
        let id = format!("pat{i:02}");
        let name = format!("Patient Number{i} Surname{i}");
        waiting.push((
            id.clone(),
            enter(&server, room, &id, &name, Role::Patient).await,
        ));
    }
    let mut people = vec![MediaParticipant::from_client_slow(host_session, "host").await];
    people[0].send(ClientMessage::AdmitAll);
    for (id, mut client) in waiting {
        admitted(&mut client).await;
        people.push(MediaParticipant::from_client_slow(client, &id).await);
    }
    let ids: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
    for who in &mut people {
        let me = who.id.clone();
        for other in ids.iter().filter(|o| **o != me) {
            who.wait_media_from(other, 3).await;
        }
    }
    let stats = server.server().state.sfu.stats().snapshot();
    assert_eq!(stats.participants, 20);
    assert_eq!(stats.subscriptions, 20 * 19 * 2, "{stats:?}");
    for who in &people {
        let r = who.received.borrow();
        assert_eq!(r.corrupt, 0);
        // What patients learn of each other is initials ("P. N. S."), never a surname.
        if who.id != "host" {
            for m in &r.roster {
                let json = m.to_json();
                assert!(!json.contains("Surname"), "{} saw {json}", who.id);
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_speaker_follows_the_loudest_voice() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let room = "group-speaker";
    let host = enter(&server, room, "host", "Anna Berg", Role::Clinician).await;
    let mut pat_session = enter(&server, room, "pat", "Pat Persson", Role::Patient).await;
    let mut ola_session = enter(&server, room, "ola", "Ola Nordin", Role::Patient).await;
    let host = MediaParticipant::from_client(host, "host").await;
    host.send(ClientMessage::AdmitAll);
    admitted(&mut pat_session).await;
    admitted(&mut ola_session).await;
    let mut pat = MediaParticipant::from_client(pat_session, "pat").await;
    let mut ola = MediaParticipant::from_client(ola_session, "ola").await;
    pat.wait_media_from("host", 20).await;
    pat.wait_media_from("ola", 20).await;
    let host_id = pat.received.borrow().id_of("host");
    let ola_id = pat.received.borrow().id_of("ola");
    assert!(host_id.starts_with("p-") && ola_id.starts_with("p-"));

    // The host talks, the patients' microphones hear only their rooms.
    host.speak_at(25);
    pat.speak_at(95);
    ola.speak_at(100);
    for who in [&mut pat, &mut ola] {
        let id = host_id.clone();
        wait_until(&mut who.received, "the host as speaker", move |r| {
            r.speakers.last() == Some(&id)
        })
        .await;
    }
    // Ola answers; the host listens.
    host.speak_at(100);
    ola.speak_at(20);
    let id = ola_id.clone();
    let r = wait_until(&mut pat.received, "ola as speaker", move |r| {
        r.speakers.last() == Some(&id)
    })
    .await;
    // One change per turn, no flicker between them.
    assert_eq!(r.speakers, [host_id, ola_id]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_video_is_paused_and_a_small_tile_gets_the_low_layer() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let publisher = MediaParticipant::join_simulcast(&server, "tiles", "pub", Role::Patient).await;
    let mut viewer = MediaParticipant::join(&server, "tiles", "viewer", Role::Clinician).await;
    let r = wait_until(&mut viewer.received, "the best layer", |r| {
        r.from("pub", "video.f") > 50
    })
    .await;
    let track = r.tracks[&("pub".to_owned(), "video".to_owned())].clone();

    // A small tile: the low layer, at its next keyframe.
    viewer.send(ClientMessage::TrackSettings {
        track: track.clone(),
        visible: true,
        width: 240,
        height: 135,
    });
    let q = viewer.received.borrow().from("pub", "video.q");
    wait_until(&mut viewer.received, "the low layer", move |r| {
        r.from("pub", "video.q") > q + 50
    })
    .await;
    // set_quality high cannot lift it above what the tile shows...
    viewer.send(ClientMessage::SetQuality {
        track: track.clone(),
        quality: Quality::High,
    });
    // ...and a big tile brings the best layer back.
    viewer.send(ClientMessage::TrackSettings {
        track: track.clone(),
        visible: true,
        width: 1280,
        height: 720,
    });
    let f = viewer.received.borrow().from("pub", "video.f");
    wait_until(&mut viewer.received, "the best layer again", move |r| {
        r.from("pub", "video.f") > f + 50
    })
    .await;

    // Hidden: no video at all, audio goes on. Whatever was in flight when the server paused it
    // may still arrive, but nothing after: 100 audio packets later (2 s) video has stopped.
    viewer.send(ClientMessage::TrackSettings {
        track: track.clone(),
        visible: false,
        width: 0,
        height: 0,
    });
    // A round trip through the room (an unknown track is refused) marks when it was applied.
    viewer.send(ClientMessage::SetQuality {
        track: "video-none".into(),
        quality: Quality::Low,
    });
    let r = wait_until(&mut viewer.received, "the room's answer", |r| {
        !r.errors.is_empty()
    })
    .await;
    let (video, audio) = (r.from("pub", "video.f"), r.from("pub", "audio"));
    let r = wait_until(&mut viewer.received, "more audio", move |r| {
        r.from("pub", "audio") > audio + 100
    })
    .await;
    assert!(
        r.from("pub", "video.f") <= video + 10,
        "video went on while hidden: {} -> {}",
        video,
        r.from("pub", "video.f")
    );
    // Shown again: video comes back.
    viewer.send(ClientMessage::TrackSettings {
        track,
        visible: true,
        width: 1280,
        height: 720,
    });
    let v = r.from("pub", "video.f");
    wait_until(&mut viewer.received, "video again", move |r| {
        r.from("pub", "video.f") > v + 50
    })
    .await;
    drop(publisher);
    server.stop().await;
}
