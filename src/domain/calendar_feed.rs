//! Calendar feeds (iCalendar, RFC 5545): what a lots's subscription to
//! their caseload, or a coordinator's to the unit's group activities,
//! shows in Outlook or a phone's calendar, and how the text is written.
//!
//! Pure: the store reads the rows, the engine decides who may see them,
//! this module writes the text. A feed names people by first name and
//! appointments by kind only; notes, reasons, places and replies never
//! reach it (the engine builds the [`FeedEvent`]s from those fields alone).
//!
//! Times are written in the unit's zone (`DTSTART;TZID=Europe/Stockholm:…`)
//! with a `VTIMEZONE` made from the zone's own transitions ([`zone_rules`]),
//! so a calendar that knows nothing of IANA names still shows the right
//! hour across a DST change. The writing itself (escaping, CRLF, folding)
//! is the `ics` crate's.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use ics::properties::{
    CalScale, Class, Description, DtEnd, DtStart, Method, RRule, Sequence, Status, Summary, Transp,
    TzName,
};
use ics::{Daylight, Event, ICalendar, Standard, TimeZone as IcsZone, escape_text};

/// Which calendar a feed is: a person's own caseload, or the unit's group
/// activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedScope {
    /// The appointments of the participants the person is lots for.
    Caseload,
    /// The group activities of the person's unit (coordinators).
    UnitActivities,
}

impl FeedScope {
    pub const ALL: [FeedScope; 2] = [FeedScope::Caseload, FeedScope::UnitActivities];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedScope::Caseload => "caseload",
            FeedScope::UnitActivities => "unit_activities",
        }
    }

    pub fn parse(s: &str) -> Option<FeedScope> {
        FeedScope::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl FeedScope {
    /// Who may subscribe to which feed: their own caseload for a lots or a
    /// coordinator (who may be lots too), the unit's group activities for a
    /// coordinator or an admin of a unit. Assistants, who see times but
    /// not case records, and reviewers get neither. Checked again at
    /// every fetch, so a changed role ends the feed.
    pub fn allowed(self, role: crate::domain::Role, has_unit: bool) -> bool {
        use crate::domain::Role;
        match self {
            FeedScope::Caseload => matches!(role, Role::Lots | Role::Coordinator),
            FeedScope::UnitActivities => {
                has_unit && matches!(role, Role::Coordinator | Role::Admin)
            }
        }
    }
}

impl std::str::FromStr for FeedScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FeedScope::parse(s).ok_or_else(|| format!("unknown calendar feed scope {s:?}"))
    }
}

/// How far back and ahead a feed reaches: a calendar keeps what it has
/// shown, so the past month is enough, and half a year ahead covers
/// every series' expansion horizon.
pub const DAYS_BACK: i64 = 30;
pub const DAYS_AHEAD: i64 = 183;

/// One event of a feed, already reduced to what may leave paminn.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Stable across fetches, so a moved appointment moves in the calendar
    /// instead of appearing twice.
    pub uid: String,
    /// Raised when the appointment changes (its plan version).
    pub sequence: i64,
    pub starts_at: DateTime<Utc>,
    pub duration_min: i64,
    /// "Ali – möte": a first name and a kind, or a group's name.
    pub summary: String,
    /// A line without names (e.g. "Gruppaktivitet · 6 deltagare").
    pub description: Option<String>,
}

/// A whole feed.
#[derive(Debug, Clone)]
pub struct Feed<'a> {
    /// The calendar's name in the subscriber's list ("paminn – mina deltagare").
    pub name: &'a str,
    pub tz: Tz,
    /// When the feed was written (every event's DTSTAMP).
    pub stamp: DateTime<Utc>,
    /// The span the events were read from; the zone's rules cover it.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub events: &'a [FeedEvent],
}

/// One change of a zone's offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: DateTime<Utc>,
    /// Seconds east of UTC before and after.
    pub from: i32,
    pub to: i32,
    /// The abbreviation after the change ("CEST").
    pub name: String,
}

impl Transition {
    /// The wall-clock time of the change, read in the offset before it
    /// (RFC 5545's `DTSTART` of an observance).
    pub fn local_onset(&self) -> NaiveDateTime {
        self.at.naive_utc() + Duration::seconds(i64::from(self.from))
    }

    /// Towards summer time: written as `DAYLIGHT`.
    pub fn is_daylight(&self) -> bool {
        self.to > self.from
    }
}

fn offset_at(tz: Tz, at: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Every offset change of `tz` in `[from, to)`, found by walking the span a
/// day at a time and narrowing each change down to the second.
/// chrono-tz does not expose its transition table, hence the search.
pub fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut t = from;
    let mut off = offset_at(tz, t);
    while t < to {
        let next = (t + Duration::days(1)).min(to);
        let next_off = offset_at(tz, next);
        if next_off != off {
            // The change lies in (t, next]: narrow down to the whole second
            // (zones change on whole seconds; whole minutes in practice).
            let (mut lo, mut hi) = (t.timestamp(), next.timestamp() + 1);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let at = DateTime::from_timestamp(mid, 0).unwrap_or(t);
                if offset_at(tz, at) == off {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let at = DateTime::from_timestamp(hi, 0).unwrap_or(next);
            out.push(Transition {
                at,
                from: off,
                to: offset_at(tz, at),
                name: crate::domain::wall_clock::abbreviation(at, tz),
            });
            off = offset_at(tz, at);
        }
        t = next;
    }
    out
}

/// A yearly rule like `FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU`: month, weekday,
/// the weekday's ordinal in the month (`-1` = last) and the wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearlyRule {
    pub month: u32,
    pub weekday: chrono::Weekday,
    pub ordinal: i32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl YearlyRule {
    /// The rule a change follows, taking "last" over "fourth" when the
    /// weekday is the month's last (that is how zones are defined).
    pub fn of(t: &Transition) -> YearlyRule {
        let local = t.local_onset();
        let d = local.date();
        let days_in_month = days_in_month(d.year(), d.month());
        let ordinal = if d.day() + 7 > days_in_month {
            -1
        } else {
            ((d.day() - 1) / 7 + 1) as i32
        };
        YearlyRule {
            month: d.month(),
            weekday: d.weekday(),
            ordinal,
            hour: local.hour(),
            minute: local.minute(),
            second: local.second(),
        }
    }

    /// The rule's wall time in `year`.
    pub fn in_year(&self, year: i32) -> Option<NaiveDateTime> {
        let date = if self.ordinal < 0 {
            let last =
                chrono::NaiveDate::from_ymd_opt(year, self.month, days_in_month(year, self.month))?;
            let back = (7 + last.weekday().num_days_from_monday() as i64
                - self.weekday.num_days_from_monday() as i64)
                % 7;
            last - Duration::days(back)
        } else {
            chrono::NaiveDate::from_weekday_of_month_opt(
                year,
                self.month,
                self.weekday,
                u8::try_from(self.ordinal).ok()?,
            )?
        };
        date.and_hms_opt(self.hour, self.minute, self.second)
    }

    fn rrule(&self) -> String {
        let day = match self.weekday {
            chrono::Weekday::Mon => "MO",
            chrono::Weekday::Tue => "TU",
            chrono::Weekday::Wed => "WE",
            chrono::Weekday::Thu => "TH",
            chrono::Weekday::Fri => "FR",
            chrono::Weekday::Sat => "SA",
            chrono::Weekday::Sun => "SU",
        };
        format!(
            "FREQ=YEARLY;BYMONTH={};BYDAY={}{}",
            self.month, self.ordinal, day
        )
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

/// One `STANDARD` or `DAYLIGHT` block of a `VTIMEZONE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observance {
    pub daylight: bool,
    /// The first onset, as wall time in the offset before it.
    pub onset: NaiveDateTime,
    pub from: i32,
    pub to: i32,
    pub name: String,
    /// Repeats yearly by this rule; `None` = this onset only.
    pub rule: Option<YearlyRule>,
}

/// The observances that describe `tz` over `[from, to)`. The search starts a
/// year before `from`, so every event in the span lies after an onset.
///
/// When every change towards (and every change away from) summer time in
/// that stretch follows one yearly rule with the same offsets, as in the
/// EU and North America, two blocks with an `RRULE` say it, which is the
/// form Outlook reads best. Otherwise each change is its own block. A zone
/// without changes is one `STANDARD` block.
pub fn zone_rules(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Observance> {
    let start = from - Duration::days(366);
    let changes = transitions(tz, start, to);
    if changes.is_empty() {
        let off = offset_at(tz, from);
        return vec![Observance {
            daylight: false,
            onset: chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or_default(),
            from: off,
            to: off,
            name: crate::domain::wall_clock::abbreviation(from, tz),
            rule: None,
        }];
    }
    let mut yearly = Vec::new();
    for daylight in [true, false] {
        let group: Vec<&Transition> = changes
            .iter()
            .filter(|t| t.is_daylight() == daylight)
            .collect();
        let Some(first) = group.first() else { break };
        let rule = YearlyRule::of(first);
        let onset = first.local_onset();
        // The rule must give exactly the changes found, no more, no fewer,
        // and its first onset must come before the feed's first event.
        let expanded: Vec<NaiveDateTime> = (onset.year()..=to.year())
            .filter_map(|y| rule.in_year(y))
            .filter(|d| {
                *d >= onset && (*d - Duration::seconds(i64::from(first.from))).and_utc() <= to
            })
            .collect();
        let found: Vec<NaiveDateTime> = group.iter().map(|t| t.local_onset()).collect();
        let same_offsets = group
            .iter()
            .all(|t| t.from == first.from && t.to == first.to);
        if !(same_offsets && expanded == found && first.at <= from) {
            break;
        }
        yearly.push(Observance {
            daylight,
            onset,
            from: first.from,
            to: first.to,
            name: first.name.clone(),
            rule: Some(rule),
        });
    }
    if yearly.len() == 2 {
        return yearly;
    }
    let mut out = vec![Observance {
        daylight: false,
        onset: start.naive_utc() + Duration::seconds(i64::from(changes[0].from)),
        from: changes[0].from,
        to: changes[0].from,
        name: crate::domain::wall_clock::abbreviation(start, tz),
        rule: None,
    }];
    out.extend(changes.iter().map(|t| Observance {
        daylight: t.is_daylight(),
        onset: t.local_onset(),
        from: t.from,
        to: t.to,
        name: t.name.clone(),
        rule: None,
    }));
    out
}

/// `+0100`, or `+013000` for an offset with seconds (RFC 5545 3.3.14).
pub fn utc_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

const LOCAL: &str = "%Y%m%dT%H%M%S";
const UTC: &str = "%Y%m%dT%H%M%SZ";

/// A DTSTART/DTEND value: wall time with the zone's id, or UTC when the
/// wall time is the second of a repeated hour (a `TZID` time there means
/// the first, RFC 5545 3.3.5).
fn when(at: DateTime<Utc>, tz: Tz) -> (String, bool) {
    let local = at.with_timezone(&tz).naive_local();
    match tz.from_local_datetime(&local).earliest() {
        Some(first) if first == at => (local.format(LOCAL).to_string(), true),
        _ => (at.format(UTC).to_string(), false),
    }
}

fn with_zone<'a, P: Into<ics::components::Property<'a>>>(
    p: impl FnOnce(String) -> P,
    at: DateTime<Utc>,
    tz: Tz,
) -> ics::components::Property<'a> {
    let (value, zoned) = when(at, tz);
    let mut prop: ics::components::Property<'a> = p(value).into();
    if zoned {
        prop.add(ics::parameters::TzIDParam::new(tz.name()));
    }
    prop
}

/// The feed as `text/calendar`.
pub fn render(feed: &Feed<'_>) -> String {
    let mut cal = ICalendar::new("2.0", "-//paminn//calendar feed//SV");
    cal.push(CalScale::new("GREGORIAN"));
    cal.push(Method::new("PUBLISH"));
    cal.push(ics::components::Property::new(
        "X-WR-CALNAME",
        escape_text(feed.name.to_string()),
    ));
    cal.push(ics::components::Property::new(
        "X-WR-TIMEZONE",
        feed.tz.name(),
    ));
    // RFC 7986 and its older spelling: how often to fetch again.
    let mut refresh = ics::components::Property::new("REFRESH-INTERVAL", "PT1H");
    refresh.add(ics::parameters::Value::new("DURATION"));
    cal.push(refresh);
    cal.push(ics::components::Property::new("X-PUBLISHED-TTL", "PT1H"));

    let rules = zone_rules(feed.tz, feed.from, feed.to);
    let mut zone: Option<IcsZone<'_>> = None;
    for o in &rules {
        let onset = o.onset.format(LOCAL).to_string();
        let (from, to) = (utc_offset(o.from), utc_offset(o.to));
        let (name, rule) = (
            TzName::new(o.name.clone()),
            o.rule.map(|r| RRule::new(r.rrule())),
        );
        if o.daylight {
            let mut d = Daylight::new(onset, from, to);
            d.push(name);
            if let Some(r) = rule {
                d.push(r);
            }
            match zone.as_mut() {
                Some(z) => z.add_daylight(d),
                None => zone = Some(IcsZone::daylight(feed.tz.name(), d)),
            }
        } else {
            let mut s = Standard::new(onset, from, to);
            s.push(name);
            if let Some(r) = rule {
                s.push(r);
            }
            match zone.as_mut() {
                Some(z) => z.add_standard(s),
                None => zone = Some(IcsZone::standard(feed.tz.name(), s)),
            }
        }
    }
    if let Some(mut z) = zone {
        z.push(ics::components::Property::new(
            "X-LIC-LOCATION",
            feed.tz.name(),
        ));
        cal.add_timezone(z);
    }

    let stamp = feed.stamp.format(UTC).to_string();
    for e in feed.events {
        let mut ev = Event::new(e.uid.clone(), stamp.clone());
        ev.push(with_zone(DtStart::new, e.starts_at, feed.tz));
        let end = e.starts_at + Duration::minutes(e.duration_min.max(1));
        ev.push(with_zone(DtEnd::new, end, feed.tz));
        ev.push(Summary::new(escape_text(e.summary.clone())));
        if let Some(d) = &e.description {
            ev.push(Description::new(escape_text(d.clone())));
        }
        ev.push(Sequence::new(e.sequence.max(0).to_string()));
        ev.push(Status::confirmed());
        ev.push(Transp::opaque());
        // Shared or delegated calendars show "private" instead of the name.
        ev.push(Class::private());
        cal.add_event(ev);
    }
    cal.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The offset the observances give at `at`, read the way a calendar
    /// client does: the latest onset at or before the instant wins.
    fn offset_from_rules(rules: &[Observance], at: DateTime<Utc>) -> Option<i32> {
        let mut best: Option<(NaiveDateTime, i32)> = None;
        for o in rules {
            let onsets: Vec<NaiveDateTime> = match o.rule {
                None => vec![o.onset],
                Some(r) => (o.onset.year()..=at.year() + 1)
                    .filter_map(|y| r.in_year(y))
                    .filter(|d| *d >= o.onset)
                    .collect(),
            };
            for onset in onsets {
                // The onset is wall time in the offset before it.
                let instant = onset - Duration::seconds(i64::from(o.from));
                if instant <= at.naive_utc() && best.is_none_or(|(b, _)| instant > b) {
                    best = Some((instant, o.to));
                }
            }
        }
        best.map(|(_, off)| off)
    }

    const ZONES: [Tz; 7] = [
        chrono_tz::Europe::Stockholm,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Sydney,
        chrono_tz::Asia::Tokyo,
        chrono_tz::Europe::Dublin,
        chrono_tz::America::Santiago,
        chrono_tz::Asia::Tehran,
    ];

    #[test]
    fn stockholm_is_two_yearly_rules_last_sunday_of_march_and_october() {
        let rules = zone_rules(
            chrono_tz::Europe::Stockholm,
            utc("2026-11-07T00:00:00Z"),
            utc("2027-06-09T00:00:00Z"),
        );
        assert_eq!(rules.len(), 2, "{rules:?}");
        let summer = rules.iter().find(|o| o.daylight).unwrap();
        let winter = rules.iter().find(|o| !o.daylight).unwrap();
        assert_eq!(
            summer.rule.unwrap().rrule(),
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"
        );
        assert_eq!(
            winter.rule.unwrap().rrule(),
            "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"
        );
        assert_eq!((summer.from, summer.to), (3600, 7200));
        assert_eq!(summer.onset.format(LOCAL).to_string(), "20260329T020000");
        assert_eq!(winter.onset.format(LOCAL).to_string(), "20261025T030000");
        assert_eq!(
            (summer.name.as_str(), winter.name.as_str()),
            ("CEST", "CET")
        );
    }

    #[test]
    fn a_zone_without_changes_is_one_standard_block() {
        let rules = zone_rules(
            chrono_tz::Asia::Tokyo,
            utc("2026-11-07T00:00:00Z"),
            utc("2027-06-09T00:00:00Z"),
        );
        assert_eq!(rules.len(), 1);
        assert!(!rules[0].daylight);
        assert_eq!((rules[0].from, rules[0].to), (9 * 3600, 9 * 3600));
    }

    #[test]
    fn offsets_are_written_with_seconds_only_when_there_are_some() {
        assert_eq!(utc_offset(3600), "+0100");
        assert_eq!(utc_offset(-5 * 3600), "-0500");
        assert_eq!(utc_offset(12_600), "+0330");
        assert_eq!(utc_offset(-(3600 + 1800 + 5)), "-013005");
    }

    #[test]
    fn the_second_of_a_repeated_hour_is_written_in_utc() {
        let tz = chrono_tz::Europe::Stockholm;
        // 2026-10-25 02:30 happens twice in Stockholm: 00:30Z and 01:30Z.
        assert_eq!(
            when(utc("2026-10-25T00:30:00Z"), tz),
            ("20261025T023000".to_string(), true)
        );
        assert_eq!(
            when(utc("2026-10-25T01:30:00Z"), tz),
            ("20261025T013000Z".to_string(), false)
        );
        assert_eq!(
            when(utc("2026-12-07T09:00:00Z"), tz),
            ("20261207T100000".to_string(), true)
        );
    }

    #[test]
    fn texts_are_escaped_and_lines_folded() {
        let events = [FeedEvent {
            uid: "appointment-7@paminn".into(),
            sequence: 2,
            starts_at: utc("2026-12-07T09:00:00Z"),
            duration_min: 45,
            summary: "Åsa-Lena, Maj; möte \\ ny".into(),
            description: Some("a".repeat(200)),
        }];
        let text = render(&Feed {
            name: "paminn – mina deltagare",
            tz: chrono_tz::Europe::Stockholm,
            stamp: utc("2026-12-06T12:00:00Z"),
            from: utc("2026-11-06T00:00:00Z"),
            to: utc("2027-06-07T00:00:00Z"),
            events: &events,
        });
        assert!(
            text.contains("SUMMARY:Åsa-Lena\\, Maj\\; möte \\\\ ny\r\n"),
            "{text}"
        );
        assert!(text.contains("DTSTART;TZID=Europe/Stockholm:20261207T100000\r\n"));
        assert!(text.contains("DTEND;TZID=Europe/Stockholm:20261207T104500\r\n"));
        assert!(text.contains("SEQUENCE:2\r\n") && text.contains("CLASS:PRIVATE\r\n"));
        for line in text.split("\r\n") {
            // 75 octets, plus the folding space of a continuation line.
            assert!(line.len() <= 76, "{line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
    }

    proptest! {
        /// The law of the VTIMEZONE: at every instant of the span, the
        /// blocks give the offset the IANA zone has.
        #[test]
        fn the_rules_give_the_zones_offset_at_every_instant(
            zone in 0..ZONES.len(),
            start_days in 0i64..(365 * 6),
            probe_min in 0i64..(214 * 24 * 60),
        ) {
            let tz = ZONES[zone];
            let from = utc("2024-01-01T00:00:00Z") + Duration::days(start_days);
            let to = from + Duration::days(DAYS_BACK + DAYS_AHEAD);
            let rules = zone_rules(tz, from, to);
            let at = from + Duration::minutes(probe_min);
            prop_assert_eq!(offset_from_rules(&rules, at), Some(offset_at(tz, at)),
                "{} at {} with {:?}", tz.name(), at, rules);
        }

        /// Every event's wall time, read back in its zone, is its instant.
        #[test]
        fn a_zoned_time_reads_back_as_the_same_instant(
            zone in 0..ZONES.len(),
            min in 0i64..(6 * 365 * 24 * 60),
        ) {
            let tz = ZONES[zone];
            let at = utc("2024-01-01T00:00:00Z") + Duration::minutes(min);
            let (value, zoned) = when(at, tz);
            let back = if zoned {
                let local = NaiveDateTime::parse_from_str(&value, LOCAL).unwrap();
                tz.from_local_datetime(&local).earliest().unwrap().with_timezone(&Utc)
            } else {
                NaiveDateTime::parse_from_str(&value, UTC).unwrap().and_utc()
            };
            prop_assert_eq!(back, at);
        }
    }
}
