//! Hand-ins (`crate::handin` of zeroth-core holds their formats), encrypted to and
//! opened with a remote ceremony's ephemeral age key.

use zeroize::Zeroizing;

pub use zeroth_core::handin::*;

use crate::error::{RecordError, Result};

/// Encrypts `plaintext` to the ephemeral recipient with age (binary format).
pub fn encrypt(recipient: &age::x25519::Recipient, plaintext: &[u8]) -> Result<Vec<u8>> {
    age::encrypt(recipient, plaintext).map_err(|e| {
        RecordError::HandInEncrypt {
            detail: e.to_string(),
        }
        .into()
    })
}

/// Why a hand-in's ciphertext could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// It is not encrypted to this ceremony's key.
    NotOurs,
    /// It is not a readable age file.
    Broken(String),
}

/// Decrypts a hand-in's ciphertext with the ceremony's ephemeral identity, in memory.
pub fn decrypt(
    identity: &age::x25519::Identity,
    ciphertext: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, OpenError> {
    use std::io::Read;
    let decryptor =
        age::Decryptor::new_buffered(ciphertext).map_err(|e| OpenError::Broken(e.to_string()))?;
    if decryptor.is_scrypt() {
        return Err(OpenError::NotOurs);
    }
    let mut plain = Zeroizing::new(Vec::with_capacity(MAX_TEXT as usize + 1));
    match decryptor.decrypt(std::iter::once(identity as &dyn age::Identity)) {
        Ok(r) => {
            r.take(MAX_TEXT)
                .read_to_end(&mut plain)
                .map_err(|e| OpenError::Broken(e.to_string()))?;
            Ok(plain)
        }
        Err(age::DecryptError::NoMatchingKeys) => Err(OpenError::NotOurs),
        Err(e) => Err(OpenError::Broken(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_in_opens_only_with_its_ceremony_key() {
        let mine = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let ct = encrypt(&mine.to_public(), b"hello").unwrap();
        assert_eq!(&*decrypt(&mine, &ct).unwrap(), b"hello");
        assert!(matches!(decrypt(&other, &ct), Err(OpenError::NotOurs)));
    }
}
