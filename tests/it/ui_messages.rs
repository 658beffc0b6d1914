//! A participant's messages as a chat (`/participants/{id}/messages`,
//! "Meddelanden"): what was sent and what came back, in time order, with
//! the delivery state and what each reply was read as; a text the purge
//! removed says so; only for staff with the case record's full access,
//! every view audited; 50 to a page with "Äldre".

use crate::common;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Stockholm;
use common::TestDb;
use common::fx::{self, Recorder};
use common::ui::{self, UiApp};
use paminn::domain::schedule::resolve_local;
use paminn::domain::{AppointmentKind, ChannelKind, Language, ParticipantId, PhoneNumber, Role};
use paminn::engine::Actor;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::{NewParticipant, Participant};
use paminn::store::staff::Staff;
use paminn::web::ui::participants::when;
use reqwest::StatusCode;
use std::sync::Arc;

struct Fx {
    app: UiApp,
    /// Ali's lots.
    lisa: Staff,
    ali: Participant,
}

async fn setup(t: &TestDb) -> Fx {
    let app = ui::spawn(t, false).await;
    let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    let ali = app
        .engine
        .add_participant(
            &NewParticipant {
                unit_id: app.unit.id,
                first_name: "Ali".into(),
                phone: Some(PhoneNumber::parse("070-123 45 67").unwrap()),
                language: Language::Sv,
                channel_pref: ChannelKind::Sms,
                time_zone: Stockholm,
                discreet: true,
                lots_id: Some(lisa.id),
            },
            Some("sms".parse().unwrap()),
            &Actor("test".into()),
            Utc::now(),
        )
        .await
        .unwrap();
    Fx { app, lisa, ali }
}

/// `days` days from today at `h:m` on the Stockholm wall clock.
fn local_at(days: i64, h: u32, m: u32) -> DateTime<Utc> {
    let d = (Utc::now().with_timezone(&Stockholm) + Duration::days(days)).date_naive();
    resolve_local(d.and_hms_opt(h, m, 0).unwrap(), Stockholm)
}

fn dispatcher(app: &UiApp, rec: &Arc<Recorder>) -> Dispatcher {
    Dispatcher::new(
        app.engine.clone(),
        fx::channels(rec),
        DispatcherConfig {
            owner: "t".into(),
            ..Default::default()
        },
    )
}

async fn say(app: &UiApp, p: ParticipantId, gw: &str, text: &str, at: DateTime<Utc>) {
    app.engine
        .receive(ChannelKind::Sms, gw, p, text, at)
        .await
        .unwrap();
}

/// The positions of `items` in `page`, each after the one before.
fn in_order(page: &str, items: &[&str]) {
    let mut last = 0;
    for item in items {
        let i = page[last..]
            .find(item)
            .unwrap_or_else(|| panic!("{item:?} after position {last} in {page}"));
        last += i + item.len();
    }
}

both_backends! {
    async fn the_messages_read_as_a_chat_with_states_and_readings(t) {
        let f = setup(&t).await;
        let (app, ali) = (&f.app, &f.ali);
        // A reply long ago, whose text the purge (180 days) has removed.
        say(app, ali.id, "gw-old", "ett gammalt svar", Utc::now() - Duration::days(200)).await;
        // A meeting in three days: the day-before reminder goes out by the
        // fake SMS; Ali answers "kommer", then something nobody can read.
        let at = local_at(3, 13, 0);
        app.engine.create_appointment(&NewAppointment {
            participant_id: ali.id, series_id: None, kind: AppointmentKind::Meeting, starts_at: at,
            duration_min: 45, location: None, with_whom: None, internal_note: None, external_ref: None,
        }, &fx::actor(), Utc::now()).await.unwrap();
        let rec = Arc::new(Recorder::default());
        let d = dispatcher(app, &rec);
        let sent_at = at - Duration::hours(24) + Duration::minutes(5);
        d.run_once(sent_at).await.unwrap();
        let reminder = rec.sent.lock().unwrap().iter().find(|m| m.body.contains("Påminnelse"))
            .expect("the day-before reminder").body.clone();
        say(app, ali.id, "gw-1", "kommer", sent_at + Duration::minutes(30)).await;
        say(app, ali.id, "gw-2", "vem är det här", sent_at + Duration::minutes(40)).await;
        d.run_once(sent_at + Duration::minutes(45)).await.unwrap();
        app.engine.run_jobs(Utc::now()).await.unwrap();

        let mut lisa = app.login("lisa").await;
        // The case record links to the messages, with how many.
        let (status, record) = lisa.get(&format!("/participants/{}", ali.id)).await;
        assert_eq!(status, StatusCode::OK);
        let path = format!("/participants/{}/messages", ali.id);
        assert!(record.contains(&format!(r##"href="{path}#latest">Meddelanden (7)<"##)), "{record}");

        let (status, page) = lisa.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!(r#"href="/participants/{}">Tillbaka till Ali<"#, ali.id)));
        assert!(page.contains(r#"id="latest""#), "anchored at the bottom");
        assert!(!page.contains("Äldre"), "one page");
        assert!(!page.contains("<textarea") && !page.contains(r#"name="text""#), "no reply box");
        // Oldest first (by when each was sent or received), each one's
        // sender in words: the purged reply and its answer, the reminder,
        // "kommer" read as coming to the meeting, the text nobody could
        // read, passed on as a task, and the two answers.
        let meeting = format!("Gäller: möte {}", when(Language::Sv, at, Stockholm));
        let answer = "Till Ali · Automatiskt svar · SMS";
        in_order(&page, &[
            r#"<ol class="chat""#,
            "Från Ali · SMS", "Texten är borttagen efter 180 dagar", "Tolkat som: ej förstått",
            answer, "Texten är borttagen efter 180 dagar",
            "Till Ali · Påminnelse · SMS", &reminder, &when(Language::Sv, sent_at, Stockholm), "Skickat", &meeting,
            "Från Ali · SMS", r#"<div class="b">kommer</div>"#, "Tolkat som: kommer", &meeting,
            "Från Ali · SMS", "vem är det här", "Tolkat som: ej förstått", "Lämnat till lotsen som en uppgift",
            answer, "Tack!", answer,
            "</ol>", r#"id="latest""#,
        ]);
        assert_eq!(page.matches(r#"<li class="in">"#).count(), 3);
        assert_eq!(page.matches(r#"<li class="out">"#).count(), 4);
        assert!(!page.contains("ett gammalt svar"), "the purged text is gone");
        // Every view is audited, as this participant's.
        let me = (format!("staff:{}", f.lisa.id), format!("participant:{}", ali.id));
        assert_eq!(app.audit("messages.view").await, vec![me.clone()]);

        // A delivery report moves the state; in English it reads as such.
        let mut c = app.engine.db.conn().await.unwrap();
        let gw: String = sqlx::query_scalar("SELECT gateway_id FROM outbox WHERE participant_id = $1 AND purpose = 'reminder' AND status = 'sent'")
            .bind(ali.id.get()).fetch_one(&mut *c).await.unwrap();
        drop(c);
        app.engine.delivery_receipt(ChannelKind::Sms, &gw, paminn::domain::OutboxStatus::Delivered, None, None, sent_at + Duration::minutes(1)).await.unwrap();
        lisa.http.get(format!("{}/lang/en", lisa.base)).send().await.unwrap();
        let (_, page) = lisa.get(&path).await;
        in_order(&page, &["To Ali · Reminder · SMS", "Delivered", "From Ali · SMS", "Read as: coming",
            "Read as: not understood", "Passed to the navigator as a task"]);
        assert!(page.contains("The text was removed after 180 days"));
        assert_eq!(app.audit("messages.view").await.len(), 2, "every view");

        // Not a position in the list: not found, nothing shown.
        assert_eq!(lisa.get(&format!("{path}?before=x")).await.0, StatusCode::NOT_FOUND);

        // Erased: every text is gone, and the page says why, not "after N days".
        app.engine.set_status(ali.id, paminn::domain::ParticipantStatus::Discharged, &fx::actor(), Utc::now()).await.unwrap();
        app.engine.erase(ali.id, &fx::actor(), Utc::now()).await.unwrap();
        lisa.http.get(format!("{}/lang/sv", lisa.base)).send().await.unwrap();
        let (status, page) = lisa.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page.matches("Texten är borttagen: deltagarens uppgifter är raderade").count(), 7, "{page}");
        assert!(!page.contains("vem är det här") && !page.contains(&reminder) && !page.contains("efter 180 dagar"));
        in_order(&page, &["Tolkat som: ej förstått", "Tolkat som: kommer", "Tolkat som: ej förstått"]);
    }
}

both_backends! {
    async fn only_staff_with_the_whole_case_record_see_the_messages(t) {
        let f = setup(&t).await;
        let (app, ali) = (&f.app, &f.ali);
        say(app, ali.id, "gw-1", "kommer", Utc::now() - Duration::minutes(5)).await;
        let other = fx::unit(&app.engine, "Enhet B", Utc::now()).await;
        let fia = app.staff("fia", Role::Lots, Some(other.id)).await;
        app.staff("cora", Role::Coordinator, Some(app.unit.id)).await;
        app.staff("anna", Role::Assistant, Some(app.unit.id)).await;
        let path = format!("/participants/{}/messages", ali.id);

        // Another unit's lots: refused as the case record is, and audited.
        let mut b = app.login("fia").await;
        let (status, page) = b.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!page.contains("kommer"));
        assert_eq!(app.audit("case.denied").await, vec![(format!("staff:{}", fia.id), format!("participant:{}", ali.id))]);
        // An assistant sees numbers and times, not what was written.
        let mut b = app.login("anna").await;
        let (status, page) = b.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!page.contains("kommer"));
        let (_, record) = b.get(&format!("/participants/{}", ali.id)).await;
        assert!(!record.contains("/messages"), "no link in the contact view");
        assert!(app.audit("messages.view").await.is_empty(), "nothing was shown");
        // The unit's coordinator may.
        let mut b = app.login("cora").await;
        let (status, page) = b.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<div class="b">kommer</div>"#));
        assert_eq!(app.audit("messages.view").await.len(), 1);
        // Not logged in: to the login.
        assert_eq!(app.browser().get_location(&path).await.as_deref(),
            Some(format!("/login?next=%2Fparticipants%2F{}%2Fmessages", ali.id).as_str()));
    }
}

both_backends! {
    async fn more_than_fifty_messages_page_back_with_older(t) {
        let f = setup(&t).await;
        let (app, ali) = (&f.app, &f.ali);
        // 30 texts, each with its automatic answer: 60 messages.
        let start = Utc::now() - Duration::hours(2);
        for i in 0..30 {
            say(app, ali.id, &format!("gw-{i}"), &format!("meddelande {i:02}"), start + Duration::minutes(i)).await;
        }
        let mut lisa = app.login("lisa").await;
        let path = format!("/participants/{}/messages", ali.id);
        let (_, record) = lisa.get(&format!("/participants/{}", ali.id)).await;
        assert!(record.contains("Meddelanden (60)"), "{record}");
        let (status, page) = lisa.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page.matches("<li class=").count(), 50);
        // The latest 50, oldest first, the newest at the bottom.
        in_order(&page, &["Äldre", ">meddelande 05<", ">meddelande 06<", ">meddelande 29<", r#"id="latest""#]);
        assert!(!page.contains(">meddelande 04<") && !page.contains(">meddelande 00<"));
        let i = page.find(r#"<p class="chat-older"><a href=""#).expect("an Äldre link") + r#"<p class="chat-older"><a href=""#.len();
        let older = page[i..page[i..].find('"').unwrap() + i].replace("&amp;", "&");
        assert!(older.starts_with(&format!("{path}?before=")) && older.ends_with("#latest"), "{older}");
        let (status, page) = lisa.get(older.trim_end_matches("#latest")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page.matches("<li class=").count(), 10);
        in_order(&page, &[">meddelande 00<", ">meddelande 04<", "Till de senaste"]);
        assert!(!page.contains("Äldre") && !page.contains(">meddelande 05<"), "the earliest, and no more");
        assert_eq!(app.audit("messages.view").await.len(), 2);
        // "In English" from the older page comes back to the older page.
        let i = page.find(r#"<a href="/lang/en?next="#).expect("a language switch") + r#"<a href=""#.len();
        let switch = page[i..page[i..].find('"').unwrap() + i].replace("&amp;", "&");
        let res = lisa.http.get(format!("{}{switch}", lisa.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let back = res.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(back, older.trim_end_matches("#latest"));
        let (_, page) = lisa.get(&back).await;
        assert!(page.contains(">meddelande 00<") && page.contains("To the latest"), "{page}");
    }
}

both_backends! {
    async fn broadcasts_staff_notices_and_what_did_not_go_read_in_plain_words(t) {
        use chrono::Datelike;
        use paminn::channels::SendError;
        use paminn::domain::ParticipantStatus;
        use paminn::engine::broadcasts::{Audience, BroadcastRequest};
        let f = setup(&t).await;
        let (app, ali) = (&f.app, &f.ali);
        let sara = app.staff("sara", Role::Lots, Some(app.unit.id)).await;
        app.staff("cora", Role::Coordinator, Some(app.unit.id)).await;
        let d = (Utc::now().with_timezone(&Stockholm).date_naive()) + Duration::days(1);
        let noon = common::sthlm(d.year(), d.month(), d.day(), 12, 0);
        let rec = Arc::new(Recorder::default());
        let disp = dispatcher(app, &rec);
        // A broadcast to Lisa's caseload goes out.
        app.engine.plan_broadcast(&BroadcastRequest {
            audience: Audience::Filter { unit: app.unit.id, status: None, lots: Some(f.lisa.id), phase: None },
            text_sv: "Kontoret är stängt idag.".into(), text_en: "The office is closed today.".into(),
            send_at: None, urgent: false, activity: None, key: None,
        }, &fx::actor(), Utc::now()).await.unwrap();
        disp.run_once(noon).await.unwrap();
        // Sara takes over: the message naming her does not arrive.
        app.engine.reassign_lots(ali.id, sara.id, &fx::actor(), Utc::now()).await.unwrap();
        rec.script.lock().unwrap().push_back(SendError::InvalidNumber("21211".into()));
        disp.run_once(noon + Duration::minutes(1)).await.unwrap();
        // Paused, then Lisa again: that message is stopped at the gate.
        app.engine.set_status(ali.id, ParticipantStatus::Paused, &fx::actor(), Utc::now()).await.unwrap();
        app.engine.reassign_lots(ali.id, f.lisa.id, &fx::actor(), Utc::now()).await.unwrap();
        disp.run_once(noon + Duration::minutes(2)).await.unwrap();

        let mut cora = app.login("cora").await;
        let (status, page) = cora.get(&format!("/participants/{}/messages", ali.id)).await;
        assert_eq!(status, StatusCode::OK);
        in_order(&page, &[
            "Till Ali · Utskick till flera · SMS", "Kontoret är stängt idag.", "Skickat",
            "Till Ali · Meddelande från personalen · SMS", "sara", "Gick inte fram: numret fungerar inte",
            "Till Ali · Meddelande från personalen · SMS", "Ingen text: meddelandet stoppades innan det skrevs.",
            "Skickades inte: deltagaren är vilande",
        ]);
        assert_eq!(page.matches(r#"<li class="out">"#).count(), 3);
    }
}
