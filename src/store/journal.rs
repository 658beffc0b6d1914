//! The case record: an append-only list of what happened to and for a
//! participant (who, when, what, which appointment). Nothing here updates
//! or deletes; a later event supersedes an earlier one by coming after it.

use super::{Conn, from_ms, ms};
use crate::domain::journal::JournalEvent;
use crate::domain::{AppointmentId, ParticipantId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A journal row as stored: the API shows `kind` and `detail` as they are;
/// [`Event::event`] reads them as a [`JournalEvent`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = JournalEvent)]
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
    event: &JournalEvent,
) -> Result<()> {
    let (kind, detail) = event.split();
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
    let rows = sqlx::query_as::<_, StoredEvent>(
        "SELECT id, participant_id, appointment_id, at, actor, kind, detail
         FROM journal WHERE participant_id = $1 ORDER BY id",
    )
    .bind(participant.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

/// A `journal` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    appointment_id: Option<i64>,
    at: i64,
    actor: String,
    kind: String,
    detail: String,
}

impl From<StoredEvent> for Event {
    fn from(r: StoredEvent) -> Event {
        Event {
            id: r.id,
            participant_id: r.participant_id,
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            at: from_ms(r.at),
            actor: r.actor,
            kind: r.kind,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl Event {
    /// The typed event; `None` for a kind this version does not know.
    pub fn event(&self) -> Option<JournalEvent> {
        JournalEvent::parse(&self.kind, &self.detail)
    }
}
