//! What the SMS gateways post to our webhooks, parsed without I/O: an
//! inbound SMS or a delivery report, from 46elks and Twilio (forms) or
//! Sinch (JSON). `web::webhooks` authenticates the request first and then
//! hands the body here; the fuzz target `webhook_forms` and the proptest
//! below feed it arbitrary bytes.
//!
//! A NUL character (U+0000) cannot be stored in PostgreSQL text. In the
//! text of an SMS it carries nothing, so it is dropped; in an id, a number
//! or a status it is refused, naming the field, so the gateway sees a 400
//! rather than a 500 it would retry forever.

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Elks46,
    Twilio,
    Sinch,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Elks46, Provider::Twilio, Provider::Sinch];

    /// The provider named in the webhook's path (`46elks`, `twilio`, `sinch`).
    pub fn from_path(s: &str) -> Option<Provider> {
        match s {
            "46elks" => Some(Provider::Elks46),
            "twilio" => Some(Provider::Twilio),
            "sinch" => Some(Provider::Sinch),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Elks46 => "46elks",
            Provider::Twilio => "twilio",
            Provider::Sinch => "sinch",
        }
    }
}

/// Which webhook: an inbound SMS or a delivery report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Inbound,
    Status,
}

/// What a webhook call says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An SMS to us. `gateway_id` is `<provider>:<id>`; `from` is the
    /// sender as the gateway wrote it (with a leading `+` added for Sinch),
    /// not yet parsed as a number; `text` has no NUL.
    Inbound {
        gateway_id: String,
        from: String,
        text: String,
    },
    /// A delivery report for the message the gateway calls `id`.
    Status {
        id: String,
        status: String,
        error: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not valid UTF-8")]
    NotUtf8,
    #[error("body is not a JSON object")]
    NotJsonObject,
    #[error("missing field '{0}'")]
    Missing(&'static str),
    #[error("field '{0}' contains a NUL character (U+0000), which is not allowed")]
    Nul(&'static str),
}

/// The form parameters of a 46elks or Twilio body, in order (Twilio signs
/// them). Invalid UTF-8 is refused.
pub fn form(body: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    Ok(form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The body's fields by name: form parameters, or for Sinch the JSON
/// object's strings and numbers (and the first of `to`).
pub fn fields(p: Provider, body: &[u8]) -> Result<BTreeMap<String, String>, ParseError> {
    if p != Provider::Sinch {
        return Ok(form(body)?.into_iter().collect());
    }
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Array(a) if k == "to" => a
                    .first()
                    .and_then(Value::as_str)
                    .map(|s| (k, s.to_string())),
                _ => None,
            })
            .collect()),
        _ => Err(ParseError::NotJsonObject),
    }
}

/// A required field, refused when it holds a NUL.
fn get<'a>(f: &'a BTreeMap<String, String>, key: &'static str) -> Result<&'a str, ParseError> {
    let v = f.get(key).ok_or(ParseError::Missing(key))?;
    if v.contains('\0') {
        return Err(ParseError::Nul(key));
    }
    Ok(v)
}

/// Parses a webhook body of `p` for `kind`.
pub fn parse(p: Provider, kind: Kind, body: &[u8]) -> Result<Event, ParseError> {
    let f = fields(p, body)?;
    match kind {
        Kind::Inbound => {
            let (id_key, from_key, text_key) = match p {
                Provider::Elks46 => ("id", "from", "message"),
                Provider::Twilio => ("MessageSid", "From", "Body"),
                Provider::Sinch => ("id", "from", "body"),
            };
            let id = get(&f, id_key)?;
            let from = get(&f, from_key)?;
            let text = f.get(text_key).ok_or(ParseError::Missing(text_key))?;
            // Sinch sends numbers without the leading +.
            let from = if p == Provider::Sinch && !from.starts_with('+') {
                format!("+{from}")
            } else {
                from.to_string()
            };
            Ok(Event::Inbound {
                gateway_id: format!("{}:{id}", p.name()),
                from,
                text: text.replace('\0', ""),
            })
        }
        Kind::Status => {
            let (id_key, status_key) = match p {
                Provider::Elks46 => ("id", "status"),
                Provider::Twilio => ("MessageSid", "MessageStatus"),
                Provider::Sinch => ("batch_id", "status"),
            };
            let id = get(&f, id_key)?.to_string();
            let status = get(&f, status_key)?.to_string();
            let error = match (f.get("ErrorCode"), f.get("code")) {
                (Some(_), _) => Some(get(&f, "ErrorCode")?.to_string()),
                (None, Some(_)) => Some(get(&f, "code")?.to_string()),
                (None, None) => None,
            };
            Ok(Event::Status { id, status, error })
        }
    }
}

/// Every provider and kind over the same bytes; what the fuzz target and
/// the proptest run. Never panics; returns how many parsed, so the work is
/// not optimised away.
pub fn parse_all(body: &[u8]) -> usize {
    let mut ok = 0;
    for p in Provider::ALL {
        for kind in [Kind::Inbound, Kind::Status] {
            if let Ok(e) = parse(p, kind, body) {
                if let Event::Inbound { text, .. } = &e {
                    assert!(!text.contains('\0'));
                }
                ok += 1;
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_provider_s_inbound_and_status_fields() {
        let elks = b"id=s1&from=%2B46701234567&to=%2B46766860000&message=Kommer%21";
        assert_eq!(
            parse(Provider::Elks46, Kind::Inbound, elks),
            Ok(Event::Inbound {
                gateway_id: "46elks:s1".into(),
                from: "+46701234567".into(),
                text: "Kommer!".into()
            })
        );
        let twilio = b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003";
        assert_eq!(
            parse(Provider::Twilio, Kind::Status, twilio),
            Ok(Event::Status {
                id: "SM1".into(),
                status: "undelivered".into(),
                error: Some("30003".into())
            })
        );
        let sinch = br#"{"id": "01X", "from": "46701234567", "to": ["46766860000"], "body": "ja"}"#;
        assert_eq!(
            parse(Provider::Sinch, Kind::Inbound, sinch),
            Ok(Event::Inbound {
                gateway_id: "sinch:01X".into(),
                from: "+46701234567".into(),
                text: "ja".into()
            })
        );
        assert_eq!(
            parse(Provider::Elks46, Kind::Inbound, b"id=1&from=x"),
            Err(ParseError::Missing("message"))
        );
        assert_eq!(
            parse(Provider::Sinch, Kind::Status, b"[1]"),
            Err(ParseError::NotJsonObject)
        );
        assert_eq!(
            parse(Provider::Twilio, Kind::Inbound, b"\xff"),
            Err(ParseError::NotUtf8)
        );
    }

    #[test]
    fn a_nul_is_dropped_from_the_text_and_refused_elsewhere() {
        let e = parse(
            Provider::Elks46,
            Kind::Inbound,
            b"id=s1&from=%2B46701234567&message=Kom%00mer",
        );
        assert!(
            matches!(e, Ok(Event::Inbound { ref text, .. }) if text == "Kommer"),
            "{e:?}"
        );
        let sinch = br#"{"id": "01X", "from": "46701234567", "body": "ja\u0000"}"#;
        assert!(matches!(
            parse(Provider::Sinch, Kind::Inbound, sinch),
            Ok(Event::Inbound { ref text, .. }) if text == "ja"
        ));
        for (p, kind, body, field) in [
            (
                Provider::Elks46,
                Kind::Inbound,
                &b"id=s%001&from=%2B46701234567&message=ja"[..],
                "id",
            ),
            (
                Provider::Elks46,
                Kind::Inbound,
                b"id=s1&from=%2B467%00&message=ja",
                "from",
            ),
            (
                Provider::Twilio,
                Kind::Status,
                b"MessageSid=SM%001&MessageStatus=sent",
                "MessageSid",
            ),
            (
                Provider::Twilio,
                Kind::Status,
                b"MessageSid=SM1&MessageStatus=sent%00",
                "MessageStatus",
            ),
            (
                Provider::Twilio,
                Kind::Status,
                b"MessageSid=SM1&MessageStatus=failed&ErrorCode=3%00",
                "ErrorCode",
            ),
            (
                Provider::Sinch,
                Kind::Status,
                br#"{"batch_id": "b\u0000", "status": "Delivered"}"#,
                "batch_id",
            ),
        ] {
            assert_eq!(parse(p, kind, body), Err(ParseError::Nul(field)));
        }
    }

    proptest! {
        /// Arbitrary bytes never make a parser panic.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            parse_all(&body);
        }

        /// Forms and JSON built from arbitrary text never panic, and a
        /// text that parses never carries a NUL.
        #[test]
        fn arbitrary_fields_never_panic(
            id in "\\PC{0,10}|\u{0}",
            from in "[+0-9\u{0}a-z]{0,14}",
            text in "(\\PC|\u{0}){0,40}",
        ) {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let form = format!("id={}&from={}&message={}&MessageSid={}&From={}&Body={}&status={}&MessageStatus={}",
                enc(&id), enc(&from), enc(&text), enc(&id), enc(&from), enc(&text), enc(&text), enc(&text));
            parse_all(form.as_bytes());
            let json = serde_json::json!({"id": id, "batch_id": id, "from": from, "body": text, "status": text, "code": 1});
            parse_all(json.to_string().as_bytes());
        }

        /// Arbitrary bytes, and update-shaped JSON with arbitrary text and
        /// callback data, never make the Telegram update parser panic.
        #[test]
        fn arbitrary_telegram_updates_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            text in "(\\PC|\u{0}){0,40}",
            data in "\\PC{0,40}",
        ) {
            crate::channels::telegram::parse_update_all(&body);
            let message = serde_json::json!({
                "update_id": 1,
                "message": {
                    "message_id": 2, "date": 1_700_000_000,
                    "chat": {"id": 42, "type": "private", "first_name": "A"},
                    "from": {"id": 42, "is_bot": false, "first_name": "A"},
                    "text": text,
                }
            });
            prop_assert!(crate::channels::telegram::parse_update_all(message.to_string().as_bytes()));
            let tap = serde_json::json!({
                "update_id": 3,
                "callback_query": {
                    "id": "9", "chat_instance": "c", "data": data,
                    "from": {"id": 42, "is_bot": false, "first_name": "A"},
                }
            });
            prop_assert!(crate::channels::telegram::parse_update_all(tap.to_string().as_bytes()));
        }
    }
}
