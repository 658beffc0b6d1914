//! Erasure of a discharged participant's personal data, table by table
//! (`Engine::erase` says what goes and why; `tests/it/erasure.rs` writes a
//! marker into every text column a participant's data reaches and scans
//! the whole database for it afterwards).

use super::{Conn, ms};
use crate::domain::ParticipantId;
use crate::error::Result;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Erases in `c` (the caller's transaction). Appointments, statuses and
/// event kinds stay, anonymous; the open outbox rows are the caller's.
pub async fn erase_participant(c: &mut Conn, id: ParticipantId, now: DateTime<Utc>) -> Result<()> {
    let chat: Option<String> =
        sqlx::query_scalar("SELECT telegram_chat_id FROM participants WHERE id = $1")
            .bind(id.get())
            .fetch_one(&mut *c)
            .await?;
    sqlx::query(
        "UPDATE participants SET first_name = '-', phone = NULL, telegram_chat_id = NULL,
                phase = NULL, external_ref = NULL, erased_at = $2, updated_at = $2 WHERE id = $1",
    )
    .bind(id.get())
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    // The journal is append-only except here: erasure is the one
    // sanctioned rewrite, and it keeps each event's kind and time.
    for sql in [
        "UPDATE appointments SET location = NULL, with_whom = NULL, internal_note = NULL,
                reply_reason = NULL, external_ref = NULL WHERE participant_id = $1",
        "UPDATE outbox SET body = NULL, last_error = NULL, gateway_id = NULL WHERE participant_id = $1",
        "UPDATE inbound SET body = NULL, gateway_id = 'erased-' || CAST(id AS TEXT) WHERE participant_id = $1",
        "DELETE FROM sandbox_messages WHERE participant_id = $1",
        "UPDATE journal SET detail = '{}' WHERE participant_id = $1",
        "UPDATE tasks SET detail = '{}' WHERE participant_id = $1",
        "UPDATE consents SET recorded_by = '-', withdrawn_by = NULL WHERE participant_id = $1",
        "DELETE FROM pending_questions WHERE participant_id = $1",
        "UPDATE series SET location = NULL, with_whom = NULL, active = 0 WHERE participant_id = $1",
        // Buttons behind the participant's messages (their chat) and
        // behind attendance prompts about their appointments.
        "DELETE FROM telegram_callbacks WHERE outbox_id IN (SELECT id FROM outbox WHERE participant_id = $1)
            OR appointment_id IN (SELECT id FROM appointments WHERE participant_id = $1)",
        "DELETE FROM link_codes WHERE participant_id = $1",
    ] {
        sqlx::query(sql).bind(id.get()).execute(&mut *c).await?;
    }
    sqlx::query(
        "UPDATE group_members SET left_at = $2 WHERE participant_id = $1 AND left_at IS NULL",
    )
    .bind(id.get())
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    // The chat's wrong-code counter is keyed by a hash of the chat id.
    if let Some(chat) = chat.as_deref().and_then(|c| c.parse::<i64>().ok()) {
        super::telegram::clear_link_failures(c, &crate::domain::link::chat_key(chat)).await?;
    }
    // A reply's stored intent keeps its kind (for the counts) and
    // nothing else: a reason given ("förhinder, sjuk") is health data.
    let intents = sqlx::query_as::<_, (i64, String)>(
        "SELECT id, intent FROM inbound WHERE participant_id = $1 AND intent IS NOT NULL",
    )
    .bind(id.get())
    .fetch_all(&mut *c)
    .await?;
    for (row, doc) in intents {
        let kept = serde_json::from_str::<serde_json::Value>(&doc)
            .ok()
            .and_then(|v| v.get("intent").filter(|k| k.is_string()).cloned())
            .map_or_else(|| json!({}), |k| json!({ "intent": k }));
        sqlx::query("UPDATE inbound SET intent = $1 WHERE id = $2")
            .bind(kept.to_string())
            .bind(row)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}
