//! A wall-clock time that a person typed, and what it means. Booking is
//! done on the participant's clock, and twice a year that clock is not a
//! plain line: in spring an hour does not exist (Europe/Stockholm
//! 2027-03-28 02:00-03:00), in autumn one happens twice (2027-10-31
//! 02:00-03:00, first summer time, then winter time). The reminder planner
//! resolves such times silently (`schedule::resolve_local`); a person
//! booking a meeting is asked instead: a time in the gap is refused with the
//! nearest times that exist, a repeated time is booked only once they have
//! said which of the two they mean.
//!
//! Also here: whether two appointments overlap, for the booking form's
//! warning.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// Which of the two instants of a repeated local time: the first (before
/// the clocks went back, summer time) or the second (winter time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    Earlier,
    Later,
}

impl Fold {
    pub fn as_str(self) -> &'static str {
        match self {
            Fold::Earlier => "earlier",
            Fold::Later => "later",
        }
    }
}

impl FromStr for Fold {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "earlier" => Ok(Fold::Earlier),
            "later" => Ok(Fold::Later),
            _ => Err(()),
        }
    }
}

/// What a typed local time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallClock {
    /// One instant: the time, or the repeated time with its fold chosen.
    At(DateTime<Utc>),
    /// The time does not exist that day (the clocks went forward over it).
    /// `before`: the last whole minute before the gap, `after`: the first
    /// minute after it, both local; `gap_start`/`gap_end` local too (02:00
    /// and 03:00).
    Gap {
        before: NaiveDateTime,
        after: NaiveDateTime,
        gap_start: NaiveDateTime,
        gap_end: NaiveDateTime,
    },
    /// The time happens twice and no fold was given: both instants.
    Ambiguous {
        earlier: DateTime<Utc>,
        later: DateTime<Utc>,
    },
}

/// The longest gap anywhere in the tz database is well under a day.
const SEARCH_MINUTES: i64 = 24 * 60;

/// Resolves a typed local time on `tz`'s clock: one instant when it exists
/// once (or twice and `fold` says which), else what the person must be told.
/// Seconds are kept as typed.
pub fn resolve(naive: NaiveDateTime, tz: Tz, fold: Option<Fold>) -> WallClock {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(d) => WallClock::At(d.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            let (earlier, later) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            let (earlier, later) = (earlier.min(later), earlier.max(later));
            match fold {
                Some(Fold::Earlier) => WallClock::At(earlier),
                Some(Fold::Later) => WallClock::At(later),
                None => WallClock::Ambiguous { earlier, later },
            }
        }
        LocalResult::None => {
            let exists =
                |t: NaiveDateTime| !matches!(tz.from_local_datetime(&t), LocalResult::None);
            let minute = naive - Duration::seconds(i64::from(chrono::Timelike::second(&naive)));
            // The gap's first and last minute, a minute at a time.
            let mut gap_start = minute;
            for _ in 0..SEARCH_MINUTES {
                let prev = gap_start - Duration::minutes(1);
                if exists(prev) {
                    break;
                }
                gap_start = prev;
            }
            let mut gap_end = minute + Duration::minutes(1);
            for _ in 0..SEARCH_MINUTES {
                if exists(gap_end) {
                    break;
                }
                gap_end += Duration::minutes(1);
            }
            WallClock::Gap {
                before: gap_start - Duration::minutes(1),
                after: gap_end,
                gap_start,
                gap_end,
            }
        }
    }
}

/// The zone's abbreviation at an instant ("CEST", "CET"), or its UTC
/// offset ("+03") where the database has no letters.
pub fn abbreviation(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Z").to_string()
}

/// Whether two appointments, each a start and a length in minutes, share
/// any minute. Touching ends (09:00-10:00 and 10:00-11:00) do not.
pub fn overlaps(a: DateTime<Utc>, a_min: i64, b: DateTime<Utc>, b_min: i64) -> bool {
    let a_end = a + Duration::minutes(a_min.max(1));
    let b_end = b + Duration::minutes(b_min.max(1));
    a < b_end && b < a_end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_times::{at, utc};
    use chrono::Timelike;
    use chrono_tz::Europe::Stockholm;
    use proptest::prelude::*;

    #[test]
    fn a_time_in_the_spring_gap_is_refused_with_the_nearest_times_that_exist() {
        let r = resolve(at(2027, 3, 28, 2, 30), Stockholm, None);
        assert_eq!(
            r,
            WallClock::Gap {
                before: at(2027, 3, 28, 1, 59),
                after: at(2027, 3, 28, 3, 0),
                gap_start: at(2027, 3, 28, 2, 0),
                gap_end: at(2027, 3, 28, 3, 0),
            }
        );
        // A fold does not make it exist.
        assert_eq!(
            resolve(at(2027, 3, 28, 2, 0), Stockholm, Some(Fold::Later)),
            r
        );
    }

    #[test]
    fn a_repeated_autumn_time_asks_which_and_takes_the_one_chosen() {
        let naive = at(2027, 10, 31, 2, 30);
        let summer = utc(2027, 10, 31, 0, 30);
        let winter = utc(2027, 10, 31, 1, 30);
        assert_eq!(
            resolve(naive, Stockholm, None),
            WallClock::Ambiguous {
                earlier: summer,
                later: winter
            }
        );
        assert_eq!(
            resolve(naive, Stockholm, Some(Fold::Earlier)),
            WallClock::At(summer)
        );
        assert_eq!(
            resolve(naive, Stockholm, Some(Fold::Later)),
            WallClock::At(winter)
        );
        assert_eq!(abbreviation(summer, Stockholm), "CEST");
        assert_eq!(abbreviation(winter, Stockholm), "CET");
    }

    #[test]
    fn an_ordinary_time_is_one_instant_whatever_the_fold() {
        let want = WallClock::At(utc(2027, 1, 12, 8, 0));
        assert_eq!(resolve(at(2027, 1, 12, 9, 0), Stockholm, None), want);
        assert_eq!(
            resolve(at(2027, 1, 12, 9, 0), Stockholm, Some(Fold::Later)),
            want
        );
    }

    #[test]
    fn folds_read_back() {
        for f in [Fold::Earlier, Fold::Later] {
            assert_eq!(f.as_str().parse::<Fold>(), Ok(f));
        }
        assert!("both".parse::<Fold>().is_err());
    }

    #[test]
    fn overlap_is_a_shared_minute() {
        let nine = utc(2027, 1, 12, 9, 0);
        assert!(overlaps(nine, 60, nine, 15));
        assert!(overlaps(nine, 60, nine + Duration::minutes(59), 30));
        assert!(!overlaps(nine, 60, nine + Duration::minutes(60), 30));
        assert!(overlaps(nine + Duration::minutes(30), 60, nine, 45));
        assert!(!overlaps(nine + Duration::minutes(45), 60, nine, 45));
    }

    fn arb_local() -> impl Strategy<Value = NaiveDateTime> {
        // 2026-2028, weighted towards the DST nights of 2027.
        prop_oneof![
            (0i64..(3 * 365 * 24 * 60)).prop_map(|m| at(2026, 1, 1, 0, 0) + Duration::minutes(m)),
            (0i64..(6 * 60)).prop_map(|m| at(2027, 3, 28, 0, 0) + Duration::minutes(m)),
            (0i64..(6 * 60)).prop_map(|m| at(2027, 10, 31, 0, 0) + Duration::minutes(m)),
        ]
    }

    fn arb_zone() -> impl Strategy<Value = Tz> {
        prop_oneof![
            Just(Stockholm),
            Just(chrono_tz::Europe::Helsinki),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Australia::Lord_Howe),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Every instant a typed time resolves to shows that same time on
        /// the wall clock; a gap's nearest times exist and lie either side.
        #[test]
        fn every_resolved_time_maps_back_to_the_wall_clock_time_typed(
            naive in arb_local(),
            tz in arb_zone(),
            fold in prop_oneof![Just(None), Just(Some(Fold::Earlier)), Just(Some(Fold::Later))],
        ) {
            let back = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
            match resolve(naive, tz, fold) {
                WallClock::At(t) => prop_assert_eq!(back(t), naive),
                WallClock::Ambiguous { earlier, later } => {
                    prop_assert!(fold.is_none());
                    prop_assert!(earlier < later);
                    prop_assert_eq!(back(earlier), naive);
                    prop_assert_eq!(back(later), naive);
                }
                WallClock::Gap { before, after, gap_start, gap_end } => {
                    prop_assert!(before < naive && naive < after);
                    prop_assert!(gap_start <= naive && naive < gap_end);
                    for t in [before, after] {
                        let exists = !matches!(resolve(t, tz, fold), WallClock::Gap { .. });
                        prop_assert!(exists, "{} is in a gap too", t);
                    }
                    prop_assert_eq!(before.second(), 0);
                }
            }
        }
    }
}
