//! REST routes of the original design, at their documented paths and again
//! under `/api/v1`.

mod auth;
mod extract;

use axum::Router;
use axum::routing::post;

pub use extract::AppJson;

use crate::http::AppState;

/// The REST routes, mounted at `/` and `/api/v1`.
pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout));
    Router::new().merge(routes.clone()).nest("/api/v1", routes)
}
