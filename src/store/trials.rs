//! Trials of two reminder-rule variants and their recorded assignments
//! (issue 21). The decisions are in `domain::trials`.

use super::{Conn, Parsed, from_ms, ms, opt_from_ms};
use crate::domain::trials::{Arm, Variant, Wording};
use crate::domain::{AppointmentKind, ParticipantId, Span, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trial {
    pub id: i64,
    pub unit_id: UnitId,
    pub kind: AppointmentKind,
    pub name: String,
    #[serde(skip)]
    pub seed: String,
    pub a: Variant,
    pub b: Variant,
    pub fewer_than_standard_ack: bool,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl Trial {
    pub fn variant(&self, arm: Arm) -> &Variant {
        match arm {
            Arm::A => &self.a,
            Arm::B => &self.b,
        }
    }
    /// Running at `t`: started, and not ended.
    pub fn running_at(&self, t: DateTime<Utc>) -> bool {
        self.starts_at <= t && self.ends_at.is_none_or(|e| t < e)
    }
}

/// A trial as created.
pub struct NewTrial<'a> {
    pub unit_id: UnitId,
    pub kind: AppointmentKind,
    pub name: &'a str,
    pub seed: &'a str,
    pub a: &'a Variant,
    pub b: &'a Variant,
    pub fewer_than_standard_ack: bool,
    pub created_by: &'a str,
}

fn spans(s: &[Span]) -> String {
    s.iter().map(Span::to_string).collect::<Vec<_>>().join(",")
}

/// A `trials` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct TrialRow {
    id: i64,
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    kind: Parsed<AppointmentKind>,
    name: String,
    seed: String,
    a_offsets: String,
    a_wording: String,
    b_offsets: String,
    b_wording: String,
    fewer_than_standard_ack: i64,
    starts_at: i64,
    ends_at: Option<i64>,
    created_by: String,
    created_at: i64,
}

/// A variant from its stored offsets and wording.
fn variant(offsets: &str, wording: &str) -> Result<Variant> {
    Ok(Variant {
        offsets: Span::parse_list(offsets).map_err(Error::Invalid)?,
        wording: Wording::parse(wording).map_err(Error::Invalid)?,
    })
}

impl TryFrom<TrialRow> for Trial {
    type Error = Error;
    fn try_from(r: TrialRow) -> Result<Trial> {
        Ok(Trial {
            id: r.id,
            unit_id: r.unit_id,
            kind: r.kind.0,
            name: r.name,
            seed: r.seed,
            a: variant(&r.a_offsets, &r.a_wording)?,
            b: variant(&r.b_offsets, &r.b_wording)?,
            fewer_than_standard_ack: r.fewer_than_standard_ack != 0,
            starts_at: from_ms(r.starts_at),
            ends_at: opt_from_ms(r.ends_at),
            created_by: r.created_by,
            created_at: from_ms(r.created_at),
        })
    }
}

pub async fn insert(c: &mut Conn, t: &NewTrial<'_>, now: DateTime<Utc>) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO trials (unit_id, kind, name, seed, a_offsets, a_wording, b_offsets, b_wording,
                             fewer_than_standard_ack, starts_at, ends_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $10)
         RETURNING id",
    )
    .bind(t.unit_id.get())
    .bind(t.kind.as_str())
    .bind(t.name)
    .bind(t.seed)
    .bind(spans(&t.a.offsets))
    .bind(t.a.wording.as_str())
    .bind(spans(&t.b.offsets))
    .bind(t.b.wording.as_str())
    .bind(i64::from(t.fewer_than_standard_ack))
    .bind(ms(now))
    .bind(t.created_by)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

pub async fn get(c: &mut Conn, id: i64) -> Result<Trial> {
    sqlx::query_as::<_, TrialRow>(
        "SELECT id, unit_id, kind, name, seed, a_offsets, a_wording, b_offsets, b_wording,
                fewer_than_standard_ack, starts_at, ends_at, created_by, created_at
         FROM trials WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| Error::not_found(format!("trial {id}")))?
    .try_into()
}

/// A unit's trials, newest first.
pub async fn list(c: &mut Conn, unit: UnitId) -> Result<Vec<Trial>> {
    let rows = sqlx::query_as::<_, TrialRow>(
        "SELECT id, unit_id, kind, name, seed, a_offsets, a_wording, b_offsets, b_wording,
                fewer_than_standard_ack, starts_at, ends_at, created_by, created_at
         FROM trials WHERE unit_id = $1 ORDER BY id DESC",
    )
    .bind(unit.get())
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(Trial::try_from).collect()
}

/// The trial of a unit and kind running at `t`, if any (at most one runs).
pub async fn running(
    c: &mut Conn,
    unit: UnitId,
    kind: AppointmentKind,
    t: DateTime<Utc>,
) -> Result<Option<Trial>> {
    let row = sqlx::query_as::<_, TrialRow>(
        "SELECT id, unit_id, kind, name, seed, a_offsets, a_wording, b_offsets, b_wording,
                fewer_than_standard_ack, starts_at, ends_at, created_by, created_at
         FROM trials WHERE unit_id = $1 AND kind = $2 AND starts_at <= $3
           AND (ends_at IS NULL OR ends_at > $3)
         ORDER BY id DESC LIMIT 1",
    )
    .bind(unit.get())
    .bind(kind.as_str())
    .bind(ms(t))
    .fetch_optional(&mut *c)
    .await?;
    row.map(Trial::try_from).transpose()
}

/// Ends a running trial at `now`. Returns false if it had ended.
pub async fn end(c: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE trials SET ends_at = $1 WHERE id = $2 AND ends_at IS NULL")
            .bind(ms(now))
            .bind(id)
            .execute(&mut *c)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Records `arm` for the participant unless they have an arm already, and
/// returns the recorded one (and whether it was recorded just now): the
/// first assignment is never changed.
pub async fn assign(
    c: &mut Conn,
    trial: i64,
    participant: ParticipantId,
    arm: Arm,
    now: DateTime<Utc>,
) -> Result<(Arm, bool)> {
    let new = sqlx::query(
        "INSERT INTO trial_assignments (trial_id, participant_id, arm, assigned_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (trial_id, participant_id) DO NOTHING",
    )
    .bind(trial)
    .bind(participant.get())
    .bind(arm.as_str())
    .bind(ms(now))
    .execute(&mut *c)
    .await?
    .rows_affected()
        == 1;
    let stored: String = sqlx::query_scalar(
        "SELECT arm FROM trial_assignments WHERE trial_id = $1 AND participant_id = $2",
    )
    .bind(trial)
    .bind(participant.get())
    .fetch_one(&mut *c)
    .await?;
    Ok((Arm::parse(&stored).map_err(Error::Invalid)?, new))
}

/// The recorded arm of a participant, if assigned.
pub async fn arm_of(c: &mut Conn, trial: i64, participant: ParticipantId) -> Result<Option<Arm>> {
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT arm FROM trial_assignments WHERE trial_id = $1 AND participant_id = $2",
    )
    .bind(trial)
    .bind(participant.get())
    .fetch_optional(&mut *c)
    .await?;
    stored
        .map(|s| Arm::parse(&s).map_err(Error::Invalid))
        .transpose()
}

/// The counted appointments of a trial, by arm (intention to treat: every
/// appointment of the trial's kind of an assigned participant that starts
/// while the trial runs, whatever was sent): (arm, participant, attended).
pub async fn arm_outcomes(
    c: &mut Conn,
    trial: &Trial,
    until: DateTime<Utc>,
) -> Result<Vec<(Arm, ParticipantId, bool)>> {
    let end = trial.ends_at.map_or(until, |e| e.min(until));
    let rows = sqlx::query_as::<_, (String, i64, String)>(
        "SELECT ta.arm, a.participant_id, a.attendance
         FROM trial_assignments ta
         JOIN appointments a ON a.participant_id = ta.participant_id
         JOIN participants p ON p.id = a.participant_id
         WHERE ta.trial_id = $1 AND a.unit_id = $2 AND a.kind = $3
           AND a.starts_at >= $4 AND a.starts_at < $5
           AND a.status = 'scheduled' AND a.attendance IN ('attended','absent')
           AND p.protected = 0",
    )
    .bind(trial.id)
    .bind(trial.unit_id.get())
    .bind(trial.kind.as_str())
    .bind(ms(trial.starts_at))
    .bind(ms(end))
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|(arm, p, attendance)| {
            Ok((
                Arm::parse(&arm).map_err(Error::Invalid)?,
                ParticipantId::from_db(p),
                attendance == "attended",
            ))
        })
        .collect()
}
