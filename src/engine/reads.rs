//! Reads of personal data that are shown to someone: a case record, a
//! timeline, a journal, the Today page, a monitoring search or export, a
//! broadcast's recipients. Each goes through [`Engine::read_audited`],
//! which hands the data back only once its audit row is written: a read
//! that could not be audited shows nothing. The read decides what its
//! row says ([`Viewed`]), since that often depends on what was found
//! (whose records, how much of them).

use super::{Actor, Engine};
use crate::domain::{AppointmentId, ParticipantId};
use crate::error::Result;
use crate::store::appointments::{self, Appointment};
use crate::store::messages::{self, Cursor, MessageRow};
use crate::store::{Conn, audit, units};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

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

    /// A page of a participant's conversation ([`Conversation`]): the
    /// latest [`MESSAGES_PER_PAGE`] messages, or those before `before`,
    /// with the readings of the replies and the appointments they name.
    /// Audited as `messages.view` of the participant, with how many
    /// messages were shown. The caller has checked the viewer's access
    /// (`web::ui::case`).
    pub async fn messages(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        participant: ParticipantId,
        before: Option<Cursor>,
    ) -> Result<Conversation> {
        self.read_audited(actor, now, async |c| {
            let conv = conversation(c, participant, now, before).await?;
            let v = Viewed::participant("messages.view", participant).with(json!({
                "messages": conv.messages.len(),
                "before": before.map(|b| b.to_string()),
            }));
            Ok((conv, v))
        })
        .await
    }

    /// An audit row on its own, for what is refused or noted rather than
    /// shown (`case.denied`) and the API's per-request rows.
    pub async fn audit(&self, actor: &Actor, now: DateTime<Utc>, v: Viewed) -> Result<()> {
        let mut c = self.db.conn().await?;
        audit::append(&mut c, now, actor.as_str(), v.action, &v.target, v.detail).await
    }
}

/// How many messages a page of the conversation shows.
pub const MESSAGES_PER_PAGE: usize = 50;

/// A page of a participant's conversation, oldest first (as a chat reads).
#[derive(Debug, Clone)]
pub struct Conversation {
    pub messages: Vec<MessageRow>,
    /// Where the older page starts, when there is one.
    pub older: Option<Cursor>,
    /// What each reply on the page was read as, by inbound id.
    pub readings: HashMap<i64, Reading>,
    /// The appointments the page's messages are about.
    pub appointments: HashMap<AppointmentId, Appointment>,
    /// The unit's retention: texts older than this many days are removed.
    pub retention_days: i64,
    /// The participant's personal data was erased: every text is gone.
    pub erased: bool,
}

/// How a reply was read (its `inbound_message` journal event): the
/// intent and what it changed (the appointment, a task, a question back).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub appointment: Option<AppointmentId>,
    pub intent: Value,
    pub changed: Value,
}

async fn conversation(
    c: &mut Conn,
    participant: ParticipantId,
    now: DateTime<Utc>,
    before: Option<Cursor>,
) -> Result<Conversation> {
    let p = crate::store::participants::get(c, participant).await?;
    let retention_days = units::get(c, p.unit_id).await?.retention_days;
    let mut messages =
        messages::page(c, participant, now, before, MESSAGES_PER_PAGE as i64 + 1).await?;
    let older = if messages.len() > MESSAGES_PER_PAGE {
        messages.truncate(MESSAGES_PER_PAGE);
        messages.last().map(MessageRow::cursor)
    } else {
        None
    };
    messages.reverse();
    // The replies' readings, from their journal events (same instant).
    let replies: Vec<i64> = messages
        .iter()
        .filter(|m| m.dir == messages::Direction::In)
        .map(|m| m.at)
        .collect();
    let mut readings = HashMap::new();
    if let (Some(from), Some(to)) = (replies.iter().min(), replies.iter().max()) {
        for e in messages::reply_events(c, participant, *from, *to).await? {
            let detail: Value = serde_json::from_str(&e.detail).unwrap_or_default();
            let Some(id) = detail["inbound_id"].as_i64() else {
                continue;
            };
            readings.insert(
                id,
                Reading {
                    appointment: e.appointment_id.map(AppointmentId::from_db),
                    intent: detail["intent"].clone(),
                    changed: detail["changed"].clone(),
                },
            );
        }
    }
    // The appointments named: by an outgoing message or a reply.
    let mut named: Vec<AppointmentId> = messages
        .iter()
        .filter_map(|m| m.appointment_id.map(AppointmentId::from_db))
        .chain(readings.values().filter_map(|r| r.appointment))
        .chain(readings.values().flat_map(|r| {
            r.changed["asked_which"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .filter(|i| *i > 0)
                .map(AppointmentId::from_db)
        }))
        .collect();
    named.sort_unstable();
    named.dedup();
    let appointments = if named.is_empty() {
        HashMap::new()
    } else {
        appointments::for_participant(c, participant, None)
            .await?
            .into_iter()
            .filter(|a| named.binary_search(&a.id).is_ok())
            .map(|a| (a.id, a))
            .collect()
    };
    Ok(Conversation {
        messages,
        older,
        readings,
        appointments,
        retention_days,
        erased: p.erased,
    })
}
