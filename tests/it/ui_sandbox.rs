//! The sandbox phone as a page of the staff UI: demo only, behind the
//! login, answers only with the form's CSRF token.

use crate::common;

use common::ui;
use paminn::domain::Role;
use paminn::store::journal;
use reqwest::StatusCode;

both_backends! {
    async fn the_sandbox_phone_is_demo_only_and_needs_the_csrf_token(t) {
        let now = chrono::Utc::now();
        let app = ui::spawn(&t, true).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let ali = common::fx::participant(&app.engine, &app.unit, "Ali", "sms", now).await;
        // Ali's lots: the phone follows the case record's access rule
        // (tests/security.rs has the refusals).
        sqlx::query("UPDATE participants SET lots_id = $1 WHERE id = $2")
            .bind(lisa.id.get()).bind(ali.id.get()).execute(&app.engine.db.pool).await.unwrap();
        let mut b = app.login("lisa").await;
        let (status, page) = b.get("/sandbox").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Ali") && page.contains("+46701234567"));
        let path = format!("/sandbox/{}/reply", ali.id);
        let res = b.post_raw(&path, &[("text", "kommer")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let mut c = app.engine.db.conn().await.unwrap();
        assert!(!journal::list(&mut c, ali.id).await.unwrap().iter().any(|e| e.kind == "inbound_message"));
        let res = b.post(&path, &[("text", "kommer")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(journal::list(&mut c, ali.id).await.unwrap().iter().any(|e| e.kind == "inbound_message"));
        let res = b.http.get(format!("{}/sandbox/{}/messages", b.base, ali.id)).send().await.unwrap();
        let msgs: serde_json::Value = res.json().await.unwrap();
        assert!(msgs.as_array().unwrap().iter().any(|m| m["body"] == "kommer"));

        // Outside the demo there is no sandbox phone, logged in or not.
        let serve = ui::spawn(&t, false).await;
        serve.staff("anna", Role::Admin, None).await;
        let mut b = serve.login("anna").await;
        assert_eq!(b.get("/sandbox").await.0, StatusCode::NOT_FOUND);
        assert!(!b.get("/today").await.1.contains("/sandbox"), "no menu entry");
        assert_eq!(serve.browser().get_location("/sandbox").await.as_deref(), Some("/login?next=%2Fsandbox"));
    }
}
