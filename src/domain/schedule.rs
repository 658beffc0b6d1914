//! When reminders go out. All of it on the participant's wall clock:
//!
//! * an offset is subtracted from the local start time (24h before Tuesday
//!   09:00 is Monday 09:00, whatever DST did in between);
//! * a local time that does not exist (spring forward) moves forward to the
//!   first minute that exists; a local time that happens twice (fall back)
//!   takes the first of the two;
//! * a reminder that would fall in quiet hours moves to the last allowed
//!   minute before them, unless that is more than 18 hours early; then to
//!   the first minute after them, but never to or after the start (then the
//!   early minute is used after all);
//! * a reminder already in the past when the appointment is planned is sent
//!   at once, once, and only if the appointment is at least an hour away.

use crate::domain::Span;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// How far before quiet hours a reminder may be pulled before we prefer the
/// morning after instead.
pub const MAX_PULL_FORWARD: Duration = Duration::hours(18);
/// A reminder whose time has passed at planning is only sent at once when the
/// appointment is at least this far away.
pub const MIN_LEAD_FOR_IMMEDIATE: Duration = Duration::hours(1);

/// Resolves a local wall-clock time to an instant: a time in a DST gap moves
/// forward to the first minute that exists, a time that happens twice takes
/// the first instance.
pub fn resolve_local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let mut t = naive;
    // A gap is at most a few hours long anywhere in the tz database.
    for _ in 0..=(6 * 60) {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(d) => return d.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => {
                // Move to the next whole minute.
                t = t.with_second(0).unwrap_or(t) + Duration::minutes(1);
            }
        }
    }
    // Unreachable with real zones; fall back to reading the time as UTC.
    Utc.from_utc_datetime(&naive)
}

/// Like [`resolve_local`] but a time in a gap moves *back* to the last instant
/// before the gap. Used for "the last allowed minute before quiet hours",
/// which must not be pushed into them.
fn resolve_local_not_after(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(d) => d.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => resolve_local(naive, tz) - Duration::minutes(1),
    }
}

/// The local time of an instant in a zone.
pub fn local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// A daily window, in local time, when nothing is sent. `21:00-08:00` wraps
/// midnight; equal ends mean no quiet hours at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

impl QuietHours {
    pub fn new(start: NaiveTime, end: NaiveTime) -> Self {
        let trunc = |t: NaiveTime| NaiveTime::from_hms_opt(t.hour(), t.minute(), 0).unwrap_or(t);
        QuietHours {
            start: trunc(start),
            end: trunc(end),
        }
    }

    pub fn from_minutes(start: u32, end: u32) -> Result<Self, String> {
        let t = |m: u32| {
            NaiveTime::from_hms_opt(m / 60, m % 60, 0)
                .ok_or_else(|| format!("{m} is not a minute of the day"))
        };
        Ok(QuietHours::new(t(start)?, t(end)?))
    }

    pub fn none() -> Self {
        QuietHours::new(NaiveTime::MIN, NaiveTime::MIN)
    }

    pub fn start_minute(self) -> u32 {
        self.start.hour() * 60 + self.start.minute()
    }

    pub fn end_minute(self) -> u32 {
        self.end.hour() * 60 + self.end.minute()
    }

    /// Is a local time of day inside the window?
    pub fn contains(self, t: NaiveTime) -> bool {
        use std::cmp::Ordering::*;
        match self.start.cmp(&self.end) {
            Equal => false,
            Less => t >= self.start && t < self.end,
            Greater => t >= self.start || t < self.end,
        }
    }

    /// For a local time inside the window: when this quiet period began
    /// (local) and when it ends (local).
    fn period_around(self, t: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
        let date = t.date();
        let wraps = self.start > self.end;
        let begin_date = if wraps && t.time() < self.end {
            date.pred_opt().unwrap_or(date)
        } else {
            date
        };
        let end_date = if wraps && t.time() >= self.start {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        (begin_date.and_time(self.start), end_date.and_time(self.end))
    }

    /// The first instant at or after `t` that is outside quiet hours.
    pub fn next_allowed(self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let l = local(t, tz);
        if !self.contains(l.time()) {
            return t;
        }
        let (_, end) = self.period_around(l);
        let mut candidate = resolve_local(end, tz).max(t);
        // Around a DST change the end of the window can resolve into the
        // window again (or before `t`); then walk forward a minute at a time.
        // Two days of minutes bound it; every real window ends sooner.
        for _ in 0..(2 * 24 * 60) {
            if !self.contains(local(candidate, tz).time()) {
                return candidate;
            }
            candidate += Duration::minutes(1);
            candidate = candidate.with_second(0).unwrap_or(candidate);
        }
        candidate
    }
}

impl Default for QuietHours {
    /// 21:00-08:00.
    fn default() -> Self {
        QuietHours::from_minutes(21 * 60, 8 * 60).expect("valid default")
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl FromStr for QuietHours {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a quiet-hours window; write e.g. 21:00-08:00");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let p = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        Ok(QuietHours::new(p(a)?, p(b)?))
    }
}

impl Serialize for QuietHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The night no message marked urgent may break: 23:00-06:00 local.
pub const URGENT_NIGHT_START_MIN: u32 = 23 * 60;
pub const URGENT_NIGHT_END_MIN: u32 = 6 * 60;

/// The window a message may not be sent in. Normally the unit's quiet
/// hours; a message staff marked urgent (a short-notice broadcast:
/// "Kontoret är stängt idag") may break them, but never the night
/// 23:00-06:00, whatever the unit's settings.
pub fn send_window(unit_quiet: QuietHours, urgent: bool) -> QuietHours {
    if urgent {
        QuietHours::from_minutes(URGENT_NIGHT_START_MIN, URGENT_NIGHT_END_MIN)
            .expect("a valid window")
    } else {
        unit_quiet
    }
}

/// Moves a send time out of quiet hours by the rule above. `None` when no
/// allowed time before the start exists.
pub fn avoid_quiet_hours(
    due: DateTime<Utc>,
    start: DateTime<Utc>,
    tz: Tz,
    quiet: QuietHours,
) -> Option<DateTime<Utc>> {
    let l = local(due, tz);
    if !quiet.contains(l.time()) {
        return (due < start).then_some(due);
    }
    let (begin, _) = quiet.period_around(l);
    let before = resolve_local_not_after(begin - Duration::minutes(1), tz);
    let after = quiet.next_allowed(due, tz);
    let before_ok = before < due && !quiet.contains(local(before, tz).time());
    if before_ok && due - before <= MAX_PULL_FORWARD {
        return Some(before);
    }
    if after < start {
        return Some(after);
    }
    before_ok.then_some(before)
}

/// Parses a start time as people and systems write it: RFC 3339 with an
/// offset (`2026-12-10T09:00:00+01:00`), or a local wall-clock time
/// (`2026-12-10T09:00`, `2026-12-10 09:00`) in `tz`, resolved by the DST
/// rule of [`resolve_local`].
pub fn parse_start(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .map(|n| resolve_local(n, tz))
        .ok_or_else(|| {
            format!("'{t}' is not a time; write 2026-12-10T09:00 (local time) or RFC 3339")
        })
}

/// The offsets a participant gets at their reminder intensity: all of
/// them, only the longest (the day before), or none.
pub fn taper(intensity: crate::domain::Intensity, offsets: &[Span]) -> Vec<Span> {
    use crate::domain::Intensity;
    match intensity {
        Intensity::All => offsets.to_vec(),
        Intensity::DayBefore => offsets.iter().max().copied().into_iter().collect(),
        Intensity::None => Vec::new(),
    }
}

/// One reminder to plan: which offset it stands for, and when it goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlannedReminder {
    pub offset: Span,
    pub due: DateTime<Utc>,
    /// Its time had passed at planning; it goes out at once instead.
    pub immediate: bool,
}

/// Plans the reminders of one appointment. `offsets` may come in any order;
/// the result is sorted by due time and holds each offset at most once.
///
/// Laws (property-tested): no due time is inside quiet hours, none is at or
/// after the start, none is before `now`.
pub fn plan_reminders(
    start: DateTime<Utc>,
    tz: Tz,
    offsets: &[Span],
    quiet: QuietHours,
    now: DateTime<Utc>,
) -> Vec<PlannedReminder> {
    if start <= now {
        return Vec::new();
    }
    let start_local = local(start, tz);
    let mut planned = Vec::new();
    // The shortest offset whose time has already passed: sent at once.
    let mut passed: Option<Span> = None;
    let offsets: std::collections::BTreeSet<Span> = offsets.iter().copied().collect();
    for offset in offsets {
        let wall = start_local - offset.to_chrono();
        let mut resolved = resolve_local(wall, tz);
        if resolved >= start {
            // The wall time is in a spring-forward gap and the appointment
            // starts right after it (03:00 on the night clocks go forward,
            // a reminder 30 minutes before): the first minute after the
            // gap is the start itself, so the reminder goes at the last
            // minute before the gap instead of not at all.
            resolved = resolve_local_not_after(wall, tz);
        }
        let Some(due) = avoid_quiet_hours(resolved, start, tz, quiet) else {
            continue;
        };
        if due < now {
            passed = Some(match passed {
                Some(p) if p < offset => p,
                _ => offset,
            });
        } else {
            planned.push(PlannedReminder {
                offset,
                due,
                immediate: false,
            });
        }
    }
    if let Some(offset) = passed
        && start - now >= MIN_LEAD_FOR_IMMEDIATE
    {
        let due = quiet.next_allowed(now, tz);
        if due < start && !planned.iter().any(|p| p.due == due) {
            planned.push(PlannedReminder {
                offset,
                due,
                immediate: true,
            });
        }
    }
    planned.sort_by_key(|p| (p.due, std::cmp::Reverse(p.offset)));
    planned
}

/// When a reply to a reminder is due: `deadline` before the start, or `None`
/// when the rule asks for no reply.
pub fn reply_deadline(start: DateTime<Utc>, deadline: Option<Span>) -> Option<DateTime<Utc>> {
    deadline.map(|d| start - d.to_chrono())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_times::{at, utc};
    use chrono_tz::Europe::Stockholm;
    use proptest::prelude::*;

    fn sthlm(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        resolve_local(at(y, mo, d, h, mi), Stockholm)
    }
    fn spans(s: &str) -> Vec<Span> {
        Span::parse_list(s).unwrap()
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward_to_the_first_minute_that_exists() {
        // 2026-03-29 02:30 does not exist in Stockholm: 02:00 -> 03:00.
        assert_eq!(
            resolve_local(at(2026, 3, 29, 2, 30), Stockholm),
            utc(2026, 3, 29, 1, 0)
        );
        assert_eq!(
            local(utc(2026, 3, 29, 1, 0), Stockholm),
            at(2026, 3, 29, 3, 0)
        );
    }

    #[test]
    fn a_time_that_happens_twice_in_autumn_takes_the_first() {
        // 2026-10-25 02:30 happens at 00:30 UTC (CEST) and 01:30 UTC (CET).
        assert_eq!(
            resolve_local(at(2026, 10, 25, 2, 30), Stockholm),
            utc(2026, 10, 25, 0, 30)
        );
    }

    #[test]
    fn day_before_offsets_keep_the_wall_clock_across_both_dst_days() {
        let q = QuietHours::default();
        let now = utc(2026, 3, 1, 0, 0);
        // Sunday 29 March 11:00 CEST (the clocks went forward that night);
        // 24h before on the wall clock is Saturday 11:00 CET, only 23 real
        // hours earlier.
        let start = sthlm(2026, 3, 29, 11, 0);
        let plan = plan_reminders(start, Stockholm, &spans("24h,2h"), q, now);
        let locals: Vec<_> = plan.iter().map(|p| local(p.due, Stockholm)).collect();
        assert_eq!(locals, [at(2026, 3, 28, 11, 0), at(2026, 3, 29, 9, 0)]);
        assert_eq!(start - plan[0].due, Duration::hours(23));

        // Sunday 25 October 11:00 CET (the clocks went back that night);
        // 24h before on the wall clock is 25 real hours earlier.
        let now = utc(2026, 10, 1, 0, 0);
        let start = sthlm(2026, 10, 25, 11, 0);
        let plan = plan_reminders(start, Stockholm, &spans("24h,2h"), q, now);
        let locals: Vec<_> = plan.iter().map(|p| local(p.due, Stockholm)).collect();
        assert_eq!(locals, [at(2026, 10, 24, 11, 0), at(2026, 10, 25, 9, 0)]);
        assert_eq!(start - plan[0].due, Duration::hours(25));
    }

    #[test]
    fn offsets_landing_on_the_dst_night_follow_the_gap_and_repeat_rules() {
        let none = QuietHours::none();
        // Spring: 04:30 minus 2h on the wall clock is 02:30, which does not
        // exist: it moves to 03:00, half an hour before the start.
        let start = sthlm(2026, 3, 29, 4, 30);
        let plan = plan_reminders(start, Stockholm, &spans("2h"), none, utc(2026, 3, 1, 0, 0));
        assert_eq!(local(plan[0].due, Stockholm), at(2026, 3, 29, 3, 0));
        assert_eq!(start - plan[0].due, Duration::minutes(90));
        // Autumn: 03:30 minus 1h is 02:30, which happens twice: the first.
        let start = sthlm(2026, 10, 25, 3, 30);
        let plan = plan_reminders(start, Stockholm, &spans("1h"), none, utc(2026, 10, 1, 0, 0));
        assert_eq!(plan[0].due, utc(2026, 10, 25, 0, 30));
    }

    #[test]
    fn a_reminder_in_quiet_hours_moves_to_the_evening_before() {
        let q = QuietHours::default();
        // 08:30 appointment, 2h before = 06:30: quiet; 20:59 the evening
        // before is 9.5 h earlier, within 18 h.
        let start = sthlm(2026, 12, 10, 8, 30);
        let plan = plan_reminders(start, Stockholm, &spans("2h"), q, utc(2026, 12, 1, 0, 0));
        assert_eq!(local(plan[0].due, Stockholm), at(2026, 12, 9, 20, 59));
    }

    #[test]
    fn a_pull_forward_of_more_than_18_hours_goes_to_the_morning_instead() {
        // Quiet 12:00-10:00 (a unit that only sends mid-morning). A reminder
        // at 09:00 (quiet) would be pulled to 11:59 the day before: 21 h early.
        let q: QuietHours = "12:00-10:00".parse().unwrap();
        let start = sthlm(2026, 12, 10, 11, 0);
        let plan = plan_reminders(start, Stockholm, &spans("2h"), q, utc(2026, 12, 1, 0, 0));
        assert_eq!(local(plan[0].due, Stockholm), at(2026, 12, 10, 10, 0));
        // ...but never after the start: then the early minute it is.
        let start = sthlm(2026, 12, 10, 10, 0);
        let plan = plan_reminders(start, Stockholm, &spans("1h"), q, utc(2026, 12, 1, 0, 0));
        assert_eq!(local(plan[0].due, Stockholm), at(2026, 12, 9, 11, 59));
    }

    #[test]
    fn past_reminders_at_creation_are_sent_once_at_once_if_an_hour_remains() {
        let q = QuietHours::default();
        let now = sthlm(2026, 12, 10, 10, 0);
        // Start 11:30: 24h and 2h have passed; one goes out now.
        let plan = plan_reminders(
            sthlm(2026, 12, 10, 11, 30),
            Stockholm,
            &spans("24h,2h"),
            q,
            now,
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].due, now);
        assert_eq!(plan[0].offset.to_string(), "2h");
        assert!(plan[0].immediate, "a catch-up reminder is marked as such");
        // Start 12:30: 24h has passed (now), 2h is still ahead (10:30).
        let plan = plan_reminders(
            sthlm(2026, 12, 10, 12, 30),
            Stockholm,
            &spans("24h,2h"),
            q,
            now,
        );
        let locals: Vec<_> = plan.iter().map(|p| local(p.due, Stockholm)).collect();
        assert_eq!(locals, [at(2026, 12, 10, 10, 0), at(2026, 12, 10, 10, 30)]);
        // Start 10:45: less than an hour away; nothing.
        let plan = plan_reminders(
            sthlm(2026, 12, 10, 10, 45),
            Stockholm,
            &spans("24h,2h"),
            q,
            now,
        );
        assert!(plan.is_empty());
        // Start tomorrow 09:00: 24h passed (at once), 2h planned at 07:00,
        // which is quiet and moves to 20:59 tonight.
        let plan = plan_reminders(
            sthlm(2026, 12, 11, 9, 0),
            Stockholm,
            &spans("24h,2h"),
            q,
            now,
        );
        let locals: Vec<_> = plan.iter().map(|p| local(p.due, Stockholm)).collect();
        assert_eq!(locals, [at(2026, 12, 10, 10, 0), at(2026, 12, 10, 20, 59)]);
        // Already started: nothing.
        assert!(plan_reminders(now, Stockholm, &spans("2h"), q, now).is_empty());
    }

    #[test]
    fn an_immediate_reminder_created_at_night_waits_for_the_morning() {
        let q = QuietHours::default();
        let now = sthlm(2026, 12, 9, 23, 0);
        let plan = plan_reminders(sthlm(2026, 12, 10, 13, 0), Stockholm, &spans("24h"), q, now);
        assert_eq!(plan.len(), 1);
        assert_eq!(local(plan[0].due, Stockholm), at(2026, 12, 10, 8, 0));
    }

    #[test]
    fn start_times_parse_as_local_or_with_an_offset() {
        assert_eq!(
            parse_start("2026-12-10T09:00", Stockholm),
            Ok(utc(2026, 12, 10, 8, 0))
        );
        assert_eq!(
            parse_start("2026-12-10 09:00", Stockholm),
            Ok(utc(2026, 12, 10, 8, 0))
        );
        assert_eq!(
            parse_start("2026-12-10T09:00:00Z", Stockholm),
            Ok(utc(2026, 12, 10, 9, 0))
        );
        assert_eq!(
            parse_start("2026-03-29T02:30", Stockholm),
            Ok(utc(2026, 3, 29, 1, 0))
        );
        assert!(
            parse_start("tomorrow", Stockholm)
                .unwrap_err()
                .contains("2026-12-10T09:00")
        );
    }

    #[test]
    fn tapering_keeps_all_the_longest_or_nothing() {
        use crate::domain::Intensity;
        let o = spans("24h,2h,30m");
        assert_eq!(taper(Intensity::All, &o), o);
        assert_eq!(taper(Intensity::DayBefore, &o), spans("24h"));
        assert!(taper(Intensity::None, &o).is_empty());
    }

    #[test]
    fn quiet_hours_windows() {
        let q = QuietHours::default();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(q.contains(t(21, 0)) && q.contains(t(3, 0)) && q.contains(t(7, 59)));
        assert!(!q.contains(t(8, 0)) && !q.contains(t(20, 59)) && !q.contains(t(12, 0)));
        let day: QuietHours = "12:00-13:00".parse().unwrap();
        assert!(day.contains(t(12, 30)) && !day.contains(t(13, 0)));
        assert!(!QuietHours::none().contains(t(3, 0)));
        assert_eq!(q.to_string(), "21:00-08:00");
        assert!("21-08".parse::<QuietHours>().is_err());
    }

    fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        // All of 2026 and 2027, weighted towards both DST nights.
        prop_oneof![
            (0i64..(2 * 365 * 24 * 60)).prop_map(|m| utc(2026, 1, 1, 0, 0) + Duration::minutes(m)),
            (0i64..(3 * 24 * 60)).prop_map(|m| utc(2026, 3, 27, 12, 0) + Duration::minutes(m)),
            (0i64..(3 * 24 * 60)).prop_map(|m| utc(2026, 10, 23, 12, 0) + Duration::minutes(m)),
        ]
    }

    fn arb_quiet() -> impl Strategy<Value = QuietHours> {
        (0u32..1440, 0u32..1440).prop_map(|(a, b)| QuietHours::from_minutes(a, b).unwrap())
    }

    fn arb_offsets() -> impl Strategy<Value = Vec<Span>> {
        proptest::collection::vec(1u32..(4 * 1440), 1..4)
            .prop_map(|v| v.into_iter().map(|m| Span::minutes(m).unwrap()).collect())
    }

    /// Found by the property test below: an appointment at 03:00 on the
    /// night clocks go forward (02:00 → 03:00), reminded a minute before.
    /// 02:59 does not exist; the first minute after the gap is the start
    /// itself, so the reminder goes at 01:59, the last minute before it.
    #[test]
    fn a_reminder_whose_wall_time_falls_in_the_gap_just_before_the_start_is_kept() {
        let start = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap(); // 03:00 CEST
        let one = [Span::minutes(1).unwrap()];
        let plan = plan_reminders(
            start,
            Stockholm,
            &one,
            QuietHours::none(),
            start - Duration::days(30),
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].due,
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap()
        ); // 01:59 CET
        // Thirty minutes before: the same.
        let thirty = [Span::minutes(30).unwrap()];
        let plan = plan_reminders(
            start,
            Stockholm,
            &thirty,
            QuietHours::none(),
            start - Duration::days(30),
        );
        assert_eq!(
            plan[0].due,
            Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn no_reminder_is_planned_in_quiet_hours_after_the_start_or_in_the_past(
            start in arb_instant(),
            lead in 0i64..(5 * 1440),
            offsets in arb_offsets(),
            quiet in arb_quiet(),
        ) {
            let now = start - Duration::minutes(lead);
            let plan = plan_reminders(start, Stockholm, &offsets, quiet, now);
            for p in &plan {
                prop_assert!(!quiet.contains(local(p.due, Stockholm).time()),
                    "{:?} is in quiet hours {}", local(p.due, Stockholm), quiet);
                prop_assert!(p.due < start, "{} not before start {}", p.due, start);
                prop_assert!(p.due >= now, "{} before now {}", p.due, now);
                prop_assert!(offsets.contains(&p.offset));
            }
            let mut seen: Vec<Span> = plan.iter().map(|p| p.offset).collect();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), plan.len(), "an offset planned twice");
        }

        #[test]
        fn without_quiet_hours_every_future_offset_is_planned_on_the_wall_clock(
            start in arb_instant(),
            offsets in arb_offsets(),
        ) {
            let now = start - Duration::days(30);
            let plan = plan_reminders(start, Stockholm, &offsets, QuietHours::none(), now);
            prop_assert_eq!(plan.len(), offsets.iter().collect::<std::collections::BTreeSet<_>>().len());
            for p in &plan {
                let wall = local(start, Stockholm) - p.offset.to_chrono();
                // Either exactly the wall time, or (DST gap) the first minute
                // after it, or, when that minute is the start itself, the
                // last minute before the gap.
                let got = local(p.due, Stockholm);
                prop_assert!(p.due < start);
                if got < wall {
                    prop_assert!(resolve_local(wall, Stockholm) >= start, "{} vs {}", got, wall);
                    prop_assert!(wall - got <= Duration::hours(1), "{} vs {}", got, wall);
                } else {
                    prop_assert!(got - wall <= Duration::hours(1), "{} vs {}", got, wall);
                }
            }
        }

        #[test]
        fn next_allowed_is_never_quiet_and_never_earlier(
            t in arb_instant(), quiet in arb_quiet()
        ) {
            let n = quiet.next_allowed(t, Stockholm);
            prop_assert!(n >= t);
            prop_assert!(!quiet.contains(local(n, Stockholm).time()));
        }
    }
}
