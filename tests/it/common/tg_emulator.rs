//! A Telegram Bot API emulator for end-to-end tests: the npm package
//! `telegram-test-api` 4.2.1 run by `tests/telegram-emulator/launch.js`,
//! which patches it so teloxide 0.17 parses its answers (see the header of
//! launch.js for what the bot side supports).
//!
//! Point the bot at it with `Bot::new(token).set_api_url(emu.api_url.parse()?)`;
//! play the user with [`Emulator::send_text`] and [`Emulator::tap`]; read what
//! the bot sent with [`Emulator::bot_messages`] and
//! [`Emulator::wait_for_bot_message`]. Every bot token gets its own mailbox,
//! so tests may share one emulator if they use different tokens.
//!
//! The emulator's node_modules come from `npm ci` in tests/telegram-emulator;
//! without them [`start`] returns `None` and the test should skip.

#![allow(dead_code)]

use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long the emulator may take to print `READY <port>`.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// Polling interval of [`Emulator::wait_for_bot_message`].
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running emulator. Dropping it kills the node process (and closing its
/// stdin makes the launcher exit on its own as well).
pub struct Emulator {
    /// Base URL, e.g. `http://127.0.0.1:40123`, for `Bot::set_api_url`.
    pub api_url: String,
    pub port: u16,
    child: Child,
    /// Kept open: the launcher exits when its stdin closes.
    _stdin: ChildStdin,
    /// Kept open so a late write by the launcher never meets a closed pipe.
    _stdout: ChildStdout,
    http: reqwest::Client,
}

fn emulator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/telegram-emulator")
}

/// Starts an emulator on a free port of 127.0.0.1 and waits for it to listen.
///
/// Returns `None` (after saying so on stderr) when
/// `tests/telegram-emulator/node_modules` is missing, so a test can skip
/// where `npm ci` was not run. Panics if the modules are there but node
/// cannot be started, or the emulator does not report `READY` within 20 s.
///
/// The port is chosen by the OS: the launcher is given `--port 0` and
/// reports the port it bound in its `READY <port>` line, so two emulators
/// started at once can never race for the same port.
pub async fn start() -> Option<Emulator> {
    let dir = emulator_dir();
    if !dir.join("node_modules").is_dir() {
        eprintln!(
            "telegram emulator not installed: skipping (run `npm ci` in {})",
            dir.display()
        );
        return None;
    }
    let mut child = Command::new("node")
        .arg(dir.join("launch.js"))
        .args(["--port", "0", "--host", "127.0.0.1"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("telegram emulator: cannot run `node` (is Node.js installed and on PATH?): {e}")
        });
    let stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");

    let line = match tokio::time::timeout(READY_DEADLINE, read_line(&mut stdout)).await {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => panic!("telegram emulator: reading its stdout failed: {e}"),
        Err(_) => {
            let _ = child.start_kill();
            panic!(
                "telegram emulator: no READY line within {READY_DEADLINE:?} (see its stderr above)"
            )
        }
    };
    let port: u16 = match line.trim().strip_prefix("READY ").map(str::parse) {
        Some(Ok(port)) => port,
        _ => {
            let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            panic!(
                "telegram emulator did not start: stdout said {line:?}, exit {status:?} \
                 (see its stderr above; `npm ci` in {} may be needed)",
                dir.display()
            )
        }
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client");
    Some(Emulator {
        api_url: format!("http://127.0.0.1:{port}"),
        port,
        child,
        _stdin: stdin,
        _stdout: stdout,
        http,
    })
}

/// Reads up to and including the first '\n' (or to end of file), one byte at
/// a time so nothing after the line is consumed. Uses only `AsyncRead`, so it
/// needs no tokio `io-util` feature.
async fn read_line(stdout: &mut ChildStdout) -> std::io::Result<String> {
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        let n = poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut byte);
            Pin::new(&mut *stdout)
                .poll_read(cx, &mut buf)
                .map_ok(|()| buf.filled().len())
        })
        .await?;
        if n == 0 || byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(byte[0]);
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A private-chat user as Telegram describes one.
fn user(user_id: i64, first_name: &str) -> Value {
    json!({ "id": user_id, "is_bot": false, "first_name": first_name })
}

/// `bot_command` entity for a text that starts with a command
/// (`/start`, `/start@SomeBot`), offsets in UTF-16 units as Telegram counts.
fn command_entities(text: &str) -> Option<Value> {
    let rest = text.strip_prefix('/')?;
    let cmd: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    if cmd.is_empty() {
        return None;
    }
    let length = 1 + cmd.encode_utf16().count();
    Some(json!([{ "type": "bot_command", "offset": 0, "length": length }]))
}

impl Emulator {
    /// The OS process id of the node process.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.api_url);
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("telegram emulator: POST {path} failed: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("telegram emulator: POST {path} answered {status} with non-JSON {text:?}: {e}")
        });
        if !status.is_success() || v["ok"] != json!(true) {
            panic!("telegram emulator: POST {path} with {body} answered {status}: {v}");
        }
        v["result"].clone()
    }

    /// The user `user_id` writes `text` to the bot in their private chat
    /// (chat id = user id). A leading `/command` gets a `bot_command` entity.
    /// The bot receives it as a `message` update from `getUpdates` (or on its
    /// webhook, if one is set).
    ///
    /// Endpoint: `POST /sendMessage` (emulator client API) with
    /// `{botToken, from, chat, date, text, entities?}`.
    pub async fn send_text(&self, bot_token: &str, user_id: i64, first_name: &str, text: &str) {
        let from = user(user_id, first_name);
        let mut msg = json!({
            "botToken": bot_token,
            "from": from,
            "chat": { "id": user_id, "type": "private", "first_name": first_name },
            "date": now_secs(),
            "text": text,
        });
        if let Some(entities) = command_entities(text) {
            msg["entities"] = entities;
        }
        self.post("/sendMessage", msg).await;
    }

    /// The user taps the inline button with `callback_data` under `message`
    /// (a bot message as returned by [`Self::bot_messages`] or by the bot's
    /// `sendMessage`). The bot receives a `callback_query` update with a fresh
    /// id ("1", "2", ... per emulator), `chat_instance`, `data`, and the
    /// message in its current state (the launcher looks it up by chat id and
    /// `message_id`, so edits made since are visible, as on Telegram).
    /// Does not check that the message has such a button.
    ///
    /// Endpoint: `POST /sendCallback` (emulator client API) with
    /// `{botToken, from, message, data, chat_instance}`.
    pub async fn tap(
        &self,
        bot_token: &str,
        user_id: i64,
        first_name: &str,
        message: &Value,
        callback_data: &str,
    ) {
        let chat_id = message["chat"]["id"].as_i64().unwrap_or(user_id);
        let body = json!({
            "botToken": bot_token,
            "from": user(user_id, first_name),
            "message": message,
            "data": callback_data,
            "chat_instance": format!("ci{chat_id}"),
        });
        self.post("/sendCallback", body).await;
    }

    /// Every message the bot has sent to chat `user_id` so far, oldest first,
    /// in its current state, shaped like Telegram's `Message`:
    /// `message_id`, `from` (the bot), `chat`, `date` (seconds), `text`,
    /// `entities` if given, `reply_markup` (inline keyboards only) and
    /// `edit_date` once edited. After `editMessageText` the message shows the
    /// new text (and loses its keyboard unless the edit sent one, as on
    /// Telegram); `deleteMessage` removes it from this list. Text is stored as
    /// sent: HTML/Markdown of `parse_mode` is not rendered.
    ///
    /// Endpoint: `POST /paminn/botMessages` with `{token, chatId}` (added by
    /// launch.js; the stock `/getUpdates` client route would mark them read).
    pub async fn bot_messages(&self, bot_token: &str, user_id: i64) -> Vec<Value> {
        let result = self
            .post(
                "/paminn/botMessages",
                json!({ "token": bot_token, "chatId": user_id }),
            )
            .await;
        match result {
            Value::Array(v) => v,
            other => panic!("telegram emulator: /paminn/botMessages returned {other}"),
        }
    }

    /// Polls [`Self::bot_messages`] every 50 ms until one satisfies
    /// `predicate` and returns it (the oldest such). Panics when `deadline`
    /// passes, listing the messages seen by then.
    ///
    /// Endpoint: `POST /paminn/botMessages`, repeatedly.
    pub async fn wait_for_bot_message(
        &self,
        bot_token: &str,
        user_id: i64,
        predicate: impl Fn(&Value) -> bool,
        deadline: Duration,
    ) -> Value {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let messages = self.bot_messages(bot_token, user_id).await;
            if let Some(m) = messages.iter().find(|m| predicate(m)) {
                return m.clone();
            }
            if tokio::time::Instant::now() >= end {
                panic!(
                    "telegram emulator: no matching bot message for chat {user_id} within \
                     {deadline:?}; the bot sent:\n{}",
                    serde_json::to_string_pretty(&messages).unwrap_or_default()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The Bot API calls the bot made with this token so far, oldest first,
    /// as `{method, params, time}` with `method` spelt canonically
    /// (`answerCallbackQuery`, `editMessageText`, ...; unknown methods as
    /// sent). `method` filters case-insensitively; `None` returns all. Use it
    /// to check what the bot answered to a tap (`params.text`,
    /// `params.show_alert`) or which unsupported methods it tried.
    ///
    /// Endpoint: `POST /paminn/calls` with `{token, method?}` (added by launch.js).
    pub async fn bot_api_calls(&self, bot_token: &str, method: Option<&str>) -> Vec<Value> {
        let mut body = json!({ "token": bot_token });
        if let Some(m) = method {
            body["method"] = json!(m);
        }
        match self.post("/paminn/calls", body).await {
            Value::Array(v) => v,
            other => panic!("telegram emulator: /paminn/calls returned {other}"),
        }
    }
}
