//! Periodic jobs, run by `paminn serve` every few minutes and by
//! `paminn maintenance`: tasks for silence, expiring consent and empty
//! calendars, and the purge of old message texts. Every job is idempotent
//! (tasks are keyed), so running it twice or from two instances is safe.

use super::Engine;
use crate::domain::TaskKind;
use crate::error::Result;
use crate::store::{from_ms, ms, tasks};
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// Consent that runs out within this gives the lots a task.
pub const CONSENT_WARNING: Duration = Duration::days(30);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobReport {
    pub no_reply_tasks: usize,
    pub consent_tasks: usize,
    pub gap_tasks: usize,
    pub purged_texts: u64,
}

impl Engine {
    pub async fn run_jobs(&self, now: DateTime<Utc>) -> Result<JobReport> {
        Ok(JobReport {
            no_reply_tasks: self.no_reply_tasks(now).await?,
            consent_tasks: self.consent_tasks(now).await?,
            gap_tasks: self.gap_tasks(now).await?,
            purged_texts: self.purge_texts(now).await?,
        })
    }

    /// A reminder asked for a reply, the rule's deadline has passed, and no
    /// reply came: a task, once per appointment and time.
    async fn no_reply_tasks(&self, now: DateTime<Utc>) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT DISTINCT a.id, a.participant_id, a.plan_version, a.starts_at
             FROM appointments a
             JOIN reminder_rules r ON r.unit_id = a.unit_id AND r.kind = a.kind
             JOIN outbox o ON o.appointment_id = a.id AND o.ask_reply = 1
                          AND o.status IN ('sent','delivered') AND o.plan_version = a.plan_version
             WHERE a.status = 'scheduled' AND a.reply = 'none' AND r.reply_deadline_min IS NOT NULL
               AND a.starts_at - r.reply_deadline_min * 60000 <= $1 AND a.starts_at > $1 - 86400000",
        )
        .bind(ms(now))
        .fetch_all(&self.db.pool)
        .await?;
        let mut n = 0;
        let mut c = self.db.conn().await?;
        for r in rows {
            let a: i64 = r.try_get("id")?;
            let p: i64 = r.try_get("participant_id")?;
            let v: i64 = r.try_get("plan_version")?;
            let starts: i64 = r.try_get("starts_at")?;
            if tasks::create(
                &mut c,
                crate::domain::ParticipantId::from_db(p),
                Some(crate::domain::AppointmentId::from_db(a)),
                TaskKind::NoReply,
                &format!("no_reply:a{a}:v{v}"),
                json!({ "starts_at": from_ms(starts) }),
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
        let rows = sqlx::query(
            "SELECT c.id, c.participant_id, c.expires_at FROM consents c
             JOIN participants p ON p.id = c.participant_id
             WHERE c.id = (SELECT MAX(id) FROM consents WHERE participant_id = c.participant_id)
               AND c.withdrawn_at IS NULL AND c.expires_at IS NOT NULL
               AND c.expires_at <= $1 AND p.status IN ('active','paused') AND p.erased_at IS NULL",
        )
        .bind(ms(now + CONSENT_WARNING))
        .fetch_all(&self.db.pool)
        .await?;
        let mut n = 0;
        let mut c = self.db.conn().await?;
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let p: i64 = r.try_get("participant_id")?;
            let exp: i64 = r.try_get("expires_at")?;
            if tasks::create(
                &mut c,
                crate::domain::ParticipantId::from_db(p),
                None,
                TaskKind::ConsentExpiring,
                &format!("consent_expiring:c{id}"),
                json!({ "expires_at": from_ms(exp) }),
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
        let rows = sqlx::query(
            "SELECT p.id, p.created_at, u.gap_alert_days FROM participants p JOIN units u ON u.id = p.unit_id
             WHERE p.status = 'active' AND p.erased_at IS NULL AND u.gap_alert_days > 0
               AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.participant_id = p.id
                   AND a.status = 'scheduled' AND a.starts_at > $1
                   AND a.starts_at <= $1 + u.gap_alert_days * 86400000)",
        )
        .bind(ms(now))
        .fetch_all(&self.db.pool)
        .await?;
        let week = now.iso_week();
        let mut n = 0;
        let mut c = self.db.conn().await?;
        for r in rows {
            let p: i64 = r.try_get("id")?;
            let days: i64 = r.try_get("gap_alert_days")?;
            let created = from_ms(r.try_get("created_at")?);
            if !crate::domain::urgency::gap_alert_due(created, days, now) {
                continue;
            }
            if tasks::create(
                &mut c,
                crate::domain::ParticipantId::from_db(p),
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
        let cutoff = "(SELECT $1 - u.retention_days * 86400000 FROM participants p \
                      JOIN units u ON u.id = p.unit_id WHERE p.id = {t}.participant_id)";
        let mut total = 0;
        for (table, set, time, only) in [
            ("outbox", "body = NULL", "created_at", "body IS NOT NULL"),
            ("inbound", "body = NULL", "received_at", "body IS NOT NULL"),
            ("sandbox_messages", "body = ''", "at", "body <> ''"),
            (
                "appointments",
                "reply_reason = NULL",
                "starts_at",
                "reply_reason IS NOT NULL",
            ),
        ] {
            let sql = format!(
                "UPDATE {table} SET {set} WHERE {only} AND {time} < {}",
                cutoff.replace("{t}", table)
            );
            total += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ms(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        // Journal and task details and stored intents are JSON: drop the
        // text and reason keys.
        for (table, column, time) in [
            ("journal", "detail", "at"),
            ("tasks", "detail", "created_at"),
            ("inbound", "intent", "received_at"),
        ] {
            let sql = format!(
                "SELECT id, {column} AS doc FROM {table} WHERE {time} < {} \
                 AND ({column} LIKE '%\"text\":\"%' OR {column} LIKE '%\"reason\":\"%')",
                cutoff.replace("{t}", table)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ms(now))
                .fetch_all(&mut *tx)
                .await?;
            for r in rows {
                let id: i64 = r.try_get("id")?;
                let doc: String = r.try_get("doc")?;
                let mut v: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
                if strip_texts(&mut v) {
                    let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(v.to_string())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    total += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(total)
    }
}

/// Removes every "text" and "reason" value in a JSON tree; true if any.
pub fn strip_texts(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            let mut changed = false;
            for k in ["text", "reason"] {
                if m.get(k).is_some_and(|x| !x.is_null()) {
                    m.insert(k.to_string(), serde_json::Value::Null);
                    changed = true;
                }
            }
            for (_, x) in m.iter_mut() {
                changed |= strip_texts(x);
            }
            changed
        }
        serde_json::Value::Array(a) => a.iter_mut().fold(false, |acc, x| strip_texts(x) | acc),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_removes_texts_and_reasons_at_any_depth_and_keeps_the_rest() {
        let mut v = json!({"text": "förhinder, sjuk", "intent": {"intent": "cannot", "reason": "sjuk"},
                           "changed": {"reason": "sjuk", "reply": "cannot"}});
        assert!(strip_texts(&mut v));
        assert_eq!(
            v,
            json!({"text": null, "intent": {"intent": "cannot", "reason": null},
                             "changed": {"reason": null, "reply": "cannot"}})
        );
        assert!(!strip_texts(&mut v), "a second purge changes nothing");
    }
}
