//! HS256, the one algorithm access tokens use, as `jsonwebtoken`'s crypto
//! provider: RustCrypto's `hmac` over `sha2`.
//!
//! jsonwebtoken's bundled providers bring every JWT algorithm: `aws_lc_rs`
//! compiles the AWS-LC C library (about 45 s of CPU in a first build, the
//! largest single step after the MongoDB driver), `rust_crypto` compiles RSA
//! and elliptic curves. Tokens here are HS256 only (the issuer validates
//! nothing else), so the provider is one HMAC; any other algorithm is
//! refused as `InvalidAlgorithm`, and JWK helpers are not offered.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::Sha256;

/// The provider; [`install`] makes it the process's.
static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes HS256 the process's JWT crypto. Idempotent; must run before any
/// token is signed or verified (jsonwebtoken otherwise settles on a
/// provider that panics), which [`super::TokenIssuer::new`] sees to.
pub fn install() {
    // Already installed (by an earlier issuer) is the normal case.
    let _ = HS256_ONLY.install_default();
}

/// One key's HMAC state, cloned for each token.
struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(algorithm: Algorithm, key: &[u8]) -> Result<Self> {
        if algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| ErrorKind::InvalidKeyFormat)?;
        Ok(Hs256(mac))
    }

    fn mac_of(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(message);
        mac
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(Hs256::new(*algorithm, key.as_bytes())?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(Hs256::new(*algorithm, key.try_get_as_bytes()?)?))
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.mac_of(message).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Compares in constant time (`verify_slice`).
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        self.mac_of(message)
            .verify_slice(signature)
            .map_err(signature::Error::from_source)
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2: HMAC-SHA-256 of "what do ya want for
    /// nothing?" under the key "Jefe".
    #[test]
    fn signs_as_the_rfc_4231_vector_says() {
        let signer = Hs256::new(Algorithm::HS256, b"Jefe").unwrap();
        let mac = signer.try_sign(b"what do ya want for nothing?").unwrap();
        assert_eq!(
            hex::encode(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(signer.verify(b"what do ya want for nothing?", &mac).is_ok());
        assert!(
            signer
                .verify(b"what do ya want for nothing!", &mac)
                .is_err()
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        for algorithm in [
            Algorithm::HS384,
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            assert!(Hs256::new(algorithm, b"key").is_err(), "{algorithm:?}");
        }
    }
}
