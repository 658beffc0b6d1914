//! Dispatcher: claim due rows → gate → render → send → record.
//!
//! * **Claim** with a lease (see `store::outbox`): a batch of due rows is
//!   flipped to `sending` in one statement; rows held by another instance
//!   are skipped.
//! * **Gate** every row again at send time (consent, status, opt-out,
//!   appointment still on and ahead, quiet hours). A failing gate
//!   suppresses the row and says why in the journal; quiet hours defer it.
//! * **Render** at send time, so "idag"/"imorgon" are right when read.
//! * **Send** through [`Channels`], which applies rate limits.
//! * **Record** the outcomes in groups: whatever finished while the previous
//!   group was committing is written in one transaction (outcomes and
//!   journal entries), each row only while its claim is still ours.
//! * **Stream**: when more is due than one batch, the next batch is claimed
//!   while the current one's last rows are sent and recorded
//!   ([`Dispatcher::drain`]).
//!
//! Delivery is at-least-once. The duplicate window is the time between the
//! gateway accepting a message and the commit of its group: a crash there
//! (or a lease that runs out mid-send, default 60 s) means the row is
//! claimed and sent again. At most `batch_size` rows can be accepted by a
//! gateway and not yet recorded at a crash: a row takes one of `batch_size`
//! permits before its send starts and returns it once its outcome is
//! committed. In practice it is the rows that finished during one commit.
//! Rows claimed and not yet sent are not duplicated by a crash: they are
//! sent once their lease runs out.
//!
//! There is no fixed tick: the loop sleeps until the earliest due time, and
//! is woken early by [`Engine::wake`] when this process plans new work. Work
//! planned by another process (the CLI, another instance) is noticed by
//! re-reading the earliest due time at least every `poll` (default 1 s).

use super::Engine;
use crate::channels::sms::gsm7;
use crate::channels::{Channels, OutgoingMessage, SendError};
use crate::domain::gates::{self, GateInput, Verdict};
use crate::domain::journal::JournalEvent;
use crate::domain::link::CallbackToken;
use crate::domain::phone::mask_numbers_in;
use crate::domain::retry::RetryPolicy;
use crate::domain::template::{TemplateKey, TemplateText};
use crate::domain::{ChannelKind, FailureKind, Purpose, TaskKind};
use crate::error::Result;
use crate::store::outbox::{self, Claimed, Finish, JournalEntry, Outcome};
use crate::store::{Db, journal, tasks};
use crate::texts;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Who holds the leases: host and process id by default.
    pub owner: String,
    pub batch_size: i64,
    pub lease: Duration,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// How often to look for work written by other processes.
    pub poll: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            owner: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "paminn".into()),
                std::process::id()
            ),
            batch_size: 200,
            lease: Duration::from_secs(60),
            concurrency: 32,
            retry: RetryPolicy::default(),
            poll: Duration::from_secs(1),
        }
    }
}

/// The error prefix for a gateway that says the recipient opted out; the
/// row fails and the participant is opted out of that channel, as by STOPP.
pub const GATEWAY_OPT_OUT: &str = "recipient opted out at the gateway";

/// The error of a Telegram message for a participant with no chat linked.
pub const NO_CHAT: &str = "no Telegram chat linked";

/// The error prefix for a Telegram chat that is gone (bot blocked, account
/// deactivated): the chat is unlinked and marked dead, the message falls
/// back to SMS where consented, and the lots gets a task.
pub const CHAT_GONE: &str = "Telegram chat unreachable";

pub struct Dispatcher {
    engine: Engine,
    channels: Arc<Channels>,
    cfg: DispatcherConfig,
    /// Cancelled when `run` is told to stop: rows of the current batch that
    /// have not started sending are put back at once instead of sent.
    stopping: CancellationToken,
}

/// The unit's own wording of a claimed reminder or summons, read with the
/// claim (one join, no query per message). It was checked when stored; one
/// that no longer parses (a rule tightened since) falls back to the
/// default text rather than sending something unchecked.
fn unit_template(c: &Claimed) -> Option<TemplateText> {
    let body = c.template.as_deref()?;
    let key = match c.purpose {
        Purpose::Summons => TemplateKey::Summons,
        Purpose::Reminder if c.ask_reply => TemplateKey::ReminderReply,
        Purpose::Reminder => TemplateKey::Reminder,
        _ => return None,
    };
    match TemplateText::parse(key, c.language, body) {
        Ok(t) => Some(t),
        Err(_) => {
            tracing::warn!(outbox = %c.id, key = %key,
                "a unit's template no longer passes its checks; the default text is sent");
            None
        }
    }
}

/// What happened to one claimed row, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub deferred: usize,
    pub failed: usize,
    pub suppressed: usize,
    pub lost: usize,
}

/// A row decided (and sent, if the gates allowed), not yet recorded.
struct Done {
    claimed: Claimed,
    outcome: Outcome,
    /// When it was decided: its `sent_at`, and the time of its journal entry.
    at: DateTime<Utc>,
}

impl Dispatcher {
    pub fn new(engine: Engine, channels: Arc<Channels>, cfg: DispatcherConfig) -> Self {
        Dispatcher {
            engine,
            channels,
            cfg,
            stopping: CancellationToken::new(),
        }
    }

    fn db(&self) -> &Db {
        &self.engine.db
    }

    /// Claims one batch of rows due at `now` and processes it to the end.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<BatchReport> {
        self.drive(now, Some(1)).await
    }

    /// Sends everything due, batch after batch, until a claim comes back
    /// short of a full batch (nothing more is due, or other instances hold
    /// the rest). The rows of successive claims flow through one stream:
    /// the next batch is claimed while the last rows of the current one are
    /// still being sent and recorded, so neither the claim nor a batch's
    /// slowest send leaves the gateways idle.
    ///
    /// An error from the first claim is returned at once. An error from a
    /// later claim stops the claiming; what was claimed before is still
    /// sent and recorded, and then the error is returned.
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<BatchReport> {
        self.drive(now, None).await
    }

    async fn drive(&self, base: DateTime<Utc>, max_claims: Option<usize>) -> Result<BatchReport> {
        let lease = chrono::Duration::from_std(self.cfg.lease).unwrap_or_default();
        let batch_size = self.cfg.batch_size.max(1);
        let concurrency = self.cfg.concurrency.max(1);
        let first =
            outbox::claim(self.db(), &self.cfg.owner, base, base + lease, batch_size).await?;
        // Each row is gated and recorded at its own moment: `base` plus the
        // time taken since the first claim (rate limits can stretch a batch).
        let started = std::time::Instant::now();
        let clock =
            move || base + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();

        // Three stages joined in this task: claims → sends (`concurrency` at
        // once) → one writer, which commits whatever has finished, at most
        // `batch_size` rows a group. A row takes one of `batch_size` permits
        // before its send starts and gives it back once its outcome is
        // recorded, so a slow writer holds new sends back instead of letting
        // sent-but-unrecorded rows pile up: at a crash, at most `batch_size`
        // rows are sent and not recorded, as with one batch at a time. The
        // wait is before a send, never after one: a send that has finished
        // must not wait for the writer while holding what the writer needs
        // (on SQLite, the sandbox's write transaction).
        let (row_tx, mut row_rx) =
            tokio::sync::mpsc::channel::<(Claimed, std::time::Instant)>(concurrency);
        let (done_tx, mut done_rx) =
            tokio::sync::mpsc::unbounded_channel::<(Done, OwnedSemaphorePermit)>();
        let unrecorded = Arc::new(Semaphore::new(batch_size as usize));
        let claims = async move {
            let (mut batch, mut claimed_at, mut claims, mut total) =
                (first, started, 1usize, 0usize);
            loop {
                let full = batch.len() as i64 >= batch_size;
                total += batch.len();
                for c in batch {
                    // The receiver lives until every row has been taken.
                    let _ = row_tx.send((c, claimed_at)).await;
                }
                if !full || max_claims.is_some_and(|m| claims >= m) || self.stopping.is_cancelled()
                {
                    return Ok(total);
                }
                claimed_at = std::time::Instant::now();
                let now = clock();
                match outbox::claim(self.db(), &self.cfg.owner, now, now + lease, batch_size).await
                {
                    Ok(b) => (batch, claims) = (b, claims + 1),
                    Err(e) => return Err((e, total)),
                }
            }
        };
        let sends = async move {
            futures::stream::poll_fn(move |cx| row_rx.poll_recv(cx))
                .then(|row| {
                    let unrecorded = unrecorded.clone();
                    async move {
                        // Never closed, so a permit always comes.
                        let permit = unrecorded.acquire_owned().await.expect("semaphore open");
                        (row, permit)
                    }
                })
                .map(|((c, claimed_at), permit)| async move {
                    (self.process(c, clock(), claimed_at).await, permit)
                })
                .buffer_unordered(concurrency)
                .for_each(|done| {
                    // The writer lives until every sender is gone.
                    let _ = done_tx.send(done);
                    futures::future::ready(())
                })
                .await;
        };
        let records = async {
            let mut results = Vec::new();
            while let Some(first) = done_rx.recv().await {
                let mut group = vec![first];
                while group.len() < batch_size as usize {
                    match done_rx.try_recv() {
                        Ok(d) => group.push(d),
                        Err(_) => break,
                    }
                }
                let (group, permits): (Vec<Done>, Vec<OwnedSemaphorePermit>) =
                    group.into_iter().unzip();
                let kept = self.record_group(&group).await;
                // Recorded (or given up to its lease): the next sends may start.
                drop(permits);
                results.extend(group.into_iter().map(|d| d.outcome).zip(kept));
            }
            results
        };
        let (claimed, (), results) = futures::join!(claims, sends, records);
        let mut report = BatchReport {
            claimed: match &claimed {
                Ok(n) | Err((_, n)) => *n,
            },
            ..Default::default()
        };
        for (outcome, kept) in results {
            // One row that could not be recorded does not lose the batch's
            // other outcomes; that row's lease runs out and it is retried.
            if kept != Some(true) {
                report.lost += 1;
                continue;
            }
            match outcome {
                Outcome::Sent { .. } => report.sent += 1,
                Outcome::Retry { .. } => report.retried += 1,
                Outcome::Defer { .. } => report.deferred += 1,
                Outcome::Failed { .. } => report.failed += 1,
                Outcome::Suppressed { .. } => report.suppressed += 1,
            }
        }
        match claimed {
            Ok(_) => Ok(report),
            Err((e, n)) => {
                tracing::error!(error = %e, sent = report.sent, claimed = n,
                    "a claim failed; the rows claimed before it were sent and recorded");
                Err(e)
            }
        }
    }

    fn render(&self, c: &Claimed, now: DateTime<Utc>) -> String {
        let template = unit_template(c);
        match (c.purpose, &c.appointment) {
            (Purpose::Reminder, Some(a)) => texts::reminder(
                &texts::ReminderText {
                    lang: c.language,
                    first_name: &c.first_name,
                    starts_at: a.starts_at,
                    tz: c.tz,
                    ask_reply: c.ask_reply,
                    location: if c.discreet {
                        None
                    } else {
                        a.location.as_deref()
                    },
                    with_whom: if c.discreet {
                        None
                    } else {
                        a.with_whom.as_deref()
                    },
                    template: template.as_ref(),
                },
                now,
            ),
            (Purpose::Summons, _) => texts::summons(
                c.language,
                &c.first_name,
                c.due_at,
                c.deadline_at.unwrap_or(c.due_at),
                c.tz,
                template.as_ref(),
            ),
            _ => c.body.clone().unwrap_or_default(),
        }
    }

    /// Decides one row, and sends it if the gates allow. The outcome is
    /// recorded later, with others ([`Self::record_group`]).
    async fn process(
        &self,
        c: Claimed,
        now: DateTime<Utc>,
        claimed_at: std::time::Instant,
    ) -> Done {
        let elapsed = claimed_at.elapsed();
        let retry = self.cfg.retry;
        let outcome = if self.stopping.is_cancelled() {
            // Shutting down: not started, so put back for the next
            // instance (or this one after a restart) with no attempt used.
            Outcome::Defer { until: now }
        } else if elapsed > self.cfg.lease.mul_f64(0.8) {
            // The lease is nearly over (the row waited behind a rate limit):
            // sending now could race another instance that takes the row
            // when the lease ends. Put it back instead; no attempt is used.
            Outcome::Defer { until: now }
        } else if c.attempts > retry.max_attempts {
            // Claimed more often than the budget allows: earlier workers
            // died holding it. Give up rather than loop forever.
            Outcome::Failed {
                error: format!("gave up after {} attempts", c.attempts - 1),
                body: None,
                kind: FailureKind::GaveUp,
            }
        } else {
            let gate = GateInput {
                now,
                purpose: c.purpose,
                channel: c.channel,
                status: c.status,
                consent: c.consent,
                opted_out: c.opted_out,
                appointment: c.appointment.as_ref().map(|a| (a.status, a.starts_at)),
                deadline: c.deadline_at,
                said_cannot: c
                    .appointment
                    .as_ref()
                    .is_some_and(|a| a.reply == crate::domain::ReplyState::Cannot),
                tz: c.tz,
                quiet: c.quiet,
                urgent: c.urgent,
            };
            match gates::check(&gate) {
                Verdict::Suppress(reason) => Outcome::Suppressed {
                    reason: reason.to_string(),
                },
                Verdict::Defer(until) => Outcome::Defer { until },
                Verdict::Send => self.send(&c, now).await,
            }
        };
        Done {
            claimed: c,
            outcome,
            at: now,
        }
    }

    async fn send(&self, c: &Claimed, now: DateTime<Utc>) -> Outcome {
        let mut body = self.render(c, now);
        let mut sms = None;
        if c.channel == ChannelKind::Sms {
            // Typographic characters would make the whole SMS UCS-2.
            body = gsm7::sanitize(&body);
            sms = Some(gsm7::segments(&body));
        }
        let to = match c.channel {
            ChannelKind::Sms => c.phone.clone(),
            ChannelKind::Telegram => c.telegram_chat_id.clone(),
        };
        let Some(to) = to else {
            return Outcome::Failed {
                error: match c.channel {
                    ChannelKind::Sms => "no phone number".into(),
                    ChannelKind::Telegram => NO_CHAT.into(),
                },
                body: None,
                kind: FailureKind::NoAddress,
            };
        };
        // A Telegram question carries reply buttons whose token is stored
        // before the send: a tap can only arrive after the message, and an
        // unsent message's token is never shown. The transport only puts
        // it on the buttons (channels know no engine and no database).
        let reply_token = if c.ask_reply && c.channel == ChannelKind::Telegram {
            match self.reply_token(c.id, &to, now).await {
                Ok(t) => Some(t),
                Err(e) => return self.temporary(c, e.to_string(), body, now),
            }
        } else {
            None
        };
        let msg = OutgoingMessage {
            outbox_id: c.id,
            participant_id: c.participant_id,
            channel: c.channel,
            to,
            body,
            ask_reply: c.ask_reply,
            reply_token,
            language: c.language,
        };
        let channel = c.channel.as_str();
        let late = (now - c.due_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("paminn_lateness_seconds", "channel" => channel).record(late);
        let started = std::time::Instant::now();
        let result = self.channels.send(&msg).await;
        metrics::histogram!("paminn_send_seconds", "channel" => channel)
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            let kind = match e {
                SendError::Permanent(_) => "permanent",
                SendError::Temporary(_) => "temporary",
                SendError::RateLimited(_) => "rate_limited",
                SendError::RecipientOptedOut(_) => "opted_out",
                SendError::Unreachable(_) => "unreachable",
                SendError::InvalidNumber(_) => "invalid_number",
                SendError::Credentials(_) => "credentials",
            };
            metrics::counter!("paminn_gateway_errors_total", "channel" => channel, "kind" => kind)
                .increment(1);
        }
        let (error, kind) = match result {
            Ok(acc) => {
                return Outcome::Sent {
                    gateway_id: acc.gateway_id,
                    body: msg.body,
                    encoding: sms.map(|s| s.encoding.as_str()),
                    parts: acc.parts.or(sms.map(|s| s.parts as i64)),
                    cost: acc.cost,
                    currency: acc.currency,
                };
            }
            Err(SendError::RateLimited(after)) => {
                return Outcome::Defer {
                    until: now + chrono::Duration::from_std(after).unwrap_or_default(),
                };
            }
            Err(SendError::Temporary(e)) => return self.temporary(c, e, msg.body, now),
            Err(SendError::RecipientOptedOut(e)) => {
                (format!("{GATEWAY_OPT_OUT}: {e}"), FailureKind::OptedOut)
            }
            Err(SendError::Unreachable(e)) => {
                (format!("{CHAT_GONE}: {e}"), FailureKind::Unreachable)
            }
            Err(SendError::InvalidNumber(e)) => (e, FailureKind::InvalidNumber),
            Err(SendError::Credentials(e)) => (e, FailureKind::Credentials),
            Err(SendError::Permanent(e)) => (e, FailureKind::Rejected),
        };
        Outcome::Failed {
            error,
            body: Some(msg.body),
            kind,
        }
    }

    /// A failure that may pass: retried with backoff, until the policy
    /// gives up.
    fn temporary(&self, c: &Claimed, error: String, body: String, now: DateTime<Utc>) -> Outcome {
        if self.cfg.retry.exhausted(c.attempts) {
            Outcome::Failed {
                error: format!("{error} (gave up after {} attempts)", c.attempts),
                body: Some(body),
                kind: FailureKind::GaveUp,
            }
        } else {
            let jitter = rand::rng().random_range(0.8..=1.2);
            Outcome::Retry {
                at: now + self.cfg.retry.delay(c.attempts, jitter),
                error,
            }
        }
    }

    /// Stores a reply button's token for one Telegram question.
    async fn reply_token(
        &self,
        outbox: crate::domain::OutboxId,
        chat_id: &str,
        now: DateTime<Utc>,
    ) -> Result<CallbackToken> {
        let token = super::linking::new_token();
        let mut c = self.db().conn().await?;
        crate::store::telegram::insert_callback(
            &mut c,
            &token,
            "reply",
            Some(outbox),
            None,
            None,
            chat_id,
            now,
        )
        .await?;
        Ok(token)
    }

    /// Records a group of outcomes, and returns for each whether it was
    /// written (`Some(false)`: the claim was lost meanwhile; `None`: it could
    /// not be recorded and its lease will run out). The group is one
    /// transaction; if that fails, each row is tried on its own, so one bad
    /// row does not lose the others.
    async fn record_group(&self, group: &[Done]) -> Vec<Option<bool>> {
        let error = match self.record_together(group).await {
            Ok(kept) => return kept.into_iter().map(Some).collect(),
            Err(e) => e,
        };
        if group.len() == 1 {
            tracing::error!(error = %error, "could not record an outcome; the row will be retried");
            return vec![None];
        }
        tracing::warn!(error = %error, rows = group.len(),
            "could not record a group of outcomes; recording them one by one");
        let mut kept = Vec::with_capacity(group.len());
        for d in group {
            kept.push(match self.record_together(std::slice::from_ref(d)).await {
                Ok(k) => Some(k[0]),
                Err(e) => {
                    tracing::error!(error = %e, outbox_id = %d.claimed.id,
                        "could not record an outcome; the row will be retried");
                    None
                }
            });
        }
        kept
    }

    /// Writes the outcomes of a group and their journal entries in one
    /// transaction, each row only while its claim is still ours: one
    /// statement per outcome kind on PostgreSQL, one journal INSERT for the
    /// sent and suppressed rows; a failed row is written with all it
    /// entails (task, opt-out, fallback) as before.
    async fn record_together(&self, group: &[Done]) -> Result<Vec<bool>> {
        let mut tx = self.db().begin().await?;
        let rows: Vec<Finish<'_>> = group
            .iter()
            .map(|d| Finish {
                id: d.claimed.id,
                claim_token: &d.claimed.claim_token,
                outcome: &d.outcome,
                at: d.at,
            })
            .collect();
        let kept = outbox::finish_group(&mut tx, &rows).await?;
        let mut events = Vec::new();
        for (d, &k) in group.iter().zip(&kept) {
            if !k {
                tracing::warn!(outbox_id = %d.claimed.id, "claim lost before the outcome was recorded");
                continue;
            }
            let c = &d.claimed;
            let event = match &d.outcome {
                Outcome::Sent { gateway_id, .. } => JournalEvent::MessageSent {
                    outbox_id: Some(c.id),
                    purpose: Some(c.purpose),
                    channel: Some(c.channel),
                    gateway_id: Some(gateway_id.clone()),
                    attempt: Some(c.attempts),
                },
                Outcome::Suppressed { reason } => JournalEvent::MessageSuppressed {
                    outbox_id: Some(c.id),
                    purpose: Some(c.purpose),
                    channel: Some(c.channel),
                    reason: Some(reason.clone()),
                },
                Outcome::Failed { .. } | Outcome::Retry { .. } | Outcome::Defer { .. } => continue,
            };
            events.push((d, event));
        }
        let entries: Vec<JournalEntry<'_>> = events
            .iter()
            .map(|(d, event)| JournalEntry {
                participant: d.claimed.participant_id,
                appointment: d.claimed.appointment_id,
                at: d.at,
                event,
            })
            .collect();
        outbox::append_journal_group(&mut tx, &entries).await?;
        for (d, &k) in group.iter().zip(&kept) {
            if let (true, Outcome::Failed { error, kind, .. }) = (k, &d.outcome) {
                self.record_failure(&mut tx, &d.claimed, error, *kind, d.at)
                    .await?;
            }
        }
        tx.commit().await?;
        for (d, &k) in group.iter().zip(&kept) {
            if k {
                self.recorded(&d.claimed, &d.outcome);
            }
        }
        Ok(kept)
    }

    /// What a failed row entails besides its status, in the group's
    /// transaction: its journal entry, an opt-out at the gateway, a dead
    /// chat, the fallback to SMS, and a task for the lots.
    async fn record_failure(
        &self,
        tx: &mut crate::store::Conn,
        c: &Claimed,
        error: &str,
        kind: FailureKind,
        now: DateTime<Utc>,
    ) -> Result<()> {
        system_journal(
            &mut *tx,
            c,
            now,
            &JournalEvent::DeliveryFailed {
                outbox_id: Some(c.id),
                purpose: Some(c.purpose),
                channel: Some(c.channel),
                error: Some(error.to_string()),
                attempts: Some(c.attempts),
                reported_by: None,
            },
        )
        .await?;
        // Opted out at the gateway (e.g. STOP sent to Twilio's number):
        // honour it like STOPP.
        if kind == FailureKind::OptedOut {
            let p = crate::store::participants::get(&mut *tx, c.participant_id).await?;
            crate::store::participants::set_opted_out(
                &mut *tx,
                p.id,
                p.opted_out.with(c.channel, true),
                now,
            )
            .await?;
            journal::append(
                &mut *tx,
                p.id,
                None,
                now,
                "system",
                &JournalEvent::OptedOutAtGateway {
                    channel: Some(c.channel),
                },
            )
            .await?;
        }
        // The chat is gone: stop using it, so planning picks SMS from now on.
        if kind == FailureKind::Unreachable && c.channel == ChannelKind::Telegram {
            crate::store::telegram::mark_dead(&mut *tx, c.participant_id, now).await?;
            journal::append(
                &mut *tx,
                c.participant_id,
                None,
                now,
                "system",
                &JournalEvent::TelegramUnreachable {
                    outbox_id: Some(c.id),
                },
            )
            .await?;
        }
        let mut fell_back = false;
        // Telegram failed for good: the same message goes by SMS where the
        // participant consented to it, and the journal says so.
        if c.channel == ChannelKind::Telegram
            && c.phone.is_some()
            && !c.opted_out.contains(ChannelKind::Sms)
            && c.consent
                .is_some_and(|k| k.channels.contains(ChannelKind::Sms) && k.withdrawn_at.is_none())
        {
            let m = outbox::NewMessage {
                participant_id: c.participant_id,
                appointment_id: c.appointment_id,
                plan_version: c.plan_version,
                purpose: c.purpose,
                offset_min: c.offset_min,
                channel: ChannelKind::Sms,
                ask_reply: c.ask_reply,
                due_at: now,
                deadline_at: c.deadline_at,
                body: c.body.clone(),
                trial: None,
            };
            if let Some(sms_id) = outbox::insert(&mut *tx, &m, now).await? {
                fell_back = true;
                if let Some(b) = c.broadcast_id {
                    outbox::set_broadcast(&mut *tx, sms_id, b).await?;
                }
                let event = JournalEvent::FallbackToSms {
                    failed_outbox_id: Some(c.id),
                    sms_outbox_id: Some(sms_id),
                    telegram_error: Some(error.to_string()),
                };
                system_journal(&mut *tx, c, now, &event).await?;
            }
        }
        // A failed delivery is information for a person: a number may have
        // gone dead, a chat been blocked. A message for an unlinked chat
        // that went by SMS instead is not news: the dead chat already made
        // its task.
        if !(fell_back && kind == FailureKind::NoAddress) {
            tasks::create(
                &mut *tx,
                c.participant_id,
                c.appointment_id,
                TaskKind::DeliveryFailed,
                &format!("delivery_failed:o{}", c.id),
                json!({ "outbox_id": c.id, "channel": c.channel, "error": error }),
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// After the commit: wake the loop for a fallback, count, and log.
    fn recorded(&self, c: &Claimed, outcome: &Outcome) {
        if matches!(outcome, Outcome::Failed { .. }) && c.channel == ChannelKind::Telegram {
            self.engine.wake();
        }
        let label = match outcome {
            Outcome::Sent { .. } => "sent",
            Outcome::Failed { .. } => "failed",
            Outcome::Suppressed { .. } => "suppressed",
            Outcome::Retry { .. } => "retry",
            Outcome::Defer { .. } => "deferred",
        };
        metrics::counter!("paminn_messages_total", "channel" => c.channel.as_str(), "outcome" => label)
            .increment(1);
        if label == "retry" {
            metrics::counter!("paminn_retries_total", "channel" => c.channel.as_str()).increment(1);
        }
        match outcome {
            Outcome::Sent { .. } => tracing::info!(outbox_id = %c.id, channel = %c.channel, "sent"),
            // Wrong gateway credentials stop every message: that is for an
            // admin, now, not only a task for one participant's lots.
            Outcome::Failed {
                error,
                kind: FailureKind::Credentials,
                ..
            } => tracing::error!(
                outbox_id = %c.id, channel = %c.channel, error = %mask_numbers_in(error),
                "the gateway refused paminn's credentials: check the configuration"
            ),
            Outcome::Failed { error, .. } => {
                tracing::warn!(outbox_id = %c.id, error = %mask_numbers_in(error), "failed")
            }
            Outcome::Suppressed { reason } => {
                tracing::info!(outbox_id = %c.id, %reason, "suppressed")
            }
            Outcome::Retry { at, error } => {
                tracing::info!(outbox_id = %c.id, error = %mask_numbers_in(error), retry_at = %at, "retry")
            }
            Outcome::Defer { until } => tracing::debug!(outbox_id = %c.id, %until, "deferred"),
        }
    }

    /// Runs until `shutdown` is cancelled. The batch in progress is wound
    /// down before returning: rows being sent finish, the others go back
    /// unsent, so a clean stop leaves no claimed row behind.
    pub async fn run(&self, shutdown: CancellationToken) {
        // Sends already under way finish (bounded by the gateways'
        // timeouts); the rest of the batch is released on the spot.
        let (stop, stopping) = (shutdown.clone(), self.stopping.clone());
        let watcher = tokio::spawn(async move {
            stop.cancelled().await;
            stopping.cancel();
        });
        let wake = self.engine.waker();
        let mut db_errors = 0u32;
        while !shutdown.is_cancelled() {
            let now = Utc::now();
            // Everything due now, batch after batch, in one stream.
            match self.drain(now).await {
                Ok(_) => db_errors = 0,
                Err(e) => {
                    db_errors += 1;
                    let backoff = Duration::from_millis(200 * u64::from(db_errors.min(25)));
                    tracing::error!(error = %e, ?backoff, "dispatcher batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    continue;
                }
            }
            let sleep = match outbox::next_due(self.db()).await {
                Ok(Some(t)) => {
                    let until = (t - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    // Due now but nothing claimed: another instance holds
                    // those rows. Look again shortly.
                    until.max(Duration::from_millis(20)).min(self.cfg.poll)
                }
                Ok(None) => self.cfg.poll,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the next due time");
                    self.cfg.poll
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = wake.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
        watcher.abort();
        tracing::info!("dispatcher stopped");
    }
}

/// A journal entry written by the system about a claimed row (its
/// participant and its appointment, if any).
async fn system_journal(
    c: &mut crate::store::Conn,
    row: &Claimed,
    now: DateTime<Utc>,
    event: &JournalEvent,
) -> Result<()> {
    journal::append(
        c,
        row.participant_id,
        row.appointment_id,
        now,
        "system",
        event,
    )
    .await
}
