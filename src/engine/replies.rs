//! Replies (inbound messages): every text a participant sends is stored once
//! (idempotent on channel + gateway id, since gateways retry webhooks),
//! interpreted, applied, answered, and written into the case record as one
//! journal event: the text, the intent, and what it changed.
//!
//! What a reply does:
//! * KOMMER / FÖRHINDER / KOMMER SENT: matched to an appointment
//!   (`domain::matching`); the reply state changes (a later reply
//!   overrides, both stay in the journal; "kommer sent" is a "kommer" with
//!   the lateness, in minutes when given), the participant gets a receipt,
//!   "förhinder" and "kommer sent" give the lots a task. A "kommer" that
//!   names another day or time than the matched appointment's is read as
//!   not understood (`reply::About`). Nothing else is decided.
//! * STOPP / START, HJÄLP, MINA TIDER, MINA UPPGIFTER, SPRÅK: answered at
//!   once. STOPP by SMS stops SMS to the number for every participant who
//!   has it, with a journal entry in each case record.
//! * Anything not understood goes to a person as a task, never into a bin.
//!
//! Shared phones: a text from a number several participants have belongs
//! to the one the latest message asking for a reply on that number went
//! to, in any unit. When that does not decide it (nobody was asked, or two
//! at the same instant), only STOPP, START and HJÄLP are answered; anything
//! else goes to a person.
//!
//! The shape, for round trips (a reply is on the hot path of the gateway
//! webhook, and on PostgreSQL every statement is one): read, decide, write.
//! * Read: one query for everything a reply needs ([`Context`]: the
//!   participant, by id or by phone number, the unit's plan-making
//!   setting, the pending question, the latest message that asked for a
//!   reply, the appointments asked about).
//! * Decide ([`decide`]): the route and intent from the text and the
//!   context, then what the route changes, as a [`Handled`]; only reads
//!   here (MINA TIDER, a tapped or chosen appointment).
//! * Write ([`write`]): the inbound row, whose unique key makes a
//!   redelivered message a duplicate that writes nothing, with the reply
//!   on the appointment, the task, the journal event and the receipt. On
//!   PostgreSQL that is one statement; what only some routes write (the
//!   pending question, an opt-out, the language, a plan reminder) goes
//!   before it in the same transaction. SQLite, in process, writes the
//!   same rows one statement at a time.
//!
//! On PostgreSQL a typed "kommer" through the webhook is therefore two
//! statements, the read and the write (which commits by itself, as one
//! statement): it was a phone lookup on a connection of its own and then
//! fifteen statements including BEGIN and COMMIT.

use super::Engine;
use crate::domain::journal::JournalEvent;
use crate::domain::matching::{Asked, Match, match_reply};
use crate::domain::reply::{self, Intent};
use crate::domain::{
    AppointmentId, AppointmentStatus, ChannelKind, ChannelSet, Language, ParticipantId,
    PhoneNumber, Purpose, ReplyState, TaskKind,
};
use crate::error::{Error, Result};
use crate::store::inbound::{
    self, LatestAsk, PendingQuestion as Question, ReplySet, ReplyTask, ReplyWrite, Sender,
};
use crate::store::outbox::{self, NewMessage};
use crate::store::participants::{self, Participant};
use crate::store::{Backend, Conn, appointments, consents, journal, ms, tasks};
use crate::texts;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{Value, json};
use sqlx::Connection;

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    New(i64),
    Duplicate,
}

/// What handling a message decided, before anything is written: the
/// intent and what changed (for the inbound row and the journal), the
/// receipt, and every write the route makes.
struct Handled {
    intent: Value,
    changed: Value,
    receipt: Option<String>,
    /// The reply on an appointment (a later reply overrides).
    reply: Option<SetReply>,
    /// A task for the participant's lots.
    task: Option<NewTask>,
    /// What only some routes write; with any of these, the writes need a
    /// transaction of their own on PostgreSQL (see [`Handled::alone`]).
    question: Option<QuestionWrite>,
    opted_out: Option<ChannelSet>,
    /// STOPP from a shared number: the other participants with it, and
    /// their channels opted out afterwards.
    sharing_opted_out: Vec<(ParticipantId, ChannelSet)>,
    language: Option<Language>,
    notice: Option<NewMessage>,
}

impl Handled {
    fn new(changed: Value, receipt: String) -> Self {
        Handled {
            intent: Value::Null,
            changed,
            receipt: Some(receipt),
            reply: None,
            task: None,
            question: None,
            opted_out: None,
            sharing_opted_out: Vec::new(),
            language: None,
            notice: None,
        }
    }

    fn with_task(mut self, task: NewTask) -> Self {
        self.task = Some(task);
        self
    }

    /// Whether the inbound row's statement is every write: then, on
    /// PostgreSQL, it needs no transaction around it.
    fn alone(&self) -> bool {
        self.question.is_none()
            && self.opted_out.is_none()
            && self.sharing_opted_out.is_empty()
            && self.language.is_none()
            && self.notice.is_none()
    }
}

struct SetReply {
    appointment: AppointmentId,
    state: ReplyState,
    reason: Option<String>,
    /// "kommer sent": late, by so many minutes when given.
    late: Late,
}

/// A "coming" that is late (`Some`), with the minutes when given.
type Late = Option<Option<u16>>;

/// A task, made unless one with the same key exists (as `tasks::create`);
/// the key is `{key}:i{inbound id}`, so one message makes one task.
struct NewTask {
    appointment: Option<AppointmentId>,
    kind: TaskKind,
    key: &'static str,
    detail: Value,
}

enum QuestionWrite {
    /// Deleted, expired or not (only decided when there is a row).
    Clear,
    /// Asked, replacing any earlier question.
    Ask {
        kind: &'static str,
        payload: Value,
        expires: DateTime<Utc>,
    },
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
        self.receive_from(Sender::Id(participant), channel, gateway_id, text, now)
            .await?
            .ok_or_else(|| Error::not_found(format!("participant {participant}")))
    }

    /// [`Engine::receive`] for a message that names its sender by phone
    /// number (an SMS gateway's webhook). The number is looked up in the
    /// same read as the rest of what a reply needs: of the participants
    /// (not erased, in any unit) who have it, the one the latest message
    /// asking for a reply by SMS went to; without one, an active
    /// participant first, then the newest, and the message is for a person
    /// unless it is STOPP, START or HJÄLP (see the module doc). `None` when
    /// nobody has the number; then nothing was written.
    pub async fn receive_from_number(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        phone: &PhoneNumber,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Received>> {
        self.receive_from(Sender::Phone(phone), channel, gateway_id, text, now)
            .await
    }

    async fn receive_from(
        &self,
        who: Sender<'_>,
        channel: ChannelKind,
        gateway_id: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Received>> {
        // A NUL (U+0000) cannot be stored in PostgreSQL text and means
        // nothing in a reply: dropped from the text; an id with one is
        // refused (webhooks refuse it before this, naming the field).
        if gateway_id.contains('\0') {
            return Err(Error::invalid("the message id contains a NUL character"));
        }
        let without_nul;
        let text = if text.contains('\0') {
            without_nul = text.replace('\0', "");
            without_nul.as_str()
        } else {
            text
        };
        let r = match self.db.backend {
            // Every write transaction on SQLite takes the write lock first
            // (`Db::begin`); statements cost no round trip in process.
            Backend::Sqlite => {
                let mut tx = self.db.begin().await?;
                let Some(ctx) = Context::read(&mut tx, who, now).await? else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                let h = decide(&mut tx, &ctx, channel, text, None, now).await?;
                let r = write(&mut tx, &ctx, channel, gateway_id, text, &h, now).await?;
                finish(tx, r).await?
            }
            // The read and the decision need no transaction (each
            // statement sees what is committed, as it would inside one at
            // READ COMMITTED); the write is one statement, atomic and
            // committed by itself, unless the route writes more.
            Backend::Postgres => {
                let mut c = self.db.conn().await?;
                let Some(ctx) = Context::read(&mut c, who, now).await? else {
                    return Ok(None);
                };
                let h = decide(&mut c, &ctx, channel, text, None, now).await?;
                if h.alone() {
                    write(&mut c, &ctx, channel, gateway_id, text, &h, now).await?
                } else {
                    let mut tx = c.begin().await?;
                    let r = write(&mut tx, &ctx, channel, gateway_id, text, &h, now).await?;
                    finish(tx, r).await?
                }
            }
        };
        if r != Received::Duplicate {
            self.wake();
        }
        Ok(Some(r))
    }
}

/// A duplicate's writes (what went before its inbound row) are undone;
/// anything else is committed.
async fn finish(tx: sqlx::Transaction<'_, sqlx::Any>, r: Received) -> Result<Received> {
    if r == Received::Duplicate {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(r)
}

/// [`Engine::receive`] in the caller's transaction; with `tapped`, the
/// reply came from a button and needs no parsing or matching. A duplicate
/// may have written (before its inbound row): the caller rolls back.
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
    let h = decide(tx, &ctx, channel, text, tapped, now).await?;
    write(tx, &ctx, channel, gateway_id, text, &h, now).await
}

/// A reply's context ([`inbound::read_context`]), with the one thing the
/// engine decides about it before the text: whether a shared number's
/// sender is unsure.
struct Context {
    p: Participant,
    plan_making: bool,
    question: Option<Question>,
    latest_ask: Option<LatestAsk>,
    asked: Vec<Asked>,
    inbound_id: Option<i64>,
    /// A text from a number several participants have, and no message
    /// asking for a reply on it tells which of them sent it.
    shared_unsure: bool,
}

impl Context {
    async fn read(c: &mut Conn, who: Sender<'_>, now: DateTime<Utc>) -> Result<Option<Context>> {
        let Some(r) = inbound::read_context(c, who, now - Duration::days(7)).await? else {
            return Ok(None);
        };
        Ok(Some(Context {
            shared_unsure: r.sharers > 1 && r.tied != 1,
            p: r.p,
            plan_making: r.plan_making,
            question: r.question,
            latest_ask: r.latest_ask,
            asked: r.asked,
            inbound_id: r.inbound_id,
        }))
    }

    /// The question the bot is waiting on, if it has not expired.
    fn open_question(&self, now: DateTime<Utc>) -> Option<&Question> {
        self.question.as_ref().filter(|q| q.expires_at > ms(now))
    }

    /// Clearing the pending question: a write only when there is a row.
    fn clear_question(&self) -> Option<QuestionWrite> {
        self.question.as_ref().map(|_| QuestionWrite::Clear)
    }

    /// The appointment a typed reply would be about, on the participant's
    /// wall clock, so the parser can tell "kommer på fredag" for a Friday
    /// appointment from one for a Tuesday. `None` when a summons is open or
    /// the reply matches no single appointment.
    fn about(&self, now: DateTime<Utc>) -> Option<reply::About> {
        if self.open_summons(now).is_some() {
            return None;
        }
        let Match::Apply(a) = match_reply(&self.asked, now) else {
            return None;
        };
        let starts = self.asked.iter().find(|x| x.appointment == a)?.starts_at;
        let tz = self.p.time_zone;
        let local = starts.with_timezone(&tz);
        Some(reply::About {
            today: now.with_timezone(&tz).date_naive(),
            day: local.date_naive(),
            time: local.time(),
        })
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

/// What a message is, decided from the text and the context.
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
    let intent = reply::parse_about(text, ctx.p.language, ctx.about(now).as_ref());
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

/// Everything a message changes, decided with reads only.
async fn decide(
    c: &mut Conn,
    ctx: &Context,
    channel: ChannelKind,
    text: &str,
    tapped: Option<Tapped>,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let (route, intent) = route(ctx, text, tapped, now);
    // A shared number and no telling who wrote: only what is about the
    // number itself is answered.
    let about_the_number = matches!(
        route,
        Route::Typed(Intent::Stop | Intent::Start | Intent::Help)
    );
    if ctx.shared_unsure && tapped.is_none() && !about_the_number {
        let mut h = not_understood(&ctx.p, text, "shared number");
        h.changed["shared_phone"] = json!(true);
        h.intent = intent;
        return Ok(h);
    }
    let mut h = match route {
        Route::Tap(t) => handle_tap(c, ctx, text, t, now).await?,
        Route::PlanTime { payload, at } => plan_answer(c, ctx, &payload, at, now).await?,
        Route::Choice { payload, n } => choice_answer(c, ctx, text, &payload, n, now).await?,
        Route::Typed(parsed) => handle(c, ctx, channel, text, parsed, now).await?,
    };
    h.intent = intent;
    Ok(h)
}

/// Writes what [`decide`] decided. The inbound row's unique key makes a
/// message the gateway delivers again a duplicate: then nothing of the
/// reply's own is written, and what went before (the route's other
/// writes) is undone by the caller's rollback.
async fn write(
    c: &mut Conn,
    ctx: &Context,
    channel: ChannelKind,
    gateway_id: &str,
    text: &str,
    h: &Handled,
    now: DateTime<Utc>,
) -> Result<Received> {
    let p = &ctx.p;
    match &h.question {
        Some(QuestionWrite::Clear) => inbound::clear_question(c, p.id).await?,
        Some(QuestionWrite::Ask {
            kind,
            payload,
            expires,
        }) => inbound::set_question(c, p.id, kind, payload, now, *expires).await?,
        None => {}
    }
    if let Some(set) = h.opted_out {
        participants::set_opted_out(c, p.id, set, now).await?;
    }
    for (other, set) in &h.sharing_opted_out {
        participants::set_opted_out(c, *other, *set, now).await?;
        journal::append(
            c,
            *other,
            None,
            now,
            "system",
            &JournalEvent::OptedOutSharedPhone {
                channel: Some(ChannelKind::Sms),
            },
        )
        .await?;
    }
    if let Some(l) = h.language {
        participants::set_language(c, p.id, l, now).await?;
    }
    if let Some(m) = &h.notice {
        outbox::insert(c, m, now).await?;
    }
    let event = |id: i64| event(id, channel, text, h);
    let w = ReplyWrite {
        channel,
        gateway_id,
        participant: p.id,
        text,
        intent: &h.intent,
        reply: h.reply.as_ref().map(|r| ReplySet {
            appointment: r.appointment,
            state: r.state,
            reason: r.reason.as_deref(),
            late: r.late.map(|m| m.map(i64::from)),
        }),
        task: h.task.as_ref().map(|t| ReplyTask {
            appointment: t.appointment,
            kind: t.kind,
            key: t.key,
            detail: &t.detail,
        }),
        event_appointment: event_appointment(h),
        event: &event,
        receipt: h.receipt.as_deref(),
    };
    let id = inbound::write_reply(c, ctx.inbound_id, &w, now).await?;
    let Some(id) = id else {
        return Ok(Received::Duplicate);
    };
    let intent_label = h.intent["intent"]
        .as_str()
        .or_else(|| h.intent["intent"]["intent"].as_str())
        .unwrap_or("other");
    // A closed set: the parser's intents (and "plan_time", "choice").
    let intent_label = match intent_label {
        "coming" | "late" | "cannot" | "stop" | "start" | "help" | "my_times" | "my_data"
        | "language" | "choice" | "plan_time" | "unknown" => intent_label,
        _ => "other",
    };
    metrics::counter!("paminn_inbound_total", "channel" => channel.as_str(), "intent" => intent_label.to_string())
        .increment(1);
    Ok(Received::New(id))
}

/// The journal event of a reply.
fn event(id: i64, channel: ChannelKind, text: &str, h: &Handled) -> JournalEvent {
    JournalEvent::InboundMessage {
        inbound_id: Some(id),
        channel: Some(channel),
        text: Some(text.to_string()),
        intent: h.intent.clone(),
        changed: h.changed.clone(),
    }
}

/// The appointment the journal event is about.
fn event_appointment(h: &Handled) -> Option<AppointmentId> {
    h.changed
        .get("appointment_id")
        .and_then(Value::as_i64)
        .map(AppointmentId::from_db)
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
    text: &str,
    t: Tapped,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    let Some(a) = t.appointment else {
        return answer(ctx, text, t.state, None, None, now);
    };
    let appt = appointments::get(c, a).await?;
    if appt.status == AppointmentStatus::Cancelled || appt.starts_at <= now {
        return Ok(too_late(
            p.language,
            a,
            json!({ "reply": t.state, "reason": null }),
        ));
    }
    let mut h = apply(ctx, Target::from(&appt), t.state, None, None, now);
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
    channel: ChannelKind,
    text: &str,
    intent: Intent,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    let lang = p.language;
    let say = |key: &str| texts::render(lang, key, &[]);
    Ok(match intent {
        Intent::Coming => answer(ctx, text, ReplyState::Coming, None, None, now)?,
        Intent::Late { minutes } => {
            answer(ctx, text, ReplyState::Coming, None, Some(minutes), now)?
        }
        Intent::Cannot { reason } => answer(ctx, text, ReplyState::Cannot, reason, None, now)?,
        Intent::Stop => {
            let sharing = if channel == ChannelKind::Sms {
                sharing_the_number(c, p, channel).await?
            } else {
                Vec::new()
            };
            let mut changed = json!({ "opted_out": channel });
            if !sharing.is_empty() {
                changed["opted_out_sharing"] = json!(sharing.len() + 1);
            }
            let mut h = Handled::new(changed, say("receipt-stop"));
            h.opted_out = Some(p.opted_out.with(channel, true));
            h.sharing_opted_out = sharing;
            h.question = ctx.clear_question();
            h
        }
        Intent::Start => {
            let mut h = Handled::new(json!({ "opted_in": channel }), say("receipt-start"));
            h.opted_out = Some(p.opted_out.with(channel, false));
            h
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
            let mut h = Handled::new(
                json!({ "language": language }),
                texts::render(language, "receipt-language", &[]),
            );
            h.language = Some(language);
            h
        }
        Intent::Choice { .. } | Intent::Unknown => not_understood(p, text, "not understood"),
    })
}

/// The other participants (not erased, in any unit) who have this
/// participant's number and still get messages on `channel`, with their
/// channels after a STOPP: the number's holder asked for no more messages.
async fn sharing_the_number(
    c: &mut Conn,
    p: &Participant,
    channel: ChannelKind,
) -> Result<Vec<(ParticipantId, ChannelSet)>> {
    let Some(phone) = &p.phone else {
        return Ok(Vec::new());
    };
    Ok(inbound::others_with_phone(c, phone, p.id)
        .await?
        .into_iter()
        .filter(|(_, set)| !set.contains(channel))
        .map(|(id, set)| (id, set.with(channel, true)))
        .collect())
}

/// Forwards a text to the lots as a task; the participant is told a person
/// will read it.
fn not_understood(p: &Participant, text: &str, why: &str) -> Handled {
    Handled::new(
        json!({ "task": "not_understood" }),
        texts::render(p.language, "receipt-not-understood", &[]),
    )
    .with_task(NewTask {
        appointment: None,
        kind: TaskKind::NotUnderstood,
        key: "not_understood",
        detail: json!({ "text": text, "why": why }),
    })
}

/// A reply about appointment `a` when it is cancelled or has started: the
/// participant is told it is too late; the lots gets a task with `detail`.
fn too_late(language: Language, a: AppointmentId, detail: Value) -> Handled {
    Handled::new(
        json!({ "appointment_id": a, "too_late": true }),
        texts::render(language, "receipt-too-late", &[]),
    )
    .with_task(NewTask {
        appointment: Some(a),
        kind: TaskKind::LateReply,
        key: "late_reply",
        detail,
    })
}

/// "kommer" / "förhinder" typed (or tapped on a summons): to the open
/// summons if there is one, else to the appointment it matches among those
/// asked about.
fn answer(
    ctx: &Context,
    text: &str,
    state: ReplyState,
    reason: Option<String>,
    late: Late,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let p = &ctx.p;
    if let Some(summons) = ctx.open_summons(now) {
        let key = if state == ReplyState::Coming {
            "receipt-coming-now"
        } else {
            "receipt-cannot"
        };
        let h = Handled::new(
            json!({ "summons_outbox_id": summons, "reply": state }),
            texts::render(p.language, key, &[]),
        );
        if let Some(minutes) = late {
            return Ok(h.with_task(NewTask {
                appointment: None,
                kind: TaskKind::ComingLate,
                key: "coming_late",
                detail: json!({ "summons_outbox_id": summons, "minutes": minutes }),
            }));
        }
        if state != ReplyState::Cannot {
            return Ok(h);
        }
        return Ok(h.with_task(NewTask {
            appointment: None,
            kind: TaskKind::Cannot,
            key: "cannot",
            detail: json!({ "summons_outbox_id": summons, "reason": reason }),
        }));
    }
    // The matched appointments are among the asked, with what is needed.
    let asked = &ctx.asked;
    let of = |a: AppointmentId| {
        asked.iter().find(|x| x.appointment == a).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "matched appointment {a} is not among the asked"
            ))
        })
    };
    match match_reply(asked, now) {
        Match::Apply(a) => Ok(apply(ctx, Target::from(of(a)?), state, reason, late, now)),
        Match::AskWhich(a, b) => {
            let r = texts::render(
                p.language,
                "receipt-which",
                &[
                    (
                        "first",
                        texts::when(p.language, of(a)?.starts_at, now, p.time_zone),
                    ),
                    (
                        "second",
                        texts::when(p.language, of(b)?.starts_at, now, p.time_zone),
                    ),
                ],
            );
            let mut h = Handled::new(json!({ "asked_which": [a, b] }), r);
            h.question = Some(QuestionWrite::Ask {
                kind: "choice",
                payload: json!({ "options": [a, b], "reply": state, "reason": reason, "late": late }),
                expires: now + CHOICE_TTL,
            });
            Ok(h)
        }
        Match::TooLate(a) => Ok(too_late(
            p.language,
            a,
            json!({ "reply": state, "reason": reason, "late": late }),
        )),
        Match::Nothing => Ok(not_understood(p, text, "no appointment was asked about")),
    }
}

/// A reply on an appointment, with its receipt and, for "förhinder" and
/// "kommer sent", a task for the lots; clears the pending question, or with
/// plan-making asks when to leave.
fn apply(
    ctx: &Context,
    before: Target,
    state: ReplyState,
    reason: Option<String>,
    late: Late,
    now: DateTime<Utc>,
) -> Handled {
    let (p, a) = (&ctx.p, before.id);
    let mut changed =
        json!({ "appointment_id": a, "reply": state, "previous": before.reply, "reason": reason });
    if let Some(minutes) = late {
        changed["late"] = json!(true);
        changed["late_min"] = json!(minutes);
    }
    let set = SetReply {
        appointment: a,
        state,
        reason: reason.clone(),
        late,
    };
    let mut h = if state == ReplyState::Cannot {
        Handled::new(changed, texts::render(p.language, "receipt-cannot", &[])).with_task(NewTask {
            appointment: Some(a),
            kind: TaskKind::Cannot,
            key: "cannot",
            detail: json!({ "reason": reason, "starts_at": before.starts_at }),
        })
    } else if let Some(minutes) = late {
        // Coming, late: the receipt says so, and the lots is told.
        let when = texts::when(p.language, before.starts_at, now, p.time_zone);
        let receipt = match minutes {
            Some(min) => texts::render(
                p.language,
                "receipt-coming-late-min",
                &[("when", when), ("min", min.to_string())],
            ),
            None => texts::render(p.language, "receipt-coming-late", &[("when", when)]),
        };
        Handled::new(changed, receipt).with_task(NewTask {
            appointment: Some(a),
            kind: TaskKind::ComingLate,
            key: "coming_late",
            detail: json!({ "minutes": minutes, "starts_at": before.starts_at }),
        })
    } else {
        let receipt = texts::render(
            p.language,
            "receipt-coming",
            &[(
                "when",
                texts::when(p.language, before.starts_at, now, p.time_zone),
            )],
        );
        Handled::new(changed, receipt)
    };
    h.reply = Some(set);
    h.question = ctx.clear_question();
    if state != ReplyState::Cannot
        && ctx.plan_making
        && before.starts_at - now > Duration::minutes(30)
    {
        h.changed["plan_question"] = json!(true);
        // Replaces any earlier question, as clearing it first would.
        h.question = Some(QuestionWrite::Ask {
            kind: "plan",
            payload: json!({ "appointment": a }),
            expires: before.starts_at,
        });
        if let Some(r) = h.receipt.as_mut() {
            r.push(' ');
            r.push_str(&texts::render(p.language, "plan-question", &[]));
        }
    }
    h
}

async fn choice_answer(
    c: &mut Conn,
    ctx: &Context,
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
        return Ok(not_understood(&ctx.p, text, "choice out of range"));
    };
    let state: ReplyState = payload["reply"]
        .as_str()
        .unwrap_or("none")
        .parse()
        .unwrap_or(ReplyState::None);
    let reason = payload["reason"].as_str().map(str::to_string);
    // `null`: not late; a number or `null` inside: late, minutes if given.
    let late: Late = serde_json::from_value(payload["late"].clone()).unwrap_or(None);
    let before = appointments::get(c, AppointmentId::from_db(chosen)).await?;
    Ok(apply(ctx, Target::from(&before), state, reason, late, now))
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
    if leave <= now || leave >= a.starts_at {
        let text = at.format("%H:%M").to_string();
        let mut h = Handled::new(json!({ "ignored": text }), String::new());
        h.receipt = None;
        h.question = ctx.clear_question();
        return Ok(h);
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
    let hhmm = at.format("%H:%M").to_string();
    let mut h = Handled::new(
        json!({ "appointment_id": a.id, "leave_reminder": leave }),
        texts::render(p.language, "plan-confirm", &[("time", hhmm)]),
    );
    h.question = ctx.clear_question();
    h.notice = Some(NewMessage {
        deadline_at: Some(a.starts_at),
        ..NewMessage::notice(p.id, p.channel_pref, body, leave)
    });
    Ok(h)
}

impl Engine {
    /// A message from a sender who is linked to nobody (an unknown SMS
    /// number, an unknown Telegram chat): only that it happened is kept,
    /// with no number, chat id or text. Idempotent on the gateway id.
    pub async fn count_unknown_sender(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.db.conn().await?;
        inbound::insert_unknown(&mut c, channel, gateway_id, now).await
    }

    /// An answer typed on the demo's sandbox phone: shown on the phone (the
    /// sandbox gateway's log, in the participant's channel) and received
    /// as an SMS from that participant would be.
    pub async fn receive_on_sandbox_phone(
        &self,
        p: &Participant,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Received> {
        let gateway_id = format!("sbx-in-{}", hex::encode(rand::random::<[u8; 8]>()));
        {
            let mut c = self.db.conn().await?;
            crate::store::sandbox::insert(
                &mut c,
                p.id,
                p.channel_pref,
                "in",
                text,
                None,
                &gateway_id,
                now,
            )
            .await?;
        }
        self.receive(ChannelKind::Sms, &gateway_id, p.id, text, now)
            .await
    }

    /// The demo only (the sandbox phone): the participant's next pending
    /// message goes out now instead of at its time, so a new booking shows
    /// its reminder without waiting a day. Every gate still applies when it
    /// is sent (consent, status, quiet hours). Returns whether there was one.
    pub async fn send_next_now_in_demo(
        &self,
        p: ParticipantId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut c = self.db.conn().await?;
        let moved = outbox::bring_forward_next(&mut c, p, now).await?;
        drop(c);
        if moved {
            self.wake();
        }
        Ok(moved)
    }

    /// A delivery report from a gateway. Statuses only move forward (a late
    /// "sent" does not overwrite "delivered"; "failed" is final), so
    /// replays and reordering are harmless. A failure is journalled and
    /// becomes a task; its `kind`, when the gateway's words said it, is
    /// stored with the row (so monitoring lists a number that cannot get
    /// SMS), and an opt-out at the gateway is honoured like STOPP. Returns
    /// the row's status afterwards, `None` for an unknown gateway id.
    pub async fn delivery_receipt(
        &self,
        channel: ChannelKind,
        gateway_id: &str,
        new: crate::domain::OutboxStatus,
        error: Option<String>,
        kind: Option<crate::domain::FailureKind>,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::domain::OutboxStatus>> {
        // Receipts arrive in bursts (a gateway reports a broadcast's
        // thousand messages within seconds): those arriving together are
        // committed together, and each caller returns, and its webhook
        // answers 200, only after the commit that holds its receipt.
        let receipt = Receipt {
            channel,
            gateway_id: gateway_id.to_string(),
            new,
            error,
            kind,
            now,
        };
        let engine = self.clone();
        self.receipts
            .submit(receipt, move |group| async move {
                engine.receipts_together(group).await
            })
            .await
            .unwrap_or_else(|_| {
                Err(crate::error::Error::Internal(anyhow::anyhow!(
                    "the receipt writer stopped before answering"
                )))
            })
    }

    /// Applies a group of receipts in one transaction, in order; if that
    /// fails, each on its own, so one bad receipt does not fail the others.
    async fn receipts_together(
        &self,
        group: Vec<Receipt>,
    ) -> Vec<Result<Option<crate::domain::OutboxStatus>>> {
        match self.apply_receipts(&group).await {
            Ok(after) => after.into_iter().map(Ok).collect(),
            Err(e) if group.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, receipts = group.len(),
                    "could not apply a group of receipts; applying them one by one");
                let mut out = Vec::with_capacity(group.len());
                for r in &group {
                    out.push(
                        self.apply_receipts(std::slice::from_ref(r))
                            .await
                            .map(|mut after| after.remove(0)),
                    );
                }
                out
            }
        }
    }

    async fn apply_receipts(
        &self,
        group: &[Receipt],
    ) -> Result<Vec<Option<crate::domain::OutboxStatus>>> {
        let mut tx = self.db.begin().await?;
        let mut after = Vec::with_capacity(group.len());
        for r in group {
            after.push(self.apply_receipt(&mut tx, r).await?);
        }
        tx.commit().await?;
        Ok(after)
    }

    /// One receipt, in the group's transaction.
    async fn apply_receipt(
        &self,
        tx: &mut crate::store::Tx,
        r: &Receipt,
    ) -> Result<Option<crate::domain::OutboxStatus>> {
        let Receipt {
            channel,
            gateway_id,
            new,
            error,
            kind,
            now,
        } = r;
        let (channel, new, kind, now) = (*channel, *new, *kind, *now);
        let Some(row) = outbox::by_gateway_id(&mut *tx, channel, gateway_id).await? else {
            return Ok(None);
        };
        let before = row.status;
        let after = outbox::apply_receipt(&mut *tx, channel, gateway_id, new, now).await?;
        if before != crate::domain::OutboxStatus::Failed
            && after == Some(crate::domain::OutboxStatus::Failed)
        {
            let (id, p) = (row.id.get(), row.participant_id);
            let a = row.appointment_id.map(AppointmentId::from_db);
            if let Some(kind) = kind {
                outbox::set_error_kind(&mut *tx, row.id, kind).await?;
            }
            if kind == Some(crate::domain::FailureKind::OptedOut) {
                let part = participants::get(&mut *tx, p).await?;
                if !part.opted_out.contains(channel) {
                    participants::set_opted_out(
                        &mut *tx,
                        p,
                        part.opted_out.with(channel, true),
                        now,
                    )
                    .await?;
                    let event = JournalEvent::OptedOutAtGateway {
                        channel: Some(channel),
                    };
                    journal::append(&mut *tx, p, None, now, "system", &event).await?;
                }
            }
            let event = JournalEvent::DeliveryFailed {
                outbox_id: Some(row.id),
                purpose: None,
                channel: Some(channel),
                error: error.clone(),
                attempts: None,
                reported_by: Some("gateway".into()),
            };
            journal::append(&mut *tx, p, a, now, "system", &event).await?;
            tasks::create(
                &mut *tx,
                p,
                a,
                TaskKind::DeliveryFailed,
                &format!("delivery_failed:o{id}"),
                json!({ "outbox_id": id, "channel": channel, "error": error }),
                now,
            )
            .await?;
        }
        Ok(after)
    }
}

/// A delivery report waiting to be applied with others.
pub(crate) struct Receipt {
    channel: ChannelKind,
    gateway_id: String,
    new: crate::domain::OutboxStatus,
    error: Option<String>,
    kind: Option<crate::domain::FailureKind>,
    now: DateTime<Utc>,
}
