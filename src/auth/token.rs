//! Access tokens: short-lived HS256 JWTs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{INVALID_TOKEN, Principal};
use crate::domain::{Role, User, UserId};
use crate::error::AppError;

/// Clock skew tolerated on `exp` and `iat`. Small on purpose: tokens live
/// 15 minutes, and every process of a deployment shares one clock source.
const LEEWAY_SECONDS: u64 = 5;

/// What an access token says. Field names are the registered JWT claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// `user` or `admin` at the time of issue.
    pub role: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// A unique id, so one token can be told from another in logs.
    pub jti: String,
    /// Issue time in milliseconds: revocations cut tokens off by it, so a
    /// token issued right after a sign-out in the same second still works.
    #[serde(default, rename = "iatMs")]
    pub iat_ms: i64,
}

impl Claims {
    /// When the token was issued, to the millisecond when it says so: the
    /// instant an account's session cut-off is compared with.
    pub fn issued_at(&self) -> DateTime<Utc> {
        let millis = self.iat_ms.max(self.iat.saturating_mul(1000));
        DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::UNIX_EPOCH)
    }
}

/// A freshly signed access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Signs and verifies access tokens with one secret. Cheap to clone.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenIssuer {
    /// An issuer for HS256 tokens that live `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        super::hs256::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        TokenIssuer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Signs a token for the user's current role.
    ///
    /// # Errors
    /// [`AppError::Internal`] if signing fails (it cannot with an HMAC key).
    pub fn issue(&self, user: &User) -> Result<AccessToken, AppError> {
        self.issue_for(&user.id, user.role, self.ttl)
    }

    /// Signs a token with an explicit lifetime; tests use it to make expired
    /// tokens the honest way, with the real key.
    ///
    /// # Errors
    /// [`AppError::Internal`] if signing fails.
    pub fn issue_for(
        &self,
        user_id: &UserId,
        role: Role,
        ttl: Duration,
    ) -> Result<AccessToken, AppError> {
        self.sign(user_id, role, Utc::now().timestamp(), ttl.as_secs() as i64)
    }

    /// Signs a token issued at `iat` that lives `ttl_secs` (negative values
    /// make an already-expired token, for tests).
    ///
    /// # Errors
    /// [`AppError::Internal`] if signing fails.
    pub fn sign(
        &self,
        user_id: &UserId,
        role: Role,
        iat: i64,
        ttl_secs: i64,
    ) -> Result<AccessToken, AppError> {
        let mut jti = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut jti);
        let now_ms = Utc::now().timestamp_millis();
        let iat_ms = if iat == now_ms.div_euclid(1000) {
            now_ms
        } else {
            iat * 1000
        };
        let claims = Claims {
            iat_ms,
            sub: user_id.to_string(),
            role: role.as_str().to_owned(),
            iat,
            exp: iat + ttl_secs,
            jti: hex::encode(jti),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("signing an access token: {e}")))?;
        Ok(AccessToken {
            token,
            expires_in: ttl_secs.max(0) as u64,
        })
    }

    /// Checks signature, algorithm and expiry, and returns whom the token
    /// claims to speak for. Whether the account still stands behind it is
    /// the `Authenticator`'s question.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] with one message whatever the reason.
    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        self.verify_claims(token).map(|(principal, _)| principal)
    }

    /// Like [`verify`](Self::verify), also returning the claims (the expiry
    /// matters to long-lived connections).
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] with one message whatever the reason.
    pub fn verify_claims(&self, token: &str) -> Result<(Principal, Claims), AppError> {
        let claims = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(reason = %e, "access token refused");
                AppError::Unauthenticated(INVALID_TOKEN)
            })?
            .claims;
        let user_id = UserId::parse(&claims.sub);
        let role = Role::parse(&claims.role);
        match (user_id, role) {
            (Ok(user_id), Ok(role)) => Ok((Principal { user_id, role }, claims)),
            _ => {
                tracing::debug!("access token with a malformed subject or role");
                Err(AppError::Unauthenticated(INVALID_TOKEN))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(SECRET, Duration::from_secs(900))
    }

    #[test]
    fn a_token_verifies_to_its_principal() {
        let id = UserId::generate();
        let token = issuer()
            .issue_for(&id, Role::Admin, Duration::from_secs(60))
            .unwrap();
        let principal = issuer().verify(&token.token).unwrap();
        assert_eq!(
            principal,
            Principal {
                user_id: id,
                role: Role::Admin
            }
        );
        assert_eq!(token.expires_in, 60);
    }

    #[test]
    fn an_expired_token_is_refused_beyond_the_leeway() {
        let id = UserId::generate();
        let now = Utc::now().timestamp();
        let expired = issuer().sign(&id, Role::User, now - 120, 60).unwrap();
        assert!(matches!(
            issuer().verify(&expired.token),
            Err(AppError::Unauthenticated(_))
        ));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = TokenIssuer::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        let token = other
            .issue_for(&UserId::generate(), Role::Admin, Duration::from_secs(60))
            .unwrap();
        assert!(issuer().verify(&token.token).is_err());
    }

    #[test]
    fn the_none_algorithm_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let exp = Utc::now().timestamp() + 600;
        let claims = format!(
            r#"{{"sub":"{}","role":"admin","exp":{exp},"iat":0,"jti":"x"}}"#,
            UserId::generate()
        );
        let forged = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims));
        assert!(issuer().verify(&forged).is_err());
    }

    #[test]
    fn claims_of_the_wrong_type_are_refused() {
        // The type confusion of CVE-2026-25537: exp as a string.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","role":"admin","exp":"9999999999","iat":0,"jti":"x"}}"#,
            UserId::generate()
        ));
        let signing_input = format!("{header}.{claims}");
        let issuer = issuer();
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .unwrap();
        let forged = format!("{signing_input}.{signature}");
        assert!(issuer.verify(&forged).is_err());
    }

    #[test]
    fn the_issue_instant_is_kept_to_the_millisecond() {
        let id = UserId::generate();
        let before = Utc::now().timestamp_millis();
        let token = issuer()
            .issue_for(&id, Role::User, Duration::from_secs(60))
            .unwrap();
        let after = Utc::now().timestamp_millis();
        let (_, claims) = issuer().verify_claims(&token.token).unwrap();
        let issued = claims.issued_at().timestamp_millis();
        assert!(
            (before..=after).contains(&issued),
            "{before} <= {issued} <= {after}"
        );
        let seconds_only = Claims {
            iat_ms: 0,
            ..claims
        };
        assert_eq!(seconds_only.issued_at().timestamp(), seconds_only.iat);
    }

    #[test]
    fn garbage_is_refused_with_one_message() {
        for token in ["", "abc", "a.b.c", "Bearer x"] {
            let error = issuer().verify(token).unwrap_err();
            assert_eq!(error.to_string(), INVALID_TOKEN);
        }
    }
}
