//! A software P-256 key standing in for an environment's HSM key, for the benchmark
//! fixtures: what they write verifies with its public key exactly as with an HSM's.

use p256::ecdsa::signature::Signer;
use zeroth::audit::LogSigner;
use zeroth::key::PublicKey;

/// A P-256 key derived from a fixed seed byte, so fixtures are reproducible.
pub struct SoftKey {
    key: p256::ecdsa::SigningKey,
    /// Its public half.
    pub public: PublicKey,
}

impl SoftKey {
    /// The key whose scalar is 32 times `seed`.
    pub fn from_seed(seed: u8) -> SoftKey {
        let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a valid scalar");
        SoftKey {
            public: PublicKey {
                key: p256::PublicKey::from(key.verifying_key()),
            },
            key,
        }
    }
}

impl LogSigner for SoftKey {
    fn fingerprint(&self) -> String {
        self.public.fingerprint()
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> zeroth::Result<Vec<u8>> {
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}
