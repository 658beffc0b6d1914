//! The sandbox phone (`paminn demo` only): every participant's messages as
//! a chat, what is planned next, and a box to answer as that participant.
//! Answers take the same inbound path as a real gateway's webhook. Behind
//! the staff login like every other page; 404 outside the demo. A phone
//! is the participant's case: it is shown, read and answered only with full
//! access to the case record (`ui::case`, the same rule as the record;
//! 403 and a `case.denied` audit row otherwise).

use super::{Me, Posted, Ui, UiError, local_dt, render, see_other};
use crate::domain::access::CaseAccess;
use crate::domain::{OutboxStatus, ParticipantId};
use crate::store::{outbox, participants, sandbox};
use crate::web::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sandbox", get(page))
        .route("/sandbox/{id}/messages", get(messages))
        .route("/sandbox/{id}/reply", post(reply))
        .route("/sandbox/{id}/next-now", post(next_now))
        .route(
            "/static/sandbox.js",
            get(|| async { super::script(include_str!("../../../templates/ui/sandbox.js")) }),
        )
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
    channel: String,
    bubbles: Vec<Bubble>,
    next: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/sandbox.html")]
struct Page {
    ui: Ui,
    phones: Vec<Phone>,
}

fn demo_only(me: &Me) -> Result<(), UiError> {
    if me.demo {
        Ok(())
    } else {
        Err(UiError::not_found(me.lang))
    }
}

fn err(me: &Me) -> impl Fn(crate::error::Error) -> UiError + '_ {
    move |e| UiError::from_engine(e, me.lang)
}

async fn page(State(s): State<AppState>, me: Me) -> Result<Response, UiError> {
    demo_only(&me)?;
    let mut c = s.engine.db.conn().await.map_err(err(&me))?;
    let mut phones = Vec::new();
    for p in participants::list(&mut c, None).await.map_err(err(&me))? {
        let access = me.access_to(p.id, p.unit_id, p.lots_id);
        if p.erased || access != CaseAccess::Full {
            continue;
        }
        let bubbles = sandbox::for_participant(&mut c, p.id)
            .await
            .map_err(err(&me))?
            .into_iter()
            .map(|m| Bubble {
                outgoing: m.direction == "out",
                body: m.body,
                at: local_dt(me.lang, m.at, p.time_zone),
            })
            .collect();
        let next = outbox::list(&mut c, Some(p.id))
            .await
            .map_err(err(&me))?
            .into_iter()
            .filter(|r| r.status == OutboxStatus::Pending)
            .take(3)
            .map(|r| local_dt(me.lang, r.next_attempt_at, p.time_zone))
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
            channel: p.channel_pref.to_string(),
            bubbles,
            next,
        });
    }
    Ok(render(&Page {
        ui: me.ui("/sandbox"),
        phones,
    }))
}

#[derive(serde::Serialize)]
struct MessageOut {
    outgoing: bool,
    body: String,
    at: String,
}

fn parse_id(me: &Me, id: &str) -> Result<ParticipantId, UiError> {
    id.parse().map_err(|_| UiError::not_found(me.lang))
}

/// The participant behind a phone, when `me` has full access to their case
/// (403 otherwise, audited by `ui::case`).
async fn full_case(
    s: &AppState,
    me: &Me,
    id: ParticipantId,
) -> Result<crate::store::participants::Participant, UiError> {
    match super::case(s, me, id, false).await? {
        (p, CaseAccess::Full) => Ok(p),
        _ => Err(UiError::forbidden(me.lang)),
    }
}

async fn messages(
    State(s): State<AppState>,
    me: Me,
    Path(id): Path<String>,
) -> Result<Json<Vec<MessageOut>>, UiError> {
    demo_only(&me)?;
    let id = parse_id(&me, &id)?;
    let p = full_case(&s, &me, id).await?;
    let mut c = s.engine.db.conn().await.map_err(err(&me))?;
    Ok(Json(
        sandbox::for_participant(&mut c, id)
            .await
            .map_err(err(&me))?
            .into_iter()
            .map(|m| MessageOut {
                outgoing: m.direction == "out",
                body: m.body,
                at: local_dt(me.lang, m.at, p.time_zone),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct NoFields {}

/// "Skicka nästa nu": the phone's next pending message goes out at once.
async fn next_now(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<NoFields>,
) -> Result<Response, UiError> {
    let me = &p.me;
    demo_only(me)?;
    let id = parse_id(me, &id)?;
    full_case(&s, me, id).await?;
    s.engine
        .send_next_now_in_demo(id, Utc::now())
        .await
        .map_err(err(me))?;
    Ok(see_other(&format!("/sandbox#p{id}")))
}

#[derive(Deserialize)]
struct ReplyForm {
    text: String,
}

async fn reply(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Posted<ReplyForm>,
) -> Result<Response, UiError> {
    let me = &p.me;
    demo_only(me)?;
    let id = parse_id(me, &id)?;
    let participant = full_case(&s, me, id).await?;
    let text = p.form.text.trim();
    let back = format!("/sandbox#p{id}");
    if text.is_empty() {
        return Ok(see_other(&back));
    }
    if text.chars().count() > 1000 {
        return Err(UiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            me.lang,
            "a reply is at most 1000 characters",
        ));
    }
    s.engine
        .receive_on_sandbox_phone(&participant, text, Utc::now())
        .await
        .map_err(err(me))?;
    Ok(see_other(&back).into_response())
}
