//! The sandbox phone's message store: what the sandbox channel "sent" and
//! what the demo user answered. Lives in the database so the demo page, the
//! CLI and several processes all see the same phone.

use super::{Conn, from_ms, ms};
use crate::domain::{ChannelKind, OutboxId, ParticipantId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SandboxMessage {
    pub id: i64,
    pub participant_id: ParticipantId,
    pub channel: String,
    /// `out` (to the participant) or `in` (from the participant).
    pub direction: String,
    pub body: String,
    pub at: DateTime<Utc>,
    pub outbox_id: Option<OutboxId>,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    c: &mut Conn,
    participant: ParticipantId,
    channel: ChannelKind,
    direction: &str,
    body: &str,
    outbox: Option<OutboxId>,
    gateway_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sandbox_messages (participant_id, channel, direction, body, at, outbox_id, gateway_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(participant.get())
    .bind(channel.as_str())
    .bind(direction)
    .bind(body)
    .bind(ms(at))
    .bind(outbox.map(OutboxId::get))
    .bind(gateway_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// One message the sandbox phone received, written with others by
/// [`insert_outgoing`].
#[derive(Debug)]
pub struct Outgoing {
    pub participant: ParticipantId,
    pub channel: ChannelKind,
    pub body: String,
    pub outbox: OutboxId,
    pub gateway_id: String,
    pub at: DateTime<Utc>,
}

const INSERT_OUTGOING_POSTGRES: &str = "INSERT INTO sandbox_messages
        (participant_id, channel, direction, body, at, outbox_id, gateway_id)
    SELECT v.participant_id, v.channel, 'out', v.body, v.at, v.outbox_id, v.gateway_id
    FROM ROWS FROM (json_to_recordset($1::json)
                    AS (participant_id bigint, channel text, body text, at bigint, outbox_id bigint,
                        gateway_id text))
         WITH ORDINALITY AS v(participant_id, channel, body, at, outbox_id, gateway_id, n)
    ORDER BY v.n";

/// Writes messages to the sandbox phone (direction `out`), in the given
/// order, all or none: one statement on PostgreSQL (the messages as one JSON
/// parameter, so the statement is static and prepared once), one
/// transaction of single-row INSERTs on SQLite.
pub async fn insert_outgoing(db: &super::Db, messages: &[Outgoing]) -> Result<()> {
    match db.backend {
        super::Backend::Postgres => {
            let rows: Vec<serde_json::Value> = messages
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "participant_id": m.participant.get(),
                        "channel": m.channel.as_str(),
                        "body": m.body,
                        "at": ms(m.at),
                        "outbox_id": m.outbox.get(),
                        "gateway_id": m.gateway_id,
                    })
                })
                .collect();
            sqlx::query(INSERT_OUTGOING_POSTGRES)
                .bind(serde_json::Value::Array(rows).to_string())
                .execute(&db.pool)
                .await?;
        }
        super::Backend::Sqlite => {
            let mut tx = db.begin().await?;
            for m in messages {
                insert(
                    &mut tx,
                    m.participant,
                    m.channel,
                    "out",
                    &m.body,
                    Some(m.outbox),
                    &m.gateway_id,
                    m.at,
                )
                .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

pub async fn for_participant(
    c: &mut Conn,
    participant: ParticipantId,
) -> Result<Vec<SandboxMessage>> {
    let rows = sqlx::query_as::<_, StoredMessage>(
        "SELECT id, participant_id, channel, direction, body, at, outbox_id
         FROM sandbox_messages WHERE participant_id = $1 ORDER BY id",
    )
    .bind(participant.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(SandboxMessage::from).collect())
}

/// A `sandbox_messages` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct StoredMessage {
    id: i64,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    channel: String,
    direction: String,
    body: String,
    at: i64,
    outbox_id: Option<i64>,
}

impl From<StoredMessage> for SandboxMessage {
    fn from(r: StoredMessage) -> SandboxMessage {
        SandboxMessage {
            id: r.id,
            participant_id: r.participant_id,
            channel: r.channel,
            direction: r.direction,
            body: r.body,
            at: from_ms(r.at),
            outbox_id: r.outbox_id.map(OutboxId::from_db),
        }
    }
}

/// How many times each outbox row reached the sandbox phone: the measure of
/// "sent at least once" and "sent twice" in the crash tests.
pub async fn deliveries_per_outbox_row(c: &mut Conn) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT outbox_id, COUNT(*) AS n FROM sandbox_messages
         WHERE direction = 'out' AND outbox_id IS NOT NULL GROUP BY outbox_id ORDER BY outbox_id",
    )
    .fetch_all(&mut *c)
    .await?)
}
