//! Appointments: the times people are reminded of. Changing the time
//! bumps `plan_version`, so reminders planned for the old time can never be
//! confused with those for the new one.

use super::{Conn, Parsed, from_ms, ms, opt_from_ms};
use crate::domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, Attendance, Language, ParticipantId,
    ReplyState, SeriesId, StaffId, UnitId,
};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::FromRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Appointment {
    pub id: AppointmentId,
    pub unit_id: UnitId,
    pub participant_id: ParticipantId,
    pub series_id: Option<SeriesId>,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
    pub duration_min: i64,
    pub location: Option<String>,
    pub with_whom: Option<String>,
    /// Staff only; never rendered into a message.
    pub internal_note: Option<String>,
    pub status: AppointmentStatus,
    pub reply: ReplyState,
    pub reply_reason: Option<String>,
    pub reply_at: Option<DateTime<Utc>>,
    /// With a "coming" reply: the participant said they will be late
    /// ("kommer lite sent"), by `reply_late_min` minutes when they said how
    /// many (migration 0008).
    pub reply_late: bool,
    pub reply_late_min: Option<i64>,
    pub attendance: Attendance,
    pub external_ref: Option<String>,
    pub plan_version: i64,
}

/// The fields a caller sets when booking.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub participant_id: ParticipantId,
    pub series_id: Option<SeriesId>,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
    pub duration_min: i64,
    pub location: Option<String>,
    pub with_whom: Option<String>,
    pub internal_note: Option<String>,
    pub external_ref: Option<String>,
}

pub(crate) const COLS: &str = "id, unit_id, participant_id, series_id, kind, starts_at, duration_min, \
     location, with_whom, internal_note, status, reply, reply_reason, reply_at, attendance, \
     external_ref, plan_version, reply_late, reply_late_min";

/// An `appointments` row ([`COLS`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct AppointmentRow {
    #[sqlx(try_from = "i64")]
    id: AppointmentId,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    series_id: Option<i64>,
    kind: Parsed<AppointmentKind>,
    starts_at: i64,
    duration_min: i64,
    location: Option<String>,
    with_whom: Option<String>,
    internal_note: Option<String>,
    status: Parsed<AppointmentStatus>,
    reply: Parsed<ReplyState>,
    reply_reason: Option<String>,
    reply_at: Option<i64>,
    reply_late: i64,
    reply_late_min: Option<i64>,
    attendance: Parsed<Attendance>,
    external_ref: Option<String>,
    plan_version: i64,
}

impl From<AppointmentRow> for Appointment {
    fn from(r: AppointmentRow) -> Appointment {
        Appointment {
            id: r.id,
            unit_id: r.unit_id,
            participant_id: r.participant_id,
            series_id: r.series_id.map(SeriesId::from_db),
            kind: r.kind.0,
            starts_at: from_ms(r.starts_at),
            duration_min: r.duration_min,
            location: r.location,
            with_whom: r.with_whom,
            internal_note: r.internal_note,
            status: r.status.0,
            reply: r.reply.0,
            reply_reason: r.reply_reason,
            reply_at: opt_from_ms(r.reply_at),
            reply_late: r.reply_late != 0,
            reply_late_min: r.reply_late_min,
            attendance: r.attendance.0,
            external_ref: r.external_ref,
            plan_version: r.plan_version,
        }
    }
}

/// An appointment from a row holding the [`COLS`].
pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Appointment> {
    Ok(AppointmentRow::from_row(r)?.into())
}

/// Inserts an appointment. Returns `None` when a series occurrence with the
/// same participant and start already exists (series expansion is
/// idempotent).
pub async fn insert(
    c: &mut Conn,
    unit: UnitId,
    a: &NewAppointment,
    now: DateTime<Utc>,
) -> Result<Option<AppointmentId>> {
    if a.duration_min <= 0 || a.duration_min > 24 * 60 {
        return Err(Error::invalid(
            "duration must be between 1 minute and 24 hours",
        ));
    }
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO appointments (unit_id, participant_id, series_id, kind, starts_at, duration_min,
                                   location, with_whom, internal_note, external_ref,
                                   created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
         ON CONFLICT (series_id, participant_id, starts_at) DO NOTHING
         RETURNING id",
    )
    .bind(unit.get())
    .bind(a.participant_id.get())
    .bind(a.series_id.map(SeriesId::get))
    .bind(a.kind.as_str())
    .bind(ms(a.starts_at))
    .bind(a.duration_min)
    .bind(a.location.clone())
    .bind(a.with_whom.clone())
    .bind(a.internal_note.clone())
    .bind(a.external_ref.clone())
    .bind(ms(now))
    .fetch_optional(&mut *c)
    .await?;
    Ok(id.map(AppointmentId::from_db))
}

pub async fn get(c: &mut Conn, id: AppointmentId) -> Result<Appointment> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM appointments WHERE id = $1"));
    Ok(sqlx::query_as::<_, AppointmentRow>(sql)
        .bind(id.get())
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("appointment {id}")))?
        .into())
}

pub async fn by_external_ref(
    c: &mut Conn,
    unit: UnitId,
    external_ref: &str,
) -> Result<Option<Appointment>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM appointments WHERE unit_id = $1 AND external_ref = $2"
    ));
    let row = sqlx::query_as::<_, AppointmentRow>(sql)
        .bind(unit.get())
        .bind(external_ref)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(Appointment::from))
}

/// Records a participant's reply (a later one overrides the earlier, its
/// lateness too). `late`: "coming, late", with the minutes when given.
pub async fn set_reply(
    c: &mut Conn,
    id: AppointmentId,
    reply: ReplyState,
    reason: Option<&str>,
    late: Option<Option<i64>>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE appointments SET reply = $1, reply_reason = $2, reply_at = $3, updated_at = $3,
             reply_late = $5, reply_late_min = $6 WHERE id = $4",
    )
    .bind(reply.as_str())
    .bind(reason)
    .bind(ms(now))
    .bind(id.get())
    .bind(i64::from(late.is_some()))
    .bind(late.flatten())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A participant's appointments, oldest first; `from` limits to those that
/// start at or after it.
pub async fn for_participant(
    c: &mut Conn,
    participant: ParticipantId,
    from: Option<DateTime<Utc>>,
) -> Result<Vec<Appointment>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM appointments WHERE participant_id = $1 AND starts_at >= $2
         ORDER BY starts_at, id"
    ));
    let rows = sqlx::query_as::<_, AppointmentRow>(sql)
        .bind(participant.get())
        .bind(from.map_or(i64::MIN, ms))
        .fetch_all(&mut *c)
        .await?;
    Ok(rows.into_iter().map(Appointment::from).collect())
}

/// Sets a new start (and other fields) and bumps the plan version.
pub async fn reschedule(
    c: &mut Conn,
    id: AppointmentId,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE appointments SET starts_at = $1, plan_version = plan_version + 1, updated_at = $2
         WHERE id = $3",
    )
    .bind(ms(starts_at))
    .bind(ms(now))
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Updates the descriptive fields (not the time, not the status).
pub async fn update_details(
    c: &mut Conn,
    id: AppointmentId,
    a: &NewAppointment,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE appointments SET kind = $1, duration_min = $2, location = $3, with_whom = $4,
                internal_note = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(a.kind.as_str())
    .bind(a.duration_min)
    .bind(a.location.clone())
    .bind(a.with_whom.clone())
    .bind(a.internal_note.clone())
    .bind(ms(now))
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn set_status(
    c: &mut Conn,
    id: AppointmentId,
    status: AppointmentStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE appointments SET status = $1, plan_version = plan_version + 1, updated_at = $2
         WHERE id = $3",
    )
    .bind(status.as_str())
    .bind(ms(now))
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Reminders planned for the current version are replaced: the next plan
/// is a new version (the reminders for the old one were cancelled).
pub async fn bump_plan_version(c: &mut Conn, id: AppointmentId) -> Result<()> {
    sqlx::query("UPDATE appointments SET plan_version = plan_version + 1 WHERE id = $1")
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Attendance as recorded by a member of staff.
pub async fn set_attendance(
    c: &mut Conn,
    id: AppointmentId,
    a: Attendance,
    by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE appointments SET attendance = $1, attendance_by = $2, attendance_at = $3, updated_at = $3
         WHERE id = $4",
    )
    .bind(a.as_str())
    .bind(by)
    .bind(ms(now))
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Sets the attendance as it was before a recording was undone: `by` and
/// the time with it, or none for `unknown`.
pub async fn restore_attendance(
    c: &mut Conn,
    id: AppointmentId,
    a: Attendance,
    by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let known = a != Attendance::Unknown;
    sqlx::query(
        "UPDATE appointments SET attendance = $1, attendance_by = $2, attendance_at = $3, updated_at = $4
         WHERE id = $5",
    )
    .bind(a.as_str())
    .bind(by.filter(|_| known))
    .bind(known.then(|| ms(now)))
    .bind(ms(now))
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// An appointment that ended with no attendance recorded, to ask its
/// lots about on Telegram.
#[derive(Debug, Clone)]
pub struct AttendancePrompt {
    pub appointment_id: AppointmentId,
    pub participant_id: ParticipantId,
    pub staff_id: StaffId,
    pub chat_id: String,
    pub language: Language,
    pub first_name: String,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
    pub tz: Tz,
}

/// Appointments that ended between `from` and `to` with no attendance
/// recorded and no prompt yet, whose lots has linked Telegram since.
pub async fn attendance_prompts_due(
    c: &mut Conn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<AttendancePrompt>> {
    let rows = sqlx::query_as::<_, AttendancePromptRow>(
        "SELECT a.id, a.kind, a.starts_at, p.id AS pid, p.first_name, p.time_zone,
                s.id AS sid, s.telegram_chat_id, s.language
         FROM appointments a
         JOIN participants p ON p.id = a.participant_id
         JOIN staff s ON s.id = p.lots_id
         WHERE a.status = 'scheduled' AND a.attendance = 'unknown'
           AND a.attendance_prompted_at IS NULL
           AND a.starts_at >= $1 AND a.starts_at + a.duration_min * 60000 <= $2
           AND s.active = 1 AND s.telegram_chat_id IS NOT NULL
           AND a.starts_at + a.duration_min * 60000 >= s.telegram_linked_at
         ORDER BY a.starts_at, a.id LIMIT $3",
    )
    .bind(ms(from))
    .bind(ms(to))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(AttendancePrompt::try_from).collect()
}

/// An [`AttendancePrompt`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct AttendancePromptRow {
    #[sqlx(try_from = "i64")]
    id: AppointmentId,
    kind: Parsed<AppointmentKind>,
    starts_at: i64,
    #[sqlx(try_from = "i64")]
    pid: ParticipantId,
    first_name: String,
    time_zone: String,
    #[sqlx(try_from = "i64")]
    sid: StaffId,
    telegram_chat_id: String,
    language: Parsed<Language>,
}

impl TryFrom<AttendancePromptRow> for AttendancePrompt {
    type Error = Error;
    fn try_from(r: AttendancePromptRow) -> Result<AttendancePrompt> {
        Ok(AttendancePrompt {
            appointment_id: r.id,
            participant_id: r.pid,
            staff_id: r.sid,
            chat_id: r.telegram_chat_id,
            language: r.language.0,
            first_name: r.first_name,
            kind: r.kind.0,
            starts_at: from_ms(r.starts_at),
            tz: super::units::parse_tz(&r.time_zone)?,
        })
    }
}

pub async fn mark_attendance_prompted(
    c: &mut Conn,
    id: AppointmentId,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE appointments SET attendance_prompted_at = $1 WHERE id = $2")
        .bind(ms(now))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// An appointment a reminder asked about, with no reply by the rule's
/// deadline ([`silent_past_deadline`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SilentAsk {
    #[sqlx(try_from = "i64")]
    pub id: AppointmentId,
    #[sqlx(try_from = "i64")]
    pub participant_id: ParticipantId,
    pub plan_version: i64,
    /// Unix milliseconds.
    pub starts_at: i64,
}

/// Scheduled appointments (that started less than a day ago or have not
/// started) whose current plan's reminder asked for a reply, sent, with no
/// reply by the deadline of the unit's rule for the kind.
pub async fn silent_past_deadline(c: &mut Conn, now: DateTime<Utc>) -> Result<Vec<SilentAsk>> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT a.id, a.participant_id, a.plan_version, a.starts_at
         FROM appointments a
         JOIN reminder_rules r ON r.unit_id = a.unit_id AND r.kind = a.kind
         JOIN outbox o ON o.appointment_id = a.id AND o.ask_reply = 1
                      AND o.status IN ('sent','delivered') AND o.plan_version = a.plan_version
         WHERE a.status = 'scheduled' AND a.reply = 'none' AND r.reply_deadline_min IS NOT NULL
           AND a.starts_at - r.reply_deadline_min * 60000 <= $1 AND a.starts_at > $1 - 86400000",
    )
    .bind(ms(now))
    .fetch_all(&mut *c)
    .await?)
}
