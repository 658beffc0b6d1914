//! Linking a Telegram chat and what a linked chat can do, with no Telegram
//! types in sight: link codes and linking, who owns a chat, button taps (a
//! reply or an attendance record, each with its single-use token in the
//! same transaction), button tokens, and attendance prompts owed. The bot
//! (`crate::telegram`) does the talking; a lots's day is [`super::day`],
//! staff alerts are [`super::tasks`].

use super::record::record_attendance_in;
use super::replies::{Received, Tapped, receive_in};
use super::{Actor, Change, Engine};
use crate::domain::journal::JournalEvent;
use crate::domain::link::{self, ButtonChoice, CallbackToken, LinkCode};
use crate::domain::{
    AppointmentId, Attendance, ChannelKind, Language, OutboxId, ParticipantId, ReplyState,
};
use crate::error::{Error, Result};
use crate::store::participants::{self, Participant};
use crate::store::staff::{self, Staff};
use crate::store::telegram::{self as tg, Subject};
use crate::store::{appointments, audit, journal};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;

/// Who a chat belongs to.
#[derive(Debug, Clone)]
pub enum ChatOwner {
    Participant(Box<Participant>),
    Staff(Box<Staff>),
    Unknown,
}

/// The result of `/start <code>`.
#[derive(Debug, Clone)]
pub enum LinkOutcome {
    Participant(Box<Participant>),
    Staff(Box<Staff>),
    /// Unknown, used or expired: all look the same to the chat.
    Wrong,
    /// Too many wrong codes; the code was not even looked at.
    Slowed {
        until: DateTime<Utc>,
    },
}

/// The result of a tap on an inline button.
#[derive(Debug, Clone, PartialEq)]
pub enum TapOutcome {
    /// A participant's reply was recorded.
    Replied {
        language: Language,
        state: ReplyState,
    },
    /// A lots recorded attendance.
    Attendance {
        language: Language,
        attendance: Attendance,
    },
    /// The token was used before: nothing recorded.
    AlreadyUsed { language: Language },
    /// The token is not ours, or not for this chat.
    Unknown,
    /// A lots's attendance button that no longer works: older than
    /// [`link::ATTENDANCE_BUTTON_TTL`], or the tapper is no longer the
    /// participant's lots (nor a coordinator of the unit or an admin).
    Expired { language: Language },
    /// The attendance could not be recorded (the appointment was cancelled
    /// meanwhile); the reason is for the lots.
    Refused { language: Language, reason: String },
}

/// An appointment that has ended with no attendance recorded.
pub use crate::store::appointments::AttendancePrompt;

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b
}

/// A fresh random token for an inline button.
pub fn new_token() -> CallbackToken {
    CallbackToken::random(random16())
}

impl Engine {
    /// A one-time code that links a Telegram chat to a participant or a
    /// staff member, valid [`link::LINK_CODE_TTL`]. Earlier unused codes
    /// stay valid until they expire.
    pub async fn create_link_code(
        &self,
        subject: Subject,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(LinkCode, DateTime<Utc>)> {
        let code = LinkCode::random(random16());
        let expires = now + link::LINK_CODE_TTL;
        let mut tx = self.db.begin().await?;
        match subject {
            Subject::Participant(p) => {
                let part = participants::get(&mut tx, p).await?;
                if part.erased {
                    return Err(Error::Conflict(format!("participant {p} was erased")));
                }
                let event = JournalEvent::TelegramLinkCodeCreated {
                    expires_at: Some(expires),
                };
                let change = Change::of(p, "participant.link_code", event);
                actor.record(&mut tx, now, change).await?;
            }
            Subject::Staff(s) => {
                staff::get_active(&mut tx, s).await?;
                audit::append(
                    &mut tx,
                    now,
                    actor.as_str(),
                    "staff.link_code",
                    &format!("staff:{s}"),
                    json!({}),
                )
                .await?;
            }
        }
        tg::insert_link_code(&mut tx, &code, subject, actor.as_str(), now, expires).await?;
        tx.commit().await?;
        Ok((code, expires))
    }

    /// `/start <code>` from a chat. Wrong codes are counted per chat (by a
    /// hash of its id); after five, the chat must wait before a code is
    /// even looked at. A chat is only ever linked by a code.
    pub async fn link_chat(
        &self,
        chat_id: i64,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<LinkOutcome> {
        let key = link::chat_key(chat_id);
        let chat = chat_id.to_string();
        let mut tx = self.db.begin().await?;
        if let Some((failures, last)) = tg::link_failures(&mut tx, &key).await?
            && let Some(until) = link::link_wait(failures, last, now)
        {
            tx.rollback().await?;
            return Ok(LinkOutcome::Slowed { until });
        }
        let subject = match code.parse::<LinkCode>() {
            Ok(c) => tg::redeem_link_code(&mut tx, &c, now).await?,
            Err(_) => None,
        };
        let out = match subject {
            None => {
                tg::record_link_failure(&mut tx, &key, now).await?;
                LinkOutcome::Wrong
            }
            Some(Subject::Participant(p)) => {
                tg::link_participant(&mut tx, p, Some(&chat), now).await?;
                tg::clear_link_failures(&mut tx, &key).await?;
                journal::append(
                    &mut tx,
                    p,
                    None,
                    now,
                    "participant",
                    &JournalEvent::TelegramLinked {},
                )
                .await?;
                LinkOutcome::Participant(Box::new(participants::get(&mut tx, p).await?))
            }
            Some(Subject::Staff(s)) => {
                tg::link_staff(&mut tx, s, Some(&chat), now).await?;
                tg::clear_link_failures(&mut tx, &key).await?;
                audit::append(
                    &mut tx,
                    now,
                    &format!("staff:{s}"),
                    "staff.telegram_linked",
                    &format!("staff:{s}"),
                    json!({}),
                )
                .await?;
                LinkOutcome::Staff(Box::new(staff::get(&mut tx, s).await?))
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    /// `/stopp`: the chat is unlinked from whoever it belonged to. Returns
    /// who that was.
    pub async fn unlink_chat(&self, chat_id: i64, now: DateTime<Utc>) -> Result<ChatOwner> {
        let chat = chat_id.to_string();
        let mut tx = self.db.begin().await?;
        let owner = chat_owner_in(&mut tx, &chat).await?;
        match &owner {
            ChatOwner::Participant(p) => {
                tg::link_participant(&mut tx, p.id, None, now).await?;
                journal::append(
                    &mut tx,
                    p.id,
                    None,
                    now,
                    "participant",
                    &JournalEvent::TelegramUnlinked {},
                )
                .await?;
            }
            ChatOwner::Staff(s) => {
                tg::link_staff(&mut tx, s.id, None, now).await?;
                audit::append(
                    &mut tx,
                    now,
                    &format!("staff:{}", s.id),
                    "staff.telegram_unlinked",
                    &format!("staff:{}", s.id),
                    json!({}),
                )
                .await?;
            }
            ChatOwner::Unknown => {}
        }
        tx.commit().await?;
        Ok(owner)
    }

    pub async fn chat_owner(&self, chat_id: i64) -> Result<ChatOwner> {
        let mut c = self.db.conn().await?;
        chat_owner_in(&mut c, &chat_id.to_string()).await
    }

    /// A tap on an inline button. The token is used and the reply (or the
    /// attendance) recorded in one transaction, so a replayed or double tap
    /// records once. `callback_id` is Telegram's id for the tap; `label`
    /// is what the button said, kept as the inbound text.
    pub async fn tap(
        &self,
        token: &CallbackToken,
        choice: ButtonChoice,
        chat_id: i64,
        callback_id: &str,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<TapOutcome> {
        let chat = chat_id.to_string();
        let mut tx = self.db.begin().await?;
        let Some(cb) = tg::get_callback(&mut tx, token).await? else {
            return Ok(TapOutcome::Unknown);
        };
        if cb.chat_id != chat || (cb.kind == "reply") != choice.is_reply() {
            return Ok(TapOutcome::Unknown);
        }
        let out = if cb.kind == "reply" {
            let Some(p) = tg::participant_by_chat(&mut tx, &chat).await? else {
                return Ok(TapOutcome::Unknown);
            };
            let (owner, appointment) = outbox_target(&mut tx, cb.outbox_id).await?;
            if owner != Some(p) {
                return Ok(TapOutcome::Unknown);
            }
            let language = participants::get(&mut tx, p).await?.language;
            if !tg::use_callback(&mut tx, token, choice.as_str(), now).await? {
                return Ok(TapOutcome::AlreadyUsed { language });
            }
            let state = if choice == ButtonChoice::Coming {
                ReplyState::Coming
            } else {
                ReplyState::Cannot
            };
            let r = receive_in(
                &mut tx,
                ChannelKind::Telegram,
                &format!("cb:{callback_id}"),
                p,
                label,
                Some(Tapped { appointment, state }),
                now,
            )
            .await?;
            if r == Received::Duplicate {
                return Ok(TapOutcome::AlreadyUsed { language });
            }
            TapOutcome::Replied { language, state }
        } else {
            let (Some(s), Some(a)) = (cb.staff_id, cb.appointment_id) else {
                return Ok(TapOutcome::Unknown);
            };
            if tg::staff_by_chat(&mut tx, &chat).await? != Some(s) {
                return Ok(TapOutcome::Unknown);
            }
            let tapper = staff::get(&mut tx, s).await?;
            let language = tapper.language;
            // Checked again at tap time: the buttons expire, and only
            // someone who still has full access to the case records.
            let appt = crate::store::appointments::get(&mut tx, a).await?;
            let p = participants::get(&mut tx, appt.participant_id).await?;
            let viewer = crate::domain::access::Viewer {
                id: tapper.id,
                role: tapper.role,
                unit: tapper.unit_id,
            };
            let named = if p.protected {
                crate::store::protection::named(&mut tx, p.id).await?
            } else {
                Vec::new()
            };
            let subject = crate::domain::access::Subject {
                id: p.id,
                unit: p.unit_id,
                lots: p.lots_id,
                shield: crate::domain::access::Shield::of(p.protected, &named, tapper.id),
            };
            if !link::attendance_button_valid(cb.created_at, now)
                || !tapper.active
                || crate::domain::access::case_access(&viewer, &subject)
                    != crate::domain::access::CaseAccess::Full
            {
                return Ok(TapOutcome::Expired { language });
            }
            if !tg::use_callback(&mut tx, token, choice.as_str(), now).await? {
                return Ok(TapOutcome::AlreadyUsed { language });
            }
            let attendance = match choice {
                ButtonChoice::Attended => Attendance::Attended,
                ButtonChoice::Absent => Attendance::Absent,
                _ => Attendance::Excused,
            };
            let actor = Actor(format!("staff:{s}:telegram"));
            match record_attendance_in(&mut tx, a, attendance, &actor, now).await {
                Ok(_) => TapOutcome::Attendance {
                    language,
                    attendance,
                },
                Err(e @ (Error::Conflict(_) | Error::Invalid(_))) => {
                    tx.rollback().await?;
                    return Ok(TapOutcome::Refused {
                        language,
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        };
        tx.commit().await?;
        self.wake();
        Ok(out)
    }

    /// Appointments that ended (within the last two days) with no
    /// attendance recorded and no prompt yet, whose lots has Telegram.
    pub async fn attendance_prompts_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AttendancePrompt>> {
        let mut c = self.db.conn().await?;
        appointments::attendance_prompts_due(&mut c, now - Duration::days(2), now, limit).await
    }

    /// A token for the three attendance buttons of one prompt.
    pub async fn attendance_token(
        &self,
        p: &AttendancePrompt,
        now: DateTime<Utc>,
    ) -> Result<CallbackToken> {
        let token = new_token();
        let mut c = self.db.conn().await?;
        tg::insert_callback(
            &mut c,
            &token,
            "attendance",
            None,
            Some(p.appointment_id),
            Some(p.staff_id),
            &p.chat_id,
            now,
        )
        .await?;
        Ok(token)
    }

    pub async fn mark_attendance_prompted(
        &self,
        a: AppointmentId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.db.conn().await?;
        appointments::mark_attendance_prompted(&mut c, a, now).await
    }
}

async fn chat_owner_in(c: &mut crate::store::Conn, chat: &str) -> Result<ChatOwner> {
    if let Some(s) = tg::staff_by_chat(c, chat).await? {
        return Ok(ChatOwner::Staff(Box::new(staff::get(c, s).await?)));
    }
    if let Some(p) = tg::participant_by_chat(c, chat).await? {
        return Ok(ChatOwner::Participant(Box::new(
            participants::get(c, p).await?,
        )));
    }
    Ok(ChatOwner::Unknown)
}

/// The participant and appointment of the outbox row a reply button was on.
async fn outbox_target(
    c: &mut crate::store::Conn,
    outbox: Option<OutboxId>,
) -> Result<(Option<ParticipantId>, Option<AppointmentId>)> {
    let Some(o) = outbox else {
        return Ok((None, None));
    };
    Ok(match crate::store::outbox::target(c, o).await? {
        Some((p, a)) => (Some(p), a),
        None => (None, None),
    })
}
