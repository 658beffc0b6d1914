//! What Twilio posts to our webhooks, as forms: an inbound SMS
//! (`MessageSid`, `From`, `Body`, ...) or a status callback (`MessageSid`,
//! `MessageStatus` = queued | sent | delivered | undelivered | failed | ...,
//! `ErrorCode`). Every call is signed: `X-Twilio-Signature` is
//! base64(HMAC-SHA1(auth token, public URL + sorted parameters)), so the
//! form is read to authenticate, and a body that is not UTF-8 is refused
//! (400) before the signature is checked. The statuses are the shared
//! vocabulary; the answer is an empty TwiML document, so Twilio sends
//! nothing back by itself.

use super::{NAME, codes};
use crate::channels::same_secret;
use crate::channels::sms::WebhookConfig;
use crate::channels::sms::webhook::{
    AuthError, Event, Kind, ParseError, Reply, Request, WebhookHandler, form, form_fields,
    inbound_event, status_event,
};
use crate::domain::FailureKind;
use base64::Engine as _;
use hmac::{Hmac, Mac};

/// The header Twilio signs its callbacks in.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// Twilio's side of the webhooks.
#[derive(Debug, Clone, Copy)]
pub struct Webhook;

/// Twilio's signature: base64(HMAC-SHA1(auth token, url + key1value1key2value2...))
/// with the POST parameters sorted by name.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl WebhookHandler for Webhook {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The signature over the public URL (`public_url` + the path and query
    /// as received) and the form parameters, with the auth token.
    fn authenticate(&self, cfg: &WebhookConfig, req: &Request<'_>) -> Result<(), AuthError> {
        let params = form(req.body).map_err(AuthError::Malformed)?;
        match (
            &cfg.twilio_auth_token,
            &cfg.public_url,
            req.headers.get(SIGNATURE_HEADER),
        ) {
            (Some(token), Some(base), Some(sig)) => {
                let url = format!("{}{}", base.trim_end_matches('/'), req.path_and_query);
                sig.to_str()
                    .is_ok_and(|sig| same_secret(sig, &signature(token, &url, &params)))
                    .then_some(())
                    .ok_or(AuthError::NotAuthenticated)
            }
            _ => Err(AuthError::NotAuthenticated),
        }
    }

    fn parse(&self, kind: Kind, body: &[u8]) -> Result<Event, ParseError> {
        let f = form_fields(body)?;
        match kind {
            Kind::Inbound => inbound_event(NAME, &f, "MessageSid", "From", "Body"),
            Kind::Status => status_event(&f, "MessageSid", "MessageStatus"),
        }
    }

    /// Twilio's delivery error codes (`ErrorCode` in the status callback):
    /// 30005 unknown handset, 30006 landline or unreachable carrier and the
    /// send-time 21211, 21614, 21635 say the number cannot get SMS; 21610
    /// that the recipient sent STOP. 30003 (handset unreachable) is often
    /// temporary and stays an ordinary failure.
    fn failure_kind(&self, error: &str) -> Option<FailureKind> {
        match error.trim().parse::<i64>().ok()? {
            30005 | 30006 | codes::INVALID_TO | codes::TO_NOT_MOBILE | 21635 => {
                Some(FailureKind::InvalidNumber)
            }
            codes::UNSUBSCRIBED_RECIPIENT => Some(FailureKind::OptedOut),
            _ => None,
        }
    }

    fn reply(&self, _kind: Kind) -> Reply {
        Reply {
            content_type: Some("text/xml"),
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OutboxStatus;
    use reqwest::header::HeaderMap;

    #[test]
    fn delivery_error_codes_say_why_only_when_they_do() {
        let w = Webhook;
        for code in ["30005", "30006", "21211", "21614", "21635", " 30006 "] {
            assert_eq!(
                w.failure_kind(code),
                Some(FailureKind::InvalidNumber),
                "{code}"
            );
        }
        assert_eq!(w.failure_kind("21610"), Some(FailureKind::OptedOut));
        for other in ["30003", "30007", "", "abc", "3000"] {
            assert_eq!(w.failure_kind(other), None, "{other}");
        }
    }

    #[test]
    fn signature_matches_twilios_published_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    const TOKEN: &str = "twilio-token";
    const BASE: &str = "https://paminn.example.se/";
    const PATH: &str = "/webhooks/sms/twilio/inbound";
    const BODY: &[u8] = b"MessageSid=SM1&From=%2B46701234567&Body=ja";

    fn auth(cfg: &WebhookConfig, sig: Option<&str>, body: &[u8]) -> Result<(), AuthError> {
        let mut headers = HeaderMap::new();
        if let Some(sig) = sig {
            headers.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        }
        let req = Request {
            headers: &headers,
            path_and_query: PATH,
            query: None,
            body,
        };
        Webhook.authenticate(cfg, &req)
    }

    #[test]
    fn authenticates_by_the_signature_over_url_and_form() {
        let cfg = WebhookConfig {
            twilio_auth_token: Some(TOKEN.into()),
            public_url: Some(BASE.into()),
            ..Default::default()
        };
        let params = form(BODY).unwrap();
        let url = format!("https://paminn.example.se{PATH}");
        let good = signature(TOKEN, &url, &params);
        assert_eq!(auth(&cfg, Some(&good), BODY), Ok(()));
        let wrong = Err(AuthError::NotAuthenticated);
        // Signed with another token, over another body, or not at all.
        let forged = signature("wrong-token", &url, &params);
        assert_eq!(auth(&cfg, Some(&forged), BODY), wrong);
        assert_eq!(auth(&cfg, Some(&good), b"MessageSid=SM2&Body=ja"), wrong);
        assert_eq!(auth(&cfg, None, BODY), wrong);
        // No token or no public URL configured: nothing opens.
        let no_token = WebhookConfig {
            twilio_auth_token: None,
            ..cfg.clone()
        };
        assert_eq!(auth(&no_token, Some(&good), BODY), wrong);
        let no_url = WebhookConfig {
            public_url: None,
            ..cfg.clone()
        };
        assert_eq!(auth(&no_url, Some(&good), BODY), wrong);
        // The shared secret is not Twilio's way in.
        let secret_only = WebhookConfig {
            secret: Some("s3cret-for-tests-at-least-32-chars".into()),
            ..Default::default()
        };
        assert_eq!(auth(&secret_only, Some(&good), BODY), wrong);
        // A body that is not UTF-8 cannot be signed over: 400, not 401.
        assert_eq!(
            auth(&cfg, Some(&good), b"\xff"),
            Err(AuthError::Malformed(ParseError::NotUtf8))
        );
    }

    #[test]
    fn inbound_and_status_fields() {
        assert_eq!(
            Webhook.parse(Kind::Inbound, BODY),
            Ok(Event::Inbound {
                gateway_id: "twilio:SM1".into(),
                from: "+46701234567".into(),
                text: "ja".into()
            })
        );
        let twilio = b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003";
        assert_eq!(
            Webhook.parse(Kind::Status, twilio),
            Ok(Event::Status {
                id: "SM1".into(),
                status: "undelivered".into(),
                error: Some("30003".into())
            })
        );
        assert_eq!(
            Webhook.parse(Kind::Inbound, b"\xff"),
            Err(ParseError::NotUtf8)
        );
    }

    #[test]
    fn a_nul_outside_the_text_is_refused() {
        for (body, field) in [
            (&b"MessageSid=SM%001&MessageStatus=sent"[..], "MessageSid"),
            (b"MessageSid=SM1&MessageStatus=sent%00", "MessageStatus"),
            (
                b"MessageSid=SM1&MessageStatus=failed&ErrorCode=3%00",
                "ErrorCode",
            ),
        ] {
            assert_eq!(
                Webhook.parse(Kind::Status, body),
                Err(ParseError::Nul(field))
            );
        }
    }

    #[test]
    fn statuses_map_and_the_answer_is_empty_twiml() {
        assert_eq!(
            Webhook.outbox_status("undelivered"),
            Some(OutboxStatus::Failed)
        );
        assert_eq!(
            Webhook.outbox_status("delivered"),
            Some(OutboxStatus::Delivered)
        );
        assert_eq!(Webhook.outbox_status("queued"), None);
        for kind in [Kind::Inbound, Kind::Status] {
            let r = Webhook.reply(kind);
            assert_eq!(r.content_type, Some("text/xml"));
            assert!(r.body.ends_with("<Response></Response>"), "{}", r.body);
        }
    }
}
