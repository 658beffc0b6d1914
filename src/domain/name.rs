//! Names of people (a participant's first name, a staff member's name) and
//! the free text that must not carry invisible characters.
//!
//! A name is shown in lists, in the case record and in messages. A control
//! character (a line break, a NUL, an escape) breaks those, and a bidi
//! override (U+202A–U+202E, U+2066–U+2069, and the marks U+200E, U+200F,
//! U+061C) reverses what follows it on screen: "Ali\u{202E}gnuoY" reads as
//! "AliYoung" backwards and can make a list or an SMS say something else than
//! it holds. Both are refused. Joiners (U+200C, U+200D) stay: Persian names
//! and emoji need them.

use serde::{Serialize, Serializer};
use std::fmt;

/// A name as a person typed it, trimmed: 1 to `max` characters, none of
/// them a control character or a bidi control.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than {max} characters")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} contains {}, which is not allowed in a name", describe(*.found))]
    Forbidden { what: &'static str, found: char },
}

/// Bidi controls: embeddings and overrides, isolates, and the marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters no name may hold: control characters (U+0000–U+001F,
/// U+007F–U+009F), the line and paragraph separators, bidi controls and
/// the byte-order mark.
pub fn is_forbidden_in_name(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// How a forbidden character is named in an error: its code point, since
/// it is invisible.
fn describe(c: char) -> String {
    let kind = if c == '\0' {
        "a NUL character"
    } else if is_bidi_control(c) {
        "a bidi control character"
    } else if c == '\n' || c == '\r' || c == '\u{2028}' || c == '\u{2029}' {
        "a line break"
    } else {
        "an invisible control character"
    };
    format!("{kind} (U+{:04X})", c as u32)
}

impl Name {
    /// Parses a name; `what` names the field in the error ("first name").
    pub fn parse(input: &str, what: &'static str, max: usize) -> Result<Name, NameError> {
        let t = input.trim();
        if t.is_empty() {
            return Err(NameError::Empty { what });
        }
        if let Some(found) = t.chars().find(|c| is_forbidden_in_name(*c)) {
            return Err(NameError::Forbidden { what, found });
        }
        if t.chars().count() > max {
            return Err(NameError::TooLong { what, max });
        }
        Ok(Name(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_people_have_are_kept() {
        for ok in [
            "Ali",
            "Anna-Karin",
            "Åsa Öberg",
            "José",
            "Nguyễn",
            "محمد",
            "מרים",
            "نازنین\u{200C}ه",
            "O'Brien",
            "李",
            "👍🏽",
        ] {
            assert_eq!(Name::parse(ok, "first name", 50).unwrap().as_str(), ok);
        }
        assert_eq!(
            Name::parse("  Ali ", "first name", 50).unwrap().as_str(),
            "Ali"
        );
    }

    #[test]
    fn bidi_overrides_and_control_characters_are_refused_with_their_code_point() {
        for (bad, says) in [
            ("Ali\u{202E}gnuoY", "bidi control character (U+202E)"),
            ("\u{202A}Ali", "U+202A"),
            ("Ali\u{2066}x\u{2069}", "U+2066"),
            ("Ali\u{2069}", "U+2069"),
            ("Ali\u{200F}", "U+200F"),
            ("Ali\0", "NUL character (U+0000)"),
            ("Ali\nBo", "line break (U+000A)"),
            ("Ali\u{1b}[31m", "control character (U+001B)"),
            ("Ali\u{85}Bo", "U+0085"),
            ("Ali\u{2028}Bo", "line break (U+2028)"),
        ] {
            let e = Name::parse(bad, "first name", 50).unwrap_err().to_string();
            assert!(
                e.starts_with("first name contains") && e.contains(says),
                "{bad:?}: {e}"
            );
        }
        assert_eq!(
            Name::parse(" ", "name", 50),
            Err(NameError::Empty { what: "name" })
        );
        assert!(matches!(
            Name::parse(&"a".repeat(51), "name", 50),
            Err(NameError::TooLong { max: 50, .. })
        ));
    }

    proptest! {
        /// A name is refused exactly when, trimmed, it is empty, too long,
        /// or holds a forbidden character; what is kept is the trimmed text.
        #[test]
        fn a_name_is_kept_exactly_when_it_holds_nothing_forbidden(s in "\\PC{0,8}[\u{0}-\u{1f}\u{202a}-\u{202e}\u{2066}-\u{2069}a-z ]{0,3}\\PC{0,8}") {
            let t = s.trim();
            let bad = t.is_empty() || t.chars().count() > 12 || t.chars().any(is_forbidden_in_name);
            match Name::parse(&s, "name", 12) {
                Ok(n) => {
                    prop_assert!(!bad);
                    prop_assert_eq!(n.as_str(), t);
                }
                Err(_) => prop_assert!(bad),
            }
        }
    }
}
