//! `/auth/*`: register, login, refresh, logout.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppJson;
use crate::auth::RefreshToken;
use crate::compat::envelope;
use crate::domain::User;
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

/// A user as the REST door shows it to itself.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    created_at: DateTime<Utc>,
    last_active: Option<DateTime<Utc>>,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        UserBody {
            id: user.id.to_string(),
            name: user.name.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            role: user.role.as_str(),
            created_at: user.created_at,
            last_active: user.last_active,
        }
    }
}

/// The session envelope; `token` and `user` are mirrored at the top level
/// because the original auth-flow clients read them there.
fn session_body(session: &Session) -> serde_json::Value {
    let user = UserBody::from(&session.user);
    let mut body = envelope::success(json!({
        "token": session.access.token,
        "refreshToken": session.refresh.expose(),
        "expiresIn": session.access.expires_in,
        "user": user,
    }));
    body["token"] = json!(session.access.token);
    body["user"] = json!(user);
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
    Ok((StatusCode::CREATED, Json(session_body(&session))))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AppJson(body): AppJson<LoginBody>,
) -> Result<impl IntoResponse, AppError> {
    let sign_in = SignIn::parse(&body.email, &body.password)?;
    let session = state.services.accounts.login(sign_in, peer.ip()).await?;
    Ok(Json(session_body(&session)))
}

pub async fn refresh(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<impl IntoResponse, AppError> {
    let presented = RefreshToken::from_client(&body.refresh_token);
    let session = state.services.accounts.refresh(&presented).await?;
    let mut response = session_body(&session);
    // Only login and register mirror at the top level.
    if let Some(object) = response.as_object_mut() {
        object.remove("token");
        object.remove("user");
    }
    Ok(Json(response))
}

pub async fn logout(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshBody>,
) -> Result<impl IntoResponse, AppError> {
    let presented = RefreshToken::from_client(&body.refresh_token);
    state.services.accounts.logout(&presented).await?;
    Ok(Json(envelope::success(json!({ "loggedOut": true }))))
}
