//! Business-hours calendar: a model feature and an input of scaling policy.
//!
//! A [`BusinessCalendar`] says when a business is open: on given weekdays, between an opening
//! and a closing time of the *local* clock of an IANA time zone, except on holidays. Local
//! times are used throughout, so 09:00 stays 09:00 across daylight-saving changes (it is
//! 08:00 UTC in Berlin in winter and 07:00 UTC in summer).
//!
//! - Hours are `[open, close)` within one local day; overnight shifts (`open >= close`) are
//!   not supported and are rejected by [`BusinessCalendar::new`].
//! - An opening or closing time that falls in a daylight-saving gap takes effect at the first
//!   local time after the gap; one that occurs twice (clocks set back) takes effect at the
//!   first occurrence.
//!
//! In configuration files a calendar is written in a friendly form ([`CalendarConfig`],
//! unknown fields rejected):
//!
//! ```text
//! timezone = "Europe/Berlin"          # required, IANA name
//! weekdays = ["mon", "tue", "wed", "thu", "fri"]   # default Monday to Friday
//! open = "09:00"                      # HH:MM or HH:MM:SS, default 09:00
//! close = "17:00"                     # default 17:00
//! holidays = ["2024-12-25"]           # YYYY-MM-DD, default none
//! ```

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Days searched by [`BusinessCalendar::next_change`].
pub const SEARCH_DAYS: i64 = 400;

/// Why a calendar could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The time zone is not an IANA name known to the time-zone database.
    #[error("unknown time zone `{0}` (expected an IANA name such as `Europe/Berlin`)")]
    UnknownTimezone(String),
    /// A time of day could not be parsed.
    #[error("bad {field} time `{value}` (expected HH:MM or HH:MM:SS, e.g. `09:00`)")]
    BadTime {
        /// Which time (`open` or `close`).
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A weekday name could not be parsed.
    #[error("unknown weekday `{0}` (expected one of mon, tue, wed, thu, fri, sat, sun)")]
    BadWeekday(String),
    /// A holiday date could not be parsed.
    #[error("bad holiday date `{0}` (expected YYYY-MM-DD, e.g. `2024-12-25`)")]
    BadDate(String),
    /// No business weekday was given.
    #[error("a business calendar needs at least one weekday")]
    EmptyWeekdays,
    /// The opening time is not before the closing time.
    #[error(
        "opening time {open} is not before closing time {close} (overnight hours are not \
         supported)"
    )]
    OpenNotBeforeClose {
        /// The opening time.
        open: NaiveTime,
        /// The closing time.
        close: NaiveTime,
    },
}

/// When a business is open. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarConfig", into = "CalendarConfig")]
pub struct BusinessCalendar {
    /// The time zone whose local clock the hours and dates refer to.
    pub timezone: Tz,
    /// The business weekdays.
    pub weekdays: Vec<Weekday>,
    /// Opening time (local, inclusive).
    pub open: NaiveTime,
    /// Closing time (local, exclusive).
    pub close: NaiveTime,
    /// Local dates on which the business is closed all day.
    pub holidays: Vec<NaiveDate>,
}

/// The configuration form of a [`BusinessCalendar`]: plain strings, checked on conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time-zone name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Weekday names (`mon` ... `sun`, or full English names, any case); default Monday to
    /// Friday.
    #[serde(default = "default_weekdays")]
    pub weekdays: Vec<String>,
    /// Opening time, `HH:MM` or `HH:MM:SS`; default `09:00`.
    #[serde(default = "default_open")]
    pub open: String,
    /// Closing time, `HH:MM` or `HH:MM:SS`; default `17:00`.
    #[serde(default = "default_close")]
    pub close: String,
    /// Holidays, `YYYY-MM-DD`; default none.
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn default_weekdays() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec()
}

fn default_open() -> String {
    "09:00".into()
}

fn default_close() -> String {
    "17:00".into()
}

/// Parses a weekday name: `mon` ... `sun` or the full English name, in any case.
pub fn parse_weekday(name: &str) -> Result<Weekday, CalendarError> {
    let lower = name.trim().to_ascii_lowercase();
    let days = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    days.iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|d| d.2)
        .ok_or_else(|| CalendarError::BadWeekday(name.to_string()))
}

fn weekday_name(d: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.num_days_from_monday() as usize]
}

fn parse_time(field: &'static str, value: &str) -> Result<NaiveTime, CalendarError> {
    let v = value.trim();
    NaiveTime::parse_from_str(v, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M"))
        .map_err(|_| CalendarError::BadTime {
            field,
            value: value.to_string(),
        })
}

fn format_time(t: NaiveTime) -> String {
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

impl TryFrom<CalendarConfig> for BusinessCalendar {
    type Error = CalendarError;

    fn try_from(c: CalendarConfig) -> Result<Self, Self::Error> {
        let timezone: Tz = c
            .timezone
            .trim()
            .parse()
            .map_err(|_| CalendarError::UnknownTimezone(c.timezone.clone()))?;
        let weekdays = c
            .weekdays
            .iter()
            .map(|d| parse_weekday(d))
            .collect::<Result<Vec<_>, _>>()?;
        let open = parse_time("open", &c.open)?;
        let close = parse_time("close", &c.close)?;
        let holidays = c
            .holidays
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                    .map_err(|_| CalendarError::BadDate(d.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(timezone, weekdays, open, close, holidays)
    }
}

impl From<BusinessCalendar> for CalendarConfig {
    fn from(c: BusinessCalendar) -> Self {
        Self {
            timezone: c.timezone.name().to_string(),
            weekdays: c
                .weekdays
                .iter()
                .map(|&d| weekday_name(d).to_string())
                .collect(),
            open: format_time(c.open),
            close: format_time(c.close),
            holidays: c
                .holidays
                .iter()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .collect(),
        }
    }
}

impl BusinessCalendar {
    /// A calendar, with weekdays and holidays sorted and deduplicated.
    ///
    /// Fails when `weekdays` is empty or `open` is not before `close` (overnight hours are
    /// not supported).
    pub fn new(
        timezone: Tz,
        mut weekdays: Vec<Weekday>,
        open: NaiveTime,
        close: NaiveTime,
        mut holidays: Vec<NaiveDate>,
    ) -> Result<Self, CalendarError> {
        if weekdays.is_empty() {
            return Err(CalendarError::EmptyWeekdays);
        }
        if open >= close {
            return Err(CalendarError::OpenNotBeforeClose { open, close });
        }
        weekdays.sort_by_key(|d| d.num_days_from_monday());
        weekdays.dedup();
        holidays.sort();
        holidays.dedup();
        Ok(Self {
            timezone,
            weekdays,
            open,
            close,
            holidays,
        })
    }

    /// Monday to Friday, 09:00 to 17:00 local time, no holidays.
    pub fn weekdays_9_to_5(timezone: Tz) -> Self {
        let hm = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        Self {
            timezone,
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            open: hm(9),
            close: hm(17),
            holidays: Vec::new(),
        }
    }

    /// Whether the local `date` is a business weekday and not a holiday.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.weekdays.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// Whether the business is open at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let Some(local) = self.local(t) else {
            return false;
        };
        let time = local.time();
        self.is_business_day(local.date()) && self.open <= time && time < self.close
    }

    /// The local time of `t` (`None` beyond the representable range).
    fn local(&self, t: DateTime<Utc>) -> Option<NaiveDateTime> {
        let offset = self.timezone.offset_from_utc_datetime(&t.naive_utc()).fix();
        t.naive_utc().checked_add_offset(offset)
    }

    /// The first instant after `t` at which the business opens or closes, searching at most
    /// [`SEARCH_DAYS`] days ahead; `None` when nothing changes in that time (or the calendar
    /// is invalid: no weekday, or `open >= close`).
    pub fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.weekdays.is_empty() || self.open >= self.close {
            return None;
        }
        let start = self.local(t)?.date().pred_opt()?;
        for offset in 0..=SEARCH_DAYS + 1 {
            let date = start.checked_add_signed(Duration::days(offset))?;
            if !self.is_business_day(date) {
                continue;
            }
            for time in [self.open, self.close] {
                if let Some(at) = self.instant(date.and_time(time))
                    && at > t
                {
                    return Some(at);
                }
            }
        }
        None
    }

    /// The open flag at the start of each of `n` steps of `step_secs` seconds from `start`:
    /// the calendar as a model feature. Steps beyond the representable time range are closed.
    pub fn mask(&self, start: DateTime<Utc>, step_secs: i64, n: usize) -> Vec<bool> {
        (0..n)
            .map(|i| {
                (i as i64)
                    .checked_mul(step_secs)
                    .and_then(Duration::try_seconds)
                    .and_then(|d| start.checked_add_signed(d))
                    .is_some_and(|t| self.is_open(t))
            })
            .collect()
    }

    /// Whether the local date at `t` is a business day (open or not at that hour).
    pub fn is_business_day_at(&self, t: DateTime<Utc>) -> bool {
        self.local(t)
            .is_some_and(|l| self.is_business_day(l.date()))
    }

    /// The business-day flag of the local date at the start of each of `n` steps of
    /// `step_secs` seconds from `start`: the calendar as a day-type feature (a model can keep
    /// one daily profile for business days and one for the others). The time-zone offset is
    /// looked up once per UTC hour, since offsets change on whole hours.
    pub fn day_mask(&self, start: DateTime<Utc>, step_secs: i64, n: usize) -> Vec<bool> {
        let t0 = start.timestamp();
        let mut hour = i64::MIN;
        let mut offset = 0i64;
        let mut day = i64::MIN;
        let mut business = false;
        (0..n as i64)
            .map(|i| {
                let t = t0.saturating_add(i.saturating_mul(step_secs));
                if t.div_euclid(3600) != hour {
                    hour = t.div_euclid(3600);
                    offset = DateTime::from_timestamp(t, 0).map_or(0, |u| {
                        i64::from(
                            self.timezone
                                .offset_from_utc_datetime(&u.naive_utc())
                                .fix()
                                .local_minus_utc(),
                        )
                    });
                }
                let local_day = (t + offset).div_euclid(86_400);
                if local_day != day {
                    day = local_day;
                    business = DateTime::from_timestamp(local_day * 86_400, 0)
                        .is_some_and(|d| self.is_business_day(d.date_naive()));
                }
                business
            })
            .collect()
    }

    /// The UTC instant of a local time: the first occurrence when it is ambiguous, the end of
    /// the gap when it does not exist.
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => {
                // In a gap: the first whole minute after it (gaps end on whole minutes).
                let base = local.with_second(0)?.with_nanosecond(0)?;
                (1..=24 * 60).find_map(|m| {
                    let later = base.checked_add_signed(Duration::minutes(m))?;
                    match self.timezone.from_local_datetime(&later) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                            Some(t.with_timezone(&Utc))
                        }
                        LocalResult::None => None,
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, MapDeserializer};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn berlin() -> BusinessCalendar {
        BusinessCalendar::weekdays_9_to_5(chrono_tz::Europe::Berlin)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn opening_stays_at_nine_local_across_dst() {
        let cal = berlin();
        // Friday before the spring change (CET, UTC+1): opens 08:00 UTC.
        assert!(!cal.is_open(utc("2024-03-29T07:59:59Z")));
        assert!(cal.is_open(utc("2024-03-29T08:00:00Z")));
        assert!(cal.is_open(utc("2024-03-29T15:59:59Z")));
        assert!(!cal.is_open(utc("2024-03-29T16:00:00Z")));
        // Tuesday after it (CEST, UTC+2): opens 07:00 UTC.
        assert!(cal.is_open(utc("2024-04-02T07:00:00Z")));
        assert!(!cal.is_open(utc("2024-04-02T15:00:00Z")));
        // Across the autumn change (2024-10-27): Friday in CEST, Monday in CET.
        assert!(cal.is_open(utc("2024-10-25T07:00:00Z")));
        assert!(!cal.is_open(utc("2024-10-28T07:30:00Z")));
        assert!(cal.is_open(utc("2024-10-28T08:00:00Z")));
        assert_eq!(
            cal.next_change(utc("2024-03-30T12:00:00Z")),
            Some(utc("2024-04-01T07:00:00Z"))
        );
        assert_eq!(
            cal.next_change(utc("2024-10-26T12:00:00Z")),
            Some(utc("2024-10-28T08:00:00Z"))
        );
    }

    #[test]
    fn weekends_and_holidays_are_closed() {
        let mut cal = berlin();
        cal.holidays.push(date("2024-12-25"));
        assert!(!cal.is_open(utc("2024-12-25T10:00:00Z")));
        assert!(!cal.is_business_day(date("2024-12-25")));
        assert!(cal.is_open(utc("2024-12-24T10:00:00Z")));
        assert!(!cal.is_open(utc("2024-12-28T10:00:00Z"))); // Saturday
        assert!(!cal.is_open(utc("2024-12-29T10:00:00Z"))); // Sunday
        // From Tuesday evening, the next change skips the holiday: Thursday 09:00 CET.
        assert_eq!(
            cal.next_change(utc("2024-12-24T18:00:00Z")),
            Some(utc("2024-12-26T08:00:00Z"))
        );
    }

    #[test]
    fn next_change_finds_the_next_open_or_close() {
        let cal = berlin();
        let monday_morning = utc("2024-06-03T05:00:00Z");
        let open = cal.next_change(monday_morning).unwrap();
        assert_eq!(open, utc("2024-06-03T07:00:00Z"));
        let close = cal.next_change(open).unwrap();
        assert_eq!(close, utc("2024-06-03T15:00:00Z"));
        assert_eq!(cal.next_change(close), Some(utc("2024-06-04T07:00:00Z")));
        // Holidays all year: no change within the search window.
        let mut closed = cal.clone();
        let first = date("2024-06-01");
        closed.holidays = (0..500).map(|d| first + Duration::days(d)).collect();
        assert_eq!(closed.next_change(monday_morning), None);
        // An open time inside the spring gap (02:30 does not exist on 2024-03-31).
        let night = BusinessCalendar::new(
            chrono_tz::Europe::Berlin,
            vec![Weekday::Sun],
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
            vec![],
        )
        .unwrap();
        assert_eq!(
            night.next_change(utc("2024-03-30T12:00:00Z")),
            Some(utc("2024-03-31T01:00:00Z"))
        );
        assert!(night.is_open(utc("2024-03-31T01:00:00Z")));
    }

    #[test]
    fn mask_marks_open_steps() {
        let cal = berlin();
        // Friday 2024-03-29 and Saturday, hourly: open 08:00..16:00 UTC on Friday only.
        let mask = cal.mask(utc("2024-03-29T00:00:00Z"), 3_600, 48);
        assert_eq!(mask.len(), 48);
        let open: Vec<usize> = (0..48).filter(|&i| mask[i]).collect();
        assert_eq!(open, (8..16).collect::<Vec<_>>());
        assert!(cal.mask(utc("2024-03-29T00:00:00Z"), 60, 0).is_empty());
        assert_eq!(
            cal.mask(utc("2024-03-29T10:00:00Z"), i64::MAX, 3),
            vec![true, false, false]
        );
    }

    #[test]
    fn invalid_calendars_are_rejected() {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        let tz = chrono_tz::UTC;
        assert_eq!(
            BusinessCalendar::new(tz, vec![], t(9), t(17), vec![]),
            Err(CalendarError::EmptyWeekdays)
        );
        let err = BusinessCalendar::new(tz, vec![Weekday::Mon], t(22), t(6), vec![]).unwrap_err();
        assert!(err.to_string().contains("overnight"), "{err}");
        let cal = BusinessCalendar::new(
            tz,
            vec![Weekday::Fri, Weekday::Mon, Weekday::Fri],
            t(9),
            t(17),
            vec![date("2024-02-01"), date("2024-01-01"), date("2024-02-01")],
        )
        .unwrap();
        assert_eq!(cal.weekdays, vec![Weekday::Mon, Weekday::Fri]);
        assert_eq!(cal.holidays, vec![date("2024-01-01"), date("2024-02-01")]);
        // A hand-built invalid calendar never panics.
        let bad = BusinessCalendar {
            open: t(17),
            close: t(9),
            ..cal
        };
        assert_eq!(bad.next_change(utc("2024-01-01T00:00:00Z")), None);
        assert!(!bad.is_open(utc("2024-01-01T12:00:00Z")));
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let cal = berlin();
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let days = Duration::days(3);
        for t in [min, max, min + days, max - days] {
            let _ = cal.is_open(t);
            let _ = cal.next_change(t);
            assert_eq!(cal.mask(t, 86_400, 3).len(), 3);
            assert_eq!(cal.mask(t, -86_400, 3).len(), 3);
        }
    }

    fn config(tz: &str) -> CalendarConfig {
        CalendarConfig {
            timezone: tz.into(),
            weekdays: default_weekdays(),
            open: default_open(),
            close: default_close(),
            holidays: vec!["2024-12-25".into()],
        }
    }

    #[test]
    fn config_converts_both_ways() {
        let cal = BusinessCalendar::try_from(config("Europe/Berlin")).unwrap();
        let mut expected = berlin();
        expected.holidays.push(date("2024-12-25"));
        assert_eq!(cal, expected);
        assert_eq!(CalendarConfig::from(cal), config("Europe/Berlin"));
        let odd = CalendarConfig {
            weekdays: vec!["Saturday".into(), "SUN".into()],
            open: "07:30:15".into(),
            ..config("America/New_York")
        };
        let cal = BusinessCalendar::try_from(odd).unwrap();
        assert_eq!(cal.weekdays, vec![Weekday::Sat, Weekday::Sun]);
        assert_eq!(CalendarConfig::from(cal).open, "07:30:15");
    }

    #[test]
    fn config_errors_name_the_bad_value() {
        let check = |c: CalendarConfig, needle: &str| {
            let err = BusinessCalendar::try_from(c).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        };
        check(config("Mars/Base"), "`Mars/Base`");
        check(
            CalendarConfig {
                weekdays: vec!["mon".into(), "fun".into()],
                ..config("UTC")
            },
            "`fun`",
        );
        check(
            CalendarConfig {
                open: "9am".into(),
                ..config("UTC")
            },
            "open time `9am`",
        );
        check(
            CalendarConfig {
                close: "25:00".into(),
                ..config("UTC")
            },
            "close time `25:00`",
        );
        check(
            CalendarConfig {
                holidays: vec!["2024-13-01".into()],
                ..config("UTC")
            },
            "`2024-13-01`",
        );
        check(
            CalendarConfig {
                weekdays: vec![],
                ..config("UTC")
            },
            "at least one weekday",
        );
        check(
            CalendarConfig {
                open: "18:00".into(),
                ..config("UTC")
            },
            "not before",
        );
    }

    fn deserialize(fields: &[(&'static str, &'static str)]) -> Result<BusinessCalendar, String> {
        let map = MapDeserializer::<_, ValueError>::new(fields.iter().copied());
        BusinessCalendar::deserialize(map).map_err(|e| e.to_string())
    }

    #[test]
    fn deserialization_applies_defaults_and_rejects_unknown_fields() {
        let cal = deserialize(&[("timezone", "Europe/Berlin")]).unwrap();
        assert_eq!(cal, berlin());
        let cal =
            deserialize(&[("timezone", "UTC"), ("open", "08:00"), ("close", "20:00")]).unwrap();
        assert_eq!(cal.open, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
        let err = deserialize(&[("timezone", "Mars/Base")]).unwrap_err();
        assert!(err.contains("Mars/Base"), "{err}");
        let err = deserialize(&[("timezone", "UTC"), ("opens", "08:00")]).unwrap_err();
        assert!(err.contains("opens"), "{err}");
        assert!(
            deserialize(&[("open", "08:00")])
                .unwrap_err()
                .contains("timezone")
        );
    }

    #[test]
    fn day_mask_follows_local_dates_and_holidays() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let mut cal = BusinessCalendar::weekdays_9_to_5(tz);
        cal.holidays
            .push(NaiveDate::from_ymd_opt(2024, 1, 3).unwrap());
        // Hourly steps from Monday 2024-01-01 00:00 UTC (Sunday 19:00 in New York).
        let start = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        let mask = cal.day_mask(start, 3600, 24 * 7);
        for (i, &m) in mask.iter().enumerate() {
            let t = start + Duration::hours(i as i64);
            assert_eq!(m, cal.is_business_day_at(t), "hour {i}");
        }
        assert!(!mask[0]); // still Sunday in New York
        assert!(mask[5]); // Monday 00:00 local
        assert!(!mask[24 * 2 + 5 + 12]); // Wednesday, a holiday
    }
}
