//! One-to-one chat messages.

use chrono::{DateTime, Utc};

use super::{
    CONVERSATIONS_NEWEST, Cursor, MESSAGES_NEWEST, MessageId, SortKey, UserId, ValidationError,
};
use crate::error::{AppError, FieldErrors};

/// A message text: 1 to 4,000 characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// The longest text accepted.
    pub const MAX_CHARS: usize = 4000;

    /// # Errors
    /// A [`ValidationError`] when blank or longer than 4,000 characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            Err(ValidationError("must not be empty"))
        } else if raw.chars().count() > Self::MAX_CHARS {
            Err(ValidationError("must be at most 4000 characters"))
        } else {
            Ok(MessageText(raw.to_owned()))
        }
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Stable id: clients drop duplicates by it.
    pub id: MessageId,
    /// The sender (always the authenticated user who sent it).
    pub from: UserId,
    /// The recipient.
    pub to: UserId,
    /// What was said.
    pub text: MessageText,
    /// When the recipient marked it seen, if they have.
    pub seen_at: Option<DateTime<Utc>>,
    /// Whether it has been handed to one of the recipient's live connections.
    pub delivered: bool,
    /// When it was sent (stored).
    pub created_at: DateTime<Utc>,
}

impl Message {
    /// Where it stands in the newest-first message lists.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            ordering: MESSAGES_NEWEST,
            key: SortKey::Time(self.created_at),
            id: self.id.to_string(),
        }
    }

    /// True once the recipient has seen it.
    pub fn seen(&self) -> bool {
        self.seen_at.is_some()
    }

    /// The other participant, seen from `user`.
    pub fn peer_of(&self, user: &UserId) -> &UserId {
        if &self.from == user {
            &self.to
        } else {
            &self.from
        }
    }

    /// True when `user` is one of the two participants.
    pub fn involves(&self, user: &UserId) -> bool {
        &self.from == user || &self.to == user
    }
}

/// A conversation as listed: the peer, the latest message, how many of the
/// peer's messages are unseen.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The other participant.
    pub peer: UserId,
    /// The most recent message either way.
    pub last_message: Message,
    /// Messages from the peer not yet seen.
    pub unread: u64,
}

impl Conversation {
    /// Where it stands in the conversation lists (newest latest message
    /// first): the position of its latest message. A conversation with a
    /// newer message moves to the front, past any cursor already handed out.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            ordering: CONVERSATIONS_NEWEST,
            key: SortKey::Time(self.last_message.created_at),
            id: self.last_message.id.to_string(),
        }
    }
}

/// A message about to be sent, valid.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The recipient.
    pub to: UserId,
    /// What to say.
    pub text: MessageText,
}

impl Outgoing {
    /// Parses the raw `to` and `text` of a send, reporting both at once.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(to: &str, text: &str) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let to = UserId::parse(to).map_err(|e| problems.insert("to".into(), e.0.into()));
        let text = MessageText::parse(text).map_err(|e| problems.insert("text".into(), e.0.into()));
        match (to, text) {
            (Ok(to), Ok(text)) => Ok(Outgoing { to, text }),
            _ => Err(AppError::invalid_fields(problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded_and_not_blank() {
        assert!(MessageText::parse("hi").is_ok());
        assert!(MessageText::parse(&"x".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"x".repeat(4001)).is_err());
        assert!(MessageText::parse("").is_err());
        assert!(MessageText::parse(" \n\t").is_err());
    }
}
