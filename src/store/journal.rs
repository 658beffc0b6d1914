//! The case record: an append-only list of what happened to and for a
//! participant (who, when, what, which appointment). Nothing here updates
//! or deletes; a later event supersedes an earlier one by coming after it.

use super::{Conn, from_ms, ms};
use crate::domain::{AppointmentId, ParticipantId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// Event kinds written by the engine. Free text is not allowed here so that
/// the web UI and the API can rely on the set.
pub mod kind {
    pub const PARTICIPANT_CREATED: &str = "participant_created";
    pub const STATUS_CHANGED: &str = "status_changed";
    pub const CONSENT_RECORDED: &str = "consent_recorded";
    pub const CONSENT_WITHDRAWN: &str = "consent_withdrawn";
    pub const APPOINTMENT_CREATED: &str = "appointment_created";
    pub const APPOINTMENT_UPDATED: &str = "appointment_updated";
    pub const APPOINTMENT_MOVED: &str = "appointment_moved";
    pub const APPOINTMENT_CANCELLED: &str = "appointment_cancelled";
    pub const REMINDERS_PLANNED: &str = "reminders_planned";
    pub const MESSAGE_SENT: &str = "message_sent";
    pub const MESSAGE_SUPPRESSED: &str = "message_suppressed";
    pub const DELIVERY_FAILED: &str = "delivery_failed";
    pub const SUMMONS_ISSUED: &str = "summons_issued";
    pub const INBOUND_MESSAGE: &str = "inbound_message";
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub participant_id: ParticipantId,
    pub appointment_id: Option<AppointmentId>,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

pub async fn append(
    c: &mut Conn,
    participant: ParticipantId,
    appointment: Option<AppointmentId>,
    at: DateTime<Utc>,
    actor: &str,
    kind: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO journal (participant_id, appointment_id, at, actor, kind, detail)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(participant.get())
    .bind(appointment.map(AppointmentId::get))
    .bind(ms(at))
    .bind(actor)
    .bind(kind)
    .bind(detail.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn list(c: &mut Conn, participant: ParticipantId) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, participant_id, appointment_id, at, actor, kind, detail
         FROM journal WHERE participant_id = $1 ORDER BY id",
    )
    .bind(participant.get())
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get("detail")?;
            Ok(Event {
                id: r.try_get("id")?,
                participant_id: ParticipantId::from_db(r.try_get("participant_id")?),
                appointment_id: r
                    .try_get::<Option<i64>, _>("appointment_id")?
                    .map(AppointmentId::from_db),
                at: from_ms(r.try_get("at")?),
                actor: r.try_get("actor")?,
                kind: r.try_get("kind")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}
