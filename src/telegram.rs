//! The Telegram bot: what happens when someone writes to it or taps a
//! button, and what it tells lotsar on its own.
//!
//! * **Updates** come by long polling ([`TelegramBot::poll`], the default)
//!   or by webhook (`web::telegram`); both end in [`TelegramBot::handle`].
//!   Only private chats are served: paminn talks one to one.
//! * **Linking**: `/start <code>` with a one-time code links the chat to a
//!   participant or a lots (`Engine::link_chat`); never a typed phone
//!   number. `/stopp` (`/stop`) unlinks.
//! * **Participants**: a typed text goes to the reply pipeline
//!   (`Engine::receive`); a tap on "Kommer ✅" / "Förhinder ❌" is recorded
//!   with its single-use token (`Engine::tap`), answered, and the message
//!   edited to show the choice. Stickers, photos and edited messages get a
//!   short answer and are not recorded.
//! * **Lotsar**: `/idag` (`/today`) lists the day; alerts for new tasks
//!   and attendance prompts with three buttons are sent by
//!   [`TelegramBot::send_alerts`] and [`TelegramBot::send_attendance_prompts`],
//!   which mark what they sent only after Telegram took it (an outage
//!   delays an alert, never drops it).
//! * **Unknown chats** get one polite bilingual answer per hour (an
//!   in-memory limit) and leave only a count behind.
//!
//! The bot's direct answers (welcome, "tack", errors) are sent at once and
//! not queued: they answer something the person just did, and a lost one
//! is repaired by trying again. Reminders and receipts go through the
//! outbox and the dispatcher.

use crate::channels::telegram::describe;
use crate::domain::link::{self, ButtonChoice, parse_callback_data};
use crate::domain::{Attendance, Language, ReplyState, TaskKind};
use crate::engine::Engine;
use crate::engine::day::{DayRow, Delivery};
use crate::engine::linking::{AttendancePrompt, ChatOwner, LinkOutcome, TapOutcome};
use crate::engine::tasks::StaffAlert;
use crate::error::Result;
use crate::texts;
use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup,
    MaybeInaccessibleMessage, UpdateKind,
};
use tokio_util::sync::CancellationToken;

/// Long-polling wait per `getUpdates` request, in seconds.
pub const POLL_TIMEOUT_SECS: u32 = 25;

pub struct TelegramBot {
    engine: Engine,
    bot: Bot,
    /// Unknown chats answered in the last hour, by chat id. In memory
    /// only: nothing about an unknown chat is stored.
    unknown_answered: DefaultKeyedRateLimiter<i64>,
    /// Where staff open the UI (`public_url`): the link in an alert.
    public_url: Option<String>,
}

/// Both languages, for chats whose language we do not know.
fn both(key: &str) -> String {
    format!(
        "{} / {}",
        texts::render(Language::Sv, key, &[]),
        texts::render(Language::En, key, &[])
    )
}

/// The command word of a text (`/Start@paminn_bot x` → `/start`) and the
/// rest.
fn command(text: &str) -> Option<(String, &str)> {
    let t = text.trim();
    if !t.starts_with('/') {
        return None;
    }
    let (word, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    let word = word.split('@').next().unwrap_or(word).to_lowercase();
    Some((word, rest.trim()))
}

/// The text of one staff alert. Unless the unit lets alerts carry the
/// participant's words (`StaffAlert::details`), it says "ny uppgift" and
/// links to the task on the start page (`public_url`/today#t<id>): a reason
/// can be health data, and a Telegram message is kept in Telegram's cloud.
pub fn alert_text(a: &StaffAlert, now: DateTime<Utc>, public_url: Option<&str>) -> String {
    let lang = a.language;
    if !a.details {
        return match public_url {
            Some(base) => texts::render(
                lang,
                "staff-alert-task",
                &[("link", format!("{base}/today#t{}", a.task_id))],
            ),
            None => texts::render(lang, "staff-alert-task-nolink", &[]),
        };
    }
    let when = a
        .starts_at
        .map(|t| texts::when(lang, t, now, a.tz))
        .unwrap_or_default();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut args = vec![
        ("name", a.first_name.clone()),
        ("id", a.participant_id.to_string()),
        ("when", when),
    ];
    let key = match a.kind {
        TaskKind::Cannot => {
            let reason = s(&a.detail["reason"]);
            args.push((
                "reason",
                if reason.is_empty() {
                    texts::render(lang, "staff-alert-no-reason", &[])
                } else {
                    reason
                },
            ));
            "staff-alert-cannot"
        }
        TaskKind::NoReply => "staff-alert-no-reply",
        TaskKind::DeliveryFailed => {
            args.push(("channel", s(&a.detail["channel"])));
            "staff-alert-delivery-failed"
        }
        TaskKind::NotUnderstood => {
            args.push(("text", s(&a.detail["text"])));
            "staff-alert-not-understood"
        }
        TaskKind::ComingLate => match a.detail["minutes"].as_i64() {
            Some(min) => {
                args.push(("min", min.to_string()));
                "staff-alert-coming-late-min"
            }
            None => "staff-alert-coming-late",
        },
        _ => {
            let reply = a.detail["reply"].as_str().unwrap_or("none");
            args.push((
                "reply",
                texts::render(lang, &format!("staff-reply-{reply}"), &[]),
            ));
            "staff-alert-late-reply"
        }
    };
    texts::render(lang, key, &args)
}

fn reply_word(lang: Language, r: ReplyState) -> String {
    texts::render(lang, &format!("staff-reply-{}", r.as_str()), &[])
}

/// `/idag`: one line per appointment, with the same delivery state as
/// the web's Today page ([`crate::engine::day`]).
pub fn today_text(lang: Language, tz: chrono_tz::Tz, rows: &[DayRow]) -> String {
    if rows.is_empty() {
        return texts::render(lang, "staff-today-none", &[]);
    }
    let mut out = texts::render(lang, "staff-today-head", &[]);
    for r in rows {
        let time = r.slot.starts_at.with_timezone(&tz).format("%H:%M");
        let kind = texts::render(lang, &format!("staff-kind-{}", r.slot.kind.as_str()), &[]);
        let state = if r.slot.cancelled {
            texts::render(lang, "staff-today-cancelled", &[])
        } else {
            let key = match r.delivery {
                None => "staff-delivery-none",
                Some(Delivery::Planned) => "staff-delivery-pending",
                Some(Delivery::Sent) => "staff-delivery-sent",
                Some(Delivery::Delivered) => "staff-delivery-delivered",
                Some(Delivery::Failed) => "staff-delivery-failed",
            };
            let delivery = texts::render(lang, key, &[]);
            let reply = match r.awaiting_choice {
                Some(waiting) if r.reply == ReplyState::None => texts::render(
                    lang,
                    "staff-reply-asked-which",
                    &[("reply", reply_word(lang, waiting))],
                ),
                _ => reply_word(lang, r.reply),
            };
            let mut s = format!("{reply}, {delivery}");
            if r.attendance != Attendance::Unknown {
                s.push_str(&format!(", {}", attendance_word(lang, r.attendance)));
            }
            s
        };
        out.push_str(&format!(
            "\n{time} {} (#{}), {kind}: {state}",
            r.slot.first_name, r.slot.participant_id
        ));
    }
    out
}

fn attendance_word(lang: Language, a: Attendance) -> String {
    let key = match a {
        Attendance::Attended => "staff-btn-attended",
        Attendance::Absent => "staff-btn-absent",
        _ => "staff-btn-excused",
    };
    texts::render(lang, key, &[])
}

/// The three attendance buttons of one prompt.
pub fn attendance_keyboard(lang: Language, token: &link::CallbackToken) -> InlineKeyboardMarkup {
    let b = |key: &str, c: ButtonChoice| {
        InlineKeyboardButton::callback(texts::render(lang, key, &[]), link::callback_data(token, c))
    };
    InlineKeyboardMarkup::new([
        vec![
            b("staff-btn-attended", ButtonChoice::Attended),
            b("staff-btn-absent", ButtonChoice::Absent),
        ],
        vec![b("staff-btn-excused", ButtonChoice::Excused)],
    ])
}

impl TelegramBot {
    pub fn new(engine: Engine, bot: Bot) -> Self {
        TelegramBot {
            engine,
            bot,
            unknown_answered: RateLimiter::keyed(Quota::per_hour(NonZeroU32::MIN)),
            public_url: None,
        }
    }

    /// The UI's address (`public_url`), for the link in a staff alert.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url.map(|u| u.trim_end_matches('/').to_string());
        self
    }

    /// Sends an answer at once; a failure is logged (without the text).
    async fn say(&self, chat: i64, text: String) {
        if let Err(e) = self.bot.send_message(ChatId(chat), text).await {
            tracing::warn!(error = %describe(&e), "could not answer in a Telegram chat");
        }
    }

    /// Handles one update from Telegram. Errors are database errors: the
    /// caller should not confirm the update, so it comes again.
    pub async fn handle(&self, u: Update, now: DateTime<Utc>) -> Result<()> {
        match &u.kind {
            UpdateKind::Message(m) => self.on_message(u.id.0, m, false, now).await,
            UpdateKind::EditedMessage(m) => self.on_message(u.id.0, m, true, now).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(q, now).await,
            _ => Ok(()),
        }
    }

    async fn on_message(
        &self,
        update_id: u32,
        m: &Message,
        edited: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // One to one only: groups, channels and other bots are ignored.
        if !m.chat.is_private() || m.from.as_ref().is_some_and(|f| f.is_bot) {
            return Ok(());
        }
        let chat = m.chat.id.0;
        let text = m.text();
        let cmd = text.and_then(command);
        if let Some((word, rest)) = &cmd
            && !edited
        {
            match word.as_str() {
                "/start" if !rest.is_empty() => return self.on_link(chat, rest, now).await,
                "/stopp" | "/stop" => {
                    let who = self.engine.unlink_chat(chat, now).await?;
                    match who {
                        ChatOwner::Participant(p) => {
                            self.say(chat, texts::render(p.language, "tg-unlinked", &[]))
                                .await
                        }
                        ChatOwner::Staff(s) => {
                            self.say(chat, texts::render(s.language, "tg-unlinked", &[]))
                                .await
                        }
                        ChatOwner::Unknown => self.unknown(update_id, chat, now).await?,
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
        match self.engine.chat_owner(chat).await? {
            ChatOwner::Unknown => {
                if !edited {
                    self.unknown(update_id, chat, now).await?;
                }
            }
            ChatOwner::Staff(s) => {
                if edited {
                    return Ok(());
                }
                let answer = match cmd.as_ref().map(|(w, _)| w.as_str()) {
                    Some("/idag" | "/today") => {
                        let (tz, rows) = self.engine.today_for_staff(s.id, now).await?;
                        today_text(s.language, tz, &rows)
                    }
                    _ => texts::render(s.language, "staff-help", &[]),
                };
                self.say(chat, answer).await;
            }
            ChatOwner::Participant(p) => {
                let lang = p.language;
                if edited {
                    self.say(chat, texts::render(lang, "tg-edited", &[])).await;
                    return Ok(());
                }
                match (text, cmd.as_ref().map(|(w, _)| w.as_str())) {
                    (None, _) => {
                        self.say(chat, texts::render(lang, "tg-not-text", &[]))
                            .await
                    }
                    (Some(_), Some("/start")) => {
                        self.say(chat, texts::render(lang, "tg-already-linked", &[]))
                            .await
                    }
                    (Some(t), _) => {
                        // Idempotent on the message: a redelivered update
                        // is recorded once.
                        let gateway_id = format!("{chat}:{}", m.id.0);
                        self.engine
                            .receive(
                                crate::domain::ChannelKind::Telegram,
                                &gateway_id,
                                p.id,
                                t,
                                now,
                            )
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn unknown(&self, update_id: u32, chat: i64, now: DateTime<Utc>) -> Result<()> {
        self.engine
            .count_unknown_sender(
                crate::domain::ChannelKind::Telegram,
                &format!("update:{update_id}"),
                now,
            )
            .await?;
        if self.unknown_answered.check_key(&chat).is_ok() {
            self.say(chat, texts::render(Language::Sv, "tg-unknown-chat", &[]))
                .await;
        }
        Ok(())
    }

    async fn on_link(&self, chat: i64, code: &str, now: DateTime<Utc>) -> Result<()> {
        let answer = match self.engine.link_chat(chat, code, now).await? {
            LinkOutcome::Participant(p) => {
                tracing::info!(participant = %p.id, "Telegram chat linked");
                texts::render(p.language, "tg-welcome", &[("name", p.first_name.clone())])
            }
            LinkOutcome::Staff(s) => {
                tracing::info!(staff = %s.id, "Telegram chat linked for staff");
                texts::render(s.language, "staff-welcome", &[("name", s.name.clone())])
            }
            LinkOutcome::Wrong => texts::render(Language::Sv, "tg-link-wrong", &[]),
            LinkOutcome::Slowed { until } => texts::render(
                Language::Sv,
                "tg-link-slowed",
                &[(
                    "time",
                    until
                        .with_timezone(&chrono_tz::Europe::Stockholm)
                        .format("%H:%M")
                        .to_string(),
                )],
            ),
        };
        self.say(chat, answer).await;
        Ok(())
    }

    async fn on_callback(&self, q: &CallbackQuery, now: DateTime<Utc>) -> Result<()> {
        let msg = q.message.as_ref();
        // Who tapped is the authority: in a private chat the chat id is the
        // user id. A tap on a message in any other chat is not ours.
        let chat = q.from.id.0 as i64;
        let in_own_chat = msg.is_none_or(|m| m.chat().id.0 == chat);
        let parsed = q
            .data
            .as_deref()
            .and_then(parse_callback_data)
            .filter(|_| in_own_chat);
        let outcome = match &parsed {
            Some((token, choice)) => {
                let label = format!("[{}]", choice.as_str());
                self.engine
                    .tap(token, *choice, chat, &q.id.0, &label, now)
                    .await?
            }
            None => TapOutcome::Unknown,
        };
        let (popup, edit) = match &outcome {
            TapOutcome::Replied { language, state } => {
                let choice_key = if *state == ReplyState::Coming {
                    "tg-choice-coming"
                } else {
                    "tg-choice-cannot"
                };
                let choice = texts::render(*language, choice_key, &[]);
                (
                    texts::render(*language, "tg-thanks", &[]),
                    Some(texts::render(
                        *language,
                        "tg-answered",
                        &[("choice", choice)],
                    )),
                )
            }
            TapOutcome::Attendance {
                language,
                attendance,
            } => (
                texts::render(*language, "tg-thanks", &[]),
                Some(texts::render(
                    *language,
                    "staff-attendance-recorded",
                    &[("choice", attendance_word(*language, *attendance))],
                )),
            ),
            TapOutcome::AlreadyUsed { language } => {
                (texts::render(*language, "tg-already-answered", &[]), None)
            }
            TapOutcome::Refused { language, reason } => (
                texts::render(
                    *language,
                    "staff-attendance-refused",
                    &[("reason", reason.clone())],
                ),
                None,
            ),
            TapOutcome::Unknown => (both("tg-button-expired"), None),
            TapOutcome::Expired { language } => {
                (texts::render(*language, "tg-button-expired", &[]), None)
            }
        };
        if let Err(e) = self
            .bot
            .answer_callback_query(q.id.clone())
            .text(popup)
            .await
        {
            tracing::warn!(error = %describe(&e), "could not answer a button tap");
        }
        // Show the choice in the message itself, and take the buttons away.
        if let (Some(note), Some(MaybeInaccessibleMessage::Regular(m))) = (edit, msg) {
            let text = match m.text() {
                Some(t) => format!("{t}\n\n{note}"),
                None => note,
            };
            if let Err(e) = self.bot.edit_message_text(m.chat.id, m.id, text).await {
                tracing::warn!(error = %describe(&e), "could not edit the tapped message");
            }
        }
        Ok(())
    }

    /// Sends the alerts owed to lotsar. Each is marked only after Telegram
    /// took it; on a temporary failure the rest wait for the next round.
    /// Returns how many were sent.
    pub async fn send_alerts(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut sent = 0;
        for a in self.engine.staff_alerts_due(100).await? {
            let Ok(chat) = a.chat_id.parse::<i64>() else {
                continue;
            };
            match self
                .bot
                .send_message(
                    ChatId(chat),
                    alert_text(&a, now, self.public_url.as_deref()),
                )
                .await
            {
                Ok(_) => {
                    self.engine.mark_alerted(a.task_id, now).await?;
                    sent += 1;
                }
                Err(e) => {
                    if self.staff_chat_failed(chat, &e, now).await? {
                        break;
                    }
                }
            }
        }
        Ok(sent)
    }

    /// After a send to a lots failed: a dead chat is unlinked (its alerts
    /// wait for a new link); returns true when the round should stop
    /// (temporary trouble: try again later).
    async fn staff_chat_failed(
        &self,
        chat: i64,
        e: &teloxide::RequestError,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        use crate::channels::SendError;
        match crate::channels::telegram::classify(e) {
            SendError::Unreachable(_) => {
                tracing::warn!("a lots's Telegram chat is unreachable; unlinking it");
                self.engine.unlink_chat(chat, now).await?;
                Ok(false)
            }
            SendError::Permanent(_) | SendError::Credentials(_) | SendError::InvalidNumber(_) => {
                tracing::error!(error = %describe(e), "a staff alert was refused by Telegram");
                Ok(true)
            }
            _ => {
                tracing::warn!(error = %describe(e), "staff alerts delayed");
                Ok(true)
            }
        }
    }

    /// Asks lotsar, after an appointment's end, whether the participant
    /// came: three buttons. Returns how many prompts were sent.
    pub async fn send_attendance_prompts(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut sent = 0;
        for p in self.engine.attendance_prompts_due(now, 100).await? {
            let Ok(chat) = p.chat_id.parse::<i64>() else {
                continue;
            };
            let token = self.engine.attendance_token(&p, now).await?;
            let text = prompt_text(&p, now);
            match self
                .bot
                .send_message(ChatId(chat), text)
                .reply_markup(attendance_keyboard(p.language, &token))
                .await
            {
                Ok(_) => {
                    self.engine
                        .mark_attendance_prompted(p.appointment_id, now)
                        .await?;
                    sent += 1;
                }
                Err(e) => {
                    if self.staff_chat_failed(chat, &e, now).await? {
                        break;
                    }
                }
            }
        }
        Ok(sent)
    }

    /// Alerts and attendance prompts every `every` until `shutdown`.
    pub async fn run_staff_loop(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        loop {
            let now = Utc::now();
            if let Err(e) = self.send_alerts(now).await {
                tracing::error!(error = %e, "staff alerts failed; will retry");
            }
            if let Err(e) = self.send_attendance_prompts(now).await {
                tracing::error!(error = %e, "attendance prompts failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }

    /// Long polling until `shutdown`. A webhook and polling cannot both be
    /// active, so any webhook is removed first. An update is confirmed
    /// (the offset moves past it) only once handled; one that keeps failing
    /// is skipped after three tries, with an error in the log.
    ///
    /// Written here rather than with teloxide's dispatcher: that one calls
    /// `getMe` first and owns the update loop; ours must share the engine,
    /// the shutdown token and the retry rule above.
    pub async fn poll(self: Arc<Self>, shutdown: CancellationToken) {
        if let Err(e) = self.bot.delete_webhook().await {
            tracing::warn!(error = %describe(&e), "could not remove a Telegram webhook before polling");
        }
        let mut offset: i32 = 0;
        let mut failures = 0u32;
        let mut tries_on_update = 0u32;
        tracing::info!("Telegram long polling started");
        while !shutdown.is_cancelled() {
            let req = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_TIMEOUT_SECS)
                .allowed_updates([
                    AllowedUpdate::Message,
                    AllowedUpdate::EditedMessage,
                    AllowedUpdate::CallbackQuery,
                ]);
            let started = std::time::Instant::now();
            let updates = tokio::select! {
                r = req.send() => r,
                _ = shutdown.cancelled() => break,
            };
            match updates {
                Ok(list) => {
                    failures = 0;
                    let empty = list.is_empty();
                    for u in list {
                        let id = u.id.0 as i32;
                        match self.handle(u, Utc::now()).await {
                            Ok(()) => tries_on_update = 0,
                            Err(e) if tries_on_update < 2 => {
                                tries_on_update += 1;
                                tracing::error!(error = %e, "a Telegram update could not be handled; will retry");
                                break;
                            }
                            Err(e) => {
                                tries_on_update = 0;
                                tracing::error!(error = %e, update_id = id, "a Telegram update failed three times; skipped");
                            }
                        }
                        offset = id + 1;
                    }
                    // A server that answers at once when idle (a fake, a
                    // proxy) must not make this loop spin.
                    if empty && started.elapsed() < Duration::from_secs(1) {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                            _ = shutdown.cancelled() => break,
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    let wait = Duration::from_secs(u64::from(failures.min(30)));
                    tracing::warn!(error = %describe(&e), ?wait, "Telegram getUpdates failed");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        tracing::info!("Telegram polling stopped");
    }

    /// Registers the webhook with its secret (webhook mode).
    pub async fn set_webhook(&self, url: &str, secret: &str) -> anyhow::Result<()> {
        let url = reqwest::Url::parse(url)?;
        self.bot
            .set_webhook(url)
            .secret_token(secret)
            .allowed_updates([
                AllowedUpdate::Message,
                AllowedUpdate::EditedMessage,
                AllowedUpdate::CallbackQuery,
            ])
            .await
            .map_err(|e| anyhow::anyhow!(describe(&e)))?;
        Ok(())
    }
}

fn prompt_text(p: &AttendancePrompt, now: DateTime<Utc>) -> String {
    texts::render(
        p.language,
        "staff-attendance-question",
        &[
            ("name", p.first_name.clone()),
            ("id", p.participant_id.to_string()),
            ("when", texts::when(p.language, p.starts_at, now, p.tz)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_with_or_without_the_bot_name() {
        assert_eq!(command("/start abc"), Some(("/start".into(), "abc")));
        assert_eq!(
            command("/Start@paminn_bot  abc "),
            Some(("/start".into(), "abc"))
        );
        assert_eq!(command("/idag"), Some(("/idag".into(), "")));
        assert_eq!(command("kommer"), None);
        assert_eq!(command("  /stopp"), Some(("/stopp".into(), "")));
    }
}
