//! Calendar feeds (migration 0018): the secret links people subscribe to,
//! kept as the SHA-256 of their secret, and the two reads a feed is made
//! of. What a feed may show is decided in `engine::calendar_feeds`; these
//! reads already leave out what must never leave paminn: cancelled
//! appointments, protected participants, and every text but a first name,
//! a kind and a group's name.

use super::{Conn, ms};
use crate::domain::calendar_feed::FeedScope;
use crate::domain::{AppointmentKind, Language, StaffId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// A feed link, never its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedLink {
    pub id: i64,
    #[sqlx(try_from = "i64")]
    pub staff_id: StaffId,
    #[sqlx(try_from = "super::Parsed<FeedScope>")]
    pub scope: FeedScope,
    #[sqlx(try_from = "super::Parsed<Language>")]
    pub language: Language,
    /// Unix milliseconds.
    pub created_at: i64,
    pub last_fetched_at: Option<i64>,
}

/// Revokes the person's live link of `scope`, if any; returns how many.
pub async fn revoke(
    c: &mut Conn,
    staff: StaffId,
    scope: FeedScope,
    now: DateTime<Utc>,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE calendar_feeds SET revoked_at = $1
         WHERE staff_id = $2 AND scope = $3 AND revoked_at IS NULL",
    )
    .bind(ms(now))
    .bind(staff.get())
    .bind(scope.as_str())
    .execute(&mut *c)
    .await?
    .rows_affected())
}

/// Stores a new link by its secret's hash.
pub async fn insert(
    c: &mut Conn,
    staff: StaffId,
    scope: FeedScope,
    language: Language,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO calendar_feeds (staff_id, scope, language, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(staff.get())
    .bind(scope.as_str())
    .bind(language.as_str())
    .bind(token_hash)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The live link with this secret hash.
pub async fn by_hash(c: &mut Conn, token_hash: &str) -> Result<Option<FeedLink>> {
    Ok(sqlx::query_as(
        "SELECT id, staff_id, scope, language, created_at, last_fetched_at
         FROM calendar_feeds WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?)
}

/// The person's live links, one per scope at most.
pub async fn live_for(c: &mut Conn, staff: StaffId) -> Result<Vec<FeedLink>> {
    Ok(sqlx::query_as(
        "SELECT id, staff_id, scope, language, created_at, last_fetched_at
         FROM calendar_feeds WHERE staff_id = $1 AND revoked_at IS NULL ORDER BY id",
    )
    .bind(staff.get())
    .fetch_all(&mut *c)
    .await?)
}

/// Notes when a calendar last fetched the link (shown on the account page,
/// so a forgotten subscription can be seen and revoked).
pub async fn touch(c: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE calendar_feeds SET last_fetched_at = $1 WHERE id = $2")
        .bind(ms(now))
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// One appointment of a caseload feed: nothing but a first name and a kind.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseloadSlot {
    pub id: i64,
    pub plan_version: i64,
    /// Unix milliseconds.
    pub starts_at: i64,
    pub duration_min: i64,
    #[sqlx(try_from = "super::Parsed<AppointmentKind>")]
    pub kind: AppointmentKind,
    pub first_name: String,
}

/// The scheduled appointments in `[from, to)` of the participants `staff`
/// is lots for, protected participants left out.
pub async fn caseload(
    c: &mut Conn,
    staff: StaffId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<CaseloadSlot>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.plan_version, a.starts_at, a.duration_min, a.kind, p.first_name
         FROM appointments a JOIN participants p ON p.id = a.participant_id
         WHERE p.lots_id = $1 AND p.protected = 0 AND a.status = 'scheduled'
           AND a.starts_at >= $2 AND a.starts_at < $3
         ORDER BY a.starts_at, a.id",
    )
    .bind(staff.get())
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(&mut *c)
    .await?)
}

/// One occurrence of a group activity: its group's name and how many are
/// booked, never who.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivitySlot {
    pub series_id: i64,
    /// Unix milliseconds.
    pub starts_at: i64,
    pub duration_min: i64,
    pub group_name: String,
    pub booked: i64,
    /// The highest plan version among the bookings: raised by a move.
    pub plan_version: i64,
}

/// The unit's group activities in `[from, to)`, one row per occurrence.
pub async fn unit_activities(
    c: &mut Conn,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ActivitySlot>> {
    Ok(sqlx::query_as(
        "SELECT s.id AS series_id, a.starts_at, MAX(a.duration_min) AS duration_min,
                g.name AS group_name, COUNT(*) AS booked, MAX(a.plan_version) AS plan_version
         FROM appointments a
         JOIN series s ON s.id = a.series_id
         JOIN activity_groups g ON g.id = s.group_id
         WHERE s.unit_id = $1 AND a.status = 'scheduled'
           AND a.starts_at >= $2 AND a.starts_at < $3
         GROUP BY s.id, a.starts_at, g.name
         ORDER BY a.starts_at, s.id",
    )
    .bind(unit.get())
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(&mut *c)
    .await?)
}
