//! Inbound messages: every text a participant sends is stored once
//! (idempotent on channel + gateway id, since gateways retry webhooks),
//! interpreted, applied, answered, and written into the case record as one
//! journal event: the text, the intent, and what it changed.
//!
//! What a reply does:
//! * KOMMER / FÖRHINDER: matched to an appointment (`domain::matching`);
//!   the reply state changes (a later reply overrides, both stay in the
//!   journal), the participant gets a receipt, "förhinder" gives the lots a
//!   task. Nothing else is decided.
//! * STOPP / START, HJÄLP, MINA TIDER, MINA UPPGIFTER, SPRÅK: answered at
//!   once.
//! * Anything not understood goes to a person as a task, never into a bin.
//!
//! The shape of the transaction, for round trips (each statement is one,
//! and a reply is on the hot path of the gateway webhook): one read of
//! everything a reply needs ([`Context`]: the participant, looked up by id
//! or by phone number, the unit's plan-making setting, the question the
//! bot is waiting on, the latest message that asked for a reply, and the
//! appointments asked about); the route and the intent decided from it and
//! the text ([`route`]); then the inbound row, written once with its intent
//! (its unique key makes a redelivered message a duplicate before anything
//! else is written); then only the reads and writes the route needs, the
//! journal event and the receipt. A "kommer" is seven statements including
//! BEGIN and COMMIT (it was fifteen, plus a phone lookup on a connection of
//! its own).

use super::Engine;
use crate::domain::matching::{Asked, Match, match_reply};
use crate::domain::reply::{self, Intent};
use crate::domain::{
    AppointmentId, AppointmentStatus, ChannelKind, ParticipantId, PhoneNumber, Purpose, ReplyState,
    TaskKind,
};
use crate::error::{Error, Result};
use crate::store::outbox::{self, NewMessage};
use crate::store::participants::{self, Participant};
use crate::store::{
    Backend, Conn, Tx, appointments, backend_of, consents, from_ms, journal, ms, parse_col, tasks,
};
use crate::texts;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::LazyLock;

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    New(i64),
    Duplicate,
}

/// What handling a message decided: what changed (for the journal), the
/// receipt to send, and the two writes most replies end with, the reply on
/// an appointment and a task for a person. Those are written together with
/// the journal event and the receipt ([`write_outcome`]); anything else a
/// route writes (the pending question, opt-outs, the language, a plan
/// reminder) it writes itself.
struct Handled {
    changed: Value,
    receipt: Option<String>,
    reply: Option<SetReply>,
    task: Option<NewTask>,
}

impl Handled {
    fn new(changed: Value, receipt: String) -> Self {
        Handled {
            changed,
            receipt: Some(receipt),
            reply: None,
            task: None,
        }
    }

    fn with_task(mut self, task: NewTask) -> Self {
        self.task = Some(task);
        self
    }
}

/// A reply to record on an appointment (a later reply overrides).
struct SetReply {
    appointment: AppointmentId,
    state: ReplyState,
    reason: Option<String>,
}

/// A task for the participant's lots, made unless one with the same key
/// exists (as `tasks::create`).
struct NewTask {
    appointment: Option<AppointmentId>,
    kind: TaskKind,
    key: String,
    detail: Value,
}

/// How long a "svara 1 eller 2" question stays open.
const CHOICE_TTL: Duration = Duration::hours(24);

/// A reply given with a button rather than typed: the appointment the
/// button was on (`None`: a summons) and what was chosen.
#[derive(Debug, Clone, Copy)]
pub struct Tapped {
    pub appointment: Option<AppointmentId>,
    pub state: ReplyState,
}

impl Engine {
    /// Records, interprets and answers an inbound text from a known
    /// participant. Idempotent on (channel, gateway id).
    pub async fn receive(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        participant: ParticipantId,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Received> {
        let mut tx = self.db.begin().await?;
        let r = receive_in(&mut tx, channel, gateway_id, participant, text, None, now).await?;
        self.finish(tx, r).await
    }

    /// [`Engine::receive`] for a message that names its sender by phone
    /// number (an SMS gateway's webhook). The number is looked up in the
    /// same transaction and the same read as the rest of what a reply
    /// needs, the way `participants::by_phone` does: not erased, an active
    /// participant first, then the newest. `None` when nobody has the
    /// number; then nothing was written.
    pub async fn receive_from_number(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        phone: &PhoneNumber,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Received>> {
        let mut tx = self.db.begin().await?;
        let Some(ctx) = Context::read(&mut tx, Sender::Phone(phone), now).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let r = record(&mut tx, channel, gateway_id, ctx, text, None, now).await?;
        self.finish(tx, r).await.map(Some)
    }

    /// A duplicate wrote nothing (its reads are dropped); anything else is
    /// committed, and may have queued a receipt for the dispatcher.
    async fn finish(&self, tx: Tx, r: Received) -> Result<Received> {
        if r == Received::Duplicate {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
            self.wake();
        }
        Ok(r)
    }
}

/// [`Engine::receive`] in the caller's transaction; with `tapped`, the
/// reply came from a button and needs no parsing or matching.
pub(crate) async fn receive_in(
    tx: &mut Conn,
    channel: ChannelKind,
    gateway_id: &str,
    participant: ParticipantId,
    text: &str,
    tapped: Option<Tapped>,
    now: DateTime<Utc>,
) -> Result<Received> {
    let ctx = Context::read(tx, Sender::Id(participant), now)
        .await?
        .ok_or_else(|| Error::not_found(format!("participant {participant}")))?;
    record(tx, channel, gateway_id, ctx, text, tapped, now).await
}

/// Who sent a message, as the channel knows them.
#[derive(Clone, Copy)]
enum Sender<'a> {
    Id(ParticipantId),
    Phone(&'a PhoneNumber),
}

/// What every reply needs before it writes anything, read in one query
/// (it used to be six: the phone lookup before the transaction, the
/// participant, the pending question, the latest asked message, the asked
/// appointments, the unit; and the matched appointment again).
struct Context {
    p: Participant,
    /// The unit asks "when do you need to leave?" after a "kommer".
    plan_making: bool,
    /// The row in `pending_questions`, expired or not: only an unexpired
    /// one is answered, but any one is deleted when the question is
    /// cleared, and without a row there is nothing to delete.
    question: Option<Question>,
    /// The latest message to the participant that asked for a reply.
    latest_ask: Option<LatestAsk>,
    /// The appointments the participant was asked about in the last week
    /// (what `domain::matching` chooses from), with what applying a reply
    /// needs of them (start, current reply), so the matched one is not
    /// read again.
    asked: Vec<Asked>,
}

struct Question {
    kind: String,
    payload: Value,
    expires_at: i64,
}

struct LatestAsk {
    outbox_id: i64,
    purpose: Purpose,
    deadline_at: Option<i64>,
}

/// The context query. `me` picks the participant (`pick` is by id or by
/// phone number); the rest is one row per asked appointment, each carrying
/// the participant, the unit's setting, the pending question and the
/// latest asked message (one row with NULL `a_*` columns when nothing was
/// asked). The participant's columns keep their names, so
/// `participants::from_row` reads any of the rows. Both subqueries on
/// `outbox` are those of the separate queries they replace (the
/// `outbox_asked` index).
fn context_sql(pick: &str) -> String {
    let cols = participants::COLS
        .split(',')
        .map(|c| format!("p.{0} AS {0}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH me AS ({pick})
         SELECT {cols}, u.plan_making,
                q.kind AS q_kind, q.payload AS q_payload, q.expires_at AS q_expires_at,
                s.id AS s_id, s.purpose AS s_purpose, s.deadline_at AS s_deadline_at,
                a.id AS a_id, a.starts_at AS a_starts_at, a.status AS a_status,
                a.reply AS a_reply, a.asked_at AS a_asked_at
         FROM me
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

static CONTEXT_BY_ID: LazyLock<String> =
    LazyLock::new(|| context_sql("SELECT id FROM participants WHERE id = $1"));
/// The same choice as `participants::by_phone`.
static CONTEXT_BY_PHONE: LazyLock<String> = LazyLock::new(|| {
    context_sql(
        "SELECT id FROM participants WHERE phone = $1 AND erased_at IS NULL
         ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, id DESC LIMIT 1",
    )
});

impl Context {
    async fn read(c: &mut Conn, who: Sender<'_>, now: DateTime<Utc>) -> Result<Option<Context>> {
        let since = ms(now - Duration::days(7));
        let rows = match who {
            Sender::Id(id) => {
                sqlx::query(sqlx::AssertSqlSafe(CONTEXT_BY_ID.as_str()))
                    .bind(id.get())
                    .bind(since)
                    .fetch_all(&mut *c)
                    .await?
            }
            Sender::Phone(phone) => {
                sqlx::query(sqlx::AssertSqlSafe(CONTEXT_BY_PHONE.as_str()))
                    .bind(phone.as_e164())
                    .bind(since)
                    .fetch_all(&mut *c)
                    .await?
            }
        };
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let question = match r.try_get::<Option<String>, _>("q_kind")? {
            Some(kind) => Some(Question {
                kind,
                payload: serde_json::from_str(&r.try_get::<String, _>("q_payload")?)
                    .unwrap_or(Value::Null),
                expires_at: r.try_get("q_expires_at")?,
            }),
            None => None,
        };
        let latest_ask = match r.try_get::<Option<i64>, _>("s_id")? {
            Some(outbox_id) => Some(LatestAsk {
                outbox_id,
                purpose: parse_col(&r.try_get::<String, _>("s_purpose")?)?,
                deadline_at: r.try_get("s_deadline_at")?,
            }),
            None => None,
        };
        let mut asked = Vec::new();
        for r in &rows {
            let Some(id) = r.try_get::<Option<i64>, _>("a_id")? else {
                continue;
            };
            asked.push(Asked {
                appointment: AppointmentId::from_db(id),
                starts_at: from_ms(r.try_get("a_starts_at")?),
                cancelled: parse_col::<AppointmentStatus>(&r.try_get::<String, _>("a_status")?)?
                    == AppointmentStatus::Cancelled,
                reply: parse_col(&r.try_get::<String, _>("a_reply")?)?,
                asked_at: from_ms(r.try_get::<Option<i64>, _>("a_asked_at")?.unwrap_or(0)),
            });
        }
        Ok(Some(Context {
            p: participants::from_row(r)?,
            plan_making: r.try_get::<i64, _>("plan_making")? != 0,
            question,
            latest_ask,
            asked,
        }))
    }

    /// The question the bot is waiting on, if it has not expired.
    fn open_question(&self, now: DateTime<Utc>) -> Option<&Question> {
        self.question.as_ref().filter(|q| q.expires_at > ms(now))
    }

    /// The latest open summons (test on request) that asked for a reply
    /// and was sent after every reminder: then a "kommer" answers the
    /// summons.
    fn open_summons(&self, now: DateTime<Utc>) -> Option<i64> {
        self.latest_ask
            .as_ref()
            .filter(|s| s.purpose == Purpose::Summons && s.deadline_at.is_some_and(|d| d > ms(now)))
            .map(|s| s.outbox_id)
    }
}

/// What a message is, decided from the text and the context before
/// anything is written.
enum Route {
    /// A button reply (Telegram): no parsing, no matching.
    Tap(Tapped),
    /// A time answering "when do you need to leave?".
    PlanTime { payload: Value, at: NaiveTime },
    /// A number answering "svara 1 eller 2".
    Choice { payload: Value, n: u8 },
    /// Anything else, as the parser read it.
    Typed(Intent),
}

/// The route, and the intent as it is stored with the inbound row and in
/// the journal.
fn route(ctx: &Context, text: &str, tapped: Option<Tapped>, now: DateTime<Utc>) -> (Route, Value) {
    if let Some(t) = tapped {
        let intent = match t.state {
            ReplyState::Cannot => Intent::Cannot { reason: None },
            _ => Intent::Coming,
        };
        let iv = json!({ "via": "button", "intent": serde_json::to_value(&intent).unwrap_or(Value::Null) });
        return (Route::Tap(t), iv);
    }
    let intent = reply::parse(text, ctx.p.language);
    // An answer to a question the bot asked comes first.
    if let Some(q) = ctx.open_question(now) {
        if q.kind == "plan"
            && let Some(at) = parse_clock(text)
        {
            let iv = json!({ "intent": "plan_time", "time": at.format("%H:%M").to_string() });
            let payload = q.payload.clone();
            return (Route::PlanTime { payload, at }, iv);
        }
        if q.kind == "choice"
            && let Intent::Choice { n } = intent
        {
            let payload = q.payload.clone();
            return (
                Route::Choice { payload, n },
                json!({ "intent": "choice", "n": n }),
            );
        }
    }
    let iv = serde_json::to_value(&intent).unwrap_or(Value::Null);
    (Route::Typed(intent), iv)
}

/// Stores, handles, journals and answers one message whose context was
/// read in this transaction.
async fn record(
    tx: &mut Conn,
    channel: ChannelKind,
    gateway_id: &str,
    ctx: Context,
    text: &str,
    tapped: Option<Tapped>,
    now: DateTime<Utc>,
) -> Result<Received> {
    let (route, intent) = route(&ctx, text, tapped, now);
    // The intent is known before anything is written, so the row goes in
    // whole (no UPDATE afterwards). A gateway's retry stops here.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO inbound (channel, gateway_id, participant_id, body, received_at, intent)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (channel, gateway_id) DO NOTHING RETURNING id",
    )
    .bind(channel.as_str())
    .bind(gateway_id)
    .bind(ctx.p.id.get())
    .bind(text)
    .bind(ms(now))
    .bind(intent.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(Received::Duplicate);
    };
    let h = match route {
        Route::Tap(t) => handle_tap(tx, &ctx, id, text, t, now).await?,
        Route::PlanTime { payload, at } => plan_answer(tx, &ctx, &payload, at, now).await?,
        Route::Choice { payload, n } => choice_answer(tx, &ctx, id, text, &payload, n, now).await?,
        Route::Typed(parsed) => handle(tx, &ctx, id, channel, text, parsed, now).await?,
    };
    let intent_label = intent["intent"]
        .as_str()
        .or_else(|| intent["intent"]["intent"].as_str())
        .unwrap_or("other");
    // A closed set: the parser's intents (and "plan_time", "choice").
    let intent_label = match intent_label {
        "coming" | "cannot" | "stop" | "start" | "help" | "my_times" | "my_data" | "language"
        | "choice" | "plan_time" | "unknown" => intent_label,
        _ => "other",
    };
    metrics::counter!("paminn_inbound_total", "channel" => channel.as_str(), "intent" => intent_label.to_string())
        .increment(1);
    let event = json!({ "inbound_id": id, "channel": channel, "text": text, "intent": intent, "changed": h.changed });
    write_outcome(tx, &ctx.p, channel, &h, &event, now).await?;
    Ok(Received::New(id))
}

/// The writes a reply ends with: its reply on an appointment and its task
/// (when the route decided them), the journal event, and the receipt (when
/// there is one). On PostgreSQL they are one statement, data-modifying
/// CTEs that run to completion whether or not the last part inserts
/// anything, so the round trips per reply do not grow with the writes; a
/// part with nothing to do matches no row (an id or key bound as NULL).
/// Each part is the statement of the store function the SQLite path calls:
/// the reply's UPDATE, `tasks::create`, `journal::append`, `outbox::insert`
/// (keep them in step). SQLite runs in process, where a statement costs no
/// round trip, so it runs those functions in turn.
async fn write_outcome(
    c: &mut Conn,
    p: &Participant,
    channel: ChannelKind,
    h: &Handled,
    event: &Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let appointment = h
        .changed
        .get("appointment_id")
        .and_then(Value::as_i64)
        .map(AppointmentId::from_db);
    if backend_of(c) == Backend::Postgres {
        let (set, task) = (h.reply.as_ref(), h.task.as_ref());
        sqlx::query(
            "WITH reply AS (
                 UPDATE appointments SET reply = $1, reply_reason = $2, reply_at = $3, updated_at = $3
                 WHERE id = $4
             ), task AS (
                 INSERT INTO tasks (unit_id, participant_id, appointment_id, kind, detail, assigned_to, dedupe_key, created_at)
                 SELECT p.unit_id, p.id, $5, $6, $7, p.lots_id, $8, $3 FROM participants p
                 WHERE p.id = $9 AND $8 IS NOT NULL
                 ON CONFLICT (dedupe_key) DO NOTHING
             ), event AS (
                 INSERT INTO journal (participant_id, appointment_id, at, actor, kind, detail)
                 VALUES ($9, $10, $3, $11, $12, $13)
             )
             INSERT INTO outbox (participant_id, appointment_id, plan_version, purpose, offset_min, channel,
                                 ask_reply, due_at, deadline_at, next_attempt_at, body, created_at, updated_at)
             SELECT $9, NULL, 0, $14, 0, $15, 0, $3, NULL, $3, $16, $3, $3 WHERE $16 IS NOT NULL
             ON CONFLICT (appointment_id, plan_version, offset_min, channel) DO NOTHING",
        )
        .bind(set.map(|r| r.state.as_str()))
        .bind(set.and_then(|r| r.reason.clone()))
        .bind(ms(now))
        .bind(set.map(|r| r.appointment.get()))
        .bind(task.and_then(|t| t.appointment.map(AppointmentId::get)))
        .bind(task.map(|t| t.kind.as_str()))
        .bind(task.map(|t| t.detail.to_string()))
        .bind(task.map(|t| t.key.clone()))
        .bind(p.id.get())
        .bind(appointment.map(AppointmentId::get))
        .bind("participant")
        .bind(journal::kind::INBOUND_MESSAGE)
        .bind(event.to_string())
        .bind(Purpose::Receipt.as_str())
        .bind(channel.as_str())
        .bind(h.receipt.clone())
        .execute(&mut *c)
        .await?;
        return Ok(());
    }
    if let Some(r) = &h.reply {
        appointments::set_reply(c, r.appointment, r.state, r.reason.as_deref(), now).await?;
    }
    if let Some(t) = &h.task {
        tasks::create(
            c,
            p.id,
            t.appointment,
            t.kind,
            &t.key,
            t.detail.clone(),
            now,
        )
        .await?;
    }
    journal::append(
        c,
        p.id,
        appointment,
        now,
        "participant",
        journal::kind::INBOUND_MESSAGE,
        event.clone(),
    )
    .await?;
    if let Some(body) = &h.receipt {
        let m = NewMessage {
            participant_id: p.id,
            appointment_id: None,
            plan_version: 0,
            purpose: Purpose::Receipt,
            offset_min: 0,
            channel,
            ask_reply: false,
            due_at: now,
            deadline_at: None,
            body: Some(body.clone()),
        };
        outbox::insert(c, &m, now).await?;
    }
    Ok(())
}

/// The appointment a reply is applied to, as read before the update.
#[derive(Debug, Clone, Copy)]
struct Target {
    id: AppointmentId,
    starts_at: DateTime<Utc>,
    reply: ReplyState,
}

impl From<&appointments::Appointment> for Target {
    fn from(a: &appointments::Appointment) -> Self {
        Target {
            id: a.id,
            starts_at: a.starts_at,
            reply: a.reply,
        }
    }
}

impl From<&Asked> for Target {
    fn from(a: &Asked) -> Self {
        Target {
            id: a.appointment,
            starts_at: a.starts_at,
            reply: a.reply,
        }
    }
}

/// A button reply: it names its appointment, so nothing is guessed. A tap
/// on a reminder for a cancelled or started appointment is too late, as a
/// typed reply would be.
async fn handle_tap(
    c: &mut Conn,
    ctx: &Context,
    inbound: i64,
    text: &str,
    t: Tapped,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    let Some(a) = t.appointment else {
        return answer(c, ctx, inbound, text, t.state, None, now).await;
    };
    let appt = appointments::get(c, a).await?;
    if appt.status == AppointmentStatus::Cancelled || appt.starts_at <= now {
        return Ok(Handled::new(
            json!({ "appointment_id": a, "too_late": true }),
            texts::render(p.language, "receipt-too-late", &[]),
        )
        .with_task(NewTask {
            appointment: Some(a),
            kind: TaskKind::LateReply,
            key: format!("late_reply:i{inbound}"),
            detail: json!({ "reply": t.state, "reason": null }),
        }));
    }
    let mut h = apply(c, ctx, inbound, Target::from(&appt), t.state, None, now).await?;
    // A tapped "Kommer" is confirmed by the edited message itself; a
    // receipt is only sent when it asks something (plan-making) or says
    // what happens next ("förhinder").
    if t.state == ReplyState::Coming && h.changed.get("plan_question").is_none() {
        h.receipt = None;
    }
    Ok(h)
}

/// A local time typed as an answer to "when do you need to leave?".
fn parse_clock(text: &str) -> Option<NaiveTime> {
    let t = text.trim().to_lowercase();
    let t = t
        .trim_start_matches("kl.")
        .trim_start_matches("kl")
        .trim()
        .trim_end_matches('.');
    ["%H:%M", "%H.%M", "%H"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(t, f).ok())
}

/// A typed message that answers no pending question.
async fn handle(
    c: &mut Conn,
    ctx: &Context,
    inbound: i64,
    channel: ChannelKind,
    text: &str,
    intent: Intent,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    let lang = p.language;
    let say = |key: &str| texts::render(lang, key, &[]);
    Ok(match intent {
        Intent::Coming => answer(c, ctx, inbound, text, ReplyState::Coming, None, now).await?,
        Intent::Cannot { reason } => {
            answer(c, ctx, inbound, text, ReplyState::Cannot, reason, now).await?
        }
        Intent::Stop => {
            participants::set_opted_out(c, p.id, p.opted_out.with(channel, true), now).await?;
            clear_question(c, ctx).await?;
            Handled::new(json!({ "opted_out": channel }), say("receipt-stop"))
        }
        Intent::Start => {
            participants::set_opted_out(c, p.id, p.opted_out.with(channel, false), now).await?;
            Handled::new(json!({ "opted_in": channel }), say("receipt-start"))
        }
        Intent::Help => Handled::new(json!({}), say("receipt-help")),
        Intent::MyTimes => {
            let list: Vec<String> = appointments::for_participant(c, p.id, Some(now))
                .await?
                .into_iter()
                .filter(|a| a.status == AppointmentStatus::Scheduled)
                .take(5)
                .map(|a| texts::when(lang, a.starts_at, now, p.time_zone))
                .collect();
            let r = if list.is_empty() {
                say("receipt-my-times-none")
            } else {
                texts::render(lang, "receipt-my-times", &[("list", list.join(", "))])
            };
            Handled::new(json!({}), r)
        }
        Intent::MyData => {
            let consent = consents::current(c, p.id).await?;
            let (channels, since) = match consent.filter(|k| k.withdrawn_at.is_none()) {
                Some(k) => (
                    k.channels.to_string(),
                    k.given_at
                        .with_timezone(&p.time_zone)
                        .format("%Y-%m-%d")
                        .to_string(),
                ),
                None => (say("no-consent"), say("no-consent")),
            };
            let phone = p
                .phone
                .as_ref()
                .map(|x| x.as_e164().to_string())
                .unwrap_or_else(|| "-".into());
            let r = texts::render(
                lang,
                "receipt-my-data",
                &[
                    ("name", p.first_name.clone()),
                    ("phone", phone),
                    ("channels", channels),
                    ("consent", since),
                ],
            );
            Handled::new(json!({}), r)
        }
        Intent::Language { language } => {
            participants::set_language(c, p.id, language, now).await?;
            Handled::new(
                json!({ "language": language }),
                texts::render(language, "receipt-language", &[]),
            )
        }
        Intent::Choice { .. } | Intent::Unknown => {
            not_understood(p, inbound, text, "not understood")
        }
    })
}

/// Forwards a text to the lots as a task; the participant is told a person
/// will read it.
fn not_understood(p: &Participant, inbound: i64, text: &str, why: &str) -> Handled {
    Handled::new(
        json!({ "task": "not_understood" }),
        texts::render(p.language, "receipt-not-understood", &[]),
    )
    .with_task(NewTask {
        appointment: None,
        kind: TaskKind::NotUnderstood,
        key: format!("not_understood:i{inbound}"),
        detail: json!({ "text": text, "why": why }),
    })
}

/// "kommer" / "förhinder" typed (or tapped on a summons): to the open
/// summons if there is one, else to the appointment it matches.
async fn answer(
    c: &mut Conn,
    ctx: &Context,
    inbound: i64,
    text: &str,
    state: ReplyState,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    if let Some(summons) = ctx.open_summons(now) {
        let key = if state == ReplyState::Coming {
            "receipt-coming-now"
        } else {
            "receipt-cannot"
        };
        let mut h = Handled::new(
            json!({ "summons_outbox_id": summons, "reply": state }),
            texts::render(p.language, key, &[]),
        );
        if state == ReplyState::Cannot {
            h = h.with_task(NewTask {
                appointment: None,
                kind: TaskKind::Cannot,
                key: format!("cannot:i{inbound}"),
                detail: json!({ "summons_outbox_id": summons, "reason": reason }),
            });
        }
        return Ok(h);
    }
    let asked = &ctx.asked;
    // The matched appointments are among `asked`, which has what is needed.
    let of = |a: AppointmentId| {
        asked.iter().find(|x| x.appointment == a).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "matched appointment {a} is not among the asked"
            ))
        })
    };
    match match_reply(asked, now) {
        Match::Apply(a) => {
            let target = Target::from(of(a)?);
            apply(c, ctx, inbound, target, state, reason, now).await
        }
        Match::AskWhich(a, b) => {
            let (first, second) = (of(a)?, of(b)?);
            let payload = json!({ "options": [a, b], "reply": state, "reason": reason });
            set_question(c, p.id, "choice", &payload, now, now + CHOICE_TTL).await?;
            let r = texts::render(
                p.language,
                "receipt-which",
                &[
                    (
                        "first",
                        texts::when(p.language, first.starts_at, now, p.time_zone),
                    ),
                    (
                        "second",
                        texts::when(p.language, second.starts_at, now, p.time_zone),
                    ),
                ],
            );
            Ok(Handled::new(json!({ "asked_which": [a, b] }), r))
        }
        Match::TooLate(a) => Ok(Handled::new(
            json!({ "appointment_id": a, "too_late": true }),
            texts::render(p.language, "receipt-too-late", &[]),
        )
        .with_task(NewTask {
            appointment: Some(a),
            kind: TaskKind::LateReply,
            key: format!("late_reply:i{inbound}"),
            detail: json!({ "reply": state, "reason": reason }),
        })),
        Match::Nothing => Ok(not_understood(
            p,
            inbound,
            text,
            "no appointment was asked about",
        )),
    }
}

/// A reply on an appointment, with its receipt and, for "förhinder", a
/// task for the lots (both written by [`write_outcome`]); clears the
/// pending question, and with plan-making asks when to leave.
async fn apply(
    c: &mut Conn,
    ctx: &Context,
    inbound: i64,
    before: Target,
    state: ReplyState,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let (p, a) = (&ctx.p, before.id);
    clear_question(c, ctx).await?;
    let mut changed =
        json!({ "appointment_id": a, "reply": state, "previous": before.reply, "reason": reason });
    let set = SetReply {
        appointment: a,
        state,
        reason: reason.clone(),
    };
    if state == ReplyState::Cannot {
        let mut h = Handled::new(changed, texts::render(p.language, "receipt-cannot", &[]))
            .with_task(NewTask {
                appointment: Some(a),
                kind: TaskKind::Cannot,
                key: format!("cannot:i{inbound}"),
                detail: json!({ "reason": reason, "starts_at": before.starts_at }),
            });
        h.reply = Some(set);
        return Ok(h);
    }
    let mut receipt = texts::render(
        p.language,
        "receipt-coming",
        &[(
            "when",
            texts::when(p.language, before.starts_at, now, p.time_zone),
        )],
    );
    if ctx.plan_making && before.starts_at - now > Duration::minutes(30) {
        changed["plan_question"] = json!(true);
        set_question(
            c,
            p.id,
            "plan",
            &json!({ "appointment": a }),
            now,
            before.starts_at,
        )
        .await?;
        receipt.push(' ');
        receipt.push_str(&texts::render(p.language, "plan-question", &[]));
    }
    let mut h = Handled::new(changed, receipt);
    h.reply = Some(set);
    Ok(h)
}

async fn choice_answer(
    c: &mut Conn,
    ctx: &Context,
    inbound: i64,
    text: &str,
    payload: &Value,
    n: u8,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let options: Vec<i64> = payload["options"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let Some(&chosen) = options.get(usize::from(n).wrapping_sub(1)) else {
        return Ok(not_understood(&ctx.p, inbound, text, "choice out of range"));
    };
    let state: ReplyState = payload["reply"]
        .as_str()
        .unwrap_or("none")
        .parse()
        .unwrap_or(ReplyState::None);
    let reason = payload["reason"].as_str().map(str::to_string);
    let before = appointments::get(c, AppointmentId::from_db(chosen)).await?;
    apply(c, ctx, inbound, Target::from(&before), state, reason, now).await
}

async fn plan_answer(
    c: &mut Conn,
    ctx: &Context,
    payload: &Value,
    at: NaiveTime,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    let a = appointments::get(
        c,
        AppointmentId::from_db(payload["appointment"].as_i64().unwrap_or(0)),
    )
    .await?;
    let day = a.starts_at.with_timezone(&p.time_zone).date_naive();
    let leave = crate::domain::schedule::resolve_local(day.and_time(at), p.time_zone);
    clear_question(c, ctx).await?;
    if leave <= now || leave >= a.starts_at {
        let text = at.format("%H:%M").to_string();
        return Ok(Handled {
            changed: json!({ "ignored": text }),
            receipt: None,
            reply: None,
            task: None,
        });
    }
    let time = a
        .starts_at
        .with_timezone(&p.time_zone)
        .format("%H:%M")
        .to_string();
    let body = texts::render(
        p.language,
        "plan-leave",
        &[("name", p.first_name.clone()), ("time", time)],
    );
    let channel = p.channel_pref;
    outbox::insert(
        c,
        &NewMessage {
            participant_id: p.id,
            appointment_id: None,
            plan_version: 0,
            purpose: Purpose::Notice,
            offset_min: 0,
            channel,
            ask_reply: false,
            due_at: leave,
            deadline_at: Some(a.starts_at),
            body: Some(body),
        },
        now,
    )
    .await?;
    let hhmm = at.format("%H:%M").to_string();
    Ok(Handled::new(
        json!({ "appointment_id": a.id, "leave_reminder": leave }),
        texts::render(p.language, "plan-confirm", &[("time", hhmm)]),
    ))
}

async fn set_question(
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

/// Deletes the participant's pending question, expired or not; a
/// statement only when the context read found one (most replies answer
/// no question, and the DELETE would find nothing).
async fn clear_question(c: &mut Conn, ctx: &Context) -> Result<()> {
    if ctx.question.is_none() {
        return Ok(());
    }
    sqlx::query("DELETE FROM pending_questions WHERE participant_id = $1")
        .bind(ctx.p.id.get())
        .execute(&mut *c)
        .await?;
    Ok(())
}

impl Engine {
    /// A delivery report from a gateway. Statuses only move forward (a late
    /// "sent" does not overwrite "delivered"; "failed" is final), so
    /// replays and reordering are harmless. A failure is journalled and
    /// becomes a task. Returns the row's status afterwards, `None` for an
    /// unknown gateway id.
    pub async fn delivery_receipt(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        new: crate::domain::OutboxStatus,
        error: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::domain::OutboxStatus>> {
        let mut tx = self.db.begin().await?;
        let row = sqlx::query(
            "SELECT id, status, participant_id, appointment_id FROM outbox WHERE channel = $1 AND gateway_id = $2",
        )
        .bind(channel.as_str())
        .bind(gateway_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let before: crate::domain::OutboxStatus = parse_col(&row.try_get::<String, _>("status")?)?;
        let after = outbox::apply_receipt(&mut tx, channel, gateway_id, new, now).await?;
        if before != crate::domain::OutboxStatus::Failed
            && after == Some(crate::domain::OutboxStatus::Failed)
        {
            let id: i64 = row.try_get("id")?;
            let p = ParticipantId::from_db(row.try_get("participant_id")?);
            let a = row
                .try_get::<Option<i64>, _>("appointment_id")?
                .map(AppointmentId::from_db);
            journal::append(&mut tx, p, a, now, "system", journal::kind::DELIVERY_FAILED,
                json!({ "outbox_id": id, "channel": channel, "error": error, "reported_by": "gateway" })).await?;
            tasks::create(
                &mut tx,
                p,
                a,
                TaskKind::DeliveryFailed,
                &format!("delivery_failed:o{id}"),
                json!({ "outbox_id": id, "channel": channel, "error": error }),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(after)
    }
}
