//! GSM-7 for SMS: which characters fit the 7-bit alphabet, how many parts a
//! text costs, and replacing typographic characters that would silently
//! switch a message to UCS-2 (70 characters a part instead of 160).
//!
//! Written here rather than taken from a crate: the `gsm7` crate packs
//! septets but neither counts parts nor tells basic from extension
//! characters, which is what billing depends on.

use serde::Serialize;

/// GSM 03.38 basic character set (one septet each).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (escape + character: two septets each).
const EXTENSION: &str = "^{}\\[~]|€\u{0C}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

/// How a text will travel: encoding, length in that encoding's units, parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub parts: usize,
}

/// Septets a character costs in GSM-7, or `None` if it is not in it.
fn septets(c: char) -> Option<usize> {
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts encoding and parts: GSM-7 160 septets in one part, 153 per part
/// when split; UCS-2 70 / 67.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<usize> = text.chars().map(septets).sum();
    let (encoding, units, single, multi) = match gsm {
        Some(n) => (Encoding::Gsm7, n, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let parts = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    Segments {
        encoding,
        units,
        parts,
    }
}

/// Replaces typographic characters with plain ones that GSM-7 has, and
/// drops invisible ones (Unicode isolation marks, zero-width spaces).
/// Emoji and letters outside GSM-7 are left alone: they are the sender's
/// choice, and `segments` reports what they cost.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' | '\u{00B4}' | '`' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' | '\u{2033}' => {
                out.push('"')
            }
            '\u{2013}' | '\u{2014}' | '\u{2012}' | '\u{2010}' | '\u{2011}' | '\u{2212}' => {
                out.push('-')
            }
            '\u{2026}' => out.push_str("..."),
            '\u{00A0}' | '\u{2007}' | '\u{202F}' | '\u{2009}' | '\u{200A}' | '\t' => out.push(' '),
            '\u{200B}'
            | '\u{200C}'
            | '\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
            | '\u{2066}'..='\u{2069}' => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn swedish_stays_gsm7_in_one_part_up_to_160_characters() {
        let base = "Hej Åsa! Påminnelse: du har en tid imorgon tisdag 10 december kl. 09:00. Svara KOMMER eller FÖRHINDER. ";
        let mut t = base.repeat(2);
        t.truncate(t.char_indices().nth(160).map_or(t.len(), |(i, _)| i));
        assert_eq!(t.chars().count(), 160);
        assert_eq!(
            segments(&t),
            Segments {
                encoding: Encoding::Gsm7,
                units: 160,
                parts: 1
            }
        );
        let t161 = format!("{t}x");
        assert_eq!(segments(&t161).parts, 2);
        assert_eq!(segments(&"a".repeat(306)).parts, 2);
        assert_eq!(segments(&"a".repeat(307)).parts, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        assert_eq!(segments("€").units, 2);
        assert_eq!(segments(&"{".repeat(80)).parts, 1);
        assert_eq!(segments(&"{".repeat(81)).parts, 2);
    }

    #[test]
    fn a_curly_quote_is_replaced_and_the_text_stays_gsm7() {
        let staff = "Kontoret är stängt idag \u{2013} vi ses \u{201C}som vanligt\u{201D} imorgon, det är Kim\u{2019}s tur\u{2026}";
        assert_eq!(segments(staff).encoding, Encoding::Ucs2);
        let clean = sanitize(staff);
        assert_eq!(
            clean,
            "Kontoret är stängt idag - vi ses \"som vanligt\" imorgon, det är Kim's tur..."
        );
        assert_eq!(segments(&clean).encoding, Encoding::Gsm7);
        assert_eq!(sanitize("a\u{2068}Ali\u{2069} b\u{00A0}c"), "aAli b c");
    }

    #[test]
    fn an_emoji_makes_it_ucs2_and_the_part_count_says_so() {
        let text = format!("{} 👍", "Gruppträffen flyttas till 14:00 idag.".repeat(2));
        let s = segments(&sanitize(&text));
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(s.units, text.encode_utf16().count());
        assert_eq!(s.parts, 2, "{} UTF-16 units", s.units);
        assert_eq!(segments(&text.replace(" 👍", "")).parts, 1);
    }

    proptest! {
        #[test]
        fn sanitizing_is_idempotent(s in "\\PC{0,300}") {
            let once = sanitize(&s);
            prop_assert_eq!(sanitize(&once), once.clone());
        }

        #[test]
        fn swedish_text_with_typographic_punctuation_always_ends_up_gsm7(
            s in "[a-zA-ZåäöÅÄÖéÉ0-9 .,:!?\u{2018}\u{2019}\u{201C}\u{201D}\u{2013}\u{2014}\u{2026}\u{00A0}\u{2068}\u{2069}]{0,400}"
        ) {
            prop_assert_eq!(segments(&sanitize(&s)).encoding, Encoding::Gsm7);
        }
    }
}
