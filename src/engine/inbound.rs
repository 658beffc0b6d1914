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

use super::Engine;
use crate::domain::matching::{Asked, Match, match_reply};
use crate::domain::reply::{self, Intent};
use crate::domain::{
    AppointmentId, AppointmentStatus, ChannelKind, ParticipantId, Purpose, ReplyState, TaskKind,
};
use crate::error::Result;
use crate::store::outbox::{self, NewMessage};
use crate::store::participants::{self, Participant};
use crate::store::{Conn, appointments, consents, from_ms, journal, ms, parse_col, tasks, units};
use crate::texts;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{Value, json};
use sqlx::Row;

/// Whether an inbound message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    New(i64),
    Duplicate,
}

/// What handling a message did, for the journal.
struct Handled {
    intent: Value,
    changed: Value,
    receipt: Option<String>,
}

impl Handled {
    fn new(intent: Value, changed: Value, receipt: String) -> Self {
        Handled {
            intent,
            changed,
            receipt: Some(receipt),
        }
    }
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
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO inbound (channel, gateway_id, participant_id, body, received_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (channel, gateway_id) DO NOTHING RETURNING id",
    )
    .bind(channel.as_str())
    .bind(gateway_id)
    .bind(participant.get())
    .bind(text)
    .bind(ms(now))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(Received::Duplicate);
    };
    let p = participants::get(tx, participant).await?;
    let h = match tapped {
        Some(t) => handle_tap(tx, &p, id, text, t, now).await?,
        None => handle(tx, &p, id, channel, text, now).await?,
    };
    let intent_label = h.intent["intent"]
        .as_str()
        .or_else(|| h.intent["intent"]["intent"].as_str())
        .unwrap_or("other");
    // A closed set: the parser's intents (and "plan_time", "choice").
    let intent_label = match intent_label {
        "coming" | "cannot" | "stop" | "start" | "help" | "my_times" | "my_data" | "language"
        | "choice" | "plan_time" | "unknown" => intent_label,
        _ => "other",
    };
    metrics::counter!("paminn_inbound_total", "channel" => channel.as_str(), "intent" => intent_label.to_string())
        .increment(1);
    sqlx::query("UPDATE inbound SET intent = $1 WHERE id = $2")
        .bind(h.intent.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let appointment = h
        .changed
        .get("appointment_id")
        .and_then(Value::as_i64)
        .map(AppointmentId::from_db);
    journal::append(tx, p.id, appointment, now, "participant", journal::kind::INBOUND_MESSAGE,
        json!({ "inbound_id": id, "channel": channel, "text": text, "intent": h.intent, "changed": h.changed }))
    .await?;
    if let Some(body) = h.receipt {
        outbox::insert(
            tx,
            &NewMessage {
                participant_id: p.id,
                appointment_id: None,
                plan_version: 0,
                purpose: Purpose::Receipt,
                offset_min: 0,
                channel,
                ask_reply: false,
                due_at: now,
                deadline_at: None,
                body: Some(body),
            },
            now,
        )
        .await?;
    }
    Ok(Received::New(id))
}

/// A button reply: it names its appointment, so nothing is guessed. A tap
/// on a reminder for a cancelled or started appointment is too late, as a
/// typed reply would be.
async fn handle_tap(
    c: &mut Conn,
    p: &Participant,
    inbound: i64,
    text: &str,
    t: Tapped,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let intent = match t.state {
        ReplyState::Cannot => Intent::Cannot { reason: None },
        _ => Intent::Coming,
    };
    let iv =
        json!({ "via": "button", "intent": serde_json::to_value(&intent).unwrap_or(Value::Null) });
    let Some(a) = t.appointment else {
        return answer(c, p, inbound, text, t.state, None, iv, now).await;
    };
    let appt = appointments::get(c, a).await?;
    if appt.status == AppointmentStatus::Cancelled || appt.starts_at <= now {
        tasks::create(
            c,
            p.id,
            Some(a),
            TaskKind::LateReply,
            &format!("late_reply:i{inbound}"),
            json!({ "reply": t.state, "reason": null }),
            now,
        )
        .await?;
        return Ok(Handled::new(
            iv,
            json!({ "appointment_id": a, "too_late": true }),
            texts::render(p.language, "receipt-too-late", &[]),
        ));
    }
    let mut h = apply(c, p, inbound, a, t.state, None, iv, now).await?;
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

async fn handle(
    c: &mut Conn,
    p: &Participant,
    inbound: i64,
    channel: ChannelKind,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let intent = reply::parse(text, p.language);
    // An answer to a question the bot asked comes first.
    if let Some((kind, payload)) = pending_question(c, p.id, now).await? {
        if kind == "plan"
            && let Some(at) = parse_clock(text)
        {
            return plan_answer(c, p, &payload, at, now).await;
        }
        if kind == "choice"
            && let Intent::Choice { n } = intent
        {
            return choice_answer(c, p, inbound, text, &payload, n, now).await;
        }
    }
    let iv = serde_json::to_value(&intent).unwrap_or(Value::Null);
    let lang = p.language;
    let say = |key: &str| texts::render(lang, key, &[]);
    Ok(match intent {
        Intent::Coming => answer(c, p, inbound, text, ReplyState::Coming, None, iv, now).await?,
        Intent::Cannot { reason } => {
            answer(c, p, inbound, text, ReplyState::Cannot, reason, iv, now).await?
        }
        Intent::Stop => {
            participants::set_opted_out(c, p.id, p.opted_out.with(channel, true), now).await?;
            clear_question(c, p.id).await?;
            Handled::new(iv, json!({ "opted_out": channel }), say("receipt-stop"))
        }
        Intent::Start => {
            participants::set_opted_out(c, p.id, p.opted_out.with(channel, false), now).await?;
            Handled::new(iv, json!({ "opted_in": channel }), say("receipt-start"))
        }
        Intent::Help => Handled::new(iv, json!({}), say("receipt-help")),
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
            Handled::new(iv, json!({}), r)
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
            Handled::new(iv, json!({}), r)
        }
        Intent::Language { language } => {
            participants::set_language(c, p.id, language, now).await?;
            Handled::new(
                iv,
                json!({ "language": language }),
                texts::render(language, "receipt-language", &[]),
            )
        }
        Intent::Choice { .. } | Intent::Unknown => {
            not_understood(c, p, inbound, text, iv, "not understood", now).await?
        }
    })
}

/// Forwards a text to the lots as a task; the participant is told a person
/// will read it.
async fn not_understood(
    c: &mut Conn,
    p: &Participant,
    inbound: i64,
    text: &str,
    intent: Value,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Handled> {
    tasks::create(
        c,
        p.id,
        None,
        TaskKind::NotUnderstood,
        &format!("not_understood:i{inbound}"),
        json!({ "text": text, "why": why }),
        now,
    )
    .await?;
    Ok(Handled::new(
        intent,
        json!({ "task": "not_understood" }),
        texts::render(p.language, "receipt-not-understood", &[]),
    ))
}

/// The appointments the participant was asked about recently.
async fn asked(c: &mut Conn, p: ParticipantId, now: DateTime<Utc>) -> Result<Vec<Asked>> {
    let rows = sqlx::query(
        "SELECT a.id, a.starts_at, a.status, a.reply, MAX(o.sent_at) AS asked_at
         FROM outbox o JOIN appointments a ON a.id = o.appointment_id
         WHERE o.participant_id = $1 AND o.ask_reply = 1
           AND (o.purpose = 'reminder' OR o.broadcast_id IS NOT NULL)
           AND o.status IN ('sent','delivered') AND a.starts_at > $2
         GROUP BY a.id, a.starts_at, a.status, a.reply",
    )
    .bind(p.get())
    .bind(ms(now - Duration::days(7)))
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Asked {
                appointment: AppointmentId::from_db(r.try_get("id")?),
                starts_at: from_ms(r.try_get("starts_at")?),
                cancelled: parse_col::<AppointmentStatus>(&r.try_get::<String, _>("status")?)?
                    == AppointmentStatus::Cancelled,
                reply: parse_col(&r.try_get::<String, _>("reply")?)?,
                asked_at: from_ms(r.try_get::<Option<i64>, _>("asked_at")?.unwrap_or(0)),
            })
        })
        .collect()
}

/// The latest open summons (test on request) that asked for a reply and
/// was sent after every reminder: then a "kommer" answers the summons.
async fn open_summons(c: &mut Conn, p: ParticipantId, now: DateTime<Utc>) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT id, purpose, deadline_at FROM outbox
         WHERE participant_id = $1 AND ask_reply = 1 AND status IN ('sent','delivered')
         ORDER BY sent_at DESC, id DESC LIMIT 1",
    )
    .bind(p.get())
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let purpose: Purpose = parse_col(&r.try_get::<String, _>("purpose")?)?;
    let deadline: Option<i64> = r.try_get("deadline_at")?;
    Ok(
        (purpose == Purpose::Summons && deadline.is_some_and(|d| d > ms(now)))
            .then_some(r.try_get("id")?),
    )
}

#[allow(clippy::too_many_arguments)]
async fn answer(
    c: &mut Conn,
    p: &Participant,
    inbound: i64,
    text: &str,
    state: ReplyState,
    reason: Option<String>,
    intent: Value,
    now: DateTime<Utc>,
) -> Result<Handled> {
    if let Some(summons) = open_summons(c, p.id, now).await? {
        if state == ReplyState::Cannot {
            tasks::create(
                c,
                p.id,
                None,
                TaskKind::Cannot,
                &format!("cannot:i{inbound}"),
                json!({ "summons_outbox_id": summons, "reason": reason }),
                now,
            )
            .await?;
        }
        let key = if state == ReplyState::Coming {
            "receipt-coming-now"
        } else {
            "receipt-cannot"
        };
        return Ok(Handled::new(
            intent,
            json!({ "summons_outbox_id": summons, "reply": state }),
            texts::render(p.language, key, &[]),
        ));
    }
    match match_reply(&asked(c, p.id, now).await?, now) {
        Match::Apply(a) => apply(c, p, inbound, a, state, reason, intent, now).await,
        Match::AskWhich(a, b) => {
            let first = appointments::get(c, a).await?;
            let second = appointments::get(c, b).await?;
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
            Ok(Handled::new(intent, json!({ "asked_which": [a, b] }), r))
        }
        Match::TooLate(a) => {
            tasks::create(
                c,
                p.id,
                Some(a),
                TaskKind::LateReply,
                &format!("late_reply:i{inbound}"),
                json!({ "reply": state, "reason": reason }),
                now,
            )
            .await?;
            Ok(Handled::new(
                intent,
                json!({ "appointment_id": a, "too_late": true }),
                texts::render(p.language, "receipt-too-late", &[]),
            ))
        }
        Match::Nothing => {
            not_understood(
                c,
                p,
                inbound,
                text,
                intent,
                "no appointment was asked about",
                now,
            )
            .await
        }
    }
}

/// Records a reply on an appointment, with its receipt and, for
/// "förhinder", a task for the lots.
#[allow(clippy::too_many_arguments)]
async fn apply(
    c: &mut Conn,
    p: &Participant,
    inbound: i64,
    a: AppointmentId,
    state: ReplyState,
    reason: Option<String>,
    intent: Value,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let before = appointments::get(c, a).await?;
    sqlx::query("UPDATE appointments SET reply = $1, reply_reason = $2, reply_at = $3, updated_at = $3 WHERE id = $4")
        .bind(state.as_str())
        .bind(reason.clone())
        .bind(ms(now))
        .bind(a.get())
        .execute(&mut *c)
        .await?;
    clear_question(c, p.id).await?;
    let mut changed =
        json!({ "appointment_id": a, "reply": state, "previous": before.reply, "reason": reason });
    if state == ReplyState::Cannot {
        tasks::create(
            c,
            p.id,
            Some(a),
            TaskKind::Cannot,
            &format!("cannot:i{inbound}"),
            json!({ "reason": reason, "starts_at": before.starts_at }),
            now,
        )
        .await?;
        return Ok(Handled::new(
            intent,
            changed,
            texts::render(p.language, "receipt-cannot", &[]),
        ));
    }
    let mut receipt = texts::render(
        p.language,
        "receipt-coming",
        &[(
            "when",
            texts::when(p.language, before.starts_at, now, p.time_zone),
        )],
    );
    let unit = units::get(c, p.unit_id).await?;
    if unit.plan_making && before.starts_at - now > Duration::minutes(30) {
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
    Ok(Handled::new(intent, changed, receipt))
}

#[allow(clippy::too_many_arguments)]
async fn choice_answer(
    c: &mut Conn,
    p: &Participant,
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
    let intent = json!({ "intent": "choice", "n": n });
    let Some(&chosen) = options.get(usize::from(n).wrapping_sub(1)) else {
        return not_understood(c, p, inbound, text, intent, "choice out of range", now).await;
    };
    let state: ReplyState = payload["reply"]
        .as_str()
        .unwrap_or("none")
        .parse()
        .unwrap_or(ReplyState::None);
    let reason = payload["reason"].as_str().map(str::to_string);
    apply(
        c,
        p,
        inbound,
        AppointmentId::from_db(chosen),
        state,
        reason,
        intent,
        now,
    )
    .await
}

async fn plan_answer(
    c: &mut Conn,
    p: &Participant,
    payload: &Value,
    at: NaiveTime,
    now: DateTime<Utc>,
) -> Result<Handled> {
    let a = appointments::get(
        c,
        AppointmentId::from_db(payload["appointment"].as_i64().unwrap_or(0)),
    )
    .await?;
    let day = a.starts_at.with_timezone(&p.time_zone).date_naive();
    let leave = crate::domain::schedule::resolve_local(day.and_time(at), p.time_zone);
    let intent = json!({ "intent": "plan_time", "time": at.format("%H:%M").to_string() });
    clear_question(c, p.id).await?;
    if leave <= now || leave >= a.starts_at {
        let text = at.format("%H:%M").to_string();
        return Ok(Handled {
            intent,
            changed: json!({ "ignored": text }),
            receipt: None,
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
        intent,
        json!({ "appointment_id": a.id, "leave_reminder": leave }),
        texts::render(p.language, "plan-confirm", &[("time", hhmm)]),
    ))
}

async fn pending_question(
    c: &mut Conn,
    p: ParticipantId,
    now: DateTime<Utc>,
) -> Result<Option<(String, Value)>> {
    let row = sqlx::query(
        "SELECT kind, payload FROM pending_questions WHERE participant_id = $1 AND expires_at > $2",
    )
    .bind(p.get())
    .bind(ms(now))
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let payload: String = r.try_get("payload")?;
    Ok(Some((
        r.try_get("kind")?,
        serde_json::from_str(&payload).unwrap_or(Value::Null),
    )))
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

async fn clear_question(c: &mut Conn, p: ParticipantId) -> Result<()> {
    sqlx::query("DELETE FROM pending_questions WHERE participant_id = $1")
        .bind(p.get())
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
