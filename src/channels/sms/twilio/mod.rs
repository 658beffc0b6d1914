//! Twilio Programmable Messaging (US; global routes), behind [`Transport`].
//!
//! This folder is the whole gateway: this file sends; [`webhook`] receives
//! (authentication, inbound and status bodies, status mapping, reply body).
//!
//! Endpoint: `POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with HTTP Basic auth (Account SID, Auth Token) and form fields `To`,
//! `From`, `Body` and, when configured, `StatusCallback` (Twilio then posts
//! `MessageSid` / `MessageStatus` there; those webhooks are signed with
//! `X-Twilio-Signature` and read by [`webhook`]). A created message answers
//! `201` with JSON holding `sid`, `status`, `num_segments` (a string) and
//! `price` / `price_unit` (`price` is usually `null` at creation and, when
//! present, a negative decimal string such as `"-0.00750"`).
//!
//! Errors come back as `{"code", "message", "more_info", "status"}` and are
//! classified by Twilio code first, then by HTTP status:
//! - `21610` (recipient replied STOP): [`SendError::RecipientOptedOut`];
//! - `21211`, `21614` (invalid / not SMS-capable `To`): permanent;
//! - `20003` (authentication): permanent, an admin must fix credentials;
//! - `20429` or HTTP 429: rate limited, for `Retry-After` seconds;
//! - HTTP 5xx / 408 and transport failures (timeouts included): temporary;
//! - anything else: [`classify_status`] (other 4xx permanent).
//!
//! Twilio's error messages echo the recipient's number ("The 'To' number
//! +4670... is not a valid phone number"), so digit runs long enough to be a
//! phone number are masked with [`mask_numbers_in`] before a text leaves
//! this module. Only ids, codes and statuses are logged.

use crate::channels::sms::{
    account_limits, classify_status, exchange, form_post, http_client, log_accepted,
};
use crate::channels::{Accepted, Limits, OutgoingMessage, SendError, Transport};
use crate::domain::phone::mask_numbers_in;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

pub mod webhook;

/// The gateway's name: in the webhook's path, the `sms_provider` setting
/// and logs.
pub const NAME: &str = "twilio";

/// Twilio's API base URL.
pub const DEFAULT_API_URL: &str = "https://api.twilio.com";
/// Whole-request timeout used unless a config says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Twilio error codes this transport treats specially.
pub mod codes {
    /// Authentication failed (wrong Account SID or Auth Token).
    pub const AUTHENTICATE: i64 = 20003;
    /// Too many concurrent requests.
    pub const TOO_MANY_REQUESTS: i64 = 20429;
    /// The `To` number is not a valid phone number.
    pub const INVALID_TO: i64 = 21211;
    /// The recipient has replied STOP to this sender.
    pub const UNSUBSCRIBED_RECIPIENT: i64 = 21610;
    /// The `To` number is not a valid mobile number (cannot receive SMS).
    pub const TO_NOT_MOBILE: i64 = 21614;
}

#[derive(Clone)]
pub struct TwilioConfig {
    /// Base URL without the `/2010-04-01` part; [`DEFAULT_API_URL`] in
    /// production. A trailing slash is tolerated.
    pub api_url: String,
    /// `AC...`; also the Basic-auth user name.
    pub account_sid: String,
    pub auth_token: String,
    /// A Twilio number in E.164 or an alphanumeric sender id (replies only
    /// reach us when this is a number).
    pub from: String,
    /// Full URL Twilio posts status callbacks to; none when `None`.
    pub status_callback: Option<String>,
    /// Messages a second the account may send.
    pub rate_per_sec: u32,
    /// Whole-request timeout; [`DEFAULT_TIMEOUT`] unless testing.
    pub timeout: Duration,
}

redacting_debug!(TwilioConfig {
    api_url,
    account_sid,
    auth_token: secret,
    from,
    status_callback: if_set,
    rate_per_sec,
    timeout,
});

pub struct Twilio {
    cfg: TwilioConfig,
    client: reqwest::Client,
    url: String,
}

impl Twilio {
    pub fn new(cfg: TwilioConfig) -> Self {
        let client = http_client(cfg.timeout);
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            cfg.api_url.trim_end_matches('/'),
            cfg.account_sid
        );
        Twilio { cfg, client, url }
    }
}

#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    num_segments: Option<serde_json::Value>,
    #[serde(default)]
    price: Option<serde_json::Value>,
    #[serde(default)]
    price_unit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// A JSON string or number as an `f64` (Twilio sends strings; be lenient).
fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// `num_segments` as parts; "0" (not yet known, Messaging Services) is none.
fn parts(v: Option<&serde_json::Value>) -> Option<i64> {
    v.and_then(number)
        .filter(|n| n.is_finite() && *n >= 1.0)
        .map(|n| n as i64)
}

/// `price` ("-0.00750") as a cost in 1/10,000 of the unit: 75.
fn cost(v: Option<&serde_json::Value>) -> Option<i64> {
    v.and_then(number)
        .filter(|n| n.is_finite())
        .map(|n| (n.abs() * 10_000.0).round() as i64)
}

/// Classifies a non-2xx answer from Twilio: by Twilio's error code first,
/// then by HTTP status.
fn classify(status: u16, retry: Option<Duration>, body: &str) -> SendError {
    let err: ApiError = serde_json::from_str(body).unwrap_or_default();
    let text = mask_numbers_in(err.message.as_deref().unwrap_or(body).trim());
    let text: String = text.chars().take(200).collect();
    match err.code {
        Some(codes::UNSUBSCRIBED_RECIPIENT) => SendError::RecipientOptedOut(format!(
            "Twilio {}: {text}",
            codes::UNSUBSCRIBED_RECIPIENT
        )),
        Some(c @ (codes::INVALID_TO | codes::TO_NOT_MOBILE)) => {
            SendError::InvalidNumber(format!("gateway rejected the number (Twilio {c}): {text}"))
        }
        Some(codes::AUTHENTICATE) => SendError::Credentials(format!(
            "gateway refused our credentials (Twilio {}, HTTP {status}): {text}",
            codes::AUTHENTICATE
        )),
        Some(codes::TOO_MANY_REQUESTS) => {
            SendError::RateLimited(retry.unwrap_or(Duration::from_secs(10)))
        }
        Some(c) => classify_status(status, retry, &format!("Twilio {c}: {text}")),
        None => classify_status(status, retry, &text),
    }
}

#[async_trait]
impl Transport for Twilio {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> Limits {
        account_limits(self.cfg.rate_per_sec)
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        let auth = (self.cfg.account_sid.as_str(), self.cfg.auth_token.as_str());
        let form = vec![
            ("To", msg.to.as_str()),
            ("From", self.cfg.from.as_str()),
            ("Body", msg.body.as_str()),
        ];
        let callback = self.cfg.status_callback.as_deref();
        let callback = callback.map(|cb| ("StatusCallback", cb));
        let request = form_post(&self.client, &self.url, auth, form, callback);
        let created: Created = exchange(request, NAME, msg.outbox_id, classify).await?;
        log_accepted(NAME, msg.outbox_id, &created.sid, created.status.as_deref());
        let cost = cost(created.price.as_ref());
        Ok(Accepted {
            gateway_id: created.sid,
            parts: parts(created.num_segments.as_ref()),
            currency: cost.and(created.price_unit),
            cost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_and_segments() {
        let p = serde_json::json!("-0.00750");
        assert_eq!(cost(Some(&p)), Some(75));
        assert_eq!(cost(Some(&serde_json::Value::Null)), None);
        assert_eq!(parts(Some(&serde_json::json!("2"))), Some(2));
        assert_eq!(parts(Some(&serde_json::json!("0"))), None);
    }
}
