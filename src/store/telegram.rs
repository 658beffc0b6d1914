//! Telegram's tables: one-time link codes (stored as hashes), wrong-code
//! counters per chat (stored as hashes of the chat id), the tokens behind
//! inline buttons, and which chat belongs to whom.

use super::{Conn, from_ms, ms};
use crate::domain::link::{CallbackToken, LinkCode};
use crate::domain::{AppointmentId, OutboxId, ParticipantId, StaffId};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// Whom a link code links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Participant(ParticipantId),
    Staff(StaffId),
}

pub async fn insert_link_code(
    c: &mut Conn,
    code: &LinkCode,
    subject: Subject,
    created_by: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    let (p, s) = match subject {
        Subject::Participant(p) => (Some(p.get()), None),
        Subject::Staff(s) => (None, Some(s.get())),
    };
    sqlx::query(
        "INSERT INTO link_codes (code_hash, participant_id, staff_id, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(code.hash())
    .bind(p)
    .bind(s)
    .bind(created_by)
    .bind(ms(now))
    .bind(ms(expires))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Uses a code: `Some` only for a known, unused, unexpired code, and only
/// once (the update is atomic).
pub async fn redeem_link_code(
    c: &mut Conn,
    code: &LinkCode,
    now: DateTime<Utc>,
) -> Result<Option<Subject>> {
    let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
        "UPDATE link_codes SET used_at = $1
         WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING participant_id, staff_id",
    )
    .bind(ms(now))
    .bind(code.hash())
    .fetch_optional(&mut *c)
    .await?;
    let Some((p, s)) = row else { return Ok(None) };
    Ok(match (p, s) {
        (Some(p), _) => Some(Subject::Participant(ParticipantId::from_db(p))),
        (None, Some(s)) => Some(Subject::Staff(StaffId::from_db(s))),
        (None, None) => None,
    })
}

/// Wrong codes so far from a chat: (count, last at).
pub async fn link_failures(c: &mut Conn, chat_key: &str) -> Result<Option<(i64, DateTime<Utc>)>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT failures, last_at FROM telegram_link_failures WHERE chat_key = $1")
            .bind(chat_key)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|(failures, last_at)| (failures, from_ms(last_at))))
}

pub async fn record_link_failure(c: &mut Conn, chat_key: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO telegram_link_failures (chat_key, failures, last_at) VALUES ($1, 1, $2)
         ON CONFLICT (chat_key) DO UPDATE SET failures = telegram_link_failures.failures + 1, last_at = excluded.last_at",
    )
    .bind(chat_key)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn clear_link_failures(c: &mut Conn, chat_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM telegram_link_failures WHERE chat_key = $1")
        .bind(chat_key)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// What a button token points at.
#[derive(Debug, Clone)]
pub struct Callback {
    pub kind: String,
    pub outbox_id: Option<OutboxId>,
    pub appointment_id: Option<AppointmentId>,
    pub staff_id: Option<StaffId>,
    pub chat_id: String,
    pub used: bool,
    pub created_at: DateTime<Utc>,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_callback(
    c: &mut Conn,
    token: &CallbackToken,
    kind: &str,
    outbox: Option<OutboxId>,
    appointment: Option<AppointmentId>,
    staff: Option<StaffId>,
    chat_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO telegram_callbacks (token, kind, outbox_id, appointment_id, staff_id, chat_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.as_str())
    .bind(kind)
    .bind(outbox.map(OutboxId::get))
    .bind(appointment.map(AppointmentId::get))
    .bind(staff.map(StaffId::get))
    .bind(chat_id)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn get_callback(c: &mut Conn, token: &CallbackToken) -> Result<Option<Callback>> {
    let row = sqlx::query_as::<_, CallbackRow>(
        "SELECT kind, outbox_id, appointment_id, staff_id, chat_id, used_at, created_at FROM telegram_callbacks WHERE token = $1",
    )
    .bind(token.as_str())
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(Callback::from))
}

/// A [`Callback`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct CallbackRow {
    kind: String,
    outbox_id: Option<i64>,
    appointment_id: Option<i64>,
    staff_id: Option<i64>,
    chat_id: String,
    used_at: Option<i64>,
    created_at: i64,
}

impl From<CallbackRow> for Callback {
    fn from(r: CallbackRow) -> Callback {
        Callback {
            kind: r.kind,
            outbox_id: r.outbox_id.map(OutboxId::from_db),
            appointment_id: r.appointment_id.map(AppointmentId::from_db),
            staff_id: r.staff_id.map(StaffId::from_db),
            chat_id: r.chat_id,
            used: r.used_at.is_some(),
            created_at: from_ms(r.created_at),
        }
    }
}

/// Marks a token used; false when it already was (a replayed or second
/// tap). Atomic, so two concurrent taps record once.
pub async fn use_callback(
    c: &mut Conn,
    token: &CallbackToken,
    choice: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE telegram_callbacks SET used_at = $1, choice = $2 WHERE token = $3 AND used_at IS NULL",
    )
    .bind(ms(now))
    .bind(choice)
    .bind(token.as_str())
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The participant a chat is linked to.
pub async fn participant_by_chat(c: &mut Conn, chat_id: &str) -> Result<Option<ParticipantId>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM participants WHERE telegram_chat_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(chat_id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(id.map(ParticipantId::from_db))
}

/// The active staff member a chat is linked to.
pub async fn staff_by_chat(c: &mut Conn, chat_id: &str) -> Result<Option<StaffId>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM staff WHERE telegram_chat_id = $1 AND active = 1 ORDER BY id DESC LIMIT 1",
    )
    .bind(chat_id)
    .fetch_optional(&mut *c)
    .await?;
    Ok(id.map(StaffId::from_db))
}

/// Links (or with `None` unlinks) a participant's chat. A chat belongs to
/// one person: linking it here unlinks it everywhere else.
pub async fn link_participant(
    c: &mut Conn,
    p: ParticipantId,
    chat_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(chat) = chat_id {
        unlink_chat_everywhere(c, chat, now).await?;
    }
    sqlx::query(
        "UPDATE participants SET telegram_chat_id = $1, telegram_dead_at = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(chat_id)
    .bind(ms(now))
    .bind(p.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn link_staff(
    c: &mut Conn,
    s: StaffId,
    chat_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(chat) = chat_id {
        unlink_chat_everywhere(c, chat, now).await?;
    }
    sqlx::query("UPDATE staff SET telegram_chat_id = $1, telegram_linked_at = $2 WHERE id = $3")
        .bind(chat_id)
        .bind(chat_id.map(|_| ms(now)))
        .bind(s.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn unlink_chat_everywhere(c: &mut Conn, chat: &str, now: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE participants SET telegram_chat_id = NULL, updated_at = $1 WHERE telegram_chat_id = $2")
        .bind(ms(now))
        .bind(chat)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE staff SET telegram_chat_id = NULL, telegram_linked_at = NULL WHERE telegram_chat_id = $1")
        .bind(chat)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Telegram said the chat is gone (blocked, deactivated): unlink it and
/// remember when, so planning picks another channel.
pub async fn mark_dead(c: &mut Conn, p: ParticipantId, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE participants SET telegram_chat_id = NULL, telegram_dead_at = $1, updated_at = $1 WHERE id = $2",
    )
    .bind(ms(now))
    .bind(p.get())
    .execute(&mut *c)
    .await?;
    Ok(())
}
