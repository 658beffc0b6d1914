//! Every route of the staff web UI, in one table, against the rules every
//! route must keep: without a session (none, or one that expired) a page
//! sends you to the login and a form changes nothing (401); with a session
//! but without the CSRF token every form is refused (403) before anything
//! runs. Every path in the table must be served (an admin gets no 404 or
//! 405 on it); a new route belongs in the table.
//!
//! Role checks and audit rows are per page, in the `ui_*` test files.

use crate::common;

use common::ui;
use paminn::domain::Role;
use reqwest::StatusCode;

/// (method, path) of every UI route, with ids that exist in the fixture
/// (participant 1, appointment 1, staff 1, task 1, group 1, broadcast 1).
const GETS: &[&str] = &[
    "/today",
    "/calendar",
    "/participants",
    "/participants/new",
    "/participants/1",
    "/participants/1/appointments/new",
    "/participants/1/series/new",
    "/appointments/1/edit",
    "/appointments/1/cancel",
    "/participants/1/edit",
    "/monitoring",
    "/monitoring/messages.csv",
    "/monitoring/chart.svg",
    "/outcomes",
    "/outcomes/outcomes.csv",
    "/outcomes/export.csv",
    "/outcomes/trials",
    "/settings",
    "/settings/templates",
    "/settings/templates/reminder-reply/sv",
    "/staff",
    "/audit",
    "/review",
    "/review/export.csv",
    "/review/print",
    "/account",
    "/sandbox",
    "/sandbox/1/messages",
    "/broadcasts",
    "/broadcasts/new",
    "/broadcasts/1",
    "/groups",
    "/groups/1",
    "/groups/1/activity/new",
    // Event webhooks (issue 19).
    "/event-hooks",
];

const POSTS: &[&str] = &[
    "/logout",
    "/account/password",
    "/appointments/1/attendance",
    "/tasks/1/done",
    "/tasks/1/undo",
    "/appointments/1/attendance/undo",
    "/appointments/1/reply",
    "/participants/1/edit",
    "/participants",
    "/participants/1/appointments",
    "/appointments/1",
    "/appointments/1/cancel",
    "/participants/1/series",
    "/participants/1/consent",
    "/participants/1/consent/withdraw",
    "/participants/1/status",
    "/participants/1/language",
    "/participants/1/discreet",
    "/participants/1/intensity",
    "/participants/1/phase",
    "/participants/1/external-ref",
    "/participants/1/lots",
    "/participants/1/link-code",
    "/settings/rules/meeting",
    "/settings/unit",
    "/settings/templates/check",
    "/settings/templates/reminder-reply/sv",
    "/settings/templates/reminder-reply/sv/reset",
    "/staff",
    "/staff/1/password",
    "/staff/1/active",
    "/staff/1/role",
    "/sandbox/1/reply",
    "/broadcasts",
    "/broadcasts/1/cancel-activity",
    "/groups",
    "/groups/1/activity",
    "/review/record",
    "/review/protection",
    "/outcomes/trials",
    "/outcomes/trials/1/end",
    // Event webhooks (issue 19).
    "/event-hooks",
    "/event-hooks/1",
    "/event-hooks/1/enabled",
    "/event-hooks/1/rotate",
    "/event-hooks/deliveries/1/resend",
];

async fn fixture(t: &common::TestDb) -> ui::UiApp {
    let app = ui::spawn(t, true).await;
    app.staff("eva", Role::Admin, None).await;
    let now = chrono::Utc::now();
    let ali = common::fx::participant(&app.engine, &app.unit, "Ali", "sms", now).await;
    let actor = paminn::engine::Actor("test".into());
    app.engine
        .create_appointment(
            &paminn::store::appointments::NewAppointment {
                participant_id: ali.id,
                series_id: None,
                kind: paminn::domain::AppointmentKind::Meeting,
                starts_at: now + chrono::Duration::days(2),
                duration_min: 30,
                location: None,
                with_whom: None,
                internal_note: None,
                external_ref: None,
            },
            &actor,
            now,
        )
        .await
        .unwrap();
    // Group 1 with Ali, and broadcast 1 to it.
    let g = app
        .engine
        .create_group(app.unit.id, "Gruppen", &actor, now)
        .await
        .unwrap();
    app.engine
        .add_group_member(g, ali.id, &actor, now)
        .await
        .unwrap();
    app.engine
        .plan_broadcast(
            &paminn::engine::broadcasts::BroadcastRequest {
                audience: paminn::engine::broadcasts::Audience::Group(g),
                text_sv: "Hej".into(),
                text_en: "Hi".into(),
                send_at: None,
                urgent: false,
                activity: None,
                key: None,
            },
            &actor,
            now,
        )
        .await
        .unwrap();
    // A reply nobody understands makes task 1.
    app.engine
        .receive(
            paminn::domain::ChannelKind::Sms,
            "in-1",
            ali.id,
            "blomkål",
            now,
        )
        .await
        .unwrap();
    let mut c = app.engine.db.conn().await.unwrap();
    assert_eq!(
        paminn::store::tasks::list(&mut c, Some(ali.id), true)
            .await
            .unwrap()
            .len(),
        1
    );
    app
}

/// The routes of the table that this build serves (a path answering 404
/// or 405 to an admin is not served).
async fn served(app: &ui::UiApp, b: &mut ui::Browser) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut gets = Vec::new();
    for path in GETS {
        if b.get(path).await.0 != StatusCode::NOT_FOUND {
            gets.push(*path);
        }
    }
    let mut posts = Vec::new();
    for path in POSTS {
        // Without the token: 403 from a route that exists, 404 or 405 otherwise.
        let s = b.post_raw(path, &[]).await.status();
        if s != StatusCode::NOT_FOUND && s != StatusCode::METHOD_NOT_ALLOWED {
            posts.push(*path);
        }
    }
    let _ = app;
    (gets, posts)
}

both_backends! {
    async fn no_session_no_page_and_no_change_on_any_route(t) {
        let app = fixture(&t).await;
        let mut admin = app.login("eva").await;
        let (gets, posts) = served(&app, &mut admin).await;
        assert_eq!((gets.len(), posts.len()), (GETS.len(), POSTS.len()), "every route in the table is served: {gets:?} {posts:?}");
        let mut anon = app.browser();
        for path in &gets {
            let to = anon.get_location(path).await;
            assert!(to.as_deref().is_some_and(|l| l.starts_with("/login?next=")), "GET {path} without a session: {to:?}");
        }
        let audit_before = app.audit("login").await.len();
        for path in &posts {
            let s = anon.post_raw(path, &[("text", "x"), ("value", "paused")]).await.status();
            assert_eq!(s, StatusCode::UNAUTHORIZED, "POST {path} without a session");
        }
        // An expired session is no session.
        {
            let mut c = app.engine.db.conn().await.unwrap();
            let old = paminn::store::ms(chrono::Utc::now() - chrono::Duration::hours(3));
            sqlx::query("UPDATE web_sessions SET last_seen_at = $1").bind(old).execute(&mut *c).await.unwrap();
        }
        for path in &gets {
            let to = admin.get_location(path).await;
            assert!(to.as_deref().is_some_and(|l| l.starts_with("/login?next=")), "GET {path} with an expired session: {to:?}");
        }
        for path in &posts {
            assert_eq!(admin.post_raw(path, &[]).await.status(), StatusCode::UNAUTHORIZED, "POST {path} with an expired session");
        }
        assert_eq!(app.audit("login").await.len(), audit_before);
    }
}

both_backends! {
    async fn every_form_wants_the_csrf_token_before_anything_runs(t) {
        let app = fixture(&t).await;
        let mut admin = app.login("eva").await;
        let (_, posts) = served(&app, &mut admin).await;
        let audit = |app: &ui::UiApp| {
            let db = app.engine.db.clone();
            async move {
                let mut c = db.conn().await.unwrap();
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit").fetch_one(&mut *c).await.unwrap();
                n
            }
        };
        let before = audit(&app).await;
        for path in &posts {
            for token in [None, Some("forged")] {
                let mut fields = vec![("value", "paused"), ("text", "kommer")];
                if let Some(t) = token {
                    fields.push(("_csrf", t));
                }
                let s = admin.post_raw(path, &fields).await.status();
                assert_eq!(s, StatusCode::FORBIDDEN, "POST {path} with CSRF token {token:?}");
            }
        }
        assert_eq!(audit(&app).await, before, "a refused form wrote nothing");
        assert_eq!(admin.get("/account").await.0, StatusCode::OK, "and the session is still good");
    }
}

crate::both_backends! {
    async fn an_unknown_address_gets_a_page_in_the_viewers_language_not_a_blank_one(t) {
        let app = crate::common::ui::spawn(&t, false).await;
        let http = reqwest::Client::new();
        for (cookie, words) in [(None, "Det finns inget här"), (Some("paminn_lang=en"), "There is nothing here")] {
            let mut r = http.get(format!("{}/participnats/7", app.base));
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            let res = r.send().await.unwrap();
            assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
            assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
            let page = res.text().await.unwrap();
            assert!(page.to_lowercase().contains(&words.to_lowercase()), "{cookie:?}: {page}");
        }
        // The API keeps its JSON 404.
        let res = http.get(format!("{}/api/v1/nothing-here", app.base)).send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    }
}

crate::both_backends! {
    async fn the_accessibility_statement_is_public_and_linked_from_every_page(t) {
        let app = crate::common::ui::spawn_with(&t, false, paminn::web::ui::UiConfig {
            organisation_name: Some("Exempelby kommun".into()),
            accessibility_contact: Some("tillganglighet@exempelby.se".into()),
            ..Default::default()
        }).await;
        app.staff("eva", Role::Admin, None).await;
        let http = reqwest::Client::new();
        // Readable before signing in, in DIGG's sections.
        let res = http.get(format!("{}/accessibility", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        for words in [
            "<h1>Tillgänglighetsredogörelse för paminn</h1>",
            "Exempelby kommun står bakom den här tjänsten.",
            "lagen (2018:1937) om tillgänglighet till digital offentlig service",
            "Hur tillgänglig är tjänsten?",
            "Rapportera brister i tjänstens tillgänglighet",
            "<strong>tillganglighet@exempelby.se</strong>",
            r#"<a href="https://www.digg.se/tdosanmalan">"#,
            "Tjänsten är delvis förenlig",
            "Innehåll som inte är tillgängligt",
            "axe-core mot WCAG 2.1 nivå A och AA",
            &format!("Den senaste bedömningen gjordes {}.", paminn::web::ui::statement::ASSESSED_ON),
        ] {
            assert!(page.contains(words), "{words}: {page}");
        }
        let res = http.get(format!("{}/accessibility", app.base)).header("cookie", "paminn_lang=en").send().await.unwrap();
        let page = res.text().await.unwrap();
        assert!(page.contains("<h1>Accessibility statement for paminn</h1>") && page.contains("Exempelby kommun is responsible"), "{page}");
        // Without settings: no organisation or address is made up.
        let plain = crate::common::ui::spawn(&t, false).await;
        let page = http.get(format!("{}/accessibility", plain.base)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Organisationen som driver den här tjänsten står bakom") && page.contains("<strong>din samordnare eller systemförvaltare</strong>"), "{page}");
        // The footer of the login page, a signed-in page and an error page.
        let link = r#"<footer class="foot"><a href="/accessibility">Tillgänglighet</a></footer>"#;
        let login = http.get(format!("{}/login", app.base)).send().await.unwrap().text().await.unwrap();
        assert!(login.contains(link), "{login}");
        let mut eva = app.login("eva").await;
        for path in ["/today", "/participants", "/audit"] {
            assert!(eva.get(path).await.1.contains(link), "{path}");
        }
        let missing = http.get(format!("{}/no-such-page", app.base)).send().await.unwrap().text().await.unwrap();
        assert!(missing.contains(link), "{missing}");
    }
}

both_backends! {
    async fn a_reviewer_opens_the_review_and_the_audit_log_and_nothing_else(t) {
        let app = fixture(&t).await;
        app.staff("greta", Role::Reviewer, None).await;
        let mut r = app.login("greta").await;
        let allowed = ["/audit", "/review", "/review/export.csv", "/review/print", "/account"];
        for path in GETS {
            let (status, _) = r.get(path).await;
            let want = if allowed.contains(path) {
                StatusCode::OK
            } else if *path == "/today" {
                StatusCode::SEE_OTHER
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, want, "GET {path} as a reviewer");
        }
        assert_eq!(r.get_location("/today").await.as_deref(), Some("/review"));
        r.get("/review").await;
        for path in POSTS {
            let s = r.post(path, &[("text", "x"), ("value", "paused")]).await.status();
            let may = ["/logout", "/account/password", "/review/record"];
            if !may.contains(path) {
                assert_eq!(s, StatusCode::FORBIDDEN, "POST {path} as a reviewer");
            }
            if *path == "/logout" {
                r = app.login("greta").await;
                r.get("/review").await;
            }
        }
        // No case record was opened, no list was read.
        assert!(app.audit("case.view").await.is_empty());
        assert!(app.audit("today.view").await.is_empty());
    }
}
