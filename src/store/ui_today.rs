//! Reads for the staff UI's "Idag" page and the unit calendar: a day's
//! appointments with their reply and reminder delivery state, the same
//! without anything from the case record (the calendar), and a staff
//! member's open tasks. Read-only; changes go through the engine.

use super::{Conn, Parsed, from_ms, ms, opt_from_ms};
use crate::domain::{
    AppointmentId, AppointmentKind, Attendance, ParticipantId, ReplyState, StaffId, UnitId,
};
use crate::error::{Error, Result};
use crate::store::tasks::{Task, TaskRow};
use crate::store::units::parse_tz;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Whose appointments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The participants this staff member is the lots of.
    Caseload(StaffId),
    /// One unit.
    Unit(UnitId),
    /// Every unit (admins).
    All,
}

impl Scope {
    fn binds(self) -> (Option<i64>, Option<i64>) {
        match self {
            Scope::Caseload(s) => (Some(s.get()), None),
            Scope::Unit(u) => (None, Some(u.get())),
            Scope::All => (None, None),
        }
    }
}

/// How far an appointment's reminders got, the most telling state of its
/// reminder and summons rows: failed > delivered > sent > planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    Planned,
    Sent,
    Delivered,
    Failed,
}

impl Delivery {
    fn from_rank(r: i64) -> Option<Delivery> {
        match r {
            1 => Some(Delivery::Planned),
            2 => Some(Delivery::Sent),
            3 => Some(Delivery::Delivered),
            4 => Some(Delivery::Failed),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Planned => "planned",
            Delivery::Sent => "sent",
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
        }
    }
}

/// What both lists show of an appointment: when, what, who.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: AppointmentId,
    pub unit_id: UnitId,
    pub unit_name: String,
    pub participant_id: ParticipantId,
    pub first_name: String,
    pub lots_id: Option<StaffId>,
    /// The participant's time zone.
    pub time_zone: Tz,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
    pub cancelled: bool,
}

/// An appointment on the "Idag" page: the slot plus what the case record
/// says about it. Only rendered to viewers with full case access.
#[derive(Debug, Clone)]
pub struct DayRow {
    pub slot: Slot,
    pub reply: ReplyState,
    pub reply_reason: Option<String>,
    /// "coming, late", and by how many minutes when given.
    pub reply_late: bool,
    pub reply_late_min: Option<i64>,
    pub attendance: Attendance,
    /// `None`: no reminder planned or sent (or all were cancelled).
    pub delivery: Option<Delivery>,
    /// The participant replied (this reply) to two appointments at once and
    /// the bot asked which one, with no answer yet: this is one of the two
    /// (set by `engine::day::rows`).
    pub awaiting_choice: Option<ReplyState>,
}

const SLOT_COLS: &str = "a.id, a.unit_id, u.name AS unit_name, a.participant_id, p.first_name, \
     p.lots_id, p.time_zone, a.kind, a.starts_at, a.status";

/// A [`Slot`] ([`SLOT_COLS`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct SlotRow {
    #[sqlx(try_from = "i64")]
    id: AppointmentId,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    unit_name: String,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    first_name: String,
    lots_id: Option<i64>,
    time_zone: String,
    kind: Parsed<AppointmentKind>,
    starts_at: i64,
    status: String,
}

impl TryFrom<SlotRow> for Slot {
    type Error = Error;
    fn try_from(r: SlotRow) -> Result<Slot> {
        Ok(Slot {
            id: r.id,
            unit_id: r.unit_id,
            unit_name: r.unit_name,
            participant_id: r.participant_id,
            first_name: r.first_name,
            lots_id: r.lots_id.map(StaffId::from_db),
            time_zone: parse_tz(&r.time_zone)?,
            kind: r.kind.0,
            starts_at: from_ms(r.starts_at),
            cancelled: r.status == "cancelled",
        })
    }
}

/// A [`DayRow`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct DayRowRow {
    #[sqlx(flatten)]
    slot: SlotRow,
    reply: Parsed<ReplyState>,
    reply_reason: Option<String>,
    reply_late: i64,
    reply_late_min: Option<i64>,
    attendance: Parsed<Attendance>,
    delivery: Option<i64>,
}

impl TryFrom<DayRowRow> for DayRow {
    type Error = Error;
    fn try_from(r: DayRowRow) -> Result<DayRow> {
        Ok(DayRow {
            slot: r.slot.try_into()?,
            reply: r.reply.0,
            reply_reason: r.reply_reason,
            reply_late: r.reply_late != 0,
            reply_late_min: r.reply_late_min,
            attendance: r.attendance.0,
            delivery: r.delivery.and_then(Delivery::from_rank),
            awaiting_choice: None,
        })
    }
}

/// What the day list and the calendar read from: appointments with their
/// participant and unit, starting in `[$1, $2)`, in the scope (`$3` the
/// lots, `$4` the unit; see [`Scope::binds`]).
const SLOT_FROM: &str = "FROM appointments a
         JOIN participants p ON p.id = a.participant_id
         JOIN units u ON u.id = a.unit_id
         WHERE a.starts_at >= $1 AND a.starts_at < $2
           AND ($3 IS NULL OR p.lots_id = $3)
           AND ($4 IS NULL OR a.unit_id = $4)";

/// Appointments starting in `[from, to)`, oldest first, at most `limit`.
/// With `unrecorded_only`, only scheduled ones without attendance.
pub async fn day_rows(
    c: &mut Conn,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unrecorded_only: bool,
    limit: i64,
) -> Result<Vec<DayRow>> {
    let (lots, unit) = scope.binds();
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SLOT_COLS}, a.reply, a.reply_reason, a.reply_late, a.reply_late_min, a.attendance,
                (SELECT CAST(MAX(CASE o.status WHEN 'failed' THEN 4 WHEN 'delivered' THEN 3
                                 WHEN 'sent' THEN 2 WHEN 'pending' THEN 1 WHEN 'sending' THEN 1
                                 ELSE 0 END) AS BIGINT)
                 FROM outbox o
                 WHERE o.appointment_id = a.id AND o.purpose IN ('reminder','summons')) AS delivery
         {SLOT_FROM}
           AND ($5 = 0 OR (a.status = 'scheduled' AND a.attendance = 'unknown'))
         ORDER BY a.starts_at, a.id
         LIMIT $6"
    ));
    let rows = sqlx::query_as::<_, DayRowRow>(sql)
        .bind(ms(from))
        .bind(ms(to))
        .bind(lots)
        .bind(unit)
        .bind(i64::from(unrecorded_only))
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(DayRow::try_from).collect()
}

/// The calendar: appointments starting in `[from, to)`, oldest first, at
/// most `limit`. Reads nothing from the case record (no reply, reason,
/// note, place or attendance).
pub async fn calendar(
    c: &mut Conn,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Slot>> {
    let (lots, unit) = scope.binds();
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {SLOT_COLS}
         {SLOT_FROM}
         ORDER BY a.starts_at, a.id
         LIMIT $5"
    ));
    let rows = sqlx::query_as::<_, SlotRow>(sql)
        .bind(ms(from))
        .bind(ms(to))
        .bind(lots)
        .bind(unit)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(Slot::try_from).collect()
}

/// An open task with what the list shows beside it.
#[derive(Debug, Clone)]
pub struct OpenTask {
    pub task: Task,
    pub first_name: String,
    pub lots_id: Option<StaffId>,
    pub time_zone: Tz,
    /// The start of the task's appointment, if it has one.
    pub appointment_starts_at: Option<DateTime<Utc>>,
}

/// Whose open tasks a Today page lists.
#[derive(Debug, Clone, Copy)]
pub enum TaskScope {
    /// A lots: the tasks assigned to them.
    Mine(StaffId),
    /// A coordinator: every open task of the unit, whoever has it.
    Unit(UnitId),
}

/// Open tasks in `scope`, most urgent first
/// ([`urgency::sort_key`](crate::domain::urgency::sort_key)).
pub async fn open_tasks(c: &mut Conn, scope: TaskScope, limit: i64) -> Result<Vec<OpenTask>> {
    let (staff, unit) = match scope {
        TaskScope::Mine(s) => (Some(s.get()), None),
        TaskScope::Unit(u) => (None, Some(u.get())),
    };
    let rows = sqlx::query_as::<_, OpenTaskRow>(
        "SELECT t.id, t.unit_id, t.participant_id, t.appointment_id, t.kind, t.detail,
                t.assigned_to, t.created_at, t.done_at, t.done_by,
                p.first_name, p.lots_id, p.time_zone, a.starts_at AS appointment_starts_at
         FROM tasks t
         JOIN participants p ON p.id = t.participant_id
         LEFT JOIN appointments a ON a.id = t.appointment_id
         WHERE t.done_at IS NULL AND (t.assigned_to = $1 OR t.unit_id = $2)
         ORDER BY t.created_at, t.id
         LIMIT $3",
    )
    .bind(staff)
    .bind(unit)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    let mut tasks = rows
        .into_iter()
        .map(OpenTask::try_from)
        .collect::<Result<Vec<OpenTask>>>()?;
    tasks.sort_by_key(|o| {
        crate::domain::urgency::sort_key(o.task.kind, o.appointment_starts_at, o.task.created_at)
    });
    Ok(tasks)
}

/// An [`OpenTask`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct OpenTaskRow {
    #[sqlx(flatten)]
    task: TaskRow,
    first_name: String,
    lots_id: Option<i64>,
    time_zone: String,
    appointment_starts_at: Option<i64>,
}

impl TryFrom<OpenTaskRow> for OpenTask {
    type Error = Error;
    fn try_from(r: OpenTaskRow) -> Result<OpenTask> {
        Ok(OpenTask {
            task: r.task.into(),
            first_name: r.first_name,
            lots_id: r.lots_id.map(StaffId::from_db),
            time_zone: parse_tz(&r.time_zone)?,
            appointment_starts_at: opt_from_ms(r.appointment_starts_at),
        })
    }
}
