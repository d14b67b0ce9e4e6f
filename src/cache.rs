//! The verified-record cache: the SHA-256 digests of record files whose signatures
//! verified with an environment's pinned key, so `list` does not verify an unchanged
//! record again each time it runs.
//!
//! The store is untrusted input, so the cache lives outside it, per user beside the
//! trust file's kind of state: `$XDG_CACHE_HOME/zeroth/verified/<key>.bin`, else
//! `~/.cache/zeroth/verified/<key>.bin`, one file per public key (named by its
//! fingerprint). A record counts as verified only when the bytes read from the store
//! now hash to a digest the file holds; any other record is verified in full. A
//! missing, damaged or unwritable cache only costs time. The cache vouches for what
//! this user's zeroth verified before, no more than the trust file (in the same home)
//! vouches for the key: whoever can write either can mislead this user's `list`, and
//! `check` and the ceremonies never read it.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::hsm::PublicKey;

const MAGIC: &[u8] = b"zeroth-verified-records-v1\n";

/// The SHA-256 of a record file's bytes.
pub type RecordDigest = [u8; 32];

/// Returns the digest the cache keeps for a record file's bytes.
pub fn digest(bytes: &[u8]) -> RecordDigest {
    Sha256::digest(bytes).into()
}

/// The verified digests of one key: those read from the cache file, and those
/// verified (or found there) by this run.
pub struct Verified {
    path: Option<PathBuf>,
    fingerprint: String,
    known: HashSet<RecordDigest>,
    seen: HashSet<RecordDigest>,
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return Some(dir.join("zeroth").join("verified"));
        }
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".cache/zeroth/verified"))
}

impl Verified {
    /// Reads the cache of `key`; empty when there is none or it does not read back.
    pub fn open(key: &PublicKey) -> Verified {
        let fingerprint = key.fingerprint();
        let name = fingerprint.trim_start_matches("sha256:").to_string();
        let path = cache_dir().map(|d| d.join(format!("{name}.bin")));
        let mut known = HashSet::new();
        if let Some(bytes) = path
            .as_deref()
            .and_then(|p| crate::store::read_regular(p).ok())
        {
            let header = format!("{}{fingerprint}\n", String::from_utf8_lossy(MAGIC));
            if let Some(rest) = bytes.strip_prefix(header.as_bytes()) {
                if rest.len() % 32 == 0 {
                    known.extend(rest.chunks_exact(32).map(|c| {
                        let mut d = [0u8; 32];
                        d.copy_from_slice(c);
                        d
                    }));
                }
            }
        }
        Verified {
            path,
            fingerprint,
            known,
            seen: HashSet::new(),
        }
    }

    /// Returns true if a record file with this digest verified before.
    pub fn contains(&self, d: &RecordDigest) -> bool {
        self.known.contains(d)
    }

    /// Notes a record file that verified in this run.
    pub fn note(&mut self, d: RecordDigest) {
        self.seen.insert(d);
    }

    /// Writes the digests this run verified, replacing the file (records changed or
    /// deleted since drop out); nothing when they are what the file holds. Failures are
    /// ignored: the next run verifies in full.
    pub fn save(self) {
        let Some(path) = self.path else { return };
        if self.seen == self.known {
            return;
        }
        let Some(dir) = path.parent() else { return };
        let _ = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
            let mut digests: Vec<&RecordDigest> = self.seen.iter().collect();
            digests.sort();
            let mut out = Vec::with_capacity(MAGIC.len() + 80 + digests.len() * 32);
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(self.fingerprint.as_bytes());
            out.push(b'\n');
            for d in digests {
                out.extend_from_slice(d);
            }
            tmp.write_all(&out)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
    }
}
