//! The admin dashboard's static files (`frontend-examples/admin-dashboard/`),
//! embedded in the binary at compile time and served at `/dashboard/`, so the
//! page works from any working directory and inside the container, with no
//! npm step and nothing fetched from the internet.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

/// The dashboard's files.
#[derive(RustEmbed)]
#[folder = "frontend-examples/admin-dashboard/"]
#[exclude = "node_modules/*"]
#[exclude = "*.sh"]
struct Assets;

/// The page talks to `/graphql` over HTTP and WebSocket on its own origin and
/// loads nothing from elsewhere.
const DASHBOARD_CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/dashboard` and everything under it.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        // A browser opening the server's address lands on the dashboard.
        .route("/", get(|| async { Redirect::temporary("/dashboard/") }))
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route("/dashboard/", get(|| async { asset("index.html") }))
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

fn asset(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    let mut response = ([(header::CONTENT_TYPE, mime)], file.data.into_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
