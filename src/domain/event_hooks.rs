//! Event webhooks out (issue 19, item 1): what paminn tells a case system
//! when something happens, and how it signs and retries it. Pure: the
//! engine reads the rows, this module says what the body is, what the
//! signature is and when the next attempt is due.
//!
//! * [`HookEvent`]: the closed set of event types an endpoint can ask for.
//! * [`EndpointUrl`]: where to post; `https://` only, except plain
//!   `http://` to 127.0.0.1 or localhost when the configuration allows it
//!   (tests and the demo).
//! * [`Secret`], [`sign`]: the Standard Webhooks scheme
//!   (<https://www.standardwebhooks.com>): `webhook-signature:
//!   v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the key
//!   the base64 part of `whsec_<base64>`.
//! * [`payload`]: the JSON body from the case-record row (a journal event
//!   or a task) the delivery stands for. Ids and the participant's and the
//!   appointment's external references; the participant's own words (the
//!   reply's text and a "förhinder" reason) only when the endpoint opted
//!   in (`include_text`).
//! * [`next_attempt`]: exponential backoff with jitter, for at most
//!   [`RETRY_WINDOW`] (24 hours) after the delivery was queued (or resent);
//!   [`should_disable`]: an endpoint failing for that long is switched off.

use super::journal::JournalEvent;
use super::retry::RetryPolicy;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use std::fmt;
use std::str::FromStr;

/// The event types, as named in the body's `type` and in an endpoint's
/// filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookEvent {
    /// A participant's reply: kommer, förhinder, late or STOPP.
    ReplyReceived,
    /// Staff recorded attendance.
    AttendanceRecorded,
    /// A message to the participant failed for good.
    MessageFailed,
    /// A task for a person was created.
    TaskCreated,
    /// An appointment was created, changed, moved or cancelled.
    AppointmentChanged,
}

impl HookEvent {
    pub const ALL: &'static [HookEvent] = &[
        HookEvent::ReplyReceived,
        HookEvent::AttendanceRecorded,
        HookEvent::MessageFailed,
        HookEvent::TaskCreated,
        HookEvent::AppointmentChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::ReplyReceived => "reply.received",
            HookEvent::AttendanceRecorded => "attendance.recorded",
            HookEvent::MessageFailed => "message.failed",
            HookEvent::TaskCreated => "task.created",
            HookEvent::AppointmentChanged => "appointment.changed",
        }
    }

    /// The event a journal kind raises, as the migrations' trigger maps it
    /// (`event_hooks_journal`, 0016 and 0019); a participant's message
    /// only when its reading is one of [`REPLY_INTENTS`]. A reply staff
    /// recorded for the participant ("Svar per telefon") is a reply too.
    /// `tests/it/event_hooks.rs` checks the trigger against this for every
    /// journal kind.
    pub fn of_journal_kind(kind: &str) -> Option<HookEvent> {
        Some(match kind {
            "inbound_message" | "reply_recorded" => HookEvent::ReplyReceived,
            "attendance_recorded" => HookEvent::AttendanceRecorded,
            "delivery_failed" => HookEvent::MessageFailed,
            "appointment_created"
            | "appointment_updated"
            | "appointment_moved"
            | "appointment_cancelled" => HookEvent::AppointmentChanged,
            _ => return None,
        })
    }
}

/// The readings of a participant's message that are a `reply.received`.
pub const REPLY_INTENTS: &[&str] = &["coming", "cannot", "late", "stop"];

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookEvent::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s.trim())
            .ok_or_else(|| format!("'{}' is not an event type", s.trim()))
    }
}

/// The event types an endpoint receives; never empty. Stored as
/// `,reply.received,task.created,` so that one `LIKE '%,type,%'` in the
/// trigger finds the endpoints that want a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<HookEvent>);

impl EventFilter {
    pub fn new(mut events: Vec<HookEvent>) -> Result<Self, String> {
        events.sort();
        events.dedup();
        if events.is_empty() {
            return Err("choose at least one event type".into());
        }
        Ok(EventFilter(events))
    }

    pub fn all() -> Self {
        EventFilter(HookEvent::ALL.to_vec())
    }

    pub fn contains(&self, e: HookEvent) -> bool {
        self.0.contains(&e)
    }

    pub fn events(&self) -> &[HookEvent] {
        &self.0
    }

    /// The stored form.
    pub fn to_db(&self) -> String {
        let mut s = String::from(",");
        for e in &self.0 {
            s.push_str(e.as_str());
            s.push(',');
        }
        s
    }

    /// Reads the stored form; unknown names (a later version's) are left
    /// out.
    pub fn from_db(s: &str) -> Self {
        let mut v: Vec<HookEvent> = s.split(',').filter_map(|p| p.parse().ok()).collect();
        v.sort();
        v.dedup();
        EventFilter(v)
    }
}

/// Why an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL")]
    Invalid,
    #[error("the URL must begin with https://")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
}

/// Where an endpoint's events are posted: an absolute `https://` URL with
/// a host and no credentials in it; `http://` only to 127.0.0.1, [::1] or
/// localhost, and only when `allow_local_http` (configuration
/// `event_hooks_allow_local_http`, for tests and the demo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(s: &str, allow_local_http: bool) -> Result<Self, UrlError> {
        let u = url::Url::parse(s.trim()).map_err(|_| UrlError::Invalid)?;
        if u.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::Invalid);
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let local = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match u.scheme() {
            "https" => Ok(EndpointUrl(u)),
            "http" if allow_local_http && local => Ok(EndpointUrl(u)),
            _ => Err(UrlError::NotHttps),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL without its path and query, for lists and logs (a path can
    /// carry a receiver's own token).
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret, `whsec_<base64 of the key>`. Shown to the
/// admin once, when the endpoint is registered; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret for these random bytes (the caller draws them: the domain
    /// has no randomness of its own). 24 bytes or more.
    pub fn from_key(key: &[u8]) -> Self {
        Secret(format!("{SECRET_PREFIX}{}", B64.encode(key)))
    }

    /// A stored secret: `whsec_` and base64 of at least 16 bytes.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or("a secret begins with whsec_")?;
        let key = B64
            .decode(b)
            .map_err(|_| "a secret is base64 after whsec_")?;
        if key.len() < 16 {
            return Err("a secret has at least 16 bytes".into());
        }
        Ok(Secret(s.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        B64.decode(&self.0[SECRET_PREFIX.len()..])
            .unwrap_or_default()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

/// The `webhook-signature` header's value: `v1,` and the base64
/// HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret's key.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret.key()).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// How long the previous secret keeps signing after a rotation: a day for
/// the receiver's people to put the new one in place.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The `webhook-signature` header's value for every secret that signs
/// now, space-separated as Standard Webhooks specifies (a receiver accepts
/// the request when any one verifies): the current secret first, then the
/// previous one while a rotation's overlap lasts.
pub fn sign_all(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `webhook-id` of a delivery: the same on every attempt and on a
/// resend, so a receiver drops what it has already seen.
pub fn webhook_id(delivery: i64) -> String {
    format!("evt_{delivery}")
}

/// The case-record row a delivery stands for, as the store reads it.
#[derive(Debug, Clone)]
pub enum Source {
    Journal { kind: String, detail: Value },
    Task { id: i64, kind: String },
}

/// What a payload is built from besides its source row.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub unit_id: i64,
    pub participant_id: i64,
    pub participant_ref: Option<&'a str>,
    pub appointment_id: Option<i64>,
    pub appointment_ref: Option<&'a str>,
    pub occurred_at: DateTime<Utc>,
}

/// The body of a delivery: `{"type", "timestamp", "data"}` as the
/// Standard Webhooks spec suggests. `data` has the ids and external
/// references, and what the event says; the participant's own words
/// (`text`, `reason`) only with `include_text`. An erased or unknown
/// journal row still gives its ids. The gateway's error words are never
/// sent (they can name the number).
pub fn payload(event: HookEvent, source: &Source, s: &Subject<'_>, include_text: bool) -> Value {
    let mut data = Map::new();
    data.insert("unit_id".into(), json!(s.unit_id));
    data.insert("participant_id".into(), json!(s.participant_id));
    data.insert("participant_ref".into(), json!(s.participant_ref));
    data.insert("appointment_id".into(), json!(s.appointment_id));
    data.insert("appointment_ref".into(), json!(s.appointment_ref));
    match source {
        Source::Task { id, kind } => {
            data.insert("task_id".into(), json!(id));
            data.insert("task_kind".into(), json!(kind));
        }
        Source::Journal { kind, detail } => {
            let typed = JournalEvent::parse(kind, detail);
            describe(&mut data, typed.as_ref(), detail, include_text);
        }
    }
    json!({
        "type": event.as_str(),
        "timestamp": s.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": Value::Object(data),
    })
}

/// A reply's reading from the journal's `intent`: typed (`{"intent":
/// "cannot", "reason": …}`) or a button's (`{"via": "button", "intent":
/// {…}}`).
fn intent_of(v: &Value) -> &Value {
    if v["intent"].is_object() {
        &v["intent"]
    } else {
        v
    }
}

fn describe(
    data: &mut Map<String, Value>,
    typed: Option<&JournalEvent>,
    detail: &Value,
    include_text: bool,
) {
    let mut put = |k: &str, v: Value| {
        data.insert(k.into(), v);
    };
    match typed {
        Some(JournalEvent::InboundMessage {
            channel,
            text,
            intent,
            ..
        }) => {
            let i = intent_of(intent);
            put("reply", i["intent"].clone());
            put("channel", json!(channel));
            put("via_button", json!(intent["via"] == "button"));
            put("recorded_by_staff", json!(false));
            if i["intent"] == "late" {
                put("late_minutes", i["minutes"].clone());
            }
            if include_text {
                if i["intent"] == "cannot" {
                    put("reason", i["reason"].clone());
                }
                put("text", json!(text));
            }
        }
        // The participant told staff (phone, desk) and staff recorded it:
        // the same `reply`, no channel, no words (there were none).
        Some(JournalEvent::ReplyRecorded {
            reply, previous, ..
        }) => {
            put("reply", json!(reply));
            put("channel", Value::Null);
            put("via_button", json!(false));
            put("recorded_by_staff", json!(true));
            put("previous", json!(previous));
        }
        Some(JournalEvent::AttendanceRecorded {
            attendance,
            previous,
            ..
        }) => {
            put("attendance", json!(attendance));
            put("previous", json!(previous));
        }
        Some(JournalEvent::DeliveryFailed {
            outbox_id,
            purpose,
            channel,
            attempts,
            reported_by,
            ..
        }) => {
            put("message_id", json!(outbox_id));
            put("purpose", json!(purpose));
            put("channel", json!(channel));
            put("attempts", json!(attempts));
            put(
                "reported_by_gateway",
                json!(reported_by.as_deref() == Some("gateway")),
            );
        }
        Some(JournalEvent::AppointmentCreated {
            kind, starts_at, ..
        }) => {
            put("change", json!("created"));
            put("kind", json!(kind));
            put("starts_at", json!(starts_at));
        }
        Some(JournalEvent::AppointmentUpdated { kind }) => {
            put("change", json!("updated"));
            put("kind", json!(kind));
        }
        Some(JournalEvent::AppointmentMoved { from, to, .. }) => {
            put("change", json!("moved"));
            put("from", json!(from));
            put("starts_at", json!(to));
        }
        Some(JournalEvent::AppointmentCancelled { .. }) => {
            put("change", json!("cancelled"));
        }
        _ => {
            // Erased or unknown: the ids only.
            let _ = detail;
        }
    }
}

/// How long a delivery is retried after it was queued (or resent), and
/// how long an endpoint may fail before it is switched off.
pub const RETRY_WINDOW: Duration = Duration::hours(24);

/// The backoff between attempts: 30 s doubling to at most 2 hours, with
/// jitter (±20 %, `domain::retry`).
pub const BACKOFF: RetryPolicy = RetryPolicy {
    max_attempts: i64::MAX,
    base: Duration::seconds(30),
    cap: Duration::hours(2),
};

/// When to try again after the `attempts`-th failed attempt at `now`, or
/// `None` when the delivery has been retried for [`RETRY_WINDOW`] since
/// `retry_from` (it is given up). The last attempt is made at the end of
/// the window at the latest.
pub fn next_attempt(
    attempts: i64,
    jitter: f64,
    retry_from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let end = retry_from + RETRY_WINDOW;
    if now >= end {
        return None;
    }
    Some((now + BACKOFF.delay(attempts, jitter)).min(end))
}

/// Whether an endpoint failing since `failing_since` has failed for a day.
pub fn should_disable(failing_since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - failing_since >= RETRY_WINDOW
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_times::utc;
    use proptest::prelude::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The reference libraries' vector (standard-webhooks / Svix tests:
        // `testSignFunctionWorks`), so a receiver's existing library
        // accepts what paminn sends.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_each_on_its_own() {
        let old = Secret::from_key(&[1; 24]);
        let new = Secret::from_key(&[2; 24]);
        let both = sign_all(&[&new, &old], "evt_1", 1_700_000_000, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(
            parts,
            [
                sign(&new, "evt_1", 1_700_000_000, b"{}"),
                sign(&old, "evt_1", 1_700_000_000, b"{}")
            ]
        );
        assert_ne!(parts[0], parts[1]);
        assert_eq!(sign_all(&[&new], "evt_1", 1_700_000_000, b"{}"), parts[0]);
    }

    #[test]
    fn secrets_are_whsec_base64_and_hidden_in_debug() {
        let s = Secret::from_key(&[7u8; 32]);
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(Secret::parse(s.expose()).unwrap(), s);
        assert!(!format!("{s:?}").contains(&s.expose()[6..]));
        assert!(Secret::parse("abc").is_err());
        assert!(Secret::parse("whsec_AAAA").is_err());
        assert!(Secret::parse("whsec_!!").is_err());
    }

    #[test]
    fn urls_are_https_unless_local_http_is_allowed() {
        assert!(EndpointUrl::parse("https://case.example.se/hooks", false).is_ok());
        assert_eq!(
            EndpointUrl::parse("http://case.example.se/hooks", true),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            EndpointUrl::parse("http://127.0.0.1:8080/h", false),
            Err(UrlError::NotHttps)
        );
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/h", true).is_ok());
        assert!(EndpointUrl::parse("http://localhost/h", true).is_ok());
        assert_eq!(
            EndpointUrl::parse("http://127.0.0.1.evil.example/h", true),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            EndpointUrl::parse("ftp://x/", true),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            EndpointUrl::parse("not a url", true),
            Err(UrlError::Invalid)
        );
        assert_eq!(
            EndpointUrl::parse("https://u:p@x.example/", false),
            Err(UrlError::Credentials)
        );
        assert_eq!(
            EndpointUrl::parse("https://x.example/a/secret?t=1", false)
                .unwrap()
                .origin(),
            "https://x.example"
        );
    }

    #[test]
    fn filters_round_trip_and_are_never_empty() {
        let f = EventFilter::new(vec![HookEvent::TaskCreated, HookEvent::ReplyReceived]).unwrap();
        assert_eq!(f.to_db(), ",reply.received,task.created,");
        assert_eq!(EventFilter::from_db(&f.to_db()), f);
        assert!(EventFilter::new(vec![]).is_err());
        assert_eq!(
            EventFilter::from_db(&EventFilter::all().to_db()),
            EventFilter::all()
        );
        for e in HookEvent::ALL {
            assert_eq!(e.as_str().parse::<HookEvent>().unwrap(), *e);
        }
    }

    fn subject() -> Subject<'static> {
        Subject {
            unit_id: 1,
            participant_id: 7,
            participant_ref: Some("T-42"),
            appointment_id: Some(3),
            appointment_ref: None,
            occurred_at: utc(2026, 12, 7, 9, 0),
        }
    }

    #[test]
    fn a_reply_carries_its_reading_and_the_words_only_when_opted_in() {
        let src = Source::Journal {
            kind: "inbound_message".into(),
            detail: json!({"inbound_id": 5, "channel": "sms", "text": "förhinder, sjuk",
                           "intent": {"intent": "cannot", "reason": "sjuk"}, "changed": {}}),
        };
        let e = HookEvent::of_journal_kind("inbound_message").unwrap();
        let p = payload(e, &src, &subject(), false);
        assert_eq!(p["type"], "reply.received");
        assert_eq!(p["timestamp"], "2026-12-07T09:00:00.000Z");
        assert_eq!(p["data"]["reply"], "cannot");
        assert_eq!(p["data"]["participant_ref"], "T-42");
        assert_eq!(p["data"]["appointment_id"], 3);
        assert!(p["data"].get("text").is_none() && p["data"].get("reason").is_none());
        assert!(!p.to_string().contains("sjuk"));
        let p = payload(e, &src, &subject(), true);
        assert_eq!(p["data"]["text"], "förhinder, sjuk");
        assert_eq!(p["data"]["reason"], "sjuk");
    }

    #[test]
    fn a_reply_staff_recorded_is_a_reply_without_channel_or_words() {
        let src = Source::Journal {
            kind: "reply_recorded".into(),
            detail: json!({"reply": "coming", "previous": "cannot", "closed_tasks": 1}),
        };
        let e = HookEvent::of_journal_kind("reply_recorded").unwrap();
        assert_eq!(e, HookEvent::ReplyReceived);
        for include_text in [false, true] {
            let p = payload(e, &src, &subject(), include_text);
            assert_eq!(p["type"], "reply.received");
            assert_eq!(p["data"]["reply"], "coming");
            assert_eq!(p["data"]["previous"], "cannot");
            assert_eq!(p["data"]["recorded_by_staff"], true);
            assert_eq!(p["data"]["via_button"], false);
            assert!(p["data"]["channel"].is_null());
            assert!(p["data"].get("text").is_none(), "{p}");
        }
        // A texted reply says it was not recorded by staff.
        let texted = Source::Journal {
            kind: "inbound_message".into(),
            detail: json!({"channel": "sms", "text": "kommer", "intent": {"intent": "coming"}}),
        };
        let p = payload(e, &texted, &subject(), false);
        assert_eq!(p["data"]["recorded_by_staff"], false);
        assert_eq!(p["data"]["channel"], "sms");
    }

    #[test]
    fn a_button_reply_and_a_late_one() {
        let src = Source::Journal {
            kind: "inbound_message".into(),
            detail: json!({"text": "x", "intent": {"via": "button", "intent": {"intent": "coming"}}}),
        };
        let p = payload(HookEvent::ReplyReceived, &src, &subject(), false);
        assert_eq!(p["data"]["reply"], "coming");
        assert_eq!(p["data"]["via_button"], true);
        let src = Source::Journal {
            kind: "inbound_message".into(),
            detail: json!({"text": "x", "intent": {"intent": "late", "minutes": 15}}),
        };
        let p = payload(HookEvent::ReplyReceived, &src, &subject(), false);
        assert_eq!(p["data"]["reply"], "late");
        assert_eq!(p["data"]["late_minutes"], 15);
    }

    #[test]
    fn tasks_appointments_attendance_and_failures() {
        let p = payload(
            HookEvent::TaskCreated,
            &Source::Task {
                id: 9,
                kind: "cannot".into(),
            },
            &subject(),
            true,
        );
        assert_eq!(
            (p["data"]["task_id"].clone(), p["data"]["task_kind"].clone()),
            (json!(9), json!("cannot"))
        );
        let moved = Source::Journal {
            kind: "appointment_moved".into(),
            detail: json!({"from": "2026-12-08T09:00:00Z", "to": "2026-12-09T09:00:00Z", "reminders_cancelled": 2}),
        };
        let p = payload(HookEvent::AppointmentChanged, &moved, &subject(), false);
        assert_eq!(p["data"]["change"], "moved");
        assert_eq!(p["data"]["starts_at"], "2026-12-09T09:00:00Z");
        let att = Source::Journal {
            kind: "attendance_recorded".into(),
            detail: json!({"attendance": "attended", "previous": "unknown", "closed_tasks": 0}),
        };
        let p = payload(HookEvent::AttendanceRecorded, &att, &subject(), false);
        assert_eq!(p["data"]["attendance"], "attended");
        let failed = Source::Journal {
            kind: "delivery_failed".into(),
            detail: json!({"outbox_id": 4, "purpose": "reminder", "channel": "sms",
                           "error": "invalid number +46701234567", "attempts": 1}),
        };
        let p = payload(HookEvent::MessageFailed, &failed, &subject(), true);
        assert_eq!(p["data"]["message_id"], 4);
        // The gateway's words can name the number: never sent.
        assert!(!p.to_string().contains("4670"));
        // An erased row: the ids only.
        let erased = Source::Journal {
            kind: "inbound_message".into(),
            detail: json!({}),
        };
        let p = payload(HookEvent::ReplyReceived, &erased, &subject(), true);
        assert_eq!(p["data"]["participant_id"], 7);
    }

    #[test]
    fn retries_end_a_day_after_queueing() {
        let t0 = utc(2026, 12, 7, 9, 0);
        assert_eq!(
            next_attempt(1, 1.0, t0, t0),
            Some(t0 + Duration::seconds(30))
        );
        assert_eq!(
            next_attempt(2, 1.0, t0, t0),
            Some(t0 + Duration::seconds(60))
        );
        assert_eq!(
            next_attempt(40, 1.0, t0, t0 + Duration::hours(23)),
            Some(t0 + RETRY_WINDOW)
        );
        assert_eq!(next_attempt(41, 1.0, t0, t0 + RETRY_WINDOW), None);
        assert!(!should_disable(t0, t0 + Duration::hours(23)));
        assert!(should_disable(t0, t0 + RETRY_WINDOW));
    }

    proptest! {
        #[test]
        fn delays_grow_and_every_attempt_falls_inside_the_day(
            a in 1i64..200, j in 0.0f64..2.0, elapsed in 0i64..(25 * 3600)
        ) {
            let t0 = utc(2026, 12, 7, 9, 0);
            let now = t0 + Duration::seconds(elapsed);
            prop_assert!(BACKOFF.delay(a + 1, 1.0) >= BACKOFF.delay(a, 1.0));
            prop_assert!(BACKOFF.delay(a, j) <= Duration::hours(2) * 12 / 10);
            match next_attempt(a, j, t0, now) {
                Some(t) => {
                    prop_assert!(t > now);
                    prop_assert!(t <= t0 + RETRY_WINDOW);
                }
                None => prop_assert!(now >= t0 + RETRY_WINDOW),
            }
        }

        #[test]
        fn a_changed_body_id_or_time_changes_the_signature(
            body in proptest::collection::vec(any::<u8>(), 0..64), ts in 0i64..4_000_000_000
        ) {
            let s = Secret::from_key(&[1u8; 24]);
            let sig = sign(&s, "evt_1", ts, &body);
            prop_assert!(sig.starts_with("v1,"));
            prop_assert_ne!(&sig, &sign(&s, "evt_2", ts, &body));
            prop_assert_ne!(&sig, &sign(&s, "evt_1", ts + 1, &body));
            let mut other = body.clone();
            other.push(b' ');
            prop_assert_ne!(sig, sign(&s, "evt_1", ts, &other));
        }
    }
}
