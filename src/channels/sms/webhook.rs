//! What every SMS gateway's webhook shares: the [`WebhookHandler`] trait
//! each gateway implements in its own folder (`elks46/webhook.rs`, ...),
//! the request it is handed, what it answers ([`Event`], [`AuthError`],
//! [`ParseError`], [`Reply`]) and the pieces more than one gateway uses:
//! form parsing, required fields with the NUL rule, the shared-secret check
//! and the delivery-status vocabulary. `web::webhooks` is one generic route
//! over the trait; the fuzz target `webhook_forms` and the proptests below
//! feed [`parse_all`] arbitrary bytes. Nothing here names a gateway
//! (`tests/it/invariants.rs` checks it).
//!
//! A NUL character (U+0000) cannot be stored in PostgreSQL text. In the
//! text of an SMS it carries nothing, so it is dropped; in an id, a number
//! or a status it is refused, naming the field, so the gateway sees a 400
//! rather than a 500 it would retry forever.

use super::{Provider, WebhookConfig};
use crate::channels::same_secret;
use crate::domain::{FailureKind, OutboxStatus};
use base64::Engine as _;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;

/// The shortest shared secret accepted (`Config::validate` refuses to
/// start with a shorter one; a shorter one here authenticates nothing).
pub const MIN_SECRET_LEN: usize = 32;

/// Which webhook: an inbound SMS or a delivery report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Inbound,
    Status,
}

impl Kind {
    /// The kind named by the webhook path's last segment.
    pub fn from_path(s: &str) -> Option<Kind> {
        match s {
            "inbound" => Some(Kind::Inbound),
            "status" => Some(Kind::Status),
            _ => None,
        }
    }
}

/// What a webhook call says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An SMS to us. `gateway_id` is `<provider>:<id>`; `from` is the
    /// sender as the gateway wrote it (with a leading `+` added where the
    /// gateway leaves it out), not yet parsed as a number; `text` has no NUL.
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

/// Why a webhook call is refused before its body is read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No or wrong credentials: 401, nothing stored.
    #[error("not authenticated")]
    NotAuthenticated,
    /// The body had to be read to check a signature and could not be
    /// (invalid UTF-8): 400 naming the problem.
    #[error(transparent)]
    Malformed(ParseError),
}

/// A webhook request as it arrived, for [`WebhookHandler::authenticate`].
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    /// The path and query as received (a signature may cover them).
    pub path_and_query: &'a str,
    /// The raw query string, without the `?`.
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// What a gateway wants in the body of a 200: nothing, or a document of
/// its own (Twilio's empty TwiML, so it sends nothing back by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// `None`: an empty body with no content type.
    pub content_type: Option<&'static str>,
    pub body: &'static str,
}

impl Reply {
    /// An empty 200.
    pub const EMPTY: Reply = Reply {
        content_type: None,
        body: "",
    };
}

/// One SMS gateway's side of the webhooks: who may call, what the body
/// says, what a delivery status means and what to answer. Implemented once
/// per gateway, in its folder; looked up by [`Provider::webhook`].
pub trait WebhookHandler: Sync {
    /// The gateway's name in the webhook's path and in logs.
    fn name(&self) -> &'static str;

    /// Checks the caller before anything is stored. By default the
    /// [`shared_secret`] (a gateway that signs its calls overrides it).
    fn authenticate(&self, cfg: &WebhookConfig, req: &Request<'_>) -> Result<(), AuthError> {
        shared_secret(cfg.secret.as_deref(), req)
    }

    /// Reads a body of `kind`; pure, never panics.
    fn parse(&self, kind: Kind, body: &[u8]) -> Result<Event, ParseError>;

    /// Our status for the gateway's delivery status; `None` for interim
    /// states. The default is the vocabulary the gateways share
    /// ([`map_status`]); a gateway whose word means something else there
    /// overrides it.
    fn outbox_status(&self, status: &str) -> Option<OutboxStatus> {
        map_status(status)
    }

    /// Why a delivery failed, from the error code or text of a failed
    /// delivery report, when the gateway's words say it (the number cannot
    /// get SMS, the recipient opted out); `None` otherwise, and by default.
    fn failure_kind(&self, _error: &str) -> Option<FailureKind> {
        None
    }

    /// The body of the 200 that acknowledges a call of `kind`.
    fn reply(&self, _kind: Kind) -> Reply {
        Reply::EMPTY
    }
}

/// The shared-secret check: the configured secret (at least
/// [`MIN_SECRET_LEN`] characters) as the HTTP Basic password (preferred:
/// query strings end up in proxy logs) or as `?secret=`. Needs no body.
pub fn shared_secret(secret: Option<&str>, req: &Request<'_>) -> Result<(), AuthError> {
    let ok = match secret {
        Some(secret) if secret.chars().count() >= MIN_SECRET_LEN => basic_password(req.headers)
            .or_else(|| query_secret(req.query))
            .is_some_and(|given| same_secret(&given, secret)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::NotAuthenticated)
    }
}

fn basic_password(headers: &HeaderMap) -> Option<String> {
    let h = headers.get("authorization")?.to_str().ok()?;
    let b64 = h.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    s.split_once(':').map(|(_, p)| p.to_string())
}

fn query_secret(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
}

/// A body's fields by name.
pub type Fields = BTreeMap<String, String>;

/// The form parameters of a body, in order (a signature may cover them).
/// Invalid UTF-8 is refused.
pub fn form(body: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    Ok(form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The form parameters of a body by name.
pub fn form_fields(body: &[u8]) -> Result<Fields, ParseError> {
    Ok(form(body)?.into_iter().collect())
}

/// A required field, refused when it holds a NUL.
pub fn required<'a>(f: &'a Fields, key: &'static str) -> Result<&'a str, ParseError> {
    let v = f.get(key).ok_or(ParseError::Missing(key))?;
    if v.contains('\0') {
        return Err(ParseError::Nul(key));
    }
    Ok(v)
}

/// An inbound SMS from a gateway's fields: id and sender required (no
/// NUL), the text required with any NUL dropped; the id is prefixed with
/// the gateway's name.
pub fn inbound_event(
    gateway: &str,
    f: &Fields,
    id_key: &'static str,
    from_key: &'static str,
    text_key: &'static str,
) -> Result<Event, ParseError> {
    let id = required(f, id_key)?;
    let from = required(f, from_key)?;
    let text = f.get(text_key).ok_or(ParseError::Missing(text_key))?;
    Ok(Event::Inbound {
        gateway_id: format!("{gateway}:{id}"),
        from: from.to_string(),
        text: text.replace('\0', ""),
    })
}

/// A delivery report from a gateway's fields: id and status required (no
/// NUL). The error code is read under either name gateways give it
/// (`ErrorCode`, else `code`), whichever gateway posted the report, as it
/// was before each gateway had its own folder.
pub fn status_event(
    f: &Fields,
    id_key: &'static str,
    status_key: &'static str,
) -> Result<Event, ParseError> {
    let id = required(f, id_key)?.to_string();
    let status = required(f, status_key)?.to_string();
    let error = match (f.get("ErrorCode"), f.get("code")) {
        (Some(_), _) => Some(required(f, "ErrorCode")?.to_string()),
        (None, Some(_)) => Some(required(f, "code")?.to_string()),
        (None, None) => None,
    };
    Ok(Event::Status { id, status, error })
}

/// The delivery-status words the gateways share, case-insensitive, mapped
/// to ours; `None` for interim states (queued, sending, accepted, ...).
pub fn map_status(status: &str) -> Option<OutboxStatus> {
    match status.to_ascii_lowercase().as_str() {
        "sent" | "dispatched" => Some(OutboxStatus::Sent),
        "delivered" | "read" => Some(OutboxStatus::Delivered),
        "failed" | "undelivered" | "aborted" | "rejected" | "expired" | "deleted" | "canceled" => {
            Some(OutboxStatus::Failed)
        }
        _ => None,
    }
}

/// Every gateway and kind over the same bytes; what the fuzz target and
/// the proptest run. Never panics; returns how many parsed, so the work is
/// not optimised away.
pub fn parse_all(body: &[u8]) -> usize {
    let mut ok = 0;
    for p in Provider::ALL {
        for kind in [Kind::Inbound, Kind::Status] {
            if let Ok(e) = p.webhook().parse(kind, body) {
                if let Event::Inbound { text, .. } = &e {
                    assert!(!text.contains('\0'));
                }
                ok += 1;
            }
        }
    }
    ok
}

/// The test every shared-secret gateway runs on its handler: the secret
/// opens as the HTTP Basic password or `?secret=`, nothing else does, and
/// nothing opens when no secret is configured.
#[cfg(test)]
pub(crate) fn assert_shared_secret_only(h: &dyn WebhookHandler) {
    const SECRET: &str = "s3cret-for-tests-at-least-32-chars";
    let basic = |password: &str| {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("paminn:{password}"));
        h.insert("authorization", format!("Basic {v}").parse().unwrap());
        h
    };
    let cfg = WebhookConfig {
        secret: Some(SECRET.into()),
        ..Default::default()
    };
    let path = format!("/webhooks/sms/{}/inbound", h.name());
    let auth = |cfg: &WebhookConfig, headers: &HeaderMap, query: Option<&str>| {
        let req = Request {
            headers,
            path_and_query: &path,
            query,
            body: b"",
        };
        h.authenticate(cfg, &req)
    };
    let none = HeaderMap::new();
    assert_eq!(auth(&cfg, &basic(SECRET), None), Ok(()));
    let q = format!("secret={SECRET}");
    assert_eq!(auth(&cfg, &none, Some(&q)), Ok(()));
    let wrong = Err(AuthError::NotAuthenticated);
    assert_eq!(auth(&cfg, &basic("guess"), None), wrong);
    assert_eq!(auth(&cfg, &none, Some("secret=guess")), wrong);
    assert_eq!(auth(&cfg, &none, None), wrong);
    // No secret configured: nothing opens.
    let unset = WebhookConfig::default();
    assert_eq!(auth(&unset, &basic(""), Some("secret=")), wrong);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_gateway_is_found_by_its_path_name() {
        for p in Provider::ALL {
            assert_eq!(Provider::from_path(p.name()), Some(p));
            assert_eq!(p.webhook().name(), p.name());
        }
        assert_eq!(Provider::from_path("sandbox"), None);
        assert_eq!(Kind::from_path("inbound"), Some(Kind::Inbound));
        assert_eq!(Kind::from_path("status"), Some(Kind::Status));
        assert_eq!(Kind::from_path("other"), None);
    }

    #[test]
    fn the_shared_status_words_map_and_interim_ones_are_ignored() {
        assert_eq!(map_status("delivered"), Some(OutboxStatus::Delivered));
        assert_eq!(map_status("Dispatched"), Some(OutboxStatus::Sent));
        assert_eq!(map_status("undelivered"), Some(OutboxStatus::Failed));
        assert_eq!(map_status("queued"), None);
    }

    #[test]
    fn a_shared_secret_shorter_than_the_minimum_opens_nothing() {
        let headers = HeaderMap::new();
        for weak in ["", "short"] {
            let query = format!("secret={weak}");
            let req = Request {
                headers: &headers,
                path_and_query: "/",
                query: Some(&query),
                body: b"",
            };
            assert_eq!(
                shared_secret(Some(weak), &req),
                Err(AuthError::NotAuthenticated)
            );
        }
        let req = Request {
            headers: &headers,
            path_and_query: "/",
            query: None,
            body: b"",
        };
        assert_eq!(shared_secret(None, &req), Err(AuthError::NotAuthenticated));
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
