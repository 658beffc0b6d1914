//! The log review (loggkontroll): the audit rows that are views of a case
//! record, what a review needs to judge them (the participants, who their
//! lots was when), and the reviews recorded (`audit_reviews`, append-only
//! like the audit log; migration 0014). The judging is
//! `domain::review`; the page is `web::ui::review`.

use super::ui_admin::{AuditRow, StoredAudit};
use super::{Conn, from_ms, ms};
use crate::domain::review::VIEW_ACTIONS;
use crate::domain::{ParticipantId, ReviewSelection, StaffId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

/// The views of case records from `from` up to `to`, optionally by one
/// actor (`staff:3`, `api:crm`) and of one participant, newest first.
pub async fn views(
    c: &mut Conn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    actor: Option<&str>,
    participant: Option<ParticipantId>,
) -> Result<Vec<AuditRow>> {
    let actions = VIEW_ACTIONS
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT id, at, actor, action, target, detail FROM audit
         WHERE at >= $1 AND at < $2 AND action IN ({actions})
           AND ($3 = '' OR actor = $3) AND ($4 = '' OR target = $4)
         ORDER BY id DESC"
    );
    let rows = sqlx::query_as::<_, StoredAudit>(sqlx::AssertSqlSafe(sql))
        .bind(ms(from))
        .bind(ms(to))
        .bind(actor.unwrap_or(""))
        .bind(participant.map_or(String::new(), |p| format!("participant:{p}")))
        .fetch_all(&mut *c)
        .await?;
    Ok(rows.into_iter().map(AuditRow::from).collect())
}

/// A participant as the review needs them: first name (erased ones keep
/// their row), unit, today's lots, protection.
#[derive(Debug, Clone)]
pub struct Who {
    pub first_name: String,
    pub unit: UnitId,
    pub lots: Option<StaffId>,
    pub protected: bool,
}

/// Every participant, by id.
pub async fn participants(c: &mut Conn) -> Result<HashMap<ParticipantId, Who>> {
    let rows = sqlx::query("SELECT id, first_name, unit_id, lots_id, protected FROM participants")
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                ParticipantId::from_db(r.try_get("id")?),
                Who {
                    first_name: r.try_get("first_name")?,
                    unit: UnitId::from_db(r.try_get("unit_id")?),
                    lots: r
                        .try_get::<Option<i64>, _>("lots_id")?
                        .map(StaffId::from_db),
                    protected: r.try_get::<i64, _>("protected")? != 0,
                },
            ))
        })
        .collect()
}

/// Every participant's `lots_assigned` journal events, `(at ms, lots)`,
/// oldest first.
pub async fn lots_history(
    c: &mut Conn,
) -> Result<HashMap<ParticipantId, Vec<(i64, Option<StaffId>)>>> {
    let rows = sqlx::query(
        "SELECT participant_id, at, detail FROM journal WHERE kind = 'lots_assigned' ORDER BY at, id",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut out: HashMap<ParticipantId, Vec<(i64, Option<StaffId>)>> = HashMap::new();
    for r in rows {
        let detail: String = r.try_get("detail")?;
        let v: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
        let lots = v["lots_id"].as_i64().map(StaffId::from_db);
        out.entry(ParticipantId::from_db(r.try_get("participant_id")?))
            .or_default()
            .push((r.try_get("at")?, lots));
    }
    Ok(out)
}

/// A review to record.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub staff: StaffId,
    pub selection: ReviewSelection,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The filters and, for a sample, its size and seed.
    pub filters: serde_json::Value,
    /// How many views the selection held.
    pub views: i64,
    pub note: String,
}

/// A review as recorded.
#[derive(Debug, Clone)]
pub struct Review {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub staff: StaffId,
    pub selection: ReviewSelection,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub filters: serde_json::Value,
    pub views: i64,
    pub note: String,
}

pub async fn record(c: &mut Conn, r: &NewReview, now: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO audit_reviews (at, staff_id, selection, period_from, period_to, filters, views, note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(ms(now))
    .bind(r.staff.get())
    .bind(r.selection.as_str())
    .bind(ms(r.from))
    .bind(ms(r.to))
    .bind(r.filters.to_string())
    .bind(r.views)
    .bind(&r.note)
    .fetch_one(&mut *c)
    .await?)
}

/// The latest `limit` reviews, newest first.
pub async fn list(c: &mut Conn, limit: i64) -> Result<Vec<Review>> {
    let rows = sqlx::query(
        "SELECT id, at, staff_id, selection, period_from, period_to, filters, views, note
         FROM audit_reviews ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let filters: String = r.try_get("filters")?;
            Ok(Review {
                id: r.try_get("id")?,
                at: from_ms(r.try_get("at")?),
                staff: StaffId::from_db(r.try_get("staff_id")?),
                selection: super::parse_col(&r.try_get::<String, _>("selection")?)?,
                from: from_ms(r.try_get("period_from")?),
                to: from_ms(r.try_get("period_to")?),
                filters: serde_json::from_str(&filters).unwrap_or_default(),
                views: r.try_get("views")?,
                note: r.try_get("note")?,
            })
        })
        .collect()
}
