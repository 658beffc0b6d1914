//! Who may see and do what in the staff web UI, as pure functions. Every
//! handler asks these; none decides by itself.
//!
//! - **admin**: everything, every unit, and the audit log.
//! - **coordinator**: every participant of their own unit, their unit's
//!   settings and monitoring.
//! - **lots**: their own caseload in full; the unit's calendar (times, no
//!   case notes). Another lots's participant is 403, even by URL.
//! - **assistant**: times and phone numbers in their unit, no case record.
//! - **reviewer** ("granskare"): the log review (loggkontroll) and nothing
//!   else: no case record, no list of participants, no settings.
//!
//! A participant with a protected identity ("skyddad identitet") is seen
//! only by the staff an admin named for them, and by those only as far as
//! their role allows: protection narrows, it never widens. Everyone else,
//! admins included, gets nothing ([`case_access`], [`shows`]).
//!
//! Also: the password rule and the slow-down after failed logins.

use super::{ParticipantId, Role, StaffId, UnitId};
use chrono::{DateTime, Duration, Utc};

/// The logged-in staff member, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub id: StaffId,
    pub role: Role,
    pub unit: Option<UnitId>,
}

/// What a participant is, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub id: ParticipantId,
    pub unit: UnitId,
    pub lots: Option<StaffId>,
    /// Protected identity, and whether the viewer asking is named.
    pub shield: Shield,
}

/// Whether a participant's identity is protected, as seen by one viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shield {
    /// Not protected: the role rules alone decide.
    Open,
    /// Protected; `named`: the viewer is one of the staff named for them.
    Protected { named: bool },
}

impl Shield {
    /// The shield of a participant (`protected`, with the staff named for
    /// them) for the viewer `viewer`.
    pub fn of(protected: bool, named: &[StaffId], viewer: StaffId) -> Shield {
        if protected {
            Shield::Protected {
                named: named.contains(&viewer),
            }
        } else {
            Shield::Open
        }
    }
}

/// Whether a participant may appear at all (in a list, a search, a
/// calendar, an export, a tally) for `viewer`: not protected, or the
/// viewer is named for them. The role rules still apply on top.
pub fn shows(viewer: StaffId, protected: bool, named: &[StaffId]) -> bool {
    Shield::of(protected, named, viewer) != Shield::Protected { named: false }
}

/// How much of one participant a viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaseAccess {
    /// Nothing: 403.
    None,
    /// Times and phone numbers: appointments and channels, no journal,
    /// replies, tasks, consent or notes.
    Contact,
    /// The whole case record.
    Full,
}

pub fn case_access(v: &Viewer, p: &Subject) -> CaseAccess {
    if p.shield == (Shield::Protected { named: false }) {
        return CaseAccess::None;
    }
    let same_unit = v.unit == Some(p.unit);
    match v.role {
        Role::Admin => CaseAccess::Full,
        Role::Coordinator if same_unit => CaseAccess::Full,
        Role::Lots if p.lots == Some(v.id) => CaseAccess::Full,
        Role::Assistant if same_unit => CaseAccess::Contact,
        _ => CaseAccess::None,
    }
}

/// Whether a view of `p` by `v` stayed within the viewer's own work: the
/// participant's lots, or a coordinator or assistant of the participant's
/// unit. Admins and reviewers have no caseload, so every view of theirs is
/// outside it; so is every refused attempt's, whoever made it. The log
/// review's "views outside one's own caseload" is the complement.
pub fn within_caseload(v: &Viewer, p: &Subject) -> bool {
    match v.role {
        Role::Lots => p.lots == Some(v.id),
        Role::Coordinator | Role::Assistant => v.unit == Some(p.unit),
        Role::Admin | Role::Reviewer => false,
    }
}

const REVIEWER_PAGES: &[&str] = &[
    "/review",
    "/audit",
    "/account",
    "/logout",
    "/accessibility",
    "/lang",
    "/static",
];

/// The pages a reviewer may open: the log review, their own account, the
/// accessibility statement and logging out. Everything else is 403.
pub fn reviewer_may_open(path: &str) -> bool {
    REVIEWER_PAGES.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Whether the viewer sees a unit's calendar (times and first names, no
/// case notes).
pub fn sees_unit_calendar(v: &Viewer, unit: UnitId) -> bool {
    v.role == Role::Admin || (v.role != Role::Reviewer && v.unit == Some(unit))
}

/// Things a viewer may do that are not about one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Add a participant (to the viewer's unit; a lots becomes their lots).
    AddParticipant,
    /// Give a participant another lots.
    AssignLots,
    /// Reminder rules, quiet hours, retention, template previews.
    Settings,
    /// Message search, CSV export, delivery charts, costs.
    Monitoring,
    /// Add staff, set their passwords.
    ManageStaff,
    /// Read the audit log and record log reviews.
    ReadAudit,
    /// Groups and broadcasts.
    Broadcast,
    /// Mark a participant protected and name who may see them.
    Protect,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::AddParticipant,
        Action::AssignLots,
        Action::Settings,
        Action::Monitoring,
        Action::ManageStaff,
        Action::ReadAudit,
        Action::Broadcast,
        Action::Protect,
    ];
}

pub fn may(v: &Viewer, a: Action) -> bool {
    use Action::*;
    match v.role {
        Role::Admin => true,
        // A reviewer reviews the log, with or without a unit.
        Role::Reviewer => matches!(a, ReadAudit),
        // Without a unit a coordinator, lots or assistant can do nothing
        // unit-bound.
        _ if v.unit.is_none() => false,
        Role::Coordinator => matches!(
            a,
            AddParticipant | AssignLots | Settings | Monitoring | Broadcast
        ),
        Role::Lots => matches!(a, AddParticipant),
        Role::Assistant => false,
    }
}

/// Whether the viewer sees the message previews, the unit's own wording
/// included: whoever may change settings (and so edit that wording), and a
/// lots, read-only, to know what their participants get.
pub fn sees_templates(v: &Viewer) -> bool {
    may(v, Action::Settings) || (v.role == Role::Lots && v.unit.is_some())
}

/// Whether a viewer acts on a unit's settings, monitoring or calendar: an
/// admin on any, everyone else on their own.
pub fn in_unit(v: &Viewer, unit: UnitId) -> bool {
    v.role == Role::Admin || (v.role != Role::Reviewer && v.unit == Some(unit))
}

/// A password as chosen: 10-200 characters, not all the same character.
/// Length beats composition rules (NIST SP 800-63B), so there are none.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

pub const MIN_PASSWORD_CHARS: usize = 10;

impl Password {
    pub fn parse(s: &str) -> Result<Password, String> {
        let n = s.chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        if n > 200 {
            return Err("a password has at most 200 characters".into());
        }
        let mut cs = s.chars();
        let first = cs.next();
        if cs.all(|c| Some(c) == first) {
            return Err("a password cannot be one character repeated".into());
        }
        Ok(Password(s.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Failed logins before the first wait.
pub const FREE_LOGIN_TRIES: i64 = 3;
/// The longest wait between tries.
pub const MAX_LOGIN_WAIT: Duration = Duration::minutes(15);

/// Until when a username with `failures` failed logins, the last at
/// `last_at`, must wait before a password is even checked. `None`: it may
/// try now. Three tries are free; then 5 s, doubling per failure, at most
/// 15 minutes. The wait is per username, known or not, so it says nothing
/// about whether an account exists.
pub fn login_wait(
    failures: i64,
    last_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if failures < FREE_LOGIN_TRIES {
        return None;
    }
    let doublings = (failures - FREE_LOGIN_TRIES).min(20) as u32;
    let wait = (Duration::seconds(5) * (1i32 << doublings)).min(MAX_LOGIN_WAIT);
    let until = last_at + wait;
    (until > now).then_some(until)
}

/// How long a session lives without use, and at most.
pub const SESSION_IDLE: Duration = Duration::hours(2);
pub const SESSION_MAX: Duration = Duration::hours(12);

/// Whether a session created at `created` and last used at `last_seen` is
/// still good at `now`.
pub fn session_alive(created: DateTime<Utc>, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < last_seen + SESSION_IDLE && now < created + SESSION_MAX && now >= created
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROLES: [Role; 5] = [
        Role::Admin,
        Role::Coordinator,
        Role::Lots,
        Role::Assistant,
        Role::Reviewer,
    ];

    fn v(role: Role, id: i64, unit: Option<i64>) -> Viewer {
        Viewer {
            id: StaffId::from_db(id),
            role,
            unit: unit.map(UnitId::from_db),
        }
    }
    fn p(unit: i64, lots: Option<i64>) -> Subject {
        Subject {
            id: ParticipantId::from_db(1),
            unit: UnitId::from_db(unit),
            lots: lots.map(StaffId::from_db),
            shield: Shield::Open,
        }
    }

    #[test]
    fn the_access_table() {
        use CaseAccess::{Contact, Full};
        let no = CaseAccess::None;
        // (role, viewer unit, participant unit, participant's lots is the viewer, expected)
        let table = [
            (Role::Admin, Some(1), 2, false, Full),
            (Role::Admin, None, 2, false, Full),
            (Role::Coordinator, Some(1), 1, false, Full),
            (Role::Coordinator, Some(1), 2, false, no),
            (Role::Coordinator, None, 1, false, no),
            (Role::Lots, Some(1), 1, true, Full),
            (Role::Lots, Some(1), 1, false, no),
            (Role::Lots, Some(1), 2, true, Full),
            (Role::Lots, Some(1), 2, false, no),
            (Role::Assistant, Some(1), 1, false, Contact),
            (Role::Assistant, Some(1), 1, true, Contact),
            (Role::Assistant, Some(1), 2, false, no),
            (Role::Assistant, None, 1, false, no),
            (Role::Reviewer, Some(1), 1, false, no),
            (Role::Reviewer, Some(1), 1, true, no),
            (Role::Reviewer, None, 1, false, no),
        ];
        for (role, vu, pu, mine, want) in table {
            let viewer = v(role, 7, vu);
            let subject = p(pu, mine.then_some(7).or(Some(8)));
            assert_eq!(
                case_access(&viewer, &subject),
                want,
                "{role:?} unit {vu:?} looking at unit {pu}, own: {mine}"
            );
        }
    }

    #[test]
    fn only_admins_and_reviewers_read_the_audit_log_only_admins_manage_staff() {
        for role in ROLES {
            for unit in [None, Some(1)] {
                let viewer = v(role, 1, unit);
                assert_eq!(
                    may(&viewer, Action::ReadAudit),
                    matches!(role, Role::Admin | Role::Reviewer)
                );
                assert_eq!(may(&viewer, Action::ManageStaff), role == Role::Admin);
                assert_eq!(may(&viewer, Action::Protect), role == Role::Admin);
            }
        }
    }

    #[test]
    fn a_reviewer_may_do_nothing_but_review() {
        for unit in [None, Some(1)] {
            let r = v(Role::Reviewer, 1, unit);
            for a in Action::ALL {
                assert_eq!(may(&r, a), a == Action::ReadAudit, "{a:?}");
            }
            assert!(!sees_unit_calendar(&r, UnitId::from_db(1)));
            assert!(!in_unit(&r, UnitId::from_db(1)));
            assert!(!sees_templates(&r));
        }
        for ok in [
            "/review",
            "/review/export.csv",
            "/audit",
            "/account",
            "/logout",
            "/lang/en",
            "/static/app.css",
        ] {
            assert!(reviewer_may_open(ok), "{ok}");
        }
        for no in [
            "/today",
            "/participants/1",
            "/auditx",
            "/reviewer",
            "/calendar",
            "/api/v1/participants",
            "/",
        ] {
            assert!(!reviewer_may_open(no), "{no}");
        }
    }

    #[test]
    fn a_protected_participant_is_seen_only_by_named_staff_and_only_as_their_role_allows() {
        let named = [StaffId::from_db(7)];
        let mut subject = p(1, Some(7));
        // (role, viewer id, viewer unit, expected)
        let table = [
            (Role::Admin, 9, None, CaseAccess::None),
            (Role::Admin, 7, None, CaseAccess::Full),
            (Role::Coordinator, 9, Some(1), CaseAccess::None),
            (Role::Lots, 7, Some(1), CaseAccess::Full),
            (Role::Lots, 8, Some(1), CaseAccess::None),
            (Role::Assistant, 9, Some(1), CaseAccess::None),
            // Named, but the role gives nothing: protection never widens.
            (Role::Coordinator, 7, Some(2), CaseAccess::None),
            (Role::Assistant, 7, Some(1), CaseAccess::Contact),
        ];
        for (role, id, unit, want) in table {
            let viewer = v(role, id, unit);
            subject.shield = Shield::of(true, &named, viewer.id);
            assert_eq!(case_access(&viewer, &subject), want, "{role:?} {id}");
            assert_eq!(
                shows(viewer.id, true, &named),
                id == 7,
                "{role:?} {id} in lists"
            );
        }
        assert!(shows(StaffId::from_db(9), false, &[]));
        assert!(shows(StaffId::from_db(9), false, &named));
        assert!(!shows(StaffId::from_db(9), true, &[]));
    }

    #[test]
    fn within_caseload_is_the_lots_or_the_unit_never_an_admin() {
        let mine = p(1, Some(7));
        assert!(within_caseload(&v(Role::Lots, 7, Some(1)), &mine));
        assert!(!within_caseload(&v(Role::Lots, 8, Some(1)), &mine));
        assert!(within_caseload(&v(Role::Coordinator, 3, Some(1)), &mine));
        assert!(!within_caseload(&v(Role::Coordinator, 3, Some(2)), &mine));
        assert!(within_caseload(&v(Role::Assistant, 4, Some(1)), &mine));
        assert!(!within_caseload(&v(Role::Admin, 1, None), &mine));
        assert!(!within_caseload(&v(Role::Reviewer, 5, Some(1)), &mine));
    }

    #[test]
    fn assistants_may_do_nothing_beyond_times_and_numbers() {
        for a in Action::ALL {
            assert!(!may(&v(Role::Assistant, 1, Some(1)), a), "{a:?}");
        }
    }

    #[test]
    fn without_a_unit_only_an_admin_may_act() {
        for role in ROLES {
            for a in Action::ALL {
                assert_eq!(
                    may(&v(role, 1, None), a),
                    role == Role::Admin || (role == Role::Reviewer && a == Action::ReadAudit),
                    "{role:?} {a:?}"
                );
            }
        }
    }

    #[test]
    fn coordinators_run_their_unit_lotsar_their_caseload() {
        let c = v(Role::Coordinator, 1, Some(1));
        let l = v(Role::Lots, 2, Some(1));
        for a in [
            Action::Settings,
            Action::Monitoring,
            Action::AssignLots,
            Action::Broadcast,
        ] {
            assert!(may(&c, a));
            assert!(!may(&l, a));
        }
        assert!(may(&l, Action::AddParticipant));
        assert!(in_unit(&c, UnitId::from_db(1)));
        assert!(!in_unit(&c, UnitId::from_db(2)));
        assert!(in_unit(&v(Role::Admin, 1, None), UnitId::from_db(2)));
    }

    #[test]
    fn lotsar_see_the_message_texts_but_only_settings_roles_edit_them() {
        assert!(sees_templates(&v(Role::Lots, 2, Some(1))));
        assert!(sees_templates(&v(Role::Coordinator, 1, Some(1))));
        assert!(sees_templates(&v(Role::Admin, 1, None)));
        assert!(!sees_templates(&v(Role::Assistant, 3, Some(1))));
        assert!(!sees_templates(&v(Role::Lots, 2, None)));
        assert!(!may(&v(Role::Lots, 2, Some(1)), Action::Settings));
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("kort").is_err());
        assert!(Password::parse("aaaaaaaaaaaa").is_err());
        assert!(Password::parse(&"ab".repeat(101)).is_err());
        let ok = Password::parse("korrekt häst batteri").unwrap();
        assert_eq!(ok.expose(), "korrekt häst batteri");
        assert_eq!(format!("{ok:?}"), "Password(***)");
    }

    #[test]
    fn login_wait_starts_after_three_failures_and_doubles() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for f in 0..FREE_LOGIN_TRIES {
            assert_eq!(login_wait(f, t, t), None);
        }
        assert_eq!(login_wait(3, t, t), Some(t + Duration::seconds(5)));
        assert_eq!(login_wait(4, t, t), Some(t + Duration::seconds(10)));
        assert_eq!(login_wait(3, t, t + Duration::seconds(5)), None);
        assert_eq!(login_wait(1000, t, t), Some(t + MAX_LOGIN_WAIT));
    }

    proptest! {
        #[test]
        fn login_wait_never_shrinks_and_never_exceeds_the_cap(f in 0i64..10_000, secs in 0i64..100_000) {
            let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
            let now = t + Duration::seconds(secs);
            let a = login_wait(f, t, now);
            let b = login_wait(f + 1, t, now);
            if let Some(a) = a { prop_assert!(b.is_some_and(|b| b >= a)); }
            if let Some(b) = b { prop_assert!(b <= t + MAX_LOGIN_WAIT && b > now); }
        }

        #[test]
        fn a_session_dies_after_idle_or_max(created in 0i64..1_000_000, seen in 0i64..100_000, later in 0i64..100_000) {
            let c = DateTime::from_timestamp(1_800_000_000 + created, 0).unwrap();
            let s = c + Duration::seconds(seen);
            let now = s + Duration::seconds(later);
            let alive = session_alive(c, s, now);
            prop_assert_eq!(alive, now - s < SESSION_IDLE && now - c < SESSION_MAX);
        }

        #[test]
        fn a_lots_sees_in_full_exactly_their_own(me in 1i64..5, theirs in proptest::option::of(1i64..5), vu in 1i64..3, pu in 1i64..3) {
            let got = case_access(&v(Role::Lots, me, Some(vu)), &p(pu, theirs));
            prop_assert_eq!(got == CaseAccess::Full, theirs == Some(me));
            prop_assert!(got != CaseAccess::Contact);
        }
    }
}
