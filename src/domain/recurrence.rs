//! Recurring appointments from a cron expression in a time zone.
//!
//! The `cron` crate parses and enumerates, but across a DST change it skips
//! or doubles local occurrences. So we enumerate in UTC *as if it were the
//! local wall clock* (UTC has no DST, so every wall-clock occurrence comes
//! exactly once) and resolve each local time ourselves with the rule in
//! [`crate::domain::schedule::resolve_local`].

use crate::domain::schedule::{local, resolve_local};
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// A parsed cron expression. Accepts the classic five fields
/// (`min hour day month weekday`, weekdays 0-7 with 0 and 7 = Sunday and
/// 1 = Monday, as in crontab) or the `cron` crate's six/seven fields
/// (seconds first, weekdays 1 = Sunday).
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

impl FromStr for CronExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let source = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let fields: Vec<&str> = source.split(' ').collect();
        let for_crate = match fields.len() {
            5 => {
                let dow = crontab_weekdays_to_names(fields[4])
                    .map_err(|e| format!("'{source}' is not a cron expression: {e}"))?;
                format!(
                    "0 {} {} {} {} {}",
                    fields[0], fields[1], fields[2], fields[3], dow
                )
            }
            6 | 7 => source.clone(),
            _ => {
                return Err(format!(
                    "'{source}' is not a cron expression: expected 5 fields \
                     (minute hour day month weekday), e.g. '0 9 * * MON' for Mondays 09:00"
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&for_crate)
            .map_err(|e| format!("'{source}' is not a cron expression: {e}"))?;
        Ok(CronExpr { source, schedule })
    }
}

impl CronExpr {
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
        if until <= from {
            return out;
        }
        // A day of margin on both sides: resolving can move a time by the
        // length of a DST gap.
        let wall_from = Utc.from_utc_datetime(&(local(from, tz) - Duration::days(1)));
        let wall_until = local(until, tz) + Duration::days(1);
        for wall in self.schedule.after(&wall_from) {
            let wall = wall.naive_utc();
            if wall > wall_until {
                break;
            }
            let t = resolve_local(wall, tz);
            if t >= from && t < until && out.last() != Some(&t) {
                out.push(t);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, NaiveDateTime, Weekday};
    use chrono_tz::Europe::Stockholm;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(&at(y, mo, d, h, mi))
    }
    fn locals(c: &CronExpr, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<NaiveDateTime> {
        c.occurrences(Stockholm, from, until)
            .into_iter()
            .map(|t| local(t, Stockholm))
            .collect()
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
}
