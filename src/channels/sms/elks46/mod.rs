//! 46elks (Swedish SMS operator, servers in Sweden), behind [`Transport`].
//!
//! This folder is the whole gateway: this file sends; [`webhook`] receives
//! (authentication, inbound and status bodies, status mapping, reply body).
//!
//! Endpoint: `POST {api_url}/a1/sms` (production
//! `https://api.46elks.com/a1/sms`) with HTTP Basic auth (API username,
//! API password) and form fields `from`, `to` (E.164), `message`,
//! `dontlog=message` (always: keeps the text out of 46elks' stored history)
//! and `whendelivered=<status_callback>` when configured (46elks then posts
//! `id`, `status` = sent | delivered | failed, `delivered` there; read by
//! [`webhook`]). The answer is JSON with `id`, `status` ("created"), `parts`
//! and `cost` in 1/10,000 of the account currency.
//!
//! Errors: HTTP statuses go through [`classify_status`] (429 rate limited
//! for `Retry-After`, 5xx/408 temporary, other 4xx permanent), except that
//! 403, which 46elks uses for request-level refusals with a short text body
//! ("Invalid to number", "Not enough credits"), is reported as a rejected
//! message rather than as a credentials problem; it stays permanent. 401 is
//! bad credentials (permanent). Transport failures, timeouts included, are
//! temporary ([`classify_reqwest`]). Error texts pass through
//! [`mask_numbers_in`] so no phone number reaches logs; only ids and statuses
//! are logged.
//!
//! Currency: 46elks bills in the account's currency, SEK or EUR. This
//! transport reports `"SEK"` ([`CURRENCY`]); a EUR account would need it
//! configurable.

use crate::channels::sms::{
    account_limits, classify_status, exchange, form_post, http_client, log_accepted,
    says_invalid_number,
};
use crate::channels::{Accepted, Limits, OutgoingMessage, SendError, Transport};
use crate::domain::phone::mask_numbers_in;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

pub mod webhook;

/// The gateway's name: in the webhook's path, the `sms_provider` setting
/// and logs.
pub const NAME: &str = "46elks";

/// 46elks' API base URL.
pub const DEFAULT_API_URL: &str = "https://api.46elks.com";
/// Whole-request timeout used unless a config says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The currency `cost` is reported in (the account's currency).
pub const CURRENCY: &str = "SEK";

#[derive(Clone)]
pub struct Elks46Config {
    /// Base URL without `/a1`; [`DEFAULT_API_URL`] in production. A
    /// trailing slash is tolerated.
    pub api_url: String,
    /// API username (not the login e-mail).
    pub username: String,
    pub password: String,
    /// A 46elks number in E.164 (replies reach us) or an alphanumeric
    /// sender id of at most 11 characters (no replies).
    pub from: String,
    /// Full URL 46elks posts delivery reports to (`whendelivered`); a
    /// secret in it authenticates the callback.
    pub status_callback: Option<String>,
    /// Messages a second the account may send.
    pub rate_per_sec: u32,
    /// Whole-request timeout; [`DEFAULT_TIMEOUT`] unless testing.
    pub timeout: Duration,
}

redacting_debug!(Elks46Config {
    api_url,
    username,
    password: secret,
    from,
    status_callback: if_set,
    rate_per_sec,
    timeout,
});

pub struct Elks46 {
    cfg: Elks46Config,
    client: reqwest::Client,
    url: String,
}

impl Elks46 {
    pub fn new(cfg: Elks46Config) -> Self {
        let client = http_client(cfg.timeout);
        let url = format!("{}/a1/sms", cfg.api_url.trim_end_matches('/'));
        Elks46 { cfg, client, url }
    }
}

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    parts: Option<i64>,
    #[serde(default)]
    cost: Option<i64>,
}

/// Classifies a non-2xx answer from 46elks.
fn classify(status: u16, retry: Option<Duration>, body: &str) -> SendError {
    let text = mask_numbers_in(body.trim());
    if status == 403 {
        // 46elks answers 403 for a bad recipient and for the account alike
        // ("Invalid to number", "Not enough credits"): told apart by text.
        let text: String = text.chars().take(200).collect();
        if says_invalid_number(&text) {
            return SendError::InvalidNumber(format!(
                "gateway rejected the number (HTTP 403): {text}"
            ));
        }
        return SendError::Permanent(format!("gateway rejected the message (HTTP 403): {text}"));
    }
    classify_status(status, retry, &text)
}

#[async_trait]
impl Transport for Elks46 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> Limits {
        account_limits(self.cfg.rate_per_sec)
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        let auth = (self.cfg.username.as_str(), self.cfg.password.as_str());
        let form = vec![
            ("from", self.cfg.from.as_str()),
            ("to", msg.to.as_str()),
            ("message", msg.body.as_str()),
            ("dontlog", "message"),
        ];
        let callback = self.cfg.status_callback.as_deref();
        let callback = callback.map(|cb| ("whendelivered", cb));
        let request = form_post(&self.client, &self.url, auth, form, callback);
        let created: Created = exchange(request, NAME, msg.outbox_id, classify).await?;
        log_accepted(NAME, msg.outbox_id, &created.id, created.status.as_deref());
        Ok(Accepted {
            gateway_id: created.id,
            parts: created.parts,
            currency: created.cost.map(|_| CURRENCY.to_string()),
            cost: created.cost,
        })
    }
}
