//! The JSON API (`/api/v1`), for the agency systems that read and write
//! paminn's record instead of staff typing things twice. Bearer tokens from
//! `paminn token create`. Errors are 4xx with `{"error": "..."}`.

use super::AppState;
use crate::domain::api_scope::{Refusal, TokenScope};
use crate::domain::{
    AppointmentId, AppointmentKind, ChannelKind, ChannelSet, Language, ParticipantId,
    ParticipantStatus, Phase, PhoneNumber, StaffId, UnitId,
};
use crate::engine::Actor;
use crate::engine::appointments::Upsert;
use crate::engine::reads::Viewed;
use crate::error::{Error, Result};
use crate::store::appointments::{self, Appointment, NewAppointment};
use crate::store::participants::{self, NewParticipant, Participant, parse_first_name};
use crate::store::{journal, units};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;

/// The API's description: OpenAPI 3.1, generated from the handlers below
/// and the types they take and give, so it cannot drift from them.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "paminn API",
        version = "1",
        description = "The JSON API for the agency systems that read and write paminn's record. \
            Bearer tokens from `paminn token create`; errors are 4xx with `{\"error\": \"...\"}`. \
            `start` and `at` are a local time of the participant's (or unit's) zone \
            (`2026-12-10T09:00`) or RFC 3339 with an offset."
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "participants"), (name = "appointments"), (name = "tasks"), (name = "broadcasts"), (name = "outcomes")
    )
)]
struct ApiDoc;

/// The bearer token scheme every operation needs.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "A token from `paminn token create`: read or write, one unit or all, \
                         with an expiry. Without one (or expired, revoked): 401.",
                        ))
                        .build(),
                ),
            );
    }
}

/// The routes and their OpenAPI document, made from one list: a handler
/// is routed only by being listed here, and listing it documents it.
pub fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let (routes, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_participants, create_participant))
        .routes(routes!(get_participant))
        .routes(routes!(get_journal))
        .routes(routes!(list_appointments))
        .routes(routes!(create_appointment))
        .routes(routes!(get_appointment, update_appointment))
        .routes(routes!(cancel_appointment))
        .routes(routes!(record_attendance))
        .routes(routes!(stats))
        .routes(routes!(create_broadcast))
        .routes(routes!(get_broadcast))
        .routes(routes!(unit_outcomes))
        .routes(routes!(unit_trials))
        .routes(routes!(list_tasks))
        .routes(routes!(task_done))
        .routes(routes!(task_reopen))
        .split_for_parts();
    token_refusals(&mut doc);
    (routes, doc)
}

/// The refusals of [`authenticate`], which answers before any handler
/// does, documented on every operation it guards: 401 on all of them, 403
/// on every write (a read-only token).
fn token_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let refusal = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (op, write) in ops {
            let Some(op) = op else { continue };
            let responses = &mut op.responses.responses;
            responses.insert(
                "401".into(),
                refusal("No token, or an expired or revoked one").into(),
            );
            if write {
                responses.insert("403".into(), refusal("The token may only read").into());
            }
        }
    }
}

/// The OpenAPI document (`GET /api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

pub fn router() -> Router<AppState> {
    let (routes, doc) = parts();
    let json: std::sync::Arc<str> = doc
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
        .into();
    routes
        // Public: it describes the API, it holds no data.
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        json.to_string(),
                    )
                }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The body of every API error.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(examples(json!({ "error": "participant 7 not found" })))]
pub struct ApiErrorBody {
    /// What was wrong, in words a developer can act on.
    pub error: String,
}

/// An unknown route under `/api`: a JSON 404 like every other API error.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no such API route: {}", uri.path()) })),
    )
        .into_response()
}

async fn method_not_allowed(method: axum::http::Method) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "error": format!("{method} is not allowed here") })),
    )
        .into_response()
}

/// The first NUL character (U+0000) in a JSON value, by the path of the
/// field that holds it (`location`, `consent[1]`). PostgreSQL cannot store
/// one in text, and no field needs one, so the request is refused naming
/// the field.
fn nul_field(v: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(path.to_string()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_field(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(p)
            } else {
                nul_field(x, &p)
            }
        }),
        _ => None,
    }
}

/// A 400 naming the field with a NUL character.
pub fn nul_refused(field: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": format!("{field} contains a NUL character (U+0000), which is not allowed")
        })),
    )
        .into_response()
}

/// The caller, authenticated by a bearer token. Extracting it enforces the
/// token's scope for the whole request (see [`authenticate`]), so every
/// route that takes it is guarded.
pub struct ApiActor(pub Actor);

/// The token's scope, for handlers whose unit is in the body or query
/// (lists, creation): [`ApiScope::unit`] narrows or refuses.
#[derive(Clone, Copy)]
pub struct ApiScope(pub TokenScope);

impl ApiScope {
    /// `Ok` when data of `unit` is inside the token's scope; otherwise the
    /// same 404 as a thing that does not exist (a unit token learns
    /// nothing about other units).
    pub fn unit(&self, unit: UnitId, what: &str) -> Result<()> {
        if self.0.in_unit(Some(unit)) {
            Ok(())
        } else {
            Err(Error::not_found(what))
        }
    }
}

/// A request's authenticated token, kept in the request's extensions so
/// the checks run once per request however many extractors ask.
#[derive(Clone)]
struct Authed {
    actor: Actor,
    scope: TokenScope,
}

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ApiActor(authenticate(parts, s).await?.actor))
    }
}

impl FromRequestParts<AppState> for ApiScope {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ApiScope(authenticate(parts, s).await?.scope))
    }
}

use crate::store::web::Owned as Target;

/// The thing a path (`/participants/5/journal`, `/api/v1/tasks/7/done`)
/// names by id, if any.
fn target(path: &str) -> Option<(Target, String)> {
    let path = path.trim_start_matches("/api/v1");
    let mut parts = path.trim_start_matches('/').split('/');
    let (kind, id) = (parts.next()?, parts.next()?);
    let n: i64 = id.parse().ok()?;
    let t = match kind {
        "participants" => Target::Participant(n),
        "appointments" => Target::Appointment(n),
        "tasks" => Target::Task(n),
        "broadcasts" => Target::Broadcast(n),
        _ => return None,
    };
    Some((t, id.to_string()))
}

/// The token of a request, checked: known and not revoked (401), not
/// expired (401), not writing with a read-only token (403), and, for a
/// route with an `{id}`, the thing's unit inside the token's unit (404 and
/// `case.denied` otherwise). Every read (GET) is written to the audit log
/// naming the token, as the UI does for a case record: `case.view` on the
/// participant a route is about, `broadcast.view`, or `api.list` for a
/// list.
async fn authenticate(parts: &mut Parts, s: &AppState) -> Result<Authed, Response> {
    if let Some(a) = parts.extensions.get::<Authed>() {
        return Ok(a.clone());
    }
    let unauthorized = |msg: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Bearer")],
            Json(json!({ "error": msg })),
        )
            .into_response()
    };
    let Some(h) = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized("missing Authorization: Bearer <token>"));
    };
    let Some(token) = h.strip_prefix("Bearer ").map(str::trim) else {
        return Err(unauthorized("Authorization must be 'Bearer <token>'"));
    };
    let err = IntoResponse::into_response;
    let mut c = s.engine.db.conn().await.map_err(err)?;
    let Some(t) = crate::store::tokens::verify(&mut c, token)
        .await
        .map_err(err)?
    else {
        return Err(unauthorized("unknown or revoked token"));
    };
    let now = Utc::now();
    let actor = Actor::api(&t.name);
    let writes = !matches!(parts.method, Method::GET | Method::HEAD);
    // Inside `nest("/api/v1", …)` the path arrives without the prefix.
    let route = match parts.uri.path() {
        p if p.starts_with("/api/v1/") => p.to_string(),
        p => format!("/api/v1{p}"),
    };
    let named = target(&route);
    // The unit (and participant) the path's id names; unknown ids are
    // left to the handler's 404.
    let (unit, participant) = match &named {
        Some((tg, _)) => crate::store::web::owner(&mut c, tg).await.map_err(err)?,
        None => (None, None),
    };
    drop(c);
    match t.scope.check(writes, unit, t.expires_at, now) {
        Ok(()) => {}
        Err(Refusal::Expired) => {
            return Err(unauthorized(
                "token expired: ask for a new one (paminn token create)",
            ));
        }
        Err(Refusal::ReadOnly) => {
            return Err((
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "this token may only read" })),
            )
                .into_response());
        }
        Err(Refusal::OtherUnit) => {
            if let Some(p) = participant {
                let v = Viewed::participant("case.denied", p)
                    .with(json!({ "via": "api", "token": t.id, "route": route }));
                s.engine.audit(&actor, now, v).await.map_err(err)?;
            }
            let what = match &named {
                Some((Target::Participant(_), id)) => format!("participant {id}"),
                Some((Target::Appointment(_), id)) => format!("appointment {id}"),
                Some((Target::Task(_), id)) => format!("task {id}"),
                Some((Target::Broadcast(_), id)) => format!("broadcast {id}"),
                None => "it".to_string(),
            };
            return Err(Error::not_found(what).into_response());
        }
    }
    // A protected participant is seen only by the staff named for them; a
    // token is no one's: 403, and the attempt is flagged in the log review.
    if let Some(p) = participant {
        let mut c = s.engine.db.conn().await.map_err(err)?;
        let protected = crate::store::participants::get(&mut c, p)
            .await
            .map_err(err)?
            .protected;
        drop(c);
        if protected {
            let v = Viewed::participant("case.denied", p)
                .with(json!({ "via": "api", "token": t.id, "route": route, "protected": true }));
            s.engine.audit(&actor, now, v).await.map_err(err)?;
            return Err((
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "this participant has a protected identity" })),
            )
                .into_response());
        }
    }
    if !writes {
        let (action, target) = match (participant, &named) {
            (Some(p), _) => ("case.view", format!("participant:{p}")),
            (None, Some((Target::Broadcast(b), _))) => ("broadcast.view", format!("broadcast:{b}")),
            _ => (
                "api.list",
                t.scope
                    .unit
                    .map_or("unit:all".to_string(), |u| format!("unit:{u}")),
            ),
        };
        let v = Viewed::new(action, target).with(
            json!({ "via": "api", "token": t.id, "route": route, "query": parts.uri.query() }),
        );
        s.engine.audit(&actor, now, v).await.map_err(err)?;
    }
    let a = Authed {
        actor,
        scope: t.scope,
    };
    parts.extensions.insert(a.clone());
    Ok(a)
}

/// `Json<T>` whose rejection is our JSON error with the reason.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, s: &S) -> Result<Self, Self::Rejection> {
        // Read as JSON first, so a NUL anywhere is refused naming its field
        // before any handler sees it.
        let v = match Json::<serde_json::Value>::from_request(req, s).await {
            Ok(Json(v)) => v,
            Err(rej) => {
                let status = match &rej {
                    JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::BAD_REQUEST,
                };
                return Err((status, Json(json!({ "error": rej.body_text() }))).into_response());
            }
        };
        if let Some(field) = nul_field(&v, "") {
            let field = if field.is_empty() {
                "the body".to_string()
            } else {
                format!("field '{field}'")
            };
            return Err(nul_refused(&field));
        }
        // With the path of the field at fault ("duration_min: ...").
        serde_path_to_error::deserialize(&v).map(ApiJson).map_err(|e| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!("Failed to deserialize the JSON body into the target type: {e}")
                })),
            )
                .into_response()
        })
    }
}

/// `Query<T>` whose rejection is our JSON error with the reason
/// (`?all=maybe` → 400 naming `all`), and which refuses a NUL.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        if let Some((k, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(nul_refused(&format!("query parameter '{k}'")));
        }
        match Query::<T>::from_request_parts(parts, s).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err((
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": rej.body_text() })),
            )
                .into_response()),
        }
    }
}

/// For a field where `null` means "clear it" and leaving it out means
/// "keep it": absent → `None` (with `#[serde(default)]`), `null` →
/// `Some(None)`, a value → `Some(Some(v))`. (serde_with's `double_option`
/// does the same; one function is not worth a crate.)
/// `duration_min`: any JSON number is read, and one that is not whole
/// minutes from 1 to 24 hours is refused with that reason (2^63 included,
/// which would not even fit an i64).
fn duration<'de, D>(d: D) -> std::result::Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let n = Option::<serde_json::Number>::deserialize(d)?;
    match n {
        None => Ok(None),
        Some(n) => match n.as_i64() {
            Some(m) if (1..=24 * 60).contains(&m) => Ok(Some(m)),
            _ => Err(serde::de::Error::custom(format!(
                "{n} is not a duration: give whole minutes from 1 to 1440 (24 hours)"
            ))),
        },
    }
}

fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn pid(s: &str) -> Result<ParticipantId> {
    s.parse().map_err(Error::Invalid)
}
fn aid(s: &str) -> Result<AppointmentId> {
    s.parse().map_err(Error::Invalid)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UnitQuery {
    /// A unit's name or id; left out: the token's unit, or every unit.
    unit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/participants",
    tag = "participants",
    summary = "List participants",
    params(UnitQuery),
    responses(
        (status = 200, description = "The unit's participants (the token's unit, or `unit`); protected participants are never listed", body = Vec<Participant>),
        (status = 404, description = "An unknown unit, or one outside the token's scope", body = ApiErrorBody),
    )
)]
async fn list_participants(
    State(s): State<AppState>,
    ApiActor(_): ApiActor,
    scope: ApiScope,
    ApiQuery(q): ApiQuery<UnitQuery>,
) -> Result<Json<Vec<Participant>>> {
    let mut c = s.engine.db.conn().await?;
    let unit = match q.unit {
        Some(u) => {
            let id = units::resolve(&mut c, &u).await?.id;
            scope.unit(id, &format!("unit '{u}'"))?;
            Some(id)
        }
        None => scope.0.unit,
    };
    // Protected participants are in no token's list.
    let mut list = participants::list(&mut c, unit).await?;
    list.retain(|p| !p.protected);
    Ok(Json(list))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "unit": "Enhet A", "first_name": "Ali", "phone": "070-123 45 67",
    "language": "sv", "channel": "sms", "consent": ["sms"]
})))]
struct ParticipantIn {
    /// The unit's name or id.
    unit: String,
    /// 1-50 characters, no control or bidi-override characters.
    first_name: String,
    /// A mobile number (SMS go to it); landlines, premium-rate and
    /// toll-free numbers are refused. Not needed on Telegram alone.
    phone: Option<String>,
    /// `sv` (default) or `en`.
    #[serde(default)]
    language: Option<String>,
    /// `sms` (default) or `telegram`.
    #[serde(default)]
    channel: Option<String>,
    /// Required: the channels the participant consented to (`[]` when
    /// none is recorded yet; nothing is sent until one is).
    consent: Vec<String>,
    /// An IANA zone; left out: the unit's.
    #[serde(default)]
    time_zone: Option<String>,
    /// On unless `false`: messages name no place and no person.
    #[serde(default)]
    discreet: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/participants",
    tag = "participants",
    summary = "Add a participant with their consent",
    request_body = ParticipantIn,
    responses(
        (status = 201, description = "Added", body = Participant),
        (status = 404, description = "An unknown unit, or one outside the token's scope", body = ApiErrorBody),
        (status = 422, description = "A field is wrong; the error says which and how", body = ApiErrorBody),
    )
)]
async fn create_participant(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    scope: ApiScope,
    ApiJson(b): ApiJson<ParticipantIn>,
) -> Result<(StatusCode, Json<Participant>)> {
    let unit = {
        let mut c = s.engine.db.conn().await?;
        units::resolve(&mut c, &b.unit).await?
    };
    scope.unit(unit.id, &format!("unit '{}'", b.unit))?;
    let new = NewParticipant {
        unit_id: unit.id,
        first_name: parse_first_name(&b.first_name)?,
        phone: b
            .phone
            .as_deref()
            .map(PhoneNumber::parse_mobile)
            .transpose()
            .map_err(|e| Error::invalid(format!("phone: {e}")))?,
        language: b
            .language
            .as_deref()
            .map_or(Ok(Language::Sv), str::parse)
            .map_err(Error::Invalid)?,
        channel_pref: b
            .channel
            .as_deref()
            .map_or(Ok(ChannelKind::Sms), str::parse)
            .map_err(Error::Invalid)?,
        time_zone: match b.time_zone.as_deref() {
            Some(t) => units::parse_tz(t)?,
            None => unit.time_zone,
        },
        discreet: b.discreet.unwrap_or(true),
        lots_id: None,
    };
    let consent: ChannelSet = b.consent.join(",").parse().map_err(Error::Invalid)?;
    let p = s
        .engine
        .add_participant(&new, Some(consent), &actor, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(
    get,
    path = "/participants/{id}",
    tag = "participants",
    summary = "One participant (audited as a view of the case record)",
    params(("id" = i64, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The participant", body = Participant),
        (status = 404, description = "No such participant, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn get_participant(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Participant>> {
    let id = pid(&id)?;
    let p = s
        .engine
        .read_audited(&actor, Utc::now(), async |c| {
            let p = participants::get(c, id).await?;
            Ok((p, Viewed::participant("participant.view", id)))
        })
        .await?;
    Ok(Json(p))
}

#[utoipa::path(
    get,
    path = "/participants/{id}/journal",
    tag = "participants",
    summary = "The case record: one entry per event",
    params(("id" = i64, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "Oldest first; `detail` by `kind` is the closed set `domain::journal::JournalEvent`, any field may be missing after erasure or purge", body = Vec<journal::Event>),
        (status = 404, description = "No such participant, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn get_journal(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<journal::Event>>> {
    let id = pid(&id)?;
    let events = s
        .engine
        .read_audited(&actor, Utc::now(), async |c| {
            participants::get(c, id).await?;
            let events = journal::list(c, id).await?;
            Ok((events, Viewed::participant("journal.view", id)))
        })
        .await?;
    Ok(Json(events))
}

#[utoipa::path(
    get,
    path = "/participants/{id}/appointments",
    tag = "appointments",
    summary = "A participant's appointments",
    params(("id" = i64, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The appointments", body = Vec<Appointment>),
        (status = 404, description = "No such participant, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn list_appointments(
    State(s): State<AppState>,
    ApiActor(_): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Vec<Appointment>>> {
    let id = pid(&id)?;
    let mut c = s.engine.db.conn().await?;
    participants::get(&mut c, id).await?;
    Ok(Json(appointments::for_participant(&mut c, id, None).await?))
}

fn parse_start(s: &str, tz: Tz) -> Result<DateTime<Utc>> {
    crate::domain::schedule::parse_start(s, tz).map_err(|e| Error::invalid(format!("start: {e}")))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "participant_id": 1, "kind": "meeting", "start": "2027-01-12T10:00",
    "duration_min": 45, "location": "Storgatan 1", "external_ref": "treserva-4711"
})))]
struct AppointmentIn {
    participant_id: i64,
    /// `meeting` (default), `drug_test`, `group_activity` or `other`.
    #[serde(default)]
    kind: Option<String>,
    /// Local time in the participant's zone (`2027-01-12T10:00`) or RFC 3339.
    start: String,
    /// Whole minutes, 1-1440; default 60.
    #[serde(default, deserialize_with = "duration")]
    #[schema(minimum = 1, maximum = 1440)]
    duration_min: Option<i64>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    with_whom: Option<String>,
    /// Staff only; never in a message.
    #[serde(default)]
    internal_note: Option<String>,
    /// The case system's own id: a second request with it updates instead
    /// of booking twice.
    #[serde(default)]
    external_ref: Option<String>,
}

#[utoipa::path(
    post,
    path = "/appointments",
    tag = "appointments",
    summary = "Book an appointment, or update the one with the same `external_ref`",
    request_body = AppointmentIn,
    responses(
        (status = 201, description = "Booked", body = AppointmentResult),
        (status = 200, description = "The `external_ref` was known: `updated` or `unchanged`", body = AppointmentResult),
        (status = 404, description = "No such participant, or outside the token's scope", body = ApiErrorBody),
        (status = 422, description = "A field is wrong; the error says which and how", body = ApiErrorBody),
        (status = 409, description = "The `external_ref` belongs to another participant's appointment", body = ApiErrorBody),
    )
)]
async fn create_appointment(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    scope: ApiScope,
    ApiJson(b): ApiJson<AppointmentIn>,
) -> Result<Response> {
    let id = pid(&b.participant_id.to_string())?;
    let p = {
        let mut c = s.engine.db.conn().await?;
        participants::get(&mut c, id).await?
    };
    scope.unit(p.unit_id, &format!("participant {id}"))?;
    let new = NewAppointment {
        participant_id: id,
        series_id: None,
        kind: b
            .kind
            .as_deref()
            .map_or(Ok(AppointmentKind::Meeting), str::parse)
            .map_err(Error::Invalid)?,
        starts_at: parse_start(&b.start, p.time_zone)?,
        duration_min: b.duration_min.unwrap_or(60),
        location: b.location,
        with_whom: b.with_whom,
        internal_note: b.internal_note,
        external_ref: b.external_ref,
    };
    let (a, what) = s
        .engine
        .upsert_appointment(p.unit_id, &new, &actor, Utc::now())
        .await?;
    let status = if what == Upsert::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AppointmentResult {
            result: what,
            appointment: a,
        }),
    )
        .into_response())
}

/// What a booking did, and the appointment as it is now.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AppointmentResult {
    result: Upsert,
    appointment: Appointment,
}

#[utoipa::path(
    get,
    path = "/appointments/{id}",
    tag = "appointments",
    summary = "One appointment",
    params(("id" = i64, Path, description = "The appointment's id")),
    responses(
        (status = 200, description = "The appointment", body = Appointment),
        (status = 404, description = "No such appointment, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn get_appointment(
    State(s): State<AppState>,
    ApiActor(_): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Appointment>> {
    let mut c = s.engine.db.conn().await?;
    Ok(Json(appointments::get(&mut c, aid(&id)?).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "start": "2027-01-12T13:00", "location": null })))]
struct AppointmentPatch {
    /// A new time re-plans the reminders.
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    #[schema(minimum = 1, maximum = 1440)]
    duration_min: Option<i64>,
    /// `null` clears it; left out keeps it (also `with_whom`,
    /// `internal_note`).
    #[serde(default, deserialize_with = "present")]
    location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    with_whom: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    internal_note: Option<Option<String>>,
}

#[utoipa::path(
    patch,
    path = "/appointments/{id}",
    tag = "appointments",
    summary = "Change an appointment's time or details; a new time re-plans its reminders",
    params(("id" = i64, Path, description = "The appointment's id")),
    request_body = AppointmentPatch,
    responses(
        (status = 200, description = "The appointment as it is now", body = Appointment),
        (status = 404, description = "No such appointment, or outside the token's scope", body = ApiErrorBody),
        (status = 422, description = "A field is wrong; the error says which and how", body = ApiErrorBody),
        (status = 409, description = "The appointment is cancelled: book a new one", body = ApiErrorBody),
    )
)]
async fn update_appointment(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AppointmentPatch>,
) -> Result<Json<Appointment>> {
    let id = aid(&id)?;
    let (old, p) = {
        let mut c = s.engine.db.conn().await?;
        let a = appointments::get(&mut c, id).await?;
        let p = participants::get(&mut c, a.participant_id).await?;
        (a, p)
    };
    let now = Utc::now();
    let starts_at = b
        .start
        .as_deref()
        .map(|t| parse_start(t, p.time_zone))
        .transpose()?;
    let new = NewAppointment {
        participant_id: old.participant_id,
        series_id: old.series_id,
        kind: b
            .kind
            .as_deref()
            .map_or(Ok(old.kind), str::parse)
            .map_err(Error::Invalid)?,
        starts_at: starts_at.unwrap_or(old.starts_at),
        duration_min: b.duration_min.unwrap_or(old.duration_min),
        location: b.location.unwrap_or(old.location.clone()),
        with_whom: b.with_whom.unwrap_or(old.with_whom.clone()),
        internal_note: b.internal_note.unwrap_or(old.internal_note.clone()),
        external_ref: old.external_ref.clone(),
    };
    let (a, _) = s.engine.update_appointment(id, &new, &actor, now).await?;
    Ok(Json(a))
}

#[utoipa::path(
    post,
    path = "/appointments/{id}/cancel",
    tag = "appointments",
    summary = "Cancel an appointment (its pending reminders are cancelled)",
    params(("id" = i64, Path, description = "The appointment's id")),
    responses(
        (status = 200, description = "The cancelled appointment", body = Appointment),
        (status = 404, description = "No such appointment, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn cancel_appointment(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Appointment>> {
    Ok(Json(
        s.engine
            .cancel_appointment(aid(&id)?, &actor, Utc::now())
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "attendance": "attended" })))]
struct AttendanceIn {
    /// `attended`, `absent`, `excused` or `unknown` (undo).
    attendance: String,
}

#[utoipa::path(
    post,
    path = "/appointments/{id}/attendance",
    tag = "appointments",
    summary = "Record attendance (staff only ever; never automatic)",
    params(("id" = i64, Path, description = "The appointment's id")),
    request_body = AttendanceIn,
    responses(
        (status = 200, description = "The appointment with its attendance", body = Appointment),
        (status = 404, description = "No such appointment, or outside the token's scope", body = ApiErrorBody),
        (status = 422, description = "A field is wrong; the error says which and how", body = ApiErrorBody),
        (status = 409, description = "The appointment has not started yet, or was cancelled", body = ApiErrorBody),
    )
)]
async fn record_attendance(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AttendanceIn>,
) -> Result<Json<Appointment>> {
    let a = b.attendance.parse().map_err(Error::Invalid)?;
    Ok(Json(
        s.engine
            .record_attendance(aid(&id)?, a, &actor, Utc::now())
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/participants/{id}/stats",
    tag = "participants",
    summary = "Show-up and reply rates over 4 and 12 weeks",
    params(("id" = i64, Path, description = "The participant's id")),
    responses(
        (status = 200, description = "The rates", body = Stats),
        (status = 404, description = "No such participant, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn stats(
    State(s): State<AppState>,
    ApiActor(_): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<Stats>> {
    let id = pid(&id)?;
    {
        let mut c = s.engine.db.conn().await?;
        participants::get(&mut c, id).await?;
    }
    let now = Utc::now();
    Ok(Json(Stats {
        participant: id,
        weeks_4: s.engine.rates(id, 4, now).await?,
        weeks_12: s.engine.rates(id, 12, now).await?,
    }))
}

/// A participant's show-up and reply rates.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Stats {
    participant: ParticipantId,
    weeks_4: crate::engine::record::Rates,
    weeks_12: crate::engine::record::Rates,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct OutcomeQuery {
    /// First day, `YYYY-MM-DD` in the unit's time zone; default 90 days
    /// before `to`.
    from: Option<String>,
    /// Last day (inclusive); default today.
    to: Option<String>,
    /// Fewest distinct people a cell shows (default 5).
    min: Option<u32>,
}

fn unit_id(id: &str) -> Result<UnitId> {
    id.parse::<i64>()
        .map(UnitId::from_db)
        .map_err(|_| Error::not_found("unit"))
}

/// A unit's outcome report (issue 21): `web::ui::outcomes`' tables as
/// JSON, suppression applied. Audited as `outcomes.view`.
#[utoipa::path(
    get,
    path = "/units/{id}/outcomes",
    tag = "outcomes",
    summary = "A unit's outcome report: show-up rates by kind, channel, reply, time since start and rule change",
    params(("id" = i64, Path, description = "The unit's id"), OutcomeQuery),
    responses(
        (status = 200, description = "The report; cells with fewer people than `min` (and their complements) are hidden with the reason", body = crate::engine::outcomes::OutcomeReport),
        (status = 404, description = "No such unit, or outside the token's scope", body = ApiErrorBody),
        (status = 422, description = "A date is wrong; the error says which", body = ApiErrorBody),
    )
)]
async fn unit_outcomes(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    scope: ApiScope,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<OutcomeQuery>,
) -> Result<Json<crate::engine::outcomes::OutcomeReport>> {
    let unit = unit_id(&id)?;
    scope.unit(unit, "unit")?;
    let tz = {
        let mut c = s.engine.db.conn().await?;
        units::get(&mut c, unit).await?.time_zone
    };
    let now = Utc::now();
    let day = |v: &Option<String>, default: chrono::NaiveDate| match v.as_deref() {
        None => Ok(default),
        Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| Error::invalid(format!("'{v}' is not a date; write YYYY-MM-DD"))),
    };
    let to = day(&q.to, now.with_timezone(&tz).date_naive())?;
    let from = day(&q.from, to - chrono::Duration::days(90))?;
    let at = |d: chrono::NaiveDate| {
        crate::domain::schedule::resolve_local(d.and_hms_opt(0, 0, 0).unwrap_or_default(), tz)
    };
    Ok(Json(
        s.engine
            .outcome_report(
                &actor,
                now,
                unit,
                at(from),
                at(to + chrono::Duration::days(1)),
                q.min.unwrap_or(crate::domain::outcomes::DEFAULT_MIN_PEOPLE),
            )
            .await?,
    ))
}

/// A unit's trials with each arm's show-up rate, interval and verdict.
#[utoipa::path(
    get,
    path = "/units/{id}/trials",
    tag = "outcomes",
    summary = "A unit's trials with each arm's show-up rate, interval and verdict",
    params(("id" = i64, Path, description = "The unit's id")),
    responses(
        (status = 200, description = "The trials, newest first", body = Vec<crate::engine::outcomes::TrialResult>),
        (status = 404, description = "No such unit, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn unit_trials(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    scope: ApiScope,
    Path(id): Path<String>,
) -> Result<Json<Vec<crate::engine::outcomes::TrialResult>>> {
    let unit = unit_id(&id)?;
    scope.unit(unit, "unit")?;
    Ok(Json(
        s.engine
            .trial_results(
                &actor,
                Utc::now(),
                unit,
                crate::domain::outcomes::DEFAULT_MIN_PEOPLE,
            )
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskQuery {
    /// Only this participant's tasks.
    participant: Option<String>,
    /// Done ones too.
    #[serde(default)]
    all: bool,
}

#[utoipa::path(
    get,
    path = "/tasks",
    tag = "tasks",
    summary = "Open tasks (all with `all=true`)",
    params(TaskQuery),
    responses(
        (status = 200, description = "The tasks in the token's scope; protected participants' tasks are never listed", body = Vec<crate::store::tasks::Task>),
        (status = 422, description = "A field is wrong; the error says which and how", body = ApiErrorBody),
    )
)]
async fn list_tasks(
    State(s): State<AppState>,
    ApiActor(_): ApiActor,
    scope: ApiScope,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<Vec<crate::store::tasks::Task>>> {
    let p = q.participant.as_deref().map(pid).transpose()?;
    let mut c = s.engine.db.conn().await?;
    let mut list = crate::store::tasks::list(&mut c, p, !q.all).await?;
    let hidden = crate::store::protection::hidden_for(&mut c, None).await?;
    list.retain(|t| scope.0.in_unit(Some(t.unit_id)) && !hidden.contains(&t.participant_id));
    Ok(Json(list))
}

async fn set_task(
    s: &AppState,
    actor: &Actor,
    id: &str,
    done: bool,
) -> Result<Json<crate::store::tasks::Task>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::invalid(format!("'{id}' is not a task id")))?;
    Ok(Json(
        s.engine.set_task_done(id, done, actor, Utc::now()).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/tasks/{id}/done",
    tag = "tasks",
    summary = "Mark a task done",
    params(("id" = i64, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = crate::store::tasks::Task),
        (status = 404, description = "No such task, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn task_done(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<crate::store::tasks::Task>> {
    set_task(&s, &actor, &id, true).await
}

#[utoipa::path(
    post,
    path = "/tasks/{id}/reopen",
    tag = "tasks",
    summary = "Reopen a task",
    params(("id" = i64, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = crate::store::tasks::Task),
        (status = 404, description = "No such task, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn task_reopen(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<crate::store::tasks::Task>> {
    set_task(&s, &actor, &id, false).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "group": 1, "sv": "Gruppen i morgon börjar 14:00.",
    "en": "Tomorrow's group starts at 14:00.", "key": "change-2027-01-12"
})))]
struct BroadcastIn {
    /// The group: its current members get it.
    #[serde(default)]
    group: Option<i64>,
    /// Instead of a group: a unit (name or id), narrowed by the fields
    /// below (each left out: any).
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    status: Option<ParticipantStatus>,
    #[serde(default)]
    lots: Option<i64>,
    #[serde(default)]
    phase: Option<Phase>,
    sv: String,
    en: String,
    /// RFC 3339, or local time of the unit (2026-12-01T09:00).
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    urgent: bool,
    /// An appointment id: members answer on their own appointment of it.
    #[serde(default)]
    activity: Option<i64>,
    /// The idempotency key, if not given as an `Idempotency-Key` header.
    #[serde(default)]
    key: Option<String>,
}

/// Plans a broadcast. 201 when created; 200 with the same broadcast when
/// the key (header `Idempotency-Key` or field `key`) was used before.
#[utoipa::path(
    post,
    path = "/broadcasts",
    tag = "broadcasts",
    summary = "Plan a broadcast to a group, or to a unit narrowed by status, lots and phase",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a repeat return the first broadcast (also the `key` field)")),
    request_body = BroadcastIn,
    responses(
        (status = 201, description = "Planned", body = crate::engine::broadcasts::Planned),
        (status = 200, description = "The key was used before: the same broadcast, nothing new planned", body = crate::engine::broadcasts::Planned),
        (status = 404, description = "An unknown group or unit, or one outside the token's scope", body = ApiErrorBody),
        (status = 422, description = "A field is wrong; the error says which and how", body = ApiErrorBody),
    )
)]
async fn create_broadcast(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    scope: ApiScope,
    headers: axum::http::HeaderMap,
    ApiJson(b): ApiJson<BroadcastIn>,
) -> Result<(StatusCode, Json<crate::engine::broadcasts::Planned>)> {
    use crate::engine::broadcasts::{Audience, BroadcastRequest};
    let header_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| Error::invalid("Idempotency-Key must be text"))
        })
        .transpose()?;
    let key = match (header_key, b.key) {
        (Some(h), Some(k)) if h != k => {
            return Err(Error::invalid(
                "the Idempotency-Key header and the key field differ",
            ));
        }
        (h, k) => h.or(k),
    };
    let filtered = b.status.is_some() || b.lots.is_some() || b.phase.is_some();
    let mut c = s.engine.db.conn().await?;
    let (audience, tz) = match (b.group, b.unit) {
        (Some(g), None) if !filtered => {
            let group = crate::domain::GroupId::from_db(g);
            let (unit, _) = crate::store::broadcasts::group(&mut c, group).await?;
            scope.unit(unit, &format!("group {g}"))?;
            (
                Audience::Group(group),
                units::get(&mut c, unit).await?.time_zone,
            )
        }
        (None, Some(u)) => {
            let u = {
                let found = units::resolve(&mut c, &u).await?;
                scope.unit(found.id, &format!("unit '{u}'"))?;
                found
            };
            let a = Audience::Filter {
                unit: u.id,
                status: b.status,
                lots: b.lots.map(StaffId::from_db),
                phase: b.phase,
            };
            (a, u.time_zone)
        }
        (Some(_), _) => {
            return Err(Error::invalid(
                "give either group, or unit with status / lots / phase; a group takes no filter",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                "missing field: give group, or unit with status / lots / phase",
            ));
        }
    };
    drop(c);
    let send_at = match b.at.as_deref() {
        Some(at) => Some(
            crate::domain::schedule::parse_start(at, tz)
                .map_err(|e| Error::invalid(format!("at: {e}")))?,
        ),
        None => None,
    };
    let req = BroadcastRequest {
        audience,
        text_sv: b.sv,
        text_en: b.en,
        send_at,
        urgent: b.urgent,
        activity: b.activity.map(AppointmentId::from_db),
        key,
    };
    let p = s.engine.plan_broadcast(&req, &actor, Utc::now()).await?;
    let status = if p.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(p)))
}

#[utoipa::path(
    get,
    path = "/broadcasts/{id}",
    tag = "broadcasts",
    summary = "A broadcast's progress, skipped by reason, and its tally",
    params(("id" = i64, Path, description = "The broadcast's id")),
    responses(
        (status = 200, description = "The broadcast", body = crate::engine::broadcasts::BroadcastStatus),
        (status = 404, description = "No such broadcast, or outside the token's scope", body = ApiErrorBody),
    )
)]
async fn get_broadcast(
    State(s): State<AppState>,
    ApiActor(_): ApiActor,
    Path(id): Path<String>,
) -> Result<Json<crate::engine::broadcasts::BroadcastStatus>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::invalid(format!("'{id}' is not a broadcast id")))?;
    Ok(Json(s.engine.broadcast_status(id).await?))
}
