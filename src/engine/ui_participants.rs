//! What the staff UI's participant pages change that the rest of the
//! engine had no function for: language and discreet flag, reassigning the
//! responsible lots with a message telling the participant, and a series
//! that starts on a given date. Each writes the journal and the audit log
//! in its own transaction, like every other change.

use super::{Actor, Change, Engine, Field};
use crate::domain::channel_choice::pick_channel;
use crate::domain::recurrence::CronExpr;
use crate::domain::{
    AppointmentKind, ChannelKind, ChannelSet, Language, OutboxId, ParticipantId, Phase, Purpose,
    Role, SeriesId, StaffId,
};
use crate::error::{Error, Result};
use crate::store::outbox::{self, NewMessage};
use crate::store::participants::Participant;
use crate::store::series::{self, SeriesTarget};
use crate::store::{
    audit, broadcasts, consents, journal, participants, staff, ui_participants, units,
};
use crate::texts;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// The text key of the message that tells a participant who their new
/// contact person is (in `locales/*/main.ftl`, checked with the receipts).
pub const NEW_CONTACT_KEY: &str = "notice-new-contact";

impl Engine {
    /// The language a participant's messages are written in.
    pub async fn set_language(
        &self,
        id: ParticipantId,
        language: Language,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            kind: "language_changed",
            action: "participant.language",
            current: |p: &Participant| p.language,
            to: language,
        };
        self.change_participant(id, actor, now, field, async |c| {
            participants::set_language(c, id, language, now).await
        })
        .await?;
        Ok(())
    }

    /// Discreet on: messages name no place and no person. Read at send
    /// time, so it applies to reminders already planned.
    pub async fn set_discreet(
        &self,
        id: ParticipantId,
        discreet: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            kind: "discreet_changed",
            action: "participant.discreet",
            current: |p: &Participant| p.discreet,
            to: discreet,
        };
        self.change_participant(id, actor, now, field, async |c| {
            ui_participants::set_discreet(c, id, discreet, now).await
        })
        .await?;
        Ok(())
    }

    /// The programme phase (`None`: none). A label for filtering
    /// broadcasts; it changes no reminder and is never in a message.
    pub async fn set_phase(
        &self,
        id: ParticipantId,
        phase: Option<Phase>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            kind: "phase_changed",
            action: "participant.phase",
            current: |p: &Participant| p.phase.clone(),
            to: phase.clone(),
        };
        self.change_participant(id, actor, now, field, async |c| {
            participants::set_phase(c, id, phase.as_ref(), now).await
        })
        .await?;
        Ok(())
    }

    /// Makes another lots responsible ([`Engine::assign_lots`]) and tells
    /// the participant who their new contact person is: a short message
    /// with the lots's first name only, in the participant's language, on
    /// their channel, through the outbox and its send-time gate like every
    /// other message. Returns the message's outbox id; `None` when the lots
    /// was already responsible (nothing changes, nothing is sent).
    pub async fn reassign_lots(
        &self,
        id: ParticipantId,
        lots: StaffId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxId>> {
        let (p, new_lots) = {
            let mut c = self.db.conn().await?;
            let p = participants::get(&mut c, id).await?;
            let s = staff::get_active(&mut c, lots).await?;
            (p, s)
        };
        if new_lots.role != Role::Lots || new_lots.unit_id != Some(p.unit_id) {
            return Err(Error::invalid(
                "the new contact person must be an active lots in the participant's unit",
            ));
        }
        if p.lots_id == Some(lots) {
            return Ok(None);
        }
        // The new lots and the message naming them, in one transaction.
        let mut tx = self.db.begin().await?;
        super::telegram::assign_lots_in(&mut tx, id, Some(lots), actor, now).await?;
        if p.erased {
            tx.commit().await?;
            return Ok(None);
        }
        let p = participants::get(&mut tx, id).await?;
        let consent = consents::current(&mut tx, id).await?;
        let reachable = ChannelSet::NONE
            .with(ChannelKind::Sms, p.phone.is_some())
            .with(ChannelKind::Telegram, p.telegram_linked);
        let channel = pick_channel(
            p.channel_pref,
            consent.map(|c| c.channels).unwrap_or_default(),
            p.opted_out,
            reachable,
        );
        let contact = first_name_of(&new_lots.name);
        let body = texts::render(
            p.language,
            NEW_CONTACT_KEY,
            &[("name", p.first_name.clone()), ("contact", contact)],
        );
        let outbox_id = outbox::insert(
            &mut tx,
            &NewMessage {
                participant_id: id,
                appointment_id: None,
                plan_version: 0,
                purpose: Purpose::Notice,
                offset_min: 0,
                channel,
                ask_reply: false,
                due_at: now,
                deadline_at: None,
                body: Some(body),
            },
            now,
        )
        .await?;
        actor
            .record(
                &mut tx,
                now,
                Change {
                    participant: id,
                    appointment: None,
                    kind: "contact_notice_queued",
                    detail: json!({ "outbox_id": outbox_id, "channel": channel, "lots_id": lots }),
                    action: "participant.contact_notice",
                },
            )
            .await?;
        tx.commit().await?;
        self.wake();
        Ok(outbox_id)
    }

    /// A series whose first occurrence is not before `start`
    /// (`Engine::create_series` starts now): a participant's own, or a
    /// group's activity whose occurrences become an appointment for every
    /// current member. It is expanded at once over `horizon` like any
    /// other; a participant's is noted in their case record.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_series_from(
        &self,
        target: SeriesTarget,
        kind: AppointmentKind,
        cron: &CronExpr,
        duration_min: i64,
        location: Option<String>,
        start: DateTime<Utc>,
        horizon: Duration,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<SeriesId> {
        if duration_min <= 0 || duration_min > 24 * 60 {
            return Err(Error::invalid(
                "duration must be between 1 minute and 24 hours",
            ));
        }
        cron.check_gap(self.series_min_gap())
            .map_err(Error::Invalid)?;
        let mut tx = self.db.begin().await?;
        let cron_text = cron.to_string();
        let (unit, tz, audited) = match target {
            SeriesTarget::Participant(id) => {
                let p = participants::get(&mut tx, id).await?;
                let audited = json!({ "cron": cron_text, "participant": id });
                (p.unit_id, p.time_zone, audited)
            }
            SeriesTarget::Group(g) => {
                let (unit, _) = broadcasts::group(&mut tx, g).await?;
                let tz = units::get(&mut tx, unit).await?.time_zone;
                (unit, tz, json!({ "cron": cron_text, "group": g }))
            }
        };
        let sid = series::create(
            &mut tx,
            unit,
            target,
            kind,
            cron,
            tz,
            duration_min,
            location,
            now,
        )
        .await?;
        // Expansion starts at `expanded_until`; a later start moves it.
        series::set_expanded_until(&mut tx, sid, start).await?;
        if let SeriesTarget::Participant(id) = target {
            journal::append(
                &mut tx,
                id,
                None,
                now,
                actor.as_str(),
                "series_created",
                json!({ "series_id": sid, "kind": kind, "cron": cron_text, "starts": start.max(now) }),
            )
            .await?;
        }
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "series.create",
            &format!("series:{sid}"),
            audited,
        )
        .await?;
        tx.commit().await?;
        self.expand_series(now, horizon).await?;
        Ok(sid)
    }
}

/// "Sara" of "Sara Lind": a message names the new contact by first name.
fn first_name_of(name: &str) -> String {
    name.split_whitespace().next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_name_is_used() {
        assert_eq!(first_name_of("Sara Lind"), "Sara");
        assert_eq!(first_name_of("  Ali  "), "Ali");
    }

    #[test]
    fn the_new_contact_message_is_short_and_names_the_contact() {
        for lang in [Language::Sv, Language::En] {
            let t = texts::render(
                lang,
                NEW_CONTACT_KEY,
                &[("name", "Ali".into()), ("contact", "Sara".into())],
            );
            assert!(t.contains("Ali") && t.contains("Sara"), "{t}");
            assert!(t.chars().count() <= 160, "one SMS: {t}");
        }
    }
}
