//! The participant's messages as a chat (`/participants/{id}/messages`,
//! "Meddelanden"): what was sent to them (text, channel, kind, delivery
//! state in words: waiting, sent, delivered, did not arrive and why, not
//! sent and why) and what they sent (text, channel, what it was read as
//! and which appointment it was about), oldest at the top and newest at
//! the bottom, 50 to a page with "Äldre" for the page before. A text the
//! purge removed says so, with the unit's retention. Only with full access
//! to the case record (`ui::case`, the case record's gate); read and
//! audited (`messages.view`) through `Engine::messages`. No reply box:
//! one-to-one messages from staff are another feature.

use super::super::{Me, Ui, UiError, case, render, t, ta};
use super::timeline::suppress_reason;
use super::{engine_err, label, parse_id, when};
use crate::domain::access::CaseAccess;
use crate::domain::{AppointmentId, FailureKind, Language, OutboxStatus, ParticipantId};
use crate::engine::reads::{Conversation, Reading};
use crate::store::appointments::Appointment;
use crate::store::messages::{Cursor, Direction, MessageRow};
use crate::web::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new().route("/participants/{id}/messages", get(page))
}

/// One message as the page shows it.
pub struct Item {
    pub outgoing: bool,
    /// "Till Ali" / "Från Ali": who sent it, in words (not only by side).
    pub sender: String,
    /// Reminder, summons, automatic answer, message from staff, broadcast.
    pub kind: Option<String>,
    pub text: Option<String>,
    /// In place of a text: removed by the purge, or never written.
    pub note: Option<String>,
    pub channel: String,
    pub when: String,
    pub iso: String,
    /// The delivery state of a sent message, in words.
    pub state: Option<String>,
    pub state_class: &'static str,
    /// A reply's reading: what it was read as, the appointment, a task.
    pub lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/messages.html")]
struct Page {
    ui: Ui,
    id: String,
    name: String,
    items: Vec<Item>,
    /// The link to the page before, when there is one.
    older: Option<String>,
    /// This is an older page: a link to the latest.
    is_older: bool,
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    before: Option<String>,
}

async fn page(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let lang = me.lang;
    let id: ParticipantId = parse_id(&id, lang)?;
    let before: Option<Cursor> = match q.before.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(parse_id(b, lang)?),
        None => None,
    };
    // The case record's gate: 403 (and `case.denied`) without access; the
    // contact view (an assistant) has no messages either.
    let (p, access) = case(&s, &me, id, false).await?;
    if access != CaseAccess::Full {
        return Err(UiError::forbidden(lang));
    }
    let now = Utc::now();
    let conv = s
        .engine
        .messages(&me.actor(), now, p.id, before)
        .await
        .map_err(engine_err(lang))?;
    let items = items(lang, p.time_zone, &p.first_name, &conv, now);
    Ok(render(&Page {
        ui: me.ui(&format!("/participants/{}/messages", p.id)),
        id: p.id.to_string(),
        name: p.first_name.clone(),
        items,
        older: conv
            .older
            .map(|c| format!("/participants/{}/messages?before={c}#latest", p.id)),
        is_older: before.is_some(),
    }))
}

/// The page's messages in words, oldest first.
pub fn items(
    lang: Language,
    tz: Tz,
    name: &str,
    conv: &Conversation,
    now: DateTime<Utc>,
) -> Vec<Item> {
    let removed_before = now - Duration::days(conv.retention_days);
    conv.messages
        .iter()
        .map(|m| {
            let at = m.at();
            let channel = label(lang, "channel", &m.channel);
            let outgoing = m.dir == Direction::Out;
            let status = m.status.as_deref().and_then(|s| s.parse().ok());
            let removed = if conv.erased {
                t(lang, "ui-messages-erased")
            } else {
                ta(
                    lang,
                    "ui-messages-removed",
                    &[("days", conv.retention_days.to_string())],
                )
            };
            let (text, note) = match (&m.body, status) {
                (Some(b), _) => (Some(b.clone()), None),
                // Stopped or still waiting: no text was written yet.
                (None, Some(OutboxStatus::Suppressed)) => {
                    (None, Some(t(lang, "ui-messages-not-written")))
                }
                (None, Some(OutboxStatus::Pending | OutboxStatus::Sending)) => {
                    (None, Some(t(lang, "ui-messages-written-at-send")))
                }
                (None, Some(OutboxStatus::Failed)) if at >= removed_before => {
                    (None, Some(t(lang, "ui-messages-not-written")))
                }
                (None, _) => (None, Some(removed)),
            };
            if outgoing {
                let (state, state_class) = state(lang, m, status);
                Item {
                    outgoing,
                    sender: ta(lang, "ui-messages-to", &[("name", name.to_string())]),
                    kind: Some(kind(lang, m)),
                    text,
                    note,
                    channel,
                    when: when(lang, at, tz),
                    iso: at.to_rfc3339(),
                    state,
                    state_class,
                    lines: about(lang, tz, &conv.appointments, m.appointment_id)
                        .into_iter()
                        .collect(),
                }
            } else {
                let stored: Value = m
                    .intent
                    .as_deref()
                    .and_then(|i| serde_json::from_str(i).ok())
                    .unwrap_or_default();
                let reading = conv.readings.get(&m.id).cloned().unwrap_or(Reading {
                    intent: stored,
                    ..Reading::default()
                });
                Item {
                    outgoing,
                    sender: ta(lang, "ui-messages-from", &[("name", name.to_string())]),
                    kind: None,
                    text,
                    note,
                    channel,
                    when: when(lang, at, tz),
                    iso: at.to_rfc3339(),
                    state: None,
                    state_class: "",
                    lines: reading_lines(lang, tz, &conv.appointments, &reading),
                }
            }
        })
        .collect()
}

/// What a sent message was: a broadcast is marked as such.
fn kind(lang: Language, m: &MessageRow) -> String {
    let key = match (m.broadcast_id, m.purpose.as_deref()) {
        (Some(_), _) => "broadcast",
        (None, Some("reminder")) => "reminder",
        (None, Some("summons")) => "summons",
        (None, Some("receipt")) => "receipt",
        _ => "notice",
    };
    t(lang, &format!("ui-messages-kind-{key}"))
}

/// The delivery state in words, and its CSS class.
fn state(
    lang: Language,
    m: &MessageRow,
    status: Option<OutboxStatus>,
) -> (Option<String>, &'static str) {
    use OutboxStatus as S;
    let Some(status) = status else {
        return (None, "");
    };
    match status {
        S::Pending | S::Sending => (Some(t(lang, "ui-messages-state-pending")), "pending"),
        S::Sent => (Some(t(lang, "ui-messages-state-sent")), "sent"),
        S::Delivered => (Some(t(lang, "ui-messages-state-delivered")), "delivered"),
        S::Failed => {
            let why = m
                .error_kind
                .as_deref()
                .and_then(|k| k.parse::<FailureKind>().ok())
                .map(|k| failure(lang, k, m.channel.as_str()));
            let text = match why {
                Some(why) => ta(lang, "ui-messages-state-failed-why", &[("why", why)]),
                None => t(lang, "ui-messages-state-failed"),
            };
            (Some(text), "failed")
        }
        S::Suppressed => {
            // The reason is gone with an erasure.
            let text = match m.last_error.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => ta(
                    lang,
                    "ui-messages-state-suppressed-why",
                    &[("why", suppress_reason(lang, r))],
                ),
                None => t(lang, "ui-messages-state-suppressed"),
            };
            (Some(text), "failed")
        }
        S::Cancelled => (None, ""),
    }
}

/// Why a message did not arrive, in plain words.
fn failure(lang: Language, k: FailureKind, channel: &str) -> String {
    use FailureKind as K;
    let key = match k {
        K::NoAddress if channel == "telegram" => "no-chat",
        K::NoAddress => "no-number",
        K::InvalidNumber => "invalid-number",
        K::OptedOut => "opted-out",
        K::Unreachable => "unreachable",
        K::Credentials => "credentials",
        K::GaveUp => "gave-up",
        K::Rejected => "rejected",
    };
    t(lang, &format!("ui-messages-failed-{key}"))
}

/// "möte tis 8 dec 09:00".
fn appt_words(
    lang: Language,
    tz: Tz,
    appts: &HashMap<AppointmentId, Appointment>,
    id: i64,
) -> Option<String> {
    let a = appts.get(&AppointmentId::from_db(id))?;
    Some(format!(
        "{} {}",
        label(lang, "kind", a.kind),
        when(lang, a.starts_at, tz)
    ))
}

/// "Gäller: möte tis 8 dec 09:00".
fn about(
    lang: Language,
    tz: Tz,
    appts: &HashMap<AppointmentId, Appointment>,
    id: Option<i64>,
) -> Option<String> {
    let what = appt_words(lang, tz, appts, id.filter(|i| *i > 0)?)?;
    Some(ta(lang, "ui-messages-about", &[("what", what)]))
}

/// A reply's reading in words: what it was read as, the reason given,
/// the appointment, a question back, a task for a person.
pub fn reading_lines(
    lang: Language,
    tz: Tz,
    appts: &HashMap<AppointmentId, Appointment>,
    r: &Reading,
) -> Vec<String> {
    // A button tap nests the parsed intent one level down.
    let inner = if r.intent["intent"].is_object() {
        &r.intent["intent"]
    } else {
        &r.intent
    };
    let changed = &r.changed;
    let key = |k: &str| t(lang, &format!("ui-messages-intent-{k}"));
    let late = |min: Option<i64>| match min {
        Some(min) => ta(
            lang,
            "ui-messages-intent-late-min",
            &[("min", min.to_string())],
        ),
        None => key("late"),
    };
    let name = inner["intent"].as_str().unwrap_or("unknown");
    let what = match name {
        "coming" => key("coming"),
        "late" => late(inner["minutes"].as_i64()),
        "cannot" => key("cannot"),
        "stop" => key("stop"),
        "start" => key("start"),
        "help" => key("help"),
        "my_times" => key("my-times"),
        "my_data" => key("my-data"),
        "language" => ta(
            lang,
            "ui-messages-intent-language",
            &[(
                "language",
                label(
                    lang,
                    "language",
                    inner["language"].as_str().unwrap_or_default(),
                ),
            )],
        ),
        "plan_time" => ta(
            lang,
            "ui-messages-intent-plan-time",
            &[("time", inner["time"].as_str().unwrap_or_default().into())],
        ),
        // "1" or "2" to "which time?": the reply it completed.
        "choice" => match changed["reply"].as_str() {
            Some("coming") if changed["late"].as_bool() == Some(true) => {
                late(changed["late_min"].as_i64())
            }
            Some("coming") => key("coming"),
            Some("cannot") => key("cannot"),
            _ => ta(
                lang,
                "ui-messages-intent-choice",
                &[("n", inner["n"].as_i64().unwrap_or_default().to_string())],
            ),
        },
        _ => key("unknown"),
    };
    let mut lines = vec![ta(lang, "ui-messages-understood", &[("what", what)])];
    if r.intent["via"].as_str() == Some("button") {
        lines.push(t(lang, "ui-messages-via-button"));
    }
    if let Some(reason) = inner["reason"]
        .as_str()
        .or_else(|| changed["reason"].as_str())
        .filter(|x| !x.trim().is_empty())
    {
        lines.push(ta(
            lang,
            "ui-messages-reason",
            &[("reason", reason.to_string())],
        ));
    }
    if let Some([first, second]) = changed["asked_which"].as_array().map(Vec::as_slice) {
        let words = |v: &Value| {
            v.as_i64()
                .and_then(|i| appt_words(lang, tz, appts, i))
                .unwrap_or_else(|| "–".into())
        };
        lines.push(ta(
            lang,
            "ui-messages-asked-which",
            &[("first", words(first)), ("second", words(second))],
        ));
    }
    let appointment = changed["appointment_id"]
        .as_i64()
        .or(r.appointment.map(AppointmentId::get));
    lines.extend(about(lang, tz, appts, appointment));
    if changed["too_late"].as_bool() == Some(true) {
        lines.push(t(lang, "ui-messages-too-late"));
    }
    if changed["task"].as_str() == Some("not_understood") || name == "unknown" {
        lines.push(t(lang, "ui-messages-to-task"));
    }
    lines
}

/// One stored reading of each kind an inbound message can have, for the
/// tests that check each reads as words (here and on the timeline).
#[cfg(test)]
pub(super) fn sample_intents() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!({ "intent": "coming" }),
        json!({ "intent": "late" }),
        json!({ "intent": "late", "minutes": 10 }),
        json!({ "intent": "cannot", "reason": "sjuk" }),
        json!({ "via": "button", "intent": { "intent": "cannot" } }),
        json!({ "intent": "stop" }),
        json!({ "intent": "start" }),
        json!({ "intent": "help" }),
        json!({ "intent": "my_times" }),
        json!({ "intent": "my_data" }),
        json!({ "intent": "language", "language": "en" }),
        json!({ "intent": "plan_time", "time": "08:15" }),
        json!({ "intent": "choice", "n": 2 }),
        json!({ "intent": "unknown" }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(dir: Direction, id: i64, status: Option<&str>, body: Option<&str>) -> MessageRow {
        MessageRow {
            dir,
            id,
            at: crate::store::ms(Utc::now() - Duration::days(200)),
            purpose: status.map(|_| "reminder".into()),
            channel: "sms".into(),
            status: status.map(Into::into),
            body: body.map(Into::into),
            error_kind: None,
            last_error: None,
            broadcast_id: None,
            appointment_id: None,
            intent: None,
        }
    }

    fn ok(t: &str) {
        assert!(
            !t.is_empty() && !t.contains("ui-") && !t.contains('{') && !t.contains("Unknown"),
            "{t:?}"
        );
    }

    /// Every state, failure and reading reads as words in both languages.
    #[test]
    fn every_state_and_reading_has_words_in_both_languages() {
        let intents = sample_intents();
        let tz = chrono_tz::Europe::Stockholm;
        for lang in [Language::Sv, Language::En] {
            let mut seen = HashMap::new();
            for i in &intents {
                let r = Reading {
                    appointment: None,
                    intent: i.clone(),
                    changed: json!({ "too_late": true, "asked_which": [1, 2] }),
                };
                let lines = reading_lines(lang, tz, &HashMap::new(), &r);
                lines.iter().for_each(|l| ok(l));
                // Each reading has its own words (a tap reads as the word).
                if !i["via"].is_string() {
                    let first = seen.entry(lines[0].clone()).or_insert(i.clone());
                    assert_eq!(*first, *i, "{i} reads like {first}: {}", lines[0]);
                }
            }
            for k in FailureKind::ALL {
                ok(&failure(lang, *k, "sms"));
                ok(&failure(lang, *k, "telegram"));
            }
            for s in OutboxStatus::ALL {
                let m = row(Direction::Out, 1, Some(s.as_str()), Some("Hej"));
                if let (Some(text), _) = state(lang, &m, Some(*s)) {
                    ok(&text);
                }
            }
            for key in ["reminder", "summons", "receipt", "notice", "broadcast"] {
                ok(&t(lang, &format!("ui-messages-kind-{key}")));
            }
        }
    }

    #[test]
    fn a_purged_text_says_so_and_a_stopped_message_says_why() {
        let conv = Conversation {
            messages: vec![
                row(Direction::Out, 1, Some("delivered"), None),
                MessageRow {
                    last_error: Some("consent was withdrawn".into()),
                    ..row(Direction::Out, 2, Some("suppressed"), None)
                },
                MessageRow {
                    error_kind: Some("invalid_number".into()),
                    ..row(Direction::Out, 3, Some("failed"), Some("Hej"))
                },
                MessageRow {
                    broadcast_id: Some(4),
                    ..row(Direction::Out, 4, Some("sent"), Some("Kontoret är stängt"))
                },
                row(Direction::In, 5, None, None),
            ],
            older: None,
            readings: HashMap::from([(
                5,
                Reading {
                    appointment: None,
                    intent: json!({ "intent": "unknown" }),
                    changed: json!({ "task": "not_understood" }),
                },
            )]),
            appointments: HashMap::new(),
            retention_days: 90,
            erased: false,
        };
        let items = items(
            Language::Sv,
            chrono_tz::Europe::Stockholm,
            "Ali",
            &conv,
            Utc::now(),
        );
        let removed = "Texten är borttagen efter 90 dagar";
        assert_eq!(items[0].note.as_deref(), Some(removed));
        assert_eq!(items[0].state.as_deref(), Some("Levererat"));
        assert_eq!(items[0].sender, "Till Ali");
        assert_eq!(
            items[1].state.as_deref(),
            Some("Skickades inte: samtycket återkallat")
        );
        assert_ne!(items[1].note.as_deref(), Some(removed));
        assert_eq!(
            items[2].state.as_deref(),
            Some("Gick inte fram: numret fungerar inte")
        );
        assert_eq!(items[3].kind.as_deref(), Some("Utskick till flera"));
        assert_eq!(items[4].sender, "Från Ali");
        assert_eq!(items[4].note.as_deref(), Some(removed));
        assert_eq!(
            items[4].lines,
            [
                "Tolkat som: ej förstått",
                "Lämnat till lotsen som en uppgift"
            ]
        );
    }
}
