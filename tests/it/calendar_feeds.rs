//! Calendar feeds (issue 19, item 2): a lots subscribes to their caseload
//! and a coordinator to the unit's group activities through a secret link
//! made on the account page. The feed is read back with an independent
//! iCalendar parser (the `ical` crate), as a calendar app would: first
//! names and kinds only, the unit's zone with its VTIMEZONE, stable UIDs;
//! a new link ends the old one, revoking ends it, and so does a switched-off
//! account.

use crate::common;

use chrono::{DateTime, Datelike, Duration, Offset, TimeZone, Utc};
use common::fx::{self, actor};
use common::ui::{self, UiApp};
use ical::parser::ical::component::{IcalCalendar, IcalEvent};
use paminn::domain::{AppointmentKind, Role};
use paminn::store::appointments::NewAppointment;
use paminn::store::participants::Participant;
use paminn::store::series::SeriesTarget;
use reqwest::StatusCode;

const STHLM: chrono_tz::Tz = chrono_tz::Europe::Stockholm;

/// 10:00 in Stockholm, `days` from today.
fn ten_oclock(days: i64) -> DateTime<Utc> {
    let d = Utc::now().with_timezone(&STHLM).date_naive() + Duration::days(days);
    common::sthlm(d.year(), d.month(), d.day(), 10, 0)
}

fn offset(at: DateTime<Utc>) -> i32 {
    STHLM
        .offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

async fn book(
    app: &UiApp,
    p: &Participant,
    at: DateTime<Utc>,
) -> paminn::store::appointments::Appointment {
    app.engine
        .create_appointment(
            &NewAppointment {
                participant_id: p.id,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at: at,
                duration_min: 45,
                location: Some("Beroendemottagningen".into()),
                with_whom: Some("Doktor Ekström".into()),
                internal_note: Some("återfall i helgen".into()),
                external_ref: None,
            },
            &actor(),
            Utc::now(),
        )
        .await
        .unwrap()
}

/// The link the page shows once after "Skapa länk".
fn link_in(page: &str) -> String {
    let start = page
        .find("/calendar/")
        .expect("a calendar link on the page");
    let before = page[..start].rfind('"').unwrap() + 1;
    let end = start + page[start..].find('"').unwrap();
    page[before..end].to_string()
}

/// Fetches a feed as a calendar app does: no session, no cookies.
async fn fetch(url: &str) -> (StatusCode, String, String) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

fn parse(text: &str) -> IcalCalendar {
    let mut cals = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let cal = cals.next().expect("one calendar").expect("the feed parses");
    assert!(cals.next().is_none(), "exactly one calendar");
    cal
}

fn prop<'a>(
    props: &'a [ical::property::Property],
    name: &str,
) -> Option<&'a ical::property::Property> {
    props.iter().find(|p| p.name == name)
}

fn value(e: &IcalEvent, name: &str) -> String {
    prop(&e.properties, name)
        .and_then(|p| p.value.clone())
        .unwrap_or_else(|| panic!("{name} in {:?}", e.properties))
}

/// A DTSTART as the instant it names: wall time in its TZID, or UTC.
fn instant(e: &IcalEvent, name: &str) -> DateTime<Utc> {
    let p = prop(&e.properties, name).unwrap();
    let v = p.value.as_deref().unwrap();
    let tzid = p
        .params
        .iter()
        .flatten()
        .find(|(k, _)| k == "TZID")
        .map(|(_, v)| v[0].clone());
    match tzid {
        Some(z) => {
            let tz: chrono_tz::Tz = z.parse().unwrap();
            let local = chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").unwrap();
            tz.from_local_datetime(&local)
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        }
        None => chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc(),
    }
}

struct World {
    app: UiApp,
    lisa: paminn::domain::StaffId,
    ali: Participant,
    bo: Participant,
    cia: Participant,
}

/// Unit A: lots "lisa" for Ali and Cia (protected), lots "leo" for Bo,
/// coordinator "cora", assistant "asta".
async fn world(t: &common::TestDb) -> World {
    let app = ui::spawn(t, false).await;
    let now = Utc::now();
    let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
    let leo = app.staff("leo", Role::Lots, Some(app.unit.id)).await;
    app.staff("cora", Role::Coordinator, Some(app.unit.id))
        .await;
    app.staff("asta", Role::Assistant, Some(app.unit.id)).await;
    let mut ps = Vec::new();
    for (name, lots) in [("Ali", lisa.id), ("Bo", leo.id), ("Cia", lisa.id)] {
        let p = fx::participant(&app.engine, &app.unit, name, "sms", now).await;
        app.engine
            .assign_lots(p.id, Some(lots), &actor(), now)
            .await
            .unwrap();
        ps.push(p);
    }
    app.engine
        .set_protection(&actor(), now, ps[2].id, true, &[lisa.id])
        .await
        .unwrap();
    let cia = ps.pop().unwrap();
    let bo = ps.pop().unwrap();
    let ali = ps.pop().unwrap();
    World {
        app,
        lisa: lisa.id,
        ali,
        bo,
        cia,
    }
}

both_backends! {
    async fn a_lots_subscribes_and_sees_first_names_and_kinds_only(t) {
        let w = world(&t).await;
        let soon = book(&w.app, &w.ali, ten_oclock(2)).await;
        book(&w.app, &w.bo, ten_oclock(2)).await;
        book(&w.app, &w.cia, ten_oclock(3)).await;
        let gone = book(&w.app, &w.ali, ten_oclock(4)).await;
        w.app.engine.cancel_appointment(gone.id, &actor(), Utc::now()).await.unwrap();
        // One on the other side of a DST change, when the span has one.
        let other_side = (5..150).map(ten_oclock).find(|at| offset(*at) != offset(ten_oclock(2)));
        if let Some(at) = other_side {
            book(&w.app, &w.ali, at).await;
        }

        let mut b = w.app.login("lisa").await;
        let (status, page) = b.get("/account").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"href="/account/calendar""#), "the account page leads to it");
        let (status, page) = b.get("/account/calendar").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Mina deltagares tider") && page.contains("ingen länk"));
        assert!(!page.contains("Enhetens gruppaktiviteter"), "a lots has no unit feed");
        let res = b.post("/account/calendar/caseload", &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let page = res.text().await.unwrap();
        assert!(page.contains("visas bara den här gången"));
        let url = link_in(&page);
        assert!(url.starts_with(&format!("{}/calendar/", w.app.base)) && url.ends_with(".ics"), "{url}");

        let (status, ct, text) = fetch(&url).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "text/calendar; charset=utf-8");
        for never in ["Bo", "Cia", "Beroendemottagningen", "Ekström", "återfall"] {
            assert!(!text.contains(never), "{never:?} must not reach the calendar:\n{text}");
        }
        let cal = parse(&text);
        let expected = 1 + usize::from(other_side.is_some());
        assert_eq!(cal.events.len(), expected, "Ali's two live appointments, not Bo's, Cia's or the cancelled one");
        let first = &cal.events[0];
        assert_eq!(value(first, "SUMMARY"), "Ali – möte");
        assert_eq!(value(first, "UID"), format!("appointment-{}@paminn", soon.id));
        assert_eq!(instant(first, "DTSTART"), soon.starts_at);
        assert_eq!(instant(first, "DTEND"), soon.starts_at + Duration::minutes(45));
        assert_eq!(value(first, "CLASS"), "PRIVATE");
        for e in &cal.events {
            let p = prop(&e.properties, "DTSTART").unwrap();
            assert!(p.params.iter().flatten().any(|(k, v)| k == "TZID" && v == &["Europe/Stockholm"]), "{p:?}");
            assert!(p.value.as_deref().unwrap().ends_with("T100000"), "10:00 on the wall, summer or winter: {p:?}");
        }
        if let Some(at) = other_side {
            assert_eq!(instant(&cal.events[1], "DTSTART"), at);
        }
        // The zone, for calendars that do not know IANA names.
        assert_eq!(cal.timezones.len(), 1);
        let zone = &cal.timezones[0];
        assert_eq!(prop(&zone.properties, "TZID").unwrap().value.as_deref(), Some("Europe/Stockholm"));
        let offsets: Vec<String> = zone.transitions.iter()
            .filter_map(|tr| prop(&tr.properties, "TZOFFSETTO").and_then(|p| p.value.clone()))
            .collect();
        assert!(offsets.contains(&"+0100".to_string()) && offsets.contains(&"+0200".to_string()), "{offsets:?}");
        assert!(zone.transitions.iter().all(|tr| prop(&tr.properties, "RRULE")
            .and_then(|p| p.value.as_deref())
            .is_some_and(|r| r.ends_with("BYDAY=-1SU"))), "EU rules: last Sunday");

        // A moved appointment stays one event: same UID, a higher SEQUENCE.
        let seq = value(first, "SEQUENCE").parse::<i64>().unwrap();
        w.app.engine.move_appointment(soon.id, ten_oclock(2) + Duration::hours(3), &actor(), Utc::now()).await.unwrap();
        let cal = parse(&fetch(&url).await.2);
        let moved = cal.events.iter().find(|e| value(e, "UID") == format!("appointment-{}@paminn", soon.id)).unwrap();
        assert_eq!(instant(moved, "DTSTART"), ten_oclock(2) + Duration::hours(3));
        assert!(value(moved, "SEQUENCE").parse::<i64>().unwrap() > seq);

        // Each fetch is a read of personal data, audited by the link's owner.
        let fetches = w.app.audit("calendar.fetch").await;
        assert_eq!(fetches.len(), 2, "{fetches:?}");
        // The link is the key: it is never written down, not in the audit
        // log's page either.
        let secret = url.rsplit('/').next().unwrap().trim_end_matches(".ics").to_string();
        let details: Vec<(String,)> = {
            let mut c = w.app.engine.db.conn().await.unwrap();
            sqlx::query_as("SELECT detail FROM audit").fetch_all(&mut *c).await.unwrap()
        };
        assert!(details.iter().any(|(d,)| d.contains("/calendar/<secret>")), "the fetch names its page, masked");
        assert!(details.iter().all(|(d,)| !d.contains(&secret)), "the secret is in the audit log");
        let (_, page) = b.get("/account/calendar").await;
        assert!(page.contains("aktiv sedan") && !page.contains("inte hämtad än"), "the page shows the link is in use");
        assert!(!page.contains(&url), "the secret is shown only once");
    }
}

both_backends! {
    async fn a_new_link_ends_the_old_and_revoking_ends_the_feed(t) {
        let w = world(&t).await;
        book(&w.app, &w.ali, ten_oclock(2)).await;
        let mut b = w.app.login("lisa").await;
        b.get("/account/calendar").await;
        let first = link_in(&b.post("/account/calendar/caseload", &[]).await.text().await.unwrap());
        assert_eq!(fetch(&first).await.0, StatusCode::OK);
        let second = link_in(&b.post("/account/calendar/caseload", &[]).await.text().await.unwrap());
        assert_ne!(first, second);
        assert_eq!(fetch(&first).await.0, StatusCode::NOT_FOUND, "the new link replaced the old");
        assert_eq!(fetch(&second).await.0, StatusCode::OK);

        let res = b.post("/account/calendar/caseload/revoke", &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = b.get("/account/calendar?done=revoked").await;
        assert!(page.contains("Länken är återkallad"));
        assert!(page.contains("ingen länk"));
        let (status, _, body) = fetch(&second).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("Unknown or revoked"));
        assert_eq!(fetch(&format!("{}/calendar/guessed.ics", w.app.base)).await.0, StatusCode::NOT_FOUND);
        assert_eq!(w.app.audit("calendar.link").await.len(), 2);
        assert_eq!(w.app.audit("calendar.revoke").await.len(), 1);
        assert!(w.app.audit("calendar.fetch").await.len() == 2, "refused fetches read nothing");
    }
}

both_backends! {
    async fn a_switched_off_account_or_another_role_gets_nothing(t) {
        let w = world(&t).await;
        book(&w.app, &w.ali, ten_oclock(2)).await;
        let mut b = w.app.login("lisa").await;
        b.get("/account/calendar").await;
        let url = link_in(&b.post("/account/calendar/caseload", &[]).await.text().await.unwrap());
        assert_eq!(fetch(&url).await.0, StatusCode::OK);
        w.app.engine.set_staff_active(w.lisa, false, &actor(), Utc::now()).await.unwrap();
        assert_eq!(fetch(&url).await.0, StatusCode::NOT_FOUND, "switched off: the feed stops");
        w.app.engine.set_staff_active(w.lisa, true, &actor(), Utc::now()).await.unwrap();
        assert_eq!(fetch(&url).await.0, StatusCode::OK, "switched on again");

        // An assistant sees times but no case records: no feed, 403 on the form.
        let mut asta = w.app.login("asta").await;
        let (_, page) = asta.get("/account/calendar").await;
        assert!(page.contains("Din roll har ingen kalender"));
        assert_eq!(asta.post("/account/calendar/caseload", &[]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(asta.post("/account/calendar/unit_activities", &[]).await.status(), StatusCode::FORBIDDEN);
        let (_, page) = asta.get("/account").await;
        assert!(!page.contains("/account/calendar"));
    }
}

both_backends! {
    async fn a_coordinator_subscribes_to_group_activities_without_names(t) {
        let w = world(&t).await;
        let now = Utc::now();
        let group = w.app.engine.create_group(w.app.unit.id, "Matlagning", &actor(), now).await.unwrap();
        for p in [&w.ali, &w.bo] {
            w.app.engine.add_group_member(group, p.id, &actor(), now).await.unwrap();
        }
        let cron: paminn::domain::recurrence::CronExpr = "0 14 * * 3".parse().unwrap();
        w.app.engine.create_series_from(
            SeriesTarget::Group(group), AppointmentKind::GroupActivity, &cron, 90,
            Some("Köket, plan 2".into()), now, Duration::days(28), &actor(), now,
        ).await.unwrap();

        let mut lisa = w.app.login("lisa").await;
        lisa.get("/account/calendar").await;
        assert_eq!(lisa.post("/account/calendar/unit_activities", &[]).await.status(), StatusCode::FORBIDDEN);

        let mut cora = w.app.login("cora").await;
        let (_, page) = cora.get("/account/calendar").await;
        assert!(page.contains("Enhetens gruppaktiviteter"));
        let url = link_in(&cora.post("/account/calendar/unit_activities", &[]).await.text().await.unwrap());
        let (status, _, text) = fetch(&url).await;
        assert_eq!(status, StatusCode::OK);
        for never in ["Ali", "Bo"] {
            assert!(!text.contains(never), "{never:?} must not reach the calendar:\n{text}");
        }
        let cal = parse(&text);
        assert!((3..=5).contains(&cal.events.len()), "four Wednesdays in 28 days, one per occurrence: {}", cal.events.len());
        for e in &cal.events {
            assert_eq!(value(e, "SUMMARY"), "Matlagning");
            assert_eq!(value(e, "DESCRIPTION"), "Gruppaktivitet · 2 bokade");
            let start = instant(e, "DTSTART").with_timezone(&STHLM);
            assert_eq!((start.weekday(), start.format("%H:%M").to_string()), (chrono::Weekday::Wed, "14:00".to_string()));
            assert_eq!(instant(e, "DTEND") - instant(e, "DTSTART"), Duration::minutes(90));
        }
        let name = cal.properties.iter().find(|p| p.name == "X-WR-CALNAME").and_then(|p| p.value.clone());
        assert_eq!(name.as_deref(), Some("paminn – gruppaktiviteter Enhet A"));
    }
}
