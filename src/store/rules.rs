//! Reminder rules: per unit and kind of appointment, the offsets before the
//! start, whether a reply is asked for, and by when.

use super::{Conn, Parsed};
use crate::domain::{AppointmentKind, Span, UnitId};
use crate::error::{Error, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub unit_id: UnitId,
    pub kind: AppointmentKind,
    pub offsets: Vec<Span>,
    pub ask_reply: bool,
    /// A reply is expected this long before the start.
    pub reply_deadline: Option<Span>,
}

pub async fn set(
    c: &mut Conn,
    unit: UnitId,
    kind: AppointmentKind,
    offsets: &[Span],
    ask_reply: bool,
    reply_deadline: Option<Span>,
) -> Result<()> {
    if offsets.len() > 5 {
        return Err(Error::invalid("at most 5 reminders per appointment"));
    }
    let text = offsets
        .iter()
        .map(Span::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "INSERT INTO reminder_rules (unit_id, kind, offsets, ask_reply, reply_deadline_min)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (unit_id, kind) DO UPDATE
         SET offsets = excluded.offsets, ask_reply = excluded.ask_reply,
             reply_deadline_min = excluded.reply_deadline_min",
    )
    .bind(unit.get())
    .bind(kind.as_str())
    .bind(text)
    .bind(i64::from(ask_reply))
    .bind(reply_deadline.map(|s| i64::from(s.as_minutes())))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A `reminder_rules` row as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct RuleRow {
    #[sqlx(try_from = "i64")]
    unit_id: UnitId,
    kind: Parsed<AppointmentKind>,
    offsets: String,
    ask_reply: i64,
    reply_deadline_min: Option<i64>,
}

impl TryFrom<RuleRow> for Rule {
    type Error = Error;
    fn try_from(r: RuleRow) -> Result<Rule> {
        Ok(Rule {
            unit_id: r.unit_id,
            kind: r.kind.0,
            offsets: Span::parse_list(&r.offsets).map_err(Error::Invalid)?,
            ask_reply: r.ask_reply != 0,
            reply_deadline: r
                .reply_deadline_min
                .map(|m| Span::minutes(m as u32))
                .transpose()
                .map_err(Error::Invalid)?,
        })
    }
}

/// The rule for a kind; a unit without one gets no reminders for that kind.
pub async fn get(c: &mut Conn, unit: UnitId, kind: AppointmentKind) -> Result<Option<Rule>> {
    let row = sqlx::query_as::<_, RuleRow>(
        "SELECT unit_id, kind, offsets, ask_reply, reply_deadline_min
         FROM reminder_rules WHERE unit_id = $1 AND kind = $2",
    )
    .bind(unit.get())
    .bind(kind.as_str())
    .fetch_optional(&mut *c)
    .await?;
    row.map(Rule::try_from).transpose()
}

pub async fn list(c: &mut Conn, unit: UnitId) -> Result<Vec<Rule>> {
    let rows = sqlx::query_as::<_, RuleRow>(
        "SELECT unit_id, kind, offsets, ask_reply, reply_deadline_min
         FROM reminder_rules WHERE unit_id = $1 ORDER BY kind",
    )
    .bind(unit.get())
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(Rule::try_from).collect()
}
