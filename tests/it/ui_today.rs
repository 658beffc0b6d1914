//! The "Idag" page and the unit calendar: who sees which appointments and
//! how much of them, the reminder delivery state and the reply, attendance
//! and "Klar" on tasks (with CSRF, access checks and audit rows), and a
//! calendar with no case notes.
//!
//! Times are fixed on the Stockholm wall clock relative to today
//! (yesterday 13:00, tomorrow 13:00), and the dispatcher and replies run
//! at explicit instants, so nothing depends on when the tests run.

use crate::common;
use common::fx::actor;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Stockholm;
use common::fx::{self, Recorder};
use common::ui::{self, UiApp, location};
use paminn::domain::schedule::resolve_local;
use paminn::domain::{
    AppointmentKind, Attendance, ChannelKind, Language, OutboxStatus, ParticipantId, Purpose, Role,
    StaffId, TaskKind,
};
use paminn::engine::Engine;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::store::appointments::{self, Appointment, NewAppointment};
use paminn::store::outbox;
use paminn::store::participants::Participant;
use paminn::store::units::Unit;
use paminn::store::{journal, tasks};
use paminn::web::ui::local_dt;
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// `days` from today on the Stockholm wall clock, at `hour`:00.
fn local(days: i64, hour: u32) -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&Stockholm).date_naive();
    resolve_local(
        (today + Duration::days(days))
            .and_hms_opt(hour, 0, 0)
            .unwrap(),
        Stockholm,
    )
}

/// Two days ago: when everything in these tests was booked.
fn booked() -> DateTime<Utc> {
    local(-2, 9)
}

async fn person(app: &UiApp, unit: &Unit, name: &str, lots: Option<StaffId>) -> Participant {
    let p = fx::participant(&app.engine, unit, name, "sms", booked()).await;
    if lots.is_some() {
        app.engine
            .assign_lots(p.id, lots, &actor(), booked())
            .await
            .unwrap();
    }
    p
}

async fn book(
    e: &Engine,
    p: ParticipantId,
    kind: AppointmentKind,
    at: DateTime<Utc>,
    note: Option<&str>,
) -> Appointment {
    e.create_appointment(
        &NewAppointment {
            participant_id: p,
            series_id: None,
            kind,
            starts_at: at,
            duration_min: 60,
            location: Some("Storgatan 1".into()),
            with_whom: None,
            internal_note: note.map(str::to_string),
            external_ref: None,
        },
        &actor(),
        booked(),
    )
    .await
    .unwrap()
}

/// Sends the reminders of appointments tomorrow at 13:00: the one the day
/// before (today 13:00) and the one two hours before, which asks for a
/// reply (tomorrow 11:00).
async fn send_reminders(e: &Engine) {
    let d = Dispatcher::new(
        e.clone(),
        fx::channels(&Arc::new(Recorder::default())),
        DispatcherConfig {
            owner: "t".into(),
            ..Default::default()
        },
    );
    d.run_once(local(0, 13)).await.unwrap();
    d.run_once(local(1, 11)).await.unwrap();
}

static GW: AtomicU64 = AtomicU64::new(1);

/// A text from the participant, tomorrow at 11:05.
async fn say(e: &Engine, p: ParticipantId, text: &str) {
    let gw = format!("gw-{}", GW.fetch_add(1, Ordering::SeqCst));
    e.receive(
        ChannelKind::Sms,
        &gw,
        p,
        text,
        local(1, 11) + Duration::minutes(5),
    )
    .await
    .unwrap();
}

/// A gateway's delivery report for every reminder the participant got.
async fn report(e: &Engine, p: ParticipantId, status: OutboxStatus) {
    let rows = {
        let mut c = e.db.conn().await.unwrap();
        outbox::list(&mut c, Some(p)).await.unwrap()
    };
    let mut n = 0;
    for r in rows.iter().filter(|r| r.purpose == Purpose::Reminder) {
        let gw = r.gateway_id.as_deref().expect("sent");
        e.delivery_receipt(r.channel, gw, status, None, None, local(1, 11))
            .await
            .unwrap();
        n += 1;
    }
    assert!(n > 0, "reminders were sent");
}

async fn appt(e: &Engine, a: &Appointment) -> Appointment {
    let mut c = e.db.conn().await.unwrap();
    appointments::get(&mut c, a.id).await.unwrap()
}

async fn open_tasks(e: &Engine, p: ParticipantId) -> Vec<tasks::Task> {
    let mut c = e.db.conn().await.unwrap();
    tasks::list(&mut c, Some(p), true).await.unwrap()
}

fn when(at: DateTime<Utc>) -> String {
    local_dt(Language::Sv, at, Stockholm)
}

/// The HTML of the card of one appointment on the page (empty if none).
fn card(page: &str, a: &Appointment) -> String {
    let Some(i) = page.find(&format!(r#"id="a{}""#, a.id)) else {
        return String::new();
    };
    let rest = &page[i..];
    rest[..rest.find("</article>").unwrap()].to_string()
}

both_backends! {
    async fn a_lots_sees_their_own_appointments_with_reply_reason_and_delivery_state(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let karl = app.staff("karl", Role::Lots, Some(app.unit.id)).await;
        let e = &app.engine;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let bo = person(&app, &app.unit, "Bo", Some(lisa.id)).await;
        let dan = person(&app, &app.unit, "Dan", Some(lisa.id)).await;
        let cilla = person(&app, &app.unit, "Cilla", Some(karl.id)).await;
        let a_ali = book(e, ali.id, AppointmentKind::Meeting, local(1, 13), Some("Hämtas av socialsekreteraren")).await;
        let a_bo = book(e, bo.id, AppointmentKind::DrugTest, local(1, 13), None).await;
        let a_cilla = book(e, cilla.id, AppointmentKind::Meeting, local(1, 13), None).await;
        send_reminders(e).await;
        // Dan's is booked after the reminders went out: its one reminder
        // (the day before) is planned.
        let a_dan = book(e, dan.id, AppointmentKind::Other, local(1, 14), None).await;
        say(e, ali.id, "förhinder, sjuk").await;
        // The gateway reports afterwards (a reply to a failed reminder is
        // not matched to it).
        report(e, ali.id, OutboxStatus::Failed).await;
        report(e, bo.id, OutboxStatus::Delivered).await;
        assert_eq!(appt(e, &a_ali).await.reply_reason.as_deref(), Some("sjuk"));

        let mut b = app.login("lisa").await;
        let (status, page) = b.get("/today").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Idag</h1>"), "{page}");
        assert!(page.contains("Inga tider idag."), "nothing booked today");
        let ali_card = card(&page, &a_ali);
        assert!(ali_card.contains(&when(a_ali.starts_at)), "local time with weekday: {ali_card}");
        assert!(ali_card.contains("Möte"));
        assert!(ali_card.contains(&format!(r#"<a href="/participants/{}">Ali</a>"#, ali.id)), "{ali_card}");
        assert!(ali_card.contains(r#"<span class="badge cannot">förhinder: sjuk</span>"#), "{ali_card}");
        assert!(ali_card.contains(r#"<span class="badge failed">gick inte fram</span>"#), "{ali_card}");
        assert!(!ali_card.contains("attendance"), "not started: no attendance buttons");
        assert!(!page.contains("Hämtas av socialsekreteraren"), "the internal note is not on this page");
        let bo_card = card(&page, &a_bo);
        assert!(bo_card.contains("Provtagning") && bo_card.contains(r#"<span class="badge delivered">levererad</span>"#), "{bo_card}");
        assert!(bo_card.contains("inget svar"), "{bo_card}");
        let dan_card = card(&page, &a_dan);
        assert!(dan_card.contains(r#"<span class="badge planned">planerad</span>"#), "{dan_card}");
        // Another lots's participant is not on the page at all.
        assert!(card(&page, &a_cilla).is_empty());
        assert!(!page.contains("Cilla"));
        // The tasks: "förhinder" with its reason, and the failed delivery.
        assert!(page.contains("<h2 id=\"h-tasks\">Mina uppgifter</h2>"));
        // On a phone the tasks are far down: a link at the top says how
        // many wait and jumps there.
        let tasks = page.matches(r#"<article class="card task""#).count();
        assert!(page.contains(&format!(r##"<a href="#h-tasks">Till mina uppgifter ({tasks})</a>"##)), "{page}");
        assert!(page.find("Till mina uppgifter").unwrap() < page.find(r#"id="h-today""#).unwrap());
        assert!(page.contains("<strong>Förhinder</strong>") && page.contains("<p>förhinder: sjuk</p>"), "{page}");
        assert!(page.contains("<strong>Påminnelsen gick inte fram</strong>"));
        assert_eq!(app.audit("today.view").await, vec![(format!("staff:{}", lisa.id), format!("staff:{}", lisa.id))]);

        // Dan's reminder was never sent: cancel it, and there is none.
        {
            let mut c = e.db.conn().await.unwrap();
            outbox::cancel_open_for_appointment(&mut c, a_dan.id, "test", booked()).await.unwrap();
        }
        let (_, page) = b.get("/today").await;
        assert!(card(&page, &a_dan).contains("ingen påminnelse"));

        // In English, the same words are English.
        b.http.get(format!("{}/lang/en?next=/today", b.base)).send().await.unwrap();
        let (_, page) = b.get("/today").await;
        let ali_card = card(&page, &a_ali);
        assert!(ali_card.contains("cannot come: sjuk") && ali_card.contains(">failed<"), "{ali_card}");
        assert!(page.contains("No appointments today."));
    }
}

both_backends! {
    async fn attendance_is_one_tap_for_the_lots_and_refused_to_others(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let karl = app.staff("karl", Role::Lots, Some(app.unit.id)).await;
        app.staff("anna", Role::Assistant, Some(app.unit.id)).await;
        let e = &app.engine;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let cilla = person(&app, &app.unit, "Cilla", Some(karl.id)).await;
        let yesterday = book(e, ali.id, AppointmentKind::Meeting, local(-1, 13), None).await;
        let later = book(e, ali.id, AppointmentKind::Meeting, local(1, 13), None).await;
        let cillas = book(e, cilla.id, AppointmentKind::Meeting, local(-1, 13), None).await;

        let mut b = app.login("lisa").await;
        let (_, page) = b.get("/today").await;
        assert!(page.contains("Närvaro att registrera"), "yesterday's unrecorded appointment is offered");
        let c = card(&page, &yesterday);
        for v in ["attended", "absent", "excused"] {
            assert!(c.contains(&format!(r#"name="attendance" value="{v}""#)), "{v}: {c}");
        }
        assert!(c.contains(&format!(r#"action="/appointments/{}/attendance""#, yesterday.id)));
        assert!(c.contains("Närvarade") && c.contains("Uteblev") && c.contains("Giltigt förhinder"));
        assert!(!card(&page, &later).contains("/attendance"), "not started yet");

        let path = format!("/appointments/{}/attendance", yesterday.id);
        // Without the CSRF token: refused, nothing recorded.
        assert_eq!(b.post_raw(&path, &[("attendance", "absent")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(appt(e, &yesterday).await.attendance, Attendance::Unknown);

        let res = b.post(&path, &[("attendance", "absent")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/today?att={0}&prev=unknown#a{0}", yesterday.id));
        assert_eq!(appt(e, &yesterday).await.attendance, Attendance::Absent);
        // What was recorded, said after the redirect, with an undo.
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Närvaro: Ali, uteblev.") && page.contains(r#"role="status""#), "{page}");
        let undo = format!("/appointments/{}/attendance/undo", yesterday.id);
        assert!(page.contains(&format!(r#"action="{undo}""#)) && page.contains(r#"name="to" value="unknown""#), "{page}");
        let res = b.post(&undo, &[("to", "unknown")]).await;
        assert_eq!(location(&res), format!("/today?att_undone={0}#a{0}", yesterday.id));
        assert_eq!(appt(e, &yesterday).await.attendance, Attendance::Unknown);
        let (_, page) = b.get(&location(&res)).await;
        let c = card(&page, &yesterday);
        assert!(c.contains("Ångrat: närvaron för Ali är som förut.") && c.contains(r#"value="absent""#), "back at its card: {c}");
        assert_eq!(app.audit("attendance.undo").await, vec![(format!("staff:{}", lisa.id), format!("appointment:{}", yesterday.id))]);
        let (_, record) = b.get(&format!("/participants/{}", ali.id)).await;
        assert!(record.contains("Närvaro ångrad: uteblev → inte registrerad"), "in the timeline: {record}");
        let res = b.post(&path, &[("attendance", "absent")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.audit("attendance.record").await.len(), 2);
        let me = format!("staff:{}", lisa.id);
        assert_eq!(app.audit("attendance.record").await, vec![(me.clone(), format!("appointment:{}", yesterday.id)); 2]);
        let events = {
            let mut c = e.db.conn().await.unwrap();
            journal::list(&mut c, ali.id).await.unwrap()
        };
        let ev = events.iter().find(|ev| ev.kind == "attendance_recorded").expect("in the case record");
        assert_eq!((ev.actor.as_str(), ev.appointment_id), (me.as_str(), Some(yesterday.id)));
        assert_eq!(ev.detail["attendance"], "absent");
        assert!(events.iter().any(|ev| ev.kind == "attendance_undone" && ev.detail["undone"] == "absent"));
        // Recorded: no longer "to record".
        let (_, page) = b.get("/today").await;
        assert!(card(&page, &yesterday).is_empty());
        // A correction is the same form.
        assert_eq!(b.post(&path, &[("attendance", "excused")]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(appt(e, &yesterday).await.attendance, Attendance::Excused);

        // Not started: refused in words, nothing recorded.
        let res = b.post(&format!("/appointments/{}/attendance", later.id), &[("attendance", "attended")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert_eq!(appt(e, &later).await.attendance, Attendance::Unknown);
        // Nonsense is refused.
        assert_eq!(b.post(&path, &[("attendance", "unknown")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // Another lots's participant: 403, and the attempt is audited.
        let res = b.post(&format!("/appointments/{}/attendance", cillas.id), &[("attendance", "attended")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(appt(e, &cillas).await.attendance, Attendance::Unknown);
        assert!(app.audit("case.denied").await.contains(&(me.clone(), format!("participant:{}", cilla.id))));

        // An assistant sees the time but may not record.
        let mut anna = app.login("anna").await;
        let (_, page) = anna.get("/today").await;
        assert!(!page.contains("/attendance"), "no buttons for an assistant");
        let res = anna.post(&format!("/appointments/{}/attendance", cillas.id), &[("attendance", "attended")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(appt(e, &cillas).await.attendance, Attendance::Unknown);
        assert_eq!(app.audit("attendance.record").await.len(), 3, "only lisa's three");
    }
}

both_backends! {
    async fn klar_closes_a_task_with_an_audit_row_and_only_for_the_case_owner(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let karl = app.staff("karl", Role::Lots, Some(app.unit.id)).await;
        app.staff("sara", Role::Coordinator, Some(app.unit.id)).await;
        let e = &app.engine;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let cilla = person(&app, &app.unit, "Cilla", Some(karl.id)).await;
        let dora = person(&app, &app.unit, "Dora", None).await;
        for p in [&ali, &cilla, &dora] {
            book(e, p.id, AppointmentKind::Meeting, local(1, 13), None).await;
        }
        send_reminders(e).await;
        say(e, ali.id, "förhinder, sjuk").await;
        say(e, cilla.id, "förhinder, tandläkare").await;
        say(e, dora.id, "förhinder, jobbintervju").await;
        let ali_task = open_tasks(e, ali.id).await.remove(0);
        let cilla_task = open_tasks(e, cilla.id).await.remove(0);
        let dora_task = open_tasks(e, dora.id).await.remove(0);
        assert_eq!(dora_task.assigned_to, None);

        let mut b = app.login("lisa").await;
        let (_, page) = b.get("/today").await;
        let done = format!("/tasks/{}/done", ali_task.id);
        assert!(page.contains(&format!(r#"action="{done}""#)), "{page}");
        assert!(page.contains("<p>förhinder: sjuk</p>") && page.contains("Skapad "));
        assert!(!page.contains("tandläkare") && !page.contains("jobbintervju"), "only lisa's own tasks");

        // Without the token: nothing.
        assert_eq!(b.post_raw(&done, &[]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(open_tasks(e, ali.id).await.len(), 1);
        // Someone else's task: 403, still open.
        let res = b.post(&format!("/tasks/{}/done", cilla_task.id), &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(open_tasks(e, cilla.id).await.len(), 1);
        assert!(app.audit("task.done").await.is_empty());

        let res = b.post(&done, &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/today?done={}#flash", ali_task.id));
        assert!(open_tasks(e, ali.id).await.is_empty());
        let (_, flash_page) = b.get(&location(&res)).await;
        let undo = format!("/tasks/{}/undo", ali_task.id);
        assert!(flash_page.contains("Klar: Ali, förhinder.") && flash_page.contains(&format!(r#"action="{undo}""#)), "{flash_page}");
        let closed = {
            let mut c = e.db.conn().await.unwrap();
            tasks::get(&mut c, ali_task.id).await.unwrap()
        };
        assert_eq!(closed.done_by, Some(format!("staff:{}", lisa.id)));
        assert_eq!(app.audit("task.done").await, vec![(format!("staff:{}", lisa.id), format!("task:{}", ali_task.id))]);
        let (_, page) = b.get("/today").await;
        assert!(page.contains("Inga öppna uppgifter."), "{page}");
        // A second tap (an old page) changes nothing more.
        assert_eq!(b.post(&done, &[]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.audit("task.done").await.len(), 1);
        assert_eq!(b.post("/tasks/999999/done", &[]).await.status(), StatusCode::NOT_FOUND);
        // Undo: open again, audited as an undo; not for someone else's task.
        assert_eq!(b.post(&format!("/tasks/{}/undo", cilla_task.id), &[]).await.status(), StatusCode::FORBIDDEN);
        let res = b.post(&undo, &[]).await;
        assert_eq!(location(&res), format!("/today?reopened={0}#t{0}", ali_task.id));
        assert_eq!(open_tasks(e, ali.id).await.len(), 1);
        assert_eq!(app.audit("task.undo").await, vec![(format!("staff:{}", lisa.id), format!("task:{}", ali_task.id))]);
        let (_, page) = b.get(&location(&res)).await;
        assert!(page.contains("Öppen igen: Ali, förhinder.") && page.contains(&format!(r#"id="t{}""#, ali_task.id)), "{page}");

        // The coordinator sees the unit's open work, whoever has it: the
        // unassigned task and karl's; and closes one.
        let mut sara = app.login("sara").await;
        let (_, page) = sara.get("/today").await;
        assert!(page.contains("jobbintervju") && page.contains("ingen ansvarig lots"), "{page}");
        let tasks = &page[page.find("h-tasks").unwrap()..];
        assert!(tasks.contains("tandläkare"), "karl's task is part of the unit's work");
        let res = sara.post(&format!("/tasks/{}/done", dora_task.id), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(open_tasks(e, dora.id).await.is_empty());
    }
}

both_backends! {
    async fn open_work_is_listed_most_urgent_first_and_an_outcome_closes_silence(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        app.staff("sara", Role::Coordinator, Some(app.unit.id)).await;
        let e = &app.engine;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let bo = person(&app, &app.unit, "Bo", Some(lisa.id)).await;
        let past = book(e, ali.id, AppointmentKind::Meeting, local(-1, 13), None).await;
        let coming = book(e, bo.id, AppointmentKind::Meeting, local(1, 13), None).await;
        // Made in the worst order: paperwork first, the förhinder last.
        let mut c = e.db.conn().await.unwrap();
        let made = booked();
        for (i, (p, a, kind, key)) in [
            (ali.id, None, TaskKind::Gap, "t-gap"),
            (ali.id, None, TaskKind::ConsentExpiring, "t-consent"),
            (ali.id, Some(past.id), TaskKind::NoReply, "t-noreply"),
            (bo.id, Some(coming.id), TaskKind::Cannot, "t-cannot"),
        ]
        .into_iter()
        .enumerate()
        {
            tasks::create(&mut c, p, a, kind, key, serde_json::json!({}), made + Duration::minutes(i as i64))
                .await
                .unwrap()
                .unwrap();
        }
        drop(c);
        for who in ["lisa", "sara"] {
            let mut b = app.login(who).await;
            let (_, page) = b.get("/today").await;
            let tasks = &page[page.find("h-tasks").unwrap()..];
            let at = |needle: &str| tasks.find(needle).unwrap_or_else(|| panic!("{who}: {needle} in {tasks}"));
            let order = [at(">Förhinder<"), at(">Inget svar<"), at(">Samtycket går snart ut<"), at(">Inget inbokat<")];
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{who}: most urgent first: {order:?}");
        }
        // Attendance answers "did they come": the silence task closes with it.
        e.record_attendance(past.id, Attendance::Attended, &actor(), local(0, 9)).await.unwrap();
        let open: Vec<TaskKind> = open_tasks(e, ali.id).await.iter().map(|t| t.kind).collect();
        assert!(!open.contains(&TaskKind::NoReply), "{open:?}");
        assert!(open.contains(&TaskKind::Gap), "other tasks stay open");
        let closed = {
            let mut c = e.db.conn().await.unwrap();
            tasks::list(&mut c, Some(ali.id), false).await.unwrap().into_iter().find(|t| t.kind == TaskKind::NoReply).unwrap()
        };
        assert_eq!(closed.done_by.as_deref(), Some("test"));
        // A wrong tap undone: the silence is unanswered again, so its task
        // is open again; a task a person closed by hand stays closed.
        let mut c = e.db.conn().await.unwrap();
        let gap = tasks::list(&mut c, Some(ali.id), true).await.unwrap().into_iter().find(|t| t.kind == TaskKind::Gap).unwrap();
        tasks::set_done(&mut c, gap.id, true, "staff:lisa", local(0, 9) + Duration::minutes(1)).await.unwrap();
        drop(c);
        e.undo_attendance(past.id, Attendance::Unknown, &actor(), local(0, 10)).await.unwrap();
        let open: Vec<TaskKind> = open_tasks(e, ali.id).await.iter().map(|t| t.kind).collect();
        assert!(open.contains(&TaskKind::NoReply), "reopened: {open:?}");
        assert!(!open.contains(&TaskKind::Gap), "closed by hand, not by the recording: {open:?}");
        let undone = {
            let mut c = e.db.conn().await.unwrap();
            journal::list(&mut c, ali.id).await.unwrap().into_iter().find(|ev| ev.kind == "attendance_undone").unwrap()
        };
        assert_eq!(undone.detail["reopened_tasks"], 1);
        // Recording again closes it again.
        e.record_attendance(past.id, Attendance::Absent, &actor(), local(0, 11)).await.unwrap();
        assert!(!open_tasks(e, ali.id).await.iter().any(|t| t.kind == TaskKind::NoReply));
    }
}

both_backends! {
    async fn a_new_participant_gets_the_gap_window_before_an_empty_calendar_alert(t) {
        let app = ui::spawn(&t, false).await;
        let e = &app.engine;
        let days = app.unit.gap_alert_days;
        assert!(days > 0, "the unit alerts on gaps");
        let now = local(0, 10);
        let p = fx::participant(e, &app.unit, "Nyss", "sms", now).await;
        let gaps = || async { open_tasks(e, p.id).await.iter().filter(|t| t.kind == TaskKind::Gap).count() };
        e.run_jobs(now + Duration::minutes(1)).await.unwrap();
        assert_eq!(gaps().await, 0, "a minute old: nothing booked yet is no alert");
        e.run_jobs(now + Duration::days(days) - Duration::minutes(1)).await.unwrap();
        assert_eq!(gaps().await, 0);
        e.run_jobs(now + Duration::days(days)).await.unwrap();
        assert_eq!(gaps().await, 1, "after the window, an empty calendar is news");
    }
}

both_backends! {
    async fn the_calendar_shows_the_units_week_without_notes_or_replies(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let karl = app.staff("karl", Role::Lots, Some(app.unit.id)).await;
        app.staff("nomad", Role::Lots, None).await;
        app.staff("root", Role::Admin, None).await;
        let e = &app.engine;
        let unit_b = fx::unit(e, "Enhet B", booked()).await;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let cilla = person(&app, &app.unit, "Cilla", Some(karl.id)).await;
        let eva = person(&app, &unit_b, "Eva", None).await;
        let a_ali = book(e, ali.id, AppointmentKind::DrugTest, local(1, 13), None).await;
        let a_cilla = book(e, cilla.id, AppointmentKind::Meeting, local(1, 13), Some("Hämtas av socialsekreteraren")).await;
        book(e, eva.id, AppointmentKind::Meeting, local(1, 13), None).await;
        send_reminders(e).await;
        say(e, cilla.id, "förhinder, tandläkare").await;

        let mut b = app.login("lisa").await;
        let (status, page) = b.get("/calendar").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Kalender</h1>"));
        assert!(page.contains(&when(a_ali.starts_at)) && page.contains("Provtagning"));
        assert!(page.contains(&format!(r#"<a href="/participants/{}">Ali</a>"#, ali.id)));
        assert!(page.contains("Cilla") && page.contains(&when(a_cilla.starts_at)), "the unit's calendar");
        assert!(!page.contains(&format!("/participants/{}", cilla.id)), "no link to another lots's participant");
        assert!(!page.contains("Hämtas av socialsekreteraren"), "no internal note");
        assert!(!page.contains("tandläkare") && !page.contains("förhinder"), "no reply, no reason");
        assert!(!page.contains("Eva"), "another unit");
        // Seven day headings, weekday and date, from today.
        assert_eq!(page.matches(r#"<section class="calendar-day""#).count(), 7);
        let today = Utc::now().with_timezone(&Stockholm).date_naive();
        let heading = paminn::web::ui::local_date(Language::Sv, local(1, 13), Stockholm);
        assert!(page.contains(&format!(r#"<time datetime="{}">{heading}</time>"#, today + Duration::days(1))), "{page}");
        let next = (today + Duration::days(7)).format("%Y-%m-%d").to_string();
        let prev = (today - Duration::days(7)).format("%Y-%m-%d").to_string();
        assert!(page.contains(&format!(r#"href="/calendar?from={next}""#)) && page.contains(&format!(r#"href="/calendar?from={prev}""#)));
        let (_, same) = b.get(&format!("/calendar?from={}", today.format("%Y-%m-%d"))).await;
        assert!(same.contains("Cilla"));
        let (_, later) = b.get(&format!("/calendar?from={next}")).await;
        assert!(!later.contains("Cilla") && later.contains("Inga tider."));
        assert_eq!(b.get("/calendar?from=8/12").await.0, StatusCode::BAD_REQUEST);

        // Every unit for an admin, with the unit named.
        let mut root = app.login("root").await;
        let (status, page) = root.get("/calendar").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Eva") && page.contains("Enhet B") && page.contains("Cilla"));
        assert!(!page.contains("tandläkare"));
        // A lots without a unit has no unit calendar.
        let mut nomad = app.login("nomad").await;
        assert_eq!(nomad.get("/calendar").await.0, StatusCode::FORBIDDEN);
        // Nobody logged in: to the login page.
        assert_eq!(app.browser().get_location("/calendar").await.as_deref(), Some("/login?next=%2Fcalendar"));
    }
}

both_backends! {
    async fn an_assistant_sees_times_and_first_names_only_a_coordinator_the_unit(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        app.staff("anna", Role::Assistant, Some(app.unit.id)).await;
        app.staff("sara", Role::Coordinator, Some(app.unit.id)).await;
        app.staff("root", Role::Admin, None).await;
        let e = &app.engine;
        let unit_b = fx::unit(e, "Enhet B", booked()).await;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let eva = person(&app, &unit_b, "Eva", None).await;
        let a_ali = book(e, ali.id, AppointmentKind::Meeting, local(1, 13), Some("Hämtas av socialsekreteraren")).await;
        let a_eva = book(e, eva.id, AppointmentKind::Meeting, local(1, 13), None).await;
        send_reminders(e).await;
        say(e, ali.id, "förhinder, sjuk").await;
        report(e, ali.id, OutboxStatus::Failed).await;

        let mut anna = app.login("anna").await;
        let (status, page) = anna.get("/today").await;
        assert_eq!(status, StatusCode::OK);
        let c = card(&page, &a_ali);
        assert!(c.contains(&when(a_ali.starts_at)) && c.contains("Ali"), "{page}");
        assert!(c.contains(&format!(r#"href="/participants/{}""#, ali.id)), "for the phone number");
        for hidden in ["sjuk", "förhinder", "gick inte fram", "Mina uppgifter", "Påminnelse", "Hämtas"] {
            assert!(!page.contains(hidden), "{hidden} shown to an assistant");
        }
        assert!(card(&page, &a_eva).is_empty(), "another unit");
        assert!(app.audit("today.view").await.len() == 1);

        let mut sara = app.login("sara").await;
        let (_, page) = sara.get("/today").await;
        assert!(card(&page, &a_ali).contains("förhinder: sjuk"), "the coordinator sees the unit in full");
        assert!(card(&page, &a_eva).is_empty());

        let mut root = app.login("root").await;
        let (_, page) = root.get("/today").await;
        assert!(card(&page, &a_eva).contains("Enhet B") && card(&page, &a_ali).contains("förhinder: sjuk"));
    }
}

both_backends! {
    async fn a_reply_given_by_phone_is_recorded_from_the_card_and_answers_the_silence(t) {
        let app = ui::spawn(&t, false).await;
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        app.staff("sara", Role::Lots, Some(app.unit.id)).await;
        let e = &app.engine;
        let ali = person(&app, &app.unit, "Ali", Some(lisa.id)).await;
        let coming = book(e, ali.id, AppointmentKind::Meeting, local(1, 13), None).await;
        let past = book(e, ali.id, AppointmentKind::Meeting, local(-1, 13), None).await;
        let mut c = e.db.conn().await.unwrap();
        tasks::create(&mut c, ali.id, Some(coming.id), TaskKind::NoReply, "t-silent", serde_json::json!({}), booked())
            .await.unwrap().unwrap();
        drop(c);
        let mut b = app.login("lisa").await;
        let (_, page) = b.get("/today").await;
        let path = format!("/appointments/{}/reply", coming.id);
        // Offered on tomorrow's card (not started), not on yesterday's.
        let tomorrow = card(&page, &coming);
        assert!(tomorrow.contains("Svar per telefon") && tomorrow.contains(&format!(r#"action="{path}""#)), "{tomorrow}");
        assert!(tomorrow.contains(&format!(r#"aria-label="Svar från Ali, {}""#, when(coming.starts_at))), "{tomorrow}");
        assert!(!card(&page, &past).contains("Svar per telefon"));

        // "Hen har förhinder": the reply is förhinder, the silence task is
        // answered, and the card says so at once.
        let res = b.post(&path, &[("reply", "cannot")]).await;
        assert_eq!(location(&res), format!("/today?replied={0}#a{0}", coming.id));
        assert_eq!(appt(e, &coming).await.reply, paminn::domain::ReplyState::Cannot);
        assert!(!open_tasks(e, ali.id).await.iter().any(|t| t.kind == TaskKind::NoReply));
        let (_, page) = b.get(&location(&res)).await;
        let after = card(&page, &coming);
        assert!(after.contains("Svar registrerat: Ali, förhinder.") && after.contains(r#"role="status""#), "{after}");
        // A wrong tap is put right with the other answer.
        b.post(&path, &[("reply", "coming")]).await;
        assert_eq!(appt(e, &coming).await.reply, paminn::domain::ReplyState::Coming);
        let rows: Vec<_> = {
            let mut c = e.db.conn().await.unwrap();
            journal::list(&mut c, ali.id).await.unwrap().into_iter().filter(|ev| ev.kind == "reply_recorded").collect()
        };
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].detail["reply"].as_str(), rows[1].detail["previous"].as_str()), (Some("coming"), Some("cannot")));
        assert_eq!(app.audit("reply.record").await.len(), 2);
        let (_, record) = b.get(&format!("/participants/{}", ali.id)).await;
        assert!(record.contains("Svar per telefon eller på plats: kommer"), "the timeline names it");
        // The same from the case record (a coordinator's round of calls
        // goes from the broadcast's names there): back to the record.
        assert!(record.contains(&format!(r#"action="{path}""#)) && record.contains(r#"name="back" value="case""#));
        let res = b.post(&path, &[("reply", "cannot"), ("back", "case")]).await;
        assert_eq!(location(&res), format!("/participants/{}?saved=replied&a={}", ali.id, coming.id));
        let (_, record) = b.get(&location(&res)).await;
        assert!(record.contains(&format!("Svar registrerat för möte {}: förhinder.", when(coming.starts_at))), "{record}");

        // Refused: a started appointment (attendance instead), a made-up
        // answer, and another lots.
        let res = b.post(&format!("/appointments/{}/reply", past.id), &[("reply", "coming")]).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("Registrera närvaron i stället"));
        assert_eq!(b.post(&path, &[("reply", "none")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let mut sara = app.login("sara").await;
        assert_eq!(sara.post(&path, &[("reply", "coming")]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(appt(e, &coming).await.reply, paminn::domain::ReplyState::Cannot);
        assert_eq!(app.audit("reply.record").await.len(), 3);
    }
}
