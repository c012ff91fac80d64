//! argon2id password hashing, off the async worker threads.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::AppError;

/// Hashes and verifies passwords on the blocking thread pool.
///
/// Hashing is deliberately slow and memory-hungry (argon2id, 19 MiB, two
/// passes: the OWASP recommendation), so it never runs on an async worker
/// thread, and at most a few hashes run at once: a burst of sign-ins queues
/// here instead of exhausting memory.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when an email is unknown
    /// so that both failures cost the same time.
    decoy_hash: Arc<str>,
}

impl PasswordHasher {
    /// OWASP parameters: m = 19 MiB, t = 2, p = 1.
    pub fn new() -> Self {
        let params =
            Params::new(19 * 1024, 2, 1, None).expect("BUG: constant argon2 parameters are valid");
        Self::with_params(params)
    }

    /// Cheap parameters, so test suites that register hundreds of users stay
    /// fast; the algorithm and code path are the production ones.
    pub fn for_tests() -> Self {
        let params =
            Params::new(1024, 1, 1, None).expect("BUG: constant argon2 parameters are valid");
        Self::with_params(params)
    }

    fn with_params(params: Params) -> Self {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let decoy_hash = argon2
            .hash_password(b"decoy password never matched", &salt)
            .expect("BUG: hashing a constant with a fresh salt cannot fail")
            .to_string();
        PasswordHasher {
            argon2,
            permits: Arc::new(Semaphore::new(parallel)),
            decoy_hash: decoy_hash.into(),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=...`) with a fresh salt.
    ///
    /// # Errors
    /// [`AppError::Internal`] if the blocking pool is gone (shutdown).
    pub async fn hash(&self, password: &Password) -> Result<String, AppError> {
        let argon2 = self.argon2.clone();
        let password = password.clone();
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
        })
        .await
    }

    /// True when the password matches the stored hash. A hash that cannot be
    /// parsed counts as a mismatch (and is logged): the account is unusable,
    /// but that is no reason to fail the request with a 500.
    ///
    /// # Errors
    /// [`AppError::Internal`] if the blocking pool is gone (shutdown).
    pub async fn verify(&self, password: &Password, hash: &str) -> Result<bool, AppError> {
        let argon2 = self.argon2.clone();
        let password = password.clone();
        let hash = hash.to_owned();
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                tracing::error!("a stored password hash cannot be parsed");
                return Ok(false);
            };
            Ok(argon2
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    /// Spends the time of one verification, for unknown emails.
    ///
    /// # Errors
    /// [`AppError::Internal`] if the blocking pool is gone (shutdown).
    pub async fn verify_decoy(&self, password: &Password) -> Result<(), AppError> {
        let decoy = self.decoy_hash.clone();
        self.verify(password, &decoy).await.map(|_| ())
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("password hasher closed")))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("password hashing task failed: {e}")))?
            .map_err(AppError::Internal)
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::for_tests();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify(&password, &hash).await.unwrap());
        let wrong = Password::parse("wrong horse").unwrap();
        assert!(!hasher.verify(&wrong, &hash).await.unwrap());
    }

    #[tokio::test]
    async fn production_parameters_are_the_owasp_ones() {
        let hasher = PasswordHasher::new();
        let hash = hasher
            .hash(&Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn an_unparseable_hash_is_a_mismatch_not_an_error() {
        let hasher = PasswordHasher::for_tests();
        let password = Password::parse("correct horse").unwrap();
        assert!(!hasher.verify(&password, "not a phc string").await.unwrap());
    }
}
