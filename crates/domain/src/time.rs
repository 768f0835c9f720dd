//! Time: millisecond instants in UTC, calendar days, and inclusive date ranges.
//!
//! The API speaks RFC 3339 with millisecond precision in UTC (`2026-11-26T10:15:30.123Z`).
//! [`Timestamp`] stores milliseconds since the Unix epoch, limited to the years 0000–9999
//! so every instant can be printed in that form; finer precision is truncated on input.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};

use crate::value_error::ValueError;

/// RFC 3339 with any offset, or a date-time without one (read as UTC), to the nanosecond.
fn parse_instant(s: &str) -> Result<DateTime<Utc>, ValueError> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .filter(|_| s.len() >= 19 && !s.ends_with('.'))
        .map(|naive| naive.and_utc())
        .ok_or_else(|| {
            ValueError::new(
                "must be an RFC 3339 date-time (e.g. 2026-11-26T10:15:30.123Z), or one \
                 without an offset, read as UTC",
            )
        })
}

/// An instant in UTC with millisecond precision, within the years 0000–9999.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

/// 0000-01-01T00:00:00.000Z in milliseconds since the epoch.
const MIN_MILLIS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z in milliseconds since the epoch.
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// From milliseconds since the Unix epoch; fails outside the years 0000–9999.
    pub fn from_millis(ms: i64) -> Result<Self, ValueError> {
        if (MIN_MILLIS..=MAX_MILLIS).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(ValueError::new("must be between the years 0000 and 9999"))
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The current time from the operating system.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis().clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// Parses RFC 3339 with any offset (converted to UTC); digits past milliseconds are
    /// dropped (rounded down).
    pub fn parse_rfc3339(s: &str) -> Result<Self, ValueError> {
        let dt = DateTime::parse_from_rfc3339(s).map_err(|_| {
            ValueError::new("must be an RFC 3339 date-time, e.g. 2026-11-26T10:15:30.123Z")
        })?;
        Self::from_millis(dt.with_timezone(&Utc).timestamp_millis())
    }

    /// Parses RFC 3339, or a date-time without an offset (`2026-11-25T13:40:31.184834`,
    /// what Python's `datetime.isoformat()` prints for a naive datetime), read as UTC.
    /// Digits past milliseconds are dropped.
    pub fn parse_datetime(s: &str) -> Result<Self, ValueError> {
        Self::from_millis(parse_instant(s)?.timestamp_millis())
    }

    /// [`Timestamp::parse_datetime`], rounded up to the next millisecond when digits past
    /// milliseconds are not all zero: the first instant not before `s`, which an inclusive
    /// lower bound needs (rounding down would let in what lies before the bound).
    pub fn parse_datetime_up(s: &str) -> Result<Self, ValueError> {
        let instant = parse_instant(s)?;
        let extra = i64::from(instant.timestamp_subsec_nanos() % 1_000_000 != 0);
        Self::from_millis(instant.timestamp_millis().saturating_add(extra))
    }

    /// This instant plus `ms` milliseconds (saturating at the supported range).
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms).clamp(MIN_MILLIS, MAX_MILLIS))
    }

    /// The UTC calendar day of this instant.
    pub fn day(self) -> UtcDay {
        UtcDay(self.to_chrono().date_naive())
    }

    fn to_chrono(self) -> DateTime<Utc> {
        // In range by construction, so this always succeeds; the fallback is unreachable.
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_chrono()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// A UTC calendar day, printed `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtcDay(NaiveDate);

impl UtcDay {
    /// The ISO 8601 week-numbering year and week (weeks start on Monday) of this day.
    pub fn iso_week(self) -> (i32, u32) {
        use chrono::Datelike;
        let week = self.0.iso_week();
        (week.year(), week.week())
    }

    /// How many days after the Unix epoch's day this is (negative: before).
    pub fn epoch_days(self) -> i64 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        (self.0 - epoch).num_days()
    }

    /// The day `days` after the Unix epoch's day (negative: before).
    pub fn from_epoch_days(days: i64) -> Result<Self, ValueError> {
        Timestamp::from_millis(days.saturating_mul(86_400_000)).map(Timestamp::day)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        if s.len() != 10 {
            return Err(ValueError::new("must be a date, YYYY-MM-DD"));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Self)
            .map_err(|_| ValueError::new("must be a date, YYYY-MM-DD"))
    }

    /// 00:00:00.000 UTC of this day.
    pub fn start(self) -> Result<Timestamp, ValueError> {
        Timestamp::from_millis(self.0.and_time(NaiveTime::MIN).and_utc().timestamp_millis())
    }

    /// 23:59:59.999 UTC of this day.
    pub fn end(self) -> Result<Timestamp, ValueError> {
        self.start().map(|t| t.plus_millis(86_400_000 - 1))
    }
}

impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl fmt::Debug for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UtcDay({self})")
    }
}

impl serde::Serialize for UtcDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for UtcDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of instants; either bound may be open. Invariant: `start <= end`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct DateRange {
    start: Option<Timestamp>,
    end: Option<Timestamp>,
}

impl DateRange {
    /// The unbounded range: every transaction.
    pub const ALL: DateRange = DateRange {
        start: None,
        end: None,
    };

    /// Builds a range; fails when `start > end`.
    pub fn new(start: Option<Timestamp>, end: Option<Timestamp>) -> Result<Self, ValueError> {
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(ValueError::new("the start must not be after the end"));
            }
        }
        Ok(Self { start, end })
    }

    /// The one instant `at`.
    pub const fn instant(at: Timestamp) -> Self {
        Self {
            start: Some(at),
            end: Some(at),
        }
    }

    /// Everything up to `end`, inclusive (what a balance at `end` counts).
    pub const fn until(end: Timestamp) -> Self {
        Self {
            start: None,
            end: Some(end),
        }
    }

    /// Parses a start bound: RFC 3339, or `YYYY-MM-DD` meaning 00:00:00.000Z of that day.
    /// Digits past milliseconds round up: nothing before the bound is in the range.
    pub fn parse_start(s: &str) -> Result<Timestamp, ValueError> {
        Self::parse_bound(s, UtcDay::start, Timestamp::parse_datetime_up)
    }

    /// Parses an end bound: RFC 3339, or `YYYY-MM-DD` meaning 23:59:59.999Z of that day.
    /// Digits past milliseconds are dropped: nothing after the bound is in the range.
    pub fn parse_end(s: &str) -> Result<Timestamp, ValueError> {
        Self::parse_bound(s, UtcDay::end, Timestamp::parse_datetime)
    }

    fn parse_bound(
        s: &str,
        of_day: fn(UtcDay) -> Result<Timestamp, ValueError>,
        instant: fn(&str) -> Result<Timestamp, ValueError>,
    ) -> Result<Timestamp, ValueError> {
        if s.len() == 10 {
            if let Ok(day) = UtcDay::parse(s) {
                return of_day(day);
            }
        }
        instant(s).map_err(|_| {
            ValueError::new(
                "must be an RFC 3339 date-time, a date-time without offset (read as UTC), \
                 or a date (YYYY-MM-DD)",
            )
        })
    }

    /// The inclusive lower bound, if any.
    pub const fn start(&self) -> Option<Timestamp> {
        self.start
    }

    /// The inclusive upper bound, if any.
    pub const fn end(&self) -> Option<Timestamp> {
        self.end
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t <= e)
    }
}

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A date range cut into the whole UTC days the roll-ups answer for and the partial
/// first and last days the rows answer for. Empty parts are empty intervals (from > to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaySplit {
    /// Whole days, as day numbers since the epoch, inclusive.
    pub full_days: (i64, i64),
    /// The partial first day's instants (ms), inclusive.
    pub head: (i64, i64),
    /// The partial last day's instants (ms), inclusive.
    pub tail: (i64, i64),
}

impl DaySplit {
    /// An empty interval.
    pub const EMPTY: (i64, i64) = (1, 0);

    /// Cuts `range`.
    pub fn of(range: DateRange) -> Self {
        let day_of = |ms: i64| ms.div_euclid(MS_PER_DAY);
        // An open bound covers every day on its side.
        let (first_full, head) = match range.start() {
            None => (i64::MIN / MS_PER_DAY, Self::EMPTY),
            Some(s) if s.as_millis().rem_euclid(MS_PER_DAY) == 0 => {
                (day_of(s.as_millis()), Self::EMPTY)
            }
            Some(s) => {
                let next = day_of(s.as_millis()) + 1;
                (next, (s.as_millis(), next * MS_PER_DAY - 1))
            }
        };
        let (last_full, tail) = match range.end() {
            None => (i64::MAX / MS_PER_DAY, Self::EMPTY),
            Some(e) if e.as_millis().rem_euclid(MS_PER_DAY) == MS_PER_DAY - 1 => {
                (day_of(e.as_millis()), Self::EMPTY)
            }
            Some(e) => {
                let day = day_of(e.as_millis());
                (day - 1, (day * MS_PER_DAY, e.as_millis()))
            }
        };
        if first_full <= last_full {
            // The head ends before the first full day and the tail starts after the last.
            return Self {
                full_days: (first_full, last_full),
                head,
                tail,
            };
        }
        // No whole day inside: the rows of the range itself.
        let from = range.start().map_or(i64::MIN, Timestamp::as_millis);
        let to = range.end().map_or(i64::MAX, Timestamp::as_millis);
        Self {
            full_days: Self::EMPTY,
            head: (from, to),
            tail: Self::EMPTY,
        }
    }
}

impl DateRange {
    /// This range cut into whole UTC days and partial edges (see [`DaySplit`]).
    pub fn day_split(self) -> DaySplit {
        DaySplit::of(self)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn date_times_without_an_offset_are_read_as_utc() {
        let naive = Timestamp::parse_datetime("2026-11-25T13:40:31.184834").unwrap();
        assert_eq!(naive.to_string(), "2026-11-25T13:40:31.184Z");
        assert_eq!(
            Timestamp::parse_datetime("2026-11-25T13:40:31").unwrap(),
            Timestamp::parse_rfc3339("2026-11-25T13:40:31Z").unwrap()
        );
        assert_eq!(
            Timestamp::parse_datetime("2026-11-25T15:40:31+02:00").unwrap(),
            Timestamp::parse_rfc3339("2026-11-25T13:40:31Z").unwrap()
        );
        for bad in [
            "2026-11-25",
            "2026-11-25T13:40",
            "2026-11-25T13:40:31.",
            "soon",
            "2026-13-01T00:00:00",
        ] {
            assert!(Timestamp::parse_datetime(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DateRange::parse_start("2026-11-25T13:40:31.5").unwrap(),
            Timestamp::parse_rfc3339("2026-11-25T13:40:31.500Z").unwrap()
        );
    }

    use super::*;

    #[test]
    fn sub_millisecond_bounds_round_outwards_never_letting_in_what_is_outside() {
        let ms = |t: Timestamp| t.as_millis();
        let at = |s: &str| ms(Timestamp::parse_rfc3339(s).unwrap());
        let start = DateRange::parse_start("2026-11-26T10:15:30.123400Z").unwrap();
        assert_eq!(ms(start), at("2026-11-26T10:15:30.124Z"), "up");
        let end = DateRange::parse_end("2026-11-26T10:15:30.123999Z").unwrap();
        assert_eq!(ms(end), at("2026-11-26T10:15:30.123Z"), "down");
        let exact = DateRange::parse_start("2026-11-26T10:15:30.123000Z").unwrap();
        assert_eq!(
            ms(exact),
            at("2026-11-26T10:15:30.123Z"),
            "whole milliseconds stay"
        );
        let naive = DateRange::parse_start("2026-11-26T10:15:30.0000001").unwrap();
        assert_eq!(ms(naive), at("2026-11-26T10:15:30.001Z"));
    }

    #[test]
    fn rfc3339_round_trip_in_utc_with_millis() {
        let t = Timestamp::parse_rfc3339("2026-11-26T12:15:30.123456+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-26T10:15:30.123Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-26T10:15:30Z")
                .unwrap()
                .to_string(),
            "2026-11-26T10:15:30.000Z"
        );
        assert!(Timestamp::parse_rfc3339("2026-11-26").is_err());
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn timestamps_are_bounded() {
        assert!(Timestamp::from_millis(MAX_MILLIS + 1).is_err());
        assert!(Timestamp::from_millis(MIN_MILLIS - 1).is_err());
        assert_eq!(
            Timestamp::from_millis(MAX_MILLIS).unwrap().to_string(),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn date_only_bounds_cover_the_whole_day() {
        let s = DateRange::parse_start("2026-11-25").unwrap();
        let e = DateRange::parse_end("2026-11-25").unwrap();
        assert_eq!(s.to_string(), "2026-11-25T00:00:00.000Z");
        assert_eq!(e.to_string(), "2026-11-25T23:59:59.999Z");
        let r = DateRange::new(Some(s), Some(e)).unwrap();
        assert!(r.contains(Timestamp::parse_rfc3339("2026-11-25T23:59:59.999Z").unwrap()));
        assert!(!r.contains(Timestamp::parse_rfc3339("2026-11-26T00:00:00Z").unwrap()));
    }

    #[test]
    fn ranges_reject_start_after_end_and_allow_open_bounds() {
        let a = DateRange::parse_start("2026-11-26").unwrap();
        let b = DateRange::parse_end("2026-11-25").unwrap();
        assert!(DateRange::new(Some(a), Some(b)).is_err());
        assert!(DateRange::new(Some(a), None)
            .unwrap()
            .contains(a.plus_millis(1_000_000)));
        assert!(!DateRange::new(None, Some(b)).unwrap().contains(a));
        assert!(DateRange::parse_start("2026-13-01").is_err());
        assert!(DateRange::parse_end("soon").is_err());
    }

    #[test]
    fn day_of_an_instant() {
        let t = Timestamp::parse_rfc3339("2026-11-25T23:59:59.999Z").unwrap();
        assert_eq!(t.day().to_string(), "2026-11-25");
        assert_eq!(t.plus_millis(1).day().to_string(), "2026-11-26");
    }

    // ---- day splits ----

    fn at_opt(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse_rfc3339(s).expect("time"))
    }

    fn split(start: &str, end: &str) -> DaySplit {
        let s = (!start.is_empty()).then(|| at_opt(start)).flatten();
        let e = (!end.is_empty()).then(|| at_opt(end)).flatten();
        DaySplit::of(DateRange::new(s, e).expect("range"))
    }

    #[test]
    fn ranges_split_into_whole_days_and_partial_edges() {
        let day = |d: &str| {
            Timestamp::parse_rfc3339(&format!("{d}T00:00:00Z"))
                .expect("day")
                .as_millis()
                / MS_PER_DAY
        };
        let ms = |t: &str| Timestamp::parse_rfc3339(t).expect("time").as_millis();
        // Whole days only.
        let s = split("2026-01-01T00:00:00Z", "2026-01-03T23:59:59.999Z");
        assert_eq!(s.full_days, (day("2026-01-01"), day("2026-01-03")));
        assert_eq!((s.head, s.tail), (DaySplit::EMPTY, DaySplit::EMPTY));
        // Partial edges around whole days.
        let s = split("2026-01-01T10:00:00Z", "2026-01-03T09:00:00Z");
        assert_eq!(s.full_days, (day("2026-01-02"), day("2026-01-02")));
        assert_eq!(
            s.head,
            (ms("2026-01-01T10:00:00Z"), ms("2026-01-01T23:59:59.999Z"))
        );
        assert_eq!(
            s.tail,
            (ms("2026-01-03T00:00:00Z"), ms("2026-01-03T09:00:00Z"))
        );
        // No whole day inside: the rows of the range.
        let s = split("2026-01-01T10:00:00Z", "2026-01-02T09:00:00Z");
        assert_eq!(s.full_days, DaySplit::EMPTY);
        assert_eq!(
            s.head,
            (ms("2026-01-01T10:00:00Z"), ms("2026-01-02T09:00:00Z"))
        );
        // Open bounds: every day on that side.
        let s = split("", "2026-01-03T09:00:00Z");
        assert_eq!(s.full_days.1, day("2026-01-02"));
        assert!(s.full_days.0 < day("1970-01-01"));
        let s = split("1969-12-31T12:00:00Z", "");
        assert_eq!(s.full_days.0, 0, "days before the epoch divide downwards");
        assert_eq!(s.head.1, -1);
    }
}
