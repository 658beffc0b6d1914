//! What can happen in a participant's case record: one variant per kind of
//! journal event, with what it carries. Stored as the row's `kind` (the
//! variant's snake_case name) and `detail` (its fields as a JSON object),
//! which is exactly serde's adjacently tagged form, so the JSON API shows
//! the same `{kind, detail}` it always did.
//!
//! Every field is optional, and old rows must keep parsing: erasure blanks
//! a detail to `{}`, the purge of old texts sets `text` and `reason` to
//! null, and rows written before a field existed lack it. A row that still
//! does not parse (a kind this version does not know) is shown by its
//! kind; nothing is lost, since the row itself is kept as stored.

use super::{
    AppointmentId, AppointmentKind, Attendance, ChannelKind, ChannelSet, GroupId, Intensity,
    Language, OutboxId, ParticipantStatus, Purpose, ReplyState, SeriesId, StaffId, phase::Phase,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum JournalEvent {
    ParticipantCreated {
        language: Option<Language>,
        channel: Option<ChannelKind>,
    },
    StatusChanged {
        from: Option<ParticipantStatus>,
        to: Option<ParticipantStatus>,
    },
    IntensityChanged {
        from: Option<Intensity>,
        to: Option<Intensity>,
    },
    LanguageChanged {
        from: Option<Language>,
        to: Option<Language>,
    },
    DiscreetChanged {
        from: Option<bool>,
        to: Option<bool>,
        /// Rows written before the shared field setter said `discreet`.
        #[serde(default, skip_serializing)]
        discreet: Option<bool>,
    },
    PhaseChanged {
        from: Option<Phase>,
        to: Option<Phase>,
    },
    /// `lots_id` null: the participant has no lots any more.
    LotsAssigned {
        lots_id: Option<StaffId>,
    },
    ConsentRecorded {
        channels: Option<ChannelSet>,
        expires_at: Option<DateTime<Utc>>,
    },
    ConsentWithdrawn {},
    AppointmentCreated {
        kind: Option<AppointmentKind>,
        starts_at: Option<DateTime<Utc>>,
        external_ref: Option<String>,
        /// Made by a series (a participant's or a group's).
        series_id: Option<SeriesId>,
    },
    AppointmentUpdated {
        kind: Option<AppointmentKind>,
    },
    AppointmentMoved {
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        reminders_cancelled: Option<u64>,
    },
    AppointmentCancelled {
        reminders_cancelled: Option<u64>,
        /// Cancelled with a group activity (the activity's appointment
        /// that was cancelled), with the notice queued to the participant.
        activity: Option<AppointmentId>,
        cancellation_outbox_id: Option<OutboxId>,
    },
    RemindersPlanned {
        channel: Option<ChannelKind>,
        #[serde(default)]
        due_at: Vec<DateTime<Utc>>,
    },
    MessageSent {
        outbox_id: Option<OutboxId>,
        purpose: Option<Purpose>,
        channel: Option<ChannelKind>,
        gateway_id: Option<String>,
        attempt: Option<i64>,
    },
    MessageSuppressed {
        outbox_id: Option<OutboxId>,
        purpose: Option<Purpose>,
        channel: Option<ChannelKind>,
        /// A `gates::SuppressReason` as displayed.
        reason: Option<String>,
    },
    DeliveryFailed {
        outbox_id: Option<OutboxId>,
        purpose: Option<Purpose>,
        channel: Option<ChannelKind>,
        error: Option<String>,
        attempts: Option<i64>,
        /// `gateway`: a delivery report said so (else the send failed).
        reported_by: Option<String>,
    },
    SummonsIssued {
        deadline: Option<DateTime<Utc>>,
        channel: Option<ChannelKind>,
        outbox_id: Option<OutboxId>,
    },
    /// A message from the participant: the text, how it was read
    /// (`domain::reply`'s intent, or a button's) and what it changed.
    InboundMessage {
        inbound_id: Option<i64>,
        channel: Option<ChannelKind>,
        text: Option<String>,
        #[serde(default)]
        intent: Value,
        #[serde(default)]
        changed: Value,
    },
    AttendanceRecorded {
        attendance: Option<Attendance>,
        previous: Option<Attendance>,
        closed_tasks: Option<u64>,
    },
    /// A recorded attendance taken back (`undone`), `attendance` what it
    /// is again.
    AttendanceUndone {
        attendance: Option<Attendance>,
        undone: Option<Attendance>,
        /// "No reply" tasks the recording had closed, open again.
        #[serde(default)]
        reopened_tasks: Option<u64>,
    },
    /// A reply the participant gave staff another way (on the phone, at
    /// the desk), recorded by staff: `reply` what they said, `previous`
    /// what was recorded before. "No reply" tasks it answered are closed.
    ReplyRecorded {
        reply: Option<ReplyState>,
        previous: Option<ReplyState>,
        closed_tasks: Option<u64>,
    },
    /// The contact details form: what was and what is (the number masked).
    DetailsChanged {
        from: Option<ContactFields>,
        to: Option<ContactFields>,
    },
    ContactNoticeQueued {
        outbox_id: Option<OutboxId>,
        channel: Option<ChannelKind>,
        lots_id: Option<StaffId>,
    },
    SeriesCreated {
        series_id: Option<SeriesId>,
        kind: Option<AppointmentKind>,
        cron: Option<String>,
        starts: Option<DateTime<Utc>>,
    },
    TelegramLinkCodeCreated {
        expires_at: Option<DateTime<Utc>>,
    },
    TelegramLinked {},
    TelegramUnlinked {},
    TelegramUnreachable {
        outbox_id: Option<OutboxId>,
    },
    OptedOutAtGateway {
        channel: Option<ChannelKind>,
    },
    /// Another participant with the same number sent STOPP.
    OptedOutSharedPhone {
        channel: Option<ChannelKind>,
    },
    FallbackToSms {
        failed_outbox_id: Option<OutboxId>,
        sms_outbox_id: Option<OutboxId>,
        telegram_error: Option<String>,
    },
    Erased {},
    GroupJoined {
        group_id: Option<GroupId>,
    },
    GroupLeft {
        group_id: Option<GroupId>,
        broadcast_messages_cancelled: Option<u64>,
    },
    /// A broadcast's message was queued (written by one statement for all
    /// recipients: `store::broadcasts::journal_queued`).
    BroadcastQueued {
        broadcast_id: Option<i64>,
        outbox_id: Option<OutboxId>,
    },
    /// The participant was assigned, at random and for good, to an arm of
    /// a trial of reminder timing or wording (issue 21).
    TrialAssigned {
        trial_id: Option<i64>,
        arm: Option<String>,
    },
}

/// A participant's contact details as the journal keeps them: the number
/// masked, the time zone by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFields {
    pub first_name: Option<String>,
    /// Masked (`+46 70 *** ** 67`): that it changed, not what it is.
    pub phone: Option<String>,
    pub channel_pref: Option<ChannelKind>,
    pub time_zone: Option<String>,
    pub language: Option<Language>,
}

impl ContactFields {
    /// The names of the fields that differ between `a` and `b`.
    pub fn changed(a: &ContactFields, b: &ContactFields) -> Vec<&'static str> {
        let mut out = Vec::new();
        if a.first_name != b.first_name {
            out.push("first_name");
        }
        if a.phone != b.phone {
            out.push("phone");
        }
        if a.channel_pref != b.channel_pref {
            out.push("channel_pref");
        }
        if a.time_zone != b.time_zone {
            out.push("time_zone");
        }
        if a.language != b.language {
            out.push("language");
        }
        out
    }
}

impl JournalEvent {
    /// The stored `kind` and `detail`.
    pub fn split(&self) -> (String, Value) {
        // Serialising a closed set of plain fields cannot fail.
        let mut v = serde_json::to_value(self).expect("journal events serialise");
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let detail = v
            .get_mut("detail")
            .map(Value::take)
            .unwrap_or_else(|| Value::Object(Default::default()));
        (kind, detail)
    }

    /// The event of a stored row; `None` for a kind this version does not
    /// know or a detail of another shape.
    pub fn parse(kind: &str, detail: &Value) -> Option<JournalEvent> {
        let detail = match detail {
            Value::Null => Value::Object(Default::default()),
            d => d.clone(),
        };
        serde_json::from_value(serde_json::json!({ "kind": kind, "detail": detail })).ok()
    }

    /// The stored kind alone.
    pub fn kind(&self) -> String {
        self.split().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn every_kind_blank() -> Vec<JournalEvent> {
        use JournalEvent::*;
        vec![
            ParticipantCreated {
                language: None,
                channel: None,
            },
            StatusChanged {
                from: None,
                to: None,
            },
            IntensityChanged {
                from: None,
                to: None,
            },
            LanguageChanged {
                from: None,
                to: None,
            },
            DiscreetChanged {
                from: None,
                to: None,
                discreet: None,
            },
            PhaseChanged {
                from: None,
                to: None,
            },
            LotsAssigned { lots_id: None },
            ConsentRecorded {
                channels: None,
                expires_at: None,
            },
            ConsentWithdrawn {},
            AppointmentCreated {
                kind: None,
                starts_at: None,
                external_ref: None,
                series_id: None,
            },
            AppointmentUpdated { kind: None },
            AppointmentMoved {
                from: None,
                to: None,
                reminders_cancelled: None,
            },
            AppointmentCancelled {
                reminders_cancelled: None,
                activity: None,
                cancellation_outbox_id: None,
            },
            RemindersPlanned {
                channel: None,
                due_at: vec![],
            },
            MessageSent {
                outbox_id: None,
                purpose: None,
                channel: None,
                gateway_id: None,
                attempt: None,
            },
            MessageSuppressed {
                outbox_id: None,
                purpose: None,
                channel: None,
                reason: None,
            },
            DeliveryFailed {
                outbox_id: None,
                purpose: None,
                channel: None,
                error: None,
                attempts: None,
                reported_by: None,
            },
            SummonsIssued {
                deadline: None,
                channel: None,
                outbox_id: None,
            },
            InboundMessage {
                inbound_id: None,
                channel: None,
                text: None,
                intent: Value::Null,
                changed: Value::Null,
            },
            AttendanceRecorded {
                attendance: None,
                previous: None,
                closed_tasks: None,
            },
            AttendanceUndone {
                attendance: None,
                undone: None,
                reopened_tasks: None,
            },
            ReplyRecorded {
                reply: None,
                previous: None,
                closed_tasks: None,
            },
            DetailsChanged {
                from: None,
                to: None,
            },
            ContactNoticeQueued {
                outbox_id: None,
                channel: None,
                lots_id: None,
            },
            SeriesCreated {
                series_id: None,
                kind: None,
                cron: None,
                starts: None,
            },
            TelegramLinkCodeCreated { expires_at: None },
            TelegramLinked {},
            TelegramUnlinked {},
            TelegramUnreachable { outbox_id: None },
            OptedOutAtGateway { channel: None },
            OptedOutSharedPhone { channel: None },
            FallbackToSms {
                failed_outbox_id: None,
                sms_outbox_id: None,
                telegram_error: None,
            },
            Erased {},
            GroupJoined { group_id: None },
            GroupLeft {
                group_id: None,
                broadcast_messages_cancelled: None,
            },
            BroadcastQueued {
                broadcast_id: None,
                outbox_id: None,
            },
            TrialAssigned {
                trial_id: None,
                arm: None,
            },
        ]
    }

    #[test]
    fn every_kind_survives_erasure_and_round_trips() {
        for e in every_kind_blank() {
            let (kind, detail) = e.split();
            assert!(detail.is_object(), "{kind}: detail is an object");
            assert_eq!(JournalEvent::parse(&kind, &detail).as_ref(), Some(&e));
            // Erasure blanks every detail to `{}`: the kind must still read.
            let erased = JournalEvent::parse(&kind, &json!({}));
            assert!(erased.is_some(), "{kind} does not read after erasure");
            assert_eq!(erased.unwrap().kind(), kind);
        }
    }

    #[test]
    fn kinds_are_the_stored_names() {
        let kinds: Vec<String> = every_kind_blank().iter().map(JournalEvent::kind).collect();
        for k in [
            "participant_created",
            "status_changed",
            "appointment_created",
            "reminders_planned",
            "message_sent",
            "inbound_message",
            "telegram_link_code_created",
            "opted_out_shared_phone",
            "fallback_to_sms",
            "broadcast_queued",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{k}");
        }
        let unique: std::collections::BTreeSet<_> = kinds.iter().collect();
        assert_eq!(unique.len(), kinds.len());
    }

    #[test]
    fn old_and_purged_rows_read() {
        // A purged reply: text null; a discreet change from before `to`.
        let e = JournalEvent::parse(
            "inbound_message",
            &json!({"inbound_id": 7, "channel": "sms", "text": null, "intent": {"intent": "coming"}}),
        )
        .unwrap();
        assert!(matches!(
            e,
            JournalEvent::InboundMessage {
                text: None,
                inbound_id: Some(7),
                ..
            }
        ));
        let d = JournalEvent::parse("discreet_changed", &json!({"discreet": true})).unwrap();
        assert!(matches!(
            d,
            JournalEvent::DiscreetChanged {
                discreet: Some(true),
                to: None,
                ..
            }
        ));
        assert_eq!(JournalEvent::parse("no_such_kind", &json!({})), None);
        assert_eq!(
            JournalEvent::parse("message_sent", &json!({"channel": "fax"})),
            None
        );
    }

    #[test]
    fn the_broadcast_statement_writes_a_readable_event() {
        // The detail `journal_queued` builds in SQL, as text.
        let stored = "{\"broadcast_id\":12,\"outbox_id\":345}";
        let e = JournalEvent::parse(
            "broadcast_queued",
            &serde_json::from_str::<Value>(stored).unwrap(),
        );
        assert_eq!(
            e,
            Some(JournalEvent::BroadcastQueued {
                broadcast_id: Some(12),
                outbox_id: Some(OutboxId::from_db(345)),
            })
        );
    }
}
