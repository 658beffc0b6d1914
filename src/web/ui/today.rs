//! "Idag" (the start page) and the unit calendar.
//!
//! - `GET /today`: today's and tomorrow's appointments the viewer works
//!   with (a lots: their caseload; a coordinator or assistant: their unit;
//!   an admin: every unit), each with its reminders' delivery state, the
//!   reply and attendance buttons; earlier appointments of the last week
//!   whose attendance is still unrecorded; and the viewer's open tasks.
//!   An assistant sees times and first names only. Each view is audited
//!   (`today.view`, naming the participants shown).
//! - `POST /appointments/{id}/attendance`: attended / absent / excused,
//!   through [`Engine::record_attendance`](crate::engine::Engine::record_attendance);
//!   full case access only.
//! - `POST /tasks/{id}/done`: through
//!   [`Engine::mark_task_done`](crate::engine::Engine::mark_task_done);
//!   full case access to the task's participant only.
//! - After each of those the page comes back at the same card (an anchor)
//!   with what happened ("Klar: Ali, förhinder") and an undo button:
//!   `POST /appointments/{id}/attendance/undo` and `POST /tasks/{id}/undo`
//!   ([`Engine::undo_attendance`](crate::engine::Engine::undo_attendance),
//!   [`Engine::undo_task_done`](crate::engine::Engine::undo_task_done),
//!   audited as `attendance.undo` and `task.undo`). The query names only
//!   ids; the words are read from the database, with the viewer's access.
//! - `GET /calendar?from=YYYY-MM-DD`: a week of the unit's appointments
//!   (an admin: every unit's), times, first names and kinds only.

use super::{Me, Posted, Ui, UiError, local_date, local_dt, render, see_other, t, ta};
use crate::domain::access::CaseAccess;
use crate::domain::{
    AppointmentId, AppointmentKind, Attendance, Language, ReplyState, Role, TaskKind,
};
use crate::engine::day::{self, DayRow, Scope, Slot};
use crate::engine::reads::Viewed;
use crate::error::Error;
use crate::store::ui_today::{self, OpenTask, TaskScope};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;

/// Rows shown at most per list; more is a sign the page is the wrong tool.
const MAX_ROWS: i64 = 500;
/// How far back unrecorded attendance is offered.
const EARLIER_DAYS: i64 = 7;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/today", get(today_page))
        .route("/calendar", get(calendar_page))
        .route("/appointments/{id}/attendance", post(record_attendance))
        .route("/appointments/{id}/attendance/undo", post(undo_attendance))
        .route("/appointments/{id}/reply", post(record_reply))
        .route("/tasks/{id}/done", post(task_done))
        .route("/tasks/{id}/undo", post(undo_task_done))
}

fn db_err(lang: Language) -> impl Fn(Error) -> UiError {
    move |e| UiError::from_engine(e, lang)
}

/// The viewer's time zone: their unit's, else Stockholm.
async fn viewer_tz(s: &AppState, me: &Me) -> Result<Tz, UiError> {
    match me.staff.unit_id {
        Some(u) => {
            let mut c = s.engine.db.conn().await.map_err(db_err(me.lang))?;
            Ok(crate::store::units::get(&mut c, u)
                .await
                .map_err(db_err(me.lang))?
                .time_zone)
        }
        None => Ok(chrono_tz::Europe::Stockholm),
    }
}

/// Midnight starting `day` in `tz`, as an instant.
fn access(me: &Me, slot: &Slot) -> CaseAccess {
    me.access_to(slot.participant_id, slot.unit_id, slot.lots_id)
}

fn kind_label(lang: Language, k: AppointmentKind) -> String {
    t(lang, &format!("ui-today-kind-{}", k.as_str()))
}

/// A label and the CSS class of its badge.
pub struct Badge {
    pub class: &'static str,
    pub label: String,
}

/// One appointment as a card.
pub struct ApptView {
    pub id: i64,
    pub when: String,
    pub kind: String,
    pub first_name: String,
    /// `/participants/{id}`, where the viewer may open the participant.
    pub link: Option<String>,
    /// Shown to admins, who see every unit.
    pub unit: Option<String>,
    pub cancelled: bool,
    /// The rest only with full case access.
    pub full: bool,
    pub delivery: Option<Badge>,
    pub reply: Option<Badge>,
    pub attendance: Option<Badge>,
    /// Started (or over), not cancelled, full access: the buttons.
    pub can_record: bool,
    /// "Närvaro för Ali, tis 8 dec 09:00": the buttons' group label.
    pub group_label: String,
    /// Not started, not cancelled, full access: the participant's answer
    /// given by phone can be recorded ("Svar per telefon").
    pub can_reply: bool,
    /// "Svar från Ali, tis 8 dec 09:00": those buttons' group label.
    pub reply_label: String,
}

fn appt_view(me: &Me, row: Option<&DayRow>, slot: &Slot, now: DateTime<Utc>) -> ApptView {
    let l = me.lang;
    let a = access(me, slot);
    let full = a == CaseAccess::Full && row.is_some();
    let when = local_dt(l, slot.starts_at, slot.time_zone);
    let delivery = row.filter(|_| full).map(|r| match r.delivery {
        Some(d) => Badge {
            class: d.as_str(),
            label: t(l, &format!("ui-today-delivery-{}", d.as_str())),
        },
        None => Badge {
            class: "none",
            label: t(l, "ui-today-delivery-none"),
        },
    });
    let reply = row.filter(|_| full).map(|r| match r.reply {
        // "kommer lite sent": coming, late, by so many minutes.
        ReplyState::Coming if r.reply_late => Badge {
            class: "late",
            label: match r.reply_late_min {
                Some(min) => ta(l, "ui-today-reply-late-min", &[("min", min.to_string())]),
                None => t(l, "ui-today-reply-late"),
            },
        },
        ReplyState::Coming => Badge {
            class: "coming",
            label: t(l, "ui-today-reply-coming"),
        },
        ReplyState::Cannot => Badge {
            class: "cannot",
            label: match r.reply_reason.as_deref().map(str::trim) {
                Some(reason) if !reason.is_empty() => ta(
                    l,
                    "ui-today-reply-cannot-reason",
                    &[("reason", reason.to_string())],
                ),
                _ => t(l, "ui-today-reply-cannot"),
            },
        },
        // "förhinder" fitted this and another appointment: the bot asked
        // which, and the answer is not in yet.
        ReplyState::None if r.awaiting_choice.is_some() => Badge {
            class: "pending",
            label: ta(
                l,
                "ui-today-reply-asked-which",
                &[(
                    "reply",
                    t(
                        l,
                        &format!(
                            "ui-today-reply-{}",
                            r.awaiting_choice.unwrap_or(ReplyState::None).as_str()
                        ),
                    ),
                )],
            ),
        },
        ReplyState::None => Badge {
            class: "pending",
            label: t(l, "ui-today-reply-none"),
        },
    });
    let attendance = row
        .filter(|_| full)
        .and_then(|r| attendance_badge(l, r.attendance));
    ApptView {
        id: slot.id.get(),
        kind: kind_label(l, slot.kind),
        first_name: slot.first_name.clone(),
        link: (a != CaseAccess::None).then(|| format!("/participants/{}", slot.participant_id)),
        unit: (me.staff.role == Role::Admin).then(|| slot.unit_name.clone()),
        cancelled: slot.cancelled,
        full,
        delivery,
        reply,
        attendance,
        can_record: full && !slot.cancelled && slot.starts_at <= now,
        group_label: ta(
            l,
            "ui-today-attendance-label",
            &[("name", slot.first_name.clone()), ("when", when.clone())],
        ),
        can_reply: full && !slot.cancelled && slot.starts_at > now,
        reply_label: ta(
            l,
            "ui-today-reply-label",
            &[("name", slot.first_name.clone()), ("when", when.clone())],
        ),
        when,
    }
}

fn attendance_badge(l: Language, a: Attendance) -> Option<Badge> {
    let class = match a {
        Attendance::Unknown => return None,
        Attendance::Attended => "attended",
        Attendance::Absent => "absent",
        Attendance::Excused => "excused",
    };
    Some(Badge {
        class,
        label: t(l, &format!("ui-today-attendance-{class}")),
    })
}

/// One open task.
pub struct TaskView {
    pub id: i64,
    pub kind: String,
    pub first_name: String,
    pub link: Option<String>,
    pub created: String,
    /// The reason, the message, the appointment: what the task is about.
    pub details: Vec<String>,
    pub unassigned: bool,
    pub can_close: bool,
    pub done_label: String,
}

fn task_view(me: &Me, o: &OpenTask, tz: Tz) -> Option<TaskView> {
    let l = me.lang;
    let a = me.access_to(o.task.participant_id, o.task.unit_id, o.lots_id);
    if a == CaseAccess::None {
        return None;
    }
    let d = &o.task.detail;
    let s = |k: &str| {
        d.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut details = Vec::new();
    match o.task.kind {
        TaskKind::Cannot | TaskKind::LateReply => {
            if let Some(r) = s("reason") {
                details.push(ta(l, "ui-today-task-reason", &[("reason", r)]));
            } else if o.task.kind == TaskKind::LateReply {
                let key = match s("reply").as_deref() {
                    Some("coming") => Some("ui-today-reply-coming"),
                    Some("cannot") => Some("ui-today-reply-cannot"),
                    _ => None,
                };
                details.extend(key.map(|k| t(l, k)));
            }
        }
        TaskKind::NotUnderstood => {
            if let Some(text) = s("text") {
                details.push(ta(l, "ui-today-task-text", &[("text", text)]));
            }
        }
        TaskKind::DeliveryFailed => {
            if let Some(ch) = s("channel") {
                details.push(ta(l, "ui-today-task-channel", &[("channel", ch)]));
            }
        }
        TaskKind::ConsentExpiring => {
            if let Some(at) = s("expires_at").and_then(|v| v.parse::<DateTime<Utc>>().ok()) {
                details.push(ta(
                    l,
                    "ui-today-task-expires",
                    &[("date", local_date(l, at, o.time_zone))],
                ));
            }
        }
        TaskKind::Gap => {
            if let Some(days) = d.get("days").and_then(serde_json::Value::as_i64) {
                details.push(ta(l, "ui-today-task-gap", &[("days", days.to_string())]));
            }
        }
        TaskKind::ComingLate => {
            let key = match d.get("minutes").and_then(serde_json::Value::as_i64) {
                Some(min) => ta(l, "ui-today-reply-late-min", &[("min", min.to_string())]),
                None => t(l, "ui-today-reply-late"),
            };
            details.push(key);
        }
        TaskKind::NoReply => {}
    }
    if let Some(at) = o.appointment_starts_at {
        details.push(ta(
            l,
            "ui-today-task-appointment",
            &[("when", local_dt(l, at, o.time_zone))],
        ));
    }
    Some(TaskView {
        id: o.task.id,
        kind: t(l, &format!("ui-today-task-kind-{}", o.task.kind.as_str())),
        first_name: o.first_name.clone(),
        link: Some(format!("/participants/{}", o.task.participant_id)),
        created: ta(
            l,
            "ui-today-task-created",
            &[("when", local_dt(l, o.task.created_at, tz))],
        ),
        details,
        unassigned: o.task.assigned_to.is_none(),
        can_close: a == CaseAccess::Full,
        done_label: ta(
            l,
            "ui-today-task-done-label",
            &[("name", o.first_name.clone())],
        ),
    })
}

/// What just happened, shown once after a redirect.
pub struct Flash {
    pub text: String,
    /// The appointment card it is shown in; 0: above the tasks.
    pub appt: i64,
    /// The undo button's form action (empty: none) and its `to` value.
    pub undo_action: String,
    pub undo_to: String,
    pub undo_label: String,
}

/// The query after a redirect: which appointment or task, by id only.
#[derive(Deserialize, Default)]
struct TodayQuery {
    /// Attendance recorded for this appointment; `prev`: what it was.
    #[serde(default)]
    att: Option<String>,
    #[serde(default)]
    prev: Option<String>,
    /// Attendance undone for this appointment.
    #[serde(default)]
    att_undone: Option<String>,
    /// A reply given by phone recorded for this appointment.
    #[serde(default)]
    replied: Option<String>,
    /// This task marked done, or opened again.
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    reopened: Option<String>,
}

/// The flash a query asks for, when the viewer has full access to the
/// participant it is about; none otherwise (it is only a courtesy).
async fn flash(s: &AppState, me: &Me, q: &TodayQuery) -> Option<Flash> {
    let l = me.lang;
    let none = || Flash {
        text: String::new(),
        appt: 0,
        undo_action: String::new(),
        undo_to: String::new(),
        undo_label: String::new(),
    };
    if let Some(id) = q.replied.as_deref() {
        let id: AppointmentId = id.parse().ok()?;
        let (a, p, access) = super::appointment_case(s, me, id).await.ok()?;
        if access != CaseAccess::Full || a.reply == ReplyState::None {
            return None;
        }
        let mut f = none();
        f.appt = a.id.get();
        f.text = ta(
            l,
            "ui-today-flash-replied",
            &[
                ("name", p.first_name),
                (
                    "reply",
                    t(l, &format!("ui-today-reply-{}", a.reply.as_str())),
                ),
            ],
        );
        return Some(f);
    }
    if let Some(id) = q.att.as_deref().or(q.att_undone.as_deref()) {
        let id: AppointmentId = id.parse().ok()?;
        let (a, p, access) = super::appointment_case(s, me, id).await.ok()?;
        if access != CaseAccess::Full {
            return None;
        }
        let mut f = none();
        f.appt = a.id.get();
        if q.att_undone.is_some() {
            f.text = ta(l, "ui-today-flash-undone", &[("name", p.first_name)]);
            return Some(f);
        }
        let what = match attendance_badge(l, a.attendance) {
            Some(b) => b.label.to_lowercase(),
            None => return None,
        };
        f.text = ta(
            l,
            "ui-today-flash-attendance",
            &[("name", p.first_name.clone()), ("what", what)],
        );
        if let Some(prev) = q.prev.as_deref().and_then(|x| x.parse::<Attendance>().ok())
            && prev != a.attendance
        {
            f.undo_action = format!("/appointments/{}/attendance/undo", a.id);
            f.undo_to = prev.to_string();
            f.undo_label = ta(
                l,
                "ui-today-undo-attendance",
                &[("name", p.first_name.clone())],
            );
        }
        return Some(f);
    }
    let (id, done) = match (q.done.as_deref(), q.reopened.as_deref()) {
        (Some(id), _) => (id, true),
        (None, Some(id)) => (id, false),
        _ => return None,
    };
    let id: i64 = id.parse().ok()?;
    let task = {
        let mut c = s.engine.db.conn().await.ok()?;
        crate::store::tasks::get(&mut c, id).await.ok()?
    };
    let (p, access) = super::case(s, me, task.participant_id, false).await.ok()?;
    if access != CaseAccess::Full {
        return None;
    }
    let what = t(l, &format!("ui-today-task-kind-{}", task.kind.as_str())).to_lowercase();
    let mut f = none();
    let args = [("name", p.first_name.clone()), ("what", what)];
    if done {
        f.text = ta(l, "ui-today-flash-done", &args);
        if task.done_at.is_some() {
            f.undo_action = format!("/tasks/{id}/undo");
            f.undo_label = ta(l, "ui-today-undo-task", &[("name", p.first_name)]);
        }
    } else {
        f.text = ta(l, "ui-today-flash-reopened", &args);
    }
    Some(f)
}

#[derive(Template)]
#[template(path = "ui/today.html")]
struct TodayPage {
    ui: Ui,
    flash: Option<Flash>,
    /// The flash belongs to a card on the page (shown in it).
    flash_in_card: bool,
    today_heading: String,
    tomorrow_heading: String,
    today: Vec<ApptView>,
    tomorrow: Vec<ApptView>,
    earlier: Vec<ApptView>,
    /// Assistants: times and first names only, no tasks.
    contact_only: bool,
    tasks: Vec<TaskView>,
    truncated: bool,
    /// Admins: webhook receivers switched off after a day of failures
    /// (their URL and since when), until switched on again.
    hooks_off: Vec<(String, String)>,
}

async fn today_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<TodayQuery>,
) -> Result<Response, UiError> {
    let l = me.lang;
    let now = Utc::now();
    let flash = flash(&s, &me, &q).await;
    let tz = viewer_tz(&s, &me).await?;
    let scope = match (me.staff.role, me.staff.unit_id) {
        (Role::Admin, _) => Some(Scope::All),
        (Role::Lots, _) => Some(Scope::Caseload(me.staff.id)),
        (Role::Coordinator | Role::Assistant, Some(u)) => Some(Scope::Unit(u)),
        (Role::Coordinator | Role::Assistant, None) | (Role::Reviewer, _) => None,
    };
    let contact_only = me.staff.role == Role::Assistant;
    let date = now.with_timezone(&tz).date_naive();
    let (start, mid, end) = (
        day::midnight(date, tz),
        day::midnight(date + Duration::days(1), tz),
        day::midnight(date + Duration::days(2), tz),
    );
    let me_ref = &me;
    // The page shows parts of these case records (for an assistant: times
    // only); one audit row names them all.
    let (rows, earlier, task_views) = s
        .engine
        .read_audited(&me.actor(), now, async |c| {
            let mut rows = Vec::new();
            let mut earlier = Vec::new();
            if let Some(scope) = scope {
                rows = day::rows(c, scope, start, end, false, MAX_ROWS, now).await?;
                if !contact_only {
                    let from = start - Duration::days(EARLIER_DAYS);
                    earlier = day::rows(c, scope, from, start, true, MAX_ROWS, now).await?;
                }
                // Protected participants the viewer is not named for are
                // not on the page at all.
                let hidden = |r: &DayRow| me_ref.hidden.contains(&r.slot.participant_id);
                rows.retain(|r| !hidden(r));
                earlier.retain(|r| !hidden(r));
            }
            let mut tasks = Vec::new();
            if !contact_only {
                // A coordinator runs the unit: every open task of it,
                // whoever has it; everyone else the tasks assigned to them.
                let task_scope = match (me_ref.staff.role, me_ref.staff.unit_id) {
                    (Role::Coordinator, Some(u)) => TaskScope::Unit(u),
                    _ => TaskScope::Mine(me_ref.staff.id),
                };
                tasks = ui_today::open_tasks(c, task_scope, MAX_ROWS).await?;
            }
            let task_views: Vec<TaskView> = tasks
                .iter()
                .filter_map(|o| task_view(me_ref, o, tz))
                .collect();
            let mut shown: Vec<i64> = rows
                .iter()
                .chain(&earlier)
                .map(|r| r.slot.participant_id.get())
                .chain(
                    tasks
                        .iter()
                        .filter(|o| task_views.iter().any(|v| v.id == o.task.id))
                        .map(|o| o.task.participant_id.get()),
                )
                .collect();
            shown.sort_unstable();
            shown.dedup();
            let viewed = Viewed::new("today.view", format!("staff:{}", me_ref.staff.id))
                .with(json!({ "participants": shown, "contact_only": contact_only }));
            Ok(((rows, earlier, task_views), viewed))
        })
        .await
        .map_err(db_err(l))?;
    // An assistant's cards are built from the slot alone: no reply, no
    // delivery, no attendance.
    let view = |r: &DayRow| appt_view(&me, (!contact_only).then_some(r), &r.slot, now);
    let (today, tomorrow): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.slot.starts_at < mid);
    let flash_in_card = flash.as_ref().is_some_and(|f| {
        f.appt != 0
            && rows
                .iter()
                .chain(&earlier)
                .any(|r| r.slot.id.get() == f.appt)
    });
    let hooks_off = if me.staff.role == Role::Admin {
        s.engine
            .event_hooks_switched_off()
            .await
            .map_err(|e| UiError::from_engine(e, l))?
            .into_iter()
            .map(|e| {
                let since = e
                    .disabled_at
                    .map(|at| local_dt(l, at, tz))
                    .unwrap_or_default();
                (e.url, since)
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(render(&TodayPage {
        hooks_off,
        flash,
        flash_in_card,
        today_heading: ta(
            l,
            "ui-today-heading-today",
            &[("date", local_date(l, start, tz))],
        ),
        tomorrow_heading: ta(
            l,
            "ui-today-heading-tomorrow",
            &[("date", local_date(l, mid, tz))],
        ),
        today: today.into_iter().map(view).collect(),
        tomorrow: tomorrow.into_iter().map(view).collect(),
        earlier: earlier.iter().map(view).collect(),
        contact_only,
        tasks: task_views,
        truncated: rows.len() as i64 >= MAX_ROWS,
        ui: me.ui("/today"),
    }))
}

fn parse_id<T: std::str::FromStr>(lang: Language, id: &str) -> Result<T, UiError> {
    id.parse().map_err(|_| UiError::not_found(lang))
}

/// The appointment named in the path, when `me` sees its participant's
/// case in full (403 otherwise).
async fn appointment_in_full(s: &AppState, me: &Me, id: &str) -> Result<AppointmentId, UiError> {
    let id: AppointmentId = parse_id(me.lang, id)?;
    let (_, _, access) = super::appointment_case(s, me, id).await?;
    if access != CaseAccess::Full {
        return Err(UiError::forbidden(me.lang));
    }
    Ok(id)
}

#[derive(Deserialize)]
struct AttendanceForm {
    attendance: String,
}

async fn record_attendance(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<AttendanceForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let id = appointment_in_full(&s, &me, &id).await?;
    let attendance = match f.attendance.parse::<Attendance>() {
        Ok(a) if a != Attendance::Unknown => a,
        _ => {
            return Err(UiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                me.lang,
                &t(me.lang, "ui-today-attendance-invalid"),
            ));
        }
    };
    let (before, _, _) = super::appointment_case(&s, &me, id).await?;
    match s
        .engine
        .record_attendance(id, attendance, &me.actor(), Utc::now())
        .await
    {
        // Back at the card, saying what was recorded, with an undo.
        Ok(_) => Ok(see_other(&format!(
            "/today?att={id}&prev={}#a{id}",
            before.attendance
        ))),
        // Not started yet, or cancelled: say so in words.
        Err(Error::Conflict(_)) => Err(UiError::new(
            StatusCode::CONFLICT,
            me.lang,
            &t(me.lang, "ui-today-attendance-conflict"),
        )),
        Err(e) => Err(UiError::from_engine(e, me.lang)),
    }
}

#[derive(Deserialize)]
struct ReplyForm {
    reply: String,
    /// `case`: sent from the case record, which it returns to.
    #[serde(default)]
    back: String,
}

/// "Svar per telefon": the participant told staff `kommer` or
/// `förhinder` another way; recorded as their reply, back at the card.
async fn record_reply(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<ReplyForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let id = appointment_in_full(&s, &me, &id).await?;
    let reply = match f.reply.parse::<ReplyState>() {
        Ok(r) if r != ReplyState::None => r,
        _ => {
            return Err(UiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                me.lang,
                &t(me.lang, "ui-today-reply-invalid"),
            ));
        }
    };
    match s
        .engine
        .record_reply(id, reply, &me.actor(), Utc::now())
        .await
    {
        Ok(a) if f.back == "case" => Ok(see_other(&super::participants::saved_url(
            a.participant_id,
            super::participants::Saved::Replied,
            Some(id),
        ))),
        Ok(_) => Ok(see_other(&format!("/today?replied={id}#a{id}"))),
        // Started meanwhile, or cancelled: say so in words.
        Err(Error::Conflict(_)) => Err(UiError::new(
            StatusCode::CONFLICT,
            me.lang,
            &t(me.lang, "ui-today-reply-conflict"),
        )),
        Err(e) => Err(UiError::from_engine(e, me.lang)),
    }
}

#[derive(Deserialize)]
struct Empty {}

/// The task named in the path, when `me` sees its participant's case in
/// full (403 otherwise).
async fn task_in_full(s: &AppState, me: &Me, id: &str) -> Result<i64, UiError> {
    let id: i64 = parse_id(me.lang, id)?;
    let task = {
        let mut c = s.engine.db.conn().await.map_err(db_err(me.lang))?;
        crate::store::tasks::get(&mut c, id)
            .await
            .map_err(db_err(me.lang))?
    };
    let (_, access) = super::case(s, me, task.participant_id, false).await?;
    if access != CaseAccess::Full {
        return Err(UiError::forbidden(me.lang));
    }
    Ok(id)
}

async fn task_done(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<Empty>,
) -> Result<Response, UiError> {
    task_tap(&s, p.me, &id, true).await
}

/// "Klar" on a task (`done`), or its undo: a task that is so already (a
/// second tap, or a colleague's) needs nothing; back to Today.
async fn task_tap(s: &AppState, me: Me, id: &str, done: bool) -> Result<Response, UiError> {
    let id = task_in_full(s, &me, id).await?;
    let (actor, now) = (me.actor(), Utc::now());
    let (set, back) = if done {
        let set = s.engine.mark_task_done(id, &actor, now).await;
        (set, format!("/today?done={id}#flash"))
    } else {
        let set = s.engine.undo_task_done(id, &actor, now).await;
        (set, format!("/today?reopened={id}#t{id}"))
    };
    match set {
        Ok(_) | Err(Error::Conflict(_)) => Ok(see_other(&back)),
        Err(e) => Err(UiError::from_engine(e, me.lang)),
    }
}

#[derive(Deserialize)]
struct UndoForm {
    #[serde(default)]
    to: String,
}

/// Undoes a recording of attendance: back to what it was (`to`).
async fn undo_attendance(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<UndoForm>,
) -> Result<Response, UiError> {
    let (me, f) = (p.me, p.form);
    let id = appointment_in_full(&s, &me, &id).await?;
    let to: Attendance = f.to.parse().map_err(|_| {
        UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            me.lang,
            &t(me.lang, "ui-today-attendance-invalid"),
        )
    })?;
    s.engine
        .undo_attendance(id, to, &me.actor(), Utc::now())
        .await
        .map_err(|e| UiError::from_engine(e, me.lang))?;
    Ok(see_other(&format!("/today?att_undone={id}#a{id}")))
}

/// Undoes "Klar": the task is open again.
async fn undo_task_done(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<Empty>,
) -> Result<Response, UiError> {
    task_tap(&s, p.me, &id, false).await
}

/// One day of the calendar.
pub struct CalendarDay {
    pub heading: String,
    pub date: String,
    pub items: Vec<ApptView>,
}

#[derive(Template)]
#[template(path = "ui/calendar.html")]
struct CalendarPage {
    ui: Ui,
    from: String,
    prev: String,
    next: String,
    days: Vec<CalendarDay>,
    all_units: bool,
    truncated: bool,
}

#[derive(Deserialize)]
struct CalendarQuery {
    from: Option<String>,
}

async fn calendar_page(
    State(s): State<AppState>,
    me: Me,
    Query(q): Query<CalendarQuery>,
) -> Result<Response, UiError> {
    let l = me.lang;
    let scope = match (me.staff.role, me.staff.unit_id) {
        (Role::Admin, _) => Scope::All,
        (Role::Reviewer, _) => return Err(UiError::forbidden(l)),
        (_, Some(u)) => Scope::Unit(u),
        (_, None) => return Err(UiError::forbidden(l)),
    };
    let tz = viewer_tz(&s, &me).await?;
    let now = Utc::now();
    let from = match q.from.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => now.with_timezone(&tz).date_naive(),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
            UiError::new(
                StatusCode::BAD_REQUEST,
                l,
                &t(l, "ui-today-calendar-bad-date"),
            )
        })?,
    };
    let days: Vec<NaiveDate> = (0..7).map(|i| from + Duration::days(i)).collect();
    let slots = {
        let mut c = s.engine.db.conn().await.map_err(db_err(l))?;
        ui_today::calendar(
            &mut c,
            scope,
            day::midnight(from, tz),
            day::midnight(from + Duration::days(7), tz),
            MAX_ROWS,
        )
        .await
        .map_err(db_err(l))?
    };
    let days = days
        .into_iter()
        .map(|d| {
            let at = day::midnight(d, tz);
            CalendarDay {
                heading: local_date(l, at, tz),
                date: d.format("%Y-%m-%d").to_string(),
                items: slots
                    .iter()
                    .filter(|x| x.starts_at.with_timezone(&tz).date_naive() == d)
                    .filter(|x| !me.hidden.contains(&x.participant_id))
                    .map(|x| appt_view(&me, None, x, now))
                    .collect(),
            }
        })
        .collect();
    Ok(render(&CalendarPage {
        from: from.format("%Y-%m-%d").to_string(),
        prev: (from - Duration::days(7)).format("%Y-%m-%d").to_string(),
        next: (from + Duration::days(7)).format("%Y-%m-%d").to_string(),
        days,
        all_units: me.staff.role == Role::Admin,
        truncated: slots.len() as i64 >= MAX_ROWS,
        ui: me.ui("/calendar"),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn keys(ftl: &str) -> BTreeSet<&str> {
        ftl.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(' '))
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_today_texts() {
        let sv = keys(include_str!("../../../locales/sv/ui-today.ftl"));
        let en = keys(include_str!("../../../locales/en/ui-today.ftl"));
        assert!(sv.len() > 20);
        assert_eq!(sv, en);
        assert!(sv.iter().all(|k| k.starts_with("ui-today-")));
    }

    #[test]
    fn every_delivery_reply_kind_and_task_text_exists() {
        use crate::domain::{AppointmentKind, Language, TaskKind};
        let mut want: Vec<String> = ["planned", "sent", "delivered", "failed", "none"]
            .iter()
            .map(|d| format!("ui-today-delivery-{d}"))
            .collect();
        want.extend(
            [
                AppointmentKind::Meeting,
                AppointmentKind::DrugTest,
                AppointmentKind::GroupActivity,
                AppointmentKind::Other,
            ]
            .iter()
            .map(|k| format!("ui-today-kind-{}", k.as_str())),
        );
        want.extend(
            [
                TaskKind::Cannot,
                TaskKind::NoReply,
                TaskKind::DeliveryFailed,
                TaskKind::NotUnderstood,
                TaskKind::LateReply,
                TaskKind::ConsentExpiring,
                TaskKind::Gap,
            ]
            .iter()
            .map(|k| format!("ui-today-task-kind-{}", k.as_str())),
        );
        for lang in [Language::Sv, Language::En] {
            for k in &want {
                let s = super::t(lang, k);
                assert!(!s.is_empty() && !s.contains("Unknown"), "{lang} {k}: {s}");
            }
        }
        assert_eq!(
            super::ta(
                Language::Sv,
                "ui-today-reply-cannot-reason",
                &[("reason", "sjuk".into())]
            ),
            "förhinder: sjuk"
        );
    }
}
