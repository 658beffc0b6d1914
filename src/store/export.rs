//! The parts of a participant's data export (`Engine::export`) that no
//! other store module reads: consents, replies, group memberships and
//! series, each in the shape the export shows (instants as RFC 3339, JSON
//! documents parsed).

use super::{Conn, from_ms, opt_from_ms};
use crate::domain::ParticipantId;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

#[derive(sqlx::FromRow)]
struct ConsentRow {
    channels: String,
    given_at: i64,
    recorded_by: String,
    expires_at: Option<i64>,
    withdrawn_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Consent {
    pub channels: String,
    pub given_at: DateTime<Utc>,
    pub recorded_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// Every consent recorded, oldest first.
pub async fn consents(c: &mut Conn, id: ParticipantId) -> Result<Vec<Consent>> {
    let rows: Vec<ConsentRow> = sqlx::query_as(
        "SELECT channels, given_at, recorded_by, expires_at, withdrawn_at
         FROM consents WHERE participant_id = $1 ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Consent {
            channels: r.channels,
            given_at: from_ms(r.given_at),
            recorded_by: r.recorded_by,
            expires_at: opt_from_ms(r.expires_at),
            withdrawn_at: opt_from_ms(r.withdrawn_at),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct InboundRow {
    channel: String,
    body: Option<String>,
    received_at: i64,
    intent: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Inbound {
    pub channel: String,
    /// `None` once purged or erased.
    pub text: Option<String>,
    pub received_at: DateTime<Utc>,
    /// How the reply was read (`None`: not read, e.g. a duplicate).
    pub intent: Option<Value>,
}

/// Every message the participant sent, oldest first.
pub async fn inbound(c: &mut Conn, id: ParticipantId) -> Result<Vec<Inbound>> {
    let rows: Vec<InboundRow> = sqlx::query_as(
        "SELECT channel, body, received_at, intent FROM inbound WHERE participant_id = $1 ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Inbound {
            channel: r.channel,
            text: r.body,
            received_at: from_ms(r.received_at),
            intent: r.intent.and_then(|s| serde_json::from_str(&s).ok()),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: i64,
    name: String,
    joined_at: i64,
    left_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Membership {
    pub group_id: i64,
    pub name: String,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

/// The groups the participant is or was a member of, with the dates.
pub async fn groups(c: &mut Conn, id: ParticipantId) -> Result<Vec<Membership>> {
    let rows: Vec<MembershipRow> = sqlx::query_as(
        "SELECT g.id, g.name, m.joined_at, m.left_at FROM group_members m
         JOIN activity_groups g ON g.id = m.group_id
         WHERE m.participant_id = $1 ORDER BY m.joined_at, g.id",
    )
    .bind(id.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Membership {
            group_id: r.id,
            name: r.name,
            joined_at: from_ms(r.joined_at),
            left_at: opt_from_ms(r.left_at),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct SeriesRow {
    id: i64,
    kind: String,
    cron: String,
    time_zone: String,
    duration_min: i64,
    location: Option<String>,
    with_whom: Option<String>,
    active: i64,
    created_at: i64,
}

#[derive(Debug, Serialize)]
pub struct Series {
    pub id: i64,
    pub kind: String,
    pub cron: String,
    pub time_zone: String,
    pub duration_min: i64,
    pub location: Option<String>,
    pub with_whom: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// The participant's own recurring times (a group's are the group's).
pub async fn series(c: &mut Conn, id: ParticipantId) -> Result<Vec<Series>> {
    let rows: Vec<SeriesRow> = sqlx::query_as(
        "SELECT id, kind, cron, time_zone, duration_min, location, with_whom, active, created_at
         FROM series WHERE participant_id = $1 ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Series {
            id: r.id,
            kind: r.kind,
            cron: r.cron,
            time_zone: r.time_zone,
            duration_min: r.duration_min,
            location: r.location,
            with_whom: r.with_whom,
            active: r.active != 0,
            created_at: from_ms(r.created_at),
        })
        .collect())
}
