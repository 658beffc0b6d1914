//! The sandbox channel: a phone that lives in the database. Messages "sent"
//! to it are stored for the demo page (and tests) to read; answers typed on
//! that page enter the same inbound path a real gateway's webhook would.

use super::{Accepted, OutgoingMessage, SendError, Transport};
use crate::store::group_commit::GroupCommit;
use crate::store::{Db, sandbox};
use async_trait::async_trait;
use chrono::Utc;
use rand::RngCore;
use std::time::Duration;

pub struct Sandbox {
    db: Db,
    /// Simulated gateway latency, for demos of load and for crash tests.
    latency: Duration,
    /// Concurrent sends' messages are committed together
    /// ([`sandbox::insert_outgoing`]); each send returns once its message is
    /// committed, as a gateway answers only once it has the message.
    writes: GroupCommit<sandbox::Outgoing, Result<(), String>>,
}

impl Sandbox {
    pub fn new(db: Db, latency: Duration) -> Self {
        Sandbox {
            db,
            latency,
            writes: GroupCommit::default(),
        }
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
        let message = sandbox::Outgoing {
            participant: msg.participant_id,
            channel: msg.channel,
            body: msg.body.clone(),
            outbox: msg.outbox_id,
            gateway_id: gateway_id.clone(),
            at: Utc::now(),
        };
        let db = self.db.clone();
        self.writes
            .submit(message, move |group| async move {
                let written = sandbox::insert_outgoing(&db, &group)
                    .await
                    .map_err(|e| e.to_string());
                vec![written; group.len()]
            })
            .await
            .unwrap_or_else(|_| Err("the sandbox's writer stopped".into()))
            .map_err(SendError::Temporary)?;
        Ok(Accepted::id(gateway_id))
    }
}
