//! The broadcast and group pages: a coordinator composes a broadcast with a
//! preview in both languages, sends it once (a double submit plans one),
//! follows its progress and the tally of an activity; errors re-render
//! with the reason; groups are created and their members kept; only
//! coordinators of the unit and admins get in; every change is audited.
//! The dispatcher runs with `run_once(at)` at the next noon in Stockholm,
//! so quiet hours never decide a test.

use crate::common;
use common::fx::actor;

use chrono::{DateTime, Datelike, Duration, Utc};
use common::fx::{self, Recorder};
use common::ui::{self, UiApp, location};
use paminn::domain::recurrence::CronExpr;
use paminn::domain::{
    AppointmentId, AppointmentKind, ChannelKind, GroupId, Language, ParticipantId, PhoneNumber,
    Role,
};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::participants::{NewParticipant, Participant};
use paminn::store::series::SeriesTarget;
use paminn::store::units::Unit;
use paminn::store::{appointments, outbox};
use reqwest::StatusCode;
use std::sync::Arc;

struct World {
    app: UiApp,
    b: Unit,
    group: GroupId,
    ali: Participant,
    eve: Participant,
}

/// Unit A with coordinator "cora", lots "lisa", assistant "asta" and the
/// group "Onsdagsgänget" of Ali (Swedish) and Eve (English), both on SMS;
/// unit B with coordinator "bob"; admin "boss".
async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    let now = Utc::now();
    let b = fx::unit(&app.engine, "Enhet B", now).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    app.staff("asta", Role::Assistant, Some(app.unit.id)).await;
    app.staff("bob", Role::Coordinator, Some(b.id)).await;
    app.staff("boss", Role::Admin, None).await;
    let group = app
        .engine
        .create_group(app.unit.id, "Onsdagsgänget", &actor(), now)
        .await
        .unwrap();
    let ali = fx::participant(&app.engine, &app.unit, "Ali", "sms", now).await;
    let eve = app
        .engine
        .add_participant(
            &NewParticipant {
                unit_id: app.unit.id,
                first_name: "Eve".into(),
                phone: Some(PhoneNumber::parse("070-765 43 21").unwrap()),
                language: Language::En,
                channel_pref: ChannelKind::Sms,
                time_zone: chrono_tz::Europe::Stockholm,
                discreet: true,
                lots_id: None,
            },
            Some("sms".parse().unwrap()),
            &actor(),
            now,
        )
        .await
        .unwrap();
    for p in [&ali, &eve] {
        app.engine
            .add_group_member(group, p.id, &actor(), now)
            .await
            .unwrap();
    }
    World {
        app,
        b,
        group,
        ali,
        eve,
    }
}

/// Tomorrow 12:00 in Stockholm: after anything planned now, outside quiet
/// hours.
fn next_noon() -> DateTime<Utc> {
    let d = Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
        + Duration::days(1);
    common::sthlm(d.year(), d.month(), d.day(), 12, 0)
}

fn dispatcher(app: &UiApp) -> Dispatcher {
    let rec = Arc::new(Recorder::default());
    Dispatcher::new(
        app.engine.clone(),
        fx::channels(&rec),
        DispatcherConfig {
            owner: "t".into(),
            ..Default::default()
        },
    )
}

async fn broadcast_count(app: &UiApp) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM broadcasts")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    n
}

async fn group_count(app: &UiApp) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM activity_groups")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    n
}

/// The hidden idempotency key of the compose form.
fn key_in(html: &str) -> String {
    let i = html.find(r#"name="key" value=""#).expect("a key field");
    let rest = &html[i + r#"name="key" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// A weekly group activity at 14:00 three days ahead (no reminder of it
/// is due at [`next_noon`]); returns Ali's appointment of it.
async fn activity(w: &World) -> AppointmentId {
    let now = Utc::now();
    let day = (now
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive()
        + Duration::days(3))
    .weekday()
    .to_string()
    .to_uppercase();
    let cron: CronExpr = format!("0 14 * * {day}").parse().unwrap();
    w.app
        .engine
        .create_series(
            w.app.unit.id,
            SeriesTarget::Group(w.group),
            AppointmentKind::GroupActivity,
            &cron,
            w.app.unit.time_zone,
            90,
            Some("Lokalen".into()),
            Duration::days(6),
            &actor(),
            now,
        )
        .await
        .unwrap();
    let mut c = w.app.engine.db.conn().await.unwrap();
    appointments::for_participant(&mut c, w.ali.id, None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.starts_at > now + Duration::days(2))
        .expect("an occurrence two days ahead")
        .id
}

async fn say(w: &World, p: ParticipantId, text: &str, gw: &str, at: DateTime<Utc>) {
    w.app
        .engine
        .receive(ChannelKind::Sms, gw, p, text, at)
        .await
        .unwrap();
}

both_backends! {
    async fn a_coordinator_previews_and_sends_once_and_follows_it(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get("/today").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"href="/broadcasts""#), "menu entry");
        let (status, page) = b.get("/broadcasts/new").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Nytt utskick</h1>"));
        assert!(page.contains("Onsdagsgänget (2)"));
        assert_eq!(page.matches(r#"maxlength="612""#).count(), 2, "the textareas take what the server takes");
        assert!(page.contains(r#"<script src="/static/counter.js" defer></script>"#), "the live counter");
        assert!(page.contains(r#"data-template="%chars av %max tecken · %parts sms""#));
        let key = key_in(&page);
        let g = w.group.get().to_string();
        let unit = w.app.unit.id.get().to_string();
        let sv = "Hej! Kontoret är stängt på fredag.";
        let en = "Hi! The office is closed on Friday 🙂";
        let fields = |action: &'static str| {
            vec![
                ("unit", unit.clone()),
                ("group", g.clone()),
                ("text_sv", sv.to_string()),
                ("text_en", en.to_string()),
                ("when", "now".to_string()),
                ("key", key.clone()),
                ("action", action.to_string()),
            ]
        };
        let as_refs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
        // Preview: both texts, their encodings and part counts; nothing planned.
        let pv = as_refs(&fields("preview"));
        let pv: Vec<(&str, &str)> = pv.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/broadcasts", &pv).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert!(page.contains("Så här ser meddelandet ut"));
        assert!(page.contains(sv) && page.contains(en), "both texts shown");
        assert!(page.contains("GSM-7") && page.contains("UCS-2"), "the emoji makes the English text UCS-2");
        assert_eq!(page.matches("SMS-delar: 1").count(), 2, "one part each");
        assert_eq!(key_in(&page), key, "the key survives the preview");
        assert_eq!(broadcast_count(&w.app).await, 0);
        // A sensitive word is warned about, not refused.
        let mut warn = fields("preview");
        warn[2].1 = "Glöm inte provtagningen på fredag.".into();
        let warn: Vec<(&str, &str)> = warn.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = b.post("/broadcasts", &warn).await.text().await.unwrap();
        assert!(page.contains("class=\"warning sensitive\""), "sensitive-word warning");
        // Send, twice with the same key: one broadcast.
        let send = fields("send");
        let send: Vec<(&str, &str)> = send.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/broadcasts", &send).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = location(&res);
        assert!(to.starts_with("/broadcasts/"), "{to}");
        let again = b.post("/broadcasts", &send).await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&again), to, "the same broadcast");
        assert_eq!(broadcast_count(&w.app).await, 1);
        let audit = w.app.audit("broadcast.create").await;
        assert_eq!(audit.len(), 1);
        assert!(audit[0].0.starts_with("staff:"));
        // Status before sending: two recipients, two pending.
        let (status, page) = b.get(&to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("2 mottagare"));
        assert!(page.contains(r#"<strong class="bc-pending">2</strong>"#));
        assert!(page.contains(r#"<strong class="bc-sent">0</strong>"#));
        assert!(!page.contains("070"), "no phone numbers");
        // Sent by the dispatcher.
        let r = dispatcher(&w.app).run_once(next_noon()).await.unwrap();
        assert_eq!(r.sent, 2);
        let (_, page) = b.get(&to).await;
        assert!(page.contains(r#"<strong class="bc-sent">2</strong>"#), "sent shown");
        assert!(page.contains(r#"<strong class="bc-pending">0</strong>"#));
        // Each got their own language.
        let mut c = w.app.engine.db.conn().await.unwrap();
        let rows = outbox::list(&mut c, None).await.unwrap();
        drop(c);
        assert!(rows.iter().any(|m| m.participant_id == w.ali.id && m.body.as_deref() == Some(sv)));
        assert!(rows.iter().any(|m| m.participant_id == w.eve.id && m.body.as_deref() == Some(en)));
        // The list: newest first, first words and progress.
        let (status, page) = b.get("/broadcasts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!(r#"href="{to}""#)));
        assert!(page.contains("Hej! Kontoret är stängt på fredag."));
        assert!(page.contains("2/2 skickade"));
    }
}

both_backends! {
    async fn the_status_page_shows_the_tally_of_an_activity(t) {
        let w = world(&t).await;
        let act = activity(&w).await;
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/broadcasts/new").await;
        assert!(page.contains("<option value=\"") && page.contains("Onsdagsgänget: "), "activities offered");
        let key = key_in(&page);
        let (g, unit, a) = (w.group.get().to_string(), w.app.unit.id.get().to_string(), act.get().to_string());
        let form = [
            ("unit", unit.as_str()), ("group", g.as_str()),
            ("text_sv", "Träff som vanligt."), ("text_en", "We meet as usual."),
            ("when", "now"), ("activity", a.as_str()), ("key", key.as_str()), ("action", "preview"),
        ];
        let page = b.post("/broadcasts", &form).await.text().await.unwrap();
        assert!(page.contains("Svara KOMMER eller FÖRHINDER."), "the reply line is previewed");
        assert!(
            page.contains("Läggs till automatiskt för deltagare med en tid på aktiviteten: <q>Svara KOMMER eller FÖRHINDER.</q>"),
            "shown as the added line, apart from the coordinator's text"
        );
        // A text that already asks gets no second question, in the preview too.
        let mut asks = form;
        asks[2] = ("text_sv", "Träff som vanligt. Svara kommer eller förhinder.");
        let page = b.post("/broadcasts", &asks).await.text().await.unwrap();
        assert!(!page.contains("<q>Svara KOMMER eller FÖRHINDER.</q>"), "no added line when the text asks");
        assert_eq!(page.matches("Läggs till automatiskt").count(), 1, "only for the English text");
        assert!(page.contains("<q>Reply COMING or CANNOT.</q>"), "the English text did not ask");
        let mut send = form;
        send[7] = ("action", "send");
        let res = b.post("/broadcasts", &send).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = location(&res);
        let at = next_noon();
        let r = dispatcher(&w.app).run_once(at).await.unwrap();
        assert_eq!(r.sent, 2);
        say(&w, w.ali.id, "kommer", "ui-bgw-1", at + Duration::minutes(2)).await;
        // Before Eve answers: whom to phone, by name, with the number.
        let (_, page) = b.get(&to).await;
        let (ali, eve) = (w.ali.id.get(), w.eve.id.get());
        let eve_phone = w.eve.phone.as_ref().expect("Eve has a number").as_e164().to_string();
        assert!(page.contains(&format!(r#"Kommer: <strong>1</strong>
      <ul><li><a href="/participants/{ali}">Ali</a></li></ul>"#)), "{page}");
        assert!(page.contains(&format!(r#"Inget svar: <strong>1</strong>
      <ul><li><a href="/participants/{eve}">Eve</a> · <a href="tel:{eve_phone}">{eve_phone}</a></li></ul>"#)), "{page}");
        say(&w, w.eve.id, "förhinder, sjuk", "ui-bgw-2", at + Duration::minutes(3)).await;
        let (status, page) = b.get(&to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Kommer: <strong>1</strong>"), "{page}");
        assert!(page.contains("Förhinder: <strong>1</strong>"));
        assert!(page.contains(&format!(r#"<a href="/participants/{eve}">Eve</a>: <q>"#)), "first name with the reason");
        assert!(page.contains("sjuk"));
        assert!(page.contains("Inget svar: <strong>0</strong>"));
        assert!(page.contains("<q>Svara KOMMER eller FÖRHINDER.</q>"), "the added line on the status page");
        assert!(page.contains("<q>Reply COMING or CANNOT.</q>"));
        let views = w.app.audit("broadcast.view").await;
        assert!(!views.is_empty() && views.iter().all(|(a, t)| a.starts_with("staff:") && t == &to.replace("/broadcasts/", "broadcast:")));
    }
}

both_backends! {
    async fn mistakes_are_shown_with_what_was_typed_and_nothing_is_planned(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/broadcasts/new").await;
        let key = key_in(&page);
        let (g, unit) = (w.group.get().to_string(), w.app.unit.id.get().to_string());
        let base = |sv: &'static str, when: &'static str, date: &'static str| {
            vec![
                ("unit", unit.clone()), ("group", g.clone()),
                ("text_sv", sv.to_string()), ("text_en", "Typed in English".to_string()),
                ("when", when.to_string()), ("date", date.to_string()), ("time", "10:00".to_string()),
                ("key", key.clone()), ("action", "send".to_string()),
            ]
        };
        for (form, reason) in [
            (base("   ", "now", ""), "Den svenska texten är tom."),
            (base("Hej Onsdagsgänget!", "now", ""), "Texten nämner gruppens namn."),
            (base("Hej!", "later", "2020-01-01"), "Tiden har redan varit."),
            (base("Hej!", "later", "inte ett datum"), "Ange datum och klockslag."),
            (
                base("a".repeat(700).leak(), "now", ""),
                "Svensk text är 700 tecken. Högst 612 tecken får plats i fyra sms",
            ),
        ] {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = b.post("/broadcasts", &f).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let page = res.text().await.unwrap();
            assert!(page.contains(reason), "{reason}");
            assert!(page.contains("Typed in English"), "what was typed is kept");
        }
        // A time the clocks skip or repeat: refused with the reason, not moved.
        let year = Utc::now().year() + 1;
        let last_sunday = |month: u32| (25..=31).rev()
            .map(|d| chrono::NaiveDate::from_ymd_opt(year, month, d).unwrap())
            .find(|d| d.weekday() == chrono::Weekday::Sun).unwrap().to_string();
        for (month, reason) in [(3, "Klockan 02:30 finns inte den"), (10, "Klockan 02:30 kommer två gånger den")] {
            let date = last_sunday(month);
            let mut form = base("Hej!", "later", "");
            for (k, v) in form.iter_mut() {
                match *k { "date" => *v = date.clone(), "time" => *v = "02:30".to_string(), _ => {} }
            }
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = b.post("/broadcasts", &f).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let page = res.text().await.unwrap();
            assert!(page.contains(reason) && page.contains(&date), "{reason}: {page}");
        }
        // An activity that does not exist.
        let mut form = base("Hej!", "now", "");
        form.push(("activity", "999999".to_string()));
        let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/broadcasts", &f).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Aktiviteten finns inte."));
        assert_eq!(broadcast_count(&w.app).await, 0);
        assert!(w.app.audit("broadcast.create").await.is_empty());
    }
}

both_backends! {
    async fn groups_are_created_and_members_added_and_removed(t) {
        let w = world(&t).await;
        let cia = fx::participant(&w.app.engine, &w.app.unit, "Cia", "sms", Utc::now()).await;
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get("/groups").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Onsdagsgänget"));
        let unit = w.app.unit.id.get().to_string();
        let res = b.post("/groups", &[("unit", unit.as_str()), ("name", "Fredagsfika")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (to, done) = location(&res).split_once('?').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
        assert_eq!(done, "done=created");
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Gruppen är skapad. Lägg till deltagare nedan."), "{page}");
        assert_eq!(w.app.audit("group.create").await.len(), 2, "the world's and this one");
        // The same name again: refused with the reason.
        let res = b.post("/groups", &[("unit", unit.as_str()), ("name", "Fredagsfika")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("redan en grupp"));
        let (status, page) = b.get(&to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Grupp: Fredagsfika</h1>"));
        assert!(page.contains("Gruppen har inga medlemmar."));
        let cid = cia.id.get().to_string();
        let res = b.post(&format!("{to}/members"), &[("participant", cid.as_str())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains(&format!("{to}/members/{cid}/remove")), "Cia is a member");
        assert!(page.contains("Cia är med i gruppen."), "{page}");
        let adds = w.app.audit("group.add_member").await;
        assert_eq!(adds.len(), 3, "Ali, Eve and Cia");
        assert!(adds[2].0.starts_with("staff:"));
        let res = b.post(&format!("{to}/members/{cid}/remove"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Gruppen har inga medlemmar."));
        assert!(page.contains("Cia är inte längre med i gruppen."), "{page}");
        assert_eq!(w.app.audit("group.remove_member").await.len(), 1);
        // A participant of another unit cannot be added.
        let other = fx::participant(&w.app.engine, &w.b, "Dan", "sms", Utc::now()).await;
        let oid = other.id.get().to_string();
        let res = b.post(&format!("{to}/members"), &[("participant", oid.as_str())]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(w.app.audit("group.add_member").await.len(), 3);
        // An admin sees the groups of any unit.
        let mut boss = w.app.login("boss").await;
        let (status, page) = boss.get(&format!("/groups?unit={unit}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Fredagsfika"));
    }
}

both_backends! {
    async fn only_coordinators_of_the_unit_and_admins_get_in(t) {
        let w = world(&t).await;
        let now = Utc::now();
        let planned = w.app.engine.plan_broadcast(
            &paminn::engine::broadcasts::BroadcastRequest {
                audience: paminn::engine::broadcasts::Audience::Group(w.group),
                text_sv: "Hej".into(), text_en: "Hi".into(), send_at: None, urgent: false,
                activity: None, key: None,
            },
            &actor(), now,
        ).await.unwrap();
        let bid = planned.broadcast.id;
        let gid = w.group.get();
        let pid = w.ali.id.get();
        let gets = [
            "/broadcasts".to_string(), "/broadcasts/new".to_string(), format!("/broadcasts/{bid}"),
            "/groups".to_string(), format!("/groups/{gid}"),
        ];
        let posts = [
            "/broadcasts".to_string(), "/groups".to_string(),
            format!("/groups/{gid}/members"), format!("/groups/{gid}/members/{pid}/remove"),
            format!("/broadcasts/{bid}/cancel-activity"),
        ];
        let unit = w.app.unit.id.get().to_string();
        let gs = gid.to_string();
        let ps = pid.to_string();
        let form = [
            ("unit", unit.as_str()), ("group", gs.as_str()), ("name", "Smygruppen"),
            ("participant", ps.as_str()), ("text_sv", "Hej"), ("text_en", "Hi"),
            ("when", "now"), ("key", "k-forbidden"), ("action", "send"), ("confirm", "1"),
        ];
        for who in ["lisa", "asta"] {
            let mut b = w.app.login(who).await;
            let (_, page) = b.get("/today").await;
            assert!(!page.contains(r#"href="/broadcasts""#), "no menu entry for {who}");
            for p in &gets {
                assert_eq!(b.get(p).await.0, StatusCode::FORBIDDEN, "{who} GET {p}");
            }
            for p in &posts {
                assert_eq!(b.post(p, &form).await.status(), StatusCode::FORBIDDEN, "{who} POST {p}");
            }
        }
        // A coordinator of another unit: 403 on this unit's broadcast and group.
        let mut bob = w.app.login("bob").await;
        assert_eq!(bob.get("/broadcasts").await.0, StatusCode::OK, "bob's own list");
        assert_eq!(bob.get(&format!("/broadcasts/{bid}")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(bob.get(&format!("/groups/{gid}")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(bob.get(&format!("/groups?unit={unit}")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(bob.get(&format!("/broadcasts/new?unit={unit}")).await.0, StatusCode::FORBIDDEN);
        for p in &posts {
            assert_eq!(bob.post(p, &form).await.status(), StatusCode::FORBIDDEN, "bob POST {p}");
        }
        // Bob's own unit's form does not take another unit's group either.
        let own = w.b.id.get().to_string();
        let mut f2 = form;
        f2[0] = ("unit", own.as_str());
        f2[7] = ("key", "k-bob");
        assert_eq!(bob.post("/broadcasts", &f2).await.status(), StatusCode::FORBIDDEN);
        // Nothing changed.
        assert_eq!(broadcast_count(&w.app).await, 1);
        assert_eq!(group_count(&w.app).await, 1);
        assert_eq!(w.app.engine.group_members(w.group, Utc::now()).await.unwrap().len(), 2);
        // An admin may.
        let mut boss = w.app.login("boss").await;
        assert_eq!(boss.get(&format!("/broadcasts/{bid}")).await.0, StatusCode::OK);
        assert_eq!(boss.get(&format!("/groups/{gid}")).await.0, StatusCode::OK);
    }
}

both_backends! {
    async fn posts_without_the_csrf_token_are_refused_and_change_nothing(t) {
        let w = world(&t).await;
        let b = w.app.login("cora").await;
        let gid = w.group.get();
        let (unit, gs, ps) = (w.app.unit.id.get().to_string(), gid.to_string(), w.ali.id.get().to_string());
        let form = [
            ("unit", unit.as_str()), ("group", gs.as_str()), ("name", "Nygruppen"),
            ("participant", ps.as_str()), ("text_sv", "Hej"), ("text_en", "Hi"),
            ("when", "now"), ("key", "k-csrf"), ("action", "send"),
        ];
        for p in [
            "/broadcasts".to_string(), "/groups".to_string(),
            format!("/groups/{gid}/members"), format!("/groups/{gid}/members/{ps}/remove"),
        ] {
            let res = b.post_raw(&p, &form).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{p}");
        }
        assert_eq!(broadcast_count(&w.app).await, 0);
        assert_eq!(group_count(&w.app).await, 1);
        assert_eq!(w.app.engine.group_members(w.group, Utc::now()).await.unwrap().len(), 2);
        assert!(w.app.audit("group.remove_member").await.is_empty());
    }
}

both_backends! {
    async fn a_broadcast_at_a_later_time_shows_that_local_time_and_urgency(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/broadcasts/new").await;
        let key = key_in(&page);
        let (g, unit) = (w.group.get().to_string(), w.app.unit.id.get().to_string());
        let at = next_noon() + Duration::days(1);
        let local = at.with_timezone(&chrono_tz::Europe::Stockholm);
        let date = local.format("%Y-%m-%d").to_string();
        let form = [
            ("unit", unit.as_str()), ("group", g.as_str()),
            ("text_sv", "Ring oss om du behöver byta tid."), ("text_en", "Call us to change a time."),
            ("when", "later"), ("date", date.as_str()), ("time", "12:00"), ("urgent", "1"),
            ("key", key.as_str()), ("action", "send"),
        ];
        let res = b.post("/broadcasts", &form).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = location(&res);
        let (_, page) = b.get(&to).await;
        let wd = ["mån", "tis", "ons", "tor", "fre", "lör", "sön"][local.weekday().num_days_from_monday() as usize];
        assert!(page.contains(&format!("{wd} {} ", local.day())), "local date with weekday");
        assert!(page.contains("12:00"));
        assert!(page.contains("brådskande"));
        // Not before its time.
        let r = dispatcher(&w.app).run_once(next_noon()).await.unwrap();
        assert_eq!(r.sent, 0);
    }
}

both_backends! {
    async fn a_broadcast_to_a_filter_reaches_only_the_chosen_programme_phase(t) {
        let w = world(&t).await;
        let now = Utc::now();
        let cia = fx::participant(&w.app.engine, &w.app.unit, "Cia", "sms", now).await;
        for (p, phase) in [(w.ali.id, "Praktik"), (w.eve.id, "Kartläggning"), (cia.id, "Praktik")] {
            w.app.engine.set_phase(p, Some(phase.parse().unwrap()), &actor(), now).await.unwrap();
        }
        w.app.engine.set_status(cia.id, paminn::domain::ParticipantStatus::InCustody, &actor(), now).await.unwrap();
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/broadcasts/new").await;
        assert!(page.contains("<legend>Till vem</legend>"));
        assert!(page.contains(r#"<option value="Kartläggning">Kartläggning</option>"#), "phases in use offered");
        assert!(page.contains(r#"<option value="Praktik">Praktik</option>"#));
        assert!(page.contains(r#"<option value="in_custody">frihetsberövad</option>"#), "statuses offered");
        assert!(page.contains(">lisa Testsson</option>"), "the unit's lotsar offered");
        let key = key_in(&page);
        let unit = w.app.unit.id.get().to_string();
        let form = |phase: &'static str, lots: &'static str, key: &str| {
            vec![
                ("unit", unit.clone()), ("audience", "filter".to_string()), ("status", String::new()),
                ("lots", lots.to_string()), ("phase", phase.to_string()),
                ("text_sv", "Hej! Praktikträffen är flyttad till 14:00.".to_string()),
                ("text_en", "Hi! The meeting has moved to 14:00.".to_string()),
                ("when", "now".to_string()), ("key", key.to_string()), ("action", "send".to_string()),
            ]
        };
        let f = form("Praktik", "", &key);
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/broadcasts", &f).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = location(&res);
        let (_, page) = b.get(&to).await;
        assert!(page.contains("Enhetens deltagare: Programfas Praktik"), "the audience in words");
        assert!(page.contains("1 mottagare"), "Ali; Cia is in custody");
        let (_, list) = b.get("/broadcasts").await;
        assert!(list.contains("Urval ur enheten"), "the list says it went to a selection");
        assert!(page.contains("frihetsberövad: 1") || page.contains("Frihetsberövad: 1"), "Cia counted");
        let mut c = w.app.engine.db.conn().await.unwrap();
        let to_whom: Vec<i64> = sqlx::query_scalar("SELECT participant_id FROM outbox WHERE broadcast_id IS NOT NULL")
            .fetch_all(&mut *c).await.unwrap();
        drop(c);
        assert_eq!(to_whom, vec![w.ali.id.get()]);
        // A lots that is not one of the unit's: 422 with the reason, nothing planned.
        let f = form("", "999999", "k-bad-lots");
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/broadcasts", &f).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Urvalet går inte att använda"), "{page}");
        assert!(page.contains("Praktikträffen är flyttad"), "what was typed is kept");
        // A phase nobody has: refused with the phases in use.
        let f = form("Efterstöd", "", "k-bad-phase");
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/broadcasts", &f).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Kartläggning, Praktik"));
        assert_eq!(broadcast_count(&w.app).await, 1);
    }
}

both_backends! {
    async fn the_activity_is_cancelled_from_the_status_page_once_confirmed(t) {
        let w = world(&t).await;
        let act = activity(&w).await;
        let now = Utc::now();
        let planned = w.app.engine.plan_broadcast(
            &paminn::engine::broadcasts::BroadcastRequest {
                audience: paminn::engine::broadcasts::Audience::Group(w.group),
                text_sv: "Träff som vanligt.".into(), text_en: "We meet as usual.".into(),
                send_at: None, urgent: false, activity: Some(act), key: None,
            },
            &actor(), now,
        ).await.unwrap();
        let id = planned.broadcast.id;
        // Ali's message goes out; Eve's is still queued when it is cancelled.
        let mut c = w.app.engine.db.conn().await.unwrap();
        sqlx::query("UPDATE outbox SET status = 'cancelled' WHERE broadcast_id = $1 AND participant_id = $2")
            .bind(id).bind(w.eve.id.get()).execute(&mut *c).await.unwrap();
        drop(c);
        let r = dispatcher(&w.app).run_once(next_noon()).await.unwrap();
        assert_eq!(r.sent, 1);
        let to = format!("/broadcasts/{id}");
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get(&to).await;
        assert!(page.contains(&format!(r#"action="{to}/cancel-activity""#)), "the cancel form");
        // Not ticked: nothing happens, the reason is shown.
        let res = b.post(&format!("{to}/cancel-activity"), &[]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Kryssa i rutan"));
        let mut c = w.app.engine.db.conn().await.unwrap();
        assert_eq!(appointments::get(&mut c, act).await.unwrap().status, paminn::domain::AppointmentStatus::Scheduled);
        drop(c);
        // Ticked: both appointments cancelled, only Ali (who had the message) is told.
        let res = b.post(&format!("{to}/cancel-activity"), &[("confirm", "1")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = location(&res);
        assert_eq!(back, format!("{to}?cancelled=2&notified=1"));
        let (_, page) = b.get(&back).await;
        assert!(page.contains("Aktiviteten är inställd: 2 tider, 1 deltagare får besked."), "{page}");
        assert!(page.contains(r#"<span class="badge warn">inställd</span>"#));
        assert!(!page.contains("cancel-activity\""), "no second cancel form");
        let mut c = w.app.engine.db.conn().await.unwrap();
        let starts = appointments::get(&mut c, act).await.unwrap().starts_at;
        for p in [w.ali.id, w.eve.id] {
            let appts = appointments::for_participant(&mut c, p, None).await.unwrap();
            let a = appts.iter().find(|a| a.starts_at == starts).unwrap();
            assert_eq!(a.status, paminn::domain::AppointmentStatus::Cancelled);
        }
        let rows = outbox::list(&mut c, None).await.unwrap();
        drop(c);
        let notices: Vec<_> = rows.iter()
            .filter(|m| m.status == paminn::domain::OutboxStatus::Pending && m.purpose == paminn::domain::Purpose::Notice)
            .map(|m| m.participant_id).collect();
        assert_eq!(notices, vec![w.ali.id], "the cancellation goes to Ali only");
        let audit = w.app.audit("appointment.cancel").await;
        assert_eq!(audit.len(), 2);
        assert!(audit.iter().all(|(a, _)| a.starts_with("staff:")));
        // Again: too late, nothing more.
        let res = b.post(&format!("{to}/cancel-activity"), &[("confirm", "1")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(w.app.audit("appointment.cancel").await.len(), 2);
    }
}

both_backends! {
    async fn the_case_record_tells_phase_and_group_events_in_words(t) {
        let w = world(&t).await;
        let mut b = w.app.login("boss").await;
        let pid = w.ali.id.get();
        let res = b.post(&format!("/participants/{pid}/phase"), &[("value", "  Praktik ")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = b.post(&format!("/participants/{pid}/phase"), &[("value", "Praktik\nFas 2")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("1–40 tecken på en rad"));
        let now = Utc::now();
        let planned = w.app.engine.plan_broadcast(
            &paminn::engine::broadcasts::BroadcastRequest {
                audience: paminn::engine::broadcasts::Audience::Group(w.group),
                text_sv: "Hej".into(), text_en: "Hi".into(), send_at: Some(next_noon()), urgent: false,
                activity: None, key: None,
            },
            &actor(), now,
        ).await.unwrap();
        w.app.engine.remove_group_member(w.group, w.ali.id, &actor(), now).await.unwrap();
        let (status, page) = b.get(&format!("/participants/{pid}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"name="value" value="Praktik""#), "the phase in its field");
        assert!(page.contains("Programfas ändrad: ingen → Praktik"));
        assert!(page.contains("Med i gruppen Onsdagsgänget"));
        assert!(page.contains(&format!("Gruppmeddelande köat (utskick {})", planned.broadcast.id)));
        assert!(page.contains("Inte längre med i gruppen Onsdagsgänget"));
        assert!(page.contains("1 gruppmeddelande som inte gått ut stoppades"));
        assert!(!page.contains("Händelse: "), "no event without words");
        assert_eq!(w.app.audit("participant.phase").await.len(), 1);
    }
}

both_backends! {
    async fn a_new_group_gets_a_weekly_activity_from_its_page_and_a_broadcast_can_be_tied_to_it(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let unit = w.app.unit.id.get().to_string();
        let res = b.post("/groups", &[("unit", unit.as_str()), ("name", "Budgetkurs")]).await;
        assert_eq!(location(&res).split_once('?').map(|x| x.1), Some("done=created"));
        let group = location(&res).split('?').next().unwrap().to_string();
        for p in [w.ali.id, w.eve.id] {
            let pid = p.get().to_string();
            let res = b.post(&format!("{group}/members"), &[("participant", pid.as_str())]).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
        let (_, page) = b.get(&group).await;
        assert!(page.contains("Gruppen har inga kommande aktiviteter."));
        assert!(page.contains(&format!(r#"href="{group}/activity/new""#)));
        let (status, page) = b.get(&format!("{group}/activity/new")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Ny återkommande aktivitet: Budgetkurs</h1>"));
        assert!(page.contains(&format!(r#"action="{group}/activity""#)));
        let form = |kind: &'static str, action: &'static str| {
            [
                ("kind", kind), ("from", ""), ("weekday", "4"), ("time", "13:00"),
                ("duration", "90"), ("location", "Lokalen"), ("action", action),
            ]
        };
        // Preview: the next ten Thursdays at 13:00 local time; nothing made.
        let res = b.post(&format!("{group}/activity"), &form("group_activity", "preview")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert_eq!(page.matches("<li><time datetime=").count(), 10);
        assert!(page.matches("tor ").count() >= 10, "Thursdays");
        assert!(w.app.audit("series.create").await.is_empty());
        // A group's activity is a group activity, nothing else.
        let res = b.post(&format!("{group}/activity"), &form("meeting", "create")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(w.app.audit("series.create").await.is_empty());
        // Create: each member gets their own appointments of it.
        let res = b.post(&format!("{group}/activity"), &form("group_activity", "create")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("{group}?done=activity"));
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Aktiviteten är sparad. Deltagarna i gruppen har fått var sin tid."), "{page}");
        let made = w.app.audit("series.create").await;
        assert_eq!(made.len(), 1);
        assert!(made[0].0.starts_with("staff:"));
        let mut c = w.app.engine.db.conn().await.unwrap();
        let mut firsts = Vec::new();
        for p in [w.ali.id, w.eve.id] {
            let appts = appointments::for_participant(&mut c, p, None).await.unwrap();
            let acts: Vec<_> = appts.iter().filter(|a| a.kind == AppointmentKind::GroupActivity).collect();
            assert!(!acts.is_empty(), "{p} has the activity");
            for a in &acts {
                let local = a.starts_at.with_timezone(&chrono_tz::Europe::Stockholm);
                assert_eq!((local.weekday(), local.format("%H:%M").to_string()), (chrono::Weekday::Thu, "13:00".to_string()));
                assert_eq!(a.duration_min, 90);
            }
            firsts.push(acts[0].starts_at);
        }
        drop(c);
        assert_eq!(firsts[0], firsts[1], "the same activity for both");
        let (_, page) = b.get(&group).await;
        assert!(!page.contains("Gruppen har inga kommande aktiviteter."));
        assert!(page.contains("13:00"), "the next dates are listed");
        // The compose page offers it for a broadcast.
        let (_, page) = b.get("/broadcasts/new").await;
        assert!(page.contains("Budgetkurs: tor "), "the activity is offered");
    }
}
