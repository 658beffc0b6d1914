//! The rows behind a unit's outcome report and the evaluators' export
//! (issue 21): one row per counted appointment, grouped and suppressed by
//! `domain::outcomes`. Only appointments that are still scheduled and whose
//! attendance staff recorded as attended or absent are read; protected
//! participants are never counted.

use super::{Conn, Parsed, from_ms, ms};
use crate::domain::outcomes::Shows;
use crate::domain::{AppointmentKind, ChannelKind, ParticipantId, ReplyState, UnitId};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// One counted appointment.
#[derive(Debug, Clone)]
pub struct OutcomeRow {
    pub participant_id: ParticipantId,
    pub kind: AppointmentKind,
    pub reply: ReplyState,
    pub shows: Shows,
    pub starts_at: DateTime<Utc>,
    /// When the participant was registered (their start in the programme).
    pub started_at: DateTime<Utc>,
    /// The channels the appointment's reminders went out by (sent or
    /// delivered): none, one, or both.
    pub channels: Vec<ChannelKind>,
    /// The trial arm the participant was in when the reminders were
    /// planned, if any ('a'/'b').
    pub trial_arm: Option<String>,
}

/// The counted appointments of a unit that start in `[from, to)`.
pub async fn rows(
    c: &mut Conn,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<OutcomeRow>> {
    let rows = sqlx::query_as::<_, CountedRow>(
        "SELECT a.participant_id, a.kind, a.reply, a.attendance, a.starts_at,
                p.created_at AS p_created,
                (SELECT MIN(o.channel) FROM outbox o WHERE o.appointment_id = a.id
                    AND o.purpose = 'reminder' AND o.status IN ('sent','delivered')) AS ch_min,
                (SELECT MAX(o.channel) FROM outbox o WHERE o.appointment_id = a.id
                    AND o.purpose = 'reminder' AND o.status IN ('sent','delivered')) AS ch_max,
                (SELECT MAX(o.trial_arm) FROM outbox o WHERE o.appointment_id = a.id
                    AND o.purpose = 'reminder') AS arm
         FROM appointments a
         JOIN participants p ON p.id = a.participant_id
         WHERE a.unit_id = $1 AND a.starts_at >= $2 AND a.starts_at < $3
           AND a.status = 'scheduled' AND a.attendance IN ('attended','absent')
           AND p.protected = 0
         ORDER BY a.starts_at, a.id",
    )
    .bind(unit.get())
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(OutcomeRow::from).collect())
}

/// An [`OutcomeRow`] as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct CountedRow {
    #[sqlx(try_from = "i64")]
    participant_id: ParticipantId,
    kind: Parsed<AppointmentKind>,
    reply: Parsed<ReplyState>,
    attendance: String,
    starts_at: i64,
    p_created: i64,
    ch_min: Option<Parsed<ChannelKind>>,
    ch_max: Option<Parsed<ChannelKind>>,
    arm: Option<String>,
}

impl From<CountedRow> for OutcomeRow {
    fn from(r: CountedRow) -> OutcomeRow {
        let mut channels = Vec::new();
        if let Some(lo) = r.ch_min {
            channels.push(lo.0);
        }
        if let Some(hi) = r.ch_max
            && Some(hi.0.as_str()) != channels.first().map(|c: &ChannelKind| c.as_str())
        {
            channels.push(hi.0);
        }
        OutcomeRow {
            participant_id: r.participant_id,
            kind: r.kind.0,
            reply: r.reply.0,
            shows: if r.attendance == "attended" {
                Shows::Attended
            } else {
                Shows::Absent
            },
            starts_at: from_ms(r.starts_at),
            started_at: from_ms(r.p_created),
            channels,
            trial_arm: r.arm,
        }
    }
}

/// When the unit's reminder rules were changed in `[from, to)`, oldest
/// first: the `settings.rule` rows of the audit log, where every change of
/// a rule is recorded (`Engine::set_rule`).
pub async fn rule_changes(
    c: &mut Conn,
    unit: UnitId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>> {
    let at: Vec<i64> = sqlx::query_scalar(
        "SELECT at FROM audit WHERE action = 'settings.rule' AND target = $1
           AND at >= $2 AND at < $3 ORDER BY at",
    )
    .bind(format!("unit:{unit}"))
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(&mut *c)
    .await?;
    Ok(at.into_iter().map(from_ms).collect())
}
