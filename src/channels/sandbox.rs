//! The sandbox channel: a phone that lives in the database. Messages "sent"
//! to it are stored for the demo page (and tests) to read; answers typed on
//! that page enter the same inbound path a real gateway's webhook would.

use super::{Accepted, OutgoingMessage, SendError, Transport};
use crate::store::{Db, sandbox};
use async_trait::async_trait;
use chrono::Utc;
use rand::RngCore;
use std::time::Duration;

pub struct Sandbox {
    db: Db,
    /// Simulated gateway latency, for demos of load and for crash tests.
    latency: Duration,
}

impl Sandbox {
    pub fn new(db: Db, latency: Duration) -> Self {
        Sandbox { db, latency }
    }
}

#[async_trait]
impl Transport for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut b = [0u8; 8];
        rand::rng().fill_bytes(&mut b);
        let gateway_id = format!("sbx-{}", hex::encode(b));
        let mut c = self
            .db
            .conn()
            .await
            .map_err(|e| SendError::Temporary(e.to_string()))?;
        sandbox::insert(
            &mut c,
            msg.participant_id,
            msg.channel,
            "out",
            &msg.body,
            Some(msg.outbox_id),
            &gateway_id,
            Utc::now(),
        )
        .await
        .map_err(|e| SendError::Temporary(e.to_string()))?;
        Ok(Accepted::id(gateway_id))
    }
}
