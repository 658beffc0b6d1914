//! Inbound messages: every text a participant sends is stored once
//! (idempotent on channel + gateway id, since gateways retry webhooks) and
//! written into the case record. Interpreting replies ("kommer",
//! "förhinder", STOPP) builds on this.

use super::Engine;
use crate::domain::{ChannelKind, ParticipantId};
use crate::error::Result;
use crate::store::{journal, ms};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    New(i64),
    Duplicate,
}

impl Engine {
    /// Records an inbound text from a known participant.
    pub async fn receive(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        participant: ParticipantId,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Received> {
        let mut tx = self.db.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO inbound (channel, gateway_id, participant_id, body, received_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel, gateway_id) DO NOTHING RETURNING id",
        )
        .bind(channel.as_str())
        .bind(gateway_id)
        .bind(participant.get())
        .bind(text)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            tx.rollback().await?;
            return Ok(Received::Duplicate);
        };
        journal::append(
            &mut tx,
            participant,
            None,
            now,
            "participant",
            journal::kind::INBOUND_MESSAGE,
            json!({ "inbound_id": id, "channel": channel, "text": text }),
        )
        .await?;
        tx.commit().await?;
        Ok(Received::New(id))
    }
}
