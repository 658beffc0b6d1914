//! Groups and broadcasts (issue 7): coordinators reach a group in seconds,
//! one private message each.
//!
//! * Groups change over time: `group_members` rows carry `joined_at` and
//!   `left_at`; removing a member also cancels their broadcast rows that
//!   have not gone out, so a member removed before sending is not sent to,
//!   and a member added later was never planned for an old broadcast.
//! * [`Engine::plan_broadcast`] plans one outbox row per current member in
//!   ONE transaction: their language, their channel
//!   ([`pick_channel`]), the text as staff wrote it (SMS texts are
//!   sanitised by the dispatcher like every SMS). Idempotent on the
//!   request key (`UNIQUE (unit_id, idem_key)`). Members who would get
//!   nothing (no consent, opted out, not active) are not planned for and
//!   are counted by reason. Nothing names the group or other members.
//! * Timing is the send-time gate's: quiet hours defer, unless urgent, and
//!   urgent never goes out 23:00-06:00 (`schedule::send_window`).
//! * Tied to an activity (an appointment, and with it every member's
//!   appointment of the same group series and start): the rows carry each
//!   member's own appointment and ask for a reply, so "kommer" /
//!   "förhinder" land there (`engine::replies` counts broadcast rows as
//!   questions). [`Engine::broadcast_status`] gives progress and the tally;
//!   [`Engine::cancel_activity`] cancels it and tells only those who had a
//!   message about it.

use super::{Actor, Change, Engine};
use crate::domain::broadcast::{asks_for_reply, check_text, skip_reason};
use crate::domain::channel_choice::pick_channel;
use crate::domain::journal::JournalEvent;
use crate::domain::{
    AppointmentId, AppointmentStatus, GroupId, Language, OutboxStatus, ParticipantId,
    ParticipantStatus, Phase, ReplyState, StaffId, UnitId,
};
use crate::error::{Error, Result};
use crate::store::broadcasts::{self, Broadcast, PlannedRow};
use crate::store::outbox::{self, NewMessage};
use crate::store::{Conn, appointments, audit, consents, participants, series};
use crate::texts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Who a broadcast goes to.
#[derive(Debug, Clone)]
pub enum Audience {
    Group(GroupId),
    /// A unit's participants, narrowed by status, responsible lots and
    /// programme phase (each `None`: any).
    Filter {
        unit: UnitId,
        status: Option<ParticipantStatus>,
        lots: Option<StaffId>,
        phase: Option<Phase>,
    },
}

#[derive(Debug, Clone)]
pub struct BroadcastRequest {
    pub audience: Audience,
    pub text_sv: String,
    pub text_en: String,
    /// `None`: now.
    pub send_at: Option<DateTime<Utc>>,
    pub urgent: bool,
    /// Ties the broadcast to an activity: replies land on each member's
    /// own appointment of it.
    pub activity: Option<AppointmentId>,
    /// The idempotency key; `None`: a fresh one (every request is new).
    pub key: Option<String>,
}

/// The result of a request: the broadcast, and whether this request
/// created it (false: the key had been used; nothing new was planned).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Planned {
    pub broadcast: Broadcast,
    pub created: bool,
    /// Sensitive words in the texts (`texts::sensitive_words_in`): a
    /// warning for the sender, not a refusal; a message on a shared phone
    /// should not name the agency, probation, drugs or tests.
    #[schema(value_type = Vec<String>)]
    pub sensitive_words: Vec<&'static str>,
}

/// One member of a group, as staff see it.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub participant_id: ParticipantId,
    pub first_name: String,
    pub status: ParticipantStatus,
}

/// Progress of a broadcast, and the tally when tied to an activity.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BroadcastStatus {
    pub id: i64,
    pub group_id: Option<GroupId>,
    pub send_at: DateTime<Utc>,
    pub urgent: bool,
    pub activity: Option<AppointmentId>,
    /// Members planned for.
    pub recipients: i64,
    pub pending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Held back at send time (consent withdrawn meanwhile, ...).
    pub suppressed: i64,
    /// Cancelled before sending (left the group, activity cancelled).
    pub cancelled: i64,
    pub skipped: BTreeMap<String, i64>,
    pub tally: Option<Tally>,
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Tally {
    /// Who: a coordinator phones the silent ones before the activity and
    /// needs the names of every group, not only the counts (issue 20).
    pub coming: Vec<ParticipantId>,
    pub cannot: Vec<CannotCome>,
    /// Got the message and has not answered.
    pub no_answer: Vec<ParticipantId>,
    /// The message has not reached them (held back, failed or not yet sent).
    pub not_delivered: Vec<ParticipantId>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CannotCome {
    pub participant_id: ParticipantId,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActivityCancelled {
    pub appointments_cancelled: i64,
    /// Cancellation messages queued: only to those who had a message.
    pub notified: i64,
}

fn fresh_key() -> String {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    format!("auto-{}", hex::encode(b))
}

impl Engine {
    pub async fn create_group(
        &self,
        unit: UnitId,
        name: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<GroupId> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::invalid("a group name must be 1-100 characters"));
        }
        let mut tx = self.db.begin().await?;
        let id = match series::create_group(&mut tx, unit, name, now).await {
            Err(e) if e.is_unique_violation() => {
                return Err(Error::Conflict(format!(
                    "the unit has a group named '{name}' already"
                )));
            }
            r => r?,
        };
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "group.create",
            &format!("group:{id}"),
            json!({ "unit": unit }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds a current member. A member already in the group is left as is
    /// (returns false).
    pub async fn add_group_member(
        &self,
        group: GroupId,
        p: ParticipantId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let (unit, _) = broadcasts::group(&mut tx, group).await?;
        let part = participants::get(&mut tx, p).await?;
        if part.unit_id != unit {
            return Err(Error::invalid(
                "the participant belongs to another unit than the group",
            ));
        }
        if series::group_members(&mut tx, group, now)
            .await?
            .contains(&p)
        {
            return Ok(false);
        }
        series::add_member(&mut tx, group, p, now).await?;
        let event = JournalEvent::GroupJoined {
            group_id: Some(group),
        };
        let change = Change::of(p, "group.add_member", event);
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a membership now, and cancels the member's broadcast rows for
    /// this group that have not gone out. Returns false if they were not a
    /// member.
    pub async fn remove_group_member(
        &self,
        group: GroupId,
        p: ParticipantId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        broadcasts::group(&mut tx, group).await?;
        if !broadcasts::end_membership(&mut tx, group, p, now).await? {
            return Ok(false);
        }
        let n = broadcasts::cancel_open_for_member(&mut tx, group, p, now).await?;
        let event = JournalEvent::GroupLeft {
            group_id: Some(group),
            broadcast_messages_cancelled: Some(n),
        };
        let change = Change::of(p, "group.remove_member", event);
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A group's current members (first names: staff see them, messages
    /// never do).
    pub async fn group_members(&self, group: GroupId, now: DateTime<Utc>) -> Result<Vec<Member>> {
        let mut c = self.db.conn().await?;
        broadcasts::group(&mut c, group).await?;
        let cands = broadcasts::group_candidates(&mut c, group, now).await?;
        Ok(cands
            .into_iter()
            .map(|m| Member {
                participant_id: m.id,
                first_name: m.first_name,
                status: m.status,
            })
            .collect())
    }

    /// Plans a broadcast: one private outbox row per member who may get
    /// it, in one transaction. See the module doc.
    pub async fn plan_broadcast(
        &self,
        req: &BroadcastRequest,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Planned> {
        let key = match req.key.as_deref().map(str::trim) {
            Some("") => return Err(Error::invalid("the request key is empty")),
            Some(k) if k.chars().count() > 200 => {
                return Err(Error::invalid(
                    "the request key is longer than 200 characters",
                ));
            }
            Some(k) => k.to_string(),
            None => fresh_key(),
        };
        let mut sensitive_words = texts::sensitive_words_in(&req.text_sv);
        sensitive_words.extend(texts::sensitive_words_in(&req.text_en));
        sensitive_words.sort_unstable();
        sensitive_words.dedup();
        let mut tx = self.db.begin().await?;
        let (unit, group, group_name) = match &req.audience {
            Audience::Group(g) => {
                let (u, name) = broadcasts::group(&mut tx, *g).await?;
                (u, Some(*g), Some(name))
            }
            Audience::Filter { unit, .. } => (*unit, None, None),
        };
        // A repeat of a request: the same broadcast, nothing new.
        if let Some(b) = broadcasts::by_key(&mut tx, unit, &key).await? {
            return Ok(Planned {
                broadcast: b,
                created: false,
                sensitive_words,
            });
        }
        let forbidden: Vec<&str> = group_name.as_deref().into_iter().collect();
        let checked = |text: &str, which: &str| {
            check_text(text, &forbidden).map_err(|e| Error::Invalid(format!("{which}: {e}")))
        };
        let text_sv = checked(&req.text_sv, "the Swedish text")?;
        let text_en = checked(&req.text_en, "the English text")?;
        let send_at = req.send_at.unwrap_or(now).max(now);

        // The activity: every participant's own appointment of it.
        let (activity, series_id, own) = match req.activity {
            Some(aid) => {
                let a = appointments::get(&mut tx, aid).await?;
                if a.unit_id != unit {
                    return Err(Error::invalid("the activity belongs to another unit"));
                }
                if a.status == AppointmentStatus::Cancelled || a.starts_at <= send_at {
                    return Err(Error::invalid(
                        "the activity is cancelled or starts before the broadcast is sent",
                    ));
                }
                let occ =
                    broadcasts::activity_appointments(&mut tx, a.series_id, a.id, a.starts_at)
                        .await?;
                (
                    Some(aid),
                    a.series_id,
                    occ.into_iter().collect::<HashMap<_, _>>(),
                )
            }
            None => (None, None, HashMap::new()),
        };

        // A phase nobody in the unit has is a typo, not an empty audience.
        if let Audience::Filter {
            phase: Some(phase), ..
        } = &req.audience
        {
            let in_use = participants::phases_in_unit(&mut tx, unit).await?;
            if !in_use.contains(phase) {
                let known: Vec<&str> = in_use.iter().map(Phase::as_str).collect();
                return Err(Error::invalid(format!(
                    "no participant of this unit is in the phase '{phase}'; phases in use: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        let filter = match &req.audience {
            Audience::Filter {
                status,
                lots,
                phase,
                ..
            } => Some(json!({ "status": status, "lots": lots.map(|l| l.get()), "phase": phase })),
            Audience::Group(_) => None,
        };
        let new = broadcasts::NewBroadcast {
            unit_id: unit,
            group_id: group,
            filter,
            text_sv: &text_sv,
            text_en: &text_en,
            send_at,
            urgent: req.urgent,
            appointment_id: activity,
            series_id,
            key: &key,
            created_by: actor.as_str(),
        };
        let Some(id) = broadcasts::insert(&mut tx, &new, now).await? else {
            // The same key, committed by a concurrent request meanwhile.
            drop(tx);
            let mut c = self.db.conn().await?;
            let b = broadcasts::by_key(&mut c, unit, &key)
                .await?
                .ok_or_else(|| Error::Conflict("the request key is in use".into()))?;
            return Ok(Planned {
                broadcast: b,
                created: false,
                sensitive_words,
            });
        };

        let candidates = match &req.audience {
            Audience::Group(g) => broadcasts::group_candidates(&mut tx, *g, now).await?,
            Audience::Filter {
                status,
                lots,
                phase,
                ..
            } => {
                broadcasts::filter_candidates(
                    &mut tx,
                    unit,
                    *status,
                    lots.map(|l| l.get()),
                    phase.as_ref(),
                )
                .await?
            }
        };
        let mut skipped: BTreeMap<String, i64> = BTreeMap::new();
        let mut rows = Vec::with_capacity(candidates.len());
        for m in &candidates {
            if let Some(why) =
                skip_reason(m.status, m.consent, m.opted_out, m.reachable, m.erased, now)
            {
                *skipped.entry(why.to_string()).or_default() += 1;
                continue;
            }
            let channel = pick_channel(
                m.channel_pref,
                m.consent.map(|c| c.channels).unwrap_or_default(),
                m.opted_out,
                m.reachable,
            );
            let own_appointment = own.get(&m.id).copied();
            let text = match m.language {
                Language::Sv => &text_sv,
                Language::En => &text_en,
            };
            let body = with_reply_line(text, m.language, own_appointment.is_some());
            rows.push(PlannedRow {
                participant_id: m.id,
                appointment_id: own_appointment,
                channel,
                body,
            });
        }
        // Rows tied to an appointment ask for a reply; a member without an
        // appointment of the activity gets the text alone.
        let (asking, plain): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.appointment_id.is_some());
        broadcasts::insert_rows(&mut tx, id, &asking, true, send_at, now).await?;
        broadcasts::insert_rows(&mut tx, id, &plain, false, send_at, now).await?;
        let recipients = (asking.len() + plain.len()) as i64;
        broadcasts::set_counts(&mut tx, id, recipients, &skipped).await?;
        // Each recipient's case record says a message was queued (which
        // broadcast, which row; never the text), in one statement.
        broadcasts::journal_queued(&mut tx, id, actor.as_str(), now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "broadcast.create",
            &format!("broadcast:{id}"),
            json!({ "group": group, "recipients": recipients, "skipped": skipped,
                    "urgent": req.urgent, "activity": activity, "send_at": send_at }),
        )
        .await?;
        let b = broadcasts::get(&mut tx, id).await?;
        tx.commit().await?;
        self.wake();
        Ok(Planned {
            broadcast: b,
            created: true,
            sensitive_words,
        })
    }

    /// Progress (sent / delivered / failed / pending of N, skipped by
    /// reason) and, for an activity, the tally of replies.
    pub async fn broadcast_status(&self, id: i64) -> Result<BroadcastStatus> {
        let mut c = self.db.conn().await?;
        let b = broadcasts::get(&mut c, id).await?;
        let p = broadcasts::progress(&mut c, id).await?;
        let n = |s: OutboxStatus| p.get(&s).copied().unwrap_or(0);
        let tally = match b.appointment_id {
            Some(_) => Some(tally(&mut c, id).await?),
            None => None,
        };
        Ok(BroadcastStatus {
            id,
            group_id: b.group_id,
            send_at: b.send_at,
            urgent: b.urgent,
            activity: b.appointment_id,
            recipients: b.recipients,
            pending: n(OutboxStatus::Pending) + n(OutboxStatus::Sending),
            sent: n(OutboxStatus::Sent),
            delivered: n(OutboxStatus::Delivered),
            failed: n(OutboxStatus::Failed),
            suppressed: n(OutboxStatus::Suppressed),
            cancelled: n(OutboxStatus::Cancelled),
            skipped: b.skipped,
            tally,
        })
    }

    /// Cancels an activity: every participant's appointment of it (the
    /// appointment named, and the same group series' appointments at the
    /// same start), with their open reminders and broadcast rows; then a
    /// short cancellation goes only to those who had a message about it
    /// (a reminder or a broadcast row that went out). One transaction.
    pub async fn cancel_activity(
        &self,
        appointment: AppointmentId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<ActivityCancelled> {
        let mut tx = self.db.begin().await?;
        let a = appointments::get(&mut tx, appointment).await?;
        let occ =
            broadcasts::activity_appointments(&mut tx, a.series_id, a.id, a.starts_at).await?;
        let ids: Vec<AppointmentId> = occ.iter().map(|(_, a)| *a).collect();
        let reminded = broadcasts::reminded_for_activity(&mut tx, &ids).await?;
        let mut cancelled = 0;
        let mut notified = 0;
        for (p, aid) in occ {
            let ap = appointments::get(&mut tx, aid).await?;
            if ap.status == AppointmentStatus::Cancelled {
                continue;
            }
            appointments::set_status(&mut tx, aid, AppointmentStatus::Cancelled, now).await?;
            let n = outbox::cancel_open_for_appointment(&mut tx, aid, "appointment cancelled", now)
                .await?;
            cancelled += 1;
            let mut told = None;
            if reminded.contains(&aid) {
                told = queue_cancellation(&mut tx, p, ap.starts_at, now).await?;
                if told.is_some() {
                    notified += 1;
                }
            }
            let event = JournalEvent::AppointmentCancelled {
                reminders_cancelled: Some(n),
                activity: Some(appointment),
                cancellation_outbox_id: told,
            };
            let change = Change::of(p, "appointment.cancel", event).on(aid);
            actor.record(&mut tx, now, change).await?;
        }
        tx.commit().await?;
        if notified > 0 {
            self.wake();
        }
        Ok(ActivityCancelled {
            appointments_cancelled: cancelled,
            notified,
        })
    }
}

async fn tally(c: &mut Conn, id: i64) -> Result<Tally> {
    let mut t = Tally::default();
    for a in broadcasts::answers(c, id).await? {
        match a.reply {
            ReplyState::Coming => t.coming.push(a.participant_id),
            ReplyState::Cannot => t.cannot.push(CannotCome {
                participant_id: a.participant_id,
                reason: a.reason,
            }),
            ReplyState::None if a.delivered => t.no_answer.push(a.participant_id),
            ReplyState::None => t.not_delivered.push(a.participant_id),
        }
    }
    Ok(t)
}

/// A cancellation notice in the participant's language, on their channel,
/// not tied to the (now cancelled) appointment so the gate lets it through.
async fn queue_cancellation(
    c: &mut Conn,
    p: ParticipantId,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<crate::domain::OutboxId>> {
    let part = participants::get(c, p).await?;
    if part.erased {
        return Ok(None);
    }
    let consent = consents::current(c, p).await?;
    let channel = super::planner::channel_for(&part, consent.as_ref());
    let body = texts::render(
        part.language,
        "broadcast-cancelled",
        &[
            ("name", part.first_name.clone()),
            (
                "when",
                texts::when(part.language, starts_at, now, part.time_zone),
            ),
        ],
    );
    let notice = NewMessage::notice(p, channel, body, now);
    outbox::insert(c, &notice, now).await
}

/// The text a member gets: the coordinator's own, and, when the member has
/// an appointment of the activity, the line that asks for a reply, unless
/// the text already asks (never the question twice). The compose page's
/// preview shows the same line, marked as added.
pub fn reply_line(text: &str, lang: Language, asks: bool) -> Option<String> {
    (asks && !asks_for_reply(text)).then(|| texts::render(lang, "broadcast-reply", &[]))
}

/// [`reply_line`] appended on a line of its own.
pub fn with_reply_line(text: &str, lang: Language, asks: bool) -> String {
    match reply_line(text, lang, asks) {
        Some(line) => format!("{text}\n{line}"),
        None => text.to_string(),
    }
}
