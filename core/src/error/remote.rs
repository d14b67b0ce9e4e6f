//! The remote-quorum area: requests, and hand-ins sent and received.

use std::path::{Path, PathBuf};

use super::{Kind, area};

/// What went wrong in a remote quorum.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The signals that end a collection (SIGINT, SIGTERM, SIGHUP) could not be watched.
    #[error("cannot watch for signals: {source}")]
    SignalWatch {
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The seal's record moved to another share set while the shares were collected.
    #[error(
        "{verb} refused: the record of '{seal}' changed during the collection (the shares were collected for set {collected_set}, and it is now set {set}): nothing was combined; open a new collection"
    )]
    RecordChanged {
        /// The ceremony (`unseal`).
        verb: String,
        /// The seal.
        seal: String,
        /// The share set the collection gathered shares of.
        collected_set: u32,
        /// The share set the record names now.
        set: u32,
    },
    /// A collected share no longer matches the record, which changed during the
    /// collection.
    #[error(
        "{verb} refused: the share of {custodian} no longer matches the record of '{seal}': it changed during the collection; nothing was combined"
    )]
    ShareChanged {
        /// The ceremony (`unseal`).
        verb: String,
        /// The custodian whose share it is.
        custodian: String,
        /// The seal.
        seal: String,
    },
    /// The collection ended and its close was logged without its ceremony.
    #[error("the remote collection ended without the ceremony")]
    EndedWithoutCeremony,
    /// The store has no id, which a custodian's trust file pins environments by.
    #[error(
        "{} has no store_id: a custodian's trust file pins environments by store id; this store cannot take remote hand-ins",
        .config.display()
    )]
    NoStoreId {
        /// The store's configuration file (`zeroth.toml`).
        config: PathBuf,
    },
    /// The environment's public key could not be encoded (DER) for the request.
    #[error("cannot encode the public key: {reason}")]
    PublicKeyEncoding {
        /// The encoder's reason.
        reason: String,
    },
    /// A share file of a custodian in the room is refused: the collection is not opened.
    #[error(
        "{verb} refused: share file {}{}: {reason}; remove or replace it and run again",
        .path.display(),
        .custodian.as_ref().map(|c| format!(" (custodian {c})")).unwrap_or_default()
    )]
    RoomShareRefused {
        /// The ceremony (`unseal`).
        verb: String,
        /// The share file.
        path: PathBuf,
        /// The custodian it names, when it was read that far.
        custodian: Option<String>,
        /// Why it is refused.
        reason: String,
    },
    /// The request expired before the threshold was reached.
    #[error("the request expired at {expires}")]
    RequestExpired {
        /// When it expired (RFC 3339).
        expires: String,
    },
    /// A request's signature does not verify with the environment's key.
    #[error(
        "request {request} is NOT signed by environment '{env}''s key {key} ({key_source}): it was signed by another key or altered; do not hand in your share, and tell your security team"
    )]
    RequestNotSigned {
        /// The request file as given (`-` for stdin), safe to print.
        request: Box<str>,
        /// The environment it names, safe to print.
        env: String,
        /// The fingerprint of the key it was checked with.
        key: String,
        /// Where that key came from, in words (`pinned in /home/alice/.config/zeroth/trust.toml`).
        key_source: String,
    },
    /// A request came to the custodian after it expired.
    #[error(
        "request {request} expired at {expires}: its ceremony takes no more hand-ins; ask the operator ({operator}) for a new request"
    )]
    HandInTooLate {
        /// The request file as given, safe to print.
        request: Box<str>,
        /// When it expired (RFC 3339).
        expires: String,
        /// The operator who made it, safe to print.
        operator: String,
    },
    /// The custodian's share file holds no share zeroth can read.
    #[error("share file {}: {reason}", .path.display())]
    ShareUnreadable {
        /// The share file.
        path: PathBuf,
        /// Why it cannot be read, safe to print.
        reason: String,
    },
    /// The custodian's share is not one the request asks for.
    #[error("share file {}: {reason}; no hand-in was written", .path.display())]
    ShareNotRequested {
        /// The share file.
        path: PathBuf,
        /// Why it does not answer the request, safe to print.
        reason: String,
    },
    /// The request's recipient is not an age X25519 recipient.
    #[error("request {request}: its recipient is not an age X25519 recipient")]
    BadRecipient {
        /// The request file as given, safe to print.
        request: Box<str>,
    },
    /// The request could not be read from stdin.
    #[error("cannot read the request from stdin: {source}")]
    StdinUnreadable {
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The request is not a request zeroth can read.
    #[error("request {request}: {reason}")]
    RequestUnreadable {
        /// The request file as given, safe to print.
        request: Box<str>,
        /// Why it cannot be read, safe to print.
        reason: String,
    },
    /// The public key the request carries cannot be read.
    #[error("request {request}: {reason}")]
    RequestKeyUnreadable {
        /// The request file as given, safe to print.
        request: Box<str>,
        /// Why the key cannot be read.
        reason: String,
    },
    /// The request carries another key than the one the trust file pins for its
    /// environment.
    #[error(
        "request {request} is NOT signed by environment '{env}''s key: {} pins {pinned}, and the request comes with key {carried}; do not hand in your share, and tell your security team",
        .trust_file.display()
    )]
    RequestKeyMismatch {
        /// The request file as given, safe to print.
        request: Box<str>,
        /// The environment it names, safe to print.
        env: String,
        /// The trust file that pins the environment.
        trust_file: Box<Path>,
        /// The fingerprint the trust file pins.
        pinned: String,
        /// The fingerprint of the key the request carries.
        carried: String,
    },
    /// Nothing says which key should have signed the request: its environment is not
    /// pinned and the custodian's store is not a copy of the request's.
    #[error(
        "request {request}: environment '{env}' of store {store} is not pinned in {}, and {} is not a copy of that store: zeroth cannot tell who signed the request; pin the environment's key (the operator's 'zeroth trust export --env {env} --key-only', appended to your trust file) or give --pubkey FILE with a key you got from a trusted source",
        .trust_file.display(),
        .store_dir.display()
    )]
    RequestKeyUnknown {
        /// The request file as given, safe to print.
        request: Box<str>,
        /// The environment it names, safe to print.
        env: String,
        /// The store id it names, safe to print.
        store: String,
        /// The custodian's trust file.
        trust_file: Box<Path>,
        /// The custodian's store directory.
        store_dir: Box<Path>,
    },
}

impl RemoteError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match self {
            RemoteError::SignalWatch { .. }
            | RemoteError::PublicKeyEncoding { .. }
            | RemoteError::StdinUnreadable { .. } => Kind::Failed,
            RemoteError::RecordChanged { .. }
            | RemoteError::ShareChanged { .. }
            | RemoteError::EndedWithoutCeremony
            | RemoteError::NoStoreId { .. }
            | RemoteError::RoomShareRefused { .. }
            | RemoteError::RequestExpired { .. }
            | RemoteError::RequestNotSigned { .. }
            | RemoteError::HandInTooLate { .. }
            | RemoteError::ShareUnreadable { .. }
            | RemoteError::ShareNotRequested { .. }
            | RemoteError::BadRecipient { .. }
            | RemoteError::RequestUnreadable { .. }
            | RemoteError::RequestKeyUnreadable { .. }
            | RemoteError::RequestKeyMismatch { .. }
            | RemoteError::RequestKeyUnknown { .. } => Kind::Refused,
        }
    }
}

area!(RemoteError, Remote);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn kinds_give_the_exit_codes_of_the_design() {
        let expired = RemoteError::RequestExpired {
            expires: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(
            expired.to_string(),
            "the request expired at 2026-01-01T00:00:00Z"
        );
        assert_eq!(Error::from(expired).exit_code(), 3);
        let stdin = RemoteError::StdinUnreadable {
            source: std::io::ErrorKind::BrokenPipe.into(),
        };
        assert_eq!(Error::from(stdin).exit_code(), 4);
        assert_eq!(RemoteError::EndedWithoutCeremony.kind(), Kind::Refused);
    }

    #[test]
    fn a_refused_room_share_names_its_file_and_custodian() {
        let e = RemoteError::RoomShareRefused {
            verb: "unseal".into(),
            path: PathBuf::from("alice.share"),
            custodian: Some("alice".into()),
            reason: "it is 'alice''s share again: give each custodian's share once".into(),
        };
        assert_eq!(
            e.to_string(),
            "unseal refused: share file alice.share (custodian alice): it is 'alice''s share again: give each custodian's share once; remove or replace it and run again"
        );
    }
}
