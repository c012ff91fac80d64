//! `/users`: account administration over REST.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppJson;
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::openapi::{ErrorEnvelope, UserEnvelope};
use crate::compat::wire::UserBody;
use crate::domain::UserId;
use crate::error::AppError;
use crate::services::Services;

/// `PATCH /users/:id` body.
#[derive(Deserialize, ToSchema)]
pub struct UpdateUserBody {
    /// `false` deactivates the account, `true` reactivates it.
    active: bool,
}

/// Deactivates or reactivates an account (admins).
///
/// A deactivated account cannot sign in, its refresh tokens are revoked,
/// its access tokens are refused at every door, and its open connections
/// end with `session_ended {reason: "deactivated"}`; its data stays.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The account id")),
    request_body = UpdateUserBody,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The account as it is now", body = UserEnvelope),
        (status = 400, description = "A malformed id or body", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 403, description = "Not an admin, or the admin's own account", body = ErrorEnvelope),
        (status = 404, description = "No such account", body = ErrorEnvelope),
    )
)]
pub async fn update_user(
    State(services): State<Services>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateUserBody>,
) -> Result<impl IntoResponse, AppError> {
    let id = UserId::parse(&id).map_err(|e| e.on("id"))?;
    let user = services
        .accounts
        .set_active(&principal, &id, body.active)
        .await?;
    Ok(Json(envelope::success(UserBody::from(&user))))
}
