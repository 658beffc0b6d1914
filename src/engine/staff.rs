//! Staff accounts: adding one, switching one off or on, and giving one
//! another role or unit, each one transaction with its audit row.

use super::{Actor, Engine};
use crate::domain::{Role, StaffId, UnitId};
use crate::error::{Error, Result};
use crate::store::staff::{self, NewStaff, Staff};
use crate::store::{audit, ui_admin, units, web};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Engine {
    /// Adds a staff member (`paminn staff add`).
    pub async fn add_staff(
        &self,
        new: &NewStaff,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Staff> {
        let mut tx = self.db.begin().await?;
        if let Some(u) = new.unit {
            units::get(&mut tx, u).await?;
        }
        let s = staff::create(&mut tx, new, now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "staff.create",
            &format!("staff:{}", s.id),
            json!({ "role": new.role }),
        )
        .await?;
        tx.commit().await?;
        Ok(s)
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
        if !matches!(role, Role::Admin | Role::Reviewer) && unit.is_none() {
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
