//! Fair trials of two variants of a reminder rule (issue 21): which arm a
//! participant is in, and which reminders that arm gives them. Pure.
//!
//! Assignment is random but stable: the arm is a hash of the trial's seed
//! and the participant's id, and the store records it the first time it
//! is asked, so it never changes (not by a restart, not by a new seed).
//!
//! Two guards hold whatever an arm says: nobody gets fewer reminders than
//! the unit's standard rule unless the coordinator ticked that choice on
//! the trial (`fewer_than_standard_ack`), and the participant's own
//! intensity choice ([`Intensity`]) always has the last word.

use crate::domain::schedule::taper;
use crate::domain::{Intensity, ParticipantId, Span};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The two arms of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    A,
    B,
}

impl Arm {
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::A => "a",
            Arm::B => "b",
        }
    }
    pub fn parse(s: &str) -> Result<Arm, String> {
        match s.trim().to_lowercase().as_str() {
            "a" => Ok(Arm::A),
            "b" => Ok(Arm::B),
            other => Err(format!("'{other}' is not an arm; expected a or b")),
        }
    }
}

/// Which wording an arm's reminders use: the unit's own template (or the
/// default text where the unit has none), or always the default text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Wording {
    Unit,
    Default,
}

impl Wording {
    pub fn as_str(self) -> &'static str {
        match self {
            Wording::Unit => "unit",
            Wording::Default => "default",
        }
    }
    pub fn parse(s: &str) -> Result<Wording, String> {
        match s.trim() {
            "unit" => Ok(Wording::Unit),
            "default" => Ok(Wording::Default),
            other => Err(format!(
                "'{other}' is not a wording; expected unit or default"
            )),
        }
    }
}

/// One arm: reminder offsets and a wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Variant {
    #[schema(value_type = Vec<String>, example = json!(["24h", "2h"]))]
    pub offsets: Vec<Span>,
    pub wording: Wording,
}

/// The arm of `participant` in a trial with `seed`: the low bit of
/// SHA-256(seed ":" id). Stable for a seed and a participant, and about
/// half and half over many participants.
pub fn assign(seed: &str, participant: ParticipantId) -> Arm {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(b":");
    h.update(participant.get().to_string().as_bytes());
    if h.finalize()[0] & 1 == 0 {
        Arm::A
    } else {
        Arm::B
    }
}

/// True if an arm gives fewer reminders than the standard rule.
pub fn fewer_than_standard(standard: &[Span], arm: &[Span]) -> bool {
    arm.len() < standard.len()
}

/// The most reminders one arm may have (as a unit's rule).
pub const MAX_OFFSETS: usize = 5;

/// Checks a new trial: both arms have 1-5 reminders, the arms differ, and
/// an arm with fewer reminders than the standard needs the explicit choice.
pub fn check_new(standard: &[Span], a: &Variant, b: &Variant, ack: bool) -> Result<(), String> {
    for v in [a, b] {
        if v.offsets.is_empty() || v.offsets.len() > MAX_OFFSETS {
            return Err(format!(
                "each arm needs 1-{MAX_OFFSETS} reminder times, e.g. 24h or 48h,2h"
            ));
        }
    }
    if a == b {
        return Err("the two arms are the same; change the times or the wording of one".into());
    }
    if !ack
        && (fewer_than_standard(standard, &a.offsets) || fewer_than_standard(standard, &b.offsets))
    {
        return Err(
            "an arm gives fewer reminders than the unit's standard; tick the box to choose that explicitly"
                .into(),
        );
    }
    Ok(())
}

/// The offsets a participant in an arm gets: the arm's, unless it has fewer
/// than the standard and the coordinator did not choose that (then the
/// standard's), tapered by the participant's own intensity, which always
/// wins.
pub fn offsets_for(standard: &[Span], arm: &[Span], ack: bool, intensity: Intensity) -> Vec<Span> {
    let base = if fewer_than_standard(standard, arm) && !ack {
        standard
    } else {
        arm
    };
    taper(intensity, base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(list: &str) -> Vec<Span> {
        Span::parse_list(list).unwrap()
    }

    #[test]
    fn fewer_needs_the_box() {
        let std = s("24h,2h");
        let a = Variant {
            offsets: s("24h"),
            wording: Wording::Unit,
        };
        let b = Variant {
            offsets: s("48h,2h"),
            wording: Wording::Unit,
        };
        assert!(check_new(&std, &a, &b, false).is_err());
        assert!(check_new(&std, &a, &b, true).is_ok());
        assert!(check_new(&std, &b, &b, true).is_err());
        // Without the box the standard stands in for a shorter arm.
        assert_eq!(offsets_for(&std, &a.offsets, false, Intensity::All), std);
        assert_eq!(
            offsets_for(&std, &a.offsets, true, Intensity::All),
            s("24h")
        );
    }

    #[test]
    fn intensity_always_wins() {
        let std = s("24h,2h");
        assert!(offsets_for(&std, &s("48h,2h"), true, Intensity::None).is_empty());
        assert_eq!(
            offsets_for(&std, &s("48h,2h"), true, Intensity::DayBefore),
            s("48h")
        );
    }

    proptest! {
        #[test]
        fn assignment_is_stable(seed in "[a-f0-9]{8,32}", id in 1i64..1_000_000) {
            let p = ParticipantId::from_db(id);
            prop_assert_eq!(assign(&seed, p), assign(&seed, p));
        }

        #[test]
        fn assignment_is_roughly_balanced(seed in "[a-f0-9]{16}", start in 1i64..1_000_000) {
            let a = (start..start + 1000)
                .filter(|&i| assign(&seed, ParticipantId::from_db(i)) == Arm::A)
                .count();
            // 1000 fair coins: 500 ± 5 standard deviations (≈ 16).
            prop_assert!((420..=580).contains(&a), "{a} of 1000 in arm A");
        }

        #[test]
        fn nobody_gets_fewer_than_standard_without_the_box(
            std_n in 1usize..5, arm_n in 1usize..5,
        ) {
            let std: Vec<Span> = (1..=std_n as u32).map(|h| Span::minutes(h * 60).unwrap()).collect();
            let arm: Vec<Span> = (1..=arm_n as u32).map(|h| Span::minutes(h * 90).unwrap()).collect();
            let got = offsets_for(&std, &arm, false, Intensity::All);
            prop_assert!(got.len() >= std.len());
        }
    }
}
