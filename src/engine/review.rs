//! The log review (loggkontroll, issue 18): the views of case records in a
//! period, judged (`domain::review`): outside the viewer's own caseload, of
//! a protected participant, a refused attempt; the ready-made selections
//! and the month's sample; recording a review; the audit log's retention.
//! Protected identity is set here too (`set_protection`).
//!
//! Reading the review is itself a read of personal data (who looked at
//! whom), so it goes through [`Engine::read_audited`] as `review.view`;
//! recording a review writes its row and a `review.record` audit row in
//! one transaction.

use super::reads::Viewed;
use super::{Actor, Engine};
use crate::domain::access::Viewer;
use crate::domain::review::{self, is_denied, participant_of, staff_of};
use crate::domain::{ParticipantId, ReviewSelection, Role, StaffId, UnitId};
use crate::error::{Error, Result};
use crate::store::review::{NewReview, Review};
use crate::store::ui_admin::AuditRow;
use crate::store::{audit, protection, staff};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::HashMap;

/// Audit rows are kept this long by default: five years.
pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 1826;
/// ... and at least a year (the database refuses younger deletions).
pub const MIN_AUDIT_RETENTION_DAYS: i64 = 365;
/// A sample's size when none is given, and the largest.
pub const DEFAULT_SAMPLE: usize = 20;
pub const MAX_SAMPLE: usize = 500;

/// What to review: a period, filters, a selection.
#[derive(Debug, Clone)]
pub struct ReviewQuery {
    pub selection: ReviewSelection,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// An exact actor (`staff:3`, `api:crm`).
    pub actor: Option<String>,
    pub participant: Option<ParticipantId>,
    /// The participant's unit.
    pub unit: Option<UnitId>,
    /// The sample: its size, and the key and seed it is drawn by (the
    /// month, `2026-11`, and any text the reviewers agree on).
    pub sample_n: usize,
    pub sample_key: String,
    pub seed: String,
}

/// One view of a case record, judged.
#[derive(Debug, Clone)]
pub struct ReviewedView {
    pub row: AuditRow,
    pub participant: Option<ParticipantId>,
    pub first_name: Option<String>,
    pub unit: Option<UnitId>,
    /// The participant's lots at the time (see `domain::review`).
    pub lots_then: Option<StaffId>,
    pub outside: bool,
    pub protected: bool,
    pub denied: bool,
    /// The page (web) or route (API) the view came from.
    pub page: Option<String>,
    /// The API token's id, for a view through the API.
    pub token: Option<i64>,
}

impl ReviewedView {
    /// Flagged for the reviewer: a refused attempt, or any view of a
    /// protected participant.
    pub fn flagged(&self) -> bool {
        self.denied || self.protected
    }
}

/// The selection with how many views the period held before selecting.
#[derive(Debug, Clone)]
pub struct ReviewResult {
    pub views: Vec<ReviewedView>,
    /// Views in the period after the filters, before the selection.
    pub in_period: usize,
}

impl Engine {
    /// The views of case records the query selects, newest first; read and
    /// audited (`review.view`) by `actor`.
    pub async fn review(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        q: &ReviewQuery,
    ) -> Result<ReviewResult> {
        self.read_audited(actor, now, async |c| {
            let rows =
                crate::store::review::views(c, q.from, q.to, q.actor.as_deref(), q.participant)
                    .await?;
            let people = crate::store::review::participants(c).await?;
            let history = crate::store::review::lots_history(c).await?;
            let viewers: HashMap<StaffId, Viewer> = staff::list(c)
                .await?
                .into_iter()
                .map(|s| {
                    (
                        s.id,
                        Viewer {
                            id: s.id,
                            role: s.role,
                            unit: s.unit_id,
                        },
                    )
                })
                .collect();
            let judged: Vec<ReviewedView> = rows
                .into_iter()
                .map(|row| judge(row, &people, &history, &viewers))
                .filter(|v| q.unit.is_none() || v.unit == q.unit)
                .collect();
            let in_period = judged.len();
            let views: Vec<ReviewedView> = match q.selection {
                ReviewSelection::All => judged,
                ReviewSelection::Outside => judged.into_iter().filter(|v| v.outside).collect(),
                ReviewSelection::Protected => judged.into_iter().filter(|v| v.protected).collect(),
                ReviewSelection::Sample => {
                    let ids: Vec<i64> = judged.iter().map(|v| v.row.id).collect();
                    let picked = review::sample(&ids, &q.sample_key, &q.seed, q.sample_n);
                    judged
                        .into_iter()
                        .filter(|v| picked.binary_search_by(|p| v.row.id.cmp(p)).is_ok())
                        .collect()
                }
            };
            let viewed =
                Viewed::new("review.view", format!("selection:{}", q.selection)).with(json!({
                    "from": q.from,
                    "to": q.to,
                    "actor": q.actor,
                    "participant": q.participant,
                    "unit": q.unit,
                    "rows": views.len(),
                }));
            Ok((ReviewResult { views, in_period }, viewed))
        })
        .await
    }

    /// Records a review: who reviewed which selection of which period,
    /// with a note (required: what was checked and found). One transaction
    /// with its `review.record` audit row.
    pub async fn record_review(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        r: &NewReview,
    ) -> Result<i64> {
        let note = r.note.trim();
        if note.is_empty() {
            return Err(Error::invalid(
                "a review needs a note: what was checked and found",
            ));
        }
        if note.chars().count() > 4000 {
            return Err(Error::invalid(
                "a review's note has at most 4000 characters",
            ));
        }
        if r.from >= r.to {
            return Err(Error::invalid("the period must end after it starts"));
        }
        let r = NewReview {
            note: note.to_string(),
            ..r.clone()
        };
        let mut tx = self.db.begin().await?;
        let id = crate::store::review::record(&mut tx, &r, now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "review.record",
            &format!("review:{id}"),
            json!({ "selection": r.selection, "from": r.from, "to": r.to, "views": r.views }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The latest reviews recorded, newest first.
    pub async fn reviews(&self, limit: i64) -> Result<Vec<Review>> {
        let mut c = self.db.conn().await?;
        crate::store::review::list(&mut c, limit).await
    }

    /// Marks a participant protected (or not) and names the staff who may
    /// see them: active staff, no reviewers (they see no case records).
    /// One transaction with its `participant.protect` audit row. The caller
    /// checked that the actor may (`access::Action::Protect`).
    pub async fn set_protection(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        p: ParticipantId,
        protected: bool,
        named: &[StaffId],
    ) -> Result<()> {
        let mut named = named.to_vec();
        named.sort_unstable();
        named.dedup();
        let mut tx = self.db.begin().await?;
        crate::store::participants::get(&mut tx, p).await?;
        for s in &named {
            let st = staff::get(&mut tx, *s).await?;
            if !st.active || st.role == Role::Reviewer {
                return Err(Error::invalid(format!(
                    "{} cannot be named: only active staff who work with case records",
                    st.username
                )));
            }
        }
        if !protected {
            named.clear();
        }
        protection::set(&mut tx, p, protected, &named, now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "participant.protect",
            &format!("participant:{p}"),
            json!({ "protected": protected, "named": named }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes audit rows older than `audit_retention_days` (through the
    /// only path the database allows: `store::audit::purge`).
    pub(crate) async fn purge_audit(&self, now: DateTime<Utc>) -> Result<u64> {
        let before = now - Duration::days(self.audit_retention_days);
        let mut tx = self.db.begin().await?;
        let n = audit::purge(&mut tx, before).await?;
        tx.commit().await?;
        Ok(n)
    }
}

fn judge(
    row: AuditRow,
    people: &HashMap<ParticipantId, crate::store::review::Who>,
    history: &HashMap<ParticipantId, Vec<(i64, Option<StaffId>)>>,
    viewers: &HashMap<StaffId, Viewer>,
) -> ReviewedView {
    let participant = participant_of(&row.target);
    let who = participant.and_then(|p| people.get(&p));
    let at = crate::store::ms(row.at);
    let lots_then = match (participant, who) {
        (Some(p), Some(w)) => review::lots_at(
            history.get(&p).map(Vec::as_slice).unwrap_or(&[]),
            w.lots,
            at,
        ),
        _ => None,
    };
    let viewer = staff_of(&row.actor).and_then(|s| viewers.get(&s));
    let outside = match (participant, who) {
        (Some(p), Some(w)) => review::outside_caseload(viewer, p, w.unit, lots_then),
        _ => true,
    } || is_denied(&row.action);
    let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap_or_default();
    let page = detail["page"]
        .as_str()
        .or_else(|| detail["route"].as_str())
        .map(str::to_string);
    let token = detail["token"].as_i64();
    ReviewedView {
        participant,
        first_name: who.map(|w| w.first_name.clone()),
        unit: who.map(|w| w.unit),
        lots_then,
        outside,
        protected: who.is_some_and(|w| w.protected) || detail["protected"].as_bool() == Some(true),
        denied: is_denied(&row.action),
        page,
        token,
        row,
    }
}
