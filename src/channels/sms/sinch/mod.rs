//! Sinch SMS REST API ("XMS", regional: us / eu / au / br / ca), behind
//! [`Transport`].
//!
//! This folder is the whole gateway: this file sends; [`webhook`] receives
//! (authentication, inbound and status bodies, status mapping, reply body).
//!
//! Endpoint: `POST {api_url}/xms/v1/{service_plan_id}/batches` (e.g.
//! `https://eu.sms.api.sinch.com`; use the region the service plan lives
//! in) with `Authorization: Bearer {api_token}` and a JSON body
//! `{"from", "to": [recipient], "body", "delivery_report": "per_recipient",
//! "callback_url"?}`. `per_recipient` makes Sinch post a delivery report for
//! each status change, with `batch_id`, `recipient` and `status`; those are
//! read by [`webhook`]. A created batch answers `201` with the batch, whose
//! `id` is the batch id we keep as the gateway id. Sinch reports neither
//! parts nor cost at send time.
//!
//! Errors: 400 and 403 carry `{"code", "text"}` (400:
//! `syntax_invalid_parameter_format` for a malformed number,
//! `syntax_constraint_violation`; 403: `blocked_account`,
//! `illegal_number_type`, ...). 403 is permanent and reported with Sinch's
//! code (it is not always about credentials); everything else goes through
//! [`classify_status`]: 429 rate limited for `Retry-After`, 5xx/408
//! temporary, 401 permanent (credentials: an admin must act), other 4xx
//! permanent. Transport failures,
//! timeouts included, are temporary ([`classify_reqwest`]). Sinch's error
//! texts may quote the number, so they pass through [`mask_numbers_in`];
//! only ids, codes and statuses are logged.

use crate::channels::sms::{
    account_limits, classify_status, exchange, http_client, says_invalid_number,
};
use crate::channels::{Accepted, Limits, OutgoingMessage, SendError, Transport};
use crate::domain::phone::mask_numbers_in;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub mod webhook;

/// The gateway's name: in the webhook's path, the `sms_provider` setting
/// and logs.
pub const NAME: &str = "sinch";

/// Sinch's US region; EU accounts use `https://eu.sms.api.sinch.com`.
pub const DEFAULT_API_URL: &str = "https://us.sms.api.sinch.com";
/// Whole-request timeout used unless a config says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SinchConfig {
    /// Regional base URL without `/xms`. A trailing slash is tolerated.
    pub api_url: String,
    pub service_plan_id: String,
    pub api_token: String,
    /// A Sinch number, short code or alphanumeric sender.
    pub from: String,
    /// Full URL for this batch's delivery reports (`callback_url`); the
    /// service plan's default callback URL when `None`.
    pub status_callback: Option<String>,
    /// Messages a second the service plan may send.
    pub rate_per_sec: u32,
    /// Whole-request timeout; [`DEFAULT_TIMEOUT`] unless testing.
    pub timeout: Duration,
}

redacting_debug!(SinchConfig {
    api_url,
    service_plan_id,
    api_token: secret,
    from,
    status_callback: if_set,
    rate_per_sec,
    timeout,
});

pub struct Sinch {
    cfg: SinchConfig,
    client: reqwest::Client,
    url: String,
}

impl Sinch {
    pub fn new(cfg: SinchConfig) -> Self {
        let client = http_client(cfg.timeout);
        let url = format!(
            "{}/xms/v1/{}/batches",
            cfg.api_url.trim_end_matches('/'),
            cfg.service_plan_id
        );
        Sinch { cfg, client, url }
    }
}

#[derive(Serialize)]
struct Batch<'a> {
    from: &'a str,
    to: [&'a str; 1],
    body: &'a str,
    delivery_report: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_url: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// Classifies a non-2xx answer from Sinch.
fn classify(status: u16, retry: Option<Duration>, body: &str) -> SendError {
    let detail = match serde_json::from_str::<ApiError>(body) {
        Ok(ApiError {
            code: Some(code),
            text,
        }) => format!("{code}: {}", text.unwrap_or_default()),
        _ => body.trim().to_string(),
    };
    let detail = mask_numbers_in(&detail);
    if (400..500).contains(&status) && says_invalid_number(&detail) {
        let detail: String = detail.chars().take(200).collect();
        return SendError::InvalidNumber(format!(
            "gateway rejected the number (HTTP {status}): {detail}"
        ));
    }
    if status == 403 {
        // 403 covers the account (`blocked_account`) and the recipient
        // (`illegal_number_type`) alike: permanent, worded by Sinch's code.
        let detail: String = detail.chars().take(200).collect();
        return SendError::Permanent(format!("gateway refused the request (HTTP 403): {detail}"));
    }
    classify_status(status, retry, &detail)
}

#[async_trait]
impl Transport for Sinch {
    fn name(&self) -> &'static str {
        NAME
    }

    fn limits(&self) -> Limits {
        account_limits(self.cfg.rate_per_sec)
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        let batch = Batch {
            from: &self.cfg.from,
            to: [&msg.to],
            body: &msg.body,
            delivery_report: "per_recipient",
            callback_url: self.cfg.status_callback.as_deref(),
        };
        let request = self
            .client
            .post(&self.url)
            .bearer_auth(&self.cfg.api_token)
            .json(&batch);
        let created: Created = exchange(request, NAME, msg.outbox_id, classify).await?;
        tracing::debug!(
            gateway = NAME,
            outbox_id = %msg.outbox_id,
            gateway_id = %created.id,
            "accepted"
        );
        Ok(Accepted::id(created.id))
    }
}
