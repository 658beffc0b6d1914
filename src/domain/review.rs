//! The log review (loggkontroll) as pure rules: which audit rows are views
//! of a case record, who the participant's lots was at the time of a view,
//! whether a view was outside the viewer's own caseload, and the routine
//! sample of a month.
//!
//! What is approximated, as far as the data allows: a view is judged with
//! the viewer's role and unit as they are now (role changes are audited,
//! `staff.role`, but not replayed) and the participant's unit as it is now
//! (participants do not move between units). The participant's lots is the
//! one at the time: the latest `lots_assigned` journal event before the
//! view. The lots a participant was added with is not journaled, so before
//! the first `lots_assigned` event it is today's lots when there never was
//! one, and unknown (no lots: the view counts as outside) when there was:
//! a review flags too much rather than too little.

use super::access::{Shield, Subject, Viewer, within_caseload};
use super::{ParticipantId, StaffId, UnitId};
use sha2::{Digest, Sha256};

/// The audit actions that are a look at one participant (target
/// `participant:<id>`): the case record in full or contact details only,
/// their messages, their journal, the API's and CLI's reads, an export,
/// and a refused attempt (`case.denied`, flagged in the review).
pub const VIEW_ACTIONS: &[&str] = &[
    "case.view",
    "case.view_contact",
    "case.denied",
    "messages.view",
    "journal.view",
    "participant.view",
    "participant.export",
];

/// Whether an audit row is a refused attempt.
pub fn is_denied(action: &str) -> bool {
    action == "case.denied"
}

/// The participant id an audit target names (`participant:7`).
pub fn participant_of(target: &str) -> Option<ParticipantId> {
    target
        .strip_prefix("participant:")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .map(ParticipantId::from_db)
}

/// The staff id an audit actor names (`staff:3`); `None` for an API token,
/// the CLI or the system.
pub fn staff_of(actor: &str) -> Option<StaffId> {
    actor
        .strip_prefix("staff:")
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .map(StaffId::from_db)
}

/// The participant's lots at `at` (Unix ms), from the `lots_assigned`
/// events (`(at, lots)`, oldest first) and today's lots. See the module
/// doc for what is approximated.
pub fn lots_at(
    assigned: &[(i64, Option<StaffId>)],
    current: Option<StaffId>,
    at: i64,
) -> Option<StaffId> {
    if assigned.is_empty() {
        return current;
    }
    assigned
        .iter()
        .take_while(|(t, _)| *t <= at)
        .last()
        .and_then(|(_, lots)| *lots)
}

/// Whether a view by `viewer` (as they are now) of a participant in `unit`
/// whose lots at the time was `lots` was outside the viewer's own caseload
/// (`access::within_caseload`). A view by an API token or the CLI has no
/// caseload (`viewer` is `None`): outside.
pub fn outside_caseload(
    viewer: Option<&Viewer>,
    participant: ParticipantId,
    unit: UnitId,
    lots: Option<StaffId>,
) -> bool {
    let Some(v) = viewer else {
        return true;
    };
    !within_caseload(
        v,
        &Subject {
            id: participant,
            unit,
            lots,
            shield: Shield::Open,
        },
    )
}

/// The routine check's sample: `n` of `ids` (audit row ids), the same for
/// the same `period` (e.g. `2026-11`) and `seed` whoever draws it and
/// whenever, however the ids are ordered: each id is ranked by the
/// SHA-256 of period, seed and id, and the `n` lowest are taken. Newest
/// (highest id) first.
pub fn sample(ids: &[i64], period: &str, seed: &str, n: usize) -> Vec<i64> {
    let mut ranked: Vec<([u8; 32], i64)> = ids
        .iter()
        .map(|id| {
            let mut h = Sha256::new();
            h.update(period.as_bytes());
            h.update([0]);
            h.update(seed.as_bytes());
            h.update([0]);
            h.update(id.to_be_bytes());
            (h.finalize().into(), *id)
        })
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by_key(|(_, id)| *id);
    let mut out: Vec<i64> = ranked.into_iter().take(n).map(|(_, id)| id).collect();
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use proptest::prelude::*;

    fn s(id: i64) -> StaffId {
        StaffId::from_db(id)
    }

    #[test]
    fn targets_and_actors() {
        assert_eq!(
            participant_of("participant:7"),
            Some(ParticipantId::from_db(7))
        );
        assert_eq!(participant_of("participant:x"), None);
        assert_eq!(participant_of("unit:7"), None);
        assert_eq!(staff_of("staff:3"), Some(s(3)));
        assert_eq!(staff_of("api:crm"), None);
        assert!(is_denied("case.denied"));
        assert!(!is_denied("case.view"));
    }

    #[test]
    fn the_lots_at_the_time_of_a_view() {
        // Never reassigned: today's lots.
        assert_eq!(lots_at(&[], Some(s(4)), 10), Some(s(4)));
        let h = [(100, Some(s(1))), (200, None), (300, Some(s(2)))];
        assert_eq!(
            lots_at(&h, Some(s(2)), 50),
            None,
            "before the first event: unknown"
        );
        assert_eq!(lots_at(&h, Some(s(2)), 100), Some(s(1)));
        assert_eq!(lots_at(&h, Some(s(2)), 250), None);
        assert_eq!(lots_at(&h, Some(s(2)), 301), Some(s(2)));
    }

    #[test]
    fn outside_one_s_caseload() {
        let unit = UnitId::from_db(1);
        let p = ParticipantId::from_db(9);
        let lots = Viewer {
            id: s(7),
            role: Role::Lots,
            unit: Some(unit),
        };
        let coord = Viewer {
            id: s(3),
            role: Role::Coordinator,
            unit: Some(UnitId::from_db(2)),
        };
        let admin = Viewer {
            id: s(1),
            role: Role::Admin,
            unit: None,
        };
        assert!(!outside_caseload(Some(&lots), p, unit, Some(s(7))));
        assert!(outside_caseload(Some(&lots), p, unit, Some(s(8))));
        assert!(outside_caseload(Some(&coord), p, unit, Some(s(7))));
        assert!(outside_caseload(Some(&admin), p, unit, Some(s(7))));
        assert!(outside_caseload(None, p, unit, Some(s(7))));
    }

    #[test]
    fn the_sample_is_stable_of_size_n_and_depends_on_month_and_seed() {
        let ids: Vec<i64> = (1..=200).collect();
        let a = sample(&ids, "2026-11", "", 10);
        assert_eq!(a.len(), 10);
        let mut reversed = ids.clone();
        reversed.reverse();
        assert_eq!(
            sample(&reversed, "2026-11", "", 10),
            a,
            "order of ids does not matter"
        );
        assert_ne!(sample(&ids, "2026-12", "", 10), a);
        assert_ne!(sample(&ids, "2026-11", "x", 10), a);
        assert_eq!(
            sample(&ids[..5], "2026-11", "", 10).len(),
            5,
            "fewer views than n: all"
        );
    }

    proptest! {
        #[test]
        fn a_sample_is_a_subset_without_repeats(ids in proptest::collection::vec(1i64..10_000, 0..300), n in 0usize..50) {
            let got = sample(&ids, "2026-01", "seed", n);
            let mut distinct = ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            prop_assert_eq!(got.len(), n.min(distinct.len()));
            prop_assert!(got.iter().all(|g| distinct.contains(g)));
            prop_assert!(got.windows(2).all(|w| w[0] > w[1]));
        }
    }
}
