//! Swedish personal identity numbers (personnummer) and coordination numbers
//! (samordningsnummer): parsing the forms people type, validating them, and keeping them out of
//! logs.
//!
//! Accounts are keyed on this number, so it is parsed once at the edge into [`Personnummer`]
//! and carried as that type from then on. The type stores the 12-digit form Skatteverket itself
//! stores (`YYYYMMDDNNNC`, century digits 18, 19 or 20), which is also what the database holds.
//!
//! What people type, and how it is read ([`parse`]):
//!
//! | typed             | read as                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `YYYYMMDDNNNC`    | as written                                                       |
//! | `YYYYMMDD-NNNC`   | as written                                                       |
//! | `YYMMDDNNNC`      | century from today: born this year or in the 99 years before     |
//! | `YYMMDD-NNNC`     | the same                                                         |
//! | `YYMMDD+NNNC`     | one century earlier: `+` is written from the year one turns 100  |
//!
//! Surrounding whitespace is ignored; nothing else is. "Today" is an argument, never read from
//! the system clock here, so tests can stand on any date (see [`Date::today`]).
//!
//! Validation, in the order errors are reported: shape, date, serial number, check digit, and
//! finally "not born in the future". Errors never contain the input: an identity number must not
//! end up in a log line through an error message.
//!
//! Samordningsnummer add 60 to the day. Skatteverket also issues them with month `00` and/or day
//! `60` (day `00`) when the birth date could not be established; those are accepted, and
//! [`Personnummer::birth_date`] then returns `None`. Refusing them would lock real people out of
//! their care.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Clock;

/// A calendar date (proleptic Gregorian). Small on purpose: the portal needs birth dates, ages
/// and "today", not time zones, and the crate has no date library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order matters: the derived `Ord` compares year, then month, then day.
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// A date, if it exists on the calendar (leap years included).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month) {
            Some(Date { year, month, day })
        } else {
            None
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// The UTC calendar date `days` days after 1970-01-01.
    pub fn from_unix_days(days: i64) -> Date {
        // Howard Hinnant's `civil_from_days`: exact for the whole proleptic Gregorian range.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: year as i32,
            month,
            day,
        }
    }

    /// The UTC calendar date of a Unix timestamp.
    pub fn from_unix_secs(secs: u64) -> Date {
        // u64 seconds / 86400 always fits in i64.
        Date::from_unix_days((secs / 86_400) as i64)
    }

    /// Today's date by the given clock, in UTC.
    ///
    /// UTC rather than Swedish local time: around midnight the two differ by one or two hours,
    /// so an age limit or a retention day can take effect up to two hours late, never early.
    pub fn today(clock: &(impl Clock + ?Sized)) -> Date {
        Date::from_unix_secs(clock.now_unix())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Which of the two identity numbers this is. Both identify one person for life; a
/// samordningsnummer is given to people who are not (or were never) registered in Sweden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Personnummer,
    Samordningsnummer,
}

/// What is wrong with a typed identity number. Deliberately without the input itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "not an identity number: expected 10 or 12 digits, optionally with '-' or '+' before the \
         last four"
    )]
    Format,
    #[error("the date in the identity number does not exist")]
    InvalidDate,
    #[error("the identity number's check digit is wrong")]
    CheckDigit,
    #[error("the identity number's serial number is 000, which is never issued")]
    SerialZero,
    #[error("the date in the identity number is in the future")]
    FutureDate,
}

impl ParseError {
    /// A stable, machine-readable code for API error bodies.
    pub fn code(self) -> &'static str {
        match self {
            ParseError::Format => "personnummer_format",
            ParseError::InvalidDate => "personnummer_invalid_date",
            ParseError::CheckDigit => "personnummer_check_digit",
            ParseError::SerialZero => "personnummer_serial_zero",
            ParseError::FutureDate => "personnummer_future_date",
        }
    }
}

/// A validated personnummer or samordningsnummer, held as its 12 ASCII digits `YYYYMMDDNNNC`.
///
/// `Debug` never shows the number (`Personnummer(****)`), so a derived `Debug` on a struct that
/// holds one is safe to log. `Display` shows it in full (`YYYYMMDD-NNNC`): use it only where the
/// number is meant to be seen, and [`Personnummer::masked`] elsewhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Personnummer([u8; 12]);

/// Parses what a person typed. `today` decides the century of the 10-digit forms and what counts
/// as the future.
pub fn parse(input: &str, today: Date) -> Result<Personnummer, ParseError> {
    Personnummer::parse(input, today)
}

impl Personnummer {
    /// See [`parse`].
    pub fn parse(input: &str, today: Date) -> Result<Personnummer, ParseError> {
        let typed = Typed::split(input.trim())?;
        let year = match typed.century {
            Some(year) => year,
            None => {
                let yy = i32::from(typed.digits[0]) * 10 + i32::from(typed.digits[1]);
                // The latest year ending in `yy` that is not after this year: the person is in
                // their first hundred years. Skatteverket switches `-` to `+` in the year the
                // person turns 100 (folkbokföringslagen 18 §), hence years, not dates.
                let latest = today.year - (today.year - yy).rem_euclid(100);
                if typed.plus { latest - 100 } else { latest }
            }
        };
        let pnr = Personnummer::from_parts(year, &typed.digits)?;
        if pnr.earliest_birth_date() > today {
            return Err(ParseError::FutureDate);
        }
        Ok(pnr)
    }

    /// Reads the stored 12-digit form (no separator, no whitespace), validating everything but
    /// "not in the future", which needs a today: a stored number was checked against its today
    /// when it was first parsed. Used by deserialisation and database reads.
    pub fn from_canonical(s: &str) -> Result<Personnummer, ParseError> {
        let b = s.as_bytes();
        if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::Format);
        }
        let year = digits_value(&b[0..4]);
        let mut ten = [0u8; 10];
        for (d, c) in ten.iter_mut().zip(&b[2..]) {
            *d = c - b'0';
        }
        Personnummer::from_parts(year, &ten)
    }

    /// Validates the full year plus the ten digits `YYMMDDNNNC` (as numbers 0..=9).
    fn from_parts(year: i32, ten: &[u8; 10]) -> Result<Personnummer, ParseError> {
        // Skatteverket's century digits are 18, 19 or 20; anything earlier is not a birth year.
        if !(1800..=9999).contains(&year) {
            return Err(ParseError::InvalidDate);
        }
        let month = ten[2] * 10 + ten[3];
        let raw_day = ten[4] * 10 + ten[5];
        check_date(year, month, raw_day)?;
        if ten[6..9] == [0, 0, 0] {
            return Err(ParseError::SerialZero);
        }
        if luhn_check_digit(&ten[..9]) != ten[9] {
            return Err(ParseError::CheckDigit);
        }
        let mut out = [0u8; 12];
        let century = year / 100;
        out[0] = b'0' + (century / 10) as u8;
        out[1] = b'0' + (century % 10) as u8;
        for (o, d) in out[2..].iter_mut().zip(ten) {
            *o = b'0' + d;
        }
        Ok(Personnummer(out))
    }

    /// The 12-digit form `YYYYMMDDNNNC`, as stored.
    pub fn as_str(&self) -> &str {
        // Only constructed from ASCII digits, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn kind(&self) -> Kind {
        if self.raw_day() >= 60 {
            Kind::Samordningsnummer
        } else {
            Kind::Personnummer
        }
    }

    /// The date of birth; `None` for a samordningsnummer issued without a known month or day.
    pub fn birth_date(&self) -> Option<Date> {
        Date::new(self.year(), self.month(), self.day())
    }

    /// Completed years of age on `on`. `None` when the birth date is not fully known or `on` is
    /// before it: callers deciding on an age limit must then fail closed.
    ///
    /// Someone born on 29 February has their birthday on 1 March in other years.
    pub fn age_on(&self, on: Date) -> Option<u32> {
        let born = self.birth_date()?;
        if on < born {
            return None;
        }
        let mut age = on.year - born.year;
        if (on.month, on.day) < (born.month, born.day) {
            age -= 1;
        }
        u32::try_from(age).ok()
    }

    /// `YYYYMMDD-****`: enough for a person to recognise their own entry, and for UIs and logs
    /// that need to tell rows apart without showing the number.
    pub fn masked(&self) -> String {
        format!("{}-****", &self.as_str()[..8])
    }

    fn year(&self) -> i32 {
        digits_value(&self.0[0..4])
    }

    fn month(&self) -> u8 {
        (self.0[4] - b'0') * 10 + (self.0[5] - b'0')
    }

    /// The day as written, 60 higher for a samordningsnummer.
    fn raw_day(&self) -> u8 {
        (self.0[6] - b'0') * 10 + (self.0[7] - b'0')
    }

    /// The day of the month (0 when not known).
    fn day(&self) -> u8 {
        let d = self.raw_day();
        if d >= 60 { d - 60 } else { d }
    }

    /// The first day the person can have been born: unknown month or day count as the first.
    fn earliest_birth_date(&self) -> Date {
        Date {
            year: self.year(),
            month: self.month().max(1),
            day: self.day().max(1),
        }
    }
}

/// The pieces of a typed number, before any validation of their meaning.
struct Typed {
    /// `YYMMDDNNNC` as numbers.
    digits: [u8; 10],
    /// The full year, when the 12-digit form was typed.
    century: Option<i32>,
    plus: bool,
}

impl Typed {
    fn split(s: &str) -> Result<Typed, ParseError> {
        let b = s.as_bytes();
        let (body, plus, century) = match b.len() {
            12 => (b.to_vec(), false, true),
            13 if b[8] == b'-' => ([&b[..8], &b[9..]].concat(), false, true),
            10 => (b.to_vec(), false, false),
            11 if b[6] == b'-' || b[6] == b'+' => {
                ([&b[..6], &b[7..]].concat(), b[6] == b'+', false)
            }
            _ => return Err(ParseError::Format),
        };
        if !body.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::Format);
        }
        let (year, rest) = if century {
            (Some(digits_value(&body[0..4])), &body[2..])
        } else {
            (None, &body[..])
        };
        let mut digits = [0u8; 10];
        for (d, c) in digits.iter_mut().zip(rest) {
            *d = c - b'0';
        }
        Ok(Typed {
            digits,
            century: year,
            plus,
        })
    }
}

/// The decimal value of ASCII digits (at most four here).
fn digits_value(ascii: &[u8]) -> i32 {
    ascii
        .iter()
        .fold(0, |acc, c| acc * 10 + i32::from(c - b'0'))
}

fn check_date(year: i32, month: u8, raw_day: u8) -> Result<(), ParseError> {
    let (coordination, day) = if raw_day >= 60 {
        (true, raw_day - 60)
    } else {
        (false, raw_day)
    };
    // Month 00 and day 00 (written 60) mean "not known", which Skatteverket uses only for
    // samordningsnummer.
    if month > 12 || (month == 0 && !coordination) || (day == 0 && !coordination) {
        return Err(ParseError::InvalidDate);
    }
    let max_day = if month == 0 {
        31
    } else {
        days_in_month(year, month)
    };
    if day > max_day {
        return Err(ParseError::InvalidDate);
    }
    Ok(())
}

/// Skatteverket's check digit: the Luhn (modulus 10, weights 2 and 1) check over the nine digits
/// `YYMMDDNNN`. The century never takes part.
fn luhn_check_digit(nine: &[u8]) -> u8 {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let p = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl fmt::Display for Personnummer {
    /// `YYYYMMDD-NNNC`, the 12-digit written form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_str();
        write!(f, "{}-{}", &s[..8], &s[8..])
    }
}

impl fmt::Debug for Personnummer {
    /// Never the number: `Debug` output ends up in logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personnummer(****)")
    }
}

impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    /// Only the stored 12-digit form, fully validated (see [`Personnummer::from_canonical`]).
    /// Numbers typed by people go through [`parse`] instead.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Personnummer::from_canonical(&s).map_err(serde::de::Error::custom)
    }
}

/// Skatteverket's published test numbers (Testpersonnummer and Testsamordningsnummer): valid,
/// and never issued to real people. For tests and development data; nothing else may use
/// numbers that look real.
pub mod test_numbers {
    pub const SKATTEVERKET_TEST_PERSONNUMMER: &[&str] = &[
        "189001019802",
        "189001029819",
        "189012219805",
        "189909139801",
        "191202119986",
        "195712302842",
        "196107293059",
        "199006022397",
        "199602292386",
        "199908072391",
        "200001012384",
        "201602292383",
        "201610252395",
        "201702282383",
        "201801012392",
        "201912312392",
    ];

    pub const SKATTEVERKET_TEST_SAMORDNINGSNUMMER: &[&str] = &[
        "191401682396",
        "193006712388",
        "195012812383",
        "196212902396",
        "197010632391",
        "202210912396",
        "202302882382",
        "202312912393",
    ];
    /// Samordningsnummer whose birth month and/or day is unknown (00), from the same source.
    pub const SKATTEVERKET_TEST_SAMORDNINGSNUMMER_UNKNOWN_DATE: &[&str] =
        &["191500722390", "195302602395", "198000602394"];
}

#[cfg(test)]
mod tests {
    //! The valid numbers here are Skatteverket's official test numbers (never issued to real
    //! people), from their open-data sets "Testpersonnummer" and "Testsamordningsnummer"
    //! (skatteverket.entryscape.net, catalog 9), as republished in
    //! ActiveLogin.Identity's `AllPins.fs` / `AllCoordNums.fs` and test suite and in Kentor's
    //! PU-Adapter `Testpersonnummer.cs`, plus 701063-2391, the worked example in Skatteverket's
    //! SKVM 2010:3 on samordningsnummer.
    //! Invalid numbers are those test numbers with one thing broken (a digit changed, an
    //! impossible date, serial 000); an impossible number cannot belong to anyone.

    use super::*;

    fn d(y: i32, m: u8, day: u8) -> Date {
        Date::new(y, m, day).expect("test date exists")
    }

    /// A day the tests stand on unless they say otherwise.
    fn today() -> Date {
        d(2026, 3, 15)
    }

    fn ok(input: &str) -> Personnummer {
        parse(input, today()).unwrap_or_else(|e| panic!("{input:?} should parse, got {e}"))
    }

    fn err(input: &str) -> ParseError {
        match parse(input, today()) {
            Ok(_) => panic!("{input:?} should be refused"),
            Err(e) => e,
        }
    }

    use super::test_numbers::{
        SKATTEVERKET_TEST_PERSONNUMMER, SKATTEVERKET_TEST_SAMORDNINGSNUMMER,
        SKATTEVERKET_TEST_SAMORDNINGSNUMMER_UNKNOWN_DATE,
    };

    #[test]
    fn every_official_test_personnummer_parses_in_12_and_10_digit_forms() {
        for &n in SKATTEVERKET_TEST_PERSONNUMMER {
            let p = ok(n);
            assert_eq!(p.as_str(), n);
            assert_eq!(p.kind(), Kind::Personnummer, "{n}");
            assert_eq!(ok(&format!("{}-{}", &n[..8], &n[8..])), p, "{n} with '-'");
            // The 10-digit form, with the separator the person would write today.
            let born = p.birth_date().expect("full date");
            let sep = if today().year() - born.year() >= 100 {
                '+'
            } else {
                '-'
            };
            assert_eq!(ok(&format!("{}{sep}{}", &n[2..8], &n[8..])), p, "{n} short");
            if sep == '-' {
                assert_eq!(ok(&n[2..]), p, "{n} short without separator");
            }
        }
    }

    #[test]
    fn every_official_test_samordningsnummer_parses_and_is_marked_as_such() {
        for &n in SKATTEVERKET_TEST_SAMORDNINGSNUMMER {
            let p = ok(n);
            assert_eq!(p.kind(), Kind::Samordningsnummer, "{n}");
            assert!(p.birth_date().is_some(), "{n}");
            assert_eq!(ok(&format!("{}-{}", &n[..8], &n[8..])), p);
        }
    }

    #[test]
    fn samordningsnummer_day_is_the_birth_day_plus_60() {
        // Skatteverket's example: a man born 3 October 1970 with individual number 239.
        let p = ok("701063-2391");
        assert_eq!(p.as_str(), "197010632391");
        assert_eq!(p.kind(), Kind::Samordningsnummer);
        assert_eq!(p.birth_date(), Some(d(1970, 10, 3)));
        assert_eq!(p.to_string(), "19701063-2391");
    }

    #[test]
    fn samordningsnummer_with_unknown_month_or_day_is_accepted_without_a_birth_date() {
        // From Skatteverket's test set; month 00 / day 60 mean "not established".
        for &n in SKATTEVERKET_TEST_SAMORDNINGSNUMMER_UNKNOWN_DATE {
            let p = ok(n);
            assert_eq!(p.kind(), Kind::Samordningsnummer, "{n}");
            assert_eq!(p.birth_date(), None, "{n}");
            assert_eq!(
                p.age_on(today()),
                None,
                "{n}: no age, so age limits fail closed"
            );
        }
        // A personnummer never has an unknown month or day.
        assert_eq!(err("19150012-2390"), ParseError::InvalidDate);
        assert_eq!(err("19530200-2395"), ParseError::InvalidDate);
    }

    #[test]
    fn samordningsnummer_day_must_fit_the_month() {
        // Skatteverket's test set has 2023-02 numbers only up to day 88 (the 28th).
        assert_eq!(ok("202302882382").birth_date(), Some(d(2023, 2, 28)));
        // 30 February, 31 April and 32 January do not exist, plus 60 or not.
        assert_eq!(err("202302902385"), ParseError::InvalidDate);
        assert_eq!(err("202304912394"), ParseError::InvalidDate);
        assert_eq!(err("202301922383"), ParseError::InvalidDate);
    }

    #[test]
    fn ten_digit_form_takes_the_century_from_today() {
        assert_eq!(ok("990807-2391").as_str(), "199908072391");
        assert_eq!(ok("180101-2392").as_str(), "201801012392");
        assert_eq!(ok("000101-2384").as_str(), "200001012384");
        assert_eq!(ok("1801012392").as_str(), "201801012392");
        // Stand in 2018, like ActiveLogin's tests: "99" is 1999, "18" is this year.
        let in_2018 = d(2018, 6, 1);
        assert_eq!(parse("990807-2391", in_2018).map(|p| p.year()), Ok(1999));
        assert_eq!(parse("180101-2392", in_2018).map(|p| p.year()), Ok(2018));
    }

    #[test]
    fn plus_means_a_hundred_years_or_older() {
        assert_eq!(ok("900101+9802").as_str(), "189001019802");
        assert_eq!(ok("990913+9801").as_str(), "189909139801");
        assert_eq!(ok("120211+9986").as_str(), "191202119986");
        // The same digits with '-' are someone born this century.
        assert_eq!(ok("120211-9986").as_str(), "201202119986");
    }

    #[test]
    fn separator_switches_to_plus_in_the_year_one_turns_100() {
        // Born 11 February 1912: '-' through 2011, '+' from 2012 on, whatever the day.
        let want = "191202119986";
        let at = |y, m, day, s: &str| parse(s, d(y, m, day)).map(|p| p.as_str().to_owned());
        assert_eq!(at(2011, 12, 31, "120211-9986").as_deref(), Ok(want));
        assert_eq!(at(2012, 1, 1, "120211+9986").as_deref(), Ok(want));
        assert_eq!(at(2013, 6, 1, "120211+9986").as_deref(), Ok(want));
        // In 2012 the '-' form means a baby born 2012-02-11: not yet born on 1 January.
        assert_eq!(at(2012, 1, 1, "120211-9986"), Err(ParseError::FutureDate));
        assert_eq!(
            at(2012, 2, 11, "120211-9986").as_deref(),
            Ok("201202119986")
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored_but_nothing_else() {
        assert_eq!(ok("  199908072391\t").as_str(), "199908072391");
        assert_eq!(ok("\n990807-2391 ").as_str(), "199908072391");
        for bad in [
            "990807 2391",
            "19990807 2391",
            "990807—2391",
            "990807_2391",
            "990807.2391",
            "1999-08-07-2391",
            "19990807+2391", // '+' only makes sense without the century
            "990807--2391",
            "9908072391-",
            "-9908072391",
        ] {
            assert_eq!(err(bad), ParseError::Format, "{bad:?}");
        }
    }

    #[test]
    fn garbage_and_wrong_lengths_are_format_errors() {
        for bad in [
            "",
            "   ",
            "abc",
            "hello world!",
            "19990807239",
            "1999080723911",
            "990807239",
            "99080723911",
            "99O807-2391",              // letter O, not zero
            "１９９９０８０７２３９１", // full-width digits
            "99-0807-2391",
            "+9908072391",
            "9908072391+",
            "199908072391199908072391",
            "٩٩٠٨٠٧٢٣٩١", // Arabic-Indic digits
            "19990807239x",
        ] {
            assert_eq!(err(bad), ParseError::Format, "{bad:?}");
        }
    }

    #[test]
    fn a_wrong_check_digit_is_refused() {
        for &n in SKATTEVERKET_TEST_PERSONNUMMER
            .iter()
            .chain(SKATTEVERKET_TEST_SAMORDNINGSNUMMER)
        {
            let last = n.as_bytes()[11] - b'0';
            let wrong = format!("{}{}", &n[..11], (last + 1) % 10);
            assert_eq!(err(&wrong), ParseError::CheckDigit, "{wrong}");
        }
        assert_eq!(err("990807-2392"), ParseError::CheckDigit);
        assert_eq!(err("9908072390"), ParseError::CheckDigit);
        assert_eq!(err("701063-2392"), ParseError::CheckDigit);
    }

    #[test]
    fn swapped_serial_digits_are_caught_by_the_check_digit() {
        // 2391 -> 3291: the Luhn check's point is catching typing mistakes like this one.
        assert_eq!(err("990807-3291"), ParseError::CheckDigit);
    }

    #[test]
    fn serial_000_is_refused() {
        // The check digit is right for these, so the serial number is what is refused.
        for n in [
            "199908070007",
            "990807-0007",
            "201602290007",
            "197010630007",
        ] {
            assert_eq!(err(n), ParseError::SerialZero, "{n}");
        }
    }

    #[test]
    fn leap_day_exists_only_in_leap_years() {
        assert_eq!(ok("199602292386").birth_date(), Some(d(1996, 2, 29)));
        assert_eq!(ok("201602292383").birth_date(), Some(d(2016, 2, 29)));
        assert_eq!(ok("160229-2383").as_str(), "201602292383");
        // 2017, 2019 and 1900 (divisible by 100, not by 400) have no 29 February.
        assert_eq!(err("201702292382"), ParseError::InvalidDate);
        assert_eq!(err("190002299802"), ParseError::InvalidDate);
        assert_eq!(err("170229-2382"), ParseError::InvalidDate);
        // 2000 is divisible by 400: a leap year.
        assert!(is_leap_year(2000));
        assert!(!is_leap_year(1900));
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }

    #[test]
    fn impossible_dates_are_refused() {
        for n in [
            "199913072391", // month 13
            "199900072391", // month 00 on a personnummer
            "199908002391", // day 00 on a personnummer
            "199908322391", // day 32
            "199904312391", // 31 April
            "199908452391", // day 45: neither a day nor a samordningsnummer day
            "199908592391", // day 59
            "199908922391", // day 92 = 32 + 60
            "170007082391", // before Skatteverket's earliest century, 18
            "000108072391",
        ] {
            assert_eq!(err(n), ParseError::InvalidDate, "{n}");
        }
    }

    #[test]
    fn future_birth_dates_are_refused() {
        // The test numbers are all in the past of 2026; stand before them instead.
        let before = |s: &str, y, m, day| parse(s, d(y, m, day));
        assert_eq!(
            before("201602292383", 2016, 2, 28),
            Err(ParseError::FutureDate)
        );
        assert!(before("201602292383", 2016, 2, 29).is_ok(), "born today");
        assert_eq!(
            before("201801012392", 2010, 1, 1),
            Err(ParseError::FutureDate)
        );
        assert_eq!(
            before("202312912393", 2023, 12, 30),
            Err(ParseError::FutureDate)
        );
        // Unknown month or day: refused only when even the earliest possible day is ahead.
        assert!(before("198000602394", 1980, 1, 1).is_ok());
        assert_eq!(
            before("198000602394", 1979, 12, 31),
            Err(ParseError::FutureDate)
        );
        // Twelve digits dated far after today (a date no one has been born on yet).
        assert_eq!(err("209912312395"), ParseError::FutureDate);
    }

    #[test]
    fn errors_are_reported_in_a_fixed_order() {
        // Impossible date and wrong check digit: the date is named.
        assert_eq!(err("199913072390"), ParseError::InvalidDate);
        // Serial 000 and wrong check digit: the serial is named.
        assert_eq!(err("199908070001"), ParseError::SerialZero);
    }

    #[test]
    fn error_messages_never_contain_the_number() {
        for input in [
            "990807-2392",
            "199913072391",
            "199908070007",
            "garbage 1999",
        ] {
            let e = err(input);
            let msg = e.to_string();
            assert!(!msg.contains("2391") && !msg.contains("1999"), "{msg}");
            assert!(e.code().starts_with("personnummer_"));
        }
    }

    #[test]
    fn display_masked_and_debug() {
        let p = ok("990807-2391");
        assert_eq!(p.to_string(), "19990807-2391");
        assert_eq!(p.masked(), "19990807-****");
        assert_eq!(format!("{p:?}"), "Personnummer(****)");
        assert_eq!(format!("{:?}", Some(p)), "Some(Personnummer(****))");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Account {
            pnr: Personnummer,
        }
        let logged = format!("{:?}", Account { pnr: p });
        assert!(
            !logged.contains("2391") && !logged.contains("990807"),
            "{logged}"
        );
    }

    #[test]
    fn serde_uses_the_12_digit_string_and_validates_on_the_way_in() {
        let p = ok("990807-2391");
        assert_eq!(
            serde_json::to_string(&p).expect("serialise"),
            "\"199908072391\""
        );
        let back: Personnummer = serde_json::from_str("\"199908072391\"").expect("deserialise");
        assert_eq!(back, p);
        for bad in [
            "\"199908072392\"",  // check digit
            "\"19990807-2391\"", // typed form, not the stored one
            "\"9908072391\"",
            "\"199908070007\"",
            "\"199913072391\"",
            "199908072391", // a number, not a string
            "null",
        ] {
            assert!(
                serde_json::from_str::<Personnummer>(bad).is_err(),
                "{bad} should not deserialise"
            );
        }
        // The error says what is wrong, not what the value was.
        let e = serde_json::from_str::<Personnummer>("\"199908072392\"")
            .expect_err("bad check digit")
            .to_string();
        assert!(e.contains("check digit") && !e.contains("2392"), "{e}");
    }

    #[test]
    fn from_canonical_takes_only_the_stored_form() {
        assert!(Personnummer::from_canonical("199908072391").is_ok());
        assert_eq!(
            Personnummer::from_canonical(" 199908072391"),
            Err(ParseError::Format)
        );
        assert_eq!(
            Personnummer::from_canonical("9908072391"),
            Err(ParseError::Format)
        );
    }

    #[test]
    fn age_on_counts_completed_years() {
        let p = ok("201801012392");
        assert_eq!(p.age_on(d(2018, 1, 1)), Some(0));
        assert_eq!(p.age_on(d(2030, 12, 31)), Some(12));
        // The guardian proxy limit (13 in both regions) is reached on the birthday itself.
        assert_eq!(p.age_on(d(2031, 1, 1)), Some(13));
        assert_eq!(p.age_on(d(2017, 12, 31)), None, "before birth");
        let old = ok("900101+9802");
        assert_eq!(old.age_on(today()), Some(136));
    }

    #[test]
    fn a_leap_day_birthday_falls_on_1_march_in_other_years() {
        let p = ok("201602292383");
        assert_eq!(p.age_on(d(2029, 2, 28)), Some(12));
        assert_eq!(p.age_on(d(2029, 3, 1)), Some(13));
        assert_eq!(p.age_on(d(2032, 2, 29)), Some(16));
    }

    #[test]
    fn samordningsnummer_age_uses_the_real_birth_day() {
        let p = ok("701063-2391"); // born 1970-10-03
        assert_eq!(p.age_on(d(2026, 10, 2)), Some(55));
        assert_eq!(p.age_on(d(2026, 10, 3)), Some(56));
    }

    #[test]
    fn dates_from_unix_time() {
        assert_eq!(Date::from_unix_days(0), d(1970, 1, 1));
        assert_eq!(Date::from_unix_days(-1), d(1969, 12, 31));
        assert_eq!(Date::from_unix_days(11_016), d(2000, 2, 29));
        assert_eq!(Date::from_unix_days(16_860), d(2016, 2, 29));
        // 2026-03-15T12:00:00Z
        assert_eq!(Date::from_unix_secs(1_773_576_000), d(2026, 3, 15));
        assert_eq!(Date::from_unix_secs(86_399), d(1970, 1, 1));
        assert_eq!(Date::from_unix_secs(86_400), d(1970, 1, 2));
        let clock = crate::clock::ManualClock::new(1_773_576_000);
        assert_eq!(Date::today(&clock), d(2026, 3, 15));
        // Every day of four centuries round-trips through the calendar rules.
        let mut prev = Date::from_unix_days(-30_000);
        for n in -29_999..120_000 {
            let next = Date::from_unix_days(n);
            assert!(next > prev);
            assert_eq!(Date::new(next.year, next.month, next.day), Some(next));
            prev = next;
        }
    }

    #[test]
    fn date_new_refuses_days_that_do_not_exist() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2023, 0, 1).is_none());
        assert!(Date::new(2023, 13, 1).is_none());
        assert!(Date::new(2023, 4, 31).is_none());
        assert!(Date::new(2023, 1, 0).is_none());
        assert_eq!(d(2025, 11, 12).to_string(), "2025-11-12");
    }
}
