//! Bad input on the signalling socket gets a specific error code or a documented close, and the
//! room and every other participant carry on.

mod common;

use common::{MediaParticipant, TestServer, expect_close, join, now_unix};
use vardrum_signalling::client::{Incoming, SignallingClient};
use vardrum_signalling::{ClientMessage, ErrorCode, PcKind, Role, ServerMessage};

async fn connect(server: &TestServer) -> SignallingClient {
    SignallingClient::connect(&server.ws_url())
        .await
        .expect("connect")
}

/// The next message must be an error with `code`; returns whether it was fatal.
async fn expect_error(client: &mut SignallingClient, code: ErrorCode) -> bool {
    match client.recv().await.expect("a message") {
        ServerMessage::Error {
            code: got, fatal, ..
        } => {
            assert_eq!(got, code);
            fatal
        }
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

/// The session is still usable: a ping is answered.
async fn still_open(client: &mut SignallingClient) {
    client.send(&ClientMessage::Ping { id: 99 }).await.unwrap();
    assert_eq!(client.recv().await.unwrap(), ServerMessage::Pong { id: 99 });
}

fn join_msg(room: &str, token: String) -> ClientMessage {
    ClientMessage::Join {
        v: 1,
        room: room.into(),
        token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_specific_errors_and_the_session_stays_open() {
    let server = TestServer::start().await;
    let mut c = connect(&server).await;
    for (frame, code) in [
        ("{this is not json", ErrorCode::BadJson),
        ("[\"join\"]", ErrorCode::BadJson),
        (r#"{"no_type":true}"#, ErrorCode::BadMessage),
        (r#"{"type":"teleport"}"#, ErrorCode::UnknownType),
        (
            r#"{"type":"join","v":"one","room":"r","token":"t"}"#,
            ErrorCode::BadMessage,
        ),
        (
            r#"{"type":"mute","kind":"audio","muted":true}"#,
            ErrorCode::NotJoined,
        ),
        (
            r#"{"type":"offer","pc":"publisher","sdp":"v=0"}"#,
            ErrorCode::NotJoined,
        ),
        (r#"{"type":"leave"}"#, ErrorCode::NotJoined),
    ] {
        c.send_text(frame).await.unwrap();
        assert!(
            !expect_error(&mut c, code).await,
            "{frame} must not be fatal"
        );
    }
    c.send_binary(vec![1, 2, 3]).await.unwrap();
    expect_error(&mut c, ErrorCode::BadMessage).await;
    still_open(&mut c).await;
    // After all that, joining still works.
    c.send(&join_msg(
        "visit-x",
        server.token("visit-x", "anna", Role::Clinician),
    ))
    .await
    .unwrap();
    assert!(matches!(
        c.recv().await.unwrap(),
        ServerMessage::Joined { .. }
    ));
    c.send(&join_msg(
        "visit-x",
        server.token("visit-x", "anna", Role::Clinician),
    ))
    .await
    .unwrap();
    expect_error(&mut c, ErrorCode::AlreadyJoined).await;
    // Alone in the room, nobody has offered anything to answer.
    c.send(&ClientMessage::Answer {
        pc: PcKind::Subscriber,
        sdp: "v=0\r\n".into(),
    })
    .await
    .unwrap();
    expect_error(&mut c, ErrorCode::UnexpectedAnswer).await;
    still_open(&mut c).await;
    assert_eq!(
        server.server().state.signalling.errors(ErrorCode::BadJson),
        2,
        "errors are counted in /metrics"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_joins_are_refused_with_their_own_codes_and_close_codes() {
    let server = TestServer::start().await;
    let now = now_unix();

    let mut c = connect(&server).await;
    c.send(&ClientMessage::Join {
        v: 2,
        room: "visit-1".into(),
        token: server.token("visit-1", "anna", Role::Clinician),
    })
    .await
    .unwrap();
    assert!(expect_error(&mut c, ErrorCode::UnsupportedVersion).await);
    expect_close(&mut c, 4000).await;

    let expired = server.token_at("visit-1", "anna", Role::Clinician, now - 7200, 3600);
    let not_yet = server.token_at("visit-1", "anna", Role::Clinician, now + 3600, 3600);
    let forged = {
        let other =
            vardrum_signalling::token::TokenIssuer::new(b"not the server's secret, 32 bytes+");
        other
            .mint(
                &vardrum_signalling::token::Grant::visit(
                    "mallory",
                    "Mallory",
                    "visit-1",
                    Role::Clinician,
                ),
                now,
                600,
            )
            .unwrap()
    };
    let cases = [
        ("visit-1", expired, ErrorCode::TokenExpired),
        ("visit-1", not_yet, ErrorCode::TokenNotYetValid),
        ("visit-1", forged, ErrorCode::TokenInvalid),
        ("visit-1", "e30.e30.".to_string(), ErrorCode::TokenInvalid),
        (
            "visit-2",
            server.token("visit-1", "anna", Role::Clinician),
            ErrorCode::TokenWrongRoom,
        ),
    ];
    for (room, token, code) in cases {
        let mut c = connect(&server).await;
        c.send(&join_msg(room, token)).await.unwrap();
        assert!(expect_error(&mut c, code).await, "{code:?} is fatal");
        expect_close(&mut c, 4001).await;
    }
    // None of these opened a room.
    assert_eq!(server.server().state.sfu.room_count(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_with_1009() {
    let server = TestServer::start().await;
    let mut c = connect(&server).await;
    let huge = format!(
        r#"{{"type":"ping","id":1,"pad":"{}"}}"#,
        "x".repeat(vardrum_signalling::MAX_FRAME_BYTES + 10)
    );
    // The server may close before the whole frame is written; either way it must close with 1009.
    let _ = c.send_text(&huge).await;
    expect_close(&mut c, 1009).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_then_closed() {
    let server = TestServer::start().await;
    let mut c = connect(&server).await;
    for id in 0..500 {
        if c.send(&ClientMessage::Ping { id }).await.is_err() {
            break; // closed mid-flood
        }
    }
    let (mut pongs, mut limited, mut flood) = (0, 0, false);
    loop {
        match c.next().await.unwrap() {
            Incoming::Message(ServerMessage::Pong { .. }) => pongs += 1,
            Incoming::Message(ServerMessage::Error {
                code: ErrorCode::RateLimited,
                fatal,
                ..
            }) => {
                assert!(!fatal);
                limited += 1;
            }
            Incoming::Message(ServerMessage::Error {
                code: ErrorCode::Flood,
                fatal,
                ..
            }) => {
                assert!(fatal);
                flood = true;
            }
            Incoming::Closed { code, .. } => {
                assert_eq!(code, 1008);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(flood);
    assert!(limited >= 1);
    // The burst allowance is served, not more: the rest was dropped.
    assert!((60..100).contains(&pongs), "{pongs} pongs");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_one_participant_does_not_disturb_the_others() {
    let server = TestServer::start_with(|c| c.rooms.max_participants = 3).await;
    let mut anna = MediaParticipant::join(&server, "visit-7", "anna", Role::Clinician).await;
    let mut pat = MediaParticipant::join(&server, "visit-7", "pat", Role::Patient).await;
    let before = anna.wait_media_from("pat", 20).await.from("pat", "video");
    pat.wait_media_from("anna", 20).await;

    let (mut vandal, _) = join(&server, "visit-7", "vandal", Role::Guest).await;
    let bad = [
        (
            ClientMessage::Offer {
                pc: PcKind::Publisher,
                sdp: "hello".into(),
            },
            ErrorCode::BadSdp,
        ),
        (
            ClientMessage::Offer {
                pc: PcKind::Publisher,
                sdp: "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\nm=video nonsense\r\n".into(),
            },
            ErrorCode::BadSdp,
        ),
        // The room has sent the vandal a subscriber offer, so this answer is applied and fails.
        (
            ClientMessage::Answer {
                pc: PcKind::Subscriber,
                sdp: "v=0\r\n".into(),
            },
            ErrorCode::BadSdp,
        ),
        (
            ClientMessage::Candidate {
                pc: PcKind::Subscriber,
                candidate: Some(vardrum_signalling::CandidateInit {
                    candidate: "candidate:garbage".into(),
                    sdp_mid: None,
                    sdp_mline_index: None,
                    username_fragment: None,
                }),
            },
            ErrorCode::BadCandidate,
        ),
    ];
    for (message, code) in bad {
        vandal.send(&message).await.unwrap();
        // Roster messages about the others may be interleaved; skip them.
        loop {
            match vandal.recv().await.unwrap() {
                ServerMessage::Error {
                    code: got, fatal, ..
                } => {
                    assert_eq!(got, code);
                    assert!(!fatal);
                    break;
                }
                ServerMessage::ParticipantUpdated { .. } | ServerMessage::Offer { .. } => continue,
                other => panic!("expected {code:?}, got {other:?}"),
            }
        }
    }
    // Then floods until it is thrown out.
    for id in 0..500 {
        if vandal.send(&ClientMessage::Ping { id }).await.is_err() {
            break;
        }
    }
    loop {
        if let Incoming::Closed { code, .. } = vandal.next().await.unwrap() {
            assert_eq!(code, 1008);
            break;
        }
    }

    // The visit goes on as if nothing happened.
    let r = anna.wait_media_from("pat", before + 100).await;
    assert_eq!(r.corrupt, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(pat.received.borrow().errors.is_empty());
    server.stop().await;
}

/// A token signed with the server's own secret whose claims are `base` with `changes`.
fn signed(server: &TestServer, changes: serde_json::Value) -> String {
    let now = now_unix();
    let mut claims = serde_json::json!({
        "iss": "vardrum", "aud": "vardrum-call", "sub": "anna", "name": "Anna",
        "room": "visit-1", "role": "clinician", "exp": now + 600, "nbf": now, "iat": now,
        "jti": "j-1",
    });
    for (k, v) in changes.as_object().expect("object") {
        claims[k] = v.clone();
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&server.secret),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_caps_a_tokens_lifetime_and_says_what_is_wrong_in_its_own_words() {
    let server = TestServer::start().await;
    let now = now_unix();
    let week = 7 * 24 * 3600;
    let cases = [
        // Valid for longer than 7 days, however the token counts: from nbf, from iat, from now.
        (
            signed(&server, serde_json::json!({ "exp": now + week + 60 })),
            "the token is valid for longer than 7 days",
        ),
        (
            signed(&server, serde_json::json!({ "iat": now - week })),
            "the token is valid for longer than 7 days",
        ),
        (
            signed(
                &server,
                serde_json::json!({ "nbf": now + 3600, "iat": now + 3600, "exp": now + 3600 + week }),
            ),
            "the token is valid for longer than 7 days",
        ),
        // Claims the server does not know, said without the JSON library's words.
        (
            signed(&server, serde_json::json!({ "role": "doctor" })),
            "the claim role must be patient, clinician or guest",
        ),
        (
            signed(&server, serde_json::json!({ "kind": 2 })),
            "the claim kind must be visit or group",
        ),
        (
            "e30.e30.".to_string(),
            "the token's header or claims are not the JSON expected",
        ),
        (
            "not-a-token".to_string(),
            "not a JSON Web Token (three base64url parts: header, claims, signature)",
        ),
    ];
    for (token, expected) in cases {
        let mut c = connect(&server).await;
        c.send(&join_msg("visit-1", token)).await.unwrap();
        match c.recv().await.expect("a message") {
            ServerMessage::Error {
                code,
                message,
                fatal,
            } => {
                assert_eq!(code, ErrorCode::TokenInvalid, "{expected}");
                assert!(fatal, "{expected}");
                assert!(message.contains(expected), "{message:?}, not {expected:?}");
                assert!(
                    !message.contains("JSON error") && !message.contains("variant"),
                    "{message}"
                );
            }
            other => panic!("expected token_invalid for {expected}, got {other:?}"),
        }
        expect_close(&mut c, 4001).await;
    }
    // A token of exactly 7 days joins.
    let mut c = connect(&server).await;
    c.send(&join_msg(
        "visit-1",
        signed(&server, serde_json::json!({ "exp": now + week })),
    ))
    .await
    .unwrap();
    assert!(matches!(
        c.recv().await.expect("a message"),
        ServerMessage::Joined { .. }
    ));
    server.stop().await;
}
