//! A fake Telegram Bot API on wiremock, written from the Bot API docs:
//! every method is `POST /bot<token>/<method>` with a JSON body and answers
//! `{"ok": true, "result": ...}`. sendMessage and editMessageText answer a
//! Message (chat, message_id, date, text, reply_markup); the rest `true`.
//! Tests read what the bot asked for with [`FakeBotApi::calls`].

use serde_json::{Value, json};
use std::sync::atomic::{AtomicI64, Ordering};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN: &str = "123456:TEST-token";

struct Answer {
    next_id: AtomicI64,
}

impl Respond for Answer {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let m = method_of(req);
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let result = match m.as_str() {
            "sendmessage" => {
                let id = self.next_id.fetch_add(1, Ordering::SeqCst);
                message(&body, id)
            }
            "editmessagetext" => {
                let id = body["message_id"].as_i64().unwrap_or(0);
                message(&body, id)
            }
            "getupdates" => json!([]),
            _ => json!(true),
        };
        ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "result": result }))
    }
}

fn message(body: &Value, id: i64) -> Value {
    let chat = body["chat_id"].as_i64().unwrap_or(0);
    let mut m = json!({
        "message_id": id,
        "date": 1_800_000_000,
        "chat": { "id": chat, "type": "private", "first_name": "P" },
        "from": { "id": 1, "is_bot": true, "first_name": "paminn" },
        "text": body["text"],
    });
    if !body["reply_markup"].is_null() {
        m["reply_markup"] = body["reply_markup"].clone();
    }
    m
}

/// The Bot API method of a request, lowercased (`sendmessage`).
pub fn method_of(req: &Request) -> String {
    req.url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_lowercase()
}

pub struct FakeBotApi {
    pub server: MockServer,
}

impl FakeBotApi {
    /// A fake that accepts everything.
    pub async fn start() -> FakeBotApi {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Answer {
                next_id: AtomicI64::new(100),
            })
            .with_priority(10)
            .mount(&server)
            .await;
        FakeBotApi { server }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// The bot for this fake, with a short timeout.
    pub fn bot(&self, timeout: std::time::Duration) -> teloxide::Bot {
        paminn::channels::telegram::make_bot(&self.config(timeout)).unwrap()
    }

    pub fn config(
        &self,
        timeout: std::time::Duration,
    ) -> paminn::channels::telegram::TelegramConfig {
        paminn::channels::telegram::TelegramConfig {
            token: TOKEN.into(),
            api_url: self.url(),
            rate_per_sec: 1000,
            per_chat_per_sec: 1000,
            timeout,
        }
    }

    /// Every call so far as (method, JSON body), in order.
    pub async fn calls(&self) -> Vec<(String, Value)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                (
                    method_of(r),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// The bodies of the calls of one method.
    pub async fn calls_of(&self, m: &str) -> Vec<Value> {
        self.calls()
            .await
            .into_iter()
            .filter(|(x, _)| x == m)
            .map(|(_, b)| b)
            .collect()
    }

    /// Texts the bot sent to a chat.
    pub async fn texts_to(&self, chat: i64) -> Vec<String> {
        self.calls_of("sendmessage")
            .await
            .into_iter()
            .filter(|b| b["chat_id"].as_i64() == Some(chat))
            .map(|b| b["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn reset(&self) {
        self.server.reset().await;
        Mock::given(method("POST"))
            .respond_with(Answer {
                next_id: AtomicI64::new(500),
            })
            .with_priority(10)
            .mount(&self.server)
            .await;
    }
}

/// Updates as Telegram sends them.
pub mod update {
    use serde_json::{Value, json};

    fn user(id: i64) -> Value {
        json!({ "id": id, "is_bot": false, "first_name": "Ali", "language_code": "sv" })
    }

    fn chat(id: i64) -> Value {
        json!({ "id": id, "type": "private", "first_name": "Ali" })
    }

    fn base_message(chat_id: i64, message_id: i64) -> Value {
        json!({ "message_id": message_id, "date": 1_800_000_000, "chat": chat(chat_id), "from": user(chat_id) })
    }

    pub fn text(
        update_id: u32,
        chat_id: i64,
        message_id: i64,
        text: &str,
    ) -> teloxide::types::Update {
        let mut m = base_message(chat_id, message_id);
        m["text"] = json!(text);
        parse(json!({ "update_id": update_id, "message": m }))
    }

    pub fn edited(
        update_id: u32,
        chat_id: i64,
        message_id: i64,
        text: &str,
    ) -> teloxide::types::Update {
        let mut m = base_message(chat_id, message_id);
        m["text"] = json!(text);
        m["edit_date"] = json!(1_800_000_100);
        parse(json!({ "update_id": update_id, "edited_message": m }))
    }

    pub fn sticker(update_id: u32, chat_id: i64, message_id: i64) -> teloxide::types::Update {
        let mut m = base_message(chat_id, message_id);
        m["sticker"] = json!({ "file_id": "CAAD", "file_unique_id": "AgAD", "type": "regular",
                               "width": 512, "height": 512, "is_animated": false, "is_video": false, "emoji": "👍" });
        parse(json!({ "update_id": update_id, "message": m }))
    }

    pub fn photo(update_id: u32, chat_id: i64, message_id: i64) -> teloxide::types::Update {
        let mut m = base_message(chat_id, message_id);
        m["photo"] = json!([{ "file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 90, "file_size": 1000 }]);
        parse(json!({ "update_id": update_id, "message": m }))
    }

    /// A tap on a button of `message` (a Message as the bot sent it).
    pub fn tap(
        update_id: u32,
        chat_id: i64,
        callback_id: &str,
        message: &Value,
        data: &str,
    ) -> teloxide::types::Update {
        parse(json!({ "update_id": update_id, "callback_query": {
            "id": callback_id, "from": user(chat_id), "chat_instance": "ci-1",
            "message": message, "data": data } }))
    }

    /// From text, as over the wire: teloxide's `Update` does not
    /// deserialize from a `serde_json::Value`.
    pub fn parse(v: Value) -> teloxide::types::Update {
        serde_json::from_str(&v.to_string()).expect("a well-formed update")
    }
}
