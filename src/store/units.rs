//! Units (programmes): the tenant boundary. A unit owns its participants,
//! its quiet hours, its reminder rules and its retention.

use super::{Conn, ms};
use crate::domain::schedule::QuietHours;
use crate::domain::{AppointmentKind, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    #[serde(serialize_with = "ser_tz")]
    pub time_zone: Tz,
    pub quiet_hours: QuietHours,
    pub retention_days: i64,
    /// After "kommer", ask when the participant needs to leave home, and
    /// remind then (opt-in).
    pub plan_making: bool,
    /// Give the lots a task when an active participant has nothing booked
    /// in this many days (0: off).
    pub gap_alert_days: i64,
    /// Staff Telegram alerts copy the participant's text and reason (off
    /// by default: an alert says "ny uppgift" with a link; migration 0010).
    pub alert_details: bool,
}

pub fn ser_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

/// Parses an IANA zone name.
pub fn parse_tz(s: &str) -> Result<Tz> {
    s.trim().parse::<Tz>().map_err(|_| {
        Error::invalid(format!(
            "'{s}' is not a time zone; write e.g. Europe/Stockholm"
        ))
    })
}

const COLS: &str = "id, name, time_zone, quiet_start_min, quiet_end_min, retention_days, plan_making, gap_alert_days, alert_details";

/// A `units` row ([`COLS`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct UnitRow {
    #[sqlx(try_from = "i64")]
    id: UnitId,
    name: String,
    time_zone: String,
    quiet_start_min: i64,
    quiet_end_min: i64,
    retention_days: i64,
    plan_making: i64,
    gap_alert_days: i64,
    alert_details: i64,
}

impl TryFrom<UnitRow> for Unit {
    type Error = Error;
    fn try_from(r: UnitRow) -> Result<Unit> {
        Ok(Unit {
            id: r.id,
            name: r.name,
            time_zone: parse_tz(&r.time_zone)?,
            quiet_hours: QuietHours::from_minutes(r.quiet_start_min as u32, r.quiet_end_min as u32)
                .map_err(Error::Invalid)?,
            retention_days: r.retention_days,
            plan_making: r.plan_making != 0,
            gap_alert_days: r.gap_alert_days,
            alert_details: r.alert_details != 0,
        })
    }
}

/// Default reminder rules for a new unit: the day before and two hours
/// before, asking for a reply three hours before the start.
pub fn default_rules() -> Vec<(AppointmentKind, &'static str)> {
    vec![
        (AppointmentKind::Meeting, "24h,2h"),
        (AppointmentKind::DrugTest, "24h,2h"),
        (AppointmentKind::GroupActivity, "24h,2h"),
        (AppointmentKind::Other, "24h"),
    ]
}

pub async fn create(c: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<Unit> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("a unit name must be 1-100 characters"));
    }
    let id: i64 =
        sqlx::query_scalar("INSERT INTO units (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(ms(now))
            .fetch_one(&mut *c)
            .await
            .map_err(|e| {
                Error::from(e)
                    .unique_as_conflict(|| format!("a unit named '{name}' already exists"))
            })?;
    let id = UnitId::from_db(id);
    for (kind, offsets) in default_rules() {
        super::rules::set(
            c,
            id,
            kind,
            &crate::domain::Span::parse_list(offsets).map_err(Error::Invalid)?,
            true,
            Some(crate::domain::Span::minutes(180).map_err(Error::Invalid)?),
        )
        .await?;
    }
    get(c, id).await
}

pub async fn get(c: &mut Conn, id: UnitId) -> Result<Unit> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM units WHERE id = $1"));
    sqlx::query_as::<_, UnitRow>(sql)
        .bind(id.get())
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("unit {id}")))?
        .try_into()
}

/// Finds a unit by id or by exact name, as typed on the command line.
pub async fn resolve(c: &mut Conn, name_or_id: &str) -> Result<Unit> {
    if let Ok(id) = name_or_id.parse::<UnitId>() {
        return get(c, id).await;
    }
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM units WHERE name = $1"));
    sqlx::query_as::<_, UnitRow>(sql)
        .bind(name_or_id.trim())
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("unit '{}'", name_or_id.trim())))?
        .try_into()
}

pub async fn list(c: &mut Conn) -> Result<Vec<Unit>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM units ORDER BY id"));
    let rows = sqlx::query_as::<_, UnitRow>(sql).fetch_all(&mut *c).await?;
    rows.into_iter().map(Unit::try_from).collect()
}

pub async fn set_quiet_hours(c: &mut Conn, id: UnitId, q: QuietHours) -> Result<()> {
    sqlx::query("UPDATE units SET quiet_start_min = $1, quiet_end_min = $2 WHERE id = $3")
        .bind(i64::from(q.start_minute()))
        .bind(i64::from(q.end_minute()))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Unit settings beyond quiet hours.
/// Whether staff Telegram alerts carry the participant's words.
pub async fn set_alert_details(c: &mut Conn, id: UnitId, on: bool) -> Result<()> {
    sqlx::query("UPDATE units SET alert_details = $1 WHERE id = $2")
        .bind(i64::from(on))
        .bind(id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_settings(
    c: &mut Conn,
    id: UnitId,
    plan_making: Option<bool>,
    gap_alert_days: Option<i64>,
    retention_days: Option<i64>,
) -> Result<()> {
    if retention_days.is_some_and(|d| d < 1) {
        return Err(Error::invalid("retention must be at least one day"));
    }
    sqlx::query(
        "UPDATE units SET plan_making = COALESCE($1, plan_making),
                gap_alert_days = COALESCE($2, gap_alert_days),
                retention_days = COALESCE($3, retention_days)
         WHERE id = $4",
    )
    .bind(plan_making.map(i64::from))
    .bind(gap_alert_days)
    .bind(retention_days)
    .bind(id.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}
