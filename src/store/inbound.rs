//! Replies as stored: the context a reply is decided in (one read), the
//! writes a decided reply makes (one statement on PostgreSQL), the
//! pending question ("svara 1 eller 2"), and messages from senders linked
//! to nobody. What a reply means is `engine::replies` and `domain::reply`.

use super::outbox::{self, NewMessage};
use super::participants::{self, Participant, ParticipantRow};
use super::{Backend, Conn, Parsed, appointments, backend_of, from_ms, journal, ms, tasks};
use crate::domain::journal::JournalEvent;
use crate::domain::matching::Asked;
use crate::domain::{
    AppointmentId, AppointmentStatus, ChannelKind, ChannelSet, ParticipantId, PhoneNumber, Purpose,
    ReplyState, TaskKind,
};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::LazyLock;

/// Who sent a reply: a participant known by id (Telegram, the sandbox) or
/// a phone number (SMS), which several participants may share.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    Id(ParticipantId),
    Phone(&'a PhoneNumber),
}

/// The row in `pending_questions`, expired or not.
#[derive(Debug, Clone)]
pub struct PendingQuestion {
    pub kind: String,
    pub payload: Value,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// The latest message to the participant that asked for a reply.
#[derive(Debug, Clone)]
pub struct LatestAsk {
    pub outbox_id: i64,
    pub purpose: Purpose,
    /// Unix milliseconds.
    pub deadline_at: Option<i64>,
}

/// What every reply needs before it writes anything, read in one query
/// (it used to be six: the phone lookup before the transaction, the
/// participant, the pending question, the latest asked message, the asked
/// appointments, the unit; and the matched appointment again).
#[derive(Debug, Clone)]
pub struct ReplyContext {
    pub p: Participant,
    /// The unit asks "when do you need to leave?" after a "kommer".
    pub plan_making: bool,
    /// Only an unexpired question is answered, but any row is deleted when
    /// the question is cleared, and without a row there is nothing to
    /// delete.
    pub question: Option<PendingQuestion>,
    pub latest_ask: Option<LatestAsk>,
    /// The appointments the participant was asked about since `since`
    /// (what `domain::matching` chooses from), with what applying a reply
    /// needs of them (start, current reply), so the matched one is not
    /// read again.
    pub asked: Vec<Asked>,
    /// PostgreSQL: the id the inbound row will get, taken from its
    /// sequence by the read, so the write can name it in the task's key
    /// and the journal event within the same statement (a duplicate leaves
    /// a gap, as a rollback does). `None` on SQLite.
    pub inbound_id: Option<i64>,
    /// How many participants (not erased) have the sender's number (1 for
    /// a sender known by id).
    pub sharers: i64,
    /// How many of them were asked for a reply by SMS at the same latest
    /// instant as the one chosen (0: none was asked).
    pub tied: i64,
}

/// The context query. `me` picks the participant (`pick` is by id or by
/// phone number); the rest is one row per asked appointment, each carrying
/// the participant, the unit's setting, the pending question and the
/// latest asked message (one row with NULL `a_*` columns when nothing was
/// asked). The participant's columns keep their names, so
/// `ParticipantRow` reads any of the rows. Both subqueries on
/// `outbox` are those of the separate queries they replace (the
/// `outbox_asked` index). `reserve` is the inbound id (see
/// [`Context::inbound_id`]).
fn context_sql(pick: &str, reserve: &str) -> String {
    let cols = participants::COLS
        .split(',')
        .map(|c| format!("p.{0} AS {0}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH {pick}, reserved AS (SELECT {reserve} AS inbound_id)
         SELECT {cols}, u.plan_making, reserved.inbound_id, me.sharers AS me_sharers, me.tied AS me_tied,
                q.kind AS q_kind, q.payload AS q_payload, q.expires_at AS q_expires_at,
                s.id AS s_id, s.purpose AS s_purpose, s.deadline_at AS s_deadline_at,
                a.id AS a_id, a.starts_at AS a_starts_at, a.status AS a_status,
                a.reply AS a_reply, a.asked_at AS a_asked_at
         FROM me
         CROSS JOIN reserved
         JOIN participants p ON p.id = me.id
         JOIN units u ON u.id = p.unit_id
         LEFT JOIN pending_questions q ON q.participant_id = p.id
         LEFT JOIN outbox s ON s.id = (
             SELECT o.id FROM outbox o
             WHERE o.participant_id = me.id AND o.ask_reply = 1 AND o.status IN ('sent','delivered')
             ORDER BY o.sent_at DESC, o.id DESC LIMIT 1)
         LEFT JOIN (
             SELECT a.id, a.starts_at, a.status, a.reply, MAX(o.sent_at) AS asked_at
             FROM outbox o JOIN appointments a ON a.id = o.appointment_id
             WHERE o.participant_id = (SELECT id FROM me) AND o.ask_reply = 1
               AND (o.purpose = 'reminder' OR o.broadcast_id IS NOT NULL)
               AND o.status IN ('sent','delivered') AND a.starts_at > $2
             GROUP BY a.id, a.starts_at, a.status, a.reply) a ON 1 = 1
         ORDER BY a.id"
    )
}

/// `me`: the participant, with how many share the number (`sharers`) and
/// how many of those were asked at the same latest instant (`tied`).
const PICK_BY_ID: &str = "me AS (SELECT id, CAST(1 AS BIGINT) AS sharers, CAST(1 AS BIGINT) AS tied
         FROM participants WHERE id = $1)";
/// A shared number: the participant the latest message asking for a reply
/// by SMS went to, in any unit; then, as `participants::by_phone`, an
/// active participant first, then the newest. `tied` is 0 when none of
/// them was asked, more than 1 when several were asked at that instant.
const PICK_BY_PHONE: &str = "cand AS (
             SELECT p.id, p.status,
                    (SELECT MAX(o.sent_at) FROM outbox o
                     WHERE o.participant_id = p.id AND o.ask_reply = 1 AND o.channel = 'sms'
                       AND o.status IN ('sent','delivered')) AS asked_at
             FROM participants p WHERE p.phone = $1 AND p.erased_at IS NULL),
         me AS (
             SELECT c.id, (SELECT COUNT(*) FROM cand) AS sharers,
                    (SELECT COUNT(*) FROM cand x WHERE x.asked_at = c.asked_at) AS tied
             FROM cand c
             ORDER BY COALESCE(c.asked_at, -1) DESC,
                      CASE WHEN c.status = 'active' THEN 0 ELSE 1 END, c.id DESC
             LIMIT 1)";
const RESERVE_PG: &str = "nextval(pg_get_serial_sequence('inbound', 'id'))";

static CONTEXT_SQL: LazyLock<[String; 4]> = LazyLock::new(|| {
    [
        context_sql(PICK_BY_ID, "NULL"),
        context_sql(PICK_BY_PHONE, "NULL"),
        context_sql(PICK_BY_ID, RESERVE_PG),
        context_sql(PICK_BY_PHONE, RESERVE_PG),
    ]
});

/// Reads the context of a reply from `who`, with the appointments asked
/// about since `since`. `None`: nobody has the number (or the id).
pub async fn read_context(
    c: &mut Conn,
    who: Sender<'_>,
    since: DateTime<Utc>,
) -> Result<Option<ReplyContext>> {
    let pg = usize::from(backend_of(c) == Backend::Postgres);
    let since = ms(since);
    let rows = match who {
        Sender::Id(id) => {
            sqlx::query_as::<_, ContextRow>(sqlx::AssertSqlSafe(CONTEXT_SQL[2 * pg].as_str()))
                .bind(id.get())
                .bind(since)
                .fetch_all(&mut *c)
                .await?
        }
        Sender::Phone(phone) => {
            sqlx::query_as::<_, ContextRow>(sqlx::AssertSqlSafe(CONTEXT_SQL[2 * pg + 1].as_str()))
                .bind(phone.as_e164())
                .bind(since)
                .fetch_all(&mut *c)
                .await?
        }
    };
    let asked = rows
        .iter()
        .filter_map(|r| r.asked().transpose())
        .collect::<Result<Vec<Asked>>>()?;
    let Some(r) = rows.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(ReplyContext {
        plan_making: r.plan_making != 0,
        question: r.question()?,
        latest_ask: r.latest_ask()?,
        asked,
        inbound_id: r.inbound_id,
        sharers: r.me_sharers,
        tied: r.me_tied,
        p: r.p.try_into()?,
    }))
}

/// A row of the context query ([`context_sql`]) as the `Any` driver
/// decodes it: the participant's columns, the same in every row, and one
/// asked appointment's (`a_*`, NULL when nothing was asked).
#[derive(sqlx::FromRow)]
struct ContextRow {
    #[sqlx(flatten)]
    p: ParticipantRow,
    plan_making: i64,
    inbound_id: Option<i64>,
    me_sharers: i64,
    me_tied: i64,
    q_kind: Option<String>,
    q_payload: Option<String>,
    q_expires_at: Option<i64>,
    s_id: Option<i64>,
    s_purpose: Option<Parsed<Purpose>>,
    s_deadline_at: Option<i64>,
    a_id: Option<i64>,
    a_starts_at: Option<i64>,
    a_status: Option<Parsed<AppointmentStatus>>,
    a_reply: Option<Parsed<ReplyState>>,
    a_asked_at: Option<i64>,
}

/// A LEFT JOIN's columns are all there or all NULL; anything else means
/// the database is not what the code wrote.
fn incomplete(what: &str) -> Error {
    Error::Internal(anyhow::anyhow!(
        "a reply context row's {what} is incomplete"
    ))
}

impl ContextRow {
    fn question(&self) -> Result<Option<PendingQuestion>> {
        match (&self.q_kind, &self.q_payload, self.q_expires_at) {
            (Some(kind), Some(payload), Some(expires_at)) => Ok(Some(PendingQuestion {
                kind: kind.clone(),
                payload: serde_json::from_str(payload).unwrap_or(Value::Null),
                expires_at,
            })),
            (None, ..) => Ok(None),
            _ => Err(incomplete("pending question")),
        }
    }

    fn latest_ask(&self) -> Result<Option<LatestAsk>> {
        match (self.s_id, self.s_purpose) {
            (Some(outbox_id), Some(purpose)) => Ok(Some(LatestAsk {
                outbox_id,
                purpose: purpose.0,
                deadline_at: self.s_deadline_at,
            })),
            (None, _) => Ok(None),
            _ => Err(incomplete("latest ask")),
        }
    }

    fn asked(&self) -> Result<Option<Asked>> {
        match (self.a_id, self.a_starts_at, self.a_status, self.a_reply) {
            (Some(id), Some(starts_at), Some(status), Some(reply)) => Ok(Some(Asked {
                appointment: AppointmentId::from_db(id),
                starts_at: from_ms(starts_at),
                cancelled: status.0 == AppointmentStatus::Cancelled,
                reply: reply.0,
                asked_at: from_ms(self.a_asked_at.unwrap_or(0)),
            })),
            (None, ..) => Ok(None),
            _ => Err(incomplete("asked appointment")),
        }
    }
}

/// The reply's answer on an appointment (a later reply overrides).
#[derive(Debug, Clone, Copy)]
pub struct ReplySet<'a> {
    pub appointment: AppointmentId,
    pub state: ReplyState,
    pub reason: Option<&'a str>,
    /// "kommer sent": late (`Some`), by so many minutes when given.
    pub late: Option<Option<i64>>,
}

/// A task made by a reply, unless one with the same key exists; the key is
/// `{key}:i{inbound id}`, so one message makes one task.
#[derive(Debug, Clone, Copy)]
pub struct ReplyTask<'a> {
    pub appointment: Option<AppointmentId>,
    pub kind: TaskKind,
    pub key: &'a str,
    pub detail: &'a Value,
}

/// Everything a decided reply writes besides the route's own writes: the
/// inbound row, the reply on the appointment, the task, the journal event
/// (`inbound_message`, by the participant) and the receipt.
pub struct ReplyWrite<'a> {
    pub channel: ChannelKind,
    pub gateway_id: &'a str,
    pub participant: ParticipantId,
    pub text: &'a str,
    /// The stored reading of the text.
    pub intent: &'a Value,
    pub reply: Option<ReplySet<'a>>,
    pub task: Option<ReplyTask<'a>>,
    /// The appointment the journal event is about.
    pub event_appointment: Option<AppointmentId>,
    /// The journal event, given the inbound row's id.
    pub event: &'a (dyn Fn(i64) -> JournalEvent + Sync),
    pub receipt: Option<&'a str>,
}

/// Writes a decided reply. `reserved` is [`ReplyContext::inbound_id`]:
/// with it (PostgreSQL), one statement; without, the same rows through the
/// store functions in turn. Returns the inbound row's id, `None` when the
/// gateway id was seen before (a retry): then nothing is written.
pub async fn write_reply(
    c: &mut Conn,
    reserved: Option<i64>,
    w: &ReplyWrite<'_>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    match reserved {
        Some(id) => write_pg(c, w, id, now).await,
        None => write_in_turn(c, w, now).await,
    }
}

/// PostgreSQL: the inbound row, the reply on the appointment, the task,
/// the journal event and the receipt in one statement. Data-modifying CTEs
/// run to completion whether the final SELECT reads them or not; every
/// part but the first writes only if the inbound row went in (`FROM
/// inbound_row` or `EXISTS`), so a duplicate writes nothing and returns no
/// row; a part the route does not need matches no row (its id or key bound
/// as NULL). Each part is the statement of the store function the SQLite
/// path calls ([`write_in_turn`]); keep them in step.
async fn write_pg(
    c: &mut Conn,
    w: &ReplyWrite<'_>,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let (set, task) = (w.reply.as_ref(), w.task.as_ref());
    let (kind, detail) = (w.event)(id).split();
    Ok(sqlx::query_scalar(
        "WITH inbound_row AS (
             INSERT INTO inbound (id, channel, gateway_id, participant_id, body, received_at, intent)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (channel, gateway_id) DO NOTHING RETURNING id
         ), reply AS (
             UPDATE appointments SET reply = $8, reply_reason = $9, reply_at = $6, updated_at = $6,
                 reply_late = $21, reply_late_min = $22
             WHERE id = $10 AND EXISTS (SELECT 1 FROM inbound_row)
         ), task AS (
             INSERT INTO tasks (unit_id, participant_id, appointment_id, kind, detail, assigned_to, dedupe_key, created_at)
             SELECT p.unit_id, p.id, $11, $12, $13, p.lots_id, $14, $6 FROM participants p, inbound_row
             WHERE p.id = $4 AND $14 IS NOT NULL
             ON CONFLICT (dedupe_key) DO NOTHING
         ), event AS (
             INSERT INTO journal (participant_id, appointment_id, at, actor, kind, detail)
             SELECT $4, $15, $6, $16, $17, $18 FROM inbound_row
         ), receipt AS (
             INSERT INTO outbox (participant_id, appointment_id, plan_version, purpose, offset_min, channel,
                                 ask_reply, due_at, deadline_at, next_attempt_at, body, created_at, updated_at)
             SELECT $4, NULL, 0, $19, 0, $2, 0, $6, NULL, $6, $20, $6, $6 FROM inbound_row
             WHERE $20 IS NOT NULL
             ON CONFLICT (appointment_id, plan_version, offset_min, channel) DO NOTHING
         )
         SELECT id FROM inbound_row",
    )
    .bind(id)
    .bind(w.channel.as_str())
    .bind(w.gateway_id)
    .bind(w.participant.get())
    .bind(w.text)
    .bind(ms(now))
    .bind(w.intent.to_string())
    .bind(set.map(|r| r.state.as_str()))
    .bind(set.and_then(|r| r.reason))
    .bind(set.map(|r| r.appointment.get()))
    .bind(task.and_then(|t| t.appointment.map(AppointmentId::get)))
    .bind(task.map(|t| t.kind.as_str()))
    .bind(task.map(|t| t.detail.to_string()))
    .bind(task.map(|t| format!("{}:i{id}", t.key)))
    .bind(w.event_appointment.map(AppointmentId::get))
    .bind("participant")
    .bind(kind)
    .bind(detail.to_string())
    .bind(Purpose::Receipt.as_str())
    .bind(w.receipt)
    .bind(set.map_or(0, |r| i64::from(r.late.is_some())))
    .bind(set.and_then(|r| r.late.flatten()))
    .fetch_optional(&mut *c)
    .await?)
}

/// SQLite: the same rows as [`write_pg`], through the store functions.
async fn write_in_turn(
    c: &mut Conn,
    w: &ReplyWrite<'_>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let p = w.participant;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO inbound (channel, gateway_id, participant_id, body, received_at, intent)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel, gateway_id) DO NOTHING RETURNING id",
    )
    .bind(w.channel.as_str())
    .bind(w.gateway_id)
    .bind(p.get())
    .bind(w.text)
    .bind(ms(now))
    .bind(w.intent.to_string())
    .fetch_optional(&mut *c)
    .await?;
    let Some(id) = id else { return Ok(None) };
    if let Some(r) = &w.reply {
        appointments::set_reply(c, r.appointment, r.state, r.reason, r.late, now).await?;
    }
    if let Some(t) = &w.task {
        let key = format!("{}:i{id}", t.key);
        tasks::create(c, p, t.appointment, t.kind, &key, t.detail.clone(), now).await?;
    }
    journal::append(
        c,
        p,
        w.event_appointment,
        now,
        "participant",
        &(w.event)(id),
    )
    .await?;
    if let Some(body) = w.receipt {
        let m = NewMessage {
            participant_id: p,
            appointment_id: None,
            plan_version: 0,
            purpose: Purpose::Receipt,
            offset_min: 0,
            channel: w.channel,
            ask_reply: false,
            due_at: now,
            deadline_at: None,
            body: Some(body.to_string()),
            trial: None,
        };
        outbox::insert(c, &m, now).await?;
    }
    Ok(Some(id))
}

/// Asks a question the next message answers, replacing any earlier one.
pub async fn set_question(
    c: &mut Conn,
    p: ParticipantId,
    kind: &str,
    payload: &Value,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_questions (participant_id, kind, payload, asked_at, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (participant_id) DO UPDATE SET kind = excluded.kind, payload = excluded.payload,
             asked_at = excluded.asked_at, expires_at = excluded.expires_at",
    )
    .bind(p.get())
    .bind(kind)
    .bind(payload.to_string())
    .bind(ms(now))
    .bind(ms(expires))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The participant's pending question is answered or void.
pub async fn clear_question(c: &mut Conn, p: ParticipantId) -> Result<()> {
    sqlx::query("DELETE FROM pending_questions WHERE participant_id = $1")
        .bind(p.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A message from a sender linked to nobody: only that it happened, with
/// no number, chat id or text. Idempotent on the gateway id.
pub async fn insert_unknown(
    c: &mut Conn,
    channel: ChannelKind,
    gateway_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO inbound (channel, gateway_id, participant_id, body, received_at)
         VALUES ($1, $2, NULL, NULL, $3) ON CONFLICT (channel, gateway_id) DO NOTHING",
    )
    .bind(channel.as_str())
    .bind(gateway_id)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The other participants (not erased, in any unit) with `phone`, and the
/// channels each has opted out of.
pub async fn others_with_phone(
    c: &mut Conn,
    phone: &PhoneNumber,
    except: ParticipantId,
) -> Result<Vec<(ParticipantId, ChannelSet)>> {
    let rows = sqlx::query_as::<_, PhoneSharerRow>(
        "SELECT id, opted_out FROM participants WHERE phone = $1 AND erased_at IS NULL AND id <> $2 ORDER BY id",
    )
    .bind(phone.as_e164())
    .bind(except.get())
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.opted_out.0)).collect())
}

/// A participant sharing a number, as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct PhoneSharerRow {
    #[sqlx(try_from = "i64")]
    id: ParticipantId,
    opted_out: Parsed<ChannelSet>,
}

/// The open "which time?" questions (a reply that fitted two appointments):
/// each appointment asked about, with the reply waiting for the choice.
pub async fn open_choices(
    c: &mut Conn,
    now: DateTime<Utc>,
) -> Result<Vec<(AppointmentId, ReplyState)>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT payload FROM pending_questions WHERE kind = 'choice' AND expires_at > $1",
    )
    .bind(ms(now))
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::new();
    for (payload,) in rows {
        let v: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        let reply: ReplyState = v["reply"]
            .as_str()
            .unwrap_or("none")
            .parse()
            .unwrap_or(ReplyState::None);
        for id in v["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
        {
            if id > 0 {
                out.push((AppointmentId::from_db(id), reply));
            }
        }
    }
    Ok(out)
}
