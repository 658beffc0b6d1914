//! Which appointment a reply ("kommer", "förhinder") is about.
//!
//! A reply answers a question. The open questions are the appointments the
//! participant was asked about (a reminder that asked for a reply went out)
//! that are still on and have not started. The rule:
//!
//! * one open question: the reply is about it;
//! * several, but only one still unanswered: that one;
//! * several unanswered: ask back with the two nearest ("svara 1 eller 2");
//! * several, all answered already (a change of mind): the one the latest
//!   reminder asked about, if it is still open; otherwise ask back;
//! * none open, but the latest reminder's appointment has started: the
//!   reply came too late; it is recorded and a person is told, nothing is
//!   changed;
//! * nothing asked at all: a person reads it.

use crate::domain::{AppointmentId, ReplyState};
use chrono::{DateTime, Utc};

/// An appointment the participant was asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub appointment: AppointmentId,
    pub starts_at: DateTime<Utc>,
    pub cancelled: bool,
    pub reply: ReplyState,
    /// When the latest reminder about it that asked for a reply went out.
    pub asked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Apply(AppointmentId),
    /// Ask which one; the nearest first.
    AskWhich(AppointmentId, AppointmentId),
    TooLate(AppointmentId),
    Nothing,
}

pub fn match_reply(asked: &[Asked], now: DateTime<Utc>) -> Match {
    let latest = asked.iter().max_by_key(|a| (a.asked_at, a.starts_at));
    let mut open: Vec<&Asked> = asked
        .iter()
        .filter(|a| !a.cancelled && a.starts_at > now)
        .collect();
    open.sort_by_key(|a| (a.starts_at, a.appointment));
    let unanswered: Vec<&&Asked> = open
        .iter()
        .filter(|a| a.reply == ReplyState::None)
        .collect();
    match (open.len(), unanswered.len()) {
        (0, _) => match latest {
            Some(l) if !l.cancelled => Match::TooLate(l.appointment),
            _ => Match::Nothing,
        },
        (1, _) => Match::Apply(open[0].appointment),
        (_, 1) => Match::Apply(unanswered[0].appointment),
        (_, n) if n >= 2 => Match::AskWhich(unanswered[0].appointment, unanswered[1].appointment),
        _ => match latest {
            Some(l) if open.iter().any(|o| o.appointment == l.appointment) => {
                Match::Apply(l.appointment)
            }
            _ => Match::AskWhich(open[0].appointment, open[1].appointment),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 9, 12, 0, 0).unwrap()
    }
    fn asked(id: i64, hours_ahead: i64, reply: ReplyState, asked_hours_ago: i64) -> Asked {
        Asked {
            appointment: AppointmentId::from_db(id),
            starts_at: now() + Duration::hours(hours_ahead),
            cancelled: false,
            reply,
            asked_at: now() - Duration::hours(asked_hours_ago),
        }
    }
    fn id(n: i64) -> AppointmentId {
        AppointmentId::from_db(n)
    }

    #[test]
    fn one_open_question_takes_the_reply() {
        assert_eq!(
            match_reply(&[asked(1, 20, ReplyState::None, 2)], now()),
            Match::Apply(id(1))
        );
        // Even if it was answered before: a later reply overrides.
        assert_eq!(
            match_reply(&[asked(1, 20, ReplyState::Coming, 2)], now()),
            Match::Apply(id(1))
        );
    }

    #[test]
    fn two_unanswered_means_asking_back_nearest_first() {
        let a = [
            asked(2, 48, ReplyState::None, 1),
            asked(1, 20, ReplyState::None, 3),
        ];
        assert_eq!(match_reply(&a, now()), Match::AskWhich(id(1), id(2)));
    }

    #[test]
    fn of_several_the_only_unanswered_one_is_meant() {
        let a = [
            asked(1, 20, ReplyState::Coming, 3),
            asked(2, 48, ReplyState::None, 1),
        ];
        assert_eq!(match_reply(&a, now()), Match::Apply(id(2)));
    }

    #[test]
    fn a_change_of_mind_goes_to_the_latest_question() {
        let a = [
            asked(1, 20, ReplyState::Coming, 3),
            asked(2, 48, ReplyState::Coming, 1),
        ];
        assert_eq!(match_reply(&a, now()), Match::Apply(id(2)));
    }

    #[test]
    fn after_the_start_it_is_too_late_and_without_a_question_nothing() {
        assert_eq!(
            match_reply(&[asked(1, -1, ReplyState::None, 3)], now()),
            Match::TooLate(id(1))
        );
        assert_eq!(match_reply(&[], now()), Match::Nothing);
        let mut c = asked(1, 5, ReplyState::None, 3);
        c.cancelled = true;
        assert_eq!(match_reply(&[c], now()), Match::Nothing);
    }

    #[test]
    fn started_and_cancelled_ones_do_not_compete_with_an_open_one() {
        let mut c = asked(3, 30, ReplyState::None, 0);
        c.cancelled = true;
        let a = [
            asked(1, -2, ReplyState::None, 5),
            asked(2, 20, ReplyState::None, 4),
            c,
        ];
        assert_eq!(match_reply(&a, now()), Match::Apply(id(2)));
    }
}
