//! Reads of personal data that are shown to someone: a case record, a
//! timeline, a journal, the Today page, a monitoring search or export, a
//! broadcast's recipients. Each goes through [`Engine::read_audited`],
//! which hands the data back only once its audit row is written: a read
//! that could not be audited shows nothing. The read decides what its
//! row says ([`Viewed`]), since that often depends on what was found
//! (whose records, how much of them).

use super::{Actor, Engine};
use crate::error::Result;
use crate::store::{Conn, audit};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The audit row of one read: the action (`case.view`, `journal.view`,
/// `today.view`, ...), its target (`participant:7`, `unit:2`, ...) and
/// what else is worth keeping (`{}` when nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Viewed {
    pub action: &'static str,
    pub target: String,
    pub detail: Value,
}

impl Viewed {
    pub fn new(action: &'static str, target: impl Into<String>) -> Self {
        Viewed {
            action,
            target: target.into(),
            detail: json!({}),
        }
    }

    /// The same row with `detail`.
    pub fn with(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// `participant:<id>`.
    pub fn participant(action: &'static str, id: crate::domain::ParticipantId) -> Self {
        Viewed::new(action, format!("participant:{id}"))
    }
}

impl Engine {
    /// Runs `read` and writes the audit row it names, by `actor` at `now`,
    /// in the same connection; the data is returned only when the row was
    /// written. A read that fails (not found, refused) writes no row and
    /// returns its error.
    pub async fn read_audited<T>(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        read: impl AsyncFnOnce(&mut Conn) -> Result<(T, Viewed)>,
    ) -> Result<T> {
        let mut c = self.db.conn().await?;
        let (data, v) = read(&mut c).await?;
        audit::append(&mut c, now, actor.as_str(), v.action, &v.target, v.detail).await?;
        Ok(data)
    }

    /// An audit row on its own, for what is refused or noted rather than
    /// shown (`case.denied`) and the API's per-request rows.
    pub async fn audit(&self, actor: &Actor, now: DateTime<Utc>, v: Viewed) -> Result<()> {
        let mut c = self.db.conn().await?;
        audit::append(&mut c, now, actor.as_str(), v.action, &v.target, v.detail).await
    }
}
