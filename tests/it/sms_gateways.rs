//! The three SMS gateway transports (46elks, Twilio, Sinch) against wiremock
//! servers that expect exactly the requests the providers document:
//! method, path, authentication header and form / JSON fields, and that
//! answer the way the providers document (success bodies, error bodies,
//! 429 with Retry-After, 5xx, and a slow answer for the timeout).
//!
//! No database: each test builds one transport and one mock server.

use base64::Engine;
use paminn::channels::sms::elks46::{Elks46, Elks46Config};
use paminn::channels::sms::sinch::{Sinch, SinchConfig};
use paminn::channels::sms::twilio::{Twilio, TwilioConfig};
use paminn::channels::{OutgoingMessage, SendError, Transport};
use paminn::domain::{ChannelKind, OutboxId, ParticipantId};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const TO: &str = "+46701234567";
const BODY: &str = "Hej Ali! Påminnelse: du har en tid imorgon kl. 09:00.";
const CALLBACK: &str = "https://paminn.example/hooks/sms/dlr?k=s3cr3t&x=1";
const SHORT_TIMEOUT: Duration = Duration::from_millis(200);

fn msg() -> OutgoingMessage {
    OutgoingMessage {
        outbox_id: OutboxId::from_db(1),
        participant_id: ParticipantId::from_db(1),
        channel: ChannelKind::Sms,
        to: TO.into(),
        body: BODY.into(),
        ask_reply: true,
        reply_token: None,
        language: paminn::domain::Language::Sv,
    }
}

fn basic(user: &str, pass: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {b64}")
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn form(body: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Matches a form body whose field `name` decodes to exactly `value`
/// (`None`: the field must be absent).
struct FormField(&'static str, Option<String>);

impl Match for FormField {
    fn matches(&self, req: &Request) -> bool {
        form(&req.body).get(self.0) == self.1.as_ref()
    }
}

fn field(name: &'static str, value: &str) -> FormField {
    FormField(name, Some(value.to_string()))
}

fn no_field(name: &'static str) -> FormField {
    FormField(name, None)
}

// ---------------------------------------------------------------- 46elks

fn elks_cfg(server: &MockServer, callback: Option<&str>) -> Elks46Config {
    Elks46Config {
        api_url: server.uri(),
        username: "u0123456789abcdef".into(),
        password: "PW-elks".into(),
        from: "+46766861004".into(),
        status_callback: callback.map(str::to_string),
        rate_per_sec: 1,
        timeout: paminn::channels::sms::elks46::DEFAULT_TIMEOUT,
    }
}

/// The request 46elks documents for `POST /a1/sms`.
fn elks_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/a1/sms"))
        .and(header(
            "authorization",
            basic("u0123456789abcdef", "PW-elks").as_str(),
        ))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("dontlog=message"))
        .and(body_string_contains("to=%2B46701234567"))
        .and(body_string_contains("from=%2B46766861004"))
        .and(field("message", BODY))
}

#[tokio::test]
async fn elks46_success_sends_documented_form_and_reads_id_parts_cost() {
    let server = MockServer::start().await;
    elks_request()
        .and(field("whendelivered", CALLBACK))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "created",
            "direction": "outgoing",
            "from": "+46766861004",
            "created": "2026-03-02T08:00:00.000000",
            "parts": 1,
            "to": TO,
            "cost": 3500,
            "dontlog": "message",
            "id": "s70df59406a1b4643b96f3f91e0bfb7b0"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = Elks46::new(elks_cfg(&server, Some(CALLBACK)));
    assert_eq!(t.name(), "46elks");
    assert_eq!(t.limits().global_per_sec, Some(1));
    assert_eq!(t.limits().per_recipient_per_sec, None);

    let a = t.send(&msg()).await.expect("accepted");
    assert_eq!(a.gateway_id, "s70df59406a1b4643b96f3f91e0bfb7b0");
    assert_eq!(a.parts, Some(1));
    assert_eq!(a.cost, Some(3500));
    assert_eq!(a.currency.as_deref(), Some("SEK"));

    let reqs = server.received_requests().await.unwrap();
    let f = form(&reqs[0].body);
    assert_eq!(f["message"], BODY, "text arrives byte for byte, å ä ö too");
    assert_eq!(f["to"], TO);
    assert_eq!(f["dontlog"], "message");
    assert_eq!(
        f.len(),
        5,
        "from, to, message, dontlog, whendelivered: {f:?}"
    );
}

#[tokio::test]
async fn elks46_without_callback_sends_no_whendelivered() {
    let server = MockServer::start().await;
    elks_request()
        .and(no_field("whendelivered"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "s1", "status": "created", "parts": 1, "cost": 3500})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let a = Elks46::new(elks_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap();
    assert_eq!(a.gateway_id, "s1");
}

#[tokio::test]
async fn elks46_invalid_number_403_is_permanent() {
    let server = MockServer::start().await;
    elks_request()
        .respond_with(ResponseTemplate::new(403).set_body_string("Invalid to number"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Elks46::new(elks_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    match e {
        SendError::InvalidNumber(s) => {
            assert!(s.contains("Invalid to number"), "{s}");
            assert!(!s.contains("4670"), "no phone number in errors: {s}");
        }
        other => panic!("expected InvalidNumber, got {other:?}"),
    }
}

#[tokio::test]
async fn elks46_401_is_permanent_and_names_credentials() {
    let server = MockServer::start().await;
    elks_request()
        .respond_with(ResponseTemplate::new(401).set_body_string("Unauthorized"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Elks46::new(elks_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Credentials(s) if s.contains("credentials")),
        "{e:?}"
    );
}

#[tokio::test]
async fn elks46_5xx_is_temporary() {
    let server = MockServer::start().await;
    elks_request()
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Elks46::new(elks_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Temporary(_)), "{e:?}");
}

#[tokio::test]
async fn elks46_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    elks_request()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_string("Too many requests"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = Elks46::new(elks_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert_eq!(e, SendError::RateLimited(Duration::from_secs(7)));
}

#[tokio::test]
async fn elks46_timeout_is_temporary() {
    let server = MockServer::start().await;
    elks_request()
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "s1", "status": "created", "parts": 1, "cost": 3500}))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = elks_cfg(&server, None);
    cfg.timeout = SHORT_TIMEOUT;
    let e = Elks46::new(cfg).send(&msg()).await.unwrap_err();
    assert!(
        matches!(&e, SendError::Temporary(s) if s.contains("timed out")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- Twilio

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

fn twilio_cfg(server: &MockServer, callback: Option<&str>) -> TwilioConfig {
    TwilioConfig {
        api_url: server.uri(),
        account_sid: SID.into(),
        auth_token: "tok-twilio".into(),
        from: "+46769440000".into(),
        status_callback: callback.map(str::to_string),
        rate_per_sec: 10,
        timeout: paminn::channels::sms::twilio::DEFAULT_TIMEOUT,
    }
}

/// The request Twilio documents for creating a Message resource.
fn twilio_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .and(header("authorization", basic(SID, "tok-twilio").as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("To=%2B46701234567"))
        .and(body_string_contains("From=%2B46769440000"))
        .and(field("Body", BODY))
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status
    }))
}

#[tokio::test]
async fn twilio_success_sends_documented_form_and_reads_sid_segments_price() {
    let server = MockServer::start().await;
    twilio_request()
        .and(field("StatusCallback", CALLBACK))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": BODY,
            "date_created": "Mon, 02 Mar 2026 08:00:00 +0000",
            "date_sent": null,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": "+46769440000",
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "2",
            "price": "-0.00750",
            "price_unit": "USD",
            "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
            "status": "queued",
            "to": TO,
            "uri": "/2010-04-01/Accounts/AC.../Messages/SM....json"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = Twilio::new(twilio_cfg(&server, Some(CALLBACK)));
    assert_eq!(t.name(), "twilio");
    assert_eq!(t.limits().global_per_sec, Some(10));
    assert_eq!(t.limits().per_recipient_per_sec, None);

    let a = t.send(&msg()).await.expect("accepted");
    assert_eq!(a.gateway_id, "SM1f0e8ae6ade43cb3c0ce4525424e404f");
    assert_eq!(a.parts, Some(2));
    assert_eq!(a.cost, Some(75), "|-0.00750| USD = 75 / 10,000");
    assert_eq!(a.currency.as_deref(), Some("USD"));

    let reqs = server.received_requests().await.unwrap();
    let f = form(&reqs[0].body);
    assert_eq!(f["Body"], BODY, "text arrives byte for byte, å ä ö too");
    assert_eq!(f["To"], TO);
    assert_eq!(f.len(), 4, "To, From, Body, StatusCallback: {f:?}");
}

#[tokio::test]
async fn twilio_price_null_at_creation_means_no_cost() {
    let server = MockServer::start().await;
    twilio_request()
        .and(no_field("StatusCallback"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM29f4f980778e4621b72df75ac82f5000",
            "status": "queued",
            "num_segments": "1",
            "price": null,
            "price_unit": "USD"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let a = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap();
    assert_eq!(a.gateway_id, "SM29f4f980778e4621b72df75ac82f5000");
    assert_eq!(a.parts, Some(1));
    assert_eq!(a.cost, None);
    assert_eq!(a.currency, None);
}

#[tokio::test]
async fn twilio_21610_is_recipient_opted_out() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(twilio_error(
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::RecipientOptedOut(s) if s.contains("21610")),
        "{e:?}"
    );
}

#[tokio::test]
async fn twilio_invalid_number_21211_is_permanent_without_the_number() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(twilio_error(
            400,
            21211,
            "The 'To' number +46701234567 is not a valid phone number.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    match e {
        SendError::InvalidNumber(s) => {
            assert!(s.contains("21211"), "{s}");
            assert!(!s.contains("4670"), "no phone number in errors: {s}");
        }
        other => panic!("expected InvalidNumber, got {other:?}"),
    }
}

#[tokio::test]
async fn twilio_not_mobile_21614_is_permanent() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(twilio_error(
            400,
            21614,
            "'To' number is not a valid mobile number",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::InvalidNumber(_)), "{e:?}");
}

#[tokio::test]
async fn twilio_401_is_permanent_and_names_credentials() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(twilio_error(401, 20003, "Authenticate"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Credentials(s) if s.contains("credentials") && s.contains("20003")),
        "{e:?}"
    );
}

#[tokio::test]
async fn twilio_5xx_is_temporary() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(twilio_error(500, 20500, "Internal Server Error"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Temporary(_)), "{e:?}");
}

#[tokio::test]
async fn twilio_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(
            twilio_error(429, 20429, "Too Many Requests").insert_header("Retry-After", "7"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = Twilio::new(twilio_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert_eq!(e, SendError::RateLimited(Duration::from_secs(7)));
}

#[tokio::test]
async fn twilio_timeout_is_temporary() {
    let server = MockServer::start().await;
    twilio_request()
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": "SM1", "status": "queued"}))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = twilio_cfg(&server, None);
    cfg.timeout = SHORT_TIMEOUT;
    let e = Twilio::new(cfg).send(&msg()).await.unwrap_err();
    assert!(
        matches!(&e, SendError::Temporary(s) if s.contains("timed out")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- Sinch

const PLAN: &str = "jd63jf88477ll123ab4567cd89012ef3";

fn sinch_cfg(server: &MockServer, callback: Option<&str>) -> SinchConfig {
    SinchConfig {
        api_url: format!("{}/", server.uri()),
        service_plan_id: PLAN.into(),
        api_token: "tok-sinch".into(),
        from: "+46769441111".into(),
        status_callback: callback.map(str::to_string),
        rate_per_sec: 30,
        timeout: paminn::channels::sms::sinch::DEFAULT_TIMEOUT,
    }
}

/// The request Sinch documents for sending a batch.
fn sinch_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!("/xms/v1/{PLAN}/batches")))
        .and(header("authorization", "Bearer tok-sinch"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({
            "from": "+46769441111",
            "to": [TO],
            "body": BODY,
            "delivery_report": "per_recipient"
        })))
}

#[tokio::test]
async fn sinch_success_sends_documented_json_and_reads_batch_id() {
    let server = MockServer::start().await;
    sinch_request()
        .and(body_partial_json(json!({ "callback_url": CALLBACK })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "01FC66621XXXXX119Z8PMV1QPQ",
            "to": [TO],
            "from": "+46769441111",
            "canceled": false,
            "body": BODY,
            "type": "mt_text",
            "created_at": "2026-03-02T08:00:00.000Z",
            "modified_at": "2026-03-02T08:00:00.000Z",
            "delivery_report": "per_recipient",
            "callback_url": CALLBACK,
            "flash_message": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    let t = Sinch::new(sinch_cfg(&server, Some(CALLBACK)));
    assert_eq!(t.name(), "sinch");
    assert_eq!(t.limits().global_per_sec, Some(30));
    assert_eq!(t.limits().per_recipient_per_sec, None);

    let a = t.send(&msg()).await.expect("accepted");
    assert_eq!(a.gateway_id, "01FC66621XXXXX119Z8PMV1QPQ");
    assert_eq!(a.parts, None);
    assert_eq!(a.cost, None);
    assert_eq!(a.currency, None);

    let reqs = server.received_requests().await.unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent["body"], BODY, "text arrives byte for byte, å ä ö too");
    assert_eq!(sent["to"], json!([TO]));
}

#[tokio::test]
async fn sinch_without_callback_sends_no_callback_url() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "01B"})))
        .expect(1)
        .mount(&server)
        .await;
    let a = Sinch::new(sinch_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap();
    assert_eq!(a.gateway_id, "01B");
    let reqs = server.received_requests().await.unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert!(sent.get("callback_url").is_none(), "{sent}");
}

#[tokio::test]
async fn sinch_invalid_number_400_is_permanent_without_the_number() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": "syntax_invalid_parameter_format",
            "text": "Invalid number or group id '+46701234567' in to field"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = Sinch::new(sinch_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    match e {
        SendError::InvalidNumber(s) => {
            assert!(s.contains("syntax_invalid_parameter_format"), "{s}");
            assert!(!s.contains("4670"), "no phone number in errors: {s}");
        }
        other => panic!("expected InvalidNumber, got {other:?}"),
    }
}

#[tokio::test]
async fn sinch_403_illegal_number_type_is_permanent() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "code": "illegal_number_type",
            "text": "Illegal number type for +46701234567"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = Sinch::new(sinch_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    match e {
        SendError::InvalidNumber(s) => {
            assert!(s.contains("illegal_number_type"), "{s}");
            assert!(!s.contains("credentials"), "not a credentials problem: {s}");
            assert!(!s.contains("4670"), "no phone number in errors: {s}");
        }
        other => panic!("expected InvalidNumber, got {other:?}"),
    }
}

#[tokio::test]
async fn sinch_401_is_permanent_and_names_credentials() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(ResponseTemplate::new(401).set_body_string(""))
        .expect(1)
        .mount(&server)
        .await;
    let e = Sinch::new(sinch_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SendError::Credentials(s) if s.contains("credentials")),
        "{e:?}"
    );
}

#[tokio::test]
async fn sinch_5xx_is_temporary() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Sinch::new(sinch_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Temporary(_)), "{e:?}");
}

#[tokio::test]
async fn sinch_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .expect(1)
        .mount(&server)
        .await;
    let e = Sinch::new(sinch_cfg(&server, None))
        .send(&msg())
        .await
        .unwrap_err();
    assert_eq!(e, SendError::RateLimited(Duration::from_secs(7)));
}

#[tokio::test]
async fn sinch_timeout_is_temporary() {
    let server = MockServer::start().await;
    sinch_request()
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "01C"}))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = sinch_cfg(&server, None);
    cfg.timeout = SHORT_TIMEOUT;
    let e = Sinch::new(cfg).send(&msg()).await.unwrap_err();
    assert!(
        matches!(&e, SendError::Temporary(s) if s.contains("timed out")),
        "{e:?}"
    );
}
