//! May this message go now? Checked by the dispatcher at send time, after
//! planning, because everything can change in between: consent withdrawn,
//! the participant taken into custody, STOPP, the appointment cancelled.
//! A failing gate suppresses the row (with the reason in the journal);
//! quiet hours only defer it.

use crate::domain::schedule::{QuietHours, local, send_window};
use crate::domain::{AppointmentStatus, ChannelKind, ChannelSet, ParticipantStatus, Purpose};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::fmt;

/// The consent in force for a participant: the latest one recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentState {
    pub channels: ChannelSet,
    pub expires_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// Everything the gate looks at, read in one go at send time.
#[derive(Debug, Clone, Copy)]
pub struct GateInput {
    pub now: DateTime<Utc>,
    pub purpose: Purpose,
    pub channel: ChannelKind,
    pub status: ParticipantStatus,
    pub consent: Option<ConsentState>,
    pub opted_out: ChannelSet,
    /// The appointment's status and start, for messages about one.
    pub appointment: Option<(AppointmentStatus, DateTime<Utc>)>,
    /// The participant has already answered FÖRHINDER for the appointment:
    /// reminding them again would only confuse.
    pub said_cannot: bool,
    /// A summons' deadline: after it, the summons is pointless.
    pub deadline: Option<DateTime<Utc>>,
    pub tz: Tz,
    pub quiet: QuietHours,
    /// Marked urgent by staff (a broadcast): the unit's quiet hours do
    /// not hold it back, the night 23:00-06:00 still does
    /// ([`send_window`]).
    pub urgent: bool,
}

/// Why a message was not sent. Written into the journal for the lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum SuppressReason {
    NoConsent,
    ConsentWithdrawn,
    ConsentExpired,
    ChannelNotConsented,
    NotActive {
        status: ParticipantStatus,
    },
    OptedOut,
    AppointmentCancelled,
    AppointmentStarted,
    DeadlinePassed,
    SaidCannot,
    /// Quiet hours last until the appointment (or deadline).
    QuietHoursUntilStart,
}

impl fmt::Display for SuppressReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SuppressReason::*;
        match self {
            NoConsent => f.write_str("no consent is recorded"),
            ConsentWithdrawn => f.write_str("consent was withdrawn"),
            ConsentExpired => f.write_str("consent has expired"),
            ChannelNotConsented => f.write_str("consent does not cover this channel"),
            NotActive { status } => write!(f, "participant is {status}, not active"),
            OptedOut => f.write_str("participant opted out of this channel (STOPP)"),
            AppointmentCancelled => f.write_str("appointment was cancelled"),
            AppointmentStarted => f.write_str("appointment has already started"),
            DeadlinePassed => f.write_str("the summons' deadline has passed"),
            SaidCannot => f.write_str("participant has already said they cannot come"),
            QuietHoursUntilStart => f.write_str("quiet hours last until the appointment"),
        }
    }
}

impl SuppressReason {
    /// Every reason there is.
    pub fn all() -> impl Iterator<Item = SuppressReason> {
        use SuppressReason::*;
        [
            NoConsent,
            ConsentWithdrawn,
            ConsentExpired,
            ChannelNotConsented,
            OptedOut,
            AppointmentCancelled,
            AppointmentStarted,
            DeadlinePassed,
            SaidCannot,
            QuietHoursUntilStart,
        ]
        .into_iter()
        .chain(
            ParticipantStatus::ALL
                .iter()
                .map(|s| NotActive { status: *s }),
        )
    }

    /// The reason whose text (as the dispatcher stores it in
    /// `outbox.last_error` and the journal) is `text`; `None` for any other
    /// text. An exact match on the reason's own words, never a search.
    pub fn from_text(text: &str) -> Option<SuppressReason> {
        Self::all().find(|r| r.to_string() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Not now (quiet hours); try again at this instant.
    Defer(DateTime<Utc>),
    Suppress(SuppressReason),
}

/// The gate. Order matters only for which reason is reported first: consent
/// and status before channel, channel before timing.
pub fn check(g: &GateInput) -> Verdict {
    use SuppressReason::*;
    let Some(consent) = g.consent else {
        return Verdict::Suppress(NoConsent);
    };
    if consent.withdrawn_at.is_some_and(|w| w <= g.now) {
        return Verdict::Suppress(ConsentWithdrawn);
    }
    if consent.expires_at.is_some_and(|e| e <= g.now) {
        return Verdict::Suppress(ConsentExpired);
    }
    if g.status != ParticipantStatus::Active {
        return Verdict::Suppress(NotActive { status: g.status });
    }
    if !consent.channels.contains(g.channel) {
        return Verdict::Suppress(ChannelNotConsented);
    }
    // A receipt answers a message the participant just sent, on the
    // channel they used; it is how STOPP is confirmed, so opting out does
    // not hold it back.
    if g.opted_out.contains(g.channel) && g.purpose != Purpose::Receipt {
        return Verdict::Suppress(OptedOut);
    }
    let mut must_be_before = g.deadline;
    if let Some((status, start)) = g.appointment {
        if status == AppointmentStatus::Cancelled {
            return Verdict::Suppress(AppointmentCancelled);
        }
        if start <= g.now {
            return Verdict::Suppress(AppointmentStarted);
        }
        must_be_before = Some(must_be_before.map_or(start, |d| d.min(start)));
        if g.said_cannot && g.purpose == Purpose::Reminder {
            return Verdict::Suppress(SaidCannot);
        }
    }
    if must_be_before.is_some_and(|d| d <= g.now) {
        return Verdict::Suppress(DeadlinePassed);
    }
    // Receipts answer a message the participant just sent; they are not
    // held back by quiet hours.
    let quiet = send_window(g.quiet, g.urgent);
    if g.purpose != Purpose::Receipt && quiet.contains(local(g.now, g.tz).time()) {
        let next = quiet.next_allowed(g.now, g.tz);
        return match must_be_before {
            Some(d) if next >= d => Verdict::Suppress(QuietHoursUntilStart),
            _ => Verdict::Defer(next),
        };
    }
    Verdict::Send
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_reason_reads_back_from_its_text_and_no_two_share_one() {
        let all: Vec<_> = SuppressReason::all().collect();
        for r in &all {
            assert_eq!(SuppressReason::from_text(&r.to_string()), Some(*r));
        }
        let texts: std::collections::BTreeSet<String> = all.iter().map(|r| r.to_string()).collect();
        assert_eq!(texts.len(), all.len());
        assert_eq!(SuppressReason::from_text("consent"), None);
        assert_eq!(SuppressReason::from_text(""), None);
    }

    use super::*;
    use crate::domain::schedule::resolve_local;
    use chrono::{Duration, NaiveDate};
    use chrono_tz::Europe::Stockholm;

    fn sthlm(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        resolve_local(
            NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap(),
            Stockholm,
        )
    }

    fn ok_input() -> GateInput {
        GateInput {
            now: sthlm(9, 12, 0),
            purpose: Purpose::Reminder,
            channel: ChannelKind::Sms,
            status: ParticipantStatus::Active,
            consent: Some(ConsentState {
                channels: "sms".parse().unwrap(),
                expires_at: Some(sthlm(31, 0, 0)),
                withdrawn_at: None,
            }),
            opted_out: ChannelSet::NONE,
            appointment: Some((AppointmentStatus::Scheduled, sthlm(10, 9, 0))),
            deadline: None,
            said_cannot: false,
            tz: Stockholm,
            quiet: QuietHours::default(),
            urgent: false,
        }
    }

    #[test]
    fn a_message_with_everything_in_order_goes() {
        assert_eq!(check(&ok_input()), Verdict::Send);
    }

    #[test]
    fn every_gate_suppresses_with_its_own_reason() {
        use SuppressReason::*;
        type Case = (&'static str, Box<dyn Fn(&mut GateInput)>, SuppressReason);
        let cases: Vec<Case> = vec![
            ("no consent", Box::new(|g| g.consent = None), NoConsent),
            (
                "withdrawn",
                Box::new(|g| {
                    g.consent.as_mut().unwrap().withdrawn_at = Some(g.now - Duration::minutes(1))
                }),
                ConsentWithdrawn,
            ),
            (
                "expired",
                Box::new(|g| g.consent.as_mut().unwrap().expires_at = Some(g.now)),
                ConsentExpired,
            ),
            (
                "other channel",
                Box::new(|g| g.channel = ChannelKind::Telegram),
                ChannelNotConsented,
            ),
            (
                "opted out",
                Box::new(|g| g.opted_out = "sms".parse().unwrap()),
                OptedOut,
            ),
            (
                "cancelled",
                Box::new(|g| g.appointment = Some((AppointmentStatus::Cancelled, sthlm(10, 9, 0)))),
                AppointmentCancelled,
            ),
            (
                "started",
                Box::new(|g| g.appointment = Some((AppointmentStatus::Scheduled, g.now))),
                AppointmentStarted,
            ),
            (
                "summons late",
                Box::new(|g| {
                    g.appointment = None;
                    g.deadline = Some(g.now - Duration::minutes(5));
                }),
                DeadlinePassed,
            ),
        ];
        for (name, mutate, want) in cases {
            let mut g = ok_input();
            mutate(&mut g);
            assert_eq!(check(&g), Verdict::Suppress(want), "{name}");
        }
        for status in [
            ParticipantStatus::Paused,
            ParticipantStatus::InCustody,
            ParticipantStatus::Discharged,
        ] {
            let mut g = ok_input();
            g.status = status;
            assert_eq!(check(&g), Verdict::Suppress(NotActive { status }));
        }
    }

    #[test]
    fn quiet_hours_defer_to_the_morning_or_suppress_when_the_morning_is_too_late() {
        let mut g = ok_input();
        g.now = sthlm(9, 22, 0);
        assert_eq!(check(&g), Verdict::Defer(sthlm(10, 8, 0)));
        g.appointment = Some((AppointmentStatus::Scheduled, sthlm(10, 7, 30)));
        assert_eq!(
            check(&g),
            Verdict::Suppress(SuppressReason::QuietHoursUntilStart)
        );
        g.purpose = Purpose::Receipt;
        assert_eq!(check(&g), Verdict::Send);
    }

    #[test]
    fn the_stop_confirmation_goes_out_on_an_opted_out_channel_but_nothing_else_does() {
        let mut g = ok_input();
        g.opted_out = "sms".parse().unwrap();
        g.purpose = Purpose::Receipt;
        g.appointment = None;
        assert_eq!(check(&g), Verdict::Send);
        for purpose in [Purpose::Reminder, Purpose::Summons, Purpose::Notice] {
            g.purpose = purpose;
            assert_eq!(
                check(&g),
                Verdict::Suppress(SuppressReason::OptedOut),
                "{purpose}"
            );
        }
    }

    #[test]
    fn a_future_withdrawal_date_does_not_stop_a_message_yet() {
        let mut g = ok_input();
        g.consent.as_mut().unwrap().withdrawn_at = Some(g.now + Duration::hours(1));
        assert_eq!(check(&g), Verdict::Send);
    }

    #[test]
    fn urgent_breaks_the_units_quiet_hours_but_not_the_night() {
        let mut g = ok_input();
        g.purpose = Purpose::Notice;
        g.appointment = None;
        // 21:30: inside the unit's 21:00-08:00, outside the night.
        g.now = sthlm(9, 21, 30);
        assert!(matches!(check(&g), Verdict::Defer(_)));
        g.urgent = true;
        assert_eq!(check(&g), Verdict::Send);
        // 23:30: the night holds even urgent messages, until 06:00.
        g.now = sthlm(9, 23, 30);
        assert_eq!(check(&g), Verdict::Defer(sthlm(10, 6, 0)));
    }

    mod urgent_window {
        use super::*;
        use crate::domain::schedule::{QuietHours, local, send_window};
        use chrono::Timelike;
        use chrono_tz::Tz;
        use proptest::prelude::*;

        fn zone() -> impl Strategy<Value = Tz> {
            prop_oneof![
                Just(chrono_tz::Europe::Stockholm),
                Just(chrono_tz::Europe::Helsinki),
                Just(chrono_tz::America::New_York),
                Just(chrono_tz::UTC),
            ]
        }

        fn in_night(t: DateTime<Utc>, tz: Tz) -> bool {
            let h = local(t, tz).time().hour();
            !(6..23).contains(&h)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// Whatever the unit's quiet hours: an urgent message is never
            /// sent 23:00-06:00 local, and when held back it is held only
            /// until a moment outside the night.
            #[test]
            fn urgent_never_goes_out_at_night(
                secs in 1_767_225_600i64..1_830_297_600i64,
                qs in 0u32..1440, qe in 0u32..1440,
                tz in zone(),
            ) {
                let now = DateTime::from_timestamp(secs, 0).unwrap();
                let mut g = ok_input();
                g.purpose = Purpose::Notice;
                g.appointment = None;
                g.consent.as_mut().unwrap().expires_at = None;
                g.now = now;
                g.tz = tz;
                g.quiet = QuietHours::from_minutes(qs, qe).unwrap();
                g.urgent = true;
                match check(&g) {
                    Verdict::Send => prop_assert!(!in_night(now, tz)),
                    Verdict::Defer(at) => {
                        prop_assert!(in_night(now, tz));
                        prop_assert!(at > now);
                        prop_assert!(!in_night(at, tz));
                        prop_assert!(at - now <= chrono::Duration::hours(8));
                    }
                    v => prop_assert!(false, "unexpected {v:?}"),
                }
            }

            /// Not urgent: exactly the unit's quiet hours hold it back.
            #[test]
            fn not_urgent_follows_the_units_quiet_hours(
                secs in 1_767_225_600i64..1_830_297_600i64,
                qs in 0u32..1440, qe in 0u32..1440,
                tz in zone(),
            ) {
                let now = DateTime::from_timestamp(secs, 0).unwrap();
                let q = QuietHours::from_minutes(qs, qe).unwrap();
                prop_assert_eq!(send_window(q, false), q);
                let night = send_window(q, true);
                prop_assert_eq!(night.contains(local(now, tz).time()), in_night(now, tz));
            }
        }
    }
}
