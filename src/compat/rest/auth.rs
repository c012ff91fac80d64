//! `/auth/*`: register, login, refresh, logout.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::AppJson;
use crate::auth::RefreshToken;
use crate::client_addr::ClientIp;
use crate::compat::envelope;
use crate::compat::openapi::{
    ErrorEnvelope, LoggedOutEnvelope, MirroredSessionEnvelope, SessionEnvelope,
};
use crate::compat::wire::SessionBody;
use crate::error::AppError;
use crate::services::{Registration, Services, Session, SignIn};

/// `POST /auth/register` body. A `role` is accepted and ignored: accounts
/// start as users whatever the payload says, and clients written for the
/// original design send `role: "user"`.
#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    name: String,
    #[schema(format = Email)]
    email: String,
    /// At least 8 characters.
    #[schema(format = Password)]
    password: String,
    /// Not documented as a field: any `role` is ignored (the account is a user).
    #[serde(default)]
    #[schema(ignore)]
    role: Option<serde_json::Value>,
}

/// `POST /auth/login` body.
#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    #[schema(format = Email)]
    email: String,
    #[schema(format = Password)]
    password: String,
}

/// `POST /auth/refresh` and `/auth/logout` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    /// The refresh token of the session (single-use).
    refresh_token: String,
}

/// The session as `data`.
fn session_data(session: &Session) -> serde_json::Value {
    json!(SessionBody::from(session))
}

/// The session envelope of login and register, with `token` and `user`
/// mirrored at the top level because the original auth-flow clients read
/// them there.
fn mirrored_session_body(session: &Session) -> serde_json::Value {
    let data = session_data(session);
    let mut body = envelope::success(&data);
    body["token"] = data["token"].clone();
    body["user"] = data["user"].clone();
    body
}

/// Creates an account and signs it in.
///
/// Accounts always start as `user`; a `role` in the body is ignored.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The account, signed in", body = MirroredSessionEnvelope),
        (status = 400, description = "A malformed body, a bad email or a short password", body = ErrorEnvelope),
        (status = 409, description = "The email is taken", body = ErrorEnvelope),
        (status = 429, description = "Too many attempts from this address", body = ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn register(
    State(services): State<Services>,
    ClientIp(client): ClientIp,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<impl IntoResponse, AppError> {
    if let Some(role) = body.role.as_ref().filter(|role| **role != json!("user")) {
        tracing::info!(%role, "registration asked for a role; the account starts as a user");
    }
    let registration = Registration::parse(&body.name, &body.email, &body.password)?;
    let session = services.accounts.register(registration, client).await?;
    Ok((StatusCode::CREATED, Json(mirrored_session_body(&session))))
}

/// Signs in with email and password.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = MirroredSessionEnvelope),
        (status = 400, description = "A malformed body", body = ErrorEnvelope),
        (status = 401, description = "Wrong credentials (one message for an unknown email and a wrong password)", body = ErrorEnvelope),
        (status = 429, description = "Too many attempts from this address or for this account", body = ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn login(
    State(services): State<Services>,
    ClientIp(client): ClientIp,
    AppJson(body): AppJson<LoginBody>,
) -> Result<impl IntoResponse, AppError> {
    let sign_in = SignIn::parse(&body.email, &body.password)?;
    let session = services.accounts.login(sign_in, client).await?;
    Ok(Json(mirrored_session_body(&session)))
}

/// Exchanges a refresh token for a new session.
///
/// The refresh token rotates: presenting an already used one revokes every
/// token of that sign-in (409), and its sockets hear `session_ended`.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new session", body = SessionEnvelope),
        (status = 400, description = "A malformed body", body = ErrorEnvelope),
        (status = 401, description = "An unknown, expired or revoked refresh token", body = ErrorEnvelope),
        (status = 409, description = "The refresh token was already used: the whole session is revoked", body = ErrorEnvelope),
    )
)]
pub async fn refresh(
    State(services): State<Services>,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<impl IntoResponse, AppError> {
    let presented = RefreshToken::from_client(&body.refresh_token);
    let session = services.accounts.refresh(&presented).await?;
    Ok(Json(envelope::success(session_data(&session))))
}

/// Signs out: revokes the session of a refresh token.
///
/// Idempotent: an unknown or already revoked token also answers success.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "Signed out", body = LoggedOutEnvelope),
        (status = 400, description = "A malformed body", body = ErrorEnvelope),
    )
)]
pub async fn logout(
    State(services): State<Services>,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<impl IntoResponse, AppError> {
    let presented = RefreshToken::from_client(&body.refresh_token);
    services.accounts.logout(&presented).await?;
    Ok(Json(envelope::success(json!({ "loggedOut": true }))))
}
