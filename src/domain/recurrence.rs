//! Recurring appointments from a cron expression in a time zone.
//!
//! The `cron` crate parses and enumerates, but across a DST change it skips
//! or doubles local occurrences. So we enumerate in UTC *as if it were the
//! local wall clock* (UTC has no DST, so every wall-clock occurrence comes
//! exactly once) and resolve each local time ourselves with the rule in
//! [`crate::domain::schedule::resolve_local`].

use crate::domain::schedule::{local, resolve_local};
use crate::domain::wall_clock::{self, WallClock};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// A parsed cron expression: the classic five fields (`min hour day month
/// weekday`, weekdays 0-7 with 0 and 7 = Sunday and 1 = Monday, as in
/// crontab). A sixth field is refused rather than read as seconds; every
/// number is checked against its field's range, and an expression that
/// never occurs (`0 9 31 2 *`) is refused. Series stored before these rules
/// (six or seven fields, the `cron` crate's seconds-first syntax) still
/// load through [`CronExpr::from_db`].
#[derive(Clone)]
pub struct CronExpr {
    source: String,
    schedule: cron::Schedule,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.source)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// The five fields: name and the range of their numbers.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
];

/// Checks the numbers of one field against its range, so an error says the
/// true range ("minute 60 is out of range 0-59"); names (`MON`, `JAN`) and
/// anything else are left to the `cron` crate.
fn check_field(name: &str, lo: u32, hi: u32, field: &str) -> Result<(), String> {
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n >= 1 => {}
                _ => {
                    return Err(format!(
                        "the step '/{step}' of the {name} must be a whole number from 1"
                    ));
                }
            }
        }
        for bound in base.split('-') {
            if !bound.is_empty() && bound.bytes().all(|b| b.is_ascii_digit()) {
                match bound.parse::<u32>() {
                    Ok(n) if (lo..=hi).contains(&n) => {}
                    _ => return Err(format!("{name} {bound} is out of range {lo}-{hi}")),
                }
            }
        }
    }
    Ok(())
}

/// Crontab weekday numbers (0/7 = Sunday, 1 = Monday) to names, so the
/// `cron` crate (1 = Sunday) cannot misread them.
fn crontab_weekdays_to_names(field: &str) -> Result<String, String> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let mut out = String::new();
    let mut num = String::new();
    let flush = |num: &mut String, out: &mut String| -> Result<(), String> {
        if num.is_empty() {
            return Ok(());
        }
        let n: usize = num.parse().map_err(|_| format!("bad weekday '{num}'"))?;
        let name = NAMES
            .get(n)
            .ok_or_else(|| format!("weekday {n} is out of range 0-7"))?;
        out.push_str(name);
        num.clear();
        Ok(())
    };
    let mut after_slash = false;
    for c in field.chars() {
        if c.is_ascii_digit() && !after_slash {
            num.push(c);
            continue;
        }
        flush(&mut num, &mut out)?;
        after_slash = c == '/' || (after_slash && c.is_ascii_digit());
        out.push(c);
    }
    flush(&mut num, &mut out)?;
    Ok(out)
}

/// Normalises spacing: the text that is stored and shown.
fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A fixed start for the laws checked on every expression (that it occurs,
/// how often): a leap year's first day, so 29 February is seen.
fn reference() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

impl FromStr for CronExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let source = normalise(s);
        let fields: Vec<&str> = source.split(' ').collect();
        let bad = |e: String| format!("'{source}' is not a cron expression: {e}");
        match fields.len() {
            5 => {}
            6 | 7 => {
                return Err(bad(format!(
                    "it has {} fields; a series takes five (minute hour day month weekday), \
                     e.g. '0 9 * * MON' for Mondays 09:00 (a field in front of the minute \
                     would be seconds, which a series does not have)",
                    fields.len()
                )));
            }
            _ => {
                return Err(bad("expected 5 fields (minute hour day month weekday), \
                     e.g. '0 9 * * MON' for Mondays 09:00"
                    .into()));
            }
        }
        for ((name, lo, hi), field) in FIELDS.iter().zip(&fields) {
            check_field(name, *lo, *hi, field).map_err(bad)?;
        }
        let dow = crontab_weekdays_to_names(fields[4]).map_err(bad)?;
        let for_crate = format!(
            "0 {} {} {} {} {}",
            fields[0], fields[1], fields[2], fields[3], dow
        );
        let schedule = cron::Schedule::from_str(&for_crate).map_err(|e| bad(e.to_string()))?;
        if schedule.after(&reference()).next().is_none() {
            return Err(format!(
                "'{source}' never occurs: no date has that day in that month"
            ));
        }
        Ok(CronExpr { source, schedule })
    }
}

impl CronExpr {
    /// Re-reads an expression stored in our own database. Series made
    /// before five fields were required may have six or seven (the `cron`
    /// crate's seconds-first syntax); they keep working.
    pub fn from_db(s: &str) -> Result<Self, String> {
        let source = normalise(s);
        match source.split(' ').count() {
            6 | 7 => cron::Schedule::from_str(&source)
                .map(|schedule| CronExpr { source, schedule })
                .map_err(|e| format!("stored series cron '{s}': {e}")),
            _ => source.parse(),
        }
    }

    /// The shortest time between two occurrences on the wall clock, from
    /// the first 1,000 (a day's times repeat on every day it fires, so the
    /// shortest gap shows within them); `None` when it occurs once at most.
    pub fn shortest_gap(&self) -> Option<Duration> {
        let first: Vec<DateTime<Utc>> = self.schedule.after(&reference()).take(1000).collect();
        first.windows(2).map(|w| w[1] - w[0]).min()
    }

    /// Refuses a series that would come more often than `min_gap` allows,
    /// saying how often it would come.
    pub fn check_gap(&self, min_gap: Duration) -> Result<(), String> {
        match self.shortest_gap() {
            Some(gap) if gap < min_gap => Err(format!(
                "'{}' comes every {} minutes at times; a series may come at most every {} minutes",
                self.source,
                gap.num_minutes(),
                min_gap.num_minutes()
            )),
            _ => Ok(()),
        }
    }

    /// The first `n` occurrences at or after `from`, however far ahead
    /// (not bound to the expansion horizon), searching in windows that
    /// double so an expression that fires often does not enumerate years.
    pub fn next(&self, tz: Tz, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut span = Duration::days(1);
        loop {
            let v = self.occurrences(tz, from, from + span);
            // 29 February on a given weekday comes once in 28 years; the
            // `cron` crate's calendar ends in 2100.
            if v.len() >= n || span > Duration::days(366 * 100) {
                return v.into_iter().take(n).collect();
            }
            span = span * 2;
        }
    }

    /// The occurrences in `[from, until)` as instants, with the wall-clock
    /// rule for DST: a local time in a gap moves forward, a repeated local
    /// time takes the first instance. Sorted, without duplicates.
    pub fn occurrences(
        &self,
        tz: Tz,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        for (_, t) in self.walls(tz, from, until) {
            if out.last() != Some(&t) {
                out.push(t);
            }
        }
        out
    }

    /// Each wall-clock occurrence whose resolved instant is in `[from,
    /// until)`, with that instant, in order.
    fn walls(
        &self,
        tz: Tz,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Iterator<Item = (NaiveDateTime, DateTime<Utc>)> + '_ {
        // A day of margin on both sides: resolving can move a time by the
        // length of a DST gap.
        let wall_from = Utc.from_utc_datetime(&(local(from, tz) - Duration::days(1)));
        let wall_until = local(until, tz) + Duration::days(1);
        self.schedule
            .after(&wall_from)
            .map(|w| w.naive_utc())
            .take_while(move |w| *w <= wall_until)
            .map(move |w| (w, resolve_local(w, tz)))
            .filter(move |(_, t)| from < until && *t >= from && *t < until)
    }
}

/// An occurrence whose wall-clock time the DST rule of
/// [`CronExpr::occurrences`] changes, for telling the person who makes the
/// series before it is made (issue 23: times changed without a word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstShift {
    /// `wall` does not exist that day (spring forward); the occurrence is
    /// at `becomes` (local) instead.
    Gap {
        wall: NaiveDateTime,
        becomes: NaiveDateTime,
    },
    /// `wall` happens twice that day (fall back); the occurrence is at the
    /// first of the two (summer time).
    Repeated { wall: NaiveDateTime },
}

impl CronExpr {
    /// The occurrences in `[from, until)` that a DST change moves or makes
    /// ambiguous, in order. Empty for a series on ordinary hours.
    pub fn dst_shifts(&self, tz: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DstShift> {
        self.walls(tz, from, until)
            .filter_map(|(wall, t)| match wall_clock::resolve(wall, tz, None) {
                WallClock::At(_) => None,
                WallClock::Gap { .. } => Some(DstShift::Gap {
                    wall,
                    becomes: local(t, tz),
                }),
                WallClock::Ambiguous { .. } => Some(DstShift::Repeated { wall }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_times::{at, utc};
    use chrono::{Datelike, NaiveDateTime, Weekday};
    use chrono_tz::Europe::Stockholm;

    fn locals(c: &CronExpr, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<NaiveDateTime> {
        c.occurrences(Stockholm, from, until)
            .into_iter()
            .map(|t| local(t, Stockholm))
            .collect()
    }

    #[test]
    fn a_series_in_the_night_hour_is_told_both_dst_days_and_one_in_the_day_none() {
        // Sundays 02:30 through 2027: the last Sunday of March has no 02:30,
        // the last of October has two.
        let c: CronExpr = "30 2 * * 0".parse().unwrap();
        let (from, until) = (utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0));
        assert_eq!(
            c.dst_shifts(Stockholm, from, until),
            vec![
                DstShift::Gap {
                    wall: at(2027, 3, 28, 2, 30),
                    becomes: at(2027, 3, 28, 3, 0),
                },
                DstShift::Repeated {
                    wall: at(2027, 10, 31, 2, 30),
                },
            ]
        );
        // What the shift says is what the series does.
        let made = locals(&c, utc(2027, 3, 27, 0, 0), utc(2027, 3, 29, 0, 0));
        assert_eq!(made, vec![at(2027, 3, 28, 3, 0)]);
        // Other hours and other zones' ordinary days: nothing to tell.
        for expr in ["0 9 * * 1-5", "30 1 * * 0", "0 3 * * 0", "15 23 * * *"] {
            let c: CronExpr = expr.parse().unwrap();
            assert_eq!(c.dst_shifts(Stockholm, from, until), vec![], "{expr}");
        }
        let c: CronExpr = "30 2 * * 0".parse().unwrap();
        assert_eq!(
            c.dst_shifts(chrono_tz::Asia::Tokyo, from, until),
            vec![],
            "no DST in Tokyo"
        );
    }

    #[test]
    fn crontab_weekday_numbers_mean_what_crontab_means() {
        let c: CronExpr = "0 9 * * 1".parse().unwrap();
        let got = locals(&c, utc(2026, 12, 1, 0, 0), utc(2026, 12, 31, 0, 0));
        assert_eq!(got.len(), 4);
        assert!(
            got.iter()
                .all(|t| t.weekday() == Weekday::Mon && t.time() == at(2026, 1, 1, 9, 0).time())
        );
        let weekdays: CronExpr = "30 8 * * 1-5".parse().unwrap();
        let got = locals(&weekdays, utc(2026, 12, 7, 0, 0), utc(2026, 12, 14, 0, 0));
        assert_eq!(got.len(), 5);
        let sunday: CronExpr = "0 10 * * 0".parse().unwrap();
        let sunday7: CronExpr = "0 10 * * 7".parse().unwrap();
        let a = locals(&sunday, utc(2026, 12, 1, 0, 0), utc(2026, 12, 31, 0, 0));
        assert!(a.iter().all(|t| t.weekday() == Weekday::Sun));
        assert_eq!(
            a,
            locals(&sunday7, utc(2026, 12, 1, 0, 0), utc(2026, 12, 31, 0, 0))
        );
        let every_other: CronExpr = "0 9 */2 * *".parse().unwrap();
        assert!(!locals(&every_other, utc(2026, 12, 1, 0, 0), utc(2026, 12, 8, 0, 0)).is_empty());
    }

    #[test]
    fn bad_expressions_say_what_to_write() {
        let e = "every monday".parse::<CronExpr>().unwrap_err();
        assert!(e.contains("0 9 * * MON"), "{e}");
        assert!("0 9 * * 8".parse::<CronExpr>().is_err());
        assert!("0 25 * * *".parse::<CronExpr>().is_err());
    }

    #[test]
    fn a_daily_0230_series_on_the_spring_dst_day_moves_forward_not_skipped() {
        let c: CronExpr = "30 2 * * *".parse().unwrap();
        let got = locals(&c, utc(2026, 3, 28, 0, 0), utc(2026, 3, 31, 0, 0));
        assert_eq!(
            got,
            [
                at(2026, 3, 28, 2, 30),
                at(2026, 3, 29, 3, 0),
                at(2026, 3, 30, 2, 30)
            ]
        );
    }

    #[test]
    fn a_daily_0230_series_on_the_autumn_dst_day_fires_once() {
        let c: CronExpr = "30 2 * * *".parse().unwrap();
        let got = c.occurrences(Stockholm, utc(2026, 10, 24, 0, 0), utc(2026, 10, 27, 0, 0));
        assert_eq!(
            got,
            [
                utc(2026, 10, 24, 0, 30),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 26, 1, 30)
            ]
        );
    }

    #[test]
    fn a_weekly_test_keeps_its_local_time_through_dst() {
        // Wednesdays 09:00 all year: always 09:00 local, twice a year the
        // UTC hour changes.
        let c: CronExpr = "0 9 * * WED".parse().unwrap();
        let got = c.occurrences(Stockholm, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0));
        assert_eq!(got.len(), 52);
        assert!(
            got.iter()
                .all(|t| local(*t, Stockholm).time() == at(2026, 1, 1, 9, 0).time())
        );
        assert!(got.iter().any(|t| t.format("%H").to_string() == "08"));
        assert!(got.iter().any(|t| t.format("%H").to_string() == "07"));
    }

    #[test]
    fn occurrences_are_half_open() {
        let c: CronExpr = "0 9 * * *".parse().unwrap();
        let nine = utc(2026, 12, 10, 8, 0);
        assert_eq!(
            c.occurrences(Stockholm, nine, nine + Duration::days(1)),
            [nine]
        );
        assert!(c.occurrences(Stockholm, nine, nine).is_empty());
    }

    #[test]
    fn six_or_seven_fields_are_refused_naming_the_seconds() {
        for six in ["0 0 9 * * MON", "0 0 9 * * MON 2027"] {
            let e = six.parse::<CronExpr>().unwrap_err();
            assert!(e.contains("five") && e.contains("seconds"), "{e}");
        }
    }

    #[test]
    fn range_errors_say_the_true_range() {
        for (cron, says) in [
            ("60 9 * * *", "minute 60 is out of range 0-59"),
            ("0 24 * * *", "hour 24 is out of range 0-23"),
            ("0 9 0 * *", "day of month 0 is out of range 1-31"),
            ("0 9 32 * *", "day of month 32 is out of range 1-31"),
            ("0 9 * 13 *", "month 13 is out of range 1-12"),
            ("0 9 * * 8", "weekday 8 is out of range 0-7"),
            ("0 9-25 * * *", "hour 25 is out of range 0-23"),
            ("0,75 9 * * *", "minute 75 is out of range 0-59"),
            ("*/0 9 * * *", "step '/0' of the minute"),
        ] {
            let e = cron.parse::<CronExpr>().unwrap_err();
            assert!(e.contains(says), "{cron}: {e}");
            assert!(!e.contains("less than"), "{cron}: {e}");
        }
        for ok in ["59 23 31 12 7", "0 0 1 1 0", "*/15 8-17 * JAN-MAR MON-FRI"] {
            ok.parse::<CronExpr>()
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn an_expression_that_never_occurs_is_refused() {
        for never in ["0 9 31 2 *", "0 9 30 2 *", "0 9 31 4 *", "0 9 31 6,9,11 *"] {
            let e = never.parse::<CronExpr>().unwrap_err();
            assert!(e.contains("never occurs"), "{never}: {e}");
        }
        // 29 February comes every four years: rare, not never.
        let leap: CronExpr = "0 9 29 2 *".parse().unwrap();
        let dates = leap.next(Stockholm, utc(2026, 12, 1, 0, 0), 10);
        assert_eq!(dates.len(), 10);
        assert_eq!(local(dates[0], Stockholm), at(2028, 2, 29, 9, 0));
        assert_eq!(local(dates[9], Stockholm), at(2064, 2, 29, 9, 0));
    }

    #[test]
    fn the_next_ten_dates_reach_past_any_horizon() {
        let yearly: CronExpr = "0 9 1 1 *".parse().unwrap();
        let dates = yearly.next(Stockholm, utc(2026, 12, 1, 0, 0), 10);
        assert_eq!(dates.len(), 10);
        assert_eq!(local(dates[9], Stockholm), at(2036, 1, 1, 9, 0));
    }

    #[test]
    fn gaps_count_the_step_over_midnight() {
        let gap = |c: &str| c.parse::<CronExpr>().unwrap().shortest_gap();
        assert_eq!(gap("* * * * *"), Some(Duration::minutes(1)));
        assert_eq!(gap("*/30 9 * * *"), Some(Duration::minutes(30)));
        assert_eq!(gap("0 * * * *"), Some(Duration::hours(1)));
        assert_eq!(gap("0 9 * * MON"), Some(Duration::days(7)));
        assert_eq!(gap("0,59 0,23 * * *"), Some(Duration::minutes(1)));
        let every_minute: CronExpr = "* * * * *".parse().unwrap();
        let e = every_minute.check_gap(Duration::hours(1)).unwrap_err();
        assert!(
            e.contains("every 1 minutes") && e.contains("every 60 minutes"),
            "{e}"
        );
        let hourly: CronExpr = "0 * * * *".parse().unwrap();
        assert!(hourly.check_gap(Duration::hours(1)).is_ok());
        assert!(hourly.check_gap(Duration::minutes(61)).is_err());
    }

    #[test]
    fn series_stored_with_six_fields_still_load() {
        let old = CronExpr::from_db("0 0 9 * * Wed").unwrap();
        let got = locals(&old, utc(2026, 12, 1, 0, 0), utc(2026, 12, 8, 0, 0));
        assert_eq!(got, [at(2026, 12, 2, 9, 0)]);
        assert!(CronExpr::from_db("0 9 * * 3").is_ok());
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        fn list(v: &std::collections::BTreeSet<u32>) -> String {
            v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        }

        proptest! {
            /// A daily series at the given minutes and hours: its shortest
            /// gap is the closest two times of day, or the step from the
            /// last time to the first the next day.
            #[test]
            fn the_shortest_gap_is_the_closest_pair_of_times_of_day(
                minutes in proptest::collection::btree_set(0u32..60, 1..4),
                hours in proptest::collection::btree_set(0u32..24, 1..4),
                min_gap in 1i64..180,
            ) {
                let c: CronExpr = format!("{} {} * * *", list(&minutes), list(&hours)).parse().unwrap();
                let mut times: Vec<i64> = hours
                    .iter()
                    .flat_map(|h| minutes.iter().map(move |m| i64::from(h * 60 + m)))
                    .collect();
                times.sort_unstable();
                let over_midnight = 1440 - (times[times.len() - 1] - times[0]);
                let expected = times
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .chain([over_midnight])
                    .min()
                    .unwrap();
                prop_assert_eq!(c.shortest_gap(), Some(Duration::minutes(expected)));
                prop_assert_eq!(c.check_gap(Duration::minutes(min_gap)).is_ok(), expected >= min_gap);
            }

            /// Any number outside a field's range is refused with that range.
            #[test]
            fn a_number_out_of_range_names_the_range(field in 0usize..5, extra in 1u32..100) {
                let (name, lo, hi) = FIELDS[field];
                let bad = if lo > 0 && extra % 2 == 0 { 0 } else { hi + extra };
                let mut parts = ["0", "9", "*", "*", "*"];
                let n = bad.to_string();
                parts[field] = &n;
                let e = parts.join(" ").parse::<CronExpr>().unwrap_err();
                let range = format!("{name} {bad} is out of range {lo}-{hi}");
                prop_assert!(e.contains(&range), "{}", e);
            }

            /// Whatever is typed, parsing answers without a panic, and what
            /// it accepts occurs.
            #[test]
            fn any_text_parses_or_is_refused(s in "[0-9*/,A-Z -]{0,30}") {
                if let Ok(c) = s.parse::<CronExpr>() {
                    prop_assert!(!c.next(Stockholm, utc(2026, 1, 1, 0, 0), 1).is_empty());
                }
            }
        }
    }
}
