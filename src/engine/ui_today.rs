//! What the staff UI's "Idag" page changes beyond attendance
//! ([`Engine::record_attendance`]): closing a task.

use super::{Actor, Engine};
use crate::error::Result;
use crate::store::{audit, tasks};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Engine {
    /// Marks a task done by `actor`, with its audit row (`task.done`), in
    /// one transaction: the same store function and audit action as the
    /// JSON API's `POST /api/v1/tasks/{id}/done`. A task that is done
    /// already is a conflict and changes nothing.
    pub async fn mark_task_done(
        &self,
        id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<tasks::Task> {
        let mut tx = self.db.begin().await?;
        let t = tasks::set_done(&mut tx, id, true, actor.as_str(), now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "task.done",
            &format!("task:{id}"),
            json!({ "participant_id": t.participant_id, "kind": t.kind }),
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }
}
