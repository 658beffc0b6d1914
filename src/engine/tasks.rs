//! Tasks: closing and reopening one (every adapter goes through
//! [`Engine::set_task_done`]), and the tasks owed to lotsar as Telegram
//! alerts.

use super::{Actor, Engine};
use crate::error::Result;
use crate::store::{audit, tasks};
use chrono::{DateTime, Utc};
use serde_json::json;

pub use crate::store::tasks::{ALERTED_KINDS, StaffAlert};

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
        let mut c = self.db.conn().await?;
        tasks::alerts_due(&mut c, limit).await
    }

    pub async fn mark_alerted(&self, task_id: i64, now: DateTime<Utc>) -> Result<()> {
        let mut c = self.db.conn().await?;
        tasks::mark_alerted(&mut c, task_id, now).await
    }
}
