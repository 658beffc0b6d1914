//! Tasks: closing and reopening one (every adapter goes through
//! [`Engine::set_task_done`]), and the tasks owed to lotsar as Telegram
//! alerts.

use super::{Actor, Engine};
use crate::domain::{Language, ParticipantId, TaskKind};
use crate::error::Result;
use crate::store::{audit, from_ms, ms, parse_col, tasks};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

/// A task a lots should hear about on Telegram.
#[derive(Debug, Clone, Serialize)]
pub struct StaffAlert {
    pub task_id: i64,
    pub kind: TaskKind,
    pub chat_id: String,
    pub language: Language,
    pub participant_id: ParticipantId,
    pub first_name: String,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub tz: Tz,
    pub detail: Value,
    /// The unit lets alerts carry the participant's words
    /// (`units.alert_details`); off: "ny uppgift" and a link.
    pub details: bool,
}

/// Task kinds a lots is alerted about on Telegram.
pub const ALERTED_KINDS: [TaskKind; 6] = [
    TaskKind::Cannot,
    TaskKind::ComingLate,
    TaskKind::NoReply,
    TaskKind::DeliveryFailed,
    TaskKind::NotUnderstood,
    TaskKind::LateReply,
];

impl Engine {
    /// Marks a task done (or open again) by `actor`, with its audit row
    /// (`task.done` / `task.reopen`), in one transaction: the staff UI, the
    /// JSON API and the CLI all close tasks here. A task that is done
    /// already is a conflict and changes nothing (so is reopening an open
    /// one).
    pub async fn set_task_done(
        &self,
        id: i64,
        done: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<tasks::Task> {
        let mut tx = self.db.begin().await?;
        let t = tasks::set_done(&mut tx, id, done, actor.as_str(), now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            if done { "task.done" } else { "task.reopen" },
            &format!("task:{id}"),
            json!({ "participant_id": t.participant_id, "kind": t.kind }),
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// [`Engine::set_task_done`] with `done`.
    pub async fn mark_task_done(
        &self,
        id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<tasks::Task> {
        self.set_task_done(id, true, actor, now).await
    }

    /// Undoes "Klar" on a task (the undo offered right after it): open
    /// again, audited as `task.undo`. A task that is open already is a
    /// conflict.
    pub async fn undo_task_done(
        &self,
        id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<tasks::Task> {
        let mut tx = self.db.begin().await?;
        let t = tasks::set_done(&mut tx, id, false, actor.as_str(), now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "task.undo",
            &format!("task:{id}"),
            json!({ "participant_id": t.participant_id, "kind": t.kind }),
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Tasks owed to lotsar as Telegram alerts: open, of an alerted kind,
    /// for a lots whose chat is linked, created after the linking (so
    /// linking does not bring an avalanche of old tasks).
    pub async fn staff_alerts_due(&self, limit: i64) -> Result<Vec<StaffAlert>> {
        let kinds = ALERTED_KINDS
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT t.id, t.kind, t.detail, p.id AS pid, p.first_name, p.time_zone,
                    s.telegram_chat_id, s.language, a.starts_at, u.alert_details
             FROM tasks t
             JOIN staff s ON s.id = t.assigned_to
             JOIN participants p ON p.id = t.participant_id
             JOIN units u ON u.id = t.unit_id
             LEFT JOIN appointments a ON a.id = t.appointment_id
             WHERE t.alerted_at IS NULL AND t.done_at IS NULL AND s.active = 1
               AND s.telegram_chat_id IS NOT NULL AND t.created_at >= s.telegram_linked_at
               AND t.kind IN ({kinds})
             ORDER BY t.id LIMIT $1"
        ));
        let mut c = self.db.conn().await?;
        let rows = sqlx::query(sql).bind(limit).fetch_all(&mut *c).await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(StaffAlert {
                    task_id: r.try_get("id")?,
                    kind: parse_col(&r.try_get::<String, _>("kind")?)?,
                    chat_id: r.try_get("telegram_chat_id")?,
                    language: parse_col(&r.try_get::<String, _>("language")?)?,
                    participant_id: ParticipantId::from_db(r.try_get("pid")?),
                    first_name: r.try_get("first_name")?,
                    starts_at: r.try_get::<Option<i64>, _>("starts_at")?.map(from_ms),
                    tz: crate::store::units::parse_tz(&r.try_get::<String, _>("time_zone")?)?,
                    detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
                    details: r.try_get::<i64, _>("alert_details")? != 0,
                })
            })
            .collect()
    }

    pub async fn mark_alerted(&self, task_id: i64, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE tasks SET alerted_at = $1 WHERE id = $2")
            .bind(ms(now))
            .bind(task_id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}
