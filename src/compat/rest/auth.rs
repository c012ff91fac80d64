//! `/auth/*`: register, login, refresh, logout.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::AppJson;
use crate::auth::RefreshToken;
use crate::compat::envelope;
use crate::compat::wire::UserBody;
use crate::error::AppError;
use crate::http::AppState;
use crate::services::{Registration, Session, SignIn};

/// `POST /auth/register` body. `role` is read only to refuse it: an account
/// chooses no role at registration, and a client that tries should hear so.
#[derive(Deserialize)]
pub struct RegisterBody {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    role: Option<serde_json::Value>,
}

/// `POST /auth/login` body.
#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// `POST /auth/refresh` and `/auth/logout` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: String,
}

/// The session as `data`.
fn session_data(session: &Session) -> serde_json::Value {
    json!({
        "token": session.access.token,
        "refreshToken": session.refresh.expose(),
        "expiresIn": session.access.expires_in,
        "user": UserBody::from(&session.user),
    })
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

pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<impl IntoResponse, AppError> {
    if body.role.is_some() {
        return Err(AppError::invalid(
            "role",
            "cannot be chosen at registration; accounts start as users",
        ));
    }
    let registration = Registration::parse(&body.name, &body.email, &body.password)?;
    let session = state
        .services
        .accounts
        .register(registration, peer.ip())
        .await?;
    Ok((StatusCode::CREATED, Json(mirrored_session_body(&session))))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AppJson(body): AppJson<LoginBody>,
) -> Result<impl IntoResponse, AppError> {
    let sign_in = SignIn::parse(&body.email, &body.password)?;
    let session = state.services.accounts.login(sign_in, peer.ip()).await?;
    Ok(Json(mirrored_session_body(&session)))
}

pub async fn refresh(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<impl IntoResponse, AppError> {
    let presented = RefreshToken::from_client(&body.refresh_token);
    let session = state.services.accounts.refresh(&presented).await?;
    Ok(Json(envelope::success(session_data(&session))))
}

pub async fn logout(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<impl IntoResponse, AppError> {
    let presented = RefreshToken::from_client(&body.refresh_token);
    state.services.accounts.logout(&presented).await?;
    Ok(Json(envelope::success(json!({ "loggedOut": true }))))
}
