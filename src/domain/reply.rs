//! What a participant's reply means.
//!
//! Participants answer reminders from their own phones, in every spelling
//! people really type: "KOMMER", "kmr", "komer", "forhinder", "👍🏽", "can't,
//! doctor's appointment", "ＳＴＯＰＰ". [`parse`] turns one such text into an
//! [`Intent`].
//!
//! One rule shapes everything here: a reply that is not clearly understood
//! is [`Intent::Unknown`], and a person reads it (DOMAIN.md: "Anything not
//! understood goes to a person, never into a silent bin"). A wrong "kommer"
//! hides an absence from the lots; a wrong STOPP silently cuts a participant
//! off. Both are worse than "not understood", so the parser would rather say
//! Unknown than guess:
//!
//! * mixed signals ("ja men kan inte"), doubt ("kanske", "vet inte", "om jag
//!   hinner"), questions ("kommer ni?", "ska jag komma"), sarcasm-ish
//!   answers ("yeah right", 🙄) and requests for a person ("ring mig") are
//!   Unknown;
//! * a negator anywhere ("inte", "int", "nt", "ente", "änt", "inge", "intä",
//!   "icke", "ej", "aldrig", "not", "won't", "can't", and "it" after a
//!   Swedish verb: "kmr it") rules out [`Intent::Coming`] and
//!   [`Intent::Late`];
//! * a "kommer" that names another day or time than the one asked about
//!   ("kommer på fredag", "kommer i morgon istället") is Unknown: see
//!   [`About`];
//! * a message of more than 12 words is Unknown, unless it opens with a clear
//!   notice of absence ("förhinder, ...", "återbud, ..."), which is kept with
//!   its reason;
//! * STOPP only opts out when every other word points at the messages
//!   ("stopp tack", "sluta skicka sms till mig", "vill inte ha fler sms",
//!   "ok stop"); a word about the meeting ("avsluta mötet", "stop by
//!   later", "Stopp jag kommer") or a question mark makes it Unknown.
//!
//! The pipeline, each step a small function:
//!
//! 1. `tokenise`: words with their place in the original text, folded for
//!    matching only (Unicode compatibility forms such as full-width letters
//!    and accents off via `unicode-normalization`'s NFKD, lower case,
//!    apostrophes dropped, the negators of Swedish texting read as "inte");
//!    the original is kept so a reason reads as the participant wrote it;
//! 2. `match_units`: the words are matched against a small lexicon of
//!    phrases, longest first, allowing one typo in keywords of five letters
//!    or more and any number of repeated letters ("kommmer", "jaaa");
//! 3. `resolve`: negation ("kommer inte", "not coming", "inte idag") and
//!    "kan inte komma" are worked out between neighbouring words;
//! 4. the rules, in order: a lone "?", a choice digit, STOPP, the other
//!    commands, a notice of absence with its reason, and last a short answer
//!    (coming, coming late, cannot come).

use crate::domain::Language;
use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Weekday};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

/// What a reply asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// "kommer": a promise to come, not attendance.
    Coming,
    /// "kommer lite sent", "försenad 15 min", "yes but late": coming, late,
    /// with the minutes when the participant gave them.
    Late {
        #[serde(skip_serializing_if = "Option::is_none")]
        minutes: Option<u16>,
    },
    /// "förhinder": the formal notice of absence, with the participant's own
    /// words for why when they gave any ("sjuk", "sjukt barn").
    Cannot {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// STOPP: no more messages on this channel, at once.
    Stop,
    /// START: undoes STOPP.
    Start,
    Help,
    /// MINA TIDER: the participant's coming appointments.
    MyTimes,
    /// MINA UPPGIFTER: what is stored about them.
    MyData,
    Language {
        language: Language,
    },
    /// "1" or "2" when the bot asked which of two appointments a reply is about.
    Choice {
        n: u8,
    },
    /// Not understood: a person reads it.
    Unknown,
}

/// Reads one reply. `lang` is the participant's language; it only breaks
/// ties between words that mean different things in Swedish and English
/// ("fast": "but" or "quickly"). Every keyword works whatever `lang` is.
///
/// Without [`About`], a yes that names a weekday, a date or a clock time
/// ("kommer på fredag", "kommer kl 14") cannot be checked against the
/// appointment and is Unknown; "idag" and "imorgon" are what reminders say
/// and are kept.
pub fn parse(text: &str, lang: Language) -> Intent {
    parse_about(text, lang, None)
}

/// The appointment a reply is about, on the participant's wall clock: a
/// yes that names a day or a time is only a yes when it names this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct About {
    /// Today, where the participant is.
    pub today: NaiveDate,
    /// The appointment's day and time.
    pub day: NaiveDate,
    pub time: NaiveTime,
}

/// [`parse`], checking a named day or time against the appointment asked
/// about.
pub fn parse_about(text: &str, lang: Language, about: Option<&About>) -> Intent {
    let msg = Message::read(text, lang);
    only_question_marks(&msg)
        .or_else(|| choice(&msg))
        .or_else(|| stop(&msg))
        .or_else(|| command(&msg))
        .or_else(|| language_switch(&msg))
        .or_else(|| notice_of_absence(&msg))
        .unwrap_or_else(|| short_answer(&msg, about))
}

/// Longer messages are read by a person, unless they open with a notice of
/// absence: people write long texts when something is wrong.
const MAX_WORDS: usize = 12;
/// A reason is a note for the lots, not the message itself (which is stored
/// anyway).
const MAX_REASON_CHARS: usize = 200;
/// "kommer /Ali", "ja, kommer med bussen": a yes may carry a few words the
/// lexicon does not know (names, places). More than this and it is a story a
/// person should read.
const MAX_UNKNOWN_WORDS_IN_YES: usize = 3;
/// Typos are only forgiven in words this long: "jo" must not become "ja",
/// nor "on" "no".
const MIN_TYPO_CHARS: usize = 5;

// ---------------------------------------------------------------------------
// The rules, in the order `parse` tries them.
// ---------------------------------------------------------------------------

/// "?" alone is the universal "what do I do now?".
fn only_question_marks(msg: &Message) -> Option<Intent> {
    let t = msg.text.trim();
    let only = !t.is_empty() && t.chars().all(|c| is_question_mark(c) || c.is_whitespace());
    only.then_some(Intent::Help)
}

/// "1", " 2 ", "1.", "nr 2", "2️⃣": the answer to "svara 1 eller 2".
fn choice(msg: &Message) -> Option<Intent> {
    let words = msg.core_words();
    let digit = match words.as_slice() {
        [d] => d,
        [prefix, d] if CHOICE_PREFIXES.contains(&prefix.as_str()) => d,
        _ => return None,
    };
    match digit.as_bytes() {
        [b @ b'1'..=b'9'] => Some(Intent::Choice { n: b - b'0' }),
        _ => None,
    }
}

/// STOPP wins at once and always when it is all the message says: a stop
/// word alone or with words that point at the messages ("STOPP", "stop!",
/// "Stopp tack", "Hej, avsluta", "sluta skicka sms till mig", "ok stop",
/// "STOP please"), or "no more messages" in so many words ("vill inte ha
/// fler sms", "nej tack, inga mer sms", "don't text me").
///
/// Any other word keeps it from opting anyone out: a word about the meeting
/// ("avsluta mötet", "stop by later", "Stopp jag kommer"), a name, a
/// negation ("stoppa inte"), a question mark. Those go to a person, who can
/// still opt the participant out. The words are a closed list
/// ([`STOP_ALWAYS_OK`], [`STOP_WITH_MESSAGES`]), so nothing unforeseen can
/// slip through.
fn stop(msg: &Message) -> Option<Intent> {
    if msg.asks() || msg.tokens.is_empty() {
        return None;
    }
    let is = |t: &Token, set: &[&str]| {
        set.contains(&t.norm.as_str()) || set.contains(&t.squashed.as_str())
    };
    let points_at_messages = msg.tokens.iter().any(|t| is(t, STOP_MESSAGES));
    let negated = msg.tokens.iter().any(Token::is_negator);
    let allowed = |t: &Token| {
        is(t, STOP_ALWAYS_OK)
            || is(t, STOP_MESSAGES)
            || (points_at_messages && is(t, STOP_WITH_MESSAGES))
    };
    // "STOPP", "sluta skicka sms", "avregistrera mig", "ta bort mig".
    let stop_words = msg.tokens.iter().filter(|t| is_stop_word(t)).count();
    let remove_me = msg.tokens.windows(3).any(|w| {
        w[0].norm == "ta" && w[1].norm == "bort" && matches!(w[2].norm.as_str(), "mig" | "mitt")
    }) || msg
        .tokens
        .windows(2)
        .any(|w| w[0].norm == "remove" && w[1].norm == "me");
    let remove_words = |t: &Token| remove_me && matches!(t.norm.as_str(), "ta" | "bort" | "remove");
    if (stop_words > 0 || remove_me)
        && !negated
        && msg
            .tokens
            .iter()
            .all(|t| is_stop_word(t) || allowed(t) || remove_words(t))
    {
        return Some(Intent::Stop);
    }
    // "vill inte ha fler sms", "inga mer sms", "no more texts", "Stopp. Jag
    // vill inte ha sms längre" (but never "stoppa inte", "sluta inte").
    let stop_negated = msg
        .tokens
        .windows(2)
        .any(|w| is_stop_word(&w[0]) && w[1].is_negator());
    if !stop_negated
        && points_at_messages
        && negated_or_none(msg)
        && msg
            .tokens
            .iter()
            .all(|t| allowed(t) || is(t, STOP_NO_MORE) || t.is_negator() || is_stop_word(t))
    {
        return Some(Intent::Stop);
    }
    None
}

/// "inga", "inte", "no", "don't": the "no more" of "inga mer sms".
fn negated_or_none(msg: &Message) -> bool {
    msg.tokens.iter().any(|t| {
        t.is_negator() || matches!(t.norm.as_str(), "inga" | "inget" | "ingen" | "no" | "nej")
    })
}

/// START, HJÄLP, MINA TIDER, MINA UPPGIFTER: the whole message is the
/// command, give or take a greeting or a "tack".
fn command(msg: &Message) -> Option<Intent> {
    let typed = msg
        .core_words()
        .iter()
        .map(|w| squash(w))
        .collect::<Vec<_>>();
    COMMANDS.iter().find_map(|(intent, forms)| {
        let matches = forms.split(',').any(|form| {
            let form = form.split_whitespace().map(|w| squash(&fold(w)));
            form.eq(typed.iter().cloned())
        });
        matches.then(|| intent.clone())
    })
}

/// "SPRÅK EN", "sprak engelska", "language: swedish", "byt till svenska",
/// "English", "på svenska tack". A bare code ("en", "sv") only counts after
/// "språk"/"language": alone it is just a word.
fn language_switch(msg: &Message) -> Option<Intent> {
    let words = msg.core_words();
    let mut rest = words.as_slice();
    let mut take = |set: &[&str]| match rest {
        [w, tail @ ..] if set.contains(&w.as_str()) => {
            rest = tail;
            true
        }
        _ => false,
    };
    take(LANGUAGE_VERBS);
    let named = take(LANGUAGE_WORDS);
    take(LANGUAGE_PREPOSITIONS);
    let [name] = rest else { return None };
    let language = name.parse::<Language>().ok()?;
    (named || name.chars().count() > 2).then_some(Intent::Language { language })
}

/// "förhinder, sjuk", "Kan inte komma imorgon, jobbar", "Hej! Jag kommer
/// inte, sonen är sjuk och ...": a message that opens with a refusal is a
/// notice of absence, however long the reason after it. Only greetings,
/// small words ("jag", "har"), one unknown word (a name) or a bare "nej" may
/// come before.
///
/// A plain refusal ("kan inte") followed by a yes ("... men kommer på
/// torsdag") is left to [`short_answer`], which calls it mixed, and so is a
/// long message where the plain refusal runs on without so much as a comma
/// ("kommer inte kan inte sjuk ring mig jag vet inte vad..."): that is
/// someone a person should read, not a reason. "förhinder" is the formal
/// notice and stands whatever follows.
fn notice_of_absence(msg: &Message) -> Option<Intent> {
    let units = &msg.units;
    let mut i = 0;
    let mut seen_name = false;
    while let Some(u) = units.get(i) {
        match u.kind {
            Kind::Polite | Kind::Filler | Kind::Inert | Kind::Number => {}
            Kind::Refuse(Refusal::Bare) => {}
            Kind::Word if !seen_name => seen_name = true,
            _ => break,
        }
        i += 1;
    }
    let Kind::Refuse(strength @ (Refusal::Formal | Refusal::Plain)) = units.get(i)?.kind else {
        return None;
    };
    let end = head_end(units, i);
    let tail = &units[end + 1..];
    if strength == Refusal::Plain {
        let changes_mind = tail.iter().any(|u| u.kind == Kind::Agree);
        // "... eftersom min dotter är sjuk": a reason says so.
        let because = tail
            .first()
            .is_some_and(|u| REASON_WORDS.contains(&msg.tokens[u.first].norm.as_str()));
        let run_on = msg.tokens.len() > MAX_WORDS
            && tail.first().is_some_and(|u| !u.break_before)
            && !because;
        // "kommer inte sent", "kommer inte för sent": not late, which is
        // not a notice of absence; a person reads it.
        let not_late = tail.first().is_some_and(|u| !u.break_before)
            && msg.tokens[msg.units[end].last + 1..]
                .iter()
                .take(2)
                .any(|t| LATE_WORDS.contains(&t.norm.as_str()));
        if changes_mind || run_on || not_late {
            return None;
        }
    }
    Some(Intent::Cannot {
        reason: msg.reason_after(end),
    })
}

/// Everything else: a short reply that says yes, yes but late, or no, and
/// nothing that makes it doubtful. Emoji only count when no word says yes
/// or no, so "kommer inte 👍" is a no.
fn short_answer(msg: &Message, about: Option<&About>) -> Intent {
    if msg.tokens.len() > MAX_WORDS || msg.asks() || msg.emoji_unsure() || msg.not_my_kommer() {
        return Intent::Unknown;
    }
    if let Some(intent) = acknowledged_illness(msg).or_else(|| late(msg, about)) {
        return intent;
    }
    if msg.has(Kind::Unsure) || msg.has(Kind::Late) {
        return Intent::Unknown;
    }
    let refusal = msg
        .units
        .iter()
        .position(|u| matches!(u.kind, Kind::Refuse(_)));
    let sick = msg.has(Kind::Sick);
    let mut yes = msg.has(Kind::Agree);
    let mut no = refusal.is_some() || sick;
    let mut by_emoji = false;
    if !yes && !no {
        (yes, no) = msg.emoji();
        by_emoji = true;
    } else if yes && !no && msg.emoji().1 {
        // "kommer 👎", "ja ❌", "kommer 🤒": the words and the picture
        // disagree; a wrong "kommer" is the worse error.
        return Intent::Unknown;
    } else if no
        && !yes
        && msg
            .tokens
            .iter()
            .any(|t| LATE_WORDS.contains(&t.norm.as_str()))
    {
        // "kommer inte sent" (I won't be late), "kan inte, blir sen":
        // a lateness next to a no is not a notice of absence.
        return Intent::Unknown;
    }
    match (yes, no) {
        (true, false)
            if !msg.negated()
                && msg.unknown_words() <= MAX_UNKNOWN_WORDS_IN_YES
                && msg.names_this_time(about) =>
        {
            Intent::Coming
        }
        (false, true) => {
            let after = refusal.and_then(|k| msg.reason_after(head_end(&msg.units, k)));
            let whole = (sick || by_emoji) && msg.units.iter().any(|u| u.kind.is_content());
            let reason = after.or_else(|| whole.then(|| clean_reason(msg.text)).flatten());
            Intent::Cannot { reason }
        }
        _ => Intent::Unknown,
    }
}

/// "ok men jag är sjuk", "ja tyvärr sjuk", "yes, but sick": the "ok" only
/// says the message arrived; the illness is the answer. Only a bare
/// acknowledgement may stand before the illness, and at most a "men"
/// between; the reason is what follows them.
fn acknowledged_illness(msg: &Message) -> Option<Intent> {
    let sick = msg.units.iter().position(|u| u.kind == Kind::Sick)?;
    let before = &msg.units[..sick];
    let ack = |u: &Unit| {
        u.kind == Kind::Agree && u.was == Kind::Agree && ACKS.contains(&msg.norm_of(u).as_str())
    };
    let fine =
        |u: &Unit| ack(u) || msg.is_contrast(u) || matches!(u.kind, Kind::Polite | Kind::Filler);
    let acked = before.iter().any(ack);
    let after_fine = msg.units[sick + 1..].iter().all(|u| {
        !matches!(
            u.kind,
            Kind::Agree | Kind::Refuse(_) | Kind::Unsure | Kind::Late
        )
    });
    if !acked || !before.iter().all(fine) || !after_fine {
        return None;
    }
    let last_ack = before.iter().rposition(|u| ack(u) || msg.is_contrast(u))?;
    let from = msg.tokens[msg.units[last_ack + 1].first].start;
    Some(Intent::Cannot {
        reason: clean_reason(&msg.text[from..]),
    })
}

/// "kommer lite sent", "Jag kommer 10 min sent", "ja men jag blir sen",
/// "yes but late", "försenad 15 min": coming, late. A yes ("kommer", "ja")
/// or a lateness that says it by itself ("försenad", "blir sen", "10 min
/// sent") is needed, and nothing else may make it doubtful: a negation, a
/// refusal, an illness, doubt ("kanske"), another day, or more than a "men".
fn late(msg: &Message, about: Option<&About>) -> Option<Intent> {
    let k = msg.units.iter().position(|u| u.kind == Kind::Late)?;
    let doubtful = msg.units.iter().any(|u| match u.kind {
        Kind::Refuse(_) | Kind::Sick | Kind::Modal => true,
        Kind::Unsure => !msg.is_contrast(u),
        _ => false,
    });
    let negated_elsewhere = msg
        .tokens
        .iter()
        .enumerate()
        .any(|(i, t)| !(msg.units[k].first..=msg.units[k].last).contains(&i) && t.is_negator());
    let not_on_time = msg.units[k].last > msg.units[k].first
        && msg.tokens[msg.units[k].first..=msg.units[k].last]
            .iter()
            .any(Token::is_negator);
    let negated = if not_on_time {
        negated_elsewhere
    } else {
        msg.negated()
    };
    if doubtful || negated || msg.unknown_words() > MAX_UNKNOWN_WORDS_IN_YES {
        return None;
    }
    let minutes = msg.late_minutes();
    let says_itself = not_on_time || {
        let u = &msg.units[k];
        let word = msg.norm_of(u);
        let before = u
            .first
            .checked_sub(1)
            .map(|i| msg.tokens[i].squashed.as_str());
        LATE_BY_ITSELF.contains(&word.as_str())
            || u.last > u.first
            || before.is_some_and(|b| LATE_AFTER.contains(&b))
            || minutes.is_some()
    };
    let yes = msg.has(Kind::Agree) || (msg.emoji().0 && !msg.emoji().1);
    ((yes || says_itself) && msg.names_this_time(about)).then_some(Intent::Late { minutes })
}

/// Words that open a reason: "... eftersom ...", "... because ...".
#[rustfmt::skip]
const REASON_WORDS: &[&str] = &[
    "eftersom", "for", "pga", "pa", "da", "because", "since", "cause", "cuz", "coz", "as", "due",
];

/// "kommer" as people type it (squashed).
#[rustfmt::skip]
const KOMMER_FORMS: &[&str] = &["komer", "kmr", "kmer", "komr", "komeer"];
/// Who else a "kommer" right after may be about.
#[rustfmt::skip]
const OTHER_SUBJECTS: &[&str] = &[
    "du", "ni", "han", "hon", "hen", "det", "dom", "de", "dem", "man", "min", "mitt", "mina", "din",
    "ditt", "dina", "er", "era", "ert", "någon", "nagon", "nan", "nån", "lotsen", "bussen",
];

/// A bare "yes, I read it".
#[rustfmt::skip]
const ACKS: &[&str] = &[
    "ja", "ok", "okej", "okay", "okey", "oki", "yes", "yeah", "yep", "japp", "jepp", "k", "alright",
];
/// Contrast words that may stand between a yes and a lateness.
const CONTRASTS: &[&str] = &[
    "men", "fast", "dock", "but", "though", "although", "however",
];
/// Lateness words that say "coming, late" alone.
#[rustfmt::skip]
const LATE_BY_ITSELF: &[&str] = &["forsenad", "forsenat", "forsenade", "forsenas", "delayed"];
/// "blir sen", "är sen", "lite sent", "be late", "running late".
#[rustfmt::skip]
const LATE_AFTER: &[&str] = &[
    "blir", "bli", "ar", "e", "lite", "ngt", "nagot", "nat", "typ", "rat", "ratt", "be", "im",
    "running", "bit", "little", "am", "abit", "kmr", "komer", "sa",
];
/// What a number of minutes is written with ("10 min", "10min", "15
/// minuter").
#[rustfmt::skip]
const MINUTE_WORDS: &[&str] = &["min", "mins", "minuter", "minuters", "minut", "minute", "minutes", "m", "minutter"];

/// The last unit of a refusal's head: the refusal itself (with the "inte"
/// and "komma" it took in) and, in the same clause, words that only say
/// which appointment ("idag", "på tisdag", "dit", "tack"). What follows is
/// the reason.
fn head_end(units: &[Unit], i: usize) -> usize {
    let last_token = units[i].last;
    let mut end = i;
    while let Some(next) = units.get(end + 1) {
        let inside = next.first <= last_token;
        let occasion =
            !next.break_before && matches!(next.kind, Kind::Occasion | Kind::Polite | Kind::Number);
        if !(inside || occasion) {
            break;
        }
        end += 1;
    }
    end
}

/// The participant's own words, trimmed of the separators around them
/// ("- sjukt barn" → "sjukt barn", "(sjuk)" → "sjuk"), capped, and only if
/// there is a letter or digit left.
fn clean_reason(s: &str) -> Option<String> {
    let mut s = s.trim_start_matches(|c: char| !c.is_alphanumeric());
    s = s.trim_end_matches(|c: char| {
        c.is_whitespace() || TRAILING_PUNCTUATION.contains(&c) || is_quote(c)
    });
    if s.ends_with(')') && !s.contains('(') {
        s = s[..s.len() - 1].trim_end();
    }
    if !s.chars().any(char::is_alphanumeric) {
        return None;
    }
    let capped: String = s.chars().take(MAX_REASON_CHARS).collect();
    Some(capped.trim_end().to_string())
}

const TRAILING_PUNCTUATION: &[char] = &['.', ',', ';', ':', '!', '-', '–', '—', '…'];

// ---------------------------------------------------------------------------
// The message: its words, what they mean, and a few whole-message facts.
// ---------------------------------------------------------------------------

struct Message<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    units: Vec<Unit>,
    /// See [`Message::negated`].
    negated: bool,
}

impl<'a> Message<'a> {
    fn read(text: &'a str, lang: Language) -> Self {
        let tokens = tokenise(text);
        let mut units = match_units(&tokens, lang);
        let negated = tokens.iter().enumerate().any(|(i, t)| {
            t.is_negator() || (t.squashed == "it" && !inside_a_yes_phrase(&units, i))
        });
        resolve(&mut units);
        Message {
            text,
            tokens,
            units,
            negated,
        }
    }

    fn has(&self, kind: Kind) -> bool {
        self.units.iter().any(|u| u.kind == kind)
    }

    /// A question mark anywhere: the participant wants an answer from a
    /// person.
    fn asks(&self) -> bool {
        self.text.chars().any(is_question_mark)
    }

    /// "inte" (and every texting form of it), "not", "won't", "can't"
    /// anywhere. Checked on the words, not on what the lexicon made of them,
    /// so no phrase can hide a negation from the rule that a negated message
    /// is never Coming. "it" counts too (Swedish "kmr it"), except as the
    /// object of an English yes ("I'll make it").
    fn negated(&self) -> bool {
        self.negated
    }

    fn unknown_words(&self) -> usize {
        self.units.iter().filter(|u| u.kind == Kind::Word).count()
    }

    /// A unit's words, folded, joined by spaces.
    fn norm_of(&self, u: &Unit) -> String {
        let words: Vec<&str> = self.tokens[u.first..=u.last]
            .iter()
            .map(|t| t.norm.as_str())
            .collect();
        words.join(" ")
    }

    fn is_contrast(&self, u: &Unit) -> bool {
        u.kind == Kind::Unsure && CONTRASTS.contains(&self.norm_of(u).as_str())
    }

    /// A "kommer" that is not the participant's promise: a question in
    /// word order ("Kommer jag att bli hämtad", "Kommer det ta lång tid",
    /// "kommer ni"), or someone or something else coming ("Det kommer gå
    /// bra", "Kommer polisen", "Kommer min lots").
    fn not_my_kommer(&self) -> bool {
        let first = self.units.iter().position(|u| u.kind != Kind::Polite);
        self.units.iter().enumerate().any(|(k, u)| {
            let verb = u.was == Kind::Come
                && u.first == u.last
                && KOMMER_FORMS.contains(&self.tokens[u.first].squashed.as_str());
            if !verb {
                return false;
            }
            let at_start = Some(k) == first;
            let before = u.first.checked_sub(1).map(|i| &self.tokens[i]);
            let after = self.tokens.get(u.last + 1).filter(|t| !t.break_before);
            let it_before =
                before.is_some_and(|b| !self.tokens[u.first].break_before && b.norm == "det");
            let subject_after = after.is_some_and(|t| {
                OTHER_SUBJECTS.contains(&t.norm.as_str())
                    || (at_start && matches!(t.norm.as_str(), "jag" | "vi"))
            });
            // "Kommer polisen": an unknown word right after an opening
            // "kommer", unless it is a name signing off ("Kommer Ali").
            let noun_after = at_start
                && after.is_some_and(|t| {
                    let unknown = self
                        .units
                        .iter()
                        .any(|v| v.first == u.last + 1 && v.kind == Kind::Word)
                        && !t.norm.starts_with(|c: char| c.is_ascii_digit());
                    let name = self.text[t.start..t.end].starts_with(char::is_uppercase)
                        && u.last + 2 == self.tokens.len();
                    unknown && !name
                });
            it_before || subject_after || noun_after
        })
    }

    /// 🙄 😒 🤔 🤷: doubt or sarcasm, whatever the words say.
    fn emoji_unsure(&self) -> bool {
        self.text.chars().any(|c| UNSURE_EMOJI.contains(&c))
    }

    /// The minutes of a lateness: "10 min", "10min", "15 minuter", "en
    /// kvart", "en halvtimme", "half an hour". Nothing when more than one
    /// number is given ("10-15 min") or the number is not a plausible delay.
    fn late_minutes(&self) -> Option<u16> {
        let t = &self.tokens;
        let mut found: Vec<u16> = Vec::new();
        for (i, tok) in t.iter().enumerate() {
            let n = if tok.is_number() {
                let unit = t
                    .get(i + 1)
                    .is_some_and(|n| MINUTE_WORDS.contains(&n.norm.as_str()));
                unit.then(|| tok.norm.parse().ok()).flatten()
            } else {
                let digits = tok.norm.trim_end_matches(|c: char| c.is_alphabetic());
                let rest = &tok.norm[digits.len()..];
                (!digits.is_empty() && MINUTE_WORDS.contains(&rest))
                    .then(|| digits.parse().ok())
                    .flatten()
            };
            let words = match tok.norm.as_str() {
                "kvart" | "quarter" => Some(15),
                "halvtimme" | "halvtimma" => Some(30),
                "half"
                    if t.get(i + 1)
                        .is_some_and(|n| matches!(n.norm.as_str(), "hour" | "an")) =>
                {
                    Some(30)
                }
                _ => None,
            };
            found.extend(n.or(words));
        }
        match found.as_slice() {
            [m] if (1..=240).contains(m) => Some(*m),
            _ => None,
        }
    }

    /// Whether every day and time the message names is the appointment's
    /// (see [`About`]); without one, only "idag"/"imorgon" are taken. A
    /// message that names "nästa vecka" or a date never is.
    fn names_this_time(&self, about: Option<&About>) -> bool {
        let days = self.units.iter().filter_map(|u| u.when);
        for m in days {
            let ok = match (m, about) {
                (Mention::Other, _) => false,
                (Mention::Today, None) | (Mention::Tomorrow, None) => true,
                (Mention::Weekday(_), None) => false,
                (Mention::Today, Some(a)) => a.day == a.today,
                (Mention::Tomorrow, Some(a)) => a.today.succ_opt() == Some(a.day),
                (Mention::Weekday(w), Some(a)) => {
                    a.day.weekday() == w && (a.day - a.today).num_days() < 7
                }
            };
            if !ok {
                return false;
            }
        }
        match self.clock() {
            Clock::None => true,
            Clock::Other => false,
            Clock::At(h, m) => about.is_some_and(|a| {
                let (ah, am) = (a.time.hour(), a.time.minute());
                (h == ah || h + 12 == ah) && m.unwrap_or(0) == am
            }),
        }
    }

    /// A clock time the message names: "kl 10", "klockan 14.30", "at 9",
    /// "10:30", or a bare hour after the yes ("kommer 10"). "om 10 min" and
    /// "10 min sent" are durations, not times.
    fn clock(&self) -> Clock {
        let t = &self.tokens;
        // "kvart över tio", "kvart i två", "halv tre": a time said in
        // words. Not compared with the appointment's time: a person reads it.
        // ("en kvart sent" is a lateness, not a time.)
        let worded = t.windows(2).any(|w| {
            let (a, b) = (w[0].norm.as_str(), w[1].norm.as_str());
            (a == "kvart" && matches!(b, "over" | "i"))
                || (a == "halv" && (w[1].is_number() || HOUR_WORDS.contains(&b)))
        });
        if worded {
            return Clock::Other;
        }
        let mut found = Clock::None;
        let mut i = 0;
        while i < t.len() {
            let tok = &t[i];
            if !tok.is_number() {
                i += 1;
                continue;
            }
            let before = i.checked_sub(1).map(|b| t[b].norm.as_str());
            let after = t.get(i + 1);
            let duration = after.is_some_and(|n| {
                MINUTE_WORDS.contains(&n.norm.as_str())
                    || matches!(n.norm.as_str(), "timme" | "timmar" | "hours" | "hour" | "h")
            }) || matches!(before, Some("om" | "in" | "inom" | "within"));
            if duration {
                i += 2;
                continue;
            }
            let sep = after.map(|n| &self.text[tok.end..n.start]);
            let minutes = after
                .filter(|n| {
                    n.is_number() && n.norm.len() == 2 && matches!(sep, Some(":" | "." | " " | ","))
                })
                .and_then(|n| n.norm.parse::<u32>().ok());
            // "10-15 min" is a duration too.
            let range = matches!(sep, Some("-" | "–"))
                && t.get(i + 2)
                    .is_some_and(|n| MINUTE_WORDS.contains(&n.norm.as_str()));
            if range {
                i += 3;
                continue;
            }
            let date = matches!(sep, Some("/" | "-")) || matches!(before, Some("den" | "the"));
            let hour = tok.norm.parse::<u32>().ok();
            let this = match (hour, minutes) {
                _ if date => Clock::Other,
                (Some(h), m) if h <= 24 && m.is_none_or(|m| m < 60) => Clock::At(h % 24, m),
                _ => Clock::Other,
            };
            found = match (found, this) {
                (Clock::None, x) => x,
                (a, b) if a == b => a,
                _ => Clock::Other,
            };
            i += if minutes.is_some() { 2 } else { 1 };
        }
        found
    }

    /// (yes, no) from emoji: 👍 ✅ 👌 ✔️ say yes, ❌ 👎 🤒 🤢 say no. Skin
    /// tones and variation selectors are separate code points and simply do
    /// not count.
    fn emoji(&self) -> (bool, bool) {
        let yes = self.text.chars().any(|c| YES_EMOJI.contains(&c));
        let no = self.text.chars().any(|c| NO_EMOJI.contains(&c));
        (yes, no)
    }

    /// The folded words between a leading greeting and a trailing "tack":
    /// what a command must consist of.
    fn core_words(&self) -> Vec<String> {
        let mut core = self.units.iter().filter(|u| u.kind != Kind::Polite);
        let Some(first) = core.next() else {
            return Vec::new();
        };
        let last = core.next_back().unwrap_or(first);
        self.tokens[first.first..=last.last]
            .iter()
            .map(|t| t.norm.clone())
            .collect()
    }

    /// The text after unit `end`, as a reason, if anything after it says
    /// something (not just "tack" or "idag").
    fn reason_after(&self, end: usize) -> Option<String> {
        let says_something = self.units[end + 1..].iter().any(|u| u.kind.is_content());
        let last_token = self.units[..=end].iter().map(|u| u.last).max()?;
        let from = self.tokens[last_token].end;
        says_something
            .then(|| clean_reason(&self.text[from..]))
            .flatten()
    }
}

/// Words of lateness that make a "no" doubtful ("kommer inte sent").
#[rustfmt::skip]
const LATE_WORDS: &[&str] = &["sent", "sen", "senare", "forsenad", "forsenat", "late", "later"];
/// Hours in words, after "halv" ("halv tre" is 2:30).
#[rustfmt::skip]
const HOUR_WORDS: &[&str] = &[
    "ett", "en", "tva", "tre", "fyra", "fem", "sex", "sju", "atta", "nio", "tio", "elva", "tolv",
];
const UNSURE_EMOJI: &[char] = &['🙄', '😒', '🤔', '🤷', '😤', '😡', '🤬'];
const YES_EMOJI: &[char] = &['👍', '✅', '👌', '✔', '☑', '✓', '🆗'];
const NO_EMOJI: &[char] = &[
    '❌', '❎', '✖', '✗', '✘', '👎', '🤒', '🤢', '🤮', '🤧', '😷',
];

// ---------------------------------------------------------------------------
// Step 1: tokens.
// ---------------------------------------------------------------------------

/// One word of the message.
#[derive(Debug, Clone)]
struct Token {
    /// Where the word starts and ends in the original text (byte offsets):
    /// the reason is cut from here.
    start: usize,
    end: usize,
    /// Lower-cased, å/ä/ö and other accents folded, apostrophes dropped:
    /// "Förhinder" → "forhinder", "can't" → "cant".
    norm: String,
    /// `norm` with every run of a repeated letter collapsed: "kommmer" and
    /// "komer" both → "komer", "jaaa" → "ja". Compared against the keyword
    /// squashed the same way, so shouting and doubled letters never matter.
    squashed: String,
    chars: usize,
    /// Punctuation, an emoji or a line break between this word and the one
    /// before: "kommer, inte sjuk" is two clauses, "kommer inte" one.
    break_before: bool,
}

impl Token {
    fn is_negator(&self) -> bool {
        NEGATOR_WORDS.contains(&self.norm.as_str())
            || NEGATOR_WORDS.contains(&self.squashed.as_str())
    }

    fn is_number(&self) -> bool {
        !self.norm.is_empty() && self.norm.chars().all(|c| c.is_ascii_digit())
    }
}

/// Words are runs of letters and digits (an apostrophe inside a word keeps
/// it whole: "can't", "doctor's"). Everything else separates words.
fn tokenise(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut gap_start = 0;
    let mut i = 0;
    while i < chars.len() {
        if !is_word_char(chars[i].1) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while let Some(&(_, c)) = chars.get(j) {
            let apostrophe_inside =
                is_apostrophe(c) && chars.get(j + 1).is_some_and(|&(_, n)| n.is_alphanumeric());
            if !(is_word_char(c) || apostrophe_inside) {
                break;
            }
            j += 1;
        }
        let start = chars[i].0;
        let end = chars.get(j).map_or(text.len(), |&(b, _)| b);
        i = j;
        let norm = fold(&text[start..end]);
        if norm.is_empty() {
            // Only combining marks: noise inside the gap.
            continue;
        }
        let break_before = !tokens.is_empty() && text[gap_start..start].chars().any(is_break);
        let mut norm = norm;
        if read_as_inte(&norm, tokens.last().filter(|_| !break_before)) {
            norm = "inte".to_string();
        }
        tokens.push(Token {
            start,
            end,
            squashed: squash(&norm),
            chars: norm.chars().count(),
            norm,
            break_before,
        });
        gap_start = end;
    }
    tokens
}

/// The negators of Swedish texting ("kmr int", "kommer nt", "kmr ente",
/// "kommer änt", "kommer inge", "kmr intä") are read as "inte", so every
/// phrase with "inte" ("kan inte", "hinner inte") knows them too. "it" only
/// after a Swedish verb ("kmr it", "kan it"): elsewhere it is English.
fn read_as_inte(norm: &str, before: Option<&Token>) -> bool {
    let squashed = squash(norm);
    if SV_NEGATORS.contains(&squashed.as_str()) {
        return true;
    }
    squashed == "it" && before.is_some_and(|b| SV_VERBS_BEFORE_IT.contains(&b.squashed.as_str()))
}

/// Folded and squashed.
#[rustfmt::skip]
const SV_NEGATORS: &[&str] = &["int", "inte", "nt", "ente", "ant", "inge", "inta", "inti", "inde", "ine"];
#[rustfmt::skip]
const SV_VERBS_BEFORE_IT: &[&str] = &[
    "komer", "kmr", "kmer", "komr", "kan", "hiner", "gar", "funkar", "pasar", "blir", "ar", "vil",
    "ska", "orkar", "kommer",
];

/// Compatibility forms folded (full-width "ＳＴＯＰＰ", ligatures,
/// superscripts), accents off, lower case, apostrophes out. Only for
/// matching. NFKD from `unicode-normalization` splits "ä" into "a" and a
/// combining mark, which is dropped; the few letters that do not decompose
/// ("ø", "æ", "ß") are mapped by hand.
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.nfkd().flat_map(char::to_lowercase) {
        if is_apostrophe(c) || is_combining_mark(c) {
            continue;
        }
        match c {
            'ø' => out.push('o'),
            'æ' => out.push('a'),
            'ß' => out.push_str("ss"),
            'ı' => out.push('i'),
            other => out.push(other),
        }
    }
    out
}

fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = None;
    for c in s.chars() {
        if last != Some(c) {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Decomposed "ä" (a + U+0308) is one letter, not a word break.
fn is_combining_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘' | '`' | '´' | 'ʼ')
}

fn is_quote(c: char) -> bool {
    is_apostrophe(c) || matches!(c, '"' | '“' | '”' | '„' | '«' | '»')
}

fn is_question_mark(c: char) -> bool {
    matches!(c, '?' | '¿' | '？')
}

/// Skin tones, variation selectors and zero-width joiners decorate an emoji;
/// they are not punctuation.
fn is_emoji_modifier(c: char) -> bool {
    matches!(
        c,
        '\u{1F3FB}'..='\u{1F3FF}' | '\u{FE0E}' | '\u{FE0F}' | '\u{200D}' | '\u{20E3}'
    )
}

fn is_break(c: char) -> bool {
    match c {
        '\n' | '\r' => true,
        c if c.is_whitespace() => false,
        c => !(is_quote(c) || is_emoji_modifier(c) || is_combining_mark(c)),
    }
}

/// The day an occasion word names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mention {
    Today,
    Tomorrow,
    Weekday(Weekday),
    /// "nästa vecka": never the appointment asked about.
    Other,
}

impl Mention {
    /// From an occasion's folded words; `None` for "dit", "mötet", "kl".
    fn of(words: &str) -> Option<Mention> {
        use Weekday::*;
        Some(match words {
            "idag" | "i dag" | "ikvall" | "i kvall" | "i eftermiddag" | "i formiddag" | "nu"
            | "today" | "tonight" | "now" | "idg" | "ikv" | "2day" | "tday" | "dagens" => {
                Mention::Today
            }
            "imorgon" | "i morgon" | "imorn" | "i morn" | "imorron" | "i morron" | "imorrn"
            | "imon" | "tomorrow" | "tmrw" | "tmr" | "2morrow" | "2moro" | "tomoz"
            | "morgondagens" => Mention::Tomorrow,
            "mandag" | "monday" => Mention::Weekday(Mon),
            "tisdag" | "tis" | "tuesday" => Mention::Weekday(Tue),
            "onsdag" | "ons" | "wednesday" => Mention::Weekday(Wed),
            "torsdag" | "tors" | "thursday" => Mention::Weekday(Thu),
            "fredag" | "fre" | "friday" => Mention::Weekday(Fri),
            "lordag" | "saturday" => Mention::Weekday(Sat),
            "sondag" | "sunday" => Mention::Weekday(Sun),
            "nasta vecka" | "next week" => Mention::Other,
            _ => return None,
        })
    }
}

/// A clock time in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    None,
    /// Hour and, when given, minutes.
    At(u32, Option<u32>),
    /// A date, or two different times.
    Other,
}

// ---------------------------------------------------------------------------
// Step 2: units, the words matched against the lexicon.
// ---------------------------------------------------------------------------

/// What a unit (a word or a phrase) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// "ja", "ok", "ses", "kommer" once nothing negates it.
    Agree,
    /// A verb that says yes unless negated: "kommer", "coming", "be there".
    Come,
    Refuse(Refusal),
    /// "kan inte", "can't": a refusal when nothing else follows in its
    /// clause ("kan inte, jobbar"), but "kan inte läsa" is about reading.
    Modal,
    /// "sjuk", "vab", "fever": a reason to be absent, and so a no.
    Sick,
    /// "inte", "not", "won't".
    Negator,
    /// "sen", "försenad", "late": coming, late, unless something says
    /// otherwise.
    Late,
    /// Doubt, a contrast, lateness, a question word, a request for a person:
    /// a person must read it.
    Unsure,
    /// "om"/"if": doubt, except "om 10 min".
    Condition,
    /// Greetings and thanks.
    Polite,
    /// Which appointment: "idag", "på tisdag", "dit", "mötet", "kl".
    Occasion,
    /// Small words that carry nothing: "jag", "det", "the".
    Filler,
    Number,
    /// Not in the lexicon.
    Word,
    /// Used up by a neighbour: the "inte" of "kommer inte", the "komma" of
    /// "kan inte komma", the "sjuk" of "inte sjuk", a modal with an object.
    Inert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// "förhinder", "frånvaro": the formal notice of absence.
    Formal,
    /// "kan inte komma", "kommer inte", "not coming", "avbokar".
    Plain,
    /// "nej", "no": a no only when nothing else in the message disagrees.
    Bare,
}

impl Kind {
    /// Whether a unit after a refusal is a reason worth keeping: not "tack",
    /// "idag", or another "nej"/"kommer inte".
    fn is_content(self) -> bool {
        !matches!(
            self,
            Kind::Polite
                | Kind::Occasion
                | Kind::Number
                | Kind::Filler
                | Kind::Inert
                | Kind::Refuse(_)
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    kind: Kind,
    /// The kind the lexicon gave, before `resolve`.
    was: Kind,
    /// The day an occasion names, if it names one.
    when: Option<Mention>,
    /// First and last token (inclusive).
    first: usize,
    last: usize,
    break_before: bool,
}

/// The lexicon, one group of phrases per meaning and language, written as
/// people write them (folded when compiled). A phrase may appear in two
/// languages with different meanings; the participant's language decides.
struct Group {
    kind: Kind,
    lang: Option<Language>,
    /// Forgive one typo in words of at least five letters.
    typos: bool,
    /// Comma-separated, so the list reads like the lists people would write.
    phrases: &'static str,
}

const fn exact(kind: Kind, lang: Option<Language>, phrases: &'static str) -> Group {
    Group {
        kind,
        lang,
        typos: false,
        phrases,
    }
}

const fn typos(kind: Kind, lang: Option<Language>, phrases: &'static str) -> Group {
    Group {
        kind,
        lang,
        typos: true,
        phrases,
    }
}

const SV: Option<Language> = Some(Language::Sv);
const EN: Option<Language> = Some(Language::En);
const ANY: Option<Language> = None;
const FORMAL: Kind = Kind::Refuse(Refusal::Formal);
const PLAIN: Kind = Kind::Refuse(Refusal::Plain);
const BARE: Kind = Kind::Refuse(Refusal::Bare);

const LEXICON: &[Group] = &[
    // Yes on its own.
    exact(Kind::Agree, ANY, "ok, okay, okey, ok då"),
    exact(
        Kind::Agree,
        SV,
        "ja, japp, jepp, jupp, jajamän, jadå, javisst, visst, okej, oki, okidoki, klart, ses, \
         ses då, vi ses, ses sen, ses där, inga problem, det gör jag, det blir bra, låter bra, \
         toppen, perfekt, kanon, på väg, k, jes, japps, jepps, jäpp, ingen fara, \
         inga konstigheter, det fixar jag",
    ),
    typos(
        Kind::Agree,
        SV,
        "absolut, självklart, givetvis, bekräftar, bekräftat",
    ),
    exact(
        Kind::Agree,
        EN,
        "yes, yeah, yea, yep, yup, ya, sure, of course, ofc, no problem, no worries, see you, \
         see ya, see you then, see you there, on my way, will do, sounds good, great, perfect, \
         cool, alright, all right, omw, np, no prob, sure thing, yes sir, aight",
    ),
    typos(
        Kind::Agree,
        EN,
        "absolutely, definitely, certainly, confirmed",
    ),
    // Yes unless negated.
    typos(Kind::Come, SV, "kommer"),
    exact(
        Kind::Come,
        SV,
        "kmr, kmer, komr, kommer dit, komma, närvara, vara där, vara på plats, är där, hinner, \
         dyker upp, e där, är på plats, är på väg",
    ),
    typos(Kind::Come, EN, "coming"),
    exact(
        Kind::Come,
        EN,
        "come, be there, make it, able to come, able to make it, be able to come, \
         be able to make it, attend, attending, show up, will make it, can make it",
    ),
    // The formal notice of absence.
    typos(
        FORMAL,
        SV,
        "förhinder, förhindrad, förhindrat, frånvaro, frånvarande, återbud, lämna återbud, \
         lämnar återbud, lämnat återbud, frånvaroanmälan",
    ),
    // "hinder" is "förhinder" missing a syllable; never a typo of "hinner".
    exact(FORMAL, SV, "hinder"),
    typos(FORMAL, EN, "absent"),
    // A refusal in so many words.
    exact(
        PLAIN,
        SV,
        "avboka, avbokar, avbokning, ställa in, ställer in, uteblir, stannar hemma, \
         blir hemma, måste stanna hemma",
    ),
    exact(PLAIN, EN, "cancel, cancelling, canceling"),
    // A bare no.
    exact(BARE, SV, "nej, nä, näe, nix"),
    exact(BARE, EN, "no, nope, nah, no way"),
    // "can't": see `resolve_modals`.
    exact(
        Kind::Modal,
        SV,
        "kan inte, kan ej, kan jag inte, kan jag ej, hinner inte, hinner ej, hinner jag inte, \
         kommer inte kunna, kommer inte att kunna, kommer ej kunna, har inte möjlighet, \
         har ej möjlighet, har inte tid, går inte, går ej, funkar inte, passar inte, passar ej, \
         orkar inte, orkar ej, hinner inte med, klarar inte, klarar ej, kmr inte kunna, \
         kommer inte hinna, hinner aldrig, kan aldrig",
    ),
    exact(
        Kind::Modal,
        EN,
        "can't, cannot, can not, unable, not able, won't be able, will not be able, \
         don't have time, do not have time, cant make it, can't make it, couldn't, \
         won't make it, will not make it",
    ),
    // Being ill, or a sick child, is a reason and a no.
    exact(
        Kind::Sick,
        SV,
        "sjuk, sjuka, sjukt barn, sjuka barn, barnet är sjukt, feber, vab, vabb, vabbar, \
         mår dåligt, mår inte bra, mår illa, covid, corona, migrän, magsjuk, magont, \
         huvudvärk, halsont, spyr, kräks, är dålig, blivit dålig, blev dålig, känner mig dålig, \
         ont i magen, ont i huvudet, sjukskriv, krassli, skadad, skadade",
    ),
    typos(
        Kind::Sick,
        SV,
        "förkyld, sjukskriven, sjukdom, magsjuka, influensa, krasslig, sjukhuset, akuten, \
         förkylning, illamående, vårdcentralen, tandläkaren, läkaren",
    ),
    exact(
        Kind::Sick,
        EN,
        "sick, fever, flu, i'm ill, i am ill, am ill, feeling ill, feel ill, not well, \
         not feeling well, unwell, illness, covid, throwing up, migraine, the doctor, \
         doctor's appointment",
    ),
    typos(Kind::Sick, EN, "hospital"),
    // Negation: "kommer inte", "not coming".
    // Texting forms ("int", "nt", "änt", ...) are read as "inte" by `tokenise`.
    exact(Kind::Negator, SV, "inte, ej, icke, aldrig, it"),
    exact(
        Kind::Negator,
        EN,
        "not, never, won't, don't, do not, didn't, isn't, ain't, wont, dont, nt",
    ),
    // Doubt.
    exact(
        Kind::Unsure,
        SV,
        "nog, tror, vet inte, vet ej, får se, vi får se, beror på, ingen aning, antar, borde, \
         typ kanske, ska se, ska kolla, kollar, återkommer, hör av mig, om det går, om möjligt, \
         ev, kanke, kansk, kansj, mja, tja kanske",
    ),
    typos(
        Kind::Unsure,
        SV,
        "kanske, eventuellt, möjligen, möjligtvis, troligen, troligtvis, antagligen, \
         förmodligen, hoppas, osäker, försöker, försöka",
    ),
    exact(
        Kind::Unsure,
        EN,
        "might, hope, not sure, don't know, do not know, idk, dunno, think, try, will try, \
         trying, depends, no idea, mby, prob, probs, prolly, should, guess, we'll see, \
         let you know, get back",
    ),
    typos(
        Kind::Unsure,
        EN,
        "maybe, perhaps, possibly, probably, hopefully, unsure",
    ),
    // A contrast: "ja men ...", "kommer fast ...".
    exact(Kind::Unsure, SV, "men, fast, utom, förutom, dock"),
    exact(Kind::Unsure, EN, "but, although, though, except, however"),
    // Lateness: coming, late (see `late`). "senare", "later" is another
    // time, for a person.
    exact(
        Kind::Late,
        SV,
        "sen, sent, sena, lite sen, lite sent, försenad, försenat, försenade, försenas, \
         sen till, sent till",
    ),
    typos(Kind::Late, SV, "försenad, försenat"),
    // Not on time is late (the only negation a yes may carry, see `late`).
    exact(
        Kind::Late,
        SV,
        "inte i tid, ej i tid, hinner inte i tid, hinner inte fram i tid, kommer inte i tid, \
         kmr inte i tid, kommer inte hinna i tid, kommer inte att hinna i tid, kommer inte fram i tid",
    ),
    exact(
        Kind::Late,
        EN,
        "not on time, won't be on time, will not be on time, won't make it on time, \
         will not make it on time, not be on time",
    ),
    exact(
        Kind::Late,
        EN,
        "late, delayed, running late, bit late, a bit late, little late, a little late",
    ),
    exact(Kind::Unsure, SV, "senare, sedan, lite senare"),
    // Another obligation: "måste vara där" is not a yes.
    exact(Kind::Unsure, SV, "måste vara, måste va, behöver vara"),
    exact(Kind::Unsure, EN, "have to be, need to be, must be"),
    exact(Kind::Unsure, EN, "later, a bit later"),
    // Another day or time: not a yes to this one (and "nästa vecka" is an
    // occasion that is never the one asked about, see `Mention`).
    exact(
        Kind::Unsure,
        SV,
        "istället, iställ, isället, i stället, istallet, annan dag, annan tid, en annan dag, \
         en annan tid, nästa gång, övermorgon, i övermorgon, boka om, omboka, flytta, \
         flytta tiden, byta tid, ny tid",
    ),
    exact(
        Kind::Unsure,
        EN,
        "instead, another day, another time, next time, day after tomorrow, reschedule, \
         rebook, move it",
    ),
    // Questions in word order ("ska jag komma", "kommer ni") and another
    // person's coming.
    exact(
        Kind::Unsure,
        SV,
        "kommer ni, kommer du, kmr ni, kmr du, ska jag, skall jag, måste jag, behöver jag, \
         får jag, ska vi, kommer han, kommer hon",
    ),
    exact(
        Kind::Unsure,
        EN,
        "should i, shall i, do i, must i, do you, are you, is it, do i need to, are we, \
         will you",
    ),
    // Sarcasm and shrugging: a person reads it.
    exact(
        Kind::Unsure,
        ANY,
        "yeah right, as if, lol, haha, hahaha, jaja, ja ja, whatever, skämtar, skämtar du, \
         va fan, orka, nä men, skojar, skoja",
    ),
    // "kommer" in another sense: remember, get out, come back.
    exact(
        Kind::Unsure,
        SV,
        "kommer ihåg, komma ihåg, kommer inte ihåg, kommer ut, kommer från, kommer tillbaka, \
         kommer hem",
    ),
    exact(
        Kind::Unsure,
        EN,
        "come back, coming back, come from, coming from, come home",
    ),
    // Question words.
    exact(
        Kind::Unsure,
        SV,
        "vad, vem, vilken, vilket, vilka, varför, hur, när, vart",
    ),
    exact(
        Kind::Unsure,
        EN,
        "what, who, whom, whose, why, how, when, where, which, what's, who's",
    ),
    // Asking for a person, or a stop word where STOPP does not apply.
    exact(
        Kind::Unsure,
        SV,
        "ring, ring mig, ringa, ringer, ringde, fel nummer, prata, hjälp, stopp, sluta, \
         avsluta, avregistrera, stoppa, stoppar, slutar, avslutar",
    ),
    exact(
        Kind::Unsure,
        EN,
        "call, call me, wrong number, talk, help, stop, unsubscribe, stopping",
    ),
    // Conditions: see `resolve_conditions`.
    exact(Kind::Condition, SV, "om, ifall, såvida"),
    exact(Kind::Condition, EN, "if, unless"),
    // Greetings and thanks.
    exact(
        Kind::Polite,
        SV,
        "hej, hejsan, hallå, tja, tjena, tjabba, god morgon, godmorgon, hej hej, tack, tackar, \
         tack så mycket, tusen tack, stort tack, tack för påminnelsen, tack för infon, mvh, \
         hälsningar, vänliga hälsningar, snälla",
    ),
    exact(
        Kind::Polite,
        EN,
        "hi, hello, hey, dear, thanks, thank you, thank you very much, thanks for the reminder, \
         thx, ty, please, pls, plz, cheers, regards, best regards, good morning",
    ),
    // Which appointment.
    exact(
        Kind::Occasion,
        SV,
        "idag, i dag, imorgon, i morgon, imorn, i morn, ikväll, i kväll, i eftermiddag, \
         i förmiddag, måndag, tisdag, onsdag, torsdag, fredag, lördag, söndag, nästa vecka, \
         den här gången, denna gång, dit, hit, då, mötet, möte, tiden, tid, besöket, träffen, \
         kl, klockan, till, på, nu, imorron, i morron, imorrn, imon, idg, ikv, \
         tis, ons, tors, fre, träff, besök, dagens, morgondagens",
    ),
    exact(
        Kind::Occasion,
        EN,
        "today, tomorrow, tonight, this time, monday, tuesday, wednesday, thursday, friday, \
         saturday, sunday, next week, there, then, the meeting, meeting, appointment, \
         the appointment, at, to, on, now, tmrw, tmr, 2morrow, 2moro, tomoz, 2day, tday",
    ),
    // Small words.
    exact(
        Kind::Filler,
        SV,
        "jag, du, vi, ni, han, hon, det, den, de, att, och, i, är, var, har, hade, ska, skall, \
         kan, vill, blir, bli, så, där, här, min, mitt, mina, mig, dig, oss, med, för, av, en, \
         ett, också, även, lite, bara, giltigt, kommer att, som, vara, minuter, minuters, \
         kvart, halvtimme, halvtimma, timme, timma, ca, cirka, typ, ungefär, nån, några, \
         ngt, något, nåt, e, snart, strax, sen kl",
    ),
    exact(
        Kind::Filler,
        EN,
        "i, i'm, i'll, i've, i'd, me, my, you, we, it, it's, the, a, an, and, will, can, shall, \
         be, am, is, are, do, have, here, just, also, for, with, of, as, so, that, fast, min, \
         mins, minute, minutes, hour, half, quarter, about, around, few, couple, \
         gonna, going to",
    ),
];

/// Dropped before matching, so "kommer tyvärr inte" reads as "kommer inte"
/// and "kan faktiskt inte" as "kan inte". Written folded, like all the word
/// lists below.
#[rustfmt::skip]
const SKIP_WORDS: &[&str] = &[
    "tyvarr", "unfortunately", "sorry", "forlat", "ursakta", "faktiskt", "actually", "really",
    "verkligen", "ju",
];

/// Checked on every word, whatever phrase it ended up in (see
/// [`Message::negated`]).
#[rustfmt::skip]
const NEGATOR_WORDS: &[&str] = &[
    "inte", "ej", "icke", "aldrig", "not", "never", "wont", "dont", "didnt", "doesnt", "isnt",
    "aint", "cant", "cannot", "couldnt", "wouldnt", "shouldnt",
];

#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "stop", "stopp", "stoppa", "sluta", "avsluta", "avregistrera", "avregistrering", "unsubscribe",
    "stopall", "optout", "unsub", "slutar", "stoppar", "stopsms", "stoppsms",
];
/// Words that may stand with a stop word whatever else the message says:
/// greetings, thanks, "nu", "mig", "ok".
#[rustfmt::skip]
const STOP_ALWAYS_OK: &[&str] = &[
    "hej", "hejsan", "hallo", "tja", "tjena", "tack", "tackar", "thanks", "thank", "thx", "ty",
    "please", "pls", "plz", "snalla", "mvh", "ok", "okej", "okay", "okey", "nu", "now", "mig", "me",
    "genast", "direkt", "omedelbart", "asap", "immediately", "hi", "hello", "hey", "bara", "just",
    "all", "alla", "allt", "sa", "mycket", "it",
];
/// Words that point at the messages themselves: with one of them, a stop
/// word or "inga mer" is about the messages.
#[rustfmt::skip]
const STOP_MESSAGES: &[&str] = &[
    "sms", "smsen", "smsa", "smsar", "meddelande", "meddelanden", "meddelandena", "meddelandet",
    "paminnelse", "paminnelser", "paminnelserna", "notiser", "notis", "messages", "message", "texts",
    "text", "texting", "txt", "txts", "sms's", "smss", "reminders", "reminder", "notifications",
    "skicka", "skickar", "skickat", "send", "sending", "sent", "prenumeration", "prenumerationen",
    "subscription", "nummer", "numret", "number", "listan", "list", "messaging", "messa", "messar",
    "mess", "tjansten", "tjanst", "service",
];
/// Small words that may stand with a stop word when the message also
/// points at the messages: "sluta skicka sms till mig", "I want no more
/// texts from you".
#[rustfmt::skip]
const STOP_WITH_MESSAGES: &[&str] = &[
    "jag", "vill", "att", "ni", "du", "er", "era", "ert", "dom", "de", "dem", "till", "mer", "fler",
    "alla", "allt", "all", "det", "detta", "de", "fran", "med", "och", "min", "mitt", "mina", "fa",
    "langre", "nagra", "nagot", "nat", "nan", "fler", "i", "want", "to", "more", "any", "anymore",
    "from", "this", "these", "the", "you", "your", "my", "with", "and", "get", "receive", "of",
    "a", "an", "en", "ett", "ha", "have", "some",
];
/// The rest of "vill inte ha fler sms", "no more texts".
const STOP_NO_MORE: &[&str] = &["inga", "inget", "ingen", "no", "nej"];
/// Stop words long enough to forgive a typo in ("stopo", "avsluat").
const STOP_TYPO_WORDS: &[&str] = &["stopp", "avsluta", "avregistrera", "unsubscribe"];

/// Each command's whole-message forms, comma-separated, as people type them.
const COMMANDS: &[(Intent, &str)] = &[
    (
        Intent::Start,
        "start, starta, start igen, starta igen, börja igen, resume",
    ),
    (
        Intent::Help,
        "hjälp, hjälp mig, help, help me, info, meny, menu",
    ),
    (
        Intent::MyTimes,
        "mina tider, min tid, tider, mina möten, när är min tid, när är mina tider, my times, \
         times, my appointments, appointments",
    ),
    (
        Intent::MyData,
        "mina uppgifter, uppgifter, min data, mina data, my data, my info, my information",
    ),
];

#[rustfmt::skip]
const CHOICE_PREFIXES: &[&str] = &["nr", "nummer", "alternativ", "val", "svar", "option", "number"];
const LANGUAGE_VERBS: &[&str] = &["byt", "byta", "andra", "change", "switch", "set"];
const LANGUAGE_WORDS: &[&str] = &["sprak", "spraket", "language", "lang"];
const LANGUAGE_PREPOSITIONS: &[&str] = &["till", "to", "pa", "in"];

fn is_stop_word(t: &Token) -> bool {
    let exact = STOP_WORDS
        .iter()
        .any(|w| t.norm == *w || t.squashed == squash(w));
    exact
        || STOP_TYPO_WORDS
            .iter()
            .any(|w| typo_close(&t.norm, t.chars, w, w.chars().count()))
}

/// At most one edit (Damerau-Levenshtein: a letter added, dropped, changed,
/// or two swapped) between two words of at least five letters.
fn typo_close(typed: &str, typed_chars: usize, keyword: &str, keyword_chars: usize) -> bool {
    typed_chars >= MIN_TYPO_CHARS
        && keyword_chars >= MIN_TYPO_CHARS
        && typed_chars.abs_diff(keyword_chars) <= 1
        && strsim::damerau_levenshtein(typed, keyword) <= 1
}

/// One phrase of the lexicon, folded.
struct Entry {
    words: Vec<LexWord>,
    kind: Kind,
    lang: Option<Language>,
    typos: bool,
}

struct LexWord {
    norm: String,
    squashed: String,
    chars: usize,
}

impl LexWord {
    /// `Some(true)` for an exact match (give or take repeated letters),
    /// `Some(false)` for a forgiven typo.
    fn matches(&self, t: &Token, typos: bool) -> Option<bool> {
        if t.norm == self.norm || t.squashed == self.squashed {
            Some(true)
        } else if typos && typo_close(&t.norm, t.chars, &self.norm, self.chars) {
            Some(false)
        } else {
            None
        }
    }
}

struct Lexicon {
    entries: Vec<Entry>,
    /// Entries by the squashed form of their first word: exact matches.
    by_first: HashMap<String, Vec<usize>>,
    /// Entries whose first word may be typed with a typo.
    typo_first: Vec<usize>,
}

static COMPILED: LazyLock<Lexicon> = LazyLock::new(Lexicon::compile);

impl Lexicon {
    fn compile() -> Self {
        let mut lexicon = Lexicon {
            entries: Vec::new(),
            by_first: HashMap::new(),
            typo_first: Vec::new(),
        };
        for group in LEXICON {
            for phrase in group.phrases.split(',').map(str::trim) {
                let words: Vec<LexWord> = phrase
                    .split_whitespace()
                    .map(|w| {
                        let norm = fold(w);
                        LexWord {
                            squashed: squash(&norm),
                            chars: norm.chars().count(),
                            norm,
                        }
                    })
                    .collect();
                let index = lexicon.entries.len();
                lexicon
                    .by_first
                    .entry(words[0].squashed.clone())
                    .or_default()
                    .push(index);
                if group.typos && words[0].chars >= MIN_TYPO_CHARS {
                    lexicon.typo_first.push(index);
                }
                lexicon.entries.push(Entry {
                    words,
                    kind: group.kind,
                    lang: group.lang,
                    typos: group.typos,
                });
            }
        }
        lexicon
    }

    /// The longest phrase starting at `seq[0]` (exact matches beat typos),
    /// as (number of words, meaning). Two meanings that tie are settled by
    /// the participant's language; if that does not settle it, the word is
    /// left unknown.
    fn longest_at(&self, tokens: &[Token], seq: &[usize], lang: Language) -> Option<(usize, Kind)> {
        let first = &tokens[seq[0]];
        let typo_candidates = if first.chars >= MIN_TYPO_CHARS {
            self.typo_first.as_slice()
        } else {
            &[]
        };
        let candidates = self
            .by_first
            .get(&first.squashed)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .chain(typo_candidates);
        let mut best: Option<(usize, usize)> = None;
        let mut found: Vec<&Entry> = Vec::new();
        for &index in candidates {
            let entry = &self.entries[index];
            let Some(exact) = entry.matches(tokens, seq) else {
                continue;
            };
            let score = (entry.words.len(), exact);
            if best.is_none_or(|b| score > b) {
                best = Some(score);
                found.clear();
            }
            if best == Some(score) {
                found.push(entry);
            }
        }
        let (len, _) = best?;
        let one_kind = |entries: &[&Entry]| {
            let kind = entries.first()?.kind;
            entries
                .iter()
                .all(|e| e.kind == kind)
                .then_some((len, kind))
        };
        one_kind(&found).or_else(|| {
            let own: Vec<&Entry> = found
                .iter()
                .copied()
                .filter(|e| e.lang == Some(lang))
                .collect();
            one_kind(&own)
        })
    }
}

impl Entry {
    /// The number of exactly matched words if the phrase matches the tokens
    /// `seq` starts with, within one clause.
    fn matches(&self, tokens: &[Token], seq: &[usize]) -> Option<usize> {
        if seq.len() < self.words.len() {
            return None;
        }
        let mut exact = 0;
        for (k, word) in self.words.iter().enumerate() {
            if k > 0 && (seq[k - 1] + 1..=seq[k]).any(|t| tokens[t].break_before) {
                return None;
            }
            if word.matches(&tokens[seq[k]], self.typos)? {
                exact += 1;
            }
        }
        Some(exact)
    }
}

/// Matches the tokens, longest phrase first, left to right.
fn match_units(tokens: &[Token], lang: Language) -> Vec<Unit> {
    let seq: Vec<usize> = (0..tokens.len())
        .filter(|&i| {
            !SKIP_WORDS.contains(&tokens[i].squashed.as_str())
                && !SKIP_WORDS.contains(&tokens[i].norm.as_str())
        })
        .collect();
    let mut units: Vec<Unit> = Vec::new();
    let mut i = 0;
    while i < seq.len() {
        let (len, kind) = COMPILED
            .longest_at(tokens, &seq[i..], lang)
            .unwrap_or_else(|| {
                let t = &tokens[seq[i]];
                let number = t.norm.chars().all(|c| c.is_ascii_digit());
                (1, if number { Kind::Number } else { Kind::Word })
            });
        let (first, last) = (seq[i], seq[i + len - 1]);
        let from = units.last().map_or(first, |u| u.last + 1);
        let break_before = !units.is_empty() && (from..=first).any(|t| tokens[t].break_before);
        let when = (kind == Kind::Occasion)
            .then(|| {
                let words: Vec<&str> = tokens[first..=last]
                    .iter()
                    .map(|t| t.norm.as_str())
                    .collect();
                Mention::of(&words.join(" "))
            })
            .flatten();
        units.push(Unit {
            kind,
            was: kind,
            when,
            first,
            last,
            break_before,
        });
        i += len;
    }
    units
}

// ---------------------------------------------------------------------------
// Step 3: negation and "kan inte komma".
// ---------------------------------------------------------------------------

fn resolve(units: &mut [Unit]) {
    resolve_negators(units);
    resolve_modals(units);
    absorb_verbs_after_refusals(units);
    resolve_conditions(units);
    for u in units.iter_mut() {
        u.kind = match u.kind {
            Kind::Come => Kind::Agree,
            Kind::Negator => Kind::Inert,
            other => other,
        };
    }
}

/// No punctuation between units `a` and `b` (a < b).
fn same_clause(units: &[Unit], a: usize, b: usize) -> bool {
    !units[a + 1..=b].iter().any(|u| u.break_before)
}

/// Swedish puts the negation after the verb ("kommer inte", "kommer jag
/// inte"), English before it ("not coming", "won't come"); either way the
/// pair is a refusal. A negation before an illness cancels it ("inte sjuk").
fn resolve_negators(units: &mut [Unit]) {
    for k in 0..units.len() {
        if units[k].kind != Kind::Negator {
            continue;
        }
        let verb_before = (1..=2)
            .filter_map(|d| k.checked_sub(d))
            .take_while(|&j| same_clause(units, j, k))
            .find(|&j| units[j].kind == Kind::Come);
        if let Some(j) = verb_before {
            units[j].kind = PLAIN;
            units[j].last = units[k].last;
            units[k].kind = Kind::Inert;
            continue;
        }
        if k + 1 < units.len() && same_clause(units, k, k + 1) {
            match units[k + 1].kind {
                Kind::Come => {
                    units[k + 1].kind = PLAIN;
                    units[k + 1].first = units[k].first;
                    units[k].kind = Kind::Inert;
                }
                Kind::Sick => {
                    units[k + 1].kind = Kind::Inert;
                    units[k].kind = Kind::Inert;
                }
                // "Inte idag", "not today", "int imorgon": a refusal of the
                // occasion.
                Kind::Occasion if units[k + 1].when.is_some() => {
                    units[k].kind = PLAIN;
                    units[k].last = units[k + 1].last;
                    units[k + 1].kind = Kind::Inert;
                }
                _ => {}
            }
        }
    }
}

/// Whether token `i` is inside a phrase of more than one word that says
/// yes or can't ("make it", "can't make it").
fn inside_a_yes_phrase(units: &[Unit], i: usize) -> bool {
    units.iter().any(|u| {
        u.first < i && i <= u.last && matches!(u.was, Kind::Come | Kind::Agree | Kind::Modal)
    })
}

/// "kan inte" is a refusal when its clause ends there ("kan inte, jobbar"),
/// or goes on with coming ("kan inte komma"), an occasion ("kan inte
/// idag") or an illness. "kan inte läsa", "can't wait" are about something
/// else.
fn resolve_modals(units: &mut [Unit]) {
    for k in 0..units.len() {
        if units[k].kind != Kind::Modal {
            continue;
        }
        let mut m = k + 1;
        if m < units.len() && same_clause(units, k, m) && units[m].kind == Kind::Filler {
            m += 1;
        }
        let next = (m < units.len() && same_clause(units, k, m)).then(|| units[m].kind);
        let refusal = match next {
            None => true,
            Some(kind) => matches!(
                kind,
                Kind::Come | Kind::Occasion | Kind::Polite | Kind::Number | Kind::Sick
            ),
        };
        units[k].kind = if refusal { PLAIN } else { Kind::Inert };
    }
}

/// The verb after a refusal is part of it: "kan inte komma", "unable to
/// come", "kommer inte att komma".
fn absorb_verbs_after_refusals(units: &mut [Unit]) {
    for k in 0..units.len() {
        if !matches!(
            units[k].kind,
            Kind::Refuse(Refusal::Formal | Refusal::Plain)
        ) {
            continue;
        }
        for m in k + 1..units.len().min(k + 4) {
            if !same_clause(units, k, m) {
                break;
            }
            match units[m].kind {
                Kind::Come => {
                    units[m].kind = Kind::Inert;
                    units[k].last = units[m].last;
                    break;
                }
                Kind::Filler | Kind::Occasion | Kind::Inert => {}
                _ => break,
            }
        }
    }
}

/// "om jag hinner" is doubt; "om 10 min" is a time.
fn resolve_conditions(units: &mut [Unit]) {
    for k in 0..units.len() {
        if units[k].kind == Kind::Condition {
            let time = units.get(k + 1).is_some_and(|u| u.kind == Kind::Number);
            units[k].kind = if time { Kind::Filler } else { Kind::Unsure };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::{En, Sv};
    use proptest::prelude::*;

    /// What a row expects; `Intent` itself cannot be built in a `const`.
    #[derive(Debug, Clone, Copy)]
    enum W {
        Coming,
        Late(Option<u16>),
        Cannot(Option<&'static str>),
        Stop,
        Start,
        Help,
        MyTimes,
        MyData,
        Lang(Language),
        Choice(u8),
        Unknown,
    }

    impl W {
        fn intent(self) -> Intent {
            match self {
                W::Coming => Intent::Coming,
                W::Late(minutes) => Intent::Late { minutes },
                W::Cannot(reason) => Intent::Cannot {
                    reason: reason.map(String::from),
                },
                W::Stop => Intent::Stop,
                W::Start => Intent::Start,
                W::Help => Intent::Help,
                W::MyTimes => Intent::MyTimes,
                W::MyData => Intent::MyData,
                W::Lang(language) => Intent::Language { language },
                W::Choice(n) => Intent::Choice { n },
                W::Unknown => Intent::Unknown,
            }
        }
    }

    use W::{Cannot, Choice, Coming, Help, Lang, Late, MyData, MyTimes, Start, Stop, Unknown};

    /// Replies as participants type them, with the participant's language
    /// and what the reply means. Grouped by what the row shows.
    const REPLIES: &[(&str, Language, W)] = &[
        // "kommer" however it is typed: case, punctuation, quotes, spaces.
        ("kommer", Sv, Coming),
        ("KOMMER", Sv, Coming),
        ("Kommer!!", Sv, Coming),
        ("kommer.", Sv, Coming),
        ("Kommer!!!", Sv, Coming),
        ("  kommer \n", Sv, Coming),
        ("\"kommer\"", Sv, Coming),
        ("“Kommer”", Sv, Coming),
        ("«kommer»", Sv, Coming),
        ("'kommer'", Sv, Coming),
        // Other ways of saying yes in Swedish.
        ("ja", Sv, Coming),
        ("Ja!", Sv, Coming),
        ("Jaaa", Sv, Coming),
        ("Japp", Sv, Coming),
        ("jepp", Sv, Coming),
        ("Ok", Sv, Coming),
        ("OK!", Sv, Coming),
        ("Okk", Sv, Coming),
        ("okej", Sv, Coming),
        ("Oki", Sv, Coming),
        ("Okej då", Sv, Coming),
        ("Absolut!", Sv, Coming),
        ("Självklart", Sv, Coming),
        ("Givetvis", Sv, Coming),
        ("Jag kommer", Sv, Coming),
        ("Ja, jag kommer", Sv, Coming),
        ("Ja tack", Sv, Coming),
        ("Ses då", Sv, Coming),
        ("Ses!", Sv, Coming),
        ("Vi ses idag!", Sv, Coming),
        ("Bekräftar", Sv, Coming),
        ("På väg", Sv, Coming),
        ("Jag hinner", Sv, Coming),
        ("kmr", Sv, Coming),
        ("Jag kommer att vara där", Sv, Coming),
        // A yes with a few harmless words: a time, a name, thanks.
        ("Kommer kl 10", Sv, Unknown),
        ("Jag kommer imorgon", Sv, Coming),
        ("Kommer /Ali", Sv, Coming),
        ("Hej! Kommer", Sv, Coming),
        ("Tack, jag kommer!", Sv, Coming),
        ("Ok tack, vi ses", Sv, Coming),
        ("Kommer med bussen", Sv, Coming),
        ("Kommer om 10 min", Sv, Coming),
        ("Självklart kommer jag", Sv, Coming),
        // Typos and missing diacritics on the keywords.
        ("kommmer", Sv, Coming),
        ("komer", Sv, Coming),
        ("Kommr", Sv, Coming),
        ("Kmomer", Sv, Coming),
        ("Sjalvklart", Sv, Coming),
        ("Absoult", Sv, Coming),
        // Yes in English, and the two languages crossed.
        ("Yes", En, Coming),
        ("yeah", En, Coming),
        ("Yep see you then", En, Coming),
        ("Coming!", En, Coming),
        ("comming", En, Coming),
        ("I'll be there", En, Coming),
        ("I’ll be there", En, Coming),
        ("i will come", En, Coming),
        ("I'm coming", En, Coming),
        ("Sure", En, Coming),
        ("Absolutely", En, Coming),
        ("absolutly", En, Coming),
        ("ok thanks", En, Coming),
        ("On my way", En, Coming),
        ("I will be there at 10", En, Unknown),
        ("no problem", En, Coming),
        ("No worries, see you", En, Coming),
        ("kommer", En, Coming),
        ("yes", Sv, Coming),
        // "förhinder" however it is typed.
        ("förhinder", Sv, Cannot(None)),
        ("FÖRHINDER", Sv, Cannot(None)),
        ("Forhinder!", Sv, Cannot(None)),
        ("forhinder", Sv, Cannot(None)),
        ("förhindet", Sv, Cannot(None)),
        ("forhindrad", Sv, Cannot(None)),
        ("Förhindrad", Sv, Cannot(None)),
        ("Förhindr", Sv, Cannot(None)),
        ("Hinder", Sv, Cannot(None)),
        ("Har förhinder", Sv, Cannot(None)),
        ("Jag har tyvärr förhinder imorgon", Sv, Cannot(None)),
        ("Förhinder idag tack", Sv, Cannot(None)),
        ("Frånvarande idag", Sv, Cannot(None)),
        ("förhinder", En, Cannot(None)),
        // Other ways of saying no in Swedish.
        ("Nej", Sv, Cannot(None)),
        ("NEJ!", Sv, Cannot(None)),
        ("Nej tack", Sv, Cannot(None)),
        ("Nää", Sv, Cannot(None)),
        ("kan inte", Sv, Cannot(None)),
        ("Kan ej", Sv, Cannot(None)),
        ("Hinner inte", Sv, Cannot(None)),
        ("Hinner inte idag", Sv, Cannot(None)),
        ("Kan inte komma", Sv, Cannot(None)),
        ("Kan tyvärr inte komma", Sv, Cannot(None)),
        ("Tyvärr kan jag inte komma", Sv, Cannot(None)),
        ("Nej jag kan inte", Sv, Cannot(None)),
        ("Kan ej närvara", Sv, Cannot(None)),
        ("Förhindrad att komma", Sv, Cannot(None)),
        ("Avbokar", Sv, Cannot(None)),
        // No in English.
        ("no", En, Cannot(None)),
        ("No, sorry", En, Cannot(None)),
        ("Nope", En, Cannot(None)),
        ("can't", En, Cannot(None)),
        ("cant", En, Cannot(None)),
        ("Cannot", En, Cannot(None)),
        ("cannot come", En, Cannot(None)),
        ("can not come", En, Cannot(None)),
        ("I can't make it", En, Cannot(None)),
        ("Sorry can't make it today", En, Cannot(None)),
        ("no I can't", En, Cannot(None)),
        ("can't", Sv, Cannot(None)),
        // Negation turns "kommer"/"coming" into a no, never a yes.
        ("kommer inte", Sv, Cannot(None)),
        ("Kommer inte idag", Sv, Cannot(None)),
        ("Kommer tyvärr inte", Sv, Cannot(None)),
        ("Jag kommer inte", Sv, Cannot(None)),
        ("Kommer ej", Sv, Cannot(None)),
        ("Jag kommer inte att komma", Sv, Cannot(None)),
        ("Kommer inte 👍", Sv, Cannot(None)),
        ("not coming", En, Cannot(None)),
        ("won't come", En, Cannot(None)),
        ("will not come", En, Cannot(None)),
        ("I won't make it", En, Cannot(None)),
        ("Won't be able to come", En, Cannot(None)),
        ("kommer not", En, Cannot(None)),
        // Reasons after the refusal, as the participant wrote them.
        ("förhinder, sjuk", Sv, Cannot(Some("sjuk"))),
        ("förhinder - sjukt barn", Sv, Cannot(Some("sjukt barn"))),
        ("förhinder sjuk", Sv, Cannot(Some("sjuk"))),
        ("förhinder: jobbar", Sv, Cannot(Some("jobbar"))),
        ("Förhinder (sjuk)", Sv, Cannot(Some("sjuk"))),
        ("Förhinder pga sjukdom", Sv, Cannot(Some("pga sjukdom"))),
        (
            "Forhinder, Sonen Är Sjuk!",
            Sv,
            Cannot(Some("Sonen Är Sjuk")),
        ),
        ("kan inte, jobbar", Sv, Cannot(Some("jobbar"))),
        ("Kan inte komma idag, jobbar", Sv, Cannot(Some("jobbar"))),
        (
            "Kan inte komma imorgon pga jobb",
            Sv,
            Cannot(Some("pga jobb")),
        ),
        ("nej, jobbar", Sv, Cannot(Some("jobbar"))),
        ("Kommer inte. Kommer inte!", Sv, Cannot(None)),
        ("❌ jobbar", Sv, Cannot(Some("jobbar"))),
        ("Jag kommer inte, sjuk", Sv, Cannot(Some("sjuk"))),
        (
            "Förhinder, kan vi boka en ny tid?",
            Sv,
            Cannot(Some("kan vi boka en ny tid?")),
        ),
        (
            "Förhinder, men jag kommer nästa vecka",
            Sv,
            Cannot(Some("men jag kommer nästa vecka")),
        ),
        (
            "Förhinder, jag har fått en tid hos tandläkaren samma dag och kan inte flytta den eftersom det är akut",
            Sv,
            Cannot(Some(
                "jag har fått en tid hos tandläkaren samma dag och kan inte flytta den eftersom det är akut",
            )),
        ),
        (
            "can't, doctor's appointment",
            En,
            Cannot(Some("doctor's appointment")),
        ),
        (
            "cannot come - doctor's appointment",
            En,
            Cannot(Some("doctor's appointment")),
        ),
        (
            "I can't come tomorrow, I have a job interview",
            En,
            Cannot(Some("I have a job interview")),
        ),
        (
            "not coming, my son is sick",
            En,
            Cannot(Some("my son is sick")),
        ),
        (
            "Unable to come, car broke down",
            En,
            Cannot(Some("car broke down")),
        ),
        (
            "Can't make it. Kid is sick",
            En,
            Cannot(Some("Kid is sick")),
        ),
        // Illness alone is a no, and is its own reason.
        ("sjuk", Sv, Cannot(Some("sjuk"))),
        ("Sjuk!", Sv, Cannot(Some("Sjuk"))),
        ("är sjuk", Sv, Cannot(Some("är sjuk"))),
        ("Jag är sjuk", Sv, Cannot(Some("Jag är sjuk"))),
        ("VAB", Sv, Cannot(Some("VAB"))),
        ("Vabbar idag", Sv, Cannot(Some("Vabbar idag"))),
        ("Förkyld", Sv, Cannot(Some("Förkyld"))),
        ("Har feber", Sv, Cannot(Some("Har feber"))),
        (
            "Ligger på sjukhuset",
            Sv,
            Cannot(Some("Ligger på sjukhuset")),
        ),
        ("sick", En, Cannot(Some("sick"))),
        ("I'm sick", En, Cannot(Some("I'm sick"))),
        ("I am ill", En, Cannot(Some("I am ill"))),
        (
            "Not feeling well today",
            En,
            Cannot(Some("Not feeling well today")),
        ),
        // Emoji, with skin tones and variation selectors.
        ("👍", Sv, Coming),
        ("👍🏽", Sv, Coming),
        ("👍🏿👍🏿", En, Coming),
        ("✅", Sv, Coming),
        ("👌", En, Coming),
        ("✔️", Sv, Coming),
        ("✅ tack", Sv, Coming),
        ("Okay 👍", En, Coming),
        ("❌", Sv, Cannot(None)),
        ("👎", En, Cannot(None)),
        ("🤒", Sv, Cannot(None)),
        ("🤢", Sv, Cannot(None)),
        ("Sjuk 🤒", Sv, Cannot(Some("Sjuk 🤒"))),
        // Emoji mixed with a keyword follow the keyword.
        ("Kommer 👎", Sv, Unknown),
        ("ja ❌", Sv, Unknown),
        ("👎 kommer", Sv, Unknown),
        ("kommer 🤒", Sv, Unknown),
        ("kommer inte sent", Sv, Unknown),
        ("kommer inte för sent", Sv, Unknown),
        ("kommer inte, sjuk", Sv, Cannot(Some("sjuk"))),
        ("kommer kvart över", Sv, Unknown),
        ("kommer halv tre", Sv, Unknown),
        ("kommer en kvart sent", Sv, Late(Some(15))),
        ("Nej 👍", Sv, Cannot(None)),
        ("👍 kommer inte", Sv, Cannot(None)),
        ("Kommer 😊", Sv, Coming),
        // STOPP wins in a short message that opens with it.
        ("STOPP", Sv, Stop),
        ("stopp", Sv, Stop),
        ("stop!", En, Stop),
        ("STOP please", En, Stop),
        ("Stopp tack", Sv, Stop),
        ("Hej, stopp", Sv, Stop),
        ("STOPPA SMS", Sv, Stop),
        ("Sluta skicka", Sv, Stop),
        ("AVSLUTA", Sv, Stop),
        ("Avregistrera mig", Sv, Stop),
        ("unsubscribe", En, Stop),
        ("stopo", Sv, Stop),
        ("stop", Sv, Stop),
        ("STOPP STOPP STOPP STOPP", Sv, Stop),
        // ... and nowhere else.
        ("jag stoppar inte", Sv, Unknown),
        ("Jag stoppar inte mina tider", Sv, Unknown),
        ("Stoppa inte", Sv, Unknown),
        ("Stopp, kan inte komma", Sv, Unknown),
        ("Ja stopp", Sv, Unknown),
        // Commands.
        ("START", Sv, Start),
        ("start", En, Start),
        ("Starta igen", Sv, Start),
        ("HJÄLP", Sv, Help),
        ("hjalp", Sv, Help),
        ("Hjälp?", Sv, Help),
        ("HELP", En, Help),
        ("?", Sv, Help),
        ("??", En, Help),
        ("MINA TIDER", Sv, MyTimes),
        ("mina tider tack", Sv, MyTimes),
        ("Tider", Sv, MyTimes),
        ("När är min tid?", Sv, MyTimes),
        ("MY TIMES", En, MyTimes),
        ("times", En, MyTimes),
        ("MINA UPPGIFTER", Sv, MyData),
        ("my data", En, MyData),
        ("SPRÅK EN", Sv, Lang(En)),
        ("SPRAK ENGELSKA", Sv, Lang(En)),
        ("Språk: engelska", Sv, Lang(En)),
        ("Byt till engelska", Sv, Lang(En)),
        ("ENGLISH", Sv, Lang(En)),
        ("English please", Sv, Lang(En)),
        ("LANGUAGE SV", En, Lang(Sv)),
        ("LANGUAGE SWEDISH", En, Lang(Sv)),
        ("SVENSKA", En, Lang(Sv)),
        ("på svenska tack", En, Lang(Sv)),
        ("Sv", En, Unknown),
        // Which of two appointments.
        ("1", Sv, Choice(1)),
        ("2", Sv, Choice(2)),
        ("1.", Sv, Choice(1)),
        (" 2 ", En, Choice(2)),
        ("(2)", Sv, Choice(2)),
        ("nr 2", Sv, Choice(2)),
        ("2️⃣", Sv, Choice(2)),
        ("9", Sv, Choice(9)),
        ("0", Sv, Unknown),
        ("10", Sv, Unknown),
        ("1 2", Sv, Unknown),
        // Mixed signals: a person reads them.
        ("ja men kan inte", Sv, Unknown),
        ("Ja kommer inte", Sv, Unknown),
        ("Nej, jag kommer", Sv, Unknown),
        ("Kan inte komma idag men kommer på torsdag", Sv, Unknown),
        ("Yes but I can't", En, Unknown),
        ("👍👎", Sv, Unknown),
        ("Inte sjuk, kommer", Sv, Unknown),
        ("not sick anymore, coming", En, Unknown),
        // Doubt, conditions and lateness.
        ("kanske", Sv, Unknown),
        ("ja kanske", Sv, Unknown),
        ("vet inte", Sv, Unknown),
        ("Kommer nog", Sv, Unknown),
        ("Kommer om jag hinner", Sv, Unknown),
        ("Kommer men blir sen", Sv, Late(None)),
        ("Kommer lite sent", Sv, Late(None)),
        ("maybe", En, Unknown),
        ("I'm not sure", En, Unknown),
        ("Coming but a bit late", En, Late(None)),
        ("I'll be late", En, Late(None)),
        // Questions, requests for a person, greetings alone.
        ("vem är detta?", Sv, Unknown),
        ("Vad gäller det?", Sv, Unknown),
        ("Kommer?", Sv, Unknown),
        ("Nej, vem är detta?", Sv, Unknown),
        ("ring mig", Sv, Unknown),
        ("Kan du ringa mig?", Sv, Unknown),
        ("Nej det är fel nummer", Sv, Unknown),
        ("who is this?", En, Unknown),
        ("call me please", En, Unknown),
        ("hej", Sv, Unknown),
        ("Tack", Sv, Unknown),
        ("", Sv, Unknown),
        ("😊", Sv, Unknown),
        // Short words are never stretched into keywords.
        ("jo", Sv, Unknown),
        ("on", En, Unknown),
        ("kom", Sv, Unknown),
        // The keyword in another sense.
        ("Kan inte läsa meddelandet", Sv, Unknown),
        ("I can't read the message", En, Unknown),
        ("can't wait", En, Unknown),
        ("Kommer inte ihåg vilken tid", Sv, Unknown),
        ("Det kommer att bli svårt", Sv, Unknown),
        ("Jag är inte sjuk längre", Sv, Unknown),
        // Long free text, unless it opens with a notice of absence.
        (
            "Hej! Jag ville bara säga att jag kanske inte kan komma på tisdag eftersom bilen är trasig",
            Sv,
            Unknown,
        ),
        (
            "Jag ville bara säga att jag kommer på mötet imorgon som vanligt med min kompis och hans hund",
            Sv,
            Unknown,
        ),
        (
            "hej kommer inte kan inte sjuk idag ring mig snälla jag vet inte vad jag ska göra nu",
            Sv,
            Unknown,
        ),
        // The participant's language breaks a tie: "fast" is "but" in Swedish.
        ("Kommer fast", Sv, Unknown),
        ("Coming fast", En, Coming),
        // Issue 14: every negator of Swedish texting negates, wherever it
        // stands.
        ("kmr int", Sv, Cannot(None)),
        ("kommer int", Sv, Cannot(None)),
        ("Jag kmr int", Sv, Cannot(None)),
        ("kmr int ida", Sv, Cannot(Some("ida"))),
        ("kmr intä", Sv, Cannot(None)),
        ("kommer nt", Sv, Cannot(None)),
        ("kmr it", Sv, Cannot(None)),
        ("kmr ente", Sv, Cannot(None)),
        ("kommer änt", Sv, Cannot(None)),
        ("kommer inge", Sv, Cannot(None)),
        ("KMR INT", Sv, Cannot(None)),
        ("kommer icke", Sv, Cannot(None)),
        ("kommer aldrig", Sv, Cannot(None)),
        ("Kmr ej", Sv, Cannot(None)),
        ("kmr it idag", Sv, Cannot(None)),
        ("kan int", Sv, Cannot(None)),
        ("kan it komma", Sv, Cannot(None)),
        ("kan int komma", Sv, Cannot(None)),
        ("hinner int", Sv, Cannot(None)),
        ("jag kmr int idag, jobbar", Sv, Cannot(Some("jobbar"))),
        ("kmr inte", Sv, Cannot(None)),
        ("komer inte", Sv, Cannot(None)),
        ("kmmr int", Sv, Cannot(None)),
        ("kmer nt", Sv, Cannot(None)),
        ("int kommer jag", Sv, Cannot(None)),
        ("ja kmr int", Sv, Unknown),
        ("kommer, int", Sv, Unknown),
        ("kommer 👍 int", Sv, Unknown),
        ("inte kommer", Sv, Cannot(None)),
        ("aldrig i livet", Sv, Unknown),
        ("not coming", Sv, Cannot(None)),
        ("cant come", Sv, Cannot(None)),
        ("i wont come", En, Cannot(None)),
        ("dont think so", En, Unknown),
        ("coming not", En, Cannot(None)),
        ("yes not", En, Unknown),
        ("ja inte", Sv, Unknown),
        ("okej nt", Sv, Unknown),
        ("👍 nt", Sv, Unknown),
        ("it", Sv, Unknown),
        ("I'll make it", En, Coming),
        ("I'll make it", Sv, Coming),
        ("got it", En, Unknown),
        // Slang and typos of "kommer".
        ("kmr", Sv, Coming),
        ("kmmr", Sv, Coming),
        ("komer", Sv, Coming),
        ("kmer", Sv, Coming),
        ("KMR!!", Sv, Coming),
        ("kmr 👍", Sv, Coming),
        ("ja kmr", Sv, Coming),
        ("Ja jag kmr", Sv, Coming),
        ("kommmmer", Sv, Coming),
        ("Kommerr", Sv, Coming),
        ("kommer dit", Sv, Coming),
        ("japp kommer", Sv, Coming),
        ("jepps", Sv, Coming),
        ("k", Sv, Coming),
        ("kk", Sv, Coming),
        ("Ok 👍", Sv, Coming),
        ("👌🏼", Sv, Coming),
        ("✅✅", Sv, Coming),
        ("Ja tack, kommer", Sv, Coming),
        ("ja det gör jag", Sv, Coming),
        ("ingen fara, kommer", Sv, Coming),
        ("jadå", Sv, Coming),
        ("Kommer idag", Sv, Coming),
        ("Kommer imorgon", Sv, Coming),
        ("kmr imorn", Sv, Coming),
        ("kommer i morgon", Sv, Coming),
        ("Är på väg", Sv, Coming),
        ("yes kommer", Sv, Coming),
        ("omw", En, Coming),
        ("yep", En, Coming),
        ("Yes! 👍", En, Coming),
        ("sure thing", En, Coming),
        ("I'm coming tomorrow", En, Coming),
        ("Coming 🙏", En, Coming),
        ("Kommer 🙏", Sv, Coming),
        ("Kommer om 10 min", Sv, Coming),
        ("kommer snart", Sv, Coming),
        ("Kommer Ali", Sv, Coming),
        // A "kommer" that is a question in word order, or about someone
        // else.
        ("Kommer jag", Sv, Unknown),
        ("kommer jag att bli hämtad", Sv, Unknown),
        ("Kommer det ta lång tid", Sv, Unknown),
        ("kommer det", Sv, Unknown),
        ("Kommer det bli av", Sv, Unknown),
        ("Det kommer gå bra", Sv, Unknown),
        ("Kommer min lots", Sv, Unknown),
        ("Kommer polisen", Sv, Unknown),
        ("kommer vi ses", Sv, Unknown),
        ("Självklart kommer jag", Sv, Coming),
        ("Imorgon kommer jag", Sv, Coming),
        // Full-width and other Unicode forms read as what they look like.
        ("ＳＴＯＰＰ", Sv, Stop),
        ("ｓｔｏｐ", En, Stop),
        ("ＫＯＭＭＥＲ", Sv, Coming),
        ("ｋｍｒ ｉｎｔ", Sv, Cannot(None)),
        ("ＦÖＲＨＩＮＤＥＲ", Sv, Cannot(None)),
        ("Förhinder", Sv, Cannot(None)),
        ("Ｋｏｍｍｅｒ ｉｎｔｅ", Sv, Cannot(None)),
        ("ｙｅｓ", En, Coming),
        // Another day or time than asked: a question for a person (with no
        // appointment to check against, only "idag"/"imorgon" are taken).
        ("kommer på fredag", Sv, Unknown),
        ("kommer nästa vecka", Sv, Unknown),
        ("kommer i morgon istället", Sv, Unknown),
        ("Kommer imorgon istället", Sv, Unknown),
        ("kmr på måndag", Sv, Unknown),
        ("kommer på torsdag istället", Sv, Unknown),
        ("kan komma på onsdag", Sv, Unknown),
        ("Kommer kl 14", Sv, Unknown),
        ("kommer 15:30", Sv, Unknown),
        ("kommer den 12/12", Sv, Unknown),
        ("kommer en annan dag", Sv, Unknown),
        ("kommer senare", Sv, Unknown),
        ("kommer i övermorgon", Sv, Unknown),
        ("ja men kan vi boka om", Sv, Unknown),
        ("coming on friday", En, Unknown),
        ("I'll come next week", En, Unknown),
        ("coming tomorrow instead", En, Unknown),
        ("yes, at 3", En, Unknown),
        ("Vi ses på tisdag!", Sv, Unknown),
        // STOPP only alone or with words about the messages ...
        ("sluta skicka sms till mig", Sv, Stop),
        ("vill inte ha fler sms", Sv, Stop),
        ("nej tack, inga mer sms", Sv, Stop),
        ("ok stop", En, Stop),
        ("OK STOPP", Sv, Stop),
        ("stopp nu", Sv, Stop),
        ("STOPP!!!", Sv, Stop),
        ("stopp tack", Sv, Stop),
        ("Stoppa sms:en", Sv, Stop),
        ("Sluta skicka meddelanden", Sv, Stop),
        ("sluta smsa mig", Sv, Stop),
        ("Jag vill inte ha några fler sms", Sv, Stop),
        ("Inga fler påminnelser tack", Sv, Stop),
        ("Avsluta prenumerationen", Sv, Stop),
        ("Ta bort mig", Sv, Stop),
        ("ta bort mitt nummer", Sv, Stop),
        ("stop texting me", En, Stop),
        ("please stop sending me messages", En, Stop),
        ("no more texts", En, Stop),
        ("don't text me", En, Stop),
        ("I don't want any more messages", En, Stop),
        ("STOP ALL", En, Stop),
        ("unsub", En, Stop),
        ("remove me", En, Stop),
        ("Stopp. Jag vill inte ha sms längre", Sv, Stop),
        ("Stopp tack så mycket", Sv, Stop),
        ("stop it", En, Stop),
        ("Stop messaging me", En, Stop),
        ("avsluta tjänsten", Sv, Stop),
        ("sluta inte skicka sms, stoppa inte", Sv, Unknown),
        ("stopp inga sms om tiden", Sv, Unknown),
        // ... never with words about the meeting, a negation, a question.
        ("avsluta mötet", Sv, Unknown),
        ("avsluta tiden", Sv, Unknown),
        ("stop by", En, Unknown),
        ("stop by later", En, Unknown),
        ("Stopp jag kommer", Sv, Unknown),
        ("Stopp, jag kommer", Sv, Unknown),
        ("Stoppa tiden", Sv, Unknown),
        ("stoppa mötet imorgon", Sv, Unknown),
        ("Avsluta besöket", Sv, Unknown),
        ("sluta med träffen", Sv, Unknown),
        ("stop the meeting", En, Unknown),
        ("I'll stop by", En, Unknown),
        ("can I stop by later", En, Unknown),
        ("Stopp?", Sv, Unknown),
        ("vad betyder stopp", Sv, Unknown),
        ("sluta inte skicka sms", Sv, Unknown),
        ("stoppa inte sms", Sv, Unknown),
        ("jag vill sluta", Sv, Unknown),
        ("Jag har slutat röka", Sv, Unknown),
        ("Jag vill ha sms", Sv, Unknown),
        ("inga sms om mötet", Sv, Unknown),
        ("stopp Ali", Sv, Unknown),
        // Återbud and the other usual words for a cancellation.
        ("Återbud", Sv, Cannot(None)),
        ("återbud", Sv, Cannot(None)),
        ("Aterbud", Sv, Cannot(None)),
        ("lämna återbud", Sv, Cannot(None)),
        ("Jag lämnar återbud", Sv, Cannot(None)),
        ("Återbud, sjuk", Sv, Cannot(Some("sjuk"))),
        ("återbud pga jobb", Sv, Cannot(Some("pga jobb"))),
        ("Inte idag", Sv, Cannot(None)),
        ("inte idag tyvärr", Sv, Cannot(None)),
        ("Int idag", Sv, Cannot(None)),
        ("Inte imorgon", Sv, Cannot(None)),
        ("Not today", En, Cannot(None)),
        ("not today, sorry", En, Cannot(None)),
        ("not tomorrow", En, Cannot(None)),
        ("Inte idag, är sjuk", Sv, Cannot(Some("är sjuk"))),
        ("ok men jag är sjuk", Sv, Cannot(Some("jag är sjuk"))),
        ("ja tyvärr sjuk", Sv, Cannot(Some("sjuk"))),
        ("Ok, sjuk", Sv, Cannot(Some("sjuk"))),
        ("Okej men har feber", Sv, Cannot(Some("har feber"))),
        ("yes but I'm sick", En, Cannot(Some("I'm sick"))),
        ("ja men vabbar", Sv, Cannot(Some("vabbar"))),
        ("orkar inte", Sv, Cannot(None)),
        ("Kan inte, magsjuk", Sv, Cannot(Some("magsjuk"))),
        ("Har magont", Sv, Cannot(Some("Har magont"))),
        ("Kräks 🤢", Sv, Cannot(Some("Kräks 🤢"))),
        ("🤒🤒", Sv, Cannot(None)),
        ("❌ sjuk", Sv, Cannot(Some("sjuk"))),
        ("Nej, sjuk", Sv, Cannot(Some("sjuk"))),
        ("nope, flu", En, Cannot(Some("flu"))),
        (
            "Can't, doctor's appointment",
            En,
            Cannot(Some("doctor's appointment")),
        ),
        (
            "Hej! Jag kan tyvärr inte komma imorgon eftersom min dotter är sjuk och jag måste vara hemma med henne",
            Sv,
            Cannot(Some(
                "eftersom min dotter är sjuk och jag måste vara hemma med henne",
            )),
        ),
        (
            "Förhinder. Har en tid på arbetsförmedlingen samtidigt, kan vi ta en annan dag?",
            Sv,
            Cannot(Some(
                "Har en tid på arbetsförmedlingen samtidigt, kan vi ta en annan dag?",
            )),
        ),
        // Coming, late: with the minutes when given.
        ("kommer lite sent", Sv, Late(None)),
        ("Jag kommer 10 min sent", Sv, Late(Some(10))),
        ("ja men jag blir sen", Sv, Late(None)),
        ("yes but late", En, Late(None)),
        ("försenad 15 min", Sv, Late(Some(15))),
        ("Försenad", Sv, Late(None)),
        ("blir sen", Sv, Late(None)),
        ("Blir lite sen", Sv, Late(None)),
        ("kmr 5 min sent", Sv, Late(Some(5))),
        ("kommer 10min sent", Sv, Late(Some(10))),
        ("Kommer men blir 20 minuter sen", Sv, Late(Some(20))),
        ("kommer en kvart sent", Sv, Late(Some(15))),
        ("blir en halvtimme sen", Sv, Late(Some(30))),
        ("sorry blir typ 20 min sen", Sv, Late(Some(20))),
        ("Kommer, men blir sen 👍", Sv, Late(None)),
        ("Ja! Lite försenad bara", Sv, Late(None)),
        ("bussen är försenad, kommer 10 min sent", Sv, Late(Some(10))),
        ("kommer sent idag", Sv, Late(None)),
        ("running late", En, Late(None)),
        ("I'm running 10 mins late", En, Late(Some(10))),
        ("coming, 5 min late", En, Late(Some(5))),
        ("I'll be a bit late", En, Late(None)),
        ("yes but 15 minutes late", En, Late(Some(15))),
        ("Delayed 10 min", En, Late(Some(10))),
        ("blir sen, kanske inte kommer", Sv, Unknown),
        ("kanske lite sen", Sv, Unknown),
        ("blir sen?", Sv, Unknown),
        ("sjuk, blir sen", Sv, Unknown),
        ("Sen", Sv, Unknown),
        ("late", En, Unknown),
        ("kommer sent på fredag", Sv, Unknown),
        // A range: the most it will be.
        ("kommer 10-15 min sent", Sv, Late(Some(15))),
        ("Ses sen", Sv, Coming),
        // Not on time is late, not a "förhinder".
        ("kommer inte i tid", Sv, Late(None)),
        ("hinner inte i tid", Sv, Late(None)),
        ("kommer inte hinna i tid, 10 min sen", Sv, Late(Some(10))),
        ("I won't be on time", En, Late(None)),
        ("kommer inte i tid, kommer inte alls", Sv, Unknown),
        // Questions: nobody promised anything.
        ("kommer ni?", Sv, Unknown),
        ("kommer ni", Sv, Unknown),
        ("Kommer du", Sv, Unknown),
        ("ska jag komma?", Sv, Unknown),
        ("ska jag komma", Sv, Unknown),
        ("Måste jag komma", Sv, Unknown),
        ("vilken tid?", Sv, Unknown),
        ("vilken tid", Sv, Unknown),
        ("Var är det?", Sv, Unknown),
        ("var ska jag vara", Sv, Unknown),
        ("När?", Sv, Unknown),
        ("do I need to come", En, Unknown),
        ("should I come", En, Unknown),
        ("are you coming?", En, Unknown),
        ("what time", En, Unknown),
        ("Kommer ni ihåg mig", Sv, Unknown),
        // Conditions and doubt: a person.
        ("kommer om jag hinner", Sv, Unknown),
        ("kanske", Sv, Unknown),
        ("kmr kanske", Sv, Unknown),
        ("Kansk", Sv, Unknown),
        ("ja om bussen går", Sv, Unknown),
        ("Kommer om jag inte är sjuk", Sv, Unknown),
        ("ska försöka", Sv, Unknown),
        ("försöker komma", Sv, Unknown),
        ("borde gå", Sv, Unknown),
        ("tror det", Sv, Unknown),
        ("ja typ kanske", Sv, Unknown),
        ("återkommer", Sv, Unknown),
        ("hör av mig", Sv, Unknown),
        ("I'll try", En, Unknown),
        ("if I can", En, Unknown),
        ("probably", En, Unknown),
        ("prolly", En, Unknown),
        ("hopefully", En, Unknown),
        ("yes if the bus runs", En, Unknown),
        ("i think so", En, Unknown),
        ("🤷", Sv, Unknown),
        ("👍🤔", Sv, Unknown),
        // Sarcasm-ish and ambiguous.
        ("ja ja", Sv, Unknown),
        ("jaja", Sv, Unknown),
        ("yeah right", En, Unknown),
        ("ja visst 🙄", Sv, Unknown),
        ("haha ja", Sv, Unknown),
        ("kommer lol", Sv, Unknown),
        ("whatever", En, Unknown),
        ("orka", Sv, Unknown),
        ("skämtar du", Sv, Unknown),
        ("🙏", Sv, Unknown),
        ("ok?", Sv, Unknown),
        ("va", Sv, Unknown),
        ("hmm", Sv, Unknown),
        ("Tack för påminnelsen", Sv, Unknown),
        ("Thanks for the reminder", En, Unknown),
        ("Vem är det som skriver?", Sv, Unknown),
        ("kommer med min son", Sv, Coming),
        ("Ja och nej", Sv, Unknown),
        ("kommer ej? jo kommer", Sv, Unknown),
        // Long sentences with a reason.
        (
            "Jag kommer inte kunna komma på mötet imorgon för jag har fått jobb, ring mig",
            Sv,
            Cannot(Some("för jag har fått jobb, ring mig")),
        ),
        (
            "Hej, jag är tyvärr sjuk idag och kan inte komma på mötet, hör av mig när jag mår bättre",
            Sv,
            Unknown,
        ),
        (
            "Kan inte komma idag, min mamma ligger på sjukhuset och jag måste vara där",
            Sv,
            Cannot(Some("min mamma ligger på sjukhuset och jag måste vara där")),
        ),
        (
            "Sorry I can't make it today, my daughter is sick and I have to stay home with her",
            En,
            Cannot(Some("my daughter is sick and I have to stay home with her")),
        ),
        (
            "Jag kommer men blir lite sen eftersom bussen är inställd och jag måste gå hela vägen",
            Sv,
            Unknown,
        ),
    ];

    #[test]
    fn every_reply_in_the_table_means_what_the_participant_meant() {
        let mut wrong = Vec::new();
        for &(text, lang, want) in REPLIES {
            let got = parse(text, lang);
            if got != want.intent() {
                wrong.push(format!(
                    "{text:?} ({lang}): got {got:?}, want {:?}",
                    want.intent()
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} replies misread:\n{}",
            wrong.len(),
            REPLIES.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn the_json_names_the_intent_and_leaves_out_a_missing_reason() {
        let json = |i: Intent| serde_json::to_string(&i).unwrap();
        let sick = Intent::Cannot {
            reason: Some("sjuk".into()),
        };
        assert_eq!(json(sick), r#"{"intent":"cannot","reason":"sjuk"}"#);
        assert_eq!(
            json(Intent::Cannot { reason: None }),
            r#"{"intent":"cannot"}"#
        );
        assert_eq!(json(Intent::MyTimes), r#"{"intent":"my_times"}"#);
        assert_eq!(json(Intent::MyData), r#"{"intent":"my_data"}"#);
        assert_eq!(json(Intent::Coming), r#"{"intent":"coming"}"#);
        assert_eq!(json(Intent::Unknown), r#"{"intent":"unknown"}"#);
        let english = Intent::Language { language: En };
        assert_eq!(json(english), r#"{"intent":"language","language":"en"}"#);
        assert_eq!(
            json(Intent::Choice { n: 2 }),
            r#"{"intent":"choice","n":2}"#
        );
    }

    #[test]
    fn a_long_reason_is_cut_at_200_characters() {
        let story = format!("Förhinder, {}", "lång förklaring ".repeat(40));
        let Intent::Cannot {
            reason: Some(reason),
        } = parse(&story, Sv)
        else {
            panic!("not a notice of absence: {story}");
        };
        assert!(reason.starts_with("lång förklaring"));
        assert!(reason.chars().count() <= MAX_REASON_CHARS);
        assert!(reason.chars().count() > MAX_REASON_CHARS - 20);
    }

    #[test]
    fn no_phrase_means_two_things_in_one_language() {
        let lexicon = &*COMPILED;
        for (i, a) in lexicon.entries.iter().enumerate() {
            for b in &lexicon.entries[i + 1..] {
                let same_words = a
                    .words
                    .iter()
                    .map(|w| &w.norm)
                    .eq(b.words.iter().map(|w| &w.norm));
                let same_language = a.lang.is_none() || b.lang.is_none() || a.lang == b.lang;
                assert!(
                    !(same_words && same_language && a.kind != b.kind),
                    "{:?} is both {:?} and {:?}",
                    a.words.iter().map(|w| &w.norm).collect::<Vec<_>>(),
                    a.kind,
                    b.kind
                );
            }
        }
    }

    #[test]
    fn no_typo_is_one_letter_from_two_keywords_that_mean_different_things() {
        let lexicon = &*COMPILED;
        let typo_words: Vec<(&LexWord, Kind)> = lexicon
            .entries
            .iter()
            .filter(|e| e.typos)
            .flat_map(|e| {
                e.words
                    .iter()
                    .filter(|w| w.chars >= MIN_TYPO_CHARS)
                    .map(move |w| (w, e.kind))
            })
            .collect();
        for (i, (a, kind_a)) in typo_words.iter().enumerate() {
            for (b, kind_b) in &typo_words[i + 1..] {
                if kind_a != kind_b {
                    let d = strsim::damerau_levenshtein(&a.norm, &b.norm);
                    assert!(
                        d > 2,
                        "{} ({kind_a:?}) and {} ({kind_b:?}) are {d} apart",
                        a.norm,
                        b.norm
                    );
                }
            }
        }
    }

    /// Words of a yes, a late yes, and what goes with them.
    const YES_PIECES: &[&str] = &[
        "kommer",
        "i",
        "tid",
        "on",
        "time",
        "hinner",
        "fram",
        "kmr",
        "komer",
        "ja",
        "ok",
        "japp",
        "yes",
        "coming",
        "I'll",
        "be",
        "there",
        "👍",
        "✅",
        "vi",
        "ses",
        "på",
        "väg",
        "idag",
        "imorgon",
        "tack",
        "jag",
        "lite",
        "sent",
        "blir",
        "sen",
        "försenad",
        "10",
        "min",
        "absolut",
        "självklart",
        "sure",
        "see",
        "you",
        "make",
        "it",
        "hej",
        "!",
        ",",
        ".",
        "kl",
        "dit",
        "no",
        "problem",
        "inga",
        "problem",
    ];

    /// Every negator the law is about ("it" has its own property).
    const NEGATORS: &[&str] = &[
        "inte", "int", "nt", "it's not", "ente", "änt", "inge", "intä", "icke", "ej", "aldrig",
        "not", "cant", "can't", "won't", "wont", "don't", "dont", "never", "cannot", "isn't",
        "inteee", "INT", "Änt",
    ];

    /// Words that may stand with a stop word.
    const STOP_FRIENDLY: &[&str] = &[
        "tack",
        "sms",
        "nu",
        "mig",
        "meddelanden",
        "please",
        "ok",
        "hej",
        "skicka",
        "till",
        "inga",
        "mer",
        "fler",
        "no",
        "more",
        "texts",
        "jag",
        "vill",
        "!",
        ",",
    ];

    const ASCII_PIECES: &[&str] = &[
        "kommer",
        "kmr",
        "int",
        "inte",
        "stopp",
        "stop",
        "forhinder",
        "ja",
        "nej",
        "ok",
        "sjuk",
        "tack",
        "sms",
        "yes",
        "not",
        "coming",
        "10",
        "min",
        "sent",
        "idag",
        "kan",
        "komma",
        "aterbud",
        "late",
        "?",
        "!",
    ];

    fn arb_lang() -> impl Strategy<Value = Language> {
        prop_oneof![Just(Sv), Just(En)]
    }

    /// Pieces of real replies, glued with arbitrary characters, so the
    /// deeper rules run and not only the tokeniser.
    const PIECES: &[&str] = &[
        "kommer",
        "inte",
        "not",
        "förhinder",
        "kan",
        "ej",
        "komma",
        "ja",
        "nej",
        "sjuk",
        "men",
        "ok",
        "coming",
        "can't",
        "stopp",
        "språk",
        "en",
        "tack",
        "hej",
        "om",
        "10",
        "1",
        "kanske",
        "mina",
        "tider",
        "idag",
        "👍",
        "👍🏽",
        "❌",
        "✔️",
        ",",
        " ",
        " ",
        "?",
        "'",
        "’",
        "-",
        "(",
        ")",
        "\n",
        "\u{308}",
        "\u{fe0f}",
        "I'll",
        "be",
        "there",
    ];

    fn arb_reply() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => proptest::sample::select(PIECES).prop_map(String::from),
            1 => any::<char>().prop_map(String::from),
        ];
        prop_oneof![
            proptest::collection::vec(any::<char>(), 0..5000).prop_map(String::from_iter),
            proptest::collection::vec(piece, 0..1500).prop_map(|v| v.concat()),
        ]
    }

    /// A few real words, or anything at all.
    fn arb_words() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(proptest::sample::select(PIECES), 0..6)
                .prop_map(|v| v.join(" ")),
            "\\PC{0,30}",
        ]
    }

    fn with_case(word: &str, upper: &[bool]) -> String {
        let flips = upper.iter().cycle();
        word.chars()
            .zip(flips)
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Also the fuzz target's check, for machines without cargo-fuzz:
        /// any text, up to 5,000 characters, is read without a panic, the
        /// same way twice, and a reason is always a non-empty piece of what
        /// the participant wrote, at most 200 characters long.
        #[test]
        fn any_text_at_all_is_read_without_panicking(text in arb_reply(), lang in arb_lang()) {
            let intent = parse(&text, lang);
            if let Intent::Cannot { reason: Some(reason) } = &intent {
                prop_assert!(reason.chars().count() <= MAX_REASON_CHARS);
                prop_assert!(reason.chars().any(char::is_alphanumeric));
                prop_assert!(text.contains(reason.as_str()));
            }
            prop_assert_eq!(parse(&text, lang), intent);
        }

        /// (With a question mark it is a question for a person: "Stopp?".)
        #[test]
        fn a_stop_word_alone_always_stops_whatever_its_case_and_punctuation(
            word in proptest::sample::select(&["stopp", "stop", "stoppa", "avsluta", "avregistrera", "unsubscribe", "sluta"][..]),
            upper in proptest::collection::vec(any::<bool>(), 12),
            before in "[ \t\n.,!\"'()*-]{0,4}",
            after in "[ \t\n.,!\"'()*-]{0,4}",
            lang in arb_lang(),
        ) {
            let text = format!("{before}{}{after}", with_case(word, &upper));
            prop_assert_eq!(parse(&text, lang), Intent::Stop, "{:?}", text);
        }

        #[test]
        fn kommer_or_coming_followed_by_inte_or_not_is_never_coming(
            before in arb_words(),
            verb in proptest::sample::select(&["kommer", "coming", "komer", "kommmer", "comming"][..]),
            not in proptest::sample::select(&["inte", "not", "ej"][..]),
            upper in proptest::collection::vec(any::<bool>(), 12),
            separator in proptest::sample::select(&["", " ", ", ", ". ", "! ", "\n", " - ", " 👍 "][..]),
            after in arb_words(),
            lang in arb_lang(),
        ) {
            let after = if separator.is_empty() { String::new() } else { after };
            let text = format!("{before} {} {}{separator}{after}", with_case(verb, &upper), with_case(not, &upper[3..]));
            prop_assert_ne!(parse(&text, lang), Intent::Coming, "{:?}", text);
        }

        /// Issue 14's law: a negator added anywhere to a text never makes it
        /// a yes: never coming, and coming late only when what it negates is
        /// being on time ("kommer inte i tid").
        #[test]
        fn adding_a_negator_anywhere_never_yields_coming(
            words in proptest::collection::vec(proptest::sample::select(YES_PIECES), 1..7),
            negator in proptest::sample::select(NEGATORS),
            at in any::<proptest::sample::Index>(),
            upper in proptest::collection::vec(any::<bool>(), 12),
            lang in arb_lang(),
        ) {
            let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            let k = at.index(words.len() + 1);
            words.insert(k, with_case(negator, &upper));
            let text = words.join(" ");
            let got = parse(&text, lang);
            let lower = text.to_lowercase();
            let on_time = lower.contains("i tid") || lower.contains("on time");
            prop_assert_ne!(&got, &Intent::Coming, "{:?}", text);
            prop_assert!(on_time || !matches!(got, Intent::Late { .. }), "{:?} → {:?}", text, got);
        }

        /// "kmr it", "kan it": "it" after a Swedish verb is "inte".
        #[test]
        fn it_after_a_swedish_verb_never_yields_coming(
            verb in proptest::sample::select(&["kmr", "kommer", "komer", "kmer", "kan", "hinner"][..]),
            before in proptest::sample::select(&["", "jag", "ja", "ok", "hej"][..]),
            after in proptest::sample::select(&["", "idag", "imorgon", "komma", "👍", "tack"][..]),
            lang in arb_lang(),
        ) {
            let text = format!("{before} {verb} it {after}");
            prop_assert!(!matches!(parse(&text, lang), Intent::Coming | Intent::Late { .. }), "{:?}", text);
        }

        /// Issue 14's other law: no text that mentions the meeting with a
        /// stop word opts anyone out, whatever else it says.
        #[test]
        fn a_stop_word_with_a_word_about_the_meeting_never_stops(
            stop_word in proptest::sample::select(&["stopp", "STOP", "stoppa", "sluta", "avsluta", "avregistrera", "unsubscribe", "ＳＴＯＰＰ"][..]),
            meeting in proptest::sample::select(&["möte", "mötet", "tid", "tiden", "träff", "träffen", "besök", "besöket", "Mötet", "TIDEN", "meeting", "appointment", "by", "later", "jag kommer", "kommer"][..]),
            others in proptest::collection::vec(proptest::sample::select(STOP_FRIENDLY), 0..5),
            at in any::<proptest::sample::Index>(),
            at2 in any::<proptest::sample::Index>(),
            lang in arb_lang(),
        ) {
            let mut words: Vec<&str> = others.clone();
            words.insert(at.index(words.len() + 1), stop_word);
            words.insert(at2.index(words.len() + 1), meeting);
            let text = words.join(" ");
            prop_assert_ne!(parse(&text, lang), Intent::Stop, "{:?}", text);
        }

        /// Any number of minutes a participant says they will be late is
        /// kept, however the sentence goes.
        #[test]
        fn the_minutes_of_a_lateness_are_kept(
            n in 1u16..=240,
            form in proptest::sample::select(&[
                "kommer {} min sent", "Jag kommer {} minuter sent", "försenad {} min",
                "blir {} min sen", "ja men {}min sen", "running {} mins late", "coming, {} min late",
            ][..]),
            lang in arb_lang(),
        ) {
            let text = form.replace("{}", &n.to_string());
            prop_assert_eq!(parse(&text, lang), Intent::Late { minutes: Some(n) }, "{:?}", text);
        }

        /// Full-width letters (a phone's CJK keyboard, a copied text) mean
        /// what the ASCII letters mean.
        #[test]
        fn full_width_letters_read_like_ascii(
            words in proptest::collection::vec(proptest::sample::select(ASCII_PIECES), 1..5),
            lang in arb_lang(),
        ) {
            let text = words.join(" ");
            let wide: String = text
                .chars()
                .map(|c| if c.is_ascii_graphic() { char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap() } else { c })
                .collect();
            let strip = |i: Intent| match i {
                Intent::Cannot { .. } => Intent::Cannot { reason: None },
                other => other,
            };
            prop_assert_eq!(strip(parse(&wide, lang)), strip(parse(&text, lang)), "{:?}", wide);
        }
    }
}
