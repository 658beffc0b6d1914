//! Series expansion: recurring appointments become real appointments over
//! a rolling horizon (default four weeks), each planned like any other.
//! Idempotent: an occurrence that exists is skipped (unique on series,
//! participant, start), so running it twice, or from two instances, is safe.

use super::{Actor, Engine, planner};
use crate::domain::recurrence::CronExpr;
use crate::domain::{AppointmentKind, SeriesId, UnitId};
use crate::error::Result;
use crate::store::appointments::{self, NewAppointment};
use crate::store::series::{self, SeriesTarget};
use crate::store::{audit, journal};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

impl Engine {
    /// Creates a series and expands it at once.
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
        cron.check_gap(self.series_min_gap())
            .map_err(crate::error::Error::Invalid)?;
        let id = {
            let mut tx = self.db.begin().await?;
            let id = series::create(
                &mut tx,
                unit,
                target,
                kind,
                cron,
                tz,
                duration_min,
                location,
                now,
            )
            .await?;
            audit::append(
                &mut tx,
                now,
                actor.as_str(),
                "series.create",
                &format!("series:{id}"),
                json!({ "cron": cron.to_string() }),
            )
            .await?;
            tx.commit().await?;
            id
        };
        self.expand_series(now, horizon).await?;
        Ok(id)
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
                            journal::kind::APPOINTMENT_CREATED,
                            json!({ "kind": a.kind, "starts_at": a.starts_at, "series_id": s.id }),
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
