//! The staff web UI's own tables: login sessions (by the SHA-256 of the
//! cookie's token), the login limits (`login_throttle`, keyed by hashes),
//! and password hashes.

use super::{Conn, from_ms, ms};
use crate::domain::throttle::Counted;
use crate::domain::{ParticipantId, StaffId, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};

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
    let row = sqlx::query_as::<_, SessionRow>(
        "SELECT staff_id, csrf, created_at, last_seen_at FROM web_sessions WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(Session::from))
}

/// A `web_sessions` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(try_from = "i64")]
    staff_id: StaffId,
    csrf: String,
    created_at: i64,
    last_seen_at: i64,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Session {
        Session {
            staff_id: r.staff_id,
            csrf: r.csrf,
            created_at: from_ms(r.created_at),
            last_seen_at: from_ms(r.last_seen_at),
        }
    }
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

/// Counts an attempt against a limit row first (created at its first
/// attempt) and returns the row as it was before this attempt's check.
/// Inside a transaction the row stays locked until commit (PostgreSQL's
/// upsert takes the row lock; SQLite's write transaction is `BEGIN
/// IMMEDIATE`), so parallel attempts queue here one by one.
pub async fn throttle_count(c: &mut Conn, key: &str, now: DateTime<Utc>) -> Result<Counted> {
    let r = sqlx::query_as::<_, CountedRow>(
        "INSERT INTO login_throttle (key, tries, checks, window_start, last_check_at, updated_at)
         VALUES ($1, 1, 0, $2, 0, $2)
         ON CONFLICT (key) DO UPDATE SET tries = login_throttle.tries + 1,
                                         updated_at = excluded.updated_at
         RETURNING checks, window_start, last_check_at",
    )
    .bind(key)
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?;
    Ok(Counted {
        checks: r.checks,
        window_start: from_ms(r.window_start),
        last_check_at: from_ms(r.last_check_at),
    })
}

/// A `login_throttle` row as [`throttle_count`] returns it.
#[derive(sqlx::FromRow)]
struct CountedRow {
    checks: i64,
    window_start: i64,
    last_check_at: i64,
}

/// Records a check let through (`domain::throttle::after_check`).
pub async fn throttle_checked(
    c: &mut Conn,
    key: &str,
    checks: i64,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET checks = $2, window_start = $3, last_check_at = $4
         WHERE key = $1",
    )
    .bind(key)
    .bind(checks)
    .bind(ms(window_start))
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Gives a successful check back to a windowed budget.
pub async fn throttle_refund(c: &mut Conn, key: &str) -> Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET checks = CASE WHEN checks > 0 THEN checks - 1 ELSE 0 END
         WHERE key = $1",
    )
    .bind(key)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn throttle_clear(c: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Removes rows untouched since `before` (every wait has long ended).
pub async fn throttle_purge(c: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM login_throttle WHERE updated_at < $1")
            .bind(ms(before))
            .execute(&mut *c)
            .await?
            .rows_affected(),
    )
}

/// (staff id, PHC password hash, active) by username.
pub async fn credentials(
    c: &mut Conn,
    username: &str,
) -> Result<Option<(StaffId, Option<String>, bool)>> {
    let row = sqlx::query_as::<_, CredentialsRow>(
        "SELECT id, password_hash, active FROM staff WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| (r.id, r.password_hash, r.active != 0)))
}

/// A staff member's credentials as the `Any` driver decodes them.
#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(try_from = "i64")]
    id: StaffId,
    password_hash: Option<String>,
    active: i64,
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

/// What an API route's `{id}` names, and so which unit (and participant)
/// the request is about.
#[derive(Debug, Clone, Copy)]
pub enum Owned {
    Participant(i64),
    Appointment(i64),
    Task(i64),
    Broadcast(i64),
}

/// The unit and (where there is one) the participant of a route's thing.
pub async fn owner(c: &mut Conn, t: &Owned) -> Result<(Option<UnitId>, Option<ParticipantId>)> {
    let (sql, id) = match t {
        Owned::Participant(id) => (
            "SELECT unit_id, id AS participant_id FROM participants WHERE id = $1",
            id,
        ),
        Owned::Appointment(id) => (
            "SELECT unit_id, participant_id FROM appointments WHERE id = $1",
            id,
        ),
        Owned::Task(id) => (
            "SELECT unit_id, participant_id FROM tasks WHERE id = $1",
            id,
        ),
        Owned::Broadcast(id) => (
            "SELECT unit_id, CAST(NULL AS BIGINT) AS participant_id FROM broadcasts WHERE id = $1",
            id,
        ),
    };
    let row = sqlx::query_as::<_, OwnerRow>(sql)
        .bind(*id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(match row {
        Some(r) => (
            Some(r.unit_id),
            r.participant_id.map(ParticipantId::from_db),
        ),
        None => (None, None),
    })
}

/// The unit and participant of a route's thing as the `Any` driver decodes
/// them.
#[derive(sqlx::FromRow)]
struct OwnerRow {
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    participant_id: Option<i64>,
}

/// A sign-in through the identity provider under way (`oidc_states`).
#[derive(Debug, Clone)]
pub struct OidcState {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_path: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_oidc_state(c: &mut Conn, state_hash: &str, s: &OidcState) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_states (state_hash, nonce, pkce_verifier, next_path, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_hash)
    .bind(&s.nonce)
    .bind(&s.pkce_verifier)
    .bind(&s.next_path)
    .bind(ms(s.created_at))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Takes a state: deletes it and hands back what it held, once. A second
/// take of the same state (a replay) finds nothing.
pub async fn take_oidc_state(c: &mut Conn, state_hash: &str) -> Result<Option<OidcState>> {
    let row = sqlx::query_as::<_, OidcStateRow>(
        "DELETE FROM oidc_states WHERE state_hash = $1
         RETURNING nonce, pkce_verifier, next_path, created_at",
    )
    .bind(state_hash)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(OidcState::from))
}

/// An `oidc_states` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct OidcStateRow {
    nonce: String,
    pkce_verifier: String,
    next_path: String,
    created_at: i64,
}

impl From<OidcStateRow> for OidcState {
    fn from(r: OidcStateRow) -> OidcState {
        OidcState {
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            next_path: r.next_path,
            created_at: from_ms(r.created_at),
        }
    }
}

/// Removes states begun before `before` (sign-ins never finished).
pub async fn purge_oidc_states(c: &mut Conn, before: DateTime<Utc>) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM oidc_states WHERE created_at < $1")
        .bind(ms(before))
        .execute(&mut *c)
        .await?
        .rows_affected())
}

/// Keeps the provider's id_token with a session, for RP-initiated logout.
pub async fn set_session_id_token(c: &mut Conn, token_hash: &str, id_token: &str) -> Result<()> {
    sqlx::query("UPDATE web_sessions SET id_token = $1 WHERE token_hash = $2")
        .bind(id_token)
        .bind(token_hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The provider's id_token of a session, when it was signed in through one.
pub async fn session_id_token(c: &mut Conn, token_hash: &str) -> Result<Option<String>> {
    let t: Option<Option<String>> =
        sqlx::query_scalar("SELECT id_token FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *c)
            .await?;
    Ok(t.flatten())
}
