//! The audit log of staff actions: who changed or looked at what. Separate
//! from the journal, which is the participant's case record.

use super::{Conn, ms};
use crate::error::Result;
use chrono::{DateTime, Utc};

pub async fn append(
    c: &mut Conn,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ms(at))
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(detail.to_string())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn count(c: &mut Conn, action: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM audit WHERE action = $1")
            .bind(action)
            .fetch_one(&mut *c)
            .await?,
    )
}
