//! Which channel a reminder is planned on.

use crate::domain::{ChannelKind, ChannelSet};

/// The participant's preferred channel if it is consented, not opted out
/// and reachable; else another channel that is; else the preference (the
/// send-time gate will then suppress it with the reason, in the journal).
pub fn pick_channel(
    preferred: ChannelKind,
    consented: ChannelSet,
    opted_out: ChannelSet,
    reachable: ChannelSet,
) -> ChannelKind {
    let usable =
        |c: ChannelKind| consented.contains(c) && !opted_out.contains(c) && reachable.contains(c);
    if usable(preferred) {
        return preferred;
    }
    ChannelKind::ALL
        .iter()
        .copied()
        .find(|c| usable(*c))
        .unwrap_or(preferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ChannelSet {
        s.parse().unwrap()
    }

    #[test]
    fn preference_wins_when_usable_otherwise_the_other_channel() {
        use ChannelKind::*;
        let both = set("sms,telegram");
        assert_eq!(
            pick_channel(Telegram, both, ChannelSet::NONE, both),
            Telegram
        );
        assert_eq!(pick_channel(Telegram, both, set("telegram"), both), Sms);
        assert_eq!(
            pick_channel(Telegram, both, ChannelSet::NONE, set("sms")),
            Sms
        );
        assert_eq!(
            pick_channel(Telegram, set("sms"), ChannelSet::NONE, both),
            Sms
        );
        assert_eq!(
            pick_channel(Sms, ChannelSet::NONE, ChannelSet::NONE, both),
            Sms
        );
    }
}
