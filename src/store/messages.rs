//! A participant's conversation: the messages sent to them (outbox rows)
//! and the messages they sent (inbound rows) in one list, newest first,
//! a page at a time (keyset by time, direction and id), for the chat-style
//! log of the case record (`web::ui::participants::messages`, read through
//! `Engine::messages`). Also the journal's reading of each reply (which
//! appointment it was about, what it changed), kept with the reply's
//! `inbound_message` event rather than on the inbound row.
//!
//! Rows planned but not yet due, and rows cancelled before they went
//! (a moved or cancelled appointment), are not messages and are left out;
//! a row stopped by the gates at send time (`suppressed`) is kept: staff
//! need to see what did not go, and why.

use super::{Conn, ms};
use crate::domain::{ChannelKind, ParticipantId};
use crate::error::Result;
use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// From the participant (an inbound row).
    In,
    /// To the participant (an outbox row).
    Out,
}

impl Direction {
    /// As the query spells it; `'in' < 'out'`, so at the same instant a
    /// reply comes before the answer it got.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err(format!("'{s}' is not a message direction")),
        }
    }
}

/// One message, sent or received, as stored. Instants are milliseconds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    #[sqlx(try_from = "super::Parsed<Direction>")]
    pub dir: Direction,
    /// The outbox or the inbound row's id (by `dir`).
    pub id: i64,
    /// When it was sent or received; while it waits, when it is due; a
    /// message that failed before it went or was stopped, when that was
    /// decided (its last update: a final status never changes again).
    pub at: i64,
    /// `reminder`, `summons`, `receipt`, `notice`; `None` for a reply.
    pub purpose: Option<String>,
    pub channel: String,
    /// The outbox status; `None` for a reply.
    pub status: Option<String>,
    /// `None` once the purge removed it (or before it was written).
    pub body: Option<String>,
    pub error_kind: Option<String>,
    /// The gate's reason of a stopped message.
    pub last_error: Option<String>,
    pub broadcast_id: Option<i64>,
    pub appointment_id: Option<i64>,
    /// The stored reading of a reply (JSON).
    pub intent: Option<String>,
}

impl MessageRow {
    pub fn at(&self) -> DateTime<Utc> {
        super::from_ms(self.at)
    }

    pub fn channel(&self) -> Option<ChannelKind> {
        self.channel.parse().ok()
    }

    /// Where the page after this row (older) starts.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.at,
            dir: self.dir,
            id: self.id,
        }
    }
}

/// A position in the conversation: the older page lists what comes
/// before it. Written `<ms>.<in|out>.<id>` in a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub dir: Direction,
    pub id: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.at, self.dir.as_str(), self.id)
    }
}

impl FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a position in the messages");
        let mut parts = s.split('.');
        let (Some(at), Some(dir), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Cursor {
            at: at.parse().map_err(|_| bad())?,
            dir: dir.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// The conversation's messages before `before` (or the latest), newest
/// first, at most `limit`. One query: the outbox rows that went, wait
/// (due by `now`) or were stopped, and the inbound rows, as one list.
pub async fn page(
    c: &mut Conn,
    participant: ParticipantId,
    now: DateTime<Utc>,
    before: Option<Cursor>,
    limit: i64,
) -> Result<Vec<MessageRow>> {
    Ok(sqlx::query_as(
        "SELECT dir, id, at, purpose, channel, status, body, error_kind, last_error,
                broadcast_id, appointment_id, intent
         FROM (
             SELECT 'out' AS dir, id,
                    CASE WHEN sent_at IS NOT NULL THEN sent_at
                         WHEN status IN ('pending','sending') THEN due_at
                         ELSE updated_at END AS at,
                    purpose, channel, status,
                    body, error_kind, last_error, broadcast_id, appointment_id, NULL AS intent
             FROM outbox
             WHERE participant_id = $1 AND status <> 'cancelled'
               AND (status NOT IN ('pending','sending') OR due_at <= $2)
             UNION ALL
             SELECT 'in' AS dir, id, received_at AS at, NULL, channel, NULL,
                    body, NULL, NULL, NULL, NULL, intent
             FROM inbound
             WHERE participant_id = $1
         ) m
         WHERE $3 = 0 OR m.at < $4 OR (m.at = $4 AND (m.dir < $5 OR (m.dir = $5 AND m.id < $6)))
         ORDER BY m.at DESC, m.dir DESC, m.id DESC
         LIMIT $7",
    )
    .bind(participant.get())
    .bind(ms(now))
    .bind(i64::from(before.is_some()))
    .bind(before.map_or(0, |b| b.at))
    .bind(before.map_or("", |b| b.dir.as_str()))
    .bind(before.map_or(0, |b| b.id))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?)
}

/// A reply's `inbound_message` journal event: the appointment it was
/// about and its detail (JSON: `inbound_id`, `intent`, `changed`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReplyEvent {
    pub appointment_id: Option<i64>,
    pub detail: String,
}

/// The `inbound_message` events of a participant from `from` to `to`
/// (milliseconds, both included): the readings of the replies on a page.
pub async fn reply_events(
    c: &mut Conn,
    participant: ParticipantId,
    from: i64,
    to: i64,
) -> Result<Vec<ReplyEvent>> {
    Ok(sqlx::query_as(
        "SELECT appointment_id, detail FROM journal
         WHERE participant_id = $1 AND kind = 'inbound_message' AND at >= $2 AND at <= $3
         ORDER BY id",
    )
    .bind(participant.get())
    .bind(from)
    .bind(to)
    .fetch_all(&mut *c)
    .await?)
}

/// How many messages the conversation has (as [`page`] counts them), for
/// the case record's "Meddelanden (N)".
pub async fn count(c: &mut Conn, participant: ParticipantId, now: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM outbox
                 WHERE participant_id = $1 AND status <> 'cancelled'
                   AND (status NOT IN ('pending','sending') OR due_at <= $2))
              + (SELECT COUNT(*) FROM inbound WHERE participant_id = $1)",
    )
    .bind(participant.get())
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nothing_else_does() {
        let c = Cursor {
            at: 1_765_000_000_000,
            dir: Direction::Out,
            id: 42,
        };
        assert_eq!(c.to_string(), "1765000000000.out.42");
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        for bad in ["", "1.out", "1.up.2", "x.in.2", "1.in.2.3", "1.in.y"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
        assert!(Direction::In < Direction::Out && "in" < "out");
    }
}
