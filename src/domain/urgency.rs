//! Which open task a person should look at first. Pure: the staff UI's
//! Today lists tasks in this order, for a lots and for a coordinator.
//!
//! A task that decides whether someone turns up to a coming appointment
//! comes before paperwork: a "förhinder" (the lots may rebook or call), a
//! text nobody understood (it may be a "förhinder" in other words), a
//! message that did not arrive (the participant may not know about the
//! time), someone coming late (the lots may need to wait or tell others),
//! silence after a reminder; then replies after the fact, expiring
//! consent and an empty calendar. Within one kind, the task whose
//! appointment comes first goes first, then the oldest task.

use crate::domain::TaskKind;
use chrono::{DateTime, Utc};

/// The rank of a kind: lower is more urgent.
pub fn kind_rank(kind: TaskKind) -> u8 {
    match kind {
        TaskKind::Cannot => 0,
        TaskKind::NotUnderstood => 1,
        TaskKind::DeliveryFailed => 2,
        TaskKind::ComingLate => 3,
        TaskKind::NoReply => 4,
        TaskKind::LateReply => 5,
        TaskKind::ConsentExpiring => 6,
        TaskKind::Gap => 7,
    }
}

/// The sort key of an open task: kind, then the appointment's start (none
/// last), then when the task was made. Sorting by it ascending puts the
/// most urgent first.
pub fn sort_key(
    kind: TaskKind,
    appointment_starts_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
) -> (u8, DateTime<Utc>, DateTime<Utc>) {
    (
        kind_rank(kind),
        appointment_starts_at.unwrap_or(DateTime::<Utc>::MAX_UTC),
        created_at,
    )
}

/// A participant gets no "nothing booked" task before they have been in
/// the programme for the unit's gap window: a person created a minute ago
/// has, of course, nothing booked yet.
pub fn gap_alert_due(
    participant_created_at: DateTime<Utc>,
    gap_alert_days: i64,
    now: DateTime<Utc>,
) -> bool {
    gap_alert_days > 0 && now - participant_created_at >= chrono::Duration::days(gap_alert_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).unwrap()
    }

    #[test]
    fn a_cannot_comes_before_paperwork_whatever_the_order_it_was_made() {
        let mut tasks = [
            ("gap", sort_key(TaskKind::Gap, None, at(1))),
            ("consent", sort_key(TaskKind::ConsentExpiring, None, at(2))),
            ("no_reply", sort_key(TaskKind::NoReply, Some(at(20)), at(3))),
            (
                "failed",
                sort_key(TaskKind::DeliveryFailed, Some(at(20)), at(4)),
            ),
            (
                "unknown",
                sort_key(TaskKind::NotUnderstood, Some(at(20)), at(5)),
            ),
            ("cannot", sort_key(TaskKind::Cannot, Some(at(20)), at(6))),
        ];
        tasks.sort_by_key(|t| t.1);
        let order: Vec<&str> = tasks.iter().map(|t| t.0).collect();
        assert_eq!(
            order,
            ["cannot", "unknown", "failed", "no_reply", "consent", "gap"]
        );
    }

    #[test]
    fn within_a_kind_the_sooner_appointment_then_the_older_task_goes_first() {
        let later = sort_key(TaskKind::Cannot, Some(at(18)), at(1));
        let sooner = sort_key(TaskKind::Cannot, Some(at(12)), at(9));
        let none = sort_key(TaskKind::Cannot, None, at(0));
        assert!(sooner < later && later < none);
        assert!(sort_key(TaskKind::Gap, None, at(1)) < sort_key(TaskKind::Gap, None, at(2)));
    }

    #[test]
    fn every_kind_has_its_own_rank() {
        let mut ranks: Vec<u8> = TaskKind::ALL.iter().map(|k| kind_rank(*k)).collect();
        ranks.sort_unstable();
        ranks.dedup();
        assert_eq!(ranks.len(), TaskKind::ALL.len());
    }

    #[test]
    fn new_participants_get_the_gap_window_before_an_alert() {
        let created = at(10);
        assert!(!gap_alert_due(created, 7, created + Duration::minutes(1)));
        assert!(!gap_alert_due(created, 7, created + Duration::days(6)));
        assert!(gap_alert_due(created, 7, created + Duration::days(7)));
        assert!(
            !gap_alert_due(created, 0, created + Duration::days(700)),
            "0 is off"
        );
    }
}
