//! Europe/Stockholm wall-clock time for bookings: what staff type when they publish a slot and
//! what patients read, turned into UTC instants (Unix seconds) for storage and back.
//!
//! The zone's rules come from the tz database bundled into the binary (`jiff`'s
//! `tzdb-bundle-always`), so a slot means the same instant on every machine, whatever its own
//! zoneinfo says.
//!
//! Twice a year the wall clock is not a one-to-one map of instants:
//!
//! - **Spring forward** (last Sunday of March, 02:00 → 03:00): a local time from 02:00 up to
//!   03:00 does not exist. It is refused with [`TimeError::Nonexistent`] rather than moved:
//!   a clinic that writes 02:30 has made a mistake, and guessing 03:30 would book people at a
//!   time nobody chose.
//! - **Fall back** (last Sunday of October, 03:00 → 02:00): a local time from 02:00 up to 03:00
//!   happens twice. It is resolved to the **first** occurrence (still summer time, +02:00), as
//!   iCalendar does (RFC 5545, 3.3.5), so the confirmation e-mail's .ics agrees with us. The
//!   stored instant is unambiguous, and [`to_local`] shows the offset beside the time, so the
//!   second 02:30 (+01:00) of a slot made some other way is still told apart.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use serde::Serialize;

/// The zone every booking time is entered and shown in.
pub const ZONE: &str = "Europe/Stockholm";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The local time falls in the hour skipped when summer time starts.
    #[error("{local} does not exist in Europe/Stockholm (the clocks go forward that night)")]
    Nonexistent { local: String },
    /// Not `YYYY-MM-DDTHH:MM` (seconds optional), or not a real date and time.
    #[error("not a local date and time (expected YYYY-MM-DDTHH:MM)")]
    Format,
    /// Outside the years a booking can be about.
    #[error("the time is out of range")]
    OutOfRange,
    /// The bundled tz database lacks the zone: a build problem, not input.
    #[error("the time zone Europe/Stockholm is not available")]
    ZoneUnavailable,
}

/// A time as a Stockholm wall clock shows it, with the offset from UTC in force then
/// (`+01:00` in winter, `+02:00` in summer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalTime {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `HH:MM`.
    pub time: String,
    /// `+01:00` or `+02:00`.
    pub utc_offset: String,
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.date, self.time, self.utc_offset)
    }
}

/// Earliest and latest years accepted: nobody books a visit outside them.
const MIN_YEAR: i16 = 2000;
const MAX_YEAR: i16 = 2200;

fn zone() -> Result<&'static TimeZone, TimeError> {
    static ZONE_RULES: OnceLock<Option<TimeZone>> = OnceLock::new();
    ZONE_RULES
        .get_or_init(|| jiff::tz::db().get(ZONE).ok())
        .as_ref()
        .ok_or(TimeError::ZoneUnavailable)
}

/// Reads a local date and time as typed: `2026-03-29T10:30`, `2026-03-29 10:30` or with
/// seconds. No offset or zone is accepted: the zone is always Europe/Stockholm.
pub fn parse_local(input: &str) -> Result<DateTime, TimeError> {
    let s = input.trim();
    if s.len() > 19
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | 'T' | ' '))
    {
        return Err(TimeError::Format);
    }
    let dt: DateTime = s.parse().map_err(|_| TimeError::Format)?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&dt.year()) {
        return Err(TimeError::OutOfRange);
    }
    Ok(dt)
}

/// The instant (Unix seconds) of a Stockholm wall-clock time: refused in the spring-forward
/// gap, the first occurrence in the fall-back fold (see the module header).
pub fn local_to_unix(local: DateTime) -> Result<i64, TimeError> {
    if !(MIN_YEAR..=MAX_YEAR).contains(&local.year()) {
        return Err(TimeError::OutOfRange);
    }
    let ambiguous = zone()?.to_ambiguous_timestamp(local);
    let offset: Offset = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset,
        AmbiguousOffset::Fold { before, .. } => before,
        AmbiguousOffset::Gap { .. } => {
            return Err(TimeError::Nonexistent {
                local: local.strftime("%Y-%m-%d %H:%M").to_string(),
            });
        }
    };
    offset
        .to_timestamp(local)
        .map(Timestamp::as_second)
        .map_err(|_| TimeError::OutOfRange)
}

/// Parses and resolves in one step ([`parse_local`], then [`local_to_unix`]).
pub fn parse_local_to_unix(input: &str) -> Result<i64, TimeError> {
    local_to_unix(parse_local(input)?)
}

/// How an instant reads on a Stockholm wall clock.
pub fn to_local(unix: i64) -> Result<LocalTime, TimeError> {
    let ts = Timestamp::from_second(unix).map_err(|_| TimeError::OutOfRange)?;
    let tz = zone()?;
    let dt = tz.to_datetime(ts);
    let offset = tz.to_offset(ts);
    let secs = offset.seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    Ok(LocalTime {
        date: dt.strftime("%Y-%m-%d").to_string(),
        time: dt.strftime("%H:%M").to_string(),
        utc_offset: format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Result<i64, TimeError> {
        parse_local_to_unix(s)
    }

    /// Unix seconds of a UTC time, for comparison.
    fn utc(s: &str) -> i64 {
        s.parse::<Timestamp>().expect("UTC timestamp").as_second()
    }

    #[test]
    fn winter_and_summer_times_have_their_offsets() {
        assert_eq!(at("2026-01-15T10:00"), Ok(utc("2026-01-15T09:00:00Z")));
        assert_eq!(at("2026-07-15T10:00"), Ok(utc("2026-07-15T08:00:00Z")));
        let winter = to_local(utc("2026-01-15T09:00:00Z")).expect("local");
        assert_eq!(winter.to_string(), "2026-01-15 10:00 (+01:00)");
        let summer = to_local(utc("2026-07-15T08:00:00Z")).expect("local");
        assert_eq!(summer.to_string(), "2026-07-15 10:00 (+02:00)");
    }

    #[test]
    fn the_skipped_hour_of_spring_forward_is_refused() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST.
        assert_eq!(
            at("2026-03-29T02:30"),
            Err(TimeError::Nonexistent {
                local: "2026-03-29 02:30".into()
            })
        );
        assert!(matches!(
            at("2026-03-29T02:00"),
            Err(TimeError::Nonexistent { .. })
        ));
        // Either side of the gap exists, one real hour apart.
        let before = at("2026-03-29T01:59").expect("before the gap");
        let after = at("2026-03-29T03:00").expect("after the gap");
        assert_eq!(before, utc("2026-03-29T00:59:00Z"));
        assert_eq!(after, utc("2026-03-29T01:00:00Z"));
        assert_eq!(after - before, 60);
    }

    #[test]
    fn the_repeated_hour_of_fall_back_is_its_first_occurrence() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens at 00:30Z and at 01:30Z.
        let first = at("2026-10-25T02:30").expect("ambiguous, resolved");
        assert_eq!(first, utc("2026-10-25T00:30:00Z"));
        assert_eq!(
            to_local(first).expect("local").to_string(),
            "2026-10-25 02:30 (+02:00)"
        );
        // The second 02:30 is a different instant and reads with the winter offset.
        let second = utc("2026-10-25T01:30:00Z");
        assert_eq!(
            to_local(second).expect("local").to_string(),
            "2026-10-25 02:30 (+01:00)"
        );
        // A slot from 01:30 to 03:30 that night lasts three real hours.
        let start = at("2026-10-25T01:30").expect("start");
        let end = at("2026-10-25T03:30").expect("end");
        assert_eq!(end - start, 3 * 3600);
    }

    #[test]
    fn local_times_round_trip_outside_the_transitions() {
        for s in ["2026-03-28T02:30", "2026-03-30T02:30", "2026-10-24T02:30"] {
            let unix = at(s).expect("exists");
            let local = to_local(unix).expect("local");
            assert_eq!(format!("{}T{}", local.date, local.time), s);
        }
    }

    #[test]
    fn bad_input_is_refused() {
        for s in [
            "",
            "2026-13-01T10:00",
            "2026-02-30T10:00",
            "2026-03-29T25:00",
            "2026-03-29T10:00Z",
            "2026-03-29T10:00+01:00",
            "2026-03-29T10:00[Europe/Stockholm]",
            "tomorrow",
            "2026-03-29T10:00:00.000000001",
        ] {
            assert_eq!(parse_local(s), Err(TimeError::Format), "{s:?}");
        }
        assert_eq!(parse_local("1999-12-31T10:00"), Err(TimeError::OutOfRange));
        assert_eq!(
            parse_local("2026-03-29 10:30"),
            parse_local("2026-03-29T10:30")
        );
    }
}
