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

/// Checks and tidies a staff-written text: trimmed, not empty, at most
/// [`MAX_TEXT_CHARS`], no control characters but line breaks, and not
/// naming the group (`forbidden`): a message never says who else got it.
pub fn check_text(text: &str, lang: &str, forbidden: &[&str]) -> Result<String, String> {
    let t = text.trim().replace("\r\n", "\n");
    if t.is_empty() {
        return Err(format!("the {lang} text is empty"));
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "the {lang} text is longer than {MAX_TEXT_CHARS} characters"
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("the {lang} text has control characters"));
    }
    let lower = t.to_lowercase();
    for f in forbidden {
        let f = f.trim().to_lowercase();
        if !f.is_empty() && lower.contains(&f) {
            return Err(format!(
                "the {lang} text names the group; a broadcast must not show who else got it"
            ));
        }
    }
    Ok(t)
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
        assert_eq!(check_text("  Hej!  ", "sv", &[]).unwrap(), "Hej!");
        assert!(check_text(" ", "sv", &[]).is_err());
        assert!(check_text("Hej\u{7}", "sv", &[]).is_err());
        assert!(check_text(&"a".repeat(613), "sv", &[]).is_err());
        assert!(check_text("Träff för Tisdagsgruppen", "sv", &["tisdagsgruppen"]).is_err());
        assert!(check_text("Rad ett\nRad två", "sv", &["x"]).is_ok());
    }
}
