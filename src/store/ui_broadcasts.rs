//! Reads for the broadcast pages of the staff UI: a unit's broadcasts with
//! their progress, and a broadcast's Swedish text.

use super::{Conn, from_ms, ms};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};

/// One broadcast in the list.
#[derive(Debug, Clone)]
pub struct ListRow {
    pub id: i64,
    pub group_name: Option<String>,
    pub text_sv: String,
    pub send_at: DateTime<Utc>,
    pub recipients: i64,
    /// Members whose message went out (sent or delivered).
    pub gone: i64,
    /// Members whose message failed and was not replaced (by an SMS in
    /// place of Telegram) by one that is under way or went out.
    pub failed: i64,
}

/// A unit's broadcasts, newest first (at most `limit`).
pub async fn list(c: &mut Conn, unit: crate::domain::UnitId, limit: i64) -> Result<Vec<ListRow>> {
    let rows = sqlx::query_as::<_, ListedRow>(
        "SELECT b.id, g.name AS group_name, b.text_sv, b.send_at, b.recipients,
                (SELECT COUNT(DISTINCT o.participant_id) FROM outbox o WHERE o.broadcast_id = b.id
                   AND o.status IN ('sent','delivered')) AS gone,
                (SELECT COUNT(DISTINCT o.participant_id) FROM outbox o WHERE o.broadcast_id = b.id
                   AND o.status = 'failed'
                   AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.broadcast_id = b.id
                                     AND o2.participant_id = o.participant_id
                                     AND o2.status IN ('pending','sending','sent','delivered'))) AS failed
         FROM broadcasts b LEFT JOIN activity_groups g ON g.id = b.group_id
         WHERE b.unit_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT $2",
    )
    .bind(unit.get())
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(ListRow::from).collect())
}

/// A [`ListRow`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct ListedRow {
    id: i64,
    group_name: Option<String>,
    text_sv: String,
    send_at: i64,
    recipients: i64,
    gone: i64,
    failed: i64,
}

impl From<ListedRow> for ListRow {
    fn from(r: ListedRow) -> ListRow {
        ListRow {
            id: r.id,
            group_name: r.group_name,
            text_sv: r.text_sv,
            send_at: from_ms(r.send_at),
            recipients: r.recipients,
            gone: r.gone,
            failed: r.failed,
        }
    }
}

/// A broadcast's texts (Swedish, English).
pub async fn texts(c: &mut Conn, id: i64) -> Result<(String, String)> {
    sqlx::query_as::<_, (String, String)>("SELECT text_sv, text_en FROM broadcasts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("broadcast {id}")))
}

/// Upcoming appointments of a group's series (one per series and start):
/// the activities a broadcast may be tied to.
pub async fn upcoming_activities(
    c: &mut Conn,
    group: crate::domain::GroupId,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>)>> {
    let rows = sqlx::query_as::<_, (i64, i64)>(
        "SELECT MIN(a.id) AS id, a.starts_at FROM appointments a
         JOIN series s ON s.id = a.series_id
         WHERE s.group_id = $1 AND a.starts_at > $2 AND a.status = 'scheduled'
         GROUP BY a.series_id, a.starts_at ORDER BY a.starts_at LIMIT 20",
    )
    .bind(group.get())
    .bind(ms(now))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, starts_at)| (id, from_ms(starts_at)))
        .collect())
}
