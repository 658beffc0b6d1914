//! The staff web UI's own tables: login sessions (by the SHA-256 of the
//! cookie's token), failed logins per username, and password hashes.

use super::{Conn, from_ms, ms};
use crate::domain::StaffId;
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A session as stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub staff_id: StaffId,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn create_session(
    c: &mut Conn,
    token_hash: &str,
    staff: StaffId,
    csrf: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, staff_id, csrf, created_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(token_hash)
    .bind(staff.get())
    .bind(csrf)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn get_session(c: &mut Conn, token_hash: &str) -> Result<Option<Session>> {
    let row = sqlx::query(
        "SELECT staff_id, csrf, created_at, last_seen_at FROM web_sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| {
        Ok(Session {
            staff_id: StaffId::from_db(r.try_get("staff_id")?),
            csrf: r.try_get("csrf")?,
            created_at: from_ms(r.try_get("created_at")?),
            last_seen_at: from_ms(r.try_get("last_seen_at")?),
        })
    })
    .transpose()
}

pub async fn touch_session(c: &mut Conn, token_hash: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(ms(now))
        .bind(token_hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn delete_session(c: &mut Conn, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Ends every session of a staff member but `keep` (after a password
/// change, or all of them when they are deactivated).
pub async fn delete_sessions_of(c: &mut Conn, staff: StaffId, keep: Option<&str>) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM web_sessions WHERE staff_id = $1 AND token_hash <> $2")
            .bind(staff.get())
            .bind(keep.unwrap_or(""))
            .execute(&mut *c)
            .await?
            .rows_affected(),
    )
}

/// Removes sessions last used before `before`.
pub async fn purge_sessions(c: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM web_sessions WHERE last_seen_at < $1")
            .bind(ms(before))
            .execute(&mut *c)
            .await?
            .rows_affected(),
    )
}

/// (failures, last failure) for a username's SHA-256 (`engine::auth`
/// hashes it).
pub async fn login_failures(c: &mut Conn, username: &str) -> Result<(i64, DateTime<Utc>)> {
    let row = sqlx::query(
        "SELECT failures, last_failure_at FROM login_failures WHERE username_hash = $1",
    )
    .bind(username)
    .fetch_optional(&mut *c)
    .await?;
    Ok(match row {
        Some(r) => (
            r.try_get("failures")?,
            from_ms(r.try_get("last_failure_at")?),
        ),
        None => (0, DateTime::<Utc>::UNIX_EPOCH),
    })
}

pub async fn record_login_failure(c: &mut Conn, username: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_failures (username_hash, failures, last_failure_at) VALUES ($1, 1, $2)
         ON CONFLICT (username_hash) DO UPDATE SET failures = login_failures.failures + 1,
                                              last_failure_at = excluded.last_failure_at",
    )
    .bind(username)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn clear_login_failures(c: &mut Conn, username: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE username_hash = $1")
        .bind(username)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// (staff id, PHC password hash, active) by username.
pub async fn credentials(
    c: &mut Conn,
    username: &str,
) -> Result<Option<(StaffId, Option<String>, bool)>> {
    let row = sqlx::query("SELECT id, password_hash, active FROM staff WHERE username = $1")
        .bind(username)
        .fetch_optional(&mut *c)
        .await?;
    row.map(|r| {
        Ok((
            StaffId::from_db(r.try_get("id")?),
            r.try_get("password_hash")?,
            r.try_get::<i64, _>("active")? != 0,
        ))
    })
    .transpose()
}

pub async fn password_hash(c: &mut Conn, staff: StaffId) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = $1")
            .bind(staff.get())
            .fetch_optional(&mut *c)
            .await?
            .flatten(),
    )
}

pub async fn set_password_hash(
    c: &mut Conn,
    staff: StaffId,
    phc: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE staff SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(phc)
        .bind(ms(now))
        .bind(staff.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}
