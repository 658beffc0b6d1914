//! Gateway webhooks: inbound SMS and delivery reports from 46elks, Twilio
//! and Sinch, at `POST /webhooks/sms/{provider}/inbound` and
//! `POST /webhooks/sms/{provider}/status`.
//!
//! * Only the configured provider's routes exist: the others are 404 (a
//!   secret for one gateway opens no other's door; the sandbox has none).
//! * Authenticated before anything is read: 46elks and Sinch with the
//!   shared secret (at least [`MIN_SECRET_LEN`] characters) as the HTTP
//!   Basic password (preferred: query strings end up in proxy logs) or
//!   `?secret=`; Twilio by its `X-Twilio-Signature` (HMAC-SHA1 over the
//!   public URL and the sorted form parameters). Anything else gets 401 and
//!   nothing is stored.
//! * Bodies over 64 KB get 413; invalid UTF-8, missing fields and a NUL
//!   character outside the message text get 400 naming the problem (the
//!   parsing is `channels::sms::webhook`, pure and fuzzed; a NUL in the
//!   text is dropped).
//! * Idempotent on the provider's message id (gateways retry): inbound via
//!   the inbound table's unique key, statuses because they only move
//!   forward.
//! * An SMS from an unknown number is stored only as the fact that it
//!   happened (no number, no text) and counted for the admin.

use super::AppState;
use crate::channels::sms::webhook::{self as parse, Event, Kind, Provider};
use crate::domain::{ChannelKind, OutboxStatus, PhoneNumber};
use crate::error::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;

/// Webhook bodies are small; anything bigger is refused.
pub const MAX_BODY: usize = 64 * 1024;

/// The shortest shared secret accepted (`Config::validate` refuses to
/// start with a shorter one; a shorter one here authenticates nothing).
pub const MIN_SECRET_LEN: usize = 32;

/// The SMS gateway whose webhook routes exist: the same names as in the
/// webhook's path, so the setting `sms_provider` reads with
/// [`Provider::from_path`] (`None` for the sandbox).
pub use crate::channels::sms::webhook::Provider as SmsProvider;

/// What the webhooks need to know to authenticate callers.
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    /// The configured gateway: only its routes exist (none without one).
    pub provider: Option<SmsProvider>,
    /// Shared secret for 46elks and Sinch callbacks.
    pub secret: Option<String>,
    /// Twilio's auth token, which signs its callbacks.
    pub twilio_auth_token: Option<String>,
    /// The public base URL Twilio calls (e.g. `https://paminn.example.se`);
    /// the signature covers the full URL as Twilio saw it.
    pub public_url: Option<String>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/sms/{provider}/{kind}", post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

pub(crate) fn reject(status: StatusCode, msg: impl Into<String>) -> Response {
    metrics::counter!("paminn_webhook_rejections_total", "status" => status.as_u16().to_string())
        .increment(1);
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

/// Constant-time comparison for secrets.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
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

/// Twilio's signature: base64(HMAC-SHA1(auth token, url + key1value1key2value2...))
/// with the POST parameters sorted by name.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
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

async fn webhook(
    State(s): State<AppState>,
    Path((provider, kind)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = Provider::from_path(&provider) else {
        return reject(
            StatusCode::NOT_FOUND,
            format!("unknown SMS provider '{provider}'"),
        );
    };
    let kind = match kind.as_str() {
        "inbound" => Kind::Inbound,
        "status" => Kind::Status,
        _ => return reject(StatusCode::NOT_FOUND, "use /inbound or /status"),
    };
    if s.webhooks.provider != Some(provider) {
        return reject(
            StatusCode::NOT_FOUND,
            "no webhooks for this SMS provider here: another one is configured",
        );
    }
    let cfg = &s.webhooks;
    // 46elks and Sinch authenticate without the body: do that first.
    let shared_secret_ok = || match &cfg.secret {
        Some(secret) if secret.chars().count() >= MIN_SECRET_LEN => basic_password(&headers)
            .or_else(|| query_secret(query.as_deref()))
            .is_some_and(|given| same(&given, secret)),
        _ => false,
    };
    if provider != Provider::Twilio && !shared_secret_ok() {
        tracing::warn!(provider = %provider.name(), "webhook refused: not authenticated");
        return reject(StatusCode::UNAUTHORIZED, "not authenticated");
    }
    // Twilio signs the URL and the parameters.
    let authentic = match provider {
        Provider::Elks46 | Provider::Sinch => true,
        Provider::Twilio => {
            let form = match parse::form(&body) {
                Ok(f) => f,
                Err(e) => return reject(StatusCode::BAD_REQUEST, e.to_string()),
            };
            match (
                &cfg.twilio_auth_token,
                &cfg.public_url,
                headers.get("x-twilio-signature"),
            ) {
                (Some(token), Some(base), Some(sig)) => {
                    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
                    let url = format!("{}{}", base.trim_end_matches('/'), path_and_query);
                    sig.to_str()
                        .is_ok_and(|sig| same(sig, &twilio_signature(token, &url, &form)))
                }
                _ => false,
            }
        }
    };
    if !authentic {
        tracing::warn!(provider = %provider.name(), "webhook refused: not authenticated");
        return reject(StatusCode::UNAUTHORIZED, "not authenticated");
    }
    // Invalid UTF-8, a missing field or a NUL outside the text: 400 naming it.
    let event = match parse::parse(provider, kind, &body) {
        Ok(e) => e,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let result = match event {
        Event::Inbound {
            gateway_id,
            from,
            text,
        } => inbound(&s, provider, &gateway_id, &from, &text).await,
        Event::Status { id, status, error } => {
            status_report(&s, provider, &id, &status, error).await
        }
    };
    match result {
        Ok(()) => ok_response(provider),
        Err(e) => e.into_response(),
    }
}

fn ok_response(p: Provider) -> Response {
    match p {
        // An empty TwiML answer, so Twilio sends nothing back by itself.
        Provider::Twilio => (
            StatusCode::OK,
            [("content-type", "text/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
        )
            .into_response(),
        _ => StatusCode::OK.into_response(),
    }
}

async fn inbound(
    s: &AppState,
    p: Provider,
    gateway_id: &str,
    from: &str,
    text: &str,
) -> Result<()> {
    let now = Utc::now();
    // The number is looked up inside the reply's transaction, in the same
    // read as the rest of what the reply needs (one pool checkout, one
    // statement fewer than a separate `participants::by_phone`).
    let received = match PhoneNumber::parse(from) {
        Ok(phone) => {
            s.engine
                .receive_from_number(ChannelKind::Sms, gateway_id, &phone, text, now)
                .await?
        }
        Err(_) => None,
    };
    if received.is_none() {
        // Only the fact: no number, no text.
        s.engine
            .count_unknown_sender(ChannelKind::Sms, gateway_id, now)
            .await?;
        tracing::info!(provider = p.name(), "inbound SMS from an unknown number");
    }
    Ok(())
}

/// Maps a provider's delivery status to ours; `None` for interim states.
pub fn map_status(p: &str, status: &str) -> Option<OutboxStatus> {
    let s = status.to_ascii_lowercase();
    match (p, s.as_str()) {
        (_, "sent" | "dispatched") => Some(OutboxStatus::Sent),
        (_, "delivered" | "read") => Some(OutboxStatus::Delivered),
        (
            _,
            "failed" | "undelivered" | "aborted" | "rejected" | "expired" | "deleted" | "canceled",
        ) => Some(OutboxStatus::Failed),
        _ => None,
    }
}

async fn status_report(
    s: &AppState,
    p: Provider,
    id: &str,
    status: &str,
    error: Option<String>,
) -> Result<()> {
    if let Some(new) = map_status(p.name(), status) {
        s.engine
            .delivery_receipt(ChannelKind::Sms, id, new, error, Utc::now())
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilios_published_example() {
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
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn statuses_map_and_interim_ones_are_ignored() {
        assert_eq!(
            map_status("46elks", "delivered"),
            Some(OutboxStatus::Delivered)
        );
        assert_eq!(
            map_status("twilio", "undelivered"),
            Some(OutboxStatus::Failed)
        );
        assert_eq!(map_status("sinch", "Dispatched"), Some(OutboxStatus::Sent));
        assert_eq!(map_status("twilio", "queued"), None);
        assert_eq!(map_status("sinch", "Queued"), None);
    }
}
