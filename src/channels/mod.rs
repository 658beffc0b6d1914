//! Channels: how a message leaves the building. One small trait,
//! [`Transport`], is implemented per gateway (the sandbox here; Telegram
//! and the SMS gateways in their own modules). [`Channels`] routes a
//! message to the transport configured for its channel kind and applies the
//! transport's rate limits: a global rate and a per-recipient rate.
//!
//! Errors are classified so the dispatcher can do the right thing:
//! permanent (never retried, the lots is told), temporary (retried with
//! backoff within a budget), rate-limited (retried after the gateway's
//! `retry_after`, not counted as a failure).

/// `Debug` for a config that holds secrets, the same way for every
/// gateway: each field is shown as it is, except `field: secret` (prints
/// `<redacted>`) and `field: if_set` (an optional value that may carry a
/// secret, such as a callback URL: prints `Some("<set>")` or `None`).
macro_rules! redacting_debug {
    ($ty:ident { $($field:ident $(: $how:ident)?),* $(,)? }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(
                        stringify!($field),
                        &redacting_debug!(@show self.$field $(, $how)?),
                    ))*
                    .finish()
            }
        }
    };
    (@show $e:expr) => { &$e };
    (@show $e:expr, secret) => { "<redacted>" };
    (@show $e:expr, if_set) => { $e.as_ref().map(|_| "<set>") };
}

pub mod sandbox;
pub mod sms;
pub mod telegram;

use crate::domain::{ChannelKind, OutboxId, ParticipantId};
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// One message, addressed and rendered, ready for a gateway.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub outbox_id: OutboxId,
    pub participant_id: ParticipantId,
    pub channel: ChannelKind,
    /// E.164 number for SMS, chat id for Telegram. Never logged.
    pub to: String,
    pub body: String,
    pub ask_reply: bool,
    /// The token a Telegram question's reply buttons carry, stored by the
    /// dispatcher before the send (None elsewhere).
    pub reply_token: Option<crate::domain::link::CallbackToken>,
    /// For the labels of reply buttons.
    pub language: crate::domain::Language,
}

/// The gateway took the message.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The gateway's id for it, to match delivery receipts and replies.
    pub gateway_id: String,
    /// SMS parts, when the gateway reports them.
    pub parts: Option<i64>,
    /// Cost in 1/10,000 of `currency`, when the gateway reports it.
    pub cost: Option<i64>,
    pub currency: Option<String>,
}

impl Accepted {
    /// Accepted with only an id (gateways that report no cost).
    pub fn id(gateway_id: impl Into<String>) -> Self {
        Accepted {
            gateway_id: gateway_id.into(),
            parts: None,
            cost: None,
            currency: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Will never work as is (invalid number, blocked bot, auth failure).
    #[error("permanent: {0}")]
    Permanent(String),
    /// May work later (5xx, timeout, network).
    #[error("temporary: {0}")]
    Temporary(String),
    /// The gateway asked us to slow down.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// The recipient has opted out at the gateway (Twilio 21610): treated
    /// as STOPP for this channel.
    #[error("recipient opted out: {0}")]
    RecipientOptedOut(String),
    /// The recipient cannot be reached on this channel any more (Telegram
    /// 403: the bot was blocked, the account deactivated): the chat is
    /// marked dead and unlinked.
    #[error("recipient unreachable: {0}")]
    Unreachable(String),
    /// The gateway says the number cannot receive SMS (invalid, not a
    /// mobile): permanent, and the lots is told the number needs fixing.
    #[error("invalid number: {0}")]
    InvalidNumber(String),
    /// The gateway refused paminn's own credentials: permanent, and every
    /// message fails until an admin fixes the configuration.
    #[error("credentials refused: {0}")]
    Credentials(String),
}

/// Compares a secret a caller presents with ours in constant time (for
/// equal lengths): every webhook's check, SMS gateways' and Telegram's.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Rate limits a transport asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub global_per_sec: Option<u32>,
    pub per_recipient_per_sec: Option<u32>,
}

#[async_trait]
pub trait Transport: Send + Sync {
    /// For logs and the journal: "sandbox", "46elks", "telegram", ...
    fn name(&self) -> &'static str;
    fn limits(&self) -> Limits {
        Limits::default()
    }
    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError>;
}

struct Limited {
    transport: Arc<dyn Transport>,
    global: Option<DefaultDirectRateLimiter>,
    per_recipient: Option<DefaultKeyedRateLimiter<String>>,
}

/// The configured transports, one per channel kind.
#[derive(Default)]
pub struct Channels {
    by_kind: HashMap<ChannelKind, Limited>,
}

/// `n` per second, evenly spaced: no burst, so no one-second window ever
/// holds more than `n` (a full bucket at start would let 2n through in the
/// first second, which a gateway counting per second answers with 429).
fn quota(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(|n| Quota::per_second(n).allow_burst(NonZeroU32::MIN))
}

impl Channels {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `kind` to `transport`, with the transport's own limits.
    pub fn with(mut self, kind: ChannelKind, transport: Arc<dyn Transport>) -> Self {
        let limits = transport.limits();
        self.by_kind.insert(
            kind,
            Limited {
                global: limits
                    .global_per_sec
                    .and_then(quota)
                    .map(RateLimiter::direct),
                per_recipient: limits
                    .per_recipient_per_sec
                    .and_then(quota)
                    .map(RateLimiter::keyed),
                transport,
            },
        );
        self
    }

    pub fn transport_name(&self, kind: ChannelKind) -> Option<&'static str> {
        self.by_kind.get(&kind).map(|l| l.transport.name())
    }

    /// Sends through the transport for the message's channel, waiting for
    /// the rate limiters first.
    pub async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        let Some(l) = self.by_kind.get(&msg.channel) else {
            return Err(SendError::Permanent(format!(
                "no transport is configured for {}",
                msg.channel
            )));
        };
        if let Some(g) = &l.global {
            g.until_ready().await;
        }
        if let Some(k) = &l.per_recipient {
            k.until_key_ready(&msg.to).await;
        }
        l.transport.send(msg).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_have_no_burst_so_no_second_holds_more_than_the_limit() {
        let q = quota(30).unwrap();
        assert_eq!(q.burst_size().get(), 1);
        assert_eq!(
            q.replenish_interval(),
            std::time::Duration::from_secs(1) / 30
        );
        assert!(quota(0).is_none(), "0 means unlimited");
    }
}
