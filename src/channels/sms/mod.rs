//! SMS: the gateways (46elks, Twilio, Sinch), one folder each, owning
//! both directions: `mod.rs` sends (the [`Transport`]) and `webhook.rs`
//! receives (the [`WebhookHandler`]: authentication, inbound and status
//! parsing, status mapping, reply body). This module is the registry of
//! gateways ([`Provider`]) and their webhook settings ([`WebhookConfig`]),
//! plus what every transport shares (HTTP status classification, the
//! request/answer exchange); `webhook` is what every webhook shares and
//! `gsm7` the text preparation for all.
//!
//! Adding a gateway: a folder like `elks46/`, a variant here, its settings.
//!
//! [`Transport`]: crate::channels::Transport
//! [`WebhookHandler`]: webhook::WebhookHandler

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
use webhook::WebhookHandler;

/// An SMS gateway paminn can be configured for: the one whose webhook
/// routes exist (setting `sms_provider`, read with [`Provider::from_path`];
/// `None` for the sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Elks46,
    Twilio,
    Sinch,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Elks46, Provider::Twilio, Provider::Sinch];

    /// The gateway's webhook side, implemented in its folder.
    pub fn webhook(self) -> &'static dyn WebhookHandler {
        match self {
            Provider::Elks46 => &elks46::webhook::Webhook,
            Provider::Twilio => &twilio::webhook::Webhook,
            Provider::Sinch => &sinch::webhook::Webhook,
        }
    }

    /// The provider named in the webhook's path (`46elks`, `twilio`, `sinch`).
    pub fn from_path(s: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The name in the webhook's path, the setting and logs.
    pub fn name(self) -> &'static str {
        self.webhook().name()
    }
}

/// What the webhooks need to know to authenticate callers. Its `Debug`
/// says whether a secret is set, never the secret.
#[derive(Clone, Default)]
pub struct WebhookConfig {
    /// The configured gateway: only its routes exist (none without one).
    pub provider: Option<Provider>,
    /// Shared secret for 46elks and Sinch callbacks.
    pub secret: Option<String>,
    /// Twilio's auth token, which signs its callbacks.
    pub twilio_auth_token: Option<String>,
    /// The public base URL a gateway calls (e.g.
    /// `https://paminn.example.se`); Twilio's signature covers the full URL
    /// as Twilio saw it.
    pub public_url: Option<String>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("WebhookConfig")
            .field("provider", &self.provider)
            .field("secret", &set(&self.secret))
            .field("twilio_auth_token", &set(&self.twilio_auth_token))
            .field("public_url", &self.public_url)
            .finish()
    }
}

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
        401 | 403 => SendError::Credentials(detail("gateway refused our credentials")),
        _ => SendError::Permanent(detail("gateway rejected the message")),
    }
}

/// Whether a gateway's error text says the number cannot get SMS: the
/// wordings 46elks and Sinch use (Twilio says it with a code). Read here,
/// once, where the gateway answers; what is stored is the kind.
pub fn says_invalid_number(text: &str) -> bool {
    const MARKERS: &[&str] = &[
        "invalid to number",
        "not a valid phone number",
        "not a valid mobile number",
        "syntax_invalid_parameter_format",
        "illegal_number_type",
    ];
    let l = text.to_lowercase();
    MARKERS.iter().any(|m| l.contains(m))
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

/// The HTTP client a gateway sends with: rustls and a whole-request
/// timeout.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client with rustls and a timeout always builds")
}

/// A gateway's limits: the account's rate across all recipients, none per
/// recipient.
pub(crate) fn account_limits(rate_per_sec: u32) -> crate::channels::Limits {
    crate::channels::Limits {
        global_per_sec: Some(rate_per_sec),
        per_recipient_per_sec: None,
    }
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

/// A form post with HTTP Basic auth, and the status callback (under the
/// gateway's own field name) when one is configured: how Twilio and 46elks
/// are asked to send.
pub(crate) fn form_post<'a>(
    client: &reqwest::Client,
    url: &str,
    (user, password): (&str, &str),
    mut form: Vec<(&'a str, &'a str)>,
    callback: Option<(&'a str, &'a str)>,
) -> reqwest::RequestBuilder {
    form.extend(callback);
    client
        .post(url)
        .basic_auth(user, Some(password))
        .form(&form)
}

/// Logs a message the gateway took (ids and its status only).
pub(crate) fn log_accepted(
    gateway: &'static str,
    outbox_id: OutboxId,
    gateway_id: &str,
    status: Option<&str>,
) {
    let status = status.unwrap_or("?");
    tracing::debug!(gateway, outbox_id = %outbox_id, gateway_id, status, "accepted");
}

#[cfg(test)]
mod invalid_number_tests {
    use super::says_invalid_number;

    #[test]
    fn the_gateways_words_for_a_number_that_cannot_get_sms() {
        for yes in [
            "Invalid to number",
            "The 'To' number ****4567 is not a valid phone number.",
            "'To' number is not a valid mobile number",
            "syntax_invalid_parameter_format: Invalid number",
            "illegal_number_type: Number is not a mobile",
        ] {
            assert!(says_invalid_number(yes), "{yes}");
        }
        for no in [
            "Not enough credits",
            "gateway refused our credentials (HTTP 401): x",
            "no phone number",
            "blocked_account: the account is blocked",
        ] {
            assert!(!says_invalid_number(no), "{no}");
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::WebhookConfig;

    #[test]
    fn the_webhook_settings_never_print_their_secrets() {
        let c = WebhookConfig {
            provider: None,
            secret: Some("s3cret-s3cret-s3cret-s3cret-s3cret".into()),
            twilio_auth_token: Some("tw-token-0123456789".into()),
            public_url: Some("https://paminn.example.se".into()),
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("tw-token"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>") && shown.contains("paminn.example.se"));
    }

    #[test]
    fn the_shared_secret_gateways_authenticate_by_the_secret_only() {
        use super::webhook::assert_shared_secret_only;
        assert_shared_secret_only(&super::elks46::webhook::Webhook);
        assert_shared_secret_only(&super::sinch::webhook::Webhook);
    }

    #[test]
    fn the_gateway_configs_never_print_their_secrets() {
        use super::{elks46, sinch, twilio};
        let callback = Some("https://paminn.example.se/hook?k=cb-secret".to_string());
        let t = std::time::Duration::from_secs(1);
        let shown = [
            format!(
                "{:?}",
                elks46::Elks46Config {
                    api_url: "https://api.46elks.com".into(),
                    username: "u-elks".into(),
                    password: "pw-secret".into(),
                    from: "+46700000000".into(),
                    status_callback: callback.clone(),
                    rate_per_sec: 5,
                    timeout: t,
                }
            ),
            format!(
                "{:?}",
                twilio::TwilioConfig {
                    api_url: "https://api.twilio.com".into(),
                    account_sid: "AC-sid".into(),
                    auth_token: "tok-secret".into(),
                    from: "+46700000000".into(),
                    status_callback: callback.clone(),
                    rate_per_sec: 5,
                    timeout: t,
                }
            ),
            format!(
                "{:?}",
                sinch::SinchConfig {
                    api_url: "https://eu.sms.api.sinch.com".into(),
                    service_plan_id: "plan-id".into(),
                    api_token: "api-secret".into(),
                    from: "+46700000000".into(),
                    status_callback: callback,
                    rate_per_sec: 5,
                    timeout: t,
                }
            ),
        ];
        for (s, account) in shown.iter().zip(["u-elks", "AC-sid", "plan-id"]) {
            assert!(!s.contains("secret"), "{s}");
            assert!(
                s.contains("<redacted>") && s.contains("Some(\"<set>\")"),
                "{s}"
            );
            assert!(s.contains(account) && s.contains("+46700000000"), "{s}");
        }
    }
}
