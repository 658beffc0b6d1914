//! Planner: an appointment and its unit's rule become outbox rows.
//!
//! Runs inside the caller's transaction, so creating, moving or cancelling
//! an appointment and (re)planning its reminders commit together or not at
//! all. Rows are keyed on (appointment, plan_version, offset, channel):
//! planning the same version twice inserts nothing.

use crate::domain::channel_choice::pick_channel;
use crate::domain::journal::JournalEvent;
use crate::domain::schedule::{plan_reminders, taper};
use crate::domain::trials::{self as trial_rules, Arm};
use crate::domain::{AppointmentStatus, ChannelKind, ChannelSet, Purpose};
use crate::error::Result;
use crate::store::appointments::Appointment;
use crate::store::consents::Consent;
use crate::store::outbox::TrialMark;
use crate::store::outbox::{self, NewMessage};
use crate::store::participants::Participant;
use crate::store::rules::Rule;
use crate::store::trials::Trial;
use crate::store::units::Unit;
use crate::store::{Conn, consents, journal, participants, rules, trials, units};
use chrono::{DateTime, Utc};

/// Plans the reminders of one appointment at its current plan version.
/// Returns how many rows were inserted.
pub async fn plan_appointment(c: &mut Conn, a: &Appointment, now: DateTime<Utc>) -> Result<usize> {
    plan(c, a, now, true).await
}

/// The channel a message to `p` goes by: their preference among the
/// channels their consent covers, they have not opted out of and they can
/// be reached on (a phone number, a linked Telegram).
pub(crate) fn channel_for(p: &Participant, consent: Option<&Consent>) -> ChannelKind {
    let reachable = ChannelSet::NONE
        .with(ChannelKind::Sms, p.phone.is_some())
        .with(ChannelKind::Telegram, p.telegram_linked);
    pick_channel(
        p.channel_pref,
        consent.map(|c| c.channels).unwrap_or_default(),
        p.opted_out,
        reachable,
    )
}

/// The trial arm an appointment's reminders are planned under: the trial
/// of its unit and kind running when it starts, if any, with the
/// participant's arm, recorded the first time it is asked (random by the
/// trial's seed, then never changed). The one place a trial reaches the
/// planner; [`messages`] turns the arm into offsets and a wording.
pub(crate) async fn trial_arm(
    c: &mut Conn,
    a: &Appointment,
    now: DateTime<Utc>,
) -> Result<Option<(Trial, Arm)>> {
    let Some(t) = trials::running(c, a.unit_id, a.kind, a.starts_at).await? else {
        return Ok(None);
    };
    let drawn = trial_rules::assign(&t.seed, a.participant_id);
    let (arm, new) = trials::assign(c, t.id, a.participant_id, drawn, now).await?;
    if new {
        journal::append(
            c,
            a.participant_id,
            Some(a.id),
            now,
            "system",
            &JournalEvent::TrialAssigned {
                trial_id: Some(t.id),
                arm: Some(arm.as_str().to_string()),
            },
        )
        .await?;
    }
    Ok(Some((t, arm)))
}

/// The reminder rows of one scheduled, future appointment of a participant
/// who is not erased, and the channel they go by: the decision of
/// [`plan_appointment`] without the reads and writes around it (the CSV
/// import plans many appointments with one read of each participant, rule
/// and consent, and one multi-row insert).
#[allow(clippy::too_many_arguments)]
pub(crate) fn messages(
    a: &Appointment,
    p: &Participant,
    rule: &Rule,
    unit: &Unit,
    consent: Option<&Consent>,
    trial: Option<(&Trial, Arm)>,
    now: DateTime<Utc>,
    catch_up: bool,
) -> (ChannelKind, Vec<NewMessage>) {
    let channel = channel_for(p, consent);
    // A trial arm's offsets, never fewer than the standard's unless the
    // coordinator chose so; the participant's intensity has the last word.
    let (offsets, mark) = match trial {
        Some((t, arm)) => {
            let v = t.variant(arm);
            let offsets = trial_rules::offsets_for(
                &rule.offsets,
                &v.offsets,
                t.fewer_than_standard_ack,
                p.intensity,
            );
            let mark = TrialMark {
                trial_id: t.id,
                arm,
                wording: v.wording,
            };
            (offsets, Some(mark))
        }
        None => (taper(p.intensity, &rule.offsets), None),
    };
    let plan = plan_reminders(a.starts_at, p.time_zone, &offsets, unit.quiet_hours, now);
    let rows = plan
        .iter()
        .filter(|r| catch_up || !r.immediate)
        .map(|r| NewMessage {
            participant_id: p.id,
            appointment_id: Some(a.id),
            plan_version: a.plan_version,
            purpose: Purpose::Reminder,
            offset_min: i64::from(r.offset.as_minutes()),
            channel,
            ask_reply: rule.ask_reply,
            due_at: r.due,
            deadline_at: None,
            body: None,
            trial: mark,
        })
        .collect();
    (channel, rows)
}

/// Plans without the "send at once" catch-up for reminders whose time has
/// passed: used when the participant's intensity goes up, where a passed
/// reminder was deliberately not sent.
pub async fn plan_future_only(c: &mut Conn, a: &Appointment, now: DateTime<Utc>) -> Result<usize> {
    plan(c, a, now, false).await
}

async fn plan(c: &mut Conn, a: &Appointment, now: DateTime<Utc>, catch_up: bool) -> Result<usize> {
    if a.status != AppointmentStatus::Scheduled || a.starts_at <= now {
        return Ok(0);
    }
    let p = participants::get(c, a.participant_id).await?;
    if p.erased {
        return Ok(0);
    }
    let Some(rule) = rules::get(c, a.unit_id, a.kind).await? else {
        return Ok(0);
    };
    let unit = units::get(c, a.unit_id).await?;
    let consent = consents::current(c, p.id).await?;
    let trial = trial_arm(c, a, now).await?;
    let trial = trial.as_ref().map(|(t, arm)| (t, *arm));
    let (channel, messages) = messages(a, &p, &rule, &unit, consent.as_ref(), trial, now, catch_up);
    let mut inserted = 0;
    let mut times = Vec::new();
    for m in &messages {
        if outbox::insert(c, m, now).await?.is_some() {
            inserted += 1;
            times.push(m.due_at);
        }
    }
    if inserted > 0 {
        journal::append(
            c,
            p.id,
            Some(a.id),
            now,
            "system",
            &JournalEvent::RemindersPlanned {
                channel: Some(channel),
                due_at: times,
            },
        )
        .await?;
    }
    Ok(inserted)
}
