//! A video visit end to end: real WebRTC participants join through real signalling and
//! exchange media through the SFU.

mod common;

use std::time::Duration;

use common::{
    MediaParticipant, PATIENCE, TestServer, expect_bye, expect_close, join, send_join, wait_until,
};
use vardrum_signalling::{ByeReason, ErrorCode, LeftReason, ParticipantState, Role, ServerMessage};

/// Polls `cond` until it holds, failing after [`PATIENCE`]. For state that has no change
/// notification (a room's removal from the directory, a row written by a background task).
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_participants_see_and_hear_each_other_and_leaving_frees_the_room() {
    let server = TestServer::start().await;
    let mut anna = MediaParticipant::join(&server, "visit-1", "anna", Role::Clinician).await;
    let mut pat = MediaParticipant::join(&server, "visit-1", "pat", Role::Patient).await;

    let at_anna = anna.wait_media_from("pat", 100).await;
    let at_pat = pat.wait_media_from("anna", 100).await;
    assert_eq!(at_anna.corrupt, 0, "payloads must arrive intact");
    assert_eq!(at_pat.corrupt, 0, "payloads must arrive intact");
    // Nobody receives their own media back.
    assert_eq!(at_anna.from("anna", "video"), 0);

    let stats = server.server().state.sfu.stats().snapshot();
    assert_eq!(stats.rooms, 1);
    assert_eq!(stats.participants, 2);
    assert_eq!(stats.publications, 4);
    assert_eq!(stats.subscriptions, 4);
    assert!(stats.rtp_packets_forwarded >= 400, "{stats:?}");
    assert!(
        stats.keyframe_requests >= 1,
        "a new subscriber asks for a keyframe"
    );

    let pat_saw = pat.leave().await;
    assert_eq!(pat_saw.closed.as_ref().map(|c| c.0), Some(1000));
    let mut rx = anna.received.clone();
    wait_until(&mut rx, "anna to hear that pat left", |r| r.left("pat")).await;
    let left_reason = rx.borrow().roster.iter().find_map(|m| match m {
        ServerMessage::ParticipantLeft { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(left_reason, Some(LeftReason::Left));

    anna.leave().await;
    let sfu = server.server().state.sfu.clone();
    eventually("the room to close", || {
        let sfu = sfu.clone();
        async move { sfu.room_count() == 0 }
    })
    .await;
    let stats = sfu.stats().snapshot();
    assert_eq!(
        (
            stats.rooms,
            stats.participants,
            stats.publications,
            stats.subscriptions
        ),
        (0, 0, 0, 0)
    );

    // The visit was recorded, with its end and size, and nothing else.
    let db = server.server().state.db.clone();
    eventually("the call to be recorded as ended", || {
        let db = db.clone();
        async move {
            let row: Option<(String, Option<i64>, i64)> =
                sqlx::query_as("SELECT room, ended_at, peak_participants FROM call_sessions")
                    .fetch_optional(db.pool())
                    .await
                    .unwrap();
            matches!(row, Some((room, Some(_), 2)) if room == "visit-1")
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_each_receive_the_other_two() {
    let server = TestServer::start_with(|c| c.rooms.max_participants = 3).await;
    let mut a = MediaParticipant::join(&server, "group-1", "a", Role::Clinician).await;
    let mut b = MediaParticipant::join(&server, "group-1", "b", Role::Patient).await;
    let mut c = MediaParticipant::join(&server, "group-1", "c", Role::Guest).await;
    for (me, others) in [
        (&mut a, ["b", "c"]),
        (&mut b, ["a", "c"]),
        (&mut c, ["a", "b"]),
    ] {
        for other in others {
            let r = me.wait_media_from(other, 50).await;
            assert_eq!(r.corrupt, 0);
        }
    }
    assert_eq!(
        server.server().state.sfu.stats().snapshot().subscriptions,
        12
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_spread_over_the_media_workers_and_each_worker_carries_its_calls() {
    let server = TestServer::start_with(|c| c.media.workers = Some(2)).await;
    let sfu = server.server().state.sfu.clone();
    let rooms_per_worker = |sfu: &vardrum_sfu::Sfu| -> Vec<usize> {
        sfu.worker_loads().iter().map(|w| w.rooms).collect()
    };
    let ports: Vec<u16> = server
        .server()
        .media_addrs
        .iter()
        .map(|a| a.port())
        .collect();
    assert_eq!(ports.len(), 2);
    assert_ne!(ports[0], ports[1], "each worker has a port of its own");
    let mut anna = MediaParticipant::join(&server, "visit-a", "anna", Role::Clinician).await;
    let mut pat = MediaParticipant::join(&server, "visit-a", "pat", Role::Patient).await;
    assert_eq!(rooms_per_worker(&sfu), [1, 0]);
    let mut bo = MediaParticipant::join(&server, "visit-b", "bo", Role::Clinician).await;
    let mut kim = MediaParticipant::join(&server, "visit-b", "kim", Role::Patient).await;
    assert_eq!(
        rooms_per_worker(&sfu),
        [1, 1],
        "the second room opens on the idle worker"
    );
    let participants: Vec<usize> = sfu.worker_loads().iter().map(|w| w.participants).collect();
    assert_eq!(participants, [2, 2]);
    for (me, other) in [
        (&mut anna, "pat"),
        (&mut pat, "anna"),
        (&mut bo, "kim"),
        (&mut kim, "bo"),
    ] {
        let r = me.wait_media_from(other, 50).await;
        assert_eq!(r.corrupt, 0);
        assert!(r.from(other, "audio") > 0 && r.from(other, "video") > 0);
    }
    let metrics = reqwest::get(format!("http://{}/metrics", server.server().http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vardrum_media_worker_rooms{worker=\"1\"} 1\n"),
        "{metrics}"
    );
    // A room that closes frees its worker's slot: the next room goes there.
    pat.leave().await;
    anna.leave().await;
    eventually("visit-a to close", || {
        let sfu = sfu.clone();
        async move { rooms_per_worker(&sfu) == [0, 1] }
    })
    .await;
    let _carl = MediaParticipant::join(&server, "visit-c", "carl", Role::Clinician).await;
    assert_eq!(rooms_per_worker(&sfu), [1, 1]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_the_next_person_and_the_call_goes_on() {
    let server = TestServer::start().await;
    let mut anna = MediaParticipant::join(&server, "visit-2", "anna", Role::Clinician).await;
    let _pat = MediaParticipant::join(&server, "visit-2", "pat", Role::Patient).await;
    let before = anna.wait_media_from("pat", 20).await.from("pat", "video");

    let token = server.token("visit-2", "eve", Role::Guest);
    let mut third = send_join(&server.ws_url(), "visit-2", token).await;
    match third.recv().await.unwrap() {
        ServerMessage::Error { code, fatal, .. } => {
            assert_eq!(code, ErrorCode::RoomFull);
            assert!(fatal);
        }
        other => panic!("expected room_full, got {other:?}"),
    }
    expect_close(&mut third, 4004).await;

    // The two in the visit carry on.
    anna.wait_media_from("pat", before + 50).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_participant_shows_as_reconnecting_and_comes_back_to_the_same_call() {
    let server = TestServer::start().await;
    let mut anna = MediaParticipant::join(&server, "visit-3", "anna", Role::Clinician).await;
    let pat = MediaParticipant::join(&server, "visit-3", "pat", Role::Patient).await;
    anna.wait_media_from("pat", 20).await;

    pat.vanish().await;
    let mut rx = anna.received.clone();
    wait_until(&mut rx, "pat to show as reconnecting", |r| {
        r.last_update_of("pat")
            .is_some_and(|p| p.state == ParticipantState::Reconnecting)
    })
    .await;
    assert!(
        !rx.borrow().left("pat"),
        "a dropped connection is not leaving"
    );
    let before = rx.borrow().from("pat", "video");

    // Pat's page reloads: same identity, new connection.
    let (client, joined) = join(&server, "visit-3", "pat", Role::Patient).await;
    match joined {
        ServerMessage::Joined {
            resumed,
            participants,
            ..
        } => {
            assert!(resumed);
            assert_eq!(participants.len(), 1);
            assert_eq!(participants[0].name, "Name of anna");
        }
        other => panic!("{other:?}"),
    }
    let mut pat = common::MediaParticipant::from_client(client, "pat").await;
    wait_until(&mut rx, "pat to be active again", |r| {
        r.last_update_of("pat")
            .is_some_and(|p| p.state == ParticipantState::Active)
    })
    .await;
    anna.wait_media_from("pat", before + 50).await;
    pat.wait_media_from("anna", 50).await;
    assert!(!anna.received.borrow().left("pat"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_who_does_not_come_back_in_time_has_left() {
    let server = TestServer::start_with(|c| c.rooms.reconnect_grace_secs = 0).await;
    let mut anna = MediaParticipant::join(&server, "visit-4", "anna", Role::Clinician).await;
    let pat = MediaParticipant::join(&server, "visit-4", "pat", Role::Patient).await;
    // Pat's media tells Anna which opaque participant id is Pat's.
    anna.wait_media_from("pat", 10).await;
    pat.vanish().await;
    let mut rx = anna.received.clone();
    let r = wait_until(&mut rx, "pat to time out", |r| r.left("pat")).await;
    let pat_id = r.id_of("pat");
    assert!(r.roster.iter().any(|m| matches!(
        m,
        ServerMessage::ParticipantLeft { participant_id, reason: LeftReason::Timeout } if *participant_id == pat_id
    )));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_again_elsewhere_replaces_the_older_session() {
    let server = TestServer::start().await;
    let (mut first, _) = join(&server, "visit-5", "anna", Role::Clinician).await;
    let (_second, joined) = join(&server, "visit-5", "anna", Role::Clinician).await;
    assert!(matches!(
        joined,
        ServerMessage::Joined { resumed: true, .. }
    ));
    expect_bye(&mut first, ByeReason::Replaced, 4003).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_tells_every_client() {
    let server = TestServer::start().await;
    let (mut joined_client, _) = join(&server, "visit-6", "anna", Role::Clinician).await;
    let mut waiting = vardrum_signalling::client::SignallingClient::connect(&server.ws_url())
        .await
        .unwrap();
    // Make sure the second session is being served before the shutdown starts.
    waiting
        .send(&vardrum_signalling::ClientMessage::Ping { id: 1 })
        .await
        .unwrap();
    assert_eq!(waiting.recv().await.unwrap(), ServerMessage::Pong { id: 1 });
    server.stop().await;
    for client in [&mut joined_client, &mut waiting] {
        expect_bye(client, ByeReason::ServerShutdown, 1001).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_lets_open_visits_finish_and_opens_no_new_ones() {
    let server = TestServer::start().await;
    let mut anna = MediaParticipant::join(&server, "visit-7", "anna", Role::Clinician).await;
    server.server().drain();
    let health = reqwest::get(format!("http://{}/healthz", server.server().http_addr))
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.text().await.unwrap(), "draining\n");

    // A visit that is not open yet: told as at shutdown, so the client comes back later.
    let token = server.token("visit-8", "bo", Role::Clinician);
    let mut bo = send_join(&server.ws_url(), "visit-8", token).await;
    expect_bye(&mut bo, ByeReason::ServerShutdown, 1001).await;
    assert_eq!(
        server.server().state.sfu.room_count(),
        1,
        "visit-8 never opened"
    );

    // The open visit goes on: the patient still gets in, and the two see each other.
    let mut pat = MediaParticipant::join(&server, "visit-7", "pat", Role::Patient).await;
    assert!(anna.wait_media_from("pat", 50).await.from("pat", "video") > 0);
    assert!(pat.wait_media_from("anna", 50).await.from("anna", "video") > 0);
    {
        let drained = server.server().drained();
        tokio::pin!(drained);
        assert!(
            futures_util::poll!(drained.as_mut()).is_pending(),
            "not drained while a visit is open"
        );
        pat.leave().await;
        anna.leave().await;
        drained.await;
    }
    assert_eq!(server.server().state.sfu.room_count(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_full_names_and_patients_see_initials() {
    let server = TestServer::start_with(|c| c.rooms.max_participants = 3).await;
    let (mut anna, _) = join(&server, "group-2", "anna", Role::Clinician).await;
    let (mut p1, _) = join(&server, "group-2", "p1", Role::Patient).await;
    let (_p2, joined) = join(&server, "group-2", "p2", Role::Patient).await;

    // Tokens name people "Name of <identity>" (tests/common).
    let ServerMessage::Joined {
        participant,
        participants,
        ..
    } = joined
    else {
        unreachable!()
    };
    assert_eq!(participant.name, "Name of p2", "one's own name in full");
    // Ids are opaque, never the token's `sub`; in a 1:1 visit a patient sees the clinician's
    // name (the default region rule) and other patients' initials.
    assert!(
        participants
            .iter()
            .all(|p| p.id.starts_with("p-") && p.id.len() == 14)
    );
    let mut seen: Vec<String> = participants.into_iter().map(|p| p.name).collect();
    seen.sort();
    assert_eq!(seen, ["N. O. P.", "Name of anna"]);

    let next_join = |m: ServerMessage| match m {
        ServerMessage::ParticipantJoined { participant } => participant,
        other => panic!("{other:?}"),
    };
    assert_eq!(next_join(anna.recv().await.unwrap()).name, "Name of p1");
    assert_eq!(next_join(anna.recv().await.unwrap()).name, "Name of p2");
    assert_eq!(next_join(p1.recv().await.unwrap()).name, "N. O. P.");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_move_off_the_public_port() {
    let server =
        TestServer::start_with(|c| c.http.metrics_listen = Some("127.0.0.1:0".parse().unwrap()))
            .await;
    let public = server.server().http_addr;
    let private = server.server().metrics_addr.expect("a metrics address");
    assert_ne!(public, private);
    let get = |url: String| async move { reqwest::get(url).await.unwrap() };
    let on_public = get(format!("http://{public}/metrics")).await;
    assert_eq!(on_public.status(), reqwest::StatusCode::NOT_FOUND);
    let health = get(format!("http://{public}/healthz")).await;
    assert_eq!(
        health.status(),
        reqwest::StatusCode::OK,
        "health stays public"
    );
    let on_private = get(format!("http://{private}/metrics")).await;
    assert_eq!(on_private.status(), reqwest::StatusCode::OK);
    let text = on_private.text().await.unwrap();
    assert!(
        text.contains("# TYPE vardrum_rooms gauge\nvardrum_rooms 0\n"),
        "{text}"
    );
    // Only metrics there: the call page and the signalling endpoint are not.
    let page = get(format!("http://{private}/call/visit-1")).await;
    assert_eq!(page.status(), reqwest::StatusCode::NOT_FOUND);
    server.stop().await;
}

/// docs/signalling.md, "offer (subscriber)": a track whose publisher left has its transceiver
/// stopped (`a=inactive` or port 0) in the next offer: all of that participant's tracks in that
/// one offer, and its participant id no longer named anywhere in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_offer_after_someone_leaves_stops_all_their_tracks() {
    let server = TestServer::start_with(|c| c.rooms.max_participants = 3).await;
    let mut anna = MediaParticipant::join(&server, "visit-7", "anna", Role::Clinician).await;
    let _pat = MediaParticipant::join(&server, "visit-7", "pat", Role::Patient).await;
    let ola = MediaParticipant::join(&server, "visit-7", "ola", Role::Patient).await;
    anna.wait_media_from("pat", 20).await;
    let r = anna.wait_media_from("ola", 20).await;
    let ola_id = r.id_of("ola");
    let before = r.offers.len();
    assert!(
        r.offers
            .last()
            .unwrap()
            .contains(&format!("msid:{ola_id} "))
    );
    ola.leave().await;
    let r = wait_until(&mut anna.received, "an offer after ola left", move |r| {
        r.offers.len() > before
    })
    .await;
    let offer = &r.offers[before];
    assert!(!offer.contains(&ola_id), "ola is still named: {offer}");
    let sections: Vec<&str> = offer.split("\r\nm=").skip(1).collect();
    let stopped = sections
        .iter()
        .filter(|s| s.contains("a=inactive") || s.split_whitespace().nth(1) == Some("0"))
        .count();
    assert_eq!(
        stopped, 2,
        "both of ola's tracks stop in this offer: {offer}"
    );
    assert!(!offer.contains("a=recvonly"), "{offer}");
    // Pat's tracks go on.
    let pat_id = r.id_of("pat");
    assert_eq!(
        offer.matches(&format!("a=msid:{pat_id} ")).count(),
        2,
        "{offer}"
    );
    server.stop().await;
}
