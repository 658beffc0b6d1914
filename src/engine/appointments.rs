//! Appointments (booking): create, change, move and cancel appointments. Each operation is
//! one transaction: the appointment, its reminder rows, the journal entry
//! and the audit entry commit together.

use super::{Actor, Change, Engine, planner};
use crate::domain::journal::JournalEvent;
use crate::domain::{AppointmentId, AppointmentStatus, UnitId};
use crate::error::{Error, Result};
use crate::store::appointments::{self, Appointment, NewAppointment};
use crate::store::{audit, journal, outbox, participants};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// What an idempotent create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Upsert {
    Created,
    Updated,
    Unchanged,
}

fn clean(s: &Option<String>, what: &str, max: usize) -> Result<Option<String>> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max => Err(Error::invalid(format!(
            "{what} is longer than {max} characters"
        ))),
        Some(t) => Ok(Some(t.to_string())),
    }
}

pub(crate) fn normalise(a: &NewAppointment) -> Result<NewAppointment> {
    // Checked here, so create, upsert and update (API PATCH) all check it.
    if a.duration_min <= 0 || a.duration_min > 24 * 60 {
        return Err(Error::invalid(
            "duration must be between 1 minute and 24 hours",
        ));
    }
    Ok(NewAppointment {
        location: clean(&a.location, "location", 200)?,
        with_whom: clean(&a.with_whom, "with whom", 100)?,
        internal_note: clean(&a.internal_note, "internal note", 2000)?,
        external_ref: clean(&a.external_ref, "external ref", 200)?,
        ..a.clone()
    })
}

/// Whether writing `new` over `old` would change anything (details, time,
/// or reviving a cancelled appointment). `new` is normalised.
pub(crate) fn changes_anything(old: &Appointment, new: &NewAppointment) -> bool {
    old.kind != new.kind
        || old.duration_min != new.duration_min
        || old.location != new.location
        || old.with_whom != new.with_whom
        || old.internal_note != new.internal_note
        || old.starts_at != new.starts_at
        || old.status == AppointmentStatus::Cancelled
}

impl Engine {
    /// Refuses a time outside the window of sane appointment times
    /// (`domain::window`): every way in books through here.
    pub fn check_window(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        self.window
            .check(start, now)
            .map_err(|e| Error::invalid(e.to_string()))
    }

    /// Books an appointment unless the participant already has the same
    /// one (scheduled, same start, kind and length): going back and
    /// pressing "Boka" again, or a double click, books once. The
    /// participant is locked first, so two such requests at once run one
    /// after the other. Returns the appointment and whether it is new.
    pub async fn book_once(
        &self,
        new: &NewAppointment,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(Appointment, bool)> {
        let new = normalise(new)?;
        self.check_window(new.starts_at, now)?;
        let mut tx = self.db.begin().await?;
        participants::lock(&mut tx, new.participant_id).await?;
        let same = appointments::for_participant(&mut tx, new.participant_id, None)
            .await?
            .into_iter()
            .find(|a| {
                a.status == AppointmentStatus::Scheduled
                    && a.starts_at == new.starts_at
                    && a.kind == new.kind
                    && a.duration_min == new.duration_min
            });
        if let Some(a) = same {
            return Ok((a, false));
        }
        let a = self.create_in(&mut tx, &new, actor, now).await?;
        tx.commit().await?;
        self.wake();
        Ok((a, true))
    }

    /// Books an appointment and plans its reminders.
    pub async fn create_appointment(
        &self,
        new: &NewAppointment,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Appointment> {
        let new = normalise(new)?;
        self.check_window(new.starts_at, now)?;
        let mut tx = self.db.begin().await?;
        let a = self.create_in(&mut tx, &new, actor, now).await?;
        tx.commit().await?;
        self.wake();
        Ok(a)
    }

    /// [`Engine::create_appointment`] in the caller's transaction, `new`
    /// normalised and checked.
    async fn create_in(
        &self,
        tx: &mut crate::store::Conn,
        new: &NewAppointment,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Appointment> {
        let p = participants::get(&mut *tx, new.participant_id).await?;
        let id = appointments::insert(&mut *tx, p.unit_id, new, now)
            .await
            .map_err(|e| {
                e.unique_as_conflict(|| {
                    format!(
                        "external ref '{}' is already used in this unit",
                        new.external_ref.clone().unwrap_or_default()
                    )
                })
            })?
            .ok_or_else(|| Error::Conflict("this series occurrence already exists".into()))?;
        let a = appointments::get(&mut *tx, id).await?;
        let event = JournalEvent::AppointmentCreated {
            kind: Some(a.kind),
            starts_at: Some(a.starts_at),
            external_ref: a.external_ref.clone(),
            series_id: None,
        };
        let change = Change::of(p.id, "appointment.create", event).on(id);
        actor.record(&mut *tx, now, change).await?;
        planner::plan_appointment(&mut *tx, &a, now).await?;
        Ok(a)
    }

    /// Creates, or updates the appointment with the same external ref in the
    /// unit. Re-sending the same data changes nothing.
    pub async fn upsert_appointment(
        &self,
        unit: UnitId,
        new: &NewAppointment,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(Appointment, Upsert)> {
        let new = normalise(new)?;
        let Some(r) = new.external_ref.clone() else {
            return Ok((
                self.create_appointment(&new, actor, now).await?,
                Upsert::Created,
            ));
        };
        let existing = {
            let mut c = self.db.conn().await?;
            appointments::by_external_ref(&mut c, unit, &r).await?
        };
        let Some(old) = existing else {
            return match self.create_appointment(&new, actor, now).await {
                // Lost a race with a concurrent import of the same ref: retry
                // as an update.
                Err(Error::Conflict(_)) => {
                    Box::pin(self.upsert_appointment(unit, &new, actor, now)).await
                }
                other => other.map(|a| (a, Upsert::Created)),
            };
        };
        if old.participant_id != new.participant_id {
            return Err(Error::Conflict(format!(
                "external ref '{r}' belongs to another participant's appointment ({})",
                old.id
            )));
        }
        self.apply_changes(old, &new, actor, now).await
    }

    /// Changes an appointment's time or details. A new time or kind
    /// re-plans its reminders.
    pub async fn update_appointment(
        &self,
        id: AppointmentId,
        new: &NewAppointment,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(Appointment, Upsert)> {
        let new = normalise(new)?;
        let old = {
            let mut c = self.db.conn().await?;
            appointments::get(&mut c, id).await?
        };
        if old.status == AppointmentStatus::Cancelled {
            return Err(Error::Conflict(format!(
                "appointment {id} is cancelled; book a new one"
            )));
        }
        self.apply_changes(old, &new, actor, now).await
    }

    async fn apply_changes(
        &self,
        old: Appointment,
        new: &NewAppointment,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(Appointment, Upsert)> {
        let details_changed = old.kind != new.kind
            || old.duration_min != new.duration_min
            || old.location != new.location
            || old.with_whom != new.with_whom
            || old.internal_note != new.internal_note;
        let moved = old.starts_at != new.starts_at;
        let revived = old.status == AppointmentStatus::Cancelled;
        if !changes_anything(&old, new) {
            debug_assert!(!details_changed && !moved && !revived);
            return Ok((old, Upsert::Unchanged));
        }
        if moved {
            self.check_window(new.starts_at, now)?;
        }
        let mut tx = self.db.begin().await?;
        if details_changed {
            appointments::update_details(&mut tx, old.id, new, now).await?;
            journal::append(
                &mut tx,
                old.participant_id,
                Some(old.id),
                now,
                actor.as_str(),
                &JournalEvent::AppointmentUpdated {
                    kind: Some(new.kind),
                },
            )
            .await?;
        }
        if revived {
            appointments::set_status(&mut tx, old.id, AppointmentStatus::Scheduled, now).await?;
        }
        // Only a new time, a new kind (another rule) or a revival needs new
        // reminders; a changed place or note is read at send time anyway.
        if moved || revived || old.kind != new.kind {
            self.replan(
                &mut tx,
                old.id,
                moved.then_some((old.starts_at, new.starts_at)),
                actor,
                now,
            )
            .await?;
        }
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "appointment.update",
            &format!("appointment:{}", old.id),
            json!({}),
        )
        .await?;
        let a = appointments::get(&mut tx, old.id).await?;
        tx.commit().await?;
        self.wake();
        Ok((a, Upsert::Updated))
    }

    /// Cancels the open reminder rows of an appointment and plans afresh at
    /// a new plan version (after a move, or a change of kind).
    async fn replan(
        &self,
        tx: &mut crate::store::Conn,
        id: AppointmentId,
        moved: Option<(DateTime<Utc>, DateTime<Utc>)>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let cancelled =
            outbox::cancel_open_for_appointment(tx, id, "appointment changed", now).await?;
        if let Some((from, to)) = moved {
            appointments::reschedule(tx, id, to, now).await?;
            let a = appointments::get(tx, id).await?;
            journal::append(
                tx,
                a.participant_id,
                Some(id),
                now,
                actor.as_str(),
                &JournalEvent::AppointmentMoved {
                    from: Some(from),
                    to: Some(to),
                    reminders_cancelled: Some(cancelled),
                },
            )
            .await?;
        } else {
            appointments::bump_plan_version(tx, id).await?;
        }
        let a = appointments::get(tx, id).await?;
        planner::plan_appointment(tx, &a, now).await?;
        Ok(())
    }

    /// Moves an appointment: pending reminders for the old time are
    /// cancelled and new ones planned, in one transaction.
    pub async fn move_appointment(
        &self,
        id: AppointmentId,
        to: DateTime<Utc>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Appointment> {
        let mut tx = self.db.begin().await?;
        let old = appointments::get(&mut tx, id).await?;
        if old.status == AppointmentStatus::Cancelled {
            return Err(Error::Conflict(format!(
                "appointment {id} is cancelled; book a new one"
            )));
        }
        if old.starts_at == to {
            return Ok(old);
        }
        self.check_window(to, now)?;
        self.replan(&mut tx, id, Some((old.starts_at, to)), actor, now)
            .await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "appointment.move",
            &format!("appointment:{id}"),
            json!({}),
        )
        .await?;
        let a = appointments::get(&mut tx, id).await?;
        tx.commit().await?;
        self.wake();
        Ok(a)
    }

    /// Cancels an appointment and every reminder for it not yet sent.
    pub async fn cancel_appointment(
        &self,
        id: AppointmentId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Appointment> {
        let mut tx = self.db.begin().await?;
        let a = appointments::get(&mut tx, id).await?;
        if a.status == AppointmentStatus::Cancelled {
            return Ok(a);
        }
        appointments::set_status(&mut tx, id, AppointmentStatus::Cancelled, now).await?;
        let n =
            outbox::cancel_open_for_appointment(&mut tx, id, "appointment cancelled", now).await?;
        let event = JournalEvent::AppointmentCancelled {
            reminders_cancelled: Some(n),
            activity: None,
            cancellation_outbox_id: None,
        };
        let change = Change::of(a.participant_id, "appointment.cancel", event).on(id);
        actor.record(&mut tx, now, change).await?;
        let a = appointments::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(a)
    }
}
