//! A portal server for the HTTP tests of the portal's capabilities (bookings, care, messages,
//! notifications): a test server on a manual clock, logging people in through the built-in
//! test IdP, and publishing slots through the domain. Each test file wraps it in its own
//! `Portal` for what only it needs. Needs `mod common;` and `mod portalsupport;` beside it.

#![allow(dead_code)]

use std::sync::Arc;

use vardrum::clock::ManualClock;
use vardrum::config::Config;
use vardrum::portal::accounts::StaffAccess;
use vardrum::portal::audit::Actor;
use vardrum::portal::bookings::{NewSlot, SlotKind, SlotMode};

use crate::common::TestServer;
use crate::portalsupport::Browser;

/// A running server with its clock.
pub struct PortalServer {
    pub server: TestServer,
    pub clock: Arc<ManualClock>,
    pub base: String,
}

/// A slot to publish: of `unit`, with the staff member `clinician` (a subject) on it.
pub struct SlotSpec<'a> {
    pub clinician: &'a str,
    pub unit: &'a str,
    pub kind: SlotKind,
    pub mode: SlotMode,
    /// Group slots only.
    pub capacity: Option<u32>,
    pub starts: &'a str,
    pub ends: &'a str,
}

impl PortalServer {
    /// Starts on `database_url` (SQLite in a temporary directory when `None`) with the clock at
    /// `t0`; `tweak` changes the configuration first.
    pub async fn start(
        database_url: Option<&str>,
        t0: u64,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let clock = Arc::new(ManualClock::new(t0));
        let url = database_url.map(str::to_owned);
        let server = TestServer::start_with_clock(
            |c| {
                c.database_url = url;
                tweak(c);
            },
            clock.clone(),
        )
        .await;
        let base = server.server().base_url.clone();
        Self {
            server,
            clock,
            base,
        }
    }

    pub fn db(&self) -> &vardrum::db::Db {
        &self.server.server().state.db
    }

    pub async fn logged_in(&self, realm: &str, subject: &str) -> Browser {
        let mut b = Browser::new(&self.base);
        let landing = b.login(realm, subject).await;
        assert!(!landing.contains("error="), "login as {subject}: {landing}");
        b
    }

    pub async fn patient(&self, personnummer: &str) -> Browser {
        self.logged_in("patient", &format!("test-{personnummer}"))
            .await
    }

    /// A staff member's id (`staff.id`) by their IdP subject.
    pub async fn staff_id(&self, subject: &str) -> String {
        let (id,): (String,) = sqlx::query_as("SELECT id FROM staff WHERE subject = $1")
            .bind(subject)
            .fetch_one(self.db().pool())
            .await
            .expect("staff member");
        id
    }

    /// Publishes a slot through the domain (a physical one at "Mottagningen, rum 4") and
    /// returns its id.
    pub async fn publish_slot(&self, spec: SlotSpec<'_>) -> String {
        let clinician = self.staff_id(spec.clinician).await;
        let access = StaffAccess {
            actor: Actor::staff(clinician.clone(), "clinician", spec.unit),
            client_ip: None,
            user_agent: None,
        };
        let new = NewSlot {
            kind: spec.kind,
            place: (spec.kind == SlotKind::Physical).then(|| "Mottagningen, rum 4".to_owned()),
            mode: spec.mode,
            capacity: spec.capacity,
            starts: spec.starts.into(),
            ends: spec.ends.into(),
            clinicians: vec![clinician],
        };
        self.server
            .server()
            .state
            .portal
            .bookings
            .publish_slot(&access, &new)
            .await
            .expect("slot published")
            .id
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
