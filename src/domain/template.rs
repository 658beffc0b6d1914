//! A unit's own wording of a reminder or a summons (issue 23): the text a
//! coordinator types, with placeholders in a friendly form (`{namn}`,
//! `{tid}`; `{name}`, `{when}` in English, both spellings accepted in
//! either language), parsed once into a [`TemplateText`] that can only hold
//! a template that is safe to send:
//!
//! * every brace is part of a known placeholder, and only of one this kind
//!   of message can fill (`{tid}` in a reminder, `{inom}`/`{senast}` in a
//!   summons); the offending part is named when not;
//! * the time is in it (a reminder without `{tid}` says nothing; DOMAIN.md:
//!   "the time first");
//! * a text that asks for a reply still names both answers the reply
//!   parser takes ([`REPLY_WORDS`]: KOMMER and FÖRHINDER, COMING and
//!   CANNOT), so a participant is never asked a question the parser
//!   cannot take;
//! * it names nothing sensitive (`texts::sensitive_words_in`): an override
//!   goes to every participant of the unit, discreet ones included, and
//!   DOMAIN.md's first principle is "discreet by default", so it is simply
//!   refused, with the words named;
//! * not empty, no control characters but line breaks, and at most
//!   [`MAX_CHARS`] characters (three SMS parts of GSM-7) both as typed and
//!   filled with a long sample ([`Values::long`]).
//!
//! Rendering a valid template never leaves a brace or a placeholder
//! (property-tested below).

use crate::domain::Language;
use std::fmt;
use std::str::FromStr;

/// Three SMS parts of GSM-7 (3 × 153): the longest a template may be, as
/// typed and once filled with [`Values::long`].
pub const MAX_CHARS: usize = 459;

/// The answers a reply-asking text must name, per language: the words the
/// reply parser (`domain::reply::parse`) reads as coming and as cannot
/// (checked by a test there-against below).
pub const REPLY_WORDS: [(Language, &str, &str); 2] = [
    (Language::Sv, "KOMMER", "FÖRHINDER"),
    (Language::En, "COMING", "CANNOT"),
];

/// The two words a reply-asking text in `lang` must contain.
pub fn reply_words(lang: Language) -> (&'static str, &'static str) {
    REPLY_WORDS
        .iter()
        .find(|(l, _, _)| *l == lang)
        .map(|(_, y, n)| (*y, *n))
        .unwrap_or(("KOMMER", "FÖRHINDER"))
}

/// Which message a template words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateKey {
    /// A reminder that asks no reply.
    Reminder,
    /// A reminder that asks "kommer" or "förhinder".
    ReminderReply,
    /// A test on request: come in within a deadline (asks a reply).
    Summons,
}

impl TemplateKey {
    pub const ALL: [TemplateKey; 3] = [
        TemplateKey::ReminderReply,
        TemplateKey::Reminder,
        TemplateKey::Summons,
    ];

    /// The stored key, the same as the Fluent message's.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKey::Reminder => "reminder",
            TemplateKey::ReminderReply => "reminder-reply",
            TemplateKey::Summons => "summons",
        }
    }

    /// The placeholders this message can fill.
    pub fn placeholders(self) -> &'static [Placeholder] {
        match self {
            TemplateKey::Reminder | TemplateKey::ReminderReply => {
                &[Placeholder::Name, Placeholder::When]
            }
            TemplateKey::Summons => &[
                Placeholder::Name,
                Placeholder::Within,
                Placeholder::Deadline,
            ],
        }
    }

    /// At least one of these must be in the text: the time.
    pub fn time_placeholders(self) -> &'static [Placeholder] {
        match self {
            TemplateKey::Reminder | TemplateKey::ReminderReply => &[Placeholder::When],
            TemplateKey::Summons => &[Placeholder::Within, Placeholder::Deadline],
        }
    }

    /// Whether the message asks for a reply (and so must name the answers).
    pub fn asks_reply(self) -> bool {
        !matches!(self, TemplateKey::Reminder)
    }
}

impl fmt::Display for TemplateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TemplateKey::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not an editable message"))
    }
}

/// A value a template can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// The participant's first name.
    Name,
    /// The appointment's day and time in words ("imorgon torsdag 10
    /// december kl. 09:00").
    When,
    /// A summons' time to come in ("2 timmar").
    Within,
    /// A summons' deadline on the clock ("14:30").
    Deadline,
}

impl Placeholder {
    pub const ALL: [Placeholder; 4] = [
        Placeholder::Name,
        Placeholder::When,
        Placeholder::Within,
        Placeholder::Deadline,
    ];

    /// How it is written in a template in `lang` (without braces).
    pub fn spelling(self, lang: Language) -> &'static str {
        match (self, lang) {
            (Placeholder::Name, Language::Sv) => "namn",
            (Placeholder::Name, Language::En) => "name",
            (Placeholder::When, Language::Sv) => "tid",
            (Placeholder::When, Language::En) => "when",
            (Placeholder::Within, Language::Sv) => "inom",
            (Placeholder::Within, Language::En) => "within",
            (Placeholder::Deadline, Language::Sv) => "senast",
            (Placeholder::Deadline, Language::En) => "deadline",
        }
    }

    /// Either language's spelling, any case, spaces around ignored.
    fn from_word(w: &str) -> Option<Placeholder> {
        let w = w.trim().to_lowercase();
        Placeholder::ALL.into_iter().find(|p| {
            [Language::Sv, Language::En]
                .into_iter()
                .any(|l| p.spelling(l) == w)
        })
    }
}

/// Why a typed template cannot be stored. The web UI words each in the
/// viewer's language; `Display` is for the CLI, the API and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the text is empty")]
    Empty,
    #[error("the text has control characters")]
    ControlChars,
    /// A `{` without its `}` or a `}` without its `{`: the text around it.
    #[error("a brace is not closed or not opened near \"{near}\"")]
    UnbalancedBrace { near: String },
    /// A placeholder this message cannot fill, as typed.
    #[error("unknown placeholder {{{name}}}")]
    UnknownPlaceholder { name: String },
    /// The time is missing: one of these spellings is needed.
    #[error("the text needs the time: {{{needed}}}")]
    MissingTime { needed: String },
    /// A reply is asked but the answers the parser takes are not named.
    #[error("the text asks for a reply, so it must name both {yes} and {no}")]
    NoReplyWords { yes: &'static str, no: &'static str },
    #[error("the text names something sensitive: {}", .words.join(", "))]
    Sensitive { words: Vec<&'static str> },
    #[error("the text is {chars} characters with a long name and date; at most {max}")]
    TooLong { chars: usize, max: usize },
}

/// What a template is filled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Values<'a> {
    pub name: &'a str,
    pub when: &'a str,
    pub within: &'a str,
    pub deadline: &'a str,
}

impl Values<'static> {
    /// The longest values a real message is filled with: a long first name,
    /// the longest date in words, a summons' longest wording of its time.
    pub fn long(lang: Language) -> Values<'static> {
        match lang {
            Language::Sv => Values {
                name: "Alexandra-Josefine",
                when: "imorgon torsdag 30 september kl. 09:00",
                within: "1439 minuter",
                deadline: "23:59",
            },
            Language::En => Values {
                name: "Alexandra-Josefine",
                when: "tomorrow, Wednesday 30 September at 09:00",
                within: "1439 minutes",
                deadline: "23:59",
            },
        }
    }
}

impl Values<'_> {
    fn get(&self, p: Placeholder) -> &str {
        match p {
            Placeholder::Name => self.name,
            Placeholder::When => self.when,
            Placeholder::Within => self.within,
            Placeholder::Deadline => self.deadline,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(Placeholder),
}

/// A unit's wording of one message in one language, known to be valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateText {
    key: TemplateKey,
    lang: Language,
    /// The text as stored: trimmed, line breaks as `\n`.
    body: String,
    pieces: Vec<Piece>,
}

/// Up to 20 characters either side of byte offset `at`, for an error.
fn near(s: &str, at: usize) -> String {
    let before: String = s[..at]
        .chars()
        .rev()
        .take(20)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = s[at..].chars().take(20).collect();
    format!("{before}{after}").trim().to_string()
}

/// Words of a text, lower case, "ö" read as "o" (the parser takes
/// "forhinder" too).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('ö', "o"))
        .collect()
}

fn pieces(body: &str, key: TemplateKey) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = body;
    let mut offset = 0;
    while let Some(i) = rest.find(['{', '}']) {
        if rest[i..].starts_with('}') {
            return Err(TemplateError::UnbalancedBrace {
                near: near(body, offset + i),
            });
        }
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let close = after.find('}');
        let open = after.find('{');
        let Some(close) = close.filter(|c| open.is_none_or(|o| o > *c)) else {
            return Err(TemplateError::UnbalancedBrace {
                near: near(body, offset + i),
            });
        };
        let name = &after[..close];
        let p = Placeholder::from_word(name)
            .filter(|p| key.placeholders().contains(p))
            .ok_or_else(|| TemplateError::UnknownPlaceholder {
                name: name.trim().to_string(),
            })?;
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Slot(p));
        let used = i + 1 + close + 1;
        offset += used;
        rest = &rest[used..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

impl TemplateText {
    /// Parses a typed template for `key` in `lang`; the first problem found
    /// is the error.
    pub fn parse(key: TemplateKey, lang: Language, typed: &str) -> Result<Self, TemplateError> {
        let body = typed.trim().replace("\r\n", "\n").replace('\r', "\n");
        if body.is_empty() {
            return Err(TemplateError::Empty);
        }
        if body.chars().any(|c| c.is_control() && c != '\n') {
            return Err(TemplateError::ControlChars);
        }
        let pieces = pieces(&body, key)?;
        let slots: Vec<Placeholder> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Slot(s) => Some(*s),
                Piece::Text(_) => None,
            })
            .collect();
        if !key.time_placeholders().iter().any(|p| slots.contains(p)) {
            let needed = key
                .time_placeholders()
                .iter()
                .map(|p| p.spelling(lang))
                .collect::<Vec<_>>()
                .join("} / {");
            return Err(TemplateError::MissingTime { needed });
        }
        let literal: String = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Slot(_) => " ",
            })
            .collect();
        if key.asks_reply() {
            let (yes, no) = reply_words(lang);
            let w = words(&literal);
            let has = |x: &str| w.contains(&x.to_lowercase().replace('ö', "o"));
            if !(has(yes) && has(no)) {
                return Err(TemplateError::NoReplyWords { yes, no });
            }
        }
        let sensitive = crate::texts::sensitive_words_in(&literal);
        if !sensitive.is_empty() {
            return Err(TemplateError::Sensitive { words: sensitive });
        }
        let t = TemplateText {
            key,
            lang,
            body,
            pieces,
        };
        let chars = t
            .body
            .chars()
            .count()
            .max(t.render(&Values::long(lang)).chars().count());
        if chars > MAX_CHARS {
            return Err(TemplateError::TooLong {
                chars,
                max: MAX_CHARS,
            });
        }
        Ok(t)
    }

    pub fn key(&self) -> TemplateKey {
        self.key
    }

    pub fn lang(&self) -> Language {
        self.lang
    }

    /// The text as stored.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The message: every placeholder filled.
    pub fn render(&self, v: &Values<'_>) -> String {
        let mut out = String::with_capacity(self.body.len() + 48);
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(s) => out.push_str(v.get(*s)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reply::{Intent, parse};
    use proptest::prelude::*;

    const SV_OK: &str = "Hej {namn}! Du har en tid {tid}. Svara KOMMER eller FÖRHINDER.";

    fn sample(lang: Language) -> Values<'static> {
        Values {
            name: "Ali",
            when: if lang == Language::Sv {
                "imorgon torsdag 10 december kl. 09:00"
            } else {
                "tomorrow, Thursday 10 December at 09:00"
            },
            within: "2 timmar",
            deadline: "14:30",
        }
    }

    #[test]
    fn a_swedish_reminder_is_filled() {
        let t = TemplateText::parse(TemplateKey::ReminderReply, Language::Sv, SV_OK).unwrap();
        assert_eq!(
            t.render(&sample(Language::Sv)),
            "Hej Ali! Du har en tid imorgon torsdag 10 december kl. 09:00. Svara KOMMER eller FÖRHINDER."
        );
        assert_eq!(t.body(), SV_OK);
    }

    #[test]
    fn both_spellings_any_case_and_spaces_are_accepted() {
        let t = TemplateText::parse(
            TemplateKey::Reminder,
            Language::En,
            "Hi { Namn }, see you {WHEN}. /{name}",
        )
        .unwrap();
        assert_eq!(
            t.render(&sample(Language::En)),
            "Hi Ali, see you tomorrow, Thursday 10 December at 09:00. /Ali"
        );
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let e = TemplateText::parse(TemplateKey::Reminder, Language::Sv, "Hej {förnamn}, {tid}")
            .unwrap_err();
        assert_eq!(
            e,
            TemplateError::UnknownPlaceholder {
                name: "förnamn".into()
            }
        );
        // A summons' placeholder is not a reminder's.
        let e = TemplateText::parse(TemplateKey::Reminder, Language::Sv, "{tid} senast {senast}")
            .unwrap_err();
        assert_eq!(
            e,
            TemplateError::UnknownPlaceholder {
                name: "senast".into()
            }
        );
        let e = TemplateText::parse(TemplateKey::Reminder, Language::Sv, "{} {tid}").unwrap_err();
        assert_eq!(e, TemplateError::UnknownPlaceholder { name: "".into() });
    }

    #[test]
    fn unbalanced_braces_are_refused_with_the_place() {
        for (text, part) in [
            ("Hej {namn! Din tid {tid}", "Hej {namn!"),
            ("Hej namn}! {tid}", "namn}"),
            ("Tid: {tid", "{tid"),
            ("{tid} {{namn}}", "{{namn"),
        ] {
            match TemplateText::parse(TemplateKey::Reminder, Language::Sv, text) {
                Err(TemplateError::UnbalancedBrace { near }) => {
                    assert!(near.contains(part), "{text}: {near}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_time_must_be_there() {
        assert_eq!(
            TemplateText::parse(TemplateKey::Reminder, Language::Sv, "Hej {namn}!"),
            Err(TemplateError::MissingTime {
                needed: "tid".into()
            })
        );
        assert_eq!(
            TemplateText::parse(
                TemplateKey::Summons,
                Language::En,
                "Hi {name}! Come in. Reply COMING or CANNOT."
            ),
            Err(TemplateError::MissingTime {
                needed: "within} / {deadline".into()
            })
        );
        assert!(
            TemplateText::parse(
                TemplateKey::Summons,
                Language::Sv,
                "Hej {namn}! Kom in senast kl. {senast}. Svara KOMMER eller FÖRHINDER."
            )
            .is_ok()
        );
    }

    #[test]
    fn a_reply_asking_text_must_name_both_answers() {
        let e = TemplateText::parse(
            TemplateKey::ReminderReply,
            Language::Sv,
            "Hej {namn}! Tid {tid}. Svara JA eller NEJ.",
        )
        .unwrap_err();
        assert_eq!(
            e,
            TemplateError::NoReplyWords {
                yes: "KOMMER",
                no: "FÖRHINDER"
            }
        );
        // English words do not do for a Swedish text and the other way round.
        assert!(
            TemplateText::parse(
                TemplateKey::ReminderReply,
                Language::En,
                "Hi! {when}. Svara KOMMER eller FÖRHINDER."
            )
            .is_err()
        );
        // Any case, and "forhinder" without the dots.
        assert!(
            TemplateText::parse(
                TemplateKey::ReminderReply,
                Language::Sv,
                "{tid}: svara kommer eller forhinder"
            )
            .is_ok()
        );
        // A word in a placeholder's name does not count.
        assert!(
            TemplateText::parse(TemplateKey::Reminder, Language::Sv, "Hej {namn}, {tid}").is_ok()
        );
    }

    #[test]
    fn the_reply_words_are_what_the_parser_takes() {
        for (lang, yes, no) in REPLY_WORDS {
            assert_eq!(parse(yes, lang), Intent::Coming, "{yes}");
            assert!(matches!(parse(no, lang), Intent::Cannot { .. }), "{no}");
        }
    }

    #[test]
    fn sensitive_words_are_refused_and_named() {
        assert_eq!(
            TemplateText::parse(
                TemplateKey::Reminder,
                Language::Sv,
                "Hej {namn}! Drogtest {tid} på Frivården."
            ),
            Err(TemplateError::Sensitive {
                words: vec!["frivård", "drog"]
            })
        );
    }

    #[test]
    fn empty_control_characters_and_too_long_are_refused() {
        assert_eq!(
            TemplateText::parse(TemplateKey::Reminder, Language::Sv, "  \n "),
            Err(TemplateError::Empty)
        );
        assert_eq!(
            TemplateText::parse(TemplateKey::Reminder, Language::Sv, "{tid}\u{7}"),
            Err(TemplateError::ControlChars)
        );
        let line_breaks =
            TemplateText::parse(TemplateKey::Reminder, Language::Sv, "Hej!\r\n{tid}").unwrap();
        assert_eq!(line_breaks.body(), "Hej!\n{tid}");
        // Fits as typed, but not once a long date is in.
        let long = format!("{} {{tid}}", "a".repeat(MAX_CHARS - 10));
        match TemplateText::parse(TemplateKey::Reminder, Language::Sv, &long) {
            Err(TemplateError::TooLong { chars, max }) => {
                assert!(chars > max && max == MAX_CHARS)
            }
            other => panic!("{other:?}"),
        }
        let fits = format!("{} {{tid}}", "a".repeat(MAX_CHARS - 60));
        assert!(TemplateText::parse(TemplateKey::Reminder, Language::Sv, &fits).is_ok());
    }

    #[test]
    fn keys_round_trip() {
        for k in TemplateKey::ALL {
            assert_eq!(k.as_str().parse::<TemplateKey>(), Ok(k));
        }
        assert!("receipt-stop".parse::<TemplateKey>().is_err());
    }

    fn any_key() -> impl Strategy<Value = TemplateKey> {
        prop::sample::select(TemplateKey::ALL.to_vec())
    }

    fn any_lang() -> impl Strategy<Value = Language> {
        prop::sample::select(vec![Language::Sv, Language::En])
    }

    /// Pieces of text that make templates: words, punctuation, braces,
    /// every placeholder spelling, the reply words.
    fn chunk() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-ZåäöÅÄÖ!.,:? ]{0,12}",
            Just("{".to_string()),
            Just("}".to_string()),
            Just("{tid}".to_string()),
            Just("{when}".to_string()),
            Just("{namn}".to_string()),
            Just("{Name}".to_string()),
            Just("{inom}".to_string()),
            Just("{deadline}".to_string()),
            Just("{okänd}".to_string()),
            Just(" KOMMER eller FÖRHINDER ".to_string()),
            Just(" COMING or CANNOT ".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn rendering_a_valid_template_never_leaves_a_brace_or_placeholder(
            key in any_key(),
            lang in any_lang(),
            parts in prop::collection::vec(chunk(), 0..12),
            name in "[A-Za-zÅÄÖåäö]{1,20}",
        ) {
            let typed = parts.concat();
            if let Ok(t) = TemplateText::parse(key, lang, &typed) {
                let v = Values { name: &name, ..sample(lang) };
                let out = t.render(&v);
                prop_assert!(!out.contains('{') && !out.contains('}'), "{out}");
                prop_assert!(out.chars().count() <= MAX_CHARS + 100);
                // The time is always in it, and a question names its answers.
                let time = if key == TemplateKey::Summons {
                    out.contains(v.within) || out.contains(v.deadline)
                } else {
                    out.contains(v.when)
                };
                prop_assert!(time, "{out}");
                if key.asks_reply() {
                    let (yes, no) = reply_words(lang);
                    let upper = out.to_uppercase();
                    prop_assert!(upper.contains(yes) && upper.contains(no), "{out}");
                }
                // Parsing what is stored gives the same template.
                prop_assert_eq!(TemplateText::parse(key, lang, t.body()), Ok(t.clone()));
            }
        }

        #[test]
        fn a_template_of_allowed_pieces_is_accepted_and_filled_completely(
            key in any_key(),
            lang in any_lang(),
            // Letters that spell no sensitive word.
            words in prop::collection::vec("[hejalvå!., ]{0,8}", 1..6),
            slots in prop::collection::vec(0usize..3, 0..6),
            english_spelling in any::<bool>(),
        ) {
            let allowed = key.placeholders();
            let spell = |p: Placeholder| {
                let l = if english_spelling { Language::En } else { lang };
                format!("{{{}}}", p.spelling(l))
            };
            let mut typed = String::new();
            for (i, w) in words.iter().enumerate() {
                typed.push_str(w);
                if let Some(s) = slots.get(i) {
                    typed.push_str(&spell(allowed[s % allowed.len()]));
                }
            }
            typed.push_str(&spell(key.time_placeholders()[0]));
            if key.asks_reply() {
                let (yes, no) = reply_words(lang);
                typed.push_str(&format!(" {yes} / {no}"));
            }
            let t = TemplateText::parse(key, lang, &typed);
            prop_assert!(t.is_ok(), "{typed}: {t:?}");
            let out = t.unwrap().render(&sample(lang));
            prop_assert!(!out.contains('{') && !out.contains('}'), "{out}");
        }

        #[test]
        fn a_lone_brace_is_always_refused(
            lang in any_lang(),
            before in "[a-z ]{0,10}",
            brace in prop::sample::select(vec!['{', '}']),
            after in "[a-z ]{0,10}",
        ) {
            let typed = format!("{{tid}} {before}{brace}{after} KOMMER FÖRHINDER COMING CANNOT");
            let e = TemplateText::parse(TemplateKey::ReminderReply, lang, &typed);
            prop_assert!(
                matches!(e, Err(TemplateError::UnbalancedBrace { .. }) | Err(TemplateError::UnknownPlaceholder { .. })),
                "{typed}: {e:?}"
            );
        }
    }
}
