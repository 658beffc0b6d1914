//! SMS: the gateways (46elks, Twilio, Sinch) behind the [`Transport`]
//! trait, one module each, and GSM-7 text preparation shared by all.
//!
//! [`Transport`]: crate::channels::Transport

pub mod elks46;
pub mod gsm7;
pub mod sinch;
pub mod twilio;
pub mod webhook;

use crate::channels::SendError;
use crate::domain::OutboxId;
use crate::domain::phone::mask_numbers_in;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Classifies an HTTP status from a gateway: 429 slows down, 5xx and
/// 408 are temporary, 401/403 are permanent (credentials: an admin must
/// act), other 4xx permanent (the request itself is wrong).
pub fn classify_status(status: u16, retry_after: Option<Duration>, body: &str) -> SendError {
    let detail = |what: &str| {
        let b: String = body.chars().take(200).collect();
        format!("{what} (HTTP {status}): {b}")
    };
    match status {
        429 => SendError::RateLimited(retry_after.unwrap_or(Duration::from_secs(10))),
        408 | 500..=599 => SendError::Temporary(detail("gateway error")),
        401 | 403 => SendError::Permanent(detail("gateway refused our credentials")),
        _ => SendError::Permanent(detail("gateway rejected the message")),
    }
}

/// Classifies a transport-level failure (no HTTP answer).
pub fn classify_reqwest(e: reqwest::Error) -> SendError {
    if e.is_timeout() {
        SendError::Temporary("gateway timed out".into())
    } else {
        SendError::Temporary(format!("gateway unreachable: {}", e.without_url()))
    }
}

/// Reads a `Retry-After` header given in seconds.
pub fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Sends a prepared request to a gateway and reads its answer: the part
/// every SMS transport shares. A non-2xx answer goes through the
/// provider's `classify`; a 2xx whose body cannot be read is permanent
/// (the message may have been sent, so it must not be retried).
pub(crate) async fn exchange<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    gateway: &'static str,
    outbox_id: OutboxId,
    classify: impl Fn(u16, Option<Duration>, &str) -> SendError,
) -> Result<T, SendError> {
    let resp = request.send().await.map_err(classify_reqwest)?;
    let status = resp.status();
    let retry = retry_after(resp.headers());
    let body = resp.text().await.map_err(classify_reqwest)?;
    if !status.is_success() {
        let e = classify(status.as_u16(), retry, &body);
        tracing::warn!(gateway, outbox_id = %outbox_id, http_status = status.as_u16(), error = %e, "send refused");
        return Err(e);
    }
    serde_json::from_str(&body).map_err(|e| {
        SendError::Permanent(format!(
            "{gateway} answered HTTP {status} with an unreadable body ({}); \
             the message may have been sent, so it is not retried",
            mask_numbers_in(&e.to_string())
        ))
    })
}
