//! How zeroth names things: the fingerprint of signed bytes (records, requests,
//! hand-ins) and fresh random ids (seals, keys, ceremonies).

use sha2::{Digest, Sha256};

use crate::error::{RecordError, Result};

/// `sha256:` + hex SHA-256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Returns a fresh 128-bit id from the OS random generator.
pub fn random_id() -> Result<[u8; 16]> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|source| RecordError::RandomFailed { source })?;
    Ok(id)
}
