//! The sandbox phone (demo mode only): every participant's messages as a
//! chat, what is planned next, and a box to answer as that participant.
//! Answers take the same inbound path as a real gateway's webhook.

use super::AppState;
use crate::domain::{ChannelKind, OutboxStatus, ParticipantId};
use crate::error::{Error, Result};
use crate::store::{outbox, participants, sandbox};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use rand::RngCore;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/sandbox/{id}/messages", get(messages))
        .route("/sandbox/{id}/reply", post(reply))
}

struct Bubble {
    outgoing: bool,
    body: String,
    at: String,
}

struct Phone {
    id: i64,
    name: String,
    number: String,
    language: String,
    bubbles: Vec<Bubble>,
    next: Vec<String>,
}

#[derive(Template)]
#[template(path = "demo.html")]
struct Page {
    phones: Vec<Phone>,
}

fn local_time(t: chrono::DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%a %d %b %H:%M").to_string()
}

async fn page(State(s): State<AppState>) -> Result<Response> {
    let mut c = s.engine.db.conn().await?;
    let mut phones = Vec::new();
    for p in participants::list(&mut c, None).await? {
        let bubbles = sandbox::for_participant(&mut c, p.id)
            .await?
            .into_iter()
            .map(|m| Bubble {
                outgoing: m.direction == "out",
                body: m.body,
                at: local_time(m.at, p.time_zone),
            })
            .collect();
        let next = outbox::list(&mut c, Some(p.id))
            .await?
            .into_iter()
            .filter(|r| r.status == OutboxStatus::Pending)
            .take(3)
            .map(|r| local_time(r.next_attempt_at, p.time_zone))
            .collect();
        phones.push(Phone {
            id: p.id.get(),
            name: p.first_name.clone(),
            number: p
                .phone
                .as_ref()
                .map(|n| n.as_e164().to_string())
                .unwrap_or_default(),
            language: p.language.to_string(),
            bubbles,
            next,
        });
    }
    let html = Page { phones }
        .render()
        .map_err(|e| Error::Internal(anyhow::anyhow!("template: {e}")))?;
    Ok(Html(html).into_response())
}

#[derive(serde::Serialize)]
struct MessageOut {
    outgoing: bool,
    body: String,
    at: String,
}

async fn messages(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<MessageOut>>> {
    let id: ParticipantId = id.parse().map_err(Error::Invalid)?;
    let mut c = s.engine.db.conn().await?;
    let p = participants::get(&mut c, id).await?;
    Ok(Json(
        sandbox::for_participant(&mut c, id)
            .await?
            .into_iter()
            .map(|m| MessageOut {
                outgoing: m.direction == "out",
                body: m.body,
                at: local_time(m.at, p.time_zone),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct ReplyForm {
    text: String,
}

async fn reply(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Form(f): Form<ReplyForm>,
) -> Result<Response> {
    let id: ParticipantId = id.parse().map_err(Error::Invalid)?;
    let text = f.text.trim();
    if text.is_empty() {
        return Ok(Redirect::to(&format!("/#p{id}")).into_response());
    }
    if text.chars().count() > 1000 {
        return Err(Error::invalid("a reply is at most 1000 characters"));
    }
    let p = {
        let mut c = s.engine.db.conn().await?;
        participants::get(&mut c, id).await?
    };
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    let gateway_id = format!("sbx-in-{}", hex::encode(b));
    let now = Utc::now();
    {
        let mut c = s.engine.db.conn().await?;
        sandbox::insert(
            &mut c,
            p.id,
            p.channel_pref,
            "in",
            text,
            None,
            &gateway_id,
            now,
        )
        .await?;
    }
    s.engine
        .receive(ChannelKind::Sms, &gateway_id, p.id, text, now)
        .await?;
    Ok(Redirect::to(&format!("/#p{id}")).into_response())
}
