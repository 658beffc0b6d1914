//! The engine: everything that turns data into messages and back,
//! organised by capability. Every write of the CLI, the JSON API, the web
//! UI and the bot is one `Engine` method here doing its validation,
//! transaction, journal and audit, so the adapters cannot disagree; every
//! read of personal data that is shown goes through
//! [`Engine::read_audited`].
//!
//! appointment → [`appointments`] → [`planner`] → outbox → [`dispatcher`] →
//! channel. Every write that can create due work ends by waking the
//! dispatcher ([`Engine::wake`]); other processes' writes are picked up by
//! the dispatcher's short poll of the earliest due time.

pub mod appointments;
pub mod auth;
pub mod broadcasts;
pub mod calendar_feeds;
pub mod day;
pub mod dispatcher;
pub mod event_hooks;
pub mod jobs;
pub mod linking;
pub mod outcomes;
pub mod participants;
pub mod planner;
pub mod reads;
pub mod record;
pub mod replies;
pub mod review;
pub mod series;
pub mod settings;
pub mod sign_in;
pub mod staff;
pub mod summon;
pub mod tasks;
pub mod templates;

use crate::domain::journal::JournalEvent;
use crate::domain::{AppointmentId, ParticipantId};
use crate::error::Result;
use crate::store::participants::Participant;
use crate::store::{Conn, Db, audit, journal};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::Notify;

/// A handle shared by the CLI, the API and the workers.
#[derive(Clone)]
pub struct Engine {
    pub db: Db,
    wake: Arc<Notify>,
    /// The shortest time a series may leave between two appointments
    /// (`series_min_interval_minutes`).
    series_min_gap: chrono::Duration,
    /// Accepted appointment times (`appointment_years_back` / `_ahead`).
    pub window: crate::domain::window::Window,
    /// How long audit rows are kept (`audit_retention_days`), apart from
    /// the units' message retention.
    audit_retention_days: i64,
    /// Event webhook endpoints may be plain http:// to 127.0.0.1 or
    /// localhost (`event_hooks_allow_local_http`; tests and the demo).
    event_hooks_local_http: bool,
    /// Delivery receipts arriving together, committed together.
    receipts: Arc<
        crate::store::group_commit::GroupCommit<
            replies::Receipt,
            Result<Option<crate::domain::OutboxStatus>>,
        >,
    >,
}

impl Engine {
    pub fn new(db: Db) -> Self {
        Engine {
            db,
            wake: Arc::new(Notify::new()),
            series_min_gap: chrono::Duration::minutes(60),
            window: Default::default(),
            audit_retention_days: review::DEFAULT_AUDIT_RETENTION_DAYS,
            event_hooks_local_http: false,
            receipts: Arc::default(),
        }
    }

    /// Sets how long audit rows are kept; at least
    /// [`review::MIN_AUDIT_RETENTION_DAYS`] (the database refuses younger
    /// deletions anyway).
    pub fn with_audit_retention_days(mut self, days: i64) -> Self {
        self.audit_retention_days = days.max(review::MIN_AUDIT_RETENTION_DAYS);
        self
    }

    /// Allows event webhook endpoints at http://127.0.0.1 or localhost.
    pub fn with_event_hooks_local_http(mut self, allow: bool) -> Self {
        self.event_hooks_local_http = allow;
        self
    }

    pub fn audit_retention_days(&self) -> i64 {
        self.audit_retention_days
    }

    /// Sets the shortest gap a series may have (default 60 minutes).
    pub fn with_series_min_gap(mut self, gap: chrono::Duration) -> Self {
        self.series_min_gap = gap;
        self
    }

    pub fn series_min_gap(&self) -> chrono::Duration {
        self.series_min_gap
    }

    /// The same engine with another window of accepted appointment times.
    pub fn with_window(mut self, window: crate::domain::window::Window) -> Self {
        self.window = window;
        self
    }

    /// Tells the dispatcher that new work may be due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// Who did something, as written into the journal and the audit log:
/// `cli:<user>`, `api:<token name>`, `staff:<id>`, `system`, `participant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Self {
        Actor("system".into())
    }
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Actor(format!("cli:{user}"))
    }
    pub fn api(token_name: &str) -> Self {
        Actor(format!("api:{token_name}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a person changed about a participant.
pub(crate) struct Change<'a> {
    pub participant: ParticipantId,
    pub appointment: Option<AppointmentId>,
    pub event: JournalEvent,
    /// The audit action, e.g. `participant.status`.
    pub action: &'a str,
}

impl<'a> Change<'a> {
    /// A change about the participant (the audit target), no appointment.
    pub fn of(participant: ParticipantId, action: &'a str, event: JournalEvent) -> Self {
        Change {
            participant,
            appointment: None,
            event,
            action,
        }
    }

    /// The same change about one of the participant's appointments (the
    /// audit target then).
    pub fn on(self, appointment: AppointmentId) -> Self {
        Change {
            appointment: Some(appointment),
            ..self
        }
    }
}

impl Actor {
    /// Writes a change into the participant's case record and into the
    /// audit log, in the caller's transaction: no staff change reaches one
    /// without the other. The audit target is the appointment when there is
    /// one, else the participant.
    pub(crate) async fn record(
        &self,
        c: &mut Conn,
        now: DateTime<Utc>,
        ch: Change<'_>,
    ) -> Result<()> {
        journal::append(
            c,
            ch.participant,
            ch.appointment,
            now,
            self.as_str(),
            &ch.event,
        )
        .await?;
        let target = match ch.appointment {
            Some(a) => format!("appointment:{a}"),
            None => format!("participant:{}", ch.participant),
        };
        audit::append(
            c,
            now,
            self.as_str(),
            ch.action,
            &target,
            serde_json::json!({}),
        )
        .await
    }
}

/// One field of a participant that a person sets: the journal event of a
/// change (from, to), the audit action, how to read the current value, and
/// the new value.
pub(crate) struct Field<T, F> {
    pub event: fn(T, T) -> JournalEvent,
    pub action: &'static str,
    pub current: F,
    pub to: T,
}

impl Engine {
    /// Sets one field of a participant the way every such change goes: in
    /// one transaction, the participant is read, nothing happens when the
    /// value is already the new one (a resubmitted form writes no journal
    /// line), else `write` runs and the change (from, to) goes into the
    /// journal and the audit log. Returns whether anything changed.
    pub(crate) async fn change_participant<T, F>(
        &self,
        id: ParticipantId,
        actor: &Actor,
        now: DateTime<Utc>,
        field: Field<T, F>,
        write: impl AsyncFnOnce(&mut Conn) -> Result<()>,
    ) -> Result<bool>
    where
        T: PartialEq + Serialize,
        F: FnOnce(&Participant) -> T,
    {
        let mut tx = self.db.begin().await?;
        let p = crate::store::participants::get(&mut tx, id).await?;
        let from = (field.current)(&p);
        if from == field.to {
            return Ok(false);
        }
        write(&mut tx).await?;
        let change = Change::of(id, field.action, (field.event)(from, field.to));
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        Ok(true)
    }
}
