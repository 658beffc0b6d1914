//! Periodic jobs, run by `paminn serve` every few minutes and by
//! `paminn maintenance`: tasks for silence, expiring consent and empty
//! calendars, the purge of old message texts and of finished event-webhook
//! deliveries, and of audit rows older than `audit_retention_days`
//! (`Engine::purge_audit`). Every job is idempotent
//! (tasks are keyed), so running it twice or from two instances is safe.

use super::Engine;
use crate::domain::TaskKind;
use crate::error::Result;
use crate::store::{appointments, consents, from_ms, participants, tasks};
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use serde_json::json;

/// Consent that runs out within this gives the lots a task.
pub const CONSENT_WARNING: Duration = Duration::days(30);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobReport {
    pub no_reply_tasks: usize,
    pub consent_tasks: usize,
    pub gap_tasks: usize,
    pub purged_texts: u64,
    /// Finished event-webhook deliveries older than the unit's retention,
    /// deleted.
    pub purged_hook_deliveries: u64,
    /// Audit rows older than `audit_retention_days`, deleted.
    pub purged_audit_rows: u64,
}

impl Engine {
    pub async fn run_jobs(&self, now: DateTime<Utc>) -> Result<JobReport> {
        Ok(JobReport {
            no_reply_tasks: self.no_reply_tasks(now).await?,
            consent_tasks: self.consent_tasks(now).await?,
            gap_tasks: self.gap_tasks(now).await?,
            purged_texts: self.purge_texts(now).await?,
            purged_hook_deliveries: self.purge_hook_deliveries(now).await?,
            purged_audit_rows: self.purge_audit(now).await?,
        })
    }

    /// A reminder asked for a reply, the rule's deadline has passed, and no
    /// reply came: a task, once per appointment and time.
    async fn no_reply_tasks(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut c = self.db.conn().await?;
        let mut n = 0;
        for s in appointments::silent_past_deadline(&mut c, now).await? {
            let (a, v) = (s.id, s.plan_version);
            if tasks::create(
                &mut c,
                s.participant_id,
                Some(a),
                TaskKind::NoReply,
                &format!("no_reply:a{a}:v{v}"),
                json!({ "starts_at": from_ms(s.starts_at) }),
                now,
            )
            .await?
            .is_some()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Consent in force that expires within 30 days: a task per consent.
    async fn consent_tasks(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut c = self.db.conn().await?;
        let mut n = 0;
        for e in consents::expiring_by(&mut c, now + CONSENT_WARNING).await? {
            if tasks::create(
                &mut c,
                e.participant_id,
                None,
                TaskKind::ConsentExpiring,
                &format!("consent_expiring:c{}", e.id),
                json!({ "expires_at": from_ms(e.expires_at) }),
                now,
            )
            .await?
            .is_some()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// An active participant with nothing booked in the unit's gap window:
    /// a task, at most one per participant and week; not before the
    /// participant has been in the programme for that window
    /// ([`gap_alert_due`](crate::domain::urgency::gap_alert_due)).
    async fn gap_tasks(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut c = self.db.conn().await?;
        let week = now.iso_week();
        let mut n = 0;
        for g in participants::with_nothing_booked(&mut c, now).await? {
            let (p, days) = (g.id, g.gap_alert_days);
            if !crate::domain::urgency::gap_alert_due(from_ms(g.created_at), days, now) {
                continue;
            }
            if tasks::create(
                &mut c,
                p,
                None,
                TaskKind::Gap,
                &format!("gap:p{p}:{}-W{:02}", week.year(), week.week()),
                json!({ "days": days }),
                now,
            )
            .await?
            .is_some()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Message texts (and reasons given, which can be health data) older
    /// than the unit's retention are removed; the metadata (who, when,
    /// status, intent) stays.
    async fn purge_texts(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.db.begin().await?;
        let total = crate::store::retention::purge_texts(&mut tx, now).await?;
        tx.commit().await?;
        Ok(total)
    }

    /// Event-webhook deliveries that are done with, older than the unit's
    /// retention.
    async fn purge_hook_deliveries(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut c = self.db.conn().await?;
        crate::store::retention::purge_hook_deliveries(&mut c, now).await
    }
}
