//! The staff web UI's front door: login, the slow-down after failures,
//! sessions that expire, logout, CSRF on every form, changing one's
//! password, the language switch, and the audit rows all of that writes.

use crate::common;

use common::ui::{self, PASSWORD, location};
use paminn::domain::Role;
use reqwest::StatusCode;

both_backends! {
    async fn a_page_without_login_redirects_to_the_login_page_and_back(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.browser();
        assert_eq!(b.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        let (status, page) = b.get("/login?next=%2Ftoday").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<label for="username">"#) && page.contains(r#"<label for="password">"#));
        let res = b.post_login(&[("username", "Lisa "), ("password", PASSWORD), ("next", "/today")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/today");
        let cookie = res.headers().get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("paminn_session=")).expect("a session cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain HTTP in tests: {cookie}");
        let (status, page) = b.get("/account").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("lisa Testsson"));
        assert_eq!(app.audit("login").await.len(), 1);
    }
}

both_backends! {
    async fn wrong_passwords_are_refused_alike_and_slow_down_after_three(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let b = app.browser();
        let wrong_user = b.post_login(&[("username", "nobody"), ("password", PASSWORD)]).await;
        assert_eq!(wrong_user.status(), StatusCode::UNAUTHORIZED);
        let wrong_user = wrong_user.text().await.unwrap();
        let wrong_pw = b.post_login(&[("username", "lisa"), ("password", "fel fel fel fel")]).await;
        assert_eq!(wrong_pw.status(), StatusCode::UNAUTHORIZED);
        let wrong_pw = wrong_pw.text().await.unwrap();
        assert!(wrong_pw.contains("Fel användarnamn eller lösenord."));
        assert!(wrong_user.contains("Fel användarnamn eller lösenord."), "the two are not told apart");
        for _ in 0..2 {
            b.post_login(&[("username", "lisa"), ("password", "fel fel fel fel")]).await;
        }
        // Three failures: now even the right password waits.
        let res = b.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.text().await.unwrap().contains("För många försök"));
        assert_eq!(app.audit("login.failed").await.len(), 4);
        assert!(app.audit("login").await.is_empty());
    }
}

both_backends! {
    async fn a_form_without_the_csrf_token_changes_nothing(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.login("lisa").await;
        let res = b.post_raw("/account/password", &[("current", PASSWORD), ("new", "ett helt nytt lösen"), ("repeat", "ett helt nytt lösen")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b.post_raw("/account/password", &[("current", PASSWORD), ("new", "ett helt nytt lösen"), ("repeat", "ett helt nytt lösen"), ("_csrf", "forged")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("Formuläret har gått ut"));
        assert!(app.audit("staff.password").await.len() == 1, "only the fixture's password was set");
        // Logging out is a form too.
        assert_eq!(b.post_raw("/logout", &[]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(b.get("/account").await.0, StatusCode::OK, "still logged in");
    }
}

both_backends! {
    async fn changing_the_password_ends_other_sessions_and_the_old_password(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut phone = app.login("lisa").await;
        let mut desk = app.login("lisa").await;
        let res = desk.post("/account/password", &[("current", "inte rätt alls"), ("new", "ett helt nytt lösen"), ("repeat", "ett helt nytt lösen")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = desk.post("/account/password", &[("current", PASSWORD), ("new", "kort"), ("repeat", "kort")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Minst 10 tecken"));
        let res = desk.post("/account/password", &[("current", PASSWORD), ("new", "ett helt nytt lösen"), ("repeat", "ett annat nytt lösen")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = desk.post("/account/password", &[("current", PASSWORD), ("new", "ett helt nytt lösen"), ("repeat", "ett helt nytt lösen")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(desk.get("/account").await.0, StatusCode::OK, "the session that changed it stays");
        assert_eq!(phone.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        let b = app.browser();
        assert_eq!(b.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(b.post_login(&[("username", "lisa"), ("password", "ett helt nytt lösen")]).await.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn sessions_expire_after_two_idle_hours_and_logout_ends_them(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.login("lisa").await;
        {
            let mut c = app.engine.db.conn().await.unwrap();
            let two_hours_ago = paminn::store::ms(chrono::Utc::now() - chrono::Duration::minutes(121));
            sqlx::query("UPDATE web_sessions SET last_seen_at = $1").bind(two_hours_ago).execute(&mut *c).await.unwrap();
        }
        assert_eq!(b.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        let mut b = app.login("lisa").await;
        let res = b.post("/logout", &[]).await;
        assert_eq!(location(&res), "/login");
        assert_eq!(b.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        assert_eq!(app.audit("logout").await.len(), 1);
    }
}

both_backends! {
    async fn the_language_switch_turns_the_pages_english(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.login("lisa").await;
        let (_, page) = b.get("/account").await;
        assert!(page.contains("Byt lösenord") && page.contains(r#"lang="sv""#));
        let res = b.http.get(format!("{}/lang/en?next=/account", b.base)).send().await.unwrap();
        assert_eq!(location(&res), "/account");
        let (_, page) = b.get("/account").await;
        assert!(page.contains("Change password") && page.contains(r#"lang="en""#), "{page}");
        assert!(!page.contains("Byt lösenord"));
        // An outside address is not followed.
        let res = b.http.get(format!("{}/lang/sv?next=//evil.example", b.base)).send().await.unwrap();
        assert_eq!(location(&res), "/today");
    }
}

both_backends! {
    async fn an_inactive_account_cannot_log_in(t) {
        let app = ui::spawn(&t, false).await;
        let s = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.login("lisa").await;
        {
            let mut c = app.engine.db.conn().await.unwrap();
            sqlx::query("UPDATE staff SET active = 0 WHERE id = $1").bind(s.id.get()).execute(&mut *c).await.unwrap();
        }
        assert_eq!(b.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        assert_eq!(b.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await.status(), StatusCode::UNAUTHORIZED);
    }
}

both_backends! {
    async fn cookies_are_secure_behind_a_tls_proxy(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let b = app.browser();
        let token = b.login_token().await;
        let res = b.http.post(format!("{}/login", app.base))
            .header("X-Forwarded-Proto", "https")
            .form(&[("username", "lisa"), ("password", PASSWORD), ("_csrf", &token)])
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cookies: Vec<String> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let session = cookies.iter().find(|c| c.starts_with("paminn_session=")).unwrap();
        assert!(session.contains("Secure") && session.contains("HttpOnly"), "{session}");
    }
}
