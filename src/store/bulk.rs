//! Multi-row writes for the CSV import: many appointments, their journal
//! and audit lines and their reminder rows in a handful of statements per
//! transaction instead of several statements per row (a round trip each
//! on PostgreSQL). The rows are the same ones the per-row functions in
//! `appointments`, `journal`, `audit` and `outbox` write.

use super::appointments::{self, Appointment, NewAppointment};
use super::outbox::NewMessage;
use super::{Conn, ms};
use crate::domain::journal::JournalEvent;
use crate::domain::{AppointmentId, ParticipantId, SeriesId, UnitId};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One bound value.
#[derive(Debug, Clone)]
pub enum V {
    I(i64),
    NI(Option<i64>),
    S(String),
    NS(Option<String>),
}

/// Parameters per statement: below SQLite's limit (32,766) and
/// PostgreSQL's (65,535).
const MAX_PARAMS: usize = 30_000;

/// `{head} VALUES (...), (...) {tail}` over `values` (rows of `width`
/// values, flattened), in as few statements as the parameter limits allow.
/// Integers are written into the statement as literals (they are typed
/// `i64`s, never text, so nothing can be injected): binding costs time per
/// parameter, most on PostgreSQL (see docs/benchmarks.md, "Broadcasts").
/// Text is always bound. Returns the rows of a `RETURNING` tail.
async fn insert_many(
    c: &mut Conn,
    head: &str,
    tail: &str,
    width: usize,
    values: Vec<V>,
) -> Result<Vec<sqlx::any::AnyRow>> {
    debug_assert_eq!(values.len() % width, 0);
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if super::backend_of(c) == super::Backend::Postgres {
        return insert_json(c, head, tail, width, &values).await;
    }
    let per = (MAX_PARAMS / width).max(1) * width;
    let mut out = Vec::new();
    for part in values.chunks(per) {
        let mut sql = String::with_capacity(head.len() + part.len() * 8);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        // Equal texts share one parameter (the actor, a kind, a channel,
        // a place used on many rows): fewer parameters to send.
        let mut bound: Vec<&str> = Vec::new();
        let mut number: HashMap<&str, usize> = HashMap::new();
        for (i, v) in part.iter().enumerate() {
            let col = i % width;
            if col == 0 {
                sql.push_str(if i == 0 { "(" } else { "), (" });
            } else {
                sql.push_str(", ");
            }
            match v {
                V::I(x) | V::NI(Some(x)) => sql.push_str(&x.to_string()),
                V::NI(None) | V::NS(None) => sql.push_str("NULL"),
                V::S(x) | V::NS(Some(x)) => {
                    let n = *number.entry(x.as_str()).or_insert_with(|| {
                        bound.push(x.as_str());
                        bound.len()
                    });
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push_str(") ");
        sql.push_str(tail);
        // Each statement's text is new (the literals): not worth caching.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for x in bound {
            q = q.bind(x.to_string());
        }
        out.extend(q.fetch_all(&mut *c).await?);
    }
    Ok(out)
}

/// PostgreSQL: the rows as one JSON array of arrays, bound as a single
/// parameter and unpacked by `json_array_elements`, instead of a
/// parameter per text: through sqlx's `Any` driver each bound parameter
/// costs far more on PostgreSQL than the server needs to unpack JSON
/// (docs/benchmarks.md, "CSV import"). One statement per chunk.
async fn insert_json(
    c: &mut Conn,
    head: &str,
    tail: &str,
    width: usize,
    values: &[V],
) -> Result<Vec<sqlx::any::AnyRow>> {
    // The column types, from the first row's values.
    let mut select = String::from(" SELECT ");
    for (i, v) in values[..width].iter().enumerate() {
        if i > 0 {
            select.push_str(", ");
        }
        let ty = match v {
            V::I(_) | V::NI(_) => "bigint",
            V::S(_) | V::NS(_) => "text",
        };
        select.push_str(&format!("(e->>{i})::{ty}"));
    }
    select.push_str(" FROM json_array_elements($1::json) AS e ");
    let mut rows = Vec::with_capacity(values.len() / width);
    for row in values.chunks(width) {
        rows.push(serde_json::Value::Array(
            row.iter()
                .map(|v| match v {
                    V::I(x) | V::NI(Some(x)) => serde_json::Value::from(*x),
                    V::S(x) | V::NS(Some(x)) => serde_json::Value::from(x.as_str()),
                    V::NI(None) | V::NS(None) => serde_json::Value::Null,
                })
                .collect(),
        ));
    }
    let json = serde_json::Value::Array(rows).to_string();
    let sql = format!("{head}{select}{tail}");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(json)
        .fetch_all(&mut *c)
        .await?)
}

/// Inserts new appointments (no series) and returns them in the order
/// given. A duplicate external ref fails the whole statement (the caller
/// falls back to one row at a time).
pub async fn insert_appointments(
    c: &mut Conn,
    unit: UnitId,
    rows: &[&NewAppointment],
    now: DateTime<Utc>,
) -> Result<Vec<Appointment>> {
    let mut values = Vec::with_capacity(rows.len() * 11);
    for a in rows {
        if a.duration_min <= 0 || a.duration_min > 24 * 60 {
            return Err(Error::invalid(
                "duration must be between 1 minute and 24 hours",
            ));
        }
        values.extend([
            V::I(unit.get()),
            V::I(a.participant_id.get()),
            V::NI(a.series_id.map(SeriesId::get)),
            V::S(a.kind.as_str().to_string()),
            V::I(ms(a.starts_at)),
            V::I(a.duration_min),
            V::NS(a.location.clone()),
            V::NS(a.with_whom.clone()),
            V::NS(a.internal_note.clone()),
            V::NS(a.external_ref.clone()),
            V::I(ms(now)),
            V::I(ms(now)),
        ]);
    }
    let got = insert_many(
        c,
        "INSERT INTO appointments (unit_id, participant_id, series_id, kind, starts_at, duration_min,
                                   location, with_whom, internal_note, external_ref,
                                   created_at, updated_at)",
        &format!("RETURNING {}", appointments::COLS),
        12,
        values,
    )
    .await?;
    let mut made = got
        .iter()
        .map(appointments::from_row)
        .collect::<Result<Vec<_>>>()?;
    // Neither SQLite nor PostgreSQL promises the order of RETURNING rows,
    // but both hand out ids in the order of the VALUES rows within one
    // statement (rowid max + 1; one nextval per row), so sorting by id
    // restores it. Checked, not assumed.
    made.sort_by_key(|a| a.id.get());
    let same = made.len() == rows.len()
        && made.iter().zip(rows).all(|(m, r)| {
            m.participant_id == r.participant_id
                && m.starts_at == r.starts_at
                && m.external_ref == r.external_ref
        });
    if !same {
        return Err(Error::Internal(anyhow::anyhow!(
            "multi-row insert returned rows in an unexpected order"
        )));
    }
    Ok(made)
}

/// One journal line, as `journal::append` writes it.
pub struct JournalLine {
    pub participant: ParticipantId,
    pub appointment: Option<AppointmentId>,
    pub actor: String,
    pub event: JournalEvent,
}

pub async fn journal(c: &mut Conn, at: DateTime<Utc>, lines: Vec<JournalLine>) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(lines.len() * 6);
    for l in lines {
        let (kind, detail) = l.event.split();
        values.extend([
            V::I(l.participant.get()),
            V::NI(l.appointment.map(AppointmentId::get)),
            V::I(ms(at)),
            V::S(l.actor),
            V::S(kind),
            V::S(detail.to_string()),
        ]);
    }
    insert_many(
        c,
        "INSERT INTO journal (participant_id, appointment_id, at, actor, kind, detail)",
        "",
        6,
        values,
    )
    .await?;
    Ok(())
}

/// Audit lines `(action, target)` with an empty detail, as
/// `audit::append` writes them.
pub async fn audit(
    c: &mut Conn,
    at: DateTime<Utc>,
    actor: &str,
    lines: Vec<(&'static str, String)>,
) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(lines.len() * 5);
    for (action, target) in lines {
        values.extend([
            V::I(ms(at)),
            V::S(actor.to_string()),
            V::S(action.to_string()),
            V::S(target),
            V::S("{}".to_string()),
        ]);
    }
    insert_many(
        c,
        "INSERT INTO audit (at, actor, action, target, detail)",
        "",
        5,
        values,
    )
    .await?;
    Ok(())
}

/// Planned messages, as `outbox::insert` writes them (a row planned
/// already is skipped).
pub async fn outbox(c: &mut Conn, rows: &[NewMessage], now: DateTime<Utc>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(rows.len() * 16);
    for m in rows {
        values.extend([
            V::I(m.participant_id.get()),
            V::NI(m.appointment_id.map(AppointmentId::get)),
            V::I(m.plan_version),
            V::S(m.purpose.as_str().to_string()),
            V::I(m.offset_min),
            V::S(m.channel.as_str().to_string()),
            V::I(i64::from(m.ask_reply)),
            V::I(ms(m.due_at)),
            V::NI(m.deadline_at.map(ms)),
            V::I(ms(m.due_at)),
            V::NS(m.body.clone()),
            V::I(ms(now)),
            V::I(ms(now)),
            V::NI(m.trial.map(|t| t.trial_id)),
            V::NS(m.trial.map(|t| t.arm.as_str().to_string())),
            V::NS(m.trial.map(|t| t.wording.as_str().to_string())),
        ]);
    }
    insert_many(
        c,
        "INSERT INTO outbox (participant_id, appointment_id, plan_version, purpose, offset_min, channel,
                             ask_reply, due_at, deadline_at, next_attempt_at, body, created_at, updated_at,
                             trial_id, trial_arm, wording)",
        "ON CONFLICT (appointment_id, plan_version, offset_min, channel) DO NOTHING",
        16,
        values,
    )
    .await?;
    Ok(())
}

/// The unit's appointments with these external refs, by ref.
pub async fn by_external_refs(
    c: &mut Conn,
    unit: UnitId,
    refs: &[&str],
) -> Result<HashMap<String, Appointment>> {
    let mut out = HashMap::new();
    if refs.is_empty() {
        return Ok(out);
    }
    // The refs as one JSON array parameter rather than one parameter each.
    // On PostgreSQL each ref probes the (unit_id, external_ref) index in a
    // LATERAL subquery: as `IN (...)` or a join, a table that autovacuum
    // had not analyzed yet was scanned whole for every chunk, and a
    // 200,000-row import spent 4 ms on this per chunk at the start and
    // 43 ms later on (docs/benchmarks.md, "CSV import"). SQLite answers
    // `IN (json_each)` from the index already.
    let sql = match super::backend_of(c) {
        super::Backend::Sqlite => format!(
            "SELECT {} FROM appointments WHERE unit_id = $1 \
             AND external_ref IN (SELECT value FROM json_each($2))",
            appointments::COLS
        ),
        super::Backend::Postgres => format!(
            "SELECT a.* FROM json_array_elements_text($2::json) AS r(v) \
             CROSS JOIN LATERAL (SELECT {} FROM appointments \
             WHERE unit_id = $1 AND external_ref = r.v LIMIT 1) a",
            appointments::COLS
        ),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(unit.get())
        .bind(serde_json::to_string(refs).map_err(anyhow::Error::from)?)
        .fetch_all(&mut *c)
        .await?;
    for row in rows {
        let a = appointments::from_row(&row)?;
        if let Some(r) = a.external_ref.clone() {
            out.insert(r, a);
        }
    }
    Ok(out)
}

/// Fresh planner statistics for the tables an import fills (PostgreSQL;
/// autovacuum catches up only later).
pub async fn analyze(db: &super::Db) -> Result<()> {
    sqlx::query("ANALYZE appointments, outbox, journal")
        .execute(&db.pool)
        .await?;
    Ok(())
}
