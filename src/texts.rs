//! Message texts: Fluent files under `locales/` compiled into the binary.
//!
//! Fluent wraps every inserted value in Unicode isolation marks by default;
//! one such mark turns an SMS from GSM-7 into UCS-2 and doubles its price,
//! so isolation is switched off. Dates are spelled out in words on the
//! participant's wall clock ("imorgon tisdag 10 december kl. 09:00"), and
//! "idag"/"imorgon" are decided at render time, which is send time.

use crate::domain::Language;
use crate::domain::template::{Placeholder, TemplateKey, TemplateText, Values};
use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};
use std::borrow::Cow;
use std::collections::HashMap;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "sv",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static SV: LanguageIdentifier = langid!("sv");
static EN: LanguageIdentifier = langid!("en");

fn lang_id(l: Language) -> &'static LanguageIdentifier {
    match l {
        Language::Sv => &SV,
        Language::En => &EN,
    }
}

type Args = HashMap<Cow<'static, str>, FluentValue<'static>>;

fn args<const N: usize>(pairs: [(&'static str, FluentValue<'static>); N]) -> Args {
    pairs
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), v))
        .collect()
}

fn text(lang: Language, key: &str, a: &Args) -> String {
    LOCALES.lookup_with_args(lang_id(lang), key, a)
}

fn plain(lang: Language, key: &str) -> String {
    LOCALES.lookup(lang_id(lang), key)
}

/// "tisdag 10 december kl. 09:00", with "idag"/"imorgon" relative to `now`,
/// both on the participant's wall clock.
pub fn when(lang: Language, at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> String {
    let l = at.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive();
    let a = args([
        (
            "weekday",
            FluentValue::from(plain(
                lang,
                &format!("weekday-{}", l.weekday().number_from_monday()),
            )),
        ),
        ("day", FluentValue::from(l.day().to_string())),
        (
            "month",
            FluentValue::from(plain(lang, &format!("month-{}", l.month()))),
        ),
        ("time", FluentValue::from(l.format("%H:%M").to_string())),
    ]);
    let key = if l.date_naive() == today {
        "when-today"
    } else if Some(l.date_naive()) == today.succ_opt() {
        "when-tomorrow"
    } else {
        "when-date"
    };
    text(lang, key, &a)
}

/// Renders a message by key with string arguments: the receipts and
/// answers of the reply pipeline.
pub fn render(lang: Language, key: &str, args_in: &[(&'static str, String)]) -> String {
    let a: Args = args_in
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
        .collect();
    text(lang, key, &a)
}

/// A text by key when there is one (the audit log's event names fall back
/// to the code for an event without a plain-language name).
pub fn try_text(lang: Language, key: &str) -> Option<String> {
    LOCALES.try_lookup(lang_id(lang), key)
}

/// Every message key, for the GSM-7 and discretion checks.
pub const RECEIPT_KEYS: &[&str] = &[
    "receipt-coming",
    "receipt-coming-now",
    "receipt-coming-late",
    "receipt-coming-late-min",
    "receipt-cannot",
    "receipt-which",
    "receipt-too-late",
    "receipt-not-understood",
    "receipt-stop",
    "receipt-start",
    "receipt-help",
    "receipt-my-times",
    "receipt-my-times-none",
    "receipt-my-data",
    "receipt-language",
    "plan-question",
    "plan-confirm",
    "plan-leave",
    "notice-new-contact",
];

/// The Telegram bot's own texts in a participant's chat (and to unknown
/// chats). Telegram is not SMS: emoji on buttons cost nothing there.
pub const TELEGRAM_KEYS: &[&str] = &[
    "tg-button-coming",
    "tg-button-cannot",
    "tg-choice-coming",
    "tg-choice-cannot",
    "tg-answered",
    "tg-thanks",
    "tg-already-answered",
    "tg-button-expired",
    "tg-welcome",
    "tg-already-linked",
    "tg-unlinked",
    "tg-not-text",
    "tg-edited",
    "tg-unknown-chat",
    "tg-link-wrong",
    "tg-link-slowed",
];

/// Texts in a lots's own Telegram chat.
pub const STAFF_KEYS: &[&str] = &[
    "staff-welcome",
    "staff-help",
    "staff-alert-cannot",
    "staff-alert-no-reason",
    "staff-alert-no-reply",
    "staff-alert-delivery-failed",
    "staff-alert-not-understood",
    "staff-alert-late-reply",
    "staff-alert-coming-late",
    "staff-alert-coming-late-min",
    "staff-today-none",
    "staff-today-head",
    "staff-today-cancelled",
    "staff-reply-none",
    "staff-reply-coming",
    "staff-reply-cannot",
    "staff-delivery-none",
    "staff-attendance-question",
    "staff-btn-attended",
    "staff-btn-absent",
    "staff-btn-excused",
    "staff-attendance-recorded",
    "staff-attendance-refused",
];

/// What a reminder needs to know; nothing else can leak into the text.
#[derive(Debug, Clone)]
pub struct ReminderText<'a> {
    pub lang: Language,
    pub first_name: &'a str,
    pub starts_at: DateTime<Utc>,
    pub tz: Tz,
    pub ask_reply: bool,
    /// Only when the participant has turned discreet mode off.
    pub location: Option<&'a str>,
    pub with_whom: Option<&'a str>,
    /// The unit's own wording for this language, if it has one (for the
    /// key `ask_reply` chooses); else the Fluent default.
    pub template: Option<&'a TemplateText>,
}

pub fn reminder(r: &ReminderText<'_>, now: DateTime<Utc>) -> String {
    let when_text = when(r.lang, r.starts_at, now, r.tz);
    let mut out = match r.template {
        Some(t) => t.render(&Values {
            name: r.first_name,
            when: &when_text,
            within: "",
            deadline: "",
        }),
        None => {
            let a = args([
                ("name", FluentValue::from(r.first_name.to_string())),
                ("when", FluentValue::from(when_text)),
            ]);
            text(
                r.lang,
                if r.ask_reply {
                    "reminder-reply"
                } else {
                    "reminder"
                },
                &a,
            )
        }
    };
    if let Some(place) = r.location.filter(|s| !s.trim().is_empty()) {
        out.push(' ');
        out.push_str(&text(
            r.lang,
            "details-place",
            &args([("place", FluentValue::from(place.to_string()))]),
        ));
    }
    if let Some(person) = r.with_whom.filter(|s| !s.trim().is_empty()) {
        out.push(' ');
        out.push_str(&text(
            r.lang,
            "details-with",
            &args([("person", FluentValue::from(person.to_string()))]),
        ));
    }
    out
}

/// A summons' time to come in, in words: "2 timmar", "90 minuter".
pub fn within(lang: Language, within: Duration) -> String {
    if within >= Duration::hours(1) && within.num_minutes() % 60 == 0 {
        text(
            lang,
            "within-hours",
            &args([("n", FluentValue::from(within.num_hours()))]),
        )
    } else {
        text(
            lang,
            "within-minutes",
            &args([("n", FluentValue::from(within.num_minutes()))]),
        )
    }
}

/// A summons: come in within the given time. Never planned in advance.
/// `template`: the unit's own wording for `lang`, if it has one.
pub fn summons(
    lang: Language,
    first_name: &str,
    issued_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    tz: Tz,
    template: Option<&TemplateText>,
) -> String {
    let within_text = within(lang, deadline - issued_at);
    let deadline_text = deadline.with_timezone(&tz).format("%H:%M").to_string();
    if let Some(t) = template {
        return t.render(&Values {
            name: first_name,
            when: "",
            within: &within_text,
            deadline: &deadline_text,
        });
    }
    let a = args([
        ("name", FluentValue::from(first_name.to_string())),
        ("within", FluentValue::from(within_text)),
        ("deadline", FluentValue::from(deadline_text)),
    ]);
    text(lang, "summons", &a)
}

/// The default wording of an editable message, with its placeholders in
/// the friendly form a coordinator edits (`{namn}`, `{tid}`): what the
/// edit box starts from.
pub fn default_template(key: TemplateKey, lang: Language) -> String {
    let slot = |p: Placeholder| format!("{{{}}}", p.spelling(lang));
    render(
        lang,
        key.as_str(),
        &[
            ("name", slot(Placeholder::Name)),
            ("when", slot(Placeholder::When)),
            ("within", slot(Placeholder::Within)),
            ("deadline", slot(Placeholder::Deadline)),
        ],
    )
}

/// The sensitive words found in a text: any word that starts with one of
/// [`SENSITIVE_WORDS`] ("drogtest" starts with "drog"; "latest" does not
/// start with "test").
pub fn sensitive_words_in(text: &str) -> Vec<&'static str> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
    SENSITIVE_WORDS
        .iter()
        .copied()
        .filter(|s| words.iter().any(|w| w.starts_with(s)))
        .collect()
}

/// Words that must never appear in a default (discreet) text.
pub const SENSITIVE_WORDS: &[&str] = &[
    "frivård",
    "kriminalvård",
    "probation",
    "prison",
    "fängelse",
    "anstalt",
    "drog",
    "drug",
    "urin",
    "test",
    "prov",
    "narkotika",
    "socialtjänst",
    "arbetsförmedling",
    "kronofogden",
    "missbruk",
    "addiction",
    "beroende",
    "behandling",
    "polis",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::resolve_local;
    use chrono::NaiveDate;
    use chrono_tz::Europe::Stockholm;

    /// The default summons to Ali in Stockholm, due `within` of `now`.
    fn ali_summons(lang: Language, now: DateTime<Utc>, within: Duration) -> String {
        summons(lang, "Ali", now, now + within, Stockholm, None)
    }

    fn sthlm(mo: u32, d: u32, h: u32, m: u32) -> DateTime<Utc> {
        resolve_local(
            NaiveDate::from_ymd_opt(2026, mo, d)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap(),
            Stockholm,
        )
    }

    fn r(lang: Language) -> ReminderText<'static> {
        ReminderText {
            lang,
            first_name: "Ali",
            starts_at: sthlm(12, 10, 9, 0),
            tz: Stockholm,
            ask_reply: true,
            location: None,
            with_whom: None,
            template: None,
        }
    }

    #[test]
    fn the_default_swedish_reminder_reads_as_in_the_brief() {
        let now = sthlm(12, 9, 9, 0);
        assert_eq!(
            reminder(&r(Language::Sv), now),
            "Hej Ali! Påminnelse: du har en tid imorgon torsdag 10 december kl. 09:00. Svara KOMMER eller FÖRHINDER."
        );
        assert_eq!(
            reminder(&r(Language::En), now),
            "Hi Ali! Reminder: you have an appointment tomorrow, Thursday 10 December at 09:00. Reply COMING or CANNOT."
        );
    }

    #[test]
    fn today_and_other_days_are_worded_on_the_wall_clock() {
        let start = sthlm(12, 10, 9, 0);
        assert_eq!(
            when(Language::Sv, start, sthlm(12, 10, 7, 0), Stockholm),
            "idag kl. 09:00"
        );
        assert_eq!(
            when(Language::Sv, start, sthlm(12, 7, 7, 0), Stockholm),
            "torsdag 10 december kl. 09:00"
        );
        // 00:30 local on the 10th is still "today" at 00:10 local, although
        // in UTC it is the 9th.
        assert_eq!(
            when(
                Language::Sv,
                sthlm(12, 10, 0, 30),
                sthlm(12, 10, 0, 10),
                Stockholm
            ),
            "idag kl. 00:30"
        );
    }

    #[test]
    fn no_isolation_marks_or_non_gsm_characters_in_default_texts() {
        let now = sthlm(12, 9, 9, 0);
        let texts = [
            reminder(&r(Language::Sv), now),
            reminder(&r(Language::En), now),
            ali_summons(Language::Sv, now, Duration::hours(2)),
            ali_summons(Language::En, now, Duration::minutes(90)),
        ];
        // The GSM-7 basic alphabet's letters beyond ASCII that Swedish needs.
        let gsm_extra = "ÅÄÖåäöÉéÜü";
        for t in texts {
            assert!(
                t.chars()
                    .all(|c| (c.is_ascii() && !c.is_ascii_control()) || gsm_extra.contains(c)),
                "non-GSM character in {t:?}"
            );
        }
    }

    #[test]
    fn every_receipt_exists_in_both_languages_is_gsm7_and_discreet() {
        let args = [
            ("when", "tisdag 10 december kl. 09:00".to_string()),
            ("min", "10".to_string()),
            ("first", "a".to_string()),
            ("second", "b".to_string()),
            ("list", "x".to_string()),
            ("name", "Ali".to_string()),
            ("phone", "+46701234567".to_string()),
            ("channels", "sms".to_string()),
            ("consent", "2026-12-01".to_string()),
            ("time", "08:15".to_string()),
            ("contact", "Sara".to_string()),
        ];
        let gsm_extra = "ÅÄÖåäöÉéÜü";
        for lang in [Language::Sv, Language::En] {
            for key in RECEIPT_KEYS {
                let t = render(lang, key, &args);
                assert!(
                    !t.is_empty() && !t.contains("Unknown localization"),
                    "{lang} {key}: {t}"
                );
                assert!(
                    t.chars()
                        .all(|c| (c.is_ascii() && !c.is_ascii_control()) || gsm_extra.contains(c)),
                    "non-GSM character in {key}: {t:?}"
                );
                assert_eq!(sensitive_words_in(&t), Vec::<&str>::new(), "{key}: {t:?}");
            }
        }
        assert_ne!(
            render(Language::Sv, "receipt-stop", &[]),
            render(Language::En, "receipt-stop", &[])
        );
    }

    #[test]
    fn telegram_and_staff_texts_exist_in_both_languages_and_participant_ones_are_discreet() {
        let args = [
            ("name", "Ali".to_string()),
            ("id", "7".to_string()),
            ("when", "idag kl. 09:00".to_string()),
            ("reason", "sjuk".to_string()),
            ("channel", "sms".to_string()),
            ("text", "hej".to_string()),
            ("reply", "kommer".to_string()),
            ("choice", "Kommer".to_string()),
            ("time", "10:00".to_string()),
            ("min", "10".to_string()),
        ];
        for lang in [Language::Sv, Language::En] {
            for key in TELEGRAM_KEYS.iter().chain(STAFF_KEYS) {
                let t = render(lang, key, &args);
                assert!(
                    !t.is_empty() && !t.contains("Unknown localization") && !t.contains('{'),
                    "{lang} {key}: {t}"
                );
            }
            for key in TELEGRAM_KEYS {
                let t = render(lang, key, &args);
                assert_eq!(sensitive_words_in(&t), Vec::<&str>::new(), "{key}: {t:?}");
            }
        }
        assert_ne!(
            render(Language::Sv, "tg-welcome", &args),
            render(Language::En, "tg-welcome", &args)
        );
        // Unknown chats get both languages: we do not know theirs.
        let unknown = render(Language::Sv, "tg-unknown-chat", &[]);
        assert!(unknown.contains("inte kopplad") && unknown.contains("not linked"));
    }

    #[test]
    fn default_texts_name_nothing_sensitive() {
        let now = sthlm(12, 9, 9, 0);
        for lang in [Language::Sv, Language::En] {
            for t in [
                reminder(&r(lang), now),
                summons(lang, "Ali", now, now + Duration::hours(2), Stockholm, None),
            ] {
                assert_eq!(sensitive_words_in(&t), Vec::<&str>::new(), "{t:?}");
            }
        }
    }

    #[test]
    fn the_sensitive_word_check_catches_what_it_should() {
        assert_eq!(
            sensitive_words_in("Dags för drogtest på Frivården"),
            ["frivård", "drog"]
        );
        assert_eq!(sensitive_words_in("Test imorgon"), ["test"]);
        assert!(sensitive_words_in("by 11:00 at the latest").is_empty());
    }

    #[test]
    fn details_only_when_given() {
        let now = sthlm(12, 9, 9, 0);
        let mut x = r(Language::Sv);
        x.location = Some("Storgatan 1");
        x.with_whom = Some("Sara");
        let t = reminder(&x, now);
        assert!(t.ends_with("Plats: Storgatan 1. Du träffar Sara."), "{t}");
    }

    #[test]
    fn summons_wording() {
        let now = sthlm(12, 9, 12, 30);
        assert_eq!(
            ali_summons(Language::Sv, now, Duration::hours(2)),
            "Hej Ali! Du behöver komma in idag inom 2 timmar, senast kl. 14:30. Svara KOMMER eller FÖRHINDER."
        );
        assert!(ali_summons(Language::En, now, Duration::hours(1)).contains("within 1 hour,"));
    }

    #[test]
    fn a_units_template_replaces_the_wording_and_the_details_still_follow() {
        let now = sthlm(12, 9, 9, 0);
        let t = TemplateText::parse(
            TemplateKey::ReminderReply,
            Language::Sv,
            "{namn}, vi ses {tid}! Svara KOMMER eller FÖRHINDER.",
        )
        .unwrap();
        let mut x = r(Language::Sv);
        x.template = Some(&t);
        x.location = Some("Storgatan 1");
        assert_eq!(
            reminder(&x, now),
            "Ali, vi ses imorgon torsdag 10 december kl. 09:00! Svara KOMMER eller FÖRHINDER. Plats: Storgatan 1."
        );
        let s = TemplateText::parse(
            TemplateKey::Summons,
            Language::En,
            "{name}: come by {deadline} ({within}). Reply COMING or CANNOT.",
        )
        .unwrap();
        let now = sthlm(12, 9, 12, 30);
        assert_eq!(
            summons(
                Language::En,
                "Ali",
                now,
                now + Duration::hours(2),
                Stockholm,
                Some(&s)
            ),
            "Ali: come by 14:30 (2 hours). Reply COMING or CANNOT."
        );
    }

    #[test]
    fn every_default_is_a_valid_template_in_the_friendly_form() {
        for key in TemplateKey::ALL {
            for lang in [Language::Sv, Language::En] {
                let d = default_template(key, lang);
                let t = TemplateText::parse(key, lang, &d)
                    .unwrap_or_else(|e| panic!("{key} {lang}: {d:?}: {e}"));
                assert_eq!(t.body(), d);
            }
        }
        assert_eq!(
            default_template(TemplateKey::ReminderReply, Language::Sv),
            "Hej {namn}! Påminnelse: du har en tid {tid}. Svara KOMMER eller FÖRHINDER."
        );
    }
}
