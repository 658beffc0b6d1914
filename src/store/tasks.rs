//! Tasks: work for a person. The software never decides about a
//! participant; "förhinder", silence, a failed delivery or a text nobody
//! understood becomes a task for the responsible lots, who closes it.

use super::{Conn, Parsed, from_ms, ms, opt_from_ms};
use crate::domain::{AppointmentId, Language, ParticipantId, StaffId, TaskKind, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub unit_id: UnitId,
    pub participant_id: ParticipantId,
    pub appointment_id: Option<AppointmentId>,
    pub kind: TaskKind,
    pub detail: serde_json::Value,
    pub assigned_to: Option<StaffId>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
}

/// Creates a task unless one with the same `dedupe_key` exists. The task is
/// assigned to the participant's responsible lots. Returns the new id.
pub async fn create(
    c: &mut Conn,
    participant: ParticipantId,
    appointment: Option<AppointmentId>,
    kind: TaskKind,
    dedupe_key: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO tasks (unit_id, participant_id, appointment_id, kind, detail, assigned_to, dedupe_key, created_at)
         SELECT p.unit_id, p.id, $1, $2, $3, p.lots_id, $4, $5 FROM participants p WHERE p.id = $6
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(appointment.map(AppointmentId::get))
    .bind(kind.as_str())
    .bind(detail.to_string())
    .bind(dedupe_key)
    .bind(ms(now))
    .bind(participant.get())
    .fetch_optional(&mut *c)
    .await?)
}

const COLS: &str = "id, unit_id, participant_id, appointment_id, kind, detail, assigned_to, created_at, done_at, done_by";

/// A `tasks` row ([`COLS`]) as the `Any` driver decodes it; a row holding
/// the columns (unqualified) among others flattens it in.
#[derive(sqlx::FromRow)]
pub(crate) struct TaskRow {
    id: i64,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    appointment_id: Option<i64>,
    kind: Parsed<TaskKind>,
    detail: String,
    assigned_to: Option<i64>,
    created_at: i64,
    done_at: Option<i64>,
    done_by: Option<String>,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Task {
        Task {
            id: r.id,
            unit_id: r.unit_id,
            participant_id: r.participant_id,
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            kind: r.kind.0,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            assigned_to: r.assigned_to.map(StaffId::from_db),
            created_at: from_ms(r.created_at),
            done_at: opt_from_ms(r.done_at),
            done_by: r.done_by,
        }
    }
}

/// Tasks, newest first; `open_only` leaves out the done ones.
pub async fn list(
    c: &mut Conn,
    participant: Option<ParticipantId>,
    open_only: bool,
) -> Result<Vec<Task>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM tasks
         WHERE ($1 IS NULL OR participant_id = $1) AND ($2 = 0 OR done_at IS NULL)
         ORDER BY id DESC"
    ));
    let rows = sqlx::query_as::<_, TaskRow>(sql)
        .bind(participant.map(ParticipantId::get))
        .bind(i64::from(open_only))
        .fetch_all(&mut *c)
        .await?;
    Ok(rows.into_iter().map(Task::from).collect())
}

pub async fn get(c: &mut Conn, id: i64) -> Result<Task> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM tasks WHERE id = $1"));
    Ok(sqlx::query_as::<_, TaskRow>(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("task {id}")))?
        .into())
}

/// Closes the open tasks of these kinds about one appointment, as done by
/// `by`: an outcome that answers them (attendance recorded answers "no
/// reply"). Returns how many were closed.
pub async fn close_answered(
    c: &mut Conn,
    appointment: AppointmentId,
    kinds: &[TaskKind],
    by: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    per_kind(c, kinds, || {
        sqlx::query(
            "UPDATE tasks SET done_at = $1, done_by = $2
             WHERE appointment_id = $3 AND kind = $4 AND done_at IS NULL",
        )
        .bind(ms(now))
        .bind(by)
        .bind(appointment.get())
    })
    .await
}

/// Runs `update` once for each kind (bound last) and adds up the rows it
/// changed.
async fn per_kind<'q>(
    c: &mut Conn,
    kinds: &[TaskKind],
    update: impl Fn() -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
) -> Result<u64> {
    let mut n = 0;
    for k in kinds {
        n += update()
            .bind(k.as_str())
            .execute(&mut *c)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Opens again the tasks of these kinds about one appointment that its
/// attendance recording closed: those closed by the recorder at the
/// recording's instant ([`close_answered`] with `set_attendance`'s `by`
/// and `now`). Run before the attendance is restored. Returns how many.
pub async fn reopen_closed_by_attendance(
    c: &mut Conn,
    appointment: AppointmentId,
    kinds: &[TaskKind],
) -> Result<u64> {
    per_kind(c, kinds, || {
        sqlx::query(
            "UPDATE tasks SET done_at = NULL, done_by = NULL
             WHERE appointment_id = $1 AND kind = $2 AND done_at IS NOT NULL
               AND done_at = (SELECT attendance_at FROM appointments WHERE id = $1)
               AND done_by = (SELECT attendance_by FROM appointments WHERE id = $1)",
        )
        .bind(appointment.get())
    })
    .await
}

/// Marks a task done (by whom) or, with `done = false`, open again.
pub async fn set_done(
    c: &mut Conn,
    id: i64,
    done: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Task> {
    let n = if done {
        sqlx::query("UPDATE tasks SET done_at = $1, done_by = $2 WHERE id = $3 AND done_at IS NULL")
            .bind(ms(now))
            .bind(by)
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected()
    } else {
        sqlx::query(
            "UPDATE tasks SET done_at = NULL, done_by = NULL WHERE id = $1 AND done_at IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected()
    };
    let t = get(c, id).await?;
    if n == 0 {
        return Err(Error::Conflict(format!(
            "task {id} is already {}",
            if done { "done" } else { "open" }
        )));
    }
    Ok(t)
}

/// A task a lots should hear about on Telegram.
#[derive(Debug, Clone, Serialize)]
pub struct StaffAlert {
    pub task_id: i64,
    pub kind: TaskKind,
    pub chat_id: String,
    pub language: Language,
    pub participant_id: ParticipantId,
    pub first_name: String,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub tz: Tz,
    pub detail: Value,
    /// The unit lets alerts carry the participant's words
    /// (`units.alert_details`); off: "ny uppgift" and a link.
    pub details: bool,
}

/// Task kinds a lots is alerted about on Telegram.
pub const ALERTED_KINDS: [TaskKind; 6] = [
    TaskKind::Cannot,
    TaskKind::ComingLate,
    TaskKind::NoReply,
    TaskKind::DeliveryFailed,
    TaskKind::NotUnderstood,
    TaskKind::LateReply,
];

/// [`alerts_due`]'s statement; its kinds are [`ALERTED_KINDS`] (a unit
/// test keeps them in step), written out so the statement is static.
const ALERTS_DUE_SQL: &str = "SELECT t.id, t.kind, t.detail, p.id AS pid, p.first_name, p.time_zone,
            s.telegram_chat_id, s.language, a.starts_at, u.alert_details
     FROM tasks t
     JOIN staff s ON s.id = t.assigned_to
     JOIN participants p ON p.id = t.participant_id
     JOIN units u ON u.id = t.unit_id
     LEFT JOIN appointments a ON a.id = t.appointment_id
     WHERE t.alerted_at IS NULL AND t.done_at IS NULL AND s.active = 1
       AND s.telegram_chat_id IS NOT NULL AND t.created_at >= s.telegram_linked_at
       AND t.kind IN ('cannot','coming_late','no_reply','delivery_failed','not_understood','late_reply')
       AND (p.protected = 0 OR EXISTS (SELECT 1 FROM protected_staff ps
                                       WHERE ps.participant_id = p.id AND ps.staff_id = s.id))
     ORDER BY t.id LIMIT $1";

/// Tasks owed to lotsar as Telegram alerts: open, of an alerted kind,
/// for a lots whose chat is linked, created after the linking (so
/// linking does not bring an avalanche of old tasks). A protected
/// participant's tasks are alerted only to staff named for them.
pub async fn alerts_due(c: &mut Conn, limit: i64) -> Result<Vec<StaffAlert>> {
    let rows = sqlx::query_as::<_, StaffAlertRow>(ALERTS_DUE_SQL)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(StaffAlert::try_from).collect()
}

/// A [`StaffAlert`] ([`ALERTS_DUE_SQL`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct StaffAlertRow {
    id: i64,
    kind: Parsed<TaskKind>,
    detail: String,
    #[sqlx(try_from = "i64")]
    pid: ParticipantId,
    first_name: String,
    time_zone: String,
    telegram_chat_id: String,
    language: Parsed<Language>,
    starts_at: Option<i64>,
    alert_details: i64,
}

impl TryFrom<StaffAlertRow> for StaffAlert {
    type Error = Error;
    fn try_from(r: StaffAlertRow) -> Result<StaffAlert> {
        Ok(StaffAlert {
            task_id: r.id,
            kind: r.kind.0,
            chat_id: r.telegram_chat_id,
            language: r.language.0,
            participant_id: r.pid,
            first_name: r.first_name,
            starts_at: opt_from_ms(r.starts_at),
            tz: super::units::parse_tz(&r.time_zone)?,
            detail: serde_json::from_str(&r.detail).unwrap_or(Value::Null),
            details: r.alert_details != 0,
        })
    }
}

pub async fn mark_alerted(c: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE tasks SET alerted_at = $1 WHERE id = $2")
        .bind(ms(now))
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_statement_names_exactly_the_alerted_kinds() {
        let list = ALERTS_DUE_SQL
            .split("t.kind IN (")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap();
        let named: std::collections::BTreeSet<&str> = list
            .split(',')
            .map(|k| k.trim().trim_matches('\''))
            .collect();
        let alerted = ALERTED_KINDS.iter().map(|k| k.as_str()).collect();
        assert_eq!(named, alerted);
    }
}
