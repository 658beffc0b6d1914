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

both_backends! {
    async fn the_next_reminder_can_be_sent_now_from_the_sandbox_phone(t) {
        use paminn::domain::{AppointmentKind, OutboxStatus};
        use paminn::store::{appointments::NewAppointment, outbox};
        let now = chrono::Utc::now();
        let app = ui::spawn(&t, true).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let ali = common::fx::participant(&app.engine, &app.unit, "Ali", "sms", now).await;
        sqlx::query("UPDATE participants SET lots_id = $1 WHERE id = $2")
            .bind(lisa.id.get()).bind(ali.id.get()).execute(&app.engine.db.pool).await.unwrap();
        // Booked three days ahead: its first reminder is days away.
        app.engine.create_appointment(&NewAppointment {
            participant_id: ali.id, series_id: None, kind: AppointmentKind::Meeting,
            starts_at: now + chrono::Duration::days(3), duration_min: 30, location: None,
            with_whom: None, internal_note: None, external_ref: None,
        }, &common::fx::actor(), now).await.unwrap();
        let mut c = app.engine.db.conn().await.unwrap();
        let pending = |rows: Vec<outbox::OutboxRow>| rows.into_iter().filter(|r| r.status == OutboxStatus::Pending).collect::<Vec<_>>();
        let before = pending(outbox::list(&mut c, Some(ali.id)).await.unwrap());
        assert!(!before.is_empty() && before.iter().all(|r| r.next_attempt_at > now + chrono::Duration::hours(12)));
        let mut b = app.login("lisa").await;
        let (_, page) = b.get("/sandbox").await;
        assert!(page.contains("Påminn nu"), "{page}");
        let res = b.post(&format!("/sandbox/{}/next-now", ali.id), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let after = pending(outbox::list(&mut c, Some(ali.id)).await.unwrap());
        let due_now = after.iter().filter(|r| r.next_attempt_at <= chrono::Utc::now()).count();
        assert_eq!(due_now, 1, "exactly the next one is due now");
        // Outside the demo the route does not exist.
        let serve = ui::spawn(&t, false).await;
        serve.staff("anna", Role::Admin, None).await;
        let mut b = serve.login("anna").await;
        let res = b.post(&format!("/sandbox/{}/next-now", ali.id), &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
