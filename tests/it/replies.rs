//! Replies into the case record, on both backends: matching, receipts,
//! tasks, participant commands, attendance, tapering, retention, erasure.

use crate::common;
use common::fx::{World, actor, world};

use chrono::{DateTime, Duration, Utc};
use common::fx::{self, Recorder};
use common::sthlm;
use paminn::channels::SendError;
use paminn::domain::{
    AppointmentKind, Attendance, ChannelKind, Intensity, OutboxStatus, ParticipantId,
    ParticipantStatus, Purpose, ReplyState, Span, TaskKind,
};
use paminn::engine::day::Scope;
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::replies::Received;
use paminn::store::appointments::{self, Appointment, NewAppointment};
use paminn::store::outbox::{self, OutboxRow};
use paminn::store::{journal, participants, rules, tasks, units};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static GW: AtomicU64 = AtomicU64::new(1);

impl World {
    async fn book(&self, p: ParticipantId, at: DateTime<Utc>, now: DateTime<Utc>) -> Appointment {
        let a = NewAppointment {
            participant_id: p,
            series_id: None,
            kind: AppointmentKind::Meeting,
            starts_at: at,
            duration_min: 60,
            location: Some("Storgatan 1".into()),
            with_whom: None,
            internal_note: None,
            external_ref: None,
        };
        self.e.create_appointment(&a, &actor(), now).await.unwrap()
    }

    /// The last receipt queued for the participant.
    async fn receipt(&self, p: ParticipantId) -> String {
        self.rows(p)
            .await
            .into_iter()
            .rev()
            .find(|r| r.purpose == Purpose::Receipt)
            .and_then(|r| r.body)
            .unwrap()
    }

    async fn rows(&self, p: ParticipantId) -> Vec<OutboxRow> {
        let mut c = self.e.db.conn().await.unwrap();
        let mut v = outbox::list(&mut c, Some(p)).await.unwrap();
        v.sort_by_key(|r| r.id);
        v
    }

    async fn appt(&self, a: &Appointment) -> Appointment {
        let mut c = self.e.db.conn().await.unwrap();
        appointments::get(&mut c, a.id).await.unwrap()
    }

    async fn tasks(&self, p: ParticipantId) -> Vec<tasks::Task> {
        let mut c = self.e.db.conn().await.unwrap();
        tasks::list(&mut c, Some(p), false).await.unwrap()
    }

    async fn journal(&self, p: ParticipantId) -> Vec<journal::Event> {
        let mut c = self.e.db.conn().await.unwrap();
        journal::list(&mut c, p).await.unwrap()
    }
}

both_backends! {
    async fn kommer_then_forhinder_update_the_reply_with_receipts_a_task_and_both_in_the_journal(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap(); // the 24h reminder
        let t1 = sthlm(2026, 12, 9, 11, 5);
        assert!(matches!(w.say(p.id, "Kommer!!", t1).await, Received::New(_)));
        assert_eq!(w.appt(&a).await.reply, ReplyState::Coming);
        assert_eq!(w.receipt(p.id).await, "Tack! Vi har noterat att du kommer imorgon torsdag 10 december kl. 11:00.");
        w.say(p.id, "förhinder, sjuk", t1 + Duration::minutes(30)).await;
        let after = w.appt(&a).await;
        assert_eq!((after.reply, after.reply_reason.as_deref()), (ReplyState::Cannot, Some("sjuk")));
        assert_eq!(w.receipt(p.id).await, "Tack för att du hör av dig. Din kontaktperson hör av sig om en ny tid.");
        let tasks = w.tasks(p.id).await;
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].kind, tasks[0].appointment_id), (TaskKind::Cannot, Some(a.id)));
        assert_eq!(tasks[0].detail["reason"], "sjuk");
        let replies: Vec<_> = w.journal(p.id).await.into_iter().filter(|e| e.kind == "inbound_message").collect();
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].detail["intent"]["intent"], "coming");
        assert_eq!(replies[1].detail["changed"]["previous"], "coming");
        assert_eq!(replies[1].detail["changed"]["reply"], "cannot");
        // The receipts go out through the dispatcher like everything else.
        let rep = w.d.run_once(t1 + Duration::minutes(31)).await.unwrap();
        assert_eq!(rep.sent, 2);
        // After "förhinder", the 2h reminder would only confuse: suppressed.
        let rep = w.d.run_once(sthlm(2026, 12, 10, 9, 0)).await.unwrap();
        assert_eq!((rep.sent, rep.suppressed), (0, 1));
    }
}

both_backends! {
    async fn english_participants_get_english_receipts(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "John", "sms", now).await;
        w.say(p.id, "LANGUAGE EN", now).await;
        assert_eq!(w.receipt(p.id).await, "You will now get messages in English.");
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let sent = w.rec.sent.lock().unwrap().clone();
        assert!(sent.last().unwrap().body.starts_with("Hi John! Reminder:"), "{:?}", sent.last());
        w.say(p.id, "yes, I'll be there", sthlm(2026, 12, 9, 12, 0)).await;
        assert_eq!(w.receipt(p.id).await, "Thank you! We have noted that you are coming tomorrow, Thursday 10 December at 11:00.");
        w.say(p.id, "can't, sick", sthlm(2026, 12, 9, 12, 5)).await;
        assert_eq!(w.receipt(p.id).await, "Thank you for letting us know. Your contact person will get in touch about a new time.");
    }
}

both_backends! {
    async fn with_two_open_questions_the_bot_asks_which_and_applies_the_choice(t) {
        let now = sthlm(2026, 12, 7, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        {
            let mut c = w.e.db.conn().await.unwrap();
            rules::set(&mut c, w.unit.id, AppointmentKind::Meeting, &[Span::minutes(3 * 1440).unwrap()], true, None).await.unwrap();
        }
        let tue = w.book(p.id, sthlm(2026, 12, 8, 9, 0), now).await;
        let thu = w.book(p.id, sthlm(2026, 12, 10, 13, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 7, 13, 0)).await.unwrap(); // both reminders went out
        let t1 = sthlm(2026, 12, 7, 14, 0);
        w.say(p.id, "kan inte", t1).await;
        assert_eq!(w.receipt(p.id).await,
            "Gäller det imorgon tisdag 8 december kl. 09:00 (svara 1) eller torsdag 10 december kl. 13:00 (svara 2)?");
        assert_eq!(w.appt(&tue).await.reply, ReplyState::None);
        // Today (and /idag) show both as waiting for the choice, with the
        // reply that waits, not as "no answer".
        let day = |at| w.e.day(Scope::Unit(w.unit.id), sthlm(2026, 12, 8, 0, 0), sthlm(2026, 12, 11, 0, 0), false, 10, at);
        let rows = day(t1 + Duration::minutes(1)).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.awaiting_choice == Some(ReplyState::Cannot)), "{:?}", rows.iter().map(|r| r.awaiting_choice).collect::<Vec<_>>());
        // The question lapses after a day.
        assert!(day(t1 + Duration::hours(25)).await.unwrap().iter().all(|r| r.awaiting_choice.is_none()));
        w.say(p.id, "2", t1 + Duration::minutes(2)).await;
        assert!(day(t1 + Duration::minutes(3)).await.unwrap().iter().all(|r| r.awaiting_choice.is_none()), "answered");
        assert_eq!(w.appt(&thu).await.reply, ReplyState::Cannot);
        assert_eq!(w.appt(&tue).await.reply, ReplyState::None);
        // Now only Tuesday is unanswered: a plain "ja" is about Tuesday.
        w.say(p.id, "ja", t1 + Duration::minutes(3)).await;
        assert_eq!(w.appt(&tue).await.reply, ReplyState::Coming);
    }
}

both_backends! {
    async fn a_reply_after_the_start_is_recorded_and_forwarded_not_applied(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 10, 9, 0)).await.unwrap();
        w.say(p.id, "kommer", sthlm(2026, 12, 10, 11, 20)).await;
        assert_eq!(w.appt(&a).await.reply, ReplyState::None);
        let tasks = w.tasks(p.id).await;
        assert_eq!(tasks[0].kind, TaskKind::LateReply);
        assert!(w.receipt(p.id).await.contains("redan börjat"));
    }
}

both_backends! {
    async fn stopp_opts_out_at_once_a_planned_reminder_is_suppressed_and_start_undoes_it(t) {
        let now = sthlm(2026, 12, 8, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.say(p.id, "STOPP", now).await;
        assert_eq!(w.receipt(p.id).await, "Du får inga fler påminnelser här. Svara START om du vill ha dem igen.");
        // The confirmation goes out; the reminder the next day does not.
        let rep = w.d.run_once(now).await.unwrap();
        assert_eq!(rep.sent, 1);
        let rep = w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        assert_eq!((rep.sent, rep.suppressed), (0, 1));
        let why = w.journal(p.id).await.into_iter().rfind(|e| e.kind == "message_suppressed").unwrap();
        assert!(why.detail["reason"].as_str().unwrap().contains("opted out"));
        w.say(p.id, "start", sthlm(2026, 12, 9, 12, 0)).await;
        let mut c = w.e.db.conn().await.unwrap();
        assert!(participants::get(&mut c, p.id).await.unwrap().opted_out.is_empty());
        let rep = w.d.run_once(sthlm(2026, 12, 10, 9, 0)).await.unwrap();
        assert_eq!(rep.sent, 2, "the START receipt and the 2h reminder");
    }
}

both_backends! {
    async fn mina_tider_lists_coming_times_discreetly_and_mina_uppgifter_what_is_stored(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        w.say(p.id, "MINA TIDER", now).await;
        assert_eq!(w.receipt(p.id).await, "Du har inga bokade tider just nu.");
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.book(p.id, sthlm(2026, 12, 15, 14, 30), now).await;
        w.say(p.id, "mina tider", now).await;
        let r = w.receipt(p.id).await;
        assert_eq!(r, "Dina kommande tider: imorgon torsdag 10 december kl. 11:00, tisdag 15 december kl. 14:30.");
        assert!(!r.contains("Storgatan"));
        w.say(p.id, "Mina uppgifter", now).await;
        let r = w.receipt(p.id).await;
        assert!(r.contains("Ali") && r.contains("+46701234567") && r.contains("sms") && r.contains("2026-12-09"), "{r}");
        w.say(p.id, "hjälp", now).await;
        assert!(w.receipt(p.id).await.contains("KOMMER eller FÖRHINDER"));
    }
}

both_backends! {
    async fn text_nobody_understood_goes_to_a_person_and_a_replayed_webhook_counts_once(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let text = "hej vem är detta? ring mig";
        assert!(matches!(w.e.receive(ChannelKind::Sms, "same-id", p.id, text, now).await.unwrap(), Received::New(_)));
        assert_eq!(w.e.receive(ChannelKind::Sms, "same-id", p.id, text, now).await.unwrap(), Received::Duplicate);
        let tasks = w.tasks(p.id).await;
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].kind, TaskKind::NotUnderstood);
        assert_eq!(tasks[0].detail["text"], text);
        assert_eq!(w.receipt(p.id).await, "Tack, vi har fått ditt meddelande. Din kontaktperson läser det.");
        assert_eq!(w.journal(p.id).await.iter().filter(|e| e.kind == "inbound_message").count(), 1);
        // A task is closed by a person, and can be reopened.
        let mut c = w.e.db.conn().await.unwrap();
        let done = tasks::set_done(&mut c, tasks[0].id, true, "staff:1", now).await.unwrap();
        assert_eq!(done.done_by.as_deref(), Some("staff:1"));
        assert!(tasks::set_done(&mut c, tasks[0].id, true, "staff:1", now).await.is_err());
        assert!(tasks::set_done(&mut c, tasks[0].id, false, "staff:1", now).await.unwrap().done_at.is_none());
    }
}

both_backends! {
    async fn silence_failed_delivery_expiring_consent_and_an_empty_calendar_each_give_a_task_once(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let ali = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        // Bea has been in the programme for longer than the gap window.
        let bea = fx::participant(&w.e, &w.unit, "Bea", "sms", now - Duration::days(8)).await;
        {
            let mut c = w.e.db.conn().await.unwrap();
            rules::set(&mut c, w.unit.id, AppointmentKind::Meeting, &Span::parse_list("24h").unwrap(), true,
                Some(Span::minutes(180).unwrap())).await.unwrap();
        }
        let a = w.book(ali.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        // No reply by 08:00 (3h before): a no_reply task, once.
        assert_eq!(w.e.run_jobs(sthlm(2026, 12, 10, 7, 59)).await.unwrap().no_reply_tasks, 0);
        assert_eq!(w.e.run_jobs(sthlm(2026, 12, 10, 8, 0)).await.unwrap().no_reply_tasks, 1);
        assert_eq!(w.e.run_jobs(sthlm(2026, 12, 10, 8, 5)).await.unwrap().no_reply_tasks, 0);
        assert!(w.tasks(ali.id).await.iter().any(|t| t.kind == TaskKind::NoReply && t.appointment_id == Some(a.id)));
        // Bea has nothing booked in the next 7 days: a gap task (once a week).
        let bea_tasks = w.tasks(bea.id).await;
        assert_eq!(bea_tasks.iter().filter(|t| t.kind == TaskKind::Gap).count(), 1);
        // A failed delivery.
        *w.rec.always_fail.lock().unwrap() = Some(SendError::Permanent("invalid number".into()));
        w.book(bea.id, sthlm(2026, 12, 12, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 11, 11, 0)).await.unwrap();
        let failed: Vec<_> = w.tasks(bea.id).await.into_iter().filter(|t| t.kind == TaskKind::DeliveryFailed).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].detail["error"], "invalid number");
        // Consent expiring within 30 days (fixture consent lasts a year).
        let r = w.e.run_jobs(now + Duration::days(340)).await.unwrap();
        assert_eq!(r.consent_tasks, 2);
        assert_eq!(w.e.run_jobs(now + Duration::days(341)).await.unwrap().consent_tasks, 0);
    }
}

both_backends! {
    async fn tapering_reduces_reminders_and_raising_it_again_plans_only_future_ones(t) {
        let now = sthlm(2026, 12, 1, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let pending = |rows: Vec<OutboxRow>| rows.into_iter().filter(|r| r.status == OutboxStatus::Pending).map(|r| r.due_at).collect::<Vec<_>>();
        w.e.set_intensity(p.id, Intensity::DayBefore, &actor(), now).await.unwrap();
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        assert_eq!(pending(w.rows(p.id).await), [sthlm(2026, 12, 9, 11, 0)]);
        w.e.set_intensity(p.id, Intensity::None, &actor(), now).await.unwrap();
        assert!(pending(w.rows(p.id).await).is_empty());
        // Back to all, after the day-before time has passed: the 2h one is
        // planned, the missed 24h one is not sent at once.
        w.e.set_intensity(p.id, Intensity::All, &actor(), sthlm(2026, 12, 9, 12, 0)).await.unwrap();
        assert_eq!(pending(w.rows(p.id).await), [sthlm(2026, 12, 10, 9, 0)]);
        let changes: Vec<_> = w.journal(p.id).await.into_iter().filter(|e| e.kind == "intensity_changed").collect();
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[2].detail["to"], "all");
    }
}

both_backends! {
    async fn old_texts_are_purged_after_the_retention_and_metadata_stays(t) {
        let now = sthlm(2026, 6, 1, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let a = w.book(p.id, sthlm(2026, 6, 3, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 6, 2, 11, 0)).await.unwrap();
        w.say(p.id, "förhinder, sjukt barn", sthlm(2026, 6, 2, 12, 0)).await;
        w.d.run_once(sthlm(2026, 6, 2, 12, 1)).await.unwrap();
        // 176 days later nothing is purged; 183 days later texts are gone.
        assert_eq!(w.e.run_jobs(sthlm(2026, 11, 25, 9, 0)).await.unwrap().purged_texts, 0);
        assert!(w.e.run_jobs(sthlm(2026, 12, 1, 9, 0)).await.unwrap().purged_texts > 0);
        let rows = w.rows(p.id).await;
        assert!(rows.iter().all(|r| r.body.is_none()), "message texts purged");
        let sent: Vec<_> = rows.iter().filter(|r| r.sent_at.is_some()).collect();
        assert!(sent.len() >= 2 && sent.iter().all(|r| r.status == OutboxStatus::Sent), "statuses and times kept");
        let after = w.appt(&a).await;
        assert_eq!((after.reply, after.reply_reason), (ReplyState::Cannot, None));
        let ev = w.journal(p.id).await.into_iter().find(|e| e.kind == "inbound_message").unwrap();
        assert_eq!(ev.detail["text"], serde_json::Value::Null);
        assert_eq!(ev.detail["intent"]["intent"], "cannot");
        let dump = w.e.export(p.id, &actor(), sthlm(2026, 12, 1, 9, 0)).await.unwrap().to_string();
        assert!(!dump.contains("sjukt barn"), "no trace of the reason: {dump}");
    }
}

both_backends! {
    async fn export_holds_everything_and_erase_keeps_only_anonymous_counts(t) {
        let now = sthlm(2026, 12, 1, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let a = w.book(p.id, sthlm(2026, 12, 3, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 2, 11, 0)).await.unwrap();
        w.say(p.id, "kommer", sthlm(2026, 12, 2, 12, 0)).await;
        let doc = w.e.export(p.id, &actor(), now).await.unwrap();
        for key in ["participant", "consents", "appointments", "messages", "inbound", "tasks", "journal"] {
            assert!(doc.get(key).is_some(), "export lacks {key}");
        }
        assert_eq!(doc["inbound"][0]["text"], "kommer");
        assert_eq!(doc["participant"]["phone"], "+46701234567");
        let err = w.e.erase(p.id, &actor(), now).await.unwrap_err();
        assert!(err.to_string().contains("only discharged"), "{err}");
        w.e.set_status(p.id, ParticipantStatus::Discharged, &actor(), now).await.unwrap();
        w.e.erase(p.id, &actor(), now).await.unwrap();
        let dump = w.e.export(p.id, &actor(), now).await.unwrap().to_string();
        for secret in ["Ali", "+46701234567", "kommer\"", "Storgatan"] {
            assert!(!dump.contains(secret), "{secret} survived erasure: {dump}");
        }
        // Counts stay: the appointment and its reply state are still there.
        let kept = w.appt(&a).await;
        assert_eq!((kept.reply, kept.location), (ReplyState::Coming, None));
        let mut c = w.e.db.conn().await.unwrap();
        assert!(participants::get(&mut c, p.id).await.unwrap().erased);
    }
}

both_backends! {
    async fn staff_record_attendance_and_rates_are_counted_over_4_and_12_weeks(t) {
        let now = sthlm(2026, 11, 1, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let mut booked = vec![];
        for (i, day) in [2u32, 9, 16, 23, 30].iter().enumerate() {
            let a = w.book(p.id, sthlm(2026, 11, *day, 11, 0), now).await;
            w.d.run_once(sthlm(2026, 11, *day, 9, 0)).await.unwrap();
            if i % 2 == 0 {
                w.say(p.id, "ja", sthlm(2026, 11, *day, 9, 30)).await;
            }
            booked.push(a);
        }
        let later = sthlm(2026, 12, 1, 9, 0);
        let err = w.e.record_attendance(booked[0].id, Attendance::Attended, &actor(), now).await.unwrap_err();
        assert!(err.to_string().contains("not started"), "{err}");
        for (a, att) in booked.iter().zip([Attendance::Attended, Attendance::Absent, Attendance::Attended, Attendance::Excused, Attendance::Attended]) {
            w.e.record_attendance(a.id, att, &actor(), later).await.unwrap();
        }
        let r = w.e.rates(p.id, 4, later).await.unwrap();
        // Last 4 weeks: 9, 16, 23, 30 Nov: attended 2 of 3 recorded (excused left out).
        assert_eq!((r.attended, r.attendance_recorded), (2, 3));
        assert_eq!((r.replied, r.asked), (2, 4));
        let r12 = w.e.rates(p.id, 12, later).await.unwrap();
        assert_eq!((r12.attended, r12.attendance_recorded, r12.replied, r12.asked), (3, 4, 3, 5));
        assert!(w.journal(p.id).await.iter().any(|e| e.kind == "attendance_recorded"));
    }
}

both_backends! {
    async fn plan_making_asks_when_to_leave_and_reminds_then(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        {
            let mut c = w.e.db.conn().await.unwrap();
            units::set_settings(&mut c, w.unit.id, Some(true), None, None).await.unwrap();
        }
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        w.say(p.id, "kommer", sthlm(2026, 12, 9, 12, 0)).await;
        assert!(w.receipt(p.id).await.ends_with("När behöver du gå hemifrån för att vara där i tid? Svara med en tid, t.ex. 08:15."));
        w.say(p.id, "10.15", sthlm(2026, 12, 9, 12, 5)).await;
        assert_eq!(w.receipt(p.id).await, "Vi påminner dig kl. 10:15 om att gå hemifrån.");
        let leave = w.rows(p.id).await.into_iter().find(|r| r.purpose == Purpose::Notice).unwrap();
        assert_eq!(leave.due_at, sthlm(2026, 12, 10, 10, 15));
        assert_eq!(leave.body.as_deref(), Some("Hej Ali! Dags att gå hemifrån nu, din tid är kl. 11:00."));
    }
}

both_backends! {
    async fn a_reply_to_a_summons_answers_the_summons(t) {
        let now = sthlm(2026, 12, 9, 12, 30);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        w.e.summon(p.id, "2h".parse().unwrap(), &actor(), now).await.unwrap();
        w.d.run_once(now).await.unwrap();
        w.say(p.id, "förhinder jobbar", now + Duration::minutes(5)).await;
        let tasks = w.tasks(p.id).await;
        assert_eq!((tasks.len(), tasks[0].kind), (1, TaskKind::Cannot));
        assert_eq!(tasks[0].detail["reason"], "jobbar");
    }
}

both_backends! {
    async fn the_inbound_row_keeps_the_journals_intent_and_an_expired_question_is_cleared_not_answered(t) {
        // The intent is decided before the inbound row is written (one
        // INSERT, no UPDATE), and the pending question is read once with
        // everything else: pin both against the journal.
        let now = sthlm(2026, 12, 7, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        {
            let mut c = w.e.db.conn().await.unwrap();
            rules::set(&mut c, w.unit.id, AppointmentKind::Meeting, &[Span::minutes(3 * 1440).unwrap()], true, None).await.unwrap();
        }
        let tue = w.book(p.id, sthlm(2026, 12, 8, 9, 0), now).await;
        let thu = w.book(p.id, sthlm(2026, 12, 10, 13, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 7, 13, 0)).await.unwrap();
        let t1 = sthlm(2026, 12, 7, 14, 0);
        w.say(p.id, "kan inte", t1).await; // asks which: a question for 24 h
        let questions = async || -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM pending_questions").fetch_one(&w.e.db.pool).await.unwrap()
        };
        assert_eq!(questions().await, 1);
        // 25 h later the question has expired: "2" is not an answer to it.
        let t2 = t1 + Duration::hours(25);
        w.say(p.id, "2", t2).await;
        assert_eq!(w.appt(&thu).await.reply, ReplyState::None);
        let tasks = w.tasks(p.id).await;
        assert_eq!((tasks[0].kind, tasks[0].detail["why"].as_str()), (TaskKind::NotUnderstood, Some("not understood")));
        assert_eq!(questions().await, 1, "an unanswered expired question stays until a reply clears it");
        // Tuesday has started: "ja" is about Thursday, and clears the expired question.
        w.say(p.id, "ja", t2 + Duration::minutes(1)).await;
        assert_eq!((w.appt(&tue).await.reply, w.appt(&thu).await.reply), (ReplyState::None, ReplyState::Coming));
        assert_eq!(questions().await, 0);
        let stored: Vec<serde_json::Value> = w.e.export(p.id, &actor(), t2).await.unwrap()["inbound"]
            .as_array().unwrap().iter().map(|i| i["intent"].clone()).collect();
        let journalled: Vec<serde_json::Value> = w.journal(p.id).await.into_iter()
            .filter(|e| e.kind == "inbound_message").map(|e| e.detail["intent"].clone()).collect();
        assert_eq!(stored, journalled);
        let names: Vec<&str> = stored.iter().map(|i| i["intent"].as_str().unwrap()).collect();
        assert_eq!(names, ["cannot", "choice", "coming"]);
    }
}

both_backends! {
    async fn a_replys_last_writes_are_the_same_rows_on_both_backends(t) {
        // On PostgreSQL the reply on the appointment, the task, the journal
        // event and the receipt are one statement; on SQLite the store
        // functions in turn. Pin every column they write.
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let lena = w.e.add_staff(&paminn::store::staff::NewStaff {
            unit: Some(w.unit.id), name: "Lena".into(), username: "lena".into(),
            role: paminn::domain::Role::Lots, language: paminn::domain::Language::Sv,
        }, &actor(), now).await.unwrap();
        let p = w.e.add_participant(&participants::NewParticipant {
            unit_id: w.unit.id, first_name: "Ali".into(),
            phone: Some(paminn::domain::PhoneNumber::parse("070-123 45 67").unwrap()),
            language: paminn::domain::Language::Sv, channel_pref: ChannelKind::Sms,
            time_zone: chrono_tz::Europe::Stockholm, discreet: true, lots_id: Some(lena.id),
        }, Some("sms".parse().unwrap()), &actor(), now).await.unwrap();
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let t1 = sthlm(2026, 12, 9, 11, 5);
        let Received::New(i1) = w.say(p.id, "förhinder, sjuk", t1).await else { panic!("new") };
        let Received::New(i2) = w.say(p.id, "vem är detta?", t1 + Duration::minutes(1)).await else { panic!("new") };
        let ms = |t: DateTime<Utc>| t.timestamp_millis();
        let pool = &w.e.db.pool;
        let appt: (String, Option<String>, Option<i64>, i64) =
            sqlx::query_as("SELECT reply, reply_reason, reply_at, updated_at FROM appointments WHERE id = $1")
                .bind(a.id.get()).fetch_one(pool).await.unwrap();
        assert_eq!(appt, ("cannot".into(), Some("sjuk".into()), Some(ms(t1)), ms(t1)));
        type TaskRow = (i64, i64, Option<i64>, String, String, Option<i64>, String, i64, Option<i64>);
        let tasks: Vec<TaskRow> = sqlx::query_as(
            "SELECT unit_id, participant_id, appointment_id, kind, detail, assigned_to, dedupe_key, created_at, done_at
             FROM tasks WHERE participant_id = $1 ORDER BY id")
            .bind(p.id.get()).fetch_all(pool).await.unwrap();
        let detail = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(tasks.len(), 2);
        let (u, pid, ta, kind, d, assigned, key, created, done) = tasks[0].clone();
        assert_eq!((u, pid, ta, kind.as_str(), assigned, key, created, done),
            (w.unit.id.get(), p.id.get(), Some(a.id.get()), "cannot", Some(lena.id.get()), format!("cannot:i{i1}"), ms(t1), None));
        assert_eq!(detail(&d), serde_json::json!({ "reason": "sjuk", "starts_at": sthlm(2026, 12, 10, 11, 0) }));
        let (_, _, ta, kind, d, assigned, key, created, _) = tasks[1].clone();
        assert_eq!((ta, kind.as_str(), assigned, key, created),
            (None, "not_understood", Some(lena.id.get()), format!("not_understood:i{i2}"), ms(t1 + Duration::minutes(1))));
        assert_eq!(detail(&d), serde_json::json!({ "text": "vem är detta?", "why": "not understood" }));
        type EventRow = (Option<i64>, i64, String, String, String);
        let events: Vec<EventRow> = sqlx::query_as(
            "SELECT appointment_id, at, actor, kind, detail FROM journal WHERE participant_id = $1 AND kind = 'inbound_message' ORDER BY id")
            .bind(p.id.get()).fetch_all(pool).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].0, events[0].1, events[0].2.as_str()), (Some(a.id.get()), ms(t1), "participant"));
        assert_eq!(detail(&events[0].4)["inbound_id"], i1);
        assert_eq!(detail(&events[0].4)["changed"]["reply"], "cannot");
        assert_eq!((events[1].0, detail(&events[1].4)["changed"]["task"].as_str()), (None, Some("not_understood")));
        type ReceiptRow = (Option<i64>, i64, i64, String, i64, i64, Option<i64>, i64, String, i64, i64, i64);
        let receipts: Vec<ReceiptRow> = sqlx::query_as(
            "SELECT appointment_id, plan_version, offset_min, channel, ask_reply, due_at, deadline_at, next_attempt_at,
                    status, attempts, created_at, updated_at
             FROM outbox WHERE participant_id = $1 AND purpose = 'receipt' ORDER BY id")
            .bind(p.id.get()).fetch_all(pool).await.unwrap();
        let t2 = ms(t1 + Duration::minutes(1));
        assert_eq!(receipts, [
            (None, 0, 0, "sms".into(), 0, ms(t1), None, ms(t1), "pending".into(), 0, ms(t1), ms(t1)),
            (None, 0, 0, "sms".into(), 0, t2, None, t2, "pending".into(), 0, t2, t2),
        ]);
    }
}

// ---------------------------------------------------------------------------
// Issue 14: coming late, shared phones.
// ---------------------------------------------------------------------------

impl World {
    /// A text from the participants' phone number, as an SMS gateway's
    /// webhook delivers it (every fixture participant has 070-123 45 67).
    async fn text_from_number(&self, text: &str, now: DateTime<Utc>) -> Received {
        let gw = format!("gw-{}", GW.fetch_add(1, Ordering::SeqCst));
        let phone = paminn::domain::PhoneNumber::parse("070-123 45 67").unwrap();
        self.e
            .receive_from_number(ChannelKind::Sms, &gw, &phone, text, now)
            .await
            .unwrap()
            .expect("somebody has the number")
    }

    async fn inbound_events(&self, p: ParticipantId) -> Vec<journal::Event> {
        self.journal(p)
            .await
            .into_iter()
            .filter(|e| e.kind == "inbound_message")
            .collect()
    }
}

both_backends! {
    async fn a_late_reply_is_coming_with_its_minutes_a_receipt_that_says_so_and_a_task_for_the_lots(t) {
        let now = sthlm(2026, 12, 9, 9, 0);
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let t1 = sthlm(2026, 12, 9, 11, 5);
        w.say(p.id, "Jag kommer 10 min sent", t1).await;
        let after = w.appt(&a).await;
        assert_eq!((after.reply, after.reply_late, after.reply_late_min), (ReplyState::Coming, true, Some(10)));
        assert_eq!(w.receipt(p.id).await,
            "Tack! Vi har noterat att du kommer imorgon torsdag 10 december kl. 11:00, ungefär 10 minuter sent.");
        let tasks = w.tasks(p.id).await;
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].kind, tasks[0].appointment_id), (TaskKind::ComingLate, Some(a.id)));
        assert_eq!(tasks[0].detail["minutes"], 10);
        let ev = w.inbound_events(p.id).await;
        assert_eq!(ev[0].detail["intent"], serde_json::json!({ "intent": "late", "minutes": 10 }));
        assert_eq!((ev[0].detail["changed"]["late"].as_bool(), ev[0].detail["changed"]["late_min"].as_i64()), (Some(true), Some(10)));
        // Without minutes, and then a plain "kommer" clears the lateness.
        w.say(p.id, "kommer lite sent", t1 + Duration::minutes(1)).await;
        let after = w.appt(&a).await;
        assert_eq!((after.reply, after.reply_late, after.reply_late_min), (ReplyState::Coming, true, None));
        assert_eq!(w.receipt(p.id).await,
            "Tack! Vi har noterat att du kommer imorgon torsdag 10 december kl. 11:00 men blir lite sen.");
        w.say(p.id, "kommer", t1 + Duration::minutes(2)).await;
        let after = w.appt(&a).await;
        assert_eq!((after.reply, after.reply_late, after.reply_late_min), (ReplyState::Coming, false, None));
        // The columns as written (one statement on PostgreSQL).
        let row: (String, i64, Option<i64>) = sqlx::query_as(
            "SELECT reply, reply_late, reply_late_min FROM appointments WHERE id = $1")
            .bind(a.id.get()).fetch_one(&w.e.db.pool).await.unwrap();
        assert_eq!(row, ("coming".into(), 0, None));
        // In English too.
        w.say(p.id, "LANGUAGE EN", t1 + Duration::minutes(3)).await;
        w.say(p.id, "yes but 15 minutes late", t1 + Duration::minutes(4)).await;
        assert_eq!(w.receipt(p.id).await,
            "Thank you! We have noted that you are coming tomorrow, Thursday 10 December at 11:00, about 15 minutes late.");
    }
}

both_backends! {
    async fn a_kommer_that_names_another_day_goes_to_a_person_and_one_for_the_asked_day_counts(t) {
        let now = sthlm(2026, 12, 9, 9, 0); // Wednesday
        let w = world(&t, now).await;
        let p = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
        let a = w.book(p.id, sthlm(2026, 12, 10, 11, 0), now).await; // Thursday
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let t1 = sthlm(2026, 12, 9, 11, 5);
        w.say(p.id, "kommer på fredag", t1).await;
        assert_eq!(w.appt(&a).await.reply, ReplyState::None);
        let tasks = w.tasks(p.id).await;
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].kind, TaskKind::NotUnderstood);
        assert_eq!(tasks[0].detail["text"], "kommer på fredag");
        w.say(p.id, "kommer i dag istället", t1 + Duration::minutes(1)).await;
        assert_eq!(w.appt(&a).await.reply, ReplyState::None);
        // The asked day, by weekday or as "imorgon", and its time, is a yes.
        w.say(p.id, "kommer på torsdag kl 11", t1 + Duration::minutes(2)).await;
        assert_eq!(w.appt(&a).await.reply, ReplyState::Coming);
        w.say(p.id, "förhinder", t1 + Duration::minutes(3)).await;
        w.say(p.id, "kmr imorgon", t1 + Duration::minutes(4)).await;
        assert_eq!(w.appt(&a).await.reply, ReplyState::Coming);
        w.say(p.id, "förhinder", t1 + Duration::minutes(5)).await;
        w.say(p.id, "kommer kl 14", t1 + Duration::minutes(6)).await;
        assert_eq!(w.appt(&a).await.reply, ReplyState::Cannot);
    }
}

both_backends! {
    async fn a_reply_from_a_shared_number_lands_with_the_participant_last_asked_in_any_unit(t) {
        let now = sthlm(2026, 12, 8, 9, 0);
        let w = world(&t, now).await;
        let other_unit = fx::unit(&w.e, "Krami", now).await;
        // Twin1 has an appointment and is asked; Twin2, in another unit and
        // added later (the newest with the number), is not.
        let twin1 = fx::participant(&w.e, &w.unit, "Twin1", "sms", now).await;
        let twin2 = fx::participant(&w.e, &other_unit, "Twin2", "sms", now).await;
        let a1 = w.book(twin1.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        w.text_from_number("kommer", sthlm(2026, 12, 9, 11, 5)).await;
        assert_eq!(w.appt(&a1).await.reply, ReplyState::Coming);
        assert_eq!(w.inbound_events(twin1.id).await.len(), 1);
        assert!(w.inbound_events(twin2.id).await.is_empty());
        // Now Twin2 is asked later: the next reply is Twin2's.
        let a2 = w.book(twin2.id, sthlm(2026, 12, 11, 11, 0), now).await;
        w.d.run_once(sthlm(2026, 12, 10, 11, 0)).await.unwrap();
        w.text_from_number("förhinder, sjuk", sthlm(2026, 12, 10, 11, 5)).await;
        let after = w.appt(&a2).await;
        assert_eq!((after.reply, after.reply_reason.as_deref()), (ReplyState::Cannot, Some("sjuk")));
        assert_eq!(w.appt(&a1).await.reply, ReplyState::Coming);
        assert_eq!(w.inbound_events(twin2.id).await.len(), 1);
        assert_eq!(w.inbound_events(twin1.id).await.len(), 1);
    }
}

both_backends! {
    async fn a_shared_number_nobody_was_asked_on_goes_to_a_person_not_a_guess(t) {
        let now = sthlm(2026, 12, 8, 9, 0);
        let w = world(&t, now).await;
        let twin1 = fx::participant(&w.e, &w.unit, "Twin1", "sms", now).await;
        let twin2 = fx::participant(&w.e, &w.unit, "Twin2", "sms", now).await;
        let a1 = w.book(twin1.id, sthlm(2026, 12, 10, 11, 0), now).await;
        let a2 = w.book(twin2.id, sthlm(2026, 12, 10, 13, 0), now).await;
        w.text_from_number("kommer", sthlm(2026, 12, 8, 10, 0)).await;
        assert_eq!((w.appt(&a1).await.reply, w.appt(&a2).await.reply), (ReplyState::None, ReplyState::None));
        let tasks: Vec<_> = [w.tasks(twin1.id).await, w.tasks(twin2.id).await].concat();
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0].kind, TaskKind::NotUnderstood);
        assert_eq!(tasks[0].detail["why"], "shared number");
        let ev: Vec<_> = [w.inbound_events(twin1.id).await, w.inbound_events(twin2.id).await].concat();
        assert_eq!(ev[0].detail["changed"]["shared_phone"], true);
        assert!(w.receipt(tasks[0].participant_id).await.contains("kontaktperson läser det"), "the participant is told a person reads it");
    }
}

both_backends! {
    async fn stopp_from_a_shared_number_stops_every_participant_with_it_and_no_reminder_goes_there(t) {
        let now = sthlm(2026, 12, 8, 9, 0);
        let w = world(&t, now).await;
        let other_unit = fx::unit(&w.e, "Krami", now).await;
        let twin1 = fx::participant(&w.e, &w.unit, "Twin1", "sms", now).await;
        let twin2 = fx::participant(&w.e, &other_unit, "Twin2", "sms", now).await;
        w.book(twin1.id, sthlm(2026, 12, 10, 11, 0), now).await;
        w.book(twin2.id, sthlm(2026, 12, 10, 13, 0), now).await;
        // STOPP comes before any reminder: nobody was asked on the number,
        // and it still stops both.
        let t1 = sthlm(2026, 12, 8, 10, 0);
        w.text_from_number("STOPP", t1).await;
        let mut c = w.e.db.conn().await.unwrap();
        for p in [twin1.id, twin2.id] {
            let opted = participants::get(&mut c, p).await.unwrap().opted_out;
            assert!(opted.contains(ChannelKind::Sms), "{p} still gets SMS");
        }
        drop(c);
        // Each case record says so: one STOPP reply, one entry for the other.
        let events: Vec<(ParticipantId, String)> = {
            let mut v = Vec::new();
            for p in [twin1.id, twin2.id] {
                for e in w.journal(p).await {
                    if e.kind == "inbound_message" || e.kind == "opted_out_shared_phone" {
                        v.push((p, e.kind));
                    }
                }
            }
            v
        };
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events.iter().any(|(_, k)| k == "opted_out_shared_phone"));
        assert_ne!(events[0].0, events[1].0);
        let stop_event = w.journal(events.iter().find(|(_, k)| k == "inbound_message").unwrap().0).await
            .into_iter().rfind(|e| e.kind == "inbound_message").unwrap();
        assert_eq!(stop_event.detail["changed"]["opted_out_sharing"], 2);
        // The STOPP receipt goes out; no reminder goes to the phone after it.
        let rep = w.d.run_once(t1).await.unwrap();
        assert_eq!(rep.sent, 1);
        let sent_before = w.rec.sent.lock().unwrap().len();
        let rep = w.d.run_once(sthlm(2026, 12, 10, 12, 0)).await.unwrap();
        assert_eq!((rep.sent, rep.suppressed), (0, 4), "both twins' 24h and 2h reminders");
        assert_eq!(w.rec.sent.lock().unwrap().len(), sent_before);
        for p in [twin1.id, twin2.id] {
            assert!(w.rows(p).await.iter().filter(|r| r.purpose == Purpose::Reminder)
                .all(|r| r.status == OutboxStatus::Suppressed));
        }
    }
}

both_backends! {
    async fn a_late_reply_shows_on_today_and_in_the_timeline_in_both_languages(t) {
        use chrono_tz::Europe::Stockholm;
        use paminn::domain::Role;
        let app = common::ui::spawn(&t, false).await;
        // Tomorrow 13:00 on the Stockholm wall clock, so /today lists it.
        let today = Utc::now().with_timezone(&Stockholm).date_naive();
        let at = |days: i64, h: u32| paminn::domain::schedule::resolve_local(
            (today + Duration::days(days)).and_hms_opt(h, 0, 0).unwrap(), Stockholm);
        let booked = at(-2, 9);
        let lisa = app.staff("lisa", Role::Lots, Some(app.unit.id)).await;
        let p = fx::participant(&app.engine, &app.unit, "Ali", "sms", booked).await;
        app.engine.assign_lots(p.id, Some(lisa.id), &actor(), booked).await.unwrap();
        let a = NewAppointment {
            participant_id: p.id, series_id: None, kind: AppointmentKind::Meeting,
            starts_at: at(1, 13), duration_min: 60, location: None, with_whom: None,
            internal_note: None, external_ref: None,
        };
        app.engine.create_appointment(&a, &actor(), booked).await.unwrap();
        let rec = Arc::new(Recorder::default());
        let d = Dispatcher::new(app.engine.clone(), fx::channels(&rec), DispatcherConfig { owner: "t".into(), ..Default::default() });
        d.run_once(at(0, 13)).await.unwrap();
        app.engine.receive(ChannelKind::Sms, "gw-late-1", p.id, "kommer 10 min sent", at(0, 13) + Duration::minutes(5)).await.unwrap();
        let mut b = app.login("lisa").await;
        let (_, today_page) = b.get("/today").await;
        assert!(today_page.contains("kommer, 10 min sent"), "{today_page}");
        assert!(today_page.contains("Kommer sent"), "the task: {today_page}");
        let (_, case) = b.get(&format!("/participants/{}", p.id)).await;
        assert!(case.contains("Svarade KOMMER, 10 MIN SENT"), "{case}");
        // In English, with the language switch.
        b.get("/lang/en").await;
        let (_, today_page) = b.get("/today").await;
        assert!(today_page.contains("coming, 10 min late"), "{today_page}");
        let (_, case) = b.get(&format!("/participants/{}", p.id)).await;
        assert!(case.contains("Replied COMING, 10 MIN LATE"), "{case}");
    }
}
