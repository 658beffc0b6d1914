//! Linking a Telegram chat to a person, and the tokens behind inline
//! buttons. Pure: generating randomness is the caller's (`LinkCode::random`
//! takes the bytes), hashing and throttling are arithmetic.
//!
//! * A [`LinkCode`] is single use and lives 24 hours; only its SHA-256 is
//!   stored, so a database dump does not hand out links.
//! * A chat that sends wrong codes is slowed down after
//!   [`FREE_LINK_TRIES`] tries: [`link_wait`] doubles the wait per further
//!   wrong code, up to a day.
//! * A [`CallbackToken`] is what an inline button carries: random, opaque,
//!   never an id someone could guess or count up.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// How long a link code is valid.
pub const LINK_CODE_TTL: Duration = Duration::hours(24);
/// How long a lots's attendance buttons on Telegram work after they were
/// sent (issue 15 item 13): a week-old prompt in a chat is not a way in.
pub const ATTENDANCE_BUTTON_TTL: Duration = Duration::days(7);

/// Whether attendance buttons sent at `sent_at` still work at `now`.
pub fn attendance_button_valid(
    sent_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    now < sent_at + ATTENDANCE_BUTTON_TTL
}
/// Wrong codes a chat may send before it is slowed down.
pub const FREE_LINK_TRIES: i64 = 5;
/// The longest a chat is made to wait between tries.
pub const MAX_LINK_WAIT: Duration = Duration::hours(24);

/// A one-time code: 16 random bytes, base64url without padding (22
/// characters of `A-Z a-z 0-9 _ -`, which a Telegram deep link carries
/// as is).
#[derive(Clone, PartialEq, Eq)]
pub struct LinkCode(String);

impl LinkCode {
    pub fn random(bytes: [u8; 16]) -> Self {
        LinkCode(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// What is stored: the hex SHA-256 of the code.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
    /// `https://t.me/<bot>?start=<code>`.
    pub fn deep_link(&self, bot_username: &str) -> String {
        format!(
            "https://t.me/{}?start={}",
            bot_username.trim_start_matches('@'),
            self.0
        )
    }
}

impl FromStr for LinkCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok = s.len() == 22
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(LinkCode(s.to_string()))
        } else {
            Err("a link code is 22 characters of letters, digits, _ and -".into())
        }
    }
}

/// Codes are secrets: never printed by `{:?}` into a log.
impl fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkCode(…)")
    }
}

/// What is stored about a chat that sent wrong codes: the SHA-256 of its
/// id, so the table does not list who tried.
pub fn chat_key(chat_id: i64) -> String {
    hex::encode(Sha256::digest(
        format!("telegram-chat:{chat_id}").as_bytes(),
    ))
}

/// Until when a chat that has sent `failures` wrong codes, the last at
/// `last_at`, must wait before its next try is even looked at. `None`: it
/// may try now. The first [`FREE_LINK_TRIES`] are free; then one minute,
/// doubling per wrong code, at most [`MAX_LINK_WAIT`].
pub fn link_wait(
    failures: i64,
    last_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if failures < FREE_LINK_TRIES {
        return None;
    }
    let doublings = (failures - FREE_LINK_TRIES).min(20) as u32;
    let wait = Duration::minutes(1i64 << doublings).min(MAX_LINK_WAIT);
    let until = last_at + wait;
    (until > now).then_some(until)
}

/// The token behind an inline button: 16 random bytes in hex (32
/// characters; Telegram allows 64 bytes of callback data).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallbackToken(String);

impl CallbackToken {
    pub fn random(bytes: [u8; 16]) -> Self {
        CallbackToken(hex::encode(bytes))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CallbackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackToken(…)")
    }
}

/// What a button says: a participant's reply or a lots's attendance
/// record. One letter after the token: `<token>:<choice>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonChoice {
    Coming,
    Cannot,
    Attended,
    Absent,
    Excused,
}

impl ButtonChoice {
    fn letter(self) -> char {
        match self {
            ButtonChoice::Coming => 'y',
            ButtonChoice::Cannot => 'n',
            ButtonChoice::Attended => 'a',
            ButtonChoice::Absent => 'u',
            ButtonChoice::Excused => 'e',
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ButtonChoice::Coming => "coming",
            ButtonChoice::Cannot => "cannot",
            ButtonChoice::Attended => "attended",
            ButtonChoice::Absent => "absent",
            ButtonChoice::Excused => "excused",
        }
    }
    /// Whether this is a participant's reply (as opposed to attendance).
    pub fn is_reply(self) -> bool {
        matches!(self, ButtonChoice::Coming | ButtonChoice::Cannot)
    }
}

/// The callback data of one button.
pub fn callback_data(token: &CallbackToken, choice: ButtonChoice) -> String {
    format!("{}:{}", token.0, choice.letter())
}

/// Parses callback data back; `None` for anything we did not write.
pub fn parse_callback_data(data: &str) -> Option<(CallbackToken, ButtonChoice)> {
    let (token, letter) = data.split_once(':')?;
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let choice = match letter {
        "y" => ButtonChoice::Coming,
        "n" => ButtonChoice::Cannot,
        "a" => ButtonChoice::Attended,
        "u" => ButtonChoice::Absent,
        "e" => ButtonChoice::Excused,
        _ => return None,
    };
    Some((CallbackToken(token.to_ascii_lowercase()), choice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn a_code_is_22_url_safe_characters_and_round_trips() {
        let c = LinkCode::random([0xfb; 16]);
        assert_eq!(c.as_str().len(), 22);
        assert_eq!(c.as_str().parse::<LinkCode>().unwrap(), c);
        assert!(
            c.deep_link("@paminn_bot")
                .starts_with("https://t.me/paminn_bot?start=")
        );
        assert_eq!(format!("{c:?}"), "LinkCode(…)");
        assert!("short".parse::<LinkCode>().is_err());
        assert!("aaaaaaaaaaaaaaaaaaaaa!".parse::<LinkCode>().is_err());
        assert!(
            "+46701234567".parse::<LinkCode>().is_err(),
            "a phone number is never a code"
        );
    }

    #[test]
    fn the_hash_differs_from_the_code_and_is_stable() {
        let c = LinkCode::random([1; 16]);
        assert_ne!(c.hash(), c.as_str());
        assert_eq!(c.hash(), LinkCode::random([1; 16]).hash());
        assert_ne!(c.hash(), LinkCode::random([2; 16]).hash());
    }

    #[test]
    fn five_wrong_codes_are_free_then_the_wait_doubles() {
        for f in 0..FREE_LINK_TRIES {
            assert_eq!(link_wait(f, t(0), t(0)), None);
        }
        assert_eq!(link_wait(5, t(0), t(0)), Some(t(1)));
        assert_eq!(link_wait(6, t(0), t(0)), Some(t(2)));
        assert_eq!(link_wait(8, t(0), t(0)), Some(t(8)));
        assert_eq!(
            link_wait(5, t(0), t(1)),
            None,
            "after the wait, a try is allowed"
        );
        assert_eq!(link_wait(1_000, t(0), t(0)), Some(t(0) + MAX_LINK_WAIT));
    }

    proptest! {
        #[test]
        fn the_wait_never_shrinks_with_more_failures_and_never_exceeds_a_day(f in 0i64..10_000, g in 0i64..10_000) {
            let (lo, hi) = if f <= g { (f, g) } else { (g, f) };
            let w = |n| link_wait(n, t(0), t(0)).unwrap_or(t(0));
            prop_assert!(w(lo) <= w(hi));
            prop_assert!(w(hi) <= t(0) + MAX_LINK_WAIT);
        }

        #[test]
        fn callback_data_round_trips_and_fits_telegrams_64_bytes(bytes in any::<[u8; 16]>(), i in 0usize..5) {
            let choices = [ButtonChoice::Coming, ButtonChoice::Cannot, ButtonChoice::Attended, ButtonChoice::Absent, ButtonChoice::Excused];
            let tok = CallbackToken::random(bytes);
            let d = callback_data(&tok, choices[i]);
            prop_assert!(d.len() <= 64);
            prop_assert_eq!(parse_callback_data(&d), Some((tok, choices[i])));
        }

        #[test]
        fn foreign_callback_data_is_refused_not_panicked_on(s in ".{0,80}") {
            if let Some((tok, _)) = parse_callback_data(&s) {
                prop_assert_eq!(tok.as_str().len(), 32);
            }
        }
    }

    #[test]
    fn chat_keys_hide_the_chat_id() {
        let k = chat_key(123456789);
        assert!(!k.contains("123456789"));
        assert_eq!(k, chat_key(123456789));
        assert_ne!(k, chat_key(123456788));
    }
}
