//! The reminder engine end to end on a real database (both backends):
//! planning, DST, cancel/move, gates at send time, retries, leases, series.

use crate::common;
use common::fx::actor;

use chrono::Duration;
use common::fx::{self, Recorder};
use common::{sthlm, utc};
use paminn::channels::SendError;
use paminn::domain::schedule::local;
use paminn::domain::{AppointmentKind, OutboxStatus, ParticipantStatus, Span};
use paminn::engine::dispatcher::{Dispatcher, DispatcherConfig};
use paminn::engine::{Actor, Engine};
use paminn::store::appointments::NewAppointment;
use paminn::store::outbox::{self, OutboxRow};
use paminn::store::series::SeriesTarget;
use paminn::store::{journal, participants, rules, series};
use std::sync::Arc;

fn appt(p: paminn::domain::ParticipantId, at: chrono::DateTime<chrono::Utc>) -> NewAppointment {
    NewAppointment {
        participant_id: p,
        series_id: None,
        kind: AppointmentKind::Meeting,
        starts_at: at,
        duration_min: 60,
        location: Some("Storgatan 1".into()),
        with_whom: Some("Sara".into()),
        internal_note: Some("never sent".into()),
        external_ref: None,
    }
}

async fn rows(e: &Engine) -> Vec<OutboxRow> {
    let mut c = e.db.conn().await.unwrap();
    outbox::list(&mut c, None).await.unwrap()
}

async fn events(e: &Engine, p: paminn::domain::ParticipantId) -> Vec<journal::Event> {
    let mut c = e.db.conn().await.unwrap();
    journal::list(&mut c, p).await.unwrap()
}

fn dispatcher(e: &Engine, rec: &Arc<Recorder>) -> Dispatcher {
    let cfg = DispatcherConfig {
        owner: "test-worker".into(),
        ..Default::default()
    };
    Dispatcher::new(e.clone(), fx::channels(rec), cfg)
}

both_backends! {
    async fn reminders_follow_the_wall_clock_on_both_dst_days(t) {
        let e = Engine::new(t.db.clone());
        let now = utc(2026, 3, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        // Spring: Sunday 29 March 11:00; the 24h reminder is Saturday 11:00
        // (23 real hours before), the 2h one 09:00 on the day.
        e.create_appointment(&appt(p.id, sthlm(2026, 3, 29, 11, 0)), &actor(), now).await.unwrap();
        // Autumn: Sunday 25 October 11:00; 24h before is 25 real hours.
        e.create_appointment(&appt(p.id, sthlm(2026, 10, 25, 11, 0)), &actor(), now).await.unwrap();
        let due: Vec<_> = rows(&e).await.iter().map(|r| local(r.due_at, p.time_zone).to_string()).collect();
        assert_eq!(due, [
            "2026-03-28 11:00:00", "2026-03-29 09:00:00",
            "2026-10-24 11:00:00", "2026-10-25 09:00:00",
        ]);
        let r = rows(&e).await;
        assert_eq!(sthlm(2026, 3, 29, 11, 0) - r[0].due_at, Duration::hours(23));
        assert_eq!(sthlm(2026, 10, 25, 11, 0) - r[2].due_at, Duration::hours(25));
    }
}

both_backends! {
    async fn a_weekly_series_keeps_local_time_across_dst_and_expands_idempotently(t) {
        let e = Engine::new(t.db.clone());
        let now = utc(2026, 3, 20, 12, 0);
        let u = fx::unit(&e, "BAS", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let cron = "30 2 * * SUN".parse().unwrap();
        e.create_series(u.id, SeriesTarget::Participant(p.id), AppointmentKind::DrugTest, &cron,
            p.time_zone, 15, None, Duration::days(14), &actor(), now).await.unwrap();
        // Expanding again (another instance, or the hourly job) adds nothing.
        assert_eq!(e.expand_series(now, Duration::days(14)).await.unwrap(), 0);
        let mut c = e.db.conn().await.unwrap();
        let appts = paminn::store::appointments::for_participant(&mut c, p.id, None).await.unwrap();
        let starts: Vec<_> = appts.iter().map(|a| local(a.starts_at, p.time_zone).to_string()).collect();
        // 29 March 02:30 does not exist: it moves forward to 03:00.
        assert_eq!(starts, ["2026-03-22 02:30:00", "2026-03-29 03:00:00"]);
        // Autumn: 25 October 02:30 happens twice; the series fires once.
        let now = utc(2026, 10, 20, 12, 0);
        e.expand_series(now, Duration::days(14)).await.unwrap();
        let appts = paminn::store::appointments::for_participant(&mut c, p.id, Some(now)).await.unwrap();
        let starts: Vec<_> = appts.iter().map(|a| a.starts_at).collect();
        assert_eq!(starts, [utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]);
    }
}

both_backends! {
    async fn a_group_series_gives_every_current_member_their_own_appointment(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 12, 0);
        let u = fx::unit(&e, "Krami", now).await;
        let a = fx::participant(&e, &u, "Ali", "sms", now).await;
        let b = fx::participant(&e, &u, "Bea", "sms", now).await;
        let _c = fx::participant(&e, &u, "Cem", "sms", now).await;
        let g = {
            let mut c = e.db.conn().await.unwrap();
            let g = series::create_group(&mut c, u.id, "Budgetkurs", now).await.unwrap();
            series::add_member(&mut c, g, a.id, now).await.unwrap();
            series::add_member(&mut c, g, b.id, now).await.unwrap();
            g
        };
        let cron = "0 13 * * THU".parse().unwrap();
        e.create_series(u.id, SeriesTarget::Group(g), AppointmentKind::GroupActivity, &cron,
            u.time_zone, 90, Some("Lokalen".into()), Duration::days(14), &actor(), now).await.unwrap();
        let per: Vec<usize> = {
            let mut c = e.db.conn().await.unwrap();
            let mut v = vec![];
            for p in [a.id, b.id, _c.id] {
                v.push(paminn::store::appointments::for_participant(&mut c, p, None).await.unwrap().len());
            }
            v
        };
        assert_eq!(per, [2, 2, 0]);
    }
}

both_backends! {
    async fn cancel_and_move_clear_pending_rows_and_nothing_is_planned_twice(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 12, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let a = e.create_appointment(&appt(p.id, sthlm(2026, 12, 10, 11, 0)), &actor(), now).await.unwrap();
        assert_eq!(rows(&e).await.len(), 2);
        // Planning the same version again inserts nothing.
        {
            let mut c = e.db.conn().await.unwrap();
            let a = paminn::store::appointments::get(&mut c, a.id).await.unwrap();
            assert_eq!(paminn::engine::planner::plan_appointment(&mut c, &a, now).await.unwrap(), 0);
        }
        assert_eq!(rows(&e).await.len(), 2);
        // Move: the old two are cancelled, two new ones planned for the new time.
        e.move_appointment(a.id, sthlm(2026, 12, 17, 11, 0), &actor(), now).await.unwrap();
        let r = rows(&e).await;
        let by_status = |s: OutboxStatus| r.iter().filter(|x| x.status == s).count();
        assert_eq!((by_status(OutboxStatus::Cancelled), by_status(OutboxStatus::Pending)), (2, 2));
        assert!(r.iter().filter(|x| x.status == OutboxStatus::Pending)
            .all(|x| x.due_at > sthlm(2026, 12, 16, 0, 0)));
        // Cancel: nothing pending remains, and the dispatcher sends nothing.
        e.cancel_appointment(a.id, &actor(), now).await.unwrap();
        assert!(rows(&e).await.iter().all(|x| x.status == OutboxStatus::Cancelled));
        let rec = Arc::new(Recorder::default());
        let rep = dispatcher(&e, &rec).run_once(sthlm(2026, 12, 18, 0, 0)).await.unwrap();
        assert_eq!(rep.claimed, 0);
        let kinds: Vec<String> = events(&e, p.id).await.into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"appointment_moved".to_string()));
        assert!(kinds.contains(&"appointment_cancelled".to_string()));
    }
}

both_backends! {
    async fn a_due_reminder_is_rendered_discreetly_and_sent_once(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 9, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        e.create_appointment(&appt(p.id, sthlm(2026, 12, 10, 11, 0)), &actor(), now).await.unwrap();
        let rec = Arc::new(Recorder::default());
        let d = dispatcher(&e, &rec);
        // Nothing is due yet.
        assert_eq!(d.run_once(now).await.unwrap().claimed, 0);
        let rep = d.run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        assert_eq!((rep.claimed, rep.sent), (1, 1));
        let sent = rec.sent.lock().unwrap().clone();
        assert_eq!(sent[0].to, "+46701234567");
        assert_eq!(sent[0].body,
            "Hej Ali! Påminnelse: du har en tid imorgon torsdag 10 december kl. 11:00. Svara KOMMER eller FÖRHINDER.");
        assert!(!sent[0].body.contains("Storgatan") && !sent[0].body.contains("never sent"));
        // Running again sends nothing more.
        assert_eq!(d.run_once(sthlm(2026, 12, 9, 11, 1)).await.unwrap().claimed, 0);
        let r = rows(&e).await;
        assert_eq!(r[0].status, OutboxStatus::Sent);
        assert_eq!(r[0].gateway_id.as_deref(), Some("rec-1"));
        assert!(events(&e, p.id).await.iter().any(|e| e.kind == "message_sent"));
    }
}

both_backends! {
    async fn consent_withdrawn_or_status_changed_after_planning_suppresses_with_the_reason(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let ali = fx::participant(&e, &u, "Ali", "sms", now).await;
        let bea = fx::participant(&e, &u, "Bea", "sms", now).await;
        e.create_appointment(&appt(ali.id, sthlm(2026, 12, 10, 11, 0)), &actor(), now).await.unwrap();
        e.create_appointment(&appt(bea.id, sthlm(2026, 12, 10, 11, 0)), &actor(), now).await.unwrap();
        e.withdraw_consent(ali.id, &actor(), now + Duration::hours(1)).await.unwrap();
        e.set_status(bea.id, ParticipantStatus::InCustody, &actor(), now + Duration::hours(1)).await.unwrap();
        let rec = Arc::new(Recorder::default());
        let rep = dispatcher(&e, &rec).run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        assert_eq!((rep.claimed, rep.suppressed, rep.sent), (2, 2, 0));
        assert!(rec.sent.lock().unwrap().is_empty());
        let reason = |evs: Vec<journal::Event>| {
            evs.into_iter().find(|e| e.kind == "message_suppressed").unwrap().detail["reason"].clone()
        };
        assert_eq!(reason(events(&e, ali.id).await), "consent was withdrawn");
        assert_eq!(reason(events(&e, bea.id).await), "participant is in_custody, not active");
        assert!(rows(&e).await.iter().filter(|r| r.status == OutboxStatus::Suppressed).all(|r| r.body.is_none()));
    }
}

both_backends! {
    async fn temporary_failures_retry_with_backoff_and_stop_at_the_budget(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        {
            let mut c = e.db.conn().await.unwrap();
            rules::set(&mut c, u.id, AppointmentKind::Meeting, &[Span::minutes(120).unwrap()], true, None).await.unwrap();
        }
        e.create_appointment(&appt(p.id, sthlm(2026, 12, 10, 16, 0)), &actor(), now).await.unwrap();
        let rec = Arc::new(Recorder::default());
        *rec.always_fail.lock().unwrap() = Some(SendError::Temporary("gateway 503".into()));
        let d = dispatcher(&e, &rec);
        let mut t_now = sthlm(2026, 12, 10, 14, 0);
        let mut gaps = vec![];
        for attempt in 1..=5 {
            let rep = d.run_once(t_now).await.unwrap();
            assert_eq!(rep.claimed, 1, "attempt {attempt}");
            let r = rows(&e).await.remove(0);
            assert_eq!(r.attempts, attempt);
            if attempt < 5 {
                assert_eq!(r.status, OutboxStatus::Pending);
                gaps.push((r.next_attempt_at - t_now).num_seconds());
                // Not due before its backoff...
                assert_eq!(d.run_once(r.next_attempt_at - Duration::seconds(1)).await.unwrap().claimed, 0);
                t_now = r.next_attempt_at;
            } else {
                assert_eq!(r.status, OutboxStatus::Failed);
                assert!(r.last_error.unwrap().contains("gave up after 5 attempts"));
            }
        }
        // 30 s, 60 s, 120 s, 240 s, each ±20 %.
        for (i, g) in gaps.iter().enumerate() {
            let base = 30 * (1 << i);
            assert!(*g >= base * 8 / 10 && *g <= base * 12 / 10, "gap {i}: {g}s");
        }
        let failed: Vec<_> = events(&e, p.id).await.into_iter().filter(|e| e.kind == "delivery_failed").collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].detail["attempts"], 5);
        // The failed row is final: nothing more is claimed.
        *rec.always_fail.lock().unwrap() = None;
        assert_eq!(d.run_once(t_now + Duration::hours(1)).await.unwrap().claimed, 0);
    }
}

both_backends! {
    async fn a_lease_that_runs_out_is_claimed_again_and_the_late_worker_cannot_overwrite(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        {
            let mut c = e.db.conn().await.unwrap();
            rules::set(&mut c, u.id, AppointmentKind::Meeting, &[Span::minutes(120).unwrap()], true, None).await.unwrap();
        }
        e.create_appointment(&appt(p.id, sthlm(2026, 12, 10, 16, 0)), &actor(), now).await.unwrap();
        let due = sthlm(2026, 12, 10, 14, 0);
        // A worker claims the row and dies without a word.
        let dead = outbox::claim(&e.db, "dead-worker", due, due + Duration::seconds(60), 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        let rec = Arc::new(Recorder::default());
        let d = dispatcher(&e, &rec);
        // While the lease holds, nobody else takes it.
        assert_eq!(d.run_once(due + Duration::seconds(59)).await.unwrap().claimed, 0);
        // After it runs out, the row is claimed again and sent.
        let rep = d.run_once(due + Duration::seconds(61)).await.unwrap();
        assert_eq!((rep.claimed, rep.sent), (1, 1));
        let r = rows(&e).await.remove(0);
        assert_eq!((r.status, r.attempts), (OutboxStatus::Sent, 2));
        // The dead worker wakes up and tries to record a failure: refused.
        let mut c = e.db.conn().await.unwrap();
        let kept = outbox::finish(&mut c, dead[0].id, &dead[0].claim_token,
            &outbox::Outcome::Failed { error: "late".into(), body: None, kind: paminn::domain::FailureKind::Rejected }, due + Duration::seconds(90)).await.unwrap();
        assert!(!kept);
        assert_eq!(rows(&e).await.remove(0).status, OutboxStatus::Sent);
    }
}

both_backends! {
    async fn quiet_hours_at_send_time_defer_without_using_an_attempt(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 9, 19, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        e.create_appointment(&appt(p.id, sthlm(2026, 12, 10, 11, 0)), &actor(), now).await.unwrap();
        // The 24h reminder was due at 19:00 (at once). The dispatcher was
        // down until 23:00: quiet hours, so it waits until 08:00.
        let rec = Arc::new(Recorder::default());
        let d = dispatcher(&e, &rec);
        let rep = d.run_once(sthlm(2026, 12, 9, 23, 0)).await.unwrap();
        assert_eq!((rep.claimed, rep.deferred), (1, 1));
        let r = rows(&e).await.into_iter().find(|r| r.status == OutboxStatus::Pending && r.next_attempt_at == sthlm(2026, 12, 10, 8, 0));
        assert_eq!(r.map(|r| r.attempts), Some(0));
        let rep = d.run_once(sthlm(2026, 12, 10, 8, 0)).await.unwrap();
        assert_eq!(rep.sent, 1);
    }
}

both_backends! {
    async fn a_summons_goes_at_once_with_its_deadline_and_is_refused_in_quiet_hours(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 9, 12, 30);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let nobody = fx::participant(&e, &u, "Bo", "", now).await;
        // Nothing about it exists before it is issued.
        assert!(rows(&e).await.is_empty());
        e.summon(p.id, "2h".parse().unwrap(), &actor(), now).await.unwrap();
        let rec = Arc::new(Recorder::default());
        let rep = dispatcher(&e, &rec).run_once(now).await.unwrap();
        assert_eq!(rep.sent, 1);
        assert_eq!(rec.sent.lock().unwrap()[0].body,
            "Hej Ali! Du behöver komma in idag inom 2 timmar, senast kl. 14:30. Svara KOMMER eller FÖRHINDER.");
        let err = e.summon(p.id, "2h".parse().unwrap(), &actor(), sthlm(2026, 12, 9, 22, 0)).await.unwrap_err();
        assert!(err.to_string().contains("quiet hours"), "{err}");
        let err = e.summon(nobody.id, "2h".parse().unwrap(), &actor(), now).await.unwrap_err();
        assert!(err.to_string().contains("no consent"), "{err}");
    }
}

both_backends! {
    async fn an_external_ref_makes_creation_idempotent_and_a_changed_time_a_move(t) {
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let mut a = appt(p.id, sthlm(2026, 12, 10, 11, 0));
        a.external_ref = Some("AF-123".into());
        let (first, what) = e.upsert_appointment(u.id, &a, &actor(), now).await.unwrap();
        assert_eq!(what, paminn::engine::appointments::Upsert::Created);
        let (again, what) = e.upsert_appointment(u.id, &a, &actor(), now).await.unwrap();
        assert_eq!((again.id, what), (first.id, paminn::engine::appointments::Upsert::Unchanged));
        a.starts_at = sthlm(2026, 12, 11, 11, 0);
        let (moved, what) = e.upsert_appointment(u.id, &a, &actor(), now).await.unwrap();
        assert_eq!((moved.id, what), (first.id, paminn::engine::appointments::Upsert::Updated));
        assert_eq!(moved.starts_at, sthlm(2026, 12, 11, 11, 0));
        let pending = rows(&e).await.into_iter().filter(|r| r.status == OutboxStatus::Pending).count();
        assert_eq!(pending, 2);
        let other = fx::participant(&e, &u, "Bea", "sms", now).await;
        a.participant_id = other.id;
        let err = e.upsert_appointment(u.id, &a, &actor(), now).await.unwrap_err();
        assert!(err.to_string().contains("another participant"), "{err}");
        let mut c = e.db.conn().await.unwrap();
        assert_eq!(participants::list(&mut c, Some(u.id)).await.unwrap().len(), 2);
    }
}

both_backends! {
    async fn delivery_receipts_only_move_forward(t) {
        use paminn::domain::ChannelKind;
        let e = Engine::new(t.db.clone());
        let now = sthlm(2026, 12, 9, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        e.create_appointment(&appt(p.id, sthlm(2026, 12, 10, 11, 0)), &actor(), now).await.unwrap();
        let rec = Arc::new(Recorder::default());
        dispatcher(&e, &rec).run_once(sthlm(2026, 12, 9, 11, 0)).await.unwrap();
        let mut c = e.db.conn().await.unwrap();
        let later = sthlm(2026, 12, 9, 11, 1);
        assert_eq!(outbox::apply_receipt(&mut c, ChannelKind::Sms, "rec-1", OutboxStatus::Delivered, later).await.unwrap(),
            Some(OutboxStatus::Delivered));
        // A late "sent" (webhooks arrive out of order) changes nothing.
        assert_eq!(outbox::apply_receipt(&mut c, ChannelKind::Sms, "rec-1", OutboxStatus::Sent, later).await.unwrap(),
            Some(OutboxStatus::Delivered));
        assert_eq!(outbox::apply_receipt(&mut c, ChannelKind::Sms, "rec-1", OutboxStatus::Failed, later).await.unwrap(),
            Some(OutboxStatus::Delivered));
        assert_eq!(outbox::apply_receipt(&mut c, ChannelKind::Sms, "unknown", OutboxStatus::Delivered, later).await.unwrap(), None);
        let row = rows(&e).await.into_iter().find(|r| r.gateway_id.as_deref() == Some("rec-1")).unwrap();
        assert_eq!(row.status, OutboxStatus::Delivered);
    }
}

both_backends! {
    async fn a_failure_is_stored_with_its_kind_and_monitoring_reads_the_kind(t) {
        // The gateway's words for an invalid number are read once, where the
        // gateway answers (SendError::InvalidNumber); what is stored is the
        // kind, and the number check reads that, whatever the text says.
        let e = Engine::new(t.db.clone());
        let now = utc(2026, 12, 1, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let q = fx::participant(&e, &u, "Bea", "sms", now).await;
        let rec = Arc::new(Recorder::default());
        let d = dispatcher(&e, &rec);
        *rec.always_fail.lock().unwrap() = Some(SendError::InvalidNumber("HTTP 400: något nytt".into()));
        e.create_appointment(&appt(p.id, now + Duration::hours(30)), &actor(), now).await.unwrap();
        d.run_once(now + Duration::hours(7)).await.unwrap();
        *rec.always_fail.lock().unwrap() = Some(SendError::Permanent("Invalid to number".into()));
        e.create_appointment(&appt(q.id, now + Duration::hours(30)), &actor(), now).await.unwrap();
        d.run_once(now + Duration::hours(8)).await.unwrap();
        let mut c = e.db.conn().await.unwrap();
        let kinds: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT participant_id, status, error_kind FROM outbox WHERE status = 'failed' ORDER BY participant_id, id")
            .fetch_all(&mut *c).await.unwrap();
        assert_eq!(kinds.iter().map(|k| k.0).collect::<Vec<_>>(), [p.id.get(), q.id.get()]);
        for (who, status, kind) in &kinds {
            assert_eq!(status, "failed");
            let want = if *who == p.id.get() { "invalid_number" } else { "rejected" };
            assert_eq!(kind.as_deref(), Some(want), "participant {who}");
        }
        // Ali's number is flagged as invalid; Bea's rejection, whose text
        // happens to look like one, is not.
        let issues = paminn::store::ui_monitoring::number_issues(&mut c, Some(u.id)).await.unwrap();
        let flagged: Vec<_> = issues.iter().map(|i| i.participant_id).collect();
        assert_eq!(flagged, [p.id]);
    }
}

both_backends! {
    async fn a_read_of_personal_data_is_returned_only_with_its_audit_row(t) {
        use paminn::engine::reads::Viewed;
        use paminn::store::audit;
        let e = Engine::new(t.db.clone());
        let now = utc(2026, 12, 9, 9, 0);
        let u = fx::unit(&e, "Chansen", now).await;
        let p = fx::participant(&e, &u, "Ali", "sms", now).await;
        let actor = Actor("staff:7".into());
        let id = p.id;
        let seen = e.read_audited(&actor, now, async |c| {
            let p = participants::get(c, id).await?;
            Ok((p, Viewed::participant("case.view", id)))
        }).await.unwrap();
        assert_eq!(seen.first_name, "Ali");
        let doc = e.export(p.id, &actor, now).await.unwrap();
        assert_eq!(doc["participant"]["first_name"], "Ali");
        let mut c = e.db.conn().await.unwrap();
        assert_eq!(audit::count(&mut c, "case.view").await.unwrap(), 1);
        assert_eq!(audit::count(&mut c, "participant.export").await.unwrap(), 1);
        // A read that is not there writes nothing.
        let missing = paminn::domain::ParticipantId::from_db(999);
        assert!(e.read_audited(&actor, now, async |c| {
            let p = participants::get(c, missing).await?;
            Ok((p, Viewed::participant("case.view", missing)))
        }).await.is_err());
        assert_eq!(audit::count(&mut c, "case.view").await.unwrap(), 1);
        // When the audit row cannot be written, no data comes back.
        sqlx::query("ALTER TABLE audit RENAME TO audit_away").execute(&mut *c).await.unwrap();
        drop(c);
        assert!(e.read_audited(&actor, now, async |c| {
            let p = participants::get(c, id).await?;
            Ok((p, Viewed::participant("case.view", id)))
        }).await.is_err());
        assert!(e.export(id, &actor, now).await.is_err());
    }
}

/// Five reminders for one participant, due 14:00, 14:10, … 14:40 on
/// 10 December (appointments from 16:00); all due and ahead at 15:30.
async fn five_due(e: &Engine) -> paminn::domain::ParticipantId {
    let now = sthlm(2026, 12, 1, 9, 0);
    let u = fx::unit(e, "Chansen", now).await;
    let p = fx::participant(e, &u, "Ali", "sms", now).await;
    {
        let mut c = e.db.conn().await.unwrap();
        rules::set(
            &mut c,
            u.id,
            AppointmentKind::Meeting,
            &[Span::minutes(120).unwrap()],
            true,
            None,
        )
        .await
        .unwrap();
    }
    for i in 0..5 {
        e.create_appointment(
            &appt(p.id, sthlm(2026, 12, 10, 16, 0) + Duration::minutes(10 * i)),
            &actor(),
            now,
        )
        .await
        .unwrap();
    }
    p.id
}

both_backends! {
    async fn a_grouped_record_writes_every_kind_but_not_a_row_another_claimer_took(t) {
        let e = Engine::new(t.db.clone());
        five_due(&e).await;
        let due = sthlm(2026, 12, 10, 15, 30);
        let mine = outbox::claim(&e.db, "w1", due, due + Duration::seconds(60), 10).await.unwrap();
        assert_eq!(mine.len(), 5);
        // Our lease runs out and another instance takes one of the rows.
        let theirs = outbox::claim(&e.db, "w2", due + Duration::seconds(61), due + Duration::seconds(121), 1)
            .await.unwrap();
        assert_eq!(theirs.len(), 1);
        use outbox::Outcome;
        let outcomes = [
            Outcome::Sent { gateway_id: "g-0".into(), body: "Hej".into(), encoding: Some("gsm7"),
                parts: Some(1), cost: None, currency: None },
            Outcome::Suppressed { reason: "consent withdrawn".into() },
            Outcome::Retry { at: due + Duration::minutes(5), error: "timeout".into() },
            Outcome::Defer { until: due + Duration::hours(17) },
            Outcome::Sent { gateway_id: "g-4".into(), body: "Hej".into(), encoding: None,
                parts: None, cost: Some(350), currency: Some("SEK".into()) },
        ];
        let group: Vec<outbox::Finish> = mine.iter().zip(&outcomes)
            .map(|(c, o)| outbox::Finish { id: c.id, claim_token: &c.claim_token, outcome: o, at: due + Duration::seconds(70) })
            .collect();
        let mut tx = e.db.begin().await.unwrap();
        let kept = outbox::finish_group(&mut tx, &group).await.unwrap();
        tx.commit().await.unwrap();
        let expected: Vec<bool> = mine.iter().map(|c| c.id != theirs[0].id).collect();
        assert_eq!(kept, expected, "only the row still ours is written");
        let all = rows(&e).await;
        for (c, o) in mine.iter().zip(&outcomes) {
            let r = all.iter().find(|r| r.id == c.id).unwrap();
            if c.id == theirs[0].id {
                // Untouched: still the other instance's, with its attempt.
                assert_eq!((r.status, r.attempts, r.gateway_id.as_deref()), (OutboxStatus::Sending, 2, None));
                continue;
            }
            match o {
                Outcome::Sent { gateway_id, cost, .. } => {
                    assert_eq!(r.status, OutboxStatus::Sent);
                    assert_eq!(r.gateway_id.as_deref(), Some(gateway_id.as_str()));
                    assert_eq!(r.cost, *cost);
                    assert_eq!(r.sent_at, Some(due + Duration::seconds(70)));
                }
                Outcome::Suppressed { reason } => {
                    assert_eq!(r.status, OutboxStatus::Suppressed);
                    assert_eq!(r.last_error.as_deref(), Some(reason.as_str()));
                }
                Outcome::Retry { at, .. } => {
                    assert_eq!((r.status, r.next_attempt_at, r.attempts), (OutboxStatus::Pending, *at, 1));
                }
                Outcome::Defer { until } => {
                    // No attempt used.
                    assert_eq!((r.status, r.next_attempt_at, r.attempts), (OutboxStatus::Pending, *until, 0));
                }
                Outcome::Failed { .. } => unreachable!(),
            }
        }
        // Recording the same group again writes nothing: the claims are spent.
        let mut tx = e.db.begin().await.unwrap();
        let again = outbox::finish_group(&mut tx, &group).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(again, vec![false; 5]);
    }
}

/// A gateway that, when asked to send row `steal`, first lets another
/// instance take that row over (as when our lease ran out mid-send), then
/// accepts everything. Taking it over inside that row's own send makes the
/// order certain: the row's outcome can only be recorded after the
/// takeover. (Taking it over on whichever send came first raced with the
/// grouped writer, which could record the row before the takeover.)
struct Thief {
    db: paminn::store::Db,
    steal: std::sync::Mutex<Option<i64>>,
    inner: Arc<Recorder>,
}

#[async_trait::async_trait]
impl paminn::channels::Transport for Thief {
    fn name(&self) -> &'static str {
        "thief"
    }
    async fn send(
        &self,
        msg: &paminn::channels::OutgoingMessage,
    ) -> Result<paminn::channels::Accepted, SendError> {
        let steal = {
            let mut s = self.steal.lock().unwrap();
            if *s == Some(msg.outbox_id.get()) {
                s.take()
            } else {
                None
            }
        };
        if let Some(id) = steal {
            sqlx::query(
                "UPDATE outbox SET claim_token = 'theirs', lease_owner = 'w2' WHERE id = $1",
            )
            .bind(id)
            .execute(&self.db.pool)
            .await
            .unwrap();
        }
        self.inner.send(msg).await
    }
}

both_backends! {
    async fn a_batch_journals_each_sent_message_once_and_skips_a_row_taken_meanwhile(t) {
        let e = Engine::new(t.db.clone());
        let p = five_due(&e).await;
        let stolen = rows(&e).await[2].id;
        let rec = Arc::new(Recorder::default());
        let thief = Arc::new(Thief { db: e.db.clone(), steal: std::sync::Mutex::new(Some(stolen.get())), inner: rec.clone() });
        let channels = Arc::new(paminn::channels::Channels::new().with(paminn::domain::ChannelKind::Sms, thief));
        let d = Dispatcher::new(e.clone(), channels, DispatcherConfig { owner: "w1".into(), ..Default::default() });
        let rep = d.run_once(sthlm(2026, 12, 10, 15, 30)).await.unwrap();
        // All five went to the gateway; the one taken over is not ours to record.
        assert_eq!((rep.claimed, rep.sent, rep.lost), (5, 4, 1));
        assert_eq!(rec.sent.lock().unwrap().len(), 5);
        let all = rows(&e).await;
        for r in &all {
            let want = if r.id == stolen { OutboxStatus::Sending } else { OutboxStatus::Sent };
            assert_eq!(r.status, want, "row {}", r.id);
        }
        // Exactly one journal entry per message recorded as sent, none for
        // the row taken over.
        let sent_entries: Vec<_> = events(&e, p).await.iter().filter_map(|ev| match ev.event() {
            Some(paminn::domain::journal::JournalEvent::MessageSent { outbox_id, .. }) => outbox_id,
            _ => None,
        }).collect();
        let mut want: Vec<_> = all.iter().filter(|r| r.status == OutboxStatus::Sent).map(|r| r.id).collect();
        let mut got = sent_entries.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want);
        assert!(!sent_entries.contains(&stolen));
    }
}

/// A gateway that holds the send of row `held` until a row of a later
/// batch (any row not in `first_batch`) has been sent. With one batch at a
/// time this could never finish; with batches streamed it does.
struct HoldUntilNextBatch {
    held: i64,
    first_batch: Vec<i64>,
    later_sent: tokio::sync::Notify,
    inner: Arc<Recorder>,
}

#[async_trait::async_trait]
impl paminn::channels::Transport for HoldUntilNextBatch {
    fn name(&self) -> &'static str {
        "hold"
    }
    async fn send(
        &self,
        msg: &paminn::channels::OutgoingMessage,
    ) -> Result<paminn::channels::Accepted, SendError> {
        let id = msg.outbox_id.get();
        if id == self.held {
            self.later_sent.notified().await;
        }
        let r = self.inner.send(msg).await;
        if !self.first_batch.contains(&id) {
            // Stored if the held send is not waiting yet.
            self.later_sent.notify_one();
        }
        r
    }
}

both_backends! {
    async fn drain_sends_every_due_row_once_batch_after_batch_and_run_once_only_one_batch(t) {
        let e = Engine::new(t.db.clone());
        let p = five_due(&e).await;
        let due = sthlm(2026, 12, 10, 15, 30);
        let rec = Arc::new(Recorder::default());
        let cfg = DispatcherConfig { owner: "w1".into(), batch_size: 2, concurrency: 2, ..Default::default() };
        let d = Dispatcher::new(e.clone(), fx::channels(&rec), cfg);
        // One batch: two of the five.
        let rep = d.run_once(due).await.unwrap();
        assert_eq!((rep.claimed, rep.sent), (2, 2));
        // The rest in one drain: claims of 2 and 1, the short one ends it.
        let rep = d.drain(due).await.unwrap();
        assert_eq!((rep.claimed, rep.sent, rep.lost), (3, 3, 0));
        let all = rows(&e).await;
        assert!(all.iter().all(|r| r.status == OutboxStatus::Sent), "{all:?}");
        let mut sent: Vec<i64> = rec.sent.lock().unwrap().iter().map(|m| m.outbox_id.get()).collect();
        sent.sort();
        let mut want: Vec<i64> = all.iter().map(|r| r.id.get()).collect();
        want.sort();
        assert_eq!(sent, want, "each row reached the gateway once");
        let journaled = events(&e, p).await.iter().filter(|ev| matches!(ev.event(),
            Some(paminn::domain::journal::JournalEvent::MessageSent { .. }))).count();
        assert_eq!(journaled, 5, "one journal entry per message");
        // Nothing left: an empty drain claims nothing.
        assert_eq!(d.drain(due).await.unwrap().claimed, 0);
    }
}

both_backends! {
    async fn drain_claims_the_next_batch_while_a_slow_send_of_the_current_one_is_under_way(t) {
        let e = Engine::new(t.db.clone());
        five_due(&e).await;
        let due = sthlm(2026, 12, 10, 15, 30);
        // The first batch (batch_size 2) is the two rows due first.
        let mut due_rows = rows(&e).await;
        due_rows.retain(|r| r.next_attempt_at <= due);
        due_rows.sort_by_key(|r| (r.next_attempt_at, r.id));
        assert_eq!(due_rows.len(), 5);
        let first_batch: Vec<i64> = due_rows[..2].iter().map(|r| r.id.get()).collect();
        let rec = Arc::new(Recorder::default());
        let hold = Arc::new(HoldUntilNextBatch {
            held: first_batch[0],
            first_batch: first_batch.clone(),
            later_sent: tokio::sync::Notify::new(),
            inner: rec.clone(),
        });
        let channels = Arc::new(paminn::channels::Channels::new().with(paminn::domain::ChannelKind::Sms, hold));
        let cfg = DispatcherConfig { owner: "w1".into(), batch_size: 2, concurrency: 4, ..Default::default() };
        let d = Dispatcher::new(e.clone(), channels, cfg);
        // A guard, not a timing: one batch at a time would wait forever.
        let rep = tokio::time::timeout(std::time::Duration::from_secs(30), d.drain(due))
            .await
            .expect("the held send was released by a row of a later batch");
        let rep = rep.unwrap();
        assert_eq!((rep.claimed, rep.sent), (5, 5));
        let order: Vec<i64> = rec.sent.lock().unwrap().iter().map(|m| m.outbox_id.get()).collect();
        let held_at = order.iter().position(|&id| id == first_batch[0]).unwrap();
        assert!(order[..held_at].iter().any(|id| !first_batch.contains(id)),
            "a row of a later batch went out before the first batch's held row: {order:?}");
        assert!(rows(&e).await.iter().all(|r| r.status == OutboxStatus::Sent));
    }
}

both_backends! {
    /// The real sandbox transport writes each message in a transaction of
    /// its own (grouped with others), and the dispatcher's writer needs the
    /// same write lock on SQLite. A first version of the streamed drain
    /// made a finished send wait for the writer while the writer waited for
    /// that send's transaction, and stalled (here: once in three runs on
    /// SQLite, and every time in the benchmark); this drives several
    /// batches through the sandbox and checks every row arrives once.
    async fn a_drain_through_the_sandbox_phone_sends_every_row_once_across_many_batches(t) {
        let e = Engine::new(t.db.clone());
        let n = many_due(&e, 60).await;
        let sandbox = Arc::new(paminn::channels::sandbox::Sandbox::new(e.db.clone(), std::time::Duration::ZERO));
        let channels = Arc::new(paminn::channels::Channels::new().with(paminn::domain::ChannelKind::Sms, sandbox));
        let cfg = DispatcherConfig { owner: "w1".into(), batch_size: 50, concurrency: 32, ..Default::default() };
        let d = Dispatcher::new(e.clone(), channels, cfg);
        // A guard, not a timing: the stalled version never finished.
        let rep = tokio::time::timeout(std::time::Duration::from_secs(60), d.drain(sthlm(2026, 12, 10, 15, 30)))
            .await
            .expect("the drain finished")
            .unwrap();
        assert_eq!((rep.claimed, rep.sent, rep.lost), (n, n, 0), "{rep:?}");
        let mut c = e.db.conn().await.unwrap();
        let deliveries = paminn::store::sandbox::deliveries_per_outbox_row(&mut c).await.unwrap();
        assert_eq!(deliveries.len(), n, "every row reached the sandbox phone");
        assert!(deliveries.iter().all(|(_, k)| *k == 1), "none twice");
        drop(c);
        assert!(rows(&e).await.iter().all(|r| r.status == OutboxStatus::Sent));
    }
}

/// Four participants with `each` SMS reminders apiece, all due at 15:30 on
/// 10 December while every appointment (from 16:00 that day) is ahead.
/// Returns how many.
async fn many_due(e: &Engine, each: i64) -> usize {
    let now = sthlm(2026, 12, 1, 9, 0);
    let u = fx::unit(e, "Chansen", now).await;
    {
        let mut c = e.db.conn().await.unwrap();
        // One reminder, two days ahead.
        rules::set(
            &mut c,
            u.id,
            AppointmentKind::Meeting,
            &[Span::minutes(48 * 60).unwrap()],
            true,
            None,
        )
        .await
        .unwrap();
    }
    let mut n = 0;
    for name in ["Ali", "Bo", "Cia", "Dan"] {
        let p = fx::participant(e, &u, name, "sms", now).await;
        for i in 0..each {
            let at = sthlm(2026, 12, 10, 16, 0) + Duration::minutes(10 * i + 1);
            e.create_appointment(&appt(p.id, at), &actor(), now)
                .await
                .unwrap();
            n += 1;
        }
    }
    n
}

both_backends! {
    /// A burst of receipts, all at once, as a gateway reports a broadcast:
    /// they are committed in groups, and each call returns its own row's
    /// status after the commit. An unknown id and a failure in the same
    /// burst do not disturb the others.
    async fn a_burst_of_delivery_receipts_is_applied_each_once_with_its_own_answer(t) {
        use paminn::domain::{ChannelKind, FailureKind, TaskKind};
        let e = Engine::new(t.db.clone());
        let n = many_due(&e, 25).await;
        let rec = Arc::new(Recorder::default());
        let rep = dispatcher(&e, &rec).drain(sthlm(2026, 12, 10, 15, 30)).await.unwrap();
        assert_eq!(rep.sent, n);
        let later = sthlm(2026, 12, 10, 15, 31);
        // rec-1 fails at the gateway; every other one is delivered.
        let mut burst = Vec::new();
        for i in 1..=n {
            let e = e.clone();
            burst.push(tokio::spawn(async move {
                let (status, kind) = if i == 1 {
                    (OutboxStatus::Failed, Some(FailureKind::Unreachable))
                } else {
                    (OutboxStatus::Delivered, None)
                };
                e.delivery_receipt(ChannelKind::Sms, &format!("rec-{i}"), status, None, kind, later).await
            }));
        }
        let unknown = {
            let e = e.clone();
            tokio::spawn(async move {
                e.delivery_receipt(ChannelKind::Sms, "nobody", OutboxStatus::Delivered, None, None, later).await
            })
        };
        for (i, b) in burst.into_iter().enumerate() {
            let want = if i == 0 { OutboxStatus::Failed } else { OutboxStatus::Delivered };
            assert_eq!(b.await.unwrap().unwrap(), Some(want), "rec-{}", i + 1);
        }
        assert_eq!(unknown.await.unwrap().unwrap(), None);
        let all = rows(&e).await;
        let failed: Vec<_> = all.iter().filter(|r| r.status == OutboxStatus::Failed).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].gateway_id.as_deref(), Some("rec-1"));
        assert_eq!(all.iter().filter(|r| r.status == OutboxStatus::Delivered).count(), n - 1);
        // The failure made exactly one task, for its participant.
        let tasks: Vec<_> = {
            let mut c = e.db.conn().await.unwrap();
            paminn::store::tasks::list(&mut c, Some(failed[0].participant_id), false).await.unwrap()
        };
        assert_eq!(tasks.iter().filter(|t| t.kind == TaskKind::DeliveryFailed).count(), 1);
    }
}
