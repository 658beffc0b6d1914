//! Recurring appointments: a cron expression in a time zone, for one
//! participant or for the current members of a group, expanded into real
//! appointments over a rolling horizon.

use super::units::{parse_tz, ser_tz};
use super::{Conn, Parsed, from_ms, ms};
use crate::domain::recurrence::CronExpr;
use crate::domain::{AppointmentKind, GroupId, ParticipantId, SeriesId, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub id: SeriesId,
    pub unit_id: UnitId,
    pub participant_id: Option<ParticipantId>,
    pub group_id: Option<GroupId>,
    pub kind: AppointmentKind,
    #[serde(serialize_with = "ser_cron")]
    pub cron: CronExpr,
    #[serde(serialize_with = "ser_tz")]
    pub time_zone: Tz,
    pub duration_min: i64,
    pub location: Option<String>,
    pub with_whom: Option<String>,
    pub expanded_until: DateTime<Utc>,
}

fn ser_cron<S: serde::Serializer>(c: &CronExpr, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_string())
}

/// Who a series is for.
#[derive(Debug, Clone, Copy)]
pub enum SeriesTarget {
    Participant(ParticipantId),
    Group(GroupId),
}

#[allow(clippy::too_many_arguments)]
pub async fn create(
    c: &mut Conn,
    unit: UnitId,
    target: SeriesTarget,
    kind: AppointmentKind,
    cron: &CronExpr,
    tz: Tz,
    duration_min: i64,
    location: Option<String>,
    now: DateTime<Utc>,
) -> Result<SeriesId> {
    let (p, g) = match target {
        SeriesTarget::Participant(p) => (Some(p.get()), None),
        SeriesTarget::Group(g) => (None, Some(g.get())),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO series (unit_id, participant_id, group_id, kind, cron, time_zone, duration_min,
                             location, expanded_until, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(unit.get())
    .bind(p)
    .bind(g)
    .bind(kind.as_str())
    .bind(cron.to_string())
    .bind(tz.name())
    .bind(duration_min)
    .bind(location)
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?;
    Ok(SeriesId::from_db(id))
}

/// A `series` row ([`COLS`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct SeriesRow {
    #[sqlx(try_from = "i64")]
    id: SeriesId,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    participant_id: Option<i64>,
    group_id: Option<i64>,
    kind: Parsed<AppointmentKind>,
    cron: String,
    time_zone: String,
    duration_min: i64,
    location: Option<String>,
    with_whom: Option<String>,
    expanded_until: i64,
}

impl TryFrom<SeriesRow> for Series {
    type Error = Error;
    fn try_from(r: SeriesRow) -> Result<Series> {
        Ok(Series {
            id: r.id,
            unit_id: r.unit_id,
            participant_id: r.participant_id.map(ParticipantId::from_db),
            group_id: r.group_id.map(GroupId::from_db),
            kind: r.kind.0,
            cron: CronExpr::from_db(&r.cron).map_err(Error::Invalid)?,
            time_zone: parse_tz(&r.time_zone)?,
            duration_min: r.duration_min,
            location: r.location,
            with_whom: r.with_whom,
            expanded_until: from_ms(r.expanded_until),
        })
    }
}

const COLS: &str = "id, unit_id, participant_id, group_id, kind, cron, time_zone, duration_min, \
                    location, with_whom, expanded_until";

/// Active series not yet expanded up to `horizon_end`.
pub async fn needing_expansion(c: &mut Conn, horizon_end: DateTime<Utc>) -> Result<Vec<Series>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM series WHERE active = 1 AND expanded_until < $1 ORDER BY id"
    ));
    let rows = sqlx::query_as::<_, SeriesRow>(sql)
        .bind(ms(horizon_end))
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(Series::try_from).collect()
}

pub async fn get(c: &mut Conn, id: SeriesId) -> Result<Series> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM series WHERE id = $1"));
    sqlx::query_as::<_, SeriesRow>(sql)
        .bind(id.get())
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("series {id}")))?
        .try_into()
}

pub async fn set_expanded_until(c: &mut Conn, id: SeriesId, until: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE series SET expanded_until = $1 WHERE id = $2 AND expanded_until < $1")
        .bind(ms(until))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Current members of a group at `at`.
pub async fn group_members(
    c: &mut Conn,
    group: GroupId,
    at: DateTime<Utc>,
) -> Result<Vec<ParticipantId>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT participant_id FROM group_members
         WHERE group_id = $1 AND joined_at <= $2 AND (left_at IS NULL OR left_at > $2)
         ORDER BY participant_id",
    )
    .bind(group.get())
    .bind(ms(at))
    .fetch_all(&mut *c)
    .await?;
    Ok(ids.into_iter().map(ParticipantId::from_db).collect())
}

pub async fn create_group(
    c: &mut Conn,
    unit: UnitId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<GroupId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO activity_groups (unit_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(unit.get())
    .bind(name.trim())
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?;
    Ok(GroupId::from_db(id))
}

pub async fn add_member(
    c: &mut Conn,
    group: GroupId,
    p: ParticipantId,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO group_members (group_id, participant_id, joined_at) VALUES ($1, $2, $3)",
    )
    .bind(group.get())
    .bind(p.get())
    .bind(ms(at))
    .execute(&mut *c)
    .await?;
    Ok(())
}
