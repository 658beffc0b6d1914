//! Staff: lotsar, coordinators, assistants and admins. A lots is
//! responsible for participants (`participants.lots_id`); their tasks and
//! Telegram alerts follow from that.

use super::{Conn, Parsed, ms, opt_from_ms};
use crate::domain::{Language, ParticipantId, Role, StaffId, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Staff {
    pub id: StaffId,
    pub unit_id: Option<UnitId>,
    pub name: String,
    pub username: String,
    pub role: Role,
    pub language: Language,
    pub active: bool,
    pub telegram_linked: bool,
    pub telegram_linked_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub telegram_chat_id: Option<String>,
    /// Who they are at the identity provider (the configured claim's
    /// value), for sign-in through it (migration 0015).
    pub external_id: Option<String>,
}

const COLS: &str = "id, unit_id, name, username, role, language, active, telegram_chat_id, telegram_linked_at, external_id";

/// A `staff` row ([`COLS`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct StaffRow {
    #[sqlx(try_from = "i64")]
    id: StaffId,
    unit_id: Option<i64>,
    name: String,
    username: String,
    role: Parsed<Role>,
    language: Parsed<Language>,
    active: i64,
    telegram_chat_id: Option<String>,
    telegram_linked_at: Option<i64>,
    external_id: Option<String>,
}

impl From<StaffRow> for Staff {
    fn from(r: StaffRow) -> Staff {
        Staff {
            id: r.id,
            unit_id: r.unit_id.map(UnitId::from_db),
            name: r.name,
            username: r.username,
            role: r.role.0,
            language: r.language.0,
            active: r.active != 0,
            telegram_linked: r.telegram_chat_id.is_some(),
            telegram_linked_at: opt_from_ms(r.telegram_linked_at),
            telegram_chat_id: r.telegram_chat_id,
            external_id: r.external_id,
        }
    }
}

/// A username: 2-40 characters of lowercase letters, digits, `.`, `_`, `-`.
pub fn parse_username(s: &str) -> Result<String> {
    let t = s.trim().to_lowercase();
    let ok = (2..=40).contains(&t.chars().count())
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(t)
    } else {
        Err(Error::invalid(format!(
            "'{s}' is not a username: use 2-40 letters a-z, digits, '.', '_' or '-'"
        )))
    }
}

/// The fields of a new staff member.
#[derive(Debug, Clone)]
pub struct NewStaff {
    pub unit: Option<UnitId>,
    pub name: String,
    pub username: String,
    pub role: Role,
    /// Language of their Telegram alerts.
    pub language: Language,
}

pub async fn create(c: &mut Conn, new: &NewStaff, now: DateTime<Utc>) -> Result<Staff> {
    let (unit, role, language) = (new.unit, new.role, new.language);
    // 1-100 characters, no control or bidi characters (`domain::Name`).
    let name = crate::domain::Name::parse(&new.name, "a staff name", 100)
        .map_err(|e| Error::invalid(e.to_string()))?;
    let name = name.as_str();
    let username = parse_username(&new.username)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO staff (unit_id, name, username, role, language, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(unit.map(UnitId::get))
    .bind(name)
    .bind(&username)
    .bind(role.as_str())
    .bind(language.as_str())
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await
    .map_err(|e| {
        Error::from(e).unique_as_conflict(|| format!("the username '{username}' is taken"))
    })?;
    get(c, StaffId::from_db(id)).await
}

pub async fn get(c: &mut Conn, id: StaffId) -> Result<Staff> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM staff WHERE id = $1"));
    Ok(sqlx::query_as::<_, StaffRow>(sql)
        .bind(id.get())
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::not_found(format!("staff member {id}")))?
        .into())
}

/// A staff member who is still active (links and lots assignments need one).
pub async fn get_active(c: &mut Conn, id: StaffId) -> Result<Staff> {
    let s = get(c, id).await?;
    if !s.active {
        return Err(Error::Conflict(format!("staff member {id} is inactive")));
    }
    Ok(s)
}

pub async fn list(c: &mut Conn) -> Result<Vec<Staff>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM staff ORDER BY id"));
    let rows = sqlx::query_as::<_, StaffRow>(sql)
        .fetch_all(&mut *c)
        .await?;
    Ok(rows.into_iter().map(Staff::from).collect())
}

/// Makes `lots` responsible for a participant (or nobody, with `None`).
pub async fn assign_lots(
    c: &mut Conn,
    p: ParticipantId,
    lots: Option<StaffId>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE participants SET lots_id = $1, updated_at = $2 WHERE id = $3")
        .bind(lots.map(StaffId::get))
        .bind(ms(now))
        .bind(p.get())
        .execute(&mut *c)
        .await?;
    // Open tasks follow the participant to the new lots.
    sqlx::query("UPDATE tasks SET assigned_to = $1 WHERE participant_id = $2 AND done_at IS NULL")
        .bind(lots.map(StaffId::get))
        .bind(p.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The id of the staff member with `username`, if any.
pub async fn id_by_username(c: &mut Conn, username: &str) -> Result<Option<StaffId>> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM staff WHERE username = $1")
        .bind(username)
        .fetch_optional(&mut *c)
        .await?;
    Ok(id.map(StaffId::from_db))
}

/// The staff member whose identity-provider id is `external_id`, if any.
pub async fn by_external_id(c: &mut Conn, external_id: &str) -> Result<Option<Staff>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM staff WHERE external_id = $1"));
    let row = sqlx::query_as::<_, StaffRow>(sql)
        .bind(external_id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(Staff::from))
}

/// Sets (or clears, with `None`) a staff member's identity-provider id;
/// another account with the same id is a conflict.
pub async fn set_external_id(c: &mut Conn, id: StaffId, external_id: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE staff SET external_id = $1 WHERE id = $2")
        .bind(external_id)
        .bind(id.get())
        .execute(&mut *c)
        .await
        .map_err(|e| {
            Error::from(e).unique_as_conflict(|| {
                "another staff member already has this identity-provider id".to_string()
            })
        })?;
    Ok(())
}
