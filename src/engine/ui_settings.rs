//! Changes made on the settings and admin pages of the staff web UI, each
//! one transaction with its audit row: a unit's reminder rule for one kind
//! of appointment, a unit's quiet hours, retention and switches, and
//! switching a staff account off or on.
//!
//! A changed rule applies to appointments planned from then on (booked,
//! moved, or made by a series); reminders already planned keep their times.

use super::{Actor, Engine};
use crate::domain::schedule::QuietHours;
use crate::domain::{AppointmentKind, Role, Span, StaffId, UnitId};
use crate::error::{Error, Result};
use crate::store::rules::{self, Rule};
use crate::store::staff::{self, Staff};
use crate::store::units::{self, Unit};
use crate::store::{audit, ui_admin, web};
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

    /// Switches a staff account off (its sessions end at once) or on again
    /// (audited as `staff.deactivate` / `staff.reactivate`).
    pub async fn set_staff_active(
        &self,
        id: StaffId,
        active: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Staff> {
        let mut tx = self.db.begin().await?;
        let before = staff::get(&mut tx, id).await?;
        if before.active == active {
            return Ok(before);
        }
        ui_admin::set_active(&mut tx, id, active).await?;
        let ended = if active {
            0
        } else {
            web::delete_sessions_of(&mut tx, id, None).await?
        };
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            if active {
                "staff.reactivate"
            } else {
                "staff.deactivate"
            },
            &format!("staff:{id}"),
            json!({ "sessions_ended": ended }),
        )
        .await?;
        let after = staff::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Gives a staff member another role or unit (audited as `staff.role`
    /// with before and after). Every role but admin belongs to a unit. A
    /// lots who is still responsible for participants keeps the role and
    /// the unit until they have another lots: tasks and alerts would
    /// otherwise go to someone who no longer works with them. Access
    /// follows at their next request (the session reads the account).
    pub async fn set_staff_role(
        &self,
        id: StaffId,
        role: Role,
        unit: Option<UnitId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Staff> {
        if role != Role::Admin && unit.is_none() {
            return Err(Error::invalid(
                "a coordinator, lots or assistant belongs to a unit",
            ));
        }
        let mut tx = self.db.begin().await?;
        let before = staff::get(&mut tx, id).await?;
        if before.role == role && before.unit_id == unit {
            return Ok(before);
        }
        if let Some(u) = unit {
            units::get(&mut tx, u).await?;
        }
        let caseload = ui_admin::caseloads(&mut tx)
            .await?
            .get(&id)
            .copied()
            .unwrap_or(0);
        if before.role == Role::Lots
            && caseload > 0
            && (role != Role::Lots || unit != before.unit_id)
        {
            return Err(Error::Conflict(format!(
                "{} is the lots of {caseload} participants; give them another lots first",
                before.name
            )));
        }
        ui_admin::set_role(&mut tx, id, role, unit).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "staff.role",
            &format!("staff:{id}"),
            json!({
                "from": { "role": before.role, "unit": before.unit_id },
                "to": { "role": role, "unit": unit },
            }),
        )
        .await?;
        let after = staff::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }
}
