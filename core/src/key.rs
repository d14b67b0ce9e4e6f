//! The public half of an environment's signing key: what every record, log entry, head
//! and hand-in request is verified with, with no HSM at hand.

use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

use crate::error::{RecordError, Result};

/// The public half of an environment's signing key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// The key.
    pub key: p256::PublicKey,
}

impl PublicKey {
    /// Returns the PEM (SubjectPublicKeyInfo) that `openssl` reads.
    pub fn to_pem(&self) -> Result<String> {
        self.key.to_public_key_pem(LineEnding::LF).map_err(|e| {
            RecordError::PublicKeyPemEncode {
                detail: e.to_string(),
            }
            .into()
        })
    }

    /// Parses a PEM public key; `what` names its source in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<PublicKey> {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_pem(pem)
            .map(|key| PublicKey { key })
            .map_err(|_| {
                RecordError::NotAPublicKey {
                    what: what.to_string(),
                }
                .into()
            })
    }

    /// Returns `sha256:` + hex SHA-256 of the DER SubjectPublicKeyInfo, the same value as
    /// `openssl pkey -pubin -outform DER | sha256sum`.
    pub fn fingerprint(&self) -> String {
        let der = self
            .key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(&der)))
    }

    /// Returns true if and only if `sig_der` is a valid ECDSA-P256-SHA256 signature by
    /// this key over `message`.
    ///
    /// Verified by `ring` (the P-256 code BoringSSL uses, about three times as fast as
    /// the `p256` crate here: audit, `check` and `list` verify one signature per entry
    /// or record); `verify_rustcrypto` is the same check in the `p256` crate, which the
    /// tests hold it to.
    pub fn verify(&self, message: &[u8], sig_der: &[u8]) -> bool {
        use p256::elliptic_curve::sec1::ToSec1Point;
        let point = self.key.to_sec1_point(false);
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            point.as_bytes(),
        )
        .verify(message, sig_der)
        .is_ok()
    }

    /// [`PublicKey::verify`] in the `p256` crate (RustCrypto), for cross-checking.
    pub fn verify_rustcrypto(&self, message: &[u8], sig_der: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        let Ok(sig) = p256::ecdsa::Signature::from_der(sig_der) else {
            return false;
        };
        p256::ecdsa::VerifyingKey::from(&self.key)
            .verify(message, &sig)
            .is_ok()
    }
}
