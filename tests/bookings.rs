//! Bookings against the domain API, on SQLite (always) and PostgreSQL (when
//! `VARDRUM_TEST_POSTGRES` names a server; required in CI): slots published in Stockholm time
//! across the summer-time changes, booking, rescheduling and cancelling by the patient, a
//! guardian and staff, the calendar with its access-log entries, the last place raced for by
//! two patients, the join window and the token it grants, digital drop-in, and giving places
//! back when an account is forgotten. Every refusal is its own error and changes nothing.

mod dbsupport;
use dbsupport::{PgDatabase, on_both_databases};

use std::sync::Arc;

use vardrum::clock::{Clock, ManualClock};
use vardrum::db::{self, Db};
use vardrum::portal::accounts::guardians::ActingAs;
use vardrum::portal::accounts::{Accounts, StaffAccess};
use vardrum::portal::audit::{self, Action, Actor};
use vardrum::portal::bookings::time::{self, TimeError};

use vardrum::portal::bookings::{
    self, BookedBy, Booking, BookingError, BookingPolicy, BookingStatus, Bookings, EndedBy, Joiner,
    NewQueue, NewSlot, QueueState, Slot, SlotKind, SlotMode,
};
use vardrum::portal::identity::personnummer::Personnummer;
use vardrum::portal::identity::register::{FileRegister, RegisterPerson};
use vardrum::portal::region::RegionConfig;
use vardrum::portal::staff::{NewStaff, Role as StaffRole, Staff};
use vardrum_signalling::token::{TokenIssuer, TokenVerifier};
use vardrum_signalling::{Role, RoomKind};

// Skatteverket test numbers only: never issued to real people.
/// A parent, guardian of CHILD.
const PARENT: &str = "199006022397";
/// Born 2016-02-29: 10 in 2026.
const CHILD: &str = "201602292383";
/// Another adult patient.
const OTHER: &str = "199602292386";
/// A third adult patient.
const THIRD: &str = "195712302842";

const UNIT: &str = "Vårdcentralen Ålidhem";
const OTHER_UNIT: &str = "Vårdcentralen Mariehem";

on_both_databases!(
    slots_are_published_in_stockholm_time_across_summer_time,
    a_patient_books_reschedules_and_cancels,
    refusals_change_nothing,
    a_guardian_books_for_a_child,
    staff_book_in_move_end_and_see_the_calendar,
    the_last_place_goes_to_exactly_one_of_two_racing_patients,
    join_opens_before_the_start_and_closes_after_the_end,
    a_group_slot_shares_one_room_with_a_booking_each,
    digital_drop_in_creates_a_booking_and_a_your_turn_notice,
    forgetting_an_account_gives_its_places_back,
);

/// Everything a scenario needs: a migrated database, a clock at 2026-03-15 13:00 in
/// Stockholm, accounts for the patients, three staff members and the bookings service.
struct World {
    db: Db,
    clock: Arc<ManualClock>,
    accounts: Accounts,
    bookings: Bookings,
    /// Clinicians of UNIT.
    anna: StaffAccess,
    bertil: StaffAccess,
    /// A clinician of OTHER_UNIT only.
    cecilia: StaffAccess,
    /// An administrator of UNIT.
    admin: StaffAccess,
    _dir: tempfile::TempDir,
}

fn pnr(s: &str) -> Personnummer {
    Personnummer::from_canonical(s).expect("Skatteverket test number")
}

fn person(n: &str, given: &str, family: &str) -> RegisterPerson {
    RegisterPerson {
        personnummer: pnr(n),
        given_name: given.into(),
        family_name: family.into(),
        mobile: None,
        email: None,
        protected_identity: false,
        children: Vec::new(),
    }
}

/// Unix seconds of a Stockholm wall-clock time.
fn local(s: &str) -> i64 {
    time::parse_local_to_unix(s).expect("a valid local time")
}

impl World {
    async fn new(pg: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = pg
            .map(str::to_owned)
            .unwrap_or_else(|| db::default_url(dir.path()));
        let db = Db::open(&url, dir.path()).await.expect("open database");
        let clock = Arc::new(ManualClock::new(
            u64::try_from(local("2026-03-15T13:00")).expect("positive"),
        ));
        // Mobile numbers from PTS's series reserved for fiction; e-mail on example.org.
        let mut parent = person(PARENT, "Elsa", "Testsson");
        parent.mobile = Some("070-174 06 05".into());
        parent.email = Some("elsa@example.org".into());
        parent.children = vec![pnr(CHILD)];
        let register = Arc::new(
            FileRegister::from_persons(vec![
                parent,
                person(CHILD, "Leo", "Testsson"),
                person(OTHER, "Erik", "Andersson-Test"),
                person(THIRD, "Ingrid", "Testdotter"),
            ])
            .expect("register"),
        );
        let region_path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/regions/jonkoping.toml");
        let region = Arc::new(RegionConfig::load(&region_path).expect("region"));
        let accounts = Accounts::new(db.clone(), register, region, clock.clone());
        for n in [PARENT, OTHER, THIRD] {
            accounts.login(&pnr(n)).await.expect("login");
        }
        let staff = Staff::new(db.clone());
        let member = |subject: &str, given: &str, role: StaffRole, units: &[&str]| {
            let new = NewStaff {
                subject: subject.into(),
                given_name: given.into(),
                family_name: "Testläkare".into(),
                role,
                care_units: units.iter().map(|u| (*u).to_owned()).collect(),
            };
            let staff = staff.clone();
            async move {
                let m = staff.create(&new, 0).await.expect("staff member");
                let unit = m.care_units[0].clone();
                StaffAccess {
                    actor: Actor::staff(m.id, role.as_str(), unit),
                    client_ip: Some("192.0.2.10".parse().expect("address")),
                    user_agent: Some("test".into()),
                }
            }
        };
        let anna = member("hsa-anna", "Anna", StaffRole::Clinician, &[UNIT]).await;
        let bertil = member("hsa-bertil", "Bertil", StaffRole::Clinician, &[UNIT]).await;
        let cecilia = member(
            "hsa-cecilia",
            "Cecilia",
            StaffRole::Clinician,
            &[OTHER_UNIT],
        )
        .await;
        let admin = member("hsa-admin", "Adam", StaffRole::Administrator, &[UNIT]).await;
        let bookings = Bookings::new(db.clone(), clock.clone(), BookingPolicy::default());
        Self {
            db,
            clock,
            accounts,
            bookings,
            anna,
            bertil,
            cecilia,
            admin,
            _dir: dir,
        }
    }

    fn me(&self, n: &str) -> ActingAs {
        ActingAs::myself(pnr(n))
    }

    async fn guardian_for_child(&self) -> ActingAs {
        let acting = self
            .accounts
            .act_for(&pnr(PARENT), &pnr(CHILD))
            .await
            .expect("the parent may act for the child");
        self.accounts
            .open_for_proxy(&acting)
            .await
            .expect("the child's account");
        acting
    }

    /// Moves the clock forward to a Stockholm wall-clock time.
    fn set_clock(&self, at: &str) {
        let target = local(at);
        let now = i64::try_from(self.clock.now_unix()).expect("fits");
        assert!(target >= now, "the test clock only moves forward");
        self.clock
            .advance(u64::try_from(target - now).expect("forward"));
    }

    async fn slot(
        &self,
        kind: SlotKind,
        mode: SlotMode,
        capacity: Option<u32>,
        starts: &str,
        ends: &str,
        clinicians: &[&StaffAccess],
    ) -> Slot {
        self.bookings
            .publish_slot(
                &self.anna,
                &new_slot(kind, mode, capacity, starts, ends, clinicians),
            )
            .await
            .expect("slot published")
    }

    /// A digital single slot with Anna.
    async fn video(&self, starts: &str, ends: &str) -> Slot {
        self.slot(
            SlotKind::Digital,
            SlotMode::Single,
            None,
            starts,
            ends,
            &[&self.anna],
        )
        .await
    }

    async fn access_log_len(&self) -> usize {
        audit::entries_after(&self.db, 0, 10_000)
            .await
            .expect("access log")
            .len()
    }

    async fn booked(&self, slot: &Slot) -> u32 {
        self.bookings.slot(&slot.id).await.expect("slot").booked
    }
}

fn new_slot(
    kind: SlotKind,
    mode: SlotMode,
    capacity: Option<u32>,
    starts: &str,
    ends: &str,
    clinicians: &[&StaffAccess],
) -> NewSlot {
    NewSlot {
        kind,
        place: (kind == SlotKind::Physical).then(|| "Mottagningen, plan 2, rum 14".to_owned()),
        mode,
        capacity,
        starts: starts.into(),
        ends: ends.into(),
        clinicians: clinicians.iter().map(|s| s.actor.id.clone()).collect(),
    }
}

async fn slots_are_published_in_stockholm_time_across_summer_time(pg: Option<&str>) {
    let w = World::new(pg).await;
    // Across spring forward: 01:30 to 03:30 that night is one real hour.
    let spring = w.video("2026-03-29T01:30", "2026-03-29T03:30").await;
    assert_eq!(spring.ends_at - spring.starts_at, 3600);
    assert_eq!(spring.starts.utc_offset, "+01:00");
    assert_eq!(spring.ends.utc_offset, "+02:00");
    assert_eq!(spring.ends.time, "03:30");
    // 02:30 does not exist that night.
    let err = w
        .bookings
        .publish_slot(
            &w.anna,
            &new_slot(
                SlotKind::Digital,
                SlotMode::Single,
                None,
                "2026-03-29T02:30",
                "2026-03-29T03:30",
                &[&w.anna],
            ),
        )
        .await
        .expect_err("a nonexistent local time");
    assert!(
        matches!(err, BookingError::Time(TimeError::Nonexistent { .. })),
        "{err:?}"
    );
    assert_eq!(err.code(), "nonexistent_local_time");
    // Across fall back: 02:30 is its first occurrence, still summer time.
    let autumn = w.video("2026-10-25T02:30", "2026-10-25T03:30").await;
    assert_eq!(autumn.starts.utc_offset, "+02:00");
    assert_eq!(autumn.ends.utc_offset, "+01:00");
    assert_eq!(autumn.ends_at - autumn.starts_at, 2 * 3600);
    let read = w.bookings.slot(&autumn.id).await.expect("stored");
    assert_eq!(read, autumn);
    assert_eq!(read.clinicians, vec![w.anna.actor.id.clone()]);

    // What a slot must be.
    let refuse = |n: NewSlot| {
        let b = w.bookings.clone();
        let anna = w.anna.clone();
        async move { b.publish_slot(&anna, &n).await.expect_err("refused") }
    };
    let mut no_place = new_slot(
        SlotKind::Physical,
        SlotMode::Single,
        None,
        "2026-04-01T10:00",
        "2026-04-01T10:30",
        &[&w.anna],
    );
    no_place.place = None;
    assert!(matches!(
        refuse(no_place).await,
        BookingError::Invalid { field: "place", .. }
    ));
    let mut digital_place = new_slot(
        SlotKind::Digital,
        SlotMode::Single,
        None,
        "2026-04-01T10:00",
        "2026-04-01T10:30",
        &[&w.anna],
    );
    digital_place.place = Some("Rum 1".into());
    assert!(matches!(
        refuse(digital_place).await,
        BookingError::Invalid { field: "place", .. }
    ));
    assert!(matches!(
        refuse(new_slot(
            SlotKind::Digital,
            SlotMode::Group,
            Some(1),
            "2026-04-01T10:00",
            "2026-04-01T10:30",
            &[&w.anna],
        ))
        .await,
        BookingError::Invalid {
            field: "capacity",
            ..
        }
    ));
    assert!(matches!(
        refuse(new_slot(
            SlotKind::Digital,
            SlotMode::Single,
            None,
            "2026-04-01T10:30",
            "2026-04-01T10:00",
            &[&w.anna],
        ))
        .await,
        BookingError::Invalid { field: "ends", .. }
    ));
    assert!(matches!(
        refuse(new_slot(
            SlotKind::Digital,
            SlotMode::Single,
            None,
            "2026-03-14T10:00",
            "2026-03-14T10:30",
            &[&w.anna],
        ))
        .await,
        BookingError::SlotInPast
    ));
    // Cecilia works in another unit; the administrator is no clinician.
    for who in [&w.cecilia, &w.admin] {
        assert!(matches!(
            refuse(new_slot(
                SlotKind::Digital,
                SlotMode::Single,
                None,
                "2026-04-01T10:00",
                "2026-04-01T10:30",
                &[who],
            ))
            .await,
            BookingError::NotAClinicianOfUnit { .. }
        ));
    }
    assert!(matches!(
        refuse(new_slot(
            SlotKind::Digital,
            SlotMode::Single,
            None,
            "2026-04-01T10:00",
            "2026-04-01T10:30",
            &[],
        ))
        .await,
        BookingError::Invalid {
            field: "clinicians",
            ..
        }
    ));
    // Patients browse what is bookable.
    let open = w
        .bookings
        .open_slots(UNIT, local("2026-03-15T00:00"), local("2026-04-15T00:00"))
        .await
        .expect("open slots");
    assert_eq!(open, vec![spring]);
    assert!(
        w.bookings
            .open_slots(
                OTHER_UNIT,
                local("2026-03-15T00:00"),
                local("2026-04-15T00:00")
            )
            .await
            .expect("open slots")
            .is_empty()
    );
}

async fn a_patient_books_reschedules_and_cancels(pg: Option<&str>) {
    let w = World::new(pg).await;
    let me = w.me(PARENT);
    let first = w.video("2026-03-20T10:00", "2026-03-20T10:30").await;
    let physical = w
        .slot(
            SlotKind::Physical,
            SlotMode::Single,
            None,
            "2026-03-21T09:00",
            "2026-03-21T09:20",
            &[&w.anna, &w.bertil],
        )
        .await;

    let booking = w.bookings.book(&me, &first.id).await.expect("booked");
    // What the seeds say a booking holds.
    assert_eq!(booking.patient.given_name, "Elsa");
    assert_eq!(booking.patient.family_name, "Testsson");
    assert_eq!(
        booking.patient.mobile.as_ref().map(|m| m.as_str()),
        Some("+46701740605")
    );
    assert_eq!(
        booking.patient.email.as_ref().map(|e| e.as_str()),
        Some("elsa@example.org")
    );
    assert_eq!(booking.starts.date, "2026-03-20");
    assert_eq!(booking.starts.time, "10:00");
    assert_eq!(booking.kind, SlotKind::Digital);
    assert_eq!(booking.place, None);
    assert_eq!(booking.care_unit, UNIT);
    assert_eq!(booking.clinicians, vec![w.anna.actor.id.clone()]);
    assert_eq!(booking.room, Some(format!("visit-{}", booking.id)));
    assert_eq!(booking.status, BookingStatus::Booked);
    assert_eq!(booking.booked_by, BookedBy::Patient);
    assert_eq!(booking.id.len(), 32);
    assert_eq!(w.booked(&first).await, 1);
    assert_eq!(
        w.bookings.my_bookings(&me).await.expect("mine"),
        vec![booking.clone()]
    );
    // No access-log entry: the patient's own data.
    assert_eq!(w.access_log_len().await, 0);

    // Rescheduled to the physical slot: same id, a place, no room; places moved.
    let moved = w
        .bookings
        .reschedule(&me, &booking.id, &physical.id)
        .await
        .expect("rescheduled");
    assert_eq!(moved.id, booking.id);
    assert_eq!(moved.slot_id, physical.id);
    assert_eq!(moved.place.as_deref(), Some("Mottagningen, plan 2, rum 14"));
    assert_eq!(moved.room, None);
    let mut both = vec![w.anna.actor.id.clone(), w.bertil.actor.id.clone()];
    both.sort();
    assert_eq!(moved.clinicians, both);
    assert_eq!(w.booked(&first).await, 0);
    assert_eq!(w.booked(&physical).await, 1);

    // Cancelled: ended now, by the patient; the place is free again.
    w.clock.advance(60);
    let cancelled = w
        .bookings
        .cancel(&me, &booking.id)
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    assert_eq!(
        cancelled.ended_at,
        Some(i64::try_from(w.clock.now_unix()).expect("fits"))
    );
    assert_eq!(cancelled.ended_by, Some(EndedBy::Patient));
    assert_eq!(w.booked(&physical).await, 0);
    assert!(matches!(
        w.bookings.cancel(&me, &booking.id).await,
        Err(BookingError::BookingEnded)
    ));
    assert!(matches!(
        w.bookings.reschedule(&me, &booking.id, &first.id).await,
        Err(BookingError::BookingEnded)
    ));
    // A cancelled booking does not stop booking the same slot again.
    let again = w.bookings.book(&me, &physical.id).await.expect("rebooked");
    assert_ne!(again.id, booking.id);
    assert_eq!(w.booked(&physical).await, 1);
}

async fn refusals_change_nothing(pg: Option<&str>) {
    let w = World::new(pg).await;
    let me = w.me(PARENT);
    let other = w.me(OTHER);
    let slot = w.video("2026-03-20T10:00", "2026-03-20T10:30").await;
    let overlapping = w
        .slot(
            SlotKind::Digital,
            SlotMode::Single,
            None,
            "2026-03-20T10:15",
            "2026-03-20T10:45",
            &[&w.bertil],
        )
        .await;
    let later = w.video("2026-03-20T11:00", "2026-03-20T11:30").await;
    let mine = w.bookings.book(&me, &slot.id).await.expect("booked");

    // Double booking by the same patient.
    let err = w.bookings.book(&me, &slot.id).await.expect_err("twice");
    assert!(matches!(err, BookingError::AlreadyBooked), "{err:?}");
    let err = w
        .bookings
        .book(&me, &overlapping.id)
        .await
        .expect_err("overlap");
    assert!(
        matches!(&err, BookingError::Overlapping { booking_id } if *booking_id == mine.id),
        "{err:?}"
    );
    // Full.
    assert!(matches!(
        w.bookings.book(&other, &slot.id).await,
        Err(BookingError::SlotFull)
    ));
    // Not a slot.
    assert!(matches!(
        w.bookings
            .book(&me, "0123456789abcdef0123456789abcdef")
            .await,
        Err(BookingError::SlotNotFound)
    ));
    // Someone else's booking: cancel, reschedule, read, join.
    assert!(matches!(
        w.bookings.cancel(&other, &mine.id).await,
        Err(BookingError::NotYourBooking)
    ));
    assert!(matches!(
        w.bookings.reschedule(&other, &mine.id, &later.id).await,
        Err(BookingError::NotYourBooking)
    ));
    assert!(matches!(
        w.bookings.my_booking(&other, &mine.id).await,
        Err(BookingError::NotYourBooking)
    ));
    assert!(matches!(
        w.bookings.join(Joiner::Patient(&other), &mine.id).await,
        Err(BookingError::NotYourBooking)
    ));
    assert!(matches!(
        w.bookings.cancel(&me, "no-such-booking").await,
        Err(BookingError::BookingNotFound)
    ));
    // A patient without an account.
    assert!(matches!(
        w.bookings.book(&w.me(CHILD), &later.id).await,
        Err(BookingError::NoAccount)
    ));
    // Nothing of the above changed anything.
    assert_eq!(
        w.bookings.my_booking(&me, &mine.id).await.expect("mine"),
        mine
    );
    assert_eq!(w.booked(&slot).await, 1);
    assert_eq!(w.booked(&overlapping).await, 0);
    assert_eq!(w.booked(&later).await, 0);
    assert!(
        w.bookings
            .my_bookings(&other)
            .await
            .expect("none")
            .is_empty()
    );

    // In the past: once the slot has started, neither booking nor the patient's changes.
    w.set_clock("2026-03-20T10:15");
    assert!(matches!(
        w.bookings.book(&other, &overlapping.id).await,
        Err(BookingError::SlotInPast)
    ));
    assert!(matches!(
        w.bookings.cancel(&me, &mine.id).await,
        Err(BookingError::TooLateToChange)
    ));
    assert!(matches!(
        w.bookings.reschedule(&me, &mine.id, &later.id).await,
        Err(BookingError::TooLateToChange)
    ));
    assert_eq!(
        w.bookings.my_booking(&me, &mine.id).await.expect("mine"),
        mine
    );
    assert_eq!(w.booked(&later).await, 0);
}

async fn a_guardian_books_for_a_child(pg: Option<&str>) {
    let w = World::new(pg).await;
    let guardian = w.guardian_for_child().await;
    let slot = w.video("2026-03-20T10:00", "2026-03-20T10:30").await;
    let booking = w.bookings.book(&guardian, &slot.id).await.expect("booked");
    assert_eq!(booking.booked_by, BookedBy::Guardian);
    assert_eq!(booking.patient.personnummer, pnr(CHILD));
    assert_eq!(booking.patient.given_name, "Leo");
    // The child's booking, not the parent's own.
    assert_eq!(
        w.bookings.my_bookings(&guardian).await.expect("child's"),
        vec![booking.clone()]
    );
    assert!(
        w.bookings
            .my_bookings(&w.me(PARENT))
            .await
            .expect("parent's")
            .is_empty()
    );
    assert!(matches!(
        w.bookings.cancel(&w.me(PARENT), &booking.id).await,
        Err(BookingError::NotYourBooking)
    ));
    // At visit time the guardian joins as the child's party.
    w.set_clock("2026-03-20T09:55");
    let permit = w
        .bookings
        .join(Joiner::Patient(&guardian), &booking.id)
        .await
        .expect("may join");
    assert_eq!(permit.grant.name, "Leo Testsson");
    assert_eq!(permit.grant.role, Role::Patient);
    let cancelled = w
        .bookings
        .cancel(&guardian, &booking.id)
        .await
        .expect("cancelled by the guardian");
    assert_eq!(cancelled.ended_by, Some(EndedBy::Guardian));
}

async fn staff_book_in_move_end_and_see_the_calendar(pg: Option<&str>) {
    let w = World::new(pg).await;
    let a = w.video("2026-03-20T10:00", "2026-03-20T10:30").await;
    let b = w.video("2026-03-20T11:00", "2026-03-20T11:30").await;
    let c = w.video("2026-03-20T12:00", "2026-03-20T12:30").await;

    // Who may not: an administrator, a clinician of another unit.
    assert!(matches!(
        w.bookings.book_in(&w.admin, &pnr(OTHER), &a.id).await,
        Err(BookingError::NotClinician)
    ));
    let mut cecilia_here = w.cecilia.clone();
    cecilia_here.actor.care_unit = OTHER_UNIT.into();
    assert!(matches!(
        w.bookings.book_in(&cecilia_here, &pnr(OTHER), &a.id).await,
        Err(BookingError::WrongCareUnit)
    ));
    assert_eq!(w.access_log_len().await, 0);
    assert_eq!(w.booked(&a).await, 0);

    let booked = w
        .bookings
        .book_in(&w.bertil, &pnr(OTHER), &a.id)
        .await
        .expect("booked in");
    assert_eq!(booked.booked_by, BookedBy::Staff);
    assert_eq!(
        booked.booked_by_staff.as_deref(),
        Some(w.bertil.actor.id.as_str())
    );
    assert_eq!(booked.patient.given_name, "Erik");
    let second = w
        .bookings
        .book_in(&w.anna, &pnr(THIRD), &c.id)
        .await
        .expect("booked in");
    // A patient without an account is refused, and the attempt logged.
    assert!(matches!(
        w.bookings.book_in(&w.anna, &pnr(CHILD), &b.id).await,
        Err(BookingError::NoAccount)
    ));
    let log = audit::entries_after(&w.db, 0, 100).await.expect("log");
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].action, Action::Create);
    assert_eq!(log[0].resource, format!("booking:{}", booked.id));
    assert_eq!(log[0].patient, pnr(OTHER));
    assert_eq!(log[0].actor.id, w.bertil.actor.id);

    // The patient sees it among their own.
    assert_eq!(
        w.bookings.my_bookings(&w.me(OTHER)).await.expect("own"),
        vec![booked.clone()]
    );

    // Moved by staff to b: the same booking.
    let moved = w
        .bookings
        .staff_move(&w.anna, &booked.id, &b.id)
        .await
        .expect("moved");
    assert_eq!(moved.id, booked.id);
    assert_eq!(moved.starts.time, "11:00");
    assert_eq!((w.booked(&a).await, w.booked(&b).await), (0, 1));
    // Not into c, which is full; nothing moves.
    assert!(matches!(
        w.bookings.staff_move(&w.anna, &booked.id, &c.id).await,
        Err(BookingError::SlotFull)
    ));
    assert_eq!((w.booked(&b).await, w.booked(&c).await), (1, 1));

    // The calendar: every slot of the unit, with its bookings, each read logged.
    let before = w.access_log_len().await;
    let calendar = w
        .bookings
        .calendar(
            &w.anna,
            local("2026-03-20T00:00"),
            local("2026-03-21T00:00"),
        )
        .await
        .expect("calendar");
    assert_eq!(calendar.len(), 3);
    assert_eq!(calendar[0].slot.id, a.id);
    assert!(calendar[0].bookings.is_empty());
    assert_eq!(calendar[1].bookings, vec![moved.clone()]);
    assert_eq!(calendar[2].bookings, vec![second.clone()]);
    assert_eq!(w.access_log_len().await, before + 2);
    assert!(matches!(
        w.bookings
            .calendar(
                &w.admin,
                local("2026-03-20T00:00"),
                local("2026-03-21T00:00")
            )
            .await,
        Err(BookingError::NotClinician)
    ));
    assert!(
        w.bookings
            .calendar(
                &cecilia_here,
                local("2026-03-20T00:00"),
                local("2026-03-21T00:00")
            )
            .await
            .expect("another unit's calendar")
            .is_empty()
    );
    let mut cecilia_reads = w.cecilia.clone();
    cecilia_reads.actor.care_unit = OTHER_UNIT.into();
    assert!(matches!(
        w.bookings.staff_booking(&cecilia_reads, &moved.id).await,
        Err(BookingError::WrongCareUnit)
    ));

    // Done or no-show only once started; either ends the booking and records when and who.
    assert!(matches!(
        w.bookings.mark_done(&w.anna, &moved.id).await,
        Err(BookingError::NotStarted)
    ));
    w.set_clock("2026-03-20T11:20");
    let done = w
        .bookings
        .mark_done(&w.anna, &moved.id)
        .await
        .expect("done");
    assert_eq!(done.status, BookingStatus::Done);
    assert_eq!(done.ended_at, Some(local("2026-03-20T11:20")));
    assert_eq!(done.ended_by, Some(EndedBy::Staff));
    assert_eq!(
        done.ended_by_staff.as_deref(),
        Some(w.anna.actor.id.as_str())
    );
    // Done does not give the place back.
    assert_eq!(w.booked(&b).await, 1);
    assert!(matches!(
        w.bookings.staff_cancel(&w.anna, &moved.id).await,
        Err(BookingError::BookingEnded)
    ));
    w.set_clock("2026-03-20T12:10");
    let no_show = w
        .bookings
        .mark_no_show(&w.bertil, &second.id)
        .await
        .expect("no-show");
    assert_eq!(no_show.status, BookingStatus::NoShow);
    assert_eq!(no_show.ended_at, Some(local("2026-03-20T12:10")));

    // Staff may cancel after the start; the place goes back.
    let late = w.video("2026-03-20T13:00", "2026-03-20T13:30").await;
    let third = w
        .bookings
        .book(&w.me(PARENT), &late.id)
        .await
        .expect("booked");
    w.set_clock("2026-03-20T13:05");
    let cancelled = w
        .bookings
        .staff_cancel(&w.bertil, &third.id)
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status, BookingStatus::Cancelled);
    assert_eq!(w.booked(&late).await, 0);
}

async fn the_last_place_goes_to_exactly_one_of_two_racing_patients(pg: Option<&str>) {
    let w = World::new(pg).await;
    const ROUNDS: usize = 25;
    for round in 0..ROUNDS {
        // A group slot of two with one place already taken; each round its own slot.
        let starts = format!("2026-04-{:02}T10:00", round + 1);
        let ends = format!("2026-04-{:02}T11:00", round + 1);
        let slot = w
            .slot(
                SlotKind::Digital,
                SlotMode::Group,
                Some(2),
                &starts,
                &ends,
                &[&w.anna],
            )
            .await;
        w.bookings
            .book(&w.me(THIRD), &slot.id)
            .await
            .expect("first place");
        let tasks: Vec<_> = [PARENT, OTHER]
            .into_iter()
            .map(|n| {
                let bookings = w.bookings.clone();
                let slot_id = slot.id.clone();
                tokio::spawn(
                    async move { bookings.book(&ActingAs::myself(pnr(n)), &slot_id).await },
                )
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => won += 1,
                Err(BookingError::SlotFull) => {}
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        assert_eq!(w.booked(&slot).await, 2, "round {round}");
        let (active,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM bookings WHERE slot_id = $1 AND ended_at IS NULL")
                .bind(&slot.id)
                .fetch_one(w.db.pool())
                .await
                .expect("count");
        assert_eq!(active, 2, "round {round}");
    }
    // The same patient from two tabs at once: one booking.
    for round in 0..10 {
        let starts = format!("2026-05-{:02}T10:00", round + 1);
        let ends = format!("2026-05-{:02}T11:00", round + 1);
        let slot = w
            .slot(
                SlotKind::Digital,
                SlotMode::Group,
                Some(5),
                &starts,
                &ends,
                &[&w.anna],
            )
            .await;
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let bookings = w.bookings.clone();
                let slot_id = slot.id.clone();
                tokio::spawn(async move {
                    bookings
                        .book(&ActingAs::myself(pnr(PARENT)), &slot_id)
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => won += 1,
                Err(BookingError::AlreadyBooked) => {}
                Err(e) => panic!("round {round}: unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        assert_eq!(w.booked(&slot).await, 1, "round {round}");
    }
}

async fn join_opens_before_the_start_and_closes_after_the_end(pg: Option<&str>) {
    let w = World::new(pg).await;
    let me = w.me(PARENT);
    let slot = w.video("2026-03-20T10:00", "2026-03-20T10:30").await;
    let booking = w.bookings.book(&me, &slot.id).await.expect("booked");

    w.set_clock("2026-03-20T09:49");
    let err = w
        .bookings
        .join(Joiner::Patient(&me), &booking.id)
        .await
        .expect_err("too early");
    assert!(
        matches!(err, BookingError::JoinNotOpen { opens_at } if opens_at == local("2026-03-20T09:50")),
        "{err:?}"
    );

    w.set_clock("2026-03-20T09:50");
    let permit = w
        .bookings
        .join(Joiner::Patient(&me), &booking.id)
        .await
        .expect("open");
    assert_eq!(permit.grant.role, Role::Patient);
    assert_eq!(permit.grant.kind, RoomKind::Visit);
    assert_eq!(permit.grant.room, format!("visit-{}", booking.id));
    assert_eq!(permit.grant.booking.as_deref(), Some(booking.id.as_str()));
    assert_eq!(permit.grant.name, "Elsa Testsson");
    assert_eq!(permit.ttl_secs, 600);
    assert_eq!(permit.expires_at, local("2026-03-20T10:00"));
    // The signalling crate mints and verifies it.
    let issuer = TokenIssuer::new(b"test secret of enough length for HS256!!");
    let token = permit.mint(&issuer, w.clock.now_unix()).expect("minted");
    let claims = TokenVerifier::new(b"test secret of enough length for HS256!!")
        .verify(&token, &permit.grant.room, w.clock.now_unix())
        .expect("valid");
    assert_eq!(claims.booking.as_deref(), Some(booking.id.as_str()));
    assert_eq!(claims.kind, RoomKind::Visit);
    assert_eq!(claims.exp - claims.iat, 600);

    // The clinician booked on it may join; another clinician of the unit may not.
    let clinician = w
        .bookings
        .join(Joiner::Staff(&w.anna), &booking.id)
        .await
        .expect("clinician joins");
    assert_eq!(clinician.grant.role, Role::Clinician);
    assert_eq!(clinician.grant.name, "Anna Testläkare");
    assert_eq!(clinician.grant.room, permit.grant.room);
    assert_eq!(clinician.grant.booking, permit.grant.booking);
    assert!(matches!(
        w.bookings.join(Joiner::Staff(&w.bertil), &booking.id).await,
        Err(BookingError::NotYourBooking)
    ));

    // Near the close, the token lives only until it.
    w.set_clock("2026-03-20T10:59");
    let last = w
        .bookings
        .join(Joiner::Patient(&me), &booking.id)
        .await
        .expect("still open");
    assert_eq!(last.ttl_secs, 60);
    w.set_clock("2026-03-20T11:00");
    assert!(matches!(
        w.bookings.join(Joiner::Patient(&me), &booking.id).await,
        Err(BookingError::JoinClosed)
    ));

    // Marked done: closed at once.
    let next = w.video("2026-03-21T10:00", "2026-03-21T10:30").await;
    let b2 = w.bookings.book(&me, &next.id).await.expect("booked");
    w.set_clock("2026-03-21T10:05");
    w.bookings.mark_done(&w.anna, &b2.id).await.expect("done");
    assert!(matches!(
        w.bookings.join(Joiner::Patient(&me), &b2.id).await,
        Err(BookingError::BookingEnded)
    ));

    // A physical visit has no room.
    let physical = w
        .slot(
            SlotKind::Physical,
            SlotMode::Single,
            None,
            "2026-03-22T10:00",
            "2026-03-22T10:30",
            &[&w.anna],
        )
        .await;
    let b3 = w.bookings.book(&me, &physical.id).await.expect("booked");
    w.set_clock("2026-03-22T10:00");
    assert!(matches!(
        w.bookings.join(Joiner::Patient(&me), &b3.id).await,
        Err(BookingError::NotDigital)
    ));
}

async fn a_group_slot_shares_one_room_with_a_booking_each(pg: Option<&str>) {
    let w = World::new(pg).await;
    let slot = w
        .slot(
            SlotKind::Digital,
            SlotMode::Group,
            Some(3),
            "2026-03-20T14:00",
            "2026-03-20T15:00",
            &[&w.anna, &w.bertil],
        )
        .await;
    let mut bookings: Vec<Booking> = Vec::new();
    for n in [PARENT, OTHER] {
        bookings.push(w.bookings.book(&w.me(n), &slot.id).await.expect("booked"));
    }
    let room = format!("group-{}", slot.id);
    assert!(bookings.iter().all(|b| b.room.as_deref() == Some(&*room)));
    assert_ne!(bookings[0].id, bookings[1].id);
    w.set_clock("2026-03-20T13:55");
    for (n, b) in [PARENT, OTHER].into_iter().zip(&bookings) {
        let p = w
            .bookings
            .join(Joiner::Patient(&w.me(n)), &b.id)
            .await
            .expect("joins");
        assert_eq!(p.grant.kind, RoomKind::Group);
        assert_eq!(p.grant.room, room);
        assert_eq!(p.grant.booking.as_deref(), Some(b.id.as_str()));
    }
    // Both clinicians host; their token names no one patient's booking.
    for staff in [&w.anna, &w.bertil] {
        let p = w
            .bookings
            .join(Joiner::Staff(staff), &bookings[0].id)
            .await
            .expect("hosts");
        assert_eq!(p.grant.role, Role::Clinician);
        assert_eq!(p.grant.kind, RoomKind::Group);
        assert_eq!(p.grant.room, room);
        assert_eq!(p.grant.booking, None);
    }
}

async fn digital_drop_in_creates_a_booking_and_a_your_turn_notice(pg: Option<&str>) {
    let w = World::new(pg).await;
    let queue = w
        .bookings
        .open_queue(
            &w.anna,
            &NewQueue {
                opens: "2026-03-16T08:00".into(),
                closes: "2026-03-16T10:00".into(),
                visit_minutes: 15,
            },
        )
        .await
        .expect("queue opened");
    assert_eq!(queue.opens.time, "08:00");
    // Not open yet.
    assert!(matches!(
        w.bookings.join_queue(&w.me(PARENT), &queue.id).await,
        Err(BookingError::QueueNotOpen)
    ));
    w.set_clock("2026-03-16T08:05");
    assert_eq!(
        w.bookings.open_queues(UNIT).await.expect("open"),
        vec![queue.clone()]
    );
    let first = w
        .bookings
        .join_queue(&w.me(PARENT), &queue.id)
        .await
        .expect("joined");
    assert_eq!(first.state, QueueState::Waiting { place: 1 });
    let second = w
        .bookings
        .join_queue(&w.me(OTHER), &queue.id)
        .await
        .expect("joined");
    assert_eq!(second.state, QueueState::Waiting { place: 2 });
    assert!(matches!(
        w.bookings.join_queue(&w.me(OTHER), &queue.id).await,
        Err(BookingError::AlreadyQueued)
    ));
    assert_eq!(w.bookings.queue(&queue.id).await.expect("q").waiting, 2);
    // An administrator takes nobody; nor does a clinician of another unit.
    assert!(matches!(
        w.bookings.take_next(&w.admin, &queue.id).await,
        Err(BookingError::NotClinician)
    ));
    assert!(matches!(
        w.bookings.take_next(&w.cecilia, &queue.id).await,
        Err(BookingError::WrongCareUnit)
    ));

    w.set_clock("2026-03-16T08:10");
    let taken = w
        .bookings
        .take_next(&w.bertil, &queue.id)
        .await
        .expect("taken");
    let booking = &taken.booking;
    assert_eq!(booking.patient.personnummer, pnr(PARENT));
    assert_eq!(booking.kind, SlotKind::Digital);
    assert_eq!(booking.starts_at, local("2026-03-16T08:10"));
    assert_eq!(booking.ends_at, local("2026-03-16T08:25"));
    assert_eq!(booking.clinicians, vec![w.bertil.actor.id.clone()]);
    assert_eq!(booking.room, Some(format!("visit-{}", booking.id)));
    assert_eq!(taken.notice.booking_id, booking.id);
    assert_eq!(
        w.bookings.pending_notices(10).await.expect("notices"),
        vec![taken.notice.clone()]
    );
    // The patient sees it is their turn, and can join right away; so can the clinician.
    assert_eq!(
        w.bookings
            .queue_place(&w.me(PARENT), &queue.id)
            .await
            .expect("place")
            .state,
        QueueState::Taken {
            booking_id: booking.id.clone()
        }
    );
    w.bookings
        .join(Joiner::Patient(&w.me(PARENT)), &booking.id)
        .await
        .expect("patient joins");
    w.bookings
        .join(Joiner::Staff(&w.bertil), &booking.id)
        .await
        .expect("clinician joins");
    // The second moved up, then leaves; the queue is empty.
    assert_eq!(
        w.bookings
            .queue_place(&w.me(OTHER), &queue.id)
            .await
            .expect("place")
            .state,
        QueueState::Waiting { place: 1 }
    );
    let left = w
        .bookings
        .leave_queue(&w.me(OTHER), &queue.id)
        .await
        .expect("left");
    assert_eq!(left.state, QueueState::Left);
    assert!(matches!(
        w.bookings.leave_queue(&w.me(OTHER), &queue.id).await,
        Err(BookingError::NotQueued)
    ));
    assert!(matches!(
        w.bookings.take_next(&w.anna, &queue.id).await,
        Err(BookingError::QueueEmpty)
    ));
    // Closed early: nobody more joins.
    w.bookings
        .close_queue(&w.anna, &queue.id)
        .await
        .expect("closed");
    assert!(matches!(
        w.bookings.join_queue(&w.me(THIRD), &queue.id).await,
        Err(BookingError::QueueNotOpen)
    ));
    assert!(w.bookings.open_queues(UNIT).await.expect("open").is_empty());

    // Two clinicians taking at once get different patients.
    let q2 = w
        .bookings
        .open_queue(
            &w.anna,
            &NewQueue {
                opens: "2026-03-16T09:00".into(),
                closes: "2026-03-16T11:00".into(),
                visit_minutes: 10,
            },
        )
        .await
        .expect("queue");
    w.set_clock("2026-03-16T09:00");
    for n in [OTHER, THIRD] {
        w.bookings
            .join_queue(&w.me(n), &q2.id)
            .await
            .expect("joined");
    }
    let tasks: Vec<_> = [w.anna.clone(), w.bertil.clone()]
        .into_iter()
        .map(|staff| {
            let bookings = w.bookings.clone();
            let q = q2.id.clone();
            tokio::spawn(async move { bookings.take_next(&staff, &q).await })
        })
        .collect();
    let mut patients = Vec::new();
    for t in tasks {
        patients.push(
            t.await
                .expect("task")
                .expect("taken")
                .booking
                .patient
                .personnummer,
        );
    }
    patients.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut expected = vec![pnr(OTHER), pnr(THIRD)];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(patients, expected);
}

async fn forgetting_an_account_gives_its_places_back(pg: Option<&str>) {
    let w = World::new(pg).await;
    let slot = w
        .slot(
            SlotKind::Digital,
            SlotMode::Group,
            Some(2),
            "2026-03-20T14:00",
            "2026-03-20T15:00",
            &[&w.anna],
        )
        .await;
    w.bookings
        .book(&w.me(PARENT), &slot.id)
        .await
        .expect("booked");
    w.bookings
        .book(&w.me(OTHER), &slot.id)
        .await
        .expect("booked");
    assert_eq!(w.booked(&slot).await, 2);
    let account_id = w
        .accounts
        .account(&pnr(PARENT))
        .await
        .expect("account")
        .id
        .as_str()
        .to_owned();
    // Export: the account's booking, with what it holds.
    let own = bookings::own_data(&w.db, &account_id)
        .await
        .expect("export");
    assert_eq!(own.bookings.len(), 1);
    assert_eq!(own.bookings[0].patient.given_name, "Elsa");
    assert!(own.dropin_entries.is_empty() && own.notices.is_empty());
    let mut tx = w.db.pool().begin().await.expect("tx");
    Bookings::forget_account(&mut tx, &account_id)
        .await
        .expect("forgotten");
    tx.commit().await.expect("commit");
    assert_eq!(w.booked(&slot).await, 1);
    let own = bookings::own_data(&w.db, &account_id)
        .await
        .expect("export");
    assert!(own.bookings.is_empty());
    assert!(matches!(
        w.bookings.my_bookings(&w.me(PARENT)).await,
        Ok(v) if v.is_empty()
    ));
    // Deleting an account with bookings works (the rows cascade).
    w.accounts
        .delete_account(&pnr(OTHER))
        .await
        .expect("deleted with its booking");
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bookings")
        .fetch_one(w.db.pool())
        .await
        .expect("count");
    assert_eq!(left, 0);
}
