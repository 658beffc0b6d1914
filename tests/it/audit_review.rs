//! The log review (loggkontroll, issue 18): the selections over a seeded set
//! of views, the month's sample, recording a review, the CSV export, the
//! reviewer role, protected identity, and the audit log's append-only
//! triggers and retention purge.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::ui::{self, UiApp, location};
use paminn::domain::{ChannelKind, Language, ParticipantId, ReviewSelection, Role, StaffId};
use paminn::engine::Actor;
use paminn::engine::review::ReviewQuery;
use paminn::store::participants::{NewParticipant, Participant};
use paminn::store::staff::Staff;
use paminn::store::{audit, tokens, units};
use reqwest::StatusCode;
use serde_json::json;

/// 1-30 November 2026, the period every seeded view is in.
fn nov(day: u32, hour: u32) -> DateTime<Utc> {
    common::sthlm(2026, 11, day, hour, 0)
}

struct World {
    app: UiApp,
    boss: Staff,
    lisa: Staff,
    lars: Staff,
    cora: Staff,
    cobo: Staff,
}

/// Unit A: lots "lisa" and "lars", coordinator "cora"; unit B:
/// coordinator "cobo"; admin "boss"; reviewer "greta" (no unit).
async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    let b = {
        let mut c = app.engine.db.conn().await.unwrap();
        units::create(&mut c, "Enhet B", Utc::now()).await.unwrap()
    };
    let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    let lars = app.staff("lars", Role::Lots, Some(app.unit.id)).await;
    let cora = app
        .staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    let cobo = app.staff("cobo", Role::Coordinator, Some(b.id)).await;
    let boss = app.staff("boss", Role::Admin, None).await;
    app.staff("greta", Role::Reviewer, None).await;
    World {
        app,
        boss,
        lisa,
        lars,
        cora,
        cobo,
    }
}

async fn person(app: &UiApp, name: &str, lots: Option<StaffId>) -> Participant {
    let new = NewParticipant {
        unit_id: app.unit.id,
        first_name: name.into(),
        phone: None,
        language: Language::Sv,
        channel_pref: ChannelKind::Sms,
        time_zone: chrono_tz::Europe::Stockholm,
        discreet: true,
        lots_id: lots,
    };
    app.engine
        .add_participant(
            &new,
            Some("sms".parse().unwrap()),
            &Actor("test".into()),
            Utc::now(),
        )
        .await
        .unwrap()
}

/// An audit row as a read writes it, at `at`; its id.
async fn view(app: &UiApp, at: DateTime<Utc>, who: &Staff, action: &str, p: ParticipantId) -> i64 {
    let mut c = app.engine.db.conn().await.unwrap();
    audit::append(
        &mut c,
        at,
        &format!("staff:{}", who.id),
        action,
        &format!("participant:{p}"),
        json!({}),
    )
    .await
    .unwrap();
    sqlx::query_scalar("SELECT MAX(id) FROM audit")
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

fn query(selection: ReviewSelection) -> ReviewQuery {
    ReviewQuery {
        selection,
        from: nov(1, 0),
        to: common::sthlm(2026, 12, 1, 0, 0),
        actor: None,
        participant: None,
        unit: None,
        sample_n: 5,
        sample_key: "2026-11".into(),
        seed: String::new(),
    }
}

async fn ids(app: &UiApp, q: &ReviewQuery) -> Vec<i64> {
    let mut got: Vec<i64> = app
        .engine
        .review(&Actor("test".into()), Utc::now(), q)
        .await
        .unwrap()
        .views
        .iter()
        .map(|v| v.row.id)
        .collect();
    got.sort_unstable();
    got
}

/// The row ids a review page shows (`id="view-N"`).
fn page_ids(page: &str) -> Vec<i64> {
    let mut out: Vec<i64> = page
        .split(r#"<tr id="view-"#)
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect();
    out.sort_unstable();
    out
}

both_backends! {
    async fn the_selections_find_exactly_the_right_views(t) {
        let w = world(&t).await;
        let app = &w.app;
        let actor = Actor("test".into());
        // Ali had no lots at first; lisa from 5 November, lars from 20 November.
        let ali = person(app, "Ali", None).await;
        app.engine.assign_lots(ali.id, Some(w.lisa.id), &actor, nov(5, 9)).await.unwrap();
        app.engine.assign_lots(ali.id, Some(w.lars.id), &actor, nov(20, 9)).await.unwrap();
        let bea = person(app, "Bea", Some(w.lars.id)).await;
        let sam = person(app, "Sam", Some(w.lisa.id)).await;
        app.engine.set_protection(&actor, nov(1, 1), sam.id, true, &[w.lisa.id]).await.unwrap();

        let lisa_ali_then = view(app, nov(10, 10), &w.lisa, "case.view", ali.id).await;
        let lisa_ali_msgs = view(app, nov(10, 11), &w.lisa, "messages.view", ali.id).await;
        let lars_ali_early = view(app, nov(10, 12), &w.lars, "case.view", ali.id).await;
        let lisa_ali_after = view(app, nov(21, 10), &w.lisa, "case.view", ali.id).await;
        let lisa_bea = view(app, nov(11, 10), &w.lisa, "journal.view", bea.id).await;
        let cora_bea = view(app, nov(11, 11), &w.cora, "case.view", bea.id).await;
        let cobo_bea = view(app, nov(12, 10), &w.cobo, "case.view", bea.id).await;
        let boss_bea = view(app, nov(12, 11), &w.boss, "case.view", bea.id).await;
        let lisa_sam = view(app, nov(13, 10), &w.lisa, "case.view", sam.id).await;
        let boss_sam = view(app, nov(13, 11), &w.boss, "case.denied", sam.id).await;
        // Not views of a case record, or outside the period: never listed.
        {
            let mut c = app.engine.db.conn().await.unwrap();
            audit::append(&mut c, nov(14, 10), &format!("staff:{}", w.boss.id), "settings.unit", "unit:1", json!({})).await.unwrap();
        }
        view(app, common::sthlm(2026, 10, 31, 12, 0), &w.boss, "case.view", bea.id).await;
        view(app, common::sthlm(2026, 12, 1, 0, 0), &w.boss, "case.view", bea.id).await;

        let mut all = vec![lisa_ali_then, lisa_ali_msgs, lars_ali_early, lisa_ali_after, lisa_bea,
                           cora_bea, cobo_bea, boss_bea, lisa_sam, boss_sam];
        all.sort_unstable();
        assert_eq!(ids(app, &query(ReviewSelection::All)).await, all);

        let mut outside = vec![lars_ali_early, lisa_ali_after, lisa_bea, cobo_bea, boss_bea, boss_sam];
        outside.sort_unstable();
        assert_eq!(ids(app, &query(ReviewSelection::Outside)).await, outside);

        assert_eq!(ids(app, &query(ReviewSelection::Protected)).await, vec![lisa_sam, boss_sam]);

        // Filters: a person, a participant, a unit.
        let by_lisa = ReviewQuery { actor: Some(format!("staff:{}", w.lisa.id)), ..query(ReviewSelection::Outside) };
        assert_eq!(ids(app, &by_lisa).await, vec![lisa_ali_after, lisa_bea]);
        let of_bea = ReviewQuery { participant: Some(bea.id), ..query(ReviewSelection::All) };
        assert_eq!(ids(app, &of_bea).await, vec![lisa_bea, cora_bea, cobo_bea, boss_bea]);
        let in_b = ReviewQuery { unit: Some(w.cobo.unit_id.unwrap()), ..query(ReviewSelection::All) };
        assert!(ids(app, &in_b).await.is_empty(), "no participant of unit B was viewed");

        // The page says the same, in plain language, with the flags.
        let mut b = app.login("boss").await;
        let (status, page) = b.get("/review?selection=outside&from=2026-11-01&to=2026-11-30").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page_ids(&page), outside);
        assert!(page.contains("öppnade akten") && page.contains("<code>case.view</code>"));
        assert!(page.contains("utanför egen ärendelista") && page.contains("nekad") && page.contains("skyddad identitet"));
        // Reading the review is itself audited.
        assert!(!app.audit("review.view").await.is_empty());
    }
}

both_backends! {
    async fn the_sample_is_stable_and_of_size_n(t) {
        let w = world(&t).await;
        let app = &w.app;
        let bea = person(app, "Bea", Some(w.lars.id)).await;
        let mut seeded = Vec::new();
        for i in 0..30 {
            seeded.push(view(app, nov(1 + i % 28, 8 + i / 28), &w.cora, "case.view", bea.id).await);
        }
        let q = query(ReviewSelection::Sample);
        let first = ids(app, &q).await;
        assert_eq!(first.len(), 5);
        assert!(first.iter().all(|id| seeded.contains(id)));
        assert_eq!(ids(app, &q).await, first, "the same month and seed draw the same sample");
        let other = ReviewQuery { seed: "annan nyckel".into(), ..q.clone() };
        assert_eq!(ids(app, &other).await.len(), 5);
        assert_ne!(ids(app, &other).await, first, "another seed, another sample");

        // Two reviewers on the page see the same sample.
        let path = "/review?selection=sample&from=2026-11-15&n=5";
        let (status, a) = app.login("boss").await.get(path).await;
        assert_eq!(status, StatusCode::OK);
        let (status, g) = app.login("greta").await.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page_ids(&a), first);
        assert_eq!(page_ids(&g), first);
    }
}

both_backends! {
    async fn a_reviewer_sees_only_the_review_and_records_a_review(t) {
        let w = world(&t).await;
        let app = &w.app;
        let bea = person(app, "Bea", Some(w.lars.id)).await;
        view(app, nov(3, 10), &w.boss, "case.view", bea.id).await;
        let mut g = app.login("greta").await;
        assert_eq!(g.get_location("/today").await.as_deref(), Some("/review"));
        for path in ["/participants", &format!("/participants/{}", bea.id), "/calendar", "/monitoring", "/staff", "/broadcasts"] {
            assert_eq!(g.get(path).await.0, StatusCode::FORBIDDEN, "{path}");
        }
        let (status, page) = g.get("/review?selection=outside&from=2026-11-01&to=2026-11-30").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains(r#"href="/today""#) || !page.contains(">Idag<"), "no Today in a reviewer's menu");
        assert!(page.contains("Bea (#"));
        assert!(!page.contains("/review/protection"), "only admins mark protection");
        let res = g.post("/review/record", &[
            ("selection", "outside"), ("from", "2026-11-01"), ("to", "2026-11-30"),
            ("person", ""), ("participant", ""), ("unit", ""),
            ("note", "Novembers öppningar utanför egen lista: administratörens öppning var planerad."),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(location(&res).starts_with("/review?selection=outside"));
        let (_, page) = g.get("/review").await;
        assert!(page.contains("administratörens öppning var planerad"));
        assert!(page.contains("greta Testsson (greta)"));
        let reviews = app.engine.reviews(10).await.unwrap();
        assert_eq!(reviews.len(), 1);
        assert_eq!(reviews[0].selection, ReviewSelection::Outside);
        assert_eq!(reviews[0].views, 1);
        assert_eq!(reviews[0].filters["ids"].as_array().unwrap().len(), 1);
        assert_eq!(app.audit("review.record").await.len(), 1);
        // A review without a note is refused; nothing recorded.
        let res = g.post("/review/record", &[("selection", "all"), ("note", "  ")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.engine.reviews(10).await.unwrap().len(), 1);
        // Reviews are append-only in the database.
        let mut c = app.engine.db.conn().await.unwrap();
        assert!(sqlx::query("UPDATE audit_reviews SET note = 'x'").execute(&mut *c).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_reviews").execute(&mut *c).await.is_err());
    }
}

both_backends! {
    async fn the_csv_export_and_the_print_view_have_the_rows(t) {
        let w = world(&t).await;
        let app = &w.app;
        let bea = person(app, "Bea", Some(w.lars.id)).await;
        let a = view(app, nov(3, 10), &w.boss, "case.view", bea.id).await;
        let b = view(app, nov(4, 10), &w.lisa, "messages.view", bea.id).await;
        view(app, nov(5, 10), &w.lars, "case.view", bea.id).await;
        let mut boss = app.login("boss").await;
        let res = boss.http.get(format!("{}/review/export.csv?selection=outside&from=2026-11-01&to=2026-11-30", app.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let body = res.bytes().await.unwrap();
        assert!(body.starts_with("\u{feff}".as_bytes()), "UTF-8 BOM for Excel");
        let text = String::from_utf8(body[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "a header and the two views outside: {text}");
        assert!(lines[0].contains(';'));
        assert!(lines[1].starts_with(&format!("{b};")) && lines[1].contains("lisa Testsson") && lines[1].contains("messages.view"));
        assert!(lines[2].starts_with(&format!("{a};")) && lines[2].contains("Bea (#"));
        let (status, page) = boss.get("/review/print?selection=outside&from=2026-11-01&to=2026-11-30").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"class="print-view""#) && !page.contains("<nav"));
        assert!(page.contains("lisa Testsson") && page.contains("boss Testsson"));
        assert!(app.audit("review.view").await.len() >= 2, "both are audited reads");
    }
}

both_backends! {
    async fn a_protected_participant_is_seen_only_by_the_named_and_attempts_are_flagged(t) {
        let w = world(&t).await;
        let app = &w.app;
        let sam = person(app, "Samira", Some(w.lisa.id)).await;
        let mut boss = app.login("boss").await;
        assert_eq!(boss.get(&format!("/participants/{}", sam.id)).await.0, StatusCode::OK);
        boss.get("/review").await;
        let res = boss.post("/review/protection", &[
            ("participant", &sam.id.to_string()), ("protected", "1"), ("named", &w.lisa.id.to_string()),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.audit("participant.protect").await.len(), 1);

        // The admin, not named: 403 on the record and the messages, and not in any list.
        assert_eq!(boss.get(&format!("/participants/{}", sam.id)).await.0, StatusCode::FORBIDDEN);
        assert_eq!(boss.get(&format!("/participants/{}/messages", sam.id)).await.0, StatusCode::FORBIDDEN);
        for path in ["/participants", "/today", "/calendar", "/monitoring"] {
            let (status, page) = boss.get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(!page.contains("Samira"), "{path} names a protected participant");
        }
        // The coordinator of the unit, not named: the same.
        let mut cora = app.login("cora").await;
        assert_eq!(cora.get(&format!("/participants/{}", sam.id)).await.0, StatusCode::FORBIDDEN);
        assert!(!cora.get("/participants").await.1.contains("Samira"));
        // The named lots sees them.
        let mut lisa = app.login("lisa").await;
        let (status, page) = lisa.get(&format!("/participants/{}", sam.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Samira"));
        assert!(lisa.get("/participants").await.1.contains("Samira"));

        // An API token is no one's: 403, and out of the lists.
        let token = {
            let mut c = app.engine.db.conn().await.unwrap();
            tokens::create(&mut c, "case-system", Utc::now()).await.unwrap()
        };
        let http = reqwest::Client::new();
        let res = http.get(format!("{}/api/v1/participants/{}", app.base, sam.id)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let list: serde_json::Value = http.get(format!("{}/api/v1/participants", app.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert!(list.as_array().unwrap().iter().all(|p| p["id"] != json!(sam.id.get())));

        // Every refused attempt is audited and flagged in the review.
        let denied = app.audit("case.denied").await;
        let target = format!("participant:{}", sam.id);
        assert!(denied.contains(&(format!("staff:{}", w.boss.id), target.clone())));
        assert!(denied.contains(&(format!("staff:{}", w.cora.id), target.clone())));
        assert!(denied.contains(&("api:case-system".to_string(), target.clone())));
        let now = Utc::now();
        let q = ReviewQuery {
            from: now - Duration::days(1),
            to: now + Duration::days(1),
            ..query(ReviewSelection::Protected)
        };
        let got = app.engine.review(&Actor("test".into()), now, &q).await.unwrap().views;
        assert!(got.iter().all(|v| v.participant == Some(sam.id) && v.protected));
        assert!(got.iter().filter(|v| v.denied).count() >= 3, "{got:?}");
        assert!(got.iter().any(|v| !v.denied && v.row.actor == format!("staff:{}", w.lisa.id)));
        let today = now.with_timezone(&chrono_tz::Europe::Stockholm).date_naive();
        let (_, page) = boss.get(&format!("/review?selection=protected&from={today}&to={today}")).await;
        assert!(page.contains("nekad") && page.contains("skyddad identitet"));
        assert!(page.contains("GET /participants/"), "the page the attempt came from");

        // Unprotected again: the admin sees them.
        boss.get("/review").await;
        boss.post("/review/protection", &[("participant", &sam.id.to_string())]).await;
        assert_eq!(boss.get(&format!("/participants/{}", sam.id)).await.0, StatusCode::OK);
    }
}

both_backends! {
    async fn audit_rows_cannot_be_changed_and_only_old_ones_are_purged(t) {
        let w = world(&t).await;
        let app = &w.app;
        let now = Utc::now();
        let mut c = app.engine.db.conn().await.unwrap();
        for (days, action) in [(6 * 365, "old.six_years"), (2 * 365, "old.two_years"), (10, "recent")] {
            audit::append(&mut c, now - Duration::days(days), "system", action, "unit:1", json!({})).await.unwrap();
        }
        let count = async |c: &mut paminn::store::Conn| -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit").fetch_one(&mut *c).await.unwrap()
        };
        let before = count(&mut c).await;
        // No UPDATE, no DELETE, old or new, outside the purge.
        assert!(sqlx::query("UPDATE audit SET actor = 'someone else'").execute(&mut *c).await.is_err());
        assert!(sqlx::query("DELETE FROM audit WHERE action = 'recent'").execute(&mut *c).await.is_err());
        assert!(sqlx::query("DELETE FROM audit WHERE action = 'old.six_years'").execute(&mut *c).await.is_err());
        // Whatever bound the application sets, the last year stays.
        sqlx::query("UPDATE audit_purge SET before_at = $1").bind(i64::MAX).execute(&mut *c).await.unwrap();
        assert!(sqlx::query("DELETE FROM audit WHERE action = 'recent'").execute(&mut *c).await.is_err());
        sqlx::query("UPDATE audit_purge SET before_at = 0").execute(&mut *c).await.unwrap();
        assert_eq!(count(&mut c).await, before);
        drop(c);

        // The purge, with three years' retention: only the six-year-old row goes.
        let engine = app.engine.clone().with_audit_retention_days(3 * 365);
        let report = engine.run_jobs(now).await.unwrap();
        assert_eq!(report.purged_audit_rows, 1);
        let mut c = app.engine.db.conn().await.unwrap();
        let left: Vec<String> = sqlx::query_scalar("SELECT action FROM audit WHERE action LIKE 'old.%' OR action = 'recent' ORDER BY id")
            .fetch_all(&mut *c).await.unwrap();
        assert_eq!(left, vec!["old.two_years".to_string(), "recent".to_string()]);
        // The default keeps five years; a second run deletes nothing.
        assert_eq!(app.engine.run_jobs(now).await.unwrap().purged_audit_rows, 0);
        let bound: i64 = sqlx::query_scalar("SELECT before_at FROM audit_purge").fetch_one(&mut *c).await.unwrap();
        assert_eq!(bound, 0, "the purge resets its bound");
    }
}
