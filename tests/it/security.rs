//! Security hardening (issue 15): what an outside review found, each with
//! the check that failed before the fix. Database file modes and
//! `secure_delete` (SQLite only), response headers, redirects, the sandbox
//! phone's access rule, and the login under attack.

use crate::common;

use paminn::config::Config;
use paminn::store::Db;

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_the_sqlite_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested").join("paminn-data");
    let cfg = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let db = paminn::server::open_db(&cfg).await.unwrap();
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("paminn.db")), 0o600, "database file");
    // WAL mode: the write-ahead log holds recent writes, texts included.
    sqlx::query("CREATE TABLE t (x TEXT)")
        .execute(&db.pool)
        .await
        .unwrap();
    let wal = data.join("paminn.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600, "write-ahead log");
    db.close().await;
}

#[tokio::test]
async fn sqlite_overwrites_deleted_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/p.db", tmp.path().display());
    let db = Db::connect(&url).await.unwrap();
    // Every connection of the pool, not only the first.
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(db.pool.acquire().await.unwrap());
    }
    for c in &mut conns {
        let on: i64 = sqlx::query_scalar("PRAGMA secure_delete")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(on, 1);
    }
    drop(conns);
    // And the effect: a deleted text is gone from the file's bytes.
    sqlx::query("CREATE TABLE t (x TEXT)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES ('sjuk hiv-mottagningen-markör')")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM t")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&db.pool)
        .await
        .unwrap();
    db.close().await;
    let bytes = std::fs::read(tmp.path().join("p.db")).unwrap();
    let needle = "hiv-mottagningen-markör".as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the deleted text is still in the file"
    );
}

use common::ui::{self, PASSWORD, location};
use paminn::domain::Role;
use reqwest::StatusCode;

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

both_backends! {
    async fn every_response_carries_the_security_headers(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let b = app.login("lisa").await;
        for path in ["/login", "/today", "/account", "/participants", "/static/app.css", "/healthz", "/api/v1/participants", "/nowhere"] {
            let res = b.http.get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(
                header(&res, "content-security-policy").as_deref(),
                Some("default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
                "{path}"
            );
            assert_eq!(header(&res, "x-content-type-options").as_deref(), Some("nosniff"), "{path}");
            assert_eq!(header(&res, "referrer-policy").as_deref(), Some("same-origin"), "{path}");
            assert_eq!(header(&res, "x-frame-options").as_deref(), Some("DENY"), "{path}");
            assert_eq!(header(&res, "strict-transport-security"), None, "plain HTTP: {path}");
        }
        // Signed-in pages are never cached; the stylesheet may be.
        for path in ["/today", "/account", "/participants"] {
            let res = b.http.get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&res, "cache-control").as_deref(), Some("no-store"), "{path}");
        }
        let css = b.http.get(format!("{}/static/app.css", app.base)).send().await.unwrap();
        assert_eq!(header(&css, "cache-control").as_deref(), Some("max-age=3600"));
        // No page has an inline script or style the policy would block.
        for path in ["/login", "/today", "/account", "/participants", "/calendar"] {
            let html = b.http.get(format!("{}{path}", app.base)).send().await.unwrap().text().await.unwrap();
            assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style=") && !html.contains(" onclick="), "{path}");
        }
        // Behind a TLS proxy: HSTS.
        let res = b.http.get(format!("{}/today", app.base)).header("X-Forwarded-Proto", "https").send().await.unwrap();
        assert_eq!(header(&res, "strict-transport-security").as_deref(), Some("max-age=31536000; includeSubDomains"));
        // With an https public_url: on every response.
        let tls = ui::spawn_with(&t, false, paminn::web::ui::UiConfig { secure_cookies: true, ..Default::default() }).await;
        let res = reqwest::get(format!("{}/login", tls.base)).await.unwrap();
        assert!(header(&res, "strict-transport-security").is_some());
    }
}

both_backends! {
    async fn next_never_leads_off_the_site_and_never_breaks_the_response(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.login("lisa").await;
        // The language switch: a tab (which browsers drop), a newline (a
        // 500 before), a backslash, a scheme.
        for next in ["/%09/evil.host", "%2F%0a", "/%0d%0aSet-Cookie:%20x=1", "/%5Cevil.host", "https://evil.host", "//evil.host", "/%2509/evil.host"] {
            let res = b.http.get(format!("{}/lang/sv?next={next}", app.base)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next}");
            let to = location(&res);
            assert_eq!(to, "/today", "{next}");
        }
        let res = b.http.get(format!("{}/lang/sv?next=/participants%3Fq%3Dali", app.base)).send().await.unwrap();
        assert_eq!(location(&res), "/participants?q=ali");
        // The login form's next, the same.
        let res = app.browser().post_login(&[("username", "lisa"), ("password", PASSWORD), ("next", "/\t/evil.host")]).await;
        assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/today".to_string()));
        let res = app.browser().post_login(&[("username", "lisa"), ("password", PASSWORD), ("next", "/x\ny")]).await;
        assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/today".to_string()));
        // And the login page does not carry it into its form.
        let (_, page) = b.get("/login?next=/%09/evil.host").await;
        assert!(page.contains(r#"name="next" value="/today""#), "{page}");
    }
}

both_backends! {
    async fn the_sandbox_phone_follows_the_case_record_access_rule(t) {
        let now = chrono::Utc::now();
        let app = ui::spawn(&t, true).await;
        let other_unit = common::fx::unit(&app.engine, "Enhet B", now).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        app.staff("sara", Role::Lots, Some(app.unit.id)).await;
        app.staff("bo", Role::Coordinator, Some(other_unit.id)).await;
        app.staff("kim", Role::Coordinator, Some(app.unit.id)).await;
        let ali = common::fx::participant(&app.engine, &app.unit, "Ali", "sms", now).await;
        sqlx::query("UPDATE participants SET lots_id = $1 WHERE id = $2")
            .bind(lisa.id.get()).bind(ali.id.get()).execute(&app.engine.db.pool).await.unwrap();
        let reply = format!("/sandbox/{}/reply", ali.id);
        let messages = format!("/sandbox/{}/messages", ali.id);
        // Another unit's coordinator and another lots: not listed, 403 to
        // read or answer, and the refusal is audited.
        for who in ["bo", "sara"] {
            let mut b = app.login(who).await;
            let (status, page) = b.get("/sandbox").await;
            assert_eq!(status, StatusCode::OK);
            assert!(!page.contains("Ali") && !page.contains("+46701234567"), "{who} sees Ali");
            let res = b.http.get(format!("{}{messages}", app.base)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who} reads Ali's messages");
            let res = b.post(&reply, &[("text", "förhinder")]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who} answers as Ali");
        }
        let inbound: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound").fetch_one(&app.engine.db.pool).await.unwrap();
        assert_eq!(inbound, 0, "nothing was answered");
        assert_eq!(app.audit("case.denied").await.len(), 4);
        // Ali's lots and the unit's coordinator: the phone as before.
        for who in ["lisa", "kim"] {
            let mut b = app.login(who).await;
            let (_, page) = b.get("/sandbox").await;
            assert!(page.contains("Ali"), "{who}");
            let res = b.http.get(format!("{}{messages}", app.base)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{who}");
        }
        let mut b = app.login("lisa").await;
        b.get("/sandbox").await;
        assert_eq!(b.post(&reply, &[("text", "kommer")]).await.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn the_login_form_needs_its_own_csrf_token(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let b = app.browser();
        // A forged cross-site form: no cookie, no token.
        let res = b.post_raw("/login", &[("username", "lisa"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(header(&res, "set-cookie").is_none_or(|c| !c.contains("paminn_session")));
        // A token from another browser does not match this one's cookie.
        let theirs = app.browser().login_token().await;
        b.login_token().await;
        let res = b.post_raw("/login", &[("username", "lisa"), ("password", PASSWORD), ("_csrf", &theirs)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("Formuläret har gått ut"));
        assert!(app.audit("login").await.is_empty() && app.audit("login.failed").await.is_empty(), "nothing was checked");
        // Its own token: in.
        let res = b.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn parallel_wrong_passwords_are_counted_before_any_is_checked(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let b = app.browser();
        let token = b.login_token().await;
        let tries = (0..100).map(|i| {
            let (http, base, token) = (b.http.clone(), app.base.clone(), token.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/login"))
                    .form(&[("username", "lisa"), ("password", format!("fel gissning {i}").as_str()), ("_csrf", &token)])
                    .send().await.unwrap().status()
            })
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(tries).await.into_iter().map(|r| r.unwrap()).collect();
        let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
        let refused = statuses.iter().filter(|s| matches!(**s, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)).count();
        assert_eq!(wrong + refused, 100, "{statuses:?}");
        assert!(wrong <= 3, "only the three free tries were checked, not {wrong}");
        assert!(refused >= 97);
        assert_eq!(app.audit("login.failed").await.len(), wrong);
    }
}

both_backends! {
    async fn an_attackers_wrong_tries_do_not_lock_the_real_user_out(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let attacker = app.browser_at("127.0.0.1");
        for _ in 0..3 {
            assert_eq!(attacker.post_login(&[("username", "lisa"), ("password", "fel fel fel fel")]).await.status(), StatusCode::UNAUTHORIZED);
        }
        let res = attacker.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: i64 = header(&res, "retry-after").unwrap().parse().unwrap();
        assert!((1..=5).contains(&wait), "{wait}");
        // Lisa, at her own desk, gets in.
        let desk = app.browser_at("127.0.0.2");
        assert_eq!(desk.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await.status(), StatusCode::SEE_OTHER);
        // A made-up X-Forwarded-For does not make the attacker someone
        // else: no proxy is trusted here.
        let res = attacker.http.post(format!("{}/login", app.base))
            .header("X-Forwarded-For", "198.51.100.23")
            .form(&[("username", "lisa"), ("password", "fel fel fel fel"), ("_csrf", attacker.login_token().await.as_str())])
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

both_backends! {
    async fn spraying_many_usernames_from_one_client_is_limited(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let sprayer = app.browser_at("127.0.0.1");
        let token = sprayer.login_token().await;
        let max = paminn::domain::throttle::CLIENT_MAX_CHECKS;
        for i in 0..max {
            let name = format!("namn{i}");
            let res = sprayer.post_raw("/login", &[("username", &name), ("password", "sommar2026"), ("_csrf", &token)]).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "try {i}");
        }
        let res = sprayer.post_raw("/login", &[("username", "ny-namn"), ("password", "sommar2026"), ("_csrf", &token)]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "a fresh username from the same client");
        assert_eq!(app.audit("login.failed").await.len() as i64, max);
        // Another client is not affected.
        let desk = app.browser_at("127.0.0.3");
        assert_eq!(desk.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn behind_a_trusted_proxy_clients_are_told_apart_by_forwarded_for(t) {
        let app = ui::spawn_with(&t, false, paminn::web::ui::UiConfig {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            ..Default::default()
        }).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let proxy = app.browser();
        let token = proxy.login_token().await;
        let post = |client: &'static str, pw: &'static str| {
            let (http, base, token) = (proxy.http.clone(), app.base.clone(), token.clone());
            async move {
                http.post(format!("{base}/login"))
                    .header("X-Forwarded-For", format!("6.6.6.6, {client}"))
                    .form(&[("username", "lisa"), ("password", pw), ("_csrf", &token)])
                    .send().await.unwrap().status()
            }
        };
        for _ in 0..3 {
            assert_eq!(post("198.51.100.1", "fel fel fel fel").await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(post("198.51.100.1", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
        // The left entry is the client's own claim and is not the key.
        assert_eq!(post("198.51.100.2", PASSWORD).await, StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn the_global_limit_slows_everyone_once_spent(t) {
        let app = ui::spawn(&t, false).await;
        app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        // As if the whole budget of the minute had just been spent by a
        // spray from many addresses (spending it for real here would take
        // 120 Argon2 checks).
        let now = paminn::store::ms(chrono::Utc::now());
        sqlx::query("INSERT INTO login_throttle (key, tries, checks, window_start, last_check_at, updated_at) VALUES ('global', $1, $1, $2, $2, $2)")
            .bind(paminn::domain::throttle::GLOBAL_MAX_CHECKS).bind(now)
            .execute(&app.engine.db.pool).await.unwrap();
        let res = app.browser_at("127.0.0.4").post_login(&[("username", "lisa"), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: i64 = header(&res, "retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(app.audit("login.failed").await.is_empty(), "nothing was checked");
    }
}

both_backends! {
    async fn changing_the_password_is_limited_like_a_login_and_audited(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let mut b = app.login("lisa").await;
        b.get("/account").await;
        for _ in 0..3 {
            let res = b.post("/account/password", &[("current", "gissning gissning"), ("new", "ett helt nytt lösen"), ("repeat", "ett helt nytt lösen")]).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
        // A stolen session cannot guess on: even the right password waits.
        let res = b.post("/account/password", &[("current", PASSWORD), ("new", "ett helt nytt lösen"), ("repeat", "ett helt nytt lösen")]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(header(&res, "retry-after").is_some());
        let failed = app.audit("password.failed").await;
        assert_eq!(failed.len(), 3);
        assert!(failed.iter().all(|(actor, target)| *actor == format!("staff:{}", lisa.id) && *target == format!("staff:{}", lisa.id)));
        assert_eq!(app.audit("staff.password").await.len(), 1, "only the fixture's password was set");
    }
}
