//! The integration tests, in one binary so the suite links once (issue 17):
//! each module is one area, `common` the shared fixtures. browser.rs,
//! crash.rs and login_load.rs stay binaries of their own: they measure or
//! kill whole processes.

#[macro_use]
mod common;

mod api;
mod api_tokens;
mod audit_review;
mod bad_input;
mod broadcasts;
mod calendar_feeds;
mod cli;
mod demo;
mod engine;
mod erasure;
mod event_hooks;
mod import;
mod invariants;
mod logs;
mod oidc;
mod openapi;
mod outage;
mod outcomes;
mod replies;
mod schema_parity;
mod security;
mod sms_gateways;
mod statements;
mod telegram;
mod telegram_e2e;
mod ui_account;
mod ui_admin;
mod ui_broadcasts;
mod ui_messages;
mod ui_monitoring;
mod ui_participants;
mod ui_routes;
mod ui_sandbox;
mod ui_settings;
mod ui_templates;
mod ui_today;
mod webhooks;
