//! A unit's own wording of the reminders and the summons (issue 23), on
//! both backends: a coordinator edits the Swedish reminder on
//! /settings/templates, the next reminder a participant of the unit gets
//! has the new wording with name and time filled, while a participant of
//! another unit and an English-speaking one still get the defaults; wrong
//! placeholders, braces, missing reply words and sensitive words are
//! refused with the reason in the UI's language and the text kept; "reset"
//! brings the default back; a lots sees the texts but cannot edit; every
//! change is in the audit log. The dispatcher runs with `run_once(at)` at
//! the next noon in Stockholm, so quiet hours never decide a test.

use crate::common;
use common::fx::actor;

use chrono::{DateTime, Datelike, Duration, Utc};
use common::fx::{self, Recorder};
use common::ui::{self, UiApp, location};
use paminn::domain::template::{TemplateKey, TemplateText};
use paminn::domain::{AppointmentKind, ChannelKind, Language, PhoneNumber, Role, Span};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::{NewParticipant, Participant};
use paminn::store::templates;
use paminn::store::units::Unit;
use reqwest::StatusCode;
use std::sync::Arc;

const SV_REMINDER: &str = "{namn}, vi ses {tid}! Svara KOMMER eller FÖRHINDER.";

struct World {
    app: UiApp,
    b: Unit,
    ali: Participant,
    eve: Participant,
    bo: Participant,
}

/// Unit A with coordinator "cora", lots "lisa", Ali (Swedish) and Eve
/// (English); unit B with coordinator "bob" and Bo (Swedish); admin "boss".
async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    let now = Utc::now();
    let b = fx::unit(&app.engine, "Enhet B", now).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    app.staff("bob", Role::Coordinator, Some(b.id)).await;
    app.staff("boss", Role::Admin, None).await;
    let ali = fx::participant(&app.engine, &app.unit, "Ali", "sms", now).await;
    let bo = fx::participant(&app.engine, &b, "Bo", "sms", now).await;
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
    World {
        app,
        b,
        ali,
        eve,
        bo,
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

/// A meeting a day after the next noon: its 24h reminder is due then.
async fn book(app: &UiApp, p: &Participant) -> DateTime<Utc> {
    let starts_at = next_noon() + Duration::days(1);
    app.engine
        .create_appointment(
            &NewAppointment {
                participant_id: p.id,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at,
                duration_min: 30,
                location: None,
                with_whom: None,
                internal_note: None,
                external_ref: None,
            },
            &actor(),
            Utc::now(),
        )
        .await
        .unwrap();
    starts_at
}

/// Sends what is due at `at` and returns every text sent, by first name.
async fn dispatch(app: &UiApp, at: DateTime<Utc>, w: &World) -> Vec<(String, String)> {
    let rec = Arc::new(Recorder::default());
    let d = Dispatcher::new(
        app.engine.clone(),
        fx::channels(&rec),
        DispatcherConfig {
            owner: "t".into(),
            ..Default::default()
        },
    );
    d.run_once(at).await.unwrap();
    let sent = rec.sent.lock().unwrap().clone();
    sent.into_iter()
        .map(|m| {
            let who = [&w.ali, &w.eve, &w.bo]
                .into_iter()
                .find(|p| p.id == m.participant_id)
                .map(|p| p.first_name.clone())
                .unwrap_or_default();
            (who, m.body)
        })
        .collect()
}

fn body_of<'a>(sent: &'a [(String, String)], who: &str) -> &'a str {
    let mine: Vec<&(String, String)> = sent.iter().filter(|(w, _)| w == who).collect();
    assert_eq!(mine.len(), 1, "one message to {who}: {sent:?}");
    &mine[0].1
}

async fn stored(app: &UiApp, unit: &Unit) -> Vec<(String, String, String)> {
    let mut c = app.engine.db.conn().await.unwrap();
    templates::list(&mut c, unit.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            (
                t.key.as_str().to_string(),
                t.lang.as_str().to_string(),
                t.body,
            )
        })
        .collect()
}

/// The part of the message page about one of the unit's texts.
fn unit_card<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"id="tpl-unit-{id}""#))
        .unwrap_or_else(|| panic!("no card {id}"));
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap()]
}

both_backends! {
    async fn a_coordinators_swedish_reminder_is_what_the_units_swedish_participants_get(t) {
        let w = world(&t).await;
        let a = w.app.unit.id.to_string();
        let starts = book(&w.app, &w.ali).await;
        book(&w.app, &w.eve).await;
        book(&w.app, &w.bo).await;
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get("/settings/templates").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Enhetens påminnelser och kallelser: Enhet A"), "the unit's section");
        let card = unit_card(&page, "reminder-reply-sv");
        assert!(card.contains("Standard") && !card.contains("Egen text för enheten"), "{card}");
        assert!(card.contains(&format!(r#"href="/settings/templates/reminder-reply/sv?unit={a}""#)), "{card}");
        assert!(card.contains("Hej Ali! Påminnelse: du har en tid imorgon"), "filled with the sample: {card}");
        // The edit page: the default in the friendly form, the placeholders, the preview.
        let (status, page) = b.get(&format!("/settings/templates/reminder-reply/sv?unit={a}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Hej {namn}! Påminnelse: du har en tid {tid}. Svara KOMMER eller FÖRHINDER.</textarea>"), "the default to start from");
        assert!(page.contains("<code>{namn}</code> deltagarens förnamn") && page.contains("<code>{tid}</code>"));
        assert!(page.contains("<code>{name}</code>"), "the English spelling works too");
        assert!(page.contains(r#"data-counter="body-count""#) && page.contains("data-fill="), "the live counter");
        assert!(page.contains("Skriv orden KOMMER och FÖRHINDER"));
        assert!(page.contains("SMS-delar: 1"), "the preview's part count");
        // Save.
        let res = b.post("/settings/templates/reminder-reply/sv", &[("unit", &a), ("body", SV_REMINDER), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/settings/templates?unit={a}&saved=reminder-reply-sv#tpl-unit-reminder-reply-sv"));
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Texten är sparad."));
        let card = unit_card(&page, "reminder-reply-sv");
        assert!(card.contains("Egen text för enheten") && card.contains("Ali, vi ses imorgon"), "{card}");
        assert!(card.contains("Återställ till standard"));
        assert!(unit_card(&page, "reminder-reply-en").contains("Standard"), "English untouched");
        assert_eq!(stored(&w.app, &w.app.unit).await, vec![("reminder-reply".into(), "sv".into(), SV_REMINDER.into())]);
        assert!(stored(&w.app, &w.b).await.is_empty());
        // The next reminders, at send time.
        let at = next_noon();
        let sent = dispatch(&w.app, at, &w).await;
        let when = paminn::texts::when(Language::Sv, starts, at, chrono_tz::Europe::Stockholm);
        assert!(when.starts_with("imorgon ") && when.ends_with("kl. 12:00"), "{when}");
        assert_eq!(body_of(&sent, "Ali"), format!("Ali, vi ses {when}! Svara KOMMER eller FÖRHINDER."));
        assert!(body_of(&sent, "Bo").starts_with("Hej Bo! Påminnelse: du har en tid imorgon"), "another unit: the default");
        assert!(body_of(&sent, "Eve").starts_with("Hi Eve! Reminder: you have an appointment tomorrow"), "English: the English default");
        // Audited, with the old and new text.
        let audit = w.app.audit("settings.template").await;
        assert_eq!(audit.len(), 1);
        assert!(audit[0].0.starts_with("staff:") && audit[0].1 == format!("unit:{a}"), "{audit:?}");
        let mut c = w.app.engine.db.conn().await.unwrap();
        let (detail,): (String,) = sqlx::query_as("SELECT detail FROM audit WHERE action = 'settings.template'")
            .fetch_one(&mut *c).await.unwrap();
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
        assert_eq!(detail["key"], "reminder-reply");
        assert_eq!(detail["lang"], "sv");
        assert_eq!(detail["from"], serde_json::Value::Null);
        assert_eq!(detail["to"], SV_REMINDER);
    }
}

both_backends! {
    async fn a_wrong_template_is_refused_with_the_reason_and_the_text_kept(t) {
        let w = world(&t).await;
        let a = w.app.unit.id.to_string();
        let mut b = w.app.login("cora").await;
        b.get(&format!("/settings/templates/reminder-reply/sv?unit={a}")).await;
        for (typed, why) in [
            ("Hej {förnamn}! {tid}. Svara KOMMER eller FÖRHINDER.", "Inte sparat: {förnamn} känns inte igen. Här går det att använda {namn}, {tid}."),
            ("Hej {namn! {tid}. Svara KOMMER eller FÖRHINDER.", "en klammerparentes öppnas eller stängs inte"),
            ("Hej {namn}! Din tid: {tid}. Svara JA eller NEJ.", "den måste innehålla både KOMMER och FÖRHINDER"),
            ("Hej {namn}! Svara KOMMER eller FÖRHINDER.", "texten måste innehålla tiden: {tid}"),
            ("Hej {namn}! Dags för drogtest {tid}. Svara KOMMER eller FÖRHINDER.", "nämner något känsligt som andra kan läsa på en låst skärm: drog"),
            ("   ", "Inte sparat: skriv en text."),
        ] {
            let res = b.post("/settings/templates/reminder-reply/sv", &[("unit", &a), ("body", typed), ("action", "save")]).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
            let page = res.text().await.unwrap();
            assert!(page.contains(r#"<p class="error" role="alert">"#) && page.contains(why), "{typed}: {why}");
            if !typed.trim().is_empty() {
                assert!(page.contains(&format!("{typed}</textarea>")), "the typed text stays in the box: {typed}");
            }
            assert!(!page.contains("template-preview"), "no preview of a refused text");
        }
        // A summons' placeholder is not a reminder's.
        let res = b.post("/settings/templates/reminder/sv", &[("unit", &a), ("body", "Kom senast {senast}, {tid}"), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("{senast} känns inte igen"));
        // In English, in the English UI.
        b.http.get(format!("{}/lang/en", b.base)).send().await.unwrap();
        let res = b.post("/settings/templates/reminder-reply/en", &[("unit", &a), ("body", "Hi {name}! {when}. Answer yes or no."), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Not saved: the text asks for a reply, so it must contain both COMING and CANNOT."));
        assert!(stored(&w.app, &w.app.unit).await.is_empty());
        assert!(w.app.audit("settings.template").await.is_empty());
        // The preview shows a good text filled, and stores nothing.
        let res = b.post("/settings/templates/reminder-reply/en", &[("unit", &a), ("body", "{name}, see you {when}! Reply COMING or CANNOT."), ("action", "preview")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        let preview = &page[page.find("template-preview").expect("a preview")..];
        assert!(preview.contains("Ali, see you tomorrow, ") && preview.contains("SMS parts: 1"), "{preview}");
        assert!(stored(&w.app, &w.app.unit).await.is_empty());
    }
}

both_backends! {
    async fn reset_brings_the_default_back_and_is_audited(t) {
        let w = world(&t).await;
        let a = w.app.unit.id.to_string();
        book(&w.app, &w.ali).await;
        let mut b = w.app.login("cora").await;
        b.get("/settings/templates").await;
        let res = b.post("/settings/templates/reminder-reply/sv", &[("unit", &a), ("body", SV_REMINDER), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = b.post("/settings/templates/reminder-reply/sv/reset", &[("unit", &a)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/settings/templates?unit={a}&reset=reminder-reply-sv#tpl-unit-reminder-reply-sv"));
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Standardtexten gäller igen."));
        let card = unit_card(&page, "reminder-reply-sv");
        assert!(card.contains("Standard") && !card.contains("Återställ"), "{card}");
        assert!(stored(&w.app, &w.app.unit).await.is_empty());
        let sent = dispatch(&w.app, next_noon(), &w).await;
        assert!(body_of(&sent, "Ali").starts_with("Hej Ali! Påminnelse: du har en tid imorgon"));
        assert_eq!(w.app.audit("settings.template").await.len(), 2, "saved and reset");
        // Resetting again changes and audits nothing.
        let res = b.post("/settings/templates/reminder-reply/sv/reset", &[("unit", &a)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(w.app.audit("settings.template").await.len(), 2);
    }
}

both_backends! {
    async fn a_lots_sees_the_texts_but_cannot_edit_them_nor_can_another_units_coordinator(t) {
        let w = world(&t).await;
        let a = w.app.unit.id.to_string();
        let mut lisa = w.app.login("lisa").await;
        let (status, page) = lisa.get("/settings/templates").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<li><a href="/settings/templates" aria-current="page">Meddelandetexter</a></li>"#), "in a lots's menu");
        assert!(unit_card(&page, "reminder-reply-sv").contains("Hej Ali! Påminnelse"));
        assert!(!page.contains("/settings/templates/reminder-reply/sv"), "no edit link");
        assert!(!page.contains("/settings/templates/check"), "no check box");
        assert_eq!(lisa.get(&format!("/settings/templates/reminder-reply/sv?unit={a}")).await.0, StatusCode::FORBIDDEN);
        let res = lisa.post("/settings/templates/reminder-reply/sv", &[("unit", &a), ("body", SV_REMINDER), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = lisa.post("/settings/templates/reminder-reply/sv/reset", &[("unit", &a)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // Unit B's coordinator cannot touch unit A.
        let mut bob = w.app.login("bob").await;
        assert_eq!(bob.get(&format!("/settings/templates/reminder-reply/sv?unit={a}")).await.0, StatusCode::FORBIDDEN);
        bob.get("/settings/templates").await;
        let res = bob.post("/settings/templates/reminder-reply/sv", &[("unit", &a), ("body", SV_REMINDER), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(stored(&w.app, &w.app.unit).await.is_empty());
        assert!(w.app.audit("settings.template").await.is_empty());
        // No CSRF token, no change.
        let res = bob.post_raw("/settings/templates/reminder-reply/sv", &[("unit", &w.b.id.to_string()), ("body", SV_REMINDER)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // An admin edits any unit's.
        let mut boss = w.app.login("boss").await;
        let bid = w.b.id.to_string();
        let (status, page) = boss.get(&format!("/settings/templates?unit={bid}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<select id="scope-unit" name="unit">"#));
        let res = boss.post("/settings/templates/reminder/en", &[("unit", &bid), ("body", "Hi {name}, see you {when}."), ("action", "save")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(stored(&w.app, &w.b).await, vec![("reminder".into(), "en".into(), "Hi {name}, see you {when}.".into())]);
        // Unknown messages and languages are not pages.
        assert_eq!(boss.get(&format!("/settings/templates/receipt-stop/sv?unit={bid}")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(boss.get(&format!("/settings/templates/reminder/fi?unit={bid}")).await.0, StatusCode::NOT_FOUND);
    }
}

both_backends! {
    /// The summons uses the unit's wording too, with its own placeholders.
    async fn a_summons_is_sent_in_the_units_wording(t) {
        let w = world(&t).await;
        let at = next_noon();
        let tpl = TemplateText::parse(
            TemplateKey::Summons,
            Language::Sv,
            "Hej {namn}! Kom förbi inom {inom}, senast {senast}. Svara KOMMER eller FÖRHINDER.",
        )
        .unwrap();
        w.app.engine.set_unit_template(w.app.unit.id, &tpl, &actor(), at).await.unwrap();
        w.app.engine.summon(w.ali.id, "2h".parse::<Span>().unwrap(), &actor(), at).await.unwrap();
        w.app.engine.summon(w.bo.id, "2h".parse::<Span>().unwrap(), &actor(), at).await.unwrap();
        let sent = dispatch(&w.app, at, &w).await;
        assert_eq!(body_of(&sent, "Ali"), "Hej Ali! Kom förbi inom 2 timmar, senast 14:00. Svara KOMMER eller FÖRHINDER.");
        assert!(body_of(&sent, "Bo").starts_with("Hej Bo! Du behöver komma in idag inom 2 timmar"));
    }
}
