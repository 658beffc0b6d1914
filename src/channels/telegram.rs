//! The Telegram transport: sends a rendered message to a linked chat with
//! teloxide, with "Kommer ✅" / "Förhinder ❌" buttons when the message asks
//! for a reply. Each button carries an opaque random token (stored before
//! sending) that maps back to the outbox row; never a guessable id.
//!
//! Errors are classified from teloxide's: 429 → rate-limited for
//! `retry_after`; 403 (blocked, deactivated) and "chat not found" →
//! unreachable (the chat is marked dead); network errors, timeouts and
//! unparseable answers (a proxy's 502 page) → temporary; the rest →
//! permanent.

use super::{Accepted, Limits, OutgoingMessage, SendError, Transport};
use crate::domain::link::{ButtonChoice, callback_data};
use crate::texts;
use async_trait::async_trait;
use std::time::Duration;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// The public Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

#[derive(Clone)]
pub struct TelegramConfig {
    pub token: String,
    /// Base URL of the Bot API (a self-hosted server, or a fake in tests).
    pub api_url: String,
    /// Messages per second across all chats (Telegram: about 30).
    pub rate_per_sec: u32,
    /// Messages per second to one chat (Telegram: about 1).
    pub per_chat_per_sec: u32,
    /// Per request. Long polling waits inside a request, so this must be
    /// longer than the polling timeout.
    pub timeout: Duration,
}

redacting_debug!(TelegramConfig {
    token: secret,
    api_url,
    rate_per_sec,
    per_chat_per_sec,
    timeout,
});

/// A teloxide `Bot` for the configured API, with our timeout.
pub fn make_bot(cfg: &TelegramConfig) -> Result<Bot, String> {
    let url = reqwest::Url::parse(&cfg.api_url)
        .map_err(|e| format!("telegram_api_url '{}': {e}", cfg.api_url))?;
    let client = teloxide::net::default_reqwest_settings()
        .timeout(cfg.timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok(Bot::with_client(cfg.token.clone(), client).set_api_url(url))
}

/// A teloxide error for logs and `last_error`. reqwest's own message names
/// the URL, which holds the bot token, and a JSON parse error quotes the
/// answer, which can hold a message text: neither is repeated.
/// Reads a webhook body as a Telegram update; the error says why not.
/// Used by `web::telegram` and driven with arbitrary bytes by the fuzz
/// target `webhook_forms` and a proptest. A NUL in a message's text is
/// dropped where the text enters the engine (`Engine::receive`).
pub fn parse_update(body: &[u8]) -> Result<teloxide::types::Update, String> {
    serde_json::from_slice(body).map_err(|e| format!("not a Telegram update: {e}"))
}

/// Parses `body` as an update and, when it is one, what the bot reads from
/// it: the text (and a command in it) and a button's callback data. For
/// the fuzz target; never panics.
pub fn parse_update_all(body: &[u8]) -> bool {
    use teloxide::types::UpdateKind;
    let Ok(u) = parse_update(body) else {
        return false;
    };
    match &u.kind {
        UpdateKind::Message(m) | UpdateKind::EditedMessage(m) => {
            let _ = (m.chat.is_private(), m.id.0, m.chat.id.0);
            if let Some(t) = m.text() {
                let _ = crate::domain::reply::parse(t, crate::domain::Language::Sv);
            }
        }
        UpdateKind::CallbackQuery(q) => {
            if let Some(d) = q.data.as_deref() {
                let _ = crate::domain::link::parse_callback_data(d);
            }
        }
        _ => {}
    }
    true
}

pub fn describe(e: &RequestError) -> String {
    match e {
        RequestError::Network(n) => {
            let kind = if n.is_timeout() {
                "timeout"
            } else if n.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            format!("network: {kind}")
        }
        RequestError::InvalidJson { .. } => {
            "the Bot API answered something that is not its JSON".into()
        }
        other => other.to_string(),
    }
}

/// Maps a teloxide error to what the dispatcher should do about it.
pub fn classify(e: &RequestError) -> SendError {
    use teloxide::ApiError as A;
    match e {
        RequestError::RetryAfter(s) => SendError::RateLimited(s.duration()),
        RequestError::Network(_) | RequestError::InvalidJson { .. } => {
            SendError::Temporary(describe(e))
        }
        RequestError::Io(e) => SendError::Temporary(format!("io: {e}")),
        RequestError::MigrateToChatId(_) => SendError::Permanent(
            "the chat became a supergroup; paminn only talks one to one".into(),
        ),
        RequestError::Api(api) => match api {
            A::BotBlocked
            | A::UserDeactivated
            | A::ChatNotFound
            | A::CantInitiateConversation
            | A::BotKicked
            | A::BotKickedFromSupergroup
            | A::BotKickedFromChannel => SendError::Unreachable(api.to_string()),
            A::InvalidToken => {
                SendError::Credentials("the Bot API refused the token (wrong credentials)".into())
            }
            A::Unknown(s) if s.starts_with("Forbidden") => SendError::Unreachable(s.clone()),
            A::Unknown(s)
                if s.contains("Internal Server Error")
                    || s.contains("Bad Gateway")
                    || s.contains("Service Unavailable")
                    || s.contains("Gateway Timeout")
                    || s.contains("Too Many Requests") =>
            {
                SendError::Temporary(s.clone())
            }
            other => SendError::Permanent(other.to_string()),
        },
    }
}

/// The reply buttons of a reminder, in the participant's language.
pub fn reply_keyboard(
    lang: crate::domain::Language,
    token: &crate::domain::link::CallbackToken,
) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback(
            texts::render(lang, "tg-button-coming", &[]),
            callback_data(token, ButtonChoice::Coming),
        ),
        InlineKeyboardButton::callback(
            texts::render(lang, "tg-button-cannot", &[]),
            callback_data(token, ButtonChoice::Cannot),
        ),
    ]])
}

pub struct TelegramTransport {
    bot: Bot,
    limits: Limits,
}

impl TelegramTransport {
    pub fn new(bot: Bot, cfg: &TelegramConfig) -> Self {
        TelegramTransport {
            bot,
            limits: Limits {
                global_per_sec: Some(cfg.rate_per_sec),
                per_recipient_per_sec: Some(cfg.per_chat_per_sec),
            },
        }
    }
}

#[async_trait]
impl Transport for TelegramTransport {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<Accepted, SendError> {
        let chat: i64 = msg
            .to
            .parse()
            .map_err(|_| SendError::Permanent("the linked chat id is not a number".into()))?;
        let mut req = self.bot.send_message(ChatId(chat), msg.body.clone());
        if let Some(token) = msg.reply_token.as_ref().filter(|_| msg.ask_reply) {
            req = req.reply_markup(reply_keyboard(msg.language, token));
        }
        match req.await {
            Ok(m) => Ok(Accepted::id(format!("{chat}:{}", m.id.0))),
            Err(e) => Err(classify(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::ApiError;
    use teloxide::types::Seconds;

    #[test]
    fn errors_are_classified_for_the_dispatcher() {
        assert_eq!(
            classify(&RequestError::RetryAfter(Seconds::from_seconds(7))),
            SendError::RateLimited(Duration::from_secs(7))
        );
        assert!(matches!(
            classify(&RequestError::Api(ApiError::BotBlocked)),
            SendError::Unreachable(_)
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::UserDeactivated)),
            SendError::Unreachable(_)
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::Unknown(
                "Forbidden: something new".into()
            ))),
            SendError::Unreachable(_)
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::InvalidToken)),
            SendError::Credentials(e) if e.contains("credentials")
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::Unknown("Bad Gateway".into()))),
            SendError::Temporary(_)
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::MessageIsTooLong)),
            SendError::Permanent(_)
        ));
    }
}
