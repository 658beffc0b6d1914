//! The purge of old message texts: message bodies and reasons older than
//! the participant's unit's retention are removed, and the words inside
//! JSON documents ([`strip_texts`]); the metadata (who, when, status,
//! intent) stays. And the purge of finished event-webhook deliveries
//! ([`purge_hook_deliveries`]) after the same retention.

use super::{Conn, ms};
use crate::domain::retention::strip_texts;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// Purges in `c` (the caller's transaction); returns the rows changed.
pub async fn purge_texts(c: &mut Conn, now: DateTime<Utc>) -> Result<u64> {
    let cutoff = "(SELECT $1 - u.retention_days * 86400000 FROM participants p \
                  JOIN units u ON u.id = p.unit_id WHERE p.id = {t}.participant_id)";
    let mut total = 0;
    for (table, set, time, only) in [
        ("outbox", "body = NULL", "created_at", "body IS NOT NULL"),
        ("inbound", "body = NULL", "received_at", "body IS NOT NULL"),
        ("sandbox_messages", "body = ''", "at", "body <> ''"),
        (
            "appointments",
            "reply_reason = NULL",
            "starts_at",
            "reply_reason IS NOT NULL",
        ),
    ] {
        let sql = format!(
            "UPDATE {table} SET {set} WHERE {only} AND {time} < {}",
            cutoff.replace("{t}", table)
        );
        total += sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .execute(&mut *c)
            .await?
            .rows_affected();
    }
    // Journal and task details and stored intents are JSON: drop the
    // text and reason keys.
    for (table, column, time) in [
        ("journal", "detail", "at"),
        ("tasks", "detail", "created_at"),
        ("inbound", "intent", "received_at"),
    ] {
        let sql = format!(
            "SELECT id, {column} AS doc FROM {table} WHERE {time} < {} \
             AND ({column} LIKE '%\"text\":\"%' OR {column} LIKE '%\"reason\":\"%')",
            cutoff.replace("{t}", table)
        );
        let rows = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .fetch_all(&mut *c)
            .await?;
        for (id, doc) in rows {
            let mut v: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
            if strip_texts(&mut v) {
                let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(v.to_string())
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                total += 1;
            }
        }
    }
    Ok(total)
}

/// Deletes event-webhook deliveries that are finished (delivered, or given
/// up after a day of retries) and were queued longer ago than the
/// endpoint's unit's retention. They hold ids, times and status codes, no
/// words, but one row per event and endpoint would otherwise grow without
/// end. Pending ones stay whatever their age (a resend makes an old one
/// pending again). Returns the rows deleted. Also forgets the secrets
/// whose day of signing after a rotation is over: nothing needs them.
pub async fn purge_hook_deliveries(c: &mut Conn, now: DateTime<Utc>) -> Result<u64> {
    sqlx::query(
        "UPDATE event_hook_endpoints SET previous_secret = NULL
         WHERE previous_secret IS NOT NULL AND previous_until <= $1",
    )
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(sqlx::query(
        "DELETE FROM event_hook_deliveries
         WHERE status IN ('delivered', 'failed')
           AND created_at < (SELECT $1 - u.retention_days * 86400000
                             FROM event_hook_endpoints e JOIN units u ON u.id = e.unit_id
                             WHERE e.id = event_hook_deliveries.endpoint_id)",
    )
    .bind(ms(now))
    .execute(&mut *c)
    .await?
    .rows_affected())
}
