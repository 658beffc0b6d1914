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
    /// Messages waiting to be written, with whom to tell when they are.
    queue: std::sync::Mutex<Vec<Queued>>,
    /// Held by the one send that is writing the queue.
    writer: tokio::sync::Mutex<()>,
}

struct Queued {
    message: sandbox::Outgoing,
    written: tokio::sync::oneshot::Sender<Result<(), String>>,
}

impl Sandbox {
    pub fn new(db: Db, latency: Duration) -> Self {
        Sandbox {
            db,
            latency,
            queue: std::sync::Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Group commit: the message joins the queue; whichever send holds the
    /// writer next writes everything queued in one transaction and tells
    /// each waiting send its result before letting go. So a send returns
    /// only once its message is committed (as a gateway answers only once it
    /// has the message), while concurrent sends share one commit, and one
    /// WAL flush on PostgreSQL, instead of one each. Written here because it
    /// is a dozen lines over a mutex and a oneshot; no crate does this for
    /// sqlx.
    async fn write(&self, message: sandbox::Outgoing) -> Result<(), String> {
        let (written, mut result) = tokio::sync::oneshot::channel();
        self.lock_queue().push(Queued { message, written });
        let gone = |_| Err("the sandbox's writer stopped".to_string());
        tokio::select! {
            // Written by another send's group while this one waited for
            // the writer: done, without queueing for the writer again.
            r = &mut result => r.unwrap_or_else(gone),
            _writer = self.writer.lock() => {
                let group = std::mem::take(&mut *self.lock_queue());
                if !group.is_empty() {
                    let messages: Vec<sandbox::Outgoing> =
                        group.iter().map(|q| q.message.clone()).collect();
                    let outcome = sandbox::insert_outgoing(&self.db, &messages)
                        .await
                        .map_err(|e| e.to_string());
                    for q in group {
                        // A send that was dropped meanwhile no longer asks.
                        let _ = q.written.send(outcome.clone());
                    }
                }
                // This message was in that group, or in an earlier one
                // whose writer answered before letting go of the writer.
                result.await.unwrap_or_else(gone)
            }
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
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
        self.write(sandbox::Outgoing {
            participant: msg.participant_id,
            channel: msg.channel,
            body: msg.body.clone(),
            outbox: msg.outbox_id,
            gateway_id: gateway_id.clone(),
            at: Utc::now(),
        })
        .await
        .map_err(SendError::Temporary)?;
        Ok(Accepted::id(gateway_id))
    }
}
