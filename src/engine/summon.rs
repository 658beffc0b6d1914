//! Test on request ("vid uppmaning"): a summons sent the moment it is
//! issued, with a short deadline. It is never planned or shown in advance,
//! so it has no appointment and appears nowhere until it is issued.

use super::{Actor, Change, Engine};
use crate::domain::journal::JournalEvent;
use crate::domain::schedule::local;
use crate::domain::{OutboxId, ParticipantId, ParticipantStatus, Purpose, Span};
use crate::error::{Error, Result};
use crate::store::outbox::{self, NewMessage};
use crate::store::{consents, participants, units};
use chrono::{DateTime, Duration, Utc};

/// The longest deadline a summons may have; longer ones are appointments.
pub const MAX_WITHIN: Duration = Duration::hours(24);

impl Engine {
    /// Issues a summons now. Refused (with the reason) when it could not be
    /// sent now: no consent, not active, opted out, or quiet hours.
    pub async fn summon(
        &self,
        id: ParticipantId,
        within: Span,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<OutboxId> {
        if within.to_chrono() > MAX_WITHIN {
            return Err(Error::invalid(
                "a summons' deadline can be at most 24h; book an appointment instead",
            ));
        }
        let mut tx = self.db.begin().await?;
        let p = participants::get(&mut tx, id).await?;
        let unit = units::get(&mut tx, p.unit_id).await?;
        if p.status != ParticipantStatus::Active {
            return Err(Error::Conflict(format!(
                "participant {id} is {}, not active",
                p.status
            )));
        }
        let consent = consents::current(&mut tx, id).await?;
        let Some(consent) =
            consent.filter(|c| c.withdrawn_at.is_none() && c.expires_at.is_none_or(|e| e > now))
        else {
            return Err(Error::Conflict(format!(
                "participant {id} has no consent in force"
            )));
        };
        if unit.quiet_hours.contains(local(now, p.time_zone).time()) {
            return Err(Error::Conflict(format!(
                "it is quiet hours ({}) for participant {id}; a summons cannot be sent now",
                unit.quiet_hours
            )));
        }
        let channel = super::planner::channel_for(&p, Some(&consent));
        let deadline = now + within.to_chrono();
        let m = NewMessage {
            participant_id: id,
            appointment_id: None,
            plan_version: 0,
            purpose: Purpose::Summons,
            offset_min: 0,
            channel,
            ask_reply: true,
            due_at: now,
            deadline_at: Some(deadline),
            body: None,
            trial: None,
        };
        let oid = outbox::insert(&mut tx, &m, now)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("summons row not inserted")))?;
        let event = JournalEvent::SummonsIssued {
            deadline: Some(deadline),
            channel: Some(channel),
            outbox_id: Some(oid),
        };
        let change = Change::of(id, "summons.issue", event);
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        self.wake();
        Ok(oid)
    }
}
