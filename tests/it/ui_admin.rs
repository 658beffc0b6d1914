//! The admin pages: staff accounts (create with a first password, a new
//! password, switch off and on) and the audit log; admins only.

use crate::common;

use chrono::{Duration, Utc};
use chrono_tz::Europe::Stockholm;
use common::ui::{self, PASSWORD, UiApp, location};
use paminn::domain::{Language, Role};
use paminn::store::staff::Staff;
use paminn::web::ui::local_dt;
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "ett långt lösenord";

struct World {
    app: UiApp,
    boss: Staff,
    lisa: Staff,
}

/// Unit A with coordinator "cora", lots "lisa", assistant "asta"; admin
/// "boss" without a unit.
async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    app.staff("asta", Role::Assistant, Some(app.unit.id)).await;
    let boss = app.staff("boss", Role::Admin, None).await;
    World { app, boss, lisa }
}

async fn staff_count(app: &UiApp) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM staff")
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

async fn is_active(app: &UiApp, username: &str) -> bool {
    let mut c = app.engine.db.conn().await.unwrap();
    let v: i64 = sqlx::query_scalar("SELECT active FROM staff WHERE username = $1")
        .bind(username)
        .fetch_one(&mut *c)
        .await
        .unwrap();
    v != 0
}

async fn sessions_of(app: &UiApp, username: &str) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM web_sessions s JOIN staff p ON p.id = s.staff_id WHERE p.username = $1")
        .bind(username)
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

async fn id_of(app: &UiApp, username: &str) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    sqlx::query_scalar("SELECT id FROM staff WHERE username = $1")
        .bind(username)
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

both_backends! {
    async fn an_admin_creates_staff_who_can_then_log_in(t) {
        let w = world(&t).await;
        let mut b = w.app.login("boss").await;
        let (status, page) = b.get("/staff").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Personal</h1>"));
        assert!(page.contains(&format!(r#"<section class="card" id="staff-{}""#, w.lisa.id)));
        assert!(page.contains("lisa Testsson") && page.contains("<code>lisa</code>") && page.contains("<dd>lots</dd>") && page.contains("<dd>Enhet A</dd>"));
        assert!(page.contains(r#"<label for="new-password">"#) && page.contains(r#"<label for="new-unit">"#));
        let unit = w.app.unit.id.to_string();
        let res = b.post("/staff", &[("name", "Nora Ny"), ("username", "Nora"), ("role", "lots"), ("unit", &unit), ("language", "en"), ("password", NEW_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let nora = id_of(&w.app, "nora").await;
        assert_eq!(location(&res), format!("/staff?done=created&who={nora}#staff-{nora}"));
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Nora Ny är tillagd och kan logga in."));
        let admin = format!("staff:{}", w.boss.id);
        assert_eq!(w.app.audit("staff.create").await.last().unwrap(), &(admin.clone(), format!("staff:{nora}")));
        assert_eq!(w.app.audit("staff.password").await.last().unwrap(), &(admin, format!("staff:{nora}")));
        // Nora logs in, in English (her language).
        let mut n = w.app.browser();
        let res = n.post_login(&[("username", "nora"), ("password", NEW_PASSWORD), ("next", "/account")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (status, page) = n.get("/account").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Nora Ny") && page.contains("My account"), "{page}");
    }
}

both_backends! {
    async fn a_new_account_is_refused_with_a_reason(t) {
        let w = world(&t).await;
        let mut b = w.app.login("boss").await;
        b.get("/staff").await;
        let unit = w.app.unit.id.to_string();
        let before = staff_count(&w.app).await;
        for (fields, status, why) in [
            ([("name", "Nora"), ("username", "nora"), ("role", "lots"), ("unit", unit.as_str()), ("password", "kort")], StatusCode::UNPROCESSABLE_ENTITY, "Minst 10 tecken"),
            ([("name", "Nora"), ("username", "lisa"), ("role", "lots"), ("unit", unit.as_str()), ("password", NEW_PASSWORD)], StatusCode::CONFLICT, "Användarnamnet är upptaget"),
            ([("name", "Nora"), ("username", "nora ny"), ("role", "lots"), ("unit", unit.as_str()), ("password", NEW_PASSWORD)], StatusCode::UNPROCESSABLE_ENTITY, "2-40 tecken"),
            ([("name", "Nora"), ("username", "nora"), ("role", "lots"), ("unit", ""), ("password", NEW_PASSWORD)], StatusCode::UNPROCESSABLE_ENTITY, "behöver en enhet"),
            ([("name", " "), ("username", "nora"), ("role", "lots"), ("unit", unit.as_str()), ("password", NEW_PASSWORD)], StatusCode::UNPROCESSABLE_ENTITY, "1-100 tecken"),
        ] {
            let mut all = fields.to_vec();
            all.push(("language", "sv"));
            let res = b.post("/staff", &all).await;
            assert_eq!(res.status(), status, "{why}");
            let page = res.text().await.unwrap();
            assert!(page.contains(why), "{why}: {page}");
            assert!(!page.contains(NEW_PASSWORD), "a password is never shown again");
        }
        assert_eq!(staff_count(&w.app).await, before);
        // An admin needs no unit.
        let res = b.post("/staff", &[("name", "Ada Admin"), ("username", "ada"), ("role", "admin"), ("unit", ""), ("language", "sv"), ("password", NEW_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn a_new_password_ends_the_staff_members_sessions(t) {
        let w = world(&t).await;
        let mut lisa = w.app.login("lisa").await;
        let mut b = w.app.login("boss").await;
        b.get("/staff").await;
        let res = b.post(&format!("/staff/{}/password", w.lisa.id), &[("password", "kort")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Minst 10 tecken"));
        assert_eq!(lisa.get("/account").await.0, StatusCode::OK, "nothing changed");
        let res = b.post(&format!("/staff/{}/password", w.lisa.id), &[("password", NEW_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(lisa.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        let fresh = w.app.browser();
        assert_eq!(fresh.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(fresh.post_login(&[("username", "lisa"), ("password", NEW_PASSWORD)]).await.status(), StatusCode::SEE_OTHER);
        let audit = w.app.audit("staff.password").await;
        assert_eq!(audit.last().unwrap(), &(format!("staff:{}", w.boss.id), format!("staff:{}", w.lisa.id)));
        // An admin setting their own password stays logged in here.
        let res = b.post(&format!("/staff/{}/password", w.boss.id), &[("password", NEW_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(b.get("/staff").await.0, StatusCode::OK);
    }
}

both_backends! {
    async fn a_switched_off_account_stops_working_at_once_and_can_come_back(t) {
        let w = world(&t).await;
        let mut lisa = w.app.login("lisa").await;
        let mut b = w.app.login("boss").await;
        b.get("/staff").await;
        let res = b.post(&format!("/staff/{}/active", w.lisa.id), &[("active", "0")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(!is_active(&w.app, "lisa").await);
        assert_eq!(sessions_of(&w.app, "lisa").await, 0, "her sessions are deleted");
        assert_eq!(lisa.get_location("/account").await.as_deref(), Some("/login?next=%2Faccount"));
        assert_eq!(lisa.post_login(&[("username", "lisa"), ("password", PASSWORD)]).await.status(), StatusCode::UNAUTHORIZED);
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("lisa Testsson är avstängd och utloggad."));
        assert!(page.contains(&format!(r#"<section class="card inactive" id="staff-{}""#, w.lisa.id)));
        assert_eq!(w.app.audit("staff.deactivate").await, vec![(format!("staff:{}", w.boss.id), format!("staff:{}", w.lisa.id))]);
        let res = b.post(&format!("/staff/{}/active", w.lisa.id), &[("active", "1")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(is_active(&w.app, "lisa").await);
        assert_eq!(w.app.audit("staff.reactivate").await.len(), 1);
        w.app.login("lisa").await;
        // Not one's own account.
        let res = b.post(&format!("/staff/{}/active", w.boss.id), &[("active", "0")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Du kan inte stänga av ditt eget konto."));
        assert!(is_active(&w.app, "boss").await);
    }
}

both_backends! {
    async fn only_admins_manage_staff_and_read_the_audit_log(t) {
        let w = world(&t).await;
        let before = staff_count(&w.app).await;
        let unit = w.app.unit.id.to_string();
        for who in ["cora", "lisa", "asta"] {
            let mut b = w.app.login(who).await;
            assert_eq!(b.get("/staff").await.0, StatusCode::FORBIDDEN, "{who}");
            assert_eq!(b.get("/audit").await.0, StatusCode::FORBIDDEN, "{who}");
            let (_, page) = b.get("/account").await;
            assert!(!page.contains(r#"href="/staff""#) && !page.contains(r#"href="/audit""#), "no menu entries for {who}");
            let res = b.post("/staff", &[("name", "Nora"), ("username", "nora"), ("role", "admin"), ("unit", &unit), ("language", "sv"), ("password", NEW_PASSWORD)]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
            let res = b.post(&format!("/staff/{}/active", w.boss.id), &[("active", "0")]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
            let res = b.post(&format!("/staff/{}/password", w.boss.id), &[("password", NEW_PASSWORD)]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
            let res = b.post(&format!("/staff/{}/role", w.lisa.id), &[("role", "admin"), ("unit", "")]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
        }
        assert!(w.app.audit("staff.role").await.is_empty());
        assert_eq!(staff_count(&w.app).await, before);
        assert!(is_active(&w.app, "boss").await);
        assert_eq!(w.app.audit("staff.password").await.len(), 4, "only the fixtures' passwords");
        assert_eq!(w.app.browser().post_login(&[("username", "boss"), ("password", PASSWORD)]).await.status(), StatusCode::SEE_OTHER);
    }
}

both_backends! {
    async fn staff_forms_without_the_csrf_token_change_nothing(t) {
        let w = world(&t).await;
        let before = staff_count(&w.app).await;
        let b = w.app.login("boss").await;
        let res = b.post_raw("/staff", &[("name", "Nora"), ("username", "nora"), ("role", "admin"), ("unit", ""), ("language", "sv"), ("password", NEW_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b.post_raw(&format!("/staff/{}/active", w.lisa.id), &[("active", "0"), ("_csrf", "forged")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b.post_raw(&format!("/staff/{}/password", w.lisa.id), &[("password", NEW_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b.post_raw(&format!("/staff/{}/role", w.lisa.id), &[("role", "admin"), ("unit", "")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(w.app.audit("staff.role").await.is_empty());
        assert_eq!(staff_count(&w.app).await, before);
        assert!(is_active(&w.app, "lisa").await);
        assert_eq!(w.app.audit("staff.password").await.len(), 4, "only the fixtures' passwords");
        w.app.login("lisa").await;
    }
}

both_backends! {
    async fn the_audit_log_lists_logins_and_case_views_newest_first(t) {
        let w = world(&t).await;
        w.app.login("lisa").await;
        // A case view, as `web::ui::case` writes it when lisa opens a record.
        let p = common::fx::participant(&w.app.engine, &w.app.unit, "Ali", "sms", Utc::now()).await;
        let viewed_at = Utc::now() - Duration::minutes(5);
        {
            let mut c = w.app.engine.db.conn().await.unwrap();
            paminn::store::audit::append(&mut c, viewed_at, &format!("staff:{}", w.lisa.id), "case.view", &format!("participant:{}", p.id), serde_json::json!({})).await.unwrap();
        }
        let mut b = w.app.login("boss").await;
        let (status, page) = b.get("/audit").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<h1 id="h-page">Granskningslogg</h1>"#));
        assert!(page.contains(r#"<td data-label="Vem">lisa Testsson (lisa)</td>"#), "the actor by name");
        // Each event in plain language, its code beside it.
        assert!(page.contains(">loggade in<br><small><code>login</code></small></td>"));
        assert!(page.contains(">öppnade akten<br><small><code>case.view</code></small></td>"));
        assert!(page.contains(&format!(r#"<a href="/participants/{}">deltagare #{}</a>"#, p.id, p.id)));
        assert!(page.contains(&local_dt(Language::Sv, viewed_at, Stockholm)), "local time with the weekday");
        // Newest first: the admin's own login is above lisa's.
        let boss_login = page.find("boss Testsson (boss)</td>\n    <td data-label=\"Händelse\">loggade in<br><small><code>login</code>").expect("the admin's login");
        let lisa_login = page.find("lisa Testsson (lisa)</td>\n    <td data-label=\"Händelse\">loggade in<br><small><code>login</code>").expect("lisa's login");
        assert!(boss_login < lisa_login);
        // Filtered by actor (username) and action (a prefix).
        let (_, page) = b.get("/audit?actor=lisa&action=case").await;
        assert!(page.contains("<code>case.view</code></small></td>"));
        assert!(!page.contains("<code>login</code>") && !page.contains("boss Testsson (boss)</td>"));
        let (_, page) = b.get("/audit?actor=system").await;
        assert!(page.contains("Inga rader matchar."));
    }
}

both_backends! {
    async fn the_audit_log_pages_back_in_time(t) {
        let w = world(&t).await;
        {
            let mut c = w.app.engine.db.conn().await.unwrap();
            for i in 0..60 {
                paminn::store::audit::append(&mut c, Utc::now(), "system", "test.bulk", &format!("row:{i}"), serde_json::json!({})).await.unwrap();
            }
        }
        let mut b = w.app.login("boss").await;
        let (_, page) = b.get("/audit?action=test.bulk").await;
        assert_eq!(page.matches("<small><code>test.bulk</code></small></td>").count(), 50);
        assert!(page.contains("row:59<") && !page.contains("row:9<"));
        let start = page.find(r#"rel="next""#).expect("an older page");
        let href_start = page[..start].rfind("href=\"").unwrap() + 6;
        let href = page[href_start..page[href_start..].find('"').unwrap() + href_start]
            .replace("&amp;", "&")
            .replace("&#38;", "&");
        assert!(href.starts_with("/audit?action=test.bulk&before="), "{href}");
        let (_, older) = b.get(&href).await;
        assert_eq!(older.matches("<small><code>test.bulk</code></small></td>").count(), 10);
        assert!(older.contains("row:0<") && !older.contains("rel=\"next\""));
        assert!(older.contains("systemet"), "the system as an actor");
    }
}

both_backends! {
    async fn an_admin_changes_a_role_or_unit_and_access_follows_at_once(t) {
        let w = world(&t).await;
        let now = Utc::now();
        let b_unit = common::fx::unit(&w.app.engine, "Enhet B", now).await;
        let ali = common::fx::participant(&w.app.engine, &w.app.unit, "Ali", "sms", now).await;
        let actor = paminn::engine::Actor("test".into());
        w.app.engine.assign_lots(ali.id, Some(w.lisa.id), &actor, now).await.unwrap();
        let mut lisa = w.app.login("lisa").await;
        assert_eq!(lisa.get("/broadcasts").await.0, StatusCode::FORBIDDEN, "a lots sends no broadcasts");
        let mut b = w.app.login("boss").await;
        let (_, page) = b.get("/staff").await;
        assert!(page.contains(&format!(r#"action="/staff/{}/role""#, w.lisa.id)), "a role form per account");
        assert!(!page.contains(&format!(r#"action="/staff/{}/role""#, w.boss.id)), "but not for oneself");
        let (id, unit_a, unit_b) = (w.lisa.id, w.app.unit.id.to_string(), b_unit.id.to_string());
        // Lisa still has Ali: she keeps her role and unit until he has another lots.
        let res = b.post(&format!("/staff/{id}/role"), &[("role", "coordinator"), ("unit", unit_a.as_str())]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("lisa Testsson är lots för 1 deltagare"));
        w.app.engine.assign_lots(ali.id, None, &actor, now).await.unwrap();
        // Every role but admin and reviewer needs a unit.
        let res = b.post(&format!("/staff/{id}/role"), &[("role", "coordinator"), ("unit", "")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Alla utom administratörer och granskare behöver en enhet."));
        let res = b.post(&format!("/staff/{id}/role"), &[("role", "boss"), ("unit", unit_a.as_str())]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(w.app.audit("staff.role").await.is_empty());
        // Coordinator of unit B: her open session gets broadcasts at once, for unit B.
        let res = b.post(&format!("/staff/{id}/role"), &[("role", "coordinator"), ("unit", unit_b.as_str())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("lisa Testsson har fått ny roll eller enhet."));
        assert_eq!(lisa.get("/broadcasts").await.0, StatusCode::OK);
        assert_eq!(lisa.get(&format!("/broadcasts/new?unit={unit_a}")).await.0, StatusCode::FORBIDDEN, "not unit A any more");
        let rows = w.app.audit("staff.role").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1, format!("staff:{id}"));
        // An admin cannot change their own role.
        let res = b.post(&format!("/staff/{}/role", w.boss.id), &[("role", "lots"), ("unit", unit_a.as_str())]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(w.app.audit("staff.role").await.len(), 1);
    }
}
