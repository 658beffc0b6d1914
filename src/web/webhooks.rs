//! Gateway webhooks: inbound SMS and delivery reports at
//! `POST /webhooks/sms/{provider}/inbound` and
//! `POST /webhooks/sms/{provider}/status`, one generic route over the
//! configured gateway's [`WebhookHandler`] (each gateway's is in its folder
//! under `channels::sms`; this file names none).
//!
//! * Only the configured provider's routes exist: the others are 404 (a
//!   secret for one gateway opens no other's door; the sandbox has none).
//! * Authenticated before anything is stored, by the gateway's
//!   `authenticate` (a shared secret of at least 32 characters, or a
//!   signature over the URL and the body); anything else gets 401 and
//!   nothing is stored.
//! * Bodies over 64 KB get 413; invalid UTF-8, missing fields and a NUL
//!   character outside the message text get 400 naming the problem (the
//!   gateway's `parse`, pure and fuzzed; a NUL in the text is dropped).
//! * Idempotent on the provider's message id (gateways retry): inbound via
//!   the inbound table's unique key, statuses because they only move
//!   forward.
//! * An SMS from an unknown number is stored only as the fact that it
//!   happened (no number, no text) and counted for the admin.
//! * A 200 carries the gateway's `reply` body.

use super::AppState;
use crate::channels::sms::webhook::{AuthError, Event, Kind, Reply, Request, WebhookHandler};
use crate::domain::{ChannelKind, FailureKind, OutboxStatus, PhoneNumber};
use crate::error::Result;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::json;

/// The SMS gateway whose webhook routes exist, and what the webhooks need
/// to authenticate callers (defined with the gateways).
pub use crate::channels::sms::{Provider as SmsProvider, WebhookConfig};

/// Webhook bodies are small; anything bigger is refused.
pub const MAX_BODY: usize = 64 * 1024;

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

async fn webhook(
    State(s): State<AppState>,
    Path((provider, kind)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = SmsProvider::from_path(&provider) else {
        return reject(
            StatusCode::NOT_FOUND,
            format!("unknown SMS provider '{provider}'"),
        );
    };
    let Some(kind) = Kind::from_path(&kind) else {
        return reject(StatusCode::NOT_FOUND, "use /inbound or /status");
    };
    if s.webhooks.provider != Some(provider) {
        return reject(
            StatusCode::NOT_FOUND,
            "no webhooks for this SMS provider here: another one is configured",
        );
    }
    let gateway = provider.webhook();
    let req = Request {
        headers: &headers,
        path_and_query: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        query: query.as_deref(),
        body: &body,
    };
    match gateway.authenticate(&s.webhooks, &req) {
        Ok(()) => {}
        // The body had to be read for a signature and could not be.
        Err(AuthError::Malformed(e)) => return reject(StatusCode::BAD_REQUEST, e.to_string()),
        Err(AuthError::NotAuthenticated) => {
            tracing::warn!(provider = %gateway.name(), "webhook refused: not authenticated");
            return reject(StatusCode::UNAUTHORIZED, "not authenticated");
        }
    }
    // Invalid UTF-8, a missing field or a NUL outside the text: 400 naming it.
    let event = match gateway.parse(kind, &body) {
        Ok(e) => e,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let result = match event {
        Event::Inbound {
            gateway_id,
            from,
            text,
        } => inbound(&s, gateway, &gateway_id, &from, &text).await,
        Event::Status { id, status, error } => {
            let kind = error.as_deref().and_then(|e| gateway.failure_kind(e));
            status_report(&s, gateway.outbox_status(&status), &id, error, kind).await
        }
    };
    match result {
        Ok(()) => ok_response(gateway.reply(kind)),
        Err(e) => e.into_response(),
    }
}

fn ok_response(reply: Reply) -> Response {
    match reply.content_type {
        Some(content_type) => {
            (StatusCode::OK, [("content-type", content_type)], reply.body).into_response()
        }
        None => StatusCode::OK.into_response(),
    }
}

async fn inbound(
    s: &AppState,
    gateway: &dyn WebhookHandler,
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
        tracing::info!(
            provider = gateway.name(),
            "inbound SMS from an unknown number"
        );
    }
    Ok(())
}

/// Records a delivery report the gateway mapped to `new`; an interim
/// state (`None`) changes nothing.
async fn status_report(
    s: &AppState,
    new: Option<OutboxStatus>,
    id: &str,
    error: Option<String>,
    kind: Option<FailureKind>,
) -> Result<()> {
    if let Some(new) = new {
        s.engine
            .delivery_receipt(ChannelKind::Sms, id, new, error, kind, Utc::now())
            .await?;
    }
    Ok(())
}
