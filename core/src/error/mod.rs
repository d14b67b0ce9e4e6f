//! zeroth's error type: one enum per area (the store, the trust file, shares and
//! records, the log, the HSM, the vault, remote quorum, the ceremonies), each variant a
//! situation with its data (the path, the custodian, the field, the PKCS#11 function
//! and return value), and the exit code derived from the variant's [`Kind`].
//!
//! Every message is written for the person at the terminal: it names the file, the
//! custodian, the field or the token at fault and says what to do next. A message never
//! contains a secret: variants hold names, paths and public metadata only.

mod ceremony;
mod hsm;
mod log;
mod record;
mod remote;
mod store;
mod trust;
mod vault;

pub use ceremony::CeremonyError;
pub use hsm::{HsmError, Pkcs11Failure, ckr_name, returned};
pub use log::LogError;
pub use record::RecordError;
pub use remote::RemoteError;
pub use store::StoreError;
pub use trust::TrustError;
pub use vault::VaultError;

use std::fmt;
use std::path::{Path, PathBuf};

/// Who can fix an error, and so its exit code (the design fixes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command line or its inputs are malformed or inconsistent (exit 2).
    Usage,
    /// zeroth understood the request and refuses it: a bad share, a bad signature, an
    /// expired or revoked seal, a wrong environment, a file it will not overwrite, a
    /// wrong PIN (exit 3).
    Refused,
    /// The HSM, a file or a server could not do what was asked: module missing, token
    /// absent, a failed PKCS#11 call, a disk error, the store busy (exit 4).
    Failed,
    /// The person at the terminal stopped the ceremony with Ctrl-C (exit 130, as a
    /// shell reports an interrupted command).
    Interrupted,
}

impl Kind {
    /// The process exit code of this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Usage => 2,
            Kind::Refused => 3,
            Kind::Failed => 4,
            Kind::Interrupted => 130,
        }
    }
}

/// An error of zeroth, by area.
///
/// `Error` is returned everywhere, so it stays under 128 bytes (clippy's
/// `result_large_err`; a test checks it): an area's widest variants hold their data in a
/// `Box` or as `Box<str>`/`&'static str`.
#[derive(Debug)]
pub enum Error {
    /// The command line is malformed or inconsistent (exit 2).
    Usage(String),
    /// The store: its configuration, layout, locks and files.
    Store(StoreError),
    /// The trust file and the pins it holds (signing keys, modules, tokens).
    Trust(TrustError),
    /// Shares, seal records, hand-ins and custodian keys.
    Record(RecordError),
    /// The ceremony log: its lines, chain, signatures and anchor.
    Log(LogError),
    /// The HSM: its module, token, keys and PKCS#11 calls.
    Hsm(HsmError),
    /// The OpenBao/Vault server zeroth delivers to.
    Vault(VaultError),
    /// Remote quorum: requests, hand-ins sent and received.
    Remote(RemoteError),
    /// A ceremony's own refusals (quorum, state, approvals).
    Ceremony(CeremonyError),
    /// A file or directory could not be read or written.
    Io(IoError),
    /// The person at the terminal stopped the ceremony with Ctrl-C (exit 130); logged
    /// as refused.
    Interrupted(String),
    /// An error told again with what the ceremony had done before it: `message` is the
    /// whole text; the kind, and so the exit code, are the cause's.
    Context {
        /// The message for the person at the terminal.
        message: String,
        /// What failed.
        cause: Box<Error>,
    },
}

/// Shorthand for results in zeroth.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Who can fix this error.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Usage(_) => Kind::Usage,
            Error::Store(e) => e.kind(),
            Error::Trust(e) => e.kind(),
            Error::Record(e) => e.kind(),
            Error::Log(e) => e.kind(),
            Error::Hsm(e) => e.kind(),
            Error::Vault(e) => e.kind(),
            Error::Remote(e) => e.kind(),
            Error::Ceremony(e) => e.kind(),
            Error::Io(_) => Kind::Failed,
            Error::Interrupted(_) => Kind::Interrupted,
            Error::Context { cause, .. } => cause.kind(),
        }
    }

    /// Returns the process exit code for this error: its kind's.
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }

    /// The message for the person at the terminal.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The same error told with a message rewritten by `f` from the current one; its
    /// kind and its cause stay as they were.
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> Error {
        let message = f(&self.message());
        match self {
            Error::Context { cause, .. } => Error::Context { message, cause },
            Error::Interrupted(_) => Error::Interrupted(message),
            cause => Error::Context {
                message,
                cause: Box::new(cause),
            },
        }
    }

    /// What failed, under any context added with [`Error::map_message`]: the error to
    /// match on.
    pub fn cause(&self) -> &Error {
        match self {
            Error::Context { cause, .. } => cause.cause(),
            other => other,
        }
    }

    /// The PKCS#11 function and return value, if a PKCS#11 call is what failed.
    pub fn pkcs11(&self) -> Option<&Pkcs11Failure> {
        match self.cause() {
            Error::Hsm(HsmError::Pkcs11(p)) => Some(p),
            _ => None,
        }
    }

    /// An I/O error on `path`, while doing `action` ("read", "write", "create" …).
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Error {
        Error::Io(IoError {
            action: action.to_string(),
            path: path.to_path_buf(),
            source: err,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Interrupted(m) => f.write_str(m),
            Error::Context { message, .. } => f.write_str(message),
            Error::Store(e) => e.fmt(f),
            Error::Trust(e) => e.fmt(f),
            Error::Record(e) => e.fmt(f),
            Error::Log(e) => e.fmt(f),
            Error::Hsm(e) => e.fmt(f),
            Error::Vault(e) => e.fmt(f),
            Error::Remote(e) => e.fmt(f),
            Error::Ceremony(e) => e.fmt(f),
            Error::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// A file or directory that could not be read or written: the action, the path and
/// the operating system's reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct IoError {
    /// What zeroth was doing: "read", "write", "create" …
    pub action: String,
    /// The file or directory.
    pub path: PathBuf,
    /// The operating system's reason.
    pub source: std::io::Error,
}

/// Implements `From<$area> for Error` for an area's enum.
macro_rules! area {
    ($area:ident, $variant:ident) => {
        impl From<$area> for crate::error::Error {
            fn from(e: $area) -> crate::error::Error {
                crate::error::Error::$variant(e)
            }
        }
    };
}
use area;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_are_named_as_in_the_specification_and_printed_in_hex() {
        assert_eq!(ckr_name(0xA0), Some("CKR_PIN_INCORRECT"));
        assert_eq!(ckr_name(0xE0), Some("CKR_TOKEN_NOT_PRESENT"));
        let failed = |rv| Pkcs11Failure {
            message: String::new(),
            function: "C_Sign".into(),
            rv,
        };
        assert_eq!(failed(0xA0).rv_name(), "CKR_PIN_INCORRECT");
        // A vendor's own value has no name: its number is what its manual lists.
        assert_eq!(failed(0x8000_0101).rv_name(), "0x80000101");
    }

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(Error::Usage(String::new()).exit_code(), 2);
        let exists = Error::from(StoreError::FileExists {
            path: PathBuf::from("bob.share.age"),
        });
        assert_eq!(exists.kind(), Kind::Refused);
        assert_eq!(exists.exit_code(), 3);
        assert_eq!(
            Error::io("read", Path::new("x"), std::io::ErrorKind::NotFound.into()).exit_code(),
            4
        );
        let failed = Pkcs11Failure {
            message: String::new(),
            function: "C_Login".into(),
            rv: 0xA0,
        };
        assert_eq!(Error::from(failed).exit_code(), 4);
        assert_eq!(Error::Interrupted(String::new()).exit_code(), 130);
    }

    #[test]
    fn context_changes_the_words_not_the_cause_or_the_exit_code() {
        let told = Error::from(StoreError::FileExists {
            path: PathBuf::from("bob.share.age"),
        })
        .map_message(|m| format!("rekey stopped: {m}"))
        .map_message(|m| format!("{m} (before that: 2 shares written)"));
        assert!(matches!(
            told.cause(),
            Error::Store(StoreError::FileExists { path }) if path == Path::new("bob.share.age")
        ));
        assert_eq!(told.exit_code(), 3);
        assert_eq!(
            told.message(),
            "rekey stopped: bob.share.age already exists: zeroth never overwrites a file; \
             move it away or choose another path (before that: 2 shares written)"
        );
        // Ctrl-C keeps its own variant, so its exit code stays 130.
        let stopped = Error::Interrupted("stopped at the terminal (Ctrl-C)".into())
            .map_message(|m| format!("unseal refused: {m}"));
        assert!(matches!(stopped, Error::Interrupted(_)));
        assert_eq!(stopped.exit_code(), 130);
    }

    #[test]
    fn an_error_stays_small_enough_to_return() {
        // clippy's result_large_err draws the line at 128 bytes; each area's enum keeps
        // its largest variant under it (boxing the rare wide ones).
        assert!(
            std::mem::size_of::<Error>() < 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
