//! paminn: discreet appointment reminders by SMS and Telegram for
//! participants of Swedish re-entry and labour-market programmes.
//!
//! See ARCHITECTURE.md for the map of the code.

pub mod channels;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod error;
pub mod import;
pub mod oidc;
pub mod server;
pub mod store;
pub mod telegram;
pub mod telemetry;
pub mod texts;
pub mod web;

pub use error::{Error, Result};
