//! The Telegram channel against a wiremock Bot API (tests/common/tg_fake.rs),
//! on both backends: request shapes, buttons and taps, linking, limits and
//! failures, staff alerts and attendance, bad input, the webhook route.
//! The end-to-end flows against the `telegram-test-api` emulator are in
//! tests/telegram_e2e.rs.

use crate::common;
use common::fx::actor;

use chrono::{DateTime, Duration, Utc};
use common::fx::{self, Recorder};
use common::sthlm;
use common::tg_fake::{FakeBotApi, update};
use paminn::channels::Channels;
use paminn::channels::telegram::TelegramTransport;
use paminn::domain::{
    AppointmentKind, Attendance, ChannelKind, Language, OutboxStatus, ParticipantId, PhoneNumber,
    ReplyState, Role, StaffId, TaskKind,
};
use paminn::engine::Engine;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::appointments::{self, Appointment, NewAppointment};
use paminn::store::participants::{self, NewParticipant, Participant};
use paminn::store::telegram::Subject;
use paminn::store::{journal, outbox, tasks};
use paminn::telegram::TelegramBot;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration as StdDuration;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const ALI_CHAT: i64 = 7_000_001;
const LOTS_CHAT: i64 = 7_000_900;

static UPDATE: AtomicU32 = AtomicU32::new(1);
fn uid() -> u32 {
    UPDATE.fetch_add(1, Ordering::SeqCst)
}

struct World {
    e: Engine,
    fake: FakeBotApi,
    bot: TelegramBot,
    d: Dispatcher,
    sms: Arc<Recorder>,
    unit: paminn::store::units::Unit,
}

async fn world(t: &common::TestDb, now: DateTime<Utc>) -> World {
    world_with_timeout(t, now, StdDuration::from_secs(5)).await
}

async fn world_with_timeout(t: &common::TestDb, now: DateTime<Utc>, timeout: StdDuration) -> World {
    let e = Engine::new(t.db.clone());
    let unit = fx::unit(&e, "Chansen", now).await;
    let fake = FakeBotApi::start().await;
    let sms = Arc::new(Recorder::default());
    let transport = TelegramTransport::new(fake.bot(timeout), &fake.config(timeout));
    let channels = Arc::new(
        Channels::new()
            .with(ChannelKind::Sms, sms.clone())
            .with(ChannelKind::Telegram, Arc::new(transport)),
    );
    let d = Dispatcher::new(
        e.clone(),
        channels,
        DispatcherConfig {
            owner: "t".into(),
            ..Default::default()
        },
    );
    let bot = TelegramBot::new(e.clone(), fake.bot(timeout));
    World {
        e,
        fake,
        bot,
        d,
        sms,
        unit,
    }
}

impl World {
    /// A participant who prefers Telegram and consented to SMS and Telegram.
    async fn participant(&self, name: &str, lang: Language, now: DateTime<Utc>) -> Participant {
        let new = NewParticipant {
            unit_id: self.unit.id,
            first_name: name.into(),
            phone: Some(PhoneNumber::parse("070-123 45 67").unwrap()),
            language: lang,
            channel_pref: ChannelKind::Telegram,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: true,
            lots_id: None,
        };
        self.e
            .add_participant(&new, Some("sms,telegram".parse().unwrap()), &actor(), now)
            .await
            .unwrap()
    }

    async fn code(&self, s: Subject, now: DateTime<Utc>) -> String {
        let (code, _) = self.e.create_link_code(s, &actor(), now).await.unwrap();
        code.as_str().to_string()
    }

    async fn send(&self, chat: i64, text: &str, now: DateTime<Utc>) {
        self.bot
            .handle(update::text(uid(), chat, i64::from(uid()), text), now)
            .await
            .unwrap();
    }

    /// Ali, linked to ALI_CHAT by a code.
    async fn linked(&self, now: DateTime<Utc>) -> Participant {
        let p = self.participant("Ali", Language::Sv, now).await;
        let code = self.code(Subject::Participant(p.id), now).await;
        self.send(ALI_CHAT, &format!("/start {code}"), now).await;
        self.get(p.id).await
    }

    async fn lots(&self, now: DateTime<Utc>) -> StaffId {
        let s = self
            .e
            .add_staff(
                &paminn::store::staff::NewStaff {
                    unit: Some(self.unit.id),
                    name: "Lena Lots".into(),
                    username: "lena".into(),
                    role: Role::Lots,
                    language: Language::Sv,
                },
                &actor(),
                now,
            )
            .await
            .unwrap();
        let code = self.code(Subject::Staff(s.id), now).await;
        self.send(LOTS_CHAT, &format!("/start {code}"), now).await;
        s.id
    }

    async fn get(&self, p: ParticipantId) -> Participant {
        let mut c = self.e.db.conn().await.unwrap();
        participants::get(&mut c, p).await.unwrap()
    }

    async fn book(&self, p: ParticipantId, at: DateTime<Utc>, now: DateTime<Utc>) -> Appointment {
        let a = NewAppointment {
            participant_id: p,
            series_id: None,
            kind: AppointmentKind::Meeting,
            starts_at: at,
            duration_min: 60,
            location: None,
            with_whom: None,
            internal_note: None,
            external_ref: None,
        };
        self.e.create_appointment(&a, &actor(), now).await.unwrap()
    }

    async fn appt(&self, a: &Appointment) -> Appointment {
        let mut c = self.e.db.conn().await.unwrap();
        appointments::get(&mut c, a.id).await.unwrap()
    }

    async fn rows(&self, p: ParticipantId) -> Vec<outbox::OutboxRow> {
        let mut c = self.e.db.conn().await.unwrap();
        let mut v = outbox::list(&mut c, Some(p)).await.unwrap();
        v.sort_by_key(|r| r.id);
        v
    }

    async fn tasks(&self, p: ParticipantId) -> Vec<tasks::Task> {
        let mut c = self.e.db.conn().await.unwrap();
        tasks::list(&mut c, Some(p), false).await.unwrap()
    }

    async fn journal_kinds(&self, p: ParticipantId) -> Vec<String> {
        let mut c = self.e.db.conn().await.unwrap();
        journal::list(&mut c, p)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    async fn inbound_count(&self) -> (i64, i64) {
        let known: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inbound WHERE participant_id IS NOT NULL")
                .fetch_one(&self.e.db.pool)
                .await
                .unwrap();
        let unknown: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inbound WHERE participant_id IS NULL")
                .fetch_one(&self.e.db.pool)
                .await
                .unwrap();
        (known, unknown)
    }

    /// The last message the bot sent to a chat, as Telegram returned it
    /// (with its message_id), to tap on.
    async fn last_sent_to(&self, chat: i64) -> Value {
        let calls = self.fake.calls_of("sendmessage").await;
        let (i, body) = calls
            .iter()
            .enumerate()
            .rfind(|(_, b)| b["chat_id"].as_i64() == Some(chat))
            .expect("a message to the chat");
        let mut m = json!({
            "message_id": 100 + i as i64,
            "date": 1_800_000_000,
            "chat": { "id": chat, "type": "private", "first_name": "Ali" },
            "from": { "id": 1, "is_bot": true, "first_name": "paminn" },
            "text": body["text"],
        });
        if !body["reply_markup"].is_null() {
            m["reply_markup"] = body["reply_markup"].clone();
        }
        m
    }
}

fn button_data(m: &Value, row: usize, col: usize) -> String {
    m["reply_markup"]["inline_keyboard"][row][col]["callback_data"]
        .as_str()
        .unwrap()
        .to_string()
}

both_backends! {
    async fn a_reminder_goes_out_with_two_buttons_whose_opaque_token_maps_to_the_outbox_row(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        assert!(p.telegram_linked);
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        let r = w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        assert_eq!(r.sent, 1, "{r:?}");
        let sends = w.fake.calls_of("sendmessage").await;
        let reminder = sends.last().unwrap();
        assert_eq!(reminder["chat_id"], json!(ALI_CHAT));
        assert!(reminder["text"].as_str().unwrap().starts_with("Hej Ali! Påminnelse: du har en tid imorgon"), "{reminder}");
        let kb = &reminder["reply_markup"]["inline_keyboard"][0];
        assert_eq!(kb[0]["text"], "Kommer ✅");
        assert_eq!(kb[1]["text"], "Förhinder ❌");
        let (yes, no) = (kb[0]["callback_data"].as_str().unwrap(), kb[1]["callback_data"].as_str().unwrap());
        let (tok_y, c_y) = yes.split_once(':').unwrap();
        let (tok_n, c_n) = no.split_once(':').unwrap();
        assert_eq!((tok_y, c_y, c_n), (tok_n, "y", "n"));
        assert_eq!(tok_y.len(), 32);
        let sent = w.rows(p.id).await.into_iter().find(|r| r.status == OutboxStatus::Sent).unwrap();
        let mapped: i64 = sqlx::query_scalar("SELECT outbox_id FROM telegram_callbacks WHERE token = $1")
            .bind(tok_y).fetch_one(&w.e.db.pool).await.unwrap();
        assert_eq!(mapped, sent.id.get());
        assert!(sent.gateway_id.unwrap().starts_with(&format!("{ALI_CHAT}:")));
        // The English participant gets English buttons.
        let bob = w.participant("Bob", Language::En, now).await;
        let code = w.code(Subject::Participant(bob.id), now).await;
        w.send(ALI_CHAT + 1, &format!("/start {code}"), now).await;
        w.book(bob.id, sthlm(2026, 12, 10, 12, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 12, 0)).await.unwrap();
        let m = w.last_sent_to(ALI_CHAT + 1).await;
        assert_eq!(m["reply_markup"]["inline_keyboard"][0][1]["text"], "Can't come ❌");
    }
}

both_backends! {
    async fn a_tap_records_the_reply_answers_and_edits_the_message_and_a_replay_records_nothing(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let msg = w.last_sent_to(ALI_CHAT).await;
        let at = sthlm(2026, 12, 9, 11, 2);
        let tap = update::tap(uid(), ALI_CHAT, "cb-1", &msg, &button_data(&msg, 0, 0));
        w.bot.handle(tap.clone(), at).await.unwrap();
        assert_eq!(w.appt(&a).await.reply, ReplyState::Coming);
        let answers = w.fake.calls_of("answercallbackquery").await;
        assert_eq!(answers.last().unwrap()["callback_query_id"], "cb-1");
        assert_eq!(answers.last().unwrap()["text"], "Tack!");
        let edits = w.fake.calls_of("editmessagetext").await;
        let edit = edits.last().unwrap();
        assert!(edit["text"].as_str().unwrap().ends_with("Du har svarat: Kommer"), "{edit}");
        assert!(edit["reply_markup"].is_null(), "the buttons are taken away");
        assert_eq!(w.inbound_count().await.0, 1);
        let receipts = w.rows(p.id).await.into_iter().filter(|r| r.purpose == paminn::domain::Purpose::Receipt).count();
        assert_eq!(receipts, 0, "the edited message is the confirmation; no extra receipt");
        // The same update again (Telegram redelivers), and a second tap on
        // the other button: nothing more is recorded.
        w.bot.handle(tap, at).await.unwrap();
        let again = update::tap(uid(), ALI_CHAT, "cb-2", &msg, &button_data(&msg, 0, 1));
        w.bot.handle(again, at).await.unwrap();
        assert_eq!(w.appt(&a).await.reply, ReplyState::Coming);
        assert_eq!(w.inbound_count().await.0, 1);
        let answers = w.fake.calls_of("answercallbackquery").await;
        assert_eq!(answers.last().unwrap()["text"], "Du har redan svarat. Skriv till oss om något har ändrats.");
        // Made-up and foreign tokens: a clear answer, nothing recorded.
        for data in ["0123456789abcdef0123456789abcdef:y", "garbage", "1:y"] {
            let u = update::tap(uid(), ALI_CHAT, "cb-x", &msg, data);
            w.bot.handle(u, at).await.unwrap();
            let last = w.fake.calls_of("answercallbackquery").await.pop().unwrap();
            assert!(last["text"].as_str().unwrap().starts_with("Den här knappen gäller inte längre."), "{last}");
        }
        assert_eq!(w.inbound_count().await.0, 1);
        let replies = w.journal_kinds(p.id).await.into_iter().filter(|k| k == "inbound_message").count();
        assert_eq!(replies, 1);
    }
}

both_backends! {
    async fn a_token_tapped_from_another_chat_does_nothing(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let msg = w.last_sent_to(ALI_CHAT).await;
        let u = update::tap(uid(), 666, "cb-evil", &json!({"message_id": 1, "date": 1, "chat": {"id": 666, "type": "private", "first_name": "E"}}), &button_data(&msg, 0, 1));
        w.bot.handle(u, now).await.unwrap();
        assert_eq!(w.appt(&a).await.reply, ReplyState::None);
        assert_eq!(w.inbound_count().await.0, 0);
    }
}

both_backends! {
    async fn a_typed_answer_works_like_a_tap_and_a_redelivered_update_is_recorded_once(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let u = update::text(uid(), ALI_CHAT, 4242, "förhinder sjuk");
        let at = sthlm(2026, 12, 9, 11, 10);
        w.bot.handle(u.clone(), at).await.unwrap();
        w.bot.handle(u, at).await.unwrap();
        let after = w.appt(&a).await;
        assert_eq!((after.reply, after.reply_reason.as_deref()), (ReplyState::Cannot, Some("sjuk")));
        assert_eq!(w.inbound_count().await.0, 1);
        // The receipt goes back on Telegram.
        let receipt = w.rows(p.id).await.into_iter().rfind(|r| r.purpose == paminn::domain::Purpose::Receipt).unwrap();
        assert_eq!(receipt.channel, ChannelKind::Telegram);
        w.d.run_once(at).await.unwrap();
        assert!(w.fake.texts_to(ALI_CHAT).await.last().unwrap().starts_with("Tack för att du hör av dig"));
    }
}

both_backends! {
    async fn link_codes_are_single_use_expire_after_a_day_and_wrong_ones_slow_a_chat_down(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.participant("Ali", Language::Sv, now).await;
        let code = w.code(Subject::Participant(p.id), now).await;
        // A phone number typed as text links nothing.
        w.send(ALI_CHAT, "0701234567", now).await;
        w.send(ALI_CHAT, "/start +46701234567", now).await;
        assert!(!w.get(p.id).await.telegram_linked);
        w.send(ALI_CHAT, &format!("/start {code}"), now).await;
        assert!(w.get(p.id).await.telegram_linked);
        let welcome = w.fake.texts_to(ALI_CHAT).await.pop().unwrap();
        assert!(welcome.starts_with("Hej Ali! Nu är den här chatten kopplad."), "{welcome}");
        assert!(welcome.contains("/stopp"));
        // Used once: another chat cannot use it again.
        w.send(555, &format!("/start {code}"), now).await;
        assert!(w.fake.texts_to(555).await.pop().unwrap().starts_with("Koden fungerar inte."));
        // Expired after 24 hours.
        let old = w.code(Subject::Participant(p.id), now).await;
        w.send(556, &format!("/start {old}"), now + Duration::hours(25)).await;
        assert!(w.fake.texts_to(556).await.pop().unwrap().starts_with("Koden fungerar inte."));
        // Five wrong codes, then even a right one is not looked at until the wait is over.
        let good = w.code(Subject::Participant(p.id), now).await;
        for i in 0..5 {
            w.send(557, &format!("/start AAAAAAAAAAAAAAAAAAAAA{i}"), now).await;
        }
        w.send(557, &format!("/start {good}"), now).await;
        assert!(w.fake.texts_to(557).await.pop().unwrap().starts_with("För många försök."));
        let linked_chat: Option<String> = sqlx::query_scalar("SELECT telegram_chat_id FROM participants WHERE id = $1")
            .bind(p.id.get()).fetch_one(&w.e.db.pool).await.unwrap();
        assert_eq!(linked_chat.as_deref(), Some(ALI_CHAT.to_string().as_str()), "the slowed chat did not take the link");
        w.send(557, &format!("/start {good}"), now + Duration::minutes(2)).await;
        let linked_chat: Option<String> = sqlx::query_scalar("SELECT telegram_chat_id FROM participants WHERE id = $1")
            .bind(p.id.get()).fetch_one(&w.e.db.pool).await.unwrap();
        assert_eq!(linked_chat.as_deref(), Some("557"), "after the wait the right code works");
        // The failure counter holds no chat id.
        let keys: Vec<String> = sqlx::query_scalar("SELECT chat_key FROM telegram_link_failures")
            .fetch_all(&w.e.db.pool).await.unwrap();
        assert!(keys.iter().all(|k| !k.contains("555") && k.len() == 64), "{keys:?}");
        // Codes are stored as hashes only.
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM link_codes WHERE code_hash = $1")
            .bind(&good).fetch_one(&w.e.db.pool).await.unwrap();
        assert_eq!(stored, 0);
    }
}

both_backends! {
    async fn stopp_unlinks_and_an_unknown_chat_gets_one_polite_answer_and_leaves_only_a_count(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        w.send(999, "hej vem är du", now).await;
        w.send(999, "hallå?", now + Duration::minutes(1)).await;
        let answers = w.fake.texts_to(999).await;
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert!(answers[0].contains("inte kopplad") && answers[0].contains("not linked"));
        assert_eq!(w.inbound_count().await, (0, 2));
        let bodies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound WHERE body IS NOT NULL OR gateway_id LIKE '%999%'")
            .fetch_one(&w.e.db.pool).await.unwrap();
        assert_eq!(bodies, 0, "no text and no chat id of an unknown chat is stored");
        let p = w.linked(now).await;
        w.send(ALI_CHAT, "/stopp", now).await;
        assert!(!w.get(p.id).await.telegram_linked);
        assert_eq!(w.fake.texts_to(ALI_CHAT).await.pop().unwrap(), "Chatten är bortkopplad. Du får inga fler meddelanden här.");
        assert!(w.journal_kinds(p.id).await.contains(&"telegram_unlinked".to_string()));
    }
}

both_backends! {
    async fn stickers_photos_edits_and_long_texts_get_a_clear_answer_and_nothing_is_recorded_twice(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        w.bot.handle(update::sticker(uid(), ALI_CHAT, 1), now).await.unwrap();
        w.bot.handle(update::photo(uid(), ALI_CHAT, 2), now).await.unwrap();
        let texts = w.fake.texts_to(ALI_CHAT).await;
        let n = texts.len();
        assert_eq!(texts[n - 2..], ["Jag kan bara läsa text. Skriv KOMMER, FÖRHINDER eller HJÄLP.".to_string(), "Jag kan bara läsa text. Skriv KOMMER, FÖRHINDER eller HJÄLP.".to_string()]);
        w.bot.handle(update::edited(uid(), ALI_CHAT, 3, "kommer"), now).await.unwrap();
        assert_eq!(w.fake.texts_to(ALI_CHAT).await.pop().unwrap(), "Ändrade meddelanden läses inte. Skicka ett nytt meddelande i stället.");
        assert_eq!(w.inbound_count().await.0, 0);
        let long = "å".repeat(4000);
        let u = update::text(uid(), ALI_CHAT, 4, &long);
        w.bot.handle(u.clone(), now).await.unwrap();
        w.bot.handle(u, now).await.unwrap();
        assert_eq!(w.inbound_count().await.0, 1);
        let t = w.tasks(p.id).await;
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TaskKind::NotUnderstood);
    }
}

both_backends! {
    async fn a_429_waits_retry_after_and_is_not_a_failure(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        Mock::given(method("POST")).and(path_regex("(?i)/sendmessage$"))
            .respond_with(ResponseTemplate::new(429).set_body_json(json!({
                "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7",
                "parameters": { "retry_after": 7 } })))
            .up_to_n_times(1).with_priority(1).mount(&w.fake.server).await;
        let at = sthlm(2026, 12, 9, 11, 0);
        let r = w.d.run_once(at).await.unwrap();
        assert_eq!((r.deferred, r.failed, r.retried), (1, 0, 0), "{r:?}");
        let row = w.rows(p.id).await.into_iter().find(|r| r.appointment_id.is_some() && r.status == OutboxStatus::Pending).unwrap();
        // Retry-After counts from the moment of the send, a few ms after `at`.
        let wait = row.next_attempt_at - at;
        assert!(wait >= Duration::seconds(7) && wait < Duration::seconds(8), "{wait:?}");
        assert!(w.tasks(p.id).await.is_empty());
        let r = w.d.run_once(at + Duration::seconds(8)).await.unwrap();
        assert_eq!(r.sent, 1, "{r:?}");
    }
}

both_backends! {
    async fn a_blocked_bot_marks_the_chat_dead_falls_back_to_sms_and_gives_the_lots_a_task(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        Mock::given(method("POST")).and(path_regex("(?i)/sendmessage$"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user" })))
            .with_priority(1).mount(&w.fake.server).await;
        let at = sthlm(2026, 12, 9, 11, 0);
        let r = w.d.run_once(at).await.unwrap();
        assert_eq!(r.failed, 1, "{r:?}");
        assert!(!w.get(p.id).await.telegram_linked, "the dead chat is unlinked");
        let kinds = w.journal_kinds(p.id).await;
        assert!(kinds.contains(&"telegram_unreachable".into()) && kinds.contains(&"fallback_to_sms".into()), "{kinds:?}");
        let t = w.tasks(p.id).await;
        assert_eq!((t.len(), t[0].kind), (1, TaskKind::DeliveryFailed));
        // The fallback is due at the failure, a few ms after `at`.
        w.d.run_once(at + Duration::seconds(1)).await.unwrap();
        let sms = w.sms.sent.lock().unwrap().clone();
        assert_eq!(sms.len(), 1);
        assert!(sms[0].body.starts_with("Hej Ali! Påminnelse"));
        // What is planned from now on goes by SMS.
        w.e.move_appointment(a.id, sthlm(2026, 12, 11, 11, 0), &actor(), at).await.unwrap();
        let pending: Vec<_> = w.rows(p.id).await.into_iter().filter(|r| r.status == OutboxStatus::Pending).collect();
        assert!(!pending.is_empty() && pending.iter().all(|r| r.channel == ChannelKind::Sms), "{pending:?}");
    }
}

both_backends! {
    async fn a_timeout_is_retried_later_not_dropped(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world_with_timeout(&t, now, StdDuration::from_millis(300)).await;
        let p = w.linked(now).await;
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        Mock::given(method("POST")).and(path_regex("(?i)/sendmessage$"))
            .respond_with(ResponseTemplate::new(200).set_delay(StdDuration::from_secs(3)).set_body_json(json!({"ok": true, "result": true})))
            .up_to_n_times(1).with_priority(1).mount(&w.fake.server).await;
        let at = sthlm(2026, 12, 9, 11, 0);
        let r = w.d.run_once(at).await.unwrap();
        assert_eq!((r.retried, r.failed), (1, 0), "{r:?}");
        let row = w.rows(p.id).await.into_iter().find(|r| r.appointment_id.is_some() && r.status == OutboxStatus::Pending).unwrap();
        let err = row.last_error.clone().unwrap_or_default();
        assert!(err.contains("network: timeout"), "{row:?}");
        assert!(!err.contains(common::tg_fake::TOKEN), "the bot token (in the URL) is never stored or logged");
        let r = w.d.run_once(row.next_attempt_at).await.unwrap();
        assert_eq!(r.sent, 1, "{r:?}");
    }
}

both_backends! {
    async fn the_lots_gets_one_alert_per_task_on_telegram(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        // The unit has chosen alerts with the participant's words.
        paminn::store::units::set_alert_details(&mut w.e.db.conn().await.unwrap(), w.unit.id, true).await.unwrap();
        let p = w.linked(now).await;
        // A task from before the lots linked Telegram is not pushed.
        let early = w.participant("Ella", Language::Sv, now).await;
        w.e.receive(ChannelKind::Sms, "gw-early", early.id, "vad händer", now - Duration::minutes(1)).await.unwrap();
        let lots = w.lots(now).await;
        let welcome = w.fake.texts_to(LOTS_CHAT).await.pop().unwrap();
        assert!(welcome.starts_with("Hej Lena Lots! Nu får du aviseringar här"), "{welcome}");
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        w.e.assign_lots(early.id, Some(lots), &actor(), now).await.unwrap();
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let at = sthlm(2026, 12, 9, 11, 5);
        w.send(ALI_CHAT, "förhinder sjuk", at).await;
        w.send(ALI_CHAT, "kan ni ringa mig", at).await;
        assert_eq!(w.bot.send_alerts(at).await.unwrap(), 2);
        let alerts = w.fake.texts_to(LOTS_CHAT).await;
        let n = alerts.len();
        assert_eq!(alerts[n - 2], format!("Förhinder: Ali (#{}), imorgon torsdag 10 december kl. 11:00. Skäl: sjuk", p.id));
        assert_eq!(alerts[n - 1], format!("Ej förstått, från Ali (#{}): kan ni ringa mig", p.id));
        assert_eq!(w.bot.send_alerts(at).await.unwrap(), 0, "each task is alerted once");
        assert_eq!(w.appt(&a).await.reply, ReplyState::Cannot);
        // Protected identity: a lots who is not named gets no alert naming
        // the participant; named, the waiting one comes.
        w.e.set_protection(&actor(), at, p.id, true, &[]).await.unwrap();
        w.send(ALI_CHAT, "kan någon ringa", at + Duration::minutes(1)).await;
        assert_eq!(w.bot.send_alerts(at + Duration::minutes(1)).await.unwrap(), 0, "not named: no alert");
        w.e.set_protection(&actor(), at, p.id, true, &[lots]).await.unwrap();
        assert_eq!(w.bot.send_alerts(at + Duration::minutes(2)).await.unwrap(), 1, "named: the alert");
        assert!(w.fake.texts_to(LOTS_CHAT).await.last().unwrap().contains("kan någon ringa"));
        // Participants never reach staff commands.
        w.send(ALI_CHAT, "/idag", at).await;
        assert!(!w.fake.texts_to(ALI_CHAT).await.iter().any(|t| t.starts_with("Idag")));
    }
}

both_backends! {
    async fn an_alert_waits_through_a_telegram_outage(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let lots = w.lots(now).await;
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        w.send(ALI_CHAT, "hjälp mig med något", now).await;
        Mock::given(method("POST")).and(path_regex("(?i)/sendmessage$"))
            .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
            .up_to_n_times(1).with_priority(1).mount(&w.fake.server).await;
        assert_eq!(w.bot.send_alerts(now).await.unwrap(), 0);
        assert_eq!(w.bot.send_alerts(now).await.unwrap(), 1, "the alert comes when Telegram is back");
    }
}

both_backends! {
    async fn after_the_end_the_lots_gets_attendance_buttons_that_record_attendance(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let lots = w.lots(now).await;
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        let a = w.book(p.id, sthlm(2026, 12, 9, 10, 0), now).await;
        assert_eq!(w.bot.send_attendance_prompts(sthlm(2026, 12, 9, 10, 30)).await.unwrap(), 0, "not before the end");
        let at = sthlm(2026, 12, 9, 11, 5);
        assert_eq!(w.bot.send_attendance_prompts(at).await.unwrap(), 1);
        assert_eq!(w.bot.send_attendance_prompts(at).await.unwrap(), 0, "one prompt per appointment");
        let msg = w.last_sent_to(LOTS_CHAT).await;
        assert_eq!(msg["text"], format!("Ali (#{}), idag kl. 10:00. Kom deltagaren?", p.id));
        let labels: Vec<&str> = msg["reply_markup"]["inline_keyboard"].as_array().unwrap().iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|b| b["text"].as_str().unwrap())).collect();
        assert_eq!(labels, ["Närvarade", "Uteblev", "Giltigt förhinder"]);
        // The participant cannot use the lots's buttons.
        let u = update::tap(uid(), ALI_CHAT, "cb-p", &msg, &button_data(&msg, 0, 0));
        w.bot.handle(u, at).await.unwrap();
        assert_eq!(w.appt(&a).await.attendance, Attendance::Unknown);
        let u = update::tap(uid(), LOTS_CHAT, "cb-l", &msg, &button_data(&msg, 0, 1));
        w.bot.handle(u, at).await.unwrap();
        assert_eq!(w.appt(&a).await.attendance, Attendance::Absent);
        let edit = w.fake.calls_of("editmessagetext").await.pop().unwrap();
        assert!(edit["text"].as_str().unwrap().ends_with("Registrerat: Uteblev"));
        let mut c = w.e.db.conn().await.unwrap();
        let ev = journal::list(&mut c, p.id).await.unwrap().into_iter().find(|e| e.kind == "attendance_recorded").unwrap();
        assert_eq!(ev.actor, format!("staff:{lots}:telegram"));
        // A second tap does not overwrite it.
        let u = update::tap(uid(), LOTS_CHAT, "cb-l2", &msg, &button_data(&msg, 0, 0));
        w.bot.handle(u, at).await.unwrap();
        assert_eq!(w.appt(&a).await.attendance, Attendance::Absent);
    }
}

both_backends! {
    async fn idag_lists_the_lots_caseload_with_reply_and_delivery(t) {
        let now = sthlm(2026, 12, 9, 7, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let lots = w.lots(now).await;
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        w.book(p.id, sthlm(2026, 12, 9, 14, 0), now).await;
        w.book(p.id, sthlm(2026, 12, 10, 14, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 12, 0)).await.unwrap(); // the 2 h reminder
        w.send(ALI_CHAT, "kommer", sthlm(2026, 12, 9, 12, 5)).await;
        w.send(LOTS_CHAT, "/idag", sthlm(2026, 12, 9, 12, 10)).await;
        let list = w.fake.texts_to(LOTS_CHAT).await.pop().unwrap();
        assert_eq!(list, format!("Idag:\n14:00 Ali (#{}), möte: kommer, skickad", p.id));
        w.send(LOTS_CHAT, "hej", now).await;
        assert!(w.fake.texts_to(LOTS_CHAT).await.pop().unwrap().starts_with("/idag visar"));
    }
}

both_backends! {
    async fn idag_says_what_the_web_today_page_says_about_delivery(t) {
        use paminn::engine::day::{Delivery, Scope};
        let now = sthlm(2026, 12, 9, 7, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let lots = w.lots(now).await;
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        let a = w.book(p.id, sthlm(2026, 12, 10, 14, 0), now).await;
        // Two reminders: the first failed, the later one was delivered.
        // The most telling state is the failure, on both pages.
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM outbox WHERE appointment_id = $1 AND purpose = 'reminder' ORDER BY id",
        )
        .bind(a.id.get())
        .fetch_all(&w.e.db.pool)
        .await
        .unwrap();
        assert_eq!(ids.len(), 2, "the 24 h and the 2 h reminder");
        for (id, status) in [(ids[0], "failed"), (ids[1], "delivered")] {
            sqlx::query("UPDATE outbox SET status = $1 WHERE id = $2")
                .bind(status)
                .bind(id)
                .execute(&w.e.db.pool)
                .await
                .unwrap();
        }
        let day = w.e.day(Scope::Caseload(lots), sthlm(2026, 12, 10, 0, 0), sthlm(2026, 12, 11, 0, 0), false, 10, sthlm(2026, 12, 10, 12, 0))
            .await
            .unwrap();
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].delivery, Some(Delivery::Failed));
        w.send(LOTS_CHAT, "/idag", sthlm(2026, 12, 10, 13, 0)).await;
        let list = w.fake.texts_to(LOTS_CHAT).await.pop().unwrap();
        assert_eq!(list, format!("Idag:\n14:00 Ali (#{}), möte: inget svar, misslyckad", p.id));
    }
}

both_backends! {
    async fn the_webhook_wants_the_secret_header_and_a_real_update(t) {
        use paminn::web::{AppState, telegram::TelegramHook};
        let now = Utc::now();
        let w = world(&t, now).await;
        let p = w.participant("Ali", Language::Sv, now).await;
        let code = w.code(Subject::Participant(p.id), now).await;
        let bot = Arc::new(TelegramBot::new(w.e.clone(), w.fake.bot(StdDuration::from_secs(5))));
        let server = common::server::serve_with(|_| AppState {
            telegram: Some(TelegramHook { bot, secret: "hook-secret_1".into() }),
            ..common::server::state(&w.e)
        }).await;
        let base = server.base.clone();
        let http = reqwest::Client::new();
        let url = format!("{base}/webhooks/telegram");
        let body = json!({ "update_id": 1, "message": { "message_id": 1, "date": 1_800_000_000,
            "chat": { "id": ALI_CHAT, "type": "private", "first_name": "Ali" },
            "from": { "id": ALI_CHAT, "is_bot": false, "first_name": "Ali" }, "text": format!("/start {code}") } });
        let r = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = http.post(&url).header("X-Telegram-Bot-Api-Secret-Token", "wrong").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(!w.get(p.id).await.telegram_linked, "nothing was done without the secret");
        let r = http.post(&url).header("X-Telegram-Bot-Api-Secret-Token", "hook-secret_1").body("{\"update_id\": \"x\"}").send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("not a Telegram update"));
        let big = "x".repeat(70 * 1024);
        let r = http.post(&url).header("X-Telegram-Bot-Api-Secret-Token", "hook-secret_1").body(big).send().await.unwrap();
        assert_eq!(r.status(), 413);
        let r = http.post(&url).header("X-Telegram-Bot-Api-Secret-Token", "hook-secret_1").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(w.get(p.id).await.telegram_linked);
        drop(server);
    }
}

#[tokio::test]
async fn polling_hands_updates_to_the_bot_and_confirms_them_with_the_offset() {
    let t = common::TestDb::new(common::Kind::Sqlite).await;
    let now = Utc::now();
    let w = world(&t, now).await;
    let p = w.participant("Ali", Language::Sv, now).await;
    let code = w.code(Subject::Participant(p.id), now).await;
    // The first getUpdates returns one update; later ones none.
    Mock::given(method("POST")).and(path_regex("(?i)/getupdates$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "result": [
            { "update_id": 41, "message": { "message_id": 1, "date": 1_800_000_000,
              "chat": { "id": ALI_CHAT, "type": "private", "first_name": "Ali" },
              "from": { "id": ALI_CHAT, "is_bot": false, "first_name": "Ali" }, "text": format!("/start {code}") } } ] })))
        .up_to_n_times(1).with_priority(1).mount(&w.fake.server).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let bot = Arc::new(TelegramBot::new(
        w.e.clone(),
        w.fake.bot(StdDuration::from_secs(5)),
    ));
    let task = tokio::spawn(bot.poll(stop.clone()));
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let polls = w.fake.calls_of("getupdates").await;
        if polls.len() >= 2 {
            assert_eq!(polls[1]["offset"], 42, "the next poll confirms update 41");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "polling did not go on"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap();
    assert!(w.get(p.id).await.telegram_linked);
    assert!(
        w.fake.calls_of("deletewebhook").await.len() == 1,
        "polling removes a webhook first"
    );
}

both_backends! {
    /// Issue 15 item 13: by default an alert carries nothing the
    /// participant wrote (a reason can be health data, and Telegram keeps
    /// it): "Ny uppgift" and a link to the task.
    async fn by_default_an_alert_says_new_task_with_a_link_and_no_words(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let lots = w.lots(now).await;
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let at = sthlm(2026, 12, 9, 11, 5);
        w.send(ALI_CHAT, "förhinder sjuk hiv-mottagningen", at).await;
        w.send(ALI_CHAT, "jag mår dåligt", at).await;
        let bot = TelegramBot::new(w.e.clone(), w.fake.bot(StdDuration::from_secs(5)))
            .with_public_url(Some("https://paminn.example.se/".into()));
        assert_eq!(bot.send_alerts(at).await.unwrap(), 2);
        let mut tasks = w.tasks(p.id).await;
        tasks.sort_by_key(|t| t.id);
        let alerts = w.fake.texts_to(LOTS_CHAT).await;
        let n = alerts.len();
        for (alert, task) in alerts[n - 2..].iter().zip(&tasks) {
            assert_eq!(alert, &format!("Ny uppgift: https://paminn.example.se/today#t{}", task.id));
        }
        for alert in &alerts {
            assert!(!alert.contains("sjuk") && !alert.contains("mår") && !alert.contains("Ali"), "{alert}");
        }
        // Without a public_url there is no link, and still no words.
        w.send(ALI_CHAT, "ring mig om min dom", sthlm(2026, 12, 9, 11, 10)).await;
        assert_eq!(w.bot.send_alerts(sthlm(2026, 12, 9, 11, 10)).await.unwrap(), 1);
        assert_eq!(w.fake.texts_to(LOTS_CHAT).await.pop().unwrap(), "Ny uppgift. Öppna paminn för att se den.");
    }
}

both_backends! {
    /// Issue 15 item 13: attendance buttons stop working after a week, and
    /// a lots who is no longer the participant's cannot use them.
    async fn attendance_buttons_expire_and_follow_the_current_lots(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = w.linked(now).await;
        let lots = w.lots(now).await;
        w.e.assign_lots(p.id, Some(lots), &actor(), now).await.unwrap();
        let first = w.book(p.id, sthlm(2026, 12, 9, 10, 0), now).await;
        let at = sthlm(2026, 12, 9, 11, 5);
        assert_eq!(w.bot.send_attendance_prompts(at).await.unwrap(), 1);
        let old_prompt = w.last_sent_to(LOTS_CHAT).await;
        // Eight days later the buttons no longer work.
        let late = at + Duration::days(8);
        let u = update::tap(uid(), LOTS_CHAT, "cb-late", &old_prompt, &button_data(&old_prompt, 0, 0));
        w.bot.handle(u, late).await.unwrap();
        assert_eq!(w.appt(&first).await.attendance, Attendance::Unknown, "an expired button records nothing");
        let popup = w.fake.calls_of("answercallbackquery").await.pop().unwrap();
        assert_eq!(popup["text"], "Den här knappen gäller inte längre.");
        // A second appointment; its prompt goes to Lena, then Ali gets
        // another lots: Lena's buttons stop working.
        let second = w.book(p.id, sthlm(2026, 12, 10, 10, 0), now).await;
        let at2 = sthlm(2026, 12, 10, 11, 5);
        assert_eq!(w.bot.send_attendance_prompts(at2).await.unwrap(), 1);
        let prompt = w.last_sent_to(LOTS_CHAT).await;
        let other = w.e.add_staff(&paminn::store::staff::NewStaff {
            unit: Some(w.unit.id), name: "Lars".into(), username: "lars".into(), role: Role::Lots, language: Language::Sv,
        }, &actor(), now).await.unwrap();
        w.e.assign_lots(p.id, Some(other.id), &actor(), at2).await.unwrap();
        let u = update::tap(uid(), LOTS_CHAT, "cb-moved", &prompt, &button_data(&prompt, 0, 0));
        w.bot.handle(u, at2).await.unwrap();
        assert_eq!(w.appt(&second).await.attendance, Attendance::Unknown, "no longer her participant");
        // Given back to her, the same button works (within the week).
        w.e.assign_lots(p.id, Some(lots), &actor(), at2).await.unwrap();
        let u = update::tap(uid(), LOTS_CHAT, "cb-back", &prompt, &button_data(&prompt, 0, 0));
        w.bot.handle(u, at2).await.unwrap();
        assert_eq!(w.appt(&second).await.attendance, Attendance::Attended);
    }
}
