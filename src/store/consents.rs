//! Consent is data: who recorded it, when, for which channels, until when.
//! The latest row is the one in force; withdrawing stamps it, and from
//! that instant the dispatcher's gate stops every message.

use super::{Conn, Parsed, from_ms, ms, opt_from_ms};
use crate::domain::gates::ConsentState;
use crate::domain::{ChannelSet, ParticipantId};
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Consent lasts a year unless recorded otherwise; staff are reminded
/// before it runs out.
pub const DEFAULT_VALIDITY: Duration = Duration::days(365);

#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    pub id: i64,
    pub participant_id: ParticipantId,
    pub channels: ChannelSet,
    pub given_at: DateTime<Utc>,
    pub recorded_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl Consent {
    pub fn state(&self) -> ConsentState {
        ConsentState {
            channels: self.channels,
            expires_at: self.expires_at,
            withdrawn_at: self.withdrawn_at,
        }
    }
}

pub async fn record(
    c: &mut Conn,
    participant: ParticipantId,
    channels: ChannelSet,
    recorded_by: &str,
    given_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Consent> {
    if channels.is_empty() {
        return Err(Error::invalid(
            "a consent must name at least one channel (sms, telegram)",
        ));
    }
    sqlx::query(
        "INSERT INTO consents (participant_id, channels, given_at, recorded_by, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(participant.get())
    .bind(channels.to_string())
    .bind(ms(given_at))
    .bind(recorded_by)
    .bind(expires_at.map(ms))
    .execute(&mut *c)
    .await?;
    current(c, participant)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("consent vanished after insert")))
}

/// The consent in force (the latest recorded), withdrawn or not.
pub async fn current(c: &mut Conn, participant: ParticipantId) -> Result<Option<Consent>> {
    let row = sqlx::query_as::<_, ConsentRow>(
        "SELECT id, participant_id, channels, given_at, recorded_by, expires_at, withdrawn_at
         FROM consents WHERE participant_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(participant.get())
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(Consent::from))
}

/// A `consents` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct ConsentRow {
    id: i64,
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    channels: Parsed<ChannelSet>,
    given_at: i64,
    recorded_by: String,
    expires_at: Option<i64>,
    withdrawn_at: Option<i64>,
}

impl From<ConsentRow> for Consent {
    fn from(r: ConsentRow) -> Consent {
        Consent {
            id: r.id,
            participant_id: r.participant_id,
            channels: r.channels.0,
            given_at: from_ms(r.given_at),
            recorded_by: r.recorded_by,
            expires_at: opt_from_ms(r.expires_at),
            withdrawn_at: opt_from_ms(r.withdrawn_at),
        }
    }
}

/// The latest consent of every participant of a unit that has one, in one
/// query (the CSV import plans a chunk's reminders with it).
pub async fn current_in_unit(
    c: &mut Conn,
    unit: crate::domain::UnitId,
) -> Result<std::collections::HashMap<ParticipantId, Consent>> {
    let rows = sqlx::query_as::<_, ConsentRow>(
        "SELECT c.id, c.participant_id, c.channels, c.given_at, c.recorded_by, c.expires_at, c.withdrawn_at
         FROM consents c JOIN participants p ON p.id = c.participant_id
         WHERE p.unit_id = $1
           AND c.id = (SELECT MAX(l.id) FROM consents l WHERE l.participant_id = c.participant_id)",
    )
    .bind(unit.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.participant_id, Consent::from(r)))
        .collect())
}

/// Withdraws the consent in force. Returns false when there was none to
/// withdraw.
pub async fn withdraw(
    c: &mut Conn,
    participant: ParticipantId,
    by: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE consents SET withdrawn_at = $1, withdrawn_by = $2
         WHERE id = (SELECT MAX(id) FROM consents WHERE participant_id = $3)
           AND withdrawn_at IS NULL",
    )
    .bind(ms(at))
    .bind(by)
    .bind(participant.get())
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// A participant's consent in force that runs out ([`expiring_by`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Expiring {
    pub id: i64,
    #[sqlx(try_from = "i64")]
    pub participant_id: ParticipantId,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// Consents in force (the participant's latest, not withdrawn) that expire
/// by `by`, of active or paused participants not erased.
pub async fn expiring_by(c: &mut Conn, by: DateTime<Utc>) -> Result<Vec<Expiring>> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.participant_id, c.expires_at FROM consents c
         JOIN participants p ON p.id = c.participant_id
         WHERE c.id = (SELECT MAX(id) FROM consents WHERE participant_id = c.participant_id)
           AND c.withdrawn_at IS NULL AND c.expires_at IS NOT NULL
           AND c.expires_at <= $1 AND p.status IN ('active','paused') AND p.erased_at IS NULL",
    )
    .bind(ms(by))
    .fetch_all(&mut *c)
    .await?)
}
