//! What a participant's reply means.
//!
//! Participants answer reminders from their own phones, in every spelling
//! people really type: "KOMMER", "komer", "forhinder", "👍🏽", "can't,
//! doctor's appointment". [`parse`] turns one such text into an [`Intent`].
//!
//! One rule shapes everything here: a reply that is not clearly understood
//! is [`Intent::Unknown`], and a person reads it (DOMAIN.md: "Anything not
//! understood goes to a person, never into a silent bin"). A wrong "kommer"
//! hides an absence from the lots; a wrong "förhinder" or STOPP acts on the
//! participant's behalf. So the parser would rather say Unknown than guess:
//!
//! * mixed signals ("ja men kan inte"), doubt ("kanske", "vet inte"), lateness
//!   ("blir sen"), questions and requests for a person ("ring mig") are
//!   Unknown;
//! * any negation ("inte", "not", "won't") anywhere rules out
//!   [`Intent::Coming`];
//! * a message of more than 12 words is Unknown, unless it opens with a clear
//!   notice of absence ("förhinder, ..."), which is kept with its reason;
//! * STOPP only opts out when it opens a message of at most three words, so
//!   "jag stoppar inte..." opts nobody out.
//!
//! The pipeline, each step a small function:
//!
//! 1. `tokenise`: words with their place in the original text, lower-cased
//!    and folded (å/ä/ö → a/a/o, apostrophes dropped) for matching only; the
//!    original is kept so a reason reads as the participant wrote it;
//! 2. `match_units`: the words are matched against a small lexicon of
//!    phrases, longest first, allowing one typo in keywords of five letters
//!    or more and any number of repeated letters ("kommmer", "jaaa");
//! 3. `resolve`: negation ("kommer inte", "not coming") and "kan inte
//!    komma" are worked out between neighbouring words;
//! 4. the rules, in order: a lone "?", a choice digit, STOPP, the other
//!    commands, a notice of absence with its reason, and last a short answer.

use crate::domain::Language;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::LazyLock;

/// What a reply asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// "kommer": a promise to come, not attendance.
    Coming,
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
pub fn parse(text: &str, lang: Language) -> Intent {
    let msg = Message::read(text, lang);
    only_question_marks(&msg)
        .or_else(|| choice(&msg))
        .or_else(|| stop(&msg))
        .or_else(|| command(&msg))
        .or_else(|| language_switch(&msg))
        .or_else(|| notice_of_absence(&msg))
        .unwrap_or_else(|| short_answer(&msg))
}

/// Longer messages are read by a person, unless they open with a notice of
/// absence: people write long texts when something is wrong.
const MAX_WORDS: usize = 12;
/// "STOPP", "stopp tack", "avregistrera mig nu": a longer message that starts
/// with a stop word is a sentence about something else.
const MAX_STOP_WORDS: usize = 3;
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

/// STOPP wins at once and always in a short message that opens with a stop
/// word ("STOPP", "stop!", "Stopp tack", "Hej, avsluta"), or in one that
/// says nothing else ("STOPP STOPP STOPP STOPP"). It does not in a sentence
/// ("jag stoppar inte...") or when the message negates it ("stoppa inte"):
/// those go to a person, who can still opt the participant out.
fn stop(msg: &Message) -> Option<Intent> {
    let first_unit = msg.units.iter().position(|u| u.kind != Kind::Polite)?;
    let words = &msg.tokens[msg.units[first_unit].first..];
    let [first, rest @ ..] = words else {
        return None;
    };
    let short = words.len() <= MAX_STOP_WORDS || rest.iter().all(is_stop_word);
    let negated = rest.iter().any(Token::is_negator);
    (short && !negated && is_stop_word(first)).then_some(Intent::Stop)
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
        let run_on = msg.tokens.len() > MAX_WORDS && tail.first().is_some_and(|u| !u.break_before);
        if changes_mind || run_on {
            return None;
        }
    }
    Some(Intent::Cannot {
        reason: msg.reason_after(end),
    })
}

/// Everything else: a short reply that says yes or no and nothing that
/// makes it doubtful. Emoji only count when no word says yes or no, so
/// "kommer inte 👍" is a no.
fn short_answer(msg: &Message) -> Intent {
    if msg.tokens.len() > MAX_WORDS || msg.asks() || msg.has(Kind::Unsure) {
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
    }
    match (yes, no) {
        (true, false) if !msg.negated() && msg.unknown_words() <= MAX_UNKNOWN_WORDS_IN_YES => {
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
}

impl<'a> Message<'a> {
    fn read(text: &'a str, lang: Language) -> Self {
        let tokens = tokenise(text);
        let mut units = match_units(&tokens, lang);
        resolve(&mut units);
        Message {
            text,
            tokens,
            units,
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

    /// "inte", "not", "won't", "can't" anywhere. Checked on the words, not on
    /// what the lexicon made of them, so no phrase can hide a negation from
    /// the rule that a negated message is never Coming.
    fn negated(&self) -> bool {
        self.tokens.iter().any(Token::is_negator)
    }

    fn unknown_words(&self) -> usize {
        self.units.iter().filter(|u| u.kind == Kind::Word).count()
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
    /// Where the word ends in the original text (a byte offset): the reason
    /// is cut from here.
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
        tokens.push(Token {
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

/// Lower case, accents off, apostrophes out. Only for matching.
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase) {
        if is_apostrophe(c) || is_combining_mark(c) {
            continue;
        }
        out.push(match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'æ' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'ē' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
            'ý' | 'ÿ' => 'y',
            other => other,
        });
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
    ('\u{300}'..='\u{36f}').contains(&c)
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
         toppen, perfekt, kanon, på väg",
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
         cool, alright, all right",
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
        "kmr, komma, närvara, vara där, vara på plats, är där, hinner, dyker upp",
    ),
    typos(Kind::Come, EN, "coming"),
    exact(
        Kind::Come,
        EN,
        "come, be there, make it, able to come, able to make it, be able to come, \
         be able to make it, attend, attending, show up",
    ),
    // The formal notice of absence.
    typos(
        FORMAL,
        SV,
        "förhinder, förhindrad, förhindrat, frånvaro, frånvarande",
    ),
    // "hinder" is "förhinder" missing a syllable; never a typo of "hinner".
    exact(FORMAL, SV, "hinder"),
    typos(FORMAL, EN, "absent"),
    // A refusal in so many words.
    exact(
        PLAIN,
        SV,
        "avboka, avbokar, avbokning, ställa in, ställer in",
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
         har ej möjlighet, har inte tid, går inte, går ej, funkar inte, passar inte, passar ej",
    ),
    exact(
        Kind::Modal,
        EN,
        "can't, cannot, can not, unable, not able, won't be able, will not be able, \
         don't have time, do not have time",
    ),
    // Being ill, or a sick child, is a reason and a no.
    exact(
        Kind::Sick,
        SV,
        "sjuk, sjuka, sjukt barn, sjuka barn, barnet är sjukt, feber, vab, vabb, vabbar, \
         mår dåligt, mår inte bra, mår illa, covid, corona, migrän, magsjuk",
    ),
    typos(
        Kind::Sick,
        SV,
        "förkyld, sjukskriven, sjukdom, magsjuka, influensa, krasslig, sjukhuset, akuten",
    ),
    exact(
        Kind::Sick,
        EN,
        "sick, fever, flu, i'm ill, i am ill, am ill, feeling ill, feel ill, not well, \
         not feeling well, unwell, illness",
    ),
    typos(Kind::Sick, EN, "hospital"),
    // Negation: "kommer inte", "not coming".
    exact(Kind::Negator, SV, "inte, ej, icke, aldrig"),
    exact(
        Kind::Negator,
        EN,
        "not, never, won't, don't, do not, didn't, isn't, ain't",
    ),
    // Doubt.
    exact(
        Kind::Unsure,
        SV,
        "nog, tror, vet inte, vet ej, får se, vi får se, beror på, ingen aning",
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
         trying, depends, no idea",
    ),
    typos(
        Kind::Unsure,
        EN,
        "maybe, perhaps, possibly, probably, hopefully, unsure",
    ),
    // A contrast: "ja men ...", "kommer fast ...".
    exact(Kind::Unsure, SV, "men, fast, utom, förutom, dock"),
    exact(Kind::Unsure, EN, "but, although, though, except, however"),
    // Lateness: the lots wants to know, so a person reads it.
    exact(
        Kind::Unsure,
        SV,
        "sen, sent, senare, försenad, försenat, sena",
    ),
    exact(Kind::Unsure, EN, "late, later, delayed"),
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
         avsluta, avregistrera",
    ),
    exact(
        Kind::Unsure,
        EN,
        "call, call me, wrong number, talk, help, stop, unsubscribe",
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
         kl, klockan, till, på, nu",
    ),
    exact(
        Kind::Occasion,
        EN,
        "today, tomorrow, tonight, this time, monday, tuesday, wednesday, thursday, friday, \
         saturday, sunday, next week, there, then, the meeting, meeting, appointment, \
         the appointment, at, to, on, now",
    ),
    // Small words.
    exact(
        Kind::Filler,
        SV,
        "jag, du, vi, ni, han, hon, det, den, de, att, och, i, är, var, har, hade, ska, skall, \
         kan, vill, blir, bli, så, där, här, min, mitt, mina, mig, dig, oss, med, för, av, en, \
         ett, också, även, lite, bara, giltigt, kommer att, som, vara",
    ),
    exact(
        Kind::Filler,
        EN,
        "i, i'm, i'll, i've, i'd, me, my, you, we, it, it's, the, a, an, and, will, can, shall, \
         be, am, is, are, do, have, here, just, also, for, with, of, as, so, that, fast, sent",
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
    "stopall", "optout",
];
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
        units.push(Unit {
            kind,
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
                _ => {}
            }
        }
    }
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

    use W::{Cannot, Choice, Coming, Help, Lang, MyData, MyTimes, Start, Stop, Unknown};

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
        ("Vi ses på tisdag!", Sv, Coming),
        ("Bekräftar", Sv, Coming),
        ("På väg", Sv, Coming),
        ("Jag hinner", Sv, Coming),
        ("kmr", Sv, Coming),
        ("Jag kommer att vara där", Sv, Coming),
        // A yes with a few harmless words: a time, a name, thanks.
        ("Kommer kl 10", Sv, Coming),
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
        ("I will be there at 10", En, Coming),
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
        ("Kommer 👎", Sv, Coming),
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
        ("Kommer men blir sen", Sv, Unknown),
        ("Kommer lite sent", Sv, Unknown),
        ("maybe", En, Unknown),
        ("I'm not sure", En, Unknown),
        ("Coming but a bit late", En, Unknown),
        ("I'll be late", En, Unknown),
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

        #[test]
        fn a_stop_word_alone_always_stops_whatever_its_case_and_punctuation(
            word in proptest::sample::select(&["stopp", "stop", "stoppa", "avsluta", "avregistrera", "unsubscribe", "sluta"][..]),
            upper in proptest::collection::vec(any::<bool>(), 12),
            before in "[ \t\n.,!?\"'()*-]{0,4}",
            after in "[ \t\n.,!?\"'()*-]{0,4}",
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
    }
}
