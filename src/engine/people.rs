//! Participants and their consent and status, with every change in the
//! journal and the audit log.

use super::{Actor, Change, Engine, Field};
use crate::domain::{ChannelSet, ParticipantId, ParticipantStatus};
use crate::error::{Error, Result};
use crate::store::consents::{self, DEFAULT_VALIDITY};
use crate::store::journal;
use crate::store::participants::{self, NewParticipant, Participant};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Engine {
    /// Adds a participant, with a consent if one is given.
    pub async fn add_participant(
        &self,
        new: &NewParticipant,
        consent: Option<ChannelSet>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Participant> {
        let mut tx = self.db.begin().await?;
        crate::store::units::get(&mut tx, new.unit_id).await?;
        let p = participants::create(&mut tx, new, now).await?;
        actor
            .record(
                &mut tx,
                now,
                Change {
                    participant: p.id,
                    appointment: None,
                    kind: journal::kind::PARTICIPANT_CREATED,
                    detail: json!({ "language": p.language, "channel": p.channel_pref }),
                    action: "participant.create",
                },
            )
            .await?;
        if let Some(ch) = consent.filter(|c| !c.is_empty()) {
            let c = consents::record(
                &mut tx,
                p.id,
                ch,
                actor.as_str(),
                now,
                Some(now + DEFAULT_VALIDITY),
            )
            .await?;
            journal::append(
                &mut tx,
                p.id,
                None,
                now,
                actor.as_str(),
                journal::kind::CONSENT_RECORDED,
                json!({ "channels": c.channels, "expires_at": c.expires_at }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(p)
    }

    pub async fn record_consent(
        &self,
        id: ParticipantId,
        channels: ChannelSet,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        participants::get(&mut tx, id).await?;
        let expires = expires_at.or(Some(now + DEFAULT_VALIDITY));
        let c = consents::record(&mut tx, id, channels, actor.as_str(), now, expires).await?;
        actor
            .record(
                &mut tx,
                now,
                Change {
                    participant: id,
                    appointment: None,
                    kind: journal::kind::CONSENT_RECORDED,
                    detail: json!({ "channels": c.channels, "expires_at": c.expires_at }),
                    action: "consent.record",
                },
            )
            .await?;
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    /// Withdraws consent: from this instant nothing is sent.
    pub async fn withdraw_consent(
        &self,
        id: ParticipantId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        participants::get(&mut tx, id).await?;
        if !consents::withdraw(&mut tx, id, actor.as_str(), now).await? {
            return Err(Error::Conflict(format!(
                "participant {id} has no consent in force"
            )));
        }
        actor
            .record(
                &mut tx,
                now,
                Change {
                    participant: id,
                    appointment: None,
                    kind: journal::kind::CONSENT_WITHDRAWN,
                    detail: json!({}),
                    action: "consent.withdraw",
                },
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_status(
        &self,
        id: ParticipantId,
        status: ParticipantStatus,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            kind: journal::kind::STATUS_CHANGED,
            action: "participant.status",
            current: |p: &Participant| p.status,
            to: status,
        };
        let changed = self
            .change_participant(id, actor, now, field, async |c| {
                participants::set_status(c, id, status, now).await
            })
            .await?;
        if changed {
            self.wake();
        }
        Ok(())
    }
}
