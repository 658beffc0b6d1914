//! The audit log of staff actions: who changed or looked at what. Separate
//! from the journal, which is the participant's case record.

use super::{Conn, ms};
use crate::error::Result;
use chrono::{DateTime, Utc};

tokio::task_local! {
    /// The page a web request is for (`GET /participants/7`), set by
    /// `web::router` around each request: every audit row written while it
    /// is served names it (`"page"` in the detail), so the log review can
    /// say from which page a case record was opened. The API's rows name
    /// their route and token themselves.
    pub static PAGE: String;
}

/// `detail` with the request's page added (when serving a web request and
/// the detail is an object that names no page or route of its own).
fn with_page(mut detail: serde_json::Value) -> serde_json::Value {
    if let (Ok(page), serde_json::Value::Object(m)) = (PAGE.try_with(Clone::clone), &mut detail)
        && !m.contains_key("route")
    {
        m.entry("page").or_insert(page.into());
    }
    detail
}

pub async fn append(
    c: &mut Conn,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let detail = with_page(detail);
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

/// The retention purge of the audit log: deletes the rows older than
/// `before`, in the caller's transaction, through the one path the
/// database allows (migration 0014): the bound is set in `audit_purge`,
/// the rows deleted, the bound reset. The triggers refuse any row younger
/// than the bound, and any row of the last 365 days by the database's own
/// clock whatever the bound says. Returns the rows deleted.
pub async fn purge(c: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    sqlx::query("UPDATE audit_purge SET before_at = $1 WHERE id = 1")
        .bind(ms(before))
        .execute(&mut *c)
        .await?;
    let n = sqlx::query("DELETE FROM audit WHERE at < $1")
        .bind(ms(before))
        .execute(&mut *c)
        .await?
        .rows_affected();
    sqlx::query("UPDATE audit_purge SET before_at = 0 WHERE id = 1")
        .execute(&mut *c)
        .await?;
    Ok(n)
}
