//! Groups and broadcasts (issue 7), on both backends: one private message
//! per current member, in their language and on their channel; skipped
//! members counted; the tally of an activity; the cancellation; the same
//! request twice (engine, CLI, API); quiet hours and the urgent night rule.
//! Every instant is explicit: the dispatcher runs with `run_once(now)`.

use crate::common;
use common::fx::{World, actor, world};

use chrono::{DateTime, Duration, Utc};
use common::fx::{self};
use common::sthlm;
use paminn::channels::OutgoingMessage;
use paminn::domain::recurrence::CronExpr;
use paminn::domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, ChannelKind, ChannelSet, GroupId, Language,
    ParticipantId, ParticipantStatus, PhoneNumber, ReplyState,
};
use paminn::engine::broadcasts::{Audience, BroadcastRequest, Planned};
use paminn::store::participants::{self, NewParticipant, Participant};
use paminn::store::series::SeriesTarget;
use paminn::store::{appointments, audit, outbox};

impl World {
    async fn member(
        &self,
        g: GroupId,
        name: &str,
        consent: &str,
        now: DateTime<Utc>,
    ) -> Participant {
        let p = fx::participant(&self.e, &self.unit, name, consent, now).await;
        assert!(
            self.e
                .add_group_member(g, p.id, &actor(), now)
                .await
                .unwrap()
        );
        p
    }

    /// An English speaker on Telegram (SMS consented too).
    async fn telegram_member(&self, g: GroupId, name: &str, now: DateTime<Utc>) -> Participant {
        let new = NewParticipant {
            unit_id: self.unit.id,
            first_name: name.into(),
            phone: Some(PhoneNumber::parse("070-765 43 21").unwrap()),
            language: Language::En,
            channel_pref: ChannelKind::Telegram,
            time_zone: chrono_tz::Europe::Stockholm,
            discreet: true,
            lots_id: None,
        };
        let p = self
            .e
            .add_participant(&new, Some("sms,telegram".parse().unwrap()), &actor(), now)
            .await
            .unwrap();
        let mut c = self.e.db.conn().await.unwrap();
        participants::set_telegram_chat(&mut c, p.id, Some("424242"), now)
            .await
            .unwrap();
        drop(c);
        self.e
            .add_group_member(g, p.id, &actor(), now)
            .await
            .unwrap();
        p
    }

    async fn group(&self, name: &str, now: DateTime<Utc>) -> GroupId {
        self.e
            .create_group(self.unit.id, name, &actor(), now)
            .await
            .unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        g: GroupId,
        sv: &str,
        en: &str,
        urgent: bool,
        activity: Option<AppointmentId>,
        key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Planned {
        let req = BroadcastRequest {
            audience: Audience::Group(g),
            text_sv: sv.into(),
            text_en: en.into(),
            send_at: None,
            urgent,
            activity,
            key: key.map(str::to_string),
        };
        self.e.plan_broadcast(&req, &actor(), now).await.unwrap()
    }

    fn sent(&self) -> Vec<OutgoingMessage> {
        self.rec.sent.lock().unwrap().clone()
    }

    fn sent_to(&self, p: ParticipantId) -> Vec<OutgoingMessage> {
        self.sent()
            .into_iter()
            .filter(|m| m.participant_id == p)
            .collect()
    }

    async fn outbox_count(&self) -> usize {
        let mut c = self.e.db.conn().await.unwrap();
        outbox::list(&mut c, None).await.unwrap().len()
    }

    /// A weekly group activity (Thursdays 14:00) expanded for the current
    /// members; returns the first occurrence's appointment of `p`.
    async fn activity(&self, g: GroupId, p: ParticipantId, now: DateTime<Utc>) -> AppointmentId {
        let cron: CronExpr = "0 14 * * THU".parse().unwrap();
        self.e
            .create_series(
                self.unit.id,
                SeriesTarget::Group(g),
                AppointmentKind::GroupActivity,
                &cron,
                self.unit.time_zone,
                90,
                Some("Lokalen".into()),
                Duration::days(6),
                &actor(),
                now,
            )
            .await
            .unwrap();
        let mut c = self.e.db.conn().await.unwrap();
        let a = appointments::for_participant(&mut c, p, None)
            .await
            .unwrap();
        assert_eq!(a.len(), 1);
        a[0].id
    }
}

// Tuesday 1 December 2026, 10:00 in Stockholm: outside quiet hours.
fn tuesday(h: u32, m: u32) -> DateTime<Utc> {
    sthlm(2026, 12, 1, h, m)
}

both_backends! {
    async fn membership_changes_between_planning_and_sending(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Tisdagsgruppen", now).await;
        let ali = w.member(g, "Ali", "sms", now).await;
        let bo = w.member(g, "Bo", "sms", now).await;
        let later = now + Duration::minutes(5);
        let p = w.send(g, "Kontoret är stängt idag.", "The office is closed today.", false, None, None, now).await;
        assert!(p.created);
        assert_eq!(p.broadcast.recipients, 2);
        // Bo leaves before it is sent; Cia joins after it was planned.
        assert!(w.e.remove_group_member(g, bo.id, &actor(), now + Duration::seconds(10)).await.unwrap());
        let cia = w.member(g, "Cia", "sms", now + Duration::seconds(20)).await;
        let r = w.d.run_once(later).await.unwrap();
        assert_eq!(r.sent, 1);
        assert_eq!(w.sent_to(ali.id).len(), 1);
        assert!(w.sent_to(bo.id).is_empty(), "a member removed is not sent to");
        assert!(w.sent_to(cia.id).is_empty(), "a member added later gets nothing old");
        let s = w.e.broadcast_status(p.broadcast.id).await.unwrap();
        assert_eq!((s.recipients, s.sent, s.cancelled, s.pending), (2, 1, 1, 0));
        // Bo's case record says he left; the audit log has the change.
        let mut c = w.e.db.conn().await.unwrap();
        assert_eq!(audit::count(&mut c, "group.remove_member").await.unwrap(), 1);
        assert_eq!(audit::count(&mut c, "broadcast.create").await.unwrap(), 1);
        drop(c);
        // A second broadcast goes to the members of the day: Ali and Cia.
        let p2 = w.send(g, "Träffen flyttas till 14:00.", "The meeting moves to 14:00.", false, None, None, later).await;
        assert_eq!(p2.broadcast.recipients, 2);
        w.d.run_once(later + Duration::minutes(1)).await.unwrap();
        assert_eq!(w.sent_to(cia.id).len(), 1);
        assert!(w.sent_to(bo.id).is_empty());
        let members: Vec<_> = w.e.group_members(g, later).await.unwrap().into_iter().map(|m| m.participant_id).collect();
        assert_eq!(members, [ali.id, cia.id]);
    }
}

both_backends! {
    async fn each_member_gets_their_own_text_language_and_channel(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Måndagsgänget", now).await;
        let ali = w.member(g, "Ali", "sms", now).await;
        let eve = w.telegram_member(g, "Eve", now).await;
        let sv = "Gruppträffen flyttas till 14:00 – välkomna!";
        let en = "The group meeting moves to 14:00 – welcome!";
        w.send(g, sv, en, false, None, None, now).await;
        w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        let a = w.sent_to(ali.id);
        let e = w.sent_to(eve.id);
        assert_eq!((a.len(), e.len()), (1, 1));
        assert_eq!(a[0].channel, ChannelKind::Sms);
        assert_eq!(e[0].channel, ChannelKind::Telegram);
        // SMS is sanitised (the dash would make it UCS-2); Telegram as written.
        assert_eq!(a[0].body, "Gruppträffen flyttas till 14:00 - välkomna!");
        assert_eq!(e[0].body, en);
        for m in w.sent() {
            assert!(!m.body.to_lowercase().contains("gänget"), "no group name");
            assert!(!m.body.contains("Ali") && !m.body.contains("Eve"), "no member names");
        }
        // The group's name in a text is refused: it would tell who else got it.
        let req = BroadcastRequest {
            audience: Audience::Group(g),
            text_sv: "Hej Måndagsgänget!".into(),
            text_en: "Hi!".into(),
            send_at: None, urgent: false, activity: None, key: None,
        };
        assert!(w.e.plan_broadcast(&req, &actor(), now).await.is_err());
        // A sensitive word is a warning for the sender, not a refusal.
        let p = w.send(g, "Drogtestet flyttas.", "The test moves.", false, None, None, now).await;
        assert!(p.created);
        assert_eq!(p.sensitive_words, ["drog", "test"]);
    }
}

both_backends! {
    async fn opted_out_in_custody_and_no_consent_get_nothing_and_are_counted(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Grupp A", now).await;
        let ali = w.member(g, "Ali", "sms", now).await;
        let bo = w.member(g, "Bo", "sms", now).await;
        let cia = w.member(g, "Cia", "sms", now).await;
        let dan = w.member(g, "Dan", "", now).await;
        {
            let mut c = w.e.db.conn().await.unwrap();
            participants::set_opted_out(&mut c, bo.id, "sms".parse::<ChannelSet>().unwrap(), now).await.unwrap();
        }
        w.e.set_status(cia.id, ParticipantStatus::InCustody, &actor(), now).await.unwrap();
        let p = w.send(g, "Kontoret är stängt idag.", "The office is closed today.", false, None, None, now).await;
        assert_eq!(p.broadcast.recipients, 1);
        let skipped: Vec<(&str, i64)> = p.broadcast.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(skipped, [("in_custody", 1), ("no_consent", 1), ("opted_out", 1)]);
        w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        assert_eq!(w.sent().len(), 1);
        assert_eq!(w.sent_to(ali.id).len(), 1);
        for p in [bo.id, cia.id, dan.id] {
            assert!(w.sent_to(p).is_empty());
        }
        let s = w.e.broadcast_status(p.broadcast.id).await.unwrap();
        assert_eq!(s.skipped.values().sum::<i64>(), 3);
        assert_eq!(s.sent, 1);
    }
}

both_backends! {
    async fn the_tally_after_mixed_replies(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Torsdagsträffen", now).await;
        let ali = w.member(g, "Ali", "sms", now).await;
        let bo = w.member(g, "Bo", "sms", now).await;
        let cia = w.member(g, "Cia", "sms", now).await;
        let eve = w.telegram_member(g, "Eve", now).await;
        let activity = w.activity(g, ali.id, now).await;
        let p = w.send(g, "Torsdag 14:00 har vi gruppträff.", "Thursday 14:00 we meet.", false, Some(activity), None, now).await;
        assert_eq!(p.broadcast.recipients, 4);
        // Cia withdraws consent before it goes: not delivered.
        w.e.withdraw_consent(cia.id, &actor(), now + Duration::seconds(5)).await.unwrap();
        let sent_at = now + Duration::minutes(1);
        let r = w.d.run_once(sent_at).await.unwrap();
        assert_eq!((r.sent, r.suppressed), (3, 1));
        // Asked for a reply, in each one's language.
        assert!(w.sent_to(ali.id)[0].body.ends_with("Svara KOMMER eller FÖRHINDER."));
        assert!(w.sent_to(eve.id)[0].body.ends_with("Reply COMING or CANNOT."));
        assert!(w.sent_to(eve.id)[0].ask_reply);
        w.say(ali.id, "kommer", sent_at + Duration::minutes(3)).await;
        w.say(bo.id, "förhinder, sjuk", sent_at + Duration::minutes(4)).await;
        // The replies landed on each one's own appointment of the activity.
        let mut c = w.e.db.conn().await.unwrap();
        let ali_a = appointments::get(&mut c, activity).await.unwrap();
        assert_eq!(ali_a.reply, ReplyState::Coming);
        let bo_a = &appointments::for_participant(&mut c, bo.id, None).await.unwrap()[0];
        assert_eq!(bo_a.reply, ReplyState::Cannot);
        assert_eq!(bo_a.starts_at, ali_a.starts_at);
        drop(c);
        let s = w.e.broadcast_status(p.broadcast.id).await.unwrap();
        let tally = s.tally.unwrap();
        assert_eq!(tally.coming, vec![ali.id]);
        assert_eq!(tally.cannot.len(), 1);
        assert_eq!(tally.cannot[0].participant_id, bo.id);
        assert!(tally.cannot[0].reason.as_deref().unwrap_or("").contains("sjuk"), "{:?}", tally.cannot);
        assert_eq!(tally.no_answer, vec![eve.id], "Eve got it and has not answered");
        assert_eq!(tally.not_delivered.len(), 1, "Cia's was held back");
        assert!(!tally.not_delivered.contains(&eve.id) && !tally.not_delivered.contains(&ali.id));
        assert_eq!((s.sent, s.suppressed), (3, 1));
    }
}

both_backends! {
    async fn a_text_that_already_asks_gets_no_second_question(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Torsdagsträffen", now).await;
        let ali = w.member(g, "Ali", "sms", now).await;
        let eve = w.telegram_member(g, "Eve", now).await;
        let activity = w.activity(g, ali.id, now).await;
        w.send(
            g,
            "Träffen flyttas till 15:00. Svara KOMMER eller FÖRHINDER.",
            "The meeting moves to 15:00. Reply COMING or CANNOT.",
            false,
            Some(activity),
            None,
            now,
        )
        .await;
        w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        let ali_body = &w.sent_to(ali.id)[0].body;
        assert_eq!(ali_body, "Träffen flyttas till 15:00. Svara KOMMER eller FÖRHINDER.");
        assert_eq!(ali_body.matches("FÖRHINDER").count(), 1);
        let eve_body = &w.sent_to(eve.id)[0].body;
        assert_eq!(eve_body.matches("COMING").count(), 1, "{eve_body}");
        assert!(w.sent_to(ali.id)[0].ask_reply, "it still asks for a reply");
    }
}

both_backends! {
    async fn a_text_over_the_limit_is_refused_with_its_length(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Torsdagsträffen", now).await;
        w.member(g, "Ali", "sms", now).await;
        let req = BroadcastRequest {
            audience: Audience::Group(g),
            text_sv: "a".repeat(700),
            text_en: "Short".into(),
            send_at: None,
            urgent: false,
            activity: None,
            key: None,
        };
        let e = w.e.plan_broadcast(&req, &actor(), now).await.unwrap_err().to_string();
        assert!(e.contains("Swedish") && e.contains("700") && e.contains("612"), "{e}");
        assert_eq!(w.outbox_count().await, 0);
    }
}

both_backends! {
    async fn cancelling_the_activity_tells_only_those_who_had_a_message(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Torsdagsträffen", now).await;
        let ali = w.member(g, "Ali", "sms", now).await;
        let eve = w.telegram_member(g, "Eve", now).await;
        let cia = w.member(g, "Cia", "sms", now).await;
        let activity = w.activity(g, ali.id, now).await;
        // Cia is in custody when the broadcast goes, back afterwards: she
        // has an appointment of the activity but was never told about it.
        w.e.set_status(cia.id, ParticipantStatus::InCustody, &actor(), now).await.unwrap();
        w.send(g, "Torsdag 14:00 har vi gruppträff.", "Thursday 14:00 we meet.", false, Some(activity), None, now).await;
        w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        w.e.set_status(cia.id, ParticipantStatus::Active, &actor(), now + Duration::minutes(2)).await.unwrap();
        let before = w.sent().len();
        assert_eq!(before, 2);
        let at = now + Duration::minutes(10);
        let r = w.e.cancel_activity(activity, &actor(), at).await.unwrap();
        assert_eq!((r.appointments_cancelled, r.notified), (3, 2));
        w.d.run_once(at + Duration::minutes(1)).await.unwrap();
        let new: Vec<_> = w.sent().into_iter().skip(before).collect();
        let mut to: Vec<_> = new.iter().map(|m| m.participant_id).collect();
        to.sort();
        let mut want = vec![ali.id, eve.id];
        want.sort();
        assert_eq!(to, want, "only those who were told get the cancellation");
        let ali_msg = new.iter().find(|m| m.participant_id == ali.id).unwrap();
        assert!(ali_msg.body.contains("inställd"), "{}", ali_msg.body);
        let eve_msg = new.iter().find(|m| m.participant_id == eve.id).unwrap();
        assert!(eve_msg.body.contains("cancelled"), "{}", eve_msg.body);
        assert!(w.sent_to(cia.id).is_empty());
        let mut c = w.e.db.conn().await.unwrap();
        for p in [ali.id, eve.id, cia.id] {
            let a = &appointments::for_participant(&mut c, p, None).await.unwrap()[0];
            assert_eq!(a.status, AppointmentStatus::Cancelled);
        }
        // Cancelling again changes nothing and tells nobody twice.
        drop(c);
        let again = w.e.cancel_activity(activity, &actor(), at).await.unwrap();
        assert_eq!((again.appointments_cancelled, again.notified), (0, 0));
    }
}

both_backends! {
    async fn a_filter_narrows_by_status_lots_and_programme_phase(t) {
        let now = sthlm(2026, 12, 7, 10, 0);
        let w = world(&t, now).await;
        let (ali, bo, cia, dan) = (
            fx::participant(&w.e, &w.unit, "Ali", "sms", now).await,
            fx::participant(&w.e, &w.unit, "Bo", "sms", now).await,
            fx::participant(&w.e, &w.unit, "Cia", "sms", now).await,
            fx::participant(&w.e, &w.unit, "Dan", "sms", now).await,
        );
        for (p, phase) in [(&ali, "Praktik"), (&bo, " Praktik  "), (&cia, "Kartläggning")] {
            w.e.set_phase(p.id, Some(phase.parse().unwrap()), &actor(), now).await.unwrap();
        }
        w.e.set_status(bo.id, ParticipantStatus::Paused, &actor(), now).await.unwrap();
        let req = |status, phase: Option<&str>, key: &str| BroadcastRequest {
            audience: Audience::Filter {
                unit: w.unit.id,
                status,
                lots: None,
                phase: phase.map(|x| x.parse().unwrap()),
            },
            text_sv: "Hej!".into(),
            text_en: "Hi!".into(),
            send_at: None,
            urgent: false,
            activity: None,
            key: Some(key.into()),
        };
        // Phase Praktik: Ali gets it, Bo (same phase, typed with spaces) is
        // paused and counted; Cia and Dan are not in the audience at all.
        let p = w.e.plan_broadcast(&req(None, Some("praktik "), "f-0"), &actor(), now).await;
        let err = p.unwrap_err().to_string();
        assert!(err.contains("phases in use: Kartläggning, Praktik"), "{err}");
        let p = w.e.plan_broadcast(&req(None, Some("Praktik"), "f-1"), &actor(), now).await.unwrap();
        assert_eq!(p.broadcast.recipients, 1);
        assert_eq!(p.broadcast.skipped.get("paused"), Some(&1));
        assert_eq!(p.broadcast.skipped.values().sum::<i64>(), 1);
        assert_eq!(p.broadcast.filter.as_ref().unwrap()["phase"], "Praktik");
        w.d.run_once(now).await.unwrap();
        assert_eq!(w.sent_to(ali.id).len(), 1);
        for other in [bo.id, cia.id, dan.id] {
            assert!(w.sent_to(other).is_empty());
        }
        // Status and phase together; no phase: the whole unit.
        let p = w.e.plan_broadcast(&req(Some(ParticipantStatus::Active), None, "f-2"), &actor(), now).await.unwrap();
        assert_eq!(p.broadcast.recipients, 3, "Ali, Cia and Dan");
        // Cleared phases are no longer offered.
        w.e.set_phase(cia.id, None, &actor(), now).await.unwrap();
        let mut c = w.e.db.conn().await.unwrap();
        let phases = participants::phases_in_unit(&mut c, w.unit.id).await.unwrap();
        assert_eq!(phases.iter().map(|x| x.as_str()).collect::<Vec<_>>(), ["Praktik"]);
        assert_eq!(audit::count(&mut c, "participant.phase").await.unwrap(), 4, "three set, one cleared");
    }
}

both_backends! {
    async fn the_same_request_twice_creates_it_once(t) {
        let now = tuesday(10, 0);
        let w = world(&t, now).await;
        let g = w.group("Grupp B", now).await;
        w.member(g, "Ali", "sms", now).await;
        w.member(g, "Bo", "sms", now).await;
        let a = w.send(g, "Hej!", "Hi!", false, None, Some("req-1"), now).await;
        let rows = w.outbox_count().await;
        let b = w.send(g, "Hej!", "Hi!", false, None, Some("req-1"), now + Duration::seconds(3)).await;
        assert!(a.created && !b.created);
        assert_eq!(a.broadcast.id, b.broadcast.id);
        assert_eq!(w.outbox_count().await, rows, "nothing new was planned");
        let mut c = w.e.db.conn().await.unwrap();
        assert_eq!(audit::count(&mut c, "broadcast.create").await.unwrap(), 1);
        drop(c);
        w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        assert_eq!(w.sent().len(), 2);
    }
}

both_backends! {
    async fn quiet_hours_delay_a_broadcast_that_is_not_urgent(t) {
        // 22:00: inside the unit's quiet hours (21:00-08:00).
        let now = tuesday(22, 0);
        let w = world(&t, now).await;
        let g = w.group("Kvällsgruppen", now).await;
        w.member(g, "Ali", "sms", now).await;
        w.send(g, "Imorgon är kontoret stängt.", "The office is closed tomorrow.", false, None, None, now).await;
        let r = w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        assert_eq!((r.sent, r.deferred), (0, 1));
        assert!(w.sent().is_empty());
        let r = w.d.run_once(sthlm(2026, 12, 2, 7, 59)).await.unwrap();
        assert_eq!(r.claimed, 0, "not before the quiet hours end");
        let r = w.d.run_once(sthlm(2026, 12, 2, 8, 0)).await.unwrap();
        assert_eq!(r.sent, 1);
    }
}

both_backends! {
    async fn urgent_goes_out_in_quiet_hours_but_never_between_23_and_06(t) {
        let now = tuesday(22, 0);
        let w = world(&t, now).await;
        let g = w.group("Akut", now).await;
        w.member(g, "Ali", "sms", now).await;
        w.send(g, "Kontoret är stängt imorgon.", "The office is closed tomorrow.", true, None, None, now).await;
        let r = w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        assert_eq!(r.sent, 1, "urgent breaks the unit's quiet hours");
        let late = tuesday(23, 30);
        w.send(g, "Träffen imorgon är inställd.", "Tomorrow's meeting is cancelled.", true, None, None, late).await;
        let r = w.d.run_once(late + Duration::minutes(1)).await.unwrap();
        assert_eq!((r.sent, r.deferred), (0, 1), "never 23:00-06:00");
        let r = w.d.run_once(sthlm(2026, 12, 2, 5, 59)).await.unwrap();
        assert_eq!(r.claimed, 0);
        let r = w.d.run_once(sthlm(2026, 12, 2, 6, 0)).await.unwrap();
        assert_eq!(r.sent, 1, "at 06:00 it goes, before the unit's quiet hours end");
        assert_eq!(w.sent().len(), 2);
    }
}

both_backends! {
    async fn an_urgent_telegram_message_that_falls_back_to_sms_stays_urgent(t) {
        let now = tuesday(22, 0);
        let w = world(&t, now).await;
        let g = w.group("Akut", now).await;
        let eve = w.telegram_member(g, "Eve", now).await;
        let p = w.send(g, "Kontoret är stängt imorgon.", "The office is closed tomorrow.", true, None, None, now).await;
        w.rec.script.lock().unwrap().push_back(paminn::channels::SendError::Unreachable("bot blocked".into()));
        let r = w.d.run_once(now + Duration::minutes(1)).await.unwrap();
        assert_eq!(r.failed, 1);
        // Progress counts members, not rows: Eve's message is on its way.
        let s = w.e.broadcast_status(p.broadcast.id).await.unwrap();
        assert_eq!((s.recipients, s.failed, s.pending, s.sent), (1, 0, 1, 0));
        // The SMS that replaces it is part of the broadcast, and urgent:
        // it goes at 22:02, inside the unit's quiet hours.
        let r = w.d.run_once(now + Duration::minutes(2)).await.unwrap();
        assert_eq!(r.sent, 1);
        let sent = w.sent_to(eve.id);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].channel, ChannelKind::Sms);
        assert_eq!(sent[0].body, "The office is closed tomorrow.");
        let s = w.e.broadcast_status(p.broadcast.id).await.unwrap();
        assert_eq!((s.recipients, s.failed, s.pending, s.sent), (1, 0, 0, 1), "one member, one message that went out");
        let mut c = w.e.db.conn().await.unwrap();
        let listed = paminn::store::ui_broadcasts::list(&mut c, w.unit.id, 10).await.unwrap();
        assert_eq!((listed[0].gone, listed[0].failed), (1, 0), "the list page agrees");
    }
}

mod cli {
    use super::*;
    use serde_json::Value;
    use std::process::Command;

    fn paminn(url: &str, dir: &std::path::Path, args: &[&str]) -> Value {
        let o = Command::new(env!("CARGO_BIN_EXE_paminn"))
            .args(args)
            .arg("--json")
            .env("PAMINN_DATABASE_URL", url)
            .env("PAMINN_DATA_DIR", dir)
            .env_remove("PAMINN_CONFIG")
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    both_backends! {
        async fn the_cli_sends_once_per_key_and_shows_status(t) {
            let now = Utc::now();
            let w = world(&t, now).await;
            let dir = tempfile::tempdir().unwrap();
            let (url, d) = (t.url.as_str(), dir.path());
            let g = paminn(url, d, &["group", "add", "--unit", "Chansen", "Onsdagsgruppen"]);
            let gid = g["id"].as_i64().unwrap().to_string();
            let ali = fx::participant(&w.e, &w.unit, "Ali", "sms", now).await;
            let bo = fx::participant(&w.e, &w.unit, "Bo", "sms", now).await;
            for p in [ali.id, bo.id] {
                paminn(url, d, &["group", "add-member", &gid, &p.to_string()]);
            }
            paminn(url, d, &["group", "remove-member", &gid, &bo.id.to_string()]);
            let shown = paminn(url, d, &["group", "show", &gid]);
            assert_eq!(shown.as_array().unwrap().len(), 1);
            let listed = paminn(url, d, &["group", "list", "--unit", "Chansen"]);
            assert_eq!(listed[0]["members"], 1);
            let args = ["broadcast", "send", "--group", &gid, "--sv", "Hej!", "--en", "Hi!",
                        "--urgent", "--key", "cli-1"];
            let first = paminn(url, d, &args);
            let second = paminn(url, d, &args);
            assert_eq!(first["created"], true);
            assert_eq!(second["created"], false);
            assert_eq!(first["id"], second["id"]);
            assert_eq!(first["recipients"], 1);
            let id = first["id"].as_i64().unwrap().to_string();
            let s = paminn(url, d, &["broadcast", "status", &id]);
            assert_eq!(s["recipients"], 1);
            assert_eq!(s["pending"], 1);
            assert_eq!(w.outbox_count().await, 1);
            // A filter instead of a group: the unit's active participants.
            let cia = fx::participant(&w.e, &w.unit, "Cia", "sms", now).await;
            w.e.set_status(cia.id, ParticipantStatus::Paused, &actor(), now).await.unwrap();
            let f = paminn(url, d, &["broadcast", "send", "--unit", "Chansen", "--status", "active",
                                     "--sv", "Hej!", "--en", "Hi!"]);
            assert_eq!(f["recipients"], 2, "Ali and Bo; Cia is paused");
            let f = paminn(url, d, &["broadcast", "send", "--unit", "Chansen",
                                     "--sv", "Hej!", "--en", "Hi!"]);
            assert_eq!(f["recipients"], 2);
            assert_eq!(f["skipped"]["paused"], 1);
            // A programme phase, set from the command line and used as a filter.
            let set = paminn(url, d, &["participant", "phase", &bo.id.to_string(), "Praktik"]);
            assert_eq!(set["phase"], "Praktik");
            let f = paminn(url, d, &["broadcast", "send", "--unit", "Chansen", "--phase", "Praktik",
                                     "--sv", "Hej!", "--en", "Hi!"]);
            assert_eq!(f["recipients"], 1, "Bo only");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_paminn"))
                .args(["broadcast", "send", "--unit", "Chansen", "--phase", "Praktk", "--sv", "Hej!", "--en", "Hi!"])
                .env("PAMINN_DATABASE_URL", url)
                .env("PAMINN_DATA_DIR", d)
                .env_remove("PAMINN_CONFIG")
                .current_dir(d)
                .output()
                .unwrap();
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("phases in use: Praktik"), "{err}");
            paminn(url, d, &["participant", "phase", &bo.id.to_string(), "--none"]);
            let mut c = w.e.db.conn().await.unwrap();
            assert!(participants::get(&mut c, bo.id).await.unwrap().phase.is_none());
        }
    }
}

mod api {
    use super::*;
    use paminn::store::tokens;
    use paminn::web::AppState;
    use serde_json::{Value, json};

    both_backends! {
        async fn the_api_plans_once_per_idempotency_key(t) {
            let now = Utc::now();
            let w = world(&t, now).await;
            let token = {
                let mut c = w.e.db.conn().await.unwrap();
                tokens::create(&mut c, "case-system", now).await.unwrap()
            };
            let g = w.group("Fredagsgruppen", now).await;
            w.member(g, "Ali", "sms", now).await;
            w.telegram_member(g, "Eve", now).await;
            let server = common::server::serve_with(|_| AppState {
                transports: vec![],
                ..common::server::state(&w.e)
            })
            .await;
            let base = format!("{}/api/v1", server.base);
            let http = reqwest::Client::new();
            let body = json!({ "group": g.get(), "sv": "Hej!", "en": "Hi!" });
            let post = |key: &'static str| {
                http.post(format!("{base}/broadcasts"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", key)
                    .json(&body)
                    .send()
            };
            let r1 = post("api-1").await.unwrap();
            assert_eq!(r1.status(), 201);
            let v1: Value = r1.json().await.unwrap();
            let r2 = post("api-1").await.unwrap();
            assert_eq!(r2.status(), 200);
            let v2: Value = r2.json().await.unwrap();
            assert_eq!(v1["broadcast"]["id"], v2["broadcast"]["id"]);
            assert_eq!(v2["created"], false);
            assert_eq!(w.outbox_count().await, 2);
            // The key as a field works the same way.
            let mut b = body.clone();
            b["key"] = json!("api-1");
            let r3 = http.post(format!("{base}/broadcasts")).bearer_auth(&token).json(&b).send().await.unwrap();
            assert_eq!(r3.status(), 200);
            let id = v1["broadcast"]["id"].as_i64().unwrap();
            let s: Value = http.get(format!("{base}/broadcasts/{id}")).bearer_auth(&token)
                .send().await.unwrap().json().await.unwrap();
            assert_eq!(s["recipients"], 2);
            assert_eq!(s["pending"], 2);
            // A filter instead of a group: the unit (by name) and a phase.
            let mut c = w.e.db.conn().await.unwrap();
            let ali = participants::list(&mut c, Some(w.unit.id)).await.unwrap().into_iter()
                .find(|p| p.first_name == "Ali").unwrap();
            drop(c);
            w.e.set_phase(ali.id, Some("Efterstöd".parse().unwrap()), &actor(), now).await.unwrap();
            let f = json!({ "unit": "Chansen", "phase": "Efterstöd", "status": "active", "sv": "Hej!", "en": "Hi!" });
            let r = http.post(format!("{base}/broadcasts")).bearer_auth(&token).json(&f).send().await.unwrap();
            assert_eq!(r.status(), 201);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["broadcast"]["recipients"], 1);
            assert_eq!(v["broadcast"]["filter"]["phase"], "Efterstöd");
            // A group with a filter, neither, or a phase that is no phase:
            // 422 with the reason (the API's answer to a well-formed but
            // unusable request).
            for (bad, reason) in [
                (json!({ "group": g.get(), "phase": "Efterstöd", "sv": "Hej!", "en": "Hi!" }), "a group takes no filter"),
                (json!({ "sv": "Hej!", "en": "Hi!" }), "give group, or unit"),
                (json!({ "unit": "Chansen", "phase": "", "sv": "Hej!", "en": "Hi!" }), "programme phase"),
            ] {
                let r = http.post(format!("{base}/broadcasts")).bearer_auth(&token).json(&bad).send().await.unwrap();
                assert_eq!(r.status(), 422, "{bad}");
                let text = r.text().await.unwrap();
                assert!(text.contains(reason), "{bad}: {text}");
            }
            // Without a token: 401.
            let r = http.get(format!("{base}/broadcasts/{id}")).send().await.unwrap();
            assert_eq!(r.status(), 401);
            drop(server);
        }
    }
}
