//! The participant pages of the staff web UI: the list each role sees,
//! adding a participant, the case record with its timeline, the settings
//! forms, reassigning the lots (and the message that tells the
//! participant), the Telegram link code, booking, and series with their
//! preview. Every route: the roles that may use it, 403 for those who may
//! not (a lots for another lots's participant, audited as `case.denied`),
//! CSRF, and the audit rows.

use crate::common;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Europe::Stockholm;
use common::TestDb;
use common::fx::{self, Recorder};
use common::ui::{self, UiApp, location};
use paminn::domain::schedule::resolve_local;
use paminn::domain::{
    AppointmentKind, AppointmentStatus, ChannelKind, Intensity, Language, OutboxStatus,
    ParticipantId, ParticipantStatus, PhoneNumber, Purpose, Role, StaffId,
};
use paminn::engine::Actor;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::appointments::{self, Appointment, NewAppointment};
use paminn::store::participants::{self, NewParticipant, Participant};
use paminn::store::staff::Staff;
use paminn::store::{consents, journal};
use paminn::web::ui::participants::when;
use reqwest::StatusCode;
use std::sync::Arc;

struct Fx {
    app: UiApp,
    /// A lots; Ali is hers.
    lisa: Staff,
    /// Another lots in the same unit; Bo is hers.
    sara: Staff,
    coordinator: Staff,
    assistant: Staff,
    ali: Participant,
    bo: Participant,
}

async fn participant(
    app: &UiApp,
    name: &str,
    lots: Option<StaffId>,
    language: Language,
) -> Participant {
    app.engine
        .add_participant(
            &NewParticipant {
                unit_id: app.unit.id,
                first_name: name.into(),
                phone: Some(PhoneNumber::parse("070-123 45 67").unwrap()),
                language,
                channel_pref: ChannelKind::Sms,
                time_zone: Stockholm,
                discreet: true,
                lots_id: lots,
            },
            Some("sms".parse().unwrap()),
            &Actor("test".into()),
            Utc::now(),
        )
        .await
        .unwrap()
}

async fn setup(t: &TestDb) -> Fx {
    let app = ui::spawn(t, false).await;
    let unit = Some(app.unit.id);
    let lisa = app.staff("lisa", Role::Lots, unit).await;
    let sara = app.staff("sara", Role::Lots, unit).await;
    let coordinator = app.staff("cora", Role::Coordinator, unit).await;
    let assistant = app.staff("anna", Role::Assistant, unit).await;
    let ali = participant(&app, "Ali", Some(lisa.id), Language::Sv).await;
    let bo = participant(&app, "Bo", Some(sara.id), Language::En).await;
    Fx {
        app,
        lisa,
        sara,
        coordinator,
        assistant,
        ali,
        bo,
    }
}

/// `days` days from today at `h:m` on the Stockholm wall clock.
fn local_at(days: i64, h: u32, m: u32) -> DateTime<Utc> {
    let d = (Utc::now().with_timezone(&Stockholm) + Duration::days(days)).date_naive();
    resolve_local(d.and_hms_opt(h, m, 0).unwrap(), Stockholm)
}

async fn book(app: &UiApp, p: ParticipantId, at: DateTime<Utc>) -> Appointment {
    app.engine
        .create_appointment(
            &NewAppointment {
                participant_id: p,
                series_id: None,
                kind: AppointmentKind::Meeting,
                starts_at: at,
                duration_min: 45,
                location: Some("Storgatan 1".into()),
                with_whom: Some("Sara".into()),
                internal_note: Some("Hemlig anteckning".into()),
                external_ref: None,
            },
            &Actor("test".into()),
            Utc::now(),
        )
        .await
        .unwrap()
}

/// The day-before reminder goes out, and the participant answers
/// "förhinder sjuk" half an hour later.
async fn reminded_and_cannot_come(app: &UiApp, p: ParticipantId, at: DateTime<Utc>) {
    let rec = Arc::new(Recorder::default());
    let d = Dispatcher::new(
        app.engine.clone(),
        fx::channels(&rec),
        DispatcherConfig {
            owner: "t".into(),
            ..Default::default()
        },
    );
    let sent_at = at - Duration::hours(24) + Duration::minutes(5);
    d.run_once(sent_at).await.unwrap();
    assert_eq!(rec.sent.lock().unwrap().len(), 1, "the day-before reminder");
    app.engine
        .receive(
            ChannelKind::Sms,
            "gw-1",
            p,
            "förhinder sjuk",
            sent_at + Duration::minutes(30),
        )
        .await
        .unwrap();
}

async fn get_participant(app: &UiApp, id: ParticipantId) -> Participant {
    let mut c = app.engine.db.conn().await.unwrap();
    participants::get(&mut c, id).await.unwrap()
}

async fn get_appointment(app: &UiApp, id: paminn::domain::AppointmentId) -> Appointment {
    let mut c = app.engine.db.conn().await.unwrap();
    appointments::get(&mut c, id).await.unwrap()
}

async fn journal_kinds(app: &UiApp, id: ParticipantId) -> Vec<String> {
    let mut c = app.engine.db.conn().await.unwrap();
    journal::list(&mut c, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

both_backends! {
    async fn the_list_shows_each_role_what_it_may_see(t) {
        let f = setup(&t).await;
        f.app.staff("adam", Role::Admin, None).await;
        let other_unit = fx::unit(&f.app.engine, "Enhet B", Utc::now()).await;
        let far = f.app.staff("fia", Role::Lots, Some(other_unit.id)).await;
        f.app.engine.add_participant(&NewParticipant {
            unit_id: other_unit.id, first_name: "Cecilia".into(), phone: None, language: Language::Sv,
            channel_pref: ChannelKind::Sms, time_zone: Stockholm, discreet: true, lots_id: Some(far.id),
        }, None, &Actor("test".into()), Utc::now()).await.unwrap();

        let mut lisa = f.app.login("lisa").await;
        let (status, page) = lisa.get("/participants").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!(r#"href="/participants/{}">Ali<"#, f.ali.id)), "{page}");
        assert!(!page.contains(">Bo<") && !page.contains("Cecilia"), "only her own caseload");
        assert!(page.contains("+46701234567") && page.contains("aktiv"));
        assert!(page.contains(r#"href="/participants/new""#), "a lots may add participants");

        let mut cora = f.app.login("cora").await;
        let (_, page) = cora.get("/participants").await;
        assert!(page.contains(">Ali<") && page.contains(">Bo<") && !page.contains("Cecilia"), "the unit");
        assert!(page.contains("lisa Testsson") && page.contains("sara Testsson"), "each one's lots");
        let (_, page) = cora.get("/participants?q=b").await;
        assert!(page.contains(">Bo<") && !page.contains(">Ali<"), "name search");
        let (_, page) = cora.get("/participants?status=paused").await;
        assert!(!page.contains(">Bo<") && page.contains("Ingen deltagare matchar"), "status filter");

        let mut anna = f.app.login("anna").await;
        let (_, page) = anna.get("/participants").await;
        assert!(page.contains(">Ali<") && page.contains(">Bo<") && page.contains("+46701234567"));
        assert!(!page.contains("aktiv") && !page.contains("lisa Testsson"), "no status or lots for an assistant: {page}");
        assert!(!page.contains(r#"href="/participants/new""#));

        let mut adam = f.app.login("adam").await;
        let (_, page) = adam.get("/participants").await;
        assert!(page.contains(">Ali<") && page.contains(">Bo<") && page.contains("Cecilia"), "every unit");
    }
}

both_backends! {
    async fn a_participant_is_added_through_the_form(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let (status, page) = lisa.get("/participants/new").await;
        assert_eq!(status, StatusCode::OK);
        for field in ["first_name", "phone", "language", "channel", "consent-sms", "consent-telegram", "discreet"] {
            assert!(page.contains(&format!(r#"<label for="{field}">"#)), "label for {field}");
        }
        assert!(page.contains(r#"name="discreet" type="checkbox" value="on" checked"#), "discreet by default");
        assert!(!page.contains(r#"name="lots""#), "a lots's participants are hers");

        // A bad number: 422, the message by the field, what was typed kept.
        let res = lisa.post("/participants", &[("first_name", "Ali"), ("phone", "12"), ("language", "en"),
            ("channel", "sms"), ("consent", "sms"), ("discreet", "on")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Numret går inte att använda"), "{page}");
        assert!(page.contains(r#"value="Ali""#) && page.contains(r#"value="12""#));
        assert!(page.contains(r#"<option value="en" selected>"#), "the language stays chosen");
        assert!(page.contains(r#"aria-invalid="true""#));

        let res = lisa.post("/participants", &[("first_name", " Dana "), ("phone", "070-765 43 21"), ("language", "en"),
            ("channel", "sms"), ("consent", "sms"), ("consent", "telegram")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = location(&res);
        let id: ParticipantId = to.strip_prefix("/participants/").unwrap().strip_suffix("?saved=created").unwrap().parse().unwrap();
        let p = get_participant(&f.app, id).await;
        assert_eq!((p.first_name.as_str(), p.language, p.lots_id, p.unit_id), ("Dana", Language::En, Some(f.lisa.id), f.app.unit.id));
        assert_eq!(p.phone.unwrap().as_e164(), "+46707654321");
        assert!(!p.discreet, "the box was not ticked");
        let mut c = f.app.engine.db.conn().await.unwrap();
        let consent = consents::current(&mut c, id).await.unwrap().unwrap();
        assert!(consent.channels.sms && consent.channels.telegram);
        assert_eq!(consent.recorded_by, format!("staff:{}", f.lisa.id));
        drop(c);
        assert_eq!(f.app.audit("participant.create").await.iter().filter(|(a, _)| a == &format!("staff:{}", f.lisa.id)).count(), 1);
        let (status, page) = lisa.get(&to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Dana"));
        assert!(page.contains("Dana är tillagd. Nästa steg: boka en tid."), "consent given on the form: {page}");

        // A coordinator picks a lots of the unit.
        let mut cora = f.app.login("cora").await;
        let (_, page) = cora.get("/participants/new").await;
        assert!(page.contains(r#"<label for="lots">"#) && page.contains("lisa Testsson") && page.contains("sara Testsson"));
        assert!(!page.contains(&format!(r#"<option value="{}""#, f.coordinator.id)), "only lotsar");
        let res = cora.post("/participants", &[("first_name", "Eli"), ("phone", ""), ("language", "sv"), ("channel", "sms"), ("discreet", "on")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "no lots chosen");
        assert!(res.text().await.unwrap().contains("Välj en aktiv lots"));
        let res = cora.post("/participants", &[("first_name", "Eli"), ("phone", ""), ("language", "sv"), ("channel", "sms"),
            ("discreet", "on"), ("lots", &f.sara.id.to_string())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let id: ParticipantId = location(&res).strip_prefix("/participants/").unwrap().strip_suffix("?saved=created").unwrap().parse().unwrap();
        let p = get_participant(&f.app, id).await;
        assert_eq!((p.lots_id, p.discreet, p.phone.is_none()), (Some(f.sara.id), true, true));
        let (_, page) = cora.get(&location(&res)).await;
        assert!(page.contains("Eli är tillagd. Nästa steg: registrera samtycke och boka en tid."), "no consent yet: {page}");
        // Booked without consent: the reminders are planned, and the
        // confirmation says they will not go out and why.
        let day = (Utc::now().with_timezone(&Stockholm) + Duration::days(4)).date_naive().to_string();
        let res = cora.post(&format!("/participants/{id}/appointments"), &[("kind", "meeting"), ("date", &day),
            ("time", "10:00"), ("duration", "30")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = cora.get(&location(&res)).await;
        assert!(page.contains("Påminnelser om den är planerade men går inte ut: inget samtycke registrerat. Berätta om tiden själv."), "{page}");

        // Assistants add no one.
        let mut anna = f.app.login("anna").await;
        assert_eq!(anna.get("/participants/new").await.0, StatusCode::FORBIDDEN);
        let res = anna.post("/participants", &[("first_name", "Fia"), ("language", "sv"), ("channel", "sms")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(f.app.audit("participant.create").await.len(), 4, "Ali, Bo, Dana, Eli");
    }
}

both_backends! {
    async fn the_case_record_shows_the_timeline_with_the_reply_and_its_reason(t) {
        let f = setup(&t).await;
        let at = local_at(3, 13, 0);
        let a = book(&f.app, f.ali.id, at).await;
        reminded_and_cannot_come(&f.app, f.ali.id, at).await;
        let mut lisa = f.app.login("lisa").await;
        let (status, page) = lisa.get(&format!("/participants/{}", f.ali.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Ali"));
        // Upcoming, in local time with the weekday, with the reply.
        assert!(page.contains(&when(Language::Sv, at, Stockholm)), "{page}");
        assert!(page.contains("Skäl: sjuk") && page.contains("Hemlig anteckning") && page.contains("Storgatan 1"));
        assert!(page.contains(&format!(r#"href="/appointments/{}/edit""#, a.id)));
        assert!(page.contains(&format!(r#"action="/appointments/{}/cancel""#, a.id)));
        // The timeline, newest first: the task, the reply with its reason,
        // the reminder, the booking.
        let timeline = &page[page.find("Tidslinje").expect("a timeline")..];
        let order = ["Uppgift: förhinder", "Svarade FÖRHINDER (SMS)", "Skäl: sjuk", "Påminnelse skickad via SMS",
            "Tid bokad: möte", "Samtycke registrerat: SMS", "Deltagaren lades till"];
        let mut last = 0;
        for item in order {
            let i = timeline.find(item).unwrap_or_else(|| panic!("{item} in {timeline}"));
            assert!(i >= last, "{item} out of order");
            last = i;
        }
        assert!(timeline.contains("”förhinder sjuk”"), "the participant's own words");
        let sent = when(Language::Sv, at - Duration::hours(24) + Duration::minutes(5), Stockholm);
        assert!(timeline.contains(&sent), "local time with the weekday: {sent}");
        assert!(page.contains(r#"<label for="s-status">"#) && page.contains(r#"<label for="c-sms">"#));
        assert!(!page.contains("s-lots"), "a lots does not reassign");
        assert_eq!(f.app.audit("case.view").await, vec![(format!("staff:{}", f.lisa.id), format!("participant:{}", f.ali.id))]);

        // In English.
        lisa.http.get(format!("{}/lang/en", lisa.base)).send().await.unwrap();
        let (_, page) = lisa.get(&format!("/participants/{}", f.ali.id)).await;
        assert!(page.contains("Replied CANNOT COME (SMS)") && page.contains("Reason: sjuk") && page.contains("Timeline"));
        assert_eq!(f.app.audit("case.view").await.len(), 2, "every view");
    }
}

both_backends! {
    async fn an_assistant_sees_numbers_and_times_but_nothing_of_the_case_record(t) {
        let f = setup(&t).await;
        let at = local_at(3, 13, 0);
        let a = book(&f.app, f.ali.id, at).await;
        reminded_and_cannot_come(&f.app, f.ali.id, at).await;
        let mut anna = f.app.login("anna").await;
        let (status, page) = anna.get(&format!("/participants/{}", f.ali.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("+46701234567") && page.contains(&when(Language::Sv, at, Stockholm)));
        assert!(page.contains("inte kopplad"), "channels");
        for secret in ["sjuk", "Hemlig anteckning", "Storgatan 1", "Tidslinje", "Svarade", "förhinder",
            "Samtycke", "Uppgift", "möte", "aktiv", "lisa Testsson", "link-code", "/status"] {
            assert!(!page.contains(secret), "an assistant must not see {secret:?}");
        }
        assert_eq!(f.app.audit("case.view_contact").await, vec![(format!("staff:{}", f.assistant.id), format!("participant:{}", f.ali.id))]);
        assert!(f.app.audit("case.view").await.is_empty());

        // The move form: time only, no note.
        let (status, page) = anna.get(&format!("/appointments/{}/edit", a.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<label for="date">"#) && page.contains(r#"<label for="time">"#));
        assert!(!page.contains("Hemlig anteckning") && !page.contains("internal_note") && !page.contains("Storgatan 1"));
        let later = local_at(4, 13, 0);
        let l = later.with_timezone(&Stockholm);
        let res = anna.post(&format!("/appointments/{}", a.id), &[("date", &l.format("%Y-%m-%d").to_string()),
            ("time", "13:00"), ("location", "Ny plats"), ("internal_note", "skriven av assistent")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let moved = get_appointment(&f.app, a.id).await;
        assert_eq!(moved.starts_at, later);
        assert_eq!(moved.internal_note.as_deref(), Some("Hemlig anteckning"), "details untouched");
        assert_eq!(moved.location.as_deref(), Some("Storgatan 1"));
        assert_eq!(f.app.audit("appointment.move").await.len(), 1);
        // The assistant's confirmation: the new time, not the kind.
        let (_, page) = anna.get(&location(&res)).await;
        assert!(page.contains(&format!("Flyttad till {}.", when(Language::Sv, later, Stockholm))), "{page}");

        // Booking: the note field is not offered and not stored.
        let (_, page) = anna.get(&format!("/participants/{}/appointments/new", f.ali.id)).await;
        assert!(!page.contains("internal_note"));
        let res = anna.post(&format!("/participants/{}/appointments", f.ali.id), &[("kind", "meeting"),
            ("date", &l.format("%Y-%m-%d").to_string()), ("time", "15:30"), ("duration", "30"), ("internal_note", "nej")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let mut c = f.app.engine.db.conn().await.unwrap();
        let all = appointments::for_participant(&mut c, f.ali.id, None).await.unwrap();
        drop(c);
        let new = all.iter().find(|x| x.id != a.id).unwrap();
        assert_eq!(new.internal_note, None);
        // The assistant's confirmation is the time alone: nothing of the
        // reminders, their delivery or consent.
        let (_, page) = anna.get(&location(&res)).await;
        assert!(page.contains(&format!("Bokad: {}.", when(Language::Sv, new.starts_at, Stockholm))), "{page}");
        for secret in ["påminnelse", "Påminnelse", "samtycke", "Samtycke", "möte"] {
            assert!(!page.contains(secret), "an assistant must not see {secret:?}: {page}");
        }

        let res = anna.post(&format!("/appointments/{}/cancel", new.id), &[]).await;
        assert_eq!(res.status(), StatusCode::OK, "asked first");
        assert_eq!(get_appointment(&f.app, new.id).await.status, AppointmentStatus::Scheduled);
        let res = anna.post(&format!("/appointments/{}/cancel", new.id), &[("confirm", "yes")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(get_appointment(&f.app, new.id).await.status, AppointmentStatus::Cancelled);

        // Nothing of the case record can be changed.
        for path in ["status", "consent", "consent/withdraw", "language", "discreet", "intensity", "lots", "link-code", "edit"] {
            let res = anna.post(&format!("/participants/{}/{path}", f.ali.id), &[("value", "paused"), ("channels", "sms")]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(get_participant(&f.app, f.ali.id).await.status, ParticipantStatus::Active);
    }
}

both_backends! {
    async fn another_lotss_participant_is_403_on_every_route_and_audited(t) {
        let f = setup(&t).await;
        let a = book(&f.app, f.bo.id, local_at(3, 10, 0)).await;
        let mut lisa = f.app.login("lisa").await;
        lisa.get("/participants").await;
        let bo = f.bo.id;
        let gets = [
            format!("/participants/{bo}"),
            format!("/participants/{bo}/appointments/new"),
            format!("/participants/{bo}/series/new"),
            format!("/appointments/{}/edit", a.id),
            format!("/participants/{bo}/edit"),
        ];
        for path in &gets {
            let (status, page) = lisa.get(path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(!page.contains("<h1>Bo") && !page.contains("+4670"), "{path}");
        }
        let posts = [
            format!("/participants/{bo}/consent"),
            format!("/participants/{bo}/consent/withdraw"),
            format!("/participants/{bo}/status"),
            format!("/participants/{bo}/language"),
            format!("/participants/{bo}/discreet"),
            format!("/participants/{bo}/intensity"),
            format!("/participants/{bo}/lots"),
            format!("/participants/{bo}/link-code"),
            format!("/participants/{bo}/appointments"),
            format!("/participants/{bo}/series"),
            format!("/appointments/{}", a.id),
            format!("/appointments/{}/cancel", a.id),
            format!("/participants/{bo}/edit"),
        ];
        for path in &posts {
            let res = lisa.post(path, &[("value", "paused"), ("channels", "sms"), ("kind", "meeting"),
                ("date", "2030-01-01"), ("time", "10:00"), ("duration", "60"), ("weekday", "1"), ("action", "create")]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let denied = f.app.audit("case.denied").await;
        assert_eq!(denied.len(), gets.len() + posts.len());
        assert!(denied.iter().all(|(actor, target)| actor == &format!("staff:{}", f.lisa.id) && target == &format!("participant:{bo}")));
        // Nothing changed.
        let p = get_participant(&f.app, bo).await;
        assert_eq!((p.status, p.discreet, p.lots_id), (ParticipantStatus::Active, true, Some(f.sara.id)));
        assert_eq!(get_appointment(&f.app, a.id).await.status, AppointmentStatus::Scheduled);
        assert!(f.app.audit("participant.link_code").await.is_empty());
        assert_eq!(journal_kinds(&f.app, bo).await.iter().filter(|k| k.starts_with("appointment")).count(), 1);
        // Not found is not forbidden.
        assert_eq!(lisa.get("/participants/999999").await.0, StatusCode::NOT_FOUND);
        assert_eq!(lisa.get("/participants/x").await.0, StatusCode::NOT_FOUND);
    }
}

both_backends! {
    async fn consent_status_language_discreet_and_intensity_change_from_the_page(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let page_path = format!("/participants/{}", f.ali.id);
        lisa.get(&page_path).await;
        let post = |path: &str| format!("/participants/{}/{path}", f.ali.id);

        let res = lisa.post(&post("consent/withdraw"), &[]).await;
        assert_eq!(location(&res), format!("{page_path}?saved=consent-withdrawn"));
        let mut c = f.app.engine.db.conn().await.unwrap();
        assert!(consents::current(&mut c, f.ali.id).await.unwrap().unwrap().withdrawn_at.is_some());
        drop(c);
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Samtycket är återkallat.") && page.contains("Återkallat") && page.contains("gäller inte"));
        assert!(!page.contains("/consent/withdraw"), "nothing left to withdraw");

        // No channel: 422 with the reason by the form; a date in the past too.
        let res = lisa.post(&post("consent"), &[("expires", "")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Välj minst en kanal"));
        let res = lisa.post(&post("consent"), &[("channels", "sms"), ("expires", "2020-01-01")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let until = (Utc::now().with_timezone(&Stockholm) + Duration::days(100)).date_naive();
        let res = lisa.post(&post("consent"), &[("channels", "sms"), ("channels", "telegram"), ("expires", &until.to_string())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let mut c = f.app.engine.db.conn().await.unwrap();
        let k = consents::current(&mut c, f.ali.id).await.unwrap().unwrap();
        drop(c);
        assert!(k.channels.sms && k.channels.telegram && k.withdrawn_at.is_none());
        let expected = resolve_local(until.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap(), Stockholm);
        assert_eq!(k.expires_at, Some(expected), "valid through the chosen day");
        assert_eq!(f.app.audit("consent.withdraw").await.len(), 1);
        assert_eq!(f.app.audit("consent.record").await.len(), 1);

        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Samtycket är sparat."), "{page}");

        // Each setting's confirmation names the field and its new value.
        let res = lisa.post(&post("status"), &[("value", "in_custody")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Status: frihetsberövad – sparat."), "{page}");
        let res = lisa.post(&post("status"), &[("value", "asleep")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = lisa.post(&post("language"), &[("value", "en")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Språk i meddelanden: engelska – sparat."), "{page}");
        let res = lisa.post(&post("discreet"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Diskret läge: nej – sparat."), "{page}");
        let res = lisa.post(&post("intensity"), &[("value", "day_before")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let p = get_participant(&f.app, f.ali.id).await;
        assert_eq!((p.status, p.language, p.discreet, p.intensity), (ParticipantStatus::InCustody, Language::En, false, Intensity::DayBefore));
        for action in ["participant.status", "participant.language", "participant.discreet", "participant.intensity"] {
            assert_eq!(f.app.audit(action).await, vec![(format!("staff:{}", f.lisa.id), format!("participant:{}", f.ali.id))], "{action}");
        }
        let (_, page) = lisa.get(&page_path).await;
        for line in ["Status ändrad: aktiv → frihetsberövad", "Språk ändrat: svenska → engelska",
            "Diskret läge av", "Påminnelser ändrade: alla påminnelser → bara dagen innan",
            "Samtycke registrerat: SMS, Telegram", "Samtycket återkallades"] {
            assert!(page.contains(line), "{line}");
        }
        assert!(page.contains(r#"<option value="in_custody" selected>"#));
        assert!(page.contains(r#"id="s-discreet" name="discreet" type="checkbox" value="on" aria"#), "unticked now");
    }
}

both_backends! {
    async fn reassigning_the_lots_tells_the_participant_in_their_language(t) {
        let f = setup(&t).await;
        // A lots may not reassign, not even her own participant.
        let mut lisa = f.app.login("lisa").await;
        lisa.get(&format!("/participants/{}", f.ali.id)).await;
        let res = lisa.post(&format!("/participants/{}/lots", f.ali.id), &[("value", &f.sara.id.to_string())]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(get_participant(&f.app, f.ali.id).await.lots_id, Some(f.lisa.id));

        let mut cora = f.app.login("cora").await;
        let (_, page) = cora.get(&format!("/participants/{}", f.bo.id)).await;
        assert!(page.contains(r#"<label for="s-lots">"#) && page.contains("lisa Testsson"));
        // Only an active lots of the unit.
        let res = cora.post(&format!("/participants/{}/lots", f.bo.id), &[("value", &f.coordinator.id.to_string())]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = cora.post(&format!("/participants/{}/lots", f.bo.id), &[("value", &f.lisa.id.to_string())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(get_participant(&f.app, f.bo.id).await.lots_id, Some(f.lisa.id));
        assert_eq!(f.app.audit("participant.lots").await.len(), 1);

        // Bo reads English: one short message with the first name only,
        // through the outbox on his channel.
        let mut c = f.app.engine.db.conn().await.unwrap();
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT purpose, channel, status, body FROM outbox WHERE participant_id = $1")
            .bind(f.bo.id.get()).fetch_all(&mut *c).await.unwrap();
        drop(c);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let (purpose, channel, status, body) = &rows[0];
        assert_eq!((purpose.as_str(), channel.as_str(), status.as_str()), ("notice", "sms", "pending"));
        assert_eq!(body, "Hi Bo! From now on lisa is your contact person.");
        assert!(!body.contains("Testsson"));
        // The same lots again changes nothing and sends nothing.
        cora.post(&format!("/participants/{}/lots", f.bo.id), &[("value", &f.lisa.id.to_string())]).await;
        assert_eq!(f.app.audit("participant.contact_notice").await.len(), 1);
        let (_, page) = cora.get(&format!("/participants/{}", f.bo.id)).await;
        assert!(page.contains("Ansvarig lots: lisa Testsson") && page.contains("Meddelande om ny kontaktperson köat via SMS"));
        // And Bo is now on Lisa's list, not Sara's.
        let (_, page) = lisa.get("/participants").await;
        assert!(page.contains(">Bo<"));
        let mut sara = f.app.login("sara").await;
        assert_eq!(sara.get(&format!("/participants/{}", f.bo.id)).await.0, StatusCode::FORBIDDEN);
    }
}

both_backends! {
    async fn a_link_code_is_shown_once_with_its_qr_code(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let (_, page) = lisa.get(&format!("/participants/{}", f.ali.id)).await;
        assert!(page.contains("Skapa länkkod för Telegram"));
        // Without a bot username: the code and the /start instruction.
        let res = lisa.post(&format!("/participants/{}/link-code", f.ali.id), &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
        let page = res.text().await.unwrap();
        assert!(page.contains(r#"<code id="start-command">/start "#) && !page.contains("<svg"), "{page}");
        let day = paminn::web::ui::participants::day(Language::Sv, Utc::now() + Duration::hours(24), Stockholm);
        assert!(page.contains(&format!("<strong>{day} ")), "expiry in local time with the weekday: {day}");

        // The same database served with the bot's username configured.
        let server = common::server::serve_with(|_| paminn::web::AppState {
            transports: vec![],
            ui: paminn::web::ui::UiConfig { telegram_bot_username: Some("@paminn_bot".into()), ..Default::default() },
            ..common::server::state(&f.app.engine)
        }).await;
        lisa.base = server.base.clone();
        let res = lisa.post(&format!("/participants/{}/link-code", f.ali.id), &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        drop(server);
        let i = page.find("https://t.me/paminn_bot?start=").expect("a deep link");
        let code = &page[i + "https://t.me/paminn_bot?start=".len()..][..22];
        assert!(page.contains(&format!("/start {code}")));
        assert!(page.contains(r#"<svg role="img" aria-label="QR-kod"#) && page.contains("</svg>"), "an inline SVG QR code");
        assert!(!page.contains("<?xml"));
        // The code works, once.
        let linked = f.app.engine.link_chat(4242, code, Utc::now()).await.unwrap();
        assert!(matches!(linked, paminn::engine::linking::LinkOutcome::Participant(_)));
        assert_eq!(f.app.audit("participant.link_code").await.len(), 2);
        assert_eq!(journal_kinds(&f.app, f.ali.id).await.iter().filter(|k| *k == "telegram_link_code_created").count(), 2);
        assert!(get_participant(&f.app, f.ali.id).await.telegram_linked);
    }
}

both_backends! {
    async fn appointments_are_booked_changed_moved_and_cancelled(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let (status, page) = lisa.get(&format!("/participants/{}/appointments/new", f.ali.id)).await;
        assert_eq!(status, StatusCode::OK);
        for field in ["kind", "date", "time", "duration", "location", "with_whom", "internal_note"] {
            assert!(page.contains(&format!(r#"<label for="{field}">"#)), "label for {field}");
        }
        assert!(page.contains("Europe/Stockholm"));
        let day = (Utc::now().with_timezone(&Stockholm) + Duration::days(5)).date_naive();
        let path = format!("/participants/{}/appointments", f.ali.id);
        let res = lisa.post(&path, &[("kind", "meeting"), ("date", "10/12"), ("time", "9"), ("duration", "0")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Skriv ett datum som") && page.contains("Skriv ett klockslag") && page.contains("1–1440 minuter"));
        assert!(page.contains(r#"value="10/12""#), "what was typed stays");
        let res = lisa.post(&path, &[("kind", "drug_test"), ("date", &day.to_string()), ("time", "09:15"), ("duration", "30"),
            ("location", "Mottagningen"), ("with_whom", ""), ("internal_note", "ta med legitimation")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let mut c = f.app.engine.db.conn().await.unwrap();
        let a = appointments::for_participant(&mut c, f.ali.id, None).await.unwrap().pop().unwrap();
        drop(c);
        assert_eq!(a.starts_at, resolve_local(day.and_hms_opt(9, 15, 0).unwrap(), Stockholm));
        assert_eq!((a.kind, a.duration_min, a.location.as_deref(), a.with_whom.as_deref(), a.internal_note.as_deref()),
            (AppointmentKind::DrugTest, 30, Some("Mottagningen"), None, Some("ta med legitimation")));
        assert_eq!(f.app.audit("appointment.create").await.len(), 1);
        // The confirmation names what was booked and the first reminder
        // still to go out for it (as the outbox has it).
        assert_eq!(location(&res), format!("/participants/{}?saved=booked&a={}", f.ali.id, a.id));
        let reminder = reminders_said(&f.app, a.id).await;
        let (_, page) = lisa.get(&location(&res)).await;
        let booked = format!("Bokad: provtagning {}.", when(Language::Sv, a.starts_at, Stockholm));
        assert!(page.contains(&booked), "{page}");
        assert!(page.contains(&format!("{booked} {reminder}")), "{page}");

        // The edit form shows what is stored, in local time; viewing it is audited.
        let (status, page) = lisa.get(&format!("/appointments/{}/edit", a.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!(r#"value="{day}""#)) && page.contains(r#"value="09:15""#) && page.contains("ta med legitimation"));
        assert!(page.contains(&when(Language::Sv, a.starts_at, Stockholm)));
        assert_eq!(f.app.audit("case.view").await.len(), 2, "the booking's confirmation, then the edit form");

        // Details: an update.
        let edit = format!("/appointments/{}", a.id);
        let res = lisa.post(&edit, &[("kind", "drug_test"), ("date", &day.to_string()), ("time", "09:15"), ("duration", "45"),
            ("location", "Mottagningen"), ("internal_note", "ta med legitimation")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(get_appointment(&f.app, a.id).await.duration_min, 45);
        assert_eq!(f.app.audit("appointment.update").await.len(), 1);
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains(&format!("Ändrad: provtagning {}.", when(Language::Sv, a.starts_at, Stockholm))), "{page}");
        // The time alone: a move, with the reminders re-planned.
        let next = day.succ_opt().unwrap();
        let res = lisa.post(&edit, &[("kind", "drug_test"), ("date", &next.to_string()), ("time", "10:00"), ("duration", "45"),
            ("location", "Mottagningen"), ("internal_note", "ta med legitimation")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let moved = get_appointment(&f.app, a.id).await;
        assert_eq!(moved.starts_at, resolve_local(next.and_hms_opt(10, 0, 0).unwrap(), Stockholm));
        assert!(moved.plan_version > a.plan_version);
        assert_eq!(f.app.audit("appointment.move").await.len(), 1);
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains(&format!("Flyttad till provtagning {}.", when(Language::Sv, moved.starts_at, Stockholm))), "{page}");
        // The same form again: nothing to save, and the page says so.
        let res = lisa.post(&edit, &[("kind", "drug_test"), ("date", &next.to_string()), ("time", "10:00"), ("duration", "45"),
            ("location", "Mottagningen"), ("internal_note", "ta med legitimation")]).await;
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Inget ändrades: provtagning"), "{page}");
        assert_eq!(f.app.audit("appointment.move").await.len(), 1);

        // "Ställ in" asks first; nothing is cancelled until "Ja, ställ in".
        let res = lisa.post(&format!("/appointments/{}/cancel", a.id), &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert!(page.contains("Ställa in provtagning") && page.contains(r#"name="confirm" value="yes""#), "{page}");
        assert_eq!(get_appointment(&f.app, a.id).await.status, AppointmentStatus::Scheduled);
        let (status, page) = lisa.get(&format!("/appointments/{}/cancel", a.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Ja, ställ in") && page.contains("Nej, tillbaka"));
        let res = lisa.post(&format!("/appointments/{}/cancel", a.id), &[("confirm", "yes")]).await;
        assert_eq!(location(&res), format!("/participants/{}?cancelled={}#h-upcoming", f.ali.id, a.id));
        assert_eq!(get_appointment(&f.app, a.id).await.status, AppointmentStatus::Cancelled);
        let (_, page) = lisa.get(&location(&res)).await;
        let said = page.find("Inställd: provtagning").expect("says what was cancelled");
        assert!(said > page.find(r#"id="h-upcoming""#).unwrap(), "where the page returns to (#h-upcoming)");
        assert_eq!(f.app.audit("appointment.cancel").await.len(), 1);
        let kinds = journal_kinds(&f.app, f.ali.id).await;
        for k in ["appointment_created", "appointment_updated", "appointment_moved", "appointment_cancelled"] {
            assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
        }
        // A cancelled appointment is not edited.
        assert_eq!(lisa.get(&format!("/appointments/{}/edit", a.id)).await.0, StatusCode::CONFLICT);
        let (_, page) = lisa.get(&format!("/participants/{}", f.ali.id)).await;
        assert!(page.contains("Inga bokade tider.") && page.contains("Tid inställd") && page.contains("Tid flyttad"));
    }
}

both_backends! {
    async fn a_series_preview_lists_ten_local_dates_across_dst_and_create_makes_it(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let (status, page) = lisa.get(&format!("/participants/{}/series/new", f.ali.id)).await;
        assert_eq!(status, StatusCode::OK);
        for field in ["kind", "from", "wd-1", "wd-7", "time", "cron", "duration", "location"] {
            assert!(page.contains(&format!(r#"<label for="{field}">"#)), "label for {field}");
        }
        // Weekly on Tuesdays 09:00 from mid-March next year: Sweden goes to
        // summer time on the last Sunday of March.
        let year = Utc::now().year() + 1;
        let from = NaiveDate::from_ymd_opt(year, 3, 15).unwrap();
        let path = format!("/participants/{}/series", f.ali.id);
        let from = from.to_string();
        let fields = [("kind", "meeting"), ("from", from.as_str()), ("weekday", "2"), ("time", "09:00"),
            ("duration", "60"), ("cron", ""), ("location", "")];
        let mut preview = fields.to_vec();
        preview.push(("action", "preview"));
        let res = lisa.post(&path, &preview).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        let list = &page[page.find("<ol").unwrap()..page.find("</ol>").unwrap()];
        let dates: Vec<(&str, &str)> = list.split("<time datetime=\"").skip(1)
            .map(|s| { let (iso, rest) = s.split_once("\">").unwrap(); (iso, rest.split_once("</time>").unwrap().0) })
            .collect();
        assert_eq!(dates.len(), 10, "{list}");
        for (_, shown) in &dates {
            assert!(shown.starts_with("tis ") && shown.ends_with(&format!(" {year} 09:00")), "{shown}");
        }
        let utc_hours: Vec<u32> = dates.iter().map(|(iso, _)| {
            use chrono::Timelike;
            DateTime::parse_from_rfc3339(iso).unwrap().with_timezone(&Utc).hour()
        }).collect();
        assert_eq!(utc_hours.first(), Some(&8), "winter time: 09:00 is 08:00 UTC");
        assert_eq!(utc_hours.last(), Some(&7), "summer time: 09:00 is 07:00 UTC");
        assert!(page.contains(r#"id="wd-2" name="weekday" type="checkbox" value="2" checked"#), "the form keeps its values");
        assert!(f.app.audit("series.create").await.is_empty(), "a preview creates nothing");

        // No weekday and no cron: 422; a cron that fires every minute too.
        let res = lisa.post(&path, &[("kind", "meeting"), ("from", ""), ("time", "09:00"), ("duration", "60"), ("action", "preview")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Välj minst en veckodag"));
        let res = lisa.post(&path, &[("kind", "meeting"), ("cron", "* * * * *"), ("duration", "5"), ("action", "preview")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

        let mut create = fields.to_vec();
        create.push(("action", "create"));
        let res = lisa.post(&path, &create).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(f.app.audit("series.create").await.len(), 1);
        let mut c = f.app.engine.db.conn().await.unwrap();
        assert!(appointments::for_participant(&mut c, f.ali.id, None).await.unwrap().is_empty(), "nothing before the first day");
        drop(c);
        // Expanded when its time comes, on the wall clock.
        let before = resolve_local(NaiveDate::from_ymd_opt(year, 3, 1).unwrap().and_hms_opt(12, 0, 0).unwrap(), Stockholm);
        f.app.engine.expand_series(before, Duration::days(28)).await.unwrap();
        let mut c = f.app.engine.db.conn().await.unwrap();
        let made = appointments::for_participant(&mut c, f.ali.id, None).await.unwrap();
        drop(c);
        assert!(!made.is_empty());
        assert!(made.iter().all(|a| a.starts_at.with_timezone(&Stockholm).format("%a %H:%M").to_string() == "Tue 09:00"));
        assert_eq!(made[0].starts_at.to_rfc3339(), dates[0].0);
        assert!(journal_kinds(&f.app, f.ali.id).await.iter().any(|k| k == "series_created"));
    }
}

both_backends! {
    async fn forms_without_the_csrf_token_change_nothing(t) {
        let f = setup(&t).await;
        let a = book(&f.app, f.ali.id, local_at(3, 10, 0)).await;
        let mut lisa = f.app.login("lisa").await;
        lisa.get(&format!("/participants/{}", f.ali.id)).await;
        let id = f.ali.id;
        let attempts: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/participants".into(), vec![("first_name", "Gus"), ("language", "sv"), ("channel", "sms")]),
            (format!("/participants/{id}/status"), vec![("value", "paused")]),
            (format!("/participants/{id}/consent/withdraw"), vec![]),
            (format!("/participants/{id}/discreet"), vec![]),
            (format!("/participants/{id}/link-code"), vec![]),
            (format!("/participants/{id}/appointments"), vec![("kind", "meeting"), ("date", "2030-01-01"), ("time", "10:00"), ("duration", "60")]),
            (format!("/appointments/{}/cancel", a.id), vec![]),
        ];
        for (path, fields) in &attempts {
            let res = lisa.post_raw(path, fields).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
            let mut forged = fields.clone();
            forged.push(("_csrf", "forged"));
            assert_eq!(lisa.post_raw(path, &forged).await.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let p = get_participant(&f.app, id).await;
        assert_eq!((p.status, p.discreet), (ParticipantStatus::Active, true));
        assert_eq!(get_appointment(&f.app, a.id).await.status, AppointmentStatus::Scheduled);
        assert_eq!(f.app.audit("participant.create").await.len(), 2, "the fixture's two");
        for action in ["participant.status", "consent.withdraw", "participant.discreet", "participant.link_code", "appointment.cancel"] {
            assert!(f.app.audit(action).await.is_empty(), "{action}");
        }
        assert_eq!(f.app.audit("appointment.create").await.len(), 1, "the fixture's one");
    }
}

both_backends! {
    async fn a_date_outside_the_window_is_a_form_error_with_the_window(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let path = format!("/participants/{}/appointments", f.ali.id);
        for date in ["9999-12-31", "1900-01-01", "0026-12-10"] {
            let res = lisa.post(&path, &[("kind", "meeting"), ("date", date), ("time", "09:00"), ("duration", "60")]).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{date}");
            let page = res.text().await.unwrap();
            assert!(page.contains("Välj ett datum mellan"), "{date}");
            assert!(page.contains(&format!(r#"value="{date}""#)), "what was typed stays");
        }
        let mut c = f.app.engine.db.conn().await.unwrap();
        assert!(appointments::for_participant(&mut c, f.ali.id, None).await.unwrap().is_empty());
        drop(c);
        // Moving a booked one out of the window: the same form error.
        let a = book(&f.app, f.ali.id, local_at(3, 10, 0)).await;
        let res = lisa.post(&format!("/appointments/{}", a.id), &[("kind", "meeting"), ("date", "2099-01-01"),
            ("time", "10:00"), ("duration", &a.duration_min.to_string())]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("Välj ett datum mellan"));
        assert_eq!(get_appointment(&f.app, a.id).await.starts_at, a.starts_at);
    }
}

both_backends! {
    async fn name_phone_channel_time_zone_and_language_are_edited_with_the_checks_of_creation(t) {
        let f = setup(&t).await;
        // A reminder planned for the day before, by SMS, on the Stockholm clock.
        let a = book(&f.app, f.ali.id, local_at(5, 10, 0)).await;
        let mut c = f.app.engine.db.conn().await.unwrap();
        let before = paminn::store::outbox::list(&mut c, Some(f.ali.id)).await.unwrap();
        drop(c);
        assert!(!before.is_empty() && before.iter().all(|r| r.status.as_str() == "pending"));

        let mut lisa = f.app.login("lisa").await;
        let (_, page) = lisa.get(&format!("/participants/{}", f.ali.id)).await;
        let edit = format!("/participants/{}/edit", f.ali.id);
        assert!(page.contains(&format!(r#"href="{edit}""#)), "linked from the case record");
        let (status, page) = lisa.get(&edit).await;
        assert_eq!(status, StatusCode::OK);
        for field in ["first_name", "phone", "channel", "time_zone", "language"] {
            assert!(page.contains(&format!(r#"<label for="{field}">"#)), "label for {field}");
        }
        assert!(page.contains(r#"value="Ali""#) && page.contains(r#"value="+46701234567""#) && page.contains(r#"value="Europe/Stockholm""#));

        // The checks of creation: a bad number, an empty name, an unknown zone.
        let fields = |name: &'static str, phone: &'static str, channel: &'static str, tz: &'static str, lang: &'static str| {
            vec![("first_name", name), ("phone", phone), ("channel", channel), ("time_zone", tz), ("language", lang)]
        };
        let res = lisa.post(&edit, &fields("", "070-12", "sms", "Mars/Olympus", "sv")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Numret går inte att använda") && page.contains("Skriv ett förnamn")
            && page.contains("Skriv en tidszon"), "{page}");
        assert!(page.contains(r#"value="070-12""#) && page.contains(r#"value="Mars/Olympus""#), "what was typed stays");
        assert!(!page.contains("is not"), "no English in the Swedish UI: {page}");
        let res = lisa.post(&edit, &fields("Ali", "08-123 456 78", "sms", "Europe/Stockholm", "sv")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("fast nummer"), "a landline, said why");
        // In English, in English.
        lisa.http.get(format!("{}/lang/en", lisa.base)).send().await.unwrap();
        lisa.get(&edit).await;
        let res = lisa.post(&edit, &fields("Ali", "070-12x", "sms", "Europe/Stockholm", "sv")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("This number cannot be used") && page.contains("only digits"), "{page}");
        assert!(page.contains(r#"value="070-12x""#));
        lisa.http.get(format!("{}/lang/sv", lisa.base)).send().await.unwrap();
        lisa.get(&edit).await;
        assert_eq!(get_participant(&f.app, f.ali.id).await.first_name, "Ali", "nothing saved");
        assert!(f.app.audit("participant.edit").await.is_empty());

        // Each field.
        let res = lisa.post(&edit, &fields("Alia", "+358 40 123 4567", "telegram", "Europe/Helsinki", "en")).await;
        assert_eq!(location(&res), format!("/participants/{}?saved=details", f.ali.id));
        let p = get_participant(&f.app, f.ali.id).await;
        assert_eq!(p.first_name, "Alia");
        assert_eq!(p.phone.as_ref().map(|x| x.as_e164().to_string()).as_deref(), Some("+358401234567"));
        assert_eq!((p.channel_pref, p.time_zone, p.language), (ChannelKind::Telegram, chrono_tz::Europe::Helsinki, Language::En));
        assert_eq!(f.app.audit("participant.edit").await, vec![(format!("staff:{}", f.lisa.id), format!("participant:{}", f.ali.id))]);
        // The appointment stays at its moment; its unsent reminders were planned again.
        let after = get_appointment(&f.app, a.id).await;
        assert_eq!(after.starts_at, a.starts_at);
        assert!(after.plan_version > a.plan_version, "re-planned for the new channel and clock");
        let mut c = f.app.engine.db.conn().await.unwrap();
        let rows = paminn::store::outbox::list(&mut c, Some(f.ali.id)).await.unwrap();
        drop(c);
        let count = |st: &str| rows.iter().filter(|r| r.status.as_str() == st).count();
        assert_eq!(count("cancelled"), before.len(), "the old plan's rows are cancelled");
        assert_eq!(count("pending"), before.len(), "and planned afresh");
        // The same form again changes nothing and writes nothing.
        lisa.get(&edit).await;
        let res = lisa.post(&edit, &fields("Alia", "+358401234567", "telegram", "Europe/Helsinki", "en")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(f.app.audit("participant.edit").await.len(), 1);
        // A phone number alone: the open rows stay, to be sent to the new number.
        let res = lisa.post(&edit, &fields("Alia", "070-765 43 21", "telegram", "Europe/Helsinki", "en")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(get_appointment(&f.app, a.id).await.plan_version, after.plan_version, "nothing to re-plan");
        assert_eq!(f.app.audit("participant.edit").await.len(), 2);
        let (_, page) = lisa.get(&format!("/participants/{}", f.ali.id)).await;
        assert!(page.contains("Uppgifter ändrade: förnamn, telefonnummer, kanal, tidszon, språk"), "{page}");
        assert!(page.contains("Uppgifter ändrade: telefonnummer"));
        let mut c = f.app.engine.db.conn().await.unwrap();
        let entry = journal::list(&mut c, f.ali.id).await.unwrap().into_iter().rev().find(|e| e.kind == "details_changed").unwrap();
        drop(c);
        assert!(!entry.detail.to_string().contains("7654321"), "the journal has the number masked: {}", entry.detail);

        // An assistant may not; the coordinator may.
        let mut anna = f.app.login("anna").await;
        assert_eq!(anna.get(&edit).await.0, StatusCode::FORBIDDEN);
        anna.get(&format!("/participants/{}", f.ali.id)).await;
        assert_eq!(anna.post(&edit, &fields("X", "", "sms", "Europe/Stockholm", "sv")).await.status(), StatusCode::FORBIDDEN);
        let mut cora = f.app.login("cora").await;
        let bo_edit = format!("/participants/{}/edit", f.bo.id);
        assert_eq!(cora.get(&bo_edit).await.0, StatusCode::OK);
        let res = cora.post(&bo_edit, &fields("Bosse", "", "sms", "Europe/Stockholm", "en")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let bo = get_participant(&f.app, f.bo.id).await;
        assert_eq!((bo.first_name.as_str(), bo.phone.is_none()), ("Bosse", true), "an empty number is no number");
        // An erased participant's details stay erased.
        let test = Actor("test".into());
        f.app.engine.set_status(f.bo.id, ParticipantStatus::Discharged, &test, Utc::now()).await.unwrap();
        f.app.engine.erase(f.bo.id, &test, Utc::now()).await.unwrap();
        let res = cora.post(&bo_edit, &fields("Bosse", "070-765 43 21", "sms", "Europe/Stockholm", "en")).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(get_participant(&f.app, f.bo.id).await.phone.is_none());
    }
}

both_backends! {
    async fn a_time_in_the_dst_gap_is_refused_a_repeated_one_asked_and_a_past_one_confirmed(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        lisa.get(&format!("/participants/{}/appointments/new", f.ali.id)).await;
        let path = format!("/participants/{}/appointments", f.ali.id);
        let count = |app: &UiApp| {
            let db = app.engine.db.clone();
            let id = f.ali.id;
            async move {
                let mut c = db.conn().await.unwrap();
                appointments::for_participant(&mut c, id, None).await.unwrap()
            }
        };

        // Spring: 02:30 does not exist; the reason and the nearest times.
        let res = lisa.post(&path, &[("kind", "meeting"), ("date", "2027-03-28"), ("time", "02:30"), ("duration", "60")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Klockan 02:30 finns inte den 2027-03-28") && page.contains("från 02:00 till 03:00")
            && page.contains("01:59 och 03:00"), "{page}");
        assert!(page.contains(r#"value="02:30""#), "what was typed stays");
        assert!(count(&f.app).await.is_empty());

        // Autumn: 02:30 happens twice; asked, with what was typed kept.
        let autumn = [("kind", "meeting"), ("date", "2027-10-31"), ("time", "02:30"), ("duration", "60")];
        let res = lisa.post(&path, &autumn).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("02:30 sommartid (CEST)") && page.contains("02:30 vintertid (CET)")
            && page.contains("kommer två gånger"), "{page}");
        assert!(page.contains(r#"value="2027-10-31""#) && page.contains(r#"name="fold" type="radio" value="later""#));
        assert!(count(&f.app).await.is_empty());
        let mut chosen = autumn.to_vec();
        chosen.push(("fold", "later"));
        let res = lisa.post(&path, &chosen).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let booked = count(&f.app).await;
        assert_eq!(booked.len(), 1);
        assert_eq!(booked[0].starts_at.to_rfc3339(), "2027-10-31T01:30:00+00:00", "the winter-time 02:30");
        // Its edit form says which one it is.
        let (_, page) = lisa.get(&format!("/appointments/{}/edit", booked[0].id)).await;
        assert!(page.contains(r#"id="fold-later" name="fold" type="radio" value="later" checked"#), "{page}");
        // Moving it into the gap: refused the same way.
        let res = lisa.post(&format!("/appointments/{}", booked[0].id), &[("kind", "meeting"), ("date", "2027-03-28"),
            ("time", "02:15"), ("duration", "60")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("01:59 och 03:00"));
        assert_eq!(get_appointment(&f.app, booked[0].id).await.starts_at, booked[0].starts_at);

        // The past: asked, not "Sparat."; booked once confirmed.
        let yesterday = (Utc::now().with_timezone(&Stockholm) - Duration::days(1)).date_naive().to_string();
        let past = [("kind", "meeting"), ("date", yesterday.as_str()), ("time", "10:00"), ("duration", "60")];
        let res = lisa.post(&path, &past).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Tiden har redan varit") && page.contains("Ja, tiden har redan varit")
            && page.contains("Inget är sparat än") && !page.contains("Sparat."), "{page}");
        assert_eq!(count(&f.app).await.len(), 1);
        let mut confirmed = past.to_vec();
        confirmed.push(("confirm_past", "on"));
        let res = lisa.post(&path, &confirmed).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(count(&f.app).await.len(), 2, "staff record past meetings");
    }
}

both_backends! {
    async fn booking_twice_is_refused_and_an_overlap_is_confirmed_first(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        lisa.get(&format!("/participants/{}/appointments/new", f.ali.id)).await;
        let path = format!("/participants/{}/appointments", f.ali.id);
        let day = (Utc::now().with_timezone(&Stockholm) + Duration::days(5)).date_naive().to_string();
        let form = [("kind", "meeting"), ("date", day.as_str()), ("time", "10:00"), ("duration", "60"), ("location", "Storgatan 1")];
        assert_eq!(lisa.post(&path, &form).await.status(), StatusCode::SEE_OTHER);
        // Back, and "Boka" again.
        let res = lisa.post(&path, &form).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let page = res.text().await.unwrap();
        assert!(page.contains("Den här tiden är redan bokad") && page.contains("10:00"), "{page}");
        let all = |app: &UiApp| {
            let db = app.engine.db.clone();
            let id = f.ali.id;
            async move {
                let mut c = db.conn().await.unwrap();
                appointments::for_participant(&mut c, id, None).await.unwrap()
            }
        };
        assert_eq!(all(&f.app).await.len(), 1);
        assert_eq!(f.app.audit("appointment.create").await.len(), 1);
        // A double click: two of the same form at once, booked once.
        let token = lisa.csrf.clone().unwrap();
        let twice = [("kind", "meeting"), ("date", day.as_str()), ("time", "14:00"), ("duration", "60"), ("_csrf", token.as_str())];
        let (one, two) = tokio::join!(lisa.post_raw(&path, &twice), lisa.post_raw(&path, &twice));
        let mut statuses = [one.status(), two.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
        assert_eq!(all(&f.app).await.len(), 2);

        // Another appointment at 10:30: a warning to confirm, naming the other.
        let overlapping = [("kind", "drug_test"), ("date", day.as_str()), ("time", "10:30"), ("duration", "15")];
        let res = lisa.post(&path, &overlapping).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Deltagaren har redan en tid som krockar") && page.contains("10:00, möte, 60 min")
            && page.contains("Ja, boka ändå"), "{page}");
        assert_eq!(all(&f.app).await.len(), 2);
        let mut confirmed = overlapping.to_vec();
        confirmed.push(("confirm_overlap", "on"));
        assert_eq!(lisa.post(&path, &confirmed).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(all(&f.app).await.len(), 3);
        // 11:00, right after: no overlap, no question.
        let after = [("kind", "meeting"), ("date", day.as_str()), ("time", "11:00"), ("duration", "30")];
        assert_eq!(lisa.post(&path, &after).await.status(), StatusCode::SEE_OTHER);
        // Moving that one onto the first: asked too.
        let third = all(&f.app).await.into_iter().find(|a| a.duration_min == 30).unwrap();
        let res = lisa.post(&format!("/appointments/{}", third.id), &[("kind", "meeting"), ("date", day.as_str()),
            ("time", "09:45"), ("duration", "30")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(get_appointment(&f.app, third.id).await.starts_at, third.starts_at);
    }
}

both_backends! {
    async fn a_series_in_the_night_hour_says_what_dst_does_and_is_made_only_once_seen(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let year = Utc::now().year() + 1;
        let from = NaiveDate::from_ymd_opt(year, 1, 1).unwrap().to_string();
        let path = format!("/participants/{}/series", f.ali.id);
        // Sundays 02:30: the last Sunday of March has no 02:30, the last of
        // October has two.
        let fields = [("kind", "meeting"), ("from", from.as_str()), ("weekday", "7"), ("time", "02:30"),
            ("duration", "30"), ("cron", ""), ("location", "")];
        let with = |extra: &[(&'static str, &'static str)]| { let mut v = fields.to_vec(); v.extend_from_slice(extra); v };
        let res = lisa.post(&path, &with(&[("action", "preview")])).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        let march_end = (25..=31).rev().map(|d| NaiveDate::from_ymd_opt(year, 3, d).unwrap()).find(|d| d.weekday() == chrono::Weekday::Sun).unwrap();
        assert!(page.contains("Sommartid och vintertid ändrar de här tiderna"), "{page}");
        assert!(page.contains(&format!("sön {} mar {year}: klockan 02:30 finns inte den dagen", march_end.day())), "{page}");
        assert!(page.contains("Tiden blir 03:00."), "{page}");
        assert!(page.contains("klockan 02:30 kommer två gånger den natten"), "{page}");
        // "Skapa" without having ticked it: nothing is made, the reason is said.
        let res = lisa.post(&path, &with(&[("action", "create")])).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = res.text().await.unwrap();
        assert!(page.contains("Kryssa i att du har sett hur tiderna blir"), "{page}");
        assert!(page.contains(r#"id="wd-7" name="weekday" type="checkbox" value="7" checked"#), "the form keeps its values");
        assert!(f.app.audit("series.create").await.is_empty());
        let res = lisa.post(&path, &with(&[("action", "create"), ("dst_ok", "1")])).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(f.app.audit("series.create").await.len(), 1);
        // A daytime series asks nothing.
        let res = lisa.post(&path, &[("kind", "meeting"), ("from", from.as_str()), ("weekday", "7"), ("time", "10:30"),
            ("duration", "30"), ("action", "preview")]).await;
        assert!(!res.text().await.unwrap().contains("Sommartid och vintertid"));
    }
}

/// What the booking's confirmation must say about reminders, from the
/// outbox's own listing: one already gone (sending, sent, delivered), the
/// next still pending, or that none is planned.
async fn reminders_said(app: &UiApp, id: paminn::domain::AppointmentId) -> String {
    let mut c = app.engine.db.conn().await.unwrap();
    let rows = paminn::store::outbox::list(&mut c, None).await.unwrap();
    let mine: Vec<_> = rows
        .into_iter()
        .filter(|r| r.appointment_id == Some(id) && r.purpose == Purpose::Reminder)
        .collect();
    let channel = |c: ChannelKind| {
        if c == ChannelKind::Sms {
            "SMS"
        } else {
            "Telegram"
        }
    };
    let gone = mine.iter().any(|r| {
        matches!(
            r.status,
            OutboxStatus::Sending | OutboxStatus::Sent | OutboxStatus::Delivered
        )
    });
    let mut said = Vec::new();
    if gone {
        let r = mine
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    OutboxStatus::Sending | OutboxStatus::Sent | OutboxStatus::Delivered
                )
            })
            .max_by_key(|r| (r.due_at, r.id))
            .unwrap();
        said.push(format!(
            "En påminnelse har redan gått med {}.",
            channel(r.channel)
        ));
    }
    match mine
        .iter()
        .filter(|r| r.status == OutboxStatus::Pending)
        .min_by_key(|r| (r.due_at, r.id))
    {
        Some(r) => said.push(format!(
            "Nästa påminnelse går {} med {}.",
            when(Language::Sv, r.due_at, Stockholm),
            channel(r.channel)
        )),
        None if !gone => said.push("Ingen påminnelse planeras om den här tiden".to_string()),
        None => {}
    }
    said.join(" ")
}

both_backends! {
    /// The case-system reference that event webhooks carry is set on the
    /// case record: shown, confirmed, audited, unique in the unit (the
    /// second participant gets 409 with the reason), cleared by an empty
    /// field; a lots cannot set one on another lots's participant.
    async fn the_case_system_reference_is_set_and_cleared_on_the_case_record(t) {
        let f = setup(&t).await;
        let mut lisa = f.app.login("lisa").await;
        let page_path = format!("/participants/{}", f.ali.id);
        let post = |id: ParticipantId| format!("/participants/{id}/external-ref");
        let res = lisa.post(&post(f.ali.id), &[("value", "  T-4711 ")]).await;
        assert_eq!(location(&res), format!("{page_path}?saved=external-ref"));
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Referens i verksamhetssystemet: T-4711 – sparat."), "{page}");
        assert!(page.contains(r#"id="s-external-ref" name="value" value="T-4711""#), "{page}");
        let mut c = f.app.engine.db.conn().await.unwrap();
        let stored = paminn::store::event_hooks::participant_ref(&mut c, f.ali.id).await.unwrap();
        drop(c);
        assert_eq!(stored.as_deref(), Some("T-4711"));
        assert_eq!(f.app.audit("participant.external_ref").await,
                   vec![(format!("staff:{}", f.lisa.id), format!("participant:{}", f.ali.id))]);

        // Bo's lots cannot give Bo Ali's reference; Lisa cannot touch Bo.
        let mut sara = f.app.login("sara").await;
        let res = sara.post(&post(f.bo.id), &[("value", "T-4711")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("another participant of the unit has that reference"));
        let res = lisa.post(&post(f.bo.id), &[("value", "T-1")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // Two lines, or too long: 422, nothing stored.
        let res = lisa.post(&post(f.ali.id), &[("value", "T-1\nT-2")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = lisa.post(&post(f.ali.id), &[("value", &"x".repeat(101))]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // Cleared by an empty field.
        let res = lisa.post(&post(f.ali.id), &[("value", "")]).await;
        let (_, page) = lisa.get(&location(&res)).await;
        assert!(page.contains("Referens i verksamhetssystemet: – – sparat."), "{page}");
        let mut c = f.app.engine.db.conn().await.unwrap();
        assert_eq!(paminn::store::event_hooks::participant_ref(&mut c, f.ali.id).await.unwrap(), None);
        drop(c);
        // Now Bo may have it.
        let res = sara.post(&post(f.bo.id), &[("value", "T-4711")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}
