//! Participants: adding one, consent, and every field staff set (status,
//! language, discreet, intensity, programme phase, the responsible lots),
//! each through [`Engine::change_participant`] or its own transaction with
//! the journal and the audit log.

use super::{Actor, Change, Engine, Field, planner};
use crate::domain::journal::JournalEvent;
use crate::domain::{
    AppointmentStatus, ChannelSet, Intensity, Language, OutboxId, ParticipantId, ParticipantStatus,
    Phase, Role, StaffId,
};
use crate::error::{Error, Result};
use crate::store::consents::{self, DEFAULT_VALIDITY};
use crate::store::outbox::{self, NewMessage};
use crate::store::participants::{self, ContactDetails, NewParticipant, Participant};
use crate::store::{appointments, journal, staff, ui_participants};
use crate::texts;
use chrono::{DateTime, Utc};

/// The text key of the message that tells a participant who their new
/// contact person is (in `locales/*/main.ftl`, checked with the receipts).
pub const NEW_CONTACT_KEY: &str = "notice-new-contact";

impl Engine {
    /// Adds a participant, with a consent if one is given.
    pub async fn add_participant(
        &self,
        new: &NewParticipant,
        consent: Option<ChannelSet>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Participant> {
        let mut tx = self.db.begin().await?;
        crate::store::units::get(&mut tx, new.unit_id).await?;
        let p = participants::create(&mut tx, new, now).await?;
        let event = JournalEvent::ParticipantCreated {
            language: Some(p.language),
            channel: Some(p.channel_pref),
        };
        let change = Change::of(p.id, "participant.create", event);
        actor.record(&mut tx, now, change).await?;
        if let Some(ch) = consent.filter(|c| !c.is_empty()) {
            let c = consents::record(
                &mut tx,
                p.id,
                ch,
                actor.as_str(),
                now,
                Some(now + DEFAULT_VALIDITY),
            )
            .await?;
            journal::append(
                &mut tx,
                p.id,
                None,
                now,
                actor.as_str(),
                &JournalEvent::ConsentRecorded {
                    channels: Some(c.channels),
                    expires_at: c.expires_at,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(p)
    }

    pub async fn record_consent(
        &self,
        id: ParticipantId,
        channels: ChannelSet,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        participants::get(&mut tx, id).await?;
        let expires = expires_at.or(Some(now + DEFAULT_VALIDITY));
        let c = consents::record(&mut tx, id, channels, actor.as_str(), now, expires).await?;
        let event = JournalEvent::ConsentRecorded {
            channels: Some(c.channels),
            expires_at: c.expires_at,
        };
        let change = Change::of(id, "consent.record", event);
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    /// Withdraws consent: from this instant nothing is sent.
    pub async fn withdraw_consent(
        &self,
        id: ParticipantId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        participants::get(&mut tx, id).await?;
        if !consents::withdraw(&mut tx, id, actor.as_str(), now).await? {
            return Err(Error::Conflict(format!(
                "participant {id} has no consent in force"
            )));
        }
        let change = Change::of(id, "consent.withdraw", JournalEvent::ConsentWithdrawn {});
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_status(
        &self,
        id: ParticipantId,
        status: ParticipantStatus,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            event: |from, to| JournalEvent::StatusChanged {
                from: Some(from),
                to: Some(to),
            },
            action: "participant.status",
            current: |p: &Participant| p.status,
            to: status,
        };
        let changed = self
            .change_participant(id, actor, now, field, async |c| {
                participants::set_status(c, id, status, now).await
            })
            .await?;
        if changed {
            self.wake();
        }
        Ok(())
    }

    /// Sets the reminder intensity. Pending reminders that no longer apply
    /// are cancelled; when it goes up, future reminders are planned (none
    /// are sent "at once" to make up for the past).
    pub async fn set_intensity(
        &self,
        id: ParticipantId,
        i: Intensity,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            event: |from, to| JournalEvent::IntensityChanged {
                from: Some(from),
                to: Some(to),
            },
            action: "participant.intensity",
            current: |p: &Participant| p.intensity,
            to: i,
        };
        let changed = self
            .change_participant(id, actor, now, field, async |c| {
                participants::set_intensity(c, id, i, now).await?;
                for a in appointments::for_participant(c, id, Some(now)).await? {
                    if a.status != AppointmentStatus::Scheduled {
                        continue;
                    }
                    outbox::cancel_open_for_appointment(c, a.id, "reminder intensity changed", now)
                        .await?;
                    appointments::bump_plan_version(&mut *c, a.id).await?;
                    let a = appointments::get(c, a.id).await?;
                    planner::plan_future_only(c, &a, now).await?;
                }
                Ok(())
            })
            .await?;
        if changed {
            self.wake();
        }
        Ok(())
    }

    /// The language a participant's messages are written in.
    pub async fn set_language(
        &self,
        id: ParticipantId,
        language: Language,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let field = Field {
            event: |from, to| JournalEvent::LanguageChanged {
                from: Some(from),
                to: Some(to),
            },
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
            event: |from, to| JournalEvent::DiscreetChanged {
                from: Some(from),
                to: Some(to),
                discreet: None,
            },
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
            event: |from, to| JournalEvent::PhaseChanged { from, to },
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

    /// Changes a participant's contact details (first name, phone number,
    /// preferred channel, time zone, language) from the case record's edit
    /// form, as one change: one journal line (`details_changed`, the
    /// number masked) and one audit row (`participant.edit`); nothing when
    /// nothing changed. The name is checked as at creation; the number is
    /// a [`crate::domain::PhoneNumber`], so parsed as at creation.
    ///
    /// Pending messages: the outbox stores no address (the dispatcher reads
    /// the participant's number when it claims a row), so a new number
    /// needs nothing: every message not yet sent goes to it. A new channel
    /// or time zone changes which channel and which wall-clock times the
    /// reminders were planned for, so the unsent reminders of coming
    /// appointments are cancelled and planned afresh (future ones only,
    /// as when the intensity changes).
    pub async fn edit_participant(
        &self,
        id: ParticipantId,
        details: &ContactDetails,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let details = ContactDetails {
            first_name: participants::parse_first_name(&details.first_name)?,
            ..details.clone()
        };
        let field = Field {
            event: |from: ContactDetails, to: ContactDetails| JournalEvent::DetailsChanged {
                from: Some(from.fields()),
                to: Some(to.fields()),
            },
            action: "participant.edit",
            current: ContactDetails::of,
            to: details.clone(),
        };
        let changed = self
            .change_participant(id, actor, now, field, async |c| {
                let before = participants::get(c, id).await?;
                if before.erased {
                    return Err(Error::Conflict(format!(
                        "participant {id} was erased; their details stay erased"
                    )));
                }
                participants::set_details(c, id, &details, now).await?;
                if before.channel_pref != details.channel_pref
                    || before.time_zone != details.time_zone
                {
                    replan_unsent(c, id, "contact details changed", now).await?;
                }
                Ok(())
            })
            .await?;
        if changed {
            self.wake();
        }
        Ok(changed)
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
        assign_lots_in(&mut tx, id, Some(lots), actor, now).await?;
        if p.erased {
            tx.commit().await?;
            return Ok(None);
        }
        let p = participants::get(&mut tx, id).await?;
        let consent = consents::current(&mut tx, id).await?;
        let channel = planner::channel_for(&p, consent.as_ref());
        let contact = first_name_of(&new_lots.name);
        let body = texts::render(
            p.language,
            NEW_CONTACT_KEY,
            &[("name", p.first_name.clone()), ("contact", contact)],
        );
        let notice = NewMessage::notice(id, channel, body, now);
        let outbox_id = outbox::insert(&mut tx, &notice, now).await?;
        let event = JournalEvent::ContactNoticeQueued {
            outbox_id,
            channel: Some(channel),
            lots_id: Some(lots),
        };
        let change = Change::of(id, "participant.contact_notice", event);
        actor.record(&mut tx, now, change).await?;
        tx.commit().await?;
        self.wake();
        Ok(outbox_id)
    }

    /// Makes a lots responsible for a participant; open tasks follow.
    pub async fn assign_lots(
        &self,
        p: ParticipantId,
        lots: Option<StaffId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        assign_lots_in(&mut tx, p, lots, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// [`Engine::assign_lots`] in the caller's transaction.
pub(crate) async fn assign_lots_in(
    c: &mut crate::store::Conn,
    p: ParticipantId,
    lots: Option<StaffId>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    participants::get(c, p).await?;
    if let Some(s) = lots {
        staff::get_active(c, s).await?;
    }
    staff::assign_lots(c, p, lots, now).await?;
    let event = JournalEvent::LotsAssigned { lots_id: lots };
    actor
        .record(c, now, Change::of(p, "participant.lots", event))
        .await
}

/// Cancels the unsent reminders of a participant's coming appointments and
/// plans them afresh at a new plan version (future times only).
async fn replan_unsent(
    c: &mut crate::store::Conn,
    id: ParticipantId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    for a in appointments::for_participant(c, id, Some(now)).await? {
        if a.status != AppointmentStatus::Scheduled {
            continue;
        }
        outbox::cancel_open_for_appointment(c, a.id, reason, now).await?;
        // The same start at the next plan version.
        appointments::reschedule(c, a.id, a.starts_at, now).await?;
        let a = appointments::get(c, a.id).await?;
        planner::plan_future_only(c, &a, now).await?;
    }
    Ok(())
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
