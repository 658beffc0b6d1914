//! The small closed vocabularies of the domain. Each is stored in the
//! database as its lowercase `as_str()` name and parsed back with `FromStr`,
//! so an unknown value is an error at the edge, never a silent default.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let lower = s.trim().to_lowercase();
                match lower.as_str() {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(format!(
                        "'{}' is not a {}; expected one of: {}",
                        s.trim(),
                        $what,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        /// The API's OpenAPI document: the closed set of names, as
        /// `as_str` writes them (the aliases are accepted on input only).
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

string_enum!(
    /// The language a participant reads their messages in.
    Language, "language" { Sv => "sv" | "svenska" | "swedish", En => "en" | "english" | "engelska" }
);

string_enum!(
    /// What an appointment is. Drug tests are never named in a message;
    /// the kind only picks the reminder rule.
    AppointmentKind, "kind of appointment" {
        Meeting => "meeting" | "möte" | "mote",
        DrugTest => "drug_test" | "drugtest" | "drug-test" | "test" | "provtagning",
        GroupActivity => "group_activity" | "group-activity" | "group" | "grupp",
        Other => "other" | "annat",
    }
);

string_enum!(
    /// Participant status gates sending: only `active` participants get
    /// messages. History is kept whatever the status.
    ParticipantStatus, "participant status" {
        Active => "active" | "aktiv",
        Paused => "paused" | "vilande",
        InCustody => "in_custody" | "in-custody" | "custody" | "häktad" | "anstalt",
        Discharged => "discharged" | "utskriven",
    }
);

string_enum!(
    /// A way of reaching a participant. Which transport carries it (a real
    /// gateway or the sandbox) is configuration, not data.
    ChannelKind, "channel" { Sms => "sms", Telegram => "telegram" }
);

string_enum!(
    /// Staff roles. A reviewer ("granskare") reviews the audit log and
    /// nothing else.
    Role, "role" {
        Admin => "admin",
        Coordinator => "coordinator" | "samordnare",
        Lots => "lots" | "navigator",
        Assistant => "assistant" | "assistent",
        Reviewer => "reviewer" | "granskare",
    }
);

string_enum!(
    /// The log review's ready-made selections of case-record views
    /// (`domain::review`): every view, views outside the viewer's own
    /// caseload, views of protected participants, the month's sample.
    ReviewSelection, "review selection" {
        All => "all" | "alla",
        Outside => "outside" | "utanfor" | "utanför",
        Protected => "protected" | "skyddade",
        Sample => "sample" | "stickprov",
    }
);

string_enum!(
    AppointmentStatus, "appointment status" { Scheduled => "scheduled", Cancelled => "cancelled" }
);

string_enum!(
    /// The participant's answer to a reminder. "coming" is a promise, not
    /// attendance.
    ReplyState, "reply" { None => "none", Coming => "coming", Cannot => "cannot" }
);

string_enum!(
    /// Attendance is only ever recorded by staff.
    Attendance, "attendance" {
        Unknown => "unknown",
        Attended => "attended" | "närvarade",
        Absent => "absent" | "uteblev",
        Excused => "excused" | "giltigt förhinder",
    }
);

string_enum!(
    /// Reminder intensity: reminders taper as a participant learns to keep
    /// times on their own. `day_before` keeps only the longest offset
    /// (usually 24h); `none` sends no reminders (summonses still go).
    Intensity, "reminder intensity" {
        All => "all" | "alla",
        DayBefore => "day_before" | "day-before" | "dagen_innan" | "dagen-innan",
        None => "none" | "inga",
    }
);

string_enum!(
    /// Kinds of task for a person.
    TaskKind, "task kind" {
        Cannot => "cannot",
        NoReply => "no_reply",
        DeliveryFailed => "delivery_failed",
        NotUnderstood => "not_understood",
        LateReply => "late_reply",
        ConsentExpiring => "consent_expiring",
        Gap => "gap",
        ComingLate => "coming_late",
    }
);

string_enum!(
    /// Why an outbox row exists.
    Purpose, "message purpose" {
        Reminder => "reminder",
        Summons => "summons",
        Receipt => "receipt",
        Notice => "notice",
    }
);

string_enum!(
    /// The life of one outgoing message. See [`OutboxStatus::can_move_to`]:
    /// a status never moves backwards.
    OutboxStatus, "outbox status" {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Failed => "failed",
        Cancelled => "cancelled",
        Suppressed => "suppressed",
    }
);

string_enum!(
    /// Why a message failed for good, as the gateway or the dispatcher
    /// classified it when it happened (stored in `outbox.error_kind`), so
    /// monitoring and the case record never read it back out of a text:
    /// no number or no linked chat to send to; the gateway says the number
    /// cannot get SMS (invalid, landline); the recipient opted out at the
    /// gateway (Twilio 21610); the chat is gone (bot blocked, account
    /// deactivated); the gateway refused paminn's credentials (an admin
    /// must act); retried until the policy gave up; any other refusal.
    FailureKind, "failure kind" {
        NoAddress => "no_address",
        InvalidNumber => "invalid_number",
        OptedOut => "opted_out",
        Unreachable => "unreachable",
        Credentials => "credentials",
        GaveUp => "gave_up",
        Rejected => "rejected",
    }
);

impl OutboxStatus {
    /// Final states are never left: a late "sent" receipt must not overwrite
    /// "delivered", and "failed" stays failed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OutboxStatus::Delivered
                | OutboxStatus::Failed
                | OutboxStatus::Cancelled
                | OutboxStatus::Suppressed
        )
    }

    /// The forward-only state machine:
    /// pending → sending → sent → delivered, with failed reachable from
    /// sending and sent (a gateway can report failure after accepting),
    /// cancelled/suppressed from pending and sending, and sending → pending
    /// for a retry. Anything else is a step backwards and is refused.
    pub fn can_move_to(self, next: OutboxStatus) -> bool {
        use OutboxStatus::*;
        matches!(
            (self, next),
            (Pending, Sending)
                | (Pending, Cancelled)
                | (Pending, Suppressed)
                | (Sending, Pending)
                | (Sending, Sent)
                | (Sending, Delivered)
                | (Sending, Failed)
                | (Sending, Cancelled)
                | (Sending, Suppressed)
                | (Sent, Delivered)
                | (Sent, Failed)
        )
    }
}

/// A set of channels, e.g. the channels a consent covers or the channels a
/// participant has opted out of. Stored as `sms,telegram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ChannelSet {
    pub sms: bool,
    pub telegram: bool,
}

impl ChannelSet {
    pub const NONE: ChannelSet = ChannelSet {
        sms: false,
        telegram: false,
    };

    pub fn contains(self, c: ChannelKind) -> bool {
        match c {
            ChannelKind::Sms => self.sms,
            ChannelKind::Telegram => self.telegram,
        }
    }

    pub fn with(mut self, c: ChannelKind, on: bool) -> Self {
        match c {
            ChannelKind::Sms => self.sms = on,
            ChannelKind::Telegram => self.telegram = on,
        }
        self
    }

    pub fn is_empty(self) -> bool {
        !self.sms && !self.telegram
    }

    pub fn iter(self) -> impl Iterator<Item = ChannelKind> {
        ChannelKind::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }
}

impl fmt::Display for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(ChannelKind::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for ChannelSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = ChannelSet::NONE;
        for part in s.split([',', ' ', ';']).filter(|p| !p.trim().is_empty()) {
            set = set.with(part.parse()?, true);
        }
        Ok(set)
    }
}

impl Serialize for ChannelSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(ChannelKind::as_str))
    }
}

/// A list of channel names in the API's OpenAPI document.
impl utoipa::PartialSchema for ChannelSet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<ChannelKind as utoipa::PartialSchema>::schema())
            .unique_items(true)
            .into()
    }
}
impl utoipa::ToSchema for ChannelSet {}

/// The form [`Serialize`] writes (a list of channel names); the stored
/// text form (`sms,telegram`) is read too.
impl<'de> Deserialize<'de> for ChannelSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<String>),
            Text(String),
        }
        let text = match Form::deserialize(d)? {
            Form::List(l) => l.join(","),
            Form::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_their_names() {
        for k in AppointmentKind::ALL {
            assert_eq!(k.as_str().parse::<AppointmentKind>().unwrap(), *k);
        }
        for s in OutboxStatus::ALL {
            assert_eq!(s.as_str().parse::<OutboxStatus>().unwrap(), *s);
        }
        assert_eq!(
            "Vilande".parse::<ParticipantStatus>().unwrap(),
            ParticipantStatus::Paused
        );
        let err = "fika".parse::<AppointmentKind>().unwrap_err();
        assert!(
            err.contains("meeting, drug_test, group_activity, other"),
            "{err}"
        );
    }

    #[test]
    fn outbox_status_never_moves_backwards_or_out_of_a_final_state() {
        use OutboxStatus::*;
        let rank = |s: OutboxStatus| match s {
            Pending => 0,
            Sending => 1,
            Sent => 2,
            Delivered | Failed | Cancelled | Suppressed => 3,
        };
        for from in OutboxStatus::ALL {
            for to in OutboxStatus::ALL {
                if from.can_move_to(*to) {
                    assert!(!from.is_final(), "{from} is final but moves to {to}");
                    // The only step down is sending → pending (a retry).
                    assert!(
                        rank(*to) > rank(*from) || (*from == Sending && *to == Pending),
                        "{from} -> {to} goes backwards"
                    );
                }
            }
        }
        assert!(!Delivered.can_move_to(Sent));
        assert!(!Failed.can_move_to(Delivered));
        assert!(Sent.can_move_to(Delivered));
    }

    #[test]
    fn channel_sets_parse_and_print() {
        let s: ChannelSet = "sms, telegram".parse().unwrap();
        assert!(s.contains(ChannelKind::Sms) && s.contains(ChannelKind::Telegram));
        assert_eq!(s.to_string(), "sms,telegram");
        assert_eq!("".parse::<ChannelSet>().unwrap(), ChannelSet::NONE);
        assert!("sms,fax".parse::<ChannelSet>().is_err());
    }
}
