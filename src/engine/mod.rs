//! The engine: everything that turns data into messages and back.
//!
//! appointment → [`booking`] → [`planner`] → outbox → [`dispatcher`] →
//! channel. Every write that can create due work ends by waking the
//! dispatcher ([`Engine::wake`]); other processes' writes are picked up by
//! the dispatcher's short poll of the earliest due time.

pub mod booking;
pub mod dispatcher;
pub mod inbound;
pub mod jobs;
pub mod people;
pub mod planner;
pub mod record;
pub mod series;
pub mod summon;

use crate::store::Db;
use std::sync::Arc;
use tokio::sync::Notify;

/// A handle shared by the CLI, the API and the workers.
#[derive(Clone)]
pub struct Engine {
    pub db: Db,
    wake: Arc<Notify>,
}

impl Engine {
    pub fn new(db: Db) -> Self {
        Engine {
            db,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the dispatcher that new work may be due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// Who did something, as written into the journal and the audit log:
/// `cli:<user>`, `api:<token name>`, `staff:<id>`, `system`, `participant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Self {
        Actor("system".into())
    }
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Actor(format!("cli:{user}"))
    }
    pub fn api(token_name: &str) -> Self {
        Actor(format!("api:{token_name}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
