//! Figures for coordinators and admins.

use super::{Conn, ms};
use crate::domain::{ParticipantId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// SMS sent by a unit in a period, per currency.
#[derive(Debug, Clone, Serialize, PartialEq, sqlx::FromRow)]
pub struct SmsCost {
    pub currency: Option<String>,
    pub messages: i64,
    pub parts: i64,
    /// In 1/10,000 of the currency, as gateways report it.
    pub cost: i64,
}

pub async fn sms_cost(
    c: &mut Conn,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SmsCost>> {
    Ok(sqlx::query_as(
        "SELECT o.currency, COUNT(*) AS messages,
                CAST(COALESCE(SUM(o.parts), 0) AS BIGINT) AS parts,
                CAST(COALESCE(SUM(o.cost), 0) AS BIGINT) AS cost
         FROM outbox o JOIN participants p ON p.id = o.participant_id
         WHERE p.unit_id = $1 AND o.channel = 'sms' AND o.sent_at >= $2 AND o.sent_at < $3
         GROUP BY o.currency ORDER BY o.currency",
    )
    .bind(unit.get())
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(&mut *c)
    .await?)
}

/// Inbound SMS from numbers that belong to nobody, in a period: only the
/// count is kept.
pub async fn unknown_senders(c: &mut Conn, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM inbound WHERE participant_id IS NULL AND received_at >= $1 AND received_at < $2",
    )
    .bind(ms(from))
    .bind(ms(to))
    .fetch_one(&mut *c)
    .await?)
}

/// A participant's appointments in a window, counted for the show-up and
/// reply rates.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Counts {
    /// With attendance recorded (attended or absent; excused left out).
    pub recorded: i64,
    pub attended: i64,
    /// A reminder that asked for a reply went out.
    pub asked: i64,
    /// Asked, and replied to.
    pub replied: i64,
}

/// [`Counts`] over the participant's scheduled appointments starting
/// between `from` and `to`.
pub async fn participant_counts(
    c: &mut Conn,
    p: ParticipantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Counts> {
    // SUM over integer literals is BIGINT on PostgreSQL, INTEGER on SQLite;
    // both decode as i64.
    Ok(sqlx::query_as(
        "SELECT
           COALESCE(SUM(CASE WHEN attendance IN ('attended','absent') THEN 1 ELSE 0 END), 0) AS recorded,
           COALESCE(SUM(CASE WHEN attendance = 'attended' THEN 1 ELSE 0 END), 0) AS attended,
           COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id AND o.ask_reply = 1
                               AND o.status IN ('sent','delivered')) THEN 1 ELSE 0 END), 0) AS asked,
           COALESCE(SUM(CASE WHEN reply <> 'none' AND EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id
                               AND o.ask_reply = 1 AND o.status IN ('sent','delivered')) THEN 1 ELSE 0 END), 0) AS replied
         FROM appointments a
         WHERE a.participant_id = $1 AND a.status = 'scheduled' AND a.starts_at >= $2 AND a.starts_at <= $3",
    )
    .bind(p.get())
    .bind(ms(from))
    .bind(ms(to))
    .fetch_one(&mut *c)
    .await?)
}
