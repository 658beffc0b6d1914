//! One error type for everything a user can cause, so the CLI prints it
//! plainly and the API maps it to the right 4xx; everything else is
//! `Internal` (5xx, logged, never shown in detail).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something named by the user does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The input was wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with what is stored (e.g. a duplicate name).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }

    /// Is this a unique-constraint violation from the database?
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// A unique-constraint violation as [`Error::Conflict`] with the
    /// message `conflict` gives (what is taken); any other error as it is.
    pub fn unique_as_conflict(self, conflict: impl FnOnce() -> String) -> Self {
        if self.is_unique_violation() {
            Error::Conflict(conflict())
        } else {
            self
        }
    }
}
