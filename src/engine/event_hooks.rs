//! Event webhooks out (issue 19, item 1): the admin's operations on
//! endpoints and deliveries (each one transaction with its audit row), and
//! the delivery worker, spawned by the server beside the dispatcher.
//!
//! The queue is filled by the database (migration 0016's triggers on
//! `journal` and `tasks`), so every event is queued in the transaction
//! that wrote it. The worker claims due rows with a lease
//! (`store::event_hooks::claim`: a participant's rows to an endpoint one
//! at a time, in order), posts each signed body (`domain::event_hooks`),
//! and records the outcome: a 2xx answer is delivered; anything else is
//! tried again with backoff for a day, then given up. An endpoint that has
//! failed for a day is switched off (`disabled_reason = 'failing'`) with an
//! audit row, and the admin page says so at the top.

use super::{Actor, Engine};
use crate::domain::event_hooks::{
    self as hooks, EndpointUrl, EventFilter, HookEvent, Secret, Subject,
};
use crate::domain::{ParticipantId, UnitId};
use crate::error::{Error, Result};
use crate::store::audit;
use crate::store::event_hooks::{self as store, Claimed, Finish};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::{Rng, RngCore};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A fresh signing secret: 32 random bytes.
fn new_secret() -> Secret {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    Secret::from_key(&key)
}

/// What an admin fills in for an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointForm<'a> {
    pub url: &'a str,
    pub events: Vec<HookEvent>,
    pub include_text: bool,
}

impl Engine {
    fn hook_url(&self, url: &str) -> Result<EndpointUrl> {
        EndpointUrl::parse(url, self.event_hooks_local_http)
            .map_err(|e| Error::invalid(e.to_string()))
    }

    /// Registers an endpoint for a unit's events. Returns its id and its
    /// signing secret, which is shown this once.
    pub async fn create_event_hook(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        unit: UnitId,
        form: &EndpointForm<'_>,
    ) -> Result<(i64, Secret)> {
        let url = self.hook_url(form.url)?;
        let events = EventFilter::new(form.events.clone()).map_err(Error::invalid)?;
        let secret = new_secret();
        let mut tx = self.db.begin().await?;
        crate::store::units::get(&mut tx, unit).await?;
        let id = store::insert_endpoint(
            &mut tx,
            &store::NewEndpoint {
                unit,
                url: url.as_str(),
                secret: secret.expose(),
                events: &events,
                include_text: form.include_text,
                created_by: actor.as_str(),
            },
            now,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "hooks.endpoint.create",
            &format!("event_hook:{id}"),
            json!({ "unit_id": unit, "origin": url.origin(), "events": events.to_db(),
                    "include_text": form.include_text }),
        )
        .await?;
        tx.commit().await?;
        Ok((id, secret))
    }

    /// Changes an endpoint's URL, events and text opt-in.
    pub async fn edit_event_hook(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        id: i64,
        form: &EndpointForm<'_>,
    ) -> Result<()> {
        let url = self.hook_url(form.url)?;
        let events = EventFilter::new(form.events.clone()).map_err(Error::invalid)?;
        let mut tx = self.db.begin().await?;
        let before = store::get_endpoint(&mut tx, id).await?;
        store::update_endpoint(&mut tx, id, url.as_str(), &events, form.include_text).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "hooks.endpoint.edit",
            &format!("event_hook:{id}"),
            json!({ "origin": url.origin(), "events": events.to_db(),
                    "include_text": [before.include_text, form.include_text] }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives an endpoint a new signing secret, shown this once, as at
    /// registration. The secret it replaces goes on signing beside it (a
    /// second signature in `webhook-signature`) for
    /// [`ROTATION_OVERLAP`](hooks::ROTATION_OVERLAP), so deliveries verify
    /// at the receiver before and after its people put the new one in.
    /// Audited as `hooks.endpoint.rotate` (without either secret).
    pub async fn rotate_event_hook_secret(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        id: i64,
    ) -> Result<Secret> {
        let secret = new_secret();
        let until = now + hooks::ROTATION_OVERLAP;
        let mut tx = self.db.begin().await?;
        store::rotate_secret(&mut tx, id, secret.expose(), until).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "hooks.endpoint.rotate",
            &format!("event_hook:{id}"),
            json!({ "previous_signs_until": until }),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Switches an endpoint off or on. Switched on, its waiting deliveries
    /// get a new day of retries.
    /// The endpoints the worker switched off after a day of failures, not
    /// yet switched on again: the admin's to-do on Today (an admin has no
    /// participant, so this is not a row in `tasks`).
    pub async fn event_hooks_switched_off(&self) -> Result<Vec<store::Endpoint>> {
        let mut c = self.db.conn().await?;
        Ok(store::list_endpoints(&mut c, None)
            .await?
            .into_iter()
            .filter(|e| e.disabled_reason.as_deref() == Some("failing"))
            .collect())
    }

    pub async fn set_event_hook_enabled(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        id: i64,
        enabled: bool,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        store::get_endpoint(&mut tx, id).await?;
        store::set_endpoint_disabled(&mut tx, id, (!enabled).then_some((now, "admin"))).await?;
        if enabled {
            store::restart_pending(&mut tx, id, now).await?;
        }
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            if enabled {
                "hooks.endpoint.enable"
            } else {
                "hooks.endpoint.disable"
            },
            &format!("event_hook:{id}"),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues a delivery again now (same `webhook-id`, a new day of
    /// retries).
    pub async fn resend_event_hook_delivery(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        delivery: i64,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let endpoint = store::delivery_endpoint(&mut tx, delivery)
            .await?
            .ok_or_else(|| Error::not_found(format!("delivery {delivery}")))?;
        store::resend(&mut tx, delivery, now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "hooks.delivery.resend",
            &format!("event_hook_delivery:{delivery}"),
            json!({ "endpoint_id": endpoint }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or, empty, clears) a participant's reference in the unit's
    /// case system, which event webhooks carry. At most 100 characters of
    /// one line; unique in the unit; not for an erased participant. Set
    /// from the case record's settings, `paminn participant ref` or here.
    pub async fn set_participant_external_ref(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        p: ParticipantId,
        external_ref: &str,
    ) -> Result<()> {
        let r = external_ref.trim();
        if r.chars().count() > 100 || r.chars().any(char::is_control) {
            return Err(Error::invalid(
                "a case-system reference is at most 100 characters on one line",
            ));
        }
        let r = (!r.is_empty()).then_some(r);
        let mut tx = self.db.begin().await?;
        if crate::store::participants::get(&mut tx, p).await?.erased && r.is_some() {
            return Err(Error::Conflict(format!(
                "participant {p} was erased; their reference stays erased"
            )));
        }
        let before = store::participant_ref(&mut tx, p).await?;
        if before.as_deref() == r {
            return Ok(());
        }
        store::set_participant_ref(&mut tx, p, r)
            .await
            .map_err(|e| {
                e.unique_as_conflict(|| "another participant of the unit has that reference".into())
            })?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "participant.external_ref",
            &format!("participant:{p}"),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct EventHooksConfig {
    /// Who holds the leases: host and process id by default.
    pub owner: String,
    pub batch_size: i64,
    pub lease: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long a receiver may take to answer.
    pub timeout: Duration,
    /// How often to look for due deliveries when idle.
    pub poll: Duration,
}

impl Default for EventHooksConfig {
    fn default() -> Self {
        EventHooksConfig {
            owner: format!(
                "{}:{}:hooks",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "paminn".into()),
                std::process::id()
            ),
            batch_size: 256,
            lease: Duration::from_secs(60),
            concurrency: 64,
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(500),
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub given_up: usize,
    /// Endpoints switched off for a day of failures.
    pub disabled: usize,
}

/// The delivery worker.
pub struct EventHookWorker {
    engine: Engine,
    client: reqwest::Client,
    cfg: EventHooksConfig,
}

/// One attempt's answer: the status code, or why there was none.
type Answer = std::result::Result<u16, &'static str>;

impl EventHookWorker {
    pub fn new(engine: Engine, cfg: EventHooksConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(cfg.concurrency)
            .build()
            .expect("a reqwest client with rustls builds");
        EventHookWorker {
            engine,
            client,
            cfg,
        }
    }

    /// Delivers until `stop`: a batch after a batch while there is work,
    /// else a look every `poll`.
    pub async fn run(&self, stop: CancellationToken) {
        loop {
            if stop.is_cancelled() {
                return;
            }
            let busy = match self.run_once(Utc::now()).await {
                Ok(r) => r.claimed > 0,
                Err(e) => {
                    tracing::error!(error = %e, "event hook delivery failed; will retry");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(self.cfg.poll) => {}
                }
            }
        }
    }

    /// Claims one batch due at `now`, posts it and records the outcomes
    /// (one transaction).
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<HookReport> {
        let lease_until = now + chrono::Duration::from_std(self.cfg.lease).unwrap_or_default();
        let claimed = store::claim(
            &self.engine.db,
            &self.cfg.owner,
            now,
            lease_until,
            self.cfg.batch_size,
        )
        .await?;
        let mut report = HookReport {
            claimed: claimed.len(),
            ..Default::default()
        };
        if claimed.is_empty() {
            return Ok(report);
        }
        let answers: Vec<(Claimed, Answer)> = futures::stream::iter(claimed)
            .map(|d| async move {
                let a = self.post(&d, now).await;
                (d, a)
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        let mut tx = self.engine.db.begin().await?;
        // Per endpoint: did anything get through in this batch?
        let mut endpoints: BTreeMap<i64, bool> = BTreeMap::new();
        for (d, answer) in &answers {
            let ok = matches!(answer, Ok(code) if (200..300).contains(code));
            *endpoints.entry(d.endpoint_id).or_default() |= ok;
            let (code, error) = match answer {
                Ok(c) => (Some(*c), (!ok).then_some("status")),
                Err(e) => (None, Some(*e)),
            };
            let how = if ok {
                Finish::Delivered
            } else {
                let jitter = rand::rng().random_range(0.8..1.2);
                match hooks::next_attempt(d.attempts + 1, jitter, d.retry_from, now) {
                    Some(t) => Finish::Retry(t),
                    None => Finish::Failed,
                }
            };
            if store::finish(&mut tx, d.id, &d.claim_token, how, code, error, now).await? {
                match how {
                    Finish::Delivered => report.delivered += 1,
                    Finish::Retry(_) => report.retried += 1,
                    Finish::Failed => report.given_up += 1,
                }
            }
        }
        for (endpoint, succeeded) in endpoints {
            let since = store::mark_endpoint(&mut tx, endpoint, succeeded, now).await?;
            if let Some(since) = since
                && hooks::should_disable(since, now)
            {
                store::set_endpoint_disabled(&mut tx, endpoint, Some((now, "failing"))).await?;
                audit::append(
                    &mut tx,
                    now,
                    "system",
                    "hooks.endpoint.disable",
                    &format!("event_hook:{endpoint}"),
                    json!({ "reason": "failing", "failing_since": since }),
                )
                .await?;
                tracing::warn!(
                    endpoint,
                    "event hook endpoint failed for a day; switched off"
                );
                report.disabled += 1;
            }
        }
        tx.commit().await?;
        metrics::counter!("paminn_event_hooks_delivered_total").increment(report.delivered as u64);
        metrics::counter!("paminn_event_hooks_failed_attempts_total")
            .increment((report.retried + report.given_up) as u64);
        Ok(report)
    }

    /// Posts one delivery, signed; never logs the body.
    async fn post(&self, d: &Claimed, now: DateTime<Utc>) -> Answer {
        let Ok(event) = d.event.parse::<HookEvent>() else {
            return Err("event");
        };
        let Ok(secret) = Secret::parse(&d.secret) else {
            return Err("secret");
        };
        // After a rotation the previous secret signs too, until its time.
        let previous = d
            .previous_secret
            .as_ref()
            .filter(|(_, until)| now < *until)
            .and_then(|(s, _)| Secret::parse(s).ok());
        let body = hooks::payload(
            event,
            &d.source,
            &Subject {
                unit_id: d.unit_id,
                participant_id: d.participant_id.get(),
                participant_ref: d.participant_ref.as_deref(),
                appointment_id: d.appointment_id,
                appointment_ref: d.appointment_ref.as_deref(),
                occurred_at: d.occurred_at,
            },
            d.include_text,
        );
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let id = hooks::webhook_id(d.id);
        let ts = now.timestamp();
        let signers: Vec<&Secret> = std::iter::once(&secret).chain(previous.as_ref()).collect();
        let signature = hooks::sign_all(&signers, &id, ts, &body);
        let sent = self
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err("timeout"),
            Err(e) if e.is_connect() => Err("connect"),
            Err(_) => Err("request"),
        }
    }
}
