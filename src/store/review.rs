//! The log review (loggkontroll): the audit rows that are views of a case
//! record, what a review needs to judge them (the participants, who their
//! lots was when), and the reviews recorded (`audit_reviews`, append-only
//! like the audit log; migration 0014). The judging is
//! `domain::review`; the page is `web::ui::review`.

use super::ui_admin::{AuditRow, StoredAudit};
use super::{Conn, Parsed, from_ms, ms};
use crate::domain::review::VIEW_ACTIONS;
use crate::domain::{ParticipantId, ReviewSelection, StaffId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};
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
    let rows = sqlx::query_as::<_, WhoRow>(
        "SELECT id, first_name, unit_id, lots_id, protected FROM participants",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(<(ParticipantId, Who)>::from).collect())
}

/// A [`Who`] and their id as the `Any` driver decodes them.
#[derive(sqlx::FromRow)]
struct WhoRow {
    #[sqlx(try_from = "i64")]
    id: ParticipantId,
    first_name: String,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    lots_id: Option<i64>,
    protected: i64,
}

impl From<WhoRow> for (ParticipantId, Who) {
    fn from(r: WhoRow) -> (ParticipantId, Who) {
        (
            r.id,
            Who {
                first_name: r.first_name,
                unit: r.unit_id,
                lots: r.lots_id.map(StaffId::from_db),
                protected: r.protected != 0,
            },
        )
    }
}

/// Every participant's `lots_assigned` journal events, `(at ms, lots)`,
/// oldest first.
pub async fn lots_history(
    c: &mut Conn,
) -> Result<HashMap<ParticipantId, Vec<(i64, Option<StaffId>)>>> {
    let rows = sqlx::query_as::<_, LotsEventRow>(
        "SELECT participant_id, at, detail FROM journal WHERE kind = 'lots_assigned' ORDER BY at, id",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut out: HashMap<ParticipantId, Vec<(i64, Option<StaffId>)>> = HashMap::new();
    for r in rows {
        let v: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
        let lots = v["lots_id"].as_i64().map(StaffId::from_db);
        out.entry(r.participant_id).or_default().push((r.at, lots));
    }
    Ok(out)
}

/// A `lots_assigned` journal event as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct LotsEventRow {
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    at: i64,
    detail: String,
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
    let rows = sqlx::query_as::<_, ReviewRow>(
        "SELECT id, at, staff_id, selection, period_from, period_to, filters, views, note
         FROM audit_reviews ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(Review::from).collect())
}

/// An `audit_reviews` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct ReviewRow {
    id: i64,
    at: i64,
    #[sqlx(try_from = "i64")]
    staff_id: StaffId,
    selection: Parsed<ReviewSelection>,
    period_from: i64,
    period_to: i64,
    filters: String,
    views: i64,
    note: String,
}

impl From<ReviewRow> for Review {
    fn from(r: ReviewRow) -> Review {
        Review {
            id: r.id,
            at: from_ms(r.at),
            staff: r.staff_id,
            selection: r.selection.0,
            from: from_ms(r.period_from),
            to: from_ms(r.period_to),
            filters: serde_json::from_str(&r.filters).unwrap_or_default(),
            views: r.views,
            note: r.note,
        }
    }
}
