//! The words of a notice, in Swedish or English, and the iCalendar file a booking e-mail
//! carries. Made at send time from the few facts a notice may tell: what happened, when (on a
//! Stockholm wall clock), whether the visit is by video or at a place, and the service's name.
//!
//! Nothing else can reach a text, since nothing else is passed in: not the care unit (a unit's
//! name can say what someone is treated for), not the clinician, not a message's words, not a
//! join link. The .ics (RFC 5545) holds a UID, DTSTAMP, DTSTART/DTEND in UTC and a SUMMARY of
//! "Videobesök"/"Video visit" or the place, and nothing more; a moved booking sends the same
//! UID with a higher SEQUENCE so calendars update the event, a cancelled one `METHOD:CANCEL`.

use jiff::Timestamp;
use jiff::civil::{DateTime, Weekday};
use jiff::tz::TimeZone;

use super::Kind;
use crate::portal::bookings::time::ZONE;
use crate::portal::region::Language;

/// What a notice may tell about its booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The booking's id: the calendar event's UID.
    pub booking_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    /// `None` for a video visit.
    pub place: Option<String>,
    /// Grows with each change of the booking, for the calendar event's SEQUENCE.
    pub sequence: i64,
}

/// Everything a text is made from.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub kind: Kind,
    pub language: Language,
    /// The region's service, e.g. "1177 direkt Västerbotten".
    pub service_name: &'a str,
    /// The booking, for booking notices.
    pub visit: Option<&'a Visit>,
    /// Now, to say "i dag" / "i morgon" and for the calendar's DTSTAMP.
    pub now: i64,
}

/// A notice ready for a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The e-mail's subject.
    pub subject: String,
    /// The SMS, and the first paragraph of the e-mail.
    pub text: String,
    /// The e-mail's whole plain-text body.
    pub email_body: String,
    /// The calendar file and its method (`PUBLISH` or `CANCEL`), for booking e-mails.
    pub ics: Option<Ics>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ics {
    pub method: &'static str,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("a booking notice without its booking")]
    NoVisit,
    #[error("a time outside what can be shown")]
    Time,
}

/// The notice's words (and calendar file) for `facts`.
pub fn render(facts: &Facts<'_>) -> Result<Rendered, TextError> {
    let sv = facts.language == Language::Sv;
    let service = facts.service_name;
    let visit = facts.visit;
    let when = || -> Result<String, TextError> {
        let visit = visit.ok_or(TextError::NoVisit)?;
        when(visit.starts_at, facts.now, facts.language)
    };
    let see = if sv {
        format!("Logga in i {service} för att se bokningen.")
    } else {
        format!("Log in to {service} to see the booking.")
    };
    let (subject, text) = match (facts.kind, sv) {
        (Kind::BookingConfirmed, true) => (
            "Bokningsbekräftelse",
            format!("Din tid är bokad: {}. {see}", when()?),
        ),
        (Kind::BookingConfirmed, false) => (
            "Booking confirmation",
            format!("Your appointment is booked: {}. {see}", when()?),
        ),
        (Kind::BookingMoved, true) => (
            "Din tid är flyttad",
            format!("Din tid är flyttad till {}. {see}", when()?),
        ),
        (Kind::BookingMoved, false) => (
            "Your appointment has been moved",
            format!("Your appointment has been moved to {}. {see}", when()?),
        ),
        (Kind::BookingCancelled, true) => (
            "Din tid är avbokad",
            format!(
                "Din tid ({}) är avbokad. Logga in i {service} för att se mer.",
                when()?
            ),
        ),
        (Kind::BookingCancelled, false) => (
            "Your appointment has been cancelled",
            format!(
                "Your appointment ({}) has been cancelled. Log in to {service} for more.",
                when()?
            ),
        ),
        (Kind::Reminder, true) => (
            "Påminnelse",
            format!("Påminnelse: ditt besök {}. {see}", when()?),
        ),
        (Kind::Reminder, false) => (
            "Reminder",
            format!("Reminder: your visit {}. {see}", when()?),
        ),
        (Kind::YourTurn, true) => (
            "Nu är det din tur",
            format!("Nu är det din tur. Logga in i {service} och tryck på Anslut på din bokning."),
        ),
        (Kind::YourTurn, false) => (
            "It is your turn",
            format!("It is your turn now. Log in to {service} and press Join on your booking."),
        ),
        (Kind::NewMessage, true) => (
            "Nytt meddelande",
            format!("Du har ett nytt meddelande i {service}."),
        ),
        (Kind::NewMessage, false) => (
            "New message",
            format!("You have a new message in {service}."),
        ),
    };
    let footer = if sv {
        "Det här meddelandet går inte att svara på."
    } else {
        "This message cannot be replied to."
    };
    let ics = match (facts.kind, visit) {
        (Kind::BookingConfirmed | Kind::BookingMoved, Some(v)) => Some(Ics {
            method: "PUBLISH",
            body: ics(v, facts.language, facts.now, false)?,
        }),
        (Kind::BookingCancelled, Some(v)) => Some(Ics {
            method: "CANCEL",
            body: ics(v, facts.language, facts.now, true)?,
        }),
        _ => None,
    };
    Ok(Rendered {
        subject: format!("{service}: {subject}"),
        email_body: format!("{text}\r\n\r\n{footer}\r\n"),
        text,
        ics,
    })
}

fn zone() -> Result<TimeZone, TextError> {
    jiff::tz::db().get(ZONE).map_err(|_| TextError::Time)
}

fn local(unix: i64) -> Result<DateTime, TextError> {
    let ts = Timestamp::from_second(unix).map_err(|_| TextError::Time)?;
    Ok(zone()?.to_datetime(ts))
}

/// "i morgon kl. 10:00", "tisdag 17 mars kl. 10:00"; "tomorrow at 10:00", "Tuesday 17 March
/// at 10:00": relative to `now` on the Stockholm calendar.
fn when(starts_at: i64, now: i64, language: Language) -> Result<String, TextError> {
    let start = local(starts_at)?;
    let today = local(now)?.date();
    let clock = format!("{:02}:{:02}", start.hour(), start.minute());
    let days = (start.date() - today).get_days();
    let sv = language == Language::Sv;
    let text = match (days, sv) {
        (0, true) => format!("i dag kl. {clock}"),
        (1, true) => format!("i morgon kl. {clock}"),
        (0, false) => format!("today at {clock}"),
        (1, false) => format!("tomorrow at {clock}"),
        (_, true) => format!(
            "{} {} {} kl. {clock}",
            weekday_sv(start.weekday()),
            start.day(),
            MONTHS_SV[usize::try_from(start.month() - 1).map_err(|_| TextError::Time)?]
        ),
        (_, false) => format!(
            "{} {} {} at {clock}",
            weekday_en(start.weekday()),
            start.day(),
            MONTHS_EN[usize::try_from(start.month() - 1).map_err(|_| TextError::Time)?]
        ),
    };
    Ok(text)
}

const MONTHS_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn weekday_sv(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "måndag",
        Weekday::Tuesday => "tisdag",
        Weekday::Wednesday => "onsdag",
        Weekday::Thursday => "torsdag",
        Weekday::Friday => "fredag",
        Weekday::Saturday => "lördag",
        Weekday::Sunday => "söndag",
    }
}

fn weekday_en(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// The calendar file of a booking (RFC 5545): CRLF lines folded at 75 octets.
fn ics(visit: &Visit, language: Language, now: i64, cancel: bool) -> Result<String, TextError> {
    let summary = match (&visit.place, language) {
        (Some(place), _) => place.as_str(),
        (None, Language::Sv) => "Videobesök",
        (None, Language::En) => "Video visit",
    };
    let lines = [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//vardrum//notifications//EN".to_owned(),
        format!("METHOD:{}", if cancel { "CANCEL" } else { "PUBLISH" }),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}@vardrum", visit.booking_id),
        format!("DTSTAMP:{}", utc(now)?),
        format!("SEQUENCE:{}", visit.sequence),
        format!("DTSTART:{}", utc(visit.starts_at)?),
        format!("DTEND:{}", utc(visit.ends_at)?),
        format!("SUMMARY:{}", escape(summary)),
        format!("STATUS:{}", if cancel { "CANCELLED" } else { "CONFIRMED" }),
        "END:VEVENT".to_owned(),
        "END:VCALENDAR".to_owned(),
    ];
    let mut out = String::new();
    for line in &lines {
        fold(line, &mut out);
    }
    Ok(out)
}

/// `20260317T090000Z`.
fn utc(unix: i64) -> Result<String, TextError> {
    let ts = Timestamp::from_second(unix).map_err(|_| TextError::Time)?;
    Ok(ts.strftime("%Y%m%dT%H%M%SZ").to_string())
}

/// TEXT value escaping (RFC 5545 3.3.11); control characters are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets without splitting a character (RFC 5545 3.1).
fn fold(line: &str, out: &mut String) {
    let mut octets = 0;
    for c in line.chars() {
        if octets + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            octets = 1;
        }
        out.push(c);
        octets += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-16T09:00:00Z: 10:00 on Monday 16 March in Stockholm.
    const MONDAY_10: i64 = 1_773_651_600;
    const DAY: i64 = 24 * 3600;

    fn visit(place: Option<&str>) -> Visit {
        Visit {
            booking_id: "b1".into(),
            starts_at: MONDAY_10,
            ends_at: MONDAY_10 + 1200,
            place: place.map(str::to_owned),
            sequence: 0,
        }
    }

    fn facts<'a>(kind: Kind, language: Language, visit: Option<&'a Visit>, now: i64) -> Facts<'a> {
        Facts {
            kind,
            language,
            service_name: "1177 direkt Västerbotten",
            visit,
            now,
        }
    }

    #[test]
    fn reminders_say_tomorrow_or_the_date_in_stockholm_time() {
        let v = visit(None);
        let r = render(&facts(
            Kind::Reminder,
            Language::Sv,
            Some(&v),
            MONDAY_10 - DAY,
        ))
        .unwrap();
        assert!(
            r.text
                .starts_with("Påminnelse: ditt besök i morgon kl. 10:00."),
            "{}",
            r.text
        );
        let r = render(&facts(
            Kind::Reminder,
            Language::En,
            Some(&v),
            MONDAY_10 - 3 * DAY,
        ))
        .unwrap();
        assert!(
            r.text
                .starts_with("Reminder: your visit Monday 16 March at 10:00."),
            "{}",
            r.text
        );
        // After the spring-forward night the same UTC hour is 11:00 on the wall clock.
        let summer = Visit {
            starts_at: MONDAY_10 + 14 * DAY,
            ..v
        };
        let r = render(&facts(
            Kind::Reminder,
            Language::Sv,
            Some(&summer),
            MONDAY_10,
        ))
        .unwrap();
        assert!(r.text.contains("måndag 30 mars kl. 11:00"), "{}", r.text);
    }

    #[test]
    fn texts_name_the_service_and_nothing_of_the_visit_but_its_time() {
        let v = visit(Some("Psykiatrimottagningen, rum 4"));
        for kind in [
            Kind::BookingConfirmed,
            Kind::BookingMoved,
            Kind::BookingCancelled,
            Kind::Reminder,
            Kind::YourTurn,
            Kind::NewMessage,
        ] {
            for language in [Language::Sv, Language::En] {
                let r = render(&facts(kind, language, Some(&v), MONDAY_10 - DAY)).unwrap();
                for text in [&r.subject, &r.text, &r.email_body] {
                    assert!(text.contains("1177 direkt Västerbotten"), "{text}");
                    assert!(!text.contains("Psykiatri"), "{text}");
                    assert!(!text.contains("http"), "{text}");
                }
            }
        }
        let r = render(&facts(Kind::NewMessage, Language::Sv, None, MONDAY_10)).unwrap();
        assert_eq!(
            r.text,
            "Du har ett nytt meddelande i 1177 direkt Västerbotten."
        );
        assert!(r.ics.is_none());
    }

    #[test]
    fn the_calendar_file_holds_time_and_video_or_place_only() {
        let v = visit(None);
        let r = render(&facts(
            Kind::BookingConfirmed,
            Language::Sv,
            Some(&v),
            MONDAY_10 - DAY,
        ))
        .unwrap();
        let ics = r.ics.unwrap();
        assert_eq!(ics.method, "PUBLISH");
        assert_eq!(
            ics.body,
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//vardrum//notifications//EN\r\n\
             METHOD:PUBLISH\r\nBEGIN:VEVENT\r\nUID:b1@vardrum\r\nDTSTAMP:20260315T090000Z\r\n\
             SEQUENCE:0\r\nDTSTART:20260316T090000Z\r\nDTEND:20260316T092000Z\r\n\
             SUMMARY:Videobesök\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let long =
            "Vårdcentralen Norra, Storgatan 12; plan 3, rum 4 (ingång från gården bakom huset)";
        let v = visit(Some(long));
        let r = render(&facts(
            Kind::BookingCancelled,
            Language::En,
            Some(&v),
            MONDAY_10,
        ))
        .unwrap();
        let ics = r.ics.unwrap();
        assert_eq!(ics.method, "CANCEL");
        assert!(ics.body.contains("STATUS:CANCELLED"));
        for line in ics.body.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        let unfolded = ics.body.replace("\r\n ", "");
        assert!(unfolded.contains("SUMMARY:Vårdcentralen Norra\\, Storgatan 12\\; plan 3"));
    }
}
