//! Attendance outcomes (issue 21): show-up rates, small-cell suppression,
//! confidence intervals and a plain-words verdict. Pure: the store hands
//! over one [`Outcome`] per appointment, everything else is arithmetic.
//!
//! What counts. An appointment counts when it is still scheduled (not
//! cancelled; a moved appointment counts once, at its new time) and staff
//! recorded its attendance as *attended* or *absent* (no-show). Appointments
//! without recorded attendance (`unknown`) and those recorded as *excused*
//! (a "förhinder" accepted by staff) are not no-shows and are left out of
//! both numerator and denominator:
//! show-up rate = attended / (attended + absent).
//!
//! Small cells. A cell that holds fewer than `min_people` distinct
//! participants is not shown ([`Suppressed::FewPeople`]). Every table here
//! is a one-way breakdown with a total row, so a single hidden cell would be
//! recoverable as total minus the others: whenever exactly one cell of a
//! table is hidden, the smallest shown cell is hidden too
//! ([`Suppressed::Complementary`]), and if the hidden cells together still
//! hold fewer than `min_people` appointments' people, more are hidden until
//! they do (or all are). When the total itself is small, everything is.

use serde::Serialize;

/// Cells with fewer distinct people than this are suppressed by default.
pub const DEFAULT_MIN_PEOPLE: u32 = 5;

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Counts behind one cell: appointments attended, appointments missed,
/// and how many distinct participants they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Tally {
    pub attended: u32,
    pub absent: u32,
    pub people: u32,
}

impl Tally {
    /// Appointments that count: attended + absent.
    pub fn counted(&self) -> u32 {
        self.attended + self.absent
    }

    /// attended / (attended + absent), `None` for an empty cell.
    pub fn rate(&self) -> Option<f64> {
        (self.counted() > 0).then(|| f64::from(self.attended) / f64::from(self.counted()))
    }

    /// The Wilson score 95 % interval of the rate.
    pub fn interval(&self) -> Option<Interval> {
        wilson(self.attended, self.counted())
    }
}

/// A closed interval of a proportion or a difference of proportions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn width(&self) -> f64 {
        self.high - self.low
    }
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Wilson score interval (95 %) for `x` successes out of `n`.
pub fn wilson(x: u32, n: u32) -> Option<Interval> {
    if n == 0 || x > n {
        return None;
    }
    let n = f64::from(n);
    let p = f64::from(x) / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).clamp(0.0, 1.0).min(p),
        high: (centre + half).clamp(0.0, 1.0).max(p),
    })
}

/// Newcombe's hybrid score interval (method 10, 1998) for the difference
/// of two proportions `a - b`, from their Wilson intervals.
pub fn newcombe(a: &Tally, b: &Tally) -> Option<Interval> {
    let (pa, pb) = (a.rate()?, b.rate()?);
    let (ia, ib) = (a.interval()?, b.interval()?);
    let d = pa - pb;
    let low = d - ((pa - ia.low).powi(2) + (ib.high - pb).powi(2)).sqrt();
    let high = d + ((ia.high - pa).powi(2) + (pb - ib.low).powi(2)).sqrt();
    Some(Interval {
        low: low.max(-1.0).min(d),
        high: high.min(1.0).max(d),
    })
}

/// Why a cell is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Suppressed {
    /// Fewer than the threshold of distinct people.
    FewPeople,
    /// Hidden so that another hidden cell cannot be worked out as the total
    /// minus the shown cells.
    Complementary,
}

/// One cell as shown: its counts, or why they are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Cell {
    Shown {
        attended: u32,
        absent: u32,
        people: u32,
        rate: Option<f64>,
        interval: Option<Interval>,
    },
    Hidden {
        reason: Suppressed,
    },
}

impl Cell {
    fn shown(t: &Tally) -> Cell {
        Cell::Shown {
            attended: t.attended,
            absent: t.absent,
            people: t.people,
            rate: t.rate(),
            interval: t.interval(),
        }
    }
    pub fn is_hidden(&self) -> bool {
        matches!(self, Cell::Hidden { .. })
    }
    /// The tally behind a shown cell.
    pub fn tally(&self) -> Option<Tally> {
        match *self {
            Cell::Shown {
                attended,
                absent,
                people,
                ..
            } => Some(Tally {
                attended,
                absent,
                people,
            }),
            Cell::Hidden { .. } => None,
        }
    }
}

/// Applies the threshold to a one-way table: `rows` partition `total`.
/// Returns the rows' cells (in the same order) and the total's cell.
pub fn suppress(rows: &[Tally], total: &Tally, min_people: u32) -> (Vec<Cell>, Cell) {
    let small = |t: &Tally| t.people < min_people;
    if small(total) {
        let hidden = Cell::Hidden {
            reason: Suppressed::FewPeople,
        };
        // An empty row shows nothing about anyone; hiding it too keeps the
        // table honest about why everything else is hidden.
        return (vec![hidden; rows.len()], hidden);
    }
    let mut reason: Vec<Option<Suppressed>> = rows
        .iter()
        .map(|t| (t.counted() > 0 && small(t)).then_some(Suppressed::FewPeople))
        .collect();
    // Complementary suppression: never exactly one hidden cell, and the
    // hidden cells together must not be a small group of their own.
    loop {
        let hidden: Vec<usize> = (0..rows.len()).filter(|&i| reason[i].is_some()).collect();
        if hidden.is_empty() {
            break;
        }
        let together: u32 = hidden.iter().map(|&i| rows[i].people).sum();
        if hidden.len() >= 2 && together >= min_people {
            break;
        }
        // The smallest shown non-empty cell goes too.
        let next = (0..rows.len())
            .filter(|&i| reason[i].is_none() && rows[i].counted() > 0)
            .min_by_key(|&i| (rows[i].people, rows[i].counted(), i));
        match next {
            Some(i) => reason[i] = Some(Suppressed::Complementary),
            None => break,
        }
    }
    let cells = rows
        .iter()
        .zip(&reason)
        .map(|(t, r)| match r {
            Some(reason) => Cell::Hidden { reason: *reason },
            None => Cell::shown(t),
        })
        .collect();
    (cells, Cell::shown(total))
}

/// What the numbers of a two-arm comparison say, in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Too few people or too wide an interval: "för få för att säga".
    TooFew,
    /// The interval of the difference holds zero, and is narrow enough to
    /// say that any difference is small.
    NoClearDifference,
    /// Arm A's show-up rate is higher, and the interval excludes zero.
    AHigher,
    /// Arm B's show-up rate is higher, and the interval excludes zero.
    BHigher,
}

impl Verdict {
    pub fn key(self) -> &'static str {
        match self {
            Verdict::TooFew => "outcomes-verdict-too-few",
            Verdict::NoClearDifference => "outcomes-verdict-no-difference",
            Verdict::AHigher => "outcomes-verdict-a-higher",
            Verdict::BHigher => "outcomes-verdict-b-higher",
        }
    }
}

/// A difference interval wider than this (30 percentage points) is too
/// wide to say anything.
pub const MAX_VERDICT_WIDTH: f64 = 0.30;

/// The verdict on arms `a` and `b`: too few to tell when either arm has
/// fewer than `min_people` people or the difference's interval is wider
/// than [`MAX_VERDICT_WIDTH`].
pub fn verdict(a: &Tally, b: &Tally, min_people: u32) -> Verdict {
    if a.people < min_people || b.people < min_people {
        return Verdict::TooFew;
    }
    let Some(d) = newcombe(a, b) else {
        return Verdict::TooFew;
    };
    if d.width() > MAX_VERDICT_WIDTH {
        Verdict::TooFew
    } else if d.low > 0.0 {
        Verdict::AHigher
    } else if d.high < 0.0 {
        Verdict::BHigher
    } else {
        Verdict::NoClearDifference
    }
}

/// Attendance as it counts: attended, absent, or not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shows {
    Attended,
    Absent,
}

/// Groups appointments into tallies by a key, counting distinct people.
/// `items` are (key, participant, outcome).
pub fn tally_by<K: Ord + Clone>(
    items: impl IntoIterator<Item = (K, i64, Shows)>,
) -> Vec<(K, Tally)> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut m: BTreeMap<K, (Tally, BTreeSet<i64>)> = BTreeMap::new();
    for (k, who, s) in items {
        let e = m.entry(k).or_default();
        match s {
            Shows::Attended => e.0.attended += 1,
            Shows::Absent => e.0.absent += 1,
        }
        e.1.insert(who);
    }
    m.into_iter()
        .map(|(k, (mut t, people))| {
            t.people = people.len() as u32;
            (k, t)
        })
        .collect()
}

/// The total of a set of appointments (distinct people across all).
pub fn total(items: impl IntoIterator<Item = (i64, Shows)>) -> Tally {
    tally_by(items.into_iter().map(|(w, s)| ((), w, s)))
        .into_iter()
        .next()
        .map(|(_, t)| t)
        .unwrap_or_default()
}

/// Buckets of time since a participant started, in days: 0-30, 31-90,
/// 91-180, over 180.
pub fn started_bucket(days: i64) -> &'static str {
    match days {
        i64::MIN..=30 => "0-30",
        31..=90 => "31-90",
        91..=180 => "91-180",
        _ => "181-",
    }
}

/// A participant's pseudonym in one export: HMAC-SHA256 of the id under
/// the export's random key, 12 hex digits. The same person has the same
/// pseudonym throughout one export and a different one in the next.
pub fn pseudonym(key: &[u8], participant: crate::domain::ParticipantId) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    m.update(participant.get().to_string().as_bytes());
    hex::encode(&m.finalize().into_bytes()[..6])
}

/// What an export cell becomes when too few people share its value.
pub const BLANK: &str = "–";

/// Applies the threshold to an export: `rows` are (person, columns); a
/// column's value that fewer than `min_people` distinct people have is
/// replaced by [`BLANK`]. If the export as a whole holds fewer than
/// `min_people` people, nothing is exported.
pub fn blank_rare(rows: &mut Vec<(String, Vec<String>)>, min_people: u32) {
    use std::collections::{BTreeMap, BTreeSet};
    let people: BTreeSet<&String> = rows.iter().map(|(p, _)| p).collect();
    if (people.len() as u32) < min_people {
        rows.clear();
        return;
    }
    let width = rows.first().map_or(0, |(_, c)| c.len());
    for col in 0..width {
        let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (p, cols) in rows.iter() {
            holders
                .entry(cols[col].clone())
                .or_default()
                .insert(p.clone());
        }
        for (_, cols) in rows.iter_mut() {
            if (holders[&cols[col]].len() as u32) < min_people {
                cols[col] = BLANK.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_between_keys() {
        let p = crate::domain::ParticipantId::from_db(7);
        assert_eq!(pseudonym(b"k1", p), pseudonym(b"k1", p));
        assert_ne!(pseudonym(b"k1", p), pseudonym(b"k2", p));
        assert_eq!(pseudonym(b"k1", p).len(), 12);
    }

    #[test]
    fn rare_values_are_blanked() {
        let mut rows: Vec<(String, Vec<String>)> = (0..6)
            .map(|i| {
                (
                    format!("p{i}"),
                    vec![
                        "meeting".into(),
                        if i == 0 {
                            "rare".into()
                        } else {
                            "common".into()
                        },
                    ],
                )
            })
            .collect();
        blank_rare(&mut rows, 5);
        assert_eq!(rows[0].1, vec!["meeting".to_string(), BLANK.to_string()]);
        assert_eq!(rows[1].1[1], "common");
        let mut few = rows[..3].to_vec();
        blank_rare(&mut few, 5);
        assert!(few.is_empty());
    }

    fn t(attended: u32, absent: u32, people: u32) -> Tally {
        Tally {
            attended,
            absent,
            people,
        }
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), table I: 81/263 → 0.2553 to 0.3662.
        let i = wilson(81, 263).unwrap();
        assert!((i.low - 0.2553).abs() < 5e-4, "{i:?}");
        assert!((i.high - 0.3662).abs() < 5e-4, "{i:?}");
        // 0/10 → 0 to 0.2775.
        let i = wilson(0, 10).unwrap();
        assert_eq!(i.low, 0.0);
        assert!((i.high - 0.2775).abs() < 5e-4, "{i:?}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn newcombe_matches_published_values() {
        // Newcombe (1998), table II, example (a): 56/70 vs 48/80 →
        // 0.0524 to 0.3339.
        let d = newcombe(&t(56, 14, 70), &t(48, 32, 80)).unwrap();
        assert!((d.low - 0.0524).abs() < 5e-4, "{d:?}");
        assert!((d.high - 0.3339).abs() < 5e-4, "{d:?}");
    }

    #[test]
    fn one_small_cell_takes_a_sibling_with_it() {
        let rows = [t(20, 5, 10), t(2, 1, 2), t(10, 10, 8)];
        let total = t(32, 16, 20);
        let (cells, tot) = suppress(&rows, &total, 5);
        assert_eq!(
            cells[1],
            Cell::Hidden {
                reason: Suppressed::FewPeople
            }
        );
        assert_eq!(
            cells[2],
            Cell::Hidden {
                reason: Suppressed::Complementary
            }
        );
        assert!(!cells[0].is_hidden());
        assert!(!tot.is_hidden());
    }

    #[test]
    fn a_small_total_hides_everything() {
        let (cells, tot) = suppress(&[t(2, 1, 2), t(1, 0, 1)], &t(3, 1, 3), 5);
        assert!(cells.iter().all(Cell::is_hidden) && tot.is_hidden());
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&t(3, 1, 3), &t(30, 10, 40), 5), Verdict::TooFew);
        assert_eq!(
            verdict(&t(380, 20, 400), &t(200, 200, 400), 5),
            Verdict::AHigher
        );
        assert_eq!(
            verdict(&t(200, 200, 400), &t(380, 20, 400), 5),
            Verdict::BHigher
        );
        assert_eq!(
            verdict(&t(300, 100, 400), &t(300, 100, 400), 5),
            Verdict::NoClearDifference
        );
        // 6 vs 6 people, one appointment each: the interval is far too wide.
        assert_eq!(verdict(&t(5, 1, 6), &t(3, 3, 6), 5), Verdict::TooFew);
    }

    #[test]
    fn what_counts() {
        let items = [
            ("a", 1, Shows::Attended),
            ("a", 1, Shows::Absent),
            ("a", 2, Shows::Attended),
            ("b", 3, Shows::Absent),
        ];
        let by = tally_by(items);
        assert_eq!(by, vec![("a", t(2, 1, 2)), ("b", t(0, 1, 1))]);
        assert_eq!(started_bucket(0), "0-30");
        assert_eq!(started_bucket(31), "31-90");
        assert_eq!(started_bucket(400), "181-");
    }

    fn tally() -> impl Strategy<Value = Tally> {
        (0u32..60, 0u32..60, 1u32..30).prop_map(|(a, b, p)| {
            let n = a + b;
            Tally {
                attended: a,
                absent: b,
                people: if n == 0 { 0 } else { p.min(n) },
            }
        })
    }

    proptest! {
        #[test]
        fn wilson_holds_the_estimate_within_0_1(n in 1u32..5000, x_frac in 0.0f64..=1.0) {
            let x = ((f64::from(n) * x_frac).round() as u32).min(n);
            let i = wilson(x, n).unwrap();
            let p = f64::from(x) / f64::from(n);
            prop_assert!(0.0 <= i.low && i.high <= 1.0);
            prop_assert!(i.contains(p));
        }

        #[test]
        fn newcombe_holds_the_difference_within_bounds(a in tally(), b in tally()) {
            if let Some(d) = newcombe(&a, &b) {
                let diff = a.rate().unwrap() - b.rate().unwrap();
                prop_assert!(-1.0 <= d.low && d.high <= 1.0);
                prop_assert!(d.contains(diff));
            }
        }

        #[test]
        fn no_hidden_cell_is_recoverable_by_subtraction(
            rows in proptest::collection::vec(tally(), 1..7),
            min in 1u32..10,
        ) {
            // The people of the total: at least the largest cell, at most the sum.
            let total = Tally {
                attended: rows.iter().map(|t| t.attended).sum(),
                absent: rows.iter().map(|t| t.absent).sum(),
                people: rows.iter().map(|t| t.people).sum(),
            };
            let (cells, tot) = suppress(&rows, &total, min);
            let hidden: Vec<usize> = (0..rows.len()).filter(|&i| cells[i].is_hidden()).collect();
            for (i, c) in cells.iter().enumerate() {
                // Small non-empty cells are never shown.
                if rows[i].counted() > 0 && rows[i].people < min {
                    prop_assert!(c.is_hidden());
                }
            }
            if !tot.is_hidden() {
                // Total minus the shown cells is the sum of the hidden ones:
                // never a single cell, and never a small group.
                prop_assert!(hidden.len() != 1);
                if !hidden.is_empty() && hidden.len() < rows.iter().filter(|t| t.counted() > 0).count() {
                    let together: u32 = hidden.iter().map(|&i| rows[i].people).sum();
                    prop_assert!(together >= min);
                }
            }
        }
    }
}
