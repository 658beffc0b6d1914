//! The settings pages: reminder rules, quiet hours, retention and the
//! switches, stored through the engine with an audit row, refused with a
//! reason when wrong; coordinators only for their own unit; the template
//! preview in both languages with SMS parts, and the check of a typed text.

use crate::common;

use chrono::Utc;
use common::ui::{self, UiApp};
use paminn::domain::{AppointmentKind, Role, Span};
use paminn::store::rules;
use paminn::store::units::{self, Unit};
use reqwest::StatusCode;

struct World {
    app: UiApp,
    b: Unit,
}

/// Unit A with coordinator "cora", lots "lisa", assistant "asta"; unit B
/// with coordinator "bob"; admin "boss".
async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    let b = common::fx::unit(&app.engine, "Enhet B", Utc::now()).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    app.staff("asta", Role::Assistant, Some(app.unit.id)).await;
    app.staff("bob", Role::Coordinator, Some(b.id)).await;
    app.staff("boss", Role::Admin, None).await;
    World { app, b }
}

async fn rule(app: &UiApp, unit: &Unit, kind: AppointmentKind) -> (String, bool, Option<u32>) {
    let mut c = app.engine.db.conn().await.unwrap();
    let r = rules::get(&mut c, unit.id, kind).await.unwrap().unwrap();
    (
        r.offsets
            .iter()
            .map(Span::to_string)
            .collect::<Vec<_>>()
            .join(","),
        r.ask_reply,
        r.reply_deadline.map(Span::as_minutes),
    )
}

async fn unit(app: &UiApp, u: &Unit) -> Unit {
    let mut c = app.engine.db.conn().await.unwrap();
    units::get(&mut c, u.id).await.unwrap()
}

both_backends! {
    async fn a_coordinator_changes_a_rule_and_it_is_stored_and_audited(t) {
        let w = world(&t).await;
        let a = w.app.unit.clone();
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get("/settings").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Inställningar: Enhet A</h1>"));
        assert!(page.contains(r#"<form method="post" action="/settings/rules/meeting""#));
        assert!(page.contains(r#"id="offsets-meeting" name="offsets" value="24h,2h""#), "the default rule");
        assert!(page.contains(r#"<label for="offsets-drug_test">"#));
        let id = a.id.to_string();
        let res = b.post("/settings/rules/meeting", &[("unit", &id), ("offsets", "48h, 3h"), ("ask_reply", "1"), ("deadline", "4h")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(ui::location(&res), format!("/settings?unit={id}&saved=1#rule-meeting"));
        assert_eq!(rule(&w.app, &a, AppointmentKind::Meeting).await, ("48h,3h".into(), true, Some(240)));
        let audit = w.app.audit("settings.rule").await;
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].1, format!("unit:{id}"));
        let (_, page) = b.get(&format!("/settings?unit={id}&saved=1")).await;
        assert!(page.contains("Sparat.") && page.contains(r#"value="48h,3h""#));
        // No reply asked: the deadline goes with it.
        let res = b.post("/settings/rules/drug_test", &[("unit", &id), ("offsets", "2h"), ("deadline", "1h")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(rule(&w.app, &a, AppointmentKind::DrugTest).await, ("2h".into(), false, None));
        // Other kinds are untouched.
        assert_eq!(rule(&w.app, &a, AppointmentKind::Other).await.0, "24h");
    }
}

both_backends! {
    async fn a_bad_offset_is_refused_with_the_reason_and_changes_nothing(t) {
        let w = world(&t).await;
        let a = w.app.unit.clone();
        let id = a.id.to_string();
        let mut b = w.app.login("cora").await;
        b.get("/settings").await;
        let res = b.post("/settings/rules/meeting", &[("unit", &id), ("offsets", "24h,25x"), ("ask_reply", "1")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Möten: inte sparat.") && page.contains("25x") && page.contains("är ingen tid"), "{page}");
        assert!(page.contains(r#"value="24h,25x""#), "what was typed stays in the form");
        for (offsets, deadline, why) in [
            ("", "", "Skriv minst en tid"),
            ("1h,2h,3h,4h,5h,6h", "", "Högst 5 påminnelser"),
            ("90d", "", "90d"),
            ("24h", "snart", "Svarstiden"),
        ] {
            let res = b.post("/settings/rules/meeting", &[("unit", &id), ("offsets", offsets), ("ask_reply", "1"), ("deadline", deadline)]).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{offsets} {deadline}");
            assert!(res.text().await.unwrap().contains(why), "{why}");
        }
        assert_eq!(rule(&w.app, &a, AppointmentKind::Meeting).await, ("24h,2h".into(), true, Some(180)));
        assert!(w.app.audit("settings.rule").await.is_empty());
        // An unknown kind is not a page.
        assert_eq!(b.post("/settings/rules/party", &[("unit", &id), ("offsets", "1h")]).await.status(), StatusCode::NOT_FOUND);
    }
}

both_backends! {
    async fn quiet_hours_retention_and_switches_are_stored_and_audited(t) {
        let w = world(&t).await;
        let a = w.app.unit.clone();
        let id = a.id.to_string();
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/settings").await;
        assert!(page.contains(r#"id="quiet_start" name="quiet_start" type="time" value="21:00""#));
        assert!(page.contains(r#"id="retention_days" name="retention_days" type="number" min="1" max="3650" value="180""#));
        let res = b.post("/settings/unit", &[("unit", &id), ("quiet_start", "22:00"), ("quiet_end", "07:30"), ("retention_days", "90"), ("plan_making", "1"), ("gap_alert_days", "14")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let u = unit(&w.app, &a).await;
        assert_eq!(u.quiet_hours.to_string(), "22:00-07:30");
        assert_eq!((u.retention_days, u.plan_making, u.gap_alert_days), (90, true, 14));
        assert_eq!(w.app.audit("settings.unit").await, vec![(w.app.audit("login").await[0].0.clone(), format!("unit:{id}"))]);
        // Unticked switch: off. Seconds from a browser's time field are fine.
        let res = b.post("/settings/unit", &[("unit", &id), ("quiet_start", "21:00:00"), ("quiet_end", "08:00"), ("retention_days", "90"), ("gap_alert_days", "0")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let u = unit(&w.app, &a).await;
        assert_eq!((u.quiet_hours.to_string(), u.plan_making, u.gap_alert_days), ("21:00-08:00".into(), false, 0));
        // Refused: nothing changes, the reason is shown.
        for (field, value, why) in [
            ("retention_days", "0", "1-3650 dagar"),
            ("retention_days", "ett år", "1-3650 dagar"),
            ("quiet_start", "25:00", "ingen klockslag"),
            ("gap_alert_days", "-1", "0-365"),
        ] {
            let mut form = vec![("unit", id.as_str()), ("quiet_start", "21:00"), ("quiet_end", "08:00"), ("retention_days", "30"), ("gap_alert_days", "7")];
            form.retain(|(k, _)| *k != field);
            form.push((field, value));
            let res = b.post("/settings/unit", &form).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
            assert!(res.text().await.unwrap().contains(why), "{why}");
        }
        assert_eq!(unit(&w.app, &a).await.retention_days, 90);
        assert_eq!(w.app.audit("settings.unit").await.len(), 2);
    }
}

both_backends! {
    async fn a_coordinator_cannot_see_or_change_another_units_settings(t) {
        let w = world(&t).await;
        let other = w.b.id.to_string();
        let mut b = w.app.login("cora").await;
        assert_eq!(b.get(&format!("/settings?unit={other}")).await.0, StatusCode::FORBIDDEN);
        b.get("/settings").await;
        let res = b.post("/settings/rules/meeting", &[("unit", &other), ("offsets", "1h")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b.post("/settings/unit", &[("unit", &other), ("quiet_start", "00:00"), ("quiet_end", "00:00"), ("retention_days", "1"), ("gap_alert_days", "0")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(rule(&w.app, &w.b, AppointmentKind::Meeting).await.0, "24h,2h");
        assert_eq!(unit(&w.app, &w.b).await.retention_days, 180);
        assert!(w.app.audit("settings.rule").await.is_empty() && w.app.audit("settings.unit").await.is_empty());
        // Their own coordinator may; an admin may pick either unit.
        let mut bob = w.app.login("bob").await;
        let (status, page) = bob.get("/settings").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Inställningar: Enhet B"));
        let mut boss = w.app.login("boss").await;
        let (status, page) = boss.get(&format!("/settings?unit={other}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Inställningar: Enhet B") && page.contains(r#"<select id="scope-unit" name="unit">"#));
        let res = boss.post("/settings/rules/other", &[("unit", &other), ("offsets", "3d")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(rule(&w.app, &w.b, AppointmentKind::Other).await.0, "72h");
    }
}

both_backends! {
    async fn lotsar_and_assistants_get_no_settings(t) {
        let w = world(&t).await;
        let id = w.app.unit.id.to_string();
        for who in ["lisa", "asta"] {
            let mut b = w.app.login(who).await;
            assert_eq!(b.get("/settings").await.0, StatusCode::FORBIDDEN, "{who}");
            // A lots sees the messages read-only (issue 23; ui_templates.rs).
            let seen = if who == "lisa" { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(b.get("/settings/templates").await.0, seen, "{who}");
            b.get("/account").await;
            assert_eq!(b.post("/settings/rules/meeting", &[("unit", &id), ("offsets", "1h")]).await.status(), StatusCode::FORBIDDEN);
            assert_eq!(b.post("/settings/unit", &[("unit", &id), ("quiet_start", "00:00"), ("quiet_end", "00:00"), ("retention_days", "1"), ("gap_alert_days", "0")]).await.status(), StatusCode::FORBIDDEN);
            assert_eq!(b.post("/settings/templates/check", &[("text", "hej")]).await.status(), StatusCode::FORBIDDEN);
        }
        assert_eq!(rule(&w.app, &w.app.unit, AppointmentKind::Meeting).await.0, "24h,2h");
        assert!(w.app.audit("settings.rule").await.is_empty() && w.app.audit("settings.unit").await.is_empty());
    }
}

both_backends! {
    async fn settings_forms_without_the_csrf_token_change_nothing(t) {
        let w = world(&t).await;
        let id = w.app.unit.id.to_string();
        let b = w.app.login("cora").await;
        let res = b.post_raw("/settings/rules/meeting", &[("unit", &id), ("offsets", "1h")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b.post_raw("/settings/unit", &[("unit", &id), ("quiet_start", "00:00"), ("quiet_end", "00:00"), ("retention_days", "1"), ("gap_alert_days", "0"), ("_csrf", "forged")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(b.post_raw("/settings/templates/check", &[("text", "hej")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(rule(&w.app, &w.app.unit, AppointmentKind::Meeting).await.0, "24h,2h");
        assert_eq!(unit(&w.app, &w.app.unit).await.retention_days, 180);
        assert!(w.app.audit("settings.rule").await.is_empty() && w.app.audit("settings.unit").await.is_empty());
    }
}

both_backends! {
    async fn the_template_preview_shows_both_languages_and_their_sms_parts(t) {
        let w = world(&t).await;
        let mut b = w.app.login("cora").await;
        let (status, page) = b.get("/settings/templates").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<strong>Svenska:</strong> Hej Ali! Påminnelse: du har en tid imorgon"));
        assert!(page.contains("<strong>Engelska:</strong> Hi Ali! Reminder: you have an appointment tomorrow"));
        assert!(page.contains(r#"<section class="card template" id="tpl-receipt-cannot">"#));
        assert!(page.contains(r#"<section class="card template" id="tpl-summons">"#));
        assert!(page.contains(r#"<div class="sample" lang="en">"#));
        assert!(page.contains(r#"<span class="badge ok">GSM-7</span> SMS-delar: 1 · Tecken: "#), "a part count");
        assert!(!page.contains(r#"class="warning sensitive""#), "the default texts name nothing sensitive");
        assert!(page.contains(r#"<label for="text">"#));
        // A typed text: an emoji makes it UCS-2, a sensitive word is flagged.
        let res = b.post("/settings/templates/check", &[("text", "Hej! Glöm inte drogtestet imorgon 👍")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        let result = &page[page.find("check-result").expect("a result")..];
        assert!(result.contains(r#"<span class="badge warn">UCS-2</span>"#), "{result}");
        assert!(result.contains("<strong>SMS-delar: 1</strong>"));
        assert!(result.contains(r#"<p class="warning sensitive" role="alert">Varning: texten nämner något känsligt"#));
        assert!(result.contains("<strong>drog</strong>"));
        assert!(page.contains("Glöm inte drogtestet"), "the text stays in the box");
        // A long plain text takes several parts.
        let long = "Hej! Kontoret är stängt idag. ".repeat(7);
        let res = b.post("/settings/templates/check", &[("text", &long)]).await;
        let page = res.text().await.unwrap();
        let result = &page[page.find("check-result").unwrap()..];
        assert!(result.contains(r#"<span class="badge ok">GSM-7</span>"#) && result.contains("<strong>SMS-delar: 2</strong>"), "{result}");
        assert!(!result.contains("warning sensitive"));
        // In English.
        b.http.get(format!("{}/lang/en", b.base)).send().await.unwrap();
        let (_, page) = b.get("/settings/templates").await;
        assert!(page.contains("<strong>Swedish:</strong> Hej Ali!") && page.contains("SMS parts: 1"));
    }
}

both_backends! {
    /// Issue 15 item 13: copying participants' words into Telegram alerts
    /// is a unit setting, off until a coordinator ticks it, and audited.
    async fn alert_details_are_off_by_default_and_a_switch_on_the_unit_page(t) {
        let w = world(&t).await;
        let a = w.app.unit.clone();
        let id = a.id.to_string();
        assert!(!unit(&w.app, &a).await.alert_details, "off by default");
        let mut b = w.app.login("cora").await;
        let (_, page) = b.get("/settings").await;
        assert!(page.contains(r#"id="alert_details" name="alert_details" value="1" aria-describedby"#), "unticked");
        let form = [("unit", id.as_str()), ("quiet_start", "21:00"), ("quiet_end", "08:00"), ("retention_days", "180"), ("gap_alert_days", "7")];
        let mut on = form.to_vec();
        on.push(("alert_details", "1"));
        assert_eq!(b.post("/settings/unit", &on).await.status(), StatusCode::SEE_OTHER);
        assert!(unit(&w.app, &a).await.alert_details);
        let (_, page) = b.get("/settings").await;
        assert!(page.contains(r#"name="alert_details" value="1" checked"#));
        assert_eq!(b.post("/settings/unit", &form).await.status(), StatusCode::SEE_OTHER);
        assert!(!unit(&w.app, &a).await.alert_details, "unticked: off again");
        let detail: String = sqlx::query_scalar("SELECT detail FROM audit WHERE action = 'settings.unit' ORDER BY id LIMIT 1")
            .fetch_one(&w.app.engine.db.pool).await.unwrap();
        assert!(detail.contains(r#""alert_details":true"#) && detail.contains(r#""alert_details":false"#), "{detail}");
    }
}
