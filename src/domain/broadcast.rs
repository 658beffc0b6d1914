//! Broadcast rules, pure: who of a group gets a staff-written message
//! (and why not, counted by reason), and what a staff-written text may be.
//! The urgent-window rule is `schedule::send_window`.

use crate::domain::gates::ConsentState;
use crate::domain::{ChannelKind, ChannelSet, ParticipantStatus};
use chrono::{DateTime, Utc};

/// The longest text staff may write: four SMS parts of GSM-7.
pub const MAX_TEXT_CHARS: usize = 612;

/// Why a member gets nothing. The names are the keys of the skipped counts.
pub fn skip_reason(
    status: ParticipantStatus,
    consent: Option<ConsentState>,
    opted_out: ChannelSet,
    reachable: ChannelSet,
    erased: bool,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if erased {
        return Some("erased");
    }
    let Some(c) = consent else {
        return Some("no_consent");
    };
    if c.withdrawn_at.is_some_and(|w| w <= now) || c.expires_at.is_some_and(|e| e <= now) {
        return Some("no_consent");
    }
    if status != ParticipantStatus::Active {
        return Some(match status {
            ParticipantStatus::Paused => "paused",
            ParticipantStatus::InCustody => "in_custody",
            _ => "discharged",
        });
    }
    let consented: Vec<ChannelKind> = ChannelKind::ALL
        .iter()
        .copied()
        .filter(|k| c.channels.contains(*k))
        .collect();
    if consented.is_empty() {
        return Some("no_consent");
    }
    if consented.iter().all(|k| opted_out.contains(*k)) {
        return Some("opted_out");
    }
    if !consented
        .iter()
        .any(|k| !opted_out.contains(*k) && reachable.contains(*k))
    {
        return Some("unreachable");
    }
    None
}

/// Why a staff-written text cannot be sent. Each adapter words it in its
/// own way: the web UI in the viewer's language (`ui-broadcasts-error-*`),
/// the API and CLI with [`std::fmt::Display`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the text is empty")]
    Empty,
    #[error("the text is {chars} characters; at most {MAX_TEXT_CHARS} fit in four SMS")]
    TooLong { chars: usize },
    #[error("the text has control characters")]
    ControlChars,
    #[error("the text names the group; a broadcast must not show who else got it")]
    NamesGroup,
}

/// Checks and tidies a staff-written text: trimmed, not empty, at most
/// [`MAX_TEXT_CHARS`], no control characters but line breaks, and not
/// naming the group (`forbidden`): a message never says who else got it.
pub fn check_text(text: &str, forbidden: &[&str]) -> Result<String, TextError> {
    let t = text.trim().replace("\r\n", "\n");
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    let chars = t.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(TextError::TooLong { chars });
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TextError::ControlChars);
    }
    let lower = t.to_lowercase();
    for f in forbidden {
        let f = f.trim().to_lowercase();
        if !f.is_empty() && lower.contains(&f) {
            return Err(TextError::NamesGroup);
        }
    }
    Ok(t)
}

/// Does a staff-written text already ask for a reply? A broadcast tied to
/// an activity gets the line "Svara KOMMER eller FÖRHINDER." unless the
/// coordinator's own text already asks: the question is never asked twice.
///
/// It asks when it names both answers ("kommer" and "förhinder", or
/// "coming" and "cannot"/"can't"), or says "svara"/"reply"/"answer" next to
/// one of them ("Svara KOMMER om du kan"). Matching is on whole words,
/// case-insensitive, with and without Swedish letters ("forhinder").
pub fn asks_for_reply(text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.to_lowercase()
                .replace(['ö', 'ø'], "o")
                .replace(['å', 'ä', 'æ'], "a")
                .replace('\'', "")
        })
        .collect();
    let has = |set: &[&str]| words.iter().any(|w| set.contains(&w.as_str()));
    const YES: &[&str] = &["kommer", "coming"];
    const NO: &[&str] = &["forhinder", "cannot", "cant"];
    const ASK: &[&str] = &["svara", "svar", "reply", "answer"];
    (has(YES) && has(NO)) || (has(ASK) && (has(YES) || has(NO)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(ch: &str) -> Option<ConsentState> {
        Some(ConsentState {
            channels: ch.parse().unwrap(),
            expires_at: None,
            withdrawn_at: None,
        })
    }

    #[test]
    fn who_is_skipped_and_why() {
        let now = Utc::now();
        let sms: ChannelSet = "sms".parse().unwrap();
        let none = ChannelSet::NONE;
        use ParticipantStatus::*;
        assert_eq!(
            skip_reason(Active, consent("sms"), none, sms, false, now),
            None
        );
        assert_eq!(
            skip_reason(Active, None, none, sms, false, now),
            Some("no_consent")
        );
        assert_eq!(
            skip_reason(InCustody, consent("sms"), none, sms, false, now),
            Some("in_custody")
        );
        assert_eq!(
            skip_reason(Active, consent("sms"), sms, sms, false, now),
            Some("opted_out")
        );
        assert_eq!(
            skip_reason(Active, consent("sms"), none, none, false, now),
            Some("unreachable")
        );
        assert_eq!(
            skip_reason(Active, consent("sms"), none, sms, true, now),
            Some("erased")
        );
    }

    #[test]
    fn texts_are_checked() {
        assert_eq!(check_text("  Hej!  ", &[]).unwrap(), "Hej!");
        assert_eq!(check_text(" ", &[]), Err(TextError::Empty));
        assert_eq!(check_text("Hej\u{7}", &[]), Err(TextError::ControlChars));
        assert_eq!(check_text(&"a".repeat(612), &[]).map(|t| t.len()), Ok(612));
        assert_eq!(
            check_text(&"å".repeat(613), &[]),
            Err(TextError::TooLong { chars: 613 })
        );
        assert_eq!(
            check_text("Träff för Tisdagsgruppen", &["tisdagsgruppen"]),
            Err(TextError::NamesGroup)
        );
        assert!(check_text("Rad ett\nRad två", &["x"]).is_ok());
    }

    #[test]
    fn a_text_that_already_asks_for_a_reply_is_recognised() {
        for asks in [
            "Budgetkursen flyttas till kl 14. Svara KOMMER eller FÖRHINDER.",
            "Svara kommer om du kan komma",
            "svara forhinder om du inte kan",
            "Kommer du? Skriv KOMMER eller FÖRHINDER",
            "Moved to 2 pm. Reply COMING or CANNOT.",
            "Please answer coming",
            "coming or can't?",
        ] {
            assert!(asks_for_reply(asks), "{asks:?}");
        }
        for plain in [
            "Budgetkursen flyttas till kl 14.",
            "Kontoret är stängt idag.",
            "Vi kommer att ha fika efteråt.",
            "We are coming to pick you up at 10.",
            "Svaret på frågan från i går: ja.",
            "",
        ] {
            assert!(!asks_for_reply(plain), "{plain:?}");
        }
    }
}
