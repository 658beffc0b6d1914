//! Series: creating one (one path for the CLI's, the participant page's
//! and a group's, with its checks, journal entry and audit row), and
//! expansion: recurring appointments become real appointments over a
//! rolling horizon (default four weeks), each planned like any other.
//! Idempotent: an occurrence that exists is skipped (unique on series,
//! participant, start), so running it twice, or from two instances, is safe.

use super::{Actor, Engine, planner};
use crate::domain::journal::JournalEvent;
use crate::domain::recurrence::CronExpr;
use crate::domain::{AppointmentKind, SeriesId, UnitId};
use crate::error::{Error, Result};
use crate::store::appointments::{self, NewAppointment};
use crate::store::series::{self, SeriesTarget};
use crate::store::{audit, broadcasts, journal, participants, units};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

impl Engine {
    /// Creates a series that starts now, in `unit` with the time zone
    /// `tz`, and expands it at once: the same checks, journal entry and
    /// audit row as [`Engine::create_series_from`]: both go through one
    /// private path.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_series(
        &self,
        unit: UnitId,
        target: SeriesTarget,
        kind: AppointmentKind,
        cron: &CronExpr,
        tz: Tz,
        duration_min: i64,
        location: Option<String>,
        horizon: Duration,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<SeriesId> {
        let s = NewSeries {
            unit,
            tz,
            target,
            kind,
            cron,
            duration_min,
            location,
            start: now,
        };
        self.new_series(s, horizon, actor, now).await
    }

    /// A series whose first occurrence is not before `start`
    /// ([`Engine::create_series`] starts now): a participant's own (in
    /// their unit and time zone), or a group's activity (in the group's
    /// unit and its time zone) whose occurrences become an appointment for
    /// every current member. It is expanded at once over `horizon` like
    /// any other; a participant's is noted in their case record.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_series_from(
        &self,
        target: SeriesTarget,
        kind: AppointmentKind,
        cron: &CronExpr,
        duration_min: i64,
        location: Option<String>,
        start: DateTime<Utc>,
        horizon: Duration,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<SeriesId> {
        let (unit, tz) = {
            let mut c = self.db.conn().await?;
            match target {
                SeriesTarget::Participant(id) => {
                    let p = participants::get(&mut c, id).await?;
                    (p.unit_id, p.time_zone)
                }
                SeriesTarget::Group(g) => {
                    let (unit, _) = broadcasts::group(&mut c, g).await?;
                    (unit, units::get(&mut c, unit).await?.time_zone)
                }
            }
        };
        let s = NewSeries {
            unit,
            tz,
            target,
            kind,
            cron,
            duration_min,
            location,
            start,
        };
        self.new_series(s, horizon, actor, now).await
    }

    /// Every new series: the duration and the gap checked, the series
    /// stored with its first instant, a participant's noted in their case
    /// record (`series_created`), the audit row (`series.create`), one
    /// transaction; then expanded.
    async fn new_series(
        &self,
        s: NewSeries<'_>,
        horizon: Duration,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<SeriesId> {
        if s.duration_min <= 0 || s.duration_min > 24 * 60 {
            return Err(Error::invalid(
                "duration must be between 1 minute and 24 hours",
            ));
        }
        s.cron
            .check_gap(self.series_min_gap())
            .map_err(Error::Invalid)?;
        let mut tx = self.db.begin().await?;
        let cron_text = s.cron.to_string();
        let audited = match s.target {
            SeriesTarget::Participant(id) => {
                participants::get(&mut tx, id).await?;
                json!({ "cron": cron_text, "participant": id })
            }
            SeriesTarget::Group(g) => {
                broadcasts::group(&mut tx, g).await?;
                json!({ "cron": cron_text, "group": g })
            }
        };
        let sid = series::create(
            &mut tx,
            s.unit,
            s.target,
            s.kind,
            s.cron,
            s.tz,
            s.duration_min,
            s.location,
            now,
        )
        .await?;
        // Expansion starts at `expanded_until`; a later start moves it.
        series::set_expanded_until(&mut tx, sid, s.start).await?;
        if let SeriesTarget::Participant(id) = s.target {
            journal::append(
                &mut tx,
                id,
                None,
                now,
                actor.as_str(),
                &JournalEvent::SeriesCreated {
                    series_id: Some(sid),
                    kind: Some(s.kind),
                    cron: Some(cron_text.to_string()),
                    starts: Some(s.start.max(now)),
                },
            )
            .await?;
        }
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "series.create",
            &format!("series:{sid}"),
            audited,
        )
        .await?;
        tx.commit().await?;
        self.expand_series(now, horizon).await?;
        Ok(sid)
    }

    /// Expands every active series up to `now + horizon`. Returns how many
    /// appointments were created.
    pub async fn expand_series(&self, now: DateTime<Utc>, horizon: Duration) -> Result<usize> {
        let until = now + horizon;
        let due = {
            let mut c = self.db.conn().await?;
            series::needing_expansion(&mut c, until).await?
        };
        let mut created = 0;
        for s in due {
            let mut tx = self.db.begin().await?;
            let from = s.expanded_until.max(now);
            let members = match (s.participant_id, s.group_id) {
                (Some(p), _) => vec![p],
                (None, Some(g)) => series::group_members(&mut tx, g, now).await?,
                (None, None) => vec![],
            };
            for start in s.cron.occurrences(s.time_zone, from, until) {
                for &p in &members {
                    let new = NewAppointment {
                        participant_id: p,
                        series_id: Some(s.id),
                        kind: s.kind,
                        starts_at: start,
                        duration_min: s.duration_min,
                        location: s.location.clone(),
                        with_whom: s.with_whom.clone(),
                        internal_note: None,
                        external_ref: None,
                    };
                    if let Some(id) = appointments::insert(&mut tx, s.unit_id, &new, now).await? {
                        let a = appointments::get(&mut tx, id).await?;
                        journal::append(
                            &mut tx,
                            p,
                            Some(id),
                            now,
                            Actor::system().as_str(),
                            &JournalEvent::AppointmentCreated {
                                kind: Some(a.kind),
                                starts_at: Some(a.starts_at),
                                external_ref: None,
                                series_id: Some(s.id),
                            },
                        )
                        .await?;
                        planner::plan_appointment(&mut tx, &a, now).await?;
                        created += 1;
                    }
                }
            }
            series::set_expanded_until(&mut tx, s.id, until).await?;
            tx.commit().await?;
        }
        if created > 0 {
            self.wake();
        }
        Ok(created)
    }
}

/// A series to create: where, whose, what, how often, from when.
struct NewSeries<'a> {
    unit: UnitId,
    tz: Tz,
    target: SeriesTarget,
    kind: AppointmentKind,
    cron: &'a CronExpr,
    duration_min: i64,
    location: Option<String>,
    start: DateTime<Utc>,
}
