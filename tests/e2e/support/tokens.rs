//! Tokens a client should never get past the door with, made from real ones.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use realtime_dashboard::auth::TokenIssuer;
use realtime_dashboard::domain::{Role, UserId};
use serde_json::{Value, json};

/// The token with the first character of its signature changed.
pub fn with_tampered_signature(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a JWT has three parts");
    let mut chars = signature.chars();
    let first = chars.next().expect("a JWT signature is not empty");
    let replacement = if first == 'A' { 'B' } else { 'A' };
    format!("{signed}.{replacement}{}", chars.as_str())
}

/// The token with its `role` claim raised to `admin` and its signature kept.
pub fn with_forged_admin_role(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url claims"))
            .expect("JSON claims");
    claims["role"] = json!("admin");
    let forged = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{forged}.{}", parts[0], parts[2])
}

/// The token's claims under an `alg: none` header, with no signature.
pub fn unsigned(token: &str) -> String {
    let claims = token.split('.').nth(1).expect("a JWT has three parts");
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT" }).to_string());
    format!("{header}.{claims}.")
}

/// A well-formed, unexpired token for the user, signed with a key the server
/// does not hold.
pub fn signed_with_another_key(user_id: &str) -> String {
    let issuer = TokenIssuer::new(
        b"a-different-secret-of-at-least-32-bytes!",
        Duration::from_secs(900),
    );
    let id = UserId::parse(user_id).expect("a user id");
    let now = chrono::Utc::now().timestamp();
    issuer
        .sign(&id, Role::User, now, 900)
        .expect("signing")
        .token
}
