//! A unit and its settings, each change one transaction with its audit
//! row, whichever adapter asks (the settings page, the CLI's `unit set`
//! and `rule set`): a unit's reminder rule for one kind of appointment, a
//! unit's quiet hours, retention and switches.
//!
//! A changed rule applies to appointments planned from then on (booked,
//! moved, or made by a series); reminders already planned keep their times.

use super::{Actor, Engine};
use crate::domain::schedule::QuietHours;
use crate::domain::{AppointmentKind, Span, UnitId};
use crate::error::{Error, Result};
use crate::store::audit;
use crate::store::rules::{self, Rule};
use crate::store::units::{self, Unit};
use chrono::{DateTime, Utc};
use serde_json::json;

/// A unit's settings as the settings page edits them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitSettings {
    pub quiet_hours: QuietHours,
    pub retention_days: i64,
    pub plan_making: bool,
    /// 0: off.
    pub gap_alert_days: i64,
    /// Staff Telegram alerts copy the participant's words (off by default).
    pub alert_details: bool,
}

/// A reminder rule as the settings page sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChange {
    pub kind: AppointmentKind,
    /// Before the start, at least one.
    pub offsets: Vec<Span>,
    pub ask_reply: bool,
    /// A reply is expected this long before the start.
    pub reply_deadline: Option<Span>,
}

/// Longest retention of message texts the page accepts (ten years).
pub const MAX_RETENTION_DAYS: i64 = 3650;
/// Longest gap before a task the page accepts.
pub const MAX_GAP_ALERT_DAYS: i64 = 365;

fn spans(s: &[Span]) -> String {
    s.iter().map(Span::to_string).collect::<Vec<_>>().join(",")
}

impl Engine {
    /// Sets a unit's reminder rule for one kind of appointment (audited as
    /// `settings.rule`).
    pub async fn set_rule(
        &self,
        unit: UnitId,
        r: &RuleChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Rule> {
        let RuleChange {
            kind,
            ref offsets,
            ask_reply,
            reply_deadline,
        } = *r;
        if offsets.is_empty() {
            return Err(Error::invalid(
                "a rule needs at least one reminder time, e.g. 24h,2h",
            ));
        }
        let mut tx = self.db.begin().await?;
        units::get(&mut tx, unit).await?;
        let before = rules::get(&mut tx, unit, kind).await?;
        rules::set(&mut tx, unit, kind, offsets, ask_reply, reply_deadline).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "settings.rule",
            &format!("unit:{unit}"),
            json!({
                "kind": kind,
                "from": before.map(|r| json!({ "offsets": spans(&r.offsets), "ask_reply": r.ask_reply,
                                               "reply_deadline": r.reply_deadline.map(|s| s.to_string()) })),
                "to": { "offsets": spans(offsets), "ask_reply": ask_reply,
                        "reply_deadline": reply_deadline.map(|s| s.to_string()) },
            }),
        )
        .await?;
        let rule = rules::get(&mut tx, unit, kind)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("rule not stored")))?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Sets a unit's quiet hours, retention, plan-making and gap alerts
    /// (audited as `settings.unit`).
    pub async fn set_unit_settings(
        &self,
        unit: UnitId,
        s: &UnitSettings,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit> {
        if !(1..=MAX_RETENTION_DAYS).contains(&s.retention_days) {
            return Err(Error::invalid(format!(
                "retention must be 1-{MAX_RETENTION_DAYS} days"
            )));
        }
        if !(0..=MAX_GAP_ALERT_DAYS).contains(&s.gap_alert_days) {
            return Err(Error::invalid(format!(
                "the gap alert must be 0-{MAX_GAP_ALERT_DAYS} days"
            )));
        }
        let mut tx = self.db.begin().await?;
        let before = units::get(&mut tx, unit).await?;
        units::set_quiet_hours(&mut tx, unit, s.quiet_hours).await?;
        units::set_settings(
            &mut tx,
            unit,
            Some(s.plan_making),
            Some(s.gap_alert_days),
            Some(s.retention_days),
        )
        .await?;
        units::set_alert_details(&mut tx, unit, s.alert_details).await?;
        let view = |u: &Unit| {
            json!({ "quiet_hours": u.quiet_hours.to_string(), "retention_days": u.retention_days,
                    "plan_making": u.plan_making, "gap_alert_days": u.gap_alert_days,
                    "alert_details": u.alert_details })
        };
        let after = units::get(&mut tx, unit).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "settings.unit",
            &format!("unit:{unit}"),
            json!({ "from": view(&before), "to": view(&after) }),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Adds a unit, with its quiet hours when given (audited as
    /// `unit.create`).
    pub async fn add_unit(
        &self,
        name: &str,
        quiet_hours: Option<QuietHours>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit> {
        let mut tx = self.db.begin().await?;
        let u = units::create(&mut tx, name, now).await?;
        if let Some(q) = quiet_hours {
            units::set_quiet_hours(&mut tx, u.id, q).await?;
        }
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "unit.create",
            &format!("unit:{}", u.id),
            json!({ "name": u.name }),
        )
        .await?;
        let u = units::get(&mut tx, u.id).await?;
        tx.commit().await?;
        Ok(u)
    }

    /// Changes some of a unit's settings (`None`: as it is), with the same
    /// bounds and audit row as [`Engine::set_unit_settings`], which it
    /// calls: the CLI's `unit set` and the settings page cannot disagree.
    pub async fn change_unit_settings(
        &self,
        unit: UnitId,
        ch: &UnitChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Unit> {
        let u = {
            let mut c = self.db.conn().await?;
            units::get(&mut c, unit).await?
        };
        let s = UnitSettings {
            quiet_hours: ch.quiet_hours.unwrap_or(u.quiet_hours),
            retention_days: ch.retention_days.unwrap_or(u.retention_days),
            plan_making: ch.plan_making.unwrap_or(u.plan_making),
            gap_alert_days: ch.gap_alert_days.unwrap_or(u.gap_alert_days),
            alert_details: ch.alert_details.unwrap_or(u.alert_details),
        };
        self.set_unit_settings(unit, &s, actor, now).await
    }
}

/// Some of a unit's settings (`paminn unit set`); `None` keeps the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitChange {
    pub quiet_hours: Option<QuietHours>,
    pub retention_days: Option<i64>,
    pub plan_making: Option<bool>,
    pub gap_alert_days: Option<i64>,
    pub alert_details: Option<bool>,
}
