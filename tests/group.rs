//! Group visits through the real signalling endpoint: the waiting room, what patients see of
//! each other (asserted on the raw frames they receive), host actions and every refusal the
//! protocol names, the chat, and the end of a visit.

mod common;
mod groupsupport;

use common::{TestServer, expect_close};
use groupsupport::Person;
use vardrum_signalling::{
    ByeReason, ChatMessage, ClientMessage, ErrorCode, LeftReason, MediaKind, ParticipantInfo,
    ParticipantState, Role, RoomKind, ServerMessage,
};

fn me_and_others(joined: &ServerMessage) -> (ParticipantInfo, Vec<ParticipantInfo>) {
    match joined {
        ServerMessage::Joined {
            participant,
            participants,
            kind,
            ..
        } => {
            assert_eq!(*kind, RoomKind::Group);
            (participant.clone(), participants.clone())
        }
        other => panic!("expected joined, got {other:?}"),
    }
}

fn admitted_roster(m: &ServerMessage) -> (Vec<ParticipantInfo>, Vec<ChatMessage>) {
    match m {
        ServerMessage::Admitted {
            participants, chat, ..
        } => (participants.clone(), chat.clone()),
        other => panic!("expected admitted, got {other:?}"),
    }
}

const ROOM: &str = "group-7";

/// Patients' token identities and names: the surnames must never reach another patient.
const PATIENTS: [(&str, &str); 3] = [
    ("sub-patient-persson", "Pat Persson"),
    ("sub-patient-nordin", "Ola Nordin"),
    ("sub-patient-lindqvist", "Eva Lindqvist"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patients_wait_the_host_admits_them_and_they_see_each_other_by_initials_only() {
    let server = TestServer::start().await;
    let host_token =
        server.group_token(ROOM, "sub-host-berg", "Anna Berg", Role::Clinician, None, 0);
    let mut patients = Vec::new();
    for (sub, name) in PATIENTS {
        let token = server.group_token(ROOM, sub, name, Role::Patient, Some("b-1"), 0);
        let (mut p, joined) = Person::join(&server, ROOM, token).await;
        let (me, others) = me_and_others(&joined);
        assert_eq!(me.state, ParticipantState::Waiting, "patients wait");
        assert_eq!(me.name, name, "one's own name in full");
        assert!(others.is_empty(), "the waiting room sees nobody");
        p.settle().await;
        patients.push(p);
    }
    // The host enters at once and sees the waiting room by full names.
    let (mut host, joined) = Person::join(&server, ROOM, host_token).await;
    let (me, waiting) = me_and_others(&joined);
    assert_eq!(me.state, ParticipantState::Active);
    let mut names: Vec<&str> = waiting.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Eva Lindqvist", "Ola Nordin", "Pat Persson"]);
    assert!(waiting.iter().all(|p| p.state == ParticipantState::Waiting));
    let id_of = |name: &str| waiting.iter().find(|p| p.name == name).unwrap().id.clone();
    // Nothing of the host reached the waiting room.
    for p in &mut patients {
        assert!(p.settle().await.is_empty());
    }

    // One admitted by id: they get the roster (the host by initials, the region default for
    // groups), the host sees them become active.
    host.send(ClientMessage::Admit {
        participants: vec![id_of("Pat Persson")],
    })
    .await;
    let (roster, chat) = admitted_roster(&patients[0].recv().await);
    assert_eq!(roster.len(), 1);
    assert_eq!(
        (roster[0].name.as_str(), roster[0].role),
        ("A. B.", Role::Clinician)
    );
    assert!(chat.is_empty());
    let update = host
        .until("an update", |m| {
            matches!(m, ServerMessage::ParticipantUpdated { .. })
        })
        .await;
    assert!(
        matches!(update, ServerMessage::ParticipantUpdated { participant }
        if participant.name == "Pat Persson" && participant.state == ParticipantState::Active)
    );

    // The first one says hello before the others are in; the late joiners get it.
    patients[0]
        .send(ClientMessage::Chat {
            text: "Hej alla!".into(),
        })
        .await;
    let own = patients[0]
        .until("chat", |m| matches!(m, ServerMessage::Chat { .. }))
        .await;
    assert!(matches!(&own, ServerMessage::Chat { message } if message.name == "Pat Persson"));
    let at_host = host
        .until("chat", |m| matches!(m, ServerMessage::Chat { .. }))
        .await;
    assert!(
        matches!(&at_host, ServerMessage::Chat { message } if message.name == "Pat Persson" && message.text == "Hej alla!")
    );

    host.send(ClientMessage::AdmitAll).await;
    for p in &mut patients[1..] {
        let (roster, chat) = admitted_roster(&p.recv().await);
        // The host and the first patient, and whoever of this batch was let in just before.
        let names: Vec<&str> = roster.iter().map(|p| p.name.as_str()).collect();
        assert!(
            names.contains(&"A. B.") && names.contains(&"P. P."),
            "{names:?}"
        );
        assert!(roster.len() <= 3, "{names:?}");
        assert_eq!(chat.len(), 1);
        assert_eq!(chat[0].name, "P. P.");
        assert_eq!(chat[0].text, "Hej alla!");
    }
    for p in &mut patients {
        p.settle().await;
    }
    // Hands and chat from patients reach everyone in the visit, named per viewer.
    patients[2]
        .send(ClientMessage::RaiseHand { raised: true })
        .await;
    patients[2].settle().await;
    patients[1]
        .send(ClientMessage::Chat {
            text: "Hörs jag?".into(),
        })
        .await;
    let own = patients[1]
        .until("own chat", |m| matches!(m, ServerMessage::Chat { .. }))
        .await;
    assert!(matches!(&own, ServerMessage::Chat { message } if message.name == "Ola Nordin"));
    for i in [0, 2] {
        let seen = patients[i].settle().await;
        if i == 0 {
            assert!(
                seen.iter().any(
                    |m| matches!(m, ServerMessage::ParticipantUpdated { participant }
                if participant.hand_raised && participant.name == "E. L.")
                ),
                "{seen:?}"
            );
        }
        assert!(
            seen.iter()
                .any(|m| matches!(m, ServerMessage::Chat { message }
            if message.name == "O. N." && message.text == "Hörs jag?")),
            "{seen:?}"
        );
    }
    let seen = host.settle().await;
    assert!(
        seen.iter()
            .any(|m| matches!(m, ServerMessage::Chat { message }
        if message.name == "Ola Nordin")),
        "{seen:?}"
    );

    // The host ends the visit: everyone is told and closed with 4007.
    // Minted before the end (a token minted after it, even within the same second, could be
    // taken for one issued after the end once the clock ticks over: that flaked under load).
    let old = {
        let (sub, name) = PATIENTS[0];
        server.group_token(ROOM, sub, name, Role::Patient, None, 0)
    };
    host.send(ClientMessage::EndVisit).await;
    for p in &mut patients {
        p.expect_bye(ByeReason::Ended, 4007).await;
    }
    host.until("bye", |m| matches!(m, ServerMessage::Bye { .. }))
        .await;

    // Nothing a patient received names another patient, or carries anyone's token `sub`.
    for (i, p) in patients.iter().enumerate() {
        let text = p.all_frames();
        for (j, (sub, name)) in PATIENTS.iter().enumerate() {
            let surname = name.split(' ').nth(1).unwrap();
            if i != j {
                assert!(!text.contains(surname), "patient {i} saw {surname}: {text}");
            }
            assert!(!text.contains(sub), "patient {i} saw a token sub: {text}");
        }
        assert!(
            !text.contains("Berg"),
            "group default: staff by initials: {text}"
        );
        assert!(!text.contains("sub-host"), "{text}");
    }

    // The ended visit refuses the old tokens; a token issued after the end opens a new one.
    let (sub, name) = PATIENTS[0];
    let (mut again, refused) = Person::join(&server, ROOM, old).await;
    assert!(
        matches!(
            refused,
            ServerMessage::Error {
                code: ErrorCode::VisitEnded,
                fatal: true,
                ..
            }
        ),
        "{refused:?}"
    );
    expect_close(&mut again.client, 4007).await;
    let newer = server.group_token(ROOM, sub, name, Role::Patient, None, 2);
    let (_fresh, joined) = Person::join(&server, ROOM, newer).await;
    let (me, _) = me_and_others(&joined);
    assert_eq!(
        me.state,
        ParticipantState::Waiting,
        "a new visit, a new waiting room"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_actions_are_the_hosts_and_each_refusal_changes_nothing() {
    let server = TestServer::start().await;
    let room = "group-8";
    let token =
        |sub: &str, name: &str, role: Role| server.group_token(room, sub, name, role, None, 0);
    let (mut host, _) = Person::join(&server, room, token("h", "Anna Berg", Role::Clinician)).await;
    let (mut pat, _) = Person::join(&server, room, token("p1", "Pat Persson", Role::Patient)).await;
    let (mut ola, _) = Person::join(&server, room, token("p2", "Ola Nordin", Role::Patient)).await;
    let (mut eva, _) =
        Person::join(&server, room, token("p3", "Eva Lindqvist", Role::Patient)).await;
    let mut ids = std::collections::HashMap::new();
    for m in host.settle().await {
        if let ServerMessage::ParticipantJoined { participant } = m {
            ids.insert(participant.name.clone(), participant.id.clone());
        }
    }
    let (pat_id, ola_id, eva_id) = (
        ids["Pat Persson"].clone(),
        ids["Ola Nordin"].clone(),
        ids["Eva Lindqvist"].clone(),
    );
    host.send(ClientMessage::Admit {
        participants: vec![pat_id.clone(), ola_id.clone()],
    })
    .await;
    pat.until("admitted", |m| matches!(m, ServerMessage::Admitted { .. }))
        .await;
    ola.until("admitted", |m| matches!(m, ServerMessage::Admitted { .. }))
        .await;
    host.settle().await;
    pat.settle().await;

    // A patient's host actions: each refused with `forbidden`, and nobody hears of anything.
    for action in [
        ClientMessage::AdmitAll,
        ClientMessage::Admit {
            participants: vec![eva_id.clone()],
        },
        ClientMessage::Deny {
            participant: eva_id.clone(),
            message: None,
        },
        ClientMessage::MuteParticipant {
            participant: ola_id.clone(),
            kind: MediaKind::Audio,
        },
        ClientMessage::LowerHand {
            participant: ola_id.clone(),
        },
        ClientMessage::MoveToWaitingRoom {
            participant: ola_id.clone(),
        },
        ClientMessage::RemoveParticipant {
            participant: ola_id.clone(),
        },
        ClientMessage::Lock { locked: true },
        ClientMessage::Spotlight {
            participant: Some(ola_id.clone()),
        },
        ClientMessage::EndVisit,
        ClientMessage::InviteGuest {
            name: "Tolk".into(),
        },
    ] {
        pat.send(action).await;
        pat.expect_error(ErrorCode::Forbidden).await;
    }
    assert!(host.settle().await.is_empty(), "nothing changed");
    assert!(ola.settle().await.is_empty(), "nothing changed");
    assert!(eva.settle().await.is_empty(), "eva still waits");

    // Unknown or wrong targets.
    for action in [
        ClientMessage::Admit {
            participants: vec!["p-000000000000".into()],
        },
        ClientMessage::Admit {
            participants: vec![eva_id.clone(), pat_id.clone()],
        },
        ClientMessage::RemoveParticipant {
            participant: "p1".into(),
        },
        ClientMessage::Deny {
            participant: pat_id.clone(),
            message: None,
        },
        ClientMessage::Spotlight {
            participant: Some(eva_id.clone()),
        },
    ] {
        host.send(action).await;
        host.expect_error(ErrorCode::UnknownParticipant).await;
    }
    host.send(ClientMessage::Deny {
        participant: eva_id.clone(),
        message: Some("x".repeat(201)),
    })
    .await;
    host.expect_error(ErrorCode::BadMessage).await;
    assert!(eva.settle().await.is_empty(), "eva still waits");

    // From the waiting room: no chat, no hand, no media.
    eva.send(ClientMessage::Chat {
        text: "hello?".into(),
    })
    .await;
    eva.expect_error(ErrorCode::NotAdmitted).await;
    eva.send(ClientMessage::RaiseHand { raised: true }).await;
    eva.expect_error(ErrorCode::NotAdmitted).await;
    eva.send(ClientMessage::Offer {
        pc: vardrum_signalling::PcKind::Publisher,
        sdp: "v=0\r\n".into(),
    })
    .await;
    eva.expect_error(ErrorCode::NotAdmitted).await;

    // Chat limits.
    pat.send(ClientMessage::Chat {
        text: "y".repeat(2001),
    })
    .await;
    pat.expect_error(ErrorCode::ChatTooLong).await;
    for _ in 0..5 {
        pat.send(ClientMessage::Chat {
            text: "again".into(),
        })
        .await;
    }
    pat.send(ClientMessage::Chat {
        text: "one too many".into(),
    })
    .await;
    let seen = pat.settle().await;
    assert_eq!(
        seen.iter()
            .filter(|m| matches!(m, ServerMessage::Chat { .. }))
            .count(),
        5
    );
    assert!(seen.iter().any(|m| matches!(
        m,
        ServerMessage::Error {
            code: ErrorCode::RateLimited,
            ..
        }
    )));
    host.settle().await;
    ola.settle().await;

    // Mute: the patient is told, everyone sees it; there is no way for a host to unmute.
    host.send(ClientMessage::MuteParticipant {
        participant: ola_id.clone(),
        kind: MediaKind::Video,
    })
    .await;
    assert_eq!(
        ola.recv().await,
        ServerMessage::HostMuted {
            kind: MediaKind::Video
        }
    );
    let seen = pat.settle().await;
    assert!(seen.iter().any(
        |m| matches!(m, ServerMessage::ParticipantUpdated { participant }
        if participant.id == ola_id && participant.video_muted)
    ));
    ola.send(ClientMessage::Mute {
        kind: MediaKind::Video,
        muted: false,
    })
    .await;
    ola.settle().await;
    let seen = pat.settle().await;
    assert!(seen.iter().any(
        |m| matches!(m, ServerMessage::ParticipantUpdated { participant }
        if participant.id == ola_id && !participant.video_muted)
    ));

    // Hand raised, lowered by the host.
    ola.send(ClientMessage::RaiseHand { raised: true }).await;
    host.until("hand", |m| matches!(m, ServerMessage::ParticipantUpdated { participant } if participant.hand_raised)).await;
    host.send(ClientMessage::LowerHand {
        participant: ola_id.clone(),
    })
    .await;
    host.until("hand down", |m| matches!(m, ServerMessage::ParticipantUpdated { participant } if !participant.hand_raised)).await;

    // Spotlight and lock reach everyone in the visit as room_updated.
    host.send(ClientMessage::Spotlight {
        participant: Some(ola_id.clone()),
    })
    .await;
    let update = pat
        .until("room_updated", |m| {
            matches!(m, ServerMessage::RoomUpdated { .. })
        })
        .await;
    assert_eq!(
        update,
        ServerMessage::RoomUpdated {
            locked: false,
            spotlight: Some(ola_id.clone())
        }
    );

    // Back to the waiting room: media stops, the spotlight goes, the others see them leave.
    host.send(ClientMessage::MoveToWaitingRoom {
        participant: ola_id.clone(),
    })
    .await;
    ola.until("moved", |m| *m == ServerMessage::MovedToWaitingRoom)
        .await;
    let seen = pat.settle().await;
    assert!(
        seen.contains(&ServerMessage::ParticipantLeft {
            participant_id: ola_id.clone(),
            reason: LeftReason::WaitingRoom
        }),
        "{seen:?}"
    );
    assert!(
        seen.contains(&ServerMessage::RoomUpdated {
            locked: false,
            spotlight: None
        }),
        "{seen:?}"
    );
    ola.send(ClientMessage::Chat {
        text: "let me back".into(),
    })
    .await;
    ola.expect_error(ErrorCode::NotAdmitted).await;

    // Deny with a message.
    host.send(ClientMessage::Deny {
        participant: eva_id.clone(),
        message: Some("Välkommen nästa vecka.".into()),
    })
    .await;
    let message = eva.expect_bye(ByeReason::Denied, 4005).await;
    assert_eq!(message.as_deref(), Some("Välkommen nästa vecka."));

    // Lock: a newcomer is refused, a host still enters; admitting needs an unlock.
    host.send(ClientMessage::Lock { locked: true }).await;
    host.until("locked", |m| {
        matches!(m, ServerMessage::RoomUpdated { locked: true, .. })
    })
    .await;
    let (mut late, refused) =
        Person::join(&server, room, token("p4", "Bo Sten", Role::Patient)).await;
    assert!(
        matches!(
            refused,
            ServerMessage::Error {
                code: ErrorCode::RoomLocked,
                fatal: true,
                ..
            }
        ),
        "{refused:?}"
    );
    expect_close(&mut late.client, 4009).await;
    host.send(ClientMessage::AdmitAll).await;
    host.expect_error(ErrorCode::Forbidden).await;
    let (_co_host, joined) =
        Person::join(&server, room, token("h2", "Bo Ek", Role::Clinician)).await;
    assert!(
        matches!(joined, ServerMessage::Joined { participant, .. } if participant.state == ParticipantState::Active)
    );
    let bo = host
        .until("the co-host", |m| {
            matches!(m, ServerMessage::ParticipantJoined { .. })
        })
        .await;
    let ServerMessage::ParticipantJoined { participant: bo } = bo else {
        unreachable!()
    };
    assert_eq!(bo.name, "Bo Ek");
    for action in [
        ClientMessage::RemoveParticipant {
            participant: bo.id.clone(),
        },
        ClientMessage::MoveToWaitingRoom {
            participant: bo.id.clone(),
        },
        ClientMessage::MuteParticipant {
            participant: bo.id.clone(),
            kind: MediaKind::Audio,
        },
    ] {
        host.send(action).await;
        host.expect_error(ErrorCode::Forbidden).await;
    }

    // Remove.
    host.send(ClientMessage::RemoveParticipant {
        participant: pat_id.clone(),
    })
    .await;
    pat.expect_bye(ByeReason::Removed, 4006).await;

    // A guest link: the guest lands in the waiting room as a guest.
    host.send(ClientMessage::Lock { locked: false }).await;
    host.send(ClientMessage::InviteGuest {
        name: "Tolk Ali Hassan".into(),
    })
    .await;
    let link = host
        .until("guest_link", |m| {
            matches!(m, ServerMessage::GuestLink { .. })
        })
        .await;
    let ServerMessage::GuestLink { url, expires_at } = link else {
        unreachable!()
    };
    assert!(
        url.starts_with(&format!("{}call/{room}#token=", server.server().base_url)),
        "{url}"
    );
    assert!(expires_at > common::now_unix());
    let guest_token = url.split("#token=").nth(1).unwrap().to_owned();
    let (_guest, joined) = Person::join(&server, room, guest_token).await;
    let (me, _) = me_and_others(&joined);
    assert_eq!(
        (me.role, me.state, me.name.as_str()),
        (Role::Guest, ParticipantState::Waiting, "Tolk Ali Hassan")
    );

    // A token of the other kind for this room.
    let visit_token = server.token(room, "p9", Role::Patient);
    let (mut wrong, refused) = Person::join(&server, room, visit_token).await;
    assert!(
        matches!(
            refused,
            ServerMessage::Error {
                code: ErrorCode::WrongRoomKind,
                fatal: true,
                ..
            }
        ),
        "{refused:?}"
    );
    expect_close(&mut wrong.client, 4001).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_no_clinician_entered_is_not_remembered_as_ended() {
    let server = TestServer::start().await;
    let room = "group-9";
    let token = server.group_token(room, "p1", "Pat Persson", Role::Patient, None, 0);
    let (mut pat, _) = Person::join(&server, room, token.clone()).await;
    pat.send(ClientMessage::Leave).await;
    pat.expect_bye(ByeReason::Left, 1000).await;
    // Waited, gave up, comes back with the same link: still the waiting room.
    let (_pat, joined) = Person::join(&server, room, token).await;
    assert!(
        matches!(joined, ServerMessage::Joined { participant, .. } if participant.state == ParticipantState::Waiting)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_frame_is_answered_with_one() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let server = TestServer::start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap();
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    // RFC 6455 5.5.1: the server answers with a close frame of its own.
    let answer = tokio::time::timeout(common::PATIENCE, ws.next())
        .await
        .expect("an answer");
    assert!(matches!(answer, Some(Ok(Message::Close(_)))), "{answer:?}");
    server.stop().await;
}

/// Region Jönköping's file: its policy states the initials rule of every call, so a patient sees
/// the clinician of a 1:1 visit by initials too (Västerbotten's, the default, shows the name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_region_decides_whether_patients_see_a_clinicians_name() {
    let regions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/regions");
    for (file, expected) in [
        ("vasterbotten.toml", "Name of anna"),
        ("jonkoping.toml", "N. O. A."),
    ] {
        let server = TestServer::start_with(|c| c.portal.region = regions.join(file)).await;
        let (_anna, _) = common::join(&server, "visit-r", "anna", Role::Clinician).await;
        let (_pat, joined) = common::join(&server, "visit-r", "pat", Role::Patient).await;
        let ServerMessage::Joined { participants, .. } = joined else {
            unreachable!()
        };
        assert_eq!(participants[0].name, expected, "{file}");
        server.stop().await;
    }
}

/// A region may put 1:1 visits behind a waiting room too (`[video] waiting_room_in_visits`):
/// the patient waits until the clinician admits them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_can_put_one_to_one_visits_behind_a_waiting_room() {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/regions");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(source.join("vasterbotten.toml")).unwrap();
    let text = text
        .replace(
            "waiting_room_in_visits = false",
            "waiting_room_in_visits = true",
        )
        .replace(
            "text_sv = \"vasterbotten/",
            &format!("text_sv = \"{}/vasterbotten/", source.display()),
        );
    assert!(text.contains("waiting_room_in_visits = true"));
    let region = dir.path().join("region.toml");
    std::fs::write(&region, text).unwrap();
    let server = TestServer::start_with(|c| c.portal.region = region.clone()).await;
    let visit = |sub: &str, role| server.token("visit-w", sub, role);
    let (mut pat, joined) = Person::join(&server, "visit-w", visit("pat", Role::Patient)).await;
    assert!(
        matches!(&joined, ServerMessage::Joined { participant, kind: RoomKind::Visit, .. }
        if participant.state == ParticipantState::Waiting),
        "{joined:?}"
    );
    let (mut anna, joined) = Person::join(&server, "visit-w", visit("anna", Role::Clinician)).await;
    let ServerMessage::Joined { participants, .. } = joined else {
        unreachable!()
    };
    assert_eq!(participants[0].state, ParticipantState::Waiting);
    anna.send(ClientMessage::Admit {
        participants: vec![participants[0].id.clone()],
    })
    .await;
    let (roster, _) = admitted_roster(&pat.recv().await);
    assert_eq!(roster[0].name, "Name of anna");
    server.stop().await;
}
