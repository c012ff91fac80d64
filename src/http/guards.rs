//! Request guards that no single route owns: what a browser on another site
//! must not be able to make the server do, and what no cache may keep.
//!
//! - [`no_store_private`]: every answer to a signed-in caller, and every
//!   answer that hands out tokens, carries `Cache-Control: no-store`.
//! - [`json_bodies_only`]: a body must say it is JSON, so no cross-site
//!   "simple request" (text/plain, a form, a typeless blob) can sign in or
//!   write: 415 otherwise.
//! - [`websocket_origin`]: a browser may open a WebSocket (or a Socket.IO
//!   transport) only from this server's own origin or one listed in
//!   `CORS_ORIGINS`; WebSockets are not covered by CORS, so the check is ours.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::compat::envelope;

/// Adds `Cache-Control: no-store` to private answers: any request that
/// carried credentials (`Authorization`), and any request that is not an
/// anonymous read (sign-in, registration, refresh and GraphQL POSTs hand out
/// tokens or act for someone). Anonymous `GET`s (the catalogue, the
/// dashboard's files, the API documents) keep their own caching.
pub async fn no_store_private(request: Request, next: Next) -> Response {
    let anonymous_read = matches!(*request.method(), Method::GET | Method::HEAD)
        && !request.headers().contains_key(header::AUTHORIZATION);
    let mut response = next.run(request).await;
    if !anonymous_read {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses (415) a request body that is not declared JSON
/// (`application/json` or `application/*+json`).
///
/// A body without any `Content-Type` is still read as JSON when the request
/// carries no `Origin`: scripts and servers written for the original design
/// do not all send one, and a browser always sends `Origin` on a cross-site
/// write. Socket.IO's own transport (`/socket.io/`) is not JSON and is
/// guarded by [`websocket_origin`] instead.
pub async fn json_bodies_only(request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/socket.io") || !has_body(request.headers()) {
        return next.run(request).await;
    }
    let acceptable = match request.headers().get(header::CONTENT_TYPE) {
        Some(value) => is_json_media_type(value),
        None => !request.headers().contains_key(header::ORIGIN),
    };
    if acceptable {
        return next.run(request).await;
    }
    let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let message = "the body must be JSON: send Content-Type: application/json";
    refusal(request.uri().path(), status, message)
}

/// The allowed origins of browser WebSockets besides the server's own.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins(pub Arc<Vec<String>>);

/// Refuses (403) a WebSocket upgrade or Socket.IO request whose `Origin` is
/// neither this server's own (the `Host` it was reached at) nor listed in
/// `CORS_ORIGINS`. Requests without `Origin` (servers, CLIs, native apps)
/// pass: only browsers send it, and only browsers can be tricked into
/// connecting with someone else's credentials.
pub async fn websocket_origin(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let live = request.headers().contains_key(header::UPGRADE)
        || request.uri().path().starts_with("/socket.io");
    if !live {
        return next.run(request).await;
    }
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return next.run(request).await;
    };
    if origin_allowed(origin, request.headers(), &allowed.0) {
        return next.run(request).await;
    }
    tracing::info!(origin = ?origin, "WebSocket from another origin refused");
    let message = "this origin may not open live connections here (CORS_ORIGINS)";
    refusal(request.uri().path(), StatusCode::FORBIDDEN, message)
}

fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match length {
        Some(length) => length > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// `application/json` or `application/<anything>+json`, any parameters.
fn is_json_media_type(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// Same origin (the origin's host and port are the `Host` the request came
/// to) or listed exactly (scheme, host and port) in `CORS_ORIGINS`.
fn origin_allowed(origin: &HeaderValue, headers: &HeaderMap, allowed: &[String]) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|listed| listed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest)
        .trim_end_matches('/');
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// The error shape of the door the path belongs to, with `message`.
fn refusal(path: &str, status: StatusCode, message: &str) -> Response {
    let mut body = envelope::status_body(status);
    body["message"] = message.into();
    if path.starts_with("/graphql") {
        return (status, Json(envelope::graphql_shaped(&body))).into_response();
    }
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn json_media_types_are_recognised_with_their_parameters() {
        for good in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/graphql-response+json",
        ] {
            assert!(
                is_json_media_type(&HeaderValue::from_static(good)),
                "{good}"
            );
        }
        for bad in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "",
        ] {
            assert!(!is_json_media_type(&HeaderValue::from_static(bad)), "{bad}");
        }
    }

    #[test]
    fn an_origin_is_allowed_when_it_is_the_host_or_listed() {
        let host = headers(&[("host", "dash.example.com:4000")]);
        let listed = vec!["https://admin.example.com".to_owned()];
        let allowed = |origin: &'static str| {
            origin_allowed(&HeaderValue::from_static(origin), &host, &listed)
        };
        assert!(allowed("http://dash.example.com:4000"));
        assert!(allowed("https://admin.example.com"));
        assert!(!allowed("https://evil.example"));
        assert!(!allowed("http://dash.example.com"), "another port");
        assert!(!allowed("null"));
    }

    #[test]
    fn only_declared_or_chunked_bodies_count() {
        assert!(has_body(&headers(&[("content-length", "2")])));
        assert!(!has_body(&headers(&[("content-length", "0")])));
        assert!(has_body(&headers(&[("transfer-encoding", "chunked")])));
        assert!(!has_body(&HeaderMap::new()));
    }
}
