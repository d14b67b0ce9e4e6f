//! The cache of `list`: what it computed from records and logs that verified with an
//! environment's pinned key, so it does not verify and parse an unchanged record, nor
//! read an unchanged log, again each time it runs.
//!
//! The store is untrusted input, so the cache lives outside it, per user beside the
//! trust file's kind of state: `$XDG_CACHE_HOME/zeroth/list/<key>/<store>/`, else
//! `~/.cache/zeroth/list/<key>/<store>/`, one directory per public key (named by its
//! fingerprint) and store directory (the first 16 hex digits of the SHA-256 of its
//! canonical path: two checkouts of one store keep a cache each), holding
//!
//! - `rows.bin`: for each record file whose signature verified with the key, the
//!   SHA-256 of the file's bytes and the row `list` made of it, each row encoded on its
//!   own (so opening the cache costs an index of digests, and a row is decoded by the
//!   thread that found its file unchanged). A record's row is used only when the bytes
//!   read from the store now hash to that digest (and it decodes to its last byte, and
//!   names the same seal, in an environment whose pinned key is the cache's); any
//!   other record is parsed and verified in full.
//! - `<env>.view.bin`: what one pass over the environment's log found (each seal's
//!   last unseal and drill, the last entry naming each record, the last settings
//!   entry), with the state of the log it was computed from ([`LogState`]: its length,
//!   the hash of its last line, the SHA-256 of its head file) and the SHA-256 of the
//!   log heads the records held. It is used only when the log, its head and the
//!   records' heads are in that state now; only a log that verified without damage is
//!   kept. The log is hash-chained, so its last line stands for every line before it:
//!   an edit before the end breaks the chain, which `check` and `audit verify` (which
//!   never read the cache) report, while `list` goes on showing what verified.
//!
//! Both are postcard (a compact serde encoding) after a line naming the format.
//!
//! A missing, damaged or unwritable cache only costs time. The cache vouches for what
//! this user's zeroth verified before, no more than the trust file (in the same home)
//! vouches for the key: whoever can write either can mislead this user's `list`, and
//! `check`, `audit` and the ceremonies never read it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::LogState;
use crate::key::PublicKey;

const ROWS_FORMAT: &[u8] = b"zeroth-list-rows-v2\n";
const VIEW_FORMAT: &[u8] = b"zeroth-list-view-v2\n";

/// The SHA-256 of a record file's bytes.
pub type RecordDigest = [u8; 32];

/// Returns the digest the cache keeps for a record file's bytes.
pub fn digest(bytes: &[u8]) -> RecordDigest {
    Sha256::digest(bytes).into()
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return Some(dir.join("zeroth").join("list"));
        }
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".cache/zeroth/list"))
}

/// The cache directory of `key` for the store at `store`.
fn key_dir(key: &PublicKey, store: &Path) -> Option<PathBuf> {
    let fingerprint = key.fingerprint();
    let place = std::fs::canonicalize(store).unwrap_or_else(|_| store.to_path_buf());
    let place = hex::encode(Sha256::digest(place.as_os_str().as_encoded_bytes()));
    cache_dir().map(|d| {
        d.join(fingerprint.trim_start_matches("sha256:"))
            .join(&place[..16])
    })
}

/// Reads a cache file: `None` when it is absent, not a regular file, or not `format`
/// followed by the encoding of a `T`.
fn read<T: DeserializeOwned>(path: &Path, format: &[u8]) -> Option<T> {
    let bytes = crate::store::read_regular(path).ok()?;
    postcard::from_bytes(bytes.strip_prefix(format)?).ok()
}

/// Writes a cache file (mode 0600, through a temporary file renamed over it). Failures
/// are ignored: the next run computes again.
fn write<T: Serialize>(path: &Path, format: &[u8], value: &T) {
    let Some(dir) = path.parent() else { return };
    let _ = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(dir)?;
        let mut bytes = format.to_vec();
        bytes.extend(postcard::to_stdvec(value).map_err(std::io::Error::other)?);
        tmp.write_all(&bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
}

/// `rows.bin` as read: the key's fingerprint and each row's encoding, by digest.
#[derive(Deserialize)]
struct RowsIndex<'a> {
    key: &'a str,
    #[serde(borrow)]
    rows: Vec<(RecordDigest, &'a [u8])>,
}

/// `rows.bin` as written.
#[derive(Serialize)]
struct RowsOut<'a> {
    key: &'a str,
    rows: Vec<(&'a RecordDigest, Bytes)>,
}

/// A row's own encoding, written as bytes (what `&[u8]` reads back borrowed).
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

/// The cached rows of one key. Each row is encoded on its own, so opening the cache
/// reads one file and an index of digests; a row is decoded only when a record file
/// with its digest is found (by the threads that read the record files).
pub struct Rows {
    path: Option<PathBuf>,
    fingerprint: String,
    bytes: Vec<u8>,
    /// Where each row's encoding lies in `bytes`.
    known: HashMap<RecordDigest, std::ops::Range<usize>>,
}

impl Rows {
    /// Reads the rows of `key` for the store at `store`; none when there is no cache or
    /// it does not read back.
    pub fn open(key: &PublicKey, store: &Path) -> Rows {
        Rows::at(
            key_dir(key, store).map(|d| d.join("rows.bin")),
            key.fingerprint(),
        )
    }

    /// The rows kept at `path` for the key with `fingerprint`.
    fn at(path: Option<PathBuf>, fingerprint: String) -> Rows {
        let bytes = path
            .as_deref()
            .and_then(|p| crate::store::read_regular(p).ok())
            .unwrap_or_default();
        let known = Self::index(&bytes, &fingerprint).unwrap_or_default();
        Rows {
            path,
            fingerprint,
            bytes,
            known,
        }
    }

    fn index(
        bytes: &[u8],
        fingerprint: &str,
    ) -> Option<HashMap<RecordDigest, std::ops::Range<usize>>> {
        let body = bytes.strip_prefix(ROWS_FORMAT)?;
        let file: RowsIndex<'_> = postcard::from_bytes(body).ok()?;
        if file.key != fingerprint {
            return None;
        }
        let base = bytes.as_ptr() as usize;
        Some(
            file.rows
                .into_iter()
                .map(|(d, row)| {
                    let start = row.as_ptr() as usize - base;
                    (d, start..start + row.len())
                })
                .collect(),
        )
    }

    /// The fingerprint of the key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// How many rows the cache holds.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether the cache holds no row.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The row of a record file with digest `d`, if the cache holds one that decodes,
    /// to its last byte, as a `T`.
    pub fn get<T: DeserializeOwned>(&self, d: &RecordDigest) -> Option<T> {
        let range = self.known.get(d)?;
        match postcard::take_from_bytes(self.bytes.get(range.clone())?) {
            Ok((row, [])) => Some(row),
            _ => None,
        }
    }

    /// Replaces the cache file with `rows`: those of the record files that verified (or
    /// were taken from here) in this run.
    pub fn save<'a, T: Serialize + 'a>(
        &self,
        rows: impl Iterator<Item = (&'a RecordDigest, &'a T)>,
    ) {
        let Some(path) = &self.path else { return };
        let mut out: Vec<(&RecordDigest, Bytes)> = Vec::new();
        for (d, row) in rows {
            match postcard::to_stdvec(row) {
                Ok(b) => out.push((d, Bytes(b))),
                Err(_) => return,
            }
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        write(
            path,
            ROWS_FORMAT,
            &RowsOut {
                key: &self.fingerprint,
                rows: out,
            },
        );
    }
}

#[derive(Serialize, Deserialize)]
struct ViewFile<T> {
    key: String,
    env: String,
    state: LogState,
    anchors: String,
    view: T,
}

/// An environment's name as a file name: only names that cannot leave the directory.
fn view_path(key: &PublicKey, store: &Path, env: &str) -> Option<PathBuf> {
    let plain = !env.is_empty()
        && !env.starts_with('.')
        && env
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !plain {
        return None;
    }
    key_dir(key, store).map(|d| d.join(format!("{env}.view.bin")))
}

/// The digest of the log heads the records of an environment hold (`(seq, hash)`,
/// in any order): a view is computed against them as well as the log.
pub fn anchors_digest<'a>(heads: impl Iterator<Item = (u64, &'a str)>) -> String {
    let mut heads: Vec<(u64, &str)> = heads.collect();
    heads.sort_unstable();
    heads.dedup();
    let mut h = Sha256::new();
    for (seq, hash) in heads {
        h.update(seq.to_be_bytes());
        h.update((hash.len() as u64).to_be_bytes());
        h.update(hash.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A view of a log from the cache, with what it was computed from.
pub struct CachedView<T> {
    /// The state of the log.
    pub state: LogState,
    /// The digest of the log heads the records held ([`anchors_digest`]).
    pub anchors: String,
    /// The view.
    pub view: T,
}

/// The view of the log of `env` the cache has for `key`, if any: it counts only if the
/// log is in its `state` now and the records hold its `anchors`.
pub fn view<T: DeserializeOwned>(
    key: &PublicKey,
    store: &Path,
    env: &str,
) -> Option<CachedView<T>> {
    let file: ViewFile<T> = read(&view_path(key, store, env)?, VIEW_FORMAT)?;
    (file.key == key.fingerprint() && file.env == env).then_some(CachedView {
        state: file.state,
        anchors: file.anchors,
        view: file.view,
    })
}

/// Keeps the view of the log of `env` computed from a log in `state` and records that
/// held `anchors`.
pub fn keep_view<T: Serialize>(
    key: &PublicKey,
    store: &Path,
    env: &str,
    state: &LogState,
    anchors: &str,
    view: &T,
) {
    let Some(path) = view_path(key, store, env) else {
        return;
    };
    write(
        &path,
        VIEW_FORMAT,
        &ViewFile {
            key: key.fingerprint(),
            env: env.to_string(),
            state: state.clone(),
            anchors: anchors.to_string(),
            view,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_file_reads_back_only_in_its_own_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/rows.bin");
        let value: Vec<(RecordDigest, String)> = vec![([7; 32], "row".into())];
        write(&path, ROWS_FORMAT, &value);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            read::<Vec<(RecordDigest, String)>>(&path, ROWS_FORMAT),
            Some(value)
        );
        assert_eq!(
            read::<Vec<(RecordDigest, String)>>(&path, VIEW_FORMAT),
            None
        );
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            read::<Vec<(RecordDigest, String)>>(&path, ROWS_FORMAT),
            None
        );
    }

    #[test]
    fn rows_read_back_one_by_one_and_only_for_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/rows.bin");
        let key = "sha256:aa".to_string();
        let empty = Rows::at(Some(path.clone()), key.clone());
        assert!(empty.is_empty());
        let rows = [
            ([1u8; 32], "one".to_string()),
            ([2u8; 32], "two".to_string()),
        ];
        empty.save(rows.iter().map(|(d, r)| (d, r)));
        let back = Rows::at(Some(path.clone()), key.clone());
        assert_eq!(back.len(), 2);
        assert_eq!(back.get::<String>(&[1; 32]).as_deref(), Some("one"));
        assert_eq!(back.get::<String>(&[2; 32]).as_deref(), Some("two"));
        assert_eq!(back.get::<String>(&[3; 32]), None);
        // A row that does not decode as what is asked, to its last byte, is no row.
        assert_eq!(back.get::<(String, String)>(&[1; 32]), None);
        assert_eq!(back.get::<u8>(&[1; 32]), None);
        // Another key's cache, or a damaged file, holds nothing.
        assert_eq!(Rows::at(Some(path.clone()), "sha256:bb".into()).len(), 0);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 2);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(Rows::at(Some(path), key).len(), 0);
    }

    #[test]
    fn the_anchors_digest_is_of_the_set_of_heads() {
        let a = anchors_digest([(3, "aa"), (1, "bb")].into_iter());
        assert_eq!(
            a,
            anchors_digest([(1, "bb"), (3, "aa"), (3, "aa")].into_iter())
        );
        assert_ne!(a, anchors_digest([(1, "bb")].into_iter()));
        assert_ne!(a, anchors_digest([(3, "aa"), (1, "bc")].into_iter()));
        // The length of each hash is part of the digest: no two sets run together.
        assert_ne!(
            anchors_digest([(1, "ab")].into_iter()),
            anchors_digest([(1, "a")].into_iter())
        );
    }
}
