//! End to end against `telegram-test-api`, a Bot API emulator written by
//! others (tests/telegram-emulator; `.ci/run` installs it with npm). The
//! real pieces run: teloxide's HTTP client, the long-polling loop, the
//! dispatcher with the Telegram transport, and the staff alerts. The
//! emulator plays the people: a participant links with a code, gets a
//! reminder, taps "Kommer", and the case record shows it; a typed
//! "förhinder sjuk" reaches the linked lots as an alert.
//!
//! Without the emulator's node_modules the test says so and skips, unless
//! PAMINN_REQUIRE_TELEGRAM_EMULATOR is set (CI sets it): then it fails.

use crate::common;
use common::fx::actor;

use chrono::{Duration, Utc};
use common::fx::{self, Recorder};
use common::tg_emulator::{self, Emulator};
use paminn::channels::Channels;
use paminn::channels::telegram::{TelegramConfig, TelegramTransport, make_bot};
use paminn::domain::schedule::QuietHours;
use paminn::domain::{AppointmentKind, ChannelKind, Language, PhoneNumber, ReplyState, Role};
use paminn::engine::Engine;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::appointments::{self, NewAppointment};
use paminn::store::participants::NewParticipant;
use paminn::store::telegram::Subject;
use paminn::store::units;
use paminn::telegram::TelegramBot;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokio_util::sync::CancellationToken;

const ALI: i64 = 81_000_001;
const LENA: i64 = 81_000_900;
const WAIT: StdDuration = StdDuration::from_secs(20);

async fn emulator() -> Option<Emulator> {
    let emu = tg_emulator::start().await;
    if emu.is_none() && std::env::var_os("PAMINN_REQUIRE_TELEGRAM_EMULATOR").is_some() {
        panic!("the Telegram emulator is required here: run `npm ci` in tests/telegram-emulator");
    }
    emu
}

/// Waits for a condition on the database, polling with a deadline.
async fn eventually<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + WAIT;
    while !f().await {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

both_backends! {
    async fn a_participant_links_gets_a_reminder_taps_kommer_and_a_typed_forhinder_reaches_the_lots(t) {
        let Some(emu) = emulator().await else { return };
        let token = format!("{}:e2e-{}", 4000 + rand::random::<u16>() as u32, rand::random::<u32>());
        let now = Utc::now();
        let e = Engine::new(t.db.clone());
        let unit = fx::unit(&e, "Chansen", now).await;
        {
            // The test runs on the real clock: quiet hours would hold the
            // reminder back at night.
            let mut c = e.db.conn().await.unwrap();
            units::set_quiet_hours(&mut c, unit.id, QuietHours::none()).await.unwrap();
            // Alerts with the participant's words (a unit's choice; off by default).
            units::set_alert_details(&mut c, unit.id, true).await.unwrap();
        }
        let cfg = TelegramConfig {
            token: token.clone(),
            api_url: emu.api_url.clone(),
            rate_per_sec: 30,
            per_chat_per_sec: 1,
            timeout: StdDuration::from_secs(10),
        };
        let bot = make_bot(&cfg).unwrap();
        let sms = Arc::new(Recorder::default());
        let d = Dispatcher::new(
            e.clone(),
            Arc::new(Channels::new()
                .with(ChannelKind::Sms, sms.clone())
                .with(ChannelKind::Telegram, Arc::new(TelegramTransport::new(bot.clone(), &cfg)))),
            DispatcherConfig { owner: "e2e".into(), ..Default::default() },
        );
        let tg = Arc::new(TelegramBot::new(e.clone(), bot));
        let stop = CancellationToken::new();
        let polling = tokio::spawn(tg.clone().poll(stop.clone()));

        // The lots links their own Telegram with a staff code.
        let lena = e.add_staff(&paminn::store::staff::NewStaff { unit: Some(unit.id), name: "Lena".into(), username: "lena".into(), role: Role::Lots, language: Language::Sv }, &actor(), now).await.unwrap();
        let (code, _) = e.create_link_code(Subject::Staff(lena.id), &actor(), now).await.unwrap();
        emu.send_text(&token, LENA, "Lena", &format!("/start {}", code.as_str())).await;
        emu.wait_for_bot_message(&token, LENA, |m| text(m).starts_with("Hej Lena! Nu får du aviseringar"), WAIT).await;

        // The participant opens the deep link: /start <code>.
        let p = e.add_participant(&NewParticipant {
            unit_id: unit.id,
            first_name: "Ali".into(),
            phone: Some(PhoneNumber::parse("070-123 45 67").unwrap()),
            language: Language::Sv,
            channel_pref: ChannelKind::Telegram,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: true,
            lots_id: Some(lena.id),
        }, Some("sms,telegram".parse().unwrap()), &actor(), now).await.unwrap();
        let (code, _) = e.create_link_code(Subject::Participant(p.id), &actor(), now).await.unwrap();
        emu.send_text(&token, ALI, "Ali", &format!("/start {}", code.as_str())).await;
        emu.wait_for_bot_message(&token, ALI, |m| text(m).starts_with("Hej Ali! Nu är den här chatten kopplad."), WAIT).await;

        // A meeting in a little over two hours: the 2 h reminder is due now.
        let starts = now + Duration::minutes(121);
        let a = e.create_appointment(&NewAppointment {
            participant_id: p.id, series_id: None, kind: AppointmentKind::Meeting, starts_at: starts,
            duration_min: 60, location: None, with_whom: None, internal_note: None, external_ref: None,
        }, &actor(), now).await.unwrap();
        // (Booked at short notice, the earlier reminder goes out at once too.)
        let r = d.run_once(now + Duration::minutes(2)).await.unwrap();
        assert!(r.sent >= 1 && r.failed == 0, "{r:?}");
        let reminder = emu.wait_for_bot_message(&token, ALI, |m| m["reply_markup"].is_object(), WAIT).await;
        assert!(text(&reminder).starts_with("Hej Ali! Påminnelse"), "{reminder}");
        let yes = reminder["reply_markup"]["inline_keyboard"][0][0].clone();
        assert_eq!(yes["text"], "Kommer ✅");

        // A tap on "Kommer ✅": the case record shows it, the message shows the choice.
        emu.tap(&token, ALI, "Ali", &reminder, yes["callback_data"].as_str().unwrap()).await;
        let get = || async {
            let mut c = e.db.conn().await.unwrap();
            appointments::get(&mut c, a.id).await.unwrap()
        };
        eventually("the tap is recorded", || async { get().await.reply == ReplyState::Coming }).await;
        emu.wait_for_bot_message(&token, ALI, |m| text(m).ends_with("Du har svarat: Kommer"), WAIT).await;
        let answers = emu.bot_api_calls(&token, Some("answerCallbackQuery")).await;
        assert_eq!(answers.last().unwrap()["params"]["text"], "Tack!");

        // A typed "förhinder sjuk" changes the reply and reaches Lena.
        emu.send_text(&token, ALI, "Ali", "förhinder sjuk").await;
        eventually("the typed reply is recorded", || async { get().await.reply == ReplyState::Cannot }).await;
        assert_eq!(get().await.reply_reason.as_deref(), Some("sjuk"));
        assert_eq!(tg.send_alerts(Utc::now()).await.unwrap(), 1);
        let alert = emu.wait_for_bot_message(&token, LENA, |m| text(m).starts_with("Förhinder: Ali"), WAIT).await;
        assert!(text(&alert).ends_with("Skäl: sjuk"), "{alert}");

        stop.cancel();
        polling.await.unwrap();
        assert!(sms.sent.lock().unwrap().is_empty(), "nothing fell back to SMS");
    }
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}
