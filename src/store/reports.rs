//! Figures for coordinators and admins.

use super::{Conn, ms};
use crate::domain::UnitId;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// SMS sent by a unit in a period, per currency.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
    let rows = sqlx::query(
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
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SmsCost {
                currency: r.try_get("currency")?,
                messages: r.try_get("messages")?,
                parts: r.try_get("parts")?,
                cost: r.try_get("cost")?,
            })
        })
        .collect()
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
