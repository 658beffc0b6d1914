//! The demo as a newcomer meets it: seeded data, a reminder on the sandbox
//! phone within a minute, and the answer box.

use crate::common;

use chrono::{Duration, Utc};
use paminn::engine::Engine;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::{journal, participants, sandbox};
use paminn::web::AppState;

both_backends! {
    async fn a_fresh_demo_shows_a_reminder_within_a_minute_and_takes_an_answer(t) {
        let e = Engine::new(t.db.clone());
        assert!(paminn::demo::seed(&e).await.unwrap());
        assert!(!paminn::demo::seed(&e).await.unwrap(), "seeding twice adds nothing");
        let start = Utc::now();
        let channels = paminn::server::channels(&paminn::config::Config::default(), &t.db);
        let d = Dispatcher::new(e.clone(), channels, DispatcherConfig::default());
        d.run_once(start + Duration::seconds(60)).await.unwrap();
        let mut c = t.db.conn().await.unwrap();
        let people = participants::list(&mut c, None).await.unwrap();
        let mut on_phones = 0;
        for p in &people {
            on_phones += sandbox::for_participant(&mut c, p.id).await.unwrap().len();
        }
        assert!(on_phones >= 1, "no reminder on any sandbox phone within a minute");

        // The demo's lots logs in; the sandbox phone lists the phones and
        // its answer box records the answer.
        let server = common::server::serve_with(|_| AppState { demo: true, ..common::server::state(&e) }).await;
        let base = server.base.clone();
        let mut b = common::ui::Browser {
            http: reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base: base.clone(),
            csrf: None,
        };
        assert_eq!(b.get_location("/sandbox").await.as_deref(), Some("/login?next=%2Fsandbox"), "the sandbox is behind the login");
        let (user, _, _) = paminn::demo::DEMO_STAFF[0];
        let res = b.post_login(&[("username", user), ("password", paminn::demo::DEMO_PASSWORD)]).await;
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "the printed demo login works");
        let (_, page) = b.get("/sandbox").await;
        // A lots's sandbox phone shows their own caseload only (the case
        // record's access rule).
        let (anna, _, _) = paminn::store::web::credentials(&mut c, user).await.unwrap().unwrap();
        let theirs: Vec<_> = people.iter().filter(|p| p.lots_id == Some(anna)).collect();
        assert!(!theirs.is_empty());
        for p in &theirs {
            assert!(page.contains(&format!("/sandbox/{}/reply", p.id)), "{} not on the page", p.first_name);
        }
        for p in people.iter().filter(|p| p.lots_id != Some(anna)) {
            assert!(!page.contains(&format!("/sandbox/{}/reply", p.id)), "{} is not {user}'s", p.first_name);
        }
        let ali = theirs[0];
        let res = b.post(&format!("/sandbox/{}/reply", ali.id), &[("text", "förhinder, sjuk <b>")]).await;
        assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
        let events = journal::list(&mut c, ali.id).await.unwrap();
        let inbound = events.iter().find(|e| e.kind == "inbound_message").unwrap();
        assert_eq!(inbound.detail["text"], "förhinder, sjuk <b>");
        let (_, page) = b.get("/sandbox").await;
        assert!(page.contains("förhinder, sjuk &#60;b&#62;"), "the answer is on the page, escaped");
        assert!(!page.contains("sjuk <b>"), "raw HTML from a participant must not reach the page");
        drop(server);
    }
}
